"""Runs the classic 8-peer ring idle with default settings for CDHT_IDLE_SECONDS (default 600)
and counts "no longer alive" lines, which must be 0: the false-detection check of the README."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import cdht_harness as h  # noqa: E402

seconds = float(os.environ.get("CDHT_IDLE_SECONDS", "600"))
ring = h.start_ring(h.CLASSIC_RING, [])
try:
    h.wait_pinging(ring, timeout=30)
    time.sleep(seconds)
    false = {p: [l for l in peer.out.since() if l.endswith("is no longer alive.")] for p, peer in ring.items()}
    pings = sum(1 for peer in ring.values() for l in peer.out.since() if l.startswith("A ping request"))
    alive = all(peer.alive() for peer in ring.values())
    print(f"idle {seconds:.0f} s, 8 peers, default settings: {pings} ping requests received, "
          f"{sum(len(v) for v in false.values())} 'no longer alive' lines, all alive: {alive}")
    ok = alive and not any(false.values())
finally:
    for peer in ring.values():
        peer.stop()
sys.exit(0 if ok else 1)

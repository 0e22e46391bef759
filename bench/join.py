"""The time for a join to settle on the classic ring (figures only, never pass/fail).  Transfer
throughput next to nc is in bench/bench_all.py.  Run: scripts/bench-join.sh"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import cdht_harness as h  # noqa: E402


def main():
    work = tempfile.mkdtemp(prefix="cdht-bench-")
    # Join settle time on the classic ring: typed -> the newcomer's lines and both neighbours'.
    ring = {p: h.Peer(p, s1, s2, [], cwd=work) for p, (s1, s2) in h.successors([1, 3, 4, 5, 8, 10, 12]).items()}
    try:
        h.wait_pinging(ring, timeout=30)
        t0 = time.perf_counter()
        j = h.Peer(None, None, None, [], args=["15", "--join", "4"], cwd=work)
        j.wait_line("My second successor is now peer 3.")
        accepted = time.perf_counter() - t0
        ring[10].wait_line("My second successor is now peer 15.")
        ring[1].wait_line("A ping request message was received from Peer 15.")
        settled = time.perf_counter() - t0
        print(f"join of peer 15 through peer 4 into ring 1 3 4 5 8 10 12 (default settings): accepted "
              f"after {accepted * 1000:.1f} ms (4 hops), settled (every successor line printed and the "
              f"newcomer pinging) after {settled * 1000:.0f} ms")
        j.stop()
    finally:
        for p in ring.values():
            p.stop()


if __name__ == "__main__":
    main()

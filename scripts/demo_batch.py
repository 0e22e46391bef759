"""The five canonical steps on ring 1 3 4 5 8 10 12 15, without a terminal: starts the eight
peers, types the commands, and prints what each peer printed at each step (ping lines
summarised).  Exits non-zero if a step's lines do not appear."""

import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import cdht_harness as h  # noqa: E402


def show(title, ring, marks):
    print(f"\n=== {title}")
    for p, peer in sorted(ring.items()):
        lines = peer.out.since(marks.get(p, 0))
        pings = sum(1 for l in lines if l.startswith(h.PING_PREFIXES))
        events = [l for l in lines if not l.startswith(h.PING_PREFIXES)]
        print(f"peer {p:>2}: ({pings} ping lines)")
        for l in events:
            print(f"          {l}")


def main():
    options = sys.argv[1:] or h.FAST
    # The peers work in a directory of their own (data in cdht-data/peer-N, downloads), never in
    # the repository: $CDHT_DEMO_DIR, or a fresh temporary directory.
    if os.environ.get("CDHT_DEMO_DIR"):
        h.WORKDIR = os.environ["CDHT_DEMO_DIR"]
        os.makedirs(h.WORKDIR, exist_ok=True)
    print(f"demo-batch: the peers work in {h.WORKDIR}", file=sys.stderr)
    ring = h.start_ring(h.CLASSIC_RING, options)
    try:
        h.wait_pinging(ring)
        show("1. start: every peer pings its two successors", ring, {})
        marks = {p: peer.out.mark() for p, peer in ring.items()}
        ring[8].type("request 2012")
        ring[8].wait_line("Received a response message from peer 1, which has the file 2012.", start=marks[8])
        show("2. request 2012 at peer 8", ring, marks)
        marks = {p: peer.out.mark() for p, peer in ring.items()}
        ring[10].type("quit")
        ring[10].wait_exit()
        for p in (8, 5):
            ring[p].wait_line("My second successor is now peer " + ("15." if p == 8 else "12."), start=marks[p])
        ring[12].wait_line("A ping request message was received from Peer 5.", start=marks[12])
        show("3. quit at peer 10", ring, marks)
        del ring[10]
        marks = {p: peer.out.mark() for p, peer in ring.items()}
        ring[4].type("request 0010")
        ring[4].wait_line("Received a response message from peer 12, which has the file 0010.", start=marks[4])
        show("4. request 0010 at peer 4", ring, marks)
        marks = {p: peer.out.mark() for p, peer in ring.items()}
        ring[5].kill(signal.SIGKILL)
        ring[4].wait_line("My second successor is now peer 12.", timeout=30, start=marks[4])
        ring[3].wait_line("My second successor is now peer 8.", timeout=30, start=marks[3])
        show("5. kill peer 5", ring, marks)
    finally:
        for peer in ring.values():
            peer.stop()


if __name__ == "__main__":
    main()

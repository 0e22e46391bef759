"""Each year's canonical steps without a terminal: starts the ring, types the commands, and prints
what each peer printed at each step (ping lines summarised).  Exits non-zero if a step's lines do
not appear.

  demo_batch.py [OPTIONS]                    the classic five steps on ring 1 3 4 5 8 10 12 15
  demo_batch.py --variant 2019 [OPTIONS]     the same ring as `ID S1 S2 300 0.3`: request 2012 at 8
                                             (2012.pdf over UDP), quit at 10, kill 5
  demo_batch.py --variant 2020 [OPTIONS]     ring 2 4 5 8 9 14 19 (`init`): Store 2067 at 4, peer 15
                                             joins via 4, Request 2067 at 9, Quit at 8, kill 14

OPTIONS go to every peer (default: the tests' fast ping profile); the 2020 interval is
$CDHT_DEMO_INTERVAL (default 0.2 s; the spec's scripts use 30)."""

import filecmp
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdht_harness as h  # noqa: E402
from sample_pdf import sample_pdf  # noqa: E402


def show(title, ring, marks):
    print(f"\n=== {title}")
    for p, peer in sorted(ring.items()):
        lines = peer.out.since(marks.get(p, 0))
        pings = sum(1 for l in lines if l.startswith(h.PING_PREFIXES))
        events = [l for l in lines if not l.startswith(h.PING_PREFIXES)]
        print(f"peer {p:>2}: ({pings} ping lines)")
        for l in events:
            print(f"          {l}")


def marks_of(ring):
    return {p: peer.out.mark() for p, peer in ring.items()}


def classic(ring):
    h.wait_pinging(ring)
    show("1. start: every peer pings its two successors", ring, {})
    marks = marks_of(ring)
    ring[8].type("request 2012")
    ring[8].wait_line("Received a response message from peer 1, which has the file 2012.", start=marks[8])
    show("2. request 2012 at peer 8", ring, marks)
    quit_10(ring)
    marks = marks_of(ring)
    ring[4].type("request 0010")
    ring[4].wait_line("Received a response message from peer 12, which has the file 0010.", start=marks[4])
    show("4. request 0010 at peer 4", ring, marks)
    kill_5(ring, "5.")


def quit_10(ring):
    marks = marks_of(ring)
    ring[10].type("quit")
    ring[10].wait_exit()
    for p in (8, 5):
        ring[p].wait_line("My second successor is now peer " + ("15." if p == 8 else "12."), start=marks[p])
    ring[12].wait_line("A ping request message was received from Peer 5.", start=marks[12])
    show("3. quit at peer 10", ring, marks)
    del ring[10]


def kill_5(ring, step):
    marks = marks_of(ring)
    ring[5].kill(signal.SIGKILL)
    ring[4].wait_line("My second successor is now peer 12.", timeout=30, start=marks[4])
    ring[3].wait_line("My second successor is now peer 8.", timeout=30, start=marks[3])
    show(f"{step} kill peer 5", ring, marks)


def y2019(ring):
    """2019: no `request 0010` step; the file itself moves."""
    h.wait_pinging(ring)
    show("1. start: every peer pings its two successors", ring, {})
    marks = marks_of(ring)
    ring[8].type("request 2012")
    ring[8].wait_line("The file is received.", timeout=120, start=marks[8])
    ring[1].wait_line("The file is sent.", timeout=30, start=marks[1])
    show("2. request 2012 at peer 8", ring, marks)
    same = filecmp.cmp(os.path.join(h.WORKDIR, "2012.pdf"), os.path.join(h.WORKDIR, "received_file.pdf"), shallow=False)
    print(f"          received_file.pdf is {'identical to' if same else 'DIFFERENT from'} 2012.pdf")
    for log in ("responding_log.txt", "requesting_log.txt"):
        with open(os.path.join(h.WORKDIR, log)) as f:
            rows = f.read().splitlines()
        print(f"          {log}: {len(rows)} lines, {sum(r.split(chr(9))[0] != 'rcv' for r in rows)} not rcv; first: "
              + " | ".join(rows[:3]).replace("\t", " "))
    if not same:
        raise SystemExit("demo-batch: the received file differs")
    quit_10(ring)
    kill_5(ring, "4.")


def y2020(ring, options, interval):
    preds, succs = h.predecessors(list(ring)), h.successors(list(ring))
    for p, peer in ring.items():
        for q in preds[p]:
            peer.wait_line(f"Ping request message received from Peer {q}")
    show("1. start: every peer pings its two successors", ring, {})
    marks = marks_of(ring)
    ring[4].type("Store 2067")
    ring[19].wait_line("Store 2067 request accepted", start=marks[19])
    ring[4].wait_err("file 2067 has been stored at peer 19")  # the content is there, checked
    show("2. Store 2067 at peer 4 (2067 mod 256 = 19)", ring, marks)
    marks = marks_of(ring)
    ring[15] = h.Peer(15, None, None, options, args=["join", "15", "4", interval])
    ring[15].wait_line("My second successor is Peer 2")
    ring[9].wait_line("My new second successor is Peer 15", start=marks[9])
    show("3. peer 15 joins through peer 4", ring, marks)
    marks = marks_of(ring)
    ring[9].type("Request 2067")
    ring[9].wait_line("File 2067 received", start=marks[9])
    show("4. Request 2067 at peer 9", ring, marks)
    marks = marks_of(ring)
    ring[8].type("Quit")
    ring[8].wait_exit()
    ring[4].wait_line("My new second successor is Peer 9", start=marks[4])
    ring[5].wait_line("My new second successor is Peer 14", start=marks[5])
    show("5. Quit at peer 8", ring, marks)
    del ring[8]
    marks = marks_of(ring)
    ring[14].kill(signal.SIGINT)
    ring[9].wait_line("My new second successor is Peer 19", timeout=30 + 5 * float(interval), start=marks[9])
    ring[5].wait_line("My new second successor is Peer 15", timeout=30 + 5 * float(interval), start=marks[5])
    show("6. Ctrl-C at peer 14", ring, marks)


def main():
    args = sys.argv[1:]
    variant = "classic"
    if args[:1] == ["--variant"]:
        if len(args) < 2 or args[1] not in ("2019", "2020"):
            raise SystemExit("demo-batch: --variant is 2019 or 2020")
        variant, args = args[1], args[2:]
    # The peers work in a directory of their own (data in cdht-data/peer-N, downloads), never in
    # the repository: $CDHT_DEMO_DIR, or a fresh temporary directory.
    if os.environ.get("CDHT_DEMO_DIR"):
        h.WORKDIR = os.environ["CDHT_DEMO_DIR"]
        os.makedirs(h.WORKDIR, exist_ok=True)
    print(f"demo-batch: the peers work in {h.WORKDIR}", file=sys.stderr)
    ring = {}
    try:
        if variant == "classic":
            ring.update(h.start_ring(h.CLASSIC_RING, args or h.FAST))
            classic(ring)
        elif variant == "2019":
            with open(os.path.join(h.WORKDIR, "2012.pdf"), "wb") as f:
                f.write(sample_pdf("File 2012", 12))
            for p, (s1, s2) in h.successors(h.CLASSIC_RING).items():
                ring[p] = h.Peer(p, s1, s2, args or h.FAST, args=[str(p), str(s1), str(s2), "300", "0.3"])
            y2019(ring)
        else:
            with open(os.path.join(h.WORKDIR, "2067.pdf"), "wb") as f:
                f.write(sample_pdf("File 2067"))
            interval = os.environ.get("CDHT_DEMO_INTERVAL", "0.2")
            options = args or ["--ping-timeout", "0.2"]
            for p, (s1, s2) in h.successors([2, 4, 5, 8, 9, 14, 19]).items():
                ring[p] = h.Peer(p, s1, s2, options, args=["init", str(p), str(s1), str(s2), interval])
            y2020(ring, options, interval)
    except AssertionError:
        for p, peer in sorted(ring.items()):  # what went wrong is often said on stderr
            for line in peer.err.since()[-5:]:
                print(f"demo-batch: peer {p} stderr: {line}", file=sys.stderr)
        raise
    finally:
        for peer in ring.values():
            peer.stop()


if __name__ == "__main__":
    main()

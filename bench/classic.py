"""Classic-ring figures for the README: kill detection and repair time with default settings,
`request 2012` round trip, and an idle peer's memory.  Medians of repeated runs, with a
loopback TCP hop measured in the same run as the reference.  Not a test: it never fails on a
number.  Run it with scripts/bench.sh (which builds and uses a private network namespace)."""

import os
import random
import signal
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import cdht_harness as h  # noqa: E402

REPS = int(os.environ.get("CDHT_BENCH_REPS", "5"))
REQUESTS = int(os.environ.get("CDHT_BENCH_REQUESTS", "50"))


def ms(x):
    return f"{x * 1000:.1f} ms"


def tcp_hop_floor(n=2000):
    """Median of a loopback TCP connect + send 64 bytes + close, received by a thread."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    got = threading.Semaphore(0)

    def serve():
        for _ in range(n):
            c, _ = srv.accept()
            c.recv(64)
            c.close()
            got.release()
    threading.Thread(target=serve, daemon=True).start()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        c = socket.create_connection(srv.getsockname())
        c.sendall(b"x" * 64)
        c.close()
        got.acquire()
        samples.append(time.perf_counter() - t0)
    srv.close()
    return statistics.median(samples)


def rss_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["RssAnon"].split()[0])


def kill_repair_once(options, interval, rng):
    ring = h.start_ring(h.CLASSIC_RING, options)
    try:
        h.wait_pinging(ring, timeout=30)
        # A real kill comes at any point of the ping cycle: a seeded random phase.
        time.sleep(1.0 + rng.uniform(0, interval))
        marks = {p: ring[p].out.mark() for p in (3, 4)}
        t0 = time.monotonic()
        ring[5].kill(signal.SIGKILL)
        times = {}
        # On the full ring 1 3 4 5 8 10 12 15: 4 ends with successors 8 and 10, 3 with 4 and 8.
        for p, final in ((4, "My second successor is now peer 10."), (3, "My second successor is now peer 8.")):
            i = ring[p].wait_line("Peer 5 is no longer alive.", timeout=60, start=marks[p])
            times[(p, "detect")] = time.monotonic() - t0 if i is not None else None
            ring[p].wait_line(final, timeout=60, start=i)
            times[(p, "repair")] = time.monotonic() - t0
        return times
    finally:
        for peer in ring.values():
            peer.stop()


def main():
    floor = tcp_hop_floor()
    print(f"reference: loopback TCP connect+send+close hop (Python, median of 2000): {ms(floor)}")

    # Request round trip on the classic ring: 8 -> 10 -> 12 -> 15 -> 1, answer 1 -> 8 (5 hops).
    ring = h.start_ring(h.CLASSIC_RING, [])
    try:
        h.wait_pinging(ring, timeout=30)
        for peer in ring.values():
            peer.type("pings off")
        rtts = []
        for _ in range(REQUESTS):
            m = ring[8].out.mark()
            t0 = time.perf_counter()
            ring[8].type("request 2012")
            ring[8].wait_line("Received a response message from peer 1, which has the file 2012.", start=m)
            rtts.append(time.perf_counter() - t0)
        med = statistics.median(rtts)
        p99 = sorted(rtts)[max(0, int(len(rtts) * 0.99) - 1)]
        print(f"request 2012 at peer 8, typed -> response line, {REQUESTS} runs: median {ms(med)}, "
              f"p99 {ms(p99)}, = {med / (5 * floor):.2f} x (5 hops x reference hop)")
        time.sleep(5)  # idle
        rss = [rss_kib(peer.proc.pid) for peer in ring.values()]
        print(f"idle peer memory (8 peers, default 1 s pings): VmRSS median {statistics.median(r[0] for r in rss)} KiB, "
              f"RssAnon median {statistics.median(r[1] for r in rss)} KiB")
    finally:
        for peer in ring.values():
            peer.stop()

    rng = random.Random(7)
    for label, options, interval in (("default settings", [], 1.0),
                                     ("--ping-interval 0.1 --ping-timeout 0.1",
                                      ["--ping-interval", "0.1", "--ping-timeout", "0.1"], 0.1)):
        runs = [kill_repair_once(options, interval, rng) for _ in range(REPS)]
        for p in (4, 3):
            d = [r[(p, "detect")] for r in runs]
            r_ = [r[(p, "repair")] for r in runs]
            print(f"kill peer 5 ({label}), peer {p}: detected median {d and f'{statistics.median(d):.2f}'} s "
                  f"(max {max(d):.2f}), repaired median {statistics.median(r_):.2f} s (max {max(r_):.2f}); {REPS} runs")


if __name__ == "__main__":
    main()

"""The longest silence of a peer's event loop while it stores and serves a big file, next to its
idle figure (issue 9, section 2): a figure, never pass/fail.

Peer 4 of the ring 1 2 3 4 is pinged every 0.1 s by its predecessors 3 and 2; each answer is a
`ping_response` event in their --events files (`t_us`, CLOCK_MONOTONIC, the clock of
time.monotonic_ns()).  The longest gap between two answers from peer 4 is measured while it is
idle, while it takes a local `store 0004` of a sparse file (copied and hashed), and while it serves
`request 0004` to peer 1 with a cold digest (the held file touched first, so it is hashed again),
each the median over CDHT_GAP_REPS runs (3).  Failure detection is set lenient (150 s) so that a
stalled peer is not dropped from the ring, and its whole silence is measured.

  scripts/netns.sh /usr/bin/python3 bench/loop_gap.py        # CDHT_BIN picks the binary
  CDHT_GAP_GIB=4 CDHT_GAP_REPS=3 CDHT_GAP_IDLE=3              # the defaults

Mind the disk: each run writes the file twice (the stored copy, the download), then removes it."""

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import cdht_harness as h  # noqa: E402

GIB = float(os.environ.get("CDHT_GAP_GIB", "4"))
REPS = int(os.environ.get("CDHT_GAP_REPS", "3"))
IDLE_S = float(os.environ.get("CDHT_GAP_IDLE", "3"))
RING = [1, 2, 3, 4]
OPTS = ["--ping-interval", "0.1", "--ping-timeout", "1.5", "--misses", "100", "--stabilize-interval", "0.5"]


def answers(path, busy=4):
    out = []
    with open(path) as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line being written
            if ev.get("event") == "ping_response" and ev.get("peer") == busy:
                out.append(ev["t_us"])
    return out


def longest_gap_ms(events_files, t0_us, t1_us):
    """The longest time in [t0, t1] during which no predecessor heard an answer from peer 4."""
    times = sorted(t for p in events_files for t in answers(p) if t0_us <= t <= t1_us)
    edges = [t0_us] + times + [t1_us]
    return max(b - a for a, b in zip(edges, edges[1:])) / 1000


def now_us():
    return time.monotonic_ns() // 1000


def one_run(work):
    h.WORKDIR = work
    ev = {p: os.path.join(work, f"events-{p}.jsonl") for p in (2, 3)}
    dl = os.path.join(work, "dl")
    os.makedirs(dl)
    ring = {}
    try:
        for p, (s1, s2) in h.successors(RING).items():
            extra = (["--events", ev[p]] if p in ev else []) + (["--download-dir", dl] if p == 1 else [])
            ring[p] = h.Peer(p, s1, s2, OPTS + extra)
        h.wait_pinging(ring, timeout=20)
        res = {}
        t0 = now_us()
        time.sleep(IDLE_S)  # a window of idle time to measure, not a wait for something
        res["idle"] = longest_gap_ms(ev.values(), t0, now_us())

        src = os.path.join(work, "big.dat")
        with open(src, "wb") as f:
            f.truncate(int(GIB * (1 << 30)))
        m = ring[4].out.mark()
        t0 = now_us()
        ring[4].type(f"store 0004 {src}")
        ring[4].wait_line("File 0004 has been stored at peer 4.", start=m, timeout=300)
        res["store"] = longest_gap_ms(ev.values(), t0, now_us())
        os.unlink(src)

        held = os.path.join(work, "cdht-data", "peer-4", "0004.dat")
        os.utime(held)  # changed, as far as the peer can tell: its digest is computed again
        m = ring[1].out.mark()
        t0 = now_us()
        ring[1].type("request 0004")
        ring[1].wait_line("The file is received.", start=m, timeout=300)
        res["serve"] = longest_gap_ms(ev.values(), t0, now_us())
        return res
    finally:
        for peer in ring.values():
            peer.stop()


def main():
    runs = []
    for i in range(REPS):
        work = tempfile.mkdtemp(prefix="cdht-gap-")
        try:
            r = one_run(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"run {i + 1}: longest gap between ping answers: idle {r['idle']:.0f} ms, "
              f"store {GIB:g} GiB {r['store']:.0f} ms, serve {GIB:g} GiB (cold digest) {r['serve']:.0f} ms",
              flush=True)
        runs.append(r)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"median of {REPS}: idle {med['idle']:.0f} ms, store {med['store']:.0f} ms, serve {med['serve']:.0f} ms "
          f"(pings every 100 ms; binary {h.CDHT})")
    return dict(med, reps=REPS, gib=GIB)


if __name__ == "__main__":
    main()

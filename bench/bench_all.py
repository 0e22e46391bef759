"""cdht against its references, measured side by side in one run (issue #6).

Figures only, never pass/fail: medians and p99s of repeated runs, each next to a reference measured
in the same run (the loopback floor from bench/floor.c, OpenDHT from Debian, `nc`), and each
target marked met or missed with its figure.  Writes BENCHMARKS.md and docs/bench-*.png (gnuplot),
or, with --quick, a tiny run into a temporary directory (no OpenDHT, no default-profile kills).

Run it through scripts/bench-all.sh, which installs what is missing, builds build-bench/ and runs
this inside scripts/netns.sh (peers use ports 50000+id; they must not meet anyone else's).

Clocks: every cdht time comes from the peers' --events files (`t_us`, libuv's uv_hrtime, which is
CLOCK_MONOTONIC), and the kill instant from time.monotonic_ns() (also CLOCK_MONOTONIC), so a kill
and the verdicts it causes are read on one clock.  OpenDHT and nc are timed from this script."""

import argparse
import importlib.util
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("CDHT_BENCH_BIN_DIR", os.path.join(ROOT, "build-bench"))
CDHT = os.path.join(BIN, "cdht")
SIM = os.path.join(BIN, "cdht-sim")
FLOOR = os.path.join(BIN, "bench", "cdht-floor")
SLOW = float(os.environ.get("CDHT_TEST_SLOW", "1"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
CLASSIC = [1, 3, 4, 5, 8, 10, 12, 15]
FAST = ["--ping-interval", "0.1", "--ping-timeout", "0.05"]
POLL_S = float(os.environ.get("CDHT_BENCH_POLL", "0.002"))  # how often a waited-for events file is read

FULL = dict(floor_count=10000, rings=[8, 64, 256], requests=300, warmup=20,
            kill_rings=[8, 64], kill_reps=10, profiles=["default", "fast"],
            foot_peers=256, foot_settle=5.0, foot_window=20.0,
            opendht=[8, 64, 256, 1024], od_gets=300, nc_mib=256, nc_reps=3,
            sim=[(256, 256, 3, 600, []), (10000, 65536, 1, 600, ["--lookup-sample", "64"])],
            hops_n=[1 << k for k in range(4, 15)], hops_plain_n=[16, 64, 256, 1024], hops_lookups=2000,
            hops_duration=45, hosts=8, host_requests=300,
            fg_rings=[64, 256, 1024], fg_requests=300, fg_ping=5, fg_stabilize=3, fg_fix=3,
            maint_n=[64, 256], maint_settle=30.0, maint_window=20.0)
QUICK = dict(floor_count=2000, rings=[8, 16], requests=20, warmup=3,
             kill_rings=[8, 16], kill_reps=2, profiles=["fast"],
             foot_peers=8, foot_settle=1.0, foot_window=3.0,
             opendht=[], od_gets=0, nc_mib=16, nc_reps=1,
             sim=[(256, 256, 1, 60, [])], hops_n=[16, 64], hops_plain_n=[16], hops_lookups=200,
             hops_duration=45, hosts=4, host_requests=20,
             fg_rings=[16], fg_requests=20, fg_ping=5, fg_stabilize=0.5, fg_fix=0.25,
             maint_n=[8], maint_settle=1.0, maint_window=2.0)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pct(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(1, -(-len(v) * q // 100))
    return v[int(k) - 1]


def med(values):
    return statistics.median(values) if values else float("nan")


# ---- the ring and its peers ---------------------------------------------------------------------

def ring_ids(n):
    """Ids for an n-peer ring: the classic ring for 8, every id for 256, else spread over 0..255."""
    if n == 8:
        return list(CLASSIC)
    if n >= 256:
        return list(range(256))
    return sorted({round(i * 256 / n + 256 / n / 2) % 256 for i in range(n)})


def successors(ids):
    r = sorted(ids)
    return {p: (r[(i + 1) % len(r)], r[(i + 2) % len(r)]) for i, p in enumerate(r)}


def listening_ports():
    """TCP ports in LISTEN state in this network namespace."""
    ports = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A":
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


def wait_until(cond, timeout, what):
    end = time.monotonic() + timeout * SLOW
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout * SLOW:.0f} s waiting for {what}")
        time.sleep(0.005)


def proc_status(pid):
    """(VmRSS, RssAnon) in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                out[k] = int(v.split()[0])
    return out["VmRSS"], out["RssAnon"]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime + stime (fields 14 and 15)


def cpu_ns(pid):
    """Time on a CPU in ns, summed over the process's threads from /proc/PID/task/*/schedstat: the
    scheduler's exact sum, where utime+stime are sampled once a clock tick and miss a process that
    runs 20 µs at a time (it is rarely the one running when the tick comes)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except FileNotFoundError:
                pass  # a thread that ended meanwhile
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return total


def idle_cpu(pids, window):
    """CPU of each process over |window| seconds, in % of one core: (from utime+stime, from schedstat)."""
    t0 = {p: (cpu_ticks(p), cpu_ns(p)) for p in pids}
    w0 = time.monotonic()
    time.sleep(window)
    w = time.monotonic() - w0
    out = []
    for p in pids:
        ticks, ns = cpu_ticks(p), cpu_ns(p)
        out.append((100.0 * (ticks - t0[p][0]) / CLK_TCK / w,
                    100.0 * (ns - t0[p][1]) / 1e9 / w if ns is not None and t0[p][1] is not None else float("nan")))
    return out


class EventLog:
    """One peer's --events file, read as it grows."""

    def __init__(self, path):
        self.path, self.f, self.buf, self.events = path, None, b"", []

    def poll(self):
        if self.f is None:
            try:
                self.f = open(self.path, "rb")
            except FileNotFoundError:
                return
        data = self.f.read()
        if data:
            *lines, self.buf = (self.buf + data).split(b"\n")
            self.events.extend(json.loads(l) for l in lines if l)

    def mark(self):
        self.poll()
        return len(self.events)

    def wait(self, pred, start, timeout, what):
        end = time.monotonic() + timeout * SLOW
        i = start
        while True:
            self.poll()
            while i < len(self.events):
                if pred(self.events[i]):
                    return i, self.events[i]
                i += 1
            if time.monotonic() > end:
                raise TimeoutError(f"{self.path}: no {what} within {timeout * SLOW:.0f} s")
            time.sleep(POLL_S)


class Ring:
    """Real cdht peers on loopback: stdin a pipe to type on, stdout discarded, events in files."""

    def __init__(self, ids, options, workdir, events=True):
        self.ids = sorted(ids)
        self.procs, self.logs = {}, {}
        os.makedirs(workdir, exist_ok=True)
        for p, (s1, s2) in successors(self.ids).items():
            argv = [CDHT, *options]
            if events:
                path = os.path.join(workdir, f"events-{p}.jsonl")
                argv += ["--events", path]
                self.logs[p] = EventLog(path)
            with open(os.path.join(workdir, f"stderr-{p}.txt"), "w") as err:
                self.procs[p] = subprocess.Popen(argv + [str(p), str(s1), str(s2)], stdin=subprocess.PIPE,
                                                 stdout=subprocess.DEVNULL, stderr=err)
        wait_until(lambda: {50000 + p for p in self.ids} <= listening_ports(), 30 + len(ids) / 10,
                   f"{len(ids)} peers to listen")

    def type(self, p, line):
        self.procs[p].stdin.write((line + "\n").encode())
        self.procs[p].stdin.flush()

    def pids(self):
        return [self.procs[p].pid for p in self.ids if self.procs[p].poll() is None]

    def wait_pinging(self, timeout):
        """Until every live peer has had an answer from each of its successors."""
        for p, (s1, s2) in successors(self.ids).items():
            for s in {s1, s2} - {p}:
                self.logs[p].wait(lambda e, s=s: e["event"] == "ping_response" and e.get("peer") == s, 0,
                                  timeout, f"ping response from {s}")

    def kill(self, p):
        self.procs[p].send_signal(signal.SIGKILL)
        self.procs[p].wait()
        self.ids.remove(p)

    def stop(self):
        for pr in self.procs.values():
            if pr.poll() is None:
                pr.kill()
        for pr in self.procs.values():
            pr.wait()
            try:
                pr.stdin.close()
            except OSError:
                pass


# ---- 1. the floor --------------------------------------------------------------------------------

def bench_floor(cfg):
    out = subprocess.run([FLOOR, "--count", str(cfg["floor_count"])], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    log(f"floor: UDP round trip median {r['udp_rtt_us']['median']} us, TCP hop median {r['tcp_hop_us']['median']} us")
    return r


# ---- 2. request latency and hops -----------------------------------------------------------------

def owner(ids, key):
    for p in ids:
        if p >= key:
            return p
    return ids[0]


def bench_requests(cfg, n, floor_hop_us, rng, workdir):
    ring = Ring(ring_ids(n), ["--ping-interval", "5"], os.path.join(workdir, f"req-{n}"))
    try:
        for p in ring.ids:
            ring.type(p, "pings off")
        ids = ring.ids
        idx = {p: i for i, p in enumerate(ids)}
        time.sleep(1.0)  # let the start-up burst of n processes settle
        samples, failed, expected_forwards = [], 0, 0
        for i in range(cfg["warmup"] + cfg["requests"]):
            r = rng.choice(ids)
            while True:
                f = rng.randrange(10000)
                o = owner(ids, f % 256)
                if o != r:
                    break
            name = f"{f:04d}"
            lg = ring.logs[r]
            start = lg.mark()
            ring.type(r, f"request {name}")
            try:
                _, sent = lg.wait(lambda e: e["event"] == "request_sent" and e.get("file") == name, start, 10,
                                  "request_sent")
                _, got = lg.wait(lambda e: e["event"] == "response_received" and e.get("file") == name, start, 25,
                                 "response_received")
            except TimeoutError:
                failed += 1
                continue
            dist = (idx[o] - idx[r]) % len(ids)
            expected_forwards += dist - 1
            if i >= cfg["warmup"]:
                hops = dist + 1  # to the first successor, dist - 1 forwards, the direct answer
                lat = got["t_us"] - sent["t_us"]
                samples.append((lat, hops, lat / (hops * floor_hop_us)))
        def forwards():
            for lg in ring.logs.values():
                lg.poll()
            return sum(1 for lg in ring.logs.values() for e in lg.events if e["event"] == "request_forwarded")

        # The last answers can overtake the last forwards' lines into the events files: wait for
        # the count the ring distances predict, or report what arrived by the deadline.
        end = time.monotonic() + 5 * SLOW
        while (forwarded := forwards()) < expected_forwards and time.monotonic() < end:
            time.sleep(POLL_S)
        time.sleep(2.0)  # idle a moment before reading memory: the request burst is not the footprint
        mem = [proc_status(pid) for pid in ring.pids()]
    finally:
        ring.stop()
    lats = [s[0] for s in samples]
    res = dict(n=n, requests=len(samples), failed=failed, median_us=med(lats), p99_us=pct(lats, 99),
               hops_median=med([s[1] for s in samples]), hops_mean=statistics.mean(s[1] for s in samples),
               hops_max=max(s[1] for s in samples),
               ratio_median=med([s[2] for s in samples]), ratio_p99=pct([s[2] for s in samples], 99),
               forwarded_counted=forwarded, forwarded_expected=expected_forwards,
               rss_kib=med([m[0] for m in mem]), anon_kib=med([m[1] for m in mem]))
    log(f"requests on {n} peers: median {res['median_us']:.0f} us, p99 {res['p99_us']:.0f} us, "
        f"hops median {res['hops_median']}, {res['ratio_median']:.2f} x floor x hops; forwards "
        f"{forwarded} counted / {expected_forwards} from ring distance")
    return res


# ---- 2b. across separate hosts (issue 10) ---------------------------------------------------------

def name_key(name):
    """A name's key on a 64-bit ring: the first 8 bytes of BLAKE2b-256 (docs/protocol.md §1)."""
    import hashlib
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=32).digest()[:8], "big")


def bench_hosts(cfg, rng, workdir):
    """`request NNNN` across separate hosts: one peer per network namespace on one bridge (the
    multi-host tests' topology), all on port 4000, joined by address; next to the floor between
    two of those hosts (bench/floor.c --far-netns), measured in the same run."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
    import multihost
    why = multihost.unavailable()
    if why:
        return dict(skipped=why)
    n = cfg["hosts"]
    with multihost.Topology(n) as net:
        out = subprocess.run(net[0].argv([FLOOR, "--count", str(cfg["floor_count"]), "--near", net[0].ipv4,
                                          "--far", net[1].ipv4, "--far-netns", f"/run/netns/{net[1].netns}"]),
                             capture_output=True, text=True, check=True)
        fl = json.loads(out.stdout)
        hop = fl["tcp_hop_us"]["median"]
        procs, logs = {}, {}
        wd = os.path.join(workdir, "hosts")
        os.makedirs(wd, exist_ok=True)
        try:
            for k, host in enumerate(net):
                addr = host.hostport(4000)
                pid = name_key(addr)  # the id a peer takes from its --listen address
                path = os.path.join(wd, f"events-{k}.jsonl")
                argv = [CDHT, "--ping-interval", "5", "--listen", addr, "--events", path,
                        "--data-dir", os.path.join(wd, f"data-{k}")]
                if k:
                    argv += ["--join", net[0].hostport(4000)]
                with open(os.path.join(wd, f"stderr-{k}.txt"), "w") as err:
                    procs[pid] = host.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
                logs[pid] = EventLog(path)
                if k:
                    logs[pid].wait(lambda e: e["event"] == "join_accepted", 0, 15, "join_accepted")
                else:
                    wait_until(lambda: os.path.exists(path), 10, "the first peer to start")
            ids = sorted(procs)
            # Settled: every peer's latest successors are the next two in id order.
            def settled():
                for i, p in enumerate(ids):
                    logs[p].poll()
                    succ = [e["succ"] for e in logs[p].events if e["event"] == "successors"]
                    if not succ or succ[-1] != [ids[(i + 1) % n], ids[(i + 2) % n]]:
                        return False
                return True
            wait_until(settled, 30, "the ring of hosts to settle")
            for p in ids:
                procs[p].stdin.write(b"pings off\n")
                procs[p].stdin.flush()
            idx = {p: i for i, p in enumerate(ids)}
            samples, failed = [], 0
            for i in range(cfg["warmup"] + cfg["host_requests"]):
                r = rng.choice(ids)
                while True:
                    name = f"{rng.randrange(10000):04d}"
                    o = owner(ids, name_key(name))
                    if o != r:
                        break
                lg = logs[r]
                start = lg.mark()
                procs[r].stdin.write(f"request {name}\n".encode())
                procs[r].stdin.flush()
                try:
                    _, sent = lg.wait(lambda e: e["event"] == "request_sent" and e.get("file") == name, start, 10,
                                      "request_sent")
                    _, got = lg.wait(lambda e: e["event"] == "response_received" and e.get("file") == name, start,
                                     25, "response_received")
                except TimeoutError:
                    failed += 1
                    continue
                if i >= cfg["warmup"]:
                    hops = (idx[o] - idx[r]) % n + 1
                    lat = got["t_us"] - sent["t_us"]
                    samples.append((lat, hops, lat / (hops * hop)))
        finally:
            for pr in procs.values():
                if pr.poll() is None:
                    pr.kill()
                pr.wait()
    lats = [x[0] for x in samples]
    res = dict(n=n, requests=len(samples), failed=failed, median_us=med(lats), p99_us=pct(lats, 99),
               hops_median=med([x[1] for x in samples]), ratio_median=med([x[2] for x in samples]),
               ratio_p99=pct([x[2] for x in samples], 99), floor=fl)
    log(f"requests across {n} hosts: median {res['median_us']:.0f} us, p99 {res['p99_us']:.0f} us, hops median "
        f"{res['hops_median']}, {res['ratio_median']:.2f} x floor x hops (floor between hosts: TCP hop "
        f"{hop:.1f} us)")
    return res


# ---- 2c. successor lists and fingers on loopback (issue 11) --------------------------------------

LISTEN_BASE = 20000  # --listen rings use 127.0.0.1:20000+k: below the ephemeral range, clear of 50000+id


def loopback_counters():
    """This network namespace's loopback and protocol counters: lo packets and bytes (sent; on lo
    every packet sent is also received), UDP datagrams out, TCP segments out, and how many
    interfaces the namespace has (1 = only lo: nobody else's traffic is counted)."""
    out = {}
    with open("/proc/net/dev") as f:
        rows = f.read().splitlines()[2:]
    out["ifaces"] = len(rows)
    for row in rows:
        name, _, data = row.partition(":")
        if name.strip() == "lo":
            v = data.split()
            out["lo_bytes"], out["lo_packets"] = int(v[8]), int(v[9])  # transmit bytes, packets
    with open("/proc/net/snmp") as f:
        lines = f.read().splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        proto, _, names = head.partition(":")
        table = dict(zip(names.split(), vals.partition(":")[2].split()))
        if proto == "Udp":
            out["udp_out"] = int(table["OutDatagrams"])
        elif proto == "Tcp":
            out["tcp_out"] = int(table["OutSegs"])
    return out


class ListenRing:
    """n real peers on loopback in --listen form (`cdht --listen 127.0.0.1:PORT --join
    127.0.0.1:PORT0`, ids from their addresses on the 64-bit ring, names keyed by BLAKE2b), each
    joined through an earlier one after that one's join was accepted; stdin a pipe, stdout
    discarded, events in files."""

    def __init__(self, n, options, workdir, rng=None):
        os.makedirs(workdir, exist_ok=True)
        self.procs, self.logs, self.addr = {}, {}, {}
        rng = rng or random.Random(1)
        try:
            self.start(n, options, workdir, rng)
        except BaseException:
            self.stop()
            raise
        self.ids = sorted(self.procs)

    def start(self, n, options, workdir, rng):
        for k in range(n):
            addr = f"127.0.0.1:{LISTEN_BASE + k}"
            pid = name_key(addr)  # the id a peer takes from its --listen address
            argv = [CDHT, *options, "--listen", addr, "--data-dir", os.path.join(workdir, f"data-{k}")]
            path = os.path.join(workdir, f"events-{k}.jsonl")
            argv += ["--events", path]  # join_accepted and successors tell when the ring stands
            if k:
                # through a random earlier peer: no single peer takes every join
                argv += ["--join", self.addr[rng.choice(list(self.addr))]]
            for attempt in range(3):
                with open(os.path.join(workdir, f"stderr-{k}.txt"), "a") as err:
                    self.procs[pid] = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                                       stderr=err)
                self.logs[pid] = lg = EventLog(path)
                if not k:
                    wait_until(lambda: os.path.exists(path), 10, "the first peer to start")
                    break
                _, e = lg.wait(lambda e: e["event"] in ("join_accepted", "join_failed"), 0, 30,
                               f"peer {k}'s join to end")
                if e["event"] == "join_accepted":
                    # The accepter takes one joiner at a time, until that joiner's ack (docs/protocol.md):
                    # the next join waits for it, or a join landing there would be refused and time out.
                    acc = self.logs.get(e.get("peer"))
                    if acc:
                        try:
                            acc.wait(lambda x: x["event"] == "join_received" and x.get("peer") == pid, 0, 2,
                                     "join_received")
                        except TimeoutError:
                            pass  # stabilization took the joiner in first: no join_received
                    break
                self.procs[pid].wait()
                self.procs[pid].stdin.close()
                if lg.f:
                    lg.f.close()
                os.unlink(path)
                log(f"peer {k} ({addr}): join failed ({e}); attempt {attempt + 2}")
            else:
                raise OSError(f"peer {k} ({addr}) could not join in 3 attempts")
            self.addr[pid] = addr

    def settled(self):
        """Every peer's latest successors event names the next two ids in ring order."""
        n = len(self.ids)
        for i, p in enumerate(self.ids):
            lg = self.logs[p]
            lg.poll()
            succ = next((e["succ"] for e in reversed(lg.events) if e["event"] == "successors"), None)
            if succ != [self.ids[(i + 1) % n], self.ids[(i + 2) % n]]:
                return False
        return True

    def drop_events(self):
        """Forget what the logs read so far (a 1024-peer ring's join and stabilization events)."""
        for lg in self.logs.values():
            lg.poll()
            lg.events = []

    def type(self, p, line):
        self.procs[p].stdin.write((line + "\n").encode())
        self.procs[p].stdin.flush()

    def pids(self):
        return [pr.pid for pr in self.procs.values() if pr.poll() is None]

    def stop(self):
        for pr in self.procs.values():
            if pr.poll() is None:
                pr.kill()
        for pr in self.procs.values():
            pr.wait()
            try:
                pr.stdin.close()
            except (OSError, ValueError):
                pass
        for lg in self.logs.values():
            if lg.f:
                lg.f.close()


def fd_room(n):
    """Whether n peers fit this process's descriptor limit (a pipe and an events file each, plus
    margin); raises the soft limit to the hard one if that helps."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * n + 256
    if soft < need <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft >= need, soft


def bench_finger_requests(cfg, n, rng, workdir):
    """`request NNNN` on an n-peer --listen ring on loopback that routes by fingers: latency from
    the requester's request_sent to its response_received event, and the hops that event carries
    (messages from the requester to the responsible peer, the answer not counted)."""
    ok, limit = fd_room(n)
    if not ok:
        return dict(n=n, skipped=f"the descriptor limit ({limit}) is too low for {n} peers")
    opts = ["--ping-interval", str(cfg["fg_ping"]), "--stabilize-interval", str(cfg["fg_stabilize"]),
            "--fix-fingers-interval", str(cfg["fg_fix"])]
    t0 = time.monotonic()
    ring = ListenRing(n, opts, os.path.join(workdir, f"fingers-{n}"), rng=rng)
    try:
        joined = time.monotonic() - t0
        wait_until(ring.settled, 60 + n / 8, f"the {n}-peer --listen ring to settle")
        settled = time.monotonic() - t0
        # Fingers: each interval refreshes the fingers its list covers and looks up the next one
        # beyond it; about log2(n) - log2(R) such lookups rebuild the table.  Wait for twice that.
        time.sleep(2 * (max(1, n.bit_length() - 3) + 2) * cfg["fg_fix"])
        ring.drop_events()
        ids = ring.ids
        for p in ids:
            ring.type(p, "pings off")
        samples, failed, wrong = [], 0, 0
        for i in range(cfg["warmup"] + cfg["fg_requests"]):
            r = rng.choice(ids)
            while True:
                name = f"{rng.randrange(10000):04d}"
                o = owner(ids, name_key(name))
                if o != r:
                    break
            lg = ring.logs[r]
            start = lg.mark()
            ring.type(r, f"request {name}")
            try:
                _, sent = lg.wait(lambda e: e["event"] == "request_sent" and e.get("file") == name, start, 10,
                                  "request_sent")
                _, got = lg.wait(lambda e: e["event"] == "response_received" and e.get("file") == name, start,
                                 25, "response_received")
            except TimeoutError:
                failed += 1
                continue
            if got.get("peer") != o:
                wrong += 1
            if i >= cfg["warmup"]:
                samples.append((got["t_us"] - sent["t_us"], got["hops"]))
        mem = [proc_status(pid) for pid in ring.pids()]
    finally:
        ring.stop()
    if not samples:
        return dict(n=n, skipped=f"no request was answered ({failed} failed)")
    lats, hops = [s[0] for s in samples], [s[1] for s in samples]
    res = dict(n=n, requests=len(samples), failed=failed, wrong=wrong, median_us=med(lats), p99_us=pct(lats, 99),
               hops_mean=statistics.mean(hops), hops_median=med(hops), hops_p99=pct(hops, 99), hops_max=max(hops),
               joined_s=joined, settled_s=settled, opts=(cfg["fg_ping"], cfg["fg_stabilize"], cfg["fg_fix"]),
               rss_kib=med([m[0] for m in mem]),
               anon_kib=med([m[1] for m in mem]))
    log(f"fingers, {n} --listen peers on loopback: median {res['median_us']:.0f} us, p99 {res['p99_us']:.0f} us, "
        f"hops mean {res['hops_mean']:.2f} (p99 {res['hops_p99']}), {failed} failed, {wrong} answered by another "
        f"peer; joined in {joined:.1f} s, settled at {settled:.1f} s")
    return res


def bench_maintenance(cfg, n, fingers, workdir):
    """Idle maintenance traffic of an n-peer --listen ring at default intervals, with fingers or
    without (--no-fingers; both keep --listen's successor lists of 8): this namespace's loopback
    counters over a window once the ring settled, per peer and second.  Meaningful only in a
    namespace of our own (scripts/netns.sh): anyone else's loopback traffic would be counted."""
    here = loopback_counters()
    if here["ifaces"] != 1:
        return dict(n=n, fingers=fingers, skipped="not in a network namespace of its own (run through "
                                                  "scripts/bench-all.sh, as root)")
    ok, limit = fd_room(n)
    if not ok:
        return dict(n=n, fingers=fingers, skipped=f"the descriptor limit ({limit}) is too low")
    ring = ListenRing(n, [] if fingers else ["--no-fingers"],
                      os.path.join(workdir, f"maint-{n}-{'fingers' if fingers else 'nofingers'}"))
    try:
        wait_until(ring.settled, 60 + n / 4, f"the {n}-peer ring to settle")
        # Default intervals: pings 1 s, stabilization and finger refresh 3 s.  The list's later
        # entries travel one peer a round (7 rounds for R = 8), the fingers one lookup a round.
        time.sleep(cfg["maint_settle"])
        c0, t0 = loopback_counters(), time.monotonic()
        time.sleep(cfg["maint_window"])
        c1, w = loopback_counters(), time.monotonic() - t0
        alive = len(ring.pids())
    finally:
        ring.stop()
    per = lambda k: (c1[k] - c0[k]) / n / w  # noqa: E731
    res = dict(n=n, fingers=fingers, window=w, settle=cfg["maint_settle"], alive=alive, packets=per("lo_packets"), bytes=per("lo_bytes"),
               udp=per("udp_out"), tcp=per("tcp_out"))
    log(f"maintenance, {n} idle peers {'with' if fingers else 'without'} fingers: {res['packets']:.2f} packets "
        f"({res['udp']:.2f} UDP datagrams, {res['tcp']:.2f} TCP segments), {res['bytes']:.0f} bytes per peer per s")
    return res


# ---- 3. failure detection and repair -------------------------------------------------------------

def kill_once(ring, victim, interval, rng):
    """Kills |victim| at a seeded random phase; returns its predecessors' times in seconds."""
    ids = ring.ids
    i = ids.index(victim)
    p1, p2 = ids[i - 1], ids[i - 2]
    s1, s2 = ids[(i + 1) % len(ids)], ids[(i + 2) % len(ids)]
    final = {p1: [s1, s2], p2: [p1, s1]}
    marks = {p: ring.logs[p].mark() for p in (p1, p2)}
    time.sleep(rng.uniform(0, interval))
    t_kill = time.monotonic_ns() // 1000
    ring.kill(victim)
    out = {}
    for role, p in (("pred1", p1), ("pred2", p2)):
        lg = ring.logs[p]
        j, dead = lg.wait(lambda e: e["event"] == "peer_dead" and e.get("peer") == victim, marks[p], 60,
                          f"peer_dead {victim}")
        _, rep = lg.wait(lambda e, f=final[p]: e["event"] == "successors" and e.get("succ") == f, j, 60,
                         f"successors {final[p]}")
        out[role] = ((dead["t_us"] - t_kill) / 1e6, (rep["t_us"] - t_kill) / 1e6)
    return out


def bench_kills(cfg, n, profile, rng, workdir):
    options, interval = (FAST, 0.1) if profile == "fast" else ([], 1.0)
    settle = 2 * interval + 0.5
    runs = []
    ring = None
    try:
        for rep in range(cfg["kill_reps"]):
            # The classic ring is started anew for each kill; a larger one takes its kills in turn
            # (64 -> 54 peers over ten kills), each after the previous repair has finished.
            if ring is None or n <= 8:
                if ring:
                    ring.stop()
                ring = Ring(ring_ids(n), options, os.path.join(workdir, f"kill-{n}-{profile}-{rep}"))
                ring.wait_pinging(30)
            time.sleep(settle)
            victim = rng.choice(ring.ids)
            runs.append(kill_once(ring, victim, interval, rng))
    finally:
        if ring:
            ring.stop()
    res = dict(n=n, profile=profile, reps=len(runs))
    for role in ("pred1", "pred2"):
        d = [r[role][0] for r in runs]
        res[f"{role}_detect"] = (med(d), max(d))
    d_all = [r[role][0] for r in runs for role in ("pred1", "pred2")]
    rep = [max(r["pred1"][1], r["pred2"][1]) for r in runs]
    res["detect"] = (med(d_all), max(d_all))
    res["repair"] = (med(rep), max(rep))
    log(f"kills on {n} peers, {profile}: detected median {res['detect'][0]:.2f} s (max {res['detect'][1]:.2f}), "
        f"repaired median {res['repair'][0]:.2f} s (max {res['repair'][1]:.2f}), {len(runs)} kills")
    return res


# ---- 4. footprint --------------------------------------------------------------------------------

def bench_footprint(cfg, workdir):
    n = cfg["foot_peers"]
    ring = Ring(ring_ids(n), [], os.path.join(workdir, "footprint"), events=False)
    try:
        time.sleep(cfg["foot_settle"])
        pids = ring.pids()
        cpu = idle_cpu(pids, cfg["foot_window"])
        mem = [proc_status(pid) for pid in pids]
    finally:
        ring.stop()
    res = dict(n=n, window=cfg["foot_window"], rss_kib=med([m[0] for m in mem]), rss_max=max(m[0] for m in mem),
               anon_kib=med([m[1] for m in mem]), anon_max=max(m[1] for m in mem),
               cpu_total=sum(c[1] for c in cpu), cpu_per_peer=sum(c[1] for c in cpu) / len(cpu),
               cpu_max=max(c[1] for c in cpu), stat_total=sum(c[0] for c in cpu),
               stat_per_peer=sum(c[0] for c in cpu) / len(cpu), stat_max=max(c[0] for c in cpu))
    log(f"footprint of {n} idle peers: VmRSS median {res['rss_kib']} KiB, RssAnon median {res['anon_kib']} KiB, "
        f"CPU {res['cpu_per_peer']:.4f}% per peer, {res['cpu_total']:.3f}% in all (utime+stime {res['stat_total']:.3f}%)")
    return res


# ---- 5. transfer ---------------------------------------------------------------------------------

def nc_copy(nc, src, dst, port):
    """A plain TCP copy of |src| into the file |dst| (as a peer writes what it receives); seconds."""
    with open(dst, "wb") as out:
        sink = subprocess.Popen([nc, "-l", "127.0.0.1", str(port)], stdout=out, stderr=subprocess.DEVNULL)
        wait_until(lambda: port in listening_ports(), 10, "nc to listen")
        t0 = time.monotonic()
        with open(src, "rb") as f:
            subprocess.run([nc, "-N", "127.0.0.1", str(port)], stdin=f, stdout=subprocess.DEVNULL, check=True)
        sink.wait(timeout=120 * SLOW)
        took = time.monotonic() - t0
    os.unlink(dst)
    return took


def bench_transfer(cfg, workdir):
    """A file stored at peer 1 and requested by peer 2 (typed -> `The file is received.`, the
    digest checked), next to nc copying the same file into a file, alternately, in the same run."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
    import cdht_harness as h
    h.CDHT = CDHT
    nc = shutil.which("nc")
    work = os.path.join(workdir, "transfer")
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "payload.bin")
    block = random.Random(1).randbytes(1 << 20)
    with open(path, "wb") as f:
        for _ in range(cfg["nc_mib"]):
            f.write(block)
    ncs, gets, err = [], [], None
    a = b = None
    try:
        opts = ["--ping-interval", "0.5"]
        a = h.Peer(1, 2, 1, opts, cwd=work)
        b = h.Peer(2, 1, 2, opts + ["--download-dir", work], cwd=work)
        a.wait_line("A ping response message was received from Peer 2.", timeout=30)
        m = a.out.mark()
        a.type(f"store 0001 {path}")  # key 1: peer 1 holds it
        a.wait_line("File 0001 has been stored at peer 1.", start=m, timeout=120)
        for rep in range(cfg["nc_reps"]):
            if nc:
                ncs.append(nc_copy(nc, path, os.path.join(work, "nc.out"), 47000 + rep))
            m = b.out.mark()
            t0 = time.monotonic()
            b.type("request 0001")
            b.wait_line("The file is received.", start=m, timeout=120)
            gets.append(time.monotonic() - t0)
            os.unlink(os.path.join(work, "received_0001.bin"))
    except (AssertionError, OSError, subprocess.CalledProcessError) as e:
        err = str(e).splitlines()[0]
    finally:
        for p in (a, b):
            if p:
                p.stop()
        os.unlink(path)
    mib = cfg["nc_mib"]
    res = dict(mib=mib, reps=len(gets), error=err,
               nc_mib_s=mib / med(ncs) if ncs else None, cdht_mib_s=mib / med(gets) if gets else None)
    if ncs and gets:
        res["share"] = med(ncs) / med(gets)
    log(f"transfer of {mib} MiB: nc {res['nc_mib_s'] or 0:.0f} MiB/s, cdht {res['cdht_mib_s'] or 0:.0f} MiB/s"
        + (f" ({res['share'] * 100:.0f}% of nc)" if "share" in res else "") + (f"; {err}" if err else ""))
    return res


# ---- 6. OpenDHT ----------------------------------------------------------------------------------

def bench_loop_gap():
    """bench/loop_gap.py with this run's binary: the longest gap between ping answers while a
    peer stores and serves a 4 GiB file, next to idle (full runs only: it writes 8 GiB a run)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import loop_gap  # noqa: E402
    loop_gap.h.CDHT = CDHT
    res = loop_gap.main()
    log(f"loop gap: idle {res['idle']:.0f} ms, store {res['store']:.0f} ms, serve {res['serve']:.0f} ms")
    return res


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def bench_opendht(cfg, n, workdir, window, rng, shutdown=True):
    """n dhtnode processes bootstrapped to the first, plus two in-process runners: A puts, B gets.
    A key is used only if B is not among the 8 nodes closest to it (OpenDHT stores a value on the
    8 closest), so B's get has to go over the network instead of finding its own copy."""
    import opendht as dht
    # A dhtnode takes about 2.3 MiB of memory beyond what its libraries share (1024 of them: 2.3 GiB
    # more in use): refuse a cluster the machine cannot hold, with room to spare, rather than meet
    # the OOM killer (it would pick the largest process, not necessarily ours).
    avail, need = meminfo_kib("MemAvailable"), n * 4 * 1024 + (2 << 20)
    if avail is not None and avail < need:
        raise MemoryError(f"{avail >> 20} GiB of memory available, {n} dhtnodes need about {need >> 20} GiB")
    base = 41000
    procs, ids = [], []
    a = b = None
    # OpenDHT's network loop select()s on the runners' sockets, and glibc aborts ("bit out of range
    # 0 - FD_SETSIZE") on one numbered 1024 or more, as it would be after the pipes of 1024 nodes.
    # Low descriptors are held for them meanwhile.  (Starting the runners before the nodes instead
    # made a third of the gets fail on 256 nodes.)
    reserved = [os.open(os.devnull, os.O_RDONLY) for _ in range(64)]
    try:
        for i in range(n):
            # Interactive mode (not -s) only to read the node's id from its first lines.
            argv = ["dhtnode", "-p", str(base + i)] + (["-b", f"127.0.0.1:{base}"] if i else [])
            procs.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True))
        for p in procs:
            while True:
                line = p.stdout.readline()
                if not line:
                    raise OSError("dhtnode ended before printing its id")
                if line.startswith("OpenDHT node "):
                    ids.append(int(line.split()[2], 16))
                    break
        for fd in reserved:
            os.close(fd)
        reserved = []
        a, b = dht.DhtRunner(), dht.DhtRunner()
        a.run(port=base - 2)  # below the nodes: 41000+n would meet the 1001st node
        b.run(port=base - 1)
        a.bootstrap("127.0.0.1", str(base))
        b.bootstrap("127.0.0.1", str(base + n // 2))
        ids += [int(r.getNodeId().decode(), 16) for r in (a, b)]
        b_id = ids[-1]
        time.sleep(3 + n / 32)  # the nodes find each other
        firsts, dones, failed, local = [], [], 0, []
        for i in range(cfg["warmup"] + cfg["od_gets"]):
            while True:
                key = dht.InfoHash.get(f"cdht-bench-{n}-{rng.random()}")
                k = int(key.toString().decode(), 16)
                if sum(1 for x in ids if x ^ k < b_id ^ k) >= 8:
                    break
            stored, put_ok = threading.Event(), []
            a.put(key, dht.Value(b"cdht-bench-value"),
                  lambda ok, nodes, stored=stored, put_ok=put_ok: (put_ok.append(ok), stored.set()))
            if not stored.wait(30) or not put_ok[0]:
                failed += 1
                continue
            # A's put goes to the 8 closest nodes A knows of, which may still include B.
            held = key.toString().decode() in b.getStorageLog()
            done = threading.Event()
            first = []

            def on_value(v, first=first):
                if not first:
                    first.append(time.perf_counter())
                return True

            t0 = time.perf_counter()
            b.get(key, on_value, lambda ok, nodes, done=done: done.set())
            if not done.wait(30) or not first:
                failed += 1
                continue
            t1 = time.perf_counter()
            if i >= cfg["warmup"]:
                dones.append((t1 - t0) * 1e6)
                if held:
                    local.append((first[0] - t0) * 1e6)
                else:
                    firsts.append((first[0] - t0) * 1e6)
        known = b.getRoutingTablesLog(2).count("Node ")
        time.sleep(1.0)
        pids = [p.pid for p in procs]
        cpu = idle_cpu(pids, window)
        mem = [proc_status(pid) for pid in pids]
    finally:
        for fd in reserved:
            os.close(fd)
        for r in (a, b):
            if r is not None and shutdown:
                r.shutdown()
                r.join()
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
            for f in (p.stdin, p.stdout):
                try:
                    f.close()
                except OSError:
                    pass
    if not dones:
        raise OSError(f"no get succeeded ({failed} failed)")
    nan = float("nan")
    res = dict(n=n, gets=len(dones), failed=failed, local=len(local),
               first_median_us=med(firsts) if firsts else nan, first_p99_us=pct(firsts, 99) if firsts else nan,
               done_median_us=med(dones), done_p99_us=pct(dones, 99),
               local_first_median_us=med(local) if local else nan, getter_knows=known,
               rss_kib=med([m[0] for m in mem]), anon_kib=med([m[1] for m in mem]),
               cpu_per_node=sum(c[1] for c in cpu) / len(cpu), cpu_total=sum(c[1] for c in cpu),
               stat_per_node=sum(c[0] for c in cpu) / len(cpu), stat_total=sum(c[0] for c in cpu), window=window)
    log(f"OpenDHT {n} nodes: get first value median {res['first_median_us']:.0f} us (p99 {res['first_p99_us']:.0f}), "
        f"done median {res['done_median_us']:.0f} us; {len(local)} answered from B's own copy, {failed} failed; dhtnode VmRSS median {res['rss_kib']} KiB, "
        f"CPU {res['cpu_per_node']:.4f}% per node")
    return res


def bench_opendht_guarded(cfg, n, workdir, window, seed, tries=2):
    """bench_opendht in a child process of its own process group, killed with its dhtnodes if it
    outlives its time, and tried again once.  OpenDHT's Python binding can deadlock: a DHT thread
    holding the runner's lock waits for the GIL while this script, holding the GIL, waits for
    that lock (seen here once in a 64-node run: the script sat in a futex for minutes)."""
    import multiprocessing
    import queue
    mp = multiprocessing.get_context("fork")
    limit = 90 + n  # seconds; a 256-node cluster takes about two minutes when nothing hangs
    why = "no attempt"
    for attempt in range(tries):
        q = mp.Queue()

        def child(q=q, attempt=attempt):
            os.setpgrp()  # its dhtnodes join this group: one kill ends them all
            try:
                # No runner shutdown: DhtRunner::join() can deadlock against a DHT thread that holds
                # the runner's lock and waits for the GIL in checkShutdown() (seen on every 1024-node
                # run).  The child ends with os._exit once its result is sent; the nodes are killed.
                q.put(("ok", bench_opendht(cfg, n, workdir, window, random.Random(seed + attempt), shutdown=False)))
            except Exception as e:  # noqa: BLE001 - reported to the parent, which decides
                q.put(("error", f"{type(e).__name__}: {e}"))
            q.close()
            q.join_thread()
            os._exit(0)

        proc = mp.Process(target=child)
        proc.start()
        try:
            kind, value = q.get(timeout=limit * SLOW)
        except queue.Empty:
            kind, value = "hung", f"no result within {limit * SLOW:.0f} s (the binding deadlocked?)"
        if kind != "ok":
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.join(10)
        if kind == "ok":
            return value
        why = value
        log(f"OpenDHT {n} nodes, attempt {attempt + 1}: {why}")
    raise OSError(why)


# ---- 7. simulator --------------------------------------------------------------------------------

def bench_sim(cfg):
    rows = []
    for peers, ring, reps, duration, extra in cfg["sim"]:
        rs = []
        for i in range(reps):
            p = subprocess.run([SIM, "--peers", str(peers), "--ring-size", str(ring), "--seed", str(7 + i),
                                "--duration", str(duration), *extra], capture_output=True, text=True)
            # A run that reports invariant violations still ran at its speed: keep the figure, say so.
            line = next((l for l in p.stdout.splitlines() if l.startswith("seed ")), None)
            if line is None:
                log(f"sim {peers} peers: no summary line (exit {p.returncode}): {p.stderr[-300:]}")
                continue
            rs.append(dict(wall=float(re.search(r"in ([\d.]+) s wall", line).group(1)),
                           eps=float(re.search(r"events \d+ \((\d+)/s\)", line).group(1)),
                           violations=int(re.search(r"violations (\d+)", line).group(1)), code=p.returncode))
        if not rs:
            continue
        wall = med([r["wall"] for r in rs])
        rows.append(dict(peers=peers, ring=ring, duration=duration, reps=len(rs), wall=wall, ratio=duration / wall,
                         eps=med([r["eps"] for r in rs]), extra=" ".join(extra),
                         violations=sum(r["violations"] for r in rs)))
        log(f"sim {peers} peers: {duration} s simulated in {wall:.2f} s wall, {rows[-1]['eps'] / 1e6:.2f} M events/s")
    return rows


LOOKUPS_RE = re.compile(r"^lookups (\d+) hops mean ([\d.]+) p50 (\d+) p99 (\d+) failed (\d+)$", re.M)


def sim_hops(n, fingers, successors, lookups, duration, seed=3, extra=()):
    """Hops per lookup in one quiet seeded cdht-sim run of n peers on a 2^32 ring: L lookups from
    random running peers for random names once the ring settled (--lookups), read off the
    summary's `lookups L hops mean M p50 P p99 Q failed F`.  Hops are messages from the requester
    to the responsible peer, the answer not counted (0 when the requester is responsible), as the
    answer's hops field counts them."""
    argv = [SIM, "--peers", str(n), "--bits", "32", "--seed", str(seed), "--duration", str(duration),
            "--churn", "0", "--loss", "0", "--successors", str(successors),
            "--fingers" if fingers else "--no-fingers", "--lookups", str(lookups), *extra]
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True)
    m = LOOKUPS_RE.search(p.stdout)
    if not m:
        log(f"sim hops, {n} peers: no lookups line (exit {p.returncode}): {p.stdout[-300:]} {p.stderr[-300:]}")
        return None
    viol = re.search(r"^violations (\d+)$", p.stdout, re.M)
    res = dict(n=n, fingers=fingers, successors=successors, lookups=int(m.group(1)), mean=float(m.group(2)),
               p50=int(m.group(3)), p99=int(m.group(4)), failed=int(m.group(5)),
               violations=int(viol.group(1)) if viol else None, wall=time.monotonic() - t0,
               argv=" ".join(os.path.basename(a) if a == SIM else a for a in argv))
    log(f"sim hops, {n} peers, {'fingers' if fingers else 'successors only'}, R={successors}: mean "
        f"{res['mean']:.2f} p50 {res['p50']} p99 {res['p99']}, {res['failed']} failed ({res['wall']:.1f} s wall)")
    return res


def bench_hops(cfg):
    """The Chord paper's path length (§5.4: about ½·log2 N): with fingers and successor lists of 8
    for N = 2^4 .. 2^k, next to successors only for the smaller N.  The finger table is refreshed
    once a second (--fix-fingers-interval 1) so that it is built before the lookups begin (about
    30 s in: the ring settles, then the list's later entries travel one stabilization round each);
    with the default 3 s, 2^14 peers are still missing fingers then."""
    fingers = [sim_hops(n, True, 8, cfg["hops_lookups"], cfg["hops_duration"], extra=("--fix-fingers-interval", "1"))
               for n in cfg["hops_n"]]
    # Along successors a lookup takes up to N hops of up to 5 ms (the simulated delay, 0.1..5 ms):
    # give the last lookups time to end, or they count as failed.
    plain = [sim_hops(n, False, 8, cfg["hops_lookups"], cfg["hops_duration"] + 35) for n in cfg["hops_plain_n"]]
    return dict(fingers=[h for h in fingers if h], plain=[h for h in plain if h])


# ---- output --------------------------------------------------------------------------------------

def machine():
    model, cores = "?", 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                cores += 1
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    u = platform.uname()
    return f"{model}, {cores} logical CPUs, {mem} memory; {u.system} {u.release} {u.machine}"


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "include", "bench",
                                "CMakeLists.txt"], capture_output=True, text=True).stdout.strip()
        return rev + (" with uncommitted changes to the sources" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def mark(met):
    return "**met**" if met else "**missed**"


def us(x):
    return f"{x / 1000:.2f} ms" if x >= 1000 else f"{x:.0f} µs"


def gnuplot(script):
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plots")
        return False
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return True


def plots(R, outdir, datadir):
    made = []
    lat = os.path.join(datadir, "latency.dat")
    od = {o["n"]: o for o in R["opendht"]}
    req = {r["n"]: r for r in R["requests"]}
    fgr = {r["n"]: r for r in R.get("fingers") or [] if not r.get("skipped")}
    nan = "NaN"
    with open(lat, "w") as f:
        f.write("# n ours_median_ms ours_p99_ms floor_x_hops_ms opendht_first_ms opendht_done_ms "
                "fingers_median_ms fingers_p99_ms\n")
        for n in sorted(set(req) | set(od) | set(fgr)):
            r, o, g = req.get(n), od.get(n), fgr.get(n)
            f.write(f"{n} {r['median_us'] / 1e3 if r else nan} {r['p99_us'] / 1e3 if r else nan} "
                    f"{r['hops_median'] * R['floor']['tcp_hop_us']['median'] / 1e3 if r else nan} "
                    f"{o['first_median_us'] / 1e3 if o else nan} {o['done_median_us'] / 1e3 if o else nan} "
                    f"{g['median_us'] / 1e3 if g else nan} {g['p99_us'] / 1e3 if g else nan}\n")
    png = os.path.join(outdir, "bench-latency.png")
    if (req or od or fgr) and gnuplot(f"""set terminal png size 900,550 noenhanced
set output '{png}'
set title 'Request latency versus ring size (loopback, medians; cdht: request_sent -> response_received)'
set xlabel 'peers in the ring'
set ylabel 'milliseconds'
set logscale xy
set xrange [6:1400]
set xtics (8, 16, 64, 256, 1024)
set key top left
set grid
set datafile missing 'NaN'
plot '{lat}' using 1:2 with linespoints lw 2 title 'cdht median (classic ring, successors only)', \\
     '' using 1:3 with linespoints dt 2 title 'cdht p99 (classic ring)', \\
     '' using 1:7 with linespoints lw 2 title 'cdht median (--listen, fingers)', \\
     '' using 1:8 with linespoints dt 2 title 'cdht p99 (--listen, fingers)', \\
     '' using 1:4 with linespoints lw 2 title 'floor x hops (loopback TCP hop x median hops)', \\
     '' using 1:6 with linespoints lw 2 title 'OpenDHT get (to the end of the search)', \\
     '' using 1:5 with linespoints dt 2 title 'OpenDHT get, first value over the network'
"""):
        made.append(png)
    H = R.get("hops") or {}
    if H.get("fingers"):
        hd = os.path.join(datadir, "hops.dat")
        plain = {h["n"]: h for h in H.get("plain") or []}
        with open(hd, "w") as f:
            f.write("# n mean p50 p99 successors_only_mean\n")
            for h in H["fingers"]:
                pl = plain.get(h["n"])
                f.write(f"{h['n']} {h['mean']} {h['p50']} {h['p99']} {pl['mean'] if pl else 'NaN'}\n")
        png = os.path.join(outdir, "bench-hops.png")
        top = max(h["n"] for h in H["fingers"])
        if gnuplot(f"""set terminal png size 900,550 noenhanced
set output '{png}'
set title 'Hops per lookup with fingers and successor lists of 8 (cdht-sim, 2^32 ring, quiet)'
set xlabel 'peers N'
set ylabel 'hops (requester to the responsible peer)'
set logscale x 2
set xrange [12:{top * 1.3}]
set yrange [0:*]
set key top left
set grid
set datafile missing 'NaN'
l2(x) = log(x) / log(2)
plot '{hd}' using 1:2 with linespoints lw 2 title 'mean', \\
     '' using 1:4 with linespoints dt 2 title 'p99', \\
     l2(x) / 2 with lines lw 2 title '1/2 log2 N (Chord paper)', \\
     l2(x) / 2 + 0.5 with lines dt 3 title 'target mean: 1/2 log2 N + 0.5', \\
     l2(x) + 2 with lines dt 3 title 'target p99: log2 N + 2'
"""):
            made.append(png)
    det = os.path.join(datadir, "detection.dat")
    with open(det, "w") as f:
        f.write("# label detect_median detect_max repair_median repair_max\n")
        for k in R["kills"]:
            f.write(f"\"{k['profile']}, {k['n']} peers\" {k['detect'][0]} {k['detect'][0]} {k['detect'][1]} "
                    f"{k['repair'][0]} {k['repair'][0]} {k['repair'][1]}\n")
    png = os.path.join(outdir, "bench-detection.png")
    if R["kills"] and gnuplot(f"""set terminal png size 900,550 noenhanced
set output '{png}'
set title 'Kill -> verdict and repair at the predecessors (median, bar to the max)'
set ylabel 'seconds after SIGKILL'
set logscale y
set yrange [0.05:10]
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.6 border -1
set key top right
set grid ytics
set arrow from graph 0, first 5 to graph 1, first 5 nohead dt 2 lc rgb 'red'
set label 'target, default: 5 s' at graph 0.01, first 5.6 tc rgb 'red'
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb 'blue'
set label 'target, fast: 1 s' at graph 0.01, first 1.12 tc rgb 'blue'
plot '{det}' using 2:3:4:xtic(1) title 'peer_dead (both predecessors)', \\
     '' using 5:6:7 title 'ring repaired (both final successors events)'
"""):
        made.append(png)
    rss = os.path.join(datadir, "rss.dat")
    with open(rss, "w") as f:
        f.write("# n ours_rss ours_anon opendht_rss opendht_anon (MiB)\n")
        for r in R["requests"]:
            o = od.get(r["n"])
            f.write(f"{r['n']} {r['rss_kib'] / 1024} {r['anon_kib'] / 1024} "
                    f"{o['rss_kib'] / 1024 if o else 'NaN'} {o['anon_kib'] / 1024 if o else 'NaN'}\n")
    png = os.path.join(outdir, "bench-rss.png")
    if R["requests"] and gnuplot(f"""set terminal png size 900,550 noenhanced
set output '{png}'
set title 'Memory per idle node (median over the nodes of the ring)'
set xlabel 'nodes'
set ylabel 'MiB'
set logscale x
set logscale y
set xrange [6:340]
set yrange [0.1:*]
set xtics (8, 16, 64, 256)
set key outside bottom center horizontal
set grid
plot '{rss}' using 1:2 with linespoints lw 2 title 'cdht VmRSS', \\
     '' using 1:3 with linespoints dt 2 title 'cdht RssAnon', \\
     '' using 1:4 with linespoints lw 2 title 'OpenDHT dhtnode VmRSS', \\
     '' using 1:5 with linespoints dt 2 title 'OpenDHT dhtnode RssAnon'
"""):
        made.append(png)
    return made


def half_log2(n):
    import math
    return 0.5 * math.log2(n)


def hops_section(R):
    """The simulated path length next to the Chord paper's ½·log2 N (issue 11)."""
    H = R.get("hops") or {}
    fg, plain = H.get("fingers") or [], {h["n"]: h for h in H.get("plain") or []}
    if not fg and not plain:
        return []
    L = ["", "### Hops per lookup with fingers, against the Chord paper", "",
         "One quiet seeded run per size (`cdht-sim --bits 32 --successors 8 --fingers --fix-fingers-interval 1 "
         "--churn 0 --loss 0 --lookups L --seed 3`): L lookups from random running peers for random names, issued "
         "over 10 simulated seconds once the ring settled (about 30 s in, the finger table built by then). Hops are "
         "the messages from the requester to the responsible peer, the answer not counted (0 when the requester is "
         "responsible itself), as the answer's `hops` field counts them. The Chord paper (§5.4, Fig. 10) measures "
         "a mean of about ½·log2 N; targets: mean ≤ ½·log2 N + 0.5, p99 ≤ log2 N + 2. The last column is the same "
         "ring routing along its successor list only (`--no-fingers`, R = 8).", "",
         "| N | lookups | mean | p50 | p99 | ½·log2 N | target mean ≤ ½·log2 N + 0.5 | target p99 ≤ log2 N + 2 | met? "
         "| successors only (R = 8): mean (p99) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for h in fg:
        n, half = h["n"], half_log2(h["n"])
        ok = h["mean"] <= half + 0.5 and h["p99"] <= 2 * half + 2 and not h["failed"]
        pl = plain.get(n)
        L.append(f"| {n} | {h['lookups']}" + (f" ({h['failed']} failed)" if h["failed"] else "") +
                 f" | {h['mean']:.2f} | {h['p50']} | {h['p99']} | {half:.1f} | {half + 0.5:.1f} | {2 * half + 2:.0f} | "
                 f"{'met' if ok else '**missed**'} | " +
                 (f"{pl['mean']:.1f} ({pl['p99']})" + (f", {pl['failed']} failed" if pl["failed"] else "") if pl
                  else "–") + " |")
    for n, pl in sorted(plain.items()):
        if n not in {h["n"] for h in fg}:
            L.append(f"| {n} | – | – | – | – | {half_log2(n):.1f} | – | – | – | {pl['mean']:.1f} ({pl['p99']}) |")
    return L


def fingers_section(R):
    """Real peers in --listen form on loopback, routing by fingers, next to OpenDHT (issue 11)."""
    rows = R.get("fingers") or []
    if not rows:
        return []
    od = {o["n"]: o for o in R.get("opendht") or []}
    r0 = next((r for r in rows if not r.get("skipped")), None)
    L = ["", "### Fingers on loopback: --listen rings", "",
         "n real peers `cdht --listen 127.0.0.1:PORT` (64-bit ids from the addresses, names keyed by BLAKE2b, "
         "successor lists of 8, fingers on: --listen's defaults), each joined through a random earlier peer once "
         "the previous join was taken in; " + (f"`--ping-interval {r0['opts'][0]} --stabilize-interval "
                                                f"{r0['opts'][1]} --fix-fingers-interval {r0['opts'][2]}`" if r0 else "")
         + ", the requests once every peer's first two successors are right and the fingers had time for two "
         "rounds. Latency: the requester's `request_sent` → `response_received` events; hops: that event's "
         "`hops` (messages from the requester to the responsible peer, the answer not counted). OpenDHT: the get "
         "of the table above on a cluster of the same size in the same run.", "",
         "| peers | requests | median | p99 | hops mean (p50, p99, max) | ½·log2 N + 1 | OpenDHT get median, same size "
         "| OpenDHT get ÷ cdht median | set-up: joined, settled |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("skipped"):
            L.append(f"| {r['n']} | not measured: {r['skipped']} | | | | | | | |")
            continue
        o = od.get(r["n"])
        L.append(f"| {r['n']} | {r['requests']}" + (f" ({r['failed']} failed)" if r["failed"] else "") +
                 (f" ({r['wrong']} answered by another peer)" if r["wrong"] else "") +
                 f" | {us(r['median_us'])} | {us(r['p99_us'])} | {r['hops_mean']:.2f} ({r['hops_median']:g}, "
                 f"{r['hops_p99']}, {r['hops_max']}) | {half_log2(r['n']) + 1:.1f} | " +
                 (f"{us(o['done_median_us'])} | {o['done_median_us'] / r['median_us']:.2f} |" if o else "– | – |") +
                 f" {r['joined_s']:.1f} s, {r['settled_s']:.1f} s |")
    return L


def maintenance_section(R):
    rows = R.get("maintenance") or []
    if not rows:
        return []
    done = [m for m in rows if not m.get("skipped")]
    L = ["", "### Maintenance traffic at idle", "",
         "An idle --listen ring at default intervals (pings 1 s, stabilization and one finger refresh every 3 s; "
         "successor lists of 8), with fingers and without (`--no-fingers`), started as above and measured after "
         "every peer's first two successors were right plus " + (f"{done[0]['settle']:.0f} s" if done else "a while")
         + " (the list's later entries travel one round each): the namespace's own loopback counters "
         "(`/proc/net/dev` lo, sent = received on lo; `/proc/net/snmp` UDP OutDatagrams and TCP OutSegs) over "
         + (f"{done[0]['window']:.0f} s" if done else "a window") + ", divided by peers and seconds. TCP "
         "segments include the handshakes and acks of each finger lookup's and stabilization's connections.", "",
         "| peers | fingers | packets per peer per s | UDP datagrams | TCP segments | bytes per peer per s | "
         "÷ without fingers (packets, bytes) |", "|---|---|---|---|---|---|---|"]
    base = {m["n"]: m for m in done if not m["fingers"]}
    for m in rows:
        if m.get("skipped"):
            L.append(f"| {m['n']} | {'on' if m['fingers'] else 'off'} | not measured: {m['skipped']} | | | | |")
            continue
        b = base.get(m["n"])
        ratio = (f"{m['packets'] / b['packets']:.2f}, {m['bytes'] / b['bytes']:.2f}"
                 if m["fingers"] and b and b["packets"] and b["bytes"] else "–")
        L.append(f"| {m['n']} | {'on' if m['fingers'] else 'off'} | {m['packets']:.2f} | {m['udp']:.2f} | "
                 f"{m['tcp']:.2f} | {m['bytes']:.0f} | {ratio} |")
    return L


def fingers_targets(R):
    L = []
    fg = (R.get("hops") or {}).get("fingers") or []
    if fg:
        bad = [h for h in fg if not (h["mean"] <= half_log2(h["n"]) + 0.5 and h["p99"] <= 2 * half_log2(h["n"]) + 2
                                     and not h["failed"])]
        L.append(f"- simulated hops with fingers: mean ≤ ½·log2 N + 0.5 and p99 ≤ log2 N + 2 for N = {fg[0]['n']} .. "
                 f"{fg[-1]['n']}: {mark(not bad)} — " +
                 ", ".join(f"{h['n']}: {h['mean']:.2f} / {h['p99']}" for h in fg) + " (mean / p99)")
    rows = [r for r in R.get("fingers") or [] if not r.get("skipped")]
    od = {o["n"]: o for o in R.get("opendht") or []}
    r256 = next((r for r in rows if r["n"] == 256), None)
    if r256 and od.get(256):
        x = od[256]["done_median_us"] / r256["median_us"]
        L.append(f"- with fingers, ≥ 4 × faster than an OpenDHT get at 256 peers: {mark(x >= 4)} — cdht "
                 f"{us(r256['median_us'])} vs {us(od[256]['done_median_us'])} ({x:.2f} ×)")
    elif rows:
        L.append("- with fingers, ≥ 4 × faster than an OpenDHT get at 256 peers: not measured in this run")
    if rows:
        L.append("- hops on real peers ≈ ½·log2 N + 1: " + ", ".join(
            f"{r['n']} peers: mean {r['hops_mean']:.2f} vs {half_log2(r['n']) + 1:.1f}" for r in rows))
    return L


def report(R, cfg, quick, command, images):
    fl = R["floor"]
    hop = fl["tcp_hop_us"]["median"]
    L = ["# Benchmarks" + (" (quick mode: tiny sizes, figures not comparable)" if quick else ""), "",
         "Generated by `bench/bench_all.py`; do not edit by hand. Figures, never pass/fail: medians and p99s "
         "of repeated runs, each next to a reference measured in the same run.", "",
         f"- machine: {R['machine']}",
         f"- date: {R['date']}; cdht {R['rev']}; took {R['took']:.0f} s",
         f"- command: `{command}`", "",
         "## Floor: what loopback costs (bench/floor.c)", "",
         f"{fl['count']} of each, between two processes on 127.0.0.1.", "",
         "| what | median | p99 |", "|---|---|---|",
         f"| UDP round trip (16-byte datagram and its echo) | {fl['udp_rtt_us']['median']:.1f} µs | "
         f"{fl['udp_rtt_us']['p99']:.1f} µs |",
         f"| TCP hop: connect, send 29 bytes, close → receiver has read them | {fl['tcp_hop_us']['median']:.1f} µs | "
         f"{fl['tcp_hop_us']['p99']:.1f} µs |",
         f"| for comparison: the same 29 bytes on a TCP connection kept open | "
         f"{fl['tcp_open_hop_us']['median']:.1f} µs | {fl['tcp_open_hop_us']['p99']:.1f} µs |", "",
         "## Request latency and hops", "",
         "A `request NNNN` typed into a random peer for a random file owned by another peer; the time is the "
         "requester's own `request_sent` → `response_received` events (one monotonic clock). Hops = to the first "
         "successor + each forward + the direct answer, each a TCP message on a connection the sender keeps open to that peer while in use. Rings: 8 = the classic "
         "1 3 4 5 8 10 12 15, larger ones spread over 0..255 (256 = every id); `--ping-interval 5`, `pings off`. "
         "The ratio is each request's latency ÷ (its hops × the floor's TCP hop), median and p99 over requests.",
         "", "| peers | requests | median | p99 | hops median (mean, max) | floor × median hops | ours ÷ floor×hops "
         "median (p99) | forwards counted / from ring distance |", "|---|---|---|---|---|---|---|---|"]
    for r in R["requests"]:
        L.append(f"| {r['n']} | {r['requests']}" + (f" ({r['failed']} failed)" if r["failed"] else "") +
                 f" | {us(r['median_us'])} | {us(r['p99_us'])} | {r['hops_median']:g} ({r['hops_mean']:.1f}, "
                 f"{r['hops_max']}) | {us(r['hops_median'] * hop)} | {r['ratio_median']:.2f} ({r['ratio_p99']:.2f}) | "
                 f"{r['forwarded_counted']} / {r['forwarded_expected']} |")
    ours = {r["n"]: r for r in R["requests"]}
    hs = R.get("hosts") or {}
    L += ["", "### Across separate hosts", ""]
    if hs.get("skipped") or not hs:
        L.append("Not run: " + (hs.get("skipped") or "not measured") + ".")
    else:
        hf = hs["floor"]
        L += [f"{hs['n']} network namespaces on one bridge (veth pairs, the multi-host tests' topology), one peer each, "
              "all on port 4000 (`--listen 198.18.0.k:4000`, 64-bit ids from the addresses, names hashed with "
              "BLAKE2b), joined by address; the same requests as above. The floor is bench/floor.c between two of "
              "those hosts in the same run (`--far-netns`): what the bridge itself costs.", "",
              "| hosts | requests | median | p99 | hops median | floor between hosts: TCP hop (UDP round trip) | "
              "floor × median hops | ours ÷ floor×hops median (p99) |", "|---|---|---|---|---|---|---|---|",
              f"| {hs['n']} | {hs['requests']}" + (f" ({hs['failed']} failed)" if hs["failed"] else "") +
              f" | {us(hs['median_us'])} | {us(hs['p99_us'])} | {hs['hops_median']:g} | "
              f"{hf['tcp_hop_us']['median']:.1f} µs ({hf['udp_rtt_us']['median']:.1f} µs) | "
              f"{us(hs['hops_median'] * hf['tcp_hop_us']['median'])} | {hs['ratio_median']:.2f} ({hs['ratio_p99']:.2f}) |"]
    L += ["", "### OpenDHT on the same loopback, same run", ""]
    if R["opendht"]:
        L += ["OpenDHT 2.4 from Debian: n `dhtnode` processes bootstrapped to the first one, plus two "
              "in-process `python3-opendht` runners in this script: A puts a fresh key and waits for the put to "
              "complete, then B gets it. **get** is the time from the `get` call to the end of the search (when "
              "a blocking `get` returns); **first value** is the time to the first value, over the gets where B "
              "held no copy itself (OpenDHT stores each value on the 8 closest nodes A knows of; keys are drawn "
              "so that B is not among the 8 closest, but A may not know closer nodes yet). Gets that B answered "
              "from its own copy are counted apart. The Python callback adds a few µs to OpenDHT's figures. "
              "Ratios are OpenDHT ÷ cdht medians: above 1, cdht is faster.", "",
              "| nodes | gets | get median (p99) | first value, over the network, median (p99) | gets B held a copy "
              "of (their first value) | cdht median, same size | OpenDHT get ÷ cdht | OpenDHT first value ÷ cdht "
              "| getter's routing table |", "|---|---|---|---|---|---|---|---|---|"]
        for o in R["opendht"]:
            r = ours.get(o["n"])
            net = o["gets"] - o["local"]
            L.append(f"| {o['n']} (+2) | {o['gets']}" + (f" ({o['failed']} failed)" if o["failed"] else "") +
                     f" | {us(o['done_median_us'])} ({us(o['done_p99_us'])}) | " +
                     (f"{us(o['first_median_us'])} ({us(o['first_p99_us'])}), {net} gets" if net else "none") +
                     f" | {o['local']}" + (f" ({us(o['local_first_median_us'])})" if o["local"] else "") + " | " +
                     (f"{us(r['median_us'])} | {o['done_median_us'] / r['median_us']:.2f} | " +
                      (f"{o['first_median_us'] / r['median_us']:.2f}" if net else "–") if r else "– | – | –") +
                     f" | {o['getter_knows']} nodes |")
    else:
        L.append("Not run" + (" (quick mode)." if quick else (": " + R.get("opendht_skip", "") + ".")))
    if R.get("opendht_note"):
        L += ["", R["opendht_note"]]
    L += fingers_section(R)
    L += maintenance_section(R)
    L += ["", "## Failure detection and repair", "",
          "SIGKILL at a seeded random phase of the ping cycle; times from the kill to each predecessor's "
          "`peer_dead` event and to its final `successors` event (the ring is repaired when both have theirs). "
          "The classic ring is started anew for each kill; a larger ring takes its kills in turn, each after the "
          "previous repair. Default profile: 1 s pings, 0.5 s timeout, 4 misses; fast: `--ping-interval 0.1 "
          "--ping-timeout 0.05`.", "",
          "| peers | profile | kills | first predecessor detects median (max) | second predecessor detects "
          "median (max) | ring repaired median (max) |", "|---|---|---|---|---|---|"]
    for k in R["kills"]:
        L.append(f"| {k['n']} | {k['profile']} | {k['reps']} | {k['pred1_detect'][0]:.2f} s ({k['pred1_detect'][1]:.2f}) "
                 f"| {k['pred2_detect'][0]:.2f} s ({k['pred2_detect'][1]:.2f}) | {k['repair'][0]:.2f} s "
                 f"({k['repair'][1]:.2f}) |")
    fp = R["footprint"]
    # OpenDHT's cluster of the footprint's size if there is one (now that it also runs 1024 nodes)
    big = next((o for o in R["opendht"] if o["n"] == fp["n"]),
               max(R["opendht"], key=lambda o: o["n"]) if R["opendht"] else None)
    L += ["", "## Footprint", "",
          f"{fp['n']} idle cdht peers, default settings (1 s pings), stdout discarded, no `--events`"
          + (f"; OpenDHT: the {big['n']} `dhtnode` processes of the cluster above, idle after its gets" if big else "")
          + f". Memory from `/proc/PID/status`; CPU over {fp['window']:.0f} s from `/proc/PID/schedstat` (the "
          "scheduler's exact time on a CPU) and from `/proc/PID/stat` utime+stime, which is sampled "
          f"once a clock tick ({100 / CLK_TCK / fp['window']:.3f}% of a core over the window) and misses a process "
          "that runs a few µs at a time.", "",
          "| what | cdht | OpenDHT dhtnode |", "|---|---|---|"]
    L += [f"| VmRSS per node, median (max) | {fp['rss_kib'] / 1024:.2f} MiB ({fp['rss_max'] / 1024:.2f}) | "
          + (f"{big['rss_kib'] / 1024:.2f} MiB |" if big else "– |"),
          f"| RssAnon per node, median (max) | {fp['anon_kib']:.0f} KiB ({fp['anon_max']}) | "
          + (f"{big['anon_kib']:.0f} KiB |" if big else "– |"),
          f"| CPU per node (schedstat), mean (max) | {fp['cpu_per_peer']:.4f}% ({fp['cpu_max']:.4f}%) | "
          + (f"{big['cpu_per_node']:.4f}% |" if big else "– |"),
          f"| CPU of all {fp['n']} nodes (schedstat) | {fp['cpu_total']:.3f}% of one core | "
          + (f"{big['cpu_total']:.3f}% ({big['n']} nodes) |" if big else "– |"),
          f"| CPU of all {fp['n']} nodes (utime+stime) | {fp['stat_total']:.3f}% of one core | "
          + (f"{big['stat_total']:.3f}% |" if big else "– |")]
    t = R["transfer"]
    L += ["", "## Transfer", "",
          f"A {t['mib']} MiB file stored at peer 1 (`store 0001 PATH`) and requested by peer 2 of a two-peer ring "
          "(`--ping-interval 0.5`, `--download-dir`): typed `request 0001` → `The file is received.` (written and its "
          "digest checked). Reference: `nc` (netcat-openbsd) copying the same file into a file over loopback TCP, "
          f"alternating with cdht, median of {t['reps']}.", "",
          "| what | median |", "|---|---|",
          "| nc into a file | " + (f"{t['nc_mib_s']:.0f} MiB/s |" if t["nc_mib_s"] else "not measured (no nc) |"),
          "| cdht request → received | " + (f"{t['cdht_mib_s']:.0f} MiB/s" + (f" ({t['share'] * 100:.0f}% of nc)"
                                                                          if t.get("share") else "") + " |"
                                          if t["cdht_mib_s"] else f"not measured: {t['error']} |")]
    g = R.get("loop_gap")
    if g:
        L += ["", "## The loop while a peer hashes", "",
              f"Longest gap between two ping answers of a peer (pinged every 100 ms), median of {g['reps']} "
              f"runs (`bench/loop_gap.py`): idle {g['idle']:.0f} ms; local `store` of {g['gib']:g} GiB "
              f"(copied and hashed) {g['store']:.0f} ms; serving it with a cold digest {g['serve']:.0f} ms."]
    L += ["", "## Simulator (cdht-sim)", "", "| peers | ring | simulated | wall (median) | simulated ÷ wall | events/s |",
          "|---|---|---|---|---|---|"]
    for s in R["sim"]:
        L.append(f"| {s['peers']} | {s['ring']} | {s['duration']} s{(' ' + s['extra']) if s['extra'] else ''} | "
                 f"{s['wall']:.2f} s ({s['reps']} run{'s' if s['reps'] > 1 else ''}) | {s['ratio']:.0f}× | "
                 f"{s['eps'] / 1e6:.2f} M" + (f" (the run reported {s['violations']} invariant violations)"
                                               if s["violations"] else "") + " |")
    L += hops_section(R)
    # Targets
    L += ["", "## Targets (reported, not tested)", ""]
    classic = ours.get(8)
    if classic:
        L.append(f"- request latency on the classic ring ≤ 2 × (floor × hops): {mark(classic['ratio_median'] <= 2)} — "
                 f"median {classic['ratio_median']:.2f} × ({us(classic['median_us'])} over {classic['hops_median']:g} "
                 f"hops of {hop:.1f} µs)")
        o8 = next((o for o in R["opendht"] if o["n"] == 8), None)
        if o8:
            x = o8["done_median_us"] / classic["median_us"]
            first = (f"to the first value over the network {o8['first_median_us'] / classic['median_us']:.2f} ×"
                     if o8["gets"] > o8["local"] else
                     f"every first value came from the getter's own copy, in {us(o8['local_first_median_us'])}")
            L.append(f"- ≥ 2 × faster than an OpenDHT get on a same-size cluster: {mark(x >= 2)} — cdht "
                     f"{us(classic['median_us'])} vs an OpenDHT get of {us(o8['done_median_us'])} on 8 nodes "
                     f"({x:.2f} ×; {first})")
        else:
            L.append("- ≥ 2 × faster than an OpenDHT get on a same-size cluster: not measured in this run")
    L += fingers_targets(R)
    for prof, limit in (("default", 5.0), ("fast", 1.0)):
        ks = [k for k in R["kills"] if k["profile"] == prof]
        if ks:
            worst = max(k["repair"][1] for k in ks)
            L.append(f"- kill detected and repaired ≤ {limit:g} s ({prof}{', --ping-interval 0.1' if prof == 'fast' else ''}): "
                     f"{mark(worst <= limit)} — worst of {sum(k['reps'] for k in ks)} kills {worst:.2f} s; medians "
                     + ", ".join(f"{k['repair'][0]:.2f} s on {k['n']} peers" for k in ks))
        else:
            L.append(f"- kill detected and repaired ≤ {limit:g} s ({prof}): not measured in this run")
    L.append(f"- idle peer RssAnon ≤ 512 KiB: {mark(fp['anon_kib'] <= 512)} — median {fp['anon_kib']} KiB "
             f"(max {fp['anon_max']})")
    L.append(f"- idle peer RSS ≤ 2.5 MiB: {mark(fp['rss_kib'] <= 2560)} — median {fp['rss_kib'] / 1024:.2f} MiB "
             f"(max {fp['rss_max'] / 1024:.2f})")
    L.append(f"- idle peer ≤ 0.5% CPU: {mark(fp['cpu_max'] <= 0.5)} — mean {fp['cpu_per_peer']:.4f}%, max "
             f"{fp['cpu_max']:.4f}% over {fp['n']} peers (schedstat; utime+stime: mean {fp['stat_per_peer']:.4f}%)")
    if t.get("share"):
        L.append(f"- transfer ≥ 80% of nc: {mark(t['share'] >= 0.8)} — {t['share'] * 100:.0f}% ({t['cdht_mib_s']:.0f} "
                 f"vs {t['nc_mib_s']:.0f} MiB/s, {t['mib']} MiB)")
    else:
        L.append("- transfer ≥ 80% of nc: not measured in this run" + (f" ({t['error']})" if t["error"] else ""))
    if images:
        L += ["", "## Plots", ""] + [f"![{os.path.basename(p)}]({os.path.relpath(p, R['outdir'])})" for p in images]
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, no OpenDHT, into a temporary directory")
    ap.add_argument("--out", help="where BENCHMARKS.md goes (default: the repository, or a temp dir with --quick)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--no-opendht", action="store_true")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    outdir = args.out or (tempfile.mkdtemp(prefix="cdht-bench-quick-") if args.quick else ROOT)
    imgdir = outdir if args.quick or args.out else os.path.join(ROOT, "docs")
    os.makedirs(imgdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="cdht-bench-work-")
    rng = random.Random(args.seed)
    t_start = time.monotonic()
    R = dict(machine=machine(), date=time.strftime("%Y-%m-%d %H:%M %Z"), rev=git_rev(), outdir=outdir)
    try:
        R["floor"] = bench_floor(cfg)
        hop = R["floor"]["tcp_hop_us"]["median"]
        R["requests"] = [bench_requests(cfg, n, hop, rng, work) for n in cfg["rings"]]
        R["hosts"] = bench_hosts(cfg, rng, work)
        R["fingers"] = [bench_finger_requests(cfg, n, rng, work) for n in cfg["fg_rings"]]
        R["maintenance"] = [bench_maintenance(cfg, n, f, work) for n in cfg["maint_n"] for f in (True, False)]
        R["opendht"] = []
        if cfg["opendht"] and not args.no_opendht:
            if importlib.util.find_spec("opendht") is None or not shutil.which("dhtnode"):
                R["opendht_skip"] = "python3-opendht or dhtnode is not installed"
            else:
                for n in cfg["opendht"]:
                    try:
                        R["opendht"].append(bench_opendht_guarded(cfg, n, work, cfg["foot_window"],
                                                                  rng.randrange(1 << 30)))
                    except (TimeoutError, OSError, MemoryError) as e:
                        R["opendht_note"] = f"OpenDHT with {n} nodes could not be measured: {e}"
                        break
        else:
            R["opendht_skip"] = "--no-opendht"
        R["kills"] = [bench_kills(cfg, n, prof, rng, work) for prof in cfg["profiles"] for n in cfg["kill_rings"]]
        R["footprint"] = bench_footprint(cfg, work)
        R["transfer"] = bench_transfer(cfg, work)
        R["loop_gap"] = None if args.quick else bench_loop_gap()
        R["sim"] = bench_sim(cfg)
        R["hops"] = bench_hops(cfg)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    R["took"] = time.monotonic() - t_start
    datadir = tempfile.mkdtemp(prefix="cdht-bench-data-") if not args.quick else outdir
    images = plots(R, imgdir, datadir)
    command = "scripts/bench-all.sh" + (" --quick" if args.quick else "")
    text = report(R, cfg, args.quick, command, images)
    path = os.path.join(outdir, "BENCHMARKS.md")
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(datadir, "results.json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    print(text)
    log(f"wrote {path}" + (f" and {', '.join(images)}" if images else "") + f"; raw figures in {datadir}")


if __name__ == "__main__":
    main()

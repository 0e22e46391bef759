"""Content transfer throughput between two peers on loopback, next to a plain TCP copy with nc
(Debian's netcat-openbsd) in the same run, and the time for a join to settle on the classic
ring.  Medians of repeated runs; figures only, never pass/fail.  Run: scripts/bench-transfer.sh"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import cdht_harness as h  # noqa: E402

MIB = int(os.environ.get("CDHT_BENCH_MIB", "256"))
REPS = int(os.environ.get("CDHT_BENCH_REPS", "3"))


def nc_copy(path, out, port=40123):
    """A plain TCP copy into a file, as the peer writes one."""
    sink = subprocess.Popen(["nc", "-l", "127.0.0.1", str(port)], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.02)
    sink.wait()  # that probe connection ended the first listener: listen again for the real copy
    dst = open(out, "wb")
    sink = subprocess.Popen(["nc", "-l", "127.0.0.1", str(port)], stdout=dst)
    time.sleep(0.2)
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        subprocess.run(["nc", "-N", "127.0.0.1", str(port)], stdin=f, check=True)
    sink.wait()
    took = time.perf_counter() - t0
    dst.close()
    os.unlink(out)
    return took


def main():
    work = tempfile.mkdtemp(prefix="cdht-bench-")
    path = os.path.join(work, "big.bin")
    with open(path, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(MIB):
            f.write(block)
    size_mib = MIB
    nc = [nc_copy(path, os.path.join(work, "nc.out")) for _ in range(REPS)]
    opts = ["--ping-interval", "0.5"]
    a = h.Peer(1, 2, 1, opts, cwd=work)
    b = h.Peer(2, 1, 2, opts + ["--download-dir", work], cwd=work)
    stores, gets = [], []
    try:
        a.wait_line("A ping response message was received from Peer 2.")
        for _ in range(REPS):
            m = a.out.mark()
            t0 = time.perf_counter()
            a.type(f"store 0001 {path}")  # key 1: peer 1 itself holds it
            a.wait_line("File 0001 has been stored at peer 1.", start=m, timeout=120)
            stores.append(time.perf_counter() - t0)
            m = b.out.mark()
            t0 = time.perf_counter()
            b.type("request 0001")
            b.wait_line("The file is received.", start=m, timeout=120)
            gets.append(time.perf_counter() - t0)
            os.unlink(os.path.join(work, "received_0001.bin"))
    finally:
        a.stop()
        b.stop()
    nc_m, get_m = statistics.median(nc), statistics.median(gets)
    print(f"transfer of {size_mib} MiB on loopback, median of {REPS}: nc {size_mib / nc_m:.0f} MiB/s "
          f"({nc_m:.2f} s); cdht request -> received and verified {size_mib / get_m:.0f} MiB/s ({get_m:.2f} s) "
          f"= {nc_m / get_m * 100:.0f}% of nc; local store (copy + digest) {statistics.median(stores):.2f} s")
    print("  (both write the file; cdht also checks a BLAKE2b digest of every byte as it arrives)")

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

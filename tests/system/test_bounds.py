"""Bounded tables are always given back, and connections that do nothing are closed
(docs/protocol.md §7): each test fills a table or the connection limit, lets the entries fail,
and shows the peer working again."""

import os
import re
import signal
import socket
import threading
import time

import cdht_harness as h
import cdht_wire as W
from test_hostile import counters, status
from test_promises import FILE_REQ, FILE_RESP, GET, FakePeer, frame, send_to, xfer
from test_store import make

PING, STORE_REQ = W.PING, W.STORE_REQ
FINAL = 1
HANDOVER = 2


def store_req(claimed_from, origin, seq, file):
    return frame(STORE_REQ, **{"from": claimed_from, "origin": origin, "seq": seq, "name": f"{file:04d}",
                               "flags": FINAL})


def test_failed_downloads_give_their_expectations_back(peers, tmp_path):
    """65+ downloads that fail (the download directory is gone) leave the table of awaited
    transfers (64) free: once the directory is back, a download succeeds."""
    held = os.path.join(h.WORKDIR, "cdht-data", "peer-1")
    os.makedirs(held)
    make(os.path.join(held, "0001.dat"), 3000)
    dl = tmp_path / "dl"
    os.makedirs(dl)  # checked at start; removed once the peer runs
    a = peers.start(1, 2, 1, options=h.FAST)
    b = peers.start(2, 1, 2, options=h.FAST + ["--request-timeout", "2", "--download-dir", str(dl)])
    b.wait_line("A ping response message was received from Peer 1.")
    os.rmdir(dl)
    for _ in range(70):
        e = b.err.mark()
        b.type("request 0001")
        line = b.err.wait_for(lambda l: "receiving 0001 from peer 1 failed: create " in l or "refused" in l, 10, e,
                              "the download to fail")
        assert "refused" not in b.err.since(line)[0]
    os.makedirs(dl)
    m = b.out.mark()
    b.type("request 0001")
    b.wait_line("The file is received.", start=m)
    assert os.listdir(dl) == ["received_0001.dat"]
    assert a.alive()


def test_forged_store_requests_never_block_an_honest_store(peers, tmp_path):
    """70 forged STORE_REQs (a raw client claiming to be peer 1, for many origins) fill the
    responsible peer's table of awaited transfers; an honest store still goes through at once,
    and the forged entries expire within the request timeout."""
    timeout = 2
    a = peers.start(1, 2, 1, options=h.FAST)
    b = peers.start(2, 1, 2, options=h.FAST + ["--request-timeout", str(timeout)])
    a.wait_line("A ping response message was received from Peer 2.")
    with socket.create_connection(("127.0.0.1", 50002)) as c:
        for batch in range(7):
            m = b.out.mark()
            c.sendall(b"".join(store_req(1, 3 + i, 1000 + 10 * batch + i, 2) for i in range(10)))
            b.out.wait_for(lambda l: b.out.since(m).count("Store 0002 request accepted.") >= 10,
                           10, m, "10 forged stores to be accepted")
    flooded = time.monotonic()
    src = make(tmp_path / "honest.bin", 5000)
    m = a.out.mark()
    a.type(f"store 0002 {src}")
    a.wait_line("File 0002 has been stored at peer 2.", start=m)

    def expired():
        t = counters(status(b), "awaited:")
        return None if t["expired"] >= 60 else str(t)
    h.eventually(expired, timeout + 3, "the forged expectations to expire")
    assert time.monotonic() - flooded < (timeout + 3) * h.SLOW
    t = counters(status(b), "awaited:")
    assert t["taken over when full"] >= 6, t


def test_failed_stores_give_their_slots_back(peers, tmp_path):
    """33 stores that time out (the responsible peer is stopped), then 33 whose upload is refused
    (its data directory is unusable): every slot comes back, and then a store succeeds."""
    a = peers.start(1, 200, 1, options=["--ping-interval", "20", "--request-timeout", "1"])
    b = peers.start(200, 1, 200, options=h.FAST)
    b.wait_line("A ping request message was received from Peer 1.")
    src = {f: make(tmp_path / f"{f:04d}.bin", 1000, seed=f) for f in range(2, 80)}

    def fail_all(files, why):
        """Stores |files| at once; waits until each failed (|why|) or was refused as one too many."""
        e = a.err.mark()
        for f in files:
            a.type(f"store {f:04d} {src[f]}")

        def ended():
            return [x for x in a.err.since(e) if re.match(r"store \d{4} failed: " + why, x) or "too many" in x]
        a.err.wait_for(lambda l: len(ended()) >= len(files), 15, e, f"{len(files)} stores to fail")
        return [x for x in ended() if "too many" in x]

    b.kill(signal.SIGSTOP)
    try:
        busy = fail_all(range(2, 35), "the file was not stored within 1 s")
        assert len(busy) <= 1, busy
    finally:
        b.kill(signal.SIGCONT)
    data = os.path.join(h.WORKDIR, "cdht-data", "peer-200")
    os.rename(data, data + ".away")
    open(data, "w").close()  # the content cannot be written there: every upload is refused
    busy = fail_all(range(35, 68), "")  # most uploads refused; any may also time out
    assert len(busy) <= 1, busy
    os.remove(data)
    os.rename(data + ".away", data)
    m = a.out.mark()
    a.type(f"store 0070 {src[70]}")
    a.wait_line("File 0070 has been stored at peer 200.", start=m, timeout=5)


def test_connections_sending_refused_frames_are_closed(peers, tmp_path):
    """140 connections each sending a PING over TCP (the wrong transport: refused) every 1.5 s
    would hold every inbound slot; they are closed at the idle timeout, so a store and a join
    still succeed while they go on (every 1.5 s is well within the idle timeout: on bytes alone,
    they would never be idle)."""
    opts = h.FAST + ["--idle-timeout", "2"]
    a = peers.start(1, 2, 1, options=opts)
    b = peers.start(2, 1, 2, options=opts)
    a.wait_line("A ping response message was received from Peer 2.")
    conns = []
    for _ in range(140):
        conns.append(socket.create_connection(("127.0.0.1", 50002), timeout=2))
    stop = threading.Event()

    def flood():
        ping = frame(PING, **{"from": 1, "seq": 7, "role": 1})
        while not stop.is_set():
            for c in conns:
                try:
                    c.sendall(ping)
                except OSError:
                    pass
            stop.wait(1.5)
    t = threading.Thread(target=flood, daemon=True)
    t.start()
    try:
        def cut():
            n = counters(status(b), "network:")
            return None if n.get("useless closed", 0) >= 128 else str(n)
        h.eventually(cut, 5, "the connections of refused frames to be closed")
        src = make(tmp_path / "x.bin", 5000)
        m = a.out.mark()
        a.type(f"store 0002 {src}")
        a.wait_line("File 0002 has been stored at peer 2.", start=m, timeout=5)
        c = peers.start(3, None, None, options=opts, args=["3", "--join", "2"])
        c.wait_line("Join request has been accepted.", timeout=5)
    finally:
        stop.set()
        t.join()
        for s in conns:
            s.close()
    drops = counters(status(b), "dropped:")
    assert drops["wrong transport"] >= 128, drops


def test_a_trickled_transfer_is_cut(peers):
    """Content that trickles one byte at a time stays below the minimum rate (64 KiB/s over an
    idle timeout's window): it is cut within about one window, and counted.  The sender is a
    fake responsible peer 2 that answered the request with its token, so the transfer is one the
    requester takes."""
    fake = FakePeer(2)
    try:
        a = peers.start(1, 2, 1, options=["--idle-timeout", "1"])
        a.type("request 0002")
        seq = fake.expect(FILE_REQ)["seq"]
        m, e = a.out.mark(), a.err.mark()
        send_to(1, frame(FILE_RESP, **{"from": 2, "seq": seq, "name": "0002", "flags": 1, "token": 77}))
        a.wait_line("Received a response message from peer 2, which has the file 0002.", start=m)
        content = b"x" * (1 << 20)
        with socket.create_connection(("127.0.0.1", 50001)) as c:
            c.sendall(xfer(2, GET, seq, 2, content, 77))
            c.settimeout(0.25)
            start, cut = time.monotonic(), None
            end = h.deadline(5)
            while time.monotonic() < end:
                try:
                    c.sendall(b"x")
                    if c.recv(1) == b"":
                        cut = time.monotonic()
                        break
                except socket.timeout:
                    continue
                except OSError:
                    cut = time.monotonic()
                    break
            assert cut is not None, "the trickle was never cut"
            assert cut - start < 3 * h.SLOW
        a.wait_err("receiving 0002 from peer 2 failed", start=e)
        n = counters(status(a), "transfers:")
        assert n["cut below the minimum rate"] >= 1, n
    finally:
        fake.close()


def test_a_burst_of_frames_in_one_read_is_handled_whole(peers):
    """100 frames in one write reach the peer in one or two reads: each frame's outputs and
    events go out before the next frame, so none is lost to a full queue."""
    a = peers.start(1, 2, 1, options=h.FAST)
    b = peers.start(2, 1, 2, options=h.FAST)
    a.wait_line("A ping response message was received from Peer 2.")
    m = b.out.mark()
    with socket.create_connection(("127.0.0.1", 50002)) as c:
        c.sendall(b"".join(store_req(1, 3 + i % 10, 5000 + i, 2) for i in range(100)))
        b.out.wait_for(lambda l: b.out.since(m).count("Store 0002 request accepted.") >= 100,
                       10, m, "the 100 stores to be accepted")
    assert counters(status(b), "dropped:")["queue full"] == 0

"""What the store promises (issue 9, §1 and §4): nothing acknowledged is lost through quits and
their races, and only the peer that was asked may answer.  The attacker is a local process that
speaks the wire format (docs/protocol.md §2) from ports of ids nobody runs."""

import hashlib
import os
import queue
import socket
import struct
import threading
import time

import cdht_harness as h
import cdht_wire as W
from cdht_wire import FILE_REQ, FILE_RESP, JOIN_REQ, KEYS_DONE, KEYS_REQ, STORE_DONE, SUCC_QUERY, XFER  # noqa: F401
from test_hostile import counters, status

P = W.classic

OPTS = h.FAST + ["--stabilize-interval", "0.5"]

GET, HANDOVER = 1, 2


def frame(mtype, **fields):
    """A message from a classic peer: |fields| as cdht_wire takes them, peers by id."""
    for k in ("from", "origin", "about"):
        if isinstance(fields.get(k), int):
            fields[k] = P(fields[k])
    return W.encode(mtype, **fields)


def tree_digest(data):
    """The content digest of docs/protocol.md §9: BLAKE2b-512 leaves of 256 KiB under a root."""
    leaf = 256 << 10
    root = hashlib.blake2b(b"\x01" + struct.pack("<Q", len(data)))
    for i in range(0, len(data), leaf):
        root.update(hashlib.blake2b(b"\x00" + struct.pack("<Q", i // leaf) + data[i:i + leaf]).digest()[:32])
    return root.digest()[:32]


def xfer(frm, kind, seq, file, data, token, ext=b"bin"):
    return frame(XFER, **{"from": frm, "seq": seq, "name": f"{file:04d}", "flags": kind, "size": len(data),
                          "digest": tree_digest(data), "ext": ext, "token": token})


def send_to(pid, payload, read_verdict=False):
    with socket.create_connection(("127.0.0.1", 50000 + pid), timeout=5 * h.SLOW) as c:
        c.sendall(payload)
        if read_verdict:
            try:
                return c.recv(1)
            except OSError:
                return b""
    return None


class FakePeer:
    """Listens on peer |pid|'s TCP port and collects the frames sent to it."""

    def __init__(self, pid):
        self.frames = queue.Queue()
        self.conns = []
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 50000 + pid))
        self.srv.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        buf = b""
        with c:
            while True:
                try:
                    chunk = c.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 4:
                    n = struct.unpack(">H", buf[2:4])[0]
                    if len(buf) < 4 + n:
                        break
                    mtype, fields, used = W.decode(buf)
                    self.frames.put((mtype, fields))
                    buf = buf[used:]

    def expect(self, mtype, timeout=10):
        end = h.deadline(timeout)
        while True:
            left = end - __import__("time").monotonic()
            assert left > 0, f"fake peer: no frame of type {mtype}"
            t, fields = self.frames.get(timeout=left)
            if t == mtype:
                return fields

    def close(self):
        try:
            self.srv.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept
        except OSError:
            pass
        self.srv.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def digest_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make(path, size, seed):
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    with open(path, "wb") as f:
        f.write(data[:size])
    return path


def dropped(peer):
    return counters(status(peer), "dropped:")


# ---- §4: only the peer that was asked may answer ----

def test_request_content_needs_the_token_of_the_answer(peers, tmp_path):
    """Peer 1's successor 2 is a fake that answers `request 0002` with a token.  Content for that
    request that carries another token (someone who guessed or saw the request id) is refused; the
    content with the answer's token is taken, and a transfer cut off halfway leaves no file."""
    fake = FakePeer(2)
    try:
        a = peers.start(1, 2, 1, options=["--download-dir", str(tmp_path)])
        a.type("request 0002")
        seq = fake.expect(FILE_REQ)["seq"]
        token = 0x1234567890ABCDEF
        forged = b"forged content" * 100
        # Content ahead of the answer, from someone claiming to be 2: held under a hidden name only.
        assert send_to(1, xfer(2, GET, seq, 2, forged, token ^ 1) + forged, read_verdict=True) == b"\0"
        m, e = a.out.mark(), a.err.mark()
        send_to(1, frame(FILE_RESP, **{"from": 2, "seq": seq, "name": "0002", "flags": 1, "token": token}))
        a.wait_line("Received a response message from peer 2, which has the file 0002.", start=m)
        a.wait_err("content for file 0002 from peer 2 refused", start=e)
        assert [n for n in os.listdir(tmp_path) if not n.startswith(".")] == []
        genuine = b"the genuine content " * 500
        # Another token with the right request id: refused at the header.
        assert send_to(1, xfer(2, GET, seq, 2, forged, token + 1) + forged, read_verdict=True) == b""
        # The answer's token: taken.
        assert send_to(1, xfer(2, GET, seq, 2, genuine, token) + genuine, read_verdict=True) == b"\0"
        a.wait_line("The file is received.", start=m)
        assert open(tmp_path / "received_0002.bin", "rb").read() == genuine
        # A second request whose content is cut off halfway: nothing replaces the first download.
        m, e = a.out.mark(), a.err.mark()
        a.type("request 0002")
        seq = fake.expect(FILE_REQ)["seq"]
        send_to(1, frame(FILE_RESP, **{"from": 2, "seq": seq, "name": "0002", "flags": 1, "token": token}))
        a.wait_line("Received a response message from peer 2, which has the file 0002.", start=m)
        send_to(1, xfer(2, GET, seq, 2, forged, token) + forged[:400])
        a.wait_err("receiving 0002 from peer 2 failed: the connection closed before the end", start=e)
        assert os.listdir(tmp_path) == ["received_0002.bin"]
        assert open(tmp_path / "received_0002.bin", "rb").read() == genuine
    finally:
        fake.close()


def test_keys_go_only_to_a_predecessor_our_view_of_the_ring_knows(peers):
    """A KEYS_REQ from a made-up peer 2 (between 1 and 3) must not make 3 hand over and delete its
    file; a handover from a peer that is not in the ring must not replace a held file; a KEYS_DONE
    nobody expected prints nothing.  Each refusal is counted."""
    ring = peers.ring([1, 3], options=OPTS)
    h.wait_pinging(ring)
    held = os.path.join(h.WORKDIR, "cdht-data", "peer-3")
    src = make(os.path.join(h.WORKDIR, "mine.bin"), 5000, seed=1)
    m = ring[1].out.mark()
    ring[1].type(f"store 0002 {src}")
    ring[1].wait_line("File 0002 has been stored at peer 3.", start=m)
    fake = FakePeer(2)  # it would take the files, and answer that it kept them
    try:
        send_to(3, frame(KEYS_REQ, **{"from": 2, "about": 1, "token": 0xfeed}))  # 1, asked, does not name 2
        other = b"replaced by a stranger" * 10
        assert send_to(3, xfer(2, HANDOVER, 0, 2, other, 0) + other, read_verdict=True) == b""
        m3 = ring[3].out.mark()
        send_to(3, frame(KEYS_DONE, **{"from": 2, "seq": 5, "token": 0xfeed}))
        h.eventually(lambda: None if dropped(ring[3]).get("not asked for", 0) >= 2 else "not counted yet",
                     10, "the refusals in status")
        assert fake.frames.empty(), "a key went to a peer that never pinged"
        assert "5 files received from peer 2." not in ring[3].events(m3)
    finally:
        fake.close()
    assert digest_of(os.path.join(held, "0002.bin")) == digest_of(src)
    m = ring[1].out.mark()
    ring[1].type("request 0002")
    ring[1].wait_line("The file is received.", start=m)
    assert digest_of(os.path.join(h.WORKDIR, "received_0002.bin")) == digest_of(src)


# ---- §1: no acknowledged file is ever lost ----

def test_a_store_accepted_just_before_quit_reaches_the_next_holder(peers, tmp_path):
    """3 holds an old 0003; 1 stores a new, larger 0003 and 3 quits right after accepting it.  The
    new content must end at 4 (the next holder), 1 is told where, and a request gets the new bytes."""
    ring = peers.ring([1, 2, 3, 4], options=OPTS)
    h.wait_pinging(ring)
    old = make(tmp_path / "old.bin", 1000, seed=1)
    new = make(tmp_path / "new.bin", 48 << 20, seed=2)
    m = ring[2].out.mark()
    ring[2].type(f"store 0003 {old}")
    ring[2].wait_line("File 0003 has been stored at peer 3.", start=m)
    m1, m3 = ring[1].out.mark(), ring[3].out.mark()
    ring[1].type(f"store 0003 {new}")
    ring[3].wait_line("Store 0003 request accepted.", start=m3)
    ring[3].type("quit")
    assert ring[3].wait_exit(30) == 0
    try:
        ring[1].wait_line("File 0003 has been stored at peer 4.", start=m1, timeout=30)
    except AssertionError:
        for p in (1, 3, 4):
            print(f"peer {p}:", ring[p].events(), ring[p].err.since())  # what each saw, on failure
        raise
    assert "File 0003 has been stored at peer 3." not in ring[1].events(m1)
    m = ring[2].out.mark()
    ring[2].type("request 0003")
    ring[2].wait_line("Received a response message from peer 4, which has the file 0003.", start=m)
    ring[2].wait_line("The file is received.", start=m, timeout=30)
    assert digest_of(os.path.join(h.WORKDIR, "received_0003.bin")) == digest_of(new)


def test_adjacent_quits_lose_no_file(peers, tmp_path):
    """On the classic ring 5 and 8 quit at the same instant: 5 hands 0005 to 8, which is leaving
    too; the file must reach 10, not leave with 8."""
    ring = peers.ring(h.CLASSIC_RING, options=OPTS)
    h.wait_pinging(ring)
    src = make(tmp_path / "five.bin", 3000, seed=5)
    m = ring[1].out.mark()
    ring[1].type(f"store 0005 {src}")
    ring[1].wait_line("File 0005 has been stored at peer 5.", start=m)
    ring[5].type("quit")
    ring[8].type("quit")
    assert ring[5].wait_exit(30) == 0
    assert ring[8].wait_exit(30) == 0
    data10 = os.path.join(h.WORKDIR, "cdht-data", "peer-10", "0005.bin")
    h.eventually(lambda: None if os.path.exists(data10) else "0005 is not at 10", 10, "0005 at peer 10")
    assert digest_of(data10) == digest_of(src)
    m = ring[1].out.mark()
    ring[1].type("request 0005")
    ring[1].wait_line("Received a response message from peer 10, which has the file 0005.", start=m, timeout=15)
    ring[1].wait_line("The file is received.", start=m)


def test_forged_answers_and_joins_for_peers_nobody_runs_change_nothing(peers):
    """A response with a guessed request id prints nothing; a join request for a peer nobody runs
    is answered, but the ring does not change and no classic line is printed (issue 9, §4)."""
    ring = peers.ring([1, 3, 5], options=OPTS)
    h.wait_pinging(ring)
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[3].kill(__import__("signal").SIGSTOP)  # 1's request stays pending at 3
    try:
        ring[1].type("request 0004")
        ring[1].wait_line("File request message for 0004 has been sent to my successor.", start=marks[1])
        for seq in range(1, 50):  # ids used to run 1, 2, 3...
            send_to(1, frame(FILE_RESP, **{"from": 5, "seq": seq, "name": "0004"}))
        h.eventually(lambda: None if dropped(ring[1]).get("stale", 0) >= 49 else "not yet", 10, "the forged answers")
    finally:
        ring[3].kill(__import__("signal").SIGCONT)
    assert not [l for l in ring[1].events(marks[1]) if l.startswith("Received a response message")]
    m1 = ring[1].out.mark()
    send_to(1, frame(JOIN_REQ, **{"from": 2, "origin": 2, "seq": 1, "params": (8, 0)}))  # "2" lands between 1 and 3
    h.eventually(lambda: None if counters(status(ring[1]), "network:").get("sends failed", 0) >= 1
                 else "the accept to 2 has not failed yet", 10, "the accept to nobody")
    assert [l for l in ring[1].events(m1) if "Join" in l or "successor" in l] == []
    m = ring[5].out.mark()
    ring[5].type("request 0002")  # 2 would be responsible, if it had been adopted
    ring[5].wait_line("Received a response message from peer 3, which has the file 0002.", start=m)


def test_questions_from_strangers_do_not_keep_connections(peers):
    """A question (SUCC_QUERY) in the name of a peer that is none of ours is answered, but keeps
    no inbound slot alive: connections that only ask are closed at the idle timeout (review of
    issue 9, §5), and the peer still takes new connections."""
    opts = OPTS + ["--max-connections", "8", "--idle-timeout", "1"]
    ring = {p: peers.start(p, s1, s2, options=opts) for p, (s1, s2) in h.successors([1, 3, 5]).items()}
    h.wait_pinging(ring)
    conns = [socket.create_connection(("127.0.0.1", 50003)) for _ in range(8)]
    try:
        closed = set()
        end = h.deadline(8)

        while len(closed) < len(conns) and time.monotonic() < end:
            for i, c in enumerate(conns):
                if i in closed:
                    continue
                try:
                    c.sendall(frame(SUCC_QUERY, **{"from": 200, "seq": i}))
                except OSError:
                    closed.add(i)
            time.sleep(0.2)  # the attacker's pace
        assert len(closed) == len(conns), f"{len(conns) - len(closed)} connections kept"
    finally:
        for c in conns:
            c.close()
    net = counters(status(ring[3]), "network:")
    assert net.get("useless closed", 0) >= 8, net
    m = ring[1].out.mark()
    ring[1].type("request 0004")  # through 3
    ring[1].wait_line("Received a response message from peer 5, which has the file 0004.", start=m)

"""What a peer keeps on disk: private modes, no leftovers of a killed peer, and not one byte
more than a transfer announced."""

import hashlib
import os
import socket
import stat
import struct

import cdht_harness as h
from test_promises import FILE_REQ, FILE_RESP, GET, FakePeer, frame, send_to, xfer

LEAF = 1 << 18


def tree_digest(data):
    """The content digest of docs/protocol.md §9."""
    leaves = [hashlib.blake2b(b"\0" + struct.pack("<Q", i) + data[i * LEAF:(i + 1) * LEAF]).digest()[:32]
              for i in range((len(data) + LEAF - 1) // LEAF)]
    return hashlib.blake2b(b"\1" + struct.pack("<Q", len(data)) + b"".join(leaves)).digest()[:32]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_stored_files_downloads_and_data_directories_are_private(peers, tmp_path):
    os.umask(0o022)  # the usual one: it would leave 0644 files and 0755 directories readable by all
    dl = tmp_path / "dl"
    os.makedirs(dl)
    a = peers.start(1, 2, 1, options=h.FAST + ["--download-dir", str(dl)])
    b = peers.start(2, 1, 2, options=h.FAST)
    a.wait_line("A ping response message was received from Peer 2.")
    src = tmp_path / "open.txt"
    src.write_bytes(b"anyone may read this\n" * 100)
    os.chmod(src, 0o666)
    for name, holder in (("0002", 2), ("0001", 1)):  # sent to peer 2, then copied in at peer 1
        m = a.out.mark()
        a.type(f"store {name} {src}")
        a.wait_line(f"File {name} has been stored at peer {holder}.", start=m)
    m = a.out.mark()
    a.type("request 0002")
    a.wait_line("The file is received.", start=m)
    data = os.path.join(h.WORKDIR, "cdht-data")
    got = {os.path.relpath(p, h.WORKDIR): oct(mode(p)) for p in (
        data, os.path.join(data, "peer-1"), os.path.join(data, "peer-2"),
        os.path.join(data, "peer-2", "0002.txt"), os.path.join(data, "peer-1", "0001.txt"),
        os.path.join(data, "peer-2", ".0002.txt.digest"), dl / "received_0002.txt")}
    want = {k: oct(0o600 if "." in os.path.basename(k) else 0o700) for k in got}
    assert got == want


def test_leftovers_of_a_killed_peer_are_removed_at_start(peers):
    held = os.path.join(h.WORKDIR, "cdht-data", "peer-1")
    os.makedirs(held)
    names = {"0001": b"kept", "0001.part-4242-0": b"half a transfer", ".0001.digest.part-4242-1": b"half a record",
             "0007.pdf.part-4242-2": b"half a copy", ".0005.digest": b"the record of a file that went"}
    for name, data in names.items():
        with open(os.path.join(held, name), "wb") as f:
            f.write(data)
    a = peers.start(1, 2, 1, options=h.FAST)
    peers.start(2, 1, 2, options=h.FAST)
    a.wait_line("A ping response message was received from Peer 2.")
    assert os.listdir(held) == ["0001"]


def test_bytes_past_the_announced_size_are_refused(peers, tmp_path):
    """However the reads fall: with the header and all the content in one read, or the last
    content bytes and the extra ones after the header's read.  Peer 1's successor 2 is a fake
    that answers each request with the token its content then carries."""
    fake = FakePeer(2)
    try:
        a = peers.start(1, 2, 1, options=["--download-dir", str(tmp_path)])
        token = 0x7700

        def ask():
            m = a.out.mark()
            a.type("request 0002")
            seq = fake.expect(FILE_REQ)["seq"]
            send_to(1, frame(FILE_RESP, **{"from": 2, "seq": seq, "name": "0002", "flags": 1, "token": token}))
            a.wait_line("Received a response message from peer 2, which has the file 0002.", start=m)
            return seq

        def send(content, extra):
            seq = ask()
            e = a.err.mark()
            with socket.create_connection(("127.0.0.1", 50001)) as c:
                c.sendall(xfer(2, GET, seq, 2, content, token) + content + extra)
                c.settimeout(10 * h.SLOW)
                try:
                    verdict = c.recv(1)  # 0 kept, 1 not; a close or a reset: not kept either
                except ConnectionResetError:
                    verdict = b""
            return verdict, e

        for size in (1000, 300000):  # in the header's read; and far past it
            content = hashlib.sha256(str(size).encode()).digest() * (size // 32)
            verdict, e = send(content, b"0123456789")
            assert verdict != b"\0", size
            a.wait_err("receiving 0002 from peer 2 failed: more bytes than announced", start=e)
            # its temporary file goes once the leaves being hashed return from the pool
            h.eventually(lambda: None if os.listdir(tmp_path) == [] else str(os.listdir(tmp_path)), 5,
                         f"nothing kept of {size} bytes")
        # The same transfer without the extra bytes is kept: the header above was a valid one.
        verdict, e = send(content, b"")
        assert verdict == b"\0"
        assert os.listdir(tmp_path) == ["received_0002.bin"]
    finally:
        fake.close()

"""The event loop never blocks on a file: a peer hashing or copying a large file still answers
every ping on time, and keeps the digests of the files it holds across a restart."""

import hashlib
import os
import time

import cdht_harness as h

SANITIZED = os.environ.get("CDHT_SANITIZED") == "1"

# Failure detection in about 0.4 s (3 misses of a 0.1 s ping): a loop thread busy for longer
# than that gets its peer declared dead by its predecessors.
QUICK = ["--ping-interval", "0.1", "--ping-timeout", "0.1", "--misses", "3", "--stabilize-interval", "0.5"]
RING = [1, 2, 3, 4]
# Sparse, so it costs no disk and reads fast; hashing it is CPU-bound (BLAKE2b, ~1.4 GB/s here):
# 1 GiB is about 0.75 s of hashing, almost twice the detection time (today's code, hashing on
# the loop, gets peer 4 declared dead in both cases).  Under sanitizers a smaller file exercises the
# same paths.
BIG = (64 << 20) if SANITIZED else (1 << 30)


def sparse(path, size):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def sha(path):
    s = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            s.update(chunk)
    return s.hexdigest()


def data_dir(p):
    return os.path.join(h.WORKDIR, "cdht-data", f"peer-{p}")


def no_deaths(ring, marks, busy=4):
    """No peer declared anyone dead since |marks|, and each predecessor of |busy| hears from it
    again after the operation (pings answered late are not enough: a fresh answer)."""
    def dead():
        return [(p, l) for p, peer in ring.items() for l in peer.out.since(marks[p]) if l.endswith("is no longer alive.")]
    assert dead() == []
    for p in (2, 3):
        ring[p].out.wait_for(lambda l: l in (f"A ping response message was received from Peer {busy}.",
                                             f"Peer {busy} is no longer alive."), 10, ring[p].out.mark(),
                             f"news of peer {busy}")
    assert dead() == []


def test_a_local_store_of_a_big_file_does_not_silence_the_peer(peers, tmp_path):
    ring = peers.ring(RING, options=QUICK)
    h.wait_pinging(ring)
    src = sparse(tmp_path / "big.dat", BIG)
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[4].type(f"store 0004 {src}")  # key 4 is peer 4's own: copied and hashed there
    ring[4].wait_line("File 0004 has been stored at peer 4.", start=marks[4], timeout=30)
    no_deaths(ring, marks)
    held = os.path.join(data_dir(4), "0004.dat")
    assert os.path.getsize(held) == BIG
    assert sha(held) == sha(src)
    os.unlink(held)


def test_a_request_for_a_big_file_held_since_before_the_start_does_not_silence_the_peer(peers, tmp_path):
    os.makedirs(data_dir(4))
    held = sparse(os.path.join(data_dir(4), "0004"), BIG)  # no digest known: it is hashed first
    dl = tmp_path / "dl"
    os.makedirs(dl)
    ring = {p: peers.start(p, s1, s2, options=QUICK + (["--download-dir", str(dl)] if p == 1 else []))
            for p, (s1, s2) in h.successors(RING).items()}
    h.wait_pinging(ring)
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[1].type("request 0004")
    ring[1].wait_line("The file is received.", start=marks[1], timeout=60)
    no_deaths(ring, marks)
    got = dl / "received_0004"
    assert os.path.getsize(got) == BIG
    assert sha(got) == sha(held)
    os.unlink(got)
    os.unlink(held)


def rewrite(path, data):
    """Changes a held file the way a user's editor would; its mtime moves on."""
    before = os.stat(path).st_mtime_ns
    with open(path, "wb") as f:
        f.write(data)
    if os.stat(path).st_mtime_ns == before:  # a coarse clock: make the change visible
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_a_restarted_peer_knows_its_digests_and_rehashes_a_changed_file(peers, tmp_path):
    ring = peers.ring([1, 2], options=h.FAST)
    h.wait_pinging(ring)
    src = tmp_path / "a.txt"
    src.write_bytes(b"first version\n" * 1000)
    m = ring[1].out.mark()
    ring[1].type(f"store 0002 {src}")
    ring[1].wait_line("File 0002 has been stored at peer 2.", start=m)
    held = os.path.join(data_dir(2), "0002.txt")
    for i in range(2):
        ring[2].stop()
        if i == 1:
            rewrite(held, b"second version, longer\n" * 1000)
        ring[2] = peers.start(2, 1, 2, options=h.FAST)
        ring[2].wait_line("A ping response message was received from Peer 1.")
        m, e = ring[1].out.mark(), ring[2].err.mark()
        ring[1].type("request 0002")
        ring[1].wait_line("The file is received.", start=m)
        got = os.path.join(h.WORKDIR, "received_0002.txt")
        assert sha(got) == sha(held)
        hashed = [l for l in ring[2].err.since(e) if l.startswith("hashed 0002")]
        if i == 0:  # unchanged since it was stored: its digest was kept
            assert hashed == []
        else:  # changed behind the peer's back: hashed again (on the pool), and the new content served
            assert hashed != []
            with open(got, "rb") as f:
                assert f.read().startswith(b"second version")

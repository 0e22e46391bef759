"""Peers on separate hosts (issue 10 §5): one peer per network namespace, every one on the same
port, half of them speaking IPv6 first, joined by address; files stored from one host are
fetched from another, and the ring repairs after a quit and a kill."""
import hashlib
import os
import re
import signal

import cdht_harness as h
from test_hostile import status

PORT = 4000
OPTS = h.FAST + ["--stabilize-interval", "0.5"]


def key_of(name):
    """A name's key on a 64-bit ring: the first 8 bytes of BLAKE2b-256 (docs/protocol.md §1)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=32).digest()[:8], "big")


def encoded(name):
    """The file name of |name| in a data or download directory (src/cli/names.c): bytes outside
    [A-Za-z0-9_.-] and a leading '.' as %XX; longer than 200 bytes, "%%" and the BLAKE2b-256 hex."""
    raw = name.encode()
    out = ""
    for i, b in enumerate(raw):
        c = chr(b)
        plain = (c.isascii() and (c.isalnum() or c in "_-")) or (c == "." and i > 0)
        out += c if plain else f"%{b:02X}"
        if len(out) > 200:
            return "%%" + hashlib.blake2b(raw, digest_size=32).hexdigest()
    return out


# Names a person might give (docs/protocol.md §1): an extension, dots that would climb out of a
# directory, a '%' that looks like an escape, UTF-8, the longest name (hashed on disk), and one
# stored from a path with spaces.
NAMES = ["report-2026.pdf", "..", "..%2F..%2Fetc%2Fpasswd", "caf%C3%A9", "ünïcode-ça", "n" * 255,
         "notes"]


def responsible(ids, key):
    return min((p for p in ids if p >= key), default=min(ids))


def peer_id(peer):
    return int(re.match(r"peer (\d+): ", status(peer)).group(1))


def listen_args(host, v6_first):
    first, second = (6, 4) if v6_first else (4, 6)
    return ["--listen", host.hostport(PORT, first), "--listen", host.hostport(PORT, second)]


def start_peer(peers, host, tmp_path, v6_first, join=None):
    d = tmp_path / host.name
    d.mkdir()
    argv = [h.CDHT, *OPTS, *listen_args(host, v6_first), "--data-dir", str(d / "data"), "--download-dir", str(d)]
    if join:
        argv += ["--join", join]
    p = peers.run(host.argv(argv), exe=True, cwd=str(d))
    p.dir = d
    return p


def ring_is(peers_by_id):
    """A check for h.eventually: every peer's status names the live ring's next two peers as its
    successors, and the two before it as its predecessors."""
    ids = sorted(peers_by_id)
    n = len(ids)

    def check():
        for i, p in enumerate(ids):
            want = f"peer {p}: predecessors {ids[(i - 1) % n]} {ids[(i - 2) % n]}, " \
                   f"successors {ids[(i + 1) % n]} {ids[(i + 2) % n]}"
            got = status(peers_by_id[p]).splitlines()[0]
            if got != want:
                return f"{got!r}, want {want!r}"
        return None
    return check


def test_a_ring_of_separate_hosts_stores_fetches_and_repairs(hosts, peers, tmp_path):
    net = hosts(8)
    procs = {}
    first = start_peer(peers, net[0], tmp_path, v6_first=False)
    procs[peer_id(first)] = first
    # Peer ids come from the listen address: 8 hosts on one port get 8 ids.
    expected_id = key_of(net[0].hostport(PORT))
    assert peer_id(first) == expected_id
    for k in range(1, 8):
        v6 = k % 2 == 1  # half the peers speak IPv6 first, and join through host 0's IPv6 address
        p = start_peer(peers, net[k], tmp_path, v6_first=v6, join=net[0].hostport(PORT, 6 if v6 else 4))
        p.wait_line("Join request has been accepted.", timeout=15)
        pid = peer_id(p)
        assert pid == key_of(net[k].hostport(PORT, 6 if v6 else 4))
        assert pid not in procs
        procs[pid] = p
    h.eventually(ring_is(procs), 30, "the ring of 8 hosts to settle")
    # The addresses each peer knows its neighbours by are the hosts' own.
    report = status(procs[min(procs)])
    assert re.search(r"^addresses: this peer (198\.18\.0\.\d+|\[fd00:cd47::\w+\]):4000 and ", report, re.M), report

    # Store from one host, request from another: the responsible peer answers, the bytes agree.
    ids = sorted(procs)
    name = "0042"
    holder = responsible(ids, key_of(name))
    storer = procs[ids[1]] if ids[1] != holder else procs[ids[2]]
    data = os.urandom(300_000)
    src = storer.dir / "mine.bin"
    src.write_bytes(data)
    m = storer.out.mark()
    storer.type(f"store {name} {src}")
    storer.wait_line(f"File {name} has been stored at peer {holder}.", timeout=20, start=m)
    asker_id = next(p for p in reversed(ids) if p not in (holder, ids[1], ids[2]))
    asker = procs[asker_id]
    m = asker.out.mark()
    asker.type(f"request {name}")
    asker.wait_line(f"Received a response message from peer {holder}, which has the file {name}.", timeout=20,
                    start=m)
    asker.wait_line("The file is received.", timeout=20, start=m)
    assert (asker.dir / f"received_{name}").read_bytes() == data  # with --listen the name is the file name

    # Any name: stored from the same host, fetched from another; the lines use the name.
    contents = {}
    for k, nm in enumerate(NAMES):
        body = os.urandom(1000 + 7919 * k)
        contents[nm] = body
        if nm == "notes":  # a path with spaces, quoted
            path = storer.dir / "my notes.txt"
            path.write_bytes(body)
            line = f'store {nm} "my notes.txt"'
        else:
            path = storer.dir / f"src{k}"
            path.write_bytes(body)
            line = f"store {nm} {path}"
        m = storer.out.mark()
        storer.type(line)
        storer.wait_line(f"File {nm} has been stored at peer {responsible(ids, key_of(nm))}.", timeout=20, start=m)
    # Names a ring does not take are refused on the console, with a reason, and nothing is sent.
    for bad, why in (("../../etc/passwd", "a name is 1 to 255 bytes with no space, control character or '/'"),
                     ('"caf%C3%A9 ünïcode"', "a name is 1 to 255 bytes"),
                     ("n" * 256, "a name is 1 to 255 bytes"),
                     ('notes "my notes.txt', "unterminated quote")):
        e = storer.err.mark()
        storer.type(f"store {bad}")
        storer.wait_err(why, start=e)

    def fetch_all(asker, holders):
        for nm, holder in holders.items():
            m = asker.out.mark()
            if holder in (asker_id_of(asker),):
                continue
            hm = procs[holder].out.mark()
            asker.type(f"request {nm}")
            procs[holder].wait_line(f"File {nm} is here.", timeout=20, start=hm)
            asker.wait_line(f"Received a response message from peer {holder}, which has the file {nm}.", timeout=20,
                            start=m)
            asker.wait_line("The file is received.", timeout=20, start=m)
            assert (asker.dir / f"received_{encoded(nm)}").read_bytes() == contents[nm], nm

    def asker_id_of(p):
        return next(i for i, q in procs.items() if q is p)

    holders = {nm: responsible(ids, key_of(nm)) for nm in NAMES}
    fetch_all(asker, holders)
    # Each held name is a file of its encoding in its holder's data directory (the longest one
    # hashed, its name kept beside it), and nothing was written anywhere else.
    for nm, holder in holders.items():
        assert (procs[holder].dir / "data" / encoded(nm)).read_bytes() == contents[nm], nm
    assert (procs[holders["n" * 255]].dir / "data" / f'.{encoded("n" * 255)}.name').read_bytes() == b"n" * 255

    def outside():
        bad = []
        for root, dirs, files in os.walk(tmp_path):
            rel = os.path.relpath(root, tmp_path)
            parts = [] if rel == "." else rel.split(os.sep)
            ok = len(parts) == 1 or (len(parts) == 2 and parts[1] == "data")
            bad += [os.path.join(rel, f) for f in files if not ok]
        return bad
    assert outside() == []

    # A quit: its predecessors take its successors, and its keys go to its successor.
    # (one that holds some of the names: they go to its successor, which answers for them now)
    named_holders = set(holders.values())
    leaver_id = next((p for p in ids if p not in (holder, asker_id) and p in named_holders),
                     next(p for p in ids if p not in (holder, asker_id)))
    leaver = procs.pop(leaver_id)
    leaver.type("quit")
    assert leaver.wait_exit(15) == 0
    h.eventually(ring_is(procs), 30, "the ring to close over the peer that quit")

    # A kill: noticed through lost pings at its predecessor, repaired around.
    ids = sorted(procs)
    holders = {nm: responsible(ids, key_of(nm)) for nm in NAMES}
    # (a kill loses what the peer held: cdht keeps one copy, so the victim is one that holds none
    # of the names when there is one; the names it held are not asked for again)
    spare = [p for p in ids if p not in (holder, asker_id) and p not in holders.values()]
    victim_id = spare[0] if spare else next(p for p in ids if p not in (holder, asker_id))
    lost = {nm for nm, p in holders.items() if p == victim_id}
    pred_id = ids[(ids.index(victim_id) - 1) % len(ids)]
    m = procs[pred_id].out.mark()
    procs.pop(victim_id).kill(signal.SIGKILL)
    procs[pred_id].wait_line(f"Peer {victim_id} is no longer alive.", timeout=20, start=m)
    h.eventually(ring_is(procs), 30, "the ring to repair around the killed peer")

    # Requests still reach the responsible peer, from every remaining host.
    holder = responsible(sorted(procs), key_of(name)) if holder in procs else holder
    for pid, p in procs.items():
        if pid == holder:
            continue
        m = p.out.mark()
        p.type(f"request {name}")
        p.wait_line(f"Received a response message from peer {holder}, which has the file {name}.", timeout=20,
                    start=m)
        p.wait_line("The file is received.", timeout=20, start=m)
        assert (p.dir / f"received_{name}").read_bytes() == data
    # ... and the named files from their responsible peers, the ones a quit moved included.
    ids = sorted(procs)
    holders = {nm: responsible(ids, key_of(nm)) for nm in NAMES if nm not in lost}
    fetch_all(procs[asker_id], holders)
    assert outside() == []


def test_a_joiner_with_other_ring_parameters_is_told_what_differs(hosts, peers, tmp_path):
    net = hosts(2)
    a = start_peer(peers, net[0], tmp_path, v6_first=False)
    peer_id(a)
    d = tmp_path / "b"
    d.mkdir()
    b = peers.run(net[1].argv([h.CDHT, *OPTS, "--listen", net[1].hostport(PORT), "--bits", "32",
                               "--join", net[0].hostport(PORT), "--data-dir", str(d)]), exe=True, cwd=str(d))
    b.wait_err("join failed: the ring uses 64-bit ids, this peer 32", timeout=15)
    assert b.wait_exit(10) == 1


def test_joining_an_address_where_nobody_listens_fails_with_the_address(hosts, peers, tmp_path):
    net = hosts(2)
    b = peers.run(net[1].argv([h.CDHT, *OPTS, "--listen", net[1].hostport(PORT),
                               "--join", net[0].hostport(PORT), "--data-dir", str(tmp_path)]), exe=True,
                  cwd=str(tmp_path))
    b.wait_err(f"join failed: peer at {net[0].hostport(PORT)} does not answer (connection refused)", timeout=15)
    assert b.wait_exit(10) == 1


def test_the_hosts_demo_runs_a_ring_a_person_can_type_into(tmp_path):
    """scripts/demo.sh --hosts 3: three hosts in tmux, a peer started in each pane and joined by
    address; a request typed into one pane is answered, and the line shows in that pane."""
    import shutil
    import subprocess

    import multihost
    import pytest
    multihost.require_hosts()
    if not shutil.which("tmux"):
        pytest.skip("no tmux")
    sock = f"cdht-demo-hosts-{os.getpid()}"
    env = dict(os.environ, CDHT_HOSTS_TMUX=sock, CDHT_HOSTS_DIR=str(tmp_path), CDHT_DEMO_BIN=h.CDHT)
    p = subprocess.Popen([os.path.join(h.ROOT, "scripts", "demo.sh"), "--hosts", "3"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    err = h.Stream(p.stderr)

    def tmux(*args):
        return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, check=True).stdout

    def pane(k):
        return tmux("capture-pane", "-J", "-p", "-S", "-300", "-t", f"hosts:hosts.{k}")
    try:
        err.wait_for(lambda l: l.startswith("hosts: attach with:"), 15, what="the hosts to be up")
        for k in (1, 2):
            h.eventually(lambda: None if "Join request has been accepted." in pane(k) else pane(k)[-300:], 20,
                         f"the peer of h{k} to join")
        tmux("send-keys", "-t", "hosts:hosts.2", "request 0007", "Enter")
        h.eventually(lambda: None if re.search(r"Received a response message from peer \d+, which has the file 0007\.",
                                               pane(2)) or re.search(r"File 0007 is here\.", pane(2)) else pane(2)[-400:],
                     20, "the answer in h2's pane")
        tmux("kill-session", "-t", "hosts")
        assert p.wait(10 * h.SLOW) == 0
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        if p.poll() is None:
            p.kill()
            p.wait()
        multihost.sweep()


def test_a_restarted_listen_peer_finds_its_names_again(peers, tmp_path):
    """A --listen peer keeps what it holds under the names' encodings; started again on the same
    data directory it serves every name again, the hashed longest one included (its name is kept
    beside it), and a file whose name cannot be read back is left alone."""
    data = tmp_path / "data"
    argv = [h.CDHT, *OPTS, "--listen", "127.0.0.1:4000", "--data-dir", str(data), "--download-dir", str(tmp_path)]
    p = peers.run(argv, exe=True, cwd=str(tmp_path))
    contents = {}
    for k, nm in enumerate(NAMES):
        contents[nm] = os.urandom(100 + k)
        (tmp_path / f"src{k}").write_bytes(contents[nm])
        m = p.out.mark()
        p.type(f"store {nm} src{k}")
        p.wait_line(f"File {nm} has been stored at peer {peer_id(p)}.", timeout=10, start=m)
    (data / "%%00").write_bytes(b"a hashed name without its record")  # not served, not removed
    p.type("quit")
    assert p.wait_exit(10) == 0
    p = peers.run(argv, exe=True, cwd=str(tmp_path))
    assert f"names: {len(NAMES)} held" in status(p)
    e = p.err.mark()
    for nm in NAMES:
        m = p.out.mark()
        p.type(f"request {nm}")
        p.wait_line(f"File {nm} is here.", timeout=10, start=m)
        assert (data / encoded(nm)).read_bytes() == contents[nm]
    status(p)  # stderr in order: a "no content" note of those requests would be before this report
    assert not [l for l in p.err.since(e) if "no content" in l], p.err.since(e)
    assert (data / "%%00").exists()

"""Successor lists and fingers (issue 11), driven the way a person would: a classic ring with
`--successors 4` survives three adjacent peers killed at once and keeps its classic lines; a
classic ring with `--fingers` names each hop it skips; 32 peers on separate hosts route through
fingers in at most log2(N) + 2 hops; bad values of the new options are usage errors."""
import json
import math
import os
import re
import signal

import pytest

import cdht_harness as h
from test_hostile import status
from test_hosts import key_of, peer_id, responsible as responsible_key

# ---- a classic ring with successor lists -------------------------------------------------------

RING = [1, 3, 4, 5, 8, 10, 12, 15, 20, 30, 40, 50]
R = 4
# Stabilization learns the list's later entries; a fast round fills a list of 4 in about a second.
LIST_OPTS = h.FAST + ["--stabilize-interval", "0.25"]


def start_classic(peers, ids, extra):
    """The classic set-up script, with the new option after the arguments as a person would add
    it: `cdht ID S1 S2 --successors 4 ...`."""
    ring = {}
    for p, (s1, s2) in h.successors(ids).items():
        peer = peers.run([h.CDHT, str(p), str(s1), str(s2), *extra], exe=True)
        peer.id = p
        ring[p] = peer
    return ring


def next_ids(ids, p, k):
    ring = sorted(ids)
    i = ring.index(p)
    return [ring[(i + j) % len(ring)] for j in range(1, k + 1)]


def list_line(report):
    return next(l for l in report.splitlines() if l.startswith("successor list ("))


def lists_are(ring, ids):
    """A check for h.eventually: every peer's status shows its full list of R, the next R live
    peers in ring order at their classic addresses."""
    def check():
        for p in ids:
            want = f"successor list ({R} of {R}): " + ", ".join(f"{q} 127.0.0.1:{50000 + q}"
                                                                   for q in next_ids(ids, p, R))
            got = list_line(status(ring[p]))
            if got != want:
                return f"peer {p}: {got!r}, want {want!r}"
        return None
    return check


def neighbours_are(ring, ids):
    """Every live peer's first status line names the live ring's next two and previous two."""
    ring_ids = sorted(ids)
    n = len(ring_ids)

    def check():
        for i, p in enumerate(ring_ids):
            want = f"peer {p}: predecessors {ring_ids[(i - 1) % n]} {ring_ids[(i - 2) % n]}, " \
                   f"successors {ring_ids[(i + 1) % n]} {ring_ids[(i + 2) % n]}"
            got = status(ring[p]).splitlines()[0]
            if got != want:
                return f"{got!r}, want {want!r}"
        return None
    return check


def last_pair(peer, start):
    """The last two successor lines |peer| printed since |start| (None if there are none)."""
    lines = peer.events(start)
    firsts = [i for i, l in enumerate(lines) if l.startswith("My first successor is now peer ")]
    if not firsts or firsts[-1] + 1 >= len(lines):
        return None
    return lines[firsts[-1]], lines[firsts[-1] + 1]


def test_a_list_of_four_survives_three_adjacent_kills_with_the_classic_lines(peers):
    ring = start_classic(peers, RING, ["--successors", str(R), *LIST_OPTS])
    h.wait_pinging(ring)
    h.eventually(lists_are(ring, RING), 20, "every peer's list of 4")
    # Learning the list's later entries printed no successor line: stdout is the classic lines.
    for p, peer in ring.items():
        assert [l for l in peer.events() if "successor" in l] == [], f"peer {p}: {peer.events()}"

    dead = [10, 12, 15]  # adjacent; 8 pings 10 and 12, 5 pings 8 and 10
    live = [p for p in RING if p not in dead]
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    for p in dead:  # at the same instant, as near as signals go
        os.kill(ring[p].proc.pid, signal.SIGKILL)
    for p in dead:
        ring[p].wait_exit(5)

    pred, pred2 = 8, 5
    ring[pred].wait_line("Peer 10 is no longer alive.", 15, marks[pred])
    ring[pred].wait_line("Peer 12 is no longer alive.", 15, marks[pred])
    # (5 may hear of 10's death from 8 by stabilization before its own pings miss, and then takes
    # 8's new successor without a "no longer alive" line of its own.)
    live_ring = {p: ring[p] for p in live}
    h.eventually(neighbours_are(live_ring, live), 30, "the ring to close over 10, 12 and 15")
    # The lines end with the classic pair naming the right live peers, at the predecessor and at
    # its predecessor (a pipe may deliver them a moment after status shows the state).
    want = {pred: ("My first successor is now peer 20.", "My second successor is now peer 30."),
            pred2: ("My first successor is now peer 8.", "My second successor is now peer 20.")}
    for p, pair in want.items():
        h.eventually(lambda: None if last_pair(ring[p], marks[p]) == pair else last_pair(ring[p], marks[p]),
                     10, f"peer {p}'s final successor lines")
    for p in live:
        lines = ring[p].events(marks[p])
        # Only the dead are declared dead, and only by the peers that watched them.
        declared = [int(m.group(1)) for l in lines for m in [re.match(r"Peer (\d+) is no longer alive\.$", l)] if m]
        assert set(declared) <= set(dead), f"peer {p}: {lines}"
        if p not in want:
            # A peer whose first two successors did not change prints nothing about them (the
            # list's later entries changed at 3 and 4, silently).
            assert declared == [] and not [l for l in lines if "successor" in l], f"peer {p}: {lines}"
    h.eventually(lists_are(live_ring, live), 20, "the lists to refill with live peers")

    # Every request is answered by the responsible live peer, from several peers, the keys of the
    # dead ones included (key 11 was 12's, now 20's).
    files = [1, 3, 4, 5, 8, 9, 11, 14, 16, 20, 30, 40, 50, 51, 255]
    for requester in (1, 20, 40, 5):
        for f in files:
            owner = h.responsible(live, f)
            if owner == requester:
                continue
            name = f"{f:04d}"
            m = ring[requester].out.mark()
            ring[requester].type(f"request {name}")
            ring[requester].wait_events([f"File request message for {name} has been sent to my successor.",
                                         f"Received a response message from peer {owner}, which has the file {name}."],
                                        10, m)


def test_a_classic_ring_with_fingers_names_each_hop_it_skips(peers):
    """`--fingers` on the classic form: each request follows a chain of lines, each peer naming the
    next (its successor, or "peer X" when it skips ahead), to the responsible peer, in at most
    log2(N) + 2 messages; the peers off the path print nothing."""
    ring = start_classic(peers, RING, ["--fingers", "--fix-fingers-interval", "0.05", *LIST_OPTS])
    h.wait_pinging(ring)

    def fingers_right():
        for p in RING:
            got = finger_table(status(ring[p]))
            want = {i: mine_or(p, h.responsible(RING, (p + (1 << i)) % 256), got.get(i)) for i in range(8)}
            if got != want:
                return f"peer {p}: {got}, want {want}"
        return None
    h.eventually(fingers_right, 20, "every peer's 8 fingers")
    skipped = 0
    for requester, f in ((1, 45), (3, 200), (1, 9), (20, 2), (20, 13), (40, 45), (5, 4), (50, 30)):
        name, owner = f"{f:04d}", h.responsible(RING, f)
        marks = {p: peer.out.mark() for p, peer in ring.items()}
        ring[requester].type(f"request {name}")
        first = ring[requester].out.wait_for(lambda l: l.startswith(f"File request message for {name} "), 10,
                                             marks[requester])
        line = ring[requester].out.since(first)[0]
        path = [requester]
        m = re.fullmatch(rf"File request message for {name} has been sent to (my successor|peer (\d+))\.", line)
        assert m, line
        at = h.successors(RING)[requester][0] if m.group(2) is None else int(m.group(2))
        skipped += m.group(2) is not None
        while at != owner:
            assert at in RING and at not in path and len(path) <= 8, (path, at)
            path.append(at)
            ring[at].wait_events([f"File {name} is not stored here."], 10, marks[at])
            ring[at].out.wait_for(lambda l: l.startswith("File request message has been forwarded to "), 10,
                                  marks[at])
            lines = ring[at].events(marks[at])
            m = re.fullmatch(r"File request message has been forwarded to (my successor|peer (\d+))\.", lines[1])
            assert len(lines) == 2 and m, (at, lines)
            at = h.successors(RING)[at][0] if m.group(2) is None else int(m.group(2))
            skipped += m.group(2) is not None
        path.append(owner)
        ring[owner].expect_events([f"File {name} is here.",
                                   f"A response message, destined for peer {requester}, has been sent."], 10,
                                  marks[owner])
        ring[requester].wait_line(f"Received a response message from peer {owner}, which has the file {name}.", 10,
                                  marks[requester])
        assert len(path) - 1 <= math.log2(len(RING)) + 2, path
        for p in RING:
            if p not in path:
                assert ring[p].events(marks[p]) == [], (p, ring[p].events(marks[p]))
    assert skipped > 0


# ---- fingers on separate hosts --------------------------------------------------------------------

PORT = 4000
HOSTS = 32
MASK = (1 << 64) - 1
FINGER_OPTS = h.FAST + ["--stabilize-interval", "0.25", "--fix-fingers-interval", "0.05"]


def mine_or(p, owner, got):
    """The finger wanted where the responsible peer is |owner|: a point a peer is responsible for
    itself is recorded as itself (read off its first predecessor, no lookup)."""
    return owner


def finger_table(report):
    """The 64 fingers of a status report: "fingers: 0-5 -> 12, 6 -> 40, 7 -> ?" expanded."""
    line = next(l for l in report.splitlines() if l.startswith("fingers:"))
    table = {}
    for part in line[len("fingers:"):].split(","):
        rng, _, who = part.strip().partition(" -> ")
        lo, _, hi = rng.partition("-")
        for i in range(int(lo), int(hi or lo) + 1):
            table[i] = None if who == "?" else int(who)
    return table


def fingers_are(procs, ids):
    """Every peer's finger i is the peer responsible for its id + 2^i."""
    def check():
        for p in ids:
            got = finger_table(status(procs[p]))
            want = {i: mine_or(p, responsible_key(ids, (p + (1 << i)) & MASK), got.get(i)) for i in range(64)}
            if got != want:
                wrong = [(i, got.get(i), want[i]) for i in range(64) if got.get(i) != want[i]]
                return f"peer {p}: {len(wrong)} fingers wrong, e.g. (i, got, want) {wrong[:3]}"
        return None
    return check


def events_of(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def test_fingers_route_in_log_n_hops_on_32_hosts(hosts, peers, tmp_path):
    net = hosts(HOSTS)
    procs = {}
    for k in range(HOSTS):
        d = tmp_path / net[k].name
        d.mkdir()
        argv = [h.CDHT, *FINGER_OPTS, "--listen", net[k].hostport(PORT), "--data-dir", str(d / "data"),
                "--download-dir", str(d), "--events", str(d / "events.jsonl")]
        if k:
            argv += ["--join", net[0].hostport(PORT)]
        p = peers.run(net[k].argv(argv), exe=True, cwd=str(d))
        p.dir = d
        if k:
            p.wait_line("Join request has been accepted.", timeout=15)
        pid = peer_id(p)
        assert pid == key_of(net[k].hostport(PORT)) and pid not in procs
        procs[pid] = p
    ids = sorted(procs)
    h.eventually(neighbours_are(procs, ids), 40, "the ring of 32 hosts to settle")
    h.eventually(fingers_are(procs, ids), 40, "every peer's 64 fingers")

    # --listen's default list of 8: the next 8 peers at their hosts' addresses, everywhere; and the
    # list as --events saw it change, whole.
    addr = {p: procs[p].proc.args[procs[p].proc.args.index("--listen") + 1] for p in ids}

    def lists_of_8():
        for p in ids:
            want = "successor list (8 of 8): " + ", ".join(f"{q} {addr[q]}" for q in next_ids(ids, p, 8))
            got = list_line(status(procs[p]))
            if got != want:
                return f"{got!r}, want {want!r}"
        return None
    h.eventually(lists_of_8, 20, "every peer's list of 8")
    for p in ids:
        rows = [e for e in events_of(procs[p].dir / "events.jsonl") if e["event"] == "successor_list"]
        assert rows, p
        for e in rows:
            assert e["self"] == p and e["count"] == len(e["list"]) <= 8 and set(e["list"]) <= set(ids) | {None}, e

    # Many names from several peers; each answered by its responsible peer within log2(N) + 2.
    bound = math.log2(HOSTS) + 2
    names = [f"finger-{k}.txt" for k in range(24)]
    requesters = [ids[0], ids[9], ids[17], ids[30]]
    asked = {}
    for r in requesters:
        peer = procs[r]
        m = peer.out.mark()
        mine = [nm for nm in names if responsible_key(ids, key_of(nm)) != r]
        for nm in mine:  # all at once: up to 32 may be in flight
            peer.type(f"request {nm}")
        for nm in mine:
            owner = responsible_key(ids, key_of(nm))
            peer.wait_line(f"Received a response message from peer {owner}, which has the file {nm}.", 20, m)
        asked[r] = mine
    for r in requesters:
        rows = {e["file"]: e for e in events_of(procs[r].dir / "events.jsonl") if e["event"] == "response_received"}
        assert sorted(rows) == sorted(asked[r]), r
        for nm, e in rows.items():
            assert e["peer"] == responsible_key(ids, key_of(nm)), e
            assert 1 <= e["hops"] <= bound, e
        # status: the mean of those hops
        hops = [e["hops"] for e in rows.values()]
        mean = f"{sum(hops) / len(hops) + 1e-9:.2f}"
        want = f"requests answered: {len(hops)}, mean hops {mean}; finger refreshes: "
        line = next(l for l in status(procs[r]).splitlines() if l.startswith("requests answered:"))
        assert line.startswith(want) and int(line[len(want):]) > 0, (line, want)
    # Hops skipped ahead through fingers and said so, naming live peers, at the requesters and at
    # peers on the way; the JSON agrees line for line (read through pipes: a line may lag).
    fingered = [e for p in ids for e in events_of(procs[p].dir / "events.jsonl")
                if e["event"] in ("request_forwarded", "request_sent") and e["finger"]]
    assert {e["peer"] for e in fingered} <= set(ids)

    def said():
        sent = [l for p in ids for l in procs[p].out.since()
                if re.fullmatch(r"File request message for finger-\d+\.txt has been sent to peer \d+\.", l)]
        passed = [l for p in ids for l in procs[p].out.since()
                  if re.fullmatch(r"File request message has been forwarded to peer \d+\.", l)]
        named = {int(re.search(r"to peer (\d+)\.$", l).group(1)) for l in sent + passed}
        if not sent or not passed or len(sent) + len(passed) != len(fingered) or not named <= set(ids):
            return f"{len(sent)} sent and {len(passed)} forwarded to a finger, {len(fingered)} in the events"
        return None
    h.eventually(said, 10, "the finger lines")


# ---- bad values ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--successors", "1", "1", "3", "4"], "--successors: expected an integer 2..32, got '1'"),
    (["1", "3", "4", "--successors", "33"], "--successors: expected an integer 2..32, got '33'"),
    (["--successors", "x", "--listen", "127.0.0.1:4000"], "--successors: expected an integer 2..32, got 'x'"),
    (["--listen", "127.0.0.1:4000", "--fix-fingers-interval", "0"],
     "--fix-fingers-interval: expected seconds between 0.001 and 3600 (e.g. 0.5), got '0'"),
    (["--fingers", "--fix-fingers-interval", "garbage", "1", "3", "4"],
     "--fix-fingers-interval: expected seconds between 0.001 and 3600 (e.g. 0.5), got 'garbage'"),
    (["--fix-fingers-interval", "1", "1", "3", "4"],
     "--fix-fingers-interval applies only with fingers (on with --listen, or --fingers)"),
    (["--fingers=no", "1", "3", "4"], "option --fingers takes no value"),
])
def test_bad_routing_options_are_usage_errors(peers, args, message):
    p = peers.run([h.CDHT, *args], exe=True)
    assert p.wait_exit() == 2
    assert p.out.since() == []
    err = p.err.since()
    assert err[0] == f"cdht: {message}", err
    assert "usage: cdht [OPTIONS] ID S1 S2" in err

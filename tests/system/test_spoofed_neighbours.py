"""An outsider on a host of its own claims a ring peer's id at its own address (docs/protocol.md
§7: a TCP message's sender must be its connection's host — the host of the peer it names, not of
whatever record it carries).  A ring of two `--listen` peers on hosts 0 and 1; host 2 is the
outsider."""
import os
import sys

import cdht_harness as h
from test_hosts import PORT, peer_id, ring_is, start_peer
from test_hostile import status

ATTACKER = os.path.join(os.path.dirname(__file__), "spoof_attacker.py")


def test_a_depart_in_a_neighbours_name_from_another_host_changes_nothing(hosts, peers, tmp_path):
    net = hosts(3)
    a = start_peer(peers, net[0], tmp_path, v6_first=False)
    b = start_peer(peers, net[1], tmp_path, v6_first=False, join=net[0].hostport(PORT))
    b.wait_line("Join request has been accepted.", timeout=15)
    ida, idb = peer_id(a), peer_id(b)
    def settled():
        for me, other, p in ((ida, idb, a), (idb, ida, b)):
            first = status(p).splitlines()[0]
            if f"predecessors {other} " not in first or not first.endswith(f"successors {other} {me}"):
                return first
        return None
    h.eventually(settled, 20, "the ring of two hosts to settle")
    # Host 2 sends a's DEPART in b's name, from its own address, and echoes the token if it gets it.
    r = net[2].run([sys.executable, ATTACKER, "depart", net[0].addr(4), str(PORT), str(idb), net[2].addr(4)],
                   timeout=20, env={**os.environ, "PYTHONPATH": os.path.dirname(__file__)})
    h.time.sleep(0.5)
    report = status(a)
    first = report.splitlines()[0]
    assert first.endswith(f"successors {idb} {ida}"), report
    assert not any("will depart" in l for l in a.out.since()), a.out.since()
    assert r.stdout.strip() == "no token", r.stdout + r.stderr


def list_line(report):
    return next(l for l in report.splitlines() if l.startswith("successor list ("))


def test_a_refused_answer_to_a_list_entrys_id_at_another_address_forgets_nothing(hosts, peers, tmp_path):
    """An outsider names, as the origin of requests flagged final, a list entry's id at an address
    of its own where nothing listens.  The victim's answers are refused: that says nothing of the
    peer at its own address, so its list keeps every entry (docs/protocol.md §11)."""
    net = hosts(5)
    procs = {}
    first = start_peer(peers, net[0], tmp_path, v6_first=False)
    procs[peer_id(first)] = first
    for k in range(1, 4):
        p = start_peer(peers, net[k], tmp_path, v6_first=False, join=net[0].hostport(PORT))
        p.wait_line("Join request has been accepted.", timeout=15)
        procs[peer_id(p)] = p
    h.eventually(ring_is(procs), 30, "the ring of 4 hosts to settle")
    h.eventually(lambda: None if list_line(status(first)).startswith("successor list (3 of 8)")
                 else list_line(status(first)), 20, "host 0's list of the 3 others")
    full = list_line(status(first))
    third = int(full.split(":", 1)[1].split(",")[2].split()[0])
    r = net[4].run([sys.executable, ATTACKER, "refuse", net[0].addr(4), str(PORT), str(third), net[4].addr(4), "3"],
                   timeout=30, env={**os.environ, "PYTHONPATH": os.path.dirname(__file__)})
    assert int(r.stdout.strip() or 0) > 10, r.stdout + r.stderr
    assert list_line(status(first)) == full

"""An outsider on a host of its own claims a ring peer's id at its own address (docs/protocol.md
§7: a TCP message's sender must be its connection's host — the host of the peer it names, not of
whatever record it carries).  A ring of two `--listen` peers on hosts 0 and 1; host 2 is the
outsider."""
import os
import sys

import cdht_harness as h
from test_hosts import PORT, peer_id, start_peer
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

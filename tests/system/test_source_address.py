"""A peer that listens on an address its host does not use by default as a source (a secondary
address; on IPv6 also any address while a temporary one is preferred) still speaks from its own
address: its TCP messages are checked against its record's host (docs/protocol.md §2), so they
must leave from the address it listens on, not from whatever source the kernel would pick."""
import cdht_harness as h
from test_hosts import PORT, start_peer

SECONDARY = "198.18.0.201"


def test_a_peer_on_a_secondary_address_joins_and_is_heard(hosts, peers, tmp_path):
    net = hosts(2)
    net[1].run(["ip", "addr", "add", f"{SECONDARY}/24", "dev", "eth0"])
    a = start_peer(peers, net[0], tmp_path, v6_first=False)
    d = tmp_path / "secondary"
    d.mkdir()
    b = peers.run(net[1].argv([h.CDHT, *h.FAST, "--listen", f"{SECONDARY}:{PORT}", "--data-dir", str(d / "data"),
                               "--download-dir", str(d), "--join", net[0].hostport(PORT)]), exe=True, cwd=str(d))
    b.wait_line("Join request has been accepted.", timeout=10)

"""A killed peer restarted with its old successors (`cdht 1 2 3`) is taken back (issue 9)."""

import time

import cdht_harness as h

# Stabilization a whole multiple of the ping interval: the question and a ping leave together.
OPTS = h.FAST + ["--stabilize-interval", "0.6"]
# From the restart, the ring has it back within detection (4 x 0.2 + 0.2 = 1.0 s) + 3 intervals
# (a verdict's witness, and the interval after a verdict in which a peer heard of it is not
# taken back on hearsay) + 3 stabilizations = 1.0 + 0.6 + 1.8 = 3.4 s (docs/protocol.md §8);
# a second more for starting a process on a loaded machine.
BACK_S = 4.4


def predecessors_line(peer):
    m = peer.err.mark()
    peer.type("status")
    i = peer.err.wait_for(lambda l: l.startswith(f"peer {peer.id}: predecessors "), 5, m, "a status report")
    return peer.err.since(i)[0]


def test_killed_peer_restarted_with_its_old_successors_is_taken_back_at_every_phase(peers):
    ring = peers.ring([1, 2, 3, 4, 5], options=OPTS)
    h.wait_pinging(ring)
    # Four restarts, each a quarter of a ping interval later against 5's ping (and so its
    # stabilization question, which leaves with a ping): the phase that used to lose is in.
    for phase in (0.0, 0.05, 0.1, 0.15):
        m5, m4 = ring[5].out.mark(), ring[4].out.mark()
        ring[1].kill()
        ring[1].wait_exit()
        ring[5].wait_events(["Peer 1 is no longer alive.", "My first successor is now peer 2.",
                             "My second successor is now peer 3."], start=m5)
        ring[4].wait_line("My second successor is now peer 2.", start=m4)  # its verdict, or 5's word
        m5, m4, m2 = ring[5].out.mark(), ring[4].out.mark(), ring[2].out.mark()
        ring[2].wait_line("A ping request message was received from Peer 5.", start=m2)
        time.sleep(phase)  # not a wait for anything: it picks the restart's phase against 5's pings
        ring[1] = peers.start(1, 2, 3, options=OPTS)
        ring[5].wait_events(["My first successor is now peer 1.", "My second successor is now peer 2."],
                            timeout=BACK_S, start=m5)
        ring[4].wait_events(["My first successor is now peer 5.", "My second successor is now peer 1."],
                            timeout=BACK_S, start=m4)
        ring[1].wait_line("A ping request message was received from Peer 5.", timeout=BACK_S)
        h.eventually(lambda: None if predecessors_line(ring[2]).startswith("peer 2: predecessors 1 5,")
                     else predecessors_line(ring[2]), BACK_S, "2 to show predecessors 1 and 5")
        assert ring[1].events() == [], ring[1].events()  # it never had to repair anything

"""Rings of 1, 2, 3 and 4 peers: pings, requests, quit and kill."""

import signal

import cdht_harness as h


def test_four_peer_ring_requests_reach_every_owner(peers):
    ring = peers.ring([1, 2, 3, 4])
    h.wait_pinging(ring)
    # key -> owner on ring 1 2 3 4: 0 and 5..255 wrap to 1.
    cases = [("0001", 1), ("0002", 2), ("0003", 3), ("0004", 4), ("0256", 1), ("0005", 1), ("2012", 1)]
    for name, owner in cases:
        requester = 3 if owner != 3 else 1
        marks = {p: peer.out.mark() for p, peer in ring.items()}
        ring[requester].type(f"request {name}")
        if owner == requester:
            ring[requester].wait_events([f"File {name} is here."], start=marks[requester])
            continue
        ring[requester].wait_events([f"File request message for {name} has been sent to my successor.",
                                     f"Received a response message from peer {owner}, which has the file {name}."],
                                    start=marks[requester])
        ring[owner].expect_events([f"File {name} is here.",
                                                    f"A response message, destined for peer {requester}, has been sent."], start=marks[owner])


def test_four_peer_ring_quit_then_kill(peers):
    ring = peers.ring([1, 2, 3, 4])
    h.wait_pinging(ring)
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[3].type("quit")
    ring[2].wait_events(["Peer 3 will depart from the network.", "My first successor is now peer 4.",
                         "My second successor is now peer 1."], start=marks[2])
    ring[1].wait_events(["Peer 3 will depart from the network.", "My first successor is now peer 2.",
                         "My second successor is now peer 4."], start=marks[1])
    assert ring[3].wait_exit() == 0
    # Now a three-peer ring 1 2 4: kill 4.
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[4].kill()
    ring[2].wait_events(["Peer 4 is no longer alive.", "My first successor is now peer 1.",
                         "My second successor is now peer 2."], start=marks[2])
    ring[1].wait_events(["Peer 4 is no longer alive.", "My first successor is now peer 2.",
                         "My second successor is now peer 1."], start=marks[1])
    # The two survivors still answer requests: key 4 now belongs to peer 1.
    m = ring[2].out.mark()
    ring[2].type("request 0004")
    ring[2].wait_events(["File request message for 0004 has been sent to my successor.",
                         "Received a response message from peer 1, which has the file 0004."], start=m)


def test_three_peer_ring_quit_leaves_a_two_peer_ring(peers):
    ring = peers.ring([10, 20, 30])
    h.wait_pinging(ring)
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[30].type("quit")
    ring[20].wait_events(["Peer 30 will depart from the network.", "My first successor is now peer 10.",
                          "My second successor is now peer 20."], start=marks[20])
    # 10 follows 30 too: it hears of the departure first, then takes 30's keys (§6).
    ring[10].wait_events(["Peer 30 will depart from the network.", "My first successor is now peer 20.",
                          "My second successor is now peer 10.", "0 files received from peer 30."],
                         start=marks[10])
    assert ring[30].wait_exit() == 0
    # Two peers: quit one, the other is alone.
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[20].type("quit")
    ring[10].wait_events(["Peer 20 will depart from the network.", "My first successor is now peer 10.",
                          "My second successor is now peer 10."], start=marks[10])
    assert ring[20].wait_exit() == 0
    m = ring[10].out.mark()
    ring[10].type("request 0025")
    ring[10].wait_events(["File 0025 is here."], start=m)


def test_two_peer_ring_pings_requests_and_kill(peers):
    a = peers.start(1, 2, 1)
    b = peers.start(2, 1, 2)
    a.wait_line("A ping request message was received from Peer 2.")
    a.wait_line("A ping response message was received from Peer 2.")
    b.wait_line("A ping request message was received from Peer 1.")
    m = a.out.mark()
    a.type("request 0002")
    a.wait_events(["File request message for 0002 has been sent to my successor.",
                   "Received a response message from peer 2, which has the file 0002."], start=m)
    m = a.out.mark()
    b.kill(signal.SIGINT)  # Ctrl-C: abrupt, like a kill
    assert b.wait_exit() == -signal.SIGINT
    a.wait_events(["Peer 2 is no longer alive.", "My first successor is now peer 1.",
                   "My second successor is now peer 1."], start=m)


def test_ring_of_one_answers_locally(peers):
    p = peers.start(7, 7, 7)
    p.type("request 0007")
    p.type("request 9999")
    p.wait_events(["File 0007 is here.", "File 9999 is here."])
    p.type("quit")
    assert p.wait_exit() == 0
    assert not any(l.startswith("A ping") for l in p.out.since())

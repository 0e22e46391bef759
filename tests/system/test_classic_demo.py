"""The canonical demo on ring 1 3 4 5 8 10 12 15, line by line, with real processes."""

import signal

import cdht_harness as h


def test_classic_demo(peers):
    ring = peers.ring(h.CLASSIC_RING)
    h.wait_pinging(ring)
    # Peer 10 hears from its predecessors 8 and 5 and from its successors 12 and 15.
    for q in (5, 8):
        ring[10].wait_line(f"A ping request message was received from Peer {q}.")
    for q in (12, 15):
        ring[10].wait_line(f"A ping response message was received from Peer {q}.")

    # Step 2: request 2012 at peer 8 (key 220, held by peer 1), via 10, 12 and 15.
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[8].type("request 2012")
    ring[8].wait_events(["File request message for 2012 has been sent to my successor.",
                         "Received a response message from peer 1, which has the file 2012."],
                        start=marks[8])
    for p in (10, 12, 15):
        ring[p].expect_events(["File 2012 is not stored here.",
                                            "File request message has been forwarded to my successor."], start=marks[p])
    ring[1].expect_events(["File 2012 is here.",
                                        "A response message, destined for peer 8, has been sent."], start=marks[1])
    for p in (3, 4, 5):  # the request never passed them, and no one else sees the answer
        assert ring[p].events(marks[p]) == []

    # Step 3: quit at peer 10.
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[10].type("quit")
    ring[8].wait_events(["Peer 10 will depart from the network.",
                         "My first successor is now peer 12.",
                         "My second successor is now peer 15."], start=marks[8])
    ring[5].wait_events(["Peer 10 will depart from the network.",
                         "My first successor is now peer 8.",
                         "My second successor is now peer 12."], start=marks[5])
    assert ring[10].wait_exit() == 0
    # Peer 12 now hears pings from 8 and 5; peer 5 hears answers from 8 and 12.
    ring[12].wait_line("A ping request message was received from Peer 5.", start=marks[12])
    ring[12].wait_line("A ping request message was received from Peer 8.", start=marks[12])
    ring[5].wait_line("A ping response message was received from Peer 12.", start=marks[5])
    departed = ring.pop(10)

    # Step 4: request 0010 at peer 4: peer 10 is gone, so peer 12 holds it (via 5 and 8).
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[4].type("request 0010")
    ring[4].wait_events(["File request message for 0010 has been sent to my successor.",
                         "Received a response message from peer 12, which has the file 0010."],
                        start=marks[4])
    for p in (5, 8):
        ring[p].expect_events(["File 0010 is not stored here.",
                                            "File request message has been forwarded to my successor."], start=marks[p])
    ring[12].expect_events(["File 0010 is here.",
                                          "A response message, destined for peer 4, has been sent."], start=marks[12])
    for p in (1, 3, 15):
        assert ring[p].events(marks[p]) == []

    # Step 5: kill peer 5; its predecessors 4 and 3 repair around it.
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    ring[5].kill(signal.SIGKILL)
    ring[4].wait_events(["Peer 5 is no longer alive.",
                         "My first successor is now peer 8.",
                         "My second successor is now peer 12."], start=marks[4])
    ring[3].wait_events(["Peer 5 is no longer alive.",
                         "My first successor is now peer 4.",
                         "My second successor is now peer 8."], start=marks[3])
    # The new successors are pinged: 8 hears from 4 and 3, 12 from 8 and 4.
    for p, q in ((8, 4), (8, 3), (12, 4)):
        ring[p].wait_line(f"A ping request message was received from Peer {q}.", start=marks[p])
    for p in (1, 8, 12, 15):
        assert ring[p].events(marks[p]) == []
    for p, peer in ring.items():
        if p != 5:
            assert peer.alive(), f"peer {p} died"
    # The whole demo, per peer, is exactly what the simulator replays (test_sim.py).
    ring[10] = departed
    for p, peer in ring.items():
        assert peer.events() == h.CLASSIC_EXPECTED[p], f"peer {p}"

"""Join through any peer, stabilization, and a killed peer taken back into the ring."""

import signal

import cdht_harness as h

OPTS = h.FAST + ["--stabilize-interval", "0.5"]
RING = [1, 3, 4, 5, 8, 10, 12, 15]


def test_join_through_any_peer_prints_the_join_lines(peers):
    ring = peers.ring(RING, options=OPTS)
    h.wait_pinging(ring)
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    j = peers.start(None, None, None, options=OPTS, args=["6", "--join", "1"])
    j.expect_events(["Join request has been accepted.", "My first successor is now peer 8.",
                     "My second successor is now peer 10."])
    for p in (1, 3, 4):
        ring[p].wait_line("Peer 6 Join request forwarded to my successor.", start=marks[p])
    ring[5].expect_events(["Peer 6 Join request received.", "My first successor is now peer 6.",
                           "My second successor is now peer 8."], start=marks[5])
    ring[4].wait_events(["Peer 6 Join request forwarded to my successor.", "Successor Change request received.",
                         "My first successor is now peer 5.", "My second successor is now peer 6."], start=marks[4])
    for p in (8, 10, 12, 15):
        assert ring[p].events(marks[p]) == []
    # 6 is a full member: pinged by 5 and 4, pinging 8 and 10, and holding key 6.
    j.wait_line("A ping request message was received from Peer 5.")
    j.wait_line("A ping request message was received from Peer 4.")
    ring[8].wait_line("A ping request message was received from Peer 6.", start=marks[8])
    m = ring[12].out.mark()
    ring[12].type("request 0006")
    ring[12].wait_line("Received a response message from peer 6, which has the file 0006.", start=m)
    j.type("quit")
    assert j.wait_exit() == 0


def test_join_with_an_id_in_use_fails_and_leaves_the_ring_alone(peers):
    slow = ["--ping-interval", "1", "--stabilize-interval", "0.5"]  # detection takes ~4.5 s
    ring = peers.ring([1, 2, 3, 4], options=slow)
    h.wait_pinging(ring)
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    # A second copy of a running peer cannot even bind its port.
    dup = peers.run(["3", "--join", "1"])
    assert dup.wait_exit() == 1
    assert any("address already in use (is peer 3 already running?)" in l for l in dup.err.since())
    # Through a peer that does not answer.
    bad = peers.run(["7", "--join", "9"])
    assert bad.wait_exit() == 1
    assert any("join failed: peer 9 does not answer" in l for l in bad.err.since())
    # A peer killed a moment ago is still in the ring's successor lists: its id is taken until
    # the ring notices, and the protocol itself refuses the join.
    ring[3].kill()
    ring[3].wait_exit()
    again = peers.run(["3", "--join", "1"])
    assert again.wait_exit() == 1
    assert any("join failed: a peer with this id is already in the ring" in l for l in again.err.since())
    for p in (1, 2, 4):
        assert [e for e in ring[p].events(marks[p]) if "Join" in e or "Successor" in e] == []


def test_killed_peer_rejoins_with_join(peers):
    ring = peers.ring(RING, options=OPTS)
    h.wait_pinging(ring)
    m4, m3 = ring[4].out.mark(), ring[3].out.mark()
    ring[5].kill()
    ring[5].wait_exit()
    ring[4].wait_events(["Peer 5 is no longer alive.", "My first successor is now peer 8.",
                         "My second successor is now peer 10."], start=m4)
    ring[3].wait_events(["Peer 5 is no longer alive.", "My first successor is now peer 4.",
                         "My second successor is now peer 8."], start=m3)
    m4, m3 = ring[4].out.mark(), ring[3].out.mark()
    back = peers.start(None, None, None, options=OPTS, args=["5", "--join", "12"])
    back.expect_events(["Join request has been accepted.", "My first successor is now peer 8.",
                        "My second successor is now peer 10."])
    ring[4].wait_events(["Peer 5 Join request received.", "My first successor is now peer 5.",
                         "My second successor is now peer 8."], start=m4)
    # The request went 12 -> 15 -> 1 -> 3 -> 4.
    ring[3].expect_events(["Peer 5 Join request forwarded to my successor.", "Successor Change request received.",
                           "My first successor is now peer 4.", "My second successor is now peer 5."], start=m3)


def test_killed_peer_restarted_with_its_old_successors_is_taken_back_by_stabilization(peers):
    ring = peers.ring(RING, options=OPTS)
    h.wait_pinging(ring)
    m4, m3 = ring[4].out.mark(), ring[3].out.mark()
    ring[5].kill()
    ring[5].wait_exit()
    ring[4].wait_line("My second successor is now peer 10.", start=m4)
    ring[3].wait_line("My second successor is now peer 8.", start=m3)
    m4, m3 = ring[4].out.mark(), ring[3].out.mark()
    peers.start(5, 8, 10, options=OPTS)
    ring[4].wait_events(["My first successor is now peer 5.", "My second successor is now peer 8."], start=m4)
    ring[3].wait_events(["My first successor is now peer 4.", "My second successor is now peer 5."], start=m3)
    m = ring[1].out.mark()
    ring[1].type("request 0005")
    ring[1].wait_line("Received a response message from peer 5, which has the file 0005.", start=m)


def test_joins_into_the_classic_ring_including_a_new_smallest_id(peers):
    ring = peers.ring([1, 3, 4, 5, 8, 10, 12], options=OPTS)
    h.wait_pinging(ring)
    fwd = lambda j: f"Peer {j} Join request forwarded to my successor."
    succ = lambda a, b: [f"My first successor is now peer {a}.", f"My second successor is now peer {b}."]
    # Peer 15 through peer 4: 4, 5, 8, 10 pass it on; 12 takes it; 10 changes its successors.
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    j15 = peers.start(None, None, None, options=OPTS, args=["15", "--join", "4"])
    j15.expect_events(["Join request has been accepted."] + succ(1, 3))
    ring[12].expect_events(["Peer 15 Join request received."] + succ(15, 1), start=marks[12])
    ring[10].expect_events([fwd(15), "Successor Change request received."] + succ(12, 15), start=marks[10])
    for p in (4, 5, 8):
        ring[p].expect_events([fwd(15)], start=marks[p])
    for p in (1, 3):
        assert ring[p].events(marks[p]) == []
    ring[15] = j15
    j15.wait_line("A ping request message was received from Peer 12.")  # 15 knows its predecessor
    # Peer 0 through peer 12: it becomes the smallest id, between 15 and 1.
    marks = {p: peer.out.mark() for p, peer in ring.items()}
    j0 = peers.start(None, None, None, options=OPTS, args=["0", "--join", "12"])
    j0.expect_events(["Join request has been accepted."] + succ(1, 3))
    ring[15].expect_events(["Peer 0 Join request received."] + succ(0, 1), start=marks[15])
    ring[12].expect_events([fwd(0), "Successor Change request received."] + succ(15, 0), start=marks[12])
    ring[0] = j0
    # The ring is whole: key 0 (file 0256) is 0's, key 14 (file 0014) is 15's.
    for name, owner in (("0256", 0), ("0014", 15)):
        m = ring[5].out.mark()
        ring[5].type(f"request {name}")
        ring[5].wait_line(f"Received a response message from peer {owner}, which has the file {name}.", start=m)

"""Signals, end of input, and requests that meet a dead peer."""

import signal
import socket
import subprocess

import cdht_harness as h


def test_sigterm_is_a_graceful_quit(peers):
    ring = peers.ring([1, 2, 3])
    h.wait_pinging(ring)
    m = ring[2].out.mark()
    ring[3].kill(signal.SIGTERM)
    assert ring[3].wait_exit() == 0
    ring[2].wait_events(["Peer 3 will depart from the network.", "My first successor is now peer 1.",
                         "My second successor is now peer 2."], start=m)


def test_quit_without_a_confirming_predecessor_exits_0_with_a_warning(peers):
    ring = peers.ring([1, 2, 3], options=h.FAST + ["--leave-timeout", "0.5"])
    h.wait_pinging(ring)
    ring[1].kill(signal.SIGSTOP)  # 3's second predecessor: alive but silent
    try:
        ring[3].type("quit")
        assert ring[3].wait_exit() == 0
        ring[3].wait_err("peer 1 did not confirm the departure")
    finally:
        ring[1].kill(signal.SIGCONT)


def test_end_of_input_does_not_stop_the_peer(peers):
    a = peers.start(1, 2, 1, stdin=subprocess.DEVNULL)
    b = peers.start(2, 1, 2)
    b.close_stdin()
    m = a.out.mark()
    a.wait_line("A ping response message was received from Peer 2.", start=m)
    a.wait_line("A ping request message was received from Peer 2.", start=a.out.mark())
    assert a.alive() and b.alive()


def test_request_in_flight_to_a_dead_peer_is_retried_after_repair(peers):
    opts = h.FAST + ["--request-timeout", "6"]
    ring = peers.ring([1, 2, 3, 4], options=opts)
    h.wait_pinging(ring)
    ring[2].kill(signal.SIGKILL)
    m = ring[1].out.mark()
    ring[1].type("request 0004")  # goes to 2, which is dead but not yet detected
    ring[1].wait_line("Received a response message from peer 4, which has the file 0004.", timeout=10, start=m)
    got = ring[1].events(m)
    # Sent into the dead peer, answered only after the repair: the retry carried it.
    assert got.index("File request message for 0004 has been sent to my successor.") < \
        got.index("Peer 2 is no longer alive.") < \
        got.index("Received a response message from peer 4, which has the file 0004."), got


def test_request_with_no_ring_left_fails_with_a_message(peers):
    opts = h.FAST + ["--request-timeout", "0.5", "--misses", "50"]
    a = peers.start(1, 2, 1, options=opts)
    b = peers.start(2, 1, 2, options=opts)
    a.wait_line("A ping response message was received from Peer 2.")
    b.kill(signal.SIGKILL)
    b.wait_exit()
    a.type("request 0002")
    a.wait_err("request 0002 failed: no answer from the ring within 0.5 s")
    assert a.alive()


def test_garbage_datagrams_and_frames_are_dropped_and_counted(peers):
    ring = peers.ring([1, 2, 3])
    h.wait_pinging(ring)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for payload in (b"", b"\x00", b"\x01\x01\x00\x0d" + b"\xff" * 13, b"\x02" * 40, bytes(range(256)) * 4):
            s.sendto(payload, ("127.0.0.1", 50002))
    for payload in (b"\x01\x03\xff\xff", b"\x09junk", b"\x01\x03\x00\x19" + b"\x00" * 10):
        with socket.create_connection(("127.0.0.1", 50002)) as c:
            c.sendall(payload)
    m = ring[1].out.mark()
    ring[1].type("request 0002")
    ring[1].wait_line("Received a response message from peer 2, which has the file 0002.", start=m)
    e = ring[2].err.mark()
    ring[2].type("status")
    line = ring[2].err.since(ring[2].err.wait_for(lambda l: l.startswith("dropped:"), 5, e))[0]
    counts = dict(part.strip().rsplit(" ", 1) for part in line[len("dropped:"):].split(","))
    assert int(counts["malformed"]) + int(counts["bad version"]) + int(counts["spoofed sender"]) >= 4
    assert all(peer.alive() for peer in ring.values())

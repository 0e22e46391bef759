"""Every bad input gets a clear error; the exit statuses are the documented ones."""

import socket

import pytest

import cdht_harness as h


def run(peers, args):
    p = peers.run(args)
    code = p.wait_exit()
    return code, p.out.since(), "\n".join(p.err.since())


@pytest.mark.parametrize("args, fragment", [
    ([], "expected 3 arguments"),
    (["1", "3"], "expected 3 arguments"),
    (["1", "3", "4", "5"], "expected 3 arguments"),
    (["1", "3", "4", "0", "0.1"], "MSS '0': expected the bytes of data per segment, an integer 1..65479"),
    (["1", "3", "4", "300", "1.5"], "DROP '1.5': expected a probability between 0 and 1"),
    (["1", "3", "4", "300", "-0.1"], "DROP '-0.1'"),
    (["init", "2", "4", "5"], "expected 'init ID S1 S2 PING_INTERVAL'"),
    (["join", "15", "4"], "expected 'join ID KNOWN PING_INTERVAL'"),
    (["256", "3", "4"], "peer id '256' is not an integer 0..255"),
    (["-1", "3", "4"], "peer id '-1'"),
    (["1", "x", "4"], "first successor 'x'"),
    (["1", "3", "4.5"], "second successor '4.5'"),
    (["1", "3", "3"], "must differ"),
    (["1", "1", "3"], "ring of one"),
    (["--ping-interval", "0", "1", "3", "4"], "--ping-interval"),
    (["--ping-interval", "abc", "1", "3", "4"], "--ping-interval"),
    (["--ping-timeout", "-1", "1", "3", "4"], "--ping-timeout"),
    (["--misses", "0", "1", "3", "4"], "--misses"),
    (["--misses"], "needs a value"),
    (["--frobnicate", "1", "3", "4"], "unknown option '--frobnicate'"),
])
def test_usage_errors_exit_2_with_message_and_usage(peers, args, fragment):
    code, out, err = run(peers, args)
    assert code == 2
    assert out == []
    assert fragment in err
    assert "usage: cdht [OPTIONS] ID S1 S2" in err


def test_help_and_version(peers):
    code, out, err = run(peers, ["--help"])
    assert code == 0 and err == ""
    text = "\n".join(out)
    for option in ("--ping-interval SECONDS", "--ping-timeout SECONDS", "--misses N", "--version", "--help"):
        assert option in text
    code, out, err = run(peers, ["--version"])
    assert code == 0 and len(out) == 1 and out[0].startswith("cdht ")


def test_port_in_use_is_a_runtime_error(peers):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 50003))
        code, out, err = run(peers, ["3", "4", "5"])
    assert code == 1
    assert out == []
    assert "bind 127.0.0.1:50003: address already in use (is peer 3 already running?)" in err


def test_second_copy_of_a_peer_is_refused(peers):
    first = peers.start(3, 4, 5)
    first.type("status")  # answered only once its sockets are bound
    first.wait_err("peer 3: predecessors")
    code, out, err = run(peers, ["3", "4", "5"])
    assert code == 1
    assert "address already in use (is peer 3 already running?)" in err
    assert first.alive()


def test_bad_console_lines_get_one_error_each_and_the_peer_keeps_running(peers):
    p = peers.start(9, 9, 9)
    bad = {
        "request 12a": "four digits",
        "request 12345": "four digits",
        "reqest 2012": "unknown command 'reqest'",
        "request": "expected 1 argument",
        "quit now": "expected 0 arguments",
        "pings sideways": "expected 'on' or 'off'",
        "x" * 300: "longer than",
    }
    for line, fragment in bad.items():
        m = p.err.mark()
        p.type(line)
        p.wait_err(fragment, start=m)
        assert len([l for l in p.err.since(m) if l]) == 1, p.err.since(m)
    p.type("")
    p.type("   ")
    p.type("request 0009")
    p.wait_line("File 0009 is here.")
    assert p.events() == ["File 0009 is here."]  # nothing on stdout but canonical lines
    assert p.alive()


def test_help_status_and_pings_off_go_to_stderr(peers):
    a = peers.start(1, 2, 1)
    b = peers.start(2, 1, 2)
    a.wait_line("A ping response message was received from Peer 2.")
    a.wait_line("A ping request message was received from Peer 2.")
    m = a.err.mark()
    a.type("help")
    a.wait_err("request NNNN", start=m)
    a.type("status")
    a.wait_err("peer 1: predecessors 2 ?, successors 2 1", start=m)
    a.wait_err("dropped:", start=m)
    a.type("pings off")
    a.type("status")  # once status answers, pings off has been applied
    a.wait_err("ping lines off", start=m)
    m_out = a.out.mark()
    b_mark = b.out.mark()
    b.wait_line("A ping request message was received from Peer 1.", start=b_mark)
    b.wait_line("A ping request message was received from Peer 1.", start=b.out.mark())
    assert [l for l in a.out.since(m_out) if l.startswith("A ping")] == []
    a.type("pings on")
    a.wait_line("A ping response message was received from Peer 2.", start=a.out.mark())

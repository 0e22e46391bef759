"""Smaller things a user meets: the words on stderr, directories checked at start, the tmux demo."""

import os
import shutil
import socket
import subprocess
import tempfile

import pytest

import cdht_harness as h

SENTINEL = str(2**64 - 1)  # CDHT_ID_NONE must never be printed


def test_a_peer_started_alone_says_its_successors_never_answered(peers):
    p = peers.start(1, 3, 4)  # neither 3 nor 4 is running
    p.wait_err("warning: successors 3 and 4 never answered a ping (are they running?); this peer now stands alone",
               timeout=20)
    p.wait_events(["Peer 3 is no longer alive.", "Peer 4 is no longer alive.",
                   "My first successor is now peer 1.", "My second successor is now peer 1."], timeout=5)
    assert not any("died before the repair finished" in l for l in p.err.since())


def test_own_request_without_content_says_so(peers):
    p = peers.start(7, 7, 7)  # a ring of one holds every key, and no content yet
    e = p.err.mark()
    p.type("request 0009")
    p.wait_line("File 0009 is here.")
    p.wait_err("file 0009 is this peer's, and no content for it is held here", start=e)
    assert p.events() == ["File 0009 is here."]  # stdout: the classic line only
    # With the content held, no such note.
    src = os.path.join(h.WORKDIR, "0010")
    with open(src, "w") as f:
        f.write("ten")
    m = p.out.mark()
    p.type("store 0010")
    p.wait_line("File 0010 has been stored at peer 7.", start=m)
    m, e = p.out.mark(), p.err.mark()
    p.type("request 0010")
    p.wait_line("File 0010 is here.", start=m)
    p.type("status")  # a marker: everything the request printed comes before the status lines
    p.wait_err("peer 7: predecessors", start=e)
    assert not any("no content" in l for l in p.err.since(e))


def test_store_of_a_directory_says_it_is_one(peers, tmp_path):
    p = peers.start(7, 7, 7)
    e = p.err.mark()
    p.type(f"store 0009 {tmp_path}")
    p.wait_err(f"error: store 0009: '{tmp_path}' is a directory, not a file", start=e)
    assert p.alive()


def test_a_store_retry_says_store_and_no_sentinel_is_printed(peers, tmp_path):
    """Peer 2 accepts the connection and never answers: the store is sent again, as a store."""
    src = tmp_path / "f"
    src.write_text("x")
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    silent.bind(("127.0.0.1", 50002))
    silent.listen(16)
    try:
        p = peers.start(1, 2, 3, options=h.FAST + ["--request-timeout", "1"])
        e = p.err.mark()
        p.type(f"store 0010 {src}")
        p.wait_err("store 0010: no answer yet, sent again to peer 2", start=e)
        p.wait_err("store 0010 failed", start=e)
        assert not any(l.startswith("request 0010") for l in p.err.since(e))
        assert not any(SENTINEL in l for l in p.err.since() + p.out.since())
    finally:
        silent.close()


@pytest.mark.parametrize("flag", ["--download-dir", "--data-dir"])
def test_a_directory_that_cannot_be_used_is_refused_at_start(peers, tmp_path, flag):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    cases = [(a_file, "not a directory")]
    if flag == "--download-dir":
        cases.append((tmp_path / "missing", "No such file or directory"))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not os.access(locked, os.W_OK):
        cases.append((locked, "not writable"))
    elif not os.access("/proc/sys", os.W_OK):  # root writes anywhere, but not on a read-only mount
        cases.append(("/proc/sys", "not writable"))
    for where, why in cases:
        p = peers.start(1, 1, 1, options=[flag, str(where)])
        assert p.wait_exit() == 1, where
        p.wait_err(f"cdht: {flag} {where}: {why}", timeout=1)
        assert p.out.since() == []  # refused before it printed anything
    locked.chmod(0o700)


def test_an_explicit_data_dir_that_does_not_exist_is_created(peers, tmp_path):
    d = tmp_path / "new" / "peer-1"
    p = peers.start(1, 1, 1, options=["--data-dir", str(d)])
    h.eventually(lambda: None if d.is_dir() else "not created yet", 5, "the data directory")
    assert p.alive()


@pytest.fixture
def tmux_server(tmp_path):
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    env = dict(os.environ, TMUX_TMPDIR=str(tmp_path))  # a private tmux server, no clash with anyone's
    env.pop("TMUX", None)
    yield env
    subprocess.run(["tmux", "kill-server"], env=env, capture_output=True)

    def ports_free():  # the demo's peers end on the server's SIGHUP, a moment later
        for p in h.CLASSIC_RING:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", 50000 + p))
                except OSError:
                    return f"port {50000 + p} still taken"
        return None
    h.eventually(ports_free, 10, "the demo's peers to end")


def test_demo_ctrl_c_keeps_the_killed_peers_pane_and_lines(tmux_server, tmp_path):
    env = dict(tmux_server, CDHT_DEMO_BIN=h.CDHT, CDHT_DEMO_DIR=str(tmp_path / "demo"))
    env.pop("CI", None)
    subprocess.run([os.path.join(h.ROOT, "scripts", "demo.sh"), *h.FAST], env=env, check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=30 * h.SLOW)

    def tmux(*args):
        return subprocess.run(["tmux", *args], env=env, capture_output=True, text=True).stdout

    def panes():
        out = tmux("list-panes", "-t", "cdht:ring", "-F", "#{pane_id} #{pane_title}")
        return {title: pid for pid, title in (l.split(" ", 1) for l in out.splitlines())}

    pane = panes()["Peer 5"]
    h.eventually(lambda: None if "A ping response message was received from Peer 10." in tmux(
        "capture-pane", "-p", "-t", pane) else "no ping lines yet", 10, "peer 5 pinging")
    tmux("send-keys", "-t", pane, "C-c")
    h.eventually(lambda: None if "[peer 5 has ended" in tmux("capture-pane", "-p", "-t", pane)
                 else f"panes {sorted(panes())}", 10, "peer 5's pane to say it ended")
    assert len(panes()) == 8 and panes()["Peer 5"] == pane
    shown = tmux("capture-pane", "-p", "-t", pane)
    assert "A ping response message was received from Peer 10." in shown  # its last lines stay
    # The peers worked in the demo's own directory, not in the repository.
    assert os.path.isdir(tmp_path / "demo" / "cdht-data" / "peer-5")

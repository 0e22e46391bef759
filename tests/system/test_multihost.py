"""The separate-hosts harness (multihost.py) proven with plain sockets, before cdht --listen exists:
real UDP and TCP traffic between 8 namespaces on one port, IPv4 and IPv6, each host's addresses and
loopback its own, and nothing left behind when a test fails midway or a run is killed."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import cdht_harness as h
import multihost

PORT = 4000

# A server for one host: binds UDP and TCP on PORT at each address given, says "ready", then answers
# every datagram and every connection's first line with "<host> <udp|tcp> <local address> <what it
# got>".  The host's name comes from the command line, but the bind itself proves where it runs: an
# address that is not the namespace's own cannot be bound (EADDRNOTAVAIL).
SERVER = r"""
import selectors, socket, sys
name, port, addrs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
sel = selectors.DefaultSelector()
for a in addrs:
    fam = socket.AF_INET6 if ":" in a else socket.AF_INET
    u = socket.socket(fam, socket.SOCK_DGRAM); u.bind((a, port)); sel.register(u, selectors.EVENT_READ, "udp")
    t = socket.socket(fam, socket.SOCK_STREAM); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((a, port)); t.listen(16); sel.register(t, selectors.EVENT_READ, "tcp")
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if key.data == "udp":
            data, peer = s.recvfrom(512)
            s.sendto(f"{name} udp {s.getsockname()[0]} {data.decode()}".encode(), peer)
        else:
            c, _ = s.accept(); c.settimeout(5)
            line = c.makefile("rb").readline().decode().strip()
            c.sendall(f"{name} tcp {c.getsockname()[0]} {line}\n".encode()); c.close()
"""

# A client for one host: for each [address, port] in argv[1] (JSON) sends a datagram (again every
# 0.2 s, as any UDP client must, until the answer or the deadline) and makes a TCP connection with
# a line, and prints one JSON object: address -> {"udp": answer or error, "tcp": ...}.  A refusal
# (RST, or ICMP port unreachable on the connected UDP socket) is reported as "refused".
CLIENT = r"""
import json, socket, sys, time
targets, deadline_s, me = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
out = {}
for addr, port in targets:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    res = out[addr] = {}
    u = socket.socket(fam, socket.SOCK_DGRAM); u.connect((addr, port))
    end = time.monotonic() + deadline_s
    while "udp" not in res:
        u.send(f"ping from {me}".encode()); u.settimeout(0.2)
        try:
            res["udp"] = u.recv(512).decode()
        except ConnectionRefusedError:
            res["udp"] = "refused"
        except socket.timeout:
            if time.monotonic() > end:
                res["udp"] = "timeout"
    try:
        t = socket.create_connection((addr, port), timeout=deadline_s)
        t.sendall(f"hello from {me}\n".encode())
        res["tcp"] = t.makefile("rb").readline().decode().strip()
    except ConnectionRefusedError:
        res["tcp"] = "refused"
    except OSError as e:
        res["tcp"] = f"error {e}"
print(json.dumps(out))
"""


def start_server(host, addrs, port=PORT):
    """Starts SERVER in |host| on |addrs| and waits (with a deadline) until it has bound them."""
    p = host.popen([sys.executable, "-c", SERVER, host.name, str(port), *addrs],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    out, err = h.Stream(p.stdout), h.Stream(p.stderr)
    try:
        out.wait_for(lambda l: l == "ready", 5, what=f"{host.name}'s server to bind {addrs}")
    except AssertionError as e:
        raise AssertionError(f"{e}\nstderr: {err.since()}") from None
    return p


def ask(host, targets, timeout=5):
    """Runs CLIENT in |host| against [(address, port)]; returns its answers by address."""
    r = host.run([sys.executable, "-c", CLIENT, json.dumps(targets), str(timeout * h.SLOW), host.name],
                 timeout=timeout * (len(targets) + 2))
    return json.loads(r.stdout)


def test_every_host_answers_on_the_same_port_over_ipv4_and_ipv6(hosts):
    """Eight hosts, each with a UDP and a TCP server on port 4000: even hosts on their IPv4 address,
    odd hosts on their IPv6 address, as the cdht peers of issue 10 will be.  Host 0 reaches every
    other host by its address and gets that host's own answer; asked on the family it does not
    serve, the host refuses (its address is there, its port is not), which shows that each server
    really holds only its own host's address."""
    net = hosts(8)
    for host in net:
        start_server(host, [host.addr(4 if host.index % 2 == 0 else 6)])

    others = net.hosts[1:]
    served = [(x.addr(4 if x.index % 2 == 0 else 6), PORT) for x in others]
    unserved = [(x.addr(6 if x.index % 2 == 0 else 4), PORT) for x in others]
    got = ask(net[0], served + unserved)

    for x in others:
        a = x.addr(4 if x.index % 2 == 0 else 6)
        assert got[a] == {"udp": f"{x.name} udp {a} ping from h0", "tcp": f"{x.name} tcp {a} hello from h0"}, a
        b = x.addr(6 if x.index % 2 == 0 else 4)
        assert got[b] == {"udp": "refused", "tcp": "refused"}, b


def test_hosts_are_isolated(hosts):
    """Each host has its own loopback and its own addresses: all eight bind 127.0.0.1 and ::1 on the
    same port (in one namespace the second bind would fail), and each host's 127.0.0.1 answers with
    its own name.  A host cannot bind another host's address, nor can the test's own namespace bind
    any host's, so nothing the tests start can quietly run in the wrong place."""
    net = hosts(8)
    for host in net:
        start_server(host, ["127.0.0.1", "::1"])
    for host in (net[0], net[5]):
        got = ask(host, [["127.0.0.1", PORT], ["::1", PORT]])
        assert got["127.0.0.1"]["udp"] == f"{host.name} udp 127.0.0.1 ping from {host.name}"
        assert got["::1"]["tcp"] == f"{host.name} tcp ::1 hello from {host.name}"

    binds = r"""
import socket, sys
for a in sys.argv[1:]:
    s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((a, 0)); print(a, "ok")
    except OSError as e:
        print(a, e.strerror)
"""
    one, two = net[1], net[2]
    r = one.run([sys.executable, "-c", binds, one.ipv4, one.ipv6, two.ipv4, two.ipv6])
    assert r.stdout.splitlines() == [f"{one.ipv4} ok", f"{one.ipv6} ok",
                                     f"{two.ipv4} Cannot assign requested address",
                                     f"{two.ipv6} Cannot assign requested address"]
    r = subprocess.run([sys.executable, "-c", binds, one.ipv4, one.ipv6], capture_output=True, text=True,
                       check=True)
    assert r.stdout.splitlines() == [f"{one.ipv4} Cannot assign requested address",
                                     f"{one.ipv6} Cannot assign requested address"]


def test_a_console_peer_runs_inside_a_host(hosts, peers):
    """The pattern the cdht --listen tests will follow: a cdht_harness.Peer (typed into, lines
    awaited with deadlines) started inside a host with peers.run(host.argv(...), exe=True)."""
    net = hosts(2)
    echo = peers.run(net[1].argv(["sh", "-c", 'while read -r l; do echo "$l $(ip -br -4 addr show dev eth0)"; done']),
                     exe=True)
    echo.type("where")
    echo.out.wait_for(lambda l: l.startswith("where eth0") and l.split()[-1] == f"{net[1].ipv4}/24", 5,
                      what="the line naming host 1's address")


def _state(pid):
    """A process's state letter from /proc, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_a_failing_test_leaves_nothing_behind():
    """An exception inside the topology's `with` kills the processes started in the hosts, and the
    ones those started that nobody waits for, and removes every namespace (and so every interface
    and the bridge) while the caller's own interfaces are as they were."""
    multihost.require_hosts()
    links_before = multihost._ip(["-br", "link"]).stdout
    with pytest.raises(RuntimeError, match="midway"):
        with multihost.Topology(3) as net:
            names = [net.switch] + [x.netns for x in net]
            assert all(ns in multihost._netns_names() for ns in names)
            child = net[1].popen(["sleep", "600"])
            # A process the test did not start itself: the shell leaves it running and exits.
            orphan = int(net[2].run(["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"]).stdout)
            assert _state(orphan) not in (None, "Z")
            raise RuntimeError("the test failed midway")
    assert child.poll() is not None
    assert _state(orphan) in (None, "Z")  # killed; a zombie until its new parent reaps it
    assert not [ns for ns in multihost._netns_names() if ns in names]
    assert multihost._ip(["-br", "link"]).stdout == links_before


def test_a_killed_runs_hosts_are_swept():
    """A run killed before its cleanup leaves namespaces named after its pid; sweep (which every new
    topology runs first) removes them and kills what runs there, and never touches the namespaces
    of a run whose owner is still alive."""
    multihost.require_hosts()

    started = []  # every process this test starts, killed at the end whatever happens

    def killed_run(n):
        # The owner lives while the hosts are built (a sweep by a parallel run must leave them
        # alone), then dies without closing them, as a SIGKILLed test run would.
        owner = subprocess.Popen(["sleep", "600"])
        started.append(owner)
        net = multihost.Topology(n, owner=owner.pid)
        leftover = net[0].popen(["sleep", "600"])
        started.append(leftover)
        # Popen returns before nsenter has entered the host: a killed run's processes long have.
        h.eventually(lambda: None if leftover.pid in multihost.pids_in(net[0].netns) else "not yet", 5,
                     "the leftover process to be inside h0")
        owner.kill()
        owner.wait()
        return net, leftover

    try:
        dead, leftover = killed_run(2)
        assert [ns for ns in multihost._netns_names() if ns.startswith(dead.tag)]
        multihost.sweep()  # (a parallel run may have swept it first: either way it must be gone)
        assert not [ns for ns in multihost._netns_names() if ns.startswith(dead.tag)]
        assert leftover.wait(5 * h.SLOW) == -9
        dead.close()  # nothing left to do; must not raise

        dead, _ = killed_run(1)
        with multihost.Topology(1) as alive:  # building a topology sweeps first
            assert not [ns for ns in multihost._netns_names() if ns.startswith(dead.tag)]
            multihost.sweep()
            assert f"{alive.tag}-h0" in multihost._netns_names()
        dead.close()
    finally:
        for p in started:
            p.kill()
            p.wait()


def test_without_root_the_harness_says_why():
    """The skip path: as an unprivileged user the harness reports the reason instead of failing."""
    multihost.require_hosts()  # we need root to become someone else
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                        "import multihost; print(multihost.unavailable())"],
                       cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True, text=True,
                       check=True)
    assert r.stdout.strip() == "needs root (network namespaces, bridges and veth pairs)"


def test_hosts_script_gives_a_shell_in_each_host_and_removes_them_with_tmux(tmp_path):
    """scripts/hosts.sh N: one tmux pane per host, whose shell runs inside that host's namespace
    with the host named in its environment; ending the tmux session removes every host."""
    multihost.require_hosts()
    if not shutil.which("tmux"):
        pytest.skip("no tmux")
    sock = f"cdht-hosts-test-{os.getpid()}"
    p = subprocess.Popen([os.path.join(h.ROOT, "scripts", "hosts.sh"), "3"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, CDHT_HOSTS_TMUX=sock, CDHT_HOSTS_DIR=str(tmp_path)))
    err = h.Stream(p.stderr)
    tag = None
    try:
        err.wait_for(lambda l: l.startswith("hosts: attach with:"), 10, what="the hosts to be up")
        tag = next(ns[:-3] for ns in multihost._netns_names() if ns.startswith(f"cdht-{p.pid}-") and ns.endswith("-sw"))
        panes = subprocess.run(["tmux", "-L", sock, "list-panes", "-a", "-F", "#{pane_pid} #{pane_title}"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
        assert [t.split(" ", 1)[1] for t in panes] == [
            f"h{k} 198.18.0.{k + 1} fd00:cd47::{k + 1}" for k in range(3)]

        def shells_in_their_hosts():
            for k, pane in enumerate(panes):
                pid = pane.split()[0]
                ns = os.stat(f"/run/netns/{tag}-h{k}")
                try:
                    mine = os.stat(f"/proc/{pid}/ns/net")
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        env = f.read().split(b"\0")
                except FileNotFoundError:
                    return f"pane {k}'s process {pid} is gone"
                if (mine.st_dev, mine.st_ino) != (ns.st_dev, ns.st_ino):
                    return f"pane {k}'s process {pid} is not (yet) in {tag}-h{k}"
                if f"CDHT_HOST=h{k}".encode() not in env or f"CDHT_HOST_IPV4=198.18.0.{k + 1}".encode() not in env:
                    return f"pane {k}'s shell does not name its host: {env}"
            return None
        h.eventually(shells_in_their_hosts, 10, "each pane's shell to run in its host")

        subprocess.run(["tmux", "-L", sock, "kill-session", "-t", "hosts"], check=True)
        assert p.wait(10 * h.SLOW) == 0
        err.wait_for(lambda l: l == f"hosts: removed {tag}-*", 5, what="the removal")
        assert not [ns for ns in multihost._netns_names() if ns.startswith(tag)]
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        if p.poll() is None:
            p.kill()
            p.wait()
        multihost.sweep()  # the hosts of a script killed here (its pid is gone now)

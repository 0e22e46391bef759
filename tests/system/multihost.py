"""Separate hosts for system tests: network namespaces joined by one switch.

Peers started with `cdht --listen HOST:PORT` must be tested on hosts of their own, all on the same
port, some on IPv4 and some on IPv6 (issue 10, section 5).  On one machine a host is a network
namespace: its own interfaces, addresses, loopback, ports and routes.  This module builds

        switch namespace  <tag>-sw:  bridge br0, ports p0 .. p(N-1)   (no address: pure layer 2)
             |               |                         |
          veth pair       veth pair                 veth pair
             |               |                         |
      <tag>-h0: eth0    <tag>-h1: eth0     ...   <tag>-h(N-1): eth0
      198.18.0.1/24     198.18.0.2/24            198.18.0.N/24         (RFC 2544 benchmarking range)
      fd00:cd47::1/64   fd00:cd47::2/64          fd00:cd47::<N hex>/64 (unique local)

where <tag> is `cdht-<owner pid>-<random hex>`: names are unique per run, so parallel runs never
collide, and a run whose owner died (SIGKILL, power cut of the test) is recognised and swept by the
next one (`sweep`).  Each host has its loopback up and nothing else: no default route, so a host
reaches exactly the other hosts.

The bridge lives in a namespace of its own rather than in the caller's: the caller's network is
left exactly as it was (when run on the real host network, an aborted run leaves no bridge or veth
there), and the caller has no route into the hosts, so a test that accidentally talks from its own
namespace fails instead of passing for the wrong reason.

Namespaces are made with `ip netns add` (a name under /run/netns that a person can also use:
`ip netns exec cdht-123-ab12cd-h0 bash`) and entered with `nsenter --net=/run/netns/NAME`, which
execs the command itself, so Popen.pid is the program's pid and killing it kills the program.
This works as root both on the host network and inside the suite's `unshare -n` (scripts/netns.sh),
because a new namespace is never nested in the caller's: it only needs the caller's mount
namespace for /run/netns.

Usage in a test (the `hosts` fixture in conftest.py builds one and tears it down):

    def test_ring(hosts, peers):
        net = hosts(8)                                    # skips without root or namespaces
        a, b = net[0], net[1]
        # A cdht_harness.Peer (console, lines awaited with deadlines) running inside host a:
        pa = peers.run(a.argv([h.CDHT, "--listen", a.hostport(4000)]), exe=True)
        pb = peers.run(b.argv([h.CDHT, "--listen", b.hostport(4000, 6), "--join", a.hostport(4000)]),
                       exe=True)
        # or a bare subprocess.Popen, killed at teardown:
        srv = net[2].popen(["python3", "-m", "http.server", "--bind", net[2].ipv4, "4000"])
        print(b.run(["ip", "-br", "addr"]).stdout)        # a short command inside host b

Teardown kills every process whose network namespace is one of the hosts', however it was started
(host.popen, peers.run with host.argv, or a daemon one of them left behind).

Or, outside pytest:

    with multihost.Topology(8) as net:
        ...

Command line (used by scripts/hosts.sh, and handy by hand):

    multihost.py up N [--owner PID]   build N hosts owned by PID (default: this process, which then
                                      exits, so pass a PID that lives as long as the hosts should);
                                      prints "TAG" then one line per host: NAME NETNS IPV4 IPV6
    multihost.py down TAG             kill every process in TAG's namespaces and delete them
    multihost.py sweep                remove the namespaces of owners that no longer run
    multihost.py check                print why hosts cannot be built here, or "ok"

Deadlines stretch with CDHT_TEST_SLOW, as in cdht_harness.  The kernel here has no netem: loss
between hosts comes from cdht's own --drop.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

SLOW = float(os.environ.get("CDHT_TEST_SLOW", "1"))
NETNS_DIR = "/run/netns"
PREFIX = "cdht-"
MAX_HOSTS = 250  # 198.18.0.1 .. 198.18.0.250 in one /24, leaving .251-.254 for later uses
_TAG_RE = re.compile(r"^(cdht-(\d+)-[0-9a-f]+)-(sw|h\d+)$")


def _deadline(seconds):
    return time.monotonic() + seconds * SLOW


def _ip(args, stdin=None, check=True):
    """Runs `ip ARGS`; failures raise with ip's own message (which names the object)."""
    r = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, timeout=30 * SLOW)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip() or 'exit ' + str(r.returncode)}"
                           + (f"\n(batch was:\n{stdin})" if stdin else ""))
    return r


def _nsenter(netns):
    return ["nsenter", f"--net={os.path.join(NETNS_DIR, netns)}", "--"]


class Host:
    """One host: a network namespace with one interface, eth0, on the switch.

    index    0 .. N-1
    name     "h0", "h1", ... (what a test or a person calls it)
    netns    the namespace's name under /run/netns
    ipv4     "198.18.0.<index+1>"
    ipv6     "fd00:cd47::<index+1 in hex>"
    """

    def __init__(self, topo, index, netns):
        self._topo = topo
        self.index = index
        self.name = f"h{index}"
        self.netns = netns
        self.ipv4 = f"198.18.0.{index + 1}"
        self.ipv6 = f"fd00:cd47::{index + 1:x}"

    def __repr__(self):
        return f"<Host {self.name} {self.ipv4} {self.ipv6} ({self.netns})>"

    def addr(self, family=4):
        """This host's address of |family| (4 or 6), as a bare string for socket calls."""
        if family not in (4, 6):
            raise ValueError(f"family must be 4 or 6, not {family!r}")
        return self.ipv4 if family == 4 else self.ipv6

    def hostport(self, port, family=4):
        """"198.18.0.1:4000" or "[fd00:cd47::1]:4000": the form `cdht --listen/--join` takes."""
        return f"{self.ipv4}:{port}" if family == 4 else f"[{self.ipv6}]:{port}"

    def argv(self, cmd):
        """|cmd| (a list) prefixed so that it runs inside this host."""
        return _nsenter(self.netns) + list(cmd)

    def popen(self, cmd, **kw):
        """Starts |cmd| inside this host: subprocess.Popen(**kw).  The process is killed when the
        topology is torn down (and so is anything it started there)."""
        p = subprocess.Popen(self.argv(cmd), **kw)
        self._topo._procs.append(p)
        return p

    def run(self, cmd, timeout=10, check=True, **kw):
        """Runs a short |cmd| inside this host and waits for it (|timeout| seconds, stretched by
        CDHT_TEST_SLOW).  Output is captured as text unless told otherwise.  Returns the
        CompletedProcess; raises CalledProcessError on a non-zero exit when |check|."""
        kw.setdefault("capture_output", "stdout" not in kw and "stderr" not in kw)
        kw.setdefault("text", True)
        r = subprocess.run(self.argv(cmd), timeout=timeout * SLOW, **kw)
        if check and r.returncode != 0:
            raise subprocess.CalledProcessError(r.returncode, r.args, r.stdout, r.stderr)
        return r


class Topology:
    """N hosts on one switch (see the module's docstring).  Built by the constructor, torn down by
    close() or on leaving a `with` block, whatever raised in it.  If building fails halfway, what
    was made is removed before the error is raised.

    hosts    list of Host; net[k] and iteration give the same
    tag      "cdht-<owner>-<hex>", the prefix of every namespace name
    switch   the switch namespace's name
    """

    def __init__(self, n=8, owner=None):
        if not 1 <= n <= MAX_HOSTS:
            raise ValueError(f"1..{MAX_HOSTS} hosts, not {n}")
        reason = unavailable()
        if reason:
            raise RuntimeError(f"cannot build hosts: {reason}")
        sweep()
        owner = os.getpid() if owner is None else owner
        self.tag = f"{PREFIX}{owner}-{os.urandom(3).hex()}"
        self.switch = f"{self.tag}-sw"
        self.hosts = [Host(self, k, f"{self.tag}-h{k}") for k in range(n)]
        self._procs = []
        self._closed = False
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        return len(self.hosts)

    def __getitem__(self, k):
        return self.hosts[k]

    def __iter__(self):
        return iter(self.hosts)

    def _build(self):
        _ip(["-b", "-"], "".join(f"netns add {ns}\n" for ns in [self.switch] + [h.netns for h in self]))
        # Duplicate address detection would leave each IPv6 address "tentative" (unusable for
        # bind) for about a second.  These hosts are made by us on a private switch, so there is
        # nothing to detect: turn it off before eth0 exists (a new interface copies "default"),
        # so the link-local address is usable at once too, and `nodad` below covers the rest.
        # The switch does no IPv6 at all: its bridge and ports are layer 2 only.
        for h in self:
            subprocess.run(_nsenter(h.netns) + ["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                                                "net.ipv6.conf.default.accept_dad=0"],
                           check=True, capture_output=True, timeout=10 * SLOW)
        subprocess.run(_nsenter(self.switch) + ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                                                "net.ipv6.conf.default.disable_ipv6=1"],
                       check=True, capture_output=True, timeout=10 * SLOW)
        # Multicast snooping off: the bridge then floods IPv6 neighbour solicitations to every
        # port instead of relying on MLD reports it may have missed while ports came up.  STP is
        # off by default, so a port forwards as soon as it is up (no 15 s listening delay).
        batch = ["link add br0 type bridge mcast_snooping 0", "link set br0 up"]
        for h in self:
            batch += [f"link add p{h.index} type veth peer name eth0 netns {h.netns}",
                      f"link set p{h.index} master br0", f"link set p{h.index} up"]
        _ip(["-n", self.switch, "-b", "-"], "\n".join(batch) + "\n")
        for h in self:
            _ip(["-n", h.netns, "-b", "-"],
                "link set lo up\n"
                f"addr add {h.ipv4}/24 dev eth0\n"
                f"addr add {h.ipv6}/64 dev eth0 nodad\n"
                "link set eth0 up\n")
        self._wait_ready()

    def _wait_ready(self, timeout=10):
        """Waits until every eth0 and switch port is up with a real queue (the kernel attaches it
        asynchronously; before that, frames are dropped), every bridge port forwards, and no
        address is tentative.  Polls with a deadline; never sleeps and hopes."""
        end = _deadline(timeout)
        while True:
            problem = self._not_ready()
            if problem is None:
                return
            if time.monotonic() > end:
                raise RuntimeError(f"hosts not ready after {timeout * SLOW:.1f}s: {problem}")
            time.sleep(0.02)

    def _not_ready(self):
        for h in self:
            (link,) = json.loads(_ip(["-n", h.netns, "-j", "addr", "show", "dev", "eth0"]).stdout)
            if link.get("operstate") != "UP" or link.get("qdisc") == "noop":
                return f"{h.name} eth0 is {link.get('operstate')} (qdisc {link.get('qdisc')})"
            addrs = {a["local"]: a for a in link.get("addr_info", [])}
            for want in (h.ipv4, h.ipv6):
                a = addrs.get(want)
                if a is None:
                    return f"{h.name} has no address {want}"
                if a.get("tentative") or a.get("dadfailed"):
                    return f"{h.name} address {want} is still tentative"
        ports = json.loads(subprocess.run(["bridge", "-n", self.switch, "-j", "link", "show"],
                                          capture_output=True, text=True, check=True,
                                          timeout=10 * SLOW).stdout)
        forwarding = {p["ifname"] for p in ports if p.get("state") == "forwarding"}
        for h in self:
            if f"p{h.index}" not in forwarding:
                return f"switch port p{h.index} ({h.name}) is not forwarding"
        return None

    def close(self):
        """Kills every process started in the hosts, then removes the namespaces (which removes
        their interfaces and the bridge).  Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for p in self._procs:
            if p.poll() is None:
                p.kill()
        for p in self._procs:
            try:
                p.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                pass  # teardown() below kills by namespace and reports what survives
        teardown(self.tag)


def _netns_names():
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def pids_in(netns):
    """Pids of the processes (any, not only ours) whose network namespace is |netns|."""
    try:
        st = os.stat(os.path.join(NETNS_DIR, netns))
    except FileNotFoundError:
        return []
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                s = os.stat(f"/proc/{d}/ns/net")
            except OSError:
                continue  # gone meanwhile, or a zombie (which no longer holds a namespace)
            if (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino):
                found.append(int(d))
    return found


def teardown(tag):
    """Kills every process inside TAG's namespaces (including ones a test's process started and
    nobody waits for) and deletes the namespaces.  Raises if something survives."""
    names = [ns for ns in _netns_names() if ns.startswith(tag + "-")]
    end = _deadline(10)
    while True:
        pids = [pid for ns in names for pid in pids_in(ns)]
        if not pids:
            break
        if time.monotonic() > end:
            raise RuntimeError(f"processes {pids} in {tag} survived SIGKILL")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    # Hosts first: deleting a host's namespace destroys its eth0 and with it the switch's end.
    problems = []
    for ns in sorted(names, key=lambda ns: ns.endswith("-sw")):
        r = _ip(["netns", "del", ns], check=False)
        if r.returncode != 0 and os.path.exists(os.path.join(NETNS_DIR, ns)):
            problems.append(f"ip netns del {ns}: {r.stderr.strip()}")
    if problems:
        raise RuntimeError("; ".join(problems))


def sweep():
    """Removes the namespaces of runs whose owner pid no longer exists (a run killed before its
    cleanup).  Returns the tags removed.  A run in progress is never touched: its owner lives."""
    tags = {}
    for ns in _netns_names():
        m = _TAG_RE.match(ns)
        if m:
            tags[m.group(1)] = int(m.group(2))
    gone = [tag for tag, owner in tags.items() if not os.path.exists(f"/proc/{owner}")]
    for tag in gone:
        print(f"multihost: removing {tag}-*: its owner {tag.split('-')[1]} is gone", file=sys.stderr)
        teardown(tag)
    return gone


_reason = []


def unavailable():
    """Why separate hosts cannot be built here (a sentence), or None if they can.  Tried once
    per process: it builds and removes a namespace holding a bridge and a veth."""
    if _reason:
        return _reason[0]
    reason = None
    if os.geteuid() != 0:
        reason = "needs root (network namespaces, bridges and veth pairs)"
    else:
        for tool in ("ip", "nsenter", "bridge", "sysctl"):
            if shutil.which(tool) is None:
                reason = f"no `{tool}` program (iproute2 / util-linux)"
                break
    if reason is None:
        probe = f"{PREFIX}{os.getpid()}-{os.urandom(3).hex()}-sw"
        r = _ip(["netns", "add", probe], check=False)
        if r.returncode != 0:
            reason = f"cannot create a network namespace: {r.stderr.strip()}"
        else:
            r = _ip(["-n", probe, "-b", "-"], "link add br0 type bridge\nlink add va type veth peer name vb\n",
                    check=False)
            if r.returncode != 0:
                reason = f"no bridge or veth devices in this kernel: {r.stderr.strip()}"
            _ip(["netns", "del", probe], check=False)
    _reason.append(reason)
    return reason


def require_hosts():
    """In a pytest test or fixture: skips with the reason when hosts cannot be built here."""
    reason = unavailable()
    if reason:
        import pytest
        pytest.skip(f"separate hosts unavailable: {reason}")


def main(argv):
    usage = "usage: multihost.py up N [--owner PID] | down TAG | sweep | check"
    if argv[:1] == ["up"] and len(argv) in (2, 4) and (len(argv) == 2 or argv[2] == "--owner"):
        owner = int(argv[3]) if len(argv) == 4 else None
        net = Topology(int(argv[1]), owner=owner)
        print(net.tag)
        for h in net:
            print(h.name, h.netns, h.ipv4, h.ipv6)
        return 0  # the namespaces stay: `down TAG` (or a sweep once the owner is gone) removes them
    if argv[:1] == ["down"] and len(argv) == 2 and _TAG_RE.match(argv[1] + "-sw"):
        teardown(argv[1])
        return 0
    if argv == ["sweep"]:
        sweep()
        return 0
    if argv == ["check"]:
        print(unavailable() or "ok")
        return 0 if unavailable() is None else 1
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

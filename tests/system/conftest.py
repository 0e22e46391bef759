import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdht_harness as h  # noqa: E402
import multihost  # noqa: E402


def pytest_sessionstart(session):
    if not os.access(h.CDHT, os.X_OK):
        raise pytest.UsageError(f"no cdht binary at {h.CDHT}: build first (scripts/setup.sh)")


@pytest.fixture(autouse=True)
def own_workdir():
    """Each test's peers run in a directory of their own: data directories (cdht-data/peer-N)
    and downloads one test leaves behind must not be served to the next."""
    h.WORKDIR = tempfile.mkdtemp(prefix="cdht-test-")
    yield h.WORKDIR
    shutil.rmtree(h.WORKDIR, ignore_errors=True)


@pytest.fixture
def hosts():
    """hosts(n=8) builds n separate hosts on one switch (a multihost.Topology: network namespaces
    with their own addresses); every one is torn down after the test, with every process that runs
    in it, whatever the test raised.  Skips the test, with the reason, without root or namespaces."""
    built = []

    def build(n=8):
        multihost.require_hosts()
        net = multihost.Topology(n)
        built.append(net)
        return net

    yield build
    for net in built:
        net.close()


@pytest.fixture
def peers(own_workdir):
    """Every Peer a test starts through peers.start(...) is killed at the end."""
    started = []

    class Factory:
        def start(self, pid, s1, s2, options=h.FAST, **kw):
            p = h.Peer(pid, s1, s2, options, **kw)
            started.append(p)
            return p

        def ring(self, ids, options=h.FAST):
            ring = {p: self.start(p, s1, s2, options) for p, (s1, s2) in h.successors(ids).items()}
            return ring

        def run(self, args, **kw):
            p = h.Peer(None, None, None, (), args=args, **kw)
            started.append(p)
            return p

    yield Factory()
    for p in started:
        p.stop()
    # A sanitizer report in any peer fails the test, even if every line was right.
    reports = [l for p in started for l in p.err.since()
               if "Sanitizer" in l or "runtime error:" in l]
    assert not reports, "\n".join(reports)

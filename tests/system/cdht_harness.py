"""Real cdht processes on loopback, driven the way a person would: type on the console,
read the printed lines.  Every wait has a deadline; CDHT_TEST_SLOW stretches them all
(e.g. CDHT_TEST_SLOW=3 under sanitizers or on a loaded machine)."""

import os
import signal
import tempfile
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CDHT = os.environ.get("CDHT_BIN", os.path.join(ROOT, "build", "cdht"))
SLOW = float(os.environ.get("CDHT_TEST_SLOW", "1"))

# A fast ping profile so that a test's kill is detected in about a second.
FAST = ["--ping-interval", "0.2", "--ping-timeout", "0.2"]

# Peers run here unless told otherwise: their data directories (cdht-data/peer-N) and
# downloads stay out of the source tree.
WORKDIR = tempfile.mkdtemp(prefix="cdht-test-")

# The ping lines of the classic forms, then of the 2020 forms (a round, a request, a response).
PING_PREFIXES = ("A ping request message", "A ping response message",
                 "Ping requests sent to Peer", "Ping request message received", "Ping response received")

CLASSIC_RING = [1, 3, 4, 5, 8, 10, 12, 15]

_NOT_HERE = ["File {f} is not stored here.", "File request message has been forwarded to my successor."]


def _fwd(f):
    return [l.format(f=f) for l in _NOT_HERE]


# Every peer's non-ping lines over the whole canonical demo: request 2012 at 8, quit at 10,
# request 0010 at 4, kill 5.  The real processes and the simulator must both print these.
CLASSIC_EXPECTED = {
    1: ["File 2012 is here.", "A response message, destined for peer 8, has been sent."],
    3: ["Peer 5 is no longer alive.", "My first successor is now peer 4.", "My second successor is now peer 8."],
    4: ["File request message for 0010 has been sent to my successor.",
        "Received a response message from peer 12, which has the file 0010.",
        "Peer 5 is no longer alive.", "My first successor is now peer 8.", "My second successor is now peer 12."],
    5: ["Peer 10 will depart from the network.", "My first successor is now peer 8.",
        "My second successor is now peer 12."] + _fwd("0010"),
    8: ["File request message for 2012 has been sent to my successor.",
        "Received a response message from peer 1, which has the file 2012.",
        "Peer 10 will depart from the network.", "My first successor is now peer 12.",
        "My second successor is now peer 15."] + _fwd("0010"),
    10: _fwd("2012") + ["0 files handed over to peer 12."],
    12: _fwd("2012") + ["0 files received from peer 10.",
                        "File 0010 is here.", "A response message, destined for peer 4, has been sent."],
    15: _fwd("2012"),
}


def deadline(seconds):
    return time.monotonic() + seconds * SLOW


def eventually(check, timeout, what):
    """Polls |check| (returns a problem string, or None when satisfied) until it holds or the
    deadline passes; for states the peers show only on request (status, /proc)."""
    end = deadline(timeout)
    while True:
        problem = check()
        if problem is None:
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout * SLOW:.1f}s waiting for {what}: {problem}")
        time.sleep(0.05)


class Stream:
    """Lines read from one pipe by a thread, kept for the whole run."""

    def __init__(self, pipe):
        self.lines = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe):
        for raw in pipe:
            with self.cond:
                self.lines.append(raw.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_for(self, predicate, timeout, start=0, what="a line"):
        """Waits until predicate(line) holds for a line at index >= start; returns its index."""
        end = deadline(timeout)
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    if predicate(self.lines[i]):
                        return i
                    i += 1
                left = end - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError(
                        f"timed out after {timeout * SLOW:.1f}s waiting for {what}; got:\n  "
                        + "\n  ".join(self.lines[start:][-30:]))
                self.cond.wait(left)

    def since(self, start=0):
        with self.cond:
            return list(self.lines[start:])


class Peer:
    def __init__(self, pid, s1, s2, options=(), args=None, stdin=subprocess.PIPE, cwd=None, exe=False):
        self.id = pid
        if exe:  # args is a whole command line (e.g. cdht under valgrind)
            argv = list(args)
        else:
            argv = [CDHT, *options, *(args if args is not None else [str(pid), str(s1), str(s2)])]
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1, cwd=cwd or WORKDIR)
        self.out = Stream(self.proc.stdout)
        self.err = Stream(self.proc.stderr)

    def type(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close_stdin(self):
        self.proc.stdin.close()

    def wait_line(self, text, timeout=10, start=0):
        return self.out.wait_for(lambda l: l == text, timeout, start, repr(text))

    def wait_err(self, fragment, timeout=10, start=0):
        return self.err.wait_for(lambda l: fragment in l, timeout, start, f"stderr containing {fragment!r}")

    def events(self, start=0):
        """Non-ping stdout lines since |start|."""
        return [l for l in self.out.since(start) if not l.startswith(PING_PREFIXES)]

    def wait_events(self, expected, timeout=10, start=0):
        """Waits until the non-ping lines since |start| begin with |expected|; returns them."""
        end = deadline(timeout)
        while True:
            got = self.events(start)
            if got[:len(expected)] == expected:
                return got
            if got[:len(expected)] != expected[:len(got)]:
                raise AssertionError(f"peer {self.id}: expected {expected}, got {got}")
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and len(got) < len(expected):
                raise AssertionError(f"peer {self.id}: timed out waiting for {expected}; got {got}")
            with self.out.cond:
                self.out.cond.wait(min(left, 0.2))

    def expect_events(self, expected, timeout=10, start=0):
        """Waits for exactly |expected| as the non-ping lines since |start| (lines arrive
        through a pipe, so even a line printed before a message was sent may be read later)."""
        got = self.wait_events(expected, timeout, start)
        assert got == expected, f"peer {self.id}: expected {expected}, got {got}"

    def wait_exit(self, timeout=10):
        """Waits for the process to end and for its output to be read to the end."""
        try:
            code = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"peer {self.id} did not exit within {timeout * SLOW:.1f}s")
        self.out.thread.join(timeout * SLOW)
        self.err.thread.join(timeout * SLOW)
        return code

    def alive(self):
        return self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        # Read to the end before anyone looks: a sanitizer report may still be in the pipe.
        self.out.thread.join(5 * SLOW)
        self.err.thread.join(5 * SLOW)
        for s in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if s:
                try:
                    s.close()
                except OSError:
                    pass


def successors(ids):
    """Each id's next two ids in ring order: the classic set-up script."""
    ring = sorted(ids)
    n = len(ring)
    return {p: (ring[(i + 1) % n], ring[(i + 2) % n]) for i, p in enumerate(ring)}


def start_ring(ids, options=FAST):
    return {p: Peer(p, s1, s2, options) for p, (s1, s2) in successors(ids).items()}


def responsible(ids, file):
    """The peer responsible for file number |file|: the key's closest successor (§1)."""
    key = file % 256
    return min((p for p in ids if p >= key), default=min(ids))


def predecessors(ids):
    ring = sorted(ids)
    n = len(ring)
    return {p: (ring[(i - 1) % n], ring[(i - 2) % n]) for i, p in enumerate(ring)}


def wait_pinging(peers, timeout=10):
    """Waits until every peer has heard pings from both predecessors and answers from both
    successors, as the classic set-up shows."""
    ids = list(peers)
    preds = predecessors(ids)
    succs = successors(ids)
    for p, peer in peers.items():
        for q in set(preds[p]) - {p}:
            peer.wait_line(f"A ping request message was received from Peer {q}.", timeout)
        for q in set(succs[p]) - {p}:
            peer.wait_line(f"A ping response message was received from Peer {q}.", timeout)

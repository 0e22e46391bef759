"""cdht-sim: the real protocol core at scale, deterministic, with its invariants checked."""

import os
import re
import subprocess
from collections import defaultdict

import cdht_harness as h

SIM = os.environ.get("CDHT_SIM_BIN", os.path.join(os.path.dirname(h.CDHT), "cdht-sim"))


def sim(*args, timeout=120):
    p = subprocess.run([SIM, *args], capture_output=True, text=True, timeout=timeout * h.SLOW)
    lines = p.stdout.splitlines()
    return p.returncode, lines, p.stderr


def tail(lines):
    """The run's closing contract: digest and violations, the last two lines."""
    assert re.fullmatch(r"digest [0-9a-f]{16}", lines[-2]), lines[-2:]
    assert re.fullmatch(r"violations \d+", lines[-1]), lines[-1:]
    return lines[-2].split()[1], int(lines[-1].split()[1])


def test_seed_sweep_small_rings_with_loss_delay_kills_quits_joins_and_restarts():
    # 200 seeds, 4 to 32 peers, 1% loss, 0.1-5 ms delays, a kill, quit, join or restart every
    # 30 s, 10 minutes each.
    code, lines, err = sim("--peers", "4..32", "--seeds", "1..200", "--duration", "600")
    assert code == 0, err[-3000:]
    assert "all 200 seeds held" in lines
    _, violations = tail(lines)
    assert violations == 0
    summaries = [l for l in lines if l.startswith("seed ")]
    assert len(summaries) == 200
    kills = sum(int(re.search(r"kills (\d+)", l).group(1)) for l in summaries)
    quits = sum(int(re.search(r"quits (\d+)", l).group(1)) for l in summaries)
    joins = sum(int(re.search(r"joins (\d+), restarts (\d+)", l).group(1)) +
                int(re.search(r"joins (\d+), restarts (\d+)", l).group(2)) for l in summaries)
    ok = sum(int(re.search(r"lookups (\d+) ok", l).group(1)) for l in summaries)
    assert kills > 200 and quits > 200 and joins > 200 and ok > 10000


def test_seed_sweep_classic_protocol_only_kills_and_quits_at_5_percent_loss():
    code, lines, err = sim("--peers", "4..32", "--seeds", "1..100", "--duration", "600", "--no-joins",
                           "--loss", "0.05")
    assert code == 0, err[-3000:]
    assert tail(lines)[1] == 0


def test_seed_sweep_tiny_rings_down_to_one_peer_and_back():
    code, lines, err = sim("--peers", "2..4", "--ring-size", "8", "--min-live", "1", "--churn", "10",
                           "--seeds", "1..100", "--duration", "600")
    assert code == 0, err[-3000:]
    assert tail(lines)[1] == 0


def test_neighbours_quitting_at_once_never_hand_on_a_departed_peer():
    # 3 and 5 quit at the same moment: whatever order their departures arrive in, nobody keeps
    # (or takes back) a peer it saw depart (an invariant the simulator checks), and 1 ends with
    # successors 7 and 9.
    for seed in range(1, 21):
        code, lines, err = sim("--ids", "1,3,5,7,9", "--quit", "3@20", "--quit", "5@20", "--churn", "0",
                               "--loss", "0", "--duration", "60", "--lines", "--seed", str(seed))
        assert code == 0, err
        firsts = [l for l in lines if l.startswith("peer 1: My first successor is now peer")]
        seconds = [l for l in lines if l.startswith("peer 1: My second successor is now peer")]
        assert firsts[-1] == "peer 1: My first successor is now peer 7.", (seed, firsts)
        assert seconds[-1] == "peer 1: My second successor is now peer 9.", (seed, seconds)


def test_seed_sweep_with_duplication_and_reordering():
    code, lines, err = sim("--peers", "4..16", "--seeds", "1..50", "--duration", "300",
                           "--dup", "0.05", "--reorder", "0.05", "--churn", "20")
    assert code == 0, err[-3000:]
    assert tail(lines)[1] == 0


def test_same_seed_same_trace_and_digest_other_seed_other_digest():
    runs = [sim("--peers", "12", "--seed", str(s), "--duration", "120", "--trace") for s in (5, 5, 6)]
    for code, _, err in runs:
        assert code == 0, err
    trace = [[l for l in lines if not l.startswith("seed ")] for _, lines, _ in runs]
    assert trace[0] == trace[1]  # byte for byte (the summary line carries wall-clock figures)
    assert len(trace[0]) > 1000
    assert tail(runs[0][1])[0] == tail(runs[1][1])[0]
    assert tail(runs[0][1])[0] != tail(runs[2][1])[0]


def test_classic_demo_replayed_in_simulation_prints_what_the_real_peers_print():
    code, lines, err = sim("--scenario", "classic")
    assert code == 0, err
    per_peer = defaultdict(list)
    for l in lines:
        m = re.fullmatch(r"peer (\d+): (.*)", l)
        if m:
            per_peer[int(m.group(1))].append(m.group(2))
    assert dict(per_peer) == h.CLASSIC_EXPECTED


def test_short_partition_heals_without_any_repair():
    code, lines, err = sim("--peers", "16", "--seed", "3", "--churn", "0", "--loss", "0",
                           "--partition", "60+2", "--duration", "120", "--trace")
    assert code == 0, err
    assert not any("is no longer alive" in l for l in lines)
    assert tail(lines)[1] == 0


def test_long_partition_is_reported_as_a_split():
    code, lines, err = sim("--peers", "16", "--seed", "3", "--churn", "0", "--loss", "0",
                           "--partition", "60+20", "--duration", "120")
    assert code == 1
    assert "ring split after the partition" in err
    assert tail(lines)[1] > 0


def test_two_adjacent_kills_break_a_two_successor_ring_and_say_so():
    # Expected to fail: the protocol keeps two successors, so this cannot be repaired.
    code, lines, err = sim("--ids", ",".join(str(i) for i in range(1, 17)), "--seed", "3",
                           "--churn", "0", "--loss", "0", "--kill-adjacent", "4@60", "--duration", "120")
    assert code == 1
    assert tail(lines)[1] > 0
    assert "violation: seed 3" in err


def test_all_256_peers_of_the_default_ring():
    code, lines, err = sim("--peers", "256", "--seed", "7", "--duration", "120")
    assert code == 0, err[-3000:]
    summary = next(l for l in lines if l.startswith("seed 7: peers 256,"))
    assert "lookups 0 ok" not in summary


def test_bad_options_are_usage_errors():
    for args in (["--peers", "0"], ["--loss", "2"], ["--delay", "5..1"], ["--peers", "300"],
                 ["--kill", "x@1"], ["--frob"]):
        code, lines, err = sim(*args)
        assert code == 2, args
        assert err.startswith("cdht-sim: ")

"""The benchmarks of issue 11 alone (successor lists and fingers), without the rest of
bench_all.py: simulated hops against the Chord paper, --listen rings routing by fingers next to
OpenDHT of the same sizes, and idle maintenance traffic with and without fingers.  Prints the
BENCHMARKS.md sections they make and writes the raw figures and bench-hops.png into --out.

Run it like the full benchmark, in a network namespace of its own:
  CDHT_BENCH_BIN_DIR=build-bench scripts/netns.sh /usr/bin/python3 bench/issue11.py [--quick] [--out DIR]"""

import argparse
import importlib.util
import json
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_all as b  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--no-opendht", action="store_true")
    ap.add_argument("--only", default="hops,fingers,opendht,maintenance",
                    help="comma-separated subset of hops,fingers,opendht,maintenance")
    args = ap.parse_args()
    cfg = b.QUICK if args.quick else b.FULL
    only = set(args.only.split(","))
    out = args.out or tempfile.mkdtemp(prefix="cdht-issue11-")
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="cdht-issue11-work-")
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    R = dict(machine=b.machine(), date=time.strftime("%Y-%m-%d %H:%M %Z"), rev=b.git_rev(), opendht=[])
    try:
        if "hops" in only:
            R["hops"] = b.bench_hops(cfg)
        if "fingers" in only:
            R["fingers"] = [b.bench_finger_requests(cfg, n, rng, work) for n in cfg["fg_rings"]]
        if "opendht" in only and not args.no_opendht and cfg["opendht"]:
            if importlib.util.find_spec("opendht") is None or not shutil.which("dhtnode"):
                R["opendht_note"] = "python3-opendht or dhtnode is not installed"
            else:
                for n in sorted(set(cfg["opendht"]) & set(cfg["fg_rings"])):
                    try:
                        R["opendht"].append(b.bench_opendht_guarded(cfg, n, work, cfg["foot_window"],
                                                                    rng.randrange(1 << 30)))
                    except (TimeoutError, OSError, MemoryError) as e:
                        R["opendht_note"] = f"OpenDHT with {n} nodes could not be measured: {e}"
                        break
        if "maintenance" in only:
            R["maintenance"] = [b.bench_maintenance(cfg, n, f, work) for n in cfg["maint_n"] for f in (True, False)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    R["took"] = time.monotonic() - t0
    L = [f"- machine: {R['machine']}", f"- date: {R['date']}; cdht {R['rev']}; took {R['took']:.0f} s"]
    L += b.hops_section(R) + b.fingers_section(R) + b.maintenance_section(R)
    if R.get("opendht_note"):
        L += ["", R["opendht_note"]]
    L += ["", "Targets:"] + b.fingers_targets(R)
    text = "\n".join(L) + "\n"
    with open(os.path.join(out, "issue11.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    if R.get("hops"):
        R.setdefault("requests", [])
        R.setdefault("kills", [])
        R["floor"] = dict(tcp_hop_us=dict(median=float("nan")))
        try:
            b.plots(R, out, out)
        except Exception as e:  # noqa: BLE001 - the figures above stand without the plots
            b.log(f"plots: {e}")
    print(text)
    b.log(f"wrote {out}/issue11.md and results.json")


if __name__ == "__main__":
    main()

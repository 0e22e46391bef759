#!/usr/bin/env bash
# Builds and runs the simulator benchmarks; writes docs/sim-bench.md and docs/sim-detection.png.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh gnuplot-nox   # also builds build-demo/
CDHT_SIM_BIN="$PWD/build-demo/cdht-sim" exec /usr/bin/python3 bench/sim_bench.py "$@"

#!/usr/bin/env bash
# Builds and runs the simulator benchmarks; writes docs/sim-bench.md and docs/sim-detection.png.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
command -v gnuplot >/dev/null || { apt-get install -y -qq gnuplot-nox >/dev/null; }
cmake -S . -B build-demo -DBUILD_TESTING=OFF >/dev/null && cmake --build build-demo -j"$(nproc)" --target cdht-sim >/dev/null
CDHT_SIM_BIN="$PWD/build-demo/cdht-sim" exec /usr/bin/python3 bench/sim_bench.py "$@"

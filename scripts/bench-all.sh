#!/usr/bin/env bash
# Runs every benchmark of issue #6 side by side with its references (loopback floor, OpenDHT,
# nc) and writes BENCHMARKS.md and docs/bench-*.png.  Figures only, never pass/fail; the full run
# takes about 10 minutes on 2 cores.
#
# Usage: scripts/bench-all.sh [--quick] [--out DIR] [--seed N] [--no-opendht]
#   --quick   about 20 s: tiny sizes, no OpenDHT, no default-profile kills; writes into a temporary
#             directory (or --out DIR), never into the repository.  Installs nothing.
# CDHT_BENCH_BIN_DIR=DIR uses the cdht, cdht-sim and bench/cdht-floor already built in DIR (the
# test suite passes its own build); otherwise this builds build-bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for a in "$@"; do [ "$a" = "--quick" ] && quick=1; done

if [ "$quick" = 0 ]; then
  # What the benchmarks add to the project's packages: the reference DHT, nc and gnuplot.
  scripts/setup.sh --no-build python3-opendht dhtnode netcat-openbsd gnuplot-nox
fi

if [ -z "${CDHT_BENCH_BIN_DIR:-}" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
  cmake --build build-bench -j"$(nproc)" --target cdht cdht-sim cdht-floor >/dev/null
  export CDHT_BENCH_BIN_DIR="$PWD/build-bench"
fi

# Peers use 127.0.0.1 ports 50000+id: run them where nobody else's can be.
exec scripts/netns.sh /usr/bin/python3 bench/bench_all.py "$@"

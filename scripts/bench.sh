#!/usr/bin/env bash
# Builds and runs the benchmarks in bench/ (figures only, never pass/fail).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
CDHT_BIN="$PWD/build-demo/cdht" exec scripts/netns.sh /usr/bin/python3 bench/classic.py "$@"

#!/usr/bin/env bash
# A year's canonical demo without a terminal: installs, builds, runs its steps and prints each
# peer's lines.  `--variant 2019` or `--variant 2020` first picks the year (default: the classic
# five steps); further arguments replace the fast test ping profile, e.g. --ping-interval 1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
CDHT_BIN="$PWD/build-demo/cdht" exec scripts/netns.sh /usr/bin/python3 scripts/demo_batch.py "$@"

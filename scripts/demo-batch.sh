#!/usr/bin/env bash
# The canonical demo without a terminal: installs, builds, runs the five steps and prints each
# peer's lines.  Extra arguments replace the fast test ping profile, e.g. --ping-interval 1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
CDHT_BIN="$PWD/build-demo/cdht" exec scripts/netns.sh /usr/bin/python3 scripts/demo_batch.py "$@"

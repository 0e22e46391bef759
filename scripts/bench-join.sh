#!/usr/bin/env bash
# The time for a join to settle on the classic ring (figures only).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh   # also builds build-demo/
CDHT_BIN="$PWD/build-demo/cdht" exec scripts/netns.sh /usr/bin/python3 bench/join.py "$@"

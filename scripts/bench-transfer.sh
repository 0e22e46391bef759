#!/usr/bin/env bash
# Content transfer throughput next to nc, and join settle time (figures only).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh netcat-openbsd   # also builds build-demo/
CDHT_BIN="$PWD/build-demo/cdht" exec scripts/netns.sh /usr/bin/python3 bench/transfer.py "$@"

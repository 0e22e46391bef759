#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit (ctest), system (pytest, real
# processes in a private network namespace), then the whole suite again under ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build

jobs=$(nproc)
step() { printf '\n== %s\n' "$*"; }

step "build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON >/dev/null
cmake --build build -j"$jobs" >/dev/null

step "unit tests"
(cd build && ctest --output-on-failure -j"$jobs")

step "system tests"
scripts/netns.sh /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/system

step "sanitizer build (ASan+UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCDHT_SANITIZE=ON -DBUILD_TESTING=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

step "unit tests under ASan+UBSan"
(cd build-asan && ctest --output-on-failure -j"$jobs")

step "system tests under ASan+UBSan"
CDHT_BIN="$PWD/build-asan/cdht" CDHT_SIM_BIN="$PWD/build-asan/cdht-sim" CDHT_TEST_SLOW=3 CDHT_SANITIZED=1 \
  scripts/netns.sh /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/system

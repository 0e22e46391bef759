#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for CDHT_FUZZ_SECONDS (default 60) on a
# scratch copy of its corpus (fuzz/CMakeLists.txt).  Crashes land in build-fuzz-clang/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
CC=clang cmake -S . -B build-fuzz-clang -DBUILD_TESTING=ON -DCDHT_FUZZ_SECONDS="${CDHT_FUZZ_SECONDS:-60}" >/dev/null
cmake --build build-fuzz-clang -j"$(nproc)" >/dev/null
cmake --build build-fuzz-clang --target fuzz

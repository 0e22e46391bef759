#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for CDHT_FUZZ_SECONDS (default 60) on a
# scratch copy of its corpus (fuzz/CMakeLists.txt).  Crashes land in build-fuzz-clang/fuzz/artifacts/.
# Every target runs even if an earlier one finds something; the exit status is 1 if any did.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
CC=clang cmake -S . -B build-fuzz-clang -DBUILD_TESTING=ON -DCDHT_FUZZ_SECONDS="${CDHT_FUZZ_SECONDS:-60}" >/dev/null
cmake --build build-fuzz-clang -j"$(nproc)" >/dev/null
targets=$(sed -n 's/^set(CDHT_FUZZ_TARGETS \(.*\))$/\1/p' fuzz/CMakeLists.txt)
[ -n "$targets" ] || { echo "fuzz: no CDHT_FUZZ_TARGETS in fuzz/CMakeLists.txt" >&2; exit 1; }
failed=()
for t in $targets; do
  cmake --build build-fuzz-clang --target "fuzz_run_$t" || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: found something in: ${failed[*]} (inputs in build-fuzz-clang/fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: every target ran clean: $targets" >&2

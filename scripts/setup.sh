#!/usr/bin/env bash
# Installs the Debian packages cdht needs (only those missing) and builds the peer into build-demo/.
# Usage: scripts/setup.sh [--no-build] [EXTRA-PACKAGE...]   (extras: what a benchmark adds)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config libuv1-dev libcmocka-dev python3 python3-pytest
          libsodium-dev libssl-dev tmux iproute2 util-linux procps valgrind clang libclang-rt-14-dev)

build=1
for a in "$@"; do
  if [ "$a" = "--no-build" ]; then build=0; else PACKAGES+=("$a"); fi
done

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$build" = 1 ]; then
  cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
  cmake --build build-demo -j"$(nproc)" >/dev/null
  echo "setup: built build-demo/cdht" >&2
fi

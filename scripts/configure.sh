#!/usr/bin/env bash
# Configures the build directory that scripts/train.sh and scripts/test.sh
# share (XLOSS_BUILD_DIR, default build/). Usage: scripts/configure.sh DIR
#
# Every option either script depends on is passed explicitly, and both
# scripts pass the same set: CMake keeps cached values across runs, so an
# option left unsaid would be whatever an earlier configure of DIR chose
# (an earlier -DXLOSS_BUILD_TESTS=OFF once left test.sh running 5 tests of
# 26). With one set, the cache is the same whichever script ran first; train.sh
# then builds only its own target, test.sh everything.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/configure.sh BUILD_DIR}
cmake -S . -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DXLOSS_BUILD_TESTS=ON \
  -DXLOSS_BUILD_EXAMPLES=ON \
  -DXLOSS_BUILD_BENCHMARKS=OFF \
  -DXLOSS_ARCH=native \
  -DXLOSS_WERROR=ON \
  -DXLOSS_NO_SIMD=OFF \
  -DXLOSS_SANITIZE=

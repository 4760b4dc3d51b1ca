#!/usr/bin/env bash
# The README's test command: installs missing dependencies, configures,
# builds every test and example with two jobs, and runs ctest.
#
# The build directory (XLOSS_BUILD_DIR, default build/) is shared with
# scripts/train.sh; scripts/configure.sh sets every option explicitly (tests
# and examples on, Release), so what ran in it before does not change what
# is built and run here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test train words
build=${XLOSS_BUILD_DIR:-build}
scripts/configure.sh "$build"
cmake --build "$build" -j"${JOBS:-2}"
ctest --test-dir "$build" --output-on-failure -j"${JOBS:-2}"

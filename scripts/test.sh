#!/usr/bin/env bash
# The README's test command: installs missing dependencies, configures,
# builds the tests and examples with two jobs, and runs ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test train
build=${XLOSS_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"${JOBS:-2}"
ctest --test-dir "$build" --output-on-failure -j"${JOBS:-2}"

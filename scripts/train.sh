#!/usr/bin/env bash
# The README's main command: installs missing dependencies (the Fashion-MNIST
# dataset and the libraries), builds the training example and trains softmax
# regression and an MLP with xloss. Extra arguments go to the program
# (try --help; --epochs 1 for a short run).
#
# The build directory (XLOSS_BUILD_DIR, default build/) is shared with
# scripts/test.sh and configured the same way by both (scripts/configure.sh),
# so either can run first; this script builds only the fashion_mnist target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh train
build=${XLOSS_BUILD_DIR:-build}
scripts/configure.sh "$build"
cmake --build "$build" -j"${JOBS:-2}" --target fashion_mnist
"$build"/examples/fashion_mnist/fashion_mnist "$@"

#!/usr/bin/env bash
# The README's main command: installs missing dependencies (the Fashion-MNIST
# dataset and the libraries), builds the training example and trains softmax
# regression and an MLP with xloss. Extra arguments go to the program
# (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh train
build=${XLOSS_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DXLOSS_BUILD_TESTS=OFF
cmake --build "$build" -j"${JOBS:-2}" --target fashion_mnist
"$build"/examples/fashion_mnist/fashion_mnist "$@"

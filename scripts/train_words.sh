#!/usr/bin/env bash
# The second main job: installs missing dependencies (Debian's word list,
# wamerican, and the libraries), builds the words example and trains a
# character-level GRU language model of English words with xloss. Extra
# arguments go to the program (try --help; --epochs 1 for a short run).
#
# The build directory (XLOSS_BUILD_DIR, default build/) is shared with
# scripts/test.sh and scripts/train.sh and configured the same way by all of
# them (scripts/configure.sh); this script builds only the words target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh words
build=${XLOSS_BUILD_DIR:-build}
scripts/configure.sh "$build"
cmake --build "$build" -j"${JOBS:-2}" --target words
"$build"/examples/words/words "$@"

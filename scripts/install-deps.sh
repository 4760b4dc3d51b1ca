#!/usr/bin/env bash
# Installs what xloss's build, tests and examples need on Debian 12, with apt,
# skipping what is already there. Usage: scripts/install-deps.sh [test|train|words|bench|robust]...
#
# Prints one line naming what it installs. apt's and dpkg's own output (a
# progress line per percent of "Reading database", one paragraph per
# package) goes to a log file, whose tail is printed only if apt fails.
# Runs as root, or through sudo otherwise.
set -euo pipefail

packages=(cmake g++ make libxtensor-dev libxsimd-dev xtl-dev catch2)
for what in "$@"; do
  case "$what" in
    test) ;;
    train) packages+=(libxtensor-blas-dev libopenblas-dev liblapack-dev libcli11-dev zlib1g-dev dataset-fashion-mnist gnuplot-nox) ;;
    # The word-level language model: Debian's English word list (wamerican,
    # /usr/share/dict/american-english) and the training example's libraries.
    words) packages+=(libxtensor-blas-dev libopenblas-dev liblapack-dev libcli11-dev wamerican gnuplot-nox) ;;
    bench) packages+=(libbenchmark-dev libtorch-dev python3) ;;
    # libomp-14-dev: LLVM's OpenMP runtime and its Archer tool, for the
    # ThreadSanitizer build of the parallel path.
    robust) packages+=(clang-14 libclang-rt-14-dev libomp-14-dev) ;;
    *) echo "install-deps.sh: unknown set '$what' (test, train, words, bench, robust)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps.sh: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  as_root=(sudo)
fi

log=$(mktemp "${TMPDIR:-/tmp}/xloss-install-deps.XXXXXX.log")
echo "install-deps.sh: installing ${missing[*]} (apt)"
# env after sudo: sudo drops the caller's environment, DEBIAN_FRONTEND included.
apt_get() {
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Use-Pty=0 "$@" >>"$log" 2>&1
}
if apt_get update && apt_get install --no-install-recommends "${missing[@]}"; then
  rm -f "$log"
else
  status=$?
  echo "install-deps.sh: apt-get failed (exit $status); the end of $log:" >&2
  tail -n 30 "$log" >&2
  exit "$status"
fi

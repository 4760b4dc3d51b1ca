#!/usr/bin/env bash
# Installs what xloss's build, tests and examples need on Debian 12, with apt,
# skipping what is already there. Usage: scripts/install-deps.sh [test|train|bench|robust]...
set -euo pipefail

packages=(cmake g++ make libxtensor-dev libxsimd-dev xtl-dev catch2)
for what in "$@"; do
  case "$what" in
    test) ;;
    train) packages+=(libxtensor-blas-dev libopenblas-dev liblapack-dev libcli11-dev zlib1g-dev dataset-fashion-mnist gnuplot-nox) ;;
    bench) packages+=(libbenchmark-dev libtorch-dev python3) ;;
    robust) packages+=(clang-14 libclang-rt-14-dev) ;;
    *) echo "install-deps.sh: unknown set '$what' (test, train, bench, robust)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing with apt: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

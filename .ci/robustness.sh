#!/usr/bin/env bash
# Robustness checks of xloss, beyond the main build (called by .ci/run):
#
#   a) clang++-14, C++20, -march=x86-64 (SSE2, xsimd's baseline), -Werror,
#      AddressSanitizer + UndefinedBehaviorSanitizer (float-cast-overflow
#      included: the UBSan report that xsimd 8.1's SSE2 expm1 casts NaN to an
#      integer came from this kind of build): every test but the packaging and
#      compile-fail ones (they run no xloss code). Not the opt-in
#      >2^31-element test of test_large_extent unless XLOSS_TEST_LARGE=1:
#      .ci/run's test stage runs it in the Release build (25 s there, two
#      minutes here, where it alone set the step's test time; what it checks
#      are values that a 32-bit index would get wrong). This one build is the
#      other compiler, the other standard, the other ISA and the sanitizers:
#      the main CI runs the suite with g++, C++17 and the widest ISA, and a
#      full test build per configuration is what CI time goes to.
#   b) ThreadSanitizer (clang++-14) on the parallel build (XLOSS_USE_OPENMP,
#      LLVM's libomp, whose Archer tool tells TSan about OpenMP's
#      synchronisation): test_threads only, with a pool of two threads. It
#      holds two threads calling every loss at once, and every loss split
#      into parts on the pool, compared bitwise with the one-part result.
#   c) the libFuzzer target (clang, ASan + UBSan, -march=native: the widest
#      xsimd batches this machine has). The binary holds the checks twice, on
#      the SIMD backend and on the scalar fallback (fuzz/fuzz_scalar.cpp,
#      compiled without sanitizers: it is the reference), runs every input
#      through both and compares them. The saved regressions
#      first, then fixed-seed runs from fuzz/corpus, one per core (seeds 1
#      and 2 on two cores), that share XLOSS_FUZZ_RUNS inputs and
#      XLOSS_FUZZ_SECONDS; any finding fails. XLOSS_FUZZ_ARCHS="native x86-64"
#      adds the SSE2 build (the cores then split between the builds; about 4
#      more minutes).
#   d) g++, C++20, Debug (-O0), -march=native, -Werror: the tests that use no
#      xtensor reducer (test_simd_vs_scalar: every loss and gradient on both
#      backends; test_errors; test_odr). xtensor 0.24.3's immediate
#      reductions of an xarray pick an undefined fixed-rank result type under
#      g++ -std=c++20 (its svector specialization of xtype_for_shape is
#      written for C++17 only); the other tests use xt::sum for their
#      references, and crash there. xloss itself calls no xtensor reducer.
#      Also -fsyntax-only of battery_simd.cpp at -O0 -march=skylake-avx512
#      (this machine has no AVX-512 to run it; xsimd 8.1's AVX-512 kernels
#      do not compile at -O0, so detail/simd.hpp takes AVX2 batches there).
#   e) clang++-14 Release (-O3 -march=native): the test kernels' library
#      (every catalogue entry's kernels, float and double) and
#      tests/check_inlined_kernels.sh on it. The other clang builds are
#      sanitized, where xloss neither flattens nor forces inlining; this is
#      the clang build a user makes, whose kernels are inlined only through
#      the XLOSS_KERNEL_INLINE marks (config.hpp). About a minute.
#
# The scalar fallback (XLOSS_NO_SIMD) gets no build of its own: every build
# compiles it for every loss and gradient (tests/battery_scalar.cpp) and
# test_simd_vs_scalar compares it with the SIMD backend, and the fuzzer does
# so on every input. (Until the thirteenth loss, step a ran the whole suite
# on it; that build cost about 400 s of a CI run that was over its budget.)
#
# The kernels are -O1 in every build but d) (sanitizers want it). In a), the
# tests' own code (references, call forms, Catch2) is -O0: instrumented, it
# is most of the build, and at -O0 it compiles in a third of the time while
# the kernels it calls keep -O1 (tests/CMakeLists.txt, XLOSS_TEST_CODE_OPT).
# The functions the tests define themselves (tests/, and Catch2's) are left
# uninstrumented (clang's -fsanitize-ignorelist): every function of xloss,
# xtensor, xsimd and the standard library that they call keeps its checks.
# And the generic tests' value cases run in float only there
# (XLOSS_TEST_FLOAT_ONLY): the double kernels stay sanitized by
# test_simd_vs_scalar (every loss and gradient, both backends) and by the
# fuzzer. One generic test object took 26 s of clang's time, 21 s with the
# ignorelist; with both, step a built in 885 s of CPU time instead of 978,
# and its tests ran in 97 s instead of 161 (a planted out-of-bounds read in
# detail/plan.hpp is still reported from a generic test).
#
# Usage: .ci/robustness.sh [JOBS]      (default: nproc)
# Build trees go to build-robust/<step>/. Environment:
#   XLOSS_FUZZ_SECONDS   fuzzing time per build, split between its workers
#                        (one per core: JOBS / number of builds) (default 60)
#   XLOSS_FUZZ_RUNS      inputs per build, split likewise (default 5000)
#   XLOSS_FUZZ_ARCHS     the fuzzer's builds (default "native")
#   XLOSS_ROBUST_STEPS   the steps to run, in order (default "a b c d e")
#   XLOSS_TEST_LARGE     1 runs the >2^31-element test in a) too (default 0)
# Every step runs even when an earlier one fails; the script fails at the
# end if any did, naming them.
set -euo pipefail

jobs=${1:-$(nproc)}
# Compile jobs: one more than the cores, so that a link, a configure or a
# build's last long object leaves no core idle (the stage runs beside others
# at nice 19 in .ci/run, and alone at its end).
build_jobs=$((jobs + 1))
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/build-robust
fuzz_seconds=${XLOSS_FUZZ_SECONDS:-60}
steps=${XLOSS_ROBUST_STEPS:-a b c d e}
fuzz_archs=${XLOSS_FUZZ_ARCHS:-native}
large=${XLOSS_TEST_LARGE:-0}
mkdir -p "$out"

# --- tools ------------------------------------------------------------------
# Installs what is missing (quietly; apt's log only on failure), as root or
# through sudo.
"$root/scripts/install-deps.sh" robust

# --- helpers ----------------------------------------------------------------
failed=()
script_start=$SECONDS

# run_step NAME COMMAND...: runs a step, prints its time, records a failure.
run_step() {
  local name=$1
  shift
  local start=$SECONDS
  echo
  echo "=== [$name] start ($(date -u +%H:%M:%S))"
  if "$@"; then
    echo "=== [$name] passed in $((SECONDS - start)) s"
  else
    echo "=== [$name] FAILED in $((SECONDS - start)) s"
    failed+=("$name")
  fi
}

# configure DIR CMAKE_ARGS...: the project with tests, no examples (the
# examples need data and are built by the main CI).
configure() {
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" -DXLOSS_BUILD_TESTS=ON -DXLOSS_BUILD_EXAMPLES=OFF -DXLOSS_BUILD_BENCHMARKS=OFF \
    -DXLOSS_WERROR=ON "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
}

# Every test executable: the default target holds exactly the tests here
# (examples and benchmarks are off; compile-fail cases are EXCLUDE_FROM_ALL).
# One make invocation, so that -j builds several test files at once.
build_tests() {
  cmake --build "$1" -j "$build_jobs"
}

# The tests that run xloss code (not the packaging / compile-fail ones).
code_tests='^(test_|fuzz_replay)'

# --- a) clang++-14, C++20, SSE2, -Werror, ASan + UBSan -------------------------
step_a() {
  local dir=$out/a-clang-cxx20-sse2-asan-ubsan
  local ignorelist=$out/test-code.ignorelist
  mkdir -p "$dir"
  printf '%s\n' "# The tests' own code and Catch2, left uninstrumented (.ci/robustness.sh, step a)." \
    "src:$root/tests/*" "src:/usr/include/catch2/*" >"$ignorelist"
  configure "$dir" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_STANDARD=20 -DXLOSS_ARCH=x86-64 \
    -DXLOSS_SANITIZE=address,undefined,float-cast-overflow \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
    -DXLOSS_TEST_CODE_OPT="-O0;-fsanitize-ignorelist=$ignorelist" -DXLOSS_TEST_FLOAT_ONLY=ON &&
    build_tests "$dir" &&
    (cd "$dir" && XLOSS_TEST_LARGE=$large ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j "$jobs" --output-on-failure -R "$code_tests")
}

# --- b) ThreadSanitizer on the OpenMP build: test_threads ---------------------
step_b() {
  local dir=$out/b-clang-tsan-openmp
  mkdir -p "$dir"
  # ignore_noninstrumented_modules: libomp itself is not instrumented; Archer
  # (loaded by libomp when TSan is present) supplies its synchronisation.
  # The test code at -O0 (as in a), on AVX2 (x86-64-v3): an -O0 object on an
  # AVX-512 -march takes AVX2 batches (detail/simd.hpp) and must not meet
  # -O1 kernels that take AVX-512 ones.
  configure "$dir" -DCMAKE_CXX_COMPILER=clang++-14 -DXLOSS_SANITIZE=thread -DXLOSS_USE_OPENMP=ON \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DXLOSS_TEST_CODE_OPT=-O0 -DXLOSS_ARCH=x86-64-v3 &&
    cmake --build "$dir" -j "$build_jobs" --target test_threads &&
    OMP_NUM_THREADS=2 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1 \
      "$dir/tests/test_threads"
}

# --- c) the fuzzer --------------------------------------------------
fuzz_build() {
  local arch=$1 dir=$out/c-fuzz-$1
  mkdir -p "$dir"
  cmake -S "$root/fuzz" -B "$dir" -DCMAKE_CXX_COMPILER=clang++-14 -DXLOSS_ARCH="$arch" \
    >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$build_jobs" --target fuzz_losses
}

# fuzz_run ARCH WORKERS: the saved regressions, then WORKERS fuzzers at once
# (seeds 1, 2, ...), each with its share of the time and of the inputs.
fuzz_run() {
  local arch=$1 workers=$2 dir=$out/c-fuzz-$1
  local bin=$dir/fuzz/fuzz_losses
  rm -rf "$dir"/new-corpus* "$dir/artifacts"
  mkdir -p "$dir/artifacts"
  local status=0
  echo "--- [$arch] saved regressions"
  local f
  for f in "$root"/fuzz/regressions/*; do
    if ! "$bin" "$f" >"$dir/regression.log" 2>&1; then
      echo "FAILED: $f"
      grep -E -A3 'xloss fuzz failure|runtime error|ERROR: AddressSanitizer' "$dir/regression.log" | head -n 8
      status=1
    fi
  done
  local seconds=$(((fuzz_seconds + workers - 1) / workers))
  local runs=$(((${XLOSS_FUZZ_RUNS:-5000} + workers - 1) / workers))
  echo "--- [$arch] fuzzing: $workers worker(s), $seconds s and at most $runs inputs each"
  # New inputs go to scratch directories, never into the repository.
  # Fixed seeds and run counts make the run repeatable: CI fails for a bug,
  # not for luck; max_total_time only bounds slow machines.
  local w pids=()
  for w in $(seq 1 "$workers"); do
    mkdir -p "$dir/new-corpus-$w"
    "$bin" -seed="$w" -runs="$runs" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/" "$dir/new-corpus-$w" "$root/fuzz/corpus" >"$dir/fuzz-$w.log" 2>&1 &
    pids+=($!)
  done
  for w in $(seq 1 "$workers"); do
    if ! wait "${pids[$((w - 1))]}"; then
      grep -E -B2 -A12 'xloss fuzz failure|runtime error|ERROR: AddressSanitizer|ERROR: libFuzzer' "$dir/fuzz-$w.log" | head -n 40
      status=1
    fi
    grep -E '^(#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
      "$dir/fuzz-$w.log" | tail -n 4 | sed "s/^/  [$arch, seed $w] /"
  done
  [ $status -eq 0 ] || echo "reproducer(s): $(ls "$dir/artifacts")"
  return $status
}

step_c() {
  # Build one after the other (each uses both cores' worth of memory at
  # most), then fuzz all at once, one fuzzer per core: a single build gets
  # every core, so its 60 s take 30 s on two (corpus loading, about 9 s per
  # worker, comes out of each share).
  local arch archs=0
  for arch in $fuzz_archs; do
    fuzz_build "$arch" || return 1
    archs=$((archs + 1))
  done
  local workers=$((jobs / archs))
  [ "$workers" -ge 1 ] || workers=1
  local status=0 pids=()
  for arch in $fuzz_archs; do
    fuzz_run "$arch" "$workers" >"$out/c-$arch.out" 2>&1 &
    pids+=($!)
  done
  local p
  for p in "${pids[@]}"; do
    wait "$p" || status=1
  done
  for arch in $fuzz_archs; do
    cat "$out/c-$arch.out"
  done
  return $status
}

# --- d) g++ C++20 Debug: the reducer-free tests; AVX-512 and NO_SIMD syntax --
step_d() {
  local dir=$out/d-gcc-cxx20-debug-O0
  mkdir -p "$dir"
  local syntax=(g++ -std=c++20 -O0 -fsyntax-only -Wall -Wextra -Wpedantic -Werror
    -Wno-uninitialized -Wno-maybe-uninitialized -I"$root/include" -I"$root/tests")
  # Syntax first (cheap, one file): every kernel instantiated for AVX-512 at -O0.
  "${syntax[@]}" -march=skylake-avx512 "$root/tests/battery_simd.cpp" &&
    configure "$dir" -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=20 -DXLOSS_ARCH=native \
      -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0" &&
    cmake --build "$dir" -j "$build_jobs" --target xloss_reducer_free_tests &&
    (cd "$dir" && ctest -j "$jobs" --output-on-failure -R '^(test_simd_vs_scalar|test_errors|test_odr)$')
}

# --- e) clang++-14 Release: every kernel inlined ------------------------------
step_e() {
  local dir=$out/e-clang-release
  mkdir -p "$dir"
  configure "$dir" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Release -DXLOSS_ARCH=native &&
    cmake --build "$dir" -j "$build_jobs" --target xloss_test_kernels &&
    "$root/tests/check_inlined_kernels.sh" "$dir/tests/libxloss_test_kernels.a"
}

for s in $steps; do
  case $s in
    a | b | c | d | e) run_step "$s" "step_$s" ;;
    *) echo "robustness.sh: unknown step '$s'" >&2; failed+=("$s") ;;
  esac
done

echo
echo "=== robustness.sh: $((SECONDS - script_start)) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "=== FAILED steps: ${failed[*]}"
  exit 1
fi
echo "=== all steps passed"

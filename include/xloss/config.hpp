// xloss: configuration and version. CMake parses the version macros below.
#ifndef XLOSS_CONFIG_HPP
#define XLOSS_CONFIG_HPP

#define XLOSS_VERSION_MAJOR 0
#define XLOSS_VERSION_MINOR 1
#define XLOSS_VERSION_PATCH 0

// Hot-loop helpers the compiler must inline (an out-of-line exp per batch
// passes its vectors through memory), and rare paths it must not (so that
// the hot ones stay small).
#if defined(__GNUC__)
#define XLOSS_ALWAYS_INLINE inline __attribute__((always_inline))
#define XLOSS_NOINLINE __attribute__((noinline))
#else
#define XLOSS_ALWAYS_INLINE inline
#define XLOSS_NOINLINE
#endif

// XLOSS_FLATTEN, on the engine functions that call a loss's rule, inlines
// everything the rule calls (GCC 12 otherwise keeps xsimd's exp out of line
// in the larger loops, and its vectors pass through memory). Only in
// optimised builds without sanitizers: under ASan the flattened kernels cost
// a large share of the compile time, for no use.
// The engine's helpers between a flattened function and the rule (run_row,
// row_value, ...) are XLOSS_KERNEL_INLINE (below), never
// XLOSS_ALWAYS_INLINE: under GCC they must stay plain inline, as GCC 12 does
// not flatten what an always_inline callee calls, and the rule's functions
// then stayed out of line (softmax rows 1.6-5x slower, benchmarks/RESULTS.md);
// tests/check_inlined_kernels.sh checks optimised builds for it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define XLOSS_SANITIZED
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define XLOSS_SANITIZED
#endif
#endif
#if defined(__GNUC__) && defined(__OPTIMIZE__) && !defined(XLOSS_SANITIZED)
#define XLOSS_FLATTEN __attribute__((flatten))
#else
#define XLOSS_FLATTEN
#endif

// XLOSS_KERNEL_INLINE, on every function between a flattened engine function
// and the rule's math (the engine's helpers, the lanes' loops, the rule's
// passes), and XLOSS_KERNEL_LAMBDA on the lambdas among them: clang's
// flatten (14) inlines only the calls written in the flattened function
// itself, so clang needs each step of the way marked always_inline (without
// it softmax and focal ran 1.3-2.7x slower than under g++). Under GCC they
// stay plain inline (above: its flatten reaches them, and always_inline
// would stop it).
#if defined(__clang__) && defined(__OPTIMIZE__) && !defined(XLOSS_SANITIZED)
#define XLOSS_KERNEL_INLINE inline __attribute__((always_inline))
#define XLOSS_KERNEL_LAMBDA __attribute__((always_inline))
#else
#define XLOSS_KERNEL_INLINE inline
#define XLOSS_KERNEL_LAMBDA
#endif

// Everything in xloss lives in an inline namespace named after the backend
// (detail/simd.hpp), so code built with and without XLOSS_NO_SIMD can be
// linked into one program without breaking the one-definition rule: to the
// linker they are different functions. Users write xloss::... as ever. The
// SIMD-versus-scalar test and the fuzzer link both builds side by side.
// The threaded builds (XLOSS_USE_OPENMP, XLOSS_USE_TBB: detail/parallel.hpp)
// get names of their own for the same reason.
#if defined(XLOSS_NO_SIMD) && defined(XLOSS_USE_OPENMP)
#define XLOSS_ABI_NAMESPACE scalar_omp_v0
#elif defined(XLOSS_NO_SIMD) && defined(XLOSS_USE_TBB)
#define XLOSS_ABI_NAMESPACE scalar_tbb_v0
#elif defined(XLOSS_NO_SIMD)
#define XLOSS_ABI_NAMESPACE scalar_v0
#elif defined(XLOSS_USE_OPENMP)
#define XLOSS_ABI_NAMESPACE simd_omp_v0
#elif defined(XLOSS_USE_TBB)
#define XLOSS_ABI_NAMESPACE simd_tbb_v0
#else
#define XLOSS_ABI_NAMESPACE simd_v0
#endif
// clang-format off
#define XLOSS_NAMESPACE_BEGIN namespace xloss { inline namespace XLOSS_ABI_NAMESPACE {
#define XLOSS_NAMESPACE_END } }
// clang-format on

#endif

// xloss: configuration and version. CMake parses the version macros below.
#ifndef XLOSS_CONFIG_HPP
#define XLOSS_CONFIG_HPP

#define XLOSS_VERSION_MAJOR 0
#define XLOSS_VERSION_MINOR 1
#define XLOSS_VERSION_PATCH 0

// Debug-only internal invariant check. Errors a user can cause are always
// reported by exceptions (see detail/errors.hpp), never by this macro.
#ifdef XLOSS_ENABLE_ASSERT
#include <cassert>
#define XLOSS_ASSERT(cond) assert(cond)
#else
#define XLOSS_ASSERT(cond) ((void)0)
#endif

// Everything in xloss lives in an inline namespace named after the backend
// (detail/simd.hpp), so code built with and without XLOSS_NO_SIMD can be
// linked into one program without breaking the one-definition rule: to the
// linker they are different functions. Users write xloss::... as ever. The
// SIMD-versus-scalar test and the fuzzer link both builds side by side.
#ifdef XLOSS_NO_SIMD
#define XLOSS_ABI_NAMESPACE scalar_v0
#else
#define XLOSS_ABI_NAMESPACE simd_v0
#endif
// clang-format off
#define XLOSS_NAMESPACE_BEGIN namespace xloss { inline namespace XLOSS_ABI_NAMESPACE {
#define XLOSS_NAMESPACE_END } }
// clang-format on

#endif

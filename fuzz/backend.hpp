// The parts of the fuzzer that call xloss are compiled twice into one
// program: on the SIMD backend (fuzz_losses.cpp) and on the scalar fallback
// (fuzz_scalar.cpp, with XLOSS_NO_SIMD). Like the library (config.hpp), they
// live in an inline namespace named after the backend, so that the two
// builds are different functions to the linker: xloss_fuzz::simd_v0 and
// xloss_fuzz::scalar_v0. The parts that do not call xloss (decoding, the
// error model, reporting) are compiled once, in xloss_fuzz.
#ifndef XLOSS_FUZZ_BACKEND_HPP
#define XLOSS_FUZZ_BACKEND_HPP

#include <xloss/config.hpp>

// clang-format off
#define XLOSS_FUZZ_BACKEND_BEGIN namespace xloss_fuzz { inline namespace XLOSS_ABI_NAMESPACE {
#define XLOSS_FUZZ_BACKEND_END } }
// clang-format on

#endif

// fuzz_double.cpp on the scalar fallback (XLOSS_NO_SIMD), as fuzz_scalar.cpp
// is fuzz_losses.cpp's checks on it.
#define XLOSS_NO_SIMD
#include "fuzz_double.cpp"

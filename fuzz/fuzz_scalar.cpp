// The fuzz target once more, on the scalar fallback (XLOSS_NO_SIMD): the same
// decoding, calls and checks, in its own copy of everything (the anonymous
// namespace here, xloss::scalar_v0 in the library). fuzz_losses.cpp's entry
// point runs each input through both builds and compares what they return.
#define XLOSS_NO_SIMD
#define XLOSS_FUZZ_SCALAR_BUILD
#include "fuzz_losses.cpp"

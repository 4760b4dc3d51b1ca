// The fuzz checks once more, on the scalar fallback (XLOSS_NO_SIMD): the same
// driver, calls and checks as fuzz_losses.cpp, in their own copy
// (xloss_fuzz::scalar_v0, as the library is in xloss::scalar_v0).
// fuzz_losses.cpp's entry point runs each input through both builds and
// compares what they return.
#define XLOSS_NO_SIMD
#include "driver.hpp"

std::vector<backend_output> xloss_fuzz_scalar_run(const std::uint8_t* data, std::size_t size)
{
    return xloss_fuzz::scalar_v0::run_recorded(data, size);
}

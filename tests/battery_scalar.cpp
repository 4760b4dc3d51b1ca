// The backend battery on the scalar fallback: part BATTERY_PART of it (set
// by tests/CMakeLists.txt, which compiles this file once per part).
#define XLOSS_NO_SIMD
// The compiled kernel instances are the SIMD backend's (kernel_instances.hpp).
#define XLOSS_TEST_IMPLICIT_KERNELS
#include "backend_battery.hpp"

template <>
std::vector<battery_record> battery_scalar<BATTERY_PART>()
{
    return battery_part<BATTERY_PART>();
}

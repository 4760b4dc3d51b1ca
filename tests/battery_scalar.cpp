// The backend battery on the scalar fallback.
#define XLOSS_NO_SIMD
// The compiled kernel instances are the SIMD backend's (kernel_instances.hpp).
#define XLOSS_TEST_IMPLICIT_KERNELS
#define BATTERY_ENTRY battery_scalar
#include "backend_battery.hpp"

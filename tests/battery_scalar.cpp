// The backend battery on the scalar fallback.
#define XLOSS_NO_SIMD
#define BATTERY_ENTRY battery_scalar
#include "backend_battery.hpp"

// The backend battery on the SIMD backend (xsimd, for this build's -march).
#define BATTERY_ENTRY battery_simd
#include "backend_battery.hpp"

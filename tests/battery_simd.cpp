// The backend battery on the SIMD backend (xsimd, for this build's -march).
#include "backend_battery.hpp"

std::vector<battery_record> battery_simd()
{
    return join_parts([](auto part) { return battery_part<decltype(part)::value>(); });
}

// What one call of the backend battery returned (backend_battery.hpp), as
// doubles; shared by both builds, so it knows nothing of xloss.
#ifndef XLOSS_TESTS_BACKEND_RECORD_HPP
#define XLOSS_TESTS_BACKEND_RECORD_HPP

#include <string>
#include <vector>

struct battery_record
{
    std::string what;            // type, loss, shape, axis, mask, and which output
    std::vector<double> values;  // the output, flattened
    bool is_float;               // float (else double): picks the tolerance
};

std::vector<battery_record> battery_simd();
std::vector<battery_record> battery_scalar();

#endif

// What one call of the backend battery returned (backend_battery.hpp), as
// doubles; shared by both builds, so it knows nothing of xloss.
#ifndef XLOSS_TESTS_BACKEND_RECORD_HPP
#define XLOSS_TESTS_BACKEND_RECORD_HPP

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

struct battery_record
{
    std::string what;            // type, loss, shape, axis, mask, and which output
    std::vector<double> values;  // the output, flattened
    bool is_float;               // float (else double): picks the tolerance
    std::string backend;         // an xloss type's name: its inline namespace names the backend
};

// The battery in parts: entry i of the catalogue is in part i % battery_parts.
// The scalar half instantiates every kernel it calls (the SIMD half uses the
// compiled instances), so each of its parts is an object of its own, and
// they build in parallel (one object took 110 s of a 570 s test build, the
// last 80 s of it alone).
inline constexpr std::size_t battery_parts = 4;

std::vector<battery_record> battery_simd();  // every part, in order

template <std::size_t Part>
std::vector<battery_record> battery_scalar();  // one part

// part(std::integral_constant<std::size_t, P>{}) for every part P, joined in order.
template <class F, std::size_t... P>
std::vector<battery_record> join_parts(F part, std::index_sequence<P...>)
{
    std::vector<battery_record> out;
    for (const auto& records : {part(std::integral_constant<std::size_t, P>{})...})
    {
        out.insert(out.end(), records.begin(), records.end());
    }
    return out;
}

template <class F>
std::vector<battery_record> join_parts(F part)
{
    return join_parts(part, std::make_index_sequence<battery_parts>{});
}

#endif

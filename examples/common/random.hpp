// Random numbers that are the same for a given --seed on every platform.
//
// std::mt19937's output sequence is fixed by the C++ standard, but
// std::uniform_real_distribution and std::shuffle are not, so the two
// conversions the examples need are written out here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace xloss_examples
{
    using Rng = std::mt19937;

    // Uniform in [-limit, limit), from the top 24 bits (a float's mantissa).
    inline float uniform_symmetric(Rng& rng, float limit)
    {
        const float unit = static_cast<float>(rng() >> 8) * (1.0f / 16777216.0f);
        return (2.0f * unit - 1.0f) * limit;
    }

    // Fisher-Yates shuffle. The modulo bias of `rng() % n` is below
    // n / 2^32 (about 1e-5 for 60,000 examples), which does not matter here.
    inline void shuffle(std::vector<std::size_t>& order, Rng& rng)
    {
        for (std::size_t i = order.size(); i > 1; --i)
        {
            const std::size_t j = static_cast<std::size_t>(rng() % i);
            std::swap(order[i - 1], order[j]);
        }
    }
}

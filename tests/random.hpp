// Random inputs of the tests (no Catch2 here: the fuzzer shares it through
// catalogue.hpp).
#ifndef XLOSS_TESTS_RANDOM_HPP
#define XLOSS_TESTS_RANDOM_HPP

#include <cstddef>
#include <random>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

namespace xloss_test
{
    template <class T>
    xt::xarray<T> random_normal(const std::vector<std::size_t>& shape, double sd, unsigned seed)
    {
        std::mt19937 gen(seed);
        std::normal_distribution<double> dist(0.0, sd);
        xt::xarray<T> a = xt::xarray<T>::from_shape(shape);
        for (auto& v : a)
        {
            v = static_cast<T>(dist(gen));
        }
        return a;
    }

    // Probabilities along `axis` (softmax of random logits).
    template <class T>
    xt::xarray<T> random_probabilities(const std::vector<std::size_t>& shape,
                                       std::ptrdiff_t axis,
                                       unsigned seed)
    {
        xt::xarray<double> z = xt::exp(random_normal<double>(shape, 1.0, seed));
        const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + std::ptrdiff_t(shape.size())
                                                                 : axis);
        // Normalised by a plain loop, not xt::sum: xtensor 0.24.3's immediate
        // reducer picks an undefined result type under g++ -std=c++20 (the
        // C++20 robustness step d runs test_errors and test_simd_vs_scalar).
        std::size_t outer = 1, inner = 1;
        for (std::size_t a = 0; a < shape.size(); ++a)
        {
            (a < ax ? outer : inner) *= a == ax ? 1 : shape[a];
        }
        const std::size_t n = shape.empty() ? 1 : shape[ax];
        double* p = z.data();
        for (std::size_t o = 0; o < outer; ++o)
        {
            for (std::size_t j = 0; j < inner; ++j)
            {
                double total = 0;
                for (std::size_t k = 0; k < n; ++k)
                {
                    total += p[(o * n + k) * inner + j];
                }
                for (std::size_t k = 0; k < n; ++k)
                {
                    p[(o * n + k) * inner + j] /= total;
                }
            }
        }
        return xt::cast<T>(z);
    }

    inline xt::xarray<bool> random_mask(const std::vector<std::size_t>& shape, double p_true, unsigned seed)
    {
        std::mt19937 gen(seed);
        std::bernoulli_distribution dist(p_true);
        xt::xarray<bool> m = xt::xarray<bool>::from_shape(shape);
        for (auto& v : m)
        {
            v = dist(gen);
        }
        return m;
    }

    template <class T>
    xt::xarray<T> random_uniform(const std::vector<std::size_t>& shape, double lo, double hi, unsigned seed)
    {
        std::mt19937 gen(seed);
        std::uniform_real_distribution<double> dist(lo, hi);
        xt::xarray<T> a = xt::xarray<T>::from_shape(shape);
        for (auto& v : a)
        {
            v = static_cast<T>(dist(gen));
        }
        return a;
    }

    // Integer labels of the batch shape, each in [0, n) (0 when n == 0).
    inline xt::xarray<int> random_labels(const std::vector<std::size_t>& batch, std::size_t n, unsigned seed)
    {
        std::mt19937 gen(seed);
        std::uniform_int_distribution<int> dist(0, n == 0 ? 0 : static_cast<int>(n) - 1);
        xt::xarray<int> l = xt::xarray<int>::from_shape(batch);
        for (auto& v : l)
        {
            v = dist(gen);
        }
        return l;
    }
}

#endif

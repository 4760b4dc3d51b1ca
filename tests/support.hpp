// Shared test support: tolerances per dtype (written down once), comparison
// of containers, and the in-test long-double scalar reference of every loss.
#ifndef XLOSS_TESTS_SUPPORT_HPP
#define XLOSS_TESTS_SUPPORT_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xio.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xrandom.hpp>

#include "random.hpp"

namespace xloss_test
{
    // Arguments for an accuracy sweep of an elementwise function: +-a for a from
    // `from` to `to` in steps of 1% (both signs), and 2 * half + 1 points `step`
    // apart around each seam, where a piecewise form changes branch.
    template <class T>
    std::vector<T> signed_sweep(double from,
                                double to,
                                std::initializer_list<double> seams,
                                int half,
                                double step)
    {
        std::vector<T> out;
        for (double a = from; a < to; a *= 1.01)
        {
            out.push_back(static_cast<T>(a));
            out.push_back(static_cast<T>(-a));
        }
        for (const double seam : seams)
        {
            for (int k = -half; k <= half; ++k)
            {
                out.push_back(static_cast<T>(seam + k * step));
            }
        }
        return out;
    }

    // Relative and absolute tolerance per value type, the one table of the
    // tests. float: the kernels' exp/log are within a few ulp and sums of a
    // few thousand terms add rounding; double: round-off of the same sums.
    // scaled_abs is the absolute term per unit of a tensor's scale, for the
    // golden data (generic/reference.hpp: scale = the largest expected or
    // input magnitude): float inputs carry a relative rounding of 6e-8 of
    // their own magnitude, which log-sum-exp and the KL sums turn into an
    // absolute error of the result.
    template <class T>
    struct tolerance;
    template <>
    struct tolerance<float>
    {
        static constexpr double rel = 2e-5;
        static constexpr double abs = 2e-6;
        static constexpr double scaled_abs = 1e-5;
    };
    template <>
    struct tolerance<double>
    {
        static constexpr double rel = 1e-12;
        static constexpr double abs = 1e-13;
        static constexpr double scaled_abs = 1e-12;
    };

    inline bool close(double actual, double expected, double rel, double abs)
    {
        if (std::isnan(expected))
        {
            return std::isnan(actual);
        }
        if (std::isinf(expected))
        {
            return actual == expected;
        }
        return std::abs(actual - expected) <= abs + rel * std::abs(expected);
    }

    // A result against the float64 values a generator in tests/reference/
    // wrote: relative 1e-5 in float (its inputs are the values rounded),
    // 1e-12 in double, and the absolute floor given for each.
    template <class T, class A>
    void check_reference(const A& actual, const std::vector<double>& expected, double abs_float, double abs_double)
    {
        REQUIRE(actual.size() == expected.size());
        const double rel = std::is_same_v<T, float> ? 1e-5 : 1e-12;
        const double abs = std::is_same_v<T, float> ? abs_float : abs_double;
        for (std::size_t i = 0; i < expected.size(); ++i)
        {
            CAPTURE(i, actual.flat(i), expected[i]);
            CHECK(close(static_cast<double>(actual.flat(i)), expected[i], rel, abs));
        }
    }

    // Elementwise comparison with the dtype's tolerance (scaled by `factor`);
    // reports the first mismatches with their flat index.
    template <class T, class A, class E>
    void check_close(const A& actual, const E& expected, double factor = 1.0)
    {
        REQUIRE(std::vector<std::size_t>(actual.shape().begin(), actual.shape().end())
                == std::vector<std::size_t>(expected.shape().begin(), expected.shape().end()));
        const double rel = tolerance<T>::rel * factor;
        const double abs = tolerance<T>::abs * factor;
        std::size_t bad = 0;
        std::ostringstream report;
        auto a = actual.begin();
        auto e = expected.begin();
        for (std::size_t i = 0; a != actual.end(); ++a, ++e, ++i)
        {
            const double av = static_cast<double>(*a);
            const double ev = static_cast<double>(*e);
            if (!close(av, ev, rel, abs))
            {
                if (++bad <= 5)
                {
                    report.precision(17);
                    report << "  [" << i << "] actual " << av << " expected " << ev << "\n";
                }
            }
        }
        INFO("mismatches: " << bad << "\n" << report.str());
        CHECK(bad == 0);
    }

    // Exact equality (NaN equals NaN), for results that must be identical.
    template <class A, class E>
    void check_equal(const A& actual, const E& expected)
    {
        REQUIRE(std::vector<std::size_t>(actual.shape().begin(), actual.shape().end())
                == std::vector<std::size_t>(expected.shape().begin(), expected.shape().end()));
        std::size_t bad = 0;
        auto e = expected.begin();
        for (auto a = actual.begin(); a != actual.end(); ++a, ++e)
        {
            const bool same = (std::isnan(double(*a)) && std::isnan(double(*e))) || double(*a) == double(*e);
            bad += same ? 0 : 1;
        }
        CHECK(bad == 0);
    }

    // ---------------------------------------------------------------------
    // Long-double scalar reference: moves the reduced axes last (in the given
    // order), flattens to [batch, n], and applies the textbook formula per
    // slice. Independent of the library's engine, kernels and planning.

    using ld = long double;

    struct slices
    {
        std::vector<std::size_t> batch_shape;
        std::size_t count = 0, n = 0;
        std::vector<ld> x, y;
        std::vector<char> mask;
    };

    // `mask` must already have the full shape (tests broadcast it themselves).
    template <class X, class Y>
    slices to_slices(const X& x,
                     const Y& y,
                     const std::vector<std::size_t>& axes,
                     const xt::xarray<bool>* mask)
    {
        const std::size_t rank = x.dimension();
        std::vector<std::size_t> perm;
        slices s;
        for (std::size_t a = 0; a < rank; ++a)
        {
            if (std::find(axes.begin(), axes.end(), a) == axes.end())
            {
                perm.push_back(a);
                s.batch_shape.push_back(x.shape()[a]);
            }
        }
        perm.insert(perm.end(), axes.begin(), axes.end());
        s.n = 1;
        for (auto a : axes)
        {
            s.n *= x.shape()[a];
        }
        s.count = s.n == 0 ? 0 : x.size() / s.n;
        if (s.n == 0)
        {
            s.count = 1;
            for (auto e : s.batch_shape)
            {
                s.count *= e;
            }
        }
        xt::xarray<ld> px = xt::transpose(xt::xarray<ld>(xt::cast<ld>(x)), perm);
        xt::xarray<ld> py = xt::transpose(xt::xarray<ld>(xt::cast<ld>(y)), perm);
        s.x.assign(px.begin(), px.end());
        s.y.assign(py.begin(), py.end());
        if (mask)
        {
            xt::xarray<bool> pm = xt::transpose(*mask, perm);
            s.mask.assign(pm.begin(), pm.end());
        }
        else
        {
            s.mask.assign(s.x.size(), 1);
        }
        return s;
    }

    template <class F>
    xt::xarray<ld> per_slice(const slices& s, F&& f)
    {
        xt::xarray<ld> out = xt::xarray<ld>::from_shape(s.batch_shape);
        for (std::size_t i = 0; i < s.count; ++i)
        {
            // data() + offset, not &v[offset]: the vectors are empty when n == 0.
            out.flat(i) = f(s.x.data() + i * s.n, s.y.data() + i * s.n, s.mask.data() + i * s.n, s.n);
        }
        return out;
    }

    // Whether any element is selected, and the largest selected one.
    inline std::pair<bool, ld> masked_max(const ld* x, const char* m, std::size_t n)
    {
        ld mx = -std::numeric_limits<ld>::infinity();
        bool any = false;
        for (std::size_t i = 0; i < n; ++i)
        {
            if (m[i])
            {
                mx = std::max(mx, x[i]);
                any = true;
            }
        }
        return {any, mx};
    }

    inline ld ref_softmax_cross_entropy(const ld* x, const ld* y, const char* m, std::size_t n)
    {
        const auto [any, mx_selected] = masked_max(x, m, n);
        if (!any)
        {
            return 0;
        }
        ld mx = mx_selected;
        if (std::isinf(mx))
        {
            mx = 0;
        }
        ld z = 0;
        for (std::size_t i = 0; i < n; ++i)
        {
            z += m[i] ? std::exp(x[i] - mx) : 0;
        }
        ld loss = 0;
        for (std::size_t i = 0; i < n; ++i)
        {
            if (m[i] && y[i] != 0)
            {
                loss -= y[i] * (x[i] - mx - std::log(z));
            }
        }
        return loss;
    }

    inline ld ref_integer_cross_entropy(const ld* x, const char* m, std::size_t n, long long label)
    {
        const auto [any, mx_selected] = masked_max(x, m, n);
        if (!any)
        {
            return 0;
        }
        ld mx = mx_selected;
        if (!m[label])
        {
            return std::numeric_limits<ld>::infinity();
        }
        if (std::isinf(mx))
        {
            mx = 0;
        }
        ld z = 0;
        for (std::size_t i = 0; i < n; ++i)
        {
            z += m[i] ? std::exp(x[i] - mx) : 0;
        }
        return std::log(z) - (x[label] - mx);
    }

    inline ld ref_kl(const ld* lp, const ld* t, const char* m, std::size_t n, bool convex)
    {
        ld loss = 0;
        for (std::size_t i = 0; i < n; ++i)
        {
            if (!m[i])
            {
                continue;
            }
            if (t[i] != 0)
            {
                loss += t[i] * (std::log(t[i]) - lp[i]);
            }
            if (convex)
            {
                loss += std::exp(lp[i]) - t[i];
            }
        }
        return loss;
    }

    inline ld ref_cosine(const ld* a, const ld* b, const char* m, std::size_t n, double eps, bool distance)
    {
        ld dot = 0, aa = 0, bb = 0;
        bool any = false;
        for (std::size_t i = 0; i < n; ++i)
        {
            if (m[i])
            {
                dot += a[i] * b[i];
                aa += a[i] * a[i];
                bb += b[i] * b[i];
                any = true;
            }
        }
        if (!any)
        {
            return 0;
        }
        const ld denom = std::sqrt(std::max(aa, ld(eps))) * std::sqrt(std::max(bb, ld(eps)));
        const ld c = denom == 0 ? 0 : dot / denom;
        return distance ? 1 - c : c;
    }

    inline ld ref_focal_element(ld x, ld l, std::optional<double> alpha, double gamma)
    {
        const ld p = 1 / (1 + std::exp(-x));
        const ld ce = -l * std::log(p) - (1 - l) * std::log1p(-p);
        const ld p_t = p * l + (1 - p) * (1 - l);
        ld loss = ce * std::pow(1 - p_t, ld(gamma));
        if (alpha)
        {
            loss *= *alpha * l + (1 - *alpha) * (1 - l);
        }
        return loss;
    }

    inline ld ref_focal(const ld* x,
                        const ld* l,
                        const char* m,
                        std::size_t n,
                        std::optional<double> alpha,
                        double gamma)
    {
        ld loss = 0;
        for (std::size_t i = 0; i < n; ++i)
        {
            loss += m[i] ? ref_focal_element(x[i], l[i], alpha, gamma) : 0;
        }
        return loss;
    }
}

#endif

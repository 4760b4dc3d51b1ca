// Generic properties of xloss::sum(LOSS) and xloss::mean(LOSS) for every
// catalogue entry (compiled once per entry, generic_entry.cpp): the 0-d value
// is the sum of LOSS's per-slice values, divided for mean by D, the number of
// slices with a selected element (counted here from the mask, independently
// of the library); the gradient is LOSS's vjp with g / D per slice; D = 0
// gives 0 and a zero gradient; vjp takes a scalar cotangent only.
#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xview.hpp>

#include "../generic.hpp"

using namespace xloss_test;

namespace
{
    // f(LOSS reduced by R, a..., options).
    template <class E, bool Mean>
    struct reduced_calls
    {
        static constexpr auto loss()
        {
            if constexpr (Mean)
            {
                return xloss::mean(E::loss);
            }
            else
            {
                return xloss::sum(E::loss);
            }
        }

        template <class... A>
        static auto call(const typename E::options& o, const A&... a)
        {
            return E::with_options(
                o, [](const auto&... b) { return loss()(b...); }, a...);
        }

        template <class... A>
        static auto grad(const typename E::options& o, const A&... a)
        {
            return E::with_options(
                o, [](const auto&... b) { return xloss::grad(loss(), b...); }, a...);
        }

        template <class... A>
        static auto vjp(const typename E::options& o, const A&... a)
        {
            return E::with_options(
                o, [](const auto&... b) { return xloss::vjp(loss(), b...); }, a...);
        }

        template <class... A>
        static auto value_and_grad(const typename E::options& o, const A&... a)
        {
            return E::with_options(
                o, [](const auto&... b) { return xloss::value_and_grad(loss(), b...); }, a...);
        }
    };

    // Rows of a [B, C] mask with a selected element.
    std::size_t rows_with_selected(const xt::xarray<bool>& m)
    {
        std::size_t count = 0;
        for (std::size_t i = 0; i < m.shape()[0]; ++i)
        {
            bool any = false;
            for (std::size_t j = 0; j < m.shape()[1]; ++j)
            {
                any = any || m(i, j);
            }
            count += any ? 1 : 0;
        }
        return count;
    }

    // A random [B, C] mask whose row `empty` selects nothing, and D, its rows
    // with a selected element.
    std::pair<xt::xarray<bool>, std::size_t> mask_with_empty_row(const shape_t& shape,
                                                                 double p,
                                                                 unsigned seed,
                                                                 std::size_t empty)
    {
        xt::xarray<bool> m = random_mask(shape, p, seed);
        xt::view(m, empty, xt::all()) = false;
        const std::size_t D = rows_with_selected(m);
        return {std::move(m), D};
    }

    template <class T>
    double total(const xt::xarray<T>& values)
    {
        double s = 0;
        for (const T v : values)
        {
            s += static_cast<double>(v);
        }
        return s;
    }
}

TEMPLATE_LIST_TEST_CASE("xloss::sum and xloss::mean: the slices' sum, divided by the slices taking part",
                        "[generic][reduction]",
                        entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    using sum_of = reduced_calls<E, false>;
    using mean_of = reduced_calls<E, true>;
    INFO(E::name);
    const shape_t shape{7, 9};
    const auto [m, D] = mask_with_empty_row(shape, 0.5, 91, 3);
    REQUIRE(D == 6);
    const xt::xarray<bool> rows = {true, false, true, true, false, true, true};  // batch rank: 5 rows
    const auto in = make_inputs<E, T>(shape, {1}, 90, &m);
    const auto& x = in.x;
    const auto& y = in.y;
    for (const auto& o : E::option_cases())
    {
        INFO(E::describe(o));
        const xt::xarray<T> per_slice = E::call(o, x, y, -1, m);
        const xt::xarray<T> s = sum_of::call(o, x, y, -1, m);
        const xt::xarray<T> a = mean_of::call(o, x, y, -1, m);
        REQUIRE(s.dimension() == 0);
        REQUIRE(a.dimension() == 0);
        CHECK(close(s(), total(per_slice), tolerance<T>::rel, tolerance<T>::abs));
        // each slice counts for its weight (1, or a class weight: PyTorch's weighted mean)
        const double w = static_cast<double>(E::mean_weight(o));
        CHECK(close(a(), total(per_slice) / (w * D), tolerance<T>::rel, tolerance<T>::abs));
        // without a mask every row takes part; a batch-rank mask counts its rows
        CHECK(close(mean_of::call(o, x, y)(), total(xt::xarray<T>(E::call(o, x, y))) / (w * 7),
                    tolerance<T>::rel, tolerance<T>::abs));
        CHECK(close(mean_of::call(o, x, y, -1, rows)(), total(xt::xarray<T>(E::call(o, x, y, -1, rows))) / (w * 5),
                    tolerance<T>::rel, tolerance<T>::abs));
        // value_and_grad's value is the call's
        check_equal(mean_of::value_and_grad(o, x, y, -1, m).value, a);
    }
}

TEMPLATE_LIST_TEST_CASE("xloss::mean and xloss::sum: the gradient is the loss's vjp with g / D per slice",
                        "[generic][reduction][grad]",
                        entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    using sum_of = reduced_calls<E, false>;
    using mean_of = reduced_calls<E, true>;
    INFO(E::name);
    const shape_t shape{6, 8};
    const auto [m, D] = mask_with_empty_row(shape, 0.6, 95, 1);
    const auto in = make_inputs<E, T>(shape, {1}, 94, &m);
    const auto& x = in.x;
    const auto& y = in.y;
    const auto o = E::option_cases().back();
    const xt::xarray<T> per_row = xt::ones<T>(shape_t{6}) / static_cast<T>(E::mean_weight(o) * D);
    const xt::xarray<T> d_mean = mean_of::grad(o, x, y, -1, m);
    check_close<T>(d_mean, xt::xarray<T>(E::vjp(o, per_row, x, y, -1, m)));
    check_close<T>(sum_of::grad(o, x, y, -1, m), xt::xarray<T>(E::grad(o, x, y, -1, m)));
    check_equal(mean_of::value_and_grad(o, x, y, -1, m).grad, d_mean);
    // a scalar or 0-d cotangent scales the gradient; anything else throws
    check_close<T>(mean_of::vjp(o, T(2.5), x, y, -1, m), xt::xarray<T>(T(2.5) * d_mean));
    check_close<T>(mean_of::vjp(o, xt::xarray<T>(T(-1)), x, y, -1, m), xt::xarray<T>(-d_mean));
    CHECK_THROWS_AS(mean_of::vjp(o, xt::xarray<T>(xt::ones<T>(shape_t{6})), x, y, -1, m),
                    std::invalid_argument);
    CHECK_THROWS_AS(sum_of::vjp(o, xt::xarray<T>(xt::ones<T>(shape_t{1})), x, y, -1, m),
                    std::invalid_argument);
}

TEMPLATE_LIST_TEST_CASE("xloss::mean with nothing selected is 0, with a zero gradient, not NaN",
                        "[generic][reduction][where]",
                        entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    using mean_of = reduced_calls<E, true>;
    INFO(E::name);
    const shape_t shape{3, 5};
    auto in = make_inputs<E, T>(shape, {1}, 97);
    in.x.fill(std::numeric_limits<T>::quiet_NaN());  // masked out: never read into the result
    const xt::xarray<bool> none = xt::zeros<bool>(shape);
    const xt::xarray<bool> no_rows = xt::zeros<bool>(shape_t{3});
    const auto o = E::option_cases().front();
    for (const xt::xarray<bool>* w : {&none, &no_rows})
    {
        const auto vg = mean_of::value_and_grad(o, in.x, in.y, -1, *w);
        CHECK(vg.value() == T(0));
        CHECK(vg.grad == xt::zeros<T>(shape));
        CHECK(mean_of::call(o, in.x, in.y, -1, *w)() == T(0));
    }
    // an empty batch: no slice at all
    const auto empty = make_inputs<E, T>(shape_t{0, 5}, {1}, 98);
    CHECK(mean_of::call(o, empty.x, empty.y)() == T(0));
}

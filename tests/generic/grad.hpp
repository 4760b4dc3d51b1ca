// Generic gradient properties of every catalogue entry (generic.hpp:
// compiled once per entry): central finite differences (double) for every
// differentiable input, axis form and option case; reduced lengths around
// the SIMD width; the API's identities (grad == vjp with ones ==
// value_and_grad.grad, argnums pairs, upstream forms and their errors);
// masked gradients (0 off the mask, the subset's gradient on it, NaN never
// reaching them); gradient shapes when an input broadcasts; axis-form
// spellings and input kinds.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xindex_view.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xview.hpp>

#include "../gradcheck.hpp"

using namespace xloss_test;

namespace
{
    constexpr double k_inf = std::numeric_limits<double>::infinity();
    constexpr double k_nan = std::numeric_limits<double>::quiet_NaN();

    template <class T, class P>
    void check_pair_close(const P& got, const P& expected, double factor = 1.0)
    {
        check_close<T>(got.first, expected.first, factor);
        check_close<T>(got.second, expected.second, factor);
    }

    template <class P>
    void check_pair_equal(const P& got, const P& expected)
    {
        check_equal(got.first, expected.first);
        check_equal(got.second, expected.second);
    }
}

TEMPLATE_LIST_TEST_CASE("gradients match central finite differences (double)",
                        "[generic][grad][fd]",
                        selected_entries)
{
    using E = TestType;
    unsigned seed = 100;
    for (const auto& o : E::option_cases())
    {
        fd_sweep<E>(o, seed += 100);
    }
}

TEMPLATE_LIST_TEST_CASE("gradients at reduced lengths around the SIMD width",
                        "[generic][grad][lengths]",
                        entry_cases)
{
    // double: against central differences; float: against the (finite-
    // difference-checked) double gradients of the same float-rounded inputs.
    using E = typename TestType::entry;
    using T = typename TestType::T;
    unsigned seed = 1000;
    const auto o = E::option_cases()[0];
    for (std::size_t n : simd_lengths)
    {
        // rows: the reduced axis innermost; columns: an outer axis with 11
        // slices side by side (a full group of 8 doubles and a partial one)
        const grad_case rows{"rows", {2, n}, -1};
        const grad_case cols{"columns", {n, 11}, 0};
        for (const auto* c : {&rows, &cols})
        {
            INFO(E::name << ", " << c->name << ", n = " << n);
            const auto listed = listed_axes(*c);
            const xt::xarray<bool> m = random_mask(c->shape, 0.7, ++seed);
            const auto in = make_inputs<E, T>(c->shape, listed, ++seed, &m);
            const xt::xarray<double> xd = xt::cast<double>(in.x);
            const auto yd = [&]
            {
                if constexpr (E::integer_labels)
                {
                    return in.y;
                }
                else
                {
                    return xt::xarray<double>(xt::cast<double>(in.y));
                }
            }();
            if constexpr (std::is_same_v<T, double>)
            {
                check_against_fd<E>(o, xd, yd, c->axes, &m, ++seed);
                check_against_fd<E>(o, xd, yd, c->axes, nullptr, ++seed);
            }
            else
            {
                const auto d = grads_of<E>(o, in.x, in.y, c->axes, &m);
                const auto dd = grads_of<E>(o, xd, yd, c->axes, &m);
                check_close<T>(d.first, dd.first, 10.0);
                check_close<T>(d.second, dd.second, 10.0);
            }
        }
    }
}

TEMPLATE_LIST_TEST_CASE("grad == vjp with ones == value_and_grad.grad; value_and_grad.value == the loss",
                        "[generic][grad][api]",
                        entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shape_t shape{4, 3, 7};
    const xt::xarray<bool> m = random_mask(shape, 0.8, 11);
    const xt::xarray<T> ones = xt::ones<T>(shape_t{4, 3});
    const auto in = make_inputs<E, T>(shape, {2}, 20, &m);
    const auto& x = in.x;
    const auto& y = in.y;
    const auto o = E::option_cases().back();
    const xt::xarray<T> d = E::grad(o, x, y, -1, m);
    static_assert(std::is_same_v<std::decay_t<decltype(E::grad(o, x, y))>, xt::xarray<T>>,
                  "a gradient is an xt::xarray of the value type");
    REQUIRE(d.shape() == x.shape());
    const auto vg = E::value_and_grad(o, x, y, -1, m);
    check_equal(vg.grad, d);
    check_equal(vg.value, E::call(o, x, y, -1, m));
    check_equal(E::vjp(o, ones, x, y, -1, m), d);
    check_equal(E::vjp(o, T(1), x, y, -1, m), d);
    check_equal(E::template grad<0>(o, x, y, -1, m), d);
    check_equal(E::template value_and_grad<0>(o, x, y, -1, m).grad, d);
    // a scalar upstream: 0.5 * grad
    check_close<T>(E::vjp(o, T(0.5), x, y, -1, m), xt::xarray<T>(T(0.5) * d));
    // without a mask, and the default axis
    check_equal(E::value_and_grad(o, x, y).value, E::call(o, x, y));
    check_equal(E::grad(o, x, y), E::grad(o, x, y, -1));
    if constexpr (E::differentiable[1])
    {
        // both argnums: a std::pair, equal to the single ones, in the order asked
        const auto both = E::template grad<0, 1>(o, x, y, -1, m);
        static_assert(std::is_same_v<std::decay_t<decltype(both)>, std::pair<xt::xarray<T>, xt::xarray<T>>>,
                      "grad<0, 1> gives a std::pair");
        const xt::xarray<T> d1 = E::template grad<1>(o, x, y, -1, m);
        REQUIRE(d1.shape() == y.shape());
        check_equal(both.first, d);
        check_equal(both.second, d1);
        const auto swapped = E::template grad<1, 0>(o, x, y, -1, m);
        check_equal(swapped.first, d1);
        check_equal(swapped.second, d);
        const auto [value, grads] = E::template value_and_grad<0, 1>(o, x, y, -1, m);
        check_equal(value, vg.value);
        check_equal(grads.first, d);
        check_equal(grads.second, d1);
        check_equal(E::template value_and_grad<1>(o, x, y, -1, m).grad, d1);
        const auto vj = E::template vjp<0, 1>(o, ones, x, y, -1, m);
        check_equal(vj.first, d);
        check_equal(vj.second, d1);
        check_close<T>(E::template vjp<1>(o, T(0.25), x, y, -1, m), xt::xarray<T>(T(0.25) * d1));
    }
}

TEMPLATE_LIST_TEST_CASE("vjp: batch-shaped and broadcastable upstream gradients; wrong shapes throw",
                        "[generic][grad][vjp]",
                        layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const std::size_t B = 4;
    const shape_t shape{B, 3, 7};  // result [B, 3]
    const xt::xarray<bool> m = random_mask(shape, 0.8, 41);
    const xt::xarray<T> g = random_normal<T>({B, 3}, 1.0, 42);
    const xt::xarray<T> g_col = random_normal<T>({B, 1}, 1.0, 43);
    const xt::xarray<T> g_col_full = xt::broadcast(g_col, shape_t{B, 3});
    const xt::xarray<T> g_row = random_normal<T>({3}, 1.0, 44);
    const xt::xarray<T> g_row_full = xt::broadcast(g_row, shape_t{B, 3});
    const xt::xarray<T> ones = xt::ones<T>(shape_t{B, 3});
    const axes_arg last = -1;
    const auto o = E::option_cases()[0];
    const auto in = make_inputs<E, T>(shape, {2}, 50, &m);
    const auto& x = in.x;
    const auto& y = in.y;

    const auto d = grads_of<E>(o, x, y, last, &m);
    const auto scaled_by = [](const xt::xarray<T>& u, const xt::xarray<T>& grad)
    { return xt::xarray<T>(xt::view(u, xt::all(), xt::all(), xt::newaxis()) * grad); };
    // ones: the gradient of the sum
    check_pair_equal(vjps_of<E>(o, ones, x, y, last, &m), d);
    // 1 / B (a 0-d upstream): the gradient of the mean over the batch
    const xt::xarray<T> inv_b(T(1) / T(B));
    const auto mean = vjps_of<E>(o, inv_b, x, y, last, &m);
    check_close<T>(mean.first, xt::xarray<T>(d.first / T(B)));
    // batch-shaped: each slice's gradient scaled by its g
    const auto gv = vjps_of<E>(o, g, x, y, last, &m);
    check_close<T>(gv.first, scaled_by(g, d.first));
    // broadcastable: [B, 1] and [3] against the [B, 3] result
    check_pair_equal(vjps_of<E>(o, g_col, x, y, last, &m), vjps_of<E>(o, g_col_full, x, y, last, &m));
    check_pair_equal(vjps_of<E>(o, g_row, x, y, last, &m), vjps_of<E>(o, g_row_full, x, y, last, &m));
    if constexpr (E::differentiable[1])
    {
        check_close<T>(mean.second, xt::xarray<T>(d.second / T(B)));
        check_close<T>(gv.second, scaled_by(g, d.second));
    }
    // wrong shapes: std::invalid_argument naming the function
    const std::string fn = std::string("xloss::") + E::name;
    const xt::xarray<T> wrong = xt::ones<T>(shape_t{B, 2});
    const xt::xarray<T> too_long = xt::ones<T>(shape_t{B + 1});
    const xt::xarray<T> too_deep = xt::ones<T>(shape_t{1, B, 3});
    CHECK_THROWS_AS(vjps_of<E>(o, wrong, x, y, last, &m), std::invalid_argument);
    CHECK_THROWS_WITH(vjps_of<E>(o, wrong, x, y, last, &m), Catch::Contains(fn));
    CHECK_THROWS_WITH(vjps_of<E>(o, too_long, x, y, last, nullptr), Catch::Contains(fn));
    CHECK_THROWS_WITH(vjps_of<E>(o, too_deep, x, y, last, &m), Catch::Contains(fn));
    // the column kernel (axis 0, result [3, 7]) and all_axes (a 0-d result)
    const auto in0 = make_inputs<E, T>(shape, {0}, 51);
    const xt::xarray<T> g_cols = random_normal<T>({3, 7}, 1.0, 45);
    const auto dc = grads_of<E>(o, in0.x, in0.y, 0, nullptr);
    const auto vc = vjps_of<E>(o, g_cols, in0.x, in0.y, 0, nullptr);
    check_close<T>(vc.first, xt::xarray<T>(xt::view(g_cols, xt::newaxis(), xt::all(), xt::all()) * dc.first));
    const auto inall = make_inputs<E, T>(shape, {0, 1, 2}, 52);
    const auto da = grads_of<E>(o, inall.x, inall.y, xloss::all_axes, nullptr);
    check_close<T>(vjps_of<E>(o, xt::xarray<T>(T(3)), inall.x, inall.y, xloss::all_axes, nullptr).first,
                   xt::xarray<T>(T(3) * da.first));
    CHECK_THROWS_WITH(vjps_of<E>(o, g, inall.x, inall.y, xloss::all_axes, nullptr), Catch::Contains(fn));
}

TEMPLATE_LIST_TEST_CASE("masked gradients: 0 off the mask, the subset's gradient on it, no NaN",
                        "[generic][grad][where]",
                        entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shape_t shape{5, 11};
    xt::xarray<bool> m = random_mask(shape, 0.6, 81);
    xt::view(m, 3, xt::all()) = false;  // an example with nothing selected
    const axes_arg last = -1;
    const axes_arg first = 0;
    const auto in = make_inputs<E, T>(shape, {1}, 90, &m);
    const auto& x = in.x;
    const auto& y = in.y;

    // NaN / +-inf on the masked-out elements.
    const auto poison = [&](xt::xarray<T> a, unsigned salt)
    {
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            if (!m.flat(i))
            {
                const std::size_t r = (i + salt) % 3;
                a.flat(i) = r == 0 ? T(k_nan) : (r == 1 ? T(-k_inf) : T(k_inf));
            }
        }
        return a;
    };

    for (const auto& o : E::option_cases())
    {
        INFO(E::describe(o));
        const auto d = grads_of<E>(o, x, y, last, &m);
        for (std::size_t i = 0; i < shape[0]; ++i)
        {
            INFO("row " << i);
            const auto row_m = xt::view(m, i, xt::all());
            const xt::xarray<T> sx = xt::filter(xt::view(x, i, xt::all()), row_m);
            if (sx.size() == 0)
            {
                for (std::size_t j = 0; j < shape[1]; ++j)
                {
                    CHECK(d.first(i, j) == T(0));
                    CHECK((!E::differentiable[1] || d.second(i, j) == T(0)));
                }
                continue;
            }
            std::pair<xt::xarray<T>, xt::xarray<T>> sub;
            if constexpr (E::integer_labels)
            {
                int sub_label = 0;  // the label's position among the selected elements
                for (int j = 0; j < y(i); ++j)
                {
                    sub_label += m(i, std::size_t(j)) ? 1 : 0;
                }
                sub = grads_of<E>(o, sx, xt::xarray<int>(sub_label), last, nullptr);
            }
            else
            {
                const xt::xarray<T> sy = xt::filter(xt::view(y, i, xt::all()), row_m);
                sub = grads_of<E>(o, sx, sy, last, nullptr);
            }
            std::size_t k = 0;
            for (std::size_t j = 0; j < shape[1]; ++j)
            {
                if (m(i, j))
                {
                    CHECK(close(d.first(i, j), sub.first(k), tolerance<T>::rel, tolerance<T>::abs));
                    if constexpr (E::differentiable[1])
                    {
                        CHECK(close(d.second(i, j), sub.second(k), tolerance<T>::rel, tolerance<T>::abs));
                    }
                    ++k;
                }
                else
                {
                    CHECK(d.first(i, j) == T(0));
                    CHECK((!E::differentiable[1] || d.second(i, j) == T(0)));
                }
            }
        }
        // NaN and infinities under the mask reach neither the value nor the gradients
        auto bad = in;
        bad.x = poison(x, 0);
        if constexpr (!E::integer_labels)
        {
            bad.y = poison(y, 1);
        }
        check_pair_equal(grads_of<E>(o, bad.x, bad.y, last, &m), d);
        check_equal(value_of<E>(o, bad.x, bad.y, last, &m), value_of<E>(o, x, y, last, &m));
        // the same through the column kernel
        const xt::xarray<bool> mt = xt::transpose(m);
        const xt::xarray<T> xt_ = xt::transpose(x);
        const xt::xarray<T> bxt = xt::transpose(bad.x);
        if constexpr (E::integer_labels)
        {
            const auto dc = grads_of<E>(o, xt_, y, first, &mt);
            check_pair_equal(grads_of<E>(o, bxt, y, first, &mt), dc);
            check_close<T>(xt::xarray<T>(xt::transpose(dc.first)), d.first);
        }
        else
        {
            const xt::xarray<T> yt_ = xt::transpose(y);
            const xt::xarray<T> byt = xt::transpose(bad.y);
            const auto dc = grads_of<E>(o, xt_, yt_, first, &mt);
            check_pair_equal(grads_of<E>(o, bxt, byt, first, &mt), dc);
            check_close<T>(xt::xarray<T>(xt::transpose(dc.first)), d.first);
            check_close<T>(xt::xarray<T>(xt::transpose(dc.second)), d.second);
        }
        // a batch-rank mask: masked examples get 0 everywhere, even over NaN
        const xt::xarray<bool> keep = {true, false, true, true, false};
        xt::xarray<T> nan_rows = x;
        xt::view(nan_rows, 1, xt::all()) = T(k_nan);
        xt::view(nan_rows, 4, xt::all()) = T(k_nan);
        const auto db = grads_of<E>(o, nan_rows, y, last, &keep);
        const auto plain = grads_of<E>(o, x, y, last, nullptr);
        for (std::size_t i = 0; i < shape[0]; ++i)
        {
            for (std::size_t j = 0; j < shape[1]; ++j)
            {
                CHECK(db.first(i, j) == (keep(i) ? plain.first(i, j) : T(0)));
                CHECK((!E::differentiable[1] || db.second(i, j) == (keep(i) ? plain.second(i, j) : T(0))));
            }
        }
        // an all-true mask gives the unmasked gradient, exactly
        const xt::xarray<bool> yes = xt::ones<bool>(shape);
        check_pair_equal(grads_of<E>(o, x, y, last, &yes), plain);
    }
}

TEMPLATE_LIST_TEST_CASE("gradient shapes follow the inputs when one broadcasts",
                        "[generic][grad][broadcast]",
                        layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const std::size_t B = 6, C = 9;
    const shape_t shape{B, C};
    const xt::xarray<bool> m = random_mask(shape, 0.8, 101);
    const axes_arg last = -1;
    const axes_arg first = 0;
    const auto o = E::option_cases()[0];
    const auto in = make_inputs<E, T>(shape, {1}, 110, &m);
    const auto& x = in.x;
    if constexpr (!E::integer_labels)
    {
        const auto& y_full = in.y;
        {
            INFO("second input [1, C] against [B, C]: its gradient is [1, C], the sum over B");
            const xt::xarray<T> y1 = xt::view(y_full, xt::range(0, 1), xt::all());
            const xt::xarray<T> yb = xt::broadcast(y1, shape);
            const auto d = grads_of<E>(o, x, y1, last, &m);
            const auto db = grads_of<E>(o, x, yb, last, &m);
            REQUIRE(d.first.shape() == shape_t{B, C});
            REQUIRE(d.second.shape() == shape_t{1, C});
            check_equal(d.first, db.first);
            const xt::xarray<T> summed = xt::sum(db.second, {0},
                                                 xt::keep_dims | xt::evaluation_strategy::immediate);
            check_close<T>(d.second, summed, 4.0);
            const auto v = vjps_of<E>(o, xt::xarray<T>(T(2)), x, y1, last, &m);
            REQUIRE(v.second.shape() == shape_t{1, C});
            check_close<T>(v.second, xt::xarray<T>(T(2) * d.second));
        }
        {
            INFO("second input [C] against [B, C]");
            const xt::xarray<T> y1 = xt::view(y_full, 0, xt::all());
            const xt::xarray<T> yb = xt::broadcast(y1, shape);
            const auto d = grads_of<E>(o, x, y1, last, nullptr);
            REQUIRE(d.second.shape() == shape_t{C});
            const xt::xarray<T> summed = xt::sum(grads_of<E>(o, x, yb, last, nullptr).second, {0},
                                                 xt::evaluation_strategy::immediate);
            check_close<T>(d.second, summed, 4.0);
        }
    }
    {
        INFO("first input [1, C] against [B, C], reduced over axis 0");
        const auto in0 = make_inputs<E, T>(shape, {0}, 120);
        const xt::xarray<T> x1 = xt::view(in0.x, xt::range(0, 1), xt::all());
        const xt::xarray<T> xb = xt::broadcast(x1, shape);
        if constexpr (!E::integer_labels)
        {
            const auto d = grads_of<E>(o, x1, in0.y, first, &m);
            const auto db = grads_of<E>(o, xb, in0.y, first, &m);
            REQUIRE(d.first.shape() == shape_t{1, C});
            REQUIRE(d.second.shape() == shape_t{B, C});
            check_equal(d.second, db.second);
            const xt::xarray<T> summed = xt::sum(db.first, {0},
                                                 xt::keep_dims | xt::evaluation_strategy::immediate);
            check_close<T>(d.first, summed, 4.0);
        }
    }
}

TEMPLATE_LIST_TEST_CASE("gradients: every axis form spelling agrees; axes moved last transpose the gradient",
                        "[generic][grad][axes]",
                        layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shape_t shape{3, 4, 5};
    const xt::xarray<bool> m = random_mask(shape, 0.7, 142);
    const auto o = E::option_cases().back();

    SECTION("int, negative int, {k}, std::vector, std::array")
    {
        const auto in = make_inputs<E, T>(shape, {1}, 141, &m);
        const auto d = all_grads<E>(o, in.x, in.y, 1, m);
        check_pair_equal(all_grads<E>(o, in.x, in.y, -2, m), d);
        check_pair_equal(all_grads<E>(o, in.x, in.y, std::vector<int>{1}, m), d);
        check_pair_equal(all_grads<E>(o, in.x, in.y, std::array<int, 1>{1}, m), d);
        check_equal(E::value_and_grad(o, in.x, in.y, std::vector<int>{1}, m).grad, d.first);
        check_pair_equal(all_vjps<E>(o, T(1), in.x, in.y, std::vector<int>{1}, m), d);
        // a braced list, through grad, vjp and value_and_grad
        check_equal(E::with_options(o, [&](const auto&... opts)
                                    { return xloss::grad(E::loss, in.x, in.y, {1}, m, opts...); }),
                    d.first);
        check_equal(E::with_options(o, [&](const auto&... opts)
                                    { return xloss::vjp(E::loss, T(1), in.x, in.y, {1}, m, opts...); }),
                    d.first);
        check_equal(E::with_options(o, [&](const auto&... opts)
                                    { return xloss::value_and_grad(E::loss, in.x, in.y, {1}, m, opts...); })
                        .grad,
                    d.first);
    }
    // The gradient (and the value) of axis k of `sh` equals that of the copy
    // with axis k moved last.
    const auto check_moved = [&](const shape_t& sh, std::size_t k, const xt::xarray<bool>& mask,
                                 unsigned seed, const typename E::options& opts)
    {
        INFO("axis " << k << " of " << sh.size() << "-D, inner " << sh.back());
        const std::size_t rank = sh.size();
        std::vector<std::size_t> perm, inverse(rank);
        for (std::size_t ax = 0; ax < rank; ++ax)
        {
            if (ax != k)
            {
                perm.push_back(ax);
            }
        }
        perm.push_back(k);
        for (std::size_t ax = 0; ax < rank; ++ax)
        {
            inverse[perm[ax]] = ax;
        }
        const auto in = make_inputs<E, T>(sh, {k}, seed, &mask);
        const xt::xarray<T> xl = xt::transpose(in.x, perm);
        const xt::xarray<bool> ml = xt::transpose(mask, perm);
        const auto d = all_grads<E>(opts, in.x, in.y, static_cast<int>(k), mask);
        const xt::xarray<T> value = E::call(opts, in.x, in.y, static_cast<int>(k), mask);
        if constexpr (E::integer_labels)
        {
            check_close<T>(E::call(opts, xl, in.y, -1, ml), value);
            const auto dl = all_grads<E>(opts, xl, in.y, -1, ml);
            check_close<T>(xt::xarray<T>(xt::transpose(dl.first, inverse)), d.first);
        }
        else
        {
            const xt::xarray<T> yl = xt::transpose(in.y, perm);
            check_close<T>(E::call(opts, xl, yl, -1, ml), value);
            const auto dl = all_grads<E>(opts, xl, yl, -1, ml);
            check_close<T>(xt::xarray<T>(xt::transpose(dl.first, inverse)), d.first);
            check_close<T>(xt::xarray<T>(xt::transpose(dl.second, inverse)), d.second);
        }
    };
    SECTION("moving the reduced axis last transposes the gradient")
    {
        for (std::size_t k = 0; k < 3; ++k)
        {
            check_moved(shape, k, m, 150 + unsigned(k), o);
        }
    }
    SECTION("the same for inner rows longer than 16 KiB, with a partial batch")
    {
        const shape_t long_rows{1, 2, 4115};
        check_moved(long_rows, 1, random_mask(long_rows, 0.7, 143), 154, o);
    }
    SECTION("the same for an outer axis of 520 elements (streamed where a rule can)")
    {
        const shape_t tall{1, 520, 40};
        for (const auto& opts : E::option_cases())
        {
            INFO(E::describe(opts));
            check_moved(tall, 1, random_mask(tall, 0.7, 144), 155, opts);
        }
    }
    SECTION("the same for slices 4 KiB apart (streamed in blocks of fewer rows where a rule can)")
    {
        // 520 rows of doubles: the gradients streamed too; 100 of floats
        // (the values streamed, from 80 rows for integer labels).
        const shape_t apart{1, sizeof(T) == 8 ? 520 : 100, 4096 / sizeof(T)};
        check_moved(apart, 1, random_mask(apart, 0.7, 145), 156, o);
    }
    SECTION("all_axes: one slice over everything == the flattened 1-D problem")
    {
        const auto in = make_inputs<E, T>(shape, {0, 1, 2}, 160);
        const xt::xarray<T> fx = xt::flatten(in.x);
        const auto da = all_grads<E>(o, in.x, in.y, xloss::all_axes);
        if constexpr (E::integer_labels)
        {
            xt::xarray<T> df = all_grads<E>(o, fx, in.y, -1).first;
            df.reshape(shape);
            check_close<T>(da.first, df);
        }
        else
        {
            const xt::xarray<T> fy = xt::flatten(in.y);
            auto df = all_grads<E>(o, fx, fy, -1);
            df.first.reshape(shape);
            df.second.reshape(shape);
            check_pair_close<T>(da, df);
        }
    }
}

TEMPLATE_LIST_TEST_CASE("gradients of every input kind equal those of copies, with the input's shape",
                        "[generic][grad][inputs]",
                        layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shape_t shape{5, 19};
    const xt::xarray<bool> m = random_mask(shape, 0.7, 152);
    const auto rows_in = make_inputs<E, T>(shape, {1}, 151, &m);
    const auto cols_in = make_inputs<E, T>(shape, {0}, 153, &m);
    const auto o = E::option_cases().back();
    const auto rows = all_grads<E>(o, rows_in.x, rows_in.y, -1, m);
    const auto cols = all_grads<E>(o, cols_in.x, cols_in.y, 0, m);
    const auto check_kind = [&](const auto& make)
    {
        if constexpr (E::integer_labels)
        {
            const auto got = all_grads<E>(o, make(rows_in.x), rows_in.y, -1, m);
            static_assert(std::is_same_v<std::decay_t<decltype(got.first)>, xt::xarray<T>>,
                          "xt::xarray of T");
            REQUIRE(got.first.shape() == shape);
            check_close<T>(got.first, rows.first);
            check_close<T>(all_grads<E>(o, make(cols_in.x), cols_in.y, 0, m).first, cols.first);
        }
        else
        {
            const auto got = all_grads<E>(o, make(rows_in.x), make(rows_in.y), -1, m);
            static_assert(std::is_same_v<std::decay_t<decltype(got.first)>, xt::xarray<T>>,
                          "xt::xarray of T");
            REQUIRE(got.first.shape() == shape);
            check_pair_close<T>(got, rows);
            check_pair_close<T>(all_grads<E>(o, make(cols_in.x), make(cols_in.y), 0, m), cols);
        }
    };

    SECTION("column-major containers")
    {
        check_kind([](const xt::xarray<T>& a) { return xt::xarray<T, xt::layout_type::column_major>(a); });
    }
    input_kind_sections<T>(check_kind);
}

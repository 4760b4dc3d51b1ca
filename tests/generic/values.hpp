// Generic value properties of every catalogue entry (generic.hpp: compiled
// once per entry): the long-double reference over shapes, axis forms, masks
// and option cases; `where` read by rank (all-true == no mask, masked ==
// the selected subset, masked NaN / -inf never reach a result, empty slices
// give 0); the axis vocabulary (result shapes, braced lists, moving the
// reduced axes last); input kinds equal copies; unmasked NaN reaches the
// result.
#include <array>
#include <cmath>
#include <stdexcept>
#include <cstddef>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xindex_view.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xview.hpp>

#include "../generic.hpp"

using namespace xloss_test;

namespace
{
    template <class A>
    shape_t shape_of(const A& a)
    {
        return {a.shape().begin(), a.shape().end()};
    }

    // Every floating input element under a false mask set to NaN, +inf or
    // -inf in turn (labels are left alone: they have no NaN).
    template <class E, class T>
    inputs<E, T> poisoned(inputs<E, T> in, const xt::xarray<bool>& full_mask)
    {
        const T specials[] = {std::numeric_limits<T>::quiet_NaN(), -std::numeric_limits<T>::infinity(),
                              std::numeric_limits<T>::infinity()};
        for (std::size_t i = 0; i < full_mask.size(); ++i)
        {
            if (!full_mask.flat(i))
            {
                in.x.flat(i) = specials[i % 3];
                if constexpr (!E::integer_labels)
                {
                    in.y.flat(i) = specials[(i + 1) % 3];
                }
            }
        }
        return in;
    }
}

TEMPLATE_LIST_TEST_CASE("the loss equals its long-double reference over shapes, axes, masks and options",
                        "[generic][reference]",
                        entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    unsigned seed = 100;
    for (const auto& o : E::option_cases())
    {
        reference_sweep<E, T>(o, seed += 1000);
        reference_lengths<E, T>(o, seed += 1000);
    }
}

TEMPLATE_LIST_TEST_CASE("an all-true mask equals no mask, exactly", "[generic][where]", entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shape_t shape{5, 19};
    const auto in = make_inputs<E, T>(shape, {1}, 1);
    const auto elementwise = make_inputs<E, T>(shape, {}, 3);  // (labels of the no_axes batch shape)
    const xt::xarray<bool> full = xt::ones<bool>(shape);
    const xt::xarray<bool> rows = xt::ones<bool>({5});
    for (const auto& o : E::option_cases())
    {
        INFO(E::describe(o));
        const auto plain = E::call(o, in.x, in.y);
        check_equal(E::call(o, in.x, in.y, -1, full), plain);
        check_equal(E::call(o, in.x, in.y, -1, rows), plain);
        check_equal(E::call(o, elementwise.x, elementwise.y, xloss::no_axes, full),
                    E::call(o, elementwise.x, elementwise.y, xloss::no_axes));
    }
    // The column kernel.
    const auto cols = make_inputs<E, T>(shape, {0}, 2);
    check_equal(E::call(E::option_cases()[0], cols.x, cols.y, 0, full),
                E::call(E::option_cases()[0], cols.x, cols.y, 0));
}

TEMPLATE_LIST_TEST_CASE("a masked result equals the loss on the selected subset",
                        "[generic][where]",
                        entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shape_t shape{6, 13};
    xt::xarray<bool> m = random_mask(shape, 0.6, 33);
    xt::view(m, 2, xt::all()) = false;  // one example with nothing selected
    const auto in = make_inputs<E, T>(shape, {1}, 31, &m);
    for (const auto& o : E::option_cases())
    {
        INFO(E::describe(o));
        const auto f = E::call(o, in.x, in.y, -1, m);
        for (std::size_t i = 0; i < shape[0]; ++i)
        {
            INFO("row " << i);
            const auto row_m = xt::view(m, i, xt::all());
            const xt::xarray<T> sub_x = xt::filter(xt::view(in.x, i, xt::all()), row_m);
            if (sub_x.size() == 0)
            {
                CHECK(f(i) == T(0));
                continue;
            }
            if constexpr (E::integer_labels)
            {
                int sub_label = 0;  // the label's position among the selected elements
                for (int j = 0; j < in.y(i); ++j)
                {
                    sub_label += m(i, std::size_t(j)) ? 1 : 0;
                }
                const xt::xarray<int> label(sub_label);
                CHECK(close(f(i), E::call(o, sub_x, label)(), tolerance<T>::rel, tolerance<T>::abs));
            }
            else
            {
                const xt::xarray<T> sub_y = xt::filter(xt::view(in.y, i, xt::all()), row_m);
                CHECK(close(f(i), E::call(o, sub_x, sub_y)(), tolerance<T>::rel, tolerance<T>::abs));
            }
        }
    }
}

TEMPLATE_LIST_TEST_CASE("masked-out NaN and -inf do not change any result", "[generic][where]", entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    for (std::size_t n : {3u, 8u, 17u})
    {
        CAPTURE(n);
        const shape_t shape{4, n};
        auto mask = random_mask(shape, 0.7, 7);
        mask(0, 0) = mask(1, n - 1) = mask(2, 1) = mask(3, 0) = false;
        const auto in = make_inputs<E, T>(shape, {1}, 5, &mask);
        const auto bad = poisoned<E, T>(in, mask);
        const auto in0 = make_inputs<E, T>(shape, {0}, 6, &mask);
        const auto bad0 = poisoned<E, T>(in0, mask);
        const auto in_none = make_inputs<E, T>(shape, {}, 7, &mask);
        const auto bad_none = poisoned<E, T>(in_none, mask);
        const auto in_all = make_inputs<E, T>(shape, {0, 1}, 8, &mask);
        const auto bad_all = poisoned<E, T>(in_all, mask);
        for (const auto& o : E::option_cases())
        {
            INFO(E::describe(o));
            check_equal(E::call(o, bad.x, bad.y, -1, mask), E::call(o, in.x, in.y, -1, mask));
            check_equal(E::call(o, bad_none.x, bad_none.y, xloss::no_axes, mask),
                        E::call(o, in_none.x, in_none.y, xloss::no_axes, mask));
            check_equal(E::call(o, bad0.x, bad0.y, 0, mask), E::call(o, in0.x, in0.y, 0, mask));  // columns
            check_equal(E::call(o, bad_all.x, bad_all.y, xloss::all_axes, mask),
                        E::call(o, in_all.x, in_all.y, xloss::all_axes, mask));
        }
        // Columns of 90 elements (streamed where a rule has a stream form).
        const shape_t tall{90, 2 * n + 3};
        auto tall_mask = random_mask(tall, 0.7, 17);
        xt::view(tall_mask, xt::range(0, 80), 1) = false;  // slice 1: only its last rows count
        const auto in_tall = make_inputs<E, T>(tall, {0}, 18, &tall_mask);
        const auto bad_tall = poisoned<E, T>(in_tall, tall_mask);
        for (const auto& o : E::option_cases())
        {
            INFO(E::describe(o));
            check_equal(E::call(o, bad_tall.x, bad_tall.y, 0, tall_mask),
                        E::call(o, in_tall.x, in_tall.y, 0, tall_mask));
        }
        // Batch-rank masks: a NaN row masked out entirely gives 0.
        auto xr = in.x;
        xt::view(xr, 1, xt::all()) = std::numeric_limits<T>::quiet_NaN();
        const xt::xarray<bool> rows = {true, false, true, true};
        const auto o = E::option_cases()[0];
        const auto clean = E::call(o, in.x, in.y, -1, rows);
        check_equal(E::call(o, xr, in.y, -1, rows), clean);
        CHECK(clean(1) == 0);
    }
}

TEMPLATE_LIST_TEST_CASE("an unmasked NaN reaches the result", "[generic][where][nan]", entry_cases)
{
    // (xsimd 8.1's operator!= is an ordered compare on AVX-512, false for
    // NaN: a NaN target once counted as 0 there and only there.)
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    for (std::size_t at : {0u, 5u, 63u})
    {
        CAPTURE(at);
        const auto in = make_inputs<E, T>({2, 64}, {1}, 9);
        auto bad = in;
        bad.x(1, at) = std::numeric_limits<T>::quiet_NaN();
        const auto o = E::option_cases()[0];
        const auto r = E::call(o, bad.x, bad.y);
        CHECK(std::isnan(r(1)));
        CHECK(!std::isnan(r(0)));
        if constexpr (!E::integer_labels)
        {
            auto bad_y = in;
            bad_y.y(1, at) = std::numeric_limits<T>::quiet_NaN();
            const auto ry = E::call(o, bad_y.x, bad_y.y);
            CHECK(std::isnan(ry(1)));
            CHECK(!std::isnan(ry(0)));
        }
        // The same down the columns of [90, 19] (streamed where a rule can).
        const auto cols = make_inputs<E, T>({90, 19}, {0}, 10);
        auto bad_col = cols;
        bad_col.x(at, 17) = std::numeric_limits<T>::quiet_NaN();
        const auto rc = E::call(o, bad_col.x, bad_col.y, 0);
        CHECK(std::isnan(rc(17)));
        CHECK(!std::isnan(rc(16)));
    }
}

TEMPLATE_LIST_TEST_CASE("a slice with nothing selected gives 0", "[generic][where]", entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shape_t shape{3, 6};
    xt::xarray<bool> mask = xt::ones<bool>(shape);
    xt::view(mask, 1, xt::all()) = false;
    const xt::xarray<bool> rows = {true, false, true};
    const auto in = make_inputs<E, T>(shape, {1}, 8, &mask);
    for (const auto& o : E::option_cases())
    {
        INFO(E::describe(o));
        const auto r = E::call(o, in.x, in.y, -1, mask);
        CHECK(r(1) == 0);
        CHECK(r(0) != 0);
        CHECK(E::call(o, in.x, in.y, -1, rows)(1) == 0);
        const xt::xarray<bool> none = xt::zeros<bool>(shape);
        const auto in_all = make_inputs<E, T>(shape, {0, 1}, 11);
        const auto in_none = make_inputs<E, T>(shape, {}, 12);
        CHECK(E::call(o, in_all.x, in_all.y, xloss::all_axes, none)() == 0);
        for (auto v : E::call(o, in_none.x, in_none.y, xloss::no_axes, none))
        {
            CHECK(v == 0);
        }
    }
    // Column kernel: axis 0 with a column fully masked.
    xt::xarray<bool> cols = xt::ones<bool>(shape);
    xt::view(cols, xt::all(), 4) = false;
    const auto in0 = make_inputs<E, T>(shape, {0}, 9, &cols);
    CHECK(E::call(E::option_cases()[0], in0.x, in0.y, 0, cols)(4) == 0);
    // Empty reduced extent: no elements at all. A class index into an empty
    // slice is out of range (as in PyTorch) unless a batch-rank mask leaves
    // the slice out.
    const auto empty = make_inputs<E, T>({3, 0}, {1}, 10);
    const auto o0 = E::option_cases()[0];
    xt::xarray<T> r;
    if constexpr (E::integer_labels)
    {
        CHECK_THROWS_AS(E::call(o0, empty.x, empty.y), std::out_of_range);
        r = E::call(o0, empty.x, empty.y, -1, xt::xarray<bool>(xt::zeros<bool>({3})));
    }
    else
    {
        r = E::call(o0, empty.x, empty.y);
    }
    REQUIRE(r.size() == 3);
    CHECK(r(0) == 0);
    CHECK(r(2) == 0);
}

TEMPLATE_LIST_TEST_CASE("masks read by rank: [B] masks examples even when B == C, [1, C] masks classes",
                        "[generic][where]",
                        layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const auto in = make_inputs<E, T>({4, 4}, {1}, 10);
    const auto o = E::option_cases()[0];
    const xt::xarray<bool> examples = {true, false, true, false};
    const auto by_example = E::call(o, in.x, in.y, -1, examples);
    const auto full = E::call(o, in.x, in.y);
    CHECK(by_example(0) == full(0));
    CHECK(by_example(1) == 0);
    CHECK(by_example(2) == full(2));
    CHECK(by_example(3) == 0);
    const xt::xarray<bool> classes = {{true, false, true, false}};
    xt::xarray<bool> expanded = xt::ones<bool>({4, 4});
    xt::view(expanded, xt::all(), 1) = false;
    xt::view(expanded, xt::all(), 3) = false;
    check_equal(E::call(o, in.x, in.y, -1, classes), E::call(o, in.x, in.y, -1, expanded));
    // Integral masks work like bool masks.
    const xt::xarray<int> int_classes = {{1, 0, 2, 0}};
    check_equal(E::call(o, in.x, in.y, -1, int_classes), E::call(o, in.x, in.y, -1, expanded));
    // An NCHW batch mask [N, H, W] masks pixels for axis = 1.
    const auto nchw = make_inputs<E, T>({2, 5, 3, 4}, {1}, 12);
    const auto pixels = random_mask({2, 3, 4}, 0.6, 14);
    const auto r = E::call(o, nchw.x, nchw.y, 1, pixels);
    const auto all = E::call(o, nchw.x, nchw.y, 1);
    for (std::size_t i = 0; i < r.size(); ++i)
    {
        CHECK(r.flat(i) == (pixels.flat(i) ? all.flat(i) : T(0)));
    }
}

TEMPLATE_LIST_TEST_CASE("every axis form gives the documented result shape; braced lists are axes",
                        "[generic][axes]",
                        layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    using S = shape_t;
    const shape_t shape{2, 3, 4};
    const auto o = E::option_cases().back();
    // (labels of the batch shape of each form: make them per form)
    const auto in = [&](std::vector<std::size_t> listed) { return make_inputs<E, T>(shape, listed, 1); };
    const auto last = in({2});
    CHECK(shape_of(E::loss(last.x, last.y)) == S{2, 3});
    CHECK(shape_of(E::loss(last.x, last.y, -1)) == S{2, 3});
    CHECK(shape_of(E::call(o, in({0}).x, in({0}).y, 0)) == S{3, 4});
    CHECK(shape_of(E::call(o, in({1}).x, in({1}).y, -2)) == S{2, 4});
    CHECK(shape_of(E::loss(in({1}).x, in({1}).y, {1})) == S{2, 4});
    CHECK(shape_of(E::loss(in({0, 2}).x, in({0, 2}).y, {0, 2})) == S{3});
    CHECK(shape_of(E::loss(in({2, 0}).x, in({2, 0}).y, {2, 0})) == S{3});
    CHECK(shape_of(E::call(o, in({1}).x, in({1}).y, std::vector<int>{1})) == S{2, 4});
    CHECK(shape_of(E::call(o, in({2, 0}).x, in({2, 0}).y, std::array<int, 2>{-1, -3})) == S{3});
    CHECK(shape_of(E::call(o, in({}).x, in({}).y, xloss::no_axes)) == S{2, 3, 4});
    const auto all_in = in({0, 1, 2});
    const auto all = E::call(o, all_in.x, all_in.y, xloss::all_axes);
    CHECK(all.dimension() == 0);
    CHECK(all.size() == 1);
    check_close<T>(E::call(o, all_in.x, all_in.y, std::vector<int>{0, 1, 2}), all);
    if constexpr (E::has_options)
    {
        // A braced list followed by options is still an axis list.
        CHECK(shape_of(E::loss(in({1}).x, in({1}).y, {1}, o)) == S{2, 4});
        const auto two = in({0, 2});
        CHECK(shape_of(E::loss(two.x, two.y, {0, 2}, o)) == S{3});
        check_equal(E::loss(two.x, two.y, {0, 2}, o), E::call(o, two.x, two.y, std::vector<int>{0, 2}));
    }
}

TEMPLATE_LIST_TEST_CASE("moving the reduced axes last changes nothing", "[generic][axes]", layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shape_t shape{4, 6, 5};
    const auto mask = random_mask(shape, 0.8, 7);
    for (const auto& o : E::option_cases())
    {
        INFO(E::describe(o));
        for (std::size_t k = 0; k < 3; ++k)
        {
            INFO("axis " << k);
            std::vector<std::size_t> perm;
            for (std::size_t a = 0; a < 3; ++a)
            {
                if (a != k)
                {
                    perm.push_back(a);
                }
            }
            perm.push_back(k);
            const auto in = make_inputs<E, T>(shape, {k}, 5 + unsigned(k), &mask);
            const xt::xarray<T> x_last = xt::transpose(in.x, perm);
            const xt::xarray<bool> m_last = xt::transpose(mask, perm);
            const int ax = static_cast<int>(k);
            if constexpr (E::integer_labels)
            {
                check_close<T>(E::call(o, in.x, in.y, ax, mask), E::call(o, x_last, in.y, -1, m_last));
                check_close<T>(E::call(o, in.x, in.y, ax), E::call(o, x_last, in.y, 2));
            }
            else
            {
                const xt::xarray<T> y_last = xt::transpose(in.y, perm);
                check_close<T>(E::call(o, in.x, in.y, ax, mask), E::call(o, x_last, y_last, -1, m_last));
                check_close<T>(E::call(o, in.x, in.y, ax), E::call(o, x_last, y_last, 2));
            }
        }
        // Two non-adjacent axes ({0, 2}, planned by transposition) against moving them last.
        const auto in = make_inputs<E, T>(shape, {0, 2}, 9);
        const xt::xarray<T> x02 = xt::transpose(in.x, {1, 0, 2});
        if constexpr (E::integer_labels)
        {
            check_close<T>(E::call(o, in.x, in.y, std::vector<int>{0, 2}),
                           E::call(o, x02, in.y, std::vector<int>{1, 2}));
        }
        else
        {
            const xt::xarray<T> y02 = xt::transpose(in.y, {1, 0, 2});
            check_close<T>(E::call(o, in.x, in.y, std::vector<int>{0, 2}),
                           E::call(o, x02, y02, std::vector<int>{1, 2}));
        }
    }
}

// A call larger than one chunk whose inputs are not read in place runs
// chunk by chunk (detail/chunks.hpp): the same kernels on the same values.
TEMPLATE_LIST_TEST_CASE("inputs larger than a chunk, lazy or broadcast, give the results of copies exactly",
                        "[generic][inputs][chunks]",
                        layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const auto o = E::option_cases().back();
    std::vector<xt::xarray<T>> keep;
    keep.reserve(8);  // expressions hold references to its elements
    // 2 * (a / 2) == a exactly: a lazy expression of a's values.
    const auto lazy = [&](const xt::xarray<T>& a) -> decltype(auto)
    {
        keep.push_back(a / T(2));
        return T(2) * keep.back();
    };
    const auto check_lazy = [&](const auto& in, const auto& axis, const xt::xarray<bool>& m)
    {
        if constexpr (E::integer_labels)
        {
            check_equal(E::call(o, lazy(in.x), in.y, axis, m), E::call(o, in.x, in.y, axis, m));
            check_equal(all_grads<E>(o, lazy(in.x), in.y, axis, m).first,
                        all_grads<E>(o, in.x, in.y, axis, m).first);
        }
        else
        {
            check_equal(E::call(o, lazy(in.x), lazy(in.y), axis, m), E::call(o, in.x, in.y, axis, m));
            const auto got = all_grads<E>(o, lazy(in.x), lazy(in.y), axis, m);
            const auto want = all_grads<E>(o, in.x, in.y, axis, m);
            check_equal(got.first, want.first);
            check_equal(got.second, want.second);
        }
    };
    SECTION("rows: [300, 257] over the last axis, two chunks")
    {
        const shape_t shape{300, 257};
        const xt::xarray<bool> m = random_mask(shape, 0.8, 61);
        const auto in = make_inputs<E, T>(shape, {1}, 62, &m);
        check_lazy(in, -1, m);
        if constexpr (!E::integer_labels)
        {
            // A [1, C] second input broadcast, chunk by chunk.
            const xt::xarray<T> y1 = xt::view(in.y, xt::range(0, 1), xt::all());
            const xt::xarray<T> yb = xt::broadcast(y1, shape);
            check_equal(E::call(o, in.x, y1, -1, m), E::call(o, in.x, yb, -1, m));
        }
        // Views with gaps into larger arrays.
        const auto gappy = [&](const xt::xarray<T>& a)
        {
            keep.push_back(xt::zeros<T>({302, 261}));
            xt::view(keep.back(), xt::range(1, 301), xt::range(3, 260)) = a;
            return xt::view(keep.back(), xt::range(1, 301), xt::range(3, 260));
        };
        if constexpr (E::integer_labels)
        {
            check_equal(E::call(o, gappy(in.x), in.y, -1, m), E::call(o, in.x, in.y, -1, m));
        }
        else
        {
            check_equal(E::call(o, gappy(in.x), gappy(in.y), -1, m), E::call(o, in.x, in.y, -1, m));
        }
    }
    SECTION("NCHW: [9, 5, 48, 48] over axis 1, two chunks")
    {
        const shape_t shape{9, 5, 48, 48};
        const xt::xarray<bool> m = random_mask(shape, 0.8, 63);
        check_lazy(make_inputs<E, T>(shape, {1}, 64, &m), 1, m);
    }
    SECTION("no axes: every element its own slice")
    {
        const shape_t shape{300, 257};
        const xt::xarray<bool> m = random_mask(shape, 0.8, 65);
        check_lazy(make_inputs<E, T>(shape, {}, 66, &m), xloss::no_axes, m);
    }
}

TEMPLATE_LIST_TEST_CASE("input kinds give the results of copies", "[generic][inputs]", layout_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shape_t shape{5, 19};
    const xt::xarray<bool> m = random_mask(shape, 0.7, 53);
    const auto rows_in = make_inputs<E, T>(shape, {1}, 51, &m);
    const auto cols_in = make_inputs<E, T>(shape, {0}, 52, &m);
    const auto o = E::option_cases().back();
    const auto expected = E::call(o, rows_in.x, rows_in.y, -1, m);
    const auto expected_cols = E::call(o, cols_in.x, cols_in.y, 0, m);
    // The first input as another kind (the second too when it is floating).
    const auto check_kind = [&](const auto& make)
    {
        if constexpr (E::integer_labels)
        {
            check_close<T>(E::call(o, make(rows_in.x), rows_in.y, -1, m), expected);
            check_close<T>(E::call(o, make(cols_in.x), cols_in.y, 0, m), expected_cols);
        }
        else
        {
            check_close<T>(E::call(o, make(rows_in.x), make(rows_in.y), -1, m), expected);
            check_close<T>(E::call(o, make(cols_in.x), make(cols_in.y), 0, m), expected_cols);
        }
    };

    SECTION("column-major containers")
    {
        check_kind([](const xt::xarray<T>& a) { return xt::xarray<T, xt::layout_type::column_major>(a); });
        const xt::xarray<bool, xt::layout_type::column_major> mc = m;
        check_close<T>(E::call(o, rows_in.x, rows_in.y, -1, mc), expected);
    }
    input_kind_sections<T>(check_kind);
    SECTION("a broadcasting second input: [1, C] against [B, C]")
    {
        if constexpr (!E::integer_labels)
        {
            const xt::xarray<T> y1 = xt::view(rows_in.y, xt::range(0, 1), xt::all());
            const xt::xarray<T> yb = xt::broadcast(y1, shape);
            check_equal(E::call(o, rows_in.x, y1, -1, m), E::call(o, rows_in.x, yb, -1, m));
            check_close<T>(E::call(o, rows_in.x, y1, -1, m), reference_values<E>(o, rows_in.x, yb, {1}, &m));
        }
    }
}

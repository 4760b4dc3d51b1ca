// cosine_similarity, cosine_distance and cosine_options: Optax's literal
// values, hand-computed values (epsilon clips the *squared* norm), the
// long-double reference of support.hpp on random data of several shapes,
// axes and masks, metamorphic properties (mask == dropping the masked
// elements, axis k == moving k last, scale invariance, layouts and input
// kinds), and the edges (squared norms that underflow or overflow, zero
// vectors, masked NaN / -inf, all-masked slices).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xindex_view.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xview.hpp>

#include <xloss/xloss.hpp>

#include "gradcheck.hpp"

namespace
{
    using namespace xloss_test;
    using namespace xloss_test::sweep;
    using shape_t = std::vector<std::size_t>;

    // ---------------------------------------------------------------------
    // Shapes, axes and masks of the reference sweep.

    // The catalogue entry's long-double reference over the broadcast inputs.
    template <class T>
    xt::xarray<ld> reference(const xt::xarray<T>& a,
                             const xt::xarray<T>& b,
                             const std::vector<std::size_t>& reduced,
                             const xt::xarray<bool>* full_mask,
                             double epsilon,
                             bool distance)
    {
        shape_t full;
        {
            xt::xarray<T> probe = a + b;
            full.assign(probe.shape().begin(), probe.shape().end());
        }
        const xt::xarray<T> ba = xt::broadcast(a, full);
        const xt::xarray<bool> m = full_mask ? xt::xarray<bool>(xt::broadcast(*full_mask, full))
                                             : xt::xarray<bool>();
        const xloss::cosine_options o{epsilon};
        return distance
                   ? reference_values<cosine_distance_entry>(o, ba, b, reduced, full_mask ? &m : nullptr)
                   : reference_values<cosine_similarity_entry>(o, ba, b, reduced, full_mask ? &m : nullptr);
    }

    // With sd = 0.15 the squared norms of short slices fall below epsilon =
    // 0.5 and those of long slices do not: both sides of the clip are covered.
}

// -------------------------------------------------------------------------
// Literal values

TEMPLATE_TEST_CASE("cosine: Optax's literal values", "[cosine]", float, double)
{
    using T = TestType;
    // optax/losses/_regression_test.py, CosineDistanceTest.setUp
    // (google-deepmind/optax): distances [0.9358251989, 1.0464068465]
    // ("from scipy"), similarities 1 - those. Optax checks atol 1e-4; the
    // exact values of these inputs are 0.93582520652 and 1.04640683515, so
    // 1e-6 holds.
    const xt::xarray<T> ys = {{10.0, 1.0, -2.0}, {1.0, 4.0, 0.2}};
    const xt::xarray<T> ts = {{0.0, 1.2, 0.2}, {1.0, -0.3, 0.0}};
    const xt::xarray<double> expected = {0.9358251989, 1.0464068465};

    const xt::xarray<T> distance = xloss::cosine_distance(ys, ts);
    const xt::xarray<T> similarity = xloss::cosine_similarity(ys, ts);
    REQUIRE(distance.shape() == std::vector<std::size_t>{2});
    REQUIRE(similarity.shape() == std::vector<std::size_t>{2});
    for (std::size_t i = 0; i < 2; ++i)
    {
        CHECK(distance(i) == Approx(expected(i)).margin(1e-6).epsilon(0));
        CHECK(similarity(i) == Approx(1.0 - expected(i)).margin(1e-6).epsilon(0));
    }
    check_close<T>(distance, reference(ys, ts, {1}, nullptr, 0.0, true));
    check_close<T>(similarity, reference(ys, ts, {1}, nullptr, 0.0, false));
    // test_scalar_*: one row, a 0-d result
    const xt::xarray<T> y0 = xt::view(ys, 0, xt::all());
    const xt::xarray<T> t0 = xt::view(ts, 0, xt::all());
    CHECK(xloss::cosine_distance(y0, t0).dimension() == 0);
    CHECK(xloss::cosine_distance(y0, t0)() == Approx(expected(0)).margin(1e-6).epsilon(0));
    CHECK(xloss::cosine_similarity(y0, t0)() == Approx(1.0 - expected(0)).margin(1e-6).epsilon(0));
}

TEMPLATE_TEST_CASE("cosine: hand-computed values", "[cosine]", float, double)
{
    using T = TestType;
    SECTION("the documented example")
    {
        // {1, 0} . {1, 1} = 1; |{1, 0}| = 1, |{1, 1}| = sqrt 2: 1 / sqrt 2 = 0.70710678
        const xt::xarray<T> a = {T(1), T(0)};
        const xt::xarray<T> b = {T(1), T(1)};
        CHECK(xloss::cosine_similarity(a, b)() == Approx(0.70710678).margin(1e-7).epsilon(0));
        CHECK(xloss::cosine_distance(a, b)() == Approx(0.29289322).margin(1e-7).epsilon(0));
    }
    SECTION("a batch: 3-4-5, orthogonal, antiparallel, parallel")
    {
        // {3, 4, 0} . {4, 3, 0} = 24, norms 5 and 5: 0.96
        // {1, 2, 2} . {2, -1, 0} = 0: 0
        // {1, -2, 3} . {-2, 4, -6} = -28, norms sqrt 14 and 2 sqrt 14: -1
        // {1, 1, 1} . {2, 2, 2} = 6, norms sqrt 3 and 2 sqrt 3: 1
        const xt::xarray<T> a = {{3, 4, 0}, {1, 2, 2}, {1, -2, 3}, {1, 1, 1}};
        const xt::xarray<T> b = {{4, 3, 0}, {2, -1, 0}, {-2, 4, -6}, {2, 2, 2}};
        const auto s = xloss::cosine_similarity(a, b);
        const auto d = xloss::cosine_distance(a, b);
        REQUIRE(s.shape() == std::vector<std::size_t>{4});
        const double expected[] = {0.96, 0.0, -1.0, 1.0};
        for (std::size_t i = 0; i < 4; ++i)
        {
            CHECK(s(i) == Approx(expected[i]).margin(1e-6));
            CHECK(d(i) == Approx(1.0 - expected[i]).margin(1e-6));
        }
        // along axis 0 (columns): {3, 1, 1, 1} . {4, 2, -2, 2} = 12 + 2 - 2 + 2 = 14,
        // norms sqrt 12 and sqrt 28: 14 / sqrt(336) = 0.76376262
        CHECK(xloss::cosine_similarity(a, b, 0)(0) == Approx(0.76376262).margin(1e-6));
    }
    SECTION("epsilon clips the squared norm, not the norm")
    {
        // a = {0.001, 0}: S(a a) = 1e-6 < epsilon = 1e-4, so |a| becomes
        // sqrt(1e-4) = 0.01 and cos = 0.001 / (0.01 * 1) = 0.1. (Clipping the
        // norm itself, max(0.001, 1e-4) = 0.001, would give 1.)
        const xt::xarray<T> a = {T(0.001), T(0)};
        const xt::xarray<T> b = {T(1), T(0)};
        const xloss::cosine_options opts{1e-4};
        CHECK(xloss::cosine_similarity(a, b, opts)() == Approx(0.1).epsilon(1e-5));
        CHECK(xloss::cosine_distance(a, b, opts)() == Approx(0.9).epsilon(1e-5));
        // without epsilon: the true cosine, 1
        CHECK(xloss::cosine_similarity(a, b)() == Approx(1.0).epsilon(1e-6));
        // both clipped: b = {0.002, 0}: 2e-6 / (0.01 * 0.01) = 0.02
        const xt::xarray<T> b2 = {T(0.002), T(0)};
        CHECK(xloss::cosine_similarity(a, b2, opts)() == Approx(0.02).epsilon(1e-5));
        // epsilon below the squared norms changes nothing: {3, 4} . {4, 3} / 25
        const xt::xarray<T> c = {T(3), T(4)};
        const xt::xarray<T> d = {T(4), T(3)};
        CHECK(xloss::cosine_similarity(c, d, xloss::cosine_options{24.0})() == Approx(0.96).epsilon(1e-6));
        // ... and above them: sqrt(max(25, 100)) = 10 each: 24 / 100
        CHECK(xloss::cosine_similarity(c, d, xloss::cosine_options{100.0})() == Approx(0.24).epsilon(1e-6));
    }
    SECTION("options in every call form")
    {
        const xt::xarray<T> a = {{T(0.001), T(0)}, {T(3), T(4)}};
        const xt::xarray<T> b = {{T(1), T(0)}, {T(4), T(3)}};
        const xt::xarray<bool> m = {{true, true}, {true, false}};
        const xloss::cosine_options opts{1e-4};
        const auto by_opts = xloss::cosine_similarity(a, b, opts);
        CHECK(by_opts(0) == Approx(0.1).epsilon(1e-5));
        CHECK(by_opts(1) == Approx(0.96).epsilon(1e-6));
        check_equal(xloss::cosine_similarity(a, b, -1, opts), by_opts);
        check_equal(xloss::cosine_similarity(a, b, {1}, opts), by_opts);
        check_equal(xloss::cosine_similarity(a, b, xloss::cosine_options{1e-4}), by_opts);
        const auto masked = xloss::cosine_similarity(a, b, 1, m, opts);
        CHECK(masked(0) == Approx(0.1).epsilon(1e-5));
        // row 1 keeps {3} and {4}: 12 / (3 * 4) = 1
        CHECK(masked(1) == Approx(1.0).epsilon(1e-6));
        check_equal(xloss::cosine_distance(a, b, {1}, m, opts), xt::xarray<T>(T(1) - masked));
        // the default options are epsilon = 0
        CHECK(xloss::cosine_options{}.epsilon == 0.0);
        check_equal(xloss::cosine_similarity(a, b, xloss::cosine_options{}), xloss::cosine_similarity(a, b));
    }
}

// -------------------------------------------------------------------------
// Long-double reference on random data

TEMPLATE_TEST_CASE("cosine: the reference sweep on small inputs, where epsilon clips many norms",
                   "[cosine][reference]",
                   float,
                   double)
{
    // The generic sweep (generic.hpp) with inputs scaled to sd 0.15: with
    // epsilon 0.5 most squared norms are clipped, some are not; and epsilon 4
    // at every length around the SIMD width.
    using T = TestType;
    reference_sweep<cosine_similarity_entry, T>(xloss::cosine_options{0.5}, 100, 0.15);
    reference_sweep<cosine_distance_entry, T>(xloss::cosine_options{0.5}, 300, 0.15);
    reference_lengths<cosine_distance_entry, T>(xloss::cosine_options{4.0}, 500);
}

// -------------------------------------------------------------------------
// Axis forms and types

TEMPLATE_TEST_CASE("cosine: axis forms; braced lists are axes, not options", "[cosine][axes]", float, double)
{
    using T = TestType;
    const shape_t shape{3, 4, 5};
    const xt::xarray<T> a = random_normal<T>(shape, 1.0, 21);
    const xt::xarray<T> b = random_normal<T>(shape, 1.0, 22);

    SECTION("default axis is -1")
    {
        check_equal(xloss::cosine_similarity(a, b), xloss::cosine_similarity(a, b, -1));
        check_close<T>(xloss::cosine_similarity(a, b), reference(a, b, {2}, nullptr, 0.0, false));
    }
    SECTION("{1} is the axis 1")
    {
        const auto braced = xloss::cosine_similarity(a, b, {1});
        REQUIRE(braced.shape() == std::vector<std::size_t>{3, 5});
        check_equal(braced, xloss::cosine_similarity(a, b, 1));
        check_equal(xloss::cosine_distance(a, b, {1}), xloss::cosine_distance(a, b, 1));
        check_close<T>(braced, reference(a, b, {1}, nullptr, 0.0, false));
        check_equal(xloss::cosine_similarity(a, b, {-2}), braced);
        check_equal(xloss::cosine_similarity(a, b, std::array<int, 1>{1}), braced);
    }
    SECTION("{0, 2} is the axis list")
    {
        const auto braced = xloss::cosine_distance(a, b, {0, 2});
        REQUIRE(braced.shape() == std::vector<std::size_t>{4});
        check_close<T>(braced, reference(a, b, {0, 2}, nullptr, 0.0, true));
        check_close<T>(xloss::cosine_distance(a, b, {2, 0}), braced);
        check_close<T>(xloss::cosine_distance(a, b, std::vector<int>{0, 2}), braced);
        const xt::xarray<bool> m = random_mask(shape, 0.7, 24);
        check_close<T>(xloss::cosine_distance(a, b, {0, 2}, m), reference(a, b, {0, 2}, &m, 0.0, true));
        check_close<T>(xloss::cosine_distance(a, b, {0, 2}, m, xloss::cosine_options{2.0}),
                       reference(a, b, {0, 2}, &m, 2.0, true));
    }
    SECTION("all_axes: one cosine of the flattened tensors, a 0-d container")
    {
        const auto all = xloss::cosine_similarity(a, b, xloss::all_axes);
        CHECK(all.dimension() == 0);
        check_close<T>(all, reference(a, b, {0, 1, 2}, nullptr, 0.0, false));
        check_close<T>(xloss::cosine_similarity(a, b, {0, 1, 2}), all);
    }
    SECTION("no_axes: elementwise sign(a b), masked elements 0 (distance too)")
    {
        const xt::xarray<bool> m = random_mask(shape, 0.5, 25);
        const auto s = xloss::cosine_similarity(a, b, xloss::no_axes, m);
        const auto d = xloss::cosine_distance(a, b, xloss::no_axes, m);
        REQUIRE(s.shape() == a.shape());
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            const T sign = (a.flat(i) * b.flat(i)) > 0 ? T(1) : T(-1);
            CHECK(s.flat(i) == Approx(m.flat(i) ? sign : T(0)).margin(1e-6));
            CHECK(d.flat(i) == Approx(m.flat(i) ? T(1) - sign : T(0)).margin(1e-6));
        }
    }
    SECTION("an axis out of range throws, naming the function")
    {
        CHECK_THROWS_AS(xloss::cosine_similarity(a, b, 3), std::invalid_argument);
        CHECK_THROWS_WITH(xloss::cosine_distance(a, b, {0, 0}), Catch::Contains("xloss::cosine_distance"));
    }
}

TEST_CASE("cosine: result types", "[cosine]")
{
    const xt::xarray<float> f = {{1.f, 2.f}};
    const xt::xarray<double> d = {{1.0, 2.0}};
    const xt::xarray<int> i = {{2, 1}};
    static_assert(std::is_same_v<decltype(xloss::cosine_similarity(f, f)), xt::xarray<float>>,
                  "float stays float");
    static_assert(std::is_same_v<decltype(xloss::cosine_distance(d, d)), xt::xarray<double>>,
                  "double stays double");
    static_assert(std::is_same_v<decltype(xloss::cosine_similarity(f, d)), xt::xarray<double>>,
                  "common type");
    // integral targets are accepted: {1, 2} . {2, 1} / 5 = 0.8
    const auto with_int = xloss::cosine_similarity(f, i);
    static_assert(std::is_same_v<decltype(with_int), const xt::xarray<float>>,
                  "the floating type of the input");
    CHECK(with_int(0) == Approx(0.8).epsilon(1e-6));
}

// -------------------------------------------------------------------------
// Properties

TEMPLATE_TEST_CASE("cosine: axis k equals moving k last; scale invariance", "[cosine][axes]", float, double)
{
    using T = TestType;
    const shape_t shape{4, 5, 6};
    const xt::xarray<T> a = random_normal<T>(shape, 1.0, 41);
    const xt::xarray<T> b = random_normal<T>(shape, 1.0, 42);
    const xt::xarray<bool> m = random_mask(shape, 0.7, 43);
    SECTION("transposing input, mask and axis together")
    {
        for (std::size_t k = 0; k < 3; ++k)
        {
            INFO("axis " << k);
            std::vector<std::size_t> perm;
            for (std::size_t ax = 0; ax < 3; ++ax)
            {
                if (ax != k)
                {
                    perm.push_back(ax);
                }
            }
            perm.push_back(k);
            const xt::xarray<T> a_last = xt::transpose(a, perm);
            const xt::xarray<T> b_last = xt::transpose(b, perm);
            const xt::xarray<bool> m_last = xt::transpose(m, perm);
            const int ax = static_cast<int>(k);
            check_close<T>(xloss::cosine_similarity(a, b, ax), xloss::cosine_similarity(a_last, b_last, -1));
            check_close<T>(xloss::cosine_distance(a, b, ax, m),
                           xloss::cosine_distance(a_last, b_last, -1, m_last));
        }
    }
    SECTION("cos(k a, b) == cos(a, b) for k > 0, and -cos(a, b) for k < 0")
    {
        // multiplying by a power of two is exact
        const auto base = xloss::cosine_similarity(a, b, 1, m);
        check_close<T>(xloss::cosine_similarity(xt::xarray<T>(T(8) * a), b, 1, m), base);
        check_close<T>(xloss::cosine_similarity(a, xt::xarray<T>(T(0.125) * b), 1, m), base);
        check_close<T>(xloss::cosine_similarity(xt::xarray<T>(T(-4) * a), b, 1, m), xt::xarray<T>(-base));
        // symmetric in its inputs
        check_close<T>(xloss::cosine_similarity(b, a, 1, m), base);
    }
}

// -------------------------------------------------------------------------
// Edges

TEMPLATE_TEST_CASE("cosine: squared norms that underflow or overflow still give the true cosine",
                   "[cosine][edges]",
                   float,
                   double)
{
    using T = TestType;
    // float: 1e-30 squared is 1e-60 (0 in float), 1e30 squared is inf;
    // double: the same with 1e-200 and 1e200. The long-double reference has
    // the range for both.
    const double tiny = std::is_same_v<T, float> ? 1e-30 : 1e-200;
    const double huge = std::is_same_v<T, float> ? 1e30 : 1e200;
    const xt::xarray<T> a = random_normal<T>({4, 37}, 1.0, 61);
    const xt::xarray<T> b = random_normal<T>({4, 37}, 1.0, 62);
    const xt::xarray<bool> m = random_mask({4, 37}, 0.7, 63);
    const auto expected = xloss::cosine_similarity(a, b);

    struct scaling
    {
        const char* name;
        double sa, sb;
    };
    const scaling cases[] = {{"both tiny", tiny, tiny},
                             {"both huge", huge, huge},
                             {"tiny and 1", tiny, 1.0},
                             {"1 and huge", 1.0, huge},
                             {"tiny and huge", tiny, huge}};
    for (const auto& c : cases)
    {
        INFO(c.name);
        const xt::xarray<T> sa = xt::cast<T>(xt::xarray<double>(xt::cast<double>(a) * c.sa));
        const xt::xarray<T> sb = xt::cast<T>(xt::xarray<double>(xt::cast<double>(b) * c.sb));
        // rows, with and without a mask
        check_close<T>(xloss::cosine_similarity(sa, sb), reference(sa, sb, {1}, nullptr, 0.0, false));
        check_close<T>(xloss::cosine_distance(sa, sb, -1, m), reference(sa, sb, {1}, &m, 0.0, true));
        // columns
        const xt::xarray<T> sat = xt::transpose(sa);
        const xt::xarray<T> sbt = xt::transpose(sb);
        const xt::xarray<bool> mt = xt::transpose(m);
        check_close<T>(xloss::cosine_similarity(sat, sbt, 0), reference(sa, sb, {1}, nullptr, 0.0, false));
        check_close<T>(xloss::cosine_distance(sat, sbt, 0, mt), reference(sa, sb, {1}, &m, 0.0, true));
        // and the unscaled cosine (scaling is a cosine-preserving map)
        check_close<T>(xloss::cosine_similarity(sa, sb), expected, 10.0);
    }
    SECTION("a single nonzero element of magnitude tiny or huge")
    {
        const xt::xarray<T> x = {{T(0), T(tiny), T(0)}, {T(0), T(huge), T(0)}};
        const xt::xarray<T> y = {{T(0), T(2), T(1)}, {T(0), T(2), T(1)}};
        // {0, t, 0} . {0, 2, 1} / (t sqrt 5) = 2 / sqrt 5 = 0.89442719
        const auto s = xloss::cosine_similarity(x, y);
        CHECK(s(0) == Approx(0.89442719).epsilon(1e-6));
        CHECK(s(1) == Approx(0.89442719).epsilon(1e-6));
    }
}

namespace
{
    // Slices 3 (a tiny), 17 (a huge) and 36 (a tiny, b huge) of the 37 of a
    // 2-D shape reduced over `axis` take the scaled path, by themselves: the
    // slices beside them must not notice. Values against the long-double
    // reference, gradients against the other kernel shape (the transposed
    // inputs), and a slice mask that leaves the other slices' results
    // bitwise unchanged.
    template <class T>
    void check_scaled_slices_among_others(const shape_t& shape, std::size_t axis, unsigned seed)
    {
        const double tiny = std::is_same_v<T, float> ? 1e-30 : 1e-200;
        const double huge = std::is_same_v<T, float> ? 1e30 : 1e200;
        const std::size_t other = 1 - axis;
        REQUIRE(shape[other] == 37);
        xt::xarray<T> a = random_normal<T>(shape, 1.0, seed);
        xt::xarray<T> b = random_normal<T>(shape, 1.0, seed + 1);
        const auto scale_slice = [axis](xt::xarray<T>& v, std::size_t j, double s)
        {
            const auto scale = [s](auto&& slice)
            { slice = xt::cast<T>(xt::xarray<double>(xt::cast<double>(slice) * s)); };
            if (axis == 1)
            {
                scale(xt::view(v, j, xt::all()));
            }
            else
            {
                scale(xt::view(v, xt::all(), j));
            }
        };
        scale_slice(a, 3, tiny);
        scale_slice(a, 17, huge);
        scale_slice(a, 36, tiny);
        scale_slice(b, 36, huge);
        const xt::xarray<bool> m = random_mask(shape, 0.8, seed + 2);
        xt::xarray<bool> kept = xt::ones<bool>({shape[other]});
        kept(5) = false;
        kept(17) = false;
        const int ax = static_cast<int>(axis);

        // values: the long-double reference
        check_close<T>(xloss::cosine_similarity(a, b, ax), reference(a, b, {axis}, nullptr, 0.0, false));
        check_close<T>(xloss::cosine_distance(a, b, ax, m), reference(a, b, {axis}, &m, 0.0, true));
        // gradients: those of the other kernel shape on the transposed inputs
        const xt::xarray<T> at = xt::transpose(a);
        const xt::xarray<T> bt = xt::transpose(b);
        const xt::xarray<bool> mt = xt::transpose(m);
        const auto [value, g] = xloss::value_and_grad<0, 1>(xloss::cosine_distance, a, b, ax, m);
        const auto gt = xloss::grad<0, 1>(xloss::cosine_distance, at, bt, static_cast<int>(other), mt);
        check_close<T>(g.first, xt::xarray<T>(xt::transpose(gt.first)));
        check_close<T>(g.second, xt::xarray<T>(xt::transpose(gt.second)));
        check_equal(value, xloss::cosine_distance(a, b, ax, m));
        // a slice mask: its slices out are 0 with no gradient, the others as without it
        const auto plain = xloss::cosine_distance(a, b, ax);
        const auto some = xloss::cosine_distance(a, b, ax, kept);
        const auto gs = xloss::grad<0>(xloss::cosine_distance, a, b, ax, kept);
        const auto gp = xloss::grad<0>(xloss::cosine_distance, a, b, ax);
        std::size_t bad = 0;
        for (std::size_t j = 0; j < shape[other]; ++j)
        {
            bad += some(j) == (kept(j) ? plain(j) : T(0)) ? 0 : 1;
            for (std::size_t k = 0; k < shape[axis]; ++k)
            {
                const std::size_t i = axis == 1 ? j : k;
                const std::size_t l = axis == 1 ? k : j;
                bad += gs(i, l) == (kept(j) ? gp(i, l) : T(0)) ? 0 : 1;
            }
        }
        CHECK(bad == 0);
    }
}

TEMPLATE_TEST_CASE("cosine: rows W at a time, with rows that take the scaled path among them",
                   "[cosine][edges]",
                   float,
                   double)
{
    // Rows of one or two batches run W at a time from their sums
    // (schedule.hpp, run_sum_groups), longer ones one at a time; a row whose
    // squared norm underflows or overflows runs the whole kernel alone. 37
    // rows: full groups and a partial one.
    constexpr std::size_t W = xloss::detail::simd::width<TestType>;
    for (std::size_t n : {W, 2 * W - 1, 2 * W, 3 * W + 1})
    {
        INFO("rows of " << n);
        check_scaled_slices_among_others<TestType>({37, n}, 1, 81);
    }
}

TEMPLATE_TEST_CASE("cosine: streams over an outer axis, with slices that take the scaled path among them",
                   "[cosine][edges]",
                   float,
                   double)
{
    // Over an outer axis of 16 rows or more (value_and_grad: 512) the slices
    // run as streams from their sums (schedule.hpp, slice_sums_stream); a
    // slice whose squared norm underflows or overflows runs whole afterwards,
    // alone (run_unsettled). 37 slices: full groups of W and a partial one.
    check_scaled_slices_among_others<TestType>({520, 37}, 0, 91);
}

TEMPLATE_TEST_CASE("cosine: a zero vector with epsilon 0", "[cosine][edges]", float, double)
{
    using T = TestType;
    // The cosine is not defined there; xloss documents similarity 0,
    // distance 1 and a zero (finite) gradient.
    const xt::xarray<T> zero = {{T(0), T(0), T(0)}, {T(1), T(2), T(3)}};
    const xt::xarray<T> b = {{T(2), T(1), T(1)}, {T(0), T(0), T(0)}};
    const auto s = xloss::cosine_similarity(zero, b);
    const auto d = xloss::cosine_distance(zero, b);
    CHECK(s(0) == T(0));
    CHECK(s(1) == T(0));
    CHECK(d(0) == T(1));
    CHECK(d(1) == T(1));
    // both zero
    const xt::xarray<T> z = xt::zeros<T>({1, 17});
    CHECK(xloss::cosine_similarity(z, z)(0) == T(0));
    CHECK(xloss::cosine_distance(z, z)(0) == T(1));
    // the gradients are finite: 0 for both inputs
    const auto [ga, gb] = xloss::grad<0, 1>(xloss::cosine_similarity, zero, b);
    const auto [da, db] = xloss::grad<0, 1>(xloss::cosine_distance, zero, b);
    for (const auto* g : {&ga, &gb, &da, &db})
    {
        for (auto v : *g)
        {
            CHECK(v == T(0));
        }
    }
    // a zero vector among others in the column kernel: the others are unaffected
    xt::xarray<T> cols = random_normal<T>({9, 20}, 1.0, 71);
    const xt::xarray<T> other = random_normal<T>({9, 20}, 1.0, 72);
    xt::view(cols, xt::all(), 3) = T(0);
    const auto c = xloss::cosine_distance(cols, other, 0);
    CHECK(c(3) == T(1));
    check_close<T>(c, reference(cols, other, {0}, nullptr, 0.0, true));
}

TEST_CASE("cosine of denormal vectors is the true cosine (power-of-two rescaling)", "[cosine][edges]")
{
    // Largest magnitude 2e-39 is a float denormal: 1 / 2e-39 overflows float,
    // so the rescaling must not form it. dot = -2.1e-39, |a| = sqrt(5.09) e-39,
    // |b| = sqrt(14): cosine = -2.1 / (2.25610 * 3.74166) = -0.2487689.
    const xt::xarray<float> a = {1e-39f, -2e-39f, 3e-40f};
    const xt::xarray<float> b = {1.f, 2.f, 3.f};
    const double expected = -2.1 / (std::sqrt(5.09) * std::sqrt(14.0));
    CHECK(xloss::cosine_similarity(a, b)() == Approx(expected).epsilon(1e-5));
    const auto [da, db] = xloss::grad<0, 1>(xloss::cosine_similarity, a, b);
    for (auto v : db)
    {
        CHECK(std::isfinite(v));
    }
    // d cos / d b = a / (|a||b|) - cos b / |b|^2, finite here.
    CHECK(db(0) == Approx(1.0 / (std::sqrt(5.09) * std::sqrt(14.0)) - expected * 1.0 / 14.0).epsilon(1e-4));
    (void)da;
}

TEMPLATE_TEST_CASE("cosine gradients when the squared norms underflow or overflow",
                   "[grad][cosine][edges]",
                   float,
                   double)
{
    using T = TestType;
    // cos(s a, b) = cos(a, b), so d/d(s a) = (d/da) / s. float: s = 1e-30
    // (squared norms 1e-60: 0 in float) and 1e30 (inf); double: 1e-200, 1e200.
    const double tiny = std::is_same_v<T, float> ? 1e-30 : 1e-200;
    const double huge = std::is_same_v<T, float> ? 1e30 : 1e200;
    const xt::xarray<T> a = cosine_similarity_entry::make_x<T>({3, 21}, 161);
    const xt::xarray<T> b = cosine_similarity_entry::make_y<T>({3, 21}, {1}, 162);
    const auto d = xloss::grad<0, 1>(xloss::cosine_similarity, a, b);
    for (double s : {tiny, huge})
    {
        INFO("scale " << s);
        const xt::xarray<T> sa = xt::cast<T>(xt::xarray<double>(xt::cast<double>(a) * s));
        const auto ds = xloss::grad<0, 1>(xloss::cosine_similarity, sa, b);
        // compare d/d(s a) * s with d/da, in double
        const xt::xarray<double> rescaled = xt::cast<double>(ds.first) * s;
        std::size_t bad = 0;
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            bad += close(rescaled.flat(i), d.first.flat(i), 1e-4, 1e-6) ? 0 : 1;
        }
        INFO("d/d(s a) * s differs from d/da in " << bad << " of " << a.size() << " elements; first: "
                                                  << rescaled.flat(0) << " vs " << d.first.flat(0));
        CHECK(bad == 0);
        // d/db does not depend on the scale of a
        check_close<T>(ds.second, d.second, 10.0);
    }
}

TEMPLATE_TEST_CASE("cosine: no_axes gradients are 0 (elementwise sign(a b))", "[cosine][grad]", float, double)
{
    using T = TestType;
    const shape_t shape{3, 4, 5};
    const xt::xarray<T> a = cosine_similarity_entry::make_x<T>(shape, 141);
    const xt::xarray<T> b = cosine_similarity_entry::make_y<T>(shape, {}, 142);
    const xt::xarray<bool> m = random_mask(shape, 0.7, 143);
    const auto dn = xloss::grad<0, 1>(xloss::cosine_similarity, a, b, xloss::no_axes, m);
    REQUIRE(dn.first.shape() == shape);
    // (up to the rounding of 1/|a| - 1/|a|: the two terms are each 1/|a|)
    for (std::size_t i = 0; i < dn.first.size(); ++i)
    {
        CHECK(std::abs(dn.first.flat(i)) <= 1e-5 / std::abs(a.flat(i)));
        CHECK(std::abs(dn.second.flat(i)) <= 1e-5 / std::abs(b.flat(i)));
    }
}

TEST_CASE("cosine: gradients match finite differences where epsilon clips the squared norms",
          "[cosine][grad][fd]")
{
    // sd 0.2 with epsilon 0.3: the squared norms of short slices are clipped, of long ones not
    const auto small = [](double shift)
    {
        return [shift](const shape_t& s, unsigned seed)
        { return xt::xarray<double>(random_normal<double>(s, 0.2, seed) + shift); };
    };
    fd_sweep<cosine_similarity_entry>(xloss::cosine_options{0.3}, 450, small(0), small(0.1));
    fd_sweep<cosine_distance_entry>(xloss::cosine_options{0.3}, 550, small(0), small(0.1));
}

// sigmoid_focal_loss and focal_options: hand-computed values, the relations
// Optax's own tests check (gamma = 0 is sigmoid binary cross entropy, the
// (1 - p_t)^gamma scale, alpha weighting), the long-double reference of
// support.hpp on random data of several shapes, axes, masks and options (hard
// and soft labels), metamorphic properties, and the edges (logits of +-100,
// masked NaN / -inf, empty slices, Optax's elementwise output with no_axes).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <random>
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

    using opt_alpha = std::optional<double>;

    // Long-double reference over the broadcast inputs.
    // The catalogue entry's long-double reference over the broadcast inputs.
    template <class T>
    xt::xarray<ld> reference(const xt::xarray<T>& x,
                             const xt::xarray<T>& l,
                             const std::vector<std::size_t>& reduced,
                             const xt::xarray<bool>* full_mask,
                             const xloss::focal_options& opts)
    {
        shape_t full;
        {
            xt::xarray<T> probe = x + l;
            full.assign(probe.shape().begin(), probe.shape().end());
        }
        const xt::xarray<T> bx = xt::broadcast(x, full);
        const xt::xarray<bool> m = full_mask ? xt::xarray<bool>(xt::broadcast(*full_mask, full))
                                             : xt::xarray<bool>();
        return reference_values<sigmoid_focal_loss_entry>(opts, bx, l, reduced, full_mask ? &m : nullptr);
    }

    // Sigmoid binary cross entropy in long double (Optax's
    // sigmoid_binary_cross_entropy), elementwise.
    template <class T>
    xt::xarray<ld> ref_bce(const xt::xarray<T>& x, const xt::xarray<T>& l)
    {
        xt::xarray<ld> out = xt::xarray<ld>::from_shape(
            std::vector<std::size_t>(x.shape().begin(), x.shape().end()));
        for (std::size_t i = 0; i < x.size(); ++i)
        {
            const ld p = 1 / (1 + std::exp(-ld(x.flat(i))));
            const ld y = l.flat(i);
            out.flat(i) = -y * std::log(p) - (1 - y) * std::log1p(-p);
        }
        return out;
    }

    // The focal term in long double written with softplus, for logits whose
    // sigmoid rounds to 0 or 1 even in long double (+-100): ce = l
    // softplus(-x) + (1 - l) softplus(x), 1 - p_t = p (1 - l) + (1 - p) l.
    ld softplus(ld z)
    {
        return std::max(z, ld(0)) + std::log1p(std::exp(-std::abs(z)));
    }

    ld stable_focal_element(ld x, ld l, std::optional<double> alpha, double gamma)
    {
        const ld p = 1 / (1 + std::exp(-x));
        const ld q = 1 / (1 + std::exp(x));
        const ld ce = l * softplus(-x) + (1 - l) * softplus(x);
        ld loss = ce * std::pow(p * (1 - l) + q * l, ld(gamma));
        if (alpha)
        {
            loss *= *alpha * l + (1 - *alpha) * (1 - l);
        }
        return loss;
    }

    template <class T>
    xt::xarray<T> random_labels(const shape_t& shape, bool soft, unsigned seed)
    {
        std::mt19937 gen(seed);
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        xt::xarray<T> l = xt::xarray<T>::from_shape(shape);
        for (auto& v : l)
        {
            const double u = uniform(gen);
            v = static_cast<T>(soft ? u : (u < 0.3 ? 1.0 : 0.0));
        }
        return l;
    }

}

// -------------------------------------------------------------------------
// Literal values

TEMPLATE_TEST_CASE("sigmoid_focal_loss: hand-computed values", "[focal]", float, double)
{
    using T = TestType;
    SECTION("the documented example: logit 0, label 1, gamma 2")
    {
        // p = 0.5, ce = log 2 = 0.69314718, 1 - p_t = 0.5: log(2) * 0.25 = 0.17328680
        const xt::xarray<T> x = {T(0)};
        const xt::xarray<T> l = {T(1)};
        CHECK(xloss::sigmoid_focal_loss(x, l)() == Approx(0.17328680).margin(1e-7).epsilon(0));
        // alpha 0.25 weighs the positive by 0.25: 0.04332170
        CHECK(xloss::sigmoid_focal_loss(x, l, xloss::focal_options{0.25})()
              == Approx(0.04332170).margin(1e-7).epsilon(0));
        // ... and a negative by 0.75: 0.12996510
        const xt::xarray<T> neg = {T(0)};
        CHECK(xloss::sigmoid_focal_loss(x, neg, xloss::focal_options{0.25})()
              == Approx(0.12996510).margin(1e-7).epsilon(0));
        // gamma 0: the cross entropy itself, log 2
        CHECK(xloss::sigmoid_focal_loss(x, l, xloss::focal_options{std::nullopt, 0.0})()
              == Approx(0.69314718).margin(1e-7).epsilon(0));
    }
    SECTION("three elements, summed over the last axis; elementwise with no_axes")
    {
        // x = 2, l = 1: p = 0.88079708, ce = log(1 + e^-2) = 0.12692801,
        //   (1 - p)^2 = 0.11920292^2 = 0.01420934 -> 0.00180356
        // x = -1, l = 0.3 (soft): p = 0.26894142,
        //   ce = 0.3 log(1 + e) + 0.7 log(1 + e^-1) = 0.3 * 1.31326169 + 0.7 * 0.31326169 = 0.61326169
        //   1 - p_t = p (1 - l) + (1 - p) l = 0.18825899 + 0.21931757 = 0.40757657
        //   -> 0.61326169 * 0.40757657^2 = 0.10187421
        // x = 0, l = 1: 0.17328680
        // sum: 0.27696457
        const xt::xarray<T> x = {{T(2), T(-1), T(0)}};
        const xt::xarray<T> l = {{T(1), T(0.3), T(1)}};
        const auto summed = xloss::sigmoid_focal_loss(x, l);
        REQUIRE(summed.shape() == std::vector<std::size_t>{1});
        CHECK(summed(0) == Approx(0.27696457).margin(1e-7).epsilon(0));
        const auto elementwise = xloss::sigmoid_focal_loss(x, l, xloss::no_axes);
        REQUIRE(elementwise.shape() == x.shape());
        CHECK(elementwise(0, 0) == Approx(0.00180356).margin(1e-7).epsilon(0));
        CHECK(elementwise(0, 1) == Approx(0.10187421).margin(1e-7).epsilon(0));
        CHECK(elementwise(0, 2) == Approx(0.17328680).margin(1e-7).epsilon(0));
        // gamma 0.5: 0.61326169 * sqrt(0.40757657) = 0.61326169 * 0.63841723 = 0.39151683
        CHECK(xloss::sigmoid_focal_loss(x, l, xloss::no_axes, xloss::focal_options{std::nullopt, 0.5})(0, 1)
              == Approx(0.39151683).margin(1e-6).epsilon(0));
    }
    SECTION("gamma 1 with alpha 0.75 on a negative")
    {
        // x = 1.5, l = 0: p = 0.81757448, ce = softplus(1.5) = 1.70141328,
        //   1 - p_t = p: 1.70141328 * 0.81757448 = 1.39103207, times 1 - alpha = 0.25: 0.34775802
        const xt::xarray<T> x = {T(1.5)};
        const xt::xarray<T> l = {T(0)};
        CHECK(xloss::sigmoid_focal_loss(x, l, xloss::focal_options{0.75, 1.0})()
              == Approx(0.34775802).margin(1e-6).epsilon(0));
    }
    SECTION("focal_options defaults: no alpha, gamma 2")
    {
        const xloss::focal_options o{};
        CHECK_FALSE(o.alpha.has_value());
        CHECK(o.gamma == 2.0);
    }
}

// The relations optax/losses/_classification_test.py, SigmoidFocalLossTest
// (google-deepmind/optax) checks, on its inputs, with the long-double
// references: Optax's loss is elementwise, so xloss::no_axes.
TEMPLATE_TEST_CASE("sigmoid_focal_loss: Optax's relations", "[focal]", float, double)
{
    using T = TestType;
    const xt::xarray<T> ys = {{2.0, 0.1, -2.0}, {0.3, -0.1, 1.2}};
    const xt::xarray<T> ts = {{0.0, 0.0, 1.0}, {1.0, 0.0, 0.0}};
    const auto bce = ref_bce(ys, ts);
    const auto focal = [&](const xt::xarray<T>& x, const xt::xarray<T>& l, xloss::focal_options o)
    { return xloss::sigmoid_focal_loss(x, l, xloss::no_axes, o); };

    SECTION("gamma 0 equals sigmoid binary cross entropy (test_focal_equals_ce)")
    {
        check_close<T>(focal(ys, ts, {std::nullopt, 0.0}), bce);
        // test_focal_gamma_zero_matches_binary_cross_entropy
        const xt::xarray<T> x = {{-1.0, 0.0, 1.0}, {2.0, -2.0, 0.5}};
        const xt::xarray<T> l = {{0.0, 1.0, 1.0}, {1.0, 0.0, 0.0}};
        check_close<T>(focal(x, l, {std::nullopt, 0.0}), ref_bce(x, l));
        // and on random soft labels, reduced: the sum of the cross entropies
        const xt::xarray<T> rx = random_normal<T>({6, 33}, 2.0, 7);
        const xt::xarray<T> rl = random_labels<T>({6, 33}, true, 8);
        const xt::xarray<ld> rbce = ref_bce(rx, rl);
        const xt::xarray<ld> summed = xt::sum(rbce, {1}, xt::evaluation_strategy::immediate);
        check_close<T>(xloss::sigmoid_focal_loss(rx, rl, -1, xloss::focal_options{std::nullopt, 0.0}),
                       summed);
    }
    SECTION("focal / ce == (1 - p_t)^gamma (test_scale)")
    {
        const auto f = focal(ys, ts, {std::nullopt, 2.0});
        for (std::size_t i = 0; i < ys.size(); ++i)
        {
            const ld p = 1 / (1 + std::exp(-ld(ys.flat(i))));
            const ld t = ts.flat(i);
            const ld p_t = p * t + (1 - p) * (1 - t);
            CHECK(close(double(f.flat(i) / bce.flat(i)), double((1 - p_t) * (1 - p_t)), 2e-5, 0));
        }
    }
    SECTION("large and small logits (test_large_logit_fl_less_than_ce, test_small_logit_fl_less_than_ce)")
    {
        const auto logit = [](double p) { return std::log(p / (1 - p)); };
        const xt::xarray<T> large = {T(logit(0.9)), T(logit(0.98)), T(logit(0.3)), T(logit(0.99))};
        const xt::xarray<T> small = {T(logit(0.1)), T(logit(0.02)), T(logit(0.09)), T(logit(0.15))};
        const xt::xarray<T> ones = {T(1), T(1), T(1), T(1)};
        const auto fl = focal(large, ones, {0.5, 2.0});
        const auto fs = focal(small, ones, {std::nullopt, 2.0});
        const auto bl = ref_bce(large, ones);
        const auto bs = ref_bce(small, ones);
        for (std::size_t i = 0; i < 4; ++i)
        {
            const ld sl = 1 / (1 + std::exp(-ld(large(i))));
            const ld ss = 1 / (1 + std::exp(-ld(small(i))));
            // ce / focal == 2 / (1 - sigmoid)^2 with alpha 0.5; 1 / (1 - sigmoid)^2 without
            CHECK(close(double(bl(i) / fl(i)), double(2 / ((1 - sl) * (1 - sl))), 1e-4, 0));
            CHECK(close(double(bs(i) / fs(i)), double(1 / ((1 - ss) * (1 - ss))), 1e-4, 0));
        }
    }
    SECTION("alpha 1 with gamma 0 is ce * labels (test_alpha_one)")
    {
        check_close<T>(focal(ys, ts, {1.0, 0.0}), xt::xarray<ld>(bce * xt::cast<ld>(ts)));
    }
    SECTION(
        "alpha 0 ignores positives, alpha 1 ignores negatives (test_ignore_positive, test_ignore_negative)")
    {
        const auto f0 = focal(ys, ts, {0.0, 2.0});
        const auto f1 = focal(ys, ts, {1.0, 2.0});
        for (std::size_t i = 0; i < ys.size(); ++i)
        {
            INFO("element " << i);
            CHECK(bce.flat(i) > 0);
            if (ts.flat(i) == T(1))
            {
                CHECK(f0.flat(i) == T(0));
                CHECK(f1.flat(i) > T(0));
            }
            else
            {
                CHECK(f1.flat(i) == T(0));
                CHECK(f0.flat(i) > T(0));
            }
        }
    }
    SECTION("extreme logits with gamma 0.5: finite loss and gradient (test_extreme_logits_finite_gradients)")
    {
        const xt::xarray<T> x = {100.0, -100.0, 75.0, -75.0, 50.0, -50.0};
        const xt::xarray<T> l = {0.9, 0.1, 0.8, 0.2, 1.0, 0.0};
        const xloss::focal_options o{std::nullopt, 0.5};
        const auto [value, g] = xloss::value_and_grad(xloss::sigmoid_focal_loss, x, l, -1, o);
        CHECK(std::isfinite(value()));
        for (auto v : g)
        {
            CHECK(std::isfinite(v));
        }
        ld expected = 0;
        for (std::size_t i = 0; i < x.size(); ++i)
        {
            expected += stable_focal_element(x(i), l(i), std::nullopt, 0.5);
        }
        CHECK(close(value(), double(expected), tolerance<T>::rel, tolerance<T>::abs));
    }
}

// -------------------------------------------------------------------------
// Long-double reference on random data

// -------------------------------------------------------------------------
// Axis forms, call forms, types

TEMPLATE_TEST_CASE("sigmoid_focal_loss: axis forms; braced lists are axes, not options",
                   "[focal][axes]",
                   float,
                   double)
{
    using T = TestType;
    const shape_t shape{3, 4, 5};
    const xt::xarray<T> x = random_normal<T>(shape, 2.0, 21);
    const xt::xarray<T> l = random_labels<T>(shape, true, 22);
    const xloss::focal_options dflt{};
    const xloss::focal_options o{0.25, 1.5};

    SECTION("default axis is -1, default options are gamma 2 without alpha")
    {
        check_equal(xloss::sigmoid_focal_loss(x, l), xloss::sigmoid_focal_loss(x, l, -1));
        check_equal(xloss::sigmoid_focal_loss(x, l), xloss::sigmoid_focal_loss(x, l, dflt));
        check_close<T>(xloss::sigmoid_focal_loss(x, l), reference(x, l, {2}, nullptr, dflt));
    }
    SECTION("{1} is the axis 1")
    {
        const auto braced = xloss::sigmoid_focal_loss(x, l, {1});
        REQUIRE(braced.shape() == std::vector<std::size_t>{3, 5});
        check_equal(braced, xloss::sigmoid_focal_loss(x, l, 1));
        check_close<T>(braced, reference(x, l, {1}, nullptr, dflt));
        const auto with_opts = xloss::sigmoid_focal_loss(x, l, {1}, o);
        check_close<T>(with_opts, reference(x, l, {1}, nullptr, o));
        check_equal(with_opts, xloss::sigmoid_focal_loss(x, l, 1, o));
    }
    SECTION("{0, 2} is the axis list")
    {
        const auto braced = xloss::sigmoid_focal_loss(x, l, {0, 2});
        REQUIRE(braced.shape() == std::vector<std::size_t>{4});
        check_close<T>(braced, reference(x, l, {0, 2}, nullptr, dflt));
        check_close<T>(xloss::sigmoid_focal_loss(x, l, {2, 0}), braced);
        check_close<T>(xloss::sigmoid_focal_loss(x, l, std::array<int, 2>{0, -1}), braced);
        const xt::xarray<bool> m = random_mask(shape, 0.7, 23);
        check_close<T>(xloss::sigmoid_focal_loss(x, l, {0, 2}, m, o), reference(x, l, {0, 2}, &m, o));
    }
    SECTION("options alone, after an axis, after axis and mask")
    {
        const xt::xarray<bool> m = random_mask(shape, 0.7, 24);
        check_close<T>(xloss::sigmoid_focal_loss(x, l, o), reference(x, l, {2}, nullptr, o));
        check_equal(xloss::sigmoid_focal_loss(x, l, -1, o), xloss::sigmoid_focal_loss(x, l, o));
        check_close<T>(xloss::sigmoid_focal_loss(x, l, 0, m, o), reference(x, l, {0}, &m, o));
        check_close<T>(xloss::sigmoid_focal_loss(x, l, xloss::focal_options{std::nullopt, 0.0}),
                       reference(x, l, {2}, nullptr, {std::nullopt, 0.0}));
    }
    SECTION("all_axes: a 0-d sum")
    {
        const auto all = xloss::sigmoid_focal_loss(x, l, xloss::all_axes, o);
        CHECK(all.dimension() == 0);
        check_close<T>(all, reference(x, l, {0, 1, 2}, nullptr, o));
    }
    SECTION("no_axes: Optax's elementwise output, masked elements 0")
    {
        const xt::xarray<bool> m = random_mask(shape, 0.5, 25);
        const auto e = xloss::sigmoid_focal_loss(x, l, xloss::no_axes, m, o);
        REQUIRE(e.shape() == x.shape());
        std::size_t bad = 0;
        for (std::size_t i = 0; i < x.size(); ++i)
        {
            const double expected = m.flat(i)
                                        ? double(ref_focal_element(x.flat(i), l.flat(i), o.alpha, o.gamma))
                                        : 0;
            bad += close(e.flat(i), expected, tolerance<T>::rel, tolerance<T>::abs) ? 0 : 1;
            if (!m.flat(i))
            {
                CHECK(e.flat(i) == T(0));
            }
        }
        CHECK(bad == 0);
        check_close<T>(xloss::sigmoid_focal_loss(x, l, xloss::no_axes), reference(x, l, {}, nullptr, dflt));
    }
    SECTION("an axis out of range throws, naming the function")
    {
        CHECK_THROWS_AS(xloss::sigmoid_focal_loss(x, l, -4), std::invalid_argument);
        CHECK_THROWS_WITH(xloss::sigmoid_focal_loss(x, l, {2, -1}, o),
                          Catch::Contains("xloss::sigmoid_focal_loss"));
    }
}

TEST_CASE("sigmoid_focal_loss: result types", "[focal]")
{
    const xt::xarray<float> f = {{1.f, -2.f}};
    const xt::xarray<double> d = {{1.0, 0.0}};
    static_assert(std::is_same_v<decltype(xloss::sigmoid_focal_loss(f, f)), xt::xarray<float>>,
                  "float stays float");
    static_assert(std::is_same_v<decltype(xloss::sigmoid_focal_loss(d, d)), xt::xarray<double>>, "double");
    static_assert(std::is_same_v<decltype(xloss::sigmoid_focal_loss(f, d)), xt::xarray<double>>,
                  "common type");
    CHECK(xloss::sigmoid_focal_loss(f, d)(0)
          == Approx(xloss::sigmoid_focal_loss(xt::xarray<double>(f), d)(0)));
}

// -------------------------------------------------------------------------
// Properties

// -------------------------------------------------------------------------
// Edges

TEMPLATE_TEST_CASE("sigmoid_focal_loss: logits of +-100, hard and soft labels",
                   "[focal][edges]",
                   float,
                   double)
{
    using T = TestType;
    // 17 elements: a full batch of 16 floats / two of 8 doubles, and a tail.
    const xt::xarray<T> x = {100,  -100, 100, -100, 100, -100, 100,  -100, 100,
                             -100, 50,   -50, 30,   -30, 100,  -100, 0};
    const xt::xarray<T> l = {1, 1, 0, 0, 0.9, 0.1, 0.1, 0.9, 0.5, 0.5, 1, 0, 0.25, 0.75, 0.999, 0.001, 1};
    for (const auto& o : {xloss::focal_options{}, xloss::focal_options{0.25, 2.0},
                          xloss::focal_options{std::nullopt, 0.5}, xloss::focal_options{std::nullopt, 0.0}})
    {
        INFO("gamma " << o.gamma << (o.alpha ? ", alpha " : "") << o.alpha.value_or(0));
        const auto elementwise = xloss::sigmoid_focal_loss(x, l, xloss::no_axes, o);
        const auto [value, g] = xloss::value_and_grad<0, 1>(xloss::sigmoid_focal_loss, x, l, -1, o);
        const auto g_elem = xloss::grad(xloss::sigmoid_focal_loss, x, l, xloss::no_axes, o);
        ld total = 0;
        for (std::size_t i = 0; i < x.size(); ++i)
        {
            INFO("x " << x(i) << ", l " << l(i));
            const ld expected = stable_focal_element(x(i), l(i), o.alpha, o.gamma);
            total += expected;
            CHECK(std::isfinite(elementwise(i)));
            CHECK(close(elementwise(i), double(expected), 1e-5, 1e-30));
            CHECK(std::isfinite(g.first(i)));
            CHECK(std::isfinite(g.second(i)));
            CHECK(std::isfinite(g_elem(i)));
            CHECK(g_elem(i) == g.first(i));
        }
        CHECK(close(value(), double(total), tolerance<T>::rel, tolerance<T>::abs));
    }
    SECTION("hand-computed values at +-100")
    {
        // x = 100, l = 0.9, gamma 2: ce = 0.9 softplus(-100) + 0.1 softplus(100) = 10 (+ 4e-44),
        //   1 - p_t = p (1 - l) + (1 - p) l = 0.1 (+ 3e-44): 10 * 0.01 = 0.1
        //   d/dx = (p - l) (1 - p_t)^2 + ce * 2 (1 - p_t) (1 - 2 l) p (1 - p) = 0.1 * 0.01 + 0 = 0.001
        // x = -100, l = 0.1: the mirror image: 0.1, and d/dx = -0.001
        // x = -100, l = 1: ce = 100, 1 - p_t = 1: 100, d/dx = (0 - 1) * 1 + 100 * 2 * (-1) * 0 = -1
        // x = 100, l = 0: 100, d/dx = 1
        const xt::xarray<T> xs = {100, -100, -100, 100};
        const xt::xarray<T> ls = {0.9, 0.1, 1, 0};
        const auto e = xloss::sigmoid_focal_loss(xs, ls, xloss::no_axes);
        const auto d = xloss::grad(xloss::sigmoid_focal_loss, xs, ls, xloss::no_axes);
        const double ev[] = {0.1, 0.1, 100, 100};
        const double dv[] = {0.001, -0.001, -1, 1};
        for (std::size_t i = 0; i < 4; ++i)
        {
            CHECK(e(i) == Approx(ev[i]).epsilon(1e-5));
            CHECK(d(i) == Approx(dv[i]).epsilon(1e-4));
        }
    }
}

TEMPLATE_TEST_CASE("sigmoid_focal_loss: infinite logits on the hard label they predict give 0",
                   "[focal][edges][grad]",
                   float,
                   double)
{
    // x = -inf with l = 0 (p = 0) and x = +inf with l = 1 (p = 1): the label
    // term l log p (or (1 - l) log(1 - p)) has zero probability, so it adds 0
    // (not 0 * inf = NaN), and every gradient is the limit of the gradient
    // at finite logits: 0, except d/dlabels with gamma = 0 (binary cross
    // entropy), -x, which is infinite there. Lengths around the SIMD width.
    using T = TestType;
    const T inf = std::numeric_limits<T>::infinity();
    for (std::size_t n : {1u, 4u, 8u, 9u, 16u, 17u, 33u})
    {
        CAPTURE(n);
        xt::xarray<T> x = xt::xarray<T>::from_shape({2, n});
        xt::xarray<T> l = xt::xarray<T>::from_shape({2, n});
        for (std::size_t j = 0; j < n; ++j)
        {
            const bool positive = j % 2 == 1;
            x(0, j) = positive ? inf : -inf;
            l(0, j) = positive ? T(1) : T(0);
            x(1, j) = T(0.25) * T(j) - T(1);
            l(1, j) = positive ? T(1) : T(0);
        }
        for (const auto& o : {xloss::focal_options{}, xloss::focal_options{0.25, 2.0},
                              xloss::focal_options{std::nullopt, 0.5}, xloss::focal_options{0.75, 1.0},
                              xloss::focal_options{std::nullopt, 0.0}})
        {
            INFO("gamma " << o.gamma << (o.alpha ? ", alpha " : "") << o.alpha.value_or(0));
            const auto elementwise = xloss::sigmoid_focal_loss(x, l, xloss::no_axes, o);
            const auto vg = xloss::value_and_grad<0, 1>(xloss::sigmoid_focal_loss, x, l, -1, o);
            const auto finite_row = xloss::sigmoid_focal_loss(x, l, -1, xt::xarray<bool>{false, true}, o);
            CHECK(vg.value(0) == T(0));
            CHECK(vg.value(1) == finite_row(1));
            for (std::size_t j = 0; j < n; ++j)
            {
                CAPTURE(j);
                CHECK(elementwise(0, j) == T(0));
                CHECK(vg.grad.first(0, j) == T(0));
                if (o.gamma == 0)
                {
                    CHECK(vg.grad.second(0, j) == -x(0, j));
                }
                else
                {
                    CHECK(vg.grad.second(0, j) == T(0));
                }
                CHECK(std::isfinite(vg.grad.first(1, j)));
                CHECK(std::isfinite(vg.grad.second(1, j)));
            }
            check_equal(xloss::grad(xloss::sigmoid_focal_loss, x, l, -1, o), vg.grad.first);
            // through the column kernel
            const xt::xarray<T> xt_ = xt::transpose(x);
            const xt::xarray<T> lt_ = xt::transpose(l);
            const auto vc = xloss::value_and_grad<0, 1>(xloss::sigmoid_focal_loss, xt_, lt_, 0, o);
            CHECK(vc.value(0) == T(0));
            check_equal(xt::xarray<T>(xt::transpose(vc.grad.first)), vg.grad.first);
        }
    }
}

TEMPLATE_TEST_CASE("sigmoid_focal_loss: d/dx keeps its precision where the sigmoid saturates",
                   "[focal][edges]",
                   float,
                   double)
{
    using T = TestType;
    // Hard label 1 and a large logit: d/dx = -(1 - p) (gamma 0), a small
    // number that p - 1 would compute with an absolute error of epsilon
    // (relative 1e-3 at x = 9.67 in float, found by the fuzzer). The mirror,
    // label 0 and a negative logit, gives +p. Reference, with q = 1 - p:
    //   gamma 0: d/dx = -q
    //   gamma 2: d/dx = -q^3 - 2 p q^2 softplus(-x)
    const xt::xarray<T> x = {T(5), T(9.66666698), T(12), T(15), T(20), T(30), T(40)};
    for (const double gamma : {0.0, 2.0})
    {
        INFO("gamma " << gamma);
        const xloss::focal_options o{std::nullopt, gamma};
        const xt::xarray<T> ones = xt::ones<T>(x.shape()), zeros = xt::zeros<T>(x.shape());
        const auto d1 = xloss::grad(xloss::sigmoid_focal_loss, x, ones, xloss::no_axes, o);
        const xt::xarray<T> minus_x = -x;
        const auto d0 = xloss::grad(xloss::sigmoid_focal_loss, minus_x, zeros, xloss::no_axes, o);
        for (std::size_t i = 0; i < x.size(); ++i)
        {
            const ld xi = x(i);
            const ld q = 1 / (1 + std::exp(xi)), p = 1 / (1 + std::exp(-xi));
            const ld softplus = std::log1p(std::exp(-xi));
            const ld expected = gamma == 0 ? -q : -q * q * q - 2 * p * q * q * softplus;
            INFO("x " << x(i) << ", expected " << double(expected) << ", got " << d1(i) << " and " << d0(i));
            if (std::fabs(expected) < ld(std::numeric_limits<T>::min()))
            {
                continue;  // below the type's normal range
            }
            CHECK(close(d1(i), double(expected), 1e-5, 0));
            CHECK(close(d0(i), -double(expected), 1e-5, 0));
        }
    }
}

TEMPLATE_TEST_CASE("sigmoid_focal_loss: no_axes gradients are those of any reduction",
                   "[focal][grad]",
                   float,
                   double)
{
    // each element its own slice: the gradient of the sum over any axis
    using T = TestType;
    const shape_t shape{3, 4, 5};
    const xt::xarray<T> x = sigmoid_focal_loss_entry::make_x<T>(shape, 141);
    const xt::xarray<T> l = sigmoid_focal_loss_entry::make_y<T>(shape, {}, 142);
    check_close<T>(xloss::grad(xloss::sigmoid_focal_loss, x, l, xloss::no_axes),
                   xloss::grad(xloss::sigmoid_focal_loss, x, l, 1));
}

TEST_CASE("sigmoid_focal_loss: gradients match finite differences for large logits with soft labels",
          "[focal][grad][fd]")
{
    fd_sweep<sigmoid_focal_loss_entry>(
        xloss::focal_options{std::nullopt, 1.5}, 800,
        [](const shape_t& s, unsigned seed) { return random_normal<double>(s, 15.0, seed); },
        [](const shape_t& s, unsigned seed) { return random_uniform<double>(s, 0.02, 0.98, seed); });
    // hard labels 0 and 1 (the generic sweep's labels are soft)
    fd_sweep<sigmoid_focal_loss_entry>(
        xloss::focal_options{0.25, 2.0}, 850, {},
        [](const shape_t& s, unsigned seed)
        { return xt::xarray<double>(xt::cast<double>(random_mask(s, 0.3, seed))); });
}

TEMPLATE_TEST_CASE("sigmoid_focal_loss: a label outside [0, 1] gives NaN on every backend",
                   "[focal][nan]",
                   float,
                   double)
{
    // 1 - p_t < 0, and u^gamma of it is NaN.
    using T = TestType;
    for (std::size_t at : {0u, 5u, 63u})
    {
        const xt::xarray<T> x = xt::ones<T>({2, 64}) * T(80);
        xt::xarray<T> y = xt::zeros<T>({2, 64});
        y(1, at) = T(1e30);
        CHECK(std::isnan(xloss::sigmoid_focal_loss(x, y, -1, xloss::focal_options{std::nullopt, 0.5})(1)));
    }
}

// ---------------------------------------------------------------------------
// class_alpha: per-class alpha (SPEC 0.2), against torchvision's formula in
// torch (tests/reference/generate_focal_alpha.py), and its properties.

namespace
{
    struct focal_alpha_case
    {
        const char* name;
        double gamma;
        std::vector<double> alpha, x, labels, value, dx, dlabels;
    };

    const std::vector<focal_alpha_case> focal_alpha_torch_cases = {
#include "reference/focal_alpha_torch.inc"
    };
}

TEMPLATE_TEST_CASE("sigmoid_focal_loss: class_alpha matches torchvision's formula with a per-class alpha",
                   "[focal][options][reference]", float, double)
{
    using T = TestType;
    REQUIRE(focal_alpha_torch_cases.size() == 6);
    for (const auto& c : focal_alpha_torch_cases)
    {
        INFO(c.name << " labels, gamma " << c.gamma);
        const std::size_t C = c.alpha.size(), B = c.x.size() / C;
        const xt::xarray<T> x = xt::cast<T>(xt::xarray<double>(xt::adapt(c.x, shape_t{B, C})));
        const xt::xarray<T> l = xt::cast<T>(xt::xarray<double>(xt::adapt(c.labels, shape_t{B, C})));
        xloss::focal_options o;
        o.gamma = c.gamma;
        o.class_alpha = xt::xarray<double>(xt::adapt(c.alpha, shape_t{C}));
        const auto [value, grads] = xloss::value_and_grad<0, 1>(xloss::sigmoid_focal_loss, x, l, -1, o);
        check_reference<T>(value, c.value, 1e-6, 1e-14);
        check_reference<T>(grads.first, c.dx, 1e-6, 1e-14);
        check_reference<T>(grads.second, c.dlabels, 1e-6, 1e-14);
    }
}

TEST_CASE("sigmoid_focal_loss: class_alpha of one value is alpha; [C, 1, 1] on NCHW is the full array",
          "[focal][options]")
{
    const xt::xarray<double> x = random_normal<double>({2, 3, 4, 5}, 2.0, 31);
    const xt::xarray<double> l = random_uniform<double>({2, 3, 4, 5}, 0, 1, 32);
    xloss::focal_options scalar, constant, per_class, full;
    scalar.alpha = 0.3;
    constant.class_alpha = xt::xarray<double>(0.3);
    per_class.class_alpha = xt::xarray<double>(xt::reshape_view(xt::xarray<double>{0.1, 0.5, 0.9}, shape_t{3, 1, 1}));
    full.class_alpha = xt::xarray<double>(xt::broadcast(*per_class.class_alpha, shape_t{2, 3, 4, 5}));
    const auto& focal = xloss::sigmoid_focal_loss;
    for (const int axis : {1, -1})
    {
        INFO("axis " << axis);
        const auto a = xloss::value_and_grad<0, 1>(focal, x, l, axis, scalar);
        const auto b = xloss::value_and_grad<0, 1>(focal, x, l, axis, constant);
        check_close<double>(a.value, b.value);
        check_close<double>(a.grad.first, b.grad.first);
        check_close<double>(a.grad.second, b.grad.second);
        const auto c = xloss::value_and_grad<0, 1>(focal, x, l, axis, per_class);
        const auto d = xloss::value_and_grad<0, 1>(focal, x, l, axis, full);
        check_close<double>(c.value, d.value);
        check_close<double>(c.grad.first, d.grad.first);
        check_close<double>(c.grad.second, d.grad.second);
    }
}

TEST_CASE("sigmoid_focal_loss: class_alpha errors name the option", "[focal][options][errors]")
{
    const xt::xarray<double> x = xt::zeros<double>({2, 3});
    xloss::focal_options o;
    o.class_alpha = xt::xarray<double>{0.25, 0.5};
    CHECK_THROWS_MATCHES(xloss::sigmoid_focal_loss(x, x, -1, o), std::invalid_argument,
                         Catch::Message("xloss::sigmoid_focal_loss: option class_alpha of shape [2] does not "
                                        "broadcast to the input shape [2, 3]"));
}

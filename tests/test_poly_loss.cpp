// poly_loss_cross_entropy: Optax's literal values (cited), hand-computed
// gradients, epsilon 0 == softmax_cross_entropy, linearity in epsilon, and
// the edges (-inf logits on zero labels, large logits, masked NaN, empty
// slices). Axes, masks, input kinds, gradients against finite differences
// and the golden reference data (torch cross_entropy + softmax) are the
// catalogue's generic tests.
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xarray.hpp>
#include <xtensor/xview.hpp>

#include <xloss/xloss.hpp>

#include "generic.hpp"

namespace
{
    using namespace xloss_test;
    using shape_t = std::vector<std::size_t>;

    constexpr double k_inf = std::numeric_limits<double>::infinity();

    xloss::poly_options with_epsilon(double e)
    {
        xloss::poly_options o;
        o.epsilon = e;
        return o;
    }
}

TEMPLATE_TEST_CASE("poly_loss_cross_entropy: Optax's literal values", "[poly_loss]", float, double)
{
    using T = TestType;
    // optax/losses/_classification_test.py, PolyLossTest (google-deepmind/optax,
    // 2edbcbe), values "computed using tf version of poly1_cross_entropy",
    // given to 4 decimals and checked by Optax with atol 1e-4. Each case is
    // also held to 1e-6 against its exact float64 value (numpy, Optax's
    // formula), and to the catalogue's long-double reference.
    SECTION("test_scalar: one slice of 5")
    {
        const xt::xarray<T> logits = {0.14, 1.456, 2.356, -0.124, -2.47};
        const xt::xarray<T> labels = {0.1, 0.15, 0.2, 0.25, 0.3};
        struct expected_t
        {
            double eps, optax, exact;
        };
        for (const auto& c :
             {expected_t{2, 4.5317, 4.531657285679147}, expected_t{1, 3.7153, 3.7153301084365054},
              expected_t{-1, 2.0827, 2.082675753951222}, expected_t{0, 2.8990, 2.8990029311938637},
              expected_t{-0.5, 2.4908, 2.490839342572543}, expected_t{1.15, 3.8378, 3.8377791850229013},
              expected_t{1.214, 3.8900, 3.8900241243664304}, expected_t{5.45, 7.3480, 7.347986047166261}})
        {
            INFO("epsilon " << c.eps);
            const auto o = with_epsilon(c.eps);
            const auto got = xloss::poly_loss_cross_entropy(logits, labels, o);
            REQUIRE(got.dimension() == 0);
            CHECK(got() == Approx(c.optax).margin(1e-4).epsilon(0));
            CHECK(got() == Approx(c.exact).margin(1e-6).epsilon(0));
            check_close<T>(got, reference_values<poly_loss_cross_entropy_entry>(o, xt::xarray<T>(logits),
                                                                                labels, {0}, nullptr));
        }
    }
    SECTION("test_batched: two slices of 3")
    {
        const xt::xarray<T> logits = {{4.0, 2.0, 1.0}, {0.0, 5.0, 1.0}};
        const xt::xarray<T> labels = {{1.0, 0.0, 0.0}, {0.0, 0.8, 0.2}};
        struct expected_t
        {
            double eps, optax0, optax1, exact0, exact1;
        };
        for (const auto& c : {expected_t{2, 0.4823, 1.2567, 0.48225655, 1.25670369},
                              expected_t{1, 0.3261, 1.0407, 0.32605129, 1.04072429},
                              expected_t{0, 0.1698, 0.8247, 0.16984602, 0.82474489},
                              expected_t{-0.5, 0.0917, 0.7168, 0.09174339, 0.71675519},
                              expected_t{1.15, 0.3495, 1.0731, 0.34948207, 1.07312120},
                              expected_t{1.214, 0.3595, 1.0870, 0.35947921, 1.08694388},
                              expected_t{5.45, 1.0211, 2.0018, 1.02116472, 2.00183262}})
        {
            INFO("epsilon " << c.eps);
            const auto got = xloss::poly_loss_cross_entropy(logits, labels, with_epsilon(c.eps));
            REQUIRE(got.shape() == shape_t{2});
            CHECK(got(0) == Approx(c.optax0).margin(1e-4).epsilon(0));
            CHECK(got(1) == Approx(c.optax1).margin(1e-4).epsilon(0));
            CHECK(got(0) == Approx(c.exact0).margin(1e-6).epsilon(0));
            CHECK(got(1) == Approx(c.exact1).margin(1e-6).epsilon(0));
        }
        // The default epsilon is 2.
        const auto by_default = xloss::poly_loss_cross_entropy(logits, labels);
        CHECK(by_default(0) == Approx(0.48225655).margin(1e-6).epsilon(0));
        CHECK(by_default(1) == Approx(1.25670369).margin(1e-6).epsilon(0));
    }
    SECTION("test_equals_to_cross_entropy_when_eps0")
    {
        // Optax's inputs; the softmax cross entropies (numpy float64) are
        // {0.16984602, 0.82474489, 1.88035747}, {1.56862386, 4.29457347},
        // 0.64407698 and 0.
        const xt::xarray<T> l3 = {{4.0, 2.0, 1.0}, {0.0, 5.0, 1.0}, {0.134, 1.234, 3.235}};
        const xt::xarray<T> y3 = {{1.0, 0.0, 0.0}, {0.0, 0.8, 0.2}, {0.34, 0.33, 0.33}};
        const xt::xarray<T> l5 = {{4.0, 2.0, 1.0, 0.134, 1.3515}, {0.0, 5.0, 1.0, 0.5215, 5.616}};
        const xt::xarray<T> y5 = {{0.5, 0.0, 0.0, 0.0, 0.5}, {0.0, 0.12, 0.2, 0.56, 0.12}};
        const xt::xarray<T> l2 = {1.89, 2.39};
        const xt::xarray<T> y2 = {0.34, 0.66};
        const xt::xarray<T> l1 = {0.314};
        const xt::xarray<T> y1 = {1.0};
        const auto o = with_epsilon(0);
        const auto p3 = xloss::poly_loss_cross_entropy(l3, y3, o);
        check_close<T>(p3, xloss::softmax_cross_entropy(l3, y3));
        CHECK(p3(2) == Approx(1.88035747).margin(1e-6).epsilon(0));
        const auto p5 = xloss::poly_loss_cross_entropy(l5, y5, o);
        check_close<T>(p5, xloss::softmax_cross_entropy(l5, y5));
        CHECK(p5(1) == Approx(4.29457347).margin(1e-6).epsilon(0));
        CHECK(xloss::poly_loss_cross_entropy(l2, y2, o)() == Approx(0.64407698).margin(1e-6).epsilon(0));
        CHECK(xloss::poly_loss_cross_entropy(l1, y1, o)() == Approx(0.0).margin(1e-7));
    }
}

TEMPLATE_TEST_CASE("poly_loss_cross_entropy: hand-computed gradients", "[poly_loss][grad]", float, double)
{
    using T = TestType;
    // The documented example, logits {4, 2, 1}, labels {1, 0, 0}, epsilon 2:
    //   p = {0.84379473, 0.11419520, 0.04201007}, L = 1, q = p_0;
    //   d/dlogits = p (1 + 2 p_0) - labels (1 + 2 p) = {-0.41981563, 0.30690982, 0.11290581}
    //   d/dlabels = -log p + 2 (1 - p)              = {0.48225655, 3.94145562, 5.08582589}
    const xt::xarray<T> logits = {{4.0, 2.0, 1.0}};
    const xt::xarray<T> labels = {{1.0, 0.0, 0.0}};
    const auto [value, grads] = xloss::value_and_grad<0, 1>(xloss::poly_loss_cross_entropy, logits, labels);
    CHECK(value(0) == Approx(0.48225655).margin(1e-6).epsilon(0));
    const double dx[] = {-0.41981563, 0.30690982, 0.11290581};
    const double dy[] = {0.48225655, 3.94145562, 5.08582589};
    for (std::size_t k = 0; k < 3; ++k)
    {
        CHECK(grads.first(0, k) == Approx(dx[k]).margin(1e-6).epsilon(0));
        CHECK(grads.second(0, k) == Approx(dy[k]).margin(1e-6).epsilon(0));
    }
    // d/dlogits sums to S(labels) * epsilon * (q - q) = 0 over the slice for
    // labels summing to 1 (softmax's shift invariance).
    CHECK(grads.first(0, 0) + grads.first(0, 1) + grads.first(0, 2) == Approx(0.0).margin(1e-6));
}

TEMPLATE_TEST_CASE("poly_loss_cross_entropy is linear in epsilon", "[poly_loss]", float, double)
{
    // loss(eps) = CE + eps * P, so loss(eps) = CE + eps * (loss(1) - CE), with
    // a mask and two axes, for Poly-1's negative epsilon too; and the
    // gradients likewise.
    using T = TestType;
    const shape_t shape{3, 4, 11};
    const xt::xarray<T> x = random_normal<T>(shape, 1.5, 91);
    const xt::xarray<T> y = random_probabilities<T>(shape, -1, 92);
    const xt::xarray<bool> m = random_mask(shape, 0.7, 93);
    const xt::xarray<double> ce = xt::cast<double>(xloss::softmax_cross_entropy(x, y, {0, 2}, m));
    const xt::xarray<double> one = xt::cast<double>(
        xloss::poly_loss_cross_entropy(x, y, {0, 2}, m, with_epsilon(1)));
    const xt::xarray<double> dce = xt::cast<double>(
        xloss::grad(xloss::softmax_cross_entropy, x, y, {0, 2}, m));
    const xt::xarray<double> done = xt::cast<double>(
        xloss::grad(xloss::poly_loss_cross_entropy, x, y, {0, 2}, m, with_epsilon(1)));
    for (double eps : {-1.0, 2.0, 5.5})
    {
        INFO("epsilon " << eps);
        const auto o = with_epsilon(eps);
        check_close<T>(xloss::poly_loss_cross_entropy(x, y, {0, 2}, m, o),
                       xt::xarray<double>(ce + eps * (one - ce)), 8);
        check_close<T>(xloss::grad(xloss::poly_loss_cross_entropy, x, y, {0, 2}, m, o),
                       xt::xarray<double>(dce + eps * (done - dce)), 8);
    }
}

TEMPLATE_TEST_CASE("poly_loss_cross_entropy: edges", "[poly_loss][edges]", float, double)
{
    using T = TestType;
    SECTION("-inf logits on zero labels contribute 0; their gradients are 0")
    {
        // Row 0 with and without the -inf element give the same value.
        const xt::xarray<T> x = {{0.5, -std::numeric_limits<T>::infinity(), 1.25, -2.0},
                                 {0.5, 1.25, -2.0, 0.0}};
        const xt::xarray<T> y = {{0.25, 0.0, 0.75, 0.0}, {0.25, 0.75, 0.0, 0.0}};
        const xt::xarray<T> x3 = {{0.5, 1.25, -2.0}};
        const xt::xarray<T> y3 = {{0.25, 0.75, 0.0}};
        for (double eps : {2.0, -1.0})
        {
            const auto o = with_epsilon(eps);
            const auto [value, grads] = xloss::value_and_grad<0, 1>(xloss::poly_loss_cross_entropy, x, y, o);
            CHECK(std::isfinite(value(0)));
            CHECK(value(0) == Approx(xloss::poly_loss_cross_entropy(x3, y3, o)(0)).epsilon(1e-6));
            CHECK(grads.first(0, 1) == T(0));
            // d/dlabels there is -log 0 = +inf, as for softmax_cross_entropy
            CHECK(grads.second(0, 1) == T(k_inf));
        }
        // a positive label on a -inf logit: +inf
        xt::xarray<T> y2 = y;
        y2(0, 1) = T(0.1);
        CHECK(xloss::poly_loss_cross_entropy(x, y2)(0) == T(k_inf));
    }
    SECTION("an all -inf row with zero labels: value 0 and both gradients 0; a selected NaN reaches both")
    {
        // As softmax_cross_entropy: the row's softmax is 0 / 0, so nothing is
        // computed from it. A NaN logit has mass: its row's gradients are NaN.
        const T minf = -std::numeric_limits<T>::infinity();
        for (std::size_t n : {3u, 8u, 17u})
        {
            CAPTURE(n);
            xt::xarray<T> x = random_normal<T>({3, n}, 1.5, 91 + unsigned(n));
            xt::xarray<T> y = random_probabilities<T>({3, n}, -1, 92 + unsigned(n));
            xt::view(x, 1, xt::all()) = minf;
            xt::view(y, 1, xt::all()) = T(0);
            x(2, n / 2) = std::numeric_limits<T>::quiet_NaN();
            for (double eps : {2.0, -1.0})
            {
                const auto [value, grads] =
                    xloss::value_and_grad<0, 1>(xloss::poly_loss_cross_entropy, x, y, with_epsilon(eps));
                CHECK(std::isfinite(value(0)));
                CHECK(value(1) == T(0));
                CHECK(std::isnan(value(2)));
                for (std::size_t j = 0; j < n; ++j)
                {
                    CHECK(std::isfinite(grads.first(0, j)));
                    CHECK(grads.first(1, j) == T(0));
                    CHECK(grads.second(1, j) == T(0));
                    CHECK(std::isnan(grads.first(2, j)));
                    CHECK(std::isnan(grads.second(2, j)));
                }
            }
        }
    }
    SECTION("large logits stay finite (max-shifted softmax)")
    {
        // Row 0: p = {1, 0, 0, 0} in every type: CE = 0.25 * 1e4 + 0.25 * 5e3,
        // poly = S(y) - S(y p) = 1 - 0.5 = 0.5; row 1: p_3 = e / (3 + e).
        const xt::xarray<T> x = {{1e4, -1e4, 0.0, 5e3}, {-1e4, -1e4, -1e4, -1e4 + 1}};
        const xt::xarray<T> y = {{0.5, 0.0, 0.25, 0.25}, {0.25, 0.25, 0.25, 0.25}};
        const auto [value, grads] = xloss::value_and_grad<0, 1>(xloss::poly_loss_cross_entropy, x, y);
        CHECK(value(0) == Approx(3750.0 + 2 * 0.5).epsilon(1e-6));
        const double e = std::exp(1.0), lz = std::log(3 + e);
        const double ce1 = 0.75 * lz + 0.25 * (lz - 1);
        CHECK(value(1) == Approx(ce1 + 2 * (1 - 0.25)).epsilon(1e-5));
        for (auto v : grads.first)
        {
            CHECK(std::isfinite(v));
        }
    }
    SECTION("masked NaN and +inf do not leak; an all-masked slice is 0 with gradient 0")
    {
        const T nan = std::numeric_limits<T>::quiet_NaN();
        const xt::xarray<T> x = {{nan, 1.0, 2.0, std::numeric_limits<T>::infinity()}, {nan, nan, nan, nan}};
        const xt::xarray<T> y = {{nan, 0.4, 0.6, 0.5}, {nan, 0.25, 0.25, 0.5}};
        const xt::xarray<bool> m = {{false, true, true, false}, {false, false, false, false}};
        const auto [value, grads] = xloss::value_and_grad<0, 1>(xloss::poly_loss_cross_entropy, x, y, -1, m);
        const xt::xarray<T> xs = {1.0, 2.0};
        const xt::xarray<T> ys = {0.4, 0.6};
        CHECK(value(0) == Approx(xloss::poly_loss_cross_entropy(xs, ys)()).epsilon(1e-6));
        CHECK(value(1) == T(0));
        for (std::size_t i = 0; i < m.size(); ++i)
        {
            CHECK(std::isfinite(grads.first.flat(i)));
            CHECK(std::isfinite(grads.second.flat(i)));
            if (!m.flat(i))
            {
                CHECK(grads.first.flat(i) == T(0));
                CHECK(grads.second.flat(i) == T(0));
            }
        }
    }
}

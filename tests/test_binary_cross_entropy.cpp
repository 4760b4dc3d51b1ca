// sigmoid_binary_cross_entropy and binary_cross_entropy_options: hand-computed
// values, PyTorch's binary_cross_entropy_with_logits(reduction='none') summed
// over the last axis (values and both gradients, float64, written by
// tests/reference/generate_bce.py into tests/reference/bce_torch.inc), the
// saturated logits +-1e4 in float and double, hard labels at infinite logits,
// the axis forms, masks and reductions. The long-double reference on random
// data of every shape, axis and mask is the generic test's
// (test_generic_sigmoid_binary_cross_entropy, the catalogue entry).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"

namespace
{
    using namespace xloss_test;
    using shape_t = std::vector<std::size_t>;
    using ld = long double;

    struct bce_case
    {
        const char* name;
        shape_t shape;
        std::vector<double> x, y;
        shape_t weights_shape;
        std::vector<double> weights;
        bool has_weights;
        shape_t pos_weight_shape;
        std::vector<double> pos_weight;
        bool has_pos_weight;
        std::vector<double> value, dx, dy;
    };

#include "reference/bce_torch.inc"

    template <class T>
    xt::xarray<T> array_of(const std::vector<double>& v, const shape_t& shape)
    {
        xt::xarray<T> a = xt::xarray<T>::from_shape(shape);
        for (std::size_t i = 0; i < v.size(); ++i)
        {
            a.flat(i) = static_cast<T>(v[i]);
        }
        return a;
    }

    xloss::binary_cross_entropy_options options_of(const bce_case& c)
    {
        xloss::binary_cross_entropy_options o;
        if (c.has_weights)
        {
            o.weights = array_of<double>(c.weights, c.weights_shape);
        }
        if (c.has_pos_weight)
        {
            o.pos_weight = array_of<double>(c.pos_weight, c.pos_weight_shape);
        }
        return o;
    }

    // actual against an expected value computed in float64 from the double
    // inputs; float inputs are those rounded, so the float tolerance is
    // widened by the condition of the loss (|x| at most 1e4 times float's
    // epsilon on the saturated values, which are exactly |x| there).
    template <class T>
    void check_against(const xt::xarray<T>& actual, const std::vector<double>& expected)
    {
        check_reference<T>(actual, expected, 1e-5, 1e-12);
    }

    ld softplus(ld z)
    {
        return std::max(z, ld(0)) + std::log1p(std::exp(-std::fabs(z)));
    }
}

TEMPLATE_TEST_CASE("sigmoid_binary_cross_entropy: hand-computed values", "[bce]", float, double)
{
    using T = TestType;
    SECTION("the documented example")
    {
        const xt::xarray<T> x = {0.0, 2.0, -1.0};
        const xt::xarray<T> y = {1.0, 0.25, 0.0};
        // log 2 + (0.25 softplus(-2) + 0.75 softplus(2)) + softplus(-1)
        const ld expected = std::log(ld(2)) + 0.25L * softplus(-2) + 0.75L * softplus(2) + softplus(-1);
        CHECK(close(double(expected), 2.63333688, 1e-8, 0));
        const auto v = xloss::sigmoid_binary_cross_entropy(x, y);
        REQUIRE(v.dimension() == 0);
        CHECK(close(v(), double(expected), tolerance<T>::rel, tolerance<T>::abs));
        const auto e = xloss::sigmoid_binary_cross_entropy(x, y, xloss::no_axes);
        CHECK(close(e(0), std::log(2.0), tolerance<T>::rel, tolerance<T>::abs));
        CHECK(close(e(2), double(softplus(-1)), tolerance<T>::rel, tolerance<T>::abs));
        // d/dx = sigmoid(x) - y, d/dy = -x
        const auto [value, g] = xloss::value_and_grad<0, 1>(xloss::sigmoid_binary_cross_entropy, x, y);
        CHECK(value() == v());
        CHECK(close(g.first(0), -0.5, tolerance<T>::rel, tolerance<T>::abs));
        CHECK(close(g.first(1), 1 / (1 + std::exp(-2.0)) - 0.25, tolerance<T>::rel, tolerance<T>::abs));
        CHECK(close(g.first(2), 1 / (1 + std::exp(1.0)), tolerance<T>::rel, tolerance<T>::abs));
        CHECK(g.second(0) == T(0));
        CHECK(g.second(1) == T(-2));
        CHECK(g.second(2) == T(1));
    }
    SECTION("hard labels at infinite logits: 0 on the side they predict, inf on the other")
    {
        const T inf = std::numeric_limits<T>::infinity();
        const xt::xarray<T> x = {-inf, inf, -inf, inf};
        const xt::xarray<T> y = {0.0, 1.0, 1.0, 0.0};
        const auto e = xloss::sigmoid_binary_cross_entropy(x, y, xloss::no_axes);
        CHECK(e(0) == T(0));
        CHECK(e(1) == T(0));
        CHECK(e(2) == inf);
        CHECK(e(3) == inf);
        const auto d = xloss::grad<0, 1>(xloss::sigmoid_binary_cross_entropy, x, y, xloss::no_axes);
        CHECK(d.first(0) == T(0));
        CHECK(d.first(1) == T(0));
        CHECK(d.first(2) == T(-1));
        CHECK(d.first(3) == T(1));
        CHECK(d.second(0) == inf);
        CHECK(d.second(1) == -inf);
        // A masked infinite logit with a soft label leaks nothing.
        const xt::xarray<T> xs = {inf, T(1)};
        const xt::xarray<T> ys = {T(0.5), T(1)};
        const xt::xarray<bool> m = {false, true};
        const auto vm = xloss::sigmoid_binary_cross_entropy(xs, ys, -1, m);
        CHECK(close(vm(), double(softplus(-1)), tolerance<T>::rel, tolerance<T>::abs));
        const auto gm = xloss::grad(xloss::sigmoid_binary_cross_entropy, xs, ys, -1, m);
        CHECK(gm(0) == T(0));
    }
}

TEMPLATE_TEST_CASE("sigmoid_binary_cross_entropy: PyTorch's binary_cross_entropy_with_logits",
                   "[bce]",
                   float,
                   double)
{
    using T = TestType;
    for (const auto& c : bce_torch_cases)
    {
        INFO("case " << c.name);
        const xt::xarray<T> x = array_of<T>(c.x, c.shape);
        const xt::xarray<T> y = array_of<T>(c.y, c.shape);
        const auto o = options_of(c);
        const auto vg = xloss::value_and_grad<0, 1>(xloss::sigmoid_binary_cross_entropy, x, y, -1, o);
        check_against<T>(vg.value, c.value);
        check_against<T>(vg.grad.first, c.dx);
        check_against<T>(vg.grad.second, c.dy);
        check_equal(xloss::sigmoid_binary_cross_entropy(x, y, o), vg.value);
        // The same through the column kernel (the reduced axis first; the
        // weight arrays transposed with the inputs).
        const xt::xarray<T> xt_ = xt::transpose(x);
        const xt::xarray<T> yt_ = xt::transpose(y);
        xloss::binary_cross_entropy_options ot;
        if (o.weights)
        {
            ot.weights = xt::xarray<double>(xt::transpose(xt::xarray<double>(xt::broadcast(*o.weights, c.shape))));
        }
        if (o.pos_weight)
        {
            ot.pos_weight =
                xt::xarray<double>(xt::transpose(xt::xarray<double>(xt::broadcast(*o.pos_weight, c.shape))));
        }
        const auto vc = xloss::value_and_grad<0, 1>(xloss::sigmoid_binary_cross_entropy, xt_, yt_, 0, ot);
        check_against<T>(vc.value, c.value);
        check_against<T>(xt::xarray<T>(xt::transpose(vc.grad.first)), c.dx);
        check_against<T>(xt::xarray<T>(xt::transpose(vc.grad.second)), c.dy);
    }
}

TEMPLATE_TEST_CASE("sigmoid_binary_cross_entropy: logits of +-1e4 stay finite", "[bce]", float, double)
{
    using T = TestType;
    const xt::xarray<T> x = {1e4, -1e4, 1e4, -1e4, 1e4, -1e4};
    const xt::xarray<T> y = {1.0, 0.0, 0.0, 1.0, 0.25, 0.75};
    const auto e = xloss::sigmoid_binary_cross_entropy(x, y, xloss::no_axes);
    const std::vector<double> expected = {0, 0, 1e4, 1e4, 7500, 7500};
    check_against<T>(e, expected);
    const auto d = xloss::grad<0, 1>(xloss::sigmoid_binary_cross_entropy, x, y, xloss::no_axes);
    const std::vector<double> dx = {0, 0, 1, -1, 0.75, -0.75};
    check_against<T>(d.first, dx);
    for (std::size_t i = 0; i < x.size(); ++i)
    {
        CHECK(d.second(i) == -x(i));
    }
}

TEMPLATE_TEST_CASE("sigmoid_binary_cross_entropy: axis forms, masks and reductions", "[bce]", float, double)
{
    using T = TestType;
    const bce_case& c = bce_torch_cases[1];  // mixed_4x6
    const xt::xarray<T> x = array_of<T>(c.x, c.shape);
    const xt::xarray<T> y = array_of<T>(c.y, c.shape);
    const auto rows = xloss::sigmoid_binary_cross_entropy(x, y);
    const auto elementwise = xloss::sigmoid_binary_cross_entropy(x, y, xloss::no_axes);
    REQUIRE(elementwise.shape() == x.shape());
    SECTION("no_axes summed is the rows; all axes is their sum")
    {
        for (std::size_t i = 0; i < 4; ++i)
        {
            double s = 0;
            for (std::size_t j = 0; j < 6; ++j)
            {
                s += elementwise(i, j);
            }
            CHECK(close(rows(i), s, tolerance<T>::rel * 10, tolerance<T>::abs * 10));
        }
        const auto all = xloss::sigmoid_binary_cross_entropy(x, y, {0, 1});
        CHECK(close(all(), double(xt::sum(rows)()), tolerance<T>::rel * 10, tolerance<T>::abs * 10));
        CHECK(close(xloss::sum(xloss::sigmoid_binary_cross_entropy)(x, y)(), double(xt::sum(rows)()),
                    tolerance<T>::rel * 10, tolerance<T>::abs * 10));
        CHECK(close(xloss::mean(xloss::sigmoid_binary_cross_entropy)(x, y)(), double(xt::sum(rows)()) / 4,
                    tolerance<T>::rel * 10, tolerance<T>::abs * 10));
    }
    SECTION("a where mask drops elements, NaN included")
    {
        xt::xarray<T> xn = x;
        xn(2, 3) = std::numeric_limits<T>::quiet_NaN();
        xt::xarray<bool> m = xt::ones<bool>(x.shape());
        m(2, 3) = false;
        const auto v = xloss::sigmoid_binary_cross_entropy(xn, y, -1, m);
        CHECK(v(0) == rows(0));
        CHECK(close(v(2), double(rows(2) - elementwise(2, 3)), tolerance<T>::rel * 10, tolerance<T>::abs * 10));
        const auto g = xloss::grad<0, 1>(xloss::sigmoid_binary_cross_entropy, xn, y, -1, m);
        CHECK(g.first(2, 3) == T(0));
        CHECK(g.second(2, 3) == T(0));
        for (auto gv : g.first)
        {
            CHECK(std::isfinite(gv));
        }
    }
}

TEMPLATE_TEST_CASE("sigmoid_binary_cross_entropy: weight arrays", "[bce]", float, double)
{
    using T = TestType;
    const bce_case& c = bce_torch_cases[1];  // mixed_4x6
    const xt::xarray<T> x = array_of<T>(c.x, c.shape);
    const xt::xarray<T> y = array_of<T>(c.y, c.shape);
    SECTION("all-ones weights and pos_weight give the unweighted loss")
    {
        xloss::binary_cross_entropy_options o;
        o.weights = xt::xarray<double>(xt::ones<double>({6}));
        o.pos_weight = xt::xarray<double>(xt::ones<double>({4, 1}));
        const auto a = xloss::value_and_grad<0, 1>(xloss::sigmoid_binary_cross_entropy, x, y, -1, o);
        const auto b = xloss::value_and_grad<0, 1>(xloss::sigmoid_binary_cross_entropy, x, y, -1);
        check_close<T>(a.value, b.value);
        check_close<T>(a.grad.first, b.grad.first);
        check_close<T>(a.grad.second, b.grad.second);
    }
    SECTION("a shape that does not broadcast to the inputs' throws, naming both")
    {
        xloss::binary_cross_entropy_options o;
        o.weights = xt::xarray<double>(xt::ones<double>({5}));
        CHECK_THROWS_AS(xloss::sigmoid_binary_cross_entropy(x, y, o), std::invalid_argument);
        CHECK_THROWS_WITH(xloss::sigmoid_binary_cross_entropy(x, y, o),
                          Catch::Contains("xloss::sigmoid_binary_cross_entropy")
                              && Catch::Contains("weights") && Catch::Contains("[5]")
                              && Catch::Contains("[4, 6]"));
        xloss::binary_cross_entropy_options p;
        p.pos_weight = xt::xarray<double>(xt::ones<double>({2, 4, 6}));  // broadcasts, but not *to* [4, 6]
        CHECK_THROWS_WITH(xloss::grad(xloss::sigmoid_binary_cross_entropy, x, y, -1, p),
                          Catch::Contains("pos_weight") && Catch::Contains("[2, 4, 6]"));
    }
}

// Every kernel shape (rows, staged tiles of short rows, staged columns,
// columns in place) with weights and pos_weight of their own broadcast
// shapes, and a where mask, against the formula in long double.
TEMPLATE_TEST_CASE("sigmoid_binary_cross_entropy: weights on every kernel shape", "[bce]", float, double)
{
    using T = TestType;
    struct geometry
    {
        shape_t shape;
        std::ptrdiff_t axis;
    };
    for (const geometry& geo : {geometry{{5, 37}, -1}, geometry{{40, 3}, -1}, geometry{{37, 5}, 0},
                                geometry{{2500, 3}, 0}, geometry{{3, 2500}, -1}})
    {
        const std::size_t R = geo.shape[0], C = geo.shape[1];
        CAPTURE(R, C, geo.axis);
        xt::xarray<T> x = xt::xarray<T>::from_shape(geo.shape);
        xt::xarray<T> y = xt::xarray<T>::from_shape(geo.shape);
        xt::xarray<bool> m = xt::xarray<bool>::from_shape(geo.shape);
        for (std::size_t i = 0; i < x.size(); ++i)
        {
            x.flat(i) = static_cast<T>(std::sin(0.7 * double(i)) * 4);
            y.flat(i) = static_cast<T>(i % 5 == 0 ? 1.0 : (i % 5 == 1 ? 0.0 : 0.5 + 0.4 * std::cos(double(i))));
            m.flat(i) = i % 7 != 3;
        }
        xt::xarray<double> w = xt::xarray<double>::from_shape({C});
        xt::xarray<double> pw = xt::xarray<double>::from_shape({R, 1});
        for (std::size_t j = 0; j < C; ++j)
        {
            w(j) = 0.25 + 0.5 * double(j % 4);
        }
        for (std::size_t r = 0; r < R; ++r)
        {
            pw(r, 0) = 0.5 + double(r % 3);
        }
        xloss::binary_cross_entropy_options o;
        o.weights = w;
        o.pos_weight = pw;
        const auto vg = xloss::value_and_grad<0, 1>(xloss::sigmoid_binary_cross_entropy, x, y, geo.axis, m, o);
        const std::size_t batch = geo.axis == 0 ? C : R;
        std::vector<ld> value(batch, 0), scale(batch, 0);
        std::size_t bad_dx = 0, bad_dy = 0;
        for (std::size_t r = 0; r < R; ++r)
        {
            for (std::size_t j = 0; j < C; ++j)
            {
                const ld xv = x(r, j), yv = y(r, j), wv = w(j), pv = pw(r, 0);
                const ld p = 1 / (1 + std::exp(-xv)), q = 1 / (1 + std::exp(xv));
                const ld e = wv * (pv * yv * softplus(-xv) + (1 - yv) * softplus(xv));
                const ld dx = m(r, j) ? wv * ((1 - yv) * p - pv * yv * q) : 0;
                const ld dy = m(r, j) ? wv * (pv * softplus(-xv) - softplus(xv)) : 0;
                const std::size_t b = geo.axis == 0 ? j : r;
                if (m(r, j))
                {
                    value[b] += e;
                    scale[b] += std::fabs(e);
                }
                const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
                bad_dx += close(vg.grad.first(r, j), double(dx), tol, tol) ? 0 : 1;
                bad_dy += close(vg.grad.second(r, j), double(dy), tol, tol * (1 + std::fabs(double(xv)))) ? 0 : 1;
            }
        }
        CHECK(bad_dx == 0);
        CHECK(bad_dy == 0);
        std::size_t bad = 0;
        for (std::size_t b = 0; b < batch; ++b)
        {
            const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
            bad += std::fabs(double(vg.value(b)) - double(value[b])) <= tol * (1 + double(scale[b])) ? 0 : 1;
        }
        CHECK(bad == 0);
    }
}

// Optax's own test values (google-deepmind/optax,
// optax/losses/_classification_test.py, SigmoidCrossEntropyTest): the mean of
// the elementwise loss over two elements, compared there with rtol = atol =
// 1e-6. Here: xloss::mean with no_axes, the mean over the selected elements.
TEMPLATE_TEST_CASE("sigmoid_binary_cross_entropy: Optax's test values", "[bce]", float, double)
{
    using T = TestType;
    struct optax_case
    {
        double x0, x1, y0, y1, expected;
    };
    const optax_case cases[] = {
        {-1e9, -1e-9, 1, 0, 5e8},      {-1e9, -1e-9, 0, 1, 0.3465736}, {1e9, 1e-9, 1, 0, 0.3465736},
        {1e9, 1e-9, 0, 1, 5e8},        {-1e9, 1e-9, 1, 0, 5e8},        {-1e9, 1e-9, 0, 1, 0.3465736},
        {1e9, -1e-9, 1, 0, 0.3465736}, {1e9, -1e-9, 0, 1, 5e8},        {0, 0, 1, 0, 0.6931472},
        {0, 0, 0, 1, 0.6931472},
    };
    for (const auto& c : cases)
    {
        CAPTURE(c.x0, c.x1, c.y0, c.y1);
        const xt::xarray<T> x{static_cast<T>(c.x0), static_cast<T>(c.x1)};
        const xt::xarray<T> y{static_cast<T>(c.y0), static_cast<T>(c.y1)};
        const auto m = xloss::mean(xloss::sigmoid_binary_cross_entropy)(x, y, xloss::no_axes);
        CHECK(std::fabs(double(m()) - c.expected) <= 1e-6 + 1e-6 * std::fabs(c.expected));
    }
}

TEMPLATE_TEST_CASE("sigmoid_binary_cross_entropy: within 4 epsilons of a long-double reference for logits "
                   "from -80 to 80",
                   "[bce]",
                   float,
                   double)
{
    // softplus(x) (label 0) and softplus(-x) (label 1): where their log1p(exp(-|x|))
    // is a fitted polynomial in float (below and above |x| = 3/2, dense around the
    // seam), and where it is exp(-|x|) itself (tiny losses to full relative accuracy).
    using T = TestType;
    std::vector<T> logits = signed_sweep<T>(1e-5, 80, {1.5, -1.5}, 300, 1e-5);
    logits.push_back(T(0));
    const std::size_t n = logits.size();
    const xt::xarray<T> x = xt::adapt(logits, {n});
    const long double eps = std::numeric_limits<T>::epsilon();
    for (const T label : {T(0), T(1)})
    {
        const xt::xarray<T> labels = xt::full_like(x, label);
        const xt::xarray<T> loss = xloss::sigmoid_binary_cross_entropy(x, labels, xloss::no_axes);
        std::size_t bad = 0;
        for (std::size_t i = 0; i < n; ++i)
        {
            // softplus(z) = max(z, 0) + log1p(exp(-|z|)), z = x for label 0, -x for label 1
            const long double z = label == T(0) ? x(i) : -static_cast<long double>(x(i));
            const long double exact = std::max(z, 0.0L) + std::log1p(std::exp(-std::fabs(z)));
            if (std::fabs(loss(i) - exact) > 4 * eps * exact)
            {
                ++bad;
                UNSCOPED_INFO("label " << label << ", logit " << x(i) << ": " << loss(i) << " against "
                                       << static_cast<double>(exact));
            }
        }
        CHECK(bad == 0);
    }
}

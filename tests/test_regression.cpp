// squared_error, l2_loss, huber_loss and log_cosh: Optax's own test inputs
// (optax/losses/_regression_test.py: ys = {-2, -1, 0.5, 1} against
// ts = {-1.5, 0, -1, 1} for the squared and l2 losses; Huber with delta 1 on
// {-2, 0.5, 0, 0.5, 2, 4, 132} against 0; log-cosh on {500, -2, -1, 0.5, 1}
// against {-200, -1.5, 0, -1, 1}) with the values worked out by hand from
// the formulas, elementwise (xloss::no_axes) as Optax returns them; the
// numerics of issue 12: log-cosh exact where cosh overflows and for tiny
// errors, Huber's gradient continuous at |e| = delta. The generic properties
// (masks, axes, references, gradients) run over the catalogue.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xarray.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"

using namespace xloss_test;

TEMPLATE_TEST_CASE("squared_error and l2_loss: Optax's test inputs", "[regression]", float, double)
{
    using T = TestType;
    const xt::xarray<T> ys = {-2, -1, 0.5, 1};
    const xt::xarray<T> ts = {-1.5, 0, -1, 1};
    // e = {-0.5, -1, 1.5, 0}: e^2 = {0.25, 1, 2.25, 0}
    check_close<T>(xloss::squared_error(ys, ts, xloss::no_axes), xt::xarray<T>{0.25, 1, 2.25, 0});
    check_close<T>(xloss::l2_loss(ys, ts, xloss::no_axes), xt::xarray<T>{0.125, 0.5, 1.125, 0});
    CHECK(xloss::squared_error(ys, ts)() == Approx(3.5));
    CHECK(xloss::l2_loss(ys, ts)() == Approx(1.75));
    // gradients: 2e and e w.r.t. predictions, minus that w.r.t. targets
    const auto [dx, dy] = xloss::grad<0, 1>(xloss::squared_error, ys, ts);
    check_close<T>(dx, xt::xarray<T>{-1, -2, 3, 0});
    check_close<T>(dy, xt::xarray<T>{1, 2, -3, 0});
    check_close<T>(xloss::grad(xloss::l2_loss, ys, ts), xt::xarray<T>{-0.5, -1, 1.5, 0});
    // PyTorch's mse_loss(reduction='mean') is the mean over elements
    CHECK(xloss::mean(xloss::squared_error)(ys, ts, xloss::no_axes)() == Approx(0.875));
}

TEMPLATE_TEST_CASE("huber_loss: Optax's test inputs, delta, and a gradient continuous at |e| = delta",
                   "[regression]",
                   float,
                   double)
{
    using T = TestType;
    const xt::xarray<T> ys = {-2, 0.5, 0, 0.5, 2, 4, 132};
    const xt::xarray<T> ts = xt::zeros<T>({7});
    // |e| <= 1: e^2 / 2; else |e| - 0.5
    check_close<T>(xloss::huber_loss(ys, ts, xloss::no_axes),
                   xt::xarray<T>{1.5, 0.125, 0, 0.125, 1.5, 3.5, 131.5});
    check_close<T>(xloss::grad(xloss::huber_loss, ys, ts), xt::xarray<T>{-1, 0.5, 0, 0.5, 1, 1, 1});
    // delta 2: quadratic up to 2, then 2 (|e| - 1)
    const xloss::huber_options two{2.0};
    check_close<T>(xloss::huber_loss(ys, ts, xloss::no_axes, two),
                   xt::xarray<T>{2, 0.125, 0, 0.125, 2, 6, 262});
    // just below, at and just above delta: value and gradient continuous
    for (const double delta : {0.5, 1.0, 3.0})
    {
        INFO("delta " << delta);
        const xloss::huber_options o{delta};
        const T d = static_cast<T>(delta);
        const T below = std::nextafter(d, T(0));
        const T above = std::nextafter(d, T(10));
        const xt::xarray<T> e = {below, d, above, -below, -d, -above};
        const xt::xarray<T> zero = xt::zeros<T>({6});
        const xt::xarray<T> g = xloss::grad(xloss::huber_loss, e, zero, xloss::no_axes, o);
        const xt::xarray<T> v = xloss::huber_loss(e, zero, xloss::no_axes, o);
        for (std::size_t i = 0; i < 6; ++i)
        {
            CHECK(std::fabs(std::fabs(g(i)) - d) <= 2 * std::numeric_limits<T>::epsilon() * d);
            CHECK(std::fabs(v(i) - d * d / 2) <= 4 * std::numeric_limits<T>::epsilon() * d * d);
        }
    }
    // delta 0: the loss is 0 everywhere, and so is its gradient
    const xloss::huber_options zero_delta{0.0};
    CHECK(xloss::huber_loss(ys, ts, zero_delta)() == T(0));
    check_equal(xloss::grad(xloss::huber_loss, ys, ts, zero_delta), xt::xarray<T>(xt::zeros<T>({7})));
}

TEMPLATE_TEST_CASE("log_cosh: Optax's test inputs, exact where cosh overflows and for tiny errors",
                   "[regression]",
                   float,
                   double)
{
    using T = TestType;
    const xt::xarray<T> ys = {500, -2, -1, 0.5, 1};
    const xt::xarray<T> ts = {-200, -1.5, 0, -1, 1};
    // e = {700, -0.5, -1, 1.5, 0}; cosh(700) overflows float (and is near double's limit)
    const long double ln2 = std::log(2.0L);
    const xt::xarray<double> expected = {static_cast<double>(700 - ln2 + std::log1p(std::exp(-1400.0L))),
                                         static_cast<double>(std::log(std::cosh(0.5L))),
                                         static_cast<double>(std::log(std::cosh(1.0L))),
                                         static_cast<double>(std::log(std::cosh(1.5L))), 0.0};
    check_close<T>(xloss::log_cosh(ys, ts, xloss::no_axes), expected);
    // errors of +-1e3 in float: |e| - log 2
    const xt::xarray<T> big = {1000, -1000, 88.75, -90};
    const xt::xarray<T> zero = xt::zeros<T>({4});
    const xt::xarray<T> v = xloss::log_cosh(big, zero, xloss::no_axes);
    for (std::size_t i = 0; i < 4; ++i)
    {
        const long double e = std::fabs(static_cast<long double>(big(i)));
        CHECK(std::isfinite(v(i)));
        CHECK(v(i) == Approx(static_cast<double>(e - ln2)).epsilon(4 * std::numeric_limits<T>::epsilon()));
    }
    check_close<T>(xloss::grad(xloss::log_cosh, big, zero), xt::xarray<T>{1, -1, 1, -1});
    // tiny errors: log cosh e (about e^2 / 2) to full relative precision
    for (const double e : {1e-4, 3e-3, 0.25, 0.999, 1.0, 1.001})
    {
        INFO("e " << e);
        const xt::xarray<T> x = {static_cast<T>(e)};
        const xt::xarray<T> z = {T(0)};
        const long double le = static_cast<T>(e);
        // cosh e - 1 = 2 sinh^2(e / 2): log(cosh(e)) itself loses 1e-19 / e^2 relative
        const long double half = std::sinh(le / 2);
        const long double exact = std::log1p(2 * half * half);
        CHECK(xloss::log_cosh(x, z)()
              == Approx(static_cast<double>(exact)).epsilon(8 * std::numeric_limits<T>::epsilon()));
        CHECK(xloss::grad(xloss::log_cosh, x, z)(0)
              == Approx(static_cast<double>(std::tanh(le))).epsilon(4 * std::numeric_limits<T>::epsilon()));
    }
}

TEMPLATE_TEST_CASE("log_cosh: within 3 epsilons of a long-double reference from 1e-6 to 200, both signs",
                   "[regression]",
                   float,
                   double)
{
    // Every step of the float form (polynomials below |e| = 3/4, exp above) and the
    // double one (expm1, log1p) is crossed: 2 x 1700 errors in geometric steps, and a
    // dense run of floats around 3/4 and 1 where the forms meet.
    using T = TestType;
    const std::vector<T> errors = signed_sweep<T>(1e-6, 200, {0.75, 1.0}, 200, 1e-5);
    const std::size_t n = errors.size();
    xt::xarray<T> x = xt::zeros<T>({n});
    std::copy(errors.begin(), errors.end(), x.begin());
    const xt::xarray<T> zero = xt::zeros<T>({n});
    const xt::xarray<T> value = xloss::log_cosh(x, zero, xloss::no_axes);
    const xt::xarray<T> slope = xloss::grad(xloss::log_cosh, x, zero);
    const long double eps = std::numeric_limits<T>::epsilon();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i)
    {
        const long double e = x(i);
        const long double half = std::sinh(e / 2);
        const long double exact = std::log1p(2 * half * half);
        const long double tanh = std::tanh(e);
        if (std::fabs(value(i) - exact) > 3 * eps * exact
            || std::fabs(slope(i) - tanh) > 3 * eps * std::fabs(tanh))
        {
            ++bad;
            UNSCOPED_INFO("e " << static_cast<double>(e) << ": " << value(i) << " against "
                               << static_cast<double>(exact) << ", tanh " << slope(i) << " against "
                               << static_cast<double>(tanh));
        }
    }
    CHECK(bad == 0);
}

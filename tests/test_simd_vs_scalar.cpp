// The SIMD backend and the scalar fallback (XLOSS_NO_SIMD) give the same
// results within the tests' tolerance (support.hpp): one program holds both
// builds of the battery in backend_battery.hpp, and every value and gradient
// is compared element by element (the absolute tolerance per unit of the
// output's largest magnitude). NaN must meet NaN and an infinity the same
// infinity; masked-out elements (poisoned with NaN) must give the same 0.
#include <cmath>
#include <limits>
#include <cstddef>
#include <sstream>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <algorithm>

#include <xloss/xloss.hpp>

#include "backend_record.hpp"
#include "support.hpp"

using namespace xloss_test;

TEST_CASE("the two builds are different functions to the linker", "[backend]")
{
    // If the inline namespace were missing, the linker would keep one of the
    // two definitions and this test would compare a backend with itself.
    CHECK(std::string(typeid(xloss::cosine_options).name()).find("simd_") != std::string::npos);
}

TEST_CASE("SIMD and scalar backends agree on every loss, shape, mask and gradient", "[backend]")
{
    const auto simd = battery_simd();
    const auto scalar = join_parts([](auto part) { return battery_scalar<decltype(part)::value>(); });
    REQUIRE(simd.size() == scalar.size());
    REQUIRE(simd.size() > 1000);

    std::size_t compared = 0;
    std::size_t nonzero = 0;
    std::size_t nan = 0;
    std::size_t bad = 0;
    std::ostringstream report;
    report.precision(17);
    for (std::size_t r = 0; r < simd.size(); ++r)
    {
        const auto& a = simd[r];
        const auto& b = scalar[r];
        REQUIRE(a.what == b.what);
        REQUIRE(a.backend.find("simd_") != std::string::npos);
        REQUIRE(b.backend.find("scalar_") != std::string::npos);
        REQUIRE(a.values.size() == b.values.size());
        // The absolute term scales with the output's largest magnitude: an
        // element that cancels to 0 (a cosine gradient where a vector has one
        // nonzero element: y_k/|y| - cos x_k/|x|, times 1/|x|) keeps the
        // rounding of the terms it cancels, not a rounding of its own size.
        double scale = 1;
        for (double v : b.values)
        {
            scale = std::isfinite(v) ? std::max(scale, std::abs(v)) : scale;
        }
        const double rel = a.is_float ? tolerance<float>::rel : tolerance<double>::rel;
        const double abs = scale * (a.is_float ? tolerance<float>::abs : tolerance<double>::abs);
        for (std::size_t i = 0; i < a.values.size(); ++i)
        {
            ++compared;
            nonzero += a.values[i] != 0;
            nan += std::isnan(a.values[i]);
            if (!close(a.values[i], b.values[i], rel, abs))
            {
                if (++bad <= 10)
                {
                    report << a.what << " [" << i << "]: simd " << a.values[i] << " scalar " << b.values[i]
                           << "\n";
                }
            }
        }
    }
    INFO(report.str());
    INFO(compared << " numbers compared, " << bad << " differ");
    CHECK(bad == 0);
    // The battery is not trivially zero: most of what it compares is a real value.
    CHECK(nonzero > compared / 2);
    CHECK(compared > 100000);
    CHECK(nan == 0);  // nothing in the battery should produce NaN: masked NaN never leaks
}

TEMPLATE_TEST_CASE("simd::exp is within a few ulps of exp over the whole range of the type",
                   "[backend][exp]",
                   float,
                   double)
{
    // xsimd 8.1's exp overflows early (float above ~88.376, where exp is
    // still finite up to ~88.72) and flushes denormal results to 0; the
    // convex KL gradient with a zero upstream then came out NaN (0 * inf) on
    // the SIMD backend and 0 on the scalar one (found by the fuzzer).
    using T = TestType;
    using B = xloss::detail::simd::batch<T>;
    const double top = std::is_same_v<T, float> ? 89.0 : 710.0;
    const double bottom = std::is_same_v<T, float> ? -104.0 : -745.5;
    // exp_into_sum (arguments <= 0, results added to at least 1) may read
    // results below the smallest normal number as 0, and is exact elsewhere.
    double worst = 0, worst_into_sum = 0;
    for (double v = bottom; v <= top; v += (top - bottom) / 100003)
    {
        const T x = static_cast<T>(v);
        const T got = xloss::detail::simd::first_lane<T>(xloss::detail::simd::exp(B(x)));
        const long double exact = std::exp(static_cast<long double>(x));
        const T expected = static_cast<T>(exact);
        if (std::isinf(expected) || expected == 0)
        {
            INFO("x = " << x);
            CHECK(got == expected);
            continue;
        }
        // ulps of the result, counting denormals by their spacing
        const long double spacing = std::max<long double>(
            std::numeric_limits<T>::denorm_min(), std::fabs(exact) * std::numeric_limits<T>::epsilon());
        worst = std::max(worst, static_cast<double>(std::fabs(got - exact) / spacing));
        if (x <= 0 && expected >= std::numeric_limits<T>::min())
        {
            const T into_sum = xloss::detail::simd::first_lane<T>(xloss::detail::simd::exp_into_sum(B(x)));
            worst_into_sum = std::max(worst_into_sum,
                                      static_cast<double>(std::fabs(into_sum - exact) / spacing));
        }
    }
    CHECK(worst < 4);
    CHECK(worst_into_sum < 4);
    const T inf = std::numeric_limits<T>::infinity();
    const T nan = std::numeric_limits<T>::quiet_NaN();
    CHECK(xloss::detail::simd::first_lane<T>(xloss::detail::simd::exp(B(inf))) == inf);
    CHECK(xloss::detail::simd::first_lane<T>(xloss::detail::simd::exp(B(-inf))) == 0);
    CHECK(std::isnan(xloss::detail::simd::first_lane<T>(xloss::detail::simd::exp(B(nan)))));
    CHECK(xloss::detail::simd::first_lane<T>(xloss::detail::simd::exp_into_sum(B(-inf))) == 0);
    CHECK(std::isnan(xloss::detail::simd::first_lane<T>(xloss::detail::simd::exp_into_sum(B(nan)))));
}

// The kernels at every reduced length from 0 to 3W+1 (W = the SIMD width),
// from misaligned starts, through both kernel shapes (row: reducing the
// innermost axis; column: reducing an outer axis with a contiguous inner
// extent, including inner extents that are not multiples of W), with masks
// and with NaN/-inf under false masks. Oracle: the long-double reference.
#include <cmath>
#include <limits>

#include <xtensor/xview.hpp>

#include <xloss/detail/simd.hpp>
#include <xloss/xloss.hpp>

#include "support.hpp"

using namespace xloss_test;

TEMPLATE_TEST_CASE("row and column kernels at every length around the SIMD width", "[kernels]", float, double)
{
    using T = TestType;
    constexpr std::size_t W = xloss::detail::simd::width<T>;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    for (std::size_t n = 0; n <= 3 * W + 1; ++n)
    {
        CAPTURE(W, n);
        // Row kernel, misaligned: slices start one element into the buffer.
        const auto base_x = random_normal<T>({3, n + 1}, 2.0, 100 + unsigned(n));
        const auto base_y = random_probabilities<T>({3, n + 1}, -1, 200 + unsigned(n));
        const xt::xarray<T> x = xt::view(base_x, xt::all(), xt::range(1, n + 1));
        const xt::xarray<T> y = xt::view(base_y, xt::all(), xt::range(1, n + 1));
        const auto mask = random_mask({3, n}, 0.7, 300 + unsigned(n));
        xt::xarray<T> poisoned = x;
        for (std::size_t i = 0; i < poisoned.size(); ++i)
        {
            if (!mask.flat(i))
            {
                poisoned.flat(i) = i % 2 ? nan : -std::numeric_limits<T>::infinity();
            }
        }
        const auto s = to_slices(x, y, {1}, &mask);
        check_close<T>(xloss::softmax_cross_entropy(poisoned, y, -1, mask), per_slice(s, ref_softmax_cross_entropy));
        check_close<T>(xloss::kl_divergence(poisoned, y, -1, mask),
                       per_slice(s, [](auto a, auto b, auto m, auto k) { return ref_kl(a, b, m, k, false); }), 4);
        check_close<T>(xloss::cosine_similarity(poisoned, y, -1, mask),
                       per_slice(s, [](auto a, auto b, auto m, auto k) { return ref_cosine(a, b, m, k, 0, false); }), 4);
        check_close<T>(xloss::sigmoid_focal_loss(poisoned, y, -1, mask),
                       per_slice(s, [](auto a, auto b, auto m, auto k) { return ref_focal(a, b, m, k, 0.25, 2); }), 4);
        // The misaligned view itself (read through a temporary or in place).
        auto vx = xt::view(base_x, xt::all(), xt::range(1, n + 1));
        auto vy = xt::view(base_y, xt::all(), xt::range(1, n + 1));
        const auto su = to_slices(x, y, {1}, nullptr);
        check_close<T>(xloss::softmax_cross_entropy(vx, vy), per_slice(su, ref_softmax_cross_entropy));

        // Column kernel: reduce axis 1 of [2, 5, n] (inner extent n, any remainder mod W).
        const auto cx = random_normal<T>({2, 5, n}, 2.0, 400 + unsigned(n));
        const auto cy = random_probabilities<T>({2, 5, n}, 1, 500 + unsigned(n));
        const auto cm = random_mask({2, 5, n}, 0.7, 600 + unsigned(n));
        xt::xarray<T> cpoison = cx;
        for (std::size_t i = 0; i < cpoison.size(); ++i)
        {
            if (!cm.flat(i))
            {
                cpoison.flat(i) = nan;
            }
        }
        const auto cs = to_slices(cx, cy, {1}, &cm);
        check_close<T>(xloss::softmax_cross_entropy(cpoison, cy, 1, cm), per_slice(cs, ref_softmax_cross_entropy));
        check_close<T>(xloss::convex_kl_divergence(cpoison, cy, 1, cm),
                       per_slice(cs, [](auto a, auto b, auto m, auto k) { return ref_kl(a, b, m, k, true); }), 4);
        check_close<T>(xloss::cosine_distance(cpoison, cy, 1, cm),
                       per_slice(cs, [](auto a, auto b, auto m, auto k) { return ref_cosine(a, b, m, k, 0, true); }), 4);
        // Integer labels through the column kernel, labels on selected elements.
        xt::xarray<int> labels = xt::zeros<int>(std::vector<std::size_t>{2, n});
        xt::xarray<bool> cm2 = cm;
        for (std::size_t b = 0; b < 2; ++b)
        {
            for (std::size_t j = 0; j < n; ++j)
            {
                labels(b, j) = int((b + j) % 5);
                cm2(b, std::size_t(labels(b, j)), j) = true;
            }
        }
        xt::xarray<T> one_hot = xt::zeros<T>(std::vector<std::size_t>{2, 5, n});
        for (std::size_t b = 0; b < 2; ++b)
        {
            for (std::size_t j = 0; j < n; ++j)
            {
                one_hot(b, std::size_t(labels(b, j)), j) = 1;
            }
        }
        const auto cs2 = to_slices(cx, one_hot, {1}, &cm2);
        check_close<T>(xloss::softmax_cross_entropy_with_integer_labels(cx, labels, 1, cm2),
                       per_slice(cs2, ref_softmax_cross_entropy));
    }
}

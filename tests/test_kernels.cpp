// The kernels at every reduced length from 0 to 3W+1 (W = the SIMD width),
// from misaligned starts, through both kernel shapes (row: reducing the
// innermost axis; column: reducing an outer axis with a contiguous inner
// extent, including inner extents that are not multiples of W), with masks
// and with NaN/-inf under false masks. Oracle: the long-double reference.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <vector>

#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include <xloss/detail/schedule.hpp>
#include <xloss/detail/simd.hpp>
#include <xloss/xloss.hpp>

#include "support.hpp"
#include "kernel_instances.hpp"

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
        check_close<T>(xloss::softmax_cross_entropy(poisoned, y, -1, mask),
                       per_slice(s, ref_softmax_cross_entropy));
        check_close<T>(xloss::kl_divergence(poisoned, y, -1, mask),
                       per_slice(s, [](auto a, auto b, auto m, auto k) { return ref_kl(a, b, m, k, false); }),
                       4);
        check_close<T>(
            xloss::cosine_similarity(poisoned, y, -1, mask),
            per_slice(s, [](auto a, auto b, auto m, auto k) { return ref_cosine(a, b, m, k, 0, false); }), 4);
        check_close<T>(
            xloss::sigmoid_focal_loss(poisoned, y, -1, mask, xloss::focal_options{0.25, 2}),
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
        check_close<T>(xloss::softmax_cross_entropy(cpoison, cy, 1, cm),
                       per_slice(cs, ref_softmax_cross_entropy));
        check_close<T>(xloss::convex_kl_divergence(cpoison, cy, 1, cm),
                       per_slice(cs, [](auto a, auto b, auto m, auto k) { return ref_kl(a, b, m, k, true); }),
                       4);
        check_close<T>(
            xloss::cosine_distance(cpoison, cy, 1, cm),
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

namespace
{
    // Value and both gradients of `loss` computed one slice at a time (each
    // call has a single slice, so it runs the row kernel), stitched together.
    template <class T, class Loss, class... Opts>
    void check_against_row_kernel(const Loss& loss,
                                  const xt::xarray<T>& x,
                                  const xt::xarray<T>& y,
                                  const xt::xarray<bool>& mask,
                                  const Opts&... opts)
    {
        const std::size_t rows = x.shape()[0];
        const auto [value, grads] = xloss::value_and_grad<0, 1>(loss, x, y, -1, mask, opts...);
        xt::xarray<T> v1 = xt::zeros<T>({rows});
        xt::xarray<T> g0 = xt::zeros_like(x), g1 = xt::zeros_like(x);
        for (std::size_t r = 0; r < rows; ++r)
        {
            const xt::xarray<T> xr = xt::view(x, xt::range(r, r + 1), xt::all());
            const xt::xarray<T> yr = xt::view(y, xt::range(r, r + 1), xt::all());
            const xt::xarray<bool> mr = xt::view(mask, xt::range(r, r + 1), xt::all());
            const auto [vr, gr] = xloss::value_and_grad<0, 1>(loss, xr, yr, -1, mr, opts...);
            v1(r) = vr(0);
            xt::view(g0, xt::range(r, r + 1), xt::all()) = gr.first;
            xt::view(g1, xt::range(r, r + 1), xt::all()) = gr.second;
        }
        // 8x the base tolerance: the two paths sum in different orders, and
        // some gradients are round-off around 0 (cosine of one-element slices).
        check_close<T>(value, v1, 8);
        check_close<T>(grads.first, g0, 8);
        check_close<T>(grads.second, g1, 8);
    }
}

TEMPLATE_TEST_CASE("simd::sum_rows: lane i is the sum of row i, whatever rows are beside it",
                   "[kernels]",
                   float,
                   double)
{
    namespace simd = xloss::detail::simd;
    using T = TestType;
    using B = simd::batch<T>;
    constexpr std::size_t W = simd::width<T>;
    const auto values = random_normal<T>({W, W}, 1.0, 41);
    std::vector<B> rows(W);
    for (std::size_t i = 0; i < W; ++i)
    {
        rows[i] = simd::load(&values(i, 0));
    }
    std::vector<T> sums(W);
    simd::store(sums.data(), simd::sum_rows(rows.data()));
    for (std::size_t i = 0; i < W; ++i)
    {
        CAPTURE(W, i);
        long double expected = 0;
        for (std::size_t l = 0; l < W; ++l)
        {
            expected += values(i, l);
        }
        CHECK(static_cast<long double>(sums[i])
              == Approx(static_cast<double>(expected)).epsilon(1e-5).margin(1e-5));
        // Alone among zero rows, at any position, row 0 sums to the same value:
        // the engine's groups of rows may start anywhere (thread parts, chunks).
        std::vector<B> alone(W, B(T(0)));
        alone[i] = rows[0];
        std::vector<T> alone_sums(W);
        simd::store(alone_sums.data(), simd::sum_rows(alone.data()));
        CHECK(alone_sums[i] == sums[0]);
    }
}

TEMPLATE_TEST_CASE("short rows, transposed into tiles, equal the row kernel", "[kernels]", float, double)
{
    using T = TestType;
    constexpr std::size_t W = xloss::detail::simd::width<T>;
    for (std::size_t n : {std::size_t(1), std::size_t(2), W - 1, W, W + 1, 4 * W})
    {
        // More rows than one tile (8 W), and not a multiple of W.
        const std::size_t rows = 9 * W + 3;
        CAPTURE(W, n, rows);
        const auto x = random_normal<T>({rows, n}, 2.0, 700 + unsigned(n));
        const auto y = random_probabilities<T>({rows, n}, -1, 800 + unsigned(n));
        const auto mask = random_mask({rows, n}, 0.8, 900 + unsigned(n));
        const auto s = to_slices(x, y, {1}, &mask);
        check_close<T>(xloss::softmax_cross_entropy(x, y, -1, mask), per_slice(s, ref_softmax_cross_entropy));
        check_against_row_kernel<T>(xloss::softmax_cross_entropy, x, y, mask);
        check_against_row_kernel<T>(xloss::kl_divergence, x, y, mask);
        check_against_row_kernel<T>(xloss::cosine_distance, x, y, mask);
        check_against_row_kernel<T>(xloss::sigmoid_focal_loss, x, y, mask, xloss::focal_options{0.25, 2});
    }
}

TEMPLATE_TEST_CASE("short rows go into a tile and back element for element",
                   "[kernels]",
                   std::uint8_t,
                   float,
                   double)
{
    // transfer() in block transposes (16 x 16 bytes, 4 x 4 floats, 2 x 2
    // doubles on x86-64) with element-by-element edges: slice counts and
    // lengths below, at and past a block, rows with a gap after them.
    using V = TestType;
    for (std::size_t n : {1, 2, 3, 4, 5, 15, 16, 17, 33, 64})
    {
        for (std::size_t count : {1, 3, 4, 15, 16, 17, 40, 128})
        {
            for (std::size_t gap : {0, 3})
            {
                CAPTURE(n, count, gap);
                const std::size_t width = count + 9;
                const std::size_t stride = n + gap;
                std::vector<V> rows(count * stride), tile(n * width), back(count * stride, V(0));
                for (std::size_t i = 0; i < rows.size(); ++i)
                {
                    rows[i] = static_cast<V>(i % 251 + 1);
                }
                xloss::detail::transfer<true>(tile.data(), rows.data(), n, count, width, stride, 1);
                xloss::detail::transfer<false>(tile.data(), back.data(), n, count, width, stride, 1);
                std::size_t wrong_in = 0, wrong_back = 0;
                for (std::size_t l = 0; l < count; ++l)
                {
                    for (std::size_t k = 0; k < stride; ++k)
                    {
                        wrong_in += k < n && tile[k * width + l] != rows[l * stride + k];
                        wrong_back += back[l * stride + k] != (k < n ? rows[l * stride + k] : V(0));
                    }
                }
                CHECK(wrong_in == 0);
                CHECK(wrong_back == 0);
            }
        }
    }
}

TEMPLATE_TEST_CASE("columns wider than a tile, and slices too long to stage", "[kernels]", float, double)
{
    using T = TestType;
    constexpr std::size_t W = xloss::detail::simd::width<T>;
    // Staged: inner extent of several tiles plus a remainder.
    // Direct: n * W * sizeof(T) above the 64 KiB staging budget.
    const std::size_t long_n = 64 * 1024 / (W * sizeof(T)) + 5;
    for (auto shape :
         {std::vector<std::size_t>{2, 5, 8 * W * 2 + 7}, std::vector<std::size_t>{1, long_n, W + 3}})
    {
        CAPTURE(W, shape[1], shape[2]);
        const auto x = random_normal<T>(shape, 2.0, 1000);
        const auto y = random_probabilities<T>(shape, 1, 1001);
        const auto mask = random_mask(shape, 0.8, 1002);
        const auto s = to_slices(x, y, {1}, &mask);
        check_close<T>(xloss::softmax_cross_entropy(x, y, 1, mask), per_slice(s, ref_softmax_cross_entropy),
                       8);
        // Gradients against the same problem with the reduced axis moved last (row kernel).
        const xt::xarray<T> xl = xt::transpose(x, {0, 2, 1});
        const xt::xarray<T> yl = xt::transpose(y, {0, 2, 1});
        const xt::xarray<bool> ml = xt::transpose(mask, {0, 2, 1});
        const auto [dx, dy] = xloss::grad<0, 1>(xloss::softmax_cross_entropy, x, y, 1, mask);
        const auto [dxl, dyl] = xloss::grad<0, 1>(xloss::softmax_cross_entropy, xl, yl, -1, ml);
        check_close<T>(dx, xt::xarray<T>(xt::transpose(dxl, {0, 2, 1})), 8);
        check_close<T>(dy, xt::xarray<T>(xt::transpose(dyl, {0, 2, 1})), 8);
        const auto [cx, cy] = xloss::grad<0, 1>(xloss::cosine_similarity, x, y, 1, mask);
        const auto [cxl, cyl] = xloss::grad<0, 1>(xloss::cosine_similarity, xl, yl, -1, ml);
        check_close<T>(cx, xt::xarray<T>(xt::transpose(cxl, {0, 2, 1})), 8);
        check_close<T>(cy, xt::xarray<T>(xt::transpose(cyl, {0, 2, 1})), 8);
    }
}

TEMPLATE_TEST_CASE("softmax CE down many rows, streamed in blocks, equals the axis moved last",
                   "[kernels]",
                   float,
                   double)
{
    // Axis 1 of [B, n, C]: the stream form (schedule.hpp, run_streams) of both
    // cross entropies, for values from 80 rows and with gradients from 512:
    // blocks of 16 rows and a partial one, two full groups of lanes and a
    // partial one (W = 16), strips of 1024 floats or 512 doubles and a partial
    // one ([1, 530, 1100]), an element mask, a batch-rank mask or ignore_index,
    // a per-slice cotangent, and the edges: a label on a masked-out element
    // (+inf), a slice all -inf (NaN, as the row kernel gives), a +inf logit,
    // a slice whose only selected elements are in its last block, and a label
    // out of range in a slice the batch mask leaves out. Oracle: the same
    // problem with axis 1 moved last (rows).
    using T = TestType;
    const T inf = std::numeric_limits<T>::infinity();
    for (const auto& shape : {std::vector<std::size_t>{2, 90, 37}, std::vector<std::size_t>{2, 530, 37},
                              std::vector<std::size_t>{1, 530, 1100}})
    {
        const std::size_t b = shape[0] - 1, n = shape[1], c = shape[2];
        CAPTURE(n, c);
        auto x = random_normal<T>(shape, 3.0, 1200);
        auto mask = random_mask(shape, 0.8, 1201);
        auto labels = random_labels({shape[0], c}, n, 1202);
        const auto g = random_normal<T>({shape[0], c}, 1.0, 1203);
        xt::xarray<bool> slices = random_mask({shape[0], c}, 0.8, 1204);
        for (std::size_t k = 0; k < n; ++k)
        {
            x(0, k, 3) = -inf;  // every element of slice (0, 3)
            mask(0, k, 4) = k + 1 == n;
        }
        mask(0, std::size_t(labels(0, 4)), 4) = true;
        mask(0, std::size_t(labels(0, 3)), 3) = true;
        mask(0, 10, 5) = false;
        labels(0, 5) = 10;  // on a masked-out element
        x(b, 40, 6) = inf;  // +inf logit
        mask(b, 40, 6) = true;
        auto left_out = labels;
        left_out(b, 7) = 900000;  // out of range, but its slice is left out
        slices(b, 7) = false;
        const auto last = [](const auto& a)
        {
            using V = typename std::decay_t<decltype(a)>::value_type;
            return xt::xarray<V>(xt::transpose(a, {0, 2, 1}));
        };
        const auto& ce_int = xloss::softmax_cross_entropy_with_integer_labels;
        const auto [v, d] = xloss::value_and_grad(ce_int, x, labels, 1, mask);
        const auto [vl, dl] = xloss::value_and_grad(ce_int, last(x), labels, -1, last(mask));
        check_close<T>(ce_int(x, labels, 1, mask), vl, 8);
        check_close<T>(v, vl, 8);
        check_close<T>(d, last(dl), 8);
        CHECK(std::isinf(v(0, 5)));
        CHECK(std::isnan(v(0, 3)));
        check_close<T>(xloss::vjp(ce_int, g, x, left_out, 1, slices),
                       last(xloss::vjp(ce_int, g, last(x), left_out, -1, slices)), 8);
        xloss::cross_entropy_options ignore;
        ignore.ignore_index = 900000;
        check_close<T>(xloss::vjp(ce_int, g, x, left_out, 1, mask, ignore),
                       last(xloss::vjp(ce_int, g, last(x), left_out, -1, last(mask), ignore)), 8);

        // Probability labels: smoothed one-hot rows with zeros, under the same edges.
        xt::xarray<T> y = random_probabilities<T>(shape, 1, 1205);
        for (std::size_t k = 0; k < n; k += 3)
        {
            xt::view(y, xt::all(), k, xt::all()) = T(0);
        }
        const auto& ce = xloss::softmax_cross_entropy;
        check_close<T>(ce(x, y, 1, mask), ce(last(x), last(y), -1, last(mask)), 8);
        const auto [dx, dy] = xloss::vjp<0, 1>(ce, g, x, y, 1, slices);
        const auto [dxl, dyl] = xloss::vjp<0, 1>(ce, g, last(x), last(y), -1, slices);
        check_close<T>(dx, last(dxl), 8);
        check_close<T>(dy, last(dyl), 8);
        const auto [mx, my] = xloss::grad<0, 1>(ce, x, y, 1, mask);
        const auto [mxl, myl] = xloss::grad<0, 1>(ce, last(x), last(y), -1, last(mask));
        check_close<T>(mx, last(mxl), 8);
        check_close<T>(my, last(myl), 8);
    }
}

TEMPLATE_TEST_CASE("sums of element terms over an outer axis, row after row, equal the axis moved last",
                   "[kernels]",
                   float,
                   double)
{
    // Axis 1 of [2, 5, 4115]: inner rows longer than a 16 KiB strip (4096
    // floats, 2048 doubles) with a partial batch at the end, weights by class
    // ([5, 1]) and of the full shape, an element mask, a batch-rank mask and a
    // per-slice cotangent. Oracle: the same problem with axis 1 moved last
    // (rows, weights by class as [5]).
    using T = TestType;
    const std::vector<std::size_t> shape{2, 5, 4115};
    const auto x = random_normal<T>(shape, 2.0, 1100);
    const auto y = random_probabilities<T>(shape, 1, 1101);
    const auto mask = random_mask(shape, 0.8, 1102);
    const auto slices = random_mask({2, 4115}, 0.8, 1103);
    const auto g = random_normal<T>({2, 4115}, 1.0, 1104);
    const double alphas[] = {0.1, 0.9, 0.5, 0.0, 0.7};
    xt::xarray<double> by_class_last = xt::zeros<double>({5});
    std::copy(std::begin(alphas), std::end(alphas), by_class_last.begin());
    xt::xarray<double> by_class = by_class_last;
    by_class.reshape({5, 1});
    const xt::xarray<double> full = xt::abs(random_normal<double>(shape, 1.0, 1105));
    const auto last = [](const auto& a)
    {
        using V = typename std::decay_t<decltype(a)>::value_type;
        return xt::xarray<V>(xt::transpose(a, {0, 2, 1}));
    };
    const auto check = [&](const auto& loss, const auto& opts, const auto& opts_last)
    {
        check_close<T>(loss(x, y, 1, mask, opts), loss(last(x), last(y), -1, last(mask), opts_last), 8);
        const auto [dx, dy] = xloss::vjp<0, 1>(loss, g, x, y, 1, slices, opts);
        const auto [dxl, dyl] = xloss::vjp<0, 1>(loss, g, last(x), last(y), -1, slices, opts_last);
        check_close<T>(dx, last(dxl), 8);
        check_close<T>(dy, last(dyl), 8);
    };
    SECTION("focal, class_alpha by class")
    {
        check(xloss::sigmoid_focal_loss, xloss::focal_options{std::nullopt, 2, by_class},
              xloss::focal_options{std::nullopt, 2, by_class_last});
    }
    SECTION("binary cross entropy, weights of the full shape, pos_weight by class")
    {
        check(xloss::sigmoid_binary_cross_entropy, xloss::binary_cross_entropy_options{full, by_class},
              xloss::binary_cross_entropy_options{last(full), by_class_last});
    }
    SECTION("squared error and KL divergence")
    {
        const auto check_plain = [&](const auto& loss)
        {
            check_close<T>(loss(x, y, 1, mask), loss(last(x), last(y), -1, last(mask)), 8);
            const auto [dx, dy] = xloss::vjp<0, 1>(loss, g, x, y, 1, slices);
            const auto [dxl, dyl] = xloss::vjp<0, 1>(loss, g, last(x), last(y), -1, slices);
            check_close<T>(dx, last(dxl), 8);
            check_close<T>(dy, last(dyl), 8);
        };
        check_plain(xloss::squared_error);
        check_plain(xloss::kl_divergence);
    }
}

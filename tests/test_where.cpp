// `where`, read by rank: full-rank masks select elements, batch-rank masks
// select slices; all-true equals no mask; masked equals the subset; masked
// NaN and -inf never reach a result; empty slices give 0 for every loss.
#include <cmath>
#include <limits>

#include <xtensor/xview.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"

using namespace xloss_test;

namespace
{
    // Calls every two-floating-input loss the same way and hands the results to f.
    template <class X, class Y, class... Rest, class F>
    void for_each_loss(const X& x, const Y& y, F&& f, const Rest&... rest)
    {
        f("softmax_cross_entropy", xloss::softmax_cross_entropy(x, y, rest...));
        f("kl_divergence", xloss::kl_divergence(x, y, rest...));
        f("convex_kl_divergence", xloss::convex_kl_divergence(x, y, rest...));
        f("cosine_similarity", xloss::cosine_similarity(x, y, rest...));
        f("cosine_distance", xloss::cosine_distance(x, y, rest...));
        f("sigmoid_focal_loss", xloss::sigmoid_focal_loss(x, y, rest...));
    }
}

TEMPLATE_TEST_CASE("an all-true mask equals no mask, exactly", "[where]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({5, 19}, 1.0, 1);
    const auto y = random_probabilities<T>({5, 19}, -1, 2);
    const xt::xarray<bool> full = xt::ones<bool>({5, 19});
    const xt::xarray<bool> rows = xt::ones<bool>({5});
    check_equal(xloss::softmax_cross_entropy(x, y, -1, full), xloss::softmax_cross_entropy(x, y));
    check_equal(xloss::kl_divergence(x, y, -1, full), xloss::kl_divergence(x, y));
    check_equal(xloss::convex_kl_divergence(x, y, -1, rows), xloss::convex_kl_divergence(x, y));
    check_equal(xloss::cosine_similarity(x, y, -1, full), xloss::cosine_similarity(x, y));
    check_equal(xloss::cosine_distance(x, y, -1, rows), xloss::cosine_distance(x, y));
    check_equal(xloss::sigmoid_focal_loss(x, y, -1, full), xloss::sigmoid_focal_loss(x, y));
    const xt::xarray<int> labels = {0, 3, 18, 7, 1};
    check_equal(xloss::softmax_cross_entropy_with_integer_labels(x, labels, -1, full),
                xloss::softmax_cross_entropy_with_integer_labels(x, labels));
}

TEMPLATE_TEST_CASE("a masked result equals the loss on the selected subset", "[where]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({1, 20}, 2.0, 3);
    const auto y = random_probabilities<T>({1, 20}, -1, 4);
    // Select the even positions.
    xt::xarray<bool> mask = xt::zeros<bool>({1, 20});
    for (std::size_t i = 0; i < 20; i += 2)
    {
        mask(0, i) = true;
    }
    const xt::xarray<T> xs = xt::view(x, xt::all(), xt::range(0, 20, 2));
    const xt::xarray<T> ys = xt::view(y, xt::all(), xt::range(0, 20, 2));
    check_close<T>(xloss::softmax_cross_entropy(x, y, -1, mask), xloss::softmax_cross_entropy(xs, ys));
    check_close<T>(xloss::kl_divergence(x, y, -1, mask), xloss::kl_divergence(xs, ys));
    check_close<T>(xloss::convex_kl_divergence(x, y, -1, mask), xloss::convex_kl_divergence(xs, ys));
    check_close<T>(xloss::cosine_similarity(x, y, -1, mask), xloss::cosine_similarity(xs, ys));
    check_close<T>(xloss::cosine_distance(x, y, -1, mask), xloss::cosine_distance(xs, ys));
    check_close<T>(xloss::sigmoid_focal_loss(x, y, -1, mask), xloss::sigmoid_focal_loss(xs, ys));
    const xt::xarray<int> label = {6};      // element 6 of x is element 3 of xs
    const xt::xarray<int> label_sub = {3};
    check_close<T>(xloss::softmax_cross_entropy_with_integer_labels(x, label, -1, mask),
                   xloss::softmax_cross_entropy_with_integer_labels(xs, label_sub));
}

TEMPLATE_TEST_CASE("masked-out NaN and -inf do not change any result", "[where]", float, double)
{
    using T = TestType;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const T inf = std::numeric_limits<T>::infinity();
    for (std::size_t n : {3u, 8u, 17u})
    {
        CAPTURE(n);
        const auto x = random_normal<T>({4, n}, 1.0, 5);
        const auto y = random_probabilities<T>({4, n}, -1, 6);
        auto mask = random_mask({4, n}, 0.7, 7);
        mask(0, 0) = mask(1, n - 1) = mask(2, 1) = mask(3, 0) = false;
        xt::xarray<T> xp = x, yp = y;
        xp(0, 0) = nan;
        yp(1, n - 1) = nan;
        xp(2, 1) = -inf;
        yp(2, 1) = inf;
        xp(3, 0) = inf;
        check_equal(xloss::softmax_cross_entropy(xp, yp, -1, mask), xloss::softmax_cross_entropy(x, y, -1, mask));
        check_equal(xloss::kl_divergence(xp, yp, -1, mask), xloss::kl_divergence(x, y, -1, mask));
        check_equal(xloss::convex_kl_divergence(xp, yp, -1, mask), xloss::convex_kl_divergence(x, y, -1, mask));
        check_equal(xloss::cosine_similarity(xp, yp, -1, mask), xloss::cosine_similarity(x, y, -1, mask));
        check_equal(xloss::cosine_distance(xp, yp, -1, mask), xloss::cosine_distance(x, y, -1, mask));
        check_equal(xloss::sigmoid_focal_loss(xp, yp, -1, mask), xloss::sigmoid_focal_loss(x, y, -1, mask));
        check_equal(xloss::sigmoid_focal_loss(xp, yp, xloss::no_axes, mask),
                    xloss::sigmoid_focal_loss(x, y, xloss::no_axes, mask));
        // The column kernel too (axis 0).
        check_equal(xloss::softmax_cross_entropy(xp, yp, 0, mask), xloss::softmax_cross_entropy(x, y, 0, mask));
        check_equal(xloss::cosine_similarity(xp, yp, 0, mask), xloss::cosine_similarity(x, y, 0, mask));
        // Batch-rank masks: a NaN row masked out entirely.
        xt::xarray<T> xr = x;
        xt::view(xr, 1, xt::all()) = nan;
        const xt::xarray<bool> rows = {true, false, true, true};
        const auto clean = xloss::softmax_cross_entropy(x, y, -1, rows);
        check_equal(xloss::softmax_cross_entropy(xr, y, -1, rows), clean);
        CHECK(clean(1) == 0);
        const xt::xarray<int> labels = {0, 1, 2, 0};
        check_equal(xloss::softmax_cross_entropy_with_integer_labels(xp, labels, -1, mask),
                    xloss::softmax_cross_entropy_with_integer_labels(x, labels, -1, mask));
        check_equal(xloss::softmax_cross_entropy_with_integer_labels(xr, labels, -1, rows),
                    xloss::softmax_cross_entropy_with_integer_labels(x, labels, -1, rows));
    }
}

TEMPLATE_TEST_CASE("a slice with nothing selected gives 0 for every loss", "[where]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({3, 6}, 1.0, 8);
    const auto y = random_probabilities<T>({3, 6}, -1, 9);
    xt::xarray<bool> mask = xt::ones<bool>({3, 6});
    xt::view(mask, 1, xt::all()) = false;
    const xt::xarray<bool> rows = {true, false, true};
    for (int axis : {-1})
    {
        for_each_loss(x, y, [](const char* name, const auto& r) {
            INFO(name);
            CHECK(r(1) == 0);
            CHECK(r(0) != 0);
        }, axis, mask);
        for_each_loss(x, y, [](const char* name, const auto& r) {
            INFO(name);
            CHECK(r(1) == 0);
        }, axis, rows);
    }
    // Column kernel: axis 0 with a column fully masked.
    xt::xarray<bool> cols = xt::ones<bool>({3, 6});
    xt::view(cols, xt::all(), 4) = false;
    for_each_loss(x, y, [](const char* name, const auto& r) {
        INFO(name);
        CHECK(r(4) == 0);
    }, 0, cols);
    // Empty reduced extent: no elements at all.
    const xt::xarray<T> empty_x = xt::zeros<T>({3, 0});
    for_each_loss(empty_x, empty_x, [](const char* name, const auto& r) {
        INFO(name);
        REQUIRE(r.size() == 3);
        CHECK(r(0) == 0);
    });
}

TEMPLATE_TEST_CASE("a [B] mask on [B, C] masks examples even when B == C; [1, C] masks classes", "[where]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({4, 4}, 1.0, 10);
    const auto y = random_probabilities<T>({4, 4}, -1, 11);
    const xt::xarray<bool> examples = {true, false, true, false};
    const auto by_example = xloss::softmax_cross_entropy(x, y, -1, examples);
    const auto full = xloss::softmax_cross_entropy(x, y);
    CHECK(by_example(0) == full(0));
    CHECK(by_example(1) == 0);
    CHECK(by_example(2) == full(2));
    CHECK(by_example(3) == 0);
    const xt::xarray<bool> classes = {{true, false, true, false}};
    xt::xarray<bool> expanded = xt::ones<bool>({4, 4});
    xt::view(expanded, xt::all(), 1) = false;
    xt::view(expanded, xt::all(), 3) = false;
    check_equal(xloss::softmax_cross_entropy(x, y, -1, classes), xloss::softmax_cross_entropy(x, y, -1, expanded));
    // Integral masks work like bool masks.
    const xt::xarray<int> int_classes = {{1, 0, 2, 0}};
    check_equal(xloss::softmax_cross_entropy(x, y, -1, int_classes), xloss::softmax_cross_entropy(x, y, -1, expanded));
}

TEMPLATE_TEST_CASE("an NCHW batch mask [N, H, W] masks pixels for axis = 1", "[where]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({2, 5, 3, 4}, 1.0, 12);
    const auto y = random_probabilities<T>({2, 5, 3, 4}, 1, 13);
    const auto pixels = random_mask({2, 3, 4}, 0.6, 14);
    const auto r = xloss::softmax_cross_entropy(x, y, 1, pixels);
    const auto full = xloss::softmax_cross_entropy(x, y, 1);
    for (std::size_t i = 0; i < r.size(); ++i)
    {
        CHECK(r.flat(i) == (pixels.flat(i) ? full.flat(i) : T(0)));
    }
}

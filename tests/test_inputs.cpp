// Every input kind SPEC.md lists gives the same result as a plain xarray:
// xtensor, xtensor_fixed, views, strided views, xt::adapt, lazy expressions,
// column-major; mixed value types; result value types. And the permuted
// copy behind the inputs and gradients that are not read in place.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <random>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"
#include "kernel_instances.hpp"

using namespace xloss_test;

TEMPLATE_TEST_CASE("input kinds equal copies", "[inputs]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({4, 6}, 2.0, 1);
    const auto y = random_probabilities<T>({4, 6}, -1, 2);
    const auto mask = random_mask({4, 6}, 0.8, 3);
    const auto expected = xloss::softmax_cross_entropy(x, y, -1, mask);
    const auto expected0 = xloss::cosine_similarity(x, y, 0, mask);

    SECTION("xtensor")
    {
        const xt::xtensor<T, 2> xs = x, ys = y;
        const xt::xtensor<bool, 2> ms = mask;
        check_equal(xloss::softmax_cross_entropy(xs, ys, -1, ms), expected);
    }
    SECTION("xtensor_fixed")
    {
        xt::xtensor_fixed<T, xt::xshape<4, 6>> xs = x, ys = y;
        check_equal(xloss::softmax_cross_entropy(xs, ys, -1, mask), expected);
    }
    SECTION("column-major")
    {
        const xt::xarray<T, xt::layout_type::column_major> xc = x, yc = y;
        const xt::xarray<bool, xt::layout_type::column_major> mc = mask;
        check_close<T>(xloss::softmax_cross_entropy(xc, yc, -1, mc), expected);
        check_close<T>(xloss::cosine_similarity(xc, yc, 0, mc), expected0);
        // The same memory order through a transposed view of a transposed copy.
        const xt::xarray<T> xt_copy = xt::transpose(x), yt_copy = xt::transpose(y);
        check_close<T>(xloss::cosine_similarity(xt::transpose(xt_copy), xt::transpose(yt_copy), 0, mask),
                       expected0);
    }
    SECTION("views and strided views")
    {
        xt::xarray<T> big_x = xt::zeros<T>({8, 13});
        xt::xarray<T> big_y = xt::zeros<T>({8, 13});
        auto vx = xt::view(big_x, xt::range(1, 9, 2), xt::range(1, 13, 2));
        auto vy = xt::view(big_y, xt::range(1, 9, 2), xt::range(1, 13, 2));
        vx = x;
        vy = y;
        check_close<T>(xloss::softmax_cross_entropy(vx, vy, -1, mask), expected);
        auto sx = xt::strided_view(big_x, {xt::range(1, 9, 2), xt::range(1, 13, 2)});
        auto sy = xt::strided_view(big_y, {xt::range(1, 9, 2), xt::range(1, 13, 2)});
        check_close<T>(xloss::softmax_cross_entropy(sx, sy, -1, mask), expected);
        check_close<T>(xloss::cosine_similarity(sx, sy, 0, mask), expected0);
        // A contiguous row view read in place.
        auto row = xt::view(x, xt::range(1, 3), xt::all());
        const xt::xarray<T> row_copy = row;
        const xt::xarray<T> yrow = xt::view(y, xt::range(1, 3), xt::all());
        check_equal(xloss::kl_divergence(row, yrow), xloss::kl_divergence(row_copy, yrow));
    }
    SECTION("adapt over raw pointers")
    {
        std::vector<T> xb(x.begin(), x.end()), yb(y.begin(), y.end());
        auto ax = xt::adapt(xb.data(), xb.size(), xt::no_ownership(), std::vector<std::size_t>{4, 6});
        auto ay = xt::adapt(yb.data(), yb.size(), xt::no_ownership(), std::vector<std::size_t>{4, 6});
        check_equal(xloss::softmax_cross_entropy(ax, ay, -1, mask), expected);
    }
    SECTION("lazy expressions")
    {
        const xt::xarray<T> half_x = x / T(2);
        check_close<T>(xloss::softmax_cross_entropy(T(2) * half_x, y + T(0), -1, mask), expected);
        check_close<T>(xloss::softmax_cross_entropy(x, y, -1, !(!mask)), expected);
    }
}

TEMPLATE_TEST_CASE("channels-last memory seen as NCHW gives the results of copies", "[inputs]", float, double)
{
    // [N=2, H=3, W=4, C=5] in memory, seen as [N, C, H, W] through a permuted
    // view, reduced over C (axis 1): read in place as rows of C.
    using T = TestType;
    const auto nhwc_x = random_normal<T>({2, 3, 4, 5}, 2.0, 11);
    const auto nhwc_y = random_probabilities<T>({2, 3, 4, 5}, -1, 12);
    const auto x = xt::transpose(nhwc_x, {0, 3, 1, 2});
    const auto y = xt::transpose(nhwc_y, {0, 3, 1, 2});
    const xt::xarray<T> xc = x, yc = y;
    const auto labels = random_labels({2, 3, 4}, 5, 13);
    const auto mask = random_mask({2, 3, 4}, 0.7, 14);
    const auto& ce = xloss::softmax_cross_entropy_with_integer_labels;
    check_close<T>(xloss::softmax_cross_entropy(x, y, 1), xloss::softmax_cross_entropy(xc, yc, 1));
    check_close<T>(ce(x, labels, 1, mask), ce(xc, labels, 1, mask));
    const auto got = xloss::value_and_grad(ce, x, labels, 1, mask);
    const auto expected = xloss::value_and_grad(ce, xc, labels, 1, mask);
    check_close<T>(got.value, expected.value);
    check_close<T>(got.grad, expected.grad);
    // Two axes of the view, {1, 3} (C and W): apart in memory, so copied.
    check_close<T>(xloss::softmax_cross_entropy(x, y, {1, 3}), xloss::softmax_cross_entropy(xc, yc, {1, 3}));
}

TEST_CASE("result value types follow the inputs", "[inputs]")
{
    const xt::xarray<float> f = {{1.f, 2.f}};
    const xt::xarray<double> d = {{0.5, 0.5}};
    const xt::xarray<int> labels = {1};
    STATIC_REQUIRE(std::is_same_v<decltype(xloss::softmax_cross_entropy(f, f))::value_type, float>);
    STATIC_REQUIRE(std::is_same_v<decltype(xloss::softmax_cross_entropy(f, d))::value_type, double>);
    STATIC_REQUIRE(
        std::is_same_v<decltype(xloss::softmax_cross_entropy_with_integer_labels(f, labels))::value_type,
                       float>);
    STATIC_REQUIRE(std::is_same_v<decltype(xloss::grad(xloss::cosine_similarity, f, f))::value_type, float>);
    // Float logits with double labels compute in double.
    CHECK(xloss::softmax_cross_entropy(f, d)(0)
          == Approx(std::log(std::exp(1.0) + std::exp(2.0)) - 1.5).epsilon(1e-12));
}

TEMPLATE_TEST_CASE("broadcasting second inputs", "[inputs]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({5, 7}, 1.0, 4);
    const auto row = random_probabilities<T>({1, 7}, -1, 5);
    const xt::xarray<T> tiled = xt::broadcast(row, std::vector<std::size_t>{5, 7});
    check_equal(xloss::softmax_cross_entropy(x, row), xloss::softmax_cross_entropy(x, tiled));
    const xt::xarray<T> rank1 = xt::view(row, 0, xt::all());
    check_equal(xloss::kl_divergence(x, rank1), xloss::kl_divergence(x, tiled));
    check_equal(xloss::cosine_similarity(x, rank1, 0), xloss::cosine_similarity(x, tiled, 0));
}

// The tiled permuted copy that stages permuted inputs and masks and puts
// gradients back in their input's order (detail/permute.hpp) against
// xtensor's own transposition: every rank up to 5, extents of 0, 1, a few
// and a few tiles (its edges), every permutation drawn at random; floats,
// doubles and mask bytes (the three element sizes of its block transposes).
TEMPLATE_TEST_CASE("permuted copies equal xt::transpose", "[inputs]", float, double, std::uint8_t)
{
    using T = TestType;
    std::mt19937 rng(29);
    const std::size_t extents[] = {0, 1, 1, 2, 3, 5, 17, 40, 70};
    for (int trial = 0; trial < 400; ++trial)
    {
        const std::size_t rank = rng() % 6;
        xloss::detail::shape_type shape(rank), perm(rank);
        std::size_t size = 1;
        for (std::size_t a = 0; a < rank; ++a)
        {
            shape[a] = extents[rng() % std::size(extents)];
            if (size * shape[a] > 100000)
            {
                shape[a] = 2;
            }
            size *= shape[a];
            perm[a] = a;
        }
        std::shuffle(perm.begin(), perm.end(), rng);
        xt::xarray<T> from = xt::xarray<T>::from_shape(shape);
        for (std::size_t i = 0; i < from.size(); ++i)
        {
            from.data()[i] = static_cast<T>(i % 251);
        }
        const xt::xarray<T> expected = xt::transpose(from, perm);
        xt::xarray<T> to = xt::xarray<T>::from_shape(xloss::detail::permuted(shape, perm));
        std::fill(to.begin(), to.end(), T(7));
        xloss::detail::copy_permuted(from.data(), shape, perm, to.data());
        CAPTURE(trial, rank);
        REQUIRE(bool(to == expected));
    }
}

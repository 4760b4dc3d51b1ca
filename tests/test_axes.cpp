// The axis vocabulary: int (negative too), lists in any order, std::vector,
// std::array, no_axes, all_axes; result shapes; moving the reduced axis last
// changes nothing; the braced list is always an axis list.
#include <array>
#include <vector>

#include <xtensor/xmanipulation.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"

using namespace xloss_test;

namespace
{
    std::vector<std::size_t> shape_of(const xt::xarray<float>& a)
    {
        return {a.shape().begin(), a.shape().end()};
    }
    std::vector<std::size_t> shape_of(const xt::xarray<double>& a)
    {
        return {a.shape().begin(), a.shape().end()};
    }
}

TEMPLATE_TEST_CASE("every axis form gives the documented result shape", "[axes]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({2, 3, 4}, 1.0, 1);
    const auto y = random_probabilities<T>({2, 3, 4}, -1, 2);
    using S = std::vector<std::size_t>;
    CHECK(shape_of(xloss::softmax_cross_entropy(x, y)) == S{2, 3});
    CHECK(shape_of(xloss::softmax_cross_entropy(x, y, 0)) == S{3, 4});
    CHECK(shape_of(xloss::softmax_cross_entropy(x, y, -2)) == S{2, 4});
    CHECK(shape_of(xloss::softmax_cross_entropy(x, y, {0, 2})) == S{3});
    CHECK(shape_of(xloss::softmax_cross_entropy(x, y, {2, 0})) == S{3});
    CHECK(shape_of(xloss::softmax_cross_entropy(x, y, std::vector<int>{1})) == S{2, 4});
    CHECK(shape_of(xloss::softmax_cross_entropy(x, y, std::array<int, 2>{-1, -3})) == S{3});
    CHECK(shape_of(xloss::softmax_cross_entropy(x, y, xloss::no_axes)) == S{2, 3, 4});
    const auto all = xloss::softmax_cross_entropy(x, y, xloss::all_axes);
    CHECK(all.dimension() == 0);
    CHECK(all.size() == 1);
    // all_axes is the sum of the per-axis losses' definition over everything.
    const auto s = to_slices(x, y, {0, 1, 2}, nullptr);
    check_close<T>(all, per_slice(s, ref_softmax_cross_entropy));
}

TEMPLATE_TEST_CASE("braced lists are axis lists for every loss, including cosine and focal", "[axes]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({3, 4, 5}, 1.0, 3);
    const auto y = random_probabilities<T>({3, 4, 5}, 1, 4);
    using S = std::vector<std::size_t>;
    CHECK(shape_of(xloss::cosine_similarity(x, y, {1})) == S{3, 5});
    CHECK(shape_of(xloss::cosine_distance(x, y, {0, 2})) == S{4});
    CHECK(shape_of(xloss::sigmoid_focal_loss(x, y, {1})) == S{3, 5});
    CHECK(shape_of(xloss::sigmoid_focal_loss(x, y, {0, 2})) == S{4});
    CHECK(shape_of(xloss::kl_divergence(x, y, {1})) == S{3, 5});
    CHECK(shape_of(xloss::convex_kl_divergence(x, y, {0, 2})) == S{4});
    const xt::xarray<int> labels = xt::zeros<int>({3, 5});
    CHECK(shape_of(xloss::softmax_cross_entropy_with_integer_labels(x, labels, {1})) == S{3, 5});
    // And with options after them.
    CHECK(shape_of(xloss::cosine_similarity(x, y, {1}, xloss::cosine_options{1e-8})) == S{3, 5});
    CHECK(shape_of(xloss::sigmoid_focal_loss(x, y, {0, 2}, xloss::focal_options{0.25, 2})) == S{4});
}

TEMPLATE_TEST_CASE("moving the reduced axis last changes nothing", "[axes]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({4, 6, 5}, 2.0, 5);
    const auto y = random_probabilities<T>({4, 6, 5}, 1, 6);
    const auto mask = random_mask({4, 6, 5}, 0.8, 7);
    const xt::xarray<T> xt_last = xt::transpose(x, {0, 2, 1});
    const xt::xarray<T> yt_last = xt::transpose(y, {0, 2, 1});
    const xt::xarray<bool> mt_last = xt::transpose(mask, {0, 2, 1});
    check_close<T>(xloss::softmax_cross_entropy(x, y, 1, mask), xloss::softmax_cross_entropy(xt_last, yt_last, -1, mt_last));
    check_close<T>(xloss::kl_divergence(xt::log(y), y, 1, mask), xloss::kl_divergence(xt::log(yt_last), yt_last, 2, mt_last));
    check_close<T>(xloss::cosine_similarity(x, y, 1, mask), xloss::cosine_similarity(xt_last, yt_last, 2, mt_last));
    check_close<T>(xloss::sigmoid_focal_loss(x, y, 1, mask), xloss::sigmoid_focal_loss(xt_last, yt_last, 2, mt_last));
    // Two non-adjacent axes ({0, 2}, planned by transposition) against moving them last.
    const xt::xarray<T> x02 = xt::transpose(x, {1, 0, 2});
    const xt::xarray<T> y02 = xt::transpose(y, {1, 0, 2});
    check_close<T>(xloss::softmax_cross_entropy(x, y, {0, 2}), xloss::softmax_cross_entropy(x02, y02, {1, 2}));
}

TEMPLATE_TEST_CASE("no_axes is the elementwise loss with masked elements 0", "[axes]", float, double)
{
    using T = TestType;
    const auto x = random_normal<T>({3, 7}, 1.0, 8);
    const auto y = random_probabilities<T>({3, 7}, -1, 9);
    const auto mask = random_mask({3, 7}, 0.6, 10);
    const auto focal = xloss::sigmoid_focal_loss(x, y, xloss::no_axes, mask);
    REQUIRE(focal.shape() == x.shape());
    for (std::size_t i = 0; i < x.size(); ++i)
    {
        const double expected = mask.flat(i) ? double(ref_focal_element(x.flat(i), y.flat(i), std::nullopt, 2.0)) : 0.0;
        CHECK(close(focal.flat(i), expected, tolerance<T>::rel * 4, tolerance<T>::abs));
    }
    // For a softmax over a single element, the loss is 0 wherever the label is... the label times 0.
    const auto ce = xloss::softmax_cross_entropy(x, y, xloss::no_axes);
    for (auto v : ce)
    {
        CHECK(v == 0);
    }
}

// Every error path: the exception type, and a message that names the
// function and the offending axis, shape or label.
#include <stdexcept>
#include <string>

#include <xloss/xloss.hpp>

#include "support.hpp"

using namespace xloss_test;

namespace
{
    template <class Exception, class F>
    std::string message_of(F&& f)
    {
        try
        {
            f();
        }
        catch (const Exception& e)
        {
            return e.what();
        }
        catch (const std::exception& e)
        {
            FAIL("wrong exception type: " << e.what());
        }
        FAIL("no exception");
        return {};
    }

    bool contains(const std::string& s, const std::string& part)
    {
        return s.find(part) != std::string::npos;
    }
}

TEST_CASE("axes out of range or repeated", "[errors]")
{
    const xt::xarray<double> x = xt::zeros<double>({2, 3});
    auto m = message_of<std::invalid_argument>([&] { xloss::softmax_cross_entropy(x, x, 2); });
    INFO(m);
    CHECK(contains(m, "xloss::softmax_cross_entropy: "));
    CHECK(contains(m, "axis 2"));
    CHECK(contains(m, "rank 2"));
    m = message_of<std::invalid_argument>([&] { xloss::cosine_similarity(x, x, -3); });
    CHECK(contains(m, "xloss::cosine_similarity: "));
    CHECK(contains(m, "axis -3"));
    m = message_of<std::invalid_argument>([&] { xloss::kl_divergence(x, x, {1, -1}); });
    CHECK(contains(m, "xloss::kl_divergence: "));
    CHECK(contains(m, "repeated"));
    CHECK(contains(m, "rank 2"));
    m = message_of<std::invalid_argument>([&] { xloss::sigmoid_focal_loss(x, x, {0, 0}); });
    CHECK(contains(m, "xloss::sigmoid_focal_loss: "));
    const xt::xarray<int> labels = {0, 1};
    m = message_of<std::invalid_argument>([&] { xloss::softmax_cross_entropy_with_integer_labels(x, labels, 5); });
    CHECK(contains(m, "xloss::softmax_cross_entropy_with_integer_labels: "));
    CHECK(contains(m, "axis 5"));
    m = message_of<std::invalid_argument>([&] { xloss::grad(xloss::convex_kl_divergence, x, x, 7); });
    CHECK(contains(m, "xloss::convex_kl_divergence: "));
}

TEST_CASE("shapes that do not broadcast name both shapes", "[errors]")
{
    const xt::xarray<double> a = xt::zeros<double>({2, 3});
    const xt::xarray<double> b = xt::zeros<double>({2, 4});
    const auto m = message_of<std::invalid_argument>([&] { xloss::cosine_distance(a, b); });
    INFO(m);
    CHECK(contains(m, "xloss::cosine_distance: "));
    CHECK(contains(m, "[2, 3]"));
    CHECK(contains(m, "[2, 4]"));
}

TEST_CASE("masks of another rank or shape name both shapes", "[errors]")
{
    const xt::xarray<double> x = xt::zeros<double>({2, 3, 4});
    const xt::xarray<bool> rank1 = xt::ones<bool>({4});
    auto m = message_of<std::invalid_argument>([&] { xloss::softmax_cross_entropy(x, x, -1, rank1); });
    INFO(m);
    CHECK(contains(m, "xloss::softmax_cross_entropy: "));
    CHECK(contains(m, "[4]"));
    CHECK(contains(m, "[2, 3, 4]"));
    const xt::xarray<bool> bad_full = xt::ones<bool>({2, 3, 5});
    m = message_of<std::invalid_argument>([&] { xloss::kl_divergence(x, x, -1, bad_full); });
    CHECK(contains(m, "[2, 3, 5]"));
    CHECK(contains(m, "[2, 3, 4]"));
    const xt::xarray<bool> bad_batch = xt::ones<bool>({3, 3});
    m = message_of<std::invalid_argument>([&] { xloss::sigmoid_focal_loss(x, x, -1, bad_batch); });
    CHECK(contains(m, "[3, 3]"));
    CHECK(contains(m, "[2, 3]"));
}

TEST_CASE("integer labels: wrong shape, out of range", "[errors]")
{
    const xt::xarray<float> logits = xt::zeros<float>({2, 3});
    const xt::xarray<int> wrong_rank = xt::zeros<int>({2, 3});
    auto m = message_of<std::invalid_argument>(
        [&] { xloss::softmax_cross_entropy_with_integer_labels(logits, wrong_rank); });
    INFO(m);
    CHECK(contains(m, "xloss::softmax_cross_entropy_with_integer_labels: "));
    CHECK(contains(m, "[2, 3]"));
    CHECK(contains(m, "[2]"));
    const xt::xarray<int> wrong_shape = {0, 1, 2};
    m = message_of<std::invalid_argument>(
        [&] { xloss::softmax_cross_entropy_with_integer_labels(logits, wrong_shape); });
    CHECK(contains(m, "[3]"));
    const xt::xarray<int> too_big = {0, 3};
    m = message_of<std::out_of_range>([&] { xloss::softmax_cross_entropy_with_integer_labels(logits, too_big); });
    CHECK(contains(m, "xloss::softmax_cross_entropy_with_integer_labels: "));
    CHECK(contains(m, "label 3"));
    CHECK(contains(m, "3 classes"));
    const xt::xarray<long long> negative = {-1, 0};
    m = message_of<std::out_of_range>([&] { xloss::softmax_cross_entropy_with_integer_labels(logits, negative); });
    CHECK(contains(m, "label -1"));
    m = message_of<std::out_of_range>([&] { xloss::grad(xloss::softmax_cross_entropy_with_integer_labels, logits, too_big); });
    CHECK(contains(m, "label 3"));
    // Broadcastable labels of the batch rank are accepted: [1] against batch [2].
    const xt::xarray<int> one = {1};
    CHECK(xloss::softmax_cross_entropy_with_integer_labels(logits, one).size() == 2);
}

TEST_CASE("an upstream gradient that does not broadcast names both shapes", "[errors]")
{
    const xt::xarray<double> x = xt::zeros<double>({2, 3});
    const xt::xarray<double> g = xt::ones<double>({3});
    const auto m = message_of<std::invalid_argument>([&] { xloss::vjp(xloss::kl_divergence, g, x, x); });
    INFO(m);
    CHECK(contains(m, "xloss::kl_divergence: "));
    CHECK(contains(m, "[3]"));
    CHECK(contains(m, "[2]"));
}

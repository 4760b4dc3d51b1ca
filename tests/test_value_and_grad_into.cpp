// value_and_grad_into: the same value and gradient as value_and_grad, for a
// few losses and call forms (mask, axis list, mean), written into the three
// kinds of buffer a training loop owns (xt::xtensor, xt::xarray, xt::adapt
// over a std::vector); a buffer of another shape is refused, untouched. The
// gradients themselves are checked by the generic tests through
// value_and_grad; here equality with it is the whole contract, so the
// comparisons are exact. Double only, to keep the instantiations few.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <xloss/xloss.hpp>

#include "support.hpp"

namespace
{
    using namespace xloss_test;

    // [B=3, T=2, V=4] logits of a padded sequence batch, its labels and the
    // [B, T] mask of real positions (row 2 has one real position; the label
    // under padding is out of range on purpose: masked labels are not read).
    const xt::xtensor<double, 3> logits = {{{0.5, -1.0, 2.0, 0.0}, {1.5, 0.25, -0.5, 3.0}},
                                           {{-2.0, 0.0, 0.75, 1.0}, {0.0, 0.0, 0.0, 0.0}},
                                           {{4.0, -3.0, 0.5, 1.25}, {9.0, 9.0, 9.0, 9.0}}};
    const xt::xtensor<int, 2> labels = {{2, 3}, {0, 1}, {1, -100}};
    const xt::xtensor<bool, 2> real = {{true, true}, {true, true}, {true, false}};

    template <class Buffer, class Value, class Expected>
    void check_same(const Buffer& dx, const Value& value, const Expected& expected)
    {
        check_equal(value, expected.value);
        check_equal(dx, expected.grad);
    }
}

TEST_CASE("value_and_grad_into equals value_and_grad", "[grad][into]")
{
    constexpr auto mean_ce = xloss::mean(xloss::softmax_cross_entropy_with_integer_labels);

    SECTION("mean over real positions with a batch-rank mask, into xt::xtensor")
    {
        const auto expected = xloss::value_and_grad(mean_ce, logits, labels, -1, real);
        xt::xtensor<double, 3> dx = xt::zeros<double>(logits.shape());
        const double* buffer = dx.data();
        const auto value = xloss::value_and_grad_into(dx, mean_ce, logits, labels, -1, real);
        check_same(dx, value, expected);
        CHECK(dx.data() == buffer);  // written in place, not replaced
    }

    SECTION("per-example loss, no mask, axis as a braced list, into xt::xarray")
    {
        const xt::xarray<double> probs = xt::full_like(logits, 0.25);
        const auto expected = xloss::value_and_grad(xloss::softmax_cross_entropy, logits, probs, {2});
        xt::xarray<double> dx = xt::zeros<double>(logits.shape());
        const auto value = xloss::value_and_grad_into(dx, xloss::softmax_cross_entropy, logits, probs, {2});
        check_same(dx, value, expected);
    }

    SECTION("a loss with options, into xt::adapt over a std::vector (an rvalue adaptor)")
    {
        const xt::xarray<double> targets = logits * 0.5 + 1.0;
        const xloss::cosine_options opts{1e-8};
        const auto expected = xloss::value_and_grad(xloss::cosine_similarity, logits, targets, -1, real,
                                                    opts);
        std::vector<double> storage(logits.size(), -7.0);
        const auto value = xloss::value_and_grad_into(xt::adapt(storage, logits.shape()),
                                                      xloss::cosine_similarity, logits, targets, -1, real,
                                                      opts);
        check_same(xt::adapt(storage, logits.shape()), value, expected);
        CHECK(storage.size() == logits.size());
    }
}

TEST_CASE("value_and_grad_into refuses a buffer of another shape", "[grad][into][errors]")
{
    const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
    auto message = [&](auto& dx)
    {
        try
        {
            xloss::value_and_grad_into(dx, loss, logits, labels, -1, real);
        }
        catch (const std::invalid_argument& e)
        {
            return std::string(e.what());
        }
        return std::string("no exception");
    };

    xt::xtensor<double, 3> transposed = xt::full_like(xt::xtensor<double, 3>::from_shape({3, 4, 2}), 5.0);
    CHECK(message(transposed)
          == "xloss::value_and_grad_into: the gradient buffer has shape [3, 4, 2] but x has shape [3, 2, 4]");
    CHECK(transposed(0, 0, 0) == 5.0);  // refused before any write

    xt::xarray<double> flat = xt::zeros<double>({24});
    CHECK(message(flat)
          == "xloss::value_and_grad_into: the gradient buffer has shape [24] but x has shape [3, 2, 4]");
    CHECK(flat.dimension() == 1);  // not resized
}

// Quickstart: the xloss calls a classifier's training loop needs, on a batch
// of three examples whose last one is padding. Checks every printed number
// against values worked out by hand and exits non-zero on a mismatch.

#include <cmath>
#include <cstdio>
#include <initializer_list>

#include <xloss/xloss.hpp>
#include <xtensor/xtensor.hpp>

namespace
{
    int failures = 0;

    // Compare a result with the hand-computed values, element by element.
    template <class E>
    void check(const char* what, const E& got, std::initializer_list<double> want)
    {
        std::printf("%-28s", what);
        auto it = want.begin();
        for (double v : got)
        {
            const bool ok = it != want.end() && std::abs(v - *it) <= 1e-6;
            std::printf(" %10.6f%s", v, ok ? "" : " (MISMATCH)");
            failures += ok ? 0 : 1;
            if (it != want.end())
            {
                ++it;
            }
        }
        failures += static_cast<int>(want.end() - it);  // too few results
        std::printf("\n");
    }
}

int main()
{
    // --- README snippet ---------------------------------------------------
    xt::xtensor<double, 2> logits = {{1, 2, 3}, {0, 0, 0}, {5, -1, 7}};  // [B=3, C=3]
    xt::xtensor<int, 1> labels = {2, 0, 1};                              // [B]
    xt::xtensor<bool, 1> real = {true, true, false};                     // [B]: row 2 is padding

    // Per-example loss, reduced over the class axis (axis = -1 by default).
    auto loss = xloss::softmax_cross_entropy_with_integer_labels(logits, labels);
    // A [B] mask has the batch rank, so it masks whole examples: padding gives 0.
    auto masked = xloss::softmax_cross_entropy_with_integer_labels(logits, labels, -1, real);
    // Probability labels (one-hot, smoothed, or a teacher's distribution).
    xt::xtensor<double, 2> probs = {{0.1, 0.2, 0.7}, {1, 0, 0}, {0, 1, 0}};
    auto soft = xloss::softmax_cross_entropy(logits, probs);
    // Value and d(sum of loss)/d(logits) in one pass; padded rows get gradient 0.
    auto [value, dlogits] = xloss::value_and_grad(xloss::softmax_cross_entropy_with_integer_labels, logits,
                                                  labels, -1, real);
    // ----------------------------------------------------------------------

    // Hand computation. Row 0: logsumexp(1, 2, 3) = 3 + log(1 + e^-1 + e^-2)
    // = 3.40760596, softmax = (0.09003057, 0.24472847, 0.66524096).
    // Row 1: logsumexp(0, 0, 0) = log 3 = 1.09861229, softmax = 1/3 each.
    // Row 2: logsumexp(5, -1, 7) = 7 + log(1 + e^-2 + e^-8) = 7.12722344.
    check("integer labels", loss, {3.40760596 - 3, 1.09861229, 7.12722344 + 1});
    check("... with padding mask", masked, {0.40760596, 1.09861229, 0});
    // Row 0: lse - (0.1*1 + 0.2*2 + 0.7*3) = 3.40760596 - 2.6.
    check("probability labels", soft, {0.80760596, 1.09861229, 7.12722344 + 1});
    check("value_and_grad: value", value, {0.40760596, 1.09861229, 0});
    // softmax - one_hot(label), rows in order; the padded row is all zeros.
    check("value_and_grad: d/dlogits", dlogits,
          {0.09003057, 0.24472847, 0.66524096 - 1,  //
           1.0 / 3 - 1, 1.0 / 3, 1.0 / 3,           //
           0, 0, 0});

    std::printf("%s\n", failures == 0 ? "quickstart: all values match" : "quickstart: MISMATCH");
    return failures == 0 ? 0 : 1;
}

// Masked sequence loss: next-token cross entropy on [batch, time, vocab]
// logits whose sequences have different lengths. A [batch, time] padding mask
// (the batch rank, so it masks whole positions) keeps padding out of the loss,
// the mean runs over real tokens only (sum / count), and its gradient comes
// from xloss::vjp with the upstream gradient 1 / count.
//
// Checks: the mean and the gradient against a direct computation; padded
// positions get exactly 0 gradient; overwriting the logits at padded positions
// (with garbage, then NaN) changes neither the loss nor the gradient, bit for
// bit. Exits non-zero otherwise.

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <random>

#include <xloss/xloss.hpp>
#include <xtensor/xtensor.hpp>

namespace
{
    constexpr std::size_t batch = 3, max_len = 6, vocab = 11;

    // Bit-for-bit equality; NaN compares unequal to itself, which is what we want here.
    template <class A, class B>
    bool identical(const A& a, const B& b)
    {
        if (a.shape() != b.shape())
        {
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            if (!(a.data()[i] == b.data()[i]))
            {
                return false;
            }
        }
        return true;
    }
}

int main()
{
    const std::size_t length[batch] = {6, 4, 1};  // real tokens per sequence

    std::mt19937 rng(7);
    std::normal_distribution<double> normal(0.0, 2.0);
    std::uniform_int_distribution<int> token(0, vocab - 1);

    xt::xtensor<double, 3> logits = xt::zeros<double>({batch, max_len, vocab});
    xt::xtensor<int, 2> labels = xt::zeros<int>({batch, max_len});
    xt::xtensor<bool, 2> real = xt::zeros<bool>({batch, max_len});
    for (std::size_t b = 0; b < batch; ++b)
    {
        for (std::size_t t = 0; t < max_len; ++t)
        {
            real(b, t) = t < length[b];
            // Padding carries the usual -1 label: its slice is masked out, so
            // xloss never reads it and does not throw out_of_range.
            labels(b, t) = real(b, t) ? token(rng) : -1;
            for (std::size_t v = 0; v < vocab; ++v)
            {
                logits(b, t, v) = normal(rng);
            }
        }
    }

    using xloss::softmax_cross_entropy_with_integer_labels;
    const auto per_token = softmax_cross_entropy_with_integer_labels(logits, labels, -1, real);  // [batch,
                                                                                                 // time]
    const double count = static_cast<double>(xt::sum(real)());
    const double mean = xt::sum(per_token)() / count;
    // d(mean)/d(logits) = vjp with the upstream gradient 1/count on every token.
    const auto dlogits = xloss::vjp(softmax_cross_entropy_with_integer_labels, 1.0 / count, logits, labels,
                                    -1, real);

    std::printf("tokens per sequence: %zu %zu %zu (%g real of %zu positions)\n", length[0], length[1],
                length[2], count, batch * max_len);
    std::printf("mean loss over real tokens: %.8f\n", mean);

    int failures = 0;
    auto expect = [&](bool ok, const char* what)
    {
        std::printf("  %-58s %s\n", what, ok ? "ok" : "FAILED");
        failures += ok ? 0 : 1;
    };

    // Direct computation: for each real token, logsumexp - logit[label] and
    // (softmax - one_hot) / count; long double so the reference is the sharper one.
    long double sum = 0;
    double max_grad_error = 0;
    bool padded_zero = true;
    for (std::size_t b = 0; b < batch; ++b)
    {
        for (std::size_t t = 0; t < max_len; ++t)
        {
            if (!real(b, t))
            {
                for (std::size_t v = 0; v < vocab; ++v)
                {
                    padded_zero = padded_zero && dlogits(b, t, v) == 0.0 && !std::signbit(dlogits(b, t, v));
                }
                padded_zero = padded_zero && per_token(b, t) == 0.0;
                continue;
            }
            long double m = logits(b, t, 0);
            for (std::size_t v = 1; v < vocab; ++v)
            {
                m = std::max<long double>(m, logits(b, t, v));
            }
            long double z = 0;
            for (std::size_t v = 0; v < vocab; ++v)
            {
                z += std::exp(logits(b, t, v) - m);
            }
            sum += m + std::log(z) - logits(b, t, static_cast<std::size_t>(labels(b, t)));
            for (std::size_t v = 0; v < vocab; ++v)
            {
                const long double p = std::exp(logits(b, t, v) - m) / z;
                const long double want = (p - (static_cast<int>(v) == labels(b, t) ? 1 : 0)) / count;
                max_grad_error = std::max(max_grad_error,
                                          static_cast<double>(std::abs(dlogits(b, t, v) - want)));
            }
        }
    }
    const double want_mean = static_cast<double>(sum / count);
    std::printf("direct computation:         %.8f\n", want_mean);
    expect(std::abs(mean - want_mean) <= 1e-12, "mean matches the direct computation");
    expect(max_grad_error <= 1e-14, "gradient matches (softmax - one_hot) / count");
    expect(padded_zero, "padded positions: loss 0 and gradient exactly +0");

    // Whatever sits at padded positions must not leak into the loss or the
    // gradient: first garbage, then NaN (the mask is applied before exp/log).
    for (double poison : {1e30, std::numeric_limits<double>::quiet_NaN()})
    {
        xt::xtensor<double, 3> poisoned = logits;
        for (std::size_t b = 0; b < batch; ++b)
        {
            for (std::size_t t = length[b]; t < max_len; ++t)
            {
                for (std::size_t v = 0; v < vocab; ++v)
                {
                    poisoned(b, t, v) = poison;
                }
            }
        }
        const auto l2 = softmax_cross_entropy_with_integer_labels(poisoned, labels, -1, real);
        const auto d2 = xloss::vjp(softmax_cross_entropy_with_integer_labels, 1.0 / count, poisoned, labels,
                                   -1, real);
        expect(identical(l2, per_token) && identical(d2, dlogits),
               std::isnan(poison) ? "NaN logits at padding change nothing"
                                  : "1e30 logits at padding change nothing");
    }

    std::printf("%s\n",
                failures == 0 ? "masked_sequence_loss: all checks pass" : "masked_sequence_loss: FAILED");
    return failures == 0 ? 0 : 1;
}

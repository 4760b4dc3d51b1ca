// Masked sequence loss: next-token cross entropy on [batch, time, vocab]
// logits whose sequences have different lengths, as PyTorch users write it:
// padding carries the label -100 and cross_entropy_options::ignore_index =
// -100 drops those positions; label smoothing 0.1; the mean over the real
// tokens is xloss::mean, whose value and gradient come from one fused pass
// (value_and_grad), without a hand-built mask, count or 1 / count upstream.
//
// Checks: the mean and the gradient against a direct long-double computation
// (smoothing over the vocabulary, divided by the number of real tokens); the
// same call with a [batch, time] `where` mask of the real positions instead
// of ignore_index gives the same bits; padded positions get exactly 0
// gradient; overwriting the logits at padded positions (with garbage, then
// NaN) changes neither the loss nor the gradient, bit for bit. Exits non-zero
// otherwise.

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <random>

#include <xloss/xloss.hpp>
#include <xtensor/xoperation.hpp>
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
            // Padding carries PyTorch's -100: ignore_index drops its slice,
            // so xloss never range-checks it.
            labels(b, t) = real(b, t) ? token(rng) : -100;
            for (std::size_t v = 0; v < vocab; ++v)
            {
                logits(b, t, v) = normal(rng);
            }
        }
    }

    constexpr double eps = 0.1;
    xloss::cross_entropy_options options;
    options.ignore_index = -100;
    options.label_smoothing = eps;
    const auto mean_ce = xloss::mean(xloss::softmax_cross_entropy_with_integer_labels);
    // One pass: the 0-d mean over the real tokens and d(mean)/d(logits).
    const auto [value, dlogits] = xloss::value_and_grad(mean_ce, logits, labels, -1, options);
    const double mean = value();
    const double count = static_cast<double>(xt::sum(real)());

    std::printf("tokens per sequence: %zu %zu %zu (%g real of %zu positions)\n", length[0], length[1],
                length[2], count, batch * max_len);
    std::printf("mean loss over real tokens (label smoothing %g): %.8f\n", eps, mean);

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
            // (1 - eps) (lse - x_label) + eps / V S(lse - x_v); its gradient
            // softmax - (1 - eps) one_hot - eps / V.
            const long double lse = m + std::log(z);
            long double smooth = 0;
            for (std::size_t v = 0; v < vocab; ++v)
            {
                smooth += lse - logits(b, t, v);
            }
            sum += (1 - eps) * (lse - logits(b, t, static_cast<std::size_t>(labels(b, t)))) + eps / vocab * smooth;
            for (std::size_t v = 0; v < vocab; ++v)
            {
                const long double p = std::exp(logits(b, t, v) - m) / z;
                const long double target = (static_cast<int>(v) == labels(b, t) ? 1 - eps : 0) + eps / vocab;
                const long double want = (p - target) / count;
                max_grad_error = std::max(max_grad_error,
                                          static_cast<double>(std::abs(dlogits(b, t, v) - want)));
            }
        }
    }
    const double want_mean = static_cast<double>(sum / count);
    std::printf("direct computation:         %.8f\n", want_mean);
    expect(std::abs(mean - want_mean) <= 1e-12, "mean matches the direct computation");
    expect(max_grad_error <= 1e-14, "gradient matches (softmax - target) / count");
    expect(padded_zero, "padded positions: gradient exactly +0");

    // ignore_index is the [batch, time] mask of the real positions, bit for bit.
    xloss::cross_entropy_options smoothing_only;
    smoothing_only.label_smoothing = eps;
    const xt::xtensor<int, 2> kept_labels = xt::where(real, labels, 0);
    const auto masked = xloss::value_and_grad(mean_ce, logits, kept_labels, -1, real, smoothing_only);
    expect(identical(masked.value, value) && identical(masked.grad, dlogits),
           "ignore_index = the where mask of the real positions");

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
        const auto again = xloss::value_and_grad(mean_ce, poisoned, labels, -1, options);
        expect(identical(again.value, value) && identical(again.grad, dlogits),
               std::isnan(poison) ? "NaN logits at padding change nothing"
                                  : "1e30 logits at padding change nothing");
    }

    std::printf("%s\n",
                failures == 0 ? "masked_sequence_loss: all checks pass" : "masked_sequence_loss: FAILED");
    return failures == 0 ? 0 : 1;
}

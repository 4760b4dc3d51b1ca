// Training step: a linear classifier logits = X W + b (W [D, C], b [C])
// trained by plain SGD on a small synthetic batch. xloss gives the loss and
// d(loss)/d(logits) in one pass (xloss::value_and_grad); the backward pass
// through the linear layer is two small products written with xtensor
// broadcasts (no BLAS needed).
//
// Checks: dW agrees with a finite difference of the loss, the loss decreases
// at every step, and it ends well below its start. Exits non-zero otherwise.

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <random>

#include <xloss/xloss.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

namespace
{
    constexpr std::size_t B = 48, D = 4, C = 3;

    using xt::all;
    using xt::newaxis;

    // [B, D] x [D, C] -> [B, C], as a sum over D of a [B, D, C] broadcast.
    xt::xtensor<double, 2> forward(const xt::xtensor<double, 2>& X,
                                   const xt::xtensor<double, 2>& W,
                                   const xt::xtensor<double, 1>& bias)
    {
        const xt::xtensor<double, 2> xw = xt::sum(
            xt::view(X, all(), all(), newaxis()) * xt::view(W, newaxis(), all(), all()), {1});
        return xw + bias;
    }

    // Mean cross entropy over the batch.
    double mean_loss(const xt::xtensor<double, 2>& logits, const xt::xtensor<int, 1>& labels)
    {
        return xt::sum(xloss::softmax_cross_entropy_with_integer_labels(logits, labels))() / B;
    }
}

int main()
{
    // Three Gaussian blobs in D dimensions, one per class.
    std::mt19937 rng(11);
    std::normal_distribution<double> noise(0.0, 1.0);
    const double centre[C][D] = {{2, 0, 0, 1}, {-1, 2, 0, -1}, {-1, -2, 1, 0}};
    xt::xtensor<double, 2> X = xt::zeros<double>({B, D});
    xt::xtensor<int, 1> labels = xt::zeros<int>({B});
    for (std::size_t i = 0; i < B; ++i)
    {
        labels(i) = static_cast<int>(i % C);
        for (std::size_t d = 0; d < D; ++d)
        {
            X(i, d) = centre[i % C][d] + noise(rng);
        }
    }

    // Small random weights break the symmetry between classes.
    xt::xtensor<double, 2> W = xt::zeros<double>({D, C});
    for (auto& w : W)
    {
        w = 0.01 * noise(rng);
    }
    xt::xtensor<double, 1> b = xt::zeros<double>({C});
    const double learning_rate = 0.5;

    int failures = 0;
    auto expect = [&](bool ok, const char* what)
    {
        std::printf("  %-50s %s\n", what, ok ? "ok" : "FAILED");
        failures += ok ? 0 : 1;
    };

    double first = 0, previous = 0;
    bool decreasing = true;
    const int steps = 10;
    for (int step = 0; step <= steps; ++step)
    {
        const auto logits = forward(X, W, b);
        // Per-example loss [B] and d(sum of loss)/d(logits) [B, C], in one pass.
        auto [loss, dlogits] = xloss::value_and_grad(xloss::softmax_cross_entropy_with_integer_labels, logits,
                                                     labels);
        const double value = xt::sum(loss)() / B;
        dlogits /= static_cast<double>(B);  // gradient of the mean, not the sum

        // Backward through logits = X W + b:
        //   dW = X^T dlogits  ([D, C], a sum over the batch of a [B, D, C] broadcast)
        //   db = sum of dlogits over the batch
        const xt::xtensor<double, 2> dW = xt::sum(
            xt::view(X, all(), all(), newaxis()) * xt::view(dlogits, all(), newaxis(), all()), {0});
        const xt::xtensor<double, 1> db = xt::sum(dlogits, {0});

        if (step == 0)
        {
            // The chain rule above, checked on one weight by a central difference.
            const double h = 1e-6;
            xt::xtensor<double, 2> Wp = W, Wm = W;
            Wp(1, 2) += h;
            Wm(1, 2) -= h;
            const double numeric = (mean_loss(forward(X, Wp, b), labels)
                                    - mean_loss(forward(X, Wm, b), labels))
                                   / (2 * h);
            std::printf("dW(1, 2): backprop %.9f, finite difference %.9f\n", dW(1, 2), numeric);
            expect(std::abs(dW(1, 2) - numeric) <= 1e-7, "backprop dW matches the finite difference");
            first = value;
        }
        else
        {
            decreasing = decreasing && value < previous;
        }
        previous = value;
        if (step % 2 == 0 || step == steps)
        {
            std::printf("step %2d  loss %.6f\n", step, value);
        }
        if (step == steps)
        {
            break;  // report the loss after the last update, do not update again
        }

        W -= learning_rate * dW;
        b -= learning_rate * db;
    }

    expect(decreasing, "loss decreases at every step");
    expect(previous < 0.5 * first, "loss at least halves over the run");
    std::printf("%s\n", failures == 0 ? "training_step: all checks pass" : "training_step: FAILED");
    return failures == 0 ? 0 : 1;
}

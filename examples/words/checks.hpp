// --check-padding, the ctest check that padding changes nothing: the loss
// and the parameter gradients of one padded batch equal those of its words
// fed one at a time without padding (each weighted by its number of
// positions, since the batch loss is the mean over all of them). And, so
// that the equality is not between two wrong gradients, the batch gradient
// against a central finite difference along a random direction.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "gru.hpp"
#include "loss.hpp"
#include "word_list.hpp"

namespace words
{
    struct LossAndGradient
    {
        double weighted_loss = 0.0;         // mean loss * positions = summed nats
        std::vector<double> weighted_grad;  // every parameter's gradient * positions, flattened
    };

    inline void accumulate(GruLanguageModel& model, const Batch& batch, LossAndGradient& into)
    {
        Logits dlogits;
        const double positions = static_cast<double>(batch.positions);
        into.weighted_loss += static_cast<double>(
                                  batch_loss_and_grad(model.forward(batch), batch, LossMode{}, dlogits))
                              * positions;
        model.backward(batch, dlogits);
        std::size_t k = 0;
        for (const Parameter& p : model.parameters())
        {
            into.weighted_grad.resize(std::max(into.weighted_grad.size(), k + p.size), 0.0);
            for (std::size_t i = 0; i < p.size; ++i, ++k)
            {
                into.weighted_grad[k] += static_cast<double>(p.grad[i]) * positions;
            }
        }
    }

    inline double batch_loss(GruLanguageModel& model, const Batch& batch)
    {
        Logits dlogits;
        return static_cast<double>(batch_loss_and_grad(model.forward(batch), batch, LossMode{}, dlogits));
    }

    // d loss / d t of loss(params + t v) at t = 0, by central differences,
    // v a random direction of unit-size entries.
    inline double directional_difference(GruLanguageModel& model,
                                         const Batch& batch,
                                         const std::vector<float>& v,
                                         float step)
    {
        auto shift = [&](float by)
        {
            std::size_t k = 0;
            for (const Parameter& p : model.parameters())
            {
                for (std::size_t i = 0; i < p.size; ++i, ++k)
                {
                    p.value[i] += by * v[k];
                }
            }
        };
        shift(step);
        const double up = batch_loss(model, batch);
        shift(-2.0f * step);
        const double down = batch_loss(model, batch);
        shift(step);
        return (up - down) / (2.0 * static_cast<double>(step));
    }

    inline int run_padding_check(unsigned seed)
    {
        xloss_examples::Rng rng(seed);
        GruLanguageModel model(ModelSize{16, 32}, rng);
        // Lengths mixed, so that most rows carry padding (up to 11 positions).
        const std::vector<std::string> words = {"cat", "a", "mississippi", "queue", "zz", "xylophones", "of"};
        std::vector<const std::string*> members;
        for (const std::string& w : words)
        {
            members.push_back(&w);
        }
        const Batch padded = make_batch(members);

        LossAndGradient together, alone;
        accumulate(model, padded, together);
        for (const std::string* w : members)
        {
            accumulate(model, make_batch({w}), alone);
        }
        double max_diff = 0.0, max_grad = 0.0;
        for (std::size_t k = 0; k < together.weighted_grad.size(); ++k)
        {
            max_diff = std::max(max_diff, std::abs(together.weighted_grad[k] - alone.weighted_grad[k]));
            max_grad = std::max(max_grad, std::abs(alone.weighted_grad[k]));
        }
        // float arithmetic through GEMMs of other shapes: round-off only.
        const bool loss_same = std::abs(together.weighted_loss - alone.weighted_loss)
                               <= 1e-5 * alone.weighted_loss;
        const bool grad_same = max_diff <= 1e-5 * max_grad;
        std::printf("padded batch [%zu, %zu] (%zu real positions) vs its words one at a time:\n", padded.size,
                    padded.steps, padded.positions);
        std::printf("  summed nats %.7f vs %.7f (%s)\n", together.weighted_loss, alone.weighted_loss,
                    loss_same ? "equal to float round-off" : "DIFFERENT");
        std::printf("  gradients: largest difference %.3g of largest entry %.3g (%s)\n", max_diff, max_grad,
                    grad_same ? "equal to float round-off" : "DIFFERENT");

        // The batch gradient against finite differences along a random direction.
        std::vector<float> v;
        double predicted = 0.0;
        for (double g : together.weighted_grad)
        {
            v.push_back(xloss_examples::uniform_symmetric(rng, 1.0f));
            predicted += g / static_cast<double>(padded.positions) * static_cast<double>(v.back());
        }
        const double measured = directional_difference(model, padded, v, 1e-3f);
        const bool fd_ok = std::abs(measured - predicted) <= 1e-2 * std::abs(predicted) + 1e-3;
        std::printf("  directional derivative: backpropagation %.6f, finite difference %.6f (%s)\n",
                    predicted, measured, fd_ok ? "agree" : "DISAGREE");
        // Padding marked by ignore_index = -100 instead of the mask: the same
        // numbers, bit for bit (the same slices take part, the same kernels run).
        Logits d_mask, d_ignore;
        const Logits logits = model.forward(padded);
        const float by_mask = batch_loss_and_grad(logits, padded, LossMode{}, d_mask);
        LossMode ignoring;
        ignoring.ignore_index = true;
        const float by_ignore = batch_loss_and_grad(logits, padded, ignoring, d_ignore);
        const bool ignore_same = by_mask == by_ignore && d_mask == d_ignore;
        std::printf("  where mask vs ignore_index -100: loss %.7f vs %.7f, gradients %s\n", by_mask, by_ignore,
                    ignore_same ? "identical" : "DIFFERENT");
        const bool passed = loss_same && grad_same && fd_ok && ignore_same;
        std::printf("padding check %s\n", passed ? "passed" : "FAILED");
        return passed ? 0 : 1;
    }
}

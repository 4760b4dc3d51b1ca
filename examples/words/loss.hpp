// The training loss of the word model: the one place where it calls xloss.
#pragma once

#include <xloss/xloss.hpp>

#include "gru.hpp"
#include "word_list.hpp"

namespace words
{
    // How the training loss treats its labels. Evaluation always reports
    // the plain cross entropy over real positions.
    struct LossMode
    {
        float label_smoothing = 0.0f;
        bool ignore_index = false;  // padding marked by the label -100 instead of the where mask
    };

    // The batch's training loss, mean nats per real position, and its
    // gradient dL/dlogits written into `dlogits`. Padding leaves the loss one
    // of two ways, with the same numbers: the [B, T] mask of real positions
    // (batch rank of the [B, T, 27] logits, so it masks whole positions), or
    // ignore_index = -100, the label under padding (PyTorch's way). Either
    // way mean() divides by the number of real positions and padding adds
    // nothing to the value or the gradient; its labels are never read.
    inline float batch_loss_and_grad(const Logits& logits,
                                     const Batch& batch,
                                     const LossMode& mode,
                                     Logits& dlogits)
    {
        constexpr auto loss = xloss::mean(xloss::softmax_cross_entropy_with_integer_labels);
        xloss::cross_entropy_options options;
        options.label_smoothing = mode.label_smoothing;
        dlogits.resize(logits.shape());
        if (mode.ignore_index)
        {
            options.ignore_index = padding_label;
            return xloss::value_and_grad_into(dlogits, loss, logits, batch.labels, -1, options)();
        }
        return xloss::value_and_grad_into(dlogits, loss, logits, batch.labels, -1, batch.real, options)();
    }
}

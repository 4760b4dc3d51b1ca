// The training loss of the word model: the one place where it calls xloss.
#pragma once

#include <stdexcept>
#include <string>

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

    // Label smoothing and ignore_index are xloss::cross_entropy_options
    // (SPEC 0.2), which are not on this branch yet. The flags are accepted
    // so that the command line is the final one, and refused here, before
    // any work, rather than silently training something else.
    inline void check_loss_mode(const LossMode& mode)
    {
        const char* flag = mode.label_smoothing != 0.0f ? "--label-smoothing"
                           : mode.ignore_index          ? "--ignore-index"
                                                        : nullptr;
        if (flag != nullptr)
        {
            throw std::invalid_argument(std::string(flag)
                                        + " needs xloss::cross_entropy_options (SPEC 0.2: label_smoothing, "
                                          "ignore_index), which this build of xloss does not have yet; "
                                          "train without it (padding is masked with `where`)");
        }
    }

    // The batch's training loss, mean nats per real position, and its
    // gradient dL/dlogits written into `dlogits`. The [B, T] mask has the
    // batch rank of the [B, T, 27] logits, so it masks whole positions, and
    // mean() divides by the number of real positions: padding adds nothing
    // to the value or the gradient, and its labels (-100) are never read.
    //
    // The one place of the loss call. With cross_entropy_options merged,
    // `mode` becomes an options argument here: label_smoothing passed on,
    // and for ignore_index the call without batch.real and with
    // ignore_index = padding_label (mean() then counts the positions whose
    // label is not -100, the same D); check_loss_mode() goes away.
    inline float batch_loss_and_grad(const Logits& logits,
                                     const Batch& batch,
                                     const LossMode& mode,
                                     Logits& dlogits)
    {
        check_loss_mode(mode);
        constexpr auto loss = xloss::mean(xloss::softmax_cross_entropy_with_integer_labels);
        dlogits.resize(logits.shape());
        return xloss::value_and_grad_into(dlogits, loss, logits, batch.labels, -1, batch.real)();
    }
}

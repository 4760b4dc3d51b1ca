// Reductions of a loss to one number: xloss::sum(LOSS) and xloss::mean(LOSS).
#ifndef XLOSS_REDUCTIONS_HPP
#define XLOSS_REDUCTIONS_HPP

#include "config.hpp"

#include "detail/call.hpp"
#include "detail/rule.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        template <class Rule, reduction R>
        constexpr loss_object<reduced_rule<Rule, R>> reduced(const loss_object<Rule>&)
        {
            static_assert(rule_traits<Rule>::reduce == reduction::none,
                          "xloss::sum / xloss::mean: the loss is already reduced to one number");
            return {};
        }
    }

    /// The sum of a loss's per-slice values, as a loss with the same call
    /// forms whose result is 0-d:
    ///
    ///   sum(LOSS)(x, y, ...) = sum over slices of LOSS(x, y, ...)
    ///
    /// grad, vjp (with a scalar or 0-d cotangent g), value_and_grad accept
    /// it; its gradient is LOSS's with g for every slice, in the same one
    /// pass. Slices with nothing selected add 0.
    ///
    /// Example: sum(xloss::kl_divergence)(log_p, t) over a [2, 3] batch is
    /// the total divergence of both rows. Reference: PyTorch reduction='sum'.
    template <class Rule>
    constexpr auto sum(const detail::loss_object<Rule>& loss)
    {
        return detail::reduced<Rule, detail::reduction::sum>(loss);
    }

    /// The mean of a loss's per-slice values over the slices that take part,
    /// as a loss with the same call forms whose result is 0-d:
    ///
    ///   mean(LOSS)(x, y, ...) = sum over slices of LOSS(x, y, ...) / D
    ///
    /// D is the number of slices with at least one selected element (a
    /// batch-rank `where` leaves slices out; an element-rank one leaves out
    /// the slices it masks entirely). D = 0 gives value 0 and gradient 0,
    /// not NaN. The gradient is LOSS's with g / D for every slice (g: vjp's
    /// scalar cotangent, 1 for grad), computed in the same one pass: D is
    /// known from the mask before it.
    ///
    /// So mean(xloss::kl_divergence) over rows is PyTorch's
    /// reduction='batchmean', mean(LOSS) with xloss::no_axes is the mean over
    /// the selected elements, and mean(softmax_cross_entropy_with_integer_labels)
    /// over [B, T, V] logits with a [B, T] mask of the real tokens is the mean
    /// loss per real token.
    ///
    /// Example: mean(xloss::softmax_cross_entropy_with_integer_labels) of
    /// logits {{0, 0}, {0, 0}} and labels {0, 1} with where {true, false}
    /// (batch-rank): D = 1, value log 2 = 0.69314718.
    template <class Rule>
    constexpr auto mean(const detail::loss_object<Rule>& loss)
    {
        return detail::reduced<Rule, detail::reduction::mean>(loss);
    }
XLOSS_NAMESPACE_END

#endif

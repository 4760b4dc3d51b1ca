// Sigmoid binary cross entropy (logistic loss), reduced over `axis`.
#ifndef XLOSS_BINARY_CROSS_ENTROPY_HPP
#define XLOSS_BINARY_CROSS_ENTROPY_HPP

#include "config.hpp"

#include <optional>

#include <xtensor/xarray.hpp>

#include "axes.hpp"
#include "detail/call.hpp"
#include "detail/errors.hpp"

XLOSS_NAMESPACE_BEGIN
    /// Options of sigmoid_binary_cross_entropy.
    struct binary_cross_entropy_options
    {
        /// Per-element weights w, broadcast to the logits' shape; none: 1.
        /// (Not supported yet: giving one throws std::invalid_argument.)
        std::optional<xt::xarray<double>> weights;
        /// Weight pw of the positive term, broadcast to the logits' shape
        /// (usually one per class, [C]); none: 1.
        /// (Not supported yet: giving one throws std::invalid_argument.)
        std::optional<xt::xarray<double>> pos_weight;
    };

    namespace detail
    {
        struct sigmoid_binary_cross_entropy_rule;
    }

    /// Sigmoid binary cross entropy between logits and labels, summed over `axis`.
    ///
    ///   p    = sigmoid(x)
    ///   loss = S(-y log p - (1 - y) log(1 - p))
    ///
    /// - logits: floating expression; labels: floating expression in [0, 1]
    ///   (hard or soft), broadcastable with it.
    /// - axis (default -1): the loss reduces over `axis`; xloss::no_axes gives
    ///   the elementwise output of Optax and of PyTorch's reduction='none'
    ///   (masked elements 0).
    /// - options: xloss::binary_cross_entropy_options{weights, pos_weight}
    ///   (not supported yet: a given weight array throws std::invalid_argument).
    /// - result: xt::xarray of the common floating type, batch shape.
    ///
    /// Stable in log space: each term is computed as y softplus(-x) + (1 - y)
    /// softplus(x), softplus(+-x) = max(+-x, 0) + log1p(exp(-|x|)), so logits
    /// of +-1e4 give finite values (about |x| on the wrong side, 0 on the
    /// right one) and finite gradients. A hard label takes its own term alone:
    /// y = 0 at x = -inf and y = 1 at x = +inf give 0 (not 0 * inf = NaN), and
    /// d/dlogits 0 there; a hard label at the infinite logit that contradicts it
    /// gives +inf.
    ///
    /// Gradients: d/dlogits = sigmoid(x) - y (computed from sigmoid(x) or
    /// 1 - sigmoid(x), whichever is small, without cancellation);
    /// d/dlabels = -x (infinite at infinite logits).
    ///
    /// Example: logits {0, 2, -1}, labels {1, 0.25, 0} ->
    ///   log 2 + (0.25 softplus(-2) + 0.75 softplus(2)) + softplus(-1)
    ///   = 0.69314718 + 1.62692801 + 0.31326169 = 2.63333688.
    /// Reference: torch.nn.functional.binary_cross_entropy_with_logits(
    /// reduction='none') summed over `axis`; optax.sigmoid_binary_cross_entropy
    /// (elementwise: xloss::no_axes).
    inline constexpr detail::loss_object<detail::sigmoid_binary_cross_entropy_rule>
        sigmoid_binary_cross_entropy{};

    // ---------------------------------------------------------------------
    // Implementation

    namespace detail
    {
        struct sigmoid_binary_cross_entropy_rule
        {
            static constexpr const char* name = "sigmoid_binary_cross_entropy";
            using options = binary_cross_entropy_options;
            static constexpr second_input second = second_input::elementwise;

            static void check_options(const options& opts, const char* function)
            {
                if (opts.weights)
                {
                    throw_invalid_argument(function, "option weights is not supported yet");
                }
                if (opts.pos_weight)
                {
                    throw_invalid_argument(function, "option pos_weight is not supported yet");
                }
            }

            // One pass: the value, and the gradients when asked for.
            template <bool Grad, class Lanes, class Group>
            static auto kernel(const Lanes& lanes, const Group& grp, const options&)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B zero(T(0)), one(T(1));
                B total = zero;
                lanes.for_each(
                    [&](const B& x, const B& l, const auto& valid, auto at)
                    {
                        // With e = exp(-|x|): softplus(+-x) = max(+-x, 0) + log1p(e).
                        const B e = simd::exp(-simd::abs(x));
                        const B log1p_e = simd::log1p(e);
                        const B minus_log_q = simd::max(x, zero) + log1p_e;   // -log(1 - p)
                        const B minus_log_p = simd::max(-x, zero) + log1p_e;  // -log(p)
                        // A hard label takes its own term alone: the other has zero
                        // weight and adds 0, even where its -log is infinite.
                        const B ce = simd::select(l == zero, minus_log_q,
                                                  simd::select(l == one, minus_log_p,
                                                               l * minus_log_p + (one - l) * minus_log_q));
                        total += simd::select(valid, ce, zero);
                        if constexpr (Grad)
                        {
                            const B g = grp.upstream;
                            if (grp.grad[0])
                            {
                                // p - l, taken as (1 - l) - q where p >= 1/2 (p - 1
                                // would keep q to few digits); p and q = 1 - p each
                                // from its own expression, 1/(1+e) and e/(1+e).
                                const B r = one / (one + e);
                                const auto nonneg = x >= zero;
                                const B p = simd::select(nonneg, r, e * r);
                                const B q = simd::select(nonneg, e * r, r);
                                const B d = simd::select(nonneg, (one - l) - q, p - l);
                                lanes.store(grp.grad[0], at, simd::select(valid, g * d, zero));
                            }
                            if (grp.grad[1])
                            {
                                // softplus(-x) - softplus(x) = -x.
                                lanes.store(grp.grad[1], at, simd::select(valid, g * -x, zero));
                            }
                        }
                    });
                return lanes.sum(total);
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

// Sigmoid binary cross entropy (logistic loss), reduced over `axis`.
#ifndef XLOSS_BINARY_CROSS_ENTROPY_HPP
#define XLOSS_BINARY_CROSS_ENTROPY_HPP

#include "config.hpp"

#include <array>
#include <optional>

#include <xtensor/xarray.hpp>

#include "axes.hpp"
#include "detail/call.hpp"
#include "detail/errors.hpp"
#include "detail/kernels/softplus.hpp"

XLOSS_NAMESPACE_BEGIN
    /// Options of sigmoid_binary_cross_entropy.
    struct binary_cross_entropy_options
    {
        /// Per-element weights w, broadcast (NumPy rules) to the inputs' full
        /// shape ([C] or [B, 1] on [B, C]); none: 1.
        std::optional<xt::xarray<double>> weights;
        /// Weight pw of the positive term, broadcast likewise (usually one per
        /// class, [C]); none: 1.
        std::optional<xt::xarray<double>> pos_weight;
    };

    namespace detail
    {
        struct sigmoid_binary_cross_entropy_rule;
    }

    /// Sigmoid binary cross entropy between logits and labels, summed over `axis`.
    ///
    ///   p    = sigmoid(x)
    ///   loss = S(w (-pw y log p - (1 - y) log(1 - p)))   (w, pw: 1 when not given)
    ///
    /// - logits: floating expression; labels: floating expression in [0, 1]
    ///   (hard or soft), broadcastable with it.
    /// - axis (default -1): the loss reduces over `axis`; xloss::no_axes gives
    ///   the elementwise output of Optax and of PyTorch's reduction='none'
    ///   (masked elements 0).
    /// - options: xloss::binary_cross_entropy_options{weights, pos_weight},
    ///   each a std::optional<xt::xarray<double>> that broadcasts to the
    ///   inputs' full shape (else std::invalid_argument naming the function,
    ///   the option and both shapes); PyTorch's weight and pos_weight.
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
    /// d/dlabels = -x (infinite at infinite logits). With the weight arrays:
    /// d/dlogits = w ((1 - y) p - pw y (1 - p)), d/dlabels =
    /// w (pw softplus(-x) - softplus(x)). Weights are not differentiated.
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
            static constexpr bool sums_element_terms = true;

            // The weight arrays (rule.hpp): lanes.weight(0, at) is w, (1, at) pw.
            static constexpr std::array<const char*, 2> weight_array_names{"weights", "pos_weight"};
            static std::array<const std::optional<xt::xarray<double>>*, 2> weight_arrays(const options& opts)
            {
                return {&opts.weights, &opts.pos_weight};
            }

            // One pass: the value, and the gradients when asked for.
            template <bool Grad, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto kernel(const Lanes& lanes, const Group& grp, const options& opts)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B zero(T(0)), one(T(1));
                const bool weighted = opts.weights.has_value();
                const bool pos_weighted = opts.pos_weight.has_value();
                B total = zero;
                lanes.for_each(
                    [&](const B& x, const B& l, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        const auto [e, minus_log_p, minus_log_q] = kernels::log_sigmoids_of<T>(x);
                        // pw multiplies the positive term (exactly 1 when not given).
                        const B pw = pos_weighted ? lanes.weight(1, at) : one;
                        const B w = weighted ? lanes.weight(0, at) : one;
                        const B pw_l = pw * l;
                        // A hard label takes its own term alone: the other has zero
                        // weight and adds 0, even where its -log is infinite. Each
                        // term is a select, so that no multiply-add is contracted
                        // into an FMA in one instantiation (value only) and not in
                        // another (value and gradients): both give the same value.
                        const B pos = simd::select(l == zero, zero, pw_l * minus_log_p);
                        const B neg = simd::select(l == one, zero, (one - l) * minus_log_q);
                        const B ce = pos + neg;
                        total += simd::select(valid, weighted ? w * ce : ce, zero);
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
                                // With pw: (1 - l) p - pw l q, two terms of one sign each.
                                B d = pos_weighted ? (one - l) * p - pw_l * q
                                                   : simd::select(nonneg, (one - l) - q, p - l);
                                if (weighted)
                                {
                                    d = w * d;
                                }
                                lanes.store(grp.grad[0], at, simd::select(valid, g * d, zero));
                            }
                            if (grp.grad[1])
                            {
                                // softplus(-x) - softplus(x) = -x; with pw:
                                // pw softplus(-x) - softplus(x).
                                B d = pos_weighted ? pw * minus_log_p - minus_log_q : -x;
                                if (weighted)
                                {
                                    d = w * d;
                                }
                                lanes.store(grp.grad[1], at, simd::select(valid, g * d, zero));
                            }
                        }
                    });
                return lanes.sum(total);
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

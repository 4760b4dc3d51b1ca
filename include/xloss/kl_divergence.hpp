// Kullback-Leibler divergence, plain and convex (generalized).
#ifndef XLOSS_KL_DIVERGENCE_HPP
#define XLOSS_KL_DIVERGENCE_HPP

#include "config.hpp"

#include <limits>

#include "axes.hpp"
#include "detail/call.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        template <bool Convex>
        struct kl_divergence_rule;
        struct kl_divergence_with_log_targets_rule;
    }

    /// Kullback-Leibler divergence of targets from predictions given as logs.
    ///
    ///   loss = S(targets * (log(targets) - log_predictions))
    ///
    /// - log_predictions: floating expression (log-probabilities); targets:
    ///   floating expression broadcastable with it (probabilities).
    /// - axis (default -1), where (optional): as for every loss.
    /// - result: xt::xarray of the common floating type, batch shape.
    ///
    /// Edges: targets == 0 contribute exactly 0 (even against a -inf
    /// log-prediction); masked NaN never reaches the result; an empty slice
    /// gives 0. Gradients: d/dlog_predictions = -targets (finite, 0 where
    /// targets == 0); d/dtargets = log(targets) + 1 - log_predictions, where
    /// the t·log t term is taken as the constant 0 at targets == 0, giving
    /// -log_predictions there.
    ///
    /// Example: log_predictions log({0.5, 0.5}), targets {0.25, 0.75}
    /// -> 0.25 log 0.5 + 0.75 log 1.5 = 0.13081204.
    /// Reference: optax.kl_divergence.
    inline constexpr detail::loss_object<detail::kl_divergence_rule<false>> kl_divergence{};

    /// Convex (generalized) Kullback-Leibler divergence, for unnormalised
    /// measures:
    ///
    ///   loss = kl_divergence + S(exp(log_predictions) - targets)
    ///
    /// Same inputs, axis, where, result and edges as kl_divergence.
    /// Gradients: d/dlog_predictions = exp(log_predictions) - targets;
    /// d/dtargets = log(targets) - log_predictions (-log_predictions - 1 at
    /// targets == 0). Reference: optax.convex_kl_divergence.
    inline constexpr detail::loss_object<detail::kl_divergence_rule<true>> convex_kl_divergence{};

    /// Alias of convex_kl_divergence (Optax's generalized_kl_divergence).
    inline constexpr detail::loss_object<detail::kl_divergence_rule<true>> generalized_kl_divergence{};

    /// Kullback-Leibler divergence with both distributions given as logs.
    ///
    ///   loss = S(exp(log_targets) * (log_targets - log_predictions))
    ///
    /// - log_predictions, log_targets: floating expressions, broadcastable
    ///   with each other (log-probabilities; the targets need not be
    ///   normalised).
    /// - axis (default -1), where (optional): as for every loss.
    /// - result: xt::xarray of the common floating type, batch shape.
    ///
    /// Edges: a log target of -inf (a target probability of 0) contributes
    /// exactly 0 to the value and to both gradients, whatever the
    /// log-prediction (Optax gives NaN there: exp(-inf) * (-inf - x)); a
    /// finite log target against a -inf log-prediction gives +inf; masked
    /// NaN never reaches the result; an empty slice gives 0.
    /// Gradients: d/dlog_predictions = -exp(log_targets);
    /// d/dlog_targets = exp(log_targets) * (log_targets - log_predictions + 1).
    ///
    /// Example: log_predictions log({0.5, 0.5}), log_targets log({0.25, 0.75})
    /// -> 0.25 log 0.5 + 0.75 log 1.5 = 0.13081204 (as kl_divergence).
    /// Reference: optax.kl_divergence_with_log_targets; torch
    /// kl_div(log_predictions, log_targets, reduction='none', log_target=True)
    /// summed over `axis`.
    inline constexpr detail::loss_object<detail::kl_divergence_with_log_targets_rule>
        kl_divergence_with_log_targets{};

    // ---------------------------------------------------------------------
    // Implementation

    namespace detail
    {
        template <bool Convex>
        struct kl_divergence_rule
        {
            static constexpr const char* name = Convex ? "convex_kl_divergence" : "kl_divergence";
            using options = no_options;
            static constexpr second_input second = second_input::elementwise;
            static constexpr bool sums_element_terms = true;

            // One pass: the value, and the gradients when asked for.
            template <bool Grad, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto kernel(const Lanes& lanes, const Group& grp, const options&)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B zero(T(0));
                B total = zero;
                lanes.for_each(
                    [&](const B& lp, const B& t, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        // log(0) is never multiplied: zero targets are selected away first.
                        const auto positive = simd::not_equal(t, zero);
                        const B log_t = simd::log(simd::select(positive, t, B(T(1))));
                        B term = simd::select(positive, t * (log_t - lp), zero);
                        if constexpr (Convex)
                        {
                            term += simd::exp(lp) - t;
                        }
                        total += simd::select(valid, term, zero);
                        if constexpr (Grad)
                        {
                            const B g = grp.upstream;
                            if (grp.grad[0])
                            {
                                B d = -t;
                                if constexpr (Convex)
                                {
                                    d += simd::exp(lp);
                                }
                                lanes.store(grp.grad[0], at, simd::select(valid, g * d, zero));
                            }
                            if (grp.grad[1])
                            {
                                B d = simd::select(positive, log_t + B(T(1)), zero) - lp;
                                if constexpr (Convex)
                                {
                                    d -= B(T(1));
                                }
                                lanes.store(grp.grad[1], at, simd::select(valid, g * d, zero));
                            }
                        }
                    });
                return lanes.sum(total);
            }
        };

        struct kl_divergence_with_log_targets_rule
        {
            static constexpr const char* name = "kl_divergence_with_log_targets";
            using options = no_options;
            static constexpr second_input second = second_input::elementwise;
            static constexpr bool sums_element_terms = true;

            template <bool Grad, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto kernel(const Lanes& lanes, const Group& grp, const options&)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B zero(T(0));
                const B minus_inf(-std::numeric_limits<T>::infinity());
                B total = zero;
                lanes.for_each(
                    [&](const B& lp, const B& lt, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        // A -inf log target is selected away before the product:
                        // exp(-inf) * (-inf - lp) would be 0 * -inf = NaN. (Two
                        // selects, as in kl_divergence: with one, g++ contracted
                        // the product into the sum in one instantiation and not
                        // the other on the scalar fallback, and value_and_grad's
                        // value differed from the loss's in the last bit.)
                        const auto nonzero_target = simd::not_equal(lt, minus_inf);
                        const auto counts = valid && nonzero_target;
                        const B t = simd::exp(lt);
                        const B diff = lt - lp;
                        const B term = simd::select(nonzero_target, t * diff, zero);
                        total += simd::select(valid, term, zero);
                        if constexpr (Grad)
                        {
                            const B g = grp.upstream;
                            if (grp.grad[0])
                            {
                                lanes.store(grp.grad[0], at, simd::select(counts, -(g * t), zero));
                            }
                            if (grp.grad[1])
                            {
                                lanes.store(grp.grad[1], at,
                                            simd::select(counts, g * t * (diff + B(T(1))), zero));
                            }
                        }
                    });
                return lanes.sum(total);
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

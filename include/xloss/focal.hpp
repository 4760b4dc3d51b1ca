// Sigmoid focal loss (Lin et al. 2017), reduced over `axis`.
#ifndef XLOSS_FOCAL_HPP
#define XLOSS_FOCAL_HPP

#include "config.hpp"

#include <array>
#include <optional>

#include <xtensor/xarray.hpp>

#include "axes.hpp"
#include "detail/call.hpp"
#include "detail/errors.hpp"
#include "detail/kernels/softplus.hpp"

XLOSS_NAMESPACE_BEGIN
    /// Options of sigmoid_focal_loss.
    struct focal_options
    {
        /// Weight of the positive class in [0, 1]; none: no weighting.
        std::optional<double> alpha;
        /// Focusing parameter (>= 0); 0 gives sigmoid binary cross entropy.
        double gamma = 2;
        /// Per-element alpha in [0, 1] (broadcast to the logits: [C] gives
        /// each class its own), weighting as alpha does; none: alpha decides.
        /// Giving both throws std::invalid_argument. (Initialised, so that
        /// focal_options{alpha, gamma} stays free of missing-initializer warnings.)
        std::optional<xt::xarray<double>> class_alpha = std::nullopt;
    };

    namespace detail
    {
        struct sigmoid_focal_loss_rule;
    }

    /// Sigmoid focal loss, summed over `axis`.
    ///
    ///   p = sigmoid(x), ce = -l log p - (1 - l) log(1 - p)
    ///   p_t = p l + (1 - p)(1 - l)
    ///   focal = ce (1 - p_t)^gamma  [* (alpha l + (1 - alpha)(1 - l)) with alpha]
    ///   (with class_alpha, alpha is its element at each position)
    ///   loss = S(focal)
    ///
    /// - logits: floating expression; labels: floating expression in [0, 1]
    ///   (hard or soft), broadcastable with it.
    /// - axis (default -1): unlike Optax, the loss reduces over `axis`;
    ///   xloss::no_axes gives Optax's elementwise output (masked elements 0).
    /// - options: xloss::focal_options{alpha, gamma, class_alpha}; alpha (or
    ///   an element of class_alpha) outside [0, 1], a gamma that is negative,
    ///   NaN or infinite, or both alpha and class_alpha, throws
    ///   std::invalid_argument naming the option and its value.
    /// - result: xt::xarray of the common floating type, batch shape.
    ///
    /// Stable in log space: ce is computed as l softplus(-x) + (1 - l)
    /// softplus(x) and 1 - p_t as p (1 - l) + (1 - p) l with p and 1 - p
    /// each from its own sigmoid, so logits of +-100 and soft labels give
    /// finite values and gradients. A hard label on the infinite logit that
    /// predicts it (l = 0 at -inf, l = 1 at +inf) gives 0 and gradient 0 (the
    /// limits at finite logits; d/dlabels with gamma = 0 is -x there).
    ///
    /// Example: logits {0}, labels {1}, gamma 2 -> log(2) * 0.25 = 0.17328680.
    /// Reference: optax.sigmoid_focal_loss.
    inline constexpr detail::loss_object<detail::sigmoid_focal_loss_rule> sigmoid_focal_loss{};

    // ---------------------------------------------------------------------
    // Implementation

    namespace detail
    {
        struct sigmoid_focal_loss_rule
        {
            static constexpr const char* name = "sigmoid_focal_loss";
            using options = focal_options;
            static constexpr second_input second = second_input::elementwise;
            static constexpr bool sums_element_terms = true;

            // class_alpha is weight array 0 (rule.hpp).
            static constexpr std::array<const char*, 2> weight_array_names{"class_alpha", ""};
            static std::array<const std::optional<xt::xarray<double>>*, 2> weight_arrays(const options& opts)
            {
                return {&opts.class_alpha, nullptr};
            }

            // alpha (or each element of class_alpha) in [0, 1], not both; gamma
            // finite and >= 0.
            static void check_options(const options& opts, const char* function)
            {
                if (opts.alpha)
                {
                    check_option_in(function, "alpha", *opts.alpha, 0, 1);
                }
                if (opts.class_alpha)
                {
                    if (opts.alpha)
                    {
                        throw_invalid_argument(function, "options alpha and class_alpha are both given "
                                                         "(class_alpha replaces alpha: give one)");
                    }
                    for (const double a : *opts.class_alpha)
                    {
                        check_option_in(function, "class_alpha", a, 0, 1);
                    }
                }
                check_option_in(function, "gamma", opts.gamma, 0);
            }

            // u^gamma, with the common integer gammas as products (pow costs an
            // exp and a log); 0^0 = 1.
            template <class B>
            XLOSS_KERNEL_INLINE static B power(const B& u, const B& gamma, double g)
            {
                using T = simd::scalar_t<B>;
                if (g == 2)
                {
                    return u * u;
                }
                if (g == 1)
                {
                    return u;
                }
                if (g == 0)
                {
                    return B(T(1));
                }
                return simd::select(u == B(T(0)), B(T(0)), simd::exp(gamma * simd::log(u)));
            }

            // One pass: the value, and the gradients when asked for.
            template <bool Grad, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto kernel(const Lanes& lanes, const Group& grp, const options& opts)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B zero(T(0)), one(T(1));
                const B gamma(static_cast<T>(opts.gamma));
                const bool per_element = opts.class_alpha.has_value();
                const bool weighted = opts.alpha.has_value() || per_element;
                const B scalar_alpha(static_cast<T>(opts.alpha.value_or(0)));
                B total = zero;
                lanes.for_each(
                    [&](const B& x, const B& l, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        // One exp and one log1p; no 1 - p cancellation.
                        const auto [e, minus_log_p, minus_log_q] = kernels::log_sigmoids_of<T>(x);
                        const B r = one / (one + e);
                        const auto nonneg = x >= zero;
                        const B p = simd::select(nonneg, r, e * r);
                        const B q = simd::select(nonneg, e * r, r);
                        // A hard label takes its own term alone: the other has zero
                        // probability and adds 0, even where its -log is infinite
                        // (l = 0 at x = -inf, l = 1 at x = +inf: 0 * inf would be NaN).
                        const B ce = simd::select(l == zero, minus_log_q,
                                                  simd::select(l == one, minus_log_p,
                                                               l * minus_log_p + (one - l) * minus_log_q));
                        const B u = p * (one - l) + q * l;  // 1 - p_t
                        const B u_gamma = power(u, gamma, opts.gamma);
                        const B alpha = per_element ? lanes.weight(0, at) : scalar_alpha;
                        const B w = weighted ? alpha * l + (one - alpha) * (one - l) : one;
                        total += simd::select(valid, w * ce * u_gamma, zero);
                        if constexpr (Grad)
                        {
                            const B g = grp.upstream;
                            // d(u^gamma)/du = gamma u^(gamma - 1): 0 when gamma == 0, and
                            // written as gamma u^gamma / u, taken as 0 where u == 0.
                            const B du_gamma = simd::select(u > zero && simd::not_equal(gamma, zero),
                                                            gamma * u_gamma / u, zero);
                            if (grp.grad[0])
                            {
                                // dce/dx = p - l, taken as (1 - l) - q where p >= 1/2:
                                // p - 1 at x = 10 would keep q = 4.5e-5 to only 3
                                // digits in float. 1 - l is exact for l >= 1/2, so the
                                // error is epsilon times |1 - l| + q. (No products:
                                // FMA contraction must not make paths differ.)
                                // du/dx = (1 - 2l) p q.
                                const B p_minus_l = simd::select(nonneg, (one - l) - q, p - l);
                                const B d = w * (p_minus_l * u_gamma + ce * du_gamma * (one - l - l) * p * q);
                                lanes.store(grp.grad[0], at, simd::select(valid, g * d, zero));
                            }
                            if (grp.grad[1])
                            {
                                // dce/dl = -x; du/dl = q - p; dw/dl = 2 alpha - 1.
                                // q - p = -+(1 - e) / (1 + e), with 1 - e from expm1:
                                // for |x| below epsilon, e rounds to 1 and q - p
                                // computed as a difference would be 0, not -x / 2.
                                // (expm1's argument is bounded: it is -1 below -100.)
                                const B em1 = simd::expm1(simd::max(-simd::abs(x), B(T(-100))));
                                const B q_minus_p = simd::select(nonneg, em1 * r, -(em1 * r));
                                // -x u^gamma is taken as 0 where u^gamma is 0: its limit as
                                // x goes to the infinite logit that made u 0.
                                const B x_term = simd::select(u_gamma == zero, zero, -x * u_gamma);
                                B d = w * (x_term + ce * du_gamma * q_minus_p);
                                if (weighted)
                                {
                                    d += (alpha + alpha - one) * ce * u_gamma;
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

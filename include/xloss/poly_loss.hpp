// Poly-1 loss (Leng et al. 2022): softmax cross entropy plus epsilon times
// the first term of its polynomial expansion.
#ifndef XLOSS_POLY_LOSS_HPP
#define XLOSS_POLY_LOSS_HPP

#include "config.hpp"

#include <cmath>

#include "axes.hpp"
#include "detail/call.hpp"
#include "detail/errors.hpp"
#include "detail/kernels/logsumexp.hpp"

XLOSS_NAMESPACE_BEGIN
    /// Options of poly_loss_cross_entropy.
    struct poly_options
    {
        /// Weight of the polynomial term; any finite real number (the paper's
        /// Poly-1 uses -1 as well as positive values; 0 gives
        /// softmax_cross_entropy). NaN and infinities throw.
        double epsilon = 2;
    };

    namespace detail
    {
        struct poly_loss_cross_entropy_rule;
    }

    /// Poly-1 cross entropy between logits and probability labels.
    ///
    ///   p    = softmax_where(logits)   (over the selected elements of the slice)
    ///   loss = -S(labels * log p) + epsilon * S(labels * (1 - p))
    ///
    /// i.e. softmax_cross_entropy plus epsilon times the labels' mass outside
    /// p; for one-hot labels, CE + epsilon * (1 - p_label).
    ///
    /// - logits: floating expression, any shape; labels: floating expression
    ///   broadcastable with it (probabilities, usually one-hot or smoothed).
    /// - axis (default -1), where (optional): as for every loss; the softmax
    ///   and both sums run over the selected elements only.
    /// - options: xloss::poly_options{epsilon = 2}; epsilon may be negative.
    /// - result: xt::xarray of the common floating type, batch shape.
    ///
    /// Edges: as softmax_cross_entropy (a label of 0 contributes exactly 0,
    /// even against a -inf logit; masked NaN never reaches the result; a slice
    /// with no selected element gives 0). Logits of any size are max-shifted.
    /// Gradients, with L = S(labels), q = S(labels * p):
    /// d/dlogits = p * (L + epsilon * q) - labels * (1 + epsilon * p);
    /// d/dlabels = -log p + epsilon * (1 - p).
    ///
    /// Example: logits {{4, 2, 1}}, labels {{1, 0, 0}}, epsilon 2:
    /// p_0 = e^4 / (e^4 + e^2 + e) = 0.84379473, CE = -log p_0 = 0.16984602,
    /// loss = 0.16984602 + 2 * 0.15620527 = 0.48225655.
    /// Reference: optax.poly_loss_cross_entropy; Leng et al., "PolyLoss: A
    /// Polynomial Expansion Perspective of Classification Loss Functions",
    /// ICLR 2022 (arXiv:2204.12511).
    inline constexpr detail::loss_object<detail::poly_loss_cross_entropy_rule> poly_loss_cross_entropy{};

    // ---------------------------------------------------------------------
    // Implementation

    namespace detail
    {
        struct poly_loss_cross_entropy_rule
        {
            static constexpr const char* name = "poly_loss_cross_entropy";
            using options = poly_options;
            static constexpr second_input second = second_input::elementwise;
            static constexpr std::size_t tiled_row_batches = 2;

            static void check_options(const options& opts, const char* function)
            {
                if (!std::isfinite(opts.epsilon))
                {
                    throw_option_outside(function, "epsilon", opts.epsilon, "(-inf, inf)");
                }
            }

            // L = S(labels) is label_sum.
            template <class B>
            struct statistics : kernels::label_sums<B>
            {
                kernels::softmax_normaliser<B> norm;
                B label_exp;  // S(labels * exp(logits - shift)) = q * sum_exp
            };

            // One read of the slice for the max, one for the sums: the label
            // sums ride along the normaliser's exp pass, and reuse its exp.
            template <class Lanes>
            XLOSS_KERNEL_INLINE static auto collect(const Lanes& lanes, typename Lanes::value_type* keep_exp)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B zero(T(0));
                auto labels = kernels::label_sums<B>::none();
                B label_exp = zero;
                const auto norm = kernels::normaliser(
                    lanes,
                    [&](const B& x, const B& y, const auto& valid, const B& shift, const B& e, auto)
                        XLOSS_KERNEL_LAMBDA
                    { label_exp += simd::select(labels.add(x, y, valid, shift), y * e, zero); },
                    keep_exp);
                return statistics<B>{labels.total(lanes), norm, lanes.sum(label_exp)};
            }

            // The stream form (rule.hpp): collect()'s sums over the rows so far,
            // about the running shift (label_sums::join). When a block raises
            // the shift by d, S(labels e) of the rows before is scaled by
            // exp(-d), as sum_exp is.
            template <class B>
            using stream_state = statistics<B>;

            static bool streams(const options&)
            {
                return true;
            }

            template <class B, class Group>
            static stream_state<B> start_stream(const Group&, const options&)
            {
                using T = simd::scalar_t<B>;
                const B zero(T(0));
                return {kernels::label_sums<B>::none(), {zero, zero, zero}, zero};
            }

            template <class Lanes, class Group, class B = typename Lanes::batch>
            XLOSS_KERNEL_INLINE static void add_rows(stream_state<B>& s,
                                                     const Lanes& lanes,
                                                     const Group&,
                                                     const options&)
            {
                using T = typename Lanes::value_type;
                const B zero(T(0));
                const B old_shift = s.norm.shift;
                auto block = kernels::label_sums<B>::none();
                B label_exp = zero;
                const B rescale = kernels::extend(
                    s.norm, lanes,
                    [&](const B& x, const B& y, const auto& valid, const B& shift, const B& e, auto)
                        XLOSS_KERNEL_LAMBDA
                    { label_exp += simd::select(block.add(x, y, valid, shift), y * e, zero); });
                s.join(block, old_shift, s.norm.shift);
                // sum_exp's factor; while it was 0, S(labels e) was 0 (or NaN) and stays so.
                s.label_exp = s.label_exp * rescale + label_exp;
            }

            template <class B>
            XLOSS_KERNEL_INLINE static B value_of_stream(const stream_state<B>& s, const options& opts)
            {
                using T = simd::scalar_t<B>;
                return value_of(s, B(static_cast<T>(opts.epsilon)));
            }

            // with_grad's gradients, on one block of rows.
            template <class Lanes, class Group, class B = typename Lanes::batch>
            XLOSS_KERNEL_INLINE static void grad_rows(const stream_state<B>& s,
                                                      const Lanes& lanes,
                                                      const Group& grp,
                                                      const options& opts)
            {
                using T = typename Lanes::value_type;
                const auto f = factors_of(s, grp.upstream, B(static_cast<T>(opts.epsilon)));
                lanes.for_each_fetching_next(
                    [&](const B& x, const B& y, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    { store_grads(lanes, grp, f, x, y, valid, at, simd::exp_into_sum(x - f.shift)); });
            }

            // CE = L log(sum_exp) - S(labels (logits - shift)); the poly term is
            // L - q. No selected element: 0 (not 0 / 0).
            template <class B>
            XLOSS_KERNEL_INLINE static B value_of(const statistics<B>& st, const B& epsilon)
            {
                using T = simd::scalar_t<B>;
                const B zero(T(0));
                const B ce = st.cross_entropy(st.norm);
                const B poly = st.label_sum - st.label_exp / st.norm.sum_exp;
                return simd::select(st.norm.selected == zero, zero,
                                    ce + epsilon * simd::select(st.labelled == zero, zero, poly));
            }

            template <bool Grad, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto kernel(const Lanes& lanes, const Group& grp, const options& opts)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B epsilon(static_cast<T>(opts.epsilon));
                if constexpr (Grad)
                {
                    return with_grad(lanes, grp, epsilon);
                }
                else
                {
                    return value_of(collect(lanes, nullptr), epsilon);
                }
            }

            // The per-slice factors of both gradients. With p = e / sum_exp,
            // e = exp(logits - shift):
            //   d/dlogits = g (p (L + epsilon q) - labels (1 + epsilon p))
            //             = e a - labels (g + e b), a = g (L + epsilon q) / sum_exp, b = g epsilon / sum_exp;
            //   d/dlabels = g (log(sum_exp) - (logits - shift) + epsilon (1 - p)).
            template <class B>
            struct grad_factors
            {
                B g, epsilon, shift, inv_z, a, b, log_z;
                simd::batch_bool<simd::scalar_t<B>> has_mass;
            };

            template <class B>
            XLOSS_KERNEL_INLINE static grad_factors<B> factors_of(const statistics<B>& st,
                                                                  const B& g,
                                                                  const B& epsilon)
            {
                using T = simd::scalar_t<B>;
                const B zero(T(0));
                // A row with no finite selected logit has no mass: both gradients
                // are 0 there, as in softmax_cross_entropy (its softmax is 0 / 0).
                // A NaN sum has mass, so that a NaN reaches the gradients.
                const auto has_mass = simd::not_equal(st.norm.sum_exp, zero);
                const B inv_z = simd::select(has_mass, B(T(1)) / st.norm.sum_exp, zero);
                const B q = st.label_exp * inv_z;
                return {g,
                        epsilon,
                        st.norm.shift,
                        inv_z,
                        g * (st.label_sum + epsilon * q) * inv_z,
                        g * epsilon * inv_z,
                        simd::log(st.norm.sum_exp),
                        has_mass};
            }

            // Both gradients of one batch of elements; e is exp(logits - shift)
            // where they are selected (read before either store: with_grad keeps
            // it in a gradient output).
            template <class Lanes, class Group, class B, class Valid, class At>
            XLOSS_KERNEL_INLINE static void store_grads(const Lanes& lanes,
                                                        const Group& grp,
                                                        const grad_factors<B>& f,
                                                        const B& x,
                                                        const B& y,
                                                        const Valid& valid,
                                                        At at,
                                                        const B& e)
            {
                using T = typename Lanes::value_type;
                const B zero(T(0));
                if (grp.grad[0])
                {
                    const B label = simd::select(simd::not_equal(y, zero), y, zero);
                    lanes.store(grp.grad[0], at,
                                simd::select(valid, e * f.a - label * (f.g + e * f.b), zero));
                }
                if (grp.grad[1])
                {
                    const B d = f.log_z - (x - f.shift) + f.epsilon * (B(T(1)) - e * f.inv_z);
                    lanes.store(grp.grad[1], at, simd::select(valid && f.has_mass, f.g * d, zero));
                }
            }

            template <class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto with_grad(const Lanes& lanes,
                                                      const Group& grp,
                                                      const typename Lanes::batch& epsilon)
            {
                using B = typename Lanes::batch;
                // The exp pass leaves e in one of the gradient outputs (both are
                // laid out alike), which the second pass reads and overwrites.
                auto* keep = grp.grad[0] ? grp.grad[0] : grp.grad[1];
                const auto st = collect(lanes, keep);
                const auto f = factors_of(st, grp.upstream, epsilon);
                lanes.for_each([&](const B& x, const B& y, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                               { store_grads(lanes, grp, f, x, y, valid, at, lanes.load_back(keep, at)); });
                return value_of(st, epsilon);
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

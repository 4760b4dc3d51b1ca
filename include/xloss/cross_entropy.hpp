// Softmax cross entropy, with probability labels or with integer labels.
#ifndef XLOSS_CROSS_ENTROPY_HPP
#define XLOSS_CROSS_ENTROPY_HPP

#include "config.hpp"

#include <cstddef>
#include <limits>

#include "axes.hpp"
#include "detail/call.hpp"
#include "detail/kernels/logsumexp.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        struct softmax_cross_entropy_rule;
        struct softmax_cross_entropy_with_integer_labels_rule;
    }

    /// Softmax cross entropy between logits and probability labels.
    ///
    ///   loss = -S(labels * log_softmax_where(logits))
    ///
    /// where S is the sum over `axis` of the selected elements and the softmax
    /// normaliser runs over the selected elements only (max-shifted).
    ///
    /// - logits: floating expression, any shape; labels: floating expression
    ///   broadcastable with it (probabilities, usually one-hot or smoothed).
    /// - axis (default -1): int, {a, b}, std::vector<int>, std::array<int, K>,
    ///   xloss::no_axes, xloss::all_axes.
    /// - where (optional): bool expression of the input's rank (masks elements)
    ///   or of the batch rank (masks whole slices).
    /// - result: xt::xarray of the common floating type, of the broadcast shape
    ///   without the reduced axes.
    ///
    /// Edges: a label of 0 contributes exactly 0, even against a -inf logit;
    /// NaN or -inf under a false mask do not reach the result; a slice with no
    /// selected element gives 0. Gradients: 0 at a -inf logit with label 0;
    /// a slice with no finite selected logit (all -inf) gets gradient 0
    /// w.r.t. logits and labels (its value is 0 when its labels are 0).
    ///
    /// Example: logits {{1, 2, 3}}, labels {{0, 0, 1}} -> {0.40760596}
    /// (= log(e + e^2 + e^3) - 3). Reference: optax.softmax_cross_entropy.
    inline constexpr detail::loss_object<detail::softmax_cross_entropy_rule> softmax_cross_entropy{};

    /// Softmax cross entropy with integer class labels.
    ///
    ///   loss = logsumexp_where(logits) - logits[label]
    ///
    /// - logits: floating expression; labels: integral expression of the batch
    ///   shape (the logits' shape without the reduced axes; broadcastable).
    /// - With several axes, a label is the flat row-major index into the slice
    ///   taken in the order the axes are listed (axis {2, 1} differs from {1, 2}).
    /// - A label outside [0, n) throws std::out_of_range, unless its whole slice
    ///   is masked out (then it is not read and the result is 0). A label that
    ///   points at a masked-out element has probability 0: the loss is +inf.
    /// - result: xt::xarray of the logits' floating type, of the batch shape.
    ///
    /// Example: logits {{1, 2, 3}}, labels {2} -> {0.40760596}.
    /// Reference: optax.softmax_cross_entropy_with_integer_labels.
    inline constexpr detail::loss_object<detail::softmax_cross_entropy_with_integer_labels_rule>
        softmax_cross_entropy_with_integer_labels{};

    // ---------------------------------------------------------------------
    // Implementation

    namespace detail
    {
        struct softmax_cross_entropy_rule
        {
            static constexpr const char* name = "softmax_cross_entropy";
            using options = no_options;
            static constexpr second_input second = second_input::elementwise;

            template <class B>
            struct statistics
            {
                kernels::softmax_normaliser<B> norm;
                B labelled;   // number of selected elements with a nonzero label
                B label_sum;  // S(labels)
                B label_dot;  // S(labels * (logits - shift))
            };

            template <class Lanes>
            static auto collect(const Lanes& lanes, typename Lanes::value_type* keep_exp = nullptr)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                B labelled(T(0)), label_sum(T(0)), label_dot(T(0));
                // The label sums ride along the normaliser's exp pass.
                const auto norm = kernels::normaliser(
                    lanes,
                    [&](const B& x, const B& y, const auto& valid, const B& shift)
                    {
                        // Zero labels are skipped before the product: 0 * -inf would be NaN.
                        const auto counts = valid && simd::not_equal(y, B(T(0)));
                        labelled += simd::select(counts, B(T(1)), B(T(0)));
                        label_sum += simd::select(counts, y, B(T(0)));
                        label_dot += simd::select(counts, y * (x - shift), B(T(0)));
                    },
                    keep_exp);
                statistics<B> st{norm, B(T(0)), B(T(0)), B(T(0))};
                st.labelled = lanes.sum(labelled);
                st.label_sum = lanes.sum(label_sum);
                st.label_dot = lanes.sum(label_dot);
                return st;
            }

            template <class B>
            static B value_of(const statistics<B>& st)
            {
                using T = simd::scalar_t<B>;
                const B v = st.label_sum * simd::log(st.norm.sum_exp) - st.label_dot;
                return simd::select(st.labelled == B(T(0)), B(T(0)), v);
            }

            template <bool Grad, class Lanes, class Group>
            static auto kernel(const Lanes& lanes, const Group& grp, const options&)
            {
                if constexpr (Grad)
                {
                    return with_grad(lanes, grp);
                }
                else
                {
                    return value_of(collect(lanes));
                }
            }

            // d/dlogits = g * (S(labels) * softmax - labels); d/dlabels = g * -log_softmax;
            // both 0 in a slice with no finite selected logit.
            template <class Lanes, class Group>
            static auto with_grad(const Lanes& lanes, const Group& grp)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                // exp(logits - shift) is left in grad[0] by the exp pass.
                const auto st = collect(lanes, grp.grad[0]);
                const B g = grp.upstream;
                const B zero(T(0));
                // No finite selected logit (an all -inf row): the softmax is 0 / 0 and
                // log_softmax is -inf - -inf. With zero labels the value is 0 by the
                // zero-probability convention, and so are both gradients: select them
                // away per slice here rather than per element. A NaN sum has mass: the
                // NaN must reach both gradients, whichever NaN the max pass kept.
                const auto has_mass = simd::not_equal(st.norm.sum_exp, zero);
                const B scale = simd::select(has_mass, g * st.label_sum / st.norm.sum_exp, zero);
                const B log_z = simd::log(st.norm.sum_exp);
                lanes.for_each(
                    [&](const B& x, const B& y, const auto& valid, auto at)
                    {
                        const B shifted = x - st.norm.shift;
                        if (grp.grad[0])
                        {
                            const B label = simd::select(simd::not_equal(y, zero), y, zero);
                            const B e = lanes.load_back(grp.grad[0], at);
                            lanes.store(grp.grad[0], at, simd::select(valid, scale * e - g * label, zero));
                        }
                        if (grp.grad[1])
                        {
                            lanes.store(grp.grad[1], at,
                                        simd::select(valid && has_mass, g * (log_z - shifted), zero));
                        }
                    });
                return value_of(st);
            }
        };

        struct softmax_cross_entropy_with_integer_labels_rule
        {
            static constexpr const char* name = "softmax_cross_entropy_with_integer_labels";
            using options = no_options;
            static constexpr second_input second = second_input::slice_label;

            // Each lane's logit at its label, and whether that element is selected.
            template <class Lanes, class Group>
            static auto pick(const Lanes& lanes, const Group& grp)
            {
                using T = typename Lanes::value_type;
                constexpr std::size_t W = simd::width<T>;
                alignas(64) T logit[W] = {};
                alignas(64) std::uint8_t selected[W] = {};
                for (std::size_t l = 0; l < lanes.lanes_in_use(); ++l)
                {
                    const std::ptrdiff_t label = grp.label[l];
                    // Out-of-range labels only reach here for slices with nothing
                    // selected (the engine has checked the others): never read them.
                    if (label >= 0 && static_cast<std::size_t>(label) < lanes.n)
                    {
                        const std::size_t at = lanes.offset_of(l, static_cast<std::size_t>(label));
                        logit[l] = lanes.x[at];
                        selected[l] = lanes.selected_at(at);
                    }
                }
                return std::make_pair(simd::load_aligned(+logit), simd::load_mask<T>(selected));
            }

            template <class Lanes, class Group, class Norm>
            static auto value_of(const Lanes& lanes, const Group& grp, const Norm& norm)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const auto [logit, selected] = pick(lanes, grp);
                const B v = simd::log(norm.sum_exp) - (logit - norm.shift);
                // A label on a masked-out element has probability 0.
                const B inf(std::numeric_limits<T>::infinity());
                return simd::select(norm.selected == B(T(0)), B(T(0)), simd::select(selected, v, inf));
            }

            template <bool Grad, class Lanes, class Group>
            static auto kernel(const Lanes& lanes, const Group& grp, const options&)
            {
                if constexpr (Grad)
                {
                    return with_grad(lanes, grp);
                }
                else
                {
                    return value_of(lanes, grp, kernels::normaliser(lanes));
                }
            }

            // d/dlogits = g * (softmax - one_hot(label)).
            template <class Lanes, class Group>
            static auto with_grad(const Lanes& lanes, const Group& grp)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                T* grad = grp.grad[0];
                // The exp pass leaves exp(logits - shift) in grad; scale it.
                const auto norm = kernels::normaliser(lanes, kernels::no_extra{}, grad);
                const B scale = grp.upstream / norm.sum_exp;
                lanes.for_each(
                    [&](const B&, const B&, const auto& valid, auto at) {
                        lanes.store(grad, at,
                                    simd::select(valid, scale * lanes.load_back(grad, at), B(T(0))));
                    });
                alignas(64) T upstream[simd::width<T>];
                simd::store_aligned(upstream, grp.upstream);
                for (std::size_t l = 0; l < lanes.lanes_in_use(); ++l)
                {
                    const std::ptrdiff_t label = grp.label[l];
                    if (label >= 0 && static_cast<std::size_t>(label) < lanes.n)
                    {
                        const std::size_t at = lanes.offset_of(l, static_cast<std::size_t>(label));
                        if (lanes.selected_at(at) && lanes.lane_active(l))
                        {
                            grad[at] -= upstream[l];
                        }
                    }
                }
                return value_of(lanes, grp, norm);
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

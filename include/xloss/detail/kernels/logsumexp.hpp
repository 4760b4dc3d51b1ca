// Masked, max-shifted log-sum-exp over the lanes' slices: the normaliser both
// cross-entropy losses and the poly loss share.
#ifndef XLOSS_DETAIL_KERNELS_LOGSUMEXP_HPP
#define XLOSS_DETAIL_KERNELS_LOGSUMEXP_HPP

#include "../../config.hpp"

#include <limits>

#include "../simd.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail::kernels
    {
        template <class B>
        struct softmax_normaliser
        {
            B shift;     // max of the selected logits (0 when there is none, or all are -inf)
            B sum_exp;   // sum of exp(logit - shift) over the selected logits
            B selected;  // number of selected elements
        };

        // Nothing more to do in the second pass.
        struct no_extra
        {
            template <class... A>
            void operator()(const A&...) const
            {
            }
        };

        // Two passes over the slice (the second reads it from cache, and fetches
        // the next slice meanwhile): the max, then the sum of exp(x - max).
        // Shifting by the max keeps exp finite for logits of any size; unselected
        // elements never reach exp. A loss that needs more sums once the shift is
        // known passes `extra`, called in the second pass as
        // extra(x, y, valid, shift, e, at) with e = exp(x - shift) (0 where not
        // selected) and `at` the batch's position (for lanes.weight), so that
        // the slice (and its mask) is not read a third time and exp is not
        // computed twice. `keep_exp`, when given, receives exp(x - max) (0 where
        // not selected) laid out like a gradient output: the gradient pass scales
        // it rather than computing exp a second time.
        template <class Lanes, class Extra = no_extra>
        XLOSS_KERNEL_INLINE auto normaliser(const Lanes& lanes,
                                            Extra&& extra = {},
                                            typename Lanes::value_type* keep_exp = nullptr)
        {
            using B = typename Lanes::batch;
            using T = typename Lanes::value_type;
            const B minus_inf(-std::numeric_limits<T>::infinity());
            B max = minus_inf;
            B count(T(0));
            lanes.for_each(
                [&](const B& x, const B&, const auto& valid, auto) XLOSS_KERNEL_LAMBDA
                {
                    max = simd::select(valid, simd::max(max, x), max);
                    count += simd::select(valid, B(T(1)), B(T(0)));
                });
            B shift = lanes.max(max);
            count = lanes.sum(count);
            // No selected element, or all of them -inf: any finite shift will do.
            shift = simd::select(shift == minus_inf, B(T(0)), shift);

            B sum(T(0));
            lanes.for_each_fetching_next(
                [&](const B& x, const B& y, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                {
                    const B e = simd::select(valid, simd::exp_into_sum(x - shift), B(T(0)));
                    sum += e;
                    if (keep_exp)
                    {
                        lanes.store(keep_exp, at, e);
                    }
                    extra(x, y, valid, shift, e, at);
                });
            return softmax_normaliser<B>{shift, lanes.sum(sum), count};
        }

        // The normaliser of slices read a block of elements at a time (the
        // stream form, rule.hpp): `norm` is that of the blocks so far ({0, 0,
        // 0} before the first), and takes in the lanes' block: the block's max
        // joins the shift, the sum so far is rescaled to the new shift, and the
        // block's exp pass (from cache) adds to it; `extra` as in normaliser().
        // One exp per element, and one per block. Until a finite element is
        // selected the sum is 0 and the shift 0 is no logit: it is then not
        // rescaled but replaced. NaN stays NaN (in the sum). Returns the
        // factor the sum so far was scaled by (0 while it was 0), for a loss
        // that keeps other sums of exp(x - shift).
        template <class Lanes, class Extra = no_extra>
        XLOSS_KERNEL_INLINE auto extend(softmax_normaliser<typename Lanes::batch>& norm,
                                        const Lanes& lanes,
                                        Extra&& extra = {})
        {
            using B = typename Lanes::batch;
            using T = typename Lanes::value_type;
            const B minus_inf(-std::numeric_limits<T>::infinity());
            const B zero(T(0));
            B block_max = minus_inf;
            B count = zero;
            lanes.for_each(
                [&](const B& x, const B&, const auto& valid, auto) XLOSS_KERNEL_LAMBDA
                {
                    block_max = simd::select(valid, simd::max(block_max, x), block_max);
                    count += simd::select(valid, B(T(1)), zero);
                });
            const auto empty = norm.sum_exp == zero;
            B shift = simd::select(empty, block_max, simd::max(norm.shift, block_max));
            shift = simd::select(shift == minus_inf, zero, shift);
            const B rescale = simd::select(empty, zero, simd::exp_into_sum(norm.shift - shift));
            B sum = norm.sum_exp * rescale;
            lanes.for_each_fetching_next(
                [&](const B& x, const B& y, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                {
                    const B e = simd::select(valid, simd::exp_into_sum(x - shift), zero);
                    sum += e;
                    extra(x, y, valid, shift, e, at);
                });
            norm = softmax_normaliser<B>{shift, sum, norm.selected + count};
            return rescale;
        }

        // The label sums of a cross entropy over probability labels, over the
        // selected elements whose label is nonzero: their number, S(labels)
        // and S(labels (logits - shift)), whence CE = S(labels) log(sum_exp) -
        // S(labels (logits - shift)). Zero labels are skipped before the
        // product: 0 * -inf would be NaN.
        template <class B>
        struct label_sums
        {
            B labelled;
            B label_sum;
            B label_dot;

            static label_sums none()
            {
                const B zero(simd::scalar_t<B>(0));
                return {zero, zero, zero};
            }

            // Adds one batch; returns which of its elements count.
            template <class Valid>
            XLOSS_KERNEL_INLINE auto add(const B& x, const B& y, const Valid& valid, const B& shift)
            {
                using T = simd::scalar_t<B>;
                const B zero(T(0));
                const auto counts = valid && simd::not_equal(y, zero);
                labelled += simd::select(counts, B(T(1)), zero);
                label_sum += simd::select(counts, y, zero);
                label_dot += simd::select(counts, y * (x - shift), zero);
                return counts;
            }

            template <class Lanes>
            XLOSS_KERNEL_INLINE label_sums total(const Lanes& lanes) const
            {
                return {lanes.sum(labelled), lanes.sum(label_sum), lanes.sum(label_dot)};
            }

            // The stream form: these sums of the rows so far, taken about
            // old_shift, join a block's, taken about the shift extend() raised
            // it to. The rows before lose (shift - old_shift) S(labels).
            XLOSS_KERNEL_INLINE void join(const label_sums& block, const B& old_shift, const B& shift)
            {
                const B zero(simd::scalar_t<B>(0));
                const B before = label_dot - (shift - old_shift) * label_sum;
                label_dot = simd::select(labelled == zero, zero, before) + block.label_dot;
                labelled += block.labelled;
                label_sum += block.label_sum;
            }

            // The cross entropy, 0 where no label counts.
            XLOSS_KERNEL_INLINE B cross_entropy(const softmax_normaliser<B>& norm) const
            {
                const B zero(simd::scalar_t<B>(0));
                return simd::select(labelled == zero, zero, label_sum * simd::log(norm.sum_exp) - label_dot);
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

// Softmax cross entropy, with probability labels or with integer labels.
#ifndef XLOSS_CROSS_ENTROPY_HPP
#define XLOSS_CROSS_ENTROPY_HPP

#include "config.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>

#include <xtensor/xarray.hpp>

#include "axes.hpp"
#include "detail/call.hpp"
#include "detail/errors.hpp"
#include "detail/kernels/logsumexp.hpp"

XLOSS_NAMESPACE_BEGIN
    /// Options of both softmax cross entropies (PyTorch's cross_entropy
    /// options, plus PaLM's z-loss). Per slice, with E its selected elements,
    /// K = |E| and lse the log-sum-exp over E:
    ///
    ///   integer labels:     (1 - eps) w_label (lse - x_label) + eps / K S(w_c (lse - x_c)) + z lse^2
    ///   probability labels: -S(w_c t_c log softmax_c) + z lse^2, t_c = (1 - eps) y_c + eps / K
    struct cross_entropy_options
    {
        /// eps in [0, 1]: the share of the target spread evenly over the
        /// slice's selected classes.
        double label_smoothing = 0;
        /// Integer labels only: a slice whose label equals it takes no part
        /// (value 0, gradients 0, not counted by xloss::mean, not range-checked).
        std::optional<std::int64_t> ignore_index;
        /// z >= 0: weight of lse^2, which keeps the log-normaliser near 0.
        double z_loss = 0;
        /// w: class weights, one per element of the logits (broadcast: [C] on
        /// [B, C], [C, 1, 1] on NCHW with axis 1). Not differentiated.
        std::optional<xt::xarray<double>> class_weights;
    };

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
        // What both cross entropies check of their options; ignore_index is
        // for integer labels only. class_weights are checked against the
        // logits' shape by the engine (a weight array, rule.hpp).
        inline void check_cross_entropy_options(const cross_entropy_options& o,
                                                const char* function,
                                                bool integer_labels)
        {
            check_option_in(function, "label_smoothing", o.label_smoothing, 0, 1);
            check_option_in(function, "z_loss", o.z_loss, 0);
            if (o.ignore_index && !integer_labels)
            {
                throw_invalid_argument(function, "option ignore_index = ", *o.ignore_index,
                                       " needs integer labels (use a batch-rank where mask with "
                                       "probability labels)");
            }
        }

        // The class weights are both rules' weight array 0.
        struct cross_entropy_weights
        {
            static constexpr std::array<const char*, 2> weight_array_names{"class_weights", ""};
            static std::array<const std::optional<xt::xarray<double>>*, 2> weight_arrays(
                const cross_entropy_options& o)
            {
                return {&o.class_weights, nullptr};
            }
        };

        // The sums the options add to a slice, over its selected elements, with
        // w the class weights (1 without): S(w) and S(w (x - shift)).
        template <class B>
        struct weighted_sums
        {
            B weight_sum;
            B shifted_sum;
        };

        // The normaliser's extra that collects them. A zero weight adds 0, even
        // against a -inf logit: that test is made only when the weights hold a
        // zero (it costs a fifth of the pass on long rows).
        template <class Lanes, class B>
        XLOSS_KERNEL_INLINE auto weighted_summer(const Lanes& lanes, weighted_sums<B>& sums)
        {
            const bool zeros = lanes.weights[0] && lanes.weight_has_zero[0];
            return [&lanes, &sums, zeros](const B& x, const B&, const auto& valid, const B& shift, const B&,
                                          auto at) XLOSS_KERNEL_LAMBDA
            {
                const B zero(simd::scalar_t<B>(0));
                const B w = lanes.weight(0, at);
                sums.weight_sum += simd::select(valid, w, zero);
                if (zeros)
                {
                    sums.shifted_sum += simd::select(valid && simd::not_equal(w, zero), w * (x - shift), zero);
                }
                else
                {
                    sums.shifted_sum += simd::select(valid, w * (x - shift), zero);
                }
            };
        }

        // The smoothing and z-loss terms of one batch of slices, from the
        // normaliser (lse = shift + log(sum_exp)) and the weighted sums:
        // eps / K (S(w) lse - S(w x)) + z lse^2. Each term is computed only
        // when its option is on (an infinite lse times 0 would be NaN).
        template <class B>
        B smoothing_and_z(const kernels::softmax_normaliser<B>& norm,
                          const weighted_sums<B>& sums,
                          const cross_entropy_options& o)
        {
            using T = simd::scalar_t<B>;
            const B log_z = simd::log(norm.sum_exp);
            B v(T(0));
            if (o.label_smoothing != 0)
            {
                v += B(static_cast<T>(o.label_smoothing)) * (sums.weight_sum * log_z - sums.shifted_sum)
                     / norm.selected;
            }
            if (o.z_loss != 0)
            {
                const B lse = norm.shift + log_z;
                v += B(static_cast<T>(o.z_loss)) * lse * lse;
            }
            return v;
        }

        // (1 - eps) * v, and 0 when eps = 1 (the label's term is then gone, even
        // where v is infinite).
        template <class B>
        B label_share(const B& v, double eps)
        {
            using T = simd::scalar_t<B>;
            return eps == 1 ? B(T(0)) : (eps == 0 ? v : B(static_cast<T>(1 - eps)) * v);
        }

        // d(z lse^2)/dlse = 2 z lse, 0 without z-loss.
        template <class B>
        B z_slope(const kernels::softmax_normaliser<B>& norm, const cross_entropy_options& o)
        {
            using T = simd::scalar_t<B>;
            if (o.z_loss == 0)
            {
                return B(T(0));
            }
            return B(static_cast<T>(2 * o.z_loss)) * (norm.shift + simd::log(norm.sum_exp));
        }

        // No option in use: the kernels of 0.1, with nothing extra in their passes.
        inline bool plain(const cross_entropy_options& o)
        {
            return o.label_smoothing == 0 && o.z_loss == 0 && !o.class_weights;
        }

        struct softmax_cross_entropy_rule : cross_entropy_weights
        {
            static constexpr const char* name = "softmax_cross_entropy";
            using options = cross_entropy_options;
            static constexpr second_input second = second_input::elementwise;
            static constexpr std::size_t tiled_row_batches = 2;

            static void check_options(const options& o, const char* function)
            {
                check_cross_entropy_options(o, function, false);
            }

            // The label sums are of w labels (w: the class weights, 1 without).
            template <class B>
            struct statistics : kernels::label_sums<B>
            {
                kernels::softmax_normaliser<B> norm;
                weighted_sums<B> sums;  // with options only
            };

            // WithOptions: labels weighted by class, and the sums for smoothing.
            template <bool WithOptions, class Lanes>
            XLOSS_KERNEL_INLINE static auto collect(const Lanes& lanes,
                                                    typename Lanes::value_type* keep_exp = nullptr)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B zero(T(0));
                auto labels = kernels::label_sums<B>::none();
                weighted_sums<B> sums{zero, zero};
                const auto add_weighted = weighted_summer(lanes, sums);
                // The label sums ride along the normaliser's exp pass.
                const auto norm = kernels::normaliser(
                    lanes,
                    [&](const B& x, const B& y, const auto& valid, const B& shift, const B& e, auto at)
                        XLOSS_KERNEL_LAMBDA
                    {
                        B wy = y;
                        if constexpr (WithOptions)
                        {
                            wy = lanes.weight(0, at) * y;
                            add_weighted(x, y, valid, shift, e, at);
                        }
                        labels.add(x, wy, valid, shift);
                    },
                    keep_exp);
                if constexpr (WithOptions)
                {
                    sums = {lanes.sum(sums.weight_sum), lanes.sum(sums.shifted_sum)};
                }
                return statistics<B>{labels.total(lanes), norm, sums};
            }

            // The stream form (rule.hpp), without options: collect()'s sums over
            // the rows so far, about the running shift (label_sums::join).
            template <class B>
            using stream_state = statistics<B>;

            static bool streams(const options& o)
            {
                return plain(o);
            }

            template <class B, class Group>
            static stream_state<B> start_stream(const Group&, const options&)
            {
                using T = simd::scalar_t<B>;
                const B zero(T(0));
                return {kernels::label_sums<B>::none(), {zero, zero, zero}, {zero, zero}};
            }

            template <class Lanes, class Group, class B = typename Lanes::batch>
            XLOSS_KERNEL_INLINE static void add_rows(stream_state<B>& s,
                                                     const Lanes& lanes,
                                                     const Group&,
                                                     const options&)
            {
                const B old_shift = s.norm.shift;
                auto block = kernels::label_sums<B>::none();
                kernels::extend(s.norm, lanes,
                                [&](const B& x, const B& y, const auto& valid, const B& shift, const B&, auto)
                                    XLOSS_KERNEL_LAMBDA { block.add(x, y, valid, shift); });
                s.join(block, old_shift, s.norm.shift);
            }

            template <class B>
            XLOSS_KERNEL_INLINE static B value_of_stream(const stream_state<B>& s, const options& o)
            {
                return value_of<false>(s, o);
            }

            // with_grad<false>'s gradients, on one block of rows.
            template <class Lanes, class Group, class B = typename Lanes::batch>
            XLOSS_KERNEL_INLINE static void grad_rows(const stream_state<B>& s,
                                                      const Lanes& lanes,
                                                      const Group& grp,
                                                      const options& o)
            {
                const auto f = factors_of<false>(s, grp.upstream, o);
                lanes.for_each_fetching_next(
                    [&](const B& x, const B& y, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        const auto e = [&]() XLOSS_KERNEL_LAMBDA { return simd::exp_into_sum(x - f.shift); };
                        store_grads<false>(lanes, grp, f, x, y, valid, at, e, o);
                    });
            }

            template <bool WithOptions, class B>
            XLOSS_KERNEL_INLINE static B value_of(const statistics<B>& st, const options& o)
            {
                using T = simd::scalar_t<B>;
                const B ce = st.cross_entropy(st.norm);
                if constexpr (!WithOptions)
                {
                    return ce;
                }
                else
                {
                    const B total = label_share(ce, o.label_smoothing) + smoothing_and_z(st.norm, st.sums, o);
                    return simd::select(st.norm.selected == B(T(0)), B(T(0)), total);
                }
            }

            template <bool Grad, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto kernel(const Lanes& lanes, const Group& grp, const options& o)
            {
                if constexpr (Grad)
                {
                    return plain(o) ? with_grad<false>(lanes, grp, o) : with_grad<true>(lanes, grp, o);
                }
                else
                {
                    return plain(o) ? value_of<false>(collect<false>(lanes), o)
                                    : value_of<true>(collect<true>(lanes), o);
                }
            }

            // The per-slice factors of both gradients.
            template <class B>
            struct grad_factors
            {
                B g;            // the upstream gradient
                B shift;        // the normaliser's
                B scale;        // of exp(logits - shift)
                B log_z;        // log S(exp(logits - shift))
                B uniform;      // eps / K, the uniform share of the target per unit weight
                B label_scale;  // 1 - eps
                simd::batch_bool<simd::scalar_t<B>> has_mass;
            };

            // With t = w ((1 - eps) labels + eps / K):
            // d/dlogits = g * ((S(t) + 2 z lse) * softmax - t);
            // d/dlabels = g * -(1 - eps) w log_softmax;
            // both 0 in a slice with no finite selected logit.
            template <bool WithOptions, class B>
            XLOSS_KERNEL_INLINE static grad_factors<B> factors_of(const statistics<B>& st,
                                                                  const B& g,
                                                                  const options& o)
            {
                using T = simd::scalar_t<B>;
                const B zero(T(0));
                // S(t) = (1 - eps) S(w labels) + eps S(w) / K.
                const B uniform = WithOptions ? B(static_cast<T>(o.label_smoothing)) / st.norm.selected
                                              : zero;
                const B target_sum = WithOptions ? label_share(st.label_sum, o.label_smoothing)
                                                       + uniform * st.sums.weight_sum
                                                 : st.label_sum;
                // No finite selected logit (an all -inf row): the softmax is 0 / 0 and
                // log_softmax is -inf - -inf. With zero labels the value is 0 by the
                // zero-probability convention, and so are both gradients: select them
                // away per slice here rather than per element. A NaN sum has mass: the
                // NaN must reach both gradients, whichever NaN the max pass kept.
                const auto has_mass = simd::not_equal(st.norm.sum_exp, zero);
                const B mass = WithOptions ? target_sum + z_slope(st.norm, o) : target_sum;
                return {g,
                        st.norm.shift,
                        simd::select(has_mass, g * mass / st.norm.sum_exp, zero),
                        simd::log(st.norm.sum_exp),
                        uniform,
                        B(static_cast<T>(1 - o.label_smoothing)),
                        has_mass};
            }

            // Both gradients of one batch of elements; e() is exp(logits - shift)
            // where they are selected.
            template <bool WithOptions, class Lanes, class Group, class B, class Valid, class At, class E>
            XLOSS_KERNEL_INLINE static void store_grads(const Lanes& lanes,
                                                        const Group& grp,
                                                        const grad_factors<B>& f,
                                                        const B& x,
                                                        const B& y,
                                                        const Valid& valid,
                                                        At at,
                                                        const E& e,
                                                        const options& o)
            {
                using T = typename Lanes::value_type;
                const B zero(T(0));
                const B w = WithOptions ? lanes.weight(0, at) : B(T(1));
                if (grp.grad[0])
                {
                    B target = simd::select(simd::not_equal(y, zero), y, zero);
                    if constexpr (WithOptions)
                    {
                        target = w * (f.label_scale * target + f.uniform);
                    }
                    lanes.store(grp.grad[0], at, simd::select(valid, f.scale * e() - f.g * target, zero));
                }
                if (grp.grad[1])
                {
                    B d = f.log_z - (x - f.shift);
                    if constexpr (WithOptions)
                    {
                        d = simd::select(simd::not_equal(w, zero), label_share(w * d, o.label_smoothing),
                                         zero);
                    }
                    lanes.store(grp.grad[1], at, simd::select(valid && f.has_mass, f.g * d, zero));
                }
            }

            template <bool WithOptions, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto with_grad(const Lanes& lanes, const Group& grp, const options& o)
            {
                using B = typename Lanes::batch;
                // exp(logits - shift) is left in grad[0] by the exp pass.
                const auto st = collect<WithOptions>(lanes, grp.grad[0]);
                const auto f = factors_of<WithOptions>(st, grp.upstream, o);
                lanes.for_each(
                    [&](const B& x, const B& y, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        const auto e = [&]() XLOSS_KERNEL_LAMBDA { return lanes.load_back(grp.grad[0], at); };
                        store_grads<WithOptions>(lanes, grp, f, x, y, valid, at, e, o);
                    });
                return value_of<WithOptions>(st, o);
            }
        };

        struct softmax_cross_entropy_with_integer_labels_rule : cross_entropy_weights
        {
            static constexpr const char* name = "softmax_cross_entropy_with_integer_labels";
            using options = cross_entropy_options;
            static constexpr second_input second = second_input::slice_label;
            static constexpr std::size_t tiled_row_batches = 4;

            static void check_options(const options& o, const char* function)
            {
                check_cross_entropy_options(o, function, true);
            }

            // The label the engine drops whole slices for (evaluate.hpp).
            static std::optional<std::int64_t> ignored_label(const options& o)
            {
                return o.ignore_index;
            }

            // Per lane: the logit at its label, whether that element is selected,
            // and its class weight (1 without).
            template <class B>
            struct picked
            {
                B logit;
                simd::batch_bool<simd::scalar_t<B>> selected;
                B weight;
            };

            // f(lane, offset of its label's element) for each lane in use whose
            // label is in range. Out-of-range labels only reach here for slices
            // with nothing selected (the engine has checked the others): never
            // read them.
            template <class Lanes, class Group, class F>
            XLOSS_KERNEL_INLINE static void for_each_label(const Lanes& lanes, const Group& grp, F&& f)
            {
                for (std::size_t l = 0; l < lanes.lanes_in_use(); ++l)
                {
                    const std::ptrdiff_t label = grp.label[l];
                    if (label >= 0 && static_cast<std::size_t>(label) < lanes.n)
                    {
                        f(l, lanes.offset_of(l, static_cast<std::size_t>(label)));
                    }
                }
            }

            template <class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto pick(const Lanes& lanes, const Group& grp)
            {
                using T = typename Lanes::value_type;
                constexpr std::size_t W = simd::width<T>;
                alignas(64) T logit[W] = {};
                alignas(64) T weight[W];
                alignas(64) std::uint8_t selected[W] = {};
                std::fill(weight, weight + W, T(1));
                for_each_label(lanes, grp,
                               [&](std::size_t l, std::size_t at)
                               {
                                   logit[l] = lanes.x[at];
                                   selected[l] = lanes.selected_at(at);
                                   if (lanes.weights[0])
                                   {
                                       weight[l] = lanes.weights[0][at];
                                   }
                               });
                // Row lanes hold one slice in every lane: its weight scales the
                // whole row's gradient, so every lane carries it (lanes past those
                // in use are inactive otherwise).
                std::fill(weight + lanes.lanes_in_use(), weight + W, weight[0]);
                return picked<simd::batch<T>>{simd::load_aligned(+logit), simd::load_mask<T>(selected),
                                              simd::load_aligned(+weight)};
            }

            // The gradient at each lane's label less the lane's label term, where
            // that element is selected.
            template <class Lanes, class Group, class B>
            XLOSS_KERNEL_INLINE static void subtract_label_terms(const Lanes& lanes,
                                                                 const Group& grp,
                                                                 const B& term)
            {
                using T = typename Lanes::value_type;
                alignas(64) T terms[simd::width<T>];
                simd::store_aligned(terms, term);
                for_each_label(lanes, grp,
                               [&](std::size_t l, std::size_t at)
                               {
                                   if (lanes.selected_at(at) && lanes.lane_active(l))
                                   {
                                       grp.grad[0][at] -= terms[l];
                                   }
                               });
            }

            // The stream form (rule.hpp), without options: the normaliser of the
            // rows so far, and the label's logit once its row has come. The
            // labels, as values, tell which blocks of rows hold one (exact: the
            // engine streams fewer than 2^24 rows); only those take a second,
            // short pass over the block (in L1 by then) that picks the label's
            // element: in the exp pass, the compare costs every block.
            template <class B>
            struct stream_state
            {
                kernels::softmax_normaliser<B> norm;
                picked<B> label;
                B label_row;  // -1: no label (an ignored slice)
            };

            static bool streams(const options& o)
            {
                return plain(o);
            }

            template <class B, class Group>
            static stream_state<B> start_stream(const Group& grp, const options&)
            {
                using T = simd::scalar_t<B>;
                constexpr std::size_t W = simd::width<T>;
                alignas(64) T rows[W];
                for (std::size_t l = 0; l < W; ++l)
                {
                    rows[l] = grp.label[l] < 0 ? T(-1) : static_cast<T>(grp.label[l]);
                }
                const B zero(T(0));
                const simd::batch_bool<T> none(false);
                return {{zero, zero, zero}, {zero, none, B(T(1))}, simd::load_aligned(+rows)};
            }

            // f(on_label, x, valid, at) on each row of the block if a label of
            // the lanes is on one of them; on_label: the lanes whose label row it is.
            template <class Lanes, class Group, class B, class F>
            XLOSS_KERNEL_INLINE static void on_label_rows(const stream_state<B>& s,
                                                          const Lanes& lanes,
                                                          const Group& grp,
                                                          F&& f)
            {
                using T = typename Lanes::value_type;
                B row(static_cast<T>(grp.first_row));
                if (!simd::any(s.label_row >= row && s.label_row < row + B(static_cast<T>(lanes.n))))
                {
                    return;
                }
                lanes.for_each(
                    [&](const B& x, const B&, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        f(s.label_row == row, x, valid, at);
                        row += B(T(1));
                    });
            }

            template <class Lanes, class Group, class B = typename Lanes::batch>
            XLOSS_KERNEL_INLINE static void add_rows(stream_state<B>& s,
                                                     const Lanes& lanes,
                                                     const Group& grp,
                                                     const options&)
            {
                kernels::extend(s.norm, lanes);
                on_label_rows(s, lanes, grp,
                              [&](const auto& here, const B& x, const auto& valid, auto) XLOSS_KERNEL_LAMBDA
                              {
                                  s.label.logit = simd::select(here, x, s.label.logit);
                                  s.label.selected = s.label.selected || (here && valid);
                              });
            }

            template <class B>
            XLOSS_KERNEL_INLINE static B value_of_stream(const stream_state<B>& s, const options& o)
            {
                using T = simd::scalar_t<B>;
                return value_of<false>(s.label, s.norm, weighted_sums<B>{B(T(0)), B(T(0))}, o);
            }

            // with_grad<false>'s gradient, on one block of rows.
            template <class Lanes, class Group, class B = typename Lanes::batch>
            XLOSS_KERNEL_INLINE static void grad_rows(const stream_state<B>& s,
                                                      const Lanes& lanes,
                                                      const Group& grp,
                                                      const options&)
            {
                using T = typename Lanes::value_type;
                const B scale = grp.upstream / s.norm.sum_exp;
                lanes.for_each_fetching_next(
                    [&](const B& x, const B&, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        const B e = simd::exp_into_sum(x - s.norm.shift);
                        lanes.store(grp.grad[0], at, simd::select(valid, scale * e, B(T(0))));
                    });
                on_label_rows(s, lanes, grp,
                              [&](const auto& here, const B&, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                              {
                                  const B d = lanes.load_back(grp.grad[0], at);
                                  lanes.store(grp.grad[0], at,
                                              d - simd::select(here && valid, grp.upstream, B(T(0))));
                              });
            }

            // (1 - eps) w_label (lse - x_label) + smoothing and z-loss; a label
            // of weight 0 adds 0, even on a masked-out element (+inf).
            template <bool WithOptions, class Norm, class B>
            XLOSS_KERNEL_INLINE static B value_of(const picked<B>& label,
                                                  const Norm& norm,
                                                  const weighted_sums<B>& sums,
                                                  const options& o)
            {
                using T = simd::scalar_t<B>;
                const B v = simd::log(norm.sum_exp) - (label.logit - norm.shift);
                // A label on a masked-out element has probability 0.
                const B inf(std::numeric_limits<T>::infinity());
                B total = simd::select(label.selected, v, inf);
                if constexpr (WithOptions)
                {
                    total = simd::select(label.weight == B(T(0)), B(T(0)), label.weight * total);
                    total = label_share(total, o.label_smoothing) + smoothing_and_z(norm, sums, o);
                }
                return simd::select(norm.selected == B(T(0)), B(T(0)), total);
            }

            template <bool Grad, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto kernel(const Lanes& lanes, const Group& grp, const options& o)
            {
                if constexpr (Grad)
                {
                    return plain(o) ? with_grad<false>(lanes, grp, o) : with_grad<true>(lanes, grp, o);
                }
                else
                {
                    using B = typename Lanes::batch;
                    using T = typename Lanes::value_type;
                    weighted_sums<B> sums{B(T(0)), B(T(0))};
                    if (plain(o))
                    {
                        return value_of<false>(pick(lanes, grp), kernels::normaliser(lanes), sums, o);
                    }
                    const auto norm = kernels::normaliser(lanes, weighted_summer(lanes, sums));
                    sums = {lanes.sum(sums.weight_sum), lanes.sum(sums.shifted_sum)};
                    return value_of<true>(pick(lanes, grp), norm, sums, o);
                }
            }

            // d/dlogits = g * (((1 - eps) w_label + eps S(w) / K + 2 z lse) softmax
            //                  - (1 - eps) w_label one_hot(label) - eps w / K).
            template <bool WithOptions, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto with_grad(const Lanes& lanes, const Group& grp, const options& o)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                T* grad = grp.grad[0];
                // The exp pass leaves exp(logits - shift) in grad; scale it.
                weighted_sums<B> sums{B(T(0)), B(T(0))};
                const auto norm = WithOptions ? kernels::normaliser(lanes, weighted_summer(lanes, sums), grad)
                                              : kernels::normaliser(lanes, kernels::no_extra{}, grad);
                sums = {lanes.sum(sums.weight_sum), lanes.sum(sums.shifted_sum)};
                const T eps = static_cast<T>(o.label_smoothing);
                // The label's logit, mask and weight, read once for the gradient and the value.
                const auto label = pick(lanes, grp);
                const B label_weight = WithOptions ? label.weight : B(T(1));
                const B uniform = WithOptions ? grp.upstream * B(eps) / norm.selected : B(T(0));
                const B mass = WithOptions ? label_share(label_weight, o.label_smoothing)
                                                 + B(eps) * sums.weight_sum / norm.selected + z_slope(norm, o)
                                           : B(T(1));
                const B scale = grp.upstream * mass / norm.sum_exp;
                lanes.for_each(
                    [&](const B&, const B&, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        B d = scale * lanes.load_back(grad, at);
                        if constexpr (WithOptions)
                        {
                            d -= uniform * lanes.weight(0, at);
                        }
                        lanes.store(grad, at, simd::select(valid, d, B(T(0))));
                    });
                // The label's own term, (1 - eps) w_label, per lane.
                subtract_label_terms(lanes, grp, grp.upstream * label_share(label_weight, o.label_smoothing));
                return value_of<WithOptions>(label, norm, sums, o);
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

// The one engine every loss runs on, from its boundary:
//
//   public call -> evaluate(): check the inputs, plan [outer, n, inner]
//   (plan.hpp), read the mask by rank, lay out labels and the upstream
//   gradient per slice -> run() (schedule.hpp): walk the slices with the
//   right kernel shape -> Rule::kernel (rule.hpp): the loss's own math on
//   lanes -> results, the gradients back in the callers' shapes (unplan).
#ifndef XLOSS_DETAIL_EVALUATE_HPP
#define XLOSS_DETAIL_EVALUATE_HPP

#include "../config.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../axes.hpp"
#include "chunks.hpp"
#include "errors.hpp"
#include "plan.hpp"
#include "rule.hpp"
#include "schedule.hpp"
#include "scratch.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        // Marks an absent `where` or upstream gradient.
        struct none_t
        {
        };

        // Which inputs' gradients a call wants, as a type: a value-only call
        // instantiates no gradient code.
        template <bool First, bool Second>
        struct wants
        {
            static constexpr std::array<bool, 2> input{First, Second};
            static constexpr bool any = First || Second;
        };
        using value_only = wants<false, false>;

        // value_and_grad_into: d/dx (only) written straight into the caller's
        // buffer of x's shape, at `data`, whose memory holds the axes in
        // data_order (empty: row-major), when the plan lays the gradient out
        // that way (in that order, x not broadcast, the result's value type):
        // a column-major dx for a column-major x too. Otherwise it is computed
        // as for value_and_grad.
        // With a value buffer (value_shape not null), the value goes there: it
        // must have the result's shape; written straight at `value` when that
        // is a row-major buffer of the result's value type (not null), else
        // returned for the caller to copy.
        template <class V, class VV = V>
        struct wants_into : wants<true, false>
        {
            V* data;
            shape_type data_order;
            VV* value;
            const shape_type* value_shape;
        };

        template <class Want>
        struct is_wants_into : std::false_type
        {
        };
        template <class V, class VV>
        struct is_wants_into<wants_into<V, VV>> : std::true_type
        {
        };

        template <class X, class Y, bool Labels>
        struct result_value_type
        {
            using common =
                std::conditional_t<Labels,
                                   typename X::value_type,
                                   std::common_type_t<typename X::value_type, typename Y::value_type>>;
            using type = std::conditional_t<std::is_floating_point_v<common>, common, double>;
        };

        // A call's results. The arrays are made only where the call has them:
        // constructing an xt::xarray, even an empty one, costs about 250
        // instructions, and three placeholders were 9% of a [32, 10] call.
        template <class T>
        struct evaluation
        {
            std::optional<xt::xarray<T>> value;
            std::array<std::optional<xt::xarray<T>>, 2> grad;
            bool grad_written_into = false;   // wants_into: grad[0] is in the caller's buffer, not here
            bool value_written_into = false;  // wants_into: so is the value
        };

        // An evaluation's array, moved out; an empty one (shape {0}) where the
        // call made none.
        template <class T>
        xt::xarray<T> taken(std::optional<xt::xarray<T>>& a)
        {
            return a ? std::move(*a) : no_array<T>();
        }

        // The planned arrays of one call (d) and the buffers that hold them.
        template <class T, class Label>
        struct planned_call
        {
            call_data<T, Label> d;
            planned_buffer<T> x, y, upstream;
            planned_buffer<Label> labels;
            mask_plan masks;
            std::array<planned_buffer<T>, 2> weights;
            std::vector<scratch_line> values_spill;  // per-slice values of a large sum / mean
            std::vector<scratch_line> kept_spill;    // a large slice mask with ignore_index folded in
        };

        // The full shape with every axis that is not reduced set to 1.
        inline shape_type class_shape(const layout& L)
        {
            shape_type s(L.full.size(), 1);
            for (const std::size_t a : L.reduced)
            {
                s[a] = L.full[a];
            }
            return s;
        }

        // The rule's weight arrays (rule.hpp), when it declares them: each given
        // one must broadcast to the full shape, and is planned like an input.
        template <class Rule, class T, class Label>
        void plan_weights(const typename Rule::options& opts,
                          const shape_type& full,
                          const layout& L,
                          planned_call<T, Label>& p)
        {
            if constexpr (has_weight_arrays<Rule>::value)
            {
                const auto arrays = Rule::weight_arrays(opts);
                for (std::size_t i = 0; i < 2; ++i)
                {
                    const auto* w = arrays[i];
                    if (w && w->has_value())
                    {
                        const shape_type sw = shape_of(**w);
                        if (!broadcasts_to(sw, full))
                        {
                            throw_invalid_argument(Rule::name, "option ", Rule::weight_array_names[i],
                                                   " of shape ", show(sw),
                                                   " does not broadcast to the input shape ", show(full));
                        }
                        // A weight that varies along the reduced axes only (a [C] on
                        // [B, C], [C, 1, 1] on NCHW axis 1) is kept as its n values.
                        const shape_type by_class = class_shape(L);
                        p.d.weight_by_class[i] = broadcasts_to(sw, by_class) && !runs_on_columns<T>(L);
                        p.weights[i] = plan_buffer<T>(**w, p.d.weight_by_class[i] ? by_class : L.full, L.perm);
                        p.d.weight[i] = p.weights[i].data;
                        p.d.weight_has_zero[i] = std::any_of((*w)->begin(), (*w)->end(),
                                                             [](double v) { return static_cast<T>(v) == T(0); });
                    }
                }
            }
            else
            {
                (void)opts;
                (void)full;
                (void)L;
                (void)p;
            }
        }

        // The second input's value type against the rule's second-input kind.
        template <class Rule, class Y>
        void check_second_input_type()
        {
            using V = typename Y::value_type;
            if constexpr (takes_labels<Rule>)
            {
                static_assert(second_input_accepts<Rule, V>::value,
                              "xloss: labels must be integral: this loss takes one class index per slice "
                              "(for probabilities, use a loss that takes probability labels)");
            }
            else
            {
                static_assert(
                    second_input_accepts<Rule, V>::value,
                    "xloss: this loss takes floating labels or targets; for class indices use a loss "
                    "that takes integer labels");
            }
        }

        // The shape both inputs broadcast to (labels do not take part).
        template <class Rule>
        shape_type full_shape(const shape_type& sx, const shape_type& sy)
        {
            shape_type full = sx;
            if (!takes_labels<Rule> && !broadcast_shapes(sx, sy, full))
            {
                throw_invalid_argument(Rule::name, "input shapes ", show(sx), " and ", show(sy),
                                       " do not broadcast");
            }
            return full;
        }

        // True when element k of slice s (in planned layout) is selected.
        inline bool slice_has_selected(const layout& L, const std::uint8_t* mask, std::size_t s)
        {
            if (!mask)
            {
                return L.n > 0;
            }
            const std::size_t o = s / L.inner;
            const std::size_t j = s % L.inner;
            for (std::size_t k = 0; k < L.n; ++k)
            {
                if (mask[(o * L.n + k) * L.inner + j])
                {
                    return true;
                }
            }
            return false;
        }

        template <class Rule, class T, class Label, class X, class Y>
        void plan_inputs(const X& x, const Y& y, const layout& L, planned_call<T, Label>& p)
        {
            p.x = plan_buffer<T>(x, L.full, L.perm);
            p.d.x = p.x.data;
            if constexpr (takes_labels<Rule>)
            {
                p.d.y = p.d.x;  // the kernels' second lane input is unused
            }
            else
            {
                p.y = plan_buffer<T>(y, L.full, L.perm);
                p.d.y = p.y.data;
            }
        }

        template <class Rule, class T, class Label, class Where>
        void plan_where(const Where& where, const layout& L, planned_call<T, Label>& p)
        {
            if constexpr (!std::is_same_v<Where, none_t>)
            {
                p.masks = plan_mask(Rule::name, where, L);
                p.d.mask = p.masks.elements.data;
                p.d.slice_mask = p.masks.slices.data;
            }
        }

        // A label is checked where its slice has a selected element: the kernels
        // then read x[label] only inside the slice.
        template <class Label>
        bool label_in_range(Label label, std::size_t n)
        {
            const bool below_n = static_cast<unsigned long long>(label) < n;
            if constexpr (std::is_signed_v<Label>)
            {
                return (label >= 0) & below_n;  // no branch: check_label_range's first pass vectorizes
            }
            return below_n;
        }

        // On an empty class axis (n = 0) every label is out of range, as in
        // PyTorch: it throws unless a batch-rank mask leaves its slice out.
        // Labels print as the caller's type holds them (a uint64 2^64-1 is not -1).
        template <class Rule, class T, class Label>
        void check_label_range(const layout& L, const call_data<T, Label>& d)
        {
            using printed = std::conditional_t<std::is_signed_v<Label>, long long, unsigned long long>;
            const std::size_t slices = L.slices();
            // The common case in one pass without branches (it vectorizes): all in range.
            std::size_t out_of_range = 0;
            for (std::size_t s = 0; s < slices; ++s)
            {
                out_of_range += !label_in_range(d.labels[s], L.n);
            }
            if (out_of_range == 0)
            {
                return;
            }
            for (std::size_t s = 0; s < slices; ++s)
            {
                const Label label = d.labels[s];
                if (!label_in_range(label, L.n) && (!d.slice_mask || d.slice_mask[s])
                    && (L.n == 0 || slice_has_selected(L, d.mask, s)))
                {
                    if (L.n == 0)
                    {
                        throw_out_of_range(Rule::name, "label ", static_cast<printed>(label),
                                           " is out of range: the class axis is empty (0 classes)");
                    }
                    throw_out_of_range(Rule::name, "label ", static_cast<printed>(label),
                                       " is out of range for ", L.n, " classes (valid labels are 0 to ",
                                       L.n - 1, ")");
                }
            }
        }

        template <class Rule, class = void>
        struct has_ignored_label : std::false_type
        {
        };

        template <class Rule>
        struct has_ignored_label<
            Rule,
            std::void_t<decltype(Rule::ignored_label(std::declval<const typename Rule::options&>()))>>
            : std::true_type
        {
        };

        // Whether a label equals the ignored one, compared as numbers (an unsigned
        // label never equals a negative ignore_index).
        template <class Label>
        bool is_ignored(Label label, std::int64_t ignored)
        {
            if constexpr (std::is_signed_v<Label>)
            {
                return static_cast<long long>(label) == ignored;
            }
            else
            {
                return ignored >= 0 && static_cast<unsigned long long>(label) == static_cast<unsigned long long>(ignored);
            }
        }

        // ignore_index: the slices whose label is the ignored one leave the call
        // as a batch-rank mask would take them out (value 0, gradients 0, no
        // range check, not counted by xloss::mean). Folded into the slice mask.
        template <class T, class Label>
        void mask_ignored_slices(std::int64_t ignored, const layout& L, planned_call<T, Label>& p)
        {
            auto* keep = static_cast<std::uint8_t*>(scratch<kept_slices_slot>(L.slices(), p.kept_spill));
            for (std::size_t s = 0; s < L.slices(); ++s)
            {
                keep[s] = (!p.d.slice_mask || p.d.slice_mask[s]) && !is_ignored(p.d.labels[s], ignored);
            }
            p.masks.slices.data = keep;
            p.d.slice_mask = keep;
        }

        // Labels: one per slice, of the batch shape (broadcastable).
        template <class Rule, class T, class Label, class Y>
        void plan_labels(const Y& y,
                         const shape_type& sx,
                         const shape_type& sy,
                         const layout& L,
                         const typename Rule::options& opts,
                         planned_call<T, Label>& p)
        {
            if constexpr (takes_labels<Rule>)
            {
                if (sy.size() != L.batch.size() || !broadcasts_to(sy, L.batch))
                {
                    throw_invalid_argument(Rule::name, "labels of shape ", show(sy),
                                           " do not match the batch shape ", show(L.batch),
                                           " of logits of shape ", show(sx));
                }
                p.labels = plan_buffer<Label>(y, L.batch, {});
                p.d.labels = p.labels.data;
                if constexpr (has_ignored_label<Rule>::value)
                {
                    if (const auto ignored = Rule::ignored_label(opts))
                    {
                        mask_ignored_slices(*ignored, L, p);
                    }
                }
                check_label_range<Rule>(L, p.d);
            }
        }

        // The upstream gradient (vjp's g), one value per slice.
        template <class Rule, class T, class Label, class Upstream>
        void plan_upstream(const Upstream& upstream, const layout& L, planned_call<T, Label>& p)
        {
            if constexpr (!std::is_same_v<Upstream, none_t>)
            {
                const shape_type sg = shape_of(upstream);
                if (!broadcasts_to(sg, L.batch))
                {
                    throw_invalid_argument(Rule::name, "upstream gradient of shape ", show(sg),
                                           " does not broadcast to the result shape ", show(L.batch));
                }
                p.upstream = plan_buffer<T>(upstream, L.batch, {});
                p.d.upstream = p.upstream.data;
            }
        }

        // The sum over s in [0, count) of term(s), in double, as eight partial
        // sums of interleaved slices added up at the end: one chain of
        // additions waits on each add's latency (0.3-0.6 ms for the 524288
        // slices of [8, 21, 256, 256] with axis 1, 2-4% of its value_and_grad).
        // The order is fixed: the same count gives the same sum on every call.
        template <class Term>
        double sum_over_slices(std::size_t count, const Term& term)
        {
            constexpr std::size_t ways = 8;
            std::array<double, ways> part{};
            std::size_t s = 0;
            for (; s + ways <= count; s += ways)
            {
                for (std::size_t l = 0; l < ways; ++l)
                {
                    part[l] += term(s + l);
                }
            }
            for (; s < count; ++s)
            {
                part[s % ways] += term(s);
            }
            double total = 0;
            for (const double p : part)
            {
                total += p;
            }
            return total;
        }

        // The weight of slice s's label (weight array 0 at the label): what a
        // slice counts for in xloss::mean with integer labels and class weights.
        template <class T, class Label>
        double label_weight(const layout& L, const call_data<T, Label>& d, std::size_t s)
        {
            const auto k = static_cast<std::size_t>(d.labels[s]);
            if (d.weight_by_class[0])
            {
                return static_cast<double>(d.weight[0][k]);
            }
            const std::size_t o = s / L.inner;
            const std::size_t j = s % L.inner;
            return static_cast<double>(d.weight[0][(o * L.n + k) * L.inner + j]);
        }

        // D of xloss::mean: the slices that take part, or with integer labels
        // and a weight array (class_weights) the sum of their labels' weights
        // (PyTorch's weighted mean). Labels were range-checked where they count.
        template <class Rule, class T, class Label>
        double mean_divisor(const layout& L, const call_data<T, Label>& d)
        {
            const bool weighted = takes_labels<Rule> && d.weight[0] != nullptr;
            if (!weighted && !d.slice_mask && !d.mask)
            {
                return L.n > 0 ? static_cast<double>(L.slices()) : 0.0;  // every slice, without a walk
            }
            if (weighted && d.weight_by_class[0] && !d.slice_mask && !d.mask)
            {
                // Every slice counts, by its label's class weight: no branch per slice.
                return sum_over_slices(
                    L.slices(), [&](std::size_t s)
                    { return static_cast<double>(d.weight[0][static_cast<std::size_t>(d.labels[s])]); });
            }
            return sum_over_slices(L.slices(),
                                   [&](std::size_t s)
                                   {
                                       const bool counts = (!d.slice_mask || d.slice_mask[s])
                                                           && slice_has_selected(L, d.mask, s);
                                       return !counts ? 0.0 : weighted ? label_weight(L, d, s) : 1.0;
                                   });
        }

        // xloss::sum / xloss::mean: the divisor of the sum of the slices'
        // values (1, or D above), known before the pass, so that the one fused
        // pass gives each slice the upstream gradient g / divisor (g: the
        // caller's scalar cotangent, 1 for grad).
        template <class Rule, reduction R, class Want, class T, class Label, class Upstream>
        double plan_reduction(const Upstream& upstream, const layout& L, planned_call<T, Label>& p)
        {
            const double divisor = R == reduction::mean ? mean_divisor<Rule>(L, p.d) : 1.0;
            if constexpr (Want::any)
            {
                T g = 1;
                if constexpr (!std::is_same_v<Upstream, none_t>)
                {
                    const shape_type sg = shape_of(upstream);
                    if (!sg.empty())
                    {
                        throw_invalid_argument(Rule::name, "upstream gradient of shape ", show(sg),
                                               " is not a scalar (0-d): the result of xloss::sum or "
                                               "xloss::mean is 0-d");
                    }
                    g = static_cast<T>(*xt::xarray<T>(upstream).data());
                }
                // The same for every slice: no per-slice array.
                p.d.upstream_all = divisor == 0 ? T(0) : g / static_cast<T>(divisor);
            }
            return divisor;
        }

        // The 0-d result of xloss::sum / xloss::mean: the slices' values summed
        // in double (0 when no slice takes part).
        template <class T>
        T reduce_values(const T* values, std::size_t count, double divisor)
        {
            const double total = sum_over_slices(count, [values](std::size_t s)
                                                 { return static_cast<double>(values[s]); });
            return divisor == 0 ? T(0) : static_cast<T>(total / divisor);
        }

        // Where the kernels write the values: the caller's value buffer
        // (value_and_grad_into with one), our scratch when they are only summed
        // (sum / mean), else the result array.
        template <reduction R, class T, class Label, class Want>
        void place_values(const layout& L, planned_call<T, Label>& p, evaluation<T>& out, const Want& want)
        {
            if constexpr (is_wants_into<Want>::value)
            {
                if (want.value_shape)
                {
                    const shape_type result = R == reduction::none ? L.batch : shape_type{};
                    if (*want.value_shape != result)
                    {
                        throw_invalid_argument("value_and_grad_into", "the value buffer has shape ",
                                               show(*want.value_shape), " but the result has shape ",
                                               show(result));
                    }
                    if constexpr (std::is_same_v<std::remove_pointer_t<decltype(want.value)>, T>)
                    {
                        out.value_written_into = want.value != nullptr;
                        if (R == reduction::none && want.value)
                        {
                            p.d.value = want.value;
                            return;
                        }
                    }
                }
            }
            if constexpr (R != reduction::none)
            {
                p.d.value = static_cast<T*>(scratch<slice_values_slot>(L.slices() * sizeof(T), p.values_spill));
            }
            else
            {
                out.value = xt::xarray<T>::from_shape(L.batch);
                p.d.value = out.value->data();
            }
        }

        // The 0-d value of a sum / mean, into the caller's buffer or the result.
        template <class T, class Label, class Want>
        void store_reduced(const layout& L, const call_data<T, Label>& d, double divisor,
                           evaluation<T>& out, const Want& want)
        {
            const T total = reduce_values(d.value, L.slices(), divisor);
            if constexpr (is_wants_into<Want>::value)
            {
                if constexpr (std::is_same_v<std::remove_pointer_t<decltype(want.value)>, T>)
                {
                    if (out.value_written_into)
                    {
                        *want.value = total;
                        return;
                    }
                }
            }
            out.value = xt::xarray<T>::from_shape(shape_type{});
            (*out.value)() = total;
        }

        // The wanted gradients in planned layout (d/dx in the caller's buffer
        // where wants_into allows it).
        template <class T, class Label, class Want>
        void place_gradients(const layout& L, const shape_type& sx, call_data<T, Label>& d,
                             evaluation<T>& out, const Want& want)
        {
            if constexpr (is_wants_into<Want>::value)
            {
                if constexpr (std::is_same_v<std::remove_const_t<std::remove_pointer_t<decltype(want.data)>>, T>)
                {
                    if (want.data && L.perm == want.data_order && sx == L.full)
                    {
                        d.grad[0] = want.data;
                        out.grad_written_into = true;
                    }
                }
            }
            for (std::size_t i = 0; i < 2; ++i)
            {
                if (Want::input[i] && !d.grad[i])
                {
                    out.grad[i] = planned_output<T>(L);
                    d.grad[i] = out.grad[i]->data();
                }
            }
        }

        // Rule: a loss's rule, or reduced_rule<rule, sum | mean> (its kernels
        // are the base rule's).
        template <class Rule, class Want, class X, class Y, class Where, class Upstream>
        auto evaluate(const X& x,
                      const Y& y,
                      const axis_request& axes,
                      const Where& where,
                      const typename Rule::options& opts,
                      const Upstream& upstream,
                      const Want& want)
        {
            using base = typename rule_traits<Rule>::base;
            constexpr reduction reduce = rule_traits<Rule>::reduce;
            constexpr bool labels = takes_labels<base>;
            using T = typename result_value_type<X, Y, labels>::type;
            using label_type = std::conditional_t<labels, typename Y::value_type, std::ptrdiff_t>;
            check_second_input_type<base, Y>();
            // Options first: a bad option is reported whatever else is wrong.
            check_options<base>(opts, base::name);

            const shape_type sx = shape_of(x);
            const shape_type sy = shape_of(y);
            const shape_type full = full_shape<base>(sx, sy);
            // A column-major or transposed x is read where it is, when its memory
            // order allows (plan.hpp).
            const layout L = make_layout(base::name, full, axes, labels, sx == full ? memory_order(x) : shape_type{});
            planned_call<T, label_type> p;
            // Inputs that cannot be read in place are evaluated chunk by chunk
            // when they can be (chunks.hpp), else whole.
            const chunking chunks = plan_chunks<T, labels>(x, y, L);
            if (!chunks)
            {
                plan_inputs<base>(x, y, L, p);
            }
            plan_weights<base>(opts, full, L, p);
            plan_where<base>(where, L, p);
            plan_labels<base>(y, sx, sy, L, opts, p);
            double divisor = 1;
            if constexpr (reduce == reduction::none)
            {
                plan_upstream<base>(upstream, L, p);
            }
            else
            {
                divisor = plan_reduction<base, reduce, Want>(upstream, L, p);
            }

            evaluation<T> out;
            place_values<reduce>(L, p, out, want);
            place_gradients(L, sx, p.d, out, want);
            constexpr bool may_mask = !std::is_same_v<Where, none_t>;
            if (chunks)
            {
                run_in_chunks<base, Want::any, may_mask>(x, y, L, p.d, opts, chunks);
            }
            else
            {
                run<base, Want::any, may_mask>(L, p.d, opts);
            }
            if constexpr (reduce != reduction::none)
            {
                store_reduced(L, p.d, divisor, out, want);
            }

            if constexpr (Want::any)
            {
                const std::array<const shape_type*, 2> input_shapes{&sx, &sy};
                for (std::size_t i = 0; i < 2; ++i)
                {
                    if (Want::input[i] && !(i == 0 && out.grad_written_into))
                    {
                        out.grad[i] = unplan(std::move(*out.grad[i]), L, *input_shapes[i]);
                    }
                }
            }
            return out;
        }
    }
XLOSS_NAMESPACE_END

#endif

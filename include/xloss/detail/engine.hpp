// The one engine every loss runs on:
//
//   public call -> evaluate(): check shapes, plan [outer, n, inner], read the
//   mask by rank, lay out labels and the upstream gradient per slice ->
//   run(): walk the slices with the right kernel shape -> Rule: the loss's
//   own math on lanes (value, or value and gradient in one go) -> results.
//
// A Rule (one per loss, in the family headers) provides
//   using options = ...;                      // its option aggregate (or none)
//   static constexpr bool integer_labels;     // second input: class indices
//   static constexpr bool differentiable[2];  // which inputs have a gradient
//   template <class Lanes> static batch value(const Lanes&, const group<T>&, const options&);
//   template <class Lanes> static batch value_and_grad(const Lanes&, const group<T>&, const options&);
// value_and_grad writes d(sum(upstream * loss))/d input into group.grad[i]
// (when not null) for every element of the lanes, 0 where not selected.
#ifndef XLOSS_DETAIL_ENGINE_HPP
#define XLOSS_DETAIL_ENGINE_HPP

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xmath.hpp>

#include "errors.hpp"
#include "lanes.hpp"
#include "plan.hpp"
#include "simd.hpp"

namespace xloss::detail
{
    // Marks an absent `where` or upstream gradient.
    struct none_t
    {
    };

    // What a Rule sees of the slices its lanes cover, besides the data.
    template <class T>
    struct group
    {
        static constexpr std::size_t W = simd::width<T>;
        std::array<std::ptrdiff_t, W> label{};  // integer labels, per lane
        simd::batch<T> upstream = simd::batch<T>(T(1));  // d(total)/d(loss), per lane
        std::array<T*, 2> grad{nullptr, nullptr};  // gradient outputs at the lanes' origin
    };

    // The per-call arrays, in planned layout.
    template <class T>
    struct call_data
    {
        const T* x = nullptr;
        const T* y = nullptr;
        const std::uint8_t* mask = nullptr;        // per element
        const std::uint8_t* slice_mask = nullptr;  // per slice
        const std::ptrdiff_t* labels = nullptr;    // per slice
        const T* upstream = nullptr;               // per slice
        T* value = nullptr;                        // per slice
        std::array<T*, 2> grad{nullptr, nullptr};  // planned full layout
        bool want_grad = false;
    };

    template <class Rule, class T, bool Masked, class Options>
    void run_rows(const layout& L, const call_data<T>& d, const Options& opts)
    {
        const std::size_t n = L.n;
        for (std::size_t s = 0; s < L.outer; ++s)
        {
            const std::size_t base = s * n;
            if (d.slice_mask && !d.slice_mask[s])
            {
                d.value[s] = T(0);
                for (T* g : d.grad)
                {
                    if (g)
                    {
                        std::fill(g + base, g + base + n, T(0));
                    }
                }
                continue;
            }
            row_lanes<T, Masked> lanes{d.x + base, d.y + base, Masked ? d.mask + base : nullptr, n};
            group<T> grp;
            grp.label[0] = d.labels ? d.labels[s] : 0;
            grp.upstream = simd::batch<T>(d.upstream ? d.upstream[s] : T(1));
            for (std::size_t i = 0; i < 2; ++i)
            {
                grp.grad[i] = d.grad[i] ? d.grad[i] + base : nullptr;
            }
            const auto v = d.want_grad ? Rule::value_and_grad(lanes, grp, opts) : Rule::value(lanes, grp, opts);
            d.value[s] = v.get(0);
        }
    }

    template <class Rule, class T, bool Masked, class Options>
    void run_columns(const layout& L, const call_data<T>& d, const Options& opts)
    {
        constexpr std::size_t W = simd::width<T>;
        const std::size_t n = L.n;
        const std::size_t inner = L.inner;
        for (std::size_t o = 0; o < L.outer; ++o)
        {
            for (std::size_t j0 = 0; j0 < inner; j0 += W)
            {
                const std::size_t count = std::min(W, inner - j0);
                const std::size_t base = o * n * inner + j0;
                const std::size_t s0 = o * inner + j0;  // first slice of the group

                alignas(64) std::uint8_t selected[W] = {};
                alignas(64) T upstream[W] = {};
                group<T> grp;
                for (std::size_t l = 0; l < count; ++l)
                {
                    selected[l] = d.slice_mask ? d.slice_mask[s0 + l] : 1;
                    upstream[l] = d.upstream ? d.upstream[s0 + l] : T(1);
                    grp.label[l] = d.labels ? d.labels[s0 + l] : 0;
                }
                grp.upstream = simd::load(+upstream);
                for (std::size_t i = 0; i < 2; ++i)
                {
                    grp.grad[i] = d.grad[i] ? d.grad[i] + base : nullptr;
                }
                const auto active = simd::load_mask<T>(selected);
                column_lanes<T, Masked> lanes{d.x + base, d.y + base, Masked ? d.mask + base : nullptr, n, inner, count,
                                              active,     selected};
                auto v = d.want_grad ? Rule::value_and_grad(lanes, grp, opts) : Rule::value(lanes, grp, opts);
                v = xsimd::select(active, v, simd::batch<T>(T(0)));
                alignas(64) T values[W];
                v.store_aligned(values);
                std::copy(values, values + count, d.value + s0);
            }
        }
    }

    template <class Rule, class T, class Options>
    void run(const layout& L, const call_data<T>& d, const Options& opts)
    {
        if (L.size() == 0)
        {
            // Empty slices (or no slices): every result is 0.
            std::fill(d.value, d.value + L.slices(), T(0));
            return;
        }
        if (L.inner == 1)
        {
            d.mask ? run_rows<Rule, T, true>(L, d, opts) : run_rows<Rule, T, false>(L, d, opts);
        }
        else
        {
            d.mask ? run_columns<Rule, T, true>(L, d, opts) : run_columns<Rule, T, false>(L, d, opts);
        }
    }

    // ---------------------------------------------------------------------
    // evaluate(): from xtensor expressions to the planned call and back.

    template <class X, class Y, bool IntegerLabels>
    struct result_value_type
    {
        using common = std::conditional_t<IntegerLabels, typename X::value_type,
                                          std::common_type_t<typename X::value_type, typename Y::value_type>>;
        using type = std::conditional_t<std::is_floating_point_v<common>, common, double>;
    };

    template <class T>
    struct evaluation
    {
        xt::xarray<T> value;
        std::array<xt::xarray<T>, 2> grad;
    };

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

    // Sums a gradient of the full (broadcast) shape down to an input's shape.
    template <class T>
    xt::xarray<T> unbroadcast(xt::xarray<T>&& g, const shape_type& input_shape)
    {
        const shape_type full = shape_of(g);
        if (full == input_shape)
        {
            return std::move(g);
        }
        const std::size_t lead = full.size() - input_shape.size();
        std::vector<std::size_t> axes;
        for (std::size_t a = 0; a < full.size(); ++a)
        {
            if (a < lead || (input_shape[a - lead] == 1 && full[a] != 1))
            {
                axes.push_back(a);
            }
        }
        xt::xarray<T> summed = xt::sum(g, axes, xt::evaluation_strategy::immediate);
        summed.reshape(input_shape);
        return summed;
    }

    template <class Rule, class X, class Y, class Where, class Upstream>
    auto evaluate(const X& x, const Y& y, const axis_request& axes, const Where& where,
                  const typename Rule::options& opts, const Upstream& upstream, std::array<bool, 2> want)
    {
        constexpr bool integer_labels = Rule::integer_labels;
        constexpr const char* fn = Rule::name;
        using T = typename result_value_type<X, Y, integer_labels>::type;

        const shape_type sx = shape_of(x);
        const shape_type sy = shape_of(y);
        shape_type full = sx;
        if (!integer_labels && !broadcast_shapes(sx, sy, full))
        {
            throw_invalid_argument(fn, "input shapes ", show(sx), " and ", show(sy), " do not broadcast");
        }
        const layout L = make_layout(fn, full, axes, integer_labels);

        call_data<T> d;
        const planned_buffer<T> bx = plan_buffer<T>(x, L.full, L.perm);
        d.x = bx.data;
        planned_buffer<T> by;
        if constexpr (integer_labels)
        {
            d.y = d.x;
        }
        else
        {
            by = plan_buffer<T>(y, L.full, L.perm);
            d.y = by.data;
        }

        mask_plan masks;
        if constexpr (!std::is_same_v<Where, none_t>)
        {
            masks = plan_mask(fn, where, L);
            d.mask = masks.elements.data;
            d.slice_mask = masks.slices.data;
        }

        std::vector<std::ptrdiff_t> labels;
        if constexpr (integer_labels)
        {
            using label_type = typename Y::value_type;
            static_assert(std::is_integral_v<label_type> && !std::is_same_v<label_type, bool>,
                          "xloss::softmax_cross_entropy_with_integer_labels: labels must be integral; "
                          "use softmax_cross_entropy for probabilities");
            if (sy.size() != L.batch.size() || !broadcasts_to(sy, L.batch))
            {
                throw_invalid_argument(fn, "labels of shape ", show(sy), " do not match the batch shape ",
                                       show(L.batch), " of logits of shape ", show(sx));
            }
            xt::xarray<std::ptrdiff_t> wide = xt::broadcast(y, L.batch);
            labels.assign(wide.begin(), wide.end());
            // A label is checked where its slice has a selected element: the
            // kernels then read logits[label] only inside the slice.
            const auto n = static_cast<std::ptrdiff_t>(L.n);
            for (std::size_t s = 0; s < labels.size(); ++s)
            {
                if ((labels[s] < 0 || labels[s] >= n) && (!d.slice_mask || d.slice_mask[s])
                    && slice_has_selected(L, d.mask, s))
                {
                    throw_out_of_range(fn, "label ", labels[s], " is out of range for ", L.n,
                                       " classes (valid labels are 0 to ", L.n == 0 ? 0 : L.n - 1, ")");
                }
            }
            d.labels = labels.data();
        }
        else
        {
            static_assert(std::is_floating_point_v<typename Y::value_type> || Rule::accepts_integral_second,
                          "xloss: this loss takes floating labels or targets; for class indices use "
                          "softmax_cross_entropy_with_integer_labels");
        }

        std::vector<T> upstream_values;
        if constexpr (!std::is_same_v<Upstream, none_t>)
        {
            const shape_type sg = shape_of(upstream);
            if (!broadcasts_to(sg, L.batch))
            {
                throw_invalid_argument(fn, "upstream gradient of shape ", show(sg),
                                       " does not broadcast to the result shape ", show(L.batch));
            }
            xt::xarray<T> wide = xt::broadcast(upstream, L.batch);
            upstream_values.assign(wide.begin(), wide.end());
            d.upstream = upstream_values.data();
        }

        evaluation<T> out;
        out.value = xt::xarray<T>::from_shape(L.batch);
        d.value = out.value.data();
        const shape_type planned = L.planned_shape();
        for (std::size_t i = 0; i < 2; ++i)
        {
            if (want[i])
            {
                out.grad[i] = xt::xarray<T>::from_shape(planned);
                d.grad[i] = out.grad[i].data();
                d.want_grad = true;
            }
        }

        run<Rule>(L, d, opts);

        const std::array<const shape_type*, 2> input_shapes{&sx, &sy};
        for (std::size_t i = 0; i < 2; ++i)
        {
            if (!want[i])
            {
                continue;
            }
            if (!L.perm.empty())
            {
                std::vector<std::size_t> inverse(L.perm.size());
                for (std::size_t a = 0; a < L.perm.size(); ++a)
                {
                    inverse[L.perm[a]] = a;
                }
                xt::xarray<T> unpermuted = xt::transpose(out.grad[i], inverse);
                out.grad[i] = std::move(unpermuted);
            }
            out.grad[i] = unbroadcast(std::move(out.grad[i]), *input_shapes[i]);
        }
        return out;
    }
}

#endif

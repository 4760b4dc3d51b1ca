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

#include "../config.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmanipulation.hpp>

#include "errors.hpp"
#include "lanes.hpp"
#include "plan.hpp"
#include "simd.hpp"

XLOSS_NAMESPACE_BEGIN
namespace detail
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

    // The per-call arrays, in planned layout. Labels keep the caller's
    // integral type, so contiguous labels are read in place.
    template <class T, class Label = std::ptrdiff_t>
    struct call_data
    {
        const T* x = nullptr;
        const T* y = nullptr;
        const std::uint8_t* mask = nullptr;        // per element
        const std::uint8_t* slice_mask = nullptr;  // per slice
        const Label* labels = nullptr;             // per slice
        const T* upstream = nullptr;               // per slice
        T* value = nullptr;                        // per slice
        std::array<T*, 2> grad{nullptr, nullptr};  // planned full layout
        bool want_grad = false;
    };

    // Half the L2 cache, from the C library where it says (glibc does);
    // 256 KiB, half of the smallest L2 of current x86 server cores, otherwise.
    inline std::size_t half_l2_bytes()
    {
        static const std::size_t half = [] {
            std::size_t bytes = std::size_t(512) << 10;
#if defined(_SC_LEVEL2_CACHE_SIZE)
            const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
            if (l2 > 0)
            {
                bytes = static_cast<std::size_t>(l2);
            }
#endif
            return bytes / 2;
        }();
        return half;
    }

    template <class Rule, class T, bool Masked, class Label, class Options>
    XLOSS_FLATTEN void run_rows(const layout& L, const call_data<T, Label>& d, const Options& opts)
    {
        const std::size_t n = L.n;
        // Prefetch the next row while this one is worked on from cache, when
        // both fit in L2 together (longer rows stream from memory in every
        // pass anyway, and fetching ahead would evict the current one).
        const std::size_t row_bytes = n * (sizeof(T) * (d.y != d.x ? 2 : 1) + (Masked ? 1 : 0));
        const bool fetch_next = row_bytes <= half_l2_bytes();
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
            const std::size_t next = s + 1 < L.outer && fetch_next ? n : 0;
            row_lanes<T, Masked> lanes{d.x + base, d.y + base, Masked ? d.mask + base : nullptr, n, next};
            group<T> grp;
            grp.label[0] = d.labels ? static_cast<std::ptrdiff_t>(d.labels[s]) : 0;
            grp.upstream = simd::batch<T>(d.upstream ? d.upstream[s] : T(1));
            for (std::size_t i = 0; i < 2; ++i)
            {
                grp.grad[i] = d.grad[i] ? d.grad[i] + base : nullptr;
            }
            const auto v = d.want_grad ? Rule::value_and_grad(lanes, grp, opts) : Rule::value(lanes, grp, opts);
            d.value[s] = simd::first_lane<T>(v);
        }
    }

    // Up to W slices side by side: lane l is slice s0 + l, whose k-th element
    // is at k * stride + l from x, y, mask and the gradient outputs.
    template <class Rule, class T, bool Masked, class Label, class Options>
    XLOSS_FLATTEN void run_group(const call_data<T, Label>& d, const T* x, const T* y, const std::uint8_t* mask,
                   std::array<T*, 2> grad, std::size_t n, std::size_t stride, std::size_t count, std::size_t s0,
                   bool padded, const Options& opts)
    {
        constexpr std::size_t W = simd::width<T>;
        count = std::min(count, W);
        group<T> grp;
        grp.grad = grad;
        alignas(64) std::uint8_t selected[W] = {};
        std::fill(selected, selected + count, std::uint8_t(1));
        if (d.slice_mask)
        {
            std::copy(d.slice_mask + s0, d.slice_mask + s0 + count, selected);
        }
        if (d.upstream)
        {
            alignas(64) T upstream[W] = {};
            std::copy(d.upstream + s0, d.upstream + s0 + count, upstream);
            grp.upstream = simd::load(+upstream);
        }
        if (d.labels)
        {
            for (std::size_t l = 0; l < count; ++l)
            {
                grp.label[l] = static_cast<std::ptrdiff_t>(d.labels[s0 + l]);
            }
        }
        const auto active = simd::load_mask<T>(selected);
        column_lanes<T, Masked> lanes{x, y, mask, n, stride, count, active, selected, padded};
        auto v = d.want_grad ? Rule::value_and_grad(lanes, grp, opts) : Rule::value(lanes, grp, opts);
        v = simd::select(active, v, simd::batch<T>(T(0)));
        alignas(64) T values[W];
        simd::store_aligned(values, v);
        std::copy(values, values + count, d.value + s0);
    }

    // Copies `count` slices of n elements between the caller's layout
    // (element k of slice l at outside[l * slice_stride + k * element_stride])
    // and a tile (at tile[k * width + l]): into the tile with ToTile, back out
    // of it without. The loops run so that the writes are contiguous; the
    // strided side of a short-row transpose is a few KiB that stay in L1.
    // (Standalone, [65536, 16] floats, two noisy runs: into the tile 1.6-3x
    // faster than with the strided writes; out of it, 2x.)
    template <bool ToTile, class V>
    void transfer(V* tile, std::conditional_t<ToTile, const V*, V*> outside, std::size_t n, std::size_t count,
                  std::size_t width, std::size_t slice_stride, std::size_t element_stride)
    {
        auto move = [&](std::size_t l, std::size_t k) {
            if constexpr (ToTile)
            {
                tile[k * width + l] = outside[l * slice_stride + k * element_stride];
            }
            else
            {
                outside[l * slice_stride + k * element_stride] = tile[k * width + l];
            }
        };
        if (ToTile || slice_stride == 1)
        {
            for (std::size_t k = 0; k < n; ++k)
            {
                for (std::size_t l = 0; l < count; ++l)
                {
                    move(l, k);
                }
            }
        }
        else
        {
            for (std::size_t l = 0; l < count; ++l)
            {
                for (std::size_t k = 0; k < n; ++k)
                {
                    move(l, k);
                }
            }
        }
    }

    // Slices that are not contiguous rows run W at a time on the column
    // kernel. They are first staged, a tile of slices at a time, into small
    // contiguous buffers: strided reads straight from memory defeat the
    // prefetchers, and power-of-two strides (NCHW planes) make every element
    // of a slice fight for the same cache set. Short contiguous rows are
    // staged the same way, transposed, so that the kernel vectorizes across
    // slices instead of within one.
    //
    // slices: `count` of them from `first`; element k of slice s at
    // origin(s) + k * element_stride, with consecutive slices in a tile
    // slice_stride apart.
    template <class Rule, class T, bool Masked, class Label, class Options>
    void run_tiled(const layout& L, const call_data<T, Label>& d, const Options& opts, std::size_t element_stride,
                   std::size_t slice_stride)
    {
        constexpr std::size_t W = simd::width<T>;
        const std::size_t n = L.n;
        // Tile width: up to 8 batches, as long as one tile buffer stays within
        // a quarter of a typical L2 (it is read three times).
        constexpr std::size_t budget = 64 * 1024;
        const std::size_t width = std::min<std::size_t>(8 * W, budget / (n * sizeof(T)) / W * W);
        const std::size_t per_outer = slice_stride == 1 ? L.inner : L.outer;  // slices per contiguous run
        const std::size_t runs = slice_stride == 1 ? L.outer : 1;
        const bool same_inputs = d.x == d.y;
        std::vector<T> tx(n * width), ty(same_inputs ? 0 : n * width);
        std::vector<std::uint8_t> tm(Masked ? n * width : 0);
        std::array<std::vector<T>, 2> tg;
        std::array<T*, 2> tile_grad{nullptr, nullptr};
        for (std::size_t i = 0; i < 2; ++i)
        {
            if (d.grad[i])
            {
                tg[i].resize(n * width);
                tile_grad[i] = tg[i].data();
            }
        }
        const T* tile_y = same_inputs ? tx.data() : ty.data();
        for (std::size_t r = 0; r < runs; ++r)
        {
            for (std::size_t j0 = 0; j0 < per_outer; j0 += width)
            {
                const std::size_t count = std::min(width, per_outer - j0);
                // Offset of the tile's first element, and index of its first slice.
                const std::size_t origin = slice_stride == 1 ? r * n * L.inner + j0 : j0 * n;
                const std::size_t s0 = r * L.inner + j0;
                transfer<true>(tx.data(), d.x + origin, n, count, width, slice_stride, element_stride);
                if (!same_inputs)
                {
                    transfer<true>(ty.data(), d.y + origin, n, count, width, slice_stride, element_stride);
                }
                if constexpr (Masked)
                {
                    transfer<true>(tm.data(), d.mask + origin, n, count, width, slice_stride, element_stride);
                }
                for (std::size_t g = 0; g < count; g += W)
                {
                    std::array<T*, 2> grad{tile_grad[0] ? tile_grad[0] + g : nullptr,
                                           tile_grad[1] ? tile_grad[1] + g : nullptr};
                    run_group<Rule, T, Masked>(d, tx.data() + g, tile_y + g, Masked ? tm.data() + g : nullptr, grad,
                                               n, width, std::min(W, count - g), s0 + g, true, opts);
                }
                for (std::size_t i = 0; i < 2; ++i)
                {
                    if (d.grad[i])
                    {
                        transfer<false>(tile_grad[i], d.grad[i] + origin, n, count, width, slice_stride, element_stride);
                    }
                }
            }
        }
    }

    // The column kernel straight on the caller's layout, for slices too long
    // to stage (a tile of W of them would not fit the budget).
    template <class Rule, class T, bool Masked, class Label, class Options>
    void run_columns(const layout& L, const call_data<T, Label>& d, const Options& opts)
    {
        constexpr std::size_t W = simd::width<T>;
        const std::size_t n = L.n;
        const std::size_t inner = L.inner;
        for (std::size_t o = 0; o < L.outer; ++o)
        {
            for (std::size_t j0 = 0; j0 < inner; j0 += W)
            {
                const std::size_t base = o * n * inner + j0;
                std::array<T*, 2> grad{d.grad[0] ? d.grad[0] + base : nullptr, d.grad[1] ? d.grad[1] + base : nullptr};
                run_group<Rule, T, Masked>(d, d.x + base, d.y + base, Masked ? d.mask + base : nullptr, grad, n, inner,
                                           std::min(W, inner - j0), o * inner + j0, false, opts);
            }
        }
    }

    // Picks the kernel shape for the plan.
    template <class Rule, class T, bool Masked, class Label, class Options>
    void dispatch(const layout& L, const call_data<T, Label>& d, const Options& opts)
    {
        constexpr std::size_t W = simd::width<T>;
        const bool tile_fits = L.n * W * sizeof(T) <= 64 * 1024;
        if (L.inner == 1)
        {
            // Rows shorter than a few batches waste most of a batch and pay a
            // horizontal reduction per row: transpose them into tiles.
            if (L.n <= 4 * W && L.outer >= W)
            {
                run_tiled<Rule, T, Masked>(L, d, opts, 1, L.n);
            }
            else
            {
                run_rows<Rule, T, Masked>(L, d, opts);
            }
        }
        else if (tile_fits)
        {
            run_tiled<Rule, T, Masked>(L, d, opts, L.inner, 1);
        }
        else
        {
            run_columns<Rule, T, Masked>(L, d, opts);
        }
    }

    template <class Rule, class T, class Label, class Options>
    void run(const layout& L, const call_data<T, Label>& d, const Options& opts)
    {
        if (L.size() == 0)
        {
            // Empty slices (or no slices): every result is 0.
            std::fill(d.value, d.value + L.slices(), T(0));
            return;
        }
        d.mask ? dispatch<Rule, T, true>(L, d, opts) : dispatch<Rule, T, false>(L, d, opts);
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

    // Gradients are as large as the inputs and written once, so first-touch
    // page faults are a large share of their cost (≈ 2 µs per 4 KiB page on
    // virtual machines). Where Linux offers transparent huge pages on
    // request, ask for them on the untouched buffer: 512 times fewer faults.
    inline void advise_huge_pages(void* data, std::size_t bytes)
    {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        constexpr std::uintptr_t huge = std::uintptr_t(2) << 20;
        if (bytes < 2 * huge)
        {
            return;
        }
        const auto begin = (reinterpret_cast<std::uintptr_t>(data) + huge - 1) & ~(huge - 1);
        const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(huge - 1);
        if (end > begin)
        {
            // A hint only: on failure the buffer simply keeps small pages.
            (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
        }
#else
        (void)data;
        (void)bytes;
#endif
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

    // Sums a gradient of the full (broadcast) shape down to an input's shape.
    template <class T>
    xt::xarray<T> unbroadcast(xt::xarray<T>&& g, const shape_type& input_shape)
    {
        const shape_type full = shape_of(g);
        if (full == input_shape)
        {
            return std::move(g);
        }
        // One pass over g, adding each element into the input element it was
        // broadcast from: stride 0 along the broadcast axes. (Not xt::sum:
        // xtensor 0.24.3's immediate reducer writes into an empty result, and
        // under g++ -std=c++20 picks an undefined fixed-rank result type.)
        xt::xarray<T> out = xt::zeros<T>(input_shape);
        const std::size_t rank = full.size();
        const std::size_t lead = rank - input_shape.size();
        std::vector<std::size_t> stride(rank, 0);
        std::size_t step = 1;
        for (std::size_t a = rank; a-- > lead;)
        {
            const std::size_t extent = input_shape[a - lead];
            stride[a] = extent == 1 ? 0 : step;
            step *= extent;
        }
        std::vector<std::size_t> index(rank, 0);
        std::size_t at = 0;
        T* const o = out.data();
        const T* const in = g.data();
        for (std::size_t i = 0; i < g.size(); ++i)
        {
            o[at] += in[i];
            for (std::size_t a = rank; a-- > 0;)  // next index, row-major
            {
                at += stride[a];
                if (++index[a] < full[a])
                {
                    break;
                }
                at -= stride[a] * full[a];
                index[a] = 0;
            }
        }
        return out;
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

        using label_type = std::conditional_t<integer_labels, typename Y::value_type, std::ptrdiff_t>;
        call_data<T, label_type> d;
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

        planned_buffer<label_type> labels;
        if constexpr (integer_labels)
        {
            static_assert(std::is_integral_v<label_type> && !std::is_same_v<label_type, bool>,
                          "xloss::softmax_cross_entropy_with_integer_labels: labels must be integral; "
                          "use softmax_cross_entropy for probabilities");
            if (sy.size() != L.batch.size() || !broadcasts_to(sy, L.batch))
            {
                throw_invalid_argument(fn, "labels of shape ", show(sy), " do not match the batch shape ",
                                       show(L.batch), " of logits of shape ", show(sx));
            }
            labels = plan_buffer<label_type>(y, L.batch, {});
            // A label is checked where its slice has a selected element: the
            // kernels then read logits[label] only inside the slice.
            const std::size_t slices = L.slices();
            for (std::size_t s = 0; s < slices; ++s)
            {
                const auto label = static_cast<long long>(labels.data[s]);
                if ((label < 0 || label >= static_cast<long long>(L.n)) && (!d.slice_mask || d.slice_mask[s])
                    && slice_has_selected(L, d.mask, s))
                {
                    throw_out_of_range(fn, "label ", label, " is out of range for ", L.n,
                                       " classes (valid labels are 0 to ", L.n == 0 ? 0 : L.n - 1, ")");
                }
            }
            d.labels = labels.data;
        }
        else
        {
            static_assert(std::is_floating_point_v<typename Y::value_type> || Rule::accepts_integral_second,
                          "xloss: this loss takes floating labels or targets; for class indices use "
                          "softmax_cross_entropy_with_integer_labels");
        }

        planned_buffer<T> upstream_values;
        if constexpr (!std::is_same_v<Upstream, none_t>)
        {
            const shape_type sg = shape_of(upstream);
            if (!broadcasts_to(sg, L.batch))
            {
                throw_invalid_argument(fn, "upstream gradient of shape ", show(sg),
                                       " does not broadcast to the result shape ", show(L.batch));
            }
            upstream_values = plan_buffer<T>(upstream, L.batch, {});
            d.upstream = upstream_values.data;
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
                advise_huge_pages(out.grad[i].data(), out.grad[i].size() * sizeof(T));
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
XLOSS_NAMESPACE_END

#endif

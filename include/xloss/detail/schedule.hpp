// How the slices of one call are walked: the per-call data in planned
// layout, and the drivers that feed a rule's kernel one kernel shape at a
// time (lanes.hpp):
//
//   run()          empty calls; masked or not
//   dispatch()     picks the shape for the layout
//   run_rows()     one contiguous slice at a time (row_lanes)
//   run_tiles()    short rows or strided slices staged into small contiguous
//                  tiles, W slices side by side (column_lanes via run_group)
//   run_columns()  strided slices too long to stage, in place (column_lanes)
//   run_streams()  an outer axis of many elements, block of rows after block
//                  of rows, by the rule's stream form, or by its slice sums
//                  (column_lanes of a block)
//   run_strips()   strided slices of a rule that sums per-element terms, one
//                  inner row at a time, in memory order (column_lanes of one
//                  element)
//
// Each driver walks a range of its work units (rows, tiles, groups of
// columns), so that dispatch() can hand parts of a large call to other
// threads (parallel.hpp).
//
// Grad (gradients wanted) and Masked (an element mask) are template
// parameters: each call instantiates only the kernels it can run.
#ifndef XLOSS_DETAIL_SCHEDULE_HPP
#define XLOSS_DETAIL_SCHEDULE_HPP

#include "../config.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#if defined(__linux__)
#include <unistd.h>
#endif

#include "lanes.hpp"
#include "parallel.hpp"
#include "plan.hpp"
#include "rule.hpp"
#include "scratch.hpp"
#include "simd.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        // What a Rule sees of the slices its lanes cover, besides the data.
        template <class T>
        struct group
        {
            static constexpr std::size_t W = simd::width<T>;
            std::array<std::ptrdiff_t, W> label{};           // integer labels, per lane
            simd::batch<T> upstream = simd::batch<T>(T(1));  // d(total)/d(loss), per lane
            std::array<T*, 2> grad{nullptr, nullptr};        // gradient outputs at the lanes' origin
            // Index in their slices of the lanes' first element: the first row of
            // a block of a stream form (rule.hpp), 0 otherwise.
            std::ptrdiff_t first_row = 0;
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
            const T* upstream = nullptr;               // per slice; null: upstream_all for every slice
            T upstream_all = T(1);
            T* value = nullptr;                        // per slice
            std::array<T*, 2> grad{nullptr, nullptr};  // planned full layout; null: not wanted
            std::array<const T*, 2> weight{nullptr, nullptr};  // the rule's weight arrays, planned; null: none
            // Weight i is by class: n values, element k of every slice reads the
            // k-th (a [C] weight on [B, C]), not an array of the full shape.
            std::array<bool, 2> weight_by_class{false, false};
            std::array<bool, 2> weight_has_zero{true, true};  // weight i holds a zero (or is not scanned)
        };

        // Weight arrays at `offset` from their origin (null stays null).
        template <class T>
        std::array<const T*, 2> weights_at(const std::array<const T*, 2>& w, std::size_t offset)
        {
            return {w[0] ? w[0] + offset : nullptr, w[1] ? w[1] + offset : nullptr};
        }

        // The weight arrays of the slices at `offset` in planned layout: weights
        // by class start at their origin for every slice.
        template <class T, class Label>
        std::array<const T*, 2> slice_weights(const call_data<T, Label>& d, std::size_t offset)
        {
            std::array<const T*, 2> w{};
            for (std::size_t i = 0; i < 2; ++i)
            {
                w[i] = d.weight[i] && !d.weight_by_class[i] ? d.weight[i] + offset : d.weight[i];
            }
            return w;
        }

        // Bytes of one staging tile (one input's W-or-more slices): a quarter of a
        // typical L2, since a tile is read three times. Slices too long for W of
        // them to fit are not staged.
        inline constexpr std::size_t tile_budget_bytes = 64 * 1024;

        // Half the L2 cache, from the C library where it says (glibc does);
        // 256 KiB, half of the smallest L2 of current x86 server cores, otherwise.
        inline std::size_t half_l2_bytes()
        {
            static const std::size_t half = []
            {
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

        // Whether to prefetch the next row while this one is worked on from
        // cache: when both fit in L2 together (longer rows stream from memory in
        // every pass anyway, and fetching ahead would evict the current one).
        template <bool Masked, class T, class Label>
        bool fetches_next_row(const layout& L, const call_data<T, Label>& d)
        {
            const std::size_t row_bytes = L.n * (sizeof(T) * (d.y != d.x ? 2 : 1) + (Masked ? 1 : 0));
            return row_bytes <= half_l2_bytes();
        }

        // f(lanes, grp) on row s (Lanes: row_lanes, or row_partials), `next`
        // elements before the next row to fetch (0: none); false, with the
        // row's gradients set to 0 (Grad), when the slice mask leaves it out.
        template <bool Grad, bool Masked, template <class, bool> class Lanes, class T, class Label, class F>
        XLOSS_KERNEL_INLINE bool run_row(const layout& L,
                                         const call_data<T, Label>& d,
                                         std::size_t s,
                                         std::size_t next,
                                         F&& f)
        {
            const std::size_t n = L.n;
            const std::size_t base = s * n;
            if (d.slice_mask && !d.slice_mask[s])
            {
                if constexpr (Grad)
                {
                    for (T* g : d.grad)
                    {
                        if (g)
                        {
                            std::fill(g + base, g + base + n, T(0));
                        }
                    }
                }
                return false;
            }
            Lanes<T, Masked> lanes{d.x + base, d.y + base, Masked ? d.mask + base : nullptr,
                                   n,          next,       slice_weights(d, base)};
            lanes.weight_has_zero = d.weight_has_zero;
            group<T> grp;
            grp.label[0] = d.labels ? static_cast<std::ptrdiff_t>(d.labels[s]) : 0;
            grp.upstream = simd::batch<T>(d.upstream ? d.upstream[s] : d.upstream_all);
            for (std::size_t i = 0; i < 2; ++i)
            {
                grp.grad[i] = d.grad[i] ? d.grad[i] + base : nullptr;
            }
            f(lanes, grp);
            return true;
        }

        // What run_row runs for a rule's kernel: the kernel, into `result`.
        template <class Rule, bool Grad, class T, class Options>
        struct kernel_into
        {
            const Options& opts;
            simd::batch<T>& result;

            template <class Lanes, class Group>
            XLOSS_KERNEL_INLINE void operator()(const Lanes& lanes, const Group& grp) const
            {
                result = Rule::template kernel<Grad>(lanes, grp, opts);
            }
        };

        // The rule's kernel on row s; its value, 0 when the slice mask leaves
        // the row out.
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        XLOSS_KERNEL_INLINE T row_value(const layout& L,
                                        const call_data<T, Label>& d,
                                        const Options& opts,
                                        std::size_t s,
                                        std::size_t next)
        {
            simd::batch<T> v;
            const bool selected = run_row<Grad, Masked, row_lanes>(
                L, d, s, next, kernel_into<Rule, Grad, T, Options>{opts, v});
            return selected ? simd::first_lane<T>(v) : T(0);
        }

        // Rows [first, last) of a layout of contiguous slices.
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        XLOSS_FLATTEN void run_rows(const layout& L, const call_data<T, Label>& d, const Options& opts,
                                    std::size_t first, std::size_t last)
        {
            const bool fetch_next = fetches_next_row<Masked>(L, d);
            for (std::size_t s = first; s < last; ++s)
            {
                const std::size_t next = s + 1 < last && fetch_next ? L.n : 0;
                d.value[s] = row_value<Rule, Grad, Masked>(L, d, opts, s, next);
            }
        }

        // The rows [first, last) W at a time: row(r, count, s, next) for the W
        // rows of each group (row s = s0 + r is in range when r < count; `next`
        // as for run_row), then group(s0, count).
        template <class T, class Row, class Group>
        XLOSS_KERNEL_INLINE void for_each_row_group(std::size_t first,
                                                    std::size_t last,
                                                    std::size_t fetch_distance,
                                                    Row&& row,
                                                    Group&& group)
        {
            constexpr std::size_t W = simd::width<T>;
            for (std::size_t s0 = first; s0 < last; s0 += W)
            {
                const std::size_t count = std::min(W, last - s0);
                for (std::size_t r = 0; r < W; ++r)
                {
                    const std::size_t s = s0 + r;
                    row(r, count, s, s + 1 < last ? fetch_distance : 0);
                }
                group(s0, count);
            }
        }

        // Rows [first, last) of a rule that sums per-element terms (rule.hpp),
        // W rows at a time: each row's partial sums stay in its lanes, and the W
        // rows are added up together (simd::sum_rows), where a horizontal add
        // per row costs about what the terms of a short row do. A row's value
        // does not depend on which rows share its group.
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        XLOSS_FLATTEN void run_row_groups(const layout& L,
                                          const call_data<T, Label>& d,
                                          const Options& opts,
                                          std::size_t first,
                                          std::size_t last)
        {
            constexpr std::size_t W = simd::width<T>;
            std::array<simd::batch<T>, W> partial;
            const auto row = [&](std::size_t r, std::size_t count, std::size_t s, std::size_t next)
                                 XLOSS_KERNEL_LAMBDA
            {
                const kernel_into<Rule, Grad, T, Options> kernel{opts, partial[r]};
                if (r >= count || !run_row<Grad, Masked, row_partials>(L, d, s, next, kernel))
                {
                    partial[r] = simd::batch<T>(T(0));
                }
            };
            const auto group = [&](std::size_t s0, std::size_t count) XLOSS_KERNEL_LAMBDA {
                store_at(d.value, position{s0, count}, simd::sum_rows(partial.data()));
            };
            for_each_row_group<T>(first, last, fetches_next_row<Masked>(L, d) ? L.n : 0, row, group);
        }

        // One byte per lane, all set: the selected lanes when the call has no
        // slice mask.
        template <std::size_t W>
        inline constexpr std::array<std::uint8_t, W> every_lane = []
        {
            std::array<std::uint8_t, W> ones{};
            for (auto& one : ones)
            {
                one = 1;
            }
            return ones;
        }();

        // The slices s0 .. s0 + count (count <= W) in the lanes of a batch: which
        // are selected (by the slice mask, or all), one byte per lane and as a
        // batch whose lanes past count are off, and their upstream gradients
        // (past count: 0, or the call's one upstream).
        template <class T>
        struct slices_in_lanes
        {
            const std::uint8_t* selected;
            simd::batch_bool<T> active;
            simd::batch<T> upstream;

            template <class Label>
            slices_in_lanes(const call_data<T, Label>& d, std::size_t s0, std::size_t count)
                : selected(d.slice_mask ? d.slice_mask + s0 : every_lane<simd::width<T>>.data())
                , active(count == simd::width<T> ? simd::load_mask<T>(selected)
                                                 : simd::load_mask_first<T>(selected, count))
                , upstream(!d.upstream               ? simd::batch<T>(d.upstream_all)
                           : count == simd::width<T> ? simd::load(d.upstream + s0)
                                                     : simd::load_first(d.upstream + s0, count))
            {
            }
        };

        // Which of the W lanes of b are set, for a scalar loop over the lanes.
        template <class T>
        XLOSS_ALWAYS_INLINE std::array<bool, simd::width<T>> set_lanes(const simd::batch_bool<T>& b)
        {
            using B = simd::batch<T>;
            constexpr std::size_t W = simd::width<T>;
            alignas(64) T as_numbers[W];
            simd::store_aligned(as_numbers, simd::select(b, B(T(1)), B(T(0))));
            std::array<bool, W> set{};
            for (std::size_t l = 0; l < W; ++l)
            {
                set[l] = as_numbers[l] != T(0);
            }
            return set;
        }

        // The second pass of a group of run_sum_groups: the whole kernel on the
        // rows `alone`, and with Grad the gradients of the others, from factors
        // computed for the W rows at once (Rule::grad_factors_of_sums).
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options, class Sums>
        XLOSS_KERNEL_INLINE void finish_sum_group(const layout& L,
                                                  const call_data<T, Label>& d,
                                                  const Options& opts,
                                                  std::size_t s0,
                                                  std::size_t count,
                                                  const slices_in_lanes<T>& slices,
                                                  const simd::batch_bool<T>& alone,
                                                  const Sums& totals)
        {
            using B = simd::batch<T>;
            constexpr std::size_t W = simd::width<T>;
            const auto alone_rows = set_lanes<T>(alone);
            const auto run_alone = [&](std::size_t r) XLOSS_KERNEL_LAMBDA
            {
                if (!alone_rows[r])
                {
                    return false;
                }
                d.value[s0 + r] = row_value<Rule, Grad, Masked>(L, d, opts, s0 + r, 0);
                return true;
            };
            if constexpr (!Grad)
            {
                for (std::size_t r = 0; r < count; ++r)
                {
                    run_alone(r);
                }
            }
            else
            {
                const auto factors = Rule::grad_factors_of_sums(totals, slices.upstream, opts);
                constexpr std::size_t F = std::tuple_size_v<std::decay_t<decltype(factors)>>;
                alignas(64) T by_row[F][W];
                for (std::size_t k = 0; k < F; ++k)
                {
                    simd::store_aligned(by_row[k], factors[k]);
                }
                for (std::size_t r = 0; r < count; ++r)
                {
                    if (run_alone(r) || !slices.selected[r])
                    {
                        continue;
                    }
                    std::array<B, F> row_factors;
                    for (std::size_t k = 0; k < F; ++k)
                    {
                        row_factors[k] = B(by_row[k][r]);
                    }
                    run_row<Grad, Masked, row_lanes>(
                        L, d, s0 + r, 0,
                        [&](const auto& lanes, const auto& grp) XLOSS_KERNEL_LAMBDA
                        { Rule::grad_of_factors(lanes, grp, opts, row_factors); });
                }
            }
        }

        // Rows [first, last) of a rule whose value comes from a few sums over
        // the row (rule.hpp, slice_sums), W rows at a time: each row's sums stay
        // in its lanes, are added up for the W rows together (simd::sum_rows),
        // and give the W values at once; with Grad, a second pass over each row
        // (from cache) writes its gradient from its sums. A row whose sums do
        // not settle its value (Rule::needs_kernel: the cosine's rare scaled
        // path) runs the whole kernel alone.
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        XLOSS_FLATTEN void run_sum_groups(const layout& L,
                                          const call_data<T, Label>& d,
                                          const Options& opts,
                                          std::size_t first,
                                          std::size_t last)
        {
            constexpr std::size_t W = simd::width<T>;
            constexpr std::size_t K = Rule::slice_sums;
            using B = simd::batch<T>;
            std::array<std::array<B, W>, K> partial;  // [sum][row]
            const auto row = [&](std::size_t r, std::size_t count, std::size_t s, std::size_t next)
                                 XLOSS_KERNEL_LAMBDA
            {
                std::array<B, K> sums;
                sums.fill(B(T(0)));
                if (r < count)
                {
                    // Gradients of rows the slice mask leaves out are zeroed here.
                    run_row<Grad, Masked, row_partials>(L, d, s, next,
                                                        [&](const auto& lanes, const auto&)
                                                            XLOSS_KERNEL_LAMBDA
                                                        { sums = Rule::sums_of(lanes, opts); });
                }
                for (std::size_t k = 0; k < K; ++k)
                {
                    partial[k][r] = sums[k];
                }
            };
            const auto group = [&](std::size_t s0, std::size_t count) XLOSS_KERNEL_LAMBDA
            {
                std::array<B, K> totals;
                for (std::size_t k = 0; k < K; ++k)
                {
                    totals[k] = simd::sum_rows(partial[k].data());
                }
                const slices_in_lanes<T> slices(d, s0, count);
                store_at(d.value, position{s0, count},
                         simd::select(slices.active, Rule::value_of_sums(totals, opts), B(T(0))));
                const auto alone = slices.active && Rule::needs_kernel(totals, opts);
                if (Grad || simd::any(alone))
                {
                    finish_sum_group<Rule, Grad, Masked>(L, d, opts, s0, count, slices, alone, totals);
                }
            };
            for_each_row_group<T>(first, last, fetches_next_row<Masked>(L, d) ? L.n : 0, row, group);
        }

        // Up to W slices side by side: lane l is slice s0 + l, whose k-th element
        // is at k * stride + l from x, y, mask and the gradient outputs.
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        XLOSS_FLATTEN void run_group(const call_data<T, Label>& d,
                                     const T* x,
                                     const T* y,
                                     const std::uint8_t* mask,
                                     std::array<T*, 2> grad,
                                     std::size_t n,
                                     std::size_t stride,
                                     std::size_t count,
                                     std::size_t s0,
                                     bool padded,
                                     const Options& opts,
                                     std::array<const T*, 2> weight = {nullptr, nullptr})
        {
            constexpr std::size_t W = simd::width<T>;
            count = std::min(count, W);
            const slices_in_lanes<T> slices(d, s0, count);
            group<T> grp;
            grp.grad = grad;
            grp.upstream = slices.upstream;
            if (d.labels)
            {
                for (std::size_t l = 0; l < count; ++l)
                {
                    grp.label[l] = static_cast<std::ptrdiff_t>(d.labels[s0 + l]);
                }
            }
            column_lanes<T, Masked> lanes{x, y, mask, n, stride, count,
                                          slices.active, slices.selected, padded, weight};
            lanes.weight_has_zero = d.weight_has_zero;
            const auto v = simd::select(slices.active, Rule::template kernel<Grad>(lanes, grp, opts),
                                        simd::batch<T>(T(0)));
            alignas(64) T values[W];
            simd::store_aligned(values, v);
            std::copy(values, values + count, d.value + s0);
        }

        // Copies `bytes` from `from` to `to` (not overlapping) in 64- and 16-byte
        // moves: a tile row of an outer axis's slices is a run of 16 to 128
        // elements, where the compiler's element loop, behind its alias checks,
        // took 4-7% more of the column-major [4096, 1000] cross entropy
        // (RESULTS.md).
        inline void copy_run(unsigned char* to, const unsigned char* from, std::size_t bytes)
        {
            std::size_t b = 0;
            for (; b + 64 <= bytes; b += 64)
            {
                std::memcpy(to + b, from + b, 64);
            }
            for (; b + 16 <= bytes; b += 16)
            {
                std::memcpy(to + b, from + b, 16);
            }
            for (; b < bytes; ++b)
            {
                to[b] = from[b];
            }
        }

        // transfer() element by element, for slices [l0, l1) and elements
        // [k0, k1). The loops run so that the writes are contiguous; the strided
        // side of a short-row copy is a few KiB that stay in L1, while strided
        // writes would each touch a new cache line. Neighbouring slices
        // (slice_stride 1: an outer axis reduced) are runs on both sides.
        template <bool ToTile, class V>
        void transfer_elements(V* tile,
                               std::conditional_t<ToTile, const V*, V*> outside,
                               std::size_t l0,
                               std::size_t l1,
                               std::size_t k0,
                               std::size_t k1,
                               std::size_t width,
                               std::size_t slice_stride,
                               std::size_t element_stride,
                               std::ptrdiff_t fetch_ahead)
        {
            auto move = [&](std::size_t l, std::size_t k)
            {
                if constexpr (ToTile)
                {
                    tile[k * width + l] = outside[l * slice_stride + k * element_stride];
                }
                else
                {
                    outside[l * slice_stride + k * element_stride] = tile[k * width + l];
                }
            };
            if (slice_stride == 1)
            {
                const std::size_t bytes = (l1 - l0) * sizeof(V);
                for (std::size_t k = k0; k < k1; ++k)
                {
                    V* const in_tile = tile + k * width + l0;
                    const auto in_outside = outside + l0 + k * element_stride;
                    if constexpr (ToTile)
                    {
                        if (fetch_ahead != 0)
                        {
                            simd::prefetch_lines(in_outside + fetch_ahead, bytes);
                        }
                        copy_run(reinterpret_cast<unsigned char*>(in_tile),
                                 reinterpret_cast<const unsigned char*>(in_outside), bytes);
                    }
                    else
                    {
                        copy_run(reinterpret_cast<unsigned char*>(in_outside),
                                 reinterpret_cast<const unsigned char*>(in_tile), bytes);
                    }
                }
            }
            else if (ToTile)
            {
                for (std::size_t k = k0; k < k1; ++k)
                {
                    for (std::size_t l = l0; l < l1; ++l)
                    {
                        move(l, k);
                    }
                }
            }
            else
            {
                for (std::size_t l = l0; l < l1; ++l)
                {
                    for (std::size_t k = k0; k < k1; ++k)
                    {
                        move(l, k);
                    }
                }
            }
        }

        // Copies `count` slices of n elements between the caller's layout
        // (element k of slice l at outside[l * slice_stride + k * element_stride])
        // and a tile (at tile[k * width + l]): into the tile with ToTile, back out
        // of it without. Where the slices' elements are contiguous (short rows),
        // the bulk goes in B x B block transposes (simd::transpose_square) and
        // only the edges element by element. fetch_ahead (elements; 0: none;
        // only where slice_stride is 1) asks for the lines that far ahead of
        // each row read: the next tile's, when the slices are an outer axis's.
        template <bool ToTile, class V>
        void transfer(V* tile,
                      std::conditional_t<ToTile, const V*, V*> outside,
                      std::size_t n,
                      std::size_t count,
                      std::size_t width,
                      std::size_t slice_stride,
                      std::size_t element_stride,
                      std::ptrdiff_t fetch_ahead = 0)
        {
            constexpr std::size_t B = simd::transpose_block<V>;
            const bool blocks = B > 1 && element_stride == 1;
            const std::size_t whole_l = blocks ? count / B * B : 0;
            const std::size_t whole_k = blocks ? n / B * B : 0;
            if constexpr (B > 1)
            {
                for (std::size_t l = 0; l < whole_l; l += B)
                {
                    for (std::size_t k = 0; k < whole_k; k += B)
                    {
                        if constexpr (ToTile)
                        {
                            simd::transpose_square(outside + l * slice_stride + k, slice_stride,
                                                   tile + k * width + l, width);
                        }
                        else
                        {
                            simd::transpose_square(tile + k * width + l, width,
                                                   outside + l * slice_stride + k, slice_stride);
                        }
                    }
                }
            }
            // The edges: every slice's elements past whole_k, and the slices past
            // whole_l up to whole_k.
            transfer_elements<ToTile>(tile, outside, 0, count, whole_k, n, width, slice_stride,
                                      element_stride, fetch_ahead);
            transfer_elements<ToTile>(tile, outside, whole_l, count, 0, whole_k, width, slice_stride,
                                      element_stride, fetch_ahead);
        }

        // Hands out the tiles of one scratch block in turn: `cells` elements
        // each, every tile starting on a cache line. One spare line between
        // tiles: tiles of a power-of-two size would otherwise sit a multiple
        // of 4 KiB apart, where the CPU takes loads from one for stores to
        // another (4K aliasing) and they share L1 sets (10-25% on [65536, 16]
        // KL divergence).
        struct tile_carver
        {
            std::size_t cells;
            unsigned char* at;

            std::size_t rounded(std::size_t element_bytes) const
            {
                constexpr std::size_t line = sizeof(scratch_line);
                return (cells * element_bytes + line - 1) / line * line + line;
            }
            template <class U>
            U* take()
            {
                U* tile = reinterpret_cast<U*>(at);
                at += rounded(sizeof(U));
                return tile;
            }
        };

        // Slices that are not contiguous rows run W at a time on the column
        // kernel. They are first staged, a tile of slices at a time, into small
        // contiguous buffers: strided reads straight from memory defeat the
        // prefetchers, and power-of-two strides (NCHW planes) make every element
        // of a slice fight for the same cache set. Short contiguous rows are
        // staged the same way, transposed, so that the kernel vectorizes across
        // slices instead of within one.
        //
        // Element k of slice s is at origin(s) + k * element_stride, with
        // consecutive slices in a tile slice_stride apart. The tiles of a call
        // are numbered run by run (a run: the slices of one contiguous block).
        struct tiling
        {
            std::size_t element_stride;
            std::size_t slice_stride;
            std::size_t width;      // slices per tile
            std::size_t per_run;    // slices per run
            std::size_t tiles_per_run;
            std::size_t tiles;

            template <class T>
            static tiling of(const layout& L, std::size_t element_stride, std::size_t slice_stride)
            {
                constexpr std::size_t W = simd::width<T>;
                // Tile width: up to 8 batches, as long as one tile stays within
                // budget. Slices of an outer axis take twice the budget: a tile
                // row is then 2 cache lines of the caller's row rather than 1
                // where n is 512-1024 floats, the pair the L2 fetches together
                // (column-major [4096, 1000] cross entropy: 0.81-0.93x the time;
                // 4x the budget was slower, RESULTS.md).
                const std::size_t budget = slice_stride == 1 ? 2 * tile_budget_bytes : tile_budget_bytes;
                const std::size_t width = std::min<std::size_t>(8 * W, budget / (L.n * sizeof(T)) / W * W);
                const std::size_t per_run = slice_stride == 1 ? L.inner : L.outer;
                const std::size_t runs = slice_stride == 1 ? L.outer : 1;
                const std::size_t per = (per_run + width - 1) / width;
                return {element_stride, slice_stride, width, per_run, per, runs * per};
            }
        };

        // Tiles [first, last) of the tiling.
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        void run_tiles(const layout& L,
                       const call_data<T, Label>& d,
                       const Options& opts,
                       const tiling& tl,
                       std::size_t first,
                       std::size_t last)
        {
            constexpr std::size_t W = simd::width<T>;
            const std::size_t n = L.n;
            const std::size_t width = tl.width;
            const std::size_t element_stride = tl.element_stride;
            const std::size_t slice_stride = tl.slice_stride;
            const bool same_inputs = d.x == d.y;
            // The tiles: x (and y), the mask, the rule's weight arrays (only
            // for rules that declare them) and the wanted gradients, each
            // n * width, carved from the thread's scratch.
            std::array<bool, 2> weighted{false, false};
            if constexpr (has_weight_arrays<Rule>::value)
            {
                weighted = {d.weight[0] != nullptr, d.weight[1] != nullptr};
            }
            const std::size_t cells = n * width;
            const std::size_t tiles = 1 + !same_inputs + weighted[0] + weighted[1] + (d.grad[0] != nullptr)
                                      + (d.grad[1] != nullptr);
            tile_carver carve{cells, nullptr};
            std::vector<scratch_line> spill;
            carve.at = static_cast<unsigned char*>(
                scratch<tile_slot>(tiles * carve.rounded(sizeof(T)) + (Masked ? carve.rounded(1) : 0), spill));
            T* const tx = carve.take<T>();
            T* const ty = same_inputs ? nullptr : carve.take<T>();
            const T* const tile_y = same_inputs ? tx : ty;
            std::uint8_t* const tm = Masked ? carve.take<std::uint8_t>() : nullptr;
            std::array<T*, 2> tw{nullptr, nullptr};
            for (std::size_t i = 0; i < 2; ++i)
            {
                if (weighted[i])
                {
                    tw[i] = carve.take<T>();
                    if (d.weight_by_class[i])
                    {
                        // The same for every tile: staged once.
                        transfer<true>(tw[i], d.weight[i], n, width, width, 0, 1);
                    }
                }
            }
            const std::array<const T*, 2> tile_weight{tw[0], tw[1]};
            std::array<T*, 2> tile_grad{nullptr, nullptr};
            for (std::size_t i = 0; i < 2; ++i)
            {
                if (d.grad[i])
                {
                    tile_grad[i] = carve.take<T>();
                }
            }
            for (std::size_t t = first; t < last; ++t)
            {
                const std::size_t r = t / tl.tiles_per_run;
                const std::size_t j0 = t % tl.tiles_per_run * width;
                const std::size_t count = std::min(width, tl.per_run - j0);
                // Offset of the tile's first element, and index of its first slice.
                const std::size_t origin = slice_stride == 1 ? r * n * L.inner + j0 : j0 * n;
                const std::size_t s0 = r * L.inner + j0;
                // Strided slices: fetch the next tile's lines while this one is
                // staged (each of its n lines is a separate DRAM access).
                const std::ptrdiff_t ahead = slice_stride == 1 && j0 + 2 * width <= tl.per_run
                                                 ? static_cast<std::ptrdiff_t>(width) : 0;
                transfer<true>(tx, d.x + origin, n, count, width, slice_stride, element_stride, ahead);
                if (!same_inputs)
                {
                    transfer<true>(ty, d.y + origin, n, count, width, slice_stride,
                                   element_stride, ahead);
                }
                if constexpr (Masked)
                {
                    transfer<true>(tm, d.mask + origin, n, count, width, slice_stride,
                                   element_stride);
                }
                if constexpr (has_weight_arrays<Rule>::value)
                {
                    for (std::size_t i = 0; i < 2; ++i)
                    {
                        if (d.weight[i] && !d.weight_by_class[i])
                        {
                            transfer<true>(tw[i], d.weight[i] + origin, n, count, width,
                                           slice_stride, element_stride);
                        }
                    }
                }
                for (std::size_t g = 0; g < count; g += W)
                {
                    std::array<T*, 2> grad{tile_grad[0] ? tile_grad[0] + g : nullptr,
                                           tile_grad[1] ? tile_grad[1] + g : nullptr};
                    run_group<Rule, Grad, Masked>(d, tx + g, tile_y + g, Masked ? tm + g : nullptr, grad, n, width,
                                                  std::min(W, count - g), s0 + g, true, opts,
                                                  weights_at(tile_weight, g));
                }
                if constexpr (Grad)
                {
                    for (std::size_t i = 0; i < 2; ++i)
                    {
                        if (d.grad[i])
                        {
                            transfer<false>(tile_grad[i], d.grad[i] + origin, n, count, width,
                                            slice_stride, element_stride);
                        }
                    }
                }
            }
        }

        // The column kernel straight on the caller's layout, for slices too long
        // to stage (a tile of W of them would not fit the budget).
        // Its units: groups of W neighbouring slices, numbered outer index by
        // outer index; groups [first, last).
        template <class T>
        std::size_t column_groups_per_outer(const layout& L)
        {
            return (L.inner + simd::width<T> - 1) / simd::width<T>;
        }

        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        void run_columns(const layout& L, const call_data<T, Label>& d, const Options& opts,
                         std::size_t first, std::size_t last)
        {
            constexpr std::size_t W = simd::width<T>;
            const std::size_t n = L.n;
            const std::size_t inner = L.inner;
            const std::size_t per_outer = column_groups_per_outer<T>(L);
            for (std::size_t u = first; u < last; ++u)
            {
                const std::size_t o = u / per_outer;
                const std::size_t j0 = u % per_outer * W;
                const std::size_t base = o * n * inner + j0;
                std::array<T*, 2> grad{d.grad[0] ? d.grad[0] + base : nullptr,
                                       d.grad[1] ? d.grad[1] + base : nullptr};
                run_group<Rule, Grad, Masked>(d, d.x + base, d.y + base, Masked ? d.mask + base : nullptr,
                                              grad, n, inner, std::min(W, inner - j0), o * inner + j0,
                                              false, opts, slice_weights(d, base));
            }
        }

        // Streams, for rules with a stream form (rule.hpp) reducing an outer
        // axis of enough elements (the minimums below): a strip of
        // neighbouring slices is read a block of rows at a time, in memory order,
        // each block taken into the stream states of its slices, W slices at a
        // time (Rule::add_rows); the states give the values, and the gradient
        // is a second pass in the same order. A strip's row is a run of
        // stream_slices elements, where a tile row is a run of 16 to 128 that
        // the prefetchers do not follow from one row to the next. Against tiles
        // (RESULTS.md), column-major [4194, 1000]: CE 0.55x the time
        // (value_and_grad 0.65x), integer-label CE 0.67x (0.63x); [256, 32000]
        // integer-label CE 0.45x. The value of integer-label CE gains from 80
        // classes on (64: 1.11x, 80: 0.65-0.75x); that of the rules with a
        // label per element (CE, poly loss), whose tiles stage two inputs,
        // from 16 (0.76-0.92x at 16 to 64; NCHW [8, 21, 256, 256]: 0.83-0.90x).
        // value_and_grad, which reads the inputs again, gained for integer
        // labels from 80, but for CE only from 500 (200 to 400: 1.07-1.16x),
        // hence its minimum. Blocks of 16 rows: 8 and 12 were 2-5% slower, 32
        // up to 25%. The passes that read a block from cache (extend's second,
        // the gradient's) fetch the same lanes of the next block: the value
        // of column-major [256, 32000] 0.82x the time (integer labels 0.91x,
        // poly loss 0.88x), [4194, 1000] 0.84-0.96x. Units: strips, numbered
        // outer index by outer index.
        template <class T>
        inline constexpr std::size_t stream_slices = 4096 / sizeof(T);
        inline constexpr std::size_t stream_block_rows = 16;
        inline constexpr std::size_t stream_min_elements_slice_label = 80;
        inline constexpr std::size_t stream_min_elements = 16;
        inline constexpr std::size_t stream_min_elements_with_grad = 512;

        // Rows a multiple of 4 KiB apart (a power-of-two number of slices:
        // column-major [4096, 1000], NCHW planes) put a block's lines of W
        // slices in one L1 set, and the gradient pass's stores 4K-alias its
        // loads: blocks of 6 rows there (two inputs: 12 lines, the ways of a
        // 48 KiB L1). Column-major CE [4096, 1000] 0.70 ns per element with 16
        // rows against 0.34 for [4194, 1000]; 6 rows: 0.44-0.46 (RESULTS.md).
        inline constexpr std::size_t stream_block_rows_4k_apart = 6;

        template <class T>
        std::size_t stream_rows(const layout& L)
        {
            return L.inner * sizeof(T) % 4096 == 0 ? stream_block_rows_4k_apart : stream_block_rows;
        }

        template <class T>
        std::size_t streams_per_outer(const layout& L)
        {
            return (L.inner + stream_slices<T> - 1) / stream_slices<T>;
        }

        // (Fewer than 2^24 rows: a row index is then exact in float.)
        template <class Rule, bool Grad, class T>
        bool runs_as_streams(const layout& L)
        {
            const std::size_t least = Grad ? stream_min_elements_with_grad
                                      : Rule::second == second_input::slice_label
                                          ? stream_min_elements_slice_label
                                          : stream_min_elements;
            return L.inner >= simd::width<T> && L.n >= least && L.n < (std::size_t(1) << 24);
        }

        // The stream state of W-or-fewer neighbouring slices, and their group.
        template <class Rule, class T>
        struct stream_group
        {
            using state_type = typename Rule::template stream_state<simd::batch<T>>;
            state_type state;
            group<T> grp;
        };

        // The stream form of a rule whose value comes from slice sums
        // (rule.hpp): the sums of the blocks of rows add up. The slices whose
        // sums do not settle their value run whole afterwards (run_unsettled).
        template <class Rule>
        struct slice_sums_stream : Rule
        {
            using base = Rule;
            using options = typename Rule::options;

            template <class B>
            struct stream_state
            {
                std::array<B, Rule::slice_sums> sums;
            };

            static bool streams(const options&)
            {
                return true;
            }

            template <class B, class Group>
            static stream_state<B> start_stream(const Group&, const options&)
            {
                stream_state<B> s;
                s.sums.fill(B(simd::scalar_t<B>(0)));
                return s;
            }

            template <class Lanes, class Group, class B = typename Lanes::batch>
            XLOSS_KERNEL_INLINE static void add_rows(stream_state<B>& s,
                                                     const Lanes& lanes,
                                                     const Group&,
                                                     const options& opts)
            {
                const auto block = Rule::sums_of(lanes, opts);
                for (std::size_t k = 0; k < Rule::slice_sums; ++k)
                {
                    s.sums[k] += block[k];
                }
            }

            template <class B>
            XLOSS_KERNEL_INLINE static B value_of_stream(const stream_state<B>& s, const options& opts)
            {
                return Rule::value_of_sums(s.sums, opts);
            }

            template <class Lanes, class Group, class B = typename Lanes::batch>
            XLOSS_KERNEL_INLINE static void grad_rows(const stream_state<B>& s,
                                                      const Lanes& lanes,
                                                      const Group& grp,
                                                      const options& opts)
            {
                Rule::grad_of_factors(lanes, grp, opts,
                                      Rule::grad_factors_of_sums(s.sums, grp.upstream, opts));
            }
        };

        // The slices s0 .. s0 + count of a slice-sum stream (at `at`) whose sums
        // do not settle their value (Rule::needs_kernel: the cosine's rare
        // scaled path) run whole, one at a time, over what the stream wrote:
        // the slices beside them keep the stream's results.
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options, class Sums>
        void run_unsettled(const layout& L,
                           const call_data<T, Label>& d,
                           const Options& opts,
                           const Sums& sums,
                           std::size_t at,
                           std::size_t s0,
                           std::size_t count)
        {
            const slices_in_lanes<T> slices(d, s0, count);
            const auto alone = slices.active && Rule::needs_kernel(sums, opts);
            if (!simd::any(alone))
            {
                return;
            }
            const auto alone_lanes = set_lanes<T>(alone);
            for (std::size_t l = 0; l < count; ++l)
            {
                if (alone_lanes[l])
                {
                    const std::size_t e = at + l;
                    run_group<Rule, Grad, Masked>(d, d.x + e, d.y + e, Masked ? d.mask + e : nullptr,
                                                  {d.grad[0] ? d.grad[0] + e : nullptr,
                                                   d.grad[1] ? d.grad[1] + e : nullptr},
                                                  L.n, L.inner, 1, s0 + l, false, opts, slice_weights(d, e));
                }
            }
        }

        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        XLOSS_FLATTEN void run_streams(const layout& L,
                                       const call_data<T, Label>& d,
                                       const Options& opts,
                                       std::size_t first,
                                       std::size_t last)
        {
            constexpr std::size_t W = simd::width<T>;
            using B = simd::batch<T>;
            using streamed = stream_group<Rule, T>;
            static_assert(std::is_trivially_destructible_v<streamed>, "stream states live in scratch memory");
            const std::size_t n = L.n;
            const std::size_t inner = L.inner;
            const std::size_t block_rows = stream_rows<T>(L);
            const std::size_t per_outer = streams_per_outer<T>(L);
            std::vector<scratch_line> spill;
            auto* const groups = static_cast<streamed*>(
                scratch<stream_slot>(stream_slices<T> / W * sizeof(streamed), spill));
            for (std::size_t u = first; u < last; ++u)
            {
                const std::size_t o = u / per_outer;
                const std::size_t j0 = u % per_outer * stream_slices<T>;
                const std::size_t width = std::min(stream_slices<T>, inner - j0);
                const std::size_t origin = o * n * inner + j0;  // the strip's first element
                const std::size_t s_origin = o * inner + j0;    // and slice
                for (std::size_t g = 0; g < width; g += W)
                {
                    const std::size_t count = std::min(W, width - g);
                    streamed& sg = *new (groups + g / W) streamed;
                    sg.grp.upstream = slices_in_lanes<T>(d, s_origin + g, count).upstream;
                    if (d.labels)
                    {
                        for (std::size_t l = 0; l < count; ++l)
                        {
                            sg.grp.label[l] = static_cast<std::ptrdiff_t>(d.labels[s_origin + g + l]);
                        }
                    }
                    sg.state = Rule::template start_stream<B>(sg.grp, opts);
                }
                // f(state, lanes, group) on rows [k0, k0 + block_rows) of each W slices.
                const auto each_group = [&](std::size_t k0, const auto& f) XLOSS_KERNEL_LAMBDA
                {
                    const std::size_t rows = std::min(block_rows, n - k0);
                    for (std::size_t g = 0; g < width; g += W)
                    {
                        const std::size_t count = std::min(W, width - g);
                        const std::size_t at = origin + k0 * inner + g;
                        const slices_in_lanes<T> slices(d, s_origin + g, count);
                        streamed& sg = groups[g / W];
                        sg.grp.first_row = static_cast<std::ptrdiff_t>(k0);
                        for (std::size_t i = 0; i < 2; ++i)
                        {
                            sg.grp.grad[i] = d.grad[i] ? d.grad[i] + at : nullptr;
                        }
                        stream_lanes<T, Masked> lanes{{d.x + at, d.y + at, Masked ? d.mask + at : nullptr,
                                                       rows, inner, count, slices.active, slices.selected,
                                                       false, slice_weights(d, at)}};
                        lanes.weight_has_zero = d.weight_has_zero;
                        // The next block of these W slices, while this one is read from cache.
                        lanes.next = k0 + 2 * block_rows <= n ? block_rows * inner : 0;
                        f(sg.state, lanes, sg.grp);
                    }
                };
                for (std::size_t k0 = 0; k0 < n; k0 += block_rows)
                {
                    each_group(k0, [&](auto& state, const auto& lanes, const auto& grp) XLOSS_KERNEL_LAMBDA
                               { Rule::add_rows(state, lanes, grp, opts); });
                }
                for (std::size_t g = 0; g < width; g += W)
                {
                    const std::size_t count = std::min(W, width - g);
                    const slices_in_lanes<T> slices(d, s_origin + g, count);
                    const B v = Rule::value_of_stream(groups[g / W].state, opts);
                    store_at(d.value, position{s_origin + g, count}, simd::select(slices.active, v, B(T(0))));
                }
                if constexpr (Grad)
                {
                    for (std::size_t k0 = 0; k0 < n; k0 += block_rows)
                    {
                        each_group(k0, [&](const auto& state, const auto& lanes, const auto& grp)
                                           XLOSS_KERNEL_LAMBDA { Rule::grad_rows(state, lanes, grp, opts); });
                    }
                }
                if constexpr (has_slice_sums<Rule>::value)
                {
                    for (std::size_t g = 0; g < width; g += W)
                    {
                        run_unsettled<typename Rule::base, Grad, Masked>(L, d, opts, groups[g / W].state.sums,
                                                                         origin + g, s_origin + g,
                                                                         std::min(W, width - g));
                    }
                }
            }
        }

        // The rule's stream form: its own, or that of its slice sums.
        template <class Rule>
        using stream_form = std::conditional_t<has_stream_form<Rule>::value, Rule, slice_sums_stream<Rule>>;

        // Strips, for rules that sum per-element terms (rule.hpp) reducing an
        // outer axis: the kernel runs on one row of a strip of neighbouring
        // slices at a time, one element per slice, and the rows' values are
        // added up in the values' output. The caller's memory is read row after
        // row, in order: a few sequential streams, where a tile reads n rows at
        // once (n streams the prefetchers do not follow; rows a power of two
        // apart share a cache set). A strip's values stay in L1 from row to row.
        // Units: strips, numbered outer index by outer index.
        // 16 KiB of each input per row: measured on [8, 21, 256, 256] against
        // 4, 8, 32, 64 and 256 KiB (the next row is fetched meanwhile).
        template <class T>
        inline constexpr std::size_t strip_slices = 16384 / sizeof(T);

        template <class T>
        std::size_t strips_per_outer(const layout& L)
        {
            return (L.inner + strip_slices<T> - 1) / strip_slices<T>;
        }

        // Asks for the line of x, y (and the mask) at `at` in planned layout
        // when a batch at offset g of a strip starts one: the next row's, whose
        // start the hardware prefetchers would only find after a few misses.
        template <bool Masked, class T, class Label>
        void fetch_strip_line(const call_data<T, Label>& d, std::size_t at, std::size_t g)
        {
            if (g % (64 / sizeof(T)) == 0)
            {
                simd::prefetch_l2(d.x + at);
                if (d.y != d.x)
                {
                    simd::prefetch_l2(d.y + at);
                }
            }
            if constexpr (Masked)
            {
                if (g % 64 == 0)
                {
                    simd::prefetch_l2(d.mask + at);
                }
            }
        }

        // One row's element of `count` (up to W) neighbouring slices, from s on
        // (their index) at `at` in planned layout, added into value[0, count).
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        XLOSS_FLATTEN void run_strip_group(const call_data<T, Label>& d,
                                           const Options& opts,
                                           std::size_t at,
                                           std::size_t s,
                                           std::size_t count,
                                           const std::array<const T*, 2>& weight,
                                           T* value)
        {
            constexpr std::size_t W = simd::width<T>;
            using B = simd::batch<T>;
            const slices_in_lanes<T> slices(d, s, count);
            group<T> grp;
            grp.upstream = slices.upstream;
            for (std::size_t i = 0; i < 2; ++i)
            {
                grp.grad[i] = d.grad[i] ? d.grad[i] + at : nullptr;
            }
            const std::uint8_t* const mask = Masked ? d.mask + at : nullptr;
            // One element (n = 1) of each slice; the stride is not used.
            const std::size_t n = 1, stride = 1;
            column_lanes<T, Masked> lanes{d.x + at, d.y + at, mask, n, stride, count,
                                          slices.active, slices.selected, false, weight};
            lanes.weight_has_zero = d.weight_has_zero;
            const B v = simd::select(slices.active, Rule::template kernel<Grad>(lanes, grp, opts), B(T(0)));
            if (count == W)
            {
                simd::store(value, simd::load(value) + v);
            }
            else
            {
                simd::store_first(value, simd::load_first(value, count) + v, count);
            }
        }

        // Strips [first, last).
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        XLOSS_FLATTEN void run_strips(const layout& L, const call_data<T, Label>& d, const Options& opts,
                                      std::size_t first, std::size_t last)
        {
            static_assert(!takes_labels<Rule>, "strips carry no slice labels");
            constexpr std::size_t W = simd::width<T>;
            const std::size_t n = L.n;
            const std::size_t inner = L.inner;
            const std::size_t per_outer = strips_per_outer<T>(L);
            // A weight by class reads its k-th value in every lane of row k.
            alignas(64) std::array<std::array<T, W>, 2> class_weight{};
            for (std::size_t u = first; u < last; ++u)
            {
                const std::size_t o = u / per_outer;
                const std::size_t j0 = u % per_outer * strip_slices<T>;
                const std::size_t count = std::min(strip_slices<T>, inner - j0);
                const std::size_t s0 = o * inner + j0;
                T* const value = d.value + s0;
                std::fill(value, value + count, T(0));
                for (std::size_t k = 0; k < n; ++k)
                {
                    const std::size_t row = (o * n + k) * inner + j0;
                    for (std::size_t i = 0; i < 2; ++i)
                    {
                        if (d.weight[i] && d.weight_by_class[i])
                        {
                            class_weight[i].fill(d.weight[i][k]);
                        }
                    }
                    for (std::size_t g = 0; g < count; g += W)
                    {
                        if (k + 1 < n)
                        {
                            fetch_strip_line<Masked>(d, row + inner + g, g);
                        }
                        std::array<const T*, 2> weight{};
                        for (std::size_t i = 0; i < 2; ++i)
                        {
                            weight[i] = !d.weight[i]           ? nullptr
                                        : d.weight_by_class[i] ? class_weight[i].data()
                                                               : d.weight[i] + row + g;
                        }
                        run_strip_group<Rule, Grad, Masked>(d, opts, row + g, s0 + g, std::min(W, count - g),
                                                            weight, value + g);
                    }
                }
            }
        }

        // Whether the plan runs the column kernel on the caller's layout
        // (run_columns), where lanes read W neighbouring slices: weights by
        // class cannot be read there.
        template <class T>
        bool runs_on_columns(const layout& L)
        {
            return L.inner != 1 && L.n * simd::width<T> * sizeof(T) > tile_budget_bytes;
        }

        // Picks the kernel shape for the plan, and splits its units into parts
        // (one, unless the call is large and the build has threads). The kernel
        // shape depends on the whole layout, never on a part: each slice is
        // computed the same way for every split.
        template <class Rule, bool Grad, bool Masked, class T, class Label, class Options>
        void dispatch(const layout& L, const call_data<T, Label>& d, const Options& opts)
        {
            constexpr std::size_t W = simd::width<T>;
            const auto tiled = [&](std::size_t element_stride, std::size_t slice_stride)
            {
                const tiling tl = tiling::of<T>(L, element_stride, slice_stride);
                for_each_part(tl.tiles, tl.width * L.n,
                              [&](std::size_t first, std::size_t last)
                              { run_tiles<Rule, Grad, Masked>(L, d, opts, tl, first, last); });
            };
            // Not on the scalar fallback (W == 1): it is no fast path, and
            // comparing it with the SIMD backend (test_simd_vs_scalar, the
            // fuzzer) then checks streams against tiles, at no compile cost.
            if constexpr ((has_stream_form<Rule>::value || has_slice_sums<Rule>::value) && W > 1)
            {
                if (runs_as_streams<Rule, Grad, T>(L) && stream_form<Rule>::streams(opts))
                {
                    for_each_part(L.outer * streams_per_outer<T>(L), stream_slices<T> * L.n,
                                  [&](std::size_t first, std::size_t last)
                                  { run_streams<stream_form<Rule>, Grad, Masked>(L, d, opts, first, last); });
                    return;
                }
            }
            if constexpr (sums_element_terms<Rule>::value)
            {
                if (L.inner >= W)
                {
                    for_each_part(L.outer * strips_per_outer<T>(L), strip_slices<T> * L.n,
                                  [&](std::size_t first, std::size_t last)
                                  { run_strips<Rule, Grad, Masked>(L, d, opts, first, last); });
                    return;
                }
            }
            if (L.inner == 1)
            {
                // Short rows waste most of a batch and pay a horizontal
                // reduction per row: transpose them into tiles, up to a
                // length that depends on the rule (rule.hpp).
                if (tiles_rows<Rule>(L.n, W) && L.outer >= W)
                {
                    tiled(1, L.n);
                }
                else if constexpr (sums_element_terms<Rule>::value)
                {
                    for_each_part(L.outer, L.n,
                                  [&](std::size_t first, std::size_t last)
                                  { run_row_groups<Rule, Grad, Masked>(L, d, opts, first, last); });
                }
                else if constexpr (has_slice_sums<Rule>::value)
                {
                    if (L.n <= Rule::grouped_row_batches * W)
                    {
                        for_each_part(L.outer, L.n,
                                      [&](std::size_t first, std::size_t last)
                                      { run_sum_groups<Rule, Grad, Masked>(L, d, opts, first, last); });
                    }
                    else
                    {
                        for_each_part(L.outer, L.n,
                                      [&](std::size_t first, std::size_t last)
                                      { run_rows<Rule, Grad, Masked>(L, d, opts, first, last); });
                    }
                }
                else
                {
                    for_each_part(L.outer, L.n,
                                  [&](std::size_t first, std::size_t last)
                                  { run_rows<Rule, Grad, Masked>(L, d, opts, first, last); });
                }
            }
            else if (!runs_on_columns<T>(L))
            {
                tiled(L.inner, 1);
            }
            else
            {
                const std::size_t groups = L.outer * column_groups_per_outer<T>(L);
                for_each_part(groups, W * L.n,
                              [&](std::size_t first, std::size_t last)
                              { run_columns<Rule, Grad, Masked>(L, d, opts, first, last); });
            }
        }

        // MayMask: whether the call has a `where` at all (without one, the
        // masked kernels are not instantiated).
        template <class Rule, bool Grad, bool MayMask, class T, class Label, class Options>
        void run(const layout& L, const call_data<T, Label>& d, const Options& opts)
        {
            if (L.size() == 0)
            {
                // Empty slices (or no slices): every result is 0.
                std::fill(d.value, d.value + L.slices(), T(0));
                return;
            }
            if constexpr (MayMask)
            {
                if (d.mask)
                {
                    dispatch<Rule, Grad, true>(L, d, opts);
                    return;
                }
            }
            dispatch<Rule, Grad, false>(L, d, opts);
        }
    }
XLOSS_NAMESPACE_END

#endif

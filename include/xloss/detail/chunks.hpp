// Inputs that are not read in place (lazy expressions, views with gaps,
// broadcast operands) without an input-sized temporary: the call runs a
// chunk of its planned layout's first axis at a time, each input of the
// chunk evaluated into a buffer of about input_chunk_bytes first.
//
// A chunk is whole slices (the first axis is not reduced) and a call of its
// own for the kernels, with at least W slices, so that it takes the kernel
// shapes the whole call would (schedule.hpp's dispatch): the results are
// those of the same values in a container, bit for bit.
#ifndef XLOSS_DETAIL_CHUNKS_HPP
#define XLOSS_DETAIL_CHUNKS_HPP

#include "../config.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xview.hpp>

#include "plan.hpp"
#include "schedule.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        // Per input: a quarter of a typical L2, so that the kernels read the
        // chunk back from cache.
        inline constexpr std::size_t input_chunk_bytes = 256 * 1024;

        // How a call is cut along its first axis (of extent `extent`, each
        // index `elements` elements and `slices` slices); per_chunk = 0: it is
        // not, the inputs are planned whole (plan_inputs).
        struct chunking
        {
            std::size_t extent = 0;
            std::size_t per_chunk = 0;
            std::size_t elements = 0;
            std::size_t slices = 0;

            explicit operator bool() const
            {
                return per_chunk != 0;
            }
        };

        // Chunks, when an input would otherwise be evaluated whole, the layout
        // is not permuted (the first axis is the caller's) and that axis is
        // not reduced, and the call is larger than one chunk.
        template <class T, bool Labels, class X, class Y>
        chunking plan_chunks(const X& x, const Y& y, const layout& L)
        {
            const std::size_t budget = input_chunk_bytes / sizeof(T);
            const bool first_reduced = !L.reduced.empty() && L.reduced.front() == 0;
            // The cheap tests first: small calls (most of them) stop here.
            if (L.size() <= budget || !L.perm.empty() || first_reduced)
            {
                return {};
            }
            bool in_place_both = in_place<T>(x, L.full, L.perm) != nullptr;
            if constexpr (!Labels)
            {
                in_place_both = in_place_both && in_place<T>(y, L.full, L.perm) != nullptr;
            }
            if (in_place_both)
            {
                return {};
            }
            const std::size_t extent = L.full[0];
            const std::size_t elements = L.size() / extent;
            const std::size_t slices = L.slices() / extent;
            const std::size_t W = simd::width<T>;
            const std::size_t per_chunk = std::max(
                {std::size_t(1), (budget + elements - 1) / elements, (W + slices - 1) / slices});
            if (per_chunk >= extent)
            {
                return {};
            }
            return {extent, per_chunk, elements, slices};
        }

        // Whether E offers xtensor's linear (flat, row-major) element access.
        template <class E, class = void>
        struct iterates_linearly : std::false_type
        {
        };

        template <class E>
        struct iterates_linearly<E,
                                 std::void_t<decltype(std::declval<const E&>().data_element(std::size_t(0))),
                                             decltype(std::declval<const E&>().has_linear_assign(
                                                 std::declval<const xt::dynamic_shape<std::ptrdiff_t>&>()))>>
            : std::true_type
        {
        };

        // One input of a chunked call: read in place, or evaluated a chunk at a
        // time into its buffer. An expression of the full shape whose operands
        // are all row-major (what xtensor would assign linearly) is read as one
        // flat range; broadcasts and views with gaps through xt::view.
        template <class T, class E>
        struct chunked_input
        {
            const E& e;
            const layout& L;
            const chunking& ch;
            const T* whole;  // null: evaluated per chunk
            bool broadcast;  // e's shape is not the full shape
            bool flat = false;
            std::vector<T> buffer;

            chunked_input(const E& input, const layout& planned, const chunking& chunks)
                : e(input)
                , L(planned)
                , ch(chunks)
                , whole(in_place<T>(input, planned.full, planned.perm))
                , broadcast(shape_of(input) != planned.full)
            {
                if (whole)
                {
                    return;
                }
                buffer.resize(ch.per_chunk * ch.elements);
                if constexpr (iterates_linearly<E>::value)
                {
                    xt::dynamic_shape<std::ptrdiff_t> strides(L.full.size());
                    xt::compute_strides(L.full, xt::layout_type::row_major, strides);
                    flat = !broadcast && e.has_linear_assign(strides);
                }
            }

            // Indices [i0, i1) of the first axis, broadcast to the full shape.
            const T* chunk(std::size_t i0, std::size_t i1)
            {
                const std::size_t e0 = i0 * ch.elements;
                const std::size_t count = (i1 - i0) * ch.elements;
                if (whole)
                {
                    return whole + e0;
                }
                if constexpr (iterates_linearly<E>::value)
                {
                    if (flat)
                    {
                        // Indexed (data_element): faster here than copying from the
                        // linear iterators, which carry every operand's position.
                        for (std::size_t i = 0; i < count; ++i)
                        {
                            buffer[i] = static_cast<T>(e.data_element(e0 + i));
                        }
                        return buffer.data();
                    }
                }
                shape_type shape = L.full;
                shape[0] = i1 - i0;
                auto into = xt::adapt(buffer.data(), count, xt::no_ownership(), shape);
                if (broadcast)
                {
                    xt::noalias(into) = xt::view(xt::broadcast(e, L.full), xt::range(i0, i1));
                }
                else
                {
                    xt::noalias(into) = xt::view(e, xt::range(i0, i1));
                }
                return buffer.data();
            }
        };

        // run() chunk by chunk: d holds every planned array but x (and y),
        // which come from the chunks.
        template <class Rule, bool Grad, bool MayMask, class T, class Label, class X, class Y, class Options>
        void run_in_chunks(const X& x,
                           const Y& y,
                           const layout& L,
                           const call_data<T, Label>& d,
                           const Options& opts,
                           const chunking& ch)
        {
            chunked_input<T, X> xs(x, L, ch);
            std::optional<chunked_input<T, Y>> ys;
            if constexpr (!takes_labels<Rule>)
            {
                ys.emplace(y, L, ch);
            }
            for (std::size_t i0 = 0; i0 < ch.extent; i0 += ch.per_chunk)
            {
                const std::size_t i1 = std::min(ch.extent, i0 + ch.per_chunk);
                const std::size_t e0 = i0 * ch.elements;
                const std::size_t s0 = i0 * ch.slices;
                // The first axis is outer's first factor, or inner's when no axis
                // is reduced (every element its own slice: outer and n are 1).
                layout part = L;
                if (L.reduced.empty())
                {
                    part.inner = (i1 - i0) * ch.elements;
                }
                else
                {
                    part.outer = (i1 - i0) * (L.outer / ch.extent);
                }
                call_data<T, Label> c = d;
                c.x = xs.chunk(i0, i1);
                c.y = ys ? ys->chunk(i0, i1) : c.x;
                c.mask = d.mask ? d.mask + e0 : nullptr;
                c.slice_mask = d.slice_mask ? d.slice_mask + s0 : nullptr;
                c.labels = d.labels ? d.labels + s0 : nullptr;
                c.upstream = d.upstream ? d.upstream + s0 : nullptr;
                c.value = d.value + s0;
                for (std::size_t i = 0; i < 2; ++i)
                {
                    c.grad[i] = d.grad[i] ? d.grad[i] + e0 : nullptr;
                    c.weight[i] = d.weight[i] && !d.weight_by_class[i] ? d.weight[i] + e0 : d.weight[i];
                }
                run<Rule, Grad, MayMask>(part, c, opts);
            }
        }
    }
XLOSS_NAMESPACE_END

#endif

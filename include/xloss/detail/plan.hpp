// From user arguments to a plan the kernels can run: check and normalise the
// axes, broadcast the shapes, read the mask by rank, and lay the work out as
// [outer, reduced, inner] over contiguous row-major buffers. And back: a
// gradient computed in planned layout is permuted and summed down to its
// input's shape (unplan).
//
// Inputs already in that layout are read in place: contiguous containers
// of the right value type and full shape whose memory order (row-major,
// column-major, a transposed view: the axes by decreasing stride) keeps the
// reduced axes adjacent and the other axes in order. Anything else (views
// with gaps, lazy expressions, broadcasting operands, reduced axes apart in
// memory) is evaluated once into a contiguous temporary, as xtensor's own
// sort does for non-leading axes, unless the call runs chunk by chunk
// (chunks.hpp).
#ifndef XLOSS_DETAIL_PLAN_HPP
#define XLOSS_DETAIL_PLAN_HPP

#include "../config.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <optional>
#include <type_traits>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xstrided_view.hpp>

#include "../axes.hpp"
#include "errors.hpp"
#include "permute.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        // Shapes and axis lists. Up to rank 8 they live inside the object: a
        // call's plan allocates nothing.
        using shape_type = xt::svector<std::size_t, 8>;
        using flags_type = xt::svector<bool, 8>;

        template <class E>
        shape_type shape_of(const E& e)
        {
            return shape_type(e.shape().begin(), e.shape().end());
        }

        inline std::size_t product(const shape_type& s, std::size_t first, std::size_t last)
        {
            std::size_t p = 1;
            for (std::size_t i = first; i < last; ++i)
            {
                p *= s[i];
            }
            return p;
        }

        // NumPy broadcasting; false when the shapes are incompatible.
        inline bool broadcast_shapes(const shape_type& a, const shape_type& b, shape_type& out)
        {
            const std::size_t rank = std::max(a.size(), b.size());
            out.assign(rank, 1);
            for (std::size_t i = 0; i < rank; ++i)
            {
                const std::size_t ea = i < a.size() ? a[a.size() - 1 - i] : 1;
                const std::size_t eb = i < b.size() ? b[b.size() - 1 - i] : 1;
                if (ea != eb && ea != 1 && eb != 1)
                {
                    return false;
                }
                out[rank - 1 - i] = ea == 1 ? eb : ea;
            }
            return true;
        }

        // True when `from` broadcasts to exactly `to`.
        inline bool broadcasts_to(const shape_type& from, const shape_type& to)
        {
            shape_type out;
            return from.size() <= to.size() && broadcast_shapes(from, to, out) && out == to;
        }

        // The reduction laid out as [outer, n, inner] over a row-major buffer of
        // the full shape permuted by `perm` (empty when no permutation is needed).
        struct layout
        {
            shape_type full;                   // broadcast input shape
            shape_type reduced;                // reduced axes, in slice order
            shape_type perm;                   // planned axis order (see make_layout); empty: identity
            shape_type batch;                  // result shape: full without the reduced axes
            std::size_t outer = 1;
            std::size_t n = 1;      // elements per slice
            std::size_t inner = 1;  // distance between consecutive elements of a slice

            std::size_t size() const
            {
                return outer * n * inner;
            }
            std::size_t slices() const
            {
                return outer * inner;
            }
            shape_type planned_shape() const
            {
                return perm.empty() ? full : permuted(full, perm);
            }
        };

        // The reduced axes of `request` for an input of rank `rank`, checked
        // (in range, not repeated) and normalised to non-negative. With
        // `listed_order` they keep the order they were given in (integer labels
        // index the slice flattened in that order); otherwise ascending.
        inline shape_type reduced_axes(const char* function,
                                                     std::size_t rank,
                                                     const axis_request& request,
                                                     bool listed_order)
        {
            shape_type reduced;
            if (request.all)
            {
                for (std::size_t a = 0; a < rank; ++a)
                {
                    reduced.push_back(a);
                }
                return reduced;
            }
            flags_type seen(rank, false);
            for (const listed_axis& axis : request.axes)
            {
                const char* sign = axis.negative ? "-" : "";
                if (axis.negative ? axis.magnitude > rank : axis.magnitude >= rank)
                {
                    throw_invalid_argument(function, "axis ", sign, axis.magnitude,
                                           " is out of range for an input of rank ", rank);
                }
                const auto a = static_cast<std::size_t>(axis.negative ? rank - axis.magnitude
                                                                      : axis.magnitude);
                if (seen[a])
                {
                    throw_invalid_argument(function, "axis ", sign, axis.magnitude,
                                           " is repeated (input of rank ", rank, ")");
                }
                seen[a] = true;
                reduced.push_back(a);
            }
            if (!listed_order)
            {
                std::sort(reduced.begin(), reduced.end());
            }
            return reduced;
        }

        // outer, n, inner (and perm) of L, whose full shape, reduced axes and
        // batch are set; batch_axes are the axes that are not reduced.
        inline void lay_out_slices(layout& L, const shape_type& batch_axes)
        {
            const std::size_t rank = L.full.size();
            const std::size_t k = L.reduced.size();
            if (k == 0)
            {
                // Elementwise: every element is its own slice; slices are adjacent,
                // so the column kernel runs across them.
                L.inner = product(L.full, 0, rank);
                return;
            }
            bool adjacent = true;
            for (std::size_t i = 1; i < k; ++i)
            {
                adjacent = adjacent && L.reduced[i] == L.reduced[0] + i;
            }
            if (adjacent)
            {
                const std::size_t first = L.reduced[0];
                L.outer = product(L.full, 0, first);
                L.n = product(L.full, first, first + k);
                L.inner = product(L.full, first + k, rank);
                return;
            }
            // Not adjacent (or listed out of order): batch axes first, then the
            // reduced ones, each slice one contiguous row.
            L.perm = batch_axes;
            L.perm.insert(L.perm.end(), L.reduced.begin(), L.reduced.end());
            L.outer = product(L.batch, 0, L.batch.size());
            for (auto a : L.reduced)
            {
                L.n *= L.full[a];
            }
        }

        // Lays the slices out along `memory` (the first input's axes from the
        // outermost in memory, as memory_order gives), when that reads them in
        // place: the reduced axes adjacent there (in the listed order when it
        // matters) and the other axes in their own order, so that slice s is
        // still the s-th of the batch shape. False otherwise.
        inline bool lay_out_along(layout& L, const shape_type& memory, bool listed_order)
        {
            const std::size_t k = L.reduced.size();
            const auto is_reduced = [&](std::size_t a)
            { return std::find(L.reduced.begin(), L.reduced.end(), a) != L.reduced.end(); };
            std::size_t first = memory.size();
            shape_type in_memory;      // the reduced axes, in memory order
            std::size_t last_batch = 0;
            bool batch_in_order = true, seen_batch = false;
            for (std::size_t i = 0; i < memory.size(); ++i)
            {
                const std::size_t a = memory[i];
                if (is_reduced(a))
                {
                    first = std::min(first, i);
                    in_memory.push_back(a);
                }
                else
                {
                    batch_in_order = batch_in_order && (!seen_batch || a > last_batch);
                    last_batch = a;
                    seen_batch = true;
                }
            }
            const bool adjacent = k == 0 || std::all_of(memory.begin() + static_cast<std::ptrdiff_t>(first),
                                                        memory.begin() + static_cast<std::ptrdiff_t>(first + k),
                                                        is_reduced);
            if (k == 0 || !batch_in_order || !adjacent || (listed_order && in_memory != L.reduced))
            {
                return false;
            }
            L.reduced = in_memory;  // the slice order
            L.perm = memory;
            const shape_type planned = L.planned_shape();
            L.outer = product(planned, 0, first);
            L.n = product(planned, first, first + k);
            L.inner = product(planned, first + k, planned.size());
            return true;
        }

        // Checks the axes against the rank and lays the work out (see
        // reduced_axes for `listed_order`; memory_order for `memory`, empty
        // for row-major).
        inline layout make_layout(const char* function,
                                  shape_type full,
                                  const axis_request& request,
                                  bool listed_order,
                                  const shape_type& memory = {})
        {
            layout L;
            const std::size_t rank = full.size();
            L.reduced = reduced_axes(function, rank, request, listed_order);
            flags_type is_reduced(rank, false);
            for (auto a : L.reduced)
            {
                is_reduced[a] = true;
            }
            shape_type batch_axes;
            for (std::size_t a = 0; a < rank; ++a)
            {
                if (!is_reduced[a])
                {
                    batch_axes.push_back(a);
                    L.batch.push_back(full[a]);
                }
            }
            L.full = std::move(full);
            if (memory.empty() || !lay_out_along(L, memory, listed_order))
            {
                lay_out_slices(L, batch_axes);
            }
            return L;
        }

        // An empty container of shape {0}: unlike a default-constructed
        // xt::xarray (0-d, one element), it holds no heap memory.
        template <class T>
        xt::xarray<T> no_array()
        {
            return xt::xarray<T>::from_shape({0});
        }

        // A buffer in planned layout: either the caller's memory, or ours
        // (constructed only when needed: an xarray is not cheap to construct).
        template <class T>
        struct planned_buffer
        {
            const T* data = nullptr;
            std::optional<xt::xarray<T>> owned;
        };

        // Contiguous with the given shape, its axes laid out in memory in the
        // order `order` (outermost first; empty: row-major), starting at
        // data() + data_offset(). Extent-1 axes may have any stride.
        template <class E>
        bool is_contiguous_in_order(const E& e, const shape_type& shape, const shape_type& order)
        {
            if constexpr (xt::has_data_interface<E>::value)
            {
                if (shape_of(e) != shape)
                {
                    return false;
                }
                std::ptrdiff_t expected = 1;
                for (std::size_t i = shape.size(); i-- > 0;)
                {
                    const std::size_t a = order.empty() ? i : order[i];
                    if (shape[a] != 1 && static_cast<std::ptrdiff_t>(e.strides()[a]) != expected)
                    {
                        return false;
                    }
                    expected *= static_cast<std::ptrdiff_t>(shape[a]);
                }
                return true;
            }
            else
            {
                return false;
            }
        }

        template <class E>
        bool is_contiguous_row_major(const E& e, const shape_type& shape)
        {
            return is_contiguous_in_order(e, shape, {});
        }

        // The axes of a contiguous container or view in memory order
        // (decreasing stride; an extent-1 axis, whose stride says nothing,
        // right after the axis before it), when that is not row-major:
        // column-major containers, transposed or permuted views. Empty for
        // row-major, gaps, or no memory of its own.
        template <class E>
        shape_type memory_order(const E& e)
        {
            if constexpr (xt::has_data_interface<E>::value)
            {
                const shape_type shape = shape_of(e);
                if (is_contiguous_row_major(e, shape))
                {
                    return {};
                }
                const std::size_t rank = shape.size();
                shape_type sized;  // axes of extent > 1, by decreasing stride
                for (std::size_t a = 0; a < rank; ++a)
                {
                    if (shape[a] != 1)
                    {
                        sized.push_back(a);
                    }
                }
                std::stable_sort(sized.begin(), sized.end(),
                                 [&](std::size_t a, std::size_t b) { return e.strides()[a] > e.strides()[b]; });
                // Each extent-1 axis follows its nearest sized predecessor
                // (rank: none, it goes first).
                shape_type anchor(rank, rank);
                for (std::size_t a = 1; a < rank; ++a)
                {
                    anchor[a] = shape[a - 1] != 1 ? a - 1 : anchor[a - 1];
                }
                shape_type order;
                const auto push_followers = [&](std::size_t after)
                {
                    for (std::size_t a = 0; a < rank; ++a)
                    {
                        if (shape[a] == 1 && anchor[a] == after)
                        {
                            order.push_back(a);
                        }
                    }
                };
                push_followers(rank);
                for (const std::size_t a : sized)
                {
                    order.push_back(a);
                    push_followers(a);
                }
                if (is_contiguous_in_order(e, shape, order))
                {
                    return order;
                }
            }
            return {};
        }

        // e's first element, when e already is the planned buffer plan_buffer
        // would make (of value type T, contiguous in the planned order); null
        // otherwise.
        template <class T, class E>
        const T* in_place(const E& e, const shape_type& target, const shape_type& perm)
        {
            if constexpr (std::is_same_v<typename E::value_type, T> && xt::has_data_interface<E>::value)
            {
                if (is_contiguous_in_order(e, target, perm))
                {
                    return e.data() + e.data_offset();
                }
            }
            return nullptr;
        }

        // Evaluates `e` broadcast to `target` (and permuted by `perm` if not
        // empty) into a contiguous row-major buffer of value type T, unless it
        // already is one.
        template <class T, class E>
        planned_buffer<T> plan_buffer(const E& e,
                                      const shape_type& target,
                                      const shape_type& perm)
        {
            planned_buffer<T> b;
            b.data = in_place<T>(e, target, perm);
            if (b.data)
            {
                return b;
            }
            if (perm.empty())
            {
                b.owned.emplace(xt::broadcast(e, target));
            }
            else
            {
                const xt::xarray<T> full = xt::broadcast(e, target);
                b.owned.emplace(xt::xarray<T>::from_shape(permuted(target, perm)));
                copy_permuted(full.data(), target, perm, b.owned->data());
            }
            b.data = b.owned->data();
            return b;
        }

        // Masks are read as bytes (0 or 1); a contiguous bool container is used
        // in place, anything else (integral masks included) is evaluated to 0/1.
        struct planned_mask
        {
            const std::uint8_t* data = nullptr;
            std::optional<xt::xarray<std::uint8_t>> owned;
        };

        template <class E>
        planned_mask plan_mask_buffer(const E& e,
                                      const shape_type& target,
                                      const shape_type& perm)
        {
            planned_mask m;
            using value_type = typename E::value_type;
            static_assert(std::is_integral_v<value_type>,
                          "xloss: a where mask must hold bool (or integral) values");
            if constexpr (std::is_same_v<value_type, bool> && sizeof(bool) == 1
                          && xt::has_data_interface<E>::value)
            {
                if (is_contiguous_in_order(e, target, perm))
                {
                    // A bool object is one byte holding 0 or 1; reading it through
                    // unsigned char is allowed by the aliasing rules.
                    m.data = reinterpret_cast<const std::uint8_t*>(e.data() + e.data_offset());
                    return m;
                }
            }
            auto as_bytes = xt::cast<std::uint8_t>(xt::not_equal(e, value_type(0)));
            if (perm.empty())
            {
                m.owned.emplace(xt::broadcast(as_bytes, target));
            }
            else
            {
                const xt::xarray<std::uint8_t> full = xt::broadcast(as_bytes, target);
                m.owned.emplace(xt::xarray<std::uint8_t>::from_shape(permuted(target, perm)));
                copy_permuted(full.data(), target, perm, m.owned->data());
            }
            m.data = m.owned->data();
            return m;
        }

        // An all-true mask selects what no mask selects: it is dropped, so that
        // the call runs the unmasked kernels (which do not read it) and gives
        // bitwise the unmasked result. The masked kernels select before they
        // accumulate, which changes where the compiler may contract a multiply
        // and an add into one FMA: kept, an all-true mask would differ from no
        // mask in the last bits on some targets. The scan stops at the first 0.
        inline void drop_if_all_true(planned_mask& m, std::size_t size)
        {
            if (m.data && std::memchr(m.data, 0, size) == nullptr)
            {
                m.data = nullptr;
            }
        }

        // The mask, read by rank: the input's rank masks elements, the batch rank
        // masks whole slices.
        struct mask_plan
        {
            planned_mask elements;  // planned full layout, or null
            planned_mask slices;    // batch layout, or null
        };

        template <class W>
        mask_plan plan_mask(const char* function, const W& where, const layout& L)
        {
            mask_plan p;
            const shape_type w = shape_of(where);
            if (w.size() == L.full.size())
            {
                if (!broadcasts_to(w, L.full))
                {
                    throw_invalid_argument(function, "where of shape ", show(w),
                                           " does not broadcast to the input shape ", show(L.full));
                }
                p.elements = plan_mask_buffer(where, L.full, L.perm);
                drop_if_all_true(p.elements, L.size());
            }
            else if (w.size() == L.batch.size())
            {
                if (!broadcasts_to(w, L.batch))
                {
                    throw_invalid_argument(function, "where of shape ", show(w),
                                           " does not broadcast to the batch shape ", show(L.batch),
                                           " of the input shape ", show(L.full));
                }
                p.slices = plan_mask_buffer(where, L.batch, {});
                drop_if_all_true(p.slices, L.slices());
            }
            else
            {
                throw_invalid_argument(function, "where of shape ", show(w), " has rank ", w.size(),
                                       "; it must have the input's rank (", L.full.size(), ", shape ",
                                       show(L.full), ") or the batch rank (", L.batch.size(), ", shape ",
                                       show(L.batch), ")");
            }
            return p;
        }

        // ---------------------------------------------------------------------
        // The way back, for gradients.

        // Gradients are as large as the inputs and written once, so first-touch
        // page faults are a large share of their cost on virtual machines. Where
        // Linux offers transparent huge pages on request, ask for them on the
        // untouched buffer: 512 times fewer faults.
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

        // A buffer for a gradient output.
        template <class T>
        xt::xarray<T> output_buffer(const shape_type& shape)
        {
            xt::xarray<T> out = xt::xarray<T>::from_shape(shape);
            advise_huge_pages(out.data(), out.size() * sizeof(T));
            return out;
        }

        // A buffer of the planned full shape for a gradient output.
        template <class T>
        xt::xarray<T> planned_output(const layout& L)
        {
            return output_buffer<T>(L.planned_shape());
        }

        inline shape_type inverse_permutation(const shape_type& perm)
        {
            shape_type inverse(perm.size());
            for (std::size_t a = 0; a < perm.size(); ++a)
            {
                inverse[perm[a]] = a;
            }
            return inverse;
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
            shape_type stride(rank, 0);
            std::size_t step = 1;
            for (std::size_t a = rank; a-- > lead;)
            {
                const std::size_t extent = input_shape[a - lead];
                stride[a] = extent == 1 ? 0 : step;
                step *= extent;
            }
            shape_type index(rank, 0);
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

        // A gradient in planned layout, back in the caller's: undo the
        // permutation, then sum over the axes the input was broadcast along.
        template <class T>
        xt::xarray<T> unplan(xt::xarray<T>&& g, const layout& L, const shape_type& input_shape)
        {
            if (!L.perm.empty())
            {
                const shape_type inverse = inverse_permutation(L.perm);
                const shape_type planned = L.planned_shape();
                xt::xarray<T> unpermuted = output_buffer<T>(permuted(planned, inverse));
                copy_permuted(g.data(), planned, inverse, unpermuted.data());
                g = std::move(unpermuted);
            }
            return unbroadcast(std::move(g), input_shape);
        }
    }
XLOSS_NAMESPACE_END

#endif

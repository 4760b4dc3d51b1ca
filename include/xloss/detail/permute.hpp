// Copies a row-major buffer into the row-major buffer of its axes permuted
// (what xt::transpose(e, perm) evaluates to), tile by tile: xtensor 0.24.3
// assigns a transposed view element by element through its index stepper,
// 13-19 ns per element here, which made value_and_grad of a column-major
// input cost 10-40x its row-major call.
#ifndef XLOSS_DETAIL_PERMUTE_HPP
#define XLOSS_DETAIL_PERMUTE_HPP

#include "../config.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <xtensor/xstorage.hpp>

#include "simd.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        // Shapes, strides and permutations (plan.hpp's shape_type).
        using index_list = xt::svector<std::size_t, 8>;

        // The shape of `from_shape` with its axes permuted: axis a is perm[a].
        inline index_list permuted(const index_list& from_shape, const index_list& perm)
        {
            index_list to;
            for (const std::size_t a : perm)
            {
                to.push_back(from_shape[a]);
            }
            return to;
        }

        // The axes of a permuted copy, in destination order: extents and the
        // source's strides (in elements), axes of one element left out and
        // neighbours contiguous in both buffers merged.
        struct copy_axes
        {
            index_list extent;
            index_list from_stride;
            index_list to_stride;

            copy_axes(const index_list& from_shape, const index_list& perm)
            {
                index_list row_stride(from_shape.size());
                std::size_t s = 1;
                for (std::size_t a = from_shape.size(); a-- > 0;)
                {
                    row_stride[a] = s;
                    s *= from_shape[a];
                }
                for (const std::size_t a : perm)
                {
                    if (from_shape[a] == 1)
                    {
                        continue;
                    }
                    if (!extent.empty() && from_stride.back() == row_stride[a] * from_shape[a])
                    {
                        extent.back() *= from_shape[a];
                        from_stride.back() = row_stride[a];
                        continue;
                    }
                    extent.push_back(from_shape[a]);
                    from_stride.push_back(row_stride[a]);
                }
                to_stride.resize(extent.size());
                s = 1;
                for (std::size_t a = extent.size(); a-- > 0;)
                {
                    to_stride[a] = s;
                    s *= extent[a];
                }
            }
        };

        // Calls f(from_offset, to_offset) for every index of the axes `axes`
        // marks true, in row-major order of the destination.
        template <class F>
        void for_each_index(const copy_axes& c, const xt::svector<bool, 8>& axes, const F& f)
        {
            const std::size_t rank = c.extent.size();
            index_list index(rank, 0);
            std::size_t from = 0, to = 0;
            while (true)
            {
                f(from, to);
                std::size_t a = rank;
                while (a-- > 0)
                {
                    if (!axes[a])
                    {
                        continue;
                    }
                    if (++index[a] < c.extent[a])
                    {
                        from += c.from_stride[a];
                        to += c.to_stride[a];
                        break;
                    }
                    from -= (c.extent[a] - 1) * c.from_stride[a];
                    to -= (c.extent[a] - 1) * c.to_stride[a];
                    index[a] = 0;
                }
                if (a == std::size_t(-1))
                {
                    return;
                }
            }
        }

        // to = from with its axes permuted: axis a of `to` is axis perm[a] of
        // `from` (row-major, shape from_shape).
        template <class T>
        void copy_permuted(const T* from, const index_list& from_shape, const index_list& perm, T* to)
        {
            if (std::find(from_shape.begin(), from_shape.end(), std::size_t(0)) != from_shape.end())
            {
                return;
            }
            const copy_axes c(from_shape, perm);
            const std::size_t rank = c.extent.size();
            if (rank == 0 || c.from_stride.back() == 1)
            {
                // Rows contiguous on both sides.
                const std::size_t row = rank == 0 ? 1 : c.extent.back();
                xt::svector<bool, 8> outer(rank, true);
                if (rank != 0)
                {
                    outer.back() = false;
                }
                for_each_index(c, outer,
                               [&](std::size_t f, std::size_t t)
                               { std::memcpy(to + t, from + f, row * sizeof(T)); });
                return;
            }
            // Axis b is contiguous in `from`, the last one in `to`: tiles of
            // `across` elements of b by `along` of the last axis, in 4 x 4
            // (floats) block transposes. 32 x 32: 0.5-0.7 ns per float element
            // on [4096, 1000] and [65536, 64] against 0.7-1.3 for 16 x 16,
            // 64 x 8 or 32 x 16, and 1.0-1.6 element by element.
            const std::size_t b = static_cast<std::size_t>(
                std::find(c.from_stride.begin(), c.from_stride.end(), std::size_t(1))
                - c.from_stride.begin());
            const std::size_t last = rank - 1;
            const std::size_t nb = c.extent[b], nl = c.extent[last];
            const std::size_t from_l = c.from_stride[last], to_b = c.to_stride[b];
            constexpr std::size_t across = 32, along = 32;
            xt::svector<bool, 8> outer(rank, true);
            outer[b] = outer[last] = false;
            constexpr std::size_t B = simd::transpose_block<T>;
            // Element by element over [i0, i1) x [j0, j1).
            const auto elements = [&](std::size_t f, std::size_t t, std::size_t i0, std::size_t i1,
                                      std::size_t j0, std::size_t j1)
            {
                for (std::size_t i = i0; i < i1; ++i)
                {
                    for (std::size_t j = j0; j < j1; ++j)
                    {
                        to[t + i * to_b + j] = from[f + i + j * from_l];
                    }
                }
            };
            for_each_index(c, outer,
                           [&](std::size_t f, std::size_t t)
                           {
                               for (std::size_t i0 = 0; i0 < nb; i0 += across)
                               {
                                   const std::size_t i1 = std::min(nb, i0 + across);
                                   const std::size_t i_whole = B > 1 ? i0 + (i1 - i0) / B * B : i0;
                                   for (std::size_t j0 = 0; j0 < nl; j0 += along)
                                   {
                                       const std::size_t j1 = std::min(nl, j0 + along);
                                       const std::size_t j_whole = B > 1 ? j0 + (j1 - j0) / B * B : j0;
                                       if constexpr (B > 1)
                                       {
                                           for (std::size_t i = i0; i < i_whole; i += B)
                                           {
                                               for (std::size_t j = j0; j < j_whole; j += B)
                                               {
                                                   simd::transpose_square(from + f + i + j * from_l, from_l,
                                                                          to + t + i * to_b + j, to_b);
                                               }
                                           }
                                       }
                                       elements(f, t, i0, i1, j_whole, j1);
                                       elements(f, t, i_whole, i1, j0, j_whole);
                                   }
                               }
                           });
        }
    }
XLOSS_NAMESPACE_END

#endif

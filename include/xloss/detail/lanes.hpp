// The two kernel shapes. A loss is written once against "lanes": W values
// processed together, each lane accumulating its own partial results.
//
//   row_lanes     one slice whose elements are contiguous (reducing the
//                 innermost axis): the W lanes are W neighbouring elements of
//                 the same slice, folded together at the end (one horizontal
//                 add per slice, outside the hot loop).
//   row_partials  row_lanes whose per-slice sums are left in the lanes, for
//                 the engine to add up W rows at once.
//   column_lanes  W slices side by side (reducing an outer axis with a
//                 contiguous inner extent, e.g. NCHW with axis = 1, or short
//                 rows transposed into a local block): lane l holds slice l,
//                 whose k-th element sits at k * stride + l. No horizontal work.
//
// Both give the loss the same things: for_each over element batches (with a
// batch_bool of the elements that take part; for_each_fetching_next also
// prefetches the next slice where there is one), sum/max to fold lane
// partials into per-slice values, store to write a gradient batch at the
// position for_each reported (load_back reads it again), and offset_of to
// find one slice's k-th element.
#ifndef XLOSS_DETAIL_LANES_HPP
#define XLOSS_DETAIL_LANES_HPP

#include "../config.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

#include "simd.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        // Where a batch sits in the lanes' coordinates, and how many of its
        // lanes are real (the rest is padding at a tail).
        struct position
        {
            std::size_t offset;
            std::size_t count;
        };

        // A gradient batch written at `at`: W contiguous values, or the first
        // at.count of them at a tail.
        template <class T>
        void store_at(T* out, position at, const simd::batch<T>& v)
        {
            constexpr std::size_t W = simd::width<T>;
            if (at.count == W)
            {
                simd::store(out + at.offset, v);
                return;
            }
            simd::store_first(out + at.offset, v, at.count);
        }

        // What store_at wrote at `at` (lanes past at.count read as 0).
        template <class T>
        simd::batch<T> load_at(const T* from, position at)
        {
            constexpr std::size_t W = simd::width<T>;
            if (at.count == W)
            {
                return simd::load(from + at.offset);
            }
            return simd::load_first(from + at.offset, at.count);
        }

        // Asks for the cache line of x[at], and of y[at] when y is another input.
        template <class T>
        XLOSS_ALWAYS_INLINE void fetch_ahead(const T* x, const T* y, std::size_t at)
        {
            simd::prefetch_l2(x + at);
            if (y != x)
            {
                simd::prefetch_l2(y + at);
            }
        }

        template <class T, bool Masked>
        struct row_lanes
        {
            using value_type = T;
            using batch = simd::batch<T>;
            using batch_bool = simd::batch_bool<T>;
            static constexpr std::size_t W = simd::width<T>;

            const T* x;
            const T* y;                // same as x when the loss has no second floating input
            const std::uint8_t* mask;  // element mask, or null when !Masked
            std::size_t n;
            std::size_t next = 0;  // elements from this slice to the next, 0: none to fetch
            std::array<const T*, 2> weights{nullptr, nullptr};  // a rule's weight arrays, null: none
            // Whether weight array i holds a zero anywhere (a rule may then need
            // to keep 0 * inf out of its sums; without zeros it can skip that).
            std::array<bool, 2> weight_has_zero{true, true};

            // The batch of weight array i at `at` (ones when not given; lanes past
            // at.count read as 0 and are not valid).
            batch weight(std::size_t i, position at) const
            {
                return weights[i] ? load_at(weights[i], at) : batch(T(1));
            }

            // Calls f(x, y, valid, position) for each batch of the slice. The tail
            // is loaded masked into a zero-padded batch: nothing is read past the end.
            template <class F>
            XLOSS_KERNEL_INLINE void for_each(F&& f) const
            {
                std::size_t i = 0;
                for (; i + W <= n; i += W)
                {
                    batch_bool valid(true);
                    if constexpr (Masked)
                    {
                        valid = simd::load_mask<T>(mask + i);
                    }
                    f(simd::load(x + i), simd::load(y + i), valid, position{i, W});
                }
                if (i < n)
                {
                    const std::size_t c = n - i;
                    batch_bool valid = simd::first_lanes<T>(c);
                    if constexpr (Masked)
                    {
                        valid = valid && simd::load_mask_first<T>(mask + i, c);
                    }
                    f(simd::load_first(x + i, c), simd::load_first(y + i, c), valid, position{i, c});
                }
            }

            // for_each that also asks for the next slice's cache lines. A
            // two-pass loss calls it in its pass that reads this slice from cache
            // and does the heavy math: the next slice's trip from memory then
            // overlaps that work instead of following it.
            template <class F>
            XLOSS_KERNEL_INLINE void for_each_fetching_next(F&& f) const
            {
                if (next == 0)
                {
                    for_each(f);
                    return;
                }
                for_each(
                    [&](const batch& xb, const batch& yb, const batch_bool& valid, position at)
                        XLOSS_KERNEL_LAMBDA
                    {
                        fetch_ahead(x, y, next + at.offset);
                        if constexpr (Masked)
                        {
                            if (at.offset % 64 == 0)
                            {
                                simd::prefetch_l2(mask + next + at.offset);
                            }
                        }
                        f(xb, yb, valid, at);
                    });
            }

            batch sum(const batch& partial) const
            {
                return batch(simd::reduce_add(partial));
            }
            batch max(const batch& partial) const
            {
                return batch(simd::reduce_max(partial));
            }

            void store(T* out, position at, const batch& v) const
            {
                store_at(out, at, v);
            }
            batch load_back(const T* from, position at) const
            {
                return load_at(from, at);
            }

            // Offset of element k of the slice in lane `lane` (one slice here).
            std::size_t offset_of(std::size_t /*lane*/, std::size_t k) const
            {
                return k;
            }
            std::size_t lanes_in_use() const
            {
                return 1;
            }
            bool lane_active(std::size_t /*lane*/) const
            {
                return true;  // the engine skips slices that are masked out
            }
            bool selected_at(std::size_t offset) const
            {
                return !Masked || mask[offset] != 0;
            }
        };

        // A row whose sum() leaves the partial sums in their lanes, for rules
        // whose value is a sum of per-element terms (rule.hpp): the engine then
        // adds up W rows' lanes at once (schedule.hpp, run_row_groups).
        template <class T, bool Masked>
        struct row_partials : row_lanes<T, Masked>
        {
            using batch = typename row_lanes<T, Masked>::batch;

            batch sum(const batch& partial) const
            {
                return partial;
            }
        };

        template <class T, bool Masked>
        struct column_lanes
        {
            using value_type = T;
            using batch = simd::batch<T>;
            using batch_bool = simd::batch_bool<T>;
            static constexpr std::size_t W = simd::width<T>;

            const T* x;
            const T* y;
            const std::uint8_t* mask;
            std::size_t n;
            std::size_t stride;                // distance between a slice's consecutive elements
            std::size_t count;                 // lanes in use (W but at the end of a row)
            batch_bool active;                 // lanes in use whose slice is selected
            const std::uint8_t* active_lanes;  // the same, one byte per lane
            bool padded;  // W lanes may be read and written even when count < W (staged tiles)
            std::array<const T*, 2> weights{nullptr, nullptr};  // a rule's weight arrays, null: none
            // Whether weight array i holds a zero anywhere (a rule may then need
            // to keep 0 * inf out of its sums; without zeros it can skip that).
            std::array<bool, 2> weight_has_zero{true, true};

            // The batch of weight array i at `at` (ones when not given).
            batch weight(std::size_t i, position at) const
            {
                return weights[i] ? load_at(weights[i], at) : batch(T(1));
            }

            template <class F>
            XLOSS_KERNEL_INLINE void for_each(F&& f) const
            {
                if (count == W || padded)
                {
                    // Lanes past count hold padding; `active` keeps them out.
                    const std::size_t lanes = padded ? W : count;
                    for (std::size_t k = 0; k < n; ++k)
                    {
                        const std::size_t o = k * stride;
                        batch_bool valid = active;
                        if constexpr (Masked)
                        {
                            valid = valid && simd::load_mask<T>(mask + o);
                        }
                        f(simd::load(x + o), simd::load(y + o), valid, position{o, lanes});
                    }
                    return;
                }
                for (std::size_t k = 0; k < n; ++k)
                {
                    // A partial group: masked loads, so nothing past the row is read.
                    const std::size_t o = k * stride;
                    batch_bool valid = active;
                    if constexpr (Masked)
                    {
                        valid = valid && simd::load_mask_first<T>(mask + o, count);
                    }
                    f(simd::load_first(x + o, count), simd::load_first(y + o, count), valid,
                      position{o, count});
                }
            }

            // Staged tiles and strided columns: no next slice to fetch.
            template <class F>
            XLOSS_KERNEL_INLINE void for_each_fetching_next(F&& f) const
            {
                for_each(f);
            }

            batch sum(const batch& partial) const
            {
                return partial;
            }
            batch max(const batch& partial) const
            {
                return partial;
            }

            void store(T* out, position at, const batch& v) const
            {
                store_at(out, at, v);
            }
            batch load_back(const T* from, position at) const
            {
                return load_at(from, at);
            }

            std::size_t offset_of(std::size_t lane, std::size_t k) const
            {
                return k * stride + lane;
            }
            std::size_t lanes_in_use() const
            {
                return count;
            }
            bool lane_active(std::size_t lane) const
            {
                return active_lanes[lane] != 0;
            }
            bool selected_at(std::size_t offset) const
            {
                return !Masked || mask[offset] != 0;
            }
        };

        // The column lanes of a block of rows of a stream (schedule.hpp,
        // run_streams), whose passes that read the block from cache also fetch
        // the same lanes of the next block, `next` elements on (0: none). A
        // type of its own: the tiles' column lanes keep their plain loop (a
        // runtime test there cost the [32, 10] call 4%).
        template <class T, bool Masked>
        struct stream_lanes : column_lanes<T, Masked>
        {
            using typename column_lanes<T, Masked>::batch;
            using typename column_lanes<T, Masked>::batch_bool;

            std::size_t next = 0;

            template <class F>
            XLOSS_KERNEL_INLINE void for_each_fetching_next(F&& f) const
            {
                if (next == 0)
                {
                    this->for_each(f);
                    return;
                }
                this->for_each(
                    [&](const batch& xb, const batch& yb, const batch_bool& valid, position at)
                        XLOSS_KERNEL_LAMBDA
                    {
                        fetch_ahead(this->x, this->y, next + at.offset);
                        f(xb, yb, valid, at);
                    });
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

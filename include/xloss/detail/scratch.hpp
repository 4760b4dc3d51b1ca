// Per-thread working memory that outlives a call: the staging tiles of the
// tiled kernels, the summaries of the streamed ones, the per-slice values
// behind xloss::sum / xloss::mean and the slice mask with ignore_index folded
// in are allocated once per thread and reused, so that a training step that
// calls the same loss again allocates nothing for them.
#ifndef XLOSS_DETAIL_SCRATCH_HPP
#define XLOSS_DETAIL_SCRATCH_HPP

#include "../config.hpp"

#include <cstddef>
#include <vector>

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        // Buffers larger than this are not kept between calls: a one-off huge
        // call should not pin its memory to the thread for good.
        inline constexpr std::size_t scratch_keep_bytes = std::size_t(1) << 20;

        // One cache line: scratch blocks start on a line, as tiles want.
        struct alignas(64) scratch_line
        {
            unsigned char bytes[64];
        };

        // The calling thread's scratch for Slot (a tag type: buffers in use at
        // the same time take different slots), at least `bytes` long. Valid
        // until the next call for the same slot on this thread; its contents are
        // unspecified. Above scratch_keep_bytes, the memory lives in `spill`
        // (the caller's, freed with it) instead.
        template <class Slot>
        void* scratch(std::size_t bytes, std::vector<scratch_line>& spill)
        {
            const std::size_t lines = (bytes + sizeof(scratch_line) - 1) / sizeof(scratch_line);
            if (bytes > scratch_keep_bytes)
            {
                spill.resize(lines);
                return spill.data();
            }
            thread_local std::vector<scratch_line> kept;
            if (kept.size() < lines)
            {
                kept.resize(lines);
            }
            return kept.data();
        }

        // Slots.
        struct tile_slot
        {
        };
        struct slice_values_slot
        {
        };
        struct kept_slices_slot
        {
        };
        struct stream_slot
        {
        };
    }
XLOSS_NAMESPACE_END

#endif

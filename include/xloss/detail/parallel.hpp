// The opt-in parallel path (SPEC.md, "Threads and buffers"): a call's work
// units (rows, tiles of slices, groups of columns: schedule.hpp) are split
// into contiguous parts, and the parts run on OpenMP's or TBB's threads when
// the build defines XLOSS_USE_OPENMP or XLOSS_USE_TBB (a CMake option of the
// same name). Each unit writes only its own slices' values and gradients and
// computes them exactly as on one thread, and the sum / mean over slices is
// taken afterwards in slice order on the calling thread: the results are
// bitwise identical for every thread count. Without either macro the parts
// run one after the other on the calling thread, and no thread is started.
#ifndef XLOSS_DETAIL_PARALLEL_HPP
#define XLOSS_DETAIL_PARALLEL_HPP

#include "../config.hpp"

#include <algorithm>
#include <cstddef>
#include <exception>
#include <mutex>

#if defined(XLOSS_USE_OPENMP) && defined(XLOSS_USE_TBB)
#error "xloss: define XLOSS_USE_OPENMP or XLOSS_USE_TBB, not both"
#endif
#if defined(XLOSS_USE_OPENMP)
#include <omp.h>
#elif defined(XLOSS_USE_TBB)
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#endif

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        // Elements per part at least: a call of fewer than two grains (about
        // 64k elements) never leaves the calling thread, where handing work to
        // another core costs more than it saves.
        inline constexpr std::size_t parallel_grain = std::size_t(1) << 15;

        // Threads a call may use.
        inline std::size_t thread_budget()
        {
#if defined(XLOSS_USE_OPENMP)
            // Inside the caller's own parallel region, stay on its thread.
            return omp_in_parallel() ? 1 : static_cast<std::size_t>(std::max(1, omp_get_max_threads()));
#elif defined(XLOSS_USE_TBB)
            return static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency()));
#else
            return 1;
#endif
        }

        // For the tests: when not 0, every call made on this thread is split into
        // this many parts whatever its size (the parts run in parallel where the
        // build has threads, one after the other otherwise), so that the
        // splitting is exercised, and compared with one part, in every build.
        inline std::size_t& forced_parts()
        {
            thread_local std::size_t parts = 0;
            return parts;
        }

        // Into how many parts `units` units of `unit_elements` elements each go.
        inline std::size_t parts_for(std::size_t units, std::size_t unit_elements)
        {
            if (forced_parts() != 0)
            {
                return std::max<std::size_t>(1, std::min(forced_parts(), units));
            }
            const std::size_t elements = units * unit_elements;
            return std::max<std::size_t>(1, std::min({thread_budget(), elements / parallel_grain, units}));
        }

        // Calls body(begin, end) on contiguous, near-equal ranges that cover
        // [0, units) of `unit_elements` elements each, as many as parts_for
        // gives. An exception thrown by a part is rethrown here, after every
        // part has ended. Allocates nothing.
        template <class Body>
        void for_each_part(std::size_t units, std::size_t unit_elements, const Body& body)
        {
            const std::size_t parts = parts_for(units, unit_elements);
            auto part = [&](std::size_t p) { body(units * p / parts, units * (p + 1) / parts); };
            if (parts <= 1)
            {
                part(0);
                return;
            }
#if defined(XLOSS_USE_OPENMP) || defined(XLOSS_USE_TBB)
            // An exception may not leave a thread of the pool: the first one is
            // kept and rethrown on the calling thread.
            std::exception_ptr error;
            std::mutex error_lock;
            auto guarded = [&](std::size_t p)
            {
                try
                {
                    part(p);
                }
                catch (...)
                {
                    const std::lock_guard<std::mutex> hold(error_lock);
                    if (!error)
                    {
                        error = std::current_exception();
                    }
                }
            };
#if defined(XLOSS_USE_OPENMP)
            const auto count = static_cast<std::ptrdiff_t>(parts);
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(std::min(parts, thread_budget())))
            for (std::ptrdiff_t p = 0; p < count; ++p)
            {
                guarded(static_cast<std::size_t>(p));
            }
#else
            tbb::parallel_for(std::size_t(0), parts, guarded);
#endif
            if (error)
            {
                std::rethrow_exception(error);
            }
#else
            for (std::size_t p = 0; p < parts; ++p)
            {
                part(p);
            }
#endif
        }
    }
XLOSS_NAMESPACE_END

#endif

// Thread safety, for every catalogue entry (generic.hpp: compiled once per
// entry): the loss, and value_and_grad, called from two threads at once on
// shared read-only inputs gives exactly the single-threaded results.
// The library keeps no mutable global or static state; this test is what
// ThreadSanitizer watches (.ci/robustness.sh builds it with
// -DXLOSS_SANITIZE=thread, with the OpenMP pool on). Catch2's macros are not
// thread-safe, so the threads only count mismatches and the main thread
// checks the counts. Also the parallel path: a call split into parts gives
// the one-part result, bitwise, and only large calls are split.
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

#include <xloss/xloss.hpp>

#include "generic.hpp"

namespace
{
    // Iterations per thread: enough for the two threads to overlap many
    // times, few enough for a TSan build (~10x slower) to take seconds.
    constexpr int kIterations = 40;

    template <class T>
    bool identical(const xt::xarray<T>& a, const xt::xarray<T>& b)
    {
        if (a.shape() != b.shape())
        {
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            const T u = a.flat(i), v = b.flat(i);
            if (!((std::isnan(u) && std::isnan(v)) || std::memcmp(&u, &v, sizeof(T)) == 0))
            {
                return false;
            }
        }
        return true;
    }

    // One evaluation: every array it produces, flattened into a list.
    template <class T>
    using outputs = std::vector<xt::xarray<T>>;

    template <class T>
    bool identical(const outputs<T>& a, const outputs<T>& b)
    {
        if (a.size() != b.size())
        {
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i)
        {
            if (!identical(a[i], b[i]))
            {
                return false;
            }
        }
        return true;
    }

    // Runs `work` once on this thread, then kIterations times on each of two
    // threads released together; returns the number of results that differ
    // from the first run.
    template <class T>
    int mismatches_under_two_threads(const std::function<outputs<T>()>& work)
    {
        const outputs<T> expected = work();
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        int bad[2] = {0, 0};
        auto body = [&](int id)
        {
            ready.fetch_add(1);
            while (!go.load())
            {
                std::this_thread::yield();
            }
            for (int i = 0; i < kIterations; ++i)
            {
                if (!identical(work(), expected))
                {
                    ++bad[id];
                }
            }
        };
        std::thread a(body, 0), b(body, 1);
        while (ready.load() < 2)
        {
            std::this_thread::yield();
        }
        go.store(true);
        a.join();
        b.join();
        return bad[0] + bad[1];
    }

    // The calls of one entry: value and value_and_grad of every
    // differentiable input over every shape class the engine plans
    // differently: the innermost axis (row lanes, with a tail), an outer axis
    // with a contiguous inner extent (column lanes), non-adjacent axes (a
    // permuted temporary), a broadcast second input, a batch mask, a strided
    // view, no_axes.
    template <class E, class T>
    struct shared_inputs
    {
        xt::xarray<bool> mask = xloss_test::random_mask({6, 37}, 0.7, 6);
        xt::xarray<bool> batch_mask = xloss_test::random_mask({6}, 0.7, 7);
        xt::xarray<bool> nchw_mask = xloss_test::random_mask({3, 1, 4, 9}, 0.8, 8);
        xloss_test::inputs<E, T> rows = xloss_test::make_inputs<E, T>({6, 37}, {1}, 1, &full_mask());
        xloss_test::inputs<E, T> cols = xloss_test::make_inputs<E, T>({6, 37}, {0}, 2, &full_mask());
        xloss_test::inputs<E, T> nchw = xloss_test::make_inputs<E, T>({3, 5, 4, 9}, {1}, 3);
        xloss_test::inputs<E, T> nchw31 = xloss_test::make_inputs<E, T>({3, 5, 4, 9}, {3, 1}, 4);
        xloss_test::inputs<E, T> all = xloss_test::make_inputs<E, T>({3, 3, 4, 3}, {0, 1, 2, 3}, 5);

        const xt::xarray<bool>& full_mask() const
        {
            return mask;
        }
    };

    // Collects the arrays of one evaluation: a call's value, or a
    // value_and_grad's value and gradients.
    template <class E, class T>
    struct recorder
    {
        const typename E::options& o;
        outputs<T> out;

        template <class... A>
        void value(const A&... a)
        {
            out.push_back(E::call(o, a...));
        }

        template <class... A>
        void value_and_grad(const A&... a)
        {
            if constexpr (E::differentiable[1])
            {
                auto vg = E::template value_and_grad<0, 1>(o, a...);
                out.push_back(std::move(vg.value));
                out.push_back(std::move(vg.grad.first));
                out.push_back(std::move(vg.grad.second));
            }
            else
            {
                auto vg = E::template value_and_grad<0>(o, a...);
                out.push_back(std::move(vg.value));
                out.push_back(std::move(vg.grad));
            }
        }
    };

    template <class E, class T>
    outputs<T> work(const shared_inputs<E, T>& in, const typename E::options& o)
    {
        recorder<E, T> r{o, {}};
        const auto vg = [&](const auto&... a) { r.value_and_grad(a...); };
        r.value(in.rows.x, in.rows.y, -1, in.mask);
        vg(in.rows.x, in.rows.y, -1, in.mask);
        r.value(in.cols.x, in.cols.y, 0, in.mask);  // column lanes
        vg(in.rows.x, in.rows.y, -1, in.batch_mask);
        r.value(in.nchw.x, in.nchw.y, 1, in.nchw_mask);
        vg(in.nchw.x, in.nchw.y, 1, in.nchw_mask);
        r.value(in.nchw31.x, in.nchw31.y, std::vector<int>{3, 1});  // permuted temporary
        vg(in.nchw31.x, in.nchw31.y, std::vector<int>{3, 1});
        auto strided = xt::view(in.all.x, xt::all(), xt::range(0, 5, 2), xt::all(), xt::all());
        if constexpr (E::integer_labels)
        {
            const xt::xarray<int> label(in.all.y() % 72);  // the view has 72 elements
            r.value(strided, label, xloss::all_axes);
        }
        else
        {
            auto strided_y = xt::view(in.all.y, xt::all(), xt::range(0, 5, 2), xt::all(), xt::all());
            r.value(strided, strided_y, xloss::all_axes);
            // a broadcast second input
            const xt::xarray<T> y_row = xt::view(in.rows.y, xt::range(0, 1), xt::all());
            r.value(in.rows.x, y_row, -1, in.mask);
        }
        if constexpr (!E::integer_labels)
        {
            r.value(in.rows.x, in.rows.y, xloss::no_axes, in.mask);
        }
        return r.out;
    }

    // Sets detail::forced_parts on this thread for a scope.
    struct forced_parts
    {
        explicit forced_parts(std::size_t parts)
        {
            xloss::detail::forced_parts() = parts;
        }
        ~forced_parts()
        {
            xloss::detail::forced_parts() = 0;
        }
        forced_parts(const forced_parts&) = delete;
        forced_parts& operator=(const forced_parts&) = delete;
    };

    // Inputs whose calls have several work units in every kernel shape the
    // engine splits: rows, tiles of short rows, tiles of strided slices
    // (shared_inputs: [6, 37] and NCHW), strips of inner rows for the losses
    // that sum per-element terms (NCHW: a strip per outer index), and groups
    // of columns too long to stage ([2100, 20] over axis 0: 2100 floats x 8
    // lanes > the tile budget; strips for the per-element sums, streams for
    // the cross entropies), and streams of two outer indices ([2, 520, 20]
    // over axis 1).
    template <class E, class T>
    struct split_inputs
    {
        shared_inputs<E, T> shared;
        xt::xarray<bool> short_mask = xloss_test::random_mask({150, 3}, 0.7, 11);
        xt::xarray<bool> long_mask = xloss_test::random_mask({2100, 20}, 0.9, 12);
        xt::xarray<bool> outer_mask = xloss_test::random_mask({2, 520, 20}, 0.9, 15);
        xloss_test::inputs<E, T> short_rows = xloss_test::make_inputs<E, T>({150, 3}, {1}, 13, &short_mask);
        xloss_test::inputs<E, T> long_cols = xloss_test::make_inputs<E, T>({2100, 20}, {0}, 14, &long_mask);
        xloss_test::inputs<E, T> outer_cols =
            xloss_test::make_inputs<E, T>({2, 520, 20}, {1}, 16, &outer_mask);
    };

    template <class E, class T>
    outputs<T> split_work(const split_inputs<E, T>& in, const typename E::options& o)
    {
        recorder<E, T> r{o, work<E, T>(in.shared, o)};
        r.value(in.short_rows.x, in.short_rows.y, -1, in.short_mask);
        r.value_and_grad(in.short_rows.x, in.short_rows.y, -1, in.short_mask);
        r.value(in.long_cols.x, in.long_cols.y, 0, in.long_mask);
        r.value_and_grad(in.long_cols.x, in.long_cols.y, 0, in.long_mask);
        r.value_and_grad(in.long_cols.x, in.long_cols.y, 0);
        r.value(in.outer_cols.x, in.outer_cols.y, 1, in.outer_mask);
        r.value_and_grad(in.outer_cols.x, in.outer_cols.y, 1, in.outer_mask);
        return r.out;
    }
}

TEMPLATE_LIST_TEST_CASE("every loss gives the single-threaded result when two threads call it at once",
                        "[threads]",
                        xloss_test::entry_cases)
{
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const shared_inputs<E, T> in;
    CHECK(mismatches_under_two_threads<T>(
              [&]
              {
                  outputs<T> out;
                  for (const auto& o : E::option_cases())
                  {
                      const outputs<T> one = work<E, T>(in, o);
                      out.insert(out.end(), one.begin(), one.end());
                  }
                  return out;
              })
          == 0);
}

TEMPLATE_LIST_TEST_CASE("the value and the gradient run concurrently on the same inputs",
                        "[threads]",
                        xloss_test::selected_entries)
{
    // Two different calls on the two threads, sharing inputs and mask.
    using E = TestType;
    const shared_inputs<E, float> in;
    const auto o = E::option_cases()[0];
    const xt::xarray<float> expected_value = E::call(o, in.rows.x, in.rows.y, -1, in.mask);
    const xt::xarray<float> expected_grad = E::grad(o, in.rows.x, in.rows.y, -1, in.mask);
    std::atomic<bool> go{false};
    int bad[2] = {0, 0};
    std::thread a(
        [&]
        {
            while (!go.load())
            {
                std::this_thread::yield();
            }
            for (int i = 0; i < kIterations; ++i)
            {
                bad[0] += identical(xt::xarray<float>(E::call(o, in.rows.x, in.rows.y, -1, in.mask)),
                                    expected_value)
                              ? 0
                              : 1;
            }
        });
    std::thread b(
        [&]
        {
            while (!go.load())
            {
                std::this_thread::yield();
            }
            for (int i = 0; i < kIterations; ++i)
            {
                bad[1] += identical(xt::xarray<float>(E::grad(o, in.rows.x, in.rows.y, -1, in.mask)),
                                    expected_grad)
                              ? 0
                              : 1;
            }
        });
    go.store(true);
    a.join();
    b.join();
    CHECK(bad[0] == 0);
    CHECK(bad[1] == 0);
}

TEMPLATE_LIST_TEST_CASE("a call split into parts gives the one-part result, bitwise, for every split",
                        "[threads][parallel]",
                        xloss_test::entry_cases)
{
    // The parts run on the pool's threads in a threaded build
    // (XLOSS_USE_OPENMP / XLOSS_USE_TBB), one after the other otherwise: the
    // split itself is tested in every build. Sums and means are taken from
    // the per-slice values after the parts end, so they follow.
    using E = typename TestType::entry;
    using T = typename TestType::T;
    INFO(E::name);
    const split_inputs<E, T> in;
    for (const auto& o : E::option_cases())
    {
        INFO(E::describe(o));
        outputs<T> whole;
        {
            const forced_parts one(1);
            whole = split_work<E, T>(in, o);
        }
        for (const std::size_t parts : {2, 3, 7})
        {
            INFO(parts << " parts");
            const forced_parts split(parts);
            CHECK(identical(split_work<E, T>(in, o), whole));
        }
    }
}

namespace
{
    // The threads of this process, from /proc (Linux); 0 where unknown.
    std::size_t process_threads()
    {
        std::ifstream status("/proc/self/status");
        std::string line;
        while (std::getline(status, line))
        {
            if (line.rfind("Threads:", 0) == 0)
            {
                return static_cast<std::size_t>(std::stoul(line.substr(8)));
            }
        }
        return 0;
    }
}

TEST_CASE("calls under two grains stay whole; only a threaded build splits, and starts threads",
          "[threads][parallel]")
{
    using xloss::detail::parallel_grain;
    using xloss::detail::parts_for;
    const std::size_t budget = xloss::detail::thread_budget();
#if defined(XLOSS_USE_OPENMP) || defined(XLOSS_USE_TBB)
    constexpr bool threaded = true;
#else
    constexpr bool threaded = false;
    CHECK(budget == 1);
#endif
    CHECK(parts_for(1000, 64) == 1);                         // 64,000 elements
    CHECK(parts_for(2 * parallel_grain - 1, 1) == 1);
    CHECK(parts_for(2 * parallel_grain, 1) == std::min<std::size_t>(budget, 2));
    CHECK(parts_for(std::size_t(1) << 20, 64) == budget);    // 2^26 elements
    CHECK(parts_for(3, std::size_t(1) << 20) == std::min<std::size_t>(budget, 3));  // no more parts than units

    // A call of 2^17 elements: split over the pool, or on this thread alone.
    const std::size_t before = process_threads();
    const xt::xarray<float> logits = xt::ones<float>({512, 256});
    const xt::xarray<float> labels = xt::ones<float>({512, 256}) / 256.0f;
    const xt::xarray<float> loss = xloss::softmax_cross_entropy(logits, labels);
    CHECK(loss.size() == 512);
    const std::size_t after = process_threads();
    if (before != 0)
    {
        INFO("threads before " << before << ", after " << after << ", budget " << budget);
        if (!threaded)
        {
            CHECK(after == before);
        }
        else
        {
            CHECK(after >= std::min<std::size_t>(budget, 2));
        }
    }
}

// The roofline the loss benchmarks are judged against:
//
//   roofline/read_sum/256MiB      read bandwidth: a 4-accumulator xsimd sum over
//                                 256 MiB (no cache holds it)
//   roofline/read_sum2/256MiB     the same bytes as two streams (the two halves),
//                                 as a loss reads its two inputs; report.py takes
//                                 the faster of the two as the read bandwidth
//   roofline/read_write/256MiB    read one 256 MiB array, write another (the
//                                 traffic of a gradient); bytes = read + written
//   roofline/exp/16KiB            exp throughput over an L1-resident array: the
//                                 exp xloss's kernels call (detail/simd.hpp; on
//                                 AVX-512 float, faster than xsimd::exp)
//   roofline/log/16KiB            xsimd::log throughput, likewise
//
// report.py takes the bound of a loss call as
//   max(bytes / read bandwidth, exps / exp throughput + logs / log throughput).
#include "bench_common.hpp"

#include <xloss/detail/simd.hpp>

namespace
{
    using namespace xloss_bench;

    void read_sum(benchmark::State& st)
    {
        buffer b(stream_bytes / sizeof(float));
        for (auto _ : st)
        {
            benchmark::DoNotOptimize(stream_sum(b.data(), b.size()));
        }
        st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations())
                             * static_cast<std::int64_t>(stream_bytes));
        st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations())
                             * static_cast<std::int64_t>(b.size()));
    }

    void read_sum2(benchmark::State& st)
    {
        buffer b(stream_bytes / sizeof(float));
        const std::size_t half = b.size() / 2;
        for (auto _ : st)
        {
            benchmark::DoNotOptimize(stream_sum2(b.data(), b.data() + half, half));
        }
        st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations())
                             * static_cast<std::int64_t>(stream_bytes));
        st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations())
                             * static_cast<std::int64_t>(b.size()));
    }

    void read_write(benchmark::State& st)
    {
        buffer src(stream_bytes / sizeof(float)), dst(stream_bytes / sizeof(float), 0.0f);
        for (auto _ : st)
        {
            stream_scale(src.data(), dst.data(), src.size());
            benchmark::DoNotOptimize(dst.data());
            benchmark::ClobberMemory();
        }
        st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * 2
                             * static_cast<std::int64_t>(stream_bytes));
        st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations())
                             * static_cast<std::int64_t>(src.size()));
    }

    constexpr std::size_t resident = 4096;  // 16 KiB of floats: L1 on any x86-64

    // f over a cache-resident array: four independent chains so the
    // latency of one call hides behind the others (throughput, not latency).
    template <class F>
    void transcendental(benchmark::State& st, F f)
    {
        buffer b(resident);
        rng g{42};
        for (auto& v : b.v)
        {
            v = g.uniform(0.01f, 8.0f);  // inside exp's and log's ordinary domain
        }
        for (auto _ : st)
        {
            batch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
            const float* p = b.data();
            for (std::size_t i = 0; i < resident; i += 4 * batch_width)
            {
                a0 += f(batch::load_aligned(p + i));
                a1 += f(batch::load_aligned(p + i + batch_width));
                a2 += f(batch::load_aligned(p + i + 2 * batch_width));
                a3 += f(batch::load_aligned(p + i + 3 * batch_width));
            }
            benchmark::DoNotOptimize(xsimd::hadd((a0 + a1) + (a2 + a3)));
        }
        st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations())
                             * static_cast<std::int64_t>(resident));
        st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations())
                             * static_cast<std::int64_t>(resident * sizeof(float)));
    }

    void register_all()
    {
        add("roofline/read_sum/256MiB", read_sum);
        add("roofline/read_sum2/256MiB", read_sum2);
        add("roofline/read_write/256MiB", read_write);
        add("roofline/exp/16KiB", [](benchmark::State& st)
            { transcendental(st, [](const batch& x) { return xloss::detail::simd::exp<float>(x); }); });
        add("roofline/log/16KiB",
            [](benchmark::State& st) { transcendental(st, [](const batch& x) { return xsimd::log(x); }); });
    }
}

XLOSS_BENCH_MAIN(register_all)

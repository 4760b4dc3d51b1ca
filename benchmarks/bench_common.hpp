// Shared by every benchmark binary: the shapes, the input data (generated
// once per shape with a fixed seed and kept for the whole run), the traffic
// bookkeeping that turns times into GB/s and ns/element, the roofline
// kernels, checks that the baselines compute what xloss computes, and main().
//
// Naming: "<loss>/<shape>/axis:<k>/<variant>", e.g.
//   ce_int/4096x1000/axis:1/xloss_mask_full
// report.py splits names on '/', so no other slashes.
#ifndef XLOSS_BENCH_COMMON_HPP
#define XLOSS_BENCH_COMMON_HPP

#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/resource.h>

#include <benchmark/benchmark.h>
#include <xsimd/xsimd.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "bench_config.hpp"

#ifdef XLOSS_BENCH_HAVE_TORCH
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/version.h>
#endif

namespace xloss_bench
{
    using shape_t = std::vector<std::size_t>;

    // One benchmark shape: the full input shape and the reduced axis.
    struct shape_case
    {
        shape_t shape;
        int axis;
    };

    // The issues' shapes: long rows, very long rows, short rows (two lengths),
    // NCHW over C.
    inline std::vector<shape_case> standard_shapes()
    {
        return {{{4096, 1000}, 1},
                {{256, 32000}, 1},
                {{65536, 16}, 1},
                {{65536, 64}, 1},
                {{8, 21, 256, 256}, 1}};
    }

    inline std::size_t elements(const shape_t& s)
    {
        return std::accumulate(s.begin(), s.end(), std::size_t(1), std::multiplies<>());
    }

    inline std::string shape_name(const shape_t& s)
    {
        std::string r;
        for (std::size_t i = 0; i < s.size(); ++i)
        {
            r += (i ? "x" : "") + std::to_string(s[i]);
        }
        return r;
    }

    inline std::string case_name(const std::string& loss, const shape_case& c, const std::string& variant)
    {
        return loss + "/" + shape_name(c.shape) + "/axis:" + std::to_string(c.axis) + "/" + variant;
    }

    inline shape_t batch_shape(const shape_case& c)
    {
        shape_t b = c.shape;
        b.erase(b.begin() + c.axis);
        return b;
    }

    // [outer, n, inner] of a reduction over c.axis of a row-major array.
    struct planes
    {
        std::size_t outer = 1, n = 1, inner = 1;
    };
    inline planes planes_of(const shape_case& c)
    {
        planes p;
        for (std::size_t a = 0; a < c.shape.size(); ++a)
        {
            const auto ax = static_cast<std::size_t>(c.axis);
            (a < ax ? p.outer : a == ax ? p.n : p.inner) *= c.shape[a];
        }
        return p;
    }

    // -----------------------------------------------------------------
    // Data. A small counter-based generator (splitmix64): the same numbers
    // on every platform and standard library, and fast enough for 10^7
    // elements.

    struct rng
    {
        std::uint64_t state;
        std::uint64_t next()
        {
            std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            return z ^ (z >> 31);
        }
        // Uniform in [0, 1).
        float uniform()
        {
            return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
        }
        float uniform(float lo, float hi)
        {
            return lo + (hi - lo) * uniform();
        }
    };

    inline std::uint64_t seed_of(const std::string& what, const shape_t& s)
    {
        std::uint64_t h = 1469598103934665603ULL;  // FNV-1a over the description
        for (char ch : what + "/" + shape_name(s))
        {
            h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
        }
        return h;
    }

    inline xt::xarray<float> uniform_array(const std::string& what, const shape_t& s, float lo, float hi)
    {
        auto a = xt::xarray<float>::from_shape(s);
        rng g{seed_of(what, s)};
        for (auto& v : a)
        {
            v = g.uniform(lo, hi);
        }
        return a;
    }

    // Softmax of uniform(-3, 3) scores along c.axis: strictly positive
    // probabilities (smooth labels, KL targets). With log_space, their logs.
    inline xt::xarray<float> probabilities(const std::string& what, const shape_case& c, bool log_space)
    {
        auto a = uniform_array(what, c.shape, -3.0f, 3.0f);
        const planes p = planes_of(c);
        float* d = a.data();
        for (std::size_t o = 0; o < p.outer; ++o)
        {
            for (std::size_t j = 0; j < p.inner; ++j)
            {
                float* s = d + o * p.n * p.inner + j;
                double z = 0;
                for (std::size_t k = 0; k < p.n; ++k)
                {
                    z += std::exp(static_cast<double>(s[k * p.inner]));
                }
                const double log_z = std::log(z);
                for (std::size_t k = 0; k < p.n; ++k)
                {
                    const double lp = s[k * p.inner] - log_z;
                    s[k * p.inner] = static_cast<float>(log_space ? lp : std::exp(lp));
                }
            }
        }
        return a;
    }

    inline xt::xarray<bool> bernoulli_mask(const std::string& what, const shape_t& s, float p_true)
    {
        auto a = xt::xarray<bool>::from_shape(s);
        rng g{seed_of(what, s)};
        for (auto&& v : a)
        {
            v = g.uniform() < p_true;
        }
        return a;
    }

    // Every input is made once per shape and kept: the first benchmark of a
    // shape pays for it outside its timed loop.
    template <class T, class Make>
    const T& cached(const std::string& key, Make&& make)
    {
        static std::map<std::string, std::unique_ptr<T>> cache;
        auto it = cache.find(key);
        if (it == cache.end())
        {
            it = cache.emplace(key, std::make_unique<T>(make())).first;
        }
        return *it->second;
    }

    // Logits (CE, focal): uniform(-4, 4).
    inline const xt::xarray<float>& logits(const shape_case& c)
    {
        return cached<xt::xarray<float>>("logits/" + shape_name(c.shape),
                                         [&] { return uniform_array("logits", c.shape, -4.0f, 4.0f); });
    }
    // Smoothed probability labels (CE), strictly positive.
    inline const xt::xarray<float>& prob_labels(const shape_case& c)
    {
        return cached<xt::xarray<float>>("prob_labels/" + shape_name(c.shape) + "/" + std::to_string(c.axis),
                                         [&] { return probabilities("prob_labels", c, false); });
    }
    // Class indices of the batch shape, uniform over [0, n).
    inline const xt::xarray<std::int64_t>& class_labels(const shape_case& c)
    {
        return cached<xt::xarray<std::int64_t>>(
            "class_labels/" + shape_name(c.shape) + "/" + std::to_string(c.axis),
            [&]
            {
                const shape_t b = batch_shape(c);
                auto a = xt::xarray<std::int64_t>::from_shape(b);
                rng g{seed_of("class_labels", c.shape)};
                const auto n = static_cast<std::uint64_t>(c.shape[static_cast<std::size_t>(c.axis)]);
                for (auto& v : a)
                {
                    v = static_cast<std::int64_t>(g.next() % n);
                }
                return a;
            });
    }
    // KL: log-predictions and targets, both normalised along the axis.
    inline const xt::xarray<float>& log_predictions(const shape_case& c)
    {
        return cached<xt::xarray<float>>("log_predictions/" + shape_name(c.shape) + "/"
                                             + std::to_string(c.axis),
                                         [&] { return probabilities("log_predictions", c, true); });
    }
    inline const xt::xarray<float>& kl_targets(const shape_case& c)
    {
        return cached<xt::xarray<float>>("kl_targets/" + shape_name(c.shape) + "/" + std::to_string(c.axis),
                                         [&] { return probabilities("kl_targets", c, false); });
    }
    // Cosine: two uniform(-1, 1) arrays.
    inline const xt::xarray<float>& cosine_a(const shape_case& c)
    {
        return cached<xt::xarray<float>>("cosine_a/" + shape_name(c.shape),
                                         [&] { return uniform_array("cosine_a", c.shape, -1.0f, 1.0f); });
    }
    inline const xt::xarray<float>& cosine_b(const shape_case& c)
    {
        return cached<xt::xarray<float>>("cosine_b/" + shape_name(c.shape),
                                         [&] { return uniform_array("cosine_b", c.shape, -1.0f, 1.0f); });
    }
    // Focal: hard 0/1 labels, 30% positive.
    inline const xt::xarray<float>& binary_labels(const shape_case& c)
    {
        return cached<xt::xarray<float>>("binary_labels/" + shape_name(c.shape),
                                         [&]
                                         {
                                             auto a = xt::xarray<float>::from_shape(c.shape);
                                             rng g{seed_of("binary_labels", c.shape)};
                                             for (auto& v : a)
                                             {
                                                 v = g.uniform() < 0.3f ? 1.0f : 0.0f;
                                             }
                                             return a;
                                         });
    }
    // The masks: full shape, 90% true; batch shape, all true (every
    // slice takes part, so any time difference is the mask's overhead).
    inline const xt::xarray<bool>& mask_full(const shape_case& c)
    {
        return cached<xt::xarray<bool>>("mask_full/" + shape_name(c.shape),
                                        [&] { return bernoulli_mask("mask_full", c.shape, 0.9f); });
    }
    inline const xt::xarray<bool>& mask_batch(const shape_case& c)
    {
        return cached<xt::xarray<bool>>("mask_batch/" + shape_name(c.shape) + "/" + std::to_string(c.axis),
                                        [&]
                                        {
                                            auto a = xt::xarray<bool>::from_shape(batch_shape(c));
                                            a.fill(true);
                                            return a;
                                        });
    }

    // -----------------------------------------------------------------
    // Traffic: what one call reads, per element, so that every benchmark
    // reports bytes (GB/s of input read) and items (ns/element), and
    // report.py can compute the bound from the counters.

    struct traffic
    {
        std::size_t elements = 0;     // elements of the full input shape
        double read_bytes = 0;        // unique input bytes one call reads
        double written_bytes = 0;     // output bytes one call must write (gradients)
        double exps_per_element = 0;  // transcendentals the math needs, at least
        double logs_per_element = 0;
    };

    // Two float inputs of the full shape.
    inline traffic two_inputs(const shape_case& c, double exps, double logs)
    {
        traffic t;
        t.elements = elements(c.shape);
        t.read_bytes = 2.0 * sizeof(float) * static_cast<double>(t.elements);
        t.exps_per_element = exps;
        t.logs_per_element = logs;
        return t;
    }
    // Logits and int64 class labels of the batch shape.
    inline traffic logits_and_classes(const shape_case& c)
    {
        traffic t;
        t.elements = elements(c.shape);
        t.read_bytes = sizeof(float) * static_cast<double>(t.elements)
                       + sizeof(std::int64_t) * static_cast<double>(elements(batch_shape(c)));
        t.exps_per_element = 1;
        return t;
    }
    inline traffic with_full_mask(traffic t)
    {
        t.read_bytes += static_cast<double>(t.elements);  // one byte per element
        return t;
    }
    inline traffic with_batch_mask(traffic t, const shape_case& c)
    {
        t.read_bytes += static_cast<double>(elements(batch_shape(c)));
        return t;
    }
    inline traffic with_gradient(traffic t)
    {
        t.written_bytes = sizeof(float) * static_cast<double>(t.elements);
        return t;
    }

    inline void set_counters(benchmark::State& st, const traffic& t)
    {
        const auto it = static_cast<double>(st.iterations());
        st.SetItemsProcessed(static_cast<std::int64_t>(it * static_cast<double>(t.elements)));
        st.SetBytesProcessed(static_cast<std::int64_t>(it * t.read_bytes));
        st.counters["exp_per_elem"] = t.exps_per_element;
        st.counters["log_per_elem"] = t.logs_per_element;
        st.counters["write_bytes_per_elem"] = t.written_bytes / static_cast<double>(t.elements);
    }

    // Keeps a result alive and its memory written, so nothing is elided.
    template <class T>
    void sink(const xt::xarray<T>& a)
    {
        benchmark::DoNotOptimize(a.data());
    }
    template <class T>
    void sink(const T& v, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0)
    {
        benchmark::DoNotOptimize(v);
    }
#ifdef XLOSS_BENCH_HAVE_TORCH
    inline void sink(const at::Tensor& t)
    {
        benchmark::DoNotOptimize(t.data_ptr());
    }
#endif
    template <class A, class B>
    void sink(const std::pair<A, B>& p)
    {
        sink(p.first);
        sink(p.second);
    }

    // Minor page faults of this thread so far. A call that allocates a
    // fresh large result pays about 2 us per 4 KiB page on these VMs, which
    // can outweigh the arithmetic: the counter shows it.
    inline double minor_faults()
    {
#ifdef RUSAGE_THREAD
        rusage u{};
        getrusage(RUSAGE_THREAD, &u);
        return static_cast<double>(u.ru_minflt);
#else
        return 0;
#endif
    }

    // The timed loop: `body` is one call; what it returns is kept.
    template <class F>
    void run(benchmark::State& st, const traffic& t, F&& body)
    {
        const double faults = minor_faults();
        for (auto _ : st)
        {
            sink(body());
            benchmark::ClobberMemory();
        }
        set_counters(st, t);
        st.counters["faults_per_call"] = st.iterations() ? (minor_faults() - faults)
                                                               / static_cast<double>(st.iterations())
                                                         : 0.0;
    }

    template <class F>
    void add(const std::string& name, F&& fn)
    {
        benchmark::RegisterBenchmark(name.c_str(), std::forward<F>(fn));
    }

    // A benchmark that first runs `check` (see checked_once below).
    template <class Check, class F>
    void add_checked(const std::string& name, Check check, F fn)
    {
        benchmark::RegisterBenchmark(name.c_str(),
                                     [check, fn](benchmark::State& st)
                                     {
                                         if (check(st))
                                         {
                                             fn(st);
                                         }
                                     });
    }

    // -----------------------------------------------------------------
    // Checks: a baseline that computes something else would make every ratio
    // meaningless, so each (loss, shape) compares the baselines with xloss
    // once, before its first timed loop.

    inline bool all_close(const float* a,
                          const float* b,
                          std::size_t n,
                          double rtol,
                          double atol,
                          std::string& why)
    {
        for (std::size_t i = 0; i < n; ++i)
        {
            const double x = a[i], y = b[i];
            if (!(std::abs(x - y) <= atol + rtol * std::abs(y)))
            {
                std::ostringstream s;
                s << "element " << i << ": " << x << " vs " << y;
                why = s.str();
                return false;
            }
        }
        return true;
    }

    template <class A, class B>
    bool same_values(const A& got,
                     const B& want,
                     const std::string& what,
                     double rtol = 2e-3,
                     double atol = 2e-3)
    {
        xt::xarray<float> g = got;
        xt::xarray<float> w = want;
        std::string why = "sizes " + std::to_string(g.size()) + " and " + std::to_string(w.size());
        if (g.size() == w.size() && all_close(g.data(), w.data(), g.size(), rtol, atol, why))
        {
            return true;
        }
        std::fprintf(stderr, "xloss benchmarks: %s disagrees with xloss: %s\n", what.c_str(), why.c_str());
        return false;
    }

    // Runs `check` the first time `key` is seen; false (and the benchmark
    // marked as an error) when it fails.
    template <class F>
    bool checked_once(benchmark::State& st, const std::string& key, F&& check)
    {
        static std::map<std::string, bool> done;
        auto it = done.find(key);
        if (it == done.end())
        {
            it = done.emplace(key, check()).first;
        }
        if (!it->second)
        {
            st.SkipWithError(("result differs from xloss: " + key).c_str());
        }
        return it->second;
    }

#ifdef XLOSS_BENCH_HAVE_TORCH
    // -----------------------------------------------------------------
    // libtorch: tensors over the same memory (no copy).

    inline std::vector<std::int64_t> sizes_of(const shape_t& s)
    {
        return std::vector<std::int64_t>(s.begin(), s.end());
    }
    inline at::Tensor as_tensor(const xt::xarray<float>& a)
    {
        return at::from_blob(const_cast<float*>(a.data()),
                             sizes_of(shape_t(a.shape().begin(), a.shape().end())),
                             at::TensorOptions().dtype(at::kFloat));
    }
    inline at::Tensor as_tensor(const xt::xarray<std::int64_t>& a)
    {
        return at::from_blob(const_cast<std::int64_t*>(a.data()),
                             sizes_of(shape_t(a.shape().begin(), a.shape().end())),
                             at::TensorOptions().dtype(at::kLong));
    }
    // The "CPU capability usage" line of ATen's build configuration.
    inline std::string torch_cpu_capability()
    {
        std::istringstream config(at::show_config());
        for (std::string line; std::getline(config, line);)
        {
            const auto at = line.find("CPU capability usage:");
            if (at != std::string::npos)
            {
                const auto value = line.find_first_not_of(' ', at + 21);
                return value == std::string::npos ? std::string("?") : line.substr(value);
            }
        }
        return "?";
    }

    inline xt::xarray<float> to_xarray(const at::Tensor& t)
    {
        const at::Tensor c = t.detach().contiguous().to(at::kFloat);
        shape_t s(c.sizes().begin(), c.sizes().end());
        xt::xarray<float> r = xt::adapt(c.data_ptr<float>(), static_cast<std::size_t>(c.numel()),
                                        xt::no_ownership(), s);
        return r;
    }
#endif

    // The variants of a loss of two float inputs of the full shape
    // (xloss, xloss_mask_full, xloss_mask_batch, naive_xtensor, torch; on
    // 2-D shapes also xloss_column_major, the same values held column-major
    // and read in place), each checked once against the others. fn: the xloss object; naive(x, y,
    // axis), torch_fn(x, y, axis): the baselines (torch_fn unused without
    // libtorch); input_x, input_y: the cached inputs of a shape case; exps,
    // logs: the transcendentals per element the math needs.
    using input_of = const xt::xarray<float>& (*)(const shape_case&);

    // On a 2-D shape, the variant xloss_column_major: fn(x, y, axis) on the
    // same values held column-major and read in place.
    template <class Loss, class Check>
    void add_column_major(const std::string& loss,
                          const shape_case& c,
                          const Check& check,
                          const traffic& t,
                          const Loss& fn,
                          input_of input_x,
                          input_of input_y)
    {
        if (c.shape.size() != 2)
        {
            return;
        }
        add_checked(case_name(loss, c, "xloss_column_major"), check,
                    [c, t, fn, input_x, input_y](benchmark::State& st)
                    {
                        const xt::xarray<float, xt::layout_type::column_major> x = input_x(c);
                        const xt::xarray<float, xt::layout_type::column_major> y = input_y(c);
                        run(st, t, [&] { return fn(x, y, c.axis); });
                    });
    }

    template <class Loss, class Naive, class Torch>
    void register_two_input_family(const std::string& loss,
                                   const Loss& fn,
                                   Naive naive,
                                   [[maybe_unused]] Torch torch_fn,
                                   const shape_case& c,
                                   double exps,
                                   double logs,
                                   input_of input_x,
                                   input_of input_y)
    {
        const auto check = [c, loss, fn, naive, torch_fn, input_x, input_y](benchmark::State& st)
        {
            return checked_once(st, case_name(loss, c, "baselines"),
                                [&]
                                {
                                    const auto ref = fn(input_x(c), input_y(c), c.axis);
                                    bool ok = same_values(naive(input_x(c), input_y(c),
                                                                static_cast<std::size_t>(c.axis)),
                                                          ref, "naive " + loss);
#ifdef XLOSS_BENCH_HAVE_TORCH
                                    ok = same_values(to_xarray(torch_fn(as_tensor(input_x(c)),
                                                                        as_tensor(input_y(c)), c.axis)),
                                                     ref, "torch " + loss)
                                         && ok;
#endif
                                    return ok;
                                });
        };
        const traffic t = two_inputs(c, exps, logs);
        add_checked(case_name(loss, c, "xloss"), check,
                    [c, t, fn, input_x, input_y](benchmark::State& st)
                    {
                        const auto& x = input_x(c);
                        const auto& y = input_y(c);
                        run(st, t, [&] { return fn(x, y, c.axis); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_full"), check,
                    [c, t, fn, input_x, input_y](benchmark::State& st)
                    {
                        const auto& x = input_x(c);
                        const auto& y = input_y(c);
                        const auto& w = mask_full(c);
                        run(st, with_full_mask(t), [&] { return fn(x, y, c.axis, w); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_batch"), check,
                    [c, t, fn, input_x, input_y](benchmark::State& st)
                    {
                        const auto& x = input_x(c);
                        const auto& y = input_y(c);
                        const auto& w = mask_batch(c);
                        run(st, with_batch_mask(t, c), [&] { return fn(x, y, c.axis, w); });
                    });
        add_column_major(loss, c, check, t, fn, input_x, input_y);
        add_checked(case_name(loss, c, "naive_xtensor"), check,
                    [c, t, naive, input_x, input_y](benchmark::State& st)
                    {
                        const auto& x = input_x(c);
                        const auto& y = input_y(c);
                        run(st, t, [&] { return naive(x, y, static_cast<std::size_t>(c.axis)); });
                    });
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(loss, c, "torch"), check,
                    [c, t, torch_fn, input_x, input_y](benchmark::State& st)
                    {
                        const auto x = as_tensor(input_x(c));
                        const auto y = as_tensor(input_y(c));
                        run(st, t, [&] { return torch_fn(x, y, c.axis); });
                    });
#endif
    }

    // -----------------------------------------------------------------
    // Roofline kernels (bench_bandwidth.cpp times them; main() runs the
    // read kernel once to print the bandwidth).

    using batch = xsimd::batch<float>;
    constexpr std::size_t batch_width = batch::size;

    // An aligned float buffer.
    struct buffer
    {
        std::vector<float, xsimd::aligned_allocator<float, 64>> v;
        explicit buffer(std::size_t n, float value = 1.0f)
            : v(n, value)
        {
        }
        float* data()
        {
            return v.data();
        }
        std::size_t size() const
        {
            return v.size();
        }
    };

    // Sum of n floats (n a multiple of 4 batches): four accumulators so the
    // adds never wait on each other; the loads are the only limit.
    inline float stream_sum(const float* p, std::size_t n)
    {
        batch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
        for (std::size_t i = 0; i < n; i += 4 * batch_width)
        {
            a0 += batch::load_aligned(p + i);
            a1 += batch::load_aligned(p + i + batch_width);
            a2 += batch::load_aligned(p + i + 2 * batch_width);
            a3 += batch::load_aligned(p + i + 3 * batch_width);
        }
        return xsimd::hadd((a0 + a1) + (a2 + a3));
    }

    // The same sum over two streams (the two halves of the array, as a loss
    // reads its two inputs): one core's prefetchers fetch more in flight
    // from two streams than from one, by about a fifth on these VMs.
    inline float stream_sum2(const float* p, const float* q, std::size_t n)
    {
        batch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
        for (std::size_t i = 0; i < n; i += 2 * batch_width)
        {
            a0 += batch::load_aligned(p + i);
            a1 += batch::load_aligned(q + i);
            a2 += batch::load_aligned(p + i + batch_width);
            a3 += batch::load_aligned(q + i + batch_width);
        }
        return xsimd::hadd((a0 + a1) + (a2 + a3));
    }

    // Reads src and writes dst (the traffic of a gradient: read, then write).
    inline void stream_scale(const float* src, float* dst, std::size_t n)
    {
        const batch k(0.5f);
        for (std::size_t i = 0; i < n; i += batch_width)
        {
            (batch::load_aligned(src + i) * k).store_aligned(dst + i);
        }
    }

    constexpr std::size_t stream_bytes = std::size_t(256) << 20;  // 256 MiB: far beyond any cache

    inline double thread_seconds()
    {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
    }

    // Best of a few two-stream passes over 256 MiB, in bytes per second.
    inline double measure_read_bandwidth(int passes = 5)
    {
        buffer b(stream_bytes / sizeof(float));
        double best = 0;
        for (int i = 0; i < passes; ++i)
        {
            // CPU time of this thread, as the benchmarks report: on a shared
            // machine, wall time also counts other processes' turns.
            const double t0 = thread_seconds();
            const float s = stream_sum2(b.data(), b.data() + b.size() / 2, b.size() / 2);
            benchmark::DoNotOptimize(s);
            best = std::max(best, static_cast<double>(stream_bytes) / (thread_seconds() - t0));
        }
        return best;
    }

    // -----------------------------------------------------------------
    // main(): machine description in the benchmark context (printed above
    // the console table, and in the JSON that report.py reads).

    inline std::string compiler_name()
    {
#if defined(__clang__)
        return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
        return std::string("gcc ") + __VERSION__;
#else
        return "unknown";
#endif
    }

    inline int bench_main(int argc, char** argv, void (*register_all)())
    {
#ifdef XLOSS_BENCH_HAVE_TORCH
        at::set_num_threads(1);  // the issue compares one thread with one thread
        benchmark::AddCustomContext("libtorch", TORCH_VERSION);
        benchmark::AddCustomContext("libtorch_threads", std::to_string(at::get_num_threads()));
        // Which of ATen's kernel builds runs here (DEFAULT, AVX2, AVX512).
        benchmark::AddCustomContext("libtorch_cpu_capability", torch_cpu_capability());
#else
        benchmark::AddCustomContext("libtorch", "absent (built without XLOSS_BENCH_HAVE_TORCH)");
#endif
        benchmark::AddCustomContext("xsimd_arch", xsimd::default_arch::name());
        benchmark::AddCustomContext("float_batch_width", std::to_string(batch_width));
        benchmark::AddCustomContext("compiler", compiler_name());
        benchmark::AddCustomContext("build_type", XLOSS_BENCH_BUILD_TYPE);
        benchmark::AddCustomContext("flags", XLOSS_BENCH_FLAGS);
        char bw[64];
        std::snprintf(bw, sizeof bw, "%.2f", measure_read_bandwidth() / 1e9);
        benchmark::AddCustomContext("read_bandwidth_GBps", bw);

        benchmark::Initialize(&argc, argv);
        if (benchmark::ReportUnrecognizedArguments(argc, argv))
        {
            return 1;
        }
        register_all();
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
        return 0;
    }
}

#define XLOSS_BENCH_MAIN(register_all)                              \
    int main(int argc, char** argv)                                 \
    {                                                               \
        return ::xloss_bench::bench_main(argc, argv, register_all); \
    }

#endif

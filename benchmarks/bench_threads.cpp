// The parallel path (XLOSS_USE_OPENMP: this program is built with it, see
// CMakeLists.txt): each case on one thread and on two, beside libtorch on
// one and on two. Cases: the compute-bound ones the issue names (focal,
// softmax cross entropy on long rows), a memory-bound one (squared error),
// short rows and NCHW, and a training step (value_and_grad_into).
// The check before each case compares the two-thread result with the
// one-thread one, bitwise.
#include <cstring>

#include <omp.h>

#include <xloss/cross_entropy.hpp>
#include <xloss/focal.hpp>
#include <xloss/grad.hpp>
#include <xloss/kl_divergence.hpp>
#include <xloss/regression.hpp>

#include "bench_common.hpp"

#ifndef XLOSS_USE_OPENMP
#error "bench_threads is built with XLOSS_USE_OPENMP"
#endif

namespace
{
    using namespace xloss_bench;

    // Runs f with OpenMP's (and libtorch's) thread count set to `threads`.
    template <class F>
    auto with_threads(int threads, F&& f)
    {
        struct restore
        {
            int omp;
            ~restore()
            {
                omp_set_num_threads(omp);
#ifdef XLOSS_BENCH_HAVE_TORCH
                at::set_num_threads(1);
#endif
            }
        } r{omp_get_max_threads()};
        omp_set_num_threads(threads);
#ifdef XLOSS_BENCH_HAVE_TORCH
        at::set_num_threads(threads);
#endif
        return f();
    }

    bool bitwise_equal(const xt::xarray<float>& a, const xt::xarray<float>& b)
    {
        return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
    }

    // One case: xloss's call, libtorch's (or none), and the bytes it reads.
    template <class X, class T>
    void register_case(const std::string& loss, const shape_case& c, traffic t, X xloss_call, T torch_call)
    {
        const auto check = [=](benchmark::State& st)
        {
            return checked_once(st, case_name(loss, c, "threads"),
                                [&]
                                {
                                    const xt::xarray<float> one = with_threads(1, xloss_call);
                                    const xt::xarray<float> two = with_threads(2, xloss_call);
                                    if (!bitwise_equal(one, two))
                                    {
                                        std::fprintf(stderr, "xloss benchmarks: %s differs on two threads\n",
                                                     loss.c_str());
                                        return false;
                                    }
                                    return true;
                                });
        };
        for (const int threads : {1, 2})
        {
            const std::string suffix = "threads:" + std::to_string(threads);
            add_checked(case_name(loss, c, "xloss_" + suffix), check,
                        [=](benchmark::State& st)
                        { with_threads(threads, [&] { run(st, t, xloss_call); return 0; }); });
#ifdef XLOSS_BENCH_HAVE_TORCH
            add_checked(case_name(loss, c, "torch_" + suffix), check,
                        [=](benchmark::State& st)
                        { with_threads(threads, [&] { run(st, t, torch_call); return 0; }); });
#else
            (void)torch_call;
#endif
        }
    }

    void register_all()
    {
        const shape_case long_rows{{4096, 1000}, 1}, very_long{{256, 32000}, 1}, short_rows{{65536, 16}, 1},
            nchw{{8, 21, 256, 256}, 1};
        for (const auto& c : {long_rows, very_long, nchw})
        {
            register_case(
                "ce_prob", c, two_inputs(c, 1, 0),
                [c] { return xt::xarray<float>(xloss::softmax_cross_entropy(logits(c), prob_labels(c), c.axis)); },
                [c]
                {
#ifdef XLOSS_BENCH_HAVE_TORCH
                    const auto x = as_tensor(logits(c));
                    return (-(x.log_softmax(c.axis) * as_tensor(prob_labels(c)))).sum(c.axis);
#else
                    return 0;
#endif
                });
        }
        register_case(
            "focal", long_rows, two_inputs(long_rows, 1, 1),
            [c = long_rows]
            { return xt::xarray<float>(xloss::sigmoid_focal_loss(logits(c), binary_labels(c), c.axis)); },
            [c = long_rows]
            {
#ifdef XLOSS_BENCH_HAVE_TORCH
                const auto x = as_tensor(logits(c));
                const auto l = as_tensor(binary_labels(c));
                const auto p = at::sigmoid(x);
                const auto ce = at::binary_cross_entropy_with_logits(x, l, {}, {}, at::Reduction::None);
                const auto p_t = p * l + (1 - p) * (1 - l);
                return (ce * (1 - p_t).pow(2)).sum(c.axis);
#else
                return 0;
#endif
            });
        register_case(
            "squared_error", long_rows, two_inputs(long_rows, 0, 0),
            [c = long_rows] { return xt::xarray<float>(xloss::squared_error(logits(c), prob_labels(c), c.axis)); },
            [c = long_rows]
            {
#ifdef XLOSS_BENCH_HAVE_TORCH
                return (as_tensor(logits(c)) - as_tensor(prob_labels(c))).pow(2).sum(c.axis);
#else
                return 0;
#endif
            });
        register_case(
            "kl", short_rows, two_inputs(short_rows, 0, 1),
            [c = short_rows]
            { return xt::xarray<float>(xloss::kl_divergence(log_predictions(c), kl_targets(c), c.axis)); },
            [c = short_rows]
            {
#ifdef XLOSS_BENCH_HAVE_TORCH
                const auto t = as_tensor(kl_targets(c));
                return at::xlogy(t, t).sub(t * as_tensor(log_predictions(c))).sum(c.axis);
#else
                return 0;
#endif
            });
        // A training step: the per-row loss and d/dlogits into kept buffers
        // (libtorch: autograd on a kept leaf, its gradient set to none each step).
        register_case(
            "ce_prob_value_and_grad_into", long_rows, with_gradient(two_inputs(long_rows, 1, 0)),
            [c = long_rows]() -> const xt::xarray<float>&
            {
                static xt::xarray<float> dx = xt::zeros<float>(c.shape);
                static xt::xarray<float> value = xt::zeros<float>(batch_shape(c));
                xloss::value_and_grad_into(value, dx, xloss::softmax_cross_entropy, logits(c), prob_labels(c),
                                           c.axis);
                return dx;
            },
            [c = long_rows]
            {
#ifdef XLOSS_BENCH_HAVE_TORCH
                static at::Tensor x = as_tensor(logits(c)).detach().requires_grad_(true);
                x.mutable_grad() = at::Tensor();
                (-(x.log_softmax(c.axis) * as_tensor(prob_labels(c)))).sum(c.axis).sum().backward();
                return x.grad();
#else
                return 0;
#endif
            });
    }
}

XLOSS_BENCH_MAIN(register_all)

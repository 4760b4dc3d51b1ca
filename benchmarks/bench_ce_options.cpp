// Integer-label cross entropy with every cross_entropy_options term at once
// (label smoothing 0.1, [C] class weights, z-loss 1e-4), family ce_opts, on
// [4096, 1000] and NCHW [8, 21, 256, 256] with axis 1:
//
//   xloss                 the loss with the options
//   xloss_plain           the loss without options, same data (report.py: the
//                         options' cost is xloss / xloss_plain, target 1.15x)
//   torch                 libtorch F::cross_entropy(weight, label_smoothing) plus
//                         z * logsumexp^2, one thread
//   value_and_grad        the per-slice loss and d/dlogits, one fused pass
//   mean_value_and_grad   xloss::mean of it (PyTorch's weighted mean), the
//                         same pass (target: within 1.05x of value_and_grad)
//   torch_fwd_bwd         libtorch forward + sum().backward() with the options
#include <cstdint>
#include <map>

#include <xloss/cross_entropy.hpp>
#include <xloss/grad.hpp>
#include <xloss/reductions.hpp>
#include <xtensor/xstrided_view.hpp>

#include "bench_common.hpp"

#ifdef XLOSS_BENCH_HAVE_TORCH
#include <torch/nn/functional/loss.h>
#endif

namespace
{
    using namespace xloss_bench;

    constexpr double smoothing = 0.1, z_loss = 1e-4;

    // Class weights in [0.5, 1.5), by class (broadcast over the batch axes).
    const xt::xarray<double>& class_weights(const shape_case& c)
    {
        static std::map<std::size_t, xt::xarray<double>> cache;
        const std::size_t n = c.shape[static_cast<std::size_t>(c.axis)];
        auto it = cache.find(n);
        if (it == cache.end())
        {
            xt::xarray<double> w = xt::xarray<double>::from_shape({n});
            for (std::size_t k = 0; k < n; ++k)
            {
                w(k) = 0.5 + static_cast<double>((k * 7919) % 1000) / 1000.0;
            }
            it = cache.emplace(n, std::move(w)).first;
        }
        return it->second;
    }

    // The weights laid along the class axis: [C] for [B, C], [C, 1, 1] for NCHW.
    xloss::cross_entropy_options options_of(const shape_case& c)
    {
        xloss::cross_entropy_options o;
        o.label_smoothing = smoothing;
        o.z_loss = z_loss;
        shape_t s(c.shape.size() - static_cast<std::size_t>(c.axis), 1);
        s[0] = c.shape[static_cast<std::size_t>(c.axis)];
        o.class_weights = xt::xarray<double>(xt::reshape_view(class_weights(c), s));
        return o;
    }

#ifdef XLOSS_BENCH_HAVE_TORCH
    at::Tensor torch_ce_opts(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& weight, int axis)
    {
        namespace F = torch::nn::functional;
        const auto opts =
            F::CrossEntropyFuncOptions().reduction(torch::kNone).weight(weight).label_smoothing(smoothing);
        return F::cross_entropy(logits, labels, opts) + z_loss * at::logsumexp(logits, axis).pow(2);
    }

    // as_tensor shares the array's memory: the float weights live in a cache.
    at::Tensor torch_weight(const shape_case& c)
    {
        static std::map<std::size_t, xt::xarray<float>> cache;
        const std::size_t n = c.shape[static_cast<std::size_t>(c.axis)];
        auto it = cache.find(n);
        if (it == cache.end())
        {
            it = cache.emplace(n, xt::xarray<float>(xt::cast<float>(class_weights(c)))).first;
        }
        return as_tensor(it->second);
    }
#endif

    // Once per shape: torch computes what xloss computes, and the mean's
    // gradient is the per-slice one over D = sum of the labels' weights.
    auto check_of(const shape_case& c)
    {
        return [c](benchmark::State& st)
        {
            return checked_once(
                st, case_name("ce_opts", c, "baselines"),
                [&]
                {
                    const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
                    const auto o = options_of(c);
                    const auto ref = loss(logits(c), class_labels(c), c.axis, o);
                    const auto per_slice = xloss::value_and_grad(loss, logits(c), class_labels(c), c.axis, o);
                    bool ok = same_values(per_slice.value, ref, "value_and_grad's value");
#ifdef XLOSS_BENCH_HAVE_TORCH
                    const at::Tensor w = torch_weight(c);
                    ok = same_values(to_xarray(torch_ce_opts(as_tensor(logits(c)), as_tensor(class_labels(c)), w,
                                                             c.axis)),
                                     ref, "torch ce_opts")
                         && ok;
                    at::Tensor leaf = as_tensor(logits(c)).detach().requires_grad_(true);
                    torch_ce_opts(leaf, as_tensor(class_labels(c)), w, c.axis).sum().backward();
                    ok = same_values(per_slice.grad, to_xarray(leaf.grad()), "torch gradient of ce_opts", 2e-3, 1e-5)
                         && ok;
#endif
                    return ok;
                });
        };
    }

    // value_and_grad of `loss` with the options: one fused pass.
    template <class Loss>
    auto fused(const shape_case& c, const traffic& t, Loss loss)
    {
        return [c, t, loss](benchmark::State& st)
        {
            const auto& x = logits(c);
            const auto& y = class_labels(c);
            const auto o = options_of(c);
            run(st, with_gradient(t),
                [&]
                {
                    auto r = xloss::value_and_grad(loss, x, y, c.axis, o);
                    return std::make_pair(std::move(r.value), std::move(r.grad));
                });
        };
    }

    void register_shape(const shape_case& c)
    {
        const std::string family = "ce_opts";
        const auto check = check_of(c);
        const traffic t = logits_and_classes(c);
        add_checked(case_name(family, c, "xloss"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = class_labels(c);
                        const auto o = options_of(c);
                        const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
                        run(st, t, [&] { return loss(x, y, c.axis, o); });
                    });
        // The plain loss in the same binary, for the options' cost on the same
        // data (report.py: ce_opts xloss / xloss_plain).
        add_checked(case_name(family, c, "xloss_plain"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = class_labels(c);
                        const auto& loss = xloss::softmax_cross_entropy_with_integer_labels;
                        run(st, t, [&] { return loss(x, y, c.axis); });
                    });
        add_checked(case_name(family, c, "value_and_grad"), check,
                    fused(c, t, xloss::softmax_cross_entropy_with_integer_labels));
        add_checked(case_name(family, c, "mean_value_and_grad"), check,
                    fused(c, t, xloss::mean(xloss::softmax_cross_entropy_with_integer_labels)));
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(family, c, "torch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto x = as_tensor(logits(c));
                        const auto y = as_tensor(class_labels(c));
                        const auto w = torch_weight(c);
                        run(st, t, [&] { return torch_ce_opts(x, y, w, c.axis); });
                    });
        add_checked(case_name(family, c, "torch_fwd_bwd"), check,
                    [c, t](benchmark::State& st)
                    {
                        at::Tensor leaf = as_tensor(logits(c)).detach().requires_grad_(true);
                        const auto y = as_tensor(class_labels(c));
                        const auto w = torch_weight(c);
                        run(st, with_gradient(t),
                            [&]
                            {
                                leaf.mutable_grad() = at::Tensor();  // a fresh gradient each call, as xloss returns
                                at::Tensor v = torch_ce_opts(leaf, y, w, c.axis);
                                v.sum().backward();
                                return std::make_pair(v, leaf.grad());
                            });
                    });
#endif
    }

    void register_all()
    {
        register_shape({{4096, 1000}, 1});
        register_shape({{8, 21, 256, 256}, 1});
    }
}

XLOSS_BENCH_MAIN(register_all)

// Sigmoid focal loss (gamma = 2, no alpha: the defaults), summed over the
// axis, on every standard shape: xloss, xloss_mask_full (90% true),
// xloss_mask_batch (all true), xloss_column_major (2-D shapes), naive_xtensor,
// torch (one thread). Inputs: logits uniform(-4, 4), hard 0/1 labels (30%
// positive).
#include <xloss/focal.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "bench_common.hpp"

namespace
{
    using namespace xloss_bench;

    // Optax's formula written over xtensor as a user would: p from a
    // sigmoid, the cross entropy from log(p) and log(1 - p), (1 - p_t)^gamma
    // with pow (gamma is a parameter). Lazy: p is recomputed wherever used.
    xt::xarray<float> naive_focal(const xt::xarray<float>& x, const xt::xarray<float>& l, std::size_t axis)
    {
        const float gamma = 2.0f;
        auto p = 1.0f / (1.0f + xt::exp(-x));
        auto ce = -(l * xt::log(p) + (1.0f - l) * xt::log(1.0f - p));
        auto p_t = p * l + (1.0f - p) * (1.0f - l);
        xt::xarray<float> r = xt::sum(ce * xt::pow(1.0f - p_t, gamma), {axis});
        return r;
    }

#ifdef XLOSS_BENCH_HAVE_TORCH
    // torchvision's sigmoid_focal_loss, without alpha, summed over the axis.
    at::Tensor torch_focal(const at::Tensor& x, const at::Tensor& l, int axis)
    {
        const at::Tensor p = at::sigmoid(x);
        const at::Tensor ce = at::binary_cross_entropy_with_logits(x, l, {}, {}, at::Reduction::None);
        const at::Tensor p_t = p * l + (1 - p) * (1 - l);
        return (ce * (1 - p_t).pow(2)).sum(axis);
    }
#endif

    void register_shape(const shape_case& c)
    {
        const std::string loss = "focal";
        const auto check = [c](benchmark::State& st)
        {
            return checked_once(
                st, case_name("focal", c, "baselines"),
                [&]
                {
                    const auto ref = xloss::sigmoid_focal_loss(logits(c), binary_labels(c), c.axis);
                    bool ok = same_values(naive_focal(logits(c), binary_labels(c),
                                                      static_cast<std::size_t>(c.axis)),
                                          ref, "naive focal");
#ifdef XLOSS_BENCH_HAVE_TORCH
                    ok = same_values(to_xarray(torch_focal(as_tensor(logits(c)), as_tensor(binary_labels(c)),
                                                           c.axis)),
                                     ref, "torch focal")
                         && ok;
#endif
                    return ok;
                });
        };
        const traffic t = two_inputs(c, 1, 1);  // exp(-|x|) and log1p of it
        add_checked(case_name(loss, c, "xloss"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& l = binary_labels(c);
                        run(st, t, [&] { return xloss::sigmoid_focal_loss(x, l, c.axis); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_full"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& l = binary_labels(c);
                        const auto& w = mask_full(c);
                        run(st, with_full_mask(t),
                            [&] { return xloss::sigmoid_focal_loss(x, l, c.axis, w); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_batch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& l = binary_labels(c);
                        const auto& w = mask_batch(c);
                        run(st, with_batch_mask(t, c),
                            [&] { return xloss::sigmoid_focal_loss(x, l, c.axis, w); });
                    });
        add_column_major(loss, c, check, t, xloss::sigmoid_focal_loss, logits, binary_labels);
        add_checked(case_name(loss, c, "naive_xtensor"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& l = binary_labels(c);
                        run(st, t, [&] { return naive_focal(x, l, static_cast<std::size_t>(c.axis)); });
                    });
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(loss, c, "torch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto x = as_tensor(logits(c));
                        const auto l = as_tensor(binary_labels(c));
                        run(st, t, [&] { return torch_focal(x, l, c.axis); });
                    });
#endif
    }

    void register_all()
    {
        for (const auto& c : standard_shapes())
        {
            register_shape(c);
        }
    }
}

XLOSS_BENCH_MAIN(register_all)

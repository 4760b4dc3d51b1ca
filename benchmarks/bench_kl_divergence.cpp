// Kullback-Leibler divergence (kl), its convex form (kl_convex) and the form
// with log targets (kl_log_targets) on every standard shape: xloss,
// xloss_mask_full (90% true), xloss_mask_batch (all true), naive_xtensor,
// torch (one thread). Inputs: log-predictions and targets, both normalised
// along the axis, targets strictly positive (kl_log_targets: their logs).
#include <xloss/kl_divergence.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "bench_common.hpp"

namespace
{
    using namespace xloss_bench;

    // The formulas as a user writes them over xtensor: one lazy expression
    // per loss, evaluated by the reduction.
    xt::xarray<float> naive_kl(const xt::xarray<float>& lp, const xt::xarray<float>& t, std::size_t axis)
    {
        xt::xarray<float> r = xt::sum(t * (xt::log(t) - lp), {axis});
        return r;
    }

    xt::xarray<float> naive_kl_convex(const xt::xarray<float>& lp,
                                      const xt::xarray<float>& t,
                                      std::size_t axis)
    {
        xt::xarray<float> r = xt::sum(t * (xt::log(t) - lp) + xt::exp(lp) - t, {axis});
        return r;
    }

    xt::xarray<float> naive_kl_log_targets(const xt::xarray<float>& lp,
                                           const xt::xarray<float>& lt,
                                           std::size_t axis)
    {
        xt::xarray<float> r = xt::sum(xt::exp(lt) * (lt - lp), {axis});
        return r;
    }

    // The logs of kl_targets, made once per shape.
    const xt::xarray<float>& log_kl_targets(const shape_case& c)
    {
        return cached<xt::xarray<float>>("log_kl_targets/" + shape_name(c.shape) + "/"
                                             + std::to_string(c.axis),
                                         [&] { return xt::xarray<float>(xt::log(kl_targets(c))); });
    }

#ifdef XLOSS_BENCH_HAVE_TORCH
    at::Tensor torch_kl(const at::Tensor& lp, const at::Tensor& t, int axis)
    {
        return at::kl_div(lp, t, at::Reduction::None, /*log_target=*/false).sum(axis);
    }
    at::Tensor torch_kl_convex(const at::Tensor& lp, const at::Tensor& t, int axis)
    {
        return (t * (t.log() - lp) + lp.exp() - t).sum(axis);
    }
    at::Tensor torch_kl_log_targets(const at::Tensor& lp, const at::Tensor& lt, int axis)
    {
        return at::kl_div(lp, lt, at::Reduction::None, /*log_target=*/true).sum(axis);
    }
#endif

    void register_all()
    {
#ifdef XLOSS_BENCH_HAVE_TORCH
        const auto t_kl = torch_kl;
        const auto t_convex = torch_kl_convex;
        const auto t_log = torch_kl_log_targets;
#else
        const int t_kl = 0, t_convex = 0, t_log = 0;
#endif
        // Transcendentals per element: kl needs log(targets); the convex form
        // adds exp(log_predictions).
        for (const auto& c : standard_shapes())
        {
            register_two_input_family("kl", xloss::kl_divergence, naive_kl, t_kl, c, 0, 1, log_predictions,
                                      kl_targets);
        }
        for (const auto& c : standard_shapes())
        {
            register_two_input_family("kl_convex", xloss::convex_kl_divergence, naive_kl_convex, t_convex, c,
                                      1, 1, log_predictions, kl_targets);
        }
        // kl_log_targets: exp(log_targets), no log.
        for (const auto& c : standard_shapes())
        {
            register_two_input_family("kl_log_targets", xloss::kl_divergence_with_log_targets,
                                      naive_kl_log_targets, t_log, c, 1, 0, log_predictions, log_kl_targets);
        }
    }
}

XLOSS_BENCH_MAIN(register_all)

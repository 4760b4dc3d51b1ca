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

    using input_of = const xt::xarray<float>& (*)(const shape_case&);

    // One family of variants for a KL-like loss. Loss: the xloss object;
    // Naive, Torch: the baselines above; targets: its second input.
    template <class Loss, class Naive, class Torch>
    void register_family(const std::string& loss,
                         const Loss& fn,
                         Naive naive,
                         [[maybe_unused]] Torch torch_fn,
                         const shape_case& c,
                         double exps,
                         double logs,
                         input_of targets = xloss_bench::kl_targets)
    {
        const auto check = [c, loss, fn, naive, torch_fn, targets](benchmark::State& st)
        {
            return checked_once(st, case_name(loss, c, "baselines"),
                                [&]
                                {
                                    const auto ref = fn(log_predictions(c), targets(c), c.axis);
                                    bool ok = same_values(naive(log_predictions(c), targets(c),
                                                                static_cast<std::size_t>(c.axis)),
                                                          ref, "naive " + loss);
#ifdef XLOSS_BENCH_HAVE_TORCH
                                    ok = same_values(to_xarray(torch_fn(as_tensor(log_predictions(c)),
                                                                        as_tensor(targets(c)), c.axis)),
                                                     ref, "torch " + loss)
                                         && ok;
#endif
                                    return ok;
                                });
        };
        const traffic t = two_inputs(c, exps, logs);
        add_checked(case_name(loss, c, "xloss"), check,
                    [c, t, fn, targets](benchmark::State& st)
                    {
                        const auto& x = log_predictions(c);
                        const auto& y = targets(c);
                        run(st, t, [&] { return fn(x, y, c.axis); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_full"), check,
                    [c, t, fn, targets](benchmark::State& st)
                    {
                        const auto& x = log_predictions(c);
                        const auto& y = targets(c);
                        const auto& w = mask_full(c);
                        run(st, with_full_mask(t), [&] { return fn(x, y, c.axis, w); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_batch"), check,
                    [c, t, fn, targets](benchmark::State& st)
                    {
                        const auto& x = log_predictions(c);
                        const auto& y = targets(c);
                        const auto& w = mask_batch(c);
                        run(st, with_batch_mask(t, c), [&] { return fn(x, y, c.axis, w); });
                    });
        add_checked(case_name(loss, c, "naive_xtensor"), check,
                    [c, t, naive, targets](benchmark::State& st)
                    {
                        const auto& x = log_predictions(c);
                        const auto& y = targets(c);
                        run(st, t, [&] { return naive(x, y, static_cast<std::size_t>(c.axis)); });
                    });
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(loss, c, "torch"), check,
                    [c, t, torch_fn, targets](benchmark::State& st)
                    {
                        const auto x = as_tensor(log_predictions(c));
                        const auto y = as_tensor(targets(c));
                        run(st, t, [&] { return torch_fn(x, y, c.axis); });
                    });
#endif
    }

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
            register_family("kl", xloss::kl_divergence, naive_kl, t_kl, c, 0, 1);
        }
        for (const auto& c : standard_shapes())
        {
            register_family("kl_convex", xloss::convex_kl_divergence, naive_kl_convex, t_convex, c, 1, 1);
        }
        // kl_log_targets: exp(log_targets), no log.
        for (const auto& c : standard_shapes())
        {
            register_family("kl_log_targets", xloss::kl_divergence_with_log_targets, naive_kl_log_targets,
                            t_log, c, 1, 0, log_kl_targets);
        }
    }
}

XLOSS_BENCH_MAIN(register_all)

// Softmax cross entropy, integer labels (ce_int) and probability labels
// (ce_prob), on every standard shape:
//
//   xloss               the library, no mask
//   xloss_mask_full     with a full-shape mask, 90% true
//   xloss_mask_batch    with a batch-shape mask (all true: the cost of the mask alone)
//   xloss_column_major, xloss_transposed_view, xloss_lazy (x * 1, y * 1) and
//   xtensor_eval (xtensor evaluating those two expressions alone): ce_prob,
//   2-D shapes
//   naive_xtensor       the lazy xtensor formula a user would write
//   torch               libtorch, one thread (when built with it)
//
// plus the tiny case ce_int/32x10 (xloss, naive, torch), where the per-call
// overhead is all there is.
#include <cstdint>

#include <xloss/cross_entropy.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "bench_common.hpp"

#ifdef XLOSS_BENCH_HAVE_TORCH
#include <torch/nn/functional/loss.h>
#endif

namespace
{
    using namespace xloss_bench;

    // ---------------------------------------------------------------------
    // The naive xtensor compositions. Each reduction is evaluated before it is
    // reused: xtensor 0.24.3 gives wrong values for amax(..., keep_dims) reused
    // lazily inside another reduction.

    // log(sum(exp(logits - max))) + max, with the reduced axis kept.
    xt::xarray<float> naive_logsumexp(const xt::xarray<float>& logits, std::size_t axis)
    {
        xt::xarray<float> m = xt::amax(logits, {axis}, xt::keep_dims);
        xt::xarray<float> lse = xt::log(xt::sum(xt::exp(logits - m), {axis}, xt::keep_dims)) + m;
        return lse;
    }

    xt::xarray<float> naive_ce_prob(const xt::xarray<float>& logits,
                                    const xt::xarray<float>& labels,
                                    std::size_t axis)
    {
        const xt::xarray<float> lse = naive_logsumexp(logits, axis);
        xt::xarray<float> r = -xt::sum(labels * (logits - lse), {axis});
        return r;
    }

    // logsumexp minus the logit at the label; the pick is a plain loop (xtensor
    // has no take_along_axis), which costs nothing next to the exps.
    xt::xarray<float> naive_ce_int(const xt::xarray<float>& logits,
                                   const xt::xarray<std::int64_t>& labels,
                                   const shape_case& c)
    {
        const xt::xarray<float> lse = naive_logsumexp(logits, static_cast<std::size_t>(c.axis));
        xt::xarray<float> r = xt::xarray<float>::from_shape(batch_shape(c));
        const planes p = planes_of(c);
        for (std::size_t o = 0; o < p.outer; ++o)
        {
            for (std::size_t j = 0; j < p.inner; ++j)
            {
                const std::size_t s = o * p.inner + j;
                const auto k = static_cast<std::size_t>(labels.data()[s]);
                r.data()[s] = lse.data()[s] - logits.data()[(o * p.n + k) * p.inner + j];
            }
        }
        return r;
    }

#ifdef XLOSS_BENCH_HAVE_TORCH
    at::Tensor torch_ce_int(const at::Tensor& logits, const at::Tensor& labels)
    {
        namespace F = torch::nn::functional;
        return F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    }
    at::Tensor torch_ce_prob(const at::Tensor& logits, const at::Tensor& labels, int axis)
    {
        return -(labels * at::log_softmax(logits, axis)).sum(axis);
    }
#endif

    // ---------------------------------------------------------------------

    // Once per shape: the baselines must compute what xloss computes.
    auto ce_int_check(const shape_case& c)
    {
        return [c](benchmark::State& st)
        {
            return checked_once(st, case_name("ce_int", c, "baselines"),
                                [&]
                                {
                                    const auto ref = xloss::softmax_cross_entropy_with_integer_labels(
                                        logits(c), class_labels(c), c.axis);
                                    bool ok = same_values(naive_ce_int(logits(c), class_labels(c), c), ref,
                                                          "naive ce_int");
#ifdef XLOSS_BENCH_HAVE_TORCH
                                    ok = same_values(to_xarray(torch_ce_int(as_tensor(logits(c)),
                                                                            as_tensor(class_labels(c)))),
                                                     ref, "torch ce_int")
                                         && ok;
#endif
                                    return ok;
                                });
        };
    }

    auto ce_prob_check(const shape_case& c)
    {
        return [c](benchmark::State& st)
        {
            return checked_once(
                st, case_name("ce_prob", c, "baselines"),
                [&]
                {
                    const auto ref = xloss::softmax_cross_entropy(logits(c), prob_labels(c), c.axis);
                    bool ok = same_values(naive_ce_prob(logits(c), prob_labels(c),
                                                        static_cast<std::size_t>(c.axis)),
                                          ref, "naive ce_prob");
#ifdef XLOSS_BENCH_HAVE_TORCH
                    ok = same_values(to_xarray(torch_ce_prob(as_tensor(logits(c)), as_tensor(prob_labels(c)),
                                                             c.axis)),
                                     ref, "torch ce_prob")
                         && ok;
#endif
                    return ok;
                });
        };
    }

    void register_ce_int(const shape_case& c, bool masks)
    {
        const std::string loss = "ce_int";
        const auto check = ce_int_check(c);
        const traffic t = logits_and_classes(c);
        add_checked(case_name(loss, c, "xloss"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = class_labels(c);
                        run(st, t,
                            [&] { return xloss::softmax_cross_entropy_with_integer_labels(x, y, c.axis); });
                    });
        if (masks)
        {
            add_checked(case_name(loss, c, "xloss_mask_full"), check,
                        [c, t](benchmark::State& st)
                        {
                            const auto& x = logits(c);
                            const auto& y = class_labels(c);
                            const auto& w = mask_full(c);
                            run(st, with_full_mask(t),
                                [&] {
                                    return xloss::softmax_cross_entropy_with_integer_labels(x, y, c.axis, w);
                                });
                        });
            add_checked(case_name(loss, c, "xloss_mask_batch"), check,
                        [c, t](benchmark::State& st)
                        {
                            const auto& x = logits(c);
                            const auto& y = class_labels(c);
                            const auto& w = mask_batch(c);
                            run(st, with_batch_mask(t, c),
                                [&] {
                                    return xloss::softmax_cross_entropy_with_integer_labels(x, y, c.axis, w);
                                });
                        });
        }
        add_checked(case_name(loss, c, "naive_xtensor"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = class_labels(c);
                        run(st, t, [&] { return naive_ce_int(x, y, c); });
                    });
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(loss, c, "torch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto x = as_tensor(logits(c));
                        const auto y = as_tensor(class_labels(c));
                        run(st, t, [&] { return torch_ce_int(x, y); });
                    });
#endif
    }

    void register_ce_prob(const shape_case& c)
    {
        const std::string loss = "ce_prob";
        const auto check = ce_prob_check(c);
        const traffic t = two_inputs(c, 1, 0);
        add_checked(case_name(loss, c, "xloss"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = prob_labels(c);
                        run(st, t, [&] { return xloss::softmax_cross_entropy(x, y, c.axis); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_full"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = prob_labels(c);
                        const auto& w = mask_full(c);
                        run(st, with_full_mask(t),
                            [&] { return xloss::softmax_cross_entropy(x, y, c.axis, w); });
                    });
        if (c.shape.size() == 2)
        {
            // The same values held column-major, and as a transposed view of a
            // transposed copy: read in place along their memory order.
            add_checked(case_name(loss, c, "xloss_column_major"), check,
                        [c, t](benchmark::State& st)
                        {
                            const xt::xarray<float, xt::layout_type::column_major> x = logits(c);
                            const xt::xarray<float, xt::layout_type::column_major> y = prob_labels(c);
                            run(st, t, [&] { return xloss::softmax_cross_entropy(x, y, c.axis); });
                        });
            add_checked(case_name(loss, c, "xloss_transposed_view"), check,
                        [c, t](benchmark::State& st)
                        {
                            const xt::xarray<float> xt_copy = xt::transpose(logits(c));
                            const xt::xarray<float> yt_copy = xt::transpose(prob_labels(c));
                            const auto x = xt::transpose(xt_copy);
                            const auto y = xt::transpose(yt_copy);
                            run(st, t, [&] { return xloss::softmax_cross_entropy(x, y, c.axis); });
                        });
            // Lazy expressions of the same values, evaluated chunk by chunk,
            // against xtensor evaluating the two expressions alone.
            add_checked(case_name(loss, c, "xloss_lazy"), check,
                        [c, t](benchmark::State& st)
                        {
                            const auto& x = logits(c);
                            const auto& y = prob_labels(c);
                            run(st, t,
                                [&] { return xloss::softmax_cross_entropy(x * 1.0f, y * 1.0f, c.axis); });
                        });
            add(case_name(loss, c, "xtensor_eval"),
                [c, t](benchmark::State& st)
                {
                    const auto& x = logits(c);
                    const auto& y = prob_labels(c);
                    run(st, t,
                        [&]
                        {
                            xt::xarray<float> x1 = x * 1.0f;
                            const xt::xarray<float> y1 = y * 1.0f;
                            x1(0, 0) += y1(0, 0);
                            return x1;
                        });
                });
        }
        add_checked(case_name(loss, c, "xloss_mask_batch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = prob_labels(c);
                        const auto& w = mask_batch(c);
                        run(st, with_batch_mask(t, c),
                            [&] { return xloss::softmax_cross_entropy(x, y, c.axis, w); });
                    });
        add_checked(case_name(loss, c, "naive_xtensor"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = prob_labels(c);
                        run(st, t, [&] { return naive_ce_prob(x, y, static_cast<std::size_t>(c.axis)); });
                    });
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(loss, c, "torch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto x = as_tensor(logits(c));
                        const auto y = as_tensor(prob_labels(c));
                        run(st, t, [&] { return torch_ce_prob(x, y, c.axis); });
                    });
#endif
    }

    void register_all()
    {
        for (const auto& c : standard_shapes())
        {
            register_ce_int(c, true);
        }
        for (const auto& c : standard_shapes())
        {
            register_ce_prob(c);
        }
        // [32, 10]: a classifier's minibatch. The call overhead (shape checks,
        // allocations) is the whole cost; the target is below 1 us.
        register_ce_int({{32, 10}, 1}, false);
    }
}

XLOSS_BENCH_MAIN(register_all)

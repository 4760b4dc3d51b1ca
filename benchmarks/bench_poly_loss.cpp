// Poly-1 cross entropy (poly, epsilon 2) with probability labels, on every
// standard shape:
//
//   xloss               the library, no mask
//   xloss_mask_full     with a full-shape mask, 90% true
//   xloss_mask_batch    with a batch-shape mask (all true: the cost of the mask alone)
//   naive_xtensor       the lazy xtensor formula a user would write
//   torch               libtorch, one thread (when built with it): torch has no
//                       poly loss, so its cross_entropy plus the poly term
#include <xloss/poly_loss.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "bench_common.hpp"

#ifdef XLOSS_BENCH_HAVE_TORCH
#include <torch/nn/functional/loss.h>
#endif

namespace
{
    using namespace xloss_bench;

    constexpr float k_epsilon = 2;

    // CE + epsilon * sum(labels * (1 - softmax)), over xtensor. The
    // logsumexp is evaluated before it is reused (xtensor 0.24.3 gives wrong
    // values for amax(..., keep_dims) reused lazily inside another reduction).
    xt::xarray<float> naive_poly(const xt::xarray<float>& logits,
                                 const xt::xarray<float>& labels,
                                 std::size_t axis)
    {
        const xt::xarray<float> m = xt::amax(logits, {axis}, xt::keep_dims);
        const xt::xarray<float> lse = xt::log(xt::sum(xt::exp(logits - m), {axis}, xt::keep_dims)) + m;
        xt::xarray<float> r = xt::sum(
            -labels * (logits - lse) + k_epsilon * labels * (1.0f - xt::exp(logits - lse)), {axis});
        return r;
    }

#ifdef XLOSS_BENCH_HAVE_TORCH
    at::Tensor torch_poly(const at::Tensor& logits, const at::Tensor& labels, int axis)
    {
        namespace F = torch::nn::functional;
        // cross_entropy takes the classes on dimension 1: every standard shape reduces axis 1.
        const auto ce = F::cross_entropy(logits, labels,
                                         F::CrossEntropyFuncOptions().reduction(torch::kNone));
        return ce + k_epsilon * (labels * (1 - at::softmax(logits, axis))).sum(axis);
    }
#endif

    xloss::poly_options options()
    {
        xloss::poly_options o;
        o.epsilon = k_epsilon;
        return o;
    }

    auto poly_check(const shape_case& c)
    {
        return [c](benchmark::State& st)
        {
            return checked_once(st, case_name("poly", c, "baselines"),
                                [&]
                                {
                                    const auto ref = xloss::poly_loss_cross_entropy(logits(c), prob_labels(c),
                                                                                    c.axis, options());
                                    bool ok = same_values(naive_poly(logits(c), prob_labels(c),
                                                                     static_cast<std::size_t>(c.axis)),
                                                          ref, "naive poly");
#ifdef XLOSS_BENCH_HAVE_TORCH
                                    ok = same_values(to_xarray(torch_poly(as_tensor(logits(c)),
                                                                          as_tensor(prob_labels(c)), c.axis)),
                                                     ref, "torch poly")
                                         && ok;
#endif
                                    return ok;
                                });
        };
    }

    void register_poly(const shape_case& c)
    {
        const std::string loss = "poly";
        const auto check = poly_check(c);
        // One exp per element (the softmax); its log is per slice.
        const traffic t = two_inputs(c, 1, 0);
        add_checked(case_name(loss, c, "xloss"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = prob_labels(c);
                        const auto o = options();
                        run(st, t, [&] { return xloss::poly_loss_cross_entropy(x, y, c.axis, o); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_full"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = prob_labels(c);
                        const auto& w = mask_full(c);
                        const auto o = options();
                        run(st, with_full_mask(t),
                            [&] { return xloss::poly_loss_cross_entropy(x, y, c.axis, w, o); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_batch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = prob_labels(c);
                        const auto& w = mask_batch(c);
                        const auto o = options();
                        run(st, with_batch_mask(t, c),
                            [&] { return xloss::poly_loss_cross_entropy(x, y, c.axis, w, o); });
                    });
        add_checked(case_name(loss, c, "naive_xtensor"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& y = prob_labels(c);
                        run(st, t, [&] { return naive_poly(x, y, static_cast<std::size_t>(c.axis)); });
                    });
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(loss, c, "torch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto x = as_tensor(logits(c));
                        const auto y = as_tensor(prob_labels(c));
                        run(st, t, [&] { return torch_poly(x, y, c.axis); });
                    });
#endif
    }

    void register_all()
    {
        for (const auto& c : standard_shapes())
        {
            register_poly(c);
        }
    }
}

XLOSS_BENCH_MAIN(register_all)

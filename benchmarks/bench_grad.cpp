// Loss value and gradient with respect to the first input, for every loss on
// every standard shape (and cosine on [65536, 128]):
//
//   value_and_grad    xloss::value_and_grad: one fused pass
//   value_and_grad_into   the same into the caller's buffers (no allocation)
//   value_and_grad_into_column_major   the same, inputs and dx column-major
//                     (2-D shapes)
//   loss_then_grad    the loss, then xloss::grad: what a user does without it
//   torch_fwd_bwd     libtorch forward + sum().backward(), one thread
//
// Bytes processed are the inputs read once; write_bytes_per_elem counts the
// gradient written, which report.py adds to the bound at the measured
// read+write bandwidth.
#include <xloss/xloss.hpp>

#include "bench_common.hpp"

#ifdef XLOSS_BENCH_HAVE_TORCH
#include <torch/nn/functional/loss.h>
#endif

namespace
{
    using namespace xloss_bench;

    using input_fn = const xt::xarray<float>& (*)(const shape_case&);

#ifdef XLOSS_BENCH_HAVE_TORCH
    // The same torch formulas as the family files (one thread, composite ops).
    at::Tensor torch_ce_int(const at::Tensor& x, const at::Tensor& y, int)
    {
        namespace F = torch::nn::functional;
        return F::cross_entropy(x, y, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    }
    at::Tensor torch_ce_prob(const at::Tensor& x, const at::Tensor& y, int axis)
    {
        return -(y * at::log_softmax(x, axis)).sum(axis);
    }
    at::Tensor torch_kl(const at::Tensor& lp, const at::Tensor& t, int axis)
    {
        return at::kl_div(lp, t, at::Reduction::None, false).sum(axis);
    }
    at::Tensor torch_kl_convex(const at::Tensor& lp, const at::Tensor& t, int axis)
    {
        return (t * (t.log() - lp) + lp.exp() - t).sum(axis);
    }
    at::Tensor torch_cosine(const at::Tensor& a, const at::Tensor& b, int axis)
    {
        return at::cosine_similarity(a, b, axis);
    }
    at::Tensor torch_focal(const at::Tensor& x, const at::Tensor& l, int axis)
    {
        const at::Tensor p = at::sigmoid(x);
        const at::Tensor ce = at::binary_cross_entropy_with_logits(x, l, {}, {}, at::Reduction::None);
        const at::Tensor p_t = p * l + (1 - p) * (1 - l);
        return (ce * (1 - p_t).pow(2)).sum(axis);
    }
    using torch_fn = at::Tensor (*)(const at::Tensor&, const at::Tensor&, int);

    // d sum(loss) / d x through autograd, on a fresh leaf over x's memory.
    template <class Y>
    at::Tensor torch_grad(torch_fn f, const xt::xarray<float>& x, const Y& y, int axis)
    {
        at::Tensor leaf = as_tensor(x).detach().requires_grad_(true);
        f(leaf, as_tensor(y), axis).sum().backward();
        return leaf.grad();
    }
#else
    using torch_fn = int;
#endif

    // One loss: Loss is the xloss object, X and Y give its inputs.
    template <class Loss, class Y>
    void register_loss(const std::string& loss,
                       const Loss& fn,
                       input_fn x_of,
                       Y y_of,
                       [[maybe_unused]] torch_fn tf,
                       const shape_case& c,
                       const traffic& t)
    {
        const auto check = [=](benchmark::State& st)
        {
            return checked_once(st, case_name(loss, c, "gradients"),
                                [&]
                                {
                                    const auto fused = xloss::value_and_grad(fn, x_of(c), y_of(c), c.axis);
                                    bool ok = same_values(xloss::grad(fn, x_of(c), y_of(c), c.axis),
                                                          fused.grad, "xloss::grad " + loss);
#ifdef XLOSS_BENCH_HAVE_TORCH
                                    ok = same_values(fused.grad,
                                                     to_xarray(torch_grad(tf, x_of(c), y_of(c), c.axis)),
                                                     "torch gradient of " + loss, 2e-3, 1e-5)
                                         && ok;
#endif
                                    return ok;
                                });
        };
        add_checked(case_name(loss, c, "value_and_grad"), check,
                    [=](benchmark::State& st)
                    {
                        const auto& x = x_of(c);
                        const auto& y = y_of(c);
                        run(st, t,
                            [&]
                            {
                                auto r = xloss::value_and_grad(fn, x, y, c.axis);
                                return std::make_pair(std::move(r.value), std::move(r.grad));
                            });
                    });
        // A training step's form: the value and the gradient written into the
        // caller's buffers, kept from call to call.
        add_checked(case_name(loss, c, "value_and_grad_into"), check,
                    [=](benchmark::State& st)
                    {
                        const auto& x = x_of(c);
                        const auto& y = y_of(c);
                        xt::xarray<float> dx = xt::zeros<float>(x.shape());
                        xt::xarray<float> value = fn(x, y, c.axis);
                        run(st, t,
                            [&]
                            {
                                xloss::value_and_grad_into(value, dx, fn, x, y, c.axis);
                                return value.data()[0];
                            });
                    });
        // 2-D shapes: the same step on the inputs held column-major, into a
        // column-major dx: read and written where they are.
        if (c.shape.size() == 2)
        {
            add_checked(case_name(loss, c, "value_and_grad_into_column_major"), check,
                        [=](benchmark::State& st)
                        {
                            constexpr auto column_major = xt::layout_type::column_major;
                            const xt::xarray<float, column_major> x = x_of(c);
                            const xt::xarray<typename std::decay_t<decltype(y_of(c))>::value_type, column_major> y
                                = y_of(c);
                            xt::xarray<float, column_major> dx = xt::zeros<float>(x.shape());
                            xt::xarray<float> value = fn(x, y, c.axis);
                            run(st, t,
                                [&]
                                {
                                    xloss::value_and_grad_into(value, dx, fn, x, y, c.axis);
                                    return value.data()[0];
                                });
                        });
        }
        add_checked(case_name(loss, c, "loss_then_grad"), check,
                    [=](benchmark::State& st)
                    {
                        const auto& x = x_of(c);
                        const auto& y = y_of(c);
                        run(st, t,
                            [&]
                            {
                                auto v = fn(x, y, c.axis);
                                auto g = xloss::grad(fn, x, y, c.axis);
                                return std::make_pair(std::move(v), std::move(g));
                            });
                    });
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(loss, c, "torch_fwd_bwd"), check,
                    [=](benchmark::State& st)
                    {
                        at::Tensor leaf = as_tensor(x_of(c)).detach().requires_grad_(true);
                        const at::Tensor y = as_tensor(y_of(c));
                        run(st, t,
                            [&]
                            {
                                leaf.mutable_grad() = at::Tensor();  // a fresh gradient each call, as xloss
                                                                     // returns
                                at::Tensor v = tf(leaf, y, c.axis);
                                v.sum().backward();
                                return std::make_pair(v, leaf.grad());
                            });
                    });
#endif
    }

    void register_all()
    {
#ifdef XLOSS_BENCH_HAVE_TORCH
#define XLOSS_BENCH_TORCH_FN(f) f
#else
#define XLOSS_BENCH_TORCH_FN(f) 0
#endif
        for (const auto& c : standard_shapes())
        {
            register_loss("ce_int", xloss::softmax_cross_entropy_with_integer_labels, logits, class_labels,
                          XLOSS_BENCH_TORCH_FN(torch_ce_int), c, with_gradient(logits_and_classes(c)));
            register_loss("ce_prob", xloss::softmax_cross_entropy, logits, prob_labels,
                          XLOSS_BENCH_TORCH_FN(torch_ce_prob), c, with_gradient(two_inputs(c, 1, 0)));
            register_loss("kl", xloss::kl_divergence, log_predictions, kl_targets,
                          XLOSS_BENCH_TORCH_FN(torch_kl), c, with_gradient(two_inputs(c, 0, 1)));
            register_loss("kl_convex", xloss::convex_kl_divergence, log_predictions, kl_targets,
                          XLOSS_BENCH_TORCH_FN(torch_kl_convex), c, with_gradient(two_inputs(c, 1, 1)));
            register_loss("cosine", xloss::cosine_similarity, cosine_a, cosine_b,
                          XLOSS_BENCH_TORCH_FN(torch_cosine), c, with_gradient(two_inputs(c, 0, 0)));
            register_loss("focal", xloss::sigmoid_focal_loss, logits, binary_labels,
                          XLOSS_BENCH_TORCH_FN(torch_focal), c, with_gradient(two_inputs(c, 1, 1)));
        }
        const shape_case embeddings{{65536, 128}, 1};
        register_loss("cosine", xloss::cosine_similarity, cosine_a, cosine_b,
                      XLOSS_BENCH_TORCH_FN(torch_cosine), embeddings,
                      with_gradient(two_inputs(embeddings, 0, 0)));
#undef XLOSS_BENCH_TORCH_FN
    }
}

XLOSS_BENCH_MAIN(register_all)

// Sigmoid binary cross entropy (no weights) summed over the axis, on every
// standard shape (register_two_input_family: xloss, xloss_mask_full,
// xloss_mask_batch, naive_xtensor, torch with one thread), hard 0/1 labels
// (30% positive) as in bench_focal; and on the 2-D shapes the weighted call:
//
//   xloss_weights   weights and pos_weight, each of shape [C]
//   torch_weights   binary_cross_entropy_with_logits(weight, pos_weight), the same
#include <xloss/binary_cross_entropy.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "bench_common.hpp"

namespace
{
    using namespace xloss_bench;

    // Optax's formula over xtensor as a user would write it (log-sigmoid
    // through log1p(exp(-|x|)), lazily).
    xt::xarray<float> naive_bce(const xt::xarray<float>& x, const xt::xarray<float>& l, std::size_t axis)
    {
        auto log1p_e = xt::log1p(xt::exp(-xt::abs(x)));
        auto sp_pos = xt::maximum(x, 0.0f) + log1p_e;   // -log(1 - p)
        auto sp_neg = xt::maximum(-x, 0.0f) + log1p_e;  // -log(p)
        xt::xarray<float> r = xt::sum(l * sp_neg + (1.0f - l) * sp_pos, {axis});
        return r;
    }

#ifdef XLOSS_BENCH_HAVE_TORCH
    at::Tensor torch_bce(const at::Tensor& x, const at::Tensor& l, int axis)
    {
        return at::binary_cross_entropy_with_logits(x, l, {}, {}, at::Reduction::None).sum(axis);
    }
#endif

    // One weight per class, in [0.5, 2), as float (cached: torch's tensors
    // wrap it without a copy) and as the option's double array.
    const xt::xarray<float>& class_weights(std::size_t classes, double offset)
    {
        return cached<xt::xarray<float>>("bce_weights/" + std::to_string(classes) + "/" + std::to_string(offset),
                                         [&]
                                         {
                                             xt::xarray<float> w = xt::xarray<float>::from_shape({classes});
                                             for (std::size_t j = 0; j < classes; ++j)
                                             {
                                                 w(j) = static_cast<float>(0.5 + std::fmod(offset + 0.37 * double(j), 1.5));
                                             }
                                             return w;
                                         });
    }

    void register_weighted(const shape_case& c)
    {
        const std::string loss = "bce";
        xloss::binary_cross_entropy_options o;
        const auto& w = class_weights(c.shape[1], 0.0);
        const auto& pw = class_weights(c.shape[1], 0.7);
        o.weights = xt::xarray<double>(xt::cast<double>(w));
        o.pos_weight = xt::xarray<double>(xt::cast<double>(pw));
        const auto check = [c, o, &w, &pw](benchmark::State& st)
        {
            return checked_once(st, case_name("bce", c, "weights baselines"),
                                [&]
                                {
                                    const auto ref = xloss::sigmoid_binary_cross_entropy(logits(c), binary_labels(c),
                                                                                         c.axis, o);
                                    bool ok = !xt::all(xt::equal(
                                        ref, xloss::sigmoid_binary_cross_entropy(logits(c), binary_labels(c), c.axis)));
#ifdef XLOSS_BENCH_HAVE_TORCH
                                    ok = same_values(to_xarray(at::binary_cross_entropy_with_logits(
                                                                   as_tensor(logits(c)), as_tensor(binary_labels(c)),
                                                                   as_tensor(w), as_tensor(pw), at::Reduction::None)
                                                                   .sum(c.axis)),
                                                     ref, "torch bce weights")
                                         && ok;
#endif
                                    return ok;
                                });
        };
        // The two [C] arrays are read too (small, cached); the engine also
        // writes and reads their planned full-shape copies, not counted here.
        const traffic t = two_inputs(c, 1, 1);
        add_checked(case_name(loss, c, "xloss_weights"), check,
                    [c, t, o](benchmark::State& st)
                    {
                        const auto& x = logits(c);
                        const auto& l = binary_labels(c);
                        run(st, t, [&] { return xloss::sigmoid_binary_cross_entropy(x, l, c.axis, o); });
                    });
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(loss, c, "torch_weights"), check,
                    [c, t, &w, &pw](benchmark::State& st)
                    {
                        const auto x = as_tensor(logits(c));
                        const auto l = as_tensor(binary_labels(c));
                        const auto tw = as_tensor(w);
                        const auto tpw = as_tensor(pw);
                        run(st, t,
                            [&]
                            {
                                return at::binary_cross_entropy_with_logits(x, l, tw, tpw, at::Reduction::None)
                                    .sum(c.axis);
                            });
                    });
#endif
    }

    void register_all()
    {
#ifdef XLOSS_BENCH_HAVE_TORCH
        const auto t_bce = torch_bce;
#else
        const int t_bce = 0;
#endif
        for (const auto& c : standard_shapes())
        {
            // One exp (exp(-|x|)) and one log1p per element.
            register_two_input_family("bce", xloss::sigmoid_binary_cross_entropy, naive_bce, t_bce, c, 1, 1, logits,
                                      binary_labels);
            if (c.shape.size() == 2)
            {
                register_weighted(c);
            }
        }
    }
}

XLOSS_BENCH_MAIN(register_all)

// Poly-1 cross entropy (poly, epsilon 2, the default) with probability
// labels, on every standard shape (register_two_input_family):
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

    void register_all()
    {
#ifdef XLOSS_BENCH_HAVE_TORCH
        const auto t_poly = torch_poly;
#else
        const int t_poly = 0;
#endif
        // One exp per element (the softmax); its log is per slice. The
        // default epsilon is the benchmarked one.
        static_assert(xloss::poly_options{}.epsilon == k_epsilon);
        for (const auto& c : standard_shapes())
        {
            register_two_input_family("poly", xloss::poly_loss_cross_entropy, naive_poly, t_poly, c, 1, 0, logits,
                                      prob_labels);
        }
    }
}

XLOSS_BENCH_MAIN(register_all)

// The regression losses (squared_error, l2_loss, huber_loss, log_cosh) on
// every standard shape: xloss, xloss_mask_full (90% true), xloss_mask_batch
// (all true), naive_xtensor, torch (one thread; mse_loss, huber_loss, and
// log-cosh written with torch ops, which has none). Inputs: predictions and
// targets uniform in (-1, 1), so Huber's errors fall on both sides of delta 1
// (|e| up to 2).
#include <xloss/regression.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "bench_common.hpp"

namespace
{
    using namespace xloss_bench;

    // The formulas as a user writes them over xtensor.
    xt::xarray<float> naive_squared(const xt::xarray<float>& x, const xt::xarray<float>& y, std::size_t axis)
    {
        xt::xarray<float> r = xt::sum(xt::square(x - y), {axis});
        return r;
    }

    xt::xarray<float> naive_huber(const xt::xarray<float>& x, const xt::xarray<float>& y, std::size_t axis)
    {
        const auto a = xt::abs(x - y);
        xt::xarray<float> r = xt::sum(xt::where(a <= 1.0f, 0.5f * a * a, a - 0.5f), {axis});
        return r;
    }

    xt::xarray<float> naive_log_cosh(const xt::xarray<float>& x, const xt::xarray<float>& y, std::size_t axis)
    {
        xt::xarray<float> r = xt::sum(xt::log(xt::cosh(x - y)), {axis});
        return r;
    }

#ifdef XLOSS_BENCH_HAVE_TORCH
    at::Tensor torch_squared(const at::Tensor& x, const at::Tensor& y, int axis)
    {
        return at::mse_loss(x, y, at::Reduction::None).sum(axis);
    }
    at::Tensor torch_huber(const at::Tensor& x, const at::Tensor& y, int axis)
    {
        return at::huber_loss(x, y, at::Reduction::None, 1.0).sum(axis);
    }
    at::Tensor torch_log_cosh(const at::Tensor& x, const at::Tensor& y, int axis)
    {
        const at::Tensor e = x - y;
        return (at::logaddexp(e, -e) - std::log(2.0)).sum(axis);
    }
#endif

    void register_all()
    {
#ifdef XLOSS_BENCH_HAVE_TORCH
        const auto t_squared = torch_squared;
        const auto t_huber = torch_huber;
        const auto t_log_cosh = torch_log_cosh;
#else
        const int t_squared = 0, t_huber = 0, t_log_cosh = 0;
#endif
        // l2_loss is squared_error's kernel times 0.5: not timed apart.
        for (const auto& c : standard_shapes())
        {
            register_two_input_family("squared_error", xloss::squared_error, naive_squared, t_squared, c, 0,
                                      0, cosine_a, cosine_b);
        }
        for (const auto& c : standard_shapes())
        {
            register_two_input_family("huber", xloss::huber_loss, naive_huber, t_huber, c, 0, 0, cosine_a,
                                      cosine_b);
        }
        // log-cosh needs an expm1 or exp and a log1p per element.
        for (const auto& c : standard_shapes())
        {
            register_two_input_family("log_cosh", xloss::log_cosh, naive_log_cosh, t_log_cosh, c, 1, 1,
                                      cosine_a, cosine_b);
        }
    }
}

XLOSS_BENCH_MAIN(register_all)

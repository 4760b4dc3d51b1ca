// Cosine similarity on every standard shape and on [65536, 128] (embedding
// batches): xloss, xloss_mask_full (90% true), xloss_mask_batch (all true),
// xloss_column_major (2-D shapes), naive_xtensor, torch (one thread). Inputs: two uniform(-1, 1) arrays.
// cosine_distance is 1 - this in the same kernel, so it is not timed apart.
#include <xloss/cosine.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "bench_common.hpp"

namespace
{
    using namespace xloss_bench;

    // The formula as a user writes it over xtensor: three lazy reductions
    // inside one elementwise expression, evaluated once per slice.
    xt::xarray<float> naive_cosine(const xt::xarray<float>& a, const xt::xarray<float>& b, std::size_t axis)
    {
        xt::xarray<float> r = xt::sum(a * b, {axis})
                              / (xt::sqrt(xt::sum(a * a, {axis})) * xt::sqrt(xt::sum(b * b, {axis})));
        return r;
    }

#ifdef XLOSS_BENCH_HAVE_TORCH
    at::Tensor torch_cosine(const at::Tensor& a, const at::Tensor& b, int axis)
    {
        return at::cosine_similarity(a, b, axis);  // eps 1e-8, far below these norms
    }
#endif

    void register_shape(const shape_case& c)
    {
        const std::string loss = "cosine";
        const auto check = [c](benchmark::State& st)
        {
            return checked_once(st, case_name("cosine", c, "baselines"),
                                [&]
                                {
                                    const auto ref = xloss::cosine_similarity(cosine_a(c), cosine_b(c),
                                                                              c.axis);
                                    bool ok = same_values(naive_cosine(cosine_a(c), cosine_b(c),
                                                                       static_cast<std::size_t>(c.axis)),
                                                          ref, "naive cosine");
#ifdef XLOSS_BENCH_HAVE_TORCH
                                    ok = same_values(to_xarray(torch_cosine(as_tensor(cosine_a(c)),
                                                                            as_tensor(cosine_b(c)), c.axis)),
                                                     ref, "torch cosine")
                                         && ok;
#endif
                                    return ok;
                                });
        };
        const traffic t = two_inputs(c, 0, 0);  // no transcendentals: one sqrt per slice
        add_checked(case_name(loss, c, "xloss"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& a = cosine_a(c);
                        const auto& b = cosine_b(c);
                        run(st, t, [&] { return xloss::cosine_similarity(a, b, c.axis); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_full"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& a = cosine_a(c);
                        const auto& b = cosine_b(c);
                        const auto& w = mask_full(c);
                        run(st, with_full_mask(t), [&] { return xloss::cosine_similarity(a, b, c.axis, w); });
                    });
        add_checked(case_name(loss, c, "xloss_mask_batch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& a = cosine_a(c);
                        const auto& b = cosine_b(c);
                        const auto& w = mask_batch(c);
                        run(st, with_batch_mask(t, c),
                            [&] { return xloss::cosine_similarity(a, b, c.axis, w); });
                    });
        add_column_major(loss, c, check, t, xloss::cosine_similarity, cosine_a, cosine_b);
        add_checked(case_name(loss, c, "naive_xtensor"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto& a = cosine_a(c);
                        const auto& b = cosine_b(c);
                        run(st, t, [&] { return naive_cosine(a, b, static_cast<std::size_t>(c.axis)); });
                    });
#ifdef XLOSS_BENCH_HAVE_TORCH
        add_checked(case_name(loss, c, "torch"), check,
                    [c, t](benchmark::State& st)
                    {
                        const auto a = as_tensor(cosine_a(c));
                        const auto b = as_tensor(cosine_b(c));
                        run(st, t, [&] { return torch_cosine(a, b, c.axis); });
                    });
#endif
    }

    void register_all()
    {
        auto shapes = standard_shapes();
        shapes.push_back({{65536, 128}, 1});
        for (const auto& c : shapes)
        {
            register_shape(c);
        }
    }
}

XLOSS_BENCH_MAIN(register_all)

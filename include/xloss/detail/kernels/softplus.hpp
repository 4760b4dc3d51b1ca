// log1p(exp(-a)), log cosh and tanh for float batches from one exp and short
// polynomials: the shared math of sigmoid_binary_cross_entropy,
// sigmoid_focal_loss and log_cosh.
//
// xsimd 8.1's log1p has two divisions; chained after exp, the pair's latency,
// not the units' throughput, set the pace of these kernels. The polynomials
// have no division and no log.
// Double keeps xsimd's log1p and expm1 (a polynomial there would need twice
// the degree).
#ifndef XLOSS_DETAIL_KERNELS_SOFTPLUS_HPP
#define XLOSS_DETAIL_KERNELS_SOFTPLUS_HPP

#include "../../config.hpp"

#include <array>
#include <cstddef>
#include <type_traits>

#include "../simd.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail::kernels
    {
        // Polynomials of degree 5, each within 1.3 float epsilons (relative) of its
        // function and exact at 0, fitted by scripts/fit_log_cosh.py. With u = e^2:
        // log cosh e = u P(u) and tanh e = e Q(u) for |e| < 3/4; log1p(q) = q R(q)
        // for 0 <= q <= exp(-3/2).
        namespace fitted
        {
            inline constexpr std::array<float, 6> log_cosh_p{-4.337846583e-04f, 2.020378732e-03f,
                                                             -6.702145422e-03f, 2.221705057e-02f,
                                                             -8.333313300e-02f, 0.5f};
            inline constexpr std::array<float, 6> tanh_q{-4.769490976e-03f, 1.966491469e-02f,
                                                         -5.339025922e-02f, 1.332652119e-01f,
                                                         -3.333306838e-01f, 1.0f};
            inline constexpr std::array<float, 6> log1p_r{-9.887762673e-02f, 1.852561711e-01f,
                                                          -2.484553898e-01f, 3.332609686e-01f,
                                                          -4.999988852e-01f, 1.0f};

            template <class B>
            XLOSS_KERNEL_INLINE B horner(const B& t, const std::array<float, 6>& c)
            {
                B p(c[0]);
                for (std::size_t k = 1; k < c.size(); ++k)
                {
                    p = simd::fma(p, t, B(c[k]));
                }
                return p;
            }
        }

        // log cosh e for |e| < 3/4, float, from u = e^2.
        template <class B>
        XLOSS_KERNEL_INLINE B log_cosh_near(const B& u)
        {
            return u * fitted::horner(u, fitted::log_cosh_p);
        }

        // tanh e for |e| < 3/4, float.
        template <class B>
        XLOSS_KERNEL_INLINE B tanh_near(const B& e)
        {
            return e * fitted::horner(e * e, fitted::tanh_q);
        }

        // log1p(q) for 0 <= q <= exp(-3/2), float.
        template <class B>
        XLOSS_KERNEL_INLINE B log1p_small(const B& q)
        {
            return q * fitted::horner(q, fitted::log1p_r);
        }

        // log1p(exp(-a)) = softplus(-a) for a = |x| (or NaN), given e = exp(-a).
        // Float: a >= 3/2 takes log1p(e) from R; below, 1 + exp(-a) = 2 exp(-a/2)
        // cosh(a/2) gives log 2 - a/2 + log cosh(a/2), from P. Within 3 float
        // epsilons, relative; a NaN takes the first side and stays NaN.
        template <class T, class B>
        XLOSS_KERNEL_INLINE B log1p_exp_minus(const B& a, const B& e)
        {
            if constexpr (std::is_same_v<T, float>)
            {
                const B h = B(0.5f) * a;
                const B near = (B(0.693147181f) - h) + log_cosh_near(h * h);
                return simd::select(a < B(1.5f), near, log1p_small(e));
            }
            else
            {
                return simd::log1p(e);
            }
        }

        // -log(sigmoid(x)) and -log(1 - sigmoid(x)), i.e. softplus(-x) and
        // softplus(x), from one exp: with e = exp(-|x|), softplus(+-x) =
        // max(+-x, 0) + log1p(e). e comes along for the sigmoid itself
        // (1/(1+e) and e/(1+e) in the order of x's sign).
        template <class B>
        struct log_sigmoids
        {
            B e;
            B minus_log_p;  // -log(sigmoid(x))
            B minus_log_q;  // -log(1 - sigmoid(x))
        };

        template <class T, class B>
        XLOSS_KERNEL_INLINE log_sigmoids<B> log_sigmoids_of(const B& x)
        {
            const B zero(T(0));
            const B a = simd::abs(x);
            const B e = simd::exp(-a);
            const B log1p_e = log1p_exp_minus<T>(a, e);
            return {e, simd::max(-x, zero) + log1p_e, simd::max(x, zero) + log1p_e};
        }
    }
XLOSS_NAMESPACE_END

#endif

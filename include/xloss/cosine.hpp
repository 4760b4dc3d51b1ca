// Cosine similarity and cosine distance.
#ifndef XLOSS_COSINE_HPP
#define XLOSS_COSINE_HPP

#include "config.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "axes.hpp"
#include "detail/call.hpp"
#include "detail/errors.hpp"

XLOSS_NAMESPACE_BEGIN
    /// Options of cosine_similarity and cosine_distance.
    struct cosine_options
    {
        /// Lower bound on each *squared* norm (as Optax: sqrt(max(|a|^2, epsilon))).
        double epsilon = 0;
    };

    namespace detail
    {
        template <bool Distance>
        struct cosine_rule;
    }

    /// Cosine similarity between predictions and targets along `axis`.
    ///
    ///   loss = S(a b) / (sqrt(max(S(a a), epsilon)) * sqrt(max(S(b b), epsilon)))
    ///
    /// - predictions, targets: floating expressions, broadcastable together.
    /// - axis (default -1), where (optional); options xloss::cosine_options{epsilon}
    ///   (negative, NaN or infinite: std::invalid_argument naming it).
    /// - result: xt::xarray of the common floating type, batch shape.
    ///
    /// Edges: the true cosine even when the squared norms underflow or
    /// overflow the type (the slice is rescaled by its largest magnitude on
    /// that rare path). With epsilon = 0, a zero vector gives 0 and a zero
    /// gradient (the cosine is not defined there). A slice with no selected
    /// element gives 0.
    ///
    /// Example: {1, 0} and {1, 1} -> 0.70710678. Reference: optax.cosine_similarity.
    inline constexpr detail::loss_object<detail::cosine_rule<false>> cosine_similarity{};

    /// Cosine distance: 1 - cosine_similarity, and 0 for a slice with no
    /// selected element (so a masked-out example adds nothing to a sum).
    /// A zero vector (epsilon = 0) gives 1. Reference: optax.cosine_distance.
    inline constexpr detail::loss_object<detail::cosine_rule<true>> cosine_distance{};

    // ---------------------------------------------------------------------
    // Implementation

    namespace detail
    {
        template <bool Distance>
        struct cosine_rule
        {
            static constexpr const char* name = Distance ? "cosine_distance" : "cosine_similarity";
            using options = cosine_options;
            static constexpr second_input second = second_input::elementwise_numeric;
            // Rows of one or two batches run W at a time from their sums
            // (rule.hpp), faster than tiles; longer rows run one at a time,
            // where the row kernel's gradient measured faster than the groups'
            // second pass (RESULTS.md).
            static constexpr std::size_t slice_sums = 4;  // dot, |a|^2, |b|^2, selected
            static constexpr std::size_t grouped_row_batches = 2;

            // epsilon finite and >= 0.
            static void check_options(const options& opts, const char* function)
            {
                check_option_in(function, "epsilon", opts.epsilon, 0);
            }

            // A power of two 2^e and its inverse as two factors 2^e1 * 2^e2 with
            // e1 + e2 = -e, each representable: for a denormal magnitude 2^-e
            // alone would overflow. Multiplying by powers of two is exact.
            template <class B>
            struct power_of_two_scale
            {
                B scale, inverse_hi, inverse_lo;
            };

            // With epsilon > 0 the scale stays above 2^-40 sqrt(epsilon), so that
            // epsilon / scale^2 stays finite: a vector smaller than that has its
            // norm clipped to sqrt(epsilon) anyway.
            template <class B>
            static power_of_two_scale<B> scale_of(const B& magnitude, double epsilon)
            {
                using T = simd::scalar_t<B>;
                constexpr std::size_t W = simd::width<T>;
                alignas(64) T m[W], scale[W], hi[W], lo[W];
                simd::store_aligned(m, magnitude);
                const int lowest = epsilon > 0 ? std::min(std::ilogb(std::sqrt(epsilon)) - 40,
                                                          std::numeric_limits<T>::max_exponent - 2)
                                               : std::numeric_limits<int>::min();
                for (std::size_t l = 0; l < W; ++l)
                {
                    // Unusable magnitudes (0: a zero vector; inf or NaN) keep scale 1.
                    const int e = (m[l] > 0 && std::isfinite(m[l])) ? std::max(std::ilogb(m[l]), lowest) : 0;
                    scale[l] = std::ldexp(T(1), e);
                    hi[l] = std::ldexp(T(1), -e / 2);
                    lo[l] = std::ldexp(T(1), -e - (-e / 2));
                }
                return {simd::load_aligned(+scale), simd::load_aligned(+hi), simd::load_aligned(+lo)};
            }

            template <class B>
            struct statistics
            {
                power_of_two_scale<B> a, b;  // the slice was divided by these (1 on the common path)
                B dot, norm2_a, norm2_b;
                B selected;
            };

            template <bool Scaled, class Lanes, class S>
            XLOSS_KERNEL_INLINE static auto sums(const Lanes& lanes, const S& sa, const S& sb)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B zero(T(0));
                statistics<B> st{sa, sb, zero, zero, zero, zero};
                B dot = zero, aa = zero, bb = zero, count = zero;
                lanes.for_each(
                    [&](const B& x, const B& y, const auto& valid, auto) XLOSS_KERNEL_LAMBDA
                    {
                        B a = x, b = y;
                        if constexpr (Scaled)
                        {
                            a = a * sa.inverse_hi * sa.inverse_lo;
                            b = b * sb.inverse_hi * sb.inverse_lo;
                        }
                        dot += simd::select(valid, a * b, zero);
                        aa += simd::select(valid, a * a, zero);
                        bb += simd::select(valid, b * b, zero);
                        count += simd::select(valid, B(T(1)), zero);
                    });
                st.dot = lanes.sum(dot);
                st.norm2_a = lanes.sum(aa);
                st.norm2_b = lanes.sum(bb);
                st.selected = lanes.sum(count);
                return st;
            }

            template <class B>
            static power_of_two_scale<B> unit_scale()
            {
                const B one(simd::scalar_t<B>(1));
                return {one, one, one};
            }

            // Squared norms below `tiny` lose precision to denormals (or are 0
            // for a nonzero vector); inf means they overflowed. Such slices take
            // the scaled path, but not those with nothing selected (lanes out of
            // use, slices masked out): their sums are 0 and their value is 0
            // anyway, and one of them would send every slice beside it in a
            // tile down the slow scaled path.
            template <class B>
            static auto needs_scaling(const B& norm2_a, const B& norm2_b, const B& selected)
            {
                using T = simd::scalar_t<B>;
                const B tiny(std::numeric_limits<T>::min() / std::numeric_limits<T>::epsilon());
                const B inf(std::numeric_limits<T>::infinity());
                const auto out_of_range = norm2_a < tiny || norm2_a == inf || norm2_b < tiny
                                          || norm2_b == inf;
                return out_of_range && simd::not_equal(selected, B(T(0)));
            }

            template <class Lanes>
            XLOSS_KERNEL_INLINE static auto collect(const Lanes& lanes, double epsilon)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                auto st = sums<false>(lanes, unit_scale<B>(), unit_scale<B>());
                if (!simd::any(needs_scaling(st.norm2_a, st.norm2_b, st.selected)))
                {
                    return st;
                }
                // Rare path: divide each vector by the power of two just below its
                // largest magnitude, so the sums are of numbers below 2 in
                // magnitude with at least one of them at least 1.
                B max_a(T(0)), max_b(T(0));
                lanes.for_each(
                    [&](const B& x, const B& y, const auto& valid, auto) XLOSS_KERNEL_LAMBDA
                    {
                        max_a = simd::select(valid, simd::max(max_a, simd::abs(x)), max_a);
                        max_b = simd::select(valid, simd::max(max_b, simd::abs(y)), max_b);
                    });
                return sums<true>(lanes, scale_of(lanes.max(max_a), epsilon),
                                  scale_of(lanes.max(max_b), epsilon));
            }

            // epsilon in the slice's scaled units (eps / scale^2). Divided twice so
            // that scale^2 cannot underflow to 0 for tiny vectors; 0 stays 0.
            template <class B>
            static B scaled_epsilon(const B& scale, double epsilon)
            {
                using T = simd::scalar_t<B>;
                if (epsilon == 0)
                {
                    return B(T(0));
                }
                return B(static_cast<T>(epsilon)) / scale / scale;
            }

            // The clipped norm in scaled units: sqrt(max(n2, eps')). max's
            // operands in this order so that a NaN norm (a NaN element) stays
            // NaN: simd::max, like the instruction, returns its second operand
            // when either is NaN.
            template <class B>
            static B clipped_norm(const B& norm2, const B& eps)
            {
                return simd::sqrt(simd::max(eps, norm2));
            }

            template <class B>
            static B cosine_of(const statistics<B>& st, const B& na, const B& nb)
            {
                using T = simd::scalar_t<B>;
                const B denom = na * nb;
                // 0 / 0 for a zero vector with epsilon = 0: defined as 0.
                return simd::select(denom == B(T(0)), B(T(0)), st.dot / denom);
            }

            template <class B>
            static B finish(const statistics<B>& st, const B& cosine)
            {
                using T = simd::scalar_t<B>;
                const B v = Distance ? B(T(1)) - cosine : cosine;
                return simd::select(st.selected == B(T(0)), B(T(0)), v);
            }

            template <class B>
            static B value_of(const statistics<B>& st, double epsilon)
            {
                const B na = clipped_norm(st.norm2_a, scaled_epsilon(st.a.scale, epsilon));
                const B nb = clipped_norm(st.norm2_b, scaled_epsilon(st.b.scale, epsilon));
                return finish(st, cosine_of(st, na, nb));
            }

            template <bool Grad, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto kernel(const Lanes& lanes, const Group& grp, const options& opts)
            {
                const auto st = collect(lanes, opts.epsilon);
                if constexpr (Grad)
                {
                    const auto factors = grad_factors(st, grp.upstream, opts.epsilon);
                    apply_gradient<true>(lanes, grp, factors, st.a, st.b);
                    return finish(st, factors[4]);
                }
                else
                {
                    return value_of(st, opts.epsilon);
                }
            }

            // The kernel split at its sums, for rows W at a time (rule.hpp): the
            // sums of the common, unscaled path; the slices that need the scaled
            // one run kernel() instead.
            template <class Lanes>
            XLOSS_KERNEL_INLINE static auto sums_of(const Lanes& lanes, const options&)
            {
                using B = typename Lanes::batch;
                const auto st = sums<false>(lanes, unit_scale<B>(), unit_scale<B>());
                return std::array<B, slice_sums>{st.dot, st.norm2_a, st.norm2_b, st.selected};
            }

            template <class B>
            static statistics<B> unscaled(const std::array<B, slice_sums>& s)
            {
                return {unit_scale<B>(), unit_scale<B>(), s[0], s[1], s[2], s[3]};
            }

            template <class B>
            static auto needs_kernel(const std::array<B, slice_sums>& s, const options&)
            {
                return needs_scaling(s[1], s[2], s[3]);
            }

            template <class B>
            static B value_of_sums(const std::array<B, slice_sums>& s, const options& opts)
            {
                return value_of(unscaled(s), opts.epsilon);
            }

            template <class B>
            static auto grad_factors_of_sums(const std::array<B, slice_sums>& s,
                                             const B& upstream,
                                             const options& opts)
            {
                return grad_factors(unscaled(s), upstream, opts.epsilon);
            }

            template <class Lanes, class Group, class B>
            XLOSS_KERNEL_INLINE static void grad_of_factors(const Lanes& lanes,
                                                            const Group& grp,
                                                            const options&,
                                                            const std::array<B, 5>& f)
            {
                apply_gradient<false>(lanes, grp, f, unit_scale<B>(), unit_scale<B>());
            }

            // The gradient's factors per slice, lane by lane: the upstream g (0
            // where the cosine is not defined), 1 / (|a'| |b'|), the self terms
            // cos / |a'|^2 and cos / |b'|^2 (0 where epsilon clips the norm), and
            // the cosine itself, for the value.
            template <class B>
            static std::array<B, 5> grad_factors(const statistics<B>& st, const B& upstream, double epsilon)
            {
                using T = simd::scalar_t<B>;
                const B zero(T(0)), one(T(1));
                const B eps_a = scaled_epsilon(st.a.scale, epsilon);
                const B eps_b = scaled_epsilon(st.b.scale, epsilon);
                const B na = clipped_norm(st.norm2_a, eps_a);
                const B nb = clipped_norm(st.norm2_b, eps_b);
                const B cosine = cosine_of(st, na, nb);
                const B denom = na * nb;
                const auto defined = simd::not_equal(denom, zero);
                const B g = simd::select(defined, Distance ? -upstream : upstream, zero);
                const B inv_denom = simd::select(defined, one / denom, zero);
                const B self_a = simd::select(st.norm2_a > eps_a, cosine / (na * na), zero);
                const B self_b = simd::select(st.norm2_b > eps_b, cosine / (nb * nb), zero);
                return {g, inv_denom, self_a, self_b, cosine};
            }

            // In scaled units a' = a / sa, b' = b / sb:
            //   d cos / d a = (b' / (|a'| |b'|) - [|a'|^2 > eps'] cos a' / |a'|^2) / sa
            // (no second term where the norm is clipped to epsilon), from the
            // factors above. Scaled: the scales may be other than 1.
            template <bool Scaled, class Lanes, class Group, class B, class S>
            XLOSS_KERNEL_INLINE static void apply_gradient(const Lanes& lanes,
                                                           const Group& grp,
                                                           const std::array<B, 5>& f,
                                                           const S& sa,
                                                           const S& sb)
            {
                using T = typename Lanes::value_type;
                const B zero(T(0));
                // Copies, not references: the gradient stores may alias the
                // factors' memory, and would make the loop reload them.
                const B g = f[0], inv_denom = f[1], self_a = f[2], self_b = f[3];
                const B a_hi = sa.inverse_hi, a_lo = sa.inverse_lo, b_hi = sb.inverse_hi,
                        b_lo = sb.inverse_lo;
                // Scaling by the two power-of-two factors one after the other:
                // their product alone may overflow for denormal inputs.
                const auto unscale = [](const B& v, const B& hi, const B& lo)
                { return Scaled ? v * hi * lo : v; };
                lanes.for_each(
                    [&](const B& x, const B& y, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        const B a = unscale(x, a_hi, a_lo);
                        const B b = unscale(y, b_hi, b_lo);
                        if (grp.grad[0])
                        {
                            const B d = unscale(g * (b * inv_denom - self_a * a), a_hi, a_lo);
                            lanes.store(grp.grad[0], at, simd::select(valid, d, zero));
                        }
                        if (grp.grad[1])
                        {
                            const B d = unscale(g * (a * inv_denom - self_b * b), b_hi, b_lo);
                            lanes.store(grp.grad[1], at, simd::select(valid, d, zero));
                        }
                    });
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

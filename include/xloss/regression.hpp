// Regression losses of the error e = predictions - targets: squared error,
// l2, Huber and log-cosh.
#ifndef XLOSS_REGRESSION_HPP
#define XLOSS_REGRESSION_HPP

#include "config.hpp"

#include <type_traits>

#include "axes.hpp"
#include "detail/call.hpp"
#include "detail/kernels/softplus.hpp"

XLOSS_NAMESPACE_BEGIN
    /// Options of huber_loss.
    struct huber_options
    {
        /// Where the loss turns from quadratic to linear (>= 0; a negative or NaN
        /// delta throws std::invalid_argument).
        double delta = 1;
    };

    namespace detail
    {
        template <class Form>
        struct regression_rule;
        struct squared_error_form;
        struct l2_form;
        struct huber_form;
        struct log_cosh_form;
    }

    /// Squared error, summed over `axis`:
    ///
    ///   loss = S((predictions - targets)^2)
    ///
    /// - predictions, targets: floating expressions that broadcast together.
    /// - axis (default -1; xloss::no_axes gives Optax's elementwise output),
    ///   where (optional): as for every loss.
    /// - result: xt::xarray of the common floating type, batch shape.
    ///
    /// Gradients: d/dpredictions = 2 e, d/dtargets = -2 e. Edges: masked NaN
    /// never reaches the result; a slice with nothing selected gives 0.
    ///
    /// Example: predictions {1, 2, 3}, targets {1, 0, 4} -> 0 + 4 + 1 = 5.
    /// References: optax.squared_error; torch mse_loss(reduction='none')
    /// summed over the axis (xloss::mean(squared_error) with xloss::no_axes
    /// is mse_loss's 'mean').
    inline constexpr detail::loss_object<detail::regression_rule<detail::squared_error_form>> squared_error{};

    /// Half the squared error: loss = 0.5 * S((predictions - targets)^2).
    /// Same inputs, axis, where, result and edges as squared_error.
    /// Gradients: d/dpredictions = e, d/dtargets = -e.
    /// Example: predictions {1, 2, 3}, targets {1, 0, 4} -> 2.5.
    /// Reference: optax.l2_loss.
    inline constexpr detail::loss_object<detail::regression_rule<detail::l2_form>> l2_loss{};

    /// Huber loss, quadratic for small errors and linear for large ones:
    ///
    ///   loss = S(0.5 e^2 if |e| <= delta else delta * (|e| - 0.5 delta))
    ///
    /// - options: xloss::huber_options{delta = 1}.
    /// Same inputs, axis, where, result and edges as squared_error.
    /// Gradients: d/dpredictions = clip(e, -delta, delta) (continuous at
    /// |e| = delta), d/dtargets = -clip(e, -delta, delta).
    /// Example: delta 1, predictions {0, 0}, targets {0.5, 3} -> 0.125 + 2.5
    /// = 2.625. References: optax.huber_loss; torch huber_loss(reduction='none').
    inline constexpr detail::loss_object<detail::regression_rule<detail::huber_form>> huber_loss{};

    /// Log-cosh of the error: loss = S(log(cosh(predictions - targets))).
    ///
    /// Computed without cosh, so it stays exact where cosh overflows (|e|
    /// above 89 in float): |e| - log 2 + log1p(exp(-2|e|)) for large errors.
    /// Small errors keep the relative accuracy of e^2 / 2: float uses a
    /// polynomial in e^2 below |e| = 3/4, double log1p(expm1(|e|)^2 /
    /// (2 (1 + expm1(|e|)))) below |e| = 1.
    /// Same inputs, axis, where, result and edges as squared_error.
    /// Gradients: d/dpredictions = tanh(e), d/dtargets = -tanh(e).
    /// Example: predictions {0, 0}, targets {1, -1000} -> log cosh 1 +
    /// (1000 - log 2) = 0.43378083 + 999.30685282 = 999.74063365.
    /// Reference: optax.log_cosh.
    inline constexpr detail::loss_object<detail::regression_rule<detail::log_cosh_form>> log_cosh{};

    // ---------------------------------------------------------------------
    // Implementation

    namespace detail
    {
        // A form is the loss of one error e and its slope d loss / d e, on
        // SIMD batches B of T (T itself on the scalar fallback).
        struct squared_error_form
        {
            static constexpr const char* name = "squared_error";
            using options = no_options;

            template <class T, class B>
            XLOSS_KERNEL_INLINE static B value(const B& e, const options&)
            {
                return e * e;
            }

            template <class T, class B>
            XLOSS_KERNEL_INLINE static B slope(const B& e, const options&)
            {
                return e + e;
            }
        };

        struct l2_form
        {
            static constexpr const char* name = "l2_loss";
            using options = no_options;

            template <class T, class B>
            XLOSS_KERNEL_INLINE static B value(const B& e, const options&)
            {
                return B(T(0.5)) * e * e;
            }

            template <class T, class B>
            XLOSS_KERNEL_INLINE static B slope(const B& e, const options&)
            {
                return e;
            }
        };

        struct huber_form
        {
            static constexpr const char* name = "huber_loss";
            using options = huber_options;

            static void check_options(const options& opts, const char* function)
            {
                check_option_in(function, "delta", opts.delta, 0);
            }

            template <class T, class B>
            XLOSS_KERNEL_INLINE static B value(const B& e, const options& o)
            {
                const B delta(static_cast<T>(o.delta));
                const B a = simd::abs(e);
                // A NaN error fails the comparison and stays NaN on the linear side.
                return simd::select(a <= delta, B(T(0.5)) * e * e, delta * (a - B(T(0.5)) * delta));
            }

            // clip(e, -delta, delta), written so that a NaN error stays NaN.
            template <class T, class B>
            XLOSS_KERNEL_INLINE static B slope(const B& e, const options& o)
            {
                const B delta(static_cast<T>(o.delta));
                const B a = simd::abs(e);
                const B signed_delta = simd::select(e < B(T(0)), -delta, delta);
                return simd::select(a > delta, signed_delta, e);
            }
        };

        struct log_cosh_form
        {
            static constexpr const char* name = "log_cosh";
            using options = no_options;

            template <class T, class B>
            XLOSS_KERNEL_INLINE static B value(const B& e, const options&)
            {
                if constexpr (std::is_same_v<T, float>)
                {
                    return value_float(e);
                }
                else
                {
                    return value_double(e);
                }
            }

            // tanh e, from tanh |e| given e's sign (a NaN error stays NaN).
            template <class T, class B>
            XLOSS_KERNEL_INLINE static B slope(const B& e, const options&)
            {
                const B t = tanh_of_abs<T>(simd::abs(e));
                return simd::select(simd::is_nan(e), e, simd::select(e < B(T(0)), -t, t));
            }

        private:
            template <class T, class B>
            XLOSS_KERNEL_INLINE static B tanh_of_abs(const B& a)
            {
                if constexpr (std::is_same_v<T, float>)
                {
                    // |e| >= 3/4: tanh |e| = (1 - q) / (1 + q), q = exp(-2|e|) <= 0.22, so
                    // 1 - q does not cancel.
                    const B q = exp_minus_2(a);
                    const B far = (B(1.0f) - q) / (B(1.0f) + q);
                    return simd::select(a < B(0.75f), kernels::tanh_near(a), far);
                }
                else
                {
                    // tanh = (1 - exp(-2|e|)) / (1 + exp(-2|e|)) with expm1, exact for tiny |e|.
                    const B m = simd::expm1(simd::select(a < B(T(40)), B(T(-2)) * a, B(T(-80))));
                    return -m / (B(T(2)) + m);
                }
            }

            // exp(-2|e|) for float, taken as exp(-80) beyond |e| = 40, where neither the
            // value nor tanh can resolve it any more: NaN and inf never reach xsimd 8.1's
            // exp, which casts them to integers.
            template <class B>
            XLOSS_KERNEL_INLINE static B exp_minus_2(const B& a)
            {
                return simd::exp(B(-2.0f) * simd::select(a < B(40.0f), a, B(40.0f)));
            }

            // One exp and five multiply-adds per element on either side.
            template <class B>
            XLOSS_KERNEL_INLINE static B value_float(const B& e)
            {
                const B a = simd::abs(e);
                const B u = e * e;
                // |e| >= 3/4: |e| - log 2 + log1p(exp(-2|e|)); a NaN or infinite error is
                // carried by the offset.
                const B q = exp_minus_2(a);
                const B far = (a - B(0.693147181f)) + kernels::log1p_small(q);
                return simd::select(a < B(0.75f), kernels::log_cosh_near(u), far);
            }

            template <class B>
            XLOSS_KERNEL_INLINE static B value_double(const B& e)
            {
                using T = double;
                const B a = simd::abs(e);
                const auto small = a < B(T(1));
                // One expm1 serves both forms: m = expm1(|e|) below 1, expm1(-2|e|) above.
                // NaN and inf take the far form with a finite argument: expm1 never sees
                // them (xsimd 8.1 casts them to integers); the offset carries them.
                const B far_a = simd::select(a < B(T(1000)), a, B(T(1000)));
                const B m = simd::expm1(simd::select(small, a, B(T(-2)) * far_a));
                // |e| < 1: log cosh = log1p(cosh - 1), cosh - 1 = m^2 / (2 (1 + m)).
                const B near = m * m / (B(T(2)) * (B(T(1)) + m));
                // |e| >= 1: |e| - log 2 + log1p(exp(-2|e|)), exp(-2|e|) = 1 + m. Where that
                // sum is tiny it keeps only an absolute error of epsilon, on a value >= 0.43.
                const B log1p_arg = simd::select(small, near, B(T(1)) + m);
                const B offset = simd::select(small, B(T(0)),
                                              a - B(T(0.693147180559945309417232121458176568L)));
                return offset + simd::log1p(log1p_arg);
            }
        };

        template <class Form>
        struct regression_rule
        {
            static constexpr const char* name = Form::name;
            using options = typename Form::options;
            static constexpr second_input second = second_input::elementwise;
            static constexpr bool sums_element_terms = true;

            static void check_options(const options& opts, const char* function)
            {
                detail::check_options<Form>(opts, function);
            }

            // One pass: the value, and the gradients when asked for.
            template <bool Grad, class Lanes, class Group>
            XLOSS_KERNEL_INLINE static auto kernel(const Lanes& lanes, const Group& grp, const options& opts)
            {
                using B = typename Lanes::batch;
                using T = typename Lanes::value_type;
                const B zero(T(0));
                B total = zero;
                lanes.for_each(
                    [&](const B& x, const B& y, const auto& valid, auto at) XLOSS_KERNEL_LAMBDA
                    {
                        const B e = x - y;
                        total += simd::select(valid, Form::template value<T>(e, opts), zero);
                        if constexpr (Grad)
                        {
                            const B d = grp.upstream * Form::template slope<T>(e, opts);
                            if (grp.grad[0])
                            {
                                lanes.store(grp.grad[0], at, simd::select(valid, d, zero));
                            }
                            if (grp.grad[1])
                            {
                                lanes.store(grp.grad[1], at, simd::select(valid, -d, zero));
                            }
                        }
                    });
                return lanes.sum(total);
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

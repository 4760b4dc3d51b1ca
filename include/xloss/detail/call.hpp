// The call forms every loss shares (SPEC "Call forms"), turned into one
// canonical evaluate() call:
//
//   loss(x, y)                      axis = -1, no mask
//   loss(x, y, axis)                int, {a, b}, vector, array, no_axes, all_axes
//   loss(x, y, axis, where)
//   loss(x, y, options)             the loss's option aggregate, by type
//   loss(x, y, axis, options)
//   loss(x, y, axis, where, options)
//
// A braced list in the axis position binds to std::initializer_list<int>
// (an identity conversion), which beats aggregate-initialising the options
// (a user-defined conversion): {1} and {0, 2} are always axis lists.
#ifndef XLOSS_DETAIL_CALL_HPP
#define XLOSS_DETAIL_CALL_HPP

#include "../config.hpp"

#include <array>
#include <cstddef>
#include <initializer_list>
#include <tuple>
#include <type_traits>
#include <vector>

#include <xtensor/xexpression.hpp>

#include "../axes.hpp"
#include "evaluate.hpp"
#include "rule.hpp"

XLOSS_NAMESPACE_BEGIN
    namespace detail
    {
        template <class T>
        inline constexpr bool is_expression = xt::is_xexpression<std::decay_t<T>>::value;

        template <class Rule>
        inline constexpr bool has_options = !std::is_same_v<typename Rule::options, no_options>;

        template <class Rule, class O>
        inline constexpr bool is_options_of =
            std::is_same_v<std::decay_t<O>, typename Rule::options>&& has_options<Rule>;

        // An expression whose values are bool or integral (read as value != 0).
        template <class W, bool = is_expression<W>>
        struct is_mask_impl : std::false_type
        {
        };
        template <class W>
        struct is_mask_impl<W, true> : std::is_integral<typename std::decay_t<W>::value_type>
        {
        };
        template <class W>
        inline constexpr bool is_mask = is_mask_impl<W>::value;

        inline axis_request default_axis()
        {
            return {false, {listed_axis{1, true}}};
        }

        // What is wrong with a call's arguments, first problem first, so that a
        // misuse stops at one static_assert sentence (report) instead of a list
        // of overloads that did not match, and nothing after it is instantiated.
        enum class call_error
        {
            none,
            inputs_not_expressions,
            too_many_arguments,
            floating_axis,
            not_an_axis,
            mask_before_axis,
            scalar_mask,
            floating_mask,
            options_of_another_loss,
            takes_no_options,
            not_options,
        };

        // The argument after the axis (or in its place), where options may be.
        template <class Rule, class O>
        constexpr call_error options_error()
        {
            using D = std::decay_t<O>;
            if constexpr (!has_options<Rule>)
            {
                return call_error::takes_no_options;
            }
            else if constexpr (std::is_class_v<D>)
            {
                return call_error::options_of_another_loss;
            }
            else
            {
                return call_error::not_options;
            }
        }

        template <class A>
        constexpr call_error axis_error()
        {
            if constexpr (is_axis_argument<A>)
            {
                return call_error::none;
            }
            else if constexpr (std::is_floating_point_v<std::decay_t<A>>)
            {
                return call_error::floating_axis;
            }
            else
            {
                return call_error::not_an_axis;
            }
        }

        template <class W>
        constexpr call_error mask_error()
        {
            if constexpr (is_mask<W>)
            {
                return call_error::none;
            }
            else if constexpr (is_expression<W>)
            {
                return call_error::floating_mask;
            }
            else
            {
                return call_error::scalar_mask;
            }
        }

        template <class Rule, class X, class Y, class... Rest>
        constexpr call_error diagnose()
        {
            using args = std::tuple<std::decay_t<Rest>...>;
            constexpr std::size_t n = sizeof...(Rest);
            if constexpr (!is_expression<X> || !is_expression<Y>)
            {
                return call_error::inputs_not_expressions;
            }
            else if constexpr (n > 3)
            {
                return call_error::too_many_arguments;
            }
            else if constexpr (n == 0)
            {
                return call_error::none;
            }
            else
            {
                using A = std::tuple_element_t<0, args>;
                if constexpr (n == 1 && (is_options_of<Rule, A> || is_axis_argument<A>))
                {
                    return call_error::none;
                }
                else if constexpr (n == 1 && is_expression<A>)
                {
                    return call_error::mask_before_axis;
                }
                else if constexpr (n == 1 && std::is_class_v<A>)
                {
                    return options_error<Rule, A>();
                }
                else if constexpr (axis_error<A>() != call_error::none)
                {
                    return axis_error<A>();
                }
                else if constexpr (n == 1)
                {
                    return call_error::none;
                }
                else
                {
                    using B = std::tuple_element_t<1, args>;
                    if constexpr (n == 2 && is_options_of<Rule, B>)
                    {
                        return call_error::none;
                    }
                    else if constexpr (n == 2 && std::is_class_v<B> && !is_expression<B>)
                    {
                        return options_error<Rule, B>();
                    }
                    else if constexpr (mask_error<B>() != call_error::none || n == 2)
                    {
                        return mask_error<B>();
                    }
                    else
                    {
                        using O = std::tuple_element_t<2, args>;
                        return is_options_of<Rule, O> ? call_error::none : options_error<Rule, O>();
                    }
                }
            }
        }

        // One sentence per misuse; only the failing one fires (each depends on E).
        // It returns an empty evaluation, so that nothing after it adds errors.
        template <call_error E>
        evaluation<double> report()
        {
            static_assert(
                E != call_error::inputs_not_expressions,
                "xloss: the inputs must be xtensor expressions (xt::xarray, xt::xtensor, views, xt::adapt, ...)");
            static_assert(E != call_error::too_many_arguments,
                          "xloss: too many arguments: a loss takes (x, y), then optionally an axis, a where "
                          "mask and its options, in that order");
            static_assert(E != call_error::floating_axis,
                          "xloss: the axis must be an integer (or a list of integers, xloss::no_axes or "
                          "xloss::all_axes), not a floating-point number");
            static_assert(
                E != call_error::not_an_axis,
                "xloss: expected an axis here: an int, {a, b}, std::vector<int>, std::array<int, K>, "
                "xloss::no_axes or xloss::all_axes");
            static_assert(E != call_error::mask_before_axis,
                          "xloss: a where mask comes after an axis: loss(x, y, axis, where), e.g. "
                          "loss(x, y, -1, where)");
            static_assert(E != call_error::scalar_mask,
                          "xloss: where must be an xtensor expression of bool (or integral) values, not a "
                          "scalar (omit it for no mask)");
            static_assert(E != call_error::floating_mask,
                          "xloss: a where mask must hold bool (or integral) values, not floating-point ones "
                          "(make one with xt::not_equal(a, b) or a comparison)");
            static_assert(E != call_error::options_of_another_loss,
                          "xloss: these options belong to another loss: pass this loss's own options type "
                          "(cosine_options for the cosine losses, focal_options for sigmoid_focal_loss)");
            static_assert(E != call_error::takes_no_options, "xloss: this loss takes no options");
            static_assert(E != call_error::not_options,
                          "xloss: expected this loss's options aggregate here, by its type name (e.g. "
                          "xloss::cosine_options{1e-8})");
            return {};
        }

        // The valid call forms, as one evaluate() call.
        template <class Rule, class U, class Want, class X, class Y, class... Rest>
        auto dispatch(const U& upstream, Want want, const X& x, const Y& y, const Rest&... rest)
        {
            using args = std::tuple<std::decay_t<Rest>...>;
            using options = typename Rule::options;
            const std::tuple<const Rest&...> r(rest...);
            constexpr std::size_t n = sizeof...(Rest);
            if constexpr (n == 0)
            {
                return evaluate<Rule>(x, y, default_axis(), none_t{}, options{}, upstream, want);
            }
            else if constexpr (n == 1 && is_options_of<Rule, std::tuple_element_t<0, args>>)
            {
                return evaluate<Rule>(x, y, default_axis(), none_t{}, std::get<0>(r), upstream, want);
            }
            else if constexpr (n == 1)
            {
                return evaluate<Rule>(x, y, to_axis_request(std::get<0>(r)), none_t{}, options{}, upstream,
                                      want);
            }
            else if constexpr (n == 2 && is_options_of<Rule, std::tuple_element_t<1, args>>)
            {
                return evaluate<Rule>(x, y, to_axis_request(std::get<0>(r)), none_t{}, std::get<1>(r),
                                      upstream, want);
            }
            else if constexpr (n == 2)
            {
                return evaluate<Rule>(x, y, to_axis_request(std::get<0>(r)), std::get<1>(r), options{},
                                      upstream, want);
            }
            else
            {
                return evaluate<Rule>(x, y, to_axis_request(std::get<0>(r)), std::get<1>(r), std::get<2>(r),
                                      upstream, want);
            }
        }

        // Every call form of every entry point (the loss, grad, vjp,
        // value_and_grad) comes here: a valid form is evaluated; a misuse stops
        // at its sentence.
        template <class Rule, class U, class Want, class X, class Y, class... Rest>
        auto call(const U& upstream, Want want, const X& x, const Y& y, const Rest&... rest)
        {
            constexpr call_error error = diagnose<Rule, X, Y, Rest...>();
            if constexpr (error == call_error::none)
            {
                return dispatch<Rule>(upstream, want, x, y, rest...);
            }
            else
            {
                return report<error>();
            }
        }

        // The public function object of a loss: evaluates the value only.
        template <class Rule>
        struct loss_object
        {
            using rule = Rule;

            // No SFINAE here: a misuse is diagnosed by call() in one sentence.
            template <class X, class Y, class... Rest>
            auto operator()(const X& x, const Y& y, const Rest&... rest) const
            {
                auto out = call<Rule>(none_t{}, value_only{}, x, y, rest...);
                return taken(out.value);
            }

            template <class X, class Y, class... Rest>
            auto operator()(const X& x, const Y& y, std::initializer_list<int> axes, const Rest&... rest) const
            {
                auto out = call<Rule>(none_t{}, value_only{}, x, y, std::vector<int>(axes), rest...);
                return taken(out.value);
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

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
#include <initializer_list>
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

        template <class Rule, class O>
        inline constexpr bool is_options_of =
            std::is_same_v<std::decay_t<O>,
                           typename Rule::options> && !std::is_same_v<std::decay_t<O>, no_options>;

        inline axis_request default_axis()
        {
            return {false, {listed_axis{1, true}}};
        }

        template <class Rule, class X, class Y>
        void check_inputs()
        {
            static_assert(
                is_expression<X> && is_expression<Y>,
                "xloss: the inputs must be xtensor expressions (xt::xarray, xt::xtensor, views, xt::adapt, ...)");
        }

        template <class Rule, class U, class Want, class X, class Y>
        auto call(const U& upstream, Want want, const X& x, const Y& y)
        {
            check_inputs<Rule, X, Y>();
            return evaluate<Rule>(x, y, default_axis(), none_t{}, typename Rule::options{}, upstream, want);
        }

        template <class Rule,
                  class U,
                  class Want,
                  class X,
                  class Y,
                  class A,
                  std::enable_if_t<is_axis_argument<A>, int> = 0>
        auto call(const U& upstream, Want want, const X& x, const Y& y, const A& axis)
        {
            check_inputs<Rule, X, Y>();
            return evaluate<Rule>(x, y, to_axis_request(axis), none_t{}, typename Rule::options{}, upstream,
                                  want);
        }

        template <class Rule,
                  class U,
                  class Want,
                  class X,
                  class Y,
                  class O,
                  std::enable_if_t<is_options_of<Rule, O>, int> = 0>
        auto call(const U& upstream, Want want, const X& x, const Y& y, const O& options)
        {
            check_inputs<Rule, X, Y>();
            return evaluate<Rule>(x, y, default_axis(), none_t{}, options, upstream, want);
        }

        template <class Rule,
                  class U,
                  class Want,
                  class X,
                  class Y,
                  class A,
                  class W,
                  std::enable_if_t<is_axis_argument<A> && is_expression<W>, int> = 0>
        auto call(const U& upstream, Want want, const X& x, const Y& y, const A& axis, const W& where)
        {
            check_inputs<Rule, X, Y>();
            return evaluate<Rule>(x, y, to_axis_request(axis), where, typename Rule::options{}, upstream,
                                  want);
        }

        template <class Rule,
                  class U,
                  class Want,
                  class X,
                  class Y,
                  class A,
                  class O,
                  std::enable_if_t<is_axis_argument<A> && is_options_of<Rule, O>, int> = 0>
        auto call(const U& upstream, Want want, const X& x, const Y& y, const A& axis, const O& options)
        {
            check_inputs<Rule, X, Y>();
            return evaluate<Rule>(x, y, to_axis_request(axis), none_t{}, options, upstream, want);
        }

        template <class Rule,
                  class U,
                  class Want,
                  class X,
                  class Y,
                  class A,
                  class W,
                  class O,
                  std::enable_if_t<is_axis_argument<A> && is_expression<W> && is_options_of<Rule, O>, int> = 0>
        auto call(const U& upstream,
                  Want want,
                  const X& x,
                  const Y& y,
                  const A& axis,
                  const W& where,
                  const O& options)
        {
            check_inputs<Rule, X, Y>();
            return evaluate<Rule>(x, y, to_axis_request(axis), where, options, upstream, want);
        }

        // The public function object of a loss: evaluates the value only.
        template <class Rule>
        struct loss_object
        {
            using rule = Rule;

            template <class X, class Y, class... Rest>
            auto operator()(const X& x, const Y& y, const Rest&... rest) const
                -> decltype(call<Rule>(none_t{}, value_only{}, x, y, rest...).value)
            {
                return call<Rule>(none_t{}, value_only{}, x, y, rest...).value;
            }

            template <class X, class Y, class... Rest>
            auto operator()(const X& x, const Y& y, std::initializer_list<int> axes, const Rest&... rest) const
                -> decltype(call<Rule>(none_t{}, value_only{}, x, y, std::vector<int>(axes), rest...).value)
            {
                return call<Rule>(none_t{}, value_only{}, x, y, std::vector<int>(axes), rest...).value;
            }
        };
    }
XLOSS_NAMESPACE_END

#endif

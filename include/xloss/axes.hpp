// The axis vocabulary shared by every loss: which axes a loss reduces over.
//
//   an int                  one axis; negative counts from the end (-1 is the last)
//   {0, 2}, std::vector<int>, std::array<int, K>
//                           several axes, in any order (the order matters only for
//                           integer labels, see cross_entropy.hpp)
//   xloss::no_axes          no reduction: the elementwise loss
//   xloss::all_axes         every axis, like NumPy's axis=None
#ifndef XLOSS_AXES_HPP
#define XLOSS_AXES_HPP

#include "config.hpp"

#include <array>
#include <cstddef>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include <xtensor/xstorage.hpp>

XLOSS_NAMESPACE_BEGIN
    /// Tag: reduce over no axis (the elementwise loss; masked elements give 0).
    struct no_axes_t
    {
        explicit constexpr no_axes_t() = default;
    };
    inline constexpr no_axes_t no_axes{};

    /// Tag: reduce over every axis (the result is a 0-d container).
    struct all_axes_t
    {
        explicit constexpr all_axes_t() = default;
    };
    inline constexpr all_axes_t all_axes{};

    namespace detail
    {
        // One listed axis as the caller's type holds it: an unsigned axis never
        // counts from the end, however large (std::size_t(-1) is out of range,
        // not -1), and is printed unsigned.
        struct listed_axis
        {
            unsigned long long magnitude = 0;
            bool negative = false;
        };

        // An axis argument as the user gave it, before it is checked against a rank.
        struct axis_request
        {
            bool all = false;
            // As listed; up to 8 without a heap allocation.
            xt::svector<listed_axis, 8> axes;
        };

        template <class I>
        listed_axis to_listed_axis(I axis)
        {
            if constexpr (std::is_signed_v<I>)
            {
                if (axis < 0)
                {
                    // -(axis + 1) + 1 cannot overflow, even for the most negative value.
                    return {static_cast<unsigned long long>(-(axis + 1)) + 1, true};
                }
            }
            return {static_cast<unsigned long long>(axis), false};
        }

        template <class A>
        struct is_axis_argument_impl : std::bool_constant<std::is_integral_v<A> && !std::is_same_v<A, bool>>
        {
        };
        template <>
        struct is_axis_argument_impl<no_axes_t> : std::true_type
        {
        };
        template <>
        struct is_axis_argument_impl<all_axes_t> : std::true_type
        {
        };
        template <class I, class Alloc>
        struct is_axis_argument_impl<std::vector<I, Alloc>> : is_axis_argument_impl<I>
        {
        };
        template <class I, std::size_t K>
        struct is_axis_argument_impl<std::array<I, K>> : is_axis_argument_impl<I>
        {
        };
        template <class I>
        struct is_axis_argument_impl<std::initializer_list<I>> : is_axis_argument_impl<I>
        {
        };

        template <class A>
        inline constexpr bool is_axis_argument = is_axis_argument_impl<std::decay_t<A>>::value;

        inline axis_request to_axis_request(no_axes_t)
        {
            return {};
        }
        inline axis_request to_axis_request(all_axes_t)
        {
            return {true, {}};
        }
        template <class I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
        axis_request to_axis_request(I axis)
        {
            return {false, {to_listed_axis(axis)}};
        }
        template <class List, std::enable_if_t<!std::is_integral_v<List>, int> = 0>
        axis_request to_axis_request(const List& list)
        {
            axis_request r;
            for (auto a : list)
            {
                r.axes.push_back(to_listed_axis(a));
            }
            return r;
        }
    }
XLOSS_NAMESPACE_END

#endif

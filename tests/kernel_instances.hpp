// The engine's kernels (detail::run and everything under it) for every
// catalogue entry, instantiated once per entry in their own object
// (kernel_entry.cpp) and declared `extern` in every test translation unit.
//
// Why: the tests' own code (references, input kinds, call forms) is most of
// the build, and tests/CMakeLists.txt compiles it at -O1; the kernels under
// test keep the build type's flags (-O3 in Release), as a user builds them,
// and are compiled once per build instead of once per test program.
//
// CMake writes the list of entries (XLOSS_TEST_KERNEL_LIST, one
// XLOSS_TEST_KERNELS(extern, I) per entry); without it (the fuzzer, a
// translation unit that defines XLOSS_TEST_IMPLICIT_KERNELS, such as the
// scalar half of the backend battery) every kernel is instantiated where it
// is used, as usual.
#ifndef XLOSS_TEST_KERNEL_INSTANCES_HPP
#define XLOSS_TEST_KERNEL_INSTANCES_HPP

#include <cstddef>
#include <tuple>
#include <type_traits>

#include "catalogue.hpp"

namespace xloss_test
{
    inline namespace XLOSS_ABI_NAMESPACE
    {
        // The rule of entry I, and the label type its kernels take (the
        // catalogue's integer labels are int; other rules ignore the type).
        template <std::size_t I>
        using rule_of = typename std::decay_t<decltype(std::tuple_element_t<I, catalogue>::loss)>::rule;

        template <std::size_t I>
        using kernel_label_of =
            std::conditional_t<xloss::detail::takes_labels<rule_of<I>>, int, std::ptrdiff_t>;
    }
}

// One kernel instance: value type T, gradients G, a mask M.
#define XLOSS_TEST_KERNEL(EXTERN, I, T, G, M)                                                                \
    EXTERN template void xloss::detail::run<xloss_test::rule_of<I>, G, M, T, xloss_test::kernel_label_of<I>, \
                                            xloss_test::rule_of<I>::options>(                                \
        const xloss::detail::layout&, const xloss::detail::call_data<T, xloss_test::kernel_label_of<I>>&,    \
        const xloss_test::rule_of<I>::options&);

// Every kernel instance of entry I the tests call: float and double, value
// only and with gradients, with and without a mask.
#define XLOSS_TEST_KERNELS(EXTERN, I)                  \
    XLOSS_TEST_KERNEL(EXTERN, I, float, false, false)  \
    XLOSS_TEST_KERNEL(EXTERN, I, float, false, true)   \
    XLOSS_TEST_KERNEL(EXTERN, I, float, true, false)   \
    XLOSS_TEST_KERNEL(EXTERN, I, float, true, true)    \
    XLOSS_TEST_KERNEL(EXTERN, I, double, false, false) \
    XLOSS_TEST_KERNEL(EXTERN, I, double, false, true)  \
    XLOSS_TEST_KERNEL(EXTERN, I, double, true, false)  \
    XLOSS_TEST_KERNEL(EXTERN, I, double, true, true)

#if defined(XLOSS_TEST_KERNEL_LIST) && !defined(XLOSS_TEST_IMPLICIT_KERNELS)
#include XLOSS_TEST_KERNEL_LIST
#endif

#endif

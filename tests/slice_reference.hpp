// The long-double reference of one slice, shared by the tests and the fuzzer:
// what a catalogue entry's reference() takes (the slice's elements, which of
// them are selected, the label, the upstream value) and returns (the value
// and every gradient entry, each with the size of its terms, so that a caller
// can budget the rounding of the type it compares).
#ifndef XLOSS_TESTS_SLICE_REFERENCE_HPP
#define XLOSS_TESTS_SLICE_REFERENCE_HPP

#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace xloss_test
{
    using ld = long double;

    struct approx
    {
        ld value = 0;
        ld scale = 0;  // sum of the magnitudes of the terms: relative error budget
        ld floor = 0;  // absolute error budget (underflow of tiny terms)
    };

    struct slice_result
    {
        approx value;
        std::vector<approx> dx, dy;  // per element of the slice (0 where not selected)
        bool grad_checkable = true;
    };

    struct slice_in
    {
        std::vector<ld> x, y;
        std::vector<char> sel;
        long long label = 0;  // integer labels: the label of the slice
        ld g = 1;             // the upstream value of the slice
    };

    // The smallest normal number of the compared type: the floor of what its
    // exp and log resolve.
    template <class T>
    ld tiny()
    {
        return static_cast<ld>(std::numeric_limits<T>::min());
    }

    // Known library bugs whose inputs a reference makes no claim on, named in
    // XLOSS_FUZZ_IGNORE (comma-separated), so that a fuzz run can look past
    // them for others. Unset (the default, in the tests and in
    // .ci/robustness.sh): every finding fails. See fuzz/regressions/README.md.
    inline bool ignoring(const char* bug)
    {
        static const std::string list = []
        {
            const char* e = std::getenv("XLOSS_FUZZ_IGNORE");
            return "," + std::string(e ? e : "") + ",";
        }();
        return list.find("," + std::string(bug) + ",") != std::string::npos;
    }

    // An empty result of n elements (value and gradients 0); true when some
    // element is selected, i.e. when the loss's formula applies.
    inline bool start(const slice_in& in, slice_result& r)
    {
        const std::size_t n = in.x.size();
        r.dx.assign(n, approx{});
        r.dy.assign(n, approx{});
        for (std::size_t k = 0; k < n; ++k)
        {
            if (in.sel[k])
            {
                return true;
            }
        }
        return false;
    }

    // The error budget scales with |g|; at g == 0 it keeps the terms' own
    // size, so that 0 * (a term that overflows the type) = NaN is seen as
    // overflow territory rather than compared with 0.
    inline ld budget_of(ld g)
    {
        return g == 0 ? 1 : (g < 0 ? -g : g);
    }
}

#endif

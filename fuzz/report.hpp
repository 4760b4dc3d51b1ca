// Failure reporting: any failed check prints the decoded case and aborts, so
// that libFuzzer keeps the input. Shared by both backend builds.
#ifndef XLOSS_FUZZ_REPORT_HPP
#define XLOSS_FUZZ_REPORT_HPP

#include <cstddef>
#include <sstream>
#include <string>

#include "model.hpp"

namespace xloss_fuzz
{
    // The case under test, printed by fail(); null between inputs.
    struct current_t
    {
        const case_t* c = nullptr;
        const model_t* m = nullptr;
    };
    extern current_t current;

    // One line: the decoded call and what the model expects of it.
    std::string describe(const case_t& c, const model_t& m);

    [[noreturn]] void fail(const std::string& what);

    template <class A>
    std::string dump(const A& a, std::size_t limit = 64)
    {
        std::ostringstream o;
        o.precision(9);
        o << show(shape_t(a.shape().begin(), a.shape().end())) << " {";
        std::size_t i = 0;
        for (auto v : a)
        {
            if (i == limit)
            {
                o << ", ...";
                break;
            }
            o << (i++ ? ", " : "") << +v;
        }
        return o.str() + "}";
    }
}

#endif

// libFuzzer target for every xloss loss and gradient entry point.
//
// The input bytes decode into one call description (case.hpp; make_corpus.py
// writes the seed corpus in the same format): a loss of the test catalogue
// (tests/catalogue.hpp), a shape of rank 0-4 with extents 0-40 (at most ~4096
// elements), how each input broadcasts, an axis argument (default, int,
// list, no_axes, all_axes; valid, out of range or repeated), a where mask
// (none, input rank, batch rank, wrong rank, a shape that does not
// broadcast), integer labels in and out of range, options, an upstream
// gradient, and the values (NaN, +-inf, denormals, +-1e30, ...). The call
// runs in float and in double through loss(), grad, value_and_grad and vjp,
// with argnums 0, 1 and {0, 1} where the loss allows them (driver.hpp), and
// is checked against:
//
//   1. a model of the contract's errors (model.hpp): exactly the calls that
//      must throw do, with std::invalid_argument or std::out_of_range (by
//      the rule of the first failing check), and the message starts
//      "xloss::<function>: "; any other exception type aborts;
//   2. masked-out inputs: the same call with every input element that no
//      selected position reads replaced by 0 (labels and upstream values of
//      slices with nothing selected too) gives bitwise the same results
//      (NaN matching NaN), and such elements get a gradient of exactly 0;
//   3. the catalogue entry's long-double scalar reference of every value and
//      gradient (reference_check.hpp), written from the formulas
//      (independent of the library's plan and kernels), within a loose
//      tolerance scaled by the size of the terms, where the selected data are
//      in the loss's domain and nothing can overflow the type.
//
// This file is the SIMD build and the entry point; fuzz_scalar.cpp is the
// scalar build. With XLOSS_FUZZ_COMPARE_BACKENDS every input runs through
// both and their results are compared.
//
// Any failure prints the decoded case and aborts, so libFuzzer keeps the input.
// Set XLOSS_FUZZ_VERBOSE=1 to print each decoded case, XLOSS_FUZZ_DUMP=1 its inputs.
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "backend_outputs.hpp"
#include "driver.hpp"

namespace
{
    // NaN, -inf, +inf, or finite.
    int kind_of(double v)
    {
        return std::isnan(v)                                   ? 0
               : v == -std::numeric_limits<double>::infinity() ? 1
               : v == std::numeric_limits<double>::infinity()  ? 2
                                                               : 3;
    }

    // The first value of two matching outputs whose kinds differ, as a
    // message, or "". A NaN or an infinity in one backend only is a finding,
    // except at the edge of overflow, where both are non-finite or huge
    // (beyond max / 2^16: inf - inf and the rounding of the last sum are then
    // up to the order of the operations, and the long-double reference makes
    // no claim there either).
    std::string compare_values(const backend_output& a, const backend_output& b)
    {
        const double huge = a.type_max / 65536;
        const auto overflowing = [&](double v) { return !std::isfinite(v) || std::fabs(v) > huge; };
        for (std::size_t k = 0; k < a.values.size(); ++k)
        {
            const double va = a.values[k], vb = b.values[k];
            if (kind_of(va) != kind_of(vb) && !(overflowing(va) && overflowing(vb)))
            {
                std::ostringstream o;
                o.precision(17);
                o << "SIMD and scalar builds differ at " << a.entry << ", flat index " << k << ": SIMD " << va
                  << ", scalar " << vb;
                return o.str();
            }
        }
        return "";
    }

    // The SIMD and the scalar build agree on every entry point's error, on
    // every result's shape, and element by element on its kind (NaN, -inf,
    // +inf, finite), unless some selected slice of the input is finite but
    // outside the loss's domain (backend_output::claimed; inputs whose only
    // trouble is NaN or infinities stay compared, as those must propagate
    // alike). Finite values are each held to the same reference, with the
    // same error budget, by both builds' own checks, and so agree within
    // twice that budget. Returns the first difference, or "".
    std::string compare_backends(const std::vector<backend_output>& simd,
                                 const std::vector<backend_output>& scalar)
    {
        if (simd.size() != scalar.size())
        {
            return "SIMD and scalar builds made different numbers of calls: " + std::to_string(simd.size())
                   + " and " + std::to_string(scalar.size());
        }
        for (std::size_t i = 0; i < simd.size(); ++i)
        {
            const auto& a = simd[i];
            const auto& b = scalar[i];
            if (a.entry != b.entry || a.error != b.error || a.shape != b.shape
                || a.values.size() != b.values.size())
            {
                using xloss_fuzz::error_kind;
                return "SIMD and scalar builds differ at " + a.entry + " / " + b.entry + ": error "
                       + xloss_fuzz::error_name(static_cast<error_kind>(a.error)) + " and "
                       + xloss_fuzz::error_name(static_cast<error_kind>(b.error));
            }
            if (!a.claimed || !b.claimed)
            {
                continue;  // finite inputs outside the domain: no claim on the values
            }
            const std::string difference = compare_values(a, b);
            if (!difference.empty())
            {
                return difference;
            }
        }
        return "";
    }
}

// UBSan: halt on the first report (so libFuzzer keeps the input) and show
// the stack. The checks stay recoverable in the build, so that a local run
// can look past a known report with UBSAN_OPTIONS=suppressions=FILE (the
// environment adds to and overrides these defaults).
extern "C" const char* __ubsan_default_options()
{
    return "halt_on_error=1:print_stacktrace=1";
}

// With XLOSS_FUZZ_COMPARE_BACKENDS (fuzz_scalar.cpp linked in), every input
// also runs through the scalar build, and the two builds are compared.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
#ifdef XLOSS_FUZZ_COMPARE_BACKENDS
    const auto simd = xloss_fuzz::run_recorded(data, size);
    const std::string difference = compare_backends(simd, xloss_fuzz_scalar_run(data, size));
    if (!difference.empty())
    {
        xloss_fuzz::fail_on(data, size, difference);
    }
#else
    xloss_fuzz::run_input(data, size);
#endif
    return 0;
}

// What one fuzz input made xloss return, entry point by entry point, so that
// the SIMD build and the scalar (XLOSS_NO_SIMD) build of the fuzz target,
// linked into one program, can be compared (fuzz_scalar.cpp). Knows nothing
// of xloss, so both builds share it.
#ifndef XLOSS_FUZZ_BACKEND_OUTPUTS_HPP
#define XLOSS_FUZZ_BACKEND_OUTPUTS_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct backend_output
{
    std::string entry;               // type, loss and entry point, e.g. "float grad<1>"
    int error = 0;                   // the error kind (0: none)
    std::vector<std::size_t> shape;  // of the result
    std::vector<double> values;      // the result, flattened
    double type_max = 0;             // numeric_limits<T>::max() of the result's type
    // False when a selected input of this fuzz input is finite but outside
    // the loss's domain (a focal label of 1e30, a negative KL target): the
    // contract promises no values there, so only errors and shapes compare.
    bool claimed = true;
};

// Runs one input through the scalar build, with all of its checks, and
// returns what it recorded. Defined by fuzz_scalar.cpp.
std::vector<backend_output> xloss_fuzz_scalar_run(const std::uint8_t* data, std::size_t size);

#endif

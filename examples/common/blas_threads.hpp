// The number of OpenBLAS threads, set through OpenBLAS's own call.
#pragma once

// Declared weak so that the examples still link against another BLAS, in
// which case the call is skipped.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace xloss_examples
{
    inline void limit_blas_threads(int threads)
    {
        if (openblas_set_num_threads != nullptr)
        {
            openblas_set_num_threads(threads);
        }
    }
}

// The double half of the fuzz checks (driver.hpp: run_double), compiled
// apart from the float half for build time; fuzz_scalar_double.cpp compiles
// this file again on the scalar fallback.
#include "driver.hpp"

XLOSS_FUZZ_BACKEND_BEGIN

void run_double(const case_t& c, const model_t& m)
{
    run_all<double>(c, m, catalogue_entries);
}

XLOSS_FUZZ_BACKEND_END

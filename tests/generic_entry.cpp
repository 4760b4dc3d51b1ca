// The generic tests of one catalogue entry (XLOSS_TEST_ENTRY, set per
// executable by tests/CMakeLists.txt; every entry without it): values,
// gradients, the golden reference data and the reductions (sum, mean). One
// translation unit per entry, so that what they share (the loss on xarray
// inputs, every call form) is instantiated once, and the entries' objects
// build in parallel.
#include "generic/values.hpp"
#include "generic/grad.hpp"
#include "generic/reference.hpp"
#include "generic/reductions.hpp"

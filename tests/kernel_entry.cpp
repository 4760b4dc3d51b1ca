// The kernel instances of one catalogue entry (XLOSS_TEST_ENTRY, set per
// object by tests/CMakeLists.txt), compiled with the build type's flags and
// linked into every test program (see kernel_instances.hpp).
#define XLOSS_TEST_IMPLICIT_KERNELS
#include "kernel_instances.hpp"

XLOSS_TEST_KERNELS(, XLOSS_TEST_ENTRY)

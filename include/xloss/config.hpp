// xloss: configuration and version. CMake parses the version macros below.
#ifndef XLOSS_CONFIG_HPP
#define XLOSS_CONFIG_HPP

#define XLOSS_VERSION_MAJOR 0
#define XLOSS_VERSION_MINOR 1
#define XLOSS_VERSION_PATCH 0

// Debug-only internal invariant check. Errors a user can cause are always
// reported by exceptions (see detail/errors.hpp), never by this macro.
#ifdef XLOSS_ENABLE_ASSERT
#include <cassert>
#define XLOSS_ASSERT(cond) assert(cond)
#else
#define XLOSS_ASSERT(cond) ((void)0)
#endif

#endif

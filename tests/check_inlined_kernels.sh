#!/usr/bin/env bash
# Checks optimised g++ and clang builds for xloss kernels compiled out of
# line: in the binaries, libraries or objects given, no function whose name
# holds a lanes type (detail/lanes.hpp: what the engine hands a rule's
# kernel), and none of the shared per-element kernels (detail::kernels), may
# have a symbol of its own. The engine's run_* functions are XLOSS_FLATTEN
# and inline everything the rule calls; when something stops that (under
# GCC an XLOSS_ALWAYS_INLINE helper between them and the rule, under clang a
# function on the way without XLOSS_KERNEL_INLINE: config.hpp), the rule's
# passes are called per row, and their sums pass through memory: softmax
# rows ran 1.6-5x slower that way for a day, and no test failed.
#
# Usage: tests/check_inlined_kernels.sh BINARY_OR_LIBRARY...
# (a ctest of optimised g++ and clang builds, on the test kernels' library;
# .ci/run runs it on the benchmarks and on clang Release's test kernels too)
set -euo pipefail
status=0
for bin in "$@"; do
  if ! symbols=$(nm -C --defined-only "$bin"); then
    echo "$bin: nm failed"
    status=1
    continue
  fi
  found=$(grep -E '^[0-9a-f]+ [TtWw] ' <<<"$symbols" |
    grep -E 'xloss::[a-z_0-9]+::detail::((row_lanes|row_partials|column_lanes)\b|kernels::)' || true)
  if [ -n "$found" ]; then
    echo "$bin: kernels compiled out of line:"
    echo "$found" | cut -d' ' -f3- | cut -c1-240 | sed 's/^/  /'
    status=1
  fi
done
[ $status -eq 0 ] && echo "check_inlined_kernels: no kernel out of line in $*"
exit $status

#!/bin/sh
# Runs a program under valgrind's memcheck for ctest's "valgrind" tests:
#
#   valgrind.sh PROGRAM [ARGS...]
#
# Fails on any memory error or leak (definite or possible). Exits 77, which
# ctest counts as skipped, when valgrind is not installed (scripts/lib.sh
# installs it with the test packages).
if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind is not installed: skipped (scripts/test installs it)"
  exit 77
fi
exec valgrind --tool=memcheck --leak-check=full --error-exitcode=1 \
  --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible \
  --num-callers=30 "$@"

#!/bin/sh
# The library_version test: project(VERSION) in CMakeLists.txt is the one
# source of uvws's version. CMake refuses to configure when uvws.h's
# UVWS_VERSION_* macros differ from it; this checks what the build made of
# it: the shared library's file name and SONAME, and that CHANGELOG.md has
# a section for it.
#
#   library_version.sh LIBUVWS_SO VERSION CHANGELOG
set -eu

lib="$1"
version="$2"
changelog="$3"
major="${version%%.*}"
fail=0

real="$(readlink -f "$lib")"
if [ "$(basename "$real")" != "libuvws.so.$version" ]; then
  echo "library_version: $lib is $(basename "$real"), not libuvws.so.$version" >&2
  fail=1
fi

soname="$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
if [ "$soname" != "libuvws.so.$major" ]; then
  echo "library_version: SONAME is '$soname', not libuvws.so.$major" >&2
  fail=1
fi

if ! grep -qE "^## \[$version\]" "$changelog"; then
  echo "library_version: $changelog has no '## [$version]' section" >&2
  fail=1
fi

[ "$fail" -eq 0 ] && echo "library_version: $version, SONAME $soname"
exit "$fail"

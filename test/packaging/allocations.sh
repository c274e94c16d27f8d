#!/bin/sh
# Every allocation of the library goes through a context's allocator
# (src/alloc.h): no object file but alloc.c's may call the C library's
# allocation functions. Arguments: the library's object files (CMake hands
# them over as ;-separated lists).
# shellcheck disable=SC2046
set -- $(printf '%s\n' "$@" | tr ';' '\n')
status=0
for obj in "$@"; do
  case "$obj" in
    */alloc.c.o) continue ;;
  esac
  calls=$(nm -u "$obj" | awk '{print $NF}' |
    grep -xE 'malloc|calloc|realloc|reallocarray|free|strdup|strndup|aligned_alloc|posix_memalign|memalign|valloc|asprintf|vasprintf|getline|getdelim|open_memstream|canonicalize_file_name')
  if [ -n "$calls" ]; then
    echo "$(basename "$obj"): calls $(echo $calls) instead of the context's allocator" >&2
    status=1
  fi
done
n=$#
[ "$status" = 0 ] && echo "allocations: $n objects, none allocates outside src/alloc.c"
exit $status

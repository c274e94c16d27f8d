#!/bin/sh
# The consumer test: install the uvws just built into a scratch prefix, then
# build test/consumer (a program outside the tree) against it in four ways
# and run each binary, which must exit 0:
#
#   cmake-shared   find_package(uvws) and uvws::uvws (libuvws.so)
#   pkg-config     cc $(pkg-config --cflags --libs uvws), rpath to libdir
#   cmake-static   find_package(uvws) and uvws::uvws_static (libuvws.a)
#   pkg-static     libuvws.a and pkg-config --static --libs
#
#   consumer.sh BUILD_DIR SOURCE_DIR WORK_DIR CC CMAKE [CFLAGS]
#
# CFLAGS are given to every consumer build: a build with sanitizers makes
# an instrumented library, which only an instrumented program can load.
set -eu

build="$1"
src="$2"
work="$3"
cc="$4"
cmake="$5"
cflags="${6:-}"

step() { printf '\n== %s\n' "$*"; }
die() { printf 'consumer: %s\n' "$*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" ||
  { cat "$work/install.log" >&2; die "install failed"; }

pc="$(find "$prefix" -name uvws.pc)"
[ -n "$pc" ] || die "no uvws.pc installed"
pcdir="$(dirname "$pc")"
libdir="$(dirname "$pcdir")"
for f in "$prefix/include/uvws.h" "$prefix/include/uvws_errno.h" \
         "$libdir/libuvws.a" "$libdir/libuvws.so" "$libdir/libuvws.so.0" \
         "$libdir/cmake/uvws/uvwsConfig.cmake" \
         "$libdir/cmake/uvws/uvwsConfigVersion.cmake" \
         "$libdir/cmake/uvws/uvwsTargets.cmake"; do
  [ -e "$f" ] || die "not installed: $f"
done
# Nothing in the installed package may point back into the build or
# source tree (the prefix itself may lie inside the build tree).
leaks="$(cat "$pcdir"/uvws.pc "$libdir"/cmake/uvws/*.cmake |
  grep -oE "($build|$src)[^ \";)]*" | grep -vF "$prefix" || true)"
[ -z "$leaks" ] || die "installed files name the build or source tree: $leaks"
echo "installed into $prefix (libdir $libdir)"
sed 's/^/  uvws.pc: /' "$pc"

export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
[ "$(pkg-config --variable=libdir uvws)" = "$libdir" ] ||
  die "uvws.pc's libdir is $(pkg-config --variable=libdir uvws), not $libdir"

# Runs a consumer binary; $2 is "shared" or "static": which libuvws it
# must have been linked with.
run() {
  bin="$1"
  if ldd "$bin" | grep -q 'libuvws\.so'; then
    linked="$(ldd "$bin" | sed -n 's/.*libuvws\.so\.0 => \([^ ]*\).*/\1/p')"
    [ "$2" = shared ] || die "$bin links libuvws.so, not libuvws.a"
    [ "$linked" = "$libdir/libuvws.so.0" ] ||
      die "$bin loads libuvws.so.0 from '$linked', not from $libdir"
  else
    [ "$2" = static ] || die "$bin does not link libuvws.so"
  fi
  "$bin" || die "$bin exited $?"
}

cmake_consumer() {
  name="$1"
  shift
  step "$name: find_package(uvws) with CMAKE_PREFIX_PATH=$prefix"
  "$cmake" -S "$src/test/consumer" -B "$work/$name" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$cflags" \
    "$@" >"$work/$name.log" 2>&1 ||
    { cat "$work/$name.log" >&2; die "$name: configure failed"; }
  found="$(sed -n 's/^uvws_DIR:PATH=//p' "$work/$name/CMakeCache.txt")"
  [ "$found" = "$libdir/cmake/uvws" ] ||
    die "$name: found uvws in '$found', not in $libdir/cmake/uvws"
  "$cmake" --build "$work/$name" >>"$work/$name.log" 2>&1 ||
    { cat "$work/$name.log" >&2; die "$name: build failed"; }
}

cmake_consumer cmake-shared
run "$work/cmake-shared/consumer" shared

step "pkg-config: $cc \$(pkg-config --cflags --libs uvws)"
mkdir -p "$work/pkg-config"
# shellcheck disable=SC2046,SC2086
"$cc" $cflags -o "$work/pkg-config/consumer" "$src/test/consumer/main.c" \
  $(pkg-config --cflags --libs uvws) -Wl,-rpath,"$libdir"
run "$work/pkg-config/consumer" shared

cmake_consumer cmake-static -DUVWS_CONSUMER_STATIC=ON
run "$work/cmake-static/consumer" static

step "pkg-static: libuvws.a \$(pkg-config --static --libs uvws)"
mkdir -p "$work/pkg-static"
# -luvws would pick libuvws.so: the archive is named instead.
libs="$(pkg-config --static --libs uvws | sed 's/-luvws\b//')"
# shellcheck disable=SC2046,SC2086
"$cc" $cflags -o "$work/pkg-static/consumer" "$src/test/consumer/main.c" \
  $(pkg-config --cflags uvws) "$libdir/libuvws.a" $libs
run "$work/pkg-static/consumer" static

step "all four consumers built and ran"

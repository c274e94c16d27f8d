#!/bin/sh
# The symbols test: libuvws.so exports the public API and nothing else.
#
#   symbols.sh LIBUVWS_SO UVWS_H
#
# Fails when the library is missing, when it exports (defines in its
# dynamic symbol table) a name that is not uvws_*, or an internal uvws__*
# name, or a uvws_* name that uvws.h does not declare, and when a function
# that uvws.h declares is not exported (a declaration without UVWS_EXTERN).
set -eu

lib="$1"
header="$2"
fail=0

if [ ! -f "$lib" ]; then
  echo "symbols: $lib does not exist" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# "ADDRESS TYPE NAME" lines; the name may carry a version (@@VER).
nm -D --defined-only "$lib" >"$tmp/nm"
awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' "$tmp/nm" | sort -u \
  >"$tmp/exported"
if [ ! -s "$tmp/exported" ]; then
  echo "symbols: $lib exports nothing (nm -D failed?)" >&2
  exit 1
fi

# The functions uvws.h declares: its text without comments, each
# "uvws_name(" that is not a function pointer type "(*uvws_name)(".
# uvws_errno.h declares no functions.
perl -0777 -pe 's{/\*.*?\*/}{ }gs' "$header" |
  sed -E 's/\([[:space:]]*\*[[:space:]]*uvws_[a-z0-9_]+[[:space:]]*\)//g' |
  grep -oE '(^|[^a-z0-9_])uvws_[a-z0-9_]+[[:space:]]*\(' |
  grep -oE 'uvws_[a-z0-9_]+' | sort -u >"$tmp/declared"
if [ ! -s "$tmp/declared" ]; then
  echo "symbols: found no function declarations in $header" >&2
  exit 1
fi

bad="$(grep -vE '^uvws_[a-z0-9]' "$tmp/exported" || true)"
if [ -n "$bad" ]; then
  echo "symbols: $lib exports names outside the uvws_ API:" >&2
  echo "$bad" | sed 's/^/  /' >&2
  fail=1
fi

extra="$(grep -E '^uvws_[a-z0-9]' "$tmp/exported" |
  comm -23 - "$tmp/declared" || true)"
if [ -n "$extra" ]; then
  echo "symbols: $lib exports uvws_ names that uvws.h does not declare:" >&2
  echo "$extra" | sed 's/^/  /' >&2
  fail=1
fi

missing="$(comm -13 "$tmp/exported" "$tmp/declared")"
if [ -n "$missing" ]; then
  echo "symbols: functions declared in uvws.h but not exported (UVWS_EXTERN" \
       "missing, or not defined):" >&2
  echo "$missing" | sed 's/^/  /' >&2
  fail=1
fi

if [ "$fail" -eq 0 ]; then
  echo "symbols: $(wc -l <"$tmp/exported") exported, all declared in uvws.h"
fi
exit "$fail"

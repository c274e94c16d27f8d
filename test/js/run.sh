#!/bin/sh
# Runs one JavaScript test with uvws-js, against a server started for it.
#
#   run.sh [--status N] UVWS_JS SCRIPT [SERVER [SERVER-ARG]...]
#
# SERVER (echo-server or chat-server) is started with --port 0 and the
# SERVER-ARGs; the address it prints ("listening on ws://H:P/", or
# "chat-server listening on http://H:P/") becomes ws://H:P/, the script's
# scriptArgs[1]. Without SERVER the script runs alone.
#
# The test passes when uvws-js exits with status N (default 0), the last
# line it prints is "PASS NAME" (NAME: the script's file name without
# .js), with status 1 it reported an uncaught exception, and the server,
# stopped with SIGTERM afterwards, exits 0.
set -u

status=0
if [ "$1" = --status ]; then
  status="$2"
  shift 2
fi
js="$1"
script="$2"
shift 2
name="$(basename "$script" .js)"

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL $name: $*" >&2
  exit 1
}

url=""
if [ "$#" -gt 0 ]; then
  server="$1"
  shift
  : >"$tmp/server.out"
  "$server" --port 0 "$@" >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  i=0
  while [ -z "$url" ]; do
    hostport="$(sed -n 's#^.*listening on [a-z]*://\([^/]*\)/.*$#\1#p' \
      "$tmp/server.out" | head -n 1)"
    if [ -n "$hostport" ]; then
      url="ws://$hostport/"
      break
    fi
    kill -0 "$server_pid" 2>/dev/null || {
      cat "$tmp/server.err" >&2
      server_pid=""
      fail "$(basename "$server") exited before listening"
    }
    i=$((i + 1))
    [ "$i" -lt 200 ] || fail "$(basename "$server") did not start listening"
    sleep 0.05
  done
  echo "server: $(basename "$server")${*:+ $*} at $url"
fi

"$js" "$script" $url >"$tmp/out" 2>"$tmp/err"
got=$?
cat "$tmp/out"
cat "$tmp/err" >&2

[ "$got" -eq "$status" ] || fail "uvws-js exited $got, not $status"
last="$(tail -n 1 "$tmp/out")"
[ "$last" = "PASS $name" ] || fail "the last line is '$last', not 'PASS $name'"
if [ "$status" -eq 1 ]; then
  grep -q '^uvws-js: uncaught' "$tmp/err" || fail "no uncaught exception reported"
fi

if [ -n "$server_pid" ]; then
  kill -TERM "$server_pid"
  wait "$server_pid"
  code=$?
  server_pid=""
  if [ "$code" -ne 0 ]; then
    cat "$tmp/server.err" >&2
    fail "the server exited $code after SIGTERM"
  fi
fi
echo "PASS $name"

# Shared set-up for scripts/test and scripts/demo. Source it; do not run it.
#
# Everything here is idempotent: on a machine that already has what uvws
# needs, it only checks and prints.

# The repository root, whatever directory the script was started from.
UVWS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages needed to build the library and its examples (duktape-dev:
# the JavaScript engine of examples/uvws-js.c, which the JavaScript tests
# run; without it CMake leaves uvws-js and those tests out; libhiredis-dev:
# the Redis client of the scale-out backend, left out likewise without it).
UVWS_BUILD_DEBS=(build-essential cmake pkg-config libuv1-dev libmbedtls-dev
                 zlib1g-dev ca-certificates duktape-dev libhiredis-dev)
# Added for the full test run: clang and its sanitizer runtime for the
# fuzzers, the real WebSocket peers of the interop tests, the browser of the
# browser tests (driven by playwright-core from npm), openssl, which
# makes the TLS tests' certificates, the HTTP proxy of the proxy tests,
# the Redis server that the scale-out tests start on a free port, and
# valgrind for the hardening tests' memcheck run (ctest label valgrind).
UVWS_TEST_DEBS=(clang libclang-rt-14-dev python3 python3-websockets nodejs npm
                chromium openssl tinyproxy redis-server valgrind)

# Optional, for the API reference only (cmake --build build --target docs);
# neither scripts/test nor scripts/demo installs it:
#   source scripts/lib.sh && uvws_ensure_debs "${UVWS_DOCS_DEBS[@]}"
UVWS_DOCS_DEBS=(doxygen)

# The step in progress, named again if the script fails.
UVWS_STEP=""

uvws_step() {
  UVWS_STEP="$*"
  printf '\n==> %s\n' "$*"
}

# Call from an EXIT trap: says which step failed.
uvws_report_failure() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    printf '\n==> FAILED (exit status %d) during: %s\n' "$status" \
      "${UVWS_STEP:-set-up}" >&2
  fi
}

uvws_info() {
  printf '    %s\n' "$*"
}

uvws_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root: directly when already root, else through sudo.
uvws_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    uvws_die "need root for '$*', and sudo is not installed"
  fi
}

# Succeeds when Debian package $1 is installed.
uvws_deb_installed() {
  local status
  status="$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)"
  [ "$status" = "installed" ]
}

# Installs whichever of the given Debian packages are missing. apt-get
# update runs only when something has to be installed.
uvws_ensure_debs() {
  local pkg cmd missing=()
  for pkg in "$@"; do
    case "$pkg" in
      nodejs | npm)
        # A Node.js package from outside Debian's main archive bundles npm
        # and conflicts with Debian's npm package: a working command is
        # what counts here.
        cmd="$pkg"
        [ "$pkg" = nodejs ] && cmd=node
        if command -v "$cmd" >/dev/null 2>&1; then
          continue
        fi
        ;;
    esac
    uvws_deb_installed "$pkg" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    uvws_info "Debian packages present: $*"
    return 0
  fi
  uvws_info "installing missing Debian packages: ${missing[*]}"
  uvws_as_root env DEBIAN_FRONTEND=noninteractive apt-get update
  uvws_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# Installs the Node packages of one test directory ($1, relative to the
# root) into its node_modules with `npm ci`, only when they are missing or
# were installed from another package-lock.json than the committed one. $2
# is a package that must be there afterwards.
uvws_ensure_node_dir() {
  local rel="$1" probe="$2"
  local dir="$UVWS_ROOT/$rel"
  local stamp="$dir/node_modules/.uvws-lock.sha256"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
     [ -f "$dir/node_modules/$probe/package.json" ]; then
    uvws_info "Node packages in $rel/node_modules are up to date"
    return 0
  fi
  uvws_info "installing Node packages into $rel/node_modules (npm ci)"
  (cd "$dir" && npm ci --no-audit --no-fund)
  printf '%s\n' "$want" >"$stamp"
}

# The Node packages of the tests: the ws library for the interop tests and
# playwright-core, which drives Debian's Chromium, for the browser tests.
# playwright-core never downloads a browser of its own here.
uvws_ensure_node_modules() {
  uvws_ensure_node_dir test/interop ws
  if [ -f "$UVWS_ROOT/test/browser/package-lock.json" ]; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
      uvws_ensure_node_dir test/browser playwright-core
  fi
}

# Prints the seconds elapsed since $1 (a value of $SECONDS).
uvws_since() {
  printf '%ds' "$((SECONDS - $1))"
}

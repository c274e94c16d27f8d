/* libFuzzer target for WebSocket URLs (src/url.c).
 *
 * The input, up to its first NUL, is a URL. Beyond "no crash", it checks
 * what the client relies on when it writes the request line, the Host
 * header and the CONNECT line from a parsed URL:
 *  - a refused URL leaves nothing allocated;
 *  - an accepted one has a non-empty host of reg-name characters (or of an
 *    IPv6 literal's), a port in 1-65535, a target that starts with '/' and
 *    holds only visible ASCII and no '#', and a Host header value that is
 *    the host (bracketed for IPv6) with ":port" exactly when the port is
 *    not the scheme's default;
 *  - the scheme is case-insensitive;
 *  - printing the URL back from its parts ("ws://" Host target) and
 *    parsing that gives the same parts again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"
#include "uvws_errno.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_reg_name_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=", c) != NULL;
}

static int is_ipv6_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

static void check_parts(const uvws__url_t *u) {
  size_t i, hl = strlen(u->host);
  int ipv6 = strchr(u->host, ':') != NULL;
  char *want;

  FUZZ_CHECK(hl > 0);
  for (i = 0; i < hl; i++)
    FUZZ_CHECK(ipv6 ? is_ipv6_char((unsigned char)u->host[i])
                    : is_reg_name_char((unsigned char)u->host[i]));
  FUZZ_CHECK(u->port >= 1 && u->port <= 65535);
  FUZZ_CHECK(u->target[0] == '/');
  for (i = 0; u->target[i]; i++)
    FUZZ_CHECK((unsigned char)u->target[i] > 0x20 &&
               (unsigned char)u->target[i] < 0x7f && u->target[i] != '#');

  /* The Host header: authority without userinfo (RFC 7230 5.4). */
  {
    int def = u->secure ? 443 : 80;
    char port[16] = "";
    if (u->port != def)
      snprintf(port, sizeof(port), ":%d", u->port);
    want = malloc(hl + 32);
    FUZZ_CHECK(want != NULL);
    snprintf(want, hl + 32, ipv6 ? "[%s]%s" : "%s%s", u->host, port);
    FUZZ_CHECK(strcmp(want, u->host_header) == 0);
    free(want);
  }
}

static char *join(const char *a, const char *b, const char *c) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  char *s = malloc(la + lb + lc + 1);
  FUZZ_CHECK(s != NULL);
  memcpy(s, a, la);
  memcpy(s + la, b, lb);
  memcpy(s + la + lb, c, lc + 1);
  return s;
}

static void same(const uvws__url_t *a, const uvws__url_t *b) {
  FUZZ_CHECK(a->secure == b->secure && a->port == b->port);
  FUZZ_CHECK(strcmp(a->host, b->host) == 0);
  FUZZ_CHECK(strcmp(a->target, b->target) == 0);
  FUZZ_CHECK(strcmp(a->host_header, b->host_header) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n = strnlen((const char *)data, size), i;
  char *url = malloc(n + 1), *again;
  uvws__url_t u, v;
  int r;

  FUZZ_CHECK(url != NULL);
  memcpy(url, data, n);
  url[n] = '\0';

  r = uvws__url_parse(&uvws__libc_allocator, url, &u);
  FUZZ_CHECK(r == 0 || r == UVWS_EBADURL);
  if (r != 0) {
    FUZZ_CHECK(u.host == NULL && u.target == NULL && u.host_header == NULL);
    free(url);
    return 0;
  }
  check_parts(&u);
  FUZZ_CHECK(strlen(u.host) <= n && strlen(u.target) <= n + 1);

  /* The same URL with the scheme in another case. */
  for (i = 0; i < n && url[i] != ':'; i++)
    url[i] = (char)(url[i] ^ 0x20);
  r = uvws__url_parse(&uvws__libc_allocator, url, &v);
  FUZZ_CHECK(r == 0);
  same(&u, &v);
  uvws__url_free(&uvws__libc_allocator, &v);

  /* Printed back from its parts. */
  again = join(u.secure ? "wss://" : "ws://", u.host_header, u.target);
  r = uvws__url_parse(&uvws__libc_allocator, again, &v);
  FUZZ_CHECK(r == 0);
  same(&u, &v);
  uvws__url_free(&uvws__libc_allocator, &v);
  free(again);

  uvws__url_free(&uvws__libc_allocator, &u);
  FUZZ_CHECK(u.host == NULL && u.target == NULL && u.host_header == NULL);
  free(url);
  return 0;
}

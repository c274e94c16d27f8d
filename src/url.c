/* WebSocket URLs (RFC 6455 3): "ws" / "wss" "://" host [":" port]
 * [path] ["?" query], with the URI grammar of RFC 3986. */
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvws_errno.h"

/* UV_ENOMEM, without making the engine depend on libuv's headers. */
#define UVWS__ENOMEM (-12)

static int url__is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int url__is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

static int url__is_hex(unsigned char c) {
  return url__is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ).
 * Percent-encoded names are refused rather than decoded: no resolver takes
 * them, and decoding could smuggle bytes into the Host header. IPv4
 * literals are made of the same characters. */
static int url__is_reg_name_char(unsigned char c) {
  if (url__is_alpha(c) || url__is_digit(c))
    return 1;
  switch (c) {
  case '-':
  case '.':
  case '_':
  case '~':
  case '!':
  case '$':
  case '&':
  case '\'':
  case '(':
  case ')':
  case '*':
  case '+':
  case ',':
  case ';':
  case '=':
    return 1;
  default:
    return 0;
  }
}

static unsigned char url__lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive prefix match (RFC 3986 3.1: schemes are
 * case-insensitive). */
static int url__has_prefix(const char *s, const char *prefix) {
  for (; *prefix != '\0'; s++, prefix++)
    if (url__lower((unsigned char)*s) != (unsigned char)*prefix)
      return 0;
  return 1;
}

/* A copy of s[0..len) with before prepended and after appended, or NULL. */
static char *url__strdup3(const uvws_allocator_t *al, const char *before,
                          const char *s, size_t len, const char *after) {
  size_t b = strlen(before), a = strlen(after);
  char *p = uvws__malloc(al, b + len + a + 1);
  if (p == NULL)
    return NULL;
  memcpy(p, before, b);
  memcpy(p + b, s, len);
  memcpy(p + b + len, after, a + 1);
  return p;
}

int uvws__url_parse(const uvws_allocator_t *al, const char *url,
                    uvws__url_t *out) {
  const char *p, *host, *rest;
  size_t host_len;
  int secure, port, default_port, ipv6 = 0, colons = 0;
  char port_str[16];

  memset(out, 0, sizeof(*out));
  if (url == NULL)
    return UVWS_EBADURL;

  /* Everything must be visible ASCII. A space would split the request
   * line, and a URL is sent as is: nothing here percent-encodes. */
  for (p = url; *p != '\0'; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
      return UVWS_EBADURL;

  /* RFC 6455 3: a fragment is meaningless on a WebSocket URI and "#" must
   * be escaped as %23. */
  if (strchr(url, '#') != NULL)
    return UVWS_EBADURL;

  if (url__has_prefix(url, "wss://")) {
    secure = 1;
    default_port = 443;
    p = url + 6;
  } else if (url__has_prefix(url, "ws://")) {
    secure = 0;
    default_port = 80;
    p = url + 5;
  } else {
    return UVWS_EBADURL;
  }

  /* Host: an IP literal in brackets (RFC 3986 3.2.2), or a reg-name or
   * IPv4 address. Userinfo ends in "@", which neither allows, so it is
   * refused here too (RFC 6455 3 has no userinfo). */
  if (*p == '[') {
    /* Only IPv6address: hex digits, colons, and dots for an embedded IPv4
     * tail. IPvFuture and zone identifiers are refused. The address itself
     * is checked by the resolver. */
    ipv6 = 1;
    host = ++p;
    while (url__is_hex((unsigned char)*p) || *p == ':' || *p == '.') {
      colons += *p == ':';
      p++;
    }
    /* The shortest address, "::", has two colons. */
    if (*p != ']' || colons < 2)
      return UVWS_EBADURL;
    host_len = (size_t)(p - host);
    p++;
  } else {
    host = p;
    while (url__is_reg_name_char((unsigned char)*p))
      p++;
    host_len = (size_t)(p - host);
    if (host_len == 0)
      return UVWS_EBADURL;
  }

  /* RFC 3986 3.2.3 allows an empty port; it is refused here, since
   * "ws://host:" is far more likely a mistake than a request for the
   * default port. */
  port = default_port;
  if (*p == ':') {
    p++;
    if (!url__is_digit((unsigned char)*p))
      return UVWS_EBADURL;
    port = 0;
    while (url__is_digit((unsigned char)*p)) {
      port = port * 10 + (*p - '0');
      if (port > 65535)
        return UVWS_EBADURL;
      p++;
    }
    if (port == 0)
      return UVWS_EBADURL;
  }

  /* Whatever follows the authority is the path and query. Anything else
   * here ("@", "]", a second ":") is a malformed authority. */
  if (*p != '\0' && *p != '/' && *p != '?')
    return UVWS_EBADURL;
  rest = p;

  /* RFC 6455 3: an empty path is "/"; a query without a path keeps its
   * "?" after that "/". */
  out->target =
      url__strdup3(al, *rest == '/' ? "" : "/", rest, strlen(rest), "");
  out->host = url__strdup3(al, "", host, host_len, "");
  /* RFC 7230 5.4: Host is the authority without userinfo; the port may be
   * left out when it is the scheme's default. */
  port_str[0] = '\0';
  if (port != default_port)
    snprintf(port_str, sizeof(port_str), ":%d", port);
  if (ipv6) {
    char after[sizeof(port_str) + 1];
    snprintf(after, sizeof(after), "]%s", port_str);
    out->host_header = url__strdup3(al, "[", host, host_len, after);
  } else {
    out->host_header = url__strdup3(al, "", host, host_len, port_str);
  }

  if (out->target == NULL || out->host == NULL || out->host_header == NULL) {
    uvws__url_free(al, out);
    return UVWS__ENOMEM;
  }
  out->secure = secure;
  out->port = port;
  return 0;
}

void uvws__url_free(const uvws_allocator_t *al, uvws__url_t *url) {
  uvws__free(al, url->host);
  uvws__free(al, url->target);
  uvws__free(al, url->host_header);
  url->host = NULL;
  url->target = NULL;
  url->host_header = NULL;
}

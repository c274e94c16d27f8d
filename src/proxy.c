/* HTTP proxies. See proxy.h. */
#include "proxy.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "ascii.h"
#include "uvws_errno.h"

#define UVWS__ENOMEM (-12)

/* Percent-decodes s[0..n) onto out. -1 on a malformed escape or NUL. */
static int pct_decode(const uvws_allocator_t *al, const char *s, size_t n,
                      uvws__buf_t *out) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      int hi, lo;
      if (i + 2 >= n)
        return -1; /* needs two hex digits */
      hi = uvws__hex_value(s[i + 1]);
      lo = uvws__hex_value(s[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return -1;
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (uvws__buf_append(al, out, &c, 1) != 0)
      return UVWS__ENOMEM;
  }
  return 0;
}

int uvws__proxy_parse(const uvws_allocator_t *al, const char *url,
                      uvws__proxy_t *out) {
  const char *s = url, *at, *end, *host, *hend, *colon = NULL;
  uvws__buf_t cred = {0};
  long port = 80;
  int r = UVWS_EBADPROXY;

  memset(out, 0, sizeof(*out));
  if (url == NULL)
    return UVWS_EBADPROXY;
  if (strncmp(s, "http://", 7) == 0 || strncmp(s, "HTTP://", 7) == 0)
    s += 7;
  else if (strstr(s, "://") != NULL)
    return UVWS_EBADPROXY; /* only plain HTTP proxies */
  end = s + strcspn(s, "/?#");
  if (end[0] != '\0' && !(end[0] == '/' && end[1] == '\0'))
    return UVWS_EBADPROXY;
  for (const char *q = s; q < end; q++)
    if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
      return UVWS_EBADPROXY;

  at = memchr(s, '@', (size_t)(end - s));
  host = at ? at + 1 : s;
  if (at) {
    const char *sep = memchr(s, ':', (size_t)(at - s));
    size_t ulen = sep ? (size_t)(sep - s) : (size_t)(at - s);
    if (pct_decode(al, s, ulen, &cred) != 0 ||
        uvws__buf_append(al, &cred, ":", 1) != 0 ||
        (sep && pct_decode(al, sep + 1, (size_t)(at - sep - 1), &cred) != 0))
      goto fail;
  }
  if (*host == '[') {
    hend = memchr(host, ']', (size_t)(end - host));
    if (hend == NULL || hend == host + 1)
      goto fail;
    if (hend + 1 < end) {
      if (hend[1] != ':')
        goto fail;
      colon = hend + 1;
    }
    out->host = uvws__strndup(al, host + 1, (size_t)(hend - host - 1));
  } else {
    colon = memchr(host, ':', (size_t)(end - host));
    hend = colon ? colon : end;
    if (hend == host)
      goto fail;
    out->host = uvws__strndup(al, host, (size_t)(hend - host));
  }
  if (out->host == NULL) {
    r = UVWS__ENOMEM;
    goto fail;
  }
  if (colon) {
    char *e;
    if (colon + 1 == end)
      goto fail;
    port = strtol(colon + 1, &e, 10);
    if (e != end || port < 1 || port > 65535)
      goto fail;
  }
  out->port = (int)port;
  if (at) {
    size_t olen;
    static const char basic[] = "Basic ";
    size_t cap = sizeof(basic) + 4 * (cred.len / 3 + 1) + 1;
    out->auth = uvws__malloc(al, cap);
    if (out->auth == NULL) {
      r = UVWS__ENOMEM;
      goto fail;
    }
    memcpy(out->auth, basic, sizeof(basic) - 1);
    if (mbedtls_base64_encode((unsigned char *)out->auth + sizeof(basic) - 1,
                              cap - sizeof(basic) + 1, &olen,
                              (const unsigned char *)cred.base, cred.len) !=
        0)
      goto fail;
  }
  uvws__buf_free(al, &cred);
  return 0;

fail:
  uvws__buf_free(al, &cred);
  uvws__proxy_free(al, out);
  return r;
}

void uvws__proxy_free(const uvws_allocator_t *al, uvws__proxy_t *p) {
  uvws__free(al, p->host);
  if (p->auth) /* credentials do not linger in freed memory */
    memset(p->auth, 0, strlen(p->auth));
  uvws__free(al, p->auth);
  p->host = p->auth = NULL;
}

int uvws__no_proxy_match(const char *list, const char *host) {
  size_t hlen = strlen(host);
  const char *p = list;

  if (hlen > 0 && host[hlen - 1] == '.')
    hlen--; /* a fully qualified name's root dot */
  while (p && *p) {
    const char *e = p + strcspn(p, ",");
    const char *a = p, *b = e;
    while (a < b && (*a == ' ' || *a == '\t'))
      a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
      b--;
    if (b - a == 1 && *a == '*')
      return 1;
    if (a < b && *a == '[' && b[-1] == ']') {
      a++;
      b--;
    }
    if (a < b && *a == '.')
      a++; /* ".example.com" and "example.com" both cover subdomains */
    if (b > a && b[-1] == '.')
      b--; /* a root dot, as in the host */
    if (b > a) {
      size_t n = (size_t)(b - a);
      if (n == hlen && uvws__ascii_ieq_n(a, host, n))
        return 1;
      if (hlen > n && host[hlen - n - 1] == '.' &&
          uvws__ascii_ieq_n(a, host + hlen - n, n))
        return 1;
    }
    p = *e ? e + 1 : e;
  }
  return 0;
}

const char *uvws__proxy_from_env(const char *host, int secure) {
  const char *v, *no;

  no = getenv("no_proxy");
  if (no == NULL || *no == '\0')
    no = getenv("NO_PROXY");
  if (no && uvws__no_proxy_match(no, host))
    return NULL;
  if (secure) {
    v = getenv("https_proxy");
    if (v == NULL || *v == '\0')
      v = getenv("HTTPS_PROXY");
  } else {
    /* Upper-case HTTP_PROXY is ignored, as curl does: in CGI programs it
     * can be set by a request's "Proxy:" header. */
    v = getenv("http_proxy");
  }
  if (v == NULL || *v == '\0')
    v = getenv("all_proxy");
  if (v == NULL || *v == '\0')
    v = getenv("ALL_PROXY");
  return v && *v ? v : NULL;
}

int uvws__proxy_connect_request(const uvws_allocator_t *al, uvws__buf_t *out,
                                const char *authority, const uvws__proxy_t *p) {
  size_t saved = out->len;
  if (uvws__buf_append_str(al, out, "CONNECT ") != 0 ||
      uvws__buf_append_str(al, out, authority) != 0 ||
      uvws__buf_append_str(al, out, " HTTP/1.1\r\nHost: ") != 0 ||
      uvws__buf_append_str(al, out, authority) != 0 ||
      uvws__buf_append_str(al, out, "\r\n") != 0 ||
      (p->auth &&
       (uvws__buf_append_str(al, out, "Proxy-Authorization: ") != 0 ||
        uvws__buf_append_str(al, out, p->auth) != 0 ||
        uvws__buf_append_str(al, out, "\r\n") != 0)) ||
      uvws__buf_append_str(al, out, "\r\n") != 0) {
    out->len = saved;
    return UVWS__ENOMEM;
  }
  return 0;
}

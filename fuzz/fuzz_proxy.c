/* libFuzzer target for HTTP proxies (src/proxy.c) and the proxy's answer
 * to CONNECT, which the client reads with uvws__http_parse_response().
 *
 * The input is four parts separated by NUL bytes: a proxy URL, a no_proxy
 * list, an origin host, and the proxy's answer (the rest of the input, NUL
 * bytes included). Checked:
 *  - uvws__proxy_parse: a refused URL leaves nothing allocated; an
 *    accepted one has a host, a port in 1-65535, and credentials exactly
 *    when the URL has userinfo, as "Basic " and base64 that decodes to
 *    "user:password";
 *  - the CONNECT request built for the origin (as the client builds it)
 *    parses back as one request head whose target and Host are the
 *    authority and whose Proxy-Authorization is the credentials: neither
 *    the URL nor the credentials can add a header or a line;
 *  - uvws__no_proxy_match: "*" matches every host; matching ignores case
 *    in the list and the host; a host's root dot does not matter; a list
 *    that names the host matches it;
 *  - the answer: the client's decision (tunnel open, refused with a
 *    status, malformed, too big, or more to read) is made the same way
 *    when the answer arrives whole or in pieces, and is never "open" for an
 *    answer other than 2xx or with bytes after its head. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "handshake.h"
#include "proxy.h"
#include "url.h"
#include "uvws_errno.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The client's limit on the proxy's answer (max_header_size), small here
 * so that the fuzzer reaches it. */
#define MAX_HEAD 1024

static char *dup_n(const void *p, size_t n) {
  char *s = malloc(n + 1);
  FUZZ_CHECK(s != NULL);
  if (n)
    memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static const uvws__header_t *find(const uvws__http_head_t *h,
                                  const char *name) {
  return uvws__http_find(h, name);
}

static int value_is(const uvws__header_t *h, const char *s) {
  return h != NULL && h->value_len == strlen(s) &&
         memcmp(h->value, s, h->value_len) == 0;
}

/* ---- the proxy URL and the CONNECT request ------------------------------ */

static void fuzz_url(const char *url, const char *origin) {
  uvws__proxy_t p;
  uvws__url_t u;
  int r = uvws__proxy_parse(&uvws__libc_allocator, url, &p);
  const char *at;

  FUZZ_CHECK(r == 0 || r == UVWS_EBADPROXY);
  if (r != 0) {
    FUZZ_CHECK(p.host == NULL && p.auth == NULL);
    return;
  }
  FUZZ_CHECK(p.host != NULL && p.host[0] != '\0');
  FUZZ_CHECK(p.port >= 1 && p.port <= 65535);
  at = strchr(url, '@');
  FUZZ_CHECK((at != NULL) == (p.auth != NULL));
  if (p.auth) {
    unsigned char plain[2048];
    size_t olen;
    FUZZ_CHECK(strncmp(p.auth, "Basic ", 6) == 0);
    if (strlen(url) < sizeof(plain)) {
      FUZZ_CHECK(mbedtls_base64_decode(plain, sizeof(plain), &olen,
                                       (const unsigned char *)p.auth + 6,
                                       strlen(p.auth + 6)) == 0);
      FUZZ_CHECK(memchr(plain, ':', olen) != NULL);
    }
  }

  /* The CONNECT request for an origin parsed from a ws:// URL, with its
   * authority made as the client makes it. */
  {
    char *wsurl = malloc(strlen(origin) + 8);
    FUZZ_CHECK(wsurl != NULL);
    memcpy(wsurl, "ws://", 5);
    memcpy(wsurl + 5, origin, strlen(origin) + 1);
    r = uvws__url_parse(&uvws__libc_allocator, wsurl, &u);
    free(wsurl);
  }
  if (r == 0) {
    size_t cap = strlen(u.host) + 16;
    char *authority = malloc(cap);
    uvws__buf_t out = {0};
    uvws__http_head_t head;
    long n;

    FUZZ_CHECK(authority != NULL);
    snprintf(authority, cap, strchr(u.host, ':') ? "[%s]:%d" : "%s:%d",
             u.host, u.port);
    FUZZ_CHECK(uvws__proxy_connect_request(&uvws__libc_allocator, &out,
                                           authority, &p) == 0);
    n = uvws__http_parse_request(out.base, out.len, &head);
    FUZZ_CHECK(n == (long)out.len);
    FUZZ_CHECK(head.method_len == 7 && memcmp(head.method, "CONNECT", 7) == 0);
    FUZZ_CHECK(head.target_len == strlen(authority) &&
               memcmp(head.target, authority, head.target_len) == 0);
    FUZZ_CHECK(head.num_headers == (p.auth ? 2u : 1u));
    FUZZ_CHECK(value_is(find(&head, "Host"), authority));
    if (p.auth)
      FUZZ_CHECK(value_is(find(&head, "Proxy-Authorization"), p.auth));
    uvws__buf_free(&uvws__libc_allocator, &out);
    free(authority);
    uvws__url_free(&uvws__libc_allocator, &u);
  }
  uvws__proxy_free(&uvws__libc_allocator, &p);
  FUZZ_CHECK(p.host == NULL && p.auth == NULL);
}

/* ---- no_proxy ----------------------------------------------------------- */

static char *upper(const char *s) {
  char *u = dup_n(s, strlen(s));
  for (char *q = u; *q; q++)
    *q = (char)toupper((unsigned char)*q);
  return u;
}

static void fuzz_no_proxy(const char *list, const char *host) {
  int m = uvws__no_proxy_match(list, host);
  size_t hl = strlen(host);
  char *ul = upper(list), *uh = upper(host);

  FUZZ_CHECK(m == 0 || m == 1);
  FUZZ_CHECK(uvws__no_proxy_match("*", host) == 1);
  FUZZ_CHECK(uvws__no_proxy_match(ul, host) == m);
  FUZZ_CHECK(uvws__no_proxy_match(list, uh) == m);
  if (hl > 0 && host[hl - 1] != '.') {
    char *dotted = malloc(hl + 2);
    FUZZ_CHECK(dotted != NULL);
    memcpy(dotted, host, hl);
    memcpy(dotted + hl, ".", 2);
    FUZZ_CHECK(uvws__no_proxy_match(list, dotted) == m);
    free(dotted);
  }
  /* A list naming the host: hosts as a URL gives them (no brackets, no
   * separators or blanks, no leading or root dot). */
  if (hl > 0 && strpbrk(host, ", \t[]") == NULL && host[0] != '.' &&
      host[hl - 1] != '.') {
    size_t ll = strlen(list);
    char *l2 = malloc(ll + hl + 2);
    FUZZ_CHECK(l2 != NULL);
    memcpy(l2, list, ll);
    l2[ll] = ',';
    memcpy(l2 + ll + 1, host, hl + 1);
    FUZZ_CHECK(uvws__no_proxy_match(l2, host) == 1);
    free(l2);
  }
  free(ul);
  free(uh);
}

/* ---- the answer to CONNECT ---------------------------------------------- */

enum { MORE, OPEN, REFUSED, BAD };

typedef struct {
  int what;
  long n;     /* OPEN: the head's length */
  int status; /* OPEN, REFUSED: the status */
  long err;   /* BAD: the error */
} decision_t;

/* The client's proxy_read(): buf[0..len) is all that has arrived. */
static decision_t decide(const char *buf, size_t len) {
  uvws__http_head_t head;
  decision_t d = {MORE, 0, 0, 0};
  long n = uvws__http_parse_response(buf, len, &head);

  FUZZ_CHECK(n <= (long)len);
  if (n == 0 && len <= MAX_HEAD)
    return d;
  if (n == 0 || (n > 0 && (size_t)n > MAX_HEAD))
    n = UVWS_EHDRTOOBIG;
  if (n < 0) {
    FUZZ_CHECK(n == UVWS_EHANDSHAKE || n == UVWS_EHDRTOOBIG);
    d.what = BAD;
    d.err = n;
    return d;
  }
  d.status = head.status;
  if (head.status < 200 || head.status > 299) {
    d.what = REFUSED;
    return d;
  }
  /* Bytes after the head cannot be the origin's: it was not spoken to. */
  if ((size_t)n != len) {
    d.what = BAD;
    d.err = UVWS_EPROXY;
    return d;
  }
  d.what = OPEN;
  d.n = n;
  return d;
}

/* The answer arriving in pieces of step bytes, each read appended to what
 * came before, until a decision other than MORE. *used: bytes read. */
static decision_t decide_pieces(const char *ans, size_t len, size_t step,
                                size_t *used) {
  decision_t d = {MORE, 0, 0, 0};
  size_t have = 0;
  while (have < len) {
    char *buf;
    have += len - have < step ? len - have : step;
    buf = dup_n(ans, have); /* exact size: overreads show */
    d = decide(buf, have);
    free(buf);
    if (d.what != MORE)
      break;
  }
  *used = have;
  return d;
}

static void fuzz_answer(const char *ans, size_t len, size_t step) {
  size_t used;
  char *buf = dup_n(ans, len);
  decision_t whole = decide(buf, len);
  decision_t cut = decide_pieces(ans, len, step, &used);
  free(buf);

  if (whole.what == OPEN) {
    FUZZ_CHECK(whole.status >= 200 && whole.status <= 299);
    FUZZ_CHECK((size_t)whole.n == len);
    FUZZ_CHECK(cut.what == OPEN && cut.n == whole.n);
  }
  if (cut.what == OPEN) {
    /* Opened at the end of the head: whatever came after it in the same
     * read would have made the whole answer BAD. */
    FUZZ_CHECK((size_t)cut.n == used);
    FUZZ_CHECK(whole.what == OPEN ||
               (whole.what == BAD && whole.err == UVWS_EPROXY));
  }
  if (cut.what == REFUSED)
    FUZZ_CHECK(whole.what == REFUSED && whole.status == cut.status);
  /* A malformed head is malformed however it arrives. Past MAX_HEAD
   * bytes without a head, the pieces stop at "too big" while the whole
   * answer may show a malformed byte further on: both refuse. */
  if (cut.what == BAD && cut.err == UVWS_EHANDSHAKE)
    FUZZ_CHECK(whole.what == BAD && whole.err == UVWS_EHANDSHAKE);
  if (cut.what == BAD && cut.err == UVWS_EHDRTOOBIG)
    FUZZ_CHECK(whole.what == BAD && whole.err != UVWS_EPROXY);
  if (whole.what == MORE)
    FUZZ_CHECK(cut.what == MORE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *part[4] = {"", "", "", ""};
  size_t plen[4] = {0, 0, 0, 0}, pos = 0;
  char *url, *list, *host;
  size_t step;
  int i;

  if (size < 1)
    return 0;
  step = (size_t)data[0] % 32 + 1;
  data++;
  size--;
  for (i = 0; i < 3 && pos <= size; i++) {
    const uint8_t *z = memchr(data + pos, 0, size - pos);
    size_t end = z ? (size_t)(z - data) : size;
    part[i] = (const char *)data + pos;
    plen[i] = end - pos;
    pos = end + 1;
  }
  if (pos <= size) {
    part[3] = (const char *)data + pos;
    plen[3] = size - pos;
  }

  url = dup_n(part[0], plen[0]);
  list = dup_n(part[1], plen[1]);
  host = dup_n(part[2], plen[2]);
  fuzz_url(url, host);
  fuzz_no_proxy(list, host);
  fuzz_answer(part[3], plen[3], step);
  free(url);
  free(list);
  free(host);
  return 0;
}

/* libFuzzer target for the opening handshake (src/handshake.c).
 *
 * The input is parsed both as a request (server side: check_request,
 * offered_protocols) and as a response (client side: check_response).
 * Beyond "no crash", it checks properties the connection code relies on:
 *  - parsing any prefix of the input never returns more than the prefix;
 *  - a parser keeps no state, so a prefix shorter than a valid head gives
 *    0, a longer one gives the same head, and an invalid input gives 0 or
 *    its error for every prefix, the error staying once found;
 *  - every pointer in a parsed head lies in the buffer;
 *  - what the builders make from a valid request parses and validates. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "uvws_errno.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key of RFC 6455 1.3, so that its sample response validates. */
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

typedef long (*parse_fn)(const char *buf, size_t len, uvws__http_head_t *head);

static int in_buf(const char *p, size_t n, const char *buf, size_t len) {
  uintptr_t a = (uintptr_t)p, b = (uintptr_t)buf;
  return p != NULL && a >= b && n <= len && a - b <= len - n;
}

static void check_head(const uvws__http_head_t *h, int response,
                       const char *buf, size_t len) {
  size_t i;
  FUZZ_CHECK(h->num_headers <= UVWS__MAX_HEADERS);
  FUZZ_CHECK(h->minor_version >= 0 && h->minor_version <= 9);
  if (response) {
    FUZZ_CHECK(h->status >= 0 && h->status <= 999);
    FUZZ_CHECK(in_buf(h->reason, h->reason_len, buf, len));
  } else {
    FUZZ_CHECK(in_buf(h->method, h->method_len, buf, len));
    FUZZ_CHECK(uvws__is_token(h->method, h->method_len));
    FUZZ_CHECK(in_buf(h->target, h->target_len, buf, len));
    FUZZ_CHECK(h->target_len > 0);
  }
  for (i = 0; i < h->num_headers; i++) {
    const uvws__header_t *x = &h->headers[i];
    FUZZ_CHECK(in_buf(x->name, x->name_len, buf, len));
    FUZZ_CHECK(uvws__is_token(x->name, x->name_len));
    FUZZ_CHECK(in_buf(x->value, x->value_len, buf, len));
    FUZZ_CHECK(memchr(x->value, '\r', x->value_len) == NULL);
    FUZZ_CHECK(memchr(x->value, '\n', x->value_len) == NULL);
    FUZZ_CHECK(memchr(x->value, '\0', x->value_len) == NULL);
  }
}

/* Every prefix of data, each placed at the end of an allocation of size
 * bytes so that AddressSanitizer catches a read past the prefix. */
static void check_prefixes(parse_fn parse, const uint8_t *data, size_t size,
                           long full) {
  uvws__http_head_t head;
  char *buf = malloc(size ? size : 1);
  size_t k;
  int failed = 0;

  FUZZ_CHECK(buf != NULL);
  for (k = 0; k < size; k++) {
    char *p = buf + (size - k);
    long r;
    memcpy(p, data, k);
    r = parse(p, k, &head);
    FUZZ_CHECK(r <= (long)k);
    if (full > 0)
      FUZZ_CHECK(r == ((long)k < full ? 0 : full));
    else if (full == 0)
      FUZZ_CHECK(r == 0);
    else {
      FUZZ_CHECK(r == 0 || r == full);
      if (failed)
        FUZZ_CHECK(r == full);
      failed = r != 0;
    }
  }
  free(buf);
}

static char *dup_n(const char *p, size_t n) {
  char *s = malloc(n + 1);
  FUZZ_CHECK(s != NULL);
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* The list from uvws__hs_offered_protocols as a NULL-terminated array. */
static const char **protocol_array(const uvws__buf_t *list, size_t count) {
  const char **a = malloc((count + 1) * sizeof(*a));
  size_t i, off = 0;
  FUZZ_CHECK(a != NULL);
  for (i = 0; i < count; i++) {
    size_t l;
    FUZZ_CHECK(off < list->len);
    a[i] = list->base + off;
    l = strlen(a[i]);
    FUZZ_CHECK(uvws__is_token(a[i], l));
    off += l + 1;
  }
  FUZZ_CHECK(off == list->len);
  a[count] = NULL;
  return a;
}

/* A server answering a valid request, and a client checking the answer;
 * then the client's own request for the same parameters. */
static void round_trip(const uvws__http_head_t *head,
                       const uvws__hs_request_t *req) {
  uvws__buf_t list = {NULL, 0, 0}, out = {NULL, 0, 0}, list2 = {NULL, 0, 0};
  uvws__http_head_t h2;
  uvws__hs_request_t req2;
  const char **protocols, *selected;
  char accept[29], *key, *host, *origin, *target;
  size_t count, count2, selected_len;
  long n;

  FUZZ_CHECK(uvws__hs_offered_protocols(&uvws__libc_allocator, head, &list,
                                        &count) == 0);
  protocols = protocol_array(&list, count);
  key = dup_n(req->key, req->key_len);
  host = dup_n(req->host, req->host_len);
  target = dup_n(head->target, head->target_len);
  origin = req->origin != NULL ? dup_n(req->origin, req->origin_len) : NULL;

  uvws__hs_accept(key, strlen(key), accept);
  FUZZ_CHECK(strlen(accept) == 28);
  FUZZ_CHECK(uvws__hs_build_101(&uvws__libc_allocator, &out, accept,
                                protocols[0], NULL) == 0);
  n = uvws__http_parse_response(out.base, out.len, &h2);
  FUZZ_CHECK(n == (long)out.len);
  FUZZ_CHECK(uvws__hs_check_response(&h2, key, protocols, 0, &selected,
                                     &selected_len) == 0);
  if (protocols[0] == NULL)
    FUZZ_CHECK(selected == NULL);
  else
    FUZZ_CHECK(selected_len == strlen(protocols[0]) &&
               memcmp(selected, protocols[0], selected_len) == 0);

  out.len = 0;
  FUZZ_CHECK(uvws__hs_build_request(&uvws__libc_allocator, &out, target, host,
                                    key, origin, protocols, NULL) == 0);
  n = uvws__http_parse_request(out.base, out.len, &h2);
  FUZZ_CHECK(n == (long)out.len);
  FUZZ_CHECK(uvws__hs_check_request(&h2, &req2) == 0);
  FUZZ_CHECK(req2.key_len == req->key_len &&
             memcmp(req2.key, req->key, req->key_len) == 0);
  FUZZ_CHECK(req2.host_len == req->host_len &&
             memcmp(req2.host, req->host, req->host_len) == 0);
  FUZZ_CHECK((req2.origin == NULL) == (origin == NULL));
  FUZZ_CHECK(uvws__hs_offered_protocols(&uvws__libc_allocator, &h2, &list2,
                                        &count2) == 0);
  FUZZ_CHECK(count2 == count && list2.len == list.len &&
             (list.len == 0 || memcmp(list.base, list2.base, list.len) == 0));

  free(protocols);
  free(key);
  free(host);
  free(target);
  free(origin);
  uvws__buf_free(&uvws__libc_allocator, &list);
  uvws__buf_free(&uvws__libc_allocator, &list2);
  uvws__buf_free(&uvws__libc_allocator, &out);
}

static void fuzz_request(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  uvws__http_head_t head;
  uvws__hs_request_t req;
  uvws__buf_t list = {NULL, 0, 0}, answer = {NULL, 0, 0};
  size_t count;
  long n;
  int status, r;

  n = uvws__http_parse_request(buf, size, &head);
  FUZZ_CHECK(n <= (long)size);
  FUZZ_CHECK(n >= 0 || n == UVWS_EHANDSHAKE || n == UVWS_EHDRTOOBIG);
  check_prefixes(uvws__http_parse_request, data, size, n);
  if (n <= 0)
    return;
  check_head(&head, 0, buf, (size_t)n);

  r = uvws__hs_offered_protocols(&uvws__libc_allocator, &head, &list, &count);
  FUZZ_CHECK(r == 0 || r == UVWS_EHANDSHAKE);
  if (r == 0)
    free(protocol_array(&list, count));
  else
    FUZZ_CHECK(list.len == 0 && count == 0);
  uvws__buf_free(&uvws__libc_allocator, &list);

  status = uvws__hs_check_request(&head, &req);
  FUZZ_CHECK(status == 0 || status == 400 || status == 405 || status == 426);
  if (status == 0) {
    FUZZ_CHECK(req.key_len == 24 && in_buf(req.key, 24, buf, (size_t)n));
    FUZZ_CHECK(in_buf(req.host, req.host_len, buf, (size_t)n));
    FUZZ_CHECK(req.origin == NULL ||
               in_buf(req.origin, req.origin_len, buf, (size_t)n));
    if (r == 0)
      round_trip(&head, &req);
  } else {
    /* The refusal parses as an answer with that status. */
    uvws__http_head_t h2;
    FUZZ_CHECK(uvws__hs_build_error(&uvws__libc_allocator, &answer, status,
                                    NULL) == 0);
    n = uvws__http_parse_response(answer.base, answer.len, &h2);
    FUZZ_CHECK(n > 0 && h2.status == status);
    uvws__buf_free(&uvws__libc_allocator, &answer);
  }
}

static void fuzz_response(const uint8_t *data, size_t size) {
  static const char *const offered[] = {"chat", "superchat", NULL};
  const char *buf = (const char *)data, *protocol;
  uvws__http_head_t head;
  size_t protocol_len;
  long n;
  int r;

  n = uvws__http_parse_response(buf, size, &head);
  FUZZ_CHECK(n <= (long)size);
  FUZZ_CHECK(n >= 0 || n == UVWS_EHANDSHAKE || n == UVWS_EHDRTOOBIG);
  check_prefixes(uvws__http_parse_response, data, size, n);
  if (n <= 0)
    return;
  check_head(&head, 1, buf, (size_t)n);

  /* The last byte picks what the client offered, so both sides of every
   * rule are reachable. */
  r = uvws__hs_check_response(&head, KEY, (data[size - 1] & 1) ? offered : NULL,
                              data[size - 1] & 2, &protocol, &protocol_len);
  FUZZ_CHECK(r == 0 || r == UVWS_EBADSTATUS || r == UVWS_EHANDSHAKE ||
             r == UVWS_EBADACCEPT || r == UVWS_ENOTOFFERED);
  if (r == 0) {
    FUZZ_CHECK(head.status == 101);
    if (protocol != NULL) {
      FUZZ_CHECK(in_buf(protocol, protocol_len, buf, (size_t)n));
      FUZZ_CHECK((protocol_len == 4 && memcmp(protocol, "chat", 4) == 0) ||
                 (protocol_len == 9 && memcmp(protocol, "superchat", 9) == 0));
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_request(data, size);
  fuzz_response(data, size);
  (void)uvws__token_list_has((const char *)data, size, "upgrade");
  (void)uvws__is_token((const char *)data, size);
  return 0;
}

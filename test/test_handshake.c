/* The opening handshake (src/handshake.c): HTTP head parsing, request and
 * response validation, building. Table-driven: one line per case.
 *
 * Every parse case is also fed as every prefix of its input, each copied
 * into a buffer of exactly that size so that a read past the end is caught
 * by AddressSanitizer. A valid head must give 0 for every prefix shorter
 * than the head and the same result for every longer one; an invalid input
 * must give 0 or its error for every prefix, and once a prefix gives the
 * error every longer one must too. */
#include "handshake.h"

#include <limits.h>
#include <stdint.h>

#include "test.h"
#include "uvws_errno.h"

/* A string literal and its length, NUL bytes included. */
#define S(lit) lit, sizeof(lit) - 1

typedef long (*parse_fn)(const char *buf, size_t len, uvws__http_head_t *head);

static size_t parse_calls;

/* ------------------------------------------------------------------------ */
/* A one-line summary of a parsed head, for comparison with the tables:
 * "GET /chat 1 {Host: a}{Upgrade: b}" for requests,
 * "1 101 [Switching Protocols] {Upgrade: b}" for responses. */

static void dump_add(uvws__buf_t *b, const char *p, size_t n) {
  CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, b, p, n), 0);
}

static void dump_str(uvws__buf_t *b, const char *s) {
  dump_add(b, s, strlen(s));
}

/* 1 if p[0..n) lies inside buf[0..len). */
static int in_buf(const char *p, size_t n, const char *buf, size_t len) {
  uintptr_t a = (uintptr_t)p, b = (uintptr_t)buf;
  return p != NULL && a >= b && n <= len && a - b <= len - n;
}

static char *dump_head(const uvws__http_head_t *h, int response,
                       const char *buf, size_t len) {
  uvws__buf_t b = {NULL, 0, 0};
  char num[32];
  size_t i;

  if (response) {
    CHECK(h->method == NULL);
    CHECK(in_buf(h->reason, h->reason_len, buf, len));
    snprintf(num, sizeof(num), "%d %d [", h->minor_version, h->status);
    dump_str(&b, num);
    dump_add(&b, h->reason, h->reason_len);
    dump_str(&b, "]");
  } else {
    CHECK(h->reason == NULL);
    CHECK(in_buf(h->method, h->method_len, buf, len));
    CHECK(in_buf(h->target, h->target_len, buf, len));
    dump_add(&b, h->method, h->method_len);
    dump_str(&b, " ");
    dump_add(&b, h->target, h->target_len);
    snprintf(num, sizeof(num), " %d", h->minor_version);
    dump_str(&b, num);
  }
  for (i = 0; i < h->num_headers; i++) {
    const uvws__header_t *x = &h->headers[i];
    CHECK(in_buf(x->name, x->name_len, buf, len));
    CHECK(in_buf(x->value, x->value_len, buf, len));
    dump_str(&b, i == 0 ? " {" : "{");
    dump_add(&b, x->name, x->name_len);
    dump_str(&b, ": ");
    dump_add(&b, x->value, x->value_len);
    dump_str(&b, "}");
  }
  dump_add(&b, "", 1);
  return b.base;
}

/* ------------------------------------------------------------------------ */
/* Parsing, split at every byte */

/* Parses input[0..len) as the parser's only bytes. */
static long parse_exact(parse_fn parse, const char *input, size_t len,
                        uvws__http_head_t *head) {
  char *copy = malloc(len ? len : 1);
  long r;
  CHECK(copy != NULL);
  memcpy(copy, input, len);
  /* Poison the head: nothing from an earlier call may leak through. */
  memset(head, 0x5A, sizeof(*head));
  r = parse(copy, len, head);
  parse_calls++;
  if (r > 0) {
    /* Re-point the head into input, which outlives copy. */
    size_t i;
#define REBASE(p)                                                              \
  do {                                                                         \
    if ((p) != NULL)                                                           \
      (p) = input + ((p)-copy);                                                \
  } while (0)
    REBASE(head->method);
    REBASE(head->target);
    REBASE(head->reason);
    for (i = 0; i < head->num_headers && i < UVWS__MAX_HEADERS; i++) {
      CHECK(
          in_buf(head->headers[i].name, head->headers[i].name_len, copy, len));
      CHECK(in_buf(head->headers[i].value, head->headers[i].value_len, copy,
                   len));
      REBASE(head->headers[i].name);
      REBASE(head->headers[i].value);
    }
#undef REBASE
  }
  free(copy);
  return r;
}

/* Runs one case: input[0..len) must give expected (a head length, 0 or an
 * error), and, when dump is not NULL, a head summarised as dump; then every
 * prefix of input is checked as described at the top. */
static void run_parse(int line, int response, const char *input, size_t len,
                      long expected, const char *dump) {
  parse_fn parse =
      response ? uvws__http_parse_response : uvws__http_parse_request;
  uvws__http_head_t head;
  char *got, *full = NULL;
  long r;
  size_t k;
  int failed = 0;

  r = parse_exact(parse, input, len, &head);
  if (r != expected)
    fprintf(stderr, "test_handshake.c:%d: returned %ld, expected %ld\n", line,
            r, expected);
  CHECK_EQ(r, expected);
  if (r > 0) {
    CHECK(r <= (long)len);
    full = dump_head(&head, response, input, len);
    if (dump != NULL && strcmp(full, dump) != 0)
      fprintf(stderr, "test_handshake.c:%d:\n  got      %s\n  expected %s\n",
              line, full, dump);
    if (dump != NULL)
      CHECK_STR(full, dump);
  }

  for (k = 0; k < len; k++) {
    r = parse_exact(parse, input, k, &head);
    if (expected > 0 && k < (size_t)expected) {
      if (r != 0)
        fprintf(stderr, "test_handshake.c:%d: prefix %zu gave %ld\n", line, k,
                r);
      CHECK_EQ(r, 0);
    } else if (expected > 0) {
      CHECK_EQ(r, expected);
      got = dump_head(&head, response, input, k);
      CHECK_STR(got, full);
      free(got);
    } else if (expected == 0) {
      CHECK_EQ(r, 0);
    } else {
      if (r != 0 && r != expected)
        fprintf(stderr, "test_handshake.c:%d: prefix %zu gave %ld\n", line, k,
                r);
      CHECK(r == 0 || r == expected);
      /* An error, once found, stays. */
      if (failed)
        CHECK_EQ(r, expected);
      failed = r != 0;
    }
  }
  free(full);
}

typedef struct {
  int line;
  int response;
  const char *head; /* the head, or the whole input when ret is not HEAD */
  size_t head_len;
  const char *tail; /* bytes after the head */
  size_t tail_len;
  long ret;
  const char *dump;
} parse_case_t;

#define HEAD LONG_MAX
#define REQ(head, tail, dump)                                                  \
  { __LINE__, 0, S(head), S(tail), HEAD, dump }
#define REQ_ERR(input, err)                                                    \
  { __LINE__, 0, S(input), S(""), err, NULL }
#define REQ_MORE(input)                                                        \
  { __LINE__, 0, S(input), S(""), 0, NULL }
#define RES(head, tail, dump)                                                  \
  { __LINE__, 1, S(head), S(tail), HEAD, dump }
#define RES_ERR(input, err)                                                    \
  { __LINE__, 1, S(input), S(""), err, NULL }
#define RES_MORE(input)                                                        \
  { __LINE__, 1, S(input), S(""), 0, NULL }

#define EH UVWS_EHANDSHAKE

/* RFC 6455 1.3 and 4.1. */
#define RFC_REQUEST                                                            \
  "GET /chat HTTP/1.1\r\n"                                                     \
  "Host: server.example.com\r\n"                                               \
  "Upgrade: websocket\r\n"                                                     \
  "Connection: Upgrade\r\n"                                                    \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                            \
  "Origin: http://example.com\r\n"                                             \
  "Sec-WebSocket-Protocol: chat, superchat\r\n"                                \
  "Sec-WebSocket-Version: 13\r\n"                                              \
  "\r\n"
#define RFC_REQUEST_DUMP                                                       \
  "GET /chat 1 {Host: server.example.com}{Upgrade: websocket}"                 \
  "{Connection: Upgrade}{Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==}"         \
  "{Origin: http://example.com}{Sec-WebSocket-Protocol: chat, superchat}"      \
  "{Sec-WebSocket-Version: 13}"
#define RFC_RESPONSE                                                           \
  "HTTP/1.1 101 Switching Protocols\r\n"                                       \
  "Upgrade: websocket\r\n"                                                     \
  "Connection: Upgrade\r\n"                                                    \
  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"                     \
  "Sec-WebSocket-Protocol: chat\r\n"                                           \
  "\r\n"
#define RFC_RESPONSE_DUMP                                                      \
  "1 101 [Switching Protocols] {Upgrade: websocket}{Connection: Upgrade}"      \
  "{Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=}"                       \
  "{Sec-WebSocket-Protocol: chat}"

static const parse_case_t parse_cases[] = {
    /* Requests. */
    REQ(RFC_REQUEST, "", RFC_REQUEST_DUMP),
    REQ("GET / HTTP/1.1\r\n\r\n", "", "GET / 1"),
    REQ("GET / HTTP/1.0\r\n\r\n", "", "GET / 0"),
    REQ("GET / HTTP/1.9\r\n\r\n", "", "GET / 9"),
    REQ("M-SEARCH * HTTP/1.1\r\n\r\n", "", "M-SEARCH * 1"),
    REQ("get /x HTTP/1.1\r\n\r\n", "", "get /x 1"),
    REQ("!#$%&'*+-.^_`|~09AZaz / HTTP/1.1\r\n\r\n", "",
        "!#$%&'*+-.^_`|~09AZaz / 1"),
    REQ("GET /a?b=c&d=%20!\"#$'()*+,;=:@[]{}|\\^`~<> HTTP/1.1\r\n\r\n", "",
        "GET /a?b=c&d=%20!\"#$'()*+,;=:@[]{}|\\^`~<> 1"),
    REQ("GET http://h:1/p?q HTTP/1.1\r\n\r\n", "", "GET http://h:1/p?q 1"),
    /* Bare LF line endings (RFC 7230 3.5), alone or mixed with CRLF. */
    REQ("GET / HTTP/1.1\nHost: a\nUpgrade: websocket\n\n", "",
        "GET / 1 {Host: a}{Upgrade: websocket}"),
    REQ("GET / HTTP/1.1\r\nHost: a\n\r\n", "", "GET / 1 {Host: a}"),
    REQ("GET / HTTP/1.1\nHost: a\r\n\n", "", "GET / 1 {Host: a}"),
    REQ("GET / HTTP/1.1\n\n", "", "GET / 1"),
    /* Bytes after the head belong to the next layer. */
    REQ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "\x81\x85\x37\xfa\x21\x3d",
        "GET / 1 {Host: a}"),
    REQ("GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", "GET / 1"),
    REQ("GET / HTTP/1.1\n\n", "\n", "GET / 1"),
    REQ("GET / HTTP/1.1\r\n\r\n", "\r\n", "GET / 1"),
    REQ("GET / HTTP/1.1\r\n\r\n", "\0\xff garbage \r\n", "GET / 1"),
    /* Values: surrounding whitespace trimmed, inner kept, obs-text kept. */
    REQ("GET / HTTP/1.1\r\nX:   a \t b \t \r\n\r\n", "", "GET / 1 {X: a \t b}"),
    REQ("GET / HTTP/1.1\r\nX:a\r\n\r\n", "", "GET / 1 {X: a}"),
    REQ("GET / HTTP/1.1\r\nX:\r\nY: \t \r\n\r\n", "", "GET / 1 {X: }{Y: }"),
    REQ("GET / HTTP/1.1\r\nX: \xc3\xa9\x80\xff\r\n\r\n", "",
        "GET / 1 {X: \xc3\xa9\x80\xff}"),
    REQ("GET / HTTP/1.1\r\nHost: h:80\r\nX: a: b\r\n\r\n", "",
        "GET / 1 {Host: h:80}{X: a: b}"),
    REQ("GET / HTTP/1.1\r\nX: \"q\" (c) <>\\\r\n\r\n", "",
        "GET / 1 {X: \"q\" (c) <>\\}"),
    REQ("GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09AZaz: v\r\n\r\n", "",
        "GET / 1 {!#$%&'*+-.^_`|~09AZaz: v}"),
    REQ("GET / HTTP/1.1\r\nA: 1\r\nA: 2\r\na: 3\r\n\r\n", "",
        "GET / 1 {A: 1}{A: 2}{a: 3}"),

    /* Request line errors (RFC 7230 3.1.1). */
    REQ_ERR("GET  / HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET /  HTTP/1.1\r\n\r\n", EH),
    REQ_ERR(" GET / HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("\r\nGET / HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("\nGET / HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1 \r\n\r\n", EH),
    REQ_ERR("GET\t/ HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET /\tx HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET /\x7f HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET /\x80 HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET /\0 HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("G\0T / HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("G(T / HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("G\xc3\x89T / HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET /\r\n\r\n", EH),
    REQ_ERR("GET\r\n\r\n", EH),
    REQ_ERR(" / HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET  HTTP/1.1\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/2.0\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/2\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/0.9\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.10\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.x\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.\r\n\r\n", EH),
    REQ_ERR("GET / http/1.1\r\n\r\n", EH),
    REQ_ERR("GET / HTTPS/1.1\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\rX", EH),
    REQ_ERR("GET / HTTP/1.1\r\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r \n\r\n", EH),
    /* Header errors (RFC 7230 3.2). */
    REQ_ERR("GET / HTTP/1.1\r\n: v\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost : a\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHo st: a\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost\n\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nH(st: a\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nH\"st: a\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nH\xc3\xa9: a\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nH\0st: a\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\r\n\rX", EH),
    /* Control characters in values: everything but HTAB. */
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: \0\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\x08\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\x0b\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\x0c\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\x1b[0m\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\x1f\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", EH),
    /* Obsolete line folding (RFC 7230 3.2.4), and whitespace before the
     * first header (RFC 7230 3). */
    REQ_ERR("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\nX: a\n b\n\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\nX: a\r\n \r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\n Host: a\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", EH),
    REQ_ERR("GET / HTTP/1.1\r\n \r\n\r\n", EH),
    /* Responses are not requests. */
    REQ_ERR("HTTP/1.1 101 Switching Protocols\r\n\r\n", EH),
    /* Incomplete. */
    REQ_MORE(""),
    REQ_MORE("GET"),
    REQ_MORE("GET / HTTP/1.1"),
    REQ_MORE("GET / HTTP/1.1\r"),
    REQ_MORE("GET / HTTP/1.1\r\n"),
    REQ_MORE("GET / HTTP/1.1\r\nHost: a\r\n"),
    REQ_MORE("GET / HTTP/1.1\r\nHost: a\r\n\r"),
    REQ_MORE("GET / HTTP/1.1\nHost: a\n"),

    /* Responses. */
    RES(RFC_RESPONSE, "", RFC_RESPONSE_DUMP),
    RES(RFC_RESPONSE, "\x81\x05hello", RFC_RESPONSE_DUMP),
    RES("HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "1 101 [Switching Protocols]"),
    RES("HTTP/1.1 101\r\n\r\n", "", "1 101 []"),
    RES("HTTP/1.1 101 \r\n\r\n", "", "1 101 []"),
    RES("HTTP/1.1 101\n\n", "", "1 101 []"),
    RES("HTTP/1.0 200 OK\nServer: x\n\n", "<html>", "0 200 [OK] {Server: x}"),
    RES("HTTP/1.1 404 Nicht \tGefunden \xc3\xa4 \r\n\r\n", "",
        "1 404 [Nicht \tGefunden \xc3\xa4 ]"),
    RES("HTTP/1.1 000 x\r\n\r\n", "", "1 0 [x]"),
    RES("HTTP/1.1 999 \"(x)\"\r\n\r\n", "", "1 999 [\"(x)\"]"),
    RES("HTTP/1.1 101  two  spaces\r\n\r\n", "", "1 101 [ two  spaces]"),
    RES_ERR("HTTP/1.1 1011 X\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 10 X\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 10\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 101x\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 101\tOK\r\n\r\n", EH),
    RES_ERR("HTTP/1.1  101 OK\r\n\r\n", EH),
    RES_ERR("HTTP/1.1\t101 OK\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 abc OK\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 -01 OK\r\n\r\n", EH),
    RES_ERR("HTTP/1.1\r\n\r\n", EH),
    RES_ERR("HTTP/2 101\r\n\r\n", EH),
    RES_ERR("HTTP/2.0 101 OK\r\n\r\n", EH),
    RES_ERR("http/1.1 101 OK\r\n\r\n", EH),
    RES_ERR(" HTTP/1.1 101 OK\r\n\r\n", EH),
    RES_ERR("\r\nHTTP/1.1 101 OK\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 101 OK\0\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 101 OK\x7f\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 101 OK\rX\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\tx\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 101 OK\r\n Upgrade: websocket\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 101 OK\r\nUpgrade : websocket\r\n\r\n", EH),
    RES_ERR("HTTP/1.1 101 OK\r\nUpgrade: web\x01socket\r\n\r\n", EH),
    RES_ERR("GET / HTTP/1.1\r\n\r\n", EH),
    RES_MORE(""),
    RES_MORE("HTTP/1.1 10"),
    RES_MORE("HTTP/1.1 101"),
    RES_MORE("HTTP/1.1 101 Switching"),
    RES_MORE("HTTP/1.1 101\r\nUpgrade: websocket\r\n"),
};

/* n headers "X-<i>: <i>" after a request or status line. */
static char *many_headers(int response, int n, size_t *len) {
  uvws__buf_t b = {NULL, 0, 0};
  char line[64];
  int i;
  dump_str(&b, response ? "HTTP/1.1 101 Switching Protocols\r\n"
                        : "GET / HTTP/1.1\r\n");
  for (i = 0; i < n; i++) {
    snprintf(line, sizeof(line), "X-%d: %d\r\n", i, i);
    dump_str(&b, line);
  }
  dump_str(&b, "\r\n");
  *len = b.len;
  return b.base;
}

static size_t test_parse(void) {
  size_t i, n = sizeof(parse_cases) / sizeof(parse_cases[0]);
  int response, count;

  for (i = 0; i < n; i++) {
    const parse_case_t *c = &parse_cases[i];
    size_t len = c->head_len + c->tail_len;
    char *input = malloc(len ? len : 1);
    CHECK(input != NULL);
    memcpy(input, c->head, c->head_len);
    memcpy(input + c->head_len, c->tail, c->tail_len);
    run_parse(c->line, c->response, input, len,
              c->ret == HEAD ? (long)c->head_len : c->ret, c->dump);
    free(input);
  }

  /* UVWS__MAX_HEADERS headers fit; one more is UVWS_EHDRTOOBIG. */
  for (response = 0; response <= 1; response++) {
    for (count = UVWS__MAX_HEADERS - 1; count <= UVWS__MAX_HEADERS + 2;
         count++) {
      size_t len;
      char *input = many_headers(response, count, &len);
      long expected = count > UVWS__MAX_HEADERS ? UVWS_EHDRTOOBIG : (long)len;
      uvws__http_head_t head;
      run_parse(__LINE__, response, input, len, expected, NULL);
      if (expected > 0) {
        CHECK_EQ(parse_exact(response ? uvws__http_parse_response
                                      : uvws__http_parse_request,
                             input, len, &head),
                 len);
        CHECK_EQ(head.num_headers, count);
        CHECK_EQ(head.headers[count - 1].name_len, strlen("X-63"));
      }
      free(input);
      n++;
    }
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* Header helpers */

typedef struct {
  int line;
  const char *value;
  long len; /* -1: strlen(value) */
  const char *token;
  int expected;
} token_list_case_t;

#define TL(value, token, expected)                                             \
  { __LINE__, value, -1, token, expected }
#define TLN(value, len, token, expected)                                       \
  { __LINE__, value, len, token, expected }

static const token_list_case_t token_list_cases[] = {
    TL("Upgrade", "upgrade", 1),
    TL("upgrade", "Upgrade", 1),
    TL("UPGRADE", "upgrade", 1),
    TL("keep-alive, Upgrade", "upgrade", 1),
    TL("Upgrade, keep-alive", "upgrade", 1),
    TL("Upgrade,,  keep-alive", "upgrade", 1),
    TL("keep-alive,,  Upgrade", "upgrade", 1),
    TL(",Upgrade,", "upgrade", 1),
    TL(" , ,\tUpgrade\t, , ", "upgrade", 1),
    TL("keep-alive,Upgrade", "upgrade", 1),
    TL("upgrades", "upgrade", 0),
    TL("xupgrade", "upgrade", 0),
    TL("upgrade-insecure", "upgrade", 0),
    TL("upgrades, upgrad", "upgrade", 0),
    TL("up grade", "upgrade", 0),
    TL("upgrade x", "upgrade", 0),
    TL("keep-alive", "upgrade", 0),
    TL("", "upgrade", 0),
    TL(",", "upgrade", 0),
    TL(" , , ", "upgrade", 0),
    TL("websocket", "websocket", 1),
    TL("WebSocket", "websocket", 1),
    TL("h2c, websocket", "websocket", 1),
    TL("websocket/13", "websocket", 0),
    TL("websockets", "websocket", 0),
    TL("\"websocket\"", "websocket", 0),
    /* Only value[0..len) counts. */
    TLN("upgrade", 3, "upgrade", 0),
    TLN("upgradeX", 7, "upgrade", 1),
    TLN("a, upgrade", 4, "upgrade", 0),
    TLN("upgrade", 0, "upgrade", 0),
};

typedef struct {
  int line;
  const char *s;
  size_t len;
  int expected;
} is_token_case_t;

#define TOK(lit, expected)                                                     \
  { __LINE__, S(lit), expected }

static const is_token_case_t is_token_cases[] = {
    TOK("chat", 1),
    TOK("x", 1),
    TOK("!#$%&'*+-.^_`|~09AZaz", 1),
    TOK("v2.chat-example.com", 1),
    TOK("", 0),
    TOK("a b", 0),
    TOK("a\tb", 0),
    TOK("a/b", 0),
    TOK("a:b", 0),
    TOK("a,b", 0),
    TOK("a;b", 0),
    TOK("a=b", 0),
    TOK("(a)", 0),
    TOK("<a>", 0),
    TOK("[a]", 0),
    TOK("{a}", 0),
    TOK("\"a\"", 0),
    TOK("a\\b", 0),
    TOK("a?", 0),
    TOK("a@b", 0),
    TOK("a\x7f", 0),
    TOK("a\x80", 0),
    TOK("\xc3\xa9", 0),
    TOK("a\0b", 0),
    TOK("a\r", 0),
};

static size_t test_helpers(void) {
  size_t i, n = 0;
  uvws__http_head_t head;
  static const char req[] = "GET / HTTP/1.1\r\n"
                            "host: a\r\n"
                            "HOST: b\r\n"
                            "Hostx: c\r\n"
                            "Hos: d\r\n"
                            "Sec-WebSocket-Key: e\r\n"
                            "\r\n";

  for (i = 0; i < sizeof(token_list_cases) / sizeof(token_list_cases[0]);
       i++, n++) {
    const token_list_case_t *c = &token_list_cases[i];
    size_t len = c->len < 0 ? strlen(c->value) : (size_t)c->len;
    int r = uvws__token_list_has(c->value, len, c->token);
    if (r != c->expected)
      fprintf(stderr, "test_handshake.c:%d: \"%s\"\n", c->line, c->value);
    CHECK_EQ(r, c->expected);
  }

  for (i = 0; i < sizeof(is_token_cases) / sizeof(is_token_cases[0]);
       i++, n++) {
    const is_token_case_t *c = &is_token_cases[i];
    int r = uvws__is_token(c->s, c->len);
    if (r != c->expected)
      fprintf(stderr, "test_handshake.c:%d\n", c->line);
    CHECK_EQ(r, c->expected);
  }

  /* uvws__http_find: case-insensitive, whole names, the first one. */
  CHECK_EQ(uvws__http_parse_request(req, sizeof(req) - 1, &head),
           sizeof(req) - 1);
  CHECK(uvws__http_find(&head, "Host") == &head.headers[0]);
  CHECK(uvws__http_find(&head, "hOsT") == &head.headers[0]);
  CHECK(uvws__http_find(&head, "HOSTX") == &head.headers[2]);
  CHECK(uvws__http_find(&head, "hos") == &head.headers[3]);
  CHECK(uvws__http_find(&head, "sec-websocket-key") == &head.headers[4]);
  CHECK(uvws__http_find(&head, "Ho") == NULL);
  CHECK(uvws__http_find(&head, "Hostxy") == NULL);
  CHECK(uvws__http_find(&head, "") == NULL);
  n += 8;
  return n;
}

/* ------------------------------------------------------------------------ */
/* Accept values (RFC 6455 4.2.2 item 5.4) */

typedef struct {
  int line;
  const char *key;
  const char *accept;
} accept_case_t;

static const accept_case_t accept_cases[] = {
    /* RFC 6455 1.3 and 4.2.2. */
    {__LINE__, "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
    {__LINE__, "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="},
    {__LINE__, "AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI="},
};

static size_t test_accept(void) {
  size_t i, n = sizeof(accept_cases) / sizeof(accept_cases[0]);
  char out[29];
  for (i = 0; i < n; i++) {
    memset(out, 'x', sizeof(out));
    uvws__hs_accept(accept_cases[i].key, strlen(accept_cases[i].key), out);
    CHECK_EQ(out[28], '\0');
    CHECK_STR(out, accept_cases[i].accept);
  }
  /* Only key[0..key_len) is hashed. */
  uvws__hs_accept("dGhlIHNhbXBsZSBub25jZQ==trailing", 24, out);
  CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  return n + 1;
}

/* ------------------------------------------------------------------------ */
/* Request validation (RFC 6455 4.2.1) */

#define L_GET "GET /chat HTTP/1.1\r\n"
#define L_HOST "Host: server.example.com\r\n"
#define L_UPG "Upgrade: websocket\r\n"
#define L_CONN "Connection: Upgrade\r\n"
#define L_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define L_VER "Sec-WebSocket-Version: 13\r\n"
#define L_END "\r\n"
/* Every line of a valid request but the request line. */
#define L_REST L_HOST L_UPG L_CONN L_KEY L_VER

typedef struct {
  int line;
  const char *request;
  int expected;
  const char *key, *host, *origin; /* for expected == 0 */
} check_request_case_t;

#define CR_OK(request)                                                         \
  { __LINE__, request, 0, NULL, NULL, NULL }
#define CR_OUT(request, key, host, origin)                                     \
  { __LINE__, request, 0, key, host, origin }
#define CR(request, status)                                                    \
  { __LINE__, request, status, NULL, NULL, NULL }

static const check_request_case_t check_request_cases[] = {
    CR_OUT(RFC_REQUEST, "dGhlIHNhbXBsZSBub25jZQ==", "server.example.com",
           "http://example.com"),
    CR_OUT(L_GET L_REST L_END, "dGhlIHNhbXBsZSBub25jZQ==", "server.example.com",
           NULL),
    CR_OUT("GET / HTTP/1.1\nhost: h:8080\nupgrade: WebSocket\n"
           "connection: keep-alive, Upgrade\n"
           "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\n"
           "sec-websocket-version: 13\norigin: null\n\n",
           "AAAAAAAAAAAAAAAAAAAAAA==", "h:8080", "null"),
    CR_OUT("GET /chat HTTP/1.1\r\n"
           "Sec-WebSocket-Version:   13  \r\n"
           "Sec-WebSocket-Key:\tx3JJHMbDL1EzLkh9GBhXDw==\t\r\n"
           "Connection: Upgrade,,  keep-alive\r\n"
           "Upgrade: WEBSOCKET\r\n"
           "Host: [::1]:9001\r\n" L_END,
           "x3JJHMbDL1EzLkh9GBhXDw==", "[::1]:9001", NULL),
    CR_OK("GET /chat HTTP/1.2\r\n" L_REST L_END),
    CR_OK("GET * HTTP/1.1\r\n" L_REST L_END),

    /* Method: GET, case-sensitive (RFC 7231 4.1); checked first. */
    CR("POST /chat HTTP/1.1\r\n" L_REST L_END, 405),
    CR("get /chat HTTP/1.1\r\n" L_REST L_END, 405),
    CR("HEAD /chat HTTP/1.1\r\n" L_REST L_END, 405),
    CR("GETS /chat HTTP/1.1\r\n" L_REST L_END, 405),
    CR("POST /chat HTTP/1.0\r\n" L_END, 405),
    /* HTTP/1.1 or later. */
    CR("GET /chat HTTP/1.0\r\n" L_REST L_END, 400),
    /* Host exactly once (RFC 7230 5.4). */
    CR(L_GET L_UPG L_CONN L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST L_HOST L_UPG L_CONN L_KEY L_VER L_END, 400),
    CR(L_GET "Host: a\r\nhost: a\r\n" L_UPG L_CONN L_KEY L_VER L_END, 400),
    CR_OK(L_GET "Host:\r\n" L_UPG L_CONN L_KEY L_VER L_END),
    /* Upgrade: a token list holding "websocket". */
    CR(L_GET L_HOST L_CONN L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST "Upgrade:\r\n" L_CONN L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST "Upgrade: websockets\r\n" L_CONN L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST "Upgrade: websocket/13\r\n" L_CONN L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST "Upgrade: h2c\r\n" L_CONN L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST "X-Upgrade: websocket\r\n" L_CONN L_KEY L_VER L_END, 400),
    CR_OK(L_GET L_HOST "Upgrade: WebSocket\r\n" L_CONN L_KEY L_VER L_END),
    CR_OK(L_GET L_HOST "Upgrade: h2c, websocket\r\n" L_CONN L_KEY L_VER L_END),
    CR_OK(L_GET L_HOST
          "Upgrade: h2c\r\nUpgrade: websocket\r\n" L_CONN L_KEY L_VER L_END),
    /* Connection: a token list holding "Upgrade". */
    CR(L_GET L_HOST L_UPG L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST L_UPG "Connection: keep-alive\r\n" L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST L_UPG "Connection: upgrades\r\n" L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST L_UPG "Connection: Upgrade-Insecure\r\n" L_KEY L_VER L_END,
       400),
    CR(L_GET L_HOST L_UPG "Connection:\r\n" L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST L_UPG "Connection: websocket\r\n" L_KEY L_VER L_END, 400),
    CR_OK(L_GET L_HOST L_UPG
          "Connection: keep-alive, Upgrade\r\n" L_KEY L_VER L_END),
    CR_OK(L_GET L_HOST L_UPG
          "Connection: Upgrade,,  keep-alive\r\n" L_KEY L_VER L_END),
    CR_OK(L_GET L_HOST L_UPG "Connection: UPGRADE\r\n" L_KEY L_VER L_END),
    CR_OK(
        L_GET L_HOST L_UPG
        "Connection: keep-alive\r\nConnection: upgrade\r\n" L_KEY L_VER L_END),
    /* Version: exactly "13", else 426 (RFC 6455 4.2.2); checked before the
     * key. A repeated version header is malformed: 400. */
    CR(L_GET L_HOST L_UPG L_CONN L_KEY L_END, 426),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY "Sec-WebSocket-Version: 8\r\n" L_END,
       426),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY "Sec-WebSocket-Version: 12\r\n" L_END,
       426),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY "Sec-WebSocket-Version: 013\r\n" L_END,
       426),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY "Sec-WebSocket-Version: 13, 8\r\n" L_END,
       426),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY "Sec-WebSocket-Version:\r\n" L_END, 426),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY "Sec-WebSocket-Version: 1 3\r\n" L_END,
       426),
    CR(L_GET L_HOST L_UPG L_CONN "Sec-WebSocket-Version: 8\r\n" L_END, 426),
    CR(L_GET L_HOST L_UPG L_CONN "Sec-WebSocket-Key: bad\r\n"
                                 "Sec-WebSocket-Version: 8\r\n" L_END,
       426),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY L_VER L_VER L_END, 400),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY L_VER
       "Sec-WebSocket-Version: 8\r\n" L_END,
       400),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY
       "Sec-WebSocket-Version: 8\r\n" L_VER L_END,
       400),
    CR_OK(L_GET L_HOST L_UPG L_CONN L_KEY
          "sec-websocket-version:  13\r\n" L_END),
    /* Key: exactly 24 characters decoding to exactly 16 bytes, once. */
    CR(L_GET L_HOST L_UPG L_CONN L_VER L_END, 400),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY L_KEY L_VER L_END, 400),
    CR(L_GET L_HOST L_UPG L_CONN L_KEY
       "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" L_VER L_END,
       400),
    CR(L_GET L_HOST L_UPG L_CONN "Sec-WebSocket-Key:\r\n" L_VER L_END, 400),
    /* 15 bytes */
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: YWFhYWFhYWFhYWFhYWFh\r\n" L_VER L_END,
       400),
    /* 17 bytes */
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: YWFhYWFhYWFhYWFhYWFhYWE=\r\n" L_VER L_END,
       400),
    /* 18 bytes */
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: YWFhYWFhYWFhYWFhYWFhYWFh\r\n" L_VER L_END,
       400),
    /* 16 bytes but 25 characters, or 23 */
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===\r\n" L_VER L_END,
       400),
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n" L_VER L_END,
       400),
    /* 24 characters, not base64 */
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==\r\n" L_VER L_END,
       400),
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBu b25jZQ==\r\n" L_VER L_END,
       400),
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j==ZQ\r\n" L_VER L_END,
       400),
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: ========================\r\n" L_VER L_END,
       400),
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\xc3\xa9\r\n" L_VER L_END,
       400),
    CR(L_GET L_HOST L_UPG L_CONN
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ-_\r\n" L_VER L_END,
       400),
};

static size_t test_check_request(void) {
  size_t i, n = sizeof(check_request_cases) / sizeof(check_request_cases[0]);
  for (i = 0; i < n; i++) {
    const check_request_case_t *c = &check_request_cases[i];
    size_t len = strlen(c->request);
    uvws__http_head_t head;
    uvws__hs_request_t out;
    int r;

    CHECK_EQ(uvws__http_parse_request(c->request, len, &head), len);
    memset(&out, 0xA5, sizeof(out));
    r = uvws__hs_check_request(&head, &out);
    if (r != c->expected)
      fprintf(stderr, "test_handshake.c:%d: status %d, expected %d\n", c->line,
              r, c->expected);
    CHECK_EQ(r, c->expected);
    if (r != 0 || c->key == NULL)
      continue;
    CHECK_EQ(out.key_len, strlen(c->key));
    CHECK(memcmp(out.key, c->key, out.key_len) == 0);
    CHECK(in_buf(out.key, out.key_len, c->request, len));
    CHECK_EQ(out.host_len, strlen(c->host));
    CHECK(memcmp(out.host, c->host, out.host_len) == 0);
    CHECK(in_buf(out.host, out.host_len, c->request, len));
    if (c->origin == NULL) {
      CHECK(out.origin == NULL);
      CHECK_EQ(out.origin_len, 0);
    } else {
      CHECK_EQ(out.origin_len, strlen(c->origin));
      CHECK(memcmp(out.origin, c->origin, out.origin_len) == 0);
      CHECK(in_buf(out.origin, out.origin_len, c->request, len));
    }
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* Offered subprotocols */

typedef struct {
  int line;
  const char *headers; /* lines between the request line and the end */
  int expected;
  const char *list; /* the offered protocols, comma-joined */
  size_t count;
} offered_case_t;

#define OFFERED(headers, list, count)                                          \
  { __LINE__, headers, 0, list, count }
#define OFFERED_ERR(headers)                                                   \
  { __LINE__, headers, UVWS_EHANDSHAKE, "", 0 }
#define L_PROTO(v) "Sec-WebSocket-Protocol: " v "\r\n"

static const offered_case_t offered_cases[] = {
    OFFERED("", "", 0),
    OFFERED(L_HOST, "", 0),
    OFFERED(L_PROTO("chat"), "chat", 1),
    OFFERED(L_PROTO("chat, superchat"), "chat,superchat", 2),
    OFFERED(L_PROTO("chat, superchat") L_HOST L_PROTO("v2"),
            "chat,superchat,v2", 3),
    OFFERED("sec-websocket-protocol: a\r\nSEC-WEBSOCKET-PROTOCOL: b\r\n", "a,b",
            2),
    OFFERED(L_PROTO("a,,b"), "a,b", 2),
    OFFERED(L_PROTO(" , a ,\t, b\t,"), "a,b", 2),
    OFFERED(L_PROTO(""), "", 0),
    OFFERED(L_PROTO(",,"), "", 0),
    OFFERED(L_PROTO("chat, chat"), "chat,chat", 2),
    OFFERED(L_PROTO("v10.stomp, mqtt, !#$%&'*+-.^_`|~"),
            "v10.stomp,mqtt,!#$%&'*+-.^_`|~", 3),
    OFFERED("X-Sec-WebSocket-Protocol: x y\r\n", "", 0),
    OFFERED_ERR(L_PROTO("chat x")),
    OFFERED_ERR(L_PROTO("chat/1")),
    OFFERED_ERR(L_PROTO("\"chat\"")),
    OFFERED_ERR(L_PROTO("chat;q=1")),
    OFFERED_ERR(L_PROTO("ch\xc3\xa4t")),
    OFFERED_ERR(L_PROTO("a") L_PROTO("b c")),
};

static size_t test_offered(void) {
  size_t i, j, n = sizeof(offered_cases) / sizeof(offered_cases[0]);
  for (i = 0; i < n; i++) {
    const offered_case_t *c = &offered_cases[i];
    uvws__buf_t req = {NULL, 0, 0}, list = {NULL, 0, 0}, joined = {NULL, 0, 0};
    uvws__http_head_t head;
    size_t count = 99, off;
    int r;

    dump_str(&req, "GET / HTTP/1.1\r\n");
    dump_str(&req, c->headers);
    dump_str(&req, "\r\n");
    CHECK_EQ(uvws__http_parse_request(req.base, req.len, &head), req.len);

    /* The list is appended to: what was there stays. */
    dump_add(&list, "old", 4);
    r = uvws__hs_offered_protocols(&uvws__libc_allocator, &head, &list, &count);
    if (r != c->expected)
      fprintf(stderr, "test_handshake.c:%d: returned %d\n", c->line, r);
    CHECK_EQ(r, c->expected);
    CHECK(memcmp(list.base, "old", 4) == 0);
    if (r != 0) {
      CHECK_EQ(list.len, 4);
      CHECK_EQ(count, 0);
    } else {
      CHECK_EQ(count, c->count);
      for (off = 4, j = 0; j < count; j++) {
        size_t l = strlen(list.base + off);
        CHECK(off + l < list.len);
        if (j > 0)
          dump_str(&joined, ",");
        dump_add(&joined, list.base + off, l);
        off += l + 1;
      }
      CHECK_EQ(off, list.len);
      dump_add(&joined, "", 1);
      CHECK_STR(joined.base, c->list);
    }
    uvws__buf_free(&uvws__libc_allocator, &req);
    uvws__buf_free(&uvws__libc_allocator, &list);
    uvws__buf_free(&uvws__libc_allocator, &joined);
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* Response validation (RFC 6455 4.1, client requirements) */

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define L_101 "HTTP/1.1 101 Switching Protocols\r\n"
#define L_ACCEPT "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
#define L_EXT "Sec-WebSocket-Extensions: permessage-deflate\r\n"

static const char *const no_protocols[] = {NULL};
static const char *const chat_protocols[] = {"chat", "superchat", NULL};

typedef struct {
  int line;
  const char *response;
  const char *const *protocols;
  int extensions_offered;
  int expected;
  const char *protocol; /* selected, for expected == 0 */
} check_response_case_t;

#define RESP(response, protocols, ext, expected, protocol)                     \
  { __LINE__, response, protocols, ext, expected, protocol }

static const check_response_case_t check_response_cases[] = {
    RESP(RFC_RESPONSE, chat_protocols, 0, 0, "chat"),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_END, NULL, 0, 0, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_END, no_protocols, 0, 0, NULL),
    /* The server may decline every offered protocol. */
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_END, chat_protocols, 0, 0, NULL),
    RESP("HTTP/1.1 101\nupgrade: WebSocket\nconnection: keep-alive, upgrade\n"
         "sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  \n"
         "sec-websocket-protocol: superchat\n\n",
         chat_protocols, 0, 0, "superchat"),
    /* Status. */
    RESP("HTTP/1.1 200 OK\r\n" L_UPG L_CONN L_ACCEPT L_END, NULL, 0,
         UVWS_EBADSTATUS, NULL),
    RESP("HTTP/1.1 200 OK\r\n\r\n", NULL, 0, UVWS_EBADSTATUS, NULL),
    RESP("HTTP/1.1 100 Continue\r\n\r\n", NULL, 0, UVWS_EBADSTATUS, NULL),
    RESP("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n",
         NULL, 0, UVWS_EBADSTATUS, NULL),
    RESP("HTTP/1.1 302 Found\r\nLocation: ws://x/\r\n\r\n", NULL, 0,
         UVWS_EBADSTATUS, NULL),
    RESP("HTTP/1.1 102 Processing\r\n" L_UPG L_CONN L_ACCEPT L_END, NULL, 0,
         UVWS_EBADSTATUS, NULL),
    /* Upgrade and Connection. */
    RESP(L_101 L_CONN L_ACCEPT L_END, NULL, 0, UVWS_EHANDSHAKE, NULL),
    RESP(L_101 L_UPG L_ACCEPT L_END, NULL, 0, UVWS_EHANDSHAKE, NULL),
    RESP(L_101 "Upgrade: h2c\r\n" L_CONN L_ACCEPT L_END, NULL, 0,
         UVWS_EHANDSHAKE, NULL),
    RESP(L_101 L_UPG "Connection: keep-alive\r\n" L_ACCEPT L_END, NULL, 0,
         UVWS_EHANDSHAKE, NULL),
    RESP(L_101 L_UPG "Connection: upgrades\r\n" L_ACCEPT L_END, NULL, 0,
         UVWS_EHANDSHAKE, NULL),
    RESP(L_101 L_UPG "Connection: Upgrade,,  keep-alive\r\n" L_ACCEPT L_END,
         NULL, 0, 0, NULL),
    /* Accept. */
    RESP(L_101 L_UPG L_CONN L_END, NULL, 0, UVWS_EBADACCEPT, NULL),
    RESP(L_101 L_UPG L_CONN
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n" L_END,
         NULL, 0, UVWS_EBADACCEPT, NULL),
    RESP(L_101 L_UPG L_CONN
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n" L_END,
         NULL, 0, UVWS_EBADACCEPT, NULL),
    RESP(L_101 L_UPG L_CONN
         "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=\r\n" L_END,
         NULL, 0, UVWS_EBADACCEPT, NULL),
    RESP(L_101 L_UPG L_CONN
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo==\r\n" L_END,
         NULL, 0, UVWS_EBADACCEPT, NULL),
    RESP(L_101 L_UPG L_CONN "Sec-WebSocket-Accept: " KEY "\r\n" L_END, NULL, 0,
         UVWS_EBADACCEPT, NULL),
    RESP(L_101 L_UPG L_CONN "Sec-WebSocket-Accept:\r\n" L_END, NULL, 0,
         UVWS_EBADACCEPT, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_ACCEPT L_END, NULL, 0, UVWS_EBADACCEPT,
         NULL),
    /* Subprotocol: one of those offered, byte for byte. */
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("chat") L_END, NULL, 0,
         UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("chat") L_END, no_protocols, 0,
         UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("mqtt") L_END, chat_protocols, 0,
         UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("Chat") L_END, chat_protocols, 0,
         UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("cha") L_END, chat_protocols, 0,
         UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("chats") L_END, chat_protocols, 0,
         UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("chat, superchat") L_END,
         chat_protocols, 0, UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("chat") L_PROTO("chat") L_END,
         chat_protocols, 0, UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("") L_END, chat_protocols, 0,
         UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("  superchat ") L_END,
         chat_protocols, 0, 0, "superchat"),
    /* Extensions: only if offered. */
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_EXT L_END, NULL, 0, UVWS_ENOTOFFERED,
         NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT "Sec-WebSocket-Extensions:\r\n" L_END,
         NULL, 0, UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_EXT L_END, NULL, 1, 0, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("chat") L_EXT L_END,
         chat_protocols, 0, UVWS_ENOTOFFERED, NULL),
    RESP(L_101 L_UPG L_CONN L_ACCEPT L_PROTO("chat") L_EXT L_END,
         chat_protocols, 1, 0, "chat"),
    /* The order of the checks. */
    RESP("HTTP/1.1 200 OK\r\n" L_PROTO("x") L_EXT L_END, NULL, 0,
         UVWS_EBADSTATUS, NULL),
    RESP(L_101 L_PROTO("x") L_EXT L_END, NULL, 0, UVWS_EHANDSHAKE, NULL),
    RESP(L_101 L_UPG L_CONN L_PROTO("x") L_EXT L_END, NULL, 0, UVWS_EBADACCEPT,
         NULL),
};

static size_t test_check_response(void) {
  size_t i, n = sizeof(check_response_cases) / sizeof(check_response_cases[0]);
  for (i = 0; i < n; i++) {
    const check_response_case_t *c = &check_response_cases[i];
    size_t len = strlen(c->response), protocol_len = 99;
    const char *protocol = "garbage";
    uvws__http_head_t head;
    int r;

    CHECK_EQ(uvws__http_parse_response(c->response, len, &head), len);
    r = uvws__hs_check_response(&head, KEY, c->protocols, c->extensions_offered,
                                &protocol, &protocol_len);
    if (r != c->expected)
      fprintf(stderr, "test_handshake.c:%d: returned %d, expected %d\n",
              c->line, r, c->expected);
    CHECK_EQ(r, c->expected);
    if (r != 0)
      continue;
    if (c->protocol == NULL) {
      CHECK(protocol == NULL);
      CHECK_EQ(protocol_len, 0);
    } else {
      CHECK(in_buf(protocol, protocol_len, c->response, len));
      CHECK_EQ(protocol_len, strlen(c->protocol));
      CHECK(memcmp(protocol, c->protocol, protocol_len) == 0);
    }
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* Building, and parsing what was built */

static char *buf_cstr(uvws__buf_t *b) {
  CHECK_EQ(uvws__buf_reserve(&uvws__libc_allocator, b, 1), 0);
  b->base[b->len] = '\0';
  return b->base;
}

typedef struct {
  int line;
  const char *target, *host_header, *key, *origin;
  const char *const *protocols;
  const char *extra;
  size_t num_offered;
} build_request_case_t;

static const char *const one_protocol[] = {"v2.example", NULL};

static const build_request_case_t build_request_cases[] = {
    {__LINE__, "/chat", "server.example.com", KEY, "http://example.com",
     chat_protocols, NULL, 2},
    {__LINE__, "/", "h", KEY, NULL, NULL, NULL, 0},
    {__LINE__, "/", "h:8080", KEY, NULL, no_protocols, NULL, 0},
    {__LINE__, "/?a=b", "[::1]:9001", "AAAAAAAAAAAAAAAAAAAAAA==", "null",
     one_protocol, "Authorization: Bearer x\r\nX-Trace: 1\r\n", 1},
    {__LINE__, "/a/b?c", "example.com", "x3JJHMbDL1EzLkh9GBhXDw==", NULL, NULL,
     "", 0},
};

static size_t test_build_request(void) {
  size_t i, n = sizeof(build_request_cases) / sizeof(build_request_cases[0]);
  /* RFC 6455 1.3, with the header order uvws uses. */
  static const char rfc[] = "GET /chat HTTP/1.1\r\n"
                            "Host: server.example.com\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            "Sec-WebSocket-Version: 13\r\n"
                            "Origin: http://example.com\r\n"
                            "Sec-WebSocket-Protocol: chat, superchat\r\n"
                            "\r\n";

  for (i = 0; i < n; i++) {
    const build_request_case_t *c = &build_request_cases[i];
    uvws__buf_t out = {NULL, 0, 0}, list = {NULL, 0, 0};
    uvws__http_head_t head;
    uvws__hs_request_t req;
    const uvws__header_t *h;
    size_t count, off, j;
    char *text;

    /* Appends: what the buffer held stays. */
    dump_str(&out, "prefix");
    CHECK_EQ(uvws__hs_build_request(&uvws__libc_allocator, &out, c->target,
                                    c->host_header, c->key, c->origin,
                                    c->protocols, c->extra),
             0);
    text = buf_cstr(&out);
    CHECK(memcmp(text, "prefix", 6) == 0);
    text += 6;
    if (i == 0)
      CHECK_STR(text, rfc);

    CHECK_EQ(uvws__http_parse_request(text, strlen(text), &head), strlen(text));
    CHECK_EQ(uvws__hs_check_request(&head, &req), 0);
    CHECK_EQ(head.target_len, strlen(c->target));
    CHECK(memcmp(head.target, c->target, head.target_len) == 0);
    CHECK_EQ(req.key_len, 24);
    CHECK(memcmp(req.key, c->key, 24) == 0);
    CHECK_EQ(req.host_len, strlen(c->host_header));
    CHECK(memcmp(req.host, c->host_header, req.host_len) == 0);
    if (c->origin == NULL) {
      CHECK(req.origin == NULL);
    } else {
      CHECK_EQ(req.origin_len, strlen(c->origin));
      CHECK(memcmp(req.origin, c->origin, req.origin_len) == 0);
    }
    CHECK_EQ(
        uvws__hs_offered_protocols(&uvws__libc_allocator, &head, &list, &count),
        0);
    CHECK_EQ(count, c->num_offered);
    for (off = 0, j = 0; j < count; j++) {
      CHECK_STR(list.base + off, c->protocols[j]);
      off += strlen(c->protocols[j]) + 1;
    }
    CHECK_EQ(off, list.len);
    if (c->protocols == NULL || c->protocols[0] == NULL)
      CHECK(uvws__http_find(&head, "Sec-WebSocket-Protocol") == NULL);
    if (c->extra != NULL && c->extra[0] != '\0') {
      CHECK((h = uvws__http_find(&head, "Authorization")) != NULL);
      CHECK_EQ(h->value_len, 8);
      CHECK(memcmp(h->value, "Bearer x", 8) == 0);
      CHECK(uvws__http_find(&head, "X-Trace") != NULL);
    }
    /* Fed at every byte, too. */
    run_parse(c->line, 0, text, strlen(text), (long)strlen(text), NULL);
    uvws__buf_free(&uvws__libc_allocator, &out);
    uvws__buf_free(&uvws__libc_allocator, &list);
  }
  return n;
}

typedef struct {
  int line;
  const char *protocol, *extensions;
} build_101_case_t;

static const build_101_case_t build_101_cases[] = {
    {__LINE__, "chat", NULL},
    {__LINE__, NULL, NULL},
    {__LINE__, "superchat", "permessage-deflate; server_no_context_takeover"},
    {__LINE__, NULL, "permessage-deflate"},
};

static size_t test_build_101(void) {
  size_t i, n = sizeof(build_101_cases) / sizeof(build_101_cases[0]);

  for (i = 0; i < n; i++) {
    const build_101_case_t *c = &build_101_cases[i];
    uvws__buf_t out = {NULL, 0, 0};
    uvws__http_head_t head;
    const uvws__header_t *h;
    const char *protocol;
    size_t protocol_len;
    char accept[29], *text;

    uvws__hs_accept(KEY, strlen(KEY), accept);
    dump_str(&out, "prefix");
    CHECK_EQ(uvws__hs_build_101(&uvws__libc_allocator, &out, accept,
                                c->protocol, c->extensions),
             0);
    text = buf_cstr(&out);
    CHECK(memcmp(text, "prefix", 6) == 0);
    text += 6;
    /* RFC 6455 1.3 and 4.2.2. */
    if (i == 0)
      CHECK_STR(text, RFC_RESPONSE);

    CHECK_EQ(uvws__http_parse_response(text, strlen(text), &head),
             strlen(text));
    CHECK_EQ(head.status, 101);
    CHECK_EQ(uvws__hs_check_response(&head, KEY, chat_protocols,
                                     c->extensions != NULL, &protocol,
                                     &protocol_len),
             0);
    if (c->protocol == NULL) {
      CHECK(protocol == NULL);
    } else {
      CHECK_EQ(protocol_len, strlen(c->protocol));
      CHECK(memcmp(protocol, c->protocol, protocol_len) == 0);
    }
    if (c->extensions != NULL) {
      CHECK((h = uvws__http_find(&head, "Sec-WebSocket-Extensions")) != NULL);
      CHECK_EQ(h->value_len, strlen(c->extensions));
      CHECK(memcmp(h->value, c->extensions, h->value_len) == 0);
      CHECK_EQ(uvws__hs_check_response(&head, KEY, chat_protocols, 0, &protocol,
                                       &protocol_len),
               UVWS_ENOTOFFERED);
    }
    /* Another key's accept value is refused. */
    CHECK_EQ(uvws__hs_check_response(&head,
                                     "x3JJHMbDL1EzLkh9GBhXDw==", chat_protocols,
                                     1, &protocol, &protocol_len),
             UVWS_EBADACCEPT);
    run_parse(c->line, 1, text, strlen(text), (long)strlen(text), NULL);
    uvws__buf_free(&uvws__libc_allocator, &out);
  }
  return n;
}

typedef struct {
  int line;
  int status;
  int sent_status; /* what goes on the wire */
  const char *reason;
  const char *extra;
} build_error_case_t;

#define ERRC(status, reason)                                                   \
  { __LINE__, status, status, reason, NULL }

static const build_error_case_t build_error_cases[] = {
    ERRC(400, "Bad Request"),
    ERRC(401, "Unauthorized"),
    ERRC(403, "Forbidden"),
    ERRC(404, "Not Found"),
    ERRC(405, "Method Not Allowed"),
    ERRC(426, "Upgrade Required"),
    ERRC(429, "Too Many Requests"),
    ERRC(431, "Request Header Fields Too Large"),
    ERRC(500, "Internal Server Error"),
    ERRC(503, "Service Unavailable"),
    ERRC(418, "Client Error"),
    ERRC(599, "Server Error"),
    ERRC(302, "Found"),
    ERRC(303, "See Other"),
    ERRC(307, "Temporary Redirect"),
    {__LINE__, 401, 401, "Unauthorized", "WWW-Authenticate: Basic\r\n"},
    {__LINE__, 426, 426, "Upgrade Required", "Retry-After: 1\r\n"},
    /* Not three digits: a server error rather than a broken answer. */
    {__LINE__, 42, 500, "Internal Server Error", NULL},
    {__LINE__, 1000, 500, "Internal Server Error", NULL},
    {__LINE__, -1, 500, "Internal Server Error", NULL},
};

static size_t test_build_error(void) {
  size_t i, n = sizeof(build_error_cases) / sizeof(build_error_cases[0]);
  uvws__buf_t out = {NULL, 0, 0};
  uvws__http_head_t head;
  const uvws__header_t *h;
  long len;
  char body[64], *text;
  /* RFC 6455 4.2.2 item 4. */
  static const char answer_426[] = "HTTP/1.1 426 Upgrade Required\r\n"
                                   "Connection: close\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Content-Length: 21\r\n"
                                   "Sec-WebSocket-Version: 13\r\n"
                                   "\r\n"
                                   "426 Upgrade Required\n";

  for (i = 0; i < n; i++) {
    const build_error_case_t *c = &build_error_cases[i];
    out.len = 0;
    CHECK_EQ(
        uvws__hs_build_error(&uvws__libc_allocator, &out, c->status, c->extra),
        0);
    text = buf_cstr(&out);
    if (c->status == 426 && c->extra == NULL)
      CHECK_STR(text, answer_426);

    len = uvws__http_parse_response(text, out.len, &head);
    CHECK(len > 0);
    CHECK_EQ(head.status, c->sent_status);
    CHECK_EQ(head.minor_version, 1);
    CHECK_EQ(head.reason_len, strlen(c->reason));
    CHECK(memcmp(head.reason, c->reason, head.reason_len) == 0);
    CHECK((h = uvws__http_find(&head, "Connection")) != NULL);
    CHECK(uvws__token_list_has(h->value, h->value_len, "close"));
    /* The body is what Content-Length says, and names the status. */
    CHECK((h = uvws__http_find(&head, "Content-Length")) != NULL);
    CHECK_EQ(strtol(h->value, NULL, 10), out.len - (size_t)len);
    snprintf(body, sizeof(body), "%d %s\n", c->sent_status, c->reason);
    CHECK_STR(text + len, body);
    h = uvws__http_find(&head, "Sec-WebSocket-Version");
    if (c->sent_status == 426) {
      CHECK(h != NULL);
      CHECK_EQ(h->value_len, 2);
      CHECK(memcmp(h->value, "13", 2) == 0);
    } else {
      CHECK(h == NULL);
    }
    if (c->extra != NULL) {
      const char *colon = strchr(c->extra, ':');
      char name[64];
      memcpy(name, c->extra, (size_t)(colon - c->extra));
      name[colon - c->extra] = '\0';
      CHECK(uvws__http_find(&head, name) != NULL);
    }
    /* A client reading it fails with the status. */
    CHECK_EQ(uvws__hs_check_response(&head, KEY, NULL, 0, NULL, NULL),
             UVWS_EBADSTATUS);
    run_parse(c->line, 1, text, out.len, len, NULL);
  }
  uvws__buf_free(&uvws__libc_allocator, &out);
  return n;
}

/* A client and a server talking through the engine only. */
static size_t test_round_trip(void) {
  static const char *const offered[] = {"v1.example", "v2.example", NULL};
  uvws__buf_t request = {NULL, 0, 0}, response = {NULL, 0, 0};
  uvws__buf_t list = {NULL, 0, 0};
  uvws__http_head_t head;
  uvws__hs_request_t req;
  const char *protocol, *selected;
  size_t count, protocol_len;
  char accept[29], key[25];

  /* Client. */
  CHECK_EQ(uvws__hs_build_request(
               &uvws__libc_allocator, &request, "/rt?x=1", "example.com:8080",
               "x3JJHMbDL1EzLkh9GBhXDw==", NULL, offered, NULL),
           0);
  /* Server: the second offered protocol is chosen. */
  CHECK_EQ(uvws__http_parse_request(request.base, request.len, &head),
           request.len);
  CHECK_EQ(uvws__hs_check_request(&head, &req), 0);
  CHECK_EQ(
      uvws__hs_offered_protocols(&uvws__libc_allocator, &head, &list, &count),
      0);
  CHECK_EQ(count, 2);
  selected = list.base + strlen(list.base) + 1;
  CHECK_STR(selected, "v2.example");
  uvws__hs_accept(req.key, req.key_len, accept);
  CHECK_STR(accept, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  CHECK_EQ(uvws__hs_build_101(&uvws__libc_allocator, &response, accept,
                              selected, NULL),
           0);
  /* Client. */
  memcpy(key, "x3JJHMbDL1EzLkh9GBhXDw==", 25);
  CHECK_EQ(uvws__http_parse_response(response.base, response.len, &head),
           response.len);
  CHECK_EQ(
      uvws__hs_check_response(&head, key, offered, 0, &protocol, &protocol_len),
      0);
  CHECK_EQ(protocol_len, 10);
  CHECK(memcmp(protocol, "v2.example", 10) == 0);
  uvws__buf_free(&uvws__libc_allocator, &request);
  uvws__buf_free(&uvws__libc_allocator, &response);
  uvws__buf_free(&uvws__libc_allocator, &list);
  return 1;
}

/* A buffer that cannot grow: every append fails with UV_ENOMEM (-12), and
 * the builders leave it as it was. */
static size_t test_nomem(void) {
  uvws__buf_t full;
  uvws__http_head_t head;
  size_t count = 99;
  static const char req[] = "GET / HTTP/1.1\r\n" L_PROTO("chat") "\r\n";

  full.base = NULL;
  full.len = full.cap = (size_t)-1 - 2;
  CHECK_EQ(uvws__hs_build_request(&uvws__libc_allocator, &full, "/", "h", KEY,
                                  NULL, NULL, NULL),
           -12);
  CHECK_EQ(full.len, (size_t)-1 - 2);
  CHECK_EQ(uvws__hs_build_101(&uvws__libc_allocator, &full, "x", NULL, NULL),
           -12);
  CHECK_EQ(full.len, (size_t)-1 - 2);
  CHECK_EQ(uvws__hs_build_error(&uvws__libc_allocator, &full, 400, NULL), -12);
  CHECK_EQ(full.len, (size_t)-1 - 2);
  CHECK_EQ(uvws__http_parse_request(req, sizeof(req) - 1, &head),
           sizeof(req) - 1);
  CHECK_EQ(
      uvws__hs_offered_protocols(&uvws__libc_allocator, &head, &full, &count),
      -12);
  CHECK_EQ(full.len, (size_t)-1 - 2);
  CHECK_EQ(count, 0);
  return 4;
}

int main(void) {
  size_t n_parse = test_parse();
  size_t n_helpers = test_helpers();
  size_t n_accept = test_accept();
  size_t n_req = test_check_request();
  size_t n_offered = test_offered();
  size_t n_resp = test_check_response();
  size_t n_build = test_build_request() + test_build_101() +
                   test_build_error() + test_round_trip() + test_nomem();

  printf("test_handshake: %zu parse cases (%zu parser calls), %zu helper, "
         "%zu accept, %zu check_request, %zu offered_protocols, "
         "%zu check_response, %zu build cases passed\n",
         n_parse, parse_calls, n_helpers, n_accept, n_req, n_offered, n_resp,
         n_build);
  return 0;
}

/* Helpers shared by the loopback tests (test_loopback.c,
 * test_protocol_loopback.c, test_handshake_loopback.c,
 * test_backpressure.c): a watchdog per test, a guard that catches callbacks
 * made from inside API calls, raw TCP peers that speak HTTP and WebSocket
 * frames written by hand, and deterministic payloads.
 *
 * Everything here is static inline so that a test includes only what it
 * uses without unused-function warnings. */
#ifndef UVWS_LOOPBACK_UTIL_H
#define UVWS_LOOPBACK_UTIL_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "test.h"
#include "uvws.h"

/* ----------------------------------------------------------------------- */
/* The test loop and its watchdog                                          */

typedef struct {
  uv_loop_t loop;
  uv_timer_t watchdog;
  const char *name;
  uint64_t started; /* uv_hrtime() */
} lb_loop_t;

static inline void lb__watchdog_fired(uv_timer_t *t) {
  lb_loop_t *l = t->data;
  fprintf(stderr, "watchdog: test \"%s\" did not finish in time\n", l->name);
  uv_print_all_handles(&l->loop, stderr);
  CHECK(0 && "watchdog fired");
}

/* Initialises the loop and arms an unreferenced watchdog: it fails the test
 * if the loop is still running after ms, and never keeps the loop alive. */
static inline void lb_loop_init(lb_loop_t *l, const char *name, uint64_t ms) {
  CHECK_EQ(uv_loop_init(&l->loop), 0);
  l->name = name;
  l->started = uv_hrtime();
  CHECK_EQ(uv_timer_init(&l->loop, &l->watchdog), 0);
  l->watchdog.data = l;
  CHECK_EQ(uv_timer_start(&l->watchdog, lb__watchdog_fired, ms, 0), 0);
  uv_unref((uv_handle_t *)&l->watchdog);
}

/* Runs the loop until nothing is left, closes the watchdog, and checks that
 * no handle leaked (uv_loop_close() returns 0). */
static inline void lb_loop_run(lb_loop_t *l) {
  int r;
  CHECK_EQ(uv_run(&l->loop, UV_RUN_DEFAULT), 0);
  uv_close((uv_handle_t *)&l->watchdog, NULL);
  CHECK_EQ(uv_run(&l->loop, UV_RUN_DEFAULT), 0);
  r = uv_loop_close(&l->loop);
  if (r != 0)
    uv_print_all_handles(&l->loop, stderr);
  CHECK_EQ(r, 0);
  fprintf(stderr, "  %-40s %6.1f ms\n", l->name,
          (double)(uv_hrtime() - l->started) / 1e6);
}

/* Milliseconds since lb_loop_init(). */
static inline double lb_elapsed_ms(const lb_loop_t *l) {
  return (double)(uv_hrtime() - l->started) / 1e6;
}

/* ----------------------------------------------------------------------- */
/* No callback from inside the API call that caused it                    */

static int lb_in_api __attribute__((unused));

static inline void lb__api_enter(void) {
  lb_in_api++;
}

static inline int lb__api_leave(int r) {
  lb_in_api--;
  return r;
}

/* Wraps an API call that returns int; callbacks check LB_NOT_IN_API(). */
#define API(call) (lb__api_enter(), lb__api_leave((call)))
#define API_VOID(call)                                                         \
  do {                                                                         \
    lb_in_api++;                                                               \
    call;                                                                      \
    lb_in_api--;                                                               \
  } while (0)
#define LB_NOT_IN_API()                                                        \
  do {                                                                         \
    if (lb_in_api != 0) {                                                      \
      fprintf(stderr, "%s:%d: %s called from inside an API call\n", __FILE__,  \
              __LINE__, __func__);                                             \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* CHECK_EQ for error codes, printing their names. */
#define CHECK_ERR(a, b)                                                        \
  do {                                                                         \
    int ea_ = (a), eb_ = (b);                                                  \
    if (ea_ != eb_) {                                                          \
      fprintf(stderr, "%s:%d: CHECK_ERR failed: %s == %s (%s != %s)\n",        \
              __FILE__, __LINE__, #a, #b, ea_ ? uvws_err_name(ea_) : "0",      \
              eb_ ? uvws_err_name(eb_) : "0");                                 \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* ----------------------------------------------------------------------- */
/* Payloads                                                                */

/* Byte off of binary payload seed. */
static inline uint8_t lb_bin_byte(unsigned seed, size_t off) {
  return (uint8_t)(off * 7u + seed * 31u + (off >> 9) + (off >> 17));
}

/* Fills buf with len bytes: for binary, lb_bin_byte(); for text, valid
 * UTF-8 cycling through 1-, 2-, 3- and 4-byte characters, padded with ASCII
 * where the next character would not fit. */
/* GCC 12 at -O2 believes the padding write below can land past the end
 * of the buffer after inlining; every write is guarded by i < len. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
static inline void lb_fill(char *buf, size_t len, int text, unsigned seed) {
  static const char *const chars[] = {"a", "\xC3\xA9", "\xE2\x82\xAC",
                                      "\xF0\x9F\x98\x80"};
  size_t i = 0, k = seed % 4;
  if (len == 0)
    return;
  if (!text) {
    for (i = 0; i < len; i++)
      buf[i] = (char)lb_bin_byte(seed, i);
    return;
  }
  while (i < len) {
    const char *c = chars[k++ % 4];
    size_t n = strlen(c);
    if (n > len - i) {
      buf[i++] = (char)('a' + (seed % 26));
      continue;
    }
    memcpy(buf + i, c, n);
    i += n;
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* 1 if data[0..len) is what lb_fill(.., len, text, seed) gives. */
static inline int lb_payload_ok(const char *data, size_t len, int text,
                                unsigned seed) {
  char *want = malloc(len ? len : 1);
  int ok;
  CHECK(want != NULL);
  lb_fill(want, len, text, seed);
  ok = len == 0 || memcmp(want, data, len) == 0;
  free(want);
  return ok;
}

/* ----------------------------------------------------------------------- */
/* Frames written and read by hand (RFC 6455 5.2)                          */

enum {
  LB_OP_CONT = 0,
  LB_OP_TEXT = 1,
  LB_OP_BINARY = 2,
  LB_OP_CLOSE = 8,
  LB_OP_PING = 9,
  LB_OP_PONG = 10
};

static const uint8_t lb_mask_key[4]
    __attribute__((unused)) = {0x37, 0xfa, 0x21, 0x3d};

/* Writes a frame header announcing len payload bytes into out (14 bytes of
 * room). mask NULL: unmasked. Returns its length. */
static inline size_t lb_frame_header(uint8_t *out, int fin, unsigned opcode,
                                     const uint8_t *mask, uint64_t len) {
  size_t n = 0;
  int i;
  out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
  if (len < 126) {
    out[n++] = (uint8_t)len;
  } else if (len <= 0xffff) {
    out[n++] = 126;
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  } else {
    out[n++] = 127;
    for (i = 7; i >= 0; i--)
      out[n++] = (uint8_t)(len >> (8 * i));
  }
  if (mask) {
    out[1] |= 0x80;
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

/* A whole frame into a new buffer (free() it); *out_len gets its length. */
static inline uint8_t *lb_frame(int fin, unsigned opcode, const uint8_t *mask,
                                const void *payload, size_t len,
                                size_t *out_len) {
  uint8_t *f = malloc(14 + len);
  size_t h, i;
  CHECK(f != NULL);
  h = lb_frame_header(f, fin, opcode, mask, len);
  for (i = 0; i < len; i++)
    f[h + i] =
        (uint8_t)(((const uint8_t *)payload)[i] ^ (mask ? mask[i % 4] : 0));
  *out_len = h + len;
  return f;
}

typedef struct {
  int fin;
  unsigned opcode;
  int masked;
  uint64_t len;
  size_t hlen;
} lb_frame_t;

/* Parses the header at buf[0..n). Returns its length, or 0 if incomplete.
 * RSV bits are checked to be 0. */
static inline size_t lb_frame_parse_header(const uint8_t *buf, size_t n,
                                           lb_frame_t *f) {
  size_t h = 2;
  int i;
  if (n < 2)
    return 0;
  CHECK_EQ(buf[0] & 0x70, 0);
  f->fin = (buf[0] & 0x80) != 0;
  f->opcode = buf[0] & 0x0f;
  f->masked = (buf[1] & 0x80) != 0;
  f->len = buf[1] & 0x7f;
  if (f->len == 126) {
    if (n < 4)
      return 0;
    f->len = ((uint64_t)buf[2] << 8) | buf[3];
    h = 4;
  } else if (f->len == 127) {
    if (n < 10)
      return 0;
    f->len = 0;
    for (i = 0; i < 8; i++)
      f->len = (f->len << 8) | buf[2 + i];
    h = 10;
  }
  if (f->masked)
    h += 4;
  if (n < h)
    return 0;
  f->hlen = h;
  return h;
}

/* ----------------------------------------------------------------------- */
/* HTTP written by hand                                                    */

/* The key and accept value of RFC 6455 section 1.3. */
#define LB_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define LB_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* A valid upgrade request for target, with extra header lines (each ending
 * in CRLF, may be NULL) in a new string (free() it). */
static inline char *lb_request(const char *target, int port,
                               const char *extra) {
  size_t cap = 512 + strlen(target) + (extra ? strlen(extra) : 0);
  char *s = malloc(cap);
  CHECK(s != NULL);
  snprintf(s, cap,
           "GET %s HTTP/1.1\r\n"
           "Host: 127.0.0.1:%d\r\n"
           "Upgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           "Sec-WebSocket-Key: " LB_KEY "\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           "%s\r\n",
           target, port, extra ? extra : "");
  return s;
}

/* The length of the HTTP head at the start of buf (through the empty
 * line), or 0 if it is not complete yet. */
static inline size_t lb_head_len(const char *buf, size_t len) {
  size_t i;
  for (i = 0; i + 4 <= len; i++)
    if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
      return i + 4;
  return 0;
}

/* 1 if the head buf[0..len) has a line equal to line (without its CRLF),
 * compared case-insensitively. */
static inline int lb_head_has_line(const char *buf, size_t len,
                                   const char *line) {
  size_t n = strlen(line), i;
  for (i = 0; i + n + 2 <= len; i++) {
    if ((i == 0 || buf[i - 1] == '\n') && strncasecmp(buf + i, line, n) == 0 &&
        buf[i + n] == '\r' && buf[i + n + 1] == '\n')
      return 1;
  }
  return 0;
}

/* ----------------------------------------------------------------------- */
/* Raw TCP peers                                                           */

typedef struct lb_raw_s lb_raw_t;
typedef void (*lb_raw_cb)(lb_raw_t *r);

/* One TCP connection driven by the test: what it reads is appended to in
 * (the test consumes it); on EOF or a read error it calls on_eof, then
 * closes itself. */
struct lb_raw_s {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_loop_t *loop;
  char *in;
  size_t len, cap;
  int connect_status;
  int read_err;    /* UV_EOF or the read error, 0 while open */
  int write_err;   /* first failed write */
  int closed;      /* the handle's close callback ran */
  uint64_t eof_at; /* uv_hrtime() when EOF was read */
  lb_raw_cb on_connect, on_read, on_eof, on_closed;
  void *data;
  int owned; /* malloc'd by a raw server: freed after on_closed */
};

static inline void lb__raw_closed(uv_handle_t *h) {
  lb_raw_t *r = h->data;
  r->closed = 1;
  if (r->on_closed)
    r->on_closed(r);
  free(r->in);
  r->in = NULL;
  if (r->owned)
    free(r);
}

static inline void lb_raw_close(lb_raw_t *r) {
  if (!uv_is_closing((uv_handle_t *)&r->tcp))
    uv_close((uv_handle_t *)&r->tcp, lb__raw_closed);
}

static inline void lb__raw_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  lb_raw_t *r = h->data;
  (void)size;
  if (r->cap - r->len < 65536) {
    size_t cap = r->cap ? r->cap * 2 : 65536 * 2;
    while (cap - r->len < 65536)
      cap *= 2;
    r->in = realloc(r->in, cap);
    CHECK(r->in != NULL);
    r->cap = cap;
  }
  *buf = uv_buf_init(r->in + r->len, 65536);
}

static inline void lb__raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  lb_raw_t *r = s->data;
  (void)b;
  if (n == 0)
    return;
  if (n < 0) {
    r->read_err = (int)n;
    r->eof_at = uv_hrtime();
    uv_read_stop(s);
    if (r->on_eof)
      r->on_eof(r);
    lb_raw_close(r);
    return;
  }
  r->len += (size_t)n;
  if (r->on_read)
    r->on_read(r);
}

static inline void lb_raw_read_start(lb_raw_t *r) {
  CHECK_EQ(uv_read_start((uv_stream_t *)&r->tcp, lb__raw_alloc, lb__raw_read),
           0);
}

static inline void lb_raw_read_stop(lb_raw_t *r) {
  uv_read_stop((uv_stream_t *)&r->tcp);
}

/* Drops the first n bytes read. */
static inline void lb_raw_consume(lb_raw_t *r, size_t n) {
  CHECK(n <= r->len);
  memmove(r->in, r->in + n, r->len - n);
  r->len -= n;
}

static inline void lb_raw_init(lb_raw_t *r, uv_loop_t *loop) {
  memset(r, 0, sizeof(*r));
  r->loop = loop;
  CHECK_EQ(uv_tcp_init(loop, &r->tcp), 0);
  r->tcp.data = r;
}

static inline void lb__raw_connected(uv_connect_t *req, int status) {
  lb_raw_t *r = req->data;
  r->connect_status = status;
  CHECK_ERR(status, 0);
  lb_raw_read_start(r);
  if (r->on_connect)
    r->on_connect(r);
}

/* Connects to ip:port; reading starts on connect, then on_connect runs. */
static inline void lb_raw_connect(lb_raw_t *r, const char *ip, int port,
                                  lb_raw_cb on_connect) {
  struct sockaddr_storage ss;
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss) != 0)
    CHECK_EQ(uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss), 0);
  r->on_connect = on_connect;
  r->creq.data = r;
  CHECK_EQ(uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&ss,
                          lb__raw_connected),
           0);
}

typedef struct {
  uv_write_t req;
  lb_raw_t *raw;
  uv_buf_t buf;
} lb__wreq_t;

static inline void lb__raw_written(uv_write_t *req, int status) {
  lb__wreq_t *w = (lb__wreq_t *)req;
  if (status < 0 && w->raw->write_err == 0)
    w->raw->write_err = status;
  free(w->buf.base);
  free(w);
}

/* Writes a copy of data[0..len) in one uv_write. */
static inline void lb_raw_write(lb_raw_t *r, const void *data, size_t len) {
  lb__wreq_t *w = malloc(sizeof(*w));
  int e;
  CHECK(w != NULL);
  w->raw = r;
  w->buf = uv_buf_init(malloc(len ? len : 1), (unsigned)len);
  CHECK(w->buf.base != NULL);
  memcpy(w->buf.base, data, len);
  e = uv_write(&w->req, (uv_stream_t *)&r->tcp, &w->buf, 1, lb__raw_written);
  if (e != 0) {
    if (r->write_err == 0)
      r->write_err = e;
    free(w->buf.base);
    free(w);
  }
}

static inline void lb_raw_write_str(lb_raw_t *r, const char *s) {
  lb_raw_write(r, s, strlen(s));
}

/* Writes a masked frame. */
static inline void lb_raw_send_frame(lb_raw_t *r, int fin, unsigned opcode,
                                     const void *payload, size_t len) {
  size_t n;
  uint8_t *f = lb_frame(fin, opcode, lb_mask_key, payload, len, &n);
  lb_raw_write(r, f, n);
  free(f);
}

/* Writes a masked close frame with code (0: none) and reason. */
static inline void lb_raw_send_close(lb_raw_t *r, unsigned code,
                                     const char *reason) {
  uint8_t body[125];
  size_t n = 0;
  if (code) {
    body[0] = (uint8_t)(code >> 8);
    body[1] = (uint8_t)code;
    n = 2;
    if (reason) {
      memcpy(body + 2, reason, strlen(reason));
      n += strlen(reason);
    }
  }
  lb_raw_send_frame(r, 1, LB_OP_CLOSE, body, n);
}

/* A listening socket whose connections become owned lb_raw_t peers. */
typedef struct lb_raw_server_s lb_raw_server_t;
struct lb_raw_server_s {
  uv_tcp_t tcp;
  int port;
  int accepted;
  lb_raw_cb on_accept; /* reading has started; set the peer's callbacks */
  void *data;
};

static inline void lb__raw_server_conn(uv_stream_t *s, int status) {
  lb_raw_server_t *srv = s->data;
  lb_raw_t *r = malloc(sizeof(*r));
  CHECK_EQ(status, 0);
  CHECK(r != NULL);
  lb_raw_init(r, s->loop);
  r->owned = 1;
  r->data = srv;
  CHECK_EQ(uv_accept(s, (uv_stream_t *)&r->tcp), 0);
  srv->accepted++;
  lb_raw_read_start(r);
  if (srv->on_accept)
    srv->on_accept(r);
}

static inline void lb_raw_server_listen(lb_raw_server_t *srv, uv_loop_t *loop,
                                        lb_raw_cb on_accept) {
  struct sockaddr_storage ss;
  int len = (int)sizeof(ss);
  memset(srv, 0, sizeof(*srv));
  srv->on_accept = on_accept;
  CHECK_EQ(uv_tcp_init(loop, &srv->tcp), 0);
  srv->tcp.data = srv;
  CHECK_EQ(uv_ip4_addr("127.0.0.1", 0, (struct sockaddr_in *)&ss), 0);
  CHECK_EQ(uv_tcp_bind(&srv->tcp, (struct sockaddr *)&ss, 0), 0);
  CHECK_EQ(uv_listen((uv_stream_t *)&srv->tcp, 16, lb__raw_server_conn), 0);
  CHECK_EQ(uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&ss, &len), 0);
  srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static inline void lb_raw_server_close(lb_raw_server_t *srv) {
  uv_close((uv_handle_t *)&srv->tcp, NULL);
}

/* ----------------------------------------------------------------------- */
/* uvws servers and clients                                                */

/* A uvws server listening on 127.0.0.1, port 0. */
static inline uvws_server_t *
lb_server(uv_loop_t *loop, const uvws_server_options_t *opts, int *port) {
  uvws_server_t *s;
  CHECK_EQ(uvws_server_create(loop, opts, &s), 0);
  CHECK_EQ(uvws_server_listen(s, "127.0.0.1", 0, 0), 0);
  *port = uvws_server_port(s);
  CHECK(*port > 0);
  return s;
}

/* ws://127.0.0.1:port + path in buf. */
static inline const char *lb_url(char *buf, size_t cap, int port,
                                 const char *path) {
  snprintf(buf, cap, "ws://127.0.0.1:%d%s", port, path);
  return buf;
}

/* Process set-up shared by the tests' main(). */
static inline void lb_setup(void) {
  /* Writes to a peer that is gone must fail with EPIPE, not kill us. */
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stderr, NULL, _IONBF, 0);
}

#endif

/* permessage-deflate through the public API, on 127.0.0.1:
 *
 *  - a uvws client and a uvws server in one process, for several settings:
 *    the extension is agreed and both sides report the same value; the
 *    message matrix (0 B to 1.5 MiB, text and binary, compressible and
 *    random) both ways; fragmented sends with pings between;
 *  - the bytes on the wire, read by a raw TCP peer written here: RSV1 only
 *    on the first frame of compressed messages, never on control frames or
 *    on messages sent with UVWS_SEND_NO_COMPRESS or shorter than the
 *    threshold; compressed messages inflated by zlib directly; compression
 *    visibly in effect; a decompression bomb closing with 1009;
 *  - a server with deflate.disable, a client that does not offer it, and
 *    answers the client must refuse.
 *
 * Every callback checks it is not called from inside an API call and
 * counts itself; totals are checked when the loop ends. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "buf.h"
#include "frame.h"
#include "handshake.h"
#include "test.h"
#include "uvws.h"

/* ----------------------------------------------------------------------- */
/* The loop, its watchdog, and callbacks made from inside API calls        */

static uv_loop_t loop;
static uv_timer_t watchdog;
static const char *test_name;
static uint64_t started;
static int in_api;

#define API(call) (in_api++, api_leave((call)))
static int api_leave(int r) {
  in_api--;
  return r;
}
#define NOT_IN_API() CHECK(in_api == 0)

static void watchdog_fired(uv_timer_t *t) {
  (void)t;
  fprintf(stderr, "watchdog: \"%s\" did not finish in time\n", test_name);
  uv_print_all_handles(&loop, stderr);
  abort();
}

static void loop_init(const char *name) {
  CHECK_EQ(uv_loop_init(&loop), 0);
  test_name = name;
  started = uv_hrtime();
  CHECK_EQ(uv_timer_init(&loop, &watchdog), 0);
  CHECK_EQ(uv_timer_start(&watchdog, watchdog_fired, 20000, 0), 0);
  uv_unref((uv_handle_t *)&watchdog);
}

static void loop_run(void) {
  int r;
  CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  uv_close((uv_handle_t *)&watchdog, NULL);
  CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  r = uv_loop_close(&loop);
  if (r != 0)
    uv_print_all_handles(&loop, stderr);
  CHECK_EQ(r, 0);
  fprintf(stderr, "  %-44s %7.1f ms\n", test_name,
          (double)(uv_hrtime() - started) / 1e6);
}

/* ----------------------------------------------------------------------- */
/* Payloads                                                                */

static uint32_t rng_next(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

/* Writes the UTF-8 of code point c at p; returns its length. */
static size_t put_utf8(char *p, uint32_t c) {
  if (c < 0x80) {
    p[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    p[0] = (char)(0xc0 | (c >> 6));
    p[1] = (char)(0x80 | (c & 0x3f));
    return 2;
  }
  if (c < 0x10000) {
    p[0] = (char)(0xe0 | (c >> 12));
    p[1] = (char)(0x80 | ((c >> 6) & 0x3f));
    p[2] = (char)(0x80 | (c & 0x3f));
    return 3;
  }
  p[0] = (char)(0xf0 | (c >> 18));
  p[1] = (char)(0x80 | ((c >> 12) & 0x3f));
  p[2] = (char)(0x80 | ((c >> 6) & 0x3f));
  p[3] = (char)(0x80 | (c & 0x3f));
  return 4;
}

/* len bytes: text is valid UTF-8. random: no repetition to speak of
 * (random code points of every length for text); otherwise JSON-like
 * words that deflate shrinks several times. */
static void fill(char *buf, size_t len, int text, int random, uint32_t seed) {
  static const char *const words[] = {"{\"id\": 1234, ", "\"name\": \"h\xc3\xa9llo",
                                      " w\xc3\xb6rld\", ", "\"price\": \"9 \xe2\x82\xac\"",
                                      ", \"mood\": \"\xf0\x9f\x98\x80\"}\n"};
  uint32_t x = seed * 2654435761u + 7;
  size_t i = 0;
  if (!random) {
    size_t k = seed;
    while (i < len) {
      const char *w = words[k++ % 5];
      size_t n = strlen(w);
      if (n > len - i)
        buf[i++] = '.';
      else {
        memcpy(buf + i, w, n);
        i += n;
      }
    }
    return;
  }
  if (!text) {
    for (i = 0; i < len; i++)
      buf[i] = (char)(rng_next(&x) >> 24);
    return;
  }
  while (i < len) {
    uint32_t r = rng_next(&x), c;
    char tmp[4];
    size_t n;
    switch (r & 3) {
    case 0: c = 0x20 + (r >> 8) % 0x5f; break;
    case 1: c = 0x80 + (r >> 8) % 0x780; break;
    case 2:
      c = 0x800 + (r >> 8) % 0xf800;
      if (c >= 0xd800 && c <= 0xdfff)
        c = 0xe000;
      break;
    default: c = 0x10000 + (r >> 8) % 0x100000; break;
    }
    n = put_utf8(tmp, c);
    if (n > len - i) {
      buf[i++] = 'z';
      continue;
    }
    memcpy(buf + i, tmp, n);
    i += n;
  }
}

static int payload_ok(const char *data, size_t len, int text, int random,
                      uint32_t seed) {
  char *want = malloc(len ? len : 1);
  int ok;
  CHECK(want != NULL);
  fill(want, len, text, random, seed);
  ok = len == 0 || memcmp(want, data, len) == 0;
  free(want);
  return ok;
}

/* ----------------------------------------------------------------------- */
/* uvws sides                                                              */

typedef struct {
  int open, message, error, close, pong, sent_cb;
  int last_error, close_code, clean;
  uvws_conn_t *conn;
  char ext[256];
} side_t;

static side_t S, C;
static uvws_server_t *server;
static uvws_client_t *client;
static int port;
static int closes_expected;
static int contexts_closed;

static side_t *side_of(uvws_conn_t *conn) {
  return uvws_conn_is_client(conn) ? &C : &S;
}

static void server_closed(uvws_server_t *s) {
  NOT_IN_API();
  (void)s;
  contexts_closed++;
}

static void client_closed(uvws_client_t *c) {
  NOT_IN_API();
  (void)c;
  contexts_closed++;
}

static void close_contexts(void) {
  if (server)
    uvws_server_close(server, server_closed);
  if (client)
    uvws_client_close(client, client_closed);
}

static void rec_open(uvws_conn_t *conn) {
  side_t *s = side_of(conn);
  NOT_IN_API();
  s->open++;
  s->conn = conn;
  snprintf(s->ext, sizeof(s->ext), "%s", uvws_conn_extensions(conn));
}

static void rec_error(uvws_conn_t *conn, int err) {
  side_t *s = side_of(conn);
  NOT_IN_API();
  s->error++;
  s->last_error = err;
}

static void rec_close(uvws_conn_t *conn, int code, const char *reason,
                      size_t len, int clean) {
  side_t *s = side_of(conn);
  NOT_IN_API();
  (void)reason;
  (void)len;
  s->close++;
  s->close_code = code;
  s->clean = clean;
  if (S.close + C.close == closes_expected)
    close_contexts();
}

static void rec_pong(uvws_conn_t *conn, const char *data, size_t len) {
  NOT_IN_API();
  (void)data;
  (void)len;
  side_of(conn)->pong++;
}

static const uvws_callbacks_t plain_cbs = {.on_open = rec_open,
                                           .on_error = rec_error,
                                           .on_close = rec_close,
                                           .on_pong = rec_pong};

static void setup(const char *name, const uvws_server_options_t *so) {
  memset(&S, 0, sizeof(S));
  memset(&C, 0, sizeof(C));
  contexts_closed = 0;
  closes_expected = 2;
  server = NULL;
  client = NULL;
  loop_init(name);
  if (so) {
    CHECK_EQ(uvws_server_create(&loop, so, &server), 0);
    CHECK_EQ(uvws_server_listen(server, "127.0.0.1", 0, 0), 0);
    port = uvws_server_port(server);
    CHECK(port > 0);
  }
  CHECK_EQ(uvws_client_create(&loop, NULL, &client), 0);
}

static uvws_conn_t *connect_to(int to_port, const char *path,
                               const uvws_deflate_options_t *deflate,
                               const uvws_callbacks_t *cbs) {
  char url[128];
  uvws_connect_options_t o;
  uvws_conn_t *conn = NULL;
  memset(&o, 0, sizeof(o));
  o.deflate = deflate;
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d%s", to_port, path);
  CHECK_EQ(API(uvws_connect(client, url, &o, cbs, NULL, &conn)), 0);
  return conn;
}

/* ----------------------------------------------------------------------- */
/* The message matrix, uvws to uvws                                        */

static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 1536 * 1024};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define NMSG ((int)(4 * NSIZES))

/* Message k: size k / 4; random when (k / 2) % 2; text when k % 2 == 0. */
static size_t mx_len(int k) {
  return sizes[k / 4];
}
static int mx_text(int k) {
  return k % 2 == 0;
}
static int mx_random(int k) {
  return (k / 2) % 2;
}
static uint32_t mx_seed(int k, int dir) {
  return (uint32_t)(k * 2 + dir + 1);
}

static void mx_send(uvws_conn_t *conn, int k, int dir) {
  size_t n = mx_len(k);
  char *buf = malloc(n ? n : 1);
  CHECK(buf != NULL);
  fill(buf, n, mx_text(k), mx_random(k), mx_seed(k, dir));
  CHECK_EQ(API(uvws_conn_send(conn, mx_text(k) ? UVWS_TEXT : UVWS_BINARY, buf,
                              n)),
           0);
  memset(buf, 0xee, n); /* copied: the buffer may change at once */
  free(buf);
}

static void mx_check(int k, int dir, uvws_msg_type_t type, const char *data,
                     size_t len) {
  CHECK_EQ(type, mx_text(k) ? UVWS_TEXT : UVWS_BINARY);
  CHECK_EQ(len, mx_len(k));
  CHECK(payload_ok(data, len, mx_text(k), mx_random(k), mx_seed(k, dir)));
}

static const char *mx_want_ext;

static void mx_s_open(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK_STR(S.ext, mx_want_ext);
  for (int k = 0; k < NMSG; k++)
    mx_send(conn, k, 1);
}

static void mx_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  NOT_IN_API();
  CHECK(S.message < NMSG);
  mx_check(S.message, 0, type, data, len);
  S.message++;
  CHECK_EQ(API(uvws_conn_send(conn, type, data, len)), 0);
}

static void mx_c_open(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK_STR(C.ext, mx_want_ext);
  for (int k = 0; k < NMSG; k++)
    mx_send(conn, k, 0);
}

static void mx_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  int i = C.message;
  NOT_IN_API();
  CHECK(i < 2 * NMSG);
  if (i < NMSG)
    mx_check(i, 1, type, data, len);
  else
    mx_check(i - NMSG, 0, type, data, len);
  if (++C.message == 2 * NMSG)
    CHECK_EQ(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void test_matrix(const char *name, const uvws_deflate_options_t *sd,
                        const uvws_deflate_options_t *cd, const char *ext) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = plain_cbs;
  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_open = mx_s_open;
  so.callbacks.on_message = mx_s_message;
  if (sd)
    so.deflate = *sd;
  cc.on_open = mx_c_open;
  cc.on_message = mx_c_message;
  mx_want_ext = ext;

  setup(name, &so);
  connect_to(port, "/matrix", cd, &cc);
  loop_run();
  CHECK_EQ(contexts_closed, 2);
  CHECK_EQ(S.open, 1);
  CHECK_EQ(C.open, 1);
  CHECK_EQ(S.message, NMSG);
  CHECK_EQ(C.message, 2 * NMSG);
  CHECK_EQ(S.error + C.error, 0);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(S.close_code, 1000);
  CHECK_EQ(C.close_code, 1000);
  CHECK_EQ(S.clean + C.clean, 2);
}

/* ----------------------------------------------------------------------- */
/* Fragmented sends with deflate, uvws to uvws                             */

#define FR_BIG (3 * 70000)

static void fr_c_open(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK(C.ext[0] != '\0');
  /* "fragment é and € end", cut inside both multi-byte characters; pings
   * between; an empty part; the last part empty. */
  CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_TEXT, "fragment \xc3", 10,
                                       0)),
           0);
  CHECK_EQ(API(uvws_conn_ping(conn, "one", 3)), 0);
  CHECK_EQ(API(uvws_conn_send_text(conn, "x", 1)), UVWS_EINFRAGMENT);
  CHECK_EQ(API(uvws_conn_send_ex(conn, UVWS_TEXT, "x", 1,
                                 UVWS_SEND_NO_COMPRESS)),
           UVWS_EINFRAGMENT);
  CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_TEXT, "\xff", 1, 0)),
           UVWS_EBADUTF8);
  CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_TEXT, "\xa9 and \xe2\x82",
                                       8, 0)),
           0);
  CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_TEXT, "", 0, 0)), 0);
  CHECK_EQ(API(uvws_conn_ping(conn, "two", 3)), 0);
  CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_TEXT, "\xac end", 5, 0)),
           0);
  CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_TEXT, NULL, 0, 1)), 0);
  /* The same text whole, compressed, then uncompressed: each message
   * decides for itself. */
  CHECK_EQ(API(uvws_conn_send_text(conn, "fragment \xc3\xa9 and \xe2\x82\xac end",
                                   23)),
           0);
  CHECK_EQ(API(uvws_conn_send_ex(conn, UVWS_TEXT,
                                 "fragment \xc3\xa9 and \xe2\x82\xac end", 23,
                                 UVWS_SEND_NO_COMPRESS)),
           0);
  CHECK_EQ(API(uvws_conn_send_ex(conn, UVWS_TEXT, "x", 1, 2)), UV_EINVAL);
  /* An empty fragmented message. */
  CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_BINARY, NULL, 0, 0)), 0);
  CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_BINARY, NULL, 0, 1)), 0);
}

static void fr_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  static const char whole[] = "fragment \xc3\xa9 and \xe2\x82\xac end";
  char *big;
  NOT_IN_API();
  switch (S.message++) {
  case 0:
  case 1:
  case 2:
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, 23);
    CHECK(memcmp(data, whole, 23) == 0);
    break;
  case 3:
    CHECK_EQ(type, UVWS_BINARY);
    CHECK_EQ(len, 0);
    /* The server's turn: a large binary message in parts, random then
     * compressible, the last part empty. */
    big = malloc(FR_BIG);
    CHECK(big != NULL);
    fill(big, 70000, 0, 1, 77);
    fill(big + 70000, FR_BIG - 70000, 0, 0, 78);
    CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_BINARY, big, 70000, 0)),
             0);
    CHECK_EQ(API(uvws_conn_ping(conn, "s1", 2)), 0);
    CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_BINARY, big + 70000,
                                         FR_BIG - 70000, 0)),
             0);
    CHECK_EQ(API(uvws_conn_send_fragment(conn, UVWS_BINARY, NULL, 0, 1)), 0);
    free(big);
    break;
  default:
    CHECK(0 && "unexpected message");
  }
}

static void fr_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  NOT_IN_API();
  CHECK_EQ(C.message, 0);
  C.message++;
  CHECK_EQ(type, UVWS_BINARY);
  CHECK_EQ(len, FR_BIG);
  CHECK(payload_ok(data, 70000, 0, 1, 77));
  CHECK(payload_ok(data + 70000, FR_BIG - 70000, 0, 0, 78));
  CHECK_EQ(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void test_fragments(const uvws_deflate_options_t *cd) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = plain_cbs;
  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_message = fr_s_message;
  cc.on_open = fr_c_open;
  cc.on_message = fr_c_message;

  setup(cd->client_no_context_takeover ? "fragments, no context takeover"
                                       : "fragments",
        &so);
  connect_to(port, "/", cd, &cc);
  loop_run();
  CHECK_EQ(S.message, 4);
  CHECK_EQ(C.message, 1);
  CHECK_EQ(C.pong, 2);
  CHECK_EQ(S.pong, 1);
  CHECK_EQ(S.error + C.error, 0);
  CHECK_EQ(C.close_code, 1000);
  CHECK_EQ(S.clean + C.clean, 2);
}

/* ----------------------------------------------------------------------- */
/* Extension on one side only                                              */

static void one_c_open(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK_EQ(API(uvws_conn_send_text(conn, "hello hello hello", 17)), 0);
}

static void one_s_open(uvws_conn_t *conn) {
  rec_open(conn);
}

static void one_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                          const char *data, size_t len) {
  NOT_IN_API();
  S.message++;
  CHECK_EQ(API(uvws_conn_send(conn, type, data, len)), 0);
}

static void one_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                          const char *data, size_t len) {
  NOT_IN_API();
  C.message++;
  CHECK_EQ(type, UVWS_TEXT);
  CHECK_EQ(len, 17);
  CHECK(memcmp(data, "hello hello hello", 17) == 0);
  CHECK_EQ(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void test_one_side(const char *name, int disable, int offer) {
  uvws_server_options_t so;
  uvws_deflate_options_t cd;
  uvws_callbacks_t cc = plain_cbs;
  memset(&so, 0, sizeof(so));
  memset(&cd, 0, sizeof(cd));
  so.callbacks = plain_cbs;
  so.callbacks.on_open = one_s_open;
  so.callbacks.on_message = one_s_message;
  so.deflate.disable = disable;
  cc.on_open = one_c_open;
  cc.on_message = one_c_message;
  setup(name, &so);
  connect_to(port, "/", offer ? &cd : NULL, &cc);
  loop_run();
  CHECK_STR(S.ext, "");
  CHECK_STR(C.ext, "");
  CHECK_EQ(S.message, 1);
  CHECK_EQ(C.message, 1);
  CHECK_EQ(S.clean + C.clean, 2);
}

/* ----------------------------------------------------------------------- */
/* Raw TCP peers                                                           */

typedef struct raw_s raw_t;
struct raw_s {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uvws__buf_t in;
  int eof;
  int head_done;
  void (*on_read)(raw_t *r);
  void (*on_connect)(raw_t *r);
  int id;
  int owned; /* accepted by the raw server: freed when closed */
};

static uv_tcp_t raw_listener;
static int raw_port;
static void (*raw_on_accept)(raw_t *r);

static void raw_closed(uv_handle_t *h) {
  raw_t *r = h->data;
  uvws__buf_free(&uvws__libc_allocator, &r->in);
  if (r->owned)
    free(r);
}

static void raw_close(raw_t *r) {
  if (!uv_is_closing((uv_handle_t *)&r->tcp))
    uv_close((uv_handle_t *)&r->tcp, raw_closed);
}

static void raw_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  raw_t *r = h->data;
  (void)size;
  CHECK_EQ(uvws__buf_reserve(&uvws__libc_allocator, &r->in, 65536), 0);
  *buf = uv_buf_init(r->in.base + r->in.len, 65536);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  raw_t *r = s->data;
  (void)b;
  if (n == 0)
    return;
  if (n < 0) {
    r->eof = 1;
    raw_close(r);
    return;
  }
  r->in.len += (size_t)n;
  if (r->on_read)
    r->on_read(r);
}

static void raw_consume(raw_t *r, size_t n) {
  CHECK(n <= r->in.len);
  memmove(r->in.base, r->in.base + n, r->in.len - n);
  r->in.len -= n;
}

typedef struct {
  uv_write_t req;
  uv_buf_t buf;
} wreq_t;

static void raw_written(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  (void)status; /* the peer may be gone after a close frame */
  free(w->buf.base);
  free(w);
}

static void raw_write(raw_t *r, const void *data, size_t len) {
  wreq_t *w = malloc(sizeof(*w));
  CHECK(w != NULL);
  w->buf = uv_buf_init(malloc(len ? len : 1), (unsigned)len);
  CHECK(w->buf.base != NULL);
  memcpy(w->buf.base, data, len);
  if (uv_write(&w->req, (uv_stream_t *)&r->tcp, &w->buf, 1, raw_written) !=
      0) {
    free(w->buf.base);
    free(w);
  }
}

/* Writes a frame; masked as a client's when mask is not NULL. */
static void raw_frame(raw_t *r, int fin, unsigned rsv, unsigned op,
                      const void *payload, size_t n, const uint8_t *mask) {
  uint8_t *f = malloc(UVWS__MAX_HEADER + n);
  size_t h;
  CHECK(f != NULL);
  h = uvws__frame_encode(f, fin, rsv, op, n, mask);
  if (n)
    memcpy(f + h, payload, n);
  if (mask)
    uvws__mask(f + h, f + h, n, mask, 0);
  raw_write(r, f, h + n);
  free(f);
}

static void raw_accepted(uv_stream_t *l, int status) {
  raw_t *r = calloc(1, sizeof(*r));
  CHECK_EQ(status, 0);
  CHECK(r != NULL);
  CHECK_EQ(uv_tcp_init(l->loop, &r->tcp), 0);
  r->tcp.data = r;
  r->owned = 1;
  CHECK_EQ(uv_accept(l, (uv_stream_t *)&r->tcp), 0);
  CHECK_EQ(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read), 0);
  raw_on_accept(r);
}

static void raw_listen(void (*on_accept)(raw_t *r)) {
  struct sockaddr_storage ss;
  int len = (int)sizeof(ss);
  raw_on_accept = on_accept;
  CHECK_EQ(uv_tcp_init(&loop, &raw_listener), 0);
  CHECK_EQ(uv_ip4_addr("127.0.0.1", 0, (struct sockaddr_in *)&ss), 0);
  CHECK_EQ(uv_tcp_bind(&raw_listener, (struct sockaddr *)&ss, 0), 0);
  CHECK_EQ(uv_listen((uv_stream_t *)&raw_listener, 16, raw_accepted), 0);
  CHECK_EQ(uv_tcp_getsockname(&raw_listener, (struct sockaddr *)&ss, &len), 0);
  raw_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void raw_connected(uv_connect_t *req, int status) {
  raw_t *r = req->data;
  CHECK_EQ(status, 0);
  CHECK_EQ(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read), 0);
  r->on_connect(r);
}

static void raw_connect(raw_t *r, int to_port, void (*on_connect)(raw_t *r)) {
  struct sockaddr_in a;
  memset(r, 0, sizeof(*r));
  CHECK_EQ(uv_tcp_init(&loop, &r->tcp), 0);
  r->tcp.data = r;
  r->on_connect = on_connect;
  r->creq.data = r;
  CHECK_EQ(uv_ip4_addr("127.0.0.1", to_port, &a), 0);
  CHECK_EQ(uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&a,
                          raw_connected),
           0);
}

/* The end of an HTTP head in r->in, or 0. */
static size_t head_len(const raw_t *r) {
  for (size_t i = 0; i + 4 <= r->in.len; i++)
    if (memcmp(r->in.base + i, "\r\n\r\n", 4) == 0)
      return i + 4;
  return 0;
}

/* The value of header name in the head buf[0..len), copied into out. */
static int head_value(const char *buf, size_t len, const char *name, char *out,
                      size_t cap) {
  size_t n = strlen(name);
  for (size_t i = 0; i + n + 1 < len; i++) {
    if ((i == 0 || buf[i - 1] == '\n') && strncasecmp(buf + i, name, n) == 0 &&
        buf[i + n] == ':') {
      size_t s = i + n + 1, e;
      while (s < len && buf[s] == ' ')
        s++;
      for (e = s; e < len && buf[e] != '\r'; e++)
        ;
      CHECK(e - s < cap);
      memcpy(out, buf + s, e - s);
      out[e - s] = '\0';
      return 1;
    }
  }
  return 0;
}

/* A frame read from r->in. */
typedef struct {
  int fin;
  unsigned rsv, op;
  size_t len;   /* payload length */
  char *data;   /* payload, unmasked, in r->in */
  size_t total; /* header and payload */
} rframe_t;

static int raw_next_frame(raw_t *r, int want_masked, rframe_t *f) {
  uvws__frame_hdr_t h;
  size_t n = uvws__frame_decode((uint8_t *)r->in.base, r->in.len, &h);
  if (n == 0 || r->in.len - n < h.len)
    return 0;
  CHECK_EQ(h.masked, want_masked);
  f->fin = h.fin;
  f->rsv = h.rsv;
  f->op = h.opcode;
  f->len = (size_t)h.len;
  f->data = r->in.base + n;
  f->total = n + (size_t)h.len;
  if (h.masked)
    uvws__mask((uint8_t *)f->data, (uint8_t *)f->data, f->len, h.mask, 0);
  return 1;
}

/* zlib's inflate on a raw peer: a whole compressed message with the tail
 * put back (RFC 7692 7.2.2), context kept between messages. */
static void z_inflate(z_stream *s, const char *in, size_t n, uvws__buf_t *out) {
  static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
  out->len = 0;
  for (int pass = 0; pass < 2; pass++) {
    s->next_in = (Bytef *)(pass ? (const char *)tail : in);
    s->avail_in = (uInt)(pass ? 4 : n);
    do {
      int r;
      CHECK_EQ(uvws__buf_reserve(&uvws__libc_allocator, out, 65536), 0);
      s->next_out = (Bytef *)out->base + out->len;
      s->avail_out = 65536;
      r = inflate(s, Z_SYNC_FLUSH);
      CHECK(r == Z_OK || r == Z_BUF_ERROR);
      out->len += 65536 - s->avail_out;
    } while (s->avail_out == 0);
  }
}

/* ----------------------------------------------------------------------- */
/* What goes on the wire                                                   */

/* The sequence both wire tests send from uvws, with the threshold at 100
 * bytes, and what each frame must look like. */
enum { W_MSG, W_EX, W_NOCOPY, W_FRAG, W_PING };
typedef struct {
  int how;
  int type;    /* UVWS_TEXT / UVWS_BINARY */
  size_t len;  /* of a fill(text, !random) payload; parts: of this part */
  int last;    /* W_FRAG: the last part */
  int rsv1;    /* expected on its frame */
  unsigned op; /* expected opcode */
} wire_step_t;

static const wire_step_t wire_steps[] = {
    {W_MSG, UVWS_TEXT, 50, 0, 0, UVWS__OP_TEXT},       /* below threshold */
    {W_MSG, UVWS_TEXT, 200, 0, 1, UVWS__OP_TEXT},      /* compressed */
    {W_EX, UVWS_BINARY, 200, 0, 0, UVWS__OP_BINARY},   /* NO_COMPRESS */
    {W_MSG, UVWS_BINARY, 99, 0, 0, UVWS__OP_BINARY},   /* just below */
    {W_MSG, UVWS_BINARY, 100, 0, 1, UVWS__OP_BINARY},  /* at threshold */
    {W_NOCOPY, UVWS_BINARY, 1000, 0, 1, UVWS__OP_BINARY},
    {W_FRAG, UVWS_TEXT, 30, 0, 1, UVWS__OP_TEXT},      /* RSV1 first only */
    {W_PING, 0, 3, 0, 0, UVWS__OP_PING},
    {W_FRAG, UVWS_TEXT, 40, 0, 0, UVWS__OP_CONT},
    {W_FRAG, UVWS_TEXT, 0, 1, 0, UVWS__OP_CONT},
    {W_MSG, UVWS_TEXT, 1 << 20, 0, 1, UVWS__OP_TEXT},  /* 1 MiB */
    {W_MSG, UVWS_TEXT, 0, 0, 0, UVWS__OP_TEXT},        /* empty */
    {W_EX, UVWS_TEXT, 5000, 0, 0, UVWS__OP_TEXT},      /* NO_COMPRESS */
    {W_MSG, UVWS_TEXT, 5000, 0, 1, UVWS__OP_TEXT},
};
#define NSTEPS (sizeof(wire_steps) / sizeof(wire_steps[0]))
#define W_MESSAGES 11 /* the three parts make one message */

static int nocopy_done;
static char nocopy_buf[1000];

static void nocopy_cb(uvws_conn_t *conn, void *arg, int status) {
  NOT_IN_API();
  (void)conn;
  CHECK(arg == nocopy_buf);
  CHECK_EQ(status, 0);
  nocopy_done++;
}

/* Part k's payload: words, seeded by k so every step differs. */
static void wire_payload(size_t k, char *buf) {
  fill(buf, wire_steps[k].len, 1, 0, (uint32_t)k + 100);
}

static void wire_send_all(uvws_conn_t *conn) {
  char *buf = malloc(1 << 20);
  CHECK(buf != NULL);
  for (size_t k = 0; k < NSTEPS; k++) {
    const wire_step_t *w = &wire_steps[k];
    wire_payload(k, buf);
    switch (w->how) {
    case W_MSG:
      CHECK_EQ(API(uvws_conn_send(conn, w->type, buf, w->len)), 0);
      break;
    case W_EX:
      CHECK_EQ(API(uvws_conn_send_ex(conn, w->type, buf, w->len,
                                     UVWS_SEND_NO_COMPRESS)),
               0);
      break;
    case W_NOCOPY:
      memcpy(nocopy_buf, buf, w->len);
      CHECK_EQ(API(uvws_conn_send_nocopy(conn, w->type, nocopy_buf, w->len,
                                         nocopy_cb, nocopy_buf)),
               0);
      break;
    case W_FRAG:
      CHECK_EQ(API(uvws_conn_send_fragment(conn, w->type, buf, w->len,
                                           w->last)),
               0);
      break;
    case W_PING:
      CHECK_EQ(API(uvws_conn_ping(conn, "pin", 3)), 0);
      break;
    }
  }
  free(buf);
}

/* The raw peer's view: frames checked against wire_steps as they come;
 * compressed messages inflated with zlib and compared. */
typedef struct {
  size_t step;
  int masked; /* frames come from a client */
  z_stream zs;
  uvws__buf_t msg;      /* the open message, as on the wire */
  int msg_compressed;
  size_t msg_first_step;
  size_t wire_bytes_1mib; /* compressed size of the 1 MiB message */
  int messages;
} wire_t;

static wire_t W;

static void wire_init(int masked) {
  memset(&W, 0, sizeof(W));
  W.masked = masked;
  CHECK_EQ(inflateInit2(&W.zs, -15), Z_OK);
}

static void wire_free(void) {
  inflateEnd(&W.zs);
  uvws__buf_free(&uvws__libc_allocator, &W.msg);
}

/* Reads frames while steps remain. Returns 1 once every step was seen. */
static int wire_read(raw_t *r) {
  rframe_t f;
  while (W.step < NSTEPS && raw_next_frame(r, W.masked, &f)) {
    const wire_step_t *w = &wire_steps[W.step];
    if (f.op != w->op || (f.rsv != 0) != (w->rsv1 != 0) ||
        (f.rsv & ~(unsigned)UVWS__RSV1) != 0) {
      fprintf(stderr, "wire step %zu: op %u rsv %u, want op %u rsv1 %d\n",
              W.step, f.op, f.rsv, w->op, w->rsv1);
      abort();
    }
    if (f.op == UVWS__OP_PING) {
      CHECK_EQ(f.len, 3);
      CHECK(memcmp(f.data, "pin", 3) == 0);
    } else {
      if (f.op != UVWS__OP_CONT) {
        W.msg.len = 0;
        W.msg_compressed = f.rsv != 0;
        W.msg_first_step = W.step;
      }
      CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, &W.msg, f.data, f.len),
               0);
      if (f.fin) {
        uvws__buf_t plain = {0}, want = {0};
        if (W.msg_compressed) {
          z_inflate(&W.zs, W.msg.base, W.msg.len, &plain);
        } else {
          CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, &plain, W.msg.base,
                                    W.msg.len),
                   0);
        }
        /* What was sent: the parts from the message's first step on. */
        for (size_t k = W.msg_first_step; k <= W.step; k++) {
          if (wire_steps[k].how == W_PING)
            continue;
          CHECK_EQ(uvws__buf_reserve(&uvws__libc_allocator, &want,
                                     wire_steps[k].len + 1),
                   0);
          wire_payload(k, want.base + want.len);
          want.len += wire_steps[k].len;
        }
        CHECK_EQ(plain.len, want.len);
        CHECK(want.len == 0 || memcmp(plain.base, want.base, want.len) == 0);
        if (w->len == 1 << 20)
          W.wire_bytes_1mib = W.msg.len;
        W.messages++;
        uvws__buf_free(&uvws__libc_allocator, &plain);
        uvws__buf_free(&uvws__libc_allocator, &want);
      }
    }
    raw_consume(r, f.total);
    W.step++;
  }
  return W.step == NSTEPS;
}

static void check_wire_totals(void) {
  CHECK_EQ(W.step, NSTEPS);
  CHECK_EQ(W.messages, W_MESSAGES);
  /* Compression in effect: 1 MiB of JSON-like text in a few KiB. */
  CHECK(W.wire_bytes_1mib > 0);
  CHECK(W.wire_bytes_1mib < (1 << 20) / 50);
  CHECK_EQ(nocopy_done, 1);
}

/* uvws client -> raw server. */
static int wc_closed_frame;

static void wc_read(raw_t *r) {
  if (!r->head_done) {
    size_t n = head_len(r);
    char key[64], ext[256], accept[29], resp[512];
    if (n == 0)
      return;
    CHECK(head_value(r->in.base, n, "Sec-WebSocket-Key", key, sizeof(key)));
    CHECK(head_value(r->in.base, n, "Sec-WebSocket-Extensions", ext,
                     sizeof(ext)));
    CHECK_STR(ext, "permessage-deflate; client_max_window_bits");
    uvws__hs_accept(key, strlen(key), accept);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
             "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
             accept);
    raw_write(r, resp, strlen(resp));
    raw_consume(r, n);
    r->head_done = 1;
  }
  if (!wire_read(r))
    return;
  /* Then the client's close frame, answered; the server closes TCP. */
  rframe_t f;
  if (!wc_closed_frame && raw_next_frame(r, 1, &f)) {
    CHECK_EQ(f.op, UVWS__OP_CLOSE);
    CHECK_EQ(f.rsv, 0);
    wc_closed_frame = 1;
    raw_frame(r, 1, 0, UVWS__OP_CLOSE, "\x03\xe8", 2, NULL);
    raw_close(r);
    uv_close((uv_handle_t *)&raw_listener, NULL);
  }
}

static void wc_accept(raw_t *r) {
  r->on_read = wc_read;
}

static void wc_open(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK_STR(C.ext, "permessage-deflate");
  wire_send_all(conn);
  CHECK_EQ(API(uvws_conn_send_ex(conn, UVWS_TEXT, "x", 1, 4)), UV_EINVAL);
  CHECK_EQ(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void test_wire_client(void) {
  uvws_deflate_options_t cd;
  uvws_callbacks_t cc = plain_cbs;
  memset(&cd, 0, sizeof(cd));
  cd.threshold = 100;
  cc.on_open = wc_open;
  setup("wire: uvws client, threshold 100", NULL);
  closes_expected = 1;
  wire_init(1);
  nocopy_done = 0;
  wc_closed_frame = 0;
  raw_listen(wc_accept);
  connect_to(raw_port, "/", &cd, &cc);
  loop_run();
  check_wire_totals();
  wire_free();
  CHECK_EQ(C.open, 1);
  CHECK_EQ(C.error, 0);
  CHECK_EQ(C.close_code, 1000);
  CHECK_EQ(C.clean, 1);
}

/* uvws server -> raw client; then the raw client sends a compressed
 * message, and a decompression bomb that must close with 1009. */
static raw_t ws_raw;
static int ws_stage;
static uint8_t *ws_bomb;
static size_t ws_bomb_len;
static const uint8_t ws_mask[4] = {0x11, 0x22, 0x33, 0x44};

static void ws_read(raw_t *r) {
  rframe_t f;
  if (!r->head_done) {
    size_t n = head_len(r);
    char ext[256];
    if (n == 0)
      return;
    CHECK(memcmp(r->in.base, "HTTP/1.1 101 ", 13) == 0);
    CHECK(head_value(r->in.base, n, "Sec-WebSocket-Extensions", ext,
                     sizeof(ext)));
    CHECK_STR(ext, "permessage-deflate");
    raw_consume(r, n);
    r->head_done = 1;
  }
  if (ws_stage == 0) {
    if (!wire_read(r))
      return;
    ws_stage = 1;
    /* "Hello" twice, sharing the window (RFC 7692 7.2.3.2), then the
     * bomb. */
    raw_frame(r, 1, UVWS__RSV1, UVWS__OP_TEXT, "\xf2\x48\xcd\xc9\xc9\x07\x00",
              7, ws_mask);
    raw_frame(r, 1, UVWS__RSV1, UVWS__OP_TEXT, "\xf2\x00\x11\x00\x00", 5,
              ws_mask);
    raw_frame(r, 1, UVWS__RSV1, UVWS__OP_BINARY, ws_bomb, ws_bomb_len,
              ws_mask);
  }
  if (ws_stage == 1 && raw_next_frame(r, 0, &f)) {
    CHECK_EQ(f.op, UVWS__OP_CLOSE);
    CHECK_EQ(f.rsv, 0);
    CHECK(f.len >= 2);
    CHECK_EQ(((uint8_t)f.data[0] << 8) | (uint8_t)f.data[1], 1009);
    raw_consume(r, f.total);
    ws_stage = 2;
    raw_frame(r, 1, 0, UVWS__OP_CLOSE, "\x03\xf1", 2, ws_mask);
    /* The server closes the TCP connection; raw_read sees EOF. */
  }
}

static void ws_connected(raw_t *r) {
  static const char req[] =
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
      "\r\n";
  r->on_read = ws_read;
  raw_write(r, req, sizeof(req) - 1);
}

static void ws_s_open(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK_STR(S.ext, "permessage-deflate");
  wire_send_all(conn);
}

static void ws_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  NOT_IN_API();
  (void)conn;
  CHECK(S.message < 2);
  S.message++;
  CHECK_EQ(type, UVWS_TEXT);
  CHECK_EQ(len, 5);
  CHECK(memcmp(data, "Hello", 5) == 0);
}

static void ws_s_close(uvws_conn_t *conn, int code, const char *reason,
                       size_t len, int clean) {
  rec_close(conn, code, reason, len, clean);
  uvws_server_close(server, server_closed);
  uvws_client_close(client, client_closed);
}

/* The compressed bytes of n MiB of zeros: about 1 KiB per MiB. */
static uint8_t *zeros_bomb(size_t mib, size_t *len) {
  static uint8_t zeros[1 << 20];
  uvws__buf_t out = {0};
  z_stream s;
  memset(&s, 0, sizeof(s));
  CHECK_EQ(deflateInit2(&s, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  for (size_t i = 0; i < mib; i++) {
    s.next_in = zeros;
    s.avail_in = sizeof(zeros);
    do {
      CHECK_EQ(uvws__buf_reserve(&uvws__libc_allocator, &out, 4096), 0);
      s.next_out = (Bytef *)out.base + out.len;
      s.avail_out = 4096;
      deflate(&s, i + 1 == mib ? Z_SYNC_FLUSH : Z_NO_FLUSH);
      out.len += 4096 - s.avail_out;
    } while (s.avail_out == 0 || s.avail_in > 0);
  }
  deflateEnd(&s);
  *len = out.len - 4;
  return (uint8_t *)out.base;
}

static void test_wire_server(void) {
  uvws_server_options_t so;
  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_open = ws_s_open;
  so.callbacks.on_message = ws_s_message;
  so.callbacks.on_close = ws_s_close;
  so.deflate.threshold = 100;
  so.limits.max_message_size = 2 << 20;
  setup("wire: uvws server, threshold 100, bomb", &so);
  wire_init(0);
  nocopy_done = 0;
  ws_stage = 0;
  ws_bomb = zeros_bomb(64, &ws_bomb_len); /* 64 MiB in about 64 KiB */
  raw_connect(&ws_raw, port, ws_connected);
  loop_run();
  check_wire_totals();
  wire_free();
  free(ws_bomb);
  CHECK_EQ(ws_stage, 2);
  CHECK(ws_raw.eof);
  CHECK_EQ(S.open, 1);
  CHECK_EQ(S.message, 2);
  CHECK_EQ(S.error, 1);
  CHECK_EQ(S.last_error, UVWS_ETOOBIG);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(S.close_code, 1009);
  CHECK_EQ(S.clean, 0);
}

/* ----------------------------------------------------------------------- */
/* Answers the client must refuse (RFC 7692 5, 7.1)                        */

static const struct {
  const char *answer; /* Sec-WebSocket-Extensions value */
  int offer;          /* 0: the client offers nothing */
  int smwb;           /* server_max_window_bits the client asks for */
  int err;
} bad_answers[] = {
    {"permessage-deflate; foo", 1, 0, UVWS_EHANDSHAKE},
    {"permessage-deflate; server_max_window_bits=12", 1, 10, UVWS_EHANDSHAKE},
    {"permessage-deflate", 1, 10, UVWS_EHANDSHAKE},
    {"permessage-deflate; client_max_window_bits", 1, 0, UVWS_EHANDSHAKE},
    {"permessage-deflate; server_no_context_takeover; "
     "server_no_context_takeover",
     1, 0, UVWS_EHANDSHAKE},
    {"x-webkit-deflate-frame", 1, 0, UVWS_EHANDSHAKE},
    {"permessage-deflate, permessage-deflate", 1, 0, UVWS_EHANDSHAKE},
    {"permessage-deflate", 0, 0, UVWS_ENOTOFFERED},
};
#define NBAD ((int)(sizeof(bad_answers) / sizeof(bad_answers[0])))

static int bad_raw_closed;

static void bad_read(raw_t *r) {
  size_t n = head_len(r);
  char key[64], accept[29], resp[512];
  int i;
  if (n == 0 || r->head_done)
    return;
  r->head_done = 1;
  CHECK(sscanf(r->in.base, "GET /%d ", &i) == 1);
  CHECK(i >= 0 && i < NBAD);
  CHECK(head_value(r->in.base, n, "Sec-WebSocket-Key", key, sizeof(key)));
  uvws__hs_accept(key, strlen(key), accept);
  snprintf(resp, sizeof(resp),
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
           "Sec-WebSocket-Extensions: %s\r\n\r\n",
           accept, bad_answers[i].answer);
  raw_write(r, resp, strlen(resp));
  /* The client must drop the connection: raw_read sees EOF. */
}

static void bad_accept(raw_t *r) {
  r->on_read = bad_read;
}

static int bad_errors[NBAD];

static void bad_error(uvws_conn_t *conn, int err) {
  rec_error(conn, err);
  bad_errors[(intptr_t)uvws_conn_get_data(conn)] = err;
}

static void bad_close(uvws_conn_t *conn, int code, const char *reason,
                      size_t len, int clean) {
  NOT_IN_API();
  CHECK_EQ(code, 1006);
  CHECK_EQ(clean, 0);
  (void)reason;
  (void)len;
  (void)conn;
  if (++C.close == NBAD) {
    uv_close((uv_handle_t *)&raw_listener, NULL);
    uvws_client_close(client, client_closed);
  }
}

static void test_bad_answers(void) {
  uvws_callbacks_t cc = plain_cbs;
  cc.on_error = bad_error;
  cc.on_close = bad_close;
  setup("answers the client refuses", NULL);
  bad_raw_closed = 0;
  raw_listen(bad_accept);
  for (int i = 0; i < NBAD; i++) {
    char url[64];
    uvws_connect_options_t o;
    uvws_deflate_options_t d;
    uvws_conn_t *conn;
    memset(&o, 0, sizeof(o));
    memset(&d, 0, sizeof(d));
    d.server_max_window_bits = bad_answers[i].smwb;
    o.deflate = bad_answers[i].offer ? &d : NULL;
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/%d", raw_port, i);
    CHECK_EQ(API(uvws_connect(client, url, &o, &cc, (void *)(intptr_t)i,
                              &conn)),
             0);
  }
  loop_run();
  CHECK_EQ(C.open, 0);
  CHECK_EQ(C.error, NBAD);
  CHECK_EQ(C.close, NBAD);
  for (int i = 0; i < NBAD; i++) {
    if (bad_errors[i] != bad_answers[i].err) {
      fprintf(stderr, "answer \"%s\": error %s, want %s\n",
              bad_answers[i].answer, uvws_err_name(bad_errors[i]),
              uvws_err_name(bad_answers[i].err));
      abort();
    }
  }
}

/* ----------------------------------------------------------------------- */
/* Answers the client accepts                                              */

static const struct {
  const char *headers; /* Sec-WebSocket-Extensions lines of the answer */
  const char *ext;     /* what uvws_conn_extensions() must report */
  int takeover;        /* the server keeps its context */
} good_answers[] = {
    {"Sec-WebSocket-Extensions: permessage-deflate\r\n", "permessage-deflate",
     1},
    {"Sec-WebSocket-Extensions: permessage-deflate; "
     "server_no_context_takeover; client_max_window_bits=10\r\n",
     "permessage-deflate; server_no_context_takeover; "
     "client_max_window_bits=10",
     0},
    {"Sec-WebSocket-Extensions: PerMessage-Deflate ;Server_Max_Window_Bits="
     "\"12\"\r\n",
     "PerMessage-Deflate ;Server_Max_Window_Bits=\"12\"", 1},
    /* An empty header first: the extension is in the second. */
    {"Sec-WebSocket-Extensions:\r\n"
     "Sec-WebSocket-Extensions: permessage-deflate\r\n",
     "permessage-deflate", 1},
};
#define NGOOD ((int)(sizeof(good_answers) / sizeof(good_answers[0])))

static char good_ext[NGOOD][256];
static int good_messages[NGOOD];

static void good_read(raw_t *r) {
  size_t n = head_len(r);
  char key[64], accept[29], resp[768];
  rframe_t f;
  int i;
  if (!r->head_done) {
    if (n == 0)
      return;
    r->head_done = 1;
    CHECK(sscanf(r->in.base, "GET /%d ", &i) == 1);
    CHECK(i >= 0 && i < NGOOD);
    r->id = i;
    CHECK(head_value(r->in.base, n, "Sec-WebSocket-Key", key, sizeof(key)));
    uvws__hs_accept(key, strlen(key), accept);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
             accept, good_answers[i].headers);
    raw_write(r, resp, strlen(resp));
    raw_consume(r, n);
    /* "Hello" twice (RFC 7692 7.2.3.1, and 7.2.3.2 when the window is
     * shared), then a close. */
    raw_frame(r, 1, UVWS__RSV1, UVWS__OP_TEXT, "\xf2\x48\xcd\xc9\xc9\x07\x00",
              7, NULL);
    if (good_answers[i].takeover)
      raw_frame(r, 1, UVWS__RSV1, UVWS__OP_TEXT, "\xf2\x00\x11\x00\x00", 5,
                NULL);
    else
      raw_frame(r, 1, UVWS__RSV1, UVWS__OP_TEXT,
                "\xf2\x48\xcd\xc9\xc9\x07\x00", 7, NULL);
    raw_frame(r, 1, 0, UVWS__OP_CLOSE, "\x03\xe8", 2, NULL);
  }
  /* The client's answer to the close; then the server closes TCP. */
  if (raw_next_frame(r, 1, &f)) {
    CHECK_EQ(f.op, UVWS__OP_CLOSE);
    raw_close(r);
  }
}

static void good_accept(raw_t *r) {
  r->on_read = good_read;
}

static void good_open(uvws_conn_t *conn) {
  rec_open(conn);
  snprintf(good_ext[(intptr_t)uvws_conn_get_data(conn)], 256, "%s",
           uvws_conn_extensions(conn));
}

static void good_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  NOT_IN_API();
  CHECK_EQ(type, UVWS_TEXT);
  CHECK_EQ(len, 5);
  CHECK(memcmp(data, "Hello", 5) == 0);
  good_messages[(intptr_t)uvws_conn_get_data(conn)]++;
}

static void good_close(uvws_conn_t *conn, int code, const char *reason,
                       size_t len, int clean) {
  NOT_IN_API();
  (void)conn;
  (void)reason;
  (void)len;
  CHECK_EQ(code, 1000);
  CHECK_EQ(clean, 1);
  if (++C.close == NGOOD) {
    uv_close((uv_handle_t *)&raw_listener, NULL);
    uvws_client_close(client, client_closed);
  }
}

static void test_good_answers(void) {
  uvws_callbacks_t cc = plain_cbs;
  uvws_deflate_options_t d;
  cc.on_open = good_open;
  cc.on_message = good_message;
  cc.on_close = good_close;
  memset(&d, 0, sizeof(d));
  setup("answers the client accepts", NULL);
  raw_listen(good_accept);
  for (int i = 0; i < NGOOD; i++) {
    char url[64];
    uvws_connect_options_t o;
    uvws_conn_t *conn;
    memset(&o, 0, sizeof(o));
    o.deflate = &d;
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/%d", raw_port, i);
    CHECK_EQ(API(uvws_connect(client, url, &o, &cc, (void *)(intptr_t)i,
                              &conn)),
             0);
  }
  loop_run();
  CHECK_EQ(C.open, NGOOD);
  CHECK_EQ(C.error, 0);
  for (int i = 0; i < NGOOD; i++) {
    CHECK_EQ(good_messages[i], 2);
    if (strcmp(good_ext[i], good_answers[i].ext) != 0) {
      fprintf(stderr, "answer %d: extensions \"%s\", want \"%s\"\n", i,
              good_ext[i], good_answers[i].ext);
      abort();
    }
  }
}

int main(void) {
  uvws_deflate_options_t cd, sd;
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stderr, NULL, _IONBF, 0);

  /* Defaults on both sides. */
  memset(&cd, 0, sizeof(cd));
  test_matrix("matrix, defaults", NULL, &cd, "permessage-deflate");

  /* The client asks for everything; small windows and levels. */
  memset(&cd, 0, sizeof(cd));
  cd.server_no_context_takeover = 1;
  cd.client_no_context_takeover = 1;
  cd.server_max_window_bits = 10;
  cd.client_max_window_bits = 9;
  cd.level = 1;
  cd.mem_level = 1;
  test_matrix("matrix, client asks no takeover, 10/9", NULL, &cd,
              "permessage-deflate; server_no_context_takeover; "
              "client_no_context_takeover; server_max_window_bits=10; "
              "client_max_window_bits=9");

  /* The server imposes everything. */
  memset(&cd, 0, sizeof(cd));
  memset(&sd, 0, sizeof(sd));
  sd.server_no_context_takeover = 1;
  sd.client_no_context_takeover = 1;
  sd.server_max_window_bits = 9;
  sd.client_max_window_bits = 11;
  sd.level = 9;
  test_matrix("matrix, server imposes no takeover, 9/11", &sd, &cd,
              "permessage-deflate; server_no_context_takeover; "
              "client_no_context_takeover; server_max_window_bits=9; "
              "client_max_window_bits=11");

  /* An 8-bit window for the server: it sends uncompressed (zlib cannot
   * write that window); the client still compresses. */
  memset(&cd, 0, sizeof(cd));
  cd.server_max_window_bits = 8;
  test_matrix("matrix, server window 8", NULL, &cd,
              "permessage-deflate; server_max_window_bits=8");

  memset(&cd, 0, sizeof(cd));
  test_fragments(&cd);
  cd.client_no_context_takeover = 1;
  cd.server_no_context_takeover = 1;
  test_fragments(&cd);

  test_one_side("server deflate.disable", 1, 1);
  test_one_side("client does not offer", 0, 0);

  test_wire_client();
  test_wire_server();
  test_bad_answers();
  test_good_answers();
  printf("test_deflate_loopback: passed\n");
  return 0;
}

/* Hostile input against a uvws server's limits, from raw TCP clients on
 * 127.0.0.1:
 *  - header floods: more headers than the parser keeps (64) and a header
 *    line longer than max_header_size get 431, at the boundary and far
 *    past it, and an endless head is cut off at max_header_size;
 *  - frame headers announcing 2^63-1 bytes (1009 at once, nothing
 *    buffered) and 2^63 bytes (1002: RFC 6455 5.2 reserves the top bit);
 *  - 1-byte continuation frames: a message of exactly max_fragments
 *    frames or exactly max_message_size bytes arrives; one more frame or
 *    byte fails the connection with 1009, and an endless stream is cut off
 *    with the defaults too;
 *  - max_connections: upgrades past it get 503 and succeed again once a
 *    connection has gone;
 *  - idle_timeout_ms: pings do not keep an idle connection open.
 * Each case counts the server's callbacks: a connection that was never
 * upgraded gets none, an upgraded one gets on_close exactly once. */
#include "hard_util.h"

#define KiB ((size_t)1024)

static lb_loop_t L;
static uvws_server_t *server;
static int port;

static struct {
  int open, message, error, close;
  int code, clean, last_error;
  size_t last_len;
  uvws_msg_type_t last_type;
  int close_server_on_close; /* end the case with the connection */
} S;

static void s_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  S.open++;
  (void)conn;
}

static void s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                      const char *data, size_t len) {
  LB_NOT_IN_API();
  S.message++;
  S.last_len = len;
  S.last_type = type;
  (void)conn;
  (void)data;
}

static void s_error(uvws_conn_t *conn, int err) {
  LB_NOT_IN_API();
  S.error++;
  S.last_error = err;
  (void)conn;
}

static void s_close(uvws_conn_t *conn, int code, const char *reason,
                    size_t len, int clean) {
  LB_NOT_IN_API();
  S.close++;
  S.code = code;
  S.clean = clean;
  (void)conn;
  (void)reason;
  (void)len;
  if (S.close_server_on_close)
    API_VOID(uvws_server_close(server, NULL));
}

static void start(const char *name, const uvws_limits_t *limits,
                  size_t max_connections) {
  uvws_server_options_t so;
  memset(&so, 0, sizeof(so));
  memset(&S, 0, sizeof(S));
  so.callbacks.on_open = s_open;
  so.callbacks.on_message = s_message;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = s_close;
  if (limits)
    so.limits = *limits;
  so.max_connections = max_connections;
  lb_loop_init(&L, name, 60000);
  server = lb_server(&L.loop, &so, &port);
}

static void end_server(hard_peer_t *p) {
  (void)p;
  uvws_server_close(server, NULL);
}

/* ----------------------------------------------------------------------- */
/* Header floods                                                           */

static void close_after_head(hard_peer_t *p) {
  CHECK_EQ(p->status, 101);
  lb_raw_send_close(&p->raw, 1000, NULL);
}

/* A request with extra header lines, answered with want; the server hands
 * nothing to the application unless it is 101. The Host header names port
 * 0 so that the head's length does not depend on the port. */
static void header_case(const char *name, const char *extra, int want) {
  hard_peer_t p;
  char *req;

  start(name, NULL, 0);
  memset(&p, 0, sizeof(p));
  req = lb_request("/", 0, extra);
  p.request = req;
  p.answer_close = 1;
  p.on_end = end_server;
  if (want == 101)
    p.after_head = close_after_head;
  hard_peer_start(&p, &L.loop, port);
  lb_loop_run(&L);
  CHECK_EQ(p.status, want);
  if (want != 101) {
    CHECK_EQ(S.open, 0);
    CHECK_EQ(S.close, 0);
    CHECK(p.eof); /* the server closed after its answer */
  } else {
    CHECK_EQ(S.open, 1);
    CHECK_EQ(S.close, 1);
    CHECK_EQ(S.clean, 1);
  }
  free(req);
}

/* n lines "X-Flood-i: v". */
static char *flood_lines(int n) {
  char *s = malloc((size_t)n * 24 + 1), *q = s;
  int i;
  CHECK(s != NULL);
  for (i = 0; i < n; i++)
    q += sprintf(q, "X-Flood-%04d: v\r\n", i);
  *q = '\0';
  return s;
}

/* One header "X-Big: aaa...", the whole head n bytes long. */
static char *big_line(size_t head_len) {
  char *probe = lb_request("/", 0, "X-Big: \r\n");
  size_t base = strlen(probe), n;
  char *s;
  free(probe);
  CHECK(head_len > base);
  n = head_len - base;
  s = malloc(n + 16);
  CHECK(s != NULL);
  memcpy(s, "X-Big: ", 7);
  memset(s + 7, 'a', n);
  memcpy(s + 7 + n, "\r\n", 3);
  return s;
}

static void test_header_floods(void) {
  char *x;

  /* The request has 5 headers of its own; the parser keeps 64. */
  x = flood_lines(59);
  header_case("64 headers: 101", x, 101);
  free(x);
  x = flood_lines(60);
  header_case("65 headers: 431", x, 431);
  free(x);
  x = flood_lines(600); /* 12 KiB: under the byte limit */
  header_case("605 headers: 431", x, 431);
  free(x);
  x = flood_lines(5000); /* 100 KiB */
  header_case("5005 headers (100 KiB): 431", x, 431);
  free(x);

  /* Byte limit: max_header_size (16 KiB) is the whole head, its empty
   * line included. */
  x = big_line(16 * KiB);
  header_case("a 16 KiB head: 101", x, 101);
  free(x);
  x = big_line(16 * KiB + 1);
  header_case("a 16 KiB + 1 head: 431", x, 431);
  free(x);
  x = big_line(1024 * KiB);
  header_case("a 1 MiB header line: 431", x, 431);
  free(x);
}

/* An endless head: bytes without a line end, written until the server
 * answers. It must answer once it holds max_header_size bytes, not wait
 * for more. */
static struct {
  hard_peer_t p;
  uv_timer_t t;
  size_t sent;
  char chunk[4096];
} E;

static void endless_tick(uv_timer_t *t) {
  (void)t;
  if (E.p.status != 0 || E.p.eof || E.sent > 64 * 1024 * KiB) {
    uv_close((uv_handle_t *)&E.t, NULL);
    return;
  }
  lb_raw_write(&E.p.raw, E.chunk, sizeof(E.chunk));
  E.sent += sizeof(E.chunk);
}

static void test_endless_head(void) {
  static const char start_line[] = "GET / HTTP/1.1\r\nX-Endless: ";
  start("an endless header line: 431 at 16 KiB", NULL, 0);
  memset(&E, 0, sizeof(E));
  memset(E.chunk, 'z', sizeof(E.chunk));
  E.p.request = start_line;
  E.p.on_end = end_server;
  hard_peer_start(&E.p, &L.loop, port);
  CHECK_EQ(uv_timer_init(&L.loop, &E.t), 0);
  CHECK_EQ(uv_timer_start(&E.t, endless_tick, 10, 1), 0);
  lb_loop_run(&L);
  CHECK_EQ(E.p.status, 431);
  /* Answered within a few chunks of the limit. */
  fprintf(stderr, "    431 after %zu bytes of head\n", E.sent);
  CHECK(E.sent <= 1024 * KiB);
  CHECK_EQ(S.open, 0);
  CHECK_EQ(S.close, 0);
}

/* ----------------------------------------------------------------------- */
/* Frame lengths at 2^63                                                   */

typedef struct {
  uint64_t len;
  int want_code, want_err;
  double sent_ms;
} huge_t;

static huge_t H;

static void huge_after_head(hard_peer_t *p) {
  uint8_t hdr[14];
  size_t n;
  CHECK_EQ(p->status, 101);
  /* The header alone, then nothing: the server must not wait for the
   * payload before it refuses. */
  n = lb_frame_header(hdr, 1, LB_OP_BINARY, lb_mask_key, H.len);
  lb_raw_write(&p->raw, hdr, n);
  H.sent_ms = lb_elapsed_ms(&L);
}

static void huge_case(const char *name, uint64_t len, int code, int err) {
  hard_peer_t p;
  start(name, NULL, 0);
  S.close_server_on_close = 1;
  memset(&H, 0, sizeof(H));
  H.len = len;
  memset(&p, 0, sizeof(p));
  p.answer_close = 1;
  p.timebase = &L;
  p.after_head = huge_after_head;
  hard_peer_start(&p, &L.loop, port);
  lb_loop_run(&L);
  CHECK_EQ(p.close_code, code);
  CHECK_ERR(S.last_error, err);
  CHECK_EQ(S.open, 1);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(S.code, code);
  CHECK_EQ(S.clean, 0);
  CHECK_EQ(S.message, 0);
  /* At once: no timer, no waiting for payload. */
  fprintf(stderr, "    close %d %.1f ms after the header\n", code,
          p.close_ms - H.sent_ms);
  CHECK(p.close_ms - H.sent_ms < 1000);
}

static void test_huge_lengths(void) {
  huge_case("length 2^63-1: 1009 at once", UINT64_C(0x7fffffffffffffff), 1009,
            UVWS_ETOOBIG);
  huge_case("length 2^63: 1002", UINT64_C(0x8000000000000000), 1002,
            UVWS_EPROTO);
  huge_case("length 2^64-1: 1002", UINT64_MAX, 1002, UVWS_EPROTO);
  /* Just over the limit announced: refused before any payload. */
  huge_case("length 64 MiB + 1: 1009", 64 * 1024 * KiB + 1, 1009,
            UVWS_ETOOBIG);
}

/* ----------------------------------------------------------------------- */
/* 1-byte continuation frames                                              */

static struct {
  size_t frames; /* frames in the message, the first included */
  int fin;       /* end the message with its last frame */
  uvws_limits_t limits;
  size_t chunk_frames; /* frames per write for endless streams */
  int endless;
  uv_timer_t t;
  size_t sent_frames;
} F;

/* frames 1-byte frames ("a" text, then continuations) into one buffer. */
static uint8_t *one_byte_frames(size_t first, size_t count, int fin_last,
                                size_t *len) {
  uint8_t *b = malloc(count * 7), *q = b;
  size_t i;
  CHECK(b != NULL);
  for (i = 0; i < count; i++) {
    int last = fin_last && i + 1 == count;
    q += lb_frame_header(q, last, first + i == 0 ? LB_OP_TEXT : LB_OP_CONT,
                         lb_mask_key, 1);
    *q++ = (uint8_t)('a' ^ lb_mask_key[0]);
  }
  *len = (size_t)(q - b);
  return b;
}

static void frag_after_head(hard_peer_t *p) {
  uint8_t *b;
  size_t len;
  CHECK_EQ(p->status, 101);
  b = one_byte_frames(0, F.frames, F.fin, &len);
  lb_raw_write(&p->raw, b, len);
  free(b);
  if (F.fin) {
    /* Then end cleanly, to see the message counted before close. */
    lb_raw_send_close(&p->raw, 1000, NULL);
  }
}

static void frag_case(const char *name, size_t frames, int fin,
                      const uvws_limits_t *limits, int want_code) {
  hard_peer_t p;
  start(name, limits, 0);
  S.close_server_on_close = 1;
  memset(&F, 0, sizeof(F));
  F.frames = frames;
  F.fin = fin;
  memset(&p, 0, sizeof(p));
  p.answer_close = 1;
  p.after_head = frag_after_head;
  hard_peer_start(&p, &L.loop, port);
  lb_loop_run(&L);
  CHECK_EQ(S.open, 1);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(p.close_code, want_code);
  if (want_code == 1000) {
    CHECK_EQ(S.message, 1);
    CHECK_EQ(S.last_len, frames);
    CHECK_EQ(S.last_type, UVWS_TEXT);
    CHECK_EQ(S.error, 0);
    CHECK_EQ(S.clean, 1);
  } else {
    CHECK_EQ(S.message, 0);
    CHECK_ERR(S.last_error, UVWS_ETOOBIG);
    CHECK_EQ(S.code, want_code);
  }
}

/* Endless: writes chunk_frames continuations every millisecond until the
 * server closes. */
static hard_peer_t FP;

static void endless_frag_tick(uv_timer_t *t) {
  uint8_t *b;
  size_t len;
  if (FP.close_code != -1 || FP.eof || F.sent_frames > 8 * 1000 * 1000) {
    uv_close((uv_handle_t *)t, NULL);
    return;
  }
  /* Keep at most a few MiB in flight: the test measures the server. */
  if (uv_stream_get_write_queue_size((uv_stream_t *)&FP.raw.tcp) > 4 << 20)
    return;
  b = one_byte_frames(F.sent_frames, F.chunk_frames, 0, &len);
  lb_raw_write(&FP.raw, b, len);
  free(b);
  F.sent_frames += F.chunk_frames;
}

static void endless_frag_head(hard_peer_t *p) {
  CHECK_EQ(p->status, 101);
  CHECK_EQ(uv_timer_start(&F.t, endless_frag_tick, 0, 1), 0);
}

static void endless_frag_case(const char *name, const uvws_limits_t *limits,
                              size_t chunk) {
  start(name, limits, 0);
  S.close_server_on_close = 1;
  memset(&F, 0, sizeof(F));
  F.chunk_frames = chunk;
  CHECK_EQ(uv_timer_init(&L.loop, &F.t), 0);
  memset(&FP, 0, sizeof(FP));
  FP.answer_close = 1;
  FP.after_head = endless_frag_head;
  hard_peer_start(&FP, &L.loop, port);
  lb_loop_run(&L);
  CHECK_EQ(FP.close_code, 1009);
  CHECK_ERR(S.last_error, UVWS_ETOOBIG);
  CHECK_EQ(S.message, 0);
  CHECK_EQ(S.close, 1);
  fprintf(stderr, "    1009 after %zu frames written\n", F.sent_frames);
}

static void test_continuations(void) {
  uvws_limits_t l;

  memset(&l, 0, sizeof(l));
  l.max_fragments = 1000;
  frag_case("1000 frames, max_fragments 1000: delivered", 1000, 1, &l, 1000);
  frag_case("1001 frames, max_fragments 1000: 1009", 1001, 0, &l, 1009);

  memset(&l, 0, sizeof(l));
  l.max_message_size = 4096;
  frag_case("4096 1-byte frames, max_message_size 4096: delivered", 4096, 1,
            &l, 1000);
  frag_case("4097 1-byte frames, max_message_size 4096: 1009", 4097, 0, &l,
            1009);

  /* Whichever limit comes first. */
  memset(&l, 0, sizeof(l));
  l.max_message_size = 4096;
  l.max_fragments = 2000;
  frag_case("2001 frames, 2000 frames / 4096 bytes: 1009", 2001, 0, &l, 1009);

  /* Endless, with the defaults (131072 frames) and with a size limit. */
  endless_frag_case("endless 1-byte continuations, defaults: 1009", NULL,
                    4096);
  memset(&l, 0, sizeof(l));
  l.max_message_size = 64 * KiB;
  l.max_fragments = 1u << 30;
  endless_frag_case("endless continuations, 64 KiB limit: 1009", &l, 1024);
}

/* ----------------------------------------------------------------------- */
/* max_connections                                                         */

#define MAXC 4
static hard_peer_t MC[MAXC + 2];
static int mc_phase;

static void mc_head(hard_peer_t *p);

static void mc_end(hard_peer_t *p) {
  int i, open = 0;
  (void)p;
  for (i = 0; i < MAXC + 2; i++)
    open += MC[i].status == 101 && !MC[i].raw.closed && !MC[i].eof;
  if (mc_phase == 2 && open == 0)
    uvws_server_close(server, NULL);
}

static void mc_head(hard_peer_t *p) {
  int i, done = 0;
  for (i = 0; i < MAXC + 1; i++)
    done += MC[i].status != 0;
  if (mc_phase == 0 && done == MAXC + 1) {
    /* MAXC accepted, one refused. Free a place, then try again. */
    mc_phase = 1;
    for (i = 0; i < MAXC; i++)
      CHECK_EQ(MC[i].status, 101);
    CHECK_EQ(MC[MAXC].status, 503);
    lb_raw_send_close(&MC[0].raw, 1000, NULL);
    return;
  }
  if (p == &MC[MAXC + 1]) {
    CHECK_EQ(p->status, 101);
    mc_phase = 2;
    for (i = 1; i < MAXC + 2; i++)
      if (MC[i].status == 101)
        lb_raw_send_close(&MC[i].raw, 1000, NULL);
  }
}

static void mc_close_hook(uvws_conn_t *conn, int code, const char *reason,
                          size_t len, int clean) {
  s_close(conn, code, reason, len, clean);
  if (mc_phase == 1 && S.close == 1) {
    memset(&MC[MAXC + 1], 0, sizeof(MC[0]));
    MC[MAXC + 1].after_head = mc_head;
    MC[MAXC + 1].on_end = mc_end;
    hard_peer_start(&MC[MAXC + 1], &L.loop, port);
  }
}

static void test_max_connections(void) {
  uvws_server_options_t so;
  int i;

  memset(&so, 0, sizeof(so));
  memset(&S, 0, sizeof(S));
  so.callbacks.on_open = s_open;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = mc_close_hook;
  so.max_connections = MAXC;
  lb_loop_init(&L, "max_connections 4: the 5th gets 503", 30000);
  server = lb_server(&L.loop, &so, &port);
  mc_phase = 0;
  memset(MC, 0, sizeof(MC));
  for (i = 0; i < MAXC + 1; i++) {
    MC[i].after_head = mc_head;
    MC[i].on_end = mc_end;
  }
  /* One after the other, so the refused one is the last. */
  for (i = 0; i < MAXC; i++)
    hard_peer_start(&MC[i], &L.loop, port);
  while (MC[0].status == 0 || MC[1].status == 0 || MC[2].status == 0 ||
         MC[3].status == 0)
    uv_run(&L.loop, UV_RUN_ONCE);
  hard_peer_start(&MC[MAXC], &L.loop, port);
  lb_loop_run(&L);
  CHECK_EQ(mc_phase, 2);
  CHECK_EQ(S.open, MAXC + 1);
  CHECK_EQ(S.close, MAXC + 1);
  CHECK_EQ(S.error, 0);
}

/* ----------------------------------------------------------------------- */
/* idle_timeout_ms                                                         */

static uv_timer_t idle_pinger;
static hard_peer_t IP;

static void idle_ping(uv_timer_t *t) {
  if (IP.close_code != -1 || IP.eof) {
    uv_close((uv_handle_t *)t, NULL);
    return;
  }
  lb_raw_send_frame(&IP.raw, 1, LB_OP_PING, "x", 1);
}

static void idle_head(hard_peer_t *p) {
  CHECK_EQ(p->status, 101);
  CHECK_EQ(uv_timer_start(&idle_pinger, idle_ping, 50, 50), 0);
}

static void test_idle_timeout(void) {
  uvws_limits_t l;
  memset(&l, 0, sizeof(l));
  l.idle_timeout_ms = 400;
  start("idle_timeout_ms 400 with pings every 50 ms: 1001", &l, 0);
  S.close_server_on_close = 1;
  CHECK_EQ(uv_timer_init(&L.loop, &idle_pinger), 0);
  memset(&IP, 0, sizeof(IP));
  IP.answer_close = 1;
  IP.timebase = &L;
  IP.after_head = idle_head;
  hard_peer_start(&IP, &L.loop, port);
  lb_loop_run(&L);
  CHECK_EQ(IP.close_code, 1001);
  CHECK_STR(IP.close_reason, "idle timeout");
  CHECK(IP.pongs >= 4);
  fprintf(stderr, "    closed %.1f ms after the loop started\n", IP.close_ms);
  /* libuv's clock has millisecond steps and is read once per iteration:
   * a few milliseconds early is the same deadline. */
  CHECK(IP.close_ms >= 390 && IP.close_ms < 3000);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(S.code, 1001);
  CHECK_EQ(S.clean, 1);
}

int main(void) {
  lb_setup();
  test_header_floods();
  test_endless_head();
  test_huge_lengths();
  test_continuations();
  test_max_connections();
  test_idle_timeout();
  printf("test_abuse_limits: all passed\n");
  return 0;
}

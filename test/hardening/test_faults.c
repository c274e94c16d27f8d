/* Faults injected into a uvws server's connections, counted on the server:
 * every connection handed to the application gets on_close exactly once
 * (a second call would use a freed mark and AddressSanitizer would stop
 * the test), connections that never upgraded get no callback at all, send
 * completion callbacks run exactly once, and when each batch ends the
 * server holds no connection and the loop closes with no handle left.
 * LeakSanitizer (or valgrind, see CMakeLists.txt) checks that nothing
 * leaked.
 *
 * Raw TCP peers follow scripts of writes, waits, resets (SO_LINGER 0, so
 * the kernel sends RST) and half-closes (shutdown of the sending side),
 * with the cut points drawn at random (fixed seed, printed):
 *  - mid-handshake: a reset, or FIN, after part of the request; a reset
 *    right after a whole request;
 *  - mid-frame: a reset or FIN after part of a frame of up to 256 KiB; a
 *    reset while the server streams 8 MiB to the peer with nocopy sends;
 *  - mid-close: a reset after the peer's close frame, in the middle of it,
 *    or instead of answering the server's close;
 *  - half-closed: a whole frame then FIN (the message is delivered, then
 *    the connection ends), a close frame then FIN (a clean close).
 * Over TLS, test/hardening/tls_peer.py resets in the middle of the TLS
 * handshake and after a few records, sends close_notify in the middle of
 * a frame, a record that does not decrypt, plaintext alerts mid-stream and
 * in the handshake, and resets in the closing handshake.
 *
 * UVWS_FAULT_ROUNDS sets the connections per scenario (default 40);
 * UVWS_HARD_QUICK=1 (the valgrind run) uses 4. */
#include "hard_util.h"

#define KiB ((size_t)1024)
#define MiB (KiB * KiB)

static lb_loop_t L;
static uvws_server_t *server;
static int port, tls_port;
static uint64_t rng = 0x9e3779b97f4a7c15u;
static int rounds;
static long faults_total;

static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return n ? (uint32_t)(rng % n) : 0;
}

/* ----------------------------------------------------------------------- */
/* The server                                                              */

static struct {
  int open, message, error, close, clean;
  int send_cbs, sends;
  size_t message_bytes;
} S;

typedef struct {
  int closed;
  int pending_sends;
} mark_t;

#define STREAM_MSG (1 * MiB)
#define STREAM_N 8
static char *stream_buf;

static void send_done(uvws_conn_t *conn, void *arg, int status) {
  mark_t *m = arg;
  (void)conn;
  (void)status;
  LB_NOT_IN_API();
  CHECK(m->pending_sends > 0);
  m->pending_sends--;
  S.send_cbs++;
}

static void s_open(uvws_conn_t *conn) {
  mark_t *m = calloc(1, sizeof(*m));
  const char *url = uvws_conn_url(conn);
  int i;
  LB_NOT_IN_API();
  CHECK(m != NULL);
  S.open++;
  uvws_conn_set_data(conn, m);
  if (strcmp(url, "/stream") == 0) {
    for (i = 0; i < STREAM_N; i++) {
      CHECK_ERR(API(uvws_conn_send_nocopy(conn, UVWS_BINARY, stream_buf,
                                          STREAM_MSG, send_done, m)),
                0);
      m->pending_sends++;
      S.sends++;
    }
  } else if (strcmp(url, "/close") == 0) {
    CHECK_ERR(API(uvws_conn_close(conn, 4000, "server first", 12)), 0);
  }
}

static void s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                      const char *data, size_t len) {
  LB_NOT_IN_API();
  S.message++;
  S.message_bytes += len;
  /* Echo: the answer may meet a peer that is gone. */
  (void)uvws_conn_send(conn, type, data, len);
}

static void s_error(uvws_conn_t *conn, int err) {
  mark_t *m = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  CHECK(m != NULL && !m->closed);
  (void)err;
  S.error++;
}

static void s_close(uvws_conn_t *conn, int code, const char *reason,
                    size_t len, int clean) {
  mark_t *m = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  (void)code;
  (void)reason;
  (void)len;
  CHECK(m != NULL && !m->closed);
  /* Every send completion came before on_close. */
  CHECK_EQ(m->pending_sends, 0);
  m->closed = 1;
  free(m);
  S.close++;
  S.clean += clean;
}

/* ----------------------------------------------------------------------- */
/* Scripted peers                                                          */

enum {
  ST_WRITE,      /* write bytes, go on when written */
  ST_SLEEP,      /* ms */
  ST_WAIT_HEAD,  /* until the answer's head */
  ST_WAIT_CLOSE, /* until the server's close frame */
  ST_WAIT_BYTES, /* until n payload bytes were read */
  ST_WAIT_EOF,   /* until the server closes TCP */
  ST_RESET,      /* close with RST; the script ends */
  ST_SHUT,       /* shutdown(SHUT_WR) */
  ST_END         /* close normally (if still open); the script ends */
};

typedef struct {
  int op;
  size_t n;
  uint8_t *data; /* ST_WRITE: owned */
} step_t;

#define MAX_STEPS 8

typedef struct fpeer_s {
  hard_peer_t hp; /* first */
  step_t steps[MAX_STEPS];
  int nsteps, at;
  int busy; /* a write or a timer in progress */
  int done;
  uv_timer_t timer;
  int timer_open;
  uv_write_t wreq;
  uv_buf_t wbuf;
} fpeer_t;

static fpeer_t *peers;
static int npeers, ndone, timers_closed;

static void timer_closed(uv_handle_t *h) {
  (void)h;
  timers_closed++;
}

static void advance(fpeer_t *p);

static void peer_done(fpeer_t *p) {
  if (p->done)
    return;
  p->done = 1;
  ndone++;
  if (p->timer_open) {
    p->timer_open = 0;
    uv_close((uv_handle_t *)&p->timer, timer_closed);
  }
}

static void peer_wrote(uv_write_t *req, int status) {
  fpeer_t *p = req->data;
  (void)status; /* a write may fail once the server is gone */
  p->busy = 0;
  p->at++;
  advance(p);
}

static void peer_slept(uv_timer_t *t) {
  fpeer_t *p = t->data;
  p->busy = 0;
  p->at++;
  advance(p);
}

static void on_head(hard_peer_t *hp) {
  advance((fpeer_t *)hp);
}

static void on_frame(hard_peer_t *hp, const lb_frame_t *f,
                     const uint8_t *pl) {
  (void)f;
  (void)pl;
  advance((fpeer_t *)hp);
}

static void on_end(hard_peer_t *hp) {
  fpeer_t *p = (fpeer_t *)hp;
  advance(p);
  /* The connection is over whatever the script still wanted. */
  peer_done(p);
}

static void advance(fpeer_t *p) {
  hard_peer_t *hp = &p->hp;
  while (!p->done && !p->busy && p->at < p->nsteps) {
    step_t *s = &p->steps[p->at];
    int closed = hp->raw.closed || uv_is_closing((uv_handle_t *)&hp->raw.tcp);
    switch (s->op) {
    case ST_WRITE:
      if (closed || hp->eof) {
        p->at++;
        continue;
      }
      p->wbuf = uv_buf_init((char *)s->data, (unsigned)s->n);
      p->wreq.data = p;
      if (uv_write(&p->wreq, (uv_stream_t *)&hp->raw.tcp, &p->wbuf, 1,
                   peer_wrote) != 0) {
        p->at++;
        continue;
      }
      p->busy = 1;
      return;
    case ST_SLEEP:
      p->busy = 1;
      CHECK_EQ(uv_timer_start(&p->timer, peer_slept, s->n, 0), 0);
      return;
    case ST_WAIT_HEAD:
      if (hp->status == 0 && !hp->eof)
        return;
      break;
    case ST_WAIT_CLOSE:
      if (hp->close_code == -1 && !hp->eof)
        return;
      break;
    case ST_WAIT_BYTES:
      if (hp->payload < s->n && !hp->eof)
        return;
      break;
    case ST_WAIT_EOF:
      if (!hp->eof)
        return;
      break;
    case ST_RESET:
      if (!closed)
        hard_raw_reset(&hp->raw);
      faults_total++;
      peer_done(p);
      return;
    case ST_SHUT:
      if (!closed && !hp->eof) {
        hard_raw_shutdown(&hp->raw);
        faults_total++;
      }
      break;
    case ST_END:
      if (!closed)
        lb_raw_close(&hp->raw);
      peer_done(p);
      return;
    }
    p->at++;
  }
}

static void on_connect(hard_peer_t *hp) {
  advance((fpeer_t *)hp);
}

static fpeer_t *new_peer(void) {
  fpeer_t *p = &peers[npeers++];
  memset(p, 0, sizeof(*p));
  /* The request goes through the script, not hard_peer's own write. */
  p->hp.silent = 1;
  p->hp.answer_close = 1;
  p->hp.on_connect = on_connect;
  p->hp.after_head = on_head;
  p->hp.on_frame = on_frame;
  p->hp.on_end = on_end;
  p->hp.data = p;
  CHECK_EQ(uv_timer_init(&L.loop, &p->timer), 0);
  p->timer.data = p;
  p->timer_open = 1;
  return p;
}

static void add(fpeer_t *p, int op, size_t n, const void *data) {
  step_t *s = &p->steps[p->nsteps++];
  CHECK(p->nsteps <= MAX_STEPS);
  s->op = op;
  s->n = n;
  if (op == ST_WRITE) {
    s->data = malloc(n ? n : 1);
    CHECK(s->data != NULL);
    memcpy(s->data, data, n);
  }
}

static void add_request(fpeer_t *p, const char *target, size_t cut) {
  char *req = lb_request(target, port, NULL);
  size_t n = strlen(req);
  add(p, ST_WRITE, cut && cut < n ? cut : n, req);
  free(req);
}

/* A masked frame of len bytes of payload; *n gets its length. */
static uint8_t *make_frame(unsigned op, size_t len, size_t *n) {
  char *pl = malloc(len ? len : 1);
  uint8_t *f;
  CHECK(pl != NULL);
  lb_fill(pl, len, op == LB_OP_TEXT, (unsigned)len);
  f = lb_frame(1, op, lb_mask_key, pl, len, n);
  free(pl);
  return f;
}

/* A frame, whole or (partial) cut at a random byte before its end. */
static void add_frame(fpeer_t *p, unsigned op, size_t len, int partial) {
  size_t n;
  uint8_t *f = make_frame(op, len, &n);
  add(p, ST_WRITE, partial ? 1 + rnd((uint32_t)n - 1) : n, f);
  free(f);
}

static void add_close_frame(fpeer_t *p, size_t cut) {
  uint8_t body[2] = {0x03, 0xe8};
  size_t n;
  uint8_t *f = lb_frame(1, LB_OP_CLOSE, lb_mask_key, body, 2, &n);
  add(p, ST_WRITE, cut && cut < n ? cut : n, f);
  free(f);
}

/* ----------------------------------------------------------------------- */
/* Batches                                                                 */

typedef void (*build_fn)(fpeer_t *p, int i);

static void start_server(void) {
  uvws_server_options_t so;
  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = s_open;
  so.callbacks.on_message = s_message;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = s_close;
  /* Peers that linger are not waited for long. */
  so.limits.close_timeout_ms = 1000;
  so.limits.handshake_timeout_ms = 2000;
#ifdef UVWS_WITH_TLS
  {
    const char *certs = getenv("UVWS_TEST_CERTS");
    static char cert[512], key[512];
    if (certs != NULL) {
      snprintf(cert, sizeof(cert), "%s/server.crt", certs);
      snprintf(key, sizeof(key), "%s/server.key", certs);
      so.tls.cert_file = cert;
      so.tls.key_file = key;
    }
  }
#endif
  server = lb_server(&L.loop, &so, &port);
  tls_port = 0;
  if (so.tls.cert_file != NULL) {
    CHECK_EQ(uvws_server_listen_tls(server, "127.0.0.1", 0, 0), 0);
    tls_port = uvws_server_port(server);
  }
}

/* Runs rounds peers built by build, all at once, until every script is
 * done and the server holds no connection; then checks the totals. */
static void batch(const char *name, const char *target, build_fn build,
                  int want_open, int want_message, int want_clean) {
  int i;
  double t0 = lb_elapsed_ms(&L);
  memset(&S, 0, sizeof(S));
  peers = calloc((size_t)rounds, sizeof(*peers));
  CHECK(peers != NULL);
  npeers = ndone = timers_closed = 0;
  (void)target;
  for (i = 0; i < rounds; i++) {
    fpeer_t *p = new_peer();
    build(p, i);
    hard_peer_start(&p->hp, &L.loop, port);
  }
  while (ndone < rounds || uvws_server_connections(server) > 0 ||
         timers_closed < rounds)
    uv_run(&L.loop, UV_RUN_ONCE);
  /* Let handle closes finish before the memory goes. */
  for (i = 0; i < rounds; i++)
    if (!peers[i].hp.raw.closed &&
        !uv_is_closing((uv_handle_t *)&peers[i].hp.raw.tcp))
      lb_raw_close(&peers[i].hp.raw);
  for (i = 0; i < rounds; i++)
    while (!peers[i].hp.raw.closed)
      uv_run(&L.loop, UV_RUN_ONCE);
  uv_run(&L.loop, UV_RUN_NOWAIT);
  fprintf(stderr,
          "  %-44s open %3d close %3d clean %3d messages %3d errors %3d "
          "(%.0f ms)\n",
          name, S.open, S.close, S.clean, S.message, S.error,
          lb_elapsed_ms(&L) - t0);
  CHECK_EQ(S.open, S.close);
  CHECK_EQ(S.send_cbs, S.sends);
  if (want_open >= 0)
    CHECK_EQ(S.open, want_open);
  if (want_message >= 0)
    CHECK_EQ(S.message, want_message);
  if (want_clean >= 0)
    CHECK_EQ(S.clean, want_clean);
  for (i = 0; i < rounds; i++)
    for (int k = 0; k < peers[i].nsteps; k++)
      free(peers[i].steps[k].data);
  free(peers);
}

static void b_hs_reset(fpeer_t *p, int i) {
  (void)i;
  add_request(p, "/echo", 1 + rnd(150));
  add(p, ST_SLEEP, rnd(10), NULL);
  add(p, ST_RESET, 0, NULL);
}

static void b_hs_reset_whole(fpeer_t *p, int i) {
  (void)i;
  add_request(p, "/echo", 0);
  if (i % 2)
    add(p, ST_SLEEP, rnd(3), NULL);
  add(p, ST_RESET, 0, NULL);
}

static void b_hs_fin(fpeer_t *p, int i) {
  (void)i;
  add_request(p, "/echo", 1 + rnd(150));
  add(p, ST_SHUT, 0, NULL);
  add(p, ST_WAIT_EOF, 0, NULL);
  add(p, ST_END, 0, NULL);
}

static void b_frame_reset(fpeer_t *p, int i) {
  size_t len = rnd(4) == 0 ? rnd(256 * KiB) : rnd(300);
  (void)i;
  add_request(p, "/echo", 0);
  add(p, ST_WAIT_HEAD, 0, NULL);
  add_frame(p, LB_OP_BINARY, len + 1, 1);
  add(p, ST_SLEEP, rnd(10), NULL);
  add(p, ST_RESET, 0, NULL);
}

static void b_frame_fin(fpeer_t *p, int i) {
  size_t len = rnd(300);
  (void)i;
  add_request(p, "/echo", 0);
  add(p, ST_WAIT_HEAD, 0, NULL);
  add_frame(p, LB_OP_TEXT, len + 1, 1);
  add(p, ST_SHUT, 0, NULL);
  add(p, ST_WAIT_EOF, 0, NULL);
  add(p, ST_END, 0, NULL);
}

static void b_stream_reset(fpeer_t *p, int i) {
  (void)i;
  add_request(p, "/stream", 0);
  add(p, ST_WAIT_HEAD, 0, NULL);
  add(p, ST_WAIT_BYTES, rnd(STREAM_N * STREAM_MSG / 2), NULL);
  add(p, ST_RESET, 0, NULL);
}

static void b_close_reset(fpeer_t *p, int i) {
  add_request(p, "/echo", 0);
  add(p, ST_WAIT_HEAD, 0, NULL);
  /* The whole close frame or part of it, then a reset. */
  add_close_frame(p, i % 2 ? 0 : 1 + rnd(7));
  if (i % 3 == 0)
    add(p, ST_SLEEP, rnd(5), NULL);
  add(p, ST_RESET, 0, NULL);
}

static void b_server_close_reset(fpeer_t *p, int i) {
  (void)i;
  p->hp.answer_close = 0;
  add_request(p, "/close", 0);
  add(p, ST_WAIT_CLOSE, 0, NULL);
  add(p, ST_RESET, 0, NULL);
}

static void b_half_close_frame(fpeer_t *p, int i) {
  (void)i;
  add_request(p, "/echo", 0);
  add(p, ST_WAIT_HEAD, 0, NULL);
  add_frame(p, LB_OP_TEXT, 1 + rnd(2000), 0);
  add(p, ST_SHUT, 0, NULL);
  add(p, ST_WAIT_EOF, 0, NULL);
  add(p, ST_END, 0, NULL);
}

static void b_half_close_after_close(fpeer_t *p, int i) {
  (void)i;
  add_request(p, "/echo", 0);
  add(p, ST_WAIT_HEAD, 0, NULL);
  add_close_frame(p, 0);
  add(p, ST_SHUT, 0, NULL);
  add(p, ST_WAIT_EOF, 0, NULL);
  add(p, ST_END, 0, NULL);
}

/* ----------------------------------------------------------------------- */
/* TLS, through tls_peer.py                                                */

static struct {
  uv_process_t proc;
  uv_pipe_t out;
  int exited;
  int64_t status;
  char text[4096];
  size_t len;
} T;

static void tls_exit(uv_process_t *p, int64_t status, int sig) {
  (void)sig;
  T.exited = 1;
  T.status = status;
  uv_close((uv_handle_t *)p, NULL);
}

static void tls_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  (void)h;
  (void)s;
  *b = uv_buf_init(T.text + T.len, (unsigned)(sizeof(T.text) - 1 - T.len));
}

static void tls_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  if (n < 0) {
    uv_close((uv_handle_t *)s, NULL);
    return;
  }
  T.len += (size_t)n;
  T.text[T.len] = '\0';
}

static void test_tls(void) {
  const char *script = getenv("UVWS_HARD_TLS_PEER");
  char port_s[16], rounds_s[16];
  char *args[] = {"/usr/bin/python3", (char *)script, port_s, rounds_s, NULL};
  uv_process_options_t o;
  uv_stdio_container_t io[3];
  int total = 0, upgraded = 0;
  const char *p;
  double t0 = lb_elapsed_ms(&L);

  if (tls_port == 0 || script == NULL || access(args[0], X_OK) != 0) {
    fprintf(stderr, "  TLS faults skipped: %s\n",
            tls_port == 0 ? "no TLS certificates ($UVWS_TEST_CERTS)"
                          : "no tls_peer.py or /usr/bin/python3");
    return;
  }
  memset(&S, 0, sizeof(S));
  memset(&T, 0, sizeof(T));
  snprintf(port_s, sizeof(port_s), "%d", tls_port);
  snprintf(rounds_s, sizeof(rounds_s), "%d", rounds / 4 > 2 ? rounds / 4 : 2);
  CHECK_EQ(uv_pipe_init(&L.loop, &T.out, 0), 0);
  memset(&o, 0, sizeof(o));
  io[0].flags = UV_IGNORE;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&T.out;
  io[2].flags = UV_INHERIT_FD;
  io[2].data.fd = 2;
  o.file = args[0];
  o.args = args;
  o.stdio = io;
  o.stdio_count = 3;
  o.exit_cb = tls_exit;
  CHECK_EQ(uv_spawn(&L.loop, &T.proc, &o), 0);
  CHECK_EQ(uv_read_start((uv_stream_t *)&T.out, tls_alloc, tls_read), 0);
  while (!T.exited || uvws_server_connections(server) > 0)
    uv_run(&L.loop, UV_RUN_ONCE);
  uv_run(&L.loop, UV_RUN_NOWAIT);
  p = strstr(T.text, "total ");
  CHECK(p != NULL && sscanf(p, "total %d upgraded %d", &total, &upgraded) == 2);
  fprintf(stderr, "%s", T.text);
  fprintf(stderr,
          "  %-44s open %3d close %3d clean %3d messages %3d errors %3d "
          "(%.0f ms)\n",
          "TLS faults (tls_peer.py)", S.open, S.close, S.clean, S.message,
          S.error, lb_elapsed_ms(&L) - t0);
  CHECK_EQ(T.status, 0);
  CHECK_EQ(S.open, upgraded);
  CHECK_EQ(S.close, upgraded);
  /* Only a reset after the closing handshake can leave a clean close. */
  CHECK(S.clean <= atoi(rounds_s));
  faults_total += total;
}

int main(void) {
  unsigned long seed;
  lb_setup();
  rounds = (int)hard_env_long("UVWS_FAULT_ROUNDS", hard_quick() ? 4 : 40);
  seed = (unsigned long)hard_env_long("UVWS_FAULT_SEED", 1);
  rng ^= seed * 0x2545F4914F6CDD1Du;
  fprintf(stderr, "  seed %lu, %d connections per scenario\n", seed, rounds);
  stream_buf = malloc(STREAM_MSG);
  CHECK(stream_buf != NULL);
  lb_fill(stream_buf, STREAM_MSG, 0, 7);

  lb_loop_init(&L, "faults", 110000);
  start_server();
  batch("reset mid-handshake", "/echo", b_hs_reset, 0, 0, 0);
  batch("reset after the whole request", "/echo", b_hs_reset_whole, -1, 0,
        0);
  batch("FIN mid-handshake", "/echo", b_hs_fin, 0, 0, 0);
  batch("reset mid-frame (up to 256 KiB)", "/echo", b_frame_reset, rounds, 0,
        0);
  batch("FIN mid-frame", "/echo", b_frame_fin, rounds, 0, 0);
  batch("reset while the server streams 8 MiB", "/stream", b_stream_reset,
        rounds, 0, 0);
  batch("reset mid-close (peer's close)", "/echo", b_close_reset, rounds, 0,
        -1);
  batch("reset instead of answering a close", "/close",
        b_server_close_reset, rounds, 0, 0);
  batch("half-closed after a whole frame", "/echo", b_half_close_frame,
        rounds, rounds, 0);
  batch("half-closed after a close frame", "/echo", b_half_close_after_close,
        rounds, 0, rounds);
  test_tls();
  uvws_server_close(server, NULL);
  lb_loop_run(&L);
  free(stream_buf);
  printf("test_faults: %ld faults injected, every on_close exactly once\n",
         faults_total);
  return 0;
}

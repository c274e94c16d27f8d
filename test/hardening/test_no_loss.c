/* No data loss: numbered streams of messages both ways between uvws
 * clients and a uvws server on 127.0.0.1, with both readers pausing at
 * random (uvws_conn_pause / uvws_conn_resume for 1-15 ms at random
 * intervals) and senders kept busy up to a bufferedAmount window, then a
 * closing handshake started right after the closing side queued its last
 * messages. On the clean close (1000, was_clean) every message sent before
 * close() must have arrived exactly once, in order, with its type, length
 * and contents: message i of a stream is a pure function of (connection,
 * direction, i), so the receiver regenerates and compares each one.
 *
 * Three runs, each with 4 connections at once:
 *  A. the client closes; B. the server closes; C. permessage-deflate
 *     negotiated, some messages sent in 1-4 fragments, the client closes.
 * Sizes: 70% up to 128 bytes, 29% up to 8 KiB, 1% up to 128 KiB; a third
 * of the messages text (multi-byte UTF-8), the rest binary.
 *
 * UVWS_NOLOSS_MESSAGES sets the total checked over the three runs and both
 * directions (default 200000). */
#include "hard_util.h"

#define KiB ((size_t)1024)
#define NPAIRS 4
#define WINDOW (1024 * KiB) /* a sender stops queuing past this */
#define HOLD 50             /* the closer's last messages, sent with close */

static lb_loop_t L;
static uvws_server_t *server;
static uvws_client_t *client;
static int port;
static long checked;

typedef struct pair_s pair_t;

typedef struct {
  pair_t *pair;
  int is_client;
  uvws_conn_t *conn;
  uint32_t n;    /* messages each way */
  uint32_t sent; /* messages queued */
  uint32_t recv; /* messages received and checked */
  int closer;    /* this side starts the closing handshake */
  int closed_call; /* close() was called */
  int closed;      /* on_close came */
  int close_code, clean, errors;
  uv_timer_t pauser;
  int paused;
  uint64_t rng;
  int pauses;
} side_t;

struct pair_s {
  int idx;
  side_t c, s;
};

static pair_t pairs[NPAIRS];
static int deflate_run;
static char *scratch;
static int closed_sides;

/* ----------------------------------------------------------------------- */
/* Messages                                                                */

static uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

typedef struct {
  size_t len;
  int text;
  int parts; /* 1-4 (fragments in run C) */
  unsigned seed;
} spec_t;

/* Message i of pair p in direction dir (0: client to server). */
static spec_t spec(int p, int dir, uint32_t i) {
  uint64_t r = splitmix(((uint64_t)p << 40) ^ ((uint64_t)dir << 32) ^ i);
  unsigned bucket = (unsigned)(r % 100);
  spec_t s;
  r >>= 8;
  if (bucket < 70)
    s.len = (size_t)(r % 129);
  else if (bucket < 99)
    s.len = 129 + (size_t)(r % (8 * KiB - 129));
  else
    s.len = 8 * KiB + (size_t)(r % (120 * KiB));
  s.text = (r >> 24) % 3 == 0;
  s.parts = deflate_run ? 1 + (int)((r >> 30) % 4) : 1;
  s.seed = (unsigned)(splitmix(r) & 0x7fffffff);
  return s;
}

/* ----------------------------------------------------------------------- */
/* Sending                                                                 */

static void send_one(side_t *s) {
  spec_t m = spec(s->pair->idx, s->is_client ? 0 : 1, s->sent);
  uvws_msg_type_t type = m.text ? UVWS_TEXT : UVWS_BINARY;
  lb_fill(scratch, m.len, m.text, m.seed);
  if (m.parts == 1 || m.len < 8) {
    CHECK_ERR(API(uvws_conn_send(s->conn, type, scratch, m.len)), 0);
  } else {
    /* Cut at byte boundaries that may fall inside a UTF-8 character:
     * uvws checks text across the parts. */
    size_t off = 0;
    for (int k = 0; k < m.parts; k++) {
      size_t end = k + 1 == m.parts ? m.len : m.len * (size_t)(k + 1) / 4;
      if (end < off)
        end = off;
      CHECK_ERR(API(uvws_conn_send_fragment(s->conn, type, scratch + off,
                                            end - off, k + 1 == m.parts)),
                0);
      off = end;
    }
  }
  s->sent++;
}

/* The closer, once it has everything from its peer, sends its last HOLD
 * messages and close() at once: they are queued, not yet written, when
 * the closing handshake starts. */
static void maybe_finish(side_t *s) {
  if (!s->closer || s->closed_call || s->recv < s->n ||
      s->sent < s->n - HOLD)
    return;
  while (s->sent < s->n)
    send_one(s);
  s->closed_call = 1;
  CHECK_ERR(API(uvws_conn_close(s->conn, 1000, "done", 4)), 0);
}

static void send_more(side_t *s) {
  uint32_t limit = s->closer ? s->n - HOLD : s->n;
  if (s->conn == NULL || s->closed_call)
    return;
  while (s->sent < limit && uvws_conn_buffered_amount(s->conn) < WINDOW)
    send_one(s);
  maybe_finish(s);
}

/* ----------------------------------------------------------------------- */
/* Random slow reads                                                       */

static void pause_tick(uv_timer_t *t) {
  side_t *s = t->data;
  if (s->conn == NULL)
    return;
  s->rng = splitmix(s->rng);
  if (s->paused) {
    CHECK_ERR(uvws_conn_resume(s->conn), 0);
    s->paused = 0;
    CHECK_EQ(uv_timer_start(t, pause_tick, 1 + s->rng % 30, 0), 0);
  } else {
    if (uvws_conn_pause(s->conn) == 0) {
      s->paused = 1;
      s->pauses++;
    }
    CHECK_EQ(uv_timer_start(t, pause_tick, 1 + s->rng % 15, 0), 0);
  }
}

/* ----------------------------------------------------------------------- */
/* Callbacks, shared by both sides                                         */

static void on_open_side(side_t *s, uvws_conn_t *conn) {
  s->conn = conn;
  uvws_conn_set_data(conn, s);
  CHECK_EQ(uv_timer_start(&s->pauser, pause_tick, 1 + s->rng % 20, 0), 0);
  send_more(s);
}

static void on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  side_t *s = uvws_conn_get_data(conn);
  spec_t m;
  LB_NOT_IN_API();
  CHECK(s != NULL);
  CHECK(!s->closed_call); /* not delivered after close() */
  m = spec(s->pair->idx, s->is_client ? 1 : 0, s->recv);
  if (s->recv >= s->n || type != (m.text ? UVWS_TEXT : UVWS_BINARY) ||
      len != m.len || !lb_payload_ok(data, len, m.text, m.seed)) {
    fprintf(stderr,
            "pair %d, %s: message %u: got %s of %zu bytes, want %s of %zu "
            "(%u of %u received)\n",
            s->pair->idx, s->is_client ? "client" : "server", s->recv,
            type == UVWS_TEXT ? "text" : "binary", len,
            m.text ? "text" : "binary", m.len, s->recv, s->n);
    CHECK(0 && "lost, duplicated, reordered or corrupted message");
  }
  s->recv++;
  checked++;
  maybe_finish(s);
}

static void on_drain(uvws_conn_t *conn) {
  side_t *s = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  send_more(s);
}

static void on_error(uvws_conn_t *conn, int err) {
  side_t *s = uvws_conn_get_data(conn);
  fprintf(stderr, "%s error %s\n", s && s->is_client ? "client" : "server",
          uvws_err_name(err));
  if (s)
    s->errors++;
}

static void on_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t len, int clean) {
  side_t *s = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  (void)reason;
  (void)len;
  CHECK(s != NULL && !s->closed);
  s->closed = 1;
  s->close_code = code;
  s->clean = clean;
  s->conn = NULL;
  uv_close((uv_handle_t *)&s->pauser, NULL);
  if (++closed_sides == 2 * NPAIRS) {
    API_VOID(uvws_server_close(server, NULL));
    API_VOID(uvws_client_close(client, NULL));
  }
}

static void c_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  on_open_side(uvws_conn_get_data(conn), conn);
}

static void s_open(uvws_conn_t *conn) {
  int idx = -1;
  LB_NOT_IN_API();
  CHECK(sscanf(uvws_conn_url(conn), "/p%d", &idx) == 1);
  CHECK(idx >= 0 && idx < NPAIRS);
  on_open_side(&pairs[idx].s, conn);
}

/* ----------------------------------------------------------------------- */

static void run(const char *name, uint32_t n, int server_closes,
                int deflate) {
  uvws_server_options_t so;
  uvws_callbacks_t ccb = {c_open, on_message, on_error, on_close, on_drain};
  uvws_limits_t limits;
  uvws_deflate_options_t dopts;
  uvws_connect_options_t co;
  int i, pauses = 0;
  char url[64], path[16];
  long before = checked;

  memset(&limits, 0, sizeof(limits));
  limits.drain_low_water = WINDOW / 4;
  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = s_open;
  so.callbacks.on_message = on_message;
  so.callbacks.on_error = on_error;
  so.callbacks.on_close = on_close;
  so.callbacks.on_drain = on_drain;
  so.limits = limits;
  so.deflate.disable = !deflate;
  deflate_run = deflate;
  closed_sides = 0;

  lb_loop_init(&L, name, 110000);
  server = lb_server(&L.loop, &so, &port);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  memset(&dopts, 0, sizeof(dopts));
  memset(&co, 0, sizeof(co));
  co.limits = &limits;
  co.deflate = deflate ? &dopts : NULL;
  for (i = 0; i < NPAIRS; i++) {
    pair_t *p = &pairs[i];
    memset(p, 0, sizeof(*p));
    p->idx = i;
    p->c.pair = p->s.pair = p;
    p->c.is_client = 1;
    p->c.n = p->s.n = n;
    p->c.closer = !server_closes;
    p->s.closer = server_closes;
    p->c.rng = splitmix((uint64_t)i * 2 + 1);
    p->s.rng = splitmix((uint64_t)i * 2 + 2);
    CHECK_EQ(uv_timer_init(&L.loop, &p->c.pauser), 0);
    CHECK_EQ(uv_timer_init(&L.loop, &p->s.pauser), 0);
    p->c.pauser.data = &p->c;
    p->s.pauser.data = &p->s;
    snprintf(path, sizeof(path), "/p%d", i);
    CHECK_EQ(uvws_connect(client, lb_url(url, sizeof(url), port, path), &co,
                          &ccb, &p->c, &p->c.conn),
             0);
    p->c.conn = NULL; /* set again in on_open */
  }
  lb_loop_run(&L);

  for (i = 0; i < NPAIRS; i++) {
    pair_t *p = &pairs[i];
    CHECK(p->c.closed && p->s.closed);
    CHECK_EQ(p->c.close_code, 1000);
    CHECK_EQ(p->s.close_code, 1000);
    CHECK(p->c.clean && p->s.clean);
    CHECK_EQ(p->c.errors + p->s.errors, 0);
    CHECK_EQ(p->c.recv, n);
    CHECK_EQ(p->s.recv, n);
    pauses += p->c.pauses + p->s.pauses;
  }
  fprintf(stderr, "    %ld messages checked, %d pauses\n", checked - before,
          pauses);
}

int main(void) {
  long total = hard_env_long("UVWS_NOLOSS_MESSAGES", 200000);
  /* Per connection and direction: half the total in run A, a quarter in
   * B and in C, over NPAIRS connections and two directions. */
  uint32_t a = (uint32_t)(total / 2 / NPAIRS / 2);
  uint32_t bc = (uint32_t)(total / 4 / NPAIRS / 2);

  lb_setup();
  if (a < HOLD + 1)
    a = HOLD + 1;
  if (bc < HOLD + 1)
    bc = HOLD + 1;
  scratch = malloc(128 * KiB + 8 * KiB);
  CHECK(scratch != NULL);
  run("A: the client closes", a, 0, 0);
  run("B: the server closes", bc, 1, 0);
  run("C: deflate, fragments, the client closes", bc, 0, 1);
  free(scratch);
  printf("test_no_loss: %ld messages checked, none lost, duplicated or "
         "reordered\n",
         checked);
  return 0;
}

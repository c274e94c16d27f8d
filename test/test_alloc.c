/* Allocator hooks and the memory budget.
 *
 *  - every allocation of a server, a client and their connections goes
 *    through the allocators they were given, and all of it is given back:
 *    a full exchange (deflate, a message spanning reads, fragments, a
 *    ping, publish/subscribe, the closing handshake) on loopback, counted
 *    by a uvws_budget_t on each side;
 *  - the same exchange with the Nth allocation failing, for every N: no
 *    crash, no leak (the budgets are back to 0, ASan sees nothing), every
 *    connection that was handed out gets exactly one on_close, and the loop
 *    ends with every handle closed;
 *  - a budget reached by a peer's message closes that connection with 1009
 *    while the server goes on serving others within it;
 *  - allocators without their required functions are refused. */
#include "uvws.h"

#include <uv.h>

#include "test.h"

#define BIG (200 * 1024) /* spans several reads: reassembled */

/* ---- an allocator that fails on request ------------------------------- */

typedef struct {
  long count;   /* allocations so far (malloc, calloc, realloc) */
  long fail_at; /* this one returns NULL; 0: none */
  long failed;
} faulty_t;

static int faulty_fails(faulty_t *f) {
  f->count++;
  if (f->fail_at != 0 && f->count == f->fail_at) {
    f->failed++;
    return 1;
  }
  return 0;
}

static void *f_malloc(void *user, size_t n) {
  return faulty_fails(user) ? NULL : malloc(n);
}

static void *f_realloc(void *user, void *p, size_t n) {
  return faulty_fails(user) ? NULL : realloc(p, n);
}

static void *f_calloc(void *user, size_t c, size_t n) {
  return faulty_fails(user) ? NULL : calloc(c, n);
}

static void f_free(void *user, void *p) {
  (void)user;
  free(p);
}

/* ---- the exchange -------------------------------------------------------- */

typedef struct {
  uv_loop_t loop;
  uv_timer_t guard;
  uvws_server_t *server;
  uvws_client_t *client;
  uvws_conn_t *cconn; /* the client's connection while it lives */
  int client_handed;  /* uvws_connect() returned 0 */
  int client_closes;
  int client_close_code;
  int client_msgs;
  int expect[4]; /* what the client's accepted sends should bring back */
  int nexpect;
  int sends_failed;
  int server_opens, server_closes;
  int server_close_code;
  int contexts_open;
  char *big;
} run_t;

static void stop_all(run_t *r);

static void s_open(uvws_conn_t *c) {
  run_t *r = uvws_server_get_data(uvws_conn_server(c));
  r->server_opens++;
  uvws_conn_set_data(c, r);
  if (uvws_conn_subscribe(c, "news") != 0)
    (void)uvws_conn_close(c, 4000, "no subscription", 15);
}

static void s_message(uvws_conn_t *c, uvws_msg_type_t type, const char *data,
                      size_t len) {
  run_t *r = uvws_conn_get_data(c);
  if (len == 3 && memcmp(data, "pub", 3) == 0) {
    if (uvws_server_publish(r->server, "news", UVWS_TEXT, "published", 9) < 0)
      (void)uvws_conn_close(c, 4000, "no publish", 10);
    return;
  }
  if (uvws_conn_send(c, type, data, len) != 0)
    (void)uvws_conn_close(c, 4000, "no echo", 7);
}

static void s_close(uvws_conn_t *c, int code, const char *reason,
                    size_t reason_len, int was_clean) {
  run_t *r = uvws_server_get_data(uvws_conn_server(c));
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  r->server_closes++;
  r->server_close_code = code;
}

/* Sends what the server echoes (or publishes back); a send refused for
 * memory is not expected back, and ends the exchange early. */
static void c_open(uvws_conn_t *c) {
  run_t *r = uvws_conn_get_data(c);
  int frag;
  if (uvws_conn_send_text(c, "hello", 5) == 0)
    r->expect[r->nexpect++] = 0;
  else
    r->sends_failed++;
  if (uvws_conn_send_binary(c, r->big, BIG) == 0)
    r->expect[r->nexpect++] = 1;
  else
    r->sends_failed++;
  frag = uvws_conn_send_fragment(c, UVWS_TEXT, "frag", 4, 0) == 0;
  if (uvws_conn_ping(c, "p", 1) != 0)
    r->sends_failed++;
  if (frag && uvws_conn_send_fragment(c, UVWS_TEXT, "ments", 5, 1) == 0)
    r->expect[r->nexpect++] = 2;
  else
    r->sends_failed++;
  if (uvws_conn_send_text(c, "pub", 3) == 0)
    r->expect[r->nexpect++] = 3;
  else
    r->sends_failed++;
  if (r->sends_failed)
    (void)uvws_conn_close(c, 1000, "short", 5);
}

static void c_message(uvws_conn_t *c, uvws_msg_type_t type, const char *data,
                      size_t len) {
  run_t *r = uvws_conn_get_data(c);
  CHECK(r->client_msgs < r->nexpect);
  switch (r->expect[r->client_msgs++]) {
  case 0:
    CHECK(type == UVWS_TEXT && len == 5 && memcmp(data, "hello", 5) == 0);
    break;
  case 1:
    CHECK(type == UVWS_BINARY && len == BIG && memcmp(data, r->big, BIG) == 0);
    break;
  case 2:
    CHECK(len == 9 && memcmp(data, "fragments", 9) == 0);
    break;
  case 3:
    CHECK(len == 9 && memcmp(data, "published", 9) == 0);
    break;
  default:
    CHECK(0);
  }
  if (r->client_msgs == r->nexpect)
    (void)uvws_conn_close(c, 1000, "done", 4);
}

static void c_close(uvws_conn_t *c, int code, const char *reason,
                    size_t reason_len, int was_clean) {
  run_t *r = uvws_conn_get_data(c);
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  r->client_closes++;
  r->client_close_code = code;
  r->cconn = NULL;
  stop_all(r);
}

static void server_closed(uvws_server_t *s) {
  run_t *r = uvws_server_get_data(s);
  r->contexts_open--;
}

static void client_closed(uvws_client_t *c) {
  run_t *r = uvws_client_get_data(c);
  r->contexts_open--;
}

static void stop_all(run_t *r) {
  if (r->server != NULL) {
    uvws_server_close(r->server, server_closed);
    r->server = NULL;
  }
  if (r->client != NULL) {
    uvws_client_close(r->client, client_closed);
    r->client = NULL;
  }
  uv_timer_stop(&r->guard);
}

static void guard_fired(uv_timer_t *t) {
  stop_all(t->data);
}

static const uvws_limits_t quick = {
    .handshake_timeout_ms = 500,
    .close_timeout_ms = 500,
};

/* Where test/tls/make-certs.sh put the certificates; NULL: no wss://. */
static const char *certs;

static const char *cert(const char *name) {
  static char buf[4][512];
  static int i;
  char *p = buf[i++ % 4];
  snprintf(p, 512, "%s/%s", certs, name);
  return p;
}

/* One exchange with the server's memory from sa and the client's from ca,
 * over wss:// when tls. Returns 1 when it completed as it should with
 * nothing failing. */
static int exchange(const uvws_allocator_t *sa, const uvws_allocator_t *ca,
                    int tls) {
  run_t r;
  uvws_server_options_t so = {0};
  uvws_client_options_t co = {0};
  uvws_connect_options_t opts = {0};
  uvws_deflate_options_t deflate = {0};
  uvws_callbacks_t ccb = {0};
  char url[64];
  int rc, ok;

  memset(&r, 0, sizeof(r));
  r.big = malloc(BIG);
  CHECK(r.big != NULL);
  for (size_t i = 0; i < BIG; i++)
    r.big[i] = (char)(i * 7 + i / 251);
  CHECK_EQ(uv_loop_init(&r.loop), 0);
  uv_timer_init(&r.loop, &r.guard);
  r.guard.data = &r;
  uv_timer_start(&r.guard, guard_fired, 5000, 0);

  so.callbacks.on_open = s_open;
  so.callbacks.on_message = s_message;
  so.callbacks.on_close = s_close;
  so.limits = quick;
  so.allocator = sa;
  co.limits = quick;
  co.allocator = ca;
  if (tls) {
    so.tls.cert_file = cert("server.crt");
    so.tls.key_file = cert("server.key");
    co.tls.ca_file = cert("ca.crt");
  }
  if (uvws_server_create(&r.loop, &so, &r.server) == 0) {
    r.contexts_open++;
    uvws_server_set_data(r.server, &r);
    if ((tls ? uvws_server_listen_tls(r.server, "127.0.0.1", 0, 16)
             : uvws_server_listen(r.server, "127.0.0.1", 0, 16)) != 0)
      stop_all(&r);
  }
  if (r.server != NULL && uvws_client_create(&r.loop, &co, &r.client) == 0) {
    r.contexts_open++;
    uvws_client_set_data(r.client, &r);
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", tls ? "wss" : "ws",
             uvws_server_port(r.server));
    ccb.on_open = c_open;
    ccb.on_message = c_message;
    ccb.on_close = c_close;
    opts.deflate = &deflate;
    deflate.threshold = 1; /* compress all but the empty */
    rc = uvws_connect(r.client, url, &opts, &ccb, &r, &r.cconn);
    r.client_handed = rc == 0;
  }
  if (!r.client_handed)
    stop_all(&r);

  uv_run(&r.loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&r.guard, NULL);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&r.loop), 0); /* every handle closed */
  CHECK_EQ(r.contexts_open, 0);
  /* Exactly one on_close for each connection handed out. */
  CHECK_EQ(r.client_closes, r.client_handed);
  CHECK(r.server_closes >= r.server_opens);
  CHECK(r.server_closes <= 1);
  /* A clean close loses nothing that was accepted: every send the client
   * made before it came back. */
  if (r.client_close_code == 1000 && r.server_close_code == 1000 &&
      !r.sends_failed)
    CHECK_EQ(r.client_msgs, r.nexpect);
  ok = r.client_msgs == 4 && r.client_close_code == 1000 &&
       r.server_close_code == 1000;
  free(r.big);
  return ok;
}

/* ---- the tests ----------------------------------------------------------- */

static void test_all_memory_comes_back(int tls) {
  uvws_budget_t sb, cb;
  CHECK_EQ(uvws_budget_init(&sb, 0, NULL), 0);
  CHECK_EQ(uvws_budget_init(&cb, 0, NULL), 0);
  CHECK(exchange(&sb.allocator, &cb.allocator, tls));
  /* Both sides used their own allocator, for more than their structs... */
  CHECK(sb.peak > BIG);
  CHECK(cb.peak > BIG);
  /* ... and gave all of it back. */
  CHECK_EQ(sb.used, 0);
  CHECK_EQ(cb.used, 0);
  CHECK_EQ(sb.refused + cb.refused, 0);
}

static void test_every_allocation_failing(int tls) {
  faulty_t f = {0};
  uvws_allocator_t base = {f_malloc, f_realloc, f_calloc, f_free, &f};
  uvws_budget_t sb, cb;
  long total, n, completed = 0;

  /* Count the allocations of a run where none fails. */
  CHECK_EQ(uvws_budget_init(&sb, 0, &base), 0);
  CHECK_EQ(uvws_budget_init(&cb, 0, &base), 0);
  CHECK(exchange(&sb.allocator, &cb.allocator, tls));
  total = f.count;
  CHECK(total > 20);
  for (n = 1; n <= total; n++) {
    f.count = 0;
    f.failed = 0;
    f.fail_at = n;
    if (getenv("TEST_ALLOC_VERBOSE"))
      fprintf(stderr, "failing allocation %ld of %ld (%.0f ms)\n", n, total,
              (double)uv_hrtime() / 1e6);
    CHECK_EQ(uvws_budget_init(&sb, 0, &base), 0);
    CHECK_EQ(uvws_budget_init(&cb, 0, &base), 0);
    completed += exchange(&sb.allocator, &cb.allocator, tls);
    if (sb.used != 0 || cb.used != 0)
      fprintf(stderr, "allocation %ld of %ld failing: %zu + %zu bytes kept\n",
              n, total, sb.used, cb.used);
    CHECK_EQ(sb.used, 0);
    CHECK_EQ(cb.used, 0);
  }
  fprintf(stderr,
          "%s: %ld allocations, each failed once: %ld runs completed "
          "anyway, none leaked\n",
          tls ? "wss://" : "ws://", total, completed);
}

/* ---- a budget reached by a peer ----------------------------------------- */

typedef struct {
  uv_loop_t loop;
  uvws_server_t *server;
  uvws_client_t *client;
  int phase; /* 0: big message; 1: small one */
  int closes[2];
  int codes[2];
  int echoed;
  char *payload;
} budget_run_t;

static void b_open(uvws_conn_t *c) {
  budget_run_t *r = uvws_conn_get_data(c);
  if (r->phase == 0)
    CHECK_EQ(uvws_conn_send_binary(c, r->payload, 4 << 20), 0);
  else
    CHECK_EQ(uvws_conn_send_text(c, "still here", 10), 0);
}

static void b_message(uvws_conn_t *c, uvws_msg_type_t type, const char *data,
                      size_t len) {
  budget_run_t *r = uvws_conn_get_data(c);
  CHECK_EQ(r->phase, 1);
  CHECK(type == UVWS_TEXT && len == 10 && memcmp(data, "still here", 10) == 0);
  r->echoed++;
  (void)uvws_conn_close(c, 1000, NULL, 0);
}

static void b_close(uvws_conn_t *c, int code, const char *reason,
                    size_t reason_len, int was_clean) {
  budget_run_t *r = uvws_conn_get_data(c);
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  r->closes[r->phase]++;
  r->codes[r->phase] = code;
  if (r->phase == 0) {
    uvws_callbacks_t cbs = {b_open, b_message, NULL, b_close};
    char url[64];
    uvws_conn_t *next;
    r->phase = 1;
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/",
             uvws_server_port(r->server));
    CHECK_EQ(uvws_connect(r->client, url, NULL, &cbs, r, &next), 0);
  } else {
    uvws_server_close(r->server, NULL);
    uvws_client_close(r->client, NULL);
  }
}

static void echo(uvws_conn_t *c, uvws_msg_type_t type, const char *data,
                 size_t len) {
  (void)uvws_conn_send(c, type, data, len);
}

/* deflate: the 4 MiB of zeros arrive as a few KiB, and it is inflating
 * them that runs out. */
static void test_budget_reached_by_a_peer(int deflate) {
  uvws_deflate_options_t d = {0};
  uvws_connect_options_t co = {0};
  budget_run_t r;
  uvws_budget_t budget;
  uvws_server_options_t so = {0};
  uvws_callbacks_t cbs = {b_open, b_message, NULL, b_close};
  uvws_conn_t *conn;
  char url[64];

  memset(&r, 0, sizeof(r));
  r.payload = calloc(1, 4 << 20);
  CHECK(r.payload != NULL);
  /* 1 MiB for the whole server: its receive buffer, connections, and
   * whatever they reassemble. */
  CHECK_EQ(uvws_budget_init(&budget, 1 << 20, NULL), 0);
  so.allocator = &budget.allocator;
  so.callbacks.on_message = echo;
  CHECK_EQ(uv_loop_init(&r.loop), 0);
  CHECK_EQ(uvws_server_create(&r.loop, &so, &r.server), 0);
  CHECK_EQ(uvws_server_listen(r.server, "127.0.0.1", 0, 16), 0);
  CHECK_EQ(uvws_client_create(&r.loop, NULL, &r.client), 0);
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", uvws_server_port(r.server));
  co.deflate = deflate ? &d : NULL;
  CHECK_EQ(uvws_connect(r.client, url, &co, &cbs, &r, &conn), 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&r.loop), 0);

  /* A 4 MiB message does not fit in 1 MiB: too big to process. */
  CHECK_EQ(r.closes[0], 1);
  CHECK_EQ(r.codes[0], 1009);
  CHECK(budget.refused > 0);
  CHECK(budget.peak <= budget.limit);
  /* The server went on serving within its budget. */
  CHECK_EQ(r.closes[1], 1);
  CHECK_EQ(r.echoed, 1);
  CHECK_EQ(r.codes[1], 1000);
  CHECK_EQ(budget.used, 0);
  free(r.payload);
}

/* ---- the reserve: what is left goes to open connections ------------------ */

typedef struct {
  uv_loop_t loop;
  uvws_server_t *server;
  uvws_client_t *client;
  uvws_budget_t budget;
  uvws_conn_t *conns[5];
  int opened, echoes, server_closes, client_closes;
  int refused_closes, late_open, late_echo;
  char url[64];
} reserve_run_t;

static void r_connect(reserve_run_t *r, const uvws_callbacks_t *cbs,
                      uvws_conn_t **out) {
  uvws_conn_t *c;
  CHECK_EQ(uvws_connect(r->client, r->url, NULL, cbs, r, out ? out : &c), 0);
}

static void r_done_if_all_closed(reserve_run_t *r) {
  if (r->client_closes == 7) {
    uvws_server_close(r->server, NULL);
    uvws_client_close(r->client, NULL);
  }
}

static void r_late_open(uvws_conn_t *c) {
  reserve_run_t *r = uvws_conn_get_data(c);
  r->late_open++;
  CHECK_EQ(uvws_conn_send_text(c, "again", 5), 0);
}

static void r_late_message(uvws_conn_t *c, uvws_msg_type_t type,
                           const char *data, size_t len) {
  reserve_run_t *r = uvws_conn_get_data(c);
  (void)type;
  CHECK(len == 5 && memcmp(data, "again", 5) == 0);
  r->late_echo++;
  (void)uvws_conn_close(c, 1000, NULL, 0);
  for (int i = 2; i < 5; i++)
    (void)uvws_conn_close(r->conns[i], 1000, NULL, 0);
}

static void r_close(uvws_conn_t *c, int code, const char *reason,
                    size_t reason_len, int was_clean) {
  reserve_run_t *r = uvws_conn_get_data(c);
  (void)code;
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  r->client_closes++;
  r_done_if_all_closed(r);
}

/* Each connection sends 1 KiB to be echoed. */
static void r_round(reserve_run_t *r) {
  for (int i = 0; i < 5; i++) {
    char msg[1024];
    memset(msg, 'a' + i, sizeof(msg));
    CHECK_EQ(uvws_conn_send_text(r->conns[i], msg, sizeof(msg)), 0);
  }
}

static void r_refused_open(uvws_conn_t *c) {
  (void)c;
  CHECK(0); /* the budget had less than its reserve left */
}

static void r_refused_close(uvws_conn_t *c, int code, const char *reason,
                            size_t reason_len, int was_clean) {
  reserve_run_t *r = uvws_conn_get_data(c);
  CHECK_EQ(code, 1006);
  r->refused_closes++;
  r_close(c, code, reason, reason_len, was_clean);
  r_round(r); /* the connections there are still have their memory */
}

static void r_message(uvws_conn_t *c, uvws_msg_type_t type, const char *data,
                      size_t len) {
  reserve_run_t *r = uvws_conn_get_data(c);
  (void)type;
  (void)data;
  CHECK_EQ(len, 1024);
  if (++r->echoes == 5) {
    static const uvws_callbacks_t refused = {.on_open = r_refused_open,
                                             .on_close = r_refused_close};
    /* Full up to the reserve: the next connection is turned away. */
    r->budget.reserve = 256 * 1024;
    r->budget.limit = r->budget.used + r->budget.reserve - 1;
    r_connect(r, &refused, NULL);
  } else if (r->echoes == 10) {
    /* Two go; their memory comes back, and with it room for another. */
    (void)uvws_conn_close(r->conns[0], 1000, NULL, 0);
    (void)uvws_conn_close(r->conns[1], 1000, NULL, 0);
  }
}

static void r_open(uvws_conn_t *c) {
  reserve_run_t *r = uvws_conn_get_data(c);
  if (++r->opened == 5)
    r_round(r); /* the server's write blocks are pooled after this */
}

static void rs_close(uvws_conn_t *c, int code, const char *reason,
                     size_t reason_len, int was_clean) {
  reserve_run_t *r = uvws_server_get_data(uvws_conn_server(c));
  static const uvws_callbacks_t late = {.on_open = r_late_open,
                                        .on_message = r_late_message,
                                        .on_close = r_close};
  (void)code;
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  if (++r->server_closes == 2)
    r_connect(r, &late, NULL);
}

static void test_budget_reserve(void) {
  reserve_run_t r;
  uvws_server_options_t so = {0};
  uvws_callbacks_t cbs = {.on_open = r_open,
                          .on_message = r_message,
                          .on_close = r_close};

  memset(&r, 0, sizeof(r));
  CHECK_EQ(uvws_budget_init(&r.budget, 0, NULL), 0);
  so.allocator = &r.budget.allocator;
  so.callbacks.on_message = echo;
  so.callbacks.on_close = rs_close;
  CHECK_EQ(uv_loop_init(&r.loop), 0);
  CHECK_EQ(uvws_server_create(&r.loop, &so, &r.server), 0);
  uvws_server_set_data(r.server, &r);
  CHECK_EQ(uvws_server_listen(r.server, "127.0.0.1", 0, 16), 0);
  CHECK_EQ(uvws_client_create(&r.loop, NULL, &r.client), 0);
  snprintf(r.url, sizeof(r.url), "ws://127.0.0.1:%d/",
           uvws_server_port(r.server));
  for (int i = 0; i < 5; i++)
    r_connect(&r, &cbs, &r.conns[i]);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&r.loop), 0);

  CHECK_EQ(r.opened, 5);
  CHECK_EQ(r.refused_closes, 1);
  CHECK_EQ(r.echoes, 10);
  CHECK_EQ(r.late_open, 1);
  CHECK_EQ(r.late_echo, 1);
  CHECK_EQ(r.client_closes, 7);
  CHECK_EQ(r.budget.used, 0);
}

/* ---- a burst of connections with no memory for any ------------------------ */

typedef struct {
  uv_loop_t loop;
  uvws_server_t *server;
  uvws_client_t *client;
  uvws_budget_t budget;
  char url[64];
  int refused, errors_timeout, opened, echoed;
} burst_run_t;

static void burst_error(uvws_conn_t *c, int err) {
  burst_run_t *r = uvws_conn_get_data(c);
  if (err == UV_ETIMEDOUT)
    r->errors_timeout++;
}

static void late_open(uvws_conn_t *c) {
  burst_run_t *r = uvws_conn_get_data(c);
  r->opened++;
  CHECK_EQ(uvws_conn_send_text(c, "back", 4), 0);
}

static void late_message(uvws_conn_t *c, uvws_msg_type_t type,
                         const char *data, size_t len) {
  burst_run_t *r = uvws_conn_get_data(c);
  (void)type;
  CHECK(len == 4 && memcmp(data, "back", 4) == 0);
  r->echoed++;
  (void)uvws_conn_close(c, 1000, NULL, 0);
}

static void late_close(uvws_conn_t *c, int code, const char *reason,
                       size_t reason_len, int was_clean) {
  burst_run_t *r = uvws_conn_get_data(c);
  (void)code;
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  uvws_server_close(r->server, NULL);
  uvws_client_close(r->client, NULL);
}

static void burst_open(uvws_conn_t *c) {
  (void)c;
  CHECK(0); /* the server had no memory to take it */
}

static void burst_close(uvws_conn_t *c, int code, const char *reason,
                        size_t reason_len, int was_clean) {
  burst_run_t *r = uvws_conn_get_data(c);
  static const uvws_callbacks_t late = {.on_open = late_open,
                                        .on_message = late_message,
                                        .on_close = late_close};
  uvws_conn_t *next;
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  CHECK_EQ(code, 1006);
  if (++r->refused < 6)
    return;
  /* Memory again: the listener must still be accepting. */
  r->budget.limit = 0;
  CHECK_EQ(uvws_connect(r->client, r->url, NULL, &late, r, &next), 0);
}

static void test_budget_burst(void) {
  burst_run_t r;
  uvws_server_options_t so = {0};
  uvws_client_options_t co = {0};
  uvws_callbacks_t cbs = {.on_open = burst_open,
                          .on_error = burst_error,
                          .on_close = burst_close};
  uvws_conn_t *conn;

  memset(&r, 0, sizeof(r));
  CHECK_EQ(uvws_budget_init(&r.budget, 0, NULL), 0);
  so.allocator = &r.budget.allocator;
  so.callbacks.on_message = echo;
  co.limits.handshake_timeout_ms = 5000;
  CHECK_EQ(uv_loop_init(&r.loop), 0);
  CHECK_EQ(uvws_server_create(&r.loop, &so, &r.server), 0);
  CHECK_EQ(uvws_server_listen(r.server, "127.0.0.1", 0, 64), 0);
  CHECK_EQ(uvws_client_create(&r.loop, &co, &r.client), 0);
  snprintf(r.url, sizeof(r.url), "ws://127.0.0.1:%d/",
           uvws_server_port(r.server));
  /* Not a byte more: connections are refused, and only the server's spare
   * handle can take them to close them, one at a time. */
  r.budget.limit = r.budget.used;
  for (int i = 0; i < 6; i++)
    CHECK_EQ(uvws_connect(r.client, r.url, NULL, &cbs, &r, &conn), 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&r.loop), 0);

  CHECK_EQ(r.refused, 6);
  CHECK_EQ(r.errors_timeout, 0); /* refused, not left to time out */
  CHECK_EQ(r.opened, 1);
  CHECK_EQ(r.echoed, 1);
  CHECK_EQ(r.budget.used, 0);
}

static void test_incomplete_allocators_refused(void) {
  uv_loop_t loop;
  uvws_allocator_t a = {f_malloc, f_realloc, f_calloc, f_free, NULL};
  uvws_allocator_t missing = a;
  uvws_server_options_t so = {0};
  uvws_client_options_t co = {0};
  uvws_server_t *s;
  uvws_client_t *c;
  uvws_prepared_t *m;
  uvws_budget_t b;

  CHECK_EQ(uv_loop_init(&loop), 0);
  missing.realloc_fn = NULL;
  so.allocator = &missing;
  co.allocator = &missing;
  CHECK_EQ(uvws_server_create(&loop, &so, &s), UV_EINVAL);
  CHECK_EQ(uvws_client_create(&loop, &co, &c), UV_EINVAL);
  CHECK_EQ(uvws_prepared_create_ex(&missing, UVWS_TEXT, "x", 1, &m), UV_EINVAL);
  CHECK_EQ(uvws_budget_init(&b, 0, &missing), UV_EINVAL);
  /* calloc_fn is optional: memory comes from malloc_fn, zeroed. */
  missing = a;
  missing.calloc_fn = NULL;
  missing.user = &(faulty_t){0};
  CHECK_EQ(uvws_prepared_create_ex(&missing, UVWS_TEXT, "x", 1, &m), 0);
  uvws_prepared_release(m);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

int main(void) {
  certs = getenv("UVWS_TEST_CERTS");
  test_incomplete_allocators_refused();
  test_all_memory_comes_back(0);
  test_budget_reached_by_a_peer(0);
  test_budget_reached_by_a_peer(1);
  test_budget_reserve();
  test_budget_burst();
  test_every_allocation_failing(0);
  if (certs != NULL) {
    test_all_memory_comes_back(1);
    test_every_allocation_failing(1);
  } else {
    fprintf(stderr, "wss:// skipped: UVWS_TEST_CERTS is not set\n");
  }
  return 0;
}

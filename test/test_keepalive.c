/* Keepalive, idle timeout and flow control on 127.0.0.1.
 *
 *  - A peer that completes the handshake and then stops (never answers, or
 *    never even reads): a client with ping_interval_ms 200 and
 *    ping_timeout_ms 300 gets on_error UV_ETIMEDOUT, then on_close 1006,
 *    about half a second after OPEN.
 *  - Live peers (a raw one answering pings by hand, and a uvws server
 *    that keeps alive too): the connection stays up for 2 s, with a ping
 *    about every interval; a peer that keeps sending data is never pinged.
 *    (Where a timeout is not what is tested it is 1 s, so that a loaded
 *    machine pausing the process cannot fail a live connection.)
 *  - idle_timeout_ms: an idle connection is closed with 1001 "idle
 *    timeout" (client or server side); messages put it off, pings do not.
 *  - Pause and resume: a paused client stops reading, the server's
 *    bufferedAmount grows and stays, and after resume every message
 *    arrives, in order. With keepalive on, a paused connection neither
 *    times out nor keeps the loop busy, and pings start again after
 *    resume. */
#include <sys/resource.h>
#include <unistd.h>

#include "client_util.h"

static lb_loop_t L;
static uvws_client_t *client;
static uvws_server_t *server;

static struct {
  int open, error, close, message, pong;
  int err, code, clean;
  char reason[128];
  double open_ms, error_ms, close_ms;
} C, S;

static void reset(const char *name, uint64_t watchdog_ms) {
  memset(&C, 0, sizeof(C));
  memset(&S, 0, sizeof(S));
  lb_loop_init(&L, name, watchdog_ms);
  server = NULL;
}

static void make_client(const uvws_limits_t *limits) {
  uvws_client_options_t co;
  memset(&co, 0, sizeof(co));
  if (limits)
    co.limits = *limits;
  CHECK_EQ(uvws_client_create(&L.loop, &co, &client), 0);
}

static uvws_conn_t *connect_to(int port, const uvws_callbacks_t *cbs) {
  uvws_conn_t *conn;
  char url[64];
  CHECK_ERR(API(uvws_connect(client, lb_url(url, sizeof(url), port, "/"), NULL,
                             cbs, NULL, &conn)),
            0);
  /* Flow control needs an open connection. */
  CHECK_ERR(API(uvws_conn_pause(conn)), UVWS_ESTATE);
  CHECK_ERR(API(uvws_conn_resume(conn)), UVWS_ESTATE);
  return conn;
}

static void c_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  C.open++;
  C.open_ms = lb_elapsed_ms(&L);
}

static void c_error(uvws_conn_t *conn, int err) {
  LB_NOT_IN_API();
  C.error++;
  C.err = err;
  C.error_ms = lb_elapsed_ms(&L);
}

static void c_pong(uvws_conn_t *conn, const char *data, size_t len) {
  LB_NOT_IN_API();
  C.pong++;
}

static void c_message(uvws_conn_t *conn, uvws_msg_type_t type, const char *data,
                      size_t len) {
  LB_NOT_IN_API();
  C.message++;
}

static void (*after_client_close)(void);

static void c_close(uvws_conn_t *conn, int code, const char *reason, size_t len,
                    int clean) {
  LB_NOT_IN_API();
  C.close++;
  C.code = code;
  C.clean = clean;
  C.close_ms = lb_elapsed_ms(&L);
  CHECK(len < sizeof(C.reason));
  memcpy(C.reason, reason, len);
  C.reason[len] = '\0';
  CHECK_ERR(API(uvws_conn_pause(conn)), UVWS_ESTATE);
  API_VOID(uvws_client_close(client, NULL));
  if (after_client_close)
    after_client_close();
}

static const uvws_callbacks_t client_cbs = {c_open,  c_message, c_error,
                                            c_close, NULL,      c_pong};

/* ----------------------------------------------------------------------- */
/* A raw peer: answers the upgrade, then counts the pings it reads and,
 * depending on the test, answers them, ignores them, or stops reading.    */

enum { PEER_ANSWERS, PEER_SILENT, PEER_DEAF, PEER_CHATTY };

static lb_raw_server_t raw_srv;
static lb_raw_t *peer;
static int peer_mode, peer_pings, peer_upgraded, peer_closes;
static char peer_head[4096];
static uv_timer_t timer;

static void peer_read(lb_raw_t *r) {
  lb_frame_t f;
  char payload[125];
  if (!peer_upgraded) {
    if (cu_raw_upgrade(r, peer_head, sizeof(peer_head), NULL) == 0)
      return;
    peer_upgraded = 1;
    if (peer_mode == PEER_DEAF)
      lb_raw_read_stop(r);
  }
  while (cu_raw_take_frame(r, &f, payload, sizeof(payload))) {
    if (f.opcode == LB_OP_PING) {
      peer_pings++;
      if (peer_mode == PEER_ANSWERS)
        cu_raw_send_frame(r, LB_OP_PONG, payload, (size_t)f.len);
    } else if (f.opcode == LB_OP_CLOSE) {
      peer_closes++;
      cu_raw_send_frame(r, LB_OP_CLOSE, payload, (size_t)f.len);
      lb_raw_close(r);
    }
  }
}

static void peer_accept(lb_raw_t *r) {
  peer = r;
  r->on_read = peer_read;
  lb_raw_server_close(&raw_srv);
}

static void peer_cleanup(void) {
  if (peer != NULL)
    lb_raw_close(peer);
  if (!uv_is_closing((uv_handle_t *)&timer))
    uv_close((uv_handle_t *)&timer, NULL);
}

static void peer_closed(lb_raw_t *r) {
  peer = NULL;
}

static void peer_accept_tracked(lb_raw_t *r) {
  peer_accept(r);
  r->on_closed = peer_closed;
}

static void start_peer(int mode) {
  peer = NULL;
  peer_mode = mode;
  peer_pings = peer_upgraded = peer_closes = 0;
  lb_raw_server_listen(&raw_srv, &L.loop, peer_accept_tracked);
  CHECK_EQ(uv_timer_init(&L.loop, &timer), 0);
  after_client_close = peer_cleanup;
}

/* The client times out a peer that stops answering. */
static void run_dead_peer(int mode, const char *name) {
  uvws_limits_t lim;
  reset(name, 10000);
  memset(&lim, 0, sizeof(lim));
  lim.ping_interval_ms = 200;
  lim.ping_timeout_ms = 300;
  make_client(&lim);
  start_peer(mode);
  connect_to(raw_srv.port, &client_cbs);
  lb_loop_run(&L);
  CHECK_EQ(C.open, 1);
  CHECK_EQ(C.error, 1);
  CHECK_ERR(C.err, UV_ETIMEDOUT);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(C.code, 1006);
  CHECK_EQ(C.clean, 0);
  CHECK_EQ(C.pong, 0);
  /* A ping after 200 ms of silence, then 300 ms without an answer. */
  fprintf(stderr, "    timed out %.0f ms after OPEN\n", C.error_ms - C.open_ms);
  CHECK(C.error_ms - C.open_ms >= 450);
  CHECK(C.error_ms - C.open_ms <= 2000);
  CHECK(C.close_ms - C.error_ms < 500);
  if (mode == PEER_SILENT)
    CHECK_EQ(peer_pings, 1);
}

static void test_dead_peer(void) {
  run_dead_peer(PEER_SILENT, "keepalive: peer reads but never answers");
  run_dead_peer(PEER_DEAF, "keepalive: peer stops reading");
}

/* Live peers stay connected; the client closes after 2 s. */
static uvws_conn_t *live_conn;

static void live_done(uv_timer_t *t) {
  CHECK_EQ(C.error, 0);
  CHECK_EQ(uvws_conn_ready_state(live_conn), UVWS_OPEN);
  CHECK_ERR(API(uvws_conn_close(live_conn, 1000, NULL, 0)), 0);
}

static void live_open(uvws_conn_t *conn) {
  c_open(conn);
  live_conn = conn;
  CHECK_EQ(uv_timer_start(&timer, live_done, 2000, 0), 0);
}

static void test_live_raw_peer(void) {
  static const uvws_callbacks_t cbs = {live_open, c_message, c_error,
                                       c_close,   NULL,      c_pong};
  uvws_limits_t lim;
  reset("keepalive: raw peer answers pings for 2 s", 10000);
  memset(&lim, 0, sizeof(lim));
  lim.ping_interval_ms = 200;
  lim.ping_timeout_ms = 1000;
  make_client(&lim);
  start_peer(PEER_ANSWERS);
  connect_to(raw_srv.port, &cbs);
  lb_loop_run(&L);
  CHECK_EQ(C.error, 0);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(C.code, 1000);
  CHECK_EQ(C.clean, 1);
  CHECK_EQ(peer_closes, 1);
  /* About one ping per 200 ms of silence: 2 s give about 10. */
  fprintf(stderr, "    %d pings in 2 s, %d pongs reported\n", peer_pings,
          C.pong);
  CHECK(peer_pings >= 5);
  CHECK(peer_pings <= 11);
}

/* A peer that keeps sending data every 50 ms but ignores pings: data counts
 * as an answer, so the client (interval 600 ms) needs no ping at all. */
static void chatty_tick(uv_timer_t *t) {
  if (peer != NULL && peer_upgraded)
    cu_raw_send_frame(peer, LB_OP_TEXT, "tick", 4);
}

static void chatty_open(uvws_conn_t *conn) {
  c_open(conn);
  live_conn = conn;
  CHECK_EQ(uv_timer_start(&timer, chatty_tick, 50, 50), 0);
}

static void chatty_message(uvws_conn_t *conn, uvws_msg_type_t type,
                           const char *data, size_t len) {
  c_message(conn, type, data, len);
  /* 1.5 s of ticks. */
  if (C.message == 30)
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void test_chatty_peer(void) {
  static const uvws_callbacks_t cbs = {chatty_open, chatty_message, c_error,
                                       c_close,     NULL,           c_pong};
  uvws_limits_t lim;
  reset("keepalive: data from the peer makes pings needless", 10000);
  memset(&lim, 0, sizeof(lim));
  lim.ping_interval_ms = 600;
  lim.ping_timeout_ms = 1000;
  make_client(&lim);
  start_peer(PEER_CHATTY);
  connect_to(raw_srv.port, &cbs);
  lb_loop_run(&L);
  CHECK_EQ(C.error, 0);
  CHECK_EQ(C.message, 30);
  CHECK_EQ(C.code, 1000);
  CHECK_EQ(peer_pings, 0);
}

/* uvws on both sides, both keeping alive: no error for 2 s. */
static void s_error(uvws_conn_t *conn, int err) {
  LB_NOT_IN_API();
  S.error++;
  S.err = err;
}

static void s_close(uvws_conn_t *conn, int code, const char *reason, size_t len,
                    int clean) {
  LB_NOT_IN_API();
  S.close++;
  S.code = code;
  S.clean = clean;
  S.close_ms = lb_elapsed_ms(&L);
  CHECK(len < sizeof(S.reason));
  memcpy(S.reason, reason, len);
  S.reason[len] = '\0';
  API_VOID(uvws_server_close(server, NULL));
}

static void close_timer(void) {
  uv_close((uv_handle_t *)&timer, NULL);
}

static void test_live_uvws_server(void) {
  static const uvws_callbacks_t cbs = {live_open, c_message, c_error,
                                       c_close,   NULL,      c_pong};
  uvws_server_options_t so;
  uvws_limits_t lim;
  int port;
  reset("keepalive: uvws server, both sides, 2 s", 10000);
  memset(&lim, 0, sizeof(lim));
  lim.ping_interval_ms = 200;
  lim.ping_timeout_ms = 1000;
  make_client(&lim);
  memset(&so, 0, sizeof(so));
  so.limits = lim;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = s_close;
  server = lb_server(&L.loop, &so, &port);
  CHECK_EQ(uv_timer_init(&L.loop, &timer), 0);
  after_client_close = close_timer;
  connect_to(port, &cbs);
  lb_loop_run(&L);
  CHECK_EQ(C.error, 0);
  CHECK_EQ(S.error, 0);
  CHECK_EQ(C.code, 1000);
  CHECK_EQ(C.clean, 1);
  CHECK_EQ(S.code, 1000);
}

/* ----------------------------------------------------------------------- */
/* Idle timeout                                                            */

static int idle_sends; /* messages the client sends, one per 100 ms */
static uvws_conn_t *idle_conn;

static void idle_tick(uv_timer_t *t) {
  if (idle_sends-- > 0)
    CHECK_ERR(API(uvws_conn_send_text(idle_conn, "busy", 4)), 0);
  else
    uv_timer_stop(t);
}

static void idle_open(uvws_conn_t *conn) {
  c_open(conn);
  idle_conn = conn;
  if (idle_sends > 0)
    CHECK_EQ(uv_timer_start(&timer, idle_tick, 100, 100), 0);
}

static void s_message(uvws_conn_t *conn, uvws_msg_type_t type, const char *data,
                      size_t len) {
  S.message++;
}

/* side: 'c' the client has the idle timeout, 's' the server. */
static void run_idle(const char *name, int side, unsigned idle_ms,
                     unsigned ping_ms, int sends, double min_ms,
                     double max_ms) {
  static const uvws_callbacks_t cbs = {idle_open, c_message, c_error,
                                       c_close,   NULL,      c_pong};
  uvws_server_options_t so;
  uvws_limits_t lim;
  int port;
  double at;
  reset(name, 10000);
  memset(&lim, 0, sizeof(lim));
  lim.idle_timeout_ms = idle_ms;
  lim.ping_interval_ms = ping_ms;
  lim.ping_timeout_ms = 1000;
  make_client(side == 'c' ? &lim : NULL);
  memset(&so, 0, sizeof(so));
  if (side == 's')
    so.limits = lim;
  so.callbacks.on_message = s_message;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = s_close;
  server = lb_server(&L.loop, &so, &port);
  CHECK_EQ(uv_timer_init(&L.loop, &timer), 0);
  after_client_close = close_timer;
  idle_sends = sends;
  connect_to(port, &cbs);
  lb_loop_run(&L);
  CHECK_EQ(C.error, 0);
  CHECK_EQ(S.error, 0);
  CHECK_EQ(S.message, sends);
  /* The side that timed out closed with 1001 "idle timeout"; the other
   * answered it. */
  CHECK_EQ(C.code, 1001);
  CHECK_EQ(C.clean, 1);
  CHECK_EQ(S.code, 1001);
  CHECK_EQ(S.clean, 1);
  CHECK_STR(side == 'c' ? S.reason : C.reason, "idle timeout");
  at = (side == 'c' ? S.close_ms : C.close_ms) - C.open_ms;
  fprintf(stderr, "    closed %.0f ms after OPEN\n", at);
  CHECK(at >= min_ms);
  CHECK(at <= max_ms);
}

static void test_idle(void) {
  run_idle("idle: client closes an idle connection", 'c', 300, 0, 0, 280, 2000);
  run_idle("idle: server closes an idle connection", 's', 300, 0, 0, 280, 2000);
  /* Six messages 100 ms apart, then 300 ms of quiet. */
  run_idle("idle: messages put it off", 'c', 300, 0, 6, 880, 2500);
  /* Pings every 100 ms are no activity. */
  run_idle("idle: pings do not count", 'c', 400, 100, 0, 380, 2000);
}

/* ----------------------------------------------------------------------- */
/* Pause and resume                                                        */

#define PR_MSG (64 * 1024)
#define PR_HIGH (2 * 1024 * 1024)
#define PR_MAX_MESSAGES 4096 /* 256 MiB: pause did not hold the peer back */

static uvws_conn_t *pr_client, *pr_server;
static int pr_sent, pr_received, pr_full_ticks, pr_phase;
static int pr_received_at_stop;
static size_t pr_buffered_at_stop;
static char *pr_buf;

static void pr_send_some(void) {
  while (uvws_conn_buffered_amount(pr_server) < PR_HIGH) {
    CHECK(pr_sent < PR_MAX_MESSAGES);
    memcpy(pr_buf, &pr_sent, sizeof(pr_sent));
    CHECK_ERR(API(uvws_conn_send_binary(pr_server, pr_buf, PR_MSG)), 0);
    pr_sent++;
  }
}

/* Phase 0: the server keeps the queue at PR_HIGH until the queue has stayed
 * full for 10 ticks (the kernel buffers are full: TCP holds the server
 * back). Phase 1: 300 ms later nothing has moved. Then resume. */
static void pr_tick(uv_timer_t *t) {
  if (pr_phase == 0) {
    if (uvws_conn_buffered_amount(pr_server) >= PR_HIGH)
      pr_full_ticks++;
    else
      pr_full_ticks = 0;
    pr_send_some();
    if (pr_full_ticks < 10)
      return;
    pr_phase = 1;
    pr_received_at_stop = pr_received;
    pr_buffered_at_stop = uvws_conn_buffered_amount(pr_server);
    fprintf(stderr,
            "    paused: %d messages sent (%d MiB), %zu KiB queued at the "
            "server, %d received\n",
            pr_sent, pr_sent / 16, pr_buffered_at_stop / 1024, pr_received);
    CHECK_EQ(uv_timer_start(t, pr_tick, 300, 0), 0);
    return;
  }
  CHECK_EQ(pr_received, pr_received_at_stop);
  CHECK_EQ(uvws_conn_buffered_amount(pr_server), pr_buffered_at_stop);
  CHECK_EQ(uvws_conn_ready_state(pr_client), UVWS_OPEN);
  pr_phase = 2;
  CHECK_ERR(API(uvws_conn_resume(pr_client)), 0);
  uv_close((uv_handle_t *)t, NULL);
}

static void pr_c_open(uvws_conn_t *conn) {
  c_open(conn);
  pr_client = conn;
  CHECK_ERR(API(uvws_conn_pause(conn)), 0);
}

static void pr_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  int seq;
  LB_NOT_IN_API();
  CHECK_EQ(type, UVWS_BINARY);
  CHECK_EQ(len, PR_MSG);
  memcpy(&seq, data, sizeof(seq));
  CHECK_EQ(seq, pr_received);
  pr_received++;
  if (pr_phase == 2 && pr_received == pr_sent)
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void pr_s_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  pr_server = conn;
  CHECK_EQ(uv_timer_start(&timer, pr_tick, 5, 5), 0);
}

static void test_pause_resume(void) {
  static const uvws_callbacks_t cbs = {pr_c_open, pr_c_message, c_error,
                                       c_close};
  uvws_server_options_t so;
  int port;
  reset("pause: the server is held back, resume", 30000);
  make_client(NULL);
  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = pr_s_open;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = s_close;
  server = lb_server(&L.loop, &so, &port);
  CHECK_EQ(uv_timer_init(&L.loop, &timer), 0);
  after_client_close = NULL;
  pr_sent = pr_received = pr_full_ticks = pr_phase = 0;
  pr_buf = calloc(1, PR_MSG);
  CHECK(pr_buf != NULL);
  connect_to(port, &cbs);
  lb_loop_run(&L);
  free(pr_buf);
  CHECK_EQ(C.error, 0);
  CHECK_EQ(S.error, 0);
  CHECK_EQ(pr_phase, 2);
  CHECK_EQ(pr_received, pr_sent);
  CHECK(pr_buffered_at_stop >= PR_HIGH);
  CHECK_EQ(C.code, 1000);
  CHECK_EQ(C.clean, 1);
}

/* Pause with keepalive on: no pong can be read while paused, so no ping is
 * due and nothing times out; the loop stays free (CPU time is checked) and
 * the 1 s timer fires. After resume the pings start again. */
static uvws_conn_t *pk_conn;
static int pk_phase, pk_pings_at_resume;
static double pk_cpu0;

static double cpu_ms(void) {
  struct rusage ru;
  CHECK_EQ(getrusage(RUSAGE_SELF, &ru), 0);
  return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 +
         ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

static void on_alarm(int sig) {
  static const char msg[] = "the event loop is stuck: a callback never "
                            "returned (busy loop?)\n";
  (void)sig;
  (void)!write(2, msg, sizeof(msg) - 1);
  abort();
}

static void pk_tick(uv_timer_t *t) {
  double cpu;
  if (pk_phase++ == 0) {
    cpu = cpu_ms() - pk_cpu0;
    fprintf(stderr, "    paused 1 s: %.0f ms of CPU, %d pings\n", cpu,
            peer_pings);
    CHECK(cpu < 500);
    CHECK_EQ(C.error, 0);
    CHECK_EQ(uvws_conn_ready_state(pk_conn), UVWS_OPEN);
    pk_pings_at_resume = peer_pings;
    CHECK_ERR(API(uvws_conn_resume(pk_conn)), 0);
    CHECK_EQ(uv_timer_start(t, pk_tick, 700, 0), 0);
    return;
  }
  fprintf(stderr, "    %d pings in 700 ms after resume\n",
          peer_pings - pk_pings_at_resume);
  CHECK(peer_pings - pk_pings_at_resume >= 2);
  CHECK_ERR(API(uvws_conn_close(pk_conn, 1000, NULL, 0)), 0);
}

static void pk_open(uvws_conn_t *conn) {
  c_open(conn);
  pk_conn = conn;
  CHECK_ERR(API(uvws_conn_pause(conn)), 0);
  pk_cpu0 = cpu_ms();
  CHECK_EQ(uv_timer_start(&timer, pk_tick, 1000, 0), 0);
}

static void test_pause_keepalive(void) {
  static const uvws_callbacks_t cbs = {pk_open, c_message, c_error,
                                       c_close, NULL,      c_pong};
  uvws_limits_t lim;
  reset("pause with keepalive on", 10000);
  memset(&lim, 0, sizeof(lim));
  lim.ping_interval_ms = 100;
  lim.ping_timeout_ms = 1000;
  make_client(&lim);
  start_peer(PEER_ANSWERS);
  pk_phase = 0;
  /* A callback that never returns would stop the watchdog too. */
  signal(SIGALRM, on_alarm);
  alarm(20);
  connect_to(raw_srv.port, &cbs);
  lb_loop_run(&L);
  alarm(0);
  CHECK_EQ(pk_phase, 2);
  CHECK_EQ(C.error, 0);
  CHECK_EQ(C.code, 1000);
  CHECK_EQ(C.clean, 1);
}

int main(void) {
  lb_setup();
  test_dead_peer();
  test_live_raw_peer();
  test_chatty_peer();
  test_live_uvws_server();
  test_idle();
  test_pause_resume();
  test_pause_keepalive();
  return 0;
}

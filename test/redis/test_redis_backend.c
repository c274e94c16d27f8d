/* The Redis backend against a real redis-server, in one process: several
 * servers, each with its own backend (so each is a node with its own id),
 * on one loop, with uvws clients subscribed to them.
 *
 *   test_redis_backend REDIS_SERVER
 *
 * REDIS_SERVER is the redis-server program. Each case starts its own
 * redis-server on a free port of 127.0.0.1 (no persistence) and kills it at
 * the end. Run under ASan: every backend, server and client is closed, the
 * loop is closed, and nothing may leak. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "test.h"
#include "uvws.h"

static const char *redis_program;
static uv_loop_t loop;
static uv_timer_t ticker;
/* Set around calls into uvws: no callback may run inside one. */
static int in_api;

#define API(call) (in_api++, api_leave(call))
static int api_leave(int r) {
  in_api--;
  return r;
}
#define NOT_IN_API() CHECK(in_api == 0)

/* ---- redis-server ------------------------------------------------------ */

typedef struct {
  pid_t pid;
  int port;
  char password[32]; /* "" for none */
} redis_proc_t;

static int free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  CHECK(fd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Starts redis-server on rp->port (a free one if 0) and waits until it
 * answers PING. */
static void redis_start(redis_proc_t *rp) {
  char port[16];
  const char *argv[16];
  int n = 0, i;

  if (rp->port == 0)
    rp->port = free_port();
  snprintf(port, sizeof(port), "%d", rp->port);
  argv[n++] = redis_program;
  argv[n++] = "--port";
  argv[n++] = port;
  argv[n++] = "--bind";
  argv[n++] = "127.0.0.1";
  argv[n++] = "--save";
  argv[n++] = "";
  argv[n++] = "--appendonly";
  argv[n++] = "no";
  argv[n++] = "--loglevel";
  argv[n++] = "warning";
  if (rp->password[0]) {
    argv[n++] = "--requirepass";
    argv[n++] = rp->password;
  }
  argv[n] = NULL;
  rp->pid = fork();
  CHECK(rp->pid >= 0);
  if (rp->pid == 0) {
    /* Killed with this test, even when a failed CHECK aborts it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Its log goes to stdout: away with it; errors still reach stderr. */
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0)
      dup2(fd, 1);
    execv(redis_program, (char **)argv);
    _exit(127);
  }
  for (i = 0; i < 500; i++) {
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", rp->port, tv);
    if (c != NULL && c->err == 0) {
      redisReply *rep = redisCommand(c, "PING");
      int ok = rep != NULL && (rep->type == REDIS_REPLY_STATUS ||
                               rep->type == REDIS_REPLY_ERROR);
      if (rep)
        freeReplyObject(rep);
      redisFree(c);
      if (ok)
        return;
    } else if (c != NULL) {
      redisFree(c);
    }
    sleep_ms(10);
  }
  CHECK(0 && "redis-server did not start");
}

static void redis_kill(redis_proc_t *rp) {
  int status;
  if (rp->pid <= 0)
    return;
  kill(rp->pid, SIGKILL);
  CHECK(waitpid(rp->pid, &status, 0) == rp->pid);
  rp->pid = 0;
}

/* PUBLISH from an ordinary Redis client, as another program would. */
static void redis_publish_raw(const redis_proc_t *rp, const char *channel,
                              const char *data, size_t len) {
  redisContext *c = redisConnect("127.0.0.1", rp->port);
  redisReply *rep;
  CHECK(c != NULL && c->err == 0);
  rep = redisCommand(c, "PUBLISH %s %b", channel, data, len);
  CHECK(rep != NULL && rep->type == REDIS_REPLY_INTEGER);
  freeReplyObject(rep);
  redisFree(c);
}

/* ---- running the loop until something happened ------------------------- */

static void tick(uv_timer_t *t) {
  (void)t;
}

/* Runs the loop until cond holds; fails after ms. */
#define WAIT_FOR(cond, ms)                                                     \
  do {                                                                         \
    uint64_t end_ = uv_now(&loop) + (ms);                                      \
    uv_timer_start(&ticker, tick, 5, 5);                                       \
    while (!(cond)) {                                                          \
      if (uv_now(&loop) > end_) {                                              \
        fprintf(stderr, "%s:%d: not within %d ms: %s\n", __FILE__, __LINE__,   \
                (int)(ms), #cond);                                             \
        abort();                                                               \
      }                                                                        \
      uv_run(&loop, UV_RUN_ONCE);                                              \
    }                                                                          \
    uv_timer_stop(&ticker);                                                    \
  } while (0)

/* Runs the loop for ms, for what must not happen. */
static void run_for(unsigned ms) {
  uint64_t end = uv_now(&loop) + ms;
  uv_timer_start(&ticker, tick, 5, 5);
  while (uv_now(&loop) < end)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&ticker);
}

/* ---- nodes: a server and its backend ----------------------------------- */

typedef struct {
  uvws_server_t *server;
  uvws_redis_t *redis;
  const char *name;
  int connects, disconnects, closed, server_closed;
  int last_err;
  unsigned last_retry;
  size_t undelivered;
  int undelivered_err;
  int undelivered_before_disconnect;
} node_t;

static void on_redis_connect(uvws_redis_t *redis) {
  node_t *n = uvws_redis_get_data(redis);
  NOT_IN_API();
  CHECK(uvws_redis_connected(redis));
  n->connects++;
}

static void on_redis_disconnect(uvws_redis_t *redis, int err,
                                unsigned retry_ms) {
  node_t *n = uvws_redis_get_data(redis);
  NOT_IN_API();
  CHECK(err < 0);
  CHECK(!uvws_redis_connected(redis));
  n->disconnects++;
  n->last_err = err;
  n->last_retry = retry_ms;
}

static void on_redis_undelivered(uvws_redis_t *redis, size_t count, int err) {
  node_t *n = uvws_redis_get_data(redis);
  NOT_IN_API();
  CHECK(count > 0);
  n->undelivered += count;
  n->undelivered_err = err;
  if (n->disconnects == 0)
    n->undelivered_before_disconnect = 1;
}

static void on_redis_closed(uvws_redis_t *redis) {
  node_t *n = uvws_redis_get_data(redis);
  NOT_IN_API();
  n->closed++;
}

static void on_server_closed(uvws_server_t *server) {
  node_t *n = uvws_server_get_data(server);
  n->server_closed++;
}

/* Upgrades to /sub/TOPIC subscribe to TOPIC once open. */
static void on_open(uvws_conn_t *conn) {
  const char *url = uvws_conn_url(conn);
  CHECK(strncmp(url, "/sub/", 5) == 0);
  CHECK_EQ(uvws_conn_subscribe(conn, url + 5), 0);
}

static void node_listen(node_t *n, const char *name) {
  uvws_server_options_t opts;
  memset(&opts, 0, sizeof(opts));
  opts.callbacks.on_open = on_open;
  n->name = name;
  CHECK_EQ(uvws_server_create(&loop, &opts, &n->server), 0);
  uvws_server_set_data(n->server, n);
  CHECK_EQ(uvws_server_listen(n->server, "127.0.0.1", 0, 0), 0);
}

static uvws_redis_options_t node_options(void) {
  uvws_redis_options_t o;
  memset(&o, 0, sizeof(o));
  o.on_connect = on_redis_connect;
  o.on_disconnect = on_redis_disconnect;
  o.on_undelivered = on_redis_undelivered;
  o.reconnect_min_ms = 20;
  o.reconnect_max_ms = 200;
  o.connect_timeout_ms = 2000;
  return o;
}

static void node_attach(node_t *n, const char *url,
                        const uvws_redis_options_t *o) {
  CHECK_EQ(API(uvws_redis_create(n->server, url, o, &n->redis)), 0);
  uvws_redis_set_data(n->redis, n);
}

/* Closes the backend and then the server, as an application would. */
static void node_close(node_t *n) {
  if (n->redis != NULL) {
    in_api++;
    uvws_redis_close(n->redis, on_redis_closed);
    in_api--;
  }
  uvws_server_close(n->server, on_server_closed);
}

static void node_wait_closed(node_t *n) {
  WAIT_FOR(n->server_closed == 1 && (n->redis == NULL || n->closed == 1), 5000);
  run_for(20);
  CHECK_EQ(n->server_closed, 1);
  CHECK(n->redis == NULL || n->closed == 1);
}

/* ---- subscribers: uvws clients ----------------------------------------- */

#define MAX_PUBLISHERS 4

typedef struct {
  uvws_conn_t *conn;
  const char *name;
  int open, closed;
  size_t got;                /* messages */
  size_t got_text, got_bin;  /* by type */
  long next[MAX_PUBLISHERS]; /* next sequence number expected from each */
  char last[256];
  size_t last_len;
  uvws_msg_type_t last_type;
} sub_t;

static uvws_client_t *client;

static void sub_on_open(uvws_conn_t *conn) {
  sub_t *s = uvws_conn_get_data(conn);
  s->open = 1;
}

/* Messages "P:SEQ[...]" (P a digit naming the publisher) must arrive in
 * sequence from each publisher, each exactly once; others are kept as
 * they are in last. */
static void sub_on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                           const char *data, size_t len) {
  sub_t *s = uvws_conn_get_data(conn);
  s->got++;
  if (type == UVWS_TEXT)
    s->got_text++;
  else
    s->got_bin++;
  s->last_type = type;
  s->last_len = len < sizeof(s->last) ? len : sizeof(s->last);
  memcpy(s->last, data, s->last_len);
  if (len >= 3 && data[0] >= '0' && data[0] < '0' + MAX_PUBLISHERS &&
      data[1] == ':') {
    int p = data[0] - '0';
    long seq = strtol(data + 2, NULL, 10);
    if (seq != s->next[p]) {
      fprintf(stderr, "%s: from publisher %d got %ld, expected %ld\n", s->name,
              p, seq, s->next[p]);
      abort();
    }
    s->next[p]++;
  }
}

static void sub_on_close(uvws_conn_t *conn, int code, const char *reason,
                         size_t reason_len, int was_clean) {
  sub_t *s = uvws_conn_get_data(conn);
  (void)code;
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  s->closed = 1;
  s->open = 0;
}

static void sub_connect(sub_t *s, const char *name, const node_t *n,
                        const char *topic) {
  uvws_callbacks_t cbs;
  char url[300];
  memset(s, 0, sizeof(*s));
  memset(&cbs, 0, sizeof(cbs));
  cbs.on_open = sub_on_open;
  cbs.on_message = sub_on_message;
  cbs.on_close = sub_on_close;
  s->name = name;
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/sub/%s",
           uvws_server_port(n->server), topic);
  CHECK_EQ(uvws_connect(client, url, NULL, &cbs, s, &s->conn), 0);
}

/* The subscriber is subscribed once the server has it counted. */
static void sub_wait_subscribed(sub_t *s, const node_t *n, const char *topic,
                                size_t count) {
  WAIT_FOR(s->open && uvws_server_subscribers(n->server, topic) == count, 5000);
}

/* Publishes "P:SEQ" and some bytes after it, as text or binary. */
static int publish_seq(node_t *n, const char *topic, int publisher, long seq,
                       uvws_msg_type_t type, size_t extra) {
  char buf[4096];
  int len = snprintf(buf, sizeof(buf), "%d:%ld|", publisher, seq);
  size_t i;
  CHECK(len > 0 && (size_t)len + extra < sizeof(buf));
  for (i = 0; i < extra; i++) /* NULs and high bytes in binary ones */
    buf[len + i] = type == UVWS_BINARY ? (char)(i * 37) : (char)('a' + i % 26);
  return API(uvws_redis_publish(n->redis, topic, type, buf, len + extra));
}

static void start(const char *name) {
  fprintf(stderr, "  %s\n", name);
  CHECK_EQ(uv_loop_init(&loop), 0);
  CHECK_EQ(uv_timer_init(&loop, &ticker), 0);
  CHECK_EQ(uvws_client_create(&loop, NULL, &client), 0);
}

static void finish(void) {
  uvws_client_close(client, NULL);
  uv_close((uv_handle_t *)&ticker, NULL);
  CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  if (uv_loop_close(&loop) != 0) {
    uv_print_all_handles(&loop, stderr);
    CHECK(0 && "handles left on the loop");
  }
}

/* ---- cases ----------------------------------------------------------------
 */

/* Bad URLs and options fail at once, with nothing allocated or called. */
static void test_create_errors(void) {
  static const struct {
    const char *url;
    int err;
  } cases[] = {
      {"", UVWS_EBADURL},
      {"http://127.0.0.1", UVWS_EBADURL},
      {"redis://", UVWS_EBADURL},
      {"redis://:6379", UVWS_EBADURL},
      {"redis://h:0", UVWS_EBADURL},
      {"redis://h:65536", UVWS_EBADURL},
      {"redis://h:12x", UVWS_EBADURL},
      {"redis://h:", UVWS_EBADURL},
      {"redis://[::1", UVWS_EBADURL},
      {"redis://[]:1", UVWS_EBADURL},
      {"redis://h/db", UVWS_EBADURL},
      {"redis://h?x=1", UVWS_EBADURL},
      {"redis://h#x", UVWS_EBADURL},
      {"redis://a%zz@h", UVWS_EBADURL},
      {"redis://a%00b@h", UVWS_EBADURL},
      {"redis://h h", UVWS_EBADURL},
      {"rediss://h", UV_ENOTSUP},
      {"unix:///tmp/redis.sock", UV_ENOTSUP},
  };
  node_t n;
  uvws_redis_t *r = NULL;
  uvws_redis_options_t o;
  size_t i;

  start("create: bad URLs and options");
  memset(&n, 0, sizeof(n));
  node_listen(&n, "n");
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int got = uvws_redis_create(n.server, cases[i].url, NULL, &r);
    if (got != cases[i].err) {
      fprintf(stderr, "URL \"%s\": %s, expected %s\n", cases[i].url,
              uvws_err_name(got), uvws_err_name(cases[i].err));
      abort();
    }
  }
  CHECK_EQ(uvws_redis_create(NULL, "redis://h", NULL, &r), UV_EINVAL);
  CHECK_EQ(uvws_redis_create(n.server, NULL, NULL, &r), UV_EINVAL);
  o = node_options();
  o.reconnect_min_ms = 500;
  o.reconnect_max_ms = 100;
  CHECK_EQ(uvws_redis_create(n.server, "redis://h", &o, &r), UV_EINVAL);
  /* Good URLs; closed before they connect anywhere. */
  {
    static const char *good[] = {
        "redis://127.0.0.1:1", "REDIS://user:p%40ss@127.0.0.1:1/3",
        "redis://:pw@[::1]:1", "redis://secret@127.0.0.1:1",
        "redis://localhost:1"};
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
      n.closed = 0;
      o = node_options();
      CHECK_EQ(API(uvws_redis_create(n.server, good[i], &o, &r)), 0);
      uvws_redis_set_data(r, &n);
      CHECK(!uvws_redis_connected(r));
      in_api++;
      uvws_redis_close(r, on_redis_closed);
      uvws_redis_close(r, on_redis_closed); /* twice: no effect */
      in_api--;
      WAIT_FOR(n.closed == 1, 2000);
      CHECK_EQ(n.connects + n.disconnects, 0);
    }
  }
  n.redis = NULL;
  node_close(&n);
  node_wait_closed(&n);
  finish();
}

/* Nothing listens: on_disconnect for every attempt with a growing delay,
 * publishing still reaches local subscribers and says UV_ENOTCONN. */
static void test_refused(void) {
  node_t n;
  sub_t s;
  uvws_redis_options_t o;
  char url[64];
  unsigned first;

  start("refused: backoff, local delivery, UV_ENOTCONN");
  memset(&n, 0, sizeof(n));
  node_listen(&n, "n");
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", free_port());
  o = node_options();
  o.reconnect_min_ms = 40;
  o.reconnect_max_ms = 320;
  node_attach(&n, url, &o);
  sub_connect(&s, "s", &n, "t");
  sub_wait_subscribed(&s, &n, "t", 1);
  WAIT_FOR(n.disconnects >= 1, 3000);
  CHECK_EQ(n.last_err, UV_ECONNREFUSED);
  first = n.last_retry;
  CHECK(first >= 20 && first <= 40);
  WAIT_FOR(n.disconnects >= 5, 5000);
  /* 40, 80, 160, 320, 320...: each delay is at least half of its step. */
  CHECK(n.last_retry >= 160 && n.last_retry <= 320);
  CHECK_EQ(n.connects, 0);

  CHECK_EQ(publish_seq(&n, "t", 0, 0, UVWS_TEXT, 10), UV_ENOTCONN);
  CHECK_EQ(publish_seq(&n, "t", 0, 1, UVWS_BINARY, 10), UV_ENOTCONN);
  CHECK_EQ(publish_seq(&n, "nobody", 0, 0, UVWS_TEXT, 0), UV_ENOTCONN);
  WAIT_FOR(s.got == 2, 2000);
  CHECK_EQ(s.got_text, 1);
  CHECK_EQ(s.got_bin, 1);
  /* Errors that deliver nothing. */
  CHECK_EQ(uvws_redis_publish(n.redis, "t", UVWS_TEXT, "\xff", 1),
           UVWS_EBADUTF8);
  CHECK_EQ(uvws_redis_publish(n.redis, "nobody", UVWS_TEXT, "\xff", 1),
           UVWS_EBADUTF8);
  CHECK_EQ(uvws_redis_publish(n.redis, "", UVWS_TEXT, "x", 1), UV_EINVAL);
  CHECK_EQ(uvws_redis_publish(n.redis, "t", (uvws_msg_type_t)7, "x", 1),
           UV_EINVAL);
  CHECK_EQ(uvws_redis_publish(n.redis, "t", UVWS_TEXT, NULL, 1), UV_EINVAL);
  run_for(50);
  CHECK_EQ(s.got, 2);
  CHECK_EQ(n.undelivered, 0);

  uvws_conn_close(s.conn, 1000, NULL, 0);
  WAIT_FOR(s.closed, 2000);
  node_close(&n);
  node_wait_closed(&n);
  finish();
}

/* Three nodes on one Redis: a message published on any node reaches the
 * subscribers of every node once, in order; Redis's echo is ignored; other
 * topics and another prefix get nothing; other Redis clients can publish. */
static void test_fanout(void) {
  redis_proc_t rp;
  node_t a, b, c;
  sub_t sa, sb, sb2, sb_other, sc;
  uvws_redis_options_t o;
  uvws_prepared_t *m;
  char url[64];
  long i;
  const long N = 500;

  start("fan-out: three nodes, exactly once, in order");
  memset(&rp, 0, sizeof(rp));
  redis_start(&rp);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rp.port);
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  memset(&c, 0, sizeof(c));
  node_listen(&a, "a");
  node_listen(&b, "b");
  node_listen(&c, "c");
  o = node_options();
  node_attach(&a, url, &o);
  node_attach(&b, url, &o);
  o.prefix = "other*app:"; /* a glob character, escaped in the pattern */
  node_attach(&c, url, &o);
  sub_connect(&sa, "sa", &a, "t");
  sub_connect(&sb, "sb", &b, "t");
  sub_connect(&sb2, "sb2", &b, "t");
  sub_connect(&sb_other, "sb_other", &b, "u");
  sub_connect(&sc, "sc", &c, "t");
  sub_wait_subscribed(&sa, &a, "t", 1);
  sub_wait_subscribed(&sb, &b, "t", 2);
  sub_wait_subscribed(&sb2, &b, "t", 2);
  sub_wait_subscribed(&sb_other, &b, "u", 1);
  sub_wait_subscribed(&sc, &c, "t", 1);
  WAIT_FOR(a.connects == 1 && b.connects == 1 && c.connects == 1, 5000);
  CHECK_EQ(a.disconnects + b.disconnects + c.disconnects, 0);

  /* Publisher 0 on a, publisher 1 on b, interleaved, text and binary,
   * sizes from 0 to 3000 extra bytes. */
  for (i = 0; i < N; i++) {
    uvws_msg_type_t t = i % 3 == 0 ? UVWS_BINARY : UVWS_TEXT;
    CHECK_EQ(publish_seq(&a, "t", 0, i, t, (size_t)(i * 7) % 3000), 0);
    CHECK_EQ(publish_seq(&b, "t", 1, i, t, (size_t)(i * 13) % 200), 0);
  }
  /* Local subscribers have theirs already queued; all arrive in order. */
  WAIT_FOR(sa.got == 2 * (size_t)N && sb.got == 2 * (size_t)N &&
               sb2.got == 2 * (size_t)N,
           10000);
  run_for(200); /* nothing more: no duplicates */
  CHECK_EQ(sa.got, 2 * N);
  CHECK_EQ(sb.got, 2 * N);
  CHECK_EQ(sb2.got, 2 * N);
  CHECK_EQ(sa.next[0], N);
  CHECK_EQ(sa.next[1], N);
  CHECK_EQ(sb.next[0], N);
  CHECK_EQ(sb_other.got, 0);
  CHECK_EQ(sc.got, 0); /* another prefix */

  /* A message for a topic nobody subscribes to is fine. */
  CHECK_EQ(publish_seq(&a, "nobody", 0, 0, UVWS_TEXT, 0), 0);

  /* Prepared: the caller's message goes to local subscribers as it is. */
  CHECK_EQ(uvws_prepared_create(UVWS_TEXT, "0:500|prepared", 14, &m), 0);
  CHECK_EQ(API(uvws_redis_publish_prepared(a.redis, "t", m)), 0);
  uvws_prepared_release(m);
  WAIT_FOR(sa.got == 2 * (size_t)N + 1 && sb.got == 2 * (size_t)N + 1, 5000);
  CHECK(memcmp(sb.last, "0:500|prepared", 14) == 0);

  /* Another Redis client publishes on the channel of topic t. */
  redis_publish_raw(&rp, "uvws:t", "from redis-cli", 14);
  WAIT_FOR(sa.got == 2 * (size_t)N + 2 && sb.got == 2 * (size_t)N + 2, 5000);
  CHECK(sb.last_type == UVWS_TEXT && sb.last_len == 14 &&
        memcmp(sb.last, "from redis-cli", 14) == 0);
  redis_publish_raw(&rp, "uvws:t", "\xff\x00\x01", 3);
  WAIT_FOR(sa.got == 2 * (size_t)N + 3 && sb.got == 2 * (size_t)N + 3, 5000);
  CHECK(sa.last_type == UVWS_BINARY && sa.last_len == 3);
  redis_publish_raw(&rp, "other*app:t", "for c", 5);
  WAIT_FOR(sc.got == 1, 5000);
  /* Another prefix that the escaped pattern must not match. */
  redis_publish_raw(&rp, "otherXapp:t", "not for c", 9);
  run_for(100);
  CHECK_EQ(sc.got, 1);
  CHECK_EQ(sa.got, 2 * N + 3);

  CHECK_EQ(a.undelivered + b.undelivered + c.undelivered, 0);
  uvws_conn_close(sa.conn, 1000, NULL, 0);
  uvws_conn_close(sb.conn, 1000, NULL, 0);
  uvws_conn_close(sb2.conn, 1000, NULL, 0);
  uvws_conn_close(sb_other.conn, 1000, NULL, 0);
  uvws_conn_close(sc.conn, 1000, NULL, 0);
  WAIT_FOR(sa.closed && sb.closed && sb2.closed && sb_other.closed && sc.closed,
           5000);
  node_close(&a);
  node_close(&b);
  node_close(&c);
  node_wait_closed(&a);
  node_wait_closed(&b);
  node_wait_closed(&c);
  CHECK_EQ(a.disconnects + b.disconnects + c.disconnects, 0);
  redis_kill(&rp);
  finish();
}

/* Redis restarts: on_disconnect on both nodes, publishing during the outage
 * says UV_ENOTCONN and still reaches local subscribers, both reconnect, and
 * messages cross again. Messages handed to Redis just before it went are
 * reported by on_undelivered, before on_disconnect. */
static void test_restart(void) {
  redis_proc_t rp;
  node_t a, b;
  sub_t sa, sb;
  uvws_redis_options_t o;
  char url[64];
  long i, seq = 0;

  start("restart: signals, local delivery, reconnection");
  memset(&rp, 0, sizeof(rp));
  redis_start(&rp);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rp.port);
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  node_listen(&a, "a");
  node_listen(&b, "b");
  o = node_options();
  node_attach(&a, url, &o);
  node_attach(&b, url, &o);
  sub_connect(&sa, "sa", &a, "t");
  sub_connect(&sb, "sb", &b, "t");
  sub_wait_subscribed(&sa, &a, "t", 1);
  sub_wait_subscribed(&sb, &b, "t", 1);
  WAIT_FOR(a.connects == 1 && b.connects == 1, 5000);

  for (i = 0; i < 10; i++, seq++)
    CHECK_EQ(publish_seq(&a, "t", 0, seq, UVWS_TEXT, 5), 0);
  WAIT_FOR(sb.got == 10, 5000);

  /* Handed to hiredis, then Redis dies before anything was written. */
  for (i = 0; i < 7; i++)
    CHECK_EQ(publish_seq(&a, "x", 0, i, UVWS_TEXT, 5), 0);
  redis_kill(&rp);
  WAIT_FOR(a.disconnects == 1 && b.disconnects == 1, 5000);
  CHECK(a.last_err == UV_EOF || a.last_err == UV_ECONNRESET ||
        a.last_err == UV_EPIPE);
  CHECK(b.last_err == UV_EOF || b.last_err == UV_ECONNRESET);
  CHECK_EQ(a.undelivered, 7);
  CHECK(a.undelivered_err == a.last_err); /* what closed the connection */
  CHECK(a.undelivered_before_disconnect);
  CHECK_EQ(b.undelivered, 0);
  CHECK(!uvws_redis_connected(a.redis));

  /* The outage: local delivery only, and said so. */
  for (i = 0; i < 5; i++, seq++)
    CHECK_EQ(publish_seq(&a, "t", 0, seq, UVWS_TEXT, 5), UV_ENOTCONN);
  WAIT_FOR(sa.got == 15, 5000);
  run_for(300); /* several failed attempts meanwhile */
  CHECK(a.disconnects > 1 && b.disconnects > 1);
  CHECK_EQ(a.last_err, UV_ECONNREFUSED);
  CHECK_EQ(sb.got, 10);
  CHECK_EQ(a.connects, 1);

  /* Back, on the same port: both reconnect and messages cross again. The
   * subscriber on b missed the outage's messages, so b's sequence skips;
   * b's own publisher 1 goes the other way. */
  redis_start(&rp);
  WAIT_FOR(a.connects == 2 && b.connects == 2, 5000);
  sb.next[0] = seq;
  for (i = 0; i < 20; i++, seq++) {
    CHECK_EQ(publish_seq(&a, "t", 0, seq, UVWS_BINARY, 100), 0);
    CHECK_EQ(publish_seq(&b, "t", 1, i, UVWS_TEXT, 10), 0);
  }
  WAIT_FOR(sa.got == 55 && sb.got == 50, 5000);
  run_for(100);
  CHECK_EQ(sa.got, 55);
  CHECK_EQ(sb.got, 50);
  CHECK_EQ(a.undelivered, 7);

  uvws_conn_close(sa.conn, 1000, NULL, 0);
  uvws_conn_close(sb.conn, 1000, NULL, 0);
  WAIT_FOR(sa.closed && sb.closed, 5000);
  node_close(&a);
  node_close(&b);
  node_wait_closed(&a);
  node_wait_closed(&b);
  redis_kill(&rp);
  finish();
}

/* Closing flushes: messages published right before uvws_redis_close()
 * still reach the other node. max_pending bounds what waits for Redis. */
static void test_close_flush_and_limit(void) {
  redis_proc_t rp;
  node_t a, b;
  sub_t sb;
  uvws_redis_options_t o;
  char url[64];
  long i;

  start("close: flushes what was published; max_pending");
  memset(&rp, 0, sizeof(rp));
  redis_start(&rp);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rp.port);
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  node_listen(&a, "a");
  node_listen(&b, "b");
  o = node_options();
  o.max_pending = 1000;
  node_attach(&a, url, &o);
  o.max_pending = 0;
  node_attach(&b, url, &o);
  sub_connect(&sb, "sb", &b, "t");
  sub_wait_subscribed(&sb, &b, "t", 1);
  WAIT_FOR(a.connects == 1 && b.connects == 1, 5000);

  /* About 420 bytes each with the header: two fit in 1000, the third not
   * until Redis has answered. */
  CHECK_EQ(publish_seq(&a, "t", 0, 0, UVWS_BINARY, 390), 0);
  CHECK_EQ(publish_seq(&a, "t", 0, 1, UVWS_BINARY, 390), 0);
  CHECK_EQ(publish_seq(&a, "t", 0, 2, UVWS_BINARY, 390), UV_ENOBUFS);
  WAIT_FOR(sb.got == 2, 5000);
  sb.next[0] = 3;
  for (i = 3; i < 5; i++)
    CHECK_EQ(publish_seq(&a, "t", 0, i, UVWS_BINARY, 390), 0);
  /* Closed with both unanswered: they still go out. */
  node_close(&a);
  node_wait_closed(&a);
  CHECK_EQ(a.undelivered, 0);
  WAIT_FOR(sb.got == 4, 5000);

  uvws_conn_close(sb.conn, 1000, NULL, 0);
  WAIT_FOR(sb.closed, 5000);
  node_close(&b);
  node_wait_closed(&b);
  redis_kill(&rp);
  finish();
}

/* AUTH: the right password connects, a wrong one is UVWS_EREDIS. A host
 * name is looked up without blocking. */
static void test_auth_and_lookup(void) {
  redis_proc_t rp;
  node_t a, b, c;
  sub_t sb;
  uvws_redis_options_t o;
  char url[128];

  start("AUTH and host names");
  memset(&rp, 0, sizeof(rp));
  strcpy(rp.password, "s3cret@x");
  redis_start(&rp);
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  memset(&c, 0, sizeof(c));
  node_listen(&a, "a");
  node_listen(&b, "b");
  node_listen(&c, "c");
  o = node_options();
  snprintf(url, sizeof(url), "redis://:s3cret%%40x@127.0.0.1:%d/0", rp.port);
  node_attach(&a, url, &o);
  /* localhost may come first as ::1, where nothing listens: the next
   * attempt takes the next address. */
  snprintf(url, sizeof(url), "redis://s3cret%%40x@localhost:%d", rp.port);
  node_attach(&b, url, &o);
  snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d", rp.port);
  node_attach(&c, url, &o);
  sub_connect(&sb, "sb", &b, "t");
  sub_wait_subscribed(&sb, &b, "t", 1);
  WAIT_FOR(a.connects == 1 && b.connects == 1 && c.disconnects >= 2, 5000);
  CHECK_EQ(c.last_err, UVWS_EREDIS);
  CHECK_EQ(c.connects, 0);
  CHECK_EQ(publish_seq(&a, "t", 0, 0, UVWS_TEXT, 3), 0);
  WAIT_FOR(sb.got == 1, 5000);

  uvws_conn_close(sb.conn, 1000, NULL, 0);
  WAIT_FOR(sb.closed, 5000);
  node_close(&a);
  node_close(&b);
  node_close(&c);
  node_wait_closed(&a);
  node_wait_closed(&b);
  node_wait_closed(&c);
  redis_kill(&rp);
  finish();
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_redis_backend REDIS_SERVER\n");
    return 2;
  }
  redis_program = argv[1];
  signal(SIGPIPE, SIG_IGN);
  test_create_errors();
  test_refused();
  test_fanout();
  test_restart();
  test_close_flush_and_limit();
  test_auth_and_lookup();
  fprintf(stderr, "test_redis_backend: all passed\n");
  return 0;
}

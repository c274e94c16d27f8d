/* uvws_async_t: sends and closes posted from other threads.
 *
 * NCONN client connections to a server on one loop; both contexts are
 * attached to one uvws_async_t. The phases, in order:
 *
 *  1. Load: NTHREADS threads post NMSG messages each while the loop runs,
 *     dealt round robin over the connections, two threads to the server
 *     sides and two to the client sides, binary and text. Every message
 *     arrives exactly once and each thread's messages in the order it
 *     posted them; every post gets one on_result, 0, in that order too.
 *  2. Gone: pair 0 closes; then a thread posts sends and closes to both of
 *     its handles, and to handles that never named anything: all UV_ENOENT.
 *  3. Detach: the client context is detached and attached again; the old
 *     handle gives UV_ENOENT, the new one works.
 *  4. Race: a thread posts to pair 1 while the loop closes it midway: the
 *     results go 0..., then UVWS_ESTATE or UV_ENOENT, never back to 0; the
 *     peer gets exactly the messages reported 0. Posts made once the
 *     connection is released get UV_ENOENT.
 *  5. Close from a thread: a thread sends then closes pair 2 (server side,
 *     4001) and pair 3 (client side, 1001): the messages arrive first, then
 *     the code and reason; bad arguments fail at once without on_result.
 *  6. Close the handle: posts still queued get UV_ECANCELED before the
 *     close callback; posts and attachments after it get UVWS_ESTATE.
 *
 * At the end, on_result was called exactly once for every post that
 * returned 0. Built and run under ThreadSanitizer too (scripts/test). */
#include <stdatomic.h>

#include "loopback_util.h"

#define NCONN 4
#define NTHREADS 4 /* phase 1's */
#define NMSG 20000
#define NRACE 20000 /* phase 4's posts before the close, */
#define NLATE 1000  /* and after the connection is gone */
#define NGONE 500   /* phase 2's posts per handle */
#define NBEFORE 100 /* phase 5's messages before each close */
#define NCANCEL 10  /* phase 6 */

/* Posters, each with its numbering of posts and messages. */
enum {
  T_LOAD = 0, /* 0 .. NTHREADS-1 */
  T_GONE = NTHREADS,
  T_DETACH,
  T_RACE,
  T_CLOSE,
  T_CANCEL,
  T_COUNT
};

#define TAG(t, seq) ((void *)(uintptr_t)(((uintptr_t)(t) << 24) | (seq)))

static lb_loop_t L;
static uvws_server_t *server;
static uvws_client_t *client;
static uvws_async_t *async;
static int port;

/* Written on the loop before the threads that read them are created. */
static uint64_t h_server[NCONN], h_client[NCONN]; /* by pair */

/* The loop's thread only. */
typedef struct {
  uvws_conn_t *c, *s; /* client and server side */
  int closed_c, closed_s;
  int close_code_c, close_code_s;
  char close_reason_c[64], close_reason_s[64];
  /* [side][poster]: messages received, next sequence number expected.
   * side 0: received by the client (posted to the server side). */
  unsigned got[2][T_COUNT];
  uint32_t next[2][T_COUNT];
} pair_t;
static pair_t pairs[NCONN];
static int opens;
static unsigned long results;      /* on_result calls */
static uint32_t res_next[T_COUNT]; /* next post expected, per poster */
static unsigned long load_received;
static int phase;
static unsigned race_ok, race_estate, race_enoent;
static int race_stage; /* 0: results 0 so far; 1: ESTATE seen; 2: ENOENT */
static int async_closed;

/* Shared with the threads. */
static atomic_ulong posted; /* posts that returned 0 */
static atomic_int pair1_released;
static uv_thread_t threads[T_COUNT];

static void advance(void);

/* ---- messages: (poster, sequence number) ------------------------------- */

static void post_msg(uint64_t h, unsigned t, uint32_t seq, uint32_t tag_seq) {
  char buf[32];
  int n;
  if (t % 2 == 1) {
    n = snprintf(buf, sizeof(buf), "%u %u \xE2\x82\xAC", t, (unsigned)seq);
    CHECK_ERR(
        uvws_async_send(async, h, UVWS_TEXT, buf, (size_t)n, TAG(t, tag_seq)),
        0);
  } else {
    uint32_t t32 = t;
    memcpy(buf, &t32, 4);
    memcpy(buf + 4, &seq, 4);
    CHECK_ERR(uvws_async_send(async, h, UVWS_BINARY, buf, 8, TAG(t, tag_seq)),
              0);
  }
  atomic_fetch_add(&posted, 1);
}

static void got_msg(pair_t *p, int side, uvws_msg_type_t type, const char *d,
                    size_t n) {
  unsigned t;
  uint32_t seq;
  if (type == UVWS_TEXT) {
    char buf[32];
    unsigned s;
    CHECK(n < sizeof(buf));
    memcpy(buf, d, n);
    buf[n] = '\0';
    CHECK_EQ(sscanf(buf, "%u %u", &t, &s), 2);
    CHECK_EQ(t % 2, 1);
    seq = s;
  } else {
    uint32_t t32;
    CHECK_EQ(n, 8);
    memcpy(&t32, d, 4);
    memcpy(&seq, d + 4, 4);
    t = t32;
    CHECK_EQ(t % 2, 0);
  }
  CHECK(t < T_COUNT);
  /* Exactly once, in the poster's order. */
  CHECK_EQ(seq, p->next[side][t]);
  p->next[side][t] = seq + (t < T_GONE ? NCONN : 1);
  p->got[side][t]++;
  if (t < T_GONE)
    load_received++;
}

/* ---- the threads ----------------------------------------------------- */

static void load_thread(void *arg) {
  unsigned t = (unsigned)(uintptr_t)arg;
  uint32_t i;
  for (i = 0; i < NMSG; i++) {
    unsigned k = i % NCONN;
    /* Threads 0 and 1 post to server sides, 2 and 3 to client sides. */
    post_msg(t < 2 ? h_server[k] : h_client[k], t, i, i);
  }
}

static void gone_thread(void *arg) {
  uint32_t seq = 0, i;
  uint64_t never[2];
  (void)arg;
  never[0] = (UINT64_C(200) << 48) | 1; /* no such attachment */
  never[1] = (h_server[1] & ~((UINT64_C(1) << 48) - 1)) | 999999; /* id */
  for (i = 0; i < NGONE; i++) {
    post_msg(h_server[0], T_GONE, i, seq++);
    post_msg(h_client[0], T_GONE, i, seq++);
    post_msg(never[i % 2], T_GONE, i, seq++);
  }
  CHECK_ERR(uvws_async_close_conn(async, h_server[0], 1000, NULL, 0,
                                  TAG(T_GONE, seq++)),
            0);
  CHECK_ERR(
      uvws_async_close_conn(async, h_client[0], 0, "", 0, TAG(T_GONE, seq++)),
      0);
  atomic_fetch_add(&posted, 2);
}

static void race_thread(void *arg) {
  uint32_t i;
  (void)arg;
  for (i = 0; i < NRACE; i++)
    post_msg(h_server[1], T_RACE, i, i);
  while (!atomic_load(&pair1_released))
    uv_sleep(1);
  for (; i < NRACE + NLATE; i++)
    post_msg(h_server[1], T_RACE, i, i);
}

static void close_thread(void *arg) {
  static const char bad_utf8[] = "\xC3\x28";
  char long_reason[124];
  uint32_t i, seq = 0;
  (void)arg;
  /* Refused at once: no on_result follows. */
  memset(long_reason, 'r', sizeof(long_reason));
  CHECK_ERR(uvws_async_close_conn(async, h_server[2], 999, NULL, 0, NULL),
            UVWS_EBADCODE);
  CHECK_ERR(uvws_async_close_conn(async, h_server[2], 1005, NULL, 0, NULL),
            UVWS_EBADCODE);
  CHECK_ERR(uvws_async_close_conn(async, h_server[2], 5000, NULL, 0, NULL),
            UVWS_EBADCODE);
  CHECK_ERR(uvws_async_close_conn(async, h_server[2], 1000, long_reason,
                                  sizeof(long_reason), NULL),
            UVWS_EBADREASON);
  CHECK_ERR(uvws_async_close_conn(async, h_server[2], 1000, bad_utf8, 2, NULL),
            UVWS_EBADREASON);
  CHECK_ERR(uvws_async_close_conn(async, 0, 1000, NULL, 0, NULL), UV_EINVAL);
  CHECK_ERR(uvws_async_send(async, h_server[2], UVWS_TEXT, bad_utf8, 2, NULL),
            UVWS_EBADUTF8);
  CHECK_ERR(
      uvws_async_send(async, h_server[2], (uvws_msg_type_t)3, "x", 1, NULL),
      UV_EINVAL);
  CHECK_ERR(uvws_async_send(async, h_server[2], UVWS_BINARY, NULL, 5, NULL),
            UV_EINVAL);
  CHECK_ERR(uvws_async_send(async, 0, UVWS_BINARY, "x", 1, NULL), UV_EINVAL);

  for (i = 0; i < NBEFORE; i++) {
    post_msg(h_server[2], T_CLOSE, i, seq++);
    post_msg(h_client[3], T_CLOSE, i, seq++);
  }
  CHECK_ERR(uvws_async_close_conn(async, h_server[2], 4001, "bye from a thread",
                                  17, TAG(T_CLOSE, seq++)),
            0);
  CHECK_ERR(uvws_async_close_conn(async, h_client[3], 1001, "going away", 10,
                                  TAG(T_CLOSE, seq++)),
            0);
  atomic_fetch_add(&posted, 2);
}

static void start_thread(unsigned t, uv_thread_cb fn) {
  CHECK_EQ(uv_thread_create(&threads[t], fn, (void *)(uintptr_t)t), 0);
}

static void join_thread(unsigned t) {
  CHECK_EQ(uv_thread_join(&threads[t]), 0);
}

/* ---- the loop's side --------------------------------------------------- */

static void on_result(uvws_async_t *a, uint64_t conn, void *tag, int status) {
  unsigned t = (unsigned)((uintptr_t)tag >> 24);
  uint32_t seq = (uint32_t)((uintptr_t)tag & 0xFFFFFF);
  LB_NOT_IN_API();
  CHECK(a == async);
  CHECK(conn != 0);
  CHECK(t < T_COUNT);
  /* Once per post, in the poster's order. */
  CHECK_EQ(seq, res_next[t]);
  res_next[t]++;
  results++;
  switch (t) {
  case T_GONE:
    CHECK_ERR(status, UV_ENOENT);
    break;
  case T_DETACH:
    CHECK_ERR(status, seq == 2 ? 0 : UV_ENOENT);
    break;
  case T_RACE:
    if (seq >= NRACE) {
      CHECK_ERR(status, UV_ENOENT); /* posted once the connection was gone */
      race_enoent++;
    } else if (status == 0) {
      CHECK_EQ(race_stage, 0);
      if (++race_ok == 1000)
        CHECK_ERR(API(uvws_conn_close(pairs[1].s, 1000, "midway", 6)), 0);
    } else if (status == UVWS_ESTATE) {
      CHECK(race_stage <= 1);
      race_stage = 1;
      race_estate++;
    } else {
      CHECK_ERR(status, UV_ENOENT);
      race_stage = 2;
      race_enoent++;
    }
    break;
  case T_CANCEL:
    CHECK_ERR(status, UV_ECANCELED);
    CHECK(!async_closed);
    break;
  default: /* the load threads and the closing thread */
    CHECK_ERR(status, 0);
  }
  advance();
}

static void s_open(uvws_conn_t *c) {
  int k;
  LB_NOT_IN_API();
  CHECK_EQ(sscanf(uvws_conn_url(c), "/%d", &k), 1);
  CHECK(k >= 0 && k < NCONN);
  pairs[k].s = c;
  uvws_conn_set_data(c, &pairs[k]);
  CHECK_ERR(uvws_async_handle(async, c, &h_server[k]), 0);
  CHECK(h_server[k] != 0);
  opens++;
  advance();
}

static void c_open(uvws_conn_t *c) {
  pair_t *p = uvws_conn_get_data(c);
  LB_NOT_IN_API();
  CHECK_ERR(uvws_async_handle(async, c, &h_client[p - pairs]), 0);
  opens++;
  advance();
}

static void s_message(uvws_conn_t *c, uvws_msg_type_t type, const char *d,
                      size_t n) {
  LB_NOT_IN_API();
  got_msg(uvws_conn_get_data(c), 1, type, d, n);
  advance();
}

static void c_message(uvws_conn_t *c, uvws_msg_type_t type, const char *d,
                      size_t n) {
  LB_NOT_IN_API();
  got_msg(uvws_conn_get_data(c), 0, type, d, n);
  advance();
}

static void keep_close(int *code_out, char *reason_out, int code,
                       const char *reason, size_t len) {
  CHECK(len < 64);
  *code_out = code;
  memcpy(reason_out, reason, len);
  reason_out[len] = '\0';
}

static void s_close(uvws_conn_t *c, int code, const char *reason, size_t len,
                    int clean) {
  pair_t *p = uvws_conn_get_data(c);
  LB_NOT_IN_API();
  CHECK_EQ(clean, 1);
  CHECK_EQ(p->closed_s, 0);
  p->closed_s = 1;
  keep_close(&p->close_code_s, p->close_reason_s, code, reason, len);
  /* Released when this returns, before the posts the flag lets through
   * are carried out. */
  if (p == &pairs[1])
    atomic_store(&pair1_released, 1);
  advance();
}

static void c_close(uvws_conn_t *c, int code, const char *reason, size_t len,
                    int clean) {
  pair_t *p = uvws_conn_get_data(c);
  LB_NOT_IN_API();
  CHECK_EQ(clean, 1);
  CHECK_EQ(p->closed_c, 0);
  p->closed_c = 1;
  keep_close(&p->close_code_c, p->close_reason_c, code, reason, len);
  advance();
}

static void on_async_closed(uvws_async_t *a) {
  CHECK(a == async);
  CHECK_EQ(res_next[T_CANCEL], NCANCEL);
  async_closed = 1;
  /* Every post that returned 0 had exactly one on_result. */
  CHECK_EQ(results, atomic_load(&posted));
  uvws_server_close(server, NULL);
  uvws_client_close(client, NULL);
}

/* Moves to the next phase when the current one is complete. */
static void advance(void) {
  int k, t;
  uint64_t old, fresh;
  switch (phase) {
  case 0: /* connecting */
    if (opens < 2 * NCONN)
      return;
    phase = 1;
    for (t = 0; t < NTHREADS; t++)
      start_thread((unsigned)t, load_thread);
    return;

  case 1: /* load */
    if (load_received < (unsigned long)NTHREADS * NMSG)
      return;
    for (t = 0; t < NTHREADS; t++)
      if (res_next[t] < NMSG)
        return;
    for (t = 0; t < NTHREADS; t++)
      join_thread((unsigned)t);
    for (k = 0; k < NCONN; k++) {
      for (t = 0; t < NTHREADS; t++) {
        CHECK_EQ(pairs[k].got[t < 2 ? 0 : 1][t], NMSG / NCONN);
        CHECK_EQ(pairs[k].got[t < 2 ? 1 : 0][t], 0);
      }
    }
    fprintf(stderr, "  load: %d threads x %d messages in %.1f ms\n", NTHREADS,
            NMSG, lb_elapsed_ms(&L));
    phase = 2;
    CHECK_ERR(API(uvws_conn_close(pairs[0].c, 1000, "phase 2", 7)), 0);
    return;

  case 2: /* pair 0 gone */
    if (!pairs[0].closed_c || !pairs[0].closed_s)
      return;
    phase = 3;
    start_thread(T_GONE, gone_thread);
    return;

  case 3:
    if (res_next[T_GONE] < 3 * NGONE + 2)
      return;
    join_thread(T_GONE);
    /* Detach the client: its handles find nothing, and keep finding
     * nothing once it is attached again. */
    phase = 4;
    old = h_client[1];
    CHECK_ERR(API(uvws_async_detach_client(async, client)), 0);
    CHECK_ERR(API(uvws_async_detach_client(async, client)), UV_ENOENT);
    CHECK_ERR(API(uvws_async_handle(async, pairs[1].c, &fresh)), UV_ENOENT);
    API_VOID(post_msg(old, T_DETACH, 0, 0));
    CHECK_ERR(API(uvws_async_attach_client(async, client)), 0);
    CHECK_ERR(API(uvws_async_attach_client(async, client)), 0);
    CHECK_ERR(API(uvws_async_handle(async, pairs[1].c, &fresh)), 0);
    CHECK(fresh != old);
    /* The threads to come use the new attachment's handles. */
    for (k = 1; k < NCONN; k++)
      CHECK_ERR(API(uvws_async_handle(async, pairs[k].c, &h_client[k])), 0);
    CHECK(h_client[1] == fresh);
    API_VOID(post_msg(old, T_DETACH, 0, 1));
    API_VOID(post_msg(fresh, T_DETACH, 0, 2));
    return;

  case 4:
    if (res_next[T_DETACH] < 3 || pairs[1].got[1][T_DETACH] < 1)
      return;
    CHECK_EQ(pairs[1].got[1][T_DETACH], 1);
    phase = 5;
    start_thread(T_RACE, race_thread);
    return;

  case 5: /* the race */
    if (res_next[T_RACE] < NRACE + NLATE || !pairs[1].closed_c ||
        !pairs[1].closed_s)
      return;
    join_thread(T_RACE);
    CHECK(race_ok >= 1000);
    CHECK(race_enoent >= NLATE);
    CHECK_EQ(race_ok + race_estate + race_enoent, NRACE + NLATE);
    /* The peer got exactly the messages reported 0. */
    CHECK_EQ(pairs[1].got[0][T_RACE], race_ok);
    CHECK_EQ(pairs[1].close_code_c, 1000);
    CHECK_STR(pairs[1].close_reason_c, "midway");
    fprintf(stderr, "  race: %u sent, %u UVWS_ESTATE, %u UV_ENOENT\n", race_ok,
            race_estate, race_enoent);
    phase = 6;
    start_thread(T_CLOSE, close_thread);
    return;

  case 6: /* closed from a thread */
    if (res_next[T_CLOSE] < 2 * NBEFORE + 2)
      return;
    for (k = 2; k < 4; k++)
      if (!pairs[k].closed_c || !pairs[k].closed_s)
        return;
    join_thread(T_CLOSE);
    CHECK_EQ(pairs[2].got[0][T_CLOSE], NBEFORE);
    CHECK_EQ(pairs[3].got[1][T_CLOSE], NBEFORE);
    CHECK_EQ(pairs[2].close_code_c, 4001);
    CHECK_STR(pairs[2].close_reason_c, "bye from a thread");
    CHECK_EQ(pairs[3].close_code_s, 1001);
    CHECK_STR(pairs[3].close_reason_s, "going away");

    /* Closing the handle cancels what is queued. */
    phase = 7;
    for (k = 0; k < NCANCEL; k++)
      API_VOID(post_msg(h_server[2], T_CANCEL, (uint32_t)k, (uint32_t)k));
    API_VOID(uvws_async_close(async, on_async_closed));
    API_VOID(uvws_async_close(async, on_async_closed)); /* once only */
    CHECK_ERR(
        API(uvws_async_send(async, h_server[2], UVWS_BINARY, "x", 1, NULL)),
        UVWS_ESTATE);
    CHECK_ERR(
        API(uvws_async_close_conn(async, h_server[2], 1000, NULL, 0, NULL)),
        UVWS_ESTATE);
    CHECK_ERR(API(uvws_async_attach_server(async, server)), UVWS_ESTATE);
    return;

  default:
    return;
  }
}

int main(void) {
  uvws_server_options_t sopts;
  uvws_callbacks_t ccbs = {c_open, c_message, NULL, c_close};
  uv_loop_t other;
  uvws_server_t *elsewhere;
  char url[64];
  int k, t, s;

  signal(SIGPIPE, SIG_IGN);
  lb_loop_init(&L, "async", 100000);
  for (k = 0; k < NCONN; k++)
    for (s = 0; s < 2; s++)
      for (t = 0; t < T_COUNT; t++)
        pairs[k].next[s][t] = t < T_GONE ? (uint32_t)k : 0;

  memset(&sopts, 0, sizeof(sopts));
  sopts.callbacks.on_open = s_open;
  sopts.callbacks.on_message = s_message;
  sopts.callbacks.on_close = s_close;
  CHECK_ERR(uvws_server_create(&L.loop, &sopts, &server), 0);
  CHECK_ERR(uvws_server_listen(server, "127.0.0.1", 0, 0), 0);
  port = uvws_server_port(server);
  CHECK_ERR(uvws_client_create(&L.loop, NULL, &client), 0);

  CHECK_ERR(uvws_async_create(NULL, on_result, &async), UV_EINVAL);
  CHECK_ERR(uvws_async_create(&L.loop, on_result, &async), 0);
  CHECK(uvws_async_get_data(async) == NULL);
  uvws_async_set_data(async, &L);
  CHECK(uvws_async_get_data(async) == &L);
  CHECK_ERR(uvws_async_attach_server(async, server), 0);
  CHECK_ERR(uvws_async_attach_client(async, client), 0);

  /* A context of another loop cannot be attached. */
  CHECK_EQ(uv_loop_init(&other), 0);
  CHECK_ERR(uvws_server_create(&other, NULL, &elsewhere), 0);
  CHECK_ERR(uvws_async_attach_server(async, elsewhere), UV_EINVAL);
  CHECK_ERR(uvws_async_detach_server(async, elsewhere), UV_ENOENT);
  uvws_server_close(elsewhere, NULL);
  CHECK_EQ(uv_run(&other, UV_RUN_DEFAULT), 0);
  CHECK_EQ(uv_loop_close(&other), 0);

  for (k = 0; k < NCONN; k++) {
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/%d", port, k);
    CHECK_ERR(uvws_connect(client, url, NULL, &ccbs, &pairs[k], &pairs[k].c),
              0);
  }
  lb_loop_run(&L);
  CHECK_EQ(phase, 7);
  CHECK_EQ(async_closed, 1);
  return 0;
}

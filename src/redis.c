/* Scale-out publish/subscribe: a server's topics mirrored to Redis channels
 * through hiredis's asynchronous API on the server's libuv loop.
 *
 * Design, in short:
 *
 *  - Topic T is Redis channel PREFIX T. Every node publishes with PUBLISH on
 *    one connection and receives with PSUBSCRIBE "PREFIX*" on a second one
 *    (a connection in subscribed mode can send nothing else, RESP2). The
 *    pattern takes every topic of the application, whether or not this node
 *    has subscribers for it: a node keeps no subscription state in Redis, so
 *    a reconnection is one command, and a new local subscriber gets remote
 *    messages from its first moment, with no SUBSCRIBE round trip to race
 *    against. The cost is that every node receives every message of the
 *    prefix and drops those for topics it has no subscriber of (a hash
 *    lookup, before anything is copied).
 *  - Each message carries a header: a magic and version, the publishing
 *    node's random 16-byte id, and the WebSocket message type; the payload
 *    follows, binary-safe (hiredis %b). A node delivers its own messages to
 *    its local subscribers when they are published and ignores them when
 *    Redis echoes them back, so every node delivers each message once.
 *  - A message from Redis is framed once (one uvws_prepared_t) for all the
 *    local subscribers of its topic.
 *  - Redis pub/sub keeps nothing: a node that is disconnected misses what is
 *    published meanwhile (at most once across nodes). Publishing while
 *    disconnected still reaches local subscribers and says so in its return
 *    value; messages handed to Redis whose PUBLISH was never answered are
 *    counted and reported through on_undelivered.
 *  - hiredis's callbacks only record what happened and start the "kick"
 *    timer; the state machine (step()) runs from that timer, so the
 *    application is never called back from inside hiredis or from inside
 *    one of its own calls, and hiredis contexts are never freed from inside
 *    their own callbacks.
 *
 * The event-loop glue is our own small adapter on uv_poll_t rather than
 * <hiredis/adapters/libuv.h>: the adapter of hiredis 0.14 (Debian 12)
 * returns without telling hiredis when uv_poll reports an error, which is
 * what a refused connect or a reset connection looks like to uv_poll, so
 * hiredis would wait for that connection forever. */
#include "ascii.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef UVWS_WITH_REDIS

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "utf8.h"

#define DEFAULT_PREFIX "uvws:"
#define DEFAULT_PORT 6379
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_RECONNECT_MIN_MS 100
#define DEFAULT_RECONNECT_MAX_MS 5000
#define DEFAULT_MAX_PENDING (16u * 1024 * 1024)

/* The header in front of every message a node publishes. */
#define MAGIC "\0uw1" /* version 1 of this layout */
#define MAGIC_LEN 4
#define NODE_ID_LEN 16
#define HDR_LEN (MAGIC_LEN + NODE_ID_LEN + 1) /* ... and the message type */

typedef enum {
  R_RESOLVING,  /* looking the host name up */
  R_CONNECTING, /* both connections being set up */
  R_UP,         /* both connected, AUTH done, PSUBSCRIBE confirmed */
  R_WAITING,    /* backing off before the next attempt */
  R_CLOSING
} rstate_t;

/* One hiredis connection's place on the loop (see the file comment). */
typedef struct {
  uv_poll_t poll;
  redisAsyncContext *ac; /* NULL once hiredis let go of it */
  uvws_redis_t *redis;
  int events;  /* UV_READABLE | UV_WRITABLE that hiredis asked for */
  int sys_err; /* errno when hiredis released it, for the error code */
  int closing;
} rev_t;

/* A host name lookup; left behind (and freed when it completes) when the
 * attempt it belongs to is given up. */
typedef struct {
  uv_getaddrinfo_t req;
  uvws_redis_t *redis;
} rgai_t;

struct uvws_redis_s {
  uvws_allocator_t alloc; /* the server's */
  uvws_server_t *server;
  uv_loop_t *loop;
  void *data;
  uvws_redis_options_t opts; /* numbers and callbacks; prefix below */

  char *host; /* without IPv6 brackets */
  int port;
  char *user, *password; /* NULL when the URL gives none */
  char *prefix;
  size_t prefix_len;
  char *pattern; /* the prefix with glob characters escaped, then '*' */
  size_t pattern_len;
  uint8_t node[NODE_ID_LEN];

  rstate_t state;
  redisAsyncContext *pub, *sub;
  int pub_ready, sub_ready;
  int err; /* why the current attempt or connection failed; 0 */

  uv_timer_t retry;  /* backoff, connect timeout, bound of close's flush */
  uv_timer_t kick;   /* runs step() outside hiredis's callbacks */
  rgai_t *gai;       /* the current lookup */
  unsigned ngai;     /* lookups not completed yet, current or abandoned */
  unsigned nevents;  /* rev_t alive (their handles may be closing) */
  unsigned nhandles; /* retry and kick, until their close callbacks */
  int handles_closing;
  int in_hiredis; /* inside redisAsyncHandleRead/Write */

  unsigned addr_turn;  /* which of the host's addresses to try */
  unsigned backoff_ms; /* the next delay before jitter */
  uint64_t rng;

  size_t inflight;      /* PUBLISH commands not answered yet */
  size_t pending_bytes; /* ... and their size */
  size_t lost;          /* unanswered when their connection went */
  int lost_err;
  size_t refused; /* answered with an error */

  uvws_redis_close_cb close_cb;
};

static void step(uvws_redis_t *r);
static void retry_cb(uv_timer_t *t);

static void kick_cb(uv_timer_t *t) {
  step(t->data);
}

/* step() at the next turn of the loop. */
static void kick(uvws_redis_t *r) {
  if (!r->handles_closing)
    uv_timer_start(&r->kick, kick_cb, 0, 0);
}

/* The first error of an attempt or connection is the one reported. */
static void set_err(uvws_redis_t *r, int err) {
  if (r->err == 0)
    r->err = err;
  kick(r);
}

/* ---- the event-loop adapter --------------------------------------------- */

static void ev_poll_cb(uv_poll_t *h, int status, int events) {
  rev_t *e = h->data;
  uvws_redis_t *r = e->redis;
  /* libuv reports POLLERR as an error with no events and stops the handle;
   * hiredis finds out what went wrong itself when it reads or writes. */
  if (status < 0)
    events = e->events;
  r->in_hiredis++;
  if (e->ac != NULL && (events & UV_READABLE))
    redisAsyncHandleRead(e->ac);
  if (e->ac != NULL && (events & UV_WRITABLE))
    redisAsyncHandleWrite(e->ac);
  r->in_hiredis--;
}

static void ev_update(rev_t *e, int add, int del) {
  e->events = (e->events | add) & ~del;
  if (e->closing)
    return;
  if (e->events)
    uv_poll_start(&e->poll, e->events, ev_poll_cb);
  else
    uv_poll_stop(&e->poll);
}

static void ev_add_read(void *p) {
  ev_update(p, UV_READABLE, 0);
}
static void ev_del_read(void *p) {
  ev_update(p, 0, UV_READABLE);
}
static void ev_add_write(void *p) {
  ev_update(p, UV_WRITABLE, 0);
}
static void ev_del_write(void *p) {
  ev_update(p, 0, UV_WRITABLE);
}

static void ev_closed(uv_handle_t *h) {
  rev_t *e = h->data;
  uvws_redis_t *r = e->redis;
  uvws__free(&r->alloc, e);
  r->nevents--;
  kick(r);
}

/* hiredis is done with the connection; it closes the socket right after. */
static void ev_cleanup(void *p) {
  rev_t *e = p;
  if (e == NULL || e->closing)
    return;
  e->sys_err = errno;
  e->closing = 1;
  e->ac = NULL;
  uv_close((uv_handle_t *)&e->poll, ev_closed);
}

static int ev_attach(uvws_redis_t *r, redisAsyncContext *ac) {
  rev_t *e = uvws__calloc(&r->alloc, 1, sizeof(*e));
  int err;
  if (e == NULL)
    return UV_ENOMEM;
  err = uv_poll_init(r->loop, &e->poll, ac->c.fd);
  if (err != 0) {
    uvws__free(&r->alloc, e);
    return err;
  }
  e->poll.data = e;
  e->ac = ac;
  e->redis = r;
  r->nevents++;
  ac->ev.data = e;
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  return 0;
}

/* ---- errors -------------------------------------------------------------- */

static int sys_err(int e, int fallback) {
  return e > 0 ? uv_translate_sys_error(e) : fallback;
}

/* A libuv or uvws code for what hiredis recorded in ac. Its connection's
 * own field: hiredis 0.14 copies it to ac->err only after on_connect. */
static int ctx_err(const redisAsyncContext *ac, int sys_errno) {
  switch (ac->c.err) {
  case REDIS_ERR_EOF:
    return UV_EOF;
  case REDIS_ERR_IO:
    return sys_err(sys_errno, UV_EIO);
  case REDIS_ERR_OOM:
    return UV_ENOMEM;
  case REDIS_ERR_PROTOCOL:
    return UVWS_EREDIS;
  default:
    return UV_EIO;
  }
}

/* ---- hiredis callbacks: they record, step() acts ------------------------- */

static void on_ctx_connect(const redisAsyncContext *ac, int status) {
  uvws_redis_t *r = ac->data;
  int e = errno;
  if (status == REDIS_OK) {
    /* Dead peers are noticed even when nothing is being published. */
    redisEnableKeepAlive((redisContext *)&ac->c);
    if (ac == r->pub && r->password == NULL)
      r->pub_ready = 1;
    kick(r);
    return;
  }
  /* hiredis frees the context when this returns. */
  if (ac == r->pub)
    r->pub = NULL;
  else if (ac == r->sub)
    r->sub = NULL;
  set_err(r, ac->c.err == REDIS_ERR_IO ? sys_err(e, UV_ECONNREFUSED)
                                       : ctx_err(ac, e));
}

static void on_ctx_disconnect(const redisAsyncContext *ac, int status) {
  uvws_redis_t *r = ac->data;
  const rev_t *e = ac->ev.data;
  /* hiredis frees the context when this returns. */
  if (ac == r->pub) {
    r->pub = NULL;
    r->pub_ready = 0;
  } else if (ac == r->sub) {
    r->sub = NULL;
    r->sub_ready = 0;
  }
  if (r->state == R_CLOSING) {
    kick(r);
    return;
  }
  set_err(r,
          status == REDIS_OK ? UV_ECONNRESET : ctx_err(ac, e ? e->sys_err : 0));
}

static void on_published(redisAsyncContext *ac, void *reply, void *arg) {
  uvws_redis_t *r = ac->data;
  const redisReply *rep = reply;
  r->inflight--;
  r->pending_bytes -= (size_t)(uintptr_t)arg;
  if (rep == NULL) {
    /* The connection went first: Redis may or may not have passed the
     * message on. Reported with the error that closed it (fail()). */
    r->lost++;
    kick(r);
  } else if (rep->type == REDIS_REPLY_ERROR) {
    r->refused++;
    kick(r);
  } else if (r->state == R_CLOSING && r->inflight == 0) {
    kick(r); /* close was waiting for this */
  }
}

static void deliver(uvws_redis_t *r, const char *channel, size_t clen,
                    const char *payload, size_t plen) {
  const char *topic;
  uvws_msg_type_t type;
  uvws_prepared_t *m;

  if (r->server == NULL || clen <= r->prefix_len ||
      memcmp(channel, r->prefix, r->prefix_len) != 0 ||
      memchr(channel, '\0', clen) != NULL)
    return;                        /* not a topic name */
  topic = channel + r->prefix_len; /* hiredis ends strings with a NUL */
  if (plen >= HDR_LEN && memcmp(payload, MAGIC, MAGIC_LEN) == 0) {
    if (memcmp(payload + MAGIC_LEN, r->node, NODE_ID_LEN) == 0)
      return; /* ours: its local subscribers had it when it was published */
    type = (uvws_msg_type_t)(unsigned char)payload[HDR_LEN - 1];
    if (type != UVWS_TEXT && type != UVWS_BINARY)
      return;
    payload += HDR_LEN;
    plen -= HDR_LEN;
  } else {
    /* Published by another kind of Redis client (redis-cli, a worker):
     * text when it is UTF-8. */
    type = uvws__utf8_is_valid(payload, plen) ? UVWS_TEXT : UVWS_BINARY;
  }
  if (uvws_server_subscribers(r->server, topic) == 0)
    return;
  if (uvws_prepared_create_ex(&r->alloc, type, payload, plen, &m) != 0)
    return; /* no memory, or a sender that broke the UTF-8 rule */
  uvws_server_publish_prepared(r->server, topic, m);
  uvws_prepared_release(m);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *arg) {
  uvws_redis_t *r = ac->data;
  const redisReply *rep = reply;
  const redisReply *kind;
  (void)arg;
  if (rep == NULL)
    return; /* the connection is going; on_ctx_disconnect says why */
  if (rep->type == REDIS_REPLY_ERROR) {
    set_err(r, UVWS_EREDIS);
    return;
  }
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
    return;
  kind = rep->element[0];
  if (kind->type != REDIS_REPLY_STRING)
    return;
  if (strcmp(kind->str, "pmessage") == 0 && rep->elements == 4 &&
      rep->element[2]->type == REDIS_REPLY_STRING &&
      rep->element[3]->type == REDIS_REPLY_STRING) {
    deliver(r, rep->element[2]->str, rep->element[2]->len, rep->element[3]->str,
            rep->element[3]->len);
  } else if (strcmp(kind->str, "psubscribe") == 0) {
    r->sub_ready = 1;
    kick(r);
  }
}

static void psubscribe(uvws_redis_t *r) {
  if (redisAsyncCommand(r->sub, on_sub_reply, NULL, "PSUBSCRIBE %b", r->pattern,
                        r->pattern_len) != REDIS_OK)
    set_err(r, UV_ENOMEM);
}

static void on_auth(redisAsyncContext *ac, void *reply, void *arg) {
  uvws_redis_t *r = ac->data;
  const redisReply *rep = reply;
  (void)arg;
  if (rep == NULL)
    return;
  if (rep->type == REDIS_REPLY_ERROR) {
    set_err(r, UVWS_EREDIS);
    return;
  }
  if (ac == r->pub) {
    r->pub_ready = 1;
    kick(r);
  } else if (ac == r->sub) {
    psubscribe(r);
  }
}

/* ---- connecting ---------------------------------------------------------- */

static int auth(uvws_redis_t *r, redisAsyncContext *ac) {
  int rc;
  if (r->user != NULL)
    rc = redisAsyncCommand(ac, on_auth, NULL, "AUTH %b %b", r->user,
                           strlen(r->user), r->password, strlen(r->password));
  else
    rc = redisAsyncCommand(ac, on_auth, NULL, "AUTH %b", r->password,
                           strlen(r->password));
  return rc == REDIS_OK ? 0 : UV_ENOMEM;
}

/* Opens one connection to ip. */
static int open_ctx(uvws_redis_t *r, const char *ip, redisAsyncContext **out) {
  redisAsyncContext *ac;
  int err, e;

  errno = 0;
  ac = redisAsyncConnect(ip, r->port);
  e = errno;
  if (ac == NULL)
    return UV_ENOMEM;
  if (ac->c.err != 0) {
    err = ac->c.err == REDIS_ERR_IO || ac->c.err == REDIS_ERR_OTHER
              ? sys_err(e, UV_ECONNREFUSED)
              : ctx_err(ac, e);
    redisAsyncFree(ac); /* never connected: no callbacks */
    return err;
  }
  err = ev_attach(r, ac);
  if (err != 0) {
    redisAsyncFree(ac);
    return err;
  }
  ac->data = r;
  redisAsyncSetConnectCallback(ac, on_ctx_connect);
  redisAsyncSetDisconnectCallback(ac, on_ctx_disconnect);
  *out = ac;
  return 0;
}

static void connect_to(uvws_redis_t *r, const char *ip) {
  int err;

  r->state = R_CONNECTING;
  r->pub_ready = r->sub_ready = 0;
  err = open_ctx(r, ip, &r->pub);
  if (err == 0)
    err = open_ctx(r, ip, &r->sub);
  if (err == 0 && r->password != NULL)
    err = auth(r, r->pub);
  if (err == 0 && r->password != NULL)
    err = auth(r, r->sub);
  else if (err == 0)
    psubscribe(r);
  if (err != 0)
    set_err(r, err);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  rgai_t *g = req->data;
  uvws_redis_t *r = g->redis;
  const struct addrinfo *ai;
  char ip[64];
  int current = r->gai == g;
  unsigned n = 0;

  r->ngai--;
  if (current)
    r->gai = NULL;
  uvws__free(&r->alloc, g);
  if (!current || r->state != R_RESOLVING) {
    uv_freeaddrinfo(res);
    kick(r); /* a closing backend may be waiting for this */
    return;
  }
  if (status == 0) {
    /* One address per attempt, the next one after a failure: "localhost"
     * may give ::1 first to a Redis that listens on 127.0.0.1 only. */
    for (ai = res; ai != NULL; ai = ai->ai_next)
      n++;
    for (ai = res, n = r->addr_turn % n; n > 0; n--)
      ai = ai->ai_next;
    if (ai->ai_family == AF_INET6)
      status = uv_ip6_name((struct sockaddr_in6 *)ai->ai_addr, ip, sizeof(ip));
    else
      status = uv_ip4_name((struct sockaddr_in *)ai->ai_addr, ip, sizeof(ip));
  }
  uv_freeaddrinfo(res);
  if (status != 0) {
    set_err(r, status);
    return;
  }
  connect_to(r, ip);
}

/* Starts a connection attempt: a lookup first unless the host is an IP
 * address, so the loop never blocks in getaddrinfo(). */
static void attempt(uvws_redis_t *r) {
  struct in6_addr a6;
  struct in_addr a4;
  struct addrinfo hints;
  rgai_t *g;
  int err;

  r->err = 0;
  /* connect_timeout_ms bounds the whole attempt, lookup included. */
  uv_timer_start(&r->retry, retry_cb, r->opts.connect_timeout_ms, 0);
  if (uv_inet_pton(AF_INET, r->host, &a4) == 0 ||
      uv_inet_pton(AF_INET6, r->host, &a6) == 0) {
    connect_to(r, r->host);
    return;
  }
  r->state = R_RESOLVING;
  g = uvws__calloc(&r->alloc, 1, sizeof(*g));
  if (g == NULL) {
    set_err(r, UV_ENOMEM);
    return;
  }
  g->redis = r;
  g->req.data = g;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  err = uv_getaddrinfo(r->loop, &g->req, on_resolved, r->host, NULL, &hints);
  if (err != 0) {
    uvws__free(&r->alloc, g);
    set_err(r, err);
    return;
  }
  r->gai = g;
  r->ngai++;
}

/* Lets go of both connections and of a lookup in progress. Unanswered
 * PUBLISH commands are counted as lost by on_published(). */
static void teardown(uvws_redis_t *r) {
  redisAsyncContext *ac;
  if (r->gai != NULL) {
    uv_cancel((uv_req_t *)&r->gai->req); /* on_resolved frees it */
    r->gai = NULL;
  }
  if ((ac = r->sub) != NULL) {
    r->sub = NULL;
    redisAsyncFree(ac);
  }
  if ((ac = r->pub) != NULL) {
    r->pub = NULL;
    redisAsyncFree(ac);
  }
  r->pub_ready = r->sub_ready = 0;
}

static uint64_t next_random(uvws_redis_t *r) {
  /* xorshift64: jitter needs no more. */
  r->rng ^= r->rng << 13;
  r->rng ^= r->rng >> 7;
  r->rng ^= r->rng << 17;
  return r->rng;
}

/* The delay before the next attempt: exponential, bounded, with jitter so
 * that nodes that lost Redis together do not all come back together. */
static unsigned next_delay(uvws_redis_t *r) {
  unsigned d = r->backoff_ms, half = d / 2;
  if (r->backoff_ms < r->opts.reconnect_max_ms / 2)
    r->backoff_ms *= 2;
  else
    r->backoff_ms = r->opts.reconnect_max_ms;
  return half + (unsigned)(next_random(r) % (d - half + 1));
}

/* ---- the state machine --------------------------------------------------- */

/* Reports messages whose delivery to other nodes failed. Returns non-zero
 * when the backend is closing (the application may have closed it from its
 * callback). */
static int report_undelivered(uvws_redis_t *r) {
  size_t n;
  int err;
  if (r->lost > 0) {
    n = r->lost;
    err = r->lost_err ? r->lost_err : UV_ECONNRESET;
    r->lost = 0;
    r->lost_err = 0;
    if (r->opts.on_undelivered != NULL)
      r->opts.on_undelivered(r, n, err);
  }
  if (r->refused > 0) {
    n = r->refused;
    r->refused = 0;
    if (r->opts.on_undelivered != NULL)
      r->opts.on_undelivered(r, n, UVWS_EREDIS);
  }
  return r->state == R_CLOSING;
}

static void fail(uvws_redis_t *r) {
  int err = r->err ? r->err : UV_ECONNRESET;
  unsigned delay;

  teardown(r); /* counts what is still unanswered as lost */
  if (r->lost > 0 && r->lost_err == 0)
    r->lost_err = err;
  r->err = 0;
  r->addr_turn++;
  delay = next_delay(r);
  r->state = R_WAITING;
  uv_timer_start(&r->retry, retry_cb, delay, 0);
  if (report_undelivered(r))
    return;
  if (r->opts.on_disconnect != NULL)
    r->opts.on_disconnect(r, err, delay);
}

static void redis_free(uvws_redis_t *r);

static void handle_closed(uv_handle_t *h) {
  uvws_redis_t *r = h->data;
  if (--r->nhandles > 0)
    return;
  report_undelivered(r);
  if (r->close_cb != NULL)
    r->close_cb(r);
  redis_free(r);
}

static void close_step(uvws_redis_t *r) {
  if (r->in_hiredis)
    return;
  if (r->sub != NULL) {
    redisAsyncContext *ac = r->sub;
    r->sub = NULL;
    redisAsyncFree(ac);
  }
  if (r->pub != NULL && r->inflight == 0) {
    redisAsyncContext *ac = r->pub;
    r->pub = NULL;
    redisAsyncFree(ac);
  }
  if (r->pub != NULL || r->ngai > 0 || r->nevents > 0 || r->handles_closing)
    return;
  r->handles_closing = 1;
  uv_timer_stop(&r->retry);
  uv_timer_stop(&r->kick);
  uv_close((uv_handle_t *)&r->retry, handle_closed);
  uv_close((uv_handle_t *)&r->kick, handle_closed);
}

static void step(uvws_redis_t *r) {
  if (r->in_hiredis) {
    kick(r);
    return;
  }
  if (r->state == R_CLOSING) {
    close_step(r);
    return;
  }
  switch (r->state) {
  case R_RESOLVING:
  case R_CONNECTING:
    if (r->err != 0) {
      fail(r);
      return;
    }
    if (report_undelivered(r))
      return;
    if (r->state == R_CONNECTING && r->pub_ready && r->sub_ready) {
      r->state = R_UP;
      r->backoff_ms = r->opts.reconnect_min_ms;
      uv_timer_stop(&r->retry);
      if (r->opts.on_connect != NULL)
        r->opts.on_connect(r);
    }
    return;
  case R_UP:
    if (r->err != 0 || r->pub == NULL || r->sub == NULL) {
      fail(r);
      return;
    }
    report_undelivered(r);
    return;
  case R_WAITING:
    report_undelivered(r);
    return;
  case R_CLOSING:
    return;
  }
}

static void retry_cb(uv_timer_t *t) {
  uvws_redis_t *r = t->data;
  switch (r->state) {
  case R_WAITING:
    attempt(r);
    return;
  case R_RESOLVING:
  case R_CONNECTING:
    set_err(r, UV_ETIMEDOUT);
    return;
  case R_CLOSING:
    /* close waited long enough for Redis to confirm what was published
     * before it: whatever is still unconfirmed is reported as lost. */
    if (r->pub != NULL) {
      redisAsyncContext *ac = r->pub;
      r->pub = NULL;
      r->lost_err = UV_ECANCELED;
      redisAsyncFree(ac);
    }
    kick(r);
    return;
  case R_UP:
    return;
  }
}

/* ---- URLs -----------------------------------------------------------------
 */

/* A percent-decoded copy of s[0..n), or NULL (no memory, a bad escape or
 * a NUL). *err says which. */
static char *decode(const uvws_allocator_t *al, const char *s, size_t n,
                    int *err) {
  char *out = uvws__malloc(al, n + 1), *o = out;
  size_t i;
  if (out == NULL) {
    *err = UV_ENOMEM;
    return NULL;
  }
  for (i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= n || uvws__hex_value(s[i + 1]) < 0 ||
          uvws__hex_value(s[i + 2]) < 0)
        goto bad;
      c = uvws__hex_value(s[i + 1]) * 16 + uvws__hex_value(s[i + 2]);
      i += 2;
    }
    if (c == 0)
      goto bad;
    *o++ = (char)c;
  }
  *o = '\0';
  return out;
bad:
  uvws__free(al, out);
  *err = UVWS_EBADURL;
  return NULL;
}

/* redis://[[user]:password@]host[:port][/db] */
static int parse_url(uvws_redis_t *r, const char *url) {
  const char *p, *at, *hend, *end, *colon;
  int err = UVWS_EBADURL;
  size_t i;

  for (i = 0; url[i]; i++)
    if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
      return UVWS_EBADURL;
  if (strncasecmp(url, "rediss://", 9) == 0 ||
      strncasecmp(url, "unix://", 7) == 0)
    return UV_ENOTSUP; /* no TLS nor Unix sockets here (hiredis 0.14) */
  if (strncasecmp(url, "redis://", 8) != 0)
    return UVWS_EBADURL;
  p = url + 8;
  end = p + strcspn(p, "/?#");
  if (*end == '?' || *end == '#')
    return UVWS_EBADURL;
  if (*end == '/') {
    /* A database number: pub/sub channels are not per database, so it is
     * accepted and has no effect. */
    for (i = 1; end[i]; i++)
      if (end[i] < '0' || end[i] > '9')
        return UVWS_EBADURL;
  }
  /* The last '@': one in a password should be written %40, but is taken
   * as part of it. */
  at = NULL;
  for (colon = p; colon < end; colon++)
    if (*colon == '@')
      at = colon;
  if (at != NULL) {
    colon = memchr(p, ':', (size_t)(at - p));
    if (colon == NULL) /* "redis://secret@host" (a password alone) */
      colon = p - 1;
    else if (colon > p && (r->user = decode(&r->alloc, p, (size_t)(colon - p),
                                            &err)) == NULL)
      return err;
    if (at > colon + 1) {
      r->password =
          decode(&r->alloc, colon + 1, (size_t)(at - colon - 1), &err);
      if (r->password == NULL)
        return err;
    }
    p = at + 1;
  }
  if (*p == '[') {
    hend = memchr(p, ']', (size_t)(end - p));
    if (hend == NULL || hend == p + 1)
      return UVWS_EBADURL;
    r->host = uvws__strndup(&r->alloc, p + 1, (size_t)(hend - p - 1));
    p = hend + 1;
  } else {
    hend = memchr(p, ':', (size_t)(end - p));
    if (hend == NULL)
      hend = end;
    if (hend == p)
      return UVWS_EBADURL;
    r->host = uvws__strndup(&r->alloc, p, (size_t)(hend - p));
    p = hend;
  }
  if (r->host == NULL)
    return UV_ENOMEM;
  r->port = DEFAULT_PORT;
  if (p < end) {
    long port = 0;
    if (*p != ':' || p + 1 == end || end - p > 6)
      return UVWS_EBADURL;
    for (p++; p < end; p++) {
      if (*p < '0' || *p > '9')
        return UVWS_EBADURL;
      port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535)
      return UVWS_EBADURL;
    r->port = (int)port;
  }
  return 0;
}

/* The prefix as a Redis glob pattern that matches it and anything after. */
static int make_pattern(uvws_redis_t *r) {
  size_t i, n = 0;
  r->pattern = uvws__malloc(&r->alloc, 2 * r->prefix_len + 2);
  if (r->pattern == NULL)
    return UV_ENOMEM;
  for (i = 0; i < r->prefix_len; i++) {
    char c = r->prefix[i];
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
      r->pattern[n++] = '\\';
    r->pattern[n++] = c;
  }
  r->pattern[n++] = '*';
  r->pattern[n] = '\0';
  r->pattern_len = n;
  return 0;
}

/* ---- the API --------------------------------------------------------------
 */

/* Frees r and the strings it owns. */
static void redis_free(uvws_redis_t *r) {
  uvws_allocator_t al = r->alloc; /* r's memory comes from it */
  uvws__free(&al, r->host);
  uvws__free(&al, r->user);
  uvws__free(&al, r->password);
  uvws__free(&al, r->prefix);
  uvws__free(&al, r->pattern);
  uvws__free(&al, r);
}

int uvws_redis_create(uvws_server_t *server, const char *url,
                      const uvws_redis_options_t *options, uvws_redis_t **out) {
  uvws_redis_t *r;
  const char *prefix;
  int err;

  if (server == NULL || url == NULL || out == NULL)
    return UV_EINVAL;
  r = uvws__calloc(&server->ctx.alloc, 1, sizeof(*r));
  if (r == NULL)
    return UV_ENOMEM;
  r->alloc = server->ctx.alloc;
  if (options != NULL)
    r->opts = *options;
  r->opts.prefix = NULL;
  if (r->opts.connect_timeout_ms == 0)
    r->opts.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
  if (r->opts.reconnect_min_ms == 0)
    r->opts.reconnect_min_ms = DEFAULT_RECONNECT_MIN_MS;
  if (r->opts.reconnect_max_ms == 0)
    r->opts.reconnect_max_ms =
        r->opts.reconnect_min_ms > DEFAULT_RECONNECT_MAX_MS
            ? r->opts.reconnect_min_ms
            : DEFAULT_RECONNECT_MAX_MS;
  if (r->opts.max_pending == 0)
    r->opts.max_pending = DEFAULT_MAX_PENDING;
  if (r->opts.reconnect_max_ms < r->opts.reconnect_min_ms) {
    redis_free(r);
    return UV_EINVAL;
  }
  err = parse_url(r, url);
  if (err != 0) {
    redis_free(r);
    return err;
  }
  prefix = options != NULL && options->prefix != NULL ? options->prefix
                                                      : DEFAULT_PREFIX;
  r->prefix_len = strlen(prefix);
  r->prefix = uvws__strdup(&r->alloc, prefix);
  if (r->prefix == NULL || make_pattern(r) != 0) {
    redis_free(r);
    return UV_ENOMEM;
  }
  /* The node id tells this node's messages apart when Redis echoes them;
   * it must differ between nodes, so it is random. */
  err = uv_random(NULL, NULL, r->node, sizeof(r->node), 0, NULL);
  if (err != 0) {
    redis_free(r);
    return err;
  }
  memcpy(&r->rng, r->node, sizeof(r->rng));
  r->rng |= 1;

  r->server = server;
  r->loop = uvws_server_loop(server);
  r->backoff_ms = r->opts.reconnect_min_ms;
  uv_timer_init(r->loop, &r->retry);
  uv_timer_init(r->loop, &r->kick);
  r->retry.data = r->kick.data = r;
  r->nhandles = 2;
  /* Failures of the first attempt, even immediate ones, are reported from
   * step(), after this call has returned. */
  attempt(r);
  *out = r;
  return 0;
}

/* Publishes to Redis (the local subscribers already have it). */
static int publish_remote(uvws_redis_t *r, const char *topic,
                          uvws_msg_type_t type, const char *data, size_t len) {
  char hdr[HDR_LEN];
  size_t size = HDR_LEN + len;

  if (r->state != R_UP || r->pub == NULL)
    return UV_ENOTCONN;
  if (r->pending_bytes + size > r->opts.max_pending)
    return UV_ENOBUFS;
  memcpy(hdr, MAGIC, MAGIC_LEN);
  memcpy(hdr + MAGIC_LEN, r->node, NODE_ID_LEN);
  hdr[HDR_LEN - 1] = (char)type;
  /* Adjacent %b go into one argument: the channel is prefix and topic, the
   * message header and payload; hiredis copies both into its output. */
  if (redisAsyncCommand(r->pub, on_published, (void *)(uintptr_t)size,
                        "PUBLISH %b%b %b%b", r->prefix, r->prefix_len, topic,
                        strlen(topic), hdr, (size_t)HDR_LEN, len ? data : "",
                        len) != REDIS_OK)
    return UV_ENOTCONN;
  r->inflight++;
  r->pending_bytes += size;
  return 0;
}

int uvws_redis_publish(uvws_redis_t *r, const char *topic, uvws_msg_type_t type,
                       const char *data, size_t len) {
  uvws_prepared_t *m;
  int err;

  if (r == NULL || topic == NULL || topic[0] == '\0' ||
      (type != UVWS_TEXT && type != UVWS_BINARY) || (len && data == NULL))
    return UV_EINVAL;
  if (r->state == R_CLOSING)
    return UVWS_ESTATE;
  if (uvws_server_subscribers(r->server, topic) > 0) {
    /* Validates text too. */
    err = uvws_prepared_create_ex(&r->alloc, type, data, len, &m);
    if (err != 0)
      return err;
    uvws_server_publish_prepared(r->server, topic, m);
    uvws_prepared_release(m);
  } else if (type == UVWS_TEXT && !uvws__utf8_is_valid(data, len)) {
    return UVWS_EBADUTF8;
  }
  return publish_remote(r, topic, type, data, len);
}

int uvws_redis_publish_prepared(uvws_redis_t *r, const char *topic,
                                uvws_prepared_t *msg) {
  if (r == NULL || topic == NULL || topic[0] == '\0' || msg == NULL)
    return UV_EINVAL;
  if (r->state == R_CLOSING)
    return UVWS_ESTATE;
  uvws_server_publish_prepared(r->server, topic, msg);
  return publish_remote(r, topic, (uvws_msg_type_t)msg->type,
                        msg->plain + msg->plain_hlen, msg->len);
}

int uvws_redis_connected(const uvws_redis_t *r) {
  return r != NULL && r->state == R_UP;
}

void *uvws_redis_get_data(const uvws_redis_t *r) {
  return r->data;
}

void uvws_redis_set_data(uvws_redis_t *r, void *data) {
  r->data = data;
}

void uvws_redis_close(uvws_redis_t *r, uvws_redis_close_cb cb) {
  if (r == NULL || r->state == R_CLOSING)
    return;
  r->state = R_CLOSING;
  r->close_cb = cb;
  if (r->gai != NULL) {
    uv_cancel((uv_req_t *)&r->gai->req);
    r->gai = NULL;
  }
  /* Stop receiving now: after this call the server is not used any more,
   * so it may be closed at once. What was published is still flushed, for
   * at most connect_timeout_ms. */
  if (r->sub != NULL && !r->in_hiredis) {
    redisAsyncContext *ac = r->sub;
    r->sub = NULL;
    redisAsyncFree(ac);
  }
  r->server = NULL;
  uv_timer_stop(&r->retry);
  if (r->pub != NULL && r->inflight > 0)
    uv_timer_start(&r->retry, retry_cb, r->opts.connect_timeout_ms, 0);
  kick(r);
}

#else /* !UVWS_WITH_REDIS: the API's stand-ins */

int uvws_redis_create(uvws_server_t *server, const char *url,
                      const uvws_redis_options_t *options, uvws_redis_t **out) {
  (void)server;
  (void)url;
  (void)options;
  (void)out;
  return UV_ENOTSUP;
}

int uvws_redis_publish(uvws_redis_t *r, const char *topic, uvws_msg_type_t type,
                       const char *data, size_t len) {
  (void)r;
  (void)topic;
  (void)type;
  (void)data;
  (void)len;
  return UV_ENOTSUP;
}

int uvws_redis_publish_prepared(uvws_redis_t *r, const char *topic,
                                uvws_prepared_t *msg) {
  (void)r;
  (void)topic;
  (void)msg;
  return UV_ENOTSUP;
}

int uvws_redis_connected(const uvws_redis_t *r) {
  (void)r;
  return 0;
}

void *uvws_redis_get_data(const uvws_redis_t *r) {
  (void)r;
  return NULL;
}

void uvws_redis_set_data(uvws_redis_t *r, void *data) {
  (void)r;
  (void)data;
}

void uvws_redis_close(uvws_redis_t *r, uvws_redis_close_cb cb) {
  (void)r;
  (void)cb;
}

#endif /* UVWS_WITH_REDIS */

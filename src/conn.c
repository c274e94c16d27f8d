/* Connection objects on libuv streams: reading into the engine, the write
 * queue and bufferedAmount, the closing handshake (RFC 6455 7) and the W3C
 * event model. */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "tls_conn.h"
#include "utf8.h"

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static size_t conn_unwritten(const uvws_conn_t *conn);
static void on_write(uv_write_t *req, int status);
static void on_handle_closed(uv_handle_t *h);
static void keepalive_arm(uvws_conn_t *conn);
static void after_queue(uvws_conn_t *conn);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void buffered_limit(uvws_conn_t *conn);

static void p_message(uvws__proto_t *p, unsigned op, const char *d, size_t n);
static void p_ping(uvws__proto_t *p, const char *d, size_t n);
static void p_pong(uvws__proto_t *p, const char *d, size_t n);
static void p_close(uvws__proto_t *p, unsigned code, const char *r, size_t n);

static void p_chunk(uvws__proto_t *p, unsigned op, const char *d, size_t n,
                    int last);
static void p_get_buf(uvws__proto_t *p, uvws__buf_t *msg);
static void p_put_buf(uvws__proto_t *p, uvws__buf_t *msg);

static const uvws__proto_cbs_t proto_cbs = {
    p_message, p_ping, p_pong, p_close, p_chunk, p_get_buf, p_put_buf};

void uvws__limits_resolve(uvws_limits_t *out, const uvws_limits_t *in,
                          const uvws_limits_t *fallback) {
  static const uvws_limits_t defaults = {
      UVWS__DEFAULT_MAX_MESSAGE, UVWS__DEFAULT_MAX_HEADER,
      UVWS__DEFAULT_HANDSHAKE_MS, UVWS__DEFAULT_CLOSE_MS, 0, 0, 0, 0,
      UVWS__DEFAULT_MAX_FRAGMENTS, UVWS__DEFAULT_MAX_BUFFERED,
      UVWS_BUFFERED_PAUSE};
  const uvws_limits_t *f = fallback ? fallback : &defaults;
  uvws_limits_t z;
  if (in == NULL) {
    memset(&z, 0, sizeof(z));
    in = &z;
  }
  out->max_message_size =
      in->max_message_size ? in->max_message_size : f->max_message_size;
  out->max_header_size =
      in->max_header_size ? in->max_header_size : f->max_header_size;
  out->handshake_timeout_ms = in->handshake_timeout_ms
                                  ? in->handshake_timeout_ms
                                  : f->handshake_timeout_ms;
  out->close_timeout_ms =
      in->close_timeout_ms ? in->close_timeout_ms : f->close_timeout_ms;
  out->drain_low_water =
      in->drain_low_water ? in->drain_low_water : f->drain_low_water;
  out->ping_interval_ms =
      in->ping_interval_ms ? in->ping_interval_ms : f->ping_interval_ms;
  out->ping_timeout_ms =
      in->ping_timeout_ms ? in->ping_timeout_ms : f->ping_timeout_ms;
  if (out->ping_timeout_ms == 0)
    out->ping_timeout_ms = out->ping_interval_ms;
  out->idle_timeout_ms =
      in->idle_timeout_ms ? in->idle_timeout_ms : f->idle_timeout_ms;
  out->max_fragments =
      in->max_fragments ? in->max_fragments : f->max_fragments;
  out->max_buffered = in->max_buffered ? in->max_buffered : f->max_buffered;
  out->buffered_policy =
      in->buffered_policy ? in->buffered_policy : f->buffered_policy;
}

static const uvws_callbacks_t no_callbacks;

/* ---- connections by id --------------------------------------------------
 * Linear probing keyed by id, with backward-shift deletion so no
 * tombstones pile up as connections come and go. */

static size_t id_slot(uint64_t id, size_t cap) {
  return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & (cap - 1);
}

static int ids_grow(uvws__ctx_t *ctx) {
  size_t cap = ctx->ids_cap ? ctx->ids_cap * 2 : 64, i;
  uvws_conn_t **t = uvws__calloc(&ctx->alloc, cap, sizeof(*t));
  if (t == NULL)
    return UV_ENOMEM;
  for (i = 0; i < ctx->ids_cap; i++) {
    uvws_conn_t *c = ctx->ids[i];
    if (c != NULL) {
      size_t j = id_slot(c->id, cap);
      while (t[j] != NULL)
        j = (j + 1) & (cap - 1);
      t[j] = c;
    }
  }
  uvws__free(&ctx->alloc, ctx->ids);
  ctx->ids = t;
  ctx->ids_cap = cap;
  return 0;
}

static int ids_insert(uvws__ctx_t *ctx, uvws_conn_t *conn) {
  size_t j;
  if ((ctx->ids_len + 1) * 2 > ctx->ids_cap && ids_grow(ctx) != 0)
    return UV_ENOMEM;
  j = id_slot(conn->id, ctx->ids_cap);
  while (ctx->ids[j] != NULL)
    j = (j + 1) & (ctx->ids_cap - 1);
  ctx->ids[j] = conn;
  ctx->ids_len++;
  return 0;
}

static void ids_remove(uvws__ctx_t *ctx, uvws_conn_t *conn) {
  size_t mask = ctx->ids_cap - 1, i, j;
  if (ctx->ids == NULL)
    return;
  for (i = id_slot(conn->id, ctx->ids_cap); ctx->ids[i] != conn;
       i = (i + 1) & mask)
    if (ctx->ids[i] == NULL)
      return;
  ctx->ids[i] = NULL;
  ctx->ids_len--;
  /* Move later members of the run back into the hole when their home
   * slot allows it. */
  for (j = (i + 1) & mask; ctx->ids[j] != NULL; j = (j + 1) & mask) {
    size_t home = id_slot(ctx->ids[j]->id, ctx->ids_cap);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      ctx->ids[i] = ctx->ids[j];
      ctx->ids[j] = NULL;
      i = j;
    }
  }
}

int uvws__ctx_index_ids(uvws__ctx_t *ctx) {
  uvws_conn_t *c;
  if (ctx->ids != NULL)
    return 0;
  if (ids_grow(ctx) != 0)
    return UV_ENOMEM;
  for (c = ctx->conns; c != NULL; c = c->next)
    if (ids_insert(ctx, c) != 0)
      return UV_ENOMEM;
  return 0;
}

uvws_conn_t *uvws__ctx_find(const uvws__ctx_t *ctx, uint64_t id) {
  size_t j;
  if (ctx->ids == NULL)
    return NULL;
  for (j = id_slot(id, ctx->ids_cap); ctx->ids[j] != NULL;
       j = (j + 1) & (ctx->ids_cap - 1))
    if (ctx->ids[j]->id == id)
      return ctx->ids[j];
  return NULL;
}

uint64_t uvws_conn_id(const uvws_conn_t *conn) {
  return conn->id;
}

uvws_server_t *uvws_conn_server(const uvws_conn_t *conn) {
  return uvws__conn_server(conn);
}

uvws_client_t *uvws_conn_client(const uvws_conn_t *conn) {
  return conn->is_client ? uvws__container_of(conn->ctx, uvws_client_t, ctx)
                         : NULL;
}

int uvws__conn_init(uvws_conn_t *conn, uvws__ctx_t *ctx, int is_client,
                    const uvws_limits_t *limits) {
  int r;
  (void)limits; /* client connections with their own set them after */
  memset(conn, 0, sizeof(*conn));
  conn->ctx = ctx;
  conn->is_client = is_client ? 1 : 0;
  conn->state = UVWS_CONNECTING;
  conn->cbs = &no_callbacks;
  conn->heap_idx = UINT32_MAX;
  /* Room in the deadline heap for every connection, taken now, so that
   * setting a deadline never needs memory. */
  if (ctx->heap_cap <= ctx->nconns) {
    size_t cap = ctx->heap_cap ? ctx->heap_cap * 2 : 64;
    uvws_conn_t **h = uvws__realloc(&ctx->alloc, ctx->heap, cap * sizeof(*h));
    if (h == NULL)
      return UV_ENOMEM;
    ctx->heap = h;
    ctx->heap_cap = cap;
  }
  conn->id = ++ctx->next_id;
  if (ctx->ids != NULL && ids_insert(ctx, conn) != 0)
    return UV_ENOMEM;
  r = uv_tcp_init(ctx->loop, &conn->tcp);
  if (r != 0) {
    ids_remove(ctx, conn);
    return r;
  }
  conn->tcp.data = conn;
  conn->pending = 1;
  uvws__proto_init(&conn->proto, &ctx->alloc, &proto_cbs, !is_client,
                   uvws__conn_limits(conn)->max_message_size);
  conn->proto.max_fragments = uvws__conn_limits(conn)->max_fragments;
  /* Link into the context so closing it reaches every connection. */
  conn->next = ctx->conns;
  if (ctx->conns)
    ctx->conns->prev = conn;
  ctx->conns = conn;
  ctx->nconns++;
  return 0;
}

/* ----------------------------------------------------------------------- */
/* Deadlines: a min-heap per context under one uv_timer_t                  */

static void ctx_on_timer(uv_timer_t *t);
static void conn_timeout(uvws_conn_t *conn);

void uvws__ctx_init(uvws__ctx_t *ctx, uv_loop_t *loop) {
  ctx->loop = loop;
  uv_timer_init(loop, &ctx->timer); /* cannot fail */
  ctx->timer.data = ctx;
  uv_prepare_init(loop, &ctx->flusher); /* cannot fail */
  ctx->flusher.data = ctx;
}

static void ctx_handle_closed(uv_handle_t *h) {
  uvws__ctx_t *ctx = h->data;
  if (--ctx->handles_open == 0)
    ctx->close_cb((uv_handle_t *)&ctx->timer);
}

static void spare_free_all(uvws__ctx_t *ctx);

void uvws__ctx_close(uvws__ctx_t *ctx, uv_close_cb close_cb) {
  spare_free_all(ctx);
  while (ctx->free_outs) {
    uvws__wout_t *o = ctx->free_outs;
    ctx->free_outs = o->u.next_free;
    for (int i = 0; i < 2; i++) {
      uvws__buf_free(&ctx->alloc, &o->batch[i].arena);
      uvws__free(&ctx->alloc, o->batch[i].segs);
    }
    uvws__free(&ctx->alloc, o);
  }
  ctx->nfree_outs = 0;
  uvws__free(&ctx->alloc, ctx->heap);
  ctx->heap = NULL;
  ctx->heap_len = ctx->heap_cap = 0;
  uvws__free(&ctx->alloc, ctx->ids);
  ctx->ids = NULL;
  ctx->ids_cap = ctx->ids_len = 0;
  ctx->close_cb = close_cb;
  ctx->handles_open = 2;
  uv_close((uv_handle_t *)&ctx->timer, ctx_handle_closed);
  uv_close((uv_handle_t *)&ctx->flusher, ctx_handle_closed);
}

static void heap_swap(uvws__ctx_t *ctx, size_t a, size_t b) {
  uvws_conn_t *t = ctx->heap[a];
  ctx->heap[a] = ctx->heap[b];
  ctx->heap[b] = t;
  ctx->heap[a]->heap_idx = (uint32_t)a;
  ctx->heap[b]->heap_idx = (uint32_t)b;
}

static void heap_up(uvws__ctx_t *ctx, size_t i) {
  while (i > 0 && ctx->heap[(i - 1) / 2]->deadline > ctx->heap[i]->deadline) {
    heap_swap(ctx, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void heap_down(uvws__ctx_t *ctx, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < ctx->heap_len && ctx->heap[l]->deadline < ctx->heap[m]->deadline)
      m = l;
    if (r < ctx->heap_len && ctx->heap[r]->deadline < ctx->heap[m]->deadline)
      m = r;
    if (m == i)
      return;
    heap_swap(ctx, i, m);
    i = m;
  }
}

static void heap_remove(uvws__ctx_t *ctx, uvws_conn_t *conn) {
  size_t i = conn->heap_idx;
  if (i == UINT32_MAX)
    return;
  conn->heap_idx = UINT32_MAX;
  if (i != --ctx->heap_len) {
    ctx->heap[i] = ctx->heap[ctx->heap_len];
    ctx->heap[i]->heap_idx = (uint32_t)i;
    heap_up(ctx, i);
    heap_down(ctx, ctx->heap[i]->heap_idx);
  }
}

/* Points the uv timer at the earliest deadline. It is restarted only when
 * that deadline moves earlier; a timer that fires early finds nothing due
 * and is pointed again, which is cheaper than restarting it at every
 * change. */
static void ctx_arm(uvws__ctx_t *ctx) {
  uint64_t now, d;
  if (ctx->heap_len == 0) {
    if (ctx->armed) {
      uv_timer_stop(&ctx->timer);
      ctx->armed = 0;
    }
    return;
  }
  d = ctx->heap[0]->deadline;
  if (ctx->armed && ctx->armed <= d)
    return;
  now = uv_now(ctx->loop);
  uv_timer_start(&ctx->timer, ctx_on_timer, d > now ? d - now : 0, 0);
  ctx->armed = d;
}

static void ctx_on_timer(uv_timer_t *t) {
  uvws__ctx_t *ctx = t->data;
  uint64_t now = uv_now(ctx->loop);
  ctx->armed = 0;
  while (ctx->heap_len > 0 && ctx->heap[0]->deadline <= now) {
    uvws_conn_t *conn = ctx->heap[0];
    heap_remove(ctx, conn);
    conn_timeout(conn); /* may set a new deadline for conn */
  }
  ctx_arm(ctx);
}

void uvws__conn_set_timer(uvws_conn_t *conn, unsigned ms) {
  uvws__ctx_t *ctx = conn->ctx;
  if (conn->closing)
    return;
  conn->deadline = uv_now(ctx->loop) + ms;
  if (conn->heap_idx == UINT32_MAX) {
    /* uvws__conn_init() made room. */
    conn->heap_idx = (uint32_t)ctx->heap_len;
    ctx->heap[ctx->heap_len++] = conn;
    heap_up(ctx, conn->heap_idx);
  } else {
    heap_up(ctx, conn->heap_idx);
    heap_down(ctx, conn->heap_idx);
  }
  ctx_arm(ctx);
}

void uvws__conn_stop_timer(uvws_conn_t *conn) {
  heap_remove(conn->ctx, conn);
}

/* ----------------------------------------------------------------------- */
/* Errors and the end of a connection                                      */

/* Records the first error. on_error is called at the end of the libuv
 * callback that found it (never from inside an API call), or just before
 * on_close. */
void uvws__conn_error(uvws_conn_t *conn, int err) {
  if (conn->error == 0) {
    conn->error = err;
    conn->error_pending = 1;
  }
}

void uvws__conn_emit_error(uvws_conn_t *conn) {
  if (!conn->error_pending)
    return;
  conn->error_pending = 0;
  if (conn->handed && conn->cbs->on_error)
    conn->cbs->on_error(conn, conn->error);
}

/* Closes the handles; the connection is released when both are closed. */
void uvws__conn_finish(uvws_conn_t *conn) {
  if (conn->closing)
    return;
  conn->closing = 1;
  uvws__proto_stop(&conn->proto); /* no events from the rest of a read */
  uv_read_stop((uv_stream_t *)&conn->tcp);
  uvws__conn_stop_timer(conn);
  if (conn->flush_queued) {
    uvws_conn_t **pp = &conn->ctx->flush_list;
    while (*pp != conn)
      pp = &(*pp)->out->u.flush_next;
    *pp = conn->out->u.flush_next;
    conn->flush_queued = 0;
  }
  if (conn->cc != NULL && conn->cc->gai != NULL)
    uv_cancel((uv_req_t *)conn->cc->gai);
  /* A client between two addresses may have its tcp handle closing
   * already; it is released through that close. */
  if (!uv_is_closing((uv_handle_t *)&conn->tcp))
    uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
}

/* ---- spare reassembly buffers --------------------------------------------
 * The engine gives up its reassembly buffer when a message is over, so an
 * idle connection holds none; the context keeps a few for the next message
 * that does not arrive whole, on any of its connections, so that a stream
 * of large messages does not allocate one per message. */

/* Buffers kept, and the largest kept: at most 2 MiB a context. */
#define UVWS__SPARE_MSGS 8
#define UVWS__SPARE_MAX (256 * 1024)

struct uvws__spare_s {
  struct uvws__spare_s *next;
  size_t cap;
};

/* Keeps base (cap bytes, from ctx->alloc) or frees it. */
static void spare_put(uvws__ctx_t *ctx, char *base, size_t cap) {
  struct uvws__spare_s *s = (struct uvws__spare_s *)(void *)base;
  if (ctx->closing || ctx->nspare_msgs >= UVWS__SPARE_MSGS ||
      cap > UVWS__SPARE_MAX || cap < sizeof(*s)) {
    uvws__free(&ctx->alloc, base);
    return;
  }
  s->next = ctx->spare_msgs;
  s->cap = cap;
  ctx->spare_msgs = s;
  ctx->nspare_msgs++;
}

static void spare_free_all(uvws__ctx_t *ctx) {
  while (ctx->spare_msgs != NULL) {
    struct uvws__spare_s *s = ctx->spare_msgs;
    ctx->spare_msgs = s->next;
    uvws__free(&ctx->alloc, s);
  }
  ctx->nspare_msgs = 0;
}

static void p_get_buf(uvws__proto_t *p, uvws__buf_t *msg) {
  uvws__ctx_t *ctx = uvws__container_of(p, uvws_conn_t, proto)->ctx;
  struct uvws__spare_s *s = ctx->spare_msgs;
  if (s == NULL)
    return;
  ctx->spare_msgs = s->next;
  ctx->nspare_msgs--;
  msg->cap = s->cap;
  msg->base = (char *)s;
  msg->len = 0;
}

static void p_put_buf(uvws__proto_t *p, uvws__buf_t *msg) {
  spare_put(uvws__container_of(p, uvws_conn_t, proto)->ctx, msg->base,
            msg->cap);
  memset(msg, 0, sizeof(*msg));
}

/* A reassembly buffer sent by reference (send_message) is written: it goes
 * back to the engine when the message being reassembled has no buffer yet,
 * else to the context's spares. */
static void msg_return(uvws_conn_t *conn, uvws__wseg_t *s) {
  uvws__buf_t *m = uvws__proto_msg(&conn->proto);
  if (m != NULL && m->base == NULL && !conn->closing) {
    m->base = (char *)s->ext;
    m->cap = s->cap;
  } else {
    spare_put(conn->ctx, (char *)s->ext, s->cap);
  }
}

static void batch_release(uvws_conn_t *conn, uvws__wbatch_t *b, int status) {
  size_t i;
  for (i = 0; i < b->nsegs; i++) {
    if (b->segs[i].cap)
      msg_return(conn, &b->segs[i]);
    else if (b->segs[i].cb)
      b->segs[i].cb(conn, b->segs[i].arg, status);
  }
  if (conn->buffered >= b->payload)
    conn->buffered -= b->payload;
  else
    conn->buffered = 0;
  b->payload = 0;
  b->nsegs = 0;
  b->has_cb = 0;
  b->has_close = 0;
  b->ends_handshake_error = 0;
  b->arena.len = 0;
  /* Keep a modest arena for the next batch; release a large one. */
  if (b->arena.cap > 256 * 1024)
    uvws__buf_free(&conn->ctx->alloc, &b->arena);
}

static void out_put(uvws_conn_t *conn);

uvws__conn_ext_t *uvws__conn_ext(uvws_conn_t *conn) {
  if (conn->ext == NULL)
    conn->ext = uvws__calloc(&conn->ctx->alloc, 1, sizeof(*conn->ext));
  return conn->ext;
}

void uvws__conn_ext_trim(uvws_conn_t *conn) {
  const uvws__conn_ext_t *x = conn->ext;
  if (x != NULL && x->hs.base == NULL && x->url == NULL &&
      x->protocol == NULL && x->extensions == NULL && x->route_data == NULL &&
      x->subs == NULL && x->close_reason == NULL) {
    uvws__free(&conn->ctx->alloc, conn->ext);
    conn->ext = NULL;
  }
}

static void ext_free(uvws_conn_t *conn) {
  const uvws_allocator_t *al = &conn->ctx->alloc;
  uvws__conn_ext_t *x = conn->ext;
  if (x == NULL)
    return;
  uvws__buf_free(al, &x->hs);
  uvws__free(al, x->close_reason);
  uvws__free(al, x->url);
  uvws__free(al, x->protocol);
  uvws__free(al, x->extensions);
  uvws__free(al, x);
  conn->ext = NULL;
}

static void conn_free(uvws_conn_t *conn) {
  uvws__ctx_t *ctx = conn->ctx;
  const uvws_allocator_t *al = &ctx->alloc;

  uvws__conn_tls_free(conn); /* before its write block goes */
  conn->out_pinned = 0;
  out_put(conn);
  uvws__proto_free(&conn->proto);
  if (conn->proto.pmd) {
    uvws__pmd_free(conn->proto.pmd);
    uvws__free(al, conn->proto.pmd);
  }
  if (conn->own_cbs)
    uvws__free(al, (void *)conn->cbs);
  if (conn->is_client)
    uvws__client_conn_free(conn);
  else
    uvws__pubsub_conn_gone(conn);
  ext_free(conn);

  ids_remove(ctx, conn);
  if (conn->prev)
    conn->prev->next = conn->next;
  else
    ctx->conns = conn->next;
  if (conn->next)
    conn->next->prev = conn->prev;
  ctx->nconns--;
  uvws__free(al, conn);
  if (ctx->closing && ctx->nconns == 0 && ctx->on_last_conn)
    ctx->on_last_conn(ctx);
}

static void on_handle_closed(uv_handle_t *h) {
  uvws__conn_unref(h->data);
}

/* Drops one of the things that keep a closing connection alive (its two
 * handles, a name lookup); the last one releases it. */
void uvws__conn_unref(uvws_conn_t *conn) {
  int code, clean;
  const char *reason;
  size_t reason_len;

  if (--conn->pending > 0)
    return;

  /* Writes not yet made are cancelled. */
  if (uvws__conn_batches(conn)) {
    batch_release(conn, &uvws__conn_batches(conn)[0], UV_ECANCELED);
    batch_release(conn, &uvws__conn_batches(conn)[1], UV_ECANCELED);
  }
  conn->buffered = 0;

  if (conn->close_sent && conn->close_received && !conn->failed) {
    code = (int)conn->close_code;
    clean = 1;
  } else if (conn->failed) {
    code = (int)conn->close_code;
    clean = 0;
  } else {
    code = UVWS_CLOSE_ABNORMAL;
    clean = 0;
  }
  reason = "";
  reason_len = 0;
  if (clean && conn->ext != NULL && conn->ext->close_reason != NULL) {
    reason = conn->ext->close_reason;
    reason_len = conn->ext->close_reason_len;
  }

  conn->state = UVWS_CLOSED;
  uvws__conn_emit_error(conn);
  if (conn->handed && conn->cbs->on_close)
    conn->cbs->on_close(conn, code, reason, reason_len, clean);
  conn_free(conn);
}

/* ----------------------------------------------------------------------- */
/* The write queue                                                         */

/* Takes a write block from the context's pool (or a new one). */
static int out_get(uvws_conn_t *conn) {
  uvws__ctx_t *ctx = conn->ctx;
  uvws__wout_t *o;
  if (conn->out)
    return 0;
  o = ctx->free_outs;
  if (o != NULL) {
    ctx->free_outs = o->u.next_free;
    ctx->nfree_outs--;
  } else {
    o = uvws__calloc(&conn->ctx->alloc, 1, sizeof(*o));
    if (o == NULL)
      return UV_ENOMEM;
  }
  o->wreq.data = conn;
  conn->out = o;
  return 0;
}

/* The pool keeps this many blocks for connections that start writing. */
#define UVWS__OUT_POOL 256

/* Gives the write block back once nothing is queued or in flight. */
static void out_put(uvws_conn_t *conn) {
  uvws__ctx_t *ctx = conn->ctx;
  uvws__wout_t *o = conn->out;
  if (o == NULL || conn->writing || conn->out_pinned || conn->flush_queued)
    return;
  if (o->batch[0].arena.len || o->batch[0].nsegs || o->batch[1].arena.len ||
      o->batch[1].nsegs)
    return;
  conn->out = NULL;
  if (ctx->nfree_outs < UVWS__OUT_POOL) {
    o->u.next_free = ctx->free_outs;
    ctx->free_outs = o;
    ctx->nfree_outs++;
    return;
  }
  for (int i = 0; i < 2; i++) {
    uvws__buf_free(&conn->ctx->alloc, &o->batch[i].arena);
    uvws__free(&conn->ctx->alloc, o->batch[i].segs);
  }
  uvws__free(&conn->ctx->alloc, o);
}

int uvws__conn_pin_out(uvws_conn_t *conn) {
  int r = out_get(conn);
  if (r == 0)
    conn->out_pinned = 1;
  return r;
}

/* The batch being filled; NULL when out of memory. */
static uvws__wbatch_t *filling(uvws_conn_t *conn) {
  if (conn->out == NULL && out_get(conn) != 0)
    return NULL;
  return &conn->out->batch[conn->fill];
}

uvws__buf_t *uvws__conn_arena(uvws_conn_t *conn) {
  uvws__wbatch_t *b = filling(conn);
  return b ? &b->arena : NULL;
}

static int batch_add_seg(const uvws_allocator_t *al, uvws__wbatch_t *b,
                         const char *ext, size_t len, uvws_send_cb cb,
                         void *arg) {
  uvws__wseg_t *s;
  if (b->nsegs == b->segs_cap) {
    size_t cap = b->segs_cap ? b->segs_cap * 2 : 4;
    s = uvws__realloc(al, b->segs, cap * sizeof(*s));
    if (s == NULL)
      return UV_ENOMEM;
    b->segs = s;
    b->segs_cap = cap;
  }
  s = &b->segs[b->nsegs++];
  s->off = b->arena.len;
  s->ext = ext;
  s->len = len;
  s->cb = cb;
  s->arg = arg;
  s->cap = 0;
  if (cb)
    b->has_cb = 1;
  return 0;
}

int uvws__conn_queue_raw(uvws_conn_t *conn, const char *data, size_t len) {
  uvws__wbatch_t *b = filling(conn);
  return b ? uvws__buf_append(&conn->ctx->alloc, &b->arena, data, len)
           : UV_ENOMEM;
}

/* Frames a payload straight into the filling batch: header, then the
 * payload copied (masked for a client), or referenced when nocopy and no
 * mask is needed. payload: how many bytes this adds to bufferedAmount (the
 * application's bytes, before any compression). Inlined: with its
 * arguments known at each call, sending a message is a short path. */
static inline __attribute__((always_inline)) int
queue_frame(uvws_conn_t *conn, unsigned opcode, int fin, unsigned rsv,
            const char *data, size_t len, size_t payload, int nocopy,
            uvws_send_cb cb, void *arg) {
  uvws__wbatch_t *b = filling(conn);
  const uvws_limits_t *lim = uvws__conn_limits(conn);
  uint8_t mask[4];
  uint8_t *out;
  size_t hlen, copy;
  int r;

  if (b == NULL)
    return UV_ENOMEM;
  if (payload && lim->buffered_policy == UVWS_BUFFERED_REFUSE &&
      conn->buffered + payload > lim->max_buffered)
    return UVWS_EBUFFERFULL;
  if (conn->is_client) {
    r = uvws__rand_bytes(conn->ctx->rand, mask, 4);
    if (r != 0)
      return r;
  }
  copy = (nocopy && !conn->is_client) ? 0 : len;
  r = uvws__buf_reserve(&conn->ctx->alloc, &b->arena, UVWS__MAX_HEADER + copy);
  if (r != 0)
    return r;
  out = (uint8_t *)b->arena.base + b->arena.len;
  hlen = uvws__frame_encode(out, fin, rsv, opcode, len,
                            conn->is_client ? mask : NULL);
  if (copy) {
    if (conn->is_client)
      uvws__mask(out + hlen, (const uint8_t *)data, len, mask, 0);
    else
      memcpy(out + hlen, data, len);
  }
  b->arena.len += hlen + copy;
  if (copy < len || cb != NULL) {
    r = batch_add_seg(&conn->ctx->alloc, b, copy < len ? data : NULL,
                      copy < len ? len : 0, cb, arg);
    if (r != 0) {
      b->arena.len -= hlen + copy;
      return r;
    }
  }
  /* The time of the last message counts only for idle_timeout_ms. */
  if (lim->idle_timeout_ms && (payload || opcode <= UVWS__OP_BINARY))
    conn->last_msg = (uint32_t)uv_now(conn->ctx->loop);
  if (payload) {
    b->payload += payload;
    conn->buffered += payload;
    if (conn->buffered > lim->drain_low_water)
      conn->drain_armed = 1;
    if (conn->buffered > lim->max_buffered)
      buffered_limit(conn);
  }
  return 0;
}

/* Applies buffered_policy once bufferedAmount is past max_buffered. */
static void buffered_limit(uvws_conn_t *conn) {
  if (conn->buffered <= uvws__conn_limits(conn)->max_buffered || conn->closing)
    return;
  switch (uvws__conn_limits(conn)->buffered_policy) {
  case UVWS_BUFFERED_CLOSE:
    uvws__conn_close_code(conn, 1008, "buffer full", 11);
    break;
  case UVWS_BUFFERED_PAUSE:
    if (!conn->read_held && conn->state != UVWS_CONNECTING) {
      conn->read_held = 1;
      uv_read_stop((uv_stream_t *)&conn->tcp);
    }
    break;
  default:
    break;
  }
}

/* Compresses a message part into the context's scratch buffer when
 * permessage-deflate is on for it (RFC 7692 7.2.1); *data and *len then
 * describe the compressed bytes. */
static int compress_part(uvws_conn_t *conn, const char **data, size_t *len,
                         int fin) {
  uvws__buf_t *z = &conn->ctx->zbuf;
  int r;
  z->len = 0;
  r = uvws__pmd_deflate(conn->proto.pmd, (const uint8_t *)*data, *len, fin, z);
  if (r != 0)
    return r;
  *data = z->base ? z->base : "";
  *len = z->len;
  return 0;
}

void uvws__deflate_resolve(uvws__pmd_config_t *out,
                           const uvws_deflate_options_t *in) {
  static const uvws_deflate_options_t none;
  if (in == NULL)
    in = &none;
  out->server_no_context_takeover = in->server_no_context_takeover ? 1 : 0;
  out->client_no_context_takeover = in->client_no_context_takeover ? 1 : 0;
  out->server_max_window_bits =
      (uint8_t)(in->server_max_window_bits >= 8 &&
                        in->server_max_window_bits <= 15
                    ? in->server_max_window_bits
                    : 15);
  out->client_max_window_bits =
      (uint8_t)(in->client_max_window_bits >= 8 &&
                        in->client_max_window_bits <= 15
                    ? in->client_max_window_bits
                    : 15);
  out->level = in->level >= 1 && in->level <= 9 ? in->level : 6;
  out->mem_level =
      in->mem_level >= 1 && in->mem_level <= 9 ? in->mem_level : 8;
}

int uvws__conn_set_deflate(uvws_conn_t *conn, const uvws__pmd_params_t *params,
                           const uvws_deflate_options_t *opts,
                           const char *extensions, size_t extensions_len) {
  uvws__pmd_config_t cfg;
  uvws__conn_ext_t *x = uvws__conn_ext(conn);
  uvws__pmd_t *pmd;
  if (x == NULL)
    return UV_ENOMEM;
  uvws__deflate_resolve(&cfg, opts);
  pmd = uvws__malloc(&conn->ctx->alloc, sizeof(*pmd));
  x->extensions = uvws__malloc(&conn->ctx->alloc, extensions_len + 1);
  if (pmd == NULL || x->extensions == NULL) {
    uvws__free(&conn->ctx->alloc, pmd);
    return UV_ENOMEM;
  }
  memcpy(x->extensions, extensions, extensions_len);
  x->extensions[extensions_len] = '\0';
  uvws__pmd_init(pmd, &conn->ctx->alloc, params, cfg.level, cfg.mem_level);
  /* The engine's pmd is the connection's, for sending too. */
  uvws__proto_set_deflate(&conn->proto, pmd);
  x->deflate_threshold = opts ? opts->threshold : 0;
  return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  uvws_conn_t *conn = uvws__container_of(req->handle, uvws_conn_t, tcp);
  (void)status;
  uvws__free(&conn->ctx->alloc, req);
}

/* Sends FIN and keeps reading until the peer closes too (or the timer
 * fires), so that what we sent last is not lost to a reset. */
static void shutdown_write(uvws_conn_t *conn) {
  uv_shutdown_t *req = uvws__malloc(&conn->ctx->alloc, sizeof(*req));
  if (req == NULL ||
      uv_shutdown(req, (uv_stream_t *)&conn->tcp, on_shutdown) != 0) {
    uvws__free(&conn->ctx->alloc, req);
    uvws__conn_finish(conn);
  }
}

/* Our close frame is written and the peer's has arrived. RFC 6455 7.1.1:
 * the server closes the TCP connection first; a client waits for that
 * (within the close timer). Over TLS our close_notify goes out before: it
 * may be on its way already, or is queued now and this runs again once it
 * is written. */
static void close_complete(uvws_conn_t *conn) {
  if (uvws__conn_tls(conn) && !uvws__conn_tls_close_done(conn))
    return;
  if (!conn->is_client)
    uvws__conn_finish(conn);
}

static void batch_done(uvws_conn_t *conn, uvws__wbatch_t *b, int status) {
  int had_close = b->has_close;
  int refused = b->ends_handshake_error;
  int had_notify = uvws__conn_tls(conn)
                       ? uvws__conn_tls_sent(conn, (int)(b - conn->out->batch))
                       : 0;

  batch_release(conn, b, status);
  if (status < 0 || conn->closing)
    return;
  if (had_close) {
    conn->close_written = 1;
    if (conn->failed) {
      /* RFC 6455 7.1.1: after failing, close; reading on until the peer
       * closes keeps our close frame from being lost to a reset. */
      shutdown_write(conn);
    } else if (conn->close_received) {
      close_complete(conn);
    }
    /* Otherwise wait for the peer's close frame or TCP close (timer). */
  } else if (had_notify && conn->close_written && conn->close_received &&
             !conn->failed) {
    close_complete(conn);
  }
  if (refused) {
    uvws__conn_set_timer(conn, 1000);
    shutdown_write(conn);
  }
}

#define UVWS__STACK_BUFS 16

/* Hands the filling batch to the kernel: uv_try_write when nothing is in
 * flight and no completion callback must wait, else uv_write. */
void uvws__conn_flush(uvws_conn_t *conn) {
  uvws__wbatch_t *b;
  uv_buf_t stack[UVWS__STACK_BUFS], *bufs = stack;
  size_t nbufs = 0, i, off = 0, total = 0, n;
  int r;

  if (conn->writing || conn->corked || conn->closing || conn->out == NULL)
    return;
  b = &conn->out->batch[conn->fill];
  if (b->arena.len == 0 && b->nsegs == 0 && !uvws__conn_tls_pending(conn)) {
    out_put(conn);
    return;
  }

  if (2 * b->nsegs + 1 > UVWS__STACK_BUFS) {
    bufs = uvws__malloc(&conn->ctx->alloc, (2 * b->nsegs + 1) * sizeof(*bufs));
    if (bufs == NULL) {
      uvws__conn_error(conn, UV_ENOMEM);
      uvws__conn_finish(conn);
      return;
    }
  }
  for (i = 0; i < b->nsegs; i++) {
    if (b->segs[i].off > off) {
      bufs[nbufs++] = uv_buf_init(b->arena.base + off,
                                  (unsigned)(b->segs[i].off - off));
      off = b->segs[i].off;
    }
    if (b->segs[i].len > 0)
      bufs[nbufs++] =
          uv_buf_init((char *)b->segs[i].ext, (unsigned)b->segs[i].len);
  }
  if (b->arena.len > off)
    bufs[nbufs++] =
        uv_buf_init(b->arena.base + off, (unsigned)(b->arena.len - off));
  if (uvws__conn_tls(conn)) {
    /* Over TLS the batch goes out as records in one ciphertext buffer. */
    r = uvws__conn_tls_seal(conn, b, bufs, &nbufs);
    if (r != 0) {
      if (bufs != stack)
        uvws__free(&conn->ctx->alloc, bufs);
      uvws__conn_error(conn, r);
      uvws__conn_finish(conn);
      return;
    }
  }
  for (i = 0; i < nbufs; i++)
    total += bufs[i].len;

  i = 0;
  if (!b->has_cb) {
    r = uv_try_write((uv_stream_t *)&conn->tcp, bufs, (unsigned)nbufs);
    if (r >= 0 && (size_t)r == total) {
      if (bufs != stack)
        uvws__free(&conn->ctx->alloc, bufs);
      batch_done(conn, b, 0);
      out_put(conn);
      return;
    }
    if (r < 0 && r != UV_EAGAIN) {
      if (bufs != stack)
        uvws__free(&conn->ctx->alloc, bufs);
      uvws__conn_error(conn, r);
      uvws__conn_finish(conn);
      return;
    }
    /* Skip what the kernel took. */
    n = r > 0 ? (size_t)r : 0;
    while (n > 0 && n >= bufs[i].len)
      n -= bufs[i++].len;
    bufs[i].base += n;
    bufs[i].len -= (unsigned)n;
  }

  conn->fill ^= 1;
  conn->writing = 1;
  r = uv_write(&conn->out->wreq, (uv_stream_t *)&conn->tcp, bufs + i,
               (unsigned)(nbufs - i), on_write);
  if (bufs != stack)
    uvws__free(&conn->ctx->alloc, bufs);
  if (r != 0) {
    conn->writing = 0;
    conn->fill ^= 1;
    uvws__conn_error(conn, r);
    uvws__conn_finish(conn);
  }
}

static void on_write(uv_write_t *req, int status) {
  uvws_conn_t *conn = req->data;
  uvws__wbatch_t *b = &conn->out->batch[conn->fill ^ 1];

  conn->writing = 0;
  batch_done(conn, b, status);
  if (status < 0) {
    if (status != UV_ECANCELED) {
      /* Once both close frames are through, only a TLS close_notify can be
       * lost to a peer that has gone: not an error. */
      if (!(conn->close_written && conn->close_received))
        uvws__conn_error(conn, status);
      uvws__conn_finish(conn);
      uvws__conn_emit_error(conn);
    }
    return;
  }
  uvws__conn_flush(conn);
  uvws__conn_drain_check(conn);
  uvws__conn_emit_error(conn);
}

/* on_drain once bufferedAmount, having been above the low-water mark, is
 * at or below it; called only from libuv callbacks. */
void uvws__conn_drain_check(uvws_conn_t *conn) {
  if (conn->pong_held && !conn->closing &&
      conn_unwritten(conn) <= UVWS__PONG_BACKLOG / 2) {
    conn->pong_held = 0;
    if (!conn->paused && !conn->read_held)
      uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
  }
  if (conn->read_held && !conn->closing &&
      conn->buffered <= uvws__conn_limits(conn)->max_buffered / 2) {
    /* Held back by UVWS_BUFFERED_PAUSE: the peer has taken enough. */
    conn->read_held = 0;
    if (!conn->paused && !conn->pong_held)
      uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
  }
  if (conn->drain_armed &&
      conn->buffered <= uvws__conn_limits(conn)->drain_low_water &&
      !conn->closing && conn->state != UVWS_CLOSED) {
    conn->drain_armed = 0;
    if (conn->cbs->on_drain && conn->handed)
      conn->cbs->on_drain(conn);
  }
}

/* ----------------------------------------------------------------------- */
/* Closing handshake                                                       */

/* Queues our close frame (after everything queued before it). */
static int queue_close(uvws_conn_t *conn, unsigned code, const char *reason,
                       size_t reason_len) {
  char body[2 + 123];
  size_t n = 0;
  int r;

  if (code != 0) {
    body[0] = (char)(code >> 8);
    body[1] = (char)code;
    if (reason_len > 0)
      memcpy(body + 2, reason, reason_len);
    n = 2 + reason_len;
  }
  r = queue_frame(conn, UVWS__OP_CLOSE, 1, 0, body, n, 0, 0, NULL, NULL);
  if (r != 0)
    return r;
  filling(conn)->has_close = 1;
  conn->close_sent = 1;
  conn->state = UVWS_CLOSING;
  uvws__conn_set_timer(conn, uvws__conn_limits(conn)->close_timeout_ms);
  return 0;
}

/* Fails the connection (RFC 6455 7.1.7): output queued so far is sent, then
 * a close frame with code, then the TCP connection is closed. */
static void conn_fail(uvws_conn_t *conn, int err, unsigned code) {
  uvws__conn_error(conn, err);
  if (conn->failed || conn->closing)
    return;
  conn->failed = 1;
  conn->close_code = code;
  uvws__proto_stop(&conn->proto);
  if (conn->close_sent) {
    /* Ours is already on its way; do not wait for the peer's. */
    if (conn->close_written)
      uvws__conn_finish(conn);
    return;
  }
  if (queue_close(conn, code, NULL, 0) != 0)
    uvws__conn_finish(conn);
}

void uvws__conn_fail(uvws_conn_t *conn, int err, unsigned code) {
  conn_fail(conn, err, code);
}

static void p_message(uvws__proto_t *p, unsigned op, const char *d, size_t n) {
  uvws_conn_t *conn = uvws__container_of(p, uvws_conn_t, proto);
  /* Messages come only out of reads, which note the loop time. */
  conn->last_msg = conn->last_rx;
  if (conn->state == UVWS_OPEN && !conn->closing && conn->cbs->on_message) {
    /* A send of exactly this message may take the buffer (send_message). */
    conn->lending = (uint8_t)(n >= UVWS__LEND_MIN && p->part != NULL &&
                              d == p->part->msg.base);
    conn->big_msgs = conn->lending;
    conn->cbs->on_message(conn, op == UVWS__OP_TEXT ? UVWS_TEXT : UVWS_BINARY,
                         d, n);
    conn->lending = 0;
  }
}

static void p_chunk(uvws__proto_t *p, unsigned op, const char *d, size_t n,
                    int last) {
  uvws_conn_t *conn = uvws__container_of(p, uvws_conn_t, proto);
  conn->last_msg = conn->last_rx;
  if (conn->state == UVWS_OPEN && !conn->closing && conn->cbs->on_chunk)
    conn->cbs->on_chunk(conn, op == UVWS__OP_TEXT ? UVWS_TEXT : UVWS_BINARY, d,
                       n, last);
}

/* Bytes queued for the peer that the kernel has not taken: what libuv
 * still holds of the batch in flight and the batch being filled. Pongs
 * count here, though not in bufferedAmount. */
static size_t conn_unwritten(const uvws_conn_t *conn) {
  size_t n = uv_stream_get_write_queue_size((const uv_stream_t *)&conn->tcp);
  if (uvws__conn_batches(conn) != NULL)
    n += uvws__conn_batches(conn)[conn->fill].arena.len;
  return n;
}

static void p_ping(uvws__proto_t *p, const char *d, size_t n) {
  uvws_conn_t *conn = uvws__container_of(p, uvws_conn_t, proto);
  /* RFC 6455 5.5.2: answer with a pong carrying the same data, unless our
   * close frame is already out. */
  if (conn->close_sent || conn->closing)
    return;
  if (queue_frame(conn, UVWS__OP_PONG, 1, 0, d, n, 0, 0, NULL, NULL) != 0) {
    conn_fail(conn, UV_ENOMEM, 1011);
    return;
  }
  /* A peer that pings and never reads would have us hold a pong for every
   * ping: past UVWS__PONG_BACKLOG unwritten bytes, stop reading (TCP then
   * holds the peer back) until they are out (uvws__conn_drain_check). */
  if (!conn->pong_held && conn_unwritten(conn) > UVWS__PONG_BACKLOG) {
    conn->pong_held = 1;
    uv_read_stop((uv_stream_t *)&conn->tcp);
  }
}

static void p_pong(uvws__proto_t *p, const char *d, size_t n) {
  uvws_conn_t *conn = uvws__container_of(p, uvws_conn_t, proto);
  if (conn->cbs->on_pong && conn->state == UVWS_OPEN && !conn->closing)
    conn->cbs->on_pong(conn, d, n);
}

static void p_close(uvws__proto_t *p, unsigned code, const char *r, size_t n) {
  uvws_conn_t *conn = uvws__container_of(p, uvws_conn_t, proto);

  conn->close_received = 1;
  if (!conn->failed) {
    /* Without memory for it, on_close has no reason. */
    uvws__conn_ext_t *x = n > 0 ? uvws__conn_ext(conn) : NULL;
    if (x != NULL) {
      uvws__free(&conn->ctx->alloc, x->close_reason);
      x->close_reason = uvws__malloc(&conn->ctx->alloc, n + 1);
      x->close_reason_len = 0;
      if (x->close_reason) {
        memcpy(x->close_reason, r, n);
        x->close_reason[n] = '\0';
        x->close_reason_len = (uint8_t)n;
      }
    }
    conn->close_code = code;
  }
  if (!conn->close_sent) {
    /* RFC 6455 5.5.1: reply, echoing the status code (and the reason, as
     * browsers and other implementations do). */
    if (queue_close(conn, code == 1005 ? 0 : code, code == 1005 ? NULL : r,
                    code == 1005 ? 0 : n) != 0)
      uvws__conn_finish(conn);
    return;
  }
  if (conn->close_written)
    close_complete(conn);
}

static void feed(uvws_conn_t *conn, char *data, size_t len) {
  long r;
  if (conn->failed || conn->close_received)
    return; /* lingering: read and drop until the peer closes */
  r = uvws__proto_feed(&conn->proto, data, len);
  if (r < 0)
    conn_fail(conn, (int)r, conn->proto.fail_code);
}

/* The handshake completed; rest is what followed the handshake in the same
 * read (writable, owned by the caller). */
void uvws__conn_opened(uvws_conn_t *conn, char *rest, size_t rest_len) {
  uvws__conn_stop_timer(conn);
  conn->state = UVWS_OPEN;
  conn->handed = 1;
  conn->proto.stream = conn->cbs->on_chunk != NULL;
  conn->last_rx = conn->last_msg = (uint32_t)uv_now(conn->ctx->loop);
  if (conn->cbs->on_open)
    conn->cbs->on_open(conn);
  if (rest_len > 0 && !conn->closing)
    feed(conn, rest, rest_len);
  keepalive_arm(conn);
}

void uvws__conn_http_end(uvws_conn_t *conn) {
  /* Reading goes on, dropping input, until the peer closes after our
   * answer was sent (see batch_done). */
  uvws__wbatch_t *b = filling(conn);
  if (b == NULL) {
    uvws__conn_finish(conn);
    return;
  }
  b->ends_handshake_error = 1;
  conn->failed = 1;
  /* The answer (a file, perhaps) gets the close time to go out; then the
   * peer gets a moment to close (batch_done). */
  uvws__conn_set_timer(conn, uvws__conn_limits(conn)->close_timeout_ms);
}

/* Answers a refused upgrade with an HTTP status, then closes. */
void uvws__conn_http_refuse(uvws_conn_t *conn, int status,
                            const char *extra_headers) {
  uvws__buf_t *a = uvws__conn_arena(conn);
  if (a == NULL ||
      uvws__hs_build_error(&conn->ctx->alloc, a, status, extra_headers) != 0) {
    uvws__conn_finish(conn);
    return;
  }
  uvws__conn_http_end(conn);
}

/* ----------------------------------------------------------------------- */
/* Reading                                                                 */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  uvws_conn_t *conn = h->data;
  char *place;
  size_t n;
  (void)suggested;
  /* The rest of a large payload is read straight into the message it
   * belongs to (over TLS it comes out of the filter instead). */
  if (uvws__conn_tls(conn) == NULL && conn->state != UVWS_CONNECTING &&
      !conn->failed && !conn->close_received && !conn->closing &&
      (place = uvws__proto_read_place(&conn->proto, UVWS__PLACE_MIN, &n)) !=
          NULL) {
    *buf = uv_buf_init(place, (unsigned)n);
    return;
  }
  *buf = uv_buf_init(conn->ctx->rbuf,
                     conn->big_msgs ? UVWS__READ_AFTER_BIG : UVWS__READ_BUF);
}

/* nread bytes were read into the place on_alloc found in the engine. */
static void read_placed(uvws_conn_t *conn, size_t n) {
  long r;
  if (conn->state == UVWS_CONNECTING || conn->failed || conn->close_received)
    return;
  r = uvws__proto_feed_placed(&conn->proto, n);
  if (r < 0)
    conn_fail(conn, (int)r, conn->proto.fail_code);
}

/* 1 if the bytes from old on may complete an HTTP head (an empty line,
 * CRLF or bare LF). Saves re-parsing a head that arrives a byte at a time. */
static int head_may_end(const uvws__buf_t *hs, size_t old) {
  size_t i = old > 3 ? old - 3 : 0;
  for (; i + 1 < hs->len; i++) {
    if (hs->base[i] != '\n')
      continue;
    if (hs->base[i + 1] == '\n' ||
        (hs->base[i + 1] == '\r' && i + 2 < hs->len && hs->base[i + 2] == '\n'))
      return 1;
  }
  return 0;
}

void uvws__conn_read_plain(uvws_conn_t *conn, char *data, size_t len) {
  if (conn->closing)
    return;
  if (conn->state == UVWS_CONNECTING && !conn->failed) {
    /* All of it is kept: frames may follow the head in the same read. */
    uvws__conn_ext_t *x = uvws__conn_ext(conn);
    size_t old = x ? x->hs.len : 0;
    if (x == NULL ||
        uvws__buf_append(&conn->ctx->alloc, &x->hs, data, len) != 0) {
      uvws__conn_error(conn, UV_ENOMEM);
      uvws__conn_finish(conn);
    } else if (!head_may_end(&x->hs, old) &&
               x->hs.len <= uvws__conn_limits(conn)->max_header_size) {
      /* No empty line yet: parsing again would find nothing. */
    } else if (conn->is_client) {
      uvws__client_handshake_read(conn);
    } else {
      uvws__server_handshake_read(conn);
    }
  } else if (conn->state != UVWS_CONNECTING) {
    feed(conn, data, len);
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  uvws_conn_t *conn = s->data;

  if (nread == 0 || conn->closing)
    return;
  if (nread < 0) {
    /* The peer closed or the connection broke. After a completed close
     * handshake, or once we failed it, that is the expected end. */
    if (!(conn->close_sent && conn->close_received) && !conn->failed)
      uvws__conn_error(conn, (int)nread);
    uvws__conn_finish(conn);
    uvws__conn_emit_error(conn);
    return;
  }

  /* Anything at all from the peer shows it is alive. */
  conn->last_rx = (uint32_t)uv_now(conn->ctx->loop);
  if (conn->ping_out) {
    /* Answered: the next ping is due ping_interval_ms from now, not when
     * the ping timeout would have run out. */
    conn->ping_out = 0;
    keepalive_arm(conn);
  }
  conn->corked = 1;
  if (buf->base != conn->ctx->rbuf)
    read_placed(conn, (size_t)nread);
  else if (uvws__conn_tls(conn))
    uvws__conn_tls_read(conn, buf->base, (size_t)nread);
  else
    uvws__conn_read_plain(conn, buf->base, (size_t)nread);
  conn->corked = 0;
  uvws__conn_flush(conn);
  uvws__conn_drain_check(conn);
  uvws__conn_emit_error(conn);
}

void uvws__conn_start_read(uvws_conn_t *conn) {
  int r = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
  if (r != 0) {
    uvws__conn_error(conn, r);
    uvws__conn_finish(conn);
  }
}

/* ---- keepalive and idle time -------------------------------------------
 * While OPEN the connection's timer is free: it wakes at the next keepalive
 * or idle deadline. Reads only note the time; the timer works out from the
 * notes when to wake next, so no timer is restarted per read. */

static int keepalive_on(const uvws_conn_t *conn) {
  const uvws_limits_t *l = uvws__conn_limits(conn);
  return conn->state == UVWS_OPEN && !conn->close_sent && !conn->failed &&
         !conn->closing && (l->ping_interval_ms || l->idle_timeout_ms);
}

/* Milliseconds since stamp (the low 32 bits of uv_now()), right for any
 * span under 49 days: longer than any timeout an unsigned can hold. */
static uint64_t since(uint64_t now, uint32_t stamp) {
  return (uint32_t)((uint32_t)now - stamp);
}

/* When after ms from stamp are over: uv_now() time, now at the earliest. */
static uint64_t due(uint64_t now, uint32_t stamp, uint64_t after) {
  uint64_t gone = since(now, stamp);
  return gone >= after ? now : now + (after - gone);
}

static void keepalive_arm(uvws_conn_t *conn) {
  const uvws_limits_t *l = uvws__conn_limits(conn);
  uint64_t now = uv_now(conn->ctx->loop), next = UINT64_MAX;
  if (!keepalive_on(conn))
    return;
  /* While paused no pong can be read: pings wait for resume. */
  if (l->ping_interval_ms && !conn->paused) {
    uint64_t d = conn->ping_out ? due(now, conn->ping_at, l->ping_timeout_ms)
                                : due(now, conn->last_rx, l->ping_interval_ms);
    if (d < next)
      next = d;
  }
  if (l->idle_timeout_ms && due(now, conn->last_msg, l->idle_timeout_ms) < next)
    next = due(now, conn->last_msg, l->idle_timeout_ms);
  if (next == UINT64_MAX) {
    uvws__conn_stop_timer(conn);
    return;
  }
  uvws__conn_set_timer(conn, (unsigned)(next > now ? next - now : 0));
}

static void keepalive_tick(uvws_conn_t *conn) {
  uint64_t now = uv_now(conn->ctx->loop);
  const uvws_limits_t *l = uvws__conn_limits(conn);

  if (l->idle_timeout_ms && since(now, conn->last_msg) >= l->idle_timeout_ms) {
    uvws__conn_close_code(conn, 1001, "idle timeout", 12);
    return;
  }
  if (l->ping_interval_ms && !conn->paused) {
    if (conn->ping_out && since(now, conn->ping_at) >= l->ping_timeout_ms) {
      /* Nothing came back: the peer or the path is gone. */
      uvws__conn_error(conn, UV_ETIMEDOUT);
      uvws__conn_finish(conn);
      uvws__conn_emit_error(conn);
      return;
    }
    if (!conn->ping_out && since(now, conn->last_rx) >= l->ping_interval_ms) {
      if (queue_frame(conn, UVWS__OP_PING, 1, 0, NULL, 0, 0, 0, NULL,
                      NULL) == 0) {
        conn->ping_out = 1;
        conn->ping_at = (uint32_t)now;
        uvws__conn_flush(conn);
      }
    }
  }
  keepalive_arm(conn);
}

static void conn_timeout(uvws_conn_t *conn) {

  if (keepalive_on(conn)) {
    keepalive_tick(conn);
    return;
  }
  if (conn->state == UVWS_CONNECTING && !conn->failed) {
    uvws__conn_error(conn, UV_ETIMEDOUT);
  } else if (!(conn->close_sent && conn->close_received) && !conn->failed) {
    uvws__conn_error(conn, UVWS_ECLOSETIMEOUT);
  }
  uvws__conn_finish(conn);
  uvws__conn_emit_error(conn);
}

/* ----------------------------------------------------------------------- */
/* Public API                                                              */

int uvws__conn_check_send(const uvws_conn_t *conn) {
  if (conn->state != UVWS_OPEN || conn->closing || conn->failed)
    return UVWS_ESTATE;
  return 0;
}

#define check_send uvws__conn_check_send

int uvws__conn_queue_shared(uvws_conn_t *conn, const char *frame, size_t len,
                            size_t payload, uvws_send_cb release, void *arg) {
  uvws__wbatch_t *b;
  int r = check_send(conn);
  if (r != 0)
    return r;
  if (conn->frag_open)
    return UVWS_EINFRAGMENT;
  b = filling(conn);
  if (b == NULL)
    return UV_ENOMEM;
  if (uvws__conn_limits(conn)->buffered_policy == UVWS_BUFFERED_REFUSE &&
      conn->buffered + payload > uvws__conn_limits(conn)->max_buffered)
    return UVWS_EBUFFERFULL;
  r = batch_add_seg(&conn->ctx->alloc, b, frame, len, release, arg);
  if (r != 0)
    return r;
  b->payload += payload;
  conn->buffered += payload;
  buffered_limit(conn);
  if (uvws__conn_limits(conn)->idle_timeout_ms)
    conn->last_msg = (uint32_t)uv_now(conn->ctx->loop);
  if (conn->buffered > uvws__conn_limits(conn)->drain_low_water)
    conn->drain_armed = 1;
  after_queue(conn);
  return 0;
}

static void ctx_on_flush(uv_prepare_t *p);

/* Output queued by an API call waits for the end of the loop iteration
 * (inside a read it goes out when the read has been handled). */
static void after_queue(uvws_conn_t *conn) {
  uvws__ctx_t *ctx = conn->ctx;
  if (conn->corked || conn->flush_queued || conn->closing)
    return;
  if (ctx->flush_list == NULL)
    uv_prepare_start(&ctx->flusher, ctx_on_flush);
  /* Every caller has queued output, so conn->out is there; it is kept
   * while the connection is on the list (out_put). */
  assert(conn->out != NULL);
  conn->flush_queued = 1;
  conn->out->u.flush_next = ctx->flush_list;
  ctx->flush_list = conn;
}

int uvws__conn_start_later(uvws_conn_t *conn) {
  if (out_get(conn) != 0)
    return UV_ENOMEM;
  conn->start_pending = 1;
  after_queue(conn);
  return 0;
}

static void ctx_on_flush(uv_prepare_t *p) {
  uvws__ctx_t *ctx = p->data;
  uvws_conn_t *conn;
  while ((conn = ctx->flush_list) != NULL) {
    ctx->flush_list = conn->out->u.flush_next;
    conn->flush_queued = 0;
    if (conn->start_pending) {
      conn->start_pending = 0;
      uvws__conn_start_read(conn);
      conn->corked = 1;
      if (!conn->closing)
        uvws__server_handshake_read(conn);
      conn->corked = 0;
    }
    uvws__conn_flush(conn);
    uvws__conn_drain_check(conn);
    uvws__conn_emit_error(conn);
  }
  uv_prepare_stop(p);
}

static int send_message(uvws_conn_t *conn, uvws_msg_type_t type,
                        const char *data, size_t len, unsigned flags,
                        int nocopy, uvws_send_cb cb, void *arg) {
  unsigned rsv = 0;
  size_t wire_len = len;
  const char *wire = data;
  int r = check_send(conn);
  if (r != 0)
    return r;
  if (conn->frag_open)
    return UVWS_EINFRAGMENT;
  if ((type != UVWS_TEXT && type != UVWS_BINARY) ||
      (flags & ~(unsigned)UVWS_SEND_NO_COMPRESS))
    return UV_EINVAL;
  if (len > 0 && data == NULL)
    return UV_EINVAL;
  if (type == UVWS_TEXT && !uvws__utf8_is_valid(data, len))
    return UVWS_EBADUTF8;
  if (conn->proto.pmd && !(flags & UVWS_SEND_NO_COMPRESS) &&
      len >= conn->ext->deflate_threshold &&
      uvws__pmd_can_compress(conn->proto.pmd)) {
    r = compress_part(conn, &wire, &wire_len, 1);
    if (r != 0)
      return r;
    rsv = UVWS__RSV1;
    nocopy = 0; /* the compressed copy is sent; cb still waits for it */
  }
  if (conn->lending && wire == conn->proto.part->msg.base &&
      wire_len == conn->proto.part->msg.len && !nocopy && !conn->is_client &&
      len >= UVWS__LEND_MIN) {
    /* The message being delivered, out of the engine's reassembly buffer
     * (an echo, a relay): the buffer itself is sent and handed back to the
     * engine once written (msg_return), instead of copying it. */
    uvws__wbatch_t *b;
    uvws__buf_t m = conn->proto.part->msg;
    r = queue_frame(conn, type == UVWS_TEXT ? UVWS__OP_TEXT : UVWS__OP_BINARY,
                    1, 0, wire, wire_len, len, 1, NULL, NULL);
    if (r != 0)
      return r;
    b = &conn->out->batch[conn->fill];
    b->segs[b->nsegs - 1].cap = m.cap;
    memset(&conn->proto.part->msg, 0, sizeof(conn->proto.part->msg));
    conn->lending = 0;
    after_queue(conn);
    return 0;
  }
  r = queue_frame(conn, type == UVWS_TEXT ? UVWS__OP_TEXT : UVWS__OP_BINARY,
                  1, rsv, wire, wire_len, len, nocopy, cb, arg);
  if (r != 0)
    return r;
  after_queue(conn);
  return 0;
}

int uvws_conn_send(uvws_conn_t *conn, uvws_msg_type_t type, const char *data,
                   size_t len) {
  return send_message(conn, type, data, len, 0, 0, NULL, NULL);
}

int uvws_conn_send_ex(uvws_conn_t *conn, uvws_msg_type_t type,
                      const char *data, size_t len, unsigned flags) {
  return send_message(conn, type, data, len, flags, 0, NULL, NULL);
}

int uvws_conn_send_text(uvws_conn_t *conn, const char *data, size_t len) {
  return send_message(conn, UVWS_TEXT, data, len, 0, 0, NULL, NULL);
}

int uvws_conn_send_binary(uvws_conn_t *conn, const void *data, size_t len) {
  return send_message(conn, UVWS_BINARY, data, len, 0, 0, NULL, NULL);
}

int uvws_conn_send_nocopy(uvws_conn_t *conn, uvws_msg_type_t type,
                          const char *data, size_t len, uvws_send_cb cb,
                          void *arg) {
  if (cb == NULL)
    return UV_EINVAL;
  return send_message(conn, type, data, len, 0, 1, cb, arg);
}

int uvws_conn_send_fragment(uvws_conn_t *conn, uvws_msg_type_t type,
                            const char *data, size_t len, int is_last) {
  unsigned op, rsv = 0;
  uint8_t st, compressed;
  const char *wire = data;
  size_t wire_len = len;
  int r = check_send(conn);
  if (r != 0)
    return r;
  if (len > 0 && data == NULL)
    return UV_EINVAL;
  if (!conn->frag_open) {
    if (type != UVWS_TEXT && type != UVWS_BINARY)
      return UV_EINVAL;
    conn->frag_type = (uint8_t)type;
    conn->frag_utf8 = UVWS__UTF8_ACCEPT;
    op = type == UVWS_TEXT ? UVWS__OP_TEXT : UVWS__OP_BINARY;
    /* RFC 7692 6.1: RSV1 on the first frame marks the whole message. */
    compressed = conn->proto.pmd && uvws__pmd_can_compress(conn->proto.pmd);
    rsv = compressed ? UVWS__RSV1 : 0;
  } else {
    op = UVWS__OP_CONT;
    compressed = conn->frag_compressed;
  }
  st = conn->frag_utf8;
  if (conn->frag_type == UVWS_TEXT) {
    st = uvws__utf8_validate(st, (const uint8_t *)data, len);
    if (st == UVWS__UTF8_REJECT || (is_last && st != UVWS__UTF8_ACCEPT))
      return UVWS_EBADUTF8;
  }
  if (compressed) {
    r = compress_part(conn, &wire, &wire_len, is_last);
    if (r != 0)
      return r;
  }
  r = queue_frame(conn, op, is_last ? 1 : 0, rsv, wire, wire_len, len, 0,
                  NULL, NULL);
  if (r != 0)
    return r;
  conn->frag_utf8 = st;
  conn->frag_compressed = compressed;
  conn->frag_open = is_last ? 0 : 1;
  after_queue(conn);
  return 0;
}

int uvws_conn_ping(uvws_conn_t *conn, const char *data, size_t len) {
  int r = check_send(conn);
  if (r != 0)
    return r;
  if (len > UVWS__MAX_CONTROL || (len > 0 && data == NULL))
    return UV_EINVAL;
  r = queue_frame(conn, UVWS__OP_PING, 1, 0, data, len, 0, 0, NULL, NULL);
  if (r != 0)
    return r;
  after_queue(conn);
  return 0;
}

int uvws__conn_close_code(uvws_conn_t *conn, unsigned code, const char *reason,
                          size_t reason_len) {
  int r;
  if (reason == NULL)
    reason_len = 0;
  if (code != 0 && !uvws__close_code_valid(code))
    return UVWS_EBADCODE;
  if (reason_len > 123 || !uvws__utf8_is_valid(reason, reason_len))
    return UVWS_EBADREASON;
  if (code == 0 && reason_len > 0)
    code = 1000; /* a reason needs a status code to travel with */

  if (conn->closing || conn->state == UVWS_CLOSING ||
      conn->state == UVWS_CLOSED || conn->close_sent || conn->failed)
    return 0;
  if (conn->state == UVWS_CONNECTING) {
    uvws__conn_error(conn, UV_ECANCELED);
    uvws__conn_finish(conn);
    return 0;
  }
  r = queue_close(conn, code, reason, reason_len);
  if (r != 0)
    return r;
  after_queue(conn);
  return 0;
}

int uvws_conn_close(uvws_conn_t *conn, int code, const char *reason,
                    size_t reason_len) {
  /* W3C close(): 1000 or 3000-4999 only, checked before any state. */
  if (code != 0 && code != 1000 && (code < 3000 || code > 4999))
    return UVWS_EBADCODE;
  return uvws__conn_close_code(conn, (unsigned)code, reason, reason_len);
}

int uvws_conn_close_status(uvws_conn_t *conn, int code, const char *reason,
                           size_t reason_len) {
  if (code < 1000 || code > 4999)
    return UVWS_EBADCODE;
  return uvws__conn_close_code(conn, (unsigned)code, reason, reason_len);
}

int uvws_conn_pause(uvws_conn_t *conn) {
  if ((conn->state != UVWS_OPEN && conn->state != UVWS_CLOSING) ||
      conn->closing)
    return UVWS_ESTATE;
  conn->paused = 1;
  return uv_read_stop((uv_stream_t *)&conn->tcp);
}

int uvws_conn_resume(uvws_conn_t *conn) {
  if ((conn->state != UVWS_OPEN && conn->state != UVWS_CLOSING) ||
      conn->closing)
    return UVWS_ESTATE;
  if (!conn->paused)
    return 0;
  conn->paused = 0;
  if (conn->read_held || conn->pong_held)
    return 0; /* held by buffered_policy or pongs: resumes when drained */
  /* Time spent paused does not count against the peer. */
  conn->last_rx = (uint32_t)uv_now(conn->ctx->loop);
  conn->ping_out = 0;
  keepalive_arm(conn);
  return uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
}

void uvws_conn_terminate(uvws_conn_t *conn) {
  uvws__conn_finish(conn);
}

uvws_ready_state_t uvws_conn_ready_state(const uvws_conn_t *conn) {
  if (conn->closing && conn->state == UVWS_OPEN)
    return UVWS_CLOSING;
  return (uvws_ready_state_t)conn->state;
}

size_t uvws_conn_buffered_amount(const uvws_conn_t *conn) {
  return conn->buffered;
}

const char *uvws_conn_url(const uvws_conn_t *conn) {
  if (conn->ext != NULL && conn->ext->url != NULL)
    return conn->ext->url;
  return conn->url_root ? "/" : "";
}

const char *uvws_conn_protocol(const uvws_conn_t *conn) {
  return conn->ext && conn->ext->protocol ? conn->ext->protocol : "";
}

const char *uvws_conn_extensions(const uvws_conn_t *conn) {
  return conn->ext && conn->ext->extensions ? conn->ext->extensions : "";
}

int uvws_conn_is_client(const uvws_conn_t *conn) {
  return conn->is_client;
}

int uvws_conn_peer_addr(const uvws_conn_t *conn,
                        struct sockaddr_storage *addr) {
  int len = (int)sizeof(*addr);
  int r = uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)addr, &len);
  /* During the name lookup the handle has no socket yet. */
  return r == UV_EBADF ? UV_ENOTCONN : r;
}

uv_loop_t *uvws_conn_loop(const uvws_conn_t *conn) {
  return conn->ctx->loop;
}

void *uvws_conn_route_data(const uvws_conn_t *conn) {
  return conn->ext ? conn->ext->route_data : NULL;
}

void *uvws_conn_get_data(const uvws_conn_t *conn) {
  return conn->data;
}

void uvws_conn_set_data(uvws_conn_t *conn, void *data) {
  conn->data = data;
}

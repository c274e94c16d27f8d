/* Prepared messages, topics, publish and broadcast.
 *
 * A prepared message keeps its frame (header and payload) once, and a
 * compressed frame once per set of deflate parameters; every connection's
 * write queue refers to that memory and holds a reference until the write
 * completes. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "utf8.h"

#define DEFAULT_PUBLISH_LIMIT (4u * 1024 * 1024)

/* ---- prepared messages -------------------------------------------------- */

int uvws_prepared_create(uvws_msg_type_t type, const char *data, size_t len,
                         uvws_prepared_t **out) {
  return uvws_prepared_create_ex(NULL, type, data, len, out);
}

int uvws_prepared_create_ex(const uvws_allocator_t *allocator,
                            uvws_msg_type_t type, const char *data, size_t len,
                            uvws_prepared_t **out) {
  uvws_allocator_t al;
  uvws_prepared_t *m;
  uint8_t hdr[UVWS__MAX_HEADER];
  size_t hlen;
  int r = uvws__allocator_resolve(&al, allocator);

  if (r != 0)
    return r;
  if ((type != UVWS_TEXT && type != UVWS_BINARY) || (len && data == NULL))
    return UV_EINVAL;
  if (type == UVWS_TEXT && !uvws__utf8_is_valid(data, len))
    return UVWS_EBADUTF8;
  m = uvws__calloc(&al, 1, sizeof(*m));
  if (m == NULL)
    return UV_ENOMEM;
  m->alloc = al;
  hlen = uvws__frame_encode(hdr, 1, 0,
                            type == UVWS_TEXT ? UVWS__OP_TEXT : UVWS__OP_BINARY,
                            len, NULL);
  m->plain = uvws__malloc(&al, hlen + len + 1);
  if (m->plain == NULL) {
    uvws__free(&al, m);
    return UV_ENOMEM;
  }
  memcpy(m->plain, hdr, hlen);
  if (len)
    memcpy(m->plain + hlen, data, len);
  m->plain_len = hlen + len;
  m->plain_hlen = hlen;
  m->len = len;
  m->type = (uint8_t)type;
  m->refs = 1;
  *out = m;
  return 0;
}

void uvws_prepared_release(uvws_prepared_t *m) {
  uvws__pvariant_t *v, *next;
  uvws_allocator_t al;
  if (m == NULL || --m->refs > 0)
    return;
  al = m->alloc;
  for (v = m->variants; v != NULL; v = next) {
    next = v->next;
    uvws__free(&al, v->frame);
    uvws__free(&al, v);
  }
  uvws__free(&al, m->plain);
  uvws__free(&al, m);
}

/* The frame compressed with a fresh stream of these parameters, made on
 * first use. NULL on allocation failure. */
static uvws__pvariant_t *variant(uvws_prepared_t *m, const uvws__pmd_t *z) {
  uvws__pvariant_t *v;
  uvws__pmd_t tmp;
  uvws__pmd_params_t params;
  uvws__buf_t out = {0};
  uint8_t hdr[UVWS__MAX_HEADER] = {0};
  size_t hlen;

  for (v = m->variants; v != NULL; v = v->next) {
    if (v->window == z->params.tx_window && v->level == z->level &&
        v->mem_level == z->mem_level)
      return v;
  }
  memset(&params, 0, sizeof(params));
  params.tx_no_takeover = 1;
  params.tx_window = z->params.tx_window;
  params.rx_window = 15;
  uvws__pmd_init(&tmp, &m->alloc, &params, z->level, z->mem_level);
  /* Room for the header in front, so the frame is one allocation. */
  if (uvws__buf_append(&m->alloc, &out, hdr, UVWS__MAX_HEADER) != 0 ||
      uvws__pmd_deflate(&tmp, (const uint8_t *)m->plain + m->plain_hlen, m->len,
                        1, &out) != 0) {
    uvws__pmd_free(&tmp);
    uvws__buf_free(&m->alloc, &out);
    return NULL;
  }
  uvws__pmd_free(&tmp);
  v = uvws__malloc(&m->alloc, sizeof(*v));
  if (v == NULL) {
    uvws__buf_free(&m->alloc, &out);
    return NULL;
  }
  hlen = uvws__frame_encode(
      hdr, 1, UVWS__RSV1,
      m->type == UVWS_TEXT ? UVWS__OP_TEXT : UVWS__OP_BINARY,
      out.len - UVWS__MAX_HEADER, NULL);
  memmove(out.base + hlen, out.base + UVWS__MAX_HEADER,
          out.len - UVWS__MAX_HEADER);
  memcpy(out.base, hdr, hlen);
  v->frame = out.base;
  v->len = out.len - UVWS__MAX_HEADER + hlen;
  v->window = z->params.tx_window;
  v->level = z->level;
  v->mem_level = z->mem_level;
  v->next = m->variants;
  m->variants = v;
  return v;
}

static void prepared_written(uvws_conn_t *conn, void *arg, int status) {
  (void)conn;
  (void)status;
  uvws_prepared_release(arg);
}

int uvws_conn_send_prepared(uvws_conn_t *conn, uvws_prepared_t *m) {
  const char *frame = m->plain;
  size_t len = m->plain_len;
  uvws__pmd_t *pmd = conn->proto.pmd;
  int r;

  if (conn->is_client) /* every client frame has its own mask */
    return uvws_conn_send(conn, (uvws_msg_type_t)m->type,
                          m->plain + m->plain_hlen, m->len);
  r = uvws__conn_check_send(conn);
  if (r != 0)
    return r;
  if (pmd != NULL && pmd->params.tx_no_takeover &&
      uvws__pmd_can_compress(pmd) && m->len >= conn->ext->deflate_threshold) {
    uvws__pvariant_t *v = variant(m, pmd);
    if (v == NULL)
      return UV_ENOMEM;
    frame = v->frame;
    len = v->len;
  }
  m->refs++;
  r = uvws__conn_queue_shared(conn, frame, len, m->len, prepared_written, m);
  if (r != 0)
    m->refs--;
  return r;
}

/* ---- topics -------------------------------------------------------------- */

static size_t hash_str(const char *s) {
  size_t h = 1469598103934665603u; /* FNV-1a */
  while (*s)
    h = (h ^ (unsigned char)*s++) * 1099511628211u;
  return h;
}

static uvws__topic_t *find_topic(const uvws_server_t *s, const char *name,
                                 size_t h) {
  uvws__topic_t *t;
  if (s->nbuckets == 0)
    return NULL;
  for (t = s->buckets[h & (s->nbuckets - 1)]; t != NULL; t = t->next) {
    if (t->hash == h && strcmp(t->name, name) == 0)
      return t;
  }
  return NULL;
}

static int grow_buckets(uvws_server_t *s) {
  size_t n = s->nbuckets ? s->nbuckets * 2 : 16, i;
  uvws__topic_t **b = uvws__calloc(&s->ctx.alloc, n, sizeof(*b));
  if (b == NULL)
    return UV_ENOMEM;
  for (i = 0; i < s->nbuckets; i++) {
    uvws__topic_t *t = s->buckets[i], *next;
    for (; t != NULL; t = next) {
      next = t->next;
      t->next = b[t->hash & (n - 1)];
      b[t->hash & (n - 1)] = t;
    }
  }
  uvws__free(&s->ctx.alloc, s->buckets);
  s->buckets = b;
  s->nbuckets = n;
  return 0;
}

static void drop_topic(uvws_server_t *s, uvws__topic_t *t) {
  uvws__topic_t **pp = &s->buckets[t->hash & (s->nbuckets - 1)];
  while (*pp != t)
    pp = &(*pp)->next;
  *pp = t->next;
  s->ntopics--;
  uvws__free(&s->ctx.alloc, t);
}

int uvws_conn_subscribe(uvws_conn_t *conn, const char *topic) {
  uvws_server_t *s = uvws__conn_server(conn);
  uvws__conn_ext_t *x;
  uvws__topic_t *t;
  uvws__sub_t *sub;
  size_t h, n;

  if (s == NULL || topic == NULL || topic[0] == '\0')
    return UV_EINVAL;
  if (conn->closing || conn->state == UVWS_CLOSED)
    return UVWS_ESTATE;
  h = hash_str(topic);
  t = find_topic(s, topic, h);
  if (t != NULL && conn->ext != NULL) {
    for (sub = conn->ext->subs; sub != NULL; sub = sub->cnext)
      if (sub->topic == t)
        return 0;
  }
  /* The connection's list of subscriptions is in its extras. */
  if ((x = uvws__conn_ext(conn)) == NULL)
    return UV_ENOMEM;
  if (t == NULL) {
    if (s->ntopics >= s->nbuckets && grow_buckets(s) != 0) {
      uvws__conn_ext_trim(conn);
      return UV_ENOMEM;
    }
    n = strlen(topic);
    t = uvws__calloc(&conn->ctx->alloc, 1, sizeof(*t) + n + 1);
    if (t == NULL) {
      uvws__conn_ext_trim(conn);
      return UV_ENOMEM;
    }
    memcpy(t->name, topic, n + 1);
    t->hash = h;
    t->next = s->buckets[h & (s->nbuckets - 1)];
    s->buckets[h & (s->nbuckets - 1)] = t;
    s->ntopics++;
  }
  sub = uvws__calloc(&conn->ctx->alloc, 1, sizeof(*sub));
  if (sub == NULL) {
    if (t->nsubs == 0)
      drop_topic(s, t);
    uvws__conn_ext_trim(conn);
    return UV_ENOMEM;
  }
  sub->topic = t;
  sub->conn = conn;
  sub->tnext = t->subs;
  if (t->subs)
    t->subs->tprev = sub;
  t->subs = sub;
  t->nsubs++;
  sub->cnext = x->subs;
  x->subs = sub;
  return 0;
}

static void unlink_sub(uvws_server_t *s, uvws__sub_t *sub) {
  uvws__topic_t *t = sub->topic;
  if (sub->tprev)
    sub->tprev->tnext = sub->tnext;
  else
    t->subs = sub->tnext;
  if (sub->tnext)
    sub->tnext->tprev = sub->tprev;
  if (--t->nsubs == 0)
    drop_topic(s, t);
  uvws__free(&s->ctx.alloc, sub);
}

int uvws_conn_unsubscribe(uvws_conn_t *conn, const char *topic) {
  uvws__sub_t **pp;
  if (uvws__conn_server(conn) == NULL || topic == NULL)
    return UV_EINVAL;
  if (conn->ext == NULL)
    return UV_ENOENT;
  for (pp = &conn->ext->subs; *pp != NULL; pp = &(*pp)->cnext) {
    if (strcmp((*pp)->topic->name, topic) == 0) {
      uvws__sub_t *sub = *pp;
      *pp = sub->cnext;
      unlink_sub(uvws__conn_server(conn), sub);
      uvws__conn_ext_trim(conn);
      return 0;
    }
  }
  return UV_ENOENT;
}

void uvws__pubsub_conn_gone(uvws_conn_t *conn) {
  while (conn->ext != NULL && conn->ext->subs != NULL) {
    uvws__sub_t *sub = conn->ext->subs;
    conn->ext->subs = sub->cnext;
    unlink_sub(uvws__conn_server(conn), sub);
  }
}

void uvws__pubsub_free(uvws_server_t *s) {
  /* Connections unsubscribe as they go; only the table itself is left. */
  uvws__free(&s->ctx.alloc, s->buckets);
  s->buckets = NULL;
  s->nbuckets = 0;
}

size_t uvws_server_subscribers(const uvws_server_t *s, const char *topic) {
  const uvws__topic_t *t = find_topic(s, topic, hash_str(topic));
  return t ? t->nsubs : 0;
}

/* ---- publishing ---------------------------------------------------------- */

/* Queues m on conn unless it is slow; returns 1 if queued. */
static int deliver(uvws_server_t *s, uvws_conn_t *conn, uvws_prepared_t *m) {
  size_t limit =
      s->opts.publish_limit ? s->opts.publish_limit : DEFAULT_PUBLISH_LIMIT;
  if (uvws__conn_check_send(conn) != 0)
    return 0;
  if (conn->buffered > limit) {
    /* One slow reader must not grow the server's memory without bound. */
    if (s->opts.publish_policy == UVWS_SLOW_CLOSE)
      uvws__conn_close_code(conn, 1008, "too slow", 8);
    return 0;
  }
  switch (uvws_conn_send_prepared(conn, m)) {
  case 0:
    return 1;
  case UV_ENOMEM:
    /* A subscriber must not silently miss a message: one that cannot
     * take it fails (1011). */
    uvws__conn_fail(conn, UV_ENOMEM, 1011);
    return 0;
  default:
    return 0;
  }
}

int uvws_server_publish_prepared(uvws_server_t *s, const char *topic,
                                 uvws_prepared_t *m) {
  uvws__topic_t *t;
  uvws__sub_t *sub;
  int n = 0;

  if (topic == NULL)
    return UV_EINVAL;
  t = find_topic(s, topic, hash_str(topic));
  if (t == NULL)
    return 0;
  /* Nothing called here calls back into the application, so the list
   * cannot change under the loop. */
  for (sub = t->subs; sub != NULL; sub = sub->tnext)
    n += deliver(s, sub->conn, m);
  return n;
}

int uvws_server_publish(uvws_server_t *s, const char *topic,
                        uvws_msg_type_t type, const char *data, size_t len) {
  uvws_prepared_t *m;
  int r;
  if (topic == NULL)
    return UV_EINVAL;
  if (find_topic(s, topic, hash_str(topic)) == NULL)
    return 0;
  r = uvws_prepared_create_ex(&s->ctx.alloc, type, data, len, &m);
  if (r != 0)
    return r;
  r = uvws_server_publish_prepared(s, topic, m);
  uvws_prepared_release(m);
  return r;
}

int uvws_server_broadcast(uvws_server_t *s, uvws_msg_type_t type,
                          const char *data, size_t len) {
  uvws_prepared_t *m;
  uvws_conn_t *conn;
  int r, n = 0;

  r = uvws_prepared_create_ex(&s->ctx.alloc, type, data, len, &m);
  if (r != 0)
    return r;
  for (conn = s->ctx.conns; conn != NULL; conn = conn->next)
    n += deliver(s, conn, m);
  uvws_prepared_release(m);
  return n;
}

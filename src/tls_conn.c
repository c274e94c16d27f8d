/* TLS on connections: see tls_conn.h. Also the public TLS accessors, which
 * exist in builds without TLS too. */
#include "tls_conn.h"

#include <stdlib.h>
#include <string.h>

#ifdef UVWS_WITH_TLS

#include "tls.h"

struct uvws__conn_tls_s {
  uvws__tls_t t;
  uvws__buf_t out[2]; /* ciphertext for the write of conn->out->batch[i] */
  uvws__buf_t hold;   /* client: the HTTP request, until TLS is up */
  uint8_t notify[2];  /* out[i] carries our close_notify */
  uint8_t notify_queued;
  uint8_t notify_written;
};

int uvws__tls_options_set(const uvws_tls_options_t *o) {
  return o->cert_file || o->cert_pem || o->key_file || o->key_pem ||
         o->ca_file || o->ca_pem || o->insecure_skip_verify_for_testing;
}

int uvws__tls_conf_make(const uvws_allocator_t *al,
                        struct uvws__tls_conf_s **conf, int is_server,
                        const uvws_tls_options_t *o) {
  return uvws__tls_conf_new(al, conf, is_server, o);
}

void uvws__tls_conf_drop(struct uvws__tls_conf_s *conf) {
  uvws__tls_conf_free(conf);
}

int uvws__conn_tls_init(uvws_conn_t *conn, const char *host) {
  struct uvws__conn_tls_s *ct;
  int r;
  /* The filter hangs off the write block, kept for the connection's life
   * (the TLS code keeps its batches). */
  if (uvws__conn_pin_out(conn) != 0)
    return UV_ENOMEM;
  ct = uvws__calloc(&conn->ctx->alloc, 1, sizeof(*ct));
  if (ct == NULL)
    return UV_ENOMEM;
  r = uvws__tls_init(&ct->t, conn->ctx->tls, host);
  if (r != 0) {
    uvws__free(&conn->ctx->alloc, ct);
    return r;
  }
  conn->out->tls = ct;
  return 0;
}

void uvws__conn_tls_free(uvws_conn_t *conn) {
  struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  if (ct == NULL)
    return;
  uvws__tls_free(&ct->t);
  uvws__buf_free(&conn->ctx->alloc, &ct->out[0]);
  uvws__buf_free(&conn->ctx->alloc, &ct->out[1]);
  uvws__buf_free(&conn->ctx->alloc, &ct->hold);
  uvws__free(&conn->ctx->alloc, ct);
  conn->out->tls = NULL;
}

/* The TLS handshake failed, or a record did not decrypt. */
static void tls_failed(uvws_conn_t *conn, int err) {
  struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);

  uvws__conn_error(conn, err);
  if (conn->closing)
    return;
  if (!ct->t.opened) {
    /* RFC 6455 7.4.1: 1015 reports a failed TLS handshake (never sent). */
    conn->failed = 1;
    conn->close_code = UVWS_CLOSE_TLS_HANDSHAKE;
  }
  if (ct->t.opened || ct->out[conn->fill].len == 0) {
    /* Nothing more can be said over this TLS session. */
    uvws__conn_finish(conn);
    return;
  }
  /* The alert mbedTLS wrote goes out, then our FIN (see batch_done);
   * input is dropped until the peer closes, for at most a second. */
  conn->out->batch[conn->fill].ends_handshake_error = 1;
  uvws__conn_set_timer(conn, 1000);
}

void uvws__conn_tls_start(uvws_conn_t *conn) {
  struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  uvws__buf_t *request = &conn->out->batch[conn->fill].arena;
  int r;

  ct->hold = *request;
  memset(request, 0, sizeof(*request));
  r = uvws__tls_start(&ct->t, &ct->out[conn->fill]);
  if (r != 0)
    tls_failed(conn, r);
}

static int on_tls_open(void *arg) {
  uvws_conn_t *conn = arg;
  struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  uvws__buf_t *arena = &conn->out->batch[conn->fill].arena;

  if (ct->hold.len > 0) {
    /* Nothing can be queued while CONNECTING: the request goes first. */
    if (arena->len == 0) {
      uvws__buf_free(&conn->ctx->alloc, arena);
      *arena = ct->hold;
      memset(&ct->hold, 0, sizeof(ct->hold));
    } else if (uvws__buf_append(&conn->ctx->alloc, arena, ct->hold.base,
                                ct->hold.len) != 0) {
      uvws__conn_error(conn, UV_ENOMEM);
      uvws__conn_finish(conn);
    } else {
      uvws__buf_free(&conn->ctx->alloc, &ct->hold);
    }
  }
  return conn->closing;
}

static int on_tls_data(void *arg, char *data, size_t len) {
  uvws_conn_t *conn = arg;
  uvws__conn_read_plain(conn, data, len);
  return conn->closing;
}

static const uvws__tls_cbs_t tls_cbs = {on_tls_open, on_tls_data};

void uvws__conn_tls_read(uvws_conn_t *conn, char *data, size_t len) {
  struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  int r;

  if (conn->state == UVWS_CONNECTING && conn->failed)
    return; /* answered and closing: input is dropped */
  /* conn is corked: nothing is flushed, the filling batch stays put. */
  r = uvws__tls_feed(&ct->t, data, len, &ct->out[conn->fill], &tls_cbs, conn);
  if (conn->closing)
    return;
  if (r != 0) {
    tls_failed(conn, r);
  } else if (ct->t.state == UVWS__TLS_PEER_CLOSED && !conn->close_received &&
             !conn->failed) {
    /* TLS ended before the WebSocket closing handshake: like a TCP EOF.
     * After the handshake (or once we failed) the TCP close follows. */
    uvws__conn_error(conn, UV_EOF);
    uvws__conn_finish(conn);
  }
}

int uvws__conn_tls_pending(const uvws_conn_t *conn) {
  const struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  return ct != NULL && ct->out[conn->fill].len > 0;
}

int uvws__conn_tls_seal(uvws_conn_t *conn, uvws__wbatch_t *b, uv_buf_t *bufs,
                        size_t *nbufs) {
  struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  int i = conn->fill;
  uvws__buf_t *c = &ct->out[i];
  uvws__tls_iov_t stack[16], *iov = stack;
  size_t k, n = *nbufs;
  int r = 0;

  if (n > 0) {
    if (n > sizeof(stack) / sizeof(stack[0])) {
      iov = uvws__malloc(&conn->ctx->alloc, n * sizeof(*iov));
      if (iov == NULL)
        return UV_ENOMEM;
    }
    for (k = 0; k < n; k++) {
      iov[k].base = bufs[k].base;
      iov[k].len = bufs[k].len;
    }
    r = uvws__tls_writev(&ct->t, iov, n, c);
    if (iov != stack)
      uvws__free(&conn->ctx->alloc, iov);
    if (r != 0)
      return r;
    /* The bytes live on in the records: a large arena goes now rather
     * than when the write completes (the segments keep their callbacks). */
    if (b->arena.cap > 256 * 1024)
      uvws__buf_free(&conn->ctx->alloc, &b->arena);
    else
      b->arena.len = 0;
  }
  /* close_notify right behind our close frame when the peer's close frame
   * is in already (or we failed the connection), and behind an HTTP answer
   * that ends the connection. */
  if (!ct->notify_queued && ct->t.opened &&
      ((b->has_close && (conn->close_received || conn->failed)) ||
       b->ends_handshake_error)) {
    r = uvws__tls_close_notify(&ct->t, c);
    if (r != 0)
      return r;
    ct->notify[i] = 1;
    ct->notify_queued = 1;
  }
  bufs[0] = uv_buf_init(c->base, (unsigned)c->len);
  *nbufs = c->len > 0 ? 1 : 0;
  return 0;
}

int uvws__conn_tls_sent(uvws_conn_t *conn, int idx) {
  struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  int had = ct->notify[idx];
  ct->notify[idx] = 0;
  if (had)
    ct->notify_written = 1;
  ct->out[idx].len = 0;
  /* Keep a modest buffer for the next write; release a large one. */
  if (ct->out[idx].cap > 256 * 1024)
    uvws__buf_free(&conn->ctx->alloc, &ct->out[idx]);
  return had;
}

int uvws__conn_tls_close_done(uvws_conn_t *conn) {
  struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  int i = conn->fill;

  if (ct->notify_written || !ct->t.opened)
    return 1;
  if (!ct->notify_queued) {
    if (uvws__tls_close_notify(&ct->t, &ct->out[i]) != 0)
      return 1; /* close without it */
    ct->notify[i] = 1;
    ct->notify_queued = 1;
    uvws__conn_flush(conn);
  }
  return 0;
}

/* ----------------------------------------------------------------------- */
/* Public accessors                                                        */

int uvws_conn_tls_error(const uvws_conn_t *conn) {
  const struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  return ct ? ct->t.err : 0;
}

const char *uvws_conn_tls_cipher(const uvws_conn_t *conn) {
  const struct uvws__conn_tls_s *ct = uvws__conn_tls(conn);
  return ct ? uvws__tls_ciphersuite(&ct->t) : NULL;
}

int uvws_conn_tls_peer_subject(const uvws_conn_t *conn, char *buf,
                               size_t size) {
  if (uvws__conn_tls(conn) == NULL)
    return UV_ENOENT;
  return uvws__tls_peer_subject(&uvws__conn_tls(conn)->t, buf, size);
}

#else /* UVWS_WITH_TLS */

int uvws_conn_tls_error(const uvws_conn_t *conn) {
  (void)conn;
  return 0;
}

const char *uvws_conn_tls_cipher(const uvws_conn_t *conn) {
  (void)conn;
  return NULL;
}

int uvws_conn_tls_peer_subject(const uvws_conn_t *conn, char *buf,
                               size_t size) {
  (void)conn;
  (void)buf;
  (void)size;
  return UV_ENOENT;
}

#endif /* UVWS_WITH_TLS */

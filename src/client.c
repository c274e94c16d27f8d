/* Client contexts and outgoing connections: URL, name lookup, connect (each
 * resolved address in turn), the opening handshake (RFC 6455 4.1). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/base64.h>

#include "tls_conn.h"
#include "proxy.h"
#include "url.h"



static void on_connect(uv_connect_t *req, int status);

static char *dupstr(const uvws_allocator_t *al, const char *s) {
  size_t n;
  char *p;
  if (s == NULL)
    return NULL;
  n = strlen(s) + 1;
  p = uvws__malloc(al, n);
  if (p)
    memcpy(p, s, n);
  return p;
}

int uvws_client_create(uv_loop_t *loop, const uvws_client_options_t *options,
                       uvws_client_t **out) {
  uvws_allocator_t al;
  uvws_client_t *c;
  int r;

  r = uvws__allocator_resolve(&al, options ? options->allocator : NULL);
  if (r != 0)
    return r;
  c = uvws__calloc(&al, 1, sizeof(*c));
  if (c == NULL)
    return UV_ENOMEM;
  c->ctx.alloc = al;
  c->ctx.rbuf = uvws__malloc(&al, UVWS__READ_BUF);
  if (c->ctx.rbuf == NULL) {
    uvws__free(&al, c);
    return UV_ENOMEM;
  }
  r = uvws__rand_init(&c->rand);
  if (r != 0) {
    uvws__free(&al, c->ctx.rbuf);
    uvws__free(&al, c);
    return r;
  }
  if (options != NULL && uvws__tls_options_set(&options->tls)) {
    r = uvws__tls_conf_make(&c->ctx.alloc, &c->ctx.tls, 0, &options->tls);
    if (r != 0) {
      uvws__rand_free(&c->rand);
      uvws__free(&al, c->ctx.rbuf);
      uvws__free(&al, c);
      return r;
    }
  }
  c->ctx.loop = loop;
  c->ctx.rand = &c->rand;
  uvws__limits_resolve(&c->ctx.limits, options ? &options->limits : NULL,
                       NULL);
  uvws__ctx_init(&c->ctx, loop);
  *out = c;
  return 0;
}

static void client_closed(uv_handle_t *h) {
  uvws_client_t *c = uvws__container_of(h->data, uvws_client_t, ctx);
  uvws_allocator_t al = c->ctx.alloc; /* c's memory comes from it */
  if (c->close_cb)
    c->close_cb(c);
  uvws__rand_free(&c->rand);
  uvws__tls_conf_drop(c->ctx.tls);
  uvws__free(&al, c->ctx.rbuf);
  uvws__buf_free(&al, &c->ctx.zbuf);
  uvws__free(&al, c);
}

static void client_last_conn(uvws__ctx_t *ctx) {
  uvws_client_t *c = uvws__container_of(ctx, uvws_client_t, ctx);
  if (!c->closer_closing) {
    c->closer_closing = 1;
    uvws__ctx_close(&c->ctx, client_closed);
  }
}

void *uvws_client_get_data(const uvws_client_t *c) {
  return c->data;
}

void uvws_client_set_data(uvws_client_t *c, void *data) {
  c->data = data;
}

uv_loop_t *uvws_client_loop(const uvws_client_t *c) {
  return c->ctx.loop;
}

void uvws_client_close(uvws_client_t *c, uvws_client_close_cb cb) {
  uvws_conn_t *conn;
  if (c->ctx.closing)
    return;
  c->ctx.closing = 1;
  c->close_cb = cb;
  c->ctx.on_last_conn = client_last_conn;
  for (conn = c->ctx.conns; conn != NULL; conn = conn->next)
    uvws__conn_finish(conn);
  if (c->ctx.nconns == 0)
    client_last_conn(&c->ctx);
}

/* Keeps the status and headers of an answer for uvws_conn_http_status()
 * and uvws_conn_response_header(): names and values packed one after
 * another, each NUL-terminated. */
void uvws__client_keep_response(uvws_conn_t *conn,
                                const uvws__http_head_t *head) {
  uvws__buf_t *b = &conn->cc->resp;
  b->len = 0;
  conn->cc->resp_count = 0;
  conn->cc->http_status = head->status;
  for (size_t i = 0; i < head->num_headers; i++) {
    const uvws__header_t *h = &head->headers[i];
    if (uvws__buf_append(&conn->ctx->alloc, b, h->name, h->name_len) != 0 ||
        uvws__buf_append(&conn->ctx->alloc, b, "", 1) != 0 ||
        uvws__buf_append(&conn->ctx->alloc, b, h->value, h->value_len) != 0 ||
        uvws__buf_append(&conn->ctx->alloc, b, "", 1) != 0)
      return; /* what fitted is kept */
    conn->cc->resp_count++;
  }
}

int uvws_conn_http_status(const uvws_conn_t *conn) {
  return conn->cc ? conn->cc->http_status : 0;
}

int uvws_conn_response_header_at(const uvws_conn_t *conn, size_t i,
                                 const char **name, const char **value) {
  const char *p;
  if (conn->cc == NULL || i >= conn->cc->resp_count)
    return UV_ENOENT;
  p = conn->cc->resp.base;
  while (i-- > 0) {
    p += strlen(p) + 1;
    p += strlen(p) + 1;
  }
  *name = p;
  *value = p + strlen(p) + 1;
  return 0;
}

const char *uvws_conn_response_header(const uvws_conn_t *conn,
                                      const char *name) {
  const char *n, *v;
  for (size_t i = 0; uvws_conn_response_header_at(conn, i, &n, &v) == 0; i++)
    if (strcasecmp(n, name) == 0)
      return v;
  return NULL;
}

void uvws__client_conn_free(uvws_conn_t *conn) {
  if (conn->cc == NULL)
    return;
  uvws__buf_free(&conn->ctx->alloc, &conn->cc->resp);
  if (conn->cc->proxy) {
    uvws__proxy_free(&conn->ctx->alloc, conn->cc->proxy);
    uvws__free(&conn->ctx->alloc, conn->cc->proxy);
  }
  if (conn->cc->offered) {
    for (char **p = conn->cc->offered; *p; p++)
      uvws__free(&conn->ctx->alloc, *p);
    uvws__free(&conn->ctx->alloc, conn->cc->offered);
  }
  uvws__free(&conn->ctx->alloc, conn->cc->origin);
  uvws__free(&conn->ctx->alloc, conn->cc->pmd_opts);
  uvws__free(&conn->ctx->alloc, conn->cc->host);
  uvws__free(&conn->ctx->alloc, conn->cc->target);
  uvws__free(&conn->ctx->alloc, conn->cc->host_header);
  if (conn->cc->ai_all)
    uv_freeaddrinfo(conn->cc->ai_all);
  uvws__free(&conn->ctx->alloc, conn->cc->gai);
  uvws__free(&conn->ctx->alloc, conn->cc->pmd_offer);
  uvws__free(&conn->ctx->alloc, conn->cc);
  conn->cc = NULL;
}

/* Starts a connect to addr; 0 or a libuv error. */
static int connect_to(uvws_conn_t *conn, const struct sockaddr *addr) {
  conn->cc->creq.data = conn;
  return uv_tcp_connect(&conn->cc->creq, &conn->tcp, addr, on_connect);
}

/* Tries the next resolved address, if any; 0 when one was started. */
static int connect_next(uvws_conn_t *conn) {
  int r = UV_ECONNREFUSED;
  while (conn->cc->ai_next != NULL) {
    struct addrinfo *ai = conn->cc->ai_next;
    conn->cc->ai_next = ai->ai_next;
    r = connect_to(conn, ai->ai_addr);
    if (r == 0)
      return 0;
  }
  return r;
}

static void on_retry_closed(uv_handle_t *h) {
  uvws_conn_t *conn = h->data;
  int r;

  if (conn->closing) {
    uvws__conn_unref(conn);
    return;
  }
  /* Without a family, uv_tcp_init creates no socket and cannot fail. */
  uv_tcp_init(conn->ctx->loop, &conn->tcp);
  conn->tcp.data = conn;
  r = connect_next(conn);
  if (r != 0) {
    uvws__conn_error(conn, r);
    uvws__conn_finish(conn);
    uvws__conn_emit_error(conn);
  }
}

/* TCP to the origin is up (directly or through the proxy's tunnel). */
static void connected(uvws_conn_t *conn) {
  conn->corked = 0;
  uvws__conn_start_read(conn);
  if (uvws__conn_tls(conn) != NULL)
    uvws__conn_tls_start(conn); /* the request waits for TLS */
  uvws__conn_flush(conn); /* the request built by uvws_connect() */
}

/* ---- the proxy tunnel (RFC 9110 9.3.6) --------------------------------- */

static void proxy_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  uvws_conn_t *conn = h->data;
  (void)size;
  *buf = uv_buf_init(conn->ctx->rbuf, UVWS__READ_BUF);
}

static void proxy_fail(uvws_conn_t *conn, int err) {
  uvws__conn_error(conn, err);
  uvws__conn_finish(conn);
  uvws__conn_emit_error(conn);
}

static void proxy_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  uvws_conn_t *conn = s->data;
  uvws__http_head_t head;
  long n;

  if (nread == 0 || conn->closing)
    return;
  if (nread < 0) {
    proxy_fail(conn, (int)nread);
    return;
  }
  if (uvws__conn_ext(conn) == NULL ||
      uvws__buf_append(&conn->ctx->alloc, &conn->ext->hs, buf->base,
                       (size_t)nread) != 0) {
    proxy_fail(conn, UV_ENOMEM);
    return;
  }
  n = uvws__http_parse_response(conn->ext->hs.base, conn->ext->hs.len, &head);
  if (n == 0 && conn->ext->hs.len <= uvws__conn_limits(conn)->max_header_size)
    return;
  if (n == 0 || (n > 0 && (size_t)n > uvws__conn_limits(conn)->max_header_size))
    n = UVWS_EHDRTOOBIG;
  if (n < 0) {
    proxy_fail(conn, (int)n);
    return;
  }
  uvws__client_keep_response(conn, &head);
  if (head.status < 200 || head.status > 299) {
    /* 407 is the standard answer; some proxies (tinyproxy) say 401. */
    proxy_fail(conn, head.status == 407 || head.status == 401
                         ? UVWS_EPROXYAUTH
                         : UVWS_EPROXY);
    return;
  }
  /* The tunnel is open. Nothing of the origin's can have come yet: it has
   * not been spoken to. */
  if ((size_t)n != conn->ext->hs.len) {
    proxy_fail(conn, UVWS_EPROXY);
    return;
  }
  uvws__buf_free(&conn->ctx->alloc, &conn->ext->hs);
  uv_read_stop(s);
  connected(conn);
  uvws__conn_emit_error(conn);
}

static void proxy_written(uv_write_t *req, int status) {
  uvws_conn_t *conn = req->data;
  uvws__free(&conn->ctx->alloc, req);
  if (status < 0 && status != UV_ECANCELED && !conn->closing)
    proxy_fail(conn, status);
}

static void proxy_start(uvws_conn_t *conn) {
  uvws__buf_t out = {0};
  /* Brackets, ':', a port and the NUL: the host is as long as the URL's. */
  size_t cap = strlen(conn->cc->host) + 16;
  char *authority = uvws__malloc(&conn->ctx->alloc, cap);
  uv_write_t *req;
  uv_buf_t b;
  int r = UV_ENOMEM;

  if (authority != NULL) {
    snprintf(authority, cap,
             strchr(conn->cc->host, ':') ? "[%s]:%d" : "%s:%d",
             conn->cc->host, conn->cc->port);
    r = uvws__proxy_connect_request(&conn->ctx->alloc, &out, authority,
                                    conn->cc->proxy);
    uvws__free(&conn->ctx->alloc, authority);
  }
  req = uvws__malloc(&conn->ctx->alloc, sizeof(*req) + out.len);
  if (r != 0 || req == NULL) {
    uvws__free(&conn->ctx->alloc, req);
    uvws__buf_free(&conn->ctx->alloc, &out);
    proxy_fail(conn, UV_ENOMEM);
    return;
  }
  /* The request travels with its write request. */
  memcpy(req + 1, out.base, out.len);
  b = uv_buf_init((char *)(req + 1), (unsigned)out.len);
  uvws__buf_free(&conn->ctx->alloc, &out);
  req->data = conn;
  r = uv_write(req, (uv_stream_t *)&conn->tcp, &b, 1, proxy_written);
  if (r == 0)
    r = uv_read_start((uv_stream_t *)&conn->tcp, proxy_alloc, proxy_read);
  else
    uvws__free(&conn->ctx->alloc, req);
  if (r != 0)
    proxy_fail(conn, r);
}

static void on_connect(uv_connect_t *req, int status) {
  uvws_conn_t *conn = req->data;

  if (status == UV_ECANCELED || conn->closing)
    return;
  if (status < 0) {
    if (conn->cc->ai_next != NULL) {
      /* A failed connect leaves the socket unusable: start over with a new
       * handle for the next address. */
      uv_close((uv_handle_t *)&conn->tcp, on_retry_closed);
      return;
    }
    uvws__conn_error(conn, status);
    uvws__conn_finish(conn);
    uvws__conn_emit_error(conn);
    return;
  }
  uv_tcp_nodelay(&conn->tcp, 1);
  if (conn->cc->proxy != NULL)
    proxy_start(conn);
  else
    connected(conn);
  uvws__conn_emit_error(conn);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  uvws_conn_t *conn = req->data;
  int r;

  uvws__free(&conn->ctx->alloc, conn->cc->gai);
  conn->cc->gai = NULL;
  if (conn->closing) {
    if (res)
      uv_freeaddrinfo(res);
    uvws__conn_unref(conn);
    return;
  }
  conn->pending--; /* the lookup is over; the connection lives on */
  if (status < 0) {
    uvws__conn_error(conn, status);
    uvws__conn_finish(conn);
    uvws__conn_emit_error(conn);
    return;
  }
  conn->cc->ai_all = res;
  conn->cc->ai_next = res;
  r = connect_next(conn);
  if (r != 0) {
    uvws__conn_error(conn, r);
    uvws__conn_finish(conn);
    uvws__conn_emit_error(conn);
  }
}

/* Caller's request headers: tokens for names, no CR, LF or NUL in
 * values, and none of the headers the handshake itself is made of. */
static int check_headers(const uvws_header_t *h, size_t n) {
  static const char *const reserved[] = {
      "host", "upgrade", "connection", "origin", "content-length",
      "transfer-encoding", NULL};
  if (n > 0 && h == NULL)
    return UV_EINVAL;
  for (size_t i = 0; i < n; i++) {
    const char *name = h[i].name, *value = h[i].value;
    size_t len;
    if (name == NULL || value == NULL)
      return UV_EINVAL;
    len = strlen(name);
    if (!uvws__is_token(name, len) || strpbrk(value, "\r\n") != NULL)
      return UV_EINVAL;
    if (len >= 14 && strncasecmp(name, "sec-websocket-", 14) == 0)
      return UV_EINVAL;
    for (const char *const *r = reserved; *r; r++)
      if (strcasecmp(name, *r) == 0)
        return UV_EINVAL;
  }
  return 0;
}

static int copy_protocols(uvws_conn_t *conn, const char *const *protocols) {
  size_t n = 0, i;
  if (protocols == NULL || protocols[0] == NULL)
    return 0;
  while (protocols[n])
    n++;
  conn->cc->offered = uvws__calloc(&conn->ctx->alloc, n + 1, sizeof(char *));
  if (conn->cc->offered == NULL)
    return UV_ENOMEM;
  for (i = 0; i < n; i++) {
    conn->cc->offered[i] = dupstr(&conn->ctx->alloc, protocols[i]);
    if (conn->cc->offered[i] == NULL)
      return UV_ENOMEM;
  }
  return 0;
}

int uvws_connect(uvws_client_t *c, const char *url,
                 const uvws_connect_options_t *options,
                 const uvws_callbacks_t *cbs, void *data, uvws_conn_t **out) {
  uvws_connect_options_t none;
  uvws__url_t u;
  uvws_conn_t *conn;
  unsigned char raw[16];
  size_t klen;
  struct sockaddr_storage ss;
  int r;

  if (c->ctx.closing)
    return UVWS_ESTATE;
  if (options == NULL) {
    memset(&none, 0, sizeof(none));
    options = &none;
  }
  if (options->protocols) {
    for (const char *const *p = options->protocols; *p; p++)
      if (!uvws__is_token(*p, strlen(*p)))
        return UV_EINVAL;
  }
  if (options->origin && strpbrk(options->origin, "\r\n"))
    return UV_EINVAL;
  r = check_headers(options->headers, options->num_headers);
  if (r != 0)
    return r;
  r = uvws__url_parse(&c->ctx.alloc, url, &u);
  if (r != 0)
    return r;
  if (u.secure) {
    /* A client created without TLS settings reads the system's CA bundle
     * now (UV_ENOTSUP in a build without TLS). */
    if (c->ctx.tls == NULL)
      r = uvws__tls_conf_make(&c->ctx.alloc, &c->ctx.tls, 0, NULL);
    if (r != 0) {
      uvws__url_free(&c->ctx.alloc, &u);
      return r;
    }
  }

  conn = uvws__malloc(&c->ctx.alloc, sizeof(*conn));
  if (conn == NULL) {
    uvws__url_free(&c->ctx.alloc, &u);
    return UV_ENOMEM;
  }
  r = uvws__conn_init(conn, &c->ctx, 1, options->limits);
  if (r != 0) {
    uvws__free(&c->ctx.alloc, conn);
    uvws__url_free(&c->ctx.alloc, &u);
    return r;
  }
  /* From here the connection is released through uvws__conn_finish(). */
  conn->cc = uvws__calloc(&c->ctx.alloc, 1, sizeof(*conn->cc));
  if (conn->cc == NULL) {
    uvws__url_free(&c->ctx.alloc, &u);
    r = UV_ENOMEM;
    goto fail;
  }
  uvws__limits_resolve(&conn->cc->limits, options->limits, &c->ctx.limits);
  conn->proto.max_message_size = uvws__conn_limits(conn)->max_message_size;
  conn->corked = 1; /* nothing is written before the TCP connect */
  conn->cc->host = u.host;
  conn->cc->target = u.target;
  conn->cc->host_header = u.host_header;
  conn->cc->port = u.port;
  if (uvws__conn_ext(conn) != NULL)
    conn->ext->url = dupstr(&c->ctx.alloc, url);
  conn->cc->origin = dupstr(&c->ctx.alloc, options->origin);
  if (cbs)
    conn->cc->cbs = *cbs;
  conn->cbs = &conn->cc->cbs;
  conn->data = data;

  r = UV_ENOMEM;
  if (conn->ext == NULL || conn->ext->url == NULL ||
      (options->origin && conn->cc->origin == NULL) ||
      copy_protocols(conn, options->protocols) != 0)
    goto fail;
  if (u.secure) {
    r = uvws__conn_tls_init(conn, conn->cc->host);
    if (r != 0)
      goto fail;
  }
  /* RFC 6455 4.1: the key is 16 random bytes, base64-encoded. */
  r = uvws__rand_bytes(&c->rand, raw, sizeof(raw));
  if (r != 0)
    goto fail;
  mbedtls_base64_encode((unsigned char *)conn->cc->key,
                        sizeof(conn->cc->key), &klen, raw, sizeof(raw));
  /* Lines after uvws's own: the deflate offer, the caller's headers. */
  {
    uvws__buf_t extra = {0};
    r = UV_ENOMEM;
    if (options->deflate) {
      conn->cc->pmd_offer =
          uvws__malloc(&c->ctx.alloc, sizeof(*conn->cc->pmd_offer));
      conn->cc->pmd_opts =
          uvws__malloc(&c->ctx.alloc, sizeof(*conn->cc->pmd_opts));
      if (conn->cc->pmd_offer == NULL || conn->cc->pmd_opts == NULL)
        goto fail;
      *conn->cc->pmd_opts = *options->deflate;
      uvws__deflate_resolve(conn->cc->pmd_offer, options->deflate);
      if (uvws__buf_append_str(&c->ctx.alloc, &extra,
                               "Sec-WebSocket-Extensions: ") != 0 ||
          uvws__pmd_offer(&c->ctx.alloc, conn->cc->pmd_offer, &extra) != 0 ||
          uvws__buf_append_str(&c->ctx.alloc, &extra, "\r\n") != 0) {
        uvws__buf_free(&c->ctx.alloc, &extra);
        goto fail;
      }
    }
    for (size_t i = 0; i < options->num_headers; i++) {
      if (uvws__buf_append_str(&c->ctx.alloc, &extra,
                               options->headers[i].name) != 0 ||
          uvws__buf_append_str(&c->ctx.alloc, &extra, ": ") != 0 ||
          uvws__buf_append_str(&c->ctx.alloc, &extra,
                               options->headers[i].value) != 0 ||
          uvws__buf_append_str(&c->ctx.alloc, &extra, "\r\n") != 0) {
        uvws__buf_free(&c->ctx.alloc, &extra);
        goto fail;
      }
    }
    if (extra.len > 0 && uvws__buf_append(&c->ctx.alloc, &extra, "", 1) != 0) {
      uvws__buf_free(&c->ctx.alloc, &extra);
      goto fail;
    }
    uvws__buf_t *arena = uvws__conn_arena(conn);
    r = arena == NULL
            ? UV_ENOMEM
            : uvws__hs_build_request(&c->ctx.alloc, arena, conn->cc->target,
                                     conn->cc->host_header, conn->cc->key,
                                     conn->cc->origin,
                                     (const char *const *)conn->cc->offered,
                                     extra.len ? extra.base : NULL);
    uvws__buf_free(&c->ctx.alloc, &extra);
    if (r != 0)
      goto fail;
  }

  /* Through a proxy, TCP goes to the proxy; the origin is reached with
   * CONNECT once connected. */
  {
    const char *purl = options->proxy;
    if (purl == NULL && options->proxy_from_env)
      purl = uvws__proxy_from_env(conn->cc->host, u.secure);
    if (purl != NULL) {
      conn->cc->proxy =
          uvws__calloc(&c->ctx.alloc, 1, sizeof(*conn->cc->proxy));
      if (conn->cc->proxy == NULL) {
        r = UV_ENOMEM;
        goto fail;
      }
      r = uvws__proxy_parse(&c->ctx.alloc, purl, conn->cc->proxy);
      if (r != 0) {
        uvws__free(&c->ctx.alloc, conn->cc->proxy);
        conn->cc->proxy = NULL;
        goto fail;
      }
    }
  }
  {
    const char *chost =
        conn->cc->proxy ? conn->cc->proxy->host : conn->cc->host;
    int cport = conn->cc->proxy ? conn->cc->proxy->port : conn->cc->port;

    uvws__conn_set_timer(conn, uvws__conn_limits(conn)->handshake_timeout_ms);
    if (uv_ip4_addr(chost, cport, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(chost, cport, (struct sockaddr_in6 *)&ss) == 0) {
      r = connect_to(conn, (const struct sockaddr *)&ss);
      if (r != 0)
        goto fail;
    } else {
      struct addrinfo hints;
      char port[8];
      memset(&hints, 0, sizeof(hints));
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_protocol = IPPROTO_TCP;
      snprintf(port, sizeof(port), "%d", cport);
      conn->cc->gai = uvws__malloc(&c->ctx.alloc, sizeof(*conn->cc->gai));
      if (conn->cc->gai == NULL) {
        r = UV_ENOMEM;
        goto fail;
      }
      conn->cc->gai->data = conn;
      r = uv_getaddrinfo(c->ctx.loop, conn->cc->gai, on_resolved, chost, port,
                         &hints);
      if (r != 0) {
        uvws__free(&c->ctx.alloc, conn->cc->gai);
        conn->cc->gai = NULL;
        goto fail;
      }
      conn->pending++;
    }
  }
  conn->handed = 1;
  *out = conn;
  return 0;

fail:
  /* Not handed to the application: released without callbacks. */
  conn->error = 0;
  uvws__conn_finish(conn);
  return r;
}

/* Reads the server's answer (RFC 6455 4.2.2) from conn->ext->hs. */
void uvws__client_handshake_read(uvws_conn_t *conn) {
  uvws__http_head_t head;
  const char *proto;
  size_t plen, rest;
  long n;
  int r;

  n = uvws__http_parse_response(conn->ext->hs.base, conn->ext->hs.len, &head);
  /* A whole head can arrive in one read: its own size counts too. */
  if (n > 0 && (size_t)n > uvws__conn_limits(conn)->max_header_size)
    n = UVWS_EHDRTOOBIG;
  if (n == 0) {
    if (conn->ext->hs.len > uvws__conn_limits(conn)->max_header_size)
      n = UVWS_EHDRTOOBIG;
    else
      return;
  }
  if (n < 0) {
    uvws__conn_error(conn, (int)n);
    uvws__conn_finish(conn);
    return;
  }
  uvws__client_keep_response(conn, &head);
  r = uvws__hs_check_response(&head, conn->cc->key,
                              (const char *const *)conn->cc->offered,
                              conn->cc->pmd_offer != NULL, &proto, &plen);
  if (r == 0 && conn->cc->pmd_offer != NULL) {
    /* RFC 7692 5: a response that does not validly accept our offer fails
     * the connection. */
    uvws__pmd_params_t params;
    r = uvws__pmd_accept(&head, conn->cc->pmd_offer, &params);
    if (r == 1) {
      /* The header that holds the extension: others can only be empty
       * lists, since uvws__pmd_accept() allows one element in all. */
      const uvws__header_t *h = NULL;
      for (size_t i = 0; i < head.num_headers && h == NULL; i++) {
        const uvws__header_t *x = &head.headers[i];
        if (x->name_len != 24 ||
            strncasecmp(x->name, "Sec-WebSocket-Extensions", 24) != 0)
          continue;
        for (size_t k = 0; k < x->value_len; k++)
          if (x->value[k] != ',' && x->value[k] != ' ' && x->value[k] != '\t')
            h = x;
      }
      r = uvws__conn_set_deflate(conn, &params, conn->cc->pmd_opts, h->value,
                                 h->value_len);
    }
  }
  if (r == 0 && proto != NULL) {
    char *pr = uvws__malloc(&conn->ctx->alloc, plen + 1);
    if (pr == NULL) {
      r = UV_ENOMEM;
    } else {
      memcpy(pr, proto, plen);
      pr[plen] = '\0';
      conn->ext->protocol = pr;
    }
  }
  if (r != 0) {
    uvws__conn_error(conn, r);
    uvws__conn_finish(conn);
    return;
  }
  rest = conn->ext->hs.len - (size_t)n;
  uvws__conn_opened(conn, conn->ext->hs.base + n, rest);
  uvws__buf_free(&conn->ctx->alloc, &conn->ext->hs);
}

/* Servers: listening sockets, accepted connections, the opening handshake
 * (RFC 6455 4.2) and the application's upgrade hook. */
#include "internal.h"
#include "tls_conn.h"

#include <stdlib.h>
#include <string.h>

struct uvws_server_s {
  uvws__ctx_t ctx;
  uvws_server_options_t opts;
  void *data;
  uv_tcp_t **listeners;
  size_t nlisteners;
  size_t listeners_open;
  int port;
  uv_timer_t closer; /* its close callback ends uvws_server_close() */
  uvws_server_close_cb close_cb;
  int closer_closing;
};

struct uvws_request_s {
  uvws__http_head_t *head;
  uvws_conn_t *conn;
  const char *offered; /* NUL-separated list */
  size_t noffered;
  const char *selected;
  int cbs_set;
  uvws_callbacks_t cbs;
  void *data;
};

static int server_create(uv_loop_t *loop, const uvws_server_options_t *options,
                         uvws_server_t **out) {
  uvws_server_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  s->ctx.rbuf = malloc(UVWS__READ_BUF);
  if (s->ctx.rbuf == NULL) {
    free(s);
    return UV_ENOMEM;
  }
  s->ctx.loop = loop;
  if (options)
    s->opts = *options;
  uvws__limits_resolve(&s->ctx.limits, options ? &options->limits : NULL,
                       NULL);
  s->port = UV_ENOTCONN;
  uv_timer_init(loop, &s->closer);
  s->closer.data = s;
  *out = s;
  return 0;
}

int uvws_server_create(uv_loop_t *loop, const uvws_server_options_t *options,
                       uvws_server_t **out) {
  struct uvws__tls_conf_s *tls = NULL;
  int r;
  /* Certificates are parsed once, for every connection of the server. */
  if (options != NULL &&
      (options->tls.cert_file != NULL || options->tls.cert_pem != NULL)) {
    r = uvws__tls_conf_make(&tls, 1, &options->tls);
    if (r != 0 && r != UV_ENOTSUP) /* ignored without TLS */
      return r;
  }
  r = server_create(loop, options, out);
  if (r != 0) {
    uvws__tls_conf_drop(tls);
    return r;
  }
  (*out)->ctx.tls = tls;
  return 0;
}

static void accept_conn(uv_stream_t *l, int status, int tls) {
  uvws_server_t *s = l->data;
  uvws_conn_t *conn;

  if (status < 0 || s->ctx.closing)
    return; /* e.g. EMFILE: libuv retries on the next readiness */
  conn = malloc(sizeof(*conn));
  if (conn == NULL)
    return;
  if (uvws__conn_init(conn, &s->ctx, 0, &s->ctx.limits) != 0) {
    free(conn);
    return;
  }
  conn->server = s;
  conn->cbs = s->opts.callbacks;
  if (uv_accept(l, (uv_stream_t *)&conn->tcp) != 0) {
    uvws__conn_finish(conn);
    return;
  }
  uv_tcp_nodelay(&conn->tcp, 1);
  if (tls && uvws__conn_tls_init(conn, NULL) != 0) {
    uvws__conn_finish(conn);
    return;
  }
  uvws__conn_set_timer(conn, conn->limits.handshake_timeout_ms);
  uvws__conn_start_read(conn);
}

static void on_connection(uv_stream_t *l, int status) {
  accept_conn(l, status, 0);
}

static void on_connection_tls(uv_stream_t *l, int status) {
  accept_conn(l, status, 1);
}

static int listen_on(uvws_server_t *s, const char *host, int port,
                     int backlog, uv_connection_cb cb) {
  struct sockaddr_storage ss;
  uv_tcp_t *t, **list;
  int r, len;

  if (s->ctx.closing)
    return UVWS_ESTATE;
  if (port < 0 || port > 65535)
    return UV_EINVAL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return UV_EINVAL;
  list = realloc(s->listeners, (s->nlisteners + 1) * sizeof(*list));
  if (list == NULL)
    return UV_ENOMEM;
  s->listeners = list;
  t = malloc(sizeof(*t));
  if (t == NULL)
    return UV_ENOMEM;
  r = uv_tcp_init(s->ctx.loop, t);
  if (r != 0) {
    free(t);
    return r;
  }
  t->data = s;
  r = uv_tcp_bind(t, (const struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen((uv_stream_t *)t, backlog > 0 ? backlog : 511, cb);
  if (r != 0) {
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
    return r;
  }
  len = (int)sizeof(ss);
  if (uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len) == 0)
    s->port = ntohs(ss.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&ss)->sin6_port
                        : ((struct sockaddr_in *)&ss)->sin_port);
  s->listeners[s->nlisteners++] = t;
  s->listeners_open++;
  return 0;
}

int uvws_server_listen(uvws_server_t *s, const char *host, int port,
                       int backlog) {
  return listen_on(s, host, port, backlog, on_connection);
}

int uvws_server_listen_tls(uvws_server_t *s, const char *host, int port,
                           int backlog) {
#ifdef UVWS_WITH_TLS
  if (s->ctx.tls == NULL)
    return UV_EINVAL; /* created without a certificate */
  return listen_on(s, host, port, backlog, on_connection_tls);
#else
  (void)s;
  (void)host;
  (void)port;
  (void)backlog;
  (void)on_connection_tls;
  return UV_ENOTSUP;
#endif
}

int uvws_server_port(const uvws_server_t *s) {
  return s->port;
}

static void server_closed(uv_handle_t *h) {
  uvws_server_t *s = h->data;
  uvws_server_close_cb cb = s->close_cb;
  if (cb)
    cb(s);
  free(s->listeners);
  free(s->ctx.rbuf);
  uvws__buf_free(&s->ctx.zbuf);
  uvws__tls_conf_drop(s->ctx.tls);
  free(s);
}

static void server_maybe_done(uvws_server_t *s) {
  if (s->ctx.nconns == 0 && s->listeners_open == 0 && !s->closer_closing) {
    s->closer_closing = 1;
    uv_close((uv_handle_t *)&s->closer, server_closed);
  }
}

static void server_last_conn(uvws__ctx_t *ctx) {
  server_maybe_done(uvws__container_of(ctx, uvws_server_t, ctx));
}

static void listener_closed(uv_handle_t *h) {
  uvws_server_t *s = h->data;
  free(h);
  s->listeners_open--;
  server_maybe_done(s);
}

void uvws_server_close(uvws_server_t *s, uvws_server_close_cb cb) {
  uvws_conn_t *conn;
  size_t i;

  if (s->ctx.closing)
    return;
  s->ctx.closing = 1;
  s->close_cb = cb;
  s->ctx.on_last_conn = server_last_conn;
  for (i = 0; i < s->nlisteners; i++)
    uv_close((uv_handle_t *)s->listeners[i], listener_closed);
  s->nlisteners = 0;
  for (conn = s->ctx.conns; conn != NULL; conn = conn->next)
    uvws__conn_finish(conn);
  server_maybe_done(s);
}

void *uvws_server_get_data(const uvws_server_t *s) {
  return s->data;
}

void uvws_server_set_data(uvws_server_t *s, void *data) {
  s->data = data;
}

uv_loop_t *uvws_server_loop(const uvws_server_t *s) {
  return s->ctx.loop;
}

/* ----------------------------------------------------------------------- */
/* The upgrade request                                                     */

const char *uvws_request_method(const uvws_request_t *req) {
  return req->head->method;
}

const char *uvws_request_target(const uvws_request_t *req) {
  return req->head->target;
}

const char *uvws_request_header(const uvws_request_t *req, const char *name) {
  const uvws__header_t *h = uvws__http_find(req->head, name);
  return h ? h->value : NULL;
}

int uvws_request_header_at(const uvws_request_t *req, size_t i,
                           const char **name, const char **value) {
  if (i >= req->head->num_headers)
    return UV_ENOENT;
  *name = req->head->headers[i].name;
  *value = req->head->headers[i].value;
  return 0;
}

const char *uvws_request_protocol(const uvws_request_t *req, size_t i) {
  const char *p = req->offered;
  if (i >= req->noffered)
    return NULL;
  while (i-- > 0)
    p += strlen(p) + 1;
  return p;
}

int uvws_request_peer_addr(const uvws_request_t *req,
                           struct sockaddr_storage *addr) {
  return uvws_conn_peer_addr(req->conn, addr);
}

int uvws_request_select_protocol(uvws_request_t *req, const char *protocol) {
  const char *p;
  size_t i;
  for (i = 0; (p = uvws_request_protocol(req, i)) != NULL; i++) {
    if (strcmp(p, protocol) == 0) {
      req->selected = p;
      return 0;
    }
  }
  return UV_EINVAL;
}

void uvws_request_set_callbacks(uvws_request_t *req,
                                const uvws_callbacks_t *cbs) {
  req->cbs = *cbs;
  req->cbs_set = 1;
}

void uvws_request_set_data(uvws_request_t *req, void *data) {
  req->data = data;
}

int uvws_request_tls_peer_subject(const uvws_request_t *req, char *buf,
                                  size_t size) {
  return uvws_conn_tls_peer_subject(req->conn, buf, size);
}

/* Parsed strings point into conn->hs; terminating them in place (over the
 * separators that followed them) lets the accessors return C strings. */
static void terminate_strings(uvws__http_head_t *h) {
  size_t i;
  ((char *)h->method)[h->method_len] = '\0';
  ((char *)h->target)[h->target_len] = '\0';
  for (i = 0; i < h->num_headers; i++) {
    ((char *)h->headers[i].name)[h->headers[i].name_len] = '\0';
    ((char *)h->headers[i].value)[h->headers[i].value_len] = '\0';
  }
}

/* Reads the client's request (RFC 6455 4.2.1) from conn->hs. */
void uvws__server_handshake_read(uvws_conn_t *conn) {
  uvws_server_t *s = conn->server;
  uvws__http_head_t head;
  uvws__hs_request_t hr;
  uvws_request_t req;
  uvws__buf_t offered = {0};
  char accept[29];
  long n;
  int status;

  n = uvws__http_parse_request(conn->hs.base, conn->hs.len, &head);
  if (n == 0) {
    if (conn->hs.len > conn->limits.max_header_size)
      uvws__conn_http_refuse(conn, 431, NULL);
    return;
  }
  if (n < 0) {
    uvws__conn_http_refuse(conn, n == UVWS_EHDRTOOBIG ? 431 : 400, NULL);
    return;
  }
  status = uvws__hs_check_request(&head, &hr);
  if (status != 0) {
    uvws__conn_http_refuse(conn, status, NULL);
    return;
  }
  memset(&req, 0, sizeof(req));
  if (uvws__hs_offered_protocols(&head, &offered, &req.noffered) != 0) {
    uvws__buf_free(&offered);
    uvws__conn_http_refuse(conn, 400, NULL);
    return;
  }
  req.head = &head;
  req.conn = conn;
  req.offered = offered.base;
  req.data = NULL;
  uvws__hs_accept(hr.key, hr.key_len, accept);
  terminate_strings(&head);

  if (s->opts.on_upgrade) {
    status = s->opts.on_upgrade(s, &req);
    if (status != 0) {
      uvws__buf_free(&offered);
      if (status < 400 || status > 599)
        status = 500;
      uvws__conn_http_refuse(conn, status, NULL);
      return;
    }
  }
  if (!s->opts.deflate.disable) {
    uvws__pmd_config_t cfg;
    uvws__pmd_params_t params;
    uvws__buf_t ext = {0};
    int r;
    uvws__deflate_resolve(&cfg, &s->opts.deflate);
    r = uvws__pmd_negotiate(&head, &cfg, &params, &ext);
    if (r == 1)
      r = uvws__conn_set_deflate(conn, &params, &s->opts.deflate, ext.base,
                                 ext.len);
    uvws__buf_free(&ext);
    if (r != 0) {
      uvws__buf_free(&offered);
      uvws__conn_http_refuse(conn, r == UVWS_EHANDSHAKE ? 400 : 500, NULL);
      return;
    }
  }
  if (req.cbs_set)
    conn->cbs = req.cbs;
  conn->data = req.data;
  conn->url = malloc(head.target_len + 1);
  if (req.selected)
    conn->protocol = malloc(strlen(req.selected) + 1);
  if (conn->url == NULL || (req.selected && conn->protocol == NULL) ||
      uvws__hs_build_101(&conn->batch[conn->fill].arena, accept,
                         req.selected, conn->extensions) != 0) {
    uvws__buf_free(&offered);
    uvws__conn_http_refuse(conn, 500, NULL);
    return;
  }
  memcpy(conn->url, head.target, head.target_len + 1);
  if (req.selected)
    strcpy(conn->protocol, req.selected);
  uvws__buf_free(&offered);

  /* What followed the request in the same read belongs to the WebSocket. */
  uvws__conn_opened(conn, conn->hs.base + n, conn->hs.len - (size_t)n);
  uvws__buf_free(&conn->hs);
}

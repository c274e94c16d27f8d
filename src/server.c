/* Servers: listening sockets, accepted connections, the opening handshake
 * (RFC 6455 4.2), upgrade policy, routes, plain HTTP answers and graceful
 * shutdown. */
#include "ascii.h"
#include "internal.h"
#include "tls_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "utf8.h"

struct uvws_request_s {
  uvws__http_head_t *head;
  uvws_conn_t *conn;
  char *path;          /* target without the query */
  const char *offered; /* NUL-separated list */
  size_t noffered;
  const char *selected;
  const uvws__route_t *route;
  int cbs_set;
  uvws_callbacks_t cbs;
  void *data;
  uvws__buf_t headers; /* added with uvws_request_add_header() */
  int is_http;         /* a plain HTTP request (uvws_http_cb) */
  int responded;
};

static char **copy_list(const uvws_allocator_t *al, const char *const *list) {
  size_t n = 0, i;
  char **out;
  if (list == NULL)
    return NULL;
  while (list[n])
    n++;
  out = uvws__calloc(al, n + 1, sizeof(*out));
  if (out == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    size_t len = strlen(list[i]) + 1;
    out[i] = uvws__malloc(al, len);
    if (out[i] == NULL) {
      while (i-- > 0)
        uvws__free(al, out[i]);
      uvws__free(al, out);
      return NULL;
    }
    memcpy(out[i], list[i], len);
  }
  return out;
}

static void free_list(const uvws_allocator_t *al, char **list) {
  if (list == NULL)
    return;
  for (char **p = list; *p; p++)
    uvws__free(al, *p);
  uvws__free(al, list);
}

static int server_create(uv_loop_t *loop, const uvws_server_options_t *options,
                         uvws_server_t **out) {
  uvws_allocator_t al;
  uvws_server_t *s;
  int r = uvws__allocator_resolve(&al, options ? options->allocator : NULL);
  if (r != 0)
    return r;
  s = uvws__calloc(&al, 1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  s->ctx.alloc = al;
  s->ctx.rbuf = uvws__malloc(&al, UVWS__READ_BUF);
  if (s->ctx.rbuf == NULL) {
    uvws__free(&al, s);
    return UV_ENOMEM;
  }
  s->ctx.loop = loop;
  if (options) {
    s->opts = *options;
    /* The lists are the caller's; keep copies. */
    s->origins = copy_list(&al, options->allowed_origins);
    s->protocols = copy_list(&al, options->protocols);
    if ((options->allowed_origins && s->origins == NULL) ||
        (options->protocols && s->protocols == NULL)) {
      free_list(&al, s->origins);
      free_list(&al, s->protocols);
      uvws__free(&al, s->ctx.rbuf);
      uvws__free(&al, s);
      return UV_ENOMEM;
    }
    s->opts.allowed_origins = (const char *const *)s->origins;
    s->opts.protocols = (const char *const *)s->protocols;
  }
  uvws__limits_resolve(&s->ctx.limits, options ? &options->limits : NULL,
                       NULL);
  s->port = UV_ENOTCONN;
  uvws__ctx_init(&s->ctx, loop);
  *out = s;
  return 0;
}

int uvws_server_create(uv_loop_t *loop, const uvws_server_options_t *options,
                       uvws_server_t **out) {
  struct uvws__tls_conf_s *tls = NULL;
  uvws_allocator_t al;
  int r = uvws__allocator_resolve(&al, options ? options->allocator : NULL);
  if (r != 0)
    return r;
  /* Certificates are parsed once, for every connection of the server. */
  if (options != NULL &&
      (options->tls.cert_file != NULL || options->tls.cert_pem != NULL)) {
    r = uvws__tls_conf_make(&al, &tls, 1, &options->tls);
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

/* libuv accepts nothing more on a listener until the connection it
 * announced has been taken with uv_accept(): one that cannot be served is
 * taken and closed at once, or the server would never accept again. */
static void server_maybe_done(uvws_server_t *s);

/* A handle of the server's other than a listener in use is closed: a
 * refused connection, or a listener that could not start. */
static void drop_connection(uv_stream_t *l);

static void handle_closed(uv_handle_t *h) {
  uvws_server_t *s = h->data;
  if (h == (uv_handle_t *)&s->spare)
    s->spare_busy = 0;
  else
    uvws__free(&s->ctx.alloc, h);
  s->listeners_open--;
  if (s->ctx.closing) {
    server_maybe_done(s);
    return;
  }
  /* A handle is free again: refuse what waited for one. */
  for (size_t i = 0; s->drops_waiting > 0 && i < s->nlisteners; i++) {
    uvws__listener_t *w = (uvws__listener_t *)s->listeners[i];
    if (w->drop_waiting) {
      w->drop_waiting = 0;
      s->drops_waiting--;
      drop_connection((uv_stream_t *)&w->tcp);
    }
  }
}

/* Out of memory, the server's spare handle takes the connection, so that
 * refusing needs no allocation. */
static void drop_connection(uv_stream_t *l) {
  uvws_server_t *s = l->data;
  uv_tcp_t *t = &s->spare;
  if (s->spare_busy)
    t = uvws__malloc(&s->ctx.alloc, sizeof(*t));
  if (t == NULL) {
    /* libuv holds the connection (and stops accepting on l) until it is
     * taken: it is, when the spare handle's close is done. */
    uvws__listener_t *w = (uvws__listener_t *)l;
    if (!w->drop_waiting) {
      w->drop_waiting = 1;
      s->drops_waiting++;
    }
    return;
  }
  if (uv_tcp_init(l->loop, t) != 0) {
    if (t != &s->spare)
      uvws__free(&s->ctx.alloc, t);
    return;
  }
  if (t == &s->spare)
    s->spare_busy = 1;
  t->data = s;
  (void)uv_accept(l, (uv_stream_t *)t);
  s->listeners_open++; /* the server waits for its close too */
  uv_close((uv_handle_t *)t, handle_closed);
}

static void accept_conn(uv_stream_t *l, int status, int tls) {
  uvws_server_t *s = l->data;
  uvws_conn_t *conn;

  if (status < 0 || s->ctx.closing)
    return; /* e.g. EMFILE: libuv has shed the load with its spare fd */
  /* A budget running low keeps what is left for the connections there
   * are. */
  conn = NULL;
  if (uvws__alloc_admits(&s->ctx.alloc))
    conn = uvws__malloc(&s->ctx.alloc, sizeof(*conn));
  if (conn == NULL) {
    drop_connection(l);
    return;
  }
  if (uvws__conn_init(conn, &s->ctx, 0, &s->ctx.limits) != 0) {
    uvws__free(&s->ctx.alloc, conn);
    drop_connection(l);
    return;
  }
  conn->cbs = &s->opts.callbacks;
  if (uv_accept(l, (uv_stream_t *)&conn->tcp) != 0) {
    uvws__conn_finish(conn);
    return;
  }
  uv_tcp_nodelay(&conn->tcp, 1);
  if (tls && uvws__conn_tls_init(conn, NULL) != 0) {
    uvws__conn_finish(conn);
    return;
  }
  uvws__conn_set_timer(conn, uvws__conn_limits(conn)->handshake_timeout_ms);
  uvws__conn_start_read(conn);
}

static void on_connection(uv_stream_t *l, int status) {
  accept_conn(l, status, 0);
}

static void on_connection_tls(uv_stream_t *l, int status) {
  accept_conn(l, status, 1);
}

/* Adds a listener: bound to addr, or (addr NULL) on a duplicate of sock. */
static int add_listener(uvws_server_t *s, const struct sockaddr *addr,
                        uv_os_sock_t sock, int backlog, uv_connection_cb cb) {
  struct sockaddr_storage ss;
  uv_tcp_t *t, **list;
  int r, len, fd = -1;

  if (s->ctx.closing)
    return UVWS_ESTATE;
  list = uvws__realloc(&s->ctx.alloc, s->listeners,
                       (s->nlisteners + 1) * sizeof(*list));
  if (list == NULL)
    return UV_ENOMEM;
  s->listeners = list;
  t = uvws__calloc(&s->ctx.alloc, 1, sizeof(uvws__listener_t));
  if (t == NULL)
    return UV_ENOMEM;
  r = uv_tcp_init(s->ctx.loop, t);
  if (r != 0) {
    uvws__free(&s->ctx.alloc, t);
    return r;
  }
  t->data = s;
  if (addr != NULL) {
    r = uv_tcp_bind(t, addr, 0);
  } else {
    /* uvws listens on a duplicate; the caller's socket stays the
     * caller's. */
    fd = dup(sock);
    r = fd < 0 ? uv_translate_sys_error(errno) : uv_tcp_open(t, fd);
    if (r != 0 && fd >= 0)
      close(fd);
  }
  if (r == 0)
    r = uv_listen((uv_stream_t *)t, backlog > 0 ? backlog : 511, cb);
  if (r != 0) {
    s->listeners_open++; /* the server waits for its close */
    uv_close((uv_handle_t *)t, handle_closed);
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

static int listen_on(uvws_server_t *s, const char *host, int port,
                     int backlog, uv_connection_cb cb) {
  struct sockaddr_storage ss;
  if (port < 0 || port > 65535)
    return UV_EINVAL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return UV_EINVAL;
  return add_listener(s, (const struct sockaddr *)&ss, 0, backlog, cb);
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

int uvws_server_listen_socket(uvws_server_t *s, uv_os_sock_t sock,
                              int backlog) {
  return add_listener(s, NULL, sock, backlog, on_connection);
}

int uvws_server_port(const uvws_server_t *s) {
  return s->port;
}

size_t uvws_server_connections(const uvws_server_t *s) {
  return s->ctx.nconns;
}

/* ----------------------------------------------------------------------- */
/* Closing                                                                 */

static void server_closed(uv_handle_t *h) {
  uvws_server_t *s = uvws__container_of(h->data, uvws_server_t, ctx);
  uvws_allocator_t al = s->ctx.alloc; /* s's memory comes from it */
  uvws__route_t *r, *next;
  if (s->close_cb)
    s->close_cb(s);
  for (r = s->routes; r != NULL; r = next) {
    next = r->next;
    uvws__free(&al, r);
  }
  uvws__pubsub_free(s);
  free_list(&al, s->origins);
  free_list(&al, s->protocols);
  uvws__free(&al, s->listeners);
  uvws__free(&al, s->ctx.rbuf);
  uvws__buf_free(&al, &s->ctx.zbuf);
  uvws__tls_conf_drop(s->ctx.tls);
  uvws__free(&al, s);
}

static void server_maybe_done(uvws_server_t *s) {
  if (s->ctx.nconns == 0 && s->listeners_open == 0 && !s->closer_closing) {
    s->closer_closing = 1;
    uvws__ctx_close(&s->ctx, server_closed);
  }
}

static void server_last_conn(uvws__ctx_t *ctx) {
  server_maybe_done(uvws__container_of(ctx, uvws_server_t, ctx));
}

static void listener_closed(uv_handle_t *h) {
  uvws_server_t *s = h->data;
  uvws__free(&s->ctx.alloc, h);
  s->listeners_open--;
  server_maybe_done(s);
}

/* Stops listening; the server ends when its last connection does. */
static void stop_listening(uvws_server_t *s, uvws_server_close_cb cb) {
  size_t i;
  s->ctx.closing = 1;
  s->close_cb = cb;
  s->ctx.on_last_conn = server_last_conn;
  for (i = 0; i < s->nlisteners; i++)
    uv_close((uv_handle_t *)s->listeners[i], listener_closed);
  s->nlisteners = 0;
}

static void terminate_all(uvws_server_t *s) {
  uvws_conn_t *conn;
  for (conn = s->ctx.conns; conn != NULL; conn = conn->next)
    uvws__conn_finish(conn);
}

void uvws_server_close(uvws_server_t *s, uvws_server_close_cb cb) {
  if (s->ctx.closing) {
    /* A shutdown in progress becomes an immediate close. */
    terminate_all(s);
    return;
  }
  stop_listening(s, cb);
  terminate_all(s);
  server_maybe_done(s);
}

int uvws_server_shutdown(uvws_server_t *s, int code, const char *reason,
                         size_t reason_len, unsigned timeout_ms,
                         uvws_server_close_cb cb) {
  uvws_conn_t *conn;

  if (reason == NULL)
    reason_len = 0;
  if (code == 0)
    code = UVWS_CLOSE_GOING_AWAY;
  if (code != 1000 && code != 1001 && (code < 3000 || code > 4999))
    return UVWS_EBADCODE;
  if (reason_len > 123 || !uvws__utf8_is_valid(reason, reason_len))
    return UVWS_EBADREASON;
  if (s->ctx.closing)
    return UVWS_ESTATE;

  stop_listening(s, cb);
  for (conn = s->ctx.conns; conn != NULL; conn = conn->next) {
    if (conn->state == UVWS_CONNECTING) {
      uvws__conn_finish(conn);
      continue;
    }
    uvws__conn_close_code(conn, (unsigned)code, reason, reason_len);
    /* Whatever is still open when the time is up is dropped: each
     * connection's own timer says when. */
    if (timeout_ms)
      uvws__conn_set_timer(conn, timeout_ms);
  }
  server_maybe_done(s);
  return 0;
}

int uvws_server_set_allowed_origins(uvws_server_t *s,
                                    const char *const *origins) {
  char **copy = copy_list(&s->ctx.alloc, origins);
  if (origins && copy == NULL)
    return UV_ENOMEM;
  free_list(&s->ctx.alloc, s->origins);
  s->origins = copy;
  s->opts.allowed_origins = (const char *const *)copy;
  return 0;
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

int uvws_server_adopt(uvws_server_t *s, uv_stream_t *stream,
                      const char *method, const char *target,
                      const uvws_header_t *headers, size_t num_headers,
                      const char *head, size_t head_len) {
  uvws_conn_t *conn;
  uv_os_fd_t fd;
  int dupfd, r;
  size_t i;

  if (method == NULL || target == NULL || (head_len && head == NULL) ||
      (num_headers && headers == NULL) ||
      !uvws__is_token(method, strlen(method)) || strpbrk(target, " \r\n"))
    return UV_EINVAL;
  for (i = 0; i < num_headers; i++)
    if (headers[i].name == NULL || headers[i].value == NULL ||
        !uvws__is_token(headers[i].name, strlen(headers[i].name)) ||
        strpbrk(headers[i].value, "\r\n"))
      return UV_EINVAL;
  if (s->ctx.closing)
    return UVWS_ESTATE;
  r = uv_fileno((const uv_handle_t *)stream, &fd);
  if (r != 0)
    return r;
  /* The caller keeps and closes its handle; uvws has its own descriptor. */
  dupfd = dup(fd);
  if (dupfd < 0)
    return uv_translate_sys_error(errno);
  conn = uvws__malloc(&s->ctx.alloc, sizeof(*conn));
  if (conn == NULL) {
    close(dupfd);
    return UV_ENOMEM;
  }
  r = uvws__conn_init(conn, &s->ctx, 0, &s->ctx.limits);
  if (r != 0) {
    uvws__free(&s->ctx.alloc, conn);
    close(dupfd);
    return r;
  }
  conn->cbs = &s->opts.callbacks;
  r = uv_tcp_open(&conn->tcp, dupfd);
  if (r != 0) {
    close(dupfd);
    uvws__conn_finish(conn);
    return r;
  }
  uv_tcp_nodelay(&conn->tcp, 1);
  /* The head as it came, so it takes the path every upgrade takes. */
  if (uvws__conn_ext(conn) == NULL) {
    uvws__conn_finish(conn);
    return UV_ENOMEM;
  }
  r = 0;
  r |= uvws__buf_append_str(&s->ctx.alloc, &conn->ext->hs, method);
  r |= uvws__buf_append(&s->ctx.alloc, &conn->ext->hs, " ", 1);
  r |= uvws__buf_append_str(&s->ctx.alloc, &conn->ext->hs, target);
  r |= uvws__buf_append_str(&s->ctx.alloc, &conn->ext->hs, " HTTP/1.1\r\n");
  for (i = 0; i < num_headers; i++) {
    r |= uvws__buf_append_str(&s->ctx.alloc, &conn->ext->hs, headers[i].name);
    r |= uvws__buf_append(&s->ctx.alloc, &conn->ext->hs, ": ", 2);
    r |= uvws__buf_append_str(&s->ctx.alloc, &conn->ext->hs, headers[i].value);
    r |= uvws__buf_append(&s->ctx.alloc, &conn->ext->hs, "\r\n", 2);
  }
  r |= uvws__buf_append(&s->ctx.alloc, &conn->ext->hs, "\r\n", 2);
  if (head_len)
    r |= uvws__buf_append(&s->ctx.alloc, &conn->ext->hs, head, head_len);
  if (r != 0) {
    uvws__conn_finish(conn);
    return UV_ENOMEM;
  }
  if (uvws__conn_start_later(conn) != 0) {
    uvws__conn_finish(conn);
    return UV_ENOMEM;
  }
  uvws__conn_set_timer(conn, uvws__conn_limits(conn)->handshake_timeout_ms);
  return 0;
}

/* ----------------------------------------------------------------------- */
/* Routes                                                                  */

int uvws_server_route(uvws_server_t *s, const char *path,
                      const uvws_route_t *route) {
  uvws__route_t *r;
  size_t n;

  if (path == NULL || path[0] != '/' || route == NULL ||
      strpbrk(path, "?# \t\r\n") != NULL)
    return UV_EINVAL;
  n = strlen(path);
  /* "/chat/" and "/chat" name the same prefix. */
  if (route->prefix && n > 1 && path[n - 1] == '/')
    n--;
  for (r = s->routes; r != NULL; r = r->next) {
    if (r->path_len == n && memcmp(r->path, path, n) == 0 &&
        !r->route.prefix == !route->prefix)
      return UV_EEXIST;
  }
  r = uvws__malloc(&s->ctx.alloc, sizeof(*r) + n + 1);
  if (r == NULL)
    return UV_ENOMEM;
  r->route = *route;
  r->path_len = n;
  memcpy(r->path, path, n);
  r->path[n] = '\0';
  r->next = s->routes;
  s->routes = r;
  return 0;
}

/* An exact route for path, else the longest prefix route above it. */
static const uvws__route_t *find_route(const uvws_server_t *s,
                                       const char *path) {
  const uvws__route_t *r, *best = NULL;
  size_t n = strlen(path);
  for (r = s->routes; r != NULL; r = r->next) {
    if (!r->route.prefix) {
      if (r->path_len == n && memcmp(r->path, path, n) == 0)
        return r;
      continue;
    }
    if (n < r->path_len || memcmp(r->path, path, r->path_len) != 0)
      continue;
    /* At a segment boundary: "/chat" covers "/chat/x", not "/chatx". */
    if (n != r->path_len && path[r->path_len] != '/' && r->path_len != 1)
      continue;
    if (best == NULL || r->path_len > best->path_len)
      best = r;
  }
  return best;
}

/* ----------------------------------------------------------------------- */
/* The request                                                             */

const char *uvws_request_method(const uvws_request_t *req) {
  return req->head->method;
}

const char *uvws_request_target(const uvws_request_t *req) {
  return req->head->target;
}

const char *uvws_request_path(const uvws_request_t *req) {
  return req->path;
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

const uvws_allocator_t *uvws__request_alloc(const uvws_request_t *req) {
  return &req->conn->ctx->alloc;
}

void *uvws_request_route_data(const uvws_request_t *req) {
  return req->route ? req->route->route.data : NULL;
}

int uvws_request_add_header(uvws_request_t *req, const char *name,
                            const char *value) {
  size_t saved = req->headers.len;
  if (name == NULL || value == NULL || !uvws__is_token(name, strlen(name)) ||
      strpbrk(value, "\r\n") != NULL)
    return UV_EINVAL;
  if (uvws__buf_append_str(&req->conn->ctx->alloc, &req->headers, name) != 0 ||
      uvws__buf_append(&req->conn->ctx->alloc, &req->headers, ": ", 2) != 0 ||
      uvws__buf_append_str(&req->conn->ctx->alloc, &req->headers, value) != 0 ||
      uvws__buf_append(&req->conn->ctx->alloc, &req->headers, "\r\n", 3) != 0) {
    req->headers.len = saved;
    return UV_ENOMEM;
  }
  req->headers.len--; /* the NUL keeps the block a C string */
  return 0;
}

/* The added headers as a C string, or NULL. */
static const char *added_headers(const uvws_request_t *req) {
  return req->headers.len ? req->headers.base : NULL;
}

int uvws_request_respond(uvws_request_t *req, int status,
                         const char *content_type, const char *body,
                         size_t len) {
  uvws_conn_t *conn = req->conn;
  char line[160];
  int head_only, r = 0, n;

  if (!req->is_http || req->responded)
    return UVWS_ESTATE;
  /* RFC 9110 9.3.2: HEAD gets the headers GET would; 1xx, 204 and 304
   * never carry a body. */
  head_only = strcmp(req->head->method, "HEAD") == 0 || status < 200 ||
              status == 204 || status == 304;
  if (status < 100 || status > 599 ||
      (content_type && strpbrk(content_type, "\r\n")) ||
      (len && !body && !head_only))
    return UV_EINVAL;
  n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
               uvws__http_reason(status));
  r |= uvws__conn_queue_raw(conn, line, (size_t)n);
  if (content_type) {
    r |= uvws__conn_queue_raw(conn, "Content-Type: ", 14);
    r |= uvws__conn_queue_raw(conn, content_type, strlen(content_type));
    r |= uvws__conn_queue_raw(conn, "\r\n", 2);
  }
  if (status != 204 && status != 304 && status >= 200) {
    n = snprintf(line, sizeof(line), "Content-Length: %zu\r\n", len);
    r |= uvws__conn_queue_raw(conn, line, (size_t)n);
  }
  r |= uvws__conn_queue_raw(conn, "Connection: close\r\n", 19);
  if (req->headers.len)
    r |= uvws__conn_queue_raw(conn, req->headers.base, req->headers.len);
  r |= uvws__conn_queue_raw(conn, "\r\n", 2);
  if (!head_only && len)
    r |= uvws__conn_queue_raw(conn, body, len);
  if (r != 0)
    return UV_ENOMEM;
  req->responded = 1;
  uvws__conn_http_end(conn);
  return 0;
}

/* Parsed strings point into conn->ext->hs; terminating them in place (over the
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

static int ieq(const char *a, const char *b) {
  return uvws__ascii_ieq(a, strlen(a), b, strlen(b));
}

/* Upgrade policy from the server's options; 0 or the status to refuse
 * with. */
static int check_policy(uvws_server_t *s, uvws_request_t *req) {
  if (s->opts.allowed_origins) {
    const char *origin = uvws_request_header(req, "Origin");
    const char *const *o;
    if (origin == NULL)
      return 403;
    for (o = s->opts.allowed_origins; *o; o++)
      if (ieq(*o, origin))
        break;
    if (*o == NULL)
      return 403;
  }
  if (s->opts.max_connections && s->ctx.nconns > s->opts.max_connections)
    return 503;
  if (s->opts.protocols) {
    /* RFC 6455 4.2.2: the client lists its protocols in order of
     * preference; take the first the server speaks. */
    const char *p;
    for (size_t i = 0; (p = uvws_request_protocol(req, i)) != NULL; i++) {
      for (const char *const *q = s->opts.protocols; *q; q++) {
        if (strcmp(p, *q) == 0) {
          req->selected = p;
          return 0;
        }
      }
    }
  }
  return 0;
}

static int negotiate_deflate(uvws_server_t *s, uvws_conn_t *conn,
                             const uvws__http_head_t *head) {
  uvws__pmd_config_t cfg;
  uvws__pmd_params_t params;
  uvws__buf_t ext = {0};
  int r;
  if (s->opts.deflate.disable)
    return 0;
  uvws__deflate_resolve(&cfg, &s->opts.deflate);
  r = uvws__pmd_negotiate(&s->ctx.alloc, head, &cfg, &params, &ext);
  if (r == 1)
    r = uvws__conn_set_deflate(conn, &params, &s->opts.deflate, ext.base,
                               ext.len);
  uvws__buf_free(&s->ctx.alloc, &ext);
  return r;
}

/* Handles a complete request head of length n in conn->ext->hs. */
static void handle_request(uvws_server_t *s, uvws_conn_t *conn,
                           uvws__http_head_t *head, long n) {
  uvws__hs_request_t hr;
  uvws_request_t req;
  uvws__buf_t offered = {0};
  const uvws__header_t *up;
  const char *q;
  uvws__conn_ext_t *x;
  char accept[29];
  int status;

  memset(&req, 0, sizeof(req));
  req.head = head;
  req.conn = conn;
  terminate_strings(head);
  q = strchr(head->target, '?');
  req.path = uvws__malloc(&s->ctx.alloc, q ? (size_t)(q - head->target) + 1
                                           : head->target_len + 1);
  if (req.path == NULL) {
    uvws__conn_http_refuse(conn, 500, NULL);
    return;
  }
  memcpy(req.path, head->target,
         q ? (size_t)(q - head->target) : head->target_len);
  req.path[q ? (size_t)(q - head->target) : head->target_len] = '\0';

  up = uvws__http_find(head, "Upgrade");
  if (up == NULL || !uvws__token_list_has(up->value, up->value_len,
                                          "websocket")) {
    /* Not a WebSocket upgrade: plain HTTP for the application, or 426. */
    if (s->opts.on_http) {
      req.is_http = 1;
      s->opts.on_http(s, &req);
      if (!req.responded)
        uvws_request_respond(&req, 404, "text/plain; charset=utf-8",
                             "404 Not Found\n", 14);
    } else {
      uvws__conn_http_refuse(conn, 426, NULL);
    }
    goto done;
  }

  status = uvws__hs_check_request(head, &hr);
  if (status == 0 && s->routes) {
    req.route = find_route(s, req.path);
    if (req.route == NULL)
      status = 404;
  }
  if (status == 0 && uvws__hs_offered_protocols(&s->ctx.alloc, head, &offered,
                                                &req.noffered) != 0)
    status = 400;
  req.offered = offered.base;
  if (status == 0)
    status = check_policy(s, &req);
  if (status == 0 && s->opts.on_upgrade)
    status = s->opts.on_upgrade(s, &req);
  if (status == 0 && req.route && req.route->route.on_upgrade)
    status = req.route->route.on_upgrade(s, &req);
  if (status == 0) {
    int r = negotiate_deflate(s, conn, head);
    if (r < 0)
      status = r == UVWS_EHANDSHAKE ? 400 : 500;
  }
  if (status != 0) {
    if (status < 400 || status > 599)
      status = 500;
    uvws__conn_http_refuse(conn, status, added_headers(&req));
    goto done;
  }

  if (req.cbs_set) {
    uvws_callbacks_t *own = uvws__malloc(&s->ctx.alloc, sizeof(*own));
    if (own == NULL) {
      uvws__conn_http_refuse(conn, 500, NULL);
      goto done;
    }
    *own = req.cbs;
    conn->cbs = own;
    conn->own_cbs = 1;
  } else {
    conn->cbs = req.route ? &req.route->route.callbacks : &s->opts.callbacks;
  }
  conn->data = req.data;
  /* The extras hold the handshake until it is over: x is there. */
  x = conn->ext;
  x->route_data = req.route ? req.route->route.data : NULL;
  /* "/" is not copied. */
  conn->url_root = head->target_len == 1 && head->target[0] == '/';
  if (!conn->url_root)
    x->url = uvws__malloc(&s->ctx.alloc, head->target_len + 1);
  if (req.selected)
    x->protocol = uvws__malloc(&s->ctx.alloc, strlen(req.selected) + 1);
  uvws__hs_accept(hr.key, hr.key_len, accept);
  if ((!conn->url_root && x->url == NULL) ||
      (req.selected && x->protocol == NULL) || uvws__conn_arena(conn) == NULL ||
      uvws__hs_build_101(&s->ctx.alloc, uvws__conn_arena(conn), accept,
                         req.selected, x->extensions) != 0) {
    uvws__conn_http_refuse(conn, 500, NULL);
    goto done;
  }
  if (req.headers.len) {
    /* Added headers go before the empty line that ends the 101. */
    uvws__buf_t *a = uvws__conn_arena(conn);
    a->len -= 2;
    if (uvws__conn_queue_raw(conn, req.headers.base, req.headers.len) != 0 ||
        uvws__conn_queue_raw(conn, "\r\n", 2) != 0) {
      a->len = 0;
      uvws__conn_http_refuse(conn, 500, NULL);
      goto done;
    }
  }
  if (x->url != NULL)
    memcpy(x->url, head->target, head->target_len + 1);
  if (req.selected)
    strcpy(x->protocol, req.selected);
  uvws__free(&s->ctx.alloc, req.path);
  uvws__buf_free(&s->ctx.alloc, &offered);
  uvws__buf_free(&s->ctx.alloc, &req.headers);

  /* What followed the request in the same read belongs to the WebSocket. */
  uvws__conn_opened(conn, x->hs.base + n, x->hs.len - (size_t)n);
  uvws__buf_free(&s->ctx.alloc, &x->hs);
  uvws__conn_ext_trim(conn);
  return;

done:
  uvws__free(&s->ctx.alloc, req.path);
  uvws__buf_free(&s->ctx.alloc, &offered);
  uvws__buf_free(&s->ctx.alloc, &req.headers);
}

/* Reads the client's request (RFC 6455 4.2.1) from conn->ext->hs. */
void uvws__server_handshake_read(uvws_conn_t *conn) {
  uvws__http_head_t head;
  long n;

  n = uvws__http_parse_request(conn->ext->hs.base, conn->ext->hs.len, &head);
  if (n == 0) {
    if (conn->ext->hs.len > uvws__conn_limits(conn)->max_header_size)
      uvws__conn_http_refuse(conn, 431, NULL);
    return;
  }
  if (n < 0) {
    uvws__conn_http_refuse(conn, n == UVWS_EHDRTOOBIG ? 431 : 400, NULL);
    return;
  }
  if ((size_t)n > uvws__conn_limits(conn)->max_header_size) {
    uvws__conn_http_refuse(conn, 431, NULL);
    return;
  }
  handle_request(uvws__conn_server(conn), conn, &head, n);
}

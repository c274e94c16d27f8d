/* The client's side of custom handshakes on 127.0.0.1: extra request
 * headers as a raw server sees them on the wire (copied, in order, repeated
 * names kept); headers refused with UV_EINVAL (CR/LF, names that are not
 * tokens, the headers uvws writes itself); the 101's headers through
 * uvws_conn_response_header() and _at(), from a raw server and from a uvws
 * server's uvws_request_add_header(); refusals (403, 401, 503 from a uvws
 * server, a 302 from a raw one) reported as UVWS_EBADSTATUS with their
 * status and headers readable in on_error and on_close; and status 0 when
 * no answer was read. */
#include "client_util.h"

static lb_loop_t L;
static uvws_client_t *client;

/* What the client connection saw. */
static struct {
  int open, error, close;
  int err, code, clean;
  int status_at_error, status_at_close;
} C;

static void reset(const char *name) {
  memset(&C, 0, sizeof(C));
  lb_loop_init(&L, name, 10000);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
}

static void finish(void) {
  lb_loop_run(&L);
}

static void rec_error(uvws_conn_t *conn, int err) {
  LB_NOT_IN_API();
  C.error++;
  C.err = err;
  C.status_at_error = uvws_conn_http_status(conn);
}

/* ----------------------------------------------------------------------- */
/* Request headers on the wire, and the 101's headers                      */

static lb_raw_server_t raw_srv;
static char seen_head[8192];
static int raw_port;

/* The raw server answers the upgrade with these headers after its own. */
#define RAW_101_EXTRA                                                          \
  "Set-Cookie: session=xyz; Path=/\r\n"                                        \
  "X-Server: raw\r\n"                                                          \
  "X-Multi: 1\r\n"                                                             \
  "X-Multi: 2\r\n"                                                             \
  "Sec-WebSocket-Protocol: chat\r\n"

/* Reads the request, answers 101, then answers the client's close frame
 * and closes the TCP connection. */
static void raw_read(lb_raw_t *r) {
  lb_frame_t f;
  char payload[125];
  if (seen_head[0] == '\0' &&
      cu_raw_upgrade(r, seen_head, sizeof(seen_head), RAW_101_EXTRA) == 0)
    return;
  while (cu_raw_take_frame(r, &f, payload, sizeof(payload))) {
    CHECK_EQ(f.opcode, LB_OP_CLOSE);
    cu_raw_send_frame(r, LB_OP_CLOSE, payload, (size_t)f.len);
    lb_raw_close(r);
    lb_raw_server_close(&raw_srv);
    return;
  }
}

static void raw_accept(lb_raw_t *r) {
  r->on_read = raw_read;
}

static void hdr_open(uvws_conn_t *conn) {
  static const char *const names[] = {"Upgrade",
                                      "Connection",
                                      "Sec-WebSocket-Accept",
                                      "Set-Cookie",
                                      "X-Server",
                                      "X-Multi",
                                      "X-Multi",
                                      "Sec-WebSocket-Protocol"};
  static const char *const values[] = {
      "websocket", "Upgrade", NULL, "session=xyz; Path=/",
      "raw",       "1",       "2",  "chat"};
  const char *name, *value;
  size_t i;
  LB_NOT_IN_API();
  C.open++;
  CHECK_EQ(uvws_conn_http_status(conn), 101);
  CHECK_STR(uvws_conn_response_header(conn, "Set-Cookie"),
            "session=xyz; Path=/");
  CHECK_STR(uvws_conn_response_header(conn, "set-cookie"),
            "session=xyz; Path=/");
  CHECK_STR(uvws_conn_response_header(conn, "X-SERVER"), "raw");
  /* The first of a repeated header by name; all of them by index. */
  CHECK_STR(uvws_conn_response_header(conn, "x-multi"), "1");
  CHECK(uvws_conn_response_header(conn, "X-Absent") == NULL);
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    CHECK_EQ(uvws_conn_response_header_at(conn, i, &name, &value), 0);
    CHECK_STR(name, names[i]);
    if (values[i] != NULL)
      CHECK_STR(value, values[i]);
  }
  CHECK_ERR(uvws_conn_response_header_at(conn, i, &name, &value), UV_ENOENT);
  CHECK_ERR(uvws_conn_response_header_at(conn, 1000, &name, &value), UV_ENOENT);
  CHECK_STR(uvws_conn_protocol(conn), "chat");
  CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void hdr_close(uvws_conn_t *conn, int code, const char *reason,
                      size_t len, int clean) {
  LB_NOT_IN_API();
  C.close++;
  C.code = code;
  C.clean = clean;
  /* Still readable until on_close returns. */
  CHECK_EQ(uvws_conn_http_status(conn), 101);
  CHECK_STR(uvws_conn_response_header(conn, "X-Server"), "raw");
  API_VOID(uvws_client_close(client, NULL));
}

static void test_request_headers(void) {
  static const uvws_callbacks_t cbs = {hdr_open, NULL, rec_error, hdr_close};
  static const char *const protocols[] = {"chat", NULL};
  uvws_connect_options_t o;
  uvws_header_t h[6];
  uvws_conn_t *conn;
  char url[64], *strings;
  size_t n = 0;

  reset("request headers on the wire, 101 headers");
  seen_head[0] = '\0';
  lb_raw_server_listen(&raw_srv, &L.loop, raw_accept);
  raw_port = raw_srv.port;

  /* The names and values live in one buffer that is scribbled over once
   * uvws_connect() returns: uvws must have copied them. */
  strings = malloc(512);
  CHECK(strings != NULL);
#define PUT(field, s)                                                          \
  do {                                                                         \
    field = strcpy(strings + n, s);                                            \
    n += strlen(s) + 1;                                                        \
  } while (0)
  PUT(h[0].name, "Authorization");
  PUT(h[0].value, "Bearer abc.def");
  PUT(h[1].name, "Cookie");
  PUT(h[1].value, "a=1; b=2");
  PUT(h[2].name, "X-Dup");
  PUT(h[2].value, "one");
  PUT(h[3].name, "X-Dup");
  PUT(h[3].value, "two");
  PUT(h[4].name, "X-Empty");
  PUT(h[4].value, "");
  PUT(h[5].name, "x-lower-case");
  PUT(h[5].value, "v a l u e");
#undef PUT
  memset(&o, 0, sizeof(o));
  o.headers = h;
  o.num_headers = 6;
  o.origin = "http://app.example";
  o.protocols = protocols;
  CHECK_ERR(API(uvws_connect(client, lb_url(url, sizeof(url), raw_port, "/x"),
                             &o, &cbs, NULL, &conn)),
            0);
  memset(strings, 'Z', 511);
  memset(h, 0, sizeof(h));
  free(strings);
  /* Nothing answered yet. */
  CHECK_EQ(uvws_conn_http_status(conn), 0);
  CHECK(uvws_conn_response_header(conn, "Upgrade") == NULL);

  finish();
  CHECK_EQ(C.open, 1);
  CHECK_EQ(C.error, 0);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(C.code, 1000);
  CHECK_EQ(C.clean, 1);

  n = strlen(seen_head);
  CHECK(lb_head_has_line(seen_head, n, "Authorization: Bearer abc.def"));
  CHECK(lb_head_has_line(seen_head, n, "Cookie: a=1; b=2"));
  CHECK(lb_head_has_line(seen_head, n, "x-lower-case: v a l u e"));
  CHECK(lb_head_has_line(seen_head, n, "X-Empty:") ||
        lb_head_has_line(seen_head, n, "X-Empty: "));
  CHECK(lb_head_has_line(seen_head, n, "Origin: http://app.example"));
  CHECK(lb_head_has_line(seen_head, n, "Sec-WebSocket-Protocol: chat"));
  CHECK_EQ(cu_head_count(seen_head, n, "Authorization"), 1);
  CHECK_EQ(cu_head_count(seen_head, n, "Cookie"), 1);
  CHECK_EQ(cu_head_count(seen_head, n, "Host"), 1);
  CHECK_EQ(cu_head_count(seen_head, n, "Origin"), 1);
  /* Both X-Dup lines, in the order given. */
  CHECK_EQ(cu_head_count(seen_head, n, "X-Dup"), 2);
  CHECK(strstr(seen_head, "X-Dup: one\r\n") != NULL);
  CHECK(strstr(seen_head, "X-Dup: one\r\n") < strstr(seen_head, "X-Dup: two"));
  CHECK(strncmp(seen_head, "GET /x HTTP/1.1\r\n", 17) == 0);
}

/* ----------------------------------------------------------------------- */
/* Headers refused with UV_EINVAL                                          */

static int einval_closes;

static void einval_close(uvws_conn_t *conn, int code, const char *reason,
                         size_t len, int clean) {
  LB_NOT_IN_API();
  einval_closes++;
}

static void test_invalid_headers(void) {
  static const struct {
    const char *name, *value;
  } bad[] = {
      {"X-Bad", "a\r\nInjected: 1"},
      {"X-Bad", "a\nInjected: 1"},
      {"X-Bad", "a\rb"},
      {"X-Bad", "\r\n"},
      {"Bad Name", "v"},
      {"Bad:Name", "v"},
      {"Bad\r\nName", "v"},
      {"Bad\tName", "v"},
      {"Bad(Name)", "v"},
      {"", "v"},
      {"Host", "evil.example"},
      {"host", "evil.example"},
      {"HOST", "evil.example"},
      {"Upgrade", "websocket"},
      {"Connection", "Upgrade"},
      {"Origin", "http://evil.example"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
      {"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="},
      {"Sec-WebSocket-Version", "13"},
      {"Sec-WebSocket-Protocol", "chat"},
      {"Sec-WebSocket-Extensions", "permessage-deflate"},
      {"Sec-WebSocket-Accept", "x"},
      /* Would change how the server frames the request. */
      {"Content-Length", "5"},
      {"Transfer-Encoding", "chunked"},
  };
  static const uvws_callbacks_t cbs = {NULL, NULL, NULL, einval_close};
  uvws_connect_options_t o;
  uvws_header_t h[2];
  uvws_conn_t *conn;
  size_t i;
  int r;

  reset("headers refused with UV_EINVAL");
  einval_closes = 0;
  memset(&o, 0, sizeof(o));
  o.headers = h;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    /* Alone, and after a valid header. */
    h[0].name = "Authorization";
    h[0].value = "Bearer t";
    h[1].name = bad[i].name;
    h[1].value = bad[i].value;
    for (o.num_headers = 1; o.num_headers <= 2; o.num_headers++) {
      o.headers = o.num_headers == 1 ? &h[1] : h;
      conn = (uvws_conn_t *)&o; /* must not be touched on failure */
      r = API(uvws_connect(client, "ws://127.0.0.1:9/", &o, &cbs, NULL, &conn));
      if (r != UV_EINVAL)
        fprintf(stderr, "header \"%s: %s\" gave %s, expected UV_EINVAL\n",
                bad[i].name, bad[i].value, r ? uvws_err_name(r) : "0");
      CHECK_ERR(r, UV_EINVAL);
    }
  }
  API_VOID(uvws_client_close(client, NULL));
  finish();
  /* A failed call has no callbacks. */
  CHECK_EQ(einval_closes, 0);
}

/* ----------------------------------------------------------------------- */
/* A uvws server: request headers through uvws_request_header(), 101
 * headers added with uvws_request_add_header(), and refusals              */

static uvws_server_t *server;
static int refuse_status; /* 0: accept */
static int upgrades;

static int srv_upgrade(uvws_server_t *s, uvws_request_t *req) {
  LB_NOT_IN_API();
  upgrades++;
  CHECK_STR(uvws_request_header(req, "Authorization"), "Bearer t0ken");
  CHECK_STR(uvws_request_header(req, "cookie"), "theme=dark");
  switch (refuse_status) {
  case 0:
    CHECK_EQ(
        uvws_request_add_header(req, "Set-Cookie", "session=abc; HttpOnly"), 0);
    CHECK_EQ(uvws_request_add_header(req, "X-Request-Id", "42"), 0);
    return 0;
  case 401:
    CHECK_EQ(uvws_request_add_header(req, "WWW-Authenticate",
                                     "Bearer realm=\"uvws\""),
             0);
    return 401;
  case 403:
    CHECK_EQ(uvws_request_add_header(req, "X-Reason", "banned"), 0);
    return 403;
  default:
    CHECK_EQ(uvws_request_add_header(req, "Retry-After", "10"), 0);
    return refuse_status;
  }
}

static int srv_closes;

static void srv_close(uvws_conn_t *conn, int code, const char *reason,
                      size_t len, int clean) {
  LB_NOT_IN_API();
  srv_closes++;
}

/* The refusal's one header, by name. */
static const char *refusal_header(int status, const char **value) {
  switch (status) {
  case 401:
    *value = "Bearer realm=\"uvws\"";
    return "www-authenticate";
  case 403:
    *value = "banned";
    return "X-REASON";
  case 302:
    *value = "ws://127.0.0.1:9/elsewhere";
    return "Location";
  default:
    *value = "10";
    return "retry-after";
  }
}

static void check_refusal(uvws_conn_t *conn) {
  const char *want, *name = refusal_header(refuse_status, &want);
  const char *n, *v;
  size_t i;
  int found = 0;
  CHECK_EQ(uvws_conn_http_status(conn), refuse_status);
  CHECK_STR(uvws_conn_response_header(conn, name), want);
  for (i = 0; uvws_conn_response_header_at(conn, i, &n, &v) == 0; i++)
    if (strcasecmp(n, name) == 0) {
      CHECK_STR(v, want);
      found++;
    }
  CHECK_EQ(found, 1);
}

static void ref_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  C.open++;
  CHECK_EQ(refuse_status, 0);
  CHECK_EQ(uvws_conn_http_status(conn), 101);
  CHECK_STR(uvws_conn_response_header(conn, "Set-Cookie"),
            "session=abc; HttpOnly");
  CHECK_STR(uvws_conn_response_header(conn, "x-request-id"), "42");
  CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void ref_error(uvws_conn_t *conn, int err) {
  rec_error(conn, err);
  check_refusal(conn);
}

static void ref_close(uvws_conn_t *conn, int code, const char *reason,
                      size_t len, int clean) {
  LB_NOT_IN_API();
  C.close++;
  C.code = code;
  C.clean = clean;
  C.status_at_close = uvws_conn_http_status(conn);
  if (refuse_status != 0)
    check_refusal(conn);
  API_VOID(uvws_client_close(client, NULL));
  if (server != NULL)
    API_VOID(uvws_server_close(server, NULL));
}

static void run_uvws_server(int status) {
  static const uvws_callbacks_t cbs = {ref_open, NULL, ref_error, ref_close};
  uvws_server_options_t so;
  uvws_connect_options_t o;
  uvws_header_t h[2] = {{"Authorization", "Bearer t0ken"},
                        {"Cookie", "theme=dark"}};
  uvws_conn_t *conn;
  char url[64], name[64];
  int port;

  snprintf(name, sizeof(name), "uvws server answers %d", status ? status : 101);
  reset(name);
  refuse_status = status;
  upgrades = srv_closes = 0;
  memset(&so, 0, sizeof(so));
  so.on_upgrade = srv_upgrade;
  so.callbacks.on_close = srv_close;
  server = lb_server(&L.loop, &so, &port);
  memset(&o, 0, sizeof(o));
  o.headers = h;
  o.num_headers = 2;
  CHECK_ERR(API(uvws_connect(client, lb_url(url, sizeof(url), port, "/"), &o,
                             &cbs, NULL, &conn)),
            0);
  finish();
  server = NULL;
  CHECK_EQ(upgrades, 1);
  CHECK_EQ(C.close, 1);
  if (status == 0) {
    CHECK_EQ(C.open, 1);
    CHECK_EQ(C.error, 0);
    CHECK_EQ(C.code, 1000);
    CHECK_EQ(C.clean, 1);
    CHECK_EQ(srv_closes, 1);
  } else {
    CHECK_EQ(C.open, 0);
    CHECK_EQ(C.error, 1);
    CHECK_ERR(C.err, UVWS_EBADSTATUS);
    CHECK_EQ(C.status_at_error, status);
    CHECK_EQ(C.status_at_close, status);
    CHECK_EQ(C.code, 1006);
    CHECK_EQ(C.clean, 0);
    /* A refused upgrade never reaches the server's application. */
    CHECK_EQ(srv_closes, 0);
  }
}

static void test_uvws_server(void) {
  run_uvws_server(0);
  run_uvws_server(403);
  run_uvws_server(401);
  run_uvws_server(503);
}

/* A raw server answers 302 with a Location. */
static void redirect_read(lb_raw_t *r) {
  if (lb_head_len(r->in, r->len) == 0)
    return;
  lb_raw_write_str(r, "HTTP/1.1 302 Found\r\n"
                      "Location: ws://127.0.0.1:9/elsewhere\r\n"
                      "Content-Length: 0\r\n\r\n");
  lb_raw_consume(r, r->len);
  lb_raw_server_close(&raw_srv);
}

static void redirect_accept(lb_raw_t *r) {
  r->on_read = redirect_read;
}

static void test_redirect(void) {
  static const uvws_callbacks_t cbs = {ref_open, NULL, ref_error, ref_close};
  uvws_conn_t *conn;
  char url[64];

  reset("raw server answers 302");
  refuse_status = 302;
  lb_raw_server_listen(&raw_srv, &L.loop, redirect_accept);
  CHECK_ERR(
      API(uvws_connect(client, lb_url(url, sizeof(url), raw_srv.port, "/"),
                       NULL, &cbs, NULL, &conn)),
      0);
  finish();
  CHECK_EQ(C.error, 1);
  CHECK_ERR(C.err, UVWS_EBADSTATUS);
  CHECK_EQ(C.status_at_error, 302);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(C.code, 1006);
}

/* ----------------------------------------------------------------------- */
/* No answer: status 0 and no headers                                      */

static void none_error(uvws_conn_t *conn, int err) {
  const char *n, *v;
  rec_error(conn, err);
  CHECK(uvws_conn_response_header(conn, "Upgrade") == NULL);
  CHECK_ERR(uvws_conn_response_header_at(conn, 0, &n, &v), UV_ENOENT);
}

static void none_close(uvws_conn_t *conn, int code, const char *reason,
                       size_t len, int clean) {
  LB_NOT_IN_API();
  C.close++;
  C.code = code;
  C.status_at_close = uvws_conn_http_status(conn);
  API_VOID(uvws_client_close(client, NULL));
}

/* The raw server closes the connection after reading the request. */
static void hangup_read(lb_raw_t *r) {
  if (lb_head_len(r->in, r->len) == 0)
    return;
  lb_raw_close(r);
  lb_raw_server_close(&raw_srv);
}

static void hangup_accept(lb_raw_t *r) {
  r->on_read = hangup_read;
}

static void test_no_answer(void) {
  static const uvws_callbacks_t cbs = {NULL, NULL, none_error, none_close};
  uvws_conn_t *conn;
  char url[64];
  int port;

  /* Nothing listens on the port of a server that was just closed. */
  reset("no answer: connection refused");
  lb_raw_server_listen(&raw_srv, &L.loop, NULL);
  port = raw_srv.port;
  lb_raw_server_close(&raw_srv);
  CHECK_ERR(API(uvws_connect(client, lb_url(url, sizeof(url), port, "/"), NULL,
                             &cbs, NULL, &conn)),
            0);
  finish();
  CHECK_EQ(C.error, 1);
  CHECK_ERR(C.err, UV_ECONNREFUSED);
  CHECK_EQ(C.status_at_error, 0);
  CHECK_EQ(C.status_at_close, 0);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(C.code, 1006);

  reset("no answer: server hangs up");
  lb_raw_server_listen(&raw_srv, &L.loop, hangup_accept);
  CHECK_ERR(
      API(uvws_connect(client, lb_url(url, sizeof(url), raw_srv.port, "/"),
                       NULL, &cbs, NULL, &conn)),
      0);
  finish();
  CHECK_EQ(C.error, 1);
  CHECK(C.err < 0);
  CHECK_EQ(C.status_at_error, 0);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(C.code, 1006);
}

int main(void) {
  lb_setup();
  test_request_headers();
  test_invalid_headers();
  test_uvws_server();
  test_redirect();
  test_no_answer();
  return 0;
}

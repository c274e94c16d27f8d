/* Server features through the public API on loopback: routes, plain HTTP
 * answers, upgrade policy (Origin, subprotocols, authorization hook with
 * headers, connection limit), publish/subscribe and broadcast with prepared
 * messages, the slow-subscriber policy, and graceful shutdown. */
#include "loopback_util.h"

static lb_loop_t L;
static int port;
static uvws_server_t *server;
static uvws_client_t *client;

/* ---- a client that records what happens to it -------------------------- */

typedef struct {
  uvws_conn_t *conn;
  int opened, closed, errors, messages;
  int error;
  int close_code, clean;
  char close_reason[128];
  char last[256];
  size_t last_len;
  uvws_msg_type_t last_type;
  char protocol[64];
  char extensions[128];
  void (*on_open)(uvws_conn_t *);
  int close_on_message;
} peer_t;

static int clients_closed;
static void (*all_closed)(void);

static void c_open(uvws_conn_t *c) {
  peer_t *p = uvws_conn_get_data(c);
  LB_NOT_IN_API();
  p->opened++;
  snprintf(p->protocol, sizeof(p->protocol), "%s", uvws_conn_protocol(c));
  snprintf(p->extensions, sizeof(p->extensions), "%s",
           uvws_conn_extensions(c));
  if (p->on_open)
    p->on_open(c);
}

static void c_message(uvws_conn_t *c, uvws_msg_type_t t, const char *d,
                      size_t n) {
  peer_t *p = uvws_conn_get_data(c);
  LB_NOT_IN_API();
  p->messages++;
  p->last_type = t;
  p->last_len = n;
  memcpy(p->last, d, n < sizeof(p->last) ? n : sizeof(p->last));
  if (p->close_on_message)
    uvws_conn_close(c, 1000, NULL, 0);
}

static void c_error(uvws_conn_t *c, int err) {
  peer_t *p = uvws_conn_get_data(c);
  LB_NOT_IN_API();
  p->errors++;
  p->error = err;
}

static void c_close(uvws_conn_t *c, int code, const char *r, size_t n,
                    int clean) {
  peer_t *p = uvws_conn_get_data(c);
  LB_NOT_IN_API();
  p->closed++;
  p->close_code = code;
  p->clean = clean;
  snprintf(p->close_reason, sizeof(p->close_reason), "%.*s", (int)n, r);
  clients_closed++;
  if (all_closed)
    all_closed();
}

static const uvws_callbacks_t client_cbs = {c_open, c_message, c_error,
                                            c_close, NULL, NULL};

static void connect_peer(peer_t *p, const char *path, const char *origin,
                         const char *const *protocols) {
  char url[128];
  uvws_connect_options_t o;
  memset(&o, 0, sizeof(o));
  o.origin = origin;
  o.protocols = protocols;
  CHECK_EQ(API(uvws_connect(client, lb_url(url, sizeof(url), port, path), &o,
                            &client_cbs, p, &p->conn)),
           0);
}

static void start(const char *name, const uvws_server_options_t *opts) {
  lb_loop_init(&L, name, 20000);
  server = lb_server(&L.loop, opts, &port);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  clients_closed = 0;
  all_closed = NULL;
}

static void finish(void) {
  uvws_client_close(client, NULL);
  uvws_server_close(server, NULL);
}

/* ---- routes ------------------------------------------------------------- */

static int echo_route, chat_route;
static int route_msgs[2];

static void r_message(uvws_conn_t *c, uvws_msg_type_t t, const char *d,
                      size_t n) {
  int *which = uvws_conn_route_data(c);
  route_msgs[which == &chat_route]++;
  /* Answer with the route's name, so the client can tell. */
  if (which == &chat_route)
    uvws_conn_send_text(c, "chat", 4);
  else
    uvws_conn_send(c, t, d, n);
}

static peer_t rp[5];

static void routes_check(void) {
  if (clients_closed < 5)
    return;
  /* /echo (exact) echoed; /chat/room1 reached the prefix route. */
  CHECK_EQ(rp[0].opened, 1);
  CHECK_EQ(rp[0].last_len, 5);
  CHECK(memcmp(rp[0].last, "hello", 5) == 0);
  CHECK_EQ(rp[1].opened, 1);
  CHECK(memcmp(rp[1].last, "chat", 4) == 0);
  CHECK_EQ(rp[2].opened, 1);
  CHECK(memcmp(rp[2].last, "chat", 4) == 0);
  /* /chatroom and /echo/x match nothing: 404, seen as a failed handshake. */
  for (int i = 3; i < 5; i++) {
    CHECK_EQ(rp[i].opened, 0);
    CHECK_ERR(rp[i].error, UVWS_EBADSTATUS);
    CHECK_EQ(rp[i].close_code, 1006);
  }
  CHECK_EQ(route_msgs[0], 1);
  CHECK_EQ(route_msgs[1], 2);
  finish();
}

static void rp_open(uvws_conn_t *c) {
  uvws_conn_send_text(c, "hello", 5);
}

static void test_routes(void) {
  uvws_server_options_t o;
  uvws_route_t echo, chat;
  memset(&o, 0, sizeof(o));
  start("routes", &o);
  memset(&echo, 0, sizeof(echo));
  echo.callbacks.on_message = r_message;
  echo.data = &echo_route;
  chat = echo;
  chat.prefix = 1;
  chat.data = &chat_route;
  CHECK_EQ(uvws_server_route(server, "/echo", &echo), 0);
  CHECK_EQ(uvws_server_route(server, "/chat/", &chat), 0);
  CHECK_ERR(uvws_server_route(server, "/echo", &echo), UV_EEXIST);
  CHECK_ERR(uvws_server_route(server, "no-slash", &echo), UV_EINVAL);

  memset(rp, 0, sizeof(rp));
  all_closed = routes_check;
  const char *paths[5] = {"/echo?x=1", "/chat", "/chat/room1", "/chatroom",
                          "/echo/x"};
  for (int i = 0; i < 5; i++) {
    rp[i].on_open = rp_open;
    rp[i].close_on_message = 1;
    connect_peer(&rp[i], paths[i], NULL, NULL);
  }
  /* Each open client closes once it has its answer. */
  lb_loop_run(&L);
}

/* ---- plain HTTP --------------------------------------------------------- */

static void on_http(uvws_server_t *s, uvws_request_t *req) {
  (void)s;
  LB_NOT_IN_API();
  if (strcmp(uvws_request_path(req), "/hello") == 0) {
    CHECK_STR(uvws_request_target(req), "/hello?q=1");
    CHECK_STR(uvws_request_header(req, "x-thing"), "42");
    CHECK_ERR(uvws_request_add_header(req, "X-Bad", "a\r\nb"), UV_EINVAL);
    CHECK_ERR(uvws_request_add_header(req, "Bad Name", "v"), UV_EINVAL);
    CHECK_EQ(uvws_request_add_header(req, "X-Answer", "yes"), 0);
    CHECK_EQ(uvws_request_respond(req, 200, "text/plain", "hello world", 11),
             0);
    CHECK_ERR(uvws_request_respond(req, 200, NULL, NULL, 0), UVWS_ESTATE);
  }
  /* Other paths are left unanswered: uvws answers 404. */
}

typedef struct {
  lb_raw_t raw;
  const char *request;
  char *answer;
  size_t answer_len;
} http_probe_t;

static http_probe_t probes[4];
static int probes_done;

static void probe_connected(lb_raw_t *r) {
  http_probe_t *p = r->data;
  lb_raw_write_str(r, p->request);
}

static void probe_eof(lb_raw_t *r) {
  http_probe_t *p = r->data;
  p->answer = malloc(r->len + 1);
  memcpy(p->answer, r->in, r->len);
  p->answer[r->len] = '\0';
  p->answer_len = r->len;
  if (++probes_done == 4)
    uvws_server_close(server, NULL);
}

static void test_http(int with_callback) {
  uvws_server_options_t o;
  static const char *requests[4] = {
      "GET /hello?q=1 HTTP/1.1\r\nHost: x\r\nX-Thing: 42\r\n\r\n",
      "HEAD /hello?q=1 HTTP/1.1\r\nHost: x\r\nX-Thing: 42\r\n\r\n",
      "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
      ("GET /hello HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")};
  memset(&o, 0, sizeof(o));
  if (with_callback)
    o.on_http = on_http;
  lb_loop_init(&L, with_callback ? "plain HTTP answers" : "HTTP without a"
                                                          " callback: 426",
               10000);
  server = lb_server(&L.loop, &o, &port);
  probes_done = 0;
  for (int i = 0; i < 4; i++) {
    memset(&probes[i], 0, sizeof(probes[i]));
    probes[i].request = requests[i];
    lb_raw_init(&probes[i].raw, &L.loop);
    probes[i].raw.data = &probes[i];
    probes[i].raw.on_eof = probe_eof;
    lb_raw_connect(&probes[i].raw, "127.0.0.1", port, probe_connected);
  }
  lb_loop_run(&L);
  if (with_callback) {
    CHECK(strncmp(probes[0].answer, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(probes[0].answer, "\r\nX-Answer: yes\r\n") != NULL);
    CHECK(strstr(probes[0].answer, "\r\nContent-Type: text/plain\r\n"));
    CHECK(strstr(probes[0].answer, "\r\nContent-Length: 11\r\n"));
    CHECK(strcmp(probes[0].answer + probes[0].answer_len - 15,
                 "\r\n\r\nhello world") == 0);
    /* HEAD: the same headers, no body. */
    CHECK(strncmp(probes[1].answer, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(probes[1].answer, "\r\nContent-Length: 11\r\n"));
    CHECK(strcmp(probes[1].answer + probes[1].answer_len - 4, "\r\n\r\n") ==
          0);
    CHECK(strncmp(probes[2].answer, "HTTP/1.1 404 ", 13) == 0);
  } else {
    for (int i = 0; i < 3; i++)
      CHECK(strncmp(probes[i].answer, "HTTP/1.1 426 ", 13) == 0);
  }
  /* An upgrade request that is not valid (no key) is never plain HTTP. */
  CHECK(strncmp(probes[3].answer, "HTTP/1.1 400 ", 13) == 0);
  for (int i = 0; i < 4; i++)
    free(probes[i].answer);
}

/* ---- upgrade policy ----------------------------------------------------- */

static int hook_calls;

static int auth_hook(uvws_server_t *s, uvws_request_t *req) {
  const char *auth = uvws_request_header(req, "Authorization");
  struct sockaddr_storage ss;
  (void)s;
  LB_NOT_IN_API();
  hook_calls++;
  CHECK_EQ(uvws_request_peer_addr(req, &ss), 0);
  CHECK_EQ(ss.ss_family, AF_INET);
  if (auth == NULL || strcmp(auth, "Bearer good") != 0) {
    CHECK_EQ(uvws_request_add_header(req, "WWW-Authenticate", "Bearer"), 0);
    return 401;
  }
  CHECK_EQ(uvws_request_add_header(req, "Set-Cookie", "session=1"), 0);
  return 0;
}

static lb_raw_t auth_raw[2];
static int auth_done;

static void auth_connected(lb_raw_t *r) {
  char req[512];
  snprintf(req, sizeof(req),
           "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: " LB_KEY "\r\n"
           "Sec-WebSocket-Version: 13\r\nAuthorization: %s\r\n\r\n",
           r == &auth_raw[0] ? "Bearer bad" : "Bearer good");
  lb_raw_write_str(r, req);
}

static void auth_read(lb_raw_t *r) {
  size_t n = lb_head_len(r->in, r->len);
  if (n == 0 || r != &auth_raw[1])
    return;
  CHECK(strncmp(r->in, "HTTP/1.1 101 ", 13) == 0);
  CHECK(lb_head_has_line(r->in, n, "Set-Cookie: session=1"));
  CHECK(lb_head_has_line(r->in, n, "Sec-WebSocket-Accept: " LB_ACCEPT));
  lb_raw_close(r);
}

static void auth_eof(lb_raw_t *r) {
  if (r == &auth_raw[0]) {
    size_t n = lb_head_len(r->in, r->len);
    CHECK(n > 0);
    CHECK(strncmp(r->in, "HTTP/1.1 401 ", 13) == 0);
    CHECK(lb_head_has_line(r->in, n, "WWW-Authenticate: Bearer"));
  }
}

static void auth_closed(lb_raw_t *r) {
  (void)r;
  if (++auth_done == 2)
    uvws_server_close(server, NULL);
}

static int server_opens, server_closes;
static void s_open(uvws_conn_t *c) {
  (void)c;
  server_opens++;
}
static void s_close(uvws_conn_t *c, int code, const char *r, size_t n,
                    int clean) {
  (void)c, (void)code, (void)r, (void)n, (void)clean;
  server_closes++;
}

static void test_auth_hook(void) {
  uvws_server_options_t o;
  memset(&o, 0, sizeof(o));
  o.on_upgrade = auth_hook;
  o.callbacks.on_open = s_open;
  o.callbacks.on_close = s_close;
  lb_loop_init(&L, "authorization hook and headers", 10000);
  server = lb_server(&L.loop, &o, &port);
  hook_calls = auth_done = server_opens = server_closes = 0;
  for (int i = 0; i < 2; i++) {
    lb_raw_init(&auth_raw[i], &L.loop);
    auth_raw[i].on_read = auth_read;
    auth_raw[i].on_eof = auth_eof;
    auth_raw[i].on_closed = auth_closed;
    lb_raw_connect(&auth_raw[i], "127.0.0.1", port, auth_connected);
  }
  lb_loop_run(&L);
  CHECK_EQ(hook_calls, 2);
  /* The refused one never reached the application. */
  CHECK_EQ(server_opens, 1);
  CHECK_EQ(server_closes, 1);
}

static peer_t pp[6];

static void policy_check(void) {
  if (clients_closed < 6)
    return;
  CHECK_EQ(pp[0].opened, 1); /* allowed origin, protocols in client order */
  CHECK_STR(pp[0].protocol, "chat.v1");
  CHECK_EQ(pp[1].opened, 1); /* allowed origin, other case */
  CHECK_STR(pp[1].protocol, "chat.v2");
  CHECK_EQ(pp[2].opened, 0); /* other origin */
  CHECK_ERR(pp[2].error, UVWS_EBADSTATUS);
  CHECK_EQ(pp[3].opened, 0); /* no origin */
  CHECK_ERR(pp[3].error, UVWS_EBADSTATUS);
  CHECK_EQ(pp[4].opened, 1); /* only unknown protocols: none selected */
  CHECK_STR(pp[4].protocol, "");
  finish();
}

static void policy_open(uvws_conn_t *c) {
  uvws_conn_close(c, 1000, NULL, 0);
}

static void test_policy(void) {
  static const char *const origins[] = {"http://good.example", NULL};
  static const char *const server_protos[] = {"chat.v2", "chat.v1", NULL};
  static const char *const p12[] = {"chat.v1", "chat.v2", NULL};
  static const char *const p2[] = {"x", "chat.v2", NULL};
  static const char *const unknown[] = {"x", "y", NULL};
  uvws_server_options_t o;
  memset(&o, 0, sizeof(o));
  o.allowed_origins = origins;
  o.protocols = server_protos;
  start("Origin allow-list and subprotocols", &o);
  memset(pp, 0, sizeof(pp));
  for (int i = 0; i < 6; i++)
    pp[i].on_open = policy_open;
  all_closed = policy_check;
  connect_peer(&pp[0], "/", "http://good.example", p12);
  connect_peer(&pp[1], "/", "HTTP://GOOD.example", p2);
  connect_peer(&pp[2], "/", "http://evil.example", p12);
  connect_peer(&pp[3], "/", NULL, NULL);
  connect_peer(&pp[4], "/", "http://good.example", unknown);
  /* The sixth closes at once: it only makes the count of six. */
  connect_peer(&pp[5], "/", "http://good.example", NULL);
  lb_loop_run(&L);
}

static peer_t mp[3];
static int max_opened;

static void max_open(uvws_conn_t *c) {
  (void)c;
  /* Open the next one only when this one is in, so the order is known. */
  if (++max_opened < 2)
    connect_peer(&mp[max_opened], "/", NULL, NULL);
  else
    connect_peer(&mp[2], "/", NULL, NULL);
}

static void max_check(void) {
  if (clients_closed == 1) {
    CHECK_EQ(mp[2].opened, 0);
    CHECK_ERR(mp[2].error, UVWS_EBADSTATUS);
    finish();
  }
}

static void test_max_connections(void) {
  uvws_server_options_t o;
  memset(&o, 0, sizeof(o));
  o.max_connections = 2;
  start("connection limit: 503", &o);
  memset(mp, 0, sizeof(mp));
  max_opened = 0;
  mp[0].on_open = mp[1].on_open = max_open;
  all_closed = max_check;
  connect_peer(&mp[0], "/", NULL, NULL);
  lb_loop_run(&L);
}

/* ---- publish/subscribe -------------------------------------------------- */

static peer_t sp[4];
static int sub_opens;
static int published;

static void sub_server_open(uvws_conn_t *c) {
  /* Everyone subscribes to "room"; the path says whether also to "b". */
  CHECK_EQ(uvws_conn_subscribe(c, "room"), 0);
  CHECK_EQ(uvws_conn_subscribe(c, "room"), 0); /* twice is once */
  if (strcmp(uvws_conn_url(c), "/b") == 0)
    CHECK_EQ(uvws_conn_subscribe(c, "b"), 0);
  if (++sub_opens == 4) {
    CHECK_EQ(uvws_server_subscribers(server, "room"), 4);
    CHECK_EQ(uvws_server_subscribers(server, "b"), 2);
    CHECK_EQ(uvws_server_subscribers(server, "none"), 0);
    CHECK_ERR(uvws_conn_unsubscribe(c, "none"), UV_ENOENT);
    CHECK_EQ(uvws_conn_unsubscribe(c, "room"), 0);
    CHECK_EQ(uvws_server_subscribers(server, "room"), 3);
    published = uvws_server_publish(server, "room", UVWS_TEXT, "to room", 7);
    CHECK_EQ(published, 3);
    CHECK_EQ(uvws_server_publish(server, "b", UVWS_BINARY, "\x01\x02", 2),
             2);
    CHECK_EQ(uvws_server_publish(server, "none", UVWS_TEXT, "x", 1), 0);
    CHECK_ERR(uvws_server_publish(server, "room", UVWS_TEXT, "\xff", 1),
              UVWS_EBADUTF8);
  }
}

static void sub_message(uvws_conn_t *c, uvws_msg_type_t t, const char *d,
                        size_t n) {
  peer_t *p = uvws_conn_get_data(c);
  c_message(c, t, d, n);
  if (t == UVWS_TEXT)
    CHECK(n == 7 && memcmp(d, "to room", 7) == 0);
  else
    CHECK(n == 2 && memcmp(d, "\x01\x02", 2) == 0);
  (void)p;
}

static int sub_total(void) {
  int n = 0;
  for (int i = 0; i < 4; i++)
    n += sp[i].messages;
  return n;
}

static uv_timer_t settle;
static void sub_settled(uv_timer_t *t) {
  (void)t;
  /* 3 text (room minus the unsubscribed) + 2 binary (b). */
  CHECK_EQ(sub_total(), 5);
  uv_close((uv_handle_t *)&settle, NULL);
  finish();
}

static void test_publish(int deflate) {
  uvws_server_options_t o;
  static const uvws_callbacks_t sub_cbs = {c_open, sub_message, c_error,
                                           c_close, NULL, NULL};
  uvws_deflate_options_t d;
  memset(&o, 0, sizeof(o));
  o.callbacks.on_open = sub_server_open;
  start(deflate ? "publish/subscribe, deflate without takeover"
                : "publish/subscribe",
        &o);
  memset(sp, 0, sizeof(sp));
  memset(&d, 0, sizeof(d));
  d.server_no_context_takeover = 1;
  sub_opens = 0;
  for (int i = 0; i < 4; i++) {
    char url[128];
    uvws_connect_options_t co;
    memset(&co, 0, sizeof(co));
    /* Deflate on half of them: they get the message compressed once. */
    if (deflate && i % 2 == 0)
      co.deflate = &d;
    CHECK_EQ(uvws_connect(client,
                          lb_url(url, sizeof(url), port, i < 2 ? "/b" : "/a"),
                          &co, &sub_cbs, &sp[i], &sp[i].conn),
             0);
  }
  uv_timer_init(&L.loop, &settle);
  uv_timer_start(&settle, sub_settled, 500, 0);
  lb_loop_run(&L);
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(sp[i].opened, 1);
    CHECK_EQ(strstr(sp[i].extensions, "permessage-deflate") != NULL,
             deflate && i % 2 == 0);
  }
}

/* A prepared message queued on many connections and released by its
 * creator early: every copy still arrives, and ASan sees no leak. */
static peer_t bp[3];
static int b_opens;
static void b_server_open(uvws_conn_t *c) {
  (void)c;
  if (++b_opens == 3) {
    char big[100000];
    lb_fill(big, sizeof(big), 1, 7);
    CHECK_EQ(uvws_server_broadcast(server, UVWS_TEXT, big, sizeof(big)), 3);
  }
}
static void b_message(uvws_conn_t *c, uvws_msg_type_t t, const char *d,
                      size_t n) {
  CHECK_EQ(t, UVWS_TEXT);
  CHECK_EQ(n, 100000);
  CHECK(lb_payload_ok(d, n, 1, 7));
  c_message(c, t, "ok", 2);
  uvws_conn_close(c, 1000, NULL, 0);
}
static void b_check(void) {
  if (clients_closed == 3) {
    for (int i = 0; i < 3; i++)
      CHECK_EQ(bp[i].messages, 1);
    finish();
  }
}

static void test_broadcast(void) {
  uvws_server_options_t o;
  static const uvws_callbacks_t cbs = {c_open, b_message, c_error, c_close,
                                       NULL, NULL};
  memset(&o, 0, sizeof(o));
  o.callbacks.on_open = b_server_open;
  start("broadcast of a prepared message", &o);
  memset(bp, 0, sizeof(bp));
  b_opens = 0;
  all_closed = b_check;
  for (int i = 0; i < 3; i++) {
    char url[128];
    CHECK_EQ(uvws_connect(client, lb_url(url, sizeof(url), port, "/"), NULL,
                          &cbs, &bp[i], &bp[i].conn),
             0);
  }
  lb_loop_run(&L);
}

/* ---- a subscriber that never reads -------------------------------------- */

static lb_raw_t slow;
static uvws_conn_t *slow_server_conn;
static int slow_closed_code;
static uv_timer_t pump;
static int pumped, queued_total;
static int slow_policy;

static void slow_s_open(uvws_conn_t *c) {
  slow_server_conn = c;
  CHECK_EQ(uvws_conn_subscribe(c, "feed"), 0);
}

static void slow_s_close(uvws_conn_t *c, int code, const char *r, size_t n,
                         int clean) {
  (void)c, (void)r, (void)n, (void)clean;
  slow_closed_code = code;
  slow_server_conn = NULL;
}

static void on_pump(uv_timer_t *t) {
  static char chunk[256 * 1024];
  (void)t;
  if (slow_server_conn != NULL) {
    /* bufferedAmount never grows past the limit plus one message. */
    CHECK(uvws_conn_buffered_amount(slow_server_conn) <=
          512 * 1024 + sizeof(chunk));
  }
  queued_total +=
      uvws_server_publish(server, "feed", UVWS_BINARY, chunk, sizeof(chunk));
  if (++pumped == 60) {
    uv_close((uv_handle_t *)&pump, NULL);
    if (slow_policy == UVWS_SLOW_CLOSE)
      CHECK(slow_server_conn == NULL || uvws_conn_ready_state(
                                            slow_server_conn) >= UVWS_CLOSING);
    lb_raw_close(&slow);
    uvws_server_close(server, NULL);
  }
}

static void slow_connected(lb_raw_t *r) {
  char *req = lb_request("/", port, NULL);
  lb_raw_write_str(r, req);
  free(req);
}

static void slow_read(lb_raw_t *r) {
  if (lb_head_len(r->in, r->len) == 0)
    return;
  /* Handshake done: stop reading for good, and let the pump run. */
  lb_raw_read_stop(r);
  uv_timer_start(&pump, on_pump, 1, 5);
}

static void test_slow_subscriber(int policy) {
  uvws_server_options_t o;
  memset(&o, 0, sizeof(o));
  o.callbacks.on_open = slow_s_open;
  o.callbacks.on_close = slow_s_close;
  o.publish_limit = 512 * 1024;
  o.publish_policy = (uvws_slow_policy_t)policy;
  o.limits.close_timeout_ms = 200;
  slow_policy = policy;
  lb_loop_init(&L,
               policy == UVWS_SLOW_SKIP ? "slow subscriber skipped"
                                        : "slow subscriber closed (1008)",
               20000);
  server = lb_server(&L.loop, &o, &port);
  pumped = queued_total = 0;
  slow_closed_code = 0;
  slow_server_conn = NULL;
  uv_timer_init(&L.loop, &pump);
  lb_raw_init(&slow, &L.loop);
  slow.on_read = slow_read;
  lb_raw_connect(&slow, "127.0.0.1", port, slow_connected);
  lb_loop_run(&L);
  /* Some messages were queued before it counted as slow, not all 60. */
  CHECK(queued_total > 0);
  CHECK(queued_total < 60);
  if (policy == UVWS_SLOW_CLOSE)
    CHECK(slow_closed_code != 0);
}

/* ---- graceful shutdown --------------------------------------------------- */

static peer_t gp[3];
static int g_opens, server_done;

static void g_server_closed(uvws_server_t *s) {
  (void)s;
  LB_NOT_IN_API();
  server_done++;
  /* Every connection was closed before the server's callback. */
  CHECK_EQ(clients_closed, 3);
  uvws_client_close(client, NULL);
}

static void g_server_open(uvws_conn_t *c) {
  (void)c;
  if (++g_opens == 3) {
    CHECK_ERR(uvws_server_shutdown(server, 1002, NULL, 0, 0, NULL),
              UVWS_EBADCODE);
    CHECK_EQ(API(uvws_server_shutdown(server, 0, "maintenance", 11, 2000,
                                      g_server_closed)),
             0);
    CHECK_ERR(uvws_server_shutdown(server, 0, NULL, 0, 0, NULL), UVWS_ESTATE);
  }
}

static void test_shutdown(void) {
  uvws_server_options_t o;
  memset(&o, 0, sizeof(o));
  o.callbacks.on_open = g_server_open;
  start("graceful shutdown with 1001", &o);
  memset(gp, 0, sizeof(gp));
  g_opens = server_done = 0;
  for (int i = 0; i < 3; i++)
    connect_peer(&gp[i], "/", NULL, NULL);
  lb_loop_run(&L);
  CHECK_EQ(server_done, 1);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(gp[i].close_code, 1001);
    CHECK_STR(gp[i].close_reason, "maintenance");
    CHECK_EQ(gp[i].clean, 1);
  }
}

/* ---- close codes for servers -------------------------------------------- */

static peer_t cp;
static void cs_open(uvws_conn_t *c) {
  CHECK_ERR(uvws_conn_close(c, 1008, NULL, 0), UVWS_EBADCODE);
  CHECK_ERR(uvws_conn_close_status(c, 1005, NULL, 0), UVWS_EBADCODE);
  CHECK_ERR(uvws_conn_close_status(c, 999, NULL, 0), UVWS_EBADCODE);
  CHECK_EQ(uvws_conn_close_status(c, 1008, "policy", 6), 0);
}
static void cs_check(void) {
  CHECK_EQ(cp.close_code, 1008);
  CHECK_STR(cp.close_reason, "policy");
  CHECK_EQ(cp.clean, 1);
  finish();
}

static void test_close_status(void) {
  uvws_server_options_t o;
  memset(&o, 0, sizeof(o));
  o.callbacks.on_open = cs_open;
  start("server closes with 1008", &o);
  memset(&cp, 0, sizeof(cp));
  all_closed = cs_check;
  connect_peer(&cp, "/", NULL, NULL);
  lb_loop_run(&L);
}

int main(void) {
  lb_setup();
  test_routes();
  test_http(1);
  test_http(0);
  test_auth_hook();
  test_policy();
  test_max_connections();
  test_publish(0);
  test_publish(1);
  test_broadcast();
  test_slow_subscriber(UVWS_SLOW_SKIP);
  test_slow_subscriber(UVWS_SLOW_CLOSE);
  test_shutdown();
  test_close_status();
  return 0;
}

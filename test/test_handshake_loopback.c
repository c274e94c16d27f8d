/* Opening handshakes over 127.0.0.1: a uvws server refusing requests that
 * raw clients write by hand (checked by their HTTP status lines), the
 * upgrade hook, uvws clients failing against raw servers that answer
 * wrongly or not at all, refused connections, bad URLs, and both
 * handshake timeouts. */
#include "loopback_util.h"

#include "handshake.h" /* uvws__hs_accept(), checked against RFC 6455 */

static lb_loop_t L;
static uvws_server_t *server;
static uvws_client_t *client;
static int port;
static int server_closed, client_closed;
static struct { int open, message, error, close; } S;

static void on_server_closed(uvws_server_t *s) {
  LB_NOT_IN_API();
  (void)s;
  server_closed++;
}

static void on_client_closed(uvws_client_t *c) {
  LB_NOT_IN_API();
  (void)c;
  client_closed++;
}

static void s_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  S.open++;
  (void)conn;
}

static void s_error(uvws_conn_t *conn, int err) {
  LB_NOT_IN_API();
  S.error++;
  (void)conn;
  (void)err;
}

static void s_close(uvws_conn_t *conn, int code, const char *reason, size_t len,
                    int clean) {
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSED);
  S.close++;
  (void)code;
  (void)reason;
  (void)len;
  (void)clean;
}

/* ----------------------------------------------------------------------- */
/* Refusals, one row each                                                   */

#define MAX_HEADER 1024

/* Request templates: the first %s is the Host line, the second the row's
 * filler (FILL_*). */
#define H_GET "GET / HTTP/1.1\r\n%s%s"
#define H_UPG "Upgrade: websocket\r\n"
#define H_CONN "Connection: Upgrade\r\n"
#define H_KEY "Sec-WebSocket-Key: " LB_KEY "\r\n"
#define H_V13 "Sec-WebSocket-Version: 13\r\n"

enum { FILL_NONE, FILL_PAD, FILL_65 };

typedef struct {
  const char *name;
  const char *request;
  int fill;
  int status;
  const char *line; /* a header line the answer must have, or NULL */
} rrow_t;

#define ROW(name, request, fill, status, line)                                 \
  { name, request, fill, status, line }

static const rrow_t rrows[] = {
    ROW("no Sec-WebSocket-Key", H_GET H_UPG H_CONN H_V13 "\r\n", 0, 400, NULL),
    ROW("Sec-WebSocket-Version: 8",
        H_GET H_UPG H_CONN H_KEY "Sec-WebSocket-Version: 8\r\n\r\n", 0, 426,
        "Sec-WebSocket-Version: 13"),
    ROW("no Sec-WebSocket-Version", H_GET H_UPG H_CONN H_KEY "\r\n", 0, 426,
        "Sec-WebSocket-Version: 13"),
    ROW("POST", "POST / HTTP/1.1\r\n%s%s" H_UPG H_CONN H_KEY H_V13 "\r\n", 0,
        405, NULL),
    /* A head over the limit that arrives in one read is accepted. */
    ROW("headers over max_header_size",
            H_GET H_UPG H_CONN H_KEY H_V13 "\r\n", FILL_PAD, 431, NULL),
    ROW("upgrade hook answers 403",
        "GET /forbidden HTTP/1.1\r\n%s%s" H_UPG H_CONN H_KEY H_V13 "\r\n", 0,
        403, NULL),
    ROW("upgrade hook answers 503",
        "GET /busy HTTP/1.1\r\n%s%s" H_UPG H_CONN H_KEY H_V13 "\r\n", 0, 503,
        NULL),
    ROW("key of 10 bytes",
        H_GET H_UPG H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n" H_V13
                           "\r\n",
        0, 400, NULL),
    /* Without "Upgrade: websocket" it is plain HTTP: 426 unless the
     * application answers such requests (uvws_http_cb). */
    ROW("no Upgrade header", H_GET H_CONN H_KEY H_V13 "\r\n", 0, 426, NULL),
    ROW("HTTP/1.0", "GET / HTTP/1.0\r\n%s%s" H_UPG H_CONN H_KEY H_V13 "\r\n", 0,
        400, NULL),
    ROW("no Host", "GET / HTTP/1.1\r\n%.0s%s" H_UPG H_CONN H_KEY H_V13 "\r\n",
        0, 400, NULL),
    ROW("Connection: keep-alive only",
        H_GET H_UPG "Connection: keep-alive\r\n" H_KEY H_V13 "\r\n", 0, 400,
        NULL),
    ROW("not HTTP", "\x01\x02 not HTTP %.0s%s\r\n\r\n", 0, 400, NULL),
    ROW("65 headers", H_GET H_UPG H_CONN H_KEY H_V13 "\r\n", FILL_65, 431,
        NULL),
    ROW("two Sec-WebSocket-Key headers",
        H_GET H_UPG H_CONN H_KEY
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n" H_V13 "\r\n",
        0, 400, NULL),
};
#define NR ((int)(sizeof(rrows) / sizeof(rrows[0])))

/* The request of row i, in a new string. */
static char *rrow_request(int i) {
  char host[64], fill[4096];
  char *s = malloc(8192);
  size_t n = 0;
  int k;
  CHECK(s != NULL);
  snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", port);
  fill[0] = '\0';
  if (rrows[i].fill == FILL_PAD) {
    memcpy(fill, "X-Pad: ", 7);
    memset(fill + 7, 'p', 2000);
    memcpy(fill + 2007, "\r\n", 3);
  } else if (rrows[i].fill == FILL_65) {
    for (k = 0; k < 65; k++)
      n += (size_t)snprintf(fill + n, sizeof(fill) - n, "X%d: y\r\n", k);
  }
  snprintf(s, 8192, rrows[i].request, host, fill);
  if (rrows[i].fill == FILL_65)
    CHECK(strlen(s) < MAX_HEADER); /* too many, not too long */
  return s;
}

static int rr_hook_calls;
static int rr_closed, rr_started;
static lb_raw_t rr_raw[NR];

static int rr_hook(uvws_server_t *s, uvws_request_t *req) {
  const char *t = uvws_request_target(req);
  LB_NOT_IN_API();
  CHECK(s == server);
  rr_hook_calls++;
  if (strcmp(t, "/forbidden") == 0)
    return 403;
  if (strcmp(t, "/busy") == 0)
    return 503;
  fprintf(stderr, "hook called for an invalid request to %s:\n", t);
  {
    const char *n, *v;
    size_t i;
    for (i = 0; uvws_request_header_at(req, i, &n, &v) == 0; i++)
      fprintf(stderr, "  %s: %.60s%s\n", n, v, strlen(v) > 60 ? "..." : "");
  }
  CHECK(0 && "the hook saw an invalid request");
  return 500;
}

static void rr_connected(lb_raw_t *r) {
  char *req = rrow_request((int)(r - rr_raw));
  lb_raw_write_str(r, req);
  free(req);
}

static void rr_raw_closed(lb_raw_t *r) {
  int i = (int)(r - rr_raw);
  const rrow_t *row = &rrows[i];
  char want[32];
  size_t head, clen;
  const char *cl;

  CHECK_ERR(r->read_err, UV_EOF);
  r->in = realloc(r->in, r->len + 1);
  CHECK(r->in != NULL);
  r->in[r->len] = '\0';
  snprintf(want, sizeof(want), "HTTP/1.1 %d ", row->status);
  if (strncmp(r->in, want, strlen(want)) != 0) {
    fprintf(stderr, "row \"%s\": answered \"%.*s\"\n", row->name,
            (int)(strchr(r->in, '\r') ? strchr(r->in, '\r') - r->in : 40),
            r->in);
    CHECK(0 && "wrong status");
  }
  head = lb_head_len(r->in, r->len);
  CHECK(head > 0);
  if (row->line)
    CHECK(lb_head_has_line(r->in, head, row->line));
  CHECK(lb_head_has_line(r->in, head, "Connection: close"));
  /* The body is exactly what Content-Length says. */
  cl = strstr(r->in, "Content-Length: ");
  CHECK(cl != NULL && (size_t)(cl - r->in) < head);
  clen = strtoul(cl + 16, NULL, 10);
  CHECK_EQ(r->len - head, clen);

  if (++rr_closed == rr_started)
    API_VOID(uvws_server_close(server, on_server_closed));
}

static void test_refusals(void) {
  uvws_server_options_t so;
  int i;

  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = s_open;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = s_close;
  so.on_upgrade = rr_hook;
  so.limits.max_header_size = MAX_HEADER;
  memset(&S, 0, sizeof(S));
  server_closed = 0;
  rr_hook_calls = rr_closed = rr_started = 0;
  lb_loop_init(&L, "refused upgrades", 15000);
  server = lb_server(&L.loop, &so, &port);
  for (i = 0; i < NR; i++) {
    rr_started++;
    lb_raw_init(&rr_raw[i], &L.loop);
    rr_raw[i].on_closed = rr_raw_closed;
    lb_raw_connect(&rr_raw[i], "127.0.0.1", port, rr_connected);
  }
  lb_loop_run(&L);
  CHECK_EQ(rr_closed, rr_started);
  CHECK_EQ(server_closed, 1);
  CHECK_EQ(rr_hook_calls, 2);
  /* Refused connections are never handed to the application. */
  CHECK_EQ(S.open + S.error + S.close, 0);
}

/* ----------------------------------------------------------------------- */
/* The upgrade hook with uvws clients                                       */

enum { HK_ROOM, HK_FORBIDDEN, HK_CUSTOM, HK_NONE_SELECTED, HK_N };

typedef struct {
  const char *path;
  const char *origin;
  const char *const *protocols;
  const char *want_protocol; /* NULL: refused */
  int c_open, c_error, c_close, c_code, c_clean, c_last_error;
  int s_open, s_close, hook;
} hk_t;

static const char *const hk_offer[] = {"chat.v1", "chat.v2", NULL};
static hk_t hk[HK_N];
static int hk_custom_open;

static void hk_s_open(uvws_conn_t *conn) {
  hk_t *h = uvws_conn_get_data(conn);
  s_open(conn);
  CHECK(h != NULL);
  CHECK(h != &hk[HK_CUSTOM] && h != &hk[HK_FORBIDDEN]);
  h->s_open++;
  CHECK_STR(uvws_conn_url(conn), h->path);
  CHECK_STR(uvws_conn_protocol(conn), h->want_protocol);
}

static void hk_s_custom_open(uvws_conn_t *conn) {
  hk_t *h = uvws_conn_get_data(conn);
  s_open(conn);
  CHECK(h == &hk[HK_CUSTOM]);
  h->s_open++;
  hk_custom_open++;
}

static int hk_closes;

/* Both sides of every connection are closed: close the contexts. */
static void hk_maybe_done(void) {
  if (hk_closes == HK_N && S.close == HK_N - 1) {
    API_VOID(uvws_client_close(client, on_client_closed));
    API_VOID(uvws_server_close(server, on_server_closed));
  }
}

static void hk_s_close(uvws_conn_t *conn, int code, const char *reason,
                       size_t len, int clean) {
  hk_t *h = uvws_conn_get_data(conn);
  s_close(conn, code, reason, len, clean);
  h->s_close++;
  CHECK_EQ(code, 1000);
  CHECK_EQ(clean, 1);
  hk_maybe_done();
}

static int hk_hook(uvws_server_t *s, uvws_request_t *req) {
  const char *target = uvws_request_target(req);
  const char *name, *value;
  struct sockaddr_storage ss;
  hk_t *h = NULL;
  char host[64];
  size_t i;
  int k;

  LB_NOT_IN_API();
  CHECK(s == server);
  for (k = 0; k < HK_N; k++)
    if (strcmp(target, hk[k].path) == 0)
      h = &hk[k];
  CHECK(h != NULL);
  h->hook++;

  CHECK_STR(uvws_request_method(req), "GET");
  snprintf(host, sizeof(host), "127.0.0.1:%d", port);
  CHECK_STR(uvws_request_header(req, "Host"), host);
  CHECK_STR(uvws_request_header(req, "host"), host);
  CHECK_STR(uvws_request_header(req, "SEC-WEBSOCKET-VERSION"), "13");
  CHECK(uvws_request_header(req, "X-Absent") == NULL);
  if (h->origin)
    CHECK_STR(uvws_request_header(req, "Origin"), h->origin);
  else
    CHECK(uvws_request_header(req, "Origin") == NULL);
  CHECK_EQ(uvws_request_peer_addr(req, &ss), 0);
  CHECK_EQ(ss.ss_family, AF_INET);
  /* Headers in arrival order; the request line is not one of them. */
  CHECK_EQ(uvws_request_header_at(req, 0, &name, &value), 0);
  CHECK(strcasecmp(name, "Host") == 0);
  CHECK_STR(value, host);
  for (i = 0; uvws_request_header_at(req, i, &name, &value) == 0; i++)
    CHECK(name != NULL && value != NULL);
  CHECK(i >= 5);
  CHECK_EQ(uvws_request_header_at(req, i, &name, &value), UV_ENOENT);

  if (h->protocols) {
    CHECK_STR(uvws_request_protocol(req, 0), "chat.v1");
    CHECK_STR(uvws_request_protocol(req, 1), "chat.v2");
    CHECK(uvws_request_protocol(req, 2) == NULL);
  } else {
    CHECK(uvws_request_protocol(req, 0) == NULL);
  }
  CHECK_ERR(uvws_request_select_protocol(req, "chat.v3"), UV_EINVAL);
  CHECK_ERR(uvws_request_select_protocol(req, "CHAT.V2"), UV_EINVAL);
  uvws_request_set_data(req, h);

  switch (k = (int)(h - hk)) {
  case HK_ROOM:
    CHECK_ERR(uvws_request_select_protocol(req, "chat.v2"), 0);
    return 0;
  case HK_FORBIDDEN:
    return 403;
  case HK_CUSTOM: {
    static const uvws_callbacks_t custom = {hk_s_custom_open, NULL, s_error,
                                            hk_s_close,       NULL, NULL};
    uvws_request_set_callbacks(req, &custom);
    return 0;
  }
  default:
    return 0; /* offered, none selected */
  }
}

static void hk_c_open(uvws_conn_t *conn) {
  hk_t *h = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  CHECK(h->want_protocol != NULL);
  h->c_open++;
  CHECK_STR(uvws_conn_protocol(conn), h->want_protocol);
  CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void hk_c_error(uvws_conn_t *conn, int err) {
  hk_t *h = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  CHECK_EQ(h->c_close, 0);
  h->c_error++;
  h->c_last_error = err;
}

static void hk_c_close(uvws_conn_t *conn, int code, const char *reason,
                       size_t len, int clean) {
  hk_t *h = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSED);
  h->c_close++;
  h->c_code = code;
  h->c_clean = clean;
  hk_closes++;
  hk_maybe_done();
  (void)reason;
  (void)len;
}

static void test_upgrade_hook(void) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = {hk_c_open, NULL, hk_c_error, hk_c_close, NULL, NULL};
  char u[128];
  int k;

  memset(hk, 0, sizeof(hk));
  hk[HK_ROOM].path = "/room?x=1&y=%20";
  hk[HK_ROOM].origin = "http://origin.test";
  hk[HK_ROOM].protocols = hk_offer;
  hk[HK_ROOM].want_protocol = "chat.v2";
  hk[HK_FORBIDDEN].path = "/forbidden";
  hk[HK_FORBIDDEN].protocols = hk_offer;
  hk[HK_CUSTOM].path = "/custom";
  hk[HK_CUSTOM].origin = "https://other.example";
  hk[HK_CUSTOM].want_protocol = "";
  hk[HK_NONE_SELECTED].path = "/none";
  hk[HK_NONE_SELECTED].protocols = hk_offer;
  hk[HK_NONE_SELECTED].want_protocol = "";
  hk_closes = hk_custom_open = 0;

  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = hk_s_open;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = hk_s_close;
  so.on_upgrade = hk_hook;
  memset(&S, 0, sizeof(S));
  server_closed = client_closed = 0;
  lb_loop_init(&L, "upgrade hook", 15000);
  server = lb_server(&L.loop, &so, &port);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  for (k = 0; k < HK_N; k++) {
    uvws_connect_options_t o;
    uvws_conn_t *conn = NULL;
    memset(&o, 0, sizeof(o));
    o.origin = hk[k].origin;
    o.protocols = hk[k].protocols;
    CHECK_ERR(API(uvws_connect(client, lb_url(u, sizeof(u), port, hk[k].path),
                               &o, &cc, &hk[k], &conn)),
              0);
    CHECK_STR(uvws_conn_protocol(conn), "");
  }
  lb_loop_run(&L);
  CHECK_EQ(server_closed, 1);
  CHECK_EQ(client_closed, 1);

  for (k = 0; k < HK_N; k++) {
    hk_t *h = &hk[k];
    CHECK_EQ(h->hook, 1);
    CHECK_EQ(h->c_close, 1);
    if (k == HK_FORBIDDEN) {
      CHECK_EQ(h->c_open, 0);
      CHECK_EQ(h->c_error, 1);
      CHECK_ERR(h->c_last_error, UVWS_EBADSTATUS);
      CHECK_EQ(h->c_code, UVWS_CLOSE_ABNORMAL);
      CHECK_EQ(h->c_clean, 0);
      CHECK_EQ(h->s_open + h->s_close, 0);
    } else {
      CHECK_EQ(h->c_open, 1);
      CHECK_EQ(h->c_error, 0);
      CHECK_EQ(h->c_code, 1000);
      CHECK_EQ(h->c_clean, 1);
      CHECK_EQ(h->s_open, 1);
      CHECK_EQ(h->s_close, 1);
    }
  }
  CHECK_EQ(hk_custom_open, 1);
  CHECK_EQ(S.open, HK_N - 1);
  CHECK_EQ(S.close, HK_N - 1);
  CHECK_EQ(S.error, 0);
}

/* ----------------------------------------------------------------------- */
/* uvws clients against raw servers                                         */

typedef struct {
  const char *path;
  int want_err;        /* 0: the handshake succeeds */
  const char *answer;  /* printf format, %s is the accept value */
  unsigned timeout_ms; /* per-connection handshake timeout, 0 default */
  size_t max_header;   /* per-connection max_header_size, 0 default */
  const char *const *protocols;
  const char *origin;
  int c_open, c_message, c_error, c_close, c_code, c_clean;
  char c_reason[32];
  uint64_t connected_at, failed_at;
  int saw_request;
} crow_t;

static const char *const cr_offer[] = {"a", "b", NULL};

#define ANSWER_101                                                             \
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"                 \
  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"

static crow_t crows[] = {
    {.path = "/200",
     .want_err = UVWS_EBADSTATUS,
     .answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
    {.path = "/404",
     .want_err = UVWS_EBADSTATUS,
     .answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
    {.path = "/badaccept",
     .want_err = UVWS_EBADACCEPT,
     .answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " LB_ACCEPT "\r\n\r\n"},
    {.path = "/notoffered",
     .want_err = UVWS_ENOTOFFERED,
     .answer = ANSWER_101 "Sec-WebSocket-Protocol: c\r\n\r\n",
     .protocols = cr_offer},
    {.path = "/unasked",
     .want_err = UVWS_ENOTOFFERED,
     .answer = ANSWER_101 "Sec-WebSocket-Protocol: a\r\n\r\n"},
    {.path = "/extension",
     .want_err = UVWS_ENOTOFFERED,
     .answer =
         ANSWER_101 "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"},
    {.path = "/noupgrade",
     .want_err = UVWS_EHANDSHAKE,
     .answer = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n\r\n"},
    /* A 101 whose head is over the connection's max_header_size, arriving
     * in one read. */
    {.path = "/bighead", .want_err = UVWS_EHDRTOOBIG, .max_header = 1024},
    /* Never answers. */
    {.path = "/silent", .want_err = UV_ETIMEDOUT, .timeout_ms = 300},
    {.path = "/garbage",
     .want_err = UVWS_EHANDSHAKE,
     .answer = "\x01\x02\x03 garbage\r\n\r\n"},
    {.path = "/selected",
     .answer = ANSWER_101 "Sec-WebSocket-Protocol: b\r\n\r\n",
     .protocols = cr_offer,
     .origin = "http://o.test"},
    /* 101, a text frame and a close frame, all in one write. */
    {.path = "/with-frames"},
};
#define NC ((int)(sizeof(crows) / sizeof(crows[0])))

static crow_t cr_refused = {.path = "/refused", .want_err = UV_ECONNREFUSED};
static int cr_closes;
static lb_raw_server_t cr_srv;
static uv_tcp_t cr_bound; /* bound, not listening: connections are refused */

static crow_t *crow_by_path(const char *path, size_t len) {
  int i;
  for (i = 0; i < NC; i++)
    if (strlen(crows[i].path) == len && memcmp(crows[i].path, path, len) == 0)
      return &crows[i];
  return NULL;
}

/* The raw server reads the client's request, checks it, and answers as the
 * row says. Later it reads the client's close frame, if any, and closes. */
static void cr_peer_read(lb_raw_t *r) {
  crow_t *row = r->data == &cr_srv ? NULL : r->data;
  char buf[4096], host[64];
  size_t head;

  if (row == NULL) {
    const char *sp;
    head = lb_head_len(r->in, r->len);
    if (head == 0)
      return;
    CHECK(strncmp(r->in, "GET ", 4) == 0);
    sp = memchr(r->in + 4, ' ', head - 4);
    CHECK(sp != NULL);
    row = crow_by_path(r->in + 4, (size_t)(sp - r->in - 4));
    CHECK(row != NULL);
    r->data = row;
    row->saw_request = 1;
    CHECK(strncmp(sp, " HTTP/1.1\r\n", 11) == 0);
    /* RFC 6455 4.1: what a client request must carry. */
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d", cr_srv.port);
    CHECK(lb_head_has_line(r->in, head, host));
    CHECK(lb_head_has_line(r->in, head, "Upgrade: websocket"));
    CHECK(lb_head_has_line(r->in, head, "Connection: Upgrade"));
    CHECK(lb_head_has_line(r->in, head, "Sec-WebSocket-Version: 13"));
    if (row->protocols)
      CHECK(lb_head_has_line(r->in, head, "Sec-WebSocket-Protocol: a, b") ||
            (lb_head_has_line(r->in, head, "Sec-WebSocket-Protocol: a,b")));
    else
      CHECK(strstr(r->in, "Sec-WebSocket-Protocol") == NULL);
    if (row->origin) {
      snprintf(buf, sizeof(buf), "Origin: %s", row->origin);
      CHECK(lb_head_has_line(r->in, head, buf));
    }
    {
      /* Answer with the accept value for the key the client sent. */
      const char *k = strstr(r->in, "Sec-WebSocket-Key: ");
      char key[25], accept[29];
      CHECK(k != NULL && (size_t)(k - r->in) < head);
      memcpy(key, k + 19, 24);
      key[24] = '\0';
      CHECK(k[19 + 24] == '\r');
      uvws__hs_accept(key, 24, accept);
      if (row->answer) {
        snprintf(buf, sizeof(buf), row->answer, accept);
        lb_raw_write_str(r, buf);
      } else if (strcmp(row->path, "/bighead") == 0) {
        char pad[2001];
        memset(pad, 'p', 2000);
        pad[2000] = '\0';
        snprintf(buf, sizeof(buf), ANSWER_101 "X-Pad: %s\r\n\r\n", accept, pad);
        lb_raw_write_str(r, buf);
      } else if (strcmp(row->path, "/with-frames") == 0) {
        size_t n =
            (size_t)snprintf(buf, sizeof(buf), ANSWER_101 "\r\n", accept);
        uint8_t *f;
        size_t fl;
        f = lb_frame(1, LB_OP_TEXT, NULL, "first", 5, &fl);
        memcpy(buf + n, f, fl);
        n += fl;
        free(f);
        f = lb_frame(1, LB_OP_CLOSE, NULL, "\x03\xE8srv", 5, &fl);
        memcpy(buf + n, f, fl);
        n += fl;
        free(f);
        lb_raw_write(r, buf, n);
      }
    }
    lb_raw_consume(r, head);
  }
  if (row->want_err == 0) {
    /* The client's frames: masked, and a close answering ours. */
    lb_frame_t f;
    size_t h = lb_frame_parse_header((uint8_t *)r->in, r->len, &f);
    if (h == 0 || r->len - h < f.len)
      return;
    CHECK(f.masked);
    CHECK_EQ(f.opcode, LB_OP_CLOSE);
    if (strcmp(row->path, "/with-frames") != 0) {
      /* The client started the close: echo its code, unmasked. */
      uint8_t body[2], *echo;
      size_t el;
      CHECK(f.len >= 2);
      body[0] = (uint8_t)(r->in[h] ^ r->in[h - 4]);
      body[1] = (uint8_t)(r->in[h + 1] ^ r->in[h - 3]);
      echo = lb_frame(1, LB_OP_CLOSE, NULL, body, 2, &el);
      lb_raw_write(r, echo, el);
      free(echo);
    }
    lb_raw_consume(r, h + (size_t)f.len);
    /* The server closes the TCP connection first (RFC 6455 7.1.1). */
    lb_raw_close(r);
  }
}

static void cr_accept(lb_raw_t *r) {
  r->on_read = cr_peer_read;
}

static void cr_c_open(uvws_conn_t *conn) {
  crow_t *row = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  CHECK_EQ(row->want_err, 0);
  row->c_open++;
  if (strcmp(row->path, "/selected") == 0) {
    CHECK_STR(uvws_conn_protocol(conn), "b");
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
  } else {
    CHECK_STR(uvws_conn_protocol(conn), "");
  }
}

static void cr_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  crow_t *row = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  row->c_message++;
  CHECK_EQ(type, UVWS_TEXT);
  CHECK(len == 5 && memcmp(data, "first", 5) == 0);
}

static void cr_c_error(uvws_conn_t *conn, int err) {
  crow_t *row = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  CHECK_EQ(row->c_close, 0);
  row->c_error = err;
  row->failed_at = uv_hrtime();
}

static void cr_c_close(uvws_conn_t *conn, int code, const char *reason,
                       size_t len, int clean) {
  crow_t *row = uvws_conn_get_data(conn);
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSED);
  row->c_close++;
  row->c_code = code;
  row->c_clean = clean;
  CHECK(len < sizeof(row->c_reason));
  memcpy(row->c_reason, reason, len);
  row->c_reason[len] = '\0';
  if (row == &cr_refused)
    uv_close((uv_handle_t *)&cr_bound, NULL);
  if (++cr_closes == NC + 1) {
    API_VOID(uvws_client_close(client, on_client_closed));
    lb_raw_server_close(&cr_srv);
  }
}

static void test_client_failures(void) {
  uvws_callbacks_t cc = {cr_c_open,  cr_c_message, cr_c_error,
                         cr_c_close, NULL,         NULL};
  struct sockaddr_storage ss;
  int len = (int)sizeof(ss), i;
  char u[128];

  lb_loop_init(&L, "client handshake failures", 15000);
  client_closed = 0;
  cr_closes = 0;
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  lb_raw_server_listen(&cr_srv, &L.loop, cr_accept);

  for (i = 0; i < NC; i++) {
    uvws_connect_options_t o;
    uvws_limits_t lim;
    memset(&o, 0, sizeof(o));
    memset(&lim, 0, sizeof(lim));
    lim.handshake_timeout_ms = crows[i].timeout_ms;
    lim.max_header_size = crows[i].max_header;
    o.limits = &lim; /* copied by uvws_connect */
    o.protocols = crows[i].protocols;
    o.origin = crows[i].origin;
    crows[i].connected_at = uv_hrtime();
    CHECK_ERR(API(uvws_connect(client,
                               lb_url(u, sizeof(u), cr_srv.port, crows[i].path),
                               &o, &cc, &crows[i], &(uvws_conn_t *){NULL})),
              0);
  }

  CHECK_EQ(uv_tcp_init(&L.loop, &cr_bound), 0);
  CHECK_EQ(uv_ip4_addr("127.0.0.1", 0, (struct sockaddr_in *)&ss), 0);
  CHECK_EQ(uv_tcp_bind(&cr_bound, (struct sockaddr *)&ss, 0), 0);
  CHECK_EQ(uv_tcp_getsockname(&cr_bound, (struct sockaddr *)&ss, &len), 0);
  lb_url(u, sizeof(u), ntohs(((struct sockaddr_in *)&ss)->sin_port),
         "/refused");
  CHECK_ERR(API(uvws_connect(client, u, NULL, &cc, &cr_refused,
                             &(uvws_conn_t *){NULL})),
            0);
  lb_loop_run(&L);
  CHECK_EQ(client_closed, 1);

  for (i = 0; i <= NC; i++) {
    crow_t *row = i < NC ? &crows[i] : &cr_refused;
    if (row->c_error != row->want_err)
      fprintf(stderr, "row %s: on_error %s, want %s\n", row->path,
              row->c_error ? uvws_err_name(row->c_error) : "none",
              row->want_err ? uvws_err_name(row->want_err) : "none");
    CHECK_ERR(row->c_error, row->want_err);
    CHECK_EQ(row->c_close, 1);
    if (row->want_err) {
      CHECK_EQ(row->c_open, 0);
      CHECK_EQ(row->c_code, UVWS_CLOSE_ABNORMAL);
      CHECK_EQ(row->c_clean, 0);
      CHECK_EQ(row->saw_request, row != &cr_refused);
    } else {
      CHECK_EQ(row->c_open, 1);
      CHECK_EQ(row->c_clean, 1);
      CHECK_EQ(row->c_code, 1000);
    }
  }
  /* The frames that came with the 101 were read, then the close. */
  CHECK_EQ(crows[NC - 1].c_message, 1);
  CHECK_STR(crows[NC - 1].c_reason, "srv");
  {
    crow_t *silent = crow_by_path("/silent", 7);
    double ms = (double)(silent->failed_at - silent->connected_at) / 1e6;
    fprintf(stderr, "  client handshake timeout fired after %.0f ms\n", ms);
    CHECK(ms >= 250 && ms < 1000);
  }
}

/* ----------------------------------------------------------------------- */
/* Bad arguments to uvws_connect: an error, and no callback ever            */

static int never_called;

static void nv_open(uvws_conn_t *c) {
  (void)c;
  never_called++;
}
static void nv_error(uvws_conn_t *c, int e) {
  (void)c;
  (void)e;
  never_called++;
}
static void nv_close(uvws_conn_t *c, int code, const char *r, size_t n,
                     int clean) {
  (void)c;
  (void)code;
  (void)r;
  (void)n;
  (void)clean;
  never_called++;
}

static void test_bad_urls(void) {
  static const char *const bad[] = {
      "http://x",  "ws://",      "ws://h:99999", "",
      "ws://h:0/", "ws://[::1/", "ws://h/#frag"};
  static const char *const bad_proto[] = {"a b", NULL};
  static const char *const empty_proto[] = {"", NULL};
  uvws_callbacks_t cbs = {nv_open, NULL, nv_error, nv_close, NULL, NULL};
  uvws_connect_options_t o;
  uvws_conn_t *conn;
  size_t i;

  lb_loop_init(&L, "bad URLs and options", 15000);
  client_closed = 0;
  never_called = 0;
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    conn = NULL;
    CHECK_ERR(API(uvws_connect(client, bad[i], NULL, &cbs, NULL, &conn)),
              UVWS_EBADURL);
    CHECK(conn == NULL);
  }
  memset(&o, 0, sizeof(o));
  o.protocols = bad_proto;
  conn = NULL;
  CHECK_ERR(
      API(uvws_connect(client, "ws://127.0.0.1:9/", &o, &cbs, NULL, &conn)),
      UV_EINVAL);
  o.protocols = empty_proto;
  CHECK_ERR(
      API(uvws_connect(client, "ws://127.0.0.1:9/", &o, &cbs, NULL, &conn)),
      UV_EINVAL);
  o.protocols = NULL;
  o.origin = "http://x\r\nEvil: 1";
  CHECK_ERR(
      API(uvws_connect(client, "ws://127.0.0.1:9/", &o, &cbs, NULL, &conn)),
      UV_EINVAL);
  CHECK(conn == NULL);
  uvws_client_close(client, on_client_closed);
  lb_loop_run(&L);
  CHECK_EQ(client_closed, 1);
  CHECK_EQ(never_called, 0);
}

/* ----------------------------------------------------------------------- */
/* Server handshake timeout                                                 */

static lb_raw_t st_raw[2];
static uint64_t st_connected[2];
static int st_closed;

static void st_connected_cb(lb_raw_t *r) {
  int i = (int)(r - st_raw);
  st_connected[i] = uv_hrtime();
  if (i == 1) /* half a request, then nothing */
    lb_raw_write_str(r, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
}

static void st_raw_closed(lb_raw_t *r) {
  if (++st_closed == 2)
    API_VOID(uvws_server_close(server, on_server_closed));
  (void)r;
}

static void test_server_handshake_timeout(void) {
  uvws_server_options_t so;
  int i;

  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = s_open;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = s_close;
  so.limits.handshake_timeout_ms = 300;
  memset(&S, 0, sizeof(S));
  server_closed = 0;
  st_closed = 0;
  lb_loop_init(&L, "server handshake timeout", 15000);
  server = lb_server(&L.loop, &so, &port);
  for (i = 0; i < 2; i++) {
    lb_raw_init(&st_raw[i], &L.loop);
    st_raw[i].on_closed = st_raw_closed;
    lb_raw_connect(&st_raw[i], "127.0.0.1", port, st_connected_cb);
  }
  lb_loop_run(&L);
  CHECK_EQ(server_closed, 1);
  for (i = 0; i < 2; i++) {
    double ms = (double)(st_raw[i].eof_at - st_connected[i]) / 1e6;
    fprintf(stderr, "  server dropped silent client %d after %.0f ms\n", i, ms);
    CHECK_ERR(st_raw[i].read_err, UV_EOF);
    CHECK(ms >= 250 && ms < 1000);
  }
  CHECK_EQ(S.open + S.error + S.close, 0);
}

int main(void) {
  lb_setup();
  test_refusals();
  test_upgrade_hook();
  test_client_failures();
  test_bad_urls();
  test_server_handshake_timeout();
  return 0;
}

/* A uvws client and a uvws server in one process on 127.0.0.1 (and [::1]):
 * the message matrix in both directions, fragmented and nocopy sends, the
 * closing handshake from either side, close() argument checks, ordering of
 * queued messages before a close, no events after close() or terminate(),
 * abrupt ends, closing clients and servers with connections open or
 * connecting, connecting by host name; and the message tests again with
 * permessage-deflate negotiated.
 *
 * Every callback checks it is not called from inside an API call (API()
 * marks them) and counts itself; totals are checked when the loop ends. */
#include "loopback_util.h"

static lb_loop_t L;
static uvws_server_t *server;
static uvws_client_t *client;
static int port;
static char url[128];

/* What one side (all server connections, or all client connections) saw. */
typedef struct {
  int open, message, error, close, pong;
  int last_error;
  int close_code, clean;
  char reason[128];
  size_t reason_len;
  uvws_conn_t *conn; /* the latest connection opened */
} side_t;

static side_t S, C;
static int server_closed, client_closed;
/* When not NULL, clients offer permessage-deflate with these settings (the
 * server accepts offers by default) and every connection must have it. */
static const uvws_deflate_options_t *deflate_opts;
static const char *deflate_label;
static char test_name[128];
static int closes_expected; /* S.close + C.close that ends the test */

static void on_server_closed(uvws_server_t *s) {
  LB_NOT_IN_API();
  CHECK(s == server);
  server_closed++;
}

static void on_client_closed(uvws_client_t *c) {
  LB_NOT_IN_API();
  CHECK(c == client);
  client_closed++;
}

static void close_contexts(void) {
  API_VOID(uvws_server_close(server, on_server_closed));
  API_VOID(uvws_client_close(client, on_client_closed));
}

static void setup(const char *name, const uvws_server_options_t *so,
                  const uvws_client_options_t *co) {
  memset(&S, 0, sizeof(S));
  memset(&C, 0, sizeof(C));
  server_closed = client_closed = 0;
  closes_expected = 2;
  snprintf(test_name, sizeof(test_name), "%s%s%s", name,
           deflate_opts ? ", " : "", deflate_opts ? deflate_label : "");
  lb_loop_init(&L, test_name, 15000);
  server = lb_server(&L.loop, so, &port);
  CHECK_EQ(uvws_client_create(&L.loop, co, &client), 0);
  lb_url(url, sizeof(url), port, "/");
}

static void finish(void) {
  lb_loop_run(&L);
  CHECK_EQ(server_closed, 1);
  CHECK_EQ(client_closed, 1);
}

static uvws_conn_t *connect_path(const char *path,
                                 const uvws_connect_options_t *opts,
                                 const uvws_callbacks_t *cbs, void *data) {
  char u[128];
  uvws_conn_t *conn = NULL;
  uvws_connect_options_t o;
  if (opts == NULL && deflate_opts != NULL) {
    memset(&o, 0, sizeof(o));
    o.deflate = deflate_opts;
    opts = &o;
  }
  CHECK_ERR(API(uvws_connect(client, lb_url(u, sizeof(u), port, path), opts,
                             cbs, data, &conn)),
            0);
  CHECK(conn != NULL);
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CONNECTING);
  CHECK_EQ(uvws_conn_is_client(conn), 1);
  CHECK(uvws_conn_get_data(conn) == data);
  return conn;
}

/* Generic recorders, used by the tests' callbacks. */
static side_t *side_of(uvws_conn_t *conn) {
  return uvws_conn_is_client(conn) ? &C : &S;
}

static void rec_open(uvws_conn_t *conn) {
  side_t *s = side_of(conn);
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_OPEN);
  if (deflate_opts)
    CHECK(strncmp(uvws_conn_extensions(conn), "permessage-deflate", 18) == 0);
  else
    CHECK_STR(uvws_conn_extensions(conn), "");
  s->open++;
  s->conn = conn;
}

static void rec_error(uvws_conn_t *conn, int err) {
  side_t *s = side_of(conn);
  LB_NOT_IN_API();
  CHECK(err < 0);
  s->error++;
  s->last_error = err;
  /* A failed connection refuses sends; close() has nothing left to do. */
  CHECK_ERR(API(uvws_conn_send_text(conn, "x", 1)), UVWS_ESTATE);
  CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void rec_close(uvws_conn_t *conn, int code, const char *reason,
                      size_t len, int clean) {
  side_t *s = side_of(conn);
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSED);
  CHECK(reason != NULL);
  /* The API still answers from inside on_close. */
  CHECK_ERR(API(uvws_conn_send_text(conn, "x", 1)), UVWS_ESTATE);
  CHECK_ERR(API(uvws_conn_ping(conn, NULL, 0)), UVWS_ESTATE);
  CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
  API_VOID(uvws_conn_terminate(conn));
  CHECK(len < sizeof(s->reason));
  s->close++;
  s->close_code = code;
  s->clean = clean;
  memcpy(s->reason, reason, len);
  s->reason[len] = '\0';
  s->reason_len = len;
  if (S.close + C.close == closes_expected)
    close_contexts();
}

static void rec_pong(uvws_conn_t *conn, const char *data, size_t len) {
  LB_NOT_IN_API();
  side_of(conn)->pong++;
  (void)data;
  (void)len;
}

/* Callbacks that only record. */
static const uvws_callbacks_t plain_cbs = {rec_open,  NULL, rec_error,
                                           rec_close, NULL, rec_pong};

/* ----------------------------------------------------------------------- */
/* Message matrix                                                          */

static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 1536 * 1024};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define NMSG ((int)(2 * NSIZES))

/* Message k of direction dir (0: client to server, 1: server-initiated). */
static size_t mx_len(int k) {
  return sizes[k / 2];
}
static int mx_text(int k) {
  return k % 2 == 0;
}
static unsigned mx_seed(int k, int dir) {
  return (unsigned)(k * 2 + dir);
}

/* Sends message k; the buffer is scribbled over and freed right after the
 * call, since the bytes are copied. how: 0 uvws_conn_send, 1 send_text or
 * send_binary. */
static void mx_send(uvws_conn_t *conn, int k, int dir, int how) {
  size_t n = mx_len(k);
  char *buf = malloc(n ? n : 1);
  int r;
  CHECK(buf != NULL);
  lb_fill(buf, n, mx_text(k), mx_seed(k, dir));
  if (how == 0)
    r = API(uvws_conn_send(conn, mx_text(k) ? UVWS_TEXT : UVWS_BINARY, buf, n));
  else if (mx_text(k))
    r = API(uvws_conn_send_text(conn, buf, n));
  else
    r = API(uvws_conn_send_binary(conn, buf, n));
  CHECK_ERR(r, 0);
  memset(buf, 0xee, n);
  free(buf);
}

static void mx_check(int k, int dir, uvws_msg_type_t type, const char *data,
                     size_t len) {
  CHECK_EQ(type, mx_text(k) ? UVWS_TEXT : UVWS_BINARY);
  CHECK_EQ(len, mx_len(k));
  CHECK(data != NULL);
  CHECK(lb_payload_ok(data, len, mx_text(k), mx_seed(k, dir)));
}

static void mx_s_open(uvws_conn_t *conn) {
  int k;
  rec_open(conn);
  CHECK_EQ(uvws_conn_is_client(conn), 0);
  CHECK_STR(uvws_conn_url(conn), "/matrix");
  CHECK_STR(uvws_conn_protocol(conn), "");
  CHECK(uvws_conn_loop(conn) == &L.loop);
  for (k = 0; k < NMSG; k++)
    mx_send(conn, k, 1, 0);
}

static void mx_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  LB_NOT_IN_API();
  CHECK(S.message < NMSG);
  mx_check(S.message, 0, type, data, len);
  S.message++;
  CHECK_ERR(API(uvws_conn_send(conn, type, data, len)), 0); /* echo */
}

static void mx_c_open(uvws_conn_t *conn) {
  struct sockaddr_storage ss;
  int k;
  rec_open(conn);
  CHECK_STR(uvws_conn_url(conn), url);
  CHECK_EQ(uvws_conn_peer_addr(conn, &ss), 0);
  CHECK_EQ(ss.ss_family, AF_INET);
  CHECK_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), port);
  for (k = 0; k < NMSG; k++)
    mx_send(conn, k, 0, 1);
}

/* The client gets the server's own messages first (queued in its on_open,
 * before any message of ours can have reached it), then the echoes. */
static void mx_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  int i = C.message;
  LB_NOT_IN_API();
  CHECK(i < 2 * NMSG);
  if (i < NMSG)
    mx_check(i, 1, type, data, len);
  else
    mx_check(i - NMSG, 0, type, data, len);
  if (++C.message == 2 * NMSG)
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void test_matrix(void) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = plain_cbs;
  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_open = mx_s_open;
  so.callbacks.on_message = mx_s_message;
  cc.on_open = mx_c_open;
  cc.on_message = mx_c_message;

  setup("message matrix", &so, NULL);
  lb_url(url, sizeof(url), port, "/matrix");
  connect_path("/matrix", NULL, &cc, NULL);
  finish();

  CHECK_EQ(S.open, 1);
  CHECK_EQ(C.open, 1);
  CHECK_EQ(S.message, NMSG);
  CHECK_EQ(C.message, 2 * NMSG);
  CHECK_EQ(S.error, 0);
  CHECK_EQ(C.error, 0);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(S.close_code, 1000);
  CHECK_EQ(S.clean, 1);
  CHECK_EQ(C.close_code, 1000);
  CHECK_EQ(C.clean, 1);
}

/* ----------------------------------------------------------------------- */
/* Fragmented sends                                                        */

/* "fragment é and € end", split inside both multi-byte characters. */
static const char frag1[] = "fragment \xC3";
static const char frag2[] = "\xA9 and \xE2\x82";
static const char frag3[] = "\xAC end";
static const char frag_whole[] = "fragment \xC3\xA9 and \xE2\x82\xAC end";
static const char fbin1[] = {'\x00', '\x01', '\xC3'};
static const char fbin2[] = {'\xFF', '\x00', '\xFE'};
#define FRAG_BIG (3 * 70000)

static void never_send_cb(uvws_conn_t *conn, void *arg, int status) {
  (void)conn;
  (void)arg;
  (void)status;
  CHECK(0 && "the callback of a failed send was called");
}

static void fr_c_open(uvws_conn_t *conn) {
  char big[126];
  rec_open(conn);
  memset(big, 'p', sizeof(big));
  CHECK_ERR(
      API(uvws_conn_send_fragment(conn, UVWS_TEXT, frag1, strlen(frag1), 0)),
      0);
  CHECK_ERR(API(uvws_conn_ping(conn, "one", 3)), 0);
  /* Whole messages wait for the fragmented one to end. */
  CHECK_ERR(API(uvws_conn_send_text(conn, "x", 1)), UVWS_EINFRAGMENT);
  CHECK_ERR(API(uvws_conn_send_binary(conn, "x", 1)), UVWS_EINFRAGMENT);
  CHECK_ERR(API(uvws_conn_send(conn, UVWS_TEXT, "x", 1)), UVWS_EINFRAGMENT);
  CHECK_ERR(API(uvws_conn_send_nocopy(conn, UVWS_BINARY, "x", 1, never_send_cb,
                                      NULL)),
            UVWS_EINFRAGMENT);
  /* UTF-8 is checked across parts: after "\xC3" only a continuation byte
   * may follow. Refused parts change nothing. */
  CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_TEXT, "\xFF", 1, 0)),
            UVWS_EBADUTF8);
  CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_TEXT, "b", 1, 0)),
            UVWS_EBADUTF8);
  CHECK_ERR(
      API(uvws_conn_send_fragment(conn, UVWS_TEXT, frag2, strlen(frag2), 0)),
      0);
  CHECK_ERR(API(uvws_conn_ping(conn, "two", 3)), 0);
  CHECK_ERR(API(uvws_conn_ping(conn, big, 126)), UV_EINVAL);
  /* A last part may not end inside a character. */
  CHECK_ERR(
      API(uvws_conn_send_fragment(conn, UVWS_TEXT, "\xAC \xF0\x9F", 4, 1)),
      UVWS_EBADUTF8);
  CHECK_ERR(
      API(uvws_conn_send_fragment(conn, UVWS_TEXT, frag3, strlen(frag3), 1)),
      0);
  CHECK_ERR(API(uvws_conn_send_text(conn, "after", 5)), 0);
  CHECK_ERR(API(uvws_conn_send_text(conn, "\xC0\x80", 2)), UVWS_EBADUTF8);
  CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_TEXT, "\xED\xA0\x80", 3, 1)),
            UVWS_EBADUTF8); /* a surrogate */
  /* The type comes from the first part: these parts are binary. */
  CHECK_ERR(
      API(uvws_conn_send_fragment(conn, UVWS_BINARY, fbin1, sizeof(fbin1), 0)),
      0);
  CHECK_ERR(API(uvws_conn_ping(conn, big, 125)), 0);
  CHECK_ERR(
      API(uvws_conn_send_fragment(conn, UVWS_TEXT, fbin2, sizeof(fbin2), 0)),
      0);
  CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_TEXT, NULL, 0, 1)), 0);
}

static void fr_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  char *big;
  LB_NOT_IN_API();
  switch (S.message++) {
  case 0:
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, strlen(frag_whole));
    CHECK(memcmp(data, frag_whole, len) == 0);
    break;
  case 1:
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, 5);
    CHECK(memcmp(data, "after", 5) == 0);
    break;
  case 2:
    CHECK_EQ(type, UVWS_BINARY);
    CHECK_EQ(len, 6);
    CHECK(memcmp(data, fbin1, 3) == 0);
    CHECK(memcmp(data + 3, fbin2, 3) == 0);
    /* Now the server sends a large binary message in three parts. */
    big = malloc(FRAG_BIG);
    CHECK(big != NULL);
    lb_fill(big, FRAG_BIG, 0, 77);
    CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_BINARY, big, 70000, 0)),
              0);
    CHECK_ERR(API(uvws_conn_ping(conn, "s1", 2)), 0);
    CHECK_ERR(API(uvws_conn_send_binary(conn, "x", 1)), UVWS_EINFRAGMENT);
    CHECK_ERR(
        API(uvws_conn_send_fragment(conn, UVWS_BINARY, big + 70000, 70000, 0)),
        0);
    CHECK_ERR(API(uvws_conn_ping(conn, "s2", 2)), 0);
    CHECK_ERR(
        API(uvws_conn_send_fragment(conn, UVWS_BINARY, big + 140000, 70000, 1)),
        0);
    free(big);
    break;
  default:
    CHECK(0 && "unexpected message");
  }
}

static void fr_pong(uvws_conn_t *conn, const char *data, size_t len) {
  side_t *s = side_of(conn);
  LB_NOT_IN_API();
  if (s == &C) {
    static const char *const want[] = {"one", "two", NULL};
    if (C.pong < 2) {
      CHECK_EQ(len, strlen(want[C.pong]));
      CHECK(memcmp(data, want[C.pong], len) == 0);
    } else {
      CHECK_EQ(len, 125);
      CHECK(data[0] == 'p' && data[124] == 'p');
    }
  } else {
    CHECK_EQ(len, 2);
    CHECK(memcmp(data, S.pong == 0 ? "s1" : "s2", 2) == 0);
  }
  s->pong++;
}

static void fr_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  LB_NOT_IN_API();
  CHECK_EQ(C.message, 0);
  C.message++;
  CHECK_EQ(type, UVWS_BINARY);
  CHECK_EQ(len, FRAG_BIG);
  CHECK(lb_payload_ok(data, len, 0, 77));
  CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void test_fragments(void) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = plain_cbs;
  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_message = fr_s_message;
  so.callbacks.on_pong = fr_pong;
  cc.on_open = fr_c_open;
  cc.on_message = fr_c_message;
  cc.on_pong = fr_pong;

  setup("fragments and pings", &so, NULL);
  connect_path("/", NULL, &cc, NULL);
  finish();

  CHECK_EQ(S.message, 3);
  CHECK_EQ(C.message, 1);
  CHECK_EQ(C.pong, 3);
  CHECK_EQ(S.pong, 2);
  CHECK_EQ(S.error + C.error, 0);
  CHECK_EQ(S.close_code, 1000);
  CHECK_EQ(C.close_code, 1000);
  CHECK_EQ(S.clean + C.clean, 2);
}

/* ----------------------------------------------------------------------- */
/* nocopy sends                                                            */

#define NC_BIG (1536 * 1024)
static char *nc_big[2]; /* [0] client's, [1] server's */
static const char nc_text[] = "nocopy \xE2\x82\xAC text";
static uv_timer_t nc_timer;
static int nc_cb_count[2];  /* completions per side */
static int nc_sent_tick[2]; /* sends made from the timer */

static void nc_cb(uvws_conn_t *conn, void *arg, int status) {
  int side = uvws_conn_is_client(conn) ? 0 : 1;
  LB_NOT_IN_API();
  CHECK_ERR(status, 0);
  CHECK(arg == &nc_cb_count[side]);
  CHECK(uvws_conn_ready_state(conn) != UVWS_CLOSED);
  nc_cb_count[side]++;
}

/* Sends from on_open (inside a read) and later from a timer (outside any
 * uvws callback, where the write can start at once). */
static void nc_send(uvws_conn_t *conn) {
  int side = uvws_conn_is_client(conn) ? 0 : 1;
  int before = nc_cb_count[side];
  CHECK_ERR(API(uvws_conn_send_nocopy(conn, UVWS_BINARY, nc_big[side], NC_BIG,
                                      nc_cb, &nc_cb_count[side])),
            0);
  CHECK_ERR(API(uvws_conn_send_text(conn, "between", 7)), 0);
  CHECK_ERR(API(uvws_conn_send_nocopy(conn, UVWS_TEXT, nc_text, strlen(nc_text),
                                      nc_cb, &nc_cb_count[side])),
            0);
  /* If the call fails, its callback is never called. */
  CHECK_ERR(API(uvws_conn_send_nocopy(conn, UVWS_TEXT, "\xFF", 1, never_send_cb,
                                      NULL)),
            UVWS_EBADUTF8);
  CHECK_ERR(API(uvws_conn_send_nocopy(conn, UVWS_BINARY, "x", 1, NULL, NULL)),
            UV_EINVAL);
  CHECK_EQ(nc_cb_count[side], before);
}

static void nc_tick(uv_timer_t *t) {
  int side;
  (void)t;
  for (side = 0; side < 2; side++) {
    uvws_conn_t *conn = side == 0 ? C.conn : S.conn;
    int before = nc_cb_count[side];
    CHECK_ERR(API(uvws_conn_send_nocopy(conn, UVWS_TEXT, "tick", 4, nc_cb,
                                        &nc_cb_count[side])),
              0);
    CHECK_EQ(nc_cb_count[side], before);
    nc_sent_tick[side] = 1;
  }
  uv_close((uv_handle_t *)t, NULL);
}

static void nc_open(uvws_conn_t *conn) {
  rec_open(conn);
  nc_send(conn);
  if (S.open && C.open)
    CHECK_EQ(uv_timer_start(&nc_timer, nc_tick, 20, 0), 0);
}

static void nc_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  side_t *s = side_of(conn);
  int peer = uvws_conn_is_client(conn) ? 1 : 0;
  LB_NOT_IN_API();
  switch (s->message++) {
  case 0:
    CHECK_EQ(type, UVWS_BINARY);
    CHECK_EQ(len, NC_BIG);
    CHECK(memcmp(data, nc_big[peer], len) == 0);
    break;
  case 1:
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, 7);
    CHECK(memcmp(data, "between", 7) == 0);
    break;
  case 2:
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, strlen(nc_text));
    CHECK(memcmp(data, nc_text, len) == 0);
    break;
  case 3:
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, 4);
    CHECK(memcmp(data, "tick", 4) == 0);
    break;
  default:
    CHECK(0 && "unexpected message");
  }
  if (S.message == 4 && C.message == 4)
    CHECK_ERR(API(uvws_conn_close(C.conn, 1000, NULL, 0)), 0);
}

static void nc_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t len, int clean) {
  int side = uvws_conn_is_client(conn) ? 0 : 1;
  /* Every completion came before on_close. */
  CHECK_EQ(nc_cb_count[side], 3);
  rec_close(conn, code, reason, len, clean);
}

static void test_nocopy(void) {
  uvws_server_options_t so;
  uvws_callbacks_t cb = plain_cbs;
  int i;
  cb.on_open = nc_open;
  cb.on_message = nc_message;
  cb.on_close = nc_close;
  memset(&so, 0, sizeof(so));
  so.callbacks = cb;
  for (i = 0; i < 2; i++) {
    nc_big[i] = malloc(NC_BIG);
    CHECK(nc_big[i] != NULL);
    lb_fill(nc_big[i], NC_BIG, 0, 100 + (unsigned)i);
    nc_cb_count[i] = 0;
    nc_sent_tick[i] = 0;
  }

  setup("nocopy sends", &so, NULL);
  CHECK_EQ(uv_timer_init(&L.loop, &nc_timer), 0);
  connect_path("/", NULL, &cb, NULL);
  finish();

  CHECK_EQ(nc_cb_count[0], 3);
  CHECK_EQ(nc_cb_count[1], 3);
  CHECK_EQ(nc_sent_tick[0] + nc_sent_tick[1], 2);
  CHECK_EQ(S.message, 4);
  CHECK_EQ(C.message, 4);
  CHECK_EQ(S.clean + C.clean, 2);
  /* The client masks a copy: its buffer was never written to. */
  CHECK(lb_payload_ok(nc_big[0], NC_BIG, 0, 100));
  CHECK(lb_payload_ok(nc_big[1], NC_BIG, 0, 101));
  free(nc_big[0]);
  free(nc_big[1]);
}

/* A nocopy send still queued when the connection ends completes once, with
 * an error, before on_close. */
static int ncx_status;

static void ncx_cb(uvws_conn_t *conn, void *arg, int status) {
  LB_NOT_IN_API();
  CHECK(arg == &ncx_status);
  CHECK_EQ(ncx_status, 1); /* not called yet */
  CHECK_EQ(S.close, 0);
  ncx_status = status;
  (void)conn;
}

static void ncx_s_open(uvws_conn_t *conn) {
  rec_open(conn);
  ncx_status = 1;
  CHECK_ERR(API(uvws_conn_send_nocopy(conn, UVWS_BINARY, nc_big[1], NC_BIG,
                                      ncx_cb, &ncx_status)),
            0);
  API_VOID(uvws_conn_terminate(conn));
  CHECK_EQ(ncx_status, 1);
}

static void test_nocopy_cancelled(void) {
  uvws_server_options_t so;
  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_open = ncx_s_open;
  nc_big[1] = malloc(NC_BIG);
  CHECK(nc_big[1] != NULL);
  lb_fill(nc_big[1], NC_BIG, 0, 5);

  setup("nocopy cancelled by terminate", &so, NULL);
  connect_path("/", NULL, &plain_cbs, NULL);
  finish();

  CHECK(ncx_status < 0);
  CHECK_EQ(S.open, 1);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(S.close_code, 1006);
  /* The 101 never left: the client failed its handshake. */
  CHECK_EQ(C.open, 0);
  CHECK_EQ(C.error, 1);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(C.close_code, 1006);
  CHECK_EQ(C.clean, 0);
  free(nc_big[1]);
}

/* ----------------------------------------------------------------------- */
/* The closing handshake                                                   */

static struct {
  int by_client;
  int code;
  const char *reason;
} cl;

/* Arguments close() must refuse, leaving the connection OPEN; then the
 * real close, then what is refused once CLOSING. */
static void close_sequence(uvws_conn_t *conn) {
  static const int bad_codes[] = {999,  1001, 1002, 1005, 1006,
                                  1015, 2999, 5000, -1,   65536 + 1000};
  char long_reason[124];
  size_t i;

  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_OPEN);
  for (i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++)
    CHECK_ERR(API(uvws_conn_close(conn, bad_codes[i], NULL, 0)), UVWS_EBADCODE);
  memset(long_reason, 'r', sizeof(long_reason));
  CHECK_ERR(API(uvws_conn_close(conn, 1000, long_reason, 124)),
            UVWS_EBADREASON);
  CHECK_ERR(API(uvws_conn_close(conn, 4000, "\xC3\x28", 2)), UVWS_EBADREASON);
  CHECK_ERR(API(uvws_conn_close(conn, 4000, "ok\xED\xA0\x80", 5)),
            UVWS_EBADREASON);
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_OPEN);
  /* Nothing was sent: the connection is still usable. */
  CHECK_ERR(API(uvws_conn_send_text(conn, "still-open", 10)), 0);

  CHECK_ERR(API(uvws_conn_close(conn, cl.code, cl.reason,
                                cl.reason ? strlen(cl.reason) : 0)),
            0);
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSING);
  CHECK_ERR(API(uvws_conn_send_text(conn, "x", 1)), UVWS_ESTATE);
  CHECK_ERR(API(uvws_conn_send_binary(conn, "x", 1)), UVWS_ESTATE);
  CHECK_ERR(API(uvws_conn_send(conn, UVWS_TEXT, "x", 1)), UVWS_ESTATE);
  CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_TEXT, "x", 1, 1)),
            UVWS_ESTATE);
  CHECK_ERR(
      API(uvws_conn_send_nocopy(conn, UVWS_TEXT, "x", 1, never_send_cb, NULL)),
      UVWS_ESTATE);
  CHECK_ERR(API(uvws_conn_ping(conn, "x", 1)), UVWS_ESTATE);
  /* A second close changes nothing (the peer sees the first code). */
  CHECK_ERR(API(uvws_conn_close(conn, 4001, "other", 5)), 0);
  CHECK_ERR(API(uvws_conn_close(conn, 0, NULL, 0)), 0);
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSING);
}

static void cl_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  LB_NOT_IN_API();
  S.message++;
  if (S.message == 1) {
    CHECK(len == 5 && memcmp(data, "hello", 5) == 0);
    if (cl.by_client)
      CHECK_ERR(API(uvws_conn_send_text(conn, "hello", 5)), 0);
    else
      close_sequence(conn);
  } else {
    CHECK_EQ(S.message, 2);
    CHECK(cl.by_client);
    CHECK(len == 10 && memcmp(data, "still-open", 10) == 0);
  }
  (void)type;
}

static void cl_c_open(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK_ERR(API(uvws_conn_send_text(conn, "hello", 5)), 0);
}

static void cl_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  LB_NOT_IN_API();
  C.message++;
  if (cl.by_client) {
    CHECK_EQ(C.message, 1);
    CHECK(len == 5 && memcmp(data, "hello", 5) == 0);
    close_sequence(conn);
  } else {
    CHECK_EQ(C.message, 1);
    CHECK(len == 10 && memcmp(data, "still-open", 10) == 0);
  }
  (void)type;
}

static void cl_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t len, int clean) {
  int closer = uvws_conn_is_client(conn) == cl.by_client;
  int want_code = cl.code ? cl.code : UVWS_CLOSE_NO_STATUS;
  CHECK_EQ(code, want_code);
  CHECK_EQ(clean, 1);
  if (!closer) {
    /* The peer got everything sent before the close, and the close. */
    size_t want_len = cl.reason ? strlen(cl.reason) : 0;
    CHECK_EQ(len, want_len);
    CHECK(len == 0 || memcmp(reason, cl.reason, len) == 0);
    CHECK_EQ(side_of(conn)->message, cl.by_client ? 2 : 1);
  }
  rec_close(conn, code, reason, len, clean);
}

static void run_close(const char *name, int by_client, int code,
                      const char *reason) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = plain_cbs;
  cl.by_client = by_client;
  cl.code = code;
  cl.reason = reason;
  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_message = cl_s_message;
  so.callbacks.on_close = cl_close;
  cc.on_open = cl_c_open;
  cc.on_message = cl_c_message;
  cc.on_close = cl_close;

  setup(name, &so, NULL);
  connect_path("/", NULL, &cc, NULL);
  finish();
  CHECK_EQ(S.close, 1);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(S.error + C.error, 0);
}

static void test_close(void) {
  static char reason123[124];
  memset(reason123, 'z', 123);
  reason123[0] = '\xC3'; /* and a two-byte character: 123 bytes of UTF-8 */
  reason123[1] = '\xA9';
  run_close("close by client 1000", 1, 1000, NULL);
  run_close("close by client 4000 + reason", 1, 4000, "bye \xC3\xBC reason");
  run_close("close by server 1000", 0, 1000, NULL);
  run_close("close by server 4000 + reason", 0, 4000, "server says bye");
  run_close("close by client, no code (1005)", 1, 0, NULL);
  run_close("close by server 3000, 123-byte reason", 0, 3000, reason123);
}

/* ----------------------------------------------------------------------- */
/* Messages queued before close() arrive before it                         */

#define QN 100
static int q_by_client;

static size_t q_len(int i) {
  return (size_t)i * 997; /* up to ~97 KiB: some span several reads */
}

static void q_open(uvws_conn_t *conn) {
  char *buf;
  int i;
  rec_open(conn);
  if (uvws_conn_is_client(conn) != q_by_client)
    return;
  buf = malloc(q_len(QN));
  CHECK(buf != NULL);
  for (i = 0; i < QN; i++) {
    lb_fill(buf, q_len(i), i % 2, (unsigned)i);
    CHECK_ERR(API(uvws_conn_send(conn, i % 2 ? UVWS_TEXT : UVWS_BINARY, buf,
                                 q_len(i))),
              0);
  }
  free(buf);
  CHECK_ERR(API(uvws_conn_close(conn, 1000, "done", 4)), 0);
}

static void q_message(uvws_conn_t *conn, uvws_msg_type_t type, const char *data,
                      size_t len) {
  side_t *s = side_of(conn);
  int i = s->message++;
  LB_NOT_IN_API();
  CHECK(uvws_conn_is_client(conn) != q_by_client);
  CHECK(i < QN);
  CHECK_EQ(type, i % 2 ? UVWS_TEXT : UVWS_BINARY);
  CHECK_EQ(len, q_len(i));
  CHECK(lb_payload_ok(data, len, i % 2, (unsigned)i));
}

static void q_close(uvws_conn_t *conn, int code, const char *reason, size_t len,
                    int clean) {
  if (uvws_conn_is_client(conn) != q_by_client) {
    CHECK_EQ(side_of(conn)->message, QN);
    CHECK(len == 4 && memcmp(reason, "done", 4) == 0);
  }
  CHECK_EQ(code, 1000);
  CHECK_EQ(clean, 1);
  rec_close(conn, code, reason, len, clean);
}

static void run_queued(const char *name, int by_client) {
  uvws_server_options_t so;
  uvws_callbacks_t cb = plain_cbs;
  q_by_client = by_client;
  cb.on_open = q_open;
  cb.on_message = q_message;
  cb.on_close = q_close;
  memset(&so, 0, sizeof(so));
  so.callbacks = cb;
  setup(name, &so, NULL);
  connect_path("/", NULL, &cb, NULL);
  finish();
  CHECK_EQ(S.close + C.close, 2);
  CHECK_EQ((by_client ? S : C).message, QN);
}

static void test_queued_before_close(void) {
  run_queued("100 messages then close, client", 1);
  run_queued("100 messages then close, server", 0);
}

/* ----------------------------------------------------------------------- */
/* No on_message after close() or terminate(), even for messages that came
 * in the same read                                                         */

static int stop_by_terminate;

static void st_c_open(uvws_conn_t *conn) {
  rec_open(conn);
  /* One tick, so the server most likely reads them in one read. */
  CHECK_ERR(API(uvws_conn_send_text(conn, "first", 5)), 0);
  CHECK_ERR(API(uvws_conn_ping(conn, "p", 1)), 0);
  CHECK_ERR(API(uvws_conn_send_text(conn, "second", 6)), 0);
  CHECK_ERR(API(uvws_conn_send_text(conn, "third", 5)), 0);
}

static void st_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  LB_NOT_IN_API();
  CHECK_EQ(S.message, 0);
  S.message++;
  CHECK(len == 5 && memcmp(data, "first", 5) == 0);
  /* The server pings; the client's pong must not be reported either. */
  CHECK_ERR(API(uvws_conn_ping(conn, "sp", 2)), 0);
  if (stop_by_terminate)
    API_VOID(uvws_conn_terminate(conn));
  else
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
  (void)type;
}

static void st_s_pong(uvws_conn_t *conn, const char *data, size_t len) {
  (void)conn;
  (void)data;
  (void)len;
  CHECK(0 && "on_pong after close()");
}

static void run_stop(const char *name, int by_terminate) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = plain_cbs;
  stop_by_terminate = by_terminate;
  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_message = st_s_message;
  so.callbacks.on_pong = st_s_pong;
  cc.on_open = st_c_open;
  setup(name, &so, NULL);
  connect_path("/", NULL, &cc, NULL);
  finish();
  CHECK_EQ(S.message, 1);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(C.close, 1);
  if (by_terminate) {
    CHECK_EQ(S.close_code, UVWS_CLOSE_ABNORMAL);
    CHECK_EQ(C.close_code, UVWS_CLOSE_ABNORMAL);
    CHECK_EQ(C.error, 1);
  } else {
    CHECK_EQ(S.close_code, 1000);
    CHECK_EQ(C.close_code, 1000);
    CHECK_EQ(S.clean + C.clean, 2);
  }
}

static void test_no_events_after_stop(void) {
  run_stop("no on_message after close()", 0);
  run_stop("no on_message after terminate()", 1);
}

/* ----------------------------------------------------------------------- */
/* Abrupt ends                                                             */

static int ab_server_terminates;

static void ab_c_open(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK_ERR(API(uvws_conn_send_text(conn, "hello", 5)), 0);
}

static void ab_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  LB_NOT_IN_API();
  S.message++;
  if (ab_server_terminates) {
    API_VOID(uvws_conn_terminate(conn));
    CHECK(uvws_conn_ready_state(conn) != UVWS_OPEN);
    CHECK_ERR(API(uvws_conn_send_text(conn, "x", 1)), UVWS_ESTATE);
    API_VOID(uvws_conn_terminate(conn)); /* again: nothing more happens */
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
  } else {
    CHECK_ERR(API(uvws_conn_send_text(conn, "hello", 5)), 0);
  }
  (void)type;
  (void)data;
  (void)len;
}

static void ab_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  LB_NOT_IN_API();
  C.message++;
  CHECK(!ab_server_terminates);
  API_VOID(uvws_conn_terminate(conn));
  CHECK(uvws_conn_ready_state(conn) != UVWS_OPEN);
  (void)type;
  (void)data;
  (void)len;
}

static void ab_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t len, int clean) {
  int terminated = uvws_conn_is_client(conn) != ab_server_terminates;
  CHECK_EQ(code, UVWS_CLOSE_ABNORMAL);
  CHECK_EQ(clean, 0);
  CHECK_EQ(len, 0);
  /* The side that was dropped on learned of it through on_error first. */
  if (!terminated)
    CHECK_EQ(side_of(conn)->error, 1);
  rec_close(conn, code, reason, len, clean);
}

static void run_abrupt(const char *name, int server_terminates) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = plain_cbs;
  ab_server_terminates = server_terminates;
  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_message = ab_s_message;
  so.callbacks.on_close = ab_close;
  cc.on_open = ab_c_open;
  cc.on_message = ab_c_message;
  cc.on_close = ab_close;
  setup(name, &so, NULL);
  connect_path("/", NULL, &cc, NULL);
  finish();
  CHECK_EQ(S.close, 1);
  CHECK_EQ(C.close, 1);
  /* The side that called terminate gets no on_error. */
  CHECK_EQ((server_terminates ? S : C).error, 0);
  CHECK_EQ((server_terminates ? C : S).error, 1);
}

static void test_abrupt(void) {
  run_abrupt("server terminates", 1);
  run_abrupt("client terminates", 0);
}

/* ----------------------------------------------------------------------- */
/* Closing servers and clients with connections open                        */

#define NCONN 3
static int ctx_close_server; /* 1: uvws_server_close, 0: uvws_client_close */
static uv_timer_t ctx_timer;
static lb_raw_t ctx_raw; /* accepted by the server, never upgraded */

static void ctx_server_closed(uvws_server_t *s) {
  LB_NOT_IN_API();
  /* Every connection's on_close came first. */
  CHECK_EQ(S.close, NCONN);
  on_server_closed(s);
  if (ctx_close_server)
    API_VOID(uvws_client_close(client, on_client_closed));
}

static void ctx_client_closed(uvws_client_t *c) {
  LB_NOT_IN_API();
  CHECK_EQ(C.close, NCONN);
  on_client_closed(c);
  if (!ctx_close_server)
    API_VOID(uvws_server_close(server, on_server_closed));
}

static void ctx_go(uv_timer_t *t) {
  (void)t;
  CHECK_EQ(S.open, NCONN);
  CHECK_EQ(C.open, NCONN);
  if (ctx_close_server)
    API_VOID(uvws_server_close(server, ctx_server_closed));
  else
    API_VOID(uvws_client_close(client, ctx_client_closed));
  CHECK_EQ(S.close + C.close, 0);
  uv_close((uv_handle_t *)t, NULL);
}

static void ctx_open(uvws_conn_t *conn) {
  rec_open(conn);
  /* The raw peer is accepted by now too: all connected before it. */
  if (S.open == NCONN && C.open == NCONN)
    CHECK_EQ(uv_timer_start(&ctx_timer, ctx_go, 10, 0), 0);
}

static void ctx_close(uvws_conn_t *conn, int code, const char *reason,
                      size_t len, int clean) {
  side_t *s = side_of(conn);
  int closed_side = uvws_conn_is_client(conn) != ctx_close_server;
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSED);
  CHECK_EQ(code, UVWS_CLOSE_ABNORMAL);
  CHECK_EQ(clean, 0);
  /* The side that was cut off heard of it through on_error first. */
  if (!closed_side)
    CHECK(uvws_conn_get_data(conn) == &ctx_timer);
  s->close++;
  (void)reason;
  (void)len;
}

static void ctx_error(uvws_conn_t *conn, int err) {
  rec_error(conn, err);
  CHECK(uvws_conn_get_data(conn) == NULL);
  uvws_conn_set_data(conn, &ctx_timer);
}

static void ctx_raw_connected(lb_raw_t *r) {
  char u[128];
  int i;
  static const uvws_callbacks_t cbs = {ctx_open,  NULL, ctx_error,
                                       ctx_close, NULL, NULL};
  (void)r;
  for (i = 0; i < NCONN; i++)
    CHECK_ERR(API(uvws_connect(client, lb_url(u, sizeof(u), port, "/"), NULL,
                               &cbs, NULL, &(uvws_conn_t *){NULL})),
              0);
}

static void run_ctx_close(const char *name, int close_server) {
  uvws_server_options_t so;
  ctx_close_server = close_server;
  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = ctx_open;
  so.callbacks.on_error = ctx_error;
  so.callbacks.on_close = ctx_close;
  setup(name, &so, NULL);
  closes_expected = -1; /* the test closes the contexts itself */
  CHECK_EQ(uv_timer_init(&L.loop, &ctx_timer), 0);
  /* A raw TCP peer that never sends its request: the server holds it
   * without handing it to the application. */
  lb_raw_init(&ctx_raw, &L.loop);
  lb_raw_connect(&ctx_raw, "127.0.0.1", port, ctx_raw_connected);
  finish();
  CHECK_EQ(S.open, NCONN);
  CHECK_EQ(C.open, NCONN);
  CHECK_EQ(S.close, NCONN);
  CHECK_EQ(C.close, NCONN);
  if (close_server) {
    CHECK_EQ(C.error, NCONN);
    CHECK(ctx_raw.read_err < 0);
  } else {
    CHECK_EQ(S.error, NCONN);
  }
  CHECK(ctx_raw.closed);
}

static void test_context_close(void) {
  run_ctx_close("uvws_server_close with connections", 1);
  run_ctx_close("uvws_client_close with connections", 0);
}

/* uvws_client_close and uvws_conn_close while connections are CONNECTING:
 * one on_close each, no on_open. */
static int cc_mode; /* 0: uvws_conn_close, 1: uvws_client_close */

static void cc_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t len, int clean) {
  CHECK_EQ(code, UVWS_CLOSE_ABNORMAL);
  CHECK_EQ(clean, 0);
  rec_close(conn, code, reason, len, clean);
  if (cc_mode == 0) {
    CHECK_EQ(C.error, 1);
    CHECK_ERR(C.last_error, UV_ECANCELED);
  }
  if (C.close == 1) {
    API_VOID(uvws_server_close(server, on_server_closed));
    if (cc_mode == 0)
      API_VOID(uvws_client_close(client, on_client_closed));
  }
}

static void run_connecting_close(const char *name, int mode) {
  uvws_callbacks_t cc = plain_cbs;
  uvws_conn_t *conn;
  cc_mode = mode;
  cc.on_close = cc_close;
  setup(name, NULL, NULL);
  closes_expected = -1;
  conn = connect_path("/", NULL, &cc, NULL);
  if (mode == 0) {
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
    CHECK_ERR(API(uvws_conn_send_text(conn, "x", 1)), UVWS_ESTATE);
  } else {
    API_VOID(uvws_client_close(client, on_client_closed));
    /* A closing client makes no new connections. */
    CHECK_ERR(
        API(uvws_connect(client, url, NULL, &cc, NULL, &(uvws_conn_t *){NULL})),
        UVWS_ESTATE);
  }
  CHECK_EQ(C.close, 0);
  finish();
  CHECK_EQ(C.open, 0);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(S.open + S.close, 0);
}

static void test_connecting_close(void) {
  run_connecting_close("close() while CONNECTING", 0);
  run_connecting_close("uvws_client_close while CONNECTING", 1);
}

/* ----------------------------------------------------------------------- */
/* Connecting by host name                                                  */

static void hn_c_open(uvws_conn_t *conn) {
  struct sockaddr_storage ss;
  rec_open(conn);
  CHECK_EQ(uvws_conn_peer_addr(conn, &ss), 0);
  CHECK_EQ(ss.ss_family, AF_INET);
  CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void run_host_name(const char *name, int close_during_lookup) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = plain_cbs;
  struct sockaddr_storage ss;
  uvws_conn_t *conn = NULL;
  char u[128];
  int r;

  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  cc.on_open = hn_c_open;
  setup(name, &so, NULL);
  snprintf(u, sizeof(u), "ws://localhost:%d/by-name", port);
  CHECK_ERR(API(uvws_connect(client, u, NULL, &cc, NULL, &conn)), 0);
  /* No TCP connection exists during the name lookup. */
  r = uvws_conn_peer_addr(conn, &ss);
  CHECK_ERR(r, UV_ENOTCONN);
  if (close_during_lookup) {
    closes_expected = 1;
    API_VOID(uvws_client_close(client, on_client_closed));
    CHECK_EQ(C.close, 0);
    API_VOID(uvws_server_close(server, on_server_closed));
  }
  finish();
  CHECK_EQ(C.close, 1);
  if (close_during_lookup) {
    CHECK_EQ(C.open + S.open, 0);
    CHECK_EQ(C.close_code, UVWS_CLOSE_ABNORMAL);
  } else {
    CHECK_EQ(C.open + S.open, 2);
    CHECK_EQ(S.close_code, 1000);
    CHECK_EQ(C.close_code, 1000);
  }
}

static void test_host_name(void) {
  run_host_name("ws://localhost", 0);
  run_host_name("uvws_client_close during name lookup", 1);
}

/* ----------------------------------------------------------------------- */
/* IPv6 loopback                                                           */

static void v6_s_open(uvws_conn_t *conn) {
  struct sockaddr_storage ss;
  rec_open(conn);
  CHECK_STR(uvws_conn_url(conn), "/v6?q=1");
  CHECK_EQ(uvws_conn_peer_addr(conn, &ss), 0);
  CHECK_EQ(ss.ss_family, AF_INET6);
}

static void v6_c_open(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK_ERR(API(uvws_conn_send_binary(conn, "\x00v6\xff", 4)), 0);
}

static void v6_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  LB_NOT_IN_API();
  S.message++;
  CHECK_EQ(type, UVWS_BINARY);
  CHECK(len == 4 && memcmp(data, "\x00v6\xff", 4) == 0);
  CHECK_ERR(API(uvws_conn_close(conn, 4321, "v6", 2)), 0);
}

static void test_ipv6(void) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = plain_cbs;
  uvws_server_t *s6;
  char u[128];
  int r;

  memset(&so, 0, sizeof(so));
  so.callbacks = plain_cbs;
  so.callbacks.on_open = v6_s_open;
  so.callbacks.on_message = v6_s_message;
  cc.on_open = v6_c_open;

  memset(&S, 0, sizeof(S));
  memset(&C, 0, sizeof(C));
  server_closed = client_closed = 0;
  closes_expected = 2;
  lb_loop_init(&L, "IPv6 loopback", 15000);
  CHECK_EQ(uvws_server_create(&L.loop, &so, &s6), 0);
  r = uvws_server_listen(s6, "::1", 0, 0);
  if (r == UV_EADDRNOTAVAIL || r == UV_EAFNOSUPPORT) {
    fprintf(stderr, "  IPv6 loopback: skipped, cannot bind ::1 (%s)\n",
            uvws_err_name(r));
    uvws_server_close(s6, NULL);
    lb_loop_run(&L);
    return;
  }
  CHECK_ERR(r, 0);
  server = s6;
  port = uvws_server_port(s6);
  CHECK(port > 0);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  snprintf(u, sizeof(u), "ws://[::1]:%d/v6?q=1", port);
  CHECK_ERR(
      API(uvws_connect(client, u, NULL, &cc, NULL, &(uvws_conn_t *){NULL})), 0);
  finish();
  CHECK_EQ(S.message, 1);
  CHECK_EQ(S.close_code, 4321);
  CHECK_EQ(C.close_code, 4321);
  CHECK_STR(C.reason, "v6");
  CHECK_EQ(S.clean + C.clean, 2);
}

/* The tests whose messages go through permessage-deflate when it is on. */
static void run_deflate_variants(void) {
  static uvws_deflate_options_t defaults, small;
  memset(&small, 0, sizeof(small));
  small.server_no_context_takeover = 1;
  small.client_no_context_takeover = 1;
  small.server_max_window_bits = 9;
  small.client_max_window_bits = 9;
  small.level = 1;
  small.mem_level = 1;
  small.threshold = 100;
  deflate_opts = &defaults;
  deflate_label = "deflate";
  test_matrix();
  test_fragments();
  test_nocopy();
  test_queued_before_close();
  deflate_opts = &small;
  deflate_label = "deflate 9 bits, no takeover";
  test_matrix();
  test_fragments();
  deflate_opts = NULL;
}

int main(void) {
  lb_setup();
  test_matrix();
  test_fragments();
  test_nocopy();
  test_nocopy_cancelled();
  test_close();
  test_queued_before_close();
  test_no_events_after_stop();
  test_abrupt();
  test_context_close();
  test_connecting_close();
  test_host_name();
  test_ipv6();
  run_deflate_variants();
  return 0;
}

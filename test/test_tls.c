/* wss:// on 127.0.0.1: a uvws client and a uvws server over TLS.
 *
 * The message matrix both ways, fragmented messages, 16 MiB messages and
 * 10,000 small ones; bufferedAmount counting payload bytes only; clean
 * closes from either side with close_notify seen on the wire (through a
 * recording TCP proxy), abrupt closes; every bad certificate refused by the
 * client with its own error and 1015; client certificates required,
 * optional and refused; peers that stall in the TLS handshake; ws:// and
 * wss:// listeners on one server; plain HTTP and TLS crossed.
 *
 * Certificates come from test/tls/make-certs.sh, in $UVWS_TEST_CERTS.
 * Every callback checks it is not called from inside an API call and
 * counts itself; totals are checked when the loop ends. */
#include "loopback_util.h"

#ifndef UVWS_WITH_TLS

int main(void) {
  uv_loop_t loop;
  uvws_server_t *s;
  uvws_client_t *c;
  uvws_conn_t *conn;
  uvws_server_options_t so;
  lb_setup();
  CHECK_EQ(uv_loop_init(&loop), 0);
  memset(&so, 0, sizeof(so));
  so.tls.cert_file = "ignored.crt";
  so.tls.key_file = "ignored.key";
  CHECK_EQ(uvws_server_create(&loop, &so, &s), 0);
  CHECK_ERR(uvws_server_listen_tls(s, "127.0.0.1", 0, 0), UV_ENOTSUP);
  uvws_server_close(s, NULL);
  CHECK_EQ(uvws_client_create(&loop, NULL, &c), 0);
  CHECK_ERR(uvws_connect(c, "wss://127.0.0.1:1/", NULL, NULL, NULL, &conn),
            UV_ENOTSUP);
  uvws_client_close(c, NULL);
  CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ(uv_loop_close(&loop), 0);
  printf("test_tls: built without TLS: wss:// and listen_tls give "
         "UV_ENOTSUP\n");
  return 0;
}

#else

#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

#define MiB ((size_t)1024 * 1024)

static const char *certs;
static lb_loop_t L;
static uvws_server_t *server;
static uvws_client_t *client;
static int port, plain_port;
static int server_closed, client_closed;

static const char *cert(const char *name) {
  static char buf[16][512];
  static int i;
  char *p = buf[i++ % 16];
  snprintf(p, 512, "%s/%s", certs, name);
  return p;
}

/* What one side (all server connections, or all client connections) saw. */
typedef struct {
  int open, message, error, close, drain, upgrade;
  int tls_open; /* opened with a cipher suite */
  int last_error, tls_error;
  int close_code, clean;
  size_t bytes;
  uvws_conn_t *conn;
  char cipher[128];
  char subject[256];
} side_t;

static side_t S, C;

/* The test's behaviour, set before each run. */
static struct {
  int echo;                /* the server echoes each message */
  int server_close_after;  /* the server closes 4000 after n messages */
  int client_close_after;  /* the client closes 1000 after n echoes */
  int check_matrix;        /* echoes are checked against the matrix */
  int close_each;          /* the client closes 1000 after each echo */
  int closes;              /* on_close calls that end the test (2) */
} T;

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
  if (server)
    API_VOID(uvws_server_close(server, on_server_closed));
  if (client)
    API_VOID(uvws_client_close(client, on_client_closed));
}

static side_t *side_of(uvws_conn_t *conn) {
  return uvws_conn_is_client(conn) ? &C : &S;
}

/* ----------------------------------------------------------------------- */
/* The message matrix                                                      */

static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 1536 * 1024};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define NMATRIX (2 * NSIZES)

/* Message i of the matrix: size sizes[i / 2], text when i is even. */
static void matrix_send(uvws_conn_t *conn, size_t i) {
  size_t len = sizes[i / 2];
  int text = i % 2 == 0;
  char *buf = malloc(len ? len : 1);
  CHECK(buf != NULL);
  lb_fill(buf, len, text, (unsigned)i);
  CHECK_ERR(API(uvws_conn_send(conn, text ? UVWS_TEXT : UVWS_BINARY, buf,
                               len)),
            0);
  free(buf);
}

static void matrix_check(size_t i, uvws_msg_type_t type, const char *data,
                         size_t len) {
  CHECK(i < NMATRIX);
  CHECK_EQ(type, i % 2 == 0 ? UVWS_TEXT : UVWS_BINARY);
  CHECK_EQ(len, sizes[i / 2]);
  CHECK(lb_payload_ok(data, len, i % 2 == 0, (unsigned)i));
}

/* ----------------------------------------------------------------------- */
/* Callbacks                                                               */

static int s_upgrade(uvws_server_t *s, uvws_request_t *req) {
  char subject[256];
  int r;
  LB_NOT_IN_API();
  CHECK(s == server);
  S.upgrade++;
  r = uvws_request_tls_peer_subject(req, subject, sizeof(subject));
  if (r > 0)
    snprintf(S.subject, sizeof(S.subject), "%s", subject);
  else
    CHECK_ERR(r, UV_ENOENT);
  return 0;
}

static void rec_open(uvws_conn_t *conn) {
  side_t *s = side_of(conn);
  const char *cipher = uvws_conn_tls_cipher(conn);
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_OPEN);
  s->open++;
  s->conn = conn;
  snprintf(s->cipher, sizeof(s->cipher), "%s", cipher ? cipher : "");
  if (cipher) {
    s->tls_open++;
    /* TLS 1.2, ECDHE and AEAD only. */
    CHECK(strncmp(cipher, "TLS-ECDHE-", 10) == 0);
    CHECK(strstr(cipher, "-GCM-") != NULL ||
          strstr(cipher, "CHACHA20-POLY1305") != NULL);
  }
  CHECK_EQ(uvws_conn_tls_error(conn), 0);
}

static void rec_error(uvws_conn_t *conn, int err) {
  side_t *s = side_of(conn);
  LB_NOT_IN_API();
  CHECK(err < 0);
  s->error++;
  s->last_error = err;
  s->tls_error = uvws_conn_tls_error(conn);
}

static void rec_close(uvws_conn_t *conn, int code, const char *reason,
                      size_t reason_len, int was_clean) {
  side_t *s = side_of(conn);
  LB_NOT_IN_API();
  (void)reason;
  (void)reason_len;
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSED);
  CHECK_EQ(uvws_conn_buffered_amount(conn), 0);
  s->close++;
  s->close_code = code;
  s->clean = was_clean;
  if (s->tls_error == 0)
    s->tls_error = uvws_conn_tls_error(conn);
  if (s == &S)
    s->conn = NULL;
  /* The client's connection ends the test; the server's closes it. */
  if (S.close + C.close == (T.closes ? T.closes : 2) ||
      (s == &C && S.open == 0 && !T.closes))
    close_contexts();
}

static void rec_drain(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_buffered_amount(conn), 0);
  side_of(conn)->drain++;
}

static void s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                      const char *data, size_t len) {
  LB_NOT_IN_API();
  S.message++;
  S.bytes += len;
  if (T.echo)
    CHECK_ERR(API(uvws_conn_send(conn, type, data, len)), 0);
  if (T.server_close_after && S.message == T.server_close_after)
    CHECK_ERR(API(uvws_conn_close(conn, 4000, "server done", 11)), 0);
}

static void c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                      const char *data, size_t len) {
  LB_NOT_IN_API();
  if (T.check_matrix)
    matrix_check((size_t)C.message, type, data, len);
  C.message++;
  C.bytes += len;
  if ((T.client_close_after && C.message == T.client_close_after) ||
      T.close_each)
    CHECK_ERR(API(uvws_conn_close(conn, 1000, "client done", 11)), 0);
}

static uvws_server_options_t server_opts(const char *name) {
  static char crt[64], key[64];
  uvws_server_options_t o;
  memset(&o, 0, sizeof(o));
  o.callbacks.on_open = rec_open;
  o.callbacks.on_message = s_message;
  o.callbacks.on_error = rec_error;
  o.callbacks.on_close = rec_close;
  o.callbacks.on_drain = rec_drain;
  o.on_upgrade = s_upgrade;
  snprintf(crt, sizeof(crt), "%s.crt", name);
  snprintf(key, sizeof(key), "%s.key", name);
  o.tls.cert_file = cert(crt);
  o.tls.key_file = cert(key);
  return o;
}

static const uvws_callbacks_t client_cbs = {rec_open,  c_message, rec_error,
                                            rec_close, rec_drain, NULL};

/* A server with TLS on port (and plain ws:// on plain_port), a client. */
static void setup(const char *name, const uvws_server_options_t *so,
                  const uvws_client_options_t *co) {
  memset(&S, 0, sizeof(S));
  memset(&C, 0, sizeof(C));
  server_closed = client_closed = 0;
  lb_loop_init(&L, name, 30000);
  CHECK_EQ(uvws_server_create(&L.loop, so, &server), 0);
  CHECK_EQ(uvws_server_listen_tls(server, "127.0.0.1", 0, 0), 0);
  port = uvws_server_port(server);
  CHECK_EQ(uvws_server_listen(server, "127.0.0.1", 0, 0), 0);
  plain_port = uvws_server_port(server);
  CHECK(port > 0 && plain_port > 0 && port != plain_port);
  CHECK_EQ(uvws_client_create(&L.loop, co, &client), 0);
}

static uvws_client_options_t ca_opts(void) {
  uvws_client_options_t o;
  memset(&o, 0, sizeof(o));
  o.tls.ca_file = cert("ca.crt");
  return o;
}

static uvws_conn_t *connect_cbs(const char *fmt, int p,
                                const uvws_callbacks_t *cbs) {
  char url[128];
  uvws_conn_t *conn = NULL;
  snprintf(url, sizeof(url), fmt, p);
  CHECK_ERR(API(uvws_connect(client, url, NULL, cbs, NULL, &conn)), 0);
  CHECK(conn != NULL);
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CONNECTING);
  CHECK(uvws_conn_tls_cipher(conn) == NULL);
  return conn;
}

static uvws_conn_t *connect_url(const char *fmt, int p) {
  return connect_cbs(fmt, p, &client_cbs);
}

static void finish(void) {
  lb_loop_run(&L);
  CHECK_EQ(server_closed, 1);
  CHECK_EQ(client_closed, 1);
  server = NULL;
  client = NULL;
  memset(&T, 0, sizeof(T));
}

/* ----------------------------------------------------------------------- */
/* The matrix both ways, fragments, and a clean close                      */

static void m_open(uvws_conn_t *conn) {
  size_t i;
  static const char text[] = "h\xC3\xA9llo \xE2\x82\xAC\xF0\x9D\x84\x9E";
  rec_open(conn);
  for (i = 0; i < NMATRIX; i++)
    matrix_send(conn, i);
  /* A text message in three fragments cut inside characters. */
  CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_TEXT, text, 2, 0)), 0);
  CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_TEXT, text + 2, 6, 0)), 0);
  CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_TEXT, text + 8,
                                        sizeof(text) - 9, 1)),
            0);
}

static void m_message(uvws_conn_t *conn, uvws_msg_type_t type,
                      const char *data, size_t len) {
  static const char text[] = "h\xC3\xA9llo \xE2\x82\xAC\xF0\x9D\x84\x9E";
  LB_NOT_IN_API();
  if ((size_t)C.message < NMATRIX) {
    matrix_check((size_t)C.message, type, data, len);
  } else {
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, sizeof(text) - 1);
    CHECK(memcmp(data, text, len) == 0);
  }
  C.message++;
  C.bytes += len;
  if (C.message == (int)NMATRIX + 1)
    CHECK_ERR(API(uvws_conn_close(conn, 1000, "done", 4)), 0);
}

static void test_matrix(const char *url_fmt, const char *server_cert) {
  uvws_server_options_t so = server_opts(server_cert);
  uvws_client_options_t co = ca_opts();
  uvws_callbacks_t cbs = client_cbs;
  char name[128];
  uvws_conn_t *conn = NULL;
  char url[128];

  snprintf(name, sizeof(name), "matrix %s %s", url_fmt, server_cert);
  T.echo = 1;
  setup(name, &so, &co);
  cbs.on_open = m_open;
  cbs.on_message = m_message;
  snprintf(url, sizeof(url), url_fmt, port);
  CHECK_ERR(API(uvws_connect(client, url, NULL, &cbs, NULL, &conn)), 0);
  finish();
  CHECK_EQ(S.open, 1);
  CHECK_EQ(C.open, 1);
  CHECK_EQ(S.message, NMATRIX + 1);
  CHECK_EQ(C.message, NMATRIX + 1);
  CHECK_EQ(S.error + C.error, 0);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(S.close_code, 1000);
  CHECK_EQ(C.close_code, 1000);
  CHECK(S.clean && C.clean);
  CHECK_STR(S.cipher, C.cipher);
  if (strcmp(server_cert, "server-rsa") == 0)
    CHECK(strncmp(C.cipher, "TLS-ECDHE-RSA-", 14) == 0);
  else
    CHECK(strncmp(C.cipher, "TLS-ECDHE-ECDSA-", 16) == 0);
}

/* ----------------------------------------------------------------------- */
/* 16 MiB messages and bufferedAmount                                      */

static char *big;
static uv_timer_t big_timer;

static void big_send(uv_timer_t *t) {
  uvws_conn_t *conn = t->data;
  LB_NOT_IN_API();
  /* Outside any read, so the send is flushed at once: far more than the
   * socket takes, so the write stays in flight, and bufferedAmount holds
   * exactly the payload, no frame header and no TLS overhead. */
  CHECK_ERR(API(uvws_conn_send_binary(conn, big, 16 * MiB)), 0);
  CHECK_EQ(uvws_conn_buffered_amount(conn), 16 * MiB);
  CHECK_ERR(API(uvws_conn_send_text(conn, big + 16 * MiB, MiB)), 0);
  CHECK_EQ(uvws_conn_buffered_amount(conn), 17 * MiB);
  uv_close((uv_handle_t *)t, NULL);
}

static void big_open(uvws_conn_t *conn) {
  rec_open(conn);
  uv_timer_init(&L.loop, &big_timer);
  big_timer.data = conn;
  uv_timer_start(&big_timer, big_send, 0, 0);
}

static void big_message(uvws_conn_t *conn, uvws_msg_type_t type,
                        const char *data, size_t len) {
  LB_NOT_IN_API();
  if (C.message == 0) {
    CHECK_EQ(type, UVWS_BINARY);
    CHECK_EQ(len, 16 * MiB);
    CHECK(memcmp(data, big, len) == 0);
  } else {
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, MiB);
    CHECK(memcmp(data, big + 16 * MiB, len) == 0);
  }
  C.message++;
  if (C.message == 2)
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void test_big(void) {
  uvws_server_options_t so = server_opts("server");
  uvws_client_options_t co = ca_opts();
  uvws_callbacks_t cbs = client_cbs;
  uvws_conn_t *conn;

  big = malloc(17 * MiB);
  CHECK(big != NULL);
  lb_fill(big, 16 * MiB, 0, 16);
  lb_fill(big + 16 * MiB, MiB, 1, 17);
  T.echo = 1;
  setup("16 MiB both ways, bufferedAmount", &so, &co);
  cbs.on_open = big_open;
  cbs.on_message = big_message;
  {
    char url[64];
    snprintf(url, sizeof(url), "wss://localhost:%d/big", port);
    CHECK_ERR(API(uvws_connect(client, url, NULL, &cbs, NULL, &conn)), 0);
  }
  finish();
  CHECK_EQ(S.message, 2);
  CHECK_EQ(S.bytes, 17 * MiB);
  CHECK_EQ(C.message, 2);
  CHECK(C.drain >= 1);
  CHECK_EQ(S.close_code, 1000);
  CHECK(S.clean);
  free(big);
}

/* ----------------------------------------------------------------------- */
/* A TCP proxy that records the TLS records going each way                 */

typedef struct {
  uint8_t hdr[5];
  size_t hlen, left;
  int corrupt;   /* flip a bit in the next application data record */
  int last_type; /* content type of the latest record */
  int alerts;    /* alert records (21) */
  int records;
} recs_t;

static void recs_feed(recs_t *p, uint8_t *d, size_t n) {
  while (n > 0) {
    if (p->left == 0) {
      p->hdr[p->hlen++] = *d++;
      n--;
      if (p->hlen == 5) {
        p->hlen = 0;
        p->left = ((size_t)p->hdr[3] << 8) | p->hdr[4];
        p->last_type = p->hdr[0];
        p->records++;
        if (p->hdr[0] == 21)
          p->alerts++;
      }
    } else {
      size_t take = n < p->left ? n : p->left;
      if (p->corrupt && p->last_type == 23) {
        d[0] ^= 0x01;
        p->corrupt = 0;
      }
      p->left -= take;
      d += take;
      n -= take;
    }
  }
}

static lb_raw_server_t proxy;
static struct {
  lb_raw_t *down; /* from the uvws client */
  lb_raw_t *up;   /* to the uvws server */
  int up_connected;
  recs_t c2s, s2c;
  int closed;
} P;

static void shutdown_done(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

static void half_close(lb_raw_t *r) {
  uv_shutdown_t *req;
  if (r == NULL || uv_is_closing((uv_handle_t *)&r->tcp))
    return;
  req = malloc(sizeof(*req));
  CHECK(req != NULL);
  if (uv_shutdown(req, (uv_stream_t *)&r->tcp, shutdown_done) != 0)
    free(req);
}

static void forward(lb_raw_t *from, lb_raw_t *to, recs_t *recs) {
  if (from->len == 0)
    return;
  recs_feed(recs, (uint8_t *)from->in, from->len);
  if (to != NULL && !uv_is_closing((uv_handle_t *)&to->tcp))
    lb_raw_write(to, from->in, from->len);
  lb_raw_consume(from, from->len);
}

static void p_down_read(lb_raw_t *r) {
  if (P.up_connected)
    forward(r, P.up, &P.c2s);
}

static void p_up_read(lb_raw_t *r) {
  forward(r, P.down, &P.s2c);
}

static void p_down_eof(lb_raw_t *r) {
  (void)r;
  if (P.up_connected)
    half_close(P.up);
  P.down = NULL;
}

static void p_up_eof(lb_raw_t *r) {
  (void)r;
  half_close(P.down);
  P.up = NULL;
}

static void p_closed(lb_raw_t *r) {
  (void)r;
  if (++P.closed == 2)
    lb_raw_server_close(&proxy);
}

static void p_up_connected(lb_raw_t *r) {
  P.up_connected = 1;
  r->on_read = p_up_read;
  r->on_eof = p_up_eof;
  r->on_closed = p_closed;
  if (P.down)
    forward(P.down, r, &P.c2s);
}

static void p_accept(lb_raw_t *r) {
  CHECK(P.down == NULL);
  P.down = r;
  r->on_read = p_down_read;
  r->on_eof = p_down_eof;
  r->on_closed = p_closed;
  P.up = malloc(sizeof(*P.up));
  CHECK(P.up != NULL);
  lb_raw_init(P.up, &L.loop);
  P.up->owned = 1;
  lb_raw_connect(P.up, "127.0.0.1", port, p_up_connected);
}

/* Cuts both connections at once, without any close_notify. */
static void proxy_cut(void) {
  if (P.down)
    lb_raw_close(P.down);
  if (P.up)
    lb_raw_close(P.up);
  P.down = P.up = NULL;
}

/* ----------------------------------------------------------------------- */
/* 10,000 small messages                                                   */

#define NSMALL 10000

static void small_open(uvws_conn_t *conn) {
  char msg[64];
  int i;
  rec_open(conn);
  for (i = 0; i < NSMALL; i++) {
    int n = snprintf(msg, sizeof(msg), "message %d", i);
    CHECK_ERR(API(uvws_conn_send_text(conn, msg, (size_t)n)), 0);
  }
}

static void small_message(uvws_conn_t *conn, uvws_msg_type_t type,
                          const char *data, size_t len) {
  char msg[64];
  int n;
  LB_NOT_IN_API();
  n = snprintf(msg, sizeof(msg), "message %d", C.message);
  CHECK_EQ(type, UVWS_TEXT);
  CHECK_EQ(len, (size_t)n);
  CHECK(memcmp(data, msg, len) == 0);
  C.message++;
  if (C.message == NSMALL)
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

/* One client connection through the recording proxy to a server with the
 * "server" certificate, with client_cbs but for on_open and on_message
 * (when not NULL), run to the end. P and T are set by the caller. */
static void through_proxy(const char *name, uvws_open_cb on_open,
                          uvws_message_cb on_message) {
  uvws_server_options_t so = server_opts("server");
  uvws_client_options_t co = ca_opts();
  uvws_callbacks_t cbs = client_cbs;

  setup(name, &so, &co);
  lb_raw_server_listen(&proxy, &L.loop, p_accept);
  if (on_open)
    cbs.on_open = on_open;
  if (on_message)
    cbs.on_message = on_message;
  connect_cbs("wss://127.0.0.1:%d/", proxy.port, &cbs);
  finish();
}

static void test_small(void) {
  memset(&P, 0, sizeof(P));
  T.echo = 1;
  through_proxy("10,000 small messages, batched records", small_open,
                small_message);
  CHECK_EQ(S.message, NSMALL);
  CHECK_EQ(C.message, NSMALL);
  CHECK(S.clean && C.clean);
  /* About 150 KiB each way. Everything one callback or one read queues is
   * encrypted into full records at flush time: a few dozen records, not
   * one or two per message. */
  fprintf(stderr, "  records: %d to the server, %d to the client\n",
          P.c2s.records, P.s2c.records);
  CHECK(P.c2s.records < 40);
  CHECK(P.s2c.records < 80);
}

/* Clean closes from either side: each side's last record is its
 * close_notify (an alert, the only one). */
static void c_open_echo_one(uvws_conn_t *conn) {
  rec_open(conn);
  CHECK_ERR(API(uvws_conn_send_text(conn, "hello", 5)), 0);
}

static void test_clean_close(int from_server) {
  memset(&P, 0, sizeof(P));
  T.echo = 1;
  if (from_server)
    T.server_close_after = 1;
  else
    T.client_close_after = 1;
  through_proxy(from_server ? "clean close from the server, close_notify"
                            : "clean close from the client, close_notify",
                c_open_echo_one, NULL);
  CHECK_EQ(S.error + C.error, 0);
  CHECK(S.clean && C.clean);
  CHECK_EQ(S.close_code, from_server ? 4000 : 1000);
  CHECK_EQ(C.close_code, from_server ? 4000 : 1000);
  CHECK_EQ(P.s2c.last_type, 21);
  CHECK_EQ(P.s2c.alerts, 1);
  CHECK_EQ(P.c2s.last_type, 21);
  CHECK_EQ(P.c2s.alerts, 1);
  CHECK_EQ(P.s2c.left, 0);
  CHECK_EQ(P.c2s.left, 0);
}

/* Abrupt ends: the TCP connections cut in the middle; the client
 * terminating its connection. */
static void cut_message(uvws_conn_t *conn, uvws_msg_type_t type,
                        const char *data, size_t len) {
  (void)conn;
  (void)type;
  (void)data;
  (void)len;
  LB_NOT_IN_API();
  C.message++;
  proxy_cut();
}

static void test_abrupt(void) {
  memset(&P, 0, sizeof(P));
  T.echo = 1;
  through_proxy("abrupt: TCP cut without close_notify", c_open_echo_one,
                cut_message);
  CHECK_EQ(C.close_code, 1006);
  CHECK_EQ(S.close_code, 1006);
  CHECK(!C.clean && !S.clean);
  CHECK_EQ(C.error, 1);
  CHECK_EQ(S.error, 1);
  CHECK_EQ(P.s2c.alerts + P.c2s.alerts, 0);
}

/* A record that does not decrypt, after the TLS handshake (the server's
 * 101): UVWS_ETLS, mbedTLS's MAC error, and 1006 (not a handshake
 * failure). */
static void test_corrupt(void) {
  memset(&P, 0, sizeof(P));
  P.s2c.corrupt = 1;
  through_proxy("a corrupted record", NULL, NULL);
  CHECK_EQ(C.open, 0);
  CHECK_EQ(C.error, 1);
  CHECK_ERR(C.last_error, UVWS_ETLS);
  CHECK_EQ(C.tls_error, MBEDTLS_ERR_SSL_INVALID_MAC);
  CHECK_EQ(C.close_code, 1006);
  CHECK_EQ(P.s2c.corrupt, 0);
}

static void term_open(uvws_conn_t *conn) {
  rec_open(conn);
  if (uvws_conn_is_client(conn))
    API_VOID(uvws_conn_terminate(conn));
}

static void test_terminate(void) {
  uvws_server_options_t so = server_opts("server");
  uvws_client_options_t co = ca_opts();
  uvws_callbacks_t cbs = client_cbs;
  uvws_conn_t *conn;
  char url[64];

  so.callbacks.on_open = rec_open;
  setup("abrupt: client terminates", &so, &co);
  cbs.on_open = term_open;
  snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", port);
  CHECK_ERR(API(uvws_connect(client, url, NULL, &cbs, NULL, &conn)), 0);
  /* The server may see the upgrade before the client's terminate only;
   * wait for both closes through the callbacks. */
  finish();
  CHECK_EQ(C.close_code, 1006);
  CHECK_EQ(C.error, 0);
  CHECK(S.open <= 1);
  if (S.open)
    CHECK_EQ(S.close_code, 1006);
}

/* ----------------------------------------------------------------------- */
/* Bad certificates: one line per case                                     */

static const struct {
  const char *server_cert;
  const char *url; /* %d: the port */
  int err;
} bad_cases[] = {
    {"expired", "wss://127.0.0.1:%d/", UVWS_ECERTEXPIRED},
    {"expired", "wss://localhost:%d/", UVWS_ECERTEXPIRED},
    {"notyet", "wss://localhost:%d/", UVWS_ECERTEXPIRED},
    {"wrongname", "wss://127.0.0.1:%d/", UVWS_ECERTNAME},
    {"wrongname", "wss://localhost:%d/", UVWS_ECERTNAME},
    {"selfsigned", "wss://127.0.0.1:%d/", UVWS_ECERTUNTRUSTED},
    {"selfsigned", "wss://localhost:%d/", UVWS_ECERTUNTRUSTED},
    {"sha1", "wss://localhost:%d/", UVWS_ECERTINVALID},
};

static void test_bad_certs(void) {
  size_t i;
  for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
    uvws_server_options_t so = server_opts(bad_cases[i].server_cert);
    uvws_client_options_t co = ca_opts();
    char name[128];
    snprintf(name, sizeof(name), "refused: %s, %s", bad_cases[i].server_cert,
             bad_cases[i].url);
    setup(name, &so, &co);
    connect_url(bad_cases[i].url, port);
    finish();
    if (C.last_error != bad_cases[i].err)
      fprintf(stderr, "%s: got %s\n", name, uvws_err_name(C.last_error));
    CHECK_EQ(C.error, 1);
    CHECK_ERR(C.last_error, bad_cases[i].err);
    CHECK_EQ(C.tls_error, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
    CHECK_EQ(C.close, 1);
    CHECK_EQ(C.close_code, 1015);
    CHECK(!C.clean);
    CHECK_EQ(C.open, 0);
    /* The server's application never saw it. */
    CHECK_EQ(S.upgrade + S.open + S.error + S.close, 0);
  }
}

/* Without a CA of its own the client trusts the system's CAs only; the
 * test-only switch accepts anything. */
static void test_default_and_insecure(void) {
  uvws_server_options_t so = server_opts("server");
  uvws_client_options_t co;

  setup("system CAs refuse the test CA", &so, NULL);
  connect_url("wss://localhost:%d/", port);
  finish();
  CHECK_ERR(C.last_error, UVWS_ECERTUNTRUSTED);
  CHECK_EQ(C.close_code, 1015);

  so = server_opts("wrongname");
  memset(&co, 0, sizeof(co));
  co.tls.insecure_skip_verify_for_testing = 1;
  T.echo = 1;
  T.client_close_after = 1;
  setup("insecure_skip_verify_for_testing", &so, &co);
  {
    uvws_callbacks_t cbs = client_cbs;
    uvws_conn_t *conn;
    char url[64];
    cbs.on_open = c_open_echo_one;
    snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", port);
    CHECK_ERR(API(uvws_connect(client, url, NULL, &cbs, NULL, &conn)), 0);
  }
  finish();
  CHECK_EQ(C.open, 1);
  CHECK_EQ(C.message, 1);
  CHECK(C.clean);
}

/* ----------------------------------------------------------------------- */
/* Client certificates                                                     */

static void test_client_certs(void) {
  static const struct {
    uvws_tls_client_cert_t mode;
    const char *client; /* NULL: none */
    int ok;
  } cases[] = {
      {UVWS_TLS_CLIENT_CERT_REQUIRED, "client", 1},
      {UVWS_TLS_CLIENT_CERT_REQUIRED, NULL, 0},
      {UVWS_TLS_CLIENT_CERT_REQUIRED, "client-other", 0},
      {UVWS_TLS_CLIENT_CERT_OPTIONAL, "client", 1},
      {UVWS_TLS_CLIENT_CERT_OPTIONAL, NULL, 1},
      {UVWS_TLS_CLIENT_CERT_OPTIONAL, "client-other", 0},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uvws_server_options_t so = server_opts("server");
    uvws_client_options_t co = ca_opts();
    uvws_callbacks_t cbs = client_cbs;
    uvws_conn_t *conn;
    char name[128], url[64], crt[64], key[64];

    so.tls.ca_file = cert("ca.crt");
    so.tls.client_cert = cases[i].mode;
    if (cases[i].client) {
      snprintf(crt, sizeof(crt), "%s.crt", cases[i].client);
      snprintf(key, sizeof(key), "%s.key", cases[i].client);
      co.tls.cert_file = cert(crt);
      co.tls.key_file = cert(key);
    }
    snprintf(name, sizeof(name), "client certificate %s, %s",
             cases[i].mode == UVWS_TLS_CLIENT_CERT_REQUIRED ? "required"
                                                            : "optional",
             cases[i].client ? cases[i].client : "none");
    T.echo = 1;
    T.client_close_after = 1;
    setup(name, &so, &co);
    cbs.on_open = c_open_echo_one;
    snprintf(url, sizeof(url), "wss://localhost:%d/", port);
    CHECK_ERR(API(uvws_connect(client, url, NULL, &cbs, NULL, &conn)), 0);
    finish();
    if (cases[i].ok) {
      CHECK_EQ(C.open, 1);
      CHECK_EQ(S.open, 1);
      CHECK(C.clean && S.clean);
      if (cases[i].client)
        CHECK(strstr(S.subject, "CN=uvws test client") != NULL);
      else
        CHECK_STR(S.subject, "");
    } else {
      /* The server refuses with an alert: UVWS_ETLS and 1015 here, and
       * its application never hears of it. */
      CHECK_EQ(C.open, 0);
      CHECK_ERR(C.last_error, UVWS_ETLS);
      CHECK_EQ(C.tls_error, MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
      CHECK_EQ(C.close_code, 1015);
      CHECK_EQ(S.upgrade + S.open + S.close, 0);
    }
  }
}

/* ----------------------------------------------------------------------- */
/* Stalled handshakes                                                      */

/* The first bytes of a ClientHello, and nothing more. */
static const uint8_t partial_hello[] = {0x16, 0x03, 0x01, 0x00, 0xc8,
                                        0x01, 0x00, 0x00, 0xc4, 0x03};
static lb_raw_t staller;

static void stall_connected(lb_raw_t *r) {
  lb_raw_write(r, partial_hello, sizeof(partial_hello));
}

static void stall_eof(lb_raw_t *r) {
  double ms = lb_elapsed_ms(&L);
  (void)r;
  /* handshake_timeout_ms is 300. */
  CHECK(ms >= 250);
  CHECK(ms < 5000);
  close_contexts();
}

static void test_stalled_client(void) {
  uvws_server_options_t so = server_opts("server");
  so.limits.handshake_timeout_ms = 300;
  setup("a client stalls mid-handshake", &so, NULL);
  lb_raw_init(&staller, &L.loop);
  staller.on_eof = stall_eof;
  lb_raw_connect(&staller, "127.0.0.1", port, stall_connected);
  finish();
  CHECK(staller.closed);
  CHECK_EQ(S.upgrade + S.open + S.close, 0);
}

/* A server that accepts, reads the ClientHello, answers with the first
 * bytes of a ServerHello, and then nothing. */
static lb_raw_server_t stall_srv;

static void stall_srv_read(lb_raw_t *r) {
  static const uint8_t partial[] = {0x16, 0x03, 0x03, 0x00, 0x40, 0x02};
  if (r->len > 0 && r->data != NULL) {
    lb_raw_write(r, partial, sizeof(partial));
    r->data = NULL;
  }
  lb_raw_consume(r, r->len);
}

static void stall_srv_closed(lb_raw_t *r) {
  (void)r;
  lb_raw_server_close(&stall_srv);
}

static void stall_srv_accept(lb_raw_t *r) {
  r->on_read = stall_srv_read;
  r->on_closed = stall_srv_closed;
}

static void test_stalled_server(void) {
  uvws_server_options_t so = server_opts("server");
  uvws_client_options_t co = ca_opts();
  uint64_t t0;
  double ms;

  co.limits.handshake_timeout_ms = 300;
  setup("a server stalls mid-handshake", &so, &co);
  lb_raw_server_listen(&stall_srv, &L.loop, stall_srv_accept);
  t0 = uv_hrtime();
  connect_url("wss://127.0.0.1:%d/", stall_srv.port);
  finish();
  ms = (double)(uv_hrtime() - t0) / 1e6;
  CHECK_ERR(C.last_error, UV_ETIMEDOUT);
  CHECK_EQ(C.close_code, 1006);
  CHECK(ms >= 250);
}

/* ----------------------------------------------------------------------- */
/* ws:// and wss:// on one server; crossed protocols                       */

static void test_both_listeners(void) {
  uvws_server_options_t so = server_opts("server");
  uvws_client_options_t co = ca_opts();
  uvws_callbacks_t cbs = client_cbs;
  uvws_conn_t *a, *b;
  char url[64];

  T.echo = 1;
  T.close_each = 1;
  T.closes = 4;
  setup("ws:// and wss:// on one server", &so, &co);
  cbs.on_open = c_open_echo_one;
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", plain_port);
  CHECK_ERR(API(uvws_connect(client, url, NULL, &cbs, NULL, &a)), 0);
  snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", port);
  CHECK_ERR(API(uvws_connect(client, url, NULL, &cbs, NULL, &b)), 0);
  /* rec_close ends the test after two closes on each side. */
  lb_loop_run(&L);
  CHECK_EQ(S.open, 2);
  CHECK_EQ(C.open, 2);
  CHECK_EQ(S.close, 2);
  CHECK_EQ(C.close, 2);
  CHECK_EQ(S.message, 2);
  CHECK_EQ(C.message, 2);
  CHECK(S.clean && C.clean);
  CHECK_EQ(server_closed, 1);
  CHECK_EQ(client_closed, 1);
  /* One of them over TLS, on each side. */
  CHECK_EQ(S.tls_open, 1);
  CHECK_EQ(C.tls_open, 1);
  server = NULL;
  client = NULL;
  memset(&T, 0, sizeof(T));
}

static void test_crossed(void) {
  uvws_server_options_t so = server_opts("server");
  uvws_client_options_t co = ca_opts();

  /* wss:// to a plain listener: the server waits for the end of an HTTP
   * head that does not come (or answers 400, which is no TLS). */
  co.limits.handshake_timeout_ms = 500;
  setup("wss:// to a ws:// port", &so, &co);
  connect_url("wss://127.0.0.1:%d/", plain_port);
  finish();
  CHECK_EQ(C.error, 1);
  if (C.last_error == UV_ETIMEDOUT) {
    CHECK_EQ(C.close_code, 1006);
  } else {
    CHECK_ERR(C.last_error, UVWS_ETLS);
    CHECK_EQ(C.close_code, 1015);
  }
  CHECK_EQ(S.upgrade + S.open + S.close, 0);
  co.limits.handshake_timeout_ms = 0;

  /* ws:// to a TLS listener: the request is no ClientHello. */
  setup("ws:// to a wss:// port", &so, &co);
  connect_url("ws://127.0.0.1:%d/", port);
  finish();
  CHECK_EQ(C.error, 1);
  CHECK_EQ(C.close_code, 1006);
  CHECK_EQ(C.tls_error, 0);
  CHECK_EQ(S.upgrade + S.open + S.close, 0);
}

/* ----------------------------------------------------------------------- */
/* API checks                                                              */

static void test_api(void) {
  uv_loop_t loop;
  uvws_server_t *s;
  uvws_client_t *c;
  uvws_server_options_t so;
  uvws_client_options_t co;
  uvws_conn_t *conn;

  CHECK_EQ(uv_loop_init(&loop), 0);
  /* A server without a certificate has no TLS listener. */
  CHECK_EQ(uvws_server_create(&loop, NULL, &s), 0);
  CHECK_ERR(uvws_server_listen_tls(s, "127.0.0.1", 0, 0), UV_EINVAL);
  uvws_server_close(s, NULL);
  /* Settings that do not load fail the create. */
  memset(&so, 0, sizeof(so));
  so.tls.cert_file = cert("server.crt");
  CHECK_ERR(uvws_server_create(&loop, &so, &s), UV_EINVAL);
  so.tls.key_file = cert("missing.key");
  CHECK_ERR(uvws_server_create(&loop, &so, &s), UV_ENOENT);
  so.tls.key_file = cert("client.key");
  CHECK_ERR(uvws_server_create(&loop, &so, &s), UVWS_ETLSCONFIG);
  memset(&co, 0, sizeof(co));
  co.tls.ca_file = cert("missing.crt");
  CHECK_ERR(uvws_client_create(&loop, &co, &c), UV_ENOENT);
  co.tls.ca_file = cert("server.key");
  CHECK_ERR(uvws_client_create(&loop, &co, &c), UVWS_ETLSCONFIG);
  /* A client with its own CA; connections fail later, not here. */
  co.tls.ca_file = cert("ca.crt");
  CHECK_EQ(uvws_client_create(&loop, &co, &c), 0);
  CHECK_ERR(uvws_connect(c, "wss://[::1]:1/", NULL, NULL, NULL, &conn), 0);
  CHECK_EQ(uvws_conn_tls_error(conn), 0);
  CHECK(uvws_conn_tls_cipher(conn) == NULL);
  {
    char buf[16];
    CHECK_ERR(uvws_conn_tls_peer_subject(conn, buf, sizeof(buf)), UV_ENOENT);
  }
  uvws_client_close(c, NULL);
  CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ(uv_loop_close(&loop), 0);

  CHECK_STR(uvws_err_name(UVWS_ECERTNAME), "UVWS_ECERTNAME");
  CHECK(strstr(uvws_strerror(UVWS_ECERTEXPIRED), "expired") != NULL);
}

int main(void) {
  lb_setup();
  certs = getenv("UVWS_TEST_CERTS");
  if (certs == NULL) {
    fprintf(stderr, "UVWS_TEST_CERTS is not set (run through ctest, which "
                    "makes the certificates first)\n");
    return 1;
  }
  test_api();
  test_matrix("wss://127.0.0.1:%d/", "server");
  test_matrix("wss://localhost:%d/matrix", "server");
  test_matrix("wss://127.0.0.1:%d/", "server-rsa");
  test_big();
  test_small();
  test_clean_close(0);
  test_clean_close(1);
  test_abrupt();
  test_corrupt();
  test_terminate();
  test_bad_certs();
  test_default_and_insecure();
  test_client_certs();
  test_stalled_client();
  test_stalled_server();
  test_both_listeners();
  test_crossed();
  printf("test_tls: ok\n");
  return 0;
}

#endif

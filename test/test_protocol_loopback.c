/* A uvws server against raw TCP clients that write the handshake and frames
 * by hand: protocol violations and the close codes they earn (RFC 6455
 * 7.4.1), limits, bytes that share a TCP segment with the handshake,
 * abrupt ends and the close timeout; and the same limits seen through a
 * uvws client. */
#include "loopback_util.h"

static lb_loop_t L;
static uvws_server_t *server;
static uvws_client_t *client;
static int port;
static int server_closed, client_closed;

/* Totals over every server connection of a test. */
static struct { int open, message, error, close; } S;

/* ----------------------------------------------------------------------- */
/* A raw client that reads the 101 and then frames                         */

typedef struct peer_s peer_t;
struct peer_s {
  lb_raw_t raw; /* first: a lb_raw_t * is a peer_t * */
  const char *target;
  const uint8_t *extra; /* written in the same write as the request */
  size_t extra_len;
  int got_head;
  int frames;
  int close_code; /* of the close frame read: -1 none, 1005 empty */
  char close_reason[126];
  int after_close; /* frames read after the close frame */
  int pongs;
  char pong[126];
  size_t pong_len;
  int answer_close; /* echo a close frame as RFC 6455 5.5.1 says */
  void (*after_head)(peer_t *p);
  void (*on_frame)(peer_t *p, const lb_frame_t *f, const uint8_t *payload);
  /* What the server connection of this peer saw. */
  int s_open, s_message, s_error, s_close, s_code, s_clean;
  char s_reason[126];
  double s_opened_ms, s_closed_ms;
  int want_code, want_err; /* table rows */
  const char *name;
};

static void peer_read(lb_raw_t *r) {
  peer_t *p = (peer_t *)r;
  lb_frame_t f;
  size_t h;

  if (!p->got_head) {
    size_t n = lb_head_len(r->in, r->len);
    if (n == 0)
      return;
    CHECK(strncmp(r->in, "HTTP/1.1 101 ", 13) == 0);
    CHECK(lb_head_has_line(r->in, n, "Sec-WebSocket-Accept: " LB_ACCEPT));
    CHECK(lb_head_has_line(r->in, n, "Upgrade: websocket"));
    lb_raw_consume(r, n);
    p->got_head = 1;
    if (p->after_head)
      p->after_head(p);
  }
  while (!uv_is_closing((uv_handle_t *)&r->tcp) &&
         (h = lb_frame_parse_header((uint8_t *)r->in, r->len, &f)) != 0 &&
         r->len - h >= f.len) {
    const uint8_t *pl = (const uint8_t *)r->in + h;
    CHECK(!f.masked); /* RFC 6455 5.1: a server never masks */
    if (p->close_code != -1)
      p->after_close++;
    switch (f.opcode) {
    case LB_OP_CLOSE:
      CHECK(f.fin);
      CHECK(f.len != 1 && f.len <= 125);
      p->close_code = f.len >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
      if (f.len > 2)
        memcpy(p->close_reason, pl + 2, (size_t)f.len - 2);
      p->close_reason[f.len > 2 ? f.len - 2 : 0] = '\0';
      if (p->answer_close)
        lb_raw_send_close(
            r, (unsigned)(p->close_code == 1005 ? 0 : p->close_code), NULL);
      break;
    case LB_OP_PONG:
      CHECK(f.len <= 125);
      p->pongs++;
      memcpy(p->pong, pl, (size_t)f.len);
      p->pong_len = (size_t)f.len;
      break;
    default:
      break;
    }
    p->frames++;
    if (p->on_frame)
      p->on_frame(p, &f, pl);
    lb_raw_consume(r, h + (size_t)f.len);
  }
}

static void peer_connected(lb_raw_t *r) {
  peer_t *p = (peer_t *)r;
  char *req = lb_request(p->target, port, NULL);
  size_t n = strlen(req);
  req = realloc(req, n + p->extra_len);
  CHECK(req != NULL);
  if (p->extra_len)
    memcpy(req + n, p->extra, p->extra_len);
  lb_raw_write(r, req, n + p->extra_len); /* one write, one segment */
  free(req);
}

static void peer_start(peer_t *p, const char *target) {
  lb_raw_init(&p->raw, &L.loop);
  p->target = target;
  p->close_code = -1;
  p->answer_close = 1;
  p->raw.on_read = peer_read;
  lb_raw_connect(&p->raw, "127.0.0.1", port, peer_connected);
}

/* ----------------------------------------------------------------------- */
/* Server callbacks: each connection's data is its peer, found by target.  */

static peer_t *peers;
static int npeers;

static peer_t *peer_of(uvws_conn_t *conn) {
  peer_t *p = uvws_conn_get_data(conn);
  CHECK(p != NULL);
  return p;
}

static void s_open(uvws_conn_t *conn) {
  int i;
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_OPEN);
  for (i = 0; i < npeers; i++)
    if (strcmp(uvws_conn_url(conn), peers[i].target) == 0)
      break;
  CHECK(i < npeers);
  uvws_conn_set_data(conn, &peers[i]);
  peers[i].s_open++;
  peers[i].s_opened_ms = lb_elapsed_ms(&L);
  S.open++;
}

static void s_message(uvws_conn_t *conn, uvws_msg_type_t type, const char *data,
                      size_t len) {
  LB_NOT_IN_API();
  peer_of(conn)->s_message++;
  S.message++;
  (void)type;
  (void)data;
  (void)len;
}

static void s_error(uvws_conn_t *conn, int err) {
  peer_t *p = peer_of(conn);
  LB_NOT_IN_API();
  CHECK_EQ(p->s_error, 0);
  CHECK_EQ(p->s_close, 0);
  p->s_error = err;
  S.error++;
}

static void on_server_closed(uvws_server_t *s) {
  LB_NOT_IN_API();
  (void)s;
  server_closed++;
}

static void s_close(uvws_conn_t *conn, int code, const char *reason, size_t len,
                    int clean) {
  peer_t *p = peer_of(conn);
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSED);
  CHECK_EQ(p->s_close, 0);
  CHECK(len < sizeof(p->s_reason));
  p->s_close++;
  p->s_code = code;
  p->s_clean = clean;
  memcpy(p->s_reason, reason, len);
  p->s_reason[len] = '\0';
  p->s_closed_ms = lb_elapsed_ms(&L);
  if (++S.close == npeers)
    API_VOID(uvws_server_close(server, on_server_closed));
}

/* Server options with the recording callbacks above. */
static uvws_server_options_t server_opts(void) {
  uvws_server_options_t so;
  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = s_open;
  so.callbacks.on_message = s_message;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = s_close;
  return so;
}

static void setup(const char *name, const uvws_server_options_t *so, peer_t *ps,
                  int n, uint64_t watchdog_ms) {
  uvws_server_options_t def = server_opts();
  memset(&S, 0, sizeof(S));
  server_closed = 0;
  peers = ps;
  npeers = n;
  lb_loop_init(&L, name, watchdog_ms);
  server = lb_server(&L.loop, so ? so : &def, &port);
}

static void finish(void) {
  int i;
  lb_loop_run(&L);
  CHECK_EQ(server_closed, 1);
  for (i = 0; i < npeers; i++) {
    CHECK(peers[i].raw.closed);
    CHECK_EQ(peers[i].s_open, 1);
    CHECK_EQ(peers[i].s_close, 1);
  }
}

/* ----------------------------------------------------------------------- */
/* Violations, one row each: the bytes after the handshake, the close code
 * the server must send and the error it reports.                           */

#define LIMIT 1000

typedef struct {
  const char *name;
  int code;
  int err;
} vrow_t;

static const vrow_t vrows[] = {
    {"unmasked frame", 1002, UVWS_EPROTO},
    {"invalid UTF-8 text", 1007, UVWS_EBADUTF8},
    {"invalid UTF-8 early in a partial frame", 1007, UVWS_EBADUTF8},
    {"invalid UTF-8 in a second fragment", 1007, UVWS_EBADUTF8},
    {"text ending inside a character", 1007, UVWS_EBADUTF8},
    {"RSV1 without an extension", 1002, UVWS_EPROTO},
    {"reserved opcode 3", 1002, UVWS_EPROTO},
    {"reserved control opcode 0xB", 1002, UVWS_EPROTO},
    {"fragmented ping", 1002, UVWS_EPROTO},
    {"ping of 126 bytes", 1002, UVWS_EPROTO},
    {"continuation with nothing to continue", 1002, UVWS_EPROTO},
    {"new message inside a fragmented one", 1002, UVWS_EPROTO},
    {"close with a 1-byte body", 1002, UVWS_EPROTO},
    {"close code 1005", 1002, UVWS_EPROTO},
    {"close code 999", 1002, UVWS_EPROTO},
    {"close code 2999", 1002, UVWS_EPROTO},
    {"close reason not UTF-8", 1007, UVWS_EBADUTF8},
    {"over max_message_size, header only", 1009, UVWS_ETOOBIG},
    {"over max_message_size, 64-bit length", 1009, UVWS_ETOOBIG},
    {"fragments over max_message_size", 1009, UVWS_ETOOBIG},
    {"one byte over max_message_size", 1009, UVWS_ETOOBIG},
};
#define NV ((int)(sizeof(vrows) / sizeof(vrows[0])))

/* Appends a masked frame (or unmasked when mask is 0) to out. */
static size_t put(uint8_t *out, int fin, unsigned op, int mask,
                  const void *payload, size_t len) {
  size_t n;
  uint8_t *f = lb_frame(fin, op, mask ? lb_mask_key : NULL, payload, len, &n);
  memcpy(out, f, n);
  free(f);
  return n;
}

/* Appends only a masked header announcing len, then the first bytes of a
 * payload (masked from offset 0). */
static size_t put_partial(uint8_t *out, int fin, unsigned op, uint64_t len,
                          const void *first, size_t first_len) {
  size_t n = lb_frame_header(out, fin, op, lb_mask_key, len), i;
  for (i = 0; i < first_len; i++)
    out[n + i] = (uint8_t)(((const uint8_t *)first)[i] ^ lb_mask_key[i % 4]);
  return n + first_len;
}

static size_t vrow_bytes(int row, uint8_t *out) {
  static uint8_t big[2 * LIMIT];
  size_t n = 0;
  memset(big, 'b', sizeof(big));
  switch (row) {
  case 0:
    return put(out, 1, LB_OP_TEXT, 0, "hi", 2);
  case 1:
    return put(out, 1, LB_OP_TEXT, 1, "ok\xFF", 3);
  case 2: /* 900 bytes announced, only the first 3 sent */
    return put_partial(out, 1, LB_OP_TEXT, 900, "a\xC0\x80", 3);
  case 3:
    n = put(out, 0, LB_OP_TEXT, 1, "ab\xC3", 3);
    return n + put(out + n, 1, LB_OP_CONT, 1, "\x28", 1);
  case 4:
    return put(out, 1, LB_OP_TEXT, 1, "ab\xE2\x82", 4);
  case 5:
    n = put(out, 1, LB_OP_TEXT, 1, "x", 1);
    out[0] |= 0x40;
    return n;
  case 6:
    return put(out, 1, 3, 1, "x", 1);
  case 7:
    return put(out, 1, 0xB, 1, "x", 1);
  case 8:
    return put(out, 0, LB_OP_PING, 1, "x", 1);
  case 9:
    return put(out, 1, LB_OP_PING, 1, big, 126);
  case 10:
    return put(out, 1, LB_OP_CONT, 1, "x", 1);
  case 11:
    n = put(out, 0, LB_OP_TEXT, 1, "a", 1);
    return n + put(out + n, 1, LB_OP_TEXT, 1, "b", 1);
  case 12:
    return put(out, 1, LB_OP_CLOSE, 1, "\x03", 1);
  case 13:
    return put(out, 1, LB_OP_CLOSE, 1, "\x03\xED", 2);
  case 14:
    return put(out, 1, LB_OP_CLOSE, 1, "\x03\xE7", 2);
  case 15:
    return put(out, 1, LB_OP_CLOSE, 1, "\x0B\xB7", 2);
  case 16:
    return put(out, 1, LB_OP_CLOSE, 1, "\x03\xE8\xC3\x28", 4);
  case 17: /* 2000 bytes announced, 10 sent: no waiting for the rest */
    return put_partial(out, 1, LB_OP_BINARY, 2 * LIMIT, big, 10);
  case 18:
    return put_partial(out, 1, LB_OP_BINARY, (uint64_t)1 << 40, big, 10);
  case 19:
    n = put(out, 0, LB_OP_BINARY, 1, big, 600);
    return n + put_partial(out + n, 1, LB_OP_CONT, 600, big, 10);
  case 20:
    n = put(out, 1, LB_OP_BINARY, 1, big, LIMIT); /* exactly the limit: ok */
    return n + put_partial(out + n, 1, LB_OP_BINARY, LIMIT + 1, big, 10);
  default:
    CHECK(0);
    return 0;
  }
}

static void v_after_head(peer_t *p) {
  uint8_t out[4 * LIMIT];
  size_t n = vrow_bytes((int)(p - peers), out);
  lb_raw_write(&p->raw, out, n);
}

static void test_violations(void) {
  static peer_t ps[NV];
  static char targets[NV][16];
  uvws_server_options_t so = server_opts();
  int i;

  memset(ps, 0, sizeof(ps));
  so.limits.max_message_size = LIMIT;
  setup("protocol violations", &so, ps, NV, 15000);
  for (i = 0; i < NV; i++) {
    snprintf(targets[i], sizeof(targets[i]), "/v/%d", i);
    ps[i].name = vrows[i].name;
    ps[i].want_code = vrows[i].code;
    ps[i].want_err = vrows[i].err;
    peer_start(&ps[i], targets[i]);
    ps[i].after_head = v_after_head;
  }
  finish();

  for (i = 0; i < NV; i++) {
    peer_t *p = &ps[i];
    if (p->close_code != p->want_code || p->s_error != p->want_err ||
        p->s_code != p->want_code)
      fprintf(stderr,
              "row \"%s\": close frame %d, server error %s, "
              "on_close %d\n",
              p->name, p->close_code, uvws_err_name(p->s_error), p->s_code);
    /* The raw client read the close frame, then the server's FIN. */
    CHECK_EQ(p->close_code, p->want_code);
    CHECK_EQ(p->after_close, 0);
    CHECK_ERR(p->raw.read_err, UV_EOF);
    /* The server reported the failure, then closed with what it sent. */
    CHECK_ERR(p->s_error, p->want_err);
    CHECK_EQ(p->s_code, p->want_code);
    CHECK_EQ(p->s_clean, 0);
    CHECK_STR(p->s_reason, "");
  }
  /* Only the message of exactly max_message_size was delivered. */
  CHECK_EQ(S.message, 1);
  CHECK_EQ(ps[20].s_message, 1);
}

/* ----------------------------------------------------------------------- */
/* The raw client drops the connection after the handshake                  */

static void ab_after_head(peer_t *p) {
  lb_raw_close(&p->raw);
}

static void test_abrupt_raw(void) {
  static peer_t p;
  memset(&p, 0, sizeof(p));
  setup("raw client drops the connection", NULL, &p, 1, 15000);
  peer_start(&p, "/abrupt");
  p.after_head = ab_after_head;
  finish();
  CHECK(p.s_error < 0); /* UV_EOF or UV_ECONNRESET */
  CHECK_EQ(p.s_code, UVWS_CLOSE_ABNORMAL);
  CHECK_EQ(p.s_clean, 0);
  CHECK_EQ(p.s_message, 0);
}

/* ----------------------------------------------------------------------- */
/* Bytes in the handshake's segment, a ping, a clean close from the client */

static void seg_frame(peer_t *p, const lb_frame_t *f, const uint8_t *pl) {
  if (f->opcode == LB_OP_PONG) {
    /* Answered: now close, with a reason. */
    CHECK_EQ(p->s_message, 2);
    lb_raw_send_close(&p->raw, 4242, "raw bye");
  }
  (void)pl;
}

static void seg_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                          const char *data, size_t len) {
  peer_t *p = peer_of(conn);
  s_message(conn, type, data, len);
  if (p->s_message == 1) {
    CHECK_EQ(type, UVWS_TEXT);
    CHECK(len == 13 && memcmp(data, "same \xE2\x82\xAC segment", 13) == 0);
  } else {
    CHECK_EQ(p->s_message, 2);
    CHECK_EQ(type, UVWS_BINARY);
    CHECK_EQ(len, 300);
    CHECK(lb_payload_ok(data, len, 0, 3));
  }
}

static void test_same_segment(void) {
  static peer_t p;
  static uint8_t extra[512];
  uint8_t bin[300];
  uvws_server_options_t so = server_opts();
  size_t n;

  memset(&p, 0, sizeof(p));
  n = put(extra, 1, LB_OP_TEXT, 1, "same \xE2\x82\xAC segment", 13);
  lb_fill((char *)bin, sizeof(bin), 0, 3);
  n += put(extra + n, 0, LB_OP_BINARY, 1, bin, 100);
  n += put(extra + n, 1, LB_OP_PING, 1, "in-seg", 6);
  n += put(extra + n, 1, LB_OP_CONT, 1, bin + 100, 200);
  CHECK(n <= sizeof(extra));

  so.callbacks.on_message = seg_s_message;
  setup("frames in the handshake's segment", &so, &p, 1, 15000);

  p.extra = extra;
  p.extra_len = n;
  peer_start(&p, "/segment");
  p.on_frame = seg_frame;
  finish();

  CHECK_EQ(p.s_message, 2);
  CHECK_EQ(p.pongs, 1);
  CHECK(p.pong_len == 6 && memcmp(p.pong, "in-seg", 6) == 0);
  /* Clean close started by the client: the server echoed the code and
   * closed the TCP connection first (RFC 6455 7.1.1). */
  CHECK_EQ(p.close_code, 4242);
  CHECK_ERR(p.raw.read_err, UV_EOF);
  CHECK_EQ(p.s_error, 0);
  CHECK_EQ(p.s_code, 4242);
  CHECK_STR(p.s_reason, "raw bye");
  CHECK_EQ(p.s_clean, 1);
}

/* The same with a frame larger than max_header_size right behind the
 * request. */
static void big_seg_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                              const char *data, size_t len) {
  s_message(conn, type, data, len);
  CHECK_EQ(type, UVWS_BINARY);
  CHECK_EQ(len, 40000);
  CHECK(lb_payload_ok(data, len, 0, 4));
  CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void test_same_segment_large(void) {
  static peer_t p;
  uvws_server_options_t so = server_opts();
  char *bin = malloc(40000);
  size_t n;
  uint8_t *extra;

  CHECK(bin != NULL);
  lb_fill(bin, 40000, 0, 4);
  extra = lb_frame(1, LB_OP_BINARY, lb_mask_key, bin, 40000, &n);
  memset(&p, 0, sizeof(p));
  so.callbacks.on_message = big_seg_s_message;
  /* Lost bytes would leave the server waiting for the rest of the frame:
   * a short watchdog reports that. */
  setup("40000-byte frame in the handshake's segment", &so, &p, 1, 3000);
  p.extra = extra;
  p.extra_len = n;
  peer_start(&p, "/segment-large");
  finish();
  CHECK_EQ(p.s_message, 1);
  CHECK_EQ(p.s_clean, 1);
  free(extra);
  free(bin);
}

/* ----------------------------------------------------------------------- */
/* Close timeout: the raw client never answers the server's close frame     */

static void ct_s_open(uvws_conn_t *conn) {
  s_open(conn);
  CHECK_ERR(API(uvws_conn_close(conn, 1000, "bye", 3)), 0);
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSING);
}

static void test_close_timeout(void) {
  static peer_t p;
  uvws_server_options_t so = server_opts();
  double waited;

  memset(&p, 0, sizeof(p));
  so.callbacks.on_open = ct_s_open;
  so.limits.close_timeout_ms = 300;
  setup("close timeout", &so, &p, 1, 15000);
  peer_start(&p, "/close-timeout");
  p.answer_close = 0;
  finish();

  waited = p.s_closed_ms - p.s_opened_ms;
  fprintf(stderr, "  close timeout fired after %.0f ms\n", waited);
  CHECK(waited >= 250 && waited < 1000);
  CHECK_EQ(p.close_code, 1000);
  CHECK_STR(p.close_reason, "bye");
  CHECK_ERR(p.s_error, UVWS_ECLOSETIMEOUT);
  CHECK_EQ(p.s_code, UVWS_CLOSE_ABNORMAL);
  CHECK_EQ(p.s_clean, 0);
  CHECK(p.raw.read_err < 0); /* the server dropped the connection */
}

/* ----------------------------------------------------------------------- */
/* max_message_size seen through a uvws client                              */

static int lim_client_limited; /* 1: the client has the limit */
static struct { int open, message, error, close, code, clean, last_error; } Cs;
static uvws_conn_t *lim_sconn;

static void on_client_closed(uvws_client_t *c) {
  LB_NOT_IN_API();
  (void)c;
  client_closed++;
}

static void lim_s_open(uvws_conn_t *conn) {
  s_open(conn);
  lim_sconn = conn;
  if (lim_client_limited) {
    char big[LIMIT + 1];
    memset(big, 's', sizeof(big));
    CHECK_ERR(API(uvws_conn_send_binary(conn, big, LIMIT)), 0);
    CHECK_ERR(API(uvws_conn_send_binary(conn, big, LIMIT + 1)), 0);
  }
}

static void lim_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                          const char *data, size_t len) {
  s_message(conn, type, data, len);
  CHECK(!lim_client_limited);
  CHECK_EQ(len, LIMIT);
}

static void lim_c_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  Cs.open++;
  if (!lim_client_limited) {
    char big[2 * LIMIT];
    memset(big, 'c', sizeof(big));
    CHECK_ERR(API(uvws_conn_send_binary(conn, big, LIMIT)), 0);
    /* In three parts, so only the whole is too big. */
    CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_BINARY, big, 400, 0)), 0);
    CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_BINARY, big, 400, 0)), 0);
    CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_BINARY, big, 400, 1)), 0);
  }
}

static void lim_c_message(uvws_conn_t *conn, uvws_msg_type_t type,
                          const char *data, size_t len) {
  LB_NOT_IN_API();
  Cs.message++;
  CHECK(lim_client_limited);
  CHECK_EQ(len, LIMIT);
  (void)conn;
  (void)type;
  (void)data;
}

static void lim_c_error(uvws_conn_t *conn, int err) {
  LB_NOT_IN_API();
  Cs.error++;
  Cs.last_error = err;
  (void)conn;
}

static void lim_c_close(uvws_conn_t *conn, int code, const char *reason,
                        size_t len, int clean) {
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSED);
  Cs.close++;
  Cs.code = code;
  Cs.clean = clean;
  API_VOID(uvws_client_close(client, on_client_closed));
  (void)reason;
  (void)len;
}

static void run_limit(const char *name, int client_limited) {
  static peer_t p; /* holds the server side's record */
  uvws_server_options_t so = server_opts();
  uvws_client_options_t co;
  uvws_callbacks_t cc;
  char u[128];

  lim_client_limited = client_limited;
  memset(&Cs, 0, sizeof(Cs));
  memset(&p, 0, sizeof(p));
  p.target = "/limit";
  so.callbacks.on_open = lim_s_open;
  so.callbacks.on_message = lim_s_message;
  if (!client_limited)
    so.limits.max_message_size = LIMIT;
  setup(name, &so, &p, 1, 15000);
  memset(&co, 0, sizeof(co));
  if (client_limited)
    co.limits.max_message_size = LIMIT;
  CHECK_EQ(uvws_client_create(&L.loop, &co, &client), 0);
  client_closed = 0;
  memset(&cc, 0, sizeof(cc));
  cc.on_open = lim_c_open;
  cc.on_message = lim_c_message;
  cc.on_error = lim_c_error;
  cc.on_close = lim_c_close;
  CHECK_ERR(API(uvws_connect(client, lb_url(u, sizeof(u), port, "/limit"), NULL,
                             &cc, NULL, &(uvws_conn_t *){NULL})),
            0);
  lb_loop_run(&L);
  CHECK_EQ(server_closed, 1);
  CHECK_EQ(client_closed, 1);
  CHECK_EQ(Cs.open, 1);
  CHECK_EQ(Cs.close, 1);
  CHECK_EQ(p.s_open, 1);
  CHECK_EQ(p.s_close, 1);
  if (client_limited) {
    /* The client failed the connection with 1009; the server completed a
     * close handshake with it. */
    CHECK_EQ(Cs.message, 1);
    CHECK_EQ(Cs.error, 1);
    CHECK_ERR(Cs.last_error, UVWS_ETOOBIG);
    CHECK_EQ(Cs.code, 1009);
    CHECK_EQ(Cs.clean, 0);
    CHECK_EQ(p.s_error, 0);
    CHECK_EQ(p.s_code, 1009);
    CHECK_EQ(p.s_clean, 1);
  } else {
    CHECK_EQ(p.s_message, 1);
    CHECK_ERR(p.s_error, UVWS_ETOOBIG);
    CHECK_EQ(p.s_code, 1009);
    CHECK_EQ(p.s_clean, 0);
    CHECK_EQ(Cs.error, 0);
    CHECK_EQ(Cs.code, 1009);
    CHECK_EQ(Cs.clean, 1);
  }
}

static void test_limits_via_client(void) {
  run_limit("1009 from the server, seen by a client", 0);
  run_limit("1009 from the client", 1);
}

int main(void) {
  lb_setup();
  test_violations();
  test_abrupt_raw();
  test_same_segment();
  test_close_timeout();
  test_limits_via_client();
  test_same_segment_large();
  return 0;
}

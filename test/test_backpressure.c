/* bufferedAmount and on_drain over 127.0.0.1: a uvws server sends 64 MiB
 * to a raw TCP client that has stopped reading, then the reader resumes;
 * a nocopy send cancelled while its write is in flight; and a uvws client
 * sending with a per-connection low-water mark. */
#include "loopback_util.h"

#define MiB ((size_t)1024 * 1024)
#define LOW_WATER MiB
#define NFIRST 32  /* sent from on_open */
#define NSECOND 32 /* sent while the reader is paused */
#define NTOTAL (NFIRST + NSECOND)

static lb_loop_t L;
static uvws_server_t *server;
static uvws_client_t *client;
static int port;
static int server_closed, client_closed;
static char *msgbuf; /* one message, refilled for each send */

static struct {
  int open, message, error, close, drain;
  int code, clean, last_error;
  uvws_conn_t *conn;
  size_t max_buffered;
} S, C;

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

/* Sends message i (1 MiB, binary, its own pattern) and checks that
 * bufferedAmount grew by exactly its payload: no frame header counted,
 * nothing written in between. */
static void send_one(uvws_conn_t *conn, int i) {
  size_t before = uvws_conn_buffered_amount(conn), after;
  lb_fill(msgbuf, MiB, 0, (unsigned)i);
  CHECK_ERR(API(uvws_conn_send_binary(conn, msgbuf, MiB)), 0);
  after = uvws_conn_buffered_amount(conn);
  CHECK_EQ(after - before, MiB);
}

/* ----------------------------------------------------------------------- */
/* A raw reader that checks frames as they stream in                        */

#define NCX_LEN (16 * MiB) /* the nocopy test's one message */

static lb_raw_t raw;
static struct {
  int got_head;
  int in_frame;
  lb_frame_t f;
  uint64_t off;
  int messages;   /* whole 1 MiB messages read and checked */
  int close_code; /* -1 until the close frame */
  int after_close;
  int verify; /* check payload bytes */
  int paused;
  void (*after_head)(void);
} rd;

/* Reads frames from raw.in and drops what it has read, so that 64 MiB
 * stream through a small buffer. */
static void rd_frames(void) {
  size_t pos = 0;
  while (pos < raw.len) {
    const uint8_t *in = (const uint8_t *)raw.in;
    if (!rd.in_frame) {
      size_t h = lb_frame_parse_header(in + pos, raw.len - pos, &rd.f);
      if (h == 0)
        break;
      CHECK(!rd.f.masked);
      if (rd.close_code != -1)
        rd.after_close++;
      if (rd.f.opcode == LB_OP_CLOSE) {
        if (raw.len - pos - h < rd.f.len)
          break; /* wait for the whole close frame */
        CHECK(rd.f.len >= 2);
        rd.close_code = in[pos + h] << 8 | in[pos + h + 1];
        pos += h + (size_t)rd.f.len;
        lb_raw_send_close(&raw, (unsigned)rd.close_code, NULL);
        continue;
      }
      CHECK_EQ(rd.f.opcode, LB_OP_BINARY);
      CHECK(rd.f.fin);
      CHECK_EQ(rd.f.len, rd.verify ? MiB : NCX_LEN);
      rd.in_frame = 1;
      rd.off = 0;
      pos += h;
      continue;
    }
    {
      size_t n = raw.len - pos, i;
      if (n > rd.f.len - rd.off)
        n = (size_t)(rd.f.len - rd.off);
      if (rd.verify) {
        for (i = 0; i < n; i++) {
          if (in[pos + i] != lb_bin_byte((unsigned)rd.messages, rd.off + i)) {
            fprintf(stderr, "message %d, byte %llu differs\n", rd.messages,
                    (unsigned long long)(rd.off + i));
            CHECK(0 && "wrong byte");
          }
        }
      }
      rd.off += n;
      pos += n;
      if (rd.off == rd.f.len) {
        rd.messages++;
        rd.in_frame = 0;
      }
    }
  }
  lb_raw_consume(&raw, pos);
}

static void rd_read(lb_raw_t *r) {
  if (!rd.got_head) {
    size_t n = lb_head_len(r->in, r->len);
    if (n == 0)
      return;
    CHECK(strncmp(r->in, "HTTP/1.1 101 ", 13) == 0);
    lb_raw_consume(r, n);
    rd.got_head = 1;
    rd.after_head();
    if (rd.paused)
      return; /* what was read with the head waits in r->in */
  }
  rd_frames();
}

static void rd_connected(lb_raw_t *r) {
  char *req = lb_request("/", port, NULL);
  lb_raw_write_str(r, req);
  free(req);
}

static void rd_start(void (*after_head)(void)) {
  memset(&rd, 0, sizeof(rd));
  rd.close_code = -1;
  rd.verify = 1;
  rd.after_head = after_head;
  lb_raw_init(&raw, &L.loop);
  raw.on_read = rd_read;
  lb_raw_connect(&raw, "127.0.0.1", port, rd_connected);
}

/* ----------------------------------------------------------------------- */
/* 64 MiB to a paused reader                                                */

static uv_timer_t pause_timer;
static int resumed;
static int phase;

static void bp_s_open(uvws_conn_t *conn) {
  int i;
  LB_NOT_IN_API();
  S.open++;
  S.conn = conn;
  CHECK_EQ(uvws_conn_buffered_amount(conn), 0);
  for (i = 0; i < NFIRST; i++)
    send_one(conn, i);
  CHECK_EQ(uvws_conn_buffered_amount(conn), NFIRST * MiB);
}

static void bp_s_drain(uvws_conn_t *conn) {
  size_t b = uvws_conn_buffered_amount(conn);
  LB_NOT_IN_API();
  CHECK(resumed);
  CHECK(b <= LOW_WATER);
  S.drain++;
  CHECK_EQ(S.drain, 1);
  /* Everything sent so far is before this close. */
  CHECK_ERR(API(uvws_conn_close(conn, 1000, "drained", 7)), 0);
}

static void bp_s_error(uvws_conn_t *conn, int err) {
  LB_NOT_IN_API();
  S.error++;
  S.last_error = err;
  (void)conn;
}

static void bp_s_close(uvws_conn_t *conn, int code, const char *reason,
                       size_t len, int clean) {
  LB_NOT_IN_API();
  CHECK_EQ(uvws_conn_ready_state(conn), UVWS_CLOSED);
  S.close++;
  S.code = code;
  S.clean = clean;
  API_VOID(uvws_server_close(server, on_server_closed));
  (void)reason;
  (void)len;
}

static void bp_pause_tick(uv_timer_t *t) {
  size_t b = uvws_conn_buffered_amount(S.conn);
  int i;

  CHECK_EQ(S.drain, 0);
  if (phase == 0) {
    /* Still paused: what the kernel took may already be subtracted, but
     * no more than its socket buffers hold. */
    fprintf(stderr, "  paused: bufferedAmount %zu of %zu\n", b, NFIRST * MiB);
    CHECK(b <= NFIRST * MiB && b >= (NFIRST - 8) * MiB);
    for (i = NFIRST; i < NTOTAL; i++)
      send_one(S.conn, i);
    b = uvws_conn_buffered_amount(S.conn);
    CHECK(b <= NTOTAL * MiB && b >= (NTOTAL - 8) * MiB);
    phase = 1;
    CHECK_EQ(uv_timer_start(t, bp_pause_tick, 100, 0), 0);
    return;
  }
  fprintf(stderr, "  paused: bufferedAmount %zu of %zu\n", b, NTOTAL * MiB);
  CHECK(b <= NTOTAL * MiB && b >= (NTOTAL - 8) * MiB);
  S.max_buffered = b;
  resumed = 1;
  rd.paused = 0;
  lb_raw_read_start(&raw);
  rd_frames(); /* what was read before the pause */
  uv_close((uv_handle_t *)t, NULL);
}

static void bp_after_head(void) {
  rd.paused = 1;
  lb_raw_read_stop(&raw);
  CHECK_EQ(uv_timer_start(&pause_timer, bp_pause_tick, 200, 0), 0);
}

static void test_paused_reader(void) {
  uvws_server_options_t so;

  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = bp_s_open;
  so.callbacks.on_error = bp_s_error;
  so.callbacks.on_close = bp_s_close;
  so.callbacks.on_drain = bp_s_drain;
  so.limits.drain_low_water = LOW_WATER;
  memset(&S, 0, sizeof(S));
  server_closed = 0;
  resumed = 0;
  phase = 0;

  lb_loop_init(&L, "64 MiB to a paused reader", 20000);
  CHECK_EQ(uv_timer_init(&L.loop, &pause_timer), 0);
  server = lb_server(&L.loop, &so, &port);
  rd_start(bp_after_head);
  lb_loop_run(&L);

  CHECK_EQ(server_closed, 1);
  CHECK_EQ(S.open, 1);
  CHECK_EQ(S.drain, 1);
  CHECK_EQ(S.error, 0);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(S.code, 1000);
  CHECK_EQ(S.clean, 1);
  /* All 64 messages arrived whole and in order, then the close. */
  CHECK_EQ(rd.messages, NTOTAL);
  CHECK_EQ(rd.close_code, 1000);
  CHECK_EQ(rd.after_close, 0);
  CHECK_ERR(raw.read_err, UV_EOF);
}

/* ----------------------------------------------------------------------- */
/* A nocopy send whose write is in flight when the connection ends          */

static char *ncx_buf;
static int ncx_calls, ncx_status;

static void ncx_cb(uvws_conn_t *conn, void *arg, int status) {
  LB_NOT_IN_API();
  CHECK(arg == &ncx_calls);
  CHECK_EQ(S.close, 0); /* before on_close */
  ncx_calls++;
  ncx_status = status;
  (void)conn;
}

static void ncx_s_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  S.open++;
  S.conn = conn;
  CHECK_ERR(API(uvws_conn_send_nocopy(conn, UVWS_BINARY, ncx_buf, NCX_LEN,
                                      ncx_cb, &ncx_calls)),
            0);
  CHECK_EQ(uvws_conn_buffered_amount(conn), NCX_LEN);
}

static void ncx_tick(uv_timer_t *t) {
  /* The write has started (part of it is in the kernel) and is stuck. */
  CHECK_EQ(ncx_calls, 0);
  CHECK_EQ(uvws_conn_buffered_amount(S.conn), NCX_LEN);
  send_one(S.conn, 0); /* queued behind it, dropped with it */
  API_VOID(uvws_conn_terminate(S.conn));
  CHECK_EQ(ncx_calls, 0);
  rd.verify = 0;
  rd.paused = 0;
  lb_raw_read_start(&raw); /* drain the socket to see the end */
  uv_close((uv_handle_t *)t, NULL);
}

static void ncx_after_head(void) {
  rd.paused = 1;
  lb_raw_read_stop(&raw);
  CHECK_EQ(uv_timer_start(&pause_timer, ncx_tick, 100, 0), 0);
}

static void test_nocopy_in_flight(void) {
  uvws_server_options_t so;

  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = ncx_s_open;
  so.callbacks.on_error = bp_s_error;
  so.callbacks.on_close = bp_s_close;
  memset(&S, 0, sizeof(S));
  server_closed = 0;
  ncx_calls = 0;
  ncx_status = 1;
  ncx_buf = malloc(NCX_LEN);
  CHECK(ncx_buf != NULL);
  lb_fill(ncx_buf, NCX_LEN, 0, 0);

  lb_loop_init(&L, "nocopy cancelled in flight", 20000);
  CHECK_EQ(uv_timer_init(&L.loop, &pause_timer), 0);
  server = lb_server(&L.loop, &so, &port);
  rd_start(ncx_after_head);
  lb_loop_run(&L);

  CHECK_EQ(server_closed, 1);
  CHECK_EQ(ncx_calls, 1);
  CHECK_ERR(ncx_status, UV_ECANCELED);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(S.code, UVWS_CLOSE_ABNORMAL);
  CHECK_EQ(S.error, 0);
  CHECK(raw.read_err < 0);
  CHECK(rd.messages < 1); /* the 16 MiB message never arrived whole */
  free(ncx_buf);
}

/* ----------------------------------------------------------------------- */
/* A uvws client with a per-connection low-water mark                       */

#define CN 16
#define C_LOW (4 * MiB)

static void cl_c_open(uvws_conn_t *conn) {
  int i;
  LB_NOT_IN_API();
  C.open++;
  for (i = 0; i < CN; i++)
    send_one(conn, i);
  CHECK_EQ(uvws_conn_buffered_amount(conn), CN * MiB);
}

static void cl_c_drain(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  CHECK(uvws_conn_buffered_amount(conn) <= C_LOW);
  C.drain++;
  CHECK_EQ(C.drain, 1);
  /* Below the mark: no second drain for these. */
  CHECK_ERR(API(uvws_conn_send_text(conn, "small", 5)), 0);
  CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
}

static void cl_c_close(uvws_conn_t *conn, int code, const char *reason,
                       size_t len, int clean) {
  LB_NOT_IN_API();
  C.close++;
  C.code = code;
  C.clean = clean;
  if (S.close == 1) {
    API_VOID(uvws_server_close(server, on_server_closed));
    API_VOID(uvws_client_close(client, on_client_closed));
  }
  (void)conn;
  (void)reason;
  (void)len;
}

static void cl_s_message(uvws_conn_t *conn, uvws_msg_type_t type,
                         const char *data, size_t len) {
  LB_NOT_IN_API();
  if (S.message < CN) {
    CHECK_EQ(type, UVWS_BINARY);
    CHECK_EQ(len, MiB);
    CHECK(lb_payload_ok(data, len, 0, (unsigned)S.message));
  } else {
    CHECK_EQ(S.message, CN);
    CHECK(len == 5 && memcmp(data, "small", 5) == 0);
  }
  S.message++;
  (void)conn;
}

static void cl_s_close(uvws_conn_t *conn, int code, const char *reason,
                       size_t len, int clean) {
  LB_NOT_IN_API();
  S.close++;
  S.code = code;
  S.clean = clean;
  CHECK_EQ(S.message, CN + 1);
  if (C.close == 1) {
    API_VOID(uvws_server_close(server, on_server_closed));
    API_VOID(uvws_client_close(client, on_client_closed));
  }
  (void)conn;
  (void)reason;
  (void)len;
}

static void test_client_low_water(void) {
  uvws_server_options_t so;
  uvws_connect_options_t o;
  uvws_limits_t lim;
  uvws_callbacks_t cc;
  char u[128];

  memset(&so, 0, sizeof(so));
  so.callbacks.on_message = cl_s_message;
  so.callbacks.on_error = bp_s_error;
  so.callbacks.on_close = cl_s_close;
  memset(&cc, 0, sizeof(cc));
  cc.on_open = cl_c_open;
  cc.on_drain = cl_c_drain;
  cc.on_close = cl_c_close;
  memset(&lim, 0, sizeof(lim));
  lim.drain_low_water = C_LOW;
  memset(&o, 0, sizeof(o));
  o.limits = &lim;
  memset(&S, 0, sizeof(S));
  memset(&C, 0, sizeof(C));
  server_closed = client_closed = 0;

  lb_loop_init(&L, "client drain, per-connection mark", 20000);
  server = lb_server(&L.loop, &so, &port);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  CHECK_ERR(API(uvws_connect(client, lb_url(u, sizeof(u), port, "/"), &o, &cc,
                             NULL, &(uvws_conn_t *){NULL})),
            0);
  lb_loop_run(&L);
  CHECK_EQ(server_closed, 1);
  CHECK_EQ(client_closed, 1);
  CHECK_EQ(C.open, 1);
  CHECK_EQ(C.drain, 1);
  CHECK_EQ(C.close, 1);
  CHECK_EQ(C.code, 1000);
  CHECK_EQ(C.clean, 1);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(S.clean, 1);
  CHECK_EQ(S.error, 0);
}

int main(void) {
  lb_setup();
  msgbuf = malloc(MiB);
  CHECK(msgbuf != NULL);
  test_paused_reader();
  test_nocopy_in_flight();
  test_client_low_water();
  free(msgbuf);
  return 0;
}

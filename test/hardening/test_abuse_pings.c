/* Ping floods against a uvws server, from raw TCP clients on 127.0.0.1.
 *
 *  - A peer that reads: 10,000 pings of 125 bytes, each with its number.
 *    uvws answers every ping (RFC 6455 5.5.3 would let it answer only the
 *    most recent one), so exactly 10,000 pongs come back, in order, each
 *    with its ping's payload, and the connection stays open.
 *  - A peer that never reads: it writes 48 MiB of pings as fast as the
 *    server takes them. Pongs are not application data, so they do not
 *    count in bufferedAmount; what the server holds is then the pongs it
 *    could not write, and it must stop taking pings (stop reading) rather
 *    than hold an answer to each. The test measures how much of the flood
 *    the server took while the peer read nothing.
 *    The server stops reading once about 1 MiB of pongs waits to be
 *    written, so what it takes stays bounded.
 *    Afterwards the peer reads, and every pong must still arrive. */
#include "hard_util.h"

#define MiB ((size_t)1024 * 1024)

static lb_loop_t L;
static uvws_server_t *server;
static int port;
static struct {
  int open, error, close, code, clean, last_error;
} S;

static void s_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  S.open++;
  (void)conn;
}

static void s_error(uvws_conn_t *conn, int err) {
  S.error++;
  S.last_error = err;
  (void)conn;
}

static void s_close(uvws_conn_t *conn, int code, const char *reason,
                    size_t len, int clean) {
  LB_NOT_IN_API();
  S.close++;
  S.code = code;
  S.clean = clean;
  (void)conn;
  (void)reason;
  (void)len;
  API_VOID(uvws_server_close(server, NULL));
}

static void start(const char *name, size_t max_buffered) {
  uvws_server_options_t so;
  memset(&so, 0, sizeof(so));
  memset(&S, 0, sizeof(S));
  so.callbacks.on_open = s_open;
  so.callbacks.on_error = s_error;
  so.callbacks.on_close = s_close;
  so.limits.max_buffered = max_buffered;
  lb_loop_init(&L, name, 60000);
  server = lb_server(&L.loop, &so, &port);
}

/* A ping's 125-byte payload for number i. */
static void ping_payload(uint8_t *b, uint32_t i) {
  int k;
  for (k = 0; k < 125; k++)
    b[k] = (uint8_t)(i >> (8 * (k % 4)) ^ (uint8_t)k);
}

/* 125-byte pings first .. first + count - 1, masked, into one buffer. */
static uint8_t *pings(uint32_t first, uint32_t count, size_t *len) {
  uint8_t *b = malloc((size_t)count * 131), *q = b, pl[125];
  uint32_t i;
  int k;
  CHECK(b != NULL);
  for (i = 0; i < count; i++) {
    q += lb_frame_header(q, 1, LB_OP_PING, lb_mask_key, 125);
    ping_payload(pl, first + i);
    for (k = 0; k < 125; k++)
      *q++ = pl[k] ^ lb_mask_key[k % 4];
  }
  *len = (size_t)(q - b);
  return b;
}

/* ----------------------------------------------------------------------- */
/* 10,000 pings, read                                                      */

#define NPINGS 10000

static hard_peer_t P;
static uint32_t next_pong;

static void check_pong(hard_peer_t *p, const lb_frame_t *f,
                       const uint8_t *pl) {
  uint8_t want[125];
  if (f->opcode != LB_OP_PONG)
    return;
  CHECK_EQ(f->len, 125);
  ping_payload(want, next_pong);
  CHECK(memcmp(pl, want, 125) == 0);
  next_pong++;
  if (next_pong == NPINGS)
    lb_raw_send_close(&p->raw, 1000, NULL);
}

static void read_flood_head(hard_peer_t *p) {
  uint8_t *b;
  size_t len;
  CHECK_EQ(p->status, 101);
  /* In 100 writes of 100 pings. */
  for (uint32_t i = 0; i < NPINGS; i += 100) {
    b = pings(i, 100, &len);
    lb_raw_write(&p->raw, b, len);
    free(b);
  }
}

static void test_read_flood(void) {
  start("10,000 pings, read: 10,000 pongs", 0);
  memset(&P, 0, sizeof(P));
  next_pong = 0;
  P.answer_close = 1;
  P.after_head = read_flood_head;
  P.on_frame = check_pong;
  hard_peer_start(&P, &L.loop, port);
  lb_loop_run(&L);
  CHECK_EQ(next_pong, NPINGS);
  CHECK_EQ(P.pongs, NPINGS);
  CHECK_EQ(P.close_code, 1000);
  CHECK_EQ(S.open, 1);
  CHECK_EQ(S.close, 1);
  CHECK_EQ(S.error, 0);
  CHECK_EQ(S.clean, 1);
}

/* ----------------------------------------------------------------------- */
/* A flood that is never read                                              */

#define FLOOD (48 * MiB)
#define CHUNK_PINGS 8000 /* about 1 MiB per write */

static struct {
  uv_timer_t t;
  uint32_t written; /* pings handed to uv_write */
  uint32_t total;
  size_t last_queue;
  int still; /* ticks without progress */
  int reading;
  uint64_t started;
  size_t taken; /* bytes of pings the server took while nothing was read */
} N;

static void unread_tick(uv_timer_t *t) {
  size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&P.raw.tcp);
  /* Keep 8 MiB queued in the peer until all is written. */
  while (N.written < N.total && q < 8 * MiB) {
    size_t len;
    uint32_t n = N.total - N.written < CHUNK_PINGS ? N.total - N.written
                                                   : CHUNK_PINGS;
    uint8_t *b = pings(N.written, n, &len);
    lb_raw_write(&P.raw, b, len);
    free(b);
    N.written += n;
    q = uv_stream_get_write_queue_size((uv_stream_t *)&P.raw.tcp);
  }
  if (q != 0 && q == N.last_queue)
    N.still++;
  else
    N.still = 0;
  N.last_queue = q;
  /* Everything taken, or nothing moved for half a second: the server has
   * stopped reading (kernel buffers are full). */
  if ((N.written == N.total && q == 0) || N.still >= 25) {
    N.taken = (size_t)N.written * 131 - q;
    N.reading = 1;
    fprintf(stderr, "    server took %.1f MiB of %.1f MiB of pings unread "
            "(%.0f ms)\n", (double)N.taken / MiB,
            (double)N.total * 131 / MiB,
            (double)(uv_hrtime() - N.started) / 1e6);
    lb_raw_read_start(&P.raw);
    uv_close((uv_handle_t *)t, NULL);
  }
}

static void unread_head(hard_peer_t *p) {
  CHECK_EQ(p->status, 101);
  lb_raw_read_stop(&p->raw);
  N.started = uv_hrtime();
  CHECK_EQ(uv_timer_start(&N.t, unread_tick, 0, 20), 0);
}

static void test_unread_flood(void) {
  size_t bound = 24 * MiB;
  start("48 MiB of pings never read", MiB);
  memset(&N, 0, sizeof(N));
  N.total = (uint32_t)(FLOOD / 131);
  CHECK_EQ(uv_timer_init(&L.loop, &N.t), 0);
  memset(&P, 0, sizeof(P));
  next_pong = 0;
  P.answer_close = 1;
  P.after_head = unread_head;
  P.on_frame = NULL;
  hard_peer_start(&P, &L.loop, port);
  /* Read the pongs once the flood is in: all of them must come. */
  while (!N.reading)
    CHECK(uv_run(&L.loop, UV_RUN_ONCE) != 0);
  /* Then the rest of the flood, read as it goes. */
  while (N.written < N.total) {
    size_t len;
    uint32_t n = N.total - N.written < CHUNK_PINGS ? N.total - N.written
                                                   : CHUNK_PINGS;
    uint8_t *b = pings(N.written, n, &len);
    lb_raw_write(&P.raw, b, len);
    free(b);
    N.written += n;
  }
  while (P.pongs < (int)N.total && !P.eof)
    CHECK(uv_run(&L.loop, UV_RUN_ONCE) != 0);
  CHECK_EQ(P.pongs, (int)N.total);
  lb_raw_send_close(&P.raw, 1000, NULL);
  lb_loop_run(&L);
  CHECK_EQ(S.error, 0);
  CHECK_EQ(S.close, 1);
  if (N.taken > bound)
    fprintf(stderr,
            "    the server took %.1f MiB of pings from a peer that read "
            "nothing (bound %.0f MiB): it holds a pong for each\n",
            (double)N.taken / MiB, (double)bound / MiB);
  CHECK(N.taken <= bound);
}

int main(void) {
  lb_setup();
  test_read_flood();
  test_unread_flood();
  printf("test_abuse_pings: all passed\n");
  return 0;
}

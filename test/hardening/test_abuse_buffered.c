/* bufferedAmount ceilings (limits.max_buffered) and their three policies,
 * against peers that do not read.
 *
 *  - UVWS_BUFFERED_PAUSE, measured from outside: hard_server (an echo
 *    server in its own process, max_buffered 1 MiB) and a raw client that
 *    sends 64 MiB in 64 KiB messages and reads nothing. The server must
 *    stop reading once 1 MiB of echoes waits: its resident memory stays
 *    within a margin of where it started, its bufferedAmount never passes
 *    1 MiB by more than what one read can bring, and it takes little of
 *    the 64 MiB. Then the client reads: every echo arrives, in order and
 *    intact, and the rest of the 64 MiB flows through.
 *  - UVWS_BUFFERED_REFUSE: sends that would pass 1 MiB fail with
 *    UVWS_EBUFFERFULL and leave bufferedAmount as it was; the connection
 *    lives on, on_drain comes once the kernel has taken the bytes, and
 *    sends work again; the reader gets exactly the accepted messages.
 *  - UVWS_BUFFERED_CLOSE: the send that passes 1 MiB is queued, then the
 *    connection closes with 1008 after it; later sends fail with
 *    UVWS_ESTATE. */
#include "hard_util.h"

#define KiB ((size_t)1024)
#define MiB (KiB * KiB)

static lb_loop_t L;

/* ----------------------------------------------------------------------- */
/* PAUSE, against hard_server                                              */

#define MSG (64 * KiB)
#define NMSG 1024 /* 64 MiB */

static hard_child_t child;
static hard_peer_t P;
static struct {
  uv_timer_t t;
  int sent;     /* messages handed to uv_write */
  int echoed;   /* echoes read and checked */
  size_t last_queue;
  int still;
  int reading;
  size_t taken;
  long rss_start, rss_paused;
  uint8_t *frame; /* one masked message frame, rewritten per index */
  size_t frame_len;
  uint64_t off;   /* bytes of the current echo checked */
} B;

/* Byte k of message i's payload. */
static uint8_t pay(int i, size_t k) {
  return (uint8_t)(k * 31 + (size_t)i * 7 + (k >> 8));
}

static void write_msg(int i) {
  size_t h, k;
  h = lb_frame_header(B.frame, 1, LB_OP_BINARY, lb_mask_key, MSG);
  for (k = 0; k < MSG; k++)
    B.frame[h + k] = pay(i, k) ^ lb_mask_key[k % 4];
  lb_raw_write(&P.raw, B.frame, h + MSG);
}

static void echo_frame(hard_peer_t *p, const lb_frame_t *f,
                       const uint8_t *pl) {
  size_t k;
  (void)p;
  if (f->opcode != LB_OP_BINARY)
    return;
  CHECK_EQ(f->len, MSG);
  CHECK(f->fin);
  for (k = 0; k < MSG; k++)
    if (pl[k] != pay(B.echoed, k)) {
      fprintf(stderr, "echo %d byte %zu differs\n", B.echoed, k);
      CHECK(0 && "echo differs");
    }
  B.echoed++;
}

static void pause_tick(uv_timer_t *t) {
  size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&P.raw.tcp);
  while (B.sent < NMSG && q < 8 * MiB) {
    write_msg(B.sent++);
    q = uv_stream_get_write_queue_size((uv_stream_t *)&P.raw.tcp);
  }
  if (B.reading) {
    if (B.sent == NMSG && B.echoed == NMSG) {
      lb_raw_send_close(&P.raw, 1000, NULL);
      uv_close((uv_handle_t *)t, NULL);
    }
    return;
  }
  if (q != 0 && q == B.last_queue)
    B.still++;
  else
    B.still = 0;
  B.last_queue = q;
  if (B.still >= 25 || (B.sent == NMSG && q == 0)) {
    /* Nothing has moved for half a second: the server stopped reading. */
    B.taken = (size_t)B.sent * (MSG + 14) - q;
    B.rss_paused = hard_rss_kb(child.pid);
    B.reading = 1;
    lb_raw_read_start(&P.raw);
  }
}

static void pause_head(hard_peer_t *p) {
  CHECK_EQ(p->status, 101);
  lb_raw_read_stop(&p->raw);
  B.rss_start = hard_rss_kb(child.pid);
  CHECK_EQ(uv_timer_start(&B.t, pause_tick, 0, 20), 0);
}

static void test_pause(void) {
  static const char *const args[] = {"--max-buffered", "1048576", "--policy",
                                     "pause", NULL};
  /* A small quarantine, so that resident memory follows what the server
   * holds rather than what AddressSanitizer keeps of what it freed. */
  static const char *const env[] = {
      "ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=4", NULL};
  const char *stats;
  long grow_kb, maxb;

  lb_loop_init(&L, "PAUSE: 64 MiB to an echo server, unread", 120000);
  hard_child_start(&child, &L.loop, args, env);
  memset(&B, 0, sizeof(B));
  B.frame = malloc(MSG + 14);
  CHECK(B.frame != NULL);
  CHECK_EQ(uv_timer_init(&L.loop, &B.t), 0);
  memset(&P, 0, sizeof(P));
  P.after_head = pause_head;
  P.on_frame = echo_frame;
  hard_peer_start(&P, &L.loop, child.port);
  while (P.close_code == -1 && !P.eof)
    uv_run(&L.loop, UV_RUN_ONCE);
  CHECK_EQ(P.close_code, 1000);
  CHECK_EQ(B.echoed, NMSG);
  stats = hard_child_stats(&child);
  fprintf(stderr, "    %s\n", stats);
  grow_kb = B.rss_paused - B.rss_start;
  maxb = hard_stat(stats, "max_buffered");
  fprintf(stderr,
          "    unread: server took %.1f MiB of %.1f MiB sent; its RSS %ld KiB "
          "-> %ld KiB (%+ld KiB); max bufferedAmount %ld\n",
          (double)B.taken / MiB, (double)B.sent * MSG / MiB, B.rss_start,
          B.rss_paused, grow_kb, maxb);
  /* bufferedAmount passes the limit by at most what one 64 KiB read
   * brings in (its messages are echoed before reading stops) and one
   * message. */
  CHECK(maxb > 0 && (size_t)maxb <= MiB + 2 * MSG + 64 * KiB);
  /* The server's memory: 1 MiB of echoes, one read buffer, and margin for
   * allocator and sanitizer bookkeeping; far from 64 MiB. */
  CHECK(grow_kb < 24 * 1024);
  /* What it took beyond that sits in kernel socket buffers. */
  CHECK(B.taken < 40 * MiB);
  CHECK_EQ(hard_child_stop(&child), 0);
  CHECK_EQ(hard_stat(child.stats, "open"), 1);
  CHECK_EQ(hard_stat(child.stats, "close"), 1);
  CHECK_EQ(hard_stat(child.stats, "message"), NMSG);
  free(B.frame);
  lb_loop_run(&L);
}

/* ----------------------------------------------------------------------- */
/* REFUSE and CLOSE, in process                                            */

static uvws_server_t *server;
static int port;
static char *msgbuf;
static struct {
  int policy;
  int accepted[2]; /* sends accepted in round 0 (on_open) and 1 (drain) */
  int refused;
  int drains;
  int closes, code, clean, errors;
  int estate; /* a send after the CLOSE limit failed with UVWS_ESTATE */
} R;

static int send_until_refused(uvws_conn_t *conn, int round) {
  int n = 0, r;
  for (;;) {
    size_t before = uvws_conn_buffered_amount(conn);
    lb_fill(msgbuf, MSG, 0, (unsigned)(round * 1000 + n));
    r = API(uvws_conn_send_binary(conn, msgbuf, MSG));
    if (r == UVWS_EBUFFERFULL) {
      CHECK_EQ(uvws_conn_buffered_amount(conn), before);
      CHECK(before + MSG > MiB);
      R.refused++;
      return n;
    }
    if (R.policy == UVWS_BUFFERED_CLOSE && r == UVWS_ESTATE) {
      R.estate = 1;
      return n;
    }
    CHECK_ERR(r, 0);
    n++;
    CHECK(n <= 64);
  }
}

static void r_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  R.accepted[0] = send_until_refused(conn, 0);
}

static void r_drain(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  R.drains++;
  if (R.drains == 1) {
    R.accepted[1] = send_until_refused(conn, 1);
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
  }
}

static void r_error(uvws_conn_t *conn, int err) {
  (void)conn;
  (void)err;
  R.errors++;
}

static void r_close(uvws_conn_t *conn, int code, const char *reason,
                    size_t len, int clean) {
  LB_NOT_IN_API();
  (void)conn;
  (void)reason;
  (void)len;
  R.closes++;
  R.code = code;
  R.clean = clean;
  API_VOID(uvws_server_close(server, NULL));
}

/* The reader: waits 200 ms, then reads and checks every message. */
static hard_peer_t RP;
static uv_timer_t rp_timer;
static int rp_round, rp_index;

static void rp_frame(hard_peer_t *p, const lb_frame_t *f, const uint8_t *pl) {
  (void)p;
  if (f->opcode != LB_OP_BINARY)
    return;
  CHECK_EQ(f->len, MSG);
  if (rp_index == R.accepted[rp_round] && rp_round == 0) {
    rp_round = 1;
    rp_index = 0;
  }
  CHECK(lb_payload_ok((const char *)pl, MSG, 0,
                      (unsigned)(rp_round * 1000 + rp_index)));
  rp_index++;
}

static void rp_go(uv_timer_t *t) {
  lb_raw_read_start(&RP.raw);
  uv_close((uv_handle_t *)t, NULL);
}

static void rp_head(hard_peer_t *p) {
  CHECK_EQ(p->status, 101);
  lb_raw_read_stop(&p->raw);
  CHECK_EQ(uv_timer_start(&rp_timer, rp_go, 200, 0), 0);
}

static void policy_case(const char *name, int policy) {
  uvws_server_options_t so;
  memset(&so, 0, sizeof(so));
  memset(&R, 0, sizeof(R));
  R.policy = policy;
  so.callbacks.on_open = r_open;
  so.callbacks.on_drain = r_drain;
  so.callbacks.on_error = r_error;
  so.callbacks.on_close = r_close;
  so.limits.max_buffered = MiB;
  so.limits.buffered_policy = (uvws_buffered_policy_t)policy;
  lb_loop_init(&L, name, 30000);
  server = lb_server(&L.loop, &so, &port);
  CHECK_EQ(uv_timer_init(&L.loop, &rp_timer), 0);
  rp_round = rp_index = 0;
  memset(&RP, 0, sizeof(RP));
  RP.answer_close = 1;
  RP.after_head = rp_head;
  RP.on_frame = rp_frame;
  hard_peer_start(&RP, &L.loop, port);
  lb_loop_run(&L);
}

static void test_refuse_and_close(void) {
  msgbuf = malloc(MSG);
  CHECK(msgbuf != NULL);

  policy_case("REFUSE at 1 MiB: EBUFFERFULL, then on_drain", 1);
  /* Sends within the limit are taken: 16 of 64 KiB make 1 MiB exactly. */
  CHECK_EQ(R.accepted[0], 16);
  CHECK_EQ(R.accepted[1], 16);
  CHECK_EQ(R.refused, 2);
  CHECK(R.drains >= 1);
  CHECK_EQ(R.errors, 0);
  CHECK_EQ(R.closes, 1);
  CHECK_EQ(R.clean, 1);
  CHECK_EQ(RP.messages, 32);
  CHECK_EQ(RP.close_code, 1000);

  policy_case("CLOSE at 1 MiB: 1008 after what was queued", 2);
  /* The 17th send passes the limit: it is queued, then the close. */
  CHECK_EQ(R.accepted[0], 17);
  CHECK(R.estate);
  CHECK_EQ(R.refused, 0);
  CHECK_EQ(R.closes, 1);
  CHECK_EQ(R.code, 1008);
  CHECK_EQ(RP.messages, 17);
  CHECK_EQ(RP.close_code, 1008);
  CHECK_STR(RP.close_reason, "buffer full");
  free(msgbuf);
}

int main(void) {
  lb_setup();
  test_pause();
  test_refuse_and_close();
  printf("test_abuse_buffered: all passed\n");
  return 0;
}

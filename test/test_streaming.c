/* Streaming on 127.0.0.1, in both memory directions.
 *
 *  - One 256 MiB binary message from a uvws server to a client that
 *    receives it through on_chunk (max_message_size raised to 512 MiB):
 *    the server sends it in 1 MiB parts with uvws_conn_send_fragment(),
 *    one more whenever on_drain says bufferedAmount is low, so neither side
 *    ever holds the message. Every byte is checked against a deterministic
 *    pattern, and the process's peak RSS must stay within 64 MiB of what it
 *    was before. Again with permessage-deflate (the pieces arrive
 *    inflated).
 *  - A message sent in parts with pings between them, both ways, text and
 *    binary, with and without permessage-deflate: each ping is answered
 *    (on_pong at the sender) before the next part goes, other messages are
 *    refused with UVWS_EINFRAGMENT until the last part, and the receiver
 *    gets the message whole, once, after the last part.
 *
 * Under AddressSanitizer the RSS still tells: its shadow memory is an
 * eighth of what the heap touches, and the quarantine of freed blocks
 * (256 MiB by default, which alone would hide the difference) is kept at
 * 4 MiB here. With it, the transfer adds about 3 MiB to the peak; a message
 * held whole would add 256 MiB. */
#include <sys/resource.h>

#include "client_util.h"

#if CU_ASAN
/* Read by AddressSanitizer at start-up; ASAN_OPTIONS still overrides it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "quarantine_size_mb=4:thread_local_quarantine_size_kb=64";
}
#endif

static lb_loop_t L;
static uvws_client_t *client;
static uvws_server_t *server;
static const uvws_deflate_options_t deflate_on = {0};
static const uvws_deflate_options_t *deflate;

static int client_closes, server_closes, errors;

/* The 256 MiB transfer's state. */
static struct {
  size_t sent, received, chunks, max_chunk, max_buffered;
  int last_seen;
  char *part;
  uvws_conn_t *sender;
  uv_timer_t progress;
  size_t progress_sent;
  int stalled_ticks;
  int progress_on;
} big;

static void any_error(uvws_conn_t *conn, int err) {
  LB_NOT_IN_API();
  fprintf(stderr, "unexpected error on the %s side: %s\n",
          uvws_conn_is_client(conn) ? "client" : "server", uvws_err_name(err));
  errors++;
}

static void any_close(uvws_conn_t *conn, int code, const char *reason,
                      size_t len, int clean) {
  LB_NOT_IN_API();
  CHECK_EQ(code, 1000);
  CHECK_EQ(clean, 1);
  if (uvws_conn_is_client(conn)) {
    if (big.progress_on) {
      big.progress_on = 0;
      uv_close((uv_handle_t *)&big.progress, NULL);
    }
    client_closes++;
    API_VOID(uvws_client_close(client, NULL));
  } else {
    server_closes++;
    API_VOID(uvws_server_close(server, NULL));
  }
}

static void check_extensions(uvws_conn_t *conn) {
  if (deflate)
    CHECK(strncmp(uvws_conn_extensions(conn), "permessage-deflate", 18) == 0);
  else
    CHECK_STR(uvws_conn_extensions(conn), "");
}

/* ----------------------------------------------------------------------- */
/* 256 MiB through on_chunk                                                */

#define BIG_TOTAL ((size_t)256 << 20)
#define BIG_PART ((size_t)1 << 20)
#define BIG_LOW_WATER ((size_t)1 << 20)
#define RSS_LIMIT_KIB (64L * 1024)

/* Byte off of the big message; changes every byte and every 512 bytes, so
 * a lost, repeated or reordered piece shows. */
static inline uint8_t big_byte(size_t off) {
  return (uint8_t)(off * 7u + (off >> 9) * 13u + (off >> 20));
}

static void big_produce(uvws_conn_t *conn) {
  size_t i, n, b;
  while (big.sent < BIG_TOTAL &&
         uvws_conn_buffered_amount(conn) <= BIG_LOW_WATER) {
    n = BIG_TOTAL - big.sent < BIG_PART ? BIG_TOTAL - big.sent : BIG_PART;
    for (i = 0; i < n; i++)
      big.part[i] = (char)big_byte(big.sent + i);
    CHECK_ERR(API(uvws_conn_send_fragment(conn, UVWS_BINARY, big.part, n,
                                          big.sent + n == BIG_TOTAL)),
              0);
    big.sent += n;
    b = uvws_conn_buffered_amount(conn);
    if (b > big.max_buffered)
      big.max_buffered = b;
  }
}

/* Fails at once, rather than at the watchdog, when the producer waits for
 * an on_drain that does not come. */
static void big_progress(uv_timer_t *t) {
  size_t b;
  if (big.sender == NULL || big.sent == BIG_TOTAL) {
    big.stalled_ticks = 0;
    return;
  }
  b = uvws_conn_buffered_amount(big.sender);
  if (big.sent != big.progress_sent || b > BIG_LOW_WATER) {
    big.progress_sent = big.sent;
    big.stalled_ticks = 0;
    return;
  }
  if (++big.stalled_ticks == 3) {
    fprintf(stderr,
            "sender stalled at %zu bytes: bufferedAmount %zu is at or below "
            "drain_low_water %zu, yet on_drain was not called\n",
            big.sent, b, BIG_LOW_WATER);
    CHECK(0 && "no on_drain");
  }
}

static void big_server_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  check_extensions(conn);
  big.sender = conn;
  big_produce(conn);
}

static void big_drain(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  big_produce(conn);
}

static void big_chunk(uvws_conn_t *conn, uvws_msg_type_t type, const char *data,
                      size_t len, int is_last) {
  const uint8_t *p = (const uint8_t *)data;
  size_t i, off = big.received;
  LB_NOT_IN_API();
  CHECK(!big.last_seen);
  CHECK_EQ(type, UVWS_BINARY);
  CHECK(big.received + len <= BIG_TOTAL);
  for (i = 0; i < len; i++)
    if (p[i] != big_byte(off + i)) {
      fprintf(stderr, "byte %zu is %u, expected %u\n", off + i, p[i],
              big_byte(off + i));
      CHECK(0 && "wrong byte");
    }
  big.received += len;
  big.chunks++;
  if (len > big.max_chunk)
    big.max_chunk = len;
  if (is_last) {
    big.last_seen = 1;
    CHECK_EQ(big.received, BIG_TOTAL);
    CHECK_EQ(big.sent, BIG_TOTAL);
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
  }
}

static void big_client_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  check_extensions(conn);
}

static void big_message(uvws_conn_t *conn, uvws_msg_type_t type,
                        const char *data, size_t len) {
  CHECK(0 && "on_message with on_chunk set");
}

static long peak_kib(void) {
  long hwm = cu_status_kib("VmHWM");
  struct rusage ru;
  if (hwm >= 0)
    return hwm;
  CHECK_EQ(getrusage(RUSAGE_SELF, &ru), 0);
  return ru.ru_maxrss;
}

static void test_big(void) {
  static const uvws_callbacks_t ccbs = {big_client_open, big_message, any_error,
                                        any_close,       NULL,        NULL,
                                        big_chunk};
  uvws_server_options_t so;
  uvws_client_options_t co;
  uvws_connect_options_t o;
  uvws_conn_t *conn;
  long base, peak;
  char url[64];
  int port;

  lb_loop_init(&L,
               deflate ? "256 MiB through on_chunk, deflate"
                       : "256 MiB through on_chunk",
               60000);
  memset(&big, 0, sizeof(big));
  client_closes = server_closes = errors = 0;
  big.part = malloc(BIG_PART);
  CHECK(big.part != NULL);
  memset(big.part, 0, BIG_PART);

  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = big_server_open;
  so.callbacks.on_error = any_error;
  so.callbacks.on_close = any_close;
  so.callbacks.on_drain = big_drain;
  so.limits.drain_low_water = BIG_LOW_WATER;
  server = lb_server(&L.loop, &so, &port);
  memset(&co, 0, sizeof(co));
  co.limits.max_message_size = (size_t)512 << 20;
  CHECK_EQ(uvws_client_create(&L.loop, &co, &client), 0);
  memset(&o, 0, sizeof(o));
  o.deflate = deflate;

  /* The peak is measured from here. */
  if (cu_reset_peak_rss() != 0)
    fprintf(stderr, "    note: cannot reset the peak RSS; measuring from "
                    "the start of the process\n");
  base = cu_status_kib("VmRSS");
  if (base < 0)
    base = peak_kib();

  CHECK_ERR(API(uvws_connect(client, lb_url(url, sizeof(url), port, "/"), &o,
                             &ccbs, NULL, &conn)),
            0);
  CHECK_EQ(uv_timer_init(&L.loop, &big.progress), 0);
  CHECK_EQ(uv_timer_start(&big.progress, big_progress, 1000, 1000), 0);
  big.progress_on = 1;
  lb_loop_run(&L);
  peak = peak_kib();
  free(big.part);

  CHECK_EQ(errors, 0);
  CHECK_EQ(client_closes, 1);
  CHECK_EQ(server_closes, 1);
  CHECK_EQ(big.received, BIG_TOTAL);
  CHECK(big.last_seen);
  fprintf(stderr,
          "    %zu pieces of at most %zu KiB; sender's queue at most %zu KiB;"
          " RSS %ld MiB before, peak %ld MiB (+%ld MiB)\n",
          big.chunks, big.max_chunk / 1024, big.max_buffered / 1024,
          base / 1024, peak / 1024, (peak - base) / 1024);
  /* The sender never queued much more than a part over the low water. */
  CHECK(big.max_buffered <= BIG_LOW_WATER + 2 * BIG_PART);
  CHECK(peak - base < RSS_LIMIT_KIB);
}

/* ----------------------------------------------------------------------- */
/* A message in parts with pings between them                              */

#define NPARTS 6

static struct {
  int sender_is_client;
  uvws_msg_type_t type;
  const char *parts[NPARTS];
  size_t lens[NPARTS];
  char *whole;
  size_t whole_len;
  uvws_conn_t *sender, *receiver;
  int next, pongs, messages;
} fr;

/* Sends part fr.next; between parts, a ping whose pong sends the next. */
static void fr_send_next(void) {
  int k = fr.next++;
  char ping[16];
  CHECK_ERR(API(uvws_conn_send_fragment(fr.sender, fr.type, fr.parts[k],
                                        fr.lens[k], k == NPARTS - 1)),
            0);
  if (k == NPARTS - 1) {
    /* The message is finished: whole messages go again. */
    CHECK_ERR(API(uvws_conn_send_text(fr.sender, "after", 5)), 0);
    return;
  }
  CHECK_ERR(API(uvws_conn_send_text(fr.sender, "x", 1)), UVWS_EINFRAGMENT);
  CHECK_ERR(API(uvws_conn_send_binary(fr.sender, "x", 1)), UVWS_EINFRAGMENT);
  snprintf(ping, sizeof(ping), "ping %d", k);
  CHECK_ERR(API(uvws_conn_ping(fr.sender, ping, strlen(ping))), 0);
}

static void fr_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  check_extensions(conn);
  if (uvws_conn_is_client(conn) == fr.sender_is_client) {
    fr.sender = conn;
    fr_send_next();
  } else {
    fr.receiver = conn;
  }
}

static void fr_pong(uvws_conn_t *conn, const char *data, size_t len) {
  char want[16];
  LB_NOT_IN_API();
  CHECK(conn == fr.sender);
  snprintf(want, sizeof(want), "ping %d", fr.pongs);
  CHECK_EQ(len, strlen(want));
  CHECK(memcmp(data, want, len) == 0);
  fr.pongs++;
  /* The receiver has had the first parts, but no message yet. */
  CHECK_EQ(fr.messages, 0);
  fr_send_next();
}

static void fr_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  LB_NOT_IN_API();
  CHECK(conn == fr.receiver);
  if (fr.messages++ == 0) {
    /* Whole, after every ping was answered and the last part sent. */
    CHECK_EQ(fr.pongs, NPARTS - 1);
    CHECK_EQ(fr.next, NPARTS);
    CHECK_EQ(type, fr.type);
    CHECK_EQ(len, fr.whole_len);
    CHECK(len == 0 || memcmp(data, fr.whole, len) == 0);
  } else {
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, 5);
    CHECK(memcmp(data, "after", 5) == 0);
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
  }
}

static void run_fragments(int sender_is_client, uvws_msg_type_t type) {
  static const uvws_callbacks_t cbs = {fr_open,   fr_message, any_error,
                                       any_close, NULL,       fr_pong};
  static const char *const text[NPARTS] = {"frag-", "h\xC3",        "\xA9",
                                           "",      "llo \xE2\x82", "\xAC!"};
  static const size_t bin_lens[NPARTS] = {1, 70000, 0, 65536, 125, 200000};
  uvws_server_options_t so;
  uvws_connect_options_t o;
  uvws_conn_t *conn;
  char url[64], name[128], *bin = NULL;
  size_t off = 0;
  int port, k;

  snprintf(name, sizeof(name), "%s parts with pings, %s%s",
           type == UVWS_TEXT ? "text" : "binary",
           sender_is_client ? "client to server" : "server to client",
           deflate ? ", deflate" : "");
  lb_loop_init(&L, name, 15000);
  memset(&fr, 0, sizeof(fr));
  client_closes = server_closes = errors = 0;
  fr.sender_is_client = sender_is_client;
  fr.type = type;
  for (k = 0; k < NPARTS; k++)
    fr.whole_len += type == UVWS_TEXT ? strlen(text[k]) : bin_lens[k];
  fr.whole = malloc(fr.whole_len + 1);
  CHECK(fr.whole != NULL);
  if (type == UVWS_BINARY) {
    bin = malloc(fr.whole_len);
    CHECK(bin != NULL);
    lb_fill(bin, fr.whole_len, 0, 7);
  }
  for (k = 0; k < NPARTS; k++) {
    fr.lens[k] = type == UVWS_TEXT ? strlen(text[k]) : bin_lens[k];
    fr.parts[k] = type == UVWS_TEXT ? text[k] : bin + off;
    memcpy(fr.whole + off, fr.parts[k], fr.lens[k]);
    off += fr.lens[k];
  }

  memset(&so, 0, sizeof(so));
  so.callbacks = cbs;
  server = lb_server(&L.loop, &so, &port);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  memset(&o, 0, sizeof(o));
  o.deflate = deflate;
  CHECK_ERR(API(uvws_connect(client, lb_url(url, sizeof(url), port, "/"), &o,
                             &cbs, NULL, &conn)),
            0);
  lb_loop_run(&L);
  free(fr.whole);
  free(bin);
  CHECK_EQ(errors, 0);
  CHECK_EQ(fr.pongs, NPARTS - 1);
  CHECK_EQ(fr.messages, 2);
  CHECK_EQ(client_closes, 1);
  CHECK_EQ(server_closes, 1);
}

static void test_fragments(void) {
  run_fragments(1, UVWS_TEXT);
  run_fragments(1, UVWS_BINARY);
  run_fragments(0, UVWS_TEXT);
  run_fragments(0, UVWS_BINARY);
}

int main(void) {
  lb_setup();
  /* The big transfers first, before anything else grew the heap. */
  deflate = NULL;
  test_big();
  deflate = &deflate_on;
  test_big();
  deflate = NULL;
  test_fragments();
  deflate = &deflate_on;
  test_fragments();
  return 0;
}

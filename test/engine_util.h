/* The receiving engine's case harness, shared by test_proto.c and
 * test_deflate.c: a case is input built frame by frame, then fed to a fresh
 * engine whole, one byte at a time, and split in two (and, when short, in
 * three) at every position; the events and the result must be what the
 * case expects, and the same every way.
 *
 * Include after test.h. Before including, a test may define
 * ENGINE_INPUT_SIZE (the largest input, 1 MiB unless defined) and
 * ENGINE_THREE_PARTS_MAX (inputs up to this many bytes are also split in
 * three at every pair of positions; 300 unless defined). It may set
 * engine_stream_mode (the engine hands over messages in pieces, joined here
 * so that every case expects the same events), and engine_before and
 * engine_after, called on each engine after uvws__proto_init() and after
 * uvws__proto_free() (to turn permessage-deflate on and free it, for
 * one). */
#ifndef UVWS_TEST_ENGINE_UTIL_H
#define UVWS_TEST_ENGINE_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "proto.h"

#ifndef ENGINE_INPUT_SIZE
#define ENGINE_INPUT_SIZE (1 << 20)
#endif
#ifndef ENGINE_THREE_PARTS_MAX
#define ENGINE_THREE_PARTS_MAX 300
#endif

/* ---- building input ---------------------------------------------------- */

static uint8_t input[ENGINE_INPUT_SIZE];
static size_t input_len;

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a frame. masked: as a client sends. announced: a length other
 * than the payload's to put in the header (0 = use n). */
static inline void frame_ex(int fin, unsigned rsv, unsigned op, int masked,
                            const void *payload, size_t n, uint64_t announced) {
  uint8_t *out = input + input_len;
  size_t h;
  CHECK(input_len + UVWS__MAX_HEADER + n <= sizeof(input));
  h = uvws__frame_encode(out, fin, rsv, op, announced ? announced : n,
                         masked ? key : NULL);
  if (n)
    memcpy(out + h, payload, n);
  if (masked)
    uvws__mask(out + h, out + h, n, key, 0);
  input_len += h + n;
}

static inline void frame(int fin, unsigned op, int masked, const char *s) {
  frame_ex(fin, 0, op, masked, s, strlen(s), 0);
}

/* Appends bytes as they are. */
static inline void raw(const void *p, size_t n) {
  CHECK(input_len + n <= sizeof(input));
  memcpy(input + input_len, p, n);
  input_len += n;
}

/* ---- recording events -------------------------------------------------- */

static char log_buf[8192];
static size_t log_len;

static void logf_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_len +=
      (size_t)vsnprintf(log_buf + log_len, sizeof(log_buf) - log_len, fmt, ap);
  va_end(ap);
  CHECK(log_len < sizeof(log_buf));
}

/* Payloads are logged by length and FNV-1a hash, plus the bytes when short. */
static void log_payload(const char *d, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (uint8_t)d[i]) * 16777619u;
  if (n <= 16)
    logf_("%zu:%.*s", n, (int)n, d);
  else
    logf_("%zu:%08x", n, h);
}

/* Builds an expected event from the bytes that were sent, in the log's
 * format, independently of the engine. Returns a static string that is
 * appended to by each call until want_reset(). */
static char want_buf[4096];
static inline const char *want(const char *kind, const void *d, size_t n) {
  size_t saved = log_len;
  static char tmp[sizeof(log_buf)];
  memcpy(tmp, log_buf, saved + 1);
  log_len = 0;
  logf_("%s(", kind);
  log_payload(d, n);
  logf_(") ");
  strncat(want_buf, log_buf, sizeof(want_buf) - strlen(want_buf) - 1);
  memcpy(log_buf, tmp, saved + 1);
  log_len = saved;
  return want_buf;
}
static inline void want_reset(void) {
  want_buf[0] = '\0';
}

static int engine_stream_mode;
/* Payload read into uvws__proto_read_place() wherever the engine offers a
 * place, as the transport does for large frames. */
static int engine_placed_mode;
static char joined[ENGINE_INPUT_SIZE];

/* The largest reassembly buffer the engine held in the case being run
 * (it is released when a message is done). */
static size_t seen_cap;
static void note_cap(const uvws__proto_t *p) {
  if (p->part != NULL && p->part->msg.cap > seen_cap)
    seen_cap = p->part->msg.cap;
}

static void on_message(uvws__proto_t *p, unsigned op, const char *d, size_t n) {
  note_cap(p);
  (void)p;
  /* In streaming mode whole messages come only through on_chunk. */
  CHECK(!engine_stream_mode || d == joined);
  logf_("%s(", op == UVWS__OP_TEXT ? "text" : "binary");
  log_payload(d, n);
  logf_(") ");
}

static void on_ping(uvws__proto_t *p, const char *d, size_t n) {
  (void)p;
  logf_("ping(");
  log_payload(d, n);
  logf_(") ");
}

static void on_pong(uvws__proto_t *p, const char *d, size_t n) {
  (void)p;
  logf_("pong(");
  log_payload(d, n);
  logf_(") ");
}

static void on_close(uvws__proto_t *p, unsigned code, const char *r, size_t n) {
  (void)p;
  logf_("close(%u:%.*s) ", code, (int)n, r);
}

/* Streaming mode: pieces are joined here and logged as one message, so
 * every case expects the same events in both modes. */
static size_t joined_len;
static unsigned joined_op;

static void on_chunk(uvws__proto_t *p, unsigned op, const char *d, size_t n,
                     int last) {
  CHECK(engine_stream_mode);
  CHECK(joined_len == 0 || op == joined_op);
  CHECK(joined_len + n <= sizeof(joined));
  if (n)
    memcpy(joined + joined_len, d, n);
  joined_len += n;
  joined_op = op;
  if (last) {
    on_message(p, op, joined, joined_len);
    joined_len = 0;
  }
}

static const uvws__proto_cbs_t cbs = {.on_message = on_message,
                                      .on_ping = on_ping,
                                      .on_pong = on_pong,
                                      .on_close = on_close,
                                      .on_chunk = on_chunk};

/* ---- running a case ---------------------------------------------------- */

static void (*engine_before)(uvws__proto_t *p);
static void (*engine_after)(void);

static uint8_t work[sizeof(input)];

typedef struct {
  char events[8192];
  long result;   /* last feed's return: bytes or error */
  unsigned code; /* fail code */
  size_t consumed;
} outcome_t;

/* Feeds input in pieces cut at the given positions (sorted, < input_len). */
static void run(int from_client, size_t max, const size_t *cuts, size_t ncuts,
                outcome_t *o) {
  uvws__proto_t p;
  size_t start = 0;

  memcpy(work, input, input_len); /* the engine unmasks in place */
  log_len = 0;
  log_buf[0] = '\0';
  uvws__proto_init(&p, &uvws__libc_allocator, &cbs, from_client, max);
  seen_cap = 0;
  p.stream = (uint8_t)engine_stream_mode;
  joined_len = 0;
  if (engine_before)
    engine_before(&p);
  o->result = 0;
  o->consumed = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : input_len;
    long r = 0;
    char *place;
    size_t room;
    while (engine_placed_mode && start < end &&
           (place = uvws__proto_read_place(&p, 1, &room)) != NULL) {
      size_t k = room < end - start ? room : end - start;
      memcpy(place, work + start, k);
      r = uvws__proto_feed_placed(&p, k);
      note_cap(&p);
      if (r < 0)
        break;
      o->consumed += k;
      start += k;
    }
    if (r >= 0 && start < end) {
      r = uvws__proto_feed(&p, (char *)work + start, end - start);
      note_cap(&p);
      if (r >= 0)
        o->consumed += (size_t)r;
    }
    o->result = r;
    if (r < 0)
      break;
    if (start + (size_t)r < end)
      break; /* a close frame ended the input */
    start = end;
  }
  o->code = p.state == UVWS__PS_FAILED ? p.fail_code : 0;
  if (o->result >= 0)
    o->result = 0; /* compare errors, not piece sizes */
  memcpy(o->events, log_buf, log_len + 1);
  /* Sticky: a failed engine keeps failing. */
  if (p.state == UVWS__PS_FAILED) {
    char b = 0;
    CHECK_EQ(uvws__proto_feed(&p, &b, 1), p.fail_err);
  }
  /* The reassembly buffer never outgrew the limit by more than a byte. */
  if (max)
    CHECK(seen_cap <= (max > 256 * 1024 ? max : 256 * 1024) + 1);
  uvws__proto_free(&p);
  if (engine_after)
    engine_after();
}

static void same(const outcome_t *a, const outcome_t *b, const char *name,
                 const char *how) {
  /* After an error, how much earlier pieces consumed depends on the cuts. */
  int used_differs = a->result >= 0 && a->consumed != b->consumed;
  if (strcmp(a->events, b->events) != 0 || a->result != b->result ||
      a->code != b->code || used_differs) {
    fprintf(stderr,
            "%s: fed %s differs:\n  whole: [%s] r=%ld code=%u used=%zu\n"
            "  split: [%s] r=%ld code=%u used=%zu\n",
            name, how, a->events, a->result, a->code, a->consumed, b->events,
            b->result, b->code, b->consumed);
    abort();
  }
}

static int ncases;

/* Checks the case fed whole against the expectation (events, and the close
 * code the engine failed with, 0 for none), then every split; empties the
 * input for the next case. */
static void engine_expect(const char *name, int from_client, size_t max,
                          const char *events, unsigned code) {
  static outcome_t whole, split;
  static size_t cuts[sizeof(input)];
  size_t i, j;

  run(from_client, max, NULL, 0, &whole);
  if (strcmp(whole.events, events) != 0 || whole.code != code) {
    fprintf(stderr, "%s:\n  want [%s] code %u\n  got  [%s] code %u\n", name,
            events, code, whole.events, whole.code);
    abort();
  }

  /* One byte at a time. */
  for (i = 1; i < input_len; i++)
    cuts[i - 1] = i;
  run(from_client, max, cuts, input_len ? input_len - 1 : 0, &split);
  same(&whole, &split, name, "one byte at a time");

  /* Every two-part split (and three-part for short inputs). Long inputs,
   * whose every boundary the bytewise run already crossed, are cut at their
   * first and last 64 bytes and at a stride between. */
  for (i = 1; i < input_len; i++) {
    if (input_len > 4096 && i > 64 && i < input_len - 64 && i % 251 != 0)
      continue;
    cuts[0] = i;
    run(from_client, max, cuts, 1, &split);
    same(&whole, &split, name, "in two parts");
    if (input_len <= ENGINE_THREE_PARTS_MAX) {
      for (j = i + 1; j < input_len; j++) {
        cuts[1] = j;
        run(from_client, max, cuts, 2, &split);
        same(&whole, &split, name, "in three parts");
      }
    }
  }
  input_len = 0;
  ncases++;
}

#endif

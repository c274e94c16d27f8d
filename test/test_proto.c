/* The receiving engine, case by case. Every case is fed whole, one byte at a
 * time, and split in two at every position; each way must give the same
 * events and the same result. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "proto.h"
#include "test.h"
#include "uvws_errno.h"

/* ---- building input ---------------------------------------------------- */

static uint8_t input[1 << 20];
static size_t input_len;

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a frame. masked: as a client sends. len_override: announce a
 * length other than the payload's (0 = use n). */
static void frame_ex(int fin, unsigned rsv, unsigned op, int masked,
                     const void *payload, size_t n, uint64_t announced) {
  uint8_t *out = input + input_len;
  size_t h = uvws__frame_encode(out, fin, rsv, op, announced ? announced : n,
                                masked ? key : NULL);
  if (n)
    memcpy(out + h, payload, n);
  if (masked)
    uvws__mask(out + h, out + h, n, key, 0);
  input_len += h + n;
}

static void frame(int fin, unsigned op, int masked, const char *s) {
  frame_ex(fin, 0, op, masked, s, strlen(s), 0);
}

static void raw(const void *p, size_t n) {
  memcpy(input + input_len, p, n);
  input_len += n;
}

/* ---- recording events -------------------------------------------------- */

static char log_buf[8192];
static size_t log_len;

static void logf_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_len += (size_t)vsnprintf(log_buf + log_len, sizeof(log_buf) - log_len,
                               fmt, ap);
  va_end(ap);
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
static const char *want(const char *kind, const char *d, size_t n) {
  size_t saved = log_len;
  char tmp[sizeof(log_buf)];
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
static void want_reset(void) {
  want_buf[0] = '\0';
}

static int stream_mode;
static int placed_mode; /* payload read into uvws__proto_read_place() */
static char joined[1 << 20];

static void on_message(uvws__proto_t *p, unsigned op, const char *d,
                       size_t n) {
  (void)p;
  /* In streaming mode whole messages come only through on_chunk. */
  CHECK(!stream_mode || d == joined);
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

static void on_close(uvws__proto_t *p, unsigned code, const char *r,
                     size_t n) {
  (void)p;
  logf_("close(%u:%.*s) ", code, (int)n, r);
}

/* Streaming mode: pieces are joined here and logged as one message, so
 * every case expects the same events in both modes. */
static size_t joined_len;
static unsigned joined_op;

static void on_chunk(uvws__proto_t *p, unsigned op, const char *d, size_t n,
                     int last) {
  CHECK(stream_mode);
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

static const uvws__proto_cbs_t cbs = {on_message, on_ping, on_pong, on_close,
                                      on_chunk};

/* ---- running a case ---------------------------------------------------- */

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
  p.stream = (uint8_t)stream_mode;
  joined_len = 0;
  o->result = 0;
  o->consumed = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : input_len;
    long r = 0;
    char *place;
    size_t room;
    /* As a transport does: payload read straight into the engine's
     * reassembly buffer wherever it offers a place. */
    while (placed_mode && start < end &&
           (place = uvws__proto_read_place(&p, 1, &room)) != NULL) {
      size_t k = room < end - start ? room : end - start;
      memcpy(place, work + start, k);
      r = uvws__proto_feed_placed(&p, k);
      if (r < 0)
        break;
      o->consumed += k;
      start += k;
    }
    if (r >= 0 && start < end) {
      r = uvws__proto_feed(&p, (char *)work + start, end - start);
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
  uvws__proto_free(&p);
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

/* Checks the case fed whole against the expectation, then every split. */
static void expect(const char *name, int from_client, size_t max,
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
    if (input_len <= 300) {
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

/* ---- cases ------------------------------------------------------------- */

static char big[70000];

static void test_data_frames(void) {
  frame(1, UVWS__OP_TEXT, 1, "Hello");
  expect("masked text", 1, 0, "text(5:Hello) ", 0);

  frame(1, UVWS__OP_TEXT, 0, "Hello");
  expect("unmasked text to a client", 0, 0, "text(5:Hello) ", 0);

  frame(1, UVWS__OP_BINARY, 1, "");
  expect("empty binary", 1, 0, "binary(0:) ", 0);

  frame(1, UVWS__OP_TEXT, 1, "");
  expect("empty text", 1, 0, "text(0:) ", 0);

  /* RFC 6455 5.7 samples. */
  raw("\x81\x05\x48\x65\x6c\x6c\x6f", 7);
  expect("RFC 5.7 unmasked Hello", 0, 0, "text(5:Hello) ", 0);
  raw("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  expect("RFC 5.7 masked Hello", 1, 0, "text(5:Hello) ", 0);
  raw("\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f", 9);
  expect("RFC 5.7 fragmented", 0, 0, "text(5:Hello) ", 0);
  raw("\x89\x05\x48\x65\x6c\x6c\x6f", 7);
  expect("RFC 5.7 ping", 0, 0, "ping(5:Hello) ", 0);

  /* Length encodings at their edges: 7-bit, 16-bit and 64-bit. */
  for (size_t i = 0; i < sizeof(big); i++)
    big[i] = (char)('a' + i % 26);
  frame_ex(1, 0, UVWS__OP_BINARY, 1, big, 125, 0);
  frame_ex(1, 0, UVWS__OP_BINARY, 1, big, 126, 0);
  frame_ex(1, 0, UVWS__OP_TEXT, 1, big, 127, 0);
  want_reset();
  want("binary", big, 125);
  want("binary", big, 126);
  expect("125, 126, 127", 1, 0, want("text", big, 127), 0);

  frame_ex(1, 0, UVWS__OP_BINARY, 1, big, 65535, 0);
  frame_ex(1, 0, UVWS__OP_BINARY, 1, big, 65536, 0);
  want_reset();
  want("binary", big, 65535);
  /* Splitting 130 KiB in three at every pair of bytes would be slow; the
   * whole, one-byte and two-part runs still cover every boundary. */
  expect("65535 and 65536", 1, 0, want("binary", big, 65536), 0);

  /* Many whole messages in one read, of every length around the word and
   * vector steps of unmasking, text and binary alternating. */
  {
    const char *w = NULL;
    want_reset();
    for (size_t n = 0; n <= 70; n++) {
      frame_ex(1, 0, n % 2 ? UVWS__OP_TEXT : UVWS__OP_BINARY, 1, big, n, 0);
      w = want(n % 2 ? "text" : "binary", big, n);
    }
    expect("lengths 0 to 70 back to back", 1, 0, w, 0);
  }

  /* A whole message right after a fragmented one that had a ping inside. */
  frame(0, UVWS__OP_BINARY, 1, "ab");
  frame(1, UVWS__OP_PING, 1, "p");
  frame(1, UVWS__OP_CONT, 1, "cd");
  frame(1, UVWS__OP_TEXT, 1, "next");
  expect("whole message after a fragmented one", 1, 0,
         "ping(1:p) binary(4:abcd) text(4:next) ", 0);

  /* A 16-bit length field used for a short payload is accepted (RFC 6455
   * asks for the minimal encoding but receivers need not enforce it). */
  raw("\x82\x7e\x00\x03xyz", 7);
  expect("non-minimal length", 0, 0, "binary(3:xyz) ", 0);
}

static void test_fragments(void) {
  frame(0, UVWS__OP_TEXT, 1, "Hel");
  frame(1, UVWS__OP_PING, 1, "p");
  frame(0, UVWS__OP_CONT, 1, "");
  frame(1, UVWS__OP_PONG, 1, "q");
  frame(1, UVWS__OP_CONT, 1, "lo");
  frame(1, UVWS__OP_BINARY, 1, "after");
  expect("fragments with control frames between", 1, 0,
         "ping(1:p) pong(1:q) text(5:Hello) binary(5:after) ", 0);

  /* A character split across fragments is fine... */
  frame(0, UVWS__OP_TEXT, 1, "\xe2\x82");
  frame(1, UVWS__OP_CONT, 1, "\xac");
  expect("euro sign across fragments", 1, 0, "text(3:\xe2\x82\xac) ", 0);

  /* ...but not one left unfinished at the end of the message. */
  frame(0, UVWS__OP_TEXT, 1, "ok");
  frame(1, UVWS__OP_CONT, 1, "\xe2\x82");
  expect("message ends inside a character", 1, 0, "", 1007);

  frame(0, UVWS__OP_BINARY, 1, "");
  frame(0, UVWS__OP_CONT, 1, "");
  frame(1, UVWS__OP_CONT, 1, "");
  expect("empty fragments", 1, 0, "binary(0:) ", 0);
}

static void test_control(void) {
  frame(1, UVWS__OP_PING, 1, "");
  frame(1, UVWS__OP_PONG, 1, "unsolicited");
  expect("ping and pong", 1, 0, "ping(0:) pong(11:unsolicited) ", 0);

  frame_ex(1, 0, UVWS__OP_PING, 1, big, 125, 0);
  want_reset();
  expect("125-byte ping", 1, 0, want("ping", big, 125), 0);

  frame(1, UVWS__OP_CLOSE, 1, "\x03\xe8" "bye");
  frame(1, UVWS__OP_TEXT, 1, "ignored");
  expect("close then data", 1, 0, "close(1000:bye) ", 0);

  frame(1, UVWS__OP_CLOSE, 1, "");
  expect("close without code", 1, 0, "close(1005:) ", 0);

  static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                  1010, 1011, 1012, 1013, 1014, 3000, 3999,
                                  4000, 4999};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    char body[2] = {(char)(good[i] >> 8), (char)good[i]}, want[40];
    frame_ex(1, 0, UVWS__OP_CLOSE, 1, body, 2, 0);
    snprintf(want, sizeof(want), "close(%u:) ", good[i]);
    expect("valid close code", 1, 0, want, 0);
  }
  static const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016,
                                 1100, 2000, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char body[2] = {(char)(bad[i] >> 8), (char)bad[i]};
    frame_ex(1, 0, UVWS__OP_CLOSE, 1, body, 2, 0);
    expect("invalid close code", 1, 0, "", 1002);
  }

  frame(1, UVWS__OP_CLOSE, 1, "\x03");
  expect("close with a 1-byte body", 1, 0, "", 1002);

  frame(1, UVWS__OP_CLOSE, 1, "\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc"
                              "\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64");
  expect("close reason with a surrogate", 1, 0, "", 1007);
}

static void test_violations(void) {
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, "x", 1, 0);
  expect("RSV1 without an extension", 1, 0, "", 1002);
  frame_ex(1, UVWS__RSV2, UVWS__OP_BINARY, 1, "x", 1, 0);
  expect("RSV2", 1, 0, "", 1002);
  frame_ex(1, UVWS__RSV3, UVWS__OP_PING, 1, "x", 1, 0);
  expect("RSV3 on a ping", 1, 0, "", 1002);

  for (unsigned op = 3; op <= 7; op++) {
    frame_ex(1, 0, op, 1, "", 0, 0);
    expect("reserved data opcode", 1, 0, "", 1002);
  }
  for (unsigned op = 0xB; op <= 0xF; op++) {
    frame_ex(1, 0, op, 1, "", 0, 0);
    expect("reserved control opcode", 1, 0, "", 1002);
  }

  frame(0, UVWS__OP_PING, 1, "x");
  expect("fragmented ping", 1, 0, "", 1002);
  frame(0, UVWS__OP_CLOSE, 1, "");
  expect("fragmented close", 1, 0, "", 1002);

  frame_ex(1, 0, UVWS__OP_PING, 1, big, 126, 0);
  expect("126-byte ping", 1, 0, "", 1002);
  frame_ex(1, 0, UVWS__OP_PONG, 1, big, 126, 0);
  expect("126-byte pong", 1, 0, "", 1002);

  raw("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04", 14);
  expect("64-bit length with the top bit set", 1, 0, "", 1002);

  frame(1, UVWS__OP_TEXT, 0, "x");
  expect("unmasked frame from a client", 1, 0, "", 1002);
  frame(1, UVWS__OP_TEXT, 1, "x");
  expect("masked frame from a server", 0, 0, "", 1002);

  frame(1, UVWS__OP_CONT, 1, "x");
  expect("continuation with nothing to continue", 1, 0, "", 1002);

  frame(0, UVWS__OP_TEXT, 1, "a");
  frame(1, UVWS__OP_TEXT, 1, "b");
  expect("new message inside an unfinished one", 1, 0, "", 1002);
  frame(0, UVWS__OP_BINARY, 1, "a");
  frame(1, UVWS__OP_BINARY, 1, "b");
  expect("new binary inside an unfinished one", 1, 0, "", 1002);

  /* Messages before the violation are delivered; nothing after it. */
  frame(1, UVWS__OP_TEXT, 1, "first");
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, "x", 1, 0);
  frame(1, UVWS__OP_TEXT, 1, "never");
  expect("events before a violation", 1, 0, "text(5:first) ", 1002);
}

static void test_utf8(void) {
  frame(1, UVWS__OP_TEXT, 1, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
  expect("valid Greek", 1, 0, "text(11:\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5) ", 0);

  frame(1, UVWS__OP_TEXT, 1, "\xc0\xaf");
  expect("overlong slash", 1, 0, "", 1007);
  frame(1, UVWS__OP_TEXT, 1, "\xed\xa0\x80");
  expect("surrogate", 1, 0, "", 1007);
  frame(1, UVWS__OP_TEXT, 1, "\xf4\x90\x80\x80");
  expect("above U+10FFFF", 1, 0, "", 1007);
  frame(1, UVWS__OP_BINARY, 1, "\xff\xfe");
  expect("binary is not checked", 1, 0, "binary(2:\xff\xfe) ", 0);

  /* Fail fast: the first fragment is bad, the rest never comes. */
  frame(0, UVWS__OP_TEXT, 1, "ok\xff");
  expect("invalid first fragment, rest pending", 1, 0, "", 1007);

  /* Fail fast inside a frame: the header announces 100 bytes, only five
   * arrive, the fourth is invalid. */
  frame_ex(1, 0, UVWS__OP_TEXT, 1, "abc\xf5x", 5, 100);
  expect("invalid byte in a partial frame", 1, 0, "", 1007);

  /* A partial frame that is still valid: no event, no error. */
  frame_ex(1, 0, UVWS__OP_TEXT, 1, "abc\xe2\x82", 5, 100);
  expect("valid partial frame", 1, 0, "", 0);
}

static void test_limits(void) {
  frame_ex(1, 0, UVWS__OP_BINARY, 1, big, 100, 0);
  want_reset();
  expect("at the limit", 1, 100, want("binary", big, 100), 0);

  frame_ex(1, 0, UVWS__OP_BINARY, 1, big, 101, 0);
  expect("over the limit", 1, 100, "", 1009);

  /* The header alone is enough to refuse: nothing of the payload needed. */
  frame_ex(1, 0, UVWS__OP_BINARY, 1, "", 0, 1u << 30);
  expect("header announcing 1 GiB", 1, 1000, "", 1009);

  frame_ex(0, 0, UVWS__OP_TEXT, 1, big, 60, 0);
  frame_ex(1, 0, UVWS__OP_CONT, 1, big, 60, 0);
  expect("fragments adding up past the limit", 1, 100, "", 1009);

  /* Control frames do not count towards the message. */
  frame_ex(0, 0, UVWS__OP_TEXT, 1, big, 60, 0);
  frame_ex(1, 0, UVWS__OP_PING, 1, big, 100, 0);
  frame_ex(1, 0, UVWS__OP_CONT, 1, big + 60, 40, 0);
  want_reset();
  want("ping", big, 100);
  expect("ping inside a message at the limit", 1, 100, want("text", big, 100),
         0);
}

int main(void) {
  for (int mode = 0; mode < 3; mode++) {
    stream_mode = mode == 1;
    placed_mode = mode == 2;
    test_data_frames();
    test_fragments();
    test_control();
    test_violations();
    test_utf8();
    test_limits();
  }
  printf("test_proto: %d cases (whole messages, streamed in pieces, read in "
         "place), "
         "each fed whole, bytewise and split\n",
         ncases);
  return 0;
}

/* The receiving engine, case by case. Every case is fed whole, one byte at a
 * time, and split in two at every position; each way must give the same
 * events and the same result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "proto.h"
#include "test.h"
#include "engine_util.h"
#include "uvws_errno.h"

/* Every case is fed whole, one byte at a time and split at every position,
 * with the engine alone. */
static void expect(const char *name, int from_client, size_t max,
                   const char *events, unsigned code) {
  engine_expect(name, from_client, max, events, code);
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
    engine_stream_mode = mode == 1;
    engine_placed_mode = mode == 2;
    test_data_frames();
    test_fragments();
    test_control();
    test_violations();
    test_utf8();
    test_limits();
  }
  printf("test_proto: %d cases (whole messages, streamed in pieces, read in "
         "place), each fed whole, bytewise and split\n",
         ncases);
  return 0;
}

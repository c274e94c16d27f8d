/* WebSocket frames (RFC 6455 5.2): header decoding and checking, header
 * encoding, masking. No I/O. Internal. */
#ifndef UVWS_FRAME_H
#define UVWS_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
  UVWS__OP_CONT = 0x0,
  UVWS__OP_TEXT = 0x1,
  UVWS__OP_BINARY = 0x2,
  UVWS__OP_CLOSE = 0x8,
  UVWS__OP_PING = 0x9,
  UVWS__OP_PONG = 0xA
};

#define UVWS__RSV1 0x4
#define UVWS__RSV2 0x2
#define UVWS__RSV3 0x1
#define UVWS__MAX_HEADER 14
#define UVWS__MAX_CONTROL 125

typedef struct {
  uint8_t fin;
  uint8_t rsv; /* RSV1..3 as bits 2..0 */
  uint8_t opcode;
  uint8_t masked;
  uint8_t mask[4];
  uint64_t len;
} uvws__frame_hdr_t;

static inline int uvws__op_is_control(unsigned op) {
  return (op & 0x8) != 0;
}

/* Decodes the header at p[0..n). Returns its length (2 to 14), or 0 when n
 * is too short to hold it. Syntax only: see uvws__frame_check(). */
size_t uvws__frame_decode(const uint8_t *p, size_t n, uvws__frame_hdr_t *h);

/* Checks a decoded header against RFC 6455 5.2-5.5 for a receiver.
 * from_client: the sender is a client, so the frame must be masked (and
 * must not be otherwise). rsv_allowed: RSV bits an extension negotiated.
 * in_message: a fragmented data message is unfinished. Returns 0 or the
 * close code to fail with (always 1002, protocol error). */
int uvws__frame_check(const uvws__frame_hdr_t *h, int from_client,
                      unsigned rsv_allowed, int in_message);

/* Encodes a header into out (room for UVWS__MAX_HEADER bytes) and returns its
 * length. mask is NULL for an unmasked (server) frame. Inline: it is on the
 * path of every message sent. */
static inline size_t uvws__frame_encode(uint8_t *out, int fin, unsigned rsv,
                                        unsigned opcode, uint64_t len,
                                        const uint8_t *mask) {
  size_t n = 2;
  out[0] = (uint8_t)((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0F));
  if (len < 126) {
    out[1] = (uint8_t)len;
  } else if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    n = 4;
  } else {
    out[1] = 127;
    for (int i = 0; i < 8; i++)
      out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    n = 10;
  }
  if (mask != NULL) {
    out[1] |= 0x80;
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

/* XORs src[0..len) with key, starting at key byte (offset % 4), into dst.
 * dst may equal src (unmasking in place); otherwise they must not overlap. */
void uvws__mask(uint8_t *dst, const uint8_t *src, size_t len,
                const uint8_t key[4], size_t offset);

/* uvws__mask() from key byte 0, in place, inlined for short payloads where
 * the call and its set-up would cost more than the XOR. */
static inline void uvws__mask_small(uint8_t *d, size_t len,
                                    const uint8_t key[4]) {
  uint32_t k4;
  uint64_t kw, w;
  size_t i = 0;
  if (len >= 64) {
    uvws__mask(d, d, len, key, 0);
    return;
  }
  memcpy(&k4, key, 4);
  kw = ((uint64_t)k4 << 32) | k4;
  for (; i + 8 <= len; i += 8) {
    memcpy(&w, d + i, 8);
    w ^= kw;
    memcpy(d + i, &w, 8);
  }
  for (; i < len; i++)
    d[i] ^= key[i & 3];
}

#endif

/* Frame header encoding and decoding, and masking at any offset. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "test.h"

static void roundtrip(int fin, unsigned rsv, unsigned op, uint64_t len,
                      const uint8_t *mask, size_t want_len) {
  uint8_t out[UVWS__MAX_HEADER];
  uvws__frame_hdr_t h;
  size_t n = uvws__frame_encode(out, fin, rsv, op, len, mask);
  CHECK_EQ(n, want_len);
  for (size_t k = 0; k < n; k++)
    CHECK_EQ(uvws__frame_decode(out, k, &h), 0); /* incomplete */
  CHECK_EQ(uvws__frame_decode(out, n, &h), n);
  CHECK_EQ(h.fin, fin ? 1 : 0);
  CHECK_EQ(h.rsv, rsv);
  CHECK_EQ(h.opcode, op);
  CHECK_EQ(h.len, len);
  CHECK_EQ(h.masked, mask ? 1 : 0);
  if (mask)
    CHECK(memcmp(h.mask, mask, 4) == 0);
}

int main(void) {
  static const uint8_t key[4] = {1, 2, 0x80, 0xff};
  static const struct {
    uint64_t len;
    size_t hdr; /* unmasked header length */
  } lens[] = {{0, 2},      {1, 2},         {125, 2},
              {126, 4},    {65535, 4},     {65536, 10},
              {1u << 31, 10}, {UINT64_C(0x7fffffffffffffff), 10}};

  for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    roundtrip(1, 0, 0x2, lens[i].len, NULL, lens[i].hdr);
    roundtrip(0, 4, 0x1, lens[i].len, key, lens[i].hdr + 4);
  }
  roundtrip(1, 7, 0xA, 5, key, 6);

  /* RFC 6455 5.7: a masked "Hello". */
  {
    uint8_t k[4] = {0x37, 0xfa, 0x21, 0x3d}, out[16];
    size_t n = uvws__frame_encode(out, 1, 0, 1, 5, k);
    uvws__mask(out + n, (const uint8_t *)"Hello", 5, k, 0);
    CHECK(memcmp(out, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11) ==
          0);
  }

  /* Masking in pieces at every offset equals masking whole, for lengths
   * around the word-wide paths. */
  {
    uint8_t src[200], whole[200], piece[200];
    for (size_t i = 0; i < sizeof(src); i++)
      src[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(src); len++) {
      for (size_t j = 0; j < len; j++)
        whole[j] = src[j] ^ key[j % 4];
      for (size_t cut = 0; cut <= len; cut += (len > 64 ? 5 : 1)) {
        memcpy(piece, src, len);
        uvws__mask(piece, piece, cut, key, 0);
        uvws__mask(piece + cut, piece + cut, len - cut, key, cut);
        CHECK(memcmp(piece, whole, len) == 0);
      }
    }
  }

  /* Receiver checks. */
  {
    uvws__frame_hdr_t h;
    memset(&h, 0, sizeof(h));
    h.fin = 1;
    h.opcode = 1;
    h.masked = 1;
    CHECK_EQ(uvws__frame_check(&h, 1, 0, 0), 0);
    CHECK_EQ(uvws__frame_check(&h, 0, 0, 0), 1002); /* masked to client */
    h.rsv = 4;
    CHECK_EQ(uvws__frame_check(&h, 1, 0, 0), 1002);
    CHECK_EQ(uvws__frame_check(&h, 1, 4, 0), 0); /* negotiated RSV1 */
  }
  printf("test_frame: ok\n");
  return 0;
}

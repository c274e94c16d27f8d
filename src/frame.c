/* Frame headers and masking (RFC 6455 5.2, 5.3). */
#include "frame.h"

#include <string.h>

size_t uvws__frame_decode(const uint8_t *p, size_t n, uvws__frame_hdr_t *h) {
  size_t need;
  unsigned len7;

  if (n < 2)
    return 0;
  len7 = p[1] & 0x7F;
  need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((p[1] & 0x80) ? 4 : 0);
  if (n < need)
    return 0;

  h->fin = p[0] >> 7;
  h->rsv = (p[0] >> 4) & 0x7;
  h->opcode = p[0] & 0x0F;
  h->masked = p[1] >> 7;
  p += 2;
  if (len7 == 126) {
    h->len = ((uint64_t)p[0] << 8) | p[1];
    p += 2;
  } else if (len7 == 127) {
    h->len = 0;
    for (int i = 0; i < 8; i++)
      h->len = (h->len << 8) | p[i];
    p += 8;
  } else {
    h->len = len7;
  }
  if (h->masked)
    memcpy(h->mask, p, 4);
  else
    memset(h->mask, 0, 4);
  return need;
}

int uvws__frame_check(const uvws__frame_hdr_t *h, int from_client,
                      unsigned rsv_allowed, int in_message) {
  /* RFC 6455 5.2: RSV bits MUST be 0 unless an extension defines them. */
  if (h->rsv & ~rsv_allowed)
    return 1002;
  switch (h->opcode) {
  case UVWS__OP_CONT:
    /* 5.4: a continuation needs a message to continue. */
    if (!in_message)
      return 1002;
    break;
  case UVWS__OP_TEXT:
  case UVWS__OP_BINARY:
    /* 5.4: fragments of one message may not be interleaved with another. */
    if (in_message)
      return 1002;
    break;
  case UVWS__OP_CLOSE:
  case UVWS__OP_PING:
  case UVWS__OP_PONG:
    /* 5.5: control frames are never fragmented and carry <= 125 bytes. */
    if (!h->fin || h->len > UVWS__MAX_CONTROL)
      return 1002;
    break;
  default:
    /* 5.2: reserved opcodes. */
    return 1002;
  }
  /* 5.1: clients mask every frame; servers never do. */
  if (h->masked != (from_client ? 1 : 0))
    return 1002;
  /* 5.2: the most significant bit of a 64-bit length MUST be 0. */
  if (h->len >> 63)
    return 1002;
  return 0;
}

/* 32 bytes of key at a time. GCC and clang lower a 32-byte vector to two
 * SSE2 operations on baseline x86-64; GCC builds also carry a copy for
 * AVX2 that does it in one, picked once by the dynamic linker (an ifunc),
 * so nothing is decided per call. Not under the sanitizers: the resolver
 * runs while the program is being relocated, before their runtimes exist. */
typedef uint8_t uvws__v32 __attribute__((vector_size(32)));
typedef uint32_t uvws__v32w __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&     \
    defined(__linux__) && !defined(__SANITIZE_ADDRESS__) &&                  \
    !defined(__SANITIZE_THREAD__) &&                                          \
    !defined(UVWS_NO_CLONES)
#define UVWS__MASK_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define UVWS__MASK_CLONES
#endif

UVWS__MASK_CLONES
void uvws__mask(uint8_t *dst, const uint8_t *src, size_t len,
                const uint8_t key[4], size_t offset) {
  uint8_t k[4];
  size_t i = 0;

  if ((offset & 3) == 0) {
    memcpy(k, key, 4);
  } else {
    for (int j = 0; j < 4; j++)
      k[j] = key[(offset + j) & 3];
  }

  /* The key repeats every 4 bytes, so a vector of it lines up with any
   * step that is a multiple of 4. memcpy keeps unaligned access defined
   * (it compiles to plain unaligned loads and stores). */
  if (len >= 32) {
    uint32_t k4;
    uvws__v32 kv;
    memcpy(&k4, k, 4);
    /* The 4 key bytes in every lane: a broadcast, not a loop. */
    kv = (uvws__v32)((uvws__v32w){k4, k4, k4, k4, k4, k4, k4, k4});
    for (; i + 128 <= len; i += 128) {
      uvws__v32 a, b, c, d;
      memcpy(&a, src + i, 32);
      memcpy(&b, src + i + 32, 32);
      memcpy(&c, src + i + 64, 32);
      memcpy(&d, src + i + 96, 32);
      a ^= kv;
      b ^= kv;
      c ^= kv;
      d ^= kv;
      memcpy(dst + i, &a, 32);
      memcpy(dst + i + 32, &b, 32);
      memcpy(dst + i + 64, &c, 32);
      memcpy(dst + i + 96, &d, 32);
    }
    for (; i + 32 <= len; i += 32) {
      uvws__v32 a;
      memcpy(&a, src + i, 32);
      a ^= kv;
      memcpy(dst + i, &a, 32);
    }
  }
  if (len - i >= 8) {
    uint32_t k4;
    uint64_t kw, w;
    memcpy(&k4, k, 4);
    kw = ((uint64_t)k4 << 32) | k4;
    for (; i + 8 <= len; i += 8) {
      memcpy(&w, src + i, 8);
      w ^= kw;
      memcpy(dst + i, &w, 8);
    }
  }
  for (; i < len; i++)
    dst[i] = src[i] ^ k[i & 3];
}

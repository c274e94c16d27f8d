/* UTF-8 validation as a small state machine.
 *
 * States say what the next byte must be. Lead bytes E0, ED, F0 and F4
 * restrict the range of the following byte (RFC 3629 section 4), which is how
 * overlong forms, UTF-16 surrogates and code points past U+10FFFF are refused
 * at the first byte that makes them so, as RFC 6455 8.1 asks ("fail fast").
 */
#include "utf8.h"

#include <string.h>

enum {
  S_ACCEPT = UVWS__UTF8_ACCEPT,
  S_REJECT = UVWS__UTF8_REJECT,
  S_TAIL1,    /* one 80..BF to go */
  S_TAIL2,    /* two 80..BF to go */
  S_TAIL3,    /* three 80..BF to go */
  S_E0,       /* A0..BF, then one more */
  S_ED,       /* 80..9F, then one more */
  S_F0,       /* 90..BF, then two more */
  S_F4        /* 80..8F, then two more */
};

static uint8_t lead(uint8_t c) {
  if (c < 0x80)
    return S_ACCEPT;
  if (c < 0xC2) /* continuation bytes, and C0/C1 (overlong) */
    return S_REJECT;
  if (c < 0xE0)
    return S_TAIL1;
  if (c == 0xE0)
    return S_E0;
  if (c == 0xED)
    return S_ED;
  if (c < 0xF0)
    return S_TAIL2;
  if (c == 0xF0)
    return S_F0;
  if (c < 0xF4)
    return S_TAIL3;
  if (c == 0xF4)
    return S_F4;
  return S_REJECT;
}

uint8_t uvws__utf8_validate(uint8_t state, const uint8_t *s, size_t len) {
  const uint8_t *end = s + len;

  while (s < end) {
    if (state == S_ACCEPT) {
      /* ASCII fast path, eight bytes at a time. */
      while (end - s >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        if (w & UINT64_C(0x8080808080808080))
          break;
        s += 8;
      }
      while (s < end && *s < 0x80)
        s++;
      if (s == end)
        break;
      state = lead(*s++);
      if (state == S_REJECT)
        return S_REJECT;
      continue;
    }

    uint8_t c = *s++;
    switch (state) {
    case S_TAIL1:
      if (c < 0x80 || c > 0xBF)
        return S_REJECT;
      state = S_ACCEPT;
      break;
    case S_TAIL2:
      if (c < 0x80 || c > 0xBF)
        return S_REJECT;
      state = S_TAIL1;
      break;
    case S_TAIL3:
      if (c < 0x80 || c > 0xBF)
        return S_REJECT;
      state = S_TAIL2;
      break;
    case S_E0:
      if (c < 0xA0 || c > 0xBF)
        return S_REJECT;
      state = S_TAIL1;
      break;
    case S_ED:
      if (c < 0x80 || c > 0x9F)
        return S_REJECT;
      state = S_TAIL1;
      break;
    case S_F0:
      if (c < 0x90 || c > 0xBF)
        return S_REJECT;
      state = S_TAIL2;
      break;
    case S_F4:
      if (c < 0x80 || c > 0x8F)
        return S_REJECT;
      state = S_TAIL2;
      break;
    default:
      return S_REJECT;
    }
  }
  return state;
}

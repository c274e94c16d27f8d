/* The UTF-8 validator against a plain reference decoder written from RFC
 * 3629's definition: every 1-, 2- and 3-byte input, a million random
 * inputs, and every split of each. */
#include <stdint.h>
#include <stdio.h>

#include "test.h"
#include "utf8.h"

/* Decodes one code point the obvious way and checks its range. */
static int reference_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t cp;
    size_t len, k;
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (i + len > n)
      return 0;
    for (k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += len;
  }
  return 1;
}

/* Validates in two pieces cut at `cut`. */
static int split_valid(const uint8_t *s, size_t n, size_t cut) {
  uint8_t st = uvws__utf8_validate(UVWS__UTF8_ACCEPT, s, cut);
  if (st == UVWS__UTF8_REJECT)
    return 0;
  return uvws__utf8_validate(st, s + cut, n - cut) == UVWS__UTF8_ACCEPT;
}

static void check(const uint8_t *s, size_t n) {
  int want = reference_valid(s, n);
  for (size_t cut = 0; cut <= n; cut++) {
    if (split_valid(s, n, cut) != want) {
      fprintf(stderr, "mismatch (want %d) at cut %zu for:", want, cut);
      for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %02x", s[i]);
      fprintf(stderr, "\n");
      abort();
    }
  }
}

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint32_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

int main(void) {
  uint8_t b[64];
  long checked = 0;

  for (unsigned a = 0; a < 256; a++) {
    b[0] = (uint8_t)a;
    check(b, 1);
    for (unsigned c = 0; c < 256; c++) {
      b[1] = (uint8_t)c;
      check(b, 2);
      for (unsigned d = 0; d < 256; d++) {
        b[2] = (uint8_t)d;
        check(b, 3);
        checked++;
      }
    }
  }
  /* Random inputs biased towards high bytes and valid sequences' shapes,
   * long enough to cross the 8-byte ASCII fast path. */
  for (int i = 0; i < 1000000; i++) {
    size_t n = next() % 40;
    for (size_t k = 0; k < n; k++) {
      uint32_t r = next();
      switch (r % 4) {
      case 0: b[k] = (uint8_t)(r >> 8) & 0x7F; break;
      case 1: b[k] = 0x80 | ((r >> 8) & 0x3F); break;
      case 2: b[k] = (uint8_t)(0xC0 + ((r >> 8) % 0x38)); break;
      default: b[k] = (uint8_t)(r >> 8); break;
      }
    }
    check(b, n);
    checked++;
  }
  /* Known edges. */
  CHECK(uvws__utf8_is_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
  CHECK(!uvws__utf8_is_valid("\xf4\x90\x80\x80", 4)); /* U+110000 */
  CHECK(uvws__utf8_is_valid("\xed\x9f\xbf", 3));      /* U+D7FF */
  CHECK(!uvws__utf8_is_valid("\xed\xa0\x80", 3));     /* U+D800 */
  CHECK(uvws__utf8_is_valid("\xee\x80\x80", 3));      /* U+E000 */
  CHECK(!uvws__utf8_is_valid("\xe0\x9f\xbf", 3));     /* overlong */
  CHECK(!uvws__utf8_is_valid("\xf0\x8f\xbf\xbf", 4)); /* overlong */
  CHECK(uvws__utf8_is_valid("", 0));
  /* Rejection is at the first bad byte and sticks. */
  CHECK_EQ(uvws__utf8_validate(UVWS__UTF8_ACCEPT, (const uint8_t *)"\xe2\x28", 2),
           UVWS__UTF8_REJECT);
  CHECK_EQ(uvws__utf8_validate(UVWS__UTF8_REJECT, (const uint8_t *)"a", 1),
           UVWS__UTF8_REJECT);
  printf("test_utf8: %ld inputs, every split, agree with the reference\n",
         checked);
  return 0;
}

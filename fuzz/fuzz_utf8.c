/* libFuzzer target for the UTF-8 validator (src/utf8.c), checked against a
 * reference decoder written here from RFC 3629 alone.
 *
 * The reference decodes code points the plain way (lead byte, continuation
 * bytes, then range checks) and knows, for every prefix of the input,
 * whether it is complete valid UTF-8, a valid text cut inside a character
 * that some continuation could still complete, or invalid whatever
 * follows. The validator must agree on every prefix: RFC 6455 8.1 asks to
 * fail a text message as soon as it cannot be valid, so REJECT must come at
 * exactly the first byte that makes the prefix hopeless, not later.
 *
 * Also checked: the validator fed byte by byte, fed whole and resumed at
 * every split of the input ends in the same state (inputs over SPLIT_ALL
 * bytes get a sample of splits, so that long inputs stay fast), REJECT is
 * sticky, and every piece is read from the end of its own allocation so
 * that AddressSanitizer sees the eight-byte ASCII fast path reading past a
 * piece. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPLIT_ALL 256

/* What a prefix is. */
enum { REF_VALID, REF_PARTIAL, REF_INVALID };

/* The reference: one code point at a time. */
typedef struct {
  uint32_t cp;  /* bits of the character so far */
  uint32_t min; /* smallest code point its length may encode (no overlong) */
  int left;     /* continuation bytes still to come */
  int dead;     /* the prefix can no longer be valid */
} ref_t;

/* Whether some code point in [lo, hi] is a Unicode scalar value of at
 * least min: at most U+10FFFF, not a surrogate (RFC 3629 3). */
static int ref_reachable(uint32_t lo, uint32_t hi, uint32_t min) {
  if (lo < min)
    lo = min;
  if (hi > 0x10FFFF)
    hi = 0x10FFFF;
  if (lo > hi)
    return 0;
  /* Only the surrogates left: D800..DFFF covers [lo, hi]. */
  return !(lo >= 0xD800 && hi <= 0xDFFF);
}

static int ref_step(ref_t *r, uint8_t c) {
  if (r->dead)
    return REF_INVALID;
  if (r->left == 0) {
    if (c < 0x80)
      return REF_VALID;
    if ((c & 0xE0) == 0xC0) {
      r->cp = c & 0x1F;
      r->left = 1;
      r->min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      r->cp = c & 0x0F;
      r->left = 2;
      r->min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      r->cp = c & 0x07;
      r->left = 3;
      r->min = 0x10000;
    } else {
      r->dead = 1; /* a continuation byte, or F8..FF */
      return REF_INVALID;
    }
  } else {
    if ((c & 0xC0) != 0x80) {
      r->dead = 1;
      return REF_INVALID;
    }
    r->cp = (r->cp << 6) | (c & 0x3F);
    r->left--;
  }
  /* The characters this one can still become: the bits so far, followed
   * by any continuation bits. */
  {
    unsigned shift = 6u * (unsigned)r->left;
    uint32_t lo = r->cp << shift;
    uint32_t hi = lo | ((UINT32_C(1) << shift) - 1);
    if (!ref_reachable(lo, hi, r->min)) {
      r->dead = 1;
      return REF_INVALID;
    }
  }
  return r->left == 0 ? REF_VALID : REF_PARTIAL;
}

static int state_class(uint8_t st) {
  if (st == UVWS__UTF8_ACCEPT)
    return REF_VALID;
  if (st == UVWS__UTF8_REJECT)
    return REF_INVALID;
  return REF_PARTIAL;
}

/* uvws__utf8_validate over a copy of s[0..n) placed at the end of an
 * allocation of exactly n bytes. */
static uint8_t validate_alone(uint8_t st, const uint8_t *s, size_t n) {
  uint8_t *p = malloc(n ? n : 1), r;
  FUZZ_CHECK(p != NULL);
  if (n)
    memcpy(p, s, n);
  r = uvws__utf8_validate(st, p, n);
  free(p);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *states = malloc(size + 1), st, whole;
  ref_t ref;
  size_t k;
  int cls = REF_VALID;

  uint8_t *copy = malloc(size ? size : 1);

  FUZZ_CHECK(states != NULL && copy != NULL);
  if (size)
    memcpy(copy, data, size);
  memset(&ref, 0, sizeof(ref));

  /* Byte by byte, against the reference at every prefix. */
  states[0] = st = UVWS__UTF8_ACCEPT;
  for (k = 0; k < size; k++) {
    uint8_t prev = st;
    cls = ref_step(&ref, data[k]);
    st = uvws__utf8_validate(st, copy + k, 1);
    if (prev == UVWS__UTF8_REJECT)
      FUZZ_CHECK(st == UVWS__UTF8_REJECT);
    if (state_class(st) != cls) {
      fprintf(stderr, "prefix of %zu bytes: validator class %d, reference %d\n",
              k + 1, state_class(st), cls);
      FUZZ_CHECK(0 && "validator and reference disagree");
    }
    states[k + 1] = st;
  }

  /* Whole, and resumed at splits. */
  whole = validate_alone(UVWS__UTF8_ACCEPT, data, size);
  FUZZ_CHECK(whole == st);
  FUZZ_CHECK(uvws__utf8_is_valid(data, size) == (cls == REF_VALID));
  for (k = 0; k <= size; k++) {
    uint8_t a, b;
    if (size > SPLIT_ALL && k % 61 != 0 && k + 16 < size && k > 16)
      continue;
    a = validate_alone(UVWS__UTF8_ACCEPT, data, k);
    FUZZ_CHECK(a == states[k]);
    b = validate_alone(a, data + k, size - k);
    FUZZ_CHECK(b == whole);
  }
  free(states);
  free(copy);
  return 0;
}

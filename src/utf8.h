/* Incremental UTF-8 validation (RFC 3629), resumable at any byte. */
#ifndef UVWS_UTF8_H
#define UVWS_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UVWS__UTF8_ACCEPT 0 /* at a character boundary */
#define UVWS__UTF8_REJECT 1 /* an invalid byte was seen; sticky */

/* Continues validation from state over s[0..len). Returns the new state:
 * UVWS__UTF8_ACCEPT if s ends on a character boundary, UVWS__UTF8_REJECT as
 * soon as a byte cannot start or continue a valid sequence (overlongs,
 * surrogates and code points above U+10FFFF included), or another value
 * meaning "inside a character". Feeding a text in any number of pieces gives
 * the same final state as feeding it whole. */
uint8_t uvws__utf8_validate(uint8_t state, const uint8_t *s, size_t len);

/* 1 if s[0..len) is complete, valid UTF-8. */
static inline int uvws__utf8_is_valid(const void *s, size_t len) {
  return uvws__utf8_validate(UVWS__UTF8_ACCEPT, (const uint8_t *)s, len) ==
         UVWS__UTF8_ACCEPT;
}

#endif

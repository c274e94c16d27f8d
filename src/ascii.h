/* Locale-free ASCII helpers for the parsers. Internal.
 *
 * HTTP field names, tokens and percent escapes are ASCII, compared without
 * regard to case (RFC 9110 5.1, 5.6.2; RFC 3986 2.1); the C library's
 * tolower() and strcasecmp() follow the locale, which must not change how a
 * header is read. */
#ifndef UVWS_ASCII_H
#define UVWS_ASCII_H

#include <stddef.h>

static inline unsigned char uvws__ascii_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* 1 if a[0..n) and b[0..n) are equal but for ASCII case. */
static inline int uvws__ascii_ieq_n(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (uvws__ascii_lower((unsigned char)a[i]) !=
        uvws__ascii_lower((unsigned char)b[i]))
      return 0;
  return 1;
}

/* 1 if a[0..a_len) and b[0..b_len) are equal but for ASCII case. */
static inline int uvws__ascii_ieq(const char *a, size_t a_len, const char *b,
                                  size_t b_len) {
  return a_len == b_len && uvws__ascii_ieq_n(a, b, a_len);
}

/* The value of a hexadecimal digit, or -1. */
static inline int uvws__hex_value(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

#endif

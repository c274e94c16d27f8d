/* A growable byte buffer. Internal. The buffer does not know its
 * allocator: every call that may allocate or free takes the allocator of
 * the object the buffer belongs to. */
#ifndef UVWS_BUF_H
#define UVWS_BUF_H

#include <string.h>

#include "alloc.h"

typedef struct {
  char *base;
  size_t len;
  size_t cap;
} uvws__buf_t;

/* Makes room for n more bytes. Returns 0 or UV_ENOMEM (-12). */
static inline int uvws__buf_reserve(const uvws_allocator_t *a, uvws__buf_t *b,
                                    size_t n) {
  size_t need, cap;
  char *p;
  if (b->cap - b->len >= n)
    return 0;
  need = b->len + n;
  if (need < b->len)
    return -12;
  cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
  p = uvws__realloc(a, b->base, cap);
  if (p == NULL)
    return -12;
  b->base = p;
  b->cap = cap;
  return 0;
}

static inline int uvws__buf_append(const uvws_allocator_t *a, uvws__buf_t *b,
                                   const void *p, size_t n) {
  int r = uvws__buf_reserve(a, b, n);
  if (r != 0)
    return r;
  if (n != 0)
    memcpy(b->base + b->len, p, n);
  b->len += n;
  return 0;
}

static inline int uvws__buf_append_str(const uvws_allocator_t *a,
                                       uvws__buf_t *b, const char *s) {
  return uvws__buf_append(a, b, s, strlen(s));
}

static inline void uvws__buf_free(const uvws_allocator_t *a, uvws__buf_t *b) {
  uvws__free(a, b->base);
  b->base = NULL;
  b->len = b->cap = 0;
}

#endif

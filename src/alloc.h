/* Allocation through a context's uvws_allocator_t. Internal.
 *
 * Every allocation in src/ goes through these functions with the
 * allocator of the object it belongs to (the context's, copied into it at
 * creation); alloc.c alone calls the C library's. */
#ifndef UVWS_ALLOC_H
#define UVWS_ALLOC_H

#include <stddef.h>
#include <string.h>

#include "uvws.h"

/* malloc, realloc, calloc and free of the C library. */
extern const uvws_allocator_t uvws__libc_allocator;

/* Copies in (NULL: the C library's) into out. UV_EINVAL when a required
 * function is missing. */
int uvws__allocator_resolve(uvws_allocator_t *out, const uvws_allocator_t *in);

/* 0 when a is a uvws_budget_t with less than its reserve left: servers
 * then take no new connections. */
int uvws__alloc_admits(const uvws_allocator_t *a);

/* n of 0 is allocated as 1, so that NULL always means failure. */
static inline void *uvws__malloc(const uvws_allocator_t *a, size_t n) {
  return a->malloc_fn(a->user, n ? n : 1);
}

void *uvws__calloc(const uvws_allocator_t *a, size_t count, size_t size);

static inline void *uvws__realloc(const uvws_allocator_t *a, void *p,
                                  size_t n) {
  if (p == NULL)
    return uvws__malloc(a, n);
  return a->realloc_fn(a->user, p, n ? n : 1);
}

/* p may be NULL. */
static inline void uvws__free(const uvws_allocator_t *a, void *p) {
  if (p != NULL)
    a->free_fn(a->user, p);
}

/* A NUL-terminated copy of s, or of its first n bytes; NULL when out of
 * memory. */
char *uvws__strdup(const uvws_allocator_t *a, const char *s);
char *uvws__strndup(const uvws_allocator_t *a, const char *s, size_t n);

#endif

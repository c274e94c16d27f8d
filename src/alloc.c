/* The C library's allocator, allocator checks, and the memory budget. */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>

static void *libc_malloc(void *user, size_t n) {
  (void)user;
  return malloc(n);
}

static void *libc_realloc(void *user, void *p, size_t n) {
  (void)user;
  return realloc(p, n);
}

static void *libc_calloc(void *user, size_t count, size_t size) {
  (void)user;
  return calloc(count, size);
}

static void libc_free(void *user, void *p) {
  (void)user;
  free(p);
}

const uvws_allocator_t uvws__libc_allocator = {libc_malloc, libc_realloc,
                                               libc_calloc, libc_free, NULL};

int uvws__allocator_resolve(uvws_allocator_t *out, const uvws_allocator_t *in) {
  if (in == NULL) {
    *out = uvws__libc_allocator;
    return 0;
  }
  if (in->malloc_fn == NULL || in->realloc_fn == NULL || in->free_fn == NULL)
    return UV_EINVAL;
  *out = *in;
  return 0;
}

void *uvws__calloc(const uvws_allocator_t *a, size_t count, size_t size) {
  void *p;
  if (count == 0 || size == 0)
    count = size = 1;
  if (count > SIZE_MAX / size)
    return NULL;
  if (a->calloc_fn != NULL)
    return a->calloc_fn(a->user, count, size);
  p = a->malloc_fn(a->user, count * size);
  if (p != NULL)
    memset(p, 0, count * size);
  return p;
}

char *uvws__strndup(const uvws_allocator_t *a, const char *s, size_t n) {
  char *p;
  if (n == SIZE_MAX)
    return NULL;
  p = uvws__malloc(a, n + 1);
  if (p == NULL)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *uvws__strdup(const uvws_allocator_t *a, const char *s) {
  return uvws__strndup(a, s, strlen(s));
}

/* ---- the memory budget -------------------------------------------------- */

/* Each block starts with its size, padded so the caller's part keeps the
 * alignment malloc gives. */
#define BUDGET_HEAD 16

static int budget_take(uvws_budget_t *b, size_t n) {
  if (n > SIZE_MAX - b->used || (b->limit != 0 && b->used + n > b->limit)) {
    b->refused++;
    return -1;
  }
  b->used += n;
  if (b->used > b->peak)
    b->peak = b->used;
  return 0;
}

static void *budget_malloc(void *user, size_t n) {
  uvws_budget_t *b = user;
  char *p;
  if (n > SIZE_MAX - BUDGET_HEAD || budget_take(b, n + BUDGET_HEAD) != 0)
    return NULL;
  p = b->base.malloc_fn(b->base.user, n + BUDGET_HEAD);
  if (p == NULL) {
    b->used -= n + BUDGET_HEAD;
    return NULL;
  }
  memcpy(p, &n, sizeof(n));
  return p + BUDGET_HEAD;
}

static void *budget_realloc(void *user, void *ptr, size_t n) {
  uvws_budget_t *b = user;
  char *p = (char *)ptr - BUDGET_HEAD;
  size_t old;
  memcpy(&old, p, sizeof(old));
  if (n > SIZE_MAX - BUDGET_HEAD)
    return NULL;
  if (n > old && budget_take(b, n - old) != 0)
    return NULL;
  p = b->base.realloc_fn(b->base.user, p, n + BUDGET_HEAD);
  if (p == NULL) {
    if (n > old)
      b->used -= n - old;
    return NULL;
  }
  if (n < old)
    b->used -= old - n;
  memcpy(p, &n, sizeof(n));
  return p + BUDGET_HEAD;
}

static void budget_free(void *user, void *ptr) {
  uvws_budget_t *b = user;
  char *p = (char *)ptr - BUDGET_HEAD;
  size_t n;
  memcpy(&n, p, sizeof(n));
  b->used -= n + BUDGET_HEAD;
  b->base.free_fn(b->base.user, p);
}

int uvws__alloc_admits(const uvws_allocator_t *a) {
  const uvws_budget_t *b = a->user;
  if (a->malloc_fn != budget_malloc || b->limit == 0)
    return 1;
  return b->used <= b->limit && b->limit - b->used >= b->reserve;
}

int uvws_budget_init(uvws_budget_t *budget, size_t limit,
                     const uvws_allocator_t *base) {
  int r;
  if (budget == NULL)
    return UV_EINVAL;
  memset(budget, 0, sizeof(*budget));
  r = uvws__allocator_resolve(&budget->base, base);
  if (r != 0)
    return r;
  budget->allocator.malloc_fn = budget_malloc;
  budget->allocator.realloc_fn = budget_realloc;
  budget->allocator.calloc_fn = NULL; /* malloc and zero */
  budget->allocator.free_fn = budget_free;
  budget->allocator.user = budget;
  budget->limit = limit;
  return 0;
}

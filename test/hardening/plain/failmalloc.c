/* An LD_PRELOAD shim for test_abuse_accept_oom: the FAILMALLOC_NTH-th
 * malloc() of exactly sizeof(uvws_conn_t) bytes fails, once, as it would
 * when memory (or a memory budget) runs out while a server accepts. Built
 * without sanitizers, for a server without them. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

#include "internal.h"

void *malloc(size_t n);

static void *(*real_malloc)(size_t);
static long nth = -1, seen;

void *malloc(size_t n) {
  if (real_malloc == NULL) {
    const char *s = getenv("FAILMALLOC_NTH");
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    nth = s ? atol(s) : -1;
  }
  if (n == sizeof(uvws_conn_t) && ++seen == nth)
    return NULL;
  return real_malloc(n);
}

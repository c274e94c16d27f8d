/* The receiving engine run over one input for the fuzzers (fuzz_frame,
 * fuzz_inflate): its events folded into a hash, so that feeding an input
 * whole and cut into pieces can be compared. */
#ifndef UVWS_FUZZ_ENGINE_RUN_H
#define UVWS_FUZZ_ENGINE_RUN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deflate.h"
#include "proto.h"

typedef struct {
  uint64_t hash;
  unsigned count;
  size_t limit; /* no message may be longer */
} trace_t;

static void mix(trace_t *t, unsigned kind, const char *d, size_t n) {
  t->hash = (t->hash ^ kind) * 1099511628211u;
  for (size_t i = 0; i < n; i++)
    t->hash = (t->hash ^ (uint8_t)d[i]) * 1099511628211u;
  t->hash = (t->hash ^ n) * 1099511628211u;
  t->count++;
}

/* The engine with the trace its callbacks add to; they find it from p. */
typedef struct {
  uvws__proto_t p;
  trace_t *t;
} owner_t;
#define TRACE(p) (((owner_t *)(void *)(p))->t)

static void on_message(uvws__proto_t *p, unsigned op, const char *d,
                       size_t n) {
  trace_t *t = TRACE(p);
  if (n > t->limit)
    abort();
  mix(t, op, d, n);
}
static void on_ping(uvws__proto_t *p, const char *d, size_t n) {
  mix(TRACE(p), 9, d, n);
}
static void on_pong(uvws__proto_t *p, const char *d, size_t n) {
  mix(TRACE(p), 10, d, n);
}
static void on_close(uvws__proto_t *p, unsigned code, const char *r,
                     size_t n) {
  mix(TRACE(p), 0x10000 + code, r, n);
}

static const uvws__proto_cbs_t engine_cbs = {.on_message = on_message,
                                             .on_ping = on_ping,
                                             .on_pong = on_pong,
                                             .on_close = on_close};

/* Feeds in[0..n) in pieces of step bytes (0: whole) to an engine with the
 * message size limit max (0: none) and, when params is not NULL,
 * permessage-deflate with those parameters. Returns 0 or the engine's
 * error; *code is its close code when it failed. */
static long engine_run(const uvws__pmd_params_t *params, const uint8_t *in,
                       size_t n, int from_client, size_t max, size_t step,
                       trace_t *t, unsigned *code) {
  owner_t o;
  uvws__proto_t *p = &o.p;
  uvws__pmd_t z;
  char *buf = malloc(n ? n : 1);
  size_t pos = 0;
  long r = 0;

  if (buf == NULL)
    abort();
  memcpy(buf, in, n); /* the engine unmasks in place */
  memset(t, 0, sizeof(*t));
  t->limit = max ? max : SIZE_MAX;
  o.t = t;
  uvws__proto_init(p, &uvws__libc_allocator, &engine_cbs, from_client, max);
  if (params != NULL) {
    uvws__pmd_init(&z, &uvws__libc_allocator, params, 6, 8);
    uvws__proto_set_deflate(p, &z);
  }
  while (pos < n) {
    size_t k = step && step < n - pos ? step : n - pos;
    r = uvws__proto_feed(p, buf + pos, k);
    if (r < 0 || (size_t)r < k)
      break;
    pos += k;
  }
  *code = p->state == UVWS__PS_FAILED ? p->fail_code : 0;
  uvws__proto_free(p);
  if (params != NULL)
    uvws__pmd_free(&z);
  free(buf);
  return r < 0 ? r : 0;
}

#endif

/* libFuzzer target for the receiving engine, in both roles. The first byte
 * of the input picks the role, the message size limit and where the rest is
 * cut; feeding it whole and cut must give the same events and result. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

typedef struct {
  uint64_t hash;
  unsigned count;
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
  mix(TRACE(p), op, d, n);
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

static const uvws__proto_cbs_t cbs = {.on_message = on_message,
                                      .on_ping = on_ping,
                                      .on_pong = on_pong,
                                      .on_close = on_close};

static long run(const uint8_t *in, size_t n, int from_client, size_t max,
                size_t step, trace_t *t, unsigned *code) {
  owner_t o;
  uvws__proto_t *p = &o.p;
  char *buf = malloc(n ? n : 1);
  size_t pos = 0;
  long r = 0;

  memcpy(buf, in, n);
  memset(t, 0, sizeof(*t));
  o.t = t;
  uvws__proto_init(p, &uvws__libc_allocator, &cbs, from_client, max);
  while (pos < n) {
    size_t k = step && step < n - pos ? step : n - pos;
    r = uvws__proto_feed(p, buf + pos, k);
    if (r < 0 || (size_t)r < k)
      break;
    pos += k;
  }
  *code = p->state == UVWS__PS_FAILED ? p->fail_code : 0;
  uvws__proto_free(p);
  free(buf);
  return r < 0 ? r : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  trace_t a, b;
  unsigned ca, cb;
  long ra, rb;
  int from_client;
  size_t max, step;

  if (size < 1)
    return 0;
  from_client = data[0] & 1;
  max = (data[0] & 2) ? 64 : 0;
  step = (data[0] >> 2) + 1;
  ra = run(data + 1, size - 1, from_client, max, 0, &a, &ca);
  rb = run(data + 1, size - 1, from_client, max, step, &b, &cb);
  if (ra != rb || ca != cb || a.hash != b.hash || a.count != b.count)
    abort();
  return 0;
}

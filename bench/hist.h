/* A log-linear latency histogram in the manner of HdrHistogram: values
 * below 128 have a bucket each, and every power of two above is split into
 * 64 equal buckets, so a recorded value is known to within 1/64 (1.6%)
 * wherever it lies. Recording is a count-leading-zeros, a shift and an
 * increment; percentiles walk the buckets. Values are nanoseconds. */
#ifndef UVWS_BENCH_HIST_H
#define UVWS_BENCH_HIST_H

#include <stdint.h>
#include <string.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Index of the largest uint64_t value, plus one. */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS - 1) * HIST_SUB + 2 * HIST_SUB)

typedef struct {
  uint64_t count;
  uint64_t min, max;
  uint64_t buckets[HIST_BUCKETS];
} hist_t;

static inline void hist_reset(hist_t *h) {
  memset(h, 0, sizeof(*h));
  h->min = UINT64_MAX;
}

static inline unsigned hist_index(uint64_t v) {
  unsigned shift;
  if (v < 2 * HIST_SUB)
    return (unsigned)v;
  shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
  return shift * HIST_SUB + (unsigned)(v >> shift);
}

/* The largest value that lands in bucket i (HdrHistogram's "highest
 * equivalent value"), so percentiles err on the high side. */
static inline uint64_t hist_bucket_high(unsigned i) {
  unsigned shift;
  uint64_t m;
  if (i < 2 * HIST_SUB)
    return i;
  shift = i / HIST_SUB - 1;
  m = i - (uint64_t)shift * HIST_SUB;
  return ((m + 1) << shift) - 1;
}

static inline void hist_record(hist_t *h, uint64_t v) {
  h->buckets[hist_index(v)]++;
  h->count++;
  if (v < h->min)
    h->min = v;
  if (v > h->max)
    h->max = v;
}

static inline void hist_merge(hist_t *dst, const hist_t *src) {
  unsigned i;
  if (src->count == 0)
    return;
  for (i = 0; i < HIST_BUCKETS; i++)
    dst->buckets[i] += src->buckets[i];
  dst->count += src->count;
  if (src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
}

/* The value at percentile p (0-100), or 0 for an empty histogram. */
static inline uint64_t hist_percentile(const hist_t *h, double p) {
  uint64_t want, seen = 0;
  unsigned i;
  if (h->count == 0)
    return 0;
  want = (uint64_t)(p / 100.0 * (double)h->count + 0.5);
  if (want < 1)
    want = 1;
  if (want > h->count)
    want = h->count;
  for (i = 0; i < HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= want) {
      uint64_t v = hist_bucket_high(i);
      return v > h->max ? h->max : v;
    }
  }
  return h->max;
}

#endif

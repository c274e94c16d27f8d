/* libFuzzer target for the permessage-deflate receive path: the inflater
 * (uvws__pmd_inflate) and the engine with deflate on.
 *
 * Input: byte 0 picks the agreed parameters: window bits 8 + (b & 7),
 * no context takeover (b & 8), the size limit (bits 4-6), and raw mode
 * (b & 0x80). Byte 1 picks how input is cut: pieces of (b >> 1) + 1 bytes;
 * in raw mode b & 1 makes the engine a client's.
 *
 *  - Message mode: the rest is messages, each [flags][len lo][len hi] and
 *    len bytes. Each is inflated whole and in pieces on two inflaters of
 *    the same parameters; then all of them go to the engine (server role)
 *    as masked frames: RSV1 when flags & 1 (compressed), text when
 *    flags & 2, cut into 1 + ((flags >> 2) & 3) frames, with a ping
 *    between frames when flags & 16.
 *  - Raw mode: the rest is fed to the engine as it is.
 *
 * Always: a message inflated into a new buffer never holds more than
 * limit + 1 bytes (one over is how the excess is noticed), a successful one
 * at most limit, and the buffer never grows past limit + 1 bytes; the
 * engine never delivers a message over the limit.
 * With a 15-bit window (no reference can reach past it) fed whole and fed
 * in pieces must give the same results and events. With smaller windows
 * zlib accepts a reference that reaches back further than the window when
 * the bytes it refers to were written by the same inflate() call, so
 * results may depend on the cuts there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deflate.h"
#include "frame.h"
#include "engine_run.h"
#include "uvws_errno.h"

static const size_t limits[8] = {65536, 1, 100, 1000, 4096, 65536, 16384, 300};

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

/* ---- the inflater alone ------------------------------------------------- */

/* Inflates one message into a fresh buffer, whole or in pieces of step
 * bytes; returns the result, *out holds what came out. */
static int inflate_msg(uvws__pmd_t *z, const uint8_t *in, size_t n,
                       size_t step, size_t limit, uvws__buf_t *out) {
  size_t pos = 0;
  int r;
  memset(out, 0, sizeof(*out));
  if (step == 0 || step >= n)
    return uvws__pmd_inflate(z, in, n, 1, out, limit);
  do {
    size_t k = n - pos < step ? n - pos : step;
    r = uvws__pmd_inflate(z, in + pos, k, pos + k == n, out, limit);
    CHECK(out->len <= limit + 1);
    pos += k;
  } while (r == 0 && pos < n);
  return r;
}

static void check_out(int r, const uvws__buf_t *out, size_t limit) {
  CHECK(r == 0 || r == UVWS_ETOOBIG || r == UVWS_EDEFLATE);
  CHECK(out->cap <= limit + 1);
  CHECK(out->len <= out->cap);
  if (r == 0)
    CHECK(out->len <= limit);
  else
    CHECK(out->len <= limit + 1);
}

typedef struct {
  const uint8_t *data;
  size_t len;
  uint8_t flags;
} msg_t;

#define MAX_MSGS 64

static size_t split_msgs(const uint8_t *d, size_t n, msg_t *m) {
  size_t count = 0, pos = 0;
  while (pos + 3 <= n && count < MAX_MSGS) {
    size_t len = (size_t)d[pos + 1] | ((size_t)d[pos + 2] << 8);
    m[count].flags = d[pos];
    pos += 3;
    if (len > n - pos)
      len = n - pos;
    m[count].data = d + pos;
    m[count].len = len;
    pos += len;
    count++;
  }
  return count;
}

static void fuzz_codec(const uvws__pmd_params_t *params, const msg_t *m,
                       size_t count, size_t step, size_t limit) {
  uvws__pmd_t a, b;
  int same = params->rx_window == 15;

  uvws__pmd_init(&a, &uvws__libc_allocator, params, 6, 8);
  uvws__pmd_init(&b, &uvws__libc_allocator, params, 6, 8);
  for (size_t i = 0; i < count; i++) {
    uvws__buf_t oa, ob;
    int ra = inflate_msg(&a, m[i].data, m[i].len, 0, limit, &oa);
    int rb = inflate_msg(&b, m[i].data, m[i].len, step, limit, &ob);
    check_out(ra, &oa, limit);
    check_out(rb, &ob, limit);
    if (same) {
      CHECK((ra == 0) == (rb == 0));
      if (ra == 0)
        CHECK(oa.len == ob.len &&
              (oa.len == 0 || memcmp(oa.base, ob.base, oa.len) == 0));
    }
    uvws__buf_free(&uvws__libc_allocator, &oa);
    uvws__buf_free(&uvws__libc_allocator, &ob);
    /* A failed message fails the connection: start both over. */
    if (ra != 0 || rb != 0) {
      uvws__pmd_free(&a);
      uvws__pmd_free(&b);
      uvws__pmd_init(&a, &uvws__libc_allocator, params, 6, 8);
      uvws__pmd_init(&b, &uvws__libc_allocator, params, 6, 8);
    }
  }
  uvws__pmd_free(&a);
  uvws__pmd_free(&b);
}

/* ---- the engine --------------------------------------------------------- */

static void fuzz_engine(const uvws__pmd_params_t *params, const uint8_t *in,
                        size_t n, int from_client, size_t limit,
                        size_t step) {
  trace_t a, b;
  unsigned ca, cb;
  long ra = engine_run(params, in, n, from_client, limit, 0, &a, &ca);
  long rb = engine_run(params, in, n, from_client, limit, step, &b, &cb);
  if (params->rx_window != 15)
    return;
  CHECK(a.hash == b.hash && a.count == b.count);
  /* The error and close code too: the first violation in a message decides
   * how it fails, however the input is cut. */
  CHECK(ra == rb && ca == cb);
}

/* Masked frames for the messages, as a client sends them. */
static uint8_t *build_frames(const msg_t *m, size_t count, size_t *out_len) {
  static const uint8_t key[4] = {0xa5, 0x17, 0x3c, 0x81};
  size_t cap = 0, len = 0;
  uint8_t *b;

  for (size_t i = 0; i < count; i++)
    cap += m[i].len + 4 * (UVWS__MAX_HEADER + 8);
  b = malloc(cap ? cap : 1);
  CHECK(b != NULL);
  for (size_t i = 0; i < count; i++) {
    size_t nframes = 1 + ((m[i].flags >> 2) & 3), off = 0;
    for (size_t f = 0; f < nframes; f++) {
      size_t k = f + 1 == nframes ? m[i].len - off : m[i].len / nframes;
      unsigned op = f ? UVWS__OP_CONT
                      : (m[i].flags & 2) ? UVWS__OP_TEXT : UVWS__OP_BINARY;
      unsigned rsv = (f == 0 && (m[i].flags & 1)) ? UVWS__RSV1 : 0;
      size_t h = uvws__frame_encode(b + len, f + 1 == nframes, rsv, op, k, key);
      uvws__mask(b + len + h, m[i].data + off, k, key, 0);
      len += h + k;
      off += k;
      if ((m[i].flags & 16) && f + 1 < nframes) {
        len += uvws__frame_encode(b + len, 1, 0, UVWS__OP_PING, 0, key);
      }
    }
  }
  *out_len = len;
  return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uvws__pmd_params_t params;
  size_t limit, step;
  msg_t m[MAX_MSGS];
  size_t count, flen;
  uint8_t *frames;

  if (size < 2)
    return 0;
  params.rx_window = (uint8_t)(8 + (data[0] & 7));
  params.rx_no_takeover = (data[0] >> 3) & 1;
  params.tx_window = 15;
  params.tx_no_takeover = 0;
  limit = limits[(data[0] >> 4) & 7];
  step = (size_t)(data[1] >> 1) + 1;

  if (data[0] & 0x80) {
    fuzz_engine(&params, data + 2, size - 2, !(data[1] & 1), limit, step);
    return 0;
  }
  count = split_msgs(data + 2, size - 2, m);
  fuzz_codec(&params, m, count, step, limit);
  frames = build_frames(m, count, &flen);
  fuzz_engine(&params, frames, flen, 1, limit, step);
  free(frames);
  return 0;
}

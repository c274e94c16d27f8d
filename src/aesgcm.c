/* AES-GCM on AES-NI and PCLMULQDQ. See aesgcm.h.
 *
 * GHASH works on bit-reflected values: a block loaded with its bytes
 * reversed holds the coefficient of x^k of its polynomial in bit 127 - k.
 * The carry-less product of two such values holds the coefficient of x^k
 * of their product in bit 254 - k; shifted left by one bit it is the
 * 256-bit reflected product, which reduce() folds back to 128 bits modulo
 * x^128 + x^7 + x^2 + x + 1. Four blocks are hashed together with H^4..H
 * and reduced once. The code is compiled for those instructions alone
 * (target attributes), so the library runs on any x86-64 and checks the
 * processor before using it. */
#include "aesgcm.h"

#include <string.h>

#include <uv.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <cpuid.h>
#include <immintrin.h>

#define TARGET __attribute__((target("aes,pclmul,ssse3,sse4.1")))
#define TARGET_WIDE                                                            \
  __attribute__((target("aes,pclmul,ssse3,sse4.1,avx2,avx512f,avx512bw,"       \
                        "vaes,vpclmulqdq")))

int uvws__aesgcm_wide_allowed = 1;

enum { HAS_AESNI = 1, HAS_WIDE = 2, KNOWN = 4 };

/* What the processor and the system offer, from CPUID and XGETBV (not
 * __builtin_cpu_supports(), whose feature names differ between compilers).
 * Asked once; the answer is the same for every thread. */
static int features(void) {
  static int known;
  unsigned a, b, c, d, xlo = 0, xhi = 0;
  int f = __atomic_load_n(&known, __ATOMIC_RELAXED);
  if (f & KNOWN)
    return f;
  f = KNOWN;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    /* ECX: SSSE3 9, SSE4.1 19, AES 25, PCLMULQDQ 1, OSXSAVE 27. */
    if ((c & (1u << 9)) && (c & (1u << 19)) && (c & (1u << 25)) &&
        (c & (1u << 1)))
      f |= HAS_AESNI;
    if (c & (1u << 27))
      __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
  }
  /* The system saves the SSE, AVX and the three AVX-512 states (XCR0 bits
   * 1, 2, 5, 6, 7); leaf 7: EBX AVX2 5, AVX512F 16, AVX512BW 30; ECX VAES
   * 9, VPCLMULQDQ 10. */
  if ((f & HAS_AESNI) && (xlo & 0xe6) == 0xe6 &&
      __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 5)) &&
      (b & (1u << 16)) && (b & (1u << 30)) && (c & (1u << 9)) &&
      (c & (1u << 10)))
    f |= HAS_WIDE;
  __atomic_store_n(&known, f, __ATOMIC_RELAXED);
  return f;
}

static int wide_supported(void) {
  return (features() & HAS_WIDE) != 0;
}

int uvws__aesgcm_supported(void) {
  return (features() & HAS_AESNI) != 0;
}

/* ----------------------------------------------------------------------- */
/* AES                                                                     */

/* w0, w0^w1, w0^w1^w2, w0^w1^w2^w3: the chained XOR of a key expansion. */
TARGET static inline __m128i kexp_chain(__m128i k) {
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  return _mm_xor_si128(k, _mm_slli_si128(k, 4));
}

/* FIPS 197 5.2. aeskeygenassist takes its round constant as an immediate,
 * hence the macros. Dword 3 of its result is RotWord(SubWord(w)) ^ rcon of
 * the last word w of its input, dword 2 SubWord(w). */
#define KEXP128(rk, i, rcon)                                                   \
  rk[i] = _mm_xor_si128(                                                       \
      kexp_chain(rk[i - 1]),                                                   \
      _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff))
#define KEXP256_ROT(rk, i, rcon)                                               \
  rk[i] = _mm_xor_si128(                                                       \
      kexp_chain(rk[i - 2]),                                                   \
      _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff))
#define KEXP256_SUB(rk, i)                                                     \
  rk[i] = _mm_xor_si128(                                                       \
      kexp_chain(rk[i - 2]),                                                   \
      _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], 0), 0xaa))

TARGET static void expand128(__m128i rk[15], const unsigned char *key) {
  rk[0] = _mm_loadu_si128((const __m128i *)key);
  KEXP128(rk, 1, 0x01);
  KEXP128(rk, 2, 0x02);
  KEXP128(rk, 3, 0x04);
  KEXP128(rk, 4, 0x08);
  KEXP128(rk, 5, 0x10);
  KEXP128(rk, 6, 0x20);
  KEXP128(rk, 7, 0x40);
  KEXP128(rk, 8, 0x80);
  KEXP128(rk, 9, 0x1b);
  KEXP128(rk, 10, 0x36);
}

TARGET static void expand256(__m128i rk[15], const unsigned char *key) {
  rk[0] = _mm_loadu_si128((const __m128i *)key);
  rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
  KEXP256_ROT(rk, 2, 0x01);
  KEXP256_SUB(rk, 3);
  KEXP256_ROT(rk, 4, 0x02);
  KEXP256_SUB(rk, 5);
  KEXP256_ROT(rk, 6, 0x04);
  KEXP256_SUB(rk, 7);
  KEXP256_ROT(rk, 8, 0x08);
  KEXP256_SUB(rk, 9);
  KEXP256_ROT(rk, 10, 0x10);
  KEXP256_SUB(rk, 11);
  KEXP256_ROT(rk, 12, 0x20);
  KEXP256_SUB(rk, 13);
  KEXP256_ROT(rk, 14, 0x40);
}

TARGET static inline __m128i aes1(const __m128i *rk, int nr, __m128i b) {
  int r;
  b = _mm_xor_si128(b, rk[0]);
  for (r = 1; r < nr; r++)
    b = _mm_aesenc_si128(b, rk[r]);
  return _mm_aesenclast_si128(b, rk[nr]);
}

/* Four blocks at once: the rounds of independent blocks overlap. */
TARGET static inline void aes4(const __m128i *rk, int nr, __m128i b[4]) {
  int r;
  b[0] = _mm_xor_si128(b[0], rk[0]);
  b[1] = _mm_xor_si128(b[1], rk[0]);
  b[2] = _mm_xor_si128(b[2], rk[0]);
  b[3] = _mm_xor_si128(b[3], rk[0]);
  for (r = 1; r < nr; r++) {
    b[0] = _mm_aesenc_si128(b[0], rk[r]);
    b[1] = _mm_aesenc_si128(b[1], rk[r]);
    b[2] = _mm_aesenc_si128(b[2], rk[r]);
    b[3] = _mm_aesenc_si128(b[3], rk[r]);
  }
  b[0] = _mm_aesenclast_si128(b[0], rk[nr]);
  b[1] = _mm_aesenclast_si128(b[1], rk[nr]);
  b[2] = _mm_aesenclast_si128(b[2], rk[nr]);
  b[3] = _mm_aesenclast_si128(b[3], rk[nr]);
}

/* ----------------------------------------------------------------------- */
/* GHASH                                                                   */

TARGET static inline __m128i bswap128(__m128i x) {
  return _mm_shuffle_epi8(
      x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

/* Adds the 256-bit carry-less product a * b to lo, mid (the two cross
 * products) and hi. */
TARGET static inline void clmul_acc(__m128i a, __m128i b, __m128i *lo,
                                    __m128i *mid, __m128i *hi) {
  *lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
  *hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
  *mid = _mm_xor_si128(*mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01),
                                           _mm_clmulepi64_si128(a, b, 0x10)));
}

/* (lo, mid, hi) as clmul_acc() left them, reduced to a field element. */
TARGET static inline __m128i reduce(__m128i lo, __m128i mid, __m128i hi) {
  __m128i t, s;
  lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
  hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
  /* hi:lo <<= 1 */
  t = _mm_srli_epi64(lo, 63);
  s = _mm_srli_epi64(hi, 63);
  lo = _mm_or_si128(_mm_slli_epi64(lo, 1), _mm_slli_si128(t, 8));
  hi = _mm_or_si128(_mm_or_si128(_mm_slli_epi64(hi, 1), _mm_slli_si128(s, 8)),
                    _mm_srli_si128(t, 8));
  /* lo holds x^128..x^255 (x^128 in bit 127). x^(128+j) = x^j * (1 + x +
   * x^2 + x^7), which lands on hi as lo ^ lo>>1 ^ lo>>2 ^ lo>>7 (128-bit
   * shifts). What those shifts push out of the bottom is x^128..x^134
   * again: lo<<127 ^ lo<<126 ^ lo<<121, folded into lo first. */
  t = _mm_xor_si128(
      _mm_xor_si128(_mm_slli_epi64(lo, 63), _mm_slli_epi64(lo, 62)),
      _mm_slli_epi64(lo, 57));
  lo = _mm_xor_si128(lo, _mm_slli_si128(t, 8));
  s = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi64(lo, 1), _mm_srli_epi64(lo, 2)),
                    _mm_srli_epi64(lo, 7));
  t = _mm_xor_si128(
      _mm_xor_si128(_mm_slli_epi64(lo, 63), _mm_slli_epi64(lo, 62)),
      _mm_slli_epi64(lo, 57));
  return _mm_xor_si128(_mm_xor_si128(hi, lo),
                       _mm_xor_si128(s, _mm_srli_si128(t, 8)));
}

TARGET static inline __m128i gmul(__m128i a, __m128i b) {
  __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
  clmul_acc(a, b, &lo, &mid, &hi);
  return reduce(lo, mid, hi);
}

/* y after four more blocks x[0..3] (reflected), with h = H..H^4. */
TARGET static inline __m128i ghash4(__m128i y, const __m128i x[4],
                                    const __m128i h[4]) {
  __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
  clmul_acc(_mm_xor_si128(y, x[0]), h[3], &lo, &mid, &hi);
  clmul_acc(x[1], h[2], &lo, &mid, &hi);
  clmul_acc(x[2], h[1], &lo, &mid, &hi);
  clmul_acc(x[3], h[0], &lo, &mid, &hi);
  return reduce(lo, mid, hi);
}

/* y after p[0..n), zero-padded to whole blocks. */
TARGET static __m128i ghash_bytes(__m128i y, __m128i h, const unsigned char *p,
                                  size_t n) {
  unsigned char last[16];
  while (n >= 16) {
    y = gmul(_mm_xor_si128(y, bswap128(_mm_loadu_si128((const __m128i *)p))),
             h);
    p += 16;
    n -= 16;
  }
  if (n > 0) {
    memset(last, 0, sizeof(last));
    memcpy(last, p, n);
    y = gmul(_mm_xor_si128(y, bswap128(_mm_loadu_si128((__m128i *)last))), h);
  }
  return y;
}

/* ----------------------------------------------------------------------- */
/* GCM                                                                     */

TARGET static int init_x86(uvws__aesgcm_t *g, const unsigned char *key,
                           size_t keylen) {
  __m128i rk[15], h[16];
  int i;
  if (keylen == 16) {
    expand128(rk, key);
    g->rounds = 10;
  } else if (keylen == 32) {
    expand256(rk, key);
    g->rounds = 14;
  } else {
    return UV_EINVAL;
  }
  for (i = 0; i <= g->rounds; i++)
    _mm_storeu_si128((__m128i *)g->rk[i], rk[i]);
  h[0] = bswap128(aes1(rk, g->rounds, _mm_setzero_si128()));
  for (i = 1; i < 16; i++)
    h[i] = gmul(h[i - 1], h[0]);
  g->wide = uvws__aesgcm_wide_allowed && wide_supported();
  for (i = 0; i < 16; i++)
    _mm_storeu_si128((__m128i *)g->hw[i], h[15 - i]);
  return 0;
}

int uvws__aesgcm_init(uvws__aesgcm_t *g, const unsigned char *key,
                      size_t keylen) {
  memset(g, 0, sizeof(*g));
  return init_x86(g, key, keylen);
}

/* The counter block: the nonce, then a 32-bit big-endian counter. */
TARGET static inline __m128i counter(__m128i base, uint32_t n) {
  return _mm_insert_epi32(base, (int)__builtin_bswap32(n), 3);
}

/* XOR of the four 128-bit lanes of v. */
TARGET_WIDE static inline __m128i fold4(__m512i v) {
  __m256i t = _mm256_xor_si256(_mm512_castsi512_si256(v),
                               _mm512_extracti64x4_epi64(v, 1));
  return _mm_xor_si128(_mm256_castsi256_si128(t),
                       _mm256_extracti128_si256(t, 1));
}

/* The whole 256-byte steps of in[0..len): sixteen blocks, four to a
 * register, with the hash of all sixteen reduced once. Advances *ctr and
 * *y; returns the bytes done. */
/* Adds the products of the four blocks of x by the four powers in h
 * (lane by lane) to lo, mid and hi. */
TARGET_WIDE static inline void clmul_acc4(__m512i x, __m512i h, __m512i *lo,
                                          __m512i *mid, __m512i *hi) {
  *lo = _mm512_xor_si512(*lo, _mm512_clmulepi64_epi128(x, h, 0x00));
  *hi = _mm512_xor_si512(*hi, _mm512_clmulepi64_epi128(x, h, 0x11));
  *mid = _mm512_xor_si512(
      *mid, _mm512_xor_si512(_mm512_clmulepi64_epi128(x, h, 0x01),
                             _mm512_clmulepi64_epi128(x, h, 0x10)));
}

/* The whole 256-byte steps of in[0..len): sixteen blocks, four to a
 * register (written out one by one, so that they stay in registers), with
 * the hash of all sixteen reduced once. Advances *ctr and *y; returns the
 * bytes done. */
TARGET_WIDE static size_t wide_steps(const uvws__aesgcm_t *g,
                                     const __m128i *rk128, __m128i base128,
                                     uint32_t *ctr, const unsigned char *in,
                                     unsigned char *out, size_t len, int open,
                                     __m128i *y) {
  __m512i rk[15], h0, h1, h2, h3, b0, b1, b2, b3, c0, c1, c2, c3, lo, mid, hi;
  __m512i ctrs, base, bsw, pick, four;
  const __m512i zero = _mm512_setzero_si512();
  uint32_t n = *ctr;
  size_t i = 0;
  int nr = g->rounds, r;

  for (r = 0; r <= nr; r++)
    rk[r] = _mm512_broadcast_i32x4(rk128[r]);
  h0 = _mm512_loadu_si512((const void *)g->hw[0]);
  h1 = _mm512_loadu_si512((const void *)g->hw[4]);
  h2 = _mm512_loadu_si512((const void *)g->hw[8]);
  h3 = _mm512_loadu_si512((const void *)g->hw[12]);
  base = _mm512_broadcast_i32x4(base128);
  bsw = _mm512_broadcast_i32x4(
      _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  /* Byte-swaps the last dword of each block and clears the rest. */
  pick = _mm512_broadcast_i32x4(_mm_set_epi8(12, 13, 14, 15, -128, -128, -128,
                                             -128, -128, -128, -128, -128, -128,
                                             -128, -128, -128));
  four = _mm512_broadcast_i32x4(_mm_set_epi32(4, 0, 0, 0));
  ctrs = _mm512_set_epi32((int)(n + 3), 0, 0, 0, (int)(n + 2), 0, 0, 0,
                          (int)(n + 1), 0, 0, 0, (int)n, 0, 0, 0);
#define WIDE_CTR(b)                                                            \
  b = _mm512_xor_si512(_mm512_or_si512(base, _mm512_shuffle_epi8(ctrs, pick)), \
                       rk[0]);                                                 \
  ctrs = _mm512_add_epi32(ctrs, four)
  for (; len - i >= 256; i += 256) {
    WIDE_CTR(b0);
    WIDE_CTR(b1);
    WIDE_CTR(b2);
    WIDE_CTR(b3);
    for (r = 1; r < nr; r++) {
      b0 = _mm512_aesenc_epi128(b0, rk[r]);
      b1 = _mm512_aesenc_epi128(b1, rk[r]);
      b2 = _mm512_aesenc_epi128(b2, rk[r]);
      b3 = _mm512_aesenc_epi128(b3, rk[r]);
    }
    c0 = _mm512_loadu_si512((const void *)(in + i));
    c1 = _mm512_loadu_si512((const void *)(in + i + 64));
    c2 = _mm512_loadu_si512((const void *)(in + i + 128));
    c3 = _mm512_loadu_si512((const void *)(in + i + 192));
    b0 = _mm512_xor_si512(_mm512_aesenclast_epi128(b0, rk[nr]), c0);
    b1 = _mm512_xor_si512(_mm512_aesenclast_epi128(b1, rk[nr]), c1);
    b2 = _mm512_xor_si512(_mm512_aesenclast_epi128(b2, rk[nr]), c2);
    b3 = _mm512_xor_si512(_mm512_aesenclast_epi128(b3, rk[nr]), c3);
    _mm512_storeu_si512((void *)(out + i), b0);
    _mm512_storeu_si512((void *)(out + i + 64), b1);
    _mm512_storeu_si512((void *)(out + i + 128), b2);
    _mm512_storeu_si512((void *)(out + i + 192), b3);
    if (!open) {
      c0 = b0;
      c1 = b1;
      c2 = b2;
      c3 = b3;
    }
    /* c0..c3: the ciphertext. y joins the first block. */
    c0 = _mm512_xor_si512(_mm512_shuffle_epi8(c0, bsw),
                          _mm512_inserti32x4(zero, *y, 0));
    lo = mid = hi = zero;
    clmul_acc4(c0, h0, &lo, &mid, &hi);
    clmul_acc4(_mm512_shuffle_epi8(c1, bsw), h1, &lo, &mid, &hi);
    clmul_acc4(_mm512_shuffle_epi8(c2, bsw), h2, &lo, &mid, &hi);
    clmul_acc4(_mm512_shuffle_epi8(c3, bsw), h3, &lo, &mid, &hi);
    *y = reduce(fold4(lo), fold4(mid), fold4(hi));
  }
#undef WIDE_CTR
  *ctr = n + (uint32_t)(i / 16);
  return i;
}

/* Seals (open = 0) or opens: the keystream is the same both ways, the hash
 * is over the ciphertext, which is the output when sealing and the input
 * when opening. Writes the computed tag. */
TARGET static void gcm_crypt(const uvws__aesgcm_t *g,
                             const unsigned char *nonce,
                             const unsigned char *aad, size_t aad_len,
                             const unsigned char *in, unsigned char *out,
                             size_t len, int open, unsigned char tag[16]) {
  __m128i rk[15], h[4], base, y, b[4], c[4], x[4];
  unsigned char pad[16];
  uint32_t ctr = 2;
  size_t i = 0, rest;
  int nr = g->rounds, k;

  for (k = 0; k <= nr; k++)
    rk[k] = _mm_loadu_si128((const __m128i *)g->rk[k]);
  for (k = 0; k < 4; k++)
    h[k] = _mm_loadu_si128((const __m128i *)g->hw[15 - k]);
  memcpy(pad, nonce, 12);
  memset(pad + 12, 0, 4);
  base = _mm_loadu_si128((const __m128i *)pad);
  y = ghash_bytes(_mm_setzero_si128(), h[0], aad, aad_len);

  if (g->wide)
    i = wide_steps(g, rk, base, &ctr, in, out, len, open, &y);
  for (; len - i >= 64; i += 64, ctr += 4) {
    for (k = 0; k < 4; k++) {
      b[k] = counter(base, ctr + (uint32_t)k);
      c[k] = _mm_loadu_si128((const __m128i *)(in + i + 16 * k));
    }
    aes4(rk, nr, b);
    for (k = 0; k < 4; k++) {
      b[k] = _mm_xor_si128(b[k], c[k]);
      _mm_storeu_si128((__m128i *)(out + i + 16 * k), b[k]);
      x[k] = bswap128(open ? c[k] : b[k]);
    }
    y = ghash4(y, x, h);
  }
  for (; len - i >= 16; i += 16, ctr++) {
    c[0] = _mm_loadu_si128((const __m128i *)(in + i));
    b[0] = _mm_xor_si128(aes1(rk, nr, counter(base, ctr)), c[0]);
    _mm_storeu_si128((__m128i *)(out + i), b[0]);
    y = gmul(_mm_xor_si128(y, bswap128(open ? c[0] : b[0])), h[0]);
  }
  rest = len - i;
  if (rest > 0) {
    memset(pad, 0, sizeof(pad));
    memcpy(pad, in + i, rest);
    c[0] = _mm_loadu_si128((const __m128i *)pad);
    b[0] = _mm_xor_si128(aes1(rk, nr, counter(base, ctr)), c[0]);
    _mm_storeu_si128((__m128i *)pad, b[0]);
    memcpy(out + i, pad, rest);
    if (!open) {
      memset(pad + rest, 0, sizeof(pad) - rest);
      c[0] = _mm_loadu_si128((const __m128i *)pad);
    }
    /* c[0] is the ciphertext's last block, zero-padded, either way. */
    y = gmul(_mm_xor_si128(y, bswap128(c[0])), h[0]);
  }
  /* The lengths in bits, as a reflected block. */
  y = gmul(_mm_xor_si128(y, _mm_set_epi64x((long long)(aad_len * 8),
                                           (long long)(len * 8))),
           h[0]);
  y = _mm_xor_si128(bswap128(y), aes1(rk, nr, counter(base, 1)));
  _mm_storeu_si128((__m128i *)tag, y);
}

void uvws__aesgcm_seal(const uvws__aesgcm_t *g, const unsigned char nonce[12],
                       const unsigned char *aad, size_t aad_len,
                       const unsigned char *in, unsigned char *out, size_t len,
                       unsigned char tag[16]) {
  gcm_crypt(g, nonce, aad, aad_len, in, out, len, 0, tag);
}

int uvws__aesgcm_open(const uvws__aesgcm_t *g, const unsigned char nonce[12],
                      const unsigned char *aad, size_t aad_len,
                      const unsigned char *in, unsigned char *out, size_t len,
                      const unsigned char tag[16]) {
  unsigned char mine[16];
  unsigned diff = 0;
  int k;
  gcm_crypt(g, nonce, aad, aad_len, in, out, len, 1, mine);
  for (k = 0; k < 16; k++)
    diff |= (unsigned)(mine[k] ^ tag[k]);
  return diff == 0 ? 0 : -1;
}

#else /* not x86-64 */

int uvws__aesgcm_supported(void) {
  return 0;
}

int uvws__aesgcm_init(uvws__aesgcm_t *g, const unsigned char *key,
                      size_t keylen) {
  (void)g;
  (void)key;
  (void)keylen;
  return UV_ENOTSUP;
}

void uvws__aesgcm_seal(const uvws__aesgcm_t *g, const unsigned char nonce[12],
                       const unsigned char *aad, size_t aad_len,
                       const unsigned char *in, unsigned char *out, size_t len,
                       unsigned char tag[16]) {
  (void)g;
  (void)nonce;
  (void)aad;
  (void)aad_len;
  (void)in;
  (void)out;
  (void)len;
  (void)tag;
}

int uvws__aesgcm_open(const uvws__aesgcm_t *g, const unsigned char nonce[12],
                      const unsigned char *aad, size_t aad_len,
                      const unsigned char *in, unsigned char *out, size_t len,
                      const unsigned char tag[16]) {
  (void)g;
  (void)nonce;
  (void)aad;
  (void)aad_len;
  (void)in;
  (void)out;
  (void)len;
  (void)tag;
  return -1;
}

#endif

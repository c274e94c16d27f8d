/* libFuzzer target for the TLS record layer (src/tls_rec.c) and AES-GCM
 * (src/aesgcm.c), with fixed keys.
 *
 * The input is read two ways. As ciphertext from a peer, fed in pieces
 * whose size its first byte sets: every record must fail to open (a
 * forgery) or the header be refused, and nothing may read or write out of
 * bounds. As plaintext: written as records by one side, in two pieces cut
 * where the first byte says, read back by the other in pieces, it must
 * come out the same; with one bit of the records flipped it must not. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_rec.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key_a[32] = "uvws fuzz: the key of side A...";
static const unsigned char key_b[32] = "uvws fuzz: the key of side B...";
static const unsigned char salt_a[4] = {1, 2, 3, 4};
static const unsigned char salt_b[4] = {5, 6, 7, 8};

static char plain[UVWS__TLS_RECORD];

/* Reads in[0..len) through r in pieces of step bytes; the opened
 * application data goes to got (when not NULL). Returns the first error, 0
 * if none. */
static int read_all(uvws__tls_rec_t *r, const char *in, size_t len, size_t step,
                    uvws__buf_t *got) {
  while (len > 0) {
    size_t piece = len < step ? len : step, n;
    const char *p = in;
    int type, e;
    in += piece;
    len -= piece;
    while ((e = uvws__tls_rec_read(r, &uvws__libc_allocator, &p, &piece, plain,
                                   &n, &type)) == 1) {
      FUZZ_CHECK(n <= UVWS__TLS_RECORD);
      FUZZ_CHECK(type == UVWS__TLS_APPLICATION_DATA);
      if (got != NULL)
        FUZZ_CHECK(uvws__buf_append(&uvws__libc_allocator, got, plain, n) == 0);
    }
    if (e < 0)
      return e;
    FUZZ_CHECK(piece == 0);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uvws__tls_rec_t a, b;
  uvws__tls_iov_t iov[2];
  uvws__buf_t wire = {0}, got = {0};
  size_t keylen, step, cut;
  int e;

  if (size == 0 || !uvws__aesgcm_supported())
    return 0;
  keylen = data[0] & 1 ? 32 : 16;
  step = (size_t)(data[0] >> 1) * 131 + 1;
  cut = (size_t)data[0] * 7 % size;
  data++;
  size--;

  FUZZ_CHECK(
      uvws__tls_rec_init(&a, key_a, salt_a, key_b, salt_b, keylen, 0, 0) == 0);
  FUZZ_CHECK(
      uvws__tls_rec_init(&b, key_b, salt_b, key_a, salt_a, keylen, 0, 0) == 0);

  /* Ciphertext nobody sealed: refused, never opened. */
  e = read_all(&b, (const char *)data, size, step, NULL);
  FUZZ_CHECK(e <= 0);
  uvws__tls_rec_free(&b, &uvws__libc_allocator);

  /* Plaintext there and back. */
  FUZZ_CHECK(
      uvws__tls_rec_init(&b, key_b, salt_b, key_a, salt_a, keylen, 0, 0) == 0);
  iov[0].base = (const char *)data;
  iov[0].len = cut < size ? cut : size;
  iov[1].base = (const char *)data + iov[0].len;
  iov[1].len = size - iov[0].len;
  FUZZ_CHECK(uvws__tls_rec_write(&a, &uvws__libc_allocator,
                                 UVWS__TLS_APPLICATION_DATA, iov, 2,
                                 &wire) == 0);
  FUZZ_CHECK(wire.len == size + (size + UVWS__TLS_RECORD - 1) /
                                    UVWS__TLS_RECORD * (5 + 8 + 16));
  FUZZ_CHECK(read_all(&b, wire.base, wire.len, step, &got) == 0);
  FUZZ_CHECK(got.len == size);
  FUZZ_CHECK(size == 0 || memcmp(got.base, data, size) == 0);
  FUZZ_CHECK(b.part.len == 0);

  /* The same again, one bit flipped: the records up to the flipped one
   * open (their bytes are the input's), that one fails. */
  if (size > 0) {
    size_t at = cut % wire.len;
    uvws__tls_rec_free(&a, &uvws__libc_allocator);
    uvws__tls_rec_free(&b, &uvws__libc_allocator);
    FUZZ_CHECK(uvws__tls_rec_init(&a, key_a, salt_a, key_b, salt_b, keylen, 0,
                                  0) == 0);
    FUZZ_CHECK(uvws__tls_rec_init(&b, key_b, salt_b, key_a, salt_a, keylen, 0,
                                  0) == 0);
    wire.base[at] ^= (char)(1 << (size % 8));
    got.len = 0;
    e = read_all(&b, wire.base, wire.len, step, &got);
    /* A longer length leaves its record waiting for bytes that never come. */
    FUZZ_CHECK(e < 0 || b.part.len > 0);
    FUZZ_CHECK(got.len < size || size == 0);
    FUZZ_CHECK(memcmp(got.base ? got.base : "", data, got.len) == 0);
  }
  uvws__tls_rec_free(&a, &uvws__libc_allocator);
  uvws__tls_rec_free(&b, &uvws__libc_allocator);
  uvws__buf_free(&uvws__libc_allocator, &wire);
  uvws__buf_free(&uvws__libc_allocator, &got);
  return 0;
}

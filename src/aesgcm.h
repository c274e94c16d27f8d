/* AES-GCM (NIST SP 800-38D) with a 96-bit nonce and a 128-bit tag, on the
 * x86-64 AES and carry-less multiplication instructions (AES-NI and
 * PCLMULQDQ), and sixteen blocks at a time on their 512-bit forms (VAES,
 * VPCLMULQDQ, AVX-512) where the processor has them: no table lookups, so
 * no timing that depends on the key or the data. The TLS record layer
 * (tls_rec.c) seals and opens its records with it once the handshake is over.
 *
 * On other processors, or x86-64 ones without those instructions,
 * uvws__aesgcm_supported() is 0 and nothing else may be called. Internal. */
#ifndef UVWS_AESGCM_H
#define UVWS_AESGCM_H

#include <stddef.h>
#include <stdint.h>

/* The expanded key and the powers of the hash key. Plain bytes, so that it
 * can live in any structure; loaded with unaligned loads. */
typedef struct {
  unsigned char rk[15][16]; /* round keys */
  /* H^16, H^15, ..., H, bit-reflected: the 128-bit code uses the last
   * four, the 512-bit code (wide) all of them, four to a register. */
  unsigned char hw[16][16];
  int rounds; /* 10 (AES-128) or 14 (AES-256) */
  int wide;   /* sixteen blocks a step, on VAES and VPCLMULQDQ */
} uvws__aesgcm_t;

/* 0 makes contexts set up afterwards keep to the 128-bit instructions even
 * where VAES, VPCLMULQDQ and AVX-512 are there (tests run both). 1 by
 * default. */
extern int uvws__aesgcm_wide_allowed;

/* 1 if this processor runs the code below (checked once). */
int uvws__aesgcm_supported(void);

/* Expands a 16- or 32-byte key into g. Returns 0, or UV_EINVAL for another
 * key length. */
int uvws__aesgcm_init(uvws__aesgcm_t *g, const unsigned char *key,
                      size_t keylen);

/* Encrypts in[0..len) into out (out == in allowed; otherwise they must not
 * overlap) and writes the tag over the nonce, aad and the ciphertext. */
void uvws__aesgcm_seal(const uvws__aesgcm_t *g, const unsigned char nonce[12],
                       const unsigned char *aad, size_t aad_len,
                       const unsigned char *in, unsigned char *out, size_t len,
                       unsigned char tag[16]);

/* Checks tag and decrypts in[0..len) into out (out == in allowed). Returns
 * 0, or -1 when the tag does not match: out then holds garbage the caller
 * must not use. The comparison takes the same time whatever the tag. */
int uvws__aesgcm_open(const uvws__aesgcm_t *g, const unsigned char nonce[12],
                      const unsigned char *aad, size_t aad_len,
                      const unsigned char *in, unsigned char *out, size_t len,
                      const unsigned char tag[16]);

#endif

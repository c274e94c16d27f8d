/* Random bytes for handshake keys and frame masks (RFC 6455 5.3 asks for a
 * strong source), from mbedTLS's CTR-DRBG seeded by the system's entropy.
 * Internal. */
#ifndef UVWS_RAND_H
#define UVWS_RAND_H

#include <stddef.h>
#include <stdint.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

typedef struct {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  /* Masks take 4 bytes per frame; drawing them from a pool keeps the DRBG
   * call off the per-frame path. */
  uint8_t pool[512];
  size_t pool_left;
} uvws__rand_t;

/* Returns 0 or UVWS_ETLS when the generator cannot be seeded. */
int uvws__rand_init(uvws__rand_t *r);
/* Fills out with n random bytes. Returns 0 or UVWS_ETLS. */
int uvws__rand_bytes(uvws__rand_t *r, void *out, size_t n);
void uvws__rand_free(uvws__rand_t *r);

#endif

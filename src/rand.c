#include "rand.h"
#include "uvws_errno.h"

#include <string.h>

int uvws__rand_init(uvws__rand_t *r) {
  static const char pers[] = "uvws";
  memset(r, 0, sizeof(*r));
  mbedtls_entropy_init(&r->entropy);
  mbedtls_ctr_drbg_init(&r->drbg);
  if (mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                            (const unsigned char *)pers, sizeof(pers) - 1)) {
    uvws__rand_free(r);
    return UVWS_ETLS;
  }
  return 0;
}

int uvws__rand_bytes(uvws__rand_t *r, void *out, size_t n) {
  uint8_t *o = out;
  while (n > 0) {
    size_t take;
    if (r->pool_left == 0) {
      if (mbedtls_ctr_drbg_random(&r->drbg, r->pool, sizeof(r->pool)))
        return UVWS_ETLS;
      r->pool_left = sizeof(r->pool);
    }
    take = n < r->pool_left ? n : r->pool_left;
    memcpy(o, r->pool + sizeof(r->pool) - r->pool_left, take);
    /* Bytes handed out are not kept around. */
    memset(r->pool + sizeof(r->pool) - r->pool_left, 0, take);
    r->pool_left -= take;
    o += take;
    n -= take;
  }
  return 0;
}

void uvws__rand_free(uvws__rand_t *r) {
  mbedtls_ctr_drbg_free(&r->drbg);
  mbedtls_entropy_free(&r->entropy);
  memset(r->pool, 0, sizeof(r->pool));
  r->pool_left = 0;
}

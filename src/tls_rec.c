/* TLS 1.2 AES-GCM records. See tls_rec.h.
 *
 * A record: type (1), version 3.3 (2), length (2); then the explicit part
 * of the nonce (8, our sequence number, as mbedTLS sends it), the
 * ciphertext and the tag (16). The nonce is the fixed IV then the
 * explicit part; the additional data the sequence number (8), the type,
 * the version and the plaintext's length (RFC 5246 6.2.3.3). */
#include "tls_rec.h"

#include <string.h>

#include <uv.h>

#define HEADER 5
#define EXPLICIT 8
#define TAG 16
/* The largest ciphertext of a record: a whole record's plaintext sealed. */
#define MAX_BODY (UVWS__TLS_RECORD + EXPLICIT + TAG)

static void put64(unsigned char *p, uint64_t v) {
  int i;
  for (i = 7; i >= 0; i--) {
    p[i] = (unsigned char)v;
    v >>= 8;
  }
}

int uvws__tls_rec_init(uvws__tls_rec_t *r, const unsigned char *seal_key,
                       const unsigned char *seal_salt,
                       const unsigned char *open_key,
                       const unsigned char *open_salt, size_t keylen,
                       uint64_t seal_seq, uint64_t open_seq) {
  int e;
  memset(r, 0, sizeof(*r));
  if ((e = uvws__aesgcm_init(&r->seal, seal_key, keylen)) != 0 ||
      (e = uvws__aesgcm_init(&r->open, open_key, keylen)) != 0)
    return e;
  memcpy(r->seal_salt, seal_salt, 4);
  memcpy(r->open_salt, open_salt, 4);
  r->seal_seq = seal_seq;
  r->open_seq = open_seq;
  return 0;
}

void uvws__tls_rec_free(uvws__tls_rec_t *r, const uvws_allocator_t *al) {
  uvws__buf_free(al, &r->part);
  /* Through a volatile pointer, so the wipe is not optimized away. */
  {
    volatile unsigned char *p = (volatile unsigned char *)r;
    size_t i;
    for (i = 0; i < sizeof(*r); i++)
      p[i] = 0;
  }
}

/* Checks a header; 0 or an error. */
static int check_header(const unsigned char *h) {
  size_t body = (size_t)h[3] << 8 | h[4];
  if (h[0] < UVWS__TLS_CHANGE_CIPHER_SPEC || h[0] > UVWS__TLS_APPLICATION_DATA)
    return UVWS__TLS_REC_EUNEXPECTED;
  if (h[1] != 3 || h[2] != 3)
    return UVWS__TLS_REC_EVERSION;
  if (body > MAX_BODY)
    return UVWS__TLS_REC_EOVERFLOW;
  if (body < EXPLICIT + TAG)
    return UVWS__TLS_REC_EBADMAC; /* too short to have been sealed */
  return 0;
}

/* Opens the whole record rec (header included) into plain. */
static int open_record(uvws__tls_rec_t *r, const unsigned char *rec,
                       char *plain, size_t *plain_len, int *type) {
  size_t body = (size_t)rec[3] << 8 | rec[4], n = body - EXPLICIT - TAG;
  unsigned char nonce[12], aad[13];
  if (r->open_seq == UINT64_MAX)
    return UVWS__TLS_REC_ESEQ;
  memcpy(nonce, r->open_salt, 4);
  memcpy(nonce + 4, rec + HEADER, EXPLICIT);
  put64(aad, r->open_seq);
  aad[8] = rec[0];
  aad[9] = 3;
  aad[10] = 3;
  aad[11] = (unsigned char)(n >> 8);
  aad[12] = (unsigned char)n;
  if (uvws__aesgcm_open(&r->open, nonce, aad, sizeof(aad),
                        rec + HEADER + EXPLICIT, (unsigned char *)plain, n,
                        rec + HEADER + EXPLICIT + n) != 0)
    return UVWS__TLS_REC_EBADMAC;
  r->open_seq++;
  *plain_len = n;
  *type = rec[0];
  return 1;
}

int uvws__tls_rec_read(uvws__tls_rec_t *r, const uvws_allocator_t *al,
                       const char **in, size_t *len, char *plain,
                       size_t *plain_len, int *type) {
  const unsigned char *p = (const unsigned char *)*in;
  size_t whole, take;
  int e;

  if (r->part.len == 0) {
    /* The common case: the record is in the input whole. */
    if (*len >= HEADER) {
      if ((e = check_header(p)) != 0)
        return e;
      whole = HEADER + ((size_t)p[3] << 8 | p[4]);
      if (*len >= whole) {
        *in += whole;
        *len -= whole;
        return open_record(r, p, plain, plain_len, type);
      }
    }
    if (*len == 0)
      return 0;
  }
  /* Gather the header, then the rest, in r->part. */
  if (r->part.len < HEADER) {
    take = HEADER - r->part.len;
    if (take > *len)
      take = *len;
    if (uvws__buf_append(al, &r->part, *in, take) != 0)
      return UVWS__TLS_REC_ENOMEM;
    *in += take;
    *len -= take;
    if (r->part.len < HEADER)
      return 0;
    if ((e = check_header((const unsigned char *)r->part.base)) != 0)
      return e;
  }
  p = (const unsigned char *)r->part.base;
  whole = HEADER + ((size_t)p[3] << 8 | p[4]);
  if (r->part.cap < whole) {
    /* Room for this record exactly. */
    char *grown = uvws__realloc(al, r->part.base, whole);
    if (grown == NULL)
      return UVWS__TLS_REC_ENOMEM;
    r->part.base = grown;
    r->part.cap = whole;
    p = (const unsigned char *)grown;
  }
  take = whole - r->part.len;
  if (take > *len)
    take = *len;
  if (uvws__buf_append(al, &r->part, *in, take) != 0)
    return UVWS__TLS_REC_ENOMEM;
  *in += take;
  *len -= take;
  if (r->part.len < whole)
    return 0;
  r->part.len = 0;
  e = open_record(r, (const unsigned char *)r->part.base, plain, plain_len,
                  type);
  /* A large record's room is not kept: a connection that goes idle after
   * a large message holds none of it. */
  if (r->part.cap > 4096)
    uvws__buf_free(al, &r->part);
  return e;
}

int uvws__tls_rec_write(uvws__tls_rec_t *r, const uvws_allocator_t *al,
                        int type, const uvws__tls_iov_t *iov, size_t n,
                        uvws__buf_t *out) {
  size_t total = 0, i = 0, off = 0, records;
  for (; i < n; i++)
    total += iov[i].len;
  if (total == 0)
    return 0;
  records = (total + UVWS__TLS_RECORD - 1) / UVWS__TLS_RECORD;
  if (r->seal_seq > UINT64_MAX - records)
    return UVWS__TLS_REC_ESEQ;
  if (uvws__buf_reserve(al, out, total + records * (HEADER + EXPLICIT + TAG)) !=
      0)
    return UV_ENOMEM;
  i = 0;
  while (total > 0) {
    size_t m = total < UVWS__TLS_RECORD ? total : UVWS__TLS_RECORD, got = 0;
    unsigned char *h = (unsigned char *)out->base + out->len;
    unsigned char *body = h + HEADER + EXPLICIT, nonce[12], aad[13];
    const unsigned char *src = body;
    while (iov[i].len == off) {
      i++;
      off = 0;
    }
    if (iov[i].len - off >= m) {
      /* Within one piece: sealed from there, without a copy. */
      src = (const unsigned char *)iov[i].base + off;
      off += m;
      got = m;
    }
    /* Otherwise the plaintext is gathered from the pieces, and sealed
     * where it lies. */
    while (got < m) {
      size_t k = iov[i].len - off;
      if (k > m - got)
        k = m - got;
      if (k > 0)
        memcpy(body + got, iov[i].base + off, k);
      got += k;
      off += k;
      if (off == iov[i].len) {
        i++;
        off = 0;
      }
    }
    h[0] = (unsigned char)type;
    h[1] = 3;
    h[2] = 3;
    h[3] = (unsigned char)((m + EXPLICIT + TAG) >> 8);
    h[4] = (unsigned char)(m + EXPLICIT + TAG);
    put64(h + HEADER, r->seal_seq);
    memcpy(nonce, r->seal_salt, 4);
    memcpy(nonce + 4, h + HEADER, EXPLICIT);
    memcpy(aad, h + HEADER, 8);
    aad[8] = (unsigned char)type;
    aad[9] = 3;
    aad[10] = 3;
    aad[11] = (unsigned char)(m >> 8);
    aad[12] = (unsigned char)m;
    uvws__aesgcm_seal(&r->seal, nonce, aad, sizeof(aad), src, body, m,
                      body + m);
    r->seal_seq++;
    out->len += HEADER + EXPLICIT + m + TAG;
    total -= m;
  }
  return 0;
}

/* TLS 1.2 records protected with AES-GCM (RFC 5246 6.2, RFC 5288), for a
 * session whose handshake mbedTLS completed: once the keys and sequence
 * numbers are taken over, records are read and written here, with
 * aesgcm.c, in one pass over the bytes and without mbedTLS's copies.
 * No I/O: bytes in, records and plaintext out. Internal. */
#ifndef UVWS_TLS_REC_H
#define UVWS_TLS_REC_H

#include <stddef.h>
#include <stdint.h>

#include "aesgcm.h"
#include "buf.h"

typedef struct {
  const char *base;
  size_t len;
} uvws__tls_iov_t;

/* The largest plaintext of one record (RFC 5246 6.2.1). */
#define UVWS__TLS_RECORD 16384

/* Record content types. */
enum {
  UVWS__TLS_CHANGE_CIPHER_SPEC = 20,
  UVWS__TLS_ALERT = 21,
  UVWS__TLS_HANDSHAKE_MSG = 22,
  UVWS__TLS_APPLICATION_DATA = 23
};

/* Errors of uvws__tls_rec_read(); each names the alert it calls for. */
enum {
  UVWS__TLS_REC_EBADMAC = -1,     /* bad_record_mac (20) */
  UVWS__TLS_REC_EOVERFLOW = -2,   /* record_overflow (22) */
  UVWS__TLS_REC_EUNEXPECTED = -3, /* unexpected_message (10): unknown type */
  UVWS__TLS_REC_EVERSION = -4,    /* protocol_version (70) */
  UVWS__TLS_REC_ENOMEM = -5,      /* internal_error (80) */
  UVWS__TLS_REC_ESEQ = -6         /* 2^64 records: the session is spent */
};

typedef struct {
  uvws__aesgcm_t seal; /* our write key */
  uvws__aesgcm_t open; /* the peer's write key */
  unsigned char seal_salt[4], open_salt[4];
  uint64_t seal_seq, open_seq;
  uvws__buf_t part; /* a record received in part, header first */
} uvws__tls_rec_t;

/* Sets r up from the session's keys (keylen 16 or 32) and fixed IVs
 * (4 bytes each, RFC 5288 3) and the sequence numbers of the next record
 * each way. Returns 0 or UV_EINVAL. */
int uvws__tls_rec_init(uvws__tls_rec_t *r, const unsigned char *seal_key,
                       const unsigned char *seal_salt,
                       const unsigned char *open_key,
                       const unsigned char *open_salt, size_t keylen,
                       uint64_t seal_seq, uint64_t open_seq);

/* Releases the partial record and wipes the keys. */
void uvws__tls_rec_free(uvws__tls_rec_t *r, const uvws_allocator_t *al);

/* Takes bytes from *in (advancing *in and *len) until one whole record is
 * there, keeping a partial one in r->part (al's memory). Returns 1 with
 * the record opened into plain (room for UVWS__TLS_RECORD bytes; *plain_len
 * bytes, *type its content type), 0 when the input ran out first, or one
 * of the errors above (the session is then unusable). */
int uvws__tls_rec_read(uvws__tls_rec_t *r, const uvws_allocator_t *al,
                       const char **in, size_t *len, char *plain,
                       size_t *plain_len, int *type);

/* Appends iov[0..n)'s bytes to out as records of type, each holding up to
 * UVWS__TLS_RECORD bytes; nothing for no bytes. Returns 0, UV_ENOMEM or
 * UVWS__TLS_REC_ESEQ. */
int uvws__tls_rec_write(uvws__tls_rec_t *r, const uvws_allocator_t *al,
                        int type, const uvws__tls_iov_t *iov, size_t n,
                        uvws__buf_t *out);

#endif

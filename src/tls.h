/* TLS as a byte filter, on mbedTLS: ciphertext in, plaintext out, and
 * plaintext in, ciphertext out. No I/O: mbedTLS reads from the bytes given
 * to uvws__tls_feed() and writes into the caller's growable buffer through
 * memory callbacks, so the filter can be driven byte by byte in a test.
 *
 * A configuration (certificates, keys, CA list, random generator, the
 * accepted versions and cipher suites) is parsed once and shared by every
 * connection of a client or server; each connection has its own
 * uvws__tls_t. Internal. */
#ifndef UVWS_TLS_H
#define UVWS_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ssl.h>

#include "buf.h"
#include "tls_rec.h"
#include "uvws.h"

typedef struct uvws__tls_conf_s uvws__tls_conf_t;

/* Builds a configuration from o (NULL: defaults). Client: the server is
 * verified against o's CA, else the system bundle (UVWS__SYSTEM_CA_FILE),
 * unless o->insecure_skip_verify_for_testing. Server: o must give a
 * certificate and key. Returns 0, UV_ENOMEM, UV_EINVAL (a file and a PEM
 * given for the same thing, a server without certificate or key, client
 * certificates asked for without a CA), a file error (UV_ENOENT,
 * UV_EACCES...), UVWS_ETLSCONFIG (PEM that does not parse, a key that does
 * not match its certificate), or UVWS_ETLS (random generator). */
int uvws__tls_conf_new(const uvws_allocator_t *al, uvws__tls_conf_t **out,
                       int is_server, const uvws_tls_options_t *o);
void uvws__tls_conf_free(uvws__tls_conf_t *conf);

/* Events of uvws__tls_feed(). Each returns non-zero to make the feed
 * return at once, dropping the rest of its input (the owner is closing). */
typedef struct {
  /* The handshake completed. */
  int (*on_open)(void *arg);
  /* Decrypted application data: writable, valid during the call. */
  int (*on_data)(void *arg, char *data, size_t len);
} uvws__tls_cbs_t;

enum {
  UVWS__TLS_HANDSHAKE = 0,
  UVWS__TLS_OPEN,
  UVWS__TLS_PEER_CLOSED, /* the peer's close_notify arrived */
  UVWS__TLS_FAILED       /* sticky */
};

typedef struct {
  mbedtls_ssl_context ssl;
  uvws__tls_conf_t *conf;
  uint8_t state;
  uint8_t opened; /* the handshake completed once */
  uint8_t ip_len; /* client for an IP literal: 4 or 16, else 0 */
  uint8_t ip[16];
  /* AES-GCM sessions on a processor with AES-NI and PCLMULQDQ: the keys,
   * from the moment mbedTLS derives them (NULL otherwise), and whether the
   * records are ours yet (from the end of the handshake on). */
  uvws__tls_rec_t *rec;
  uint8_t rec_on;
  /* Once the records are ours, mbedTLS's context (its record buffers,
   * about 33 KiB) is released; what is still asked of it is kept: */
  uint8_t ssl_freed;
  const char *suite;  /* the cipher suite's name (static) */
  char *peer_subject; /* the peer certificate's subject, or NULL */
  size_t peer_subject_len;
  /* Where the memory callbacks read and write during a call. */
  const char *in;
  size_t in_len;
  uvws__buf_t *out;
  int err;               /* the raw mbedTLS error of the failure, or 0 */
  uint32_t verify_flags; /* X.509 verification result of the failure */
} uvws__tls_t;

/* 0 makes configurations made afterwards leave every record to mbedTLS,
 * as on a processor without AES-NI, with the same cipher suites (tests
 * pit the two against each other). Default 1. */
extern int uvws__tls_own_records;

/* Prepares t for one connection. host: the server's name or IP literal
 * (client), NULL for a server. Returns 0, UV_ENOMEM or UVWS_ETLS. */
int uvws__tls_init(uvws__tls_t *t, uvws__tls_conf_t *conf, const char *host);
void uvws__tls_free(uvws__tls_t *t);

/* Client: appends the ClientHello to out. A server has nothing to start. */
int uvws__tls_start(uvws__tls_t *t, uvws__buf_t *out);

/* Reads ciphertext in[0..len), all of it. Handshake records and alerts to
 * send are appended to out; events go to cbs. Returns 0, or a negative
 * error (sticky, state FAILED, t->err holds mbedTLS's code; an alert for
 * the peer may be in out): UVWS_ECERTUNTRUSTED, UVWS_ECERTEXPIRED,
 * UVWS_ECERTNAME, UVWS_ECERTINVALID when the peer's certificate fails
 * verification, UV_ENOMEM, or UVWS_ETLS. Plaintext decrypted before an
 * error is delivered first. When the peer's close_notify arrives the state
 * becomes PEER_CLOSED and later input is ignored. */
int uvws__tls_feed(uvws__tls_t *t, const char *in, size_t len, uvws__buf_t *out,
                   const uvws__tls_cbs_t *cbs, void *arg);

/* Encrypts the pieces in order, appending the records to out. Small pieces
 * share records (up to 16 KiB each). Only once the handshake completed.
 * Returns 0, UV_ENOMEM, UVWS_ESTATE, or UVWS_ETLS. */
int uvws__tls_writev(uvws__tls_t *t, const uvws__tls_iov_t *iov, size_t n,
                     uvws__buf_t *out);

/* Appends a close_notify alert to out. Nothing before the handshake
 * completed. Returns 0, UV_ENOMEM or UVWS_ETLS. */
int uvws__tls_close_notify(uvws__tls_t *t, uvws__buf_t *out);

/* The negotiated cipher suite's name, or NULL before the handshake. */
const char *uvws__tls_ciphersuite(const uvws__tls_t *t);

/* Writes the peer certificate's subject ("CN=x, O=y") into buf. Returns its
 * length, UV_ENOENT when the peer sent none, or UV_ENOBUFS. */
int uvws__tls_peer_subject(const uvws__tls_t *t, char *buf, size_t size);

/* The uvws error for an mbedTLS error code and verification flags. */
int uvws__tls_map_error(int mbedtls_err, uint32_t verify_flags);

#endif

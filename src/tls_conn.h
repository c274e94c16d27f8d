/* TLS on connections: the glue between the libuv transport (conn.c,
 * client.c, server.c) and the TLS filter (tls.c).
 *
 * Reading: what the socket gives goes through the filter, and the plaintext
 * it yields takes the way plain reads take (uvws__conn_read_plain).
 * Writing: the write batches stay as they are; when a batch is flushed, its
 * bytes are encrypted into one ciphertext buffer (one per batch, like the
 * batches themselves) that a single write sends, together with whatever
 * the filter produced since the last write (handshake messages, alerts).
 * bufferedAmount keeps counting the batches' payload bytes.
 *
 * A client's HTTP request, built by uvws_connect(), waits until the TLS
 * handshake completes. close_notify follows our close frame once both close
 * frames are through, and precedes the TCP close. Internal. */
#ifndef UVWS_TLS_CONN_H
#define UVWS_TLS_CONN_H

#include "internal.h"

#ifdef UVWS_WITH_TLS

/* 1 if o asks for something that must be built at once (a certificate, a
 * CA, the test opt-out). */
int uvws__tls_options_set(const uvws_tls_options_t *o);

/* Builds the TLS configuration of a client or server from o (NULL:
 * defaults), its memory from al. Errors as uvws__tls_conf_new(); UV_ENOTSUP
 * without TLS. */
int uvws__tls_conf_make(const uvws_allocator_t *al,
                        struct uvws__tls_conf_s **conf, int is_server,
                        const uvws_tls_options_t *o);
/* Releases it; NULL is allowed. */
void uvws__tls_conf_drop(struct uvws__tls_conf_s *conf);

/* Gives conn a TLS filter on ctx->tls. host: the server's name or address
 * (client), NULL for a server. 0, UV_ENOMEM or UVWS_ETLS. */
int uvws__conn_tls_init(uvws_conn_t *conn, const char *host);
void uvws__conn_tls_free(uvws_conn_t *conn);

/* Client, once TCP is connected: sets the HTTP request aside and queues
 * the ClientHello. */
void uvws__conn_tls_start(uvws_conn_t *conn);

/* Ciphertext read from the socket. */
void uvws__conn_tls_read(uvws_conn_t *conn, char *data, size_t len);

/* 1 if ciphertext waits to go out with the filling batch. */
int uvws__conn_tls_pending(const uvws_conn_t *conn);

/* Encrypts bufs[0..*nbufs) (the filling batch b) and replaces them with the
 * one ciphertext buffer to write (*nbufs 0 or 1). 0 or an error. */
int uvws__conn_tls_seal(uvws_conn_t *conn, uvws__wbatch_t *b, uv_buf_t *bufs,
                        size_t *nbufs);

/* The write of batch idx is over: its ciphertext buffer is emptied.
 * Returns 1 if it carried our close_notify. */
int uvws__conn_tls_sent(uvws_conn_t *conn, int idx);

/* 1 once our close_notify is written (or cannot be sent); otherwise
 * queues it (once), flushes, and returns 0. */
int uvws__conn_tls_close_done(uvws_conn_t *conn);

#else /* Without TLS no connection has conn->tls: these are never reached. */

static inline int uvws__tls_options_set(const uvws_tls_options_t *o) {
  (void)o;
  return 0;
}
static inline int uvws__tls_conf_make(const uvws_allocator_t *al,
                                      struct uvws__tls_conf_s **conf,
                                      int is_server,
                                      const uvws_tls_options_t *o) {
  (void)al;
  (void)conf;
  (void)is_server;
  (void)o;
  return UV_ENOTSUP;
}
static inline void uvws__tls_conf_drop(struct uvws__tls_conf_s *conf) {
  (void)conf;
}
static inline int uvws__conn_tls_init(uvws_conn_t *conn, const char *host) {
  (void)conn;
  (void)host;
  return UV_ENOTSUP;
}
static inline void uvws__conn_tls_free(uvws_conn_t *conn) {
  (void)conn;
}
static inline void uvws__conn_tls_start(uvws_conn_t *conn) {
  (void)conn;
}
static inline void uvws__conn_tls_read(uvws_conn_t *conn, char *data,
                                       size_t len) {
  uvws__conn_read_plain(conn, data, len);
}
static inline int uvws__conn_tls_pending(const uvws_conn_t *conn) {
  (void)conn;
  return 0;
}
static inline int uvws__conn_tls_seal(uvws_conn_t *conn, uvws__wbatch_t *b,
                                      uv_buf_t *bufs, size_t *nbufs) {
  (void)conn;
  (void)b;
  (void)bufs;
  (void)nbufs;
  return 0;
}
static inline int uvws__conn_tls_sent(uvws_conn_t *conn, int idx) {
  (void)conn;
  (void)idx;
  return 0;
}
static inline int uvws__conn_tls_close_done(uvws_conn_t *conn) {
  (void)conn;
  return 1;
}

#endif
#endif

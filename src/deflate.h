/* permessage-deflate (RFC 7692): negotiation and the zlib codec. No I/O.
 * Internal. */
#ifndef UVWS_DEFLATE_H
#define UVWS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "handshake.h"

/* The settings uvws_deflate_options_t carries, resolved: every field has
 * its final value. */
typedef struct {
  uint8_t server_no_context_takeover; /* ask for / impose it */
  uint8_t client_no_context_takeover;
  uint8_t server_max_window_bits;     /* 8-15 */
  uint8_t client_max_window_bits;     /* 8-15 */
  int level;                          /* zlib level 1-9 */
  int mem_level;                      /* zlib memLevel 1-9 */
} uvws__pmd_config_t;

/* What was agreed, seen from this side of the connection. */
typedef struct {
  uint8_t tx_no_takeover; /* reset our compressor after each message */
  uint8_t rx_no_takeover; /* the peer resets; so do we, our inflater */
  uint8_t tx_window;      /* window bits our compressor may use */
  uint8_t rx_window;      /* window bits the peer may use */
} uvws__pmd_params_t;

/* Server side (RFC 7692 5, 7.1): picks the first acceptable
 * permessage-deflate offer among every Sec-WebSocket-Extensions header of
 * head. Offers with unknown, repeated or invalid parameters are declined and
 * the next one is tried; other extensions are ignored. Returns 1 with *out
 * set and the response's extension value appended to response, 0 when no
 * offer was acceptable, UVWS_EHANDSHAKE when a header is not a valid
 * extension list, or UV_ENOMEM (-12). */
int uvws__pmd_negotiate(const uvws_allocator_t *al,
                        const uvws__http_head_t *head,
                        const uvws__pmd_config_t *cfg, uvws__pmd_params_t *out,
                        uvws__buf_t *response);

/* Client side: appends the offer (a Sec-WebSocket-Extensions value) for cfg
 * to out. Returns 0 or UV_ENOMEM. */
int uvws__pmd_offer(const uvws_allocator_t *al, const uvws__pmd_config_t *cfg,
                    uvws__buf_t *out);

/* Client side: checks the server's response (every Sec-WebSocket-Extensions
 * header of head) against the offer made from cfg. Returns 1 with *out set
 * when permessage-deflate was accepted, 0 when the response has no
 * extensions, and UVWS_EHANDSHAKE when it is not a valid acceptance of our
 * offer (another extension, parameters repeated, unknown, invalid, or not
 * offered: RFC 7692 5 says the client then fails the connection). */
int uvws__pmd_accept(const uvws__http_head_t *head,
                     const uvws__pmd_config_t *cfg, uvws__pmd_params_t *out);

/* The codec of one connection. Its zlib streams are allocated on first use
 * and sized by the agreed window bits. */
typedef struct {
  const uvws_allocator_t *alloc; /* for the zlib streams and output */
  uvws__pmd_params_t params;
  int level;
  int mem_level;
  void *tx; /* z_stream, deflate */
  void *rx; /* z_stream, inflate */
  uint8_t rx_boundary; /* the inflater stopped between two blocks */
} uvws__pmd_t;

/* al must outlive z. */
void uvws__pmd_init(uvws__pmd_t *z, const uvws_allocator_t *al,
                    const uvws__pmd_params_t *params, int level, int mem_level);
void uvws__pmd_free(uvws__pmd_t *z);

/* 1 if messages can be compressed: zlib cannot produce a raw stream for an
 * 8-bit window, so with server_max_window_bits=8 (client_ for a client)
 * every message goes out uncompressed, which RFC 7692 allows. */
int uvws__pmd_can_compress(const uvws__pmd_t *z);

/* Inflates in[0..n), a piece of a compressed message, appending to out.
 * fin: the message ends here; the 4-byte tail RFC 7692 7.2.2 removes is
 * added back, and without context takeover the stream is reset. out never
 * grows past limit bytes (nor is it grown past limit + 1): the call returns
 * UVWS_ETOOBIG as soon as the inflated message would exceed it. Returns 0,
 * UVWS_ETOOBIG, UVWS_EDEFLATE (the data is not valid DEFLATE, or does not
 * end between two blocks once the tail is back), UVWS__PMD_NOROOM (no
 * memory to grow out: the message) or UV_ENOMEM (no memory for zlib). */
#define UVWS__PMD_NOROOM (-20099)
int uvws__pmd_inflate(uvws__pmd_t *z, const uint8_t *in, size_t n, int fin,
                      uvws__buf_t *out, size_t limit);

/* Compresses in[0..n), a part of a message, appending to out. fin: the last
 * part; the tail is removed (RFC 7692 7.2.1) and without context takeover
 * the stream is reset. Returns 0 or UV_ENOMEM. */
int uvws__pmd_deflate(uvws__pmd_t *z, const uint8_t *in, size_t n, int fin,
                      uvws__buf_t *out);

/* Approximate bytes of zlib state a connection holds once both directions
 * have been used, for documentation and tests. */
size_t uvws__pmd_memory(const uvws__pmd_params_t *params, int mem_level);

#endif

/* The opening handshake (RFC 6455 section 4): HTTP/1.1 head parsing,
 * validation of requests and responses, and building both. No I/O: every
 * function works on bytes the caller gives. Internal. */
#ifndef UVWS_HANDSHAKE_H
#define UVWS_HANDSHAKE_H

#include <stddef.h>
#include "buf.h"

#define UVWS__MAX_HEADERS 64

typedef struct {
  const char *name;
  size_t name_len;
  const char *value; /* leading and trailing spaces/tabs trimmed */
  size_t value_len;
} uvws__header_t;

typedef struct {
  /* Request line (requests only). */
  const char *method;
  size_t method_len;
  const char *target;
  size_t target_len;
  /* Status line (responses only). */
  int status;
  const char *reason;
  size_t reason_len;
  /* Both: the x in HTTP/1.x (HTTP/2+ and HTTP/0.x are refused). */
  int minor_version;
  uvws__header_t headers[UVWS__MAX_HEADERS];
  size_t num_headers;
} uvws__http_head_t;

/* Parses an HTTP/1.x request head from buf[0..len). Every pointer in head
 * points into buf. Returns the length of the head including its final empty
 * line (> 0), 0 when more bytes are needed, UVWS_EHANDSHAKE when the bytes
 * cannot be a valid head (bad request line, bad header syntax, obsolete line
 * folding, CR not followed by LF, NUL or other control bytes in a header),
 * or UVWS_EHDRTOOBIG when it has more than UVWS__MAX_HEADERS headers. Bare
 * LF line endings are accepted. The caller enforces the byte limit. */
long uvws__http_parse_request(const char *buf, size_t len,
                              uvws__http_head_t *head);

/* The same for a response head ("HTTP/1.1 101 Switching Protocols"). */
long uvws__http_parse_response(const char *buf, size_t len,
                               uvws__http_head_t *head);

/* The first header named name (case-insensitive), or NULL. */
const uvws__header_t *uvws__http_find(const uvws__http_head_t *head,
                                      const char *name);

/* 1 if the comma-separated list value[0..len) holds token (compared
 * case-insensitively, optional whitespace around elements), else 0. */
int uvws__token_list_has(const char *value, size_t len, const char *token);

/* 1 if s[0..len) is a non-empty HTTP token (RFC 7230 tchar), else 0. */
int uvws__is_token(const char *s, size_t len);

/* What uvws__hs_check_request() found in a valid upgrade request. Pointers
 * point into the parsed buffer. */
typedef struct {
  const char *key; /* Sec-WebSocket-Key, 24 base64 characters */
  size_t key_len;
  const char *host;
  size_t host_len;
  const char *origin; /* NULL if absent */
  size_t origin_len;
} uvws__hs_request_t;

/* Validates an upgrade request (RFC 6455 4.2.1): method GET, HTTP/1.1 or
 * later, a Host header, Upgrade holding the token "websocket" and
 * Connection holding "Upgrade" (case-insensitive token lists), a
 * Sec-WebSocket-Key that decodes to exactly 16 bytes, and
 * Sec-WebSocket-Version 13. Returns 0, or the HTTP status to answer:
 * 426 for a missing or different version (answer with
 * "Sec-WebSocket-Version: 13"), 405 for a method other than GET, 400 for
 * everything else. Duplicate Host, Sec-WebSocket-Key or
 * Sec-WebSocket-Version headers are 400. */
int uvws__hs_check_request(const uvws__http_head_t *head,
                           uvws__hs_request_t *out);

/* Appends to list the subprotocols the client offered (every
 * Sec-WebSocket-Protocol header, comma-separated tokens), each as a
 * NUL-terminated string, one after another; *count gets how many. Returns 0,
 * UV_ENOMEM, or UVWS_EHANDSHAKE if an element is not a token. */
int uvws__hs_offered_protocols(const uvws_allocator_t *al,
                               const uvws__http_head_t *head, uvws__buf_t *list,
                               size_t *count);

/* Writes the Sec-WebSocket-Accept value for key (28 characters and a NUL)
 * into out: base64(SHA-1(key + the RFC 6455 GUID)). */
void uvws__hs_accept(const char *key, size_t key_len, char out[29]);

/* Appends a client request to out: "GET target HTTP/1.1", Host, Upgrade,
 * Connection, Sec-WebSocket-Key (key is 24 base64 characters),
 * Sec-WebSocket-Version: 13, Origin if origin is not NULL,
 * Sec-WebSocket-Protocol with protocols (NULL-terminated list; NULL or
 * empty for none), and extra_headers verbatim if not NULL (each line already
 * ending in CRLF). Returns 0 or UV_ENOMEM. */
int uvws__hs_build_request(const uvws_allocator_t *al, uvws__buf_t *out,
                           const char *target, const char *host_header,
                           const char *key, const char *origin,
                           const char *const *protocols,
                           const char *extra_headers);

/* Appends the 101 answer to out, with Sec-WebSocket-Protocol and
 * Sec-WebSocket-Extensions when those are not NULL. Returns 0 or UV_ENOMEM. */
int uvws__hs_build_101(const uvws_allocator_t *al, uvws__buf_t *out,
                       const char *accept, const char *protocol,
                       const char *extensions);

/* Appends a complete refusal to out: status line with the standard reason
 * phrase, "Connection: close", "Content-Length" and a short text/plain body
 * naming the status, plus "Sec-WebSocket-Version: 13" when status is 426,
 * and extra_headers verbatim if not NULL. Returns 0 or UV_ENOMEM. */
int uvws__hs_build_error(const uvws_allocator_t *al, uvws__buf_t *out,
                         int status, const char *extra_headers);

/* The standard reason phrase for status ("Not Found"), or "Unknown". */
const char *uvws__http_reason(int status);

/* Validates a server's answer (RFC 6455 4.2.2 and 4.1 client rules): status
 * 101 (else UVWS_EBADSTATUS), Upgrade holding "websocket" and Connection
 * holding "Upgrade" (else UVWS_EHANDSHAKE), Sec-WebSocket-Accept equal to
 * the accept value of key (else UVWS_EBADACCEPT), a Sec-WebSocket-Protocol
 * that is one of the offered protocols (else UVWS_ENOTOFFERED; a protocol
 * when none was offered is also UVWS_ENOTOFFERED), and no
 * Sec-WebSocket-Extensions header unless extensions_offered is non-zero
 * (else UVWS_ENOTOFFERED). On 0, *protocol and *protocol_len give the
 * selected subprotocol (NULL if none), pointing into the parsed buffer. */
int uvws__hs_check_response(const uvws__http_head_t *head, const char *key,
                            const char *const *protocols,
                            int extensions_offered, const char **protocol,
                            size_t *protocol_len);

#endif

/* uvws: RFC 6455 WebSocket clients and servers for libuv programs.
 *
 * One header is all a user includes. Conventions, taken from libuv:
 *
 *  - The caller owns and runs the uv_loop_t. uvws never runs, stops or closes
 *    it, and keeps no global mutable state.
 *  - Functions return 0 or a negative error code. libuv's codes (UV_E*) pass
 *    through unchanged; uvws's own codes (UVWS_E*) live in a separate range.
 *    uvws_strerror() and uvws_err_name() describe both.
 *  - If a call fails, none of the callbacks it would have caused is called.
 *  - No callback is ever called from inside the API call that caused it:
 *    events are delivered from libuv callbacks (reads, writes, timers).
 *  - Objects are closed asynchronously; their memory is released by uvws
 *    after the close callback returns, never before it.
 *
 * Buffer ownership is stated on every function that takes or gives one:
 *  "copied": uvws copies the bytes before the call returns;
 *  "held until cb": the bytes must stay valid and unchanged until the named
 *     completion callback runs;
 *  "valid during the callback": a buffer uvws passes to a callback may be
 *     used only until that callback returns.
 */
#ifndef UVWS_H
#define UVWS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* UVWS_EXTERN marks the public API, as UV_EXTERN does libuv's. libuvws is
 * built with -fvisibility=hidden, so the functions declared here with it
 * are all that libuvws.so exports; the library's internal functions
 * (uvws__*) stay hidden. Linking libuvws.a is not affected. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define UVWS_EXTERN __attribute__((visibility("default")))
#else
#define UVWS_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define UVWS_VERSION_MAJOR 0 /* Incompatible changes. */
#define UVWS_VERSION_MINOR 1 /* Additions. */
#define UVWS_VERSION_PATCH 0 /* Fixes. */
/* The version of this header as one number, (MAJOR << 16) | (MINOR << 8) |
 * PATCH, to compare with uvws_version(). project(VERSION) in CMakeLists.txt
 * sets it (CMake refuses to configure when these macros say otherwise),
 * and the shared library's SONAME is libuvws.so.MAJOR. */
#define UVWS_VERSION_HEX                                                       \
  ((UVWS_VERSION_MAJOR << 16) | (UVWS_VERSION_MINOR << 8) | UVWS_VERSION_PATCH)

/* The version of the library linked at run time, as UVWS_VERSION_HEX: it
 * may differ from the header a program was built with. */
UVWS_EXTERN unsigned uvws_version(void);
/* The same as "MAJOR.MINOR.PATCH" ("0.1.0"). The string is static. */
UVWS_EXTERN const char *uvws_version_string(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

#include "uvws_errno.h"

/* A description of err, one of uvws's codes (UVWS_E*) or libuv's (UV_E*,
 * described by uv_strerror()). The string is static. */
UVWS_EXTERN const char *uvws_strerror(int err);
/* The symbolic name of err ("UVWS_EPROTO", or libuv's name through
 * uv_err_name(): "ECONNREFUSED"). The string is static. */
UVWS_EXTERN const char *uvws_err_name(int err);

/* ------------------------------------------------------------------------ */
/* WebSocket close codes (RFC 6455 7.4.1). These are not error codes.       */

/* Close codes: what uvws_conn_close() and uvws_conn_close_status() send and
 * on_close reports. 1005, 1006 and 1015 are never sent: they report a close
 * frame without a code, no close frame, and a failed TLS handshake. */
typedef enum {
  UVWS_CLOSE_NORMAL = 1000,
  UVWS_CLOSE_GOING_AWAY = 1001,
  UVWS_CLOSE_PROTOCOL_ERROR = 1002,
  UVWS_CLOSE_UNSUPPORTED_DATA = 1003,
  UVWS_CLOSE_NO_STATUS = 1005,   /* never sent: no code was received */
  UVWS_CLOSE_ABNORMAL = 1006,    /* never sent: no close frame at all */
  UVWS_CLOSE_INVALID_DATA = 1007,
  UVWS_CLOSE_POLICY_VIOLATION = 1008,
  UVWS_CLOSE_MESSAGE_TOO_BIG = 1009,
  UVWS_CLOSE_MANDATORY_EXTENSION = 1010,
  UVWS_CLOSE_INTERNAL_ERROR = 1011,
  UVWS_CLOSE_SERVICE_RESTART = 1012,
  UVWS_CLOSE_TRY_AGAIN_LATER = 1013,
  UVWS_CLOSE_BAD_GATEWAY = 1014,
  UVWS_CLOSE_TLS_HANDSHAKE = 1015 /* never sent */
} uvws_close_code_t;

/* ------------------------------------------------------------------------ */
/* Connection model (W3C/WHATWG WebSocket)                                   */

/* A connection's readyState, as the W3C/WHATWG WebSocket's: CONNECTING
 * until on_open, OPEN, CLOSING once either side started the closing
 * handshake, CLOSED from on_error or on_close on. */
typedef enum {
  UVWS_CONNECTING = 0,
  UVWS_OPEN = 1,
  UVWS_CLOSING = 2,
  UVWS_CLOSED = 3
} uvws_ready_state_t;

/* The type of a message: text (UTF-8, checked both ways) or binary. */
typedef enum { UVWS_TEXT = 1, UVWS_BINARY = 2 } uvws_msg_type_t;

/* A WebSocket connection, client or server side. uvws owns its memory: it
 * is valid from uvws_connect() returning 0, or from the server's
 * acceptance, until on_close returns. */
typedef struct uvws_conn_s uvws_conn_t;
/* A server: its listeners, routes and the connections they accept. */
typedef struct uvws_server_s uvws_server_t;
/* A client context: the connections made with uvws_connect(), and what
 * they share (receive buffer, random generator, TLS configuration). */
typedef struct uvws_client_s uvws_client_t;
/* An HTTP request to a server, an upgrade or a plain one; valid during
 * the uvws_upgrade_cb or uvws_http_cb it is given to. */
typedef struct uvws_request_s uvws_request_t;

/* Where a context's memory comes from: every allocation uvws makes for a
 * server, a client context and their connections goes through the
 * allocator given in uvws_server_options_t or uvws_client_options_t (the
 * struct is copied; user is passed back unchanged). NULL there means the C
 * library's malloc. malloc_fn, realloc_fn and free_fn are required;
 * calloc_fn may be NULL (uvws then zeroes what malloc_fn returns).
 *  - Sizes are never 0; realloc_fn and free_fn are never given NULL.
 *  - A function returning NULL is an allocation failure: uvws reports
 *    UV_ENOMEM to the caller, refuses the connection being accepted, or
 *    fails the connection that needed the memory (close code 1011, or
 *    1009 when it was for a message being reassembled or inflated), and
 *    never crashes or loses track of what it holds. An allocator may therefore
 *    enforce a budget (see uvws_budget_t).
 *  - The functions are called on the loop's thread only, except those of a
 *    uvws_async_t (uvws_async_create_ex()), which other threads call.
 *  - They (and what user points to) must stay usable until the context's
 *    close callback has returned: its own memory is given back after.
 * What uvws's dependencies allocate inside their own calls is theirs:
 * libuv (uv_replace_allocator()), mbedTLS's TLS state and zlib are not
 * covered, except that zlib's deflate and inflate state for
 * permessage-deflate does come from the context's allocator. */
typedef struct {
  void *(*malloc_fn)(void *user, size_t size); /* Like malloc(). */
  /* Like realloc(); never given NULL. */
  void *(*realloc_fn)(void *user, void *ptr, size_t size);
  /* Like calloc(); may be NULL. */
  void *(*calloc_fn)(void *user, size_t count, size_t size);
  void (*free_fn)(void *user, void *ptr); /* Like free(); never given NULL. */
  void *user;                             /* Passed to the functions. */
} uvws_allocator_t;

/* A memory budget: an allocator that counts the bytes it hands out and
 * refuses (returns NULL) an allocation that would take the count past
 * limit. Give &budget->allocator to every server and client context of a
 * loop (uvws_server_options_t.allocator, uvws_client_options_t.allocator)
 * and their connections share one limit: a loop-wide budget that input
 * from peers cannot push the process past. What happens when it is
 * reached is what uvws_allocator_t says of allocation failures: a message
 * that cannot be reassembled closes its connection with 1009, sends return
 * UV_ENOMEM, and the memory of closed connections comes back to the
 * budget. Servers refuse new connections (closing them at once) while
 * fewer than reserve bytes are left, so that what is left goes to the
 * connections they have.
 *
 * The struct must stay where it is while in use, and be used on one
 * thread (not with uvws_async_create_ex()). Each block carries 16 bytes
 * of bookkeeping, counted in used. The counters may be read at any time;
 * limit may be changed at any time. */
typedef struct {
  uvws_allocator_t allocator; /* what to give the contexts */
  uvws_allocator_t base;      /* where the memory comes from */
  size_t limit;               /* most bytes out at once; 0: no limit */
  size_t reserve;             /* kept for open connections: servers accept none
                                 while less is left; 0 by default */
  size_t used;                /* bytes out now */
  size_t peak;                /* most bytes out at once so far */
  uint64_t refused;           /* allocations refused for the limit */
} uvws_budget_t;

/* Sets budget up with limit bytes (0: counts only) over base (NULL:
 * malloc). Errors: UV_EINVAL (budget NULL, base without its required
 * functions). */
UVWS_EXTERN int uvws_budget_init(uvws_budget_t *budget, size_t limit,
                                 const uvws_allocator_t *base);

/* The connection is OPEN: the handshake completed. */
typedef void (*uvws_open_cb)(uvws_conn_t *conn);

/* A whole message arrived, reassembled from its fragments. Text messages
 * have been validated as UTF-8. data is valid during the callback and is
 * not NUL-terminated; len may be 0. Not called once close() was called. */
typedef void (*uvws_message_cb)(uvws_conn_t *conn, uvws_msg_type_t type,
                                const char *data, size_t len);

/* The connection failed: err says why (a protocol violation by the peer, a
 * handshake or network error, a timeout). on_close always follows. */
typedef void (*uvws_error_cb)(uvws_conn_t *conn, int err);

/* The connection is CLOSED; called exactly once for every connection that
 * was handed to the application (server: after the upgrade hook accepted
 * it; client: after uvws_connect() returned 0). code and reason:
 *  - after a completed close handshake: what the peer's close frame said
 *    (UVWS_CLOSE_NO_STATUS if it carried no code), was_clean = 1;
 *  - after this side failed the connection: the code it sent (1002, 1007,
 *    1009, 1011, 1015...), was_clean = 0, and on_error came first;
 *  - otherwise UVWS_CLOSE_ABNORMAL (1006), was_clean = 0.
 * reason is valid during the callback. The connection's memory is released
 * when this callback returns. */
typedef void (*uvws_close_cb)(uvws_conn_t *conn, int code, const char *reason,
                              size_t reason_len, int was_clean);

/* bufferedAmount, which was above the low-water mark, fell to it or below. */
typedef void (*uvws_drain_cb)(uvws_conn_t *conn);

/* A pong arrived (an answer to uvws_conn_ping() or an unsolicited one).
 * data is valid during the callback. */
typedef void (*uvws_pong_cb)(uvws_conn_t *conn, const char *data, size_t len);

/* Completion of uvws_conn_send_nocopy(): status is 0 when the frame was
 * handed to the kernel, or a negative error when the connection closed
 * before that. The buffer may be reused or freed from here on. */
typedef void (*uvws_send_cb)(uvws_conn_t *conn, void *arg, int status);

/* A piece of a message, for connections that set on_chunk: messages then
 * arrive piece by piece as the network delivers them (decompressed when
 * permessage-deflate is on) instead of whole through on_message, so a
 * message of any size is never held in memory. is_last is set on the
 * message's last piece, which may be empty. Text is validated as UTF-8
 * across its pieces (an invalid byte fails the connection with 1007 at
 * once), but a piece may end inside a character. max_message_size still
 * limits the whole message. data is valid during the callback. */
typedef void (*uvws_chunk_cb)(uvws_conn_t *conn, uvws_msg_type_t type,
                              const char *data, size_t len, int is_last);

/* A connection's callbacks, one per event; any may be NULL. uvws_connect(),
 * the server options, routes and uvws_request_set_callbacks() copy them. */
typedef struct {
  uvws_open_cb on_open;       /* OPEN: the handshake completed. */
  uvws_message_cb on_message; /* A whole message. */
  uvws_error_cb on_error;     /* The connection failed; on_close follows. */
  uvws_close_cb on_close;     /* CLOSED: exactly once per connection. */
  uvws_drain_cb on_drain;     /* bufferedAmount fell to drain_low_water. */
  uvws_pong_cb on_pong;       /* A pong arrived. */
  /* Set to receive messages in pieces; on_message is then not called. */
  uvws_chunk_cb on_chunk;
} uvws_callbacks_t;

/* A header name and value. */
typedef struct {
  const char *name;  /* An HTTP token. */
  const char *value; /* Without CR, LF or NUL. */
} uvws_header_t;

/* What happens when a connection's bufferedAmount passes max_buffered. */
typedef enum {
  /* Reading from the peer stops until bufferedAmount is back to half the
   * limit: a peer that sends but does not read (an echo it never takes)
   * is held back by TCP instead of growing memory. Sends still queue. */
  UVWS_BUFFERED_PAUSE = 0,
  /* Sends that would pass the limit fail with UVWS_EBUFFERFULL. */
  UVWS_BUFFERED_REFUSE = 1,
  /* The connection is closed with 1008. */
  UVWS_BUFFERED_CLOSE = 2
} uvws_buffered_policy_t;

/* Per-connection limits and timing. A field left 0 takes its default. */
typedef struct {
  /* Largest message accepted, reassembled. A larger one fails the
   * connection with 1009 before its excess is buffered. Default 64 MiB. */
  size_t max_message_size;
  /* Largest opening handshake (request or response head). Default 16 KiB;
   * servers answer 431 past it. */
  size_t max_header_size;
  /* Milliseconds allowed from connect (client) or accept (server) to OPEN.
   * Default 10000. */
  unsigned handshake_timeout_ms;
  /* Milliseconds to wait for the peer's close frame and TCP close after a
   * close frame was sent. Default 5000. */
  unsigned close_timeout_ms;
  /* on_drain is called when bufferedAmount falls to this many bytes or
   * fewer after being above it. Default 0. */
  size_t drain_low_water;
  /* Keepalive: when nothing has arrived for this many milliseconds a ping
   * is sent (default 0: never). */
  unsigned ping_interval_ms;
  /* ... and if nothing at all (pong or other data) arrives within this
   * many milliseconds after it, the connection is dropped: on_error
   * UV_ETIMEDOUT, then on_close 1006. Default: ping_interval_ms. */
  unsigned ping_timeout_ms;
  /* An OPEN connection with no message sent or received for this many
   * milliseconds is closed with 1001 "idle timeout" (default 0: never).
   * Pings and pongs do not count as activity. */
  unsigned idle_timeout_ms;
  /* Most frames in one message; one more fails the connection with 1009.
   * Default 131072 (a 4 MiB message in 64-byte fragments fits; an endless
   * stream of 1-byte continuations does not). */
  unsigned max_fragments;
  /* bufferedAmount above which buffered_policy applies. Default 64 MiB. */
  size_t max_buffered;
  uvws_buffered_policy_t buffered_policy; /* Default UVWS_BUFFERED_PAUSE. */
} uvws_limits_t;

/* permessage-deflate (RFC 7692). A field left 0 takes its default.
 *
 * Cost: zlib state is allocated only on a connection that negotiated the
 * extension, on its first compressed message in each direction, and freed
 * when it closes. Compressing takes (1 << (window_bits + 2)) +
 * (1 << (mem_level + 9)) bytes and inflating (1 << window_bits), plus about
 * 13 KiB: about 300 KiB per connection with the defaults (window 15, memory
 * level 8), about 30 KiB with window 10 and memory level 1. */
typedef struct {
  /* Server only: 1 declines every offer. By default offers are accepted. */
  int disable;
  /* The server resets its compression context after every message: a
   * server imposes it, a client asks for it. */
  int server_no_context_takeover;
  /* The same for the client's context. */
  int client_no_context_takeover;
  /* Largest LZ77 window, 8-15 bits (default 15), for what the server and
   * the client compress. A server lowers the client's window only when the
   * client's offer allows it. Messages are sent uncompressed when the
   * agreed window of this side is 8 bits, which zlib cannot produce. */
  int server_max_window_bits; /* What the server compresses. */
  int client_max_window_bits; /* What the client compresses. */
  /* zlib compression level 1-9 (default 6) and memory level 1-9
   * (default 8). */
  int level;     /* zlib's compression level. */
  int mem_level; /* zlib's memLevel. */
  /* Messages shorter than this many bytes are sent uncompressed (default
   * 0: every message is compressed). */
  size_t threshold;
} uvws_deflate_options_t;

/* ------------------------------------------------------------------------ */
/* TLS (wss://)                                                              */

/* Whether a TLS server asks its clients for a certificate. */
typedef enum {
  /* Not asked for (the default). */
  UVWS_TLS_CLIENT_CERT_NONE = 0,
  /* Asked for: a client without one is accepted; a client whose
   * certificate fails verification against ca_file / ca_pem is refused. */
  UVWS_TLS_CLIENT_CERT_OPTIONAL = 1,
  /* A certificate that verifies against ca_file / ca_pem is required. */
  UVWS_TLS_CLIENT_CERT_REQUIRED = 2
} uvws_tls_client_cert_t;

/* TLS settings of a client or a server (uvws_client_options_t.tls,
 * uvws_server_options_t.tls). A field left 0 or NULL takes its default.
 *
 * Certificates, keys and CA lists are PEM, each given either as a file name
 * (..._file) or as the PEM text itself, NUL-terminated (..._pem), not both.
 * They are read and parsed once, by uvws_client_create() or
 * uvws_server_create(), and shared by every connection; the strings are
 * not used after that call returns.
 *
 * Every connection uses TLS 1.2 with ECDHE key exchange and AES-GCM or
 * ChaCha20-Poly1305 only, offers or selects ALPN "http/1.1", and accepts
 * certificates with SHA-2 signatures and RSA keys of 2048 bits or more or
 * ECDSA keys on P-256, P-384 or P-521. Renegotiation is refused, and
 * sessions are not resumed. A TLS connection takes about 35 KiB more
 * memory than a ws:// one (mbedTLS's record buffers). */
typedef struct {
  /* This side's certificate chain (its own certificate first, then the
   * intermediates) and private key. Required by uvws_server_listen_tls().
   * A client presents them when a server asks for a certificate. */
  const char *cert_file; /* The chain: a PEM file, */
  const char *cert_pem;  /* or PEM text. */
  const char *key_file;  /* The private key: a PEM file, */
  const char *key_pem;   /* or PEM text. */
  /* Password of an encrypted private key, or NULL. */
  const char *key_password;
  /* Trusted CAs. Client: the server's certificate must chain to one of
   * them; by default the system's bundle
   * (/etc/ssl/certs/ca-certificates.crt, Debian's ca-certificates), read
   * at the first wss:// connection. Server: the CAs that issue client
   * certificates; required when client_cert is not NONE. */
  const char *ca_file; /* The CAs: a PEM file, */
  const char *ca_pem;  /* or PEM text. */
  /* Server only: UVWS_TLS_CLIENT_CERT_NONE (default), _OPTIONAL or
   * _REQUIRED. */
  uvws_tls_client_cert_t client_cert;
  /* Client only. Non-zero turns off every check of the server's
   * certificate and name: anyone between the client and the server can
   * then read and change the traffic. For tests with throwaway
   * certificates only; never in a program that talks to real servers. */
  int insecure_skip_verify_for_testing;
} uvws_tls_options_t;

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

/* Sends a whole message of type UVWS_TEXT or UVWS_BINARY: len bytes at data
 * (NULL when len is 0), copied before the call returns. Returns 0 once the
 * message is queued: it goes out after everything queued before it, with
 * everything else queued in this loop iteration in one write, and counts in
 * bufferedAmount until it is handed to the kernel (on_drain may follow).
 * A send has no callback of its own; a connection that fails later reports
 * through on_error and on_close. Errors, after which nothing is queued:
 * UVWS_ESTATE while CONNECTING or once close() was called or the connection
 * failed; UVWS_EINFRAGMENT while a message sent with
 * uvws_conn_send_fragment() is unfinished; UV_EINVAL for another type or
 * NULL data with len > 0; UVWS_EBADUTF8 for text that is not UTF-8;
 * UVWS_EBUFFERFULL when bufferedAmount would pass limits.max_buffered under
 * UVWS_BUFFERED_REFUSE; UV_ENOMEM. */
UVWS_EXTERN int uvws_conn_send(uvws_conn_t *conn, uvws_msg_type_t type,
                               const char *data, size_t len);
/* uvws_conn_send() of a text message (UTF-8). */
UVWS_EXTERN int uvws_conn_send_text(uvws_conn_t *conn, const char *data,
                                    size_t len);

/* Flags for uvws_conn_send_ex(). */
enum {
  /* Send this message uncompressed even when permessage-deflate is on. */
  UVWS_SEND_NO_COMPRESS = 1
};

/* uvws_conn_send() with flags (UVWS_SEND_*): the same returns and errors,
 * and UV_EINVAL for unknown flags. */
UVWS_EXTERN int uvws_conn_send_ex(uvws_conn_t *conn, uvws_msg_type_t type,
                                  const char *data, size_t len, unsigned flags);
/* uvws_conn_send() of a binary message. */
UVWS_EXTERN int uvws_conn_send_binary(uvws_conn_t *conn, const void *data,
                                      size_t len);

/* Sends a whole message without copying it: data is held until cb, which is
 * called exactly once (with status 0 once written, or an error if the
 * connection closed first). A client must mask what it sends, so in the
 * client role the bytes are copied while masking, and cb still follows the
 * write; so are compressed messages. Errors: those of uvws_conn_send(), and
 * UV_EINVAL when cb is NULL. If this call fails, cb is not called. */
UVWS_EXTERN int uvws_conn_send_nocopy(uvws_conn_t *conn, uvws_msg_type_t type,
                                      const char *data, size_t len,
                                      uvws_send_cb cb, void *arg);

/* Sends one part of a message; the message ends with the part whose is_last
 * is non-zero. type is taken from the first part. Until the last part, other
 * messages are refused with UVWS_EINFRAGMENT; pings and close still go out.
 * Text parts together must be UTF-8 (checked across parts: a part may end
 * inside a character, the last one may not). data is copied. Returns 0 when
 * the part is queued. Errors, after which the part is not sent and the
 * message stays open: UVWS_ESTATE (as for uvws_conn_send()), UV_EINVAL (a
 * first part of another type, NULL data with len > 0), UVWS_EBADUTF8,
 * UVWS_EBUFFERFULL, UV_ENOMEM. */
UVWS_EXTERN int uvws_conn_send_fragment(uvws_conn_t *conn, uvws_msg_type_t type,
                                        const char *data, size_t len,
                                        int is_last);

/* Sends a ping with up to 125 bytes of payload (copied; data may be NULL
 * when len is 0). Returns 0 once queued; the answer arrives through
 * on_pong. Errors: UV_EINVAL if len > 125; UVWS_ESTATE unless OPEN (or once
 * close() was called); UV_ENOMEM. */
UVWS_EXTERN int uvws_conn_ping(uvws_conn_t *conn, const char *data, size_t len);

/* Starts the closing handshake (W3C close()). code is 0 (no code sent),
 * 1000, or 3000-4999, else UVWS_EBADCODE; reason (copied, may be NULL) is at
 * most 123 bytes of UTF-8, else UVWS_EBADREASON, and needs a code. Messages
 * queued before this call are sent first. Closing an already CLOSING or
 * CLOSED connection returns 0 and does nothing; closing while CONNECTING
 * aborts the handshake (on_error with UV_ECANCELED, then on_close 1006).
 * on_close follows. */
UVWS_EXTERN int uvws_conn_close(uvws_conn_t *conn, int code, const char *reason,
                                size_t reason_len);

/* Starts the closing handshake with any status code a WebSocket endpoint
 * may send (RFC 6455 7.4: 1000-1003, 1007-1014, 3000-4999), for servers and
 * protocol code that need 1001 (going away), 1008 (policy violation), 1011
 * (internal error) and the like. Otherwise as uvws_conn_close(). */
UVWS_EXTERN int uvws_conn_close_status(uvws_conn_t *conn, int code,
                                       const char *reason, size_t reason_len);

/* Flow control: stops reading from the connection, so a peer that keeps
 * sending is held back by TCP; resumes reading. Events of data already read
 * may still arrive after pause. While paused, the closing handshake cannot
 * complete (the close timeout still applies). UVWS_ESTATE unless OPEN or
 * CLOSING. */
UVWS_EXTERN int uvws_conn_pause(uvws_conn_t *conn);
/* Reads again after uvws_conn_pause(). Returns 0, also when reading was not
 * paused; UVWS_ESTATE unless OPEN or CLOSING. While limits.buffered_policy
 * holds reading back, reading resumes once bufferedAmount drains. */
UVWS_EXTERN int uvws_conn_resume(uvws_conn_t *conn);

/* Drops the connection at once without a close handshake (on_close 1006
 * follows). Queued output is discarded. */
UVWS_EXTERN void uvws_conn_terminate(uvws_conn_t *conn);

/* The connection's readyState (see uvws_ready_state_t). */
UVWS_EXTERN uvws_ready_state_t uvws_conn_ready_state(const uvws_conn_t *conn);
/* Application payload bytes queued but not yet handed to the kernel. */
UVWS_EXTERN size_t uvws_conn_buffered_amount(const uvws_conn_t *conn);
/* The URL (client) or request target (server). Valid until on_close returns. */
UVWS_EXTERN const char *uvws_conn_url(const uvws_conn_t *conn);
/* The selected subprotocol, "" if none. Valid until on_close returns. */
UVWS_EXTERN const char *uvws_conn_protocol(const uvws_conn_t *conn);
/* The negotiated extensions, "" if none. Valid until on_close returns. */
UVWS_EXTERN const char *uvws_conn_extensions(const uvws_conn_t *conn);
/* 1 if this side is the client, 0 if it is the server. */
UVWS_EXTERN int uvws_conn_is_client(const uvws_conn_t *conn);
/* Writes the peer's address into addr and returns 0; UV_ENOTCONN before
 * the TCP connection exists (a client resolving the host name). */
UVWS_EXTERN int uvws_conn_peer_addr(const uvws_conn_t *conn,
                                    struct sockaddr_storage *addr);
/* The loop the connection runs on. */
UVWS_EXTERN uv_loop_t *uvws_conn_loop(const uvws_conn_t *conn);
/* A number naming the connection, unique within its server or client and
 * never reused, for code that must refer to a connection that may be gone
 * (another thread, a runtime's handle table). */
UVWS_EXTERN uint64_t uvws_conn_id(const uvws_conn_t *conn);
/* The connection's user pointer: uvws_connect()'s data, or what
 * uvws_request_set_data() or uvws_conn_set_data() set; NULL otherwise. */
UVWS_EXTERN void *uvws_conn_get_data(const uvws_conn_t *conn);
/* Sets the connection's user pointer, which uvws never uses. */
UVWS_EXTERN void uvws_conn_set_data(uvws_conn_t *conn, void *data);
/* The server that accepted (or adopted) conn; NULL for a client
 * connection. */
UVWS_EXTERN uvws_server_t *uvws_conn_server(const uvws_conn_t *conn);
/* The client context that made conn; NULL for a server connection. */
UVWS_EXTERN uvws_client_t *uvws_conn_client(const uvws_conn_t *conn);

/* The mbedTLS error code (negative, see mbedtls_strerror()) of the TLS
 * failure that ended the connection: what lies behind UVWS_ETLS and the
 * UVWS_ECERT* codes. 0 for a connection without TLS or without a TLS
 * failure. Valid until on_close returns. */
UVWS_EXTERN int uvws_conn_tls_error(const uvws_conn_t *conn);
/* The TLS cipher suite ("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"), or NULL
 * for a ws:// connection and before the TLS handshake completed. The string
 * is static. */
UVWS_EXTERN const char *uvws_conn_tls_cipher(const uvws_conn_t *conn);
/* Writes the subject of the peer's certificate ("CN=alice, O=Example"),
 * NUL-terminated, into buf of size bytes. Returns its length, UV_ENOENT
 * when the peer sent no certificate (ws://, a client that was not asked or
 * did not send one) or the TLS handshake has not completed, UV_ENOBUFS when
 * buf is too small. On a server, a certificate that is there was verified
 * against the client CAs. */
UVWS_EXTERN int uvws_conn_tls_peer_subject(const uvws_conn_t *conn, char *buf,
                                           size_t size);

/* ------------------------------------------------------------------------ */
/* Client                                                                    */

/* Settings of a client context (uvws_client_create()), copied. A field left
 * 0 takes its default. */
typedef struct {
  /* The limits of its connections, unless uvws_connect() gives others. */
  uvws_limits_t limits;
  /* TLS settings for wss:// connections. */
  uvws_tls_options_t tls;
  /* Where the context's memory comes from (copied); NULL: malloc. */
  const uvws_allocator_t *allocator;
} uvws_client_options_t;

/* Creates a client context on loop: a random generator for keys and masks,
 * a shared receive buffer and defaults shared by its connections. options
 * may be NULL (defaults). When options->tls gives a certificate, a key, a
 * CA or insecure_skip_verify_for_testing, the TLS configuration is built
 * here; otherwise at the first wss:// connection. Errors: UV_ENOMEM,
 * UVWS_ETLS (random generator could not be seeded); from the TLS
 * settings: UV_EINVAL (a file and a PEM for the same item, a certificate
 * without a key or a key without a certificate), file errors (UV_ENOENT,
 * UV_EACCES...), UVWS_ETLSCONFIG (unparsable PEM, a wrong key password, a
 * key that does not match the certificate). In a build without TLS
 * (UVWS_WITH_TLS=OFF) the TLS settings are ignored. */
UVWS_EXTERN int uvws_client_create(uv_loop_t *loop,
                                   const uvws_client_options_t *options,
                                   uvws_client_t **client);

/* Completion of uvws_client_close(): the context is released when it
 * returns. */
typedef void (*uvws_client_close_cb)(uvws_client_t *client);

/* Closes the context: connections still open are terminated (each gets its
 * on_close), then cb (may be NULL) is called and the memory is released. */
UVWS_EXTERN void uvws_client_close(uvws_client_t *client,
                                   uvws_client_close_cb cb);

/* The client context's user pointer (NULL until set), which uvws never
 * uses. */
UVWS_EXTERN void *uvws_client_get_data(const uvws_client_t *client);
/* Sets the client context's user pointer. */
UVWS_EXTERN void uvws_client_set_data(uvws_client_t *client, void *data);
/* The loop the client context runs on. */
UVWS_EXTERN uv_loop_t *uvws_client_loop(const uvws_client_t *client);

/* Settings of one uvws_connect(); NULL for the defaults. Copied, with the
 * strings and arrays it points to. A field left 0 or NULL takes its
 * default. */
typedef struct {
  /* Sent as the Origin header when not NULL. */
  const char *origin;
  /* NULL-terminated list of subprotocols to offer, or NULL. */
  const char *const *protocols;
  /* 0 means the client's limits. */
  const uvws_limits_t *limits;
  /* Offers permessage-deflate with these settings when not NULL (copied).
   * uvws_conn_extensions() tells whether the server accepted. */
  const uvws_deflate_options_t *deflate;
  /* Extra request headers (Authorization, Cookie, ...), copied. A name
   * must be an HTTP token and a value may not hold CR, LF or NUL; the
   * headers uvws writes itself (Host, Upgrade, Connection, Origin,
   * Sec-WebSocket-*, Content-Length and Transfer-Encoding) cannot be given
   * here. Otherwise UV_EINVAL. */
  const uvws_header_t *headers;
  size_t num_headers; /* Entries in headers. */
  /* An HTTP proxy, "http://[user:password@]host[:port]" (port 80 by
   * default; user and password percent-decoded, sent with Basic
   * authentication): the connection is tunnelled with CONNECT, and wss://
   * keeps its TLS end to end with the origin. NULL: no proxy, unless
   * proxy_from_env. */
  const char *proxy;
  /* 1: when proxy is NULL, take it from the environment as curl does:
   * https_proxy (wss://) or http_proxy (ws://), then all_proxy, in lower
   * or upper case (HTTP_PROXY upper case is ignored, as curl does), and
   * no_proxy / NO_PROXY (comma-separated host names, domain suffixes,
   * IP addresses, or "*") to bypass it. */
  int proxy_from_env;
} uvws_connect_options_t;

/* The opening handshake's HTTP answer, on client connections: its status
 * (101 once OPEN; the server's status after UVWS_EBADSTATUS; the proxy's
 * status after UVWS_EPROXY or UVWS_EPROXYAUTH), or 0 when no answer was
 * read. */
UVWS_EXTERN int uvws_conn_http_status(const uvws_conn_t *conn);
/* A header of that answer (the 101, or the refusal), by name
 * (case-insensitive), or NULL. Valid until on_close returns. */
UVWS_EXTERN const char *uvws_conn_response_header(const uvws_conn_t *conn,
                                                  const char *name);
/* Header i of that answer in arrival order: 0, or UV_ENOENT past the end. */
UVWS_EXTERN int uvws_conn_response_header_at(const uvws_conn_t *conn, size_t i,
                                             const char **name,
                                             const char **value);

/* Opens a connection to url ("ws://host[:port][/path][?query]" or
 * "wss://...", IPv6 literals in brackets). Strings are copied. cbs is
 * copied. data is the connection's user pointer. On 0, *conn is CONNECTING
 * and exactly one on_close will follow (after on_open if the handshake
 * succeeds, after on_error if it fails). Errors: UVWS_EBADURL, UV_ENOMEM,
 * UV_EINVAL (a subprotocol that is not an HTTP token, a bad request header,
 * headers NULL with num_headers set), UVWS_EBADPROXY (a malformed proxy
 * URL, given or taken from the environment); for wss://,
 * UV_ENOTSUP in a build without TLS, and the errors of reading the
 * system's CA bundle (see uvws_client_create()) at the first wss://
 * connection of a client created without TLS settings.
 *
 * wss:// connections verify the server's certificate against the client's
 * CAs, and its name: a host name against the certificate's DNS names
 * (and sent as SNI), an IP address against its IP addresses. The
 * handshake_timeout_ms limit covers TCP connect, TLS and HTTP handshakes.
 * A failed TLS handshake reaches on_error with UVWS_ECERTUNTRUSTED,
 * UVWS_ECERTEXPIRED, UVWS_ECERTNAME, UVWS_ECERTINVALID (the server's
 * certificate) or UVWS_ETLS (anything else: an alert from the server, no
 * common cipher suite, data that is not TLS), then on_close with 1015;
 * uvws_conn_tls_error() gives mbedTLS's code. A TLS failure after the
 * handshake (a record that does not decrypt) gives UVWS_ETLS and 1006.
 * A clean close sends TLS close_notify after the closing handshake. */
UVWS_EXTERN int uvws_connect(uvws_client_t *client, const char *url,
                             const uvws_connect_options_t *options,
                             const uvws_callbacks_t *cbs, void *data,
                             uvws_conn_t **conn);

/* ------------------------------------------------------------------------ */
/* Server                                                                    */

/* Called with each valid upgrade request before the 101 is sent. Return 0 to
 * accept, or an HTTP status (400-599) to refuse with that status; the
 * connection is then never handed to the application. The request and
 * what its accessors return are valid during the callback. */
typedef int (*uvws_upgrade_cb)(uvws_server_t *server, uvws_request_t *req);

/* Called with each plain HTTP request (one without "Upgrade: websocket")
 * when set; without it such requests are answered 426 Upgrade Required.
 * The application answers with uvws_request_respond() or
 * uvws_request_serve_file() before returning; a request left unanswered
 * gets 404. The connection is closed after the answer. */
typedef void (*uvws_http_cb)(uvws_server_t *server, uvws_request_t *req);

/* What uvws_server_publish() does with a subscriber whose bufferedAmount is
 * above publish_limit. */
typedef enum {
  UVWS_SLOW_SKIP = 0, /* the message is not queued for it (counted as
                         skipped) */
  UVWS_SLOW_CLOSE = 1 /* the connection is closed with 1008 */
} uvws_slow_policy_t;

/* Settings of a server (uvws_server_create()), copied with the strings
 * and lists they point to. A field left 0 or NULL takes its default. */
typedef struct {
  /* Connection callbacks for accepted connections (copied). Routes have
   * their own (uvws_server_route). */
  uvws_callbacks_t callbacks;
  /* Optional upgrade hook, run for every upgrade after the checks below and
   * before a route's own hook. NULL accepts. */
  uvws_upgrade_cb on_upgrade;
  uvws_limits_t limits; /* The limits of every connection. */
  /* permessage-deflate: offers are accepted unless deflate.disable. */
  uvws_deflate_options_t deflate;
  /* TLS settings for uvws_server_listen_tls() (certificate and key
   * required there; a CA for client certificates). */
  uvws_tls_options_t tls;
  /* Plain HTTP requests on the same port. */
  uvws_http_cb on_http;
  /* NULL-terminated list of accepted Origin values (compared
   * case-insensitively, e.g. "http://127.0.0.1:8080"); an upgrade with
   * another Origin, or none, is refused with 403. NULL accepts any. */
  const char *const *allowed_origins;
  /* NULL-terminated list of subprotocols the server speaks. The first one
   * in the client's list that is also here is selected; a client that
   * offered protocols but none of these is still accepted, with none
   * selected (RFC 6455 4.2.2). The upgrade hooks may select another. */
  const char *const *protocols;
  /* Most connections at once (upgraded or not); past it upgrades are
   * refused with 503. 0: no limit. */
  size_t max_connections;
  /* bufferedAmount above which a subscriber is slow for
   * uvws_server_publish(). Default 4 MiB. */
  size_t publish_limit;
  uvws_slow_policy_t publish_policy; /* Default UVWS_SLOW_SKIP. */
  /* Where the server's memory comes from (copied); NULL: malloc. */
  const uvws_allocator_t *allocator;
} uvws_server_options_t;

/* Creates a server on loop. options is copied. When options->tls gives a
 * certificate, the TLS configuration is built here. Errors: UV_ENOMEM; from
 * the TLS settings: UV_EINVAL (a file and a PEM for the same item, a
 * certificate without a key or the reverse, client_cert not NONE without a
 * CA), file errors (UV_ENOENT, UV_EACCES...), UVWS_ETLSCONFIG (unparsable
 * PEM, a wrong key password, a key that does not match the certificate),
 * UVWS_ETLS (random generator). In a build without TLS the TLS settings are
 * ignored. */
UVWS_EXTERN int uvws_server_create(uv_loop_t *loop,
                                   const uvws_server_options_t *options,
                                   uvws_server_t **server);

/* Starts listening on host (an IPv4 or IPv6 literal; "::" listens on both
 * families where the system allows) and port (0 picks a free one; see
 * uvws_server_port()). May be called more than once to listen on several
 * addresses. libuv errors pass through (UV_EADDRINUSE, UV_EINVAL...). */
UVWS_EXTERN int uvws_server_listen(uvws_server_t *server, const char *host,
                                   int port, int backlog);

/* Listens on a socket the caller opened and bound itself (for options libuv
 * does not set, such as SO_REUSEPORT to share one port among loops, one per
 * thread). uvws listens on a duplicate of sock: the caller closes its own
 * sock when it likes, whatever this returns. Errors as uvws_server_listen(),
 * and UV_EBADF, UV_EMFILE. */
UVWS_EXTERN int uvws_server_listen_socket(uvws_server_t *server,
                                          uv_os_sock_t sock, int backlog);

/* The port of the most recent successful listen, or a negative error. */
UVWS_EXTERN int uvws_server_port(const uvws_server_t *server);

/* Like uvws_server_listen(), for wss://: connections accepted here do a TLS
 * handshake with the server's TLS settings (options->tls) before the
 * WebSocket handshake, within limits.handshake_timeout_ms. The same server
 * may listen with and without TLS on different ports; its connections
 * behave the same either way. A connection whose TLS handshake fails is
 * closed without reaching the application. Errors: those of
 * uvws_server_listen(); UV_EINVAL when the server was created without a
 * TLS certificate; UV_ENOTSUP in a build without TLS. */
UVWS_EXTERN int uvws_server_listen_tls(uvws_server_t *server, const char *host,
                                       int port, int backlog);

/* Completion of uvws_server_close() and uvws_server_shutdown(): the server
 * is released when it returns. */
typedef void (*uvws_server_close_cb)(uvws_server_t *server);

/* Stops listening and terminates every connection (each gets on_close),
 * then calls cb (may be NULL) and releases the server. */
UVWS_EXTERN void uvws_server_close(uvws_server_t *server,
                                   uvws_server_close_cb cb);

/* Graceful shutdown: stops listening, closes every open connection with
 * code (1001 if 0) and reason (copied; may be NULL), drops those still in
 * their handshake, waits for the closing handshakes, terminates whatever is
 * left after timeout_ms (0: the close timeout), then calls cb (may be NULL)
 * and releases the server. UVWS_EBADCODE / UVWS_EBADREASON as for
 * uvws_conn_close(), except that 1001 is allowed; UVWS_ESTATE when the
 * server is already closing. */
UVWS_EXTERN int uvws_server_shutdown(uvws_server_t *server, int code,
                                     const char *reason, size_t reason_len,
                                     unsigned timeout_ms,
                                     uvws_server_close_cb cb);

/* Takes over an upgrade request that another HTTP server on the same loop
 * has already read and parsed (Node's handleUpgrade(req, socket, head)):
 * stream is the accepted TCP connection (uv_tcp_t; plain TCP only, not a
 * TLS session), method, target and the request's headers (all of them,
 * Host and the Sec-WebSocket-* ones included) are what that server parsed,
 * and head holds the bytes it read after the headers (may be NULL when
 * head_len is 0). Everything is copied. uvws works on a duplicate of the
 * socket: the caller stops reading from stream (uv_read_stop) before the
 * call and closes it (uv_close) after it, whatever it returns. The request
 * then goes through what any upgrade to this server does (policy, routes,
 * hooks, 101 or refusal), starting on the next loop iteration: on 0 the
 * server's callbacks follow as for an accepted connection. Errors:
 * UV_EINVAL (missing method or target, a header name that is not a token,
 * CR or LF in a value), UVWS_ESTATE (the server is closing), UV_ENOMEM, and
 * libuv's errors for the socket (UV_EBADF, UV_EMFILE...). */
UVWS_EXTERN int uvws_server_adopt(uvws_server_t *server,
                                  uv_stream_t *stream, const char *method,
                                  const char *target,
                                  const uvws_header_t *headers,
                                  size_t num_headers, const char *head,
                                  size_t head_len);

/* Routes: endpoints by path, each with its own callbacks.
 *
 * A request's path (its target without the query) selects the route
 * registered for exactly that path, or else the prefix route with the
 * longest path that is the request's path or a parent of it at a '/'
 * boundary ("/chat" matches "/chat" and "/chat/room", not "/chatroom").
 * Once any route exists, an upgrade to a path that no route matches is
 * refused with 404; without routes every path gets the server's callbacks. */
/* An endpoint of a server (uvws_server_route()). */
typedef struct {
  uvws_callbacks_t callbacks; /* For the route's connections (copied). */
  /* Runs after the server's on_upgrade; NULL accepts. */
  uvws_upgrade_cb on_upgrade;
  /* 1: also match paths below this one. */
  int prefix;
  /* The route's pointer, for uvws_request_route_data() and
   * uvws_conn_route_data(). */
  void *data;
} uvws_route_t;

/* Adds a route for path (which starts with '/'; copied, as is route).
 * Errors: UV_EINVAL (bad path), UV_EEXIST (the same path and kind again),
 * UV_ENOMEM. */
UVWS_EXTERN int uvws_server_route(uvws_server_t *server, const char *path,
                                  const uvws_route_t *route);

/* The route's data pointer of an upgrade request or a connection; NULL when
 * it came in without a route. */
UVWS_EXTERN void *uvws_request_route_data(const uvws_request_t *req);
/* The same for a connection. */
UVWS_EXTERN void *uvws_conn_route_data(const uvws_conn_t *conn);

/* Connections at this moment, in any state. */
UVWS_EXTERN size_t uvws_server_connections(const uvws_server_t *server);

/* ------------------------------------------------------------------------ */
/* Prepared messages, broadcast and publish/subscribe                        */

/* A message framed once and sent to many connections from the same
 * reference-counted memory. For connections with permessage-deflate and no
 * context takeover it is also compressed once per set of deflate
 * parameters; connections that keep their context get it uncompressed
 * (which RFC 7692 allows), since a message compressed outside their own
 * stream would break it. */
typedef struct uvws_prepared_s uvws_prepared_t;

/* Prepares a message (data is copied; text must be UTF-8, else
 * UVWS_EBADUTF8). The caller holds one reference. Errors: UV_ENOMEM,
 * UV_EINVAL. */
UVWS_EXTERN int uvws_prepared_create(uvws_msg_type_t type, const char *data,
                                     size_t len, uvws_prepared_t **msg);

/* uvws_prepared_create() with the memory, the compressed variants' too,
 * from allocator (copied; NULL: malloc), e.g. a server's; it must stay
 * usable until the last reference is dropped. Errors also UV_EINVAL for an
 * allocator without its required functions. */
UVWS_EXTERN int uvws_prepared_create_ex(const uvws_allocator_t *allocator,
                                        uvws_msg_type_t type, const char *data,
                                        size_t len, uvws_prepared_t **msg);

/* Drops a reference; the memory goes when the last writer is done too. */
UVWS_EXTERN void uvws_prepared_release(uvws_prepared_t *msg);

/* Queues msg on conn; conn holds a reference until it is written. A client
 * connection masks, so it copies. Errors as uvws_conn_send(). */
UVWS_EXTERN int uvws_conn_send_prepared(uvws_conn_t *conn,
                                        uvws_prepared_t *msg);

/* Subscribes conn to topic (copied; any non-empty string). Subscribing
 * twice is one subscription. Subscriptions end when the connection does.
 * Errors: UV_EINVAL, UV_ENOMEM. */
UVWS_EXTERN int uvws_conn_subscribe(uvws_conn_t *conn, const char *topic);
/* Ends a subscription; UV_ENOENT if there was none. */
UVWS_EXTERN int uvws_conn_unsubscribe(uvws_conn_t *conn, const char *topic);

/* Sends a message to every OPEN subscriber of topic through one prepared
 * message. A subscriber whose bufferedAmount is above publish_limit is
 * skipped or closed with 1008, as publish_policy says; one that cannot
 * take it for lack of memory is failed with 1011, so that no subscriber
 * misses a message and goes on as if it had not. Returns how many
 * connections the message was queued to (0 when the topic has no
 * subscribers), or an error (UVWS_EBADUTF8, UV_ENOMEM, UV_EINVAL). */
UVWS_EXTERN int uvws_server_publish(uvws_server_t *server, const char *topic,
                                    uvws_msg_type_t type, const char *data,
                                    size_t len);
/* uvws_server_publish() of a prepared message (the caller keeps its
 * reference): the same returns and errors, without UVWS_EBADUTF8. */
UVWS_EXTERN int uvws_server_publish_prepared(uvws_server_t *server,
                                             const char *topic,
                                             uvws_prepared_t *msg);

/* Sends a message to every OPEN connection of the server, as publish does
 * (same slow-subscriber policy). Returns how many it was queued to. */
UVWS_EXTERN int uvws_server_broadcast(uvws_server_t *server,
                                      uvws_msg_type_t type, const char *data,
                                      size_t len);

/* Subscribers of topic at this moment. */
UVWS_EXTERN size_t uvws_server_subscribers(const uvws_server_t *server,
                                           const char *topic);

/* Replaces the Origin allow-list (NULL: any Origin); the list is copied.
 * Useful after uvws_server_listen() with port 0, once the server's own
 * origin is known. Applies to upgrades that arrive afterwards. Errors:
 * UV_ENOMEM. */
UVWS_EXTERN int uvws_server_set_allowed_origins(uvws_server_t *server,
                                                const char *const *origins);

/* The server's user pointer (NULL until set), which uvws never uses. */
UVWS_EXTERN void *uvws_server_get_data(const uvws_server_t *server);
/* Sets the server's user pointer. */
UVWS_EXTERN void uvws_server_set_data(uvws_server_t *server, void *data);
/* The loop the server runs on. */
UVWS_EXTERN uv_loop_t *uvws_server_loop(const uvws_server_t *server);

/* Request accessors, for use inside uvws_upgrade_cb and uvws_http_cb. */
UVWS_EXTERN const char *uvws_request_method(const uvws_request_t *req);
/* The request target as sent ("/chat?room=1"). */
UVWS_EXTERN const char *uvws_request_target(const uvws_request_t *req);
/* The first header named name (case-insensitive), or NULL. */
UVWS_EXTERN const char *uvws_request_header(const uvws_request_t *req,
                                            const char *name);
/* Header i in arrival order; 0 and the name and value, or UV_ENOENT. */
UVWS_EXTERN int uvws_request_header_at(const uvws_request_t *req, size_t i,
                                       const char **name, const char **value);
/* Subprotocol i offered by the client, or NULL past the last. */
UVWS_EXTERN const char *uvws_request_protocol(const uvws_request_t *req,
                                              size_t i);
/* Writes the address of the client that sent the request into addr and
 * returns 0; errors as uvws_conn_peer_addr(). */
UVWS_EXTERN int uvws_request_peer_addr(const uvws_request_t *req,
                                       struct sockaddr_storage *addr);
/* Selects one of the offered subprotocols (UV_EINVAL if not offered). */
UVWS_EXTERN int uvws_request_select_protocol(uvws_request_t *req,
                                             const char *protocol);
/* Overrides the server's callbacks for this connection (copied). */
UVWS_EXTERN void uvws_request_set_callbacks(uvws_request_t *req,
                                            const uvws_callbacks_t *cbs);
/* Sets the connection's user pointer. */
UVWS_EXTERN void uvws_request_set_data(uvws_request_t *req, void *data);
/* uvws_conn_tls_peer_subject() for the connection of an upgrade request:
 * over TLS with client certificates asked for, the verified client's
 * subject, or UV_ENOENT when it sent none. */
UVWS_EXTERN int uvws_request_tls_peer_subject(const uvws_request_t *req,
                                              char *buf, size_t size);
/* The path of the target, without the query ("/chat"), NUL-terminated and
 * not percent-decoded. */
UVWS_EXTERN const char *uvws_request_path(const uvws_request_t *req);
/* Adds a header to the answer: the 101 of an accepted upgrade, the refusal
 * of a refused one, or uvws_request_respond(). name and value are copied;
 * UV_EINVAL for a name that is not a token or a value with CR, LF or NUL. */
UVWS_EXTERN int uvws_request_add_header(uvws_request_t *req, const char *name,
                                        const char *value);

/* Answers a plain HTTP request (from uvws_http_cb): status (100-599), the
 * headers added with uvws_request_add_header(), Content-Length: len, and
 * body (copied; not sent for HEAD, 1xx, 204 and 304, for which body may be
 * NULL with len still the length GET would have). Only once per request:
 * UVWS_ESTATE after the first answer, and outside uvws_http_cb. UV_EINVAL
 * for a bad status, a content type with CR or LF, or a missing body. */
UVWS_EXTERN int uvws_request_respond(uvws_request_t *req, int status,
                                     const char *content_type, const char *body,
                                     size_t len);

/* Answers a GET or HEAD request with the file under root that the request's
 * path names: percent-decoding, no ".." segments, no escape from root
 * through symbolic links, "index.html" for directories, a Content-Type from
 * the file's extension, Cache-Control: no-cache, and ETag / Last-Modified
 * with 304 answers to If-None-Match / If-Modified-Since. It answers errors
 * itself: 400 (a malformed escape or %00), 403 (a ".." segment, an escape
 * from root, or not a regular file), 404 (missing, or a decoded '/'), 405
 * (methods other than GET and HEAD, with Allow) and 500 (files over
 * 16 MiB). It reads the file synchronously, blocking the loop: it is meant
 * for examples and small tools, not as a web server. Returns 0 when it
 * answered (with any status) or a negative error when it could not
 * (nothing sent; the request may still be answered). */
UVWS_EXTERN int uvws_request_serve_file(uvws_request_t *req, const char *root);

/* ------------------------------------------------------------------------ */
/* Threads: sending to and closing connections from other threads           */

/* One loop per thread is uvws's model: a server or a client context and its
 * connections belong to the loop they were created on, and only that loop's
 * thread may call functions on them. A uvws_async_t is how other threads
 * reach them: a thread posts a send or a close, and the loop's thread
 * carries it out.
 *
 * On the loop's thread: uvws_async_create() the handle, attach the servers
 * and clients whose connections other threads will address, and give those
 * threads a handle for each connection, from uvws_async_handle() (in on_open,
 * say). A handle is a number: it names the attachment and the connection's
 * uvws_conn_id(), so it stays harmless once the connection is gone. A post to
 * a connection that no longer exists fails with UV_ENOENT through on_result;
 * no freed memory is ever touched, and a handle never reaches another
 * connection or another context.
 *
 * From any thread: uvws_async_send() and uvws_async_close_conn() check their
 * arguments, copy them, queue them and wake the loop. At each wake-up the
 * loop's thread takes everything queued and carries it out in order, calling
 * on_result once for each post; the messages of one wake-up go out together,
 * one write per connection, before the loop next waits for I/O, as sends
 * made in any callback do. Posts made by one thread are carried out in the
 * order it made them.
 *
 * The handle keeps its loop alive, as a uv_async_t does, until
 * uvws_async_close(). */
typedef struct uvws_async_s uvws_async_t;

/* The outcome of one post that returned 0, on the loop's thread: conn and
 * tag are what was posted. status is:
 *  - 0: the message was queued on the connection (a failure after that is
 *    the connection's, reported through its on_error and on_close), or the
 *    closing handshake was started (or was already under way);
 *  - UV_ENOENT: no such connection any more (on_close has returned and uvws
 *    released it; or its context was detached), or never was;
 *  - UV_ECANCELED: uvws_async_close() was called before the post was
 *    carried out;
 *  - an error of uvws_conn_send() (UVWS_ESTATE while the connection is
 *    CONNECTING, or once it is closing; UVWS_EINFRAGMENT, UVWS_EBUFFERFULL,
 *    UV_ENOMEM) or of uvws_conn_close_status().
 * The callback may post, attach, detach, close the handle, and use the
 * connections of the loop. */
typedef void (*uvws_async_result_cb)(uvws_async_t *async, uint64_t conn,
                                     void *tag, int status);

/* Completion of uvws_async_close(): the handle is released when it returns.
 */
typedef void (*uvws_async_close_cb)(uvws_async_t *async);

/* Creates a handle on loop, to be called on the loop's thread. on_result
 * (may be NULL) receives the outcome of every post. On 0, *async is ready:
 * attach contexts to it, then share it with other threads. Errors:
 * UV_EINVAL (loop or async NULL), UV_ENOMEM, and those of uv_mutex_init()
 * and uv_async_init(). */
UVWS_EXTERN int uvws_async_create(uv_loop_t *loop,
                                  uvws_async_result_cb on_result,
                                  uvws_async_t **async);

/* uvws_async_create() with the handle's memory from allocator (copied;
 * NULL: malloc). Posting threads allocate too, so its functions must be
 * safe to call from any thread. Errors also UV_EINVAL for an allocator
 * without its required functions. */
UVWS_EXTERN int uvws_async_create_ex(uv_loop_t *loop,
                                     uvws_async_result_cb on_result,
                                     const uvws_allocator_t *allocator,
                                     uvws_async_t **async);

/* Lets other threads address the connections of server (those it has and
 * those to come) through async. Loop's thread only. server must be on the
 * handle's loop, and must not be released while attached: detach it
 * (uvws_async_detach_server()) before closing it or in its close callback,
 * or close the handle first. Attaching twice is one attachment. Errors:
 * UV_EINVAL (another loop), UVWS_ESTATE (the server or the handle is
 * closing), UV_ENOSPC (65535 attachments over the handle's life),
 * UV_ENOMEM. */
UVWS_EXTERN int uvws_async_attach_server(uvws_async_t *async,
                                         uvws_server_t *server);
/* uvws_async_attach_server() for a client context, whose connections are
 * those of uvws_connect(). The same rules and errors. */
UVWS_EXTERN int uvws_async_attach_client(uvws_async_t *async,
                                         uvws_client_t *client);

/* Ends the attachment of server: posts to the handles it gave that are
 * carried out from now on get UV_ENOENT, even if server is attached again
 * (each attachment's handles are its own). Loop's thread only. Returns 0,
 * or UV_ENOENT when server is not attached. */
UVWS_EXTERN int uvws_async_detach_server(uvws_async_t *async,
                                         uvws_server_t *server);
/* uvws_async_detach_server() for a client context. */
UVWS_EXTERN int uvws_async_detach_client(uvws_async_t *async,
                                         uvws_client_t *client);

/* Writes the handle of conn into *handle and returns 0: a number other
 * threads pass to uvws_async_send() and uvws_async_close_conn(), valid for
 * as long as async exists (posts to it fail cleanly once conn is gone).
 * Loop's thread only. Never 0. Errors: UV_ENOENT when conn's server or client
 * is not attached to async; UV_EOVERFLOW for a connection id past 2^48 (a
 * context that has made that many connections). */
UVWS_EXTERN int uvws_async_handle(const uvws_async_t *async,
                                  const uvws_conn_t *conn, uint64_t *handle);

/* Posts a message for the connection named by conn (a uvws_async_handle()),
 * from any thread: it is sent as uvws_conn_send() sends, after everything
 * this thread posted before, and on_result follows on the loop's thread
 * with tag (the caller's, never used by uvws) and the outcome. data (len
 * bytes; NULL when len is 0) is copied before the call returns; text is
 * checked as UTF-8 here. Errors, after which nothing is posted and on_result
 * does not follow: UV_EINVAL (conn 0, a type other than UVWS_TEXT and
 * UVWS_BINARY, NULL data with len > 0), UVWS_EBADUTF8, UV_ENOMEM, and
 * UVWS_ESTATE once uvws_async_close() was called. async must exist: a
 * thread may post until the close callback starts, not after. */
UVWS_EXTERN int uvws_async_send(uvws_async_t *async, uint64_t conn,
                                uvws_msg_type_t type, const char *data,
                                size_t len, void *tag);

/* Posts the start of the closing handshake of the connection named by conn,
 * from any thread: on the loop's thread it is uvws_conn_close_status() (or,
 * with code 0, uvws_conn_close() without a code), after everything this
 * thread posted before, so the messages it sent first go out first; the
 * connection's on_close follows in due course, and on_result with tag and
 * the outcome; sends carried out after the close get UVWS_ESTATE, then
 * UV_ENOENT once the connection is gone. code is 0 or a code an endpoint
 * may send (1000-1003, 1007-1014, 3000-4999); reason (reason_len bytes of
 * UTF-8, at most 123; may be NULL) is copied before the call returns.
 * Errors, after which nothing is posted: UV_EINVAL (conn 0),
 * UVWS_EBADCODE, UVWS_EBADREASON, UV_ENOMEM, UVWS_ESTATE once
 * uvws_async_close() was called. */
UVWS_EXTERN int uvws_async_close_conn(uvws_async_t *async, uint64_t conn,
                                      int code, const char *reason,
                                      size_t reason_len, void *tag);

/* Closes the handle, on the loop's thread: every context is detached at
 * once (they may be closed right after this call), posts made from now on
 * fail with UVWS_ESTATE, and posts queued but not carried out are cancelled:
 * on_result gets UV_ECANCELED for each. Then cb (may be NULL) is called and
 * the memory is released when it returns: by then every other thread must
 * have returned from its last call on async (join them in cb at the
 * latest). No other callback follows cb. */
UVWS_EXTERN void uvws_async_close(uvws_async_t *async, uvws_async_close_cb cb);

/* The handle's user pointer (NULL until set), which uvws never uses. */
UVWS_EXTERN void *uvws_async_get_data(const uvws_async_t *async);
/* Sets the handle's user pointer. Set it before other threads read it. */
UVWS_EXTERN void uvws_async_set_data(uvws_async_t *async, void *data);

/* ------------------------------------------------------------------------ */
/* Scale-out: publish/subscribe across processes and machines through Redis */

/* A Redis backend mirrors a server's topics to Redis pub/sub channels, so
 * that several servers (processes, machines, or loops of one process) share
 * their topics: a message given to uvws_redis_publish() on any of them
 * reaches the subscribers of its topic on every one of them.
 *
 * Topic T is the Redis channel PREFIX T ("uvws:" T by default). Each
 * backend opens two connections to Redis on the server's loop: one
 * publishes, the other receives every channel of the prefix (PSUBSCRIBE
 * "PREFIX*"), so a backend holds no per-topic state in Redis and a new
 * local subscriber gets remote messages at once. Messages for topics that
 * have no subscriber on this server are dropped on arrival.
 *
 * Delivery:
 *  - On the publishing server, the local subscribers get the message
 *    during the call, as with uvws_server_publish(); it reaches Redis once,
 *    and each other connected server delivers it once to its own
 *    subscribers, framed once (one uvws_prepared_t) for all of them. Each
 *    message carries its publisher's random node id, so a server ignores
 *    its own messages when Redis echoes them back.
 *  - Messages from one publisher arrive everywhere in the order they were
 *    published.
 *  - Across servers delivery is at most once: Redis pub/sub stores nothing,
 *    so a server that is not connected misses what is published meanwhile.
 *    Nothing is lost without a signal: uvws_redis_publish() says when a
 *    message did not go to Redis, on_undelivered counts messages handed to
 *    Redis that it never confirmed, and on_disconnect reports every loss of
 *    the connection. Redis also disconnects a subscriber that reads too
 *    slowly (its client-output-buffer-limit for pubsub).
 *  - Local delivery does not depend on Redis: while it is away, publishing
 *    still reaches this server's subscribers, and the backend reconnects
 *    with exponential backoff (with jitter, bounded by reconnect_max_ms).
 *
 * Messages published by other Redis clients on a channel of the prefix
 * (PUBLISH uvws:news "...") reach the topic's subscribers on every server
 * too, as text when they are valid UTF-8 and as binary otherwise.
 *
 * One backend per server. The backend runs on the server's loop only.
 * Available when uvws is built with hiredis (UVWS_WITH_REDIS, on when
 * hiredis is found); otherwise every function below fails with
 * UV_ENOTSUP. */
typedef struct uvws_redis_s uvws_redis_t;

/* The backend is connected: both connections are up (authenticated when
 * the URL has a password) and subscribed. From now on messages go to and
 * come from the other servers. */
typedef void (*uvws_redis_connect_cb)(uvws_redis_t *redis);

/* The backend is not connected: the connection was lost after
 * on_connect, or an attempt to connect failed. err says why (UV_EOF or
 * UV_ECONNRESET when Redis went away, UV_ECONNREFUSED, UV_ETIMEDOUT after
 * connect_timeout_ms, a host name lookup error, UVWS_EREDIS when Redis
 * refused AUTH). The next attempt starts in retry_ms milliseconds. Until
 * on_connect, uvws_redis_publish() reaches local subscribers only. */
typedef void (*uvws_redis_disconnect_cb)(uvws_redis_t *redis, int err,
                                         unsigned retry_ms);

/* count messages that uvws_redis_publish() had handed to Redis may not
 * have reached the other servers: err is UVWS_EREDIS when Redis answered
 * PUBLISH with an error, otherwise the connection closed before Redis
 * confirmed them (they may or may not have been passed on), with the error
 * that closed it, or UV_ECANCELED when uvws_redis_close() gave up waiting
 * for the confirmation. Messages that uvws_redis_publish() did not hand to
 * Redis are not counted here: its return value said so. */
typedef void (*uvws_redis_undelivered_cb)(uvws_redis_t *redis, size_t count,
                                          int err);

/* Completion of uvws_redis_close(): the backend's memory is released when
 * this returns. */
typedef void (*uvws_redis_close_cb)(uvws_redis_t *redis);

/* Options of uvws_redis_create(). A field left 0 or NULL takes its
 * default. */
typedef struct {
  /* Prepended to a topic to name its channel (copied). Default "uvws:".
   * Applications that share one Redis use different prefixes, none of
   * which may begin another ("app:" and "app:admin:" would overlap). */
  const char *prefix;
  /* Milliseconds allowed for one connection attempt (lookup, TCP, AUTH,
   * PSUBSCRIBE), and for uvws_redis_close() to get what was published
   * confirmed. Default 5000. */
  unsigned connect_timeout_ms;
  /* The delay before reconnecting starts at reconnect_min_ms (default 100)
   * and doubles after each failed attempt up to reconnect_max_ms (default
   * 5000); each delay is drawn at random between half of it and all of
   * it. Back to the minimum once connected. */
  unsigned reconnect_min_ms; /* Default 100. */
  unsigned reconnect_max_ms; /* Default 5000. */
  /* Bytes handed to Redis but not confirmed yet above which
   * uvws_redis_publish() stops handing messages to Redis (UV_ENOBUFS),
   * so a stalled Redis cannot grow memory without bound. Default 16 MiB. */
  size_t max_pending;
  uvws_redis_connect_cb on_connect;         /* may be NULL */
  uvws_redis_disconnect_cb on_disconnect;   /* may be NULL */
  uvws_redis_undelivered_cb on_undelivered; /* may be NULL */
} uvws_redis_options_t;

/* Creates a backend for server and starts connecting to url,
 * "redis://[[user]:password@]host[:port][/db]" (port 6379 by default; a
 * password alone, or user and password for Redis 6 ACLs, percent-decoded
 * and sent with AUTH; host a name, an IPv4 address or an IPv6 address in
 * brackets, looked up without blocking the loop; db has no effect, since
 * pub/sub channels are not per database). url and options are copied;
 * options may be NULL. On 0, *redis is connecting: on_connect follows when
 * it is connected, or on_disconnect if it could not connect, and it keeps
 * trying until uvws_redis_close(). server must stay open until
 * uvws_redis_close() has been called. Errors: UV_EINVAL (a NULL argument,
 * reconnect_max_ms below reconnect_min_ms), UVWS_EBADURL, UV_ENOTSUP
 * (rediss:// and unix://, which this backend does not speak, and builds
 * without hiredis), UV_ENOMEM, uv_random()'s errors. */
UVWS_EXTERN int uvws_redis_create(uvws_server_t *server, const char *url,
                                  const uvws_redis_options_t *options,
                                  uvws_redis_t **redis);

/* Publishes a message on topic: to this server's subscribers now, as
 * uvws_server_publish() does (same slow-subscriber policy), and through
 * Redis to the other servers'. data is copied. Returns:
 *  - 0: delivered locally and handed to Redis (whose failure to pass it on
 *    would be reported by on_undelivered);
 *  - UV_ENOTCONN: delivered locally only, because the backend is not
 *    connected (before on_connect, or between on_disconnect and the next
 *    on_connect); nothing is kept to be sent later;
 *  - UV_ENOBUFS: delivered locally only, because more than max_pending
 *    bytes are waiting for Redis to confirm them;
 *  - UV_EINVAL (a NULL or empty topic, a bad type, NULL data with len > 0),
 *    UVWS_EBADUTF8 (text that is not UTF-8), UV_ENOMEM, UVWS_ESTATE (after
 *    uvws_redis_close()): not delivered anywhere. */
UVWS_EXTERN int uvws_redis_publish(uvws_redis_t *redis, const char *topic,
                                   uvws_msg_type_t type, const char *data,
                                   size_t len);

/* uvws_redis_publish() of a prepared message: the local subscribers get msg
 * itself (the caller keeps its reference). Returns as uvws_redis_publish().
 */
UVWS_EXTERN int uvws_redis_publish_prepared(uvws_redis_t *redis,
                                            const char *topic,
                                            uvws_prepared_t *msg);

/* 1 between on_connect and the next on_disconnect, else 0. */
UVWS_EXTERN int uvws_redis_connected(const uvws_redis_t *redis);

/* The backend's user pointer (NULL until set; uvws does not use it). */
UVWS_EXTERN void *uvws_redis_get_data(const uvws_redis_t *redis);
/* Sets the backend's user pointer. */
UVWS_EXTERN void uvws_redis_set_data(uvws_redis_t *redis, void *data);

/* Closes the backend: it stops receiving at once and no longer uses the
 * server, which may then be closed. Messages already handed to Redis are
 * given up to connect_timeout_ms to be confirmed; those that are not are
 * reported through on_undelivered (UV_ECANCELED). Then cb (may be NULL) is
 * called and the memory released. No callback other than on_undelivered
 * and cb follows this call. */
UVWS_EXTERN void uvws_redis_close(uvws_redis_t *redis, uvws_redis_close_cb cb);

#ifdef __cplusplus
}
#endif
#endif /* UVWS_H */

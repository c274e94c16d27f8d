/* uvws error codes. Included by uvws.h; usable on its own by code that
 * must not see libuv. */
#ifndef UVWS_ERRNO_H
#define UVWS_ERRNO_H

/* uvws's own error codes, below libuv's range (libuv uses -1 .. -4095). */
#define UVWS_ERRNO_MAP(XX)                                                     \
  XX(EPROTO, -20001, "WebSocket protocol violation by the peer")              \
  XX(EBADUTF8, -20002, "invalid UTF-8 in a text message or close reason")    \
  XX(ETOOBIG, -20003, "message larger than the configured maximum")          \
  XX(EBADURL, -20004, "malformed or unsupported WebSocket URL")              \
  XX(EHANDSHAKE, -20005, "malformed opening handshake")                       \
  XX(EBADSTATUS, -20006, "server did not answer 101 Switching Protocols")    \
  XX(EBADACCEPT, -20007, "wrong Sec-WebSocket-Accept in the server answer")  \
  XX(ENOTOFFERED, -20008,                                                      \
     "server selected a subprotocol or extension that was not offered")      \
  XX(EHDRTOOBIG, -20009, "handshake headers larger than the limit")          \
  XX(ESTATE, -20010, "operation not allowed in the connection's state")      \
  XX(EBADCODE, -20011, "close code not allowed (1000 or 3000-4999)")         \
  XX(EBADREASON, -20012, "close reason longer than 123 bytes or not UTF-8")  \
  XX(EREFUSED, -20013, "upgrade refused by the application")                  \
  XX(ECLOSETIMEOUT, -20014, "peer did not complete the close handshake")     \
  XX(EINFRAGMENT, -20015,                                                      \
     "a fragmented message is being sent: finish it first")                  \
  XX(ETLS, -20016,                                                            \
     "TLS failure (see uvws_conn_tls_error() for mbedTLS's code)")            \
  XX(EDEFLATE, -20017, "invalid permessage-deflate data")                  \
  XX(EPROXY, -20018, "the HTTP proxy refused the tunnel")                  \
  XX(EPROXYAUTH, -20019,                                                      \
     "the HTTP proxy refused the credentials (407 or 401)")                      \
  XX(EBADPROXY, -20020, "malformed proxy URL")                              \
  XX(EBUFFERFULL, -20021,                                                     \
     "bufferedAmount would pass the connection's max_buffered")             \
  /* TLS certificates: -20030 and up. */                                     \
  XX(ECERTUNTRUSTED, -20030,                                                  \
     "peer certificate not issued by a trusted CA (or self-signed)")         \
  XX(ECERTEXPIRED, -20031, "peer certificate expired or not yet valid")      \
  XX(ECERTNAME, -20032,                                                       \
     "peer certificate does not match the host name or address")             \
  XX(ECERTINVALID, -20033,                                                    \
     "peer certificate rejected (revoked, wrong usage, weak key or hash)")   \
  XX(ETLSCONFIG, -20034,                                                      \
     "TLS certificate, key or CA list does not parse, or key and "           \
     "certificate do not match")                                              \
  /* Scale-out through Redis: -20040 and up. */                              \
  XX(EREDIS, -20040, "Redis answered with an error (refused AUTH or PUBLISH)")

/* uvws's error codes as enumerators, UVWS_EPROTO and the others of
 * UVWS_ERRNO_MAP. Functions return them as int. */
typedef enum {
#define UVWS__ERR_ENUM(name, code, msg) UVWS_##name = (code),
  UVWS_ERRNO_MAP(UVWS__ERR_ENUM)
#undef UVWS__ERR_ENUM
  UVWS__ERRNO_END
} uvws_errno_t;

#endif

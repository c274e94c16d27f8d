/* HTTP proxies for client connections: the proxy URL, the environment as
 * curl reads it, and the CONNECT request (RFC 9110 9.3.6). No I/O.
 * Internal. */
#ifndef UVWS_PROXY_H
#define UVWS_PROXY_H

#include "buf.h"

typedef struct uvws__proxy_s {
  char *host; /* without IPv6 brackets */
  int port;
  char *auth; /* "Basic ..." credentials, or NULL */
} uvws__proxy_t;

/* Parses "http://[user[:password]@]host[:port][/]" (scheme optional, port
 * 80 by default; user and password percent-decoded). On 0 the strings in
 * out are allocated; UVWS_EBADPROXY or UV_ENOMEM (-12) otherwise, with
 * nothing allocated. */
int uvws__proxy_parse(const uvws_allocator_t *al, const char *url,
                      uvws__proxy_t *out);
void uvws__proxy_free(const uvws_allocator_t *al, uvws__proxy_t *p);

/* The proxy the environment names for a connection to host (secure: a
 * wss:// URL), as curl picks it: https_proxy / HTTPS_PROXY for wss://,
 * http_proxy (lower case only) for ws://, then all_proxy / ALL_PROXY;
 * none when no_proxy / NO_PROXY matches host. The string belongs to the
 * environment. NULL when there is none. */
const char *uvws__proxy_from_env(const char *host, int secure);

/* 1 if the no_proxy list (comma-separated: "*", host names, domain
 * suffixes with or without a leading dot, IP addresses) matches host. */
int uvws__no_proxy_match(const char *list, const char *host);

/* Appends "CONNECT authority HTTP/1.1" with Host and Proxy-Authorization.
 * authority is "host:port" (IPv6 hosts in brackets). 0 or UV_ENOMEM. */
int uvws__proxy_connect_request(const uvws_allocator_t *al, uvws__buf_t *out,
                                const char *authority, const uvws__proxy_t *p);

#endif

/* WebSocket URLs (RFC 6455 3). Internal. */
#ifndef UVWS_URL_H
#define UVWS_URL_H

#include "alloc.h"

typedef struct {
  int secure;        /* 1 for wss:// */
  char *host;        /* host name or IP literal, without IPv6 brackets */
  int port;          /* explicit, or 80 / 443 by scheme */
  char *target;      /* path and query, at least "/"; fragment refused */
  char *host_header; /* value for the Host header: host, brackets for IPv6,
                        ":port" only when not the scheme's default */
} uvws__url_t;

/* Parses url: scheme "ws" or "wss" (case-insensitive), "//", a host (a
 * reg-name, an IPv4 literal, or an IPv6 literal in brackets), an optional
 * port 1-65535, an optional path and query. Userinfo ("user@"), fragments
 * ("#..."), empty hosts, bad ports and bytes outside printable ASCII are
 * refused with UVWS_EBADURL. On 0 the strings in out are allocated with
 * al and released by uvws__url_free(). On error nothing is allocated. */
int uvws__url_parse(const uvws_allocator_t *al, const char *url,
                    uvws__url_t *out);
void uvws__url_free(const uvws_allocator_t *al, uvws__url_t *url);

#endif

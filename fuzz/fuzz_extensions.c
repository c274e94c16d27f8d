/* libFuzzer target for permessage-deflate negotiation (src/deflate.c):
 * uvws__pmd_negotiate (a server reading a client's offers) and
 * uvws__pmd_accept (a client reading the server's answer).
 *
 * Input: byte 0 is the server's configuration and byte 1 the client's
 * (bit 0 server_no_context_takeover, bit 1 client_no_context_takeover,
 * bits 2-4 server_max_window_bits - 8, bits 5-7 client_max_window_bits -
 * 8). The rest is lines; each is a header value, of
 * Sec-WebSocket-Extensions unless the line starts with '#' (another
 * header, which must be ignored). Values are given as they are, any bytes,
 * each at the end of its own allocation; and, when the lines also make a
 * valid HTTP head, through uvws__http_parse_request, which must give the
 * same results.
 *
 * Checked, beyond "no crash":
 *  - negotiate returns 1, 0 or UVWS_EHANDSHAKE; with 1 the agreed
 *    parameters respect the server's configuration, and its answer is
 *    accepted by a client that offered everything, with the same
 *    parameters seen from the other side; with 0 nothing is answered;
 *  - accept returns 1, 0 or UVWS_EHANDSHAKE; with 1 the parameters respect
 *    what the client asked for;
 *  - the client's own offer, for its configuration, is accepted by the
 *    server, and the server's answer to it by the client, both sides
 *    agreeing on windows and context takeover. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deflate.h"
#include "handshake.h"
#include "uvws_errno.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char EXT[] = "Sec-WebSocket-Extensions";

static uvws__pmd_config_t config(uint8_t b) {
  uvws__pmd_config_t c;
  c.server_no_context_takeover = b & 1;
  c.client_no_context_takeover = (b >> 1) & 1;
  c.server_max_window_bits = (uint8_t)(8 + ((b >> 2) & 7));
  c.client_max_window_bits = (uint8_t)(8 + ((b >> 5) & 7));
  c.level = 6;
  c.mem_level = 8;
  return c;
}

/* The two sides of one connection agree. */
static void mirrored(const uvws__pmd_params_t *s, const uvws__pmd_params_t *c) {
  FUZZ_CHECK(s->tx_window == c->rx_window);
  FUZZ_CHECK(s->rx_window == c->tx_window);
  FUZZ_CHECK(s->tx_no_takeover == c->rx_no_takeover);
  FUZZ_CHECK(s->rx_no_takeover == c->tx_no_takeover);
}

/* A head with one Sec-WebSocket-Extensions header. */
static void one_header(uvws__http_head_t *h, const char *value, size_t len) {
  memset(h, 0, sizeof(*h));
  h->headers[0].name = EXT;
  h->headers[0].name_len = sizeof(EXT) - 1;
  h->headers[0].value = value;
  h->headers[0].value_len = len;
  h->num_headers = 1;
}

/* The server's answer r / response / params to a head, checked. */
static void check_negotiated(int r, const uvws__pmd_config_t *scfg,
                             const uvws__pmd_params_t *sp,
                             const uvws__buf_t *response) {
  static const uvws__pmd_config_t everything = {0, 0, 15, 15, 6, 8};
  uvws__http_head_t h;
  uvws__pmd_params_t cp;

  FUZZ_CHECK(r == 1 || r == 0 || r == UVWS_EHANDSHAKE);
  if (r != 1) {
    FUZZ_CHECK(response->len == 0);
    return;
  }
  FUZZ_CHECK(response->len >= 18 &&
             memcmp(response->base, "permessage-deflate", 18) == 0);
  FUZZ_CHECK(sp->tx_window >= 8 && sp->tx_window <= scfg->server_max_window_bits);
  FUZZ_CHECK(sp->rx_window >= 8 && sp->rx_window <= 15);
  if (scfg->server_no_context_takeover)
    FUZZ_CHECK(sp->tx_no_takeover);
  if (scfg->client_no_context_takeover)
    FUZZ_CHECK(sp->rx_no_takeover);

  /* RFC 7692 5: what the server answers must be a valid acceptance. */
  one_header(&h, response->base, response->len);
  FUZZ_CHECK(uvws__pmd_accept(&h, &everything, &cp) == 1);
  mirrored(sp, &cp);
}

static void check_accepted(int r, const uvws__pmd_config_t *ccfg,
                           const uvws__pmd_params_t *cp) {
  FUZZ_CHECK(r == 1 || r == 0 || r == UVWS_EHANDSHAKE);
  if (r != 1)
    return;
  FUZZ_CHECK(cp->tx_window >= 8 &&
             cp->tx_window <= ccfg->client_max_window_bits);
  FUZZ_CHECK(cp->rx_window >= 8 && cp->rx_window <= 15);
  if (ccfg->server_max_window_bits < 15)
    FUZZ_CHECK(cp->rx_window <= ccfg->server_max_window_bits);
  if (ccfg->server_no_context_takeover)
    FUZZ_CHECK(cp->rx_no_takeover);
  if (ccfg->client_no_context_takeover)
    FUZZ_CHECK(cp->tx_no_takeover);
}

/* The client's offer for ccfg, negotiated by a server with scfg and
 * accepted back: a round trip that must always succeed. */
static void round_trip(const uvws__pmd_config_t *scfg,
                       const uvws__pmd_config_t *ccfg) {
  uvws__buf_t offer = {0}, response = {0};
  uvws__http_head_t h;
  uvws__pmd_params_t sp, cp;

  FUZZ_CHECK(uvws__pmd_offer(&uvws__libc_allocator, ccfg, &offer) == 0);
  one_header(&h, offer.base, offer.len);
  FUZZ_CHECK(uvws__pmd_negotiate(&uvws__libc_allocator, &h, scfg, &sp,
                                 &response) == 1);
  check_negotiated(1, scfg, &sp, &response);
  one_header(&h, response.base, response.len);
  FUZZ_CHECK(uvws__pmd_accept(&h, ccfg, &cp) == 1);
  check_accepted(1, ccfg, &cp);
  mirrored(&sp, &cp);
  uvws__buf_free(&uvws__libc_allocator, &offer);
  uvws__buf_free(&uvws__libc_allocator, &response);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uvws__pmd_config_t scfg, ccfg;
  uvws__http_head_t head, parsed;
  uvws__pmd_params_t sp, cp, sp2, cp2;
  uvws__buf_t response = {0}, response2 = {0}, text = {0};
  char *values[UVWS__MAX_HEADERS];
  size_t nvalues = 0, pos = 2, i;
  int r, ra, r2, ra2;
  long n;

  if (size < 2)
    return 0;
  scfg = config(data[0]);
  ccfg = config(data[1]);
  round_trip(&scfg, &ccfg);

  /* The head: each line a header, its value in an allocation of its own. */
  memset(&head, 0, sizeof(head));
  FUZZ_CHECK(uvws__buf_append_str(&uvws__libc_allocator, &text,
                                  "GET / HTTP/1.1\r\n") == 0);
  while (pos <= size && nvalues < UVWS__MAX_HEADERS) {
    const uint8_t *nl = memchr(data + pos, '\n', size - pos);
    size_t end = nl ? (size_t)(nl - data) : size;
    const char *line = (const char *)data + pos;
    size_t len = end - pos;
    int other = len > 0 && line[0] == '#';
    uvws__header_t *h = &head.headers[nvalues];

    if (other) {
      line++;
      len--;
    }
    values[nvalues] = malloc(len ? len : 1);
    FUZZ_CHECK(values[nvalues] != NULL);
    if (len)
      memcpy(values[nvalues], line, len);
    h->name = other ? "X-Other" : EXT;
    h->name_len = strlen(h->name);
    h->value = values[nvalues];
    h->value_len = len;
    nvalues++;
    FUZZ_CHECK(uvws__buf_append_str(&uvws__libc_allocator, &text, h->name) ==
                   0 &&
               uvws__buf_append(&uvws__libc_allocator, &text, ": ", 2) == 0 &&
               uvws__buf_append(&uvws__libc_allocator, &text, line, len) == 0 &&
               uvws__buf_append(&uvws__libc_allocator, &text, "\r\n", 2) == 0);
    pos = end + 1;
  }
  head.num_headers = nvalues;
  FUZZ_CHECK(uvws__buf_append(&uvws__libc_allocator, &text, "\r\n", 2) == 0);

  r = uvws__pmd_negotiate(&uvws__libc_allocator, &head, &scfg, &sp, &response);
  check_negotiated(r, &scfg, &sp, &response);
  ra = uvws__pmd_accept(&head, &ccfg, &cp);
  check_accepted(ra, &ccfg, &cp);

  /* The same headers through the HTTP parser, which trims blanks around
   * values: the results must not change. */
  n = uvws__http_parse_request(text.base, text.len, &parsed);
  if (n == (long)text.len) {
    r2 = uvws__pmd_negotiate(&uvws__libc_allocator, &parsed, &scfg, &sp2,
                             &response2);
    FUZZ_CHECK(r2 == r);
    if (r == 1) {
      FUZZ_CHECK(response2.len == response.len &&
                 memcmp(response2.base, response.base, response.len) == 0);
      FUZZ_CHECK(memcmp(&sp, &sp2, sizeof(sp)) == 0);
    }
    ra2 = uvws__pmd_accept(&parsed, &ccfg, &cp2);
    FUZZ_CHECK(ra2 == ra);
    if (ra == 1)
      FUZZ_CHECK(memcmp(&cp, &cp2, sizeof(cp)) == 0);
  }

  for (i = 0; i < nvalues; i++)
    free(values[i]);
  uvws__buf_free(&uvws__libc_allocator, &response);
  uvws__buf_free(&uvws__libc_allocator, &response2);
  uvws__buf_free(&uvws__libc_allocator, &text);
  return 0;
}

/* permessage-deflate (RFC 7692) below the connection objects:
 *
 *  - negotiation, table-driven, one line per case: the server choosing among
 *    offers (uvws__pmd_negotiate), the client's offer (uvws__pmd_offer) and
 *    its check of the answer (uvws__pmd_accept), and every client setting
 *    against every server setting, offer to acceptance;
 *  - the codec: uvws__pmd_deflate into uvws__pmd_inflate for windows 9-15
 *    with and without context takeover, fragmented compression, and zlib
 *    used directly on the other side in both directions, including the
 *    examples of RFC 7692 7.2.3;
 *  - decompression bombs against the codec and the engine;
 *  - the receiving engine with deflate on, each case fed whole, one byte at
 *    a time and split in two (and three) at every position, as in
 *    test_proto.c. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate.h"
#include "frame.h"
#include "handshake.h"
#include "proto.h"
#include "test.h"
#include "uvws_errno.h"

#define E UVWS_EHANDSHAKE

/* Deterministic pseudo-random bytes (xorshift32). */
static void fill_random(uint8_t *p, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
}

/* Compressible text: words and multi-byte characters, valid UTF-8. */
static void fill_text(char *p, size_t n, uint32_t seed) {
  static const char *const words[] = {"{\"id\": ", "\"name\": \"h\xc3\xa9llo\"",
                                      ", ", "\xe2\x82\xac", "}\n", "wörld ",
                                      "\xf0\x9f\x98\x80", "42"};
  size_t i = 0, k = seed;
  while (i < n) {
    const char *w = words[k++ % 8];
    size_t m = strlen(w);
    if (m > n - i) {
      p[i++] = 'x';
      continue;
    }
    memcpy(p + i, w, m);
    i += m;
    k += (k >> 3) & 1;
  }
}

/* ------------------------------------------------------------------------ */
/* Negotiation                                                              */

/* A side's settings packed in one int, so that a table line stays one
 * macro argument: no_context_takeover flags, then window bits. */
#define CFG(snct, cnct, smwb, cmwb)                                            \
  (((snct) << 12) | ((cnct) << 8) | ((smwb) << 4) | (cmwb))
#define D CFG(0, 0, 15, 15)

static uvws__pmd_config_t cfg_of(int packed) {
  uvws__pmd_config_t c;
  c.server_no_context_takeover = (uint8_t)((packed >> 12) & 1);
  c.client_no_context_takeover = (uint8_t)((packed >> 8) & 1);
  c.server_max_window_bits = (uint8_t)((packed >> 4) & 15);
  c.client_max_window_bits = (uint8_t)(packed & 15);
  c.level = 6;
  c.mem_level = 8;
  return c;
}

/* "tx15 rx12 txnt rxnt": agreed parameters as a test table writes them. */
static void params_str(const uvws__pmd_params_t *p, char *out, size_t cap) {
  snprintf(out, cap, "tx%u rx%u%s%s", p->tx_window, p->rx_window,
           p->tx_no_takeover ? " txnt" : "", p->rx_no_takeover ? " rxnt" : "");
}

/* An HTTP head with up to two Sec-WebSocket-Extensions headers (NULL:
 * absent), parsed. The head points into buf. */
static void make_head(int response, const char *h1, const char *h2, char *buf,
                      size_t cap, uvws__http_head_t *head) {
  long r;
  int n = snprintf(buf, cap, "%s%s%s%s%s%s%s\r\n",
                   response ? "HTTP/1.1 101 Switching Protocols\r\n"
                              "Upgrade: websocket\r\n"
                            : "GET / HTTP/1.1\r\nHost: a\r\n",
                   h1 ? "Sec-WebSocket-Extensions: " : "", h1 ? h1 : "",
                   h1 ? "\r\n" : "", h2 ? "Sec-WebSocket-Extensions: " : "",
                   h2 ? h2 : "", h2 ? "\r\n" : "");
  CHECK(n > 0 && (size_t)n < cap);
  r = response ? uvws__http_parse_response(buf, (size_t)n, head)
               : uvws__http_parse_request(buf, (size_t)n, head);
  CHECK_EQ(r, n);
}

typedef struct {
  int line;
  const char *h1, *h2;    /* header values; NULL: absent */
  int cfg;                /* this side's settings, CFG() */
  int result;             /* 1, 0 or an error */
  const char *response;   /* server: the answer's extension value */
  const char *params;     /* on 1: params_str() of what was agreed */
} neg_case_t;

#define NEG(h1, h2, cfg, result, response, params)                             \
  { __LINE__, h1, h2, cfg, result, response, params }
/* One header. */
#define S1(h, cfg, response, params) NEG(h, NULL, cfg, 1, response, params)
#define S0(h) NEG(h, NULL, D, 0, NULL, NULL)
#define SE(h) NEG(h, NULL, D, E, NULL, NULL)
#define PMD "permessage-deflate"
#define SMWB "; server_max_window_bits="
#define CMWB "; client_max_window_bits="

static const neg_case_t server_cases[] = {
    /* No extension offered, or only others. */
    NEG(NULL, NULL, D, 0, NULL, NULL),
    S0("x-webkit-deflate-frame"),
    S0("deflate-frame; max_window_bits=10, foo"),

    /* A plain offer, and each parameter alone. */
    S1(PMD, D, PMD, "tx15 rx15"),
    S1(PMD "; server_no_context_takeover", D,
       PMD "; server_no_context_takeover", "tx15 rx15 txnt"),
    S1(PMD "; client_no_context_takeover", D,
       PMD "; client_no_context_takeover", "tx15 rx15 rxnt"),
    S1(PMD SMWB "10", D, PMD SMWB "10", "tx10 rx15"),
    S1(PMD SMWB "8", D, PMD SMWB "8", "tx8 rx15"),
    S1(PMD SMWB "9", D, PMD SMWB "9", "tx9 rx15"),
    S1(PMD SMWB "15", D, PMD SMWB "15", "tx15 rx15"),
    /* 7.1.2.2: without a value the client only says it supports it. */
    S1(PMD "; client_max_window_bits", D, PMD, "tx15 rx15"),
    S1(PMD CMWB "9", D, PMD CMWB "9", "tx15 rx9"),
    S1(PMD CMWB "8", D, PMD CMWB "8", "tx15 rx8"),
    S1(PMD CMWB "15", D, PMD CMWB "15", "tx15 rx15"),
    /* All four, in an unusual order. */
    S1(PMD CMWB "12" SMWB "11; client_no_context_takeover;"
           " server_no_context_takeover",
       D,
       PMD "; server_no_context_takeover; client_no_context_takeover" SMWB
           "11" CMWB "12",
       "tx11 rx12 txnt rxnt"),

    /* Flags take no value (7.1.1); server_max_window_bits needs one. */
    S0(PMD "; server_no_context_takeover=1"),
    S0(PMD "; client_no_context_takeover=\"x\""),
    S0(PMD "; server_max_window_bits"),

    /* Window values: "8" to "15", no leading zero (7.1.2). */
    S0(PMD SMWB "7"),
    S0(PMD SMWB "16"),
    S0(PMD SMWB "08"),
    S0(PMD SMWB "0"),
    S0(PMD SMWB "1"),
    S0(PMD SMWB "abc"),
    S0(PMD SMWB "9a"),
    S0(PMD SMWB "-9"),
    S0(PMD SMWB "150"),
    S0(PMD CMWB "7"),
    S0(PMD CMWB "16"),
    S0(PMD CMWB "08"),
    S0(PMD CMWB "abc"),
    /* A quoted value is the token inside the quotes (RFC 6455 9.1). */
    S1(PMD SMWB "\"10\"", D, PMD SMWB "10", "tx10 rx15"),
    S1(PMD CMWB "\"9\"", D, PMD CMWB "9", "tx15 rx9"),
    S0(PMD SMWB "\"16\""),
    /* Tokens never need escaping: a backslash is refused. */
    SE(PMD SMWB "\"1\\0\""),
    SE(PMD SMWB "\"\""),
    SE(PMD SMWB "\"10"),

    /* Repeated parameters decline the offer (7.1). */
    S0(PMD "; server_no_context_takeover; server_no_context_takeover"),
    S0(PMD "; client_no_context_takeover; client_no_context_takeover"),
    S0(PMD SMWB "10" SMWB "10"),
    S0(PMD SMWB "10" SMWB "11"),
    S0(PMD "; client_max_window_bits; client_max_window_bits"),
    S0(PMD "; client_max_window_bits" CMWB "10"),
    S0(PMD "; Server_No_Context_Takeover; server_no_context_takeover"),

    /* Unknown parameters decline it too. */
    S0(PMD "; x"),
    S0(PMD "; mux=1"),
    S0(PMD "; client_max_window_bit=10"),
    S0(PMD "; server_no_context_takeover; a; b; c; d; e; f; g; h"),

    /* Several offers: the first acceptable one wins. */
    S1(PMD SMWB "10, " PMD, D, PMD SMWB "10", "tx10 rx15"),
    S1(PMD SMWB "7, " PMD "; client_no_context_takeover", D,
       PMD "; client_no_context_takeover", "tx15 rx15 rxnt"),
    S1(PMD "; foo, " PMD "; server_no_context_takeover;"
           " server_no_context_takeover, " PMD CMWB "11",
       D, PMD CMWB "11", "tx15 rx11"),
    S0(PMD "; a, " PMD SMWB "7, " PMD CMWB "16"),
    /* ... across two headers, in order. */
    NEG(PMD SMWB "16", PMD SMWB "12", D, 1, PMD SMWB "12", "tx12 rx15"),
    NEG(PMD CMWB "10", PMD, D, 1, PMD CMWB "10", "tx15 rx10"),
    NEG("x-webkit-deflate-frame", PMD, D, 1, PMD, "tx15 rx15"),
    NEG(PMD "; x", PMD "; y", D, 0, NULL, NULL),

    /* Other extensions before ours are ignored. */
    S1("x-webkit-deflate-frame; no_context_takeover, " PMD
       "; client_max_window_bits",
       D, PMD, "tx15 rx15"),
    S1("foo, bar; baz=\"q\"; n=1, " PMD, D, PMD, "tx15 rx15"),

    /* Names are compared without case; whitespace and empty elements
     * (RFC 7230 7) are allowed. */
    S1("PerMessage-Deflate; Server_No_Context_Takeover", D,
       PMD "; server_no_context_takeover", "tx15 rx15 txnt"),
    S1(PMD " ;server_max_window_bits = 10 ,permessage-deflate", D,
       PMD SMWB "10", "tx10 rx15"),
    S1(" , ," PMD ",,", D, PMD, "tx15 rx15"),
    S1(PMD "\t;\tclient_no_context_takeover", D,
       PMD "; client_no_context_takeover", "tx15 rx15 rxnt"),

    /* Malformed headers: the handshake is refused. */
    SE(PMD ";"),
    SE(PMD "; ;"),
    SE(PMD "; =10"),
    SE(PMD " server_no_context_takeover"),
    SE(PMD SMWB),
    SE(PMD SMWB "10 11"),
    SE(PMD "; a=\"b c\""),
    SE(PMD SMWB "(10)"),
    SE("; " PMD),
    SE("foo;;, " PMD),
    NEG("foo;;", PMD, D, E, NULL, NULL),
    NEG("x-foo", PMD "; =", D, E, NULL, NULL),

    /* The server's settings: no context takeover imposed. */
    S1(PMD, CFG(1, 0, 15, 15), PMD "; server_no_context_takeover",
       "tx15 rx15 txnt"),
    S1(PMD, CFG(0, 1, 15, 15), PMD "; client_no_context_takeover",
       "tx15 rx15 rxnt"),
    S1(PMD "; client_max_window_bits", CFG(1, 1, 15, 15),
       PMD "; server_no_context_takeover; client_no_context_takeover",
       "tx15 rx15 txnt rxnt"),
    S1(PMD "; server_no_context_takeover", CFG(1, 0, 15, 15),
       PMD "; server_no_context_takeover", "tx15 rx15 txnt"),
    /* Windows lowered: its own always, the client's only when offered. */
    S1(PMD, CFG(0, 0, 10, 10), PMD SMWB "10", "tx10 rx15"),
    S1(PMD "; client_max_window_bits", CFG(0, 0, 10, 10),
       PMD SMWB "10" CMWB "10", "tx10 rx10"),
    S1(PMD SMWB "12" CMWB "9", CFG(0, 0, 10, 10), PMD SMWB "10" CMWB "9",
       "tx10 rx9"),
    S1(PMD SMWB "9" CMWB "14", CFG(0, 0, 10, 10), PMD SMWB "9" CMWB "10",
       "tx9 rx10"),
    S1(PMD "; client_max_window_bits", CFG(0, 0, 8, 8),
       PMD SMWB "8" CMWB "8", "tx8 rx8"),
    S1(PMD CMWB "12", CFG(1, 1, 15, 13),
       PMD "; server_no_context_takeover; client_no_context_takeover" CMWB
           "12",
       "tx15 rx12 txnt rxnt"),
};

/* The client's side: offers with cfg, then reads the answer. */
#define C1(h, cfg, params) NEG(h, NULL, cfg, 1, NULL, params)
#define CE(h, cfg) NEG(h, NULL, cfg, E, NULL, NULL)

static const neg_case_t client_cases[] = {
    /* No extension in the answer: no deflate. */
    NEG(NULL, NULL, D, 0, NULL, NULL),
    NEG("", NULL, D, 0, NULL, NULL),

    C1(PMD, D, "tx15 rx15"),
    C1(PMD "; server_no_context_takeover", D, "tx15 rx15 rxnt"),
    C1(PMD "; client_no_context_takeover", D, "tx15 rx15 txnt"),
    C1(PMD SMWB "10", D, "tx15 rx10"),
    C1(PMD SMWB "8", D, "tx15 rx8"),
    /* We always offer client_max_window_bits, so the server may use it. */
    C1(PMD CMWB "10", D, "tx10 rx15"),
    C1(PMD CMWB "\"9\"", D, "tx9 rx15"),
    C1(PMD "; client_no_context_takeover; server_no_context_takeover" SMWB
           "9" CMWB "11",
       D, "tx11 rx9 txnt rxnt"),
    C1("PERMESSAGE-DEFLATE; SERVER_NO_CONTEXT_TAKEOVER", D, "tx15 rx15 rxnt"),

    /* Refusals (RFC 7692 5, 7.1): the client fails the connection. */
    CE(PMD "; foo", D),
    CE(PMD "; x=1", D),
    CE(PMD "; server_no_context_takeover; server_no_context_takeover", D),
    CE(PMD "; client_no_context_takeover; client_no_context_takeover", D),
    CE(PMD SMWB "10" SMWB "10", D),
    CE(PMD CMWB "10" CMWB "10", D),
    CE(PMD "; server_no_context_takeover=x", D),
    CE(PMD SMWB "7", D),
    CE(PMD SMWB "16", D),
    CE(PMD SMWB "08", D),
    CE(PMD SMWB "abc", D),
    CE(PMD "; server_max_window_bits", D),
    /* 7.1.2.2: client_max_window_bits in an answer needs a value. */
    CE(PMD "; client_max_window_bits", D),
    /* A second extension, or one we did not offer. */
    CE(PMD ", " PMD, D),
    CE("x-webkit-deflate-frame", D),
    CE(PMD ", x-foo", D),
    CE("x-foo, " PMD, D),
    NEG(PMD, PMD, D, E, NULL, NULL),
    NEG(PMD, "x-foo", D, E, NULL, NULL),
    /* Malformed. */
    CE(PMD ";", D),
    CE(PMD " x", D),
    CE(PMD SMWB "\"1\\0\"", D),

    /* We asked for server_max_window_bits=10: the answer must carry the
     * same or a smaller value (7.1.2.1). */
    C1(PMD SMWB "10", CFG(0, 0, 10, 15), "tx15 rx10"),
    C1(PMD SMWB "9", CFG(0, 0, 10, 15), "tx15 rx9"),
    CE(PMD SMWB "11", CFG(0, 0, 10, 15)),
    CE(PMD SMWB "15", CFG(0, 0, 10, 15)),
    CE(PMD, CFG(0, 0, 10, 15)),
    /* We offered client_max_window_bits=10: the server may lower it, not
     * raise it; without it in the answer we use what we offered. */
    C1(PMD CMWB "9", CFG(0, 0, 15, 10), "tx9 rx15"),
    C1(PMD CMWB "10", CFG(0, 0, 15, 10), "tx10 rx15"),
    C1(PMD, CFG(0, 0, 15, 10), "tx10 rx15"),
    CE(PMD CMWB "11", CFG(0, 0, 15, 10)),
    /* We asked the server not to keep its context: it must say so. */
    CE(PMD, CFG(1, 0, 15, 15)),
    CE(PMD "; client_no_context_takeover", CFG(1, 0, 15, 15)),
    C1(PMD "; server_no_context_takeover", CFG(1, 0, 15, 15),
       "tx15 rx15 rxnt"),
    /* We reset our own context whether or not the server repeats it. */
    C1(PMD, CFG(0, 1, 15, 15), "tx15 rx15 txnt"),
    C1(PMD "; client_no_context_takeover", CFG(0, 1, 15, 15),
       "tx15 rx15 txnt"),
};

static const struct {
  int line;
  int cfg;
  const char *offer;
} offer_cases[] = {
    {__LINE__, D, PMD "; client_max_window_bits"},
    {__LINE__, CFG(1, 0, 15, 15),
     PMD "; client_max_window_bits; server_no_context_takeover"},
    {__LINE__, CFG(0, 1, 15, 15),
     PMD "; client_max_window_bits; client_no_context_takeover"},
    {__LINE__, CFG(0, 0, 10, 15), PMD "; client_max_window_bits" SMWB "10"},
    {__LINE__, CFG(0, 0, 15, 11), PMD CMWB "11"},
    {__LINE__, CFG(0, 0, 8, 8), PMD CMWB "8" SMWB "8"},
    {__LINE__, CFG(1, 1, 9, 12),
     PMD CMWB "12; server_no_context_takeover; client_no_context_takeover" SMWB
         "9"},
};

static void neg_check(const neg_case_t *c, int client, int r,
                      const uvws__pmd_params_t *p, const uvws__buf_t *resp) {
  char got[64];
  int ok = r == c->result;
  if (ok && r == 1) {
    params_str(p, got, sizeof(got));
    ok = strcmp(got, c->params) == 0;
    if (!client)
      ok = ok && resp->len == strlen(c->response) &&
           memcmp(resp->base, c->response, resp->len) == 0;
  } else if (ok && !client) {
    ok = resp->len == 0; /* nothing appended when nothing was accepted */
  }
  if (!ok) {
    if (r == 1)
      params_str(p, got, sizeof(got));
    fprintf(stderr,
            "test_deflate.c:%d: %s [%s]%s%s%s\n  want %d %s %s\n"
            "  got  %d %s %.*s\n",
            c->line, client ? "accept" : "negotiate", c->h1 ? c->h1 : "(none)",
            c->h2 ? " [" : "", c->h2 ? c->h2 : "", c->h2 ? "]" : "", c->result,
            c->params ? c->params : "", c->response ? c->response : "", r,
            r == 1 ? got : "", client ? 0 : (int)resp->len,
            client ? "" : resp->base);
    abort();
  }
}

static void test_server_negotiation(void) {
  char buf[1024];
  for (size_t i = 0; i < sizeof(server_cases) / sizeof(server_cases[0]); i++) {
    const neg_case_t *c = &server_cases[i];
    uvws__http_head_t head;
    uvws__pmd_params_t p;
    uvws__buf_t resp = {0};
    int r;
    make_head(0, c->h1, c->h2, buf, sizeof(buf), &head);
    uvws__pmd_config_t cfg = cfg_of(c->cfg);
    memset(&p, 0xee, sizeof(p));
    r = uvws__pmd_negotiate(&uvws__libc_allocator, &head, &cfg, &p, &resp);
    neg_check(c, 0, r, &p, &resp);
    uvws__buf_free(&uvws__libc_allocator, &resp);
  }
  printf("  server negotiation: %zu cases\n",
         sizeof(server_cases) / sizeof(server_cases[0]));
}

static void test_client_negotiation(void) {
  char buf[1024];
  uvws__buf_t none = {0};
  for (size_t i = 0; i < sizeof(client_cases) / sizeof(client_cases[0]); i++) {
    const neg_case_t *c = &client_cases[i];
    uvws__http_head_t head;
    uvws__pmd_params_t p;
    int r;
    make_head(1, c->h1, c->h2, buf, sizeof(buf), &head);
    uvws__pmd_config_t cfg = cfg_of(c->cfg);
    memset(&p, 0xee, sizeof(p));
    r = uvws__pmd_accept(&head, &cfg, &p);
    neg_check(c, 1, r, &p, &none);
  }
  for (size_t i = 0; i < sizeof(offer_cases) / sizeof(offer_cases[0]); i++) {
    uvws__buf_t b = {0};
    uvws__pmd_config_t cfg = cfg_of(offer_cases[i].cfg);
    CHECK_EQ(uvws__pmd_offer(&uvws__libc_allocator, &cfg, &b), 0);
    CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, &b, "", 1), 0);
    if (strcmp(b.base, offer_cases[i].offer) != 0) {
      fprintf(stderr, "test_deflate.c:%d: offer\n  want %s\n  got  %s\n",
              offer_cases[i].line, offer_cases[i].offer, b.base);
      abort();
    }
    uvws__buf_free(&uvws__libc_allocator, &b);
  }
  printf("  client negotiation: %zu answers, %zu offers\n",
         sizeof(client_cases) / sizeof(client_cases[0]),
         sizeof(offer_cases) / sizeof(offer_cases[0]));
}

/* Every client setting against every server setting: our offer is always
 * acceptable to our server, its answer always acceptable to our client, and
 * what the two sides agree fits together: each inflater's window is at
 * least the other side's compressor's, and a side that resets its inflater
 * after each message faces a compressor that resets too. */
static void test_negotiation_pairs(void) {
  static const uint8_t windows[] = {8, 9, 10, 12, 14, 15};
  enum { NW = sizeof(windows) };
  uvws__pmd_config_t all[4 * NW * NW];
  size_t n = 0, pairs = 0;
  char buf[1024];

  for (int f = 0; f < 4; f++)
    for (int s = 0; s < NW; s++)
      for (int c = 0; c < NW; c++) {
        all[n++] = cfg_of(CFG(f & 1, f >> 1, windows[s], windows[c]));
      }

  for (size_t i = 0; i < n; i++) {
    const uvws__pmd_config_t *cc = &all[i];
    uvws__buf_t offer = {0};
    CHECK_EQ(uvws__pmd_offer(&uvws__libc_allocator, cc, &offer), 0);
    CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, &offer, "", 1), 0);
    /* 7.1.2.2 lets the server limit our window only if we offer this;
     * we always do, so an answer carrying it is always one we offered. */
    CHECK(strstr(offer.base, "client_max_window_bits") != NULL);
    for (size_t j = 0; j < n; j++) {
      const uvws__pmd_config_t *sc = &all[j];
      uvws__http_head_t head;
      uvws__pmd_params_t sp, cp;
      uvws__buf_t resp = {0};
      int r;

      make_head(0, offer.base, NULL, buf, sizeof(buf), &head);
      CHECK_EQ(
          uvws__pmd_negotiate(&uvws__libc_allocator, &head, sc, &sp, &resp), 1);
      CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, &resp, "", 1), 0);
      make_head(1, resp.base, NULL, buf, sizeof(buf), &head);
      r = uvws__pmd_accept(&head, cc, &cp);
      if (r != 1)
        fprintf(stderr, "offer [%s] answer [%s]: accept gave %d\n", offer.base,
                resp.base, r);
      CHECK_EQ(r, 1);
      uvws__buf_free(&uvws__libc_allocator, &resp);

      CHECK(sp.rx_window >= cp.tx_window);
      CHECK(cp.rx_window >= sp.tx_window);
      CHECK(!sp.rx_no_takeover || cp.tx_no_takeover);
      CHECK(!cp.rx_no_takeover || sp.tx_no_takeover);
      /* What each side asked for or imposed holds. */
      CHECK_EQ(sp.tx_no_takeover,
               cc->server_no_context_takeover | sc->server_no_context_takeover);
      CHECK_EQ(cp.tx_no_takeover,
               cc->client_no_context_takeover | sc->client_no_context_takeover);
      CHECK(sp.tx_window <= sc->server_max_window_bits);
      CHECK(sp.tx_window <= cc->server_max_window_bits);
      CHECK(cp.tx_window <= cc->client_max_window_bits);
      CHECK(cp.tx_window <= sc->client_max_window_bits);
      CHECK(sp.rx_window <= 15 && sp.rx_window >= 8);
      CHECK(cp.rx_window <= 15 && cp.rx_window >= 8);
      pairs++;
    }
    uvws__buf_free(&uvws__libc_allocator, &offer);
  }
  printf("  offer to acceptance: %zu pairs of settings\n", pairs);
}

/* ------------------------------------------------------------------------ */
/* The codec                                                                */

/* zlib used directly, as another implementation would: a raw DEFLATE
 * stream, flushed at the end of every part; the last part of a message
 * loses the 00 00 ff ff tail (RFC 7692 7.2.1). how: Z_SYNC_FLUSH, or
 * Z_FINISH to end each message with a final block and the 0x00 that
 * 7.2.3.4 shows; zlib then needs a fresh stream for the next message. */
typedef struct {
  z_stream s;
  int no_takeover;
  int how;
} zc_t;

static void zc_init(zc_t *c, int window, int level, int no_takeover,
                    int how) {
  memset(c, 0, sizeof(*c));
  CHECK_EQ(deflateInit2(&c->s, level, Z_DEFLATED, -window, 8,
                        Z_DEFAULT_STRATEGY),
           Z_OK);
  c->no_takeover = no_takeover;
  c->how = how;
}

static void zc_end(zc_t *c) {
  deflateEnd(&c->s);
}

/* Compresses a part, appending to out. */
static void zc_part(zc_t *c, const void *in, size_t n, int fin,
                    uvws__buf_t *out) {
  size_t start = out->len;
  int flush = fin && c->how == Z_FINISH ? Z_FINISH : Z_SYNC_FLUSH;
  c->s.next_in = (Bytef *)in;
  c->s.avail_in = (uInt)n;
  do {
    CHECK_EQ(uvws__buf_reserve(&uvws__libc_allocator, out, 4096), 0);
    c->s.next_out = (Bytef *)out->base + out->len;
    c->s.avail_out = 4096;
    int r = deflate(&c->s, flush);
    CHECK(r == Z_OK || r == Z_BUF_ERROR || r == Z_STREAM_END);
    out->len += 4096 - c->s.avail_out;
  } while (c->s.avail_out == 0);
  if (!fin)
    return;
  if (flush == Z_FINISH) {
    /* 7.2.1: the data does not end with an empty stored block, so one is
     * appended (00 00 00 ff ff) and the last 4 bytes removed: 0x00. */
    CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, out, "", 1), 0);
    deflateReset(&c->s);
    return;
  }
  if (out->len - start >= 4 &&
      memcmp(out->base + out->len - 4, "\x00\x00\xff\xff", 4) == 0)
    out->len -= 4;
  else if (out->len == start)
    CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, out, "", 1),
             0); /* empty stored block */
  if (c->no_takeover)
    deflateReset(&c->s);
}

/* zlib's inflate used directly: appends the tail to each message. */
typedef struct {
  z_stream s;
  int no_takeover;
} zi_t;

static void zi_init(zi_t *d, int window, int no_takeover) {
  memset(d, 0, sizeof(*d));
  CHECK_EQ(inflateInit2(&d->s, -window), Z_OK);
  d->no_takeover = no_takeover;
}

static void zi_end(zi_t *d) {
  inflateEnd(&d->s);
}

/* Inflates one whole compressed message into out (cleared first). Returns
 * 0, or -1 if zlib refuses the data. */
static int zi_message(zi_t *d, const void *in, size_t n, uvws__buf_t *out) {
  static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
  out->len = 0;
  for (int pass = 0; pass < 2; pass++) {
    d->s.next_in = (Bytef *)(pass ? tail : in);
    d->s.avail_in = (uInt)(pass ? 4 : n);
    for (;;) {
      int r;
      CHECK_EQ(uvws__buf_reserve(&uvws__libc_allocator, out, 65536), 0);
      d->s.next_out = (Bytef *)out->base + out->len;
      d->s.avail_out = 65536;
      r = inflate(&d->s, Z_SYNC_FLUSH);
      out->len += 65536 - d->s.avail_out;
      if (r == Z_STREAM_END) {
        CHECK_EQ(inflateReset(&d->s), Z_OK);
        if (d->s.avail_in == 0)
          break;
        continue;
      }
      if (r != Z_OK && r != Z_BUF_ERROR)
        return -1;
      if (d->s.avail_in == 0 && d->s.avail_out != 0)
        break;
    }
  }
  if (d->no_takeover)
    inflateReset(&d->s);
  return 0;
}

static uvws__pmd_params_t params(int tx_window, int rx_window, int tx_nt,
                                 int rx_nt) {
  uvws__pmd_params_t p;
  p.tx_window = (uint8_t)tx_window;
  p.rx_window = (uint8_t)rx_window;
  p.tx_no_takeover = (uint8_t)tx_nt;
  p.rx_no_takeover = (uint8_t)rx_nt;
  return p;
}

/* The messages every codec test sends, in order. */
typedef struct {
  uint8_t *data;
  size_t len;
} msg_t;

static msg_t msgs[24];
static size_t nmsgs;

static void add_msg(const void *p, size_t n) {
  msgs[nmsgs].data = malloc(n ? n : 1);
  CHECK(msgs[nmsgs].data != NULL);
  if (n)
    memcpy(msgs[nmsgs].data, p, n);
  msgs[nmsgs].len = n;
  nmsgs++;
}

static void make_msgs(void) {
  static char t[300 * 1024];
  static uint8_t r[70000];
  fill_text(t, sizeof(t), 1);
  fill_random(r, sizeof(r), 2);
  add_msg("Hello", 5);
  add_msg("Hello", 5); /* refers to the first with context takeover */
  add_msg("", 0);
  add_msg("", 0);
  add_msg("", 0); /* several empty ones in a row */
  add_msg("x", 1);
  add_msg("", 0); /* an empty one right after a non-empty one */
  add_msg(t, 10000);
  add_msg(r, sizeof(r));
  add_msg(t, sizeof(t));
  add_msg(r, 20000);
  add_msg(r, 20000); /* a repeat at distance 20000: 15-bit windows only */
  add_msg(t + 5, 125);
  add_msg("", 0);
  add_msg(r + 1, 65536);
  add_msg("Hello", 5);
}

static void free_msgs(void) {
  for (size_t i = 0; i < nmsgs; i++)
    free(msgs[i].data);
  nmsgs = 0;
}

/* Our compressor into our inflater and into zlib's own; the inflater fed
 * whole or in pieces. */
static void roundtrip(int tx_window, int rx_window, int nt, int level,
                      int mem_level) {
  uvws__pmd_t a, b;
  uvws__pmd_params_t pa = params(tx_window, 15, nt, 0);
  uvws__pmd_params_t pb = params(15, rx_window, 0, nt);
  uvws__buf_t z = {0}, out = {0}, ref = {0};
  size_t hello_len[2] = {0, 0}, nhello = 0;
  zi_t zi;

  uvws__pmd_init(&a, &uvws__libc_allocator, &pa, level, mem_level);
  uvws__pmd_init(&b, &uvws__libc_allocator, &pb, 6, 8);
  CHECK_EQ(uvws__pmd_can_compress(&a), 1);
  zi_init(&zi, tx_window, nt);
  for (size_t i = 0; i < nmsgs; i++) {
    const msg_t *m = &msgs[i];
    z.len = 0;
    CHECK_EQ(uvws__pmd_deflate(&a, m->data, m->len, 1, &z), 0);
    CHECK(z.len >= 1);
    /* The tail is removed (7.2.1). */
    CHECK(z.len < 4 || memcmp(z.base + z.len - 4, "\x00\x00\xff\xff", 4) != 0);
    if (m->len == 5 && nhello < 2)
      hello_len[nhello++] = z.len;
    /* zlib inflating with exactly the agreed window accepts it: the
     * compressor kept to tx_window. */
    CHECK_EQ(zi_message(&zi, z.base, z.len, &ref), 0);
    CHECK_EQ(ref.len, m->len);
    CHECK(m->len == 0 || memcmp(ref.base, m->data, m->len) == 0);

    out.len = 0;
    if (i % 3 == 1) {
      /* In pieces of 7 bytes, the last one with fin. */
      size_t off = 0;
      while (z.len - off > 7) {
        CHECK_EQ(uvws__pmd_inflate(&b, (uint8_t *)z.base + off, 7, 0, &out,
                                   (size_t)-1),
                 0);
        off += 7;
      }
      CHECK_EQ(uvws__pmd_inflate(&b, (uint8_t *)z.base + off, z.len - off, 1,
                                 &out, (size_t)-1),
               0);
    } else if (i % 3 == 2) {
      /* All of it, then fin with no bytes (as the engine does). */
      CHECK_EQ(uvws__pmd_inflate(&b, (uint8_t *)z.base, z.len, 0, &out,
                                 m->len),
               0);
      CHECK_EQ(uvws__pmd_inflate(&b, NULL, 0, 1, &out, m->len), 0);
    } else {
      CHECK_EQ(uvws__pmd_inflate(&b, (uint8_t *)z.base, z.len, 1, &out,
                                 m->len),
               0);
    }
    CHECK_EQ(out.len, m->len);
    CHECK(m->len == 0 || memcmp(out.base, m->data, m->len) == 0);
  }
  /* "Hello" twice: with context takeover the second refers to the first
   * (7.2.3.2) and is shorter; without, it is compressed the same way. */
  if (nt)
    CHECK_EQ(hello_len[1], hello_len[0]);
  else
    CHECK(hello_len[1] < hello_len[0]);
  zi_end(&zi);
  uvws__pmd_free(&a);
  uvws__pmd_free(&b);
  uvws__buf_free(&uvws__libc_allocator, &z);
  uvws__buf_free(&uvws__libc_allocator, &out);
  uvws__buf_free(&uvws__libc_allocator, &ref);
}

/* zlib compressing, our inflater reading: windows 9-15, with and without
 * context takeover, sync flushes and final blocks. */
static void from_zlib(int window, int nt, int how) {
  uvws__pmd_t b;
  uvws__pmd_params_t pb = params(15, window, 0, nt);
  uvws__buf_t z = {0}, out = {0};
  zc_t c;

  zc_init(&c, window, 9, nt, how);
  uvws__pmd_init(&b, &uvws__libc_allocator, &pb, 6, 8);
  for (size_t i = 0; i < nmsgs; i++) {
    const msg_t *m = &msgs[i];
    z.len = 0;
    zc_part(&c, m->data, m->len, 1, &z);
    out.len = 0;
    CHECK_EQ(uvws__pmd_inflate(&b, (uint8_t *)z.base, z.len, 1, &out,
                               (size_t)-1),
             0);
    CHECK_EQ(out.len, m->len);
    CHECK(m->len == 0 || memcmp(out.base, m->data, m->len) == 0);
  }
  zc_end(&c);
  uvws__pmd_free(&b);
  uvws__buf_free(&uvws__libc_allocator, &z);
  uvws__buf_free(&uvws__libc_allocator, &out);
}

/* A message compressed in parts (as uvws_conn_send_fragment does): each
 * part is flushed so it can go out in its own frame; the last is empty. */
static void fragmented(int window, int nt) {
  static const char *const parts[][5] = {
      {"Hel", "lo, ", "", "w\xc3\xb6rld", ""},
      {"", "", "", "", ""},
      {"abcabcabcabc", "abcabcabc", "abc", "", ""},
  };
  uvws__pmd_t a, b;
  uvws__pmd_params_t pa = params(window, 15, nt, 0);
  uvws__pmd_params_t pb = params(15, window, 0, nt);
  uvws__buf_t z = {0}, out = {0}, whole = {0}, ref = {0};
  zi_t zi;

  uvws__pmd_init(&a, &uvws__libc_allocator, &pa, 6, 8);
  uvws__pmd_init(&b, &uvws__libc_allocator, &pb, 6, 8);
  zi_init(&zi, window, nt);
  for (int round = 0; round < 2; round++) {
    for (size_t m = 0; m < 3; m++) {
      size_t ends[5];
      whole.len = 0;
      z.len = 0;
      for (int k = 0; k < 5; k++) {
        const char *p = parts[m][k];
        CHECK_EQ(uvws__pmd_deflate(&a, (const uint8_t *)p, strlen(p), k == 4,
                                   &z),
                 0);
        ends[k] = z.len;
        CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, &whole, p, strlen(p)),
                 0);
      }
      /* Each part on its own, as frames arrive. */
      out.len = 0;
      for (int k = 0; k < 5; k++) {
        size_t from = k ? ends[k - 1] : 0;
        CHECK_EQ(uvws__pmd_inflate(&b, (uint8_t *)z.base + from,
                                   ends[k] - from, k == 4, &out, (size_t)-1),
                 0);
      }
      CHECK_EQ(out.len, whole.len);
      CHECK(whole.len == 0 || memcmp(out.base, whole.base, whole.len) == 0);
      CHECK_EQ(zi_message(&zi, z.base, z.len, &ref), 0);
      CHECK_EQ(ref.len, whole.len);
      CHECK(whole.len == 0 || memcmp(ref.base, whole.base, whole.len) == 0);
    }
  }
  zi_end(&zi);
  uvws__pmd_free(&a);
  uvws__pmd_free(&b);
  uvws__buf_free(&uvws__libc_allocator, &z);
  uvws__buf_free(&uvws__libc_allocator, &out);
  uvws__buf_free(&uvws__libc_allocator, &whole);
  uvws__buf_free(&uvws__libc_allocator, &ref);
}

/* The examples of RFC 7692 7.2.3, "Hello" each time. */
typedef struct {
  const char *what;
  const char *bytes;
  size_t len;
} rfc_msg_t;

#define RFC(what, lit) {what, lit, sizeof(lit) - 1}

static const rfc_msg_t rfc_msgs[] = {
    RFC("7.2.3.1 one compressed block", "\xf2\x48\xcd\xc9\xc9\x07\x00"),
    RFC("7.2.3.2 the same, sharing the window", "\xf2\x00\x11\x00\x00"),
    RFC("7.2.3.3 a block with no compression",
        "\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00"),
    RFC("7.2.3.4 a block with BFINAL set", "\xf3\x48\xcd\xc9\xc9\x07\x00\x00"),
    RFC("7.2.3.5 two blocks in one message",
        "\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00"),
};

static void test_rfc_examples(void) {
  uvws__pmd_params_t p = params(15, 15, 0, 0);
  uvws__pmd_t b;
  uvws__buf_t out = {0};
  /* In sequence on one stream (7.2.3.2 needs 7.2.3.1 before it), fed
   * whole and then a byte at a time. */
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    uvws__pmd_init(&b, &uvws__libc_allocator, &p, 6, 8);
    for (size_t i = 0; i < sizeof(rfc_msgs) / sizeof(rfc_msgs[0]); i++) {
      const rfc_msg_t *m = &rfc_msgs[i];
      out.len = 0;
      if (bytewise) {
        for (size_t k = 0; k < m->len; k++)
          CHECK_EQ(uvws__pmd_inflate(&b, (const uint8_t *)m->bytes + k, 1, 0,
                                     &out, 100),
                   0);
        CHECK_EQ(uvws__pmd_inflate(&b, NULL, 0, 1, &out, 100), 0);
      } else {
        CHECK_EQ(uvws__pmd_inflate(&b, (const uint8_t *)m->bytes, m->len, 1,
                                   &out, 100),
                 0);
      }
      if (out.len != 5 || memcmp(out.base, "Hello", 5) != 0) {
        fprintf(stderr, "RFC 7692 %s: got %zu bytes\n", m->what, out.len);
        abort();
      }
    }
    uvws__pmd_free(&b);
  }
  /* The window the first one leaves is what the second one needs. */
  uvws__pmd_init(&b, &uvws__libc_allocator, &p, 6, 8);
  out.len = 0;
  CHECK_EQ(uvws__pmd_inflate(&b, (const uint8_t *)rfc_msgs[1].bytes,
                             rfc_msgs[1].len, 1, &out, 100),
           UVWS_EDEFLATE);
  uvws__pmd_free(&b);
  uvws__buf_free(&uvws__libc_allocator, &out);
}

static void test_codec(void) {
  uvws__pmd_params_t p8 = params(8, 8, 0, 0), p9 = params(9, 8, 0, 0);
  uvws__pmd_t z;
  uvws__buf_t out = {0};
  int runs = 0;

  make_msgs();
  for (int w = 9; w <= 15; w++) {
    for (int nt = 0; nt < 2; nt++) {
      roundtrip(w, w, nt, 6, 8);
      from_zlib(w, nt, Z_SYNC_FLUSH);
      fragmented(w, nt);
      runs += 3;
    }
    from_zlib(w, 0, Z_FINISH);
    from_zlib(w, 1, Z_FINISH);
    runs += 2;
  }
  /* An inflater with a larger window than the compressor's; other
   * compression and memory levels. */
  roundtrip(9, 15, 0, 6, 8);
  roundtrip(15, 15, 0, 1, 1);
  roundtrip(10, 10, 1, 9, 9);
  runs += 3;
  free_msgs();

  /* zlib cannot write a raw stream with an 8-bit window (7.1.2.1 allows
   * sending uncompressed then); it can read one. */
  uvws__pmd_init(&z, &uvws__libc_allocator, &p8, 6, 8);
  CHECK_EQ(uvws__pmd_can_compress(&z), 0);
  CHECK_EQ(uvws__pmd_inflate(&z, (const uint8_t *)rfc_msgs[0].bytes,
                             rfc_msgs[0].len, 1, &out, 100),
           0);
  CHECK_EQ(out.len, 5);
  uvws__pmd_free(&z);
  uvws__pmd_init(&z, &uvws__libc_allocator, &p9, 6, 8);
  CHECK_EQ(uvws__pmd_can_compress(&z), 1);
  uvws__pmd_free(&z);
  uvws__pmd_free(&z); /* twice is harmless */
  uvws__buf_free(&uvws__libc_allocator, &out);

  test_rfc_examples();
  printf("  codec: %d runs of %d messages, windows 9-15\n", runs, 16);
}

/* Invalid data, and data that needs a larger window than agreed. */
static void test_codec_errors(void) {
  static const struct {
    const char *what;
    const char *bytes;
    size_t len;
  } bad[] = {
      {"reserved block type 11", "\xff\xff\xff", 3},
      {"stored block lengths that disagree", "\x00\x05\x00\x05\x00Hello", 10},
  };
  uvws__pmd_params_t p = params(15, 15, 0, 0), small = params(15, 9, 0, 0);
  uvws__buf_t out = {0}, z = {0};
  uvws__pmd_t b;
  uint8_t r[2048];
  zc_t c;

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uvws__pmd_init(&b, &uvws__libc_allocator, &p, 6, 8);
    out.len = 0;
    int e = uvws__pmd_inflate(&b, (const uint8_t *)bad[i].bytes, bad[i].len,
                              1, &out, 1000);
    if (e != UVWS_EDEFLATE) {
      fprintf(stderr, "%s: got %d\n", bad[i].what, e);
      abort();
    }
    uvws__pmd_free(&b);
  }

  /* 1 KiB of random bytes twice, compressed with a 15-bit window: the
   * repeat refers 1024 bytes back, further than a 9-bit window reaches.
   * zlib resolves a reference from the output of the same inflate() call
   * whatever the window, so such a peer is caught only when the reference
   * reaches behind the current call: fed a byte at a time it always is. */
  fill_random(r, 1024, 7);
  memcpy(r + 1024, r, 1024);
  zc_init(&c, 15, 9, 0, Z_SYNC_FLUSH);
  zc_part(&c, r, sizeof(r), 1, &z);
  zc_end(&c);
  CHECK(z.len < 1500);
  uvws__pmd_init(&b, &uvws__libc_allocator, &small, 6, 8);
  out.len = 0;
  int e = 0;
  for (size_t i = 0; i < z.len && e == 0; i++)
    e = uvws__pmd_inflate(&b, (uint8_t *)z.base + i, 1, i + 1 == z.len, &out,
                          1 << 20);
  CHECK_EQ(e, UVWS_EDEFLATE);
  uvws__pmd_free(&b);
  uvws__buf_free(&uvws__libc_allocator, &out);
  uvws__buf_free(&uvws__libc_allocator, &z);
}

/* ------------------------------------------------------------------------ */
/* Bombs                                                                    */

/* The compressed bytes of `units` times 64 MiB of zeros, as one message
 * (the tail removed). zlib compresses the 64 MiB once; the piece ends with
 * a sync flush, so copies of it one after another are a valid stream of
 * the whole. */
static uint8_t *bomb(size_t units, size_t unit_mib, size_t *len) {
  static uint8_t zeros[1 << 20];
  uvws__buf_t piece = {0};
  uint8_t *b;
  zc_t c;

  zc_init(&c, 15, 9, 0, Z_SYNC_FLUSH);
  for (size_t i = 0; i < unit_mib; i++) {
    c.s.next_in = zeros;
    c.s.avail_in = sizeof(zeros);
    do {
      CHECK_EQ(uvws__buf_reserve(&uvws__libc_allocator, &piece, 4096), 0);
      c.s.next_out = (Bytef *)piece.base + piece.len;
      c.s.avail_out = 4096;
      deflate(&c.s, i + 1 == unit_mib ? Z_SYNC_FLUSH : Z_NO_FLUSH);
      piece.len += 4096 - c.s.avail_out;
    } while (c.s.avail_out == 0 || c.s.avail_in > 0);
  }
  zc_end(&c);
  CHECK(memcmp(piece.base + piece.len - 4, "\x00\x00\xff\xff", 4) == 0);
  b = malloc(piece.len * units);
  CHECK(b != NULL);
  for (size_t i = 0; i < units; i++)
    memcpy(b + i * piece.len, piece.base, piece.len);
  *len = piece.len * units - 4;
  uvws__buf_free(&uvws__libc_allocator, &piece);
  return b;
}

static void test_bomb_codec(void) {
  const size_t limit = 1 << 20;
  uvws__pmd_params_t p = params(15, 15, 0, 0);
  uvws__buf_t out = {0};
  uvws__pmd_t z;
  size_t n;
  uint8_t *b = bomb(16, 64, &n); /* 1 GiB of zeros */
  int r;

  printf("  bomb: 1 GiB of zeros in %zu compressed bytes\n", n);
  CHECK(n < 2 << 20);

  /* Whole, with fin. */
  uvws__pmd_init(&z, &uvws__libc_allocator, &p, 6, 8);
  r = uvws__pmd_inflate(&z, b, n, 1, &out, limit);
  CHECK_EQ(r, UVWS_ETOOBIG);
  CHECK(out.cap <= limit + 1);
  CHECK(out.len <= limit + 1);
  CHECK(out.len <= limit);
  uvws__pmd_free(&z);
  uvws__buf_free(&uvws__libc_allocator, &out);

  /* In pieces of 100 bytes: stops at the first piece that crosses the
   * limit, long before the end. */
  uvws__pmd_init(&z, &uvws__libc_allocator, &p, 6, 8);
  size_t off = 0;
  r = 0;
  while (off < n && r == 0) {
    size_t k = n - off < 100 ? n - off : 100;
    r = uvws__pmd_inflate(&z, b + off, k, off + k == n, &out, limit);
    CHECK(out.cap <= limit + 1);
    if (r == 0)
      CHECK(out.len <= limit);
    off += k;
  }
  CHECK_EQ(r, UVWS_ETOOBIG);
  CHECK(off < 4096);
  uvws__pmd_free(&z);
  uvws__buf_free(&uvws__libc_allocator, &out);

  /* An output buffer that already has room (the engine reuses its
   * reassembly buffer) must not let more than limit + 1 bytes in. */
  {
    static uint8_t zeros[50000];
    uvws__buf_t c = {0};
    zc_t zc;
    zc_init(&zc, 15, 6, 0, Z_SYNC_FLUSH);
    zc_part(&zc, zeros, sizeof(zeros), 1, &c);
    zc_end(&zc);
    uvws__pmd_init(&z, &uvws__libc_allocator, &p, 6, 8);
    CHECK_EQ(uvws__buf_reserve(&uvws__libc_allocator, &out, 128 * 1024), 0);
    r = uvws__pmd_inflate(&z, (uint8_t *)c.base, c.len, 1, &out, 1000);
    CHECK_EQ(r, UVWS_ETOOBIG);
    CHECK(out.len <= 1001);
    uvws__pmd_free(&z);
    uvws__buf_free(&uvws__libc_allocator, &out);
    uvws__buf_free(&uvws__libc_allocator, &c);
  }

  /* Exactly at the limit is accepted; one byte more is not. */
  for (int extra = 0; extra < 2; extra++) {
    static uint8_t zeros[(1 << 20) + 1];
    uvws__buf_t c = {0};
    zc_t zc;
    zc_init(&zc, 15, 6, 0, Z_SYNC_FLUSH);
    zc_part(&zc, zeros, limit + (size_t)extra, 1, &c);
    zc_end(&zc);
    uvws__pmd_init(&z, &uvws__libc_allocator, &p, 6, 8);
    r = uvws__pmd_inflate(&z, (uint8_t *)c.base, c.len, 1, &out, limit);
    CHECK_EQ(r, extra ? UVWS_ETOOBIG : 0);
    CHECK(out.cap <= limit + 1);
    if (!extra)
      CHECK_EQ(out.len, limit);
    uvws__pmd_free(&z);
    uvws__buf_free(&uvws__libc_allocator, &out);
    uvws__buf_free(&uvws__libc_allocator, &c);
  }
  free(b);
}

/* ------------------------------------------------------------------------ */
/* The engine with deflate, split at every byte                             */

static uint8_t input[2 << 20];
static size_t input_len;
static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

static void frame_ex(int fin, unsigned rsv, unsigned op, int masked,
                     const void *payload, size_t n, uint64_t announced) {
  uint8_t *out = input + input_len;
  size_t h;
  CHECK(input_len + UVWS__MAX_HEADER + n <= sizeof(input));
  h = uvws__frame_encode(out, fin, rsv, op, announced ? announced : n,
                         masked ? key : NULL);
  if (n)
    memcpy(out + h, payload, n);
  if (masked)
    uvws__mask(out + h, out + h, n, key, 0);
  input_len += h + n;
}

static void frame(int fin, unsigned op, int masked, const char *s) {
  frame_ex(fin, 0, op, masked, s, strlen(s), 0);
}

/* A compressed frame: the part compressed with c (fin: the message's
 * last part), RSV1 when first. */
static void zframe(zc_t *c, int first, int fin, unsigned op, int masked,
                   const void *part, size_t n) {
  uvws__buf_t z = {0};
  zc_part(c, part, n, fin, &z);
  frame_ex(fin, first ? UVWS__RSV1 : 0, op, masked, z.base, z.len, 0);
  uvws__buf_free(&uvws__libc_allocator, &z);
}

static char log_buf[8192];
static size_t log_len;

static void logf_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_len += (size_t)vsnprintf(log_buf + log_len, sizeof(log_buf) - log_len,
                               fmt, ap);
  va_end(ap);
  CHECK(log_len < sizeof(log_buf));
}

static void log_payload(const char *d, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (uint8_t)d[i]) * 16777619u;
  if (n <= 16)
    logf_("%zu:%.*s", n, (int)n, d);
  else
    logf_("%zu:%08x", n, h);
}

/* Expected events, built from what was sent. */
static char want_buf[2048];
static const char *want(const char *kind, const void *d, size_t n) {
  size_t saved = log_len;
  static char tmp[sizeof(log_buf)];
  memcpy(tmp, log_buf, saved + 1);
  log_len = 0;
  logf_("%s(", kind);
  log_payload(d, n);
  logf_(") ");
  strncat(want_buf, log_buf, sizeof(want_buf) - strlen(want_buf) - 1);
  memcpy(log_buf, tmp, saved + 1);
  log_len = saved;
  return want_buf;
}
static void want_reset(void) {
  want_buf[0] = '\0';
}

/* The largest reassembly buffer the engine held in the case being run. */
static size_t seen_cap;
static void note_cap(const uvws__proto_t *p) {
  if (p->part != NULL && p->part->msg.cap > seen_cap)
    seen_cap = p->part->msg.cap;
}

static void on_message(uvws__proto_t *p, unsigned op, const char *d,
                       size_t n) {
  note_cap(p);
  logf_("%s(", op == UVWS__OP_TEXT ? "text" : "binary");
  log_payload(d, n);
  logf_(") ");
}
static void on_ping(uvws__proto_t *p, const char *d, size_t n) {
  (void)p;
  logf_("ping(");
  log_payload(d, n);
  logf_(") ");
}
static void on_pong(uvws__proto_t *p, const char *d, size_t n) {
  (void)p;
  logf_("pong(");
  log_payload(d, n);
  logf_(") ");
}
static void on_close(uvws__proto_t *p, unsigned code, const char *r,
                     size_t n) {
  (void)p;
  logf_("close(%u:%.*s) ", code, (int)n, r);
}

static const uvws__proto_cbs_t cbs = {.on_message = on_message,
                                      .on_ping = on_ping,
                                      .on_pong = on_pong,
                                      .on_close = on_close};

static uint8_t work[sizeof(input)];

typedef struct {
  char events[8192];
  long result;
  unsigned code;
  size_t consumed;
} outcome_t;

/* The agreed parameters of the case being run; NULL: no deflate. */
static const uvws__pmd_params_t *cur_params;

static void run(int from_client, size_t max, const size_t *cuts, size_t ncuts,
                outcome_t *o) {
  uvws__proto_t p;
  uvws__pmd_t z;
  size_t start = 0;

  memcpy(work, input, input_len);
  log_len = 0;
  log_buf[0] = '\0';
  uvws__proto_init(&p, &uvws__libc_allocator, &cbs, from_client, max);
  seen_cap = 0;
  if (cur_params) {
    uvws__pmd_init(&z, &uvws__libc_allocator, cur_params, 6, 8);
    uvws__proto_set_deflate(&p, &z);
  }
  o->result = 0;
  o->consumed = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : input_len;
    long r = uvws__proto_feed(&p, (char *)work + start, end - start);
    note_cap(&p);
    o->result = r;
    if (r < 0)
      break;
    o->consumed += (size_t)r;
    if ((size_t)r < end - start)
      break;
    start = end;
  }
  o->code = p.state == UVWS__PS_FAILED ? p.fail_code : 0;
  if (o->result >= 0)
    o->result = 0;
  memcpy(o->events, log_buf, log_len + 1);
  if (p.state == UVWS__PS_FAILED) {
    char b = 0;
    CHECK_EQ(uvws__proto_feed(&p, &b, 1), p.fail_err);
  }
  /* The reassembly buffer never outgrew the limit by more than a byte. */
  if (max)
    CHECK(seen_cap <= (max > 256 * 1024 ? max : 256 * 1024) + 1);
  uvws__proto_free(&p);
  if (cur_params)
    uvws__pmd_free(&z);
}

static void same(const outcome_t *a, const outcome_t *b, const char *name,
                 const char *how) {
  int used_differs = a->result >= 0 && a->consumed != b->consumed;
  if (strcmp(a->events, b->events) != 0 || a->result != b->result ||
      a->code != b->code || used_differs) {
    fprintf(stderr,
            "%s: fed %s differs:\n  whole: [%s] r=%ld code=%u used=%zu\n"
            "  split: [%s] r=%ld code=%u used=%zu\n",
            name, how, a->events, a->result, a->code, a->consumed, b->events,
            b->result, b->code, b->consumed);
    abort();
  }
}

static int ncases;

static void expect(const char *name, const uvws__pmd_params_t *pmd,
                   int from_client, size_t max, const char *events,
                   unsigned code) {
  static outcome_t whole, split;
  static size_t cuts[sizeof(input)];
  size_t i, j;

  cur_params = pmd;
  run(from_client, max, NULL, 0, &whole);
  if (strcmp(whole.events, events) != 0 || whole.code != code) {
    fprintf(stderr, "%s:\n  want [%s] code %u\n  got  [%s] code %u\n", name,
            events, code, whole.events, whole.code);
    abort();
  }
  for (i = 1; i < input_len; i++)
    cuts[i - 1] = i;
  run(from_client, max, cuts, input_len ? input_len - 1 : 0, &split);
  same(&whole, &split, name, "one byte at a time");
  for (i = 1; i < input_len; i++) {
    if (input_len > 4096 && i > 64 && i < input_len - 64 && i % 251 != 0)
      continue;
    cuts[0] = i;
    run(from_client, max, cuts, 1, &split);
    same(&whole, &split, name, "in two parts");
    if (input_len <= 200) {
      for (j = i + 1; j < input_len; j++) {
        cuts[1] = j;
        run(from_client, max, cuts, 2, &split);
        same(&whole, &split, name, "in three parts");
      }
    }
  }
  input_len = 0;
  ncases++;
}

static const uvws__pmd_params_t takeover = {0, 0, 15, 15};
static const uvws__pmd_params_t no_takeover = {1, 1, 15, 15};

static void test_engine_messages(void) {
  static char text[70000];
  static uint8_t rnd[70000];
  zc_t c;

  fill_text(text, sizeof(text), 3);
  fill_random(rnd, sizeof(rnd), 4);

  /* RFC 7692 7.2.3.1, from a client (masked) and from a server. */
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, rfc_msgs[0].bytes, rfc_msgs[0].len,
           0);
  expect("compressed Hello, masked", &takeover, 1, 0, "text(5:Hello) ", 0);
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 0, rfc_msgs[0].bytes, rfc_msgs[0].len,
           0);
  expect("compressed Hello, unmasked", &takeover, 0, 0, "text(5:Hello) ", 0);

  /* Every example of 7.2.3 in a row, as binary. */
  for (size_t i = 0; i < sizeof(rfc_msgs) / sizeof(rfc_msgs[0]); i++)
    frame_ex(1, UVWS__RSV1, UVWS__OP_BINARY, 1, rfc_msgs[i].bytes,
             rfc_msgs[i].len, 0);
  expect("RFC 7692 7.2.3 examples", &takeover, 1, 0,
         "binary(5:Hello) binary(5:Hello) binary(5:Hello) binary(5:Hello) "
         "binary(5:Hello) ",
         0);

  /* 7.2.3.1 then the same message in 7.2.3.6's fragmented form: "Hel" and
   * "lo" in two frames, RSV1 on the first only. */
  frame_ex(0, UVWS__RSV1, UVWS__OP_TEXT, 1, "\xf2\x48\xcd", 3, 0);
  frame_ex(1, 0, UVWS__OP_CONT, 1, "\xc9\xc9\x07\x00", 4, 0);
  expect("compressed message in two frames", &takeover, 1, 0,
         "text(5:Hello) ", 0);

  /* Text and binary, small and large, empty ones, with context takeover. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "Hello", 5);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "Hello", 5);
  zframe(&c, 1, 1, UVWS__OP_BINARY, 1, "", 0);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "", 0);
  zframe(&c, 1, 1, UVWS__OP_BINARY, 1, rnd, 3000);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, text, 5000);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "", 0);
  zc_end(&c);
  want_reset();
  want("text", "Hello", 5);
  want("text", "Hello", 5);
  want("binary", "", 0);
  want("text", "", 0);
  want("binary", rnd, 3000);
  want("text", text, 5000);
  expect("text and binary with context takeover", &takeover, 1, 0,
         want("text", "", 0), 0);

  /* Large ones: 70000 bytes of text and of random data. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, text, sizeof(text));
  zframe(&c, 1, 1, UVWS__OP_BINARY, 1, rnd, sizeof(rnd));
  zc_end(&c);
  want_reset();
  want("text", text, sizeof(text));
  expect("70000 bytes of text and of random data", &takeover, 1, 0,
         want("binary", rnd, sizeof(rnd)), 0);

  /* Without context takeover: the same message compresses the same. */
  zc_init(&c, 15, 6, 1, Z_SYNC_FLUSH);
  for (int i = 0; i < 3; i++)
    zframe(&c, 1, 1, UVWS__OP_TEXT, 1, text, 1000);
  zframe(&c, 1, 1, UVWS__OP_BINARY, 1, "", 0);
  zc_end(&c);
  want_reset();
  want("text", text, 1000);
  want("text", text, 1000);
  want("text", text, 1000);
  expect("no context takeover", &no_takeover, 1, 0, want("binary", "", 0), 0);

  /* A compressor that resets, to an inflater that keeps its window. */
  zc_init(&c, 12, 6, 1, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, text, 1000);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, text, 1000);
  zc_end(&c);
  want_reset();
  want("text", text, 1000);
  expect("resetting compressor, keeping inflater", &takeover, 1, 0,
         want("text", text, 1000), 0);

  /* Final blocks (7.2.3.4) with a compressor that starts over each time. */
  zc_init(&c, 15, 6, 0, Z_FINISH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, text, 2000);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "", 0);
  zframe(&c, 1, 1, UVWS__OP_BINARY, 1, rnd, 100);
  zc_end(&c);
  want_reset();
  want("text", text, 2000);
  want("text", "", 0);
  expect("final blocks", &takeover, 1, 0, want("binary", rnd, 100), 0);

  /* An uncompressed message (RSV1 clear) between compressed ones: it does
   * not touch the inflater's window. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "Hello Hello", 11);
  frame(1, UVWS__OP_TEXT, 1, "plain");
  frame(0, UVWS__OP_BINARY, 1, "pla");
  frame(1, UVWS__OP_CONT, 1, "in");
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "Hello Hello", 11);
  zc_end(&c);
  expect("uncompressed between compressed", &takeover, 1, 0,
         "text(11:Hello Hello) text(5:plain) binary(5:plain) "
         "text(11:Hello Hello) ",
         0);

  /* A window of 9 bits both ways. */
  {
    const uvws__pmd_params_t w9 = {0, 0, 9, 9};
    zc_init(&c, 9, 6, 0, Z_SYNC_FLUSH);
    zframe(&c, 1, 1, UVWS__OP_TEXT, 1, text, 3000);
    zframe(&c, 1, 1, UVWS__OP_TEXT, 1, text, 3000);
    zc_end(&c);
    want_reset();
    want("text", text, 3000);
    expect("9-bit windows", &w9, 1, 0, want("text", text, 3000), 0);
  }

  /* The client's side: compressed frames from the server, unmasked. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 0, "from the server", 15);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 0, "from the server", 15);
  zc_end(&c);
  expect("client receives compressed", &takeover, 0, 0,
         "text(15:from the server) text(15:from the server) ", 0);
}

static void test_engine_fragments(void) {
  zc_t c;

  /* Parts compressed and flushed one by one, pings and pongs between,
   * an empty part, the last part empty. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 0, UVWS__OP_TEXT, 1, "Hel", 3);
  frame(1, UVWS__OP_PING, 1, "p");
  zframe(&c, 0, 0, UVWS__OP_CONT, 1, "lo w\xc3", 5);
  frame(1, UVWS__OP_PONG, 1, "q");
  zframe(&c, 0, 0, UVWS__OP_CONT, 1, "", 0);
  zframe(&c, 0, 0, UVWS__OP_CONT, 1, "\xb6rld", 4);
  frame(1, UVWS__OP_PING, 1, "");
  zframe(&c, 0, 1, UVWS__OP_CONT, 1, "", 0);
  /* And the next message refers back to this one. */
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "Hello w\xc3\xb6rld", 12);
  zc_end(&c);
  expect("compressed fragments with control frames between", &takeover, 1,
         0,
         "ping(1:p) pong(1:q) ping(0:) text(12:Hello w\xc3\xb6rld) "
         "text(12:Hello w\xc3\xb6rld) ",
         0);

  /* A first frame with no bytes at all; the data in the continuation. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  frame_ex(0, UVWS__RSV1, UVWS__OP_BINARY, 1, "", 0, 0);
  zframe(&c, 0, 1, UVWS__OP_CONT, 1, "abc", 3);
  zc_end(&c);
  expect("empty first frame", &takeover, 1, 0, "binary(3:abc) ", 0);

  /* Without context takeover, fragmented. */
  zc_init(&c, 15, 6, 1, Z_SYNC_FLUSH);
  for (int i = 0; i < 2; i++) {
    zframe(&c, 1, 0, UVWS__OP_BINARY, 1, "abcabcabc", 9);
    zframe(&c, 0, 0, UVWS__OP_CONT, 1, "abcabc", 6);
    zframe(&c, 0, 1, UVWS__OP_CONT, 1, "abc", 3);
  }
  zc_end(&c);
  want_reset();
  want("binary", "abcabcabcabcabcabc", 18);
  expect("fragments without context takeover", &no_takeover, 1, 0,
         want("binary", "abcabcabcabcabcabc", 18), 0);

  /* One compressed message cut into frames at arbitrary points (not at
   * flushes): the frames are only a transport for the stream. */
  {
    static char text[20000];
    uvws__buf_t z = {0};
    fill_text(text, sizeof(text), 5);
    zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
    zc_part(&c, text, sizeof(text), 1, &z);
    zc_end(&c);
    CHECK(z.len > 100);
    frame_ex(0, UVWS__RSV1, UVWS__OP_TEXT, 1, z.base, 1, 0);
    frame_ex(0, 0, UVWS__OP_CONT, 1, z.base + 1, 40, 0);
    frame_ex(1, 0, UVWS__OP_PING, 1, "x", 1, 0);
    frame_ex(0, 0, UVWS__OP_CONT, 1, z.base + 41, z.len - 42, 0);
    frame_ex(1, 0, UVWS__OP_CONT, 1, z.base + z.len - 1, 1, 0);
    uvws__buf_free(&uvws__libc_allocator, &z);
    want_reset();
    want("ping", "x", 1);
    expect("stream cut at arbitrary points", &takeover, 1, 0,
           want("text", text, sizeof(text)), 0);
  }
}

static void test_engine_violations(void) {
  zc_t c;

  /* RFC 7692 6.1: RSV1 only on a message's first frame. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 0, UVWS__OP_TEXT, 1, "Hel", 3);
  zframe(&c, 1, 1, UVWS__OP_CONT, 1, "lo", 2);
  zc_end(&c);
  expect("RSV1 on a continuation", &takeover, 1, 0, "", 1002);

  /* Control frames are never compressed (6). */
  frame_ex(1, UVWS__RSV1, UVWS__OP_PING, 1, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7,
           0);
  expect("RSV1 on a ping", &takeover, 1, 0, "", 1002);
  frame_ex(1, UVWS__RSV1, UVWS__OP_PONG, 1, "", 0, 0);
  expect("RSV1 on a pong", &takeover, 1, 0, "", 1002);
  frame_ex(1, UVWS__RSV1, UVWS__OP_CLOSE, 1, "\x03\xe8", 2, 0);
  expect("RSV1 on a close", &takeover, 1, 0, "", 1002);
  /* ... even in the middle of a compressed message. */
  frame_ex(0, UVWS__RSV1, UVWS__OP_TEXT, 1, "\xf2\x48\xcd", 3, 0);
  frame_ex(1, UVWS__RSV1, UVWS__OP_PING, 1, "", 0, 0);
  expect("RSV1 on a ping inside a message", &takeover, 1, 0, "", 1002);

  /* Without the extension RSV1 means nothing agreed (RFC 6455 5.2). */
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7,
           0);
  expect("RSV1 without deflate", NULL, 1, 0, "", 1002);
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 0, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7,
           0);
  expect("RSV1 without deflate, client side", NULL, 0, 0, "", 1002);
  /* RSV2 and RSV3 stay reserved with deflate on. */
  frame_ex(1, UVWS__RSV2, UVWS__OP_TEXT, 1, "x", 1, 0);
  expect("RSV2 with deflate", &takeover, 1, 0, "", 1002);
  frame_ex(1, UVWS__RSV1 | UVWS__RSV3, UVWS__OP_BINARY, 1, "x", 1, 0);
  expect("RSV1 and RSV3 with deflate", &takeover, 1, 0, "", 1002);
  /* Deflate does not change masking rules. */
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 0, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7,
           0);
  expect("unmasked compressed frame from a client", &takeover, 1, 0, "", 1002);

  /* Data that is not DEFLATE: 1007. */
  frame_ex(1, UVWS__RSV1, UVWS__OP_BINARY, 1, "\xff\xff\xff", 3, 0);
  expect("invalid compressed data", &takeover, 1, 0, "", 1007);
  frame(1, UVWS__OP_TEXT, 1, "first");
  frame_ex(1, UVWS__RSV1, UVWS__OP_BINARY, 1, "\x00\x05\x00\x05\x00Hello", 10,
           0);
  frame(1, UVWS__OP_TEXT, 1, "never");
  expect("invalid stored block after a message", &takeover, 1, 0,
         "text(5:first) ", 1007);
  /* 7.2.3.2 alone refers to data the inflater never saw. */
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, rfc_msgs[1].bytes, rfc_msgs[1].len,
           0);
  expect("reference before the start", &takeover, 1, 0, "", 1007);
  /* The same pair without context takeover: the second message refers to
   * a window the receiver has reset. */
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, rfc_msgs[0].bytes, rfc_msgs[0].len,
           0);
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, rfc_msgs[1].bytes, rfc_msgs[1].len,
           0);
  expect("takeover used where it was not agreed", &no_takeover, 1, 0,
         "text(5:Hello) ", 1007);
}

static void test_engine_utf8(void) {
  zc_t c;

  /* The inflated text is checked, not the compressed bytes. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "ok\xff", 3);
  zc_end(&c);
  expect("invalid UTF-8 inflated", &takeover, 1, 0, "", 1007);

  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, "\xce\xba\xe1\xbd\xb9\xcf\x83", 7);
  zframe(&c, 1, 1, UVWS__OP_BINARY, 1, "\xff\xfe", 2);
  zc_end(&c);
  expect("valid text, binary not checked", &takeover, 1, 0,
         "text(7:\xce\xba\xe1\xbd\xb9\xcf\x83) binary(2:\xff\xfe) ", 0);

  /* Fail fast: the first fragment inflates to an invalid byte; the rest
   * of the message never arrives. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 0, UVWS__OP_TEXT, 1, "fine so far \xed\xa0\x80", 15);
  zc_end(&c);
  expect("invalid first fragment, rest pending", &takeover, 1, 0, "", 1007);

  /* Fail fast inside a frame: it announces 500 bytes, only its first
   * flushed part arrives. */
  {
    uvws__buf_t z = {0};
    zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
    zc_part(&c, "abc\xc0\xaf", 5, 0, &z);
    zc_end(&c);
    frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, z.base, z.len, 500);
    uvws__buf_free(&uvws__libc_allocator, &z);
    expect("invalid byte in a partial compressed frame", &takeover, 1, 0, "",
           1007);
    /* The same with valid text: no event, no error. */
    zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
    zc_part(&c, "abc\xe2\x82", 5, 0, &z);
    zc_end(&c);
    frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, z.base, z.len, 500);
    uvws__buf_free(&uvws__libc_allocator, &z);
    expect("valid partial compressed frame", &takeover, 1, 0, "", 0);
  }

  /* A character split across compressed fragments is fine; one left
   * unfinished at the end is not. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 0, UVWS__OP_TEXT, 1, "\xe2\x82", 2);
  zframe(&c, 0, 1, UVWS__OP_CONT, 1, "\xac", 1);
  zc_end(&c);
  expect("euro sign across compressed fragments", &takeover, 1, 0,
         "text(3:\xe2\x82\xac) ", 0);
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 0, UVWS__OP_TEXT, 1, "ok", 2);
  zframe(&c, 0, 1, UVWS__OP_CONT, 1, "\xe2\x82", 2);
  zc_end(&c);
  expect("compressed message ends inside a character", &takeover, 1, 0, "",
         1007);
}

static void test_engine_limits(void) {
  static char a[4001];
  static uint8_t rnd[1000];
  uint8_t *b;
  size_t n;
  zc_t c;

  memset(a, 'a', sizeof(a));
  /* The limit applies to the inflated size. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, a, 4000);
  zc_end(&c);
  want_reset();
  expect("inflated at the limit", &takeover, 1, 4000, want("text", a, 4000),
         0);
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, a, 4001);
  zc_end(&c);
  expect("inflated over the limit", &takeover, 1, 4000, "", 1009);

  /* Fragments adding up past it; a ping between does not count. */
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 0, UVWS__OP_BINARY, 1, a, 3000);
  frame(1, UVWS__OP_PING, 1, "p");
  zframe(&c, 0, 1, UVWS__OP_CONT, 1, a, 1000);
  zframe(&c, 1, 0, UVWS__OP_BINARY, 1, a, 3000);
  zframe(&c, 0, 0, UVWS__OP_CONT, 1, a, 1001);
  zc_end(&c);
  want_reset();
  want("ping", "p", 1);
  expect("compressed fragments past the limit", &takeover, 1, 4000,
         want("binary", a, 4000), 1009);

  /* A bomb: 16 MiB of zeros in about 16 KiB, limit 1 MiB. Stops within
   * the first kilobytes, with no message. */
  b = bomb(1, 16, &n);
  frame(1, UVWS__OP_TEXT, 1, "before");
  frame_ex(1, UVWS__RSV1, UVWS__OP_BINARY, 1, b, n, 0);
  frame(1, UVWS__OP_TEXT, 1, "never");
  expect("decompression bomb", &takeover, 1, 1 << 20, "text(6:before) ",
         1009);
  /* The same bomb spread over many small fragments. */
  /* (500 bytes inflate to less than 1 MiB: the ping is seen.) */
  frame_ex(0, UVWS__RSV1, UVWS__OP_BINARY, 1, b, 500, 0);
  frame(1, UVWS__OP_PING, 1, "");
  for (size_t off = 500; off < n; off += 1000) {
    size_t k = n - off < 1000 ? n - off : 1000;
    frame_ex(off + k == n, 0, UVWS__OP_CONT, 1, b + off, k, 0);
  }
  expect("decompression bomb in fragments", &takeover, 1, 1 << 20,
         "ping(0:) ", 1009);
  free(b);

  /* Random data, incompressible: the compressed message is a few bytes
   * longer than the message, which is exactly at the limit. */
  fill_random(rnd, sizeof(rnd), 9);
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_BINARY, 1, rnd, sizeof(rnd));
  zc_end(&c);
  want_reset();
  expect("incompressible message at the limit", &takeover, 1, sizeof(rnd),
           want("binary", rnd, sizeof(rnd)), 0);
  input_len = 0;
}

/* The first violation in a message decides how the connection fails,
 * wherever the reads are cut: here invalid UTF-8 at the start of a text
 * message that also inflates past the limit. Fed whole, all of it is
 * inflated (to the limit) before the text is looked at. */
static void test_engine_first_violation(void) {
  static char a[5001];
  zc_t c;
  a[0] = '\xff';
  memset(a + 1, 'a', sizeof(a) - 1);
  zc_init(&c, 15, 6, 0, Z_SYNC_FLUSH);
  zframe(&c, 1, 1, UVWS__OP_TEXT, 1, a, sizeof(a));
  zc_end(&c);
  expect("invalid UTF-8 before the limit", &takeover, 1, 1000, "", 1007);
  input_len = 0;
}

/* A compressed message with no bytes at all is not DEFLATE data: with the
 * tail put back (7.2.2) it is the start of a stored block that never ends
 * (every compressor produces at least one byte, 7.2.3.6). It must fail
 * there, not deliver an empty message and fail the next, valid one. */
static void test_engine_empty_payload(void) {
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, "", 0, 0);
  frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, rfc_msgs[0].bytes, rfc_msgs[0].len,
           0);
  expect("compressed message of no bytes", &takeover, 1, 0, "", 1007);
  input_len = 0;
}

/* A 1 GiB bomb through the engine, limit 2 MiB, fed whole and then in
 * reads of 64 KiB as the transport delivers them. */
static void test_engine_big_bomb(void) {
  size_t n;
  uint8_t *b = bomb(16, 64, &n);
  for (int reads = 0; reads < 2; reads++) {
    frame_ex(1, UVWS__RSV1, UVWS__OP_TEXT, 1, b, n, 0);
    size_t cuts[64], ncuts = 0;
    if (reads)
      for (size_t at = 65536; at < input_len && ncuts < 64; at += 65536)
        cuts[ncuts++] = at;
    outcome_t *o = malloc(sizeof(*o));
    CHECK(o != NULL);
    cur_params = &takeover;
    /* Under the limit in compressed bytes: inflating must catch it. */
    CHECK(n < 2 << 20);
    run(1, 2 << 20, cuts, ncuts, o);
    CHECK_STR(o->events, "");
    CHECK_EQ(o->code, 1009);
    CHECK_EQ(o->result, UVWS_ETOOBIG);
    free(o);
    input_len = 0;
  }
  free(b);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  setvbuf(stderr, NULL, _IONBF, 0);
  test_server_negotiation();
  test_client_negotiation();
  test_negotiation_pairs();
  test_codec();
  test_codec_errors();
  test_bomb_codec();
  test_engine_messages();
  test_engine_fragments();
  test_engine_violations();
  test_engine_utf8();
  test_engine_limits();
  test_engine_first_violation();
  test_engine_empty_payload();
  test_engine_big_bomb();
  printf("test_deflate: %d engine cases, each fed whole, bytewise and split\n",
         ncases);
  return 0;
}

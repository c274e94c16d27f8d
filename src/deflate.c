/* permessage-deflate (RFC 7692). See deflate.h. */
#include "deflate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ascii.h"
#include "uvws_errno.h"

#define UVWS__ENOMEM (-12)
#define MAX_PARAMS 8

/* ---- Sec-WebSocket-Extensions syntax (RFC 6455 9.1) ------------------- */

typedef struct {
  const char *name;
  size_t name_len;
  const char *value; /* NULL when the parameter has no value */
  size_t value_len;
} ext_param_t;

typedef struct {
  const char *name;
  size_t name_len;
  ext_param_t params[MAX_PARAMS];
  size_t nparams;
  int too_many; /* more than MAX_PARAMS: no valid offer has that many */
} ext_t;

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

static void skip_ows(const char *s, size_t len, size_t *i) {
  while (*i < len && is_ows(s[*i]))
    (*i)++;
}

static size_t token_len(const char *s, size_t len, size_t i) {
  size_t start = i;
  while (i < len && uvws__is_token(s + i, 1))
    i++;
  return i - start;
}

/* Parses one extension at s[*i..len). Returns 1, 0 at the end of the list,
 * or -1 on a syntax error. Leaves *i after the separating comma. */
static int next_ext(const char *s, size_t len, size_t *i, ext_t *e) {
  size_t n;

  memset(e, 0, sizeof(*e));
  /* Empty list elements (",,") are allowed by RFC 7230 7. */
  for (;;) {
    skip_ows(s, len, i);
    if (*i < len && s[*i] == ',')
      (*i)++;
    else
      break;
  }
  if (*i >= len)
    return 0;
  n = token_len(s, len, *i);
  if (n == 0)
    return -1;
  e->name = s + *i;
  e->name_len = n;
  *i += n;
  for (;;) {
    ext_param_t p = {0};
    skip_ows(s, len, i);
    if (*i >= len)
      return 1;
    if (s[*i] == ',') {
      (*i)++;
      return 1;
    }
    if (s[*i] != ';')
      return -1;
    (*i)++;
    skip_ows(s, len, i);
    n = token_len(s, len, *i);
    if (n == 0)
      return -1;
    p.name = s + *i;
    p.name_len = n;
    *i += n;
    skip_ows(s, len, i);
    if (*i < len && s[*i] == '=') {
      (*i)++;
      skip_ows(s, len, i);
      if (*i < len && s[*i] == '"') {
        /* A quoted value must still be a token once unquoted (9.1);
         * tokens never need escapes, so a backslash is refused. */
        size_t start = ++(*i);
        while (*i < len && s[*i] != '"') {
          if (!uvws__is_token(s + *i, 1))
            return -1;
          (*i)++;
        }
        if (*i >= len || *i == start)
          return -1;
        p.value = s + start;
        p.value_len = *i - start;
        (*i)++;
      } else {
        n = token_len(s, len, *i);
        if (n == 0)
          return -1;
        p.value = s + *i;
        p.value_len = n;
        *i += n;
      }
    }
    if (e->nparams < MAX_PARAMS)
      e->params[e->nparams++] = p;
    else
      e->too_many = 1;
  }
}

/* s[0..n) is lit (lower case) but for ASCII case. */
static int name_is(const char *s, size_t n, const char *lit) {
  return uvws__ascii_ieq(s, n, lit, strlen(lit));
}

/* RFC 7692 7.1.2: window bits are "8" to "15", no leading zeros. */
static int window_bits(const ext_param_t *p) {
  if (p->value == NULL)
    return -1;
  if (p->value_len == 1 && (p->value[0] == '8' || p->value[0] == '9'))
    return p->value[0] - '0';
  if (p->value_len == 2 && p->value[0] == '1' && p->value[1] >= '0' &&
      p->value[1] <= '5')
    return 10 + p->value[1] - '0';
  return -1;
}

/* The parameters of one permessage-deflate element. */
typedef struct {
  int snct, cnct; /* no_context_takeover flags */
  int smwb;       /* server_max_window_bits value, 0 if absent */
  int cmwb;       /* client_max_window_bits: 0 absent, -1 without value */
} pmd_element_t;

/* Reads an element's parameters. offer: parsing a client's offer (where
 * client_max_window_bits may come without a value). Returns 0 or -1 when a
 * parameter is unknown, repeated or has an invalid value. */
static int read_element(const ext_t *e, int offer, pmd_element_t *el) {
  int seen_s = 0, seen_c = 0;
  memset(el, 0, sizeof(*el));
  if (e->too_many)
    return -1;
  for (size_t i = 0; i < e->nparams; i++) {
    const ext_param_t *p = &e->params[i];
    if (name_is(p->name, p->name_len, "server_no_context_takeover")) {
      if (el->snct || p->value)
        return -1;
      el->snct = 1;
    } else if (name_is(p->name, p->name_len, "client_no_context_takeover")) {
      if (el->cnct || p->value)
        return -1;
      el->cnct = 1;
    } else if (name_is(p->name, p->name_len, "server_max_window_bits")) {
      if (seen_s++ || (el->smwb = window_bits(p)) < 0)
        return -1;
    } else if (name_is(p->name, p->name_len, "client_max_window_bits")) {
      if (seen_c++)
        return -1;
      if (p->value == NULL) {
        /* 7.1.2.2: without a value only in an offer. */
        if (!offer)
          return -1;
        el->cmwb = -1;
      } else if ((el->cmwb = window_bits(p)) < 0) {
        return -1;
      }
    } else {
      return -1;
    }
  }
  return 0;
}

static int append_param(const uvws_allocator_t *al, uvws__buf_t *b,
                        const char *name, int value) {
  char tmp[64];
  if (value > 0)
    snprintf(tmp, sizeof(tmp), "; %s=%d", name, value);
  else
    snprintf(tmp, sizeof(tmp), "; %s", name);
  return uvws__buf_append_str(al, b, tmp);
}

int uvws__pmd_negotiate(const uvws_allocator_t *al,
                        const uvws__http_head_t *head,
                        const uvws__pmd_config_t *cfg, uvws__pmd_params_t *out,
                        uvws__buf_t *response) {
  for (size_t h = 0; h < head->num_headers; h++) {
    const uvws__header_t *hd = &head->headers[h];
    size_t i = 0;
    ext_t e;
    int r;

    if (!name_is(hd->name, hd->name_len, "sec-websocket-extensions"))
      continue;
    while ((r = next_ext(hd->value, hd->value_len, &i, &e)) == 1) {
      pmd_element_t el;
      int tx, rx, cnct, snct;
      size_t saved = response->len;

      if (!name_is(e.name, e.name_len, "permessage-deflate"))
        continue;
      if (read_element(&e, 1, &el) != 0)
        continue; /* 5: decline this offer, look at the next */

      snct = el.snct || cfg->server_no_context_takeover;
      cnct = el.cnct || cfg->client_no_context_takeover;
      /* 7.1.2.1: the server may always lower its own window. */
      tx = cfg->server_max_window_bits;
      if (el.smwb && el.smwb < tx)
        tx = el.smwb;
      /* 7.1.2.2: the client's window can be limited only if it said it
       * supports the parameter; otherwise it may use all 15 bits. */
      rx = 15;
      if (el.cmwb != 0) {
        rx = el.cmwb > 0 ? el.cmwb : 15;
        if (cfg->client_max_window_bits < rx)
          rx = cfg->client_max_window_bits;
      }

      if (uvws__buf_append_str(al, response, "permessage-deflate") != 0 ||
          (snct &&
           append_param(al, response, "server_no_context_takeover", 0)) ||
          (cnct &&
           append_param(al, response, "client_no_context_takeover", 0)) ||
          ((tx < 15 || el.smwb) &&
           append_param(al, response, "server_max_window_bits", tx)) ||
          (el.cmwb != 0 && (rx < 15 || el.cmwb > 0) &&
           append_param(al, response, "client_max_window_bits", rx))) {
        response->len = saved;
        return UVWS__ENOMEM;
      }
      out->tx_no_takeover = (uint8_t)snct;
      out->rx_no_takeover = (uint8_t)cnct;
      out->tx_window = (uint8_t)tx;
      out->rx_window = (uint8_t)rx;
      return 1;
    }
    if (r < 0)
      return UVWS_EHANDSHAKE;
  }
  return 0;
}

int uvws__pmd_offer(const uvws_allocator_t *al, const uvws__pmd_config_t *cfg,
                    uvws__buf_t *out) {
  /* client_max_window_bits always: it tells the server we can honour a
   * smaller window (7.1.2.2). */
  if (uvws__buf_append_str(al, out, "permessage-deflate") != 0 ||
      append_param(al, out, "client_max_window_bits",
                   cfg->client_max_window_bits < 15
                       ? cfg->client_max_window_bits
                       : 0) != 0 ||
      (cfg->server_no_context_takeover &&
       append_param(al, out, "server_no_context_takeover", 0) != 0) ||
      (cfg->client_no_context_takeover &&
       append_param(al, out, "client_no_context_takeover", 0) != 0) ||
      (cfg->server_max_window_bits < 15 &&
       append_param(al, out, "server_max_window_bits",
                    cfg->server_max_window_bits) != 0))
    return UVWS__ENOMEM;
  return 0;
}

int uvws__pmd_accept(const uvws__http_head_t *head,
                     const uvws__pmd_config_t *cfg, uvws__pmd_params_t *out) {
  int found = 0;
  pmd_element_t el = {0};

  for (size_t h = 0; h < head->num_headers; h++) {
    const uvws__header_t *hd = &head->headers[h];
    size_t i = 0;
    ext_t e;
    int r;

    if (!name_is(hd->name, hd->name_len, "sec-websocket-extensions"))
      continue;
    while ((r = next_ext(hd->value, hd->value_len, &i, &e)) == 1) {
      /* We offered one extension, once: anything else was not offered. */
      if (found || !name_is(e.name, e.name_len, "permessage-deflate"))
        return UVWS_EHANDSHAKE;
      if (read_element(&e, 0, &el) != 0)
        return UVWS_EHANDSHAKE;
      found = 1;
    }
    if (r < 0)
      return UVWS_EHANDSHAKE;
  }
  if (!found)
    return 0;
  /* The server may lower what we asked for, never raise it. */
  if (cfg->server_max_window_bits < 15 &&
      (el.smwb == 0 || el.smwb > cfg->server_max_window_bits))
    return UVWS_EHANDSHAKE;
  if (el.cmwb > 0 && el.cmwb > cfg->client_max_window_bits)
    return UVWS_EHANDSHAKE;
  /* We asked the server not to keep its context; it must agree. */
  if (cfg->server_no_context_takeover && !el.snct)
    return UVWS_EHANDSHAKE;

  out->tx_no_takeover =
      (uint8_t)(el.cnct || cfg->client_no_context_takeover);
  out->rx_no_takeover = (uint8_t)el.snct;
  out->tx_window = (uint8_t)(el.cmwb > 0 ? el.cmwb
                                         : cfg->client_max_window_bits);
  out->rx_window = (uint8_t)(el.smwb ? el.smwb : 15);
  return 1;
}

/* ---- the codec --------------------------------------------------------- */

/* zlib's memory comes from the connection's allocator. */
static voidpf pmd_zalloc(voidpf opaque, uInt items, uInt size) {
  return uvws__calloc(opaque, items, size);
}

static void pmd_zfree(voidpf opaque, voidpf p) {
  uvws__free(opaque, p);
}

void uvws__pmd_init(uvws__pmd_t *z, const uvws_allocator_t *al,
                    const uvws__pmd_params_t *params, int level,
                    int mem_level) {
  memset(z, 0, sizeof(*z));
  z->alloc = al;
  z->params = *params;
  z->level = level;
  z->mem_level = mem_level;
}

void uvws__pmd_free(uvws__pmd_t *z) {
  if (z->tx) {
    deflateEnd(z->tx);
    uvws__free(z->alloc, z->tx);
    z->tx = NULL;
  }
  if (z->rx) {
    inflateEnd(z->rx);
    uvws__free(z->alloc, z->rx);
    z->rx = NULL;
  }
}

int uvws__pmd_can_compress(const uvws__pmd_t *z) {
  return z->params.tx_window >= 9;
}

size_t uvws__pmd_memory(const uvws__pmd_params_t *p, int mem_level) {
  /* zlib's own formulas (zconf.h): deflate (1 << (w+2)) + (1 << (m+9)),
   * inflate 1 << w, plus the state structures (about 6 and 7 KiB). */
  return ((size_t)1 << (p->tx_window + 2)) + ((size_t)1 << (mem_level + 9)) +
         ((size_t)1 << p->rx_window) + 13 * 1024;
}

/* Grows out so it has room, never past limit + 1 bytes in all: one byte
 * over the limit is how an oversized message is noticed. */
static int grow(const uvws_allocator_t *al, uvws__buf_t *out, size_t limit) {
  size_t cap = out->cap ? out->cap * 2 : 16384;
  size_t most = limit == (size_t)-1 ? limit : limit + 1;
  char *p;
  if (cap < out->len + 4096)
    cap = out->len + 4096;
  if (cap > most)
    cap = most;
  if (cap <= out->cap)
    return 0;
  p = uvws__realloc(al, out->base, cap);
  if (p == NULL)
    return UVWS__ENOMEM;
  out->base = p;
  out->cap = cap;
  return 0;
}

static int inflate_into(uvws__pmd_t *z, const uint8_t *in, size_t n,
                        uvws__buf_t *out, size_t limit) {
  z_stream *s = z->rx;
  s->next_in = (Bytef *)in;
  s->avail_in = (uInt)n;
  for (;;) {
    size_t room;
    int r;
    if (out->len > limit)
      return UVWS_ETOOBIG;
    if (out->cap - out->len < 1024 && grow(z->alloc, out, limit) != 0)
      return UVWS__PMD_NOROOM;
    room = out->cap - out->len;
    /* A buffer that came with room of its own still takes at most one
     * byte past the limit. */
    if (limit != (size_t)-1 && room > limit + 1 - out->len)
      room = limit + 1 - out->len;
    if (room == 0)
      return UVWS_ETOOBIG; /* at limit + 1 with more to come */
    if (room > (uInt)-1)
      room = (uInt)-1;
    s->next_out = (Bytef *)out->base + out->len;
    s->avail_out = (uInt)room;
    r = inflate(s, Z_SYNC_FLUSH);
    out->len += room - s->avail_out;
    /* zlib adds 128 to data_type when it stopped between blocks. */
    z->rx_boundary = (s->data_type & 128) != 0;
    if (out->len > limit)
      return UVWS_ETOOBIG;
    if (r == Z_STREAM_END) {
      /* A final block ends the stream; whatever follows starts anew. */
      if (inflateReset(s) != Z_OK)
        return UVWS_EDEFLATE;
      z->rx_boundary = 1;
      if (s->avail_in == 0)
        return 0;
      continue;
    }
    if (r == Z_BUF_ERROR) {
      if (s->avail_out == 0)
        continue; /* needs room */
      return 0;   /* needs input */
    }
    if (r != Z_OK)
      return r == Z_MEM_ERROR ? UVWS__ENOMEM : UVWS_EDEFLATE;
    if (s->avail_in == 0 && s->avail_out != 0)
      return 0;
  }
}

int uvws__pmd_inflate(uvws__pmd_t *z, const uint8_t *in, size_t n, int fin,
                      uvws__buf_t *out, size_t limit) {
  static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
  int r;

  if (z->rx == NULL) {
    z_stream *s = uvws__calloc(z->alloc, 1, sizeof(*s));
    if (s == NULL)
      return UVWS__ENOMEM;
    s->zalloc = pmd_zalloc;
    s->zfree = pmd_zfree;
    s->opaque = (voidpf)z->alloc;
    /* Negative window bits: a raw DEFLATE stream, no zlib wrapper. */
    if (inflateInit2(s, -(int)z->params.rx_window) != Z_OK) {
      uvws__free(z->alloc, s);
      return UVWS__ENOMEM;
    }
    z->rx = s;
  }
  r = inflate_into(z, in, n, out, limit);
  if (r == 0 && fin) {
    r = inflate_into(z, tail, sizeof(tail), out, limit);
    /* RFC 7692 7.2.1: a message ends with an empty stored block less its
     * last 4 bytes, so with them back the inflater is between blocks.
     * Anything else (no bytes at all, a final block without the 0x00 of
     * 7.2.3.4) would leave it inside a block header, and the next message
     * would be read as its continuation. */
    if (r == 0 && !z->rx_boundary)
      r = UVWS_EDEFLATE;
    if (r == 0 && z->params.rx_no_takeover && inflateReset(z->rx) != Z_OK)
      r = UVWS_EDEFLATE;
  }
  if (r == UVWS_ETOOBIG && out->len > limit)
    out->len = limit; /* the byte past the limit is not part of the message */
  return r;
}

int uvws__pmd_deflate(uvws__pmd_t *z, const uint8_t *in, size_t n, int fin,
                      uvws__buf_t *out) {
  z_stream *s = z->tx;

  if (s == NULL) {
    s = uvws__calloc(z->alloc, 1, sizeof(*s));
    if (s == NULL)
      return UVWS__ENOMEM;
    s->zalloc = pmd_zalloc;
    s->zfree = pmd_zfree;
    s->opaque = (voidpf)z->alloc;
    if (deflateInit2(s, z->level, Z_DEFLATED, -(int)z->params.tx_window,
                     z->mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
      uvws__free(z->alloc, s);
      return UVWS__ENOMEM;
    }
    z->tx = s;
  }
  size_t start = out->len;
  size_t left = n; /* not yet handed to zlib, whose counts are 32-bit */
  int flush;
  s->next_in = (Bytef *)in;
  s->avail_in = 0;
  do {
    size_t room;
    if (s->avail_in == 0 && left > 0) {
      s->avail_in = left > (uInt)-1 ? (uInt)-1 : (uInt)left;
      left -= s->avail_in;
    }
    /* A sync flush ends on a byte boundary with an empty stored block,
     * 00 00 ff ff, which 7.2.1 removes at the end of the message. */
    flush = left > 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH;
    if (uvws__buf_reserve(z->alloc, out,
                          n / 2 + 64 < (1u << 20) ? n / 2 + 64 : (1u << 20)) !=
        0)
      return UVWS__ENOMEM;
    room = out->cap - out->len;
    if (room > (uInt)-1)
      room = (uInt)-1;
    s->next_out = (Bytef *)out->base + out->len;
    s->avail_out = (uInt)room;
    deflate(s, flush);
    out->len += room - s->avail_out;
  } while (flush == Z_NO_FLUSH || s->avail_out == 0);
  if (fin) {
    if (out->len - start >= 4 &&
        memcmp(out->base + out->len - 4, "\x00\x00\xff\xff", 4) == 0) {
      out->len -= 4;
    } else if (out->len == start) {
      /* zlib had nothing to flush (no input since the last flush). The
       * receiver appends 00 00 ff ff, which needs the 3-bit header of an
       * empty stored block before it: a single 0x00 (RFC 7692 7.2.3.6). */
      if (uvws__buf_append(z->alloc, out, "", 1) != 0)
        return UVWS__ENOMEM;
    }
    if (z->params.tx_no_takeover)
      deflateReset(s);
  }
  return 0;
}

/* The receiving protocol engine (RFC 6455 5 and 7). See proto.h. */
#include "proto.h"

#include <string.h>

#include "utf8.h"
#include "uvws_errno.h"

#define UVWS__ENOMEM (-12)

/* A header may announce far more than will arrive; reserve at most this much
 * ahead of the payload itself. */
#define UVWS__MSG_RESERVE (256 * 1024)

void uvws__proto_init(uvws__proto_t *p, const uvws_allocator_t *al,
                      const uvws__proto_cbs_t *cbs, int from_client,
                      size_t max_message_size) {
  memset(p, 0, sizeof(*p));
  p->alloc = al;
  p->cbs = cbs;
  p->from_client = from_client ? 1 : 0;
  p->max_message_size = max_message_size ? max_message_size : (size_t)-1;
}

/* Frees the partial-frame state (and the reassembly buffer, unless on_message
 * took it). */
static void part_free(uvws__proto_t *p) {
  uvws__proto_part_t *t = p->part;
  if (t->msg.base != NULL && p->cbs->put_buf != NULL)
    p->cbs->put_buf(p, &t->msg);
  uvws__buf_free(p->alloc, &t->msg);
  uvws__free(p->alloc, t);
  p->part = NULL;
}

void uvws__proto_free(uvws__proto_t *p) {
  if (p->part != NULL)
    part_free(p);
}

/* The partial-frame state, allocated when first needed; NULL when out of
 * memory. */
static uvws__proto_part_t *part_get(uvws__proto_t *p) {
  uvws__proto_part_t *t = p->part;
  if (t == NULL) {
    t = uvws__malloc(p->alloc, sizeof(*t));
    if (t == NULL)
      return NULL;
    memset(t, 0, offsetof(uvws__proto_part_t, hdr_buf));
    p->part = t;
  }
  return t;
}

/* Makes room for n more bytes of the message being reassembled, with a
 * buffer from the owner if it has one. 0 or UV_ENOMEM. */
static int msg_reserve(uvws__proto_t *p, uvws__proto_part_t *t, size_t n) {
  if (t->msg.base == NULL && p->cbs->get_buf != NULL)
    p->cbs->get_buf(p, &t->msg);
  return uvws__buf_reserve(p->alloc, &t->msg, n);
}

/* Between frames with no message open and no header split: nothing is
 * held until the next frame spans reads. */
static void part_settle(uvws__proto_t *p) {
  uvws__proto_part_t *t = p->part;
  if (t != NULL && t->msg_opcode == 0 && t->hdr_len == 0 &&
      p->state == UVWS__PS_HEADER)
    part_free(p);
}

int uvws__close_code_valid(unsigned code) {
  if (code >= 3000 && code <= 4999)
    return 1; /* registered (3000-3999) and private (4000-4999) use */
  switch (code) {
  case 1000: case 1001: case 1002: case 1003:
  case 1007: case 1008: case 1009: case 1010: case 1011:
  case 1012: case 1013: case 1014:
    return 1;
  default:
    /* 1004 reserved; 1005, 1006, 1015 are never sent; the rest of
     * 0-2999 is unassigned or reserved for the protocol. */
    return 0;
  }
}

static long fail(uvws__proto_t *p, unsigned code, int err) {
  p->state = UVWS__PS_FAILED;
  p->fail_code = code;
  p->fail_err = err;
  return err;
}

/* Handles a complete control frame whose (unmasked) payload is data. */
static long control(uvws__proto_t *p, unsigned opcode, const uint8_t *data,
                    size_t len) {
  unsigned code;

  switch (opcode) {
  case UVWS__OP_PING:
    p->cbs->on_ping(p, (const char *)data, len);
    return 0;
  case UVWS__OP_PONG:
    p->cbs->on_pong(p, (const char *)data, len);
    return 0;
  default: /* UVWS__OP_CLOSE; frame_check refused the other opcodes */
    break;
  }

  /* RFC 6455 5.5.1: a body, if any, starts with a 2-byte code. */
  if (len == 1)
    return fail(p, 1002, UVWS_EPROTO);
  code = 1005;
  if (len >= 2) {
    code = ((unsigned)data[0] << 8) | data[1];
    if (!uvws__close_code_valid(code))
      return fail(p, 1002, UVWS_EPROTO);
    /* The reason is UTF-8 (5.5.1); invalid data is 1007 (7.4.1). */
    if (!uvws__utf8_is_valid(data + 2, len - 2))
      return fail(p, 1007, UVWS_EBADUTF8);
  }
  p->state = UVWS__PS_CLOSED;
  p->cbs->on_close(p, code, len > 2 ? (const char *)data + 2 : "",
                   len > 2 ? len - 2 : 0);
  return 0;
}

/* Appends a piece of data-frame payload (already unmasked) to the open
 * message, validating text as it arrives so that invalid UTF-8 fails the
 * connection at the first bad byte rather than at the end (RFC 6455 8.1). */
static long data_chunk(uvws__proto_t *p, const uint8_t *d, size_t n) {
  uvws__proto_part_t *t = p->part;
  if (t->msg_opcode == UVWS__OP_TEXT) {
    t->utf8 = uvws__utf8_validate(t->utf8, d, n);
    if (t->utf8 == UVWS__UTF8_REJECT)
      return fail(p, 1007, UVWS_EBADUTF8);
  }
  if (p->stream) {
    /* Handed on as it arrives; data_end() sees the message is done. */
    int last = t->hdr.fin && t->done + n == t->hdr.len;
    unsigned op = t->msg_opcode;
    if (last && op == UVWS__OP_TEXT && t->utf8 != UVWS__UTF8_ACCEPT)
      return fail(p, 1007, UVWS_EBADUTF8);
    t->msg_total += n;
    if (last)
      t->msg_opcode = 0;
    p->cbs->on_chunk(p, op, (const char *)d, n, last);
    return 0;
  }
  /* No memory for the message: too big to process now (1009). */
  if (uvws__buf_append(p->alloc, &t->msg, d, n) != 0)
    return fail(p, 1009, UVWS__ENOMEM);
  return 0;
}

/* Inflates a piece of a compressed message (fin: its last piece) into the
 * reassembly buffer. The limit and UTF-8 are checked on what comes out, as
 * it comes out, so a small frame cannot expand past max_message_size
 * (RFC 7692 8) and invalid text fails at once. */
static long inflate_chunk(uvws__proto_t *p, const uint8_t *d, size_t n,
                          int fin) {
  uvws__proto_part_t *t = p->part;
  size_t before = t->msg.len;
  /* Streaming holds only what this piece inflates to; the limit counts
   * what was handed on before. */
  size_t limit =
      p->stream ? p->max_message_size - t->msg_total : p->max_message_size;
  int r = uvws__pmd_inflate(p->pmd, d, n, fin, &t->msg, limit);
  /* What came out is checked before any error is looked at, so that the
   * first violation in the message decides how it fails, wherever the
   * reads were cut. */
  if (r != UVWS__ENOMEM && t->msg_opcode == UVWS__OP_TEXT &&
      t->msg.len > before) {
    t->utf8 = uvws__utf8_validate(
        t->utf8, (const uint8_t *)t->msg.base + before, t->msg.len - before);
    if (t->utf8 == UVWS__UTF8_REJECT)
      return fail(p, 1007, UVWS_EBADUTF8);
  }
  if (r == UVWS_ETOOBIG)
    return fail(p, 1009, UVWS_ETOOBIG);
  if (r == UVWS__PMD_NOROOM) /* no memory for the message: too big now */
    return fail(p, 1009, UVWS__ENOMEM);
  if (r == UVWS__ENOMEM)
    return fail(p, 1011, UVWS__ENOMEM);
  if (r != 0)
    return fail(p, 1007, UVWS_EDEFLATE);
  if (p->stream && !fin && t->msg.len > 0) {
    t->msg_total += t->msg.len;
    p->cbs->on_chunk(p, t->msg_opcode, t->msg.base, t->msg.len, 0);
    t->msg.len = 0;
  }
  return 0;
}

/* A whole message: to on_message, or as one last piece when streaming. */
static void deliver(uvws__proto_t *p, unsigned op, const char *d, size_t n) {
  if (p->stream)
    p->cbs->on_chunk(p, op, d, n, 1);
  else
    p->cbs->on_message(p, op, d, n);
}

/* The current data frame ended (p->state is back at PS_HEADER). */
static long data_end(uvws__proto_t *p) {
  uvws__proto_part_t *t = p->part;
  unsigned op;

  if (!t->hdr.fin)
    return 0;
  if (p->stream && !t->compressed && t->hdr.len > 0) {
    part_settle(p); /* data_chunk() handed on the last piece */
    return 0;
  }
  if (t->compressed) {
    long r = inflate_chunk(p, NULL, 0, 1);
    if (r < 0)
      return r;
    t->compressed = 0;
  }
  if (t->msg_opcode == UVWS__OP_TEXT && t->utf8 != UVWS__UTF8_ACCEPT)
    return fail(p, 1007, UVWS_EBADUTF8); /* ends inside a character */
  op = t->msg_opcode;
  t->msg_opcode = 0;
  deliver(p, op, t->msg.base ? t->msg.base : "", t->msg.len);
  /* on_message may have taken the buffer (uvws__proto_msg()). */
  t->msg.len = 0;
  part_settle(p);
  return 0;
}

/* A header h was read and checked; d[0..avail) is the input that follows
 * it. A frame that is all in the input is handled from there; otherwise
 * the partial state takes it. Returns how many payload bytes it consumed,
 * or an error. */
static long frame_begin(uvws__proto_t *p, const uvws__frame_hdr_t *h,
                        uint8_t *d, size_t avail) {
  uvws__proto_part_t *t = p->part;
  unsigned msg_opcode = t ? t->msg_opcode : 0;
  long r;
  int code;

  code = uvws__frame_check(h, p->from_client, p->rsv_allowed, msg_opcode != 0);
  if (code != 0)
    return fail(p, (unsigned)code, UVWS_EPROTO);
  /* RFC 7692 6: RSV1 marks a compressed message on its first frame only;
   * control frames are never compressed. */
  if ((h->rsv & UVWS__RSV1) &&
      (uvws__op_is_control(h->opcode) || h->opcode == UVWS__OP_CONT))
    return fail(p, 1002, UVWS_EPROTO);

  if (uvws__op_is_control(h->opcode)) {
    if (h->len <= avail) {
      /* Whole: answer from the input itself. */
      if (h->masked)
        uvws__mask(d, d, (size_t)h->len, h->mask, 0);
      r = control(p, h->opcode, d, (size_t)h->len);
      if (r < 0)
        return r;
      part_settle(p);
      return (long)h->len;
    }
    if ((t = part_get(p)) == NULL)
      return fail(p, 1011, UVWS__ENOMEM);
    t->hdr = *h;
    t->done = 0;
    t->ctl_len = 0;
    p->state = UVWS__PS_PAYLOAD;
    return 0;
  }

  if (h->opcode != UVWS__OP_CONT) {
    if (h->fin && h->len <= avail && !(h->rsv & UVWS__RSV1)) {
      /* A message that arrived whole: deliver it from the input, without
       * copying or allocating. */
      size_t n = (size_t)h->len;
      /* 1009: the header tells the size. */
      if (h->len > p->max_message_size)
        return fail(p, 1009, UVWS_ETOOBIG);
      if (h->masked)
        uvws__mask(d, d, n, h->mask, 0);
      if (h->opcode == UVWS__OP_TEXT && !uvws__utf8_is_valid(d, n))
        return fail(p, 1007, UVWS_EBADUTF8);
      deliver(p, h->opcode, (const char *)d, n);
      part_settle(p);
      return (long)n;
    }
    if ((t = part_get(p)) == NULL)
      return fail(p, 1011, UVWS__ENOMEM);
    t->compressed = (h->rsv & UVWS__RSV1) != 0;
    t->msg_total = 0;
    t->nframes = 0;
  }
  /* A continuation frame: frame_check() found a message open, so t is
   * there. */
  t->hdr = *h;
  t->done = 0;
  /* A message may not be spread over endless frames: each costs work and
   * a header's worth of overhead that max_message_size does not count. */
  if (p->max_fragments && ++t->nframes > p->max_fragments)
    return fail(p, 1009, UVWS_ETOOBIG);
  /* 1009 before the excess is buffered: the header tells the size. A
   * compressed frame is not buffered but inflated as it arrives, and its
   * inflated size is what counts (it may be a few bytes longer than the
   * message it carries), so inflating checks it. */
  if (!t->compressed &&
      (h->len > p->max_message_size ||
       (p->stream ? t->msg_total : t->msg.len) > p->max_message_size - h->len))
    return fail(p, 1009, UVWS_ETOOBIG);

  if (h->opcode != UVWS__OP_CONT) {
    t->msg_opcode = h->opcode;
    t->utf8 = UVWS__UTF8_ACCEPT;
  }

  if (h->len > 0) {
    size_t want = h->len < UVWS__MSG_RESERVE ? (size_t)h->len
                                              : UVWS__MSG_RESERVE;
    if (!t->compressed && !p->stream && msg_reserve(p, t, want) != 0)
      return fail(p, 1009, UVWS__ENOMEM);
    p->state = UVWS__PS_PAYLOAD;
    return 0;
  }
  r = data_end(p);
  return r < 0 ? r : 0;
}

long uvws__proto_feed(uvws__proto_t *p, char *data, size_t len) {
  uint8_t *d = (uint8_t *)data;
  size_t pos = 0;
  long r;

  if (p->state == UVWS__PS_FAILED)
    return p->fail_err;
  p->stopped = 0;

  while (pos < len && !p->stopped) {
    switch (p->state) {
    case UVWS__PS_HEADER: {
      uvws__proto_part_t *t = p->part;
      uvws__frame_hdr_t hdr;
      size_t n;
      if (t == NULL && len - pos >= 2) {
        /* The common case first: a whole unfragmented text or binary frame
         * without RSV bits, at most 64 KiB, all in the input, with no
         * message open. It passes every check of uvws__frame_check() and
         * frame_begin() by its first two bytes, and is delivered from the
         * input. */
        unsigned b0 = d[pos], b1 = d[pos + 1];
        size_t hl = 2, pl = b1 & 0x7F;
        if ((b0 == 0x81 || b0 == 0x82) && (b1 >> 7) == p->from_client) {
          if (pl == 126) {
            pl = len - pos >= 4 ? ((size_t)d[pos + 2] << 8) | d[pos + 3]
                                : SIZE_MAX;
            hl = 4;
          } else if (pl == 127) {
            pl = SIZE_MAX;
          }
          if (p->from_client)
            hl += 4;
          if (pl != SIZE_MAX && len - pos >= hl && pl <= len - pos - hl &&
              pl <= p->max_message_size) {
            uint8_t *pd = d + pos + hl;
            if (p->from_client)
              uvws__mask_small(pd, pl, pd - 4);
            if (b0 == 0x81 && !uvws__utf8_is_valid(pd, pl))
              return fail(p, 1007, UVWS_EBADUTF8);
            pos += hl + pl;
            deliver(p, b0 & 0x0F, (const char *)pd, pl);
            break;
          }
        }
      }
      if (t == NULL || t->hdr_len == 0) {
        n = uvws__frame_decode(d + pos, len - pos, &hdr);
        if (n == 0) {
          /* A header split across reads: keep its start. */
          if ((t = part_get(p)) == NULL)
            return fail(p, 1011, UVWS__ENOMEM);
          memcpy(t->hdr_buf, d + pos, len - pos);
          t->hdr_len = (uint8_t)(len - pos);
          return (long)len;
        }
        pos += n;
      } else {
        size_t take = UVWS__MAX_HEADER - t->hdr_len;
        if (take > len - pos)
          take = len - pos;
        memcpy(t->hdr_buf + t->hdr_len, d + pos, take);
        n = uvws__frame_decode(t->hdr_buf, t->hdr_len + take, &hdr);
        if (n == 0) {
          t->hdr_len = (uint8_t)(t->hdr_len + take);
          return (long)len;
        }
        pos += n - t->hdr_len;
        t->hdr_len = 0;
      }
      r = frame_begin(p, &hdr, d + pos, len - pos);
      if (r < 0)
        return r;
      pos += (size_t)r;
      break;
    }

    case UVWS__PS_PAYLOAD: {
      uvws__proto_part_t *t = p->part;
      uvws__frame_hdr_t *h = &t->hdr;
      size_t n = len - pos;
      if (n > h->len - t->done)
        n = (size_t)(h->len - t->done);
      if (h->masked)
        uvws__mask(d + pos, d + pos, n, h->mask, (size_t)t->done);
      if (uvws__op_is_control(h->opcode)) {
        memcpy(t->ctl + t->ctl_len, d + pos, n);
        t->ctl_len = (uint8_t)(t->ctl_len + n);
        r = 0;
      } else if (t->compressed) {
        r = inflate_chunk(p, d + pos, n, 0);
      } else {
        r = data_chunk(p, d + pos, n);
      }
      if (r < 0)
        return r;
      pos += n;
      t->done += n;
      if (t->done < h->len)
        break;
      p->state = UVWS__PS_HEADER;
      if (uvws__op_is_control(h->opcode)) {
        r = control(p, h->opcode, t->ctl, t->ctl_len);
        if (r >= 0)
          part_settle(p);
      } else {
        r = data_end(p);
      }
      if (r < 0)
        return r;
      break;
    }

    case UVWS__PS_CLOSED:
      /* RFC 6455 5.5.1: nothing is read after a close frame. */
      return (long)pos;

    default:
      return p->fail_err;
    }
  }
  return (long)pos;
}

char *uvws__proto_read_place(uvws__proto_t *p, size_t min, size_t *len) {
  uvws__proto_part_t *t = p->part;
  uint64_t rest;
  size_t want;

  if (p->state != UVWS__PS_PAYLOAD || uvws__op_is_control(t->hdr.opcode) ||
      t->compressed || p->stream)
    return NULL;
  rest = t->hdr.len - t->done;
  if (rest < min || rest == 0)
    return NULL;
  want = rest < UVWS__MSG_RESERVE ? (size_t)rest : UVWS__MSG_RESERVE;
  if (msg_reserve(p, t, want) != 0)
    return NULL; /* read into the shared buffer instead */
  *len = t->msg.cap - t->msg.len;
  if (*len > rest)
    *len = (size_t)rest;
  return t->msg.base + t->msg.len;
}

long uvws__proto_feed_placed(uvws__proto_t *p, size_t n) {
  uvws__proto_part_t *t = p->part;
  uvws__frame_hdr_t *h = &t->hdr;
  uint8_t *d = (uint8_t *)t->msg.base + t->msg.len;
  long r;

  if (p->state == UVWS__PS_FAILED)
    return p->fail_err;
  p->stopped = 0;
  if (h->masked)
    uvws__mask(d, d, n, h->mask, (size_t)t->done);
  /* As data_chunk(), but the bytes are in place already. */
  if (t->msg_opcode == UVWS__OP_TEXT) {
    t->utf8 = uvws__utf8_validate(t->utf8, d, n);
    if (t->utf8 == UVWS__UTF8_REJECT)
      return fail(p, 1007, UVWS_EBADUTF8);
  }
  t->msg.len += n;
  t->done += n;
  if (t->done == h->len) {
    p->state = UVWS__PS_HEADER;
    r = data_end(p);
    if (r < 0)
      return r;
  }
  return (long)n;
}

/* The receiving half of the protocol engine: bytes in, events out.
 *
 * It reads frames incrementally (input may be split at any byte), enforces
 * RFC 6455's framing rules, reassembles fragmented messages with control
 * frames interleaved, validates text as UTF-8 while it arrives, enforces the
 * maximum message size before buffering the excess, and validates close
 * frames. It sends nothing itself: pings, closes and failures are reported
 * to the owner, which answers through the frame writer. No I/O, no libuv.
 * Internal. */
#ifndef UVWS_PROTO_H
#define UVWS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "deflate.h"
#include "frame.h"

typedef struct uvws__proto_s uvws__proto_t;

typedef struct {
  /* A whole data message (opcode UVWS__OP_TEXT or UVWS__OP_BINARY); text is
   * valid UTF-8. data is valid during the call; it may point into the bytes
   * given to uvws__proto_feed() (a message that arrived whole) or into the
   * engine's reassembly buffer. */
  void (*on_message)(uvws__proto_t *p, unsigned opcode, const char *data,
                     size_t len);
  /* A ping (the owner answers with a pong carrying the same bytes) or a pong.
   * data is valid during the call. */
  void (*on_ping)(uvws__proto_t *p, const char *data, size_t len);
  void (*on_pong)(uvws__proto_t *p, const char *data, size_t len);
  /* The peer's close frame, validated: code is 1005 when it carried none.
   * reason is valid UTF-8, valid during the call. The engine reads nothing
   * after it (RFC 6455 5.5.1). */
  void (*on_close)(uvws__proto_t *p, unsigned code, const char *reason,
                   size_t reason_len);
  /* In streaming mode (uvws__proto_t.stream), data messages arrive as
   * pieces instead of through on_message: is_last on the message's last
   * piece (which may be empty). Text is validated across the pieces; a piece
   * may end inside a character. data is valid during the call. */
  void (*on_chunk)(uvws__proto_t *p, unsigned opcode, const char *data,
                   size_t len, int is_last);
  /* Optional: reassembly buffers from and back to the owner, so that a
   * connection between messages holds none and yet the next large message
   * need not allocate one. get_buf may set msg's base and cap (len 0, a
   * buffer from p->alloc) when the engine is about to allocate one; put_buf
   * is given a buffer the engine is done with and may take it (zeroing
   * *msg), else the engine frees it. */
  void (*get_buf)(uvws__proto_t *p, uvws__buf_t *msg);
  void (*put_buf)(uvws__proto_t *p, uvws__buf_t *msg);
} uvws__proto_cbs_t;

enum {
  UVWS__PS_HEADER = 0, /* reading a frame header */
  UVWS__PS_PAYLOAD,    /* reading a frame's payload */
  UVWS__PS_CLOSED,     /* a close frame was received: input is ignored */
  UVWS__PS_FAILED      /* a violation was found: sticky */
};

/* What the engine holds only between reads: a frame header or control
 * payload split across reads, the frame whose payload is being read, and
 * the message being reassembled. Allocated when a frame spans reads or a
 * message is fragmented or compressed, and freed when that is over, so a
 * connection between messages holds none of it. */
typedef struct {
  uvws__frame_hdr_t hdr; /* the frame being read (PS_PAYLOAD) */
  uint64_t done;         /* payload bytes of hdr already read */
  uint64_t msg_total;    /* streaming: bytes of the open message so far */
  uvws__buf_t msg;       /* reassembly of a message that did not arrive whole */
  uint32_t nframes;      /* frames of the open message so far */
  uint8_t msg_opcode;    /* TEXT/BINARY while a data message is open */
  uint8_t utf8;          /* UTF-8 state of the open text message */
  uint8_t compressed;    /* the open message has RSV1: inflate it */
  uint8_t hdr_len;       /* bytes of a split header held in hdr_buf */
  uint8_t ctl_len;       /* bytes of a split control payload held in ctl */
  uint8_t hdr_buf[UVWS__MAX_HEADER];
  uint8_t ctl[UVWS__MAX_CONTROL];
} uvws__proto_part_t;

struct uvws__proto_s {
  const uvws__proto_cbs_t *cbs;
  const uvws_allocator_t *alloc; /* for part and its buffers */
  size_t max_message_size;
  uvws__proto_part_t *part; /* NULL between whole frames */
  uvws__pmd_t *pmd;         /* permessage-deflate, when negotiated */
  uint32_t max_fragments;   /* frames per message; 0 for no limit */
  int fail_err;             /* the error for the application when FAILED */
  uint16_t fail_code;       /* close code to send when state is FAILED */
  uint8_t from_client; /* 1: we are a server, frames must be masked */
  uint8_t rsv_allowed;
  uint8_t state;
  uint8_t stopped; /* the owner asked feed to return after a callback */
  uint8_t stream;  /* deliver pieces through on_chunk, hold nothing */
};

/* The reassembly buffer of the message being delivered (or an empty one):
 * on_message's data is its base when the message did not arrive whole. */
static inline uvws__buf_t *uvws__proto_msg(uvws__proto_t *p) {
  return p->part ? &p->part->msg : NULL;
}

/* Prepares p. al (which must outlive p) allocates its buffers. The
 * callbacks get p: an owner that embeds p finds itself from it.
 * from_client: the peer is a client (we are the server).
 * max_message_size: 0 for no limit. */
void uvws__proto_init(uvws__proto_t *p, const uvws_allocator_t *al,
                      const uvws__proto_cbs_t *cbs, int from_client,
                      size_t max_message_size);

/* Turns on permessage-deflate decoding with pmd (owned by the caller, kept
 * until uvws__proto_free): RSV1 becomes legal on a message's first frame. */
static inline void uvws__proto_set_deflate(uvws__proto_t *p,
                                           uvws__pmd_t *pmd) {
  p->pmd = pmd;
  p->rsv_allowed = UVWS__RSV1;
}

/* Releases p's buffers. p may be initialised again afterwards. */
void uvws__proto_free(uvws__proto_t *p);

/* Reads data[0..len). Masked payloads are unmasked in place, so data must be
 * writable and is changed. Callbacks are made for every complete event.
 * Returns the number of bytes consumed: len, or less when a close frame
 * ended the input or uvws__proto_stop() was called from a callback; or a
 * negative error (UVWS_EPROTO, UVWS_EBADUTF8, UVWS_ETOOBIG, UVWS_EDEFLATE,
 * UV_ENOMEM as -12) with p->fail_code set to the close code to send (1002,
 * 1007, 1009, 1011). With deflate, the size limit and UTF-8 apply to the
 * inflated bytes, checked while inflating. 
 * Errors are sticky: later calls return the same error. */
long uvws__proto_feed(uvws__proto_t *p, char *data, size_t len);

/* Where the rest of the current frame's payload may be read straight into
 * the reassembly buffer, sparing the copy out of a read buffer: the free
 * space after the message so far, *len bytes (at most what the frame has
 * left), owned by p. NULL unless a data frame that p reassembles is being
 * read and at least min bytes of it are still to come. Valid until the next
 * call on p. */
char *uvws__proto_read_place(uvws__proto_t *p, size_t min, size_t *len);

/* n bytes (at most the *len given) were read into the place
 * uvws__proto_read_place() gave, with no other call on p in between: they
 * are read as uvws__proto_feed() would read them. Returns n, or the errors
 * of uvws__proto_feed(). */
long uvws__proto_feed_placed(uvws__proto_t *p, size_t n);

/* Makes the running uvws__proto_feed() return after the current callback. */
static inline void uvws__proto_stop(uvws__proto_t *p) {
  p->stopped = 1;
}

/* 1 if code may appear in a close frame (RFC 6455 7.4, IANA registry). */
int uvws__close_code_valid(unsigned code);

#endif

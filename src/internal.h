/* Structures shared by the connection, client and server objects. Internal. */
#ifndef UVWS_INTERNAL_H
#define UVWS_INTERNAL_H

#include "uvws.h"
#include "buf.h"
#include "deflate.h"
#include "alloc.h"
#include "handshake.h"
#include "proto.h"
#include "rand.h"

#define UVWS__READ_BUF (64 * 1024)
/* At least this much of a frame still to come is read straight into the
 * engine's reassembly buffer rather than through UVWS__READ_BUF: below it,
 * one read that takes what follows as well costs less than the copy. */
#define UVWS__PLACE_MIN (8 * 1024)
/* After a large message, the next read is this small: it takes the next
 * header and the start of its payload, and the rest of a large payload is
 * then read in place (UVWS__PLACE_MIN). */
#define UVWS__READ_AFTER_BIG (4 * 1024)
/* A message at least this long that on_message sends back as it is goes
 * out of the reassembly buffer, uncopied. */
#define UVWS__LEND_MIN (8 * 1024)

#define UVWS__DEFAULT_MAX_MESSAGE (64u * 1024 * 1024)
#define UVWS__DEFAULT_MAX_HEADER (16 * 1024)
#define UVWS__DEFAULT_HANDSHAKE_MS 10000
#define UVWS__DEFAULT_CLOSE_MS 5000
#define UVWS__DEFAULT_MAX_FRAGMENTS 131072
#define UVWS__DEFAULT_MAX_BUFFERED (64u * 1024 * 1024)
/* Unwritten bytes (pongs, mostly) past which a connection stops reading. */
#define UVWS__PONG_BACKLOG (1024 * 1024)

#define uvws__container_of(ptr, type, member)                                  \
  ((type *)((char *)(ptr)-offsetof(type, member)))

/* What servers and clients share: the loop, one receive buffer for all their
 * connections (every read is consumed before the next one starts, so the
 * engine copies out only what is left incomplete), and the list of live
 * connections. */
typedef struct uvws__wout_s uvws__wout_t;

typedef struct uvws__ctx_s {
  uv_loop_t *loop;
  /* Where all memory of the context and its connections comes from; the
   * context's own struct too, so it is freed last. */
  uvws_allocator_t alloc;
  char *rbuf;
  uvws_conn_t *conns; /* doubly linked through conn->prev/next */
  size_t nconns;
  uvws_limits_t limits;
  uvws__rand_t *rand; /* clients only */
  uvws__buf_t zbuf;   /* scratch for compressing a message, reused */
  int closing;
  /* Called when the last connection of a closing context is gone. */
  void (*on_last_conn)(struct uvws__ctx_s *ctx);
  /* One timer for every connection's deadline (handshake, close,
   * keepalive): a min-heap of connections by deadline, as libuv keeps its
   * own timers, instead of a uv_timer_t in each connection. */
  uv_timer_t timer;
  uvws_conn_t **heap;
  size_t heap_len, heap_cap;
  uint64_t armed; /* deadline the uv timer is set for, 0 when stopped */
  /* Connections with output queued by API calls, written once per loop
   * iteration, just before libuv waits for I/O: sends made together go out
   * in one write, and completion and drain events come from a libuv
   * callback, never from inside the call that queued them. */
  uv_prepare_t flusher;
  uvws_conn_t *flush_list;
  int handles_open; /* timer and flusher, while closing */
  uv_close_cb close_cb;
  /* Write blocks of connections that have nothing to write, for reuse. */
  uvws__wout_t *free_outs;
  size_t nfree_outs;
  /* Reassembly buffers no message holds, for the next message that does
   * not arrive whole (conn.c spare_put). */
  struct uvws__spare_s *spare_msgs;
  size_t nspare_msgs;
  /* TLS settings shared by the connections (tls_conn.c); NULL for none. */
  struct uvws__tls_conf_s *tls;
  /* Connection ids, and when something needs to find connections by id
   * (messages posted from other threads), an open-addressing index. */
  uint64_t next_id;
  uvws_conn_t **ids; /* NULL until uvws__ctx_index_ids() */
  size_t ids_cap, ids_len;
} uvws__ctx_t;

/* An external buffer or completion callback inserted into a write batch at
 * an offset of its arena. */
typedef struct {
  size_t off;
  const char *ext; /* NULL: a completion marker only */
  size_t len;
  uvws_send_cb cb;
  void *arg;
  size_t cap; /* a taken reassembly buffer (ext): its capacity, else 0 */
} uvws__wseg_t;

/* Output gathered for one uv_write: bytes copied into the arena (frame
 * headers, copied and masked payloads, handshakes) and external buffers. */
typedef struct {
  uvws__buf_t arena;
  uvws__wseg_t *segs;
  size_t nsegs;
  size_t segs_cap;
  size_t payload;  /* application payload bytes, for bufferedAmount */
  uint8_t has_cb;  /* a completion callback must wait for uv_write's */
  uint8_t has_close; /* carries our close frame */
  uint8_t ends_handshake_error; /* carries an HTTP refusal */
} uvws__wbatch_t;

/* Prepared messages (pubsub.c). */
typedef struct uvws__pvariant_s {
  struct uvws__pvariant_s *next;
  uint8_t window; /* deflate window bits it was compressed with */
  int level, mem_level;
  char *frame;
  size_t len;
} uvws__pvariant_t;

struct uvws_prepared_s {
  uvws_allocator_t alloc;
  unsigned refs;
  uint8_t type;    /* uvws_msg_type_t */
  size_t len;      /* payload bytes */
  char *plain;     /* the unmasked, uncompressed frame: header + payload */
  size_t plain_len;
  size_t plain_hlen;
  uvws__pvariant_t *variants; /* compressed frames, one per parameter set */
};

/* Subscriptions (pubsub.c): each is on its topic's list and its
 * connection's list. */
typedef struct uvws__topic_s uvws__topic_t;
typedef struct uvws__sub_s {
  uvws__topic_t *topic;
  uvws_conn_t *conn;
  struct uvws__sub_s *tprev, *tnext; /* the topic's subscribers */
  struct uvws__sub_s *cnext;         /* the connection's subscriptions */
} uvws__sub_t;

struct uvws__topic_s {
  uvws__topic_t *next; /* hash bucket chain */
  size_t hash;
  size_t nsubs;
  uvws__sub_t *subs;
  char name[];
};

typedef struct uvws__route_s {
  struct uvws__route_s *next;
  uvws_route_t route;
  size_t path_len;
  char path[];
} uvws__route_t;

/* A client context (client.c). */
struct uvws_client_s {
  uvws__ctx_t ctx;
  uvws__rand_t rand;
  uvws_client_close_cb close_cb;
  int closer_closing;
  void *data;
};

/* A listener (server.c): listeners[i] points at its tcp. */
typedef struct {
  uv_tcp_t tcp;
  /* A connection it announced waits to be refused: no handle was free to
   * take it (see drop_connection()). */
  uint8_t drop_waiting;
} uvws__listener_t;

struct uvws_server_s {
  uvws__ctx_t ctx;
  uvws_server_options_t opts;
  void *data;
  uv_tcp_t **listeners;
  size_t nlisteners;
  size_t listeners_open; /* and refused connections being closed */
  uv_tcp_t spare;        /* for refusing a connection without memory */
  int spare_busy;
  size_t drops_waiting; /* listeners with drop_waiting set */
  int port;
  uvws_server_close_cb close_cb;
  int closer_closing;
  uvws__route_t *routes;
  uvws__topic_t **buckets; /* topics by hash */
  size_t nbuckets;
  size_t ntopics;
  /* copies of the option lists */
  char **origins;
  char **protocols;
};

/* A connection's output while it has any: the two write batches (one
 * filling, one in flight) and the write request. Connections borrow one
 * from their context's pool when they queue output and give it back when
 * everything is written, so an idle connection holds none. */
struct uvws__wout_s {
  uvws__wbatch_t batch[2];
  uv_write_t wreq;
  /* TLS: the filter and its ciphertext buffers (tls_conn.c). A TLS
   * connection keeps its write block for life (out_pinned); NULL in the
   * blocks of ws:// connections. */
  struct uvws__conn_tls_s *tls;
  union {
    uvws__wout_t *next_free; /* in the context's pool */
    uvws_conn_t *flush_next; /* its connection's place on ctx->flush_list */
  } u;
};

/* What only client connections need: the connect and handshake state, and
 * the handshake's answer. */
typedef struct {
  uvws_callbacks_t cbs;
  uvws_limits_t limits;
  char key[25];
  char **offered; /* NULL-terminated copies of the offered protocols */
  char *origin;
  char *host;
  char *target;
  char *host_header;
  int port;
  struct uvws__proxy_s *proxy; /* when tunnelling through a proxy */
  uvws__buf_t resp;            /* the handshake answer's headers, packed */
  size_t resp_count;
  int http_status;
  uv_getaddrinfo_t *gai;
  struct addrinfo *ai_all, *ai_next;
  uv_connect_t creq;
  uvws__pmd_config_t *pmd_offer; /* what was offered */
  uvws_deflate_options_t *pmd_opts;
} uvws__client_conn_t;

/* What a connection holds only at times, or only when a feature asks for
 * it: the handshake while CONNECTING, the strings the handshake settled,
 * subscriptions, the peer's close reason. Allocated when first needed
 * (uvws__conn_ext()) and freed once the handshake is over if nothing else
 * is in it, so most open connections have none. */
typedef struct {
  uvws__buf_t hs; /* handshake bytes while CONNECTING */
  char *url;      /* NULL: "/" (url_root) or none */
  char *protocol;
  char *extensions;
  void *route_data;
  uvws__sub_t *subs; /* subscriptions (server connections) */
  size_t deflate_threshold;
  char *close_reason; /* close_reason_len bytes, for on_close */
  uint8_t close_reason_len;
} uvws__conn_ext_t;

/* The memory of an idle connection is this struct, the uv_tcp_t first; all
 * that is needed only at times (output, handshake, client state, TLS,
 * compression) hangs off pointers. */
struct uvws_conn_s {
  uv_tcp_t tcp;
  uvws__ctx_t *ctx; /* a server's or client's (uvws__conn_server()) */
  const uvws_callbacks_t *cbs;
  void *data;
  uvws_conn_t *prev, *next;
  uvws__proto_t proto;

  uint8_t state;         /* uvws_ready_state_t */
  uint8_t pending;       /* handle closes and requests still outstanding */
  uint8_t frag_utf8;     /* UTF-8 state of the fragmented text being sent */
  uint16_t close_code;   /* for on_close */
  /* Bytes, not bits: set and cleared for every message received. */
  uint8_t lending;  /* on_message has the engine's reassembly buffer */
  uint8_t big_msgs; /* the last message was reassembled (large) */
  /* Flags, one bit each: an idle connection is mostly its handle. */
  unsigned is_client : 1;
  unsigned handed : 1;        /* the application knows it: on_close is owed */
  unsigned close_sent : 1;    /* our close frame is queued */
  unsigned close_written : 1; /* ... and handed to the kernel */
  unsigned close_received : 1;
  unsigned failed : 1;  /* we failed the connection (fail_code sent) */
  unsigned closing : 1; /* handles are being closed */
  unsigned writing : 1; /* a uv_write is in flight */
  unsigned corked : 1;  /* inside a read: flush when it ends */
  unsigned drain_armed : 1;
  unsigned frag_open : 1; /* sending a fragmented message */
  unsigned frag_type : 2;
  unsigned frag_compressed : 1; /* the fragmented message being sent is */
  unsigned error_pending : 1;   /* error set, on_error not yet called */
  unsigned fill : 1;            /* index of the batch being filled */
  unsigned paused : 1;          /* uvws_conn_pause() */
  unsigned ping_out : 1;        /* a keepalive ping awaits an answer */
  unsigned out_pinned : 1;      /* keep the write block (TLS connections) */
  unsigned own_cbs : 1;         /* cbs is an allocated copy */
  unsigned flush_queued : 1;    /* on ctx->flush_list */
  unsigned read_held : 1;       /* reading stopped by UVWS_BUFFERED_PAUSE */
  unsigned pong_held : 1;       /* reading stopped: too many pongs unwritten */
  unsigned start_pending : 1; /* adopted: the handshake starts next iteration */
  unsigned url_root : 1;      /* the request target was "/" */

  uint32_t heap_idx;     /* place in ctx->heap, UINT32_MAX when not */
  uint64_t deadline;     /* uv_now() when the timer fires */
  /* The low 32 bits of uv_now(), compared by difference (conn.c since()) */
  uint32_t last_rx;  /* at the last read */
  uint32_t last_msg; /* ... the last message sent or received */
  uint32_t ping_at;  /* ... when the keepalive ping went out */

  int error; /* first error, for on_error */

  size_t buffered;       /* bufferedAmount */
  /* Output, while there is some (or flush_queued); a TLS connection's
   * always, with its filter. */
  uvws__wout_t *out;

  uvws__conn_ext_t *ext;   /* NULL when it would be empty */
  uvws__client_conn_t *cc; /* client connections only */
  uint64_t id;             /* unique in its context, never reused */
};

/* The TLS filter of a wss:// connection; NULL for ws://. */
static inline struct uvws__conn_tls_s *uvws__conn_tls(const uvws_conn_t *c) {
  return c->out != NULL ? c->out->tls : NULL;
}

/* The server a connection came to; NULL for a client connection. */
static inline uvws_server_t *uvws__conn_server(const uvws_conn_t *conn) {
  return conn->is_client ? NULL
                         : uvws__container_of(conn->ctx, uvws_server_t, ctx);
}

/* The limits a connection lives by: its client's own, or its context's. */
static inline const uvws_limits_t *uvws__conn_limits(const uvws_conn_t *conn) {
  return conn->cc != NULL ? &conn->cc->limits : &conn->ctx->limits;
}

/* conn's uvws__conn_ext_t, allocated (zeroed) if it has none; NULL when out
 * of memory. */
uvws__conn_ext_t *uvws__conn_ext(uvws_conn_t *conn);
/* Frees conn's uvws__conn_ext_t if nothing is left in it. */
void uvws__conn_ext_trim(uvws_conn_t *conn);

/* The two write batches (conn->out's), or NULL while there is no output. */
#define uvws__conn_batches(conn) ((conn)->out ? (conn)->out->batch : NULL)

/* conn.c, for client.c and server.c */
int uvws__conn_init(uvws_conn_t *conn, uvws__ctx_t *ctx, int is_client,
                    const uvws_limits_t *limits);
void uvws__conn_start_read(uvws_conn_t *conn);
void uvws__conn_set_timer(uvws_conn_t *conn, unsigned ms);
void uvws__conn_stop_timer(uvws_conn_t *conn);
/* Sets up and takes down what a context has for its connections: the timer
 * and the pool of write blocks. close_cb runs when the timer is closed. */
void uvws__ctx_init(uvws__ctx_t *ctx, uv_loop_t *loop);
void uvws__ctx_close(uvws__ctx_t *ctx, uv_close_cb close_cb);
/* The arena of the batch being filled, taking a write block if needed;
 * NULL when out of memory. */
uvws__buf_t *uvws__conn_arena(uvws_conn_t *conn);
/* Keeps the connection's write block for its whole life (TLS). */
int uvws__conn_pin_out(uvws_conn_t *conn);
void uvws__conn_error(uvws_conn_t *conn, int err);
/* Fails the connection: err for on_error, code in our close frame (or the
 * connection just ends when even that cannot be queued). */
void uvws__conn_fail(uvws_conn_t *conn, int err, unsigned code);
void uvws__conn_emit_error(uvws_conn_t *conn);
void uvws__conn_finish(uvws_conn_t *conn);
void uvws__conn_flush(uvws_conn_t *conn);
void uvws__conn_drain_check(uvws_conn_t *conn);
/* Starts an adopted connection on the next loop iteration: reading, and
 * the handshake already in conn->ext->hs. 0 or UV_ENOMEM. */
int uvws__conn_start_later(uvws_conn_t *conn);
/* Handles bytes read from the peer (decrypted, over TLS): the opening
 * handshake while CONNECTING, then frames. data is writable. */
void uvws__conn_read_plain(uvws_conn_t *conn, char *data, size_t len);
int uvws__conn_queue_raw(uvws_conn_t *conn, const char *data, size_t len);
void uvws__conn_opened(uvws_conn_t *conn, char *rest, size_t rest_len);
void uvws__conn_http_refuse(uvws_conn_t *conn, int status,
                            const char *extra_headers);
void uvws__limits_resolve(uvws_limits_t *out, const uvws_limits_t *in,
                          const uvws_limits_t *fallback);
void uvws__deflate_resolve(uvws__pmd_config_t *out,
                           const uvws_deflate_options_t *in);
/* Turns permessage-deflate on for conn with what was agreed; extensions is
 * the negotiated header value (copied). 0 or UV_ENOMEM. */
int uvws__conn_set_deflate(uvws_conn_t *conn, const uvws__pmd_params_t *params,
                           const uvws_deflate_options_t *opts,
                           const char *extensions, size_t extensions_len);

/* Per-role handshake reads, called by conn.c while CONNECTING. */
void uvws__client_handshake_read(uvws_conn_t *conn);
void uvws__server_handshake_read(uvws_conn_t *conn);
void uvws__conn_unref(uvws_conn_t *conn);
int uvws__conn_check_send(const uvws_conn_t *conn);
/* Queues bytes already framed (a prepared message) by reference: frame is
 * held until release(conn, arg, status) is called. */
int uvws__conn_queue_shared(uvws_conn_t *conn, const char *frame, size_t len,
                            size_t payload, uvws_send_cb release, void *arg);
/* Closes with any code valid on the wire (no W3C restriction). */
int uvws__conn_close_code(uvws_conn_t *conn, unsigned code, const char *reason,
                          size_t reason_len);
/* The answer queued in the filling batch is the last thing sent: the
 * connection closes once it is written. */
void uvws__conn_http_end(uvws_conn_t *conn);
void uvws__pubsub_conn_gone(uvws_conn_t *conn);
/* Starts keeping an index of the context's connections by id (and indexes
 * those there are). 0 or UV_ENOMEM. */
int uvws__ctx_index_ids(uvws__ctx_t *ctx);
/* The live connection with this id, or NULL (never was, or is gone). */
uvws_conn_t *uvws__ctx_find(const uvws__ctx_t *ctx, uint64_t id);
void uvws__pubsub_free(uvws_server_t *server);
/* The allocator of the server a request came to (static.c). */
const uvws_allocator_t *uvws__request_alloc(const uvws_request_t *req);
void uvws__client_conn_free(uvws_conn_t *conn);
void uvws__client_keep_response(uvws_conn_t *conn,
                                const uvws__http_head_t *head);

#endif

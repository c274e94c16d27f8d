/* Sends and closes posted from other threads (uvws_async_t).
 *
 * Posting threads append records to a byte queue under a mutex. The loop's
 * thread, woken by a uv_async_t, swaps that queue for an empty one and
 * carries the records out with the mutex released: a poster never waits
 * for the work, and no callback runs with the lock held, so on_result may
 * post again. The two arenas are kept between wake-ups, so posting
 * allocates nothing once they have grown to the traffic.
 *
 * A connection handle is (attachment << 48) | connection id. Attachments
 * are numbered from 1 and never reused, and connection ids are never
 * reused within a context, so a stale handle finds nothing rather than
 * another connection. */
#include <stdalign.h>

#include "internal.h"
#include "utf8.h"

#define ASYNC_ID_BITS 48
#define ASYNC_ID_MASK ((UINT64_C(1) << ASYNC_ID_BITS) - 1)
#define ASYNC_MAX_SLOTS 0xFFFFu
/* Arenas larger than this after a burst are given back. */
#define ASYNC_KEEP_ARENA (1024 * 1024)

enum { OP_SEND = 1, OP_CLOSE = 2 };

/* One post, followed in the arena by its len bytes (payload or reason),
 * padded to the record's alignment. */
typedef struct {
  uint64_t conn;
  void *tag;
  size_t len;
  uint8_t op;
  uint8_t type;
  uint16_t code;
} async_rec_t;

#define REC_ALIGN alignof(async_rec_t)

struct uvws_async_s {
  uvws_allocator_t alloc; /* called by posting threads too */
  uv_async_t wake;
  uv_loop_t *loop;
  uvws_async_result_cb on_result;
  uvws_async_close_cb close_cb;
  void *data;

  /* Shared with the posting threads: only under lock. */
  uv_mutex_t lock;
  uvws__buf_t queue;
  int closed;

  /* The loop's thread only. */
  uvws__buf_t work; /* the records being carried out */
  size_t work_pos;
  uvws__ctx_t **slots; /* attachment n at slots[n - 1], NULL once detached */
  size_t nslots;
  int closing;
};

static size_t rec_size(size_t len) {
  return sizeof(async_rec_t) + ((len + REC_ALIGN - 1) & ~(REC_ALIGN - 1));
}

/* ---- the loop's side ---------------------------------------------------- */

static uvws_conn_t *lookup(const uvws_async_t *a, uint64_t handle) {
  uint64_t slot = handle >> ASYNC_ID_BITS;
  if (slot == 0 || slot > a->nslots || a->slots[slot - 1] == NULL)
    return NULL;
  return uvws__ctx_find(a->slots[slot - 1], handle & ASYNC_ID_MASK);
}

static int carry_out(const uvws_async_t *a, const async_rec_t *rec,
                     const char *data) {
  uvws_conn_t *conn = lookup(a, rec->conn);
  if (conn == NULL)
    return UV_ENOENT;
  if (rec->op == OP_SEND)
    return uvws_conn_send(conn, (uvws_msg_type_t)rec->type, data, rec->len);
  if (rec->code == 0)
    return uvws_conn_close(conn, 0, data, rec->len);
  return uvws_conn_close_status(conn, rec->code, data, rec->len);
}

/* Carries out a->work from a->work_pos, until it ends or the handle is
 * closed by on_result (the close then cancels what is left). */
static void run_work(uvws_async_t *a) {
  while (a->work_pos < a->work.len && !a->closing) {
    async_rec_t rec;
    const char *data;
    int status;
    memcpy(&rec, a->work.base + a->work_pos, sizeof(rec));
    data = a->work.base + a->work_pos + sizeof(rec);
    a->work_pos += rec_size(rec.len);
    status = carry_out(a, &rec, data);
    if (a->on_result)
      a->on_result(a, rec.conn, rec.tag, status);
  }
  if (a->closing)
    return;
  a->work.len = 0;
  a->work_pos = 0;
  if (a->work.cap > ASYNC_KEEP_ARENA)
    uvws__buf_free(&a->alloc, &a->work);
}

static void on_wake(uv_async_t *h) {
  uvws_async_t *a = h->data;
  uvws__buf_t t;
  if (a->closing)
    return;
  /* Take the whole queue; posters fill the emptied arena meanwhile. */
  uv_mutex_lock(&a->lock);
  t = a->queue;
  a->queue = a->work;
  uv_mutex_unlock(&a->lock);
  a->work = t;
  a->work_pos = 0;
  run_work(a);
}

static void cancel_all(uvws_async_t *a, const uvws__buf_t *b, size_t pos) {
  while (pos < b->len) {
    async_rec_t rec;
    memcpy(&rec, b->base + pos, sizeof(rec));
    pos += rec_size(rec.len);
    if (a->on_result)
      a->on_result(a, rec.conn, rec.tag, UV_ECANCELED);
  }
}

static void on_closed(uv_handle_t *h) {
  uvws_async_t *a = h->data;
  uvws_allocator_t al = a->alloc; /* a's memory comes from it */
  uvws__buf_t rest;
  /* Nothing is appended once closed is set; the lock orders this read
   * after the last post. */
  uv_mutex_lock(&a->lock);
  rest = a->queue;
  a->queue.base = NULL;
  a->queue.len = a->queue.cap = 0;
  uv_mutex_unlock(&a->lock);
  cancel_all(a, &a->work, a->work_pos);
  cancel_all(a, &rest, 0);
  uvws__buf_free(&al, &rest);
  if (a->close_cb)
    a->close_cb(a);
  uv_mutex_destroy(&a->lock);
  uvws__buf_free(&al, &a->work);
  uvws__free(&al, a);
}

int uvws_async_create(uv_loop_t *loop, uvws_async_result_cb on_result,
                      uvws_async_t **out) {
  return uvws_async_create_ex(loop, on_result, NULL, out);
}

int uvws_async_create_ex(uv_loop_t *loop, uvws_async_result_cb on_result,
                         const uvws_allocator_t *allocator,
                         uvws_async_t **out) {
  uvws_allocator_t al;
  uvws_async_t *a;
  int r;
  if (loop == NULL || out == NULL)
    return UV_EINVAL;
  r = uvws__allocator_resolve(&al, allocator);
  if (r != 0)
    return r;
  a = uvws__calloc(&al, 1, sizeof(*a));
  if (a == NULL)
    return UV_ENOMEM;
  a->alloc = al;
  r = uv_mutex_init(&a->lock);
  if (r != 0) {
    uvws__free(&al, a);
    return r;
  }
  r = uv_async_init(loop, &a->wake, on_wake);
  if (r != 0) {
    uv_mutex_destroy(&a->lock);
    uvws__free(&al, a);
    return r;
  }
  a->wake.data = a;
  a->loop = loop;
  a->on_result = on_result;
  *out = a;
  return 0;
}

static int attach(uvws_async_t *a, uvws__ctx_t *ctx) {
  uvws__ctx_t **slots;
  size_t i;
  int r;
  if (ctx->loop != a->loop)
    return UV_EINVAL;
  if (a->closing || ctx->closing)
    return UVWS_ESTATE;
  for (i = 0; i < a->nslots; i++)
    if (a->slots[i] == ctx)
      return 0;
  if (a->nslots == ASYNC_MAX_SLOTS)
    return UV_ENOSPC;
  r = uvws__ctx_index_ids(ctx);
  if (r != 0)
    return r;
  slots = uvws__realloc(&a->alloc, a->slots, (a->nslots + 1) * sizeof(*slots));
  if (slots == NULL)
    return UV_ENOMEM;
  slots[a->nslots++] = ctx;
  a->slots = slots;
  return 0;
}

static int detach(uvws_async_t *a, const uvws__ctx_t *ctx) {
  size_t i;
  for (i = 0; i < a->nslots; i++) {
    if (a->slots[i] == ctx) {
      a->slots[i] = NULL; /* the number stays taken: old handles find nothing */
      return 0;
    }
  }
  return UV_ENOENT;
}

int uvws_async_attach_server(uvws_async_t *a, uvws_server_t *server) {
  return attach(a, &server->ctx);
}

int uvws_async_attach_client(uvws_async_t *a, uvws_client_t *client) {
  return attach(a, &client->ctx);
}

int uvws_async_detach_server(uvws_async_t *a, uvws_server_t *server) {
  return detach(a, &server->ctx);
}

int uvws_async_detach_client(uvws_async_t *a, uvws_client_t *client) {
  return detach(a, &client->ctx);
}

int uvws_async_handle(const uvws_async_t *a, const uvws_conn_t *conn,
                      uint64_t *handle) {
  size_t i;
  for (i = 0; i < a->nslots; i++) {
    if (a->slots[i] == conn->ctx) {
      if (conn->id > ASYNC_ID_MASK)
        return UV_EOVERFLOW;
      *handle = ((uint64_t)(i + 1) << ASYNC_ID_BITS) | conn->id;
      return 0;
    }
  }
  return UV_ENOENT;
}

void uvws_async_close(uvws_async_t *a, uvws_async_close_cb cb) {
  if (a->closing)
    return;
  a->closing = 1;
  a->close_cb = cb;
  /* Taken by posters around uv_async_send() too: once this is set, no
   * thread touches the uv_async_t, which can then be closed. */
  uv_mutex_lock(&a->lock);
  a->closed = 1;
  uv_mutex_unlock(&a->lock);
  uvws__free(&a->alloc, a->slots);
  a->slots = NULL;
  a->nslots = 0;
  uv_close((uv_handle_t *)&a->wake, on_closed);
}

void *uvws_async_get_data(const uvws_async_t *a) {
  return a->data;
}

void uvws_async_set_data(uvws_async_t *a, void *data) {
  a->data = data;
}

/* ---- any thread --------------------------------------------------------- */

static int post(uvws_async_t *a, const async_rec_t *rec, const char *data) {
  size_t need;
  int r = 0;
  if (rec->len > SIZE_MAX - sizeof(*rec) - REC_ALIGN)
    return UV_ENOMEM;
  need = rec_size(rec->len);
  uv_mutex_lock(&a->lock);
  if (a->closed) {
    r = UVWS_ESTATE;
  } else if (uvws__buf_reserve(&a->alloc, &a->queue, need) != 0) {
    r = UV_ENOMEM;
  } else {
    /* Only a post to an empty queue wakes the loop: a non-empty one has a
     * wake-up coming, which swaps this record out with the others. */
    int wake = a->queue.len == 0;
    char *p = a->queue.base + a->queue.len;
    memcpy(p, rec, sizeof(*rec));
    if (rec->len > 0)
      memcpy(p + sizeof(*rec), data, rec->len);
    a->queue.len += need;
    /* Under the lock, so uvws_async_close() cannot close the handle between
     * the check of closed and this. It only fails for a closed handle. */
    if (wake)
      (void)uv_async_send(&a->wake);
  }
  uv_mutex_unlock(&a->lock);
  return r;
}

int uvws_async_send(uvws_async_t *a, uint64_t conn, uvws_msg_type_t type,
                    const char *data, size_t len, void *tag) {
  async_rec_t rec;
  if (conn == 0 || (type != UVWS_TEXT && type != UVWS_BINARY) ||
      (len > 0 && data == NULL))
    return UV_EINVAL;
  /* Checked here, so the poster learns of it; the loop checks again. */
  if (type == UVWS_TEXT && !uvws__utf8_is_valid(data, len))
    return UVWS_EBADUTF8;
  memset(&rec, 0, sizeof(rec));
  rec.conn = conn;
  rec.tag = tag;
  rec.len = len;
  rec.op = OP_SEND;
  rec.type = (uint8_t)type;
  return post(a, &rec, data);
}

int uvws_async_close_conn(uvws_async_t *a, uint64_t conn, int code,
                          const char *reason, size_t reason_len, void *tag) {
  async_rec_t rec;
  if (conn == 0)
    return UV_EINVAL;
  if (reason == NULL)
    reason_len = 0;
  /* What uvws_conn_close_status() would refuse, refused to the poster. */
  if (code != 0 &&
      (code < 1000 || code > 4999 || !uvws__close_code_valid((unsigned)code)))
    return UVWS_EBADCODE;
  if (reason_len > 123 || !uvws__utf8_is_valid(reason, reason_len))
    return UVWS_EBADREASON;
  memset(&rec, 0, sizeof(rec));
  rec.conn = conn;
  rec.tag = tag;
  rec.len = reason_len;
  rec.op = OP_CLOSE;
  rec.code = (uint16_t)code;
  return post(a, &rec, reason);
}

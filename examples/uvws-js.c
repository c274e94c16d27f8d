/* uvws-js: a small JavaScript runtime whose scripts get the browser's
 * WebSocket, built on uvws, libuv and the Duktape engine.
 *
 *   uvws-js [--ca FILE] SCRIPT [ARG]...
 *
 * Runs SCRIPT (ECMAScript 5.1 as Duktape implements it, plus typed arrays)
 * and then the libuv loop, and exits when the script has nothing left to
 * wait for: no WebSocket that has not yet had its close event, and no
 * pending timer. Exit status: 0; 1 after an uncaught exception (which is
 * printed with its stack, and after which no event is dispatched: sockets
 * are dropped and timers cleared); 2 for a bad command line. --ca gives
 * the CAs (PEM) that wss:// servers are checked against instead of the
 * system's.
 *
 * Globals:
 *  - WebSocket, as in the WHATWG WebSockets standard: new WebSocket(url,
 *    protocols) with protocols a string or an array of strings; the
 *    constants CONNECTING, OPEN, CLOSING, CLOSED on the constructor and
 *    its instances; readyState, bufferedAmount, url, protocol, extensions,
 *    binaryType ("arraybuffer": there are no Blobs here); onopen,
 *    onmessage (event.data a string or an ArrayBuffer), onerror, onclose
 *    (event.code, .reason, .wasClean); send(string | ArrayBuffer | typed
 *    array | DataView) and close(code, reason), with the standard's
 *    exceptions. permessage-deflate is offered, as browsers do.
 *  - DOMException, the class of those exceptions (name, message, code).
 *  - setTimeout(fn, ms, ...args) and clearTimeout(id), on uv timers.
 *  - console.log() and console.error().
 *  - scriptArgs: [SCRIPT, ARG...].
 *
 * How the runtime maps uvws onto the browser's model:
 *
 *  - Every WebSocket object has a js_socket_t, which holds its uvws
 *    connection and what the object must still answer once uvws has
 *    released the connection (readyState, bufferedAmount, url, protocol,
 *    extensions). The object points to it through a hidden property; the
 *    connection points to it through its user pointer.
 *  - Keeping objects alive across callbacks: from the constructor until its
 *    close event, a socket object sits in a table in Duktape's global stash,
 *    keyed by the js_socket_t's address, so a script may drop every
 *    reference to a connecting or open socket and still get its events
 *    (as browsers do). uvws callbacks find the object there. After the
 *    close event the entry is deleted and the object lives as long as the
 *    script keeps it; its finalizer frees the js_socket_t. Timers keep
 *    their function and arguments in the stash the same way.
 *  - Events: each uvws callback (on_open, on_message, on_error, on_close)
 *    becomes one event, dispatched to the object's on<type> handler from
 *    that callback. uvws never calls back from inside a call, so events
 *    never fire inside send() or close(), as the standard requires (it
 *    queues them as tasks). readyState changes when the event that
 *    announces it is dispatched; close() sets CLOSING at once.
 *  - A connection that cannot even start (uvws_connect() failing for a
 *    reason that is not the URL's or a protocol's syntax, which throw
 *    SyntaxError) still fails the browser's way: error and close (1006)
 *    events, from a zero-delay timer, never from the constructor.
 *  - Strings: Duktape keeps strings as ECMAScript sees them, in UTF-16
 *    code units (a character outside the BMP is a surrogate pair, each
 *    half encoded on its own in 3 bytes), while WebSocket text is UTF-8.
 *    Text is converted both ways; lone surrogates become U+FFFD, as the
 *    standard's USVString conversion does.
 *  - The loop ends by itself: once no socket and no timer is left, the
 *    runtime closes its uvws client context, the last handle on the loop.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <duktape.h>

#include "uvws.h"

typedef struct js_socket_s js_socket_t;
typedef struct js_timer_s js_timer_t;

typedef struct {
  uv_loop_t *loop;
  duk_context *ctx;
  /* NULL once closed, when nothing is left to wait for. */
  uvws_client_t *client;
  /* WebSockets from their constructor to their close event. */
  js_socket_t *sockets;
  /* Timers not yet fired or cleared. */
  js_timer_t *timers;
  double next_timer_id;
  /* Set by an uncaught exception: no more events, status 1. */
  int halted;
  int exit_status;
  uvws_deflate_options_t deflate;
} runtime_t;

struct js_socket_s {
  runtime_t *rt;
  /* NULL before uvws_connect() succeeds, after it failed, and from the
   * start of on_close (uvws releases the connection when it returns). */
  uvws_conn_t *conn;
  /* In rt->sockets and the stash until the close event. */
  int live;
  js_socket_t *next, **prev;
  /* readyState as the script sees it. */
  uvws_ready_state_t state;
  /* bufferedAmount: what send() added after the connection closed (the
   * standard counts discarded data too), and what was still queued when
   * uvws released the connection. */
  double discarded;
  size_t buffered_at_close;
  char *url;
  char *protocol;
  char *extensions;
  /* The key of the stash entry. */
  char key[32];
};

struct js_timer_s {
  uv_timer_t handle;
  runtime_t *rt;
  double id;
  js_timer_t *next, **prev;
};

/* Names of the global stash's tables. */
#define STASH_SOCKETS "sockets"
#define STASH_TIMERS "timers"
#define STASH_DOMEXCEPTION_PROTO "DOMException.prototype"
/* The object's hidden link to its js_socket_t. */
#define SOCKET_PTR DUK_HIDDEN_SYMBOL("uvws_socket")

static void maybe_finish(runtime_t *rt);
static void halt(runtime_t *rt);

static runtime_t *get_runtime(duk_context *ctx) {
  duk_memory_functions funcs;
  duk_get_memory_functions(ctx, &funcs);
  return funcs.udata;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) {
    fprintf(stderr, "uvws-js: out of memory\n");
    abort();
  }
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}

/* Close callback of handles allocated on their own (the timers). */
static void free_handle(uv_handle_t *handle) {
  free(handle);
}

/* ------------------------------------------------------------------------ */
/* Strings: UTF-8 to and from Duktape's UTF-16-in-CESU-8                     */

/* Pushes valid UTF-8 (uvws checked it) as a string: each 4-byte sequence
 * becomes a surrogate pair, two 3-byte sequences. */
static void push_utf8(duk_context *ctx, const char *data, size_t len) {
  const unsigned char *in = (const unsigned char *)data;
  unsigned char *out;
  size_t i, extra = 0, o = 0;

  for (i = 0; i < len; i++)
    if (in[i] >= 0xF0)
      extra += 2;
  if (extra == 0) {
    duk_push_lstring(ctx, data, len);
    return;
  }
  out = duk_push_fixed_buffer(ctx, len + extra);
  for (i = 0; i < len;) {
    if (in[i] >= 0xF0 && i + 3 < len) {
      unsigned long cp = ((in[i] & 0x07UL) << 18) |
                         ((in[i + 1] & 0x3FUL) << 12) |
                         ((in[i + 2] & 0x3FUL) << 6) | (in[i + 3] & 0x3FUL);
      unsigned long units[2];
      int k;
      cp -= 0x10000;
      units[0] = 0xD800 + (cp >> 10);
      units[1] = 0xDC00 + (cp & 0x3FF);
      for (k = 0; k < 2; k++) {
        out[o++] = (unsigned char)(0xE0 | (units[k] >> 12));
        out[o++] = (unsigned char)(0x80 | ((units[k] >> 6) & 0x3F));
        out[o++] = (unsigned char)(0x80 | (units[k] & 0x3F));
      }
      i += 4;
    } else {
      out[o++] = in[i++];
    }
  }
  duk_buffer_to_string(ctx, -1);
}

/* Decodes one character of Duktape's extended UTF-8 at p (n bytes left),
 * leniently: a malformed or truncated sequence gives U+FFFD for its first
 * byte. Returns the bytes used. */
static size_t decode_char(const unsigned char *p, size_t n, unsigned long *cp) {
  size_t len, i;
  unsigned long c, min;
  if (p[0] < 0x80) {
    *cp = p[0];
    return 1;
  } else if ((p[0] & 0xE0) == 0xC0) {
    len = 2, c = p[0] & 0x1F, min = 0x80;
  } else if ((p[0] & 0xF0) == 0xE0) {
    len = 3, c = p[0] & 0x0F, min = 0x800;
  } else if ((p[0] & 0xF8) == 0xF0) {
    len = 4, c = p[0] & 0x07, min = 0x10000;
  } else {
    *cp = 0xFFFD;
    return 1;
  }
  if (n < len) {
    *cp = 0xFFFD;
    return 1;
  }
  for (i = 1; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    c = (c << 6) | (p[i] & 0x3F);
  }
  *cp = (c < min || c > 0x10FFFF) ? 0xFFFD : c;
  return len;
}

/* Converts the value at idx to a string and replaces it with its UTF-8
 * bytes (USVString conversion: a surrogate pair becomes one character, a
 * lone surrogate U+FFFD). Returns the bytes, valid while the value stays
 * on the stack. */
static const char *to_utf8(duk_context *ctx, duk_idx_t idx, size_t *len) {
  const unsigned char *in;
  unsigned char *out;
  size_t n, i, o = 0;

  idx = duk_normalize_index(ctx, idx);
  in = (const unsigned char *)duk_to_lstring(ctx, idx, &n);
  for (i = 0; i < n && in[i] < 0x80; i++)
    ;
  if (i == n) {
    *len = n;
    return (const char *)in;
  }
  /* A character never grows by more than 3 times (1 bad byte: 3 bytes). */
  out = duk_push_dynamic_buffer(ctx, n * 3);
  for (i = 0; i < n;) {
    unsigned long cp, lo;
    size_t used = decode_char(in + i, n - i, &cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      size_t used2 =
          i + used < n ? decode_char(in + i + used, n - i - used, &lo) : 0;
      if (used2 > 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        used += used2;
      } else {
        cp = 0xFFFD;
      }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      cp = 0xFFFD;
    }
    i += used;
    if (cp < 0x80) {
      out[o++] = (unsigned char)cp;
    } else if (cp < 0x800) {
      out[o++] = (unsigned char)(0xC0 | (cp >> 6));
      out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out[o++] = (unsigned char)(0xE0 | (cp >> 12));
      out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
      out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
      out[o++] = (unsigned char)(0xF0 | (cp >> 18));
      out[o++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
      out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
      out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
    }
  }
  out = duk_resize_buffer(ctx, -1, o);
  duk_replace(ctx, idx);
  *len = o;
  return (const char *)out;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* Throws a DOMException: an Error whose prototype is DOMException's, with
 * the standard's name and legacy code. */
static duk_ret_t throw_dom(duk_context *ctx, const char *name, const char *fmt,
                           ...) {
  static const struct {
    const char *name;
    int code;
  } codes[] = {{"SyntaxError", 12},
               {"InvalidStateError", 11},
               {"InvalidAccessError", 15},
               {"NotSupportedError", 9}};
  va_list ap;
  size_t i;
  int code = 0;

  va_start(ap, fmt);
  duk_push_error_object_va(ctx, DUK_ERR_ERROR, fmt, ap);
  va_end(ap);
  duk_push_global_stash(ctx);
  duk_get_prop_string(ctx, -1, STASH_DOMEXCEPTION_PROTO);
  duk_set_prototype(ctx, -3);
  duk_pop(ctx);
  duk_push_string(ctx, name);
  duk_put_prop_string(ctx, -2, "name");
  for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
    if (strcmp(codes[i].name, name) == 0)
      code = codes[i].code;
  duk_push_int(ctx, code);
  duk_put_prop_string(ctx, -2, "code");
  return duk_throw(ctx);
}

/* DOMException(message, name), for scripts that make or test for them. */
static duk_ret_t dom_exception(duk_context *ctx) {
  if (!duk_is_constructor_call(ctx))
    return duk_type_error(ctx, "DOMException must be called with new");
  duk_push_this(ctx);
  duk_push_string(ctx, duk_is_undefined(ctx, 0) ? "" : duk_to_string(ctx, 0));
  duk_put_prop_string(ctx, -2, "message");
  duk_push_string(ctx,
                  duk_is_undefined(ctx, 1) ? "Error" : duk_to_string(ctx, 1));
  duk_put_prop_string(ctx, -2, "name");
  duk_push_int(ctx, 0);
  duk_put_prop_string(ctx, -2, "code");
  return 0;
}

/* Prints the uncaught error on top of the stack (popping it) and halts. */
static void report_uncaught(runtime_t *rt) {
  duk_context *ctx = rt->ctx;
  fprintf(stderr, "uvws-js: uncaught %s\n", duk_safe_to_stacktrace(ctx, -1));
  duk_pop(ctx);
  halt(rt);
}

/* ------------------------------------------------------------------------ */
/* Sockets: the stash, events                                                */

static js_socket_t *this_socket(duk_context *ctx) {
  js_socket_t *s;
  duk_push_this(ctx);
  duk_get_prop_string(ctx, -1, SOCKET_PTR);
  s = duk_get_pointer(ctx, -1);
  duk_pop_2(ctx);
  if (s == NULL)
    (void)duk_type_error(ctx, "Illegal invocation");
  return s;
}

/* Pushes the socket's object, from the stash: only live sockets have
 * events. */
static void push_socket(duk_context *ctx, js_socket_t *s) {
  duk_push_global_stash(ctx);
  duk_get_prop_string(ctx, -1, STASH_SOCKETS);
  duk_get_prop_string(ctx, -1, s->key);
  duk_replace(ctx, -3);
  duk_pop(ctx);
}

static void socket_register(runtime_t *rt, js_socket_t *s, duk_idx_t obj) {
  duk_context *ctx = rt->ctx;
  obj = duk_normalize_index(ctx, obj);
  duk_push_global_stash(ctx);
  duk_get_prop_string(ctx, -1, STASH_SOCKETS);
  duk_dup(ctx, obj);
  duk_put_prop_string(ctx, -2, s->key);
  duk_pop_2(ctx);
  s->live = 1;
  s->next = rt->sockets;
  s->prev = &rt->sockets;
  if (rt->sockets != NULL)
    rt->sockets->prev = &s->next;
  rt->sockets = s;
}

/* After the close event: the script alone keeps the object now. */
static void socket_unregister(js_socket_t *s) {
  runtime_t *rt = s->rt;
  duk_context *ctx = rt->ctx;
  if (!s->live)
    return;
  s->live = 0;
  *s->prev = s->next;
  if (s->next != NULL)
    s->next->prev = s->prev;
  duk_push_global_stash(ctx);
  duk_get_prop_string(ctx, -1, STASH_SOCKETS);
  duk_del_prop_string(ctx, -1, s->key);
  duk_pop_2(ctx);
  maybe_finish(rt);
}

/* Pushes a new event object {type, target} for the socket object at obj. */
static void push_event(duk_context *ctx, const char *type, duk_idx_t obj) {
  obj = duk_normalize_index(ctx, obj);
  duk_push_object(ctx);
  duk_push_string(ctx, type);
  duk_put_prop_string(ctx, -2, "type");
  duk_dup(ctx, obj);
  duk_put_prop_string(ctx, -2, "target");
  duk_dup(ctx, obj);
  duk_put_prop_string(ctx, -2, "currentTarget");
}

/* Calls obj["on" + type](event) with obj as this, where the stack ends
 * with [... obj event]; pops both. An exception the handler lets escape is
 * uncaught: it is reported and the runtime halts. */
static void fire(runtime_t *rt, const char *type) {
  duk_context *ctx = rt->ctx;
  char name[32];
  snprintf(name, sizeof(name), "on%s", type);
  duk_get_prop_string(ctx, -2, name);
  if (!duk_is_callable(ctx, -1)) {
    duk_pop_3(ctx);
    return;
  }
  duk_dup(ctx, -3); /* this */
  duk_dup(ctx, -3); /* the event */
  if (duk_pcall_method(ctx, 1) != DUK_EXEC_SUCCESS)
    report_uncaught(rt);
  else
    duk_pop(ctx);
  duk_pop_2(ctx);
}

/* Dispatches an event without fields of its own. */
static void fire_simple(js_socket_t *s, const char *type) {
  duk_context *ctx = s->rt->ctx;
  push_socket(ctx, s);
  push_event(ctx, type, -1);
  fire(s->rt, type);
}

static void fire_close(js_socket_t *s, int code, const char *reason,
                       size_t reason_len, int was_clean) {
  duk_context *ctx = s->rt->ctx;
  push_socket(ctx, s);
  push_event(ctx, "close", -1);
  duk_push_int(ctx, code);
  duk_put_prop_string(ctx, -2, "code");
  push_utf8(ctx, reason, reason_len);
  duk_put_prop_string(ctx, -2, "reason");
  duk_push_boolean(ctx, was_clean);
  duk_put_prop_string(ctx, -2, "wasClean");
  fire(s->rt, "close");
}

/* ------------------------------------------------------------------------ */
/* uvws callbacks: one event each                                            */

static void on_open(uvws_conn_t *conn) {
  js_socket_t *s = uvws_conn_get_data(conn);
  if (s->rt->halted)
    return;
  free(s->protocol);
  free(s->extensions);
  s->protocol = xstrdup(uvws_conn_protocol(conn));
  s->extensions = xstrdup(uvws_conn_extensions(conn));
  s->state = UVWS_OPEN;
  fire_simple(s, "open");
  maybe_finish(s->rt);
}

static void on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  js_socket_t *s = uvws_conn_get_data(conn);
  duk_context *ctx = s->rt->ctx;
  /* The standard drops messages that arrive once close() was called;
   * uvws does not deliver them either. */
  if (s->rt->halted || s->state != UVWS_OPEN)
    return;
  push_socket(ctx, s);
  push_event(ctx, "message", -1);
  if (type == UVWS_TEXT) {
    push_utf8(ctx, data, len);
  } else {
    /* data is valid during this callback only: the ArrayBuffer gets a
     * copy, which the script owns. */
    void *p = duk_push_fixed_buffer(ctx, len);
    if (len > 0)
      memcpy(p, data, len);
    duk_push_buffer_object(ctx, -1, 0, len, DUK_BUFOBJ_ARRAYBUFFER);
    duk_remove(ctx, -2);
  }
  duk_put_prop_string(ctx, -2, "data");
  fire(s->rt, "message");
  maybe_finish(s->rt);
}

static void on_error(uvws_conn_t *conn, int err) {
  js_socket_t *s = uvws_conn_get_data(conn);
  (void)err; /* Browsers give scripts no reason; neither does this. */
  s->state = UVWS_CLOSED;
  if (s->rt->halted)
    return;
  fire_simple(s, "error");
  maybe_finish(s->rt);
}

static void on_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t reason_len, int was_clean) {
  js_socket_t *s = uvws_conn_get_data(conn);
  s->buffered_at_close = uvws_conn_buffered_amount(conn);
  s->conn = NULL;
  s->state = UVWS_CLOSED;
  if (!s->rt->halted)
    fire_close(s, code, reason, reason_len, was_clean);
  socket_unregister(s);
}

/* A connection that uvws_connect() refused for a reason other than syntax
 * fails as a browser's would: error, then close 1006, from the loop. */
static void on_connect_failed(uv_timer_t *t) {
  js_socket_t *s = t->data;
  uv_close((uv_handle_t *)t, free_handle);
  s->state = UVWS_CLOSED;
  if (!s->rt->halted)
    fire_simple(s, "error");
  if (!s->rt->halted)
    fire_close(s, UVWS_CLOSE_ABNORMAL, "", 0, 0);
  socket_unregister(s);
}

/* ------------------------------------------------------------------------ */
/* The WebSocket class                                                       */

/* The URL as the standard's constructor takes it: http and https become
 * ws and wss, other schemes and fragments are SyntaxErrors, and an empty
 * path becomes "/". NULL for those errors; uvws checks the rest. */
static char *normalize_url(const char *in) {
  static const struct {
    const char *given, *used;
  } schemes[] = {
      {"ws", "ws"}, {"wss", "wss"}, {"http", "ws"}, {"https", "wss"}};
  const char *colon = strstr(in, "://"), *rest, *path;
  const char *scheme = NULL;
  size_t i, n;
  char *out;

  if (colon == NULL || strchr(in, '#') != NULL)
    return NULL;
  for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
    n = strlen(schemes[i].given);
    if ((size_t)(colon - in) == n && strncasecmp(in, schemes[i].given, n) == 0)
      scheme = schemes[i].used;
  }
  if (scheme == NULL)
    return NULL;
  rest = colon + 3;
  path = rest + strcspn(rest, "/?");
  n = strlen(scheme) + 3 + strlen(rest) + 2;
  out = xmalloc(n);
  snprintf(out, n, "%s://%.*s%s%s", scheme, (int)(path - rest), rest,
           *path == '/' ? "" : "/", path);
  return out;
}

/* RFC 7230 3.2.6 token, what Sec-WebSocket-Protocol values must be. */
static int is_token(const char *s, size_t len) {
  size_t i;
  if (len == 0)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7F || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
      return 0;
  }
  return 1;
}

/* new WebSocket(url, protocols) */
static duk_ret_t ws_construct(duk_context *ctx) {
  static const char *const handlers[] = {"onopen", "onmessage", "onerror",
                                         "onclose"};
  runtime_t *rt = get_runtime(ctx);
  const char *protocols[64];
  size_t nprot = 0, i, j, len;
  uvws_callbacks_t cbs;
  uvws_connect_options_t copts;
  js_socket_t *s;
  char *url;
  int r;

  if (!duk_is_constructor_call(ctx))
    return duk_type_error(ctx, "WebSocket must be called with new");
  if (duk_get_top(ctx) < 1)
    return duk_type_error(ctx, "WebSocket needs a URL");
  duk_set_top(ctx, 2);

  /* protocols: a string or a sequence of strings, each a token, none
   * twice. Their strings are kept in an array of our own at index 2 while
   * uvws_connect() reads them. */
  if (!duk_is_undefined(ctx, 1) && !duk_is_object(ctx, 1)) {
    duk_push_array(ctx);
    duk_dup(ctx, 1);
    duk_put_prop_index(ctx, -2, 0);
    duk_replace(ctx, 1);
  }
  len = duk_is_undefined(ctx, 1) ? 0 : duk_get_length(ctx, 1);
  if (len >= sizeof(protocols) / sizeof(protocols[0]))
    return throw_dom(ctx, "SyntaxError", "Too many subprotocols.");
  duk_push_array(ctx);
  for (i = 0; i < len; i++) {
    size_t plen;
    const char *p;
    duk_get_prop_index(ctx, 1, (duk_uarridx_t)i);
    p = duk_to_lstring(ctx, -1, &plen);
    duk_put_prop_index(ctx, 2, (duk_uarridx_t)i);
    if (!is_token(p, plen))
      return throw_dom(ctx, "SyntaxError", "The subprotocol '%s' is invalid.",
                       p);
    for (j = 0; j < nprot; j++)
      if (strcmp(protocols[j], p) == 0)
        return throw_dom(ctx, "SyntaxError",
                         "The subprotocol '%s' is duplicated.", p);
    protocols[nprot++] = p;
  }
  protocols[nprot] = NULL;

  url = normalize_url(duk_to_string(ctx, 0));
  if (url == NULL)
    return throw_dom(ctx, "SyntaxError", "The URL '%s' is invalid.",
                     duk_get_string(ctx, 0));

  s = xmalloc(sizeof(*s));
  memset(s, 0, sizeof(*s));
  s->rt = rt;
  s->state = UVWS_CONNECTING;
  s->url = url;
  s->protocol = xstrdup("");
  s->extensions = xstrdup("");
  snprintf(s->key, sizeof(s->key), "%p", (void *)s);

  /* From here the object owns s: its finalizer frees it. */
  duk_push_this(ctx);
  duk_push_pointer(ctx, s);
  duk_put_prop_string(ctx, -2, SOCKET_PTR);
  for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
    duk_push_null(ctx);
    duk_put_prop_string(ctx, -2, handlers[i]);
  }

  memset(&cbs, 0, sizeof(cbs));
  cbs.on_open = on_open;
  cbs.on_message = on_message;
  cbs.on_error = on_error;
  cbs.on_close = on_close;
  memset(&copts, 0, sizeof(copts));
  copts.protocols = nprot > 0 ? protocols : NULL;
  copts.deflate = &rt->deflate;
  r = uvws_connect(rt->client, url, &copts, &cbs, s, &s->conn);
  if (r == UVWS_EBADURL || r == UV_EINVAL) {
    s->conn = NULL;
    return throw_dom(ctx, "SyntaxError", "The URL '%s' is invalid (%s).", url,
                     uvws_strerror(r));
  }
  if (r != 0) {
    uv_timer_t *t = xmalloc(sizeof(*t));
    s->conn = NULL;
    uv_timer_init(rt->loop, t);
    t->data = s;
    uv_timer_start(t, on_connect_failed, 0, 0);
  }
  socket_register(rt, s, -1);
  return 0;
}

/* Frees what the object owned, once nothing can reach it. Also called for
 * the prototype, which has no socket. */
static duk_ret_t ws_finalize(duk_context *ctx) {
  js_socket_t *s;
  duk_get_prop_string(ctx, 0, SOCKET_PTR);
  s = duk_get_pointer(ctx, -1);
  if (s == NULL)
    return 0;
  duk_push_pointer(ctx, NULL);
  duk_put_prop_string(ctx, 0, SOCKET_PTR);
  free(s->url);
  free(s->protocol);
  free(s->extensions);
  free(s);
  return 0;
}

/* send(data) */
static duk_ret_t ws_send(duk_context *ctx) {
  js_socket_t *s = this_socket(ctx);
  uvws_msg_type_t type;
  const char *data;
  size_t len;
  duk_size_t blen;
  int r;

  if (duk_get_top(ctx) < 1)
    return duk_type_error(ctx, "send() needs an argument");
  if (s->state == UVWS_CONNECTING)
    return throw_dom(ctx, "InvalidStateError",
                     "Failed to execute 'send' on 'WebSocket': Still in "
                     "CONNECTING state.");
  if (duk_is_buffer_data(ctx, 0)) {
    /* ArrayBuffer, a typed array or a DataView: the bytes it views. */
    data = duk_get_buffer_data(ctx, 0, &blen);
    len = blen;
    type = UVWS_BINARY;
  } else {
    data = to_utf8(ctx, 0, &len);
    type = UVWS_TEXT;
  }
  /* After close() or the end of the connection the data is discarded, but
   * bufferedAmount still grows by its size. */
  if (s->state != UVWS_OPEN || s->conn == NULL) {
    s->discarded += (double)len;
    return 0;
  }
  r = uvws_conn_send(s->conn, type, data, len); /* copied */
  if (r == UVWS_ESTATE) {
    /* The peer started closing; the close event will follow. */
    s->discarded += (double)len;
  } else if (r != 0) {
    /* What cannot be queued closes the connection (the standard's "flag
     * the WebSocket as full"). */
    s->discarded += (double)len;
    uvws_conn_terminate(s->conn);
  }
  return 0;
}

/* close(code, reason) */
static duk_ret_t ws_close(duk_context *ctx) {
  js_socket_t *s = this_socket(ctx);
  int have_code, have_reason, code = 0;
  const char *reason = NULL;
  size_t reason_len = 0;

  duk_set_top(ctx, 2);
  have_code = !duk_is_undefined(ctx, 0);
  have_reason = !duk_is_undefined(ctx, 1);
  if (have_code) {
    /* WebIDL [Clamp] unsigned short. */
    double d = duk_to_number(ctx, 0);
    if (isnan(d) || d < 0)
      d = 0;
    else if (d > 65535)
      d = 65535;
    code = (int)nearbyint(d);
    if (code != 1000 && (code < 3000 || code > 4999))
      return throw_dom(ctx, "InvalidAccessError",
                       "Failed to execute 'close' on 'WebSocket': The code "
                       "must be either 1000, or between 3000 and 4999. %d "
                       "is neither.",
                       code);
  }
  if (have_reason) {
    reason = to_utf8(ctx, 1, &reason_len);
    if (reason_len > 123)
      return throw_dom(ctx, "SyntaxError",
                       "Failed to execute 'close' on 'WebSocket': The "
                       "message must not be greater than 123 bytes.");
    if (!have_code)
      code = 1000;
  }
  if (s->state == UVWS_CLOSING || s->state == UVWS_CLOSED)
    return 0;
  /* While CONNECTING this fails the connection: uvws aborts the handshake
   * and reports UV_ECANCELED, then 1006, which become error and close. */
  if (s->conn != NULL)
    uvws_conn_close(s->conn, code, reason, reason_len);
  s->state = UVWS_CLOSING;
  return 0;
}

static duk_ret_t ws_get_ready_state(duk_context *ctx) {
  js_socket_t *s = this_socket(ctx);
  uvws_ready_state_t state = s->state;
  /* The peer may have started the closing handshake: the standard's task
   * that announces CLOSING has run by the time a script looks. */
  if (state == UVWS_OPEN && s->conn != NULL &&
      uvws_conn_ready_state(s->conn) == UVWS_CLOSING)
    state = UVWS_CLOSING;
  duk_push_int(ctx, (int)state);
  return 1;
}

static duk_ret_t ws_get_buffered_amount(duk_context *ctx) {
  js_socket_t *s = this_socket(ctx);
  size_t queued = s->conn != NULL ? uvws_conn_buffered_amount(s->conn)
                                  : s->buffered_at_close;
  duk_push_number(ctx, (double)queued + s->discarded);
  return 1;
}

static duk_ret_t ws_get_url(duk_context *ctx) {
  duk_push_string(ctx, this_socket(ctx)->url);
  return 1;
}

static duk_ret_t ws_get_protocol(duk_context *ctx) {
  duk_push_string(ctx, this_socket(ctx)->protocol);
  return 1;
}

static duk_ret_t ws_get_extensions(duk_context *ctx) {
  duk_push_string(ctx, this_socket(ctx)->extensions);
  return 1;
}

static duk_ret_t ws_get_binary_type(duk_context *ctx) {
  (void)this_socket(ctx);
  duk_push_string(ctx, "arraybuffer");
  return 1;
}

/* Only "arraybuffer" exists here. As for any WebIDL enumeration, other
 * strings are ignored; "blob" is refused loudly, since a script that asks
 * for Blobs would not work with ArrayBuffers. */
static duk_ret_t ws_set_binary_type(duk_context *ctx) {
  (void)this_socket(ctx);
  if (strcmp(duk_to_string(ctx, 0), "blob") == 0)
    return throw_dom(ctx, "NotSupportedError",
                     "binaryType 'blob' is not supported: there are no Blobs "
                     "in uvws-js");
  return 0;
}

static void def_getter(duk_context *ctx, duk_idx_t obj, const char *name,
                       duk_c_function getter, duk_c_function setter) {
  duk_uint_t flags = DUK_DEFPROP_HAVE_GETTER | DUK_DEFPROP_SET_ENUMERABLE |
                     DUK_DEFPROP_SET_CONFIGURABLE;
  obj = duk_normalize_index(ctx, obj);
  duk_push_string(ctx, name);
  duk_push_c_function(ctx, getter, 0);
  if (setter != NULL) {
    duk_push_c_function(ctx, setter, 1);
    flags |= DUK_DEFPROP_HAVE_SETTER;
  }
  duk_def_prop(ctx, obj, flags);
}

static void def_constants(duk_context *ctx, duk_idx_t obj) {
  static const struct {
    const char *name;
    int value;
  } states[] = {{"CONNECTING", UVWS_CONNECTING},
                {"OPEN", UVWS_OPEN},
                {"CLOSING", UVWS_CLOSING},
                {"CLOSED", UVWS_CLOSED}};
  size_t i;
  obj = duk_normalize_index(ctx, obj);
  for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
    duk_push_string(ctx, states[i].name);
    duk_push_int(ctx, states[i].value);
    /* Read-only and not configurable, as WebIDL constants are. */
    duk_def_prop(ctx, obj, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_ENUMERABLE);
  }
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */

static void timer_unlink(js_timer_t *t) {
  duk_context *ctx = t->rt->ctx;
  *t->prev = t->next;
  if (t->next != NULL)
    t->next->prev = t->prev;
  uv_close((uv_handle_t *)&t->handle, free_handle);
  duk_push_global_stash(ctx);
  duk_get_prop_string(ctx, -1, STASH_TIMERS);
  duk_push_number(ctx, t->id);
  duk_del_prop(ctx, -2);
  duk_pop_2(ctx);
}

static void on_timer(uv_timer_t *handle) {
  js_timer_t *t = (js_timer_t *)handle;
  runtime_t *rt = t->rt;
  duk_context *ctx = rt->ctx;
  duk_idx_t entry;

  /* [fn, args...] from the stash; then the timer is gone, so that
   * clearTimeout() of its own id inside fn does nothing. */
  duk_push_global_stash(ctx);
  duk_get_prop_string(ctx, -1, STASH_TIMERS);
  duk_push_number(ctx, t->id);
  duk_get_prop(ctx, -2);
  entry = duk_get_top_index(ctx);
  timer_unlink(t);

  if (!rt->halted) {
    duk_idx_t i, n = (duk_idx_t)duk_get_length(ctx, entry);
    duk_get_prop_index(ctx, entry, 0);
    duk_push_undefined(ctx);
    for (i = 1; i < n; i++)
      duk_get_prop_index(ctx, entry, (duk_uarridx_t)i);
    if (duk_pcall_method(ctx, n - 1) != DUK_EXEC_SUCCESS)
      report_uncaught(rt);
    else
      duk_pop(ctx);
  }
  duk_pop_3(ctx);
  maybe_finish(rt);
}

/* setTimeout(fn, ms, ...args) */
static duk_ret_t js_set_timeout(duk_context *ctx) {
  runtime_t *rt = get_runtime(ctx);
  duk_idx_t i, nargs = duk_get_top(ctx);
  double ms = nargs > 1 ? duk_to_number(ctx, 1) : 0;
  js_timer_t *t;

  if (nargs < 1 || !duk_is_callable(ctx, 0))
    return duk_type_error(ctx, "setTimeout needs a function");
  if (isnan(ms) || ms < 0)
    ms = 0;
  if (ms > 2147483647.0)
    ms = 2147483647.0;

  t = xmalloc(sizeof(*t));
  t->rt = rt;
  t->id = ++rt->next_timer_id;
  duk_push_global_stash(ctx);
  duk_get_prop_string(ctx, -1, STASH_TIMERS);
  duk_push_number(ctx, t->id);
  duk_push_array(ctx);
  duk_dup(ctx, 0);
  duk_put_prop_index(ctx, -2, 0);
  for (i = 2; i < nargs; i++) {
    duk_dup(ctx, i);
    duk_put_prop_index(ctx, -2, (duk_uarridx_t)(i - 1));
  }
  duk_put_prop(ctx, -3);
  duk_pop_2(ctx);

  t->next = rt->timers;
  t->prev = &rt->timers;
  if (rt->timers != NULL)
    rt->timers->prev = &t->next;
  rt->timers = t;
  uv_timer_init(rt->loop, &t->handle);
  uv_timer_start(&t->handle, on_timer, (uint64_t)ms, 0);
  duk_push_number(ctx, t->id);
  return 1;
}

/* clearTimeout(id) */
static duk_ret_t js_clear_timeout(duk_context *ctx) {
  runtime_t *rt = get_runtime(ctx);
  double id = duk_to_number(ctx, 0);
  js_timer_t *t;
  for (t = rt->timers; t != NULL; t = t->next) {
    if (t->id == id) {
      timer_unlink(t);
      break;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* console, the globals, the end                                             */

static duk_ret_t console_print(duk_context *ctx, FILE *f) {
  duk_idx_t i, n = duk_get_top(ctx);
  for (i = 0; i < n; i++) {
    size_t len;
    const char *s = to_utf8(ctx, i, &len);
    if (i > 0)
      fputc(' ', f);
    fwrite(s, 1, len, f);
  }
  fputc('\n', f);
  fflush(f);
  return 0;
}

static duk_ret_t console_log(duk_context *ctx) {
  return console_print(ctx, stdout);
}

static duk_ret_t console_error(duk_context *ctx) {
  return console_print(ctx, stderr);
}

static void install_globals(duk_context *ctx, int argc, char **argv) {
  static const duk_function_list_entry console_funcs[] = {
      {"log", console_log, DUK_VARARGS},
      {"error", console_error, DUK_VARARGS},
      {NULL, NULL, 0}};
  static const duk_function_list_entry ws_methods[] = {
      {"send", ws_send, DUK_VARARGS},
      {"close", ws_close, DUK_VARARGS},
      {NULL, NULL, 0}};
  int i;

  duk_push_global_stash(ctx);
  duk_push_object(ctx);
  duk_put_prop_string(ctx, -2, STASH_SOCKETS);
  duk_push_object(ctx);
  duk_put_prop_string(ctx, -2, STASH_TIMERS);

  /* DOMException, its prototype an Error. */
  duk_push_c_function(ctx, dom_exception, 2);
  duk_push_object(ctx);
  duk_get_global_string(ctx, "Error");
  duk_get_prop_string(ctx, -1, "prototype");
  duk_set_prototype(ctx, -3);
  duk_pop(ctx);
  duk_dup(ctx, -2);
  duk_put_prop_string(ctx, -2, "constructor");
  duk_dup(ctx, -1);
  duk_put_prop_string(ctx, -4, STASH_DOMEXCEPTION_PROTO);
  duk_put_prop_string(ctx, -2, "prototype");
  duk_put_global_string(ctx, "DOMException");

  /* WebSocket and its prototype. */
  duk_push_c_function(ctx, ws_construct, DUK_VARARGS);
  def_constants(ctx, -1);
  duk_push_object(ctx);
  def_constants(ctx, -1);
  duk_put_function_list(ctx, -1, ws_methods);
  def_getter(ctx, -1, "readyState", ws_get_ready_state, NULL);
  def_getter(ctx, -1, "bufferedAmount", ws_get_buffered_amount, NULL);
  def_getter(ctx, -1, "url", ws_get_url, NULL);
  def_getter(ctx, -1, "protocol", ws_get_protocol, NULL);
  def_getter(ctx, -1, "extensions", ws_get_extensions, NULL);
  def_getter(ctx, -1, "binaryType", ws_get_binary_type, ws_set_binary_type);
  /* Finalizers are looked up through the prototype chain: one for all. */
  duk_push_c_function(ctx, ws_finalize, 2);
  duk_set_finalizer(ctx, -2);
  duk_dup(ctx, -2);
  duk_put_prop_string(ctx, -2, "constructor");
  duk_put_prop_string(ctx, -2, "prototype");
  duk_put_global_string(ctx, "WebSocket");
  duk_pop(ctx); /* the stash */

  duk_push_c_function(ctx, js_set_timeout, DUK_VARARGS);
  duk_put_global_string(ctx, "setTimeout");
  duk_push_c_function(ctx, js_clear_timeout, 1);
  duk_put_global_string(ctx, "clearTimeout");

  duk_push_object(ctx);
  duk_put_function_list(ctx, -1, console_funcs);
  duk_put_global_string(ctx, "console");

  duk_push_array(ctx);
  for (i = 0; i < argc; i++) {
    duk_push_string(ctx, argv[i]);
    duk_put_prop_index(ctx, -2, (duk_uarridx_t)i);
  }
  duk_put_global_string(ctx, "scriptArgs");
}

/* An uncaught exception: no more events. Sockets are dropped (their
 * on_close still comes, and releases them) and timers cleared, so that the
 * loop ends. */
static void halt(runtime_t *rt) {
  js_socket_t *s;
  rt->exit_status = 1;
  if (rt->halted)
    return;
  rt->halted = 1;
  for (s = rt->sockets; s != NULL; s = s->next)
    if (s->conn != NULL)
      uvws_conn_terminate(s->conn);
  while (rt->timers != NULL)
    timer_unlink(rt->timers);
}

/* Called after the script and after every callback that may have changed
 * what is left: with no socket and no timer, no script code can run again,
 * so the client context, the last thing on the loop, is closed. */
static void maybe_finish(runtime_t *rt) {
  if (rt->sockets == NULL && rt->timers == NULL && rt->client != NULL) {
    uvws_client_close(rt->client, NULL);
    rt->client = NULL;
  }
}

static void fatal(void *udata, const char *msg) {
  (void)udata;
  fprintf(stderr, "uvws-js: fatal Duktape error: %s\n", msg ? msg : "?");
  abort();
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0, got;
  if (f == NULL)
    return NULL;
  do {
    if (cap - n < 4096) {
      cap = cap ? cap * 2 : 65536;
      buf = realloc(buf, cap);
      if (buf == NULL) {
        fclose(f);
        return NULL;
      }
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  if (ferror(f)) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = n;
  return buf;
}

static void usage(void) {
  fprintf(stderr, "usage: uvws-js [--ca FILE] SCRIPT [ARG]...\n");
  exit(2);
}

int main(int argc, char **argv) {
  uvws_client_options_t copts;
  runtime_t rt;
  uv_loop_t loop;
  char *src;
  size_t len;
  int i = 1, r;

  memset(&copts, 0, sizeof(copts));
  if (i + 1 < argc && strcmp(argv[i], "--ca") == 0) {
    copts.tls.ca_file = argv[i + 1];
    i += 2;
  }
  if (i >= argc || argv[i][0] == '-')
    usage();
  src = read_file(argv[i], &len);
  if (src == NULL) {
    fprintf(stderr, "uvws-js: %s: %s\n", argv[i], strerror(errno));
    return 2;
  }
  /* A "#!" line makes scripts executable; it is not ECMAScript. */
  if (len >= 2 && src[0] == '#' && src[1] == '!')
    src[0] = src[1] = '/';

  signal(SIGPIPE, SIG_IGN);
  memset(&rt, 0, sizeof(rt));
  uv_loop_init(&loop);
  rt.loop = &loop;
  r = uvws_client_create(&loop, &copts, &rt.client);
  if (r != 0) {
    fprintf(stderr, "uvws-js: %s\n", uvws_strerror(r));
    free(src);
    return 1;
  }
  rt.ctx = duk_create_heap(NULL, NULL, NULL, &rt, fatal);
  if (rt.ctx == NULL) {
    fprintf(stderr, "uvws-js: cannot create the JavaScript heap\n");
    return 1;
  }
  install_globals(rt.ctx, argc - i, argv + i);

  duk_push_lstring(rt.ctx, src, len);
  duk_push_string(rt.ctx, argv[i]);
  free(src);
  if (duk_pcompile(rt.ctx, 0) != DUK_EXEC_SUCCESS ||
      duk_pcall(rt.ctx, 0) != DUK_EXEC_SUCCESS)
    report_uncaught(&rt);
  else
    duk_pop(rt.ctx);
  maybe_finish(&rt);

  uv_run(&loop, UV_RUN_DEFAULT);

  /* Runs the finalizers of the objects left: they free their sockets. */
  duk_destroy_heap(rt.ctx);
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "uvws-js: handles left on the loop\n");
    return 1;
  }
  return rt.exit_status;
}

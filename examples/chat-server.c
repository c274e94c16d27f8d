/* chat-server: a chat room for browsers. Serves its page over plain HTTP and
 * relays what every tab sends to every other tab over WebSocket.
 *
 *   chat-server [--host H] [--port N] [--root DIR] [--origin ORIGIN]...
 *               [--any-origin] [--redis URL]
 *
 * Defaults: 127.0.0.1, port 8080 (0 picks a free one), the page from
 * examples/chat of the source tree. Open http://H:PORT/ in two tabs.
 *
 *  - GET / (and any other plain HTTP request) is answered from DIR with
 *    uvws_request_serve_file(), through the server's on_http callback.
 *  - /chat is the WebSocket endpoint, a route with its own callbacks. Every
 *    connection gets a name, "guest-N", or the one its URL asks for
 *    (/chat?name=ann: letters, digits, space, '-', '_' and '.', at most
 *    32 bytes), and is subscribed to one topic, "room".
 *  - What is said goes to every subscriber through uvws_server_publish(),
 *    as JSON text messages:
 *      {"type":"welcome","name":"guest-1","online":2}   to the newcomer
 *      {"type":"join","name":"guest-1","online":2}      to the others
 *      {"type":"message","name":"guest-1","text":"hi"}  to everyone
 *      {"type":"binary","name":"guest-1","bytes":1024}  to everyone, then
 *        the binary message itself, relayed as it arrived
 *      {"type":"leave","name":"guest-1","online":1}     to the others
 *  - Only pages from this server may connect: the Origin header must be
 *    http://H:PORT (or http://localhost:PORT when H is 127.0.0.1), or one
 *    given with --origin; --any-origin lifts the check. Others get 403,
 *    which a browser reports as a failed connection (close code 1006).
 *  - A subscriber that falls more than 4 MiB behind is closed with 1008
 *    rather than buffered without bound.
 *  - --redis redis://HOST:PORT shares the room with every other chat-server
 *    started with the same Redis: messages, joins and leaves are published
 *    with uvws_redis_publish() (channel "uvws-chat:room"), so tabs on any of
 *    the servers see each other. Guests are then named "guest-PORT-N" to
 *    tell the servers' guests apart, and "online" counts the members of the
 *    server that sent the notice. While Redis is away the room works on each
 *    server alone; chat-server says so on stderr and reconnects by itself.
 *    A binary message and its announcement are two messages: from another
 *    server they may be separated by this server's own traffic.
 *
 * Prints "chat-server listening on http://H:PORT/" once it listens. SIGINT
 * or SIGTERM closes every connection with 1001 "server shutting down",
 * waits for the closing handshakes, and exits 0. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "uvws.h"

#ifndef UVWS_CHAT_ROOT
#define UVWS_CHAT_ROOT "examples/chat"
#endif

#define CHAT_TOPIC "room"
#define CHAT_NAME_MAX 32
#define CHAT_MAX_ORIGINS 64

static const char shutdown_reason[] = "server shutting down";

typedef struct {
  uvws_server_t *server;
  const char *root;
  /* NULL-terminated; NULL when any origin is allowed. */
  char *origins[CHAT_MAX_ORIGINS + 1];
  int any_origin;
  unsigned long next_guest;
  uv_signal_t sigint, sigterm;
  /* --redis: the room is shared with other chat-servers (NULL without). */
  uvws_redis_t *redis;
  const char *redis_url;
  unsigned long local_only; /* messages published while Redis was away */
} chat_t;

/* One connected user, the connection's data pointer. */
typedef struct {
  char name[CHAT_NAME_MAX + 1];
} member_t;

/* A growing string for JSON messages. */
typedef struct {
  char *s;
  size_t len, cap;
  int failed;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n) {
  if (b->failed)
    return;
  if (b->cap - b->len < n + 1) {
    size_t cap = b->cap ? b->cap : 256;
    char *p;
    while (cap - b->len < n + 1)
      cap *= 2;
    p = realloc(b->s, cap);
    if (p == NULL) {
      b->failed = 1;
      return;
    }
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s) {
  sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf_t *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(tmp)) {
    b->failed = 1;
    return;
  }
  sb_put(b, tmp, (size_t)n);
}

/* Appends s[0..n) as a JSON string (RFC 8259 7): quotes, backslash and
 * control characters escaped, everything else (UTF-8 included) as is. */
static void sb_json_string(sbuf_t *b, const char *s, size_t n) {
  size_t i, run = 0;
  sb_put(b, "\"", 1);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[8];
    if (c == '"')
      esc = "\\\"";
    else if (c == '\\')
      esc = "\\\\";
    else if (c == '\n')
      esc = "\\n";
    else if (c == '\r')
      esc = "\\r";
    else if (c == '\t')
      esc = "\\t";
    else if (c < 0x20) {
      snprintf(u, sizeof(u), "\\u%04x", c);
      esc = u;
    }
    if (esc == NULL) {
      run++;
      continue;
    }
    sb_put(b, s + i - run, run);
    run = 0;
    sb_puts(b, esc);
  }
  sb_put(b, s + n - run, run);
  sb_put(b, "\"", 1);
}

/* {"type":TYPE,"name":NAME, then the caller adds fields and the '}'. */
static void sb_event(sbuf_t *b, const char *type, const char *name) {
  sb_puts(b, "{\"type\":\"");
  sb_puts(b, type);
  sb_puts(b, "\",\"name\":");
  sb_json_string(b, name, strlen(name));
}

/* Publishes to the room: this server's members, and with --redis the
 * other servers' too. */
static void publish(chat_t *chat, uvws_msg_type_t type, const char *data,
                    size_t len) {
  int r;
  if (chat->redis == NULL) {
    r = uvws_server_publish(chat->server, CHAT_TOPIC, type, data, len);
  } else {
    r = uvws_redis_publish(chat->redis, CHAT_TOPIC, type, data, len);
    if (r == UV_ENOTCONN || r == UV_ENOBUFS) {
      /* This server's members have it; the other servers' do not. */
      if (chat->local_only++ == 0)
        fprintf(stderr, "chat-server: redis: %s: messages reach this "
                        "server's members only\n", uvws_strerror(r));
      return;
    }
  }
  if (r < 0)
    fprintf(stderr, "chat-server: publish: %s\n", uvws_strerror(r));
}

static void publish_text(chat_t *chat, sbuf_t *b) {
  if (b->failed)
    fprintf(stderr, "chat-server: out of memory\n");
  else
    publish(chat, UVWS_TEXT, b->s, b->len);
  free(b->s);
  memset(b, 0, sizeof(*b));
}

static int hex_digit(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int name_char_ok(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == ' ' || c == '-' || c == '_' || c == '.';
}

/* The name asked for in the query of target ("/chat?name=ann%20b"),
 * decoded and reduced to the characters of name_char_ok(), at most
 * CHAT_NAME_MAX bytes, without leading or trailing spaces. Empty if there
 * is none. */
static void name_from_target(const char *target, char *out) {
  const char *q = strchr(target, '?'), *p;
  size_t n = 0;
  out[0] = '\0';
  if (q == NULL)
    return;
  for (p = q + 1; *p != '\0';) {
    const char *end = strchr(p, '&');
    if (end == NULL)
      end = p + strlen(p);
    if (strncmp(p, "name=", 5) == 0) {
      for (p += 5; p < end && n < CHAT_NAME_MAX; p++) {
        int c = (unsigned char)*p;
        if (c == '+') {
          c = ' ';
        } else if (c == '%' && end - p >= 3 && hex_digit(p[1]) >= 0 &&
                   hex_digit(p[2]) >= 0) {
          c = hex_digit(p[1]) * 16 + hex_digit(p[2]);
          p += 2;
        }
        if (name_char_ok(c) && !(c == ' ' && n == 0))
          out[n++] = (char)c;
      }
      while (n > 0 && out[n - 1] == ' ')
        n--;
      out[n] = '\0';
      return;
    }
    p = *end ? end + 1 : end;
  }
}

/* Connections subscribed to the room. */
static size_t online(chat_t *chat) {
  return uvws_server_subscribers(chat->server, CHAT_TOPIC);
}

static void on_open(uvws_conn_t *conn) {
  chat_t *chat = uvws_conn_route_data(conn);
  member_t *m = calloc(1, sizeof(*m));
  sbuf_t b = {0};
  int r;

  if (m == NULL) {
    uvws_conn_close(conn, UVWS_CLOSE_TRY_AGAIN_LATER, NULL, 0);
    return;
  }
  name_from_target(uvws_conn_url(conn), m->name);
  if (m->name[0] == '\0' && chat->redis != NULL)
    snprintf(m->name, sizeof(m->name), "guest-%d-%lu",
             uvws_server_port(chat->server), ++chat->next_guest);
  else if (m->name[0] == '\0')
    snprintf(m->name, sizeof(m->name), "guest-%lu", ++chat->next_guest);
  uvws_conn_set_data(conn, m);

  /* The others hear of the newcomer before it is subscribed, so that it
   * gets a welcome rather than its own join. */
  sb_event(&b, "join", m->name);
  sb_printf(&b, ",\"online\":%zu}", online(chat) + 1);
  publish_text(chat, &b);

  r = uvws_conn_subscribe(conn, CHAT_TOPIC);
  if (r != 0) {
    fprintf(stderr, "chat-server: subscribe: %s\n", uvws_strerror(r));
    uvws_conn_close(conn, UVWS_CLOSE_INTERNAL_ERROR, NULL, 0);
    return;
  }
  sb_event(&b, "welcome", m->name);
  sb_printf(&b, ",\"online\":%zu}", online(chat));
  if (!b.failed)
    uvws_conn_send_text(conn, b.s, b.len);
  free(b.s);
  printf("chat-server: %s joined\n", m->name);
  fflush(stdout);
}

static void on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  chat_t *chat = uvws_conn_route_data(conn);
  member_t *m = uvws_conn_get_data(conn);
  sbuf_t b = {0};

  if (m == NULL)
    return;
  if (type == UVWS_TEXT) {
    sb_event(&b, "message", m->name);
    sb_puts(&b, ",\"text\":");
    sb_json_string(&b, data, len);
    sb_puts(&b, "}");
    publish_text(chat, &b);
    return;
  }
  /* Binary messages go on as they came, announced by a text message that
   * says who sent them. */
  sb_event(&b, "binary", m->name);
  sb_printf(&b, ",\"bytes\":%zu}", len);
  publish_text(chat, &b);
  publish(chat, UVWS_BINARY, data, len);
}

static void on_error(uvws_conn_t *conn, int err) {
  member_t *m = uvws_conn_get_data(conn);
  fprintf(stderr, "chat-server: %s: connection failed: %s\n",
          m ? m->name : "(not open)", uvws_strerror(err));
}

static void on_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t reason_len, int was_clean) {
  chat_t *chat = uvws_conn_route_data(conn);
  member_t *m = uvws_conn_get_data(conn);
  sbuf_t b = {0};

  if (m == NULL)
    return;
  printf("chat-server: %s left (%d \"%.*s\"%s)\n", m->name, code,
         (int)reason_len, reason, was_clean ? "" : ", not clean");
  fflush(stdout);
  /* The subscription ends with the connection; ending it here keeps it out
   * of the count. UV_ENOENT if uvws ended it already. */
  uvws_conn_unsubscribe(conn, CHAT_TOPIC);
  sb_event(&b, "leave", m->name);
  sb_printf(&b, ",\"online\":%zu}", online(chat));
  publish_text(chat, &b);
  uvws_conn_set_data(conn, NULL);
  free(m);
}

/* The route's upgrade hook: only pages from the allowed origins.
 *
 * The check is made here rather than with the server's allowed_origins
 * option because this server's own origin contains its port, which with
 * --port 0 is known only after uvws_server_listen(), while the options are
 * fixed at uvws_server_create(). */
static int on_upgrade(uvws_server_t *server, uvws_request_t *req) {
  chat_t *chat = uvws_request_route_data(req);
  const char *origin = uvws_request_header(req, "Origin");
  size_t i;
  (void)server;
  if (chat->any_origin)
    return 0;
  if (origin != NULL)
    for (i = 0; chat->origins[i] != NULL; i++)
      if (strcasecmp(origin, chat->origins[i]) == 0)
        return 0;
  fprintf(stderr, "chat-server: refused an upgrade from origin %s\n",
          origin ? origin : "(none)");
  return 403;
}

static void on_http(uvws_server_t *server, uvws_request_t *req) {
  chat_t *chat = uvws_server_get_data(server);
  int r = uvws_request_serve_file(req, chat->root);
  if (r != 0) {
    static const char msg[] = "cannot serve files\n";
    fprintf(stderr, "chat-server: %s: %s\n", chat->root, uvws_strerror(r));
    uvws_request_respond(req, 500, "text/plain; charset=utf-8", msg,
                         sizeof(msg) - 1);
  }
}

static void on_redis_connect(uvws_redis_t *redis) {
  chat_t *chat = uvws_redis_get_data(redis);
  printf("chat-server: redis: connected to %s\n", chat->redis_url);
  fflush(stdout);
  if (chat->local_only > 0)
    fprintf(stderr, "chat-server: redis: %lu messages of the outage reached "
                    "this server's members only\n", chat->local_only);
  chat->local_only = 0;
}

static void on_redis_disconnect(uvws_redis_t *redis, int err,
                                unsigned retry_ms) {
  chat_t *chat = uvws_redis_get_data(redis);
  fprintf(stderr, "chat-server: redis: %s: %s; trying again in %u ms\n",
          chat->redis_url, uvws_strerror(err), retry_ms);
}

static void on_redis_undelivered(uvws_redis_t *redis, size_t count, int err) {
  (void)redis;
  fprintf(stderr, "chat-server: redis: %zu messages may not have reached "
                  "the other servers: %s\n", count, uvws_strerror(err));
}

/* After the graceful shutdown (the leave notices of the last members
 * included): the backend sends what is left and closes. */
static void on_shutdown(uvws_server_t *server) {
  chat_t *chat = uvws_server_get_data(server);
  if (chat->redis != NULL)
    uvws_redis_close(chat->redis, NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
  chat_t *chat = s->data;
  int r;
  (void)signum;
  fprintf(stderr, "chat-server: shutting down\n");
  r = uvws_server_shutdown(chat->server, UVWS_CLOSE_GOING_AWAY, shutdown_reason,
                           sizeof(shutdown_reason) - 1, 0, on_shutdown);
  if (r != 0)
    fprintf(stderr, "chat-server: shutdown: %s\n", uvws_strerror(r));
  /* Closing the handles restores the default action: a second signal ends
   * the process at once. */
  uv_close((uv_handle_t *)&chat->sigint, NULL);
  uv_close((uv_handle_t *)&chat->sigterm, NULL);
}

static int add_origin(chat_t *chat, size_t *n, const char *fmt,
                      const char *host, int port) {
  char buf[300];
  if (*n >= CHAT_MAX_ORIGINS)
    return -1;
  snprintf(buf, sizeof(buf), fmt, host, port);
  chat->origins[*n] = strdup(buf);
  if (chat->origins[*n] == NULL)
    return -1;
  (*n)++;
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: chat-server [--host H] [--port N] [--root DIR]"
                  " [--origin ORIGIN]... [--any-origin] [--redis URL]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  const char *extra[CHAT_MAX_ORIGINS];
  size_t nextra = 0, norigins = 0, i;
  int port = 8080, r, ipv6;
  chat_t chat;
  uvws_server_options_t opts;
  uvws_route_t route;
  uv_loop_t *loop = uv_default_loop();

  memset(&chat, 0, sizeof(chat));
  chat.root = UVWS_CHAT_ROOT;
  for (i = 1; i < (size_t)argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < (size_t)argc)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < (size_t)argc)
      port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--root") == 0 && i + 1 < (size_t)argc)
      chat.root = argv[++i];
    else if (strcmp(argv[i], "--origin") == 0 && i + 1 < (size_t)argc &&
             nextra < CHAT_MAX_ORIGINS - 2)
      extra[nextra++] = argv[++i];
    else if (strcmp(argv[i], "--any-origin") == 0)
      chat.any_origin = 1;
    else if (strcmp(argv[i], "--redis") == 0 && i + 1 < (size_t)argc)
      chat.redis_url = argv[++i];
    else
      usage();
  }
  if (port < 0 || port > 65535)
    usage();

  memset(&opts, 0, sizeof(opts));
  opts.on_http = on_http;
  /* Chat lines are short; a binary message may be up to 1 MiB. */
  opts.limits.max_message_size = 1024 * 1024;
  opts.publish_policy = UVWS_SLOW_CLOSE;

  signal(SIGPIPE, SIG_IGN);
  r = uvws_server_create(loop, &opts, &chat.server);
  if (r != 0) {
    fprintf(stderr, "chat-server: %s\n", uvws_strerror(r));
    return 1;
  }
  uvws_server_set_data(chat.server, &chat);

  memset(&route, 0, sizeof(route));
  route.callbacks.on_open = on_open;
  route.callbacks.on_message = on_message;
  route.callbacks.on_error = on_error;
  route.callbacks.on_close = on_close;
  route.on_upgrade = on_upgrade;
  route.data = &chat;
  r = uvws_server_route(chat.server, "/chat", &route);
  if (r == 0)
    r = uvws_server_listen(chat.server, host, port, 0);
  if (r != 0) {
    fprintf(stderr, "chat-server: cannot listen on %s:%d: %s\n", host, port,
            uvws_strerror(r));
    return 1;
  }
  port = uvws_server_port(chat.server);

  if (chat.redis_url != NULL) {
    uvws_redis_options_t ropts;
    memset(&ropts, 0, sizeof(ropts));
    ropts.prefix = "uvws-chat:";
    ropts.on_connect = on_redis_connect;
    ropts.on_disconnect = on_redis_disconnect;
    ropts.on_undelivered = on_redis_undelivered;
    r = uvws_redis_create(chat.server, chat.redis_url, &ropts, &chat.redis);
    if (r != 0) {
      fprintf(stderr, "chat-server: --redis %s: %s%s\n", chat.redis_url,
              uvws_strerror(r),
              r == UV_ENOTSUP ? " (redis:// URLs only, and uvws built with "
                                "hiredis)"
                              : "");
      return 1;
    }
    uvws_redis_set_data(chat.redis, &chat);
    printf("chat-server: redis: connecting to %s\n", chat.redis_url);
    fflush(stdout);
  }

  /* The server's own origins, now that the port is known. */
  ipv6 = strchr(host, ':') != NULL;
  r = add_origin(&chat, &norigins, ipv6 ? "http://[%s]:%d" : "http://%s:%d",
                 host, port);
  if (r == 0 && strcmp(host, "127.0.0.1") == 0)
    r = add_origin(&chat, &norigins, "http://%s:%d", "localhost", port);
  for (i = 0; r == 0 && i < nextra; i++) {
    chat.origins[norigins] = strdup(extra[i]);
    r = chat.origins[norigins] ? 0 : -1;
    norigins++;
  }
  if (r != 0) {
    fprintf(stderr, "chat-server: out of memory\n");
    return 1;
  }

  printf(ipv6 ? "chat-server listening on http://[%s]:%d/\n"
              : "chat-server listening on http://%s:%d/\n",
         host, port);
  if (chat.any_origin) {
    printf("chat-server: accepting WebSocket connections from any origin\n");
  } else {
    printf("chat-server: accepting WebSocket connections from");
    for (i = 0; chat.origins[i] != NULL; i++)
      printf(" %s", chat.origins[i]);
    printf("\n");
  }
  fflush(stdout);

  uv_signal_init(loop, &chat.sigint);
  uv_signal_init(loop, &chat.sigterm);
  chat.sigint.data = chat.sigterm.data = &chat;
  uv_signal_start(&chat.sigint, on_signal, SIGINT);
  uv_signal_start(&chat.sigterm, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  for (i = 0; chat.origins[i] != NULL; i++)
    free(chat.origins[i]);
  printf("chat-server: stopped\n");
  return 0;
}

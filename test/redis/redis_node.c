/* redis-node: a uvws server sharing its topics through Redis, for the
 * scale-out tests and the Redis fan-out benchmark.
 *
 *   redis-node --port N --redis URL [--prefix P] [--no-redis]
 *
 * WebSocket endpoints (any topic name after the second '/'):
 *   /sub/TOPIC   the connection is subscribed to TOPIC; what it sends is
 *                ignored.
 *   /pub/TOPIC   every message the connection sends is published on TOPIC
 *                with uvws_redis_publish() (uvws_server_publish() with
 *                --no-redis), and answered with a text message
 *                "ack RESULT", RESULT being 0 or the error's name
 *                ("ENOTCONN"...).
 *   /pubq/TOPIC  the same without the answer, for load.
 *
 * Lines on stdout, for the test driver:
 *   ready PORT                      listening
 *   redis up                        on_connect
 *   redis down ERRNAME RETRY_MS     on_disconnect
 *   redis undelivered N ERRNAME     on_undelivered
 *   stopped                         after SIGTERM or SIGINT closed
 *                                   everything; the process then exits 0
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvws.h"

typedef struct {
  uvws_server_t *server;
  uvws_redis_t *redis; /* NULL with --no-redis */
  uv_signal_t sigint, sigterm;
} node_t;

/* A connection's role, from its path. */
typedef struct {
  int publish; /* 0: subscriber, 1: publisher with answers, 2: without */
  char topic[256];
} peer_t;

static node_t node;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static const char *err_name(int err) {
  return err == 0 ? "0" : uvws_err_name(err);
}

static int on_upgrade(uvws_server_t *server, uvws_request_t *req) {
  const char *path = uvws_request_path(req);
  peer_t *p;
  const char *topic;
  int publish;
  (void)server;

  if (strncmp(path, "/sub/", 5) == 0) {
    publish = 0;
    topic = path + 5;
  } else if (strncmp(path, "/pub/", 5) == 0) {
    publish = 1;
    topic = path + 5;
  } else if (strncmp(path, "/pubq/", 6) == 0) {
    publish = 2;
    topic = path + 6;
  } else {
    return 404;
  }
  if (topic[0] == '\0' || strlen(topic) >= sizeof(p->topic))
    return 400;
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    return 503;
  p->publish = publish;
  strcpy(p->topic, topic);
  uvws_request_set_data(req, p);
  return 0;
}

static void on_open(uvws_conn_t *conn) {
  peer_t *p = uvws_conn_get_data(conn);
  int r;
  if (p->publish)
    return;
  r = uvws_conn_subscribe(conn, p->topic);
  if (r != 0) {
    fprintf(stderr, "redis-node: subscribe: %s\n", uvws_strerror(r));
    uvws_conn_close(conn, 1011, NULL, 0);
  }
}

static void on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  peer_t *p = uvws_conn_get_data(conn);
  char ack[64];
  int r;
  if (!p->publish)
    return;
  if (node.redis != NULL)
    r = uvws_redis_publish(node.redis, p->topic, type, data, len);
  else
    r = uvws_server_publish(node.server, p->topic, type, data, len);
  if (r > 0)
    r = 0; /* uvws_server_publish(): a count */
  if (p->publish == 1) {
    snprintf(ack, sizeof(ack), "ack %s", err_name(r));
    uvws_conn_send_text(conn, ack, strlen(ack));
  }
}

static void on_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t reason_len, int was_clean) {
  (void)code;
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  free(uvws_conn_get_data(conn));
}

static void on_redis_connect(uvws_redis_t *redis) {
  (void)redis;
  say("redis up");
}

static void on_redis_disconnect(uvws_redis_t *redis, int err,
                                unsigned retry_ms) {
  (void)redis;
  say("redis down %s %u", err_name(err), retry_ms);
}

static void on_redis_undelivered(uvws_redis_t *redis, size_t count, int err) {
  (void)redis;
  say("redis undelivered %zu %s", count, err_name(err));
}

static void on_server_closed(uvws_server_t *server) {
  (void)server;
}

static void on_redis_closed(uvws_redis_t *redis) {
  (void)redis;
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  (void)s;
  /* The backend first: once closed it no longer uses the server. */
  if (node.redis != NULL)
    uvws_redis_close(node.redis, on_redis_closed);
  uvws_server_close(node.server, on_server_closed);
  uv_close((uv_handle_t *)&node.sigint, NULL);
  uv_close((uv_handle_t *)&node.sigterm, NULL);
}

static void usage(void) {
  fprintf(stderr, "usage: redis-node --port N (--redis URL [--prefix P] | "
                  "--no-redis)\n");
  exit(2);
}

int main(int argc, char **argv) {
  uv_loop_t *loop = uv_default_loop();
  uvws_server_options_t opts;
  uvws_redis_options_t ropts;
  const char *url = NULL;
  int port = 0, no_redis = 0, r, i;

  memset(&ropts, 0, sizeof(ropts));
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc)
      url = argv[++i];
    else if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
      ropts.prefix = argv[++i];
    else if (strcmp(argv[i], "--no-redis") == 0)
      no_redis = 1;
    else
      usage();
  }
  if ((url == NULL) == !no_redis)
    usage();

  signal(SIGPIPE, SIG_IGN);
  memset(&opts, 0, sizeof(opts));
  opts.on_upgrade = on_upgrade;
  opts.callbacks.on_open = on_open;
  opts.callbacks.on_message = on_message;
  opts.callbacks.on_close = on_close;
  /* The benchmark fills subscribers faster than a slow one drains. */
  opts.publish_limit = 64u * 1024 * 1024;
  r = uvws_server_create(loop, &opts, &node.server);
  if (r == 0)
    r = uvws_server_listen(node.server, "127.0.0.1", port, 0);
  if (r != 0) {
    fprintf(stderr, "redis-node: listen on %d: %s\n", port, uvws_strerror(r));
    return 1;
  }
  if (!no_redis) {
    ropts.on_connect = on_redis_connect;
    ropts.on_disconnect = on_redis_disconnect;
    ropts.on_undelivered = on_redis_undelivered;
    /* Tests restart Redis: come back quickly. */
    ropts.reconnect_min_ms = 50;
    ropts.reconnect_max_ms = 400;
    r = uvws_redis_create(node.server, url, &ropts, &node.redis);
    if (r != 0) {
      fprintf(stderr, "redis-node: %s: %s\n", url, uvws_strerror(r));
      return 1;
    }
  }
  uv_signal_init(loop, &node.sigint);
  uv_signal_init(loop, &node.sigterm);
  uv_signal_start(&node.sigint, on_signal, SIGINT);
  uv_signal_start(&node.sigterm, on_signal, SIGTERM);
  say("ready %d", uvws_server_port(node.server));
  uv_run(loop, UV_RUN_DEFAULT);
  r = uv_loop_close(loop);
  say("stopped");
  return r == 0 ? 0 : 1;
}

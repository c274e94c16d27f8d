/* fanout: fan-out throughput and latency of uvws publish/subscribe, through
 * one server or through Redis to subscribers on several servers.
 *
 *   fanout --pub PORT --sub PORT[,PORT...] [--subs N] [--messages M]
 *          [--size B] [--window W] [--label TEXT]
 *
 * Connects N subscribers (default 100) to ws://127.0.0.1:PORT/sub/bench,
 * spread evenly over the --sub ports, and one publisher to
 * ws://127.0.0.1:PUB/pubq/bench (test/redis/redis_node.c serves both: it
 * publishes what the publisher sends with uvws_redis_publish(), or with
 * uvws_server_publish() when it runs with --no-redis). Then it publishes M
 * binary messages of B bytes (default 20000 of 64), at most W (default
 * 64) of them in flight: published but not yet received by every
 * subscriber. Each message carries its sequence number and uv_hrtime() at
 * sending (CLOCK_MONOTONIC, the same clock in every process of this
 * machine), so every delivery gives a latency.
 *
 * Checks, on every delivery: each subscriber gets every message exactly
 * once and in order. Prints one line of JSON:
 *
 *   {"label":..., "subscribers":N, "servers":K, "messages":M, "size":B,
 *    "window":W, "seconds":S, "msgs_per_s":..., "deliveries_per_s":...,
 *    "latency_us":{"p50":..,"p99":..,"max":..},
 *    "latency_us_by_server":[{"port":P,"p50":..,"p99":..}, ...]}
 *
 * Exit 0, or 1 when something went wrong (a lost, duplicate or reordered
 * message, a connection that failed, no progress for 10 s). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvws.h"

#define MAX_PORTS 8
#define HDR 16 /* sequence number, then the sending time */

typedef struct {
  uvws_conn_t *conn;
  int group; /* index of its server's port */
  uint64_t next;
  int open;
} sub_t;

static struct {
  uv_loop_t *loop;
  uvws_client_t *client;
  int pub_port, sub_ports[MAX_PORTS], nports;
  int nsubs;
  uint64_t messages, window;
  size_t size;
  const char *label;

  sub_t *subs;
  int subs_open;
  uvws_conn_t *pub;
  int pub_open;
  char *payload;

  uint64_t sent, completed;
  uint32_t *counts; /* deliveries of each message */
  uint64_t t_start, t_end, last_progress;
  /* latencies in ns, per server group */
  uint64_t *lat[MAX_PORTS];
  size_t nlat[MAX_PORTS];
  uv_timer_t watchdog;
  int failed, done;
} B;

static void die(const char *fmt, const char *arg) {
  fprintf(stderr, "fanout: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  B.failed = 1;
  uv_stop(B.loop);
}

static void put64(char *p, uint64_t v) {
  int i;
  for (i = 0; i < 8; i++)
    p[i] = (char)(v >> (8 * i));
}

static uint64_t get64(const char *p) {
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--)
    v = (v << 8) | (unsigned char)p[i];
  return v;
}

static void pump(void) {
  while (B.sent < B.messages && B.sent - B.completed < B.window) {
    int r;
    put64(B.payload, B.sent);
    put64(B.payload + 8, uv_hrtime());
    r = uvws_conn_send_binary(B.pub, B.payload, B.size);
    if (r != 0) {
      die("publish: %s", uvws_strerror(r));
      return;
    }
    B.sent++;
  }
}

static void start_if_ready(void) {
  if (!B.pub_open || B.subs_open < B.nsubs || B.t_start)
    return;
  B.t_start = B.last_progress = uv_hrtime();
  pump();
}

static void finish(void) {
  int i;
  B.t_end = uv_hrtime();
  B.done = 1;
  for (i = 0; i < B.nsubs; i++)
    uvws_conn_close(B.subs[i].conn, 1000, NULL, 0);
  uvws_conn_close(B.pub, 1000, NULL, 0);
  uv_timer_stop(&B.watchdog);
}

static void sub_message(uvws_conn_t *conn, uvws_msg_type_t type,
                        const char *data, size_t len) {
  sub_t *s = uvws_conn_get_data(conn);
  uint64_t seq, t;
  (void)type;
  if (len < HDR) {
    die("%s", "a message shorter than its header");
    return;
  }
  seq = get64(data);
  t = get64(data + 8);
  if (seq != s->next) {
    fprintf(stderr, "fanout: subscriber got message %" PRIu64
                    ", expected %" PRIu64 "\n",
            seq, s->next);
    die("%s", "lost, duplicate or reordered message");
    return;
  }
  s->next++;
  B.lat[s->group][B.nlat[s->group]++] = uv_hrtime() - t;
  if (++B.counts[seq] == (uint32_t)B.nsubs) {
    B.completed++;
    B.last_progress = uv_hrtime();
    if (B.completed == B.messages)
      finish();
    else
      pump();
  }
}

static void sub_open(uvws_conn_t *conn) {
  sub_t *s = uvws_conn_get_data(conn);
  s->open = 1;
  B.subs_open++;
  start_if_ready();
}

static void pub_open(uvws_conn_t *conn) {
  (void)conn;
  B.pub_open = 1;
  start_if_ready();
}

static void on_error(uvws_conn_t *conn, int err) {
  (void)conn;
  if (!B.done)
    die("connection failed: %s", uvws_strerror(err));
}

static void on_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t reason_len, int was_clean) {
  (void)conn;
  (void)code;
  (void)reason;
  (void)reason_len;
  (void)was_clean;
  if (!B.done)
    die("%s", "a connection closed before the end");
}

static void watchdog(uv_timer_t *t) {
  (void)t;
  if (uv_hrtime() - B.last_progress > 10000000000ull)
    die("%s", "no progress for 10 s");
}

static int cmp64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p) {
  size_t i;
  if (n == 0)
    return 0;
  i = (size_t)(p * (double)(n - 1) + 0.5);
  return (double)v[i] / 1000.0;
}

static void usage(void) {
  fprintf(stderr, "usage: fanout --pub PORT --sub PORT[,PORT...] [--subs N]"
                  " [--messages M] [--size B] [--window W] [--label TEXT]\n");
  exit(2);
}

int main(int argc, char **argv) {
  uvws_callbacks_t scb, pcb;
  uvws_client_options_t copts;
  char url[128];
  uint64_t *all;
  size_t nall = 0;
  double secs;
  int i, r;

  B.nsubs = 100;
  B.messages = 20000;
  B.size = 64;
  B.window = 64;
  B.label = "fanout";
  for (i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL)
      usage();
    if (strcmp(argv[i], "--pub") == 0) {
      B.pub_port = atoi(v);
    } else if (strcmp(argv[i], "--sub") == 0) {
      char *copy = strdup(v), *tok, *save = NULL;
      for (tok = strtok_r(copy, ",", &save); tok && B.nports < MAX_PORTS;
           tok = strtok_r(NULL, ",", &save))
        B.sub_ports[B.nports++] = atoi(tok);
      free(copy);
    } else if (strcmp(argv[i], "--subs") == 0) {
      B.nsubs = atoi(v);
    } else if (strcmp(argv[i], "--messages") == 0) {
      B.messages = strtoull(v, NULL, 10);
    } else if (strcmp(argv[i], "--size") == 0) {
      B.size = strtoul(v, NULL, 10);
    } else if (strcmp(argv[i], "--window") == 0) {
      B.window = strtoull(v, NULL, 10);
    } else if (strcmp(argv[i], "--label") == 0) {
      B.label = v;
    } else {
      usage();
    }
    i++;
  }
  if (B.pub_port <= 0 || B.nports == 0 || B.nsubs <= 0 || B.messages == 0 ||
      B.size < HDR || B.window == 0)
    usage();

  signal(SIGPIPE, SIG_IGN);
  B.loop = uv_default_loop();
  B.subs = calloc((size_t)B.nsubs, sizeof(*B.subs));
  B.counts = calloc(B.messages, sizeof(*B.counts));
  B.payload = calloc(1, B.size);
  for (i = 0; i < B.nports; i++)
    B.lat[i] = malloc(sizeof(uint64_t) * B.messages *
                      (size_t)((B.nsubs + B.nports - 1) / B.nports));
  if (B.subs == NULL || B.counts == NULL || B.payload == NULL)
    return 1;
  memset(B.payload, 'x', B.size);

  memset(&copts, 0, sizeof(copts));
  copts.limits.max_message_size = B.size + 1024;
  r = uvws_client_create(B.loop, &copts, &B.client);
  if (r != 0)
    return 1;
  memset(&scb, 0, sizeof(scb));
  scb.on_open = sub_open;
  scb.on_message = sub_message;
  scb.on_error = on_error;
  scb.on_close = on_close;
  pcb = scb;
  pcb.on_open = pub_open;
  pcb.on_message = NULL;
  for (i = 0; i < B.nsubs; i++) {
    B.subs[i].group = i % B.nports;
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/sub/bench",
             B.sub_ports[B.subs[i].group]);
    r = uvws_connect(B.client, url, NULL, &scb, &B.subs[i], &B.subs[i].conn);
    if (r != 0) {
      fprintf(stderr, "fanout: %s: %s\n", url, uvws_strerror(r));
      return 1;
    }
  }
  /* The publisher last, so the subscriptions are in place first (the
   * servers subscribe a connection when it opens, which start_if_ready()
   * waits for). */
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/pubq/bench", B.pub_port);
  r = uvws_connect(B.client, url, NULL, &pcb, NULL, &B.pub);
  if (r != 0)
    return 1;
  uv_timer_init(B.loop, &B.watchdog);
  B.last_progress = uv_hrtime();
  uv_timer_start(&B.watchdog, watchdog, 1000, 1000);
  uv_run(B.loop, UV_RUN_DEFAULT);
  if (B.failed || !B.done)
    return 1;

  secs = (double)(B.t_end - B.t_start) / 1e9;
  printf("{\"label\":\"%s\",\"subscribers\":%d,\"servers\":%d,"
         "\"messages\":%" PRIu64 ",\"size\":%zu,\"window\":%" PRIu64 ","
         "\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"deliveries_per_s\":%.0f,",
         B.label, B.nsubs, B.nports, B.messages, B.size, B.window, secs,
         (double)B.messages / secs,
         (double)B.messages * (double)B.nsubs / secs);
  for (i = 0; i < B.nports; i++)
    nall += B.nlat[i];
  all = malloc(sizeof(*all) * nall);
  nall = 0;
  for (i = 0; i < B.nports; i++) {
    memcpy(all + nall, B.lat[i], sizeof(*all) * B.nlat[i]);
    nall += B.nlat[i];
    qsort(B.lat[i], B.nlat[i], sizeof(uint64_t), cmp64);
  }
  qsort(all, nall, sizeof(uint64_t), cmp64);
  printf("\"latency_us\":{\"p50\":%.0f,\"p99\":%.0f,\"max\":%.0f},",
         pct(all, nall, 0.5), pct(all, nall, 0.99), pct(all, nall, 1.0));
  printf("\"latency_us_by_server\":[");
  for (i = 0; i < B.nports; i++)
    printf("%s{\"port\":%d,\"p50\":%.0f,\"p99\":%.0f}", i ? "," : "",
           B.sub_ports[i], pct(B.lat[i], B.nlat[i], 0.5),
           pct(B.lat[i], B.nlat[i], 0.99));
  printf("]}\n");
  free(all);
  uvws_client_close(B.client, NULL);
  uv_close((uv_handle_t *)&B.watchdog, NULL);
  uv_run(B.loop, UV_RUN_DEFAULT);
  for (i = 0; i < B.nports; i++)
    free(B.lat[i]);
  free(B.subs);
  free(B.counts);
  free(B.payload);
  return 0;
}

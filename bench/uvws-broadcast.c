/* uvws-broadcast: the broadcast benchmark server of uvws.
 *
 *   uvws-broadcast [--host H] [--port N]
 *
 * Every WebSocket connection subscribes to one topic. A text message
 * "publish SIZE ROUND" from any of them publishes one binary message of
 * SIZE bytes to every subscriber with uvws_server_publish(): its first 8
 * bytes are uv_hrtime() read just before the call (little-endian
 * nanoseconds, CLOCK_MONOTONIC, which the load generator on the same
 * machine reads too), the next 4 are ROUND. The asking connection then
 * gets a text message with what the server saw:
 *
 *   "stats ROUND SUBSCRIBERS CALL_NS RSS_BEFORE_KB RSS_AFTER_KB"
 *
 * CALL_NS is the time spent inside uvws_server_publish(); the RSS figures
 * are the process's VmRSS right before and right after that call. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvws.h"

#define TOPIC "bench"

static uvws_server_t *server;
static uv_signal_t sigint, sigterm;
static char *payload;
static size_t payload_cap;

static long rss_kb(void) {
  char line[256];
  long v = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      v = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

static void on_open(uvws_conn_t *conn) {
  int r = uvws_conn_subscribe(conn, TOPIC);
  if (r != 0)
    fprintf(stderr, "uvws-broadcast: subscribe: %s\n", uvws_strerror(r));
}

static void on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  char cmd[64], stats[160];
  unsigned long size;
  unsigned round;
  long rss0, rss1;
  uint64_t t0, t1;
  int n, i;

  if (type != UVWS_TEXT || len >= sizeof(cmd))
    return;
  memcpy(cmd, data, len);
  cmd[len] = 0;
  if (sscanf(cmd, "publish %lu %u", &size, &round) != 2 || size < 12)
    return;
  if (size > payload_cap) {
    free(payload);
    payload = malloc(size);
    payload_cap = size;
    memset(payload, 'x', size);
  }
  rss0 = rss_kb();
  t0 = uv_hrtime();
  for (i = 0; i < 8; i++)
    payload[i] = (char)(t0 >> (8 * i));
  for (i = 0; i < 4; i++)
    payload[8 + i] = (char)(round >> (8 * i));
  n = uvws_server_publish(server, TOPIC, UVWS_BINARY, payload, size);
  t1 = uv_hrtime();
  rss1 = rss_kb();
  if (n < 0) {
    fprintf(stderr, "uvws-broadcast: publish: %s\n", uvws_strerror(n));
    return;
  }
  len = (size_t)snprintf(stats, sizeof(stats), "stats %u %d %llu %ld %ld",
                         round, n, (unsigned long long)(t1 - t0), rss0, rss1);
  uvws_conn_send_text(conn, stats, len);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s, (void)signum;
  uvws_server_close(server, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 9010, r, i;
  uvws_server_options_t opts;
  uv_loop_t *loop = uv_default_loop();

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: uvws-broadcast [--host H] [--port N]\n");
      return 2;
    }
  }
  memset(&opts, 0, sizeof(opts));
  opts.callbacks.on_open = on_open;
  opts.callbacks.on_message = on_message;
  opts.deflate.disable = 1;
  /* Every subscriber must get every round: never skip a slow one. */
  opts.publish_limit = (size_t)1 << 30;
  signal(SIGPIPE, SIG_IGN);
  r = uvws_server_create(loop, &opts, &server);
  if (r == 0)
    r = uvws_server_listen(server, host, port, 0);
  if (r != 0) {
    fprintf(stderr, "uvws-broadcast: %s\n", uvws_strerror(r));
    return 1;
  }
  printf("listening on ws://%s:%d/\n", host, uvws_server_port(server));
  fflush(stdout);
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}

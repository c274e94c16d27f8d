/* Slowloris against a uvws server (hard_server, in its own process, with
 * handshake_timeout_ms 5000): 2000 connections each write their upgrade
 * request one byte per second. While the server holds them all, a fresh
 * uvws client still connects, sends a message and gets its echo promptly
 * (under a second, measured five times); after 5 s every slow connection
 * is dropped (none before about 5 s), and the server takes new clients as
 * before.
 *
 * UVWS_SLOWLORIS_CONNS sets the number of slow connections (default 2000);
 * both this process and the server raise RLIMIT_NOFILE to hold them. */
#include "hard_util.h"

#define HANDSHAKE_MS 5000

static lb_loop_t L;
static hard_child_t child;
static int nslow;

/* The slow connections. */
typedef struct {
  uv_tcp_t tcp;
  uv_connect_t creq;
  int connected;
  double connected_ms, dropped_ms;
  size_t sent; /* bytes of the request written */
  int closed;
} slow_t;

static slow_t *slow;
static int nconnected, ndropped, nclosed, nconnect_failed;
static int started; /* connections started so far */
static uv_timer_t connect_timer, byte_timer, probe_timer;
static char request[512];
static size_t request_len;

static void slow_closed(uv_handle_t *h) {
  slow_t *s = h->data;
  s->closed = 1;
  nclosed++;
}

static void slow_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  static char buf[4096];
  (void)h;
  (void)n;
  *b = uv_buf_init(buf, sizeof(buf));
}

static void slow_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  slow_t *s = st->data;
  (void)b;
  if (n == 0)
    return;
  /* The server answers nothing to an incomplete head: any read is the end
   * (EOF, or a reset). */
  CHECK(n < 0);
  s->dropped_ms = lb_elapsed_ms(&L);
  ndropped++;
  uv_close((uv_handle_t *)st, slow_closed);
}

static void slow_connected(uv_connect_t *req, int status) {
  slow_t *s = req->data;
  if (status != 0) {
    nconnect_failed++;
    uv_close((uv_handle_t *)&s->tcp, slow_closed);
    return;
  }
  s->connected = 1;
  s->connected_ms = lb_elapsed_ms(&L);
  nconnected++;
  CHECK_EQ(uv_read_start((uv_stream_t *)&s->tcp, slow_alloc, slow_read), 0);
}

/* Starts connections in batches, so that the listen backlog never
 * overflows (a dropped SYN would be retried only a second later). */
static void connect_tick(uv_timer_t *t) {
  struct sockaddr_in sa;
  int i;
  CHECK_EQ(uv_ip4_addr("127.0.0.1", child.port, &sa), 0);
  for (i = 0; i < 100 && started < nslow; i++, started++) {
    slow_t *s = &slow[started];
    CHECK_EQ(uv_tcp_init(&L.loop, &s->tcp), 0);
    s->tcp.data = s;
    s->creq.data = s;
    CHECK_EQ(uv_tcp_connect(&s->creq, &s->tcp, (struct sockaddr *)&sa,
                            slow_connected),
             0);
  }
  if (started == nslow)
    uv_timer_stop(t);
}

static void written(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

/* One byte per second to every slow connection still open. */
static void byte_tick(uv_timer_t *t) {
  int i;
  (void)t;
  for (i = 0; i < started; i++) {
    slow_t *s = &slow[i];
    uv_write_t *w;
    uv_buf_t b;
    if (!s->connected || s->dropped_ms > 0 || s->closed ||
        s->sent + 4 >= request_len)
      continue; /* never the final empty line */
    w = malloc(sizeof(*w));
    CHECK(w != NULL);
    b = uv_buf_init(request + s->sent, 1);
    if (uv_write(w, (uv_stream_t *)&s->tcp, &b, 1, written) == 0)
      s->sent++;
    else
      free(w);
  }
}

/* ----------------------------------------------------------------------- */
/* The fresh client                                                        */

static uvws_client_t *client;
static int probes, probe_ok, probe_closed;
static double probe_start, probe_max, probe_sum;
static long server_conns_max;

static void p_open(uvws_conn_t *conn) {
  CHECK_ERR(uvws_conn_send_text(conn, "still there?", 12), 0);
}

static void p_message(uvws_conn_t *conn, uvws_msg_type_t type,
                      const char *data, size_t len) {
  double ms = lb_elapsed_ms(&L) - probe_start;
  CHECK_EQ(type, UVWS_TEXT);
  CHECK(len == 12 && memcmp(data, "still there?", 12) == 0);
  probe_ok++;
  probe_sum += ms;
  if (ms > probe_max)
    probe_max = ms;
  fprintf(stderr, "    fresh client %d: echo %.1f ms after connect, with %d "
          "slow connections open\n",
          probes, ms, nconnected - ndropped);
  CHECK_ERR(uvws_conn_close(conn, 1000, NULL, 0), 0);
}

static void p_close(uvws_conn_t *conn, int code, const char *reason,
                    size_t len, int clean) {
  (void)conn;
  (void)reason;
  (void)len;
  CHECK_EQ(code, 1000);
  CHECK(clean);
  probe_closed++;
}

static void probe(void) {
  uvws_callbacks_t cbs = {p_open, p_message, NULL, p_close};
  uvws_conn_t *conn;
  char url[64];
  probes++;
  probe_start = lb_elapsed_ms(&L);
  CHECK_ERR(uvws_connect(client, lb_url(url, sizeof(url), child.port, "/"),
                         NULL, &cbs, NULL, &conn),
            0);
}

static void on_stats(const char *stats) {
  long conns = hard_stat(stats, "conns");
  if (conns > server_conns_max)
    server_conns_max = conns;
}

static void probe_tick(uv_timer_t *t) {
  CHECK_EQ(uv_kill(child.pid, SIGUSR1), 0);
  probe();
  if (probes == 4)
    uv_timer_stop(t);
}

int main(void) {
  char nofile_arg[32], hs_arg[32];
  const char *args[] = {"--handshake-ms", hs_arg, "--nofile", nofile_arg,
                        NULL};
  int i, early = 0, late = 0;
  double first_connect = 1e9, last_connect = 0;
  long want;

  lb_setup();
  nslow = (int)hard_env_long("UVWS_SLOWLORIS_CONNS", 2000);
  want = nslow + 256;
  if (hard_raise_nofile(want) < want) {
    printf("test_abuse_slowloris: skipped: RLIMIT_NOFILE cannot reach %ld\n",
           want);
    return 0;
  }
  snprintf(nofile_arg, sizeof(nofile_arg), "%ld", want);
  snprintf(hs_arg, sizeof(hs_arg), "%d", HANDSHAKE_MS);
  slow = calloc((size_t)nslow, sizeof(*slow));
  CHECK(slow != NULL);
  request_len = (size_t)snprintf(request, sizeof(request),
                                 "GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Key: " LB_KEY "\r\n"
                                 "Sec-WebSocket-Version: 13\r\n\r\n");

  lb_loop_init(&L, "slowloris", 60000);
  hard_child_start(&child, &L.loop, args, NULL);
  child.on_stats = on_stats;
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  CHECK_EQ(uv_timer_init(&L.loop, &connect_timer), 0);
  CHECK_EQ(uv_timer_init(&L.loop, &byte_timer), 0);
  CHECK_EQ(uv_timer_init(&L.loop, &probe_timer), 0);
  CHECK_EQ(uv_timer_start(&connect_timer, connect_tick, 0, 5), 0);

  /* Every slow connection up. */
  while (nconnected + nconnect_failed < nslow)
    uv_run(&L.loop, UV_RUN_ONCE);
  CHECK_EQ(nconnect_failed, 0);
  fprintf(stderr, "    %d slow connections up after %.0f ms\n", nconnected,
          lb_elapsed_ms(&L));
  CHECK_EQ(uv_timer_start(&byte_timer, byte_tick, 0, 1000), 0);
  /* Fresh clients at 0.5 s, 1.5 s, 2.5 s and 3.5 s. */
  CHECK_EQ(uv_timer_start(&probe_timer, probe_tick, 500, 1000), 0);

  /* Until the handshake timeout has dropped every slow connection. */
  while (ndropped < nslow && lb_elapsed_ms(&L) < HANDSHAKE_MS + 20000)
    uv_run(&L.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&byte_timer, NULL);
  uv_close((uv_handle_t *)&connect_timer, NULL);
  uv_close((uv_handle_t *)&probe_timer, NULL);

  for (i = 0; i < nslow; i++) {
    double held = slow[i].dropped_ms - slow[i].connected_ms;
    if (slow[i].connected_ms < first_connect)
      first_connect = slow[i].connected_ms;
    if (slow[i].connected_ms > last_connect)
      last_connect = slow[i].connected_ms;
    if (held < HANDSHAKE_MS - 300)
      early++;
    if (held > HANDSHAKE_MS + 3000)
      late++;
  }
  fprintf(stderr,
          "    %d of %d dropped (%d early, %d late); the server held up to %ld "
          "connections\n",
          ndropped, nslow, early, late, server_conns_max);

  /* After the drop: one more fresh client. */
  probe();
  while (probe_closed < probes)
    uv_run(&L.loop, UV_RUN_ONCE);
  fprintf(stderr, "    fresh clients: %d, echo in %.1f ms on average, %.1f ms "
          "at most\n", probe_ok, probe_sum / probe_ok, probe_max);

  uvws_client_close(client, NULL);
  CHECK_EQ(hard_child_stop(&child), 0);
  lb_loop_run(&L);

  CHECK_EQ(ndropped, nslow);
  CHECK_EQ(nclosed, nslow);
  CHECK_EQ(early, 0);
  CHECK_EQ(late, 0);
  CHECK(server_conns_max >= nslow);
  CHECK_EQ(probe_ok, 5);
  CHECK(probe_max < 1000);
  /* Only the fresh clients were handed to the application. */
  CHECK_EQ(hard_stat(child.stats, "open"), 5);
  CHECK_EQ(hard_stat(child.stats, "close"), 5);
  free(slow);
  printf("test_abuse_slowloris: %d slow connections held and dropped\n",
         nslow);
  return 0;
}

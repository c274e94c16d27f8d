/* examples/multi-loop-server: every loop serves.
 *
 *   test_multi_loop PATH-TO-multi-loop-server
 *
 * Starts the server with 4 loops on a free port and --stats, opens NSHORT
 * connections that each send a message, check its echo and close, and
 * NLONG more that stay open; then sends SIGTERM. The open ones must be
 * closed by the server with 1001 and the process must exit 0, after
 * printing per loop the connections it accepted and the messages it
 * echoed: every loop has some, and they add up to what was sent. */
#include "loopback_util.h"

#define NLOOPS 4
#define NSHORT 64
#define NLONG 8
#define NCLIENTS (NSHORT + NLONG)

static lb_loop_t L;
static uv_process_t proc;
static uv_pipe_t out;
static char outbuf[8192];
static size_t outlen;
static int port, exited, exit_status = -1, term_signal = -1;
static uvws_client_t *client;
static int echoes, closed_short, closed_long, killed;

static void c_open(uvws_conn_t *c) {
  char msg[32];
  int n = snprintf(msg, sizeof(msg), "hello %d",
                   (int)(intptr_t)uvws_conn_get_data(c));
  CHECK_ERR(uvws_conn_send_text(c, msg, (size_t)n), 0);
}

static void maybe_stop(void) {
  if (!killed && closed_short == NSHORT && echoes == NCLIENTS) {
    killed = 1;
    CHECK_EQ(uv_process_kill(&proc, SIGTERM), 0);
  }
}

static void c_message(uvws_conn_t *c, uvws_msg_type_t type, const char *d,
                      size_t n) {
  int k = (int)(intptr_t)uvws_conn_get_data(c);
  char msg[32];
  int len = snprintf(msg, sizeof(msg), "hello %d", k);
  CHECK_EQ(type, UVWS_TEXT);
  CHECK_EQ(n, (size_t)len);
  CHECK(memcmp(d, msg, n) == 0);
  echoes++;
  if (k < NSHORT)
    CHECK_ERR(uvws_conn_close(c, 1000, NULL, 0), 0);
  maybe_stop();
}

static void c_close(uvws_conn_t *c, int code, const char *reason, size_t len,
                    int clean) {
  int k = (int)(intptr_t)uvws_conn_get_data(c);
  CHECK_EQ(clean, 1);
  if (k < NSHORT) {
    CHECK_EQ(code, 1000);
    closed_short++;
    maybe_stop();
  } else {
    /* Closed by the server's shutdown. */
    CHECK(killed);
    CHECK_EQ(code, 1001);
    CHECK(len == 15 && memcmp(reason, "server stopping", 15) == 0);
    closed_long++;
  }
  if (closed_short + closed_long == NCLIENTS)
    uvws_client_close(client, NULL);
}

static void connect_all(void) {
  uvws_callbacks_t cbs = {c_open, c_message, NULL, c_close};
  char url[64];
  intptr_t k;
  uvws_conn_t *conn;
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", port);
  CHECK_ERR(uvws_client_create(&L.loop, NULL, &client), 0);
  for (k = 0; k < NCLIENTS; k++)
    CHECK_ERR(uvws_connect(client, url, NULL, &cbs, (void *)k, &conn), 0);
}

static void out_alloc(uv_handle_t *h, size_t size, uv_buf_t *b) {
  (void)h, (void)size;
  *b = uv_buf_init(outbuf + outlen, (unsigned)(sizeof(outbuf) - 1 - outlen));
}

static void out_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  if (n < 0) {
    CHECK_ERR((int)n, UV_EOF);
    uv_close((uv_handle_t *)s, NULL);
    return;
  }
  outlen += (size_t)n;
  outbuf[outlen] = '\0';
  CHECK(outlen < sizeof(outbuf) - 1);
  if (port == 0) {
    const char *p = strstr(outbuf, "listening on ws://127.0.0.1:");
    int loops;
    if (p != NULL && strchr(p, '\n') != NULL) {
      CHECK_EQ(sscanf(p, "listening on ws://127.0.0.1:%d/ with %d loops", &port,
                      &loops),
               2);
      CHECK_EQ(loops, NLOOPS);
      connect_all();
    }
  }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  exited = 1;
  exit_status = (int)status;
  term_signal = sig;
  uv_close((uv_handle_t *)p, NULL);
}

int main(int argc, char **argv) {
  uv_process_options_t po;
  uv_stdio_container_t stdio[3];
  char *args[] = {argv[1], "--port", "0", "--threads", "4", "--stats", NULL};
  unsigned long long sum_c = 0, sum_m = 0;
  const char *p;
  int i, idx;

  CHECK(argc == 2);
  signal(SIGPIPE, SIG_IGN);
  lb_loop_init(&L, "multi-loop-server", 30000);
  CHECK_EQ(uv_pipe_init(&L.loop, &out, 0), 0);
  memset(&po, 0, sizeof(po));
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&out;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  po.file = argv[1];
  po.args = args;
  po.stdio = stdio;
  po.stdio_count = 3;
  po.exit_cb = on_exit_cb;
  CHECK_ERR(uv_spawn(&L.loop, &proc, &po), 0);
  CHECK_EQ(uv_read_start((uv_stream_t *)&out, out_alloc, out_read), 0);
  lb_loop_run(&L);

  CHECK(exited);
  CHECK_EQ(term_signal, 0);
  CHECK_EQ(exit_status, 0);
  CHECK_EQ(closed_short, NSHORT);
  CHECK_EQ(closed_long, NLONG);

  /* "loop I: C connections, M messages", one line per loop. */
  p = outbuf;
  for (i = 0; i < NLOOPS; i++) {
    unsigned long long c, m;
    p = strstr(p, "\nloop ");
    CHECK(p != NULL);
    p++;
    CHECK_EQ(
        sscanf(p, "loop %d: %llu connections, %llu messages", &idx, &c, &m), 3);
    CHECK_EQ(idx, i);
    fprintf(stderr, "  loop %d: %llu connections, %llu messages\n", i, c, m);
    CHECK(c > 0); /* every loop served */
    sum_c += c;
    sum_m += m;
  }
  CHECK_EQ(sum_c, NCLIENTS);
  CHECK_EQ(sum_m, NCLIENTS);
  return 0;
}

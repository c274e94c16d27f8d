/* uvws-cat: a WebSocket client for the terminal. Each line of standard input
 * is sent as a text message; each message received is printed on a line of
 * its own (binary ones as "[binary N bytes]"). At the end of input, once no
 * message has arrived for half a second (so that replies to the last lines
 * are still printed), the connection is closed with 1000.
 *
 *   uvws-cat [--ca FILE] URL
 *
 * URL may be ws:// or wss://; a wss:// server's certificate is verified
 * against the CAs in FILE (PEM), or by default against the system's.
 * Exit status: 0 after a clean close, 1 otherwise. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvws.h"

static uvws_client_t *client;
static uvws_conn_t *conn;
static uv_pipe_t in_pipe;
static uv_tty_t in_tty;
static uv_stream_t *in;
static char line[65536];
static size_t line_len;
static int exit_code = 1;
static int input_done;
static uv_timer_t quiet;

#define QUIET_MS 500

static void on_quiet(uv_timer_t *t) {
  (void)t;
  uvws_conn_close(conn, 1000, NULL, 0);
}

static void stop_input(void) {
  if (in != NULL && !uv_is_closing((uv_handle_t *)in))
    uv_close((uv_handle_t *)in, NULL);
}

static void on_in_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  static char tmp[65536];
  (void)h;
  (void)size;
  *buf = uv_buf_init(tmp, sizeof(tmp));
}

static void send_line(void) {
  int r;
  if (line_len > 0 && line[line_len - 1] == '\r')
    line_len--;
  r = uvws_conn_send_text(conn, line, line_len);
  if (r != 0)
    fprintf(stderr, "uvws-cat: send: %s\n", uvws_strerror(r));
  line_len = 0;
}

static void on_in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  ssize_t i;
  (void)s;
  if (n < 0) {
    if (line_len > 0)
      send_line();
    input_done = 1;
    stop_input();
    uv_timer_start(&quiet, on_quiet, QUIET_MS, 0);
    return;
  }
  for (i = 0; i < n; i++) {
    if (buf->base[i] == '\n') {
      send_line();
    } else if (line_len < sizeof(line)) {
      line[line_len++] = buf->base[i];
    }
  }
}

static void on_open(uvws_conn_t *c) {
  uv_loop_t *loop = uvws_conn_loop(c);
  if (uv_guess_handle(0) == UV_TTY) {
    uv_tty_init(loop, &in_tty, 0, 1);
    in = (uv_stream_t *)&in_tty;
  } else {
    uv_pipe_init(loop, &in_pipe, 0);
    if (uv_pipe_open(&in_pipe, 0) != 0) {
      fprintf(stderr, "uvws-cat: cannot read standard input\n");
      uvws_conn_close(c, 1000, NULL, 0);
      return;
    }
    in = (uv_stream_t *)&in_pipe;
  }
  uv_read_start(in, on_in_alloc, on_in_read);
}

static void on_message(uvws_conn_t *c, uvws_msg_type_t type, const char *data,
                       size_t len) {
  (void)c;
  if (input_done)
    uv_timer_start(&quiet, on_quiet, QUIET_MS, 0);
  if (type == UVWS_TEXT)
    printf("%.*s\n", (int)len, data);
  else
    printf("[binary %zu bytes]\n", len);
  fflush(stdout);
}

static void on_error(uvws_conn_t *c, int err) {
  (void)c;
  fprintf(stderr, "uvws-cat: %s (%s)\n", uvws_strerror(err),
          uvws_err_name(err));
}

static void on_close(uvws_conn_t *c, int code, const char *reason,
                     size_t reason_len, int was_clean) {
  (void)c;
  if (!input_done || code != 1000)
    fprintf(stderr, "uvws-cat: closed %d %.*s\n", code, (int)reason_len,
            reason);
  exit_code = was_clean ? 0 : 1;
  stop_input();
  uv_close((uv_handle_t *)&quiet, NULL);
  uvws_client_close(client, NULL);
}

int main(int argc, char **argv) {
  uv_loop_t *loop = uv_default_loop();
  uvws_callbacks_t cbs;
  uvws_client_options_t opts;
  const char *url;
  int r;

  memset(&opts, 0, sizeof(opts));
  if (argc == 4 && strcmp(argv[1], "--ca") == 0) {
    opts.tls.ca_file = argv[2];
    url = argv[3];
  } else if (argc == 2 && argv[1][0] != '-') {
    url = argv[1];
  } else {
    fprintf(stderr, "usage: uvws-cat [--ca FILE] URL\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  memset(&cbs, 0, sizeof(cbs));
  cbs.on_open = on_open;
  cbs.on_message = on_message;
  cbs.on_error = on_error;
  cbs.on_close = on_close;
  r = uvws_client_create(loop, &opts, &client);
  if (r != 0) {
    fprintf(stderr, "uvws-cat: %s\n", uvws_strerror(r));
    return 1;
  }
  r = uvws_connect(client, url, NULL, &cbs, NULL, &conn);
  if (r != 0) {
    fprintf(stderr, "uvws-cat: %s: %s\n", url, uvws_strerror(r));
    return 1;
  }
  uv_timer_init(loop, &quiet);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return exit_code;
}

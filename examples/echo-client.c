/* echo-client: connects to a WebSocket server and sends every message it
 * receives back with its type, until the peer closes.
 *
 *   echo-client [--deflate] [--ca FILE] URL
 *
 * --deflate offers permessage-deflate. URL may be ws:// or wss://; a wss://
 * server's certificate is verified against the CAs in FILE (PEM), or by
 * default against the system's.
 * Prints "close CODE REASON" at the end; exits 0 after a clean close and 1
 * otherwise. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvws.h"

static int exit_code = 1;

static void on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  int r = uvws_conn_send(conn, type, data, len);
  if (r != 0 && r != UVWS_ESTATE)
    fprintf(stderr, "echo-client: send: %s\n", uvws_strerror(r));
}

static void on_error(uvws_conn_t *conn, int err) {
  (void)conn;
  fprintf(stderr, "echo-client: %s (%s)\n", uvws_strerror(err),
          uvws_err_name(err));
}

static void on_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t reason_len, int was_clean) {
  printf("close %d %.*s\n", code, (int)reason_len, reason);
  fflush(stdout);
  exit_code = was_clean ? 0 : 1;
  uvws_client_close(uvws_conn_get_data(conn), NULL);
}

int main(int argc, char **argv) {
  uv_loop_t *loop = uv_default_loop();
  uvws_client_t *client;
  uvws_conn_t *conn;
  uvws_callbacks_t cbs;
  uvws_connect_options_t copts;
  uvws_deflate_options_t deflate;
  uvws_client_options_t client_opts;
  const char *url = NULL;
  int r, i;

  memset(&copts, 0, sizeof(copts));
  memset(&deflate, 0, sizeof(deflate));
  memset(&client_opts, 0, sizeof(client_opts));
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--deflate") == 0)
      copts.deflate = &deflate;
    else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc)
      client_opts.tls.ca_file = argv[++i];
    else if (url == NULL && argv[i][0] != '-')
      url = argv[i];
    else
      url = NULL, i = argc + 1;
  }
  if (url == NULL || i > argc) {
    fprintf(stderr, "usage: echo-client [--deflate] [--ca FILE] URL\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  memset(&cbs, 0, sizeof(cbs));
  cbs.on_message = on_message;
  cbs.on_error = on_error;
  cbs.on_close = on_close;
  r = uvws_client_create(loop, &client_opts, &client);
  if (r != 0) {
    fprintf(stderr, "echo-client: %s\n", uvws_strerror(r));
    return 1;
  }
  r = uvws_connect(client, url, &copts, &cbs, NULL, &conn);
  if (r != 0) {
    fprintf(stderr, "echo-client: %s: %s\n", url, uvws_strerror(r));
    return 1;
  }
  uvws_conn_set_data(conn, client);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return exit_code;
}

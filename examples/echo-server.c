/* echo-server: answers every WebSocket message with the same bytes and type,
 * on any path.
 *
 *   echo-server [--host H] [--port N] [--max-message BYTES] [--no-deflate]
 *               [--protocol NAME]... [--tls-cert FILE --tls-key FILE]
 *               [--max-memory MIB]
 *
 * permessage-deflate offers are accepted unless --no-deflate is given.
 * --protocol adds a subprotocol the server speaks: the first one a client
 * offers that is in this list is selected.
 * With --tls-cert and --tls-key (PEM: the certificate chain and its key) it
 * serves wss:// instead of ws://. --max-memory puts all of the server's
 * memory under a uvws_budget_t of that many MiB, with an eighth of it kept
 * for the connections it has: past that, new connections are turned away. Prints "listening on ws://H:PORT/" (or
 * wss://) once it listens (--port 0 picks a free port). SIGINT or SIGTERM
 * closes every connection and exits 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvws.h"

static uvws_server_t *server;
static uv_signal_t sigint, sigterm;

static void on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  int r = uvws_conn_send(conn, type, data, len);
  if (r != 0 && r != UVWS_ESTATE)
    fprintf(stderr, "echo-server: send: %s\n", uvws_strerror(r));
}

static void on_error(uvws_conn_t *conn, int err) {
  (void)conn;
  fprintf(stderr, "echo-server: connection failed: %s (%s)\n",
          uvws_strerror(err), uvws_err_name(err));
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  uvws_server_close(server, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  (void)s;
}

static void usage(void) {
  fprintf(stderr,
          "usage: echo-server [--host H] [--port N] [--max-message BYTES]"
          " [--no-deflate]\n"
          "                   [--protocol NAME]... [--tls-cert FILE"
          " --tls-key FILE]\n"
          "                   [--max-memory MIB]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 9001, r, i, tls;
  const char *protocols[16];
  size_t nprotocols = 0;
  uvws_server_options_t opts;
  uvws_budget_t budget;
  uv_loop_t *loop = uv_default_loop();

  memset(&opts, 0, sizeof(opts));
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--max-message") == 0 && i + 1 < argc)
      opts.limits.max_message_size = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--no-deflate") == 0)
      opts.deflate.disable = 1;
    else if (strcmp(argv[i], "--protocol") == 0 && i + 1 < argc &&
             nprotocols + 1 < sizeof(protocols) / sizeof(protocols[0]))
      protocols[nprotocols++] = argv[++i];
    else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc)
      opts.tls.cert_file = argv[++i];
    else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc)
      opts.tls.key_file = argv[++i];
    else if (strcmp(argv[i], "--max-memory") == 0 && i + 1 < argc) {
      size_t mib = strtoull(argv[++i], NULL, 10);
      if (mib == 0)
        usage();
      uvws_budget_init(&budget, mib << 20, NULL);
      budget.reserve = budget.limit / 8;
      opts.allocator = &budget.allocator;
    }
    else
      usage();
  }
  if ((opts.tls.cert_file == NULL) != (opts.tls.key_file == NULL))
    usage();
  tls = opts.tls.cert_file != NULL;
  protocols[nprotocols] = NULL;
  if (nprotocols > 0)
    opts.protocols = protocols;
  opts.callbacks.on_message = on_message;
  opts.callbacks.on_error = on_error;

  signal(SIGPIPE, SIG_IGN);
  r = uvws_server_create(loop, &opts, &server);
  if (r != 0) {
    fprintf(stderr, "echo-server: %s\n", uvws_strerror(r));
    return 1;
  }
  if (tls)
    r = uvws_server_listen_tls(server, host, port, 0);
  else
    r = uvws_server_listen(server, host, port, 0);
  if (r != 0) {
    fprintf(stderr, "echo-server: cannot listen on %s:%d: %s\n", host, port,
            uvws_strerror(r));
    return 1;
  }
  printf(strchr(host, ':') ? "listening on %s://[%s]:%d/\n"
                           : "listening on %s://%s:%d/\n",
         tls ? "wss" : "ws", host, uvws_server_port(server));
  fflush(stdout);

  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}

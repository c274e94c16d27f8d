/* hard_server: a uvws echo server in a process of its own, for the
 * hardening tests that measure a server from outside (its memory, its CPU
 * time, its file descriptor limit) or need one that is not the test's.
 *
 *   hard_server [--port N] [--tls-cert FILE --tls-key FILE]
 *               [--nofile N] [--max-buffered BYTES]
 *               [--policy pause|refuse|close] [--handshake-ms MS]
 *               [--max-connections N] [--max-message BYTES] [--deflate]
 *
 * It prints "port N" (and "tls_port N" with a certificate), then "ready",
 * and echoes every message. SIGUSR1 prints the counters; SIGTERM or SIGINT
 * closes the server and prints them once more as the last line:
 *
 *   stats open=O close=C error=E message=M refused=R max_buffered=B
 *         nofile=F conns=N
 *
 * (conns: connections in any state, uvws_server_connections()).
 *
 * Exit status 0 when every connection handed to it got exactly one
 * on_close, 3 otherwise. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

#include "uvws.h"

static uv_loop_t *loop;
static uvws_server_t *server;
static uv_signal_t sig_term, sig_int, sig_usr1;
static long nofile = -1;
static struct {
  long open, close, error, message, refused;
  size_t max_buffered;
} st;

static void print_stats(void) {
  printf("stats open=%ld close=%ld error=%ld message=%ld refused=%ld "
         "max_buffered=%zu nofile=%ld conns=%zu\n",
         st.open, st.close, st.error, st.message, st.refused,
         st.max_buffered, nofile, server ? uvws_server_connections(server) : 0);
  fflush(stdout);
}

typedef struct {
  int closed;
} mark_t;

static void on_open(uvws_conn_t *conn) {
  mark_t *m = calloc(1, sizeof(*m));
  st.open++;
  uvws_conn_set_data(conn, m);
}

static void on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  int r;
  size_t b;
  st.message++;
  r = uvws_conn_send(conn, type, data, len);
  if (r == UVWS_EBUFFERFULL)
    st.refused++;
  b = uvws_conn_buffered_amount(conn);
  if (b > st.max_buffered)
    st.max_buffered = b;
}

static void on_error(uvws_conn_t *conn, int err) {
  (void)conn;
  (void)err;
  st.error++;
}

static void on_close(uvws_conn_t *conn, int code, const char *reason,
                     size_t len, int clean) {
  mark_t *m = uvws_conn_get_data(conn);
  (void)code;
  (void)reason;
  (void)len;
  (void)clean;
  st.close++;
  if (m == NULL || m->closed) {
    fprintf(stderr, "hard_server: on_close without on_open, or twice\n");
    abort();
  }
  m->closed = 1;
  free(m);
}

static void server_closed(uvws_server_t *s) {
  (void)s;
  server = NULL;
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
  uv_close((uv_handle_t *)&sig_usr1, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  if (signum == SIGUSR1) {
    print_stats();
    return;
  }
  uv_signal_stop(&sig_term);
  uv_signal_stop(&sig_int);
  uvws_server_close(server, server_closed);
}

static int usage(void) {
  fprintf(stderr, "usage: hard_server [--port N] [--tls-cert F --tls-key F] "
                  "[--nofile N] [--max-buffered B] "
                  "[--policy pause|refuse|close] [--handshake-ms MS] "
                  "[--max-connections N] [--max-message B] [--deflate]\n");
  return 2;
}

int main(int argc, char **argv) {
  uvws_server_options_t so;
  const char *cert = NULL, *key = NULL;
  int port = 0, i, r;
  uv_loop_t l;

  signal(SIGPIPE, SIG_IGN);
  memset(&so, 0, sizeof(so));
  so.deflate.disable = 1;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--deflate") == 0) {
      so.deflate.disable = 0;
      continue;
    }
    if (v == NULL)
      return usage();
    i++;
    if (strcmp(a, "--port") == 0)
      port = atoi(v);
    else if (strcmp(a, "--tls-cert") == 0)
      cert = v;
    else if (strcmp(a, "--tls-key") == 0)
      key = v;
    else if (strcmp(a, "--nofile") == 0)
      nofile = atol(v);
    else if (strcmp(a, "--max-buffered") == 0)
      so.limits.max_buffered = (size_t)atoll(v);
    else if (strcmp(a, "--policy") == 0)
      so.limits.buffered_policy = strcmp(v, "refuse") == 0 ? UVWS_BUFFERED_REFUSE
                                  : strcmp(v, "close") == 0
                                      ? UVWS_BUFFERED_CLOSE
                                      : UVWS_BUFFERED_PAUSE;
    else if (strcmp(a, "--handshake-ms") == 0)
      so.limits.handshake_timeout_ms = (unsigned)atol(v);
    else if (strcmp(a, "--max-connections") == 0)
      so.max_connections = (size_t)atol(v);
    else if (strcmp(a, "--max-message") == 0)
      so.limits.max_message_size = (size_t)atoll(v);
    else
      return usage();
  }

  /* The limit is set before the loop exists, as a server started under
   * `prlimit --nofile` would have it. */
  if (nofile > 0) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)nofile;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      perror("hard_server: setrlimit");
      return 1;
    }
  }

  uv_loop_init(&l);
  loop = &l;
  so.callbacks.on_open = on_open;
  so.callbacks.on_message = on_message;
  so.callbacks.on_error = on_error;
  so.callbacks.on_close = on_close;
  so.tls.cert_file = cert;
  so.tls.key_file = key;
  r = uvws_server_create(loop, &so, &server);
  if (r == 0)
    r = uvws_server_listen(server, "127.0.0.1", port, 0);
  if (r != 0) {
    fprintf(stderr, "hard_server: %s\n", uvws_strerror(r));
    return 1;
  }
  printf("port %d\n", uvws_server_port(server));
  if (cert != NULL) {
    r = uvws_server_listen_tls(server, "127.0.0.1", 0, 0);
    if (r != 0) {
      fprintf(stderr, "hard_server: TLS: %s\n", uvws_strerror(r));
      return 1;
    }
    printf("tls_port %d\n", uvws_server_port(server));
  }
  printf("ready\n");
  fflush(stdout);

  uv_signal_init(loop, &sig_term);
  uv_signal_init(loop, &sig_int);
  uv_signal_init(loop, &sig_usr1);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_usr1, on_signal, SIGUSR1);
  uv_unref((uv_handle_t *)&sig_usr1);

  uv_run(loop, UV_RUN_DEFAULT);
  print_stats();
  uv_loop_close(loop);
  return st.open == st.close ? 0 : 3;
}

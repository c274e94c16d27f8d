/* multi-loop-server: an echo server with one libuv loop per thread, all
 * behind one port.
 *
 *   multi-loop-server [--host H] [--port N] [--threads N] [--no-deflate]
 *                     [--stats]
 *
 * Each of the --threads loops (default: the number of CPUs this process may
 * run on) has its own uv_loop_t and uvws server, and its own listening
 * socket: opened here with socket(), SO_REUSEPORT set, bound to the same
 * address, then given to uvws_server_listen_socket() (libuv 1.44 has no
 * flag for SO_REUSEPORT). The kernel spreads incoming connections over the
 * sockets, so each connection lives on one loop and the loops share
 * nothing. Each echoes every message back with the same type.
 *
 * Prints "listening on ws://H:PORT/ with N loops" once every loop listens
 * (--port 0 picks a free port). SIGINT or SIGTERM makes every loop close
 * its connections with 1001 and stop; the process exits 0 once all have.
 * With --stats it then prints, per loop, the connections it accepted and
 * the messages it echoed: "loop 0: 12 connections, 3400 messages". */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "uvws.h"

/* One loop, its thread and its server. Counters are touched by the loop's
 * thread only, and read by the main thread after joining it. */
typedef struct {
  int index;
  uv_loop_t loop;
  uv_thread_t thread;
  uvws_server_t *server;
  uv_async_t stop; /* woken by the main thread on SIGINT / SIGTERM */
  unsigned long long connections;
  unsigned long long messages;
} worker_t;

/* Each loop's data is its worker. */
static void on_open(uvws_conn_t *conn) {
  worker_t *w = uvws_conn_loop(conn)->data;
  w->connections++;
}

static void on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                       const char *data, size_t len) {
  worker_t *w = uvws_conn_loop(conn)->data;
  int r = uvws_conn_send(conn, type, data, len);
  w->messages++;
  if (r != 0 && r != UVWS_ESTATE)
    fprintf(stderr, "multi-loop-server: send: %s\n", uvws_strerror(r));
}

static void on_stop(uv_async_t *a) {
  worker_t *w = a->data;
  /* Closing handshakes get a second; the server is released after. */
  uvws_server_shutdown(w->server, UVWS_CLOSE_GOING_AWAY, "server stopping", 15,
                       1000, NULL);
  uv_close((uv_handle_t *)&w->stop, NULL);
}

static void run_loop(void *arg) {
  worker_t *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* A TCP socket with SO_REUSEPORT, bound to addr. Returns it, or -1 with
 * errno set. Any socket of the same user with SO_REUSEPORT on that address
 * joins the group, another process's too: two servers started on one port
 * share its connections instead of the second failing. */
static int open_socket(const struct sockaddr *addr, socklen_t addrlen) {
  int fd, one = 1, saved;
  fd = socket(addr->sa_family, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      bind(fd, addr, addrlen) != 0) {
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

static void usage(void) {
  fprintf(stderr, "usage: multi-loop-server [--host H] [--port N]"
                  " [--threads N] [--no-deflate] [--stats]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 9001, nthreads = (int)uv_available_parallelism(), stats = 0;
  int i, r, sig, fd;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  uvws_server_options_t opts;
  worker_t *workers;
  sigset_t stop_signals;

  memset(&opts, 0, sizeof(opts));
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      nthreads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--no-deflate") == 0)
      opts.deflate.disable = 1;
    else if (strcmp(argv[i], "--stats") == 0)
      stats = 1;
    else
      usage();
  }
  if (nthreads < 1 || nthreads > 1024 || port < 0 || port > 65535)
    usage();

  memset(&addr, 0, sizeof(addr));
  if (strchr(host, ':') != NULL) {
    r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    addrlen = sizeof(struct sockaddr_in6);
  } else {
    r = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    addrlen = sizeof(struct sockaddr_in);
  }
  if (r != 0) {
    fprintf(stderr, "multi-loop-server: bad address %s\n", host);
    return 2;
  }

  /* The signals are taken by sigwait() in this thread below; every thread
   * started from here on, the loops' and libuv's own, inherits the mask. */
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  opts.callbacks.on_open = on_open;
  opts.callbacks.on_message = on_message;

  workers = calloc((size_t)nthreads, sizeof(*workers));
  if (workers == NULL)
    return 1;
  /* Everything is set up here, then each loop is handed to its thread:
   * thread creation orders these writes before the thread's reads. */
  for (i = 0; i < nthreads; i++) {
    worker_t *w = &workers[i];
    w->index = i;
    if ((r = uv_loop_init(&w->loop)) != 0 ||
        (r = uvws_server_create(&w->loop, &opts, &w->server)) != 0) {
      fprintf(stderr, "multi-loop-server: %s\n", uvws_strerror(r));
      return 1;
    }
    w->loop.data = w;
    uv_async_init(&w->loop, &w->stop, on_stop);
    w->stop.data = w;
    /* With port 0 the first socket gets a free port; the others join it. */
    if (i > 0) {
      if (addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
      else
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
    }
    fd = open_socket((const struct sockaddr *)&addr, addrlen);
    if (fd < 0) {
      fprintf(stderr, "multi-loop-server: cannot bind %s:%d: %s\n", host, port,
              strerror(errno));
      return 1;
    }
    r = uvws_server_listen_socket(w->server, fd, 0);
    close(fd); /* uvws listens on its own duplicate */
    if (r != 0) {
      fprintf(stderr, "multi-loop-server: cannot listen on %s:%d: %s\n", host,
              port, uvws_strerror(r));
      return 1;
    }
    port = uvws_server_port(w->server);
  }
  for (i = 0; i < nthreads; i++) {
    if ((r = uv_thread_create(&workers[i].thread, run_loop, &workers[i])) !=
        0) {
      fprintf(stderr, "multi-loop-server: thread: %s\n", uv_strerror(r));
      return 1;
    }
  }
  printf(strchr(host, ':') ? "listening on ws://[%s]:%d/ with %d loops\n"
                           : "listening on ws://%s:%d/ with %d loops\n",
         host, port, nthreads);
  fflush(stdout);

  do
    r = sigwait(&stop_signals, &sig);
  while (r == EINTR);
  for (i = 0; i < nthreads; i++)
    uv_async_send(&workers[i].stop);

  for (i = 0; i < nthreads; i++) {
    worker_t *w = &workers[i];
    uv_thread_join(&w->thread);
    if (uv_loop_close(&w->loop) != 0)
      fprintf(stderr, "multi-loop-server: loop %d left handles open\n", i);
    if (stats)
      printf("loop %d: %llu connections, %llu messages\n", i, w->connections,
             w->messages);
  }
  fflush(stdout);
  free(workers);
  return 0;
}

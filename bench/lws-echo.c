/* lws-echo: a libwebsockets echo server on a libuv loop, a peer in the uvws
 * benchmarks.
 *
 *   lws-echo [--host H] [--port N] [--tls-cert FILE --tls-key FILE]
 *
 * The program owns a uv_loop_t and hands it to libwebsockets as a foreign
 * loop (LWS_SERVER_OPTION_LIBUV with info.foreign_loops), as an application
 * that embeds it in a libuv program would. The echo is written the way the
 * libwebsockets examples write one: each received piece is queued with
 * LWS_PRE bytes of headroom, and sent back from the WRITEABLE callback, one
 * lws_write() per callback, keeping the fragment flags so a message that
 * arrived in pieces goes back as one message in the same pieces. Pieces are
 * up to 64 KiB (rx_buffer_size). permessage-deflate is not offered.
 * Prints "listening on ws://H:PORT/" (wss:// with a certificate); SIGINT
 * or SIGTERM ends it. */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define RX_CHUNK (64 * 1024)

typedef struct piece_s {
  struct piece_s *next;
  size_t len;
  int flags;
  unsigned char buf[]; /* LWS_PRE + len */
} piece_t;

typedef struct {
  piece_t *head, *tail;
} session_t;

static struct lws_context *context;
static uv_loop_t loop;
static uv_signal_t sigint, sigterm;

static void queue_free(session_t *s) {
  piece_t *p, *n;
  for (p = s->head; p != NULL; p = n) {
    n = p->next;
    free(p);
  }
  s->head = s->tail = NULL;
}

static int callback_echo(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len) {
  session_t *s = user;
  piece_t *p;
  int n;

  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED:
    s->head = s->tail = NULL;
    break;

  case LWS_CALLBACK_RECEIVE:
    p = malloc(sizeof(*p) + LWS_PRE + len);
    if (p == NULL)
      return -1;
    p->next = NULL;
    p->len = len;
    p->flags = lws_write_ws_flags(lws_frame_is_binary(wsi) ? LWS_WRITE_BINARY
                                                           : LWS_WRITE_TEXT,
                                  lws_is_first_fragment(wsi),
                                  lws_is_final_fragment(wsi));
    memcpy(p->buf + LWS_PRE, in, len);
    if (s->tail != NULL)
      s->tail->next = p;
    else
      s->head = p;
    s->tail = p;
    lws_callback_on_writable(wsi);
    break;

  case LWS_CALLBACK_SERVER_WRITEABLE:
    p = s->head;
    if (p == NULL)
      break;
    n = lws_write(wsi, p->buf + LWS_PRE, p->len, (enum lws_write_protocol)p->flags);
    if (n < (int)p->len)
      return -1;
    s->head = p->next;
    if (s->head == NULL)
      s->tail = NULL;
    free(p);
    if (s->head != NULL)
      lws_callback_on_writable(wsi);
    break;

  case LWS_CALLBACK_CLOSED:
    queue_free(s);
    break;

  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"echo", callback_echo, sizeof(session_t), RX_CHUNK, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static void on_signal(uv_signal_t *h, int signum) {
  (void)h, (void)signum;
  uv_signal_stop(&sigint);
  uv_signal_stop(&sigterm);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  lws_context_destroy(context);
  context = NULL;
  uv_stop(&loop);
}

int main(int argc, char **argv) {
  struct lws_context_creation_info info;
  const char *host = "127.0.0.1", *cert = NULL, *key = NULL;
  void *foreign[1];
  int port = 9003, i;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc)
      cert = argv[++i];
    else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc)
      key = argv[++i];
    else {
      fprintf(stderr, "usage: lws-echo [--host H] [--port N]"
                      " [--tls-cert FILE --tls-key FILE]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  lws_set_log_level(LLL_ERR, NULL);
  uv_loop_init(&loop);

  memset(&info, 0, sizeof(info));
  info.port = port;
  info.iface = host;
  info.protocols = protocols;
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
  foreign[0] = &loop;
  info.foreign_loops = foreign;
  if (cert != NULL && key != NULL) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = cert;
    info.ssl_private_key_filepath = key;
  }
  context = lws_create_context(&info);
  if (context == NULL) {
    fprintf(stderr, "lws-echo: lws_create_context failed\n");
    return 1;
  }
  printf("listening on %s://%s:%d/\n", cert ? "wss" : "ws", host, port);
  fflush(stdout);

  uv_signal_init(&loop, &sigint);
  uv_signal_init(&loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_run(&loop, UV_RUN_DEFAULT);
  return 0;
}

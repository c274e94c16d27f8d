/* raw-echo: the practical limit for the uvws benchmarks.
 *
 *   raw-echo [--host H] [--port N]
 *
 * A libuv TCP server that answers the WebSocket opening handshake (RFC 6455
 * 4.2.2: the 101 with Sec-WebSocket-Accept) and from then on writes back
 * every byte it reads, unchanged: the client's masked frames return masked
 * and are never parsed, unmasked or re-framed. Nothing a WebSocket server
 * does can cost less on this machine's loopback, so its throughput and
 * latency are the limit the others are compared with.
 *
 * The echo is what a careful libuv program does: one receive buffer per
 * loop, a uv_try_write straight from it, and only when the kernel takes
 * less, a uv_write that owns the buffer while reading stops (backpressure).
 * TCP_NODELAY is on. Prints "listening on ws://H:PORT/"; SIGINT or SIGTERM
 * exits. */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#define BUF_SIZE (64 * 1024)
#define HS_MAX 8192

typedef struct {
  uv_tcp_t tcp;
  char *hs; /* the request while it arrives; NULL once upgraded */
  size_t hs_len;
} conn_t;

typedef struct {
  uv_write_t req;
  char *buf;
} wreq_t;

static uv_loop_t *loop;
static uv_tcp_t server;
static char *spare; /* the loop's receive buffer, when no write holds it */

static void on_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  free(c->hs);
  free(c);
}

static void conn_close(conn_t *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h, (void)hint;
  if (spare == NULL)
    spare = malloc(BUF_SIZE);
  buf->base = spare;
  buf->len = BUF_SIZE;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status) {
  wreq_t *wr = (wreq_t *)req;
  conn_t *c = req->data;
  if (spare == NULL)
    spare = wr->buf;
  else
    free(wr->buf);
  free(wr);
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Writes n bytes of the loop's buffer back. When the kernel takes less, the
 * buffer goes with the write and reading pauses until it completes. */
static void echo(conn_t *c, char *data, size_t n, char *owner) {
  uv_buf_t b = uv_buf_init(data, (unsigned)n);
  wreq_t *wr;
  int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == (int)n)
    return;
  if (r < 0 && r != UV_EAGAIN) {
    conn_close(c);
    return;
  }
  if (r > 0) {
    b.base += r;
    b.len -= (unsigned)r;
  }
  wr = malloc(sizeof(*wr));
  wr->buf = owner;
  wr->req.data = c;
  if (owner == spare)
    spare = NULL;
  uv_read_stop((uv_stream_t *)&c->tcp);
  if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
    if (spare == NULL)
      spare = owner;
    free(wr);
    conn_close(c);
  }
}

/* RFC 6455 4.2.2: base64(SHA-1(key + GUID)). */
static int accept_value(const char *key, size_t klen, char out[32]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  char in[128];
  if (klen + sizeof(guid) > sizeof(in))
    return -1;
  memcpy(in, key, klen);
  memcpy(in + klen, guid, sizeof(guid) - 1);
  SHA1((unsigned char *)in, klen + sizeof(guid) - 1, digest);
  EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
  return 0;
}

/* The handshake: returns the bytes of data that belonged to it, or -1 to
 * drop the connection. */
static ssize_t handshake(conn_t *c, const char *data, size_t n) {
  static const char resp_fmt[] =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n";
  char *eoh, *key, *end, acc[32], resp[256];
  size_t before = c->hs_len, take = n;
  int len;
  uv_buf_t b;

  if (c->hs == NULL)
    c->hs = malloc(HS_MAX + 1);
  if (c->hs_len + take > HS_MAX)
    take = HS_MAX - c->hs_len;
  memcpy(c->hs + c->hs_len, data, take);
  c->hs_len += take;
  c->hs[c->hs_len] = 0;
  eoh = strstr(c->hs, "\r\n\r\n");
  if (eoh == NULL)
    return c->hs_len >= HS_MAX ? -1 : (ssize_t)n;
  key = strcasestr(c->hs, "\r\nSec-WebSocket-Key:");
  if (key == NULL || key > eoh)
    return -1;
  key += 20;
  while (*key == ' ')
    key++;
  end = strstr(key, "\r\n");
  while (end > key && end[-1] == ' ')
    end--;
  if (accept_value(key, (size_t)(end - key), acc) != 0)
    return -1;
  len = snprintf(resp, sizeof(resp), resp_fmt, acc);
  b = uv_buf_init(resp, (unsigned)len);
  /* A fresh connection's socket buffer takes 129 bytes. */
  if (uv_try_write((uv_stream_t *)&c->tcp, &b, 1) != len)
    return -1;
  n = (size_t)(eoh + 4 - c->hs) - before;
  free(c->hs);
  c->hs = NULL;
  c->hs_len = (size_t)-1; /* upgraded */
  return (ssize_t)n;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  if (n == 0)
    return;
  if (c->hs_len != (size_t)-1) {
    ssize_t used = handshake(c, buf->base, (size_t)n);
    if (used < 0) {
      conn_close(c);
      return;
    }
    if (used < n)
      echo(c, buf->base + used, (size_t)(n - used), buf->base);
    return;
  }
  echo(c, buf->base, (size_t)n, buf->base);
}

static void on_connection(uv_stream_t *srv, int status) {
  conn_t *c;
  if (status < 0)
    return;
  c = calloc(1, sizeof(*c));
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s, (void)signum;
  exit(0);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 9002, i, r;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int blen = sizeof(bound);
  uv_signal_t sigint, sigterm;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: raw-echo [--host H] [--port N]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  uv_tcp_init(loop, &server);
  if (uv_ip4_addr(host, port, &addr) != 0 ||
      (r = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0)) != 0 ||
      (r = uv_listen((uv_stream_t *)&server, 511, on_connection)) != 0) {
    fprintf(stderr, "raw-echo: cannot listen on %s:%d\n", host, port);
    return 1;
  }
  uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
  printf("listening on ws://%s:%d/\n", host,
         ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  return uv_run(loop, UV_RUN_DEFAULT);
}

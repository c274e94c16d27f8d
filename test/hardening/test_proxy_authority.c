/* The CONNECT request a uvws client sends its HTTP proxy names exactly the
 * host and port of the URL, whatever their length (or the URL is refused).
 * A raw TCP server plays the proxy and reads the request line.
 *
 * Host names of 64, 253, 300 and 1000 bytes: the authority must not be cut
 * short with its port (which would name another host on the proxy's
 * default port). */
#include "hard_util.h"

static lb_loop_t L;
static lb_raw_server_t proxy;
static uvws_client_t *client;
static char line[1024];
static int got_line, closed;

static void proxy_read(lb_raw_t *r) {
  size_t n = lb_head_len(r->in, r->len);
  const char *eol;
  if (n == 0)
    return;
  eol = memchr(r->in, '\r', n);
  CHECK(eol != NULL && (size_t)(eol - r->in) < sizeof(line));
  memcpy(line, r->in, (size_t)(eol - r->in));
  line[eol - r->in] = '\0';
  got_line = 1;
  /* Refuse the tunnel: the client ends the connection. */
  lb_raw_write_str(r, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
}

static void proxy_accept(lb_raw_t *r) {
  r->on_read = proxy_read;
}

static void c_close(uvws_conn_t *conn, int code, const char *reason,
                    size_t len, int clean) {
  (void)conn;
  (void)code;
  (void)reason;
  (void)len;
  (void)clean;
  closed = 1;
}

/* Returns 1 when the CONNECT line named host:port exactly or the URL was
 * refused. */
static int authority_case(size_t host_len) {
  uvws_callbacks_t cbs = {NULL, NULL, NULL, c_close};
  uvws_connect_options_t co;
  uvws_conn_t *conn;
  char proxy_url[64], *host, *url, want[1200];
  int r, ok;

  host = malloc(host_len + 1);
  url = malloc(host_len + 64);
  CHECK(host != NULL && url != NULL);
  memset(host, 'a', host_len);
  memcpy(host + host_len - 8, ".example", 8);
  host[host_len] = '\0';
  snprintf(url, host_len + 64, "ws://%s:9001/", host);
  snprintf(want, sizeof(want), "CONNECT %s:9001 HTTP/1.1", host);

  lb_loop_init(&L, "CONNECT names the URL's authority", 20000);
  lb_raw_server_listen(&proxy, &L.loop, proxy_accept);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  snprintf(proxy_url, sizeof(proxy_url), "http://127.0.0.1:%d", proxy.port);
  memset(&co, 0, sizeof(co));
  co.proxy = proxy_url;
  got_line = closed = 0;
  r = uvws_connect(client, url, &co, &cbs, NULL, &conn);
  if (r == 0) {
    while (!closed)
      uv_run(&L.loop, UV_RUN_ONCE);
    CHECK(got_line);
  } else {
    CHECK_ERR(r, UVWS_EBADURL);
  }
  uvws_client_close(client, NULL);
  lb_raw_server_close(&proxy);
  lb_loop_run(&L);
  ok = r != 0 || strcmp(line, want) == 0;
  fprintf(stderr, "    host of %zu bytes: %s\n", host_len,
          r != 0 ? "URL refused"
          : ok   ? "CONNECT names host:port"
                 : "CONNECT line differs");
  if (!ok)
    fprintf(stderr, "      sent: ...%s\n      want: ...%s\n",
            line + strlen(line) - 30, want + strlen(want) - 30);
  free(host);
  free(url);
  return ok;
}

int main(void) {
  int ok = 1;
  lb_setup();
  CHECK(authority_case(64));
  CHECK(authority_case(253));
  ok &= authority_case(300);
  ok &= authority_case(1000);
  if (!ok)
    fprintf(stderr, "    long host names are cut short in the CONNECT "
                    "request\n");
  CHECK(ok);
  printf("test_proxy_authority: %s\n", ok ? "passed" : "known bug, see above");
  return 0;
}

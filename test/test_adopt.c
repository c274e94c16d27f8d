/* Adopting an upgrade that another HTTP server already parsed.
 *
 * A small HTTP server written here reads each request head, parses it,
 * stops reading, and hands the connection to uvws_server_adopt() with the
 * bytes it read past the head, then closes its own handle. A uvws client
 * and a raw client (that sends the request and a frame in one write) talk
 * to the uvws server through it. */
#include "loopback_util.h"

static lb_loop_t L;
static uvws_server_t *server;
static uvws_client_t *client;
static int http_port;
static uv_tcp_t listener;

/* ---- the other HTTP server ---------------------------------------------- */

typedef struct {
  uv_tcp_t tcp;
  char buf[8192];
  size_t len;
} http_conn_t;

static int adopted, adopt_errors;

static void http_closed(uv_handle_t *h) {
  free(h->data);
}

/* Parses the head in c->buf[0..head_len) the simple way and adopts. */
static void hand_over(http_conn_t *c, size_t head_len) {
  char method[16], target[256];
  uvws_header_t headers[32];
  char *line, *save = NULL;
  size_t n = 0;
  int r;

  c->buf[head_len - 2] = '\0'; /* cut the final CRLF: lines remain */
  line = strtok_r(c->buf, "\r\n", &save);
  CHECK(line != NULL);
  CHECK_EQ(sscanf(line, "%15s %255s", method, target), 2);
  while ((line = strtok_r(NULL, "\r\n", &save)) != NULL && n < 32) {
    char *colon = strchr(line, ':');
    CHECK(colon != NULL);
    *colon = '\0';
    headers[n].name = line;
    headers[n].value = colon + 1 + strspn(colon + 1, " ");
    n++;
  }
  uv_read_stop((uv_stream_t *)&c->tcp);
  r = API(uvws_server_adopt(server, (uv_stream_t *)&c->tcp, method, target,
                            headers, n, c->buf + head_len, c->len - head_len));
  if (r == 0)
    adopted++;
  else
    adopt_errors++;
  /* The caller's handle goes, whatever the result. */
  uv_close((uv_handle_t *)&c->tcp, http_closed);
}

static void http_alloc(uv_handle_t *h, size_t size, uv_buf_t *b) {
  http_conn_t *c = h->data;
  (void)size;
  *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void http_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  http_conn_t *c = s->data;
  (void)b;
  if (n < 0) {
    uv_close((uv_handle_t *)s, http_closed);
    return;
  }
  c->len += (size_t)n;
  for (size_t i = 0; i + 4 <= c->len; i++) {
    if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
      hand_over(c, i + 4);
      return;
    }
  }
}

static void http_connection(uv_stream_t *l, int status) {
  http_conn_t *c = calloc(1, sizeof(*c));
  CHECK_EQ(status, 0);
  CHECK(c != NULL);
  CHECK_EQ(uv_tcp_init(l->loop, &c->tcp), 0);
  c->tcp.data = c;
  CHECK_EQ(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
  CHECK_EQ(uv_read_start((uv_stream_t *)&c->tcp, http_alloc, http_read), 0);
}

/* ---- the uvws server: echoes ------------------------------------------- */

static int s_opens, s_closes, s_messages;
static char s_path[64];

static void s_open(uvws_conn_t *c) {
  LB_NOT_IN_API();
  s_opens++;
  snprintf(s_path, sizeof(s_path), "%s", uvws_conn_url(c));
}

static void s_message(uvws_conn_t *c, uvws_msg_type_t t, const char *d,
                      size_t n) {
  LB_NOT_IN_API();
  s_messages++;
  CHECK_EQ(uvws_conn_send(c, t, d, n), 0);
}

static void s_close(uvws_conn_t *c, int code, const char *r, size_t n,
                    int clean) {
  (void)c, (void)r, (void)n;
  LB_NOT_IN_API();
  CHECK_EQ(code, 1000);
  CHECK_EQ(clean, 1);
  s_closes++;
}

static int upgrade_hook(uvws_server_t *s, uvws_request_t *req) {
  (void)s;
  LB_NOT_IN_API();
  /* What the other server parsed arrives as if read by uvws. */
  CHECK_STR(uvws_request_header(req, "X-From"), "adopter");
  return 0;
}

/* ---- a uvws client ------------------------------------------------------ */

static int c_opens, c_closes, c_echoes;

static void c_open(uvws_conn_t *c) {
  LB_NOT_IN_API();
  c_opens++;
  CHECK_EQ(uvws_conn_send_text(c, "through the adopter", 19), 0);
}

static void c_message(uvws_conn_t *c, uvws_msg_type_t t, const char *d,
                      size_t n) {
  LB_NOT_IN_API();
  CHECK_EQ(t, UVWS_TEXT);
  CHECK(n == 19 && memcmp(d, "through the adopter", 19) == 0);
  c_echoes++;
  CHECK_EQ(uvws_conn_close(c, 1000, NULL, 0), 0);
}

static void c_close(uvws_conn_t *c, int code, const char *r, size_t n,
                    int clean) {
  (void)c, (void)r, (void)n;
  LB_NOT_IN_API();
  CHECK_EQ(code, 1000);
  CHECK_EQ(clean, 1);
  c_closes++;
}

/* ---- a raw client: request and a frame in one write --------------------- */

static lb_raw_t raw;
static int raw_echo;

static void raw_connected(lb_raw_t *r) {
  static const uint8_t mask[4] = {1, 2, 3, 4};
  char *req = lb_request("/raw", http_port, "X-From: adopter\r\n");
  size_t reqlen = strlen(req), flen;
  uint8_t *frame = lb_frame(1, 0x2, mask, (const uint8_t *)"\x00\x01\x02", 3,
                            &flen);
  char *both = malloc(reqlen + flen);
  memcpy(both, req, reqlen);
  memcpy(both + reqlen, frame, flen);
  lb_raw_write(r, both, reqlen + flen);
  free(both);
  free(frame);
  free(req);
}

static void raw_read(lb_raw_t *r) {
  size_t head = lb_head_len(r->in, r->len);
  lb_frame_t f;
  size_t n;
  if (head == 0)
    return;
  CHECK(strncmp(r->in, "HTTP/1.1 101 ", 13) == 0);
  n = lb_frame_parse_header((const uint8_t *)r->in + head, r->len - head, &f);
  if (n == 0 || r->len - head - n < f.len)
    return;
  CHECK_EQ(f.opcode, 0x2);
  CHECK_EQ(f.len, 3);
  CHECK(memcmp(r->in + head + n, "\x00\x01\x02", 3) == 0);
  raw_echo = 1;
  lb_raw_consume(r, head + n + (size_t)f.len);
  lb_raw_send_close(r, 1000, NULL);
}

static void all_done_check(uv_timer_t *t) {
  if (!(raw.closed && c_closes == 1 && s_closes == 2))
    return;
  uv_close((uv_handle_t *)t, NULL);
  uv_close((uv_handle_t *)&listener, NULL);
  uvws_client_close(client, NULL);
  uvws_server_close(server, NULL);
}

int main(void) {
  uvws_server_options_t so;
  uvws_callbacks_t cc = {c_open, c_message, NULL, c_close, NULL, NULL, NULL};
  uvws_connect_options_t co;
  uvws_header_t extra = {"X-From", "adopter"};
  struct sockaddr_in addr;
  struct sockaddr_storage ss;
  uv_timer_t poll;
  uvws_conn_t *conn;
  int len = sizeof(ss);
  char url[128];

  lb_setup();
  lb_loop_init(&L, "adopted upgrades", 15000);

  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = s_open;
  so.callbacks.on_message = s_message;
  so.callbacks.on_close = s_close;
  so.on_upgrade = upgrade_hook;
  /* The uvws server listens nowhere: all it gets is adopted. */
  CHECK_EQ(uvws_server_create(&L.loop, &so, &server), 0);

  CHECK_EQ(uv_tcp_init(&L.loop, &listener), 0);
  CHECK_EQ(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
  CHECK_EQ(uv_tcp_bind(&listener, (struct sockaddr *)&addr, 0), 0);
  CHECK_EQ(uv_listen((uv_stream_t *)&listener, 16, http_connection), 0);
  CHECK_EQ(uv_tcp_getsockname(&listener, (struct sockaddr *)&ss, &len), 0);
  http_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

  /* Bad arguments: nothing happens. */
  CHECK_ERR(uvws_server_adopt(server, (uv_stream_t *)&listener, NULL, "/",
                              NULL, 0, NULL, 0),
            UV_EINVAL);
  {
    uvws_header_t bad = {"X", "a\r\nb"};
    CHECK_ERR(uvws_server_adopt(server, (uv_stream_t *)&listener, "GET", "/",
                                &bad, 1, NULL, 0),
              UV_EINVAL);
  }

  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  memset(&co, 0, sizeof(co));
  co.headers = &extra;
  co.num_headers = 1;
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/adopted?x=1", http_port);
  CHECK_EQ(uvws_connect(client, url, &co, &cc, NULL, &conn), 0);

  lb_raw_init(&raw, &L.loop);
  raw.on_read = raw_read;
  lb_raw_connect(&raw, "127.0.0.1", http_port, raw_connected);

  CHECK_EQ(uv_timer_init(&L.loop, &poll), 0);
  CHECK_EQ(uv_timer_start(&poll, all_done_check, 10, 10), 0);
  lb_loop_run(&L);

  CHECK_EQ(adopted, 2);
  CHECK_EQ(adopt_errors, 0);
  CHECK_EQ(s_opens, 2);
  CHECK_EQ(s_messages, 2);
  CHECK_EQ(c_opens, 1);
  CHECK_EQ(c_echoes, 1);
  CHECK(raw_echo);
  printf("test_adopt: 2 upgrades adopted from another HTTP server\n");
  return 0;
}

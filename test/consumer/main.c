/* A program that uses an installed uvws: a server and a client on
 * 127.0.0.1 in one loop. The client sends "hello", the server echoes it,
 * the client closes with 1000 "bye" once the echo is back, both sides see
 * a clean close, and everything is released. Exits 0 when all of that
 * happened, 1 otherwise. Built by test/packaging/consumer.sh against the
 * installed package, with CMake and with pkg-config. */
#include <stdio.h>
#include <string.h>

#include <uvws.h>

static uvws_server_t *server;
static uvws_client_t *client;
static uv_timer_t watchdog;
static int echoed, client_closed, server_closed, server_released,
    client_released, failed;

static void fail(const char *what) {
  fprintf(stderr, "consumer: %s\n", what);
  failed = 1;
}

static void on_server_released(uvws_server_t *s) {
  (void)s;
  server_released++;
}

static void on_client_released(uvws_client_t *c) {
  (void)c;
  client_released++;
}

/* Both ends closed: release the server, the client and the watchdog. */
static void finish(void) {
  static int finished;
  if (finished++)
    return;
  uv_close((uv_handle_t *)&watchdog, NULL);
  uvws_client_close(client, on_client_released);
  uvws_server_close(server, on_server_released);
}

static void server_on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                              const char *data, size_t len) {
  if (uvws_conn_send(conn, type, data, len) != 0)
    fail("server: send failed");
}

static void server_on_close(uvws_conn_t *conn, int code, const char *reason,
                            size_t reason_len, int was_clean) {
  (void)conn;
  if (code != 1000 || reason_len != 3 || memcmp(reason, "bye", 3) != 0 ||
      !was_clean)
    fail("server: unexpected close");
  if (++server_closed == 1 && client_closed == 1)
    finish();
}

static void client_on_open(uvws_conn_t *conn) {
  if (uvws_conn_send_text(conn, "hello", 5) != 0)
    fail("client: send failed");
}

static void client_on_message(uvws_conn_t *conn, uvws_msg_type_t type,
                              const char *data, size_t len) {
  if (type != UVWS_TEXT || len != 5 || memcmp(data, "hello", 5) != 0)
    fail("client: wrong echo");
  echoed++;
  if (uvws_conn_close(conn, 1000, "bye", 3) != 0)
    fail("client: close failed");
}

static void client_on_error(uvws_conn_t *conn, int err) {
  (void)conn;
  fprintf(stderr, "consumer: client error %s\n", uvws_err_name(err));
  failed = 1;
}

static void client_on_close(uvws_conn_t *conn, int code, const char *reason,
                            size_t reason_len, int was_clean) {
  (void)conn;
  (void)reason;
  (void)reason_len;
  if (code != 1000 || !was_clean)
    fail("client: unexpected close");
  if (++client_closed == 1 && server_closed == 1)
    finish();
}

static void on_watchdog(uv_timer_t *t) {
  (void)t;
  fail("timed out");
  finish();
}

int main(void) {
  uv_loop_t loop;
  uvws_server_options_t sopts;
  uvws_callbacks_t cbs;
  uvws_conn_t *conn;
  char url[64];
  int r;

  /* The header and the library linked at run time agree. */
  if (uvws_version() != UVWS_VERSION_HEX) {
    fprintf(stderr, "consumer: uvws.h says %#x, the library %#x\n",
            UVWS_VERSION_HEX, uvws_version());
    return 1;
  }
  printf("consumer: uvws %s\n", uvws_version_string());

  uv_loop_init(&loop);
  memset(&sopts, 0, sizeof(sopts));
  sopts.callbacks.on_message = server_on_message;
  sopts.callbacks.on_close = server_on_close;
  r = uvws_server_create(&loop, &sopts, &server);
  if (r == 0)
    r = uvws_server_listen(server, "127.0.0.1", 0, 0);
  if (r == 0)
    r = uvws_client_create(&loop, NULL, &client);
  if (r != 0) {
    fprintf(stderr, "consumer: %s\n", uvws_strerror(r));
    return 1;
  }

  memset(&cbs, 0, sizeof(cbs));
  cbs.on_open = client_on_open;
  cbs.on_message = client_on_message;
  cbs.on_error = client_on_error;
  cbs.on_close = client_on_close;
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", uvws_server_port(server));
  r = uvws_connect(client, url, NULL, &cbs, NULL, &conn);
  if (r != 0) {
    fprintf(stderr, "consumer: connect: %s\n", uvws_strerror(r));
    return 1;
  }

  uv_timer_init(&loop, &watchdog);
  uv_timer_start(&watchdog, on_watchdog, 10000, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    fail("handles left open on the loop");

  if (echoed != 1 || client_closed != 1 || server_closed != 1 ||
      server_released != 1 || client_released != 1)
    fail("wrong callback counts");
  if (failed)
    return 1;
  printf("consumer: echo and clean close over %s\n", url);
  return 0;
}

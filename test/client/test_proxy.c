/* Client connections through HTTP proxies, on 127.0.0.1.
 *
 * A real proxy: Debian's tinyproxy ($UVWS_TINYPROXY), started here in the
 * foreground with a configuration written into a temporary directory:
 * Basic authentication (alice / s3cret) and CONNECT allowed to two ports
 * only, where a ws:// and a wss:// echo server of this process listen.
 *  - Good credentials reach both servers and messages are echoed; wss://
 *    keeps its TLS end to end (the server's certificate is verified
 *    against the test CA, and the proxy's log shows CONNECT and nothing
 *    else).
 *  - No credentials: UVWS_EPROXYAUTH, status 407 and its
 *    Proxy-Authenticate header; wrong ones: UVWS_EPROXYAUTH with the
 *    proxy's status (tinyproxy 1.11 answers 401); on_close 1006 both times.
 *  - A port outside ConnectPort: UVWS_EPROXY with status 403.
 *  - A proxy that is not there: UV_ECONNREFUSED, status 0.
 *  - The environment (proxy_from_env = 1): http_proxy for ws://,
 *    https_proxy / HTTPS_PROXY for wss://, all_proxy, upper-case
 *    HTTP_PROXY ignored, no_proxy / NO_PROXY bypassing (shown by a proxy
 *    variable that names a port where nothing listens), proxy_from_env = 0
 *    and an explicit proxy overriding the environment.
 * A recording proxy written here, which relays like a real one and keeps
 * what it was sent: the exact CONNECT request (authority, Host,
 * percent-decoded Basic credentials, no application headers), what went
 * through the tunnel (the WebSocket handshake for ws://, a TLS record and
 * no plaintext for wss://), IPv6 and host-name authorities, 407 and 502
 * answers, and a proxy that hangs up.
 * Malformed proxy URLs are refused with UVWS_EBADPROXY. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client_util.h"

#define USER "alice"
#define PASSWORD "s3cret"

static lb_loop_t L;
static uvws_client_t *client;
static uvws_server_t *server; /* ws:// on ws_port, wss:// on tls_port */
static uvws_server_t *other;  /* ws:// on forbidden_port */
static int ws_port, tls_port, forbidden_port, dead_port;
static const char *certs; /* $UVWS_TEST_CERTS, or NULL */

/* ----------------------------------------------------------------------- */
/* tinyproxy                                                               */

static struct {
  pid_t pid;
  int port;
  char dir[64], conf[128], log[128];
} tp;

/* A port that was free a moment ago. */
static int free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  CHECK(fd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int port_open(int port) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
  CHECK(fd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  close(fd);
  return ok;
}

static void tinyproxy_start(void) {
  const char *bin = getenv("UVWS_TINYPROXY");
  FILE *f;
  int i, status;

  if (bin == NULL || *bin == '\0')
    bin = "tinyproxy";
  strcpy(tp.dir, "/tmp/uvws-proxy-XXXXXX");
  CHECK(mkdtemp(tp.dir) != NULL);
  snprintf(tp.conf, sizeof(tp.conf), "%s/tinyproxy.conf", tp.dir);
  snprintf(tp.log, sizeof(tp.log), "%s/tinyproxy.log", tp.dir);
  tp.port = free_port();
  f = fopen(tp.conf, "w");
  CHECK(f != NULL);
  fprintf(f,
          "Port %d\n"
          "Listen 127.0.0.1\n"
          "Timeout 30\n"
          "MaxClients 32\n"
          "LogFile \"%s\"\n"
          "LogLevel Connect\n"
          "BasicAuth " USER " " PASSWORD "\n"
          /* CONNECT only to the two echo servers. */
          "ConnectPort %d\n"
          "ConnectPort %d\n",
          tp.port, tp.log, ws_port, tls_port);
  CHECK_EQ(fclose(f), 0);

  tp.pid = fork();
  CHECK(tp.pid >= 0);
  if (tp.pid == 0) {
    /* Dies with the test, whatever way the test ends. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execlp(bin, bin, "-d", "-c", tp.conf, (char *)NULL);
    fprintf(stderr,
            "cannot run %s: %s (Debian package tinyproxy; "
            "scripts/test installs it)\n",
            bin, strerror(errno));
    _exit(127);
  }
  for (i = 0; i < 200 && !port_open(tp.port); i++) {
    CHECK_EQ(waitpid(tp.pid, &status, WNOHANG), 0);
    usleep(25000);
  }
  CHECK(port_open(tp.port));
  fprintf(stderr, "  tinyproxy listening on 127.0.0.1:%d\n", tp.port);
}

/* Stops tinyproxy and returns its log (free() it). */
static char *tinyproxy_stop(void) {
  int i, status = 0;
  pid_t r = 0;
  char *text;
  long n;
  FILE *f;

  kill(tp.pid, SIGTERM);
  for (i = 0; i < 100 && (r = waitpid(tp.pid, &status, WNOHANG)) == 0; i++)
    usleep(20000);
  if (r == 0) {
    kill(tp.pid, SIGKILL);
    waitpid(tp.pid, &status, 0);
  }
  f = fopen(tp.log, "r");
  CHECK(f != NULL);
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  text = malloc((size_t)n + 1);
  CHECK(text != NULL);
  CHECK_EQ(fread(text, 1, (size_t)n, f), n);
  text[n] = '\0';
  fclose(f);
  unlink(tp.log);
  unlink(tp.conf);
  rmdir(tp.dir);
  return text;
}

/* ----------------------------------------------------------------------- */
/* A recording proxy: answers CONNECT with `answer` (0: relays to the
 * requested port on 127.0.0.1, like a real proxy), keeps the request and
 * the first bytes sent through the tunnel.                               */

static struct {
  lb_raw_server_t srv;
  int on;
  int answer; /* 0: relay; -1: hang up; -2: say nothing; else that status */
  lb_raw_t *down;
  lb_raw_t up;
  int up_open, up_connected;
  char request[4096];
  int requests;
  char tunnel[8192];
  size_t tunnel_len;
} rp;

static void rp_close_all(void) {
  if (rp.down != NULL)
    lb_raw_close(rp.down);
  if (rp.up_open)
    lb_raw_close(&rp.up);
}

static void rp_down_closed(lb_raw_t *r) {
  rp.down = NULL;
}

static void rp_up_closed(lb_raw_t *r) {
  rp.up_open = 0;
}

static void rp_forward_down(void) {
  size_t n;
  if (rp.down == NULL || rp.down->len == 0 || !rp.up_connected)
    return;
  n = rp.down->len;
  if (n > sizeof(rp.tunnel) - rp.tunnel_len)
    n = sizeof(rp.tunnel) - rp.tunnel_len;
  memcpy(rp.tunnel + rp.tunnel_len, rp.down->in, n);
  rp.tunnel_len += n;
  if (!uv_is_closing((uv_handle_t *)&rp.up.tcp))
    lb_raw_write(&rp.up, rp.down->in, rp.down->len);
  lb_raw_consume(rp.down, rp.down->len);
}

static void rp_up_read(lb_raw_t *r) {
  if (rp.down != NULL && !uv_is_closing((uv_handle_t *)&rp.down->tcp))
    lb_raw_write(rp.down, r->in, r->len);
  lb_raw_consume(r, r->len);
}

static void rp_up_eof(lb_raw_t *r) {
  if (rp.down != NULL)
    lb_raw_close(rp.down);
}

static void rp_down_eof(lb_raw_t *r) {
  if (rp.up_open)
    lb_raw_close(&rp.up);
}

static void rp_up_connected(lb_raw_t *r) {
  rp.up_connected = 1;
  if (rp.down != NULL)
    lb_raw_write_str(rp.down, "HTTP/1.1 200 Connection established\r\n\r\n");
  rp_forward_down();
}

static void rp_down_read(lb_raw_t *r) {
  char line[256];
  size_t n;
  int port;
  if (rp.requests == 0) {
    n = lb_head_len(r->in, r->len);
    if (n == 0)
      return;
    CHECK(n < sizeof(rp.request));
    memcpy(rp.request, r->in, n);
    rp.request[n] = '\0';
    rp.requests++;
    lb_raw_consume(r, n);
    if (rp.answer == -1) {
      lb_raw_close(r);
      return;
    }
    if (rp.answer == -2)
      return;
    if (rp.answer != 0) {
      snprintf(line, sizeof(line),
               "HTTP/1.1 %d Refused\r\n"
               "Proxy-Authenticate: Basic realm=\"recording\"\r\n"
               "Content-Length: 7\r\n\r\nrefused",
               rp.answer);
      lb_raw_write_str(r, line);
      return;
    }
    /* "CONNECT 127.0.0.1:PORT HTTP/1.1" */
    CHECK(sscanf(rp.request, "CONNECT 127.0.0.1:%d HTTP/1.1", &port) == 1);
    lb_raw_init(&rp.up, &L.loop);
    rp.up_open = 1;
    rp.up.on_read = rp_up_read;
    rp.up.on_eof = rp_up_eof;
    rp.up.on_closed = rp_up_closed;
    lb_raw_connect(&rp.up, "127.0.0.1", port, rp_up_connected);
  }
  rp_forward_down();
}

static void rp_accept(lb_raw_t *r) {
  CHECK(rp.down == NULL);
  rp.down = r;
  r->on_read = rp_down_read;
  r->on_eof = rp_down_eof;
  r->on_closed = rp_down_closed;
}

static void rp_start(int answer) {
  memset(&rp, 0, sizeof(rp));
  rp.answer = answer;
  rp.on = 1;
  lb_raw_server_listen(&rp.srv, &L.loop, rp_accept);
}

/* ----------------------------------------------------------------------- */
/* Echo servers, a client, and one connection                              */

static struct {
  int upgrades;
  char host[128], authorization[128];
} S;

static struct {
  int open, error, err, status, close, code, clean, echoes;
  char header[256]; /* R_header_name of the answer, at on_error */
  const char *header_name;
  int tls; /* the connection used TLS */
} R;

static int srv_upgrade(uvws_server_t *s, uvws_request_t *req) {
  const char *v;
  S.upgrades++;
  v = uvws_request_header(req, "Host");
  snprintf(S.host, sizeof(S.host), "%s", v ? v : "");
  v = uvws_request_header(req, "Authorization");
  snprintf(S.authorization, sizeof(S.authorization), "%s", v ? v : "");
  return 0;
}

static void srv_message(uvws_conn_t *conn, uvws_msg_type_t type,
                        const char *data, size_t len) {
  CHECK_ERR(uvws_conn_send(conn, type, data, len), 0);
}

static void end_test(void) {
  API_VOID(uvws_client_close(client, NULL));
  API_VOID(uvws_server_close(server, NULL));
  API_VOID(uvws_server_close(other, NULL));
  if (rp.on) {
    lb_raw_server_close(&rp.srv);
    rp_close_all();
    rp.on = 0;
  }
}

#define BIG_LEN (1024 * 1024 + 7)
static char *big;

static void c_open(uvws_conn_t *conn) {
  LB_NOT_IN_API();
  R.open++;
  R.status = uvws_conn_http_status(conn);
  R.tls = uvws_conn_tls_cipher(conn) != NULL;
  CHECK_ERR(API(uvws_conn_send_text(conn, "through the proxy", 17)), 0);
  CHECK_ERR(API(uvws_conn_send_binary(conn, big, BIG_LEN)), 0);
}

static void c_message(uvws_conn_t *conn, uvws_msg_type_t type, const char *data,
                      size_t len) {
  LB_NOT_IN_API();
  if (R.echoes++ == 0) {
    CHECK_EQ(type, UVWS_TEXT);
    CHECK_EQ(len, 17);
    CHECK(memcmp(data, "through the proxy", 17) == 0);
  } else {
    CHECK_EQ(type, UVWS_BINARY);
    CHECK_EQ(len, BIG_LEN);
    CHECK(memcmp(data, big, len) == 0);
    CHECK_ERR(API(uvws_conn_close(conn, 1000, NULL, 0)), 0);
  }
}

static void c_error(uvws_conn_t *conn, int err) {
  const char *v;
  LB_NOT_IN_API();
  R.error++;
  R.err = err;
  R.status = uvws_conn_http_status(conn);
  if (R.header_name != NULL) {
    v = uvws_conn_response_header(conn, R.header_name);
    snprintf(R.header, sizeof(R.header), "%s", v ? v : "(none)");
  }
}

static void c_close(uvws_conn_t *conn, int code, const char *reason, size_t len,
                    int clean) {
  LB_NOT_IN_API();
  R.close++;
  R.code = code;
  R.clean = clean;
  /* The proxy's answer is still there. */
  if (R.error)
    CHECK_EQ(uvws_conn_http_status(conn), R.status);
  end_test();
}

static const uvws_callbacks_t client_cbs = {c_open, c_message, c_error,
                                            c_close};

/* Connects to url with o, through whatever o and the environment say, and
 * runs the loop until the connection and everything else has closed. */
static unsigned handshake_timeout_ms; /* 0: the default */

static void run(const char *url, const uvws_connect_options_t *o) {
  uvws_server_options_t so;
  uvws_client_options_t co;
  uvws_conn_t *conn;
  char path[512];

  memset(&R, 0, sizeof(R));
  memset(&S, 0, sizeof(S));
  R.header_name = "Proxy-Authenticate";

  memset(&so, 0, sizeof(so));
  so.on_upgrade = srv_upgrade;
  so.callbacks.on_message = srv_message;
  if (certs != NULL) {
    snprintf(path, sizeof(path), "%s/server.crt", certs);
    so.tls.cert_file = strdup(path);
    snprintf(path, sizeof(path), "%s/server.key", certs);
    so.tls.key_file = strdup(path);
  }
  CHECK_EQ(uvws_server_create(&L.loop, &so, &server), 0);
  free((char *)so.tls.cert_file);
  free((char *)so.tls.key_file);
  CHECK_ERR(uvws_server_listen(server, "127.0.0.1", ws_port, 0), 0);
  if (certs != NULL)
    CHECK_ERR(uvws_server_listen_tls(server, "127.0.0.1", tls_port, 0), 0);
  memset(&so, 0, sizeof(so));
  so.callbacks.on_message = srv_message;
  CHECK_EQ(uvws_server_create(&L.loop, &so, &other), 0);
  CHECK_ERR(uvws_server_listen(other, "127.0.0.1", forbidden_port, 0), 0);

  memset(&co, 0, sizeof(co));
  co.limits.handshake_timeout_ms = handshake_timeout_ms;
  if (certs != NULL) {
    snprintf(path, sizeof(path), "%s/ca.crt", certs);
    co.tls.ca_file = path;
  }
  CHECK_EQ(uvws_client_create(&L.loop, &co, &client), 0);
  CHECK_ERR(API(uvws_connect(client, url, o, &client_cbs, NULL, &conn)), 0);
  lb_loop_run(&L);
  CHECK_EQ(R.close, 1);
}

static void start(const char *name, uint64_t ms) {
  lb_loop_init(&L, name, ms);
}

static char ws_url[64], wss_url[64], forbidden_url[64];
static char good_proxy[128], bad_proxy[128], anon_proxy[128], dead_proxy[64];

static void check_echoed(int tls) {
  CHECK_EQ(R.error, 0);
  CHECK_EQ(R.open, 1);
  CHECK_EQ(R.status, 101);
  CHECK_EQ(R.echoes, 2);
  CHECK_EQ(R.code, 1000);
  CHECK_EQ(R.clean, 1);
  CHECK_EQ(R.tls, tls);
  CHECK_EQ(S.upgrades, 1);
}

static void check_failed(int err, int status) {
  CHECK_EQ(R.open, 0);
  CHECK_EQ(R.error, 1);
  CHECK_ERR(R.err, err);
  CHECK_EQ(R.status, status);
  CHECK_EQ(R.code, 1006);
  CHECK_EQ(R.clean, 0);
  CHECK_EQ(S.upgrades, 0);
}

/* ----------------------------------------------------------------------- */
/* Through tinyproxy                                                       */

static void test_tinyproxy(void) {
  uvws_connect_options_t o;
  uvws_header_t h = {"Authorization", "Bearer for-the-origin"};
  char host[64];

  memset(&o, 0, sizeof(o));
  o.proxy = good_proxy;
  o.headers = &h;
  o.num_headers = 1;
  start("tinyproxy: ws:// with good credentials", 15000);
  run(ws_url, &o);
  check_echoed(0);
  /* The origin got the request meant for it. */
  snprintf(host, sizeof(host), "127.0.0.1:%d", ws_port);
  CHECK_STR(S.host, host);
  CHECK_STR(S.authorization, "Bearer for-the-origin");

  if (certs != NULL) {
    start("tinyproxy: wss:// with good credentials", 15000);
    run(wss_url, &o);
    check_echoed(1);
  }

  o.headers = NULL;
  o.num_headers = 0;
  o.proxy = anon_proxy;
  start("tinyproxy: no credentials", 15000);
  run(ws_url, &o);
  check_failed(UVWS_EPROXYAUTH, 407);
  CHECK(strncmp(R.header, "Basic", 5) == 0);

  o.proxy = bad_proxy;
  start("tinyproxy: wrong credentials", 15000);
  run(ws_url, &o);
  /* tinyproxy 1.11 answers a wrong password with 401 rather than 407. */
  CHECK(R.status == 407 || R.status == 401);
  check_failed(UVWS_EPROXYAUTH, R.status);

  o.proxy = good_proxy;
  start("tinyproxy: port not allowed for CONNECT", 15000);
  run(forbidden_url, &o);
  check_failed(UVWS_EPROXY, 403);

  o.proxy = dead_proxy;
  start("proxy not listening", 15000);
  run(ws_url, &o);
  check_failed(UV_ECONNREFUSED, 0);
}

/* ----------------------------------------------------------------------- */
/* Proxies from the environment                                            */

static const char *const env_names[] = {
    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
    "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};

/* Clears every proxy variable, then sets the pairs of vars (name, value,
 * ..., NULL). */
static void env(const char *const *vars) {
  size_t i;
  for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
    CHECK_EQ(unsetenv(env_names[i]), 0);
  for (i = 0; vars != NULL && vars[i] != NULL; i += 2)
    CHECK_EQ(setenv(vars[i], vars[i + 1], 1), 0);
}

typedef enum { DIRECT, PROXIED, REFUSED, AUTH } outcome_t;

static void check_outcome(outcome_t want, int tls) {
  switch (want) {
  case DIRECT:
  case PROXIED:
    check_echoed(tls);
    break;
  case REFUSED:
    check_failed(UV_ECONNREFUSED, 0);
    break;
  case AUTH:
    check_failed(UVWS_EPROXYAUTH, R.status);
    CHECK(R.status == 407 || R.status == 401);
    break;
  }
}

static void test_environment(void) {
  /* One line per case: the variables, wss:// or not, proxy_from_env, an
   * explicit proxy (NULL: none), and the outcome. A variable naming
   * dead_proxy shows whether it was used: the connection is refused. */
  const struct {
    const char *name;
    const char *vars[9];
    int tls, from_env;
    const char *proxy;
    outcome_t want;
  } cases[] = {
      {"http_proxy", {"http_proxy", good_proxy}, 0, 1, NULL, PROXIED},
      {"http_proxy is used", {"http_proxy", dead_proxy}, 0, 1, NULL, REFUSED},
      {"http_proxy without credentials",
       {"http_proxy", anon_proxy},
       0,
       1,
       NULL,
       AUTH},
      {"upper-case HTTP_PROXY is ignored",
       {"HTTP_PROXY", dead_proxy},
       0,
       1,
       NULL,
       DIRECT},
      {"https_proxy is not for ws://",
       {"https_proxy", dead_proxy},
       0,
       1,
       NULL,
       DIRECT},
      {"all_proxy", {"all_proxy", dead_proxy}, 0, 1, NULL, REFUSED},
      {"ALL_PROXY", {"ALL_PROXY", dead_proxy}, 0, 1, NULL, REFUSED},
      {"no_proxy=127.0.0.1",
       {"http_proxy", dead_proxy, "no_proxy", "127.0.0.1"},
       0,
       1,
       NULL,
       DIRECT},
      {"no_proxy list",
       {"http_proxy", dead_proxy, "no_proxy", "example.com, 127.0.0.1"},
       0,
       1,
       NULL,
       DIRECT},
      {"NO_PROXY=*",
       {"http_proxy", dead_proxy, "NO_PROXY", "*"},
       0,
       1,
       NULL,
       DIRECT},
      {"no_proxy for other hosts",
       {"http_proxy", dead_proxy, "no_proxy", "example.com,10.0.0.1"},
       0,
       1,
       NULL,
       REFUSED},
      {"proxy_from_env = 0", {"http_proxy", dead_proxy}, 0, 0, NULL, DIRECT},
      {"explicit proxy over the environment",
       {"http_proxy", dead_proxy},
       0,
       1,
       good_proxy,
       PROXIED},
      {"https_proxy for wss://",
       {"https_proxy", good_proxy, "http_proxy", dead_proxy},
       1,
       1,
       NULL,
       PROXIED},
      {"HTTPS_PROXY for wss://",
       {"HTTPS_PROXY", good_proxy, "http_proxy", dead_proxy},
       1,
       1,
       NULL,
       PROXIED},
      {"http_proxy is not for wss://",
       {"http_proxy", dead_proxy},
       1,
       1,
       NULL,
       DIRECT},
      {"no_proxy for wss://",
       {"https_proxy", dead_proxy, "no_proxy", "127.0.0.1"},
       1,
       1,
       NULL,
       DIRECT},
  };
  uvws_connect_options_t o;
  char name[128];
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    if (cases[i].tls && certs == NULL)
      continue;
    env(cases[i].vars);
    memset(&o, 0, sizeof(o));
    o.proxy_from_env = cases[i].from_env;
    o.proxy = cases[i].proxy;
    snprintf(name, sizeof(name), "environment: %s", cases[i].name);
    start(name, 15000);
    run(cases[i].tls ? wss_url : ws_url, &o);
    check_outcome(cases[i].want, cases[i].tls);
  }
  env(NULL);
}

/* ----------------------------------------------------------------------- */
/* The recording proxy                                                     */

/* 1 if needle occurs in hay[0..len). */
static int find_bytes(const char *hay, size_t len, const char *needle,
                      size_t n) {
  size_t i;
  for (i = 0; i + n <= len; i++)
    if (memcmp(hay + i, needle, n) == 0)
      return 1;
  return 0;
}

static void test_recording(void) {
  uvws_connect_options_t o;
  uvws_header_t h = {"Authorization", "Bearer for-the-origin"};
  char proxy[128], want[128];
  size_t n;

  memset(&o, 0, sizeof(o));
  o.headers = &h;
  o.num_headers = 1;
  o.proxy = proxy;

  /* ws://: the CONNECT request, then the WebSocket handshake in the clear
   * through the tunnel. */
  start("recording proxy: ws://, percent-encoded credentials", 15000);
  rp_start(0);
  snprintf(proxy, sizeof(proxy), "http://us%%20er:p%%40ss%%3Aw@127.0.0.1:%d",
           rp.srv.port);
  run(ws_url, &o);
  check_echoed(0);
  n = strlen(rp.request);
  snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%d HTTP/1.1\r\n", ws_port);
  CHECK(strncmp(rp.request, want, strlen(want)) == 0);
  snprintf(want, sizeof(want), "Host: 127.0.0.1:%d", ws_port);
  CHECK(lb_head_has_line(rp.request, n, want));
  /* base64("us er:p@ss:w") */
  CHECK(lb_head_has_line(rp.request, n,
                         "Proxy-Authorization: Basic dXMgZXI6cEBzczp3"));
  /* The application's headers are for the origin only. */
  CHECK_EQ(cu_head_count(rp.request, n, "Authorization"), 0);
  CHECK(strstr(rp.request, "for-the-origin") == NULL);
  CHECK(rp.tunnel_len > 4);
  CHECK(strncmp(rp.tunnel, "GET / HTTP/1.1\r\n", 16) == 0);
  CHECK(find_bytes(rp.tunnel, rp.tunnel_len, "Bearer for-the-origin", 21));

  /* wss://: TLS from the first byte through the tunnel, no plaintext. */
  if (certs != NULL) {
    start("recording proxy: wss:// is TLS end to end", 15000);
    rp_start(0);
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", rp.srv.port);
    run(wss_url, &o);
    check_echoed(1);
    snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%d HTTP/1.1\r\n", tls_port);
    CHECK(strncmp(rp.request, want, strlen(want)) == 0);
    /* No credentials in the URL: no Proxy-Authorization. */
    CHECK_EQ(
        cu_head_count(rp.request, strlen(rp.request), "Proxy-Authorization"),
        0);
    CHECK(rp.tunnel_len > 5);
    CHECK_EQ((uint8_t)rp.tunnel[0], 0x16); /* a TLS handshake record */
    CHECK(!find_bytes(rp.tunnel, rp.tunnel_len, "websocket", 9));
    CHECK(!find_bytes(rp.tunnel, rp.tunnel_len, "GET ", 4));
    CHECK(!find_bytes(rp.tunnel, rp.tunnel_len, "for-the-origin", 14));
  }

  /* Refusals: the status and the answer's headers. */
  o.headers = NULL;
  o.num_headers = 0;
  start("recording proxy: 407", 15000);
  rp_start(407);
  snprintf(proxy, sizeof(proxy), "http://u:p@127.0.0.1:%d", rp.srv.port);
  run(ws_url, &o);
  check_failed(UVWS_EPROXYAUTH, 407);
  CHECK_STR(R.header, "Basic realm=\"recording\"");

  start("recording proxy: 502", 15000);
  rp_start(502);
  snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d/", rp.srv.port);
  run(ws_url, &o);
  check_failed(UVWS_EPROXY, 502);

  start("recording proxy: hangs up", 15000);
  rp_start(-1);
  snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", rp.srv.port);
  run(ws_url, &o);
  CHECK_EQ(R.open, 0);
  CHECK_EQ(R.error, 1);
  CHECK(R.err < 0);
  CHECK_EQ(R.status, 0);
  CHECK_EQ(R.code, 1006);

  /* The handshake timeout covers the proxy's answer. */
  start("recording proxy: says nothing", 15000);
  rp_start(-2);
  snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", rp.srv.port);
  handshake_timeout_ms = 300;
  run(ws_url, &o);
  handshake_timeout_ms = 0;
  check_failed(UV_ETIMEDOUT, 0);
  CHECK(rp.requests == 1);

  /* The proxy resolves host names; IPv6 literals go in brackets. */
  start("recording proxy: host name authority", 15000);
  rp_start(403);
  snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", rp.srv.port);
  run("ws://ws.example.invalid:8765/chat", &o);
  check_failed(UVWS_EPROXY, 403);
  CHECK(strncmp(rp.request, "CONNECT ws.example.invalid:8765 HTTP/1.1\r\n",
                42) == 0);
  CHECK(lb_head_has_line(rp.request, strlen(rp.request),
                         "Host: ws.example.invalid:8765"));

  start("recording proxy: IPv6 authority, default port", 15000);
  rp_start(403);
  snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", rp.srv.port);
  run("ws://[::1]/", &o);
  check_failed(UVWS_EPROXY, 403);
  CHECK(strncmp(rp.request, "CONNECT [::1]:80 HTTP/1.1\r\n", 27) == 0);

  if (certs != NULL) {
    start("recording proxy: wss:// default port", 15000);
    rp_start(403);
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", rp.srv.port);
    run("wss://ws.example.invalid/", &o);
    check_failed(UVWS_EPROXY, 403);
    CHECK(strncmp(rp.request, "CONNECT ws.example.invalid:443 HTTP/1.1\r\n",
                  41) == 0);
  }
}

/* ----------------------------------------------------------------------- */
/* Malformed proxy URLs                                                    */

static void test_bad_proxy_urls(void) {
  static const char *const bad[] = {
      "",
      "http://",
      "http://:8080",
      "https://127.0.0.1:3128",
      "socks5://127.0.0.1:1080",
      "ftp://127.0.0.1:21",
      "http://127.0.0.1:99999",
      "http://127.0.0.1:0",
      "http://127.0.0.1:80x",
      "http://[::1:8080",
      "http://us%zzer:pw@127.0.0.1:8080",
      "http://127.0.0.1 :8080",
  };
  static const uvws_callbacks_t cbs = {NULL, NULL, NULL, c_close};
  uvws_connect_options_t o;
  uvws_conn_t *conn;
  size_t i;
  int r;

  start("malformed proxy URLs", 5000);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  memset(&o, 0, sizeof(o));
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    o.proxy = bad[i];
    r = API(uvws_connect(client, "ws://127.0.0.1:9/", &o, &cbs, NULL, &conn));
    if (r != UVWS_EBADPROXY)
      fprintf(stderr, "proxy \"%s\" gave %s, expected UVWS_EBADPROXY\n", bad[i],
              r ? uvws_err_name(r) : "0");
    CHECK_ERR(r, UVWS_EBADPROXY);
  }
  /* And from the environment. */
  env((const char *const[]){"http_proxy", "http://127.0.0.1:99999", NULL});
  o.proxy = NULL;
  o.proxy_from_env = 1;
  r = API(uvws_connect(client, "ws://127.0.0.1:9/", &o, &cbs, NULL, &conn));
  CHECK_ERR(r, UVWS_EBADPROXY);
  env(NULL);
  API_VOID(uvws_client_close(client, NULL));
  lb_loop_run(&L);
}

int main(void) {
  char *log, *p;
  int connects = 0;

  lb_setup();
  certs = getenv("UVWS_TEST_CERTS");
#ifndef UVWS_WITH_TLS
  certs = NULL;
#endif
  if (certs != NULL && *certs == '\0')
    certs = NULL;
  if (certs == NULL)
    fprintf(stderr, "  note: no UVWS_TEST_CERTS: the wss:// cases are left "
                    "out\n");
  big = malloc(BIG_LEN);
  CHECK(big != NULL);
  lb_fill(big, BIG_LEN, 0, 3);
  env(NULL);

  ws_port = free_port();
  do
    tls_port = free_port();
  while (tls_port == ws_port);
  do
    forbidden_port = free_port();
  while (forbidden_port == ws_port || forbidden_port == tls_port);
  do
    dead_port = free_port();
  while (dead_port == ws_port || dead_port == tls_port ||
         dead_port == forbidden_port);
  snprintf(ws_url, sizeof(ws_url), "ws://127.0.0.1:%d/", ws_port);
  snprintf(wss_url, sizeof(wss_url), "wss://127.0.0.1:%d/", tls_port);
  snprintf(forbidden_url, sizeof(forbidden_url), "ws://127.0.0.1:%d/",
           forbidden_port);
  snprintf(dead_proxy, sizeof(dead_proxy), "http://127.0.0.1:%d", dead_port);

  tinyproxy_start();
  snprintf(good_proxy, sizeof(good_proxy),
           "http://" USER ":" PASSWORD "@127.0.0.1:%d", tp.port);
  snprintf(anon_proxy, sizeof(anon_proxy), "http://127.0.0.1:%d", tp.port);
  snprintf(bad_proxy, sizeof(bad_proxy), "http://" USER ":wrong@127.0.0.1:%d",
           tp.port);

  test_tinyproxy();
  test_environment();
  test_recording();
  test_bad_proxy_urls();

  /* tinyproxy saw CONNECT requests and nothing else: the WebSocket
   * handshakes (and, for wss://, everything) went through the tunnels. */
  log = tinyproxy_stop();
  for (p = strstr(log, "Request (file descriptor"); p != NULL;
       p = strstr(p + 1, "Request (file descriptor")) {
    p = strchr(p, ':');
    CHECK(p != NULL);
    if (strncmp(p, ": CONNECT 127.0.0.1:", 20) != 0) {
      fprintf(stderr, "tinyproxy saw: %.80s\n", p);
      CHECK(0 && "a request other than CONNECT reached the proxy");
    }
    connects++;
  }
  fprintf(stderr, "  tinyproxy saw %d CONNECT requests and nothing else\n",
          connects);
  /* Those of the cases that reach tinyproxy: 5 of test_tinyproxy() and 5
   * of test_environment(), 3 of them wss://. */
  CHECK_EQ(connects, certs != NULL ? 10 : 7);
  free(log);
  free(big);
  return 0;
}

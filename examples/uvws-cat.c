/* uvws-cat: a WebSocket client and server for the terminal.
 *
 *   uvws-cat [OPTIONS] URL                      connect to URL
 *   uvws-cat [OPTIONS] --listen PORT [--host H]  accept connections
 *
 * Client: each line of standard input is sent as a text message (a CR
 * before the LF is dropped); with --binary, all of standard input is sent
 * as one binary message, streamed in fragments as it is read. Each message
 * received is printed on a line of its own: text as it is, binary as
 * "[binary N bytes]" or, with --hex, in hex. At the end of input, once no
 * message has arrived for half a second (so that replies to the last lines
 * are still printed), the connection is closed with 1000. Reading stops
 * while more than 1 MiB waits to be sent, so a large input is never held
 * in memory.
 *
 * Server (--listen): each message received is printed the same way,
 * prefixed with "[N] " (the connection's number) while more than one
 * connection is open; each line of standard input is sent to every open
 * connection (with --binary, all of the input as one message at its end).
 * At the end of input, once quiet for half a second, every connection is
 * closed with 1000 and uvws-cat exits.
 *
 * Exit status:
 *   0  client: closed cleanly with 1000, or with 1001 or no code (1005)
 *      from the server; server: end of input or a signal
 *   1  client: the connection failed before it opened (refused, DNS,
 *      TLS, proxy, handshake refused); server: cannot listen
 *   2  usage error (an option, URL, header or certificate file)
 *   3  client: closed cleanly with another code
 *   4  client: closed abnormally after it opened (1006, a protocol error,
 *      a keepalive timeout)
 *
 * uvws-cat --help lists the options. */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "uvws.h"

#define QUIET_MS 500
/* Reading standard input stops above HIGH_WATER bytes waiting to be sent and
 * resumes at LOW_WATER (on_drain). */
#define HIGH_WATER (1024 * 1024)
#define LOW_WATER (256 * 1024)

enum {
  EXIT_CLEAN = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_OTHER_CODE = 3,
  EXIT_ABNORMAL = 4
};

static const char usage_text[] =
    "usage: uvws-cat [OPTIONS] URL\n"
    "       uvws-cat [OPTIONS] --listen PORT [--host H]\n"
    "\n"
    "Connects to URL (ws:// or wss://), sends each line of standard input as\n"
    "a text message and prints each message received on a line of its own.\n"
    "At the end of input, once no message has arrived for 500 ms, closes\n"
    "with 1000. With --listen, accepts connections instead: messages from\n"
    "every connection are printed (prefixed with \"[N] \" while more than one\n"
    "is open), each input line goes to every open connection, and the end\n"
    "of input (^D) closes them all with 1000. SIGINT (^C) or SIGTERM closes\n"
    "at once; a second one stops without waiting for the peers.\n"
    "\n"
    "Options:\n"
    "  -H, --header 'NAME: VALUE'  add a header to the upgrade request\n"
    "                              (--listen: to the 101 answer); repeatable\n"
    "  -s, --subprotocol NAME      offer NAME (--listen: speak NAME);\n"
    "                              repeatable, in order of preference\n"
    "  -o, --origin ORIGIN         send Origin: ORIGIN (--listen: accept only\n"
    "                              this Origin)\n"
    "      --proxy URL             tunnel through the HTTP proxy\n"
    "                              http://[USER:PASSWORD@]HOST[:PORT]\n"
    "      --no-proxy              ignore proxies from the environment\n"
    "                              (https_proxy, http_proxy, all_proxy and\n"
    "                              no_proxy, read as curl reads them)\n"
    "      --ca FILE               trust the CAs in FILE (PEM) for wss://\n"
    "                              instead of the system's\n"
    "      --insecure              do not check the server's certificate\n"
    "                              (for tests only: anyone on the path can\n"
    "                              read and change the traffic)\n"
    "  -b, --binary                send all of standard input as one binary\n"
    "                              message, streamed as it is read (of any\n"
    "                              size: `uvws-cat -b URL < file`); --listen:\n"
    "                              sent at the end of input\n"
    "      --hex                   print binary messages in hex instead of\n"
    "                              \"[binary N bytes]\"\n"
    "      --ping-interval MS      ping when nothing has arrived for MS ms;\n"
    "                              drop the connection when nothing answers\n"
    "                              within MS ms more\n"
    "      --deflate               offer (--listen: accept) "
    "permessage-deflate\n"
    "      --show-close            print \"close CODE REASON\" on standard\n"
    "                              output when the connection ends\n"
    "  -v, --verbose               print the handshake's HTTP status and\n"
    "                              headers, the subprotocol and extensions\n"
    "                              to standard error\n"
    "  -l, --listen PORT           server mode on PORT (0: any free port; the\n"
    "                              address is printed to standard error)\n"
    "      --host H                --listen address (default 127.0.0.1)\n"
    "      --cert FILE --key FILE  --listen: serve wss:// with this\n"
    "                              certificate chain and key (PEM)\n"
    "  -h, --help                  print this help\n"
    "\n"
    "Exit status:\n"
    "  0  closed cleanly with 1000 (or 1001 or no code from the server);\n"
    "     --listen: end of input or a signal\n"
    "  1  the connection failed before it opened (refused, DNS, TLS, proxy,\n"
    "     handshake refused); --listen: cannot listen\n"
    "  2  usage error\n"
    "  3  closed cleanly with another code\n"
    "  4  closed abnormally after it opened (1006, a protocol error, a\n"
    "     keepalive timeout)\n"
    "\n"
    "Examples:\n"
    "  echo hello | uvws-cat ws://127.0.0.1:9001/\n"
    "  uvws-cat -H 'Authorization: Bearer T' -s chat wss://example.com/ws\n"
    "  uvws-cat --binary --hex ws://127.0.0.1:9001/ < image.png\n"
    "  uvws-cat --listen 9002\n";

/* Options. */
static struct {
  const char *url;
  uvws_header_t *headers;
  size_t num_headers;
  const char **protocols; /* NULL-terminated */
  size_t num_protocols;
  const char *origin;
  const char *proxy;
  int no_proxy;
  const char *ca_file;
  int insecure;
  int binary;
  int hex;
  unsigned ping_interval_ms;
  int deflate;
  int show_close;
  int verbose;
  int listen; /* server mode */
  int port;
  const char *host;
  const char *cert_file, *key_file;
} opt;

/* Run-time state. */
static uv_loop_t *loop;
static uvws_client_t *client;
static uvws_conn_t *conn;
static uvws_server_t *server;
static uv_timer_t quiet;
static uv_signal_t sigint, sigterm;
static int exit_code = EXIT_FAILED;
static int opened;      /* client: the connection reached OPEN */
static int input_ended; /* standard input reached its end */
static int closing;     /* closing at the end of input or on a signal */
static int signals;     /* SIGINT and SIGTERM received */
static unsigned next_id, num_open; /* server: connection numbers */
/* A line being read; with --binary --listen, all of the input. */
static char *pending;
static size_t pending_len, pending_cap;
static unsigned long line_no;

static void die_usage(const char *fmt, ...) {
  va_list ap;
  fputs("uvws-cat: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry 'uvws-cat --help'.\n", stderr);
  exit(EXIT_USAGE);
}

/* ----------------------------------------------------------------------- */
/* Standard input: a stream (terminal, pipe, socket) read with uv_read, or
 * a file (including /dev/null) read with uv_fs_read. It can be paused while
 * the connection's send queue is full.                                    */

static struct {
  uv_tty_t tty;
  uv_pipe_t pipe;
  uv_stream_t *stream; /* NULL when read as a file */
  uv_fs_t req;
  int busy; /* a file read is in flight */
  int paused, stopped;
  char buf[65536];
} in;

static void input_data(const char *data, size_t len);
static void input_end(void);

static void input_stop(void) {
  if (in.stopped)
    return;
  in.stopped = 1;
  if (in.stream != NULL)
    uv_close((uv_handle_t *)in.stream, NULL);
}

static void input_finish(void) {
  input_stop();
  input_end();
}

static void on_in_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  (void)h;
  (void)size;
  *buf = uv_buf_init(in.buf, sizeof(in.buf));
}

static void on_in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)s;
  if (n > 0) {
    input_data(buf->base, (size_t)n);
  } else if (n < 0) {
    if (n != UV_EOF)
      fprintf(stderr, "uvws-cat: reading standard input: %s\n",
              uvws_strerror((int)n));
    input_finish();
  }
}

static void file_read_next(void);

static void on_file_read(uv_fs_t *req) {
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  in.busy = 0;
  if (in.stopped)
    return;
  if (n > 0) {
    input_data(in.buf, (size_t)n);
    file_read_next();
  } else {
    if (n < 0)
      fprintf(stderr, "uvws-cat: reading standard input: %s\n",
              uvws_strerror((int)n));
    input_finish();
  }
}

static void file_read_next(void) {
  uv_buf_t b = uv_buf_init(in.buf, sizeof(in.buf));
  if (in.stopped || in.paused || in.busy)
    return;
  if (uv_fs_read(loop, &in.req, 0, &b, 1, -1, on_file_read) == 0)
    in.busy = 1;
  else
    input_finish();
}

static void input_start(void) {
  switch (uv_guess_handle(0)) {
  case UV_TTY:
    if (uv_tty_init(loop, &in.tty, 0, 1) == 0) {
      in.stream = (uv_stream_t *)&in.tty;
      break;
    }
    /* fall through */
  case UV_NAMED_PIPE:
  case UV_TCP:
    uv_pipe_init(loop, &in.pipe, 0);
    in.stream = (uv_stream_t *)&in.pipe;
    if (uv_pipe_open(&in.pipe, 0) != 0) {
      fprintf(stderr, "uvws-cat: cannot read standard input\n");
      input_finish();
      return;
    }
    break;
  default: /* a file, /dev/null, or nothing */
    in.stream = NULL;
    break;
  }
  if (in.stream != NULL)
    uv_read_start(in.stream, on_in_alloc, on_in_read);
  else
    file_read_next();
}

static void input_pause(void) {
  if (in.stopped || in.paused)
    return;
  in.paused = 1;
  if (in.stream != NULL)
    uv_read_stop(in.stream);
}

static void input_resume(void) {
  if (in.stopped || !in.paused)
    return;
  in.paused = 0;
  if (in.stream != NULL)
    uv_read_start(in.stream, on_in_alloc, on_in_read);
  else
    file_read_next();
}

static void pending_add(const char *data, size_t len) {
  if (pending_cap - pending_len < len) {
    size_t cap = pending_cap ? pending_cap : 4096;
    while (cap - pending_len < len)
      cap *= 2;
    pending = realloc(pending, cap);
    if (pending == NULL) {
      fprintf(stderr, "uvws-cat: out of memory\n");
      exit(EXIT_FAILED);
    }
    pending_cap = cap;
  }
  memcpy(pending + pending_len, data, len);
  pending_len += len;
}

/* ----------------------------------------------------------------------- */
/* Printing                                                                */

static void print_hex(const char *data, size_t len) {
  static const char digits[] = "0123456789abcdef";
  char out[4096];
  size_t i, n = 0;
  for (i = 0; i < len; i++) {
    out[n++] = digits[(unsigned char)data[i] >> 4];
    out[n++] = digits[(unsigned char)data[i] & 15];
    if (n == sizeof(out)) {
      fwrite(out, 1, n, stdout);
      n = 0;
    }
  }
  fwrite(out, 1, n, stdout);
}

/* Prints one message on a line of its own; id 0: no prefix. */
static void print_message(unsigned id, uvws_msg_type_t type, const char *data,
                          size_t len) {
  if (id != 0)
    printf("[%u] ", id);
  if (type == UVWS_TEXT)
    fwrite(data, 1, len, stdout);
  else if (opt.hex)
    print_hex(data, len);
  else
    printf("[binary %zu bytes]", len);
  putchar('\n');
  fflush(stdout);
}

/* -v: the HTTP answer to the upgrade (the 101, or a refusal by the server
 * or the proxy). */
static void print_response(uvws_conn_t *c) {
  const char *name, *value;
  size_t i;
  int status = uvws_conn_http_status(c);
  if (status == 0)
    return;
  fprintf(stderr, "< HTTP %d\n", status);
  for (i = 0; uvws_conn_response_header_at(c, i, &name, &value) == 0; i++)
    fprintf(stderr, "< %s: %s\n", name, value);
}

static void print_negotiated(uvws_conn_t *c, const char *prefix) {
  const char *cipher = uvws_conn_tls_cipher(c);
  fprintf(stderr, "uvws-cat: %sprotocol: %s\n", prefix,
          *uvws_conn_protocol(c) ? uvws_conn_protocol(c) : "(none)");
  fprintf(stderr, "uvws-cat: %sextensions: %s\n", prefix,
          *uvws_conn_extensions(c) ? uvws_conn_extensions(c) : "(none)");
  if (cipher != NULL)
    fprintf(stderr, "uvws-cat: %sTLS: %s\n", prefix, cipher);
}

/* ----------------------------------------------------------------------- */
/* Shared by both modes                                                    */

static void close_local_handles(void) {
  input_stop();
  if (!uv_is_closing((uv_handle_t *)&quiet))
    uv_close((uv_handle_t *)&quiet, NULL);
  if (!uv_is_closing((uv_handle_t *)&sigint)) {
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
  }
}

static void on_quiet(uv_timer_t *t);

/* Restarts the wait for quiet after the end of input. */
static void still_talking(void) {
  if (input_ended && !closing)
    uv_timer_start(&quiet, on_quiet, QUIET_MS, 0);
}

/* Splits input into lines and hands each to send_line. */
static void split_lines(const char *data, size_t len,
                        void (*send_line)(const char *, size_t)) {
  while (len > 0 && !in.stopped) {
    const char *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) : len;
    pending_add(data, n);
    if (nl == NULL)
      return;
    line_no++;
    if (pending_len > 0 && pending[pending_len - 1] == '\r')
      pending_len--;
    send_line(pending, pending_len);
    pending_len = 0;
    data += n + 1;
    len -= n + 1;
  }
}

/* ----------------------------------------------------------------------- */
/* Client                                                                  */

static void client_send_line(const char *data, size_t len) {
  int r = uvws_conn_send_text(conn, data, len);
  if (r == UVWS_EBADUTF8) {
    fprintf(stderr, "uvws-cat: line %lu is not valid UTF-8; not sent\n",
            line_no);
  } else if (r != 0) {
    fprintf(stderr, "uvws-cat: send: %s\n", uvws_strerror(r));
    input_stop();
  }
}

static void client_input(const char *data, size_t len) {
  int r;
  if (opt.binary) {
    r = uvws_conn_send_fragment(conn, UVWS_BINARY, data, len, 0);
    if (r != 0) {
      fprintf(stderr, "uvws-cat: send: %s\n", uvws_strerror(r));
      input_stop();
    }
  } else {
    split_lines(data, len, client_send_line);
  }
  if (uvws_conn_buffered_amount(conn) > HIGH_WATER)
    input_pause();
}

static void client_input_end(void) {
  int r;
  if (opt.binary) {
    r = uvws_conn_send_fragment(conn, UVWS_BINARY, "", 0, 1);
    if (r != 0 && r != UVWS_ESTATE)
      fprintf(stderr, "uvws-cat: send: %s\n", uvws_strerror(r));
  } else if (pending_len > 0) {
    line_no++;
    client_send_line(pending, pending_len);
    pending_len = 0;
  }
}

static void on_open(uvws_conn_t *c) {
  opened = 1;
  if (opt.verbose) {
    fprintf(stderr, "uvws-cat: connected to %s\n", uvws_conn_url(c));
    print_response(c);
    print_negotiated(c, "");
  }
  input_start();
}

static void on_message(uvws_conn_t *c, uvws_msg_type_t type, const char *data,
                       size_t len) {
  (void)c;
  still_talking();
  print_message(0, type, data, len);
}

static void on_drain(uvws_conn_t *c) {
  (void)c;
  input_resume();
}

static void on_error(uvws_conn_t *c, int err) {
  int status = uvws_conn_http_status(c);
  fprintf(stderr, "uvws-cat: %s (%s)", uvws_strerror(err), uvws_err_name(err));
  if (err == UVWS_EBADSTATUS || err == UVWS_EPROXY || err == UVWS_EPROXYAUTH)
    fprintf(stderr, ": HTTP status %d from the %s", status,
            err == UVWS_EBADSTATUS ? "server" : "proxy");
  fputc('\n', stderr);
  if (opt.verbose && status != 101)
    print_response(c);
}

static void on_close(uvws_conn_t *c, int code, const char *reason,
                     size_t reason_len, int was_clean) {
  (void)c;
  if (!opened)
    exit_code = EXIT_FAILED;
  else if (!was_clean)
    exit_code = EXIT_ABNORMAL;
  else if (code == 1000 || code == 1001 || code == 1005)
    exit_code = EXIT_CLEAN;
  else
    exit_code = EXIT_OTHER_CODE;
  if (opt.show_close) {
    printf("close %d %.*s\n", code, (int)reason_len, reason);
    fflush(stdout);
  } else if (opened && exit_code != EXIT_CLEAN) {
    fprintf(stderr, "uvws-cat: closed %d%s%.*s%s\n", code,
            reason_len ? " " : "", (int)reason_len, reason,
            was_clean ? "" : " (not cleanly)");
  }
  conn = NULL;
  close_local_handles();
  uvws_client_close(client, NULL);
}

static int client_main(void) {
  uvws_client_options_t copts;
  uvws_connect_options_t o;
  uvws_deflate_options_t deflate;
  uvws_callbacks_t cbs;
  int r;

  memset(&copts, 0, sizeof(copts));
  copts.limits.ping_interval_ms = opt.ping_interval_ms;
  copts.limits.drain_low_water = LOW_WATER;
  copts.tls.ca_file = opt.ca_file;
  copts.tls.insecure_skip_verify_for_testing = opt.insecure;
  r = uvws_client_create(loop, &copts, &client);
  if (r != 0) {
    fprintf(stderr, "uvws-cat: %s%s%s\n",
            opt.ca_file && r != UV_ENOMEM ? opt.ca_file : "",
            opt.ca_file && r != UV_ENOMEM ? ": " : "", uvws_strerror(r));
    return r == UV_ENOMEM || r == UVWS_ETLS ? EXIT_FAILED : EXIT_USAGE;
  }

  memset(&o, 0, sizeof(o));
  memset(&deflate, 0, sizeof(deflate));
  o.origin = opt.origin;
  o.protocols = opt.num_protocols ? opt.protocols : NULL;
  o.deflate = opt.deflate ? &deflate : NULL;
  o.headers = opt.headers;
  o.num_headers = opt.num_headers;
  o.proxy = opt.proxy;
  o.proxy_from_env = !opt.no_proxy;

  memset(&cbs, 0, sizeof(cbs));
  cbs.on_open = on_open;
  cbs.on_message = on_message;
  cbs.on_error = on_error;
  cbs.on_close = on_close;
  cbs.on_drain = on_drain;

  if (opt.verbose)
    fprintf(stderr, "uvws-cat: connecting to %s%s%s\n", opt.url,
            opt.proxy ? " through " : "", opt.proxy ? opt.proxy : "");
  r = uvws_connect(client, opt.url, &o, &cbs, NULL, &conn);
  if (r != 0) {
    fprintf(stderr, "uvws-cat: %s: %s\n", opt.url, uvws_strerror(r));
    if (r == UV_EINVAL)
      fprintf(stderr, "uvws-cat: (a header or subprotocol is not allowed: "
                      "names must be HTTP tokens, values without CR or LF, "
                      "and Host, Upgrade, Connection, Origin and "
                      "Sec-WebSocket-* are set by uvws)\n");
    uvws_client_close(client, NULL);
    return r == UVWS_EBADURL || r == UVWS_EBADPROXY || r == UV_EINVAL
               ? EXIT_USAGE
               : EXIT_FAILED;
  }
  return -1; /* running */
}

/* ----------------------------------------------------------------------- */
/* Server (--listen)                                                       */

static unsigned conn_id(uvws_conn_t *c) {
  return (unsigned)(uintptr_t)uvws_conn_get_data(c);
}

static int srv_upgrade(uvws_server_t *s, uvws_request_t *req) {
  const char *name, *value;
  size_t i;
  (void)s;
  if (opt.verbose) {
    fprintf(stderr, "> %s %s\n", uvws_request_method(req),
            uvws_request_target(req));
    for (i = 0; uvws_request_header_at(req, i, &name, &value) == 0; i++)
      fprintf(stderr, "> %s: %s\n", name, value);
  }
  for (i = 0; i < opt.num_headers; i++) {
    if (uvws_request_add_header(req, opt.headers[i].name,
                                opt.headers[i].value) != 0) {
      fprintf(stderr, "uvws-cat: header \"%s\" is not allowed\n",
              opt.headers[i].name);
      return 500;
    }
  }
  return 0;
}

static void srv_open(uvws_conn_t *c) {
  struct sockaddr_storage ss;
  char ip[64] = "?";
  int port = 0;
  unsigned id = ++next_id;
  uvws_conn_set_data(c, (void *)(uintptr_t)id);
  num_open++;
  if (uvws_conn_peer_addr(c, &ss) == 0) {
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
  }
  fprintf(stderr, "uvws-cat: [%u] connected from %s port %d (%s)\n", id, ip,
          port, uvws_conn_url(c));
  if (opt.verbose) {
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "[%u] ", id);
    print_negotiated(c, prefix);
  }
}

static void srv_message(uvws_conn_t *c, uvws_msg_type_t type, const char *data,
                        size_t len) {
  still_talking();
  print_message(num_open > 1 ? conn_id(c) : 0, type, data, len);
}

static void srv_error(uvws_conn_t *c, int err) {
  fprintf(stderr, "uvws-cat: [%u] %s (%s)\n", conn_id(c), uvws_strerror(err),
          uvws_err_name(err));
}

static void srv_close(uvws_conn_t *c, int code, const char *reason,
                      size_t reason_len, int was_clean) {
  if (conn_id(c) != 0)
    num_open--;
  fprintf(stderr, "uvws-cat: [%u] closed %d%s%.*s%s\n", conn_id(c), code,
          reason_len ? " " : "", (int)reason_len, reason,
          was_clean ? "" : " (not cleanly)");
}

static void srv_send(uvws_msg_type_t type, const char *data, size_t len) {
  int r = uvws_server_broadcast(server, type, data, len);
  if (r == UVWS_EBADUTF8)
    fprintf(stderr, "uvws-cat: line %lu is not valid UTF-8; not sent\n",
            line_no);
  else if (r < 0)
    fprintf(stderr, "uvws-cat: send: %s\n", uvws_strerror(r));
  else if (r == 0 && opt.verbose)
    fprintf(stderr, "uvws-cat: no connection is open; not sent\n");
}

static void srv_send_line(const char *data, size_t len) {
  srv_send(UVWS_TEXT, data, len);
}

static void srv_input(const char *data, size_t len) {
  if (opt.binary)
    pending_add(data, len); /* sent whole at the end of input */
  else
    split_lines(data, len, srv_send_line);
}

static void srv_input_end(void) {
  if (opt.binary) {
    srv_send(UVWS_BINARY, pending, pending_len);
  } else if (pending_len > 0) {
    line_no++;
    srv_send_line(pending, pending_len);
  }
  pending_len = 0;
}

static void on_server_closed(uvws_server_t *s) {
  (void)s;
  server = NULL;
  close_local_handles();
}

/* Closes every connection with 1000, waits for the closing handshakes
 * (at most the close timeout), then releases the server. */
static void server_stop(void) {
  static int stopped;
  input_stop();
  if (server == NULL || stopped++)
    return;
  if (uvws_server_shutdown(server, 1000, NULL, 0, 0, on_server_closed) != 0)
    uvws_server_close(server, on_server_closed);
}

static int server_main(void) {
  uvws_server_options_t so;
  const char *origins[2] = {opt.origin, NULL};
  int r;

  memset(&so, 0, sizeof(so));
  so.callbacks.on_open = srv_open;
  so.callbacks.on_message = srv_message;
  so.callbacks.on_error = srv_error;
  so.callbacks.on_close = srv_close;
  so.on_upgrade = srv_upgrade;
  so.limits.ping_interval_ms = opt.ping_interval_ms;
  so.deflate.disable = !opt.deflate;
  so.tls.cert_file = opt.cert_file;
  so.tls.key_file = opt.key_file;
  so.allowed_origins = opt.origin ? origins : NULL;
  so.protocols = opt.num_protocols ? opt.protocols : NULL;
  r = uvws_server_create(loop, &so, &server);
  if (r != 0) {
    fprintf(stderr, "uvws-cat: %s\n", uvws_strerror(r));
    return r == UV_ENOMEM ? EXIT_FAILED : EXIT_USAGE;
  }
  if (opt.cert_file)
    r = uvws_server_listen_tls(server, opt.host, opt.port, 0);
  else
    r = uvws_server_listen(server, opt.host, opt.port, 0);
  if (r != 0) {
    fprintf(stderr, "uvws-cat: cannot listen on %s port %d: %s\n", opt.host,
            opt.port, uvws_strerror(r));
    uvws_server_close(server, NULL);
    server = NULL;
    return EXIT_FAILED;
  }
  fprintf(stderr,
          strchr(opt.host, ':') ? "uvws-cat: listening on %s://[%s]:%d/\n"
                                : "uvws-cat: listening on %s://%s:%d/\n",
          opt.cert_file ? "wss" : "ws", opt.host, uvws_server_port(server));
  exit_code = EXIT_CLEAN;
  input_start();
  return -1; /* running */
}

/* ----------------------------------------------------------------------- */
/* Input, quiet time and signals, for both modes                           */

static void input_data(const char *data, size_t len) {
  if (opt.listen)
    srv_input(data, len);
  else
    client_input(data, len);
}

static void input_end(void) {
  if (input_ended)
    return;
  input_ended = 1;
  if (opt.listen)
    srv_input_end();
  else if (conn != NULL)
    client_input_end();
  still_talking();
}

static void on_quiet(uv_timer_t *t) {
  (void)t;
  closing = 1;
  if (opt.listen)
    server_stop();
  else if (conn != NULL)
    uvws_conn_close(conn, 1000, NULL, 0);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
  if (signals++ > 0) {
    /* A second signal: stop waiting for the peers. */
    if (opt.listen && server != NULL)
      uvws_server_close(server, on_server_closed);
    else if (!opt.listen && conn != NULL)
      uvws_conn_terminate(conn);
    return;
  }
  closing = 1;
  uv_timer_stop(&quiet);
  if (opt.listen) {
    server_stop();
  } else {
    input_stop();
    if (conn != NULL)
      uvws_conn_close(conn, 1000, NULL, 0);
  }
}

/* ----------------------------------------------------------------------- */
/* Command line                                                            */

/* Matches argv[*i] against an option that takes a value, given as the next
 * argument or after '=' ("--header=X: y"). */
static int opt_value(int argc, char **argv, int *i, const char *name,
                     const char *alias, const char **value) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) == 0 && a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  if (strcmp(a, name) != 0 && (alias == NULL || strcmp(a, alias) != 0))
    return 0;
  if (*i + 1 >= argc)
    die_usage("%s needs a value", a);
  *value = argv[++*i];
  return 1;
}

static unsigned long parse_number(const char *option, const char *s,
                                  unsigned long max) {
  char *end;
  unsigned long v;
  if (*s < '0' || *s > '9')
    die_usage("%s: \"%s\" is not a number", option, s);
  v = strtoul(s, &end, 10);
  if (*end != '\0' || v > max)
    die_usage("%s: \"%s\" is not a number from 0 to %lu", option, s, max);
  return v;
}

/* "Name: value" into a header; the value's leading blanks are skipped. */
static void add_header(const char *arg) {
  const char *colon = strchr(arg, ':');
  uvws_header_t *h = &opt.headers[opt.num_headers];
  char *name;
  if (colon == NULL || colon == arg)
    die_usage("--header \"%s\": expected 'NAME: VALUE'", arg);
  name = malloc((size_t)(colon - arg) + 1);
  if (name == NULL)
    die_usage("out of memory");
  memcpy(name, arg, (size_t)(colon - arg));
  name[colon - arg] = '\0';
  colon++;
  while (*colon == ' ' || *colon == '\t')
    colon++;
  h->name = name;
  h->value = colon;
  opt.num_headers++;
}

static void parse_args(int argc, char **argv) {
  const char *v;
  int i;

  /* At most one header or subprotocol per argument. */
  opt.headers = calloc((size_t)argc, sizeof(*opt.headers));
  opt.protocols = calloc((size_t)argc + 1, sizeof(*opt.protocols));
  if (opt.headers == NULL || opt.protocols == NULL)
    die_usage("out of memory");
  opt.host = "127.0.0.1";
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      exit(EXIT_CLEAN);
    } else if (opt_value(argc, argv, &i, "--header", "-H", &v)) {
      add_header(v);
    } else if (opt_value(argc, argv, &i, "--subprotocol", "-s", &v)) {
      opt.protocols[opt.num_protocols++] = v;
    } else if (opt_value(argc, argv, &i, "--origin", "-o", &v)) {
      opt.origin = v;
    } else if (opt_value(argc, argv, &i, "--proxy", NULL, &v)) {
      opt.proxy = v;
    } else if (strcmp(a, "--no-proxy") == 0) {
      opt.no_proxy = 1;
    } else if (opt_value(argc, argv, &i, "--ca", NULL, &v)) {
      opt.ca_file = v;
    } else if (strcmp(a, "--insecure") == 0) {
      opt.insecure = 1;
    } else if (strcmp(a, "-b") == 0 || strcmp(a, "--binary") == 0) {
      opt.binary = 1;
    } else if (strcmp(a, "--hex") == 0) {
      opt.hex = 1;
    } else if (opt_value(argc, argv, &i, "--ping-interval", NULL, &v)) {
      opt.ping_interval_ms =
          (unsigned)parse_number("--ping-interval", v, 86400000);
    } else if (strcmp(a, "--deflate") == 0) {
      opt.deflate = 1;
    } else if (strcmp(a, "--show-close") == 0) {
      opt.show_close = 1;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      opt.verbose = 1;
    } else if (opt_value(argc, argv, &i, "--listen", "-l", &v)) {
      opt.listen = 1;
      opt.port = (int)parse_number("--listen", v, 65535);
    } else if (opt_value(argc, argv, &i, "--host", NULL, &v)) {
      opt.host = v;
    } else if (opt_value(argc, argv, &i, "--cert", NULL, &v)) {
      opt.cert_file = v;
    } else if (opt_value(argc, argv, &i, "--key", NULL, &v)) {
      opt.key_file = v;
    } else if (a[0] == '-' && a[1] != '\0') {
      die_usage("unknown option %s", a);
    } else if (opt.url == NULL) {
      opt.url = a;
    } else {
      die_usage("more than one URL (%s and %s)", opt.url, a);
    }
  }
  if (opt.listen && opt.url != NULL)
    die_usage("--listen takes no URL");
  if (!opt.listen && opt.url == NULL)
    die_usage("no URL");
  if ((opt.cert_file == NULL) != (opt.key_file == NULL))
    die_usage("--cert and --key go together");
  if (!opt.listen && opt.cert_file != NULL)
    die_usage("--cert and --key are for --listen");
  if (opt.insecure)
    fprintf(stderr, "uvws-cat: warning: --insecure: the server's certificate "
                    "is not checked; anyone on the path can read and change "
                    "the traffic\n");
}

int main(int argc, char **argv) {
  int r, fd;

  /* A closed standard descriptor would be reused by the first socket, and
   * standard input then read from the connection itself. */
  for (fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDWR) != fd)
      return EXIT_FAILED;
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  uv_timer_init(loop, &quiet);
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);

  r = opt.listen ? server_main() : client_main();
  if (r >= 0) {
    exit_code = r;
    close_local_handles();
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  free(pending);
  for (size_t i = 0; i < opt.num_headers; i++)
    free((char *)opt.headers[i].name);
  free(opt.headers);
  free(opt.protocols);
  return exit_code;
}

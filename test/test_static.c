/* uvws_request_serve_file() through a real server: plain HTTP requests
 * written by hand on a loopback TCP connection, answered by a server whose
 * on_http serves a directory made in a temporary directory at test time.
 *
 * The tree (under TMP/):
 *   secret.txt                 outside the root: must never be served
 *   root/hello.txt             "hello\n"
 *   root/index.html, root/sub/index.html, root/empty/ (no index.html)
 *   root/a b.txt, root/app.js, root/data.json, root/img.png, root/blob.bin,
 *   root/UPPER.HTML, root/big.bin (17 MiB, sparse), root/fifo (a FIFO)
 *   root/escape.txt -> ../secret.txt     (a link out of the root)
 *   root/outside -> ..                   (a directory link out of it)
 *   root/alias.txt -> hello.txt          (a link that stays inside)
 *   root/linkidx/index.html -> ../../secret.txt */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "test.h"
#include "uvws.h"

#define SECRET "TOP-SECRET-CONTENT"

/* ----------------------------------------------------------------------- */
/* The server                                                              */

typedef struct {
  uv_loop_t loop;
  uvws_server_t *server;
  int port;
  const char *root; /* what on_http serves */
  int serve_err;    /* the last error uvws_request_serve_file() returned */
  int http_calls;
} fixture_t;

static void on_http(uvws_server_t *server, uvws_request_t *req) {
  fixture_t *f = uvws_server_get_data(server);
  int r;
  f->http_calls++;
  r = uvws_request_serve_file(req, f->root);
  f->serve_err = r;
  if (r != 0) {
    /* Nothing was sent: the request can still be answered. */
    static const char msg[] = "fallback";
    CHECK_EQ(uvws_request_respond(req, 599, "text/plain", msg, sizeof(msg) - 1),
             0);
  }
}

/* ----------------------------------------------------------------------- */
/* A raw HTTP client                                                       */

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  uv_timer_t timer;
  char *request;
  char *buf;
  size_t len, cap;
  int closed;
  int timed_out;
} client_t;

typedef struct {
  int status;
  char *head; /* status line and headers, NUL-terminated */
  char *body;
  size_t body_len;
  char *raw;
} response_t;

static void client_closed(uv_handle_t *h) {
  client_t *c = h->data;
  c->closed = 1;
}

static void client_close(client_t *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, client_closed);
  if (!uv_is_closing((uv_handle_t *)&c->timer))
    uv_close((uv_handle_t *)&c->timer, NULL);
}

static void client_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  client_t *c = h->data;
  (void)size;
  if (c->cap - c->len < 65536) {
    c->cap = c->cap ? c->cap * 2 : 131072;
    c->buf = realloc(c->buf, c->cap);
    CHECK(c->buf != NULL);
  }
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len - 1));
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  client_t *c = s->data;
  (void)b;
  if (n > 0) {
    c->len += (size_t)n;
    return;
  }
  if (n < 0) /* the server closes after its answer */
    client_close(c);
}

static void client_written(uv_write_t *w, int status) {
  CHECK_EQ(status, 0);
  (void)w;
}

static void client_connected(uv_connect_t *req, int status) {
  client_t *c = req->data;
  uv_buf_t b = uv_buf_init(c->request, (unsigned)strlen(c->request));
  CHECK_EQ(status, 0);
  CHECK_EQ(uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, client_written),
           0);
  CHECK_EQ(uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read), 0);
}

static void client_timeout(uv_timer_t *t) {
  client_t *c = t->data;
  c->timed_out = 1;
  client_close(c);
}

/* Sends request (a whole HTTP/1.1 request) and reads the answer until the
 * server closes the connection. */
static void fetch_raw(fixture_t *f, const char *request, response_t *out) {
  client_t c;
  struct sockaddr_in addr;
  char *sep;

  memset(&c, 0, sizeof(c));
  c.request = (char *)request;
  CHECK_EQ(uv_tcp_init(&f->loop, &c.tcp), 0);
  CHECK_EQ(uv_timer_init(&f->loop, &c.timer), 0);
  c.tcp.data = c.timer.data = c.creq.data = &c;
  CHECK_EQ(uv_timer_start(&c.timer, client_timeout, 10000, 0), 0);
  CHECK_EQ(uv_ip4_addr("127.0.0.1", f->port, &addr), 0);
  CHECK_EQ(uv_tcp_connect(&c.creq, &c.tcp, (const struct sockaddr *)&addr,
                          client_connected),
           0);
  while (!c.closed)
    uv_run(&f->loop, UV_RUN_ONCE);
  if (c.timed_out) {
    fprintf(stderr, "no complete answer to:\n%s", request);
    CHECK(0 && "request timed out");
  }

  memset(out, 0, sizeof(*out));
  CHECK(c.buf != NULL);
  c.buf[c.len] = '\0';
  out->raw = c.buf;
  sep = strstr(c.buf, "\r\n\r\n");
  CHECK(sep != NULL);
  out->head = malloc((size_t)(sep - c.buf) + 3);
  CHECK(out->head != NULL);
  memcpy(out->head, c.buf, (size_t)(sep - c.buf) + 2);
  out->head[sep - c.buf + 2] = '\0';
  out->body = sep + 4;
  out->body_len = c.len - (size_t)(sep + 4 - c.buf);
  CHECK(strncmp(c.buf, "HTTP/1.1 ", 9) == 0);
  out->status = atoi(c.buf + 9);
}

static void response_free(response_t *r) {
  free(r->head);
  free(r->raw);
}

/* GET/HEAD/... of target with extra header lines (each ending in CRLF). */
static void fetch(fixture_t *f, const char *method, const char *target,
                  const char *extra, response_t *out) {
  char request[2048];
  snprintf(request, sizeof(request),
           "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n", method, target,
           f->port, extra ? extra : "");
  fetch_raw(f, request, out);
}

/* The value of header name in the answer (copied into out), or NULL. */
static const char *header(const response_t *r, const char *name, char *out,
                          size_t size) {
  size_t n = strlen(name);
  const char *p = strstr(r->head, "\r\n");
  while (p != NULL && p[2] != '\0') {
    const char *line = p + 2, *end = strstr(line, "\r\n");
    if (end == NULL)
      break;
    if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
      const char *v = line + n + 1;
      size_t len;
      while (*v == ' ' || *v == '\t')
        v++;
      len = (size_t)(end - v);
      while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
      CHECK(len < size);
      memcpy(out, v, len);
      out[len] = '\0';
      return out;
    }
    p = end;
  }
  return NULL;
}

static void check_header(const response_t *r, const char *name,
                         const char *want) {
  char v[512];
  const char *got = header(r, name, v, sizeof(v));
  if (got == NULL || (want != NULL && strcmp(got, want) != 0)) {
    fprintf(stderr, "header %s: want %s, got %s\nin:\n%s\n", name,
            want ? want : "(any)", got ? got : "(none)", r->head);
    CHECK(0 && "header");
  }
}

static void check_no_header(const response_t *r, const char *name) {
  char v[512];
  if (header(r, name, v, sizeof(v)) != NULL) {
    fprintf(stderr, "unexpected header %s in:\n%s\n", name, r->head);
    CHECK(0 && "unexpected header");
  }
}

/* ----------------------------------------------------------------------- */
/* The tree                                                                */

static char tmp_dir[256];
static char root_dir[300];

static void path_in(char *out, size_t size, const char *dir, const char *name) {
  CHECK((size_t)snprintf(out, size, "%s/%s", dir, name) < size);
}

static void write_file(const char *dir, const char *name, const char *data,
                       size_t len) {
  char p[512];
  FILE *fp;
  path_in(p, sizeof(p), dir, name);
  fp = fopen(p, "wb");
  CHECK(fp != NULL);
  CHECK_EQ(fwrite(data, 1, len, fp), len);
  CHECK_EQ(fclose(fp), 0);
}

static void write_str(const char *dir, const char *name, const char *data) {
  write_file(dir, name, data, strlen(data));
}

static void make_dir(const char *dir, const char *name) {
  char p[512];
  path_in(p, sizeof(p), dir, name);
  CHECK_EQ(mkdir(p, 0755), 0);
}

static void make_link(const char *target, const char *dir, const char *name) {
  char p[512];
  path_in(p, sizeof(p), dir, name);
  CHECK_EQ(symlink(target, p), 0);
}

static void make_tree(void) {
  char p[512];
  int fd;
  const char *t = getenv("TMPDIR");
  snprintf(tmp_dir, sizeof(tmp_dir), "%s/uvws-static-XXXXXX",
           t && *t ? t : "/tmp");
  CHECK(mkdtemp(tmp_dir) != NULL);
  path_in(root_dir, sizeof(root_dir), tmp_dir, "root");
  CHECK_EQ(mkdir(root_dir, 0755), 0);

  write_str(tmp_dir, "secret.txt", SECRET "\n");
  write_str(root_dir, "hello.txt", "hello\n");
  write_str(root_dir, "index.html", "<h1>root index</h1>\n");
  make_dir(root_dir, "sub");
  path_in(p, sizeof(p), root_dir, "sub");
  write_str(p, "index.html", "<h1>sub index</h1>\n");
  write_str(p, "page.css", "body{}\n");
  make_dir(root_dir, "empty");
  write_str(root_dir, "a b.txt", "spaced\n");
  write_str(root_dir, "app.js", "console.log(1);\n");
  write_str(root_dir, "mod.mjs", "export {};\n");
  write_str(root_dir, "data.json", "{}\n");
  write_file(root_dir, "img.png", "\x89PNG\r\n\x1a\n", 8);
  write_file(root_dir, "blob.bin", "\0\1\2\3", 4);
  write_str(root_dir, "noext", "x");
  write_str(root_dir, "UPPER.HTML", "<p>upper</p>");
  write_str(root_dir, "pic.svg", "<svg/>");
  write_str(root_dir, "mod.wasm", "\0asm");

  path_in(p, sizeof(p), root_dir, "big.bin");
  fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK_EQ(ftruncate(fd, 17 * 1024 * 1024), 0);
  CHECK_EQ(close(fd), 0);

  path_in(p, sizeof(p), root_dir, "fifo");
  CHECK_EQ(mkfifo(p, 0644), 0);

  make_link("../secret.txt", root_dir, "escape.txt");
  make_link("..", root_dir, "outside");
  make_link("hello.txt", root_dir, "alias.txt");
  make_dir(root_dir, "linkidx");
  path_in(p, sizeof(p), root_dir, "linkidx");
  make_link("../../secret.txt", p, "index.html");
}

static void remove_tree(void) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
  CHECK_EQ(system(cmd), 0);
}

/* ----------------------------------------------------------------------- */
/* Cases                                                                   */

/* One request, the status it must get, and (when not NULL) its
 * Content-Type and body. */
typedef struct {
  const char *method;
  const char *target;
  int status;
  const char *content_type;
  const char *body;
} file_case_t;

static const file_case_t file_cases[] = {
    {"GET", "/hello.txt", 200, "text/plain; charset=utf-8", "hello\n"},
    {"GET", "/hello.txt?v=1&w=../x", 200, "text/plain; charset=utf-8",
     "hello\n"},
    {"GET", "/", 200, "text/html; charset=utf-8", "<h1>root index</h1>\n"},
    {"GET", "/index.html", 200, "text/html; charset=utf-8",
     "<h1>root index</h1>\n"},
    {"GET", "/sub/", 200, "text/html; charset=utf-8", "<h1>sub index</h1>\n"},
    {"GET", "/sub", 200, "text/html; charset=utf-8", "<h1>sub index</h1>\n"},
    {"GET", "/sub//page.css", 200, "text/css; charset=utf-8", "body{}\n"},
    {"GET", "/./hello.txt", 200, "text/plain; charset=utf-8", "hello\n"},
    {"GET", "/a%20b.txt", 200, "text/plain; charset=utf-8", "spaced\n"},
    {"GET", "/%61%20b.txt", 200, "text/plain; charset=utf-8", "spaced\n"},
    {"GET", "/app.js", 200, "text/javascript; charset=utf-8", NULL},
    {"GET", "/mod.mjs", 200, "text/javascript; charset=utf-8", NULL},
    {"GET", "/data.json", 200, "application/json; charset=utf-8", "{}\n"},
    {"GET", "/img.png", 200, "image/png", NULL},
    {"GET", "/pic.svg", 200, "image/svg+xml; charset=utf-8", NULL},
    {"GET", "/mod.wasm", 200, "application/wasm", NULL},
    {"GET", "/blob.bin", 200, "application/octet-stream", NULL},
    {"GET", "/noext", 200, "application/octet-stream", "x"},
    {"GET", "/UPPER.HTML", 200, "text/html; charset=utf-8", "<p>upper</p>"},
    {"GET", "/alias.txt", 200, "text/plain; charset=utf-8", "hello\n"},
    /* Not there. */
    {"GET", "/missing.txt", 404, NULL, NULL},
    {"GET", "/hello.txt/more", 404, NULL, NULL},
    {"GET", "/empty/", 404, NULL, NULL},
    {"GET", "/%2Fhello.txt", 404, NULL, NULL},
    /* Malformed. */
    {"GET", "/hello%00.txt", 400, NULL, NULL},
    {"GET", "/hello%zz.txt", 400, NULL, NULL},
    {"GET", "/hello%2", 400, NULL, NULL},
    /* Escapes, written every way. */
    {"GET", "/../secret.txt", 403, NULL, NULL},
    {"GET", "/sub/../../secret.txt", 403, NULL, NULL},
    {"GET", "/%2e%2e/secret.txt", 403, NULL, NULL},
    {"GET", "/%2E%2E/secret.txt", 403, NULL, NULL},
    {"GET", "/.%2e/secret.txt", 403, NULL, NULL},
    {"GET", "/sub/%2e%2e/hello.txt", 403, NULL, NULL},
    {"GET", "/..", 403, NULL, NULL},
    {"GET", "/%2e%2e%2fsecret.txt", 404, NULL, NULL},
    {"GET", "/escape.txt", 403, NULL, NULL},
    {"GET", "/outside/secret.txt", 403, NULL, NULL},
    {"GET", "/outside/root/hello.txt", 200, NULL, "hello\n"},
    {"GET", "/linkidx/", 403, NULL, NULL},
    /* Not regular files, or too large. */
    {"GET", "/fifo", 403, NULL, NULL},
    {"GET", "/big.bin", 500, NULL, NULL},
    /* Methods. */
    {"POST", "/hello.txt", 405, NULL, NULL},
    {"PUT", "/hello.txt", 405, NULL, NULL},
    {"DELETE", "/missing.txt", 405, NULL, NULL},
};

static void test_file_cases(fixture_t *f) {
  size_t i;
  for (i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
    const file_case_t *c = &file_cases[i];
    response_t r;
    char v[64];
    fetch(f, c->method, c->target, NULL, &r);
    if (r.status != c->status) {
      fprintf(stderr, "%s %s: status %d, want %d\n%s\n", c->method, c->target,
              r.status, c->status, r.raw);
      CHECK(0 && "status");
    }
    /* Never the file outside the root, whatever the status. */
    CHECK(strstr(r.raw, SECRET) == NULL);
    if (c->content_type)
      check_header(&r, "Content-Type", c->content_type);
    if (c->body) {
      CHECK_EQ(r.body_len, strlen(c->body));
      CHECK(memcmp(r.body, c->body, r.body_len) == 0);
    }
    /* Content-Length always matches what came. */
    CHECK(header(&r, "Content-Length", v, sizeof(v)) != NULL);
    CHECK_EQ(strtoull(v, NULL, 10), r.body_len);
    if (c->status == 200) {
      check_header(&r, "ETag", NULL);
      check_header(&r, "Last-Modified", NULL);
      check_header(&r, "Cache-Control", "no-cache");
    }
    if (c->status == 405)
      check_header(&r, "Allow", "GET, HEAD");
    CHECK_EQ(f->serve_err, 0);
    response_free(&r);
  }
  fprintf(stderr, "  %-40s %zu requests\n", "file cases",
          sizeof(file_cases) / sizeof(file_cases[0]));
}

static void test_head(fixture_t *f) {
  response_t get, head;
  char a[128], b[128];
  fetch(f, "GET", "/hello.txt", NULL, &get);
  fetch(f, "HEAD", "/hello.txt", NULL, &head);
  CHECK_EQ(head.status, 200);
  /* The headers of the GET, and no body: the connection ended right after
   * the head. */
  check_header(&head, "Content-Length", "6");
  check_header(&head, "Content-Type", "text/plain; charset=utf-8");
  CHECK_STR(header(&head, "ETag", a, sizeof(a)),
            header(&get, "ETag", b, sizeof(b)));
  CHECK_STR(header(&head, "Last-Modified", a, sizeof(a)),
            header(&get, "Last-Modified", b, sizeof(b)));
  CHECK_EQ(head.body_len, 0);
  response_free(&get);
  response_free(&head);

  /* HEAD of an error still has no body. */
  fetch(f, "HEAD", "/missing.txt", NULL, &head);
  CHECK_EQ(head.status, 404);
  CHECK_EQ(head.body_len, 0);
  response_free(&head);
  fprintf(stderr, "  %-40s ok\n", "HEAD");
}

/* The ETag and Last-Modified of a 200 for target. */
static void validators(fixture_t *f, const char *target, char *etag,
                       char *date) {
  response_t r;
  fetch(f, "GET", target, NULL, &r);
  CHECK_EQ(r.status, 200);
  CHECK(header(&r, "ETag", etag, 128) != NULL);
  CHECK(header(&r, "Last-Modified", date, 64) != NULL);
  response_free(&r);
}

static int status_with(fixture_t *f, const char *target, const char *extra) {
  response_t r;
  int status;
  fetch(f, "GET", target, extra, &r);
  status = r.status;
  if (status == 304) {
    CHECK_EQ(r.body_len, 0);
    check_header(&r, "ETag", NULL);
    check_header(&r, "Cache-Control", "no-cache");
    check_no_header(&r, "Content-Type");
  }
  response_free(&r);
  return status;
}

static void test_conditional(fixture_t *f) {
  char etag[128], date[64], extra[512], weak[160];
  validators(f, "/hello.txt", etag, date);
  /* A strong, quoted entity-tag. */
  CHECK(etag[0] == '"' && etag[strlen(etag) - 1] == '"');
  CHECK_EQ(strlen(date), 29);
  CHECK(strcmp(date + 26, "GMT") == 0);

  /* If-None-Match: one tag, a list, a weak tag, "*"; a miss. */
  snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
  CHECK_EQ(status_with(f, "/hello.txt", extra), 304);
  snprintf(extra, sizeof(extra), "If-None-Match: \"nope\", %s\r\n", etag);
  CHECK_EQ(status_with(f, "/hello.txt", extra), 304);
  snprintf(weak, sizeof(weak), "W/%s", etag);
  snprintf(extra, sizeof(extra), "If-None-Match: \"a\",%s ,\"b\"\r\n", weak);
  CHECK_EQ(status_with(f, "/hello.txt", extra), 304);
  CHECK_EQ(status_with(f, "/hello.txt", "If-None-Match: *\r\n"), 304);
  CHECK_EQ(status_with(f, "/hello.txt", "If-None-Match: \"nope\"\r\n"), 200);
  /* The tag of another file does not match. */
  snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
  CHECK_EQ(status_with(f, "/data.json", extra), 200);
  /* HEAD answers 304 the same way. */
  {
    response_t r;
    fetch(f, "HEAD", "/hello.txt", extra, &r);
    CHECK_EQ(r.status, 304);
    CHECK_EQ(r.body_len, 0);
    response_free(&r);
  }

  /* If-Modified-Since: the file's own date, a later one, an older one, and
   * one that does not parse. */
  snprintf(extra, sizeof(extra), "If-Modified-Since: %s\r\n", date);
  CHECK_EQ(status_with(f, "/hello.txt", extra), 304);
  CHECK_EQ(status_with(f, "/hello.txt",
                       "If-Modified-Since: Fri, 31 Dec 2100 23:59:59 GMT\r\n"),
           304);
  CHECK_EQ(status_with(f, "/hello.txt",
                       "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
           200);
  CHECK_EQ(status_with(f, "/hello.txt", "If-Modified-Since: yesterday\r\n"),
           200);
  /* If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2). */
  snprintf(extra, sizeof(extra),
           "If-None-Match: \"nope\"\r\nIf-Modified-Since: %s\r\n", date);
  CHECK_EQ(status_with(f, "/hello.txt", extra), 200);
  fprintf(stderr, "  %-40s ok\n", "If-None-Match / If-Modified-Since");
}

/* The ETag changes when the modification time changes by a nanosecond. */
static void test_etag_nanoseconds(fixture_t *f) {
  char p[512], etag1[128], etag2[128], date1[64], date2[64], extra[256];
  struct timespec ts[2];
  path_in(p, sizeof(p), root_dir, "hello.txt");
  ts[0].tv_sec = ts[1].tv_sec = 1700000000;
  ts[0].tv_nsec = 0;
  ts[1].tv_nsec = 1;
  CHECK_EQ(utimensat(AT_FDCWD, p, ts, 0), 0);
  validators(f, "/hello.txt", etag1, date1);
  ts[1].tv_nsec = 2;
  CHECK_EQ(utimensat(AT_FDCWD, p, ts, 0), 0);
  validators(f, "/hello.txt", etag2, date2);
  CHECK(strcmp(etag1, etag2) != 0);
  CHECK_STR(date1, date2);
  CHECK_STR(date1, "Tue, 14 Nov 2023 22:13:20 GMT");
  snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag1);
  CHECK_EQ(status_with(f, "/hello.txt", extra), 200);
  fprintf(stderr, "  %-40s ok\n", "ETag from size and mtime (ns)");
}

/* A root that does not exist: nothing is sent, an error comes back, and
 * the application can still answer. */
static void test_bad_root(fixture_t *f) {
  response_t r;
  char p[512];
  path_in(p, sizeof(p), tmp_dir, "no-such-root");
  f->root = p;
  fetch(f, "GET", "/hello.txt", NULL, &r);
  CHECK_EQ(r.status, 599);
  CHECK_EQ(f->serve_err, UV_ENOENT);
  response_free(&r);
  f->root = root_dir;
  f->serve_err = 0;
  fprintf(stderr, "  %-40s ok\n", "missing root");
}

/* The same root given with a trailing slash and through a link. */
static void test_root_spelling(fixture_t *f) {
  response_t r;
  char p[512], link[512];
  snprintf(p, sizeof(p), "%s/", root_dir);
  f->root = p;
  fetch(f, "GET", "/hello.txt", NULL, &r);
  CHECK_EQ(r.status, 200);
  response_free(&r);
  fetch(f, "GET", "/escape.txt", NULL, &r);
  CHECK_EQ(r.status, 403);
  response_free(&r);

  path_in(link, sizeof(link), tmp_dir, "root-link");
  CHECK_EQ(symlink("root", link), 0);
  f->root = link;
  fetch(f, "GET", "/sub/page.css", NULL, &r);
  CHECK_EQ(r.status, 200);
  response_free(&r);
  fetch(f, "GET", "/outside/secret.txt", NULL, &r);
  CHECK_EQ(r.status, 403);
  response_free(&r);
  f->root = root_dir;
  fprintf(stderr, "  %-40s ok\n", "root spelled differently");
}

static void server_closed(uvws_server_t *server) {
  fixture_t *f = uvws_server_get_data(server);
  f->server = NULL;
}

int main(void) {
  fixture_t f;
  uvws_server_options_t opts;
  uint64_t start = uv_hrtime();

  memset(&f, 0, sizeof(f));
  make_tree();
  f.root = root_dir;
  CHECK_EQ(uv_loop_init(&f.loop), 0);
  memset(&opts, 0, sizeof(opts));
  opts.on_http = on_http;
  CHECK_EQ(uvws_server_create(&f.loop, &opts, &f.server), 0);
  uvws_server_set_data(f.server, &f);
  CHECK_EQ(uvws_server_listen(f.server, "127.0.0.1", 0, 0), 0);
  f.port = uvws_server_port(f.server);
  CHECK(f.port > 0);

  test_file_cases(&f);
  test_head(&f);
  test_conditional(&f);
  test_etag_nanoseconds(&f);
  test_bad_root(&f);
  test_root_spelling(&f);
  CHECK(f.http_calls > 0);

  uvws_server_close(f.server, server_closed);
  CHECK_EQ(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  CHECK(f.server == NULL);
  CHECK_EQ(uv_loop_close(&f.loop), 0);
  remove_tree();
  fprintf(stderr, "test_static: all passed in %.1f ms\n",
          (double)(uv_hrtime() - start) / 1e6);
  return 0;
}

/* Helpers of the hardening tests (test/hardening/): process limits and
 * measurements read from /proc, settings from the environment, resets and
 * half-closes, a raw WebSocket client, and a child uvws server
 * (hard_server) started on the test's loop.
 *
 * Static inline, like loopback_util.h, which it includes. */
#ifndef UVWS_HARD_UTIL_H
#define UVWS_HARD_UTIL_H

#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback_util.h"

/* ----------------------------------------------------------------------- */
/* Settings                                                                */

/* The integer in environment variable name, or def. */
static inline long hard_env_long(const char *name, long def) {
  const char *v = getenv(name);
  char *end;
  long n;
  if (v == NULL || *v == '\0')
    return def;
  n = strtol(v, &end, 10);
  return *end == '\0' ? n : def;
}

/* UVWS_HARD_QUICK=1 (the valgrind runs) scales counts down. */
static inline int hard_quick(void) {
  return hard_env_long("UVWS_HARD_QUICK", 0) != 0;
}

/* ----------------------------------------------------------------------- */
/* Process limits and measurements                                         */

/* Raises the soft RLIMIT_NOFILE to want (or the hard limit, if lower).
 * Returns the limit now in force. */
static inline long hard_raise_nofile(long want) {
  struct rlimit rl;
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if ((rlim_t)want > rl.rlim_cur) {
    rl.rlim_cur = (rlim_t)want;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
      rl.rlim_cur = rl.rlim_max;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  return (long)rl.rlim_cur;
}

/* Resident memory of process pid (0: this one) in KiB, from
 * /proc/PID/status; -1 if it cannot be read (the process is gone). */
static inline long hard_rss_kb(int pid) {
  char path[64], line[256];
  long kb = -1;
  FILE *f;
  if (pid)
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
  else
    snprintf(path, sizeof(path), "/proc/self/status");
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
      break;
  fclose(f);
  return kb;
}

/* CPU time (user + system) of process pid in milliseconds, from
 * /proc/PID/stat; -1 if it cannot be read. */
static inline long hard_cpu_ms(int pid) {
  char path[64], buf[1024], *p;
  unsigned long utime, stime;
  long hz = sysconf(_SC_CLK_TCK);
  size_t n;
  FILE *f;
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name may hold spaces; the fields start after its ')'. */
  p = strrchr(buf, ')');
  if (p == NULL ||
      sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
             &utime, &stime) != 2)
    return -1;
  return (long)((utime + stime) * 1000 / (unsigned long)hz);
}

/* ----------------------------------------------------------------------- */
/* Resets                                                                  */

/* Makes the next close of r's socket send RST instead of FIN (SO_LINGER
 * with a zero timeout), then closes it. */
static inline void hard_raw_reset(lb_raw_t *r) {
  uv_os_fd_t fd;
  struct linger lg = {1, 0};
  if (uv_fileno((uv_handle_t *)&r->tcp, &fd) == 0)
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
  lb_raw_close(r);
}

/* Shuts down r's sending side (FIN) once what was written is out. */
static inline void hard__shutdown_done(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

static inline void hard_raw_shutdown(lb_raw_t *r) {
  uv_shutdown_t *req = malloc(sizeof(*req));
  CHECK(req != NULL);
  CHECK_EQ(uv_shutdown(req, (uv_stream_t *)&r->tcp, hard__shutdown_done), 0);
}

/* ----------------------------------------------------------------------- */
/* A raw WebSocket client                                                  */

/* A raw TCP client that writes an upgrade request (or anything else) and
 * reads the answer's head, then the server's frames as they come. */
typedef struct hard_peer_s hard_peer_t;
struct hard_peer_s {
  lb_raw_t raw; /* first: a lb_raw_t * is a hard_peer_t * */
  int port;
  const char *request; /* written on connect; NULL: lb_request("/") */
  int silent;          /* write nothing on connect */
  int status;          /* of the answer's head; 0 until it is read */
  int frames, pongs, messages;
  uint64_t payload; /* data frame payload bytes read */
  int close_code;   /* -1 until a close frame; 1005 for an empty one */
  char close_reason[126];
  double close_ms; /* lb_elapsed_ms() when the close frame was read */
  int answer_close; /* echo a close frame as RFC 6455 5.5.1 says */
  int eof;          /* the server closed TCP (or reset it) */
  void (*on_connect)(hard_peer_t *p); /* after the request was written */
  void (*after_head)(hard_peer_t *p);
  void (*on_frame)(hard_peer_t *p, const lb_frame_t *f, const uint8_t *pl);
  void (*on_end)(hard_peer_t *p);
  const lb_loop_t *timebase;
  void *data;
};

static inline void hard__peer_read(lb_raw_t *r) {
  hard_peer_t *p = (hard_peer_t *)r;
  lb_frame_t f;
  size_t h, off = 0;

  if (p->status == 0) {
    size_t n = lb_head_len(r->in, r->len);
    if (n == 0)
      return;
    {
      /* The buffer is not NUL-terminated: parse a copy of the line. */
      char line[64];
      size_t k = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
      memcpy(line, r->in, k);
      line[k] = '\0';
      CHECK(sscanf(line, "HTTP/1.1 %d ", &p->status) == 1);
    }
    lb_raw_consume(r, n);
    if (p->after_head)
      p->after_head(p);
    if (p->status != 101)
      return; /* a refusal: its body is not frames */
  }
  if (p->status != 101) {
    lb_raw_consume(r, r->len);
    return;
  }
  /* Frames are consumed together at the end: a flood of small frames
   * would otherwise move the buffer once per frame. */
  while (!uv_is_closing((uv_handle_t *)&r->tcp) &&
         (h = lb_frame_parse_header((uint8_t *)r->in + off, r->len - off,
                                    &f)) != 0 &&
         r->len - off - h >= f.len) {
    const uint8_t *pl = (const uint8_t *)r->in + off + h;
    CHECK(!f.masked); /* RFC 6455 5.1: a server never masks */
    switch (f.opcode) {
    case LB_OP_CLOSE:
      p->close_code = f.len >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
      if (f.len > 2)
        memcpy(p->close_reason, pl + 2, (size_t)f.len - 2);
      p->close_reason[f.len > 2 ? f.len - 2 : 0] = '\0';
      p->close_ms = p->timebase ? lb_elapsed_ms(p->timebase) : 0;
      if (p->answer_close)
        lb_raw_send_close(
            r, (unsigned)(p->close_code == 1005 ? 0 : p->close_code), NULL);
      break;
    case LB_OP_PONG:
      p->pongs++;
      break;
    default:
      p->payload += f.len;
      if (f.fin)
        p->messages++;
      break;
    }
    p->frames++;
    off += h + (size_t)f.len;
    if (p->on_frame)
      p->on_frame(p, &f, pl);
  }
  if (r->in != NULL) /* NULL once closed from on_frame */
    lb_raw_consume(r, off);
}

static inline void hard__peer_eof(lb_raw_t *r) {
  hard_peer_t *p = (hard_peer_t *)r;
  p->eof = 1;
  if (p->on_end)
    p->on_end(p);
}

static inline void hard__peer_connected(lb_raw_t *r) {
  hard_peer_t *p = (hard_peer_t *)r;
  if (p->silent) {
    /* nothing */
  } else if (p->request) {
    lb_raw_write_str(r, p->request);
  } else {
    char *req = lb_request("/", p->port, NULL);
    lb_raw_write_str(r, req);
    free(req);
  }
  if (p->on_connect)
    p->on_connect(p);
}

/* Connects p to 127.0.0.1:port; fields set before the call stay. */
static inline void hard_peer_start(hard_peer_t *p, uv_loop_t *loop,
                                   int port) {
  void (*on_connect)(hard_peer_t *) = p->on_connect;
  void (*after_head)(hard_peer_t *) = p->after_head;
  void (*on_frame)(hard_peer_t *, const lb_frame_t *, const uint8_t *) =
      p->on_frame;
  void (*on_end)(hard_peer_t *) = p->on_end;
  const char *request = p->request;
  const lb_loop_t *timebase = p->timebase;
  void *data = p->data;
  int answer_close = p->answer_close, silent = p->silent;

  lb_raw_init(&p->raw, loop); /* clears the lb_raw_t part only */
  p->port = port;
  p->status = 0;
  p->frames = p->pongs = p->messages = 0;
  p->payload = 0;
  p->close_code = -1;
  p->close_reason[0] = '\0';
  p->eof = 0;
  p->after_head = after_head;
  p->on_frame = on_frame;
  p->on_end = on_end;
  p->request = request;
  p->timebase = timebase;
  p->data = data;
  p->answer_close = answer_close;
  p->silent = silent;
  p->on_connect = on_connect;
  p->raw.on_read = hard__peer_read;
  p->raw.on_eof = hard__peer_eof;
  lb_raw_connect(&p->raw, "127.0.0.1", port, hard__peer_connected);
}

/* ----------------------------------------------------------------------- */
/* A hard_server child process                                             */

/* hard_server (test/hardening/hard_server.c) started by the test on its
 * loop. Its path comes from $UVWS_HARD_SERVER, which CMake sets. */
typedef struct {
  uv_process_t proc;
  uv_pipe_t out;
  uv_loop_t *loop;
  int pid;
  int port, tls_port;
  int ready;
  int exited;
  int64_t exit_status;
  int term_signal;
  int nstats;      /* "stats" lines read */
  char stats[1024]; /* the last one */
  char line[1024];
  size_t line_len;
  void (*on_stats)(const char *stats); /* each stats line, if set */
} hard_child_t;

static inline void hard__child_exit(uv_process_t *p, int64_t status,
                                    int sig) {
  hard_child_t *c = p->data;
  c->exited = 1;
  c->exit_status = status;
  c->term_signal = sig;
  uv_close((uv_handle_t *)p, NULL);
}

static inline void hard__child_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  static char buf[4096];
  (void)h;
  (void)s;
  *b = uv_buf_init(buf, sizeof(buf));
}

static inline void hard__child_line(hard_child_t *c, const char *line) {
  int n;
  if (sscanf(line, "port %d", &n) == 1)
    c->port = n;
  else if (sscanf(line, "tls_port %d", &n) == 1)
    c->tls_port = n;
  else if (strcmp(line, "ready") == 0)
    c->ready = 1;
  else if (strncmp(line, "stats ", 6) == 0) {
    snprintf(c->stats, sizeof(c->stats), "%s", line);
    c->nstats++;
    if (c->on_stats)
      c->on_stats(c->stats);
  }
}

static inline void hard__child_read(uv_stream_t *s, ssize_t n,
                                    const uv_buf_t *b) {
  hard_child_t *c = s->data;
  ssize_t i;
  if (n < 0) {
    uv_close((uv_handle_t *)s, NULL);
    return;
  }
  for (i = 0; i < n; i++) {
    if (b->base[i] == '\n') {
      c->line[c->line_len] = '\0';
      hard__child_line(c, c->line);
      c->line_len = 0;
    } else if (c->line_len + 1 < sizeof(c->line)) {
      c->line[c->line_len++] = b->base[i];
    }
  }
}

/* Starts hard_server with args (NULL-terminated, without the program) and
 * extra environment entries (NULL-terminated, may be NULL), and runs the
 * loop until it is ready. */
static inline void hard_child_start(hard_child_t *c, uv_loop_t *loop,
                                    const char *const *args,
                                    const char *const *extra_env) {
  const char *bin = getenv("UVWS_HARD_SERVER");
  uv_process_options_t o;
  uv_stdio_container_t io[3];
  char *argv[40], *env[400];
  extern char **environ;
  size_t i, n = 0, e = 0;

  if (bin == NULL) {
    fprintf(stderr, "UVWS_HARD_SERVER is not set (run through ctest)\n");
    exit(1);
  }
  memset(c, 0, sizeof(*c));
  c->loop = loop;
  argv[n++] = (char *)bin;
  for (i = 0; args && args[i] && n < 38; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  for (i = 0; environ[i] && e < 380; i++)
    env[e++] = environ[i];
  for (i = 0; extra_env && extra_env[i] && e < 398; i++)
    env[e++] = (char *)extra_env[i];
  env[e] = NULL;

  CHECK_EQ(uv_pipe_init(loop, &c->out, 0), 0);
  c->out.data = c;
  memset(&o, 0, sizeof(o));
  io[0].flags = UV_IGNORE;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&c->out;
  io[2].flags = UV_INHERIT_FD;
  io[2].data.fd = 2;
  o.file = bin;
  o.args = argv;
  o.env = env;
  o.stdio = io;
  o.stdio_count = 3;
  o.exit_cb = hard__child_exit;
  c->proc.data = c;
  CHECK_EQ(uv_spawn(loop, &c->proc, &o), 0);
  c->pid = c->proc.pid;
  CHECK_EQ(uv_read_start((uv_stream_t *)&c->out, hard__child_alloc,
                         hard__child_read),
           0);
  while (!c->ready && !c->exited)
    uv_run(loop, UV_RUN_ONCE);
  CHECK(c->ready);
  CHECK(c->port > 0);
}

/* Asks for the counters (SIGUSR1) and runs the loop until they come. Not
 * from inside a callback (the loop would run nested): there, send SIGUSR1
 * with uv_kill() and take the answer in on_stats. */
static inline const char *hard_child_stats(hard_child_t *c) {
  int before = c->nstats;
  CHECK_EQ(uv_kill(c->pid, SIGUSR1), 0);
  while (c->nstats == before && !c->exited)
    uv_run(c->loop, UV_RUN_ONCE);
  return c->stats;
}

/* One counter of a stats line ("open", "close", ...), or -1. */
static inline long hard_stat(const char *stats, const char *name) {
  char key[64];
  const char *p;
  snprintf(key, sizeof(key), " %s=", name);
  p = strstr(stats, key);
  return p ? atol(p + strlen(key)) : -1;
}

/* SIGTERM, then the loop runs until the child has exited; its last stats
 * line stays in c->stats. Returns the exit status. */
static inline int hard_child_stop(hard_child_t *c) {
  CHECK_EQ(uv_kill(c->pid, SIGTERM), 0);
  while (!c->exited || !uv_is_closing((uv_handle_t *)&c->out))
    uv_run(c->loop, UV_RUN_ONCE);
  return (int)c->exit_status;
}

#endif

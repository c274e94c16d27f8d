/* loadgen: the load generator of the uvws benchmarks.
 *
 *   loadgen [options] URL          (ws://127.0.0.1:PORT/PATH or wss://...)
 *
 * It opens --conns WebSocket connections, each with a real HTTP/1.1 upgrade
 * (after a TLS handshake for wss://), and drives them in one mode:
 *
 *   echo       closed loop: every connection keeps DEPTH messages of SIZE
 *              bytes in flight and sends a new one for each echo. --phases
 *              SIZExDEPTH,... runs several cells in turn on the same
 *              connections, each with --warmup then --duration seconds of
 *              measurement, then a drain until nothing is in flight.
 *   rate       open loop: --rate messages a second in all, spread round
 *              robin over the connections, paced by a busy-polling loop, for
 *              latency at a fixed load. Latency is counted from the time a
 *              message was due, not from when it went out, so a generator
 *              or a server that falls behind is charged for it.
 *   handshake  --conns loops of connect, upgrade, close, again: handshakes
 *              per second and the latency from connect to the 101.
 *   idle       opens --conns connections and reads the server's VmRSS
 *              (--server-pid) before and after, then again after one echo
 *              of --size bytes on each connection.
 *   broadcast  --conns subscribers to a bench broadcast server; for each of
 *              --rounds, the first connection asks for a publish of --size
 *              bytes ("publish SIZE ROUND"); the server puts its monotonic
 *              clock, read just before its publish call, in the payload, and
 *              each subscriber's arrival is measured against it (the same
 *              CLOCK_MONOTONIC on one machine).
 *
 * What it sends is built once: each phase's frame is masked once with one
 * key, and DEPTH copies of it lie back to back, so k messages go out as one
 * write of k frames (one TLS record run for wss://). It reads with one
 * buffer per thread and parses the echoes itself: frame headers only, the
 * payload is skipped (compared with what was sent under --verify). Masked
 * frames are accepted, so a raw TCP echo can be measured. Frames with FIN
 * clear count toward the message their FIN=1 frame ends.
 *
 * --client uvws drives the connections through uvws's own client API
 * instead (uvws_connect, uvws_conn_send_binary, on_message): a benchmark of
 * the uvws client against the same servers.
 *
 * --threads runs that many loops, one per thread, with the connections
 * dealt out among them. With --server-pid the server's CPU time (utime +
 * stime of all its threads, from /proc/PID/stat) is reported for the
 * measured window, with the generator's own, the server's share in user
 * space, and the messages per read and per write system call on each side
 * (/proc/PID/io).
 *
 * --pause S waits S seconds after the connections are open (and their
 * "connect" line is out) before the first phase: bench/profile turns
 * callgrind's counting on then, so that the handshakes are not counted.
 *
 * Output: one JSON object per line on stdout for each phase or result;
 * progress and errors on stderr. Every mode is bounded by --max-time; the
 * exit status is 0 when every connection opened and nothing failed, 1 on
 * errors, 2 on bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "hist.h"
#include "uvws.h"

enum { MODE_ECHO, MODE_RATE, MODE_HANDSHAKE, MODE_IDLE, MODE_BROADCAST };
static const char *const mode_names[] = {"echo", "rate", "handshake", "idle",
                                         "broadcast"};

/* Stages of the run, set by the main thread, read by the workers. */
enum {
  ST_CONNECT, /* connections are being opened */
  ST_WARM,    /* a phase runs, not measured yet */
  ST_MEASURE, /* a phase runs and is measured */
  ST_DRAIN,   /* no new messages: wait for what is in flight */
  ST_ONESHOT, /* idle mode: one message on each connection */
  ST_PUBLISH, /* broadcast mode: ask the server to publish */
  ST_STOP     /* close everything and end */
};

/* Connection states. */
enum { C_IDLE, C_TCP, C_TLS, C_UPGRADE, C_OPEN, C_CLOSING, C_DEAD };

#define MAX_PHASES 32
#define RBUF_SIZE (256 * 1024)
#define PLAIN_SIZE (64 * 1024)
#define HS_MAX 8192
#define CAP_MAX 128

typedef struct {
  size_t size;
  unsigned depth;
  uint8_t *payload; /* SIZE plain bytes */
  uint8_t *frames;  /* DEPTH masked frames back to back */
  size_t flen;      /* one frame */
} phase_t;

static struct {
  const char *url;
  char host[256];
  int port;
  char path[1024];
  int tls;
  int mode;
  int uvws_client;
  int conns;
  int threads;
  phase_t phases[MAX_PHASES];
  int nphases;
  double duration, warmup, settle, max_time, pause;
  double rate;
  size_t size;
  int rounds;
  int server_pid;
  int text;
  int verify;
  int connect_conc;
  int retries;
  double noise;
  const char *label;
  const char *ca_file;
  const char *cipher;
  uint8_t mask[4];
} cfg = {
    .conns = 100,
    .threads = 1,
    .duration = 3,
    .warmup = 1,
    .settle = 1,
    .max_time = 300,
    .size = 1024,
    .rounds = 5,
    .connect_conc = 256,
    .noise = 0.15,
    .label = "",
    /* The suite every server here offers: TLS 1.2, ECDHE, AES-128-GCM. */
    .cipher = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
};

static SSL_CTX *ssl_ctx;
static char upgrade_req[2048];
static size_t upgrade_len;
static uint8_t close_frame[8];
static struct sockaddr_in server_addr;
static uint64_t run_start;

/* generation << 16 | phase << 8 | stage. The generation grows with every
 * phase started, so a worker whose wake-ups coalesced still sees that a
 * new one began. */
static _Atomic int g_ctl;
static _Atomic int g_round;    /* broadcast round being measured */

static inline int ctl_stage(int ctl) { return ctl & 0xff; }
static inline int ctl_phase(int ctl) { return (ctl >> 8) & 0xff; }
static inline int ctl_gen(int ctl) { return ctl >> 16; }

typedef struct worker_s worker_t;

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t creq;
  worker_t *w;
  uvws_conn_t *uc; /* --client uvws */
  SSL *ssl;
  BIO *rbio, *wbio;
  uint8_t state;
  uint8_t to_send;
  uint8_t hlen, hneed;  /* frame header bytes gathered, and needed */
  uint8_t fin, op, masked;
  uint8_t hdr[14];
  uint8_t key[4];
  uint64_t skip;        /* payload bytes left in the current frame */
  uint64_t foff;        /* offset in the current frame's payload */
  uint64_t moff;        /* offset in the current message */
  uint32_t inflight;
  uint32_t head, tail;  /* stamp ring */
  uint64_t *ring;
  char *hs;             /* the upgrade answer while it arrives */
  size_t hs_len;
  uint8_t cap[CAP_MAX]; /* first payload bytes (broadcast mode) */
  size_t cap_len;
  uint64_t t_start;     /* connect began (handshake mode) */
  int idx;
} conn_t;

struct worker_s {
  int id;
  pthread_t th;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t tick;
  conn_t *conns;
  int nconns;
  int next_connect;     /* next connection to start in ST_CONNECT */
  int connecting;
  int seen_ctl;
  int running;          /* generation of the phase it started, or -1 */
  int stopping;
  uint32_t ring_mask;
  uint8_t *rbuf;
  uint8_t *plain;
  uint8_t *tlsout;
  uvws_client_t *uclient;
  uint64_t now;         /* uv_hrtime() at the start of the current read */

  /* Worker-owned counts, published below after each read. */
  uint64_t msgs, inflight, opened, failed, hs_done, skipped, mismatched;
  uint64_t bc_count, bc_max;
  int bc_round;

  /* Rate mode */
  uint64_t rate_t0, rate_sent;
  double rate_ns; /* ns between two messages of this worker */
  int rr;

  hist_t hist;

  /* Published for the main thread. */
  _Atomic uint64_t a_msgs, a_inflight, a_opened, a_failed, a_hs, a_skipped,
      a_mismatched, a_bc_count, a_bc_max;
  _Atomic int a_bc_round;
  _Atomic int a_done;
};

static worker_t *workers;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

static void publish(worker_t *w) {
  atomic_store_explicit(&w->a_msgs, w->msgs, memory_order_relaxed);
  atomic_store_explicit(&w->a_opened, w->opened, memory_order_relaxed);
  atomic_store_explicit(&w->a_failed, w->failed, memory_order_relaxed);
  atomic_store_explicit(&w->a_hs, w->hs_done, memory_order_relaxed);
  atomic_store_explicit(&w->a_skipped, w->skipped, memory_order_relaxed);
  atomic_store_explicit(&w->a_mismatched, w->mismatched,
                        memory_order_relaxed);
  atomic_store_explicit(&w->a_bc_count, w->bc_count, memory_order_relaxed);
  atomic_store_explicit(&w->a_bc_max, w->bc_max, memory_order_relaxed);
  atomic_store_explicit(&w->a_bc_round, w->bc_round, memory_order_relaxed);
  /* Last, with release: whoever sees inflight reach 0 sees the histogram
   * the messages were recorded in. */
  atomic_store_explicit(&w->a_inflight, w->inflight, memory_order_release);
}

static int is_connecting(int s) { return s >= C_TCP && s <= C_UPGRADE; }

/* Every state change goes through here, so that the count of connections
 * being opened stays right. */
static void set_state(conn_t *c, int s) {
  worker_t *w = c->w;
  if (is_connecting(c->state) && !is_connecting(s))
    w->connecting--;
  else if (!is_connecting(c->state) && is_connecting(s))
    w->connecting++;
  c->state = (uint8_t)s;
}

/* ---- frames ------------------------------------------------------------- */

static size_t frame_build(uint8_t *out, int op, const uint8_t *payload,
                          size_t len) {
  size_t h = 0, i;
  out[h++] = (uint8_t)(0x80 | op);
  if (len < 126) {
    out[h++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    out[h++] = 0x80 | 126;
    out[h++] = (uint8_t)(len >> 8);
    out[h++] = (uint8_t)len;
  } else {
    out[h++] = 0x80 | 127;
    for (i = 0; i < 8; i++)
      out[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  memcpy(out + h, cfg.mask, 4);
  h += 4;
  for (i = 0; i < len; i++)
    out[h + i] = payload[i] ^ cfg.mask[i & 3];
  return h + len;
}

static void phase_build(phase_t *ph) {
  size_t i, hmax = 14;
  uint8_t *one;
  unsigned d, copies = ph->depth ? ph->depth : 1;
  uint64_t x = 0x9e3779b97f4a7c15ull;

  ph->payload = malloc(ph->size ? ph->size : 1);
  for (i = 0; i < ph->size; i++) {
    if (cfg.text) {
      ph->payload[i] = (uint8_t)('a' + i % 26);
    } else {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      ph->payload[i] = (uint8_t)x;
    }
  }
  one = malloc(ph->size + hmax);
  ph->flen = frame_build(one, cfg.text ? 1 : 2, ph->payload, ph->size);
  ph->frames = malloc(ph->flen * copies);
  for (d = 0; d < copies; d++)
    memcpy(ph->frames + (size_t)d * ph->flen, one, ph->flen);
  free(one);
}

/* ---- /proc ---------------------------------------------------------------*/

/* utime + stime of a process in seconds, or -1; its utime alone in *user
 * when user is not NULL. */
static double proc_cpu2(int pid, double *user) {
  char path[64], buf[2048], *p;
  unsigned long ut, st;
  FILE *f;
  size_t n;
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  p = strrchr(buf, ')');
  if (p == NULL ||
      sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
             &ut, &st) != 2)
    return -1;
  if (user != NULL)
    *user = (double)ut / (double)sysconf(_SC_CLK_TCK);
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds the whole machine spent busy (user, nice, system, steal;
 * interrupts left out), from /proc/stat. */
static double machine_cpu(void) {
  unsigned long long us, ni, sy, id, io, irq, sirq, st = 0;
  FILE *f = fopen("/proc/stat", "r");
  int n;
  if (f == NULL)
    return -1;
  n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &us, &ni, &sy,
             &id, &io, &irq, &sirq, &st);
  fclose(f);
  if (n < 7)
    return -1;
  return (double)(us + ni + sy + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Read and write system calls a process has made (syscr, syscw of
 * /proc/PID/io, "self" for this one; read/readv and write/writev on sockets
 * count), or -1 each. */
static void proc_syscalls(const char *pid, double *r, double *w) {
  char path[64], line[128];
  FILE *f;
  *r = *w = -1;
  snprintf(path, sizeof(path), "/proc/%s/io", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, "syscr:", 6) == 0)
      *r = strtod(line + 6, NULL);
    else if (strncmp(line, "syscw:", 6) == 0)
      *w = strtod(line + 6, NULL);
  }
  fclose(f);
}

/* A field of /proc/PID/status in kB ("VmRSS", "VmHWM"), or -1. */
static long proc_status_kb(int pid, const char *field) {
  char path[64], line[256];
  size_t fl = strlen(field);
  long v = -1;
  FILE *f;
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
      v = strtol(line + fl + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

/* ---- connections: raw client -------------------------------------------- */

static void conn_start(conn_t *c);
static void conn_fail(conn_t *c, int err);
static void on_message_done(conn_t *c, uint8_t op);

typedef struct {
  uv_write_t req;
  void *owned;
} wreq_t;

static void on_write(uv_write_t *req, int status) {
  wreq_t *wr = (wreq_t *)req;
  conn_t *c = req->data;
  free(wr->owned);
  free(wr);
  if (status < 0 && c != NULL && c->state != C_DEAD && c->state != C_IDLE &&
      !uv_is_closing((uv_handle_t *)&c->tcp))
    conn_fail(c, status);
}

/* Writes len bytes: at once when the kernel takes them, else queued. A
 * stable buffer (a phase's frames) is queued as it is; any other is copied
 * for the part that did not go out. */
static void conn_write(conn_t *c, const void *data, size_t len, int stable) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  wreq_t *wr;
  int r;

  r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == (int)len)
    return;
  if (r < 0 && r != UV_EAGAIN) {
    conn_fail(c, r);
    return;
  }
  if (r > 0) {
    b.base += r;
    b.len -= (unsigned)r;
  }
  wr = malloc(sizeof(*wr));
  wr->owned = NULL;
  if (!stable) {
    wr->owned = malloc(b.len);
    memcpy(wr->owned, b.base, b.len);
    b.base = wr->owned;
  }
  wr->req.data = c;
  r = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (r < 0) {
    free(wr->owned);
    free(wr);
    conn_fail(c, r);
  }
}

static void tls_flush(conn_t *c) {
  worker_t *w = c->w;
  int n;
  while (c->state != C_DEAD && c->state != C_CLOSING &&
         BIO_ctrl_pending(c->wbio) > 0) {
    n = BIO_read(c->wbio, w->tlsout, RBUF_SIZE);
    if (n <= 0)
      break;
    conn_write(c, w->tlsout, (size_t)n, 0);
  }
}

/* Sends application bytes: through TLS, or straight to the socket. */
static void conn_send(conn_t *c, const void *data, size_t len, int stable) {
  if (c->ssl != NULL) {
    if (SSL_write(c->ssl, data, (int)len) <= 0) {
      conn_fail(c, UV_EPROTO);
      return;
    }
    tls_flush(c);
  } else {
    conn_write(c, data, len, stable);
  }
}

/* Sends k messages of the current phase, due at time t (ns). */
static void send_msgs(conn_t *c, unsigned k, uint64_t t) {
  worker_t *w = c->w;
  phase_t *ph = &cfg.phases[ctl_phase(w->seen_ctl)];
  unsigned i;

  for (i = 0; i < k; i++)
    c->ring[c->head++ & w->ring_mask] = t;
  c->inflight += k;
  w->inflight += k;
  if (cfg.uvws_client) {
    for (i = 0; i < k; i++) {
      int r = uvws_conn_send_binary(c->uc, ph->payload, ph->size);
      if (r != 0) {
        note("uvws_conn_send_binary: %s", uvws_strerror(r));
        w->failed++;
        break;
      }
    }
    return;
  }
  conn_send(c, ph->frames, ph->flen * k, 1);
}

static void conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  worker_t *w = c->w;
  int stage = ctl_stage(atomic_load_explicit(&g_ctl, memory_order_relaxed));
  if (c->ssl != NULL) {
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  free(c->hs);
  c->hs = NULL;
  if (cfg.mode == MODE_HANDSHAKE && stage != ST_STOP && !w->stopping) {
    conn_start(c);
    return;
  }
  set_state(c, C_DEAD);
}

/* Drops the connection with a TCP reset: nothing lingers in TIME_WAIT. */
static void conn_reset(conn_t *c) {
  worker_t *w = c->w;
  if (c->state == C_IDLE || c->state == C_DEAD ||
      uv_is_closing((uv_handle_t *)&c->tcp))
    return;
  w->inflight -= c->inflight;
  c->inflight = 0;
  set_state(c, C_CLOSING);
  if (uv_tcp_close_reset(&c->tcp, conn_closed) != 0)
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void start_more(worker_t *w);

static void conn_fail(conn_t *c, int err) {
  worker_t *w = c->w;
  int stage = ctl_stage(atomic_load_explicit(&g_ctl, memory_order_relaxed));
  if (c->state == C_CLOSING || c->state == C_DEAD || c->state == C_IDLE)
    return;
  if (stage != ST_STOP && !w->stopping) {
    w->failed++;
    if (w->failed <= 5)
      note("connection %d failed: %s", c->idx, uv_strerror(err));
  }
  conn_reset(c);
  start_more(w);
}

static void on_opened(conn_t *c) {
  worker_t *w = c->w;
  int ctl = atomic_load_explicit(&g_ctl, memory_order_relaxed);
  set_state(c, C_OPEN);
  if (cfg.mode == MODE_HANDSHAKE) {
    if (ctl_stage(ctl) == ST_MEASURE) {
      w->hs_done++;
      hist_record(&w->hist, uv_hrtime() - c->t_start);
    }
    conn_send(c, close_frame, sizeof(close_frame), 1);
    return;
  }
  w->opened++;
  start_more(w);
}

static int frame_is_control(uint8_t op) { return op >= 8; }

/* Payload bytes of the current frame, looked at only under --verify and in
 * broadcast mode. */
static void payload_bytes(conn_t *c, const uint8_t *p, size_t n) {
  size_t i;
  if (cfg.mode == MODE_BROADCAST || frame_is_control(c->op)) {
    for (i = 0; i < n && c->cap_len < CAP_MAX; i++, c->foff++)
      c->cap[c->cap_len++] = c->masked ? p[i] ^ c->key[c->foff & 3] : p[i];
    return;
  }
  if (cfg.verify) {
    phase_t *ph = &cfg.phases[ctl_phase(c->w->seen_ctl)];
    for (i = 0; i < n; i++, c->foff++, c->moff++) {
      uint8_t b = c->masked ? p[i] ^ c->key[c->foff & 3] : p[i];
      if (c->moff >= ph->size || b != ph->payload[c->moff]) {
        c->w->mismatched++;
        c->foff += n - i;
        c->moff += n - i;
        return;
      }
    }
  }
}

static void frame_begin(conn_t *c, const uint8_t *h, size_t hsize) {
  uint64_t len = h[1] & 127;
  size_t i;
  if (len == 126) {
    len = ((uint64_t)h[2] << 8) | h[3];
  } else if (len == 127) {
    len = 0;
    for (i = 0; i < 8; i++)
      len = (len << 8) | h[2 + i];
  }
  c->fin = h[0] & 0x80;
  c->op = h[0] & 15;
  c->masked = (h[1] & 0x80) != 0;
  if (c->masked)
    memcpy(c->key, h + hsize - 4, 4);
  c->skip = len;
  c->foff = 0;
  if (c->op != 0 || frame_is_control(c->op))
    c->cap_len = 0;
  if (c->op == 1 || c->op == 2)
    c->moff = 0;
}

static void frame_end(conn_t *c) {
  if (c->op == 8) {
    on_message_done(c, 8);
    return;
  }
  if (frame_is_control(c->op))
    return; /* ping, pong: servers under test send none */
  if (!c->fin)
    return;
  if (cfg.verify && cfg.mode == MODE_ECHO &&
      c->moff != cfg.phases[ctl_phase(c->w->seen_ctl)].size)
    c->w->mismatched++;
  on_message_done(c, c->op);
}

static inline size_t hdr_size(const uint8_t *h) {
  size_t s = 2;
  uint8_t l = h[1] & 127;
  if (l == 126)
    s += 2;
  else if (l == 127)
    s += 8;
  if (h[1] & 0x80)
    s += 4;
  return s;
}

/* Parses server frames. Only the headers are read; payloads are skipped. */
static void parse_frames(conn_t *c, const uint8_t *p, size_t n) {
  const uint8_t *end = p + n;
  int look = cfg.verify || cfg.mode == MODE_BROADCAST;
  while (p < end && c->state == C_OPEN) {
    if (c->skip > 0) {
      size_t k = (size_t)(end - p) < c->skip ? (size_t)(end - p) : c->skip;
      if (look || frame_is_control(c->op))
        payload_bytes(c, p, k);
      p += k;
      c->skip -= k;
      if (c->skip == 0)
        frame_end(c);
      continue;
    }
    if (c->hlen == 0 && end - p >= 14) {
      size_t hs = hdr_size(p);
      frame_begin(c, p, hs);
      p += hs;
      if (c->skip == 0)
        frame_end(c);
      continue;
    }
    c->hdr[c->hlen++] = *p++;
    if (c->hlen == 2)
      c->hneed = (uint8_t)hdr_size(c->hdr);
    if (c->hlen >= 2 && c->hlen == c->hneed) {
      frame_begin(c, c->hdr, c->hlen);
      c->hlen = 0;
      if (c->skip == 0)
        frame_end(c);
    }
  }
}

/* The answer to the upgrade, as it arrives: returns how many bytes of p
 * belong to it (all of them while it is incomplete). */
static size_t parse_upgrade(conn_t *c, const uint8_t *p, size_t n) {
  char *eoh;
  size_t before = c->hs_len, take = n, hl;
  if (c->hs == NULL)
    c->hs = malloc(HS_MAX + 1);
  if (c->hs_len + take > HS_MAX)
    take = HS_MAX - c->hs_len;
  memcpy(c->hs + c->hs_len, p, take);
  c->hs_len += take;
  c->hs[c->hs_len] = 0;
  eoh = strstr(c->hs, "\r\n\r\n");
  if (eoh == NULL) {
    if (c->hs_len >= HS_MAX)
      conn_fail(c, UV_E2BIG);
    return n;
  }
  hl = (size_t)(eoh + 4 - c->hs);
  if (strncmp(c->hs, "HTTP/1.1 101", 12) != 0 ||
      strstr(c->hs, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == NULL) {
    char *eol = strstr(c->hs, "\r\n");
    if (eol)
      *eol = 0;
    if (c->w->failed < 5)
      note("upgrade refused: %s", c->hs);
    conn_fail(c, UV_EPROTO);
    return n;
  }
  free(c->hs);
  c->hs = NULL;
  c->hs_len = 0;
  on_opened(c);
  return hl - before;
}

static void process_plain(conn_t *c, const uint8_t *p, size_t n) {
  if (c->state == C_UPGRADE) {
    size_t used = parse_upgrade(c, p, n);
    p += used;
    n -= used;
  }
  if (c->state == C_OPEN && n > 0)
    parse_frames(c, p, n);
}

static void flush_sends(conn_t *c) {
  if (c->to_send > 0 && c->state == C_OPEN) {
    unsigned k = c->to_send;
    c->to_send = 0;
    send_msgs(c, k, c->w->now);
  }
}

static void tls_read(conn_t *c, const uint8_t *p, size_t n) {
  worker_t *w = c->w;
  int r;
  BIO_write(c->rbio, p, (int)n);
  if (c->state == C_TLS) {
    r = SSL_do_handshake(c->ssl);
    tls_flush(c);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        if (w->failed < 5)
          note("TLS handshake: %s",
               ERR_error_string(ERR_get_error(), NULL));
        conn_fail(c, UV_EPROTO);
      }
      return;
    }
    set_state(c, C_UPGRADE);
    conn_send(c, upgrade_req, upgrade_len, 1);
  }
  while (c->state == C_UPGRADE || c->state == C_OPEN) {
    r = SSL_read(c->ssl, w->plain, PLAIN_SIZE);
    if (r <= 0) {
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_ZERO_RETURN)
        conn_fail(c, UV_EOF);
      else if (e != SSL_ERROR_WANT_READ)
        conn_fail(c, UV_EPROTO);
      break;
    }
    process_plain(c, w->plain, (size_t)r);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn_t *c = h->data;
  (void)hint;
  buf->base = (char *)c->w->rbuf;
  buf->len = RBUF_SIZE;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  worker_t *w = c->w;
  if (n < 0) {
    if (c->state == C_OPEN && cfg.mode == MODE_HANDSHAKE) {
      conn_reset(c); /* the server closed after the close handshake */
      return;
    }
    conn_fail(c, (int)n);
    publish(w);
    return;
  }
  if (n == 0)
    return;
  w->now = uv_hrtime();
  if (c->ssl != NULL)
    tls_read(c, (const uint8_t *)buf->base, (size_t)n);
  else
    process_plain(c, (const uint8_t *)buf->base, (size_t)n);
  flush_sends(c);
  publish(w);
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (status < 0) {
    if (status == UV_ECANCELED)
      return;
    conn_fail(c, status);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (cfg.tls) {
    int r;
    c->ssl = SSL_new(ssl_ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
    set_state(c, C_TLS);
    r = SSL_do_handshake(c->ssl);
    (void)r;
    tls_flush(c);
    return;
  }
  set_state(c, C_UPGRADE);
  conn_write(c, upgrade_req, upgrade_len, 1);
}

/* ---- connections: uvws client ------------------------------------------- */

static void u_on_open(uvws_conn_t *uc) {
  conn_t *c = uvws_conn_get_data(uc);
  on_opened(c);
}

static void u_on_message(uvws_conn_t *uc, uvws_msg_type_t type,
                         const char *data, size_t len) {
  conn_t *c = uvws_conn_get_data(uc);
  worker_t *w = c->w;
  (void)type, (void)data, (void)len;
  w->now = uv_hrtime();
  on_message_done(c, 2);
  flush_sends(c);
  publish(w);
}

static void u_on_error(uvws_conn_t *uc, int err) {
  conn_t *c = uvws_conn_get_data(uc);
  int stage = ctl_stage(atomic_load_explicit(&g_ctl, memory_order_relaxed));
  if (stage != ST_STOP && c->w->failed < 5)
    note("uvws connection %d: %s", c->idx, uvws_strerror(err));
}

static void u_on_close(uvws_conn_t *uc, int code, const char *reason,
                       size_t reason_len, int was_clean) {
  conn_t *c = uvws_conn_get_data(uc);
  worker_t *w = c->w;
  int stage = ctl_stage(atomic_load_explicit(&g_ctl, memory_order_relaxed));
  (void)code, (void)reason, (void)reason_len, (void)was_clean;
  if (stage != ST_STOP && !w->stopping)
    w->failed++;
  w->inflight -= c->inflight;
  c->inflight = 0;
  set_state(c, C_DEAD);
  c->uc = NULL;
  start_more(w);
  publish(w);
}

static const uvws_callbacks_t u_cbs = {
    .on_open = u_on_open,
    .on_message = u_on_message,
    .on_error = u_on_error,
    .on_close = u_on_close,
};

/* ---- the worker --------------------------------------------------------- */

static void conn_start(conn_t *c) {
  worker_t *w = c->w;
  int r;
  set_state(c, C_TCP);
  c->hlen = c->hneed = 0;
  c->skip = 0;
  c->inflight = 0;
  c->head = c->tail = 0;
  c->to_send = 0;
  c->hs_len = 0;
  c->t_start = uv_hrtime();
  if (cfg.uvws_client) {
    r = uvws_connect(w->uclient, cfg.url, NULL, &u_cbs, c, &c->uc);
    if (r != 0) {
      note("uvws_connect: %s", uvws_strerror(r));
      w->failed++;
      set_state(c, C_DEAD);
    }
    return;
  }
  uv_tcp_init(&w->loop, &c->tcp);
  c->tcp.data = c;
  c->creq.data = c;
  r = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&server_addr,
                     on_connect);
  if (r != 0) {
    w->failed++;
    set_state(c, C_CLOSING);
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
  }
}

/* Starts connections until --connect-concurrency are under way. */
static void start_more(worker_t *w) {
  int stage = ctl_stage(atomic_load_explicit(&g_ctl, memory_order_relaxed));
  if (stage == ST_STOP || w->stopping)
    return;
  while (w->next_connect < w->nconns &&
         w->connecting < (cfg.connect_conc + cfg.threads - 1) / cfg.threads)
    conn_start(&w->conns[w->next_connect++]);
}

static void close_all(worker_t *w);

static void on_message_done(conn_t *c, uint8_t op) {
  worker_t *w = c->w;
  int ctl = atomic_load_explicit(&g_ctl, memory_order_relaxed);
  int stage = ctl_stage(ctl);

  if (op == 8) { /* close */
    if (cfg.mode == MODE_HANDSHAKE) {
      conn_reset(c);
      return;
    }
    if (stage != ST_STOP)
      conn_fail(c, UV_EOF);
    return;
  }
  if (cfg.mode == MODE_BROADCAST) {
    uint64_t t0 = 0;
    uint32_t round = 0;
    int i;
    if (op == 1) { /* the server's stats line */
      c->cap[c->cap_len < CAP_MAX ? c->cap_len : CAP_MAX - 1] = 0;
      printf("{\"mode\":\"broadcast-stats\",\"label\":\"%s\",\"text\":\"%s\"}\n",
             cfg.label, (char *)c->cap);
      fflush(stdout);
      return;
    }
    if (c->cap_len < 12)
      return;
    for (i = 7; i >= 0; i--)
      t0 = (t0 << 8) | c->cap[i];
    for (i = 11; i >= 8; i--)
      round = (round << 8) | c->cap[i];
    if ((int)round != atomic_load_explicit(&g_round, memory_order_relaxed))
      return;
    if ((int)round != w->bc_round) {
      w->bc_round = (int)round;
      w->bc_count = 0;
      w->bc_max = 0;
    }
    w->bc_count++;
    if (w->now - t0 > w->bc_max)
      w->bc_max = w->now - t0;
    hist_record(&w->hist, w->now - t0);
    return;
  }
  if (c->inflight == 0)
    return; /* not ours */
  c->inflight--;
  w->inflight--;
  w->msgs++;
  if (stage == ST_MEASURE)
    hist_record(&w->hist, w->now - c->ring[c->tail & w->ring_mask]);
  c->tail++;
  if (cfg.mode == MODE_ECHO && (stage == ST_WARM || stage == ST_MEASURE))
    c->to_send++;
}

static void close_all(worker_t *w) {
  int i;
  w->stopping = 1;
  if (cfg.uvws_client) {
    if (w->uclient != NULL) {
      uvws_client_close(w->uclient, NULL);
      w->uclient = NULL;
    }
  } else {
    for (i = 0; i < w->nconns; i++) {
      conn_t *c = &w->conns[i];
      if (c->state == C_IDLE || c->state == C_DEAD)
        continue;
      if (uv_is_closing((uv_handle_t *)&c->tcp))
        continue;
      set_state(c, C_CLOSING);
      if (uv_tcp_close_reset(&c->tcp, conn_closed) != 0)
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
  }
  uv_close((uv_handle_t *)&w->wake, NULL);
  uv_close((uv_handle_t *)&w->tick, NULL);
}

/* The main thread moved the run on. */
static void on_wake(uv_async_t *a) {
  worker_t *w = a->data;
  int ctl = atomic_load_explicit(&g_ctl, memory_order_acquire);
  int stage = ctl_stage(ctl), i;

  if (ctl == w->seen_ctl || w->stopping)
    return;
  w->seen_ctl = ctl;
  w->now = uv_hrtime();
  switch (stage) {
  case ST_WARM:
  case ST_MEASURE:
    /* Wake-ups coalesce: with no warm-up the worker may see MEASURE
     * without having seen WARM, or a new phase without the last one's
     * DRAIN. */
    if (w->running == ctl_gen(ctl))
      break;
    w->running = ctl_gen(ctl);
    if (cfg.mode == MODE_ECHO) {
      unsigned d = cfg.phases[ctl_phase(ctl)].depth;
      for (i = 0; i < w->nconns; i++)
        if (w->conns[i].state == C_OPEN)
          send_msgs(&w->conns[i], d, w->now);
    } else if (cfg.mode == MODE_RATE) {
      w->rate_t0 = w->now;
      w->rate_sent = 0;
    }
    break;
  case ST_ONESHOT:
    for (i = 0; i < w->nconns; i++)
      if (w->conns[i].state == C_OPEN)
        send_msgs(&w->conns[i], 1, w->now);
    break;
  case ST_PUBLISH:
    if (w->id == 0) {
      char text[64];
      uint8_t frame[80];
      int round = atomic_load_explicit(&g_round, memory_order_relaxed);
      int len = snprintf(text, sizeof(text), "publish %zu %d", cfg.size,
                         round);
      size_t fl = frame_build(frame, 1, (const uint8_t *)text, (size_t)len);
      for (i = 0; i < w->nconns; i++) {
        conn_t *c = &w->conns[i];
        if (c->state != C_OPEN)
          continue;
        if (cfg.uvws_client)
          uvws_conn_send_text(c->uc, text, (size_t)len);
        else
          conn_send(c, frame, fl, 0);
        break;
      }
    }
    break;
  case ST_STOP:
    close_all(w);
    break;
  default:
    break;
  }
  publish(w);
}

/* Every 50 ms: start connections the handshake loops dropped, and fail
 * handshakes stuck for more than 5 s. */
static void on_tick(uv_timer_t *t) {
  worker_t *w = t->data;
  uint64_t now = uv_hrtime();
  int i;
  if (w->stopping)
    return;
  if (cfg.mode == MODE_HANDSHAKE) {
    for (i = 0; i < w->nconns; i++) {
      conn_t *c = &w->conns[i];
      if (c->state > C_IDLE && c->state != C_DEAD &&
          now - c->t_start > 5000000000ull &&
          !uv_is_closing((uv_handle_t *)&c->tcp)) {
        w->failed++;
        conn_reset(c);
      }
    }
  }
  start_more(w);
  publish(w);
}

/* Open loop: sends what is due now, round robin over the open
 * connections. */
static void rate_pump(worker_t *w) {
  int stage = ctl_stage(atomic_load_explicit(&g_ctl, memory_order_relaxed));
  uint64_t now, due;
  int burst = 0, tries;
  if (stage != ST_WARM && stage != ST_MEASURE)
    return;
  if (w->seen_ctl != atomic_load_explicit(&g_ctl, memory_order_relaxed))
    return; /* on_wake has not started the phase yet */
  now = uv_hrtime();
  due = (uint64_t)((double)(now - w->rate_t0) / w->rate_ns);
  while (w->rate_sent < due && burst < 256) {
    uint64_t t = w->rate_t0 + (uint64_t)((double)w->rate_sent * w->rate_ns);
    conn_t *c = NULL;
    for (tries = 0; tries < w->nconns; tries++) {
      conn_t *x = &w->conns[w->rr];
      w->rr = (w->rr + 1) % w->nconns;
      if (x->state == C_OPEN) {
        c = x;
        break;
      }
    }
    if (c == NULL)
      return;
    w->rate_sent++;
    burst++;
    if (c->inflight > w->ring_mask) {
      w->skipped++; /* the server is that far behind */
      continue;
    }
    w->now = now;
    send_msgs(c, 1, t);
  }
  publish(w);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  uv_run(&w->loop, UV_RUN_NOWAIT);
  start_more(w);
  publish(w);
  if (cfg.mode == MODE_RATE) {
    while (!w->stopping) {
      uv_run(&w->loop, UV_RUN_NOWAIT);
      rate_pump(w);
    }
  }
  uv_run(&w->loop, UV_RUN_DEFAULT);
  uv_loop_close(&w->loop);
  atomic_store(&w->a_done, 1);
  return NULL;
}

static void worker_init(worker_t *w, int id, int first, int count) {
  int i;
  uint32_t ring = 1;
  unsigned maxd = 1;
  memset(w, 0, sizeof(*w));
  w->id = id;
  uv_loop_init(&w->loop);
  uv_async_init(&w->loop, &w->wake, on_wake);
  w->wake.data = w;
  uv_timer_init(&w->loop, &w->tick);
  w->tick.data = w;
  uv_timer_start(&w->tick, on_tick, 50, 50);
  w->conns = calloc((size_t)(count ? count : 1), sizeof(conn_t));
  w->nconns = count;
  w->rbuf = malloc(RBUF_SIZE);
  w->plain = malloc(PLAIN_SIZE);
  w->tlsout = malloc(RBUF_SIZE);
  w->seen_ctl = -1;
  w->running = -1;
  hist_reset(&w->hist);
  for (i = 0; i < cfg.nphases; i++)
    if (cfg.phases[i].depth > maxd)
      maxd = cfg.phases[i].depth;
  if (cfg.mode == MODE_RATE)
    maxd = 4096;
  while (ring < maxd)
    ring <<= 1;
  w->ring_mask = ring - 1;
  for (i = 0; i < count; i++) {
    w->conns[i].w = w;
    w->conns[i].idx = first + i;
    w->conns[i].ring = malloc(sizeof(uint64_t) * ring);
  }
  if (cfg.uvws_client) {
    uvws_client_options_t o;
    int r;
    memset(&o, 0, sizeof(o));
    o.limits.max_message_size = (size_t)1 << 30;
    if (cfg.ca_file != NULL)
      o.tls.ca_file = cfg.ca_file;
    else
      o.tls.insecure_skip_verify_for_testing = 1;
    r = uvws_client_create(&w->loop, &o, &w->uclient);
    if (r != 0)
      die("uvws_client_create: %s", uvws_strerror(r));
  }
  if (cfg.mode == MODE_RATE && count > 0)
    w->rate_ns = 1e9 / (cfg.rate * (double)count / (double)cfg.conns);
}

/* ---- the main thread ----------------------------------------------------- */

static void set_ctl(int phase, int stage) {
  static int gen;
  int i;
  if (stage == ST_WARM)
    gen++;
  atomic_store_explicit(&g_ctl, gen << 16 | phase << 8 | stage,
                        memory_order_release);
  for (i = 0; i < cfg.threads; i++)
    uv_async_send(&workers[i].wake);
}

static void sleep_s(double s) {
  struct timespec ts;
  if (s <= 0)
    return;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static double elapsed(void) { return (double)(uv_hrtime() - run_start) / 1e9; }

static uint64_t sum_field(size_t off) {
  uint64_t s = 0;
  int i;
  for (i = 0; i < cfg.threads; i++)
    s += atomic_load_explicit(
        (_Atomic uint64_t *)((char *)&workers[i] + off), memory_order_acquire);
  return s;
}
#define SUM(f) sum_field(offsetof(worker_t, f))

static int out_of_time(void) { return elapsed() > cfg.max_time; }

/* Waits until every connection is open or failed. Returns how many are
 * open. */
static uint64_t wait_open(double *secs) {
  uint64_t t0 = uv_hrtime();
  for (;;) {
    uint64_t open = SUM(a_opened), failed = SUM(a_failed);
    if (open + failed >= (uint64_t)cfg.conns || out_of_time()) {
      *secs = (double)(uv_hrtime() - t0) / 1e9;
      return open;
    }
    sleep_s(0.005);
  }
}

/* Waits until nothing is in flight, for at most limit seconds. */
static int wait_drained(double limit) {
  double end = elapsed() + limit;
  while (SUM(a_inflight) != 0) {
    if (elapsed() > end || out_of_time())
      return -1;
    sleep_s(0.002);
  }
  return 0;
}

static void merged_hist(hist_t *h, int reset) {
  int i;
  hist_reset(h);
  for (i = 0; i < cfg.threads; i++) {
    hist_merge(h, &workers[i].hist);
    if (reset)
      hist_reset(&workers[i].hist);
  }
}

static void print_common(FILE *f, const char *mode) {
  fprintf(f,
          "{\"mode\":\"%s\",\"label\":\"%s\",\"client\":\"%s\",\"tls\":%d,"
          "\"url\":\"%s\",\"conns\":%d,\"threads\":%d",
          mode, cfg.label, cfg.uvws_client ? "uvws" : "raw", cfg.tls, cfg.url,
          cfg.conns, cfg.threads);
  if (cfg.tls)
    fprintf(f, ",\"ciphers\":\"%s\"", cfg.cipher); /* what was offered */
}

static void print_hist(FILE *f, const hist_t *h) {
  fprintf(f,
          ",\"samples\":%llu,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
          "\"p999_us\":%.1f,\"max_us\":%.1f",
          (unsigned long long)h->count, hist_percentile(h, 50) / 1e3,
          hist_percentile(h, 90) / 1e3, hist_percentile(h, 99) / 1e3,
          hist_percentile(h, 99.9) / 1e3, h->count ? h->max / 1e3 : 0.0);
}

typedef struct {
  uint64_t msgs;
  double t, self, server, server_user, machine;
  double self_r, self_w, server_r, server_w; /* system calls */
} snap_t;

static void snap(snap_t *s) {
  char pid[24];
  s->msgs = SUM(a_msgs);
  s->t = elapsed();
  s->self = self_cpu();
  s->server = cfg.server_pid ? proc_cpu2(cfg.server_pid, &s->server_user) : -1;
  s->machine = machine_cpu();
  proc_syscalls("self", &s->self_r, &s->self_w);
  s->server_r = s->server_w = -1;
  if (cfg.server_pid) {
    snprintf(pid, sizeof(pid), "%d", cfg.server_pid);
    proc_syscalls(pid, &s->server_r, &s->server_w);
  }
}

/* What the rest of the machine used between two snapshots, in cores: other
 * programs, noise in whatever was measured. */
static double other_cpu(const snap_t *a, const snap_t *b) {
  double dt = b->t - a->t;
  double sv = a->server >= 0 && b->server >= 0 ? b->server - a->server : 0;
  double o = (b->machine - a->machine - (b->self - a->self) - sv) / dt;
  return o > 0 ? o : 0;
}

/* Client and server CPU over a window, in cores, and the others'. Returns
 * the others'. */
static double print_cpu(FILE *f, const snap_t *a, const snap_t *b) {
  double dt = b->t - a->t;
  double sv = a->server >= 0 && b->server >= 0 ? (b->server - a->server) / dt
                                               : -1.0;
  double o = other_cpu(a, b);
  fprintf(f, ",\"client_cpu\":%.3f,\"server_cpu\":%.3f,\"other_cpu\":%.3f",
          (b->self - a->self) / dt, sv, o);
  /* The server's share in user space (the rest is the kernel's, on its
   * behalf: system calls, the copies). */
  if (sv >= 0)
    fprintf(f, ",\"server_user_cpu\":%.3f",
            (b->server_user - a->server_user) / dt);
  /* Messages per read and per write system call on each side, over the
   * window: how much each call carried. */
  if (b->msgs > a->msgs) {
    double m = (double)(b->msgs - a->msgs);
    if (a->server_r >= 0 && b->server_r > a->server_r &&
        b->server_w > a->server_w)
      fprintf(f, ",\"server_msgs_per_read\":%.2f,\"server_msgs_per_write\":%.2f",
              m / (b->server_r - a->server_r), m / (b->server_w - a->server_w));
    if (a->self_r >= 0 && b->self_r > a->self_r && b->self_w > a->self_w)
      fprintf(f, ",\"client_msgs_per_read\":%.2f,\"client_msgs_per_write\":%.2f",
              m / (b->self_r - a->self_r), m / (b->self_w - a->self_w));
  }
  return o;
}

/* Waits, at most limit seconds, until other programs use less than
 * --noise of a core over half a second. */
static void wait_quiet(double limit) {
  double end = elapsed() + limit;
  snap_t a, b;
  snap(&a);
  while (elapsed() < end && !out_of_time()) {
    sleep_s(0.5);
    snap(&b);
    if (other_cpu(&a, &b) < cfg.noise)
      return;
    a = b;
  }
}

/* One measured result, kept as its JSON line. With --retries, a window in
 * which other programs used more than --noise of a core is measured again
 * once the machine is quiet, and the quietest attempt is kept. */
typedef struct {
  char *line;
  double other;
  int attempts;
} result_t;

static int keep_result(result_t *best, char *line, double other) {
  best->attempts++;
  if (best->line == NULL || other < best->other) {
    free(best->line);
    best->line = line;
    best->other = other;
  } else {
    free(line);
  }
  if (other <= cfg.noise || best->attempts > cfg.retries || out_of_time())
    return 1;
  note("%.2f of a core used by other programs: measuring again", other);
  wait_quiet(10);
  return 0;
}

static void emit_result(result_t *best) {
  size_t n = strlen(best->line);
  /* The line ends with '}': add the attempt count. */
  printf("%.*s,\"attempts\":%d}\n", (int)(n - 1), best->line, best->attempts);
  fflush(stdout);
  free(best->line);
  best->line = NULL;
}

static int run_phases(uint64_t open) {
  int p, bad = 0;
  hist_t h;
  for (p = 0; p < cfg.nphases && !out_of_time(); p++) {
    phase_t *ph = &cfg.phases[p];
    result_t best = {NULL, 0, 0};
    int done = 0;
    uint64_t total0 = SUM(a_msgs);
    while (!done) {
      snap_t a, b;
      double dt, other;
      uint64_t n, skipped0 = SUM(a_skipped), mism0 = SUM(a_mismatched);
      uint64_t failed0 = SUM(a_failed);
      int drained;
      char *line = NULL;
      size_t linelen = 0;
      FILE *f = open_memstream(&line, &linelen);

      set_ctl(p, ST_WARM);
      sleep_s(cfg.warmup);
      merged_hist(&h, 1);
      set_ctl(p, ST_MEASURE);
      snap(&a);
      sleep_s(cfg.duration);
      set_ctl(p, ST_DRAIN);
      snap(&b);
      drained = wait_drained(10 + (double)ph->size * ph->depth * open / 50e6);
      merged_hist(&h, 1);
      dt = b.t - a.t;
      n = b.msgs - a.msgs;
      print_common(f, mode_names[cfg.mode]);
      fprintf(f, ",\"open\":%llu,\"size\":%zu,\"depth\":%u",
              (unsigned long long)open, ph->size,
              cfg.mode == MODE_RATE ? 0 : ph->depth);
      if (cfg.mode == MODE_RATE)
        fprintf(f, ",\"rate\":%.0f", cfg.rate);
      fprintf(f,
              ",\"seconds\":%.3f,\"msgs\":%llu,\"msgs_per_s\":%.1f,"
              "\"mb_per_s\":%.3f",
              dt, (unsigned long long)n, n / dt,
              n * (double)ph->size / dt / 1e6);
      print_hist(f, &h);
      other = print_cpu(f, &a, &b);
      fprintf(f, ",\"msgs_total\":%llu",
              (unsigned long long)(SUM(a_msgs) - total0));
      fprintf(f,
              ",\"skipped\":%llu,\"mismatched\":%llu,\"failed\":%llu,"
              "\"drained\":%s}",
              (unsigned long long)(SUM(a_skipped) - skipped0),
              (unsigned long long)(SUM(a_mismatched) - mism0),
              (unsigned long long)(SUM(a_failed) - failed0),
              drained == 0 ? "true" : "false");
      fclose(f);
      if (drained != 0) {
        note("phase %zux%u: still %llu in flight after the drain", ph->size,
             ph->depth, (unsigned long long)SUM(a_inflight));
        keep_result(&best, line, -1);
        emit_result(&best);
        return 1;
      }
      if (SUM(a_mismatched) != mism0 || SUM(a_failed) != failed0)
        bad = 1;
      done = keep_result(&best, line, other);
    }
    emit_result(&best);
  }
  return bad;
}

static int run_handshakes(void) {
  result_t best = {NULL, 0, 0};
  int bad = 0, done = 0;
  hist_t h;
  set_ctl(0, ST_WARM);
  sleep_s(cfg.warmup);
  while (!done) {
    snap_t a, b;
    uint64_t hs0, hs1, f0, f1;
    double other;
    char *line = NULL;
    size_t linelen = 0;
    FILE *f = open_memstream(&line, &linelen);
    merged_hist(&h, 1);
    f0 = SUM(a_failed);
    set_ctl(0, ST_MEASURE);
    snap(&a);
    hs0 = SUM(a_hs);
    sleep_s(cfg.duration);
    set_ctl(0, ST_DRAIN);
    snap(&b);
    hs1 = SUM(a_hs);
    f1 = SUM(a_failed);
    sleep_s(0.05);
    merged_hist(&h, 0);
    print_common(f, "handshake");
    fprintf(f,
            ",\"seconds\":%.3f,\"handshakes\":%llu,\"handshakes_per_s\":%.1f",
            b.t - a.t, (unsigned long long)(hs1 - hs0),
            (hs1 - hs0) / (b.t - a.t));
    print_hist(f, &h);
    other = print_cpu(f, &a, &b);
    fprintf(f, ",\"failed\":%llu}", (unsigned long long)(f1 - f0));
    fclose(f);
    bad = f1 - f0 > (hs1 - hs0) / 100;
    done = keep_result(&best, line, other);
  }
  emit_result(&best);
  return bad;
}

static int run_idle(uint64_t open, long rss0) {
  long rss1, rss2, hwm;
  int bad;
  sleep_s(cfg.settle);
  rss1 = proc_status_kb(cfg.server_pid, "VmRSS");
  set_ctl(0, ST_ONESHOT);
  bad = wait_drained(30);
  sleep_s(cfg.settle);
  rss2 = proc_status_kb(cfg.server_pid, "VmRSS");
  hwm = proc_status_kb(cfg.server_pid, "VmHWM");
  print_common(stdout, "idle");
  printf(",\"open\":%llu,\"size\":%zu,\"rss_before_kb\":%ld,"
         "\"rss_idle_kb\":%ld,\"rss_after_echo_kb\":%ld,\"hwm_kb\":%ld,"
         "\"idle_bytes_per_conn\":%.1f,\"after_echo_bytes_per_conn\":%.1f}\n",
         (unsigned long long)open, cfg.size, rss0, rss1, rss2, hwm,
         open ? (double)(rss1 - rss0) * 1024 / (double)open : 0.0,
         open ? (double)(rss2 - rss0) * 1024 / (double)open : 0.0);
  fflush(stdout);
  return bad != 0;
}

static int run_broadcast(uint64_t open) {
  int r, bad = 0, i;
  double *last = calloc((size_t)cfg.rounds + 1, sizeof(double));
  hist_t h;
  long rss0 = cfg.server_pid ? proc_status_kb(cfg.server_pid, "VmRSS") : -1;
  merged_hist(&h, 1);
  for (r = 1; r <= cfg.rounds && !out_of_time(); r++) {
    double end = elapsed() + 10;
    uint64_t got = 0, mx = 0;
    atomic_store(&g_round, r);
    set_ctl(r, ST_PUBLISH);
    for (;;) {
      got = 0;
      mx = 0;
      for (i = 0; i < cfg.threads; i++) {
        if (atomic_load(&workers[i].a_bc_round) == r) {
          uint64_t m = atomic_load(&workers[i].a_bc_max);
          got += atomic_load(&workers[i].a_bc_count);
          if (m > mx)
            mx = m;
        }
      }
      if (got >= open || elapsed() > end)
        break;
      sleep_s(0.001);
    }
    if (got < open) {
      note("broadcast round %d: %llu of %llu subscribers got it", r,
           (unsigned long long)got, (unsigned long long)open);
      bad = 1;
    }
    last[r] = (double)mx / 1e3;
    sleep_s(0.25);
  }
  merged_hist(&h, 0);
  print_common(stdout, "broadcast");
  printf(",\"open\":%llu,\"size\":%zu,\"rounds\":%d,\"last_us\":[", 
         (unsigned long long)open, cfg.size, cfg.rounds);
  for (i = 1; i <= cfg.rounds; i++)
    printf("%s%.1f", i > 1 ? "," : "", last[i]);
  printf("]");
  print_hist(stdout, &h);
  printf(",\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"hwm_kb\":%ld}\n", rss0,
         cfg.server_pid ? proc_status_kb(cfg.server_pid, "VmRSS") : -1,
         cfg.server_pid ? proc_status_kb(cfg.server_pid, "VmHWM") : -1);
  fflush(stdout);
  free(last);
  return bad;
}

static void parse_url(const char *url) {
  const char *p, *hs, *colon, *slash;
  size_t hl;
  if (strncmp(url, "ws://", 5) == 0) {
    cfg.tls = 0;
    p = url + 5;
  } else if (strncmp(url, "wss://", 6) == 0) {
    cfg.tls = 1;
    p = url + 6;
  } else {
    die("URL must start with ws:// or wss://");
  }
  hs = p;
  slash = strchr(p, '/');
  colon = strchr(p, ':');
  if (colon == NULL || (slash != NULL && colon > slash))
    die("URL needs a port");
  hl = (size_t)(colon - hs);
  if (hl >= sizeof(cfg.host))
    die("host too long");
  memcpy(cfg.host, hs, hl);
  cfg.port = atoi(colon + 1);
  snprintf(cfg.path, sizeof(cfg.path), "%s", slash ? slash : "/");
  if (uv_ip4_addr(cfg.host, cfg.port, &server_addr) != 0)
    die("host must be an IPv4 address (127.0.0.1)");
}

static size_t parse_size(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (*end == 'k' || *end == 'K')
    v *= 1024;
  else if (*end == 'm' || *end == 'M')
    v *= 1024 * 1024;
  return (size_t)v;
}

static void parse_phases(const char *s) {
  char *copy = strdup(s), *tok, *save = NULL;
  for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *x = strchr(tok, 'x');
    if (cfg.nphases == MAX_PHASES)
      die("too many phases");
    cfg.phases[cfg.nphases].size = parse_size(tok);
    cfg.phases[cfg.nphases].depth = x ? (unsigned)atoi(x + 1) : 1;
    if (cfg.phases[cfg.nphases].depth < 1 || cfg.phases[cfg.nphases].depth > 255)
      die("depth must be 1-255");
    cfg.nphases++;
  }
  free(copy);
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen [--mode echo|rate|handshake|idle|broadcast]\n"
          "               [--conns N] [--threads T] [--phases SIZExDEPTH,...]\n"
          "               [--duration S] [--warmup S] [--rate MSGS_PER_S]\n"
          "               [--size BYTES] [--rounds N] [--settle S]\n"
          "               [--server-pid PID] [--client raw|uvws] [--text]\n"
          "               [--verify] [--ca FILE] [--cipher OPENSSL-LIST]\n"
          "               [--connect-concurrency N]\n"
          "               [--retries N] [--noise CORES] [--pause S]\n"
          "               [--max-time S] [--label TEXT] URL\n");
  exit(2);
}

int main(int argc, char **argv) {
  int i, bad = 0, per, extra, first;
  uint64_t open = 0;
  double open_secs = 0;
  long rss0 = -1;
  struct rlimit rl;
  FILE *ur;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v != NULL && ++i)
    if (ARG("--mode")) {
      int m;
      for (m = 0; m < 5; m++)
        if (strcmp(v, mode_names[m]) == 0)
          break;
      if (m == 5)
        usage();
      cfg.mode = m;
    } else if (ARG("--conns")) {
      cfg.conns = atoi(v);
    } else if (ARG("--threads")) {
      cfg.threads = atoi(v);
    } else if (ARG("--phases")) {
      parse_phases(v);
    } else if (ARG("--duration")) {
      cfg.duration = atof(v);
    } else if (ARG("--warmup")) {
      cfg.warmup = atof(v);
    } else if (ARG("--pause")) {
      cfg.pause = atof(v);
    } else if (ARG("--settle")) {
      cfg.settle = atof(v);
    } else if (ARG("--rate")) {
      cfg.rate = atof(v);
    } else if (ARG("--size")) {
      cfg.size = parse_size(v);
    } else if (ARG("--rounds")) {
      cfg.rounds = atoi(v);
    } else if (ARG("--server-pid")) {
      cfg.server_pid = atoi(v);
    } else if (ARG("--client")) {
      if (strcmp(v, "uvws") == 0)
        cfg.uvws_client = 1;
      else if (strcmp(v, "raw") != 0)
        usage();
    } else if (ARG("--cipher")) {
      cfg.cipher = v;
    } else if (ARG("--ca")) {
      cfg.ca_file = v;
    } else if (ARG("--connect-concurrency")) {
      cfg.connect_conc = atoi(v);
    } else if (ARG("--max-time")) {
      cfg.max_time = atof(v);
    } else if (ARG("--retries")) {
      cfg.retries = atoi(v);
    } else if (ARG("--noise")) {
      cfg.noise = atof(v);
    } else if (ARG("--label")) {
      cfg.label = v;
    } else if (strcmp(a, "--text") == 0) {
      cfg.text = 1;
    } else if (strcmp(a, "--verify") == 0) {
      cfg.verify = 1;
    } else if (a[0] == '-' || cfg.url != NULL) {
      usage();
    } else {
      cfg.url = a;
    }
#undef ARG
  }
  if (cfg.url == NULL || cfg.conns < 1 || cfg.threads < 1 ||
      cfg.connect_conc < 1)
    usage();
  if (cfg.threads > cfg.conns)
    cfg.threads = cfg.conns;
  if (cfg.mode == MODE_RATE && cfg.rate <= 0)
    die("--mode rate needs --rate");
  if (cfg.mode == MODE_IDLE && cfg.server_pid == 0)
    die("--mode idle needs --server-pid");
  if (cfg.uvws_client && cfg.mode != MODE_ECHO && cfg.mode != MODE_IDLE)
    die("--client uvws runs the echo and idle modes");
  if (cfg.verify && cfg.uvws_client)
    die("--verify is for the raw client");
  parse_url(cfg.url);
  if (cfg.nphases == 0 || cfg.mode != MODE_ECHO) {
    cfg.nphases = 1;
    cfg.phases[0].size = cfg.size;
    cfg.phases[0].depth = cfg.mode == MODE_ECHO ? 8 : 1;
  }

  signal(SIGPIPE, SIG_IGN);
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  ur = fopen("/dev/urandom", "rb");
  if (ur == NULL || fread(cfg.mask, 1, 4, ur) != 4)
    die("cannot read /dev/urandom");
  fclose(ur);
  for (i = 0; i < cfg.nphases; i++)
    phase_build(&cfg.phases[i]);

  /* One fixed key: the answer is checked against its known accept value
   * (RFC 6455 1.3). */
  upgrade_len = (size_t)snprintf(
      upgrade_req, sizeof(upgrade_req),
      "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n",
      cfg.path, cfg.host, cfg.port);
  {
    uint8_t code[2] = {0x03, 0xe8}; /* 1000 */
    frame_build(close_frame, 8, code, 2);
  }

  if (cfg.tls && !cfg.uvws_client) {
    ssl_ctx = SSL_CTX_new(TLS_client_method());
    /* TLS 1.2 with --cipher (OpenSSL's names). No session resumption:
     * every handshake is a full one. */
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ssl_ctx, TLS1_2_VERSION);
    if (SSL_CTX_set_cipher_list(ssl_ctx, cfg.cipher) != 1)
      die("no cipher suite in --cipher %s", cfg.cipher);
    SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
  }

  run_start = uv_hrtime();
  if (cfg.mode == MODE_IDLE)
    rss0 = proc_status_kb(cfg.server_pid, "VmRSS");

  workers = calloc((size_t)cfg.threads, sizeof(worker_t));
  per = cfg.conns / cfg.threads;
  extra = cfg.conns % cfg.threads;
  first = 0;
  for (i = 0; i < cfg.threads; i++) {
    int n = per + (i < extra ? 1 : 0);
    worker_init(&workers[i], i, first, n);
    first += n;
  }
  atomic_store(&g_ctl, ST_CONNECT);
  for (i = 0; i < cfg.threads; i++)
    pthread_create(&workers[i].th, NULL, worker_main, &workers[i]);

  if (cfg.mode == MODE_HANDSHAKE) {
    bad = run_handshakes();
  } else {
    open = wait_open(&open_secs);
    print_common(stdout, "connect");
    printf(",\"open\":%llu,\"failed\":%llu,\"seconds\":%.3f}\n",
           (unsigned long long)open, (unsigned long long)SUM(a_failed),
           open_secs);
    fflush(stdout);
    /* A profiler can zero its counts here, after the handshakes. */
    sleep_s(cfg.pause);
    if (open < (uint64_t)cfg.conns) {
      note("only %llu of %d connections opened",
           (unsigned long long)open, cfg.conns);
      bad = 1;
    }
    if (open > 0) {
      if (cfg.mode == MODE_ECHO || cfg.mode == MODE_RATE)
        bad |= run_phases(open);
      else if (cfg.mode == MODE_IDLE)
        bad |= run_idle(open, rss0);
      else
        bad |= run_broadcast(open);
    }
  }
  if (out_of_time()) {
    note("--max-time %.0f s reached", cfg.max_time);
    bad = 1;
  }

  set_ctl(0, ST_STOP);
  for (i = 0; i < cfg.threads; i++) {
    /* The wake-up may race with a worker that is still starting. */
    while (!atomic_load(&workers[i].a_done)) {
      uv_async_send(&workers[i].wake);
      sleep_s(0.01);
      if (elapsed() > cfg.max_time + 15) {
        note("worker %d does not stop; exiting", i);
        _exit(1);
      }
    }
    pthread_join(workers[i].th, NULL);
  }
  return bad;
}

/* Soak: connections churning against a uvws server (hard_server, in its
 * own process) for a fixed time, with the server's memory sampled.
 *
 * 500 uvws clients at a time (UVWS_SOAK_CONNS) each connect, exchange 3
 * echoed messages of 0.1-16 KiB, close with 1000 and start over, for
 * UVWS_SOAK_SECONDS (default 30; the documented long run is 600). The
 * server's resident memory is read from /proc every half second; when the
 * time is up no new connection starts, the ones in flight finish, and the
 * server stops.
 *
 * Checked: every connection opened, echoed and closed cleanly; the server
 * counted as many on_open as on_close and no error; and its memory is flat
 * once warm: the highest sample of the last third of the run is within
 * max(4 MiB, 10%) of the highest of the middle third. The server runs
 * with AddressSanitizer's quarantine reduced to 4 MiB, so that freed
 * memory it keeps does not look like growth; its leak check runs at exit. */
#include "hard_util.h"

#define KiB ((size_t)1024)
#define MSGS 3
#define MAX_SAMPLES 4096

static lb_loop_t L;
static hard_child_t child;
static uvws_client_t *client;
static int nconns;
static double seconds;
static int stopping;
static long started, opened, finished, clean, failed, echoes;
static long samples[MAX_SAMPLES], csamples[MAX_SAMPLES];
static int nsamples;
static uv_timer_t sampler;
static char *payload;

typedef struct {
  int got;
  int slot;
} worker_t;

static worker_t *workers;

static void start_one(worker_t *w);

static size_t msg_len(long conn, int i) {
  return 100 + (size_t)((conn * 7919 + i * 104729) % (16 * KiB - 100));
}

static void w_open(uvws_conn_t *conn) {
  worker_t *w = uvws_conn_get_data(conn);
  int i;
  opened++;
  w->got = 0;
  for (i = 0; i < MSGS; i++)
    CHECK_ERR(uvws_conn_send_binary(conn, payload, msg_len(opened, i)), 0);
}

static void w_message(uvws_conn_t *conn, uvws_msg_type_t type,
                      const char *data, size_t len) {
  worker_t *w = uvws_conn_get_data(conn);
  CHECK_EQ(type, UVWS_BINARY);
  CHECK(len >= 100 && len <= 16 * KiB && memcmp(data, payload, len) == 0);
  echoes++;
  if (++w->got == MSGS)
    CHECK_ERR(uvws_conn_close(conn, 1000, NULL, 0), 0);
}

static void w_error(uvws_conn_t *conn, int err) {
  (void)conn;
  fprintf(stderr, "    client error %s\n", uvws_err_name(err));
}

static void w_close(uvws_conn_t *conn, int code, const char *reason,
                    size_t len, int was_clean) {
  worker_t *w = uvws_conn_get_data(conn);
  (void)reason;
  (void)len;
  finished++;
  if (code == 1000 && was_clean && w->got == MSGS)
    clean++;
  else
    failed++;
  if (!stopping)
    start_one(w);
}

static void start_one(worker_t *w) {
  uvws_callbacks_t cbs = {w_open, w_message, w_error, w_close};
  uvws_conn_t *conn;
  char url[64];
  started++;
  CHECK_ERR(uvws_connect(client, lb_url(url, sizeof(url), child.port, "/"),
                         NULL, &cbs, w, &conn),
            0);
}

static void sample(uv_timer_t *t) {
  (void)t;
  if (nsamples < MAX_SAMPLES) {
    csamples[nsamples] = hard_rss_kb(0);
    samples[nsamples++] = hard_rss_kb(child.pid);
  }
  if (lb_elapsed_ms(&L) >= seconds * 1000) {
    stopping = 1;
    uv_timer_stop(t);
  }
}

static long max_of(const long *a, int from, int to) {
  long m = 0;
  for (int i = from; i < to; i++)
    if (a[i] > m)
      m = a[i];
  return m;
}

int main(void) {
  static const char *const args[] = {NULL};
  static const char *const env[] = {
      "ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=4", NULL};
  long mid, last, cmid, clast, margin;
  int i, third;

  lb_setup();
  seconds = (double)hard_env_long("UVWS_SOAK_SECONDS", 30);
  nconns = (int)hard_env_long("UVWS_SOAK_CONNS", 500);
  hard_raise_nofile(nconns + 256);
  payload = malloc(16 * KiB);
  CHECK(payload != NULL);
  lb_fill(payload, 16 * KiB, 0, 3);
  workers = calloc((size_t)nconns, sizeof(*workers));
  CHECK(workers != NULL);

  lb_loop_init(&L, "soak", (uint64_t)(seconds * 1000) + 60000);
  hard_child_start(&child, &L.loop, args, env);
  CHECK_EQ(uvws_client_create(&L.loop, NULL, &client), 0);
  CHECK_EQ(uv_timer_init(&L.loop, &sampler), 0);
  CHECK_EQ(uv_timer_start(&sampler, sample, 0, 500), 0);
  for (i = 0; i < nconns; i++) {
    workers[i].slot = i;
    start_one(&workers[i]);
  }
  while (!stopping || finished < started)
    uv_run(&L.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&sampler, NULL);
  uvws_client_close(client, NULL);
  CHECK_EQ(hard_child_stop(&child), 0);
  lb_loop_run(&L);

  third = nsamples / 3;
  mid = max_of(samples, third, 2 * third);
  last = max_of(samples, 2 * third, nsamples);
  cmid = max_of(csamples, third, 2 * third);
  clast = max_of(csamples, 2 * third, nsamples);
  margin = mid / 10 > 4096 ? mid / 10 : 4096;
  fprintf(stderr,
          "    %.0f s: %ld connections (%d at a time, %.0f per second), "
          "%ld echoes; %ld clean, %ld not\n",
          seconds, finished, nconns, (double)finished / seconds, echoes,
          clean, failed);
  fprintf(stderr,
          "    server RSS: first %ld KiB, max of middle third %ld KiB, max "
          "of last third %ld KiB (%+ld KiB); clients' RSS %ld -> %ld KiB\n",
          samples[0], mid, last, last - mid, cmid, clast);
  fprintf(stderr, "    %s\n", child.stats);

  CHECK(nsamples >= 6);
  CHECK_EQ(failed, 0);
  CHECK_EQ(clean, started);
  CHECK_EQ(hard_stat(child.stats, "open"), started);
  CHECK_EQ(hard_stat(child.stats, "close"), started);
  CHECK_EQ(hard_stat(child.stats, "error"), 0);
  CHECK(last <= mid + margin);
  free(workers);
  free(payload);
  printf("test_soak: %ld connections in %.0f s, server memory flat (%+ld "
         "KiB)\n",
         finished, seconds, last - mid);
  return 0;
}

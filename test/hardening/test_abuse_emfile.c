/* Running out of file descriptors (EMFILE) in a uvws server: hard_server in
 * its own process with RLIMIT_NOFILE 64.
 *
 *  1. Connections are opened one at a time, each upgraded, until one is
 *     not: the server holds as many as its descriptors allow.
 *  2. Past that, new connections keep coming (one every 10 ms for 2 s, and
 *     a burst of 50). libuv 1.44 answers EMFILE with its reserve
 *     descriptor: it closes the reserve, accepts every pending connection
 *     and closes it at once, then opens the reserve again; uvws's
 *     connection callback ignores the error. The server must neither crash
 *     nor spin: its CPU time (utime + stime from /proc) over those 2 s stays
 *     small, and the refused clients see their connection closed at once.
 *  3. Ten held connections close; new ones are upgraded again.
 *  4. The server exits cleanly, every upgraded connection closed once. */
#include "hard_util.h"

#define SERVER_NOFILE 64
#define MAX_PEERS 256

static lb_loop_t L;
static hard_child_t child;
static hard_peer_t peers[MAX_PEERS];
static int npeers;

/* Opens one connection and runs the loop until it is upgraded or ends. */
static hard_peer_t *open_one(void) {
  hard_peer_t *p;
  CHECK(npeers < MAX_PEERS);
  p = &peers[npeers++];
  memset(p, 0, sizeof(*p));
  p->answer_close = 1;
  hard_peer_start(p, &L.loop, child.port);
  while (p->status == 0 && !p->eof)
    uv_run(&L.loop, UV_RUN_ONCE);
  return p;
}

static int held(void) {
  int i, n = 0;
  for (i = 0; i < npeers; i++)
    n += peers[i].status == 101 && !peers[i].eof;
  return n;
}

/* Refused connections arriving while the server is out of descriptors. */
static uv_timer_t knock_timer;
static int knocks, knocks_done;
static double knock_sum_ms;
static lb_raw_t knockers[300];
static double knock_start[300];

static void knock_end(lb_raw_t *r) {
  int i = (int)(r - knockers);
  knock_sum_ms += lb_elapsed_ms(&L) - knock_start[i];
  knocks_done++;
}

static void knock_connected(lb_raw_t *r) {
  (void)r; /* the kernel completed the handshake; the server closes it */
}

static void knock(void) {
  lb_raw_t *r;
  CHECK(knocks < 300);
  r = &knockers[knocks];
  lb_raw_init(r, &L.loop);
  r->on_eof = knock_end;
  knock_start[knocks] = lb_elapsed_ms(&L);
  knocks++;
  lb_raw_connect(r, "127.0.0.1", child.port, knock_connected);
}

static void knock_tick(uv_timer_t *t) {
  (void)t;
  knock();
}

int main(void) {
  char nofile[16];
  const char *args[] = {"--nofile", nofile, NULL};
  long cpu0, cpu1;
  int i, first_held, reopened = 0;
  hard_peer_t *p;

  lb_setup();
  snprintf(nofile, sizeof(nofile), "%d", SERVER_NOFILE);
  lb_loop_init(&L, "EMFILE", 60000);
  hard_child_start(&child, &L.loop, args, NULL);

  /* 1. Fill the server's descriptor table. */
  do
    p = open_one();
  while (p->status == 101);
  CHECK(p->eof && p->status == 0);
  first_held = held();
  fprintf(stderr, "    the server upgraded %d connections with RLIMIT_NOFILE "
          "%d; connection %d was closed unanswered\n",
          first_held, SERVER_NOFILE, npeers);
  CHECK(first_held > SERVER_NOFILE / 2 && first_held < SERVER_NOFILE);

  /* 2. Keep knocking for 2 s, then a burst; measure the server's CPU. */
  cpu0 = hard_cpu_ms(child.pid);
  CHECK_EQ(uv_timer_init(&L.loop, &knock_timer), 0);
  CHECK_EQ(uv_timer_start(&knock_timer, knock_tick, 10, 10), 0);
  {
    double until = lb_elapsed_ms(&L) + 2000;
    while (lb_elapsed_ms(&L) < until)
      uv_run(&L.loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&knock_timer, NULL);
  for (i = 0; i < 50; i++)
    knock();
  while (knocks_done < knocks)
    uv_run(&L.loop, UV_RUN_ONCE);
  cpu1 = hard_cpu_ms(child.pid);
  fprintf(stderr, "    %d connections refused while out of descriptors, each "
          "closed %.1f ms after connect on average; server CPU %ld ms in "
          "those %.1f s\n",
          knocks, knock_sum_ms / knocks, cpu1 - cpu0, 2.0);
  CHECK(cpu1 >= 0 && cpu1 - cpu0 < 500);
  CHECK_EQ(held(), first_held); /* the held ones are untouched */

  /* 3. Free ten descriptors; upgrades work again. */
  for (i = 0; i < npeers && reopened < 10; i++) {
    if (peers[i].status == 101 && !peers[i].eof) {
      lb_raw_send_close(&peers[i].raw, 1000, NULL);
      reopened++;
    }
  }
  while (held() > first_held - 10)
    uv_run(&L.loop, UV_RUN_ONCE);
  for (i = 0; i < 10; i++) {
    p = open_one();
    CHECK_EQ(p->status, 101);
  }
  fprintf(stderr, "    after 10 closed, 10 new connections upgraded\n");

  /* 4. Close everything; the server exits cleanly. */
  for (i = 0; i < npeers; i++)
    if (peers[i].status == 101 && !peers[i].eof && peers[i].close_code == -1)
      lb_raw_send_close(&peers[i].raw, 1000, NULL);
  while (held() > 0)
    uv_run(&L.loop, UV_RUN_ONCE);
  CHECK_EQ(hard_child_stop(&child), 0);
  CHECK_EQ(hard_stat(child.stats, "open"), first_held + 10);
  CHECK_EQ(hard_stat(child.stats, "close"), first_held + 10);
  lb_loop_run(&L);
  printf("test_abuse_emfile: %d held at the limit, %d refused without "
         "spinning, service back after\n",
         first_held, knocks);
  return 0;
}

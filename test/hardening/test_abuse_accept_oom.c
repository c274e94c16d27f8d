/* A server that cannot allocate a connection must go on accepting.
 *
 * hard_server (without sanitizers) runs with an LD_PRELOAD shim
 * (plain/failmalloc.c) that makes the second allocation of a connection
 * object fail. Four clients connect one after the other: the first is
 * upgraded, the second cannot be served and should be closed at once, and
 * the third and fourth must be upgraded again.
 *
 * libuv watches a listener again only once the connection it announced
 * was taken with uv_accept(), so a connection that cannot be served must
 * still be accepted (and closed) for the server to go on. */
#include "hard_util.h"

static lb_loop_t L;
static hard_child_t child;
static uv_timer_t deadline;
static int timed_out;

static void expire(uv_timer_t *t) {
  (void)t;
  timed_out = 1;
}

/* Connects and waits up to 2 s for an answer or the end. Returns the
 * status (101...), 0 when the server closed the connection unanswered, or
 * -1 when nothing came. */
static int try_upgrade(hard_peer_t *p) {
  memset(p, 0, sizeof(*p));
  p->answer_close = 1;
  hard_peer_start(p, &L.loop, child.port);
  timed_out = 0;
  CHECK_EQ(uv_timer_start(&deadline, expire, 2000, 0), 0);
  while (p->status == 0 && !p->eof && !timed_out)
    uv_run(&L.loop, UV_RUN_ONCE);
  uv_timer_stop(&deadline);
  if (p->status)
    return p->status;
  return p->eof ? 0 : -1;
}

int main(void) {
  const char *shim = getenv("UVWS_HARD_FAILMALLOC");
  char preload[1024];
  const char *env[] = {preload, "FAILMALLOC_NTH=2", NULL};
  static const char *const args[] = {NULL};
  hard_peer_t peers[4];
  int got[4], i, ok;

  lb_setup();
  if (shim == NULL) {
    printf("test_abuse_accept_oom: skipped: UVWS_HARD_FAILMALLOC not set\n");
    return 0;
  }
  snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim);
  lb_loop_init(&L, "a failed connection allocation", 30000);
  CHECK_EQ(uv_timer_init(&L.loop, &deadline), 0);
  hard_child_start(&child, &L.loop, args, env);
  for (i = 0; i < 4; i++) {
    got[i] = try_upgrade(&peers[i]);
    fprintf(stderr, "    client %d: %s%d\n", i + 1,
            got[i] == 0 ? "closed unanswered " : got[i] < 0 ? "no answer " : "",
            got[i]);
  }
  ok = got[0] == 101 && got[1] <= 0 && got[2] == 101 && got[3] == 101;
  for (i = 0; i < 4; i++)
    if (got[i] == 101)
      lb_raw_send_close(&peers[i].raw, 1000, NULL);
  for (i = 0; i < 4; i++)
    if (!peers[i].raw.closed && !uv_is_closing((uv_handle_t *)&peers[i].raw.tcp)) {
      if (got[i] == 101) {
        while (!peers[i].eof)
          uv_run(&L.loop, UV_RUN_ONCE);
      } else {
        lb_raw_close(&peers[i].raw);
      }
    }
  hard_child_stop(&child);
  uv_close((uv_handle_t *)&deadline, NULL);
  lb_loop_run(&L);
  if (!ok)
    fprintf(stderr, "    after one failed allocation of a connection the "
                    "server accepts nothing more\n");
  CHECK(ok);
  printf("test_abuse_accept_oom: %s\n",
         ok ? "the server went on accepting" : "known bug, see above");
  return 0;
}

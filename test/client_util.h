/* Helpers of the client feature tests (test_client_handshake.c,
 * test_keepalive.c, test_streaming.c, client/test_proxy.c), on top of
 * loopback_util.h: raw TCP servers that answer the upgrade by hand and read
 * the client's masked frames, header lookups in a request head, and the
 * process's memory use. */
#ifndef UVWS_CLIENT_UTIL_H
#define UVWS_CLIENT_UTIL_H

#include <ctype.h>

#include "handshake.h"
#include "loopback_util.h"

/* The value of the first header called name in the head head[0..len), into
 * out (NUL-terminated, surrounding blanks removed). 1 if found. */
static inline int cu_head_value(const char *head, size_t len, const char *name,
                                char *out, size_t cap) {
  size_t n = strlen(name), i;
  for (i = 0; i + n + 1 < len; i++) {
    if ((i > 0 && head[i - 1] == '\n') && strncasecmp(head + i, name, n) == 0 &&
        head[i + n] == ':') {
      const char *v = head + i + n + 1, *end;
      size_t vlen;
      while (*v == ' ' || *v == '\t')
        v++;
      end = v;
      while (end < head + len && *end != '\r' && *end != '\n')
        end++;
      while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
      vlen = (size_t)(end - v);
      CHECK(vlen < cap);
      memcpy(out, v, vlen);
      out[vlen] = '\0';
      return 1;
    }
  }
  return 0;
}

/* How many header lines of head[0..len) are called name. */
static inline int cu_head_count(const char *head, size_t len,
                                const char *name) {
  size_t n = strlen(name), i;
  int count = 0;
  for (i = 1; i + n < len; i++)
    if (head[i - 1] == '\n' && strncasecmp(head + i, name, n) == 0 &&
        head[i + n] == ':')
      count++;
  return count;
}

/* Once a whole request head is in r->in: copies it into head (at most cap
 * bytes with its NUL), answers "101 Switching Protocols" with the right
 * Sec-WebSocket-Accept and the extra header lines (each ending in CRLF,
 * may be NULL), and consumes the head. Returns its length, 0 while it is
 * incomplete. */
static inline size_t cu_raw_upgrade(lb_raw_t *r, char *head, size_t cap,
                                    const char *extra) {
  size_t n = lb_head_len(r->in, r->len);
  char key[64], accept[29], resp[2048];
  if (n == 0)
    return 0;
  CHECK(n < cap);
  memcpy(head, r->in, n);
  head[n] = '\0';
  CHECK(cu_head_value(head, n, "Sec-WebSocket-Key", key, sizeof(key)));
  uvws__hs_accept(key, strlen(key), accept);
  snprintf(resp, sizeof(resp),
           "HTTP/1.1 101 Switching Protocols\r\n"
           "Upgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           "Sec-WebSocket-Accept: %s\r\n"
           "%s\r\n",
           accept, extra ? extra : "");
  lb_raw_write_str(r, resp);
  lb_raw_consume(r, n);
  return n;
}

/* Takes the next whole frame the client sent (masked, checked) out of
 * r->in: its header into f and its unmasked payload into payload (cap
 * bytes; larger payloads are dropped after being counted in f->len).
 * Returns 1 if a frame was taken. */
static inline int cu_raw_take_frame(lb_raw_t *r, lb_frame_t *f, char *payload,
                                    size_t cap) {
  size_t h = lb_frame_parse_header((const uint8_t *)r->in, r->len, f), i;
  const uint8_t *mask;
  if (h == 0 || r->len - h < f->len)
    return 0;
  CHECK(f->masked);
  mask = (const uint8_t *)r->in + h - 4;
  for (i = 0; i < f->len && i < cap; i++)
    payload[i] = (char)(r->in[h + i] ^ mask[i % 4]);
  lb_raw_consume(r, h + (size_t)f->len);
  return 1;
}

/* Writes an unmasked frame, as a server does. */
static inline void cu_raw_send_frame(lb_raw_t *r, unsigned opcode,
                                     const void *payload, size_t len) {
  size_t n;
  uint8_t *f = lb_frame(1, opcode, NULL, payload, len, &n);
  lb_raw_write(r, f, n);
  free(f);
}

/* ----------------------------------------------------------------------- */
/* Memory                                                                  */

#if defined(__SANITIZE_ADDRESS__)
#define CU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CU_ASAN 1
#endif
#endif
#ifndef CU_ASAN
#define CU_ASAN 0
#endif

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1. */
static inline long cu_status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t n = strlen(field);
  long v = -1;
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, field, n) == 0 && line[n] == ':') {
      v = strtol(line + n + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

/* Resets the peak RSS (VmHWM) to the current RSS (Linux 4.0 and later).
 * Returns 0, or -1 where that is not possible. */
static inline int cu_reset_peak_rss(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  int ok;
  if (f == NULL)
    return -1;
  ok = fputs("5", f) >= 0;
  return fclose(f) == 0 && ok ? 0 : -1;
}

#endif

/* The opening handshake (RFC 6455 section 4).
 *
 * The HTTP/1.x head parser scans the buffer from its start on every call,
 * like picohttpparser: it keeps no state between calls, so a caller that
 * gets 0 (incomplete) simply calls again with the same bytes and more after
 * them. Every decision at a byte depends only on that byte and the ones
 * before it, so a prefix of a valid head always gives 0 and a prefix of an
 * invalid one gives 0 or the same error. Nothing is copied: the head's
 * pointers point into the caller's buffer. */
#include "handshake.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

#include "ascii.h"
#include "uvws_errno.h"

/* Internal result of the scanning helpers: more bytes are needed. Errors
 * are the negative UVWS_E* codes, 0 is success. */
#define HS__MORE 1

/* RFC 6455 1.3 */
static const char hs__guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ------------------------------------------------------------------------ */
/* Character classes                                                         */

/* RFC 7230 3.2.6: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int hs__is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z'))
    return 1;
  switch (c) {
  case '!':
  case '#':
  case '$':
  case '%':
  case '&':
  case '\'':
  case '*':
  case '+':
  case '-':
  case '.':
  case '^':
  case '_':
  case '`':
  case '|':
  case '~':
    return 1;
  default:
    return 0;
  }
}

/* RFC 7230 3.2: field-value and reason-phrase bytes are HTAB, SP, VCHAR and
 * obs-text; every other control byte (NUL, CR alone, DEL...) is refused. */
static int hs__is_field_char(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int hs__is_ows(unsigned char c) {
  return c == ' ' || c == '\t';
}

/* Header names and the tokens in Connection and Upgrade are
 * case-insensitive (RFC 7230 3.2, 6.1, 6.7): uvws__ascii_ieq(). */

/* ------------------------------------------------------------------------ */
/* Head parser                                                               */

/* Consumes a line ending at *pos: CRLF, or a bare LF, which RFC 7230 3.5
 * allows a recipient to accept. A CR followed by anything else is refused:
 * treating it as a line break is a request smuggling vector. */
static int hs__parse_eol(const char *buf, size_t len, size_t *pos) {
  size_t p = *pos;
  if (p == len)
    return HS__MORE;
  if (buf[p] == '\n') {
    *pos = p + 1;
    return 0;
  }
  if (buf[p] != '\r')
    return UVWS_EHANDSHAKE;
  if (p + 1 == len)
    return HS__MORE;
  if (buf[p + 1] != '\n')
    return UVWS_EHANDSHAKE;
  *pos = p + 2;
  return 0;
}

/* RFC 7230 2.6: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
 * Only major version 1 is spoken here, so the prefix is matched whole. */
static int hs__parse_version(const char *buf, size_t len, size_t *pos,
                             int *minor) {
  static const char prefix[] = "HTTP/1.";
  size_t p = *pos, i;
  for (i = 0; i < sizeof(prefix) - 1; i++, p++) {
    if (p == len)
      return HS__MORE;
    if (buf[p] != prefix[i])
      return UVWS_EHANDSHAKE;
  }
  if (p == len)
    return HS__MORE;
  if (buf[p] < '0' || buf[p] > '9')
    return UVWS_EHANDSHAKE;
  *minor = buf[p] - '0';
  *pos = p + 1;
  return 0;
}

/* Header fields up to and including the empty line that ends the head. */
static int hs__parse_headers(const char *buf, size_t len, size_t *pos,
                             uvws__http_head_t *head) {
  size_t p = *pos;
  for (;;) {
    uvws__header_t *h;
    size_t name, value, end;
    int r;
    unsigned char c;

    if (p == len)
      return HS__MORE;
    c = (unsigned char)buf[p];
    if (c == '\r' || c == '\n') {
      r = hs__parse_eol(buf, len, &p);
      if (r != 0)
        return r;
      *pos = p;
      return 0;
    }
    /* RFC 7230 3.2.4: obs-fold must be refused (or replaced) by a server and
     * replaced by a user agent; refusing it is the only choice that cannot
     * be misread. RFC 7230 3: whitespace between the start line and the
     * first field must be refused too. Both are a line starting with SP or
     * HTAB. */
    if (hs__is_ows(c))
      return UVWS_EHANDSHAKE;
    if (head->num_headers == UVWS__MAX_HEADERS)
      return UVWS_EHDRTOOBIG;

    /* RFC 7230 3.2.4: no whitespace between field-name and colon. */
    name = p;
    while (p < len && hs__is_tchar((unsigned char)buf[p]))
      p++;
    if (p == len)
      return HS__MORE;
    if (buf[p] != ':' || p == name)
      return UVWS_EHANDSHAKE;
    h = &head->headers[head->num_headers];
    h->name = buf + name;
    h->name_len = p - name;
    p++;

    /* RFC 7230 3.2: OWS field-value OWS. */
    while (p < len && hs__is_ows((unsigned char)buf[p]))
      p++;
    value = p;
    while (p < len && hs__is_field_char((unsigned char)buf[p]))
      p++;
    if (p == len)
      return HS__MORE;
    if (buf[p] != '\r' && buf[p] != '\n')
      return UVWS_EHANDSHAKE;
    end = p;
    while (end > value && hs__is_ows((unsigned char)buf[end - 1]))
      end--;
    h->value = buf + value;
    h->value_len = end - value;

    r = hs__parse_eol(buf, len, &p);
    if (r != 0)
      return r;
    head->num_headers++;
  }
}

static void hs__head_reset(uvws__http_head_t *head) {
  head->method = NULL;
  head->method_len = 0;
  head->target = NULL;
  head->target_len = 0;
  head->status = 0;
  head->reason = NULL;
  head->reason_len = 0;
  head->minor_version = -1;
  head->num_headers = 0;
}

static long hs__result(int r, size_t pos) {
  if (r == HS__MORE)
    return 0;
  if (r < 0)
    return r;
  return (long)pos;
}

static int hs__parse_request_line(const char *buf, size_t len, size_t *pos,
                                  uvws__http_head_t *head) {
  size_t p = *pos, start;
  int r;

  /* RFC 7230 3.1.1: request-line = method SP request-target SP
   * HTTP-version CRLF, with exactly one SP between the parts. An empty line
   * before the request line (RFC 7230 3.5) is not skipped: an upgrade
   * request is the first thing on its connection, so nothing precedes it. */
  start = p;
  while (p < len && hs__is_tchar((unsigned char)buf[p]))
    p++;
  if (p == len)
    return HS__MORE;
  if (buf[p] != ' ' || p == start)
    return UVWS_EHANDSHAKE;
  head->method = buf + start;
  head->method_len = p - start;
  p++;

  /* RFC 7230 5.3: the request target holds no whitespace; only visible
   * ASCII is accepted. */
  start = p;
  while (p < len && (unsigned char)buf[p] > 0x20 &&
         (unsigned char)buf[p] < 0x7f)
    p++;
  if (p == len)
    return HS__MORE;
  if (buf[p] != ' ' || p == start)
    return UVWS_EHANDSHAKE;
  head->target = buf + start;
  head->target_len = p - start;
  p++;

  r = hs__parse_version(buf, len, &p, &head->minor_version);
  if (r != 0)
    return r;
  r = hs__parse_eol(buf, len, &p);
  if (r != 0)
    return r;
  *pos = p;
  return 0;
}

long uvws__http_parse_request(const char *buf, size_t len,
                              uvws__http_head_t *head) {
  size_t pos = 0;
  int r;

  hs__head_reset(head);
  r = hs__parse_request_line(buf, len, &pos, head);
  if (r == 0)
    r = hs__parse_headers(buf, len, &pos, head);
  return hs__result(r, pos);
}

static int hs__parse_status_line(const char *buf, size_t len, size_t *pos,
                                 uvws__http_head_t *head) {
  size_t p = *pos, start, i;
  int r;

  /* RFC 7230 3.1.2: status-line = HTTP-version SP status-code SP
   * reason-phrase CRLF. The reason phrase may be empty, and many servers
   * then leave out the SP before it too; both are accepted. */
  r = hs__parse_version(buf, len, &p, &head->minor_version);
  if (r != 0)
    return r;
  if (p == len)
    return HS__MORE;
  if (buf[p] != ' ')
    return UVWS_EHANDSHAKE;
  p++;

  head->status = 0;
  for (i = 0; i < 3; i++, p++) {
    if (p == len)
      return HS__MORE;
    if (buf[p] < '0' || buf[p] > '9')
      return UVWS_EHANDSHAKE;
    head->status = head->status * 10 + (buf[p] - '0');
  }

  if (p == len)
    return HS__MORE;
  if (buf[p] == ' ') {
    p++;
    start = p;
    while (p < len && hs__is_field_char((unsigned char)buf[p]))
      p++;
    if (p == len)
      return HS__MORE;
    head->reason = buf + start;
    head->reason_len = p - start;
  } else {
    head->reason = buf + p;
    head->reason_len = 0;
  }

  r = hs__parse_eol(buf, len, &p);
  if (r != 0)
    return r;
  *pos = p;
  return 0;
}

long uvws__http_parse_response(const char *buf, size_t len,
                               uvws__http_head_t *head) {
  size_t pos = 0;
  int r;

  hs__head_reset(head);
  r = hs__parse_status_line(buf, len, &pos, head);
  if (r == 0)
    r = hs__parse_headers(buf, len, &pos, head);
  return hs__result(r, pos);
}

/* ------------------------------------------------------------------------ */
/* Header helpers                                                            */

const uvws__header_t *uvws__http_find(const uvws__http_head_t *head,
                                      const char *name) {
  size_t i, name_len = strlen(name);
  for (i = 0; i < head->num_headers; i++) {
    const uvws__header_t *h = &head->headers[i];
    if (uvws__ascii_ieq(h->name, h->name_len, name, name_len))
      return h;
  }
  return NULL;
}

/* How many headers are named name. */
static size_t hs__count(const uvws__http_head_t *head, const char *name) {
  size_t i, n = 0, name_len = strlen(name);
  for (i = 0; i < head->num_headers; i++)
    if (uvws__ascii_ieq(head->headers[i].name, head->headers[i].name_len, name,
                        name_len))
      n++;
  return n;
}

/* Walks a comma-separated list (RFC 7230 7): returns the next element of
 * value[*pos..len) with the whitespace around it trimmed, or NULL at the end.
 * Empty elements ("a,,b", "a, ,b") are skipped, as RFC 7230 7 requires of a
 * recipient. */
static const char *hs__list_next(const char *value, size_t len, size_t *pos,
                                 size_t *elem_len) {
  size_t p = *pos, start, end;
  while (p < len && (value[p] == ',' || hs__is_ows((unsigned char)value[p])))
    p++;
  if (p == len) {
    *pos = len;
    return NULL;
  }
  start = p;
  while (p < len && value[p] != ',')
    p++;
  end = p;
  while (end > start && hs__is_ows((unsigned char)value[end - 1]))
    end--;
  *pos = p;
  *elem_len = end - start;
  return value + start;
}

int uvws__token_list_has(const char *value, size_t len, const char *token) {
  size_t pos = 0, elem_len, token_len = strlen(token);
  const char *elem;
  while ((elem = hs__list_next(value, len, &pos, &elem_len)) != NULL)
    if (uvws__ascii_ieq(elem, elem_len, token, token_len))
      return 1;
  return 0;
}

/* RFC 7230 3.2.2: a list-valued field may be split over several header
 * lines, so every line named name is searched. */
static int hs__headers_have_token(const uvws__http_head_t *head,
                                  const char *name, const char *token) {
  size_t i, name_len = strlen(name);
  for (i = 0; i < head->num_headers; i++) {
    const uvws__header_t *h = &head->headers[i];
    if (uvws__ascii_ieq(h->name, h->name_len, name, name_len) &&
        uvws__token_list_has(h->value, h->value_len, token))
      return 1;
  }
  return 0;
}

int uvws__is_token(const char *s, size_t len) {
  size_t i;
  if (len == 0)
    return 0;
  for (i = 0; i < len; i++)
    if (!hs__is_tchar((unsigned char)s[i]))
      return 0;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Server side                                                               */

/* RFC 6455 4.1: the key is a base64-encoded 16-byte nonce, so it is exactly
 * 24 characters, the last two being "==". */
static int hs__key_ok(const char *key, size_t key_len) {
  unsigned char raw[32];
  size_t i, olen = 0;
  if (key_len != 24)
    return 0;
  /* mbedTLS tolerates spaces and line breaks inside base64; a key must not
   * hold them. */
  for (i = 0; i < key_len; i++) {
    unsigned char c = (unsigned char)key[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
      return 0;
  }
  if (mbedtls_base64_decode(raw, sizeof(raw), &olen, (const unsigned char *)key,
                            key_len) != 0)
    return 0;
  return olen == 16;
}

int uvws__hs_check_request(const uvws__http_head_t *head,
                           uvws__hs_request_t *out) {
  const uvws__header_t *host, *key, *version, *origin;

  /* RFC 6455 4.1 item 2 and 4.2.1 item 1: "GET" (case-sensitive, RFC 7231
   * 4.1), HTTP/1.1 or higher. */
  if (head->method_len != 3 || memcmp(head->method, "GET", 3) != 0)
    return 405;
  if (head->minor_version < 1)
    return 400;

  /* RFC 7230 5.4: a request with no Host or more than one is answered 400. */
  if (hs__count(head, "Host") != 1)
    return 400;
  host = uvws__http_find(head, "Host");

  /* RFC 6455 4.2.1 items 3 and 4. */
  if (!hs__headers_have_token(head, "Upgrade", "websocket"))
    return 400;
  if (!hs__headers_have_token(head, "Connection", "Upgrade"))
    return 400;

  /* RFC 6455 4.2.2: a version the server does not speak is answered 426
   * with the versions it does speak. The version is checked before the key
   * so that clients of older drafts, which sent other key headers, learn
   * which version to retry with. A repeated version header is malformed,
   * not a version to negotiate. */
  switch (hs__count(head, "Sec-WebSocket-Version")) {
  case 0:
    return 426;
  case 1:
    break;
  default:
    return 400;
  }
  version = uvws__http_find(head, "Sec-WebSocket-Version");
  if (version->value_len != 2 || memcmp(version->value, "13", 2) != 0)
    return 426;

  /* RFC 6455 4.2.1 item 5. */
  if (hs__count(head, "Sec-WebSocket-Key") != 1)
    return 400;
  key = uvws__http_find(head, "Sec-WebSocket-Key");
  if (!hs__key_ok(key->value, key->value_len))
    return 400;

  origin = uvws__http_find(head, "Origin");
  out->key = key->value;
  out->key_len = key->value_len;
  out->host = host->value;
  out->host_len = host->value_len;
  out->origin = origin != NULL ? origin->value : NULL;
  out->origin_len = origin != NULL ? origin->value_len : 0;
  return 0;
}

int uvws__hs_offered_protocols(const uvws_allocator_t *al,
                               const uvws__http_head_t *head, uvws__buf_t *list,
                               size_t *count) {
  static const char name[] = "Sec-WebSocket-Protocol";
  size_t i, n = 0, start_len = list->len;
  int r;

  *count = 0;
  for (i = 0; i < head->num_headers; i++) {
    const uvws__header_t *h = &head->headers[i];
    const char *elem;
    size_t pos = 0, elem_len;
    if (!uvws__ascii_ieq(h->name, h->name_len, name, sizeof(name) - 1))
      continue;
    /* RFC 6455 4.1: Sec-WebSocket-Protocol = 1#token, possibly over
     * several lines (RFC 6455 11.3.4). */
    while ((elem = hs__list_next(h->value, h->value_len, &pos, &elem_len)) !=
           NULL) {
      if (!uvws__is_token(elem, elem_len)) {
        r = UVWS_EHANDSHAKE;
        goto fail;
      }
      r = uvws__buf_reserve(al, list, elem_len + 1);
      if (r != 0)
        goto fail;
      memcpy(list->base + list->len, elem, elem_len);
      list->base[list->len + elem_len] = '\0';
      list->len += elem_len + 1;
      n++;
    }
  }
  *count = n;
  return 0;

fail:
  /* Leave the list as it was, so a failure never hands back half a list. */
  list->len = start_len;
  return r;
}

void uvws__hs_accept(const char *key, size_t key_len, char out[29]) {
  mbedtls_sha1_context sha;
  unsigned char digest[20];
  size_t olen = 0;

  /* RFC 6455 4.2.2 item 5.4: base64(SHA-1(key + GUID)). Software SHA-1
   * cannot fail; the digest is zeroed so that an alternative implementation
   * that does fail yields a value no peer will match, never stack garbage. */
  memset(digest, 0, sizeof(digest));
  mbedtls_sha1_init(&sha);
  if (mbedtls_sha1_starts_ret(&sha) != 0 ||
      mbedtls_sha1_update_ret(&sha, (const unsigned char *)key, key_len) != 0 ||
      mbedtls_sha1_update_ret(&sha, (const unsigned char *)hs__guid,
                              sizeof(hs__guid) - 1) != 0 ||
      mbedtls_sha1_finish_ret(&sha, digest) != 0)
    memset(digest, 0, sizeof(digest));
  mbedtls_sha1_free(&sha);

  /* 20 bytes encode to exactly 28 characters; the 29th is the NUL. */
  if (mbedtls_base64_encode((unsigned char *)out, 29, &olen, digest,
                            sizeof(digest)) != 0)
    out[0] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Building                                                                  */

/* Appends NUL-terminated strings until a NULL one. On failure the caller
 * truncates the buffer back. */
static int hs__append_all(const uvws_allocator_t *al, uvws__buf_t *out,
                          const char *const *parts) {
  int r;
  for (; *parts != NULL; parts++) {
    r = uvws__buf_append_str(al, out, *parts);
    if (r != 0)
      return r;
  }
  return 0;
}

static int hs__build_request(const uvws_allocator_t *al, uvws__buf_t *out,
                             const char *target, const char *host_header,
                             const char *key, const char *origin,
                             const char *const *protocols,
                             const char *extra_headers) {
  const char *fixed[] = {"GET ",
                         target,
                         " HTTP/1.1\r\nHost: ",
                         host_header,
                         "\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Key: ",
                         key,
                         "\r\nSec-WebSocket-Version: 13\r\n",
                         NULL};
  size_t i;
  int r;

  r = hs__append_all(al, out, fixed);
  if (r == 0 && origin != NULL) {
    const char *line[] = {"Origin: ", origin, "\r\n", NULL};
    r = hs__append_all(al, out, line);
  }
  if (r == 0 && protocols != NULL && protocols[0] != NULL) {
    r = uvws__buf_append_str(al, out, "Sec-WebSocket-Protocol: ");
    for (i = 0; r == 0 && protocols[i] != NULL; i++) {
      if (i > 0)
        r = uvws__buf_append_str(al, out, ", ");
      if (r == 0)
        r = uvws__buf_append_str(al, out, protocols[i]);
    }
    if (r == 0)
      r = uvws__buf_append_str(al, out, "\r\n");
  }
  if (r == 0 && extra_headers != NULL)
    r = uvws__buf_append_str(al, out, extra_headers);
  if (r == 0)
    r = uvws__buf_append_str(al, out, "\r\n");
  return r;
}

int uvws__hs_build_request(const uvws_allocator_t *al, uvws__buf_t *out,
                           const char *target, const char *host_header,
                           const char *key, const char *origin,
                           const char *const *protocols,
                           const char *extra_headers) {
  size_t start_len = out->len;
  int r = hs__build_request(al, out, target, host_header, key, origin,
                            protocols, extra_headers);
  if (r != 0)
    out->len = start_len;
  return r;
}

int uvws__hs_build_101(const uvws_allocator_t *al, uvws__buf_t *out,
                       const char *accept, const char *protocol,
                       const char *extensions) {
  const char *fixed[] = {"HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: ",
                         accept, "\r\n", NULL};
  size_t start_len = out->len;
  int r;

  r = hs__append_all(al, out, fixed);
  if (r == 0 && protocol != NULL) {
    const char *line[] = {"Sec-WebSocket-Protocol: ", protocol, "\r\n", NULL};
    r = hs__append_all(al, out, line);
  }
  if (r == 0 && extensions != NULL) {
    const char *line[] = {"Sec-WebSocket-Extensions: ", extensions, "\r\n",
                          NULL};
    r = hs__append_all(al, out, line);
  }
  if (r == 0)
    r = uvws__buf_append_str(al, out, "\r\n");
  if (r != 0)
    out->len = start_len;
  return r;
}

/* RFC 7231 6.1 and RFC 6585 reason phrases for the statuses a WebSocket
 * server answers with. The phrase is informational (RFC 7230 3.1.2), so an
 * unlisted status gets the name of its class. */
static const char *hs__reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 204:
    return "No Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 413:
    return "Payload Too Large";
  case 414:
    return "URI Too Long";
  case 426:
    return "Upgrade Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    break;
  }
  if (status >= 200 && status < 300)
    return "OK";
  if (status >= 400 && status < 500)
    return "Client Error";
  if (status >= 500 && status < 600)
    return "Server Error";
  return "Error";
}

const char *uvws__http_reason(int status) {
  return hs__reason(status);
}

int uvws__hs_build_error(const uvws_allocator_t *al, uvws__buf_t *out,
                         int status, const char *extra_headers) {
  char line[64], body[64], length[32];
  const char *reason;
  size_t start_len = out->len;
  int r, body_len;

  /* RFC 7230 3.1.2: status-code = 3DIGIT. Anything else would make the
   * answer unparseable, so it becomes a plain server error. */
  if (status < 100 || status > 999)
    status = 500;
  reason = hs__reason(status);
  snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, reason);
  body_len = snprintf(body, sizeof(body), "%d %s\n", status, reason);
  snprintf(length, sizeof(length), "Content-Length: %d\r\n", body_len);

  {
    const char *parts[] = {line,
                           "Connection: close\r\n"
                           "Content-Type: text/plain\r\n",
                           length,
                           /* RFC 6455 4.2.2 item 4: name the versions
                            * spoken. */
                           status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "",
                           extra_headers != NULL ? extra_headers : "", "\r\n",
                           body, NULL};
    r = hs__append_all(al, out, parts);
  }
  if (r != 0)
    out->len = start_len;
  return r;
}

/* ------------------------------------------------------------------------ */
/* Client side                                                               */

int uvws__hs_check_response(const uvws__http_head_t *head, const char *key,
                            const char *const *protocols,
                            int extensions_offered, const char **protocol,
                            size_t *protocol_len) {
  const uvws__header_t *accept, *proto;
  char expected[29];
  size_t i;

  if (protocol != NULL)
    *protocol = NULL;
  if (protocol_len != NULL)
    *protocol_len = 0;

  /* RFC 6455 4.1: "If the status code received from the server is not 101,
   * the client handles the response per HTTP procedures." For a WebSocket
   * client that means the connection fails. */
  if (head->status != 101)
    return UVWS_EBADSTATUS;

  /* RFC 6455 4.1 client requirements, items 2 and 3. */
  if (!hs__headers_have_token(head, "Upgrade", "websocket"))
    return UVWS_EHANDSHAKE;
  if (!hs__headers_have_token(head, "Connection", "Upgrade"))
    return UVWS_EHANDSHAKE;

  /* Item 4: exactly the expected value. Two accept headers cannot be one
   * value, so they fail too. */
  if (hs__count(head, "Sec-WebSocket-Accept") != 1)
    return UVWS_EBADACCEPT;
  accept = uvws__http_find(head, "Sec-WebSocket-Accept");
  uvws__hs_accept(key, strlen(key), expected);
  if (accept->value_len != 28 || memcmp(accept->value, expected, 28) != 0)
    return UVWS_EBADACCEPT;

  /* Item 6: the server selects at most one of the offered subprotocols,
   * compared byte for byte. */
  proto = NULL;
  switch (hs__count(head, "Sec-WebSocket-Protocol")) {
  case 0:
    break;
  case 1:
    proto = uvws__http_find(head, "Sec-WebSocket-Protocol");
    for (i = 0; protocols != NULL && protocols[i] != NULL; i++)
      if (strlen(protocols[i]) == proto->value_len &&
          memcmp(protocols[i], proto->value, proto->value_len) == 0)
        break;
    if (protocols == NULL || protocols[i] == NULL)
      return UVWS_ENOTOFFERED;
    break;
  default:
    return UVWS_ENOTOFFERED;
  }

  /* Item 5: an extension the client did not ask for. Which extensions were
   * accepted is checked by the extension code itself. */
  if (!extensions_offered &&
      uvws__http_find(head, "Sec-WebSocket-Extensions") != NULL)
    return UVWS_ENOTOFFERED;

  if (proto != NULL) {
    if (protocol != NULL)
      *protocol = proto->value;
    if (protocol_len != NULL)
      *protocol_len = proto->value_len;
  }
  return 0;
}

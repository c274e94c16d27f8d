/* Static files for examples and small tools: uvws_request_serve_file().
 *
 * Built only on the public request API (uvws_request_method, _path,
 * _header, _add_header, _respond) and POSIX file calls, so it is an example
 * of an on_http handler as much as a helper. It reads the file with
 * blocking calls on the loop's thread: fine for a demo page, not for a
 * server that must stay responsive while it reads from a slow disk.
 *
 * Path rules, in order (the request path is never used unchecked):
 *  - only GET and HEAD (else 405 with "Allow: GET, HEAD");
 *  - the path must start with '/'; percent escapes are decoded once; a
 *    malformed escape, or one that decodes to NUL, is answered 400;
 *  - a decoded '/' (%2F) is answered 404: no file name contains '/', and
 *    treating it as a separator would let an escaped path slip past
 *    checks made on the raw one;
 *  - a ".." segment (also written %2e%2e) is answered 403, before any file
 *    system call;
 *  - the rest is resolved with realpath(), which follows symbolic links,
 *    and the result must be realpath(root) or lie below it: anything else
 *    (a link that points out of root) is answered 403;
 *  - a directory is served as its index.html (checked the same way);
 *  - only regular files are served (403 for devices, FIFOs, sockets), and
 *    none larger than UVWS__STATIC_MAX_FILE (answered 500).
 *
 * A link swapped in between the check and the open could still escape;
 * O_NOFOLLOW on the open narrows that to links in the directories above
 * the file. Serve only trees that untrusted users cannot write to.
 *
 * Caching: every 200 and 304 carries an ETag built from the file's size and
 * modification time (nanoseconds included), Last-Modified, and
 * "Cache-Control: no-cache", so browsers revalidate each time and get 304
 * while the file is unchanged (RFC 9110 13.1.2 and 13.1.3, RFC 9111
 * 5.2.2.4). */
#include "ascii.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Larger files are refused: this helper reads a whole file into memory. */
#define UVWS__STATIC_MAX_FILE (16 * 1024 * 1024)

static int respond_text(uvws_request_t *req, int status, const char *text) {
  return uvws_request_respond(req, status, "text/plain; charset=utf-8", text,
                              strlen(text));
}

/* Decodes the percent escapes of path (RFC 3986 2.1) into out (room for
 * strlen(path) + 1 bytes). Returns 0, 400 (malformed escape or NUL) or 404
 * (an escaped '/'). */
static int percent_decode(const char *path, char *out) {
  size_t o = 0;
  const char *p;
  for (p = path; *p != '\0'; p++) {
    int c = (unsigned char)*p;
    if (c == '%') {
      int hi = uvws__hex_value((unsigned char)p[1]), lo;
      if (hi < 0)
        return 400;
      lo = uvws__hex_value((unsigned char)p[2]);
      if (lo < 0)
        return 400;
      c = hi * 16 + lo;
      p += 2;
      if (c == 0)
        return 400;
      if (c == '/')
        return 404;
    }
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return 0;
}

/* 1 if the decoded path has a ".." segment. */
static int has_dotdot(const char *path) {
  const char *seg = path;
  for (;;) {
    const char *end = strchr(seg, '/');
    size_t n = end ? (size_t)(end - seg) : strlen(seg);
    if (n == 2 && seg[0] == '.' && seg[1] == '.')
      return 1;
    if (end == NULL)
      return 0;
    seg = end + 1;
  }
}

/* realpath() into memory from al; NULL with errno set on failure. */
static char *resolve(const uvws_allocator_t *al, const char *path) {
  char *out = uvws__malloc(al, PATH_MAX);
  if (out == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  if (realpath(path, out) == NULL) {
    int err = errno;
    uvws__free(al, out);
    errno = err;
    return NULL;
  }
  return out;
}

/* 1 if resolved (a realpath() result) is root (another) or lies below it. */
static int is_under(const char *resolved, const char *root) {
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/')
    return resolved[0] == '/';
  return strncmp(resolved, root, n) == 0 &&
         (resolved[n] == '\0' || resolved[n] == '/');
}

static const struct {
  const char *ext;
  const char *type;
} content_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"svg", "image/svg+xml; charset=utf-8"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"ico", "image/x-icon"},
    {"wasm", "application/wasm"},
};

/* The Content-Type for a file name, by its extension (case-insensitive). */
static const char *content_type_of(const char *name) {
  const char *slash = strrchr(name, '/');
  const char *dot = strrchr(slash ? slash : name, '.');
  size_t i;
  if (dot != NULL)
    for (i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++)
      if (strcasecmp(dot + 1, content_types[i].ext) == 0)
        return content_types[i].type;
  return "application/octet-stream";
}

static const char *const day_names[] = {"Sun", "Mon", "Tue", "Wed",
                                        "Thu", "Fri", "Sat"};
static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr",
                                          "May", "Jun", "Jul", "Aug",
                                          "Sep", "Oct", "Nov", "Dec"};

/* Formats t as an IMF-fixdate (RFC 9110 5.6.7), "Sun, 06 Nov 1994 08:49:37
 * GMT", without strftime(), whose names follow the locale. out has room for
 * 30 bytes. Returns 0, or -1 if t cannot be converted. */
static int format_http_date(time_t t, char *out, size_t size) {
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
      tm.tm_year + 1900 < 0)
    return -1;
  snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT",
           day_names[tm.tm_wday], tm.tm_mday, month_names[tm.tm_mon],
           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
static long long days_from_civil(long long y, int m, int d) {
  long long era, yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int parse_digits(const char *s, int n) {
  int v = 0, i;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Parses an IMF-fixdate. The obsolete RFC 850 and asctime forms, which
 * RFC 9110 5.6.7 asks recipients to accept, are not: a date that does not
 * parse makes If-Modified-Since ignored, which only costs a full answer.
 * Returns 0 and *out, or -1. */
static int parse_http_date(const char *s, time_t *out) {
  int day, year, hour, min, sec, mon = -1, i;
  long long t;
  /* "Sun, 06 Nov 1994 08:49:37 GMT" */
  if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
      s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
      s[25] != ' ' || strcmp(s + 26, "GMT") != 0)
    return -1;
  for (i = 0; i < 12; i++)
    if (strncmp(s + 8, month_names[i], 3) == 0)
      mon = i + 1;
  day = parse_digits(s + 5, 2);
  year = parse_digits(s + 12, 4);
  hour = parse_digits(s + 17, 2);
  min = parse_digits(s + 20, 2);
  sec = parse_digits(s + 23, 2);
  if (mon < 0 || day < 1 || day > 31 || year < 0 || hour < 0 || hour > 23 ||
      min < 0 || min > 59 || sec < 0 || sec > 60)
    return -1;
  t = days_from_civil(year, mon, day) * 86400LL + hour * 3600LL + min * 60LL +
      sec;
  if ((long long)(time_t)t != t)
    return -1;
  *out = (time_t)t;
  return 0;
}

/* 1 if the If-None-Match value list (RFC 9110 13.1.2) matches etag, with
 * the weak comparison: "W/" prefixes are ignored on both sides. "*"
 * matches any existing file. */
static int etag_list_matches(const char *list, const char *etag) {
  const char *p = list;
  size_t etag_len = strlen(etag);
  for (;;) {
    const char *start;
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    if (*p == '\0')
      return 0;
    if (*p == '*')
      return 1;
    if (p[0] == 'W' && p[1] == '/')
      p += 2;
    if (*p != '"') {
      /* Not an entity-tag: skip to the next comma. */
      while (*p != '\0' && *p != ',')
        p++;
      continue;
    }
    start = p++;
    while (*p != '\0' && *p != '"')
      p++;
    if (*p == '\0')
      return 0; /* unterminated */
    p++;
    if ((size_t)(p - start) == etag_len && memcmp(start, etag, etag_len) == 0)
      return 1;
  }
}

/* The answer when realpath() or open() failed with errno err. */
static int respond_errno(uvws_request_t *req, int err) {
  switch (err) {
  case ENOENT:
  case ENOTDIR:
  case ENAMETOOLONG:
  case ELOOP:
    return respond_text(req, 404, "not found\n");
  case EACCES:
  case EPERM:
    return respond_text(req, 403, "forbidden\n");
  default:
    return respond_text(req, 500, "cannot read the file\n");
  }
}

/* Reads len bytes at the start of fd into a new buffer. Returns it and the
 * count read in *got (fewer if the file shrank), or NULL with errno set. */
static char *read_all(const uvws_allocator_t *al, int fd, size_t len,
                      size_t *got) {
  char *buf = uvws__malloc(al, len ? len : 1);
  size_t n = 0;
  if (buf == NULL)
    return NULL;
  while (n < len) {
    ssize_t r = read(fd, buf + n, len - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      uvws__free(al, buf);
      errno = e;
      return NULL;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  *got = n;
  return buf;
}

/* Sends the file at resolved (already checked to lie under the root). */
static int serve_resolved(uvws_request_t *req, const char *resolved) {
  struct stat st;
  char etag[80], date[32];
  const char *inm, *ims;
  char *body;
  size_t got;
  int fd, r, not_modified = 0;

  fd = open(resolved, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return respond_errno(req, errno);
  /* fstat on the open file: the size and times sent are those of the bytes
   * read, and O_NONBLOCK kept a FIFO from blocking the open. */
  if (fstat(fd, &st) != 0) {
    r = errno;
    close(fd);
    return respond_errno(req, r);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return respond_text(req, 403, "forbidden\n");
  }
  if (st.st_size > UVWS__STATIC_MAX_FILE) {
    close(fd);
    return respond_text(req, 500, "file too large for this server\n");
  }

  snprintf(
      etag, sizeof(etag), "\"%llx-%llx-%lx\"", (unsigned long long)st.st_size,
      (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
  if (format_http_date(st.st_mtim.tv_sec, date, sizeof(date)) != 0)
    date[0] = '\0';

  /* RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only without
   * it. A modification time in the same second as the date counts as not
   * modified, since the date has only whole seconds. */
  inm = uvws_request_header(req, "If-None-Match");
  ims = uvws_request_header(req, "If-Modified-Since");
  if (inm != NULL) {
    not_modified = etag_list_matches(inm, etag);
  } else if (ims != NULL && date[0] != '\0') {
    time_t since;
    if (parse_http_date(ims, &since) == 0 && st.st_mtim.tv_sec <= since)
      not_modified = 1;
  }

  body = NULL;
  got = 0;
  if (!not_modified) {
    /* HEAD reads the file too: uvws_request_respond() takes Content-Length
     * from the body it is given, and leaves the body out for HEAD. */
    body = read_all(uvws__request_alloc(req), fd, (size_t)st.st_size, &got);
    if (body == NULL) {
      r = errno;
      close(fd);
      if (r == ENOMEM)
        return UV_ENOMEM;
      return respond_text(req, 500, "cannot read the file\n");
    }
  }
  close(fd);

  r = uvws_request_add_header(req, "ETag", etag);
  if (r == 0 && date[0] != '\0')
    r = uvws_request_add_header(req, "Last-Modified", date);
  if (r == 0)
    r = uvws_request_add_header(req, "Cache-Control", "no-cache");
  if (r == 0 && !not_modified)
    r = uvws_request_add_header(req, "X-Content-Type-Options", "nosniff");
  if (r == 0) {
    if (not_modified)
      r = uvws_request_respond(req, 304, NULL, NULL, 0);
    else
      r = uvws_request_respond(req, 200, content_type_of(resolved), body, got);
  }
  uvws__free(uvws__request_alloc(req), body);
  return r;
}

int uvws_request_serve_file(uvws_request_t *req, const char *root) {
  const char *method = uvws_request_method(req);
  const char *path = uvws_request_path(req);
  char *decoded = NULL, *joined = NULL, *real_root = NULL, *resolved = NULL;
  size_t root_len, path_len;
  struct stat st;
  int is_head, r;

  if (root == NULL || method == NULL || path == NULL)
    return UV_EINVAL;
  is_head = strcmp(method, "HEAD") == 0;
  if (!is_head && strcmp(method, "GET") != 0) {
    r = uvws_request_add_header(req, "Allow", "GET, HEAD");
    return r != 0 ? r : respond_text(req, 405, "method not allowed\n");
  }
  if (path[0] != '/')
    return respond_text(req, 400, "bad request\n");

  path_len = strlen(path);
  decoded = uvws__malloc(uvws__request_alloc(req), path_len + 1);
  if (decoded == NULL)
    return UV_ENOMEM;
  r = percent_decode(path, decoded);
  if (r != 0) {
    uvws__free(uvws__request_alloc(req), decoded);
    return respond_text(req, r, r == 404 ? "not found\n" : "bad request\n");
  }
  if (has_dotdot(decoded)) {
    uvws__free(uvws__request_alloc(req), decoded);
    return respond_text(req, 403, "forbidden\n");
  }

  /* The root itself: failing to resolve it is the caller's problem, not the
   * client's, so nothing is sent. */
  real_root = resolve(uvws__request_alloc(req), root);
  if (real_root == NULL) {
    r = uv_translate_sys_error(errno);
    uvws__free(uvws__request_alloc(req), decoded);
    return r;
  }

  root_len = strlen(real_root);
  joined = uvws__malloc(uvws__request_alloc(req),
                        root_len + strlen(decoded) + sizeof("/index.html"));
  if (joined == NULL) {
    r = UV_ENOMEM;
    goto done;
  }
  memcpy(joined, real_root, root_len);
  strcpy(joined + root_len, decoded);

  resolved = resolve(uvws__request_alloc(req), joined);
  if (resolved == NULL) {
    r = respond_errno(req, errno);
    goto done;
  }
  if (!is_under(resolved, real_root)) {
    r = respond_text(req, 403, "forbidden\n");
    goto done;
  }
  if (stat(resolved, &st) == 0 && S_ISDIR(st.st_mode)) {
    /* index.html may itself be a link: resolve and check it again. */
    size_t n = strlen(joined);
    strcpy(joined + n, joined[n - 1] == '/' ? "index.html" : "/index.html");
    uvws__free(uvws__request_alloc(req), resolved);
    resolved = resolve(uvws__request_alloc(req), joined);
    if (resolved == NULL) {
      r = respond_errno(req, errno);
      goto done;
    }
    if (!is_under(resolved, real_root)) {
      r = respond_text(req, 403, "forbidden\n");
      goto done;
    }
  }
  r = serve_resolved(req, resolved);

done:
  uvws__free(uvws__request_alloc(req), resolved);
  uvws__free(uvws__request_alloc(req), joined);
  uvws__free(uvws__request_alloc(req), real_root);
  uvws__free(uvws__request_alloc(req), decoded);
  return r;
}

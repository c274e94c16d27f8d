/* WebSocket URL parsing (src/url.c), one table line per case. */
#include "url.h"

#include "test.h"
#include "uvws_errno.h"

typedef struct {
  int line;
  const char *url;
  int ret;
  int secure;
  const char *host;
  int port;
  const char *target;
  const char *host_header;
} url_case_t;

#define OK(url, secure, host, port, target, host_header)                       \
  { __LINE__, url, 0, secure, host, port, target, host_header }
#define BAD(url)                                                               \
  { __LINE__, url, UVWS_EBADURL, 0, NULL, 0, NULL, NULL }

static const url_case_t cases[] = {
    /* Schemes, case-insensitive (RFC 3986 3.1), and their default ports. */
    OK("ws://example.com", 0, "example.com", 80, "/", "example.com"),
    OK("wss://example.com", 1, "example.com", 443, "/", "example.com"),
    OK("WS://example.com/", 0, "example.com", 80, "/", "example.com"),
    OK("wSs://example.com/", 1, "example.com", 443, "/", "example.com"),
    BAD("http://example.com/"),
    BAD("https://example.com/"),
    BAD("wsx://example.com/"),
    BAD("ws:/example.com/"),
    BAD("ws:example.com"),
    BAD("ws//example.com"),
    BAD("ws"),
    BAD("ws:"),
    BAD("ws:/"),
    BAD("ws://"),
    BAD(""),
    BAD("//example.com/"),
    BAD("example.com"),
    /* Ports: the default is left out of the Host header. */
    OK("ws://example.com:80/", 0, "example.com", 80, "/", "example.com"),
    OK("wss://example.com:443/", 1, "example.com", 443, "/", "example.com"),
    OK("ws://example.com:443/", 0, "example.com", 443, "/", "example.com:443"),
    OK("wss://example.com:80/", 1, "example.com", 80, "/", "example.com:80"),
    OK("ws://example.com:8080", 0, "example.com", 8080, "/",
       "example.com:8080"),
    OK("ws://h:1", 0, "h", 1, "/", "h:1"),
    OK("ws://h:65535", 0, "h", 65535, "/", "h:65535"),
    OK("ws://h:0080/x", 0, "h", 80, "/x", "h"),
    BAD("ws://h:0"),
    BAD("ws://h:00"),
    BAD("ws://h:65536"),
    BAD("ws://h:99999"),
    BAD("ws://h:4294967377"),
    BAD("ws://h:123456789012345678901234567890"),
    BAD("ws://h:"),
    BAD("ws://h:/"),
    BAD("ws://h:?a"),
    BAD("ws://h:-1"),
    BAD("ws://h:+80"),
    BAD("ws://h:8o"),
    BAD("ws://h:80:90"),
    BAD("ws://h:0x50"),
    /* Paths and queries (RFC 6455 3: an empty path is "/"). */
    OK("ws://h/chat", 0, "h", 80, "/chat", "h"),
    OK("ws://h/a/b/c/", 0, "h", 80, "/a/b/c/", "h"),
    OK("ws://h/?a=b", 0, "h", 80, "/?a=b", "h"),
    OK("ws://h?a=b", 0, "h", 80, "/?a=b", "h"),
    OK("ws://h:81?a=b&c", 0, "h", 81, "/?a=b&c", "h:81"),
    OK("ws://h/chat?room=1&x=%20y", 0, "h", 80, "/chat?room=1&x=%20y", "h"),
    OK("ws://h/a@b:c", 0, "h", 80, "/a@b:c", "h"),
    OK("ws://h/%23", 0, "h", 80, "/%23", "h"),
    OK("ws://h?", 0, "h", 80, "/?", "h"),
    OK("ws://h//", 0, "h", 80, "//", "h"),
    /* RFC 6455 3: no fragments. */
    BAD("ws://h/#"),
    BAD("ws://h/chat#frag"),
    BAD("ws://h#frag"),
    BAD("ws://h/?a=b#c"),
    /* Hosts. */
    OK("ws://127.0.0.1:9001/", 0, "127.0.0.1", 9001, "/", "127.0.0.1:9001"),
    OK("ws://Example.COM/", 0, "Example.COM", 80, "/", "Example.COM"),
    OK("ws://a-b_c~d.e/", 0, "a-b_c~d.e", 80, "/", "a-b_c~d.e"),
    BAD("ws:///path"),
    BAD("ws://:80/"),
    BAD("ws://?a"),
    BAD("ws://h%41/"),
    BAD("ws://h]/"),
    BAD("ws://h[/"),
    BAD("ws://h\\x/"),
    BAD("ws://h{x}/"),
    /* IPv6 literals: brackets kept only in the Host header. */
    OK("ws://[::1]/", 0, "::1", 80, "/", "[::1]"),
    OK("ws://[::1]:9001/x?y", 0, "::1", 9001, "/x?y", "[::1]:9001"),
    OK("wss://[2001:db8::7]", 1, "2001:db8::7", 443, "/", "[2001:db8::7]"),
    OK("wss://[2001:DB8::7]:443", 1, "2001:DB8::7", 443, "/", "[2001:DB8::7]"),
    OK("ws://[::ffff:192.0.2.1]?q", 0, "::ffff:192.0.2.1", 80, "/?q",
       "[::ffff:192.0.2.1]"),
    OK("ws://[::]:1", 0, "::", 1, "/", "[::]:1"),
    BAD("ws://[]/"),
    BAD("ws://[:]/"),
    BAD("ws://[1]/"),
    BAD("ws://[::1/"),
    BAD("ws://[::1"),
    BAD("ws://::1/"),
    BAD("ws://[::1]x/"),
    BAD("ws://[::1]:/"),
    BAD("ws://[::1]:0/"),
    BAD("ws://[fe80::1%25eth0]/"),
    BAD("ws://[v1.fe80::a+en1]/"),
    BAD("ws://[::g]/"),
    BAD("ws://x[::1]/"),
    /* Userinfo (RFC 6455 3 has none). */
    BAD("ws://user@h/"),
    BAD("ws://user:pass@h/"),
    BAD("ws://user:80@h/"),
    BAD("ws://@h/"),
    BAD("ws://[::1]@h/"),
    /* Bytes outside visible ASCII, anywhere. */
    BAD("ws://h/a b"),
    BAD("ws://h /"),
    BAD(" ws://h/"),
    BAD("ws://h/\t"),
    BAD("ws://h/\r\nX: y"),
    BAD("ws://h/\x7f"),
    BAD("ws://h/\x80"),
    BAD("ws://h\xc3\xa9/"),
    BAD("ws://h/\xff"),
};

static int run_case(const url_case_t *c) {
  uvws__url_t u;
  int r;

  /* Garbage in the output must not matter. */
  memset(&u, 0xA5, sizeof(u));
  r = uvws__url_parse(&uvws__libc_allocator, c->url, &u);
  if (r != c->ret)
    fprintf(stderr, "test_url.c:%d: \"%s\"\n", c->line, c->url);
  CHECK_EQ(r, c->ret);
  if (r != 0) {
    /* Nothing allocated, and freeing is still harmless. */
    CHECK(u.host == NULL && u.target == NULL && u.host_header == NULL);
    uvws__url_free(&uvws__libc_allocator, &u);
    return 0;
  }
  CHECK_EQ(u.secure, c->secure);
  CHECK_STR(u.host, c->host);
  CHECK_EQ(u.port, c->port);
  CHECK_STR(u.target, c->target);
  CHECK_STR(u.host_header, c->host_header);
  uvws__url_free(&uvws__libc_allocator, &u);
  CHECK(u.host == NULL && u.target == NULL && u.host_header == NULL);
  uvws__url_free(&uvws__libc_allocator, &u);
  return 1;
}

int main(void) {
  size_t i, ok = 0, n = sizeof(cases) / sizeof(cases[0]);
  uvws__url_t u;

  for (i = 0; i < n; i++)
    ok += (size_t)run_case(&cases[i]);

  CHECK_EQ(uvws__url_parse(&uvws__libc_allocator, NULL, &u), UVWS_EBADURL);
  CHECK(u.host == NULL && u.target == NULL && u.host_header == NULL);

  printf("test_url: %zu cases (%zu valid, %zu refused) passed\n", n + 1, ok,
         n + 1 - ok);
  return 0;
}

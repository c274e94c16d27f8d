/* The TLS filter alone (src/tls.c): a client and a server wired back to back
 * in memory, no sockets. Handshake flights and records fed whole, a byte at
 * a time and split in two at many places; record batching; close_notify;
 * certificate verification, one line per case.
 *
 * Certificates come from test/tls/make-certs.sh, in $UVWS_TEST_CERTS. */
#include "test.h"

#ifndef UVWS_WITH_TLS
int main(void) {
  printf("test_tls_filter: built without TLS, nothing to test\n");
  return 0;
}
#else

#include <mbedtls/ssl.h>

#include "aesgcm.h"
#include "tls.h"

static const char *certs;

static char *cert_path(const char *name) {
  static char buf[8][512];
  static int i;
  char *p = buf[i++ % 8];
  snprintf(p, 512, "%s/%s", certs, name);
  return p;
}

static uvws__tls_conf_t *server_conf(const char *name) {
  uvws_tls_options_t o;
  uvws__tls_conf_t *c;
  char crt[64], key[64];
  memset(&o, 0, sizeof(o));
  snprintf(crt, sizeof(crt), "%s.crt", name);
  snprintf(key, sizeof(key), "%s.key", name);
  o.cert_file = cert_path(crt);
  o.key_file = cert_path(key);
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o), 0);
  return c;
}

static uvws__tls_conf_t *client_conf(int verify) {
  uvws_tls_options_t o;
  uvws__tls_conf_t *c;
  memset(&o, 0, sizeof(o));
  o.ca_file = cert_path("ca.crt");
  o.insecure_skip_verify_for_testing = !verify;
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 0, &o), 0);
  return c;
}

/* One side: its filter, what it has to send, what it received. */
typedef struct {
  uvws__tls_t t;
  uvws__buf_t out; /* ciphertext to send */
  uvws__buf_t got; /* plaintext received */
  int opened;
} side_t;

static int on_open(void *arg) {
  side_t *s = arg;
  CHECK_EQ(s->opened, 0);
  s->opened = 1;
  return 0;
}

static int on_data(void *arg, char *data, size_t len) {
  side_t *s = arg;
  CHECK(s->opened);
  CHECK(len > 0);
  CHECK_EQ(uvws__buf_append(&uvws__libc_allocator, &s->got, data, len), 0);
  return 0;
}

static const uvws__tls_cbs_t cbs = {on_open, on_data};

/* Delivers ciphertext to s in pieces as split says: 0 whole, 1 a byte at a
 * time, else two parts, the first of split - 2 bytes (clamped). Returns the
 * feed's result. */
static int deliver(side_t *s, const char *data, size_t len, size_t split) {
  size_t i;
  int r;
  if (split == 0)
    return uvws__tls_feed(&s->t, data, len, &s->out, &cbs, s);
  if (split == 1) {
    for (i = 0; i < len; i++) {
      r = uvws__tls_feed(&s->t, data + i, 1, &s->out, &cbs, s);
      if (r != 0)
        return r;
    }
    return 0;
  }
  i = split - 2 < len ? split - 2 : len;
  r = uvws__tls_feed(&s->t, data, i, &s->out, &cbs, s);
  if (r == 0)
    r = uvws__tls_feed(&s->t, data + i, len - i, &s->out, &cbs, s);
  return r;
}

/* Moves what from has to send to to. */
static int transfer(side_t *from, side_t *to, size_t split) {
  uvws__buf_t b = from->out;
  int r;
  memset(&from->out, 0, sizeof(from->out));
  r = deliver(to, b.base, b.len, split);
  uvws__buf_free(&uvws__libc_allocator, &b);
  return r;
}

static void side_init(side_t *s, uvws__tls_conf_t *conf, const char *host) {
  memset(s, 0, sizeof(*s));
  CHECK_EQ(uvws__tls_init(&s->t, conf, host), 0);
}

static void side_free(side_t *s) {
  uvws__tls_free(&s->t);
  uvws__buf_free(&uvws__libc_allocator, &s->out);
  uvws__buf_free(&uvws__libc_allocator, &s->got);
}

/* Runs a handshake; flight k (0: ClientHello, 1: the server's first
 * flight, 2: the client's key exchange and Finished, 3: the server's
 * Finished) is delivered with split_at[k]. Returns 0 when both sides are
 * open, or the first error with *who set to 'c' or 's'. sizes, when not
 * NULL, gets each flight's length. */
static int handshake(side_t *c, side_t *s, const size_t split_at[4],
                     size_t sizes[4], char *who) {
  int r, k;
  CHECK_EQ(uvws__tls_start(&c->t, &c->out), 0);
  for (k = 0; k < 4; k++) {
    side_t *from = k % 2 ? s : c, *to = k % 2 ? c : s;
    if (sizes)
      sizes[k] = from->out.len;
    CHECK(from->out.len > 0);
    r = transfer(from, to, split_at ? split_at[k] : 0);
    if (r != 0) {
      *who = k % 2 ? 'c' : 's';
      return r;
    }
  }
  CHECK_EQ(c->out.len, 0);
  CHECK_EQ(s->out.len, 0);
  CHECK(c->opened && s->opened);
  CHECK_EQ(c->t.state, UVWS__TLS_OPEN);
  CHECK_EQ(s->t.state, UVWS__TLS_OPEN);
  return 0;
}

static void fill_pattern(char *p, size_t n, unsigned seed) {
  size_t i;
  uint32_t x = seed * 2654435761u + 1;
  for (i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (char)x;
  }
}

/* Application data both ways, each direction's ciphertext delivered with
 * split; then close_notify from the client. */
static void exchange(side_t *c, side_t *s, size_t split) {
  static const size_t sizes[] = {1, 100, 16383, 16384, 16385, 40000};
  uvws__tls_iov_t iov[6];
  char *data[6];
  size_t i, total = 0, off = 0;

  for (i = 0; i < 6; i++) {
    data[i] = malloc(sizes[i]);
    CHECK(data[i] != NULL);
    fill_pattern(data[i], sizes[i], (unsigned)i);
    iov[i].base = data[i];
    iov[i].len = sizes[i];
    total += sizes[i];
  }
  CHECK_EQ(uvws__tls_writev(&c->t, iov, 6, &c->out), 0);
  CHECK_EQ(transfer(c, s, split), 0);
  CHECK_EQ(s->got.len, total);
  for (i = 0; i < 6; i++) {
    CHECK(memcmp(s->got.base + off, data[i], sizes[i]) == 0);
    off += sizes[i];
  }
  CHECK_EQ(uvws__tls_writev(&s->t, iov + 2, 1, &s->out), 0);
  CHECK_EQ(transfer(s, c, split), 0);
  CHECK_EQ(c->got.len, sizes[2]);
  CHECK(memcmp(c->got.base, data[2], sizes[2]) == 0);

  CHECK_EQ(uvws__tls_close_notify(&c->t, &c->out), 0);
  CHECK(c->out.len > 0);
  CHECK_EQ(transfer(c, s, split), 0);
  CHECK_EQ(s->t.state, UVWS__TLS_PEER_CLOSED);
  /* Input after close_notify is ignored. */
  CHECK_EQ(uvws__tls_feed(&s->t, "junk", 4, &s->out, &cbs, s), 0);
  CHECK_EQ(s->out.len, 0);
  for (i = 0; i < 6; i++)
    free(data[i]);
}

/* The handshake and records, fed whole, a byte at a time, and split in
 * two at every byte of each flight; application records split in two at
 * many places. */
static void test_splits(void) {
  uvws__tls_conf_t *sc = server_conf("server"), *cc = client_conf(0);
  side_t c, s;
  size_t sizes[4], split[4], k, p, runs = 0;
  char who;

  /* Whole, and a byte at a time. */
  for (p = 0; p < 2; p++) {
    side_init(&c, cc, "localhost");
    side_init(&s, sc, NULL);
    for (k = 0; k < 4; k++)
      split[k] = p;
    CHECK_EQ(handshake(&c, &s, split, sizes, &who), 0);
    exchange(&c, &s, p);
    side_free(&c);
    side_free(&s);
    runs++;
  }
  fprintf(stderr, "  flights of %zu, %zu, %zu and %zu bytes\n", sizes[0],
          sizes[1], sizes[2], sizes[3]);

  /* Every two-part split of every flight. Flight sizes barely change from
   * one handshake to the next (ECDSA signatures vary by a byte or two);
   * cuts past the end feed the flight whole. */
  for (k = 0; k < 4; k++) {
    size_t n = sizes[k];
    for (p = 0; p <= n; p++) {
      size_t j;
      side_init(&c, cc, "localhost");
      side_init(&s, sc, NULL);
      for (j = 0; j < 4; j++)
        split[j] = j == k ? p + 2 : 0;
      CHECK_EQ(handshake(&c, &s, split, NULL, &who), 0);
      side_free(&c);
      side_free(&s);
      runs++;
    }
  }
  /* Application records split in two at many places. */
  for (p = 2; p < 200; p += 13) {
    side_init(&c, cc, "localhost");
    side_init(&s, sc, NULL);
    CHECK_EQ(handshake(&c, &s, NULL, NULL, &who), 0);
    exchange(&c, &s, p);
    side_free(&c);
    side_free(&s);
    runs++;
  }
  fprintf(stderr, "  %zu handshakes with split input\n", runs);
  uvws__tls_conf_free(sc);
  uvws__tls_conf_free(cc);
}

/* Small pieces share records: 1000 pieces of 20 bytes make two records. */
static void test_batching(void) {
  uvws__tls_conf_t *sc = server_conf("server"), *cc = client_conf(1);
  uvws__tls_iov_t iov[1000];
  static char bytes[20000];
  side_t c, s;
  size_t i;
  char who;

  fill_pattern(bytes, sizeof(bytes), 7);
  for (i = 0; i < 1000; i++) {
    iov[i].base = bytes + 20 * i;
    iov[i].len = 20;
  }
  side_init(&c, cc, "localhost");
  side_init(&s, sc, NULL);
  CHECK_EQ(handshake(&c, &s, NULL, NULL, &who), 0);
  CHECK(strstr(uvws__tls_ciphersuite(&c.t), "GCM") != NULL ||
        strstr(uvws__tls_ciphersuite(&c.t), "CHACHA20") != NULL);
  CHECK_STR(uvws__tls_ciphersuite(&c.t), uvws__tls_ciphersuite(&s.t));
  CHECK_EQ(uvws__tls_writev(&c.t, iov, 1000, &c.out), 0);
  /* Two records (at most 16 KiB each). AES-GCM: 5 bytes of header, 8 of
   * explicit nonce, 16 of tag; ChaCha20-Poly1305: no explicit nonce. */
  if (strstr(uvws__tls_ciphersuite(&c.t), "GCM"))
    CHECK_EQ(c.out.len, 20000 + 2 * 29);
  else
    CHECK_EQ(c.out.len, 20000 + 2 * 21);
  CHECK_EQ(transfer(&c, &s, 0), 0);
  CHECK_EQ(s.got.len, 20000);
  CHECK(memcmp(s.got.base, bytes, 20000) == 0);
  /* Nothing to write: no record at all. */
  CHECK_EQ(uvws__tls_writev(&c.t, iov, 0, &c.out), 0);
  CHECK_EQ(c.out.len, 0);
  side_free(&c);
  side_free(&s);
  uvws__tls_conf_free(sc);
  uvws__tls_conf_free(cc);
}

/* Writing before the handshake, and the server starting nothing. */
static void test_states(void) {
  uvws__tls_conf_t *sc = server_conf("server"), *cc = client_conf(1);
  uvws__tls_iov_t iov = {"x", 1};
  side_t c, s;
  char who;
  side_init(&c, cc, "localhost");
  side_init(&s, sc, NULL);
  CHECK_EQ(uvws__tls_writev(&c.t, &iov, 1, &c.out), UVWS_ESTATE);
  CHECK(uvws__tls_ciphersuite(&c.t) == NULL);
  CHECK_EQ(uvws__tls_close_notify(&c.t, &c.out), 0);
  CHECK_EQ(c.out.len, 0); /* nothing before the handshake */
  CHECK_EQ(uvws__tls_start(&s.t, &s.out), 0);
  CHECK_EQ(s.out.len, 0);
  CHECK_EQ(handshake(&c, &s, NULL, NULL, &who), 0);
  side_free(&c);
  side_free(&s);

  /* Bytes that are not TLS: the server fails and stays failed. */
  side_init(&s, sc, NULL);
  CHECK_EQ(deliver(&s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, 0), UVWS_ETLS);
  CHECK_EQ(s.t.state, UVWS__TLS_FAILED);
  CHECK(s.t.err != 0);
  CHECK_EQ(deliver(&s, "x", 1, 0), UVWS_ETLS);
  side_free(&s);
  uvws__tls_conf_free(sc);
  uvws__tls_conf_free(cc);
}

/* Certificate verification by the client: one line per case. */
static const struct {
  const char *server; /* certificate name in $UVWS_TEST_CERTS */
  const char *host;   /* what the client connects to */
  int err;            /* expected error of the client */
} verify_cases[] = {
    {"server", "localhost", 0},
    {"server", "LocalHost", 0},
    {"server", "127.0.0.1", 0},
    {"server", "::1", 0},
    {"server-rsa", "localhost", 0},
    {"server-rsa", "127.0.0.1", 0},
    {"server", "127.0.0.2", UVWS_ECERTNAME},
    {"server", "::2", UVWS_ECERTNAME},
    {"server", "localhost.example", UVWS_ECERTNAME},
    {"server", "10.9.8.7", UVWS_ECERTNAME},
    {"wrongname", "localhost", UVWS_ECERTNAME},
    {"wrongname", "127.0.0.1", UVWS_ECERTNAME},
    {"wrongname", "wrong.example", 0},
    {"wrongname", "10.9.8.7", 0},
    {"expired", "localhost", UVWS_ECERTEXPIRED},
    {"expired", "127.0.0.1", UVWS_ECERTEXPIRED},
    {"notyet", "localhost", UVWS_ECERTEXPIRED},
    {"selfsigned", "localhost", UVWS_ECERTUNTRUSTED},
    {"selfsigned", "127.0.0.1", UVWS_ECERTUNTRUSTED},
    {"sha1", "localhost", UVWS_ECERTINVALID}, /* SHA-1 signature */
};

static void test_verify(void) {
  uvws__tls_conf_t *cc = client_conf(1), *insecure = client_conf(0);
  size_t i;
  for (i = 0; i < sizeof(verify_cases) / sizeof(verify_cases[0]); i++) {
    uvws__tls_conf_t *sc = server_conf(verify_cases[i].server);
    side_t c, s;
    char who = 0;
    int r;
    side_init(&c, cc, verify_cases[i].host);
    side_init(&s, sc, NULL);
    r = handshake(&c, &s, NULL, NULL, &who);
    if (r != verify_cases[i].err)
      fprintf(stderr, "case %zu (%s for %s): got %s from '%c', flags %x\n", i,
              verify_cases[i].server, verify_cases[i].host,
              r ? uvws_err_name(r) : "0", who, c.t.verify_flags);
    CHECK_EQ(r, verify_cases[i].err);
    if (r != 0) {
      CHECK_EQ(who, 'c');
      CHECK_EQ(c.t.err, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
      CHECK(c.t.verify_flags != 0);
      CHECK_EQ(c.t.state, UVWS__TLS_FAILED);
      /* The client tells the server with an alert. */
      CHECK(c.out.len > 0);
      CHECK_EQ(transfer(&c, &s, 0), UVWS_ETLS);
      CHECK_EQ(s.t.err, MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
    }
    side_free(&c);
    side_free(&s);

    /* Without verification every one of them is accepted. */
    side_init(&c, insecure, verify_cases[i].host);
    side_init(&s, sc, NULL);
    CHECK_EQ(handshake(&c, &s, NULL, NULL, &who), 0);
    side_free(&c);
    side_free(&s);
    uvws__tls_conf_free(sc);
  }
  uvws__tls_conf_free(cc);
  uvws__tls_conf_free(insecure);
}

/* Client certificates: required, optional, refused. */
static void test_client_certs(void) {
  static const struct {
    int mode;
    const char *client; /* NULL: none */
    int server_err;     /* expected error of the server (0: accepted) */
  } cases[] = {
      {UVWS_TLS_CLIENT_CERT_REQUIRED, "client", 0},
      {UVWS_TLS_CLIENT_CERT_REQUIRED, NULL, UVWS_ETLS},
      {UVWS_TLS_CLIENT_CERT_REQUIRED, "client-other", UVWS_ECERTUNTRUSTED},
      {UVWS_TLS_CLIENT_CERT_OPTIONAL, "client", 0},
      {UVWS_TLS_CLIENT_CERT_OPTIONAL, NULL, 0},
      {UVWS_TLS_CLIENT_CERT_OPTIONAL, "client-other", UVWS_ECERTUNTRUSTED},
      {UVWS_TLS_CLIENT_CERT_NONE, "client", 0},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uvws_tls_options_t so, co;
    uvws__tls_conf_t *sc, *cc;
    side_t c, s;
    char who = 0, crt[64], key[64], subject[256];
    int r;

    memset(&so, 0, sizeof(so));
    so.cert_file = cert_path("server.crt");
    so.key_file = cert_path("server.key");
    so.ca_file = cert_path("ca.crt");
    so.client_cert = (uvws_tls_client_cert_t)cases[i].mode;
    CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &sc, 1, &so), 0);
    memset(&co, 0, sizeof(co));
    co.ca_file = cert_path("ca.crt");
    if (cases[i].client) {
      snprintf(crt, sizeof(crt), "%s.crt", cases[i].client);
      snprintf(key, sizeof(key), "%s.key", cases[i].client);
      co.cert_file = cert_path(crt);
      co.key_file = cert_path(key);
    }
    CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &cc, 0, &co), 0);
    side_init(&c, cc, "localhost");
    side_init(&s, sc, NULL);
    r = handshake(&c, &s, NULL, NULL, &who);
    if (r != cases[i].server_err)
      fprintf(stderr, "client cert case %zu: got %s from '%c'\n", i,
              r ? uvws_err_name(r) : "0", who);
    CHECK_EQ(r, cases[i].server_err);
    if (r != 0) {
      CHECK_EQ(who, 's');
      CHECK(s.out.len > 0); /* an alert for the client */
      CHECK_EQ(transfer(&s, &c, 0), UVWS_ETLS);
    } else if (cases[i].client && cases[i].mode != UVWS_TLS_CLIENT_CERT_NONE) {
      r = uvws__tls_peer_subject(&s.t, subject, sizeof(subject));
      CHECK(r > 0);
      CHECK(strstr(subject, "CN=uvws test client") != NULL);
      CHECK_EQ(uvws__tls_peer_subject(&s.t, subject, 4), UV_ENOBUFS);
    } else {
      CHECK_EQ(uvws__tls_peer_subject(&s.t, subject, sizeof(subject)),
               UV_ENOENT);
    }
    side_free(&c);
    side_free(&s);
    uvws__tls_conf_free(sc);
    uvws__tls_conf_free(cc);
  }
}

/* Configurations: what is refused, and PEM given in memory. */
static void test_conf(void) {
  uvws_tls_options_t o;
  uvws__tls_conf_t *c;
  FILE *f;
  static char pem[8192], key[8192];
  size_t n;

  memset(&o, 0, sizeof(o));
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o),
           UV_EINVAL); /* no certificate */
  o.cert_file = cert_path("server.crt");
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o),
           UV_EINVAL); /* no key */
  o.key_file = cert_path("nonexistent.key");
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o), UV_ENOENT);
  o.key_file = cert_path("client.key");
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o),
           UVWS_ETLSCONFIG); /* mismatch */
  o.key_file = cert_path("ca.crt");
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o),
           UVWS_ETLSCONFIG); /* not a key */
  o.key_file = cert_path("server.key");
  o.client_cert = UVWS_TLS_CLIENT_CERT_REQUIRED;
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o),
           UV_EINVAL); /* no client CA */
  o.client_cert = (uvws_tls_client_cert_t)7;
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o), UV_EINVAL);
  o.client_cert = UVWS_TLS_CLIENT_CERT_NONE;
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o), 0);
  uvws__tls_conf_free(c);

  /* The same from memory. */
  f = fopen(cert_path("chain.crt"), "rb");
  CHECK(f != NULL);
  n = fread(pem, 1, sizeof(pem) - 1, f);
  pem[n] = '\0';
  fclose(f);
  f = fopen(cert_path("server.key"), "rb");
  CHECK(f != NULL);
  n = fread(key, 1, sizeof(key) - 1, f);
  key[n] = '\0';
  fclose(f);
  memset(&o, 0, sizeof(o));
  o.cert_pem = pem;
  o.key_pem = key;
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o), 0);
  uvws__tls_conf_free(c);
  o.cert_file = cert_path("server.crt");
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o),
           UV_EINVAL); /* file and PEM */
  o.cert_file = NULL;
  o.cert_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n"
               "-----END CERTIFICATE-----\n";
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 1, &o),
           UVWS_ETLSCONFIG);

  /* Clients: a CA in memory, a CA file that is not PEM, the default. */
  memset(&o, 0, sizeof(o));
  o.ca_pem = pem;
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 0, &o), 0);
  uvws__tls_conf_free(c);
  o.ca_pem = NULL;
  o.ca_file = cert_path("server.key");
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 0, &o),
           UVWS_ETLSCONFIG);
  CHECK_EQ(uvws__tls_conf_new(&uvws__libc_allocator, &c, 0, NULL),
           0); /* the system's CAs */
  uvws__tls_conf_free(c);
}

static void test_map_error(void) {
  CHECK_EQ(uvws__tls_map_error(0, 0), 0);
  CHECK_EQ(uvws__tls_map_error(MBEDTLS_ERR_SSL_ALLOC_FAILED, 0), UV_ENOMEM);
  CHECK_EQ(uvws__tls_map_error(MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE, 0),
           UVWS_ETLS);
  CHECK_EQ(uvws__tls_map_error(MBEDTLS_ERR_X509_CERT_VERIFY_FAILED,
                               MBEDTLS_X509_BADCERT_NOT_TRUSTED |
                                   MBEDTLS_X509_BADCERT_EXPIRED),
           UVWS_ECERTUNTRUSTED);
  CHECK_EQ(uvws__tls_map_error(MBEDTLS_ERR_X509_CERT_VERIFY_FAILED,
                               MBEDTLS_X509_BADCERT_FUTURE |
                                   MBEDTLS_X509_BADCERT_CN_MISMATCH),
           UVWS_ECERTEXPIRED);
  CHECK_EQ(uvws__tls_map_error(MBEDTLS_ERR_X509_CERT_VERIFY_FAILED,
                               MBEDTLS_X509_BADCERT_CN_MISMATCH),
           UVWS_ECERTNAME);
  CHECK_EQ(uvws__tls_map_error(MBEDTLS_ERR_X509_CERT_VERIFY_FAILED,
                               MBEDTLS_X509_BADCERT_BAD_MD),
           UVWS_ECERTINVALID);
  CHECK_EQ(uvws__tls_map_error(MBEDTLS_ERR_X509_CERT_VERIFY_FAILED,
                               MBEDTLS_X509_BADCERT_REVOKED),
           UVWS_ECERTINVALID);
  CHECK_EQ(uvws__tls_map_error(MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE,
                               MBEDTLS_X509_BADCERT_EXT_KEY_USAGE),
           UVWS_ECERTINVALID);
  CHECK_EQ(uvws__tls_map_error(MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE, 0),
           UVWS_ETLS);
}

/* A configuration whose sessions keep their records with mbedTLS (own 0)
 * or hand AES-GCM ones to tls_rec.c (own 1, the default). */
static uvws__tls_conf_t *conf_with(int is_server, int own) {
  uvws__tls_conf_t *conf;
  int saved = uvws__tls_own_records;
  uvws__tls_own_records = own;
  conf = is_server ? server_conf("server") : client_conf(0);
  uvws__tls_own_records = saved;
  return conf;
}

/* A client and a server, each with its records kept by mbedTLS or by
 * tls_rec.c, open; checks who took the records over. */
static void pair_open(side_t *c, side_t *s, uvws__tls_conf_t *cc,
                      uvws__tls_conf_t *sc, int c_own, int s_own) {
  char who;
  side_init(c, cc, "localhost");
  side_init(s, sc, NULL);
  CHECK_EQ(handshake(c, s, NULL, NULL, &who), 0);
  CHECK(strstr(uvws__tls_ciphersuite(&c->t), "AES-128-GCM") != NULL);
  CHECK_EQ(c->t.rec_on, c_own);
  CHECK_EQ(s->t.rec_on, s_own);
  /* With the records, mbedTLS's context and its buffers are gone. */
  CHECK_EQ(c->t.ssl_freed, c_own);
  CHECK_EQ(s->t.ssl_freed, s_own);
}

/* Records written by one and read by the other, every way round: whole,
 * a byte at a time, split in two; close_notify from either side. */
static void test_own_records(void) {
  static const size_t splits[] = {0, 1, 2 + 5, 2 + 29, 2 + 1000};
  int c_own, s_own;
  size_t k;
  for (c_own = 0; c_own < 2; c_own++) {
    for (s_own = 0; s_own < 2; s_own++) {
      uvws__tls_conf_t *cc = conf_with(0, c_own), *sc = conf_with(1, s_own);
      side_t c, s;
      for (k = 0; k < sizeof(splits) / sizeof(splits[0]); k++) {
        pair_open(&c, &s, cc, sc, c_own, s_own);
        exchange(&c, &s, splits[k]);
        side_free(&c);
        side_free(&s);
      }
      /* The server's close_notify. */
      pair_open(&c, &s, cc, sc, c_own, s_own);
      CHECK_EQ(uvws__tls_close_notify(&s.t, &s.out), 0);
      CHECK_EQ(transfer(&s, &c, 1), 0);
      CHECK_EQ(c.t.state, UVWS__TLS_PEER_CLOSED);
      CHECK_EQ(c.got.len, 0);
      side_free(&c);
      side_free(&s);
      uvws__tls_conf_free(cc);
      uvws__tls_conf_free(sc);
    }
  }
}

/* A record tampered with in transit: the reader refuses it with
 * bad_record_mac, which the writer reads as a fatal alert. Either side may
 * be tls_rec.c; the other is mbedTLS. */
static void test_own_records_tampered(void) {
  int c_own;
  for (c_own = 0; c_own < 2; c_own++) {
    uvws__tls_conf_t *cc = conf_with(0, c_own), *sc = conf_with(1, !c_own);
    uvws__tls_iov_t iov = {"hello, server", 13};
    side_t c, s;
    size_t at;
    for (at = 5; at < 5 + 8 + 13 + 16; at += 6) {
      pair_open(&c, &s, cc, sc, c_own, !c_own);
      CHECK_EQ(uvws__tls_writev(&c.t, &iov, 1, &c.out), 0);
      CHECK_EQ(c.out.len, 5 + 8 + 13 + 16);
      c.out.base[at] ^= 0x04; /* nonce, ciphertext or tag */
      CHECK_EQ(transfer(&c, &s, 0), UVWS_ETLS);
      CHECK_EQ(s.t.err, MBEDTLS_ERR_SSL_INVALID_MAC);
      CHECK_EQ(s.got.len, 0);
      CHECK(s.out.len > 0);
      CHECK_EQ(transfer(&s, &c, 0), UVWS_ETLS);
      CHECK_EQ(c.t.err, MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
      side_free(&c);
      side_free(&s);
    }
    uvws__tls_conf_free(cc);
    uvws__tls_conf_free(sc);
  }
}

/* What tls_rec.c refuses, or answers, after the handshake. */
static void test_own_records_refused(void) {
  static const struct {
    unsigned char header[5];
    int err; /* the server's mbedTLS error */
  } headers[] = {
      /* 16 KiB of plaintext and one byte more */
      {{23, 3, 3, 0x40, 8 + 16 + 1}, MBEDTLS_ERR_SSL_INVALID_RECORD},
      {{24, 3, 3, 0, 40}, MBEDTLS_ERR_SSL_INVALID_RECORD}, /* no such type */
      {{23, 3, 1, 0, 40}, MBEDTLS_ERR_SSL_INVALID_RECORD}, /* TLS 1.0 */
      {{23, 3, 3, 0, 23}, MBEDTLS_ERR_SSL_INVALID_MAC},    /* too short */
  };
  uvws__tls_conf_t *cc = conf_with(0, 1), *sc = conf_with(1, 1);
  static const char hello_request[4] = {0, 0, 0, 0};
  uvws__tls_iov_t iov;
  side_t c, s;
  size_t i;

  /* A bad header fails at once, before its record's body. */
  for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
    pair_open(&c, &s, cc, sc, 1, 1);
    CHECK_EQ(deliver(&s, (const char *)headers[i].header, 5, 0), UVWS_ETLS);
    CHECK_EQ(s.t.err, headers[i].err);
    CHECK_EQ(transfer(&s, &c, 0), UVWS_ETLS); /* the alert */
    CHECK_EQ(c.t.err, MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
    side_free(&c);
    side_free(&s);
  }

  /* A ChangeCipherSpec, and an alert that is not two bytes. */
  for (i = 0; i < 2; i++) {
    pair_open(&c, &s, cc, sc, 1, 1);
    iov.base = "\x01\x00\x00";
    iov.len = i == 0 ? 1 : 3;
    CHECK_EQ(uvws__tls_rec_write(c.t.rec, &uvws__libc_allocator,
                                 i == 0 ? UVWS__TLS_CHANGE_CIPHER_SPEC
                                        : UVWS__TLS_ALERT,
                                 &iov, 1, &c.out),
             0);
    CHECK_EQ(transfer(&c, &s, 0), UVWS_ETLS);
    CHECK_EQ(s.t.err, i == 0 ? MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE
                             : MBEDTLS_ERR_SSL_INVALID_RECORD);
    side_free(&c);
    side_free(&s);
  }

  /* A request to renegotiate is declined with a warning, and the session
   * goes on, its sequence numbers in step. */
  pair_open(&c, &s, cc, sc, 1, 1);
  iov.base = hello_request;
  iov.len = sizeof(hello_request);
  CHECK_EQ(uvws__tls_rec_write(c.t.rec, &uvws__libc_allocator,
                               UVWS__TLS_HANDSHAKE_MSG, &iov, 1, &c.out),
           0);
  CHECK_EQ(transfer(&c, &s, 0), 0);
  CHECK_EQ(s.out.len, 5 + 8 + 2 + 16); /* the no_renegotiation warning */
  CHECK_EQ(transfer(&s, &c, 0), 0);
  CHECK_EQ(c.t.state, UVWS__TLS_OPEN);
  exchange(&c, &s, 0);
  side_free(&c);
  side_free(&s);
  uvws__tls_conf_free(cc);
  uvws__tls_conf_free(sc);
}

int main(void) {
  certs = getenv("UVWS_TEST_CERTS");
  if (certs == NULL) {
    fprintf(stderr, "UVWS_TEST_CERTS is not set (run through ctest, which "
                    "makes the certificates first)\n");
    return 1;
  }
  test_map_error();
  test_conf();
  test_states();
  test_batching();
  test_verify();
  test_client_certs();
  test_splits();
  if (uvws__aesgcm_supported()) {
    test_own_records();
    test_own_records_tampered();
    test_own_records_refused();
  } else {
    fprintf(stderr, "  no AES-NI or PCLMULQDQ: mbedTLS keeps the records\n");
  }
  printf("test_tls_filter: ok\n");
  return 0;
}

#endif

/* The TLS filter on mbedTLS 2.28: shared configurations and per-connection
 * contexts driven through memory callbacks. See tls.h. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

#include "aesgcm.h"
#include "rand.h"

#ifndef UVWS__SYSTEM_CA_FILE
#define UVWS__SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#endif

/* Decrypted bytes are handed to the engine in chunks of up to this size, so
 * that a message of up to about this size arrives whole, uncopied. */
#define UVWS__TLS_PLAIN (64 * 1024)
/* Ciphertext added to a record: header, explicit nonce, tag (AES-GCM). */
#define UVWS__TLS_OVERHEAD 29

struct uvws__tls_conf_s {
  uvws_allocator_t alloc; /* of the context it was made for */
  mbedtls_ssl_config ssl;
  mbedtls_x509_crt ca;
  mbedtls_x509_crt own;
  mbedtls_pk_context key;
  uvws__rand_t rand;
  const char *alpn[2];
  uint8_t is_server;
  uint8_t verify;      /* client: the server's certificate is checked */
  uint8_t client_cert; /* server: uvws_tls_client_cert_t */
  uint8_t own_records; /* AES-GCM records go through tls_rec.c */
  /* The connection in mbedtls_ssl_handshake(), for the key export. */
  uvws__tls_t *keying;
  /* Scratch shared by the connections; every use ends within one call. */
  char plain[UVWS__TLS_PLAIN];  /* decrypted bytes on their way out */
  char stage[UVWS__TLS_RECORD]; /* small pieces gathered into a record */
};

int uvws__tls_own_records = 1;

/* TLS 1.2 with ephemeral ECDH and AEAD only: forward secrecy, no CBC. The
 * order is the server's choice and the client's offer. With AES-NI and
 * PCLMULQDQ, AES-GCM first: its records are sealed and opened by
 * tls_rec.c, several times as fast as by mbedTLS. Otherwise
 * ChaCha20-Poly1305 first: mbedTLS 2.28 runs it about 1.5 times as fast as
 * its own AES-GCM. */
static const int ciphersuites_aes_first[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0};
static const int ciphersuites_chacha_first[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0};

/* Key exchange groups, and the curves accepted for ECDSA keys. */
static const mbedtls_ecp_group_id curves[] = {
    MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_SECP521R1, MBEDTLS_ECP_DP_NONE};

/* Hashes for handshake signatures: SHA-2 only. */
static const int sig_hashes[] = {MBEDTLS_MD_SHA512, MBEDTLS_MD_SHA384,
                                 MBEDTLS_MD_SHA256, MBEDTLS_MD_NONE};

/* ----------------------------------------------------------------------- */
/* Errors                                                                  */

int uvws__tls_map_error(int err, uint32_t flags) {
  switch (err) {
  case 0:
    return 0;
  case MBEDTLS_ERR_SSL_ALLOC_FAILED:
  case MBEDTLS_ERR_X509_ALLOC_FAILED:
    return UV_ENOMEM;
  case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE:
    /* mbedTLS checks the certificate's key usage after the chain, and
     * reports a wrong one (a client certificate presented by a server)
     * this way, with the flag set. */
    if (flags == 0 || flags == (uint32_t)-1)
      return UVWS_ETLS;
    /* fall through */
  case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
    /* Trust first: what an untrusted certificate says about its dates or
     * names means nothing. */
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
      return UVWS_ECERTUNTRUSTED;
    if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
      return UVWS_ECERTEXPIRED;
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
      return UVWS_ECERTNAME;
    return UVWS_ECERTINVALID;
  default:
    return UVWS_ETLS;
  }
}

static int fail(uvws__tls_t *t, int err) {
  if (t->state != UVWS__TLS_FAILED) {
    t->state = UVWS__TLS_FAILED;
    t->err = err;
    if (err == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
        err == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE)
      t->verify_flags = mbedtls_ssl_get_verify_result(&t->ssl);
    else if (err == MBEDTLS_ERR_X509_FATAL_ERROR && t->verify_flags != 0)
      t->err = MBEDTLS_ERR_X509_CERT_VERIFY_FAILED; /* see verify_optional */
  }
  return uvws__tls_map_error(t->err, t->verify_flags);
}

/* ----------------------------------------------------------------------- */
/* Configurations                                                          */

/* Reads a file whole and NUL-terminates it: mbedTLS's PEM parsers want
 * the terminating NUL counted in the length. */
static int read_file(const uvws_allocator_t *al, const char *path,
                     unsigned char **out, size_t *len) {
  uvws__buf_t b = {0};
  FILE *f = fopen(path, "rb");
  int r = 0;
  if (f == NULL)
    return uv_translate_sys_error(errno);
  for (;;) {
    size_t n;
    if (uvws__buf_reserve(al, &b, 16384) != 0) {
      r = UV_ENOMEM;
      break;
    }
    n = fread(b.base + b.len, 1, b.cap - b.len - 1, f);
    b.len += n;
    if (n == 0) {
      if (ferror(f))
        r = uv_translate_sys_error(errno ? errno : EIO);
      break;
    }
  }
  fclose(f);
  if (r != 0) {
    if (b.base)
      mbedtls_platform_zeroize(b.base, b.cap);
    uvws__buf_free(al, &b);
    return r;
  }
  b.base[b.len++] = '\0';
  *out = (unsigned char *)b.base;
  *len = b.len;
  return 0;
}

/* The bytes of a PEM item given as a file or as text. *owned is set when
 * the bytes were read from a file (the caller wipes and frees them). */
static int pem_bytes(const uvws_allocator_t *al, const char *file,
                     const char *pem, const unsigned char **out, size_t *len,
                     unsigned char **owned) {
  *owned = NULL;
  if (file != NULL) {
    int r = read_file(al, file, owned, len);
    *out = *owned;
    return r;
  }
  *out = (const unsigned char *)pem;
  *len = strlen(pem) + 1;
  return 0;
}

static void release(const uvws_allocator_t *al, unsigned char *owned,
                    size_t len) {
  if (owned != NULL) {
    mbedtls_platform_zeroize(owned, len);
    uvws__free(al, owned);
  }
}

/* Parses certificates. lenient: a list in which some certificates do not
 * parse is taken for those that do (system bundles hold a few that mbedTLS
 * cannot read); otherwise every one must parse. */
static int load_certs(const uvws_allocator_t *al, mbedtls_x509_crt *crt,
                      const char *file, const char *pem, int lenient) {
  const unsigned char *p;
  unsigned char *owned;
  size_t len;
  int r = pem_bytes(al, file, pem, &p, &len, &owned);
  if (r != 0)
    return r;
  r = mbedtls_x509_crt_parse(crt, p, len);
  release(al, owned, len);
  if (r == MBEDTLS_ERR_X509_ALLOC_FAILED)
    return UV_ENOMEM;
  if (r < 0 || (r > 0 && !lenient) || crt->version == 0)
    return UVWS_ETLSCONFIG;
  return 0;
}

static int load_key(const uvws_allocator_t *al, mbedtls_pk_context *key,
                    const char *file, const char *pem, const char *password) {
  const unsigned char *p;
  unsigned char *owned;
  size_t len;
  int r = pem_bytes(al, file, pem, &p, &len, &owned);
  if (r != 0)
    return r;
  r = mbedtls_pk_parse_key(key, p, len, (const unsigned char *)password,
                           password ? strlen(password) : 0);
  release(al, owned, len);
  if (r == MBEDTLS_ERR_PK_ALLOC_FAILED)
    return UV_ENOMEM;
  return r == 0 ? 0 : UVWS_ETLSCONFIG;
}

/* mbedTLS derived the session's keys (RFC 5246 6.3). For AES-GCM they are
 * kept for tls_rec.c: the key block is client_write_key, server_write_key,
 * client_write_IV, server_write_IV (no MAC keys with an AEAD). */
static int export_keys(void *arg, const unsigned char *ms,
                       const unsigned char *kb, size_t maclen, size_t keylen,
                       size_t ivlen, const unsigned char client_random[32],
                       const unsigned char server_random[32],
                       mbedtls_tls_prf_types prf) {
  uvws__tls_conf_t *c = arg;
  uvws__tls_t *t = c->keying;
  const mbedtls_ssl_ciphersuite_t *suite;
  const unsigned char *ck = kb, *sk = kb + keylen, *civ = kb + 2 * keylen,
                      *siv = civ + ivlen;
  (void)ms;
  (void)client_random;
  (void)server_random;
  (void)prf;
  if (t == NULL || t->rec != NULL || t->ssl.session_negotiate == NULL)
    return 0;
  suite =
      mbedtls_ssl_ciphersuite_from_id(t->ssl.session_negotiate->ciphersuite);
  if (suite == NULL ||
      (suite->cipher != MBEDTLS_CIPHER_AES_128_GCM &&
       suite->cipher != MBEDTLS_CIPHER_AES_256_GCM) ||
      maclen != 0 || ivlen != 4 || (keylen != 16 && keylen != 32))
    return 0; /* mbedTLS keeps the records */
  t->rec = uvws__malloc(&c->alloc, sizeof(*t->rec));
  if (t->rec == NULL)
    return 0; /* likewise */
  /* The sequence numbers are set when the records are taken over. */
  if (c->is_server
          ? uvws__tls_rec_init(t->rec, sk, siv, ck, civ, keylen, 0, 0)
          : uvws__tls_rec_init(t->rec, ck, civ, sk, siv, keylen, 0, 0)) {
    uvws__free(&c->alloc, t->rec);
    t->rec = NULL;
  }
  return 0;
}

void uvws__tls_conf_free(uvws__tls_conf_t *c) {
  if (c == NULL)
    return;
  mbedtls_ssl_config_free(&c->ssl);
  mbedtls_x509_crt_free(&c->ca);
  mbedtls_x509_crt_free(&c->own);
  mbedtls_pk_free(&c->key);
  uvws__rand_free(&c->rand);
  mbedtls_platform_zeroize(c->plain, sizeof(c->plain));
  mbedtls_platform_zeroize(c->stage, sizeof(c->stage));
  uvws__free(&c->alloc, c);
}

int uvws__tls_conf_new(const uvws_allocator_t *al, uvws__tls_conf_t **out,
                       int is_server, const uvws_tls_options_t *o) {
  static const uvws_tls_options_t none;
  uvws__tls_conf_t *c;
  int has_cert, has_key, has_ca, r;

  if (o == NULL)
    o = &none;
  has_cert = o->cert_file != NULL || o->cert_pem != NULL;
  has_key = o->key_file != NULL || o->key_pem != NULL;
  has_ca = o->ca_file != NULL || o->ca_pem != NULL;
  if ((o->cert_file && o->cert_pem) || (o->key_file && o->key_pem) ||
      (o->ca_file && o->ca_pem) || has_cert != has_key)
    return UV_EINVAL;
  if ((unsigned)o->client_cert > UVWS_TLS_CLIENT_CERT_REQUIRED)
    return UV_EINVAL;
  if (is_server &&
      (!has_cert || (o->client_cert != UVWS_TLS_CLIENT_CERT_NONE && !has_ca)))
    return UV_EINVAL;

  c = uvws__calloc(al, 1, sizeof(*c));
  if (c == NULL)
    return UV_ENOMEM;
  c->alloc = *al;
  mbedtls_ssl_config_init(&c->ssl);
  mbedtls_x509_crt_init(&c->ca);
  mbedtls_x509_crt_init(&c->own);
  mbedtls_pk_init(&c->key);
  c->is_server = is_server ? 1 : 0;
  c->verify = !is_server && !o->insecure_skip_verify_for_testing;
  c->client_cert = is_server ? (uint8_t)o->client_cert : 0;
  r = uvws__rand_init(&c->rand);
  if (r != 0) {
    /* uvws__rand_init() cleaned up after itself. */
    mbedtls_ssl_config_free(&c->ssl);
    uvws__free(al, c);
    return r;
  }

  r = UVWS_ETLS;
  if (mbedtls_ssl_config_defaults(
          &c->ssl, is_server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
          MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
    goto fail;
  mbedtls_ssl_conf_rng(&c->ssl, mbedtls_ctr_drbg_random, &c->rand.drbg);
  /* TLS 1.2 (3.3) is the only version: mbedTLS 2.28 has no TLS 1.3, and
   * older versions are refused. */
  mbedtls_ssl_conf_min_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  c->own_records = uvws__tls_own_records && uvws__aesgcm_supported();
  mbedtls_ssl_conf_ciphersuites(&c->ssl, uvws__aesgcm_supported()
                                             ? ciphersuites_aes_first
                                             : ciphersuites_chacha_first);
  if (c->own_records)
    mbedtls_ssl_conf_export_keys_ext_cb(&c->ssl, export_keys, c);
  mbedtls_ssl_conf_curves(&c->ssl, curves);
  mbedtls_ssl_conf_sig_hashes(&c->ssl, sig_hashes);
  /* SHA-2 signatures, RSA keys of 2048 bits or more, NIST curves of 256
   * bits or more. */
  mbedtls_ssl_conf_cert_profile(&c->ssl, &mbedtls_x509_crt_profile_next);
  /* RFC 6455 over HTTP/1.1; a server that offers only h2 is refused. */
  c->alpn[0] = "http/1.1";
  c->alpn[1] = NULL;
  if (mbedtls_ssl_conf_alpn_protocols(&c->ssl, c->alpn) != 0)
    goto fail;

  if (has_cert) {
    r = load_certs(al, &c->own, o->cert_file, o->cert_pem, 0);
    if (r == 0)
      r = load_key(al, &c->key, o->key_file, o->key_pem, o->key_password);
    if (r == 0 && mbedtls_pk_check_pair(&c->own.pk, &c->key) != 0)
      r = UVWS_ETLSCONFIG;
    if (r == 0 && mbedtls_ssl_conf_own_cert(&c->ssl, &c->own, &c->key) != 0)
      r = UV_ENOMEM;
    if (r != 0)
      goto fail;
  }

  if (!is_server) {
    /* Sessions are never resumed: no tickets to ask for and keep. */
    mbedtls_ssl_conf_session_tickets(&c->ssl,
                                     MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
  }
  if (is_server) {
    static const int modes[] = {MBEDTLS_SSL_VERIFY_NONE,
                                MBEDTLS_SSL_VERIFY_OPTIONAL,
                                MBEDTLS_SSL_VERIFY_REQUIRED};
    mbedtls_ssl_conf_authmode(&c->ssl, modes[c->client_cert]);
    if (c->client_cert != UVWS_TLS_CLIENT_CERT_NONE) {
      r = load_certs(al, &c->ca, o->ca_file, o->ca_pem, 1);
      if (r != 0)
        goto fail;
      mbedtls_ssl_conf_ca_chain(&c->ssl, &c->ca, NULL);
    }
  } else if (c->verify) {
    mbedtls_ssl_conf_authmode(&c->ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
    if (has_ca)
      r = load_certs(al, &c->ca, o->ca_file, o->ca_pem, 1);
    else
      r = load_certs(al, &c->ca, UVWS__SYSTEM_CA_FILE, NULL, 1);
    if (r != 0)
      goto fail;
    mbedtls_ssl_conf_ca_chain(&c->ssl, &c->ca, NULL);
  } else {
    mbedtls_ssl_conf_authmode(&c->ssl, MBEDTLS_SSL_VERIFY_NONE);
  }
  *out = c;
  return 0;

fail:
  uvws__tls_conf_free(c);
  return r;
}

/* ----------------------------------------------------------------------- */
/* Connections                                                             */

/* The memory callbacks. Ciphertext goes to a growable buffer, so sending
 * never blocks: a record is always taken whole, and mbedtls_ssl_write()
 * never returns WANT_WRITE, which would oblige the caller to call it again
 * with the same bytes. Receiving takes what the current feed holds and
 * says WANT_READ when it is used up; mbedTLS keeps a partial record in its
 * own buffer until the rest arrives. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len) {
  uvws__tls_t *t = ctx;
  if (t->out == NULL)
    return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
  if (uvws__buf_append(&t->conf->alloc, t->out, buf, len) != 0)
    return MBEDTLS_ERR_SSL_ALLOC_FAILED;
  return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len) {
  uvws__tls_t *t = ctx;
  if (t->in_len == 0)
    return MBEDTLS_ERR_SSL_WANT_READ;
  if (len > t->in_len)
    len = t->in_len;
  memcpy(buf, t->in, len);
  t->in += len;
  t->in_len -= len;
  return (int)len;
}

/* A client that connects to an IP literal checks the address against the
 * certificate's iPAddress names (RFC 2818 3.1, RFC 6125 1.7.2):
 * mbedTLS 2.28 compares the expected name with dNSName entries only.
 * Called for every certificate of the chain; only the leaf matters. */
static int verify_ip(void *ctx, mbedtls_x509_crt *crt, int depth,
                     uint32_t *flags) {
  const uvws__tls_t *t = ctx;
  const mbedtls_x509_sequence *san;
  if (depth != 0)
    return 0;
  if (crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) {
    for (san = &crt->subject_alt_names; san != NULL; san = san->next) {
      /* GeneralName iPAddress: [7] IMPLICIT OCTET STRING (RFC 5280). */
      if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
          san->buf.len == t->ip_len &&
          memcmp(san->buf.p, t->ip, t->ip_len) == 0)
        return 0;
    }
  }
  *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  return 0;
}

/* A server that asks for client certificates without requiring them
 * accepts a client without one, not a client whose certificate fails
 * verification: mbedTLS's optional mode would let that one in. An error
 * from this callback ends the handshake (mbedTLS turns it into
 * MBEDTLS_ERR_X509_FATAL_ERROR and sends an alert) before the server's
 * Finished, so the client sees a failed handshake too. */
static int verify_optional(void *ctx, mbedtls_x509_crt *crt, int depth,
                           uint32_t *flags) {
  uvws__tls_t *t = ctx;
  (void)crt;
  (void)depth;
  if (*flags == 0)
    return 0;
  t->verify_flags |= *flags;
  return MBEDTLS_ERR_X509_CERT_VERIFY_FAILED;
}

int uvws__tls_init(uvws__tls_t *t, uvws__tls_conf_t *conf, const char *host) {
  int r;
  memset(t, 0, sizeof(*t));
  t->conf = conf;
  mbedtls_ssl_init(&t->ssl);
  r = mbedtls_ssl_setup(&t->ssl, &conf->ssl);
  if (r != 0)
    goto fail;
  mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
  if (conf->client_cert == UVWS_TLS_CLIENT_CERT_OPTIONAL)
    mbedtls_ssl_set_verify(&t->ssl, verify_optional, t);
  if (!conf->is_server && host != NULL) {
    if (inet_pton(AF_INET, host, t->ip) == 1)
      t->ip_len = 4;
    else if (inet_pton(AF_INET6, host, t->ip) == 1)
      t->ip_len = 16;
    if (t->ip_len != 0) {
      /* RFC 6066 3: no server name indication for an address, and no name
       * for mbedTLS to check: verify_ip checks the address. The explicit
       * NULL also tells mbedTLS releases that insist on a name (2.28.10 and
       * later) that leaving it out is deliberate. */
      r = mbedtls_ssl_set_hostname(&t->ssl, NULL);
      if (r != 0)
        goto fail;
      if (conf->verify)
        mbedtls_ssl_set_verify(&t->ssl, verify_ip, t);
    } else {
      /* The server name indication, and the name verified. */
      r = mbedtls_ssl_set_hostname(&t->ssl, host);
      if (r != 0)
        goto fail;
    }
  }
  return 0;

fail:
  mbedtls_ssl_free(&t->ssl);
  return r == MBEDTLS_ERR_SSL_ALLOC_FAILED ? UV_ENOMEM : UVWS_ETLS;
}

/* Releases the record layer's keys, if any. */
static void drop_rec(uvws__tls_t *t) {
  if (t->rec == NULL)
    return;
  uvws__tls_rec_free(t->rec, &t->conf->alloc);
  uvws__free(&t->conf->alloc, t->rec);
  t->rec = NULL;
}

void uvws__tls_free(uvws__tls_t *t) {
  drop_rec(t);
  uvws__free(&t->conf->alloc, t->peer_subject);
  t->peer_subject = NULL;
  if (!t->ssl_freed)
    mbedtls_ssl_free(&t->ssl);
  t->ssl_freed = 1;
}

/* Keeps the peer certificate's subject, which uvws__tls_peer_subject()
 * gives after mbedTLS's context is gone. 0 or UV_ENOMEM. */
static int keep_subject(uvws__tls_t *t) {
  const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&t->ssl);
  size_t size = 256;
  char *p;
  int n;
  if (crt == NULL)
    return 0;
  for (;;) {
    p = uvws__malloc(&t->conf->alloc, size);
    if (p == NULL)
      return UV_ENOMEM;
    n = mbedtls_x509_dn_gets(p, size, &crt->subject);
    if (n >= 0)
      break;
    uvws__free(&t->conf->alloc, p);
    if (size >= 64 * 1024)
      return 0; /* no subject to give */
    size *= 2;
  }
  t->peer_subject = p;
  t->peer_subject_len = (size_t)n;
  return 0;
}

static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  int i;
  for (i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

/* The handshake is over: from here on, records are tls_rec.c's if it has
 * the keys and mbedTLS holds nothing back. mbedTLS reads a record at a
 * time and only what the record needs, so the bytes after the peer's
 * Finished are still in t->in; its next sequence numbers are taken over. */
static void take_over(uvws__tls_t *t) {
  if (t->rec == NULL)
    return;
  if (mbedtls_ssl_check_pending(&t->ssl) != 0 ||
      t->ssl.minor_ver != MBEDTLS_SSL_MINOR_VERSION_3) {
    drop_rec(t);
    return;
  }
  t->rec->seal_seq = get64(t->ssl.cur_out_ctr);
  t->rec->open_seq = get64(t->ssl.in_ctr);
  t->rec_on = 1;
  /* mbedTLS has nothing more to do: its context goes, with the record
   * buffers, unless keeping what is asked of it fails. */
  t->suite = mbedtls_ssl_get_ciphersuite(&t->ssl);
  if (keep_subject(t) == 0) {
    mbedtls_ssl_free(&t->ssl);
    t->ssl_freed = 1;
  }
}

/* Runs the handshake as far as the input allows. 0 when it needs more
 * input or completed (state OPEN), else an error. */
static int handshake(uvws__tls_t *t) {
  size_t before = t->out->len;
  int r;
  t->conf->keying = t;
  r = mbedtls_ssl_handshake(&t->ssl);
  t->conf->keying = NULL;
  if (r == MBEDTLS_ERR_SSL_WANT_READ)
    return 0;
  if (r != 0) {
    /* The peer learns why with an alert. mbedTLS sends one for most
     * failures, not all (a server missing a required client certificate
     * sends none), and none is owed for the peer's own fatal alert. */
    if (t->out->len == before && r != MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE &&
        r != MBEDTLS_ERR_SSL_ALLOC_FAILED)
      mbedtls_ssl_send_alert_message(&t->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                     MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
    return fail(t, r);
  }
  t->state = UVWS__TLS_OPEN;
  t->opened = 1;
  take_over(t);
  return 0;
}

int uvws__tls_start(uvws__tls_t *t, uvws__buf_t *out) {
  uvws__buf_t *saved = t->out;
  int r;
  if (t->conf->is_server || t->state != UVWS__TLS_HANDSHAKE)
    return 0;
  t->out = out;
  r = handshake(t);
  t->out = saved;
  return r;
}

/* An alert, sealed by tls_rec.c, appended to t->out. */
static int rec_alert(uvws__tls_t *t, int level, int desc) {
  char a[2];
  uvws__tls_iov_t iov;
  a[0] = (char)level;
  a[1] = (char)desc;
  iov.base = a;
  iov.len = 2;
  return uvws__tls_rec_write(t->rec, &t->conf->alloc, UVWS__TLS_ALERT, &iov, 1,
                             t->out);
}

/* A record went wrong: the peer is told (fatal alert desc, when not 0) and
 * t fails with the mbedTLS error that stands for it. */
static int rec_fail(uvws__tls_t *t, int desc, int err) {
  if (desc != 0)
    (void)rec_alert(t, MBEDTLS_SSL_ALERT_LEVEL_FATAL, desc);
  return fail(t, err);
}

/* One record from the input, through tls_rec.c. Application data is
 * opened at plain + *fill, which has room for a record. Returns 1 to go
 * on, 0 when the input is used up or the peer's close_notify came, or an
 * error. RFC 5246 7.2: a close_notify ends the reading; any other fatal
 * alert fails the session; warnings are ignored. A handshake message is a
 * request to renegotiate, which is declined with a warning (5246 7.2.2),
 * as mbedTLS does. */
static int rec_step(uvws__tls_t *t, char *plain, size_t *fill) {
  const unsigned char *p = (const unsigned char *)plain + *fill;
  size_t n;
  int type, e;

  e = uvws__tls_rec_read(t->rec, &t->conf->alloc, &t->in, &t->in_len,
                         plain + *fill, &n, &type);
  switch (e) {
  case 1:
    break;
  case 0:
    return 0;
  case UVWS__TLS_REC_EBADMAC:
    return rec_fail(t, MBEDTLS_SSL_ALERT_MSG_BAD_RECORD_MAC,
                    MBEDTLS_ERR_SSL_INVALID_MAC);
  case UVWS__TLS_REC_EOVERFLOW:
    return rec_fail(t, MBEDTLS_SSL_ALERT_MSG_RECORD_OVERFLOW,
                    MBEDTLS_ERR_SSL_INVALID_RECORD);
  case UVWS__TLS_REC_EVERSION:
    return rec_fail(t, MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION,
                    MBEDTLS_ERR_SSL_INVALID_RECORD);
  case UVWS__TLS_REC_ENOMEM:
    return rec_fail(t, MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR,
                    MBEDTLS_ERR_SSL_ALLOC_FAILED);
  case UVWS__TLS_REC_ESEQ:
    return rec_fail(t, 0, MBEDTLS_ERR_SSL_COUNTER_WRAPPING);
  default: /* UVWS__TLS_REC_EUNEXPECTED */
    return rec_fail(t, MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE,
                    MBEDTLS_ERR_SSL_INVALID_RECORD);
  }
  switch (type) {
  case UVWS__TLS_APPLICATION_DATA:
    *fill += n;
    return 1;
  case UVWS__TLS_ALERT:
    if (n != 2)
      return rec_fail(t, MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR,
                      MBEDTLS_ERR_SSL_INVALID_RECORD);
    if (p[1] == MBEDTLS_SSL_ALERT_MSG_CLOSE_NOTIFY) {
      t->state = UVWS__TLS_PEER_CLOSED;
      return 0;
    }
    if (p[0] == MBEDTLS_SSL_ALERT_LEVEL_FATAL)
      return fail(t, MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
    return 1;
  case UVWS__TLS_HANDSHAKE_MSG:
    if (rec_alert(t, MBEDTLS_SSL_ALERT_LEVEL_WARNING,
                  MBEDTLS_SSL_ALERT_MSG_NO_RENEGOTIATION) != 0)
      return fail(t, MBEDTLS_ERR_SSL_ALLOC_FAILED);
    return 1;
  default: /* ChangeCipherSpec, outside a handshake */
    return rec_fail(t, MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE,
                    MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE);
  }
}

int uvws__tls_feed(uvws__tls_t *t, const char *in, size_t len, uvws__buf_t *out,
                   const uvws__tls_cbs_t *cbs, void *arg) {
  uvws__buf_t *saved = t->out;
  char *plain = t->conf->plain;
  size_t fill = 0;
  int r = 0, stop = 0, n;

  if (t->state == UVWS__TLS_FAILED)
    return uvws__tls_map_error(t->err, t->verify_flags);
  t->in = in;
  t->in_len = len;
  t->out = out;
  while (!stop && r == 0) {
    if (t->state == UVWS__TLS_HANDSHAKE) {
      r = handshake(t);
      if (r != 0 || t->state != UVWS__TLS_OPEN)
        break;
      stop = cbs->on_open(arg);
      continue;
    }
    if (t->state != UVWS__TLS_OPEN)
      break;
    if (t->rec_on) {
      if (UVWS__TLS_PLAIN - fill < UVWS__TLS_RECORD) {
        stop = cbs->on_data(arg, plain, fill);
        fill = 0;
        continue;
      }
      n = rec_step(t, plain, &fill);
      if (n < 0)
        r = n;
      else if (n == 0)
        break;
      continue;
    }
    n = mbedtls_ssl_read(&t->ssl, (unsigned char *)plain + fill,
                         UVWS__TLS_PLAIN - fill);
    if (n > 0) {
      fill += (size_t)n;
      if (fill == UVWS__TLS_PLAIN) {
        stop = cbs->on_data(arg, plain, fill);
        fill = 0;
      }
    } else if (n == MBEDTLS_ERR_SSL_WANT_READ || n == 0) {
      break;
    } else if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      t->state = UVWS__TLS_PEER_CLOSED;
    } else {
      r = fail(t, n);
    }
  }
  /* What was decrypted before a close_notify or an error comes first. */
  if (fill > 0 && !stop)
    cbs->on_data(arg, plain, fill);
  t->in = NULL;
  t->in_len = 0;
  t->out = saved;
  return r;
}

/* Encrypts p[0..len) into as many records as it takes. */
static int write_all(uvws__tls_t *t, const char *p, size_t len) {
  while (len > 0) {
    int n = mbedtls_ssl_write(&t->ssl, (const unsigned char *)p, len);
    if (n <= 0)
      return fail(t, n == 0 || n == MBEDTLS_ERR_SSL_WANT_WRITE
                         ? MBEDTLS_ERR_SSL_INTERNAL_ERROR
                         : n);
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int uvws__tls_writev(uvws__tls_t *t, const uvws__tls_iov_t *iov, size_t n,
                     uvws__buf_t *out) {
  uvws__buf_t *saved = t->out;
  char *stage = t->conf->stage;
  size_t staged = 0, i, off = 0, total = 0;
  int r = 0;

  if (t->state != UVWS__TLS_OPEN && t->state != UVWS__TLS_PEER_CLOSED)
    return t->state == UVWS__TLS_FAILED
               ? uvws__tls_map_error(t->err, t->verify_flags)
               : UVWS_ESTATE;
  if (t->rec_on) {
    r = uvws__tls_rec_write(t->rec, &t->conf->alloc, UVWS__TLS_APPLICATION_DATA,
                            iov, n, out);
    if (r == UVWS__TLS_REC_ESEQ)
      return fail(t, MBEDTLS_ERR_SSL_COUNTER_WRAPPING);
    return r;
  }
  for (i = 0; i < n; i++)
    total += iov[i].len;
  if (uvws__buf_reserve(&t->conf->alloc, out,
                        total + (total / UVWS__TLS_RECORD + n + 1) *
                                    UVWS__TLS_OVERHEAD) != 0)
    return UV_ENOMEM;
  t->out = out;
  i = 0;
  while (r == 0 && i < n) {
    const char *p = iov[i].base + off;
    size_t left = iov[i].len - off, take;
    if (left == 0) {
      i++;
      off = 0;
    } else if (staged == 0 && left >= UVWS__TLS_RECORD) {
      /* Whole records straight from the caller's bytes. */
      take = left - left % UVWS__TLS_RECORD;
      r = write_all(t, p, take);
      off += take;
    } else {
      take = UVWS__TLS_RECORD - staged;
      if (take > left)
        take = left;
      memcpy(stage + staged, p, take);
      staged += take;
      off += take;
      if (staged == UVWS__TLS_RECORD) {
        r = write_all(t, stage, staged);
        staged = 0;
      }
    }
  }
  if (r == 0 && staged > 0)
    r = write_all(t, stage, staged);
  t->out = saved;
  return r;
}

int uvws__tls_close_notify(uvws__tls_t *t, uvws__buf_t *out) {
  uvws__buf_t *saved = t->out;
  int r;
  if (!t->opened || t->state == UVWS__TLS_FAILED)
    return 0;
  t->out = out;
  if (t->rec_on) {
    /* A warning alert, close_notify (RFC 5246 7.2.1). */
    r = rec_alert(t, MBEDTLS_SSL_ALERT_LEVEL_WARNING,
                  MBEDTLS_SSL_ALERT_MSG_CLOSE_NOTIFY);
    if (r != 0)
      r = r == UV_ENOMEM ? MBEDTLS_ERR_SSL_ALLOC_FAILED
                         : MBEDTLS_ERR_SSL_COUNTER_WRAPPING;
  } else {
    r = mbedtls_ssl_close_notify(&t->ssl);
  }
  t->out = saved;
  return r == 0 ? 0 : fail(t, r);
}

const char *uvws__tls_ciphersuite(const uvws__tls_t *t) {
  if (t->ssl_freed)
    return t->suite;
  return t->opened ? mbedtls_ssl_get_ciphersuite(&t->ssl) : NULL;
}

int uvws__tls_peer_subject(const uvws__tls_t *t, char *buf, size_t size) {
  const mbedtls_x509_crt *crt;
  int n;
  if (t->ssl_freed) {
    if (t->peer_subject == NULL)
      return UV_ENOENT;
    if (t->peer_subject_len >= size)
      return UV_ENOBUFS;
    memcpy(buf, t->peer_subject, t->peer_subject_len + 1);
    return (int)t->peer_subject_len;
  }
  if (!t->opened || (crt = mbedtls_ssl_get_peer_cert(&t->ssl)) == NULL)
    return UV_ENOENT;
  n = mbedtls_x509_dn_gets(buf, size, &crt->subject);
  return n < 0 ? UV_ENOBUFS : n;
}

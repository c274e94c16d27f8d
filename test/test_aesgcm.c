/* AES-GCM on AES-NI and PCLMULQDQ (src/aesgcm.c): the published test
 * vectors, then every length from 0 to 600 bytes and record-sized ones,
 * with several lengths of additional data, against mbedTLS's AES-GCM;
 * sealing in place and not; opening refuses any flipped bit. With the
 * 512-bit instructions and without them, where the processor has them. */
#include "test.h"

#include <stdint.h>

#include <uv.h>

#include "aesgcm.h"

#ifndef UVWS_WITH_TLS
int main(void) {
  printf("test_aesgcm: built without TLS (mbedTLS is the reference)\n");
  return 0;
}
#else

#include <mbedtls/gcm.h>

static size_t unhex(const char *s, unsigned char *out) {
  size_t n = 0;
  unsigned v;
  while (s[0] && s[1] && sscanf(s, "%2x", &v) == 1) {
    out[n++] = (unsigned char)v;
    s += 2;
  }
  return n;
}

/* The test cases of "The Galois/Counter Mode of Operation (GCM)" (McGrew
 * and Viega), which SP 800-38D's validation uses: 96-bit IVs. */
static const struct {
  const char *key, *iv, *plain, *aad, *cipher, *tag;
} vectors[] = {
    {"00000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "58e2fccefa7e3061367f1d57a4e7455a"},
    {"00000000000000000000000000000000", "000000000000000000000000",
     "00000000000000000000000000000000", "", "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"},
    {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
     "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "",
     "530f8afbc74536b9a963b4f1c4cb738b"},
    {"0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

static void test_vectors(void) {
  size_t i;
  for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
    unsigned char key[32], iv[12], plain[64], aad[20], cipher[64], tag[16];
    unsigned char out[64], mine[16];
    size_t klen = unhex(vectors[i].key, key);
    size_t plen = unhex(vectors[i].plain, plain);
    size_t alen = unhex(vectors[i].aad, aad);
    size_t clen = unhex(vectors[i].cipher, cipher);
    uvws__aesgcm_t g;
    CHECK_EQ(unhex(vectors[i].iv, iv), 12);
    CHECK_EQ(unhex(vectors[i].tag, tag), 16);
    CHECK(clen >= plen); /* the listed ciphertext may run past the plaintext */
    CHECK_EQ(uvws__aesgcm_init(&g, key, klen), 0);
    uvws__aesgcm_seal(&g, iv, aad, alen, plain, out, plen, mine);
    CHECK(memcmp(out, cipher, plen) == 0);
    CHECK(memcmp(mine, tag, 16) == 0);
    CHECK_EQ(uvws__aesgcm_open(&g, iv, aad, alen, cipher, out, plen, tag), 0);
    CHECK(memcmp(out, plain, plen) == 0);
  }
  fprintf(stderr, "  %zu published vectors\n", i);
}

static uint32_t rng = 0x9e3779b9u;

static void fill(unsigned char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    p[i] = (unsigned char)(rng >> 7);
  }
}

/* One case against mbedTLS, then opened by us, in place and not, and
 * refused with one bit flipped in the tag, the ciphertext or the aad. */
static void one(size_t klen, size_t len, size_t alen) {
  static unsigned char plain[20000], ref[20000], out[20000], back[20000];
  unsigned char key[32], iv[12], aad[64], tag[16], reftag[16];
  mbedtls_gcm_context m;
  uvws__aesgcm_t g;

  fill(key, klen);
  fill(iv, 12);
  fill(aad, alen);
  fill(plain, len);
  mbedtls_gcm_init(&m);
  CHECK_EQ(
      mbedtls_gcm_setkey(&m, MBEDTLS_CIPHER_ID_AES, key, (unsigned)klen * 8),
      0);
  CHECK_EQ(mbedtls_gcm_crypt_and_tag(&m, MBEDTLS_GCM_ENCRYPT, len, iv, 12, aad,
                                     alen, plain, ref, 16, reftag),
           0);
  mbedtls_gcm_free(&m);

  CHECK_EQ(uvws__aesgcm_init(&g, key, klen), 0);
  uvws__aesgcm_seal(&g, iv, aad, alen, plain, out, len, tag);
  CHECK(memcmp(out, ref, len) == 0);
  CHECK(memcmp(tag, reftag, 16) == 0);
  /* In place. */
  memcpy(out, plain, len);
  uvws__aesgcm_seal(&g, iv, aad, alen, out, out, len, tag);
  CHECK(memcmp(out, ref, len) == 0);
  CHECK(memcmp(tag, reftag, 16) == 0);

  CHECK_EQ(uvws__aesgcm_open(&g, iv, aad, alen, ref, back, len, tag), 0);
  CHECK(memcmp(back, plain, len) == 0);
  memcpy(back, ref, len);
  CHECK_EQ(uvws__aesgcm_open(&g, iv, aad, alen, back, back, len, tag), 0);
  CHECK(memcmp(back, plain, len) == 0);

  tag[len % 16] ^= 0x01;
  CHECK_EQ(uvws__aesgcm_open(&g, iv, aad, alen, ref, back, len, tag), -1);
  tag[len % 16] ^= 0x01;
  if (len > 0) {
    ref[(len * 7) % len] ^= 0x80;
    CHECK_EQ(uvws__aesgcm_open(&g, iv, aad, alen, ref, back, len, tag), -1);
    ref[(len * 7) % len] ^= 0x80;
  }
  if (alen > 0) {
    aad[alen - 1] ^= 0x10;
    CHECK_EQ(uvws__aesgcm_open(&g, iv, aad, alen, ref, back, len, tag), -1);
  }
  iv[11] ^= 0x02;
  CHECK_EQ(uvws__aesgcm_open(&g, iv, aad, alen, ref, back, len, tag), -1);
}

static void test_against_mbedtls(void) {
  static const size_t big[] = {1024, 4096, 16383, 16384, 16400, 19999};
  static const size_t aads[] = {0, 1, 13, 16, 17, 40, 64};
  size_t klen, len, i, runs = 0;
  for (klen = 16; klen <= 32; klen += 16) {
    for (len = 0; len <= 600; len++) {
      one(klen, len, aads[len % 7]);
      runs++;
    }
    for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
      one(klen, big[i], 13);
      runs++;
    }
  }
  fprintf(stderr, "  %zu cases against mbedTLS\n", runs);
}

static void test_bad_key(void) {
  unsigned char key[24] = {0};
  uvws__aesgcm_t g;
  CHECK_EQ(uvws__aesgcm_init(&g, key, 24), UV_EINVAL);
  CHECK_EQ(uvws__aesgcm_init(&g, key, 0), UV_EINVAL);
}

int main(void) {
  if (!uvws__aesgcm_supported()) {
    printf("test_aesgcm: this processor lacks AES-NI or PCLMULQDQ; the "
           "record layer stays on mbedTLS\n");
    return 0;
  }
  {
    /* The 512-bit steps where the processor has them, then the 128-bit
     * code alone. */
    uvws__aesgcm_t g;
    unsigned char key[16] = {0};
    int wide;
    CHECK_EQ(uvws__aesgcm_init(&g, key, 16), 0);
    for (wide = g.wide; wide >= 0; wide--) {
      uvws__aesgcm_wide_allowed = wide;
      CHECK_EQ(uvws__aesgcm_init(&g, key, 16), 0);
      CHECK_EQ(g.wide, wide);
      fprintf(stderr, " %s:\n",
              wide ? "VAES and VPCLMULQDQ, 512 bits"
                   : "AES-NI and PCLMULQDQ, 128 bits");
      test_vectors();
      test_against_mbedtls();
    }
    uvws__aesgcm_wide_allowed = 1;
  }
  test_bad_key();
  printf("test_aesgcm: ok\n");
  return 0;
}

#endif

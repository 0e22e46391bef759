#include "blake2b.h"

#include <dlfcn.h>
#include <openssl/evp.h> /* types only: libcrypto is loaded at run time */
#include <sodium.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static struct {
  EVP_MD_CTX *(*ctx_new)(void);
  void (*ctx_free)(EVP_MD_CTX *);
  const EVP_MD *(*blake2b512)(void);
  int (*init)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
  int (*update)(EVP_MD_CTX *, const void *, size_t);
  int (*final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
  const EVP_MD *md;
  bool loaded;
} crypto;

static bool force_sodium;
static uv_once_t once = UV_ONCE_INIT;

/* Object pointers from dlsym are converted through memcpy: ISO C has no cast between them. */
static bool sym(void *lib, const char *name, void *fn, size_t size) {
  void *p = dlsym(lib, name);
  if (!p) return false;
  memcpy(fn, &p, size);
  return true;
}

static void load_libcrypto(void) {
  void *lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return; /* libsodium it is */
  bool ok = sym(lib, "EVP_MD_CTX_new", &crypto.ctx_new, sizeof crypto.ctx_new) &&
            sym(lib, "EVP_MD_CTX_free", &crypto.ctx_free, sizeof crypto.ctx_free) &&
            sym(lib, "EVP_blake2b512", &crypto.blake2b512, sizeof crypto.blake2b512) &&
            sym(lib, "EVP_DigestInit_ex", &crypto.init, sizeof crypto.init) &&
            sym(lib, "EVP_DigestUpdate", &crypto.update, sizeof crypto.update) &&
            sym(lib, "EVP_DigestFinal_ex", &crypto.final, sizeof crypto.final);
  crypto.md = ok ? crypto.blake2b512() : NULL;
  crypto.loaded = crypto.md != NULL;
  if (!crypto.loaded) dlclose(lib);
  /* else kept for the life of the process, as a linked library would be */
}

struct cdht_blake2b {
  crypto_generichash_blake2b_state sodium; /* first: the allocation is aligned for it */
  EVP_MD_CTX *evp;                         /* NULL: libsodium */
};

static bool use_crypto(void) {
  uv_once(&once, load_libcrypto);
  return crypto.loaded && !force_sodium;
}

const char *cdht_blake2b_library(void) { return use_crypto() ? "libcrypto" : "libsodium"; }

void cdht_blake2b_force_libsodium(bool on) { force_sodium = on; }

cdht_blake2b *cdht_blake2b_new(void) {
  size_t align = alignof(crypto_generichash_blake2b_state);
  size_t size = (sizeof(cdht_blake2b) + align - 1) / align * align; /* aligned_alloc wants a multiple */
  cdht_blake2b *h = aligned_alloc(align, size);
  if (!h) return NULL;
  memset(h, 0, size);
  if (use_crypto() && !(h->evp = crypto.ctx_new())) {
    free(h);
    return NULL;
  }
  return h;
}

void cdht_blake2b_free(cdht_blake2b *h) {
  if (!h) return;
  if (h->evp) crypto.ctx_free(h->evp);
  free(h);
}

bool cdht_blake2b_init(cdht_blake2b *h) {
  if (h->evp) return crypto.init(h->evp, crypto.md, NULL) == 1;
  return crypto_generichash_blake2b_init(&h->sodium, NULL, 0, CDHT_BLAKE2B_LEN) == 0;
}

bool cdht_blake2b_update(cdht_blake2b *h, const uint8_t *p, size_t n) {
  if (h->evp) return crypto.update(h->evp, p, n) == 1;
  return crypto_generichash_blake2b_update(&h->sodium, p, n) == 0;
}

bool cdht_blake2b_final(cdht_blake2b *h, uint8_t out[CDHT_BLAKE2B_LEN]) {
  if (h->evp) {
    unsigned len = 0;
    return crypto.final(h->evp, out, &len) == 1 && len == CDHT_BLAKE2B_LEN;
  }
  return crypto_generichash_blake2b_final(&h->sodium, out, CDHT_BLAKE2B_LEN) == 0;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto.c: libcrypto's HMAC and SHA-256 through dlopen (crypto.h). The
 * OpenSSL headers give the functions' types; the library itself is
 * looked up at first use.
 */
#include "runtime/crypto.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>

static struct {
    pthread_once_t once;
    void *lib;
    char why[200];
    __typeof__(&EVP_sha256) sha256;
    __typeof__(&HMAC) hmac;
    __typeof__(&EVP_MD_CTX_new) ctx_new;
    __typeof__(&EVP_MD_CTX_free) ctx_free;
    __typeof__(&EVP_DigestInit_ex) init;
    __typeof__(&EVP_DigestUpdate) update;
    __typeof__(&EVP_DigestFinal_ex) final;
} C = {.once = PTHREAD_ONCE_INIT};

static void *
sym(const char *name)
{
    void *p = C.lib ? dlsym(C.lib, name) : NULL;
    if (!p && !C.why[0])
        snprintf(C.why, sizeof(C.why), "libcrypto has no %s", name);
    return p;
}

static void
load(void)
{
    C.lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!C.lib)
        C.lib = dlopen("libcrypto.so", RTLD_NOW | RTLD_LOCAL);
    if (!C.lib) {
        const char *e = dlerror();
        snprintf(C.why, sizeof(C.why),
                 "cannot load OpenSSL's libcrypto (Debian: libssl3): %s",
                 e ? e : "not found");
        return;
    }
    C.sha256 = (__typeof__(C.sha256))sym("EVP_sha256");
    C.hmac = (__typeof__(C.hmac))sym("HMAC");
    C.ctx_new = (__typeof__(C.ctx_new))sym("EVP_MD_CTX_new");
    C.ctx_free = (__typeof__(C.ctx_free))sym("EVP_MD_CTX_free");
    C.init = (__typeof__(C.init))sym("EVP_DigestInit_ex");
    C.update = (__typeof__(C.update))sym("EVP_DigestUpdate");
    C.final = (__typeof__(C.final))sym("EVP_DigestFinal_ex");
}

bool
rt_crypto_ready(char *why, size_t whylen)
{
    pthread_once(&C.once, load);
    bool ok = C.lib && !C.why[0];
    if (!ok && why)
        snprintf(why, whylen, "%s", C.why);
    return ok;
}

bool
rt_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg,
               size_t len, uint8_t out[32])
{
    if (!rt_crypto_ready(NULL, 0))
        return false;
    unsigned int outlen = 32;
    return C.hmac(C.sha256(), key, (int)keylen, msg, len, out, &outlen) != NULL;
}

rt_sha256 *
rt_sha256_new(void)
{
    if (!rt_crypto_ready(NULL, 0))
        return NULL;
    EVP_MD_CTX *ctx = C.ctx_new();
    if (ctx && !C.init(ctx, C.sha256(), NULL)) {
        C.ctx_free(ctx);
        ctx = NULL;
    }
    return (rt_sha256 *)ctx;
}

void
rt_sha256_update(rt_sha256 *h, const void *data, size_t len)
{
    C.update((EVP_MD_CTX *)h, data, len);
}

void
rt_sha256_final(rt_sha256 *h, uint8_t out[32])
{
    unsigned int l = 32;
    C.final((EVP_MD_CTX *)h, out, &l);
    C.ctx_free((EVP_MD_CTX *)h);
}

bool
rt_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(x[i] ^ y[i]);
    return d == 0;
}

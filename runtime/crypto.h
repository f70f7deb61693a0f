/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto.h: HMAC-SHA256 and SHA-256 for the cluster's handshake and for
 * naming executables, from OpenSSL's libcrypto loaded on first use
 * (dlopen). A program built with rayc that never joins a cluster, and
 * every worker process it starts, never loads it: linked, it made each
 * process start slower (actor creation, a process each, fell from about
 * 2100 to 1650/s).
 *
 * Thread-safe. Every function fails (false / NULL) when libcrypto cannot
 * be loaded; rt_crypto_ready says why.
 */
#ifndef RAY_RUNTIME_CRYPTO_H
#define RAY_RUNTIME_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Load libcrypto now (once per process): true, or false with the reason
 * in `why`. */
bool rt_crypto_ready(char *why, size_t whylen);

/* HMAC-SHA256 of `len` bytes of `msg` under `key`. */
bool rt_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg,
                    size_t len, uint8_t out[32]);

/* SHA-256 in steps: new, update..., final (which frees it). */
typedef struct rt_sha256 rt_sha256;
rt_sha256 *rt_sha256_new(void);
void rt_sha256_update(rt_sha256 *h, const void *data, size_t len);
void rt_sha256_final(rt_sha256 *h, uint8_t out[32]);

/* Equal, in time that does not depend on where they differ. */
bool rt_ct_equal(const void *a, const void *b, size_t n);

#endif /* RAY_RUNTIME_CRYPTO_H */

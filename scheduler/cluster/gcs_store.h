/* SPDX-License-Identifier: Apache-2.0
 *
 * gcs_store.h: where the GCS keeps what must outlive the head process:
 * the key-value entries no connection owns (named detached actors, and
 * whatever drivers put for good). The GCS serves from memory and writes
 * each change through to the store; a head that starts again loads them
 * back. Nodes register again on their own and ephemeral entries belong
 * to live connections, so neither is stored.
 *
 * Backends, by the spec `rayc start --head --storage=` gives:
 *   "memory"          nothing kept (the tables die with the head)
 *   a file path       SQLite (Debian's libsqlite3: one file, atomic
 *                     commits, no server), the default: <temp dir>/gcs.db
 *   redis://HOST:PORT[/PREFIX]
 *                     a Redis server (hiredis), for a head that moves
 *                     between machines or a server kept highly available
 */
#ifndef RAY_SCHEDULER_CLUSTER_GCS_STORE_H
#define RAY_SCHEDULER_CLUSTER_GCS_STORE_H

#include <stddef.h>

#include "runtime/status.h"

typedef struct gcs_store gcs_store;

/* Open the store `spec` names. RAY_OK and *out (NULL for "memory"), or
 * an error with why. */
ray_err gcs_store_open(const char *spec, gcs_store **out, char *why,
                       size_t whylen);

/* Keep (replace) or forget one entry. RAY_OK, or an error with why. */
ray_err gcs_store_put(gcs_store *s, const char *ns, const void *key,
                      size_t klen, const void *val, size_t vlen, char *why,
                      size_t whylen);
ray_err gcs_store_del(gcs_store *s, const char *ns, const void *key,
                      size_t klen, char *why, size_t whylen);

/* Every entry kept, in no set order. */
typedef void (*gcs_store_each)(void *arg, const char *ns, const void *key,
                               size_t klen, const void *val, size_t vlen);
ray_err gcs_store_load(gcs_store *s, gcs_store_each each, void *arg, char *why,
                       size_t whylen);

void gcs_store_close(gcs_store *s);

#endif /* RAY_SCHEDULER_CLUSTER_GCS_STORE_H */

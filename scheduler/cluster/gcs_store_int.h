/* SPDX-License-Identifier: Apache-2.0
 *
 * gcs_store_int.h: what a backend of gcs_store.h provides.
 */
#ifndef RAY_SCHEDULER_CLUSTER_GCS_STORE_INT_H
#define RAY_SCHEDULER_CLUSTER_GCS_STORE_INT_H

#include "scheduler/cluster/gcs_store.h"

typedef struct gcs_store_ops {
    ray_err (*put)(gcs_store *s, const char *ns, const void *key, size_t klen,
                   const void *val, size_t vlen, char *why, size_t whylen);
    ray_err (*del)(gcs_store *s, const char *ns, const void *key, size_t klen,
                   char *why, size_t whylen);
    ray_err (*load)(gcs_store *s, gcs_store_each each, void *arg, char *why,
                    size_t whylen);
    void (*close)(gcs_store *s);
} gcs_store_ops;

struct gcs_store {
    const gcs_store_ops *ops;
};

/* "HOST:PORT[/PREFIX]" (after redis://). */
ray_err gcs_store_redis_open(const char *where, gcs_store **out, char *why,
                             size_t whylen);

#endif /* RAY_SCHEDULER_CLUSTER_GCS_STORE_INT_H */

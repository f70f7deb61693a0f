/* SPDX-License-Identifier: Apache-2.0
 *
 * deps.h: tasks waiting on objects (the raylet's dependency tracking).
 *
 * A task (an embedded sched_dep_task) waits on up to any number of object
 * ids; each wait is one link in the object's list, in a table keyed by
 * object id. Links come from a pool that is reused, so steady state
 * allocates nothing. When the last object a task waits on becomes ready,
 * ops->deps_ready hands it back to the owner (which queues it). A failed
 * object is reported through the same call with its error: the owner
 * decides (Ray fails the task). Not thread-safe: the owner's lock.
 */
#ifndef RAY_SCHEDULER_DEPS_H
#define RAY_SCHEDULER_DEPS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

typedef struct sched_dep_task {
    uint32_t ndeps;            /* objects still awaited */
    ray_err err;               /* first failed dependency, else RAY_OK */
} sched_dep_task;

typedef struct sched_deps_ops {
    /* Every object `t` waited on is done (err: the first that failed). */
    void (*deps_ready)(void *ctx, sched_dep_task *t, ray_err err);
} sched_deps_ops;

typedef struct sched_dep_link sched_dep_link;

typedef struct sched_deps {
    sched_dep_link **buckets;  /* chained by object id */
    size_t nbuckets;           /* power of two, or 0 */
    size_t nlinks;             /* links in the table */
    sched_dep_link *free_links;
    const sched_deps_ops *ops;
    void *ctx;
} sched_deps;

void sched_deps_init(sched_deps *d, const sched_deps_ops *ops, void *ctx);

/* Free the table and the pool (waiting tasks are forgotten). */
void sched_deps_fini(sched_deps *d);

/* Start a task's wait list (ndeps = 0, err = RAY_OK). */
void sched_dep_task_init(sched_dep_task *t);

/* Make `t` wait on object `obj`. RAY_ENOMEM (nothing changed). */
ray_err sched_deps_add(sched_deps *d, sched_dep_task *t, uint64_t obj);

/* Object `obj` is done (err RAY_OK: ready, else failed): every task that
 * waited on it counts down; those at zero go to ops->deps_ready. */
void sched_deps_object_done(sched_deps *d, uint64_t obj, ray_err err);

/* Drop every wait of `t` (cancelled); ops are not called for it. */
void sched_deps_cancel(sched_deps *d, sched_dep_task *t);

/* Tasks waiting on `obj`. */
size_t sched_deps_waiting(const sched_deps *d, uint64_t obj);

#endif /* RAY_SCHEDULER_DEPS_H */

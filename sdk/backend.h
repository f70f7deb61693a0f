/* SPDX-License-Identifier: Apache-2.0
 *
 * backend.h: what a public entry point does once it checked its
 * arguments, for the process it runs in. The public functions (submit.c,
 * object.c, actor_api.c) check what the caller gave, then call the
 * backend chosen when the process took its role:
 *   - the driver's embedded backend (set by ray_init): the owner, with
 *     this node's raylet and shared-memory transport;
 *   - the worker's (set when a worker process starts): requests to the
 *     driver over the worker's rings (worker_client.c, actor_client.c);
 *   - none, before ray_init and after ray_shutdown: every call fails
 *     with "runtime not initialised".
 * A cluster backend (a driver joined to a head) fills the same table.
 * Entries are called with arguments already checked; each sets the
 * error detail on failure.
 */
#ifndef RAY_SDK_BACKEND_H
#define RAY_SDK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ray/ray.h"

typedef struct sdk_backend {
    const char *name; /* "embedded", "worker", "none" */
    /* A call of function `name` (hash) with checked arguments. */
    ray_ref (*submit)(const char *name, uint64_t hash, const ray_arg *args,
                      uint32_t nargs, const ray_call_opts *opts);
    /* A value (scalars as 8 bytes: int64, double or 0/1). */
    ray_err (*put)(uint32_t type, const void *data, size_t len, ray_ref *out);
    /* A view of ref's value, and its release when the view pins a value
     * of the node's store. */
    ray_err (*get)(ray_ref ref, ray_view *out, int64_t timeout_ms);
    void (*release_stored)(ray_view *view);
    /* A number: its type and 8 bytes (`what` names the public call). */
    ray_err (*get_scalar)(const char *what, ray_ref ref, uint32_t *type,
                          uint64_t *bits, int64_t timeout_ms);
    ray_err (*wait)(const ray_ref *refs, size_t n, size_t num_ready,
                    int64_t timeout_ms, size_t *ready_idx, size_t *n_ready);
    /* Hold (retain) or drop a reference (a non-null one of this
     * runtime's). */
    ray_err (*ref)(ray_ref ref, bool retain);
    ray_err (*cancel)(ray_ref ref, bool force);
    /* Actors. */
    ray_err (*actor_create)(const ray_fn_desc *ctor, const ray_arg *args,
                            uint32_t nargs, const ray_actor_opts *opts,
                            ray_actor *out);
    ray_ref (*actor_submit)(ray_actor h, const ray_fn_desc *m,
                            const ray_arg *args, uint32_t nargs);
    ray_err (*actor_lookup)(const char *name, ray_actor *out);
    ray_err (*actor_ref)(ray_actor h, bool retain);
    ray_err (*actor_kill)(ray_actor h, bool no_restart);
    ray_err (*actor_state)(ray_actor h, int *state, int *num_restarts);
    ray_err (*actor_wait_ready)(ray_actor h, int64_t timeout_ms);
    /* Placement groups. */
    ray_err (*pg_create)(const ray_bundle *bundles, uint32_t n,
                         int32_t strategy, const char *name, ray_pg *out);
    ray_err (*pg_wait)(ray_pg pg, int64_t timeout_ms);
    ray_err (*pg_state)(ray_pg pg, int *state);
    ray_err (*pg_remove)(ray_pg pg);
    /* Refs of another runtime of the job (borrowed; NULL where there is
     * none, and such a ref is foreign): the local object that stands for
     * ref, fetched from its owner on first use (*local: valid until this
     * runtime drops ref, or a while); and a holder more or less, counted
     * at the owner. RAY_EINVAL for a tag of no runtime of the job. */
    ray_err (*borrow)(ray_ref ref, ray_ref *local);
    ray_err (*borrow_ref)(ray_ref ref, bool retain);
} sdk_backend;

/* The backend of this process now (never NULL). ray_init, ray_shutdown
 * and a worker's start set it; they do not race with other calls. */
extern const sdk_backend *sdk_be;

extern const sdk_backend sdk_backend_embedded; /* backend.c */
extern const sdk_backend sdk_backend_worker;
extern const sdk_backend sdk_backend_none;

/* The embedded backend's entries (the owner's side of each call). */
ray_ref sdk_drv_submit(const char *name, uint64_t hash, const ray_arg *args,
                       uint32_t nargs, const ray_call_opts *opts);
/* The same, its result the driver's pending object `into` (made earlier,
 * no producer yet: a call that waited at the driver, sdk/cluster_defer.c);
 * RAY_EINVAL with the detail set when it could not go. */
ray_err sdk_drv_submit_into(uint64_t into, const char *name, uint64_t hash,
                            const ray_arg *args, uint32_t nargs,
                            const ray_call_opts *opts);
/* Submit a burst: between sdk_drv_burst_begin and sdk_drv_burst_end the
 * calls this thread submits are queued but handed to workers only at the
 * end, in one dispatch (one wake per worker, not one per call). The
 * cluster agent runs each TaskBatch so. Bursts do not nest. */
void sdk_drv_burst_begin(void);
void sdk_drv_burst_end(void);
/* Wait until `ref` is ready, or timeout_ms passed (RAY_ETIMEDOUT); the
 * value stays where it is. Workers wake a thread so waiting only for its
 * own call, where one waiting for any (ray_wait) is woken for every
 * result: the agent's result thread waits so while its oldest call runs. */
ray_err sdk_drv_wait_one(ray_ref ref, int64_t timeout_ms);
ray_err sdk_drv_put(uint32_t type, const void *data, size_t len, ray_ref *out);
ray_err sdk_drv_get(ray_ref ref, ray_view *out, int64_t timeout_ms);
void sdk_drv_release_stored(ray_view *view);
ray_err sdk_drv_get_scalar(const char *what, ray_ref ref, uint32_t *type,
                           uint64_t *bits, int64_t timeout_ms);
ray_err sdk_drv_wait(const ray_ref *refs, size_t n, size_t num_ready,
                     int64_t timeout_ms, size_t *ready_idx, size_t *n_ready);
ray_err sdk_drv_ref(ray_ref ref, bool retain);
ray_err sdk_drv_cancel(ray_ref ref, bool force);
ray_err sdk_drv_actor_create(const ray_fn_desc *ctor, const ray_arg *args,
                             uint32_t nargs, const ray_actor_opts *opts,
                             ray_actor *out);
ray_ref sdk_drv_actor_submit(ray_actor h, const ray_fn_desc *m,
                             const ray_arg *args, uint32_t nargs);
/* The same, its result the driver's pending object `into` (a call that
 * waited at the driver); RAY_EINVAL (detail set, `into` left as it was)
 * when it could not go. */
ray_err sdk_drv_actor_submit_into(uint64_t into, ray_actor h,
                                  const ray_fn_desc *m, const ray_arg *args,
                                  uint32_t nargs);
ray_err sdk_drv_actor_lookup(const char *name, ray_actor *out);
ray_err sdk_drv_actor_ref(ray_actor h, bool retain);
ray_err sdk_drv_actor_kill(ray_actor h, bool no_restart);
ray_err sdk_drv_actor_state(ray_actor h, int *state, int *num_restarts);
/* The pid of the process that hosts local actor h now, or 0. */
int sdk_drv_actor_pid(ray_actor h);
ray_err sdk_drv_actor_wait_ready(ray_actor h, int64_t timeout_ms);

/* The worker backend's entries that object.c keeps (views). */
ray_err sdk_wk_get_view(ray_ref ref, ray_view *out, int64_t timeout_ms);
void sdk_wk_release_stored(ray_view *view);
ray_err sdk_wk_get_scalar(const char *what, ray_ref ref, uint32_t *type,
                          uint64_t *bits, int64_t timeout_ms);

#endif /* RAY_SDK_BACKEND_H */

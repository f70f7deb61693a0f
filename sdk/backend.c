/* SPDX-License-Identifier: Apache-2.0
 *
 * backend.c: the three backends of the public API (backend.h): the
 * driver's embedded one, the worker's, and none.
 */
#include "sdk/backend.h"

#include "sdk/sdk_int.h"

const sdk_backend *sdk_be = &sdk_backend_none;

const sdk_backend sdk_backend_embedded = {
    .name = "embedded",
    .submit = sdk_drv_submit,
    .put = sdk_drv_put,
    .get = sdk_drv_get,
    .release_stored = sdk_drv_release_stored,
    .get_scalar = sdk_drv_get_scalar,
    .wait = sdk_drv_wait,
    .ref = sdk_drv_ref,
    .cancel = sdk_drv_cancel,
    .actor_create = sdk_drv_actor_create,
    .actor_submit = sdk_drv_actor_submit,
    .actor_lookup = sdk_drv_actor_lookup,
    .actor_ref = sdk_drv_actor_ref,
    .actor_kill = sdk_drv_actor_kill,
    .actor_state = sdk_drv_actor_state,
    .actor_wait_ready = sdk_drv_actor_wait_ready,
    .pg_create = sdk_drv_pg_create,
    .pg_wait = sdk_drv_pg_wait,
    .pg_state = sdk_drv_pg_state,
    .pg_remove = sdk_drv_pg_remove,
};

/* ---- the worker's: requests to the driver ---- */

static ray_err
wk_ref(ray_ref ref, bool retain)
{
    sdk_wk_ref(ref, retain);
    return RAY_OK;
}

static ray_err
wk_actor_ref(ray_actor h, bool retain)
{
    if (retain && !sdk_wk_usable("ray_actor_retain"))
        return RAY_EINVAL;
    sdk_wk_actor_ref(h, retain);
    return RAY_OK;
}

/* Placement groups are the driver's (not yet made inside a task). */
#define IN_TASK(what)                                                          \
    sdk_fail(RAY_EINVAL,                                                       \
             "%s: placement groups are made and used by the "                  \
             "driver (not yet inside a task)",                                 \
             what)

static ray_err
wk_pg_create(const ray_bundle *bundles, uint32_t n, int32_t strategy,
             const char *name, ray_pg *out)
{
    (void)bundles, (void)n, (void)strategy, (void)name, (void)out;
    return IN_TASK("ray_pg_create");
}

static ray_err
wk_pg_wait(ray_pg pg, int64_t timeout_ms)
{
    (void)pg, (void)timeout_ms;
    return IN_TASK("ray_pg_wait");
}

static ray_err
wk_pg_state(ray_pg pg, int *state)
{
    (void)pg, (void)state;
    return IN_TASK("ray_pg_state");
}

static ray_err
wk_pg_remove(ray_pg pg)
{
    (void)pg;
    return IN_TASK("ray_pg_remove");
}

const sdk_backend sdk_backend_worker = {
    .name = "worker",
    .submit = sdk_wk_submit,
    .put = sdk_wk_put,
    .get = sdk_wk_get_view,
    .release_stored = sdk_wk_release_stored,
    .get_scalar = sdk_wk_get_scalar,
    .wait = sdk_wk_wait,
    .ref = wk_ref,
    .cancel = sdk_wk_cancel,
    .actor_create = sdk_wk_actor_create,
    .actor_submit = sdk_wk_actor_submit,
    .actor_lookup = sdk_wk_actor_lookup,
    .actor_ref = wk_actor_ref,
    .actor_kill = sdk_wk_actor_kill,
    .actor_state = sdk_wk_actor_state,
    .actor_wait_ready = sdk_wk_actor_wait_ready,
    .pg_create = wk_pg_create,
    .pg_wait = wk_pg_wait,
    .pg_state = wk_pg_state,
    .pg_remove = wk_pg_remove,
    .borrow = sdk_wk_borrow,
    .borrow_ref = sdk_wk_borrow_ref,
};

/* ---- none: before ray_init, after ray_shutdown ---- */

#define NOT_INIT(what)                                                         \
    sdk_fail(RAY_EINVAL, "%s: runtime not initialised (call ray_init)", what)

static ray_ref
none_submit(const char *name, uint64_t hash, const ray_arg *args,
            uint32_t nargs, const ray_call_opts *opts)
{
    (void)hash, (void)args, (void)nargs, (void)opts;
    sdk_fail(RAY_EINVAL,
             "submit '%s': runtime not initialised (call "
             "ray_init)",
             name);
    return RAY_REF_NULL;
}

static ray_err
none_put(uint32_t type, const void *data, size_t len, ray_ref *out)
{
    (void)type, (void)data, (void)len, (void)out;
    return NOT_INIT("ray_put");
}

static ray_err
none_get(ray_ref ref, ray_view *out, int64_t timeout_ms)
{
    (void)ref, (void)out, (void)timeout_ms;
    return NOT_INIT("ray_get");
}

static void
none_release_stored(ray_view *view)
{
    (void)view; /* the runtime that made it is gone, and its store */
}

static ray_err
none_get_scalar(const char *what, ray_ref ref, uint32_t *type, uint64_t *bits,
                int64_t timeout_ms)
{
    (void)ref, (void)type, (void)bits, (void)timeout_ms;
    return NOT_INIT(what);
}

static ray_err
none_wait(const ray_ref *refs, size_t n, size_t num_ready, int64_t timeout_ms,
          size_t *ready_idx, size_t *n_ready)
{
    (void)refs, (void)n, (void)num_ready, (void)timeout_ms, (void)ready_idx;
    *n_ready = 0;
    return NOT_INIT("ray_wait");
}

static ray_err
none_ref(ray_ref ref, bool retain)
{
    (void)ref;
    return retain ? NOT_INIT("ray_ref_retain") : RAY_OK;
}

static ray_err
none_cancel(ray_ref ref, bool force)
{
    (void)ref, (void)force;
    return NOT_INIT("ray_cancel");
}

static ray_err
none_actor_create(const ray_fn_desc *ctor, const ray_arg *args, uint32_t nargs,
                  const ray_actor_opts *opts, ray_actor *out)
{
    (void)ctor, (void)args, (void)nargs, (void)opts, (void)out;
    return NOT_INIT("ray_actor_create");
}

static ray_ref
none_actor_submit(ray_actor h, const ray_fn_desc *m, const ray_arg *args,
                  uint32_t nargs)
{
    (void)h, (void)args, (void)nargs;
    sdk_fail(RAY_EINVAL,
             "actor call '%s': runtime not initialised (call "
             "ray_init)",
             m->name);
    return RAY_REF_NULL;
}

static ray_err
none_actor_lookup(const char *name, ray_actor *out)
{
    (void)name, (void)out;
    return NOT_INIT("ray_actor_lookup");
}

static ray_err
none_actor_ref(ray_actor h, bool retain)
{
    (void)h;
    return retain ? NOT_INIT("ray_actor_retain") : RAY_OK;
}

static ray_err
none_actor_kill(ray_actor h, bool no_restart)
{
    (void)h, (void)no_restart;
    return NOT_INIT("ray_actor_kill");
}

static ray_err
none_actor_state(ray_actor h, int *state, int *num_restarts)
{
    (void)h, (void)state, (void)num_restarts;
    return NOT_INIT("ray_actor_state");
}

static ray_err
none_actor_wait_ready(ray_actor h, int64_t timeout_ms)
{
    (void)h, (void)timeout_ms;
    return NOT_INIT("ray_actor_wait_ready");
}

static ray_err
none_pg_create(const ray_bundle *bundles, uint32_t n, int32_t strategy,
               const char *name, ray_pg *out)
{
    (void)bundles, (void)n, (void)strategy, (void)name, (void)out;
    return NOT_INIT("ray_pg_create");
}

static ray_err
none_pg_wait(ray_pg pg, int64_t timeout_ms)
{
    (void)pg, (void)timeout_ms;
    return NOT_INIT("ray_pg_wait");
}

static ray_err
none_pg_state(ray_pg pg, int *state)
{
    (void)pg, (void)state;
    return NOT_INIT("ray_pg_state");
}

static ray_err
none_pg_remove(ray_pg pg)
{
    (void)pg;
    return NOT_INIT("ray_pg_remove");
}

const sdk_backend sdk_backend_none = {
    .name = "none",
    .submit = none_submit,
    .put = none_put,
    .get = none_get,
    .release_stored = none_release_stored,
    .get_scalar = none_get_scalar,
    .wait = none_wait,
    .ref = none_ref,
    .cancel = none_cancel,
    .actor_create = none_actor_create,
    .actor_submit = none_actor_submit,
    .actor_lookup = none_actor_lookup,
    .actor_ref = none_actor_ref,
    .actor_kill = none_actor_kill,
    .actor_state = none_actor_state,
    .actor_wait_ready = none_actor_wait_ready,
    .pg_create = none_pg_create,
    .pg_wait = none_pg_wait,
    .pg_state = none_pg_state,
    .pg_remove = none_pg_remove,
};

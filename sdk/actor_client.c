/* SPDX-License-Identifier: Apache-2.0
 *
 * actor_client.c: actor calls made inside a task or a method (worker
 * processes only). Like a nested submit: a one-way SDK_MSG_ACALL record
 * on the worker's completion ring (the actor id in req_id), with an
 * object id reserved ahead of time, so the call costs no round trip; the
 * driver puts it in the actor's queue in the order it reads the ring.
 * Handles are counted for this process by one-way messages (retain,
 * release, kill); create, lookup, state and wait_ready are requests
 * answered on the reply ring.
 * Single-threaded, like the worker.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "sdk/sdk_int.h"

static ray_ref actor_record(ray_actor h, const ray_fn_desc *m,
                            const ray_arg *args, uint32_t nargs);

ray_ref
sdk_wk_actor_submit(ray_actor h, const ray_fn_desc *m, const ray_arg *args,
                    uint32_t nargs)
{
    if (!sdk_wk_usable("actor call"))
        return RAY_REF_NULL;
    ray_arg conv[RAY_MAX_ARGS];
    ray_ref temps[RAY_MAX_ARGS];
    uint32_t ntemps;
    if (sdk_wk_args_by_ref(args, nargs, conv, temps, &ntemps) != RAY_OK)
        return RAY_REF_NULL;
    ray_ref out = actor_record(h, m, conv, nargs);
    sdk_wk_drop_refs(temps, ntemps);
    return out;
}

static ray_ref
actor_record(ray_actor h, const ray_fn_desc *m, const ray_arg *args,
             uint32_t nargs)
{
    size_t name_len = strlen(m->name);
    sdk_wk_req r = {
        .type = SDK_MSG_ACALL,
        .hdr = {.req_id = h.id,
                .fn_hash = m->hash,
                .name_len = (uint32_t)name_len},
        .str = {m->name},
        .str_len = {name_len},
        .args = args,
        .nargs = nargs,
        .what = "actor call",
        .name = m->name,
    };
    uint64_t id;
    return sdk_wk_request(&r, &id) == RAY_OK ? sdk_ref(id) : RAY_REF_NULL;
}

ray_err
sdk_wk_actor_lookup(const char *name, ray_actor *out)
{
    if (!sdk_wk_usable("ray_actor_lookup"))
        return RAY_EINVAL;
    size_t name_len = strlen(name);
    sdk_wk_req r = {
        .type = SDK_MSG_ALOOKUP,
        .hdr = {.req_id = sdk_wk_next_req(), .name_len = (uint32_t)name_len},
        .str = {name},
        .str_len = {name_len},
        .what = "ray_actor_lookup",
        .name = name,
    };
    ray_err e = sdk_wk_request(&r, NULL);
    if (e != RAY_OK)
        return e;
    return sdk_wk_answer(r.hdr.req_id, "lookup failed", &out->id, 60000);
}

void
sdk_wk_actor_ref(ray_actor h, bool retain)
{
    if (sdk_wk_in_map() || sdk_ah_on_pool_thread())
        return;
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    q->obj_id = h.id;
    sdk_wk_commit(retain ? SDK_MSG_ARETAIN : SDK_MSG_ARELEASE, sizeof(*q));
}

static ray_err create_record(const ray_fn_desc *ctor, const ray_arg *args,
                             uint32_t nargs, const ray_actor_opts *o,
                             ray_actor *out);

ray_err
sdk_wk_actor_create(const ray_fn_desc *ctor, const ray_arg *args,
                    uint32_t nargs, const ray_actor_opts *o, ray_actor *out)
{
    if (!sdk_wk_usable("ray_actor_create"))
        return RAY_EINVAL;
    ray_arg conv[RAY_MAX_ARGS];
    ray_ref temps[RAY_MAX_ARGS];
    uint32_t ntemps;
    ray_err e = sdk_wk_args_by_ref(args, nargs, conv, temps, &ntemps);
    if (e != RAY_OK)
        return e;
    e = create_record(ctor, conv, nargs, o, out);
    sdk_wk_drop_refs(temps, ntemps);
    return e;
}

static ray_err
create_record(const ray_fn_desc *ctor, const ray_arg *args, uint32_t nargs,
              const ray_actor_opts *o, ray_actor *out)
{
    size_t name_len = o->name ? strlen(o->name) : 0;
    size_t res_len = o->resources ? strlen(o->resources) : 0;
    sdk_msg_acreate c = {
        .num_cpus = o->num_cpus,
        .max_restarts = o->max_restarts,
        .max_task_retries = o->max_task_retries,
        .max_concurrency = o->max_concurrency,
        .detached = o->detached,
        .own_process = o->own_process,
        .get_if_exists = o->get_if_exists,
        .name_len = (uint32_t)name_len,
        .res_len = (uint32_t)res_len,
    };
    sdk_wk_req r = {
        .type = SDK_MSG_ACREATE,
        .hdr = {.req_id = sdk_wk_next_req(),
                .fn_hash = ctor->hash ? ctor->hash : sdk_name_hash(ctor->name)},
        .fixed = &c,
        .fixed_len = sizeof(c),
        .str = {o->name, o->resources},
        .str_len = {name_len, res_len},
        .args = args,
        .nargs = nargs,
        .what = "ray_actor_create",
        .name = ctor->cls,
    };
    ray_err e = sdk_wk_request(&r, NULL);
    if (e != RAY_OK)
        return e;
    return sdk_wk_answer(r.hdr.req_id, "create failed", &out->id, 60000);
}

ray_err
sdk_wk_actor_kill(ray_actor h, bool no_restart)
{
    if (!sdk_wk_usable("ray_actor_kill"))
        return RAY_EINVAL;
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    q->obj_id = h.id;
    q->len = no_restart;
    sdk_wk_commit(SDK_MSG_AKILL, sizeof(*q));
    sdk_wk_flush(false);
    return RAY_OK;
}

/* A request about actor `h` (ASTATE or AREADY); its answer. */
static ray_err
ask_about(uint32_t type, ray_actor h, const char *what, uint64_t *scalar,
          int64_t timeout_ms)
{
    if (!sdk_wk_usable(what))
        return RAY_EINVAL;
    uint64_t req = sdk_wk_next_req();
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    q->req_id = req;
    q->obj_id = h.id;
    sdk_wk_commit(type, sizeof(*q));
    return sdk_wk_answer(req, what, scalar, timeout_ms);
}

ray_err
sdk_wk_actor_state(ray_actor h, int *state, int *num_restarts)
{
    uint64_t v = 0;
    ray_err e =
        ask_about(SDK_MSG_ASTATE, h, "ray_actor_state failed", &v, 60000);
    if (e != RAY_OK)
        return e;
    if (state)
        *state = (int)(v & 0xff);
    if (num_restarts)
        *num_restarts = (int)(v >> 8);
    return RAY_OK;
}

ray_err
sdk_wk_actor_wait_ready(ray_actor h, int64_t timeout_ms)
{
    ray_err e = ask_about(SDK_MSG_AREADY, h, "ray_actor_wait_ready failed",
                          NULL, timeout_ms);
    if (e == RAY_ETIMEDOUT)
        return sdk_fail(e, "ray_actor_wait_ready: timed out");
    return e;
}

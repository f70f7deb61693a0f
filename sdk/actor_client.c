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
    size_t len = sizeof(sdk_msg_req) + SDK_ALIGN8(name_len) +
                 sdk_args_wire_len(args, nargs);
    if (len > sdk_wk_max_record()) {
        sdk_fail(RAY_ETOOBIG, "actor call '%s' from a task: arguments too "
                 "large", m->name);
        return RAY_REF_NULL;
    }
    uint64_t id;
    if (sdk_wk_take_id(&id) != RAY_OK)
        return RAY_REF_NULL;
    uint8_t *p = sdk_wk_reserve(len);
    sdk_msg_req *q = (sdk_msg_req *)p;
    memset(q, 0, sizeof(*q));
    q->req_id = h.id;
    q->obj_id = id;
    q->fn_hash = m->hash;
    q->nargs = nargs;
    q->name_len = (uint32_t)name_len;
    memcpy(p + sizeof(*q), m->name, name_len);
    sdk_args_encode(p + sizeof(*q) + SDK_ALIGN8(name_len), args, nargs);
    sdk_wk_commit(SDK_MSG_ACALL, len);
    sdk_wk_submitted(id);
    return sdk_ref(id);
}

ray_err
sdk_wk_actor_lookup(const char *name, ray_actor *out)
{
    if (!sdk_wk_usable("ray_actor_lookup"))
        return RAY_EINVAL;
    size_t name_len = strlen(name);
    size_t len = sizeof(sdk_msg_req) + SDK_ALIGN8(name_len);
    if (len > sdk_wk_max_record())
        return sdk_fail(RAY_EINVAL, "ray_actor_lookup: name too long");
    uint64_t req = sdk_wk_next_req();
    uint8_t *p = sdk_wk_reserve(len);
    sdk_msg_req *q = (sdk_msg_req *)p;
    memset(q, 0, sizeof(*q));
    q->req_id = req;
    q->name_len = (uint32_t)name_len;
    memcpy(p + sizeof(*q), name, name_len);
    sdk_wk_commit(SDK_MSG_ALOOKUP, len);
    return sdk_wk_answer(req, "lookup failed", &out->id, 60000);
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
    size_t len = sizeof(sdk_msg_req) + sizeof(sdk_msg_acreate) +
                 SDK_ALIGN8(name_len) + SDK_ALIGN8(res_len) +
                 sdk_args_wire_len(args, nargs);
    if (len > sdk_wk_max_record())
        return sdk_fail(RAY_ETOOBIG, "ray_actor_create %s from a task: "
                        "arguments too large", ctor->cls);
    uint64_t req = sdk_wk_next_req();
    uint8_t *p = sdk_wk_reserve(len);
    sdk_msg_req *q = (sdk_msg_req *)p;
    memset(q, 0, sizeof(*q));
    q->req_id = req;
    q->fn_hash = ctor->hash ? ctor->hash : sdk_name_hash(ctor->name);
    q->nargs = nargs;
    sdk_msg_acreate *c = (sdk_msg_acreate *)(q + 1);
    *c = (sdk_msg_acreate){
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
    uint8_t *at = (uint8_t *)(c + 1);
    memset(at, 0, SDK_ALIGN8(name_len) + SDK_ALIGN8(res_len));
    if (name_len)
        memcpy(at, o->name, name_len);
    at += SDK_ALIGN8(name_len);
    if (res_len)
        memcpy(at, o->resources, res_len);
    at += SDK_ALIGN8(res_len);
    sdk_args_encode(at, args, nargs);
    sdk_wk_commit(SDK_MSG_ACREATE, len);
    return sdk_wk_answer(req, "create failed", &out->id, 60000);
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
    ray_err e = ask_about(SDK_MSG_ASTATE, h, "ray_actor_state failed", &v,
                          60000);
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

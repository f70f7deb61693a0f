/* SPDX-License-Identifier: Apache-2.0
 *
 * submit.c: the public entry points that create and cancel tasks:
 * ray_submit (behind every RAY_REMOTE stub), ray_call_raw and ray_cancel.
 *
 * A submission encodes the arguments once into the task's wire spec
 * (inline in the pooled task up to 64 bytes: no allocation for the common
 * small call), takes a reference on every ref argument and on the result
 * object, registers unresolved dependencies, and dispatches at once when
 * it is ready. Inside a worker the same calls go to worker_client.c.
 * Each entry point takes sdk_g->mu and runs callbacks after dropping it.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/log.h"
#include "sdk/backend.h"
#include "sdk/sdk_int.h"

/* ---- public: submit ---- */

/* Set between sdk_drv_burst_begin and _end: this thread's submits leave
 * their dispatch to the end of the burst. */
static _Thread_local bool t_burst;

void
sdk_drv_burst_begin(void)
{
    t_burst = true;
}

void
sdk_drv_burst_end(void)
{
    sdk_rt *rt = sdk_g;
    t_burst = false;
    if (!rt)
        return;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    sdk_dispatch(rt, &cbs);
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
}

/* Submit a call; its result is a new object (one holder: the caller), or
 * with `into` the pending object `into`, which has no producer yet (its
 * holders stay as they are). */
static ray_ref
submit_locked(sdk_rt *rt, uint64_t hash, const char *name, uint32_t nargs,
              const ray_arg *args, const ray_call_opts *opts,
              sched_demand *demand, uint64_t into, sdk_cb **cbs)
{
    sdk_task *t = sdk_task_alloc(rt);
    if (t) {
        t->st.demand = demand; /* freed with the task from here on */
        demand = NULL;
    }
    if (!t) {
        rt_free(demand);
        sdk_fail(RAY_ENOMEM, "submit '%s': out of memory", name);
        return RAY_REF_NULL;
    }
    if (opts && opts->pg.id) {
        char what[160];
        snprintf(what, sizeof(what), "submit '%s'", name);
        if (sdk_pg_bundle_for(rt, what, opts->pg, opts->pg_bundle,
                              opts->num_cpus > 0 ? opts->num_cpus : 1,
                              t->st.demand, opts->resources,
                              &t->st.bundle) != RAY_OK) {
            sdk_task_free(rt, t);
            return RAY_REF_NULL;
        }
    }
    size_t len = sdk_args_wire_len(args, nargs);
    if (len > sizeof(t->spec_inl) && !(t->spec = rt_malloc(len))) {
        t->spec = t->spec_inl;
        sdk_task_free(rt, t);
        sdk_fail(RAY_ENOMEM, "submit '%s': out of memory", name);
        return RAY_REF_NULL;
    }
    sdk_args_encode(t->spec, args, nargs);
    bool refs;
    if (sdk_spec_hold_refs(rt, t->spec, nargs, "submit", name, &refs) !=
        RAY_OK) {
        sdk_task_free(rt, t);
        return RAY_REF_NULL;
    }
    t->has_refs = refs;
    t->nargs = nargs;
    t->spec_len = (uint32_t)len;
    t->id = rt->next_task_id++;
    t->fn_hash = hash;
    t->name = name;
    if (opts && opts->name &&
        !(t->name = t->name_owned = rt_strdup(opts->name)))
        t->name = name;
    t->kind = SDK_TK_CALL;
    int32_t mr = opts ? opts->max_retries : 0;
    t->retries_left = mr == 0 ? 3 : (mr < 0 ? 0 : mr);
    t->retry_on_error = opts && opts->retry_on_error;
    if (opts && opts->num_cpus > 1.0) {
        double extra = opts->num_cpus - 1.0;
        t->cpus_extra = (uint16_t)(extra + 0.999);
    } else if (opts && opts->num_cpus > 0 && opts->num_cpus < 0.9995 &&
               !t->st.bundle) { /* packed (local_queue.h) */
        double m = opts->num_cpus * 1000.0 + 0.5;
        t->st.milli = m < 1 ? 1 : (uint16_t)m;
    }
    uint64_t id = into;
    sdk_obj *o = into ? sdk_objects_lookup(&rt->store, into) : NULL;
    if (into && (!o || o->state != SDK_OBJ_PENDING || o->producer)) {
        sdk_task_finish(rt, t, NULL);
        sdk_fail(RAY_EINVAL, "submit '%s': its result is settled", name);
        return RAY_REF_NULL;
    }
    if (!into && sdk_objects_alloc(&rt->store, &id, &o) != RAY_OK) {
        sdk_task_finish(rt, t, NULL);
        sdk_fail(RAY_ENOMEM, "submit '%s': out of memory", name);
        return RAY_REF_NULL;
    }
    sdk_objects_retain(o); /* the task's reference */
    o->producer = t;
    o->task = 1;
    t->result = o;
    t->has_handles = sdk_actor_hold_args(rt, t->spec, nargs, 1, NULL);
    if (sdk_task_add_deps(rt, t) == 0 &&
        !sdk_task_check_failed_deps(rt, t, cbs)) {
        sdk_task_ready(rt, t);
        if (!t_burst)
            sdk_dispatch(rt, cbs);
    }
    return sdk_ref(id);
}

/* Validate per-call options; *demand gets a heap copy of the custom
 * resources needed (NULL when none). */
static ray_err
check_opts(sdk_rt *rt, const char *name, const ray_call_opts *opts,
           sched_demand **demand)
{
    *demand = NULL;
    if (!opts)
        return RAY_OK;
    if (!(opts->num_cpus >= 0)) /* NaN too */
        return sdk_fail(RAY_EINVAL,
                        "submit '%s': num_cpus %g is not a "
                        "CPU count",
                        name, opts->num_cpus);
    if (opts->num_cpus > (double)rt->nworkers)
        return sdk_fail(RAY_EINVAL,
                        "submit '%s': needs %.2f CPUs, the "
                        "runtime has %d (infeasible)",
                        name, opts->num_cpus, rt->nworkers);
    if (opts->max_retries < RAY_NO_RETRY)
        return sdk_fail(RAY_EINVAL,
                        "submit '%s': max_retries %d (0: the "
                        "default 3, RAY_NO_RETRY: none, or a count)",
                        name, (int)opts->max_retries);
    if (opts->resources && opts->resources[0]) {
        sched_demand d;
        char why[128];
        ray_err e = rt->rl_api->parse_demand(rt->rl, opts->resources, &d, why,
                                             sizeof(why));
        if (e != RAY_OK)
            return sdk_fail(RAY_EINVAL, "submit '%s': %s%s", name, why,
                            e == RAY_ENOTFOUND ? " (infeasible)" : "");
        if (d.n && !(*demand = rt_memdup(&d, sizeof(d))))
            return sdk_fail(RAY_ENOMEM, "submit '%s': out of memory", name);
    }
    return RAY_OK;
}

/* Check the options, then submit (into: as submit_locked). */
static ray_ref
submit_checked(uint64_t into, const char *name, uint64_t hash,
               const ray_arg *args, uint32_t nargs, const ray_call_opts *opts)
{
    sdk_rt *rt = sdk_g;
    sched_demand *demand;
    if (check_opts(rt, name, opts, &demand) != RAY_OK)
        return RAY_REF_NULL;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    ray_ref r =
        submit_locked(rt, hash, name, nargs, args, opts, demand, into, &cbs);
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return r;
}

ray_ref
sdk_drv_submit(const char *name, uint64_t hash, const ray_arg *args,
               uint32_t nargs, const ray_call_opts *opts)
{
    return submit_checked(0, name, hash, args, nargs, opts);
}

ray_err
sdk_drv_submit_into(uint64_t into, const char *name, uint64_t hash,
                    const ray_arg *args, uint32_t nargs,
                    const ray_call_opts *opts)
{
    return submit_checked(into, name, hash, args, nargs, opts).id ? RAY_OK
                                                                  : RAY_EINVAL;
}

ray_ref
ray_submit(const ray_fn_desc *desc, const ray_arg *args, uint32_t nargs,
           const ray_call_opts *opts)
{
    if (!desc || !desc->name) {
        sdk_fail(RAY_EINVAL, "submit: NULL function descriptor");
        return RAY_REF_NULL;
    }
    const ray_arg *own;
    if (sdk_args_local(args, nargs, &own) != RAY_OK)
        return RAY_REF_NULL;
    ray_ref r = RAY_REF_NULL;
    if (sdk_args_check("submit", desc->name, own, nargs) == RAY_OK)
        r = sdk_be->submit(desc->name, desc->hash, own, nargs, opts);
    sdk_args_local_done(args, own, nargs); /* the call holds its own */
    return r;
}

ray_ref
ray_call_raw(const char *name, const void *data, size_t len,
             const ray_call_opts *opts)
{
    if (!name || !name[0]) {
        sdk_fail(RAY_EINVAL, "ray_call_raw: NULL or empty function name");
        return RAY_REF_NULL;
    }
    ray_arg a = {RAY_T_BYTES, 0, {.buf = {data, len}}};
    if (sdk_args_check("ray_call_raw", name, &a, 1) != RAY_OK)
        return RAY_REF_NULL;
    /* The call is named by the caller's string: the task keeps a copy. */
    ray_call_opts o2;
    if (opts)
        o2 = *opts;
    else
        memset(&o2, 0, sizeof(o2));
    if (!o2.name)
        o2.name = name;
    return sdk_be->submit(name, sdk_name_hash(name), &a, 1, &o2);
}

/* ---- public: cancel ---- */

ray_err
sdk_cancel_locked(sdk_rt *rt, sdk_obj *o, bool force, sdk_cb **cbs)
{
    if (!o)
        return sdk_fail(RAY_EINVAL, "ray_cancel: null, released or foreign "
                                    "reference");
    if (!o->task)
        return sdk_fail(RAY_EINVAL, "ray_cancel: the reference is not a "
                                    "task's result (a ray_put value)");
    if (o->state != SDK_OBJ_PENDING)
        return sdk_fail(RAY_EEXISTS, "ray_cancel: the task already finished");
    sdk_task *t = o->producer;
    if (!t)
        return sdk_fail(RAY_EINVAL, "ray_cancel: not a task result");
    t->cancelled = 1;
    char msg[300];
    snprintf(msg, sizeof(msg), "task '%s' was cancelled", t->name);
    sdk_objects_set_error(&rt->store, o, RAY_ECANCELLED, msg);
    sdk_object_done(rt, o, cbs);
    if (t->actor && t->worker < 0) {
        sdk_actor_cancel(rt, t, cbs); /* in its actor's queue */
    } else if (t->worker < 0 && t->ndeps == 0) {
        /* Still in the ready queue: it never runs. */
        sdk_ready_remove(rt, t);
        sdk_task_finish(rt, t, cbs);
    } else if (t->worker >= 0) {
        /* Handed to a worker: taken back if it has not started there (it
         * then never runs); else, with force, its worker is killed while
         * it runs it; else it runs and its result is dropped. */
        int w = t->worker;
        if (sdk_task_revoke(rt, t)) {
            rt->rl_api->returned(rt->rl, w, &t->st);
            sdk_task_finish(rt, t, cbs);
            sdk_dispatch(rt, cbs);
        } else if (force) {
            sdk_tx_worker ws;
            sdk_tx_worker_state(rt->tx, w, &ws);
            if (ws.current == t->id)
                rt->rl_api->kill(rt->rl, w);
        }
    }
    return RAY_OK;
}

ray_err
ray_cancel(ray_ref ref, bool force)
{
    return sdk_be->cancel(ref, force);
}

ray_err
sdk_drv_cancel(ray_ref ref, bool force)
{
    sdk_rt *rt = sdk_g;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    ray_err err = sdk_cancel_locked(
        rt, sdk_objects_lookup(&rt->store, sdk_ref_id(ref)), force, &cbs);
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return err;
}

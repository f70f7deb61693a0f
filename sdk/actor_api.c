/* SPDX-License-Identifier: Apache-2.0
 *
 * actor_api.c: the public actor calls of the driver (create, call,
 * lookup, handles, kill, state) and the driver's side of actor requests
 * from workers (a call made inside a task or method; an actor's exit).
 *
 * A call encodes its arguments once into a pooled task (as ray_submit
 * does), takes a reference on each ref argument, and goes to its actor's
 * queue, from where it is written straight into the host's ring. Each
 * entry point takes sdk_g->mu and runs callbacks after dropping it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "sdk/actor_int.h"

/* Encode `args` into wire form and hold their refs for call `what`
 * `name` (sdk_spec_hold_refs). *spec is `buf` when it fits (`buf` itself,
 * NULL or not, when there is nothing to encode), else rt_malloc'd.
 * RAY_EINVAL for a released ref, RAY_ENOMEM; the detail set. */
static ray_err
encode(sdk_rt *rt, const char *what, const char *name, const ray_arg *args,
       uint32_t nargs, uint8_t *buf, size_t buf_len, uint8_t **spec,
       uint32_t *len, bool *has_refs)
{
    size_t n = sdk_args_wire_len(args, nargs);
    *has_refs = false;
    *len = 0;
    *spec = buf;
    if (n == 0)
        return RAY_OK;
    if (n > buf_len && !(*spec = rt_malloc(n)))
        return sdk_fail(RAY_ENOMEM, "%s '%s': out of memory", what, name);
    sdk_args_encode(*spec, args, nargs);
    ray_err e = sdk_spec_hold_refs(rt, *spec, nargs, what, name, has_refs);
    if (e != RAY_OK) {
        if (*spec != buf)
            rt_free(*spec);
        return e;
    }
    *len = (uint32_t)n;
    return RAY_OK;
}

/* A ref that is already failed with `err`/`msg`. */
static ray_ref
failed_ref(sdk_rt *rt, ray_err err, const char *msg)
{
    uint64_t id;
    sdk_obj *o;
    if (sdk_objects_alloc(&rt->store, &id, &o) != RAY_OK) {
        sdk_fail(RAY_ENOMEM, "actor call: out of memory");
        return RAY_REF_NULL;
    }
    o->task = 1; /* a call's result, failed at once */
    sdk_objects_set_error(&rt->store, o, err, msg);
    return sdk_ref(id);
}

/* ---- create ---- */

static ray_err
build_demand(sdk_rt *rt, const ray_actor_opts *o, sdk_actor *a)
{
    char spec[512];
    int n = 0;
    if (o->num_cpus > 0)
        n = snprintf(spec, sizeof(spec), "CPU:%.3f", o->num_cpus);
    if (o->resources && o->resources[0])
        n += snprintf(spec + n, sizeof(spec) - (size_t)n, "%s%s", n ? "," : "",
                      o->resources);
    if (n == 0)
        return RAY_OK;
    char why[128];
    ray_err e =
        rt->rl_api->parse_demand(rt->rl, spec, &a->demand, why, sizeof(why));
    if (e == RAY_ENOTFOUND)
        return sdk_fail(RAY_EINVAL,
                        "ray_actor_create: needs '%s', which "
                        "this runtime can never provide (infeasible): %s",
                        spec, why);
    if (e != RAY_OK)
        return sdk_fail(RAY_EINVAL,
                        "ray_actor_create: bad resources '%s': "
                        "%s",
                        spec, why);
    a->has_demand = a->demand.n > 0;
    /* Its CPUs come out of the task workers' (fractions take a whole). */
    a->cpu_workers = (uint32_t)ceil(o->num_cpus);
    return RAY_OK;
}

/* Options out of range: RAY_EINVAL naming the field. */
static ray_err
check_actor_opts(const char *cls, const ray_actor_opts *o)
{
    if (!(o->num_cpus >= 0)) /* NaN too */
        return sdk_fail(RAY_EINVAL,
                        "ray_actor_create %s: num_cpus %g is "
                        "not a CPU count",
                        cls, o->num_cpus);
    if (o->max_concurrency < 0 || o->max_concurrency > (int32_t)SDK_TF_CONC_MAX)
        return sdk_fail(RAY_EINVAL,
                        "ray_actor_create %s: max_concurrency "
                        "%d out of range (0 to %u)",
                        cls, (int)o->max_concurrency, SDK_TF_CONC_MAX);
    if (o->max_restarts < -1)
        return sdk_fail(RAY_EINVAL,
                        "ray_actor_create %s: max_restarts %d "
                        "(-1: no limit, or a count)",
                        cls, (int)o->max_restarts);
    if (o->max_task_retries < -1)
        return sdk_fail(RAY_EINVAL,
                        "ray_actor_create %s: max_task_retries "
                        "%d (-1: no limit, or a count)",
                        cls, (int)o->max_task_retries);
    return RAY_OK;
}

/* Create an actor of class `ctor` whose constructor arguments are the
 * wire args `spec` (rt_malloc'd, taken over; the refs among them already
 * held for it). On RAY_OK *id is the new actor (one handle counted).
 * Else the error, with the detail set; spec and its refs are released.
 * mu held. */
static ray_err
create_locked(sdk_rt *rt, const ray_fn_desc *ctor, uint8_t *spec, uint32_t len,
              uint32_t nargs, bool refs, const ray_actor_opts *o, uint64_t *id,
              sdk_cb **cbs)
{
    gcs_actor *named = o->get_if_exists && o->name && o->name[0]
                           ? gcs_actor_by_name(&rt->actors->table, o->name)
                           : NULL;
    if (named) { /* that one, if it is of this class */
        sdk_actor tmp = {
            .ctor_spec = spec, .ctor_nargs = nargs, .ctor_refs = refs};
        sdk_actor_free_ctor(rt, &tmp, cbs);
        uint64_t h = ctor->hash ? ctor->hash : sdk_name_hash(ctor->name);
        if (named->class_hash != h)
            return sdk_fail(RAY_EEXISTS,
                            "ray_actor_create %s: the name "
                            "'%s' is taken by an actor of another class",
                            ctor->cls, o->name);
        named->handles++;
        *id = named->id;
        return RAY_OK;
    }
    sdk_actor *a = rt_calloc(1, sizeof(*a));
    if (!a) {
        sdk_actor tmp = {
            .ctor_spec = spec, .ctor_nargs = nargs, .ctor_refs = refs};
        sdk_actor_free_ctor(rt, &tmp, cbs);
        return sdk_fail(RAY_ENOMEM, "ray_actor_create: out of memory");
    }
    a->ctor_spec = spec;
    a->ctor_len = len;
    a->ctor_nargs = nargs;
    a->ctor_refs = refs;
    a->host = -1;
    ray_err err = check_actor_opts(ctor->cls, o);
    if (err == RAY_OK)
        err = build_demand(rt, o, a);
    if (err == RAY_OK && o->pg.id) {
        char what[160];
        snprintf(what, sizeof(what), "ray_actor_create %s", ctor->cls);
        err = sdk_pg_bundle_for(rt, what, o->pg, o->pg_bundle, o->num_cpus,
                                a->has_demand ? &a->demand : NULL, o->resources,
                                &a->bundle);
    }
    if (err != RAY_OK) {
        sdk_actor_free_ctor(rt, a, cbs);
        rt_free(a);
        return err;
    }
    a->own = o->own_process || o->num_cpus > 0 || o->max_concurrency > 1;
    if (o->max_concurrency > 1)
        a->conc = o->max_concurrency > (int32_t)SDK_TF_CONC_MAX
                      ? SDK_TF_CONC_MAX
                      : (uint32_t)o->max_concurrency;
    char dtor[160];
    snprintf(dtor, sizeof(dtor), "%s.__del__", ctor->cls);
    a->ctor_cls = ctor->cls;
    a->ctor_name = ctor->name;
    a->ctor_hash = ctor->hash ? ctor->hash : sdk_name_hash(ctor->name);
    a->dtor_hash = sdk_name_hash(dtor);
    a->ctor_handles = sdk_actor_hold_args(rt, spec, nargs, 1, NULL);
    gcs_actor *g;
    err = gcs_actor_add(&rt->actors->table, o->name, a->ctor_hash, &g);
    if (err != RAY_OK) {
        sdk_actor_free_ctor(rt, a, cbs);
        sdk_pg_release(rt, a->bundle);
        rt_free(a);
        if (err == RAY_EEXISTS)
            return sdk_fail(err,
                            "ray_actor_create %s: the name '%s' is "
                            "taken by a live actor",
                            ctor->cls, o->name);
        return sdk_fail(err, "ray_actor_create: out of memory");
    }
    a->g = g;
    g->user = a;
    g->detached = o->detached;
    g->max_restarts = o->max_restarts;
    g->max_task_retries = o->max_task_retries;
    g->handles = 1;
    *id = g->id;
    sdk_actor_start(rt, a, cbs);
    return RAY_OK;
}

ray_err
ray_actor_create(const ray_fn_desc *ctor, const ray_arg *args, uint32_t nargs,
                 const ray_actor_opts *opts, ray_actor *out)
{
    sdk_clear_error();
    ray_actor_opts o;
    memset(&o, 0, sizeof(o));
    if (opts)
        o = *opts;
    if (out)
        *out = RAY_ACTOR_NULL;
    if (!out || !ctor || !ctor->cls || !ctor->name)
        return sdk_fail(RAY_EINVAL, "ray_actor_create: NULL %s",
                        !out ? "out" : "constructor descriptor");
    ray_err ce = sdk_args_check("ray_actor_create", ctor->cls, args, nargs);
    if (ce != RAY_OK)
        return ce;
    return sdk_be->actor_create(ctor, args, nargs, &o, out);
}

ray_err
sdk_drv_actor_create(const ray_fn_desc *ctor, const ray_arg *args,
                     uint32_t nargs, const ray_actor_opts *opts, ray_actor *out)
{
    sdk_rt *rt = sdk_g;
    ray_actor_opts o = *opts;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    /* Ref arguments are held for the actor's life (a restart passes
     * them again); the constructor runs once they are ready. */
    uint8_t *spec;
    uint32_t len;
    bool refs;
    ray_err err = encode(rt, "ray_actor_create", ctor->cls, args, nargs, NULL,
                         0, &spec, &len, &refs);
    if (err != RAY_OK) {
        pthread_mutex_unlock(&rt->mu);
        return err;
    }
    uint64_t id = 0;
    err = create_locked(rt, ctor, spec, len, nargs, refs, &o, &id, &cbs);
    if (err == RAY_OK)
        *out = (ray_actor){id};
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return err;
}

/* ---- calls ---- */

ray_ref
ray_actor_submit(ray_actor h, const ray_fn_desc *m, const ray_arg *args,
                 uint32_t nargs)
{
    if (!m || !m->cls || !m->name) {
        sdk_fail(RAY_EINVAL, "actor call: NULL method descriptor");
        return RAY_REF_NULL;
    }
    const ray_arg *own;
    if (sdk_args_local(args, nargs, &own) != RAY_OK)
        return RAY_REF_NULL;
    ray_ref r = RAY_REF_NULL;
    if (sdk_args_check("actor call", m->name, own, nargs) == RAY_OK)
        r = sdk_be->actor_submit(h, m, own, nargs);
    sdk_args_local_done(args, own, nargs); /* the call holds its own */
    return r;
}

/* An actor call, its result a new object (into 0: returned) or the
 * driver's pending object `into` (false when it could not go: the detail
 * says why, and `into` is left to the caller). */
static ray_ref
actor_submit(uint64_t into, ray_actor h, const ray_fn_desc *m,
             const ray_arg *args, uint32_t nargs, bool *ok)
{
    sdk_rt *rt = sdk_g;
    uint8_t buf[256];
    uint8_t *spec;
    uint32_t len;
    bool refs;
    ray_ref r = RAY_REF_NULL;
    sdk_cb *cbs = NULL;
    *ok = false;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *given = into ? sdk_objects_lookup(&rt->store, into) : NULL;
    sdk_actor *a = sdk_actor_find(rt, h.id);
    char msg[300];
    ray_err err = RAY_OK;
    if (into && (!given || given->state != SDK_OBJ_PENDING)) {
        sdk_fail(RAY_EINVAL, "actor call '%s': its result is gone", m->name);
        goto out;
    }
    if (!a) {
        snprintf(msg, sizeof(msg),
                 "actor call '%s': the actor handle is "
                 "null or stale (the actor ended and its handles were "
                 "released)",
                 m->name);
        err = RAY_EACTOR_DIED;
    } else if (m->cls != a->ctor_cls && strcmp(m->cls, a->ctor_cls) != 0) {
        snprintf(msg, sizeof(msg),
                 "actor call '%s': not a method of actor "
                 "class %s",
                 m->name, a->ctor_cls);
        err = RAY_EINVAL;
    }
    if (err != RAY_OK) {
        if (given)
            sdk_fail(err, "%s", msg);
        else
            r = failed_ref(rt, err, msg);
        goto out;
    }
    if (encode(rt, "actor call", m->name, args, nargs, buf, sizeof(buf), &spec,
               &len, &refs) != RAY_OK)
        goto out;
    sdk_task *t = sdk_actor_new_task(rt, a, SDK_TF_CALL, m->hash, m->name, spec,
                                     len, nargs, given, given ? NULL : &r);
    if (!t && refs)
        sdk_spec_refs(rt, spec, nargs, false); /* encode's holds */
    if (spec != buf)
        rt_free(spec);
    if (!t) {
        sdk_fail(RAY_ENOMEM, "actor call '%s': out of memory", m->name);
        goto out;
    }
    t->has_refs = refs;
    t->has_handles = sdk_actor_hold_args(rt, t->spec, nargs, 1, NULL);
    if (refs)
        sdk_task_add_deps(rt, t);
    sdk_actor_enqueue(rt, a, t, &cbs);
    *ok = true;
out:
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return r;
}

ray_ref
sdk_drv_actor_submit(ray_actor h, const ray_fn_desc *m, const ray_arg *args,
                     uint32_t nargs)
{
    bool ok;
    return actor_submit(0, h, m, args, nargs, &ok);
}

ray_err
sdk_drv_actor_submit_into(uint64_t into, ray_actor h, const ray_fn_desc *m,
                          const ray_arg *args, uint32_t nargs)
{
    bool ok;
    (void)actor_submit(into, h, m, args, nargs, &ok);
    return ok ? RAY_OK : RAY_EINVAL;
}

/* ---- handles ---- */

ray_err
ray_actor_lookup(const char *name, ray_actor *out)
{
    if (out)
        *out = RAY_ACTOR_NULL;
    if (!name || !out)
        return sdk_fail(RAY_EINVAL, "ray_actor_lookup: NULL %s",
                        !name ? "name" : "out");
    return sdk_be->actor_lookup(name, out);
}

ray_err
sdk_drv_actor_lookup(const char *name, ray_actor *out)
{
    sdk_rt *rt = sdk_g;
    ray_err err = RAY_OK;
    pthread_mutex_lock(&rt->mu);
    gcs_actor *g = gcs_actor_by_name(&rt->actors->table, name);
    if (g) {
        g->handles++;
        *out = (ray_actor){g->id};
    } else {
        err = sdk_fail(RAY_ENOTFOUND,
                       "ray_actor_lookup: no live actor is "
                       "named '%s'",
                       name);
    }
    pthread_mutex_unlock(&rt->mu);
    return err;
}

ray_err
ray_actor_retain(ray_actor h)
{
    if (!h.id)
        return sdk_fail(RAY_EINVAL, "ray_actor_retain: null handle");
    return sdk_be->actor_ref(h, true);
}

void
ray_actor_release(ray_actor h)
{
    if (h.id)
        (void)sdk_be->actor_ref(h, false);
}

static void drop_handle(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs);

ray_err
sdk_drv_actor_ref(ray_actor h, bool retain)
{
    sdk_rt *rt = sdk_g;
    ray_err err = RAY_OK;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    sdk_actor *a = sdk_actor_find(rt, h.id);
    if (a && retain)
        a->g->handles++;
    else if (a)
        drop_handle(rt, a, &cbs);
    else if (retain)
        err = sdk_fail(RAY_EINVAL, "ray_actor_retain: null or stale handle");
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return err;
}

/* Drop one count of actor `a`'s handles; the last ends it (mu held). */
static void
drop_handle(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs)
{
    if (a->g->handles > 0 && --a->g->handles == 0) {
        if (!a->g->detached)
            sdk_actor_end(rt, a, "all its handles were released", cbs);
        sdk_actor_maybe_free(rt, a, cbs);
    }
}

bool
sdk_actor_hold_args(sdk_rt *rt, const uint8_t *spec, uint32_t nargs, int delta,
                    sdk_cb **cbs)
{
    const sdk_wire_arg *wa = (const sdk_wire_arg *)spec;
    bool any = false;
    for (uint32_t i = 0; i < nargs; i++) {
        if (!(wa[i].type & SDK_WIRE_ACTOR))
            continue;
        any = true;
        sdk_actor *a = sdk_actor_find(rt, wa[i].scalar);
        if (!a)
            continue; /* a stale handle: the call will say so */
        if (delta > 0)
            a->g->handles++;
        else
            drop_handle(rt, a, cbs);
    }
    return any;
}

/* Record that worker slot `wk` holds one count of actor `id`'s handles
 * (already counted). False on out of memory. mu held. */
static bool
worker_adopt(sdk_rt *rt, sdk_worker *wk, uint64_t id)
{
    if (wk->nahold == wk->cahold) {
        uint32_t cap = wk->cahold ? wk->cahold * 2 : 8;
        uint64_t *n = rt_realloc(wk->ahold, cap * sizeof(*n));
        if (!n) {
            RT_LOG_RATELIMITED(RT_LOG_ERROR,
                               "out of memory counting an "
                               "actor handle for a worker (slot %u)",
                               (unsigned)sdk_windex(rt, wk));
            return false;
        }
        wk->ahold = n;
        wk->cahold = cap;
    }
    wk->ahold[wk->nahold++] = id;
    return true;
}

/* Count a handle of actor `id` for worker slot `wk` (mu held). */
static void
worker_hold(sdk_rt *rt, sdk_worker *wk, uint64_t id)
{
    sdk_actor *a = sdk_actor_find(rt, id);
    if (a && worker_adopt(rt, wk, id))
        a->g->handles++;
}

/* Drop one handle of actor `id` that worker slot `wk` counted. A handle
 * it did not count (a borrowed one) is not dropped. */
static void
worker_unhold(sdk_rt *rt, sdk_worker *wk, uint64_t id, sdk_cb **cbs)
{
    for (uint32_t i = wk->nahold; i-- > 0;) {
        if (wk->ahold[i] != id)
            continue;
        wk->ahold[i] = wk->ahold[--wk->nahold];
        sdk_actor *a = sdk_actor_find(rt, id);
        if (a)
            drop_handle(rt, a, cbs);
        return;
    }
}

void
sdk_actor_drop_worker_holds(sdk_rt *rt, sdk_worker *wk, sdk_cb **cbs)
{
    while (wk->nahold) {
        uint64_t id = wk->ahold[--wk->nahold];
        sdk_actor *a = sdk_actor_find(rt, id);
        if (a)
            drop_handle(rt, a, cbs);
    }
    rt_free(wk->ahold);
    wk->ahold = NULL;
    wk->cahold = 0;
}

/* ray_actor_kill of `a` (mu held). */
static void
kill_locked(sdk_rt *rt, sdk_actor *a, bool no_restart, sdk_cb **cbs)
{
    if (!no_restart && gcs_actor_should_restart(a->g) &&
        sdk_actor_kill_host(rt, a))
        return; /* its own process dies; the crash path restarts it */
    sdk_actor_kill_now(rt, a, "killed by ray_actor_kill", cbs);
    sdk_actor_maybe_free(rt, a, cbs);
}

ray_err
ray_actor_kill(ray_actor h, bool no_restart)
{
    if (!h.id)
        return sdk_fail(RAY_EINVAL, "ray_actor_kill: null handle");
    return sdk_be->actor_kill(h, no_restart);
}

ray_err
sdk_drv_actor_kill(ray_actor h, bool no_restart)
{
    sdk_rt *rt = sdk_g;
    ray_err err = RAY_OK;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    sdk_actor *a = sdk_actor_find(rt, h.id);
    if (!a)
        err = sdk_fail(RAY_EINVAL, "ray_actor_kill: null or stale handle");
    else
        kill_locked(rt, a, no_restart, &cbs);
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return err;
}

ray_err
ray_actor_state(ray_actor h, int *state, int *num_restarts)
{
    return sdk_be->actor_state(h, state, num_restarts);
}

ray_err
sdk_drv_actor_state(ray_actor h, int *state, int *num_restarts)
{
    sdk_rt *rt = sdk_g;
    ray_err err = RAY_OK;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    sdk_progress(rt, &cbs); /* take in what the hosts reported */
    sdk_actor *a = sdk_actor_find(rt, h.id);
    if (a) {
        if (state)
            *state = a->g->state;
        if (num_restarts)
            *num_restarts = a->g->num_restarts;
    } else {
        err = sdk_fail(RAY_EINVAL, "ray_actor_state: null or stale handle");
    }
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return err;
}

int
sdk_drv_actor_pid(ray_actor h)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        return 0;
    pthread_mutex_lock(&rt->mu);
    sdk_actor *a = sdk_actor_find(rt, h.id);
    int pid = a ? (int)a->g->pid : 0;
    pthread_mutex_unlock(&rt->mu);
    return pid;
}

static bool
settled(sdk_rt *rt, void *arg)
{
    sdk_actor *a = sdk_actor_find(rt, *(uint64_t *)arg);
    return !a || a->g->state == GCS_ACTOR_ALIVE ||
           a->g->state == GCS_ACTOR_DEAD;
}

ray_err
ray_actor_wait_ready(ray_actor h, int64_t timeout_ms)
{
    return sdk_be->actor_wait_ready(h, timeout_ms);
}

ray_err
sdk_drv_actor_wait_ready(ray_actor h, int64_t timeout_ms)
{
    sdk_rt *rt = sdk_g;
    uint64_t id = h.id;
    ray_err err =
        sdk_wait_until(rt, settled, &id, rt_deadline_after_ms(timeout_ms));
    if (err != RAY_OK)
        return sdk_fail(err, "ray_actor_wait_ready: timed out");
    pthread_mutex_lock(&rt->mu);
    sdk_actor *a = sdk_actor_find(rt, id);
    if (!a)
        err = sdk_fail(RAY_EINVAL, "ray_actor_wait_ready: null or stale "
                                   "handle");
    else if (a->g->state == GCS_ACTOR_DEAD)
        err = sdk_fail((ray_err)a->g->death_err, "%s",
                       a->g->death_msg ? a->g->death_msg : "actor is dead");
    pthread_mutex_unlock(&rt->mu);
    return err;
}

/* ---- requests from workers ---- */

/* Queue an actor call from a worker. Returns its result object (done or
 * not) for the caller to push, or NULL when the id was not reserved. */
static sdk_obj *
handle_call(sdk_rt *rt, const sdk_msg_req *q, uint32_t len, sdk_cb **cbs)
{
    sdk_obj *o = sdk_objects_lookup(&rt->store, q->obj_id);
    if (!o || o->state != SDK_OBJ_PENDING || o->producer)
        return NULL; /* not a reserved id: ignore (a broken worker) */
    const uint8_t *p = (const uint8_t *)(q + 1);
    size_t name_sz = SDK_ALIGN8(q->name_len);
    if (len < sizeof(*q) + name_sz || q->nargs > RAY_MAX_ARGS ||
        len - sizeof(*q) - name_sz < q->nargs * sizeof(sdk_wire_arg)) {
        sdk_objects_set_error(&rt->store, o, RAY_EPROTO,
                              "malformed actor call");
        sdk_object_done(rt, o, cbs);
        return o;
    }
    uint32_t args_len = (uint32_t)(len - sizeof(*q) - name_sz);
    sdk_actor *a = sdk_actor_find(rt, q->req_id);
    /* The method's name, for errors: interned by hash when the slot is
     * free or holds this name, else a copy owned by the task. */
    sdk_actors *s = rt->actors;
    size_t k = q->fn_hash & 255;
    char *name = s->names[k].hash == q->fn_hash ? s->names[k].name : NULL;
    bool owned = false;
    if (!name && (name = rt_malloc(q->name_len + 1))) {
        memcpy(name, p, q->name_len);
        name[q->name_len] = '\0';
        owned = s->names[k].name != NULL;
        if (!owned) {
            s->names[k].hash = q->fn_hash;
            s->names[k].name = name;
        }
    }
    if (!a && name && sdk_remote_actor_call && q->req_id &&
        (q->req_id & 0xffffffffu) == 0) {
        sdk_remote_actor_call(rt, q->req_id, name, p + name_sz, args_len,
                              q->nargs, o, cbs);
        if (owned)
            rt_free(name);
        return o;
    }
    if (!a || !name) {
        sdk_objects_set_error(&rt->store, o,
                              name ? RAY_EACTOR_DIED : RAY_ENOMEM,
                              name ? "actor call from a task: the actor handle "
                                     "is null or stale"
                                   : "out of memory");
        sdk_object_done(rt, o, cbs);
        if (owned)
            rt_free(name);
        return o;
    }
    sdk_task *t = sdk_actor_new_task(rt, a, SDK_TF_CALL, q->fn_hash, name,
                                     p + name_sz, args_len, q->nargs, o, NULL);
    if (!t) {
        if (owned)
            rt_free(name);
        sdk_objects_set_error(&rt->store, o, RAY_ENOMEM, "out of memory");
        sdk_object_done(rt, o, cbs);
        return o;
    }
    if (owned)
        t->name_owned = name;
    t->has_refs = sdk_spec_hold_sent_refs(rt, t->spec, t->nargs);
    t->has_handles = sdk_actor_hold_args(rt, t->spec, t->nargs, 1, NULL);
    if (t->has_refs)
        sdk_task_add_deps(rt, t);
    sdk_actor_enqueue(rt, a, t, cbs);
    return o;
}

/* An actor created from inside a task: answered with its id, the handle
 * counted for that worker, or the error and its detail. */
static void
handle_create(sdk_rt *rt, int w, const sdk_msg_req *q, uint32_t len,
              sdk_cb **cbs)
{
    sdk_worker *wk = &rt->workers[w];
    const sdk_msg_acreate *c = (const sdk_msg_acreate *)(q + 1);
    size_t head = sizeof(*q) + sizeof(*c);
    const ray_fn_desc *ctor = sdk_registry_find(q->fn_hash);
    ray_err err = RAY_OK;
    char name[256] = "", res[512] = "";
    size_t strs = 0, args_len = 0;
    if (len < head || q->nargs > RAY_MAX_ARGS) {
        err = sdk_fail(RAY_EPROTO, "ray_actor_create from a task: malformed "
                                   "request");
    } else {
        strs = SDK_ALIGN8(c->name_len) + SDK_ALIGN8(c->res_len);
        if (c->name_len >= sizeof(name) || c->res_len >= sizeof(res) ||
            len - head < strs ||
            (args_len = len - head - strs) < q->nargs * sizeof(sdk_wire_arg))
            err = sdk_fail(RAY_EPROTO, "ray_actor_create from a task: "
                                       "malformed request");
    }
    if (err == RAY_OK && (!ctor || !ctor->cls))
        err = sdk_fail(RAY_ENOTFOUND,
                       "ray_actor_create from a task: no "
                       "actor class has this constructor in the driver");
    uint8_t *spec = NULL;
    bool refs = false;
    if (err == RAY_OK) {
        const uint8_t *s = (const uint8_t *)(c + 1);
        memcpy(name, s, c->name_len);
        memcpy(res, s + SDK_ALIGN8(c->name_len), c->res_len);
        if (args_len && !(spec = rt_malloc(args_len)))
            err = sdk_fail(RAY_ENOMEM, "ray_actor_create: out of memory");
        else if (args_len)
            memcpy(spec, s + strs, args_len);
    }
    if (err == RAY_OK &&
        (err = sdk_spec_hold_refs(rt, spec, q->nargs, "ray_actor_create",
                                  ctor->cls, &refs)) != RAY_OK)
        rt_free(spec);
    uint64_t id = 0;
    if (err == RAY_OK) {
        ray_actor_opts o = {
            .num_cpus = c->num_cpus,
            .resources = res[0] ? res : NULL,
            .name = name[0] ? name : NULL,
            .detached = c->detached,
            .own_process = c->own_process,
            .max_restarts = c->max_restarts,
            .max_task_retries = c->max_task_retries,
            .max_concurrency = c->max_concurrency,
            .get_if_exists = c->get_if_exists,
        };
        err = create_locked(rt, ctor, spec, (uint32_t)args_len, q->nargs, refs,
                            &o, &id, cbs);
    }
    if (err != RAY_OK) {
        const char *m = ray_last_error_detail();
        sdk_nested_reply(rt, w, q->req_id, err, RAY_T_NONE, 0, m,
                         strlen(m) + 1);
        return;
    }
    worker_adopt(rt, wk, id);
    sdk_nested_reply(rt, w, q->req_id, RAY_OK, RAY_T_U64, id, NULL, 0);
}

/* ray_actor_state (answered now) or ray_actor_wait_ready (answered when
 * the actor is ALIVE or DEAD) from worker w. */
static void
handle_state(sdk_rt *rt, int w, uint32_t type, const sdk_msg_req *q)
{
    sdk_actor *a = sdk_actor_find(rt, q->obj_id);
    if (!a) {
        static const char m[] = "null or stale actor handle";
        sdk_nested_reply(rt, w, q->req_id, RAY_EINVAL, RAY_T_NONE, 0, m,
                         sizeof(m));
        return;
    }
    int st = a->g->state;
    if (type == SDK_MSG_ASTATE) {
        uint64_t v = (uint64_t)st | (uint64_t)a->g->num_restarts << 8;
        sdk_nested_reply(rt, w, q->req_id, RAY_OK, RAY_T_U64, v, NULL, 0);
        return;
    }
    sdk_ready_waiter *r = rt_malloc(sizeof(*r));
    if (!r) {
        static const char m[] = "out of memory in the driver";
        sdk_nested_reply(rt, w, q->req_id, RAY_ENOMEM, RAY_T_NONE, 0, m,
                         sizeof(m));
        return;
    }
    *r = (sdk_ready_waiter){a->ready_waiters, q->req_id, w,
                            sdk_proc_worker(rt, w)->deaths};
    a->ready_waiters = r;
    if (st == GCS_ACTOR_ALIVE || st == GCS_ACTOR_DEAD)
        sdk_actor_answer_ready(rt, a);
}

/* Answer a lookup by name on worker w's reply ring: a handle counted
 * for that worker. */
static void
handle_lookup(sdk_rt *rt, int w, const sdk_msg_req *q, uint32_t len)
{
    sdk_worker *wk = &rt->workers[w];
    char name[256], msg[320];
    size_t n = q->name_len < sizeof(name) - 1 ? q->name_len : sizeof(name) - 1;
    if (len < sizeof(*q) + n)
        return;
    memcpy(name, q + 1, n);
    name[n] = '\0';
    gcs_actor *g = gcs_actor_by_name(&rt->actors->table, name);
    if (!g) {
        int m = snprintf(msg, sizeof(msg),
                         "ray_actor_lookup: no live actor "
                         "is named '%s'",
                         name);
        sdk_nested_reply(rt, w, q->req_id, RAY_ENOTFOUND, RAY_T_NONE, 0, msg,
                         (size_t)m + 1);
        return;
    }
    worker_hold(rt, wk, g->id);
    sdk_nested_reply(rt, w, q->req_id, RAY_OK, RAY_T_U64, g->id, NULL, 0);
}

void (*sdk_remote_actor_call)(sdk_rt *, uint64_t, const char *, const uint8_t *,
                              uint32_t, uint32_t, sdk_obj *, sdk_cb **);

void
sdk_actor_handle_req(sdk_rt *rt, int w, uint32_t type, const uint8_t *rec,
                     uint32_t len, sdk_cb **cbs)
{
    const sdk_msg_req *q = (const sdk_msg_req *)rec;
    if (type == SDK_MSG_ACALL) {
        sdk_obj *o = handle_call(rt, q, len, cbs);
        if (o)
            sdk_nested_watch(rt, w, o, q->obj_id);
        return;
    }
    if (type == SDK_MSG_ALOOKUP) {
        handle_lookup(rt, w, q, len);
        return;
    }
    if (type == SDK_MSG_ASTATE || type == SDK_MSG_AREADY) {
        handle_state(rt, w, type, q);
        return;
    }
    if (type == SDK_MSG_AKILL) {
        sdk_actor *a = sdk_actor_find(rt, q->obj_id);
        if (a)
            kill_locked(rt, a, q->len != 0, cbs);
        return;
    }
    if (type == SDK_MSG_ACREATE) {
        handle_create(rt, w, q, len, cbs);
        return;
    }
    if (type == SDK_MSG_ARETAIN) {
        worker_hold(rt, &rt->workers[w], q->obj_id);
        return;
    }
    if (type == SDK_MSG_ARELEASE) {
        worker_unhold(rt, &rt->workers[w], q->obj_id, cbs);
        return;
    }
    /* AEXIT: the actor in host slot obj_id ran ray_actor_exit. */
    if (w < rt->ntask || q->obj_id >= SDK_HOST_CAP)
        return;
    sdk_host *h = &rt->actors->hosts[w - rt->ntask];
    sdk_actor *a =
        h->ids[q->obj_id] ? sdk_actor_find(rt, h->ids[q->obj_id]) : NULL;
    if (!a)
        return;
    sdk_actor_die(rt, a, RAY_EACTOR_DIED, "it exited (ray_actor_exit)", cbs);
    /* The host already freed its state: the slot is free after the
     * records before this one, which the host has run. */
    h->ids[q->obj_id] = 0;
    h->used--;
    a->host = -1;
    a->g->host = -1;
    sdk_actor_maybe_free(rt, a, cbs);
}

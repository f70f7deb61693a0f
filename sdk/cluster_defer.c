/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_defer.c: calls for another node, and calls of actors on other
 * nodes, whose arguments are refs not ready yet. The driver resolves them
 * itself, as Ray's owner does before it asks for a lease: the call waits here
 * (its result a pending object of this driver from the start), one ray_on_done
 * per ref; when the last is done, the resolver thread sends it like any call,
 * its ready refs by value or pushed (transfer.h), to the node placement chose,
 * or to another if that one has gone since. A failed argument fails the call
 * with that argument's error, as on one node. A call in a placement group
 * still pending waits here the same way, for the group's `ready` object
 * (its gate) beside its refs, and goes where the group's bundle is. So
 * does an actor's creation in such a group (cl_actor_make_waiting), and
 * the calls to that actor made meanwhile wait behind it, in order.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "sdk/cluster_int.h"
#include "sdk/sdk_int.h"
#include "sdk/wire.h"

typedef struct deferred {
    struct deferred *next;                /* ready to send (D.head) */
    struct deferred *prev_all, *next_all; /* every call here (D.all) */
    char *name;
    ray_arg *args; /* buffers copied (owned), refs retained */
    uint32_t nargs;
    ray_call_opts opts; /* strings copied (owned) */
    bool has_opts;
    uint64_t id;  /* the result */
    int node;     /* where placement sent it; -1: an actor call; -2: its
                     placement group's bundle says, once created */
    ray_ref gate; /* its placement group's `ready` (held), or null */
    _Atomic int waiting;
    /* An actor call: its actor (a handle held while here), its method,
     * and its place among the actor calls here (D.acalls, in order). */
    ray_actor actor;
    const ray_fn_desc *method;
    /* Or an actor's creation, waiting for its placement group: its
     * constructor and options (strings copied, owned). */
    const ray_fn_desc *ctor;
    ray_actor_opts *aopts; /* (neither this nor a method: its restart in its
                              placement group, placed again) */
    struct deferred *next_acall;
    bool done; /* its arguments are (D.mu) */
} deferred;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    deferred *head, **tail;
    deferred *all;
    deferred *acalls; /* actor calls here, in the order they were made */
    bool started, stop;
    pthread_t th;
} D = {PTHREAD_MUTEX_INITIALIZER,
       PTHREAD_COND_INITIALIZER,
       NULL,
       NULL,
       NULL,
       NULL,
       false,
       false,
       0};

/* The first actor call here for `actor` (D.mu held), or NULL. */
static deferred *
first_acall(uint64_t actor)
{
    for (deferred *d = D.acalls; d; d = d->next_acall)
        if (d->actor.id == actor)
            return d;
    return NULL;
}

/* To the resolver (D.mu held). */
static void
enqueue(deferred *d)
{
    d->next = NULL;
    *D.tail = d;
    D.tail = &d->next;
    pthread_cond_signal(&D.cv);
}

/* Out of D.all (D.mu held). */
static void
unlink_all(deferred *d)
{
    if (d->prev_all)
        d->prev_all->next_all = d->next_all;
    else if (D.all == d)
        D.all = d->next_all;
    if (d->next_all)
        d->next_all->prev_all = d->prev_all;
    d->prev_all = d->next_all = NULL;
}

static void
deferred_free(deferred *d)
{
    for (uint32_t k = 0; k < d->nargs; k++) {
        if (d->args[k].type == RAY_T_REF)
            ray_ref_release(d->args[k].v.ref);
        else if (sdk_type_buffer(d->args[k].type))
            rt_free((void *)d->args[k].v.buf.ptr);
    }
    rt_free(d->args);
    if (d->gate.id)
        ray_ref_release(d->gate);
    if (d->actor.id)
        ray_actor_release(d->actor);
    if (d->aopts) {
        rt_free((char *)d->aopts->resources);
        rt_free((char *)d->aopts->name);
    }
    rt_free(d->aopts);
    rt_free(d->name);
    rt_free((char *)d->opts.name);
    rt_free((char *)d->opts.resources);
    rt_free((char *)d->opts.node);
    rt_free(d);
}

/* The first of d's ref arguments that failed: its error (why says
 * which and how), or RAY_OK. */
static ray_err
failed_arg(const deferred *d, char *why, size_t whylen)
{
    for (uint32_t k = 0; k < d->nargs; k++) {
        ray_view v;
        if (d->args[k].type != RAY_T_REF)
            continue;
        ray_err err = ray_get(d->args[k].v.ref, &v, 0);
        if (err == RAY_OK) {
            ray_release(&v);
            continue;
        }
        snprintf(why, whylen, "argument %u: %s", k + 1,
                 ray_last_error_detail());
        return err;
    }
    return RAY_OK;
}

static ray_ref defer(cl_driver *cl, int i, const char *name,
                     const ray_arg *args, uint32_t nargs,
                     const ray_call_opts *opts, ray_actor actor,
                     const ray_fn_desc *method, ray_ref gate,
                     const ray_fn_desc *ctor, ray_actor_opts *aopts,
                     uint64_t into);

/* Is one of d's ref arguments pending (not parked)? */
static bool
pending_arg(const deferred *d)
{
    bool parked;
    for (uint32_t k = 0; k < d->nargs; k++)
        if (d->args[k].type == RAY_T_REF &&
            cl_ref_pending(d->args[k].v.ref, &parked) && !parked)
            return true;
    return false;
}

/* Send an actor call whose arguments are all done, in its turn. */
static void
send_acall(deferred *d)
{
    char why[400], msg[500];
    ray_err err = failed_arg(d, why, sizeof(why));
    if (err != RAY_OK) {
        snprintf(msg, sizeof(msg), "actor call '%s': %s", d->name, why);
        cl_fail(d->id, err, msg);
        return;
    }
    (void)cl_actor_send(d->actor, d->method, d->args, d->nargs, d->id);
}

/* Where a call gated by its placement group goes, now that the group is
 * created: true with node *i and the bundle's group there in d->opts; or
 * false, it was dealt with here (failed: the group went; or, its bundle
 * on this node, submitted to this runtime as the call's result). */
static bool
route_gated(deferred *d, int *i)
{
    char what[160];
    snprintf(what, sizeof(what), "submit '%s'", d->name);
    ray_ref none = RAY_REF_NULL;
    ray_call_opts *o = &d->opts;
    ray_err r = cl_pg_route(what, o->pg, o->pg_bundle,
                            o->num_cpus > 0 ? o->num_cpus : 1, o->resources,
                            &o->pg.id, &o->pg_bundle, i, &none);
    if (r == RAY_EAGAIN) { /* pending again: a node of it died since */
        ray_ref_release(none);
        cl_fail(d->id, RAY_EWORKER_DIED,
                "its placement group lost a node as the call was sent, and "
                "waits for its bundles to be placed again: call again");
        return false;
    }
    if (r != RAY_OK) {
        cl_fail(d->id, r, ray_last_error_detail());
        return false;
    }
    if (*i >= 0)
        return true;
    /* Its bundle is here: a call of this runtime, its result the one the
     * caller holds. */
    if (sdk_drv_submit_into(d->id, d->name, sdk_name_hash(d->name), d->args,
                            d->nargs, o) != RAY_OK)
        cl_fail(d->id, RAY_EINVAL, ray_last_error_detail());
    return false;
}

/* Send a call whose arguments are all done. */
static void
send_now(cl_driver *cl, deferred *d)
{
    if (d->gate.id && !route_gated(d, &d->node))
        return;
    const ray_call_opts *opts = d->has_opts ? &d->opts : NULL;
    ray_arg *a = rt_calloc(d->nargs ? d->nargs : 1, sizeof(*a));
    ray_view *views = rt_calloc(d->nargs ? d->nargs : 1, sizeof(*views));
    uint32_t nviews = 0;
    char why[400] = "";
    ray_err err = RAY_OK;
    if (!a || !views) {
        err = RAY_ENOMEM;
        snprintf(why, sizeof(why), "out of memory sending the call");
    } else if (pending_arg(d)) {
        err = RAY_EAGAIN; /* made again meanwhile (its node died) */
    } else if (!cl_args_resolve(d->args, d->nargs, a, views, &nviews, NULL,
                                true)) {
        /* A failed argument: its error is the call's. */
        err = failed_arg(d, why, sizeof(why));
        if (err == RAY_OK) {
            err = RAY_EINVAL;
            snprintf(why, sizeof(why), "an argument cannot go to another node");
        }
    }
    int i = d->node;
    bool free_to_move =
        !opts || (!(opts->node && *opts->node) && !opts->pg.id &&
                  opts->strategy == RAY_STRATEGY_DEFAULT);
    int near = err == RAY_OK && !d->gate.id && free_to_move
                   ? cl_parked_near(cl, d->args, d->nargs)
                   : -1;
    if (near >= 0 && !cl_node_full(cl, near) &&
        cl_node_fits(&cl->nodes[near], opts ? opts->resources : NULL))
        i = near; /* beside its largest arguments' values */
    if (err == RAY_OK && !atomic_load(&cl->nodes[i].alive))
        i = opts && opts->pg.id ? -1 /* its bundle went with it */
                                : cl_choose(cl, opts, false, i);
    if (err == RAY_OK && i < 0) {
        err = RAY_EWORKER_DIED;
        snprintf(why, sizeof(why),
                 "its node went while its arguments were made, and no "
                 "other node can run it");
    }
    bool pushed = false;
    char(*rdesc)[CL_REMOTE_DESC] =
        rt_calloc(d->nargs ? d->nargs : 1, CL_REMOTE_DESC);
    fl_entry e = {.id = d->id};
    if (err == RAY_OK && !rdesc) {
        err = RAY_ENOMEM;
        snprintf(why, sizeof(why), "out of memory sending the call");
    }
    if (err == RAY_OK)
        err = cl_args_place(cl, i, false, d->args, a, d->nargs, rdesc, &e.refs,
                            &e.nrefs, &pushed, why, sizeof(why));
    if (err == RAY_OK) {
        Ray__Rpc__ClusterTask base = RAY__RPC__CLUSTER_TASK__INIT;
        base.id = d->id;
        base.function = d->name;
        e.task = cl_pack_task(&base, a, d->nargs, opts, &e.len);
        if (!e.task || e.len > CL_RECORD_MAX) {
            err = e.task ? RAY_ETOOBIG : RAY_ENOMEM;
            snprintf(why, sizeof(why), "its record takes %u bytes (at most %u)",
                     e.len, CL_RECORD_MAX);
        }
    }
    cl_views_release(views, nviews);
    rt_free(a);
    rt_free(views);
    rt_free(rdesc);
    if (err == RAY_EAGAIN) { /* an argument moved: it waits again */
        cl_entry_done(&e);
        if (defer(cl, i, d->name, d->args, d->nargs, opts, (ray_actor){0}, NULL,
                  RAY_REF_NULL, NULL, NULL, d->id)
                .id)
            return;
        err = RAY_ENOMEM;
        snprintf(why, sizeof(why), "out of memory sending the call");
    }
    if (err == RAY_OK) {
        e.retries = cl_retries(opts, pushed);
        e.pinned = cl_pinned(opts);
        if (cl_send_to(cl, i, &e) ||
            (e.retries > 0 && cl_place_again(cl, i, &e)))
            return;
        err = RAY_EWORKER_DIED;
        snprintf(why, sizeof(why), "no node could take it");
    }
    cl_entry_done(&e);
    char msg[500];
    snprintf(msg, sizeof(msg), "'%s': %s", d->name, why);
    cl_fail(d->id, err, msg);
}

static void *
resolver_main(void *arg)
{
    cl_driver *cl = arg;
    pthread_mutex_lock(&D.mu);
    for (;;) {
        while (!D.head && !D.stop)
            pthread_cond_wait(&D.cv, &D.mu);
        if (D.stop)
            break;
        deferred *d = D.head;
        D.head = d->next;
        if (!D.head)
            D.tail = &D.head;
        pthread_mutex_unlock(&D.mu);
        if (d->actor.id && !d->method && !d->ctor)
            cl_actor_restart_in_group(d->actor);
        else if (d->ctor)
            cl_actor_make_waiting(d->actor, d->ctor, d->args, d->nargs,
                                  d->aopts);
        else if (d->actor.id)
            send_acall(d);
        else
            send_now(cl, d);
        pthread_mutex_lock(&D.mu);
        if (d->actor.id) { /* the actor's next call, if done, goes next */
            for (deferred **p = &D.acalls; *p; p = &(*p)->next_acall)
                if (*p == d) {
                    *p = d->next_acall;
                    break;
                }
            deferred *n = first_acall(d->actor.id);
            if (n && n->done)
                enqueue(n);
        }
        unlink_all(d);
        pthread_mutex_unlock(&D.mu);
        deferred_free(d);
        pthread_mutex_lock(&D.mu);
    }
    pthread_mutex_unlock(&D.mu);
    return NULL;
}

/* d's arguments are done: it goes, or, an actor call, when those made
 * before it to the same actor have gone. */
static void
ready(deferred *d)
{
    pthread_mutex_lock(&D.mu);
    d->done = true;
    if (!d->actor.id || first_acall(d->actor.id) == d)
        enqueue(d);
    pthread_mutex_unlock(&D.mu);
}

static void
dep_done(void *arg, ray_ref ref, ray_err err)
{
    (void)ref;
    (void)err; /* seen when the call is sent */
    deferred *d = arg;
    if (atomic_fetch_sub(&d->waiting, 1) == 1)
        ready(d);
}

bool
cl_defer_wanted(const ray_arg *args, uint32_t nargs, bool parked_ok)
{
    bool pending = false, parked;
    for (uint32_t k = 0; k < nargs; k++) {
        if (args[k].pad)
            return false; /* an actor handle: the call stays here */
        if (args[k].type == RAY_T_REF && !pending) /* a bad ref fails */
            pending = cl_ref_pending(args[k].v.ref, &parked) && /* when */
                      !(parked && parked_ok);                   /* sent */
    }
    return pending;
}

static char *
dup_or_null(const char *s)
{
    return s ? rt_strdup(s) : NULL;
}

/* A call (node i), an actor call (actor, method) or an actor's creation
 * (actor, ctor, aopts: taken) that waits here. */
static ray_ref
defer(cl_driver *cl, int i, const char *name, const ray_arg *args,
      uint32_t nargs, const ray_call_opts *opts, ray_actor actor,
      const ray_fn_desc *method, ray_ref gate, const ray_fn_desc *ctor,
      ray_actor_opts *aopts, uint64_t into)
{
    deferred *d = rt_calloc(1, sizeof(*d));
    if (d) {
        d->args = rt_calloc(nargs ? nargs : 1, sizeof(*d->args));
        d->name = rt_strdup(name);
        d->ctor = ctor;
        d->aopts = aopts;
    } else if (aopts) {
        rt_free((char *)aopts->resources);
        rt_free((char *)aopts->name);
        rt_free(aopts);
    }
    bool ok = d && d->args && d->name;
    for (uint32_t k = 0; ok && k < nargs; k++) {
        d->args[k] = args[k];
        if (args[k].type == RAY_T_REF) {
            ok = ray_ref_retain(args[k].v.ref) == RAY_OK;
            if (!ok)
                d->args[k].type = RAY_T_NONE; /* not released */
        } else if (sdk_type_buffer(args[k].type)) {
            void *p = rt_malloc(args[k].v.buf.len ? args[k].v.buf.len : 1);
            if (p && args[k].v.buf.len)
                memcpy(p, args[k].v.buf.ptr, args[k].v.buf.len);
            d->args[k].v.buf.ptr = p;
            ok = p != NULL;
        }
        d->nargs = k + 1;
    }
    if (ok && opts) {
        d->has_opts = true;
        d->opts = *opts;
        d->opts.name = dup_or_null(opts->name);
        d->opts.resources = dup_or_null(opts->resources);
        d->opts.node = dup_or_null(opts->node);
    }
    sdk_rt *rt = sdk_g;
    sdk_obj *o;
    pthread_mutex_lock(&rt->mu);
    ray_err err = !ok    ? RAY_ENOMEM
                  : into ? RAY_OK /* the caller's, made before */
                         : sdk_objects_alloc(&rt->store, &d->id, &o);
    if (err == RAY_OK && into)
        d->id = into;
    pthread_mutex_unlock(&rt->mu);
    pthread_mutex_lock(&D.mu);
    if (err == RAY_OK && !D.started) {
        D.tail = &D.head;
        D.started = pthread_create(&D.th, NULL, resolver_main, cl) == 0;
    }
    if (err == RAY_OK && !D.started)
        err = RAY_ENOMEM;
    if (err == RAY_OK && actor.id && cl_actor_ref(actor, true) != RAY_OK)
        err = RAY_EINVAL;
    if (err == RAY_OK) {
        d->node = i;
        d->actor = actor;
        d->method = method;
        d->next_all = D.all;
        if (D.all)
            D.all->prev_all = d;
        D.all = d;
        deferred **p = &D.acalls; /* in order, behind the actor's others */
        while (actor.id && *p)
            p = &(*p)->next_acall;
        if (actor.id)
            *p = d;
    }
    pthread_mutex_unlock(&D.mu);
    if (err != RAY_OK) {
        if (gate.id)
            ray_ref_release(gate);
        if (d && d->id && !into) {
            pthread_mutex_lock(&rt->mu);
            sdk_objects_set_error(&rt->store, o, RAY_ECANCELLED, NULL);
            sdk_objects_release(&rt->store, o);
            pthread_mutex_unlock(&rt->mu);
        }
        if (d)
            deferred_free(d);
        sdk_fail(err, "submit '%s': %s", name,
                 err == RAY_ENOMEM ? "out of memory" : "a released handle");
        return RAY_REF_NULL;
    }
    uint32_t refs = gate.id ? 1 : 0;
    for (uint32_t k = 0; k < nargs; k++)
        refs += args[k].type == RAY_T_REF;
    atomic_store(&d->waiting, (int)refs + 1); /* + 1: until all are asked */
    uint64_t id = d->id;
    d->gate = gate;
    if (gate.id && ray_on_done(gate, dep_done, d) != RAY_OK)
        dep_done(d, gate, RAY_EINVAL); /* seen when sent */
    /* A call's ref that parks on a node is read there: it need not wait
     * for a pull here (an actor's calls and creations do). */
    bool plain = !actor.id && !ctor;
    for (uint32_t k = 0; k < nargs; k++)
        if (args[k].type == RAY_T_REF &&
            (plain ? sdk_on_done_or_parked(args[k].v.ref, dep_done, d)
                   : ray_on_done(args[k].v.ref, dep_done, d)) != RAY_OK)
            dep_done(d, args[k].v.ref, RAY_EINVAL); /* seen when sent */
    dep_done(d, RAY_REF_NULL, RAY_OK);
    return sdk_ref(id);
}

ray_ref
cl_defer(cl_driver *cl, int i, const char *name, const ray_arg *args,
         uint32_t nargs, const ray_call_opts *opts)
{
    return defer(cl, i, name, args, nargs, opts, (ray_actor){0}, NULL,
                 RAY_REF_NULL, NULL, NULL, 0);
}

/* Rebuilds that wait for a node able to run them (none is alive now: in
 * a chaos of failures, every such node may be down at once), tried again
 * each watcher round for up to CL_REBUILD_WAIT_MS, then failed. */
#define CL_REBUILD_WAIT_MS 60000

typedef struct stuck {
    struct stuck *next;
    int node; /* where the value was */
    fl_entry e;
    int64_t deadline;
} stuck;

static struct {
    pthread_mutex_t mu;
    stuck *head;
} R = {PTHREAD_MUTEX_INITIALIZER, NULL};

/* Call e made again from its record on a node (`node` if alive, else one
 * that fits), or on this one if it fits here: 1 when it went, 0 when no
 * node can take it now, -1 when it cannot go again (why says). */
static int
rebuild(cl_driver *cl, int node, fl_entry *e, char *why, size_t whylen)
{
    Ray__Rpc__ClusterTask *t =
        e->task && !e->nhandles && e->retries > 0
            ? ray__rpc__cluster_task__unpack(&rt_protobuf_allocator, e->len,
                                             e->task)
            : NULL;
    ray_arg *a = t ? rt_calloc(t->n_args + 1, sizeof(*a)) : NULL;
    int went = -1;
    if (!a || t->kind != RAY__RPC__CLUSTER_KIND__CLUSTER_CALL ||
        !cl_args_back(cl, t, e, a)) {
        snprintf(why, whylen, "%s",
                 e->retries <= 0 ? "it has no retry left"
                                 : "its record cannot be sent again");
    } else {
        ray_call_opts o = cl_record_opts(t, e->retries - 1);
        int i = atomic_load(&cl->nodes[node].alive)
                    ? node
                    : cl_choose(cl, &o, false, node);
        bool here = i < 0 && cl_local_demand(o.resources) == RAY_OK &&
                    o.num_cpus <= cl->local_cpus;
        if (i >= 0)
            went = defer(cl, i, t->function, a, (uint32_t)t->n_args, &o,
                         (ray_actor){0}, NULL, RAY_REF_NULL, NULL, NULL, e->id)
                               .id != 0
                       ? 1
                       : -1;
        else if (here) /* this node's workers (its refs pulled here) */
            went = sdk_drv_submit_into(e->id, t->function,
                                       sdk_name_hash(t->function), a,
                                       (uint32_t)t->n_args, &o) == RAY_OK
                       ? 1
                       : -1;
        else
            went = 0;
        if (went < 0)
            snprintf(why, whylen, "%s", ray_last_error_detail());
    }
    rt_free(a);
    if (t)
        protobuf_c_message_free_unpacked(&t->base, &rt_protobuf_allocator);
    if (went > 0) {
        atomic_fetch_add(&sdk_g->calls_resent, 1);
        cl_entry_done(e); /* its holds: the call made again holds its own */
    }
    return went;
}

bool
cl_defer_rebuild(cl_driver *cl, int node, fl_entry *e, char *why, size_t whylen)
{
    int went = rebuild(cl, node, e, why, whylen); /* (1: e given back) */
    if (went != 0)
        return went > 0;
    stuck *s = rt_malloc(sizeof(*s));
    if (!s) {
        snprintf(why, whylen, "no node can run it now, and out of memory");
        return false;
    }
    *s = (stuck){NULL, node, *e,
                 rt_clock_now_ns() + (int64_t)CL_REBUILD_WAIT_MS * 1000000};
    e->task = NULL; /* its holds are the wait's now */
    e->refs = NULL;
    e->nrefs = 0;
    pthread_mutex_lock(&R.mu);
    s->next = R.head;
    R.head = s;
    pthread_mutex_unlock(&R.mu);
    RT_WARN("cluster: no alive node can run a call again now: it waits up "
            "to %d s for one",
            CL_REBUILD_WAIT_MS / 1000);
    return true;
}

void
cl_defer_rebuild_tick(cl_driver *cl)
{
    pthread_mutex_lock(&R.mu);
    stuck *all = R.head;
    R.head = NULL;
    pthread_mutex_unlock(&R.mu);
    while (all) {
        stuck *s = all;
        all = s->next;
        char why[300] = "", msg[500];
        int went = rebuild(cl, s->node, &s->e, why, sizeof(why));
        if (went == 0 && rt_clock_now_ns() < s->deadline) {
            pthread_mutex_lock(&R.mu);
            s->next = R.head;
            R.head = s;
            pthread_mutex_unlock(&R.mu);
            continue;
        }
        if (went <= 0) {
            snprintf(msg, sizeof(msg),
                     "its value was lost with node %s (%s), and it could not "
                     "be made again: %s",
                     cl->nodes[s->node].id, cl->nodes[s->node].addr,
                     went < 0 ? why
                              : "no node able to run its call came back "
                                "within 60 s");
            cl_fail(s->e.id, RAY_EOBJECT_LOST, msg);
            cl_entry_done(&s->e);
        }
        rt_free(s);
    }
}

ray_ref
cl_defer_gated(cl_driver *cl, const char *name, const ray_arg *args,
               uint32_t nargs, const ray_call_opts *opts, ray_ref gate)
{
    return defer(cl, -2, name, args, nargs, opts, (ray_actor){0}, NULL, gate,
                 NULL, NULL, 0);
}

ray_ref
cl_defer_actor(cl_driver *cl, ray_actor h, const ray_fn_desc *m,
               const ray_arg *args, uint32_t nargs)
{
    return defer(cl, -1, m->name, args, nargs, NULL, h, m, RAY_REF_NULL, NULL,
                 NULL, 0);
}

ray_err
cl_defer_actor_into(cl_driver *cl, ray_actor h, const ray_fn_desc *m,
                    const ray_arg *args, uint32_t nargs, uint64_t into)
{
    return defer(cl, -1, m->name, args, nargs, NULL, h, m, RAY_REF_NULL, NULL,
                 NULL, into)
                   .id
               ? RAY_OK
               : RAY_ENOMEM;
}

ray_err
cl_defer_restart(cl_driver *cl, ray_actor h, ray_ref gate)
{
    /* In the actor's line, gated: an actor's item with neither a method
     * nor a constructor. */
    ray_ref r =
        defer(cl, -1, "restart", NULL, 0, NULL, h, NULL, gate, NULL, NULL, 0);
    if (!r.id)
        return RAY_ENOMEM; /* said */
    ray_ref_release(r);
    return RAY_OK;
}

ray_err
cl_defer_create(cl_driver *cl, ray_actor h, const ray_fn_desc *ctor,
                const ray_arg *args, uint32_t nargs, const ray_actor_opts *opts,
                ray_ref gate)
{
    ray_actor_opts *ao = rt_calloc(1, sizeof(*ao));
    if (ao) {
        *ao = *opts;
        ao->name = dup_or_null(opts->name);
        ao->node = NULL;
        ao->resources = dup_or_null(opts->resources);
    }
    if (!ao || (opts->resources && !ao->resources) ||
        (opts->name && !ao->name)) {
        if (ao) {
            rt_free((char *)ao->name);
            rt_free((char *)ao->resources);
        }
        rt_free(ao);
        ray_ref_release(gate);
        return sdk_fail(RAY_ENOMEM, "ray_actor_create: out of memory");
    }
    ray_ref r = defer(cl, -1, ctor->name, args, nargs, NULL, h, NULL, gate,
                      ctor, ao, 0);
    if (!r.id)
        return RAY_ENOMEM; /* said */
    ray_ref_release(r);    /* nobody waits for the creation itself */
    return RAY_OK;
}

bool
cl_defer_actor_busy(uint64_t actor)
{
    pthread_mutex_lock(&D.mu);
    bool busy = first_acall(actor) != NULL;
    pthread_mutex_unlock(&D.mu);
    return busy;
}

void
cl_defer_stop(void)
{
    pthread_mutex_lock(&D.mu);
    bool started = D.started;
    D.stop = true;
    pthread_cond_broadcast(&D.cv);
    pthread_mutex_unlock(&D.mu);
    if (started)
        pthread_join(D.th, NULL);
    pthread_mutex_lock(&D.mu);
    /* Those ready but never sent end here; those still waiting for an
     * argument are left alone, as their callbacks may yet run until the
     * runtime stops (which then never runs them): cl_defer_fini frees
     * them after. */
    while (D.head) {
        deferred *d = D.head;
        D.head = d->next;
        unlink_all(d);
        deferred_free(d);
    }
    D.tail = &D.head;
    D.acalls = NULL; /* those left never go */
    D.started = D.stop = false;
    pthread_mutex_unlock(&D.mu);
}

void
cl_defer_fini(void)
{
    pthread_mutex_lock(&R.mu);
    while (R.head) {
        stuck *s = R.head;
        R.head = s->next;
        cl_entry_done(&s->e); /* its refs went with the runtime */
        rt_free(s);
    }
    pthread_mutex_unlock(&R.mu);
    pthread_mutex_lock(&D.mu);
    while (D.all) {
        deferred *d = D.all;
        unlink_all(d);
        deferred_free(d); /* its refs went with the runtime */
    }
    D.head = NULL;
    D.tail = &D.head;
    D.acalls = NULL;
    pthread_mutex_unlock(&D.mu);
}

size_t
cl_defer_rows(cl_driver *cl, rt_text *out, size_t room)
{
    size_t n = 0;
    pthread_mutex_lock(&D.mu);
    for (deferred *d = D.all; d; d = d->next_all)
        if (n++ < room)
            rt_text_put(out, "%016llx\t%s\tPENDING_ARGS_AVAIL\t%s\t%s\t0\n",
                        (unsigned long long)d->id,
                        d->opts.name ? d->opts.name : d->name,
                        d->ctor || (d->actor.id && !d->method)
                            ? "ACTOR_CREATION_TASK"
                        : d->actor.id ? "ACTOR_TASK"
                                      : "NORMAL_TASK",
                        d->node >= 0 ? cl->nodes[d->node].full : "-");
    pthread_mutex_unlock(&D.mu);
    return n;
}

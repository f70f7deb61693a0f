/* SPDX-License-Identifier: Apache-2.0
 *
 * task.c: the driver's task engine: dependency resolution, dispatch to
 * workers, completion handling, retries and worker deaths (submission and
 * cancellation entry points are in submit.c).
 *
 * A submitted task owns a pooled sdk_task holding its encoded arguments
 * (wire form; ref arguments stay refs until dispatch) and one reference on
 * its result object. A task with unresolved ref arguments waits on those
 * objects' waiter lists; when the last one is ready it joins the
 * scheduler's FIFO ready queue (scheduler/local_queue.h), which owns the
 * dispatch policy (least loaded eligible worker, the caller's worker for
 * nested calls, resources, multi-CPU holds, backlog, stealing, blocked
 * workers and their stand-ins). This file is its transport: push writes
 * a task straight into a worker's submission ring, flush publishes each
 * ring once per round (one release store; a futex wake only if the
 * worker sleeps), revoke takes back a record the worker has not claimed
 * (one CAS on the record's claim word; see sdk_task_revoke). Workers run
 * their ring in order, so a completion almost always matches the head of
 * the worker's in-flight list.
 *
 * A worker death requeues its in-flight tasks in order; only the task it
 * was running (ctl->current) is charged a retry, and it fails with
 * RAY_EWORKER_DIED naming the signal once max_retries are used up.
 *
 * Everything here runs with sdk_g->mu held, except the public entry points
 * (which take it) and sdk_run_callbacks (which runs without it).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "sdk/sdk_int.h"

/* ---- pools ---- */

sdk_task *
sdk_task_alloc(sdk_rt *rt)
{
    sdk_task *t = rt->free_tasks;
    if (t)
        rt->free_tasks = t->next;
    else if (!(t = rt_malloc(sizeof(*t))))
        return NULL;
    memset(t, 0, offsetof(sdk_task, spec_inl));
    t->worker = -1;
    t->spec = t->spec_inl;
    rt->tasks_live++;
    return t;
}

void
sdk_task_free(sdk_rt *rt, sdk_task *t)
{
    rt_free(t->name_owned);
    rt_free((sched_demand *)t->st.demand);
    sdk_pg_release(rt, t->st.bundle);
    rt_free(t->blocks);
    if (t->spec != t->spec_inl)
        rt_free(t->spec);
    t->next = rt->free_tasks;
    rt->free_tasks = t;
    rt->tasks_live--;
}

void
sdk_pools_trim(sdk_rt *rt)
{
    while (rt->free_tasks) {
        sdk_task *t = rt->free_tasks;
        rt->free_tasks = t->next;
        rt_free(t);
    }
    while (rt->free_waiters) {
        sdk_waiter *w = rt->free_waiters;
        rt->free_waiters = w->next;
        rt_free(w);
    }
}

void
sdk_waiter_put(sdk_rt *rt, sdk_waiter *w)
{
    w->next = rt->free_waiters;
    rt->free_waiters = w;
}

sdk_waiter *
sdk_waiter_alloc(sdk_rt *rt)
{
    sdk_waiter *w = rt->free_waiters;
    if (w) {
        rt->free_waiters = w->next;
        return w;
    }
    return rt_malloc(sizeof(*w));
}

static void
waiter_free(sdk_rt *rt, sdk_task *t, sdk_waiter *w)
{
    if (t && w >= t->dep_inl && w < t->dep_inl + 2)
        return;
    sdk_waiter_put(rt, w);
}

/* ---- lists ---- */

static void
list_push_back(sdk_task **head, sdk_task **tail, sdk_task *t)
{
    t->next = NULL;
    t->prev = *tail;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static void
list_remove(sdk_task **head, sdk_task **tail, sdk_task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        *head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        *tail = t->prev;
    t->next = t->prev = NULL;
}

/* ---- argument references ---- */

void
sdk_spec_refs(sdk_rt *rt, const uint8_t *spec, uint32_t nargs, bool retain)
{
    const sdk_wire_arg *wa = (const sdk_wire_arg *)spec;
    for (uint32_t i = 0; i < nargs; i++) {
        if (wa[i].type != RAY_T_REF)
            continue;
        sdk_obj *o = sdk_objects_lookup(&rt->store, wa[i].scalar);
        if (o && retain)
            sdk_objects_retain(o);
        else if (o)
            sdk_objects_release(&rt->store, o);
    }
}

bool
sdk_spec_hold_sent_refs(sdk_rt *rt, uint8_t *spec, uint32_t nargs)
{
    sdk_wire_arg *wa = (sdk_wire_arg *)spec;
    bool any = false;
    for (uint32_t i = 0; i < nargs; i++) {
        if (wa[i].type != RAY_T_REF)
            continue;
        sdk_obj *o = sdk_objects_lookup(&rt->store, wa[i].scalar);
        if (o)
            sdk_objects_retain(o);
        else
            wa[i].type = RAY_T_NONE;
        any = true;
    }
    return any;
}

ray_err
sdk_spec_hold_refs(sdk_rt *rt, const uint8_t *spec, uint32_t nargs,
                   const char *what, const char *name, bool *any)
{
    const sdk_wire_arg *wa = (const sdk_wire_arg *)spec;
    *any = false;
    for (uint32_t i = 0; i < nargs; i++) {
        if (wa[i].type != RAY_T_REF)
            continue;
        sdk_obj *o = sdk_objects_lookup(&rt->store, wa[i].scalar);
        if (!o) {
            /* All or none: the caller drops the spec. */
            sdk_spec_refs(rt, spec, i, false);
            *any = false;
            return sdk_fail(RAY_EINVAL,
                            "%s '%s': argument %u is a null or "
                            "released reference",
                            what, name, i + 1);
        }
        sdk_objects_retain(o);
        *any = true;
    }
    return RAY_OK;
}

static void
release_arg_refs(sdk_rt *rt, sdk_task *t, sdk_cb **cbs)
{
    if (t->has_handles) {
        t->has_handles = 0;
        sdk_actor_hold_args(rt, t->spec, t->nargs, -1, cbs);
    }
    if (t->has_refs)
        sdk_spec_refs(rt, t->spec, t->nargs, false);
}

/* Finish a task that will not run (again): drop its refs, free it. */
static void release_resources(sdk_rt *rt, sdk_task *t);
static void release_temps(sdk_rt *rt, sdk_task *t);

void
sdk_task_finish(sdk_rt *rt, sdk_task *t, sdk_cb **cbs)
{
    rt->tasks_finished++;
    release_resources(rt, t);
    release_temps(rt, t);
    release_arg_refs(rt, t, cbs);
    if (t->result)
        sdk_objects_release(&rt->store, t->result);
    t->result = NULL;
    sdk_task_free(rt, t);
}

static void
resolve_error(sdk_rt *rt, sdk_task *t, ray_err err, const char *msg,
              sdk_cb **cbs)
{
    if (t->kind == SDK_TK_MAP) {
        sdk_map_chunk_done(rt, t, err, msg, NULL, 0);
        return;
    }
    sdk_obj *o = t->result;
    if (!o || o->state != SDK_OBJ_PENDING)
        return;
    sdk_objects_set_error(&rt->store, o, err, msg);
    sdk_object_done(rt, o, cbs);
}

void
sdk_task_fail(sdk_rt *rt, sdk_task *t, ray_err err, const char *msg,
              sdk_cb **cbs)
{
    if (t->kind != SDK_TK_MAP)
        rt->tasks_failed++; /* a map chunk's in sdk_map_chunk_done */
    resolve_error(rt, t, err, msg, cbs);
    sdk_task_finish(rt, t, cbs);
}

/* ---- readiness ---- */

uint32_t
sdk_task_add_deps(sdk_rt *rt, sdk_task *t)
{
    if (!t->has_refs)
        return 0;
    const sdk_wire_arg *wa = (const sdk_wire_arg *)t->spec;
    uint32_t pending = 0, inl = 0;
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (wa[i].type != RAY_T_REF)
            continue;
        sdk_obj *o = sdk_objects_lookup(&rt->store, wa[i].scalar);
        if (!o || o->state != SDK_OBJ_PENDING)
            continue;
        sdk_waiter *w = inl < 2 ? &t->dep_inl[inl++] : sdk_waiter_alloc(rt);
        if (!w) {
            RT_WARN("out of memory tracking a dependency; task runs later");
            continue;
        }
        w->kind = SDK_WAIT_TASK;
        w->ctx = t;
        w->next = o->waiters;
        o->waiters = w;
        sdk_obj_want(o);
        pending++;
    }
    t->ndeps = pending;
    return pending;
}

/* A failed argument fails the task (Ray propagates the error). */
bool
sdk_task_check_failed_deps(sdk_rt *rt, sdk_task *t, sdk_cb **cbs)
{
    if (!t->has_refs)
        return false;
    const sdk_wire_arg *wa = (const sdk_wire_arg *)t->spec;
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (wa[i].type != RAY_T_REF)
            continue;
        sdk_obj *o = sdk_objects_lookup(&rt->store, wa[i].scalar);
        if (o && o->state == SDK_OBJ_FAILED) {
            char msg[600];
            snprintf(msg, sizeof(msg), "task '%s': argument %u failed: %s",
                     t->name, i + 1,
                     o->errmsg ? o->errmsg : ray_strerror(o->err));
            sdk_task_fail(rt, t, o->err, msg, cbs);
            return true;
        }
    }
    return false;
}

void
sdk_task_ready(sdk_rt *rt, sdk_task *t)
{
    if (t->st.bundle && sdk_pg_park(rt, t))
        return; /* its group is pending (or was removed: it failed) */
    t->st.id = t->id;
    t->st.cpus_extra = t->cpus_extra;
    /* One call in SDK_SCHED_SAMPLE reads the clock: the latency figure
     * costs the hot path nothing measurable. */
    t->ready_us = t->id % SDK_SCHED_SAMPLE
                      ? 0
                      : (uint32_t)(rt_clock_now_ns() / 1000) | 1u;
    rt->rl_api->lease(rt->rl, &t->st);
}

/* A sampled call reached a worker: count how long it waited. */
static void
sched_observe(sdk_rt *rt, sdk_task *t)
{
    static const uint32_t bounds[] = SDK_SCHED_BOUNDS_US;
    /* Signed: ready_us was rounded up to odd, so a call handed over in
     * the same microsecond reads one ahead of the clock. */
    int32_t d = (int32_t)((uint32_t)(rt_clock_now_ns() / 1000) - t->ready_us);
    uint32_t us = d > 0 ? (uint32_t)d : 0;
    t->ready_us = 0;
    size_t b = 0;
    while (b < sizeof(bounds) / sizeof(bounds[0]) && us > bounds[b])
        b++;
    rt->sched_hist[b]++;
    rt->sched_sum_us += us;
    rt->sched_count++;
}

bool
sdk_obj_park(sdk_rt *rt, sdk_obj *o, sdk_cb **cbs)
{
    bool wanted = o->wanted != 0;
    o->parked = 1;
    for (sdk_waiter **p = &o->waiters; *p;) {
        sdk_waiter *w = *p;
        if (w->kind != SDK_WAIT_CB || w->idx != 1) {
            wanted = true;
            p = &w->next;
            continue;
        }
        *p = w->next;
        sdk_cb *cb = w->ctx;
        cb->err = RAY_OK;
        cb->next = *cbs;
        *cbs = cb;
        atomic_fetch_sub(&rt->reactor_needed, 1);
        waiter_free(rt, NULL, w);
    }
    return wanted;
}

static void
notify_waiters(sdk_rt *rt, sdk_obj *o, sdk_cb **cbs)
{
    sdk_waiter *w = sdk_obj_take_waiters(o);
    while (w) {
        sdk_waiter *next = w->next;
        if (w->kind == SDK_WAIT_CB) {
            sdk_cb *cb = w->ctx;
            cb->err = o->state == SDK_OBJ_FAILED ? o->err : RAY_OK;
            cb->next = *cbs;
            *cbs = cb;
            atomic_fetch_sub(&rt->reactor_needed, 1);
            waiter_free(rt, NULL, w);
        } else if (w->kind == SDK_WAIT_RGET || w->kind == SDK_WAIT_PUSH) {
            sdk_nested_get_ready(rt, w, o);
            waiter_free(rt, NULL, w);
        } else {
            sdk_task *t = w->ctx;
            waiter_free(rt, t, w);
            if (--t->ndeps == 0 && t->actor) {
                sdk_actor_dep_ready(rt, t, cbs); /* in its actor's queue */
            } else if (t->ndeps == 0) {
                if (t->cancelled)
                    sdk_task_finish(rt, t, cbs);
                else if (!sdk_task_check_failed_deps(rt, t, cbs))
                    sdk_task_ready(rt, t);
            }
        }
        w = next;
    }
}

void
sdk_object_done(sdk_rt *rt, sdk_obj *o, sdk_cb **cbs)
{
    /* Iterative, not recursive: a failure cascades down chains 10,000
     * deep. Each queued object holds a reference until notified. */
    if (rt->done_n == rt->done_cap) {
        size_t cap = rt->done_cap ? rt->done_cap * 2 : 64;
        sdk_obj **ns = rt_realloc(rt->done_stack, cap * sizeof(*ns));
        if (!ns) {
            notify_waiters(rt, o, cbs); /* recursion as a fallback */
            return;
        }
        rt->done_stack = ns;
        rt->done_cap = cap;
    }
    sdk_objects_retain(o);
    rt->done_stack[rt->done_n++] = o;
    if (rt->in_done)
        return;
    rt->in_done = true;
    while (rt->done_n) {
        sdk_obj *x = rt->done_stack[--rt->done_n];
        notify_waiters(rt, x, cbs);
        sdk_objects_release(&rt->store, x);
    }
    rt->in_done = false;
}

/* ---- dispatch ---- */

/* One argument as it will be sent: refs resolved to their values. */
typedef struct arg_src {
    uint32_t type;
    uint64_t len;
    const void *ptr;
    uint64_t scalar;
    bool big;     /* travels as a temporary object in the store */
    uint64_t key; /* its store key, 0 until created */
    void *dst;    /* where to write it */
} arg_src;

/* Delete the temporary store objects of a task's large by-value args. */
static void
release_temps(sdk_rt *rt, sdk_task *t)
{
    for (uint32_t k = 0; k < t->nblocks; k++)
        sdk_store_forget(rt, t->blocks[k]);
    t->nblocks = 0;
}

static void
abort_temps(sdk_rt *rt, arg_src *a, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i].key)
            sdk_store_arg_abort(rt, a[i].key);
}

/* Write a MSG_TASK for `t` into `wk`'s ring. Values already in the node's
 * object store travel as their key; large values that are not (by-value
 * arguments) are copied into temporary store objects first. RAY_EAGAIN:
 * no room now (ring or store), nothing kept; RAY_ETOOBIG /
 * RAY_ESTORE_FULL: can never be sent; RAY_ENOMEM; a store error. */
static ray_err
push_call(sdk_rt *rt, int w, sdk_task *t)
{
    arg_src a[RAY_MAX_ARGS];
    const sdk_wire_arg *wa = (const sdk_wire_arg *)t->spec;
    const uint8_t *src = t->spec + t->nargs * sizeof(sdk_wire_arg);
    size_t len = sizeof(sdk_msg_task) + t->nargs * sizeof(sdk_wire_arg);
    uint32_t nbig = 0;
    for (uint32_t i = 0; i < t->nargs; i++) {
        a[i] = (arg_src){wa[i].type, 0, NULL, wa[i].scalar, false, 0, NULL};
        if (wa[i].type == RAY_T_REF) {
            sdk_obj *o = sdk_objects_lookup(&rt->store, wa[i].scalar);
            if (!o || o->state != SDK_OBJ_READY)
                return RAY_EINTERNAL;
            a[i].type = o->type;
            a[i].scalar = 0;
            if (sdk_type_buffer(o->type)) {
                a[i].len = o->len;
                a[i].ptr = sdk_obj_data(o);
            } else if (o->len == 8) {
                memcpy(&a[i].scalar, sdk_obj_data(o), 8);
            }
        } else if (sdk_type_buffer(wa[i].type)) {
            a[i].len = wa[i].len;
            a[i].ptr = src;
            src += SDK_ALIGN8(wa[i].len);
        }
        if (!sdk_type_buffer(a[i].type))
            continue;
        if (a[i].len >= UINT32_MAX)
            return RAY_ETOOBIG;
        if (a[i].len >= STORE_PLASMA_MIN) {
            a[i].big = true;
            nbig++;
        } else {
            len += SDK_ALIGN8(a[i].len);
        }
    }
    if (len > sdk_tx_max_record(rt->tx, w))
        return RAY_ETOOBIG;
    if (nbig && !t->blocks &&
        !(t->blocks = rt_calloc(RAY_MAX_ARGS, sizeof(uint64_t))))
        return RAY_ENOMEM;
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (!a[i].big)
            continue;
        ray_err e = sdk_store_arg_create(rt, a[i].len, &a[i].key, &a[i].dst);
        if (e != RAY_OK) {
            abort_temps(rt, a, i);
            return e;
        }
    }
    uint8_t *dst = sdk_tx_reserve(rt->tx, w, len);
    if (!dst) {
        abort_temps(rt, a, t->nargs);
        return RAY_EAGAIN;
    }
    sdk_msg_task *m = (sdk_msg_task *)dst;
    m->task_id = t->id;
    m->fn_hash = t->fn_hash;
    m->nargs = t->nargs;
    m->flags = t->wire_flags;
    atomic_init(&m->claim, SDK_CLAIM_OPEN);
    m->pad = 0;
    m->obj = !t->actor && t->result ? sdk_objects_id(t->result) : 0;
    sdk_wire_arg *out = (sdk_wire_arg *)(m + 1);
    uint8_t *pay = (uint8_t *)(out + t->nargs);
    for (uint32_t i = 0; i < t->nargs; i++) {
        out[i].type = a[i].type;
        out[i].len = (uint32_t)a[i].len;
        out[i].scalar = a[i].scalar;
        if (a[i].big) {
            memcpy(a[i].dst, a[i].ptr, a[i].len);
            sdk_store_arg_seal(rt, a[i].key);
            t->blocks[t->nblocks++] = a[i].key;
            out[i].type |= SDK_TYPE_STORED;
            out[i].len = 0;
            out[i].scalar = a[i].key;
        } else if (a[i].len) {
            memcpy(pay, a[i].ptr, a[i].len);
            pay += SDK_ALIGN8(a[i].len);
        }
    }
    t->rpos = sdk_tx_commit(rt->tx, w, SDK_MSG_TASK, len);
    return RAY_OK;
}

/* Hand `t` to worker w (not published). RAY_EAGAIN if there is no room
 * right now. The caller counts it in flight. */
static ray_err
push_to_worker(sdk_rt *rt, int w, sdk_task *t)
{
    sdk_worker *wk = &rt->workers[w];
    if (t->kind == SDK_TK_MAP) {
        if (t->spec_len > sdk_tx_max_record(rt->tx, w))
            return RAY_ETOOBIG;
        void *dst = sdk_tx_reserve(rt->tx, w, t->spec_len);
        if (!dst)
            return RAY_EAGAIN;
        memcpy(dst, t->spec, t->spec_len);
        ((sdk_msg_map *)dst)->task_id = t->id;
        atomic_store_explicit(&((sdk_msg_map *)dst)->claim, SDK_CLAIM_OPEN,
                              memory_order_relaxed);
        t->rpos = sdk_tx_commit(rt->tx, w, SDK_MSG_MAP, t->spec_len);
    } else {
        ray_err e = push_call(rt, w, t);
        if (e != RAY_OK)
            return e;
    }
    t->worker = w;
    list_push_back(&wk->head, &wk->tail, t);
    if (t->ready_us)
        sched_observe(rt, t);
    return RAY_OK;
}

ray_err
sdk_push_to_worker(sdk_rt *rt, int w, sdk_task *t)
{
    ray_err e = push_to_worker(rt, w, t);
    if (e == RAY_OK) {
        sdk_slot(rt, w)->inflight++;
        sdk_slot(rt, w)->dirty = 1;
    }
    return e;
}

bool
sdk_task_revoke(sdk_rt *rt, sdk_task *t)
{
    if (t->worker < 0 || t->actor)
        return false;
    sdk_worker *wk = &rt->workers[t->worker];
    if (!rt->tx->ops->revoke(rt->tx, t->worker, t->rpos,
                             t->kind == SDK_TK_MAP ? SDK_MSG_MAP
                                                   : SDK_MSG_TASK))
        return false;
    list_remove(&wk->head, &wk->tail, t);
    t->worker = -1;
    release_temps(rt, t); /* a new send makes new ones */
    return true;
}

void
sdk_task_unsend(sdk_rt *rt, sdk_task *t)
{
    release_resources(rt, t);
    release_temps(rt, t);
}

static void
release_resources(sdk_rt *rt, sdk_task *t)
{
    rt->rl_api->release(rt->rl, &t->st);
}

/* ---- the scheduler's transport (sched_ops, ctx = rt) ---- */

static ray_err
ops_try_push(void *ctx, int w, sched_task *st)
{
    return push_to_worker(ctx, w, sdk_task_of(st));
}

static void
ops_failed(void *ctx, sched_task *st, ray_err e)
{
    sdk_rt *rt = ctx;
    sdk_task *t = sdk_task_of(st);
    char msg[600];
    snprintf(msg, sizeof(msg), "task '%s': %s", t->name,
             e == RAY_ETOOBIG ? "arguments too large for the worker ring "
                                "(raise ray_config.ring_bytes)"
             : e == RAY_EWORKER_DIED ? "failed: no worker process can "
                                       "start (see the runtime's log)"
                                     : ray_last_error_detail());
    sdk_task_fail(rt, t, e, msg, rt->q_cbs);
}

static void
ops_flush(void *ctx, int w)
{
    sdk_rt *rt = ctx;
    sdk_tx_flush(rt->tx, w);
}

/* The in-flight list is in ring order, and a worker claims in ring order
 * (but for the one it may run out of order while it waits for it), so
 * the claimed ones (running, or done and not yet drained) come first:
 * oldest first skips them, newest first stops at them. */
static uint32_t
ops_revoke(void *ctx, int w, bool keep_own, bool newest, sched_task **out,
           uint32_t max)
{
    sdk_rt *rt = ctx;
    sdk_worker *wk = &rt->workers[w];
    uint32_t n = 0;
    for (sdk_task *t = newest ? wk->tail : wk->head, *next; t && n < max;
         t = next) {
        next = newest ? t->prev : t->next;
        if (keep_own && t->st.prefer == w + 1)
            continue;
        if (sdk_task_revoke(rt, t))
            out[n++] = &t->st;
        else if (newest)
            break; /* the older ones have started too */
    }
    return n;
}

const sched_ops sdk_task_ops = {ops_try_push, ops_failed, ops_flush,
                                ops_revoke};

/* Copy each task worker's wait (ctl->blocked) into the raylet's slot. */
static void
sync_blocked(sdk_rt *rt)
{
    /* Nobody blocked, nor at the last look: nothing to copy (the flags
     * sit on lines the workers write; reading them costs misses). */
    bool none =
        atomic_load_explicit(&rt->bell->nblocked, memory_order_acquire) == 0;
    if (none && !rt->slots_blocked)
        return;
    rt->slots_blocked = !none;
    for (int w = 0; w < rt->ntask; w++) {
        sched_slot *slot = sdk_slot(rt, w);
        sdk_tx_worker st = {0};
        if (slot->alive)
            sdk_tx_worker_state(rt->tx, w, &st);
        uint32_t b = st.blocked;
        uint8_t s = (b & SDK_BLOCKED_HELPING) ? SCHED_BLOCKED_KEEPS_OWN
                    : b                       ? SCHED_BLOCKED
                                              : 0;
        if (s && (b & SDK_BLOCKED_LONG))
            s |= SCHED_BLOCKED_LONG;
        slot->blocked = s;
    }
}

void
sdk_dispatch(sdk_rt *rt, sdk_cb **cbs)
{
    rt->q_cbs = cbs;
    sync_blocked(rt);
    rt->rl_api->dispatch(rt->rl);
    rt->q_cbs = NULL;
}

/* ---- completions ---- */

/* Finish a call with its result. `payload` holds d->len bytes; when
 * `owned` is set it is an rt_malloc'd buffer this function takes over. */
static void
complete_call(sdk_rt *rt, sdk_task *t, const sdk_msg_done *d,
              const void *payload, bool owned, sdk_cb **cbs)
{
    sdk_obj *o = t->result;
    if (t->cancelled || !o || o->state != SDK_OBJ_PENDING || d->err != RAY_OK) {
        if (owned)
            rt_free((void *)payload);
        owned = false;
    }
    if (t->cancelled || !o || o->state != SDK_OBJ_PENDING) {
        if (d->err == RAY_OK && (d->type & SDK_TYPE_STORED))
            sdk_store_forget(rt, d->scalar); /* nobody wants it */
        sdk_task_finish(rt, t, cbs);
        return;
    }
    if (d->err != RAY_OK) {
        if (t->retry_on_error && t->retries_left > 0) {
            t->retries_left--;
            release_resources(rt, t);
            release_temps(rt, t);
            sdk_task_ready(rt, t);
            return;
        }
        rt->tasks_failed++;
        char msg[700];
        snprintf(msg, sizeof(msg), "task '%s' failed: %.*s", t->name,
                 (int)(d->len ? d->len : 1),
                 d->len ? (const char *)payload : "");
        sdk_objects_set_error(&rt->store, o, (ray_err)d->err, msg);
    } else if (sdk_type_buffer(d->type)) {
        if (owned)
            sdk_objects_set_owned(&rt->store, o, d->type, (void *)payload,
                                  d->len);
        else if (sdk_objects_set_value(&rt->store, o, d->type, payload,
                                       d->len) != RAY_OK)
            sdk_objects_set_error(&rt->store, o, RAY_ENOMEM,
                                  "out of memory storing the result");
    } else {
        sdk_objects_set_value(&rt->store, o, d->type, &d->scalar, 8);
    }
    sdk_object_done(rt, o, cbs);
    sdk_task_finish(rt, t, cbs);
}

/* The task `id` in worker wk's in-flight list, searched from both ends
 * at once: results mostly come in the order tasks were pushed, but a
 * worker that runs the very call it waits for, or its calls a thief took
 * newest first, finishes some from the far end. */
static sdk_task *
find_inflight(sdk_worker *wk, uint64_t id)
{
    sdk_task *a = wk->head, *b = wk->tail;
    while (a) {
        if (a->id == id)
            return a;
        if (b->id == id)
            return b;
        if (a == b || a->next == b)
            break;
        a = a->next;
        b = b->prev;
    }
    return NULL;
}

static void
finish_record(sdk_rt *rt, sdk_worker *wk, const sdk_msg_done *d,
              const void *payload, bool owned, sdk_cb **cbs)
{
    sdk_task *t = find_inflight(wk, d->task_id);
    if (!t) {
        if (owned)
            rt_free((void *)payload);
        if (d->err == RAY_OK && (d->type & SDK_TYPE_STORED))
            sdk_store_forget(rt, d->scalar);
        return;
    }
    list_remove(&wk->head, &wk->tail, t);
    rt->rl_api->returned(rt->rl, sdk_windex(rt, wk), &t->st);
    t->worker = -1;
    if (t->actor)
        sdk_actor_task_done(rt, t, d, payload, cbs);
    if (t->kind == SDK_TK_MAP) {
        const char *msg = d->err ? (const char *)payload : NULL;
        sdk_map_chunk_done(rt, t, (ray_err)d->err, msg, payload, d->len);
        if (owned)
            rt_free((void *)payload);
        sdk_task_finish(rt, t, cbs);
    } else {
        complete_call(rt, t, d, payload, owned, cbs);
    }
}

/* What the transport hands over (sdk_tx_sink). */
typedef struct drain_ctx {
    sdk_rt *rt;
    sdk_cb **cbs;
} drain_ctx;

static void
sink_done(void *ctx, int w, const sdk_msg_done *d, const void *payload,
          bool owned)
{
    drain_ctx *c = ctx;
    finish_record(c->rt, &c->rt->workers[w], d, payload, owned, c->cbs);
}

static void
sink_request(void *ctx, int w, uint32_t type, const uint8_t *rec, uint32_t len)
{
    drain_ctx *c = ctx;
    sdk_nested_handle(c->rt, w, type, rec, len, c->cbs);
}

static const sdk_tx_sink owner_sink = {sink_done, sink_request};

static size_t
drain_worker(sdk_rt *rt, int w, bool deep, sdk_cb **cbs)
{
    drain_ctx c = {rt, cbs};
    return rt->tx->ops->drain(rt->tx, w, deep, &owner_sink, &c);
}

static size_t
progress(sdk_rt *rt, bool deep, sdk_cb **cbs)
{
    size_t n = 0;
    for (int w = 0; w < rt->nslots; w++)
        if (sdk_slot(rt, w)->alive)
            n += drain_worker(rt, w, deep, cbs);
    /* Dispatch when tasks wait, when some finished (a worker may be idle
     * now: it steals), or when a worker blocked or woke (its queued tasks
     * move). */
    uint32_t gen =
        atomic_load_explicit(&rt->bell->blocked_gen, memory_order_acquire);
    if (rt->rl_api->waiting(rt->rl) || n || gen != rt->seen_blocked_gen) {
        rt->seen_blocked_gen = gen;
        sdk_dispatch(rt, cbs);
    }
    sdk_actors_dispatch(rt, cbs);
    if (n)
        sdk_wake_driver(rt);
    return n;
}

size_t
sdk_progress_deep(sdk_rt *rt, sdk_cb **cbs)
{
    return progress(rt, true, cbs);
}

size_t
sdk_progress(sdk_rt *rt, sdk_cb **cbs)
{
    return progress(rt, false, cbs);
}

void
sdk_run_callbacks(sdk_cb *cbs)
{
    while (cbs) {
        sdk_cb *next = cbs->next;
        cbs->cb(cbs->arg, cbs->user, cbs->err);
        ray_ref_release(cbs->ref);
        rt_free(cbs);
        cbs = next;
    }
}

/* ---- worker death ---- */

/* What is known of slot w's process that ended, with what was sent
 * there detached from the slot (its leases returned), in order. */
static void
death_take(sdk_rt *rt, int w, int status, bool never_started, sdk_cb **cbs,
           sdk_death *d)
{
    sdk_worker *wk = &rt->workers[w];
    sdk_tx_worker ws;
    sdk_tx_worker_state(rt->tx, w, &ws);
    drain_worker(rt, w, true, cbs); /* what it sent before it died */
    rt->tx->ops->close(rt->tx, w);  /* what was on its way is dropped */
    sched_worker *pw = sdk_proc_worker(rt, w);
    d->w = w;
    d->pid = ws.pid;
    d->running = ws.current;
    d->ready = ws.ready;
    d->never_started = never_started;
    if (never_started)
        snprintf(d->how, sizeof(d->how), "could not start: %s", pw->start_err);
    else
        sched_proc_describe(status, d->how, sizeof(d->how));
    d->inflight = wk->head;
    wk->head = wk->tail = NULL;
    for (sdk_task *t = d->inflight; t; t = t->next) {
        t->worker = -1;
        if (!t->actor)
            rt->rl_api->returned(rt->rl, w, &t->st);
    }
    sdk_slot(rt, w)->inflight = 0;
}

/* A task worker died: what it had not started goes back to the front of
 * the queue in order; the task it ran is charged a retry, or fails. */
static void
requeue_or_fail(sdk_rt *rt, sdk_death *d, sdk_cb **cbs)
{
    sched_task *rq_head = NULL, *rq_tail = NULL;
    uint64_t rq_n = 0;
    for (sdk_task *t = d->inflight, *next; t; t = next) {
        next = t->next;
        t->next = t->prev = NULL;
        release_temps(rt, t);
        if (t->id == d->running) {
            if (t->cancelled) {
                sdk_task_finish(rt, t, cbs);
                continue;
            }
            if (t->retries_left > 0) {
                t->retries_left--;
                RT_INFO("worker %d %s running '%s'; retrying", (int)d->pid,
                        d->how, t->name);
            } else {
                char msg[512];
                snprintf(msg, sizeof(msg),
                         "task '%s' failed: its worker (pid %d) %s; no "
                         "retries left",
                         t->name, (int)d->pid, d->how);
                sdk_task_fail(rt, t, RAY_EWORKER_DIED, msg, cbs);
                continue;
            }
        }
        if (t->st.bundle && sdk_pg_pending(t->st.bundle)) {
            char msg[512]; /* its bundle's workers are gone */
            snprintf(msg, sizeof(msg),
                     "task '%s': its worker (pid %d) %s, and its placement "
                     "group was removed",
                     t->name, (int)d->pid, d->how);
            sdk_task_fail(rt, t, RAY_ECANCELLED, msg, cbs);
            continue;
        }
        t->st.next = NULL;
        t->st.prev = rq_tail;
        if (rq_tail)
            rq_tail->next = &t->st;
        else
            rq_head = &t->st;
        rq_tail = &t->st;
        rq_n++;
    }
    rt->rl_api->requeue(rt->rl, rq_head, rq_tail, rq_n);
}

bool
sdk_worker_died(sdk_rt *rt, int w, int status, bool never_started, sdk_cb **cbs)
{
    sdk_death d;
    death_take(rt, w, status, never_started, cbs, &d);
    if (w >= rt->ntask)
        sdk_actor_host_died(rt, &d, cbs); /* restarts or ends its actors */
    else
        requeue_or_fail(rt, &d, cbs);
    /* Last: the handles it counted may end actors too. */
    sdk_actor_drop_worker_holds(rt, &rt->workers[w], cbs);
    sdk_wake_driver(rt);
    return d.ready;
}

void
sdk_ready_remove(sdk_rt *rt, sdk_task *t)
{
    rt->rl_api->unqueue(rt->rl, &t->st);
}

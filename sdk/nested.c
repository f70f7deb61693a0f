/* SPDX-License-Identifier: Apache-2.0
 *
 * nested.c: the driver's side of calls made from inside tasks.
 *
 * A task running in a worker may submit tasks, put, get and drop
 * references. Its requests travel on the worker's completion ring, in
 * order with its results, so a submit is always seen before a get of its
 * result. The driver owns every object (Ray would let the worker own
 * them; here the worker only reserves ids in blocks, so a nested submit
 * needs no round trip). The result of each call a worker makes is pushed
 * to it on its reply ring once known (SDK_MSG_PUSH, a waiter of kind
 * SDK_WAIT_PUSH); a get of anything else asks for the same push
 * (SDK_MSG_WATCH). Waiters remember the worker's incarnation, so nothing
 * reaches a replacement process. Replies never block and are never
 * dropped: what does not fit the reply ring is held, in order, until the
 * worker says it has room (SDK_MSG_NUDGE). After each reply the driver
 * pokes the worker's submission-ring futex, where a blocked worker sleeps.
 *
 * All functions run with sdk_g->mu held.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "sdk/sdk_int.h"

#define IDS_MAX 4096u

/* Answer (as SDK_MSG_REPLY: request `id`; SDK_MSG_PUSH: the value of
 * object `id`) on worker w's transport, which never blocks nor drops. */
static void
reply_as(sdk_rt *rt, int w, uint32_t as, uint64_t id, ray_err err,
         uint32_t vtype, uint64_t scalar, const void *payload, size_t len)
{
    sdk_tx_reply(rt->tx, w, as, id, err, vtype, scalar, payload, len);
}

void
sdk_nested_reply(sdk_rt *rt, int w, uint64_t req, ray_err err, uint32_t type,
                 uint64_t scalar, const void *payload, size_t len)
{
    reply_as(rt, w, SDK_MSG_REPLY, req, err, type, scalar, payload, len);
}

static void
reply_object(sdk_rt *rt, int w, uint32_t as, uint64_t id, sdk_obj *o)
{
    if (o->state == SDK_OBJ_FAILED) {
        const char *m = o->errmsg ? o->errmsg : ray_strerror(o->err);
        reply_as(rt, w, as, id, o->err, RAY_T_NONE, 0, m, strlen(m) + 1);
    } else if (sdk_type_buffer(o->type)) {
        reply_as(rt, w, as, id, RAY_OK, o->type, 0, sdk_obj_data(o), o->len);
    } else {
        uint64_t bits = 0;
        memcpy(&bits, sdk_obj_data(o), o->len < 8 ? o->len : 8);
        reply_as(rt, w, as, id, RAY_OK, o->type, bits, NULL, 0);
    }
}

void
sdk_nested_get_ready(sdk_rt *rt, sdk_waiter *wt, sdk_obj *o)
{
    int w = (int)wt->idx;
    if (w < 0 || w >= rt->nslots)
        return;
    if (!sdk_slot(rt, w)->alive ||
        sdk_proc_worker(rt, w)->deaths != (uint32_t)(uintptr_t)wt->arg)
        return; /* the asking process is gone */
    reply_object(rt, w,
                 wt->kind == SDK_WAIT_PUSH ? SDK_MSG_PUSH : SDK_MSG_REPLY,
                 (uint64_t)(uintptr_t)wt->ctx, o);
}

/* Worker w dropped its ref to `o` (and its table entry): a result it
 * will not read is not pushed. */
static void
unwatch(sdk_rt *rt, sdk_obj *o, int w)
{
    for (sdk_waiter **pp = &o->waiters; *pp;) {
        sdk_waiter *wt = *pp;
        if (wt->kind == SDK_WAIT_PUSH && wt->idx == (uint32_t)w) {
            *pp = wt->next;
            sdk_waiter_put(rt, wt);
        } else {
            pp = &wt->next;
        }
    }
}

void
sdk_nested_watch(sdk_rt *rt, int w, sdk_obj *o, uint64_t id)
{
    if (o->state != SDK_OBJ_PENDING) {
        reply_object(rt, w, SDK_MSG_PUSH, id, o);
        return;
    }
    sdk_waiter *wt = sdk_waiter_alloc(rt);
    if (!wt) {
        static const char m[] = "out of memory in the driver";
        reply_as(rt, w, SDK_MSG_PUSH, id, RAY_ENOMEM, RAY_T_NONE, 0, m,
                 sizeof(m));
        return;
    }
    wt->kind = SDK_WAIT_PUSH;
    wt->ctx = (void *)(uintptr_t)id;
    wt->arg = (void *)(uintptr_t)sdk_proc_worker(rt, w)->deaths;
    wt->idx = (uint32_t)w;
    wt->next = o->waiters;
    o->waiters = wt;
    sdk_obj_want(o);
}

static void
handle_ids(sdk_rt *rt, int w, const sdk_msg_req *q)
{
    uint32_t n = q->len > IDS_MAX ? IDS_MAX : (uint32_t)q->len;
    uint64_t ids[IDS_MAX];
    uint32_t k = 0;
    for (; k < n; k++) {
        sdk_obj *o;
        if (sdk_objects_alloc(&rt->store, &ids[k], &o) != RAY_OK)
            break;
    }
    sdk_nested_reply(rt, w, q->req_id, k ? RAY_OK : RAY_ENOMEM, RAY_T_NONE, k,
                     ids, k * sizeof(uint64_t));
}

static void
handle_submit(sdk_rt *rt, int w, const sdk_msg_req *q, uint32_t len,
              sdk_cb **cbs)
{
    sdk_obj *o = sdk_objects_lookup(&rt->store, q->obj_id);
    if (!o || o->state != SDK_OBJ_PENDING || o->producer)
        return; /* not a reserved id: ignore (a broken worker) */
    const uint8_t *p = (const uint8_t *)(q + 1);
    size_t name_sz = SDK_ALIGN8(q->name_len);
    size_t args_len = len - sizeof(*q) - name_sz;
    if (len < sizeof(*q) + name_sz || q->nargs > RAY_MAX_ARGS ||
        args_len < q->nargs * sizeof(sdk_wire_arg)) {
        sdk_objects_set_error(&rt->store, o, RAY_EPROTO, "malformed submit");
        sdk_object_done(rt, o, cbs);
        sdk_nested_watch(rt, w, o, q->obj_id);
        return;
    }
    sdk_task *t = sdk_task_alloc(rt);
    char *name = rt_malloc(q->name_len + 1);
    uint8_t *spec = args_len > sizeof(((sdk_task *)0)->spec_inl)
                        ? rt_malloc(args_len)
                        : NULL;
    if (!t || !name || (args_len > sizeof(t->spec_inl) && !spec)) {
        if (t)
            sdk_task_free(rt, t);
        rt_free(name);
        rt_free(spec);
        sdk_objects_set_error(&rt->store, o, RAY_ENOMEM, "out of memory");
        sdk_object_done(rt, o, cbs);
        sdk_nested_watch(rt, w, o, q->obj_id);
        return;
    }
    memcpy(name, p, q->name_len);
    name[q->name_len] = '\0';
    t->name = t->name_owned = name;
    if (spec)
        t->spec = spec;
    memcpy(t->spec, p + name_sz, args_len);
    t->spec_len = (uint32_t)args_len;
    t->nargs = q->nargs;
    t->id = rt->next_task_id++;
    t->fn_hash = q->fn_hash;
    t->kind = SDK_TK_CALL;
    t->retries_left =
        q->max_retries == 0 ? 3 : (q->max_retries < 0 ? 0 : q->max_retries);
    t->has_refs = sdk_spec_hold_sent_refs(rt, t->spec, t->nargs);
    t->has_handles = sdk_actor_hold_args(rt, t->spec, t->nargs, 1, NULL);
    sdk_objects_retain(o); /* the task's reference */
    o->producer = t;
    o->task = 1;
    t->result = o;
    if (w < rt->ntask)
        t->st.prefer = w + 1; /* near its caller, which may run it */
    sdk_nested_watch(rt, w, o, q->obj_id);
    if (sdk_task_add_deps(rt, t) == 0 &&
        !sdk_task_check_failed_deps(rt, t, cbs))
        sdk_task_ready(rt, t);
}

/* A worker's borrowed ref, handled once mu is released (the backend's
 * borrow may ask another node, and takes mu itself). */
typedef struct borrow_req {
    int w;
    uint32_t deaths; /* the worker's incarnation */
    uint64_t req;    /* answered: a borrow, a retain */
    bool ask;        /* SDK_MSG_BORROW; else a holder more or less */
    bool retain;
    ray_ref ref;
} borrow_req;

static void
borrow_run(void *arg, ray_ref unused, ray_err unused_err)
{
    (void)unused, (void)unused_err;
    borrow_req *b = arg;
    sdk_rt *rt = sdk_g;
    ray_ref local = RAY_REF_NULL;
    ray_err e = RAY_EINVAL;
    if (b->ask && sdk_be->borrow)
        e = sdk_be->borrow(b->ref, &local);
    else if (!b->ask && sdk_be->borrow_ref)
        e = sdk_be->borrow_ref(b->ref, b->retain);
    if (!b->ask && !b->retain) { /* a release is not answered */
        rt_free(b);
        return;
    }
    const char *m = e == RAY_OK ? "" : ray_last_error_detail();
    if (e == RAY_EINVAL && !*m)
        m = "a foreign reference (not made by this job's runtimes)";
    pthread_mutex_lock(&rt->mu);
    bool same = sdk_proc_worker(rt, b->w)->deaths == b->deaths;
    if (same) /* a borrow's holder is the worker's now: it releases it */
        sdk_nested_reply(rt, b->w, b->req, e, RAY_T_U64, local.id, m,
                         strlen(m) + 1);
    pthread_mutex_unlock(&rt->mu);
    if (!same && local.id)
        ray_ref_release(local);
    rt_free(b);
}

static void
borrow_later(sdk_rt *rt, int w, uint32_t type, const sdk_msg_req *q,
             sdk_cb **cbs)
{
    borrow_req *b = rt_malloc(sizeof(*b));
    sdk_cb *c = rt_calloc(1, sizeof(*c));
    if (!b || !c) {
        rt_free(b);
        rt_free(c);
        static const char m[] = "out of memory";
        if (type == SDK_MSG_BORROW)
            sdk_nested_reply(rt, w, q->req_id, RAY_ENOMEM, RAY_T_NONE, 0, m,
                             sizeof(m));
        return;
    }
    *b = (borrow_req){w,           (uint32_t)sdk_proc_worker(rt, w)->deaths,
                      q->req_id,   type == SDK_MSG_BORROW,
                      q->len != 0, (ray_ref){q->obj_id, q->fn_hash}};
    c->cb = borrow_run;
    c->arg = b;
    while (*cbs) /* after the rest: in the order the worker sent them */
        cbs = &(*cbs)->next;
    *cbs = c;
}

void
sdk_nested_handle(sdk_rt *rt, int w, uint32_t type, const uint8_t *rec,
                  uint32_t len, sdk_cb **cbs)
{
    if (type == SDK_MSG_TRACE) {
        sdk_timeline_add(rt, w, rec, len);
        return;
    }
    if (len < sizeof(sdk_msg_req))
        return;
    const sdk_msg_req *q = (const sdk_msg_req *)rec;
    sdk_obj *o;
    atomic_store_explicit(&rt->last_request_ns, rt_clock_now_ns(),
                          memory_order_relaxed);
    switch (type) {
    case SDK_MSG_SUBMIT:
        handle_submit(rt, w, q, len, cbs);
        break;
    case SDK_MSG_PUT:
        o = sdk_objects_lookup(&rt->store, q->obj_id);
        if (o && o->state == SDK_OBJ_PENDING && !o->producer &&
            q->len <= len - sizeof(*q)) {
            if (sdk_objects_set_value(&rt->store, o, q->type, q + 1, q->len) !=
                RAY_OK)
                sdk_objects_set_error(&rt->store, o, RAY_ENOMEM,
                                      "out of memory");
            sdk_object_done(rt, o, cbs);
        }
        break;
    case SDK_MSG_GET:
        o = sdk_objects_lookup(&rt->store, q->obj_id);
        if (!o) {
            static const char m[] = "null or released reference";
            sdk_nested_reply(rt, w, q->req_id, RAY_EINVAL, RAY_T_NONE, 0, m,
                             sizeof(m));
        } else if (o->state != SDK_OBJ_PENDING) {
            reply_object(rt, w, SDK_MSG_REPLY, q->req_id, o);
        } else {
            sdk_waiter *wt = rt_malloc(sizeof(*wt));
            if (!wt) {
                static const char m[] = "out of memory";
                sdk_nested_reply(rt, w, q->req_id, RAY_ENOMEM, RAY_T_NONE, 0, m,
                                 sizeof(m));
                break;
            }
            wt->kind = SDK_WAIT_RGET;
            wt->ctx = (void *)(uintptr_t)q->req_id;
            wt->arg = (void *)(uintptr_t)sdk_proc_worker(rt, w)->deaths;
            wt->idx = (uint32_t)w;
            wt->next = o->waiters;
            o->waiters = wt;
            sdk_obj_want(o);
        }
        break;
    case SDK_MSG_IDS:
        handle_ids(rt, w, q);
        break;
    case SDK_MSG_WATCH:
        o = sdk_objects_lookup(&rt->store, q->obj_id);
        if (o) {
            sdk_nested_watch(rt, w, o, q->obj_id);
        } else {
            static const char m[] = "null or released reference";
            reply_as(rt, w, SDK_MSG_PUSH, q->obj_id, RAY_EINVAL, RAY_T_NONE, 0,
                     m, sizeof(m));
        }
        break;
    case SDK_MSG_STORE:
        sdk_store_request(rt);
        break;
    case SDK_MSG_CANCEL: {
        ray_err e = sdk_cancel_locked(
            rt, sdk_objects_lookup(&rt->store, q->obj_id), q->len != 0, cbs);
        const char *m = e == RAY_OK ? "" : ray_last_error_detail();
        sdk_nested_reply(rt, w, q->req_id, e, RAY_T_NONE, 0, m, strlen(m) + 1);
        break;
    }
    case SDK_MSG_RELEASE:
    case SDK_MSG_RETAIN:
        o = sdk_objects_lookup(&rt->store, q->obj_id);
        if (o && type == SDK_MSG_RETAIN) {
            sdk_objects_retain(o);
        } else if (o) {
            unwatch(rt, o, w);
            sdk_objects_release(&rt->store, o);
        }
        break;
    case SDK_MSG_BORROW:
    case SDK_MSG_BORROW_REF:
        borrow_later(rt, w, type, q, cbs);
        break;
    case SDK_MSG_STATS: {
        ray_stats st;
        sdk_stats_locked(rt, &st);
        sdk_nested_reply(rt, w, q->req_id, RAY_OK, RAY_T_BYTES, 0, &st,
                         sizeof(st));
        break;
    }
    case SDK_MSG_ACALL:
    case SDK_MSG_AEXIT:
    case SDK_MSG_ALOOKUP:
    case SDK_MSG_ARETAIN:
    case SDK_MSG_ARELEASE:
    case SDK_MSG_ACREATE:
    case SDK_MSG_AKILL:
    case SDK_MSG_ASTATE:
    case SDK_MSG_AREADY:
        sdk_actor_handle_req(rt, w, type, rec, len, cbs);
        break;
    default:
        RT_LOG_RATELIMITED(RT_LOG_WARN,
                           "unknown message type %u from a "
                           "worker",
                           type);
    }
}

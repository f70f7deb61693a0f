/* SPDX-License-Identifier: Apache-2.0
 *
 * actor_host.c: actor states inside an actor host (a worker process).
 *
 * The host runs its submission ring like any worker; records flagged
 * SDK_TF_* address one of its actor slots. NEW allocates the state (the
 * constructor descriptor's ret_size bytes, zeroed) and runs the
 * constructor into it; CALL runs a method on it; DEL runs the destructor
 * and frees it; DROP frees it without the destructor (kill). A record for
 * a slot with no state (the actor exited, its constructor failed) is
 * answered with RAY_EACTOR_DIED. The methods find their state through
 * ray_actor_self().
 *
 * A method that waits (ray_get of a task's result) lets the host run the
 * records queued behind it, as a task worker does, so actors sharing the
 * host, and actors calling each other, never deadlock. A record for an
 * actor that is itself inside such a call is copied and deferred until
 * that call returns: an actor runs one call at a time, in order.
 *
 * An actor with max_concurrency N > 1 (alone in its host) runs its calls
 * on N threads of the host instead: the main thread copies each call
 * into a queue, a thread decodes and runs it, and the main thread sends
 * the results it finds in the done list (the completion ring has one
 * producer). Its destructor waits until no call runs. Methods of such an
 * actor must be thread-safe and must not call the rayc API (requests
 * travel on single-producer rings; a call from a pool thread aborts the
 * host with a message). Otherwise single-threaded, like the worker loop.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "sdk/sdk_int.h"

typedef struct ah_deferred {
    struct ah_deferred *next;
    uint32_t len;
    _Alignas(8) uint8_t rec[];
} ah_deferred;

typedef struct ah_slot {
    void *state;
    const char *cls;
    bool restarted;
    _Atomic bool exit_asked;
    uint32_t busy;    /* calls of this actor running (nested) */
    uint32_t conc;    /* > 1: calls run on the pool threads */
    uint32_t running; /* pool calls queued or running (main) */
    ah_deferred *dhead, *dtail;
} ah_slot;

#define AH_DEPTH 64

static ah_slot *slots;
static uint32_t nslots;
static _Thread_local ah_slot *stack[AH_DEPTH]; /* actor of each record */
static _Thread_local int depth;
static _Thread_local bool on_pool;

/* The pool of an actor with max_concurrency > 1. */
typedef struct ah_job {
    struct ah_job *next;
    uint32_t slot;
    uint32_t len;
    uint64_t task_id;
    const ray_fn_desc *d;
    ray_arg av[RAY_MAX_ARGS]; /* decoded: inline buffers point into rec,
                                 stored ones into the store (pinned) */
    store_object_id pins[RAY_MAX_ARGS];
    uint32_t npins;           /* unpinned by the main thread when done */
    ray_err err;              /* result: error and message, or r */
    int64_t start_ns, end_ns; /* when it ran (the timeline records) */
    char msg[256];
    ray_ret r;
    _Alignas(8) uint8_t rec[];
} ah_job;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static ah_job *todo_head, *todo_tail; /* pool_mu */
static ah_job *done_head, *done_tail; /* pool_mu */
static _Atomic uint32_t ndone;
static uint32_t nthreads;
static uint32_t ndeferred;
static int exiting = -1;   /* slot whose method asked to exit */
static ah_slot *replaying; /* slot whose deferred record runs now */

static ah_slot *
cur(void)
{
    return depth > 0 && depth <= AH_DEPTH ? stack[depth - 1] : NULL;
}

void *
ray_actor_self(void)
{
    ah_slot *s = cur();
    return s ? s->state : NULL;
}

bool
ray_actor_restarted(void)
{
    ah_slot *s = cur();
    return s && s->restarted;
}

void
ray_actor_exit(void)
{
    ah_slot *s = cur();
    if (s)
        s->exit_asked = true;
}

static void
free_state(ah_slot *s)
{
    rt_free(s->state);
    s->state = NULL;
    s->cls = NULL;
    s->restarted = false;
    s->exit_asked = false;
    s->conc = 0;
}

bool
sdk_ah_on_pool_thread(void)
{
    return on_pool;
}

/* ---- the pool (actors with max_concurrency > 1) ---- */

static void
run_job(ah_job *j)
{
    stack[0] = &slots[j->slot]; /* slots never move while calls run */
    depth = 1;
    j->start_ns = j->start_ns ? rt_clock_now_ns() : 0;
    j->d->tramp(j->av, &j->r);
    j->end_ns = j->start_ns ? rt_clock_now_ns() : 0;
    depth = 0;
    const char *emsg;
    j->err = sdk_task_error_take(&emsg);
    if (j->err != RAY_OK) {
        snprintf(j->msg, sizeof(j->msg), "%s", emsg);
        free(j->r.ptr); /* user memory from malloc */
        j->r.ptr = NULL;
    }
}

static void *
pool_main(void *arg)
{
    (void)arg;
    on_pool = true;
    for (;;) {
        pthread_mutex_lock(&pool_mu);
        while (!todo_head)
            pthread_cond_wait(&pool_cv, &pool_mu);
        ah_job *j = todo_head;
        todo_head = j->next;
        if (!todo_head)
            todo_tail = NULL;
        else
            pthread_cond_signal(&pool_cv); /* more: wake the next thread */
        pthread_mutex_unlock(&pool_mu);
        run_job(j);
        j->next = NULL;
        pthread_mutex_lock(&pool_mu);
        if (done_tail)
            done_tail->next = j;
        else
            done_head = j;
        done_tail = j;
        pthread_mutex_unlock(&pool_mu);
        atomic_fetch_add(&ndone, 1);
        sdk_wk_poke();
    }
    return NULL;
}

/* Queue a call for the pool with its decoded arguments `a` (inline
 * buffers inside `rec`, which is copied) and the store pins they hold,
 * which the job takes over (a->npins becomes 0). RAY_EAGAIN: taken (the
 * result comes later). */
static ray_err
submit_job(ah_slot *s, const ray_fn_desc *d, const uint8_t *rec, uint32_t len,
           sdk_ah_args *a, char *msg, size_t n)
{
    while (nthreads < s->conc) {
        pthread_t th;
        if (pthread_create(&th, NULL, pool_main, NULL) != 0)
            break;
        pthread_detach(th);
        nthreads++;
    }
    ah_job *j = rt_calloc(1, sizeof(*j) + len);
    if (!j || nthreads == 0) {
        rt_free(j);
        snprintf(msg, n, "cannot start a thread for the call");
        return RAY_ENOMEM;
    }
    j->slot = (uint32_t)(s - slots);
    j->len = len;
    j->task_id = ((const sdk_msg_task *)rec)->task_id;
    j->d = d;
    j->start_ns = sdk_wk_trace_start(); /* nonzero: time it on the pool */
    memcpy(j->rec, rec, len);
    for (uint32_t i = 0; i < d->nargs && i < RAY_MAX_ARGS; i++) {
        j->av[i] = a->av[i];
        const uint8_t *p = a->av[i].v.buf.ptr;
        if (sdk_type_buffer(j->av[i].type) && p >= rec && p <= rec + len)
            j->av[i].v.buf.ptr = j->rec + (p - rec); /* into the copy */
    }
    memcpy(j->pins, a->pins, a->npins * sizeof(*j->pins));
    j->npins = a->npins;
    a->npins = 0;
    s->running++;
    pthread_mutex_lock(&pool_mu);
    bool first = !todo_head;
    if (todo_tail)
        todo_tail->next = j;
    else
        todo_head = j;
    todo_tail = j;
    /* One wake-up per burst: a thread that takes a job and sees more
     * wakes the next one, so a burst of short calls costs one futex wake,
     * not one per call, and long calls still spread over the threads. */
    if (first)
        pthread_cond_signal(&pool_cv);
    pthread_mutex_unlock(&pool_mu);
    return RAY_EAGAIN;
}

static ray_err
defer(ah_slot *s, const uint8_t *rec, uint32_t len, char *msg, size_t n)
{
    ah_deferred *d = rt_malloc(sizeof(*d) + len);
    if (!d) {
        snprintf(msg, n, "out of memory in the actor host");
        return RAY_ENOMEM;
    }
    d->next = NULL;
    d->len = len;
    memcpy(d->rec, rec, len);
    if (s->dtail)
        s->dtail->next = d;
    else
        s->dhead = d;
    s->dtail = d;
    ndeferred++;
    return RAY_EAGAIN;
}

ray_err
sdk_ah_begin(uint32_t flags, const ray_fn_desc *d, char *msg, size_t n,
             const uint8_t *rec, uint32_t len, sdk_ah_args *args)
{
    uint32_t kind = flags & SDK_TF_KIND, k = SDK_TF_SLOT(flags);
    if (k >= nslots) {
        uint32_t nn = k + 32;
        ah_slot *ns = rt_realloc(slots, nn * sizeof(*ns));
        if (!ns) {
            snprintf(msg, n, "out of memory in the actor host");
            return RAY_ENOMEM;
        }
        memset(ns + nslots, 0, (nn - nslots) * sizeof(*ns));
        slots = ns;
        nslots = nn;
    }
    ah_slot *s = &slots[k];
    if (s->busy || (s->dhead && s != replaying) ||
        (s->running && kind != SDK_TF_CALL))
        return defer(s, rec, len, msg, n); /* after its running call(s) */
    if (depth >= AH_DEPTH) {
        snprintf(msg, n, "calls nested too deeply in the actor host");
        return RAY_EINVAL;
    }
    if (kind == SDK_TF_DROP) {
        free_state(s);
        snprintf(msg, n, "actor dropped");
        return RAY_ECANCELLED;
    }
    if (kind == SDK_TF_NEW) {
        free_state(s); /* a restart in the same process */
        s->state = rt_calloc(1, d->ret_size ? d->ret_size : 1);
        if (!s->state) {
            snprintf(msg, n, "out of memory for the actor's state");
            return RAY_ENOMEM;
        }
        s->cls = d->cls;
        s->restarted = (flags & SDK_TF_RESTART) != 0;
        s->conc = SDK_TF_CONC(flags);
    } else if (!s->state) {
        snprintf(msg, n, "%s: the actor is not alive in its worker", d->name);
        return RAY_EACTOR_DIED;
    } else if (!d->cls || (d->cls != s->cls && strcmp(d->cls, s->cls) != 0)) {
        snprintf(msg, n, "%s is not a method of actor class %s", d->name,
                 s->cls);
        return RAY_EINVAL;
    } else if (kind == SDK_TF_CALL && s->conc > 1) {
        return submit_job(s, d, rec, len, args, msg, n); /* on the pool */
    }
    s->busy++;
    stack[depth++] = s;
    return RAY_OK;
}

void
sdk_ah_end(uint32_t flags, ray_err err)
{
    uint32_t kind = flags & SDK_TF_KIND;
    ah_slot *s = cur();
    if (!s)
        return;
    depth--;
    s->busy--;
    if ((kind == SDK_TF_NEW && err != RAY_OK) || kind == SDK_TF_DEL)
        free_state(s);
    else if (s->exit_asked && s->state)
        exiting = (int)(s - slots);
}

/* Run the destructor of slot k, free it and tell the driver it exited. */
static void
finish_exit(uint32_t k)
{
    ah_slot *s = &slots[k];
    char name[160];
    snprintf(name, sizeof(name), "%s.__del__", s->cls ? s->cls : "");
    const ray_fn_desc *d = sdk_registry_find(sdk_name_hash(name));
    if (d && depth < AH_DEPTH) {
        ray_ret r;
        memset(&r, 0, sizeof(r));
        stack[depth++] = s;
        d->tramp(NULL, &r);
        depth--;
        const char *m;
        (void)sdk_task_error_take(&m);
    }
    free_state(s);
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    q->obj_id = k;
    sdk_wk_commit(SDK_MSG_AEXIT, sizeof(*q));
}

void
sdk_ah_after(void)
{
    if (exiting >= 0) {
        uint32_t k = (uint32_t)exiting;
        exiting = -1;
        finish_exit(k);
    }
    /* Records deferred behind calls that have returned now, in order. */
    for (uint32_t k = 0; ndeferred && k < nslots; k++) {
        ah_slot *s = &slots[k];
        while (!s->busy && !s->running && s->dhead) {
            ah_deferred *d = s->dhead;
            s->dhead = d->next;
            if (!s->dhead)
                s->dtail = NULL;
            ndeferred--;
            ah_slot *outer = replaying;
            replaying = s;
            sdk_wk_run_record(d->rec, d->len);
            replaying = outer;
            rt_free(d);
        }
    }
}

bool
sdk_ah_pending(void)
{
    return atomic_load_explicit(&ndone, memory_order_seq_cst) != 0;
}

void
sdk_ah_poll(void)
{
    if (!atomic_load_explicit(&ndone, memory_order_acquire))
        return;
    pthread_mutex_lock(&pool_mu);
    ah_job *j = done_head;
    done_head = done_tail = NULL;
    atomic_store(&ndone, 0);
    pthread_mutex_unlock(&pool_mu);
    while (j) {
        ah_job *next = j->next;
        ah_slot *s = &slots[j->slot];
        sdk_wk_unpin(j->pins, j->npins); /* before the result is sent */
        sdk_wk_trace_arm(j->task_id, j->d->hash, j->start_ns, j->end_ns,
                         SDK_TRACE_ACTOR, 0);
        sdk_wk_send_result(j->task_id, j->err, j->msg, &j->r);
        free(j->r.ptr); /* user memory from malloc */
        s->running--;
        if (!s->running && s->exit_asked && s->state)
            finish_exit(j->slot);
        rt_free(j);
        j = next;
    }
    sdk_ah_after(); /* records deferred behind the pool's calls */
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * worker_main.c: worker mode, entered before the user's main().
 *
 * The driver starts workers by re-executing its own binary with
 * RAYC_WORKER_SPEC="memfd:slot:driver_pid" in the environment. The
 * constructor below (priority 65535: after every RAY_REMOTE registration
 * at 101) sees it, maps the shared memory, and runs the task loop; it
 * never returns, so the user's main() never runs in a worker.
 *
 * The loop: take the next record from the submission ring, claim it (the
 * driver may have taken it back for another worker: then skip it), run
 * it, write the result into the completion ring. Results are published
 * in batches (64, or when the queue runs dry, so a lone call is not
 * delayed); before each task the worker exposes what it wrote (a driver
 * that has waited a while takes it), and publishes at once when someone
 * waits for one of those results, so no result waits behind the next
 * task. The driver's doorbell is rung only for a driver thread asleep
 * for these results, or when the worker runs dry. When idle the worker
 * spins worker_spin_us, then sleeps on the ring's futex with a timeout,
 * checking that its parent is alive (PR_SET_PDEATHSIG covers the rest:
 * a killed driver kills its workers).
 *
 * Inside a task's wait (worker_client.c) a task worker runs nothing else,
 * except the very task it waits for without a deadline when that one is
 * queued here (sdk_wk_help, out of order), or anything when the driver
 * says every worker is blocked (ctl->nested_ok).
 *
 * Large values: a worker connects to the node's object store on first
 * need (asking the driver to start it if nobody has yet). An argument
 * that is a stored value is pinned, read in place and unpinned before the
 * result goes out; a result of STORE_PLASMA_MIN bytes or more is written,
 * sealed and unpinned in the store and only its key travels on the ring.
 * The same binary in reaper mode (store_node_is_reaper) never becomes
 * a worker.
 * Single-threaded.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "objectstore/node_store.h"
#include "sdk/backend.h"
#include "sdk/cluster.h"
#include "sdk/sdk_int.h"

bool sdk_in_worker;

static struct {
    sdk_shm_hdr *hdr;
    sdk_worker_ctl *ctl;
    rt_ring sub;         /* consumer */
    rt_ring comp;        /* producer */
    rt_ring reply;       /* consumer: replies to this worker's requests */
    store_client *store; /* the node's object store, once connected */
    pid_t ppid;
    int spin_us;
    rt_spin_budget spin; /* adaptive idle spin */
    uint32_t unpublished;
    int depth;        /* tasks running (nested while waiting for a reply) */
    bool in_map;      /* inside a map chunk: no requests allowed */
    bool requested;   /* requests sent since the driver was last woken */
    bool host;        /* an actor host (not a task worker) */
    uint32_t blocked; /* ctl->blocked as last set here (SDK_BLOCKED_*) */
    uint64_t unpub_lo, unpub_hi;  /* ids of the unpublished results */
    uint64_t help_task, help_obj; /* the task run by sdk_wk_help, and the
                                     object its result makes */
    sdk_msg_trace tr;             /* when the call whose result goes next ran */
    bool tr_on; /* tr is armed: the driver's timeline records */
} W;

static void flush_completions(void);
static void publish_results(void);

/* Someone waits for one of the results written and not yet published:
 * a driver thread waiting for one of them (the one waiting thread names
 * its task; with more, or for any result, it is any), the reactor, or a
 * blocked worker (the driver pushes results to it). */
static bool
results_wanted(void)
{
    return sdk_bell_wanted(&W.hdr->bell, W.unpub_lo, W.unpub_hi);
}

/* Before a task starts: expose the results written so far (a driver
 * that waits a while takes them, see sdk_progress), and when someone
 * waits for one of them, publish them and ring the doorbell. Either way
 * no result stays invisible behind the next task, however long it runs
 * (nobody can know it will be short), and a stream of short tasks still
 * publishes in batches (64, or when the queue runs dry). */
static void
publish_due(void)
{
    if (!W.unpublished)
        return;
    rt_ring_expose(&W.comp);
    if (results_wanted())
        publish_results();
}

/* Publish what was written while tasks keep running. */
static void
publish_results(void)
{
    if (!W.unpublished)
        return;
    rt_ring_publish_quiet(&W.comp);
    sdk_bell_ring_for(&W.hdr->bell, W.unpub_lo, W.unpub_hi);
    W.unpublished = 0;
}

/* Publish what was written, and wake any sleeping driver thread (the
 * queue ran dry, or the ring is full). */
static void
flush_completions(void)
{
    if (!W.unpublished)
        return;
    rt_ring_publish_quiet(&W.comp);
    sdk_bell_ring(&W.hdr->bell);
    W.unpublished = 0;
}

static void
check_parent(void)
{
    if (getppid() != W.ppid ||
        atomic_load_explicit(&W.hdr->shutdown, memory_order_relaxed))
        _exit(0);
}

static void send_trace(void);

/* A result record's length: the times of the call (W.tr, when armed)
 * ride at its end, after the payload padded to 8. */
static size_t
done_record_len(size_t payload)
{
    return W.tr_on ? sizeof(sdk_msg_done) + SDK_ALIGN8(payload) +
                         sizeof(sdk_msg_trace)
                   : sizeof(sdk_msg_done) + payload;
}

/* Reserve a completion record, waiting for the driver to drain. */
static sdk_msg_done *
reserve_done(size_t payload)
{
    if (W.tr_on && done_record_len(payload) > rt_ring_max_record(&W.comp))
        send_trace(); /* the times go ahead on their own */
    size_t need = done_record_len(payload);
    if (need > rt_ring_max_record(&W.comp))
        return NULL;
    void *p;
    while (!(p = rt_ring_reserve(&W.comp, need))) {
        flush_completions();
        if (rt_ring_wait_space(&W.comp, need, W.spin_us, 100000) != RAY_OK)
            check_parent();
    }
    return p;
}

/* Count a committed record; `task` (0: not a result) widens the range
 * of unpublished result ids. */
static void
count_unpublished(uint64_t task)
{
    if (W.unpublished++ == 0) {
        W.unpub_lo = UINT64_MAX;
        W.unpub_hi = 0;
    }
    if (task && task < W.unpub_lo)
        W.unpub_lo = task;
    if (task > W.unpub_hi)
        W.unpub_hi = task;
}

/* Commit the result record `d` (reserved with reserve_done). The
 * result of a task this worker runs for its own wait (sdk_wk_help) is
 * also kept here at once, when it is a value: the caller need not wait
 * for the driver to push it back (that push is then a duplicate). */
static void
commit_done(const sdk_msg_done *d, size_t payload)
{
    if (W.help_task && d->task_id == W.help_task && d->err == RAY_OK) {
        sdk_msg_done h = *d;
        h.task_id = W.help_obj;
        sdk_wk_results_push(&h, d + 1);
    }
    size_t len = done_record_len(payload);
    uint32_t type = SDK_MSG_DONE;
    if (W.tr_on) {
        memcpy((uint8_t *)d + len - sizeof(W.tr), &W.tr, sizeof(W.tr));
        type = SDK_MSG_TIMED;
        W.tr_on = false;
    }
    rt_ring_commit(&W.comp, type, len);
    count_unpublished(d->task_id);
}

static void
send_error(uint64_t task_id, ray_err err, const char *msg)
{
    size_t len = strlen(msg) + 1;
    sdk_msg_done *d = reserve_done(len);
    d->task_id = task_id;
    d->err = (int32_t)err;
    d->type = RAY_T_NONE;
    d->scalar = 0;
    d->len = len;
    memcpy(d + 1, msg, len);
    commit_done(d, len);
}

/* Reserve `len` raw bytes (a continuation fragment), waiting for space. */
static void *
reserve_raw(size_t len)
{
    void *p;
    while (!(p = rt_ring_reserve(&W.comp, len))) {
        flush_completions();
        if (rt_ring_wait_space(&W.comp, len, W.spin_us, 100000) != RAY_OK)
            check_parent();
    }
    return p;
}

/* A result larger than one record travels as a first record (header and
 * the start of the payload) flagged RT_RING_MORE, then continuation
 * records; the driver reassembles them. */
static void
send_fragmented(const sdk_msg_done *hdr, const uint8_t *data, size_t len)
{
    if (W.tr_on)
        send_trace(); /* ahead of the result, like a record's trailer */
    size_t max = rt_ring_max_record(&W.comp);
    size_t first = max - sizeof(sdk_msg_done);
    sdk_msg_done *d = reserve_raw(max);
    *d = *hdr;
    memcpy(d + 1, data, first);
    rt_ring_commit(&W.comp, SDK_MSG_DONE | RT_RING_MORE, max);
    count_unpublished(hdr->task_id);
    flush_completions();
    size_t off = first;
    while (off < len) {
        size_t n = len - off < max ? len - off : max;
        void *p = reserve_raw(n);
        memcpy(p, data + off, n);
        off += n;
        rt_ring_commit(&W.comp, SDK_MSG_DONE | (off < len ? RT_RING_MORE : 0),
                       n);
        count_unpublished(hdr->task_id);
        flush_completions();
    }
}

/* ---- the node's object store ---- */

void
sdk_wk_store_id(uint64_t key, store_object_id *out)
{
    store_plasma_id(W.hdr->store_prefix, key, out);
}

store_client *
sdk_wk_store(void)
{
    if (W.store)
        return W.store;
    uint32_t st = atomic_load(&W.hdr->store_state);
    if (st == SDK_STORE_NONE) {
        /* Ask the driver to start it; it answers in hdr->store_state. */
        sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
        memset(q, 0, sizeof(*q));
        sdk_wk_commit(SDK_MSG_STORE, sizeof(*q));
        sdk_wk_flush(true);
        int64_t deadline = rt_clock_now_ns() + 300 * 1000000000LL;
        while ((st = atomic_load(&W.hdr->store_state)) == SDK_STORE_NONE &&
               rt_clock_now_ns() < deadline) {
            check_parent();
            rt_futex_wait(&W.hdr->store_state, SDK_STORE_NONE, 100000);
        }
    }
    if (st != SDK_STORE_READY) {
        sdk_fail(RAY_ESTORE_FULL, "the node's object store could not start "
                                  "(see the driver's ray_put errors)");
        return NULL;
    }
    char path[sizeof(W.hdr->store_path)];
    memcpy(path, W.hdr->store_path, sizeof(path));
    path[sizeof(path) - 1] = '\0';
    ray_err e = store_client_connect(path, 10000, &W.store);
    if (e != RAY_OK) {
        W.store = NULL;
        sdk_fail(e, "cannot connect to the object store at %s: %s", path,
                 ray_strerror(e));
    }
    return W.store;
}

/* Write a large result into the store and report its key. Returns false
 * when the store cannot be used (the caller sends the bytes instead). */
static bool
send_stored(uint64_t task_id, const ray_ret *r)
{
    store_client *c = sdk_wk_store();
    if (!c)
        return false;
    uint64_t key = store_plasma_result_key(task_id);
    store_object_id id;
    sdk_wk_store_id(key, &id);
    char msg[400];
    ray_err e =
        store_plasma_write(c, &id, r->ptr, r->len, 2000, msg, sizeof(msg));
    if (e == RAY_EEXISTS && store_client_delete(c, &id) == RAY_OK)
        e = store_plasma_write(c, &id, r->ptr, r->len, 2000, msg, sizeof(msg));
    if (e == RAY_ESTORE_FULL) {
        send_error(task_id, e, msg);
        return true;
    }
    if (e != RAY_OK)
        return false; /* e.g. leftovers of an earlier attempt, pinned */
    sdk_msg_done *d = reserve_done(0);
    *d = (sdk_msg_done){.task_id = task_id,
                        .err = RAY_OK,
                        .type = r->type | SDK_TYPE_STORED,
                        .scalar = key,
                        .len = 0};
    commit_done(d, 0);
    return true;
}

static void
send_value(uint64_t task_id, const ray_ret *r)
{
    size_t len = sdk_type_buffer(r->type) ? r->len : 0;
    if (len >= STORE_PLASMA_MIN && send_stored(task_id, r))
        return;
    sdk_msg_done h = {.task_id = task_id,
                      .err = RAY_OK,
                      .type = r->type,
                      .scalar = r->v.u64,
                      .len = len};
    if (sizeof(sdk_msg_done) + len > rt_ring_max_record(&W.comp)) {
        send_fragmented(&h, r->ptr, len);
        return;
    }
    sdk_msg_done *d = reserve_done(len);
    *d = h;
    if (len)
        memcpy(d + 1, r->ptr, len);
    commit_done(d, len);
}

/* Convert a scalar wire value of type `from` into the ray_arg form of `to`. */
static void
convert_scalar(ray_arg *a, uint32_t from, uint32_t to, uint64_t bits)
{
    union {
        uint64_t u;
        int64_t i;
        double d;
    } v = {.u = bits};
    bool from_float = from == RAY_T_F64 || from == RAY_T_F32;
    bool to_float = to == RAY_T_F64 || to == RAY_T_F32;
    a->type = to;
    if (from_float == to_float)
        a->v.u64 = v.u;
    else if (to_float)
        a->v.f64 = from == RAY_T_U64 ? (double)v.u : (double)v.i;
    else
        a->v.i64 = (int64_t)v.d;
}

static bool
compatible(uint32_t have, uint32_t want)
{
    if (have == want)
        return true;
    if (sdk_type_scalar(have) && sdk_type_scalar(want))
        return true;
    return (have == RAY_T_STR && want == RAY_T_BYTES) ||
           (have == RAY_T_BYTES && want == RAY_T_STR);
}

/* Pin a stored argument (key `key`) and point `a` at it in place. */
static ray_err
pin_arg(uint64_t key, store_object_id *id, ray_arg *a, char *msg, size_t n)
{
    store_client *c = sdk_wk_store();
    if (!c) {
        snprintf(msg, n, "%s", ray_last_error_detail());
        return RAY_ESTORE_FULL;
    }
    sdk_wk_store_id(key, id);
    store_buffer b;
    /* A spilled argument is restored on get; when the store is full of
     * pinned values (other tasks' arguments and results being written),
     * wait for them to go, as a create does, before failing. */
    ray_err e = store_plasma_get(c, id, 2000, &b);
    if (e != RAY_OK) {
        snprintf(msg, n, "the object store cannot hand out an argument: %s",
                 store_client_last_error(c));
        return e == RAY_ETIMEDOUT ? RAY_EOBJECT_LOST : e;
    }
    a->v.buf.ptr = b.data;
    a->v.buf.len = b.data_size;
    return RAY_OK;
}

static void
unpin_args(const store_object_id *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        (void)store_client_release(W.store, &ids[i]);
}

void
sdk_wk_unpin(const store_object_id *ids, uint32_t n)
{
    unpin_args(ids, n);
}

/* ---- the driver's timeline (timeline.c) ---- */

int64_t
sdk_wk_trace_start(void)
{
    return atomic_load_explicit(&W.hdr->trace, memory_order_relaxed)
               ? rt_clock_now_ns()
               : 0;
}

void
sdk_wk_trace_arm(uint64_t task_id, uint64_t fn_hash, int64_t start_ns,
                 int64_t end_ns, uint32_t kind, uint32_t n)
{
    W.tr = (sdk_msg_trace){.task_id = task_id,
                           .fn_hash = fn_hash,
                           .start_ns = start_ns,
                           .end_ns = end_ns,
                           .kind = kind,
                           .n = n};
    W.tr_on = start_ns != 0;
}

/* The armed times as a record of their own (a result too large to
 * carry them). */
static void
send_trace(void)
{
    sdk_msg_trace *m = reserve_raw(sizeof(*m));
    *m = W.tr;
    W.tr_on = false;
    rt_ring_commit(&W.comp, SDK_MSG_TRACE, sizeof(*m));
    count_unpublished(0);
}

static void
run_task(const uint8_t *rec, uint32_t len)
{
    const sdk_msg_task *m = (const sdk_msg_task *)rec;
    const ray_fn_desc *d = sdk_registry_find(m->fn_hash);
    char msg[256];
    if (!d) {
        send_error(m->task_id, RAY_ENOTFOUND,
                   "no function with this name is registered in the worker");
        return;
    }
    if (m->nargs != d->nargs || m->nargs > RAY_MAX_ARGS) {
        snprintf(msg, sizeof(msg), "%s takes %u arguments, got %u", d->name,
                 d->nargs, m->nargs);
        send_error(m->task_id, RAY_EINVAL, msg);
        return;
    }
    sdk_ah_args a; /* stored args are pinned and read in place */
    ray_arg *av = a.av;
    store_object_id *pins = a.pins;
    a.npins = 0;
    const sdk_wire_arg *wa = (const sdk_wire_arg *)(m + 1);
    size_t off = sizeof(*m) + m->nargs * sizeof(sdk_wire_arg);
    for (uint32_t i = 0; i < m->nargs; i++) {
        uint32_t want = d->arg_type[i];
        uint32_t wt = wa[i].type & ~SDK_WIRE_ACTOR;
        uint32_t have = wt & ~SDK_TYPE_STORED;
        if (wt & SDK_TYPE_STORED) {
            ray_err pe = RAY_EINVAL;
            snprintf(msg, sizeof(msg), "%s: bad argument %u", d->name, i + 1);
            if (sdk_type_buffer(have) && compatible(have, want))
                pe = pin_arg(wa[i].scalar, &pins[a.npins], &av[i], msg,
                             sizeof(msg));
            if (pe != RAY_OK) {
                unpin_args(pins, a.npins);
                send_error(m->task_id, pe, msg);
                return;
            }
            a.npins++;
            av[i].type = want;
            continue;
        }
        if (!compatible(wt, want) || off + wa[i].len > len) {
            snprintf(msg, sizeof(msg),
                     "%s: argument %u has type %u, expected type %u", d->name,
                     i + 1, wt, want);
            unpin_args(pins, a.npins);
            send_error(m->task_id, RAY_EINVAL, msg);
            return;
        }
        if (sdk_type_scalar(want)) {
            convert_scalar(&av[i], wt, want, wa[i].scalar);
        } else {
            /* A NULL string or empty buffer arrives as NULL. */
            av[i].type = want;
            av[i].v.buf.ptr = wa[i].len ? rec + off : NULL;
            av[i].v.buf.len = wa[i].len;
            off += SDK_ALIGN8(wa[i].len);
        }
    }
    uint32_t actor = m->flags & SDK_TF_KIND; /* a record for an actor */
    if (actor) {
        ray_err ae = sdk_ah_begin(m->flags, d, msg, sizeof(msg), rec, len, &a);
        if (ae == RAY_EAGAIN) {
            /* Deferred (the replay pins them again) or on the actor's
             * threads (they took the pins: none left here). */
            unpin_args(pins, a.npins);
            return;
        }
        if (ae != RAY_OK) {
            unpin_args(pins, a.npins);
            send_error(m->task_id, ae, msg);
            return;
        }
    }
    ray_ret r;
    memset(&r, 0, sizeof(r));
    uint64_t outer =
        atomic_load_explicit(&W.ctl->current, memory_order_relaxed);
    atomic_store_explicit(&W.ctl->current, m->task_id, memory_order_relaxed);
    int64_t t0 = sdk_wk_trace_start();
    d->tramp(av, &r);
    int64_t t1 = t0 ? rt_clock_now_ns() : 0;
    atomic_store_explicit(&W.ctl->current, outer, memory_order_relaxed);
    unpin_args(pins, a.npins); /* before the result: the driver may delete */
    const char *emsg;
    ray_err e = sdk_task_error_take(&emsg);
    if (actor)
        sdk_ah_end(m->flags, e);
    sdk_wk_trace_arm(m->task_id, m->fn_hash, t0, t1,
                     actor == SDK_TF_NEW ? SDK_TRACE_ACTOR_NEW
                     : actor             ? SDK_TRACE_ACTOR
                                         : SDK_TRACE_TASK,
                     0);
    if (e != RAY_OK)
        send_error(m->task_id, e, emsg);
    else
        send_value(m->task_id, &r);
    W.tr_on = false; /* sent with it (a stored value's descriptor too) */
    free(r.ptr);     /* user memory from malloc */
    if (actor)
        sdk_ah_after();
}

static void
run_map(const uint8_t *rec, uint32_t len)
{
    const sdk_msg_map *m = (const sdk_msg_map *)rec;
    const ray_fn_desc *d = sdk_registry_find(m->fn_hash);
    if (!d || !d->map_tramp || m->ncols != d->nargs) {
        send_error(m->task_id, d ? RAY_EINVAL : RAY_ENOTFOUND,
                   "function cannot be mapped in the worker");
        return;
    }
    const void *cols[RAY_MAX_ARGS];
    size_t off = sizeof(*m);
    for (uint32_t c = 0; c < m->ncols; c++) {
        cols[c] = rec + off;
        off += SDK_ALIGN8(m->n * d->arg_size[c]);
    }
    (void)len;
    size_t out_len = m->n * d->ret_size;
    /* The times ride in the record reserved now (end filled in below). */
    sdk_wk_trace_arm(m->task_id, m->fn_hash, sdk_wk_trace_start(), 0,
                     SDK_TRACE_MAP, m->n);
    sdk_msg_done *dm = reserve_done(out_len);
    if (!dm) {
        send_error(m->task_id, RAY_ETOOBIG, "map chunk result too large");
        return;
    }
    uint64_t outer =
        atomic_load_explicit(&W.ctl->current, memory_order_relaxed);
    atomic_store_explicit(&W.ctl->current, m->task_id, memory_order_relaxed);
    W.in_map = true;
    d->map_tramp(cols, m->n, dm + 1);
    if (W.tr_on)
        W.tr.end_ns = rt_clock_now_ns();
    W.in_map = false;
    atomic_store_explicit(&W.ctl->current, outer, memory_order_relaxed);
    const char *emsg;
    ray_err e = sdk_task_error_take(&emsg);
    if (e != RAY_OK) {
        /* The reserved record is overwritten by the error record. */
        W.comp.last = 0;
        send_error(m->task_id, e, emsg);
        return;
    }
    dm->task_id = m->task_id;
    dm->err = RAY_OK;
    dm->type = d->ret_type;
    dm->scalar = m->n;
    dm->len = out_len;
    commit_done(dm, out_len);
}

void
sdk_wk_run_record(const uint8_t *rec, uint32_t len)
{
    run_task(rec, len);
}

void
sdk_wk_send_result(uint64_t task_id, ray_err err, const char *msg,
                   const ray_ret *r)
{
    if (err != RAY_OK)
        send_error(task_id, err, msg ? msg : "");
    else
        send_value(task_id, r);
}

void
sdk_wk_poke(void)
{
    rt_ring_hdr *h = W.sub.hdr;
    atomic_fetch_add_explicit(&h->cons_seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&h->cons_sleeping, memory_order_seq_cst))
        rt_futex_wake(&h->cons_seq, 1);
}

/* A private copy of the task record running at each nesting depth. */
typedef struct wk_recbuf {
    uint8_t *p;
    size_t cap;
} wk_recbuf;

static wk_recbuf *rec_bufs; /* indexed by depth - 1 */
static int rec_nbufs;
static int rec_pinned; /* records running in place, in the ring */

/* Copy `rec` into the buffer of depth `depth`; NULL when out of memory. */
static uint8_t *
rec_copy(int depth, const uint8_t *rec, uint32_t len)
{
    if (depth > rec_nbufs) {
        int n = depth + 8;
        wk_recbuf *b = rt_realloc(rec_bufs, (size_t)n * sizeof(*b));
        if (!b)
            return NULL;
        memset(b + rec_nbufs, 0, (size_t)(n - rec_nbufs) * sizeof(*b));
        rec_bufs = b;
        rec_nbufs = n;
    }
    wk_recbuf *b = &rec_bufs[depth - 1];
    if (b->cap < len) {
        size_t cap = len < 512 ? 512 : len;
        uint8_t *p = rt_malloc(cap);
        if (!p)
            return NULL;
        rt_free(b->p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p, rec, len);
    return b->p;
}

/* Claim a task or map record (see SDK_CLAIM_*): false when the driver
 * took it back first. Other records need no claim. */
static bool
claim(const uint8_t *rec, uint32_t type, uint32_t len)
{
    _Atomic uint32_t *c = NULL;
    if (type == SDK_MSG_TASK && len >= sizeof(sdk_msg_task))
        c = &((sdk_msg_task *)(uintptr_t)rec)->claim;
    else if (type == SDK_MSG_MAP && len >= sizeof(sdk_msg_map))
        c = &((sdk_msg_map *)(uintptr_t)rec)->claim;
    if (!c)
        return true;
    uint32_t open = SDK_CLAIM_OPEN;
    return atomic_compare_exchange_strong_explicit(
        c, &open, SDK_CLAIM_TAKEN, memory_order_acq_rel, memory_order_acquire);
}

/* The next record this worker claims, skipping those taken back. */
static const uint8_t *
next_record(uint32_t *type, uint32_t *len)
{
    const uint8_t *rec;
    while ((rec = rt_ring_peek(&W.sub, type, len))) {
        if (claim(rec, *type, *len))
            return rec;
        rt_ring_consume(&W.sub);
        if (rec_pinned == 0)
            rt_ring_release(&W.sub);
    }
    return NULL;
}

/* After a record ran: wake the driver for the requests it made. */
static void
after_run(void)
{
    if (W.depth == 0 && W.requested) {
        W.requested = false;
        sdk_wk_flush(true);
    }
}

/* Run the next queued record, if any. A task record is copied out of the
 * ring (into the buffer of its depth) and its space given back before it
 * runs: a task blocked on a reply may run the tasks queued behind it,
 * which may be many times the ring's size (its own children, other
 * parents and theirs), so no running task may hold ring space. A map
 * record (it never waits, so nothing runs nested in it) or a record that
 * could not be copied runs in place and holds the ring's space until it
 * returns. */
bool
sdk_wk_run_one(void)
{
    uint32_t type, len;
    const uint8_t *rec = next_record(&type, &len);
    if (!rec)
        return false;
    publish_due();
    W.depth++;
    const uint8_t *copy =
        type == SDK_MSG_TASK ? rec_copy(W.depth, rec, len) : NULL;
    rt_ring_consume(&W.sub);
    if (copy) {
        rec = copy;
        if (rec_pinned == 0)
            rt_ring_release(&W.sub);
    } else {
        rec_pinned++;
    }
    if (type == SDK_MSG_TASK)
        run_task(rec, len);
    else if (type == SDK_MSG_MAP)
        run_map(rec, len);
    if (!copy && --rec_pinned == 0)
        rt_ring_release(&W.sub);
    W.depth--;
    after_run();
    return true;
}

/* Consume the records at the head of the ring that are not to run here:
 * run already out of order (sdk_wk_help) or taken back by the driver. */
static void
skip_claimed(void)
{
    uint32_t type, len;
    const uint8_t *rec;
    bool any = false;
    while ((rec = rt_ring_peek(&W.sub, &type, &len))) {
        _Atomic uint32_t *c = NULL;
        if (type == SDK_MSG_TASK && len >= sizeof(sdk_msg_task))
            c = &((sdk_msg_task *)(uintptr_t)rec)->claim;
        else if (type == SDK_MSG_MAP && len >= sizeof(sdk_msg_map))
            c = &((sdk_msg_map *)(uintptr_t)rec)->claim;
        if (!c ||
            atomic_load_explicit(c, memory_order_acquire) == SDK_CLAIM_OPEN)
            break;
        rt_ring_consume(&W.sub);
        any = true;
    }
    if (any && rec_pinned == 0)
        rt_ring_release(&W.sub);
}

/* Claim and run the task record `rec` (found by sdk_wk_help) out of
 * order: it stays in the ring, claimed, and the loop skips it when it
 * gets there. A copy runs; without one it runs in place, and no space
 * is given back meanwhile. */
static bool
help_run(const uint8_t *rec, uint32_t type, uint32_t len, uint64_t obj)
{
    if (!claim(rec, type, len))
        return false; /* taken back by the driver, or run already */
    publish_due();
    W.depth++;
    const uint8_t *copy = rec_copy(W.depth, rec, len);
    if (!copy)
        rec_pinned++;
    uint64_t outer_task = W.help_task, outer_obj = W.help_obj;
    W.help_task = ((const sdk_msg_task *)rec)->task_id;
    W.help_obj = obj;
    run_task(copy ? copy : rec, len);
    W.help_task = outer_task;
    W.help_obj = outer_obj;
    if (!copy && --rec_pinned == 0)
        rt_ring_release(&W.sub);
    W.depth--;
    after_run();
    return true;
}

/* Search [from, to) (to 0: the published end) of the submission ring for
 * the task record making `obj`, at most `max` records. Returns the record
 * or NULL; *from ends where the search did (past the record found). */
static const uint8_t *
find_task(uint64_t obj, uint64_t *from, uint64_t to, int max, uint32_t *type,
          uint32_t *len)
{
    const uint8_t *rec;
    for (int n = 0; n < max && (!to || *from < to); n++) {
        if (!(rec = rt_ring_scan(&W.sub, from, type, len)))
            return NULL;
        if (*type == SDK_MSG_TASK && *len >= sizeof(sdk_msg_task) &&
            ((const sdk_msg_task *)rec)->obj == obj)
            return rec;
    }
    return NULL;
}

bool
sdk_wk_help(uint64_t obj, sdk_wk_helper *h)
{
    if (W.host || !obj)
        return false;
    skip_claimed(); /* the search starts at the first open record */
    /* Calls are mostly waited for in the order they were made: look
     * after the record run last first, then (once per wait) before it. */
    static uint64_t hint;
    if (hint < W.sub.pos)
        hint = W.sub.pos;
    if (!h->started) {
        h->started = true;
        h->fwd = hint;
        h->back = W.sub.pos;
        h->back_end = hint;
    }
    uint32_t type, len;
    uint64_t *cur = &h->fwd;
    const uint8_t *rec = find_task(obj, cur, 0, 4096, &type, &len);
    if (!rec && h->back < h->back_end) {
        cur = &h->back;
        rec = find_task(obj, cur, h->back_end, 4096, &type, &len);
    }
    if (!rec)
        return false;
    uint64_t after = *cur; /* the record boundary past it */
    if (!help_run(rec, type, len, obj))
        return false;
    hint = after;
    return true;
}

/* The actor pool has results (it pokes the submission ring's futex
 * after counting one). */
static bool
pool_ready(void *arg)
{
    (void)arg;
    return sdk_ah_pending();
}

static _Noreturn void
worker_loop(void)
{
    for (;;) {
        sdk_ah_poll(); /* results of threaded actor calls */
        if (!sdk_wk_run_one()) {
            flush_completions();
            check_parent();
            int64_t budget = rt_spin_budget_next(&W.spin);
            int64_t t0 = rt_clock_now_ns();
            ray_err e = rt_ring_wait_data_or(&W.sub, budget / 1000, 200000,
                                             pool_ready, NULL);
            rt_spin_budget_update(
                &W.spin, e == RAY_OK && rt_clock_now_ns() - t0 <= budget);
            continue;
        }
        if (!rt_ring_readable(&W.sub))
            flush_completions(); /* running dry: the driver may refill */
        else if (W.unpublished >= 64)
            publish_results();
    }
}

/* ---- request plumbing for worker_client.c ---- */

void *
sdk_wk_reserve(size_t len)
{
    /* The request rings have one producer: the worker's own thread. */
    RT_CHECK(!sdk_ah_on_pool_thread());
    W.requested = true;
    return reserve_raw(len);
}

void
sdk_wk_commit(uint32_t type, size_t len)
{
    rt_ring_commit(&W.comp, type, len);
    count_unpublished(0);
}

size_t
sdk_wk_max_record(void)
{
    return rt_ring_max_record(&W.comp);
}

void
sdk_wk_flush(bool force_wake)
{
    if (W.unpublished) {
        rt_ring_publish_quiet(&W.comp);
        W.unpublished = 0;
    }
    if (force_wake) {
        sdk_bell_wake(&W.hdr->bell);
    } else {
        sdk_bell_ring(&W.hdr->bell);
    }
}

uint64_t
sdk_wk_ref_tag(void)
{
    return W.hdr ? W.hdr->ref_tag : 0;
}

bool
sdk_wk_may_nest(void)
{
    return W.host ||
           atomic_load_explicit(&W.ctl->nested_ok, memory_order_acquire);
}

void
sdk_wk_set_blocked(uint32_t how)
{
    if (W.host || W.blocked == how)
        return;
    uint32_t was = W.blocked;
    W.blocked = how;
    atomic_store_explicit(&W.ctl->blocked, how, memory_order_release);
    if (how && !was)
        atomic_fetch_add_explicit(&W.hdr->bell.nblocked, 1,
                                  memory_order_seq_cst);
    else if (!how && was)
        atomic_fetch_sub_explicit(&W.hdr->bell.nblocked, 1,
                                  memory_order_seq_cst);
    atomic_fetch_add_explicit(&W.hdr->bell.blocked_gen, 1,
                              memory_order_seq_cst);
    if (how)
        sdk_wk_flush(true); /* the driver places our queued tasks */
}

const void *
sdk_wk_reply_peek(uint32_t *type, uint32_t *len)
{
    return rt_ring_peek(&W.reply, type, len);
}

void
sdk_wk_reply_consume(void)
{
    rt_ring_consume(&W.reply);
    rt_ring_release(&W.reply);
}

bool
sdk_wk_in_map(void)
{
    return W.in_map;
}

void
sdk_wk_idle_wait(int64_t us)
{
    check_parent();
    if (us <= 0)
        return;
    /* Sleep on the submission ring's futex: the driver pokes it after a
     * reply as well, so a queued task or a reply ends the wait. */
    rt_ring_hdr *h = W.sub.hdr;
    uint32_t seq = atomic_load_explicit(&h->cons_seq, memory_order_seq_cst);
    atomic_store_explicit(&h->cons_sleeping, 1, memory_order_seq_cst);
    if (!(sdk_wk_may_nest() && rt_ring_readable(&W.sub)) &&
        !rt_ring_readable(&W.reply))
        rt_futex_wait(&h->cons_seq, seq, us);
    atomic_store_explicit(&h->cons_sleeping, 0, memory_order_relaxed);
}

const char *
sdk_wk_node_id(void)
{
    return W.hdr ? W.hdr->node_id : "";
}

int
sdk_wk_spin_us(void)
{
    return W.spin_us;
}

bool
sdk_wk_reply_backlog(void)
{
    return atomic_load_explicit(&W.ctl->reply_backlog, memory_order_acquire);
}

/* The node store's reaper is this program re-executed too; it needs no
 * registered function, so libray's own constructor catches it. */
__attribute__((constructor(65535))) static void
reaper_entry(void)
{
    /* argv[0] and an inherited memfd, never the environment alone. */
    if (store_node_is_reaper())
        store_node_reaper_main(); /* never returns */
}

/* Called by a constructor of the program (ray.h), after its functions
 * are registered. */
void
ray__worker_main(void)
{
    const char *agent = getenv("RAYC_AGENT_FD");
    if (agent) {
        int afd = atoi(agent);
        unsetenv("RAYC_AGENT_FD"); /* its workers are workers */
        sdk_agent_main(afd);
    }
    const char *standby = getenv("RAYC_AGENT_STANDBY");
    if (standby) {
        int sfd = atoi(standby);
        unsetenv("RAYC_AGENT_STANDBY");
        sdk_agent_standby(sfd);
    }
    const char *spec = getenv(SDK_ENV);
    if (!spec)
        return;
    int fd = -1, slot = -1, ppid = -1;
    if (sscanf(spec, "%d:%d:%d", &fd, &slot, &ppid) != 3)
        _exit(121);
    unsetenv(SDK_ENV);
    sdk_in_worker = true;
    sdk_be = &sdk_backend_worker;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != ppid)
        _exit(0);
    struct stat st;
    if (fstat(fd, &st) != 0)
        _exit(122);
    void *shm = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd, 0);
    if (shm == MAP_FAILED)
        _exit(123);
    close(fd);
    W.hdr = shm;
    if (W.hdr->magic != SDK_MAGIC || slot < 0 ||
        (uint32_t)slot >= W.hdr->nslots)
        _exit(124);
    void *s = sdk_slot_at(shm, (size_t)slot);
    W.ctl = sdk_slot_ctl(s);
    rt_ring_attach(&W.sub, sdk_slot_ring(s, W.hdr->ring_bytes, 0));
    rt_ring_attach(&W.comp, sdk_slot_ring(s, W.hdr->ring_bytes, 1));
    rt_ring_attach(&W.reply, sdk_slot_ring(s, W.hdr->ring_bytes, 2));
    W.ppid = ppid;
    W.host = (uint32_t)slot >= W.hdr->ntask;
    W.spin_us = W.hdr->spin_us;
    rt_spin_budget_init(&W.spin, W.spin_us);
    setvbuf(stdout, NULL, _IOLBF, 0);
    rt_log_set_component("worker");
    W.ctl->pid = getpid();
    atomic_store(&W.ctl->state, SDK_W_READY);
    worker_loop();
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * local_queue.c: FIFO ready queue and the local dispatch policy (least
 * loaded eligible worker, custom resources, multi-CPU holds, backlog when
 * a worker has no room, tasks taken back from blocked workers and stolen
 * for idle ones). One pass over the queue per dispatch round; one
 * indirect call per task pushed and one per worker flushed; taking back
 * costs one call per worker that has something to give.
 */
#include "scheduler/local_queue.h"

void
sched_queue_init(sched_queue *q, const sched_ops *ops, void *ctx,
                 sched_resources *res, void *slot_base, size_t slot_stride,
                 int nworkers, uint32_t max_inflight)
{
    *q = (sched_queue){
        .res = res,
        .slot_base = slot_base,
        .slot_stride = slot_stride,
        .nworkers = nworkers,
        .ncore = nworkers,
        .max_inflight = max_inflight,
        .ops = ops,
        .ctx = ctx,
    };
}

void
sched_queue_set_cores(sched_queue *q, int ncore)
{
    if (ncore >= 1 && ncore <= q->nworkers)
        q->ncore = ncore;
}

void
sched_queue_push(sched_queue *q, sched_task *t)
{
    t->next = NULL;
    t->prev = q->tail;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    q->n++;
    q->frac_queued += t->milli != 0;
}

void
sched_queue_push_front(sched_queue *q, sched_task *head, sched_task *tail,
                       uint64_t n)
{
    if (!head)
        return;
    head->prev = NULL;
    tail->next = q->head;
    if (q->head)
        q->head->prev = tail;
    else
        q->tail = tail;
    q->head = head;
    q->n += n;
    for (sched_task *t = head; t != tail->next; t = t->next)
        q->frac_queued += t->milli != 0;
}

void
sched_queue_remove(sched_queue *q, sched_task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        q->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        q->tail = t->prev;
    t->next = t->prev = NULL;
    q->n--;
    q->frac_queued -= t->milli != 0;
}

/* Put `t` back before `next` (NULL: at the tail). */
static void
insert_before(sched_queue *q, sched_task *t, sched_task *next)
{
    t->next = next;
    t->prev = next ? next->prev : q->tail;
    if (t->prev)
        t->prev->next = t;
    else
        q->head = t;
    if (next)
        next->prev = t;
    else
        q->tail = t;
    q->n++;
    q->frac_queued += t->milli != 0;
}

/* The workers task `t` runs on: its bundle's key, 0 the node's own. */
static inline uint64_t
bundle_key(const sched_task *t)
{
    return t->bundle ? t->bundle->key : 0;
}

/* The set `t` takes its demand from. */
static inline sched_resources *
task_res(const sched_queue *q, const sched_task *t)
{
    return t->bundle ? &t->bundle->pool : q->res;
}

/* CPUs of bundle `bundle` (0: the node's own) free of holds: live core
 * slots no multi-CPU task or actor holds. */
static uint32_t
free_cpus_in(const sched_queue *q, uint64_t bundle)
{
    uint32_t n = 0;
    for (int w = 0; w < q->ncore; w++) {
        const sched_slot *s = sched_queue_slot(q, w);
        n += s->alive && !s->reserved_by && s->bundle == bundle;
    }
    return n;
}

static uint32_t
free_cpus(const sched_queue *q)
{
    return free_cpus_in(q, 0);
}

/* What a round found while marking eligible slots. */
typedef struct round_facts {
    uint32_t cpus;  /* CPUs free of holds */
    uint32_t taken; /* eligible slots */
    bool give_back; /* a live slot that is not eligible has tasks */
    bool idle;      /* an eligible slot has nothing in flight */
} round_facts;

/* Mark the slots that may take tasks this round: the first free_cpus()
 * live slots that are neither held nor blocked, CPUs before stand-ins.
 * A slot blocked only a moment (not SCHED_BLOCKED_LONG) keeps its CPU
 * counted, so no stand-in takes its place yet. */
static round_facts
mark_eligible(sched_queue *q)
{
    round_facts f = {free_cpus(q), 0, false, false};
    for (int w = 0; w < q->nworkers; w++) {
        sched_slot *s = sched_queue_slot(q, w);
        if (s->bundle) { /* eligible for its bundle's tasks only */
            s->eligible = s->alive && !s->reserved_by && !s->blocked;
            f.idle |= s->eligible && s->inflight == 0;
            f.give_back |=
                s->alive && !s->eligible && s->inflight > 0 && !s->frac &&
                SCHED_BLOCKED_KIND(s->blocked) != SCHED_BLOCKED_KEEPS_OWN;
            continue;
        }
        /* Blocked only a moment: not eligible, but its CPU stays. */
        bool brief = s->alive && !s->reserved_by && s->blocked &&
                     !(s->blocked & SCHED_BLOCKED_LONG);
        s->eligible =
            s->alive && !s->reserved_by && !s->blocked && f.taken < f.cpus;
        f.taken += s->eligible || (brief && f.taken < f.cpus);
        f.idle |= s->eligible && s->inflight == 0;
        f.give_back |=
            s->alive && !s->eligible && s->inflight > 0 && !s->frac &&
            s->reserved_by != UINT64_MAX &&
            SCHED_BLOCKED_KIND(s->blocked) != SCHED_BLOCKED_KEEPS_OWN;
    }
    return f;
}

/* The worker the task prefers when it is eligible and has room, else the
 * eligible worker with the fewest tasks in flight, or -1. A worker
 * near max_inflight is refilled only once it has room for a batch (up to
 * 64 tasks): while a long queue drains, each round then moves a batch,
 * not one task per completion. */
static int
pick_worker(const sched_queue *q, const sched_task *t)
{
    if (t->prefer > 0 && t->prefer <= q->nworkers) {
        /* A worker blocked in a wait that runs its own calls takes
         * them too: it runs them when it gets to them (idle workers
         * steal them meanwhile). */
        const sched_slot *s = sched_queue_slot(q, t->prefer - 1);
        if (s->bundle == bundle_key(t) &&
            (s->eligible || (s->alive && SCHED_BLOCKED_KIND(s->blocked) ==
                                             SCHED_BLOCKED_KEEPS_OWN)) &&
            s->inflight < q->max_inflight)
            return t->prefer - 1;
    }
    int best = -1;
    uint32_t best_n = q->max_inflight;
    for (int w = 0; w < q->nworkers; w++) {
        const sched_slot *s = sched_queue_slot(q, w);
        if (s->eligible && s->bundle == bundle_key(t) && s->inflight < best_n) {
            best = w;
            best_n = s->inflight;
        }
    }
    uint32_t batch = q->max_inflight / 2 < 64 ? q->max_inflight / 2 : 64;
    return best >= 0 && best_n > q->max_inflight - batch ? -1 : best;
}

/* An idle CPU of bundle `bundle` (0: the node's own): may be held for a
 * multi-CPU task or an actor. */
static bool
idle_cpu(const sched_slot *s, uint64_t bundle)
{
    return s->alive && !s->reserved_by && !s->blocked && s->inflight == 0 &&
           s->bundle == bundle;
}

/* Hold cpus_extra idle workers beside the one `t` runs on; false (and
 * nothing held) when not enough are idle. */
static bool
hold_cpus(sched_queue *q, sched_task *t)
{
    uint32_t idle = 0;
    for (int w = 0; w < q->ncore; w++)
        idle += idle_cpu(sched_queue_slot(q, w), bundle_key(t));
    if (idle < (uint32_t)t->cpus_extra + 1)
        return false;
    uint32_t need = t->cpus_extra;
    for (int w = q->ncore - 1; w >= 0 && need; w--) {
        sched_slot *s = sched_queue_slot(q, w);
        if (idle_cpu(s, bundle_key(t))) {
            s->reserved_by = t->id;
            need--;
        }
    }
    t->cpus_held = 1;
    return true;
}

void
sched_queue_release(sched_queue *q, sched_task *t)
{
    if (t->acquired) {
        sched_resources *r = task_res(q, t);
        if (r)
            sched_res_release(r, t->demand);
        t->acquired = 0;
    }
    if (t->cpus_held) {
        for (int w = 0; w < q->ncore; w++) {
            sched_slot *s = sched_queue_slot(q, w);
            if (s->reserved_by == t->id)
                s->reserved_by = 0;
        }
        t->cpus_held = 0;
    }
    if (t->frac_held) {
        q->frac_used -= t->milli;
        t->frac_held = 0;
    }
}

/* The live CPU of bundle `bundle` free of holds with the fewest tasks in
 * flight (the last of equals), or NULL. */
static sched_slot *
least_loaded(sched_queue *q, uint64_t bundle)
{
    sched_slot *best = NULL;
    for (int w = q->ncore - 1; w >= 0; w--) {
        sched_slot *s = sched_queue_slot(q, w);
        if (s->alive && !s->reserved_by && s->bundle == bundle &&
            (!best || s->inflight < best->inflight))
            best = s;
    }
    return best;
}

bool
sched_queue_hold_in(sched_queue *q, uint64_t key, uint32_t n, uint64_t bundle)
{
    if (free_cpus_in(q, bundle) < n)
        return false;
    while (n--)
        least_loaded(q, bundle)->reserved_by = key;
    return true;
}

bool
sched_queue_hold(sched_queue *q, uint64_t key, uint32_t n)
{
    return sched_queue_hold_in(q, key, n, 0);
}

static uint32_t revoke(sched_queue *q, int w, bool keep_own, bool newest,
                       sched_task **out, uint32_t max);

bool
sched_queue_reserve(sched_queue *q, uint64_t key, uint32_t n)
{
    if (!key || free_cpus(q) < n)
        return false;
    while (n--) {
        sched_slot *s = least_loaded(q, 0);
        s->bundle = key;
        /* What it has queued and not started is the node's: back to the
         * front of the queue, in order (the one it runs ends there). */
        int w = (int)(((uint8_t *)s - q->slot_base) / q->slot_stride);
        sched_task *buf[64];
        uint32_t got;
        sched_task *mark = q->head;
        do {
            got = q->ops->revoke ? revoke(q, w, false, false, buf, 64) : 0;
            for (uint32_t i = 0; i < got; i++)
                insert_before(q, buf[i], mark);
        } while (got == 64);
    }
    return true;
}

void
sched_queue_unreserve(sched_queue *q, uint64_t key)
{
    for (int w = 0; key && w < q->ncore; w++) {
        sched_slot *s = sched_queue_slot(q, w);
        if (s->bundle == key)
            s->bundle = 0;
    }
}

void
sched_queue_unhold(sched_queue *q, uint64_t key)
{
    for (int w = 0; w < q->ncore; w++) {
        sched_slot *s = sched_queue_slot(q, w);
        if (s->reserved_by == key)
            s->reserved_by = 0;
    }
}

/* ---- fractional CPUs ---- */

/* A slot that may take a fractional task now: one of the lent CPUs, or a
 * stand-in no blocked worker needs, idle and free of holds. */
static bool
frac_free(const sched_queue *q, int w)
{
    const sched_slot *s = sched_queue_slot(q, w);
    bool lent = w < q->ncore && s->bundle == SCHED_FRAC_KEY;
    bool spare = w >= q->ncore && !s->eligible && !s->bundle;
    return (lent || spare) && s->alive && !s->blocked && !s->reserved_by &&
           s->inflight == 0;
}

/* Lend one more idle CPU of the node's own to fractional tasks. */
static bool
frac_lend(sched_queue *q)
{
    for (int w = q->ncore - 1; w >= 0; w--) {
        sched_slot *s = sched_queue_slot(q, w);
        if (idle_cpu(s, 0)) {
            s->bundle = SCHED_FRAC_KEY;
            s->eligible = 0;
            q->frac_cpus++;
            return true;
        }
    }
    return false;
}

/* The worker fractional task `t` runs on now, or -1 (it waits: the lent
 * CPUs are full and no idle one can be lent, or no free worker). */
static int
frac_worker(sched_queue *q, const sched_task *t)
{
    if (q->frac_used + t->milli > q->frac_cpus * 1000u && !frac_lend(q))
        return -1;
    for (int w = 0; w < q->nworkers; w++)
        if (frac_free(q, w))
            return w;
    return -1;
}

/* Stand-ins to start for the fractional tasks that wait while the lent
 * CPUs have room for them (they wait for a worker), at most 8 a round. */
static uint32_t
frac_wanted(const sched_queue *q)
{
    if (!q->frac_queued || q->frac_used >= q->frac_cpus * 1000u)
        return 0;
    uint32_t free = 0;
    for (int w = 0; w < q->nworkers; w++)
        free += frac_free(q, w);
    uint64_t want = q->frac_queued < 8 ? q->frac_queued : 8;
    return want > free ? (uint32_t)(want - free) : 0;
}

/* Lent CPUs go back once no fractional task waits and every one that
 * runs is blocked a while (its CPU is given back, as a whole task's). */
static void
frac_return(sched_queue *q)
{
    if (!q->frac_cpus || q->frac_queued)
        return;
    for (int w = 0; w < q->nworkers; w++) {
        const sched_slot *s = sched_queue_slot(q, w);
        if (s->frac && !(s->blocked & SCHED_BLOCKED_LONG))
            return;
    }
    for (int w = 0; w < q->ncore; w++) {
        sched_slot *s = sched_queue_slot(q, w);
        if (s->bundle == SCHED_FRAC_KEY)
            s->bundle = 0;
    }
    q->frac_cpus = 0;
}

static ray_err
push(sched_queue *q, int w, sched_task *t)
{
    ray_err e = q->ops->try_push(q->ctx, w, t);
    if (e == RAY_OK) {
        sched_slot *s = sched_queue_slot(q, w);
        s->inflight++;
        s->dirty = 1;
    }
    return e;
}

/* One pass over the ready queue: push what can go now. */
static void
push_ready(sched_queue *q)
{
    /* What this pass found full: later tasks that need as much skip the
     * search (a long queue of them costs a scan per kind, not per task). */
    uint16_t frac_full = UINT16_MAX; /* no room for a fraction this big */
    uint64_t busy[8];                /* bundles with no worker free */
    int nbusy = 0;
    sched_task *t = q->head;
    while (t) {
        sched_task *next = t->next;
        bool skip = t->milli >= frac_full;
        for (int k = 0; k < nbusy && !skip && t->bundle; k++)
            skip = busy[k] == bundle_key(t);
        if (skip) {
            t = next;
            continue;
        }
        if (t->demand && !t->acquired) {
            sched_resources *r = task_res(q, t);
            if (!r || !sched_res_try_acquire(r, t->demand)) {
                t = next;
                continue;
            }
            t->acquired = 1;
        }
        if (t->cpus_extra && !t->cpus_held && !hold_cpus(q, t)) {
            sched_queue_release(q, t);
            t = next;
            continue;
        }
        int w = t->milli ? frac_worker(q, t) : pick_worker(q, t);
        if (w < 0 && t->milli) { /* no room in the lent CPUs yet */
            sched_queue_release(q, t);
            frac_full = t->milli;
            t = next;
            continue;
        }
        if (w < 0) {
            sched_queue_release(q, t);
            if (bundle_key(t)) { /* its bundle is busy, not the node */
                if (nbusy < 8)
                    busy[nbusy++] = bundle_key(t);
                t = next;
                continue;
            }
            break;
        }
        sched_queue_remove(q, t);
        ray_err e = push(q, w, t);
        if (e == RAY_OK && t->milli) {
            q->frac_used += t->milli;
            t->frac_held = 1;
            sched_queue_slot(q, w)->frac = t->milli;
        }
        if (e == RAY_EAGAIN && t->milli) {
            sched_queue_release(q, t);
            insert_before(q, t, next);
            t = next;
            continue;
        }
        if (e == RAY_EAGAIN) {
            /* This worker has no room: try the others, else backlog. */
            for (int k = 0; k < q->nworkers && e == RAY_EAGAIN; k++) {
                const sched_slot *s = sched_queue_slot(q, k);
                if (k != w && s->eligible && s->bundle == bundle_key(t) &&
                    s->inflight < q->max_inflight)
                    e = push(q, k, t);
            }
            if (e == RAY_EAGAIN) {
                sched_queue_release(q, t);
                insert_before(q, t, next);
                break;
            }
        }
        if (e != RAY_OK) {
            sched_queue_release(q, t);
            q->ops->failed(q->ctx, t, e);
        }
        t = next;
    }
}

#define REVOKE_BATCH 64

/* Take back up to `max` unstarted tasks of worker w into out[]: they
 * leave its count and give back what they held. */
static uint32_t
revoke(sched_queue *q, int w, bool keep_own, bool newest, sched_task **out,
       uint32_t max)
{
    uint32_t n = q->ops->revoke(q->ctx, w, keep_own, newest, out, max);
    sched_slot *s = sched_queue_slot(q, w);
    for (uint32_t i = 0; i < n; i++) {
        s->inflight--;
        if (out[i]->milli)
            s->frac = 0;
        sched_queue_release(q, out[i]);
    }
    q->steals += n;
    return n;
}

/* Blocked or no longer eligible workers give back what they have not
 * started; it goes to the front of the queue, in order. True if any. */
static bool
take_back(sched_queue *q)
{
    sched_task *buf[REVOKE_BATCH];
    sched_task *mark = q->head; /* taken-back tasks go before it */
    bool any = false;
    for (int w = 0; w < q->nworkers; w++) {
        const sched_slot *s = sched_queue_slot(q, w);
        if (!s->alive || s->eligible || s->inflight == 0 || s->frac ||
            s->reserved_by == UINT64_MAX)
            continue;
        uint32_t n;
        /* One that runs its own calls keeps them (thieves take them
         * when idle); the others' it would never run go now. */
        bool keep_own =
            SCHED_BLOCKED_KIND(s->blocked) == SCHED_BLOCKED_KEEPS_OWN;
        do {
            n = revoke(q, w, keep_own, false, buf, REVOKE_BATCH);
            for (uint32_t i = 0; i < n; i++)
                insert_before(q, buf[i], mark);
            any |= n > 0;
        } while (n == REVOKE_BATCH);
    }
    return any;
}

/* An eligible worker with nothing in flight takes the newest half of
 * what the busiest worker of its bundle (or of the node's own, outside
 * bundles) has queued and not started (the victim keeps what it runs
 * next), and gets them oldest first. The victim is an eligible worker,
 * or a blocked one that keeps the calls it made for when it gets to
 * them (meanwhile nobody runs them). The first idle worker with a
 * victim is the thief. */
static bool
steal_pair(const sched_queue *q, int *thief, int *victim, uint32_t *most)
{
    uint64_t tried = UINT64_MAX; /* the bundle of the last thief tried */
    for (int t = 0; t < q->nworkers; t++) {
        const sched_slot *ts = sched_queue_slot(q, t);
        if (!ts->eligible || ts->inflight || ts->bundle == tried)
            continue;
        tried = ts->bundle; /* a thief steals within its bundle only */
        *most = 1;
        *victim = -1;
        for (int w = 0; w < q->nworkers; w++) {
            const sched_slot *s = sched_queue_slot(q, w);
            if (s->bundle == ts->bundle && s->inflight > *most &&
                (s->eligible ||
                 SCHED_BLOCKED_KIND(s->blocked) == SCHED_BLOCKED_KEEPS_OWN)) {
                *victim = w;
                *most = s->inflight;
            }
        }
        if (*victim >= 0) {
            *thief = t;
            return true;
        }
    }
    return false;
}

static void
steal_for_idle(sched_queue *q)
{
    sched_task *buf[REVOKE_BATCH];
    for (int tries = 0; tries < q->nworkers && !q->head; tries++) {
        int thief, victim;
        uint32_t most;
        if (!steal_pair(q, &thief, &victim, &most))
            return;
        uint32_t want = most / 2 < REVOKE_BATCH ? most / 2 : REVOKE_BATCH;
        uint32_t n = revoke(q, victim, false, true, buf, want);
        if (n == 0)
            return; /* what it holds has started (or waits nested) */
        /* buf is newest first: push from its end, oldest first. */
        for (uint32_t i = n; i-- > 0;) {
            ray_err e = push(q, thief, buf[i]);
            if (e == RAY_OK)
                continue;
            /* No room after all: the rest queue in front, in order. */
            sched_task *mark = q->head;
            for (uint32_t k = i + 1; k-- > 0;)
                insert_before(q, buf[k], mark);
            if (e != RAY_EAGAIN) {
                sched_queue_remove(q, buf[i]);
                q->ops->failed(q->ctx, buf[i], e);
            }
            return;
        }
    }
}

/* Stand-ins that could run tasks now: CPUs not covered by an eligible
 * slot while work waits (queued, or behind a running task). */
static uint32_t
wanted(const sched_queue *q, uint32_t cpus, uint32_t taken)
{
    if (taken >= cpus)
        return 0;
    bool waiting = q->head != NULL;
    for (int w = 0; w < q->nworkers && !waiting; w++) {
        const sched_slot *s = sched_queue_slot(q, w);
        waiting = s->eligible && s->inflight > 1;
    }
    return waiting ? cpus - taken : 0;
}

void
sched_queue_dispatch(sched_queue *q)
{
    frac_return(q);
    round_facts f = mark_eligible(q);
    push_ready(q);
    if (q->ops->revoke) {
        if (f.give_back && take_back(q))
            push_ready(q);
        if (f.idle)
            steal_for_idle(q);
    }
    q->want = wanted(q, f.cpus, f.taken) + frac_wanted(q);
    for (int w = 0; w < q->nworkers; w++) {
        sched_slot *s = sched_queue_slot(q, w);
        if (s->dirty) {
            s->dirty = 0;
            q->ops->flush(q->ctx, w);
        }
    }
}

void
sched_queue_done(sched_queue *q, int w, sched_task *t)
{
    sched_slot *s = sched_queue_slot(q, w);
    s->inflight--;
    if (t->milli)
        s->frac = 0;
    sched_queue_release(q, t);
}

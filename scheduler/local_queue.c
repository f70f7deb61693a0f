/* SPDX-License-Identifier: Apache-2.0
 *
 * local_queue.c: FIFO ready queue and the local dispatch policy (least
 * loaded live worker, custom resources, multi-CPU holds, backlog when a
 * worker has no room). One pass over the queue per dispatch round; one
 * indirect call per task pushed and one per worker flushed.
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
        .max_inflight = max_inflight,
        .ops = ops,
        .ctx = ctx,
    };
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
}

static int
pick_worker(const sched_queue *q)
{
    int best = -1;
    uint32_t best_n = q->max_inflight;
    for (int w = 0; w < q->nworkers; w++) {
        const sched_slot *s = sched_queue_slot(q, w);
        if (s->alive && !s->reserved_by && s->inflight < best_n) {
            best = w;
            best_n = s->inflight;
        }
    }
    return best;
}

/* Hold cpus_extra idle workers beside the one `t` runs on; false (and
 * nothing held) when not enough are idle. */
static bool
hold_cpus(sched_queue *q, sched_task *t)
{
    uint32_t idle = 0;
    for (int w = 0; w < q->nworkers; w++) {
        const sched_slot *s = sched_queue_slot(q, w);
        idle += s->alive && !s->reserved_by && s->inflight == 0;
    }
    if (idle < (uint32_t)t->cpus_extra + 1)
        return false;
    uint32_t need = t->cpus_extra;
    for (int w = q->nworkers - 1; w >= 0 && need; w--) {
        sched_slot *s = sched_queue_slot(q, w);
        if (s->alive && !s->reserved_by && s->inflight == 0) {
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
        if (q->res)
            sched_res_release(q->res, t->demand);
        t->acquired = 0;
    }
    if (t->cpus_held) {
        for (int w = 0; w < q->nworkers; w++) {
            sched_slot *s = sched_queue_slot(q, w);
            if (s->reserved_by == t->id)
                s->reserved_by = 0;
        }
        t->cpus_held = 0;
    }
}

bool
sched_queue_hold(sched_queue *q, uint64_t key, uint32_t n)
{
    uint32_t free_n = 0;
    for (int w = 0; w < q->nworkers; w++) {
        const sched_slot *s = sched_queue_slot(q, w);
        free_n += s->alive && !s->reserved_by;
    }
    if (free_n < n)
        return false;
    while (n--) {
        sched_slot *best = NULL;
        for (int w = q->nworkers - 1; w >= 0; w--) {
            sched_slot *s = sched_queue_slot(q, w);
            if (s->alive && !s->reserved_by &&
                (!best || s->inflight < best->inflight))
                best = s;
        }
        best->reserved_by = key;
    }
    return true;
}

void
sched_queue_unhold(sched_queue *q, uint64_t key)
{
    for (int w = 0; w < q->nworkers; w++) {
        sched_slot *s = sched_queue_slot(q, w);
        if (s->reserved_by == key)
            s->reserved_by = 0;
    }
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

void
sched_queue_dispatch(sched_queue *q)
{
    sched_task *t = q->head;
    while (t) {
        sched_task *next = t->next;
        if (t->demand && !t->acquired) {
            if (!q->res || !sched_res_try_acquire(q->res, t->demand)) {
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
        int w = pick_worker(q);
        if (w < 0) {
            sched_queue_release(q, t);
            break;
        }
        sched_queue_remove(q, t);
        ray_err e = push(q, w, t);
        if (e == RAY_EAGAIN) {
            /* This worker has no room: try the others, else backlog. */
            for (int k = 0; k < q->nworkers && e == RAY_EAGAIN; k++) {
                const sched_slot *s = sched_queue_slot(q, k);
                if (k != w && s->alive && s->inflight < q->max_inflight &&
                    !s->reserved_by)
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
    sched_queue_slot(q, w)->inflight--;
    sched_queue_release(q, t);
}

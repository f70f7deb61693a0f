/* SPDX-License-Identifier: Apache-2.0
 *
 * local_queue.h: the raylet's ready queue and dispatch policy.
 *
 * Tasks are opaque to the scheduler: the owner embeds a sched_task in its
 * own task struct (no allocation per task) and gets it back in the ops
 * callbacks (container_of). The queue is FIFO; dispatch walks it once,
 * takes a task's custom resources and, for a task needing N > 1 CPUs,
 * N - 1 idle workers, picks the eligible worker with the fewest tasks in
 * flight (below max_inflight) and hands the task to the owner's transport
 * (ops->try_push). RAY_EAGAIN (ring full) tries the other workers, else
 * the task goes back in place and dispatch stops (backlog) until the
 * owner calls sched_queue_dispatch again. Rings written in a round are
 * flushed once each at its end (ops->flush). A task whose resources are
 * taken waits; later tasks may pass it.
 *
 * Pushing many tasks into a worker's queue keeps the transport batched
 * (one publish per round, no wake-up per task), but a long task then
 * holds up the short ones queued behind it. Two rules undo that:
 *  - Stealing. A worker with nothing in flight takes half of the tasks
 *    the busiest worker has queued but not started, the newest ones
 *    (ops->revoke takes them back from the transport), so an idle CPU
 *    never waits behind a long task elsewhere, and the victim keeps the
 *    tasks it will run next (a task waiting for its own calls in order
 *    finds the next ones still with it).
 *  - Blocked workers give their CPU away. A worker whose running task
 *    waits (ray_get inside a task) is `blocked`: it takes no new task and
 *    its queued ones are taken back and placed elsewhere. The node's
 *    CPUs are the first `ncore` slots; slots past them are stand-ins the
 *    owner starts for blocked workers: each round, the first ncore live
 *    slots that are neither blocked nor held are eligible, so a stand-in
 *    runs tasks only while some worker is blocked. After a round,
 *    `want` says how many more stand-ins could run tasks now.
 *
 * Per-worker state (sched_slot) lives inside the owner's worker structs;
 * the queue finds slot w at base + w * stride. Not thread-safe: the
 * owner's lock guards the queue, the slots and the resources.
 */
#ifndef RAY_SCHEDULER_LOCAL_QUEUE_H
#define RAY_SCHEDULER_LOCAL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"
#include "scheduler/resources.h"

typedef struct sched_task sched_task;

/* A placement group's bundle as the queue sees it: the workers reserved
 * under `key` (sched_queue_reserve; 0 when it reserved no CPU: its tasks
 * run on the node's own workers) and the resources it reserved, from
 * which its tasks take their demands (sched_res_pool). The owner keeps
 * it alive while a task points at it. */
typedef struct sched_bundle {
    uint64_t key;
    sched_resources pool;
} sched_bundle;

/* Embedded in the owner's task. The owner sets id, demand, cpus_extra
 * and milli before queueing; the rest belongs to the scheduler. */
struct sched_task {
    sched_task *next, *prev;    /* ready queue link */
    uint64_t id;                /* nonzero, unique while queued/in flight */
    const sched_demand *demand; /* custom resources needed, or NULL */
    uint16_t cpus_extra;        /* CPUs needed beyond its own worker */
    uint16_t milli;             /* a fraction of a CPU (1 to 999
                                   thousandths): packed, see below; 0 a
                                   whole worker */
    uint8_t acquired : 1;       /* holds `demand` */
    uint8_t cpus_held : 1;      /* holds cpus_extra idle workers */
    uint8_t frac_held : 1;      /* holds `milli` of the fractional CPUs */
    int16_t prefer;             /* worker + 1 to place it on when eligible
                                   (the one that submitted it: it may run
                                   it itself while it waits), 0 = none */
    sched_bundle *bundle;       /* runs in this bundle: on its workers
                                   and `demand` from its pool; NULL: on
                                   the node's own */
};

/* Per-worker state, embedded in the owner's worker struct. */
typedef struct sched_slot {
    uint32_t inflight; /* tasks pushed and not completed */
    uint8_t alive;
    uint8_t dirty;        /* pushed since the last flush */
    uint8_t blocked;      /* set by the owner before a round: its
                             running task waits for something
                             (SCHED_BLOCKED_*) */
    uint8_t eligible;     /* the scheduler's: may take tasks now */
    uint64_t reserved_by; /* id of a multi-CPU task holding it, 0
                             none, UINT64_MAX never (actor host) */
    uint64_t bundle;      /* reserved for a placement group's bundle:
                             only its tasks run here (SCHED_FRAC_KEY:
                             a CPU lent to fractional tasks); 0 none */
    uint16_t frac;        /* runs a fractional task of this many
                             thousandths (one at a time), 0 none */
} sched_slot;

/* Fractional CPUs. A task of `milli` thousandths of a CPU runs alone on
 * a worker (never queued behind another) and the node packs such tasks:
 * a whole CPU taken from the node's own (an idle one) is lent to them,
 * its 1000 thousandths shared by as many as fit, each on a worker of its
 * own: the CPU's worker, then stand-in slots started for them (so 4 of
 * 0.25 run at once on one CPU, up to the stand-in slots there are). A
 * lent CPU goes back once no fractional task waits and none runs but
 * those blocked a while (SCHED_BLOCKED_LONG: a task waiting for its
 * children gives its CPU back, as a whole one does to stand-ins). */
#define SCHED_FRAC_KEY UINT64_C(0xF4AC000000000000)

/* sched_slot.blocked: its task waits and runs nothing; or it waits and
 * runs the calls it made when it gets to them (they stay with it). */
enum { SCHED_BLOCKED = 1, SCHED_BLOCKED_KEEPS_OWN = 2 };
/* Flag: it has waited a while; until then its CPU stays counted (most
 * waits end soon) and no stand-in takes its place. */
#define SCHED_BLOCKED_LONG 4u
#define SCHED_BLOCKED_KIND(b) ((b)&3u)

/* The owner's transport. ctx is sched_queue.ctx. */
typedef struct sched_ops {
    /* Hand `t` to `worker` (not yet visible to it: see flush). RAY_OK,
     * RAY_EAGAIN when there is no room now (nothing kept), or an error
     * that means it can never be sent (the queue calls failed). */
    ray_err (*try_push)(void *ctx, int worker, sched_task *t);
    /* `t` left the queue and cannot run: the owner fails and frees it. */
    void (*failed)(void *ctx, sched_task *t, ray_err err);
    /* Make what was pushed to `worker` this round visible to it. */
    void (*flush)(void *ctx, int worker);
    /* Take back up to `max` tasks pushed to `worker` that it has not
     * started, into out[]: oldest first, or with `newest` the newest
     * first; returns how many. With keep_own, tasks that prefer `worker`
     * stay. A task taken back will never run there; the queue counts it
     * out of the worker and queues it again. NULL: tasks are never taken
     * back. */
    uint32_t (*revoke)(void *ctx, int worker, bool keep_own, bool newest,
                       sched_task **out, uint32_t max);
} sched_ops;

typedef struct sched_queue {
    sched_task *head, *tail;
    uint64_t n;
    sched_resources *res; /* node resources for demands, or NULL */
    uint8_t *slot_base;   /* slot w at slot_base + w * slot_stride */
    size_t slot_stride;
    int nworkers; /* slots */
    int ncore;    /* of which the node's CPUs: [0, ncore) */
    uint32_t max_inflight;
    uint32_t want;        /* after a round: stand-ins that could run
                             tasks now (work waits while fewer than
                             ncore slots are eligible) */
    uint64_t steals;      /* tasks taken back and placed again */
    uint32_t frac_cpus;   /* CPUs lent to fractional tasks */
    uint32_t frac_used;   /* thousandths of them running now */
    uint64_t frac_queued; /* fractional tasks in the queue */
    const sched_ops *ops;
    void *ctx;
} sched_queue;

/* An empty queue over `nworkers` slots at base/stride, all of them CPUs
 * (see sched_queue_set_cores). */
void sched_queue_init(sched_queue *q, const sched_ops *ops, void *ctx,
                      sched_resources *res, void *slot_base, size_t slot_stride,
                      int nworkers, uint32_t max_inflight);

/* Only slots [0, ncore) are CPUs; the others stand in for blocked ones
 * (1 <= ncore <= nworkers). Holds and multi-CPU tasks use CPUs only. */
void sched_queue_set_cores(sched_queue *q, int ncore);

static inline sched_slot *
sched_queue_slot(const sched_queue *q, int w)
{
    return (sched_slot *)(void *)(q->slot_base + (size_t)w * q->slot_stride);
}

/* A new task with its fields set. */
static inline void
sched_task_init(sched_task *t, uint64_t id, const sched_demand *demand,
                uint16_t cpus_extra)
{
    *t = (sched_task){.id = id, .demand = demand, .cpus_extra = cpus_extra};
}

/* Append a ready task (FIFO). */
void sched_queue_push(sched_queue *q, sched_task *t);

/* Put a chain head..tail (linked by next/prev) in front of the queue,
 * in order (tasks requeued from a dead worker). */
void sched_queue_push_front(sched_queue *q, sched_task *head, sched_task *tail,
                            uint64_t n);

/* Unlink a queued task. */
void sched_queue_remove(sched_queue *q, sched_task *t);

/* Push what can go now to eligible workers, take back what blocked or
 * no longer eligible workers have not started and what an idle worker
 * can steal, place it again, then flush each written worker. */
void sched_queue_dispatch(sched_queue *q);

/* A task pushed to worker w finished or was taken back: w's in-flight
 * count drops and what the task held is released. */
void sched_queue_done(sched_queue *q, int w, sched_task *t);

/* Give back a task's resources and held CPUs (idempotent). */
void sched_queue_release(sched_queue *q, sched_task *t);

/* Hold `n` workers for a long-lived holder `key` (an actor's CPUs; key
 * never a task id, never 0 or UINT64_MAX): no new task goes to them
 * until sched_queue_unhold. Idle workers first, then the least loaded
 * (its tasks in flight finish there). False, with nothing held, when
 * fewer than `n` live workers are free of holds. */
bool sched_queue_hold(sched_queue *q, uint64_t key, uint32_t n);

/* Give back the workers held for `key` (none: nothing happens). */
void sched_queue_unhold(sched_queue *q, uint64_t key);

/* Bundles. A placement group's bundle reserves `n` workers under `key`
 * (nonzero, never a task id): from then on they run the tasks whose
 * `bundle` is `key` and no others, and those tasks run nowhere else
 * (they wait in the queue, without holding up the tasks behind them,
 * while none of the bundle's workers is eligible). Inside a bundle the
 * usual rules hold: a task needing N > 1 CPUs also holds N - 1 of its
 * idle workers, an actor's hold (sched_queue_hold_in) takes its workers
 * from it, an idle worker steals from a busy one of the same bundle.
 * False, with nothing reserved, when fewer than `n` live CPUs are free
 * of holds and bundles. */
bool sched_queue_reserve(sched_queue *q, uint64_t key, uint32_t n);

/* End bundle `key`'s reservation: its workers go back to the node. The
 * tasks it still has queued or in flight are the owner's to end first. */
void sched_queue_unreserve(sched_queue *q, uint64_t key);

/* sched_queue_hold among bundle `bundle`'s workers (0: the node's). */
bool sched_queue_hold_in(sched_queue *q, uint64_t key, uint32_t n,
                         uint64_t bundle);

#endif /* RAY_SCHEDULER_LOCAL_QUEUE_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * bell.h: the owner's doorbell, what a driver thread that waits for
 * results sleeps on, and the hints that tell workers what it waits for.
 * It lives where the node's workers reach it (the embedded runtime's
 * shared header, sdk/wire.h): a worker rings it after publishing results,
 * but only when a driver thread declared itself asleep, so a busy
 * submit/get loop costs no system call. A transport whose workers cannot
 * reach it (TCP) rings it from the thread that receives for them.
 */
#ifndef RAY_SDK_BELL_H
#define RAY_SDK_BELL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/shm_ring.h" /* rt_futex_* */

typedef struct sdk_bell {
    _Atomic uint32_t seq;           /* the futex word: bumped on news */
    _Atomic uint32_t sleepers;      /* driver threads asleep for any
                                       result */
    _Atomic uint32_t sleepers_task; /* ... for want_task's result */
    _Atomic uint32_t nblocked;      /* task workers blocked in a wait */
    _Atomic uint32_t blocked_gen;   /* bumped by every block or unblock */
    _Atomic uint32_t waiting;       /* driver threads inside a wait
                                       (spinning or not) */
    _Atomic uint32_t want_any;      /* waiters for any result (ray_wait,
                                       maps, the reactor) */
    uint32_t pad;
    _Atomic uint64_t want_task; /* the task whose result the one
                                   waiting driver thread needs, or 0 */
} sdk_bell;

/* Wake every driver thread asleep on the bell. */
static inline void
sdk_bell_wake(sdk_bell *b)
{
    atomic_fetch_add_explicit(&b->seq, 1, memory_order_seq_cst);
    rt_futex_wake(&b->seq, 0x7fffffff);
}

/* Ring it if a driver thread sleeps on it (after publishing records, or
 * when a worker runs out of work). */
static inline void
sdk_bell_ring(sdk_bell *b)
{
    if (atomic_load_explicit(&b->sleepers, memory_order_seq_cst) ||
        atomic_load_explicit(&b->sleepers_task, memory_order_seq_cst))
        sdk_bell_wake(b);
}

/* Ring it after publishing the results of tasks lo..hi while the worker
 * goes on running tasks: only for a thread asleep for any result, or for
 * one of these (a thread asleep for another task's result sleeps on; a
 * system call per result would cost more than the tasks). */
static inline void
sdk_bell_ring_for(sdk_bell *b, uint64_t lo, uint64_t hi)
{
    bool wake = atomic_load_explicit(&b->sleepers, memory_order_seq_cst);
    if (!wake &&
        atomic_load_explicit(&b->sleepers_task, memory_order_seq_cst)) {
        uint64_t t = atomic_load_explicit(&b->want_task, memory_order_seq_cst);
        wake = t == 0 || (t >= lo && t <= hi) ||
               atomic_load_explicit(&b->waiting, memory_order_seq_cst) > 1;
    }
    if (wake)
        sdk_bell_wake(b);
}

/* Whether someone waits for one of the results of tasks lo..hi not yet
 * published (a worker then publishes at once rather than in a batch):
 * a driver thread waiting for one of them (the one waiting thread names
 * its task; with more, or for any result, it is any), the reactor, or a
 * blocked worker (the driver pushes results to it). */
static inline bool
sdk_bell_wanted(sdk_bell *b, uint64_t lo, uint64_t hi)
{
    if (atomic_load_explicit(&b->want_any, memory_order_relaxed) ||
        atomic_load_explicit(&b->nblocked, memory_order_relaxed))
        return true;
    uint32_t n = atomic_load_explicit(&b->waiting, memory_order_relaxed);
    if (n == 0)
        return false;
    uint64_t t = atomic_load_explicit(&b->want_task, memory_order_relaxed);
    return n > 1 || t == 0 || (t >= lo && t <= hi);
}

/* A driver thread starts (end: stops) waiting for the result of `task`,
 * or for any result (task 0). */
static inline void
sdk_bell_want_begin(sdk_bell *b, uint64_t task)
{
    if (task == 0) {
        atomic_fetch_add(&b->want_any, 1);
    } else if (atomic_fetch_add(&b->waiting, 1) == 0) {
        uint64_t none = 0;
        atomic_compare_exchange_strong(&b->want_task, &none, task);
    }
}

static inline void
sdk_bell_want_end(sdk_bell *b, uint64_t task)
{
    if (task == 0) {
        atomic_fetch_sub(&b->want_any, 1);
        return;
    }
    atomic_fetch_sub(&b->waiting, 1);
    /* Ours or stale: a thread still waiting then wants any (0). */
    atomic_compare_exchange_strong(&b->want_task, &task, 0);
}

#endif /* RAY_SDK_BELL_H */

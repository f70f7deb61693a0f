/* SPDX-License-Identifier: Apache-2.0
 *
 * shm_ring.h: single-producer single-consumer byte ring in shared memory.
 *
 * The same-node hot path between a driver and its workers. A ring is a
 * header (one cache line per side, so producer and consumer never share a
 * line they write) followed by a power-of-two data area. Records are
 * 8-byte aligned: an 8-byte record header {len, type} then the payload,
 * padded to 8. A record never wraps: when it does not fit before the end,
 * the producer writes a PAD record and starts again at offset 0. A record
 * larger than half the ring must be split by the caller (RT_RING_MORE).
 *
 * Batching: the producer reserves and commits records into its private
 * tail and makes them visible with one release store (rt_ring_publish);
 * the consumer reads records from its private head and gives space back
 * with one store (rt_ring_release). A producer that holds a batch back
 * may also expose it (rt_ring_expose: a store to a line of its own that
 * the consumer does not poll), and a consumer that has waited a while
 * takes what was exposed (rt_ring_catch_up): a batch never stays
 * invisible while its producer is busy elsewhere, and a stream of
 * records still costs one cache-line transfer per batch. No system call happens
 * on either path unless the peer sleeps: a consumer spins for a bounded time,
 * then sets `cons_sleeping` and waits on the `cons_seq` futex word, which the
 * producer bumps and wakes only when it sees the flag. The same scheme
 * works the other way round for a producer waiting for space.
 *
 * Both sides may be in different processes that die at any time: every
 * field is fixed-width, indices only grow, and a half-written record is
 * invisible until published. Thread model: one producer thread and one
 * consumer thread at a time (callers serialise otherwise).
 */
#ifndef RAY_RUNTIME_SHM_RING_H
#define RAY_RUNTIME_SHM_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

#define RT_RING_PAD 0xffffu      /* record type: skip to offset 0 */
#define RT_RING_MORE 0x80000000u /* type flag: record continues in next */

/* The shared header. Lives at the start of the ring's shared memory. */
typedef struct rt_ring_hdr {
    _Alignas(64) _Atomic uint64_t tail; /* producer: bytes published */
    _Atomic uint32_t prod_sleeping;     /* producer waits for space */
    _Atomic uint32_t prod_seq;          /* futex word the producer sleeps on */
    _Alignas(64) _Atomic uint64_t head; /* consumer: bytes consumed */
    _Atomic uint32_t cons_sleeping;     /* consumer waits for data */
    _Atomic uint32_t cons_seq;          /* futex word the consumer sleeps on */
    _Alignas(64) uint64_t cap;          /* data bytes, power of two */
    uint64_t reserved[7];
    _Alignas(64) _Atomic uint64_t written; /* producer: bytes committed and
                                              exposed (rt_ring_expose) */
    uint64_t reserved2[7];
} rt_ring_hdr;

_Static_assert(sizeof(rt_ring_hdr) == 256, "rt_ring_hdr layout");

/* One record header inside the data area. */
typedef struct rt_ring_rec {
    uint32_t len;  /* payload bytes (before padding) */
    uint32_t type; /* user type | RT_RING_MORE, or RT_RING_PAD */
} rt_ring_rec;

_Static_assert(sizeof(rt_ring_rec) == 8, "rt_ring_rec layout");

/* Process-local view of one side of a ring. */
typedef struct rt_ring {
    rt_ring_hdr *hdr;
    uint8_t *data;
    uint64_t mask;
    uint64_t pos;    /* producer: private tail; consumer: private head */
    uint64_t cached; /* producer: last seen head; consumer: last seen tail */
    uint64_t last;   /* bytes of the record reserved/peeked last */
} rt_ring;

/* Bytes of shared memory a ring with `cap` data bytes needs. */
static inline size_t
rt_ring_footprint(size_t cap)
{
    return sizeof(rt_ring_hdr) + cap;
}

/* Format a ring at `mem` (rt_ring_footprint(cap) bytes, 64-aligned).
 * `cap` must be a power of two >= 4096. Not thread-safe: call before the
 * peer maps it. Returns RAY_EINVAL for a bad cap. */
ray_err rt_ring_format(void *mem, size_t cap);

/* Attach a local view to a formatted ring. */
void rt_ring_attach(rt_ring *r, void *mem);

/* Largest payload one record may carry. */
static inline size_t
rt_ring_max_record(const rt_ring *r)
{
    return (size_t)(r->mask + 1) / 2 - sizeof(rt_ring_rec);
}

/* ---- producer ---- */

/* Reserve room for a payload of `len` bytes; returns where to write it, or
 * NULL when the ring is full right now (or len > rt_ring_max_record).
 * Nothing is visible until rt_ring_commit + rt_ring_publish. */
void *rt_ring_reserve(rt_ring *r, size_t len);

/* Commit the record reserved last, with `len` <= the reserved length. */
void rt_ring_commit(rt_ring *r, uint32_t type, size_t len);

/* Make committed records visible and wake the consumer if it sleeps.
 * Returns true if a wake-up system call was made. */
bool rt_ring_publish(rt_ring *r);

/* Make committed records visible without waking anyone (the caller rings
 * its own doorbell). */
void rt_ring_publish_quiet(rt_ring *r);

/* Expose committed records to a consumer that catches up
 * (rt_ring_catch_up), without publishing them: no wake-up, and no write
 * to the line the consumer polls. Sequentially consistent, so a producer
 * that exposes and then reads a "somebody waits" flag, and a consumer
 * that sets that flag and then catches up, cannot both miss. */
void rt_ring_expose(rt_ring *r);

/* Block until at least `len` payload bytes fit or `timeout_us` passes
 * (spinning `spin_us` first). Returns RAY_OK or RAY_ETIMEDOUT. */
ray_err rt_ring_wait_space(rt_ring *r, size_t len, int64_t spin_us,
                           int64_t timeout_us);

/* ---- consumer ---- */

/* The next record, or NULL if none is published. Skips PAD records. */
void *rt_ring_peek(rt_ring *r, uint32_t *type, uint32_t *len);

/* Drop the record returned by the last rt_ring_peek (local only). */
void rt_ring_consume(rt_ring *r);

/* Give consumed space back to the producer (and wake it if it waits). */
void rt_ring_release(rt_ring *r);

/* True if a record is published and not yet consumed. */
bool rt_ring_readable(rt_ring *r);

/* Look at published records without consuming them: the record at
 * *cursor (0: the next one to consume), or NULL past the last published
 * one; *cursor moves past it. Read-only; a record the consumer has
 * released is never returned. */
void *rt_ring_scan(rt_ring *r, uint64_t *cursor, uint32_t *type, uint32_t *len);

/* Make the records the producer exposed (rt_ring_expose) readable too.
 * Costs a cache-line transfer when they changed: call it when a wait
 * has lasted, not on every poll. */
void rt_ring_catch_up(rt_ring *r);

/* Block until a record is readable or `timeout_us` passes, spinning
 * `spin_us` first, then sleeping once on the futex. Returns RAY_OK when a
 * record is readable, RAY_ETIMEDOUT, or RAY_EAGAIN when the sleep ended
 * (a wake-up, a signal or the timeout) with nothing to read: the caller
 * re-checks its own conditions (shutdown) and calls again. */
ray_err rt_ring_wait_data(rt_ring *r, int64_t spin_us, int64_t timeout_us);

/* As rt_ring_wait_data, but also done when `ready(arg)` holds: for a
 * consumer that has a second source of work whose producer bumps this
 * ring's futex (cons_seq) after making ready() true. ready is checked
 * after the consumer declares itself asleep, so no such wake-up is lost. */
ray_err rt_ring_wait_data_or(rt_ring *r, int64_t spin_us, int64_t timeout_us,
                             bool (*ready)(void *), void *arg);

/* ---- futex helpers (process-shared) ---- */

/* Sleep while *word == expect, at most timeout_us (<0: forever). */
void rt_futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t timeout_us);

/* Wake up to `n` sleepers on word. */
void rt_futex_wake(_Atomic uint32_t *word, int n);

/* Adaptive spin budget, for a waiter that spins before sleeping: a wait
 * that ends while spinning restores the full budget; one that has to
 * sleep halves it, so on an oversubscribed machine (where spinning only
 * keeps the peer we wait for off the CPU) the waiter soon sleeps at once.
 * While the budget is small, every 32nd wait probes with the full budget
 * again. Each thread or process keeps its own (plain fields, no sharing). */
typedef struct rt_spin_budget {
    int64_t max_ns;
    int64_t cur_ns;
    uint32_t probe;
} rt_spin_budget;

static inline void
rt_spin_budget_init(rt_spin_budget *b, int64_t max_us)
{
    b->max_ns = b->cur_ns = max_us * 1000;
    b->probe = 0;
}

/* The spin to use for the next wait, in ns. */
static inline int64_t
rt_spin_budget_next(rt_spin_budget *b)
{
    if (b->cur_ns < 2000 && (++b->probe & 31) == 0)
        return b->max_ns;
    return b->cur_ns;
}

/* Record how the wait ended: `hit` if it ended while spinning. */
static inline void
rt_spin_budget_update(rt_spin_budget *b, bool hit)
{
    b->cur_ns = hit ? b->max_ns : b->cur_ns / 2;
}

/* One pause instruction for spin loops. */
static inline void
rt_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* RAY_RUNTIME_SHM_RING_H */

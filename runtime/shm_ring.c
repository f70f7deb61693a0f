/* SPDX-License-Identifier: Apache-2.0
 *
 * shm_ring.c: the SPSC byte ring of shm_ring.h and process-shared futexes.
 *
 * Memory order: the producer writes a record, then store-releases `tail`;
 * the consumer load-acquires `tail` before reading records, and
 * store-releases `head` after it is done with them. The sleeping flags use
 * sequentially consistent operations on both sides (store flag, then load
 * the index; publish index, then load the flag), so either the sleeper
 * sees the new index or the waker sees the flag: no lost wake-up.
 */
#include "runtime/shm_ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"

#define ALIGN8(n) (((n) + 7u) & ~(uint64_t)7u)

void
rt_futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t timeout_us)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_us >= 0) {
        ts.tv_sec = timeout_us / 1000000;
        ts.tv_nsec = (timeout_us % 1000000) * 1000;
        tsp = &ts;
    }
    /* Shared (not PRIVATE): the word lives in memory mapped by two processes.
     */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expect, tsp, NULL, 0);
}

void
rt_futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

ray_err
rt_ring_format(void *mem, size_t cap)
{
    if (cap < 4096 || (cap & (cap - 1)) != 0 || ((uintptr_t)mem & 63) != 0)
        return RAY_EINVAL;
    rt_ring_hdr *h = mem;
    memset(h, 0, sizeof(*h));
    atomic_init(&h->tail, 0);
    atomic_init(&h->head, 0);
    atomic_init(&h->written, 0);
    h->cap = cap;
    return RAY_OK;
}

void
rt_ring_attach(rt_ring *r, void *mem)
{
    r->hdr = mem;
    r->data = (uint8_t *)mem + sizeof(rt_ring_hdr);
    r->mask = r->hdr->cap - 1;
    r->pos = 0;
    r->cached = 0;
    r->last = 0;
}

/* ---- producer ---- */

void *
rt_ring_reserve(rt_ring *r, size_t len)
{
    if (len > rt_ring_max_record(r))
        return NULL;
    uint64_t cap = r->mask + 1;
    uint64_t need = sizeof(rt_ring_rec) + ALIGN8(len);
    uint64_t off = r->pos & r->mask;
    uint64_t skip = (off + need > cap) ? cap - off : 0;
    if (r->pos + skip + need - r->cached > cap) {
        r->cached = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
        if (r->pos + skip + need - r->cached > cap)
            return NULL;
    }
    if (skip) {
        rt_ring_rec *pad = (rt_ring_rec *)(r->data + off);
        pad->len = (uint32_t)(skip - sizeof(rt_ring_rec));
        pad->type = RT_RING_PAD;
        r->pos += skip;
        off = 0;
    }
    r->last = need;
    return r->data + off + sizeof(rt_ring_rec);
}

void
rt_ring_commit(rt_ring *r, uint32_t type, size_t len)
{
    rt_ring_rec *rec = (rt_ring_rec *)(r->data + (r->pos & r->mask));
    rec->len = (uint32_t)len;
    rec->type = type;
    r->pos += sizeof(rt_ring_rec) + ALIGN8(len);
    r->last = 0;
}

bool
rt_ring_publish(rt_ring *r)
{
    rt_ring_hdr *h = r->hdr;
    atomic_store_explicit(&h->tail, r->pos, memory_order_seq_cst);
    if (atomic_load_explicit(&h->cons_sleeping, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&h->cons_seq, 1, memory_order_seq_cst);
        rt_futex_wake(&h->cons_seq, INT_MAX);
        return true;
    }
    return false;
}

void
rt_ring_publish_quiet(rt_ring *r)
{
    atomic_store_explicit(&r->hdr->tail, r->pos, memory_order_seq_cst);
}

void
rt_ring_expose(rt_ring *r)
{
    atomic_store_explicit(&r->hdr->written, r->pos, memory_order_seq_cst);
}

static bool
space_for(rt_ring *r, size_t len)
{
    uint64_t cap = r->mask + 1;
    uint64_t need = sizeof(rt_ring_rec) + ALIGN8(len);
    uint64_t off = r->pos & r->mask;
    uint64_t skip = (off + need > cap) ? cap - off : 0;
    r->cached = atomic_load_explicit(&r->hdr->head, memory_order_seq_cst);
    return r->pos + skip + need - r->cached <= cap;
}

ray_err
rt_ring_wait_space(rt_ring *r, size_t len, int64_t spin_us, int64_t timeout_us)
{
    if (len > rt_ring_max_record(r))
        return RAY_ETOOBIG;
    int64_t start = rt_clock_now_us();
    while (!space_for(r, len)) {
        int64_t now = rt_clock_now_us();
        if (timeout_us >= 0 && now - start >= timeout_us)
            return RAY_ETIMEDOUT;
        if (now - start < spin_us) {
            rt_cpu_relax();
            continue;
        }
        rt_ring_hdr *h = r->hdr;
        uint32_t seq = atomic_load_explicit(&h->prod_seq, memory_order_seq_cst);
        atomic_store_explicit(&h->prod_sleeping, 1, memory_order_seq_cst);
        if (!space_for(r, len)) {
            int64_t left = timeout_us < 0 ? 10000 : timeout_us - (now - start);
            rt_futex_wait(&h->prod_seq, seq, left < 10000 ? left : 10000);
        }
        atomic_store_explicit(&h->prod_sleeping, 0, memory_order_relaxed);
    }
    return RAY_OK;
}

/* ---- consumer ---- */

void *
rt_ring_peek(rt_ring *r, uint32_t *type, uint32_t *len)
{
    for (;;) {
        if (r->pos == r->cached) {
            /* Never back: catch_up may have taken us past `tail`. */
            uint64_t t =
                atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
            if (t > r->cached)
                r->cached = t;
            if (r->pos == r->cached)
                return NULL;
        }
        rt_ring_rec *rec = (rt_ring_rec *)(r->data + (r->pos & r->mask));
        uint64_t size = sizeof(rt_ring_rec) + ALIGN8(rec->len);
        if (rec->type == RT_RING_PAD) {
            r->pos += size;
            continue;
        }
        r->last = size;
        *type = rec->type;
        *len = rec->len;
        return rec + 1;
    }
}

void
rt_ring_consume(rt_ring *r)
{
    r->pos += r->last;
    r->last = 0;
}

void
rt_ring_release(rt_ring *r)
{
    rt_ring_hdr *h = r->hdr;
    atomic_store_explicit(&h->head, r->pos, memory_order_seq_cst);
    if (atomic_load_explicit(&h->prod_sleeping, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&h->prod_seq, 1, memory_order_seq_cst);
        rt_futex_wake(&h->prod_seq, INT_MAX);
    }
}

bool
rt_ring_readable(rt_ring *r)
{
    if (r->pos != r->cached)
        return true;
    uint64_t t = atomic_load_explicit(&r->hdr->tail, memory_order_seq_cst);
    if (t > r->cached)
        r->cached = t;
    return r->pos != r->cached;
}

void *
rt_ring_scan(rt_ring *r, uint64_t *cursor, uint32_t *type, uint32_t *len)
{
    uint64_t at = *cursor < r->pos ? r->pos : *cursor;
    for (;;) {
        if (at >= r->cached) {
            uint64_t t =
                atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
            if (t > r->cached)
                r->cached = t;
            if (at >= r->cached) {
                *cursor = at;
                return NULL;
            }
        }
        rt_ring_rec *rec = (rt_ring_rec *)(r->data + (at & r->mask));
        at += sizeof(rt_ring_rec) + ALIGN8(rec->len);
        if (rec->type == RT_RING_PAD)
            continue;
        *cursor = at;
        *type = rec->type;
        *len = rec->len;
        return rec + 1;
    }
}

void
rt_ring_catch_up(rt_ring *r)
{
    uint64_t w = atomic_load_explicit(&r->hdr->written, memory_order_seq_cst);
    if (w > r->cached)
        r->cached = w;
}

static bool
has_work(rt_ring *r, bool (*ready)(void *), void *arg)
{
    return rt_ring_readable(r) || (ready && ready(arg));
}

ray_err
rt_ring_wait_data_or(rt_ring *r, int64_t spin_us, int64_t timeout_us,
                     bool (*ready)(void *), void *arg)
{
    int64_t start = rt_clock_now_us();
    unsigned spins = 0;
    while (!has_work(r, ready, arg)) {
        int64_t now = rt_clock_now_us();
        if (timeout_us >= 0 && now - start >= timeout_us)
            return RAY_ETIMEDOUT;
        if (now - start < spin_us) {
            /* Spin, but let a runnable peer on this core go first now and
             * then: on an oversubscribed machine it is the one we wait for. */
            if ((++spins & 255) == 0)
                sched_yield();
            else
                rt_cpu_relax();
            continue;
        }
        rt_ring_hdr *h = r->hdr;
        uint32_t seq = atomic_load_explicit(&h->cons_seq, memory_order_seq_cst);
        atomic_store_explicit(&h->cons_sleeping, 1, memory_order_seq_cst);
        bool ready_now = has_work(r, ready, arg);
        if (!ready_now) {
            int64_t left = timeout_us < 0 ? -1 : timeout_us - (now - start);
            rt_futex_wait(&h->cons_seq, seq, left);
        }
        atomic_store_explicit(&h->cons_sleeping, 0, memory_order_relaxed);
        if (!ready_now && !has_work(r, ready, arg))
            return RAY_EAGAIN; /* woken (or timed out) without work */
    }
    return RAY_OK;
}

ray_err
rt_ring_wait_data(rt_ring *r, int64_t spin_us, int64_t timeout_us)
{
    return rt_ring_wait_data_or(r, spin_us, timeout_us, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * table.c: the lock-free-readable object index and the pin handshake.
 *
 * Readers (any client process) probe the index with relaxed loads inside
 * a seqlock read section; the store mutates it under its mutex and bumps
 * table_seq to odd before and to even after each change. A reader that
 * finds the ID returns the slot at once (the caller pins and re-checks the
 * ID, which is stable while pinned); a reader that misses retries until it
 * saw a quiet, unchanged sequence, so a concurrent move of an entry
 * (backward-shift deletion) never produces a false miss.
 *
 * Every loop over the index is bounded by its size and every entry is
 * checked against the slot count, so even an index overwritten from
 * outside the store (which client mappings cannot do: they map it
 * read-only) sends no one out of bounds or into an endless probe.
 *
 * Tuned for: many gets per second from several processes, a load factor
 * of at most 1/2 (index has twice as many entries as there are slots).
 */
#include "objectstore/table.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/log.h"

/* ------------------------------------------------------------------ */
/* Geometry                                                            */
/* ------------------------------------------------------------------ */

static uint64_t
round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

void
store_table_geometry(uint64_t capacity, uint32_t nslots, store_geometry *g)
{
    uint32_t isz = 1;
    while (isz < 2 * nslots)
        isz <<= 1;
    g->nslots = nslots;
    g->index_size = isz;
    g->index_off = STORE_HEADER_SIZE;
    /* Header and index are read-only in clients: the first page clients
     * may write starts after them, page-aligned. */
    g->shared_off = round_up(g->index_off + (uint64_t)isz * 4, 4096);
    g->slots_off = g->shared_off + STORE_SHARED_SIZE;
    /* The heap starts on a 2 MiB boundary so jemalloc's aligned requests
     * do not waste the start of it. */
    g->heap_off = round_up(g->slots_off + (uint64_t)nslots * sizeof(store_slot),
                           2ull << 20);
    g->heap_size = round_up(capacity, 4096);
    g->region_size = g->heap_off + g->heap_size;
}

void
store_table_init(store_header *h, const store_geometry *g)
{
    h->version = STORE_LAYOUT_VERSION;
    h->max_clients = STORE_MAX_CLIENTS;
    h->region_size = g->region_size;
    h->index_off = g->index_off;
    h->shared_off = g->shared_off;
    h->slots_off = g->slots_off;
    h->heap_off = g->heap_off;
    h->heap_size = g->heap_size;
    h->nslots = g->nslots;
    h->index_mask = g->index_size - 1;
    atomic_store(&h->table_seq, 0);
    atomic_thread_fence(memory_order_release);
    h->magic = STORE_MAGIC;
}

bool
store_table_valid(const store_header *h, uint64_t mapped_size)
{
    if (h->magic != STORE_MAGIC || h->version != STORE_LAYOUT_VERSION)
        return false;
    if (h->region_size != mapped_size || h->max_clients != STORE_MAX_CLIENTS)
        return false;
    uint64_t isz = (uint64_t)h->index_mask + 1;
    if ((isz & (isz - 1)) != 0 || h->nslots == 0 || isz < 2ull * h->nslots)
        return false;
    if (h->index_off < STORE_HEADER_SIZE ||
        h->index_off + isz * 4 > h->shared_off || (h->shared_off & 4095) ||
        h->shared_off + STORE_SHARED_SIZE > h->slots_off ||
        h->slots_off + (uint64_t)h->nslots * sizeof(store_slot) > h->heap_off ||
        h->heap_off > mapped_size || h->heap_size > mapped_size - h->heap_off)
        return false;
    return true;
}

void
store_table_attach(store_table *t, uint8_t *base)
{
    store_header *h = (store_header *)base;
    t->hdr = h;
    t->index = (_Atomic uint32_t *)(base + h->index_off);
    t->shared = (store_shared *)(base + h->shared_off);
    t->slots = (store_slot *)(base + h->slots_off);
    t->nslots = h->nslots;
    t->mask = h->index_mask;
}

/* ------------------------------------------------------------------ */
/* Index                                                               */
/* ------------------------------------------------------------------ */

static uint64_t
id_hash(const uint32_t w[7])
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 7; i++) {
        x ^= w[i];
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 32;
    }
    x ^= x >> 29;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 32;
    return x;
}

uint64_t
store_table_hash(const store_object_id *id)
{
    uint32_t w[7];
    memcpy(w, id->b, sizeof w);
    return id_hash(w);
}

int64_t
store_table_find(const store_table *t, const store_object_id *id)
{
    uint64_t home = store_table_hash(id);
    store_header *h = t->hdr;
    uint32_t mask = t->mask;
    for (unsigned spins = 0;; spins++) {
        uint64_t s1 = atomic_load_explicit(&h->table_seq, memory_order_acquire);
        if (s1 & 1) {
            if (spins > 64)
                sched_yield();
            continue;
        }
        for (uint32_t i = (uint32_t)home & mask, n = 0; n <= mask;
             i = (i + 1) & mask, n++) {
            uint32_t e =
                atomic_load_explicit(&t->index[i], memory_order_relaxed);
            if (e == 0)
                break;
            if (e - 1 >= t->nslots)
                break; /* torn by a writer; the seq check retries */
            if (store_slot_id_eq(&t->slots[e - 1], id))
                return (int64_t)(e - 1);
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&h->table_seq, memory_order_relaxed) == s1)
            return -1;
        if (spins > 64)
            sched_yield();
    }
}

static void
write_begin(store_header *h)
{
    uint64_t s = atomic_load_explicit(&h->table_seq, memory_order_relaxed);
    atomic_store_explicit(&h->table_seq, (s | 1), memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void
write_end(store_header *h)
{
    uint64_t s = atomic_load_explicit(&h->table_seq, memory_order_relaxed);
    atomic_store_explicit(&h->table_seq, (s | 1) + 1, memory_order_release);
}

bool
store_table_insert(const store_table *t, uint32_t slot, uint64_t hash)
{
    uint32_t mask = t->mask;
    uint32_t i = (uint32_t)hash & mask;
    /* Inserting into an empty entry never moves others: readers that
     * miss it simply did not see the new object yet. */
    for (uint32_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        if (atomic_load_explicit(&t->index[i], memory_order_relaxed) == 0) {
            atomic_store_explicit(&t->index[i], slot + 1, memory_order_release);
            return true;
        }
    }
    return false;
}

void
store_table_remove(const store_table *t, uint32_t slot, const uint32_t *home)
{
    _Atomic uint32_t *idx = t->index;
    uint32_t mask = t->mask;
    uint32_t i = home[slot] & mask;
    uint32_t n = 0;
    while (atomic_load_explicit(&idx[i], memory_order_relaxed) != slot + 1) {
        if (atomic_load_explicit(&idx[i], memory_order_relaxed) == 0 ||
            ++n > mask)
            return;
        i = (i + 1) & mask;
    }
    write_begin(t->hdr);
    /* Backward-shift deletion: pull later entries of the cluster into the
     * hole when their home position allows it. */
    uint32_t j = i;
    for (n = 0; n < mask; n++) {
        j = (j + 1) & mask;
        uint32_t e = atomic_load_explicit(&idx[j], memory_order_relaxed);
        if (e == 0 || RT_NEVER(e - 1 >= t->nslots))
            break;
        uint32_t k = home[e - 1] & mask;
        bool move = (j > i) ? (k <= i || k > j) : (k <= i && k > j);
        if (move) {
            atomic_store_explicit(&idx[i], e, memory_order_relaxed);
            i = j;
        }
    }
    atomic_store_explicit(&idx[i], 0, memory_order_relaxed);
    write_end(t->hdr);
}

/* ------------------------------------------------------------------ */
/* Pins                                                                */
/* ------------------------------------------------------------------ */

bool
store_slot_try_pin(store_slot *s, uint32_t c, const store_object_id *id,
                   uint32_t *state)
{
    uint64_t bit = 1ull << (c % 64);
    uint64_t old = atomic_fetch_or(&s->pins[c / 64], bit);
    uint32_t st = atomic_load(&s->state);
    if (state)
        *state = st;
    if (st == STORE_SLOT_SEALED && store_slot_id_eq(s, id))
        return true;
    if (!(old & bit))
        atomic_fetch_and(&s->pins[c / 64], ~bit);
    return false;
}

int
store_slot_pin_checked(store_slot *s, uint32_t c, const store_object_id *id,
                       _Atomic uint32_t *epoch_word, uint32_t epoch,
                       uint32_t *state)
{
    uint64_t bit = 1ull << (c % 64);
    uint64_t old = atomic_fetch_or(&s->pins[c / 64], bit);
    uint32_t st = atomic_load(&s->state);
    *state = st;
    /* seq_cst after the bit: the store marks the epoch odd before it
     * scans the pins, so one of the two sees the other. */
    bool ours = atomic_load(epoch_word) == epoch;
    if (ours && st == STORE_SLOT_SEALED && store_slot_id_eq(s, id))
        return STORE_PIN_OK;
    if (!(old & bit))
        atomic_fetch_and(&s->pins[c / 64], ~bit);
    return ours ? STORE_PIN_NO : STORE_PIN_REVOKED;
}

void
store_slot_pin(store_slot *s, uint32_t c)
{
    atomic_fetch_or(&s->pins[c / 64], 1ull << (c % 64));
}

void
store_slot_unpin(store_slot *s, uint32_t c)
{
    atomic_fetch_and(&s->pins[c / 64], ~(1ull << (c % 64)));
}

void
store_slot_unpin_all(store_slot *s)
{
    for (unsigned i = 0; i < STORE_PIN_WORDS; i++)
        atomic_store(&s->pins[i], 0);
}

bool
store_slot_pinned(store_slot *s)
{
    for (unsigned i = 0; i < STORE_PIN_WORDS; i++)
        if (atomic_load(&s->pins[i]) != 0)
            return true;
    return false;
}

bool
store_slot_claim(store_slot *s, uint32_t from)
{
    uint32_t exp = from;
    if (!atomic_compare_exchange_strong(&s->state, &exp, STORE_SLOT_BUSY))
        return false;
    if (store_slot_pinned(s)) {
        atomic_store(&s->state, from);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Seal notification                                                   */
/* ------------------------------------------------------------------ */

static long
futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

void
store_table_notify(const store_table *t)
{
    store_shared *sh = t->shared;
    atomic_fetch_add(&sh->seal_seq, 1);
    if (atomic_load(&sh->seal_waiters) != 0)
        futex(&sh->seal_seq, FUTEX_WAKE, 0x7fffffff, NULL);
}

uint32_t
store_table_seal_seq(const store_table *t)
{
    return atomic_load(&t->shared->seal_seq);
}

bool
store_table_wait(const store_table *t, uint32_t seen, int64_t deadline_ns,
                 int cap_ms)
{
    int64_t now = rt_clock_now_ns();
    if (now >= deadline_ns)
        return false;
    int64_t left = deadline_ns - now;
    if (left > (int64_t)cap_ms * 1000000)
        left = (int64_t)cap_ms * 1000000;
    struct timespec ts = {.tv_sec = left / 1000000000,
                          .tv_nsec = left % 1000000000};
    store_shared *sh = t->shared;
    atomic_fetch_add(&sh->seal_waiters, 1);
    futex(&sh->seal_seq, FUTEX_WAIT, seen, &ts);
    atomic_fetch_sub(&sh->seal_waiters, 1);
    return true;
}

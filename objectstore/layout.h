/* SPDX-License-Identifier: Apache-2.0
 *
 * layout.h: the byte layout of a node's shared object-store region.
 *
 * One memfd holds, in order: a 4 KiB header, the object slots (fixed-size
 * records, one per object), the hash index (slot numbers, open addressing)
 * and the heap that the jemalloc arena carves payloads from. The store
 * process and every client map the same fd, so everything here is written
 * for processes that may die at any instant: fixed-width fields, C11
 * atomics for anything a client touches, _Static_assert on every layout.
 *
 * Who writes what:
 *   - the store (under its mutex) writes slot fields, the index and the
 *     table seqlock; it moves slots between states with CAS;
 *   - a client sets and clears its own bit in a slot's `pins` bitmap (the
 *     get/release fast path), flips its own CREATING slot to SEALED, bumps
 *     `seal_seq` and stores `last_access`.
 * Pinning and reclaiming meet through a Dekker handshake: a client sets its
 * pin bit then re-reads the state; the store CASes the state away from
 * SEALED then re-reads the pins, and backs off if any bit is set. With
 * seq_cst on both sides one of them always sees the other.
 */
#ifndef RAY_OBJECTSTORE_LAYOUT_H
#define RAY_OBJECTSTORE_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runtime/ids.h"

#define STORE_ID_SIZE 28
#define STORE_MAGIC 0x52415943534d454dULL /* "RAYCSMEM" */
#define STORE_LAYOUT_VERSION 2u
#define STORE_MAX_CLIENTS 256u
#define STORE_PIN_WORDS (STORE_MAX_CLIENTS / 64u)
#define STORE_HEADER_SIZE 4096u

/* Objects are named by the runtime's 28-byte object IDs. */
typedef rt_object_id store_object_id;
_Static_assert(sizeof(store_object_id) == STORE_ID_SIZE, "id is 28 bytes");

/* Slot states. */
enum store_slot_state {
    STORE_SLOT_FREE = 0,     /* unused; not in the index */
    STORE_SLOT_CREATING = 1, /* reserved, being written by `creator` */
    STORE_SLOT_SEALED = 2,   /* immutable, readable in memory */
    STORE_SLOT_BUSY = 3,     /* claimed by the store (delete/evict/spill) */
    STORE_SLOT_SPILLED = 4,  /* payload lives in a spill file only */
};

/* Object flags (store_slot.flags). */
#define STORE_OBJ_SECONDARY 1u /* a copy of an object whose primary is elsewhere:
                                  evicted, never spilled */

/* One object. 128 bytes, two cache lines. */
typedef struct store_slot {
    _Atomic uint32_t state;       /* enum store_slot_state */
    _Atomic uint32_t gen;         /* bumped each time the slot is reused */
    _Atomic uint32_t id[7];       /* the object ID, as words (read lock-free) */
    _Atomic uint32_t creator;     /* client index that created it */
    uint32_t flags;               /* STORE_OBJ_*; written before publication */
    uint32_t spill_file;          /* store only: spill file number */
    uint64_t offset;              /* payload offset from the region start */
    uint64_t data_size;           /* payload bytes */
    uint64_t meta_size;           /* metadata bytes, right after the data */
    uint64_t alloc_size;          /* bytes the arena really reserved */
    _Atomic uint64_t last_access; /* monotonic ns of the last get (LRU) */
    uint64_t spill_off;           /* store only: offset in the spill file */
    _Atomic uint64_t pins[STORE_PIN_WORDS]; /* bit c: client c pins it */
} store_slot;
_Static_assert(sizeof(store_slot) == 128, "slot is 128 bytes");
_Static_assert(offsetof(store_slot, id) == 8, "slot id offset");
_Static_assert(offsetof(store_slot, offset) == 48, "slot offset offset");
_Static_assert(offsetof(store_slot, last_access) == 80, "slot lru offset");
_Static_assert(offsetof(store_slot, pins) == 96, "slot pins offset");

/* Counters the store publishes; clients read them lock-free. */
typedef struct store_counters {
    _Atomic uint64_t bytes_used;      /* reserved by live in-memory objects */
    _Atomic uint64_t bytes_spilled;   /* payload bytes in spill files */
    _Atomic uint64_t objects_creating;
    _Atomic uint64_t objects_sealed;  /* sealed and in memory */
    _Atomic uint64_t objects_spilled;
    _Atomic uint64_t evictions;       /* objects evicted, cumulative */
    _Atomic uint64_t spills;          /* objects spilled, cumulative */
    _Atomic uint64_t restores;        /* objects restored, cumulative */
    _Atomic uint64_t bytes_evicted;
    _Atomic uint64_t bytes_restored;
    _Atomic uint64_t bytes_committed; /* shared memory backed so far */
} store_counters;
_Static_assert(sizeof(store_counters) == 88, "counters layout");

/* The region header, at offset 0. */
typedef struct store_header {
    uint64_t magic;              /* STORE_MAGIC once initialised */
    uint32_t version;            /* STORE_LAYOUT_VERSION */
    uint32_t max_clients;        /* STORE_MAX_CLIENTS */
    uint64_t region_size;        /* whole memfd */
    uint64_t slots_off;          /* offset of slot[0] */
    uint64_t index_off;          /* offset of the index (uint32 entries) */
    uint64_t heap_off;           /* start of the payload heap */
    uint64_t heap_size;          /* bytes of heap */
    uint32_t nslots;             /* number of slots */
    uint32_t index_mask;         /* index entries - 1 (power of two) */
    alignas(64) _Atomic uint64_t table_seq; /* seqlock: odd while the
                                               index is being changed */
    alignas(64) _Atomic uint32_t seal_seq;  /* futex word: +1 per seal,
                                               abort, delete, restore */
    _Atomic uint32_t seal_waiters;          /* processes in futex_wait */
    alignas(64) store_counters counters;
} store_header;
_Static_assert(sizeof(store_header) <= STORE_HEADER_SIZE, "header fits");
_Static_assert(offsetof(store_header, table_seq) == 64, "seq offset");
_Static_assert(offsetof(store_header, seal_seq) == 128, "seal offset");

/* Layout helpers. */
static inline store_slot *
store_layout_slots(store_header *h)
{
    return (store_slot *)((uint8_t *)h + h->slots_off);
}

static inline _Atomic uint32_t *
store_layout_index(store_header *h)
{
    return (_Atomic uint32_t *)((uint8_t *)h + h->index_off);
}

/* Copy an ID into a slot / compare a slot's ID (relaxed atomics: the slot
 * may be reused under a lock-free reader, who re-checks after pinning). */
static inline void
store_slot_set_id(store_slot *s, const store_object_id *id)
{
    uint32_t w[7];
    memcpy(w, id->b, sizeof w);
    for (int i = 0; i < 7; i++)
        atomic_store_explicit(&s->id[i], w[i], memory_order_relaxed);
}

static inline int
store_slot_id_eq(store_slot *s, const store_object_id *id)
{
    uint32_t w[7];
    memcpy(w, id->b, sizeof w);
    for (int i = 0; i < 7; i++)
        if (atomic_load_explicit(&s->id[i], memory_order_relaxed) != w[i])
            return 0;
    return 1;
}

static inline void
store_slot_get_id(store_slot *s, store_object_id *out)
{
    uint32_t w[7];
    for (int i = 0; i < 7; i++)
        w[i] = atomic_load_explicit(&s->id[i], memory_order_relaxed);
    memcpy(out->b, w, sizeof w);
}

#endif /* RAY_OBJECTSTORE_LAYOUT_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * layout.h: the byte layout of a node's shared object-store region.
 *
 * One memfd holds, in order: a 4 KiB header, the hash index (slot numbers,
 * open addressing), a 4 KiB page of words clients write (the seal futex),
 * the object slots (fixed-size records, one per object) and the heap that
 * the jemalloc arena carves payloads from. The store process and every
 * client map the same fd, so everything here is written for processes that
 * may die at any instant: fixed-width fields, C11 atomics for anything a
 * client touches, _Static_assert on every layout.
 *
 * Who writes what:
 *   - the store (under its mutex) writes the header, the index (inside the
 *     table seqlock) and the published fields of each slot; it moves slots
 *     between states with CAS;
 *   - a client sets and clears its own bit in a slot's `pins` bitmap (the
 *     get/release fast path), flips its own CREATING slot to SEALED, stores
 *     `last_access` and bumps the seal futex word in the shared page.
 * Clients map [0, shared_off) (header and index) read-only, so a stray
 * write there faults in the client instead of corrupting every process's
 * view of the table. The slots and the heap stay writable: the pin and
 * seal handshakes need the slots, and creators write their payloads.
 *
 * Nothing a client can write is trusted by the store: it keeps its own
 * private copy of every slot's location, sizes, owner and state
 * (store_int.h, store_meta) and only *publishes* them in the slot; a
 * scribbled slot can confuse readers of that object but never make the
 * store free, read or write outside what it allocated. Clients in turn
 * bounds-check every location they read from a slot before building a
 * view (client.c).
 *
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
#define STORE_LAYOUT_VERSION 3u
#define STORE_MAX_CLIENTS 256u
#define STORE_PIN_WORDS (STORE_MAX_CLIENTS / 64u)
#define STORE_HEADER_SIZE 4096u
#define STORE_SHARED_SIZE 4096u

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
#define STORE_OBJ_SECONDARY                                                    \
    1u /* a copy of an object whose primary is elsewhere:                      \
          evicted, never spilled */

/* One object. 128 bytes, two cache lines. The store writes the published
 * fields before it moves `state` (seq_cst), so a reader that pinned a
 * SEALED slot sees them; it never reads them back (its copy is private). */
typedef struct store_slot {
    _Atomic uint32_t state;   /* enum store_slot_state */
    _Atomic uint32_t gen;     /* bumped each time the slot is reused */
    _Atomic uint32_t id[7];   /* the object ID, as words (read lock-free) */
    _Atomic uint32_t creator; /* client index that created it */
    uint32_t flags;           /* published: STORE_OBJ_* */
    uint32_t reserved0;
    uint64_t offset;    /* published: payload offset from the
                           region start (0 while spilled) */
    uint64_t data_size; /* published: payload bytes */
    uint64_t meta_size; /* published: metadata bytes after data */
    uint64_t reserved1;
    _Atomic uint64_t last_access; /* monotonic ns of the last get (LRU) */
    uint64_t reserved2;
    _Atomic uint64_t pins[STORE_PIN_WORDS]; /* bit c: client c pins it */
} store_slot;
_Static_assert(sizeof(store_slot) == 128, "slot is 128 bytes");
_Static_assert(offsetof(store_slot, id) == 8, "slot id offset");
_Static_assert(offsetof(store_slot, offset) == 48, "slot offset offset");
_Static_assert(offsetof(store_slot, last_access) == 80, "slot lru offset");
_Static_assert(offsetof(store_slot, pins) == 96, "slot pins offset");

/* The one page of words every client writes: the seal futex. */
typedef struct store_shared {
    _Atomic uint32_t seal_seq;     /* futex word: +1 per seal, abort,
                                      delete, restore */
    _Atomic uint32_t seal_waiters; /* processes in futex_wait */
} store_shared;
_Static_assert(sizeof(store_shared) <= STORE_SHARED_SIZE, "shared fits");

/* The region header, at offset 0. Written by the store only (clients map
 * it read-only); each process copies the geometry once, after checking
 * it (store_table_valid), and never re-reads it. */
typedef struct store_header {
    uint64_t magic;       /* STORE_MAGIC once initialised */
    uint32_t version;     /* STORE_LAYOUT_VERSION */
    uint32_t max_clients; /* STORE_MAX_CLIENTS */
    uint64_t region_size; /* whole memfd */
    uint64_t index_off;   /* offset of the index (uint32 entries) */
    uint64_t shared_off;  /* the shared page: the first byte clients
                             may write */
    uint64_t slots_off;   /* offset of slot[0] */
    uint64_t heap_off;    /* start of the payload heap */
    uint64_t heap_size;   /* bytes of heap */
    uint32_t nslots;      /* number of slots */
    uint32_t index_mask;  /* index entries - 1 (power of two) */
    alignas(64) _Atomic uint64_t table_seq; /* seqlock: odd while the
                                               index is being changed */
    /* Per client index: even while a client holds the index (the value
     * it read at connect), odd while the index is free or being taken
     * back from an idle client. A client re-reads its word after setting
     * a pin bit; the store marks it odd before it scans that client's
     * pins (the Dekker handshake again): so the store never takes back an
     * index that still pins something, and a client never pins through
     * an index it lost. */
    alignas(64) _Atomic uint32_t client_epoch[STORE_MAX_CLIENTS];
} store_header;
_Static_assert(sizeof(store_header) <= STORE_HEADER_SIZE, "header fits");
_Static_assert(offsetof(store_header, table_seq) == 128, "seq offset");
_Static_assert(offsetof(store_header, client_epoch) == 192, "epoch offset");

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

/* SPDX-License-Identifier: Apache-2.0
 *
 * table.h: the object table inside the shared region.
 *
 * Slots (layout.h) hold objects; a power-of-two index of uint32 entries
 * (slot number + 1, 0 = empty) maps IDs to slots by linear probing with
 * backward-shift deletion. Only the store changes the index, under its
 * mutex, inside a seqlock (header.table_seq), so any process can look an
 * ID up without a lock: a hit is confirmed by pinning the slot and
 * re-reading its ID, a miss by an unchanged even sequence number.
 *
 * Every process reaches the table through a store_table: pointers and
 * sizes computed once from a header it checked (store_table_valid), kept
 * in its own memory, so nothing written into the region later (by a
 * faulty client) can send a lookup outside the mapping. Every index entry
 * is bounds-checked before it is used as a slot number.
 *
 * The pin handshake and the seal notification (a futex in the shared
 * page) live here too because clients and the store share them.
 */
#ifndef RAY_OBJECTSTORE_TABLE_H
#define RAY_OBJECTSTORE_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "objectstore/layout.h"

/* Where the parts of a region go for a given capacity and slot count. */
typedef struct store_geometry {
    uint64_t region_size;
    uint64_t index_off;
    uint32_t index_size; /* entries, power of two >= 2 * nslots */
    uint32_t nslots;
    uint64_t shared_off;
    uint64_t slots_off;
    uint64_t heap_off;
    uint64_t heap_size;
} store_geometry;

/* A process's private view of a region's table (see above). */
typedef struct store_table {
    store_header *hdr;       /* table_seq; read-only in clients */
    _Atomic uint32_t *index; /* read-only in clients */
    store_shared *shared;    /* the seal futex */
    store_slot *slots;
    uint32_t nslots;
    uint32_t mask; /* index entries - 1 */
} store_table;

/* Compute the layout of a region whose heap holds `capacity` bytes with
 * `nslots` slots; the header and table come on top of the capacity. */
void store_table_geometry(uint64_t capacity, uint32_t nslots,
                          store_geometry *g);

/* Initialise a fresh (zeroed) region's header. Store only, once. */
void store_table_init(store_header *h, const store_geometry *g);

/* True if `h` looks like a region this code understands, every part of
 * it inside `mapped_size` bytes, the client-writable part page-aligned
 * after the header and index. */
bool store_table_valid(const store_header *h, uint64_t mapped_size);

/* Fill `t` for the region mapped at `base` (whose header passed
 * store_table_valid): the geometry is copied, never read again. */
void store_table_attach(store_table *t, uint8_t *base);

/* The hash of an ID (its home in the index is hash & mask). */
uint64_t store_table_hash(const store_object_id *id);

/* Look `id` up without a lock. Returns the slot number (< t->nslots), or
 * -1 if the ID is not in the index. A returned slot may change under the
 * caller until it is pinned; re-check its ID after store_slot_try_pin. */
int64_t store_table_find(const store_table *t, const store_object_id *id);

/* Add slot `slot` to the index at the home of `hash`. Store only, under
 * the store mutex. False if the index has no empty entry (only a region
 * overwritten from outside the store can do that). */
bool store_table_insert(const store_table *t, uint32_t slot, uint64_t hash);

/* Remove slot `slot` from the index. `home[n]` is the hash the store
 * inserted slot n with (its private copy: the IDs in the slots are
 * client-writable). Store only, under the mutex. */
void store_table_remove(const store_table *t, uint32_t slot,
                        const uint32_t *home);

/* Pin: set client `c`'s bit in `s` and confirm the slot is SEALED and
 * still holds `id`. On failure the bit is cleared again (unless it was
 * already set: the caller already held a pin) and the state seen is put
 * in *state (may be NULL). */
bool store_slot_try_pin(store_slot *s, uint32_t c, const store_object_id *id,
                        uint32_t *state);

/* store_slot_pin_checked's answers. */
enum { STORE_PIN_OK, STORE_PIN_NO, STORE_PIN_REVOKED };

/* store_slot_try_pin for a client that may lose its index (layout.h,
 * client_epoch): after setting its bit, also confirm that `*epoch_word`
 * still holds `epoch`. STORE_PIN_OK: pinned. STORE_PIN_NO: the slot is
 * not SEALED with `id` (*state says what it was). STORE_PIN_REVOKED: the
 * index is not the caller's any more (or is being taken back). On
 * failure the bit is cleared only if this call set it: a bit that was
 * set before may belong to the index's new owner. */
int store_slot_pin_checked(store_slot *s, uint32_t c, const store_object_id *id,
                           _Atomic uint32_t *epoch_word, uint32_t epoch,
                           uint32_t *state);

/* Set client `c`'s bit unconditionally (store only, or the creator). */
void store_slot_pin(store_slot *s, uint32_t c);

/* Clear client `c`'s bit. */
void store_slot_unpin(store_slot *s, uint32_t c);

/* Clear every bit (store only, when it hands out a free slot). */
void store_slot_unpin_all(store_slot *s);

/* True if any client pins `s`. */
bool store_slot_pinned(store_slot *s);

/* Store only: move `s` from state `from` to STORE_SLOT_BUSY if no client
 * pins it. Returns false (state unchanged) if pinned or not in `from`. */
bool store_slot_claim(store_slot *s, uint32_t from);

/* Publish a change readers may wait for (seal, abort, delete, restore):
 * bump the seal futex word and wake waiters. */
void store_table_notify(const store_table *t);

/* Current seal sequence number (read before looking objects up). */
uint32_t store_table_seal_seq(const store_table *t);

/* Sleep until the seal sequence differs from `seen` or `deadline_ns`
 * passes (at most `cap_ms` ms at a time). False if the deadline passed. */
bool store_table_wait(const store_table *t, uint32_t seen, int64_t deadline_ns,
                      int cap_ms);

#endif /* RAY_OBJECTSTORE_TABLE_H */

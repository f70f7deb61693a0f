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
 * The pin handshake and the seal notification (a futex on seal_seq) live
 * here too because clients and the store share them.
 */
#ifndef RAY_OBJECTSTORE_TABLE_H
#define RAY_OBJECTSTORE_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "objectstore/layout.h"

/* Where the parts of a region go for a given capacity and slot count. */
typedef struct store_geometry {
    uint64_t region_size;
    uint64_t slots_off;
    uint64_t index_off;
    uint32_t index_size; /* entries, power of two >= 2 * nslots */
    uint32_t nslots;
    uint64_t heap_off;
    uint64_t heap_size;
} store_geometry;

/* Compute the layout of a region whose heap holds `capacity` bytes with
 * `nslots` slots; the header and table come on top of the capacity. */
void store_table_geometry(uint64_t capacity, uint32_t nslots,
                          store_geometry *g);

/* Initialise a fresh (zeroed) region's header. Store only, once. */
void store_table_init(store_header *h, const store_geometry *g);

/* True if `h` looks like a region this code understands. */
bool store_table_valid(const store_header *h, uint64_t mapped_size);

/* Look `id` up without a lock. Returns the slot number, or -1 if the ID
 * is not in the index. A returned slot may change under the caller until
 * it is pinned; re-check its ID after store_slot_try_pin. */
int64_t store_table_find(store_header *h, const store_object_id *id);

/* Add slot `slot` (its ID already written) to the index. Store only,
 * under the store mutex. */
void store_table_insert(store_header *h, uint32_t slot);

/* Remove slot `slot` from the index. Store only, under the mutex. */
void store_table_remove(store_header *h, uint32_t slot);

/* Pin: set client `c`'s bit in `s` and confirm the slot is SEALED and
 * still holds `id`. On failure the bit is cleared again (unless it was
 * already set: the caller already held a pin) and the state seen is put
 * in *state (may be NULL). */
bool store_slot_try_pin(store_slot *s, uint32_t c, const store_object_id *id,
                        uint32_t *state);

/* Set client `c`'s bit unconditionally (store only, or the creator). */
void store_slot_pin(store_slot *s, uint32_t c);

/* Clear client `c`'s bit. */
void store_slot_unpin(store_slot *s, uint32_t c);

/* True if any client pins `s`. */
bool store_slot_pinned(store_slot *s);

/* Store only: move `s` from state `from` to STORE_SLOT_BUSY if no client
 * pins it. Returns false (state unchanged) if pinned or not in `from`. */
bool store_slot_claim(store_slot *s, uint32_t from);

/* Publish a change readers may wait for (seal, abort, delete, restore):
 * bump seal_seq and wake waiters. */
void store_table_notify(store_header *h);

/* Current seal sequence number (read before looking objects up). */
uint32_t store_table_seal_seq(store_header *h);

/* Sleep until seal_seq differs from `seen` or `deadline_ns` passes (at
 * most `cap_ms` ms at a time). Returns false if the deadline passed. */
bool store_table_wait(store_header *h, uint32_t seen, int64_t deadline_ns,
                      int cap_ms);

#endif /* RAY_OBJECTSTORE_TABLE_H */

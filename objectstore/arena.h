/* SPDX-License-Identifier: Apache-2.0
 *
 * arena.h: a jemalloc arena that allocates only inside a given memory
 * range (the object store's shared heap).
 *
 * The arena's extent hooks carve extents from the range with a bump
 * pointer; jemalloc keeps every extent it gets (dalloc, decommit and purge
 * are refused, decay is off), splits and merges them itself and reuses
 * freed space, so pages once touched stay mapped and warm. All calls take
 * the caller's lock discipline: the arena itself is thread-safe (jemalloc
 * locks internally; the bump pointer has its own mutex), but the object
 * store calls it only under its own mutex. jemalloc's bookkeeping for the
 * arena lives in private memory, not in the range: whatever is written
 * into the range (by clients that map it) cannot corrupt the allocator.
 */
#ifndef RAY_OBJECTSTORE_ARENA_H
#define RAY_OBJECTSTORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

typedef struct store_arena store_arena;

/* Create an arena over [base, base + size). `base` must be page aligned.
 * The range must stay mapped until store_arena_destroy. Returns
 * RAY_ENOMEM or RAY_EINTERNAL (mallctl failed) on failure. */
ray_err store_arena_create(void *base, size_t size, store_arena **out);

/* Destroy the arena (every allocation is discarded). NULL is fine. */
void store_arena_destroy(store_arena *a);

/* Allocate `size` bytes (64-byte aligned) inside the range, or NULL when
 * the range has no room left. *usable gets the bytes really reserved. */
void *store_arena_alloc(store_arena *a, size_t size, size_t *usable);

/* Free a pointer from store_arena_alloc. */
void store_arena_free(store_arena *a, void *p);

/* Bytes of the range handed to jemalloc so far (bump pointer). */
size_t store_arena_mapped(const store_arena *a);

/* Bytes of the range never handed to jemalloc. */
size_t store_arena_untouched(const store_arena *a);

#endif /* RAY_OBJECTSTORE_ARENA_H */

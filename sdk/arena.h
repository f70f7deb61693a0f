/* SPDX-License-Identifier: Apache-2.0
 *
 * arena.h: the driver's allocator for large task arguments in shared
 * memory.
 *
 * Arguments above SDK_ARG_INLINE_MAX do not travel inside ring records:
 * the driver copies them once into an arena at the end of the runtime's
 * memfd, which every worker maps, and the task record carries the offset.
 * The worker reads them in place. Blocks are page-granular extents kept in
 * a sorted free list (first fit, coalescing on free); only the driver
 * allocates and frees, so the metadata is process-local and guarded by
 * the runtime lock. Freed blocks of 1 MiB or more are hole-punched so the
 * memory goes back to the system. Placeholder until the node's object
 * store (objectstore/) is wired in.
 */
#ifndef RAY_SDK_ARENA_H
#define RAY_SDK_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

#define SDK_ARG_INLINE_MAX (64u << 10)

typedef struct sdk_extent {
    uint64_t off;
    uint64_t len;
} sdk_extent;

typedef struct sdk_arena {
    uint64_t size;        /* bytes managed */
    sdk_extent *free;     /* sorted by offset, coalesced */
    size_t nfree, cap;
    uint64_t used;
    int memfd;            /* for hole punching; -1: none */
    uint64_t file_off;    /* where the arena starts in the memfd */
} sdk_arena;

/* An arena of `size` bytes at `file_off` in `memfd`. RAY_ENOMEM. */
ray_err sdk_arena_init(sdk_arena *a, uint64_t size, int memfd,
                       uint64_t file_off);

void sdk_arena_fini(sdk_arena *a);

/* A block of at least `len` bytes: RAY_OK with *off; RAY_EAGAIN when it
 * does not fit now (retry after frees); RAY_ETOOBIG when it never can;
 * RAY_ENOMEM. */
ray_err sdk_arena_alloc(sdk_arena *a, uint64_t len, uint64_t *off);

/* Free a block from sdk_arena_alloc (same `len`). */
void sdk_arena_free(sdk_arena *a, uint64_t off, uint64_t len);

#endif /* RAY_SDK_ARENA_H */

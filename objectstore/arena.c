/* SPDX-License-Identifier: Apache-2.0
 *
 * arena.c: jemalloc extent hooks over the object store's shared heap.
 *
 * jemalloc asks the hooks for extents (page multiples, sometimes with a
 * large alignment such as 2 MiB for its own metadata blocks) and gives
 * them back only through the hooks we let succeed. We let alloc carve from
 * a bump pointer, let split and merge succeed (the range is contiguous, so
 * any two adjacent extents of it may merge), report commit as done, and
 * refuse dalloc, decommit and both purges: jemalloc then retains every
 * extent and reuses it for later allocations, which is what keeps the
 * heap warm (a purge would return pages to tmpfs and the next put would
 * fault them in at first-touch speed). Decay is immediate, so freed
 * extents go straight to jemalloc's retained set (see store_arena_create
 * for why that matters for fragmentation).
 *
 * jemalloc's own metadata for the arena (extent records, slab bitmaps) is
 * kept out of the shared heap: the arena is created with
 * experimental.arenas_create_ext and metadata_use_hooks = false, so its
 * base allocations come from the process's private memory. The heap is
 * mapped writable by every client; metadata there would let a faulty
 * client corrupt the store's allocator and crash it. (A jemalloc without
 * that mallctl gets a plain arenas.create and a warning.)
 *
 * The hooks table is the first member of struct store_arena, which lives
 * until after `arena.<i>.destroy` has returned, as jemalloc requires.
 * Allocations use MALLOCX_ARENA(i) | MALLOCX_TCACHE_NONE so nothing from
 * the shared heap lingers in a thread cache.
 */
#include "objectstore/arena.h"

#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/log.h"

struct store_arena {
    extent_hooks_t hooks; /* must stay first: hooks point back to us */
    bool meta_private;    /* jemalloc metadata outside the range */
    pthread_mutex_t mu;   /* guards bump */
    uint8_t *base;        /* start of the range; immutable */
    size_t size;          /* bytes in the range; immutable */
    size_t bump;          /* bytes handed out; guarded by mu */
    unsigned ind;         /* jemalloc arena index; immutable */
    int flags;            /* mallocx flags; immutable */
};

/* ------------------------------------------------------------------ */
/* Extent hooks                                                        */
/* ------------------------------------------------------------------ */

static store_arena *
arena_of(extent_hooks_t *h)
{
    return (store_arena *)h;
}

static void *
hook_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t alignment,
           bool *zero, bool *commit, unsigned arena_ind)
{
    store_arena *a = arena_of(h);
    void *ret = NULL;
    if (alignment == 0)
        alignment = 4096;
    pthread_mutex_lock(&a->mu);
    uintptr_t start = (uintptr_t)a->base + a->bump;
    uintptr_t aligned = (start + alignment - 1) & ~(uintptr_t)(alignment - 1);
    if (new_addr != NULL && (uintptr_t)new_addr != aligned)
        goto out;
    uintptr_t end = (uintptr_t)a->base + a->size;
    if (aligned > end || size > end - aligned)
        goto out;
    /* The padding skipped for alignment is lost: jemalloc asks for large
     * alignments only for its few metadata blocks. */
    a->bump = aligned + size - (uintptr_t)a->base;
    ret = (void *)aligned;
    /* A memfd's pages start zeroed, and each is handed out only once. */
    *zero = true;
    *commit = true;
out:
    pthread_mutex_unlock(&a->mu);
    return ret;
}

static bool
hook_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed,
            unsigned arena_ind)
{
    return true; /* refuse: jemalloc retains the extent for reuse */
}

static void
hook_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed,
             unsigned arena_ind)
{
    /* The whole range goes away with the store; nothing to do. */
}

static bool
hook_commit(extent_hooks_t *h, void *addr, size_t size, size_t offset,
            size_t length, unsigned arena_ind)
{
    return false; /* always committed: success */
}

static bool
hook_decommit(extent_hooks_t *h, void *addr, size_t size, size_t offset,
              size_t length, unsigned arena_ind)
{
    return true; /* refuse: pages stay committed and warm */
}

static bool
hook_purge(extent_hooks_t *h, void *addr, size_t size, size_t offset,
           size_t length, unsigned arena_ind)
{
    return true; /* refuse */
}

static bool
hook_split(extent_hooks_t *h, void *addr, size_t size, size_t size_a,
           size_t size_b, bool committed, unsigned arena_ind)
{
    return false; /* any part of the range may be split */
}

static bool
hook_merge(extent_hooks_t *h, void *addr_a, size_t size_a, void *addr_b,
           size_t size_b, bool committed, unsigned arena_ind)
{
    store_arena *a = arena_of(h);
    uint8_t *pa = addr_a, *pb = addr_b;
    /* Both halves come from our range, which is one mapping. */
    if (pa < a->base || pb + size_b > a->base + a->size)
        return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* Private helpers                                                     */
/* ------------------------------------------------------------------ */

/* Bytes kept back from the preseed for jemalloc's own metadata blocks
 * (2 MiB aligned, 2 MiB or more each; the first is already taken), when
 * they come from the range at all. */
static size_t
metadata_reserve(const store_arena *a, size_t size)
{
    if (a->meta_private || size < (64u << 20))
        return 0;
    size_t r = size / 32;
    if (r < (4u << 20))
        r = 4u << 20;
    if (r > (32u << 20))
        r = 32u << 20;
    return r;
}

/* Hand (almost) the whole range to jemalloc at once: allocate the largest
 * blocks that fit until the range is used up, then free them all. The
 * freed extents coalesce into a few large dirty extents that jemalloc
 * splits with best fit from then on. Without this, retain-mode growth
 * carves geometrically growing chunks whose tails are too small for the
 * next request, losing several MiB on a small store. */
static void
preseed(store_arena *a)
{
    enum { MAX_BLOCKS = 64 };
    void *held[MAX_BLOCKS];
    int n = 0;
    size_t reserve = metadata_reserve(a, a->size);
    while (n < MAX_BLOCKS) {
        size_t left = store_arena_untouched(a);
        if (left <= reserve + (64u << 10))
            break;
        size_t want = left - reserve;
        void *p = NULL;
        while (want >= (64u << 10)) {
            p = mallocx(want, a->flags);
            if (p)
                break;
            want -= want / 32 + 4096;
        }
        if (!p)
            break;
        held[n++] = p;
    }
    for (int i = 0; i < n; i++)
        dallocx(held[i], a->flags);
}

/* ------------------------------------------------------------------ */
/* API                                                                 */
/* ------------------------------------------------------------------ */

static ray_err
set_arena_ssize(unsigned ind, const char *leaf, ssize_t v)
{
    char name[64];
    snprintf(name, sizeof name, "arena.%u.%s", ind, leaf);
    if (mallctl(name, NULL, NULL, &v, sizeof v) != 0)
        return RAY_EINTERNAL;
    return RAY_OK;
}

ray_err
store_arena_create(void *base, size_t size, store_arena **out)
{
    store_arena *a = rt_calloc(1, sizeof *a);
    if (!a)
        return RAY_ENOMEM;
    a->hooks = (extent_hooks_t){
        .alloc = hook_alloc,
        .dalloc = hook_dalloc,
        .destroy = hook_destroy,
        .commit = hook_commit,
        .decommit = hook_decommit,
        .purge_lazy = hook_purge,
        .purge_forced = hook_purge,
        .split = hook_split,
        .merge = hook_merge,
    };
    pthread_mutex_init(&a->mu, NULL);
    a->base = base;
    a->size = size;
    /* jemalloc's arena_config_t (5.3): the hooks, and whether its own
     * metadata comes from them too. */
    struct {
        extent_hooks_t *extent_hooks;
        bool metadata_use_hooks;
    } conf = {&a->hooks, false};
    size_t sz = sizeof a->ind;
    a->meta_private = mallctl("experimental.arenas_create_ext", &a->ind, &sz,
                              &conf, sizeof conf) == 0;
    if (!a->meta_private) {
        extent_hooks_t *hp = &a->hooks;
        sz = sizeof a->ind;
        if (mallctl("arenas.create", &a->ind, &sz, &hp, sizeof hp) != 0) {
            pthread_mutex_destroy(&a->mu);
            rt_free(a);
            return RAY_EINTERNAL;
        }
        RT_WARN("object store arena %u: this jemalloc keeps the arena's "
                "metadata in the shared heap (no "
                "experimental.arenas_create_ext)",
                a->ind);
    }
    a->flags = (int)MALLOCX_ARENA(a->ind) | MALLOCX_TCACHE_NONE;
    /* Decay at once: a freed extent is "purged" immediately, every purge
     * hook refuses (the pages stay resident and warm), so jemalloc files
     * the extent as retained. Retained extents coalesce at once and are
     * reused by best fit with no size-ratio limit; extents left dirty
     * would be skipped for any request 64 times smaller than them
     * (opt.lg_extent_max_active_fit), so a big free extent could not
     * serve small objects. */
    if (set_arena_ssize(a->ind, "dirty_decay_ms", 0) != RAY_OK ||
        set_arena_ssize(a->ind, "muzzy_decay_ms", 0) != RAY_OK)
        RT_WARN("object store arena %u: cannot set decay", a->ind);
    preseed(a);
    *out = a;
    return RAY_OK;
}

void
store_arena_destroy(store_arena *a)
{
    if (!a)
        return;
    char name[64];
    snprintf(name, sizeof name, "arena.%u.destroy", a->ind);
    if (mallctl(name, NULL, NULL, NULL, 0) != 0)
        RT_WARN("object store arena %u: destroy failed", a->ind);
    pthread_mutex_destroy(&a->mu);
    rt_free(a);
}

void *
store_arena_alloc(store_arena *a, size_t size, size_t *usable)
{
    if (size == 0)
        size = 1;
    void *p = mallocx(size, a->flags | MALLOCX_ALIGN(64));
    if (p && usable)
        *usable = sallocx(p, a->flags);
    return p;
}

void
store_arena_free(store_arena *a, void *p)
{
    if (p)
        dallocx(p, a->flags);
}

size_t
store_arena_mapped(const store_arena *a)
{
    store_arena *m = (store_arena *)a;
    pthread_mutex_lock(&m->mu);
    size_t b = m->bump;
    pthread_mutex_unlock(&m->mu);
    return b;
}

size_t
store_arena_untouched(const store_arena *a)
{
    return a->size - store_arena_mapped(a);
}

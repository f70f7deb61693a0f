/* SPDX-License-Identifier: Apache-2.0
 *
 * arena.c: first-fit extent allocator for the shared argument arena.
 */
#include "sdk/arena.h"

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>

#include "runtime/alloc.h"

#define PAGE 4096u

static uint64_t
round_up(uint64_t n)
{
    return (n + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

ray_err
sdk_arena_init(sdk_arena *a, uint64_t size, int memfd, uint64_t file_off)
{
    memset(a, 0, sizeof(*a));
    a->size = size & ~(uint64_t)(PAGE - 1);
    a->memfd = memfd;
    a->file_off = file_off;
    a->cap = 16;
    a->free = rt_malloc(a->cap * sizeof(sdk_extent));
    if (!a->free)
        return RAY_ENOMEM;
    if (a->size) {
        a->free[0] = (sdk_extent){0, a->size};
        a->nfree = 1;
    }
    return RAY_OK;
}

void
sdk_arena_fini(sdk_arena *a)
{
    rt_free(a->free);
    memset(a, 0, sizeof(*a));
}

ray_err
sdk_arena_alloc(sdk_arena *a, uint64_t len, uint64_t *off)
{
    uint64_t need = round_up(len ? len : 1);
    if (need > a->size)
        return RAY_ETOOBIG;
    for (size_t i = 0; i < a->nfree; i++) {
        sdk_extent *e = &a->free[i];
        if (e->len < need)
            continue;
        *off = e->off;
        e->off += need;
        e->len -= need;
        if (e->len == 0) {
            memmove(e, e + 1, (a->nfree - i - 1) * sizeof(*e));
            a->nfree--;
        }
        a->used += need;
        return RAY_OK;
    }
    return RAY_EAGAIN;
}

void
sdk_arena_free(sdk_arena *a, uint64_t off, uint64_t len)
{
    uint64_t n = round_up(len ? len : 1);
    a->used -= n;
    if (n >= (1u << 20) && a->memfd >= 0)
        fallocate(a->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)(a->file_off + off), (off_t)n);
    size_t i = 0;
    while (i < a->nfree && a->free[i].off < off)
        i++;
    /* Merge with the previous and/or the next extent. */
    bool prev = i > 0 && a->free[i - 1].off + a->free[i - 1].len == off;
    bool next = i < a->nfree && off + n == a->free[i].off;
    if (prev && next) {
        a->free[i - 1].len += n + a->free[i].len;
        memmove(&a->free[i], &a->free[i + 1],
                (a->nfree - i - 1) * sizeof(sdk_extent));
        a->nfree--;
        return;
    }
    if (prev) {
        a->free[i - 1].len += n;
        return;
    }
    if (next) {
        a->free[i].off = off;
        a->free[i].len += n;
        return;
    }
    if (a->nfree == a->cap) {
        sdk_extent *nf = rt_realloc(a->free, 2 * a->cap * sizeof(*nf));
        if (!nf)
            return; /* the block is lost until shutdown; never corrupt */
        a->free = nf;
        a->cap *= 2;
    }
    memmove(&a->free[i + 1], &a->free[i], (a->nfree - i) * sizeof(sdk_extent));
    a->free[i] = (sdk_extent){off, n};
    a->nfree++;
}

/* SPDX-License-Identifier: Apache-2.0
 * Tests for objectstore/shm.c and objectstore/arena.c: the jemalloc arena
 * stays inside its range, reuses freed memory, reports exhaustion, and
 * keeps its own bookkeeping out of the range (garbage written over every
 * byte of it leaves the allocator working). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objectstore/arena.h"
#include "objectstore/shm.h"

TestSuite(store_arena, .timeout = 30);

#define MIB (1ull << 20)

typedef struct region {
    int fd;
    uint8_t *base;
    uint64_t size;
    store_arena *a;
} region;

static void
region_open(region *r, uint64_t size)
{
    r->size = size;
    cr_assert_eq(store_shm_create(size, &r->fd, NULL, 0), RAY_OK);
    void *p;
    cr_assert_eq(store_shm_map(r->fd, size, true, &p), RAY_OK);
    r->base = p;
    cr_assert_eq(store_arena_create(r->base, size, &r->a), RAY_OK);
}

static void
region_close(region *r)
{
    store_arena_destroy(r->a);
    store_shm_unmap(r->base, r->size);
    close(r->fd);
}

static int
inside(region *r, void *p, size_t n)
{
    return (uint8_t *)p >= r->base && (uint8_t *)p + n <= r->base + r->size;
}

Test(store_arena, default_capacity_is_sane)
{
    uint64_t c = store_shm_default_capacity();
    cr_assert_gt(c, 0);
    cr_assert_eq(c % (2 * MIB), 0);
}

Test(store_arena, allocations_stay_inside_the_region)
{
    region r;
    region_open(&r, 32 * MIB);
    size_t sizes[] = {1, 100, 4096, 70000, MIB, 3 * MIB + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t usable = 0;
        uint8_t *p = store_arena_alloc(r.a, sizes[i], &usable);
        cr_assert_not_null(p, "size %zu", sizes[i]);
        cr_assert(inside(&r, p, usable), "size %zu outside", sizes[i]);
        cr_assert_geq(usable, sizes[i]);
        cr_assert_eq((uintptr_t)p % 64, 0);
        memset(p, 0xab, sizes[i]); /* writable, pre-faulted */
    }
    region_close(&r);
}

Test(store_arena, exhaustion_returns_null_and_recovers_after_free)
{
    region r;
    region_open(&r, 16 * MIB);
    void *ptrs[64];
    int n = 0;
    while (n < 64 && (ptrs[n] = store_arena_alloc(r.a, MIB, NULL)) != NULL)
        n++;
    cr_assert_lt(n, 64, "16 MiB region never filled");
    cr_assert_geq(n, 12, "only %d MiB of 16 usable", n);
    cr_assert_null(store_arena_alloc(r.a, 20 * MIB, NULL));
    for (int i = 0; i < n; i++)
        store_arena_free(r.a, ptrs[i]);
    size_t mapped = store_arena_mapped(r.a);
    /* Everything freed is reused: the same amount fits again without the
     * bump pointer moving. */
    int m = 0;
    while (m < 64 && (ptrs[m] = store_arena_alloc(r.a, MIB, NULL)) != NULL)
        m++;
    cr_assert_geq(m, n);
    cr_assert_eq(store_arena_mapped(r.a), mapped);
    region_close(&r);
}

Test(store_arena, churn_keeps_most_of_the_capacity_usable)
{
    region r;
    region_open(&r, 64 * MIB);
    enum { LIVE = 256 };
    void *live[LIVE] = {0};
    unsigned seed = 42;
    for (int i = 0; i < 20000; i++) {
        int k = rand_r(&seed) % LIVE;
        store_arena_free(r.a, live[k]);
        size_t sz = 1 + (size_t)rand_r(&seed) % (128 * 1024);
        live[k] = store_arena_alloc(r.a, sz, NULL);
    }
    for (int k = 0; k < LIVE; k++)
        store_arena_free(r.a, live[k]);
    uint64_t got = 0;
    void *p;
    void **all = calloc(128, sizeof *all);
    int n = 0;
    while (n < 128 && (p = store_arena_alloc(r.a, MIB, NULL)) != NULL) {
        all[n++] = p;
        got += MIB;
    }
    cr_expect_geq((double)got / (double)r.size, 0.8, "usable after churn: %.3f",
                  (double)got / (double)r.size);
    for (int i = 0; i < n; i++)
        store_arena_free(r.a, all[i]);
    free(all);
    region_close(&r);
}

Test(store_arena, two_arenas_are_independent)
{
    region a, b;
    region_open(&a, 8 * MIB);
    region_open(&b, 8 * MIB);
    void *pa = store_arena_alloc(a.a, 4096, NULL);
    void *pb = store_arena_alloc(b.a, 4096, NULL);
    cr_assert(inside(&a, pa, 4096));
    cr_assert(inside(&b, pb, 4096));
    store_arena_free(a.a, pa);
    store_arena_free(b.a, pb);
    region_close(&a);
    region_close(&b);
}

Test(store_arena, garbage_over_the_whole_range_leaves_the_allocator_working)
{
    region r;
    region_open(&r, 32 * MIB);
    /* Small (slab) and large objects, as a store holds them. */
    size_t sizes[] = {8, 100, 3000, 20000, 70000, MIB, 2 * MIB + 5};
    enum { ROUNDS = 4, N = sizeof sizes / sizeof sizes[0] };
    void *p[ROUNDS][N];
    for (int k = 0; k < ROUNDS; k++)
        for (int i = 0; i < N; i++) {
            p[k][i] = store_arena_alloc(r.a, sizes[i], NULL);
            cr_assert_not_null(p[k][i]);
        }
    /* What a client that maps the heap writable could do to it. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint64_t off = 0; off + 8 <= r.size; off += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(r.base + off, &x, 8);
    }
    for (int k = 0; k < ROUNDS; k += 2)
        for (int i = 0; i < N; i++)
            store_arena_free(r.a, p[k][i]);
    for (int k = 0; k < ROUNDS; k += 2)
        for (int i = 0; i < N; i++) {
            size_t usable = 0;
            p[k][i] = store_arena_alloc(r.a, sizes[i], &usable);
            cr_assert_not_null(p[k][i]);
            cr_assert(inside(&r, p[k][i], usable));
        }
    for (int k = 0; k < ROUNDS; k++)
        for (int i = 0; i < N; i++)
            store_arena_free(r.a, p[k][i]);
    region_close(&r);
}

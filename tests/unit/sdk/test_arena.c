/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of sdk/arena.c: page rounding, first fit, coalescing, and
 * the "not now" (EAGAIN) versus "never" (ETOOBIG) answers. */
#include <criterion/criterion.h>

#include "sdk/arena.h"

TestSuite(arena, .timeout = 10);

Test(arena, first_fit_and_coalescing_restore_one_extent)
{
    sdk_arena a;
    cr_assert_eq(sdk_arena_init(&a, 64 * 4096, -1, 0), RAY_OK);
    uint64_t o[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(sdk_arena_alloc(&a, 4096 * 8 - 100, &o[i]), RAY_OK);
    cr_assert_eq(o[1] - o[0], 8 * 4096, "rounded to pages");
    uint64_t x;
    cr_assert_eq(sdk_arena_alloc(&a, 1, &x), RAY_EAGAIN, "full now");
    cr_assert_eq(sdk_arena_alloc(&a, 65 * 4096, &x), RAY_ETOOBIG, "never");
    /* Free in an order that exercises merge-prev, merge-next and both. */
    int order[8] = {1, 3, 2, 6, 5, 7, 0, 4};
    for (int i = 0; i < 8; i++)
        sdk_arena_free(&a, o[order[i]], 4096 * 8 - 100);
    cr_assert_eq(a.nfree, 1);
    cr_assert_eq(a.free[0].len, 64 * 4096);
    cr_assert_eq(a.used, 0);
    cr_assert_eq(sdk_arena_alloc(&a, 64 * 4096, &x), RAY_OK);
    cr_assert_eq(x, 0);
    sdk_arena_fini(&a);
}

Test(arena, many_holes_grow_the_free_list)
{
    sdk_arena a;
    cr_assert_eq(sdk_arena_init(&a, 256 * 4096, -1, 0), RAY_OK);
    uint64_t o[256];
    for (int i = 0; i < 256; i++)
        cr_assert_eq(sdk_arena_alloc(&a, 4096, &o[i]), RAY_OK);
    for (int i = 0; i < 256; i += 2)
        sdk_arena_free(&a, o[i], 4096);
    cr_assert_eq(a.nfree, 128);
    uint64_t x;
    cr_assert_eq(sdk_arena_alloc(&a, 8192, &x), RAY_EAGAIN, "fragmented");
    for (int i = 1; i < 256; i += 2)
        sdk_arena_free(&a, o[i], 4096);
    cr_assert_eq(a.nfree, 1);
    sdk_arena_fini(&a);
}

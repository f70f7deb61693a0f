/* SPDX-License-Identifier: Apache-2.0
 * Tests for objectstore/eviction.c and objectstore/spill.c: a full store
 * evicts unpinned secondary copies in LRU order, spills unpinned primary
 * copies to disk (fused into few files) and restores them transparently,
 * and fails with RAY_ESTORE_FULL only when pinned data leaves no room. */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/unit/objectstore/store_fixture.h"

#define MIB (1ull << 20)

static store_fixture fx;
static store_client *c;

static void
start(int spill)
{
    cr_assert_eq(fixture_start(&fx, 16 * MIB, 1024, spill), 0);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &c), RAY_OK);
}

static void
teardown(void)
{
    store_client_close(c);
    if (fx.srv)
        fixture_stop(&fx);
}

TestSuite(store_evict, .fini = teardown, .timeout = 30);
TestSuite(store_spill, .fini = teardown, .timeout = 30);

static int
got(uint64_t n)
{
    store_object_id id = fixture_id(n);
    store_buffer b;
    if (store_client_get(c, &id, 1, 0, &b) != RAY_OK)
        return 0;
    int ok = fixture_check(b.data, b.data_size, n);
    store_client_release(c, &id);
    return ok ? 1 : -1;
}

Test(store_evict, full_store_evicts_lru_secondary_copies)
{
    start(0);
    int n = 0;
    /* Fill with 1 MiB secondary copies. */
    for (; n < 12; n++)
        cr_assert_eq(fixture_put(c, (uint64_t)n, MIB, STORE_CREATE_SECONDARY, 1),
                     RAY_OK, "put %d: %s", n, store_client_last_error(c));
    /* Touch object 0 so it is the most recently used. */
    cr_assert_eq(got(0), 1);
    for (; n < 40; n++)
        cr_assert_eq(fixture_put(c, (uint64_t)n, MIB, STORE_CREATE_SECONDARY, 1),
                     RAY_OK, "put %d: %s", n, store_client_last_error(c));
    store_stats st;
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_geq(st.evictions, 24);
    cr_assert_eq(got(1), 0, "LRU object 1 should be evicted");
    cr_assert_eq(got(39), 1, "newest object must be there");
    cr_assert_leq(st.bytes_used, st.capacity);
}

Test(store_evict, pinned_objects_are_never_evicted_and_full_is_loud)
{
    start(0);
    int n = 0;
    ray_err rc = RAY_OK;
    /* Keep every creator pin: nothing can be evicted or spilled. */
    for (; n < 40 && rc == RAY_OK; n++)
        rc = fixture_put(c, (uint64_t)n, MIB, STORE_CREATE_SECONDARY, 0);
    cr_assert_eq(rc, RAY_ESTORE_FULL);
    cr_assert_gt(n, 8);
    const char *msg = store_client_last_error(c);
    cr_assert_neq(strstr(msg, "pinned"), NULL, "message: %s", msg);
    for (int i = 0; i < n - 1; i++)
        cr_assert_eq(got((uint64_t)i), 1, "pinned object %d lost", i);
    store_stats st;
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_eq(st.evictions, 0);
}

Test(store_evict, primary_without_spill_dir_is_store_full)
{
    start(0);
    ray_err rc = RAY_OK;
    int n = 0;
    for (; n < 40 && rc == RAY_OK; n++)
        rc = fixture_put(c, (uint64_t)n, MIB, 0, 1);
    cr_assert_eq(rc, RAY_ESTORE_FULL, "primary copies must not be evicted");
    for (int i = 0; i < n - 1; i++)
        cr_assert_eq(got((uint64_t)i), 1, "object %d lost", i);
}

Test(store_spill, full_store_spills_and_get_restores_transparently)
{
    start(1);
    enum { N = 40 };
    for (int n = 0; n < N; n++)
        cr_assert_eq(fixture_put(c, (uint64_t)n, MIB, 0, 1), RAY_OK,
                     "put %d: %s", n, store_client_last_error(c));
    store_stats st;
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_geq(st.spills, N - 14);
    cr_assert_geq(st.objects_spilled, 1);
    cr_assert_geq(st.bytes_spilled, st.objects_spilled * MIB);
    int files = fixture_spill_files(&fx);
    cr_assert_gt(files, 0);
    cr_assert_lt((uint64_t)files, st.spills, "small objects were not fused");
    /* Every object comes back with its bytes, spilled or not. */
    for (int n = 0; n < N; n++)
        cr_assert_eq(got((uint64_t)n), 1, "object %d", n);
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_gt(st.restores, 0);
    /* Delete everything: memory and spill files are all gone. */
    for (int n = 0; n < N; n++) {
        store_object_id id = fixture_id((uint64_t)n);
        cr_assert_eq(store_client_delete(c, &id), RAY_OK, "delete %d", n);
    }
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_eq(st.objects_spilled, 0);
    cr_assert_eq(st.bytes_spilled, 0);
    cr_assert_eq(st.bytes_used, 0);
    cr_assert_eq(fixture_spill_files(&fx), 0);
}

Test(store_spill, spilled_object_is_contained_and_deletable)
{
    start(1);
    for (int n = 0; n < 30; n++)
        cr_assert_eq(fixture_put(c, (uint64_t)n, MIB, 0, 1), RAY_OK);
    store_object_id id0 = fixture_id(0);
    cr_assert(store_client_contains(c, &id0), "spilled object not contained");
    store_stats st;
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_gt(st.objects_spilled, 0);
    cr_assert_eq(store_client_delete(c, &id0), RAY_OK);
    cr_assert_not(store_client_contains(c, &id0));
    store_stats st2;
    cr_assert_eq(store_client_stats(c, &st2), RAY_OK);
    cr_assert_eq(st2.restores, st.restores, "delete must not restore");
}

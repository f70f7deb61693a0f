/* SPDX-License-Identifier: Apache-2.0
 * Tests for objectstore/eviction.c and objectstore/spill.c: a full store
 * evicts unpinned secondary copies in LRU order, spills unpinned primary
 * copies to disk (fused into few files) and restores them transparently,
 * and fails with RAY_ESTORE_FULL only when pinned data leaves no room.
 * With the spill disk full (ENOSPC injected through store_spill_ops for
 * every write that would need new blocks) spilled objects still come back
 * (by trading places in their own file, with no new disk space), and what
 * cannot be done says that the spill directory is full. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Secondary copies from..to-1 of 1 MiB each, put and released. */
static void
put_copies(int from, int to)
{
    for (int n = from; n < to; n++)
        cr_assert_eq(
            fixture_put(c, (uint64_t)n, MIB, STORE_CREATE_SECONDARY, 1), RAY_OK,
            "put %d: %s", n, store_client_last_error(c));
}

Test(store_evict, full_store_evicts_lru_secondary_copies)
{
    start(0);
    put_copies(0, 12); /* 1 MiB secondary copies */
    /* Touch object 0 so it is the most recently used. */
    cr_assert_eq(got(0), 1);
    put_copies(12, 40);
    store_stats st;
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_geq(st.evictions, 24);
    cr_assert_eq(got(1), 0, "LRU object 1 should be evicted");
    cr_assert_eq(got(39), 1, "newest object must be there");
    cr_assert_leq(st.bytes_used, st.capacity);
}

/* The fetch hook of the tests below: object n's bytes, as fixture_put
 * wrote them (the primary copy "elsewhere"), unless `fetch_fail`. */
static _Atomic int fetch_calls, fetch_fail;

static ray_err
fetch_fixture(void *arg, const store_object_id *id, uint8_t *dst, uint64_t len,
              char *msg, size_t msglen)
{
    (void)arg;
    atomic_fetch_add(&fetch_calls, 1);
    if (atomic_load(&fetch_fail)) {
        snprintf(msg, msglen, "the primary copy's node is gone (test)");
        return RAY_EOBJECT_LOST;
    }
    uint64_t n;
    memcpy(&n, id->b, sizeof n);
    fixture_fill(dst, len, n);
    return RAY_OK;
}

Test(store_evict, with_a_fetch_hook_evicted_copies_come_back_on_get)
{
    start(0);
    store_client *local = NULL;
    cr_assert_eq(store_client_open_local(fx.srv, &local), RAY_OK);
    cr_assert_eq(store_client_set_fetch(c, fetch_fixture, NULL), RAY_EINVAL,
                 "a socket client cannot set the hook");
    cr_assert_eq(store_client_set_fetch(local, fetch_fixture, NULL), RAY_OK);
    atomic_store(&fetch_calls, 0);
    atomic_store(&fetch_fail, 0);
    put_copies(0, 40);
    store_stats st;
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_geq(st.evictions, 24);
    cr_assert_eq(st.fetches, 0);
    cr_assert_eq(atomic_load(&fetch_calls), 0, "nothing fetched yet");
    /* Every copy reads back right, the evicted ones through the hook
     * (which evicts others to make room: each still comes back). */
    for (int n = 0; n < 40; n++)
        cr_assert_eq(got((uint64_t)n), 1, "copy %d", n);
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_geq(st.fetches, 24);
    cr_assert_eq(st.spills, 0);
    cr_assert_eq(st.restores, 0, "nothing came from a spill file");
    cr_assert_eq((uint64_t)atomic_load(&fetch_calls), st.fetches);

    /* A fetch that fails fails the get, with the hook's words, and loses
     * nothing: the copy comes back once the hook can fetch it. */
    int away = -1;
    atomic_store(&fetch_fail, 1);
    int failed = 0;
    for (int n = 0; n < 40; n++) {
        store_object_id id = fixture_id((uint64_t)n);
        store_buffer b;
        ray_err rc = store_client_get(c, &id, 1, 0, &b);
        if (rc == RAY_OK) {
            store_client_release(c, &id);
            continue;
        }
        cr_assert_eq(rc, RAY_EOBJECT_LOST, "copy %d: %s", n,
                     store_client_last_error(c));
        cr_assert_neq(strstr(store_client_last_error(c), "node is gone"), NULL,
                      "message: %s", store_client_last_error(c));
        away = n;
        failed++;
    }
    cr_assert_gt(failed, 0, "some copies were evicted");
    atomic_store(&fetch_fail, 0);
    cr_assert_eq(got((uint64_t)away), 1, "copy %d after the failure", away);
    /* An evicted copy can be deleted like any other. */
    for (int n = 0; n < 40; n++) {
        store_object_id id = fixture_id((uint64_t)n);
        cr_assert_eq(store_client_delete(c, &id), RAY_OK, "delete %d", n);
    }
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_eq(st.bytes_used, 0);
    cr_assert_eq(store_client_set_fetch(local, NULL, NULL), RAY_OK);
    store_client_close(local);
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

/* ------------------------------------------------------------------ */
/* A full spill disk                                                   */
/* ------------------------------------------------------------------ */

/* The store's spill writes, as on a full disk when `disk_full` is set: a
 * write that would grow its file (needs new blocks) fails with ENOSPC, an
 * overwrite of bytes the file has goes through. Runs on the store's
 * thread. */
static atomic_int disk_full;
static atomic_int enospc_hits;
static atomic_int fail_write_in; /* > 0: the write that counts it down to
                                    0 fails with EIO (writes that pass) */

static ssize_t
full_disk_pwrite(void *arg, int fd, const void *buf, size_t n, off_t off)
{
    (void)arg;
    if (atomic_load(&disk_full)) {
        struct stat st;
        if (fstat(fd, &st) != 0)
            return -1;
        if ((uint64_t)off + n > (uint64_t)st.st_size) {
            atomic_fetch_add(&enospc_hits, 1);
            errno = ENOSPC;
            return -1;
        }
    }
    if (atomic_load(&fail_write_in) > 0 &&
        atomic_fetch_sub(&fail_write_in, 1) == 1) {
        errno = EIO;
        return -1;
    }
    return pwrite(fd, buf, n, off);
}

static const store_spill_ops full_disk_ops = {.pwrite = full_disk_pwrite};

static void
start_full_disk(void)
{
    atomic_store(&disk_full, 0);
    atomic_store(&enospc_hits, 0);
    atomic_store(&fail_write_in, 0);
    cr_assert_eq(fixture_start_ops(&fx, 16 * MIB, 1024, 1, &full_disk_ops), 0);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &c), RAY_OK);
}

TestSuite(store_spill_full, .fini = teardown, .timeout = 30);

Test(store_spill_full, spilled_objects_come_back_without_new_disk_space)
{
    start_full_disk();
    enum { N = 30 };
    for (int n = 0; n < N; n++)
        cr_assert_eq(fixture_put(c, (uint64_t)n, MIB, 0, 1), RAY_OK,
                     "put %d: %s", n, store_client_last_error(c));
    store_stats st;
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_gt(st.objects_spilled, 4);
    int files = fixture_spill_files(&fx);
    cr_assert_gt(files, 0);
    /* Now the disk is full: every object is still readable, twice over
     * (each get of a spilled one trades places with one in memory). */
    atomic_store(&disk_full, 1);
    for (int round = 0; round < 2; round++)
        for (int n = 0; n < N; n++)
            cr_assert_eq(got((uint64_t)n), 1, "round %d, object %d: %s", round,
                         n, store_client_last_error(c));
    store_stats st2;
    cr_assert_eq(store_client_stats(c, &st2), RAY_OK);
    cr_assert_geq(st2.restores, st.restores + (uint64_t)st.objects_spilled,
                  "spilled objects were not restored");
    cr_assert_eq(atomic_load(&enospc_hits), 0,
                 "a restore asked for new disk space");
    cr_assert_leq(fixture_spill_files(&fx), files, "a new spill file");
    /* Objects went out to disk while the disk was full: by trading
     * places (any other write to disk would have hit ENOSPC). */
    cr_assert_gt(st2.spills, st.spills, "no object traded places");
    /* Deleting everything frees memory and disk. */
    for (int n = 0; n < N; n++) {
        store_object_id id = fixture_id((uint64_t)n);
        cr_assert_eq(store_client_delete(c, &id), RAY_OK, "delete %d", n);
    }
    cr_assert_eq(store_client_stats(c, &st2), RAY_OK);
    cr_assert_eq(st2.bytes_used, 0);
    cr_assert_eq(st2.bytes_spilled, 0);
    cr_assert_eq(fixture_spill_files(&fx), 0);
}

/* The message names the spill directory and ENOSPC, and not pins. */
static void
expect_disk_full_message(const char *msg)
{
    cr_assert(strstr(msg, fx.spill), "no directory in: %s", msg);
    cr_assert(strstr(msg, "ENOSPC"), "no ENOSPC in: %s", msg);
    cr_assert(strstr(msg, "is full"), "message: %s", msg);
    cr_assert_null(strstr(msg, "pinned or being written"), "message: %s", msg);
}

Test(store_spill_full, a_create_that_needs_a_spill_names_the_full_directory)
{
    start_full_disk();
    for (int n = 0; n < 14; n++)
        cr_assert_eq(fixture_put(c, (uint64_t)n, MIB, 0, 1), RAY_OK);
    atomic_store(&disk_full, 1);
    ray_err rc = RAY_OK;
    int n = 14;
    for (; n < 40 && rc == RAY_OK; n++)
        rc = fixture_put(c, (uint64_t)n, MIB, 0, 1);
    cr_assert_eq(rc, rt_err_from_errno(ENOSPC), "rc %d: %s", rc,
                 store_client_last_error(c));
    cr_assert_gt(atomic_load(&enospc_hits), 0);
    expect_disk_full_message(store_client_last_error(c));
    /* Nothing was lost, and once there is room on disk the put works. */
    for (int i = 0; i < n - 1; i++)
        cr_assert_eq(got((uint64_t)i), 1, "object %d", i);
    atomic_store(&disk_full, 0);
    cr_assert_eq(fixture_put(c, (uint64_t)n, MIB, 0, 1), RAY_OK, "%s",
                 store_client_last_error(c));
}

Test(store_spill_full, a_restore_that_cannot_trade_places_names_the_cause)
{
    start_full_disk();
    /* A 3 MiB object spills first; 1 MiB objects fill memory after it.
     * None of them can hold it, so its restore would need a spill. */
    cr_assert_eq(fixture_put(c, 100, 3 * MIB, 0, 1), RAY_OK);
    for (int n = 0; n < 20; n++)
        cr_assert_eq(fixture_put(c, (uint64_t)n, MIB, 0, 1), RAY_OK);
    store_stats st;
    cr_assert_eq(store_client_stats(c, &st), RAY_OK);
    cr_assert_gt(st.objects_spilled, 0);
    atomic_store(&disk_full, 1);
    /* Make memory full of 1 MiB objects again (restores trade places). */
    for (int n = 0; n < 20; n++)
        cr_assert_eq(got((uint64_t)n), 1, "object %d", n);
    store_object_id big = fixture_id(100);
    store_buffer b;
    ray_err rc = store_client_get(c, &big, 1, 0, &b);
    cr_assert_eq(rc, rt_err_from_errno(ENOSPC), "rc %d: %s", rc,
                 store_client_last_error(c));
    const char *msg = store_client_last_error(c);
    expect_disk_full_message(msg);
    cr_assert(strstr(msg, "restore"), "message: %s", msg);
    /* Free disk space: the same get works, with the right bytes. */
    atomic_store(&disk_full, 0);
    cr_assert_eq(got(100), 1, "%s", store_client_last_error(c));
}

Test(store_spill_full, a_trade_of_places_that_fails_midway_is_undone)
{
    start_full_disk();
    /* 3 MiB objects: a trade moves each in three 1 MiB chunks. */
    enum { N = 8 };
    for (int n = 0; n < N; n++)
        cr_assert_eq(fixture_put(c, (uint64_t)n, 3 * MIB, 0, 1), RAY_OK,
                     "put %d: %s", n, store_client_last_error(c));
    atomic_store(&disk_full, 1);
    atomic_store(&fail_write_in, 2); /* the second chunk of the first trade */
    int eio = 0;
    for (int round = 0; round < 2; round++) {
        for (int n = 0; n < N; n++) {
            store_object_id id = fixture_id((uint64_t)n);
            store_buffer b;
            ray_err rc = store_client_get(c, &id, 1, 0, &b);
            if (rc == RAY_OK) {
                cr_assert(fixture_check(b.data, b.data_size, (uint64_t)n),
                          "object %d damaged", n);
                store_client_release(c, &id);
                continue;
            }
            cr_assert_eq(rc, rt_err_from_errno(EIO), "object %d: %s", n,
                         store_client_last_error(c));
            cr_assert(strstr(store_client_last_error(c), "trade"), "%s",
                      store_client_last_error(c));
            eio++;
        }
    }
    cr_assert_eq(atomic_load(&fail_write_in), 0, "no trade of places ran");
    cr_assert_eq(eio, 1);
    /* Both objects of the failed trade are whole, wherever they are. */
    for (int n = 0; n < N; n++)
        cr_assert_eq(got((uint64_t)n), 1, "object %d after the undo", n);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * Stress tests of tasks that submit tasks and get them from inside a task
 * (the multi-client pattern of the task bench): 2 x workers parents, each
 * submitting many children and getting them all, several rounds, with 1, 2
 * and 3 workers, small and default rings, and one level deeper (parents
 * whose children are parents). Every parent blocks in get while its own
 * children and the other parents queued behind it run on the same worker,
 * so a worker's submission ring sees far more records than it holds while
 * the task at its bottom is still running. Each round must finish within
 * ROUND_MS; a round that does not fails the test (it never hangs it), and
 * .fini shuts the runtime down, which ends the workers.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <ray/ray.h>

#define ROUND_MS 20000

/* ---- remote functions ---- */

static int64_t
leaf(int64_t i)
{
    return i + 1;
}
RAY_REMOTE(leaf, int64_t, int64_t);

/* Submits n leaves, then gets them all; returns how many came back right. */
static int64_t
parent(int64_t n)
{
    ray_ref *refs = malloc((size_t)n * sizeof(*refs));
    if (!refs)
        return -1;
    for (int64_t i = 0; i < n; i++)
        refs[i] = leaf_remote(i);
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = 0;
        ok += ray_get_int64(refs[i], &v, 3 * ROUND_MS) == RAY_OK && v == i + 1;
        ray_ref_release(refs[i]);
    }
    free(refs);
    return ok;
}
RAY_REMOTE(parent, int64_t, int64_t);

/* Submits k parents of n leaves each; returns the leaves that came back. */
static int64_t
grandparent(int64_t k, int64_t n)
{
    ray_ref refs[16];
    if (k > 16)
        k = 16;
    for (int64_t i = 0; i < k; i++)
        refs[i] = parent_remote(n);
    int64_t ok = 0;
    for (int64_t i = 0; i < k; i++) {
        int64_t v = 0;
        if (ray_get_int64(refs[i], &v, 3 * ROUND_MS) == RAY_OK)
            ok += v;
        ray_ref_release(refs[i]);
    }
    return ok;
}
RAY_REMOTE(grandparent, int64_t, int64_t, int64_t);

/* ---- helpers ---- */

static void
start(int cpus, uint32_t ring_bytes)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = cpus;
    cfg.ring_bytes = ring_bytes;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(ray_num_workers(), cpus);
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* `rounds` rounds of 2 x workers parents of `n` leaves each. */
static void
multi_client(int rounds, int64_t n)
{
    int clients = 2 * ray_num_workers();
    ray_ref refs[64];
    cr_assert_leq(clients, 64);
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ms();
        for (int c = 0; c < clients; c++) {
            refs[c] = parent_remote(n);
            cr_assert_neq(refs[c].id, 0, "%s", ray_last_error_detail());
        }
        for (int c = 0; c < clients; c++) {
            int64_t v = -1;
            int64_t left = ROUND_MS - (int64_t)(now_ms() - t0);
            ray_err e = ray_get_int64(refs[c], &v, left > 0 ? left : 0);
            cr_assert_eq(e, RAY_OK,
                         "round %d parent %d of %d (%lld children "
                         "each): %s after %.0f ms",
                         r, c, clients, (long long)n, ray_strerror(e),
                         now_ms() - t0);
            cr_assert_eq(v, n,
                         "round %d parent %d: %lld of %lld children "
                         "came back right",
                         r, c, (long long)v, (long long)n);
            ray_ref_release(refs[c]);
        }
    }
}

static void
teardown(void)
{
    ray_shutdown();
}

TestSuite(nested_stress, .fini = teardown, .timeout = 90);

/* The smallest ring (64 KiB, ~1300 task records) with children that need
 * several times its size while their parents wait. */
Test(nested_stress, small_ring_2_workers)
{
    start(2, 65536);
    multi_client(3, 5000);
}

Test(nested_stress, small_ring_1_worker)
{
    start(1, 65536);
    multi_client(3, 5000);
}

Test(nested_stress, small_ring_3_workers)
{
    start(3, 65536);
    multi_client(3, 4000);
}

/* The default ring, the bench's shape at a smaller size. */
Test(nested_stress, default_ring_2_workers)
{
    start(2, 0);
    multi_client(3, 10000);
}

/* Rounds that reuse warm stand-ins and half-full rings: clients get
 * children that were stolen, taken back and placed again, some in the
 * ring of a worker that waits (it runs its own when it gets to them). */
Test(nested_stress, many_rounds_default_ring)
{
    start(2, 0);
    multi_client(5, 30000);
}

/* Parents of parents: three levels of tasks blocked in get. */
Test(nested_stress, grandparents_small_ring)
{
    start(2, 65536);
    ray_ref g[3];
    double t0 = now_ms();
    for (int i = 0; i < 3; i++)
        g[i] = grandparent_remote(3, 1500);
    for (int i = 0; i < 3; i++) {
        int64_t v = -1;
        int64_t left = ROUND_MS - (int64_t)(now_ms() - t0);
        ray_err e = ray_get_int64(g[i], &v, left > 0 ? left : 0);
        cr_assert_eq(e, RAY_OK, "grandparent %d: %s after %.0f ms", i,
                     ray_strerror(e), now_ms() - t0);
        cr_assert_eq(v, 3 * 1500);
        ray_ref_release(g[i]);
    }
}

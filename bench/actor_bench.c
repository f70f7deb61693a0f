/* SPDX-License-Identifier: Apache-2.0
 *
 * actor_bench.c: the `actor` group of //bench:microbenchmark.
 *
 * Ray's actor microbenchmarks, on the local runtime: one caller and one
 * actor (sync round trips, async throughput, and the "concurrent" form:
 * a threaded actor, max_concurrency 4, called from 4 driver threads),
 * n callers (tasks) on n actors with and without a 1 KiB argument, the
 * creation rate of 1,000 zero-CPU actors with their first call, and of
 * placement groups (two 1-CPU bundles) created, ready and removed. This binary
 * is a rayc driver; its workers and actor hosts are this binary re-executed.
 * Figures are printed, never asserted.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ray/ray.h>

#include "bench/bench.h"

typedef struct bench_actor {
    int64_t n;
} bench_actor;

static ray_err
bench_actor_init(bench_actor *s, int64_t start)
{
    s->n = start;
    return RAY_OK;
}
RAY_ACTOR(bench_actor, bench_actor_init, int64_t);

static int64_t
bench_actor_ping(bench_actor *s, int64_t x)
{
    s->n++;
    return x;
}
RAY_METHOD(bench_actor, bench_actor_ping, int64_t, int64_t);

static int64_t
bench_actor_take(bench_actor *s, ray_bytes b)
{
    s->n++;
    return (int64_t)b.len;
}
RAY_METHOD(bench_actor, bench_actor_take, int64_t, ray_bytes);

/* A caller inside a task: `n` async calls to actor `h`, then get all. */
static int64_t
actor_client(ray_actor h, int64_t n, bool with_arg)
{
    ray_ref *refs = malloc((size_t)n * sizeof(*refs));
    static uint8_t payload[1024];
    if (!refs)
        return -1;
    for (int64_t i = 0; i < n; i++)
        refs[i] = with_arg ? bench_actor_take_remote(
                                 h, (ray_bytes){payload, sizeof(payload)})
                           : bench_actor_ping_remote(h, i);
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        ok += ray_get_int64(refs[i], &v, RAY_FOREVER) == RAY_OK;
        ray_ref_release(refs[i]);
    }
    free(refs);
    return ok;
}
RAY_REMOTE(actor_client, int64_t, ray_actor, int64_t, bool);

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
bench_sync(ray_actor a)
{
    enum { N = 20000 };
    double *lat = malloc(N * sizeof(double));
    if (!lat)
        return;
    double t0 = now_s();
    for (int i = 0; i < N; i++) {
        double s = now_s();
        ray_ref r = bench_actor_ping_remote(a, i);
        int64_t v;
        ray_get_int64(r, &v, RAY_FOREVER);
        ray_ref_release(r);
        lat[i] = (now_s() - s) * 1e6;
    }
    bench_print("1_1_actor_calls_sync", N / (now_s() - t0), "calls/s");
    double med = bench_median(lat, N);
    bench_print("1_1_actor_calls_sync_us", med, "us");
    double lim = bench_limit_pingpong_us();
    if (lim > 0)
        bench_print("1_1_actor_calls_sync_vs_pingpong", med / lim, "x");
    free(lat);
}

static double
async_round(ray_actor a, ray_ref *refs, int n)
{
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        refs[i] = bench_actor_ping_remote(a, i);
    for (int i = 0; i < n; i++) {
        int64_t v;
        ray_get_int64(refs[i], &v, RAY_FOREVER);
        ray_ref_release(refs[i]);
    }
    return n / (now_s() - t0);
}

static void
bench_async(ray_actor a)
{
    enum { N = 100000 };
    ray_ref *refs = malloc(N * sizeof(*refs));
    if (!refs)
        return;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double r = async_round(a, refs, N);
        best = r > best ? r : best;
    }
    free(refs);
    bench_print("1_1_actor_calls_async", best, "calls/s");
}

typedef struct conc_arg {
    ray_actor a;
    int n;
    double rate;
} conc_arg;

static void *
conc_main(void *p)
{
    conc_arg *c = p;
    ray_ref *refs = malloc((size_t)c->n * sizeof(*refs));
    if (refs)
        c->rate = async_round(c->a, refs, c->n);
    free(refs);
    return NULL;
}

static void
bench_concurrent(void)
{
    enum { T = 4, N = 50000 };
    ray_actor a;
    ray_actor_opts o = {.max_concurrency = T};
    if (bench_actor_create(&a, &o, 0) != RAY_OK ||
        ray_actor_wait_ready(a, 30000) != RAY_OK)
        return;
    pthread_t th[T];
    conc_arg args[T];
    double t0 = now_s();
    for (int i = 0; i < T; i++) {
        args[i] = (conc_arg){a, N, 0};
        pthread_create(&th[i], NULL, conc_main, &args[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    bench_print("1_1_actor_calls_concurrent", T * N / (now_s() - t0),
                "calls/s");
    ray_actor_release(a);
}

static void
bench_n_n(bool with_arg)
{
    int n = ray_num_workers();
    if (n > 16)
        n = 16;
    const int64_t per = with_arg ? 20000 : 50000;
    ray_actor act[16];
    ray_ref refs[16];
    /* One process per actor, as Ray has (0-CPU actors would share one). */
    ray_actor_opts o = {.own_process = true};
    for (int i = 0; i < n; i++)
        bench_actor_create(&act[i], &o, 0);
    for (int i = 0; i < n; i++)
        ray_actor_wait_ready(act[i], RAY_FOREVER);
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        refs[i] = actor_client_remote(act[i], per, with_arg);
    int64_t ok = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        ray_get_int64(refs[i], &v, RAY_FOREVER);
        ok += v;
        ray_ref_release(refs[i]);
    }
    double t = now_s() - t0;
    if (ok != per * n)
        fprintf(stderr, "actor bench: n_n lost calls (%lld of %lld)\n",
                (long long)ok, (long long)(per * n));
    bench_print(with_arg ? "n_n_actor_calls_with_arg_async"
                         : "n_n_actor_calls_async",
                (double)(per * n) / t, "calls/s");
    for (int i = 0; i < n; i++)
        ray_actor_release(act[i]);
}

static void
bench_create(void)
{
    enum { N = 1000 };
    ray_actor *h = malloc(N * sizeof(*h));
    ray_ref *r = malloc(N * sizeof(*r));
    if (!h || !r) {
        free(h);
        free(r);
        return;
    }
    double t0 = now_s();
    for (int i = 0; i < N; i++)
        bench_actor_create(&h[i], NULL, i);
    for (int i = 0; i < N; i++)
        r[i] = bench_actor_ping_remote(h[i], i);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        int64_t v;
        ok += ray_get_int64(r[i], &v, RAY_FOREVER) == RAY_OK && v == i;
        ray_ref_release(r[i]);
    }
    double t = now_s() - t0;
    if (ok != N)
        fprintf(stderr, "actor bench: %d of %d actors answered\n", ok, N);
    bench_print("actor_create_per_s", N / t, "actors/s");
    for (int i = 0; i < N; i++)
        ray_actor_release(h[i]);
    free(h);
    free(r);
}

/* Creation and first call of an actor in a process of its own, one after
 * another on a fresh runtime: each takes the spare process the runtime
 * starts in the background, or waits for it to finish starting (back to
 * back, creations outrun the spare about every other time). */
static void
bench_spawn(void)
{
    enum { R = 10 };
    double ms[R];
    ray_actor h[R];
    ray_actor_opts o = {.own_process = true};
    for (int i = 0; i < R; i++) {
        double t0 = now_s();
        bench_actor_create(&h[i], &o, i);
        ray_ref r = bench_actor_ping_remote(h[i], i);
        int64_t v;
        ray_get_int64(r, &v, RAY_FOREVER);
        ray_ref_release(r);
        ms[i] = (now_s() - t0) * 1e3;
    }
    for (int i = 0; i < R; i++)
        ray_actor_release(h[i]);
    bench_print("actor_create_own_process_ms", bench_median(ms, R), "ms");
}

/* Ray's placement_group_create/removal: create a group of two 1-CPU
 * bundles, wait until it is ready, remove it; five rounds of 1,000. */
static void
bench_placement_groups(void)
{
    enum { R = 5, N = 1000 };
    ray_bundle b[2] = {{.num_cpus = 1}, {.num_cpus = 1}};
    double rate[R];
    for (int r = 0; r < R; r++) {
        double t0 = now_s();
        for (int i = 0; i < N; i++) {
            ray_pg pg;
            if (ray_pg_create(b, 2, RAY_PG_PACK, NULL, &pg) != RAY_OK ||
                ray_pg_wait(pg, 30000) != RAY_OK ||
                ray_pg_remove(pg) != RAY_OK) {
                fprintf(stderr, "placement groups: %s\n",
                        ray_last_error_detail());
                return;
            }
        }
        rate[r] = N / (now_s() - t0);
    }
    double med = bench_median(rate, R);
    bench_print("placement_group_create_local_per_s", med, "groups/s");
    bench_print("placement_group_create_local_us", 1e6 / med, "us");
}

void
bench_group_actor(void)
{
    if (ray_init(NULL) != RAY_OK) {
        fprintf(stderr, "actor bench: ray_init: %s\n", ray_last_error_detail());
        return;
    }
    ray_actor a;
    if (bench_actor_create(&a, NULL, 0) != RAY_OK ||
        ray_actor_wait_ready(a, 30000) != RAY_OK) {
        fprintf(stderr, "actor bench: %s\n", ray_last_error_detail());
        ray_shutdown();
        return;
    }
    bench_sync(a);
    bench_async(a);
    ray_actor_release(a);
    bench_concurrent();
    bench_n_n(false);
    bench_n_n(true);
    ray_shutdown();
    /* Creation on a fresh runtime: no host process is running yet. */
    if (ray_init(NULL) != RAY_OK)
        return;
    bench_spawn(); /* first: every one needs a new process */
    ray_shutdown();
    if (ray_init(NULL) != RAY_OK)
        return;
    bench_create();
    ray_shutdown();
    ray_config cfg;
    ray_config_init(&cfg);
    if (cfg.num_cpus < 2)
        cfg.num_cpus = 2; /* two bundles of one CPU */
    if (ray_init(&cfg) != RAY_OK)
        return;
    bench_placement_groups();
    ray_shutdown();
}

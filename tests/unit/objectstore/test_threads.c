/* SPDX-License-Identifier: Apache-2.0
 * Threaded stress of the object store inside one process, so that
 * ThreadSanitizer sees every interleaving of the server thread, local
 * clients and socket clients (Criterion cannot run under TSan here, so
 * this test has its own main and reports through its exit status).
 * Each thread runs for 700 ms and at least MIN_OPS operations (a loaded
 * machine under TSan is slow: the count, not the clock, decides that
 * every thread did real work; Bazel's timeout bounds the whole).
 *
 * The store's idle timeout is 25 ms, and one more socket client spends
 * its time waiting for objects that never come (idle, nothing pinned):
 * the store takes indexes back while the other threads pin, seal and
 * restore, and the clients reconnect under them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/clock.h"
#include "tests/unit/objectstore/store_fixture.h"

#define THREADS 4
#define IDLERS 1
#define IDS 48
#define MIN_OPS 40

static store_fixture fx;

typedef struct worker {
    int n;
    int local;
    int failed; /* 0 = ok, else a step number */
    long ops;
} worker;

static void *
run(void *arg)
{
    worker *w = arg;
    store_client *c;
    ray_err rc = w->local ? store_client_open_local(fx.srv, &c)
                          : store_client_connect(fx.sock, 2000, &c);
    if (rc != RAY_OK) {
        w->failed = 1;
        return NULL;
    }
    unsigned seed = 77u + (unsigned)w->n;
    int64_t end = rt_clock_now_ns() + 700 * 1000000LL;
    while ((rt_clock_now_ns() < end || w->ops < MIN_OPS) && !w->failed) {
        uint64_t own = (uint64_t)w->n * 1000 + (uint64_t)(rand_r(&seed) % IDS);
        uint64_t any = (uint64_t)(rand_r(&seed) % THREADS) * 1000 +
                       (uint64_t)(rand_r(&seed) % IDS);
        store_object_id id;
        store_buffer b;
        switch (rand_r(&seed) % 4) {
        case 0:
            rc = fixture_put(c, own, 1 + (uint64_t)(rand_r(&seed) % 200000),
                             (rand_r(&seed) % 2) ? STORE_CREATE_SECONDARY : 0,
                             1);
            if (rc != RAY_OK && rc != RAY_EEXISTS && rc != RAY_ESTORE_FULL)
                w->failed = 2;
            break;
        case 1:
        case 2:
            id = fixture_id(any);
            rc = store_client_get(c, &id, 1, rand_r(&seed) % 2, &b);
            if (rc == RAY_OK) {
                if (!fixture_check(b.data, b.data_size, any))
                    w->failed = 3;
                if (store_client_release(c, &id) != RAY_OK)
                    w->failed = 4;
            } else if (rc != RAY_ETIMEDOUT && rc != RAY_ESTORE_FULL) {
                w->failed = 5;
            }
            break;
        case 3:
            id = fixture_id(own);
            rc = store_client_delete(c, &id);
            if (rc != RAY_OK && rc != RAY_EBUSY && rc != RAY_ENOTFOUND)
                w->failed = 6;
            break;
        }
        w->ops++;
    }
    store_client_close(c);
    return NULL;
}

/* Wait for objects nobody makes (idle, pinning nothing, so the store
 * takes the index back), then use the store: put, get, delete. */
static void *
idle(void *arg)
{
    worker *w = arg;
    store_client *c;
    if (store_client_connect(fx.sock, 2000, &c) != RAY_OK) {
        w->failed = 1;
        return NULL;
    }
    int64_t end = rt_clock_now_ns() + 700 * 1000000LL;
    while ((rt_clock_now_ns() < end || w->ops < MIN_OPS / 4) && !w->failed) {
        store_object_id missing = fixture_id(999999);
        store_buffer b;
        if (store_client_get(c, &missing, 1, 50, &b) != RAY_ETIMEDOUT)
            w->failed = 7;
        uint64_t n = 900000 + (uint64_t)w->ops;
        ray_err rc = fixture_put(c, n, 5000, 0, 1);
        if (rc != RAY_OK && rc != RAY_ESTORE_FULL)
            w->failed = 8;
        store_object_id id = fixture_id(n);
        if (rc == RAY_OK && store_client_get(c, &id, 1, 0, &b) == RAY_OK) {
            if (!fixture_check(b.data, b.data_size, n))
                w->failed = 9;
            store_client_release(c, &id);
        }
        rc = store_client_delete(c, &id);
        if (rc != RAY_OK && rc != RAY_ENOTFOUND && rc != RAY_EBUSY)
            w->failed = 10;
        w->ops++;
    }
    store_client_close(c);
    return NULL;
}

int
main(void)
{
    store_config cfg;
    store_config_init(&cfg);
    cfg.capacity = 4u << 20;
    cfg.max_objects = 2048;
    cfg.idle_timeout_ms = 25;
    if (fixture_start_cfg(&fx, &cfg, 1) != 0)
        return 2;
    pthread_t t[THREADS + IDLERS];
    worker w[THREADS + IDLERS];
    for (int i = 0; i < THREADS + IDLERS; i++) {
        w[i] = (worker){.n = i, .local = i < THREADS && i % 2};
        pthread_create(&t[i], NULL, i < THREADS ? run : idle, &w[i]);
    }
    int bad = 0;
    for (int i = 0; i < THREADS + IDLERS; i++) {
        pthread_join(t[i], NULL);
        printf("thread %d (%s): %ld ops, %s (step %d)\n", i,
               i >= THREADS ? "idler"
               : w[i].local ? "local"
                            : "socket",
               w[i].ops, w[i].failed ? "FAILED" : "ok", w[i].failed);
        bad |= w[i].failed || w[i].ops < (i < THREADS ? MIN_OPS : 1);
    }
    store_server_stats ss;
    store_server_get_stats(fx.srv, &ss);
    printf("idle clients dropped %llu, kept %llu; connections %llu\n",
           (unsigned long long)ss.closed_idle,
           (unsigned long long)ss.spared_idle, (unsigned long long)ss.accepted);
    bad |= ss.closed_idle == 0; /* the reconnect path did run */
    /* Nothing pinned or half-created may remain once every client left. */
    store_client *c;
    if (store_client_open_local(fx.srv, &c) != RAY_OK)
        return 3;
    store_stats st;
    store_client_stats(c, &st);
    printf("in memory %llu, spilled %llu, creating %llu, pinned %llu bytes, "
           "evictions %llu, spills %llu, restores %llu\n",
           (unsigned long long)st.objects_in_memory,
           (unsigned long long)st.objects_spilled,
           (unsigned long long)st.objects_creating,
           (unsigned long long)st.bytes_pinned,
           (unsigned long long)st.evictions, (unsigned long long)st.spills,
           (unsigned long long)st.restores);
    bad |= st.objects_creating != 0 || st.bytes_pinned != 0;
    store_client_close(c);
    fixture_stop(&fx);
    printf("%s\n", bad ? "FAIL" : "PASS");
    return bad ? 1 : 0;
}

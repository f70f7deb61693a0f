/* SPDX-License-Identifier: Apache-2.0
 *
 * store_bench.c: the `store` group of //bench:microbenchmark.
 *
 * Measures the shared-memory object store against the memcpy limit:
 *   single_client_put_gigabytes     create+write+seal of 100 MiB objects
 *                                   from a socket client (a worker)
 *   single_client_put_calls_Plasma_Store  1 KiB puts from the driver's
 *                                   in-process client (local mode)
 *   single_client_get_calls_Plasma_Store  get+release of a sealed local
 *                                   object (shared-memory fast path)
 *   get_1GiB_object_us              get (pin + view) of a sealed 1 GiB
 *                                   object from a second process
 *   store_fragmentation_after_churn fraction of capacity fillable with
 *                                   1 MiB objects after 100k random
 *                                   create/delete cycles
 *   spill_restore_gigabytes         bytes spilled + restored per second
 *                                   while cycling twice the capacity
 * Figures are printed, never asserted (the machine is shared).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "objectstore/client.h"
#include "objectstore/store.h"
#include "runtime/clock.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

typedef struct bstore {
    char dir[64];
    char sock[128];
    char spill[128];
    store_server *srv;
} bstore;

static int
bstore_start(bstore *b, uint64_t capacity, uint32_t max_objects, int spill)
{
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/rayc-bench.XXXXXX");
    if (!mkdtemp(b->dir))
        return -1;
    snprintf(b->sock, sizeof b->sock, "%s/store.sock", b->dir);
    snprintf(b->spill, sizeof b->spill, "%s/spill", b->dir);
    store_config cfg;
    store_config_init(&cfg);
    cfg.capacity = capacity;
    cfg.max_objects = max_objects;
    cfg.socket_path = b->sock;
    cfg.spill_dir = spill ? b->spill : NULL;
    char err[256];
    if (store_server_start(&cfg, &b->srv, err, sizeof err) != RAY_OK) {
        fprintf(stderr, "store bench: cannot start a store: %s\n", err);
        rmdir(b->dir);
        return -1;
    }
    return 0;
}

static void
bstore_stop(bstore *b)
{
    store_server_stop(b->srv);
    rmdir(b->spill);
    rmdir(b->dir);
}

static store_object_id
bid(uint64_t n)
{
    store_object_id id;
    memset(&id, 0, sizeof id);
    memcpy(id.b, &n, sizeof n);
    id.b[20] = 0xb5;
    return id;
}

static double
secs(int64_t t0)
{
    return (double)(rt_clock_now_ns() - t0) / 1e9;
}

static uint8_t *
prefaulted(uint64_t n)
{
    uint8_t *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memset(p, 0x5c, n);
    return p;
}

/* ------------------------------------------------------------------ */
/* Puts and gets                                                       */
/* ------------------------------------------------------------------ */

static void
bench_put_gigabytes(bstore *b, double limit)
{
    store_client *c;
    if (store_client_connect(b->sock, 5000, &c) != RAY_OK)
        return;
    const uint64_t sz = 100 * MIB;
    uint8_t *src = prefaulted(sz);
    double v[12];
    int n = 0;
    for (int i = 0; i < 12 && src; i++) {
        store_object_id id = bid(1000 + (uint64_t)i);
        store_wbuffer w;
        int64_t t0 = rt_clock_now_ns();
        if (store_client_create(c, &id, sz, 0, 0, &w) != RAY_OK)
            break;
        memcpy(w.data, src, sz);
        store_client_seal(c, &id);
        double t = secs(t0);
        store_client_release(c, &id);
        store_client_delete(c, &id);
        if (i >= 2) /* the first puts touch the heap's fresh extents */
            v[n++] = (double)sz / t / 1e9;
    }
    if (n > 0) {
        double g = bench_median(v, (size_t)n);
        bench_print("single_client_put_gigabytes", g, "GB/s");
        bench_print("single_client_put_gigabytes_ratio", g / limit, "x");
    }
    if (src)
        munmap(src, sz);
    store_client_close(c);
}

static double
put_calls(store_client *c, uint64_t base, int n)
{
    uint8_t src[1024];
    memset(src, 7, sizeof src);
    int64_t t0 = rt_clock_now_ns();
    int done = 0;
    for (int i = 0; i < n; i++) {
        store_object_id id = bid(base + (uint64_t)i);
        store_wbuffer w;
        if (store_client_create(c, &id, sizeof src, 0, 0, &w) != RAY_OK)
            break;
        memcpy(w.data, src, sizeof src);
        store_client_seal(c, &id);
        store_client_release(c, &id);
        done++;
    }
    double rate = done / secs(t0);
    for (int i = 0; i < done; i++) {
        store_object_id id = bid(base + (uint64_t)i);
        store_client_delete(c, &id);
    }
    return rate;
}

static void
bench_put_calls(bstore *b)
{
    store_client *loc, *rem;
    if (store_client_open_local(b->srv, &loc) != RAY_OK)
        return;
    double v[5];
    for (int r = 0; r < 5; r++)
        v[r] = put_calls(loc, 100000 + (uint64_t)r * 100000, 50000);
    bench_print("single_client_put_calls_Plasma_Store", bench_median(v, 5),
                "calls/s");
    store_client_close(loc);
    if (store_client_connect(b->sock, 5000, &rem) == RAY_OK) {
        for (int r = 0; r < 3; r++)
            v[r] = put_calls(rem, 900000 + (uint64_t)r * 100000, 20000);
        printf("# single_client_put_calls over the socket (worker): %.0f "
               "calls/s\n",
               bench_median(v, 3));
        store_client_close(rem);
    }
}

static void
bench_get_calls(bstore *b)
{
    store_client *c;
    if (store_client_connect(b->sock, 5000, &c) != RAY_OK)
        return;
    store_object_id id = bid(7);
    store_wbuffer w;
    if (store_client_create(c, &id, 1024, 0, 0, &w) == RAY_OK) {
        memset(w.data, 1, 1024);
        store_client_seal(c, &id);
        store_client_release(c, &id);
        double v[5];
        for (int r = 0; r < 5; r++) {
            const int n = 300000;
            int64_t t0 = rt_clock_now_ns();
            for (int i = 0; i < n; i++) {
                store_buffer buf;
                store_client_get(c, &id, 1, 0, &buf);
                store_client_release(c, &id);
            }
            v[r] = n / secs(t0);
        }
        bench_print("single_client_get_calls_Plasma_Store", bench_median(v, 5),
                    "calls/s");
        store_client_delete(c, &id);
    }
    store_client_close(c);
}

/* A second process gets a sealed object of `size` bytes; returns the
 * median get time in microseconds (the first get is printed too). */
static double
get_big_from_child(bstore *b, uint64_t size, double *first_us)
{
    store_client *c;
    double res = -1;
    if (store_client_connect(b->sock, 5000, &c) != RAY_OK)
        return -1;
    store_object_id id = bid(5);
    store_wbuffer w;
    if (store_client_create(c, &id, size, 0, 0, &w) != RAY_OK) {
        store_client_close(c);
        return -1;
    }
    memset(w.data, 3, size);
    store_client_seal(c, &id);
    int p[2];
    if (pipe(p) != 0)
        goto out;
    pid_t pid = fork();
    if (pid == 0) {
        double out[2] = {-1, -1};
        store_client *cc;
        if (store_client_connect(b->sock, 5000, &cc) == RAY_OK) {
            double v[101];
            for (int i = 0; i < 101; i++) {
                store_buffer buf;
                int64_t t0 = rt_clock_now_ns();
                ray_err rc = store_client_get(cc, &id, 1, 1000, &buf);
                v[i] = (double)(rt_clock_now_ns() - t0) / 1e3;
                if (rc != RAY_OK || buf.data_size != size)
                    _exit(1);
                store_client_release(cc, &id);
            }
            out[0] = v[0];
            out[1] = bench_median(v + 1, 100);
            store_client_close(cc);
        }
        ssize_t wr = write(p[1], out, sizeof out);
        _exit(wr == sizeof out ? 0 : 1);
    }
    close(p[1]);
    double got[2];
    if (pid > 0 && read(p[0], got, sizeof got) == sizeof got) {
        *first_us = got[0];
        res = got[1];
    }
    close(p[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
out:
    store_client_release(c, &id);
    store_client_delete(c, &id);
    store_client_close(c);
    return res;
}

/* ------------------------------------------------------------------ */
/* Churn and spilling                                                  */
/* ------------------------------------------------------------------ */

static void
bench_fragmentation(void)
{
    bstore b;
    const uint64_t cap = 256 * MIB;
    if (bstore_start(&b, cap, 65536, 0) != 0)
        return;
    store_client *c;
    if (store_client_open_local(b.srv, &c) != RAY_OK) {
        bstore_stop(&b);
        return;
    }
    enum { LIVE = 512 };
    uint64_t live[LIVE];
    memset(live, 0, sizeof live);
    unsigned seed = 99;
    uint64_t next = 1;
    for (int i = 0; i < 100000; i++) {
        int k = rand_r(&seed) % LIVE;
        if (live[k]) {
            store_object_id id = bid(live[k]);
            store_client_delete(c, &id);
            live[k] = 0;
        }
        /* log-uniform sizes from 64 B to 1 MiB: mean ~100 KiB, so the
         * live set (512 objects) stays around a fifth of the store */
        int shift = 6 + rand_r(&seed) % 15;
        uint64_t sz =
            (1ull << shift) + (uint64_t)rand_r(&seed) % (1ull << shift);
        store_object_id id = bid(next);
        store_wbuffer w;
        if (store_client_create(c, &id, sz, 0, 0, &w) == RAY_OK) {
            w.data[0] = 1;
            store_client_seal(c, &id);
            store_client_release(c, &id);
            live[k] = next;
        }
        next++;
    }
    for (int k = 0; k < LIVE; k++) {
        if (live[k]) {
            store_object_id id = bid(live[k]);
            store_client_delete(c, &id);
        }
    }
    uint64_t filled = 0;
    for (uint64_t n = 0;; n++) {
        store_object_id id = bid(10000000 + n);
        store_wbuffer w;
        if (store_client_create(c, &id, MIB, 0, 0, &w) != RAY_OK)
            break;
        store_client_seal(c, &id);
        store_client_release(c, &id);
        filled += MIB;
    }
    bench_print("store_fragmentation_after_churn", (double)filled / (double)cap,
                "fraction");
    store_client_close(c);
    bstore_stop(&b);
}

static void
bench_spill(void)
{
    bstore b;
    const uint64_t cap = 256 * MIB, sz = 8 * MIB;
    if (bstore_start(&b, cap, 4096, 1) != 0)
        return;
    store_client *c;
    if (store_client_connect(b.sock, 5000, &c) != RAY_OK) {
        bstore_stop(&b);
        return;
    }
    uint8_t *src = prefaulted(sz);
    const int n = (int)(2 * cap / sz); /* twice the capacity */
    store_stats s0, s1;
    int64_t t0 = 0;
    for (int i = 0; i < n && src; i++) {
        if (i == (int)(cap / sz) / 2) { /* time from well before full */
            store_client_stats(c, &s0);
            t0 = rt_clock_now_ns();
        }
        store_object_id id = bid(50000 + (uint64_t)i);
        store_wbuffer w;
        if (store_client_create(c, &id, sz, 0, 0, &w) != RAY_OK)
            break;
        memcpy(w.data, src, sz);
        store_client_seal(c, &id);
        store_client_release(c, &id);
    }
    /* Read everything back in put order: each get of a spilled object
     * restores it (spilling others to make room). */
    for (int i = 0; i < n && src; i++) {
        store_object_id id = bid(50000 + (uint64_t)i);
        store_buffer buf;
        if (store_client_get(c, &id, 1, 5000, &buf) == RAY_OK)
            store_client_release(c, &id);
    }
    double t = t0 ? secs(t0) : 0;
    store_client_stats(c, &s1);
    if (t > 0) {
        /* bytes_spilled is a level; count spills and restores instead */
        double moved =
            (double)((s1.spills - s0.spills) + (s1.restores - s0.restores)) *
            (double)sz;
        bench_print("spill_restore_gigabytes", moved / t / 1e9, "GB/s");
        printf("# spill_restore: %llu spills, %llu restores of 8 MiB in %.3f s"
               " (page-cached files under /tmp)\n",
               (unsigned long long)(s1.spills - s0.spills),
               (unsigned long long)(s1.restores - s0.restores), t);
    }
    if (src)
        munmap(src, sz);
    store_client_close(c);
    bstore_stop(&b);
}

/* ------------------------------------------------------------------ */
/* Group                                                               */
/* ------------------------------------------------------------------ */

void
bench_group_store(void)
{
    double limit = bench_limit_memcpy_gbps();
    /* 1 GiB object + 100 MiB puts need ~1.3 GiB of shared memory. */
    uint64_t big = GIB;
    struct statvfs vfs;
    if (statvfs("/dev/shm", &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < 3 * GIB)
        big = 256 * MIB;
    bstore b;
    if (bstore_start(&b, big + 320 * MIB, 16384, 0) == 0) {
        bench_put_gigabytes(&b, limit);
        bench_put_calls(&b);
        bench_get_calls(&b);
        double first = -1;
        double us = get_big_from_child(&b, big, &first);
        if (us >= 0) {
            bench_print("get_1GiB_object_us", us, "us");
            printf("# get_1GiB_object_us: object of %llu MiB; first get %.2f "
                   "us, median of next 100\n",
                   (unsigned long long)(big / MIB), first);
        }
        bstore_stop(&b);
    }
    bench_fragmentation();
    bench_spill();
}

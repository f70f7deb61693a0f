/* SPDX-License-Identifier: Apache-2.0
 *
 * limits.c: the physical limits every benchmark is compared with, measured
 * in the same run: a raw memcpy between pre-faulted buffers, and a raw
 * cross-process ping-pong through one shared cache line.
 *
 * The ping-pong mirrors what rayc's same-node fast path must do: each side
 * spins for a bounded time on an atomic word, then sleeps on a futex, so a
 * figure below this is impossible and a figure near it is good.
 */
#include "bench/bench.h"

#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/clock.h"

void
bench_print(const char *name, double value, const char *unit)
{
    if (value >= 100 || value == (long long)value)
        printf("%s %.0f %s\n", name, value, unit);
    else
        printf("%s %.4g %s\n", name, value, unit);
    fflush(stdout);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --- memcpy ------------------------------------------------------------ */

static double memcpy_gbps;

double
bench_limit_memcpy_gbps(void)
{
    if (memcpy_gbps > 0)
        return memcpy_gbps;
    size_t bytes = (size_t)1 << 30;
    char *a = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    char *b = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (a == MAP_FAILED || b == MAP_FAILED) {
        fprintf(stderr, "limit_memcpy: cannot map 2 GiB\n");
        return 0;
    }
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    double runs[5];
    for (int i = 0; i < 5; i++) {
        int64_t t0 = rt_clock_now_ns();
        memcpy(b, a, bytes);
        int64_t t1 = rt_clock_now_ns();
        runs[i] = (double)bytes / (double)(t1 - t0);
    }
    munmap(a, bytes);
    munmap(b, bytes);
    memcpy_gbps = bench_median(runs, 5);
    bench_print("limit_memcpy_gigabytes", memcpy_gbps, "GB/s");
    return memcpy_gbps;
}

/* --- ping-pong ---------------------------------------------------------- */

struct pingpong {
    _Alignas(64) _Atomic uint32_t turn; /* odd: child's move; even: parent's */
    _Atomic uint32_t sleeping;          /* nonzero: a side sleeps on `turn` */
};

static void
futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, addr, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void
futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, addr, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Wait until `turn` differs from `seen`: spin up to ~50 us, then sleep. */
static uint32_t
await_change(struct pingpong *pp, uint32_t seen)
{
    int64_t stop = rt_clock_now_ns() + 50000;
    for (;;) {
        for (int i = 0; i < 256; i++) {
            uint32_t t = atomic_load_explicit(&pp->turn, memory_order_acquire);
            if (t != seen)
                return t;
            __builtin_ia32_pause();
        }
        if (rt_clock_now_ns() > stop)
            break;
    }
    atomic_fetch_add(&pp->sleeping, 1);
    uint32_t t;
    while ((t = atomic_load(&pp->turn)) == seen)
        futex_wait(&pp->turn, seen);
    atomic_fetch_sub(&pp->sleeping, 1);
    return t;
}

static void
advance(struct pingpong *pp, uint32_t to)
{
    atomic_store_explicit(&pp->turn, to, memory_order_release);
    if (atomic_load(&pp->sleeping))
        futex_wake(&pp->turn);
}

static double pingpong_us;

double
bench_limit_pingpong_us(void)
{
    if (pingpong_us > 0)
        return pingpong_us;
    enum { ROUNDS = 20000 };
    struct pingpong *pp = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (pp == MAP_FAILED)
        return 0;
    memset(pp, 0, sizeof *pp);
    pid_t pid = fork();
    if (pid == 0) {
        uint32_t t = 0;
        for (;;) {
            t = await_change(pp, t); /* parent made it odd */
            if (t == UINT32_MAX)
                _exit(0);
            advance(pp, t + 1);
            t = t + 1;
        }
    }
    double *rt = malloc(sizeof(double) * ROUNDS);
    uint32_t t = 0;
    for (int i = 0; i < ROUNDS; i++) {
        int64_t t0 = rt_clock_now_ns();
        advance(pp, t + 1);
        t = await_change(pp, t + 1);
        rt[i] = (double)(rt_clock_now_ns() - t0) / 1000.0;
    }
    advance(pp, UINT32_MAX);
    waitpid(pid, NULL, 0);
    pingpong_us = bench_median(rt, ROUNDS);
    free(rt);
    munmap(pp, 4096);
    bench_print("limit_pingpong_us", pingpong_us, "us");
    return pingpong_us;
}

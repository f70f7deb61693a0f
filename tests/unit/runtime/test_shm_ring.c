/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of runtime/shm_ring.c: record framing, wrap-around with PAD
 * records, full-ring back-pressure, and a cross-process producer/consumer
 * run through a shared mapping with futex wake-ups. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/shm_ring.h"

TestSuite(shm_ring, .timeout = 20);

static void *
map_ring(size_t cap)
{
    void *m = mmap(NULL, rt_ring_footprint(cap), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    cr_assert_eq(rt_ring_format(m, cap), RAY_OK);
    return m;
}

Test(shm_ring, format_rejects_bad_capacity)
{
    void *m = aligned_alloc(64, rt_ring_footprint(8192));
    cr_assert_eq(rt_ring_format(m, 5000), RAY_EINVAL);
    cr_assert_eq(rt_ring_format(m, 1024), RAY_EINVAL);
    cr_assert_eq(rt_ring_format(m, 8192), RAY_OK);
    free(m);
}

Test(shm_ring, records_round_trip_and_wrap)
{
    void *m = map_ring(4096);
    rt_ring p, c;
    rt_ring_attach(&p, m);
    rt_ring_attach(&c, m);
    uint32_t type, len;
    cr_assert_null(rt_ring_peek(&c, &type, &len));
    /* Many odd-sized records: the ring wraps many times. */
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(round * 37 % 700) + 1;
        uint8_t *w = rt_ring_reserve(&p, n);
        cr_assert_not_null(w, "round %d", round);
        memset(w, round & 0xff, n);
        rt_ring_commit(&p, 5 + (uint32_t)(round % 3), n);
        rt_ring_publish(&p);
        uint8_t *r = rt_ring_peek(&c, &type, &len);
        cr_assert_not_null(r);
        cr_assert_eq(len, n);
        cr_assert_eq(type, 5 + (uint32_t)(round % 3));
        cr_assert_eq(((uintptr_t)r) % 8, 0, "payload is 8-aligned");
        cr_assert_eq(r[0], round & 0xff);
        cr_assert_eq(r[n - 1], round & 0xff);
        rt_ring_consume(&c);
        rt_ring_release(&c);
    }
    munmap(m, rt_ring_footprint(4096));
}

Test(shm_ring, full_ring_refuses_until_released)
{
    void *m = map_ring(4096);
    rt_ring p, c;
    rt_ring_attach(&p, m);
    rt_ring_attach(&c, m);
    int n = 0;
    while (rt_ring_reserve(&p, 100)) {
        rt_ring_commit(&p, 1, 100);
        n++;
    }
    cr_assert_eq(n, 4096 / 112);
    cr_assert_null(rt_ring_reserve(&p, rt_ring_max_record(&p) + 1));
    rt_ring_publish(&p);
    uint32_t type, len;
    cr_assert_not_null(rt_ring_peek(&c, &type, &len));
    rt_ring_consume(&c);
    cr_assert_null(rt_ring_reserve(&p, 100), "not released yet");
    rt_ring_release(&c);
    cr_assert_not_null(rt_ring_reserve(&p, 100));
    munmap(m, rt_ring_footprint(4096));
}

Test(shm_ring, cross_process_stream_with_sleeping_peers)
{
    enum { N = 200000 };
    void *m = map_ring(1 << 16);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        rt_ring p;
        rt_ring_attach(&p, m);
        for (uint64_t i = 0; i < N; i++) {
            uint64_t *w;
            while (!(w = rt_ring_reserve(&p, 8))) {
                rt_ring_publish(&p);
                rt_ring_wait_space(&p, 8, 20, 1000000);
            }
            *w = i;
            rt_ring_commit(&p, 1, 8);
            if (i % 64 == 0)
                rt_ring_publish(&p);
        }
        rt_ring_publish(&p);
        _exit(0);
    }
    rt_ring c;
    rt_ring_attach(&c, m);
    uint64_t expect = 0;
    while (expect < N) {
        uint32_t type, len;
        uint64_t *r = rt_ring_peek(&c, &type, &len);
        if (!r) {
            rt_ring_release(&c);
            cr_assert_neq(rt_ring_wait_data(&c, 20, 5000000), RAY_ETIMEDOUT);
            continue;
        }
        cr_assert_eq(*r, expect);
        expect++;
        rt_ring_consume(&c);
        if (expect % 128 == 0)
            rt_ring_release(&c);
    }
    rt_ring_release(&c);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    munmap(m, rt_ring_footprint(1 << 16));
}

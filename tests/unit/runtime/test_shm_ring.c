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

/* A producer that exposes but does not publish: peek sees nothing until
 * the consumer catches up; then the records read back in order, and a
 * later publish does not move the consumer back. */
Test(shm_ring, exposed_records_are_taken_on_catch_up)
{
    void *m = map_ring(8192);
    rt_ring p, c;
    rt_ring_attach(&p, m);
    rt_ring_attach(&c, m);
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t *w = rt_ring_reserve(&p, 4);
        *w = i;
        rt_ring_commit(&p, 9, 4);
    }
    rt_ring_expose(&p);
    uint32_t type, len;
    cr_assert_null(rt_ring_peek(&c, &type, &len), "exposed is not published");
    rt_ring_catch_up(&c);
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t *r = rt_ring_peek(&c, &type, &len);
        cr_assert_not_null(r);
        cr_assert_eq(*r, i);
        rt_ring_consume(&c);
    }
    cr_assert_null(rt_ring_peek(&c, &type, &len));
    rt_ring_publish(&p); /* tail catches up with what was consumed */
    cr_assert_null(rt_ring_peek(&c, &type, &len));
    uint32_t *w = rt_ring_reserve(&p, 4);
    *w = 77;
    rt_ring_commit(&p, 9, 4);
    rt_ring_publish(&p);
    uint32_t *r = rt_ring_peek(&c, &type, &len);
    cr_assert_not_null(r);
    cr_assert_eq(*r, 77);
    munmap(m, rt_ring_footprint(8192));
}

/* Scanning visits every published record from a cursor, skipping PAD
 * records at the wrap, without consuming; a cursor is always a record
 * boundary, so a scan resumed from one sees the rest. */
Test(shm_ring, scan_visits_published_records_in_order)
{
    void *m = map_ring(4096);
    rt_ring p, c;
    rt_ring_attach(&p, m);
    rt_ring_attach(&c, m);
    uint32_t type, len;
    /* Move both sides near the end so the next records wrap. */
    for (int i = 0; i < 6; i++) {
        void *w = rt_ring_reserve(&p, 600);
        rt_ring_commit(&p, 1, 600);
        rt_ring_publish(&p);
        cr_assert_not_null(rt_ring_peek(&c, &type, &len));
        rt_ring_consume(&c);
        rt_ring_release(&c);
        (void)w;
    }
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t *w = rt_ring_reserve(&p, 200);
        cr_assert_not_null(w);
        *w = 100 + i;
        rt_ring_commit(&p, 2, 200);
    }
    rt_ring_publish(&p);
    uint64_t cur = 0, mid = 0;
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t *r = rt_ring_scan(&c, &cur, &type, &len);
        cr_assert_not_null(r, "record %u", i);
        cr_assert_eq(*r, 100 + i);
        cr_assert_eq(type, 2);
        if (i == 1)
            mid = cur;
    }
    cr_assert_null(rt_ring_scan(&c, &cur, &type, &len));
    uint32_t *r = rt_ring_scan(&c, &mid, &type, &len);
    cr_assert_not_null(r);
    cr_assert_eq(*r, 102, "a resumed scan goes on from the boundary");
    /* Nothing was consumed: peek still starts at the first. */
    r = rt_ring_peek(&c, &type, &len);
    cr_assert_eq(*r, 100);
    munmap(m, rt_ring_footprint(4096));
}

/* SPDX-License-Identifier: Apache-2.0
 * Integration tests of what a faulty client can do to the shared region:
 *   - the region's header and index are read-only in every client's
 *     mappings (local and socket clients): a write there faults, in a
 *     child process that expects SIGSEGV with SEGV_ACCERR; the slots,
 *     which the pin handshake needs, stay writable;
 *   - a client process that writes random bytes over everything its
 *     mapping lets it write (shared page, slots, heap), several times,
 *     crashes neither the store nor the other clients: they keep being
 *     served, new objects round-trip intact, and the store stops cleanly.
 * Children are forked while the store's thread is idle and always reaped;
 * every wait is bounded. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "objectstore/layout.h"
#include "runtime/clock.h"
#include "tests/unit/objectstore/store_fixture.h"

#define MIB (1ull << 20)

static store_fixture fx;
static store_client *me;

static void
setup(void)
{
    cr_assert_eq(fixture_start(&fx, 32 * MIB, 4096, 1), 0);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &me), RAY_OK);
}

static void
teardown(void)
{
    store_client_close(me);
    fixture_stop(&fx);
}

TestSuite(store_scribble, .init = setup, .fini = teardown, .timeout = 60);

/* Reap `pid` within `timeout_ms`; its wait status, or -1 (then killed). */
static int
reap(pid_t pid, int timeout_ms)
{
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        if (rt_clock_now_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------------ */
/* Read-only header and index                                          */
/* ------------------------------------------------------------------ */

static void
on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    _exit(si->si_code == SEGV_ACCERR ? 42 : 43);
}

/* Write one byte at `p` in a child: 42 if it faulted for lack of write
 * permission, 0 if the write went through. */
static int
child_write(volatile uint8_t *p)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
        sigaction(SIGSEGV, &sa, NULL);
        *p = *p;
        _exit(0);
    }
    int st = reap(pid, 10000);
    cr_assert(WIFEXITED(st), "child status %d", st);
    return WEXITSTATUS(st);
}

static void
expect_table_read_only(store_client *c, const char *what)
{
    const store_header *h = store_client_header(c);
    cr_assert_eq(h->magic, STORE_MAGIC, "%s: header readable", what);
    uint8_t *base = (uint8_t *)h;
    cr_assert_eq(child_write(base), 42, "%s: header write did not fault", what);
    cr_assert_eq(child_write(base + h->index_off), 42,
                 "%s: index write did not fault", what);
    cr_assert_eq(child_write(base + h->shared_off - 1), 42,
                 "%s: last read-only byte", what);
    /* What the handshakes need stays writable: the shared page, and a
     * slot's spare word. */
    cr_assert_eq(child_write(base + h->shared_off), 0, "%s: shared page", what);
    store_slot *s = (store_slot *)(base + h->slots_off);
    cr_assert_eq(child_write((uint8_t *)&s->reserved0), 0, "%s: slot", what);
}

Test(store_scribble, header_and_index_are_read_only_in_every_client_mapping)
{
    expect_table_read_only(me, "socket client");
    store_client *local;
    cr_assert_eq(store_client_open_local(fx.srv, &local), RAY_OK);
    expect_table_read_only(local, "local client");
    store_client_close(local);
    /* The store itself still works (it writes through its own mapping). */
    cr_assert_eq(fixture_put(me, 1, 4096, 0, 1), RAY_OK);
}

/* ------------------------------------------------------------------ */
/* A client that scribbles over everything it can write                */
/* ------------------------------------------------------------------ */

/* The bounds of the mapping of this process that holds `p`, if it is a
 * writable shared mapping of the store's memfd. */
static int
writable_store_mapping(const void *p, uint8_t **lo, uint8_t **hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3)
            continue;
        if ((uintptr_t)p >= a && (uintptr_t)p < b &&
            strcmp(perms, "rw-s") == 0 && strstr(line, "rayc-object-store")) {
            *lo = (uint8_t *)a;
            *hi = (uint8_t *)b;
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* The child: connect, find its own writable mapping of the region (not
 * the ones it inherited from the test process), and fill it with random
 * bytes three times, using the store in between. Exit 0 if it got that
 * far: the scribbler itself must not crash either. */
static int
child_scribble(int ready)
{
    store_client *c;
    if (store_client_connect(fx.sock, 2000, &c) != RAY_OK)
        return 10;
    store_object_id id = fixture_id(9999);
    store_wbuffer w;
    if (store_client_create(c, &id, 65536, 0, 0, &w) != RAY_OK)
        return 11;
    uint8_t *lo, *hi;
    if (!writable_store_mapping(w.data, &lo, &hi))
        return 12;
    uint64_t x = 0x2545f4914f6cdd1dull ^ (uint64_t)getpid();
    for (int round = 0; round < 3; round++) {
        for (uint8_t *q = lo; q + 8 <= hi; q += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(q, &x, 8);
        }
        /* Keep talking to the store over what it just wrote. */
        store_stats st;
        (void)store_client_stats(c, &st);
        store_object_id n = fixture_id(9000 + (uint64_t)round);
        (void)fixture_put(c, 9000 + (uint64_t)round, 4096, 0, 1);
        store_buffer b;
        if (store_client_get(c, &n, 1, 0, &b) == RAY_OK)
            store_client_release(c, &n);
        (void)store_client_delete(c, &id);
    }
    char r = 'r';
    if (write(ready, &r, 1) != 1)
        return 13;
    return 0; /* exiting closes the connection: the store drops us */
}

static int
clients_are(store_client *c, uint32_t n)
{
    for (int i = 0; i < 5000; i++) {
        store_stats st;
        if (store_client_stats(c, &st) == RAY_OK && st.clients == n)
            return 1;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

Test(store_scribble, a_client_scribbling_over_all_it_can_write_crashes_nobody)
{
    /* Enough 1 MiB objects to spill some; then room is made again, so
     * that new objects fit whatever the scribbler leaves pinned. */
    for (uint64_t n = 0; n < 36; n++)
        cr_assert_eq(fixture_put(me, n, MIB, 0, 1), RAY_OK, "put %llu: %s",
                     (unsigned long long)n, store_client_last_error(me));
    for (uint64_t n = 24; n < 36; n++) {
        store_object_id id = fixture_id(n);
        cr_assert_eq(store_client_delete(me, &id), RAY_OK);
    }
    cr_assert_eq(fixture_put(me, 100, 4096, 0, 1), RAY_OK);
    store_stats st;
    cr_assert_eq(store_client_stats(me, &st), RAY_OK);
    cr_assert_gt(st.objects_spilled, 0, "nothing was spilled");
    /* Another client holds a pin throughout. */
    store_client *other;
    cr_assert_eq(store_client_connect(fx.sock, 2000, &other), RAY_OK);
    store_object_id pinned = fixture_id(100);
    store_buffer pb;
    cr_assert_eq(store_client_get(other, &pinned, 1, 1000, &pb), RAY_OK);

    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        _exit(child_scribble(p[1]));
    }
    close(p[1]);
    int status = reap(pid, 30000);
    char r = 0;
    cr_assert_eq(read(p[0], &r, 1), 1, "the scribbler did not finish");
    close(p[0]);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "scribbler status %d", status);
    cr_assert(clients_are(me, 2), "the store did not drop the scribbler");

    /* Old objects may now read as anything (their slots are garbage), but
     * asking for them must not crash anyone. */
    for (uint64_t n = 0; n < 24; n++) {
        store_object_id id = fixture_id(n);
        store_buffer b;
        ray_err rc = store_client_get(me, &id, 1, 0, &b);
        if (rc == RAY_OK) {
            volatile uint8_t sink = b.data[0];
            (void)sink;
            if (b.data_size)
                sink = b.data[b.data_size - 1];
            store_client_release(me, &id);
        } else {
            cr_assert(rc == RAY_ETIMEDOUT || rc == RAY_EPROTO ||
                          rc == RAY_ESTORE_FULL || rc == RAY_EOBJECT_LOST,
                      "object %llu: %d (%s)", (unsigned long long)n, rc,
                      store_client_last_error(me));
        }
        (void)store_client_delete(me, &id);
    }
    (void)store_client_release(other, &pinned);

    /* The store and both clients carry on: new objects round-trip. */
    for (uint64_t n = 2000; n < 2010; n++) {
        cr_assert_eq(fixture_put(me, n, 256 * 1024, 0, 1), RAY_OK,
                     "put %llu after the scribble: %s", (unsigned long long)n,
                     store_client_last_error(me));
        store_object_id id = fixture_id(n);
        store_buffer b;
        cr_assert_eq(store_client_get(other, &id, 1, 1000, &b), RAY_OK, "%s",
                     store_client_last_error(other));
        cr_assert(fixture_check(b.data, b.data_size, n));
        cr_assert_eq(store_client_release(other, &id), RAY_OK);
        cr_assert_eq(store_client_delete(me, &id), RAY_OK);
    }
    cr_assert_eq(store_client_stats(other, &st), RAY_OK);
    store_client *late;
    cr_assert_eq(store_client_connect(fx.sock, 2000, &late), RAY_OK,
                 "a new client cannot connect");
    store_client_close(late);
    store_client_close(other);
}

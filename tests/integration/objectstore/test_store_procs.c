/* SPDX-License-Identifier: Apache-2.0
 * Integration tests for the object store with real client processes:
 * a client killed with SIGKILL while holding pins or while writing an
 * unsealed object, clients sending malformed requests, a reader in one
 * process woken by a seal in another, and a multi-process stress run
 * bounded in time. Every wait is bounded; children are always reaped. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "objectstore/wire.h"
#include "runtime/clock.h"
#include "tests/unit/objectstore/store_fixture.h"

#define MIB (1ull << 20)
#define MAX_KIDS 8

static store_fixture fx;
static store_client *me;
static pid_t kids[MAX_KIDS];
static int nkids;

static void go(void);

static void
setup(void)
{
    cr_assert_eq(fixture_start(&fx, 32 * MIB, 4096, 1), 0);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &me), RAY_OK);
}

static void
teardown(void)
{
    for (int i = 0; i < nkids; i++) {
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
        }
    }
    go();
    nkids = 0;
    store_client_close(me);
    fixture_stop(&fx);
}

TestSuite(store_procs, .init = setup, .fini = teardown, .timeout = 30);

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

typedef int (*child_fn)(int ready_fd, void *arg);

static int go_fds[MAX_KIDS];

/* Fork a child running fn once the parent calls go(); it writes one byte
 * to its ready pipe when it reaches the point the test waits for. Forking
 * happens while the store's thread is idle (children wait for go before
 * talking to it), so no child inherits a lock held mid-request. Returns
 * the read end of the ready pipe. */
static int
spawn(child_fn fn, void *arg, pid_t *pid_out)
{
    int p[2], g[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(pipe(g), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        close(g[1]);
        char b;
        if (read(g[0], &b, 1) != 1)
            _exit(9);
        _exit(fn(p[1], arg));
    }
    close(p[1]);
    close(g[0]);
    go_fds[nkids] = g[1];
    kids[nkids++] = pid;
    *pid_out = pid;
    return p[0];
}

/* Let every spawned child start. */
static void
go(void)
{
    for (int i = 0; i < nkids; i++) {
        if (go_fds[i] >= 0) {
            char b = 'g';
            ssize_t w = write(go_fds[i], &b, 1);
            (void)w;
            close(go_fds[i]);
            go_fds[i] = -1;
        }
    }
}

static void
signal_ready(int fd)
{
    char b = 'r';
    ssize_t w = write(fd, &b, 1);
    (void)w;
}

static int
wait_ready(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) != 1)
        return 0;
    char b;
    return read(fd, &b, 1) == 1;
}

/* Reap `pid` within `timeout_ms`; returns its wait status or -1. */
static int
reap(pid_t pid, int timeout_ms)
{
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            for (int i = 0; i < nkids; i++)
                if (kids[i] == pid)
                    kids[i] = 0;
            return st;
        }
        if (rt_clock_now_ns() > deadline)
            return -1;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Poll the store's stats until `pred` holds, at most `timeout_ms`. */
static int
eventually(int (*pred)(const store_stats *), int timeout_ms)
{
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    store_stats st;
    do {
        if (store_client_stats(me, &st) == RAY_OK && pred(&st))
            return 1;
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    } while (rt_clock_now_ns() < deadline);
    return 0;
}

static void
pause_forever(void)
{
    for (;;)
        pause();
}

/* ------------------------------------------------------------------ */
/* Killed clients                                                      */
/* ------------------------------------------------------------------ */

static int
child_pin_and_hang(int ready, void *arg)
{
    store_client *c;
    if (store_client_connect(fx.sock, 2000, &c) != RAY_OK)
        return 10;
    store_object_id id = fixture_id(1);
    store_buffer b;
    if (store_client_get(c, &id, 1, 2000, &b) != RAY_OK)
        return 11;
    if (!fixture_check(b.data, b.data_size, 1))
        return 12;
    signal_ready(ready);
    pause_forever();
    return 0;
}

static int
one_client_only(const store_stats *st)
{
    return st->clients == 1;
}

Test(store_procs, sigkill_while_holding_pins_drops_them)
{
    cr_assert_eq(fixture_put(me, 1, MIB, 0, 1), RAY_OK);
    pid_t pid;
    int rd = spawn(child_pin_and_hang, NULL, &pid);
    go();
    cr_assert(wait_ready(rd, 5000), "child did not pin the object");
    store_object_id id = fixture_id(1);
    cr_assert_eq(store_client_delete(me, &id), RAY_EBUSY);
    kill(pid, SIGKILL);
    int st = reap(pid, 5000);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    cr_assert(eventually(one_client_only, 5000), "store never saw the death");
    cr_assert_eq(store_client_delete(me, &id), RAY_OK);
    close(rd);
}

static int
child_write_unsealed_and_hang(int ready, void *arg)
{
    store_client *c;
    if (store_client_connect(fx.sock, 2000, &c) != RAY_OK)
        return 10;
    store_object_id id = fixture_id(2);
    store_wbuffer w;
    if (store_client_create(c, &id, 4 * MIB, 0, 0, &w) != RAY_OK)
        return 11;
    fixture_fill(w.data, 2 * MIB, 2); /* half written */
    signal_ready(ready);
    pause_forever();
    return 0;
}

static int
nothing_creating(const store_stats *st)
{
    return st->objects_creating == 0 && st->bytes_used == 0 &&
           st->clients == 1;
}

Test(store_procs, sigkill_while_writing_aborts_the_unsealed_object)
{
    pid_t pid;
    int rd = spawn(child_write_unsealed_and_hang, NULL, &pid);
    go();
    cr_assert(wait_ready(rd, 5000), "child did not create the object");
    store_stats st;
    cr_assert_eq(store_client_stats(me, &st), RAY_OK);
    cr_assert_eq(st.objects_creating, 1);
    cr_assert_geq(st.bytes_used, 4 * MIB);
    store_object_id id = fixture_id(2);
    store_buffer b;
    cr_assert_eq(store_client_get(me, &id, 1, 0, &b), RAY_ETIMEDOUT,
                 "half-written object was readable");
    kill(pid, SIGKILL);
    cr_assert_neq(reap(pid, 5000), -1);
    cr_assert(eventually(nothing_creating, 5000), "unsealed object survived");
    /* Nothing left behind: the ID can be created afresh. */
    cr_assert_eq(fixture_put(me, 2, MIB, 0, 1), RAY_OK);
    cr_assert_eq(store_client_get(me, &id, 1, 100, &b), RAY_OK);
    cr_assert(fixture_check(b.data, b.data_size, 2));
    store_client_release(me, &id);
    close(rd);
}

/* ------------------------------------------------------------------ */
/* Malformed requests                                                  */
/* ------------------------------------------------------------------ */

static int
raw_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, fx.sock);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* True if the server closes `fd` within the timeout (reading and
 * discarding any replies it sent first). */
static int
closed_by_server(int fd, int timeout_ms)
{
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    char buf[512];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, rt_deadline_left_ms(deadline)) != 1)
            return 0;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0)
            return 0;
    }
}

static void
send_all(int fd, const void *p, size_t n)
{
    cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

Test(store_procs, malformed_requests_close_only_that_connection)
{
    /* Garbage bytes. */
    int fd = raw_connect();
    char junk[64];
    memset(junk, 0xee, sizeof junk);
    send_all(fd, junk, sizeof junk);
    cr_assert(closed_by_server(fd, 5000), "garbage accepted");
    close(fd);
    /* A valid request before HELLO. */
    fd = raw_connect();
    store_wire_req q = {.magic = STORE_WIRE_MAGIC, .type = STORE_WIRE_CREATE,
                        .len = sizeof q, .data_size = 10};
    send_all(fd, &q, sizeof q);
    cr_assert(closed_by_server(fd, 5000), "request before HELLO accepted");
    close(fd);
    /* A huge length. */
    fd = raw_connect();
    q = (store_wire_req){.magic = STORE_WIRE_MAGIC, .type = STORE_WIRE_HELLO,
                         .len = 1u << 30};
    send_all(fd, &q, 12);
    cr_assert(closed_by_server(fd, 5000), "bad length accepted");
    close(fd);
    /* HELLO, then an unknown type: the client slot is freed again. */
    fd = raw_connect();
    q = (store_wire_req){.magic = STORE_WIRE_MAGIC, .type = STORE_WIRE_HELLO,
                         .len = sizeof q};
    send_all(fd, &q, sizeof q);
    q.type = 99;
    send_all(fd, &q, sizeof q);
    cr_assert(closed_by_server(fd, 5000), "unknown type accepted");
    close(fd);
    /* A client that vanishes in the middle of a request. */
    fd = raw_connect();
    send_all(fd, &q, 20);
    close(fd);
    /* The store and its other client carry on. */
    cr_assert(eventually(one_client_only, 5000));
    cr_assert_eq(fixture_put(me, 3, 1000, 0, 1), RAY_OK);
    store_object_id id = fixture_id(3);
    store_buffer b;
    cr_assert_eq(store_client_get(me, &id, 1, 100, &b), RAY_OK);
    cr_assert(fixture_check(b.data, b.data_size, 3));
    store_client_release(me, &id);
}

/* ------------------------------------------------------------------ */
/* Cross-process wake-up                                               */
/* ------------------------------------------------------------------ */

static int
child_put_later(int ready, void *arg)
{
    store_client *c;
    if (store_client_connect(fx.sock, 2000, &c) != RAY_OK)
        return 10;
    signal_ready(ready);
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL); /* give the parent time to block (not required) */
    if (fixture_put(c, 4, 100000, 0, 1) != RAY_OK)
        return 11;
    store_client_close(c);
    return 0;
}

Test(store_procs, reader_wakes_when_another_process_seals)
{
    pid_t pid;
    int rd = spawn(child_put_later, NULL, &pid);
    go();
    cr_assert(wait_ready(rd, 5000));
    store_object_id id = fixture_id(4);
    store_buffer b;
    cr_assert_eq(store_client_get(me, &id, 1, 10000, &b), RAY_OK);
    cr_assert_eq(b.data_size, 100000);
    cr_assert(fixture_check(b.data, b.data_size, 4));
    store_client_release(me, &id);
    int st = reap(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    close(rd);
}

/* ------------------------------------------------------------------ */
/* Stress                                                              */
/* ------------------------------------------------------------------ */

#define STRESS_KIDS 3
#define STRESS_IDS 64

static int
child_stress(int ready, void *arg)
{
    int me_n = (int)(intptr_t)arg;
    store_client *c;
    if (store_client_connect(fx.sock, 2000, &c) != RAY_OK)
        return 10;
    signal_ready(ready);
    unsigned seed = 1234u + (unsigned)me_n;
    int64_t end = rt_clock_now_ns() + 800 * 1000000LL;
    long ops = 0;
    while (rt_clock_now_ns() < end) {
        int op = rand_r(&seed) % 4;
        uint64_t own = (uint64_t)me_n * 1000 + (uint64_t)(rand_r(&seed) % STRESS_IDS);
        uint64_t any = (uint64_t)(rand_r(&seed) % STRESS_KIDS) * 1000 +
                       (uint64_t)(rand_r(&seed) % STRESS_IDS);
        store_object_id id;
        ray_err rc;
        switch (op) {
        case 0: { /* put */
            uint64_t len = 1 + (uint64_t)(rand_r(&seed) % (256 * 1024));
            uint32_t fl = (rand_r(&seed) % 2) ? STORE_CREATE_SECONDARY : 0;
            rc = fixture_put(c, own, len, fl, 1);
            if (rc != RAY_OK && rc != RAY_EEXISTS && rc != RAY_ESTORE_FULL)
                return 20;
            break;
        }
        case 1: /* get and check */
        case 2: {
            id = fixture_id(any);
            store_buffer b;
            rc = store_client_get(c, &id, 1, rand_r(&seed) % 2, &b);
            if (rc == RAY_OK) {
                if (!fixture_check(b.data, b.data_size, any))
                    return 21; /* corrupted or wrong object */
                if (store_client_release(c, &id) != RAY_OK)
                    return 22;
            } else if (rc != RAY_ETIMEDOUT && rc != RAY_ESTORE_FULL) {
                return 23;
            }
            break;
        }
        case 3: /* delete */
            id = fixture_id(own);
            rc = store_client_delete(c, &id);
            if (rc != RAY_OK && rc != RAY_EBUSY && rc != RAY_ENOTFOUND)
                return 24;
            break;
        }
        ops++;
    }
    store_client_close(c);
    return ops > 10 ? 0 : 25;
}

static int
all_clean(const store_stats *st)
{
    return st->clients == 1 && st->objects_creating == 0 &&
           st->bytes_pinned == 0;
}

Test(store_procs, several_processes_create_read_delete_at_once)
{
    pid_t pids[STRESS_KIDS + 1];
    int rds[STRESS_KIDS + 1];
    for (int i = 0; i < STRESS_KIDS; i++)
        rds[i] = spawn(child_stress, (void *)(intptr_t)i, &pids[i]);
    /* One more that dies mid-flight, holding whatever it holds. */
    rds[STRESS_KIDS] = spawn(child_stress, (void *)(intptr_t)0, &pids[STRESS_KIDS]);
    go();
    for (int i = 0; i <= STRESS_KIDS; i++)
        cr_assert(wait_ready(rds[i], 5000), "child %d did not start", i);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kill(pids[STRESS_KIDS], SIGKILL);
    cr_assert_neq(reap(pids[STRESS_KIDS], 5000), -1);
    for (int i = 0; i < STRESS_KIDS; i++) {
        int st = reap(pids[i], 10000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "stress child %d: status %d (exit %d)", i, st,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        close(rds[i]);
    }
    close(rds[STRESS_KIDS]);
    cr_assert(eventually(all_clean, 5000), "pins or creations leaked");
    /* Everything left is sealed, intact, and deletable. */
    for (int k = 0; k < STRESS_KIDS; k++) {
        for (int i = 0; i < STRESS_IDS; i++) {
            uint64_t n = (uint64_t)k * 1000 + (uint64_t)i;
            store_object_id id = fixture_id(n);
            store_buffer b;
            if (store_client_get(me, &id, 1, 0, &b) == RAY_OK) {
                cr_assert(fixture_check(b.data, b.data_size, n), "obj %llu",
                          (unsigned long long)n);
                store_client_release(me, &id);
                cr_assert_eq(store_client_delete(me, &id), RAY_OK);
            }
        }
    }
    store_stats st;
    cr_assert_eq(store_client_stats(me, &st), RAY_OK);
    cr_assert_eq(st.bytes_used, 0);
    cr_assert_eq(st.objects_in_memory, 0);
    cr_assert_eq(st.objects_spilled, 0);
    cr_assert_eq(fixture_spill_files(&fx), 0);
}

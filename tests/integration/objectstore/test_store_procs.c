/* SPDX-License-Identifier: Apache-2.0
 * Integration tests for the object store with real client processes:
 * a client killed with SIGKILL while holding pins or while writing an
 * unsealed object, clients sending malformed frames (each closes only its
 * own connection, with one log line), a reader in one
 * process woken by a seal in another, and a multi-process stress run
 * bounded in time. Every wait is bounded; children are always reaped. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "objectstore/layout.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fdpass.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "runtime/protocol/registry.h"
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
    return st->objects_creating == 0 && st->bytes_used == 0 && st->clients == 1;
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
/* Malformed frames                                                    */
/* ------------------------------------------------------------------ */

#define T_CONNECT RAY__RPC__MESSAGE_TYPE__MSG_STORE_CONNECT_REQUEST
#define T_CONNECT_REPLY RAY__RPC__MESSAGE_TYPE__MSG_STORE_CONNECT_REPLY
#define T_CREATE RAY__RPC__MESSAGE_TYPE__MSG_STORE_CREATE_REQUEST
#define T_CREATE_REPLY RAY__RPC__MESSAGE_TYPE__MSG_STORE_CREATE_REPLY

/* Warnings the store logged about closing a connection; the sink runs on
 * the store's thread. */
static atomic_int n_closed_lines;
static char last_closed_line[512]; /* written before n_closed_lines++ */

static void
count_sink(void *arg, rt_log_level level, const char *line)
{
    (void)arg;
    if (level == RT_LOG_WARN && strstr(line, "object store: closing")) {
        snprintf(last_closed_line, sizeof last_closed_line, "%s", line);
        atomic_fetch_add(&n_closed_lines, 1);
    }
}

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

/* Send a frame header, then `len` payload bytes from `payload`. */
static void
send_raw_frame(int fd, uint32_t magic, uint32_t type, uint32_t length,
               const void *payload, size_t len)
{
    uint8_t h[RT_FRAME_HEADER_LEN];
    rt_frame_header_encode(
        &(rt_frame_header){.magic = magic, .type = type, .length = length}, h);
    send_all(fd, h, sizeof h);
    if (len)
        send_all(fd, payload, len);
}

/* Read one reply frame of type `want` whose header may already be in
 * `hdr` (the connect reply's, taken with its fd). */
static ProtobufCMessage *
recv_reply(int fd, uint32_t want, const uint8_t *hdr)
{
    rt_frame_reader r;
    rt_frame_reader_init(&r, 0);
    if (hdr)
        cr_assert_eq(rt_frame_reader_feed(&r, hdr, RT_FRAME_HEADER_LEN),
                     RAY_OK);
    int64_t deadline = rt_deadline_after_ms(5000);
    uint32_t type;
    ProtobufCMessage *m = NULL;
    ray_err rc;
    while ((rc = rt_frame_reader_read(&r, fd, &type, &m)) == RAY_EAGAIN) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&p, 1, rt_deadline_left_ms(deadline)), 1, "no reply");
    }
    cr_assert_eq(rc, RAY_OK, "%s", rt_frame_reader_detail(&r));
    cr_assert_eq(type, want);
    rt_frame_reader_fini(&r);
    return m;
}

/* Connect with a well-formed StoreConnectRequest; returns the socket. */
static int
raw_hello(void)
{
    int fd = raw_connect();
    Ray__Rpc__StoreConnectRequest q = RAY__RPC__STORE_CONNECT_REQUEST__INIT;
    q.pid = (int32_t)getpid();
    cr_assert_eq(rt_frame_send(fd, T_CONNECT, &q.base, 5000), RAY_OK);
    uint8_t hdr[RT_FRAME_HEADER_LEN];
    int memfd = -1;
    size_t nfds = 0;
    cr_assert_eq(rt_fdpass_recv(fd, &memfd, 1, &nfds, hdr, sizeof hdr, 5000),
                 RAY_OK);
    cr_assert_eq(nfds, 1, "connect reply without the region's fd");
    close(memfd);
    Ray__Rpc__StoreConnectReply *r =
        (Ray__Rpc__StoreConnectReply *)recv_reply(fd, T_CONNECT_REPLY, hdr);
    cr_assert_null(r->status, "success carries no Status (code 0)");
    cr_assert_eq(r->num_fds, 1);
    cr_assert_gt(r->region_size, 0);
    protobuf_c_message_free_unpacked(&r->base, &rt_protobuf_allocator);
    return fd;
}

/* Send a StoreCreateRequest for object `n` with an ID of `id_len` bytes
 * and return the status code of the reply. */
static uint32_t
raw_create(int fd, uint64_t n, size_t id_len, uint64_t size)
{
    store_object_id id = fixture_id(n);
    Ray__Rpc__StoreCreateRequest q = RAY__RPC__STORE_CREATE_REQUEST__INIT;
    q.object_id = (ProtobufCBinaryData){.len = id_len, .data = id.b};
    q.data_size = size;
    cr_assert_eq(rt_frame_send(fd, T_CREATE, &q.base, 5000), RAY_OK);
    Ray__Rpc__StoreCreateReply *r =
        (Ray__Rpc__StoreCreateReply *)recv_reply(fd, T_CREATE_REPLY, NULL);
    uint32_t code = r->status ? r->status->code : RAY_OK;
    if (r->status)
        cr_expect_neq(code, RAY_OK, "an explicit Status is a failure");
    if (code == RAY_OK) {
        cr_assert_not_null(r->location);
        cr_expect_eq(r->location->data_size, size);
    }
    protobuf_c_message_free_unpacked(&r->base, &rt_protobuf_allocator);
    return code;
}

/* The store closes `fd` and logs exactly one line, containing `why`. */
static void
expect_closed(int fd, int before, const char *why, const char *what)
{
    cr_assert(closed_by_server(fd, 5000), "%s accepted", what);
    close(fd);
    cr_assert_eq(atomic_load(&n_closed_lines), before + 1,
                 "%s: %d close lines logged", what,
                 atomic_load(&n_closed_lines) - before);
    cr_expect(strstr(last_closed_line, why), "%s: logged '%s'", what,
              last_closed_line);
}

static int
two_clients_nothing_creating(const store_stats *st)
{
    return st->clients == 2 && st->objects_creating == 0;
}

Test(store_procs, malformed_frames_close_only_that_connection)
{
    /* Another socket client holds a pin throughout. */
    store_client *other;
    cr_assert_eq(store_client_connect(fx.sock, 2000, &other), RAY_OK);
    cr_assert_eq(fixture_put(me, 30, 4096, 0, 1), RAY_OK);
    store_object_id pinned = fixture_id(30);
    store_buffer pb;
    cr_assert_eq(store_client_get(other, &pinned, 1, 100, &pb), RAY_OK);
    rt_log_set_sink(count_sink, NULL);
    int n0;

    /* Bad magic, before the connect request. */
    int fd = raw_connect();
    n0 = atomic_load(&n_closed_lines);
    send_raw_frame(fd, 0xeeeeeeeeu, T_CREATE, 0, NULL, 0);
    expect_closed(fd, n0, "bad frame magic", "bad magic");

    /* Bad magic from a connected client. */
    fd = raw_hello();
    n0 = atomic_load(&n_closed_lines);
    send_raw_frame(fd, RT_FRAME_MAGIC ^ 0xff000000u, T_CREATE, 0, NULL, 0);
    expect_closed(fd, n0, "bad frame magic", "bad magic after connect");

    /* Oversized: a 2 MiB frame is above the store's 1 MiB limit (well
     * below the frame layer's default); rejected on its header alone. */
    fd = raw_hello();
    n0 = atomic_load(&n_closed_lines);
    send_raw_frame(fd, RT_FRAME_MAGIC, T_CREATE, 2u << 20, NULL, 0);
    expect_closed(fd, n0, "exceeds", "oversized frame");

    /* A payload that does not decode: field 1 (object_id) claims 127
     * bytes and 2 follow. */
    fd = raw_hello();
    n0 = atomic_load(&n_closed_lines);
    uint8_t bad[] = {0x0a, 0x7f, 0x01, 0x02};
    send_raw_frame(fd, RT_FRAME_MAGIC, T_CREATE, sizeof bad, bad, sizeof bad);
    expect_closed(fd, n0, "not a valid", "undecodable payload");

    /* A type no message has. */
    fd = raw_hello();
    n0 = atomic_load(&n_closed_lines);
    send_raw_frame(fd, RT_FRAME_MAGIC, 99, 0, NULL, 0);
    expect_closed(fd, n0, "unknown message type", "unknown type");

    /* A valid frame of the wrong type (a reply, not a store request),
     * from a client holding an unsealed object: the object is aborted. */
    fd = raw_hello();
    cr_assert_eq(raw_create(fd, 31, STORE_ID_SIZE, MIB), RAY_OK);
    store_stats st;
    cr_assert_eq(store_client_stats(me, &st), RAY_OK);
    cr_assert_eq(st.objects_creating, 1);
    cr_assert_eq(st.clients, 3);
    n0 = atomic_load(&n_closed_lines);
    Ray__Rpc__StoreCreateReply wrong = RAY__RPC__STORE_CREATE_REPLY__INIT;
    cr_assert_eq(rt_frame_send(fd, T_CREATE_REPLY, &wrong.base, 5000), RAY_OK);
    expect_closed(fd, n0, "is not a store request", "wrong type");
    cr_assert(eventually(two_clients_nothing_creating, 5000),
              "unsealed object or client index leaked");
    cr_expect(strstr(last_closed_line, "1 unsealed object(s) aborted"), "%s",
              last_closed_line);

    /* A well-formed request before StoreConnectRequest. */
    fd = raw_connect();
    n0 = atomic_load(&n_closed_lines);
    Ray__Rpc__StoreStatsRequest sq = RAY__RPC__STORE_STATS_REQUEST__INIT;
    cr_assert_eq(rt_frame_send(fd,
                               RAY__RPC__MESSAGE_TYPE__MSG_STORE_STATS_REQUEST,
                               &sq.base, 5000),
                 RAY_OK);
    expect_closed(fd, n0, "before StoreConnectRequest",
                  "request before connect");

    /* A malformed field inside a valid frame is answered, not fatal: an
     * object ID of the wrong length is RAY_EPROTO and the connection
     * stays usable. */
    fd = raw_hello();
    n0 = atomic_load(&n_closed_lines);
    cr_assert_eq(raw_create(fd, 32, 5, 100), RAY_EPROTO);
    cr_assert_eq(raw_create(fd, 32, STORE_ID_SIZE, 100), RAY_OK);
    cr_assert_eq(atomic_load(&n_closed_lines), n0);

    /* A client that vanishes in the middle of a frame: its creation of
     * object 32 is aborted too. */
    send_raw_frame(fd, RT_FRAME_MAGIC, T_CREATE, 40, bad, 2);
    close(fd);
    cr_assert(eventually(two_clients_nothing_creating, 5000));
    rt_log_set_sink(NULL, NULL);

    /* The store and its other clients carry on: the pin held all along is
     * still there, and both clients still work. */
    cr_assert_eq(store_client_delete(me, &pinned), RAY_EBUSY);
    cr_assert(fixture_check(pb.data, pb.data_size, 30));
    cr_assert_eq(store_client_release(other, &pinned), RAY_OK);
    cr_assert_eq(fixture_put(other, 3, 1000, 0, 1), RAY_OK);
    store_object_id id = fixture_id(3);
    store_buffer b;
    cr_assert_eq(store_client_get(me, &id, 1, 100, &b), RAY_OK);
    cr_assert(fixture_check(b.data, b.data_size, 3));
    store_client_release(me, &id);
    for (uint64_t n = 31; n <= 32; n++) {
        id = fixture_id(n);
        cr_assert_eq(fixture_put(me, n, 1000, 0, 1), RAY_OK,
                     "object %llu left behind", (unsigned long long)n);
    }
    cr_assert_eq(store_client_delete(me, &pinned), RAY_OK);
    store_client_close(other);
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
        uint64_t own =
            (uint64_t)me_n * 1000 + (uint64_t)(rand_r(&seed) % STRESS_IDS);
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
    rds[STRESS_KIDS] =
        spawn(child_stress, (void *)(intptr_t)0, &pids[STRESS_KIDS]);
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

/* SPDX-License-Identifier: Apache-2.0
 *
 * Results pushed to the worker that made the call (sdk/worker_results.c,
 * sdk/nested.c): a task's ray_get of its own children's results, with
 * values that arrive while the task is not reading, more of them than its
 * reply ring holds (the driver holds the rest back, in order, and the
 * test checks through ray_stats that it did), refs released before their
 * result, a ref retained and released (the worker falls back to asking
 * the driver), a second get of the same ref, a child's error, and a get
 * that times out before the result comes and succeeds after.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ray/ray.h>

#include "runtime/alloc.h"
#include "tests/integration/common/gate.h"
#include "tests/integration/common/live.h"

/* ---- remote functions ---- */

/* A 1 KiB string naming i: results big enough to fill a small ring. */
static char *
kilo(int64_t i)
{
    char *s = malloc(1024);
    if (!s)
        return NULL;
    memset(s, 'a' + (int)(i % 26), 1023);
    s[1023] = '\0';
    snprintf(s, 32, "%lld:", (long long)i);
    s[strlen(s)] = 'x'; /* keep the string 1023 chars long */
    return s;
}
RAY_REMOTE(kilo, char *, int64_t);

static bool
kilo_ok(const char *s, int64_t i)
{
    char want[32];
    int n = snprintf(want, sizeof(want), "%lld:", (long long)i);
    return s && strlen(s) == 1023 && strncmp(s, want, (size_t)n) == 0 &&
           s[1022] == 'a' + (int)(i % 26);
}

/* Submits n kilo(i), then blocks outside rayc until a byte arrives on
 * the FIFO `gate` (the reply ring fills meanwhile), then gets them all
 * in reverse order. Returns how many came back right. */
static int64_t
held_parent(int64_t n, const char *gate)
{
    ray_ref *refs = malloc((size_t)n * sizeof(*refs));
    if (!refs)
        return -1;
    for (int64_t i = 0; i < n; i++)
        refs[i] = kilo_remote(i);
    if (!gate_pass(gate))
        ray_task_fail(RAY_ETASK_FAILED, "gate %s unreadable", gate);
    int64_t ok = 0;
    for (int64_t i = n - 1; i >= 0; i--) {
        char *s = NULL;
        if (ray_get_str(refs[i], &s, 30000) == RAY_OK && kilo_ok(s, i))
            ok++;
        ray_free(s);
        ray_ref_release(refs[i]);
    }
    free(refs);
    return ok;
}
RAY_REMOTE(held_parent, int64_t, int64_t, const char *);

static int64_t
twice(int64_t i)
{
    return 2 * i;
}
RAY_REMOTE(twice, int64_t, int64_t);

/* Releases the even children unread; checks the odd ones; gets one of
 * them a second time; retains and releases one before its get. */
static int64_t
mixed_parent(int64_t n)
{
    ray_ref *refs = malloc((size_t)n * sizeof(*refs));
    if (!refs)
        return -1;
    for (int64_t i = 0; i < n; i++)
        refs[i] = twice_remote(i);
    ray_ref_retain(refs[1]);
    ray_ref_release(refs[1]); /* one holder left: the worker forgets it */
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i % 2 == 0) {
            ray_ref_release(refs[i]);
            continue;
        }
        int64_t v = -1, again = -1;
        ok += ray_get_int64(refs[i], &v, 30000) == RAY_OK && v == 2 * i;
        if (i == 3)
            ok -= !(ray_get_int64(refs[i], &again, 0) == RAY_OK && again == 6);
        ray_ref_release(refs[i]);
    }
    free(refs);
    return ok;
}
RAY_REMOTE(mixed_parent, int64_t, int64_t);

static int64_t
fails_with(int64_t code)
{
    ray_task_fail(RAY_ETASK_FAILED, "child failed with code %lld",
                  (long long)code);
    return 0;
}
RAY_REMOTE(fails_with, int64_t, int64_t);

/* 1 when the child's error and its message reach the parent. */
static int64_t
error_parent(int64_t code)
{
    ray_ref r = fails_with_remote(code);
    int64_t v;
    ray_err e = ray_get_int64(r, &v, 30000);
    char want[64];
    snprintf(want, sizeof(want), "child failed with code %lld",
             (long long)code);
    int64_t ok =
        e == RAY_ETASK_FAILED && strstr(ray_last_error_detail(), want) != NULL;
    ray_ref_release(r);
    return ok;
}
RAY_REMOTE(error_parent, int64_t, int64_t);

/* Returns `v` once a byte arrives on FIFO `gate`. */
static int64_t
gated(int64_t v, const char *gate)
{
    if (!gate_pass(gate))
        ray_task_fail(RAY_ETASK_FAILED, "gate %s unreadable", gate);
    return v;
}
RAY_REMOTE(gated, int64_t, int64_t, const char *);

/* Gets a gated child with a 50 ms timeout (it cannot be done: the gate
 * opens only after this task said so by writing `said`), then forever. */
static int64_t
timeout_parent(const char *gate, const char *said)
{
    ray_ref r = gated_remote(41, gate);
    int64_t v = -1;
    ray_err first = ray_get_int64(r, &v, 50);
    if (!gate_open(said))
        ray_task_fail(RAY_ETASK_FAILED, "cannot write %s", said);
    ray_err second = ray_get_int64(r, &v, 30000);
    ray_ref_release(r);
    return first == RAY_ETIMEDOUT && second == RAY_OK && v == 41;
}
RAY_REMOTE(timeout_parent, int64_t, const char *, const char *);

/* An actor whose method waits at a gate: a result held back that no
 * task worker can run in the caller's place. */
typedef struct door {
    int64_t opened;
} door;

static ray_err
door_init(door *s)
{
    s->opened = 0;
    return RAY_OK;
}
RAY_ACTOR0(door, door_init);

static int64_t
door_wait(door *s, const char *gate, int64_t v)
{
    if (!gate_pass(gate))
        ray_task_fail(RAY_ETASK_FAILED, "gate %s unreadable", gate);
    s->opened++;
    return v;
}
RAY_METHOD(door, door_wait, int64_t, const char *, int64_t);

/* Its first call waits at the gate; every call returns its buffer's
 * length. */
static int64_t
door_len(door *s, const char *gate, ray_bytes b)
{
    if (s->opened++ == 0 && !gate_pass(gate))
        ray_task_fail(RAY_ETASK_FAILED, "gate %s unreadable", gate);
    return (int64_t)b.len;
}
RAY_METHOD(door, door_len, int64_t, const char *, ray_bytes);

/* Sends n calls with 4 KiB arguments to an actor that can finish none of
 * them until this task opens the gate, after it sent them all: the
 * caller's credit (how far its calls may run ahead of their results)
 * paces it but must give way. Returns how many came back right. */
static int64_t
flood_parent(int64_t n, const char *gate)
{
    ray_actor d;
    if (door_create(&d, NULL) != RAY_OK)
        return -1;
    char *buf = calloc(1, 4096);
    ray_ref *refs = malloc((size_t)n * sizeof(*refs));
    if (!buf || !refs)
        return -2;
    for (int64_t i = 0; i < n; i++)
        refs[i] = door_len_remote(d, gate, (ray_bytes){buf, 4096});
    ray_actor_release(d); /* its queued calls still run */
    if (!gate_open(gate))
        return -3;
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = 0;
        ok += ray_get_int64(refs[i], &v, 60000) == RAY_OK && v == 4096;
        ray_ref_release(refs[i]);
    }
    free(refs);
    free(buf);
    return ok;
}
RAY_REMOTE(flood_parent, int64_t, int64_t, const char *);

/* ray_wait inside a task: n children done at once, one call held at a
 * gate (on an actor the task creates) and a value the task put (not a
 * call: the driver is asked to push it).
 * Returns 1 when every wait reported what it must, else a code naming
 * the first miss. */
static int64_t
wait_parent(int64_t n, const char *gate, const char *said)
{
    enum { MAX = 64 };
    ray_ref refs[MAX + 2];
    size_t idx[MAX + 2], k = 0;
    if (n > MAX)
        return -1;
    for (int64_t i = 0; i < n; i++)
        refs[i] = twice_remote(i);
    ray_actor d;
    if (door_create(&d, NULL) != RAY_OK)
        return -10;
    refs[n] = door_wait_remote(d, gate, 5);
    ray_actor_release(d); /* its queued call still runs first */
    if (ray_put_int64(9, &refs[n + 1]) != RAY_OK)
        return -9;
    size_t all = (size_t)n + 2;
    /* All but the gated one, however long it takes. */
    if (ray_wait(refs, all, all - 1, RAY_FOREVER, idx, &k) != RAY_OK)
        return -2;
    if (k != all - 1)
        return -3;
    for (size_t i = 0; i < k; i++)
        if (idx[i] == (size_t)n)
            return -4;
    /* All of them: times out with the same answer. */
    if (ray_wait(refs, all, all, 50, idx, &k) != RAY_OK || k != all - 1)
        return -5;
    if (!gate_open(said))
        return -6;
    if (ray_wait(refs, all, all, 30000, idx, &k) != RAY_OK || k != all)
        return -7;
    int64_t v = -1;
    if (ray_get_int64(refs[n], &v, 0) != RAY_OK || v != 5)
        return -8;
    for (int64_t i = 0; i <= n + 1; i++)
        ray_ref_release(refs[i]);
    return 1;
}
RAY_REMOTE(wait_parent, int64_t, int64_t, const char *, const char *);

/* ray_cancel inside a task, on the only worker: a child that finished
 * cannot be cancelled; one submitted after it reads as cancelled (the
 * cancel reaches the driver before anything the child could report). */
static int64_t
cancel_parent(void)
{
    ray_ref done = twice_remote(3);
    int64_t v = -1;
    if (ray_get_int64(done, &v, 30000) != RAY_OK || v != 6)
        return -1;
    ray_ref later = twice_remote(4);
    if (ray_cancel(later, false) != RAY_OK)
        return -2;
    if (ray_get_int64(later, &v, 30000) != RAY_ECANCELLED ||
        !strstr(ray_last_error_detail(), "cancelled"))
        return -3;
    if (ray_cancel(done, false) != RAY_EEXISTS ||
        !strstr(ray_last_error_detail(), "already finished"))
        return -4;
    ray_ref_release(later);
    ray_ref_release(done);
    return 1;
}
RAY_REMOTE0(cancel_parent, int64_t);

/* ---- helpers ---- */

static char dir[64];

static void
start(int cpus, uint32_t ring_bytes)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = cpus;
    cfg.ring_bytes = ring_bytes;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
    strcpy(dir, "/tmp/rayc_push_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void
fifo(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
    cr_assert(gate_make(out));
}

static void
teardown(void)
{
    ray_shutdown();
    if (dir[0]) {
        char cmd[96];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
        dir[0] = '\0';
    }
}

TestSuite(pushed_results, .fini = teardown, .timeout = 90);

/* 2,000 results of 1 KiB for a task that is not reading, against a
 * 64 KiB reply ring: most wait in the driver, and all arrive, right. */
/* A task's calls held behind one that waits for the task itself: far
 * more argument bytes than its credit, and none lost or stuck. */
Test(pushed_results, calls_past_the_credit_that_wait_for_the_caller)
{
    start(2, 0);
    char gate[96];
    fifo(gate, sizeof(gate), "flood");
    ray_ref r = flood_parent_remote(600, gate);
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(r, &v, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 600);
    ray_ref_release(r);
}

Test(pushed_results, more_than_the_reply_ring_holds)
{
    start(2, 65536);
    char gate[96];
    fifo(gate, sizeof(gate), "gate");
    enum { N = 2000 };
    ray_ref p = held_parent_remote(N, gate);
    ray_stats st = {0};
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) { /* until the driver holds results back (bounded) */
        cr_assert_eq(ray_get_stats(&st), RAY_OK);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (st.replies_held > 0 || t.tv_sec - t0.tv_sec > 30)
            break;
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    cr_assert_gt(st.replies_held, 0, "no result was ever held back");
    cr_assert(gate_open(gate));
    int64_t ok = -1;
    cr_assert_eq(ray_get_int64(p, &ok, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ok, N);
    ray_ref_release(p);
}

Test(pushed_results, released_retained_and_repeated)
{
    start(2, 0);
    enum { N = 5000 };
    ray_ref p = mixed_parent_remote(N);
    int64_t ok = -1;
    cr_assert_eq(ray_get_int64(p, &ok, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ok, N / 2);
    ray_ref_release(p);
    /* Nothing stays behind: the children released unread still run
     * (they may be queued yet), then every task is gone. */
    ray_stats st = {0};
    for (int i = 0; i < 2000; i++) {
        cr_assert_eq(ray_get_stats(&st), RAY_OK);
        if (st.tasks_live == 0)
            break;
        struct timespec d = {0, 5000000};
        nanosleep(&d, NULL);
    }
    cr_assert_eq(st.tasks_live, 0, "%llu tasks never finished",
                 (unsigned long long)st.tasks_live);
}

Test(pushed_results, child_error_reaches_parent)
{
    start(2, 0);
    ray_ref p = error_parent_remote(77);
    int64_t ok = -1;
    cr_assert_eq(ray_get_int64(p, &ok, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ok, 1);
    ray_ref_release(p);
}

Test(pushed_results, timed_out_get_then_result)
{
    start(2, 0);
    char gate[96], said[96];
    fifo(gate, sizeof(gate), "gate");
    fifo(said, sizeof(said), "said");
    ray_ref p = timeout_parent_remote(gate, said);
    cr_assert(gate_pass(said)); /* the parent's first get timed out */
    cr_assert(gate_open(gate));
    int64_t ok = -1;
    cr_assert_eq(ray_get_int64(p, &ok, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ok, 1);
    ray_ref_release(p);
}

Test(pushed_results, wait_inside_a_task)
{
    start(2, 0);
    char gate[96], said[96];
    fifo(gate, sizeof(gate), "gate");
    fifo(said, sizeof(said), "said");
    ray_ref p = wait_parent_remote(20, gate, said);
    cr_assert(gate_pass(said)); /* its first two waits are over */
    cr_assert(gate_open(gate));
    int64_t ok = 0;
    cr_assert_eq(ray_get_int64(p, &ok, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ok, 1);
    ray_ref_release(p);
}

Test(pushed_results, cancel_inside_a_task)
{
    /* One worker: the parent runs there, its children queue behind it. */
    start(1, 0);
    ray_ref p = cancel_parent_remote();
    int64_t ok = 0;
    cr_assert_eq(ray_get_int64(p, &ok, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ok, 1);
    ray_ref_release(p);
}

/* Driver allocations after `n` more rounds of tasks that submit, get,
 * release unread and wait inside tasks; waits up to 20 s to come back to
 * `base` (children released unread may still be finishing). */
static long
live_after_rounds(int n, long base)
{
    for (int i = 0; i < n; i++) {
        int64_t ok = -1;
        ray_ref p = mixed_parent_remote(200);
        cr_assert_eq(ray_get_int64(p, &ok, 60000), RAY_OK);
        cr_assert_eq(ok, 100);
        ray_ref_release(p);
    }
    return live_down_to(base, 20000);
}

Test(pushed_results, a_long_run_does_not_grow)
{
    start(2, 65536); /* small rings: replies are held back too */
    (void)live_after_rounds(10, LONG_MAX);
    long base = live_settled();
    long after = live_after_rounds(50, base + 16);
    cr_assert_leq(after, base + 16,
                  "the driver holds %ld more allocations "
                  "after 50 rounds than after 10",
                  after - base);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * Scheduling facts of the local runtime, each checked as an order, never
 * as a time: a task held at a FIFO gate (tests/integration/common/gate.h)
 * stays running until the test opens the gate, so "the short tasks
 * finished while the long one ran" is a fact the test can assert.
 *  - Short tasks never wait behind a long one while a worker idles: the
 *    idle worker steals what the busy one has queued and not started.
 *  - A result is published before its worker starts the next task.
 *  - Inside a task, a get of a short child returns while a long sibling
 *    runs, and the timeouts of ray_wait and ray_get hold.
 *  - Tasks blocked in waits (with deadlines) give their CPUs to
 *    stand-ins, and recursion deeper than every worker still completes.
 *  - ray_cancel of a task queued in a worker, and ray_map_job_destroy of
 *    a job's queued chunks: what had not started never runs.
 * Every wait has a bound; a broken rule fails a test, it never hangs one.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ray/ray.h>

#include "tests/integration/common/gate.h"

#define BOUND_MS 20000

/* ---- remote functions ---- */

static int64_t
quick(int64_t i)
{
    return i;
}
RAY_REMOTE(quick, int64_t, int64_t);

/* Runs until the test opens the gate. */
static int64_t
held(const char *gate)
{
    return gate_pass(gate) ? 1 : -1;
}
RAY_REMOTE(held, int64_t, const char *);

/* Counts that it ran. */
static int64_t
counted(const char *file)
{
    return count_event(file) ? 1 : -1;
}
RAY_REMOTE(counted, int64_t, const char *);

/* Inside a task: a short child and a long (held) one, in either order;
 * the get of the short one must not wait for the long one. */
static int64_t
nested_get(const char *gate, int64_t long_first)
{
    ray_ref l = RAY_REF_NULL, s;
    if (long_first)
        l = held_remote(gate);
    s = quick_remote(7);
    if (!long_first)
        l = held_remote(gate);
    int64_t v = 0;
    ray_err e = ray_get_int64(s, &v, BOUND_MS);
    ray_ref_release(s);
    ray_ref_release(l);
    return e == RAY_OK && v == 7;
}
RAY_REMOTE(nested_get, int64_t, const char *, int64_t);

/* Inside a task: two quick children and a held one. A wait for two
 * returns both quick ones; then (they are done, the held one cannot be)
 * a wait for all three with a 300 ms timeout returns those two, and a get
 * of the held one with a 200 ms timeout times out. Returns 7 when all
 * three hold. */
static int64_t
nested_wait(const char *gate)
{
    ray_ref r[3] = {quick_remote(1), quick_remote(2), held_remote(gate)};
    size_t idx[3], n = 0;
    int64_t ok = 0;
    if (ray_wait(r, 3, 2, BOUND_MS, idx, &n) == RAY_OK && n == 2 &&
        idx[0] + idx[1] == 1)
        ok |= 4;
    if (ray_wait(r, 3, 3, 300, idx, &n) == RAY_OK && n == 2)
        ok |= 1;
    int64_t v;
    if (ray_get_int64(r[2], &v, 200) == RAY_ETIMEDOUT)
        ok |= 2;
    for (int i = 0; i < 3; i++)
        ray_ref_release(r[i]);
    return ok;
}
RAY_REMOTE(nested_wait, int64_t, const char *);

/* Submits k children, gets each with a deadline; returns how many came
 * back right. */
static int64_t
fanout(int64_t k)
{
    ray_ref r[16];
    if (k > 16)
        k = 16;
    for (int64_t i = 0; i < k; i++)
        r[i] = quick_remote(i);
    int64_t ok = 0;
    for (int64_t i = 0; i < k; i++) {
        int64_t v = -1;
        ok += ray_get_int64(r[i], &v, 3 * BOUND_MS) == RAY_OK && v == i;
        ray_ref_release(r[i]);
    }
    return ok;
}
RAY_REMOTE(fanout, int64_t, int64_t);

/* depth(d) = depth(d - 1) + 1 through a task per level, each waiting. */
static inline ray_ref depth_remote(int64_t d); /* from RAY_REMOTE below */

static int64_t
depth(int64_t d)
{
    if (d <= 0)
        return 0;
    ray_ref r = depth_remote(d - 1);
    int64_t v = -100;
    ray_get_int64(r, &v, RAY_FOREVER);
    ray_ref_release(r);
    return v + 1;
}
RAY_REMOTE(depth, int64_t, int64_t);

/* Map elements of a job that waits at a door: each counts that it ran,
 * then waits until the door file exists. Paths name the driver's pid. */
static int64_t
door_elem(int64_t x)
{
    char count[64], door[64];
    snprintf(count, sizeof(count), "/tmp/rayc_sched_count_%d", (int)getppid());
    snprintf(door, sizeof(door), "/tmp/rayc_sched_door_%d", (int)getppid());
    count_event(count);
    for (int i = 0; i < 60000 && access(door, F_OK) != 0; i++) {
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    return x;
}
RAY_REMOTE(door_elem, int64_t, int64_t);

static int64_t
plus1(int64_t x)
{
    return x + 1;
}
RAY_REMOTE(plus1, int64_t, int64_t);

/* ---- fixture ---- */

static char gate[64], file[64];

static void
start(int cpus)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = cpus;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
    /* Every worker up before the test's facts start. */
    ray_ref w[8];
    for (int i = 0; i < cpus && i < 8; i++)
        w[i] = quick_remote(i);
    for (int i = 0; i < cpus && i < 8; i++) {
        int64_t v;
        cr_assert_eq(ray_get_int64(w[i], &v, BOUND_MS), RAY_OK);
        ray_ref_release(w[i]);
    }
}

static void
setup(void)
{
    snprintf(gate, sizeof(gate), "/tmp/rayc_sched_gate_%d", (int)getpid());
    snprintf(file, sizeof(file), "/tmp/rayc_sched_file_%d", (int)getpid());
    cr_assert(gate_make(gate));
    unlink(file);
}

static void
teardown(void)
{
    /* A held task still at its gate lets the runtime stop at once. */
    gate_open_within(gate, 0);
    ray_shutdown();
    unlink(gate);
    unlink(file);
}

TestSuite(scheduling, .init = setup, .fini = teardown, .timeout = 90);

/* Open the gate of a held task and check that it ran to the end. */
static void
release_held(ray_ref h)
{
    cr_assert(gate_open_within(gate, BOUND_MS), "the held task never ran");
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(h, &v, BOUND_MS), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 1);
    ray_ref_release(h);
}

/* ---- tests ---- */

Test(scheduling, short_tasks_pass_a_long_one_on_the_idle_worker)
{
    start(2);
    ray_ref h = held_remote(gate);
    ray_ref s[20];
    for (int i = 0; i < 20; i++)
        s[i] = quick_remote(i);
    /* Half of them went behind the held task; the other worker steals. */
    for (int i = 0; i < 20; i++) {
        int64_t v = -1;
        cr_assert_eq(ray_get_int64(s[i], &v, BOUND_MS), RAY_OK,
                     "short task %d waited behind the long one: %s", i,
                     ray_last_error_detail());
        cr_assert_eq(v, i);
        ray_ref_release(s[i]);
    }
    release_held(h);
}

Test(scheduling, a_result_is_published_before_the_next_task_runs)
{
    start(1);
    ray_ref s = quick_remote(5);
    ray_ref h = held_remote(gate); /* next on the same worker */
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(s, &v, BOUND_MS), RAY_OK,
                 "the result waited for the next task: %s",
                 ray_last_error_detail());
    cr_assert_eq(v, 5);
    ray_ref_release(s);
    release_held(h);
}

Test(scheduling, nested_get_returns_while_a_long_sibling_runs)
{
    start(2);
    for (int64_t long_first = 0; long_first < 2; long_first++) {
        cr_assert(gate_make(gate));
        ray_ref r = nested_get_remote(gate, long_first);
        int64_t v = 0;
        cr_assert_eq(ray_get_int64(r, &v, 3 * BOUND_MS), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_eq(v, 1, "long child first: %lld", (long long)long_first);
        ray_ref_release(r);
        /* The long child is still held: let it finish. */
        cr_assert(gate_open_within(gate, BOUND_MS));
    }
}

Test(scheduling, timeouts_hold_inside_a_task)
{
    start(2);
    ray_ref r = nested_wait_remote(gate);
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(r, &v, 3 * BOUND_MS), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v & 1, 1, "ray_wait(3 of 3, 300 ms) did not return 2 (v=%lld)",
                 (long long)v);
    cr_assert_eq(v & 2, 2, "ray_get(200 ms) of a held child did not time out");
    cr_assert_eq(v & 4, 4, "ray_wait(2 of 3) did not return the quick ones");
    ray_ref_release(r);
    cr_assert(gate_open_within(gate, BOUND_MS));
}

Test(scheduling, waits_with_deadlines_on_every_worker_make_progress)
{
    start(2);
    enum { P = 6, K = 4 };
    ray_ref p[P];
    for (int i = 0; i < P; i++)
        p[i] = fanout_remote(K);
    for (int i = 0; i < P; i++) {
        int64_t v = -1;
        cr_assert_eq(ray_get_int64(p[i], &v, 4 * BOUND_MS), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_eq(v, K, "parent %d: %lld of %d children", i, (long long)v,
                     K);
        ray_ref_release(p[i]);
    }
}

Test(scheduling, recursion_deeper_than_every_worker_completes)
{
    start(2);
    ray_ref r = depth_remote(24);
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(r, &v, 4 * BOUND_MS), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 24);
    ray_ref_release(r);
}

Test(scheduling, a_cancelled_task_queued_in_a_worker_never_runs)
{
    start(1);
    ray_ref h = held_remote(gate);
    ray_ref x = counted_remote(file); /* queued behind it, same worker */
    cr_assert_eq(ray_cancel(x, false), RAY_OK, "%s", ray_last_error_detail());
    int64_t v;
    cr_assert_eq(ray_get_int64(x, &v, BOUND_MS), RAY_ECANCELLED);
    release_held(h);
    /* A task after it has run: the worker went past x's record. */
    ray_ref q = quick_remote(3);
    cr_assert_eq(ray_get_int64(q, &v, BOUND_MS), RAY_OK);
    ray_ref_release(q);
    ray_ref_release(x);
    cr_assert_eq(count_bytes(file), 0, "the cancelled task ran");
}

Test(scheduling, a_destroyed_map_job_runs_no_queued_chunk)
{
    start(2);
    char count[64], door[64];
    snprintf(count, sizeof(count), "/tmp/rayc_sched_count_%d", (int)getpid());
    snprintf(door, sizeof(door), "/tmp/rayc_sched_door_%d", (int)getpid());
    unlink(count);
    unlink(door);
    enum { N = 160, CHUNK = 10 }; /* 2 workers x 8 chunks of 10 */
    static int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    ray_map_job *job = NULL;
    cr_assert_eq(RAY_MAP_ASYNC(door_elem, &job, in, N, out), RAY_OK);
    /* Both workers inside their first chunk (bounded poll). */
    for (int i = 0; i < BOUND_MS && count_bytes(count) < 2; i++)
        usleep(1000);
    cr_assert_eq(count_bytes(count), 2, "both workers start a chunk");
    ray_map_job_destroy(job);
    int fd = open(door, O_CREAT | O_WRONLY, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    /* The two running chunks finish (bounded poll)... */
    for (int i = 0; i < BOUND_MS && count_bytes(count) < 2 * CHUNK; i++)
        usleep(1000);
    /* ...and a new job runs on both workers, past every record they were
     * given: no queued chunk of the destroyed job is left to run. */
    int64_t b_in[100], b_out[100];
    for (int i = 0; i < 100; i++)
        b_in[i] = i;
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(RAY_MAP(plus1, b_in, 100, b_out), RAY_OK, "%s",
                     ray_last_error_detail());
        for (int i = 0; i < 100; i++)
            cr_assert_eq(b_out[i], i + 1);
    }
    cr_assert_eq(count_bytes(count), 2 * CHUNK,
                 "%ld elements ran: queued chunks of the destroyed job ran",
                 count_bytes(count));
    unlink(count);
    unlink(door);
}

/* Counts that it started, then waits (bounded) until `n` have: true
 * when they all ran at once. */
static int64_t
together(const char *path, int64_t n)
{
    if (!count_event(path))
        return -1;
    for (int i = 0; i < BOUND_MS && count_bytes(path) < n; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return count_bytes(path) >= n;
}
RAY_REMOTE(together, int64_t, const char *, int64_t);

Test(scheduling, four_quarter_cpu_tasks_run_at_once_on_one_cpu)
{
    start(1);
    ray_call_opts quarter = {.num_cpus = 0.25};
    ray_ref r[4];
    for (int i = 0; i < 4; i++)
        r[i] = together_remote_opts(&quarter, file, 4);
    for (int i = 0; i < 4; i++) {
        int64_t v = -1;
        cr_assert_eq(ray_get_int64(r[i], &v, 2 * BOUND_MS), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_eq(v, 1, "task %d never saw all four running", i);
        ray_ref_release(r[i]);
    }
    /* The CPU is the node's again: a whole-CPU task runs. */
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(quick_remote(5), &v, BOUND_MS), RAY_OK);
    cr_assert_eq(v, 5);
    /* Halves: two at once on it, never a third (the third of three
     * waits for one of the first two). */
    unlink(file);
    ray_call_opts half = {.num_cpus = 0.5};
    for (int i = 0; i < 2; i++)
        r[i] = together_remote_opts(&half, file, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(ray_get_int64(r[i], &v, 2 * BOUND_MS), RAY_OK);
        cr_assert_eq(v, 1, "two halves did not share the CPU");
        ray_ref_release(r[i]);
    }
}

/* A fractional task that waits for a whole-CPU child it made. */
static int64_t
half_parent(int64_t x)
{
    ray_ref c = quick_remote(x);
    int64_t v = -1;
    ray_err e = ray_get_int64(c, &v, BOUND_MS);
    ray_ref_release(c);
    return e == RAY_OK ? v : -1;
}
RAY_REMOTE(half_parent, int64_t, int64_t);

Test(scheduling, a_fractional_task_waiting_for_its_child_gives_the_cpu_back)
{
    start(1);
    ray_call_opts half = {.num_cpus = 0.5};
    int64_t v = -1;
    cr_assert_eq(
        ray_get_int64(half_parent_remote_opts(&half, 9), &v, 2 * BOUND_MS),
        RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(v, 9, "the child never ran: the lent CPU stayed lent");
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * Integration tests of actors: a real driver (this test process, forked
 * per test by Criterion) with real actor host and task worker processes
 * (this binary re-executed in worker mode). Every test tears the runtime
 * down in .fini, so no process outlives a failed test; every wait has a
 * timeout.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ray/ray.h>

#include "runtime/alloc.h"
#include "tests/integration/common/gate.h"
#include "tests/integration/common/live.h"

#define T_MS 20000

/* ---- a counter actor ---- */

typedef struct counter {
    int64_t n;
    int64_t calls;
    int64_t last_seq[8]; /* per caller: the last sequence number seen */
    int64_t order_errors;
} counter;

static ray_err
counter_init(counter *s, int64_t start)
{
    s->n = start;
    for (int i = 0; i < 8; i++)
        s->last_seq[i] = -1;
    return RAY_OK;
}
RAY_ACTOR(counter, counter_init, int64_t);

static int64_t
counter_add(counter *s, int64_t k)
{
    s->calls++;
    return s->n += k;
}
RAY_METHOD(counter, counter_add, int64_t, int64_t);

static int64_t
counter_get(counter *s)
{
    return s->n;
}
RAY_METHOD0(counter, counter_get, int64_t);

/* Checks that calls from one caller arrive in order. */
static int64_t
counter_seq(counter *s, int64_t caller, int64_t seq)
{
    if (caller >= 0 && caller < 8) {
        if (seq != s->last_seq[caller] + 1)
            s->order_errors++;
        s->last_seq[caller] = seq;
    }
    return ++s->calls;
}
RAY_METHOD(counter, counter_seq, int64_t, int64_t, int64_t);

static int64_t
counter_order_errors(counter *s)
{
    return s->order_errors;
}
RAY_METHOD0(counter, counter_order_errors, int64_t);

static bool
counter_restarted(counter *s)
{
    (void)s;
    return ray_actor_restarted();
}
RAY_METHOD0(counter, counter_restarted, bool);

static int64_t
counter_sleep(counter *s, int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return s->n;
}
RAY_METHOD(counter, counter_sleep, int64_t, int64_t);

/* Counts its start in file `count`, then waits at FIFO `gate`: a call the
 * test holds running until it opens the gate. */
static int64_t
counter_hold(counter *s, const char *count, const char *gate)
{
    if (!count_event(count) || !gate_pass(gate))
        ray_task_fail(RAY_ETASK_FAILED, "gate %s unreadable", gate);
    return s->n;
}
RAY_METHOD(counter, counter_hold, int64_t, const char *, const char *);

static int64_t
counter_crash(counter *s, int64_t how)
{
    if (how == 1)
        raise(SIGSEGV);
    return s->n;
}
RAY_METHOD(counter, counter_crash, int64_t, int64_t);

static int64_t
counter_quit(counter *s)
{
    ray_actor_exit();
    return s->n;
}
RAY_METHOD0(counter, counter_quit, int64_t);

static int64_t
counter_fail(counter *s, const char *why)
{
    ray_task_fail(RAY_ETASK_FAILED, "refused: %s", why);
    return s->n;
}
RAY_METHOD(counter, counter_fail, int64_t, const char *);

static int64_t
twice(int64_t x)
{
    return 2 * x;
}
RAY_REMOTE(twice, int64_t, int64_t);

/* A method that waits for a task it submitted. */
static int64_t
counter_via_task(counter *s, int64_t x)
{
    ray_ref r = twice_remote(x);
    int64_t v = -1000000;
    ray_get_int64(r, &v, T_MS);
    ray_ref_release(r);
    return s->n += v;
}
RAY_METHOD(counter, counter_via_task, int64_t, int64_t);

/* A method that calls another actor (a handle as an argument). */
static int64_t
counter_via_actor(counter *s, ray_actor other, int64_t x)
{
    ray_ref r = counter_add_remote(other, x);
    int64_t v = -1000000;
    ray_get_int64(r, &v, T_MS);
    ray_ref_release(r);
    return s->n += v;
}
RAY_METHOD(counter, counter_via_actor, int64_t, ray_actor, int64_t);

/* A thread-safe actor for max_concurrency. */
typedef struct pool_actor {
    _Atomic int64_t running;
    _Atomic int64_t peak;
    _Atomic int64_t total;
} pool_actor;

static ray_err
pool_actor_init(pool_actor *s)
{
    (void)s;
    return RAY_OK;
}
RAY_ACTOR0(pool_actor, pool_actor_init);

/* Counts its start in file `count`, then waits at FIFO `gate` (one per
 * call), on one of the actor's threads; tracks the most running at once. */
static int64_t
pool_actor_hold(pool_actor *s, const char *count, const char *gate)
{
    int64_t now = atomic_fetch_add(&s->running, 1) + 1;
    int64_t p = atomic_load(&s->peak);
    while (now > p && !atomic_compare_exchange_weak(&s->peak, &p, now))
        ;
    bool ok = count_event(count) && gate_pass(gate);
    atomic_fetch_sub(&s->running, 1);
    if (!ok)
        ray_task_fail(RAY_ETASK_FAILED, "gate %s unreadable", gate);
    return atomic_fetch_add(&s->total, 1) + 1;
}
RAY_METHOD(pool_actor, pool_actor_hold, int64_t, const char *, const char *);

/* The sum of the bytes, on one of the actor's threads. */
static int64_t
pool_actor_sum(pool_actor *s, ray_bytes b, const char *tag)
{
    (void)s;
    int64_t sum = (int64_t)strlen(tag);
    for (size_t i = 0; i < b.len; i++)
        sum += ((const uint8_t *)b.data)[i];
    return sum;
}
RAY_METHOD(pool_actor, pool_actor_sum, int64_t, ray_bytes, const char *);

/* The rayc API on one of the actor's threads: a clear error, not a
 * crash. 1 when each call said so. */
static int64_t
pool_actor_try_api(pool_actor *s)
{
    (void)s;
    ray_ref r = twice_remote(1);
    bool submit =
        r.id == 0 && strstr(ray_last_error_detail(), "max_concurrency");
    ray_ref p;
    bool put = ray_put_int64(1, &p) == RAY_EINVAL;
    ray_actor h;
    bool lookup = ray_actor_lookup("x", &h) == RAY_EINVAL;
    return submit && put && lookup;
}
RAY_METHOD0(pool_actor, pool_actor_try_api, int64_t);

static int64_t
pool_actor_peak(pool_actor *s)
{
    return atomic_load(&s->peak);
}
RAY_METHOD0(pool_actor, pool_actor_peak, int64_t);

static int64_t
counter_sum_bytes(counter *s, ray_bytes b)
{
    int64_t sum = 0;
    for (size_t i = 0; i < b.len; i++)
        sum += ((const uint8_t *)b.data)[i];
    return s->n + sum;
}
RAY_METHOD(counter, counter_sum_bytes, int64_t, ray_bytes);

/* A second class with a failing constructor and a destructor. */
typedef struct picky {
    char path[200];
} picky;

static ray_err
picky_init(picky *s, const char *path, bool ok)
{
    snprintf(s->path, sizeof(s->path), "%s", path);
    return ok ? RAY_OK : RAY_EINVAL;
}
RAY_ACTOR(picky, picky_init, const char *, bool);

static void
picky_fini(picky *s)
{
    FILE *f = fopen(s->path, "w");
    if (f) {
        fputs("fini", f);
        fclose(f);
    }
}
RAY_ACTOR_DTOR(picky, picky_fini);

static int64_t
picky_ping(picky *s)
{
    (void)s;
    return 7;
}
RAY_METHOD0(picky, picky_ping, int64_t);

/* ---- tasks that use actor handles ---- */

static int64_t
bump_many(ray_actor h, int64_t caller, int64_t n)
{
    ray_ref last = RAY_REF_NULL;
    for (int64_t i = 0; i < n; i++) {
        ray_ref_release(last);
        last = counter_seq_remote(h, caller, i);
    }
    int64_t v = -1;
    if (ray_get_int64(last, &v, T_MS) != RAY_OK)
        v = -1;
    ray_ref_release(last);
    return v;
}
RAY_REMOTE(bump_many, int64_t, ray_actor, int64_t, int64_t);

/* A task that finds an actor by name and calls it. */
static int64_t
add_by_name(const char *name, int64_t k)
{
    ray_actor h;
    ray_err e = ray_actor_lookup(name, &h);
    if (e != RAY_OK)
        return -(int64_t)e;
    ray_ref r = counter_add_remote(h, k);
    int64_t v = -1;
    ray_get_int64(r, &v, T_MS);
    ray_ref_release(r);
    ray_actor_release(h); /* a lookup's handle counts, here too */
    return v;
}
RAY_REMOTE(add_by_name, int64_t, const char *, int64_t);

/* Pings `h` once a byte arrives on FIFO `gate`. */
static int64_t
ping_after_gate(ray_actor h, const char *gate)
{
    if (!gate_pass(gate))
        ray_task_fail(RAY_ETASK_FAILED, "gate %s unreadable", gate);
    ray_ref r = picky_ping_remote(h);
    int64_t v = -1;
    if (ray_get_int64(r, &v, T_MS) != RAY_OK)
        v = -(int64_t)ray_get_int64(r, &v, 0);
    ray_ref_release(r);
    return v;
}
RAY_REMOTE(ping_after_gate, int64_t, ray_actor, const char *);

/* Creates a counter from inside a task, calls it, releases it. */
static int64_t
spawn_and_use(int64_t start)
{
    ray_actor h;
    if (counter_create(&h, NULL, start) != RAY_OK)
        return -1;
    ray_ref r = counter_add_remote(h, 1);
    int64_t v = -1;
    ray_get_int64(r, &v, T_MS);
    ray_ref_release(r);
    ray_actor_release(h);
    return v;
}
RAY_REMOTE(spawn_and_use, int64_t, int64_t);

/* Creates a named counter from a task; 1 if made, else -(the error),
 * and the detail must name the conflict. */
static int64_t
spawn_named(const char *name)
{
    ray_actor h;
    ray_actor_opts o = {.name = name, .detached = true};
    ray_err e = counter_create(&h, &o, 100);
    if (e == RAY_EEXISTS && !strstr(ray_last_error_detail(), "taken"))
        return -1000;
    return e == RAY_OK ? 1 : -(int64_t)e;
}
RAY_REMOTE(spawn_named, int64_t, const char *);

/* Inside a task: creates a picky actor (constructor ok or not) and
 * reports what ray_actor_wait_ready and ray_actor_state say: 1 for a
 * live one, 2 for a dead one whose cause names its constructor. */
static int64_t
spawn_and_check(const char *path, bool ok)
{
    ray_actor h;
    if (picky_create(&h, NULL, path, ok) != RAY_OK)
        return -1;
    ray_err e = ray_actor_wait_ready(h, T_MS);
    bool named = e != RAY_OK && strstr(ray_last_error_detail(), "picky_init");
    int st = -1, n = -1;
    ray_err se = ray_actor_state(h, &st, &n);
    ray_actor_release(h);
    if (se != RAY_OK || n != 0)
        return -2;
    if (ok)
        return e == RAY_OK && st == RAY_ACTOR_ALIVE ? 1 : -3;
    return e == RAY_EACTOR_DIED && named && st == RAY_ACTOR_DEAD ? 2 : -4;
}
RAY_REMOTE(spawn_and_check, int64_t, const char *, bool);

/* ray_actor_wait_ready inside a task: 0 or -(the error). */
static int64_t
wait_ready_in_task(ray_actor h, int64_t ms)
{
    return -(int64_t)ray_actor_wait_ready(h, ms);
}
RAY_REMOTE(wait_ready_in_task, int64_t, ray_actor, int64_t);

/* From inside a task: a 1 MiB argument to a method and to a
 * constructor (both go through the object store). Returns the method's
 * sum plus the new actor's start value. */
static int64_t
big_args_from_task(ray_actor h, int64_t start)
{
    size_t n = 1u << 20;
    uint8_t *buf = malloc(n);
    if (!buf)
        return -1;
    memset(buf, 1, n);
    ray_ref r = counter_sum_bytes_remote(h, (ray_bytes){buf, n});
    int64_t sum = -1;
    ray_err e = ray_get_int64(r, &sum, T_MS);
    ray_ref_release(r);
    ray_actor p;
    ray_err ce = picky_create(&p, NULL, "/dev/null", true);
    ray_actor q;
    char *blob = malloc(n);
    ray_err qe = RAY_EINVAL;
    if (blob) {
        memset(blob, 'x', n - 1);
        blob[n - 1] = '\0';
        qe = picky_create(&q, NULL, blob, true); /* a 1 MiB path string */
    }
    free(blob);
    free(buf);
    if (ce == RAY_OK)
        ray_actor_release(p);
    if (qe != RAY_OK)
        return -2;
    /* Its constructor ran with the whole string: the ping answers. */
    ray_ref pr = picky_ping_remote(q);
    int64_t seven = -1;
    ray_err pe = ray_get_int64(pr, &seven, T_MS);
    ray_ref_release(pr);
    ray_actor_kill(q, true); /* no destructor writing that path */
    ray_actor_release(q);
    return e == RAY_OK && pe == RAY_OK && seven == 7 ? sum + start : -3;
}
RAY_REMOTE(big_args_from_task, int64_t, ray_actor, int64_t);

/* Kills `h` from inside a task. */
static int64_t
kill_it(ray_actor h)
{
    return ray_actor_kill(h, true) == RAY_OK;
}
RAY_REMOTE(kill_it, int64_t, ray_actor);

/* An actor that keeps a handle to another between calls. */
typedef struct keeper {
    ray_actor kept;
} keeper;

static ray_err
keeper_init(keeper *s)
{
    (void)s;
    return RAY_OK;
}
RAY_ACTOR0(keeper, keeper_init);

static int64_t
keeper_keep(keeper *s, ray_actor h)
{
    s->kept = h;
    return ray_actor_retain(h) == RAY_OK;
}
RAY_METHOD(keeper, keeper_keep, int64_t, ray_actor);

static int64_t
keeper_use(keeper *s)
{
    ray_ref r = picky_ping_remote(s->kept);
    int64_t v = -1;
    ray_err e = ray_get_int64(r, &v, T_MS);
    ray_ref_release(r);
    return e == RAY_OK ? v : -(int64_t)e;
}
RAY_METHOD0(keeper, keeper_use, int64_t);

static int64_t
keeper_drop(keeper *s)
{
    ray_actor_release(s->kept);
    s->kept = RAY_ACTOR_NULL;
    return 1;
}
RAY_METHOD0(keeper, keeper_drop, int64_t);

/* Creates a picky actor writing `path` at its end, and keeps it. */
static int64_t
keeper_spawn(keeper *s, const char *path)
{
    return picky_create(&s->kept, NULL, path, true) == RAY_OK;
}
RAY_METHOD(keeper, keeper_spawn, int64_t, const char *);

static int64_t
keeper_crash(keeper *s)
{
    (void)s;
    raise(SIGSEGV);
    return 0;
}
RAY_METHOD0(keeper, keeper_crash, int64_t);

/* ---- fixture ---- */

static char tmp_path[128];

static void
setup(void)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cfg.ring_bytes = 1u << 20;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/rayc_actor_%d", (int)getpid());
    unlink(tmp_path);
}

static void
teardown(void)
{
    ray_shutdown();
    unlink(tmp_path);
}

TestSuite(actors, .init = setup, .fini = teardown, .timeout = 60);

static int64_t
get_i64(ray_ref r, ray_err want)
{
    int64_t v = -1;
    ray_err e = ray_get_int64(r, &v, T_MS);
    cr_assert_eq(e, want, "got %s: %s", ray_strerror(e),
                 ray_last_error_detail());
    ray_ref_release(r);
    return v;
}

Test(actors, create_call_and_state_persist)
{
    ray_actor c;
    cr_assert_eq(counter_create(&c, NULL, 10), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_neq(c.id, 0);
    ray_ref r1 = counter_add_remote(c, 5);
    ray_ref r2 = counter_add_remote(c, 7);
    cr_assert_eq(get_i64(r1, RAY_OK), 15);
    cr_assert_eq(get_i64(r2, RAY_OK), 22);
    cr_assert_eq(get_i64(counter_get_remote(c), RAY_OK), 22);
    int st = -1;
    cr_assert_eq(ray_actor_state(c, &st, NULL), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_ALIVE);
    /* A ref as a method argument. */
    ray_ref k;
    cr_assert_eq(ray_put_int64(100, &k), RAY_OK);
    cr_assert_eq(get_i64(RAY_ACTOR_CALL(counter_add, c, k), RAY_OK), 122);
    ray_ref_release(k);
    /* A method's own failure does not end the actor. */
    int64_t v;
    ray_ref f = counter_fail_remote(c, "no");
    cr_assert_eq(ray_get_int64(f, &v, T_MS), RAY_ETASK_FAILED);
    cr_assert(strstr(ray_last_error_detail(), "refused: no"), "%s",
              ray_last_error_detail());
    ray_ref_release(f);
    cr_assert_eq(get_i64(counter_get_remote(c), RAY_OK), 122);
    ray_actor_release(c);
}

Test(actors, large_arguments_reach_methods)
{
    ray_actor c;
    cr_assert_eq(counter_create(&c, NULL, 1), RAY_OK);
    size_t n = 4u << 20; /* through the object store, not the ring */
    uint8_t *buf = malloc(n);
    cr_assert_not_null(buf);
    int64_t want = 1;
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)(i * 7);
        want += buf[i];
    }
    ray_ref r = counter_sum_bytes_remote(c, (ray_bytes){buf, n});
    cr_assert_eq(get_i64(r, RAY_OK), want);
    ray_ref big;
    cr_assert_eq(ray_put_bytes(buf, n, &big), RAY_OK);
    cr_assert_eq(get_i64(RAY_ACTOR_CALL(counter_sum_bytes, c, big), RAY_OK),
                 want);
    ray_ref_release(big);
    free(buf);
    ray_actor_release(c);
}

/* Returns v once a byte arrives on FIFO `gate`. */
static int64_t
gate_value(const char *gate, int64_t v)
{
    if (!gate_pass(gate))
        ray_task_fail(RAY_ETASK_FAILED, "gate %s unreadable", gate);
    return v;
}
RAY_REMOTE(gate_value, int64_t, const char *, int64_t);

Test(actors, constructor_waits_for_ref_arguments)
{
    char gate[160];
    snprintf(gate, sizeof(gate), "%s.gate", tmp_path);
    cr_assert(gate_make(gate));
    ray_ref dep = gate_value_remote(gate, 40);
    ray_actor c;
    ray_actor_opts ro = {.max_restarts = 1};
    cr_assert_eq(RAY_ACTOR_CREATE(counter, &c, &ro, dep), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref early = counter_add_remote(c, 2); /* queues behind the ctor */
    int st;
    cr_assert_eq(ray_actor_state(c, &st, NULL), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_DEPENDENCIES_UNREADY);
    cr_assert_eq(ray_actor_wait_ready(c, 50), RAY_ETIMEDOUT);
    cr_assert_eq(get_i64(wait_ready_in_task_remote(c, 50), RAY_OK),
                 -(int64_t)RAY_ETIMEDOUT);
    ray_ref_release(dep); /* the actor holds its own */
    cr_assert(gate_open(gate));
    unlink(gate);
    cr_assert_eq(get_i64(early, RAY_OK), 42);
    cr_assert_eq(ray_actor_wait_ready(c, T_MS), RAY_OK);
    /* In a task too; the answer to the timed-out wait is dropped. */
    cr_assert_eq(get_i64(wait_ready_in_task_remote(c, T_MS), RAY_OK), 0);
    /* A restart runs the constructor again with the same argument. */
    cr_assert_eq(get_i64(counter_crash_remote(c, 1), RAY_EACTOR_DIED), -1);
    cr_assert_eq(get_i64(counter_get_remote(c), RAY_OK), 40);
    ray_ref r = counter_restarted_remote(c);
    bool again = false;
    cr_assert_eq(ray_get_bool(r, &again, T_MS), RAY_OK);
    cr_assert(again);
    ray_ref_release(r);
    ray_actor_release(c);
}

Test(actors, constructor_with_a_failed_ref_argument_dies)
{
    ray_actor c0, c;
    cr_assert_eq(counter_create(&c0, NULL, 0), RAY_OK);
    ray_ref bad = counter_fail_remote(c0, "for the ctor");
    cr_assert_eq(RAY_ACTOR_CREATE(counter, &c, NULL, bad), RAY_OK);
    ray_ref_release(bad);
    cr_assert_eq(ray_actor_wait_ready(c, T_MS), RAY_EACTOR_DIED);
    cr_assert(strstr(ray_last_error_detail(), "argument 1 failed"), "%s",
              ray_last_error_detail());
    cr_assert(strstr(ray_last_error_detail(), "refused: for the ctor"), "%s",
              ray_last_error_detail());
    int64_t v;
    ray_ref r = counter_get_remote(c);
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    ray_ref_release(r);
    /* A value argument still works through the same macro. */
    ray_actor d;
    cr_assert_eq(RAY_ACTOR_CREATE(counter, &d, NULL, 7), RAY_OK);
    cr_assert_eq(get_i64(counter_get_remote(d), RAY_OK), 7);
    ray_actor_release(c);
    ray_actor_release(c0);
    ray_actor_release(d);
}

/* Orders, not times: the arguments are tasks held at a gate, so the call
 * that waits for one is still waiting when the later calls are queued
 * (and cancelled). */
Test(actors, a_call_waiting_for_its_argument_holds_back_later_calls)
{
    char gate[160];
    snprintf(gate, sizeof(gate), "%s.gate", tmp_path);
    cr_assert(gate_make(gate));
    ray_actor c;
    cr_assert_eq(counter_create(&c, NULL, 0), RAY_OK);
    ray_ref slow = gate_value_remote(gate, 5);
    ray_ref r1 = RAY_ACTOR_CALL(counter_add, c, slow);
    ray_ref r2 = counter_add_remote(c, 1);
    size_t idx[1], nr = 1;
    cr_assert_eq(ray_wait(&r2, 1, 1, 0, idx, &nr), RAY_OK);
    cr_assert_eq(nr, 0, "ran while the call before it waited");
    cr_assert(gate_open_within(gate, T_MS));
    cr_assert_eq(get_i64(r2, RAY_OK), 6, "ran after the call before it");
    cr_assert_eq(get_i64(r1, RAY_OK), 5);
    /* A failed argument fails that call only. */
    ray_ref bad = counter_fail_remote(c, "arg");
    ray_ref r3 = RAY_ACTOR_CALL(counter_add, c, bad);
    int64_t v;
    cr_assert_eq(ray_get_int64(r3, &v, T_MS), RAY_ETASK_FAILED);
    cr_assert(strstr(ray_last_error_detail(), "argument 1 failed"), "%s",
              ray_last_error_detail());
    ray_ref_release(r3);
    ray_ref_release(bad);
    ray_ref_release(slow);
    cr_assert_eq(get_i64(counter_get_remote(c), RAY_OK), 6);
    /* A cancelled queued call never runs. */
    cr_assert(gate_make(gate));
    ray_ref dep = gate_value_remote(gate, 100);
    ray_ref held = RAY_ACTOR_CALL(counter_add, c, dep);
    ray_ref victim = counter_add_remote(c, 1000);
    cr_assert_eq(ray_cancel(victim, false), RAY_OK);
    cr_assert_eq(ray_get_int64(victim, &v, T_MS), RAY_ECANCELLED);
    ray_ref_release(victim);
    cr_assert(gate_open_within(gate, T_MS));
    unlink(gate);
    cr_assert_eq(get_i64(held, RAY_OK), 106);
    cr_assert_eq(get_i64(counter_get_remote(c), RAY_OK), 106);
    ray_ref_release(dep);
    ray_actor_release(c);
}

/* Whether `path` holds "fini" (a picky destructor ran), waiting up to
 * `ms` for it. */
static bool
fini_within(const char *path, int ms)
{
    for (int i = 0; i <= ms / 5; i++) {
        char buf[8] = {0};
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(buf, 1, 4, f);
            fclose(f);
            if (n == 4 && memcmp(buf, "fini", 4) == 0)
                return true;
        }
        struct timespec d = {0, 5000000};
        nanosleep(&d, NULL);
    }
    return false;
}

Test(actors, a_handle_passed_to_a_task_keeps_the_actor_alive)
{
    char gate[160];
    snprintf(gate, sizeof(gate), "%s.gate", tmp_path);
    cr_assert(gate_make(gate));
    ray_actor p;
    cr_assert_eq(picky_create(&p, NULL, tmp_path, true), RAY_OK);
    ray_ref t = ping_after_gate_remote(p, gate);
    ray_actor_release(p); /* the task's hold is the last one now */
    cr_assert_neq(access(tmp_path, F_OK), 0, "ended while a task held it");
    cr_assert(gate_open(gate));
    unlink(gate);
    cr_assert_eq(get_i64(t, RAY_OK), 7);
    /* The task finished: its hold went, and with it the actor. */
    cr_assert(fini_within(tmp_path, T_MS), "the destructor never ran");
}

Test(actors, an_actor_keeps_a_handle_it_retained)
{
    ray_actor p, k;
    cr_assert_eq(picky_create(&p, NULL, tmp_path, true), RAY_OK);
    cr_assert_eq(keeper_create(&k, NULL), RAY_OK);
    cr_assert_eq(get_i64(keeper_keep_remote(k, p), RAY_OK), 1);
    ray_actor_release(p);
    cr_assert_eq(get_i64(keeper_use_remote(k), RAY_OK), 7);
    cr_assert_neq(access(tmp_path, F_OK), 0, "ended while the keeper held it");
    cr_assert_eq(get_i64(keeper_drop_remote(k), RAY_OK), 1);
    cr_assert(fini_within(tmp_path, T_MS), "the destructor never ran");
    ray_actor_release(k);
}

Test(actors, a_crashed_holder_drops_its_handles)
{
    ray_actor p, k;
    cr_assert_eq(picky_create(&p, NULL, tmp_path, true), RAY_OK);
    cr_assert_eq(keeper_create(&k, NULL), RAY_OK);
    cr_assert_eq(get_i64(keeper_keep_remote(k, p), RAY_OK), 1);
    ray_actor_release(p);
    cr_assert_eq(get_i64(keeper_crash_remote(k), RAY_EACTOR_DIED), -1);
    cr_assert(fini_within(tmp_path, T_MS), "the destructor never ran");
    ray_actor_release(k);
}

Test(actors, large_arguments_from_a_task)
{
    ray_actor c;
    cr_assert_eq(counter_create(&c, NULL, 5), RAY_OK);
    cr_assert_eq(get_i64(big_args_from_task_remote(c, 0), RAY_OK),
                 5 + (1 << 20));
    ray_actor_release(c);
}

Test(actors, created_inside_tasks_and_methods)
{
    cr_assert_eq(get_i64(spawn_and_use_remote(41), RAY_OK), 42);
    /* (Their destructors write to /dev/null.) */
    cr_assert_eq(get_i64(spawn_and_check_remote("/dev/null", true), RAY_OK), 1);
    cr_assert_eq(get_i64(spawn_and_check_remote("/dev/null", false), RAY_OK),
                 2);
    /* Named from a task: the driver finds it; a second one is refused. */
    cr_assert_eq(get_i64(spawn_named_remote("made-in-a-task"), RAY_OK), 1);
    cr_assert_eq(get_i64(spawn_named_remote("made-in-a-task"), RAY_OK),
                 -(int64_t)RAY_EEXISTS);
    ray_actor n;
    cr_assert_eq(ray_actor_lookup("made-in-a-task", &n), RAY_OK);
    /* get_if_exists: the same actor (its state says so), from here... */
    ray_actor same, other;
    ray_actor_opts gie = {.name = "made-in-a-task", .get_if_exists = true};
    cr_assert_eq(counter_create(&same, &gie, 0), RAY_OK);
    cr_assert_eq(same.id, n.id);
    cr_assert_eq(get_i64(counter_add_remote(same, 1), RAY_OK), 101);
    ray_actor_release(same);
    /* ...but not for another class. */
    cr_assert_eq(keeper_create(&other, &gie), RAY_EEXISTS);
    cr_assert(strstr(ray_last_error_detail(), "another class"), "%s",
              ray_last_error_detail());
    cr_assert_eq(get_i64(counter_add_remote(n, -1), RAY_OK), 100);
    cr_assert_eq(get_i64(counter_get_remote(n), RAY_OK), 100);
    /* Killed from a task: dead by the time the task's result is back. */
    cr_assert_eq(get_i64(kill_it_remote(n), RAY_OK), 1);
    int64_t v;
    ray_ref r = counter_get_remote(n);
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    cr_assert(strstr(ray_last_error_detail(), "killed by ray_actor_kill"), "%s",
              ray_last_error_detail());
    ray_ref_release(r);
    ray_actor_release(n);
    /* Created by an actor: it lives while its creator holds it. */
    ray_actor k;
    cr_assert_eq(keeper_create(&k, NULL), RAY_OK);
    cr_assert_eq(get_i64(keeper_spawn_remote(k, tmp_path), RAY_OK), 1);
    cr_assert_eq(get_i64(keeper_use_remote(k), RAY_OK), 7);
    cr_assert_neq(access(tmp_path, F_OK), 0);
    cr_assert_eq(get_i64(keeper_drop_remote(k), RAY_OK), 1);
    cr_assert(fini_within(tmp_path, T_MS), "the destructor never ran");
    ray_actor_release(k);
}

Test(actors, cpus_held_by_an_actor_are_not_used_by_tasks)
{
    /* The runtime has 2 CPUs; this actor holds both for its lifetime. */
    ray_actor c;
    ray_actor_opts o = {.num_cpus = 2};
    cr_assert_eq(counter_create(&c, &o, 0), RAY_OK);
    cr_assert_eq(ray_actor_wait_ready(c, T_MS), RAY_OK);
    ray_ref t = twice_remote(21);
    ray_stats st;
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    cr_assert_eq(st.tasks_queued, 1, "no worker may take it");
    int64_t v;
    cr_assert_eq(ray_get_int64(t, &v, 100), RAY_ETIMEDOUT);
    ray_actor_release(c); /* its CPUs come back: the task runs */
    cr_assert_eq(get_i64(t, RAY_OK), 42);
    /* One CPU held: tasks still run, on the other worker. */
    ray_actor d;
    ray_actor_opts one = {.num_cpus = 1};
    cr_assert_eq(counter_create(&d, &one, 0), RAY_OK);
    cr_assert_eq(ray_actor_wait_ready(d, T_MS), RAY_OK);
    cr_assert_eq(get_i64(twice_remote(5), RAY_OK), 10);
    ray_actor_release(d);
}

/* Each of the first allocations of a create and a call fails in turn:
 * every failure is RAY_ENOMEM (at once or in the result), nothing
 * crashes, and ASan finds nothing left behind. */
Test(actors, allocation_failures_in_create_and_call_are_enomem)
{
    ray_actor w;
    cr_assert_eq(counter_create(&w, NULL, 0), RAY_OK);
    cr_assert_eq(get_i64(counter_add_remote(w, 1), RAY_OK), 1);
    ray_actor_release(w);
    int failures = 0;
    for (long n = 1; n <= 12; n++) {
        ray_actor c = RAY_ACTOR_NULL;
        rt_alloc_fail_after(n);
        ray_err e = counter_create(&c, NULL, 5);
        ray_ref r = e == RAY_OK ? counter_add_remote(c, 1) : RAY_REF_NULL;
        rt_alloc_fail_after(0);
        if (e != RAY_OK) {
            failures++;
            cr_assert_eq(e, RAY_ENOMEM, "%s", ray_last_error_detail());
            continue;
        }
        if (r.id == 0) {
            failures++;
            cr_assert(strstr(ray_last_error_detail(), "memory"), "%s",
                      ray_last_error_detail());
        } else {
            int64_t v = -1;
            ray_err ge = ray_get_int64(r, &v, T_MS);
            cr_assert((ge == RAY_OK && v == 6) || ge == RAY_ENOMEM ||
                          ge == RAY_EACTOR_DIED,
                      "%s: %s", ray_strerror(ge), ray_last_error_detail());
            failures += ge != RAY_OK;
            ray_ref_release(r);
        }
        ray_actor_release(c);
    }
    cr_assert_geq(failures, 1, "injection never hit a create or a call");
    /* And the runtime still works. */
    cr_assert_eq(counter_create(&w, NULL, 7), RAY_OK);
    cr_assert_eq(get_i64(counter_get_remote(w), RAY_OK), 7);
    ray_actor_release(w);
}

Test(actors, wrong_class_method_is_einval)
{
    ray_actor p;
    cr_assert_eq(picky_create(&p, NULL, tmp_path, true), RAY_OK);
    ray_ref r = counter_get_remote(p);
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "not a method"), "%s",
              ray_last_error_detail());
    ray_ref_release(r);
    cr_assert_eq(get_i64(picky_ping_remote(p), RAY_OK), 7);
    ray_actor_release(p);
}

Test(actors, ordering_under_load_from_several_callers)
{
    ray_actor c;
    cr_assert_eq(counter_create(&c, NULL, 0), RAY_OK);
    /* Two tasks and the driver call the same actor concurrently. */
    enum { N = 2000 };
    ray_ref t1 = bump_many_remote(c, 1, N);
    ray_ref t2 = bump_many_remote(c, 2, N);
    ray_ref last = RAY_REF_NULL;
    for (int64_t i = 0; i < N; i++) {
        ray_ref_release(last);
        last = counter_seq_remote(c, 0, i);
    }
    ray_ref_release(last);
    cr_assert_gt(get_i64(t1, RAY_OK), 0);
    cr_assert_gt(get_i64(t2, RAY_OK), 0);
    cr_assert_eq(get_i64(counter_order_errors_remote(c), RAY_OK), 0);
    /* Every call ran once: the counter's call count says so. */
    cr_assert_eq(get_i64(counter_seq_remote(c, -1, 0), RAY_OK), 3 * N + 1);
    ray_actor_release(c);
}

Test(actors, named_lookup_and_taken_name)
{
    ray_actor a, b, l;
    ray_actor_opts o = {.name = "the-counter"};
    cr_assert_eq(counter_create(&a, &o, 3), RAY_OK);
    cr_assert_eq(counter_create(&b, &o, 4), RAY_EEXISTS);
    cr_assert(strstr(ray_last_error_detail(), "the-counter"), "%s",
              ray_last_error_detail());
    cr_assert_eq(b.id, 0);
    cr_assert_eq(ray_actor_lookup("the-counter", &l), RAY_OK);
    cr_assert_eq(l.id, a.id);
    cr_assert_eq(ray_actor_lookup("nobody", &b), RAY_ENOTFOUND);
    cr_assert_eq(get_i64(counter_add_remote(l, 1), RAY_OK), 4);
    /* From inside a task too. */
    cr_assert_eq(get_i64(add_by_name_remote("the-counter", 10), RAY_OK), 14);
    cr_assert_eq(get_i64(add_by_name_remote("nobody", 1), RAY_OK),
                 -(int64_t)RAY_ENOTFOUND);
    cr_assert_eq(get_i64(counter_add_remote(l, -10), RAY_OK), 4);
    /* Two handles: releasing one keeps it alive. */
    ray_actor_release(a);
    cr_assert_eq(get_i64(counter_get_remote(l), RAY_OK), 4);
    ray_actor_kill(l, true);
    /* Dead: the name is free again. */
    cr_assert_eq(counter_create(&b, &o, 9), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(get_i64(counter_get_remote(b), RAY_OK), 9);
    ray_actor_release(l);
    ray_actor_release(b);
}

/* Whether the call that counts its start in `count` started, waiting up
 * to `ms` for it. */
static bool
started_within(const char *count, long n, int ms)
{
    for (int i = 0; i < ms && count_bytes(count) < n; i++) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    return count_bytes(count) >= n;
}

/* Orders, not times: the kill comes while a call runs held at its gate,
 * which nobody opens. Its result and the queued call's are
 * RAY_EACTOR_DIED all the same: the kill did not wait for the call (it
 * could not have ended; a kill that waited would leave the get to time
 * out). */
Test(actors, kill_during_a_call)
{
    char count[160], gate[160];
    snprintf(count, sizeof(count), "%s.count", tmp_path);
    snprintf(gate, sizeof(gate), "%s.gate", tmp_path);
    unlink(count);
    cr_assert(gate_make(gate));
    ray_actor_opts o = {.own_process = true};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 1), RAY_OK);
    cr_assert_eq(ray_actor_wait_ready(c, T_MS), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref slow = counter_hold_remote(c, count, gate);
    ray_ref queued = counter_get_remote(c);
    cr_assert(started_within(count, 1, T_MS), "the held call never started");
    cr_assert_eq(ray_actor_kill(c, true), RAY_OK);
    int64_t v;
    cr_assert_eq(ray_get_int64(slow, &v, T_MS), RAY_EACTOR_DIED);
    cr_assert(strstr(ray_last_error_detail(), "killed by ray_actor_kill"), "%s",
              ray_last_error_detail());
    cr_assert_eq(ray_get_int64(queued, &v, T_MS), RAY_EACTOR_DIED);
    unlink(count);
    unlink(gate);
    ray_ref_release(slow);
    ray_ref_release(queued);
    /* Calls after death fail the same way. */
    ray_ref after = counter_get_remote(c);
    cr_assert_eq(ray_get_int64(after, &v, T_MS), RAY_EACTOR_DIED);
    ray_ref_release(after);
    int st;
    cr_assert_eq(ray_actor_state(c, &st, NULL), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_DEAD);
    ray_actor_release(c);
}

Test(actors, constructor_failure_leaves_actor_dead_with_its_error)
{
    ray_actor p;
    cr_assert_eq(picky_create(&p, NULL, tmp_path, false), RAY_OK);
    ray_ref r = picky_ping_remote(p);
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    const char *d = ray_last_error_detail();
    cr_assert(strstr(d, "constructor") && strstr(d, "picky_init"), "%s", d);
    ray_ref_release(r);
    cr_assert_eq(ray_actor_wait_ready(p, T_MS), RAY_EACTOR_DIED);
    ray_actor_release(p);
    cr_assert_eq(access(tmp_path, F_OK), -1,
                 "no destructor for a failed "
                 "constructor");
}

Test(actors, destructor_runs_on_last_release)
{
    ray_actor p;
    cr_assert_eq(picky_create(&p, NULL, tmp_path, true), RAY_OK);
    cr_assert_eq(get_i64(picky_ping_remote(p), RAY_OK), 7);
    ray_actor_release(p);
    for (int i = 0; i < 2000 && access(tmp_path, F_OK) != 0; i++) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(access(tmp_path, F_OK), 0, "destructor wrote its file");
    /* The handle is stale now. */
    int64_t v;
    ray_ref r = picky_ping_remote(p);
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    ray_ref_release(r);
}

Test(actors, method_exit_ends_the_actor)
{
    ray_actor c;
    cr_assert_eq(counter_create(&c, NULL, 5), RAY_OK);
    cr_assert_eq(get_i64(counter_quit_remote(c), RAY_OK), 5);
    int64_t v;
    ray_ref r = counter_get_remote(c);
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    cr_assert(strstr(ray_last_error_detail(), "exited"), "%s",
              ray_last_error_detail());
    ray_ref_release(r);
    ray_actor_release(c);
}

Test(actors, segfault_without_restarts_is_actor_died)
{
    ray_actor_opts o = {.own_process = true};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 1), RAY_OK);
    int64_t v;
    ray_ref r = counter_crash_remote(c, 1);
    ray_ref after = counter_get_remote(c);
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    const char *d = ray_last_error_detail();
#if defined(__SANITIZE_ADDRESS__)
    /* ASan catches the SEGV: abort (signal 6) or exit status 1. */
    cr_assert(strstr(d, "signal 6") || strstr(d, "status 1"), "%s", d);
#else
    cr_assert(strstr(d, "signal 11"), "%s", d);
#endif
    cr_assert(strstr(d, "actor counter is dead"), "%s", d);
    cr_assert_eq(ray_get_int64(after, &v, T_MS), RAY_EACTOR_DIED);
    ray_ref_release(r);
    ray_ref_release(after);
    ray_actor_release(c);
}

Test(actors, segfault_with_restarts_loses_state_and_knows_it)
{
    ray_actor_opts o = {.own_process = true, .max_restarts = 2};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 100), RAY_OK);
    cr_assert_eq(get_i64(counter_add_remote(c, 5), RAY_OK), 105);
    cr_assert_eq(get_i64(counter_restarted_remote(c), RAY_OK), 0);
    int64_t v;
    /* The crashing call is not retried (max_task_retries 0). */
    ray_ref r = counter_crash_remote(c, 1);
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    ray_ref_release(r);
    /* Calls made meanwhile queue, then run on the new incarnation: the
     * state is the constructor's again. */
    cr_assert_eq(get_i64(counter_get_remote(c), RAY_OK), 100);
    bool again = false;
    ray_ref rr = counter_restarted_remote(c);
    cr_assert_eq(ray_get_bool(rr, &again, T_MS), RAY_OK);
    cr_assert(again);
    ray_ref_release(rr);
    int st, n;
    cr_assert_eq(ray_actor_state(c, &st, &n), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_ALIVE);
    cr_assert_eq(n, 1);
    /* Restarts exhausted: 2 more crashes, the second is final. */
    cr_assert_eq(get_i64(counter_crash_remote(c, 1), RAY_EACTOR_DIED), -1);
    cr_assert_eq(get_i64(counter_get_remote(c), RAY_OK), 100);
    cr_assert_eq(get_i64(counter_crash_remote(c, 1), RAY_EACTOR_DIED), -1);
    r = counter_get_remote(c);
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    cr_assert(strstr(ray_last_error_detail(), "no restarts left"), "%s",
              ray_last_error_detail());
    ray_ref_release(r);
    cr_assert_eq(ray_actor_state(c, &st, &n), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_DEAD);
    cr_assert_eq(n, 2);
    ray_actor_release(c);
}

Test(actors, in_flight_calls_are_retried_with_max_task_retries)
{
    ray_actor_opts o = {
        .own_process = true, .max_restarts = 1, .max_task_retries = 1};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 1), RAY_OK);
    cr_assert_eq(ray_actor_wait_ready(c, T_MS), RAY_OK);
    ray_ref slow = counter_sleep_remote(c, 300);
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    cr_assert_eq(ray_actor_kill(c, false), RAY_OK); /* a crash: restarts */
    cr_assert_eq(get_i64(slow, RAY_OK), 1, "re-sent to the new incarnation");
    int st, n;
    cr_assert_eq(ray_actor_state(c, &st, &n), RAY_OK);
    cr_assert_eq(n, 1);
    ray_actor_release(c);
}

Test(actors, handles_passed_through_tasks)
{
    ray_actor c;
    cr_assert_eq(counter_create(&c, NULL, 0), RAY_OK);
    ray_ref t = bump_many_remote(c, 3, 10);
    cr_assert_eq(get_i64(t, RAY_OK), 10);
    cr_assert_eq(get_i64(counter_order_errors_remote(c), RAY_OK), 0);
    ray_actor_release(c);
}

Test(actors, methods_call_tasks_and_actors_one_call_at_a_time)
{
    ray_actor c1, c2;
    cr_assert_eq(counter_create(&c1, NULL, 0), RAY_OK);
    cr_assert_eq(counter_create(&c2, NULL, 100), RAY_OK);
    /* c1 and c2 share a host process (0 CPUs). While c1's first call
     * waits for its task, the call queued behind it must not run yet. */
    ray_ref r1 = counter_via_task_remote(c1, 5);
    ray_ref r2 = counter_add_remote(c1, 1);
    ray_ref r3 = counter_via_actor_remote(c1, c2, 1);
    ray_ref r4 = counter_get_remote(c1);
    cr_assert_eq(get_i64(r1, RAY_OK), 10);
    cr_assert_eq(get_i64(r2, RAY_OK), 11);
    cr_assert_eq(get_i64(r3, RAY_OK), 11 + 101);
    cr_assert_eq(get_i64(r4, RAY_OK), 112);
    cr_assert_eq(get_i64(counter_get_remote(c2), RAY_OK), 101);
    ray_actor_release(c1);
    ray_actor_release(c2);
}

Test(actors, own_process_each_crash_ends_only_its_actor)
{
    /* Fewer actors than actor processes: each runs in its own. */
    ray_actor a, b;
    cr_assert_eq(counter_create(&a, NULL, 1), RAY_OK);
    cr_assert_eq(counter_create(&b, NULL, 2), RAY_OK);
    cr_assert_eq(get_i64(counter_add_remote(b, 10), RAY_OK), 12);
    cr_assert_eq(get_i64(counter_crash_remote(a, 1), RAY_EACTOR_DIED), -1);
    /* b kept its process and its state. */
    cr_assert_eq(get_i64(counter_get_remote(b), RAY_OK), 12);
    int st, n;
    cr_assert_eq(ray_actor_state(b, &st, &n), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_ALIVE);
    cr_assert_eq(n, 0);
    cr_assert_eq(ray_actor_state(a, &st, NULL), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_DEAD);
    ray_actor_release(a);
    ray_actor_release(b);
}

static void
setup_one_process(void)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cfg.ring_bytes = 1u << 20;
    cfg.actor_processes = 1;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/rayc_actor_%d", (int)getpid());
    unlink(tmp_path);
}

TestSuite(shared, .init = setup_one_process, .fini = teardown, .timeout = 60);

Test(shared, host_kill_and_crash)
{
    /* One actor process: three 0-CPU actors share it. */
    ray_actor a, b, c;
    ray_actor_opts ro = {.max_restarts = 1};
    cr_assert_eq(counter_create(&a, NULL, 1), RAY_OK);
    cr_assert_eq(counter_create(&b, &ro, 2), RAY_OK);
    cr_assert_eq(counter_create(&c, NULL, 3), RAY_OK);
    cr_assert_eq(get_i64(counter_add_remote(b, 10), RAY_OK), 12);
    /* Killing one during a call resolves it at once, while the call is
     * still held at its gate (the shared process finishes the call, then
     * drops the actor); the others live. */
    char count[160], gate[160];
    snprintf(count, sizeof(count), "%s.count", tmp_path);
    snprintf(gate, sizeof(gate), "%s.gate", tmp_path);
    unlink(count);
    cr_assert(gate_make(gate));
    ray_ref slow = counter_hold_remote(a, count, gate);
    cr_assert(started_within(count, 1, T_MS), "the held call never started");
    cr_assert_eq(ray_actor_kill(a, true), RAY_OK);
    int64_t v;
    cr_assert_eq(ray_get_int64(slow, &v, T_MS), RAY_EACTOR_DIED);
    cr_assert(gate_open_within(gate, T_MS), "the call was not held");
    unlink(count);
    unlink(gate);
    ray_ref_release(slow);
    cr_assert_eq(get_i64(counter_get_remote(c), RAY_OK), 3);
    /* A crash ends the host: b restarts (fresh state), c does not. */
    cr_assert_eq(get_i64(counter_crash_remote(c, 1), RAY_EACTOR_DIED), -1);
    cr_assert_eq(get_i64(counter_get_remote(b), RAY_OK), 2);
    ray_ref r = counter_get_remote(c);
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    cr_assert(strstr(ray_last_error_detail(), "worker process"), "%s",
              ray_last_error_detail());
    ray_ref_release(r);
    int st, n;
    cr_assert_eq(ray_actor_state(b, &st, &n), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_ALIVE);
    cr_assert_eq(n, 1);
    ray_actor_release(a);
    ray_actor_release(b);
    ray_actor_release(c);
}

Test(shared, bad_actor_processes_rejected)
{
    ray_shutdown();
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.actor_processes = 65;
    cr_assert_eq(ray_init(&cfg), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "actor_processes"), "%s",
              ray_last_error_detail());
    setup_one_process(); /* for the suite's teardown */
}

Test(actors, threaded_actor_takes_large_and_inline_arguments)
{
    ray_actor_opts o = {.max_concurrency = 4};
    ray_actor p;
    cr_assert_eq(pool_actor_create(&p, &o), RAY_OK);
    size_t n = 2u << 20; /* through the object store */
    uint8_t *buf = malloc(n);
    cr_assert_not_null(buf);
    int64_t want = 0;
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)(i * 13);
        want += buf[i];
    }
    enum { K = 6 };
    ray_ref r[K];
    for (int i = 0; i < K; i++) /* big by value, small inline string */
        r[i] =
            pool_actor_sum_remote(p, (ray_bytes){buf, i % 2 ? n : 100}, "tag");
    ray_ref big;
    cr_assert_eq(ray_put_bytes(buf, n, &big), RAY_OK);
    ray_ref viaref = RAY_ACTOR_CALL(pool_actor_sum, p, big, "t");
    int64_t small = 3;
    for (size_t i = 0; i < 100; i++)
        small += buf[i];
    for (int i = 0; i < K; i++)
        cr_assert_eq(get_i64(r[i], RAY_OK), i % 2 ? want + 3 : small);
    cr_assert_eq(get_i64(viaref, RAY_OK), want + 1);
    cr_assert_eq(get_i64(pool_actor_try_api_remote(p), RAY_OK), 1);
    ray_ref_release(big);
    free(buf);
    ray_actor_release(p);
}

/* Counts, not times: each call counts its start and waits at its own
 * gate. Four run at once (four starts counted while none can end), a
 * fifth starts only when a gate opens (never more than four running),
 * and every call runs once. */
Test(actors, max_concurrency_runs_calls_on_threads)
{
    enum { N = 8, C = 4 };
    ray_actor_opts o = {.max_concurrency = C};
    ray_actor p;
    cr_assert_eq(pool_actor_create(&p, &o), RAY_OK);
    cr_assert_eq(ray_actor_wait_ready(p, T_MS), RAY_OK);
    char count[160], gate[N][160];
    snprintf(count, sizeof(count), "%s.count", tmp_path);
    unlink(count);
    ray_ref r[N];
    for (int i = 0; i < N; i++) {
        snprintf(gate[i], sizeof(gate[i]), "%s.gate%d", tmp_path, i);
        cr_assert(gate_make(gate[i]));
        r[i] = pool_actor_hold_remote(p, count, gate[i]);
    }
    started_within(count, C, T_MS);
    cr_assert_eq(count_bytes(count), C, "%ld calls running at once, not %d",
                 count_bytes(count), (int)C);
    for (int i = 0; i < N; i++)
        cr_assert(gate_open_within(gate[i], T_MS), "call %d never started", i);
    int64_t sum = 0;
    for (int i = 0; i < N; i++) {
        sum += get_i64(r[i], RAY_OK);
        unlink(gate[i]);
    }
    cr_assert_eq(sum, N * (N + 1) / 2, "every call ran once");
    cr_assert_eq(count_bytes(count), N);
    unlink(count);
    int64_t peak = get_i64(pool_actor_peak_remote(p), RAY_OK);
    cr_assert_eq(peak, C);
    ray_actor_release(p);
}

Test(actors, infeasible_demand_is_refused)
{
    ray_actor c;
    ray_actor_opts o = {.num_cpus = 64};
    cr_assert_eq(counter_create(&c, &o, 0), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "infeasible"), "%s",
              ray_last_error_detail());
    ray_actor_opts g = {.resources = "GPU:1"};
    cr_assert_eq(counter_create(&c, &g, 0), RAY_EINVAL);
}

Test(actors, creation_waits_for_resources)
{
    ray_actor a, b;
    ray_actor_opts o = {.num_cpus = 2}; /* all of this runtime's CPUs */
    cr_assert_eq(counter_create(&a, &o, 1), RAY_OK);
    cr_assert_eq(counter_create(&b, &o, 2), RAY_OK);
    cr_assert_eq(get_i64(counter_get_remote(a), RAY_OK), 1);
    int st;
    cr_assert_eq(ray_actor_state(b, &st, NULL), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_DEPENDENCIES_UNREADY, "waits for CPUs");
    ray_ref rb = counter_get_remote(b); /* queues */
    ray_actor_kill(a, true);
    cr_assert_eq(get_i64(rb, RAY_OK), 2);
    ray_actor_release(a);
    ray_actor_release(b);
}

/* One cycle of what a long-running driver does with actors: create,
 * call from here and from a task, hand a handle to a keeper actor that
 * retains and drops it, release everything. */
static void
actor_cycle(int64_t i)
{
    ray_actor a, k;
    cr_assert_eq(counter_create(&a, NULL, i), RAY_OK);
    cr_assert_eq(keeper_create(&k, NULL), RAY_OK);
    cr_assert_eq(get_i64(counter_add_remote(a, 1), RAY_OK), i + 1);
    cr_assert_eq(get_i64(bump_many_remote(a, 0, 20), RAY_OK), 21);
    cr_assert_eq(get_i64(keeper_keep_remote(k, a), RAY_OK), 1);
    cr_assert_eq(get_i64(keeper_drop_remote(k), RAY_OK), 1);
    ray_actor_release(a);
    ray_actor_release(k);
}

/* The driver's allocations after `n` more cycles come back to `base`
 * (actors end asynchronously: wait up to T_MS for it). */
static long
live_after(int n, long base)
{
    for (int i = 0; i < n; i++)
        actor_cycle(i);
    return live_down_to(base, T_MS);
}

Test(actors, a_long_run_does_not_grow)
{
    /* Warm up the pools (tasks, waiters, names), then settle. */
    (void)live_after(30, LONG_MAX);
    long base = live_settled();
    long after = live_after(150, base + 16);
    cr_assert_leq(after, base + 16,
                  "the driver holds %ld more allocations "
                  "after 150 actor cycles than after 30",
                  after - base);
}

Test(actors, thousand_actors_alive_at_once)
{
    enum { N = 1000 };
    static ray_actor h[N];
    static ray_ref r[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(counter_create(&h[i], NULL, i), RAY_OK, "%d: %s", i,
                     ray_last_error_detail());
    for (int i = 0; i < N; i++)
        r[i] = counter_add_remote(h[i], 1);
    for (int i = 0; i < N; i++)
        cr_assert_eq(get_i64(r[i], RAY_OK), i + 1);
    int alive = 0;
    for (int i = 0; i < N; i++) {
        int st;
        cr_assert_eq(ray_actor_state(h[i], &st, NULL), RAY_OK);
        alive += st == RAY_ACTOR_ALIVE;
    }
    cr_assert_eq(alive, N);
    ray_stats st;
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    cr_assert_geq(st.actors_alive, N);
    cr_assert_leq(st.actor_processes, 64, "%u actor processes",
                  st.actor_processes);
    cr_assert_geq(st.actor_processes, 2, "the thousand share processes");
    for (int i = 0; i < N; i++)
        ray_actor_release(h[i]);
}

Test(actors, bad_calls_are_errors_not_crashes)
{
    ray_actor c = RAY_ACTOR_NULL;
    int64_t v;
    ray_ref r = counter_get_remote(c);
    cr_assert_eq(ray_get_int64(r, &v, T_MS), RAY_EACTOR_DIED);
    ray_ref_release(r);
    cr_assert_eq(ray_actor_kill(c, true), RAY_EINVAL);
    cr_assert_eq(ray_actor_retain(c), RAY_EINVAL);
    ray_actor_release(c);
    cr_assert_eq(ray_actor_lookup(NULL, &c), RAY_EINVAL);
    cr_assert_eq(ray_actor_create(NULL, NULL, 0, NULL, &c), RAY_EINVAL);
    ray_actor_opts o = {.num_cpus = -1};
    cr_assert_eq(counter_create(&c, &o, 0), RAY_EINVAL);
}

/* Threads of this process, the caller aside, that one look finds running
 * or runnable (state R in /proc/self/task/TID/stat); -1 if unreadable. */
static int
others_running(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    long self = (long)syscall(SYS_gettid);
    struct dirent *e;
    while ((e = readdir(d))) {
        long tid = atol(e->d_name);
        if (tid <= 0 || tid == self)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* ended meanwhile */
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *p = strrchr(buf, ')'); /* the name may hold spaces */
        n += p && p[1] == ' ' && p[2] == 'R';
    }
    closedir(d);
    return n;
}

/* Starting an actor host wakes the driver's monitor thread (it spawns
 * the process); once it has, an idle driver must go back to sleep. A
 * wake-up left pending made the monitor spin on the runtime's lock for
 * the rest of the run, against every call. Counts, not CPU time: a
 * spinning thread is runnable at every look, so the test waits (at most
 * 2000 looks, 1 ms apart) for 20 looks in a row that find every other
 * thread of the driver asleep. */
Test(actors, idle_driver_sleeps_after_actors_start)
{
    ray_actor c;
    cr_assert_eq(counter_create(&c, NULL, 0), RAY_OK);
    cr_assert_eq(get_i64(counter_add_remote(c, 1), RAY_OK), 1);
    enum { LOOKS = 2000, IN_A_ROW = 20 };
    int asleep = 0, looks = 0, awake = 0;
    for (; looks < LOOKS && asleep < IN_A_ROW; looks++) {
        awake = others_running();
        cr_assert_geq(awake, 0, "cannot read /proc/self/task");
        asleep = awake == 0 ? asleep + 1 : 0;
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    cr_assert_eq(asleep, IN_A_ROW,
                 "in %d looks, never %d in a row with "
                 "every driver thread asleep (last look: %d running)",
                 looks, (int)IN_A_ROW, awake);
    ray_actor_release(c);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * Placement groups on the local runtime, each fact an order or a set,
 * never a time:
 *  - a bundle's tasks run on its reserved workers only, and no other
 *    task runs there; RAY_PG_ANY_BUNDLE takes the bundles in turn;
 *  - a group that can never fit fails at once, naming why;
 *  - a group that does not fit now waits (its tasks with it) and is
 *    created when resources come back, all bundles at once;
 *  - a bundle's custom resources are its tasks' and no one else's;
 *  - removal: queued tasks never run, running ones finish, actors die,
 *    later calls naming it fail.
 * Every wait has a bound; a broken rule fails a test, it never hangs one.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ray/ray.h>

#include "tests/integration/common/gate.h"

#define BOUND_MS 20000

static int64_t
whoami(int64_t i)
{
    (void)i;
    return (int64_t)getpid();
}
RAY_REMOTE(whoami, int64_t, int64_t);

/* Says it started (an event in `started`), then runs until the test
 * opens the gate. */
static int64_t
held(const char *gate, const char *started)
{
    return count_event(started) && gate_pass(gate) ? (int64_t)getpid() : -1;
}
RAY_REMOTE(held, int64_t, const char *, const char *);

static int64_t
counted(const char *file)
{
    return count_event(file) ? 1 : -1;
}
RAY_REMOTE(counted, int64_t, const char *);

/* Writes its pid to `pidfile`, then runs until the test opens the gate. */
static int64_t
held_pid(const char *gate, const char *pidfile)
{
    FILE *f = fopen(pidfile, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    return gate_pass(gate) ? 1 : -1;
}
RAY_REMOTE(held_pid, int64_t, const char *, const char *);

/* Appends digit `i` to the file at `path`: the order tasks ran in. */
static int64_t
mark(const char *path, int64_t i)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return -1;
    fputc('0' + (int)i, f);
    fclose(f);
    return i;
}
RAY_REMOTE(mark, int64_t, const char *, int64_t);

/* Inside a task, groups are not made (not yet): the error it got. */
static int64_t
pg_inside(int64_t unused)
{
    (void)unused;
    ray_bundle b = {.num_cpus = 1};
    ray_pg pg;
    return ray_pg_create(&b, 1, RAY_PG_PACK, NULL, &pg);
}
RAY_REMOTE(pg_inside, int64_t, int64_t);

typedef struct keeper {
    int64_t n;
} keeper;

static ray_err
keeper_init(keeper *s, int64_t n)
{
    s->n = n;
    return RAY_OK;
}
RAY_ACTOR(keeper, keeper_init, int64_t);

static int64_t
keeper_add(keeper *s, int64_t k)
{
    return s->n += k;
}
RAY_METHOD(keeper, keeper_add, int64_t, int64_t);

/* ---- fixture ---- */

static char gate[64], file[64], started[64];

static bool
is_null(ray_ref r)
{
    return r.id == 0;
}

static void
start(int cpus, const char *resources)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = cpus;
    cfg.resources = resources;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
}

static void
setup(void)
{
    snprintf(gate, sizeof(gate), "/tmp/rayc_pg_gate_%d", (int)getpid());
    snprintf(file, sizeof(file), "/tmp/rayc_pg_file_%d", (int)getpid());
    snprintf(started, sizeof(started), "/tmp/rayc_pg_started_%d",
             (int)getpid());
    cr_assert(gate_make(gate));
    unlink(file);
    unlink(started);
}

static void
teardown(void)
{
    gate_open_within(gate, 0);
    ray_shutdown();
    unlink(gate);
    unlink(file);
    unlink(started);
}

TestSuite(placement, .init = setup, .fini = teardown, .timeout = 90);

static int64_t
get_i64(ray_ref r)
{
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(r, &v, BOUND_MS), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref_release(r);
    return v;
}

static bool
has(const int64_t *set, int n, int64_t v)
{
    for (int i = 0; i < n; i++)
        if (set[i] == v)
            return true;
    return false;
}

/* ---- tests ---- */

Test(placement, a_bundle_runs_its_tasks_on_its_own_workers)
{
    start(4, NULL);
    ray_bundle b = {.num_cpus = 2};
    ray_pg pg;
    cr_assert_eq(ray_pg_create(&b, 1, RAY_PG_STRICT_PACK, "two", &pg), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(ray_pg_wait(pg, BOUND_MS), RAY_OK, "%s",
                 ray_last_error_detail());
    int st = -1;
    cr_assert_eq(ray_pg_state(pg, &st), RAY_OK);
    cr_assert_eq(st, RAY_PG_CREATED);
    enum { N = 40 };
    ray_call_opts in = {.pg = pg};
    ray_ref ri[N], ro[N];
    for (int i = 0; i < N; i++) {
        ri[i] = whoami_remote_opts(&in, i);
        ro[i] = whoami_remote(i);
        cr_assert(!is_null(ri[i]) && !is_null(ro[i]), "%s",
                  ray_last_error_detail());
    }
    int64_t pin[N], pout[N];
    int nin = 0, nout = 0;
    for (int i = 0; i < N; i++) {
        int64_t a = get_i64(ri[i]), c = get_i64(ro[i]);
        if (!has(pin, nin, a))
            pin[nin++] = a;
        if (!has(pout, nout, c))
            pout[nout++] = c;
    }
    cr_assert_leq(nin, 2, "the bundle's tasks ran on %d workers, not its 2",
                  nin);
    cr_assert_leq(nout, 2,
                  "the other tasks ran on %d workers, not the 2 "
                  "left",
                  nout);
    for (int i = 0; i < nout; i++)
        cr_assert(!has(pin, nin, pout[i]),
                  "a task outside the group ran on a bundle's worker");
    cr_assert_eq(ray_pg_remove(pg), RAY_OK);
    cr_assert_eq(ray_pg_remove(pg), RAY_EINVAL, "removed twice");
    cr_assert(is_null(whoami_remote_opts(&in, 0)),
              "a call naming a removed group is refused");
    cr_assert(strstr(ray_last_error_detail(), "removed"), "%s",
              ray_last_error_detail());
}

Test(placement, any_bundle_takes_the_bundles_in_turn)
{
    start(3, NULL);
    ray_bundle b[2] = {{.num_cpus = 1}, {.num_cpus = 1}};
    ray_pg pg;
    cr_assert_eq(ray_pg_create(b, 2, RAY_PG_PACK, NULL, &pg), RAY_OK);
    cr_assert_eq(ray_pg_wait(pg, BOUND_MS), RAY_OK);
    ray_call_opts any = {.pg = pg, .pg_bundle = RAY_PG_ANY_BUNDLE};
    ray_call_opts b0 = {.pg = pg, .pg_bundle = 0};
    ray_call_opts b1 = {.pg = pg, .pg_bundle = 1};
    int64_t w0 = get_i64(whoami_remote_opts(&b0, 0));
    int64_t w1 = get_i64(whoami_remote_opts(&b1, 0));
    cr_assert_neq(w0, w1, "two bundles of one CPU share a worker");
    int seen0 = 0, seen1 = 0;
    for (int i = 0; i < 10; i++) {
        int64_t w = get_i64(whoami_remote_opts(&any, i));
        cr_assert(w == w0 || w == w1, "an any-bundle task ran outside");
        seen0 += w == w0;
        seen1 += w == w1;
    }
    cr_assert_eq(seen0, 5);
    cr_assert_eq(seen1, 5);
    ray_call_opts bad = {.pg = pg, .pg_bundle = 2};
    cr_assert(is_null(whoami_remote_opts(&bad, 0)));
    cr_assert(strstr(ray_last_error_detail(), "bundle 2"), "%s",
              ray_last_error_detail());
    ray_call_opts big = {.pg = pg, .num_cpus = 2};
    cr_assert(is_null(whoami_remote_opts(&big, 0)), "2 CPUs in a 1-CPU bundle");
    cr_assert(strstr(ray_last_error_detail(), "infeasible"), "%s",
              ray_last_error_detail());
}

Test(placement, a_group_that_can_never_fit_fails_at_once)
{
    start(2, "GPU:1");
    ray_pg pg = {77};
    ray_bundle three = {.num_cpus = 3};
    cr_assert_eq(ray_pg_create(&three, 1, RAY_PG_PACK, NULL, &pg), RAY_EINVAL);
    cr_assert_eq(pg.id, 0);
    cr_assert(strstr(ray_last_error_detail(), "can never"), "%s",
              ray_last_error_detail());
    ray_bundle two[2] = {{.num_cpus = 1}, {.num_cpus = 1}};
    cr_assert_eq(ray_pg_create(two, 2, RAY_PG_STRICT_SPREAD, NULL, &pg),
                 RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "STRICT_SPREAD"), "%s",
              ray_last_error_detail());
    ray_bundle gpus[2] = {{.resources = "GPU:1"}, {.resources = "GPU:1"}};
    cr_assert_eq(ray_pg_create(gpus, 2, RAY_PG_PACK, NULL, &pg), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "GPU"), "%s",
              ray_last_error_detail());
    ray_bundle tpu = {.num_cpus = 1, .resources = "TPU:1"};
    cr_assert_eq(ray_pg_create(&tpu, 1, RAY_PG_PACK, NULL, &pg), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "TPU"), "%s",
              ray_last_error_detail());
    ray_bundle none = {0};
    cr_assert_eq(ray_pg_create(&none, 1, RAY_PG_PACK, NULL, &pg), RAY_EINVAL);
    cr_assert_eq(ray_pg_create(two, 2, 9, NULL, &pg), RAY_EINVAL);
    cr_assert_eq(ray_pg_create(two, 0, RAY_PG_PACK, NULL, &pg), RAY_EINVAL);
    cr_assert_eq(ray_pg_wait((ray_pg){12345}, 0), RAY_EINVAL);
    int st;
    cr_assert_eq(ray_pg_state((ray_pg){12345}, &st), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "unknown"), "%s",
              ray_last_error_detail());
    cr_assert_eq(get_i64(pg_inside_remote(0)), RAY_EINVAL,
                 "a group made inside a task");
}

Test(placement, a_group_waits_for_room_and_its_tasks_wait_with_it)
{
    start(2, NULL);
    ray_bundle two = {.num_cpus = 2}, one = {.num_cpus = 1};
    ray_pg a, b;
    cr_assert_eq(ray_pg_create(&two, 1, RAY_PG_PACK, "a", &a), RAY_OK);
    cr_assert_eq(ray_pg_wait(a, BOUND_MS), RAY_OK);
    cr_assert_eq(ray_pg_create(&one, 1, RAY_PG_PACK, "b", &b), RAY_OK);
    int st = -1;
    cr_assert_eq(ray_pg_state(b, &st), RAY_OK);
    cr_assert_eq(st, RAY_PG_PENDING, "b fits only once a is removed");
    cr_assert_eq(ray_pg_wait(b, 100), RAY_ETIMEDOUT);
    ray_call_opts in_b = {.pg = b};
    ray_ref r = counted_remote_opts(&in_b, file);
    cr_assert(!is_null(r), "%s", ray_last_error_detail());
    /* Calls made while it waits run in the order they were made. */
    ray_ref m[5];
    for (int i = 0; i < 5; i++)
        m[i] = mark_remote_opts(&in_b, started, i);
    /* While b is pending its task cannot have run: a holds every CPU. A
     * task of a's still runs meanwhile. */
    ray_call_opts in_a = {.pg = a};
    cr_assert_gt(get_i64(whoami_remote_opts(&in_a, 0)), 0);
    cr_assert_eq(count_bytes(file), 0, "a task of a pending group ran");
    cr_assert_eq(ray_pg_remove(a), RAY_OK);
    cr_assert_eq(ray_pg_wait(b, BOUND_MS), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(get_i64(r), 1);
    cr_assert_eq(count_bytes(file), 1);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(get_i64(m[i]), i);
    char order[8] = "";
    FILE *f = fopen(started, "r");
    cr_assert(f && fgets(order, sizeof(order), f));
    fclose(f);
    cr_assert_str_eq(order, "01234");
    cr_assert_eq(ray_pg_remove(b), RAY_OK);
}

Test(placement, a_bundles_resources_are_its_tasks_only)
{
    start(2, "GPU:2");
    ray_bundle b = {.num_cpus = 1, .resources = "GPU:1"};
    ray_pg pg;
    cr_assert_eq(ray_pg_create(&b, 1, RAY_PG_PACK, NULL, &pg), RAY_OK);
    cr_assert_eq(ray_pg_wait(pg, BOUND_MS), RAY_OK);
    ray_call_opts in = {.pg = pg, .resources = "GPU:1"};
    cr_assert_gt(get_i64(whoami_remote_opts(&in, 0)), 0);
    ray_call_opts in2 = {.pg = pg, .resources = "GPU:2"};
    cr_assert(is_null(whoami_remote_opts(&in2, 0)), "2 GPUs in a bundle of 1");
    /* Outside, 2 GPUs wait: one is the bundle's. */
    ray_call_opts out = {.resources = "GPU:2"};
    ray_ref r = counted_remote_opts(&out, file);
    cr_assert(!is_null(r), "%s", ray_last_error_detail());
    size_t ready = 0;
    size_t idx[1];
    cr_assert_eq(ray_wait(&r, 1, 1, 200, idx, &ready), RAY_OK);
    cr_assert_eq(ready, 0, "a task took a GPU the group holds");
    cr_assert_eq(ray_pg_remove(pg), RAY_OK);
    cr_assert_eq(get_i64(r), 1);
}

Test(placement, removal_cancels_what_has_not_started_and_kills_actors)
{
    start(2, NULL);
    ray_bundle b[2] = {{.num_cpus = 1}, {.num_cpus = 1}};
    ray_pg pg;
    cr_assert_eq(ray_pg_create(b, 2, RAY_PG_PACK, NULL, &pg), RAY_OK);
    cr_assert_eq(ray_pg_wait(pg, BOUND_MS), RAY_OK);
    ray_actor_opts ao = {.num_cpus = 1, .pg = pg, .pg_bundle = 1};
    ray_actor k;
    cr_assert_eq(keeper_create(&k, &ao, 40), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(get_i64(keeper_add_remote(k, 2)), 42);
    ray_call_opts in = {.pg = pg};
    ray_ref h = held_remote_opts(&in, gate, started);
    for (int i = 0; i < BOUND_MS && count_bytes(started) == 0; i++)
        usleep(1000); /* until it runs */
    cr_assert_eq(count_bytes(started), 1, "the held task never started");
    enum { Q = 5 };
    ray_ref q[Q];
    for (int i = 0; i < Q; i++)
        q[i] = counted_remote_opts(&in, file);
    cr_assert_eq(ray_pg_remove(pg), RAY_OK);
    for (int i = 0; i < Q; i++) {
        int64_t v;
        cr_assert_eq(ray_get_int64(q[i], &v, BOUND_MS), RAY_ECANCELLED,
                     "queued task %d of a removed group", i);
        ray_ref_release(q[i]);
    }
    cr_assert_eq(count_bytes(file), 0, "a queued task ran after removal");
    /* The running one runs to its end. */
    cr_assert(gate_open_within(gate, BOUND_MS));
    cr_assert_gt(get_i64(h), 0);
    int64_t v;
    ray_ref r = keeper_add_remote(k, 1);
    cr_assert_eq(ray_get_int64(r, &v, BOUND_MS), RAY_EACTOR_DIED);
    ray_ref_release(r);
    ray_actor_release(k);
    /* Its CPUs are the node's again. */
    ray_bundle two = {.num_cpus = 2};
    ray_pg all;
    cr_assert_eq(ray_pg_create(&two, 1, RAY_PG_STRICT_PACK, NULL, &all),
                 RAY_OK);
    cr_assert_eq(ray_pg_wait(all, BOUND_MS), RAY_OK, "%s",
                 ray_last_error_detail());
}

Test(placement, a_removed_group_s_task_whose_worker_dies_is_not_run_again)
{
    start(2, NULL);
    ray_bundle one = {.num_cpus = 1};
    ray_pg pg;
    cr_assert_eq(ray_pg_create(&one, 1, RAY_PG_PACK, NULL, &pg), RAY_OK);
    cr_assert_eq(ray_pg_wait(pg, BOUND_MS), RAY_OK);
    ray_call_opts in = {.pg = pg, .max_retries = 3};
    ray_ref h = held_pid_remote_opts(&in, gate, started);
    int pid = 0;
    for (int i = 0; i < BOUND_MS && pid <= 0; i++) {
        FILE *f = fopen(started, "r");
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid <= 0)
            usleep(1000);
    }
    cr_assert_gt(pid, 0, "the held task never started");
    cr_assert_eq(ray_pg_remove(pg), RAY_OK); /* it runs on */
    kill(pid, SIGKILL);
    int64_t v;
    cr_assert_eq(ray_get_int64(h, &v, BOUND_MS), RAY_ECANCELLED, "%s",
                 ray_last_error_detail());
    cr_assert(strstr(ray_last_error_detail(), "placement group"), "%s",
              ray_last_error_detail());
    ray_ref_release(h);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * Metrics in Prometheus' text format (sdk/metrics.c) through the public
 * API: every sample line parses (name, optional labels, value), each
 * series has its HELP and TYPE, the totals follow what ran (tasks that
 * returned, tasks that failed, a map's chunks), tasks held at a gate show
 * as not finished, and the file form replaces its target whole.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ray/ray.h>

#include "tests/integration/common/gate.h"

static int64_t
mt_ok(int64_t x)
{
    return x + 1;
}
RAY_REMOTE(mt_ok, int64_t, int64_t);

static int64_t
mt_bad(int64_t x)
{
    ray_task_fail(RAY_ETASK_FAILED, "bad %lld", (long long)x);
    return 0;
}
RAY_REMOTE(mt_bad, int64_t, int64_t);

static int64_t
mt_gated(const char *gate)
{
    return gate_pass(gate) ? 1 : -1;
}
RAY_REMOTE(mt_gated, int64_t, const char *);

typedef struct mt_box {
    int64_t v;
} mt_box;

static ray_err
mt_box_init(mt_box *b, int64_t v)
{
    b->v = v;
    return RAY_OK;
}
RAY_ACTOR(mt_box, mt_box_init, int64_t);

static int64_t
mt_box_get(mt_box *b)
{
    return b->v;
}
RAY_METHOD0(mt_box, mt_box_get, int64_t);

static void
setup(void)
{
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 2;
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
}

static void
teardown(void)
{
    ray_shutdown();
}

TestSuite(metrics, .init = setup, .fini = teardown, .timeout = 60);

/* The value of the sample `name` (with its labels, exactly as written)
 * in `text`; fails the test when it is missing or a line is malformed. */
static double
sample(const char *text, const char *name)
{
    const char *p = text;
    double found = -1;
    bool have = false;
    while (*p) {
        const char *e = strchr(p, '\n');
        cr_assert_not_null(e, "every line ends: '%s'", p);
        if (*p != '#') {
            char key[160];
            double v;
            cr_assert_eq(sscanf(p, "%159s %lf", key, &v), 2,
                         "a sample line: '%.*s'", (int)(e - p), p);
            cr_assert(strncmp(key, "rayc_", 5) == 0, "%s", key);
            if (strcmp(key, name) == 0) {
                found = v;
                have = true;
            }
        }
        p = e + 1;
    }
    cr_assert(have, "no sample %s in:\n%s", name, text);
    return found;
}

static char *
metrics(void)
{
    char *t = NULL;
    cr_assert_eq(ray_metrics(&t), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_not_null(t);
    return t;
}

Test(metrics, totals_follow_what_ran)
{
    char *t0 = metrics();
    double ok0 = sample(t0, "rayc_tasks_finished_total{result=\"ok\"}");
    double err0 = sample(t0, "rayc_tasks_finished_total{result=\"error\"}");
    cr_assert_not_null(strstr(t0, "# TYPE rayc_tasks_finished_total counter"));
    cr_assert_not_null(strstr(t0, "# HELP rayc_tasks "));
    cr_assert_eq(sample(t0, "rayc_node_alive{node=\"embedded\"}"), 1);
    cr_assert_eq(sample(t0, "rayc_workers{state=\"alive\"}") >= 0, true);
    ray_free(t0);

    enum { N = 30, F = 4 };
    ray_ref r[N + F];
    for (int i = 0; i < N; i++)
        r[i] = mt_ok_remote(i);
    for (int i = 0; i < F; i++)
        r[N + i] = mt_bad_remote(i);
    for (int i = 0; i < N + F; i++) {
        int64_t v;
        ray_err e = ray_get_int64(r[i], &v, RAY_FOREVER);
        cr_assert_eq(e, i < N ? RAY_OK : RAY_ETASK_FAILED);
        ray_ref_release(r[i]);
    }
    int64_t in[100], out[100];
    for (int i = 0; i < 100; i++)
        in[i] = i;
    cr_assert_eq(RAY_MAP(mt_ok, in, 100, out), RAY_OK);

    char *t1 = metrics();
    double ok1 = sample(t1, "rayc_tasks_finished_total{result=\"ok\"}");
    double err1 = sample(t1, "rayc_tasks_finished_total{result=\"error\"}");
    cr_assert_eq(err1 - err0, F, "failed: %f -> %f", err0, err1);
    /* The 30 calls and the map's chunks (at least one). */
    cr_assert_geq(ok1 - ok0, N + 1, "ok: %f -> %f", ok0, ok1);
    cr_assert_leq(ok1 - ok0, N + 100);
    ray_free(t1);
}

Test(metrics, tasks_held_at_a_gate_are_not_finished)
{
    char gate[64];
    snprintf(gate, sizeof(gate), "/tmp/rayc-metrics-gate-%d", (int)getpid());
    cr_assert(gate_make(gate));
    char *t0 = metrics();
    double ok0 = sample(t0, "rayc_tasks_finished_total{result=\"ok\"}");
    ray_free(t0);
    ray_ref r = mt_gated_remote(gate);
    char *t1 = metrics();
    double held = sample(t1, "rayc_tasks{state=\"PENDING_ARGS_AVAIL\"}") +
                  sample(t1, "rayc_tasks{state=\"PENDING_NODE_ASSIGNMENT\"}") +
                  sample(t1, "rayc_tasks{state=\"SUBMITTED_TO_WORKER\"}");
    cr_assert_eq(held, 1, "%s", t1);
    cr_assert_eq(sample(t1, "rayc_tasks_finished_total{result=\"ok\"}"), ok0);
    ray_free(t1);
    cr_assert(gate_open(gate));
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, RAY_FOREVER), RAY_OK);
    ray_ref_release(r);
    char *t2 = metrics();
    cr_assert_eq(sample(t2, "rayc_tasks_finished_total{result=\"ok\"}"),
                 ok0 + 1);
    cr_assert_eq(sample(t2, "rayc_tasks{state=\"SUBMITTED_TO_WORKER\"}"), 0);
    ray_free(t2);
    unlink(gate);
}

Test(metrics, the_file_form_replaces_its_target_whole)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/rayc-metrics-%d.prom", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("stale\n", f);
    fclose(f);
    cr_assert_eq(ray_metrics_write(path), RAY_OK, "%s",
                 ray_last_error_detail());
    f = fopen(path, "r");
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    unlink(path);
    cr_assert_gt(n, 0);
    cr_assert_null(strstr(buf, "stale"));
    cr_assert_eq(sample(buf, "rayc_node_alive{node=\"embedded\"}"), 1);
    free(buf);
    cr_assert_eq(ray_metrics_write("/nonexistent-dir/m.prom"), RAY_EINVAL);
    cr_assert_not_null(strstr(ray_last_error_detail(), "/nonexistent-dir"));
    cr_assert_eq(ray_metrics(NULL), RAY_EINVAL);
}

/* The scheduling latency: a histogram of one task in 16 (ids are given
 * in order, so 320 tasks in a row hold exactly 20 sampled ones), its
 * buckets cumulative up to +Inf, which is the count. */
Test(metrics, the_scheduling_latency_is_a_histogram_of_sampled_tasks)
{
    const char *h = "rayc_task_scheduling_latency_seconds";
    char key[128];
    char *t0 = metrics();
    cr_assert_not_null(strstr(t0, "# TYPE rayc_task_scheduling_latency_seconds "
                                  "histogram"),
                       "%s", t0);
    snprintf(key, sizeof(key), "%s_count", h);
    double c0 = sample(t0, key);
    snprintf(key, sizeof(key), "%s_sum", h);
    double s0 = sample(t0, key);
    snprintf(key, sizeof(key), "%s_count", h);
    enum { N = 320 };
    ray_ref r[N];
    struct timespec ta, tb;
    clock_gettime(CLOCK_MONOTONIC, &ta);
    for (int i = 0; i < N; i++)
        r[i] = mt_ok_remote(i);
    for (int i = 0; i < N; i++) {
        int64_t v = -1;
        cr_assert_eq(ray_get_int64(r[i], &v, 30000), RAY_OK);
        cr_assert_eq(v, i + 1);
        ray_ref_release(r[i]);
    }
    clock_gettime(CLOCK_MONOTONIC, &tb);
    double span =
        (double)(tb.tv_sec - ta.tv_sec) + (tb.tv_nsec - ta.tv_nsec) / 1e9;
    char *t1 = metrics();
    double c1 = sample(t1, key);
    cr_assert_eq(c1 - c0, N / 16, "sampled %g of %d", c1 - c0, N);
    const char *le[] = {"1e-05", "0.0001", "0.001", "0.01",
                        "0.1",   "1",      "10",    "+Inf"};
    double prev = 0;
    for (size_t i = 0; i < sizeof(le) / sizeof(le[0]); i++) {
        snprintf(key, sizeof(key), "%s_bucket{le=\"%s\"}", h, le[i]);
        double b = sample(t1, key);
        cr_assert_geq(b, prev, "%s: buckets are cumulative", key);
        prev = b;
    }
    cr_assert_eq(prev, c1, "+Inf holds every sample");
    /* No sample can be longer than the time the tasks were around. */
    snprintf(key, sizeof(key), "%s_sum", h);
    double s1 = sample(t1, key);
    cr_assert_leq(s1 - s0, (c1 - c0) * span, "sum %g s for %g samples in %g s",
                  s1 - s0, c1 - c0, span);
    ray_free(t0);
    ray_free(t1);
}

/* Actors by state, with Ray's state names: one ALIVE, then DEAD once
 * killed (without a restart). */
Test(metrics, actors_are_counted_by_state)
{
    char *t0 = metrics();
    cr_assert_eq(sample(t0, "rayc_actors{state=\"ALIVE\"}"), 0);
    cr_assert_eq(sample(t0, "rayc_actors{state=\"PENDING_CREATION\"}"), 0);
    ray_free(t0);
    ray_actor a;
    cr_assert_eq(mt_box_create(&a, NULL, 7), RAY_OK, "%s",
                 ray_last_error_detail());
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(mt_box_get_remote(a), &v, 30000), RAY_OK);
    cr_assert_eq(v, 7);
    char *t1 = metrics();
    cr_assert_eq(sample(t1, "rayc_actors{state=\"ALIVE\"}"), 1, "%s", t1);
    ray_free(t1);
    cr_assert_eq(ray_actor_kill(a, true), RAY_OK);
    double dead = 0;
    for (int i = 0; i < 200 && dead != 1; i++) { /* the kill is seen async */
        char *t2 = metrics();
        dead = sample(t2, "rayc_actors{state=\"DEAD\"}");
        ray_free(t2);
        if (dead != 1) {
            struct timespec ts = {0, 10000000L};
            nanosleep(&ts, NULL);
        }
    }
    cr_assert_eq(dead, 1);
    ray_actor_release(a);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * test_deps.c: dependency tracking driven through a fake owner.
 */
#include <criterion/criterion.h>

#include "runtime/alloc.h"
#include "scheduler/deps.h"

typedef struct owner {
    sched_dep_task *ready[64];
    ray_err errs[64];
    int n;
} owner;

static void
on_ready(void *ctx, sched_dep_task *t, ray_err err)
{
    owner *o = ctx;
    o->ready[o->n] = t;
    o->errs[o->n++] = err;
}

static const sched_deps_ops ops = {on_ready};

Test(deps, ready_only_after_both, .timeout = 5)
{
    owner o = {0};
    sched_deps d;
    sched_deps_init(&d, &ops, &o);
    sched_dep_task t;
    sched_dep_task_init(&t);
    cr_assert_eq(sched_deps_add(&d, &t, 100), RAY_OK);
    cr_assert_eq(sched_deps_add(&d, &t, 200), RAY_OK);
    cr_assert_eq(t.ndeps, 2);
    sched_deps_object_done(&d, 300, RAY_OK); /* unrelated */
    cr_assert_eq(o.n, 0);
    sched_deps_object_done(&d, 200, RAY_OK);
    cr_assert_eq(o.n, 0, "one of two is not enough");
    cr_assert_eq(t.ndeps, 1);
    sched_deps_object_done(&d, 100, RAY_OK);
    cr_assert_eq(o.n, 1);
    cr_assert_eq(o.ready[0], &t);
    cr_assert_eq(o.errs[0], RAY_OK);
    cr_assert_eq(sched_deps_waiting(&d, 100), 0);
    sched_deps_object_done(&d, 100, RAY_OK); /* again: nothing */
    cr_assert_eq(o.n, 1);
    sched_deps_fini(&d);
}

Test(deps, many_tasks_on_one_object_and_growth, .timeout = 5)
{
    owner o = {0};
    sched_deps d;
    sched_deps_init(&d, &ops, &o);
    static sched_dep_task t[40];
    for (int i = 0; i < 40; i++) {
        sched_dep_task_init(&t[i]);
        cr_assert_eq(sched_deps_add(&d, &t[i], 7), RAY_OK);
        for (uint64_t k = 0; k < 4; k++) /* forces the table to grow */
            cr_assert_eq(sched_deps_add(&d, &t[i], 1000 + i * 4 + k), RAY_OK);
    }
    cr_assert_eq(sched_deps_waiting(&d, 7), 40);
    sched_deps_object_done(&d, 7, RAY_OK);
    cr_assert_eq(o.n, 0);
    for (int i = 0; i < 40; i++)
        for (uint64_t k = 0; k < 4; k++)
            sched_deps_object_done(&d, 1000 + i * 4 + k, RAY_OK);
    cr_assert_eq(o.n, 40);
    cr_assert_eq(d.nlinks, 0);
    sched_deps_fini(&d);
}

Test(deps, failed_dependency_reported, .timeout = 5)
{
    owner o = {0};
    sched_deps d;
    sched_deps_init(&d, &ops, &o);
    sched_dep_task t;
    sched_dep_task_init(&t);
    sched_deps_add(&d, &t, 1);
    sched_deps_add(&d, &t, 2);
    sched_deps_object_done(&d, 1, RAY_ETASK_FAILED);
    cr_assert_eq(o.n, 0);
    sched_deps_object_done(&d, 2, RAY_OK);
    cr_assert_eq(o.n, 1);
    cr_assert_eq(o.errs[0], RAY_ETASK_FAILED);
    sched_deps_fini(&d);
}

Test(deps, cancel_drops_waits_and_links_are_reused, .timeout = 5)
{
    owner o = {0};
    sched_deps d;
    sched_deps_init(&d, &ops, &o);
    sched_dep_task a, b;
    sched_dep_task_init(&a);
    sched_dep_task_init(&b);
    sched_deps_add(&d, &a, 5);
    sched_deps_add(&d, &a, 6);
    sched_deps_add(&d, &b, 5);
    sched_deps_cancel(&d, &a);
    cr_assert_eq(a.ndeps, 0);
    cr_assert_eq(d.nlinks, 1);
    sched_deps_object_done(&d, 5, RAY_OK);
    cr_assert_eq(o.n, 1);
    cr_assert_eq(o.ready[0], &b);
    /* Steady state: no allocation for new waits. */
    rt_alloc_fail_after(1);
    ray_err e = sched_deps_add(&d, &a, 9);
    rt_alloc_fail_after(0);
    cr_assert_eq(e, RAY_OK);
    sched_deps_fini(&d);
}

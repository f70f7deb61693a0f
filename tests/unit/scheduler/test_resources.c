/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of scheduler/resources.c: specs, fractional demands,
 * infeasible demands, acquire and release. */
#include <criterion/criterion.h>
#include <string.h>

#include "scheduler/resources.h"

TestSuite(resources, .timeout = 10);

Test(resources, fractional_demands_add_up_exactly)
{
    sched_resources r;
    sched_res_init(&r);
    cr_assert_eq(sched_res_add_spec(&r, "GPU:1, disk:4"), RAY_OK);
    cr_assert_eq(r.n, 2);
    sched_demand half;
    cr_assert_eq(sched_res_parse_demand(&r, "GPU:0.5", &half, NULL, 0), RAY_OK);
    cr_assert(sched_res_try_acquire(&r, &half));
    cr_assert(sched_res_try_acquire(&r, &half));
    cr_assert_not(sched_res_try_acquire(&r, &half), "third half does not fit");
    sched_res_release(&r, &half);
    cr_assert(sched_res_try_acquire(&r, &half));
    cr_assert_eq(r.avail[0], 0);
}

Test(resources, infeasible_and_malformed_specs)
{
    sched_resources r;
    sched_res_init(&r);
    cr_assert_eq(sched_res_add(&r, "CPU", 2000), RAY_OK);
    sched_demand d;
    char why[96];
    cr_assert_eq(sched_res_parse_demand(&r, "GPU:1", &d, why, sizeof(why)),
                 RAY_ENOTFOUND);
    cr_assert(strstr(why, "GPU"), "%s", why);
    cr_assert_eq(sched_res_parse_demand(&r, "CPU:3", &d, NULL, 0),
                 RAY_ENOTFOUND);
    cr_assert_eq(sched_res_parse_demand(&r, "CPU", &d, NULL, 0), RAY_EINVAL);
    cr_assert_eq(sched_res_parse_demand(&r, "CPU:x", &d, NULL, 0), RAY_EINVAL);
    cr_assert_eq(sched_res_parse_demand(&r, "CPU:1,CPU:0.5", &d, NULL, 0),
                 RAY_OK);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(sched_res_parse_demand(&r, "", &d, NULL, 0), RAY_OK);
    cr_assert_eq(d.n, 0);
    cr_assert(sched_res_try_acquire(&r, &d), "empty demand always fits");
    cr_assert_eq(sched_res_add(&r, "", 1), RAY_EINVAL);
    cr_assert_eq(sched_res_add(&r, "x", -1), RAY_EINVAL);
}

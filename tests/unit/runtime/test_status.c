/* SPDX-License-Identifier: Apache-2.0
 * Tests for runtime/status.c, runtime/alloc.c and runtime/log.c basics. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/status.h"

TestSuite(status, .timeout = 10);

Test(status, every_class_has_a_name_and_message)
{
    for (int e = 0; e < RT_ERR_NCLASSES; e++) {
        cr_assert_str_neq(rt_err_name((ray_err)e), "RAY_EUNKNOWN", "class %d",
                          e);
        cr_assert_str_neq(rt_strerror((ray_err)e), "unknown error", "class %d",
                          e);
    }
    cr_assert_str_eq(rt_err_name(RAY_ESTORE_FULL), "RAY_ESTORE_FULL");
    cr_assert_str_eq(rt_strerror((ray_err)100), "unknown error");
}

Test(status, errno_maps_to_classes_and_carries_the_rest)
{
    cr_assert_eq(rt_err_from_errno(ENOMEM), RAY_ENOMEM);
    cr_assert_eq(rt_err_from_errno(EPIPE), RAY_ECLOSED);
    ray_err e = rt_err_from_errno(EACCES);
    cr_assert(e & RAY_ESYSERR);
    cr_assert_eq(rt_err_errno(e), EACCES);
    cr_assert_str_eq(rt_strerror(e), strerror(EACCES));
}

TestSuite(alloc, .timeout = 10);

Test(alloc, injected_failure_hits_the_nth_allocation)
{
    rt_alloc_fail_after(3);
    void *a = rt_malloc(8), *b = rt_malloc(8), *c = rt_malloc(8);
    rt_alloc_fail_after(0);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_null(c);
    rt_free(a);
    rt_free(b);
}

Test(alloc, calloc_overflow_is_null_and_live_count_balances)
{
    long before = rt_alloc_live();
    cr_assert_null(rt_calloc((size_t)-1, 16));
    char *s = rt_strdup("rayc");
    cr_assert_str_eq(s, "rayc");
    cr_assert_eq(rt_alloc_live(), before + 1);
    rt_free(s);
    cr_assert_eq(rt_alloc_live(), before);
}

static char last_line[512];
static void
sink(void *arg, rt_log_level level, const char *line)
{
    (void)arg;
    (void)level;
    strncpy(last_line, line, sizeof last_line - 1);
}

static int evaluated;
static int
side_effect(void)
{
    return ++evaluated;
}

TestSuite(log, .timeout = 10);

Test(log, below_threshold_arguments_are_not_evaluated)
{
    rt_log_set_fd(-1);
    rt_log_set_sink(sink, NULL);
    rt_log_set_level(RT_LOG_WARN);
    RT_DEBUG("x %d", side_effect());
    cr_assert_eq(evaluated, 0);
    rt_log_set_component("unit");
    RT_WARN("value %d", side_effect());
    cr_assert_eq(evaluated, 1);
    cr_assert(strstr(last_line, "WARN") && strstr(last_line, "[unit "));
    cr_assert(strstr(last_line, "test_status.c:"));
    cr_assert(strstr(last_line, "value 1"));
    cr_assert_eq(rt_log_level_parse("Error"), RT_LOG_ERROR);
    cr_assert_eq(rt_log_level_parse("nope"), RT_LOG_OFF + 1);
}

Test(log, check_failure_aborts, .signal = SIGABRT)
{
    rt_log_set_fd(-1);
    RT_CHECK(1 + 1 == 3);
}

/* RT_ASSERT follows NDEBUG: the default build (-c opt defines it) drops
 * the check without evaluating it; -c dbg builds (--config=debug, asan,
 * tsan) check. scripts/test runs both kinds, so both tests run. */
#ifdef NDEBUG
Test(log, assert_is_compiled_out_under_ndebug)
{
    RT_ASSERT(side_effect() == -1);
    cr_assert_eq(evaluated, 0);
}
#else
Test(log, assert_failure_aborts_without_ndebug, .signal = SIGABRT)
{
    rt_log_set_fd(-1);
    RT_ASSERT(side_effect() == -1);
}
#endif

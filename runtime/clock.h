/* SPDX-License-Identifier: Apache-2.0
 *
 * clock.h: monotonic time. Deadlines and timeouts everywhere use these, so
 * a wall-clock jump never stretches or cuts a wait.
 */
#ifndef RAY_RUNTIME_CLOCK_H
#define RAY_RUNTIME_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC. Never fails. */
static inline int64_t
rt_clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t
rt_clock_now_us(void)
{
    return rt_clock_now_ns() / 1000;
}

static inline int64_t
rt_clock_now_ms(void)
{
    return rt_clock_now_ns() / 1000000;
}

/* A deadline `timeout_ms` from now; a negative timeout means forever
 * (INT64_MAX). */
static inline int64_t
rt_deadline_after_ms(int64_t timeout_ms)
{
    if (timeout_ms < 0)
        return INT64_MAX;
    return rt_clock_now_ns() + timeout_ms * 1000000LL;
}

/* Milliseconds left until `deadline_ns` (0 if passed, -1 if forever),
 * rounded up so a poll never wakes just before the deadline. */
static inline int
rt_deadline_left_ms(int64_t deadline_ns)
{
    if (deadline_ns == INT64_MAX)
        return -1;
    int64_t left = deadline_ns - rt_clock_now_ns();
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

#endif /* RAY_RUNTIME_CLOCK_H */

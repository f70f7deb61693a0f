/* SPDX-License-Identifier: Apache-2.0
 * Shared by the compile-fail cases: one remote function of two int64s. */
#include <ray/ray.h>

static int64_t
add(int64_t a, int64_t b)
{
    return a + b;
}
RAY_REMOTE(add, int64_t, int64_t, int64_t);

static double
half(const char *s)
{
    return (double)s[0] / 2;
}
RAY_REMOTE(half, double, const char *);

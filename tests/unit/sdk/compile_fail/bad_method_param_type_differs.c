/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: a method whose parameters are not the types
 * RAY_METHOD declares (the wire would carry an int64_t to a double).
 * expect: error: static assertion failed: "rayc: RAY_METHOD: the method must be
 * int64_t acc_scale\(acc \*, int64_t\)"
 */
#include "prelude.h"

static int64_t
acc_scale(acc *s, double k)
{
    return (int64_t)((double)s->n * k);
}
RAY_METHOD(acc, acc_scale, int64_t, int64_t);

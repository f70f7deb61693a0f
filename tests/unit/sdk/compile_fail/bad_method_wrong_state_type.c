/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: a method whose first parameter is not the class's
 * state type.
 * expect: error: static assertion failed: "rayc: RAY_METHOD: the method must be
 * int64_t acc_bad\(acc \*, int64_t\)"
 */
#include "prelude.h"

static int64_t
acc_bad(double *s, int64_t k)
{
    return (int64_t)*s + k;
}
RAY_METHOD(acc, acc_bad, int64_t, int64_t);

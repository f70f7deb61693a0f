/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: a method whose first parameter is not the class's
 * state type. */
#include "prelude.h"

static int64_t
acc_bad(double *s, int64_t k)
{
    return (int64_t)*s + k;
}
RAY_METHOD(acc, acc_bad, int64_t, int64_t);

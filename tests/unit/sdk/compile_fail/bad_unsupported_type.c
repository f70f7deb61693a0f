/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: a parameter type rayc cannot encode.
 * expect: error: static assertion failed: "rayc: short \(parameter 1 of f\) is
 * not a type rayc can pass"
 */
#include <ray/ray.h>

static int64_t
f(short s)
{
    return s;
}
RAY_REMOTE(f, int64_t, short);

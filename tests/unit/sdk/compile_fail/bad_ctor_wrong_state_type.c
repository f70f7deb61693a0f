/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: a constructor whose first parameter is not the
 * class's state type.
 * expect: error: static assertion failed: "rayc: RAY_ACTOR: the constructor
 * must be ray_err other_init\(other \*, int64_t\)"
 */
#include "prelude.h"

typedef struct other {
    int64_t x;
} other;

static ray_err
other_init(acc *s, int64_t x)
{
    s->n = x;
    return RAY_OK;
}
RAY_ACTOR(other, other_init, int64_t);

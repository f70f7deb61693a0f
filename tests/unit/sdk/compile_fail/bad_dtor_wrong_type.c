/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: a destructor that does not take the state type.
 * expect: error: static assertion failed: "rayc: RAY_ACTOR_DTOR: the destructor
 * must be void other_fini\(other \*\)"
 */
#include "prelude.h"

typedef struct other {
    int x;
} other;

static ray_err
other_init(other *s, int64_t x)
{
    s->x = (int)x;
    return RAY_OK;
}
RAY_ACTOR(other, other_init, int64_t);

static void
other_fini(int64_t *s)
{
    (void)s;
}
RAY_ACTOR_DTOR(other, other_fini);

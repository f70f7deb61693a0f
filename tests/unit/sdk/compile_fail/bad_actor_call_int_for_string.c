/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: actor_call_int_for_string.
 * expect: error: static assertion failed: "rayc: argument 1 \(42\) of acc_name
 * is neither a ray_ref nor of the type declared for it"
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    ray_actor h = RAY_ACTOR_NULL;
    return RAY_ACTOR_CALL(acc_name, h, 42);
}

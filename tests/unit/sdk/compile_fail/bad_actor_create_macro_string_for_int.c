/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: actor_create_macro_string_for_int.
 * expect: error: static assertion failed: "rayc: argument 1 \(.*x.*\) of acc is
 * neither a ray_ref
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    ray_actor h;
    RAY_ACTOR_CREATE(acc, &h, NULL, "x");
    return r;
}

/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: call_string_for_int.
 * expect: error: static assertion failed: "rayc: argument 2 \(.*x.*\) of add is
 * neither a ray_ref
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    return RAY_CALL(add, 1, "x");
}

/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: call_int_for_string.
 * expect: error: static assertion failed: "rayc: argument 1 \(42\) of half is
 * neither a ray_ref
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    return RAY_CALL(half, 42);
}

/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: call_too_many.
 * expect: error: static assertion failed: "rayc: RAY_CALL\(add, \.\.\.\) takes
 * one argument per declared parameter"
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    return RAY_CALL(add, 1, 2, 3);
}

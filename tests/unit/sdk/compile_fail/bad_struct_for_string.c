/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: struct_for_string.
 * expect: error: incompatible type for argument 1 of 'half_remote'
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    return half_remote((ray_bytes){0, 0});
}

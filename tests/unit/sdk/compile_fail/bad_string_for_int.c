/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: string_for_int.
 * expect: error: passing argument 1 of 'add_remote' makes integer from pointer
 * without a cast
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    return add_remote("x", 2);
}

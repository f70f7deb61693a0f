/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: method_string_for_int.
 * expect: error: passing argument 2 of 'acc_add_remote' makes integer from
 * pointer without a cast
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    ray_actor h = RAY_ACTOR_NULL;
    return acc_add_remote(h, "x");
}

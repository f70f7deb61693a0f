/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: method_int_for_string.
 * expect: error: passing argument 2 of 'acc_name_remote' makes pointer from
 * integer without a cast
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    ray_actor h = RAY_ACTOR_NULL;
    return acc_name_remote(h, 42);
}

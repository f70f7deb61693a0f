/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: method_too_many.
 * expect: error: too many arguments to function 'acc_add_remote'
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    ray_actor h = RAY_ACTOR_NULL;
    return acc_add_remote(h, 1, 2);
}

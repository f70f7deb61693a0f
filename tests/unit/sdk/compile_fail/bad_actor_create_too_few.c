/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: actor_create_too_few.
 * expect: error: too few arguments to function 'acc_create'
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    ray_actor h;
    acc_create(&h, NULL);
    return r;
}

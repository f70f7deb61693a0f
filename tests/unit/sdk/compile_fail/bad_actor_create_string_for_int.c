/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: actor_create_string_for_int.
 * expect: error: passing argument 3 of 'acc_create' makes integer from pointer
 * without a cast
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    ray_actor h;
    acc_create(&h, NULL, "x");
    return r;
}

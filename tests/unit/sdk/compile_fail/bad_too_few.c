/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: too_few.
 * expect: error: too few arguments to function 'add_remote'
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    return add_remote(1);
}

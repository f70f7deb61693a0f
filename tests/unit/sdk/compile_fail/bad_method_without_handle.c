/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: method_without_handle.
 * expect: error: too few arguments to function 'acc_add_remote'
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    return acc_add_remote(5);
}

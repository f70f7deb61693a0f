/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: method_ref_for_handle.
 * expect: error: incompatible type for argument 1 of 'acc_add_remote'
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    return acc_add_remote(r, 5);
}

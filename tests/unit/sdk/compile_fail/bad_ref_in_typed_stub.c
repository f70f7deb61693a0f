/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: ref_in_typed_stub.
 * expect: error: incompatible type for argument 1 of 'add_remote'
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    return add_remote(r, 2);
}

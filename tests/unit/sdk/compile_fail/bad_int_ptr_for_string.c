/* SPDX-License-Identifier: Apache-2.0
 * Must NOT compile: int_ptr_for_string (another pointer type where a
 * string is declared, at a typed stub).
 * expect: error: passing argument 1 of 'half_remote' from incompatible pointer
 * type
 */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    (void)r;
    int x = 5;
    return half_remote(&x);
}

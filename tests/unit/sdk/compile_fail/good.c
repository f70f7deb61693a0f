/* SPDX-License-Identifier: Apache-2.0
 * Must compile: proves the harness itself works. */
#include "prelude.h"

ray_ref use(ray_ref r);
ray_ref
use(ray_ref r)
{
    ray_ref a = add_remote(1, 2);
    ray_ref b = RAY_CALL(add, r, 3);
    ray_ref c = RAY_CALL(add, 4, r);
    ray_ref d = half_remote("x");
    ray_ref e = RAY_CALL(half, r);
    ray_ref_release(a);
    ray_ref_release(b);
    ray_ref_release(c);
    ray_ref_release(d);
    return e;
}

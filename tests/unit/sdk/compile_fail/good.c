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

ray_ref use_actor(ray_ref r);
ray_ref
use_actor(ray_ref r)
{
    ray_actor h;
    if (acc_create(&h, NULL, 1) != RAY_OK)
        return r;
    ray_actor h2, h3;
    if (RAY_ACTOR_CREATE(acc, &h2, NULL, r) == RAY_OK)
        ray_actor_release(h2);
    if (RAY_ACTOR_CREATE(acc, &h3, NULL, 5) == RAY_OK)
        ray_actor_release(h3);
    ray_ref a = acc_add_remote(h, 2);
    ray_ref b = RAY_ACTOR_CALL(acc_add, h, r);
    ray_ref c = acc_name_remote(h, "x");
    ray_ref_release(a);
    ray_ref_release(b);
    ray_actor_release(h);
    return c;
}

/* SPDX-License-Identifier: Apache-2.0
 * Must compile, warning-free (-Wall -Wextra -Werror): proves the harness
 * itself works, and that the checks accept what C converts quietly. */
#include "prelude.h"

/* A method may take its state as const. */
static int64_t
acc_peek(const acc *s)
{
    return s->n;
}
RAY_METHOD0(acc, acc_peek, int64_t);

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

/* Narrower integers for int64_t parameters, a char array for a string,
 * at typed stubs and in the macros that also take refs. */
ray_ref use_conversions(ray_ref r);
ray_ref
use_conversions(ray_ref r)
{
    char name[8] = "abc";
    const char cname[] = "def";
    int32_t i = 1;
    uint8_t u = 2;
    ray_ref a = add_remote(i, u);
    ray_ref b = RAY_CALL(add, u, i);
    ray_ref c = RAY_CALL(half, name);
    ray_ref d = half_remote(cname);
    ray_actor h;
    if (RAY_ACTOR_CREATE(acc, &h, NULL, i) == RAY_OK) {
        ray_ref_release(RAY_ACTOR_CALL(acc_name, h, cname));
        ray_ref_release(acc_peek_remote(h));
        ray_actor_release(h);
    }
    ray_ref_release(a);
    ray_ref_release(b);
    ray_ref_release(c);
    ray_ref_release(d);
    return r;
}

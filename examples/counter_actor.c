/* SPDX-License-Identifier: Apache-2.0
 *
 * counter_actor.c: a stateful actor. A counter lives in its own worker;
 * the driver and a few tasks each add to it through a handle, the calls
 * of each caller run in order, and the total is checked at the end.
 *
 * Usage: counter_actor [increments-per-caller]  (default 1000)
 * Exit status 0 when the final count is right.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ray/ray.h>

typedef struct counter {
    int64_t value;
} counter;

static ray_err
counter_init(counter *s, int64_t start)
{
    s->value = start;
    return RAY_OK;
}
RAY_ACTOR(counter, counter_init, int64_t);

static void
counter_fini(counter *s)
{
    printf("counter ends at %lld\n", (long long)s->value);
}
RAY_ACTOR_DTOR(counter, counter_fini);

static int64_t
counter_add(counter *s, int64_t k)
{
    return s->value += k;
}
RAY_METHOD(counter, counter_add, int64_t, int64_t);

static int64_t
counter_value(counter *s)
{
    return s->value;
}
RAY_METHOD0(counter, counter_value, int64_t);

/* A task that takes the actor's handle and adds 1, n times. */
static int64_t
add_ones(ray_actor c, int64_t n)
{
    ray_ref last = RAY_REF_NULL;
    for (int64_t i = 0; i < n; i++) {
        ray_ref_release(last);
        last = counter_add_remote(c, 1);
    }
    int64_t v = -1;
    ray_get_int64(last, &v, RAY_FOREVER);
    ray_ref_release(last);
    return v;
}
RAY_REMOTE(add_ones, int64_t, ray_actor, int64_t);

int
main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 1000;
    if (ray_init(NULL) != RAY_OK) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error_detail());
        return 1;
    }
    ray_actor c;
    if (counter_create(&c, NULL, 0) != RAY_OK) {
        fprintf(stderr, "create: %s\n", ray_last_error_detail());
        ray_shutdown();
        return 1;
    }
    enum { TASKS = 3 };
    ray_ref t[TASKS];
    for (int i = 0; i < TASKS; i++)
        t[i] = add_ones_remote(c, n); /* the handle travels */
    int64_t mine = 0;
    for (int64_t i = 0; i < n; i++) { /* the driver adds too */
        ray_ref r = counter_add_remote(c, 1);
        ray_get_int64(r, &mine, RAY_FOREVER);
        ray_ref_release(r);
    }
    for (int i = 0; i < TASKS; i++) {
        int64_t v;
        ray_get_int64(t[i], &v, RAY_FOREVER);
        ray_ref_release(t[i]);
    }
    int64_t total = -1;
    ray_ref r = counter_value_remote(c);
    ray_err e = ray_get_int64(r, &total, 30000);
    ray_ref_release(r);
    ray_actor_release(c); /* the last handle: the destructor runs */
    ray_shutdown();
    int64_t want = n * (TASKS + 1);
    printf("count %lld (expected %lld)\n", (long long)total, (long long)want);
    return e == RAY_OK && total == want ? 0 : 1;
}

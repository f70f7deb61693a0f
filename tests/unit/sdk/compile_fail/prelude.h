/* SPDX-License-Identifier: Apache-2.0
 * Shared by the compile-fail cases: one remote function of two int64s. */
#include <ray/ray.h>

static int64_t
add(int64_t a, int64_t b)
{
    return a + b;
}
RAY_REMOTE(add, int64_t, int64_t, int64_t);

static double
half(const char *s)
{
    return (double)s[0] / 2;
}
RAY_REMOTE(half, double, const char *);

/* An actor class: state, constructor, two methods. */
typedef struct acc {
    int64_t n;
} acc;

static ray_err
acc_init(acc *s, int64_t n)
{
    s->n = n;
    return RAY_OK;
}
RAY_ACTOR(acc, acc_init, int64_t);

static int64_t
acc_add(acc *s, int64_t k)
{
    return s->n += k;
}
RAY_METHOD(acc, acc_add, int64_t, int64_t);

static double
acc_name(acc *s, const char *x)
{
    return (double)(s->n + x[0]);
}
RAY_METHOD(acc, acc_name, double, const char *);

static void
acc_fini(acc *s)
{
    s->n = 0;
}
RAY_ACTOR_DTOR(acc, acc_fini);

/* SPDX-License-Identifier: Apache-2.0
 *
 * A program outside rayc's build, as a user writes it against an
 * installed rayc (scripts/install): compiled by scripts/test with plain
 * gcc + pkg-config and with CMake, shared and static. It runs tasks and an
 * actor call in worker processes (this program re-executed) and checks
 * they ran in other processes. Prints "ok N" and exits 0 when all is well.
 */
#include <stdio.h>
#include <unistd.h>

#include <ray/ray.h>

static int64_t
worker_pid(int64_t i)
{
    return (int64_t)getpid() * 1000 + i % 1000;
}
RAY_REMOTE(worker_pid, int64_t, int64_t);

typedef struct acc {
    int64_t sum;
} acc;

static ray_err
acc_init(acc *s, int64_t v)
{
    s->sum = v;
    return RAY_OK;
}
RAY_ACTOR(acc, acc_init, int64_t);

static int64_t
acc_add(acc *s, int64_t k)
{
    return s->sum += k;
}
RAY_METHOD(acc, acc_add, int64_t, int64_t);

int
main(void)
{
    if (ray_init(NULL) != RAY_OK) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error_detail());
        return 1;
    }
    enum { N = 100 };
    ray_ref refs[N];
    for (int i = 0; i < N; i++)
        refs[i] = worker_pid_remote(i);
    int elsewhere = 0;
    for (int i = 0; i < N; i++) {
        int64_t v = 0;
        if (ray_get_int64(refs[i], &v, 60000) != RAY_OK) {
            fprintf(stderr, "get: %s\n", ray_last_error_detail());
            return 1;
        }
        elsewhere += v / 1000 != (int64_t)getpid() && v % 1000 == i;
        ray_ref_release(refs[i]);
    }
    ray_actor a;
    int64_t sum = 0;
    if (acc_create(&a, NULL, 40) != RAY_OK) {
        fprintf(stderr, "actor: %s\n", ray_last_error_detail());
        return 1;
    }
    ray_ref r = acc_add_remote(a, 2);
    if (ray_get_int64(r, &sum, 60000) != RAY_OK || sum != 42) {
        fprintf(stderr, "actor call: %s\n", ray_last_error_detail());
        return 1;
    }
    ray_ref_release(r);
    ray_actor_release(a);
    ray_shutdown();
    printf("ok %d\n", elsewhere);
    return elsewhere == N ? 0 : 1;
}

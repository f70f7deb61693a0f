/* SPDX-License-Identifier: Apache-2.0
 *
 * tree_reduce.c: the sum of f(i) for i in [0, N), as a tree: N calls of f,
 * then reduce calls that each get the values of a list of refs passed
 * inside one argument (Ray's `reduce.remote(refs)`), each level summing
 * up to FAN of the level below, until one ref is left. A reduce starts
 * while the calls it reads may still run: its gets wait for them. On a
 * cluster the refs are borrowed wherever a reduce runs (ray.h, ray_init).
 * Prints the sum, checked against the closed form, and the time.
 * Run: bazel run //examples:tree_reduce [-- N FAN]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ray/ray.h>

static int64_t
f(int64_t i)
{
    return i * i;
}
RAY_REMOTE(f, int64_t, int64_t);

/* The sum of the values of the refs packed in `refs`. */
static int64_t
reduce(ray_bytes refs)
{
    const ray_ref *r = refs.data;
    int64_t sum = 0;
    for (size_t k = 0; k < refs.len / sizeof(*r); k++) {
        int64_t v;
        ray_err e = ray_get_int64(r[k], &v, RAY_FOREVER);
        if (e != RAY_OK) {
            ray_task_fail(e, "ref %zu: %s", k, ray_last_error_detail());
            return 0;
        }
        sum += v;
    }
    return sum;
}
RAY_REMOTE(reduce, int64_t, ray_bytes);

int
main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 10000;
    int fan = argc > 2 ? atoi(argv[2]) : 64;
    if (n <= 0 || n > 10000000 || fan < 2 || fan > 100000)
        return 2;
    if (ray_init(NULL) != RAY_OK) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error_detail());
        return 1;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    size_t level = (size_t)n;
    ray_ref *refs = malloc(level * sizeof(*refs));
    for (int64_t i = 0; i < n; i++)
        refs[i] = f_remote(i);
    while (level > 1) { /* each reduce reads up to `fan` refs below */
        size_t up = (level + (size_t)fan - 1) / (size_t)fan;
        ray_ref *next = malloc(up * sizeof(*next));
        for (size_t k = 0; k < up; k++) {
            size_t from = k * (size_t)fan;
            size_t cnt =
                level - from < (size_t)fan ? level - from : (size_t)fan;
            next[k] =
                reduce_remote((ray_bytes){refs + from, cnt * sizeof(*refs)});
        }
        /* The reduces hold nothing: keep the level until they are done. */
        size_t ready = 0, *all = malloc(up * sizeof(*all));
        ray_wait(next, up, up, RAY_FOREVER, all, &ready);
        free(all);
        for (size_t k = 0; k < level; k++)
            ray_ref_release(refs[k]);
        free(refs);
        refs = next;
        level = up;
    }
    int64_t sum = -1;
    ray_err e = ray_get_int64(refs[0], &sum, RAY_FOREVER);
    ray_ref_release(refs[0]);
    free(refs);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (e != RAY_OK)
        fprintf(stderr, "reduce: %s\n", ray_last_error_detail());
    ray_shutdown();
    int64_t want = (n - 1) * n * (2 * n - 1) / 6; /* sum of i^2, i < n */
    double s = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    printf("sum of i*i for i < %lld: %lld (%s), a tree of fan %d, %.3f s\n",
           (long long)n, (long long)sum, sum == want ? "right" : "WRONG", fan,
           s);
    return e == RAY_OK && sum == want ? 0 : 1;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * square_cube_map.c: Pool.map of square and cube over a range, the seed
 * tutorials' map workload. RAY_MAP splits the input into a few chunks per
 * worker, so a million inputs cost a few dozen messages. Results come back
 * in input order. Run: bazel run //examples:square_cube_map [-- N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ray/ray.h>

static int64_t
square(int64_t x)
{
    return x * x;
}
RAY_REMOTE(square, int64_t, int64_t);

static int64_t
cube(int64_t x)
{
    return x * x * x;
}
RAY_REMOTE(cube, int64_t, int64_t);

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atoll(argv[1]) : 1000000;
    if (n == 0 || n > 100000000) {
        fprintf(stderr, "usage: %s [N]\n", argv[0]);
        return 2;
    }
    int64_t *in = malloc(n * sizeof(int64_t));
    int64_t *sq = malloc(n * sizeof(int64_t));
    int64_t *cb = malloc(n * sizeof(int64_t));
    if (!in || !sq || !cb)
        return 1;
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i + 1;
    if (ray_init(NULL) != RAY_OK) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error_detail());
        return 1;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ray_err e1 = RAY_MAP(square, in, n, sq);
    ray_err e2 = RAY_MAP(cube, in, n, cb);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ray_shutdown();
    if (e1 != RAY_OK || e2 != RAY_OK) {
        fprintf(stderr, "map failed: %s\n", ray_last_error_detail());
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t x = in[i];
        if (sq[i] != x * x || cb[i] != x * x * x) {
            fprintf(stderr, "wrong result at %zu\n", i);
            return 1;
        }
    }
    double s = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    printf("square and cube of 1..%zu: %.3f s; square[last]=%lld "
           "cube[9]=%lld\n",
           n, s, (long long)sq[n - 1], (long long)cb[n > 9 ? 9 : 0]);
    free(in);
    free(sq);
    free(cb);
    return 0;
}

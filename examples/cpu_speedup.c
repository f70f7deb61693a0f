/* SPDX-License-Identifier: Apache-2.0
 *
 * cpu_speedup.c: the seed tutorials' CPU-bound workload, serial vs parallel.
 *
 * Each task sums exp(x) * sinh(x) over a slice of a range; the program runs
 * the same slices first one after another in this process, then as remote
 * tasks on every core, checks that both totals agree, and prints the
 * speed-up. Run with: bazel run //examples:cpu_speedup [-- TASKS ITERS]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ray/ray.h>

static double
work(int64_t seed, int64_t iters)
{
    double acc = 0.0;
    for (int64_t i = 0; i < iters; i++) {
        double x = (double)((seed * 7919 + i) % 1000) / 1000.0;
        acc += exp(x) * sinh(x);
    }
    return acc;
}
RAY_REMOTE(work, double, int64_t, int64_t);

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
    int ntasks = argc > 1 ? atoi(argv[1]) : 16;
    int64_t iters = argc > 2 ? atoll(argv[2]) : 4000000;
    if (ntasks <= 0 || ntasks > 100000 || iters <= 0) {
        fprintf(stderr, "usage: %s [TASKS [ITERS]]\n", argv[0]);
        return 2;
    }
    ray_err e = ray_init(NULL);
    if (e != RAY_OK) {
        fprintf(stderr, "ray_init: %s: %s\n", ray_strerror(e),
                ray_last_error_detail());
        return 1;
    }
    int workers = ray_num_workers();

    double t0 = now_s(), serial = 0.0;
    for (int i = 0; i < ntasks; i++)
        serial += work(i, iters);
    double t_serial = now_s() - t0;

    ray_ref *refs = calloc((size_t)ntasks, sizeof(*refs));
    if (!refs) {
        ray_shutdown();
        return 1;
    }
    t0 = now_s();
    for (int i = 0; i < ntasks; i++)
        refs[i] = work_remote(i, iters);
    double parallel = 0.0;
    int rc = 0;
    for (int i = 0; i < ntasks; i++) {
        double v;
        e = ray_get_double(refs[i], &v, RAY_FOREVER);
        if (e != RAY_OK) {
            fprintf(stderr, "task %d: %s: %s\n", i, ray_strerror(e),
                    ray_last_error_detail());
            rc = 1;
        }
        parallel += v;
        ray_ref_release(refs[i]);
    }
    double t_parallel = now_s() - t0;
    free(refs);
    ray_shutdown();

    printf("tasks: %d x %lld iterations of exp(x)*sinh(x), %d workers\n",
           ntasks, (long long)iters, workers);
    printf("serial:   %.3f s  (sum %.6e)\n", t_serial, serial);
    printf("parallel: %.3f s  (sum %.6e)\n", t_parallel, parallel);
    printf("speed-up: %.2fx on %d cores\n", t_serial / t_parallel, workers);
    if (fabs(serial - parallel) > 1e-6 * fabs(serial)) {
        fprintf(stderr, "results differ\n");
        rc = 1;
    }
    return rc;
}

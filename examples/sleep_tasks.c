/* SPDX-License-Identifier: Apache-2.0
 *
 * sleep_tasks.c: 64 tasks that each sleep, the seed tutorials' concurrency
 * demo. On N workers the ideal time is ceil(64 / N) * sleep; the program
 * prints the measured time and the efficiency (ideal / measured).
 * Run: bazel run //examples:sleep_tasks [-- TASKS SLEEP_MS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ray/ray.h>

static int64_t
nap(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return ms;
}
RAY_REMOTE(nap, int64_t, int64_t);

int
main(int argc, char **argv)
{
    int ntasks = argc > 1 ? atoi(argv[1]) : 64;
    int64_t ms = argc > 2 ? atoll(argv[2]) : 250;
    if (ntasks <= 0 || ntasks > 100000 || ms < 0)
        return 2;
    if (ray_init(NULL) != RAY_OK) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error_detail());
        return 1;
    }
    int nw = ray_num_workers();
    ray_ref *refs = malloc((size_t)ntasks * sizeof(*refs));
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < ntasks; i++)
        refs[i] = nap_remote(ms);
    int rc = 0;
    for (int i = 0; i < ntasks; i++) {
        int64_t v;
        if (ray_get_int64(refs[i], &v, RAY_FOREVER) != RAY_OK || v != ms)
            rc = 1;
        ray_ref_release(refs[i]);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    ray_shutdown();
    free(refs);
    double s = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    double ideal = (double)((ntasks + nw - 1) / nw) * (double)ms / 1000.0;
    printf("%d tasks of %lld ms on %d workers: %.3f s (ideal %.3f s), "
           "efficiency %.3f\n",
           ntasks, (long long)ms, nw, s, ideal, ideal / s);
    return rc;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * param_sweep.c: the seed tutorials' parameter sweep.
 *
 * my_function(i, p1, p2, p3) is a slow "model run" evaluated for every row
 * of a parameter table; the calls run in parallel and each result is
 * linked back to its row by index. A progress bar shows on the terminal
 * while the sweep lasts; with TIMELINE, the file gets when and where each
 * run ran (open it in https://ui.perfetto.dev).
 * Run: bazel run //examples:param_sweep [-- ROWS SLEEP_MS [TIMELINE]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ray/ray.h>

static double
my_function(int64_t i, double p1, double p2, double p3, int64_t sleep_ms)
{
    struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* stands for a slow simulation */
    return p1 * p1 * p2 + p3 + (double)i * 0.0;
}
RAY_REMOTE(my_function, double, int64_t, double, double, double, int64_t);

int
main(int argc, char **argv)
{
    int rows = argc > 1 ? atoi(argv[1]) : 10;
    int64_t sleep_ms = argc > 2 ? atoll(argv[2]) : 200;
    const char *timeline = argc > 3 ? argv[3] : NULL;
    if (rows <= 0 || rows > 1000000 || sleep_ms < 0) {
        fprintf(stderr, "usage: %s [ROWS [SLEEP_MS [TIMELINE]]]\n", argv[0]);
        return 2;
    }
    double(*params)[3] = malloc((size_t)rows * sizeof(*params));
    ray_ref *out = malloc((size_t)rows * sizeof(*out));
    if (!params || !out)
        return 1;
    for (int i = 0; i < rows; i++) {
        params[i][0] = 0.5 + i;
        params[i][1] = 2.0;
        params[i][2] = (double)(i % 3);
    }
    ray_err e = ray_init(NULL);
    if (e != RAY_OK) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error_detail());
        return 1;
    }
    if (timeline)
        ray_timeline_enable(true);
    for (int i = 0; i < rows; i++)
        out[i] = my_function_remote(i, params[i][0], params[i][1], params[i][2],
                                    sleep_ms);
    /* Results come back in any order; the bar counts them. */
    ray_wait_progress(out, (size_t)rows, "sweep", RAY_FOREVER);
    int rc = 0;
    for (int i = 0; i < rows; i++) {
        double r;
        e = ray_get_double(out[i], &r, RAY_FOREVER);
        double want = params[i][0] * params[i][0] * params[i][1] + params[i][2];
        if (e != RAY_OK || r != want) {
            fprintf(stderr, "row %d: %s %s\n", i, ray_strerror(e),
                    ray_last_error_detail());
            rc = 1;
        } else {
            printf("row %d: p=(%g, %g, %g) -> %g\n", i, params[i][0],
                   params[i][1], params[i][2], r);
        }
        ray_ref_release(out[i]);
    }
    if (timeline && ray_timeline(timeline) != RAY_OK) {
        fprintf(stderr, "%s\n", ray_last_error_detail());
        rc = 1;
    }
    ray_shutdown();
    free(params);
    free(out);
    return rc;
}

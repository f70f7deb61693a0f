/* SPDX-License-Identifier: Apache-2.0
 *
 * launch_driver.c: the driver a launched cluster runs (rayc start --mpi or
 * --slurm ... -- launch_driver N): calls spread over the nodes, each
 * saying which node ran it; it prints when the first result came (the
 * wall clock, for the launch benchmark), the nodes that answered, and
 * exits 0 when there were N of them, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ray/ray.h"

/* The node that runs it: agents carry RAYC_NODE_IP, the driver's own
 * node's workers do not. */
static char *
where(int64_t ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
    const char *ip = getenv("RAYC_NODE_IP");
    return strdup(ip ? ip : "driver");
}
RAY_REMOTE(where, char *, int64_t);

int
main(int argc, char **argv)
{
    int want = argc > 1 ? atoi(argv[1]) : 1;
    if (ray_init(NULL) != RAY_OK) {
        fprintf(stderr, "launch_driver: %s\n", ray_last_error_detail());
        return 2;
    }
    enum { CALLS = 24 };
    ray_call_opts o = {.strategy = RAY_STRATEGY_SPREAD};
    ray_ref r[CALLS];
    for (int i = 0; i < CALLS; i++)
        r[i] = where_remote_opts(&o, 50);
    char seen[CALLS][64];
    int n = 0, ok = 0;
    for (int i = 0; i < CALLS; i++) {
        char *s = NULL;
        if (ray_get_str(r[i], &s, 60000) != RAY_OK) {
            fprintf(stderr, "launch_driver: %s\n", ray_last_error_detail());
            continue;
        }
        if (!ok++) { /* for //bench: the job's start to its first result */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            printf("launch_driver: first result at %lld ns\n",
                   (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        }
        bool known = false;
        for (int k = 0; k < n; k++)
            known |= !strcmp(seen[k], s);
        if (!known)
            snprintf(seen[n++], sizeof(seen[0]), "%s", s);
        ray_free(s);
        ray_ref_release(r[i]);
    }
    printf("launch_driver: %d of %d calls, %d nodes:", ok, CALLS, n);
    for (int k = 0; k < n; k++)
        printf(" %s", seen[k]);
    printf("\n");
    ray_shutdown();
    return ok == CALLS && n == want ? 0 : 1;
}

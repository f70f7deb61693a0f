/* SPDX-License-Identifier: Apache-2.0
 *
 * gang_sweep.c: a parameter sweep on CPUs it reserves first. A placement
 * group of one-CPU bundles (SPREAD: over the nodes, in a cluster) holds
 * its CPUs whole; the trials run on its bundles in turn, while the rest
 * of the machine stays free for other work; light trials ask for half a
 * CPU and two share one. The group is removed at the end.
 *
 * Usage: gang_sweep [bundles] [trials]  (default half the CPUs, and 40)
 * Exit status 0 when every trial's result is right.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ray/ray.h>

/* One trial: a deterministic score of parameters (a, b). */
static int64_t
trial(int64_t a, int64_t b)
{
    int64_t s = 0;
    for (int64_t i = 0; i < 100000; i++)
        s += (a * i + b) % 7;
    return s;
}
RAY_REMOTE(trial, int64_t, int64_t, int64_t);

static int64_t
expected(int64_t a, int64_t b)
{
    int64_t s = 0;
    for (int64_t i = 0; i < 100000; i++)
        s += (a * i + b) % 7;
    return s;
}

int
main(int argc, char **argv)
{
    if (ray_init(NULL) != RAY_OK) {
        fprintf(stderr, "gang_sweep: %s\n", ray_last_error_detail());
        return 2;
    }
    int cpus = ray_num_workers();
    int nb = argc > 1 ? atoi(argv[1]) : (cpus > 1 ? cpus / 2 : 1);
    int n = argc > 2 ? atoi(argv[2]) : 40;
    if (nb < 1 || nb > cpus || n < 1) {
        fprintf(stderr, "gang_sweep: 1 to %d bundles, 1 or more trials\n",
                cpus);
        ray_shutdown();
        return 2;
    }
    ray_bundle *b = calloc((size_t)nb, sizeof(*b));
    ray_ref *r = calloc((size_t)n, sizeof(*r));
    if (!b || !r)
        return 2;
    for (int i = 0; i < nb; i++)
        b[i].num_cpus = 1;
    ray_pg pg;
    if (ray_pg_create(b, (uint32_t)nb, RAY_PG_SPREAD, "sweep", &pg) != RAY_OK ||
        ray_pg_wait(pg, 60000) != RAY_OK) {
        fprintf(stderr, "gang_sweep: %s\n", ray_last_error_detail());
        ray_shutdown();
        return 1;
    }
    /* Heavy trials on the group's bundles, each next one on the next
     * bundle; light ones on half a CPU each, outside the group (in it
     * when it holds every CPU). */
    ray_call_opts heavy = {.pg = pg, .pg_bundle = RAY_PG_ANY_BUNDLE};
    ray_call_opts light = {.num_cpus = 0.5};
    if (nb == cpus)
        light = heavy;
    for (int i = 0; i < n; i++)
        r[i] = trial_remote_opts(i % 2 ? &light : &heavy, i, 3 * i + 1);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = -1;
        if (ray_get_int64(r[i], &v, RAY_FOREVER) != RAY_OK ||
            v != expected(i, 3 * i + 1))
            bad++;
        ray_ref_release(r[i]);
    }
    ray_pg_remove(pg);
    printf("%d trials, on %d reserved CPU%s and on half CPUs: %d wrong\n", n,
           nb, nb == 1 ? "" : "s", bad);
    free(b);
    free(r);
    ray_shutdown();
    return bad != 0;
}

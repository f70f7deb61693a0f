/* SPDX-License-Identifier: Apache-2.0
 *
 * chaos_bench.c: the end of the `faults` group. The parameter sweep of
 * tests/integration/common/chaos.h on a loopback cluster of its own (a
 * head and three nodes) while rounds of its faults land for a minute
 * (RAYC_CHAOS_S seconds instead; RAYC_CHAOS_SEED replays a run): kill -9
 * of a raylet, of the head, of a worker and of an actor's process, a node
 * hung past its deadline, the driver's store filled past its size. It
 * prints the results lost (the figure that must be 0) beside the faults
 * made and the results checked; the full report goes to stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"
#include "tests/integration/common/chaos.h"

void
bench_faults_chaos(void)
{
    const char *s = getenv("RAYC_CHAOS_S");
    int secs = s && atoi(s) > 0 ? atoi(s) : 60;
    static rc_cluster c;
    if (!rc_chaos_up(&c)) {
        fprintf(stderr, "faults: the chaos cluster did not start: %s\n",
                rc_out(&c));
        rc_close(&c);
        return;
    }
    static rc_chaos_report r;
    ray_err err = rc_chaos_run(&c, rc_chaos_seed(), secs, secs + 120, &r);
    rc_close(&c);
    if (err != RAY_OK) {
        fprintf(stderr, "faults: the chaos run did not start: %s\n",
                r.first_loss);
        return;
    }
    rc_chaos_print(stderr, &r);
    bench_print("chaos_sweep_seconds", r.secs, "s");
    bench_print("chaos_faults_injected", r.faults, "faults");
    bench_print("chaos_sweep_checked_results",
                r.checked + r.reduced + r.actor_calls + r.graph, "results");
    bench_print("chaos_sweep_lost_results", r.lost, "results");
    bench_print("chaos_sweep_hangs", r.hangs, "gets");
    bench_print("chaos_calls_sent_again", (double)r.resent, "calls");
    bench_print("chaos_actor_restarts", r.actor_restarts, "restarts");
    bench_print("chaos_reconstructions", (double)r.rebuilt, "objects");
    bench_print("chaos_recover_max_s", r.recover_s, "s");
    bench_print("chaos_seed", r.seed, "seed");
}

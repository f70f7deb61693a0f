/* SPDX-License-Identifier: Apache-2.0
 *
 * test_chaos.c: the parameter sweep of chaos.h on a loopback cluster (a
 * head and three nodes, real processes) while each of its faults lands
 * once, at a random moment: a raylet killed and started again, a node
 * hung past its deadline, another node's raylet alone hung past it, the
 * head killed and started again, a worker
 * killed under a task, an actor's process killed, and the driver's store
 * filled past its size (as root, with its spills on a small disk that
 * fills too). Every result must come back correct: none lost,
 * no get left hanging. The seed (printed; RAYC_CHAOS_SEED replays it)
 * picks the order of the faults and the pauses between them. Bounded: 90
 * s of waves; the cluster is stopped in the teardown even when a check
 * fails. The faults benchmark runs the same for a minute of rounds
 * (chaos_sweep_lost_results).
 */
#include <criterion/criterion.h>
#include <unistd.h>

#include "ray/ray.h"
#include "tests/integration/common/chaos.h"

static rc_cluster C;

static void
chaos_up(void)
{
    cr_assert(rc_chaos_up(&C), "%s", rc_out(&C));
}

static void
chaos_down(void)
{
    ray_shutdown();
    bool clean = !C.tmp[0] || rc_logs_clean(&C);
    rc_close(&C);
    cr_assert(clean, "a daemon's log holds a sanitizer report (above)");
}

TestSuite(chaos, .init = chaos_up, .fini = chaos_down, .timeout = 150);

Test(chaos, a_sweep_loses_nothing_while_nodes_workers_actors_and_the_head_fail)
{
    static rc_chaos_report r;
    unsigned seed = rc_chaos_seed();
    fprintf(stderr, "chaos: seed %u\n", seed);
    cr_assert_eq(rc_chaos_run(&C, seed, 0, 90, &r), RAY_OK, "%s", r.first_loss);
    rc_chaos_print(stderr, &r);
    cr_assert_eq(r.skipped, 0, "seed %u: a fault could not be made:\n%s", seed,
                 r.log);
    /* The store past its size: it spilled or said it was full, and every
     * value it took read back whole. */
    cr_assert_eq(r.puts_took + r.puts_full, RC_CHAOS_PUTS);
    cr_assert_eq(r.puts_bad, 0, "seed %u", seed);
    cr_assert(r.puts_full > 0 || r.spills > 0,
              "the store neither spilled nor said it was full");
    if (r.spill_disk_mb) /* as root: its spill disk filled, and said so */
        cr_assert_gt(r.puts_disk_full, 0, "seed %u", seed);
    cr_assert_eq(r.hangs, 0, "seed %u: %d gets hung", seed, r.hangs);
    cr_assert_eq(r.lost, 0, "seed %u: %d results lost, the first %s", seed,
                 r.lost, r.first_loss);
    cr_assert_eq(r.checked, r.waves * RC_CHAOS_WAVE, "seed %u", seed);
    cr_assert_eq(r.reduced, r.waves * RC_CHAOS_REDUCES, "seed %u", seed);
    cr_assert_eq(r.actor_calls, r.waves * RC_CHAOS_ACALLS, "seed %u", seed);
    cr_assert_eq(r.graph, r.waves * (RC_CHAOS_GRAPH + 1), "seed %u", seed);
    cr_assert_geq(r.actor_restarts, 1, "seed %u: the actor never restarted",
                  seed);
    if (geteuid() == 0) /* scripts/setup installs nftables */
        cr_assert(r.net_on, "as root, nft could not cut a node off");
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * chaos.h: a parameter sweep on a loopback cluster (a head on 127.0.9.1
 * and nodes 127.0.9.2-4, real processes, that range the cluster's own)
 * while faults land at random moments, for the chaos test and the faults
 * benchmark.
 *
 * The faults, in an order and with pauses a seed picks: kill -9 of a
 * raylet (.2, started again after a pause), a node hung whole (SIGSTOP of
 * .3's raylet, agents and workers past the heartbeat deadline, then
 * SIGCONT), .4's raylet alone hung past the deadline (its agent and
 * workers run on: declared dead, it joins again), kill -9 of the head
 * (started again on its port), kill -9 of a worker under a task (.4),
 * kill -9 of a stateful actor's process, as root with nftables .3 cut off
 * from every other node (its packets dropped) for less than the deadline
 * or past it (declared dead, it joins again) and .2's links losing a
 * packet in four (slow: TCP resends), and
 * the driver's store filled past its size (it spills or refuses; what it
 * took reads back whole), its spills on a 24 MiB disk of their own when
 * run as root (a tmpfs the run mounts and unmounts), which fills too. The
 * workload, in waves: 200 calls, 4 reduces over their refs packed in an
 * argument (borrowed wherever they run), 8 calls to an actor with restarts
 * whose answers depend on its constructor's state, and a graph of 4 large
 * values made on the nodes, each read by a call on a node (parked there:
 * lost with a node, they are made again) and the last got here. Every
 * result is checked.
 *
 *   rc_cluster c;
 *   rc_chaos_up(&c);                       the cluster (false: rc_out)
 *   rc_chaos_report r;
 *   rc_chaos_run(&c, rc_chaos_seed(), 0, 90, &r);   each fault once
 *   rc_chaos_print(stderr, &r);
 *   rc_close(&c);
 */
#ifndef RAY_TESTS_COMMON_CHAOS_H
#define RAY_TESTS_COMMON_CHAOS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ray/ray.h"
#include "tests/integration/common/cluster.h"

/* A wave: calls, reduces, actor calls. A store fill: puts. */
#define RC_CHAOS_WAVE 200
#define RC_CHAOS_REDUCES 4
#define RC_CHAOS_ACALLS 8
#define RC_CHAOS_PUTS 12
/* And a graph of large values: RC_CHAOS_GRAPH values of 2 MiB made on the
 * nodes, each read by a call on a node, the last also got here. */
#define RC_CHAOS_GRAPH 4

typedef struct rc_chaos_report {
    unsigned seed;
    int waves;
    int checked;     /* the sweep's results, correct */
    int reduced;     /* reduces over borrowed refs, correct */
    int actor_calls; /* the actor's answers, correct */
    int graph;       /* large values read on a node (and one got), correct */
    int lost;        /* results wrong or failed: must be 0 */
    int hangs;       /* gets past their 120 s: must be 0 */
    int faults;      /* faults made */
    int skipped;     /* faults that could not be made (in `log`) */
    int puts_took, puts_full, puts_bad; /* the store filled past its size */
    int spill_disk_mb;         /* its spills' disk (a tmpfs, as root), or 0 */
    int puts_disk_full;        /* puts refused as that disk was full */
    unsigned long long resent; /* calls sent again (ray_stats) */
    unsigned long long worker_restarts, spills;
    unsigned long long rebuilt; /* results made again (lineage: ray_stats) */
    int actor_restarts;
    bool net_on;         /* nftables faults made (root, nft): partitions */
    int partitions_past; /* of them, past the heartbeat deadline */
    double secs;         /* the whole run */
    double recover_s;    /* the longest wave: the worst time to recover */
    char first_loss[300];
    char first_hang[160]; /* what the first hang waited for, and when */
    char log[4096];       /* each fault, in the order made */
} rc_chaos_report;

/* rc_open(c, "chaos") and a head (1 CPU) and nodes .2, .3, .4 of
 * 127.0.9.0/24 (2 CPUs and resource pool=10 each): false when one did not
 * start (rc_out). */
bool rc_chaos_up(rc_cluster *c);

/* RAYC_CHAOS_SEED, or one drawn from the time and pid. */
unsigned rc_chaos_seed(void);

/* ray_init on c's head (a 32 MiB store), then waves of the sweep while
 * the faults land: each once when fault_s is 0, else rounds of them (each
 * round in its own order) for fault_s seconds; then three more waves;
 * within max_s seconds. ray_shutdown at the end. RAY_OK, or ray_init's
 * error (its detail in r->first_loss). */
ray_err rc_chaos_run(rc_cluster *c, unsigned seed, int fault_s, int max_s,
                     rc_chaos_report *r);

/* The report's counts in a line, then the faults. */
void rc_chaos_print(FILE *f, const rc_chaos_report *r);

#endif /* RAY_TESTS_COMMON_CHAOS_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * test_local_queue.c: the ready queue and dispatch policy driven through
 * a fake transport (sched_ops) with a bounded ring per worker.
 */
#include <criterion/criterion.h>

#include "scheduler/local_queue.h"

#define NW 4
#define CAP 64

typedef struct fake_worker {
    int pad; /* the slot is not the first member */
    sched_slot slot;
    uint64_t got[CAP]; /* ids pushed, in order */
    int ngot;
    int room; /* pushes accepted before EAGAIN */
    int flushes;
    int started; /* got[0 .. started) cannot be taken back */
    int taken;   /* ids taken back from it */
} fake_worker;

typedef struct fake {
    fake_worker w[NW];
    uint64_t failed[CAP];
    int nfailed;
    ray_err push_err;   /* forced error for every push, or RAY_OK */
    int where[CAP + 1]; /* worker of each task id pushed */
} fake;

static ray_err
fake_push(void *ctx, int w, sched_task *t)
{
    fake *f = ctx;
    if (f->push_err != RAY_OK)
        return f->push_err;
    if (f->w[w].room <= 0)
        return RAY_EAGAIN;
    f->w[w].room--;
    f->w[w].got[f->w[w].ngot++] = t->id;
    f->where[t->id] = w;
    return RAY_OK;
}

static void
fake_failed(void *ctx, sched_task *t, ray_err err)
{
    fake *f = ctx;
    cr_assert_eq(err, RAY_ETOOBIG);
    f->failed[f->nfailed++] = t->id;
}

static void
fake_flush(void *ctx, int w)
{
    ((fake *)ctx)->w[w].flushes++;
}

static const sched_ops fake_ops = {fake_push, fake_failed, fake_flush, NULL};

static fake F;
static sched_queue Q;
static sched_task T[CAP];

/* Takes back what a worker has not started, oldest first. */
static uint32_t
fake_revoke(void *ctx, int w, bool keep_own, bool newest, sched_task **out,
            uint32_t max)
{
    fake_worker *fw = &((fake *)ctx)->w[w];
    uint32_t n = 0;
    int i = newest ? fw->ngot - 1 : fw->started;
    while (n < max && i >= fw->started && i < fw->ngot) {
        uint64_t id = fw->got[i];
        if (keep_own && T[id - 1].prefer == w + 1) {
            i += newest ? -1 : 1;
            continue;
        }
        memmove(&fw->got[i], &fw->got[i + 1],
                (size_t)(fw->ngot - i - 1) * sizeof(uint64_t));
        fw->ngot--;
        fw->room++;
        fw->taken++;
        out[n++] = &T[id - 1];
        if (newest)
            i--;
    }
    return n;
}

static const sched_ops steal_ops = {fake_push, fake_failed, fake_flush,
                                    fake_revoke};

static void
setup_n(int nworkers, uint32_t max_inflight, sched_resources *res)
{
    memset(&F, 0, sizeof(F));
    for (int w = 0; w < NW; w++) {
        F.w[w].slot.alive = 1;
        F.w[w].room = CAP;
    }
    sched_queue_init(&Q, &fake_ops, &F, res, &F.w[0].slot, sizeof(fake_worker),
                     nworkers, max_inflight);
    for (int i = 0; i < CAP; i++)
        sched_task_init(&T[i], (uint64_t)i + 1, NULL, 0);
}

Test(local_queue, fifo_order_on_one_worker, .timeout = 5)
{
    setup_n(1, 100, NULL);
    for (int i = 0; i < 10; i++)
        sched_queue_push(&Q, &T[i]);
    cr_assert_eq(Q.n, 10);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].ngot, 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(F.w[0].got[i], (uint64_t)i + 1);
    cr_assert_eq(Q.n, 0);
    cr_assert_null(Q.head);
    cr_assert_eq(F.w[0].slot.inflight, 10);
    cr_assert_eq(F.w[0].flushes, 1, "one flush per round");
    cr_assert_eq(F.where[4], 0);
}

Test(local_queue, least_loaded_worker_and_max_inflight, .timeout = 5)
{
    setup_n(2, 2, NULL);
    for (int i = 0; i < 6; i++)
        sched_queue_push(&Q, &T[i]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].ngot, 2);
    cr_assert_eq(F.w[1].ngot, 2);
    cr_assert_eq(F.w[0].got[0], 1);
    cr_assert_eq(F.w[1].got[0], 2);
    cr_assert_eq(Q.n, 2, "the rest waits for a slot");
    cr_assert_eq(Q.head, &T[4]);
    sched_queue_done(&Q, F.where[T[0].id], &T[0]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].ngot, 3);
    cr_assert_eq(F.w[0].got[2], 5);
    cr_assert_eq(Q.head, &T[5]);
}

Test(local_queue, dead_worker_gets_nothing, .timeout = 5)
{
    setup_n(2, 100, NULL);
    F.w[0].slot.alive = 0;
    for (int i = 0; i < 3; i++)
        sched_queue_push(&Q, &T[i]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].ngot, 0);
    cr_assert_eq(F.w[1].ngot, 3);
    cr_assert_eq(F.w[0].flushes, 0);
}

Test(local_queue, resource_blocked_task_waits_then_goes, .timeout = 5)
{
    sched_resources res;
    sched_res_init(&res);
    cr_assert_eq(sched_res_add(&res, "GPU", 1000), RAY_OK);
    sched_demand gpu;
    cr_assert_eq(sched_res_parse_demand(&res, "GPU:1", &gpu, NULL, 0), RAY_OK);
    setup_n(2, 100, &res);
    T[0].demand = &gpu;
    T[1].demand = &gpu;
    sched_queue_push(&Q, &T[0]);
    sched_queue_push(&Q, &T[1]);
    sched_queue_push(&Q, &T[2]);
    sched_queue_dispatch(&Q);
    /* T1 (id 2) waits for the GPU; T2 passes it. */
    cr_assert_eq(Q.n, 1);
    cr_assert_eq(Q.head, &T[1]);
    cr_assert_eq(T[1].acquired, 0);
    cr_assert_eq(T[0].acquired, 1);
    cr_assert_eq(res.avail[0], 0);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 1, "still blocked while the GPU is held");
    sched_queue_done(&Q, F.where[T[0].id], &T[0]);
    cr_assert_eq(res.avail[0], 1000);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 0);
    cr_assert_eq(T[1].acquired, 1);
    cr_assert_eq(res.avail[0], 0);
    sched_queue_done(&Q, F.where[T[1].id], &T[1]);
    cr_assert_eq(res.avail[0], 1000);
}

Test(local_queue, multi_cpu_task_holds_idle_workers, .timeout = 5)
{
    setup_n(3, 100, NULL);
    T[0].cpus_extra = 2;
    sched_queue_push(&Q, &T[1]); /* takes worker 0 first */
    sched_queue_push(&Q, &T[0]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 1, "needs 3 idle workers, only 2 are");
    cr_assert_eq(T[0].cpus_held, 0);
    for (int w = 0; w < 3; w++)
        cr_assert_eq(F.w[w].slot.reserved_by, 0);
    sched_queue_done(&Q, F.where[T[1].id], &T[1]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 0);
    cr_assert_eq(T[0].cpus_held, 1);
    int held = 0;
    for (int w = 0; w < 3; w++)
        held += F.w[w].slot.reserved_by == T[0].id;
    cr_assert_eq(held, 2);
    /* Nothing else runs beside it. */
    sched_queue_push(&Q, &T[2]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.where[T[2].id], F.where[T[0].id]);
    sched_queue_done(&Q, F.where[T[0].id], &T[0]);
    for (int w = 0; w < 3; w++)
        cr_assert_eq(F.w[w].slot.reserved_by, 0);
}

Test(local_queue, eagain_tries_others_then_backlogs_in_place, .timeout = 5)
{
    setup_n(2, 100, NULL);
    F.w[0].room = 1;
    F.w[1].room = 1;
    for (int i = 0; i < 4; i++)
        sched_queue_push(&Q, &T[i]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].ngot + F.w[1].ngot, 2);
    cr_assert_eq(Q.n, 2);
    cr_assert_eq(Q.head, &T[2], "backlogged task keeps its place");
    cr_assert_eq(Q.tail, &T[3]);
    cr_assert_eq(F.w[0].ngot + F.w[1].ngot, 2, "nothing else was sent");
    /* Room again: the backlog goes, in order. */
    F.w[1].room = 5;
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 0);
    cr_assert_eq(F.w[1].got[1], 3);
    cr_assert_eq(F.w[1].got[2], 4);
}

Test(local_queue, backlog_releases_resources, .timeout = 5)
{
    sched_resources res;
    sched_res_init(&res);
    cr_assert_eq(sched_res_add(&res, "disk", 1000), RAY_OK);
    sched_demand d;
    cr_assert_eq(sched_res_parse_demand(&res, "disk:1", &d, NULL, 0), RAY_OK);
    setup_n(1, 100, &res);
    F.w[0].room = 0;
    T[0].demand = &d;
    sched_queue_push(&Q, &T[0]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 1);
    cr_assert_eq(T[0].acquired, 0);
    cr_assert_eq(res.avail[0], 1000);
}

Test(local_queue, unsendable_task_fails, .timeout = 5)
{
    setup_n(1, 100, NULL);
    F.push_err = RAY_ETOOBIG;
    sched_queue_push(&Q, &T[0]);
    sched_queue_push(&Q, &T[1]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.nfailed, 2);
    cr_assert_eq(F.failed[0], 1);
    cr_assert_eq(F.failed[1], 2);
    cr_assert_eq(Q.n, 0);
    cr_assert_eq(F.w[0].slot.inflight, 0);
}

Test(local_queue, push_front_and_remove, .timeout = 5)
{
    setup_n(1, 100, NULL);
    sched_queue_push(&Q, &T[0]);
    sched_queue_push(&Q, &T[1]);
    /* A chain T2, T3 goes in front, in order. */
    T[2].prev = NULL;
    T[2].next = &T[3];
    T[3].prev = &T[2];
    T[3].next = NULL;
    sched_queue_push_front(&Q, &T[2], &T[3], 2);
    cr_assert_eq(Q.n, 4);
    sched_queue_remove(&Q, &T[0]);
    cr_assert_eq(Q.n, 3);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].got[0], 3);
    cr_assert_eq(F.w[0].got[1], 4);
    cr_assert_eq(F.w[0].got[2], 2);
}

Test(local_queue, held_workers_get_no_tasks_until_unheld, .timeout = 5)
{
    setup_n(3, 100, NULL);
    sched_queue_push(&Q, &T[0]); /* worker 0 gets one in flight */
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.where[T[0].id], 0);
    const uint64_t key = 1ull << 62;
    cr_assert(sched_queue_hold(&Q, key, 2));
    /* Idle workers first: 1 and 2; worker 0 keeps its task. */
    cr_assert_eq(F.w[0].slot.reserved_by, 0);
    cr_assert_eq(F.w[1].slot.reserved_by, key);
    cr_assert_eq(F.w[2].slot.reserved_by, key);
    cr_assert_not(sched_queue_hold(&Q, key + 1, 2), "only one is free");
    cr_assert_eq(F.w[0].slot.reserved_by, 0, "a failed hold holds nothing");
    for (int i = 1; i < 5; i++)
        sched_queue_push(&Q, &T[i]);
    sched_queue_dispatch(&Q);
    for (int i = 1; i < 5; i++)
        cr_assert_eq(F.where[T[i].id], 0, "task %d went to a held worker", i);
    /* Full ring on the only free worker: held ones are no fallback. */
    F.w[0].room = 0;
    sched_queue_push(&Q, &T[5]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 1);
    cr_assert_eq(F.w[1].ngot + F.w[2].ngot, 0);
    sched_queue_unhold(&Q, key);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 0);
    cr_assert_neq(F.where[T[5].id], 0);
}

/* ---- stealing, blocked workers and stand-ins ---- */

/* `nworkers` slots of which `ncore` are CPUs, with revoke. */
static void
setup_steal(int nworkers, int ncore, uint32_t max_inflight)
{
    setup_n(nworkers, max_inflight, NULL);
    sched_queue_init(&Q, &steal_ops, &F, NULL, &F.w[0].slot,
                     sizeof(fake_worker), nworkers, max_inflight);
    sched_queue_set_cores(&Q, ncore);
}

/* Worker w finished the task at the head of what it got. */
static void
finish_first(int w)
{
    fake_worker *fw = &F.w[w];
    cr_assert_gt(fw->ngot, 0);
    uint64_t id = fw->got[0];
    memmove(&fw->got[0], &fw->got[1],
            (size_t)(fw->ngot - 1) * sizeof(uint64_t));
    fw->ngot--;
    if (fw->started > 0)
        fw->started--;
    sched_queue_done(&Q, w, &T[id - 1]);
}

Test(local_queue, idle_worker_steals_half_of_what_is_queued, .timeout = 5)
{
    setup_steal(2, 2, 100);
    for (int i = 0; i < 11; i++)
        sched_queue_push(&Q, &T[i]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].ngot, 6);
    cr_assert_eq(F.w[1].ngot, 5);
    /* Worker 0 runs a long task; worker 1 finishes all of its own. */
    F.w[0].started = 1;
    F.w[1].started = 5;
    for (int i = 0; i < 5; i++)
        finish_first(1);
    sched_queue_dispatch(&Q);
    /* Half of worker 0's six (five queued, one running): the newest
     * three, in their order, to the idle worker. */
    cr_assert_eq(F.w[0].taken, 3);
    cr_assert_eq(F.w[1].ngot, 3);
    const uint64_t stolen[] = {7, 9, 11}, kept[] = {1, 3, 5};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(F.w[1].got[i], stolen[i]);
        cr_assert_eq(F.w[0].got[i], kept[i]);
    }
    cr_assert_eq(F.w[0].slot.inflight, 3);
    cr_assert_eq(F.w[1].slot.inflight, 3);
    cr_assert_eq(Q.steals, 3);
    cr_assert_eq(Q.n, 0);
}

Test(local_queue, nothing_is_stolen_from_a_worker_that_started_all,
     .timeout = 5)
{
    setup_steal(2, 2, 100);
    for (int i = 0; i < 2; i++)
        sched_queue_push(&Q, &T[i]);
    sched_queue_dispatch(&Q);
    F.w[0].started = F.w[0].ngot;
    finish_first(1);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].taken, 0);
    cr_assert_eq(Q.steals, 0);
}

Test(local_queue, a_blocked_worker_gives_back_and_gets_nothing, .timeout = 5)
{
    setup_steal(2, 2, 100);
    for (int i = 0; i < 6; i++)
        sched_queue_push(&Q, &T[i]);
    sched_queue_dispatch(&Q);
    F.w[0].started = 1; /* its running task now waits, for a while */
    F.w[0].slot.blocked = SCHED_BLOCKED | SCHED_BLOCKED_LONG;
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].ngot, 1, "only the running task stays");
    cr_assert_eq(F.w[0].slot.inflight, 1);
    cr_assert_eq(F.w[1].slot.inflight, 5);
    /* New tasks go to the other worker only. */
    sched_queue_push(&Q, &T[6]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.where[7], 1);
    /* Work waits behind a busy worker while a CPU is blocked: one
     * stand-in wanted. */
    cr_assert_eq(Q.want, 1);
}

Test(local_queue, stand_ins_run_only_while_a_cpu_is_blocked, .timeout = 5)
{
    setup_steal(4, 2, 100); /* slots 2 and 3 are stand-ins */
    for (int i = 0; i < 4; i++)
        sched_queue_push(&Q, &T[i]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[2].ngot + F.w[3].ngot, 0, "no CPU is blocked");
    cr_assert_eq(Q.want, 0);
    F.w[0].started = 1;
    F.w[0].slot.blocked = SCHED_BLOCKED; /* a moment: no stand-in yet */
    sched_queue_dispatch(&Q);
    cr_assert_not(F.w[2].slot.eligible);
    cr_assert_eq(Q.want, 0);
    cr_assert_eq(F.w[0].ngot, 1, "but its queued task moved");
    F.w[0].slot.blocked = SCHED_BLOCKED | SCHED_BLOCKED_LONG;
    sched_queue_push(&Q, &T[9]);
    sched_queue_dispatch(&Q);
    /* Blocked a while: the first stand-in took the CPU. */
    cr_assert(F.w[2].slot.eligible);
    cr_assert_not(F.w[3].slot.eligible);
    cr_assert_eq(F.w[0].ngot, 1);
    cr_assert_eq(F.w[3].ngot, 0);
    cr_assert_gt(F.w[2].ngot, 0);
    cr_assert_eq(F.where[10], 2);
    /* Worker 0 wakes: the stand-in keeps what it has, gets nothing new,
     * and gives back what it has not started. */
    F.w[0].slot.blocked = 0;
    F.w[2].started = 0;
    sched_queue_push(&Q, &T[10]);
    sched_queue_dispatch(&Q);
    cr_assert_not(F.w[2].slot.eligible);
    cr_assert_eq(F.w[2].ngot, 0);
    cr_assert_neq(F.where[11], 2);
    cr_assert_neq(F.where[11], 3);
}

Test(local_queue, holds_take_cpus_not_stand_ins, .timeout = 5)
{
    setup_steal(4, 2, 100);
    const uint64_t key = 1ull << 62;
    cr_assert(sched_queue_hold(&Q, key, 2));
    cr_assert_eq(F.w[0].slot.reserved_by, key);
    cr_assert_eq(F.w[1].slot.reserved_by, key);
    cr_assert_eq(F.w[2].slot.reserved_by, 0);
    cr_assert_not(sched_queue_hold(&Q, key + 1, 1), "no CPU is left");
    /* Every CPU is held: no slot may take tasks, a stand-in neither. */
    sched_queue_push(&Q, &T[0]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 1);
    cr_assert_eq(Q.want, 0);
    sched_queue_unhold(&Q, key);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 0);
    cr_assert_lt(F.where[1], 2);
}

Test(local_queue, a_waiting_worker_keeps_its_own_calls, .timeout = 5)
{
    setup_steal(3, 2, 100);
    sched_queue_push(&Q, &T[0]);
    sched_queue_dispatch(&Q); /* the parent, on worker 0 */
    for (int i = 1; i < 7; i++) {
        T[i].prefer = 1; /* its calls */
        sched_queue_push(&Q, &T[i]);
    }
    sched_queue_push(&Q, &T[7]); /* somebody else's */
    sched_queue_dispatch(&Q);
    for (int i = 1; i < 7; i++)
        cr_assert_eq(F.where[i + 1], 0, "call %d went near its caller", i);
    F.w[0].started = 1;
    F.w[0].slot.blocked = SCHED_BLOCKED_KEEPS_OWN | SCHED_BLOCKED_LONG;
    F.w[1].started = F.w[1].ngot;
    sched_queue_dispatch(&Q);
    /* Nothing is taken back for the waiting worker; the idle stand-in
     * steals the newest half of its calls. */
    cr_assert(F.w[2].slot.eligible);
    cr_assert_eq(F.w[2].ngot, 3);
    const uint64_t stolen[] = {5, 6, 7};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(F.w[2].got[i], stolen[i]);
    cr_assert_eq(F.w[0].ngot, 4, "it keeps the parent and its next calls");
    /* A new call of its own still goes to it while it waits. */
    T[20].prefer = 1;
    sched_queue_push(&Q, &T[20]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.where[21], 0);
}

Test(local_queue, a_bundles_workers_run_its_tasks_and_no_others, .timeout = 5)
{
    setup_steal(4, 4, 100);
    sched_bundle b = {.key = 0xB0};
    cr_assert(sched_queue_reserve(&Q, b.key, 2));
    cr_assert_not(sched_queue_reserve(&Q, 0xB1, 3), "only 2 CPUs are left");
    /* Alternate: bundle tasks (odd ids) and the node's own (even ids). */
    for (int i = 0; i < 20; i++) {
        if (i % 2 == 0)
            T[i].bundle = &b;
        sched_queue_push(&Q, &T[i]);
    }
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 0, "neither kind waits behind the other");
    int in_bundle = 0;
    for (int w = 0; w < 4; w++) {
        bool reserved = F.w[w].slot.bundle == b.key;
        in_bundle += reserved;
        for (int k = 0; k < F.w[w].ngot; k++)
            cr_assert_eq(T[F.w[w].got[k] - 1].bundle == &b, reserved,
                         "task %llu on worker %d",
                         (unsigned long long)F.w[w].got[k], w);
    }
    cr_assert_eq(in_bundle, 2);
    /* An idle bundle worker steals from its bundle only. */
    int bw = F.w[0].slot.bundle == b.key ? 0 : F.w[1].slot.bundle ? 1 : 2;
    while (F.w[bw].ngot)
        finish_first(bw);
    sched_queue_dispatch(&Q);
    for (int k = 0; k < F.w[bw].ngot; k++)
        cr_assert_eq(T[F.w[bw].got[k] - 1].bundle, &b, "stole across");
    cr_assert_gt(F.w[bw].ngot, 0, "it stole from its bundle's other worker");
    /* Unreserved, its workers are the node's again. */
    sched_queue_unreserve(&Q, b.key);
    for (int w = 0; w < 4; w++)
        cr_assert_eq(F.w[w].slot.bundle, 0);
    cr_assert(sched_queue_reserve(&Q, 0xB1, 4));
}

Test(local_queue, a_bundle_task_takes_its_resources_from_the_pool, .timeout = 5)
{
    static sched_resources node;
    sched_res_init(&node);
    cr_assert_eq(sched_res_add_spec(&node, "GPU:2"), RAY_OK);
    setup_n(2, 100, &node);
    sched_demand one, two;
    cr_assert_eq(sched_res_parse_demand(&node, "GPU:1", &one, NULL, 0), RAY_OK);
    cr_assert_eq(sched_res_parse_demand(&node, "GPU:2", &two, NULL, 0), RAY_OK);
    /* The bundle took one GPU from the node (no CPU of its own). */
    cr_assert(sched_res_try_acquire(&node, &one));
    sched_bundle b = {.key = 0};
    sched_res_pool(&b.pool, &one);
    T[0].demand = &one; /* in the bundle: from its pool */
    T[0].bundle = &b;
    T[1].demand = &two; /* outside: the node has one left */
    T[2].demand = &one;
    sched_queue_push(&Q, &T[0]);
    sched_queue_push(&Q, &T[1]);
    sched_queue_push(&Q, &T[2]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.n, 1, "the 2-GPU task waits");
    cr_assert_eq(Q.head, &T[1]);
    cr_assert_eq(b.pool.avail[one.idx[0]], 0);
    cr_assert_eq(node.avail[one.idx[0]], 0);
    sched_queue_release(&Q, &T[0]);
    cr_assert_eq(b.pool.avail[one.idx[0]], 1000, "back to the pool");
    cr_assert_eq(node.avail[one.idx[0]], 0, "not to the node");
}

Test(local_queue, fractional_tasks_share_a_lent_cpu, .timeout = 5)
{
    setup_steal(4, 1, 100); /* one CPU and three stand-in slots */
    F.w[1].slot.alive = F.w[2].slot.alive = F.w[3].slot.alive = 0;
    for (int i = 0; i < 5; i++) {
        T[i].milli = 250;
        sched_queue_push(&Q, &T[i]);
    }
    T[5].milli = 0; /* a whole-CPU task behind them */
    sched_queue_push(&Q, &T[5]);
    sched_queue_dispatch(&Q);
    /* The CPU is lent; its worker runs one; stand-ins are wanted for the
     * three others that fit; the fifth and the whole one wait. */
    cr_assert_eq(Q.frac_cpus, 1);
    cr_assert_eq(F.w[0].ngot, 1);
    cr_assert_eq(Q.frac_used, 250);
    cr_assert_geq(Q.want, 3);
    F.w[1].slot.alive = F.w[2].slot.alive = F.w[3].slot.alive = 1;
    sched_queue_dispatch(&Q);
    for (int w = 0; w < 4; w++)
        cr_assert_eq(F.w[w].ngot, 1, "worker %d runs one of them", w);
    cr_assert_eq(Q.frac_used, 1000);
    cr_assert_eq(Q.n, 2, "the fifth quarter and the whole task wait");
    /* One quarter ends: the fifth takes its place, the whole one waits. */
    finish_first(2);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[2].ngot, 1);
    cr_assert_eq(F.w[2].got[0], 5);
    cr_assert_eq(Q.n, 1);
    cr_assert_eq(Q.head, &T[5]);
    /* All end: the CPU goes back and runs the whole task. */
    for (int w = 0; w < 4; w++)
        finish_first(w);
    sched_queue_dispatch(&Q);
    cr_assert_eq(Q.frac_cpus, 0);
    cr_assert_eq(Q.frac_used, 0);
    cr_assert_eq(F.w[0].ngot, 1);
    cr_assert_eq(F.w[0].got[0], 6);
}

Test(local_queue, a_reserved_worker_gives_back_what_it_had_queued, .timeout = 5)
{
    setup_steal(2, 2, 100);
    for (int i = 0; i < 6; i++)
        sched_queue_push(&Q, &T[i]);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[0].ngot, 3);
    cr_assert_eq(F.w[1].ngot, 3);
    F.w[0].started = F.w[1].started = 1;
    cr_assert(sched_queue_reserve(&Q, 0xB0, 1));
    int bw = F.w[0].slot.bundle ? 0 : 1;
    cr_assert_eq(F.w[bw].ngot, 1, "only the task it runs stays");
    cr_assert_eq(Q.n, 2);
    sched_queue_dispatch(&Q);
    cr_assert_eq(F.w[1 - bw].ngot, 5, "the node's tasks go to its worker");
    cr_assert_eq(F.w[bw].ngot, 1);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * The owner (the driver's core worker: task manager, dependency
 * resolution, retries, actor submitter) below the public API, with no
 * process and no ring: it is given a fake raylet (sched_raylet_api: lease
 * queue, returns, holds, host starts) and a fake transport (sdk_tx_ops:
 * records kept in a list, results scripted) through its two seams, the
 * way scheduler/local_queue is tested through fake sched_ops. The public
 * calls (RAY_CALL, ray_get, ray_cancel, RAY_ACTOR_CREATE, ...) drive it;
 * each test then reads what the owner asked of the raylet and sent on
 * the transport, plays a worker's answer, and checks what the caller
 * sees.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray/ray.h"
#include "runtime/alloc.h"
#include "sdk/sdk_int.h"

/* ---- functions and an actor (never run here: the fakes answer) ---- */

static int64_t
add(int64_t a, int64_t b)
{
    return a + b;
}
RAY_REMOTE(add, int64_t, int64_t, int64_t);

typedef struct counter {
    int64_t n;
} counter;

static ray_err
counter_init(counter *s, int64_t start)
{
    s->n = start;
    return RAY_OK;
}
RAY_ACTOR(counter, counter_init, int64_t);

static int64_t
counter_add(counter *s, int64_t k)
{
    return s->n += k;
}
RAY_METHOD(counter, counter_add, int64_t, int64_t);

/* ---- the fake transport ---- */

#define MAX_RECS 256
#define MAX_SLOTS 256

typedef struct rec {
    int w;
    uint32_t type;
    uint8_t *bytes;
    size_t len;
    bool revoked;
    bool flushed;
} rec;

typedef struct answer {
    int w;
    sdk_msg_done d;
} answer;

typedef struct fake_tx {
    sdk_tx base;
    sdk_bell bell;
    uint8_t *pending; /* reserved, not committed */
    size_t pending_len;
    rec recs[MAX_RECS];
    int nrecs;
    answer answers[MAX_RECS]; /* results the workers "send" */
    int nanswers;
    sdk_tx_worker ws[MAX_SLOTS];
    int opens, closes, replies;
} fake_tx;

static fake_tx *ftx;

static ray_err
tx_open(sdk_tx *tx, int w, char *env, size_t envlen, int *keep_fd)
{
    (void)tx, (void)w, (void)env, (void)envlen;
    *keep_fd = -1;
    ftx->opens++;
    return RAY_OK;
}

static void
tx_close(sdk_tx *tx, int w)
{
    (void)tx, (void)w;
    ftx->closes++;
}

static size_t
tx_max_record(sdk_tx *tx, int w)
{
    (void)tx, (void)w;
    return 1u << 16;
}

static void *
tx_reserve(sdk_tx *tx, int w, size_t len)
{
    (void)tx, (void)w;
    rt_free(ftx->pending);
    ftx->pending = rt_calloc(1, len);
    ftx->pending_len = len;
    return ftx->pending;
}

static uint32_t
tx_commit(sdk_tx *tx, int w, uint32_t type, size_t len)
{
    (void)tx;
    cr_assert_lt(ftx->nrecs, MAX_RECS);
    cr_assert_eq(len, ftx->pending_len);
    rec *r = &ftx->recs[ftx->nrecs];
    *r = (rec){.w = w, .type = type, .bytes = ftx->pending, .len = len};
    ftx->pending = NULL;
    return (uint32_t)ftx->nrecs++;
}

static void
tx_flush(sdk_tx *tx, int w)
{
    (void)tx;
    for (int i = 0; i < ftx->nrecs; i++)
        if (ftx->recs[i].w == w)
            ftx->recs[i].flushed = true;
}

/* A record is claimed once its task runs (ws[w].current names it). */
static bool
tx_revoke(sdk_tx *tx, int w, uint32_t token, uint32_t type)
{
    (void)tx, (void)type;
    rec *r = &ftx->recs[token];
    cr_assert_eq(r->w, w);
    const sdk_msg_task *m = (const sdk_msg_task *)r->bytes;
    if (r->revoked || ftx->ws[w].current == m->task_id)
        return false;
    r->revoked = true;
    return true;
}

static void
tx_reply(sdk_tx *tx, int w, uint32_t as, uint64_t id, ray_err err,
         uint32_t vtype, uint64_t scalar, const void *payload, size_t len)
{
    (void)tx, (void)w, (void)as, (void)id, (void)err, (void)vtype;
    (void)scalar, (void)payload, (void)len;
    ftx->replies++;
}

static void
tx_set_nested(sdk_tx *tx, int w, bool on)
{
    (void)tx, (void)w, (void)on;
}

static size_t
tx_drain(sdk_tx *tx, int w, bool deep, const sdk_tx_sink *sink, void *ctx)
{
    (void)tx, (void)deep;
    size_t n = 0;
    for (int i = 0; i < ftx->nanswers;) {
        if (ftx->answers[i].w != w) {
            i++;
            continue;
        }
        answer a = ftx->answers[i];
        memmove(&ftx->answers[i], &ftx->answers[i + 1],
                (size_t)(ftx->nanswers - i - 1) * sizeof(answer));
        ftx->nanswers--;
        sink->done(ctx, w, &a.d, NULL, false);
        n++;
    }
    return n;
}

static void
tx_worker(sdk_tx *tx, int w, sdk_tx_worker *out)
{
    (void)tx;
    *out = ftx->ws[w];
}

static uint64_t
tx_held_total(sdk_tx *tx)
{
    (void)tx;
    return 0;
}

static void
tx_store_ready(sdk_tx *tx, const char *path)
{
    (void)tx, (void)path;
}

static void
tx_nothing(sdk_tx *tx)
{
    (void)tx;
}

static const sdk_tx_ops fake_tx_ops = {
    .open = tx_open,
    .close = tx_close,
    .max_record = tx_max_record,
    .reserve = tx_reserve,
    .commit = tx_commit,
    .flush = tx_flush,
    .revoke = tx_revoke,
    .reply = tx_reply,
    .set_nested = tx_set_nested,
    .drain = tx_drain,
    .worker = tx_worker,
    .held_total = tx_held_total,
    .store_ready = tx_store_ready,
    .shutdown = tx_nothing,
    .destroy = tx_nothing,
};

/* ---- the fake raylet: a FIFO of leases, workers with `room` ---- */

typedef struct fake_rl {
    sched_worker w[MAX_SLOTS];
    sched_task *head, *tail;
    int nqueued;
    int room;      /* tasks a dispatch may still send */
    int to_worker; /* the task worker they go to */
    int leases, returns, requeues, unqueues, releases, dispatches;
    int holds, unholds, host_starts, kills;
    bool refuse_hold;
} fake_rl;

static fake_rl *frl;
static sdk_rt *rt;

static void
q_append(sched_task *t)
{
    t->next = NULL;
    t->prev = frl->tail;
    if (frl->tail)
        frl->tail->next = t;
    else
        frl->head = t;
    frl->tail = t;
    frl->nqueued++;
}

static void
q_unlink(sched_task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        frl->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        frl->tail = t->prev;
    t->next = t->prev = NULL;
    frl->nqueued--;
}

static void
rl_lease(void *r, sched_task *t)
{
    (void)r;
    frl->leases++;
    q_append(t);
}

static void
rl_requeue(void *r, sched_task *head, sched_task *tail, uint64_t n)
{
    (void)r, (void)tail;
    frl->requeues += (int)n;
    /* In order, before what waits. */
    sched_task *rest = frl->head;
    int nrest = frl->nqueued;
    frl->head = frl->tail = NULL;
    frl->nqueued = 0;
    for (sched_task *t = head, *next; t; t = next) {
        next = t->next;
        q_append(t);
    }
    for (sched_task *t = rest, *next; t && nrest--; t = next) {
        next = t->next;
        q_append(t);
    }
}

static void
rl_unqueue(void *r, sched_task *t)
{
    (void)r;
    frl->unqueues++;
    q_unlink(t);
}

static void
rl_returned(void *r, int w, sched_task *t)
{
    (void)r, (void)t;
    frl->returns++;
    frl->w[w].slot.inflight--;
}

static void
rl_release(void *r, sched_task *t)
{
    (void)r, (void)t;
    frl->releases++;
}

static void
rl_dispatch(void *r)
{
    (void)r;
    frl->dispatches++;
    int w = frl->to_worker;
    bool sent = false;
    while (frl->head && frl->room > 0) {
        sched_task *t = frl->head;
        q_unlink(t);
        cr_assert_eq(sdk_task_ops.try_push(rt, w, t), RAY_OK);
        frl->w[w].slot.inflight++;
        frl->room--;
        sent = true;
    }
    if (sent)
        sdk_task_ops.flush(rt, w);
}

static bool
rl_waiting(void *r)
{
    (void)r;
    return frl->head != NULL;
}

static void
rl_each_waiting(void *r, void (*fn)(void *arg, sched_task *t), void *arg)
{
    (void)r;
    for (sched_task *t = frl->head, *next; t; t = next) {
        next = t->next;
        fn(arg, t);
    }
}

static ray_err
rl_parse_demand(void *r, const char *spec, sched_demand *d, char *why,
                size_t whylen)
{
    (void)r, (void)spec, (void)d;
    snprintf(why, whylen, "no custom resources in the fake");
    return RAY_EINVAL;
}

static bool
rl_hold(void *r, uint64_t key, uint32_t ncpu, const sched_demand *d,
        sched_bundle *b)
{
    (void)r, (void)key, (void)ncpu, (void)d, (void)b;
    if (frl->refuse_hold)
        return false;
    frl->holds++;
    return true;
}

static void
rl_unhold(void *r, uint64_t key, uint32_t ncpu, const sched_demand *d,
          sched_bundle *b)
{
    (void)r, (void)key, (void)ncpu, (void)d, (void)b;
    frl->unholds++;
}

/* A host starts at once: its channel opens, its process "runs". */
static ray_err
rl_start_host(void *r, int w)
{
    (void)r;
    frl->host_starts++;
    char env[64];
    int fd;
    rt->tx->ops->open(rt->tx, w, env, sizeof(env), &fd);
    frl->w[w].slot.alive = 1;
    frl->w[w].slot.reserved_by = UINT64_MAX;
    frl->w[w].proc.pid = 1000 + w;
    ftx->ws[w] = (sdk_tx_worker){.ready = true, .pid = 1000 + w};
    return RAY_OK;
}

static void
rl_kill(void *r, int w)
{
    (void)r, (void)w;
    frl->kills++;
}

static sched_worker *
rl_workers(void *r)
{
    (void)r;
    return frl->w;
}

static struct store_client *
rl_store(void *r, const char **path, char *why, size_t whylen)
{
    (void)r, (void)path;
    snprintf(why, whylen, "no store in the fake");
    return NULL;
}

static struct store_client *
rl_store_client(void *r)
{
    (void)r;
    return NULL;
}

static void
rl_stats(void *r, sched_raylet_stats *out)
{
    (void)r;
    memset(out, 0, sizeof(*out));
    out->tasks_queued = (uint64_t)frl->nqueued;
}

static const sched_raylet_api fake_rl_api = {
    .lease = rl_lease,
    .requeue = rl_requeue,
    .unqueue = rl_unqueue,
    .returned = rl_returned,
    .release = rl_release,
    .dispatch = rl_dispatch,
    .waiting = rl_waiting,
    .each_waiting = rl_each_waiting,
    .parse_demand = rl_parse_demand,
    .hold = rl_hold,
    .unhold = rl_unhold,
    .start_host = rl_start_host,
    .kill = rl_kill,
    .workers = rl_workers,
    .store = rl_store,
    .store_client = rl_store_client,
    .stats = rl_stats,
};

/* ---- set-up ---- */

static void
setup(void)
{
    ftx = rt_calloc(1, sizeof(*ftx));
    frl = rt_calloc(1, sizeof(*frl));
    ftx->base.ops = &fake_tx_ops;
    ftx->base.bell = &ftx->bell;
    ray_config cfg = {.num_cpus = 2,
                      .worker_spin_us = 50,
                      .max_inflight = 4096,
                      .ring_bytes = 1u << 20,
                      .actor_processes = 4};
    cr_assert_eq(sdk_owner_create(&cfg, &rt), RAY_OK);
    cr_assert_leq(rt->nslots, MAX_SLOTS);
    sdk_owner_attach(rt, &ftx->base, &fake_rl_api, frl);
    /* The two task workers run. */
    for (int w = 0; w < rt->nworkers; w++) {
        frl->w[w].slot.alive = 1;
        ftx->ws[w] = (sdk_tx_worker){.ready = true, .pid = 100 + w};
    }
    frl->room = 1000;
    sdk_g = rt;
    sdk_be = &sdk_backend_embedded;
}

static void
teardown(void)
{
    sdk_g = NULL;
    sdk_be = &sdk_backend_none;
    sdk_owner_destroy(rt);
    for (int i = 0; i < ftx->nrecs; i++)
        rt_free(ftx->recs[i].bytes);
    rt_free(ftx->pending);
    rt_free(ftx);
    rt_free(frl);
}

TestSuite(owner, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ---- */

static const sdk_msg_task *
task_rec(int i)
{
    cr_assert_lt(i, ftx->nrecs);
    cr_assert_eq(ftx->recs[i].type, SDK_MSG_TASK);
    return (const sdk_msg_task *)ftx->recs[i].bytes;
}

static const sdk_wire_arg *
rec_args(int i)
{
    return (const sdk_wire_arg *)(task_rec(i) + 1);
}

/* Worker w "sends" the result of record i: a value, or an error. */
static void
answer_value(int i, int64_t v)
{
    answer *a = &ftx->answers[ftx->nanswers++];
    a->w = ftx->recs[i].w;
    a->d = (sdk_msg_done){.task_id = task_rec(i)->task_id,
                          .err = RAY_OK,
                          .type = RAY_T_I64,
                          .scalar = (uint64_t)v};
}

static void
answer_error(int i, ray_err e)
{
    answer *a = &ftx->answers[ftx->nanswers++];
    a->w = ftx->recs[i].w;
    a->d = (sdk_msg_done){
        .task_id = task_rec(i)->task_id, .err = e, .type = RAY_T_NONE};
}

/* Worker w's process dies (the raylet's event), as the raylet's loop
 * thread reports it, with a dispatch round after. */
static void
worker_dies(int w)
{
    sdk_lock(rt);
    frl->w[w].deaths++;
    sdk_worker_died(rt, w, 9 /* SIGKILL */, false, &rt->later_cbs);
    sdk_dispatch(rt, &rt->later_cbs);
    sdk_unlock(rt);
}

static int64_t
get_i64(ray_ref r, ray_err want)
{
    int64_t v = -1;
    ray_err e = ray_get_int64(r, &v, 5000);
    cr_assert_eq(e, want, "got %s (%s), wanted %s", ray_strerror(e),
                 ray_last_error_detail(), ray_strerror(want));
    return v;
}

/* ---- the task manager ---- */

Test(owner, a_call_is_leased_sent_and_resolved)
{
    ray_ref r = RAY_CALL(add, 2, 3);
    cr_assert_neq(r.id, 0);
    cr_assert_eq(frl->leases, 1);
    cr_assert_eq(ftx->nrecs, 1);
    cr_assert(ftx->recs[0].flushed, "a dispatched record is flushed");
    const sdk_msg_task *m = task_rec(0);
    cr_assert_eq(m->fn_hash, sdk_name_hash("add"));
    cr_assert_eq(m->nargs, 2);
    cr_assert_eq(rec_args(0)[0].scalar, 2);
    cr_assert_eq(rec_args(0)[1].scalar, 3);
    cr_assert_eq(m->obj, r.id, "the record names its result object");
    answer_value(0, 5);
    cr_assert_eq(get_i64(r, RAY_OK), 5);
    cr_assert_eq(frl->returns, 1, "the lease is returned");
    cr_assert_eq(rt->tasks_live, 0);
    ray_ref_release(r);
}

Test(owner, a_dependent_call_waits_for_its_argument)
{
    ray_ref a = RAY_CALL(add, 1, 2);
    ray_ref b = RAY_CALL(add, a, 10);
    cr_assert_eq(frl->leases, 1, "b is not leased before a is done");
    cr_assert_eq(ftx->nrecs, 1);
    answer_value(0, 3);
    cr_assert_eq(get_i64(a, RAY_OK), 3);
    cr_assert_eq(frl->leases, 2);
    cr_assert_eq(ftx->nrecs, 2);
    /* The ref travels as the value it resolved to. */
    cr_assert_eq(rec_args(1)[0].type, RAY_T_I64);
    cr_assert_eq(rec_args(1)[0].scalar, 3);
    answer_value(1, 13);
    cr_assert_eq(get_i64(b, RAY_OK), 13);
    ray_ref_release(a);
    ray_ref_release(b);
}

Test(owner, a_failed_argument_fails_the_dependent_call_unsent)
{
    ray_ref a = RAY_CALL(add, 1, 2);
    ray_ref b = RAY_CALL(add, a, 10);
    answer_error(0, RAY_ETASK_FAILED);
    get_i64(a, RAY_ETASK_FAILED);
    get_i64(b, RAY_ETASK_FAILED);
    cr_assert_eq(ftx->nrecs, 1, "b is never sent");
    cr_assert_eq(frl->leases, 1);
    ray_ref_release(a);
    ray_ref_release(b);
}

Test(owner, a_worker_death_retries_then_fails)
{
    ray_call_opts o = {.max_retries = 1};
    ray_ref r = RAY_CALL_OPTS(add, &o, 4, 5);
    cr_assert_eq(ftx->nrecs, 1);
    ftx->ws[0].current = task_rec(0)->task_id; /* it runs */
    worker_dies(0);
    cr_assert_eq(frl->requeues, 1, "the running task goes back first");
    cr_assert_eq(ftx->nrecs, 2, "and is sent again");
    cr_assert_eq(task_rec(1)->task_id, task_rec(0)->task_id);
    ftx->ws[0].current = task_rec(1)->task_id;
    worker_dies(0);
    ray_err e = ray_get_int64(r, &(int64_t){0}, 5000);
    cr_assert_eq(e, RAY_EWORKER_DIED);
    cr_assert(strstr(ray_last_error_detail(), "no retries left"), "%s",
              ray_last_error_detail());
    cr_assert_eq(ftx->nrecs, 2, "no third try");
    ray_ref_release(r);
}

Test(owner, a_death_requeues_unstarted_tasks_without_charging_them)
{
    ray_call_opts o = {.max_retries = -1}; /* never retried */
    ray_ref r1 = RAY_CALL_OPTS(add, &o, 1, 1);
    ray_ref r2 = RAY_CALL_OPTS(add, &o, 2, 2);
    cr_assert_eq(ftx->nrecs, 2);
    ftx->ws[0].current = task_rec(0)->task_id; /* r1 runs, r2 waits */
    worker_dies(0);
    get_i64(r1, RAY_EWORKER_DIED);
    cr_assert_eq(frl->requeues, 1);
    cr_assert_eq(ftx->nrecs, 3, "r2 is sent again");
    cr_assert_eq(task_rec(2)->task_id, task_rec(1)->task_id);
    answer_value(2, 4);
    cr_assert_eq(get_i64(r2, RAY_OK), 4);
    ray_ref_release(r1);
    ray_ref_release(r2);
}

Test(owner, retry_on_error_sends_again_after_giving_back_what_it_held)
{
    ray_call_opts o = {.max_retries = 2, .retry_on_error = true};
    ray_ref r = RAY_CALL_OPTS(add, &o, 1, 2);
    answer_error(0, RAY_ETASK_FAILED);
    sdk_lock(rt);
    sdk_progress(rt, &rt->later_cbs);
    sdk_unlock(rt);
    cr_assert_eq(frl->releases, 1);
    cr_assert_eq(ftx->nrecs, 2);
    answer_value(1, 3);
    cr_assert_eq(get_i64(r, RAY_OK), 3);
    ray_ref_release(r);
}

Test(owner, cancel_of_a_queued_call_takes_it_off_the_queue)
{
    frl->room = 0; /* no worker free: it stays queued */
    ray_ref r = RAY_CALL(add, 1, 2);
    cr_assert_eq(frl->nqueued, 1);
    cr_assert_eq(ray_cancel(r, false), RAY_OK);
    cr_assert_eq(frl->unqueues, 1);
    cr_assert_eq(frl->nqueued, 0);
    get_i64(r, RAY_ECANCELLED);
    cr_assert_eq(ftx->nrecs, 0, "never sent");
    ray_ref_release(r);
}

Test(owner, cancel_of_a_sent_call_revokes_it_when_not_started)
{
    ray_ref r = RAY_CALL(add, 1, 2);
    cr_assert_eq(ftx->nrecs, 1);
    cr_assert_eq(ray_cancel(r, false), RAY_OK);
    cr_assert(ftx->recs[0].revoked);
    cr_assert_eq(frl->returns, 1, "the lease comes back");
    get_i64(r, RAY_ECANCELLED);
    ray_ref_release(r);
}

Test(owner, force_cancel_of_a_running_call_kills_its_worker)
{
    ray_ref r = RAY_CALL(add, 1, 2);
    ftx->ws[0].current = task_rec(0)->task_id;
    cr_assert_eq(ray_cancel(r, true), RAY_OK);
    cr_assert_eq(frl->kills, 1);
    ray_ref_release(r);
}

/* ---- the actor submitter ---- */

static uint32_t
rec_kind(int i)
{
    return task_rec(i)->flags & SDK_TF_KIND;
}

Test(owner, actor_calls_follow_the_constructor_in_order)
{
    ray_actor h;
    cr_assert_eq(RAY_ACTOR_CREATE(counter, &h, NULL, 10), RAY_OK);
    cr_assert_eq(frl->holds, 1);
    cr_assert_geq(frl->host_starts, 1); /* and maybe a spare */
    ray_ref c[3];
    for (int i = 0; i < 3; i++)
        c[i] = RAY_ACTOR_CALL(counter_add, h, i + 1);
    /* The constructor, then the calls in order, all to the host. */
    cr_assert_eq(ftx->nrecs, 4);
    int host = ftx->recs[0].w;
    cr_assert_geq(host, rt->ntask, "an actor host slot");
    cr_assert_eq(rec_kind(0), SDK_TF_NEW);
    cr_assert_eq(rec_args(0)[0].scalar, 10);
    for (int i = 1; i < 4; i++) {
        cr_assert_eq(ftx->recs[i].w, host);
        cr_assert_eq(rec_kind(i), SDK_TF_CALL);
        cr_assert_eq(rec_args(i)[0].scalar, (uint64_t)i);
        cr_assert_eq(SDK_TF_SLOT(task_rec(i)->flags),
                     SDK_TF_SLOT(task_rec(0)->flags));
    }
    answer_value(0, 0); /* the constructor's record */
    for (int i = 1; i < 4; i++)
        answer_value(i, 10 + i * (i + 1) / 2);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(get_i64(c[i], RAY_OK), 10 + (i + 1) * (i + 2) / 2);
    int state = -1, restarts = -1;
    cr_assert_eq(ray_actor_state(h, &state, &restarts), RAY_OK);
    cr_assert_eq(state, RAY_ACTOR_ALIVE);
    for (int i = 0; i < 3; i++)
        ray_ref_release(c[i]);
    ray_actor_release(h);
}

Test(owner, an_actor_that_cannot_be_placed_waits_without_a_host)
{
    frl->refuse_hold = true;
    ray_actor h;
    cr_assert_eq(RAY_ACTOR_CREATE(counter, &h, NULL, 1), RAY_OK);
    cr_assert_eq(frl->host_starts, 0);
    cr_assert_eq(ftx->nrecs, 0);
    int state = -1;
    cr_assert_eq(ray_actor_state(h, &state, NULL), RAY_OK);
    cr_assert_eq(state, RAY_ACTOR_DEPENDENCIES_UNREADY, "not placed");
    ray_actor_release(h);
}

Test(owner, a_host_death_restarts_the_actor_and_fails_its_call)
{
    ray_actor_opts ao = {.max_restarts = 1};
    ray_actor h;
    cr_assert_eq(RAY_ACTOR_CREATE(counter, &h, &ao, 5), RAY_OK);
    answer_value(0, 0);
    ray_ref c = RAY_ACTOR_CALL(counter_add, h, 1);
    cr_assert_eq(ftx->nrecs, 2);
    int host = ftx->recs[0].w;
    ftx->ws[host].current = task_rec(1)->task_id; /* the call runs */
    worker_dies(host);
    get_i64(c, RAY_EACTOR_DIED); /* max_task_retries 0: not re-sent */
    cr_assert_eq(frl->unholds, 0, "a restart keeps its placement");
    int last = ftx->nrecs - 1;
    cr_assert_eq(rec_kind(last), SDK_TF_NEW);
    cr_assert(task_rec(last)->flags & SDK_TF_RESTART);
    cr_assert_eq(rec_args(last)[0].scalar, 5, "the same constructor args");
    int state = -1, restarts = -1;
    cr_assert_eq(ray_actor_state(h, &state, &restarts), RAY_OK);
    cr_assert_eq(state, RAY_ACTOR_RESTARTING);
    answer_value(last, 0);
    ray_ref d = RAY_ACTOR_CALL(counter_add, h, 2);
    cr_assert_eq(ray_actor_state(h, &state, &restarts), RAY_OK);
    cr_assert_eq(state, RAY_ACTOR_ALIVE);
    cr_assert_eq(restarts, 1);
    answer_value(ftx->nrecs - 1, 7);
    cr_assert_eq(get_i64(d, RAY_OK), 7);
    ray_ref_release(c);
    ray_ref_release(d);
    ray_actor_release(h);
}

Test(owner, with_task_retries_a_host_death_sends_the_call_again)
{
    ray_actor_opts ao = {.max_restarts = 1, .max_task_retries = 1};
    ray_actor h;
    cr_assert_eq(RAY_ACTOR_CREATE(counter, &h, &ao, 5), RAY_OK);
    answer_value(0, 0);
    ray_ref c = RAY_ACTOR_CALL(counter_add, h, 1);
    int host = ftx->recs[0].w;
    ftx->ws[host].current = task_rec(1)->task_id;
    worker_dies(host);
    /* The constructor again, then the same call after it. */
    int n = ftx->nrecs;
    cr_assert_eq(rec_kind(n - 2), SDK_TF_NEW);
    cr_assert_eq(rec_kind(n - 1), SDK_TF_CALL);
    cr_assert_eq(task_rec(n - 1)->task_id, task_rec(1)->task_id);
    answer_value(n - 2, 0);
    answer_value(n - 1, 6);
    cr_assert_eq(get_i64(c, RAY_OK), 6);
    ray_ref_release(c);
    ray_actor_release(h);
}

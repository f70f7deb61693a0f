/* SPDX-License-Identifier: Apache-2.0
 *
 * placement.c: placement groups of the embedded runtime (ray.h).
 *
 * A group is a row of bundles. Each bundle reserves, on this node, its
 * CPUs as whole task workers (sched_queue_reserve: only its tasks run
 * there) and its resources out of the node's set (CPU included, so an
 * actor's "CPU:n" comes from the bundle too) into its pool, a
 * sched_bundle that its tasks and actors point at. A group is reserved
 * all at once or not at all: a pending one tries again on every raylet
 * tick and every ray_pg_wait slice, and the first try that finds room
 * for every bundle takes it.
 *
 * Lifetime. The table holds a group from create to remove; every task
 * and actor in it holds it too (their sched_bundle lives inside it), so
 * removal frees it only once the last of them is gone. Tasks that
 * became ready while the group was pending wait on its `parked` list
 * and are leased when it is created. Everything here runs under rt->mu.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/text.h"
#include "sdk/actor_int.h"
#include "sdk/sdk_int.h"
#include "sdk/state.h"

typedef struct sdk_pg_bundle {
    sched_bundle sb;     /* the queue's view: key and pool */
    struct sdk_pg *pg;   /* its group */
    double cpus;         /* as asked */
    uint32_t ncpu;       /* workers reserved: ceil(cpus) */
    sched_demand demand; /* taken from the node: CPU and the rest */
    char spec[96];       /* "CPU:1,GPU:1" for messages */
} sdk_pg_bundle;

struct sdk_pg {
    uint64_t id;
    struct sdk_pg *next; /* in the table */
    char name[64];
    int32_t strategy;
    int state;         /* enum ray_pg_state */
    uint32_t refs;     /* the table's, while not removed, and each task
                          and actor in it */
    uint32_t next_any; /* RAY_PG_ANY_BUNDLE's turn */
    sdk_task *parked;  /* ready while pending, linked by next */
    uint32_t n;
    sdk_pg_bundle b[];
};

/* The scheduler's key of bundle i (never a task id nor an actor's hold
 * key, which has bit 62 alone). */
static uint64_t
bundle_key(const sdk_pg *pg, uint32_t i)
{
    return (3ull << 62) | (pg->id << 8) | i;
}

static sdk_pg *
find(sdk_rt *rt, uint64_t id)
{
    for (sdk_pg *pg = rt->pgs; pg; pg = pg->next)
        if (pg->id == id)
            return pg;
    return NULL;
}

/* Why group `id` cannot be used: ids are never reused, so one this
 * runtime gave out and no longer has was removed. */
static const char *
gone(const sdk_rt *rt, uint64_t id)
{
    return id && id <= rt->pg_next_id ? "was removed" : "is unknown";
}

static void
unlink_pg(sdk_rt *rt, sdk_pg *pg)
{
    for (sdk_pg **pp = &rt->pgs; *pp; pp = &(*pp)->next)
        if (*pp == pg) {
            *pp = pg->next;
            return;
        }
}

/* ---- reservation ---- */

static void
unreserve_all(sdk_rt *rt, sdk_pg *pg)
{
    for (uint32_t i = 0; i < pg->n; i++)
        rt->rl_api->unreserve(rt->rl, pg->b[i].sb.key, &pg->b[i].demand);
}

/* Reserve every bundle or none: true when the group is created. */
static bool
try_reserve(sdk_rt *rt, sdk_pg *pg, sdk_cb **cbs)
{
    for (uint32_t i = 0; i < pg->n; i++) {
        sdk_pg_bundle *b = &pg->b[i];
        if (!rt->rl_api->reserve(rt->rl, b->sb.key, b->ncpu, &b->demand)) {
            while (i--) /* roll back what was taken */
                rt->rl_api->unreserve(rt->rl, pg->b[i].sb.key,
                                      &pg->b[i].demand);
            return false;
        }
    }
    for (uint32_t i = 0; i < pg->n; i++)
        sched_res_pool(&pg->b[i].sb.pool, &pg->b[i].demand);
    pg->state = RAY_PG_CREATED;
    rt->pgs_pending--;
    /* Its parked tasks (newest first) go to the queue in the order they
     * were ready. */
    sdk_task *oldest = NULL;
    while (pg->parked) {
        sdk_task *t = pg->parked;
        pg->parked = t->next;
        t->next = oldest;
        oldest = t;
    }
    while (oldest) {
        sdk_task *t = oldest;
        oldest = t->next;
        t->next = NULL;
        sdk_task_ready(rt, t);
    }
    sdk_actors_place(rt, cbs);
    sdk_dispatch(rt, cbs);
    pthread_cond_broadcast(&rt->pg_cv);
    return true;
}

void
sdk_pgs_retry(sdk_rt *rt, sdk_cb **cbs)
{
    for (sdk_pg *pg = rt->pgs; pg && rt->pgs_pending; pg = pg->next)
        if (pg->state == RAY_PG_PENDING && !try_reserve(rt, pg, cbs))
            return; /* in creation order: the older ones first */
}

/* ---- lifetime ---- */

static void
unref(sdk_rt *rt, sdk_pg *pg)
{
    if (--pg->refs == 0) {
        unlink_pg(rt, pg);
        rt_free(pg);
    }
}

sdk_pg *
sdk_pg_of(sched_bundle *sb)
{
    return ((sdk_pg_bundle *)(void *)sb)->pg;
}

void
sdk_pg_release(sdk_rt *rt, sched_bundle *sb)
{
    if (sb)
        unref(rt, sdk_pg_of(sb));
}

bool
sdk_pg_park(sdk_rt *rt, sdk_task *t)
{
    sdk_pg *pg = sdk_pg_of(t->st.bundle);
    if (pg->state == RAY_PG_CREATED)
        return false;
    if (pg->state == RAY_PG_REMOVED) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "task '%s': its placement group %llu was removed", t->name,
                 (unsigned long long)pg->id);
        sdk_task_fail(rt, t, RAY_ECANCELLED, msg,
                      rt->q_cbs ? rt->q_cbs : &rt->later_cbs);
        return true;
    }
    t->next = pg->parked;
    pg->parked = t;
    return true;
}

bool
sdk_pg_pending(sched_bundle *sb)
{
    return sdk_pg_of(sb)->state != RAY_PG_CREATED;
}

/* ---- a task's or an actor's bundle ---- */

/* Does demand `d` (num_cpus `cpus`) fit bundle b? */
static bool
fits(const sdk_pg_bundle *b, double cpus, const sched_demand *d)
{
    if (cpus > (double)b->ncpu + 1e-9)
        return false;
    for (uint32_t k = 0; d && k < d->n; k++) {
        int64_t have = 0;
        for (uint32_t j = 0; j < b->demand.n; j++)
            if (b->demand.idx[j] == d->idx[k])
                have = b->demand.milli[j];
        if (have < d->milli[k])
            return false;
    }
    return true;
}

int
sdk_pg_pick(uint32_t n, uint32_t *next_any, int32_t index,
            bool (*fits_k)(const void *ctx, uint32_t k), const void *ctx)
{
    if (index == RAY_PG_ANY_BUNDLE) {
        for (uint32_t j = 0; j < n; j++) {
            uint32_t k = (*next_any + j) % n;
            if (fits_k(ctx, k)) {
                *next_any = k + 1;
                return (int)k;
            }
        }
        return -2;
    }
    if (index < 0 || (uint32_t)index >= n)
        return -1;
    return fits_k(ctx, (uint32_t)index) ? index : -2;
}

ray_err
sdk_pg_pick_fail(int why, const char *what, uint64_t id, uint32_t n,
                 int32_t index, double cpus, const char *want)
{
    if (why == -1)
        return sdk_fail(RAY_EINVAL,
                        "%s: placement group %llu has %u bundles, not "
                        "bundle %d",
                        what, (unsigned long long)id, n, (int)index);
    return sdk_fail(RAY_EINVAL,
                    "%s: needs %g CPUs%s%s, more than %s of placement group "
                    "%llu reserves (infeasible)",
                    what, cpus, want && *want ? " and " : "", want ? want : "",
                    index == RAY_PG_ANY_BUNDLE ? "any bundle" : "the bundle",
                    (unsigned long long)id);
}

typedef struct fit_ctx {
    const sdk_pg *pg;
    double cpus;
    const sched_demand *d;
} fit_ctx;

static bool
fits_k(const void *ctx, uint32_t k)
{
    const fit_ctx *f = ctx;
    return fits(&f->pg->b[k], f->cpus, f->d);
}

ray_err
sdk_pg_bundle_for(sdk_rt *rt, const char *what, ray_pg h, int32_t index,
                  double cpus, const sched_demand *d, const char *want,
                  sched_bundle **out)
{
    *out = NULL;
    if (!h.id)
        return RAY_OK;
    sdk_pg *pg = find(rt, h.id);
    if (!pg || pg->state == RAY_PG_REMOVED)
        return sdk_fail(RAY_EINVAL, "%s: placement group %llu %s", what,
                        (unsigned long long)h.id, gone(rt, h.id));
    fit_ctx f = {pg, cpus, d};
    int k = sdk_pg_pick(pg->n, &pg->next_any, index, fits_k, &f);
    if (k < 0)
        return sdk_pg_pick_fail(k, what, h.id, pg->n, index, cpus, want);
    pg->refs++;
    *out = &pg->b[k].sb;
    return RAY_OK;
}

/* ---- the public calls (the embedded backend's) ---- */

/* A bundle's demand against this node: CPU and its resources. */
static ray_err
bundle_demand(sdk_rt *rt, uint32_t i, const ray_bundle *in, sdk_pg_bundle *b)
{
    if (!(in->num_cpus >= 0) || in->num_cpus > 1e6) /* NaN too */
        return sdk_fail(RAY_EINVAL,
                        "ray_pg_create: bundle %u: num_cpus %g is not a "
                        "CPU count",
                        i, in->num_cpus);
    const char *res = in->resources ? in->resources : "";
    if (in->num_cpus == 0 && !*res)
        return sdk_fail(RAY_EINVAL,
                        "ray_pg_create: bundle %u reserves nothing (give "
                        "it num_cpus or resources)",
                        i);
    b->cpus = in->num_cpus;
    b->ncpu = (uint32_t)ceil(in->num_cpus);
    int n = in->num_cpus > 0
                ? snprintf(b->spec, sizeof(b->spec), "CPU:%g", in->num_cpus)
                : 0;
    if (*res)
        n += snprintf(b->spec + n, sizeof(b->spec) - (size_t)n, "%s%s",
                      n ? "," : "", res);
    if (n >= (int)sizeof(b->spec))
        return sdk_fail(RAY_EINVAL,
                        "ray_pg_create: bundle %u: resources '%s' too long", i,
                        res);
    char why[160];
    ray_err e =
        rt->rl_api->parse_demand(rt->rl, b->spec, &b->demand, why, sizeof(why));
    if (e == RAY_ENOTFOUND)
        return sdk_fail(RAY_EINVAL,
                        "ray_pg_create: bundle %u {%s} can never fit: %s "
                        "(the only node, this one, has %d CPUs%s%s)",
                        i, b->spec, why, rt->nworkers,
                        rt->cfg.resources && *rt->cfg.resources ? " and " : "",
                        rt->cfg.resources ? rt->cfg.resources : "");
    if (e != RAY_OK)
        return sdk_fail(RAY_EINVAL, "ray_pg_create: bundle %u: %s", i, why);
    return RAY_OK;
}

/* Can the bundles ever fit this one node together? */
static ray_err
fits_node(sdk_rt *rt, const sdk_pg *pg)
{
    if (pg->strategy == RAY_PG_STRICT_SPREAD && pg->n > 1)
        return sdk_fail(RAY_EINVAL,
                        "ray_pg_create: STRICT_SPREAD of %u bundles needs %u "
                        "nodes; this runtime is one node (%d CPUs): it can "
                        "never be created",
                        pg->n, pg->n, rt->nworkers);
    uint32_t workers = 0;
    for (uint32_t i = 0; i < pg->n; i++)
        workers += pg->b[i].ncpu;
    if (workers > (uint32_t)rt->nworkers)
        return sdk_fail(RAY_EINVAL,
                        "ray_pg_create: %u bundles reserve %u CPUs (whole "
                        "workers) in all; the only node, this one, has %d: "
                        "it can never be created",
                        pg->n, workers, rt->nworkers);
    /* Custom resources, summed per resource against the node's totals. */
    sched_resources *node = sched_raylet_resources(rt->raylet);
    for (uint32_t r = 0; node && r < node->n; r++) {
        int64_t sum = 0;
        for (uint32_t i = 0; i < pg->n; i++)
            for (uint32_t k = 0; k < pg->b[i].demand.n; k++)
                if (pg->b[i].demand.idx[k] == r)
                    sum += pg->b[i].demand.milli[k];
        if (sum > node->total[r])
            return sdk_fail(RAY_EINVAL,
                            "ray_pg_create: its %u bundles reserve %.3f %s "
                            "in all; the only node, this one, has %.3f: it "
                            "can never be created",
                            pg->n, sum / 1000.0, node->name[r],
                            node->total[r] / 1000.0);
    }
    return RAY_OK;
}

/* A group, reserved when it is alone in waiting (older pending groups
 * go first); with `now`, reserved at once or not made (RAY_EAGAIN). */
static ray_err
create(const ray_bundle *bundles, uint32_t n, int32_t strategy,
       const char *name, bool now, ray_pg *out)
{
    sdk_rt *rt = sdk_g;
    sdk_pg *pg = rt_calloc(1, sizeof(*pg) + n * sizeof(pg->b[0]));
    if (!pg)
        return sdk_fail(RAY_ENOMEM, "ray_pg_create: out of memory");
    pg->n = n;
    pg->strategy = strategy;
    snprintf(pg->name, sizeof(pg->name), "%s", name ? name : "");
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    ray_err e = RAY_OK;
    for (uint32_t i = 0; i < n && e == RAY_OK; i++)
        e = bundle_demand(rt, i, &bundles[i], &pg->b[i]);
    if (e == RAY_OK)
        e = fits_node(rt, pg);
    if (e != RAY_OK) {
        pthread_mutex_unlock(&rt->mu);
        rt_free(pg);
        return e;
    }
    pg->id = ++rt->pg_next_id;
    for (uint32_t i = 0; i < n; i++) {
        pg->b[i].pg = pg;
        pg->b[i].sb.key = pg->b[i].ncpu ? bundle_key(pg, i) : 0;
    }
    pg->refs = 1;
    pg->state = RAY_PG_PENDING;
    rt->pgs_pending++;
    sdk_pg **pp = &rt->pgs; /* creation order: older ones reserve first */
    while (*pp)
        pp = &(*pp)->next;
    *pp = pg;
    if (rt->pgs_pending == 1 || now)
        try_reserve(rt, pg, &cbs);
    if (now && pg->state != RAY_PG_CREATED) {
        rt->pgs_pending--;
        unlink_pg(rt, pg);
        pthread_mutex_unlock(&rt->mu);
        rt_free(pg);
        return sdk_fail(RAY_EAGAIN,
                        "its %u bundles do not fit what this node has free "
                        "now",
                        n);
    }
    out->id = pg->id;
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return RAY_OK;
}

ray_err
sdk_drv_pg_create(const ray_bundle *bundles, uint32_t n, int32_t strategy,
                  const char *name, ray_pg *out)
{
    return create(bundles, n, strategy, name, false, out);
}

ray_err
sdk_pg_reserve_now(const ray_bundle *bundles, uint32_t n, ray_pg *out)
{
    return create(bundles, n, RAY_PG_STRICT_PACK, NULL, true, out);
}

ray_err
sdk_drv_pg_wait(ray_pg h, int64_t timeout_ms)
{
    sdk_rt *rt = sdk_g;
    int64_t deadline =
        timeout_ms < 0 ? INT64_MAX : rt_clock_now_ns() + timeout_ms * 1000000;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    ray_err e = RAY_OK;
    for (;;) {
        sdk_pg *pg = find(rt, h.id);
        if (!pg || pg->state == RAY_PG_REMOVED) {
            e = sdk_fail(RAY_EINVAL, "ray_pg_wait: placement group %llu %s",
                         (unsigned long long)h.id, gone(rt, h.id));
            break;
        }
        if (pg->state == RAY_PG_PENDING)
            sdk_pgs_retry(rt, &cbs);
        if (pg->state == RAY_PG_CREATED)
            break;
        int64_t now = rt_clock_now_ns();
        if (now >= deadline) {
            e = sdk_fail(RAY_ETIMEDOUT,
                         "ray_pg_wait: placement group %llu is still "
                         "pending: its bundles do not fit what is free now",
                         (unsigned long long)h.id);
            break;
        }
        /* Woken when a group is created; tries again each 50 ms, as
         * resources come back (the raylet's tick tries too). */
        int64_t until = now + 50000000 < deadline ? now + 50000000 : deadline;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (until - now);
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&rt->pg_cv, &rt->mu, &ts);
    }
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return e;
}

ray_err
sdk_drv_pg_state(ray_pg h, int *state)
{
    sdk_rt *rt = sdk_g;
    pthread_mutex_lock(&rt->mu);
    sdk_pg *pg = find(rt, h.id);
    if (pg)
        *state = pg->state;
    pthread_mutex_unlock(&rt->mu);
    return pg ? RAY_OK
              : sdk_fail(RAY_EINVAL, "ray_pg_state: placement group %llu %s",
                         (unsigned long long)h.id, gone(rt, h.id));
}

typedef struct drop_ctx {
    sdk_rt *rt;
    sdk_pg *pg;
    sdk_cb **cbs;
} drop_ctx;

static bool
in_pg(const sdk_task *t, const sdk_pg *pg)
{
    return t->st.bundle && sdk_pg_of(t->st.bundle) == pg;
}

static const char *
removed_msg(const sdk_task *t, char *msg, size_t n)
{
    snprintf(msg, n, "task '%s': its placement group was removed", t->name);
    return msg;
}

/* A queued task of the removed group never runs. */
static void
drop_queued(void *arg, sched_task *st)
{
    drop_ctx *c = arg;
    sdk_task *t = sdk_task_of(st);
    char msg[300];
    if (in_pg(t, c->pg)) {
        sdk_ready_remove(c->rt, t);
        sdk_task_fail(c->rt, t, RAY_ECANCELLED, removed_msg(t, msg, 300),
                      c->cbs);
    }
}

ray_err
sdk_drv_pg_remove(ray_pg h)
{
    sdk_rt *rt = sdk_g;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    sdk_pg *pg = find(rt, h.id);
    if (!pg || pg->state == RAY_PG_REMOVED) {
        pthread_mutex_unlock(&rt->mu);
        return sdk_fail(RAY_EINVAL, "ray_pg_remove: placement group %llu %s",
                        (unsigned long long)h.id, gone(rt, h.id));
    }
    bool created = pg->state == RAY_PG_CREATED;
    if (!created)
        rt->pgs_pending--;
    pg->state = RAY_PG_REMOVED;
    pg->refs++; /* kept through the drops below */
    char msg[300];
    while (pg->parked) { /* ready while it was pending: never run */
        sdk_task *t = pg->parked;
        pg->parked = t->next;
        t->next = NULL;
        sdk_task_fail(rt, t, RAY_ECANCELLED, removed_msg(t, msg, 300), &cbs);
    }
    drop_ctx dc = {rt, pg, &cbs};
    rt->rl_api->each_waiting(rt->rl, drop_queued, &dc);
    /* Handed to a worker and not started: taken back, never run. The
     * running ones finish (their pool stays valid: they hold the group). */
    for (int w = 0; w < rt->ntask; w++)
        for (sdk_task *t = rt->workers[w].head, *next; t; t = next) {
            next = t->next;
            if (in_pg(t, pg) && sdk_task_revoke(rt, t)) {
                rt->rl_api->returned(rt->rl, w, &t->st);
                sdk_task_fail(rt, t, RAY_ECANCELLED, removed_msg(t, msg, 300),
                              &cbs);
            }
        }
    sdk_actors_kill_in_pg(rt, pg, "its placement group was removed", &cbs);
    if (created)
        unreserve_all(rt, pg);
    unref(rt, pg);           /* the table's */
    unref(rt, pg);           /* the one taken above */
    sdk_pgs_retry(rt, &cbs); /* what it held may fit others now */
    sdk_dispatch(rt, &cbs);
    pthread_cond_broadcast(&rt->pg_cv);
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    return RAY_OK;
}

static const char *const state_names[] = {"PENDING", "CREATED", "REMOVED"};
static const char *const strategy_names[] = {"PACK", "SPREAD", "STRICT_PACK",
                                             "STRICT_SPREAD"};

const char *
sdk_pg_state_name(int state)
{
    return state >= 0 && state <= RAY_PG_REMOVED ? state_names[state] : "?";
}

const char *
sdk_pg_strategy_name(int strategy)
{
    return strategy >= 0 && strategy <= RAY_PG_STRICT_SPREAD
               ? strategy_names[strategy]
               : "?";
}

size_t
sdk_pg_rows(rt_text *out, size_t max, const char *node_id)
{
    sdk_rt *rt = sdk_g;
    size_t n = 0;
    if (!rt)
        return 0;
    pthread_mutex_lock(&rt->mu);
    for (const sdk_pg *pg = rt->pgs; pg; pg = pg->next) {
        if (pg->state == RAY_PG_REMOVED || n++ >= max)
            continue;
        rt_text_put(out, "%llu\t%s\t%s\t%s\t", (unsigned long long)pg->id,
                    pg->name[0] ? pg->name : "-",
                    sdk_pg_strategy_name(pg->strategy),
                    sdk_pg_state_name(pg->state));
        for (uint32_t i = 0; i < pg->n; i++)
            rt_text_put(out, "{%s}", pg->b[i].spec);
        rt_text_put(out, "\t%s\n", node_id);
    }
    pthread_mutex_unlock(&rt->mu);
    return n;
}

void
sdk_pgs_fini(sdk_rt *rt)
{
    for (sdk_pg *pg = rt->pgs; pg; pg = pg->next)
        pg->refs = UINT32_MAX; /* all freed below */
    for (sdk_pg *pg = rt->pgs; pg; pg = pg->next)
        while (pg->parked) {
            sdk_task *t = pg->parked;
            pg->parked = t->next;
            sdk_task_free(rt, t);
        }
    while (rt->pgs) {
        sdk_pg *pg = rt->pgs;
        rt->pgs = pg->next;
        rt_free(pg);
    }
    rt->pgs_pending = 0;
}

/* ---- the public entry points ---- */

ray_err
ray_pg_create(const ray_bundle *bundles, uint32_t n, int32_t strategy,
              const char *name, ray_pg *out)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_pg_create: NULL out");
    out->id = 0;
    if (!bundles || n == 0 || n > RAY_PG_MAX_BUNDLES)
        return sdk_fail(RAY_EINVAL,
                        "ray_pg_create: %u bundles (1 to %d, not NULL)", n,
                        RAY_PG_MAX_BUNDLES);
    if (strategy < RAY_PG_PACK || strategy > RAY_PG_STRICT_SPREAD)
        return sdk_fail(RAY_EINVAL, "ray_pg_create: unknown strategy %d",
                        (int)strategy);
    return sdk_be->pg_create(bundles, n, strategy, name, out);
}

ray_err
ray_pg_wait(ray_pg pg, int64_t timeout_ms)
{
    return sdk_be->pg_wait(pg, timeout_ms);
}

ray_err
ray_pg_state(ray_pg pg, int *state)
{
    if (!state)
        return sdk_fail(RAY_EINVAL, "ray_pg_state: NULL state");
    return sdk_be->pg_state(pg, state);
}

ray_err
ray_pg_remove(ray_pg pg)
{
    return sdk_be->pg_remove(pg);
}

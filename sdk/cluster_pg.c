/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_pg.c: placement groups of a driver in a cluster (the "cluster"
 * backend's ray_pg_*). The driver owns its groups, as it owns its
 * objects: it plans where each bundle goes, reserves them, and routes
 * the calls and actors that name a group.
 *
 * Plan. Over the nodes this driver's calls may use (its own and every
 * alive node of the cluster with its agent), by the strategy, against
 * each node's totals less what this driver's other groups hold there:
 * STRICT_PACK one node for all; PACK that, else each bundle on the first
 * node with room; STRICT_SPREAD a node of its own for each bundle;
 * SPREAD a node not yet used by the group while there is one. The nodes
 * are tried from a turn that moves, so a plan that failed is not the
 * next one. A group no plan fits even on empty nodes fails at once.
 *
 * Reserve, then commit. The bundles planned on one node are reserved
 * there at once as one group of that node's runtime (its agent's
 * CLUSTER_PG_RESERVE, or sdk_pg_reserve_now here), all or nothing: the
 * answer is its id there, or RAY_EAGAIN when they do not fit what is
 * free now. Every node is asked at once; when all said yes the group is
 * created (its `ready` object settles and the calls waiting for it go);
 * if one said no, or died before it answered, the others are rolled back
 * (CLUSTER_PG_REMOVE) and the group stays pending, planned again 100 ms
 * later. One thread (the planner) reserves, one group at a time, so the
 * holdings the plans count are always current. A created group whose
 * node dies is pending again: the bundles that were there are planned
 * and reserved anew (the strategy counting the others, which stay), and
 * its calls wait until they are.
 *
 * Routing. A call or actor in a created group goes to its bundle's node
 * with that node's group id and bundle index; a call in a pending group
 * waits for `ready` beside its arguments (cluster_defer.c), and so does
 * an actor's creation (cl_actor_make_waiting), unless it is named or
 * detached (refused: not yet). Remove tells every node.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "sdk/cluster_int.h"
#include "sdk/sdk_int.h"

#define PG_RES_LEN 96         /* a bundle's resources, as given */
#define PG_RETRY_NS 100000000 /* a pending group is planned again */
#define PG_ANSWER_MS 30000    /* a node's answer to a reservation */

#define PG_UNPLACED (-3) /* cl_bundle.node: to plan */

typedef struct cl_bundle {
    double cpus;
    char res[PG_RES_LEN];
    int node;         /* planned or reserved: -1 here, else a node index;
                         PG_UNPLACED: to plan (new, or its node died) */
    bool fresh;       /* planned in the plan being reserved now */
    uint64_t sub;     /* its node's group (reserved) */
    uint32_t sub_idx; /* its index there */
} cl_bundle;

typedef struct cl_pg {
    struct cl_pg *next;
    uint64_t id;
    char name[64];
    int32_t strategy;
    int state;        /* enum ray_pg_state */
    bool busy;        /* the planner reserves it now */
    int64_t retry_at; /* pending: planned again from then on */
    uint32_t next_any;
    ray_ref ready; /* settled once created, failed when removed */
    uint32_t n;
    cl_bundle b[];
} cl_pg;

/* A node as plans see it. */
typedef struct cand {
    int node; /* -1 here */
    const char *addr;
    int ncpu, used_cpu;
    sched_resources tot;
    int64_t used[SCHED_RES_MAX];
} cand;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cl_pg *head;
    uint64_t next_id;
    uint64_t turn;
    bool started, stop;
    pthread_t th;
} P = {PTHREAD_MUTEX_INITIALIZER,
       PTHREAD_COND_INITIALIZER,
       NULL,
       0,
       0,
       false,
       false,
       0};

static cl_pg *
find(uint64_t id)
{
    for (cl_pg *pg = P.head; pg; pg = pg->next)
        if (pg->id == id)
            return pg;
    return NULL;
}

static const char *
gone(uint64_t id)
{
    return id && id <= P.next_id ? "was removed" : "is unknown";
}

static void
unlink_pg(cl_pg *pg)
{
    for (cl_pg **pp = &P.head; *pp; pp = &(*pp)->next)
        if (*pp == pg) {
            *pp = pg->next;
            return;
        }
}

/* ---- plans ---- */

static uint32_t
workers(double cpus)
{
    return (uint32_t)ceil(cpus);
}

/* Does bundle b fit candidate c now (its holdings counted)? */
static bool
fits(const cand *c, const cl_bundle *b)
{
    if (c->used_cpu + (int)workers(b->cpus) > c->ncpu)
        return false;
    sched_demand d;
    if (sched_res_parse_demand(&c->tot, b->res, &d, NULL, 0) != RAY_OK)
        return false;
    for (uint32_t k = 0; k < d.n; k++)
        if (c->used[d.idx[k]] + d.milli[k] > c->tot.total[d.idx[k]])
            return false;
    return true;
}

static void
take(cand *c, const cl_bundle *b)
{
    c->used_cpu += (int)workers(b->cpus);
    sched_demand d;
    if (sched_res_parse_demand(&c->tot, b->res, &d, NULL, 0) == RAY_OK)
        for (uint32_t k = 0; k < d.n; k++)
            c->used[d.idx[k]] += d.milli[k];
}

/* The nodes calls may use: here, then each alive node with this job's
 * agent. *n of them in out[MAX_NODES + 1]. */
static void
candidates(cl_driver *cl, cand *out, int *n)
{
    sdk_rt *rt = sdk_g;
    *n = 0;
    cand *c = &out[(*n)++];
    memset(c, 0, sizeof(*c));
    c->node = -1;
    c->addr = cl->local_ip[0] ? cl->local_ip : "this node";
    c->ncpu = cl->local_cpus;
    pthread_mutex_lock(&rt->mu);
    sched_resources *here =
        rt->raylet ? sched_raylet_resources(rt->raylet) : NULL;
    if (here)
        c->tot = *here;
    pthread_mutex_unlock(&rt->mu);
    for (int i = 0; i < cl->n; i++) {
        cl_node *nd = &cl->nodes[i];
        if (nd->kind != CL_JOB || !atomic_load(&nd->alive))
            continue;
        c = &out[(*n)++];
        memset(c, 0, sizeof(*c));
        c->node = i;
        c->addr = nd->addr;
        c->ncpu = nd->ncpu;
        c->tot = nd->res;
    }
}

/* Count what this driver's created groups hold (P.mu held; only the
 * planner reserves, so no other group is half made). */
static void
count_holdings(cand *cs, int nc)
{
    for (const cl_pg *pg = P.head; pg; pg = pg->next) {
        if (pg->state != RAY_PG_CREATED)
            continue;
        for (uint32_t k = 0; k < pg->n; k++)
            for (int j = 0; j < nc; j++)
                if (cs[j].node == pg->b[k].node)
                    take(&cs[j], &pg->b[k]);
    }
}

/* Plan pg's unplaced bundles over cs[0, nc) (changed: the plan's
 * holdings added), from candidate `turn` on: their nodes in b[].node,
 * marked fresh; false (and none placed) when they do not fit. Bundles
 * already placed (their node alive) stay, and the strategy counts them:
 * STRICT_PACK joins them, the SPREADs avoid their nodes. */
static bool
plan(cl_pg *pg, cand *cs, int nc, uint64_t turn)
{
    int order[MAX_NODES + 1];
    bool used[MAX_NODES + 1] = {false};
    int packed = -2; /* STRICT_PACK: the node the placed ones are on */
    for (int j = 0; j < nc; j++)
        order[j] = (int)((turn + (uint64_t)j) % (uint64_t)nc);
    for (uint32_t k = 0; k < pg->n; k++) {
        pg->b[k].fresh = pg->b[k].node == PG_UNPLACED;
        for (int j = 0; j < nc && !pg->b[k].fresh; j++)
            if (cs[j].node == pg->b[k].node) {
                take(&cs[j], &pg->b[k]); /* it holds them there */
                used[j] = true;
                packed = j;
            }
    }
    if (pg->strategy == RAY_PG_STRICT_PACK || pg->strategy == RAY_PG_PACK) {
        for (int j = 0; j < nc; j++) {
            if (packed >= 0 && pg->strategy == RAY_PG_STRICT_PACK &&
                order[j] != packed)
                continue;
            cand c = cs[order[j]];
            uint32_t k = 0;
            while (k < pg->n && (!pg->b[k].fresh || fits(&c, &pg->b[k]))) {
                if (pg->b[k].fresh)
                    take(&c, &pg->b[k]);
                k++;
            }
            if (k == pg->n) {
                cs[order[j]] = c;
                for (k = 0; k < pg->n; k++)
                    if (pg->b[k].fresh)
                        pg->b[k].node = c.node;
                return true;
            }
        }
        if (pg->strategy == RAY_PG_STRICT_PACK)
            return false;
    }
    int picked[RAY_PG_MAX_BUNDLES];
    for (uint32_t k = 0; k < pg->n; k++) {
        picked[k] = -1;
        if (!pg->b[k].fresh)
            continue;
        int pick = -1;
        for (int pass = 0; pass < 2 && pick < 0; pass++) {
            /* SPREAD and STRICT_SPREAD: a node the group has not used
             * first; STRICT_SPREAD never another; PACK: in turn. */
            if (pass == 1 && pg->strategy == RAY_PG_STRICT_SPREAD)
                break;
            for (int j = 0; j < nc && pick < 0; j++) {
                int x = order[j];
                bool fresh_only = pass == 0 && pg->strategy != RAY_PG_PACK;
                if ((!fresh_only || !used[x]) && fits(&cs[x], &pg->b[k]))
                    pick = x;
            }
        }
        if (pick < 0)
            return false;
        take(&cs[pick], &pg->b[k]);
        used[pick] = true;
        picked[k] = pick;
    }
    for (uint32_t k = 0; k < pg->n; k++)
        if (picked[k] >= 0)
            pg->b[k].node = cs[picked[k]].node;
    return true;
}

/* Why pg can never fit: its bundles and the nodes, in `out`. */
static void
never_fits(const cl_pg *pg, const cand *cs, int nc, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "%s of %u bundles {",
                                sdk_pg_strategy_name(pg->strategy), pg->n);
    for (uint32_t k = 0; k < pg->n && o < len; k++)
        o += (size_t)snprintf(out + o, len - o, "%s%g CPU%s%s", k ? "; " : "",
                              pg->b[k].cpus, pg->b[k].res[0] ? ", " : "",
                              pg->b[k].res);
    if (o < len)
        o += (size_t)snprintf(out + o, len - o,
                              "} fits no plan over the %d "
                              "nodes:",
                              nc);
    for (int j = 0; j < nc && o < len; j++) {
        o += (size_t)snprintf(out + o, len - o, " %s (%d CPUs", cs[j].addr,
                              cs[j].ncpu);
        for (uint32_t r = 0; r < cs[j].tot.n && o < len; r++)
            if (strcmp(cs[j].tot.name[r], "CPU"))
                o += (size_t)snprintf(out + o, len - o, ", %s:%g",
                                      cs[j].tot.name[r],
                                      cs[j].tot.total[r] / 1000.0);
        if (o < len)
            o += (size_t)snprintf(out + o, len - o, ")%s",
                                  j + 1 < nc ? "," : "");
    }
}

/* ---- reservation (the planner thread) ---- */

/* Ask node `node` (-1: here) to reserve pg's bundles planned there now:
 * here, the answer at once (*sub, or the error); elsewhere, the result
 * object *ask the answer will settle. */
static ray_err
ask(cl_driver *cl, cl_pg *pg, int node, uint64_t *sub, ray_ref *ask)
{
    double cpus[RAY_PG_MAX_BUNDLES];
    char *res[RAY_PG_MAX_BUNDLES];
    ray_bundle here[RAY_PG_MAX_BUNDLES];
    uint32_t m = 0;
    for (uint32_t k = 0; k < pg->n; k++)
        if (pg->b[k].fresh && pg->b[k].node == node) {
            pg->b[k].sub_idx = m;
            cpus[m] = pg->b[k].cpus;
            res[m] = pg->b[k].res;
            here[m] = (ray_bundle){pg->b[k].cpus, pg->b[k].res};
            m++;
        }
    if (node < 0) {
        ray_pg made;
        ray_err err = sdk_pg_reserve_now(here, m, &made);
        *sub = made.id;
        return err;
    }
    uint64_t id;
    ray_err err = cl_result_new(&id);
    if (err != RAY_OK)
        return sdk_fail(err, "out of memory");
    *ask = sdk_ref(id);
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    t.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_PG_RESERVE;
    t.id = id;
    t.function = "";
    t.n_bundle_cpus = m;
    t.bundle_cpus = cpus;
    t.n_bundle_resources = m;
    t.bundle_resources = res;
    fl_entry e = {.id = id, .retries = 0}; /* its node only */
    e.len = (uint32_t)protobuf_c_message_get_packed_size(&t.base);
    e.task = rt_malloc(e.len ? e.len : 1);
    if (e.task)
        protobuf_c_message_pack(&t.base, e.task);
    if (!e.task || !cl_send_to(cl, node, &e)) {
        rt_free(e.task);
        cl_fail(id, RAY_EWORKER_DIED, "the node could not be asked");
    }
    return RAY_OK;
}

/* Remove pg's group on `node` (-1 here), made there as `sub`. */
static void
drop_sub(cl_driver *cl, int node, uint64_t sub)
{
    if (node < 0) {
        sdk_drv_pg_remove((ray_pg){sub});
        return;
    }
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    t.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_PG_REMOVE;
    t.pg = sub;
    t.function = "";
    (void)cl_send_control(cl, node, &t);
}

/* Reserve pg as planned (b[].node): true when every node did; else
 * what was reserved is rolled back. No lock held (pg->busy). */
static bool
reserve(cl_driver *cl, cl_pg *pg)
{
    int nodes[RAY_PG_MAX_BUNDLES];
    uint64_t subs[RAY_PG_MAX_BUNDLES];
    ray_ref asks[RAY_PG_MAX_BUNDLES];
    ray_err errs[RAY_PG_MAX_BUNDLES];
    int nn = 0;
    for (uint32_t k = 0; k < pg->n; k++) {
        if (!pg->b[k].fresh)
            continue;
        int j = 0;
        while (j < nn && nodes[j] != pg->b[k].node)
            j++;
        if (j < nn)
            continue;
        nodes[nn] = pg->b[k].node;
        subs[nn] = 0;
        asks[nn] = RAY_REF_NULL;
        errs[nn] = ask(cl, pg, nodes[nn], &subs[nn], &asks[nn]);
        nn++;
    }
    bool ok = true;
    for (int j = 0; j < nn; j++) {
        if (asks[j].id) {
            ray_view v;
            errs[j] = ray_get(asks[j], &v, PG_ANSWER_MS);
            if (errs[j] == RAY_OK) {
                if (v.len == sizeof(uint64_t))
                    memcpy(&subs[j], v.data, sizeof(uint64_t));
                else
                    errs[j] = RAY_EPROTO;
                ray_release(&v);
            }
            ray_ref_release(asks[j]);
        }
        ok &= errs[j] == RAY_OK;
    }
    for (int j = 0; j < nn; j++) {
        if (!ok && errs[j] == RAY_OK)
            drop_sub(cl, nodes[j], subs[j]); /* roll back */
        for (uint32_t k = 0; ok && k < pg->n; k++)
            if (pg->b[k].fresh && pg->b[k].node == nodes[j])
                pg->b[k].sub = subs[j];
    }
    for (uint32_t k = 0; !ok && k < pg->n; k++)
        if (pg->b[k].fresh)
            pg->b[k].node = PG_UNPLACED;
    return ok;
}

/* Settle the `ready` object of a group created now. */
static void
settle_ready(ray_ref ready)
{
    sdk_rt *rt = sdk_g;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    cl_settle(rt, ready.id, RAY_OK, NULL, RAY_T_NONE, NULL, 0, &cbs);
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    sdk_wake_driver(rt);
}

/* Release a group's subgroups on every node it holds bundles on. */
static void
drop_all(cl_driver *cl, const cl_pg *pg)
{
    for (uint32_t k = 0; k < pg->n; k++) {
        bool first = pg->b[k].node != PG_UNPLACED;
        for (uint32_t j = 0; j < k && first; j++)
            first =
                pg->b[j].node != pg->b[k].node || pg->b[j].sub != pg->b[k].sub;
        if (first)
            drop_sub(cl, pg->b[k].node, pg->b[k].sub);
    }
}

/* Created groups with bundles on nodes that died: those bundles are to
 * be planned again, and meanwhile the group is pending (its calls wait
 * for a new `ready`). P.mu held. */
static void
mark_lost(cl_driver *cl)
{
    for (cl_pg *pg = P.head; pg; pg = pg->next) {
        if (pg->state != RAY_PG_CREATED)
            continue;
        bool lost = false;
        for (uint32_t k = 0; k < pg->n; k++)
            lost |= pg->b[k].node >= 0 &&
                    !atomic_load(&cl->nodes[pg->b[k].node].alive);
        uint64_t id;
        if (!lost || cl_result_new(&id) != RAY_OK)
            continue; /* out of memory: seen again next time */
        for (uint32_t k = 0; k < pg->n; k++)
            if (pg->b[k].node >= 0 &&
                !atomic_load(&cl->nodes[pg->b[k].node].alive))
                pg->b[k].node = PG_UNPLACED;
        ray_ref_release(pg->ready); /* settled: nobody waits on it */
        pg->ready = sdk_ref(id);
        pg->state = RAY_PG_PENDING;
        pg->retry_at = 0;
    }
}

/* The oldest pending group due for a plan (P.mu held), or NULL. */
static cl_pg *
next_due(int64_t now, int64_t *wake)
{
    for (cl_pg *pg = P.head; pg; pg = pg->next)
        if (pg->state == RAY_PG_PENDING && !pg->busy) {
            if (pg->retry_at <= now)
                return pg;
            if (pg->retry_at < *wake)
                *wake = pg->retry_at;
        }
    return NULL;
}

static void *
planner_main(void *arg)
{
    cl_driver *cl = arg;
    cand cs[MAX_NODES + 1];
    pthread_mutex_lock(&P.mu);
    while (!P.stop) {
        int64_t now = rt_clock_now_ns(), wake = now + 1000000000;
        mark_lost(cl);
        cl_pg *pg = next_due(now, &wake);
        if (!pg) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = (int64_t)ts.tv_nsec + (wake - now);
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&P.cv, &P.mu, &ts);
            continue;
        }
        pg->busy = true; /* removal leaves it to this thread */
        pthread_mutex_unlock(&P.mu);
        int nc;
        candidates(cl, cs, &nc);
        pthread_mutex_lock(&P.mu);
        count_holdings(cs, nc);
        bool planned =
            pg->state == RAY_PG_PENDING && plan(pg, cs, nc, P.turn++);
        pthread_mutex_unlock(&P.mu);
        bool made = planned && reserve(cl, pg);
        pthread_mutex_lock(&P.mu);
        pg->busy = false;
        if (made && pg->state == RAY_PG_REMOVED) {
            pthread_mutex_unlock(&P.mu);
            drop_all(cl, pg); /* removed while it was reserved */
            pthread_mutex_lock(&P.mu);
            made = false;
        }
        if (pg->state == RAY_PG_REMOVED) {
            unlink_pg(pg);
            rt_free(pg);
            pthread_cond_broadcast(&P.cv);
            continue;
        }
        if (!made) {
            pg->retry_at = rt_clock_now_ns() + PG_RETRY_NS;
            continue;
        }
        pg->state = RAY_PG_CREATED;
        ray_ref ready = pg->ready;
        pthread_mutex_unlock(&P.mu);
        settle_ready(ready);
        pthread_mutex_lock(&P.mu);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

/* ---- the backend's calls ---- */

ray_err
cl_pg_create(const ray_bundle *bundles, uint32_t n, int32_t strategy,
             const char *name, ray_pg *out)
{
    cl_driver *cl = g_cl;
    cl_pg *pg = rt_calloc(1, sizeof(*pg) + n * sizeof(pg->b[0]));
    if (!pg)
        return sdk_fail(RAY_ENOMEM, "ray_pg_create: out of memory");
    pg->n = n;
    pg->strategy = strategy;
    snprintf(pg->name, sizeof(pg->name), "%s", name ? name : "");
    for (uint32_t k = 0; k < n; k++) {
        pg->b[k].node = PG_UNPLACED;
        const char *res = bundles[k].resources ? bundles[k].resources : "";
        ray_err e = RAY_OK;
        if (!(bundles[k].num_cpus >= 0) || bundles[k].num_cpus > 1e6)
            e = sdk_fail(RAY_EINVAL,
                         "ray_pg_create: bundle %u: num_cpus %g is not a "
                         "CPU count",
                         k, bundles[k].num_cpus);
        else if (bundles[k].num_cpus == 0 && !*res)
            e = sdk_fail(RAY_EINVAL,
                         "ray_pg_create: bundle %u reserves nothing (give it "
                         "num_cpus or resources)",
                         k);
        else if (strlen(res) >= PG_RES_LEN ||
                 cl_local_demand(res) == RAY_EINVAL)
            e = sdk_fail(RAY_EINVAL,
                         "ray_pg_create: bundle %u: malformed or too long "
                         "resources '%s'",
                         k, res);
        if (e != RAY_OK) {
            rt_free(pg);
            return e;
        }
        pg->b[k].cpus = bundles[k].num_cpus;
        snprintf(pg->b[k].res, sizeof(pg->b[k].res), "%s", res);
    }
    /* Could it ever fit, on empty nodes? */
    cand cs[MAX_NODES + 1];
    int nc;
    candidates(cl, cs, &nc);
    if (!plan(pg, cs, nc, 0)) {
        char why[1024];
        never_fits(pg, cs, nc, why, sizeof(why));
        rt_free(pg);
        return sdk_fail(RAY_EINVAL,
                        "ray_pg_create: it can never be created: %s", why);
    }
    for (uint32_t k = 0; k < n; k++)
        pg->b[k].node = PG_UNPLACED; /* that plan was a test */
    uint64_t rid;
    ray_err err = cl_result_new(&rid);
    if (err != RAY_OK) {
        rt_free(pg);
        return sdk_fail(err, "ray_pg_create: out of memory");
    }
    pg->ready = sdk_ref(rid);
    pg->state = RAY_PG_PENDING;
    pthread_mutex_lock(&P.mu);
    if (!P.started) {
        P.stop = false;
        P.started = pthread_create(&P.th, NULL, planner_main, cl) == 0;
    }
    if (!P.started) {
        pthread_mutex_unlock(&P.mu);
        ray_ref_release(pg->ready);
        rt_free(pg);
        return sdk_fail(RAY_ENOMEM, "ray_pg_create: no thread to plan it");
    }
    pg->id = ++P.next_id;
    cl_pg **pp = &P.head; /* creation order: older ones are planned first */
    while (*pp)
        pp = &(*pp)->next;
    *pp = pg;
    out->id = pg->id;
    pthread_cond_signal(&P.cv);
    pthread_mutex_unlock(&P.mu);
    return RAY_OK;
}

ray_err
cl_pg_wait(ray_pg h, int64_t timeout_ms)
{
    pthread_mutex_lock(&P.mu);
    cl_pg *pg = find(h.id);
    ray_ref ready = RAY_REF_NULL;
    bool removed = !pg || pg->state == RAY_PG_REMOVED;
    if (!removed && ray_ref_retain(pg->ready) == RAY_OK)
        ready = pg->ready;
    pthread_mutex_unlock(&P.mu);
    if (removed)
        return sdk_fail(RAY_EINVAL, "ray_pg_wait: placement group %llu %s",
                        (unsigned long long)h.id, gone(h.id));
    ray_view v;
    ray_err err = ray_get(ready, &v, timeout_ms < 0 ? RAY_FOREVER : timeout_ms);
    if (err == RAY_OK)
        ray_release(&v);
    ray_ref_release(ready);
    if (err == RAY_ETIMEDOUT)
        return sdk_fail(RAY_ETIMEDOUT,
                        "ray_pg_wait: placement group %llu is still pending: "
                        "its bundles do not fit what the nodes have free now",
                        (unsigned long long)h.id);
    if (err != RAY_OK)
        return sdk_fail(RAY_EINVAL,
                        "ray_pg_wait: placement group %llu was "
                        "removed",
                        (unsigned long long)h.id);
    return RAY_OK;
}

ray_err
cl_pg_state(ray_pg h, int *state)
{
    pthread_mutex_lock(&P.mu);
    cl_pg *pg = find(h.id);
    if (pg)
        *state = pg->state;
    pthread_mutex_unlock(&P.mu);
    return pg ? RAY_OK
              : sdk_fail(RAY_EINVAL, "ray_pg_state: placement group %llu %s",
                         (unsigned long long)h.id, gone(h.id));
}

ray_err
cl_pg_remove(ray_pg h)
{
    cl_driver *cl = g_cl;
    pthread_mutex_lock(&P.mu);
    cl_pg *pg = find(h.id);
    if (!pg || pg->state == RAY_PG_REMOVED) {
        pthread_mutex_unlock(&P.mu);
        return sdk_fail(RAY_EINVAL, "ray_pg_remove: placement group %llu %s",
                        (unsigned long long)h.id, gone(h.id));
    }
    bool created = pg->state == RAY_PG_CREATED;
    pg->state = RAY_PG_REMOVED;
    ray_ref ready = pg->ready;
    bool free_now = !pg->busy; /* else the planner frees it */
    if (free_now)
        unlink_pg(pg);
    pthread_mutex_unlock(&P.mu);
    if (created)
        drop_all(cl, pg);
    else
        cl_fail(ready.id, RAY_ECANCELLED, "its placement group was removed");
    ray_ref_release(ready);
    if (free_now)
        rt_free(pg);
    return RAY_OK;
}

/* ---- routing ---- */

/* Does a call of `cpus` CPUs and resources `want` fit bundle b? */
static bool
bundle_fits(const cl_bundle *b, double cpus, const char *want)
{
    if (cpus > (double)workers(b->cpus) + 1e-9)
        return false;
    if (!want || !*want)
        return true;
    sched_resources r;
    sched_demand d;
    sched_res_init(&r);
    return sched_res_add_spec(&r, b->res) == RAY_OK &&
           sched_res_parse_demand(&r, want, &d, NULL, 0) == RAY_OK;
}

typedef struct fit_ctx {
    const cl_pg *pg;
    double cpus;
    const char *want;
} fit_ctx;

static bool
fits_k(const void *ctx, uint32_t k)
{
    const fit_ctx *f = ctx;
    return bundle_fits(&f->pg->b[k], f->cpus, f->want);
}

ray_err
cl_pg_route(const char *what, ray_pg h, int32_t index, double cpus,
            const char *want, uint64_t *sub, int32_t *sub_idx, int *node,
            ray_ref *gate)
{
    cl_driver *cl = g_cl;
    pthread_mutex_lock(&P.mu);
    cl_pg *pg = find(h.id);
    if (!pg || pg->state == RAY_PG_REMOVED) {
        pthread_mutex_unlock(&P.mu);
        return sdk_fail(RAY_EINVAL, "%s: placement group %llu %s", what,
                        (unsigned long long)h.id, gone(h.id));
    }
    fit_ctx f = {pg, cpus, want};
    int k = sdk_pg_pick(pg->n, &pg->next_any, index, fits_k, &f);
    if (k < 0) {
        uint32_t n = pg->n;
        pthread_mutex_unlock(&P.mu);
        return sdk_pg_pick_fail(k, what, h.id, n, index, cpus, want);
    }
    cl_bundle *b = &pg->b[k];
    if (b->node >= 0 && !atomic_load(&cl->nodes[b->node].alive)) {
        mark_lost(cl); /* before the planner sees it: pending now */
        pthread_cond_signal(&P.cv);
    }
    if (pg->state == RAY_PG_PENDING) {
        ray_err e = ray_ref_retain(pg->ready);
        *gate = pg->ready;
        pthread_mutex_unlock(&P.mu);
        if (e != RAY_OK)
            return sdk_fail(e, "%s: placement group %llu: its state is lost",
                            what, (unsigned long long)h.id);
        return RAY_EAGAIN;
    }
    *node = b->node;
    *sub = b->sub;
    *sub_idx = (int32_t)b->sub_idx;
    pthread_mutex_unlock(&P.mu);
    return RAY_OK;
}

size_t
cl_pg_rows(cl_driver *cl, rt_text *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&P.mu);
    for (const cl_pg *pg = P.head; pg; pg = pg->next) {
        if (pg->state == RAY_PG_REMOVED || n++ >= max)
            continue;
        rt_text_put(out, "%llu\t%s\t%s\t%s\t", (unsigned long long)pg->id,
                    pg->name[0] ? pg->name : "-",
                    sdk_pg_strategy_name(pg->strategy),
                    sdk_pg_state_name(pg->state));
        for (uint32_t k = 0; k < pg->n; k++)
            rt_text_put(out, "{CPU:%g%s%s}", pg->b[k].cpus,
                        pg->b[k].res[0] ? "," : "", pg->b[k].res);
        for (uint32_t k = 0; k < pg->n; k++) {
            int i = pg->b[k].node;
            rt_text_put(out, "%s%s", k ? "," : "\t",
                        i == PG_UNPLACED ? "-"
                        : i < 0          ? (cl->self_id[0] ? cl->self_id : "-")
                                         : cl->nodes[i].full);
        }
        rt_text_put(out, "\n");
    }
    pthread_mutex_unlock(&P.mu);
    return n;
}

void
cl_pg_node_lost(void)
{
    pthread_mutex_lock(&P.mu);
    pthread_cond_signal(&P.cv); /* its bundles are placed again */
    pthread_mutex_unlock(&P.mu);
}

void
cl_pg_stop(void)
{
    pthread_mutex_lock(&P.mu);
    bool started = P.started;
    P.stop = true;
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    if (started)
        pthread_join(P.th, NULL);
    /* The groups go with the agents (they end with the connections) and
     * with this runtime. */
    pthread_mutex_lock(&P.mu);
    while (P.head) {
        cl_pg *pg = P.head;
        P.head = pg->next;
        pthread_mutex_unlock(&P.mu);
        if (pg->state != RAY_PG_REMOVED)
            ray_ref_release(pg->ready);
        rt_free(pg);
        pthread_mutex_lock(&P.mu);
    }
    P.started = P.stop = false;
    pthread_mutex_unlock(&P.mu);
}

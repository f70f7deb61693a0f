/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_actor.c: a driver's actors on other nodes.
 *
 * ray_actor_opts.node, or resources only another node has, place an
 * actor on that node: the driver sends the constructor (by name, with its
 * arguments by value) to the node's agent, which creates it in its own
 * runtime under the driver's key. A handle of such an actor is the key
 * (bits 32-55; the low 32 bits zero, where a local handle holds its slot
 * + 1), and the driver's table says on which node it lives now, so it can
 * move. Calls go in order on the node's one connection and their results
 * come back as a task's do. The driver counts the handles it gave out;
 * the agent's runtime keeps the actor alive while the driver holds one.
 *
 * A node that dies takes its actors' calls in flight with it
 * (RAY_EACTOR_DIED, naming the node); an actor with restarts left
 * (max_restarts) and not pinned to that node is created again on the
 * least loaded node that fits it, and later calls go there; otherwise it
 * is dead, and says why. An actor in one of this driver's placement
 * groups waits instead (CL_ACTOR_WAITING) until the group has placed its
 * bundle again, and is made there with the bundle's new group id
 * (cl_actor_restart_in_group). A moved actor's calls that were in flight go to
 * it again, in the order they were made, within its max_task_retries
 * (calls made meanwhile may run before them).
 *
 * Names are cluster-wide. A named or detached actor lives in an agent,
 * never in the driver's own process, so that other drivers reach it and a
 * detached one outlives its driver: in the job's agent on this machine's
 * raylet (CL_SELF) unless placed elsewhere. Its name goes to the head's
 * key-value store ("actor" namespace: "JOB RAYLET KEY DETACHED"), claimed
 * before it is made (a name taken elsewhere fails at once), deleted when
 * it dies here, and for a non-detached actor also when the driver's
 * connection to the head closes. Another driver that looks the name up
 * attaches to that agent through its raylet (CL_ATTACHED) and calls the
 * actor there under the owner's key, with its own counted handles; an
 * entry whose agent or actor is gone is stale and deleted by whoever
 * finds it so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "sdk/cluster_int.h"
#include "sdk/wire.h"

#define CL_ACTOR_KEY_MAX (1u << 24)

#define CL_ACTOR_WAITING (-3) /* cl_actor.node: made once its group is */
#define CL_ACTOR_HERE (-4)    /* made in this runtime after all (local) */

typedef struct cl_actor {
    int node;        /* where it lives now; -1: dead; or one of the above */
    ray_actor local; /* CL_ACTOR_HERE: its handle in this runtime */
    uint32_t rkey;   /* its key on that agent: this driver's, or (attached)
                        its owner's */
    bool attached;   /* another driver's actor, looked up by name */
    bool detached;
    int32_t handles; /* the driver's counted handles */
    uint8_t *spec;   /* its CLUSTER_ACTOR_CREATE record, for restarts */
    uint32_t spec_len;
    int32_t restarts_left; /* -1: no limit */
    int32_t restarts;      /* on other nodes so far */
    int32_t task_retries;  /* max_task_retries: sends of a call in flight */
    uint64_t pg;           /* in this driver's placement group, or 0 */
    int32_t pg_bundle;     /* its bundle index as asked */
    double cpus;           /* its num_cpus (a bundle must fit it) */
    bool pinned;           /* ray_actor_opts.node: only there */
    char *resources;       /* what a restart's node must have */
    char *name;            /* while alive, or NULL */
    char why[200];         /* why it is dead */
} cl_actor;

static bool
remote_actor(ray_actor h)
{
    return h.id && (h.id & 0xffffffffu) == 0;
}

static uint32_t
actor_key(ray_actor h)
{
    return (uint32_t)(h.id >> 32) & (CL_ACTOR_KEY_MAX - 1);
}

/* The actor's entry (act_mu held), or NULL for a key never given. */
static cl_actor *
entry(cl_driver *cl, ray_actor h)
{
    uint32_t k = actor_key(h);
    return k && k < cl->nact ? &cl->act[k] : NULL;
}

/* Where it lives now: a node index, -1 (dead: why in `why`), -2 (not a
 * handle of this driver); and its key there. */
static int
actor_node(cl_driver *cl, ray_actor h, char *why, size_t whylen, uint32_t *rkey)
{
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    int i = a ? a->node : -2;
    if (a && i < 0 && why)
        snprintf(why, whylen, "%s", a->why);
    if (rkey)
        *rkey = a ? a->rkey : 0;
    pthread_mutex_unlock(&cl->act_mu);
    return i;
}

/* The handle in this runtime of an actor whose group's bundle turned out
 * to be here (CL_ACTOR_HERE), else h itself. */
static ray_actor
here(cl_driver *cl, ray_actor h)
{
    if (!cl || !remote_actor(h))
        return h;
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    ray_actor l = a && a->node == CL_ACTOR_HERE ? a->local : h;
    pthread_mutex_unlock(&cl->act_mu);
    return l;
}

/* ---- names at the head ---- */

#define NAME_NS "actor"

/* `name` in the names this driver holds (value `val`), or out of them
 * (val NULL). Out of memory: a restarted head will not know the name. */
static void
names_set(cl_driver *cl, const char *name, const char *val)
{
    pthread_mutex_lock(&cl->gcs_mu);
    for (size_t i = 0; i < cl->nnames; i++) {
        if (!strcmp(cl->names[i], name)) {
            rt_free(cl->names[i]);
            cl->names[i] = cl->names[--cl->nnames];
            break;
        }
    }
    size_t nl = strlen(name) + 1, vl = val ? strlen(val) + 1 : 0;
    char *e = val ? rt_malloc(nl + vl) : NULL;
    char **room =
        e ? rt_array_room(cl->names, cl->nnames, &cl->cnames, sizeof(*room), 8)
          : NULL;
    if (room) {
        memcpy(e, name, nl);
        memcpy(e + nl, val, vl);
        cl->names = room;
        cl->names[cl->nnames++] = e;
    } else if (val) {
        rt_free(e);
        RT_WARN("cluster: out of memory: actor name '%s' will not be put "
                "again if the head restarts",
                name);
    }
    pthread_mutex_unlock(&cl->gcs_mu);
}

ray_err
cl_names_reput(cl_driver *cl, char *why, size_t whylen)
{
    for (size_t i = 0; i < cl->nnames;) {
        const char *name = cl->names[i];
        const char *val = name + strlen(name) + 1;
        bool added = false;
        char now[RT_HOST_MAX + 64];
        bool found;
        ray_err err = cl_kv_put(cl, true, NAME_NS, name, val, strlen(val),
                                false, true, &added, why, whylen);
        /* Still there with this driver's value: the head has not yet
         * seen the old connection go. Take it over to this one. */
        if (err == RAY_OK && !added)
            err = cl_kv_get(cl, true, NAME_NS, name, now, sizeof(now), &found,
                            why, whylen);
        if (err == RAY_OK && !added && !strcmp(now, val))
            err = cl_kv_put(cl, true, NAME_NS, name, val, strlen(val), true,
                            true, &added, why, whylen);
        if (err != RAY_OK)
            return err;
        if (added) {
            i++;
            continue;
        }
        RT_WARN("cluster: actor name '%s' was taken by another driver while "
                "the head was out of reach: this driver's actor keeps running "
                "without it",
                name);
        rt_free(cl->names[i]);
        cl->names[i] = cl->names[--cl->nnames];
    }
    return RAY_OK;
}

/* Claim (or with overwrite, move) `name` for the actor of key `rkey` on
 * node i, or with i -1 for one that waits for its placement group (node
 * PENDING_NODE; held for this driver only, detached or not, until it is
 * placed): RAY_OK, RAY_EEXISTS (taken), or the head's error. */
#define PENDING_NODE "-"
static ray_err
name_put(cl_driver *cl, const char *name, int i, uint32_t rkey, bool detached,
         bool overwrite, char *why, size_t whylen)
{
    char val[RT_HOST_MAX + 64];
    detached &= i >= 0;
    snprintf(val, sizeof(val), "%016llx %s %u %d", (unsigned long long)cl->job,
             i >= 0 ? cl->nodes[i].addr : PENDING_NODE, rkey, detached);
    bool added;
    ray_err err = cl_kv_put(cl, false, NAME_NS, name, val, strlen(val),
                            overwrite, !detached, /* !detached: gone with this
                                                     driver's connection */
                            &added, why, whylen);
    if (err == RAY_OK && !added)
        err = RAY_EEXISTS;
    if (err == RAY_OK) /* a detached name is kept by the head itself */
        names_set(cl, name, detached ? NULL : val);
    return err;
}

static void
name_del(cl_driver *cl, const char *name)
{
    names_set(cl, name, NULL);
    char why[200];
    if (cl_kv_del(cl, NAME_NS, name, why, sizeof(why)) != RAY_OK)
        RT_WARN("cluster: deleting actor name '%s' at the head: %s", name, why);
}

/* Where the head says `name` lives (and whether it is detached):
 * RAY_OK, RAY_ENOTFOUND, or an error reaching the head (the detail
 * says). */
static ray_err
name_get(cl_driver *cl, const char *name, uint64_t *job, char *addr,
         uint32_t *rkey, bool *detached)
{
    char why[300], val[RT_HOST_MAX + 64];
    bool found;
    ray_err err = cl_kv_get(cl, false, NAME_NS, name, val, sizeof(val), &found,
                            why, sizeof(why));
    if (err != RAY_OK)
        return sdk_fail(err, "ray_actor_lookup('%s'): the head: %s", name, why);
    unsigned long long j = 0;
    int d = 0;
    if (!found || sscanf(val, "%llx %63s %u %d", &j, addr, rkey, &d) != 4)
        return sdk_fail(RAY_ENOTFOUND, "no live actor named '%s'", name);
    *job = j;
    *detached = d != 0;
    return RAY_OK;
}

/* The actor's name is no longer its (act_mu held). */
static void
name_gone(cl_driver *cl, cl_actor *a)
{
    if (a->name && !a->attached)
        name_del(cl, a->name);
}

static void
forget(cl_actor *a, const char *why)
{
    a->node = -1;
    snprintf(a->why, sizeof(a->why), "%s", why);
    rt_free(a->spec);
    a->spec = NULL;
    rt_free(a->resources);
    a->resources = NULL;
    rt_free(a->name);
    a->name = NULL;
}

bool
cl_send_raw(cl_driver *cl, int i, const uint8_t *task, uint32_t len)
{
    cl_node *nd = &cl->nodes[i];
    pthread_mutex_lock(&nd->mu);
    bool ok = atomic_load(&nd->alive) && cl_node_append(nd, task, len);
    if (ok)
        pthread_cond_signal(&nd->cv);
    pthread_mutex_unlock(&nd->mu);
    return ok;
}

/* Tell node i's agent of one more handle of actor `rkey`. */
static void
retain_on(cl_driver *cl, int i, uint32_t rkey)
{
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    t.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RETAIN;
    t.actor = rkey;
    t.function = "";
    (void)cl_send_control(cl, i, &t);
}

/* A record with no arguments for the actor (release, retain, kill, and
 * the queries whose answer settles object `id`). */
static bool
actor_op(cl_driver *cl, ray_actor h, int kind, uint64_t id, int64_t timeout)
{
    uint32_t rkey = 0;
    int i = actor_node(cl, h, NULL, 0, &rkey);
    if (i < 0)
        return false;
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    t.kind = (Ray__Rpc__ClusterKind)kind;
    t.actor = rkey;
    t.id = id;
    t.function = "";
    t.timeout_ms = timeout;
    fl_entry e = {.id = id, .retries = -1};
    e.len = (uint32_t)protobuf_c_message_get_packed_size(&t.base);
    e.task = rt_malloc(e.len ? e.len : 1);
    if (!e.task)
        return false;
    protobuf_c_message_pack(&t.base, e.task);
    bool ok = id ? cl_send_to(cl, i, &e) : cl_send_raw(cl, i, e.task, e.len);
    if (!id || !ok)
        rt_free(e.task);
    return ok;
}

/* A query's answer: the 8 bytes of result object `id`. */
static ray_err
actor_ask(cl_driver *cl, ray_actor h, int kind, int64_t timeout_ms,
          uint64_t *bits)
{
    uint64_t id;
    char why[200] = "";
    ray_err err = cl_result_new(&id);
    if (err != RAY_OK)
        return sdk_fail(err, "out of memory");
    ray_ref ref = sdk_ref(id);
    if (!actor_op(cl, h, kind, id, timeout_ms)) {
        ray_ref_release(ref);
        actor_node(cl, h, why, sizeof(why), NULL);
        return sdk_fail(RAY_EACTOR_DIED, "the actor is dead: %s",
                        why[0] ? why : "its node is gone");
    }
    ray_view v;
    /* The agent answers a wait when it ends; allow for the way back. */
    err = ray_get(ref, &v, timeout_ms < 0 ? RAY_FOREVER : timeout_ms + 30000);
    if (err == RAY_OK) {
        *bits = 0;
        if (v.len)
            memcpy(bits, v.data, v.len < 8 ? v.len : 8);
        ray_release(&v);
    }
    ray_ref_release(ref);
    return err;
}

/* Where a new actor goes: -1 here, a node index, -2 a named node that is
 * not alive. */
static int
actor_place(cl_driver *cl, const ray_actor_opts *opts)
{
    if (!opts)
        return -1;
    if (opts->node && *opts->node) {
        int i = cl_named_node(cl, opts->node);
        if (i != -2 || !opts->node_soft)
            return i;
    }
    if (opts->strategy == RAY_STRATEGY_SPREAD) {
        ray_call_opts co = {.resources = opts->resources,
                            .num_cpus = opts->num_cpus};
        int i = cl_spread(cl, &co, cl_local_demand(opts->resources) == RAY_OK);
        return i == -2 ? -1 : i; /* none: the local runtime says why */
    }
    if (opts->resources && *opts->resources &&
        cl_local_demand(opts->resources) == RAY_ENOTFOUND) {
        ray_call_opts co = {.resources = opts->resources};
        int i = cl_choose(cl, &co, false, -1);
        return i == -2 ? -1 : i; /* none: the local runtime says why */
    }
    return -1;
}

/* The live actor named `name` (act_mu held), or 0. */
static uint32_t
by_name(cl_driver *cl, const char *name)
{
    for (uint32_t k = 1; k < cl->nact; k++)
        if (cl->act[k].name && !strcmp(cl->act[k].name, name))
            return k;
    return 0;
}

/* A new entry (act_mu held): its key, or 0. */
static uint32_t
new_entry(cl_driver *cl)
{
    if (!cl->nact)
        cl->nact = 1; /* key 0 is no actor */
    if (cl->nact >= cl->cact) {
        uint32_t cap = cl->cact ? 2 * cl->cact : 64;
        if (cap > CL_ACTOR_KEY_MAX)
            return 0;
        cl_actor *na = rt_realloc(cl->act, cap * sizeof(*na));
        if (!na)
            return 0;
        memset(na + cl->cact, 0, (cap - cl->cact) * sizeof(*na));
        cl->act = na;
        cl->cact = cap;
    }
    cl->act[cl->nact].node = -1; /* nowhere until it is filled in */
    return cl->nact++;
}

/* A new entry for another agent's actor `rkey` on connection i (its
 * owner restarts it, or not): its key, or 0 without memory. */
static uint32_t
attached_entry(cl_driver *cl, int i, uint32_t rkey, const char *name)
{
    pthread_mutex_lock(&cl->act_mu);
    uint32_t key = new_entry(cl);
    if (key) {
        cl_actor *a = &cl->act[key];
        memset(a, 0, sizeof(*a));
        a->node = i;
        a->rkey = rkey;
        a->attached = true;
        a->pinned = true;
        a->handles = 1;
        a->name = name ? rt_strdup(name) : NULL;
    }
    pthread_mutex_unlock(&cl->act_mu);
    return key;
}

/* This driver's detached actor `rkey` on the node at `addr`, all of whose
 * handles it had released (its entry forgotten; the agent keeps it): its
 * entry again, with one handle, or 0 when that node is not this driver's
 * or the key is not such an entry. */
static uint32_t
own_detached_entry(cl_driver *cl, const char *addr, uint32_t rkey,
                   const char *name)
{
    int i = -1;
    for (int k = 0; k < cl->n && i < 0; k++)
        if (cl->nodes[k].kind != CL_ATTACHED &&
            atomic_load(&cl->nodes[k].alive) &&
            !strcmp(cl->nodes[k].addr, addr))
            i = k;
    uint32_t key = 0;
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = i >= 0 && rkey && rkey < cl->nact ? &cl->act[rkey] : NULL;
    if (a && a->node == -1 && !a->spec && !a->handles) {
        memset(a, 0, sizeof(*a));
        a->node = i;
        a->rkey = rkey;
        a->detached = true;
        a->pinned = true; /* no record to make it elsewhere: its agent's */
        a->handles = 1;
        a->name = rt_strdup(name);
        key = rkey;
    }
    pthread_mutex_unlock(&cl->act_mu);
    return key;
}

/* Does the head count the raylet at `addr` ("ip:port") alive? */
static bool
node_alive(const char *addr)
{
    ray_node_info *v = NULL;
    size_t n = 0;
    bool alive = false;
    if (ray_nodes(&v, &n) != RAY_OK)
        return true; /* cannot tell: the attach will */
    for (size_t i = 0; i < n; i++)
        alive |= v[i].alive && !strcmp(v[i].address, addr);
    ray_free(v);
    return alive;
}

/* Another driver's actor named `name`, found at the head: a new counted
 * handle in *out. RAY_ENOTFOUND when none lives (a stale entry is
 * deleted). Blocks for a few round trips. */
static ray_err
remote_lookup(cl_driver *cl, const char *name, ray_actor *out)
{
    uint64_t job = 0;
    uint32_t rkey = 0;
    char addr[RT_HOST_MAX + 8] = "", why[400];
    bool detached = false;
    ray_err err = name_get(cl, name, &job, addr, &rkey, &detached);
    if (err != RAY_OK)
        return err;
    if (job != cl->job && !strcmp(addr, PENDING_NODE))
        return sdk_fail(RAY_ENOTFOUND,
                        "the actor named '%s' (another driver's) waits for "
                        "its placement group: it can be looked up once it "
                        "is placed",
                        name);
    bool alive = node_alive(addr);
    uint32_t key = job == cl->job && detached && alive
                       ? own_detached_entry(cl, addr, rkey, name)
                       : 0;
    if (!key && (job == cl->job || !alive)) {
        /* This driver's, no longer in its table; or on a node that is
         * gone (as after a head restart that kept the name). */
        name_del(cl, name);
        return sdk_fail(RAY_ENOTFOUND, "no live actor named '%s'", name);
    }
    if (!key) { /* another driver's: through its agent */
        int i = cl_attach(cl, addr, job, &err, why, sizeof(why));
        if (i < 0 && err == RAY_ENOTFOUND) {
            name_del(cl, name);
            return sdk_fail(
                RAY_ENOTFOUND,
                "no live actor named '%s' (its driver's agent on %s "
                "has ended)",
                name, addr);
        }
        if (i < 0)
            return sdk_fail(err, "ray_actor_lookup('%s'): its node %s: %s",
                            name, addr, why);
        key = attached_entry(cl, i, rkey, name);
        if (!key)
            return sdk_fail(RAY_ENOMEM, "ray_actor_lookup: no room for another "
                                        "actor handle");
    }
    *out = (ray_actor){(uint64_t)key << 32};
    actor_op(cl, *out, RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RETAIN, 0, 0);
    int st = RAY_ACTOR_DEAD;
    err = cl_actor_state(*out, &st, NULL);
    if (err == RAY_OK && st != RAY_ACTOR_DEAD)
        return RAY_OK;
    cl_actor_ref(*out, false);
    *out = RAY_ACTOR_NULL;
    if (err != RAY_OK)
        return err;
    name_del(cl, name);
    return sdk_fail(RAY_ENOTFOUND, "no live actor named '%s' (it died)", name);
}

/* Where an actor that other drivers may reach (named or detached) goes
 * when nothing places it: this machine's agent, else the least loaded
 * node that fits; -1 this process when there is neither (its name is
 * then this driver's only), -3 on an error (the detail says). */
static int
shared_place(cl_driver *cl, const ray_actor_opts *opts, ray_err *err)
{
    int j = cl_self_agent(cl, err);
    if (j != -2)
        return j;
    ray_call_opts co = {.resources = opts->resources,
                        .num_cpus = opts->num_cpus};
    j = cl_choose(cl, &co, false, -1);
    return j >= 0 ? j : -1;
}

/* Make actor `key` on node i: its CLUSTER_ACTOR_CREATE record (kept for
 * restarts), its entry (`handles` counted, 0: those of its waiting entry;
 * the agent told of those past the first), and the record sent. The
 * views vv are released. */
static ray_err
send_create(cl_driver *cl, uint32_t key, const ray_fn_desc *ctor,
            const ray_arg *av, uint32_t nargs, ray_view *vv, uint32_t nviews,
            const ray_actor_opts *opts, const char *name, bool detached, int i,
            int32_t handles, ray_actor *out)
{
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    t.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CREATE;
    t.function = (char *)ctor->name;
    t.actor = key;
    t.num_cpus = opts->num_cpus;
    t.resources = (char *)(opts->resources ? opts->resources : "");
    t.name = (char *)(name ? name : "");
    t.detached = opts->detached;
    t.own_process = opts->own_process;
    /* Restarts on its node are the agent's (a crashed process); moving
     * to another node is the driver's (below). */
    t.max_restarts = opts->max_restarts;
    t.max_task_retries = opts->max_task_retries;
    t.max_concurrency = opts->max_concurrency;
    t.pg = opts->pg.id;
    t.pg_bundle = opts->pg_bundle;
    uint32_t len = 0;
    uint8_t *spec = cl_pack_task(&t, av, nargs, NULL, &len);
    cl_views_release(vv, nviews);
    if (spec && len > CL_RECORD_MAX) {
        rt_free(spec);
        pthread_mutex_lock(&cl->act_mu);
        name_gone(cl, &cl->act[key]); /* a waiting one's */
        forget(&cl->act[key], "its constructor's arguments were too big");
        pthread_mutex_unlock(&cl->act_mu);
        return sdk_fail(RAY_ETOOBIG,
                        "ray_actor_create on node %s: the constructor's "
                        "arguments take %u bytes, more than a call to another "
                        "node carries (%u)",
                        cl->nodes[i].addr, len, CL_RECORD_MAX);
    }
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = &cl->act[key];
    if (!handles) { /* made once its group was: as many as it has now */
        handles = a->node == CL_ACTOR_WAITING ? a->handles : 0;
        rt_free(a->name); /* its name comes again as `name` */
        a->name = NULL;
        if (!handles) {
            pthread_mutex_unlock(&cl->act_mu);
            rt_free(spec);
            return sdk_fail(RAY_EACTOR_DIED, "ray_actor_create: killed or "
                                             "released before it was made");
        }
    }
    memset(a, 0, sizeof(*a));
    a->node = i;
    a->rkey = key;
    a->detached = detached;
    a->handles = handles;
    a->spec = spec;
    a->spec_len = len;
    a->restarts_left = opts->max_restarts;
    a->task_retries = opts->max_task_retries;
    a->pinned = opts->node && *opts->node && !opts->node_soft;
    a->resources = opts->resources ? rt_strdup(opts->resources) : NULL;
    a->name = name ? rt_strdup(name) : NULL;
    bool ok = spec && cl_send_raw(cl, i, spec, len);
    for (int32_t n = 1; ok && n < handles; n++)
        retain_on(cl, i, key);
    if (!ok) {
        name_gone(cl, a);
        forget(a, spec ? "its node left the cluster as it was made"
                       : "out of memory");
    }
    pthread_mutex_unlock(&cl->act_mu);
    if (!ok)
        return sdk_fail(spec ? RAY_EACTOR_DIED : RAY_ENOMEM,
                        "ray_actor_create: node %s: %s", cl->nodes[i].addr,
                        spec ? "it left the cluster" : "out of memory");
    *out = (ray_actor){(uint64_t)key << 32};
    return RAY_OK;
}

/* Actor `key` lives in bundle `bundle` of this driver's group `pg`: a
 * restart after its node died waits for the group's bundles to be placed
 * again (cl_actor_restart_in_group). */
static void
in_group(cl_driver *cl, uint32_t key, ray_pg pg, int32_t bundle, double cpus)
{
    pthread_mutex_lock(&cl->act_mu);
    cl->act[key].pg = pg.id;
    cl->act[key].pg_bundle = bundle;
    cl->act[key].cpus = cpus;
    pthread_mutex_unlock(&cl->act_mu);
}

/* Where waiting group actor h's bundle is now (cl_pg_route with its
 * group, bundle, CPUs and resources): RAY_OK with node *j and the
 * bundle's group there; RAY_EAGAIN with the group's `ready` in *gate
 * while it is placed again; RAY_ECANCELLED when h waits no more (killed
 * or released meanwhile). */
static ray_err
group_place(cl_driver *cl, ray_actor h, uint64_t *sub, int32_t *sub_idx, int *j,
            ray_ref *gate)
{
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    bool waiting = a && a->node == CL_ACTOR_WAITING && a->spec;
    ray_pg pg = {waiting ? a->pg : 0};
    int32_t bundle = waiting ? a->pg_bundle : 0;
    double cpus = waiting ? a->cpus : 0;
    char res[128] = "";
    if (waiting && a->resources)
        snprintf(res, sizeof(res), "%s", a->resources);
    pthread_mutex_unlock(&cl->act_mu);
    if (!waiting)
        return RAY_ECANCELLED;
    return cl_pg_route("ray_actor restart", pg, bundle, cpus,
                       res[0] ? res : NULL, sub, sub_idx, j, gate);
}

/* Defer group actor h's restart until its group is placed again. */
static void
restart_later(cl_driver *cl, ray_actor h)
{
    uint64_t sub;
    int32_t sub_idx;
    int j;
    ray_ref gate = RAY_REF_NULL;
    ray_err err = group_place(cl, h, &sub, &sub_idx, &j, &gate);
    if (err == RAY_EAGAIN)
        err = cl_defer_restart(cl, h, gate);
    else if (err == RAY_OK)
        err = cl_defer_restart(cl, h, RAY_REF_NULL); /* placed already */
    if (err != RAY_OK) {
        pthread_mutex_lock(&cl->act_mu);
        cl_actor *a = entry(cl, h);
        if (a && a->node == CL_ACTOR_WAITING)
            forget(a, ray_last_error_detail());
        pthread_mutex_unlock(&cl->act_mu);
    }
}

/* Group actor h's bundle was placed again on this node (its group `sub`
 * here, bundle sub_idx): make it in this runtime from its record (whose
 * arguments are values) and forward its handle there (CL_ACTOR_HERE).
 * why is left empty when it was made. */
static void
restart_here(cl_driver *cl, ray_actor h, uint64_t sub, int32_t sub_idx,
             char *why, size_t whylen)
{
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    Ray__Rpc__ClusterTask *t =
        a && a->node == CL_ACTOR_WAITING && a->spec
            ? ray__rpc__cluster_task__unpack(NULL, a->spec_len, a->spec)
            : NULL;
    pthread_mutex_unlock(&cl->act_mu);
    const ray_fn_desc *d =
        t ? sdk_registry_find(sdk_name_hash(t->function)) : NULL;
    ray_arg args[16];
    size_t n = t && t->n_args <= 16 ? t->n_args : 0;
    for (size_t k = 0; k < n; k++) {
        const Ray__Rpc__ClusterArg *x = t->args[k];
        memset(&args[k], 0, sizeof(args[k]));
        args[k].type = x->type;
        if (sdk_type_buffer(x->type)) {
            args[k].v.buf.ptr = x->data.data;
            args[k].v.buf.len = x->data.len;
        } else {
            args[k].v.u64 = x->bits;
        }
    }
    ray_actor local = RAY_ACTOR_NULL;
    if (!t || !d || t->n_args > 16) {
        snprintf(why, whylen, "its record cannot be made here again");
    } else {
        ray_actor_opts o = {
            .num_cpus = t->num_cpus,
            .resources = t->resources && *t->resources ? t->resources : NULL,
            .own_process = t->own_process,
            .max_restarts = t->max_restarts,
            .max_task_retries = t->max_task_retries,
            .max_concurrency = t->max_concurrency,
            .pg = {sub},
            .pg_bundle = sub_idx,
        };
        if (sdk_drv_actor_create(d, args, (uint32_t)n, &o, &local) != RAY_OK)
            snprintf(why, whylen, "made again on the driver's node: %s",
                     ray_last_error_detail());
    }
    if (t)
        ray__rpc__cluster_task__free_unpacked(t, NULL);
    if (why[0])
        return;
    int32_t handles = 0;
    pthread_mutex_lock(&cl->act_mu);
    a = entry(cl, h);
    if (a && a->node == CL_ACTOR_WAITING) {
        handles = a->handles;
        a->node = CL_ACTOR_HERE;
        a->local = local;
        a->restarts++;
        rt_free(a->spec); /* this runtime lists it now */
        a->spec = NULL;
        a->spec_len = 0;
    }
    pthread_mutex_unlock(&cl->act_mu);
    for (int32_t k = 1; k < handles; k++)
        sdk_drv_actor_ref(local, true);
    if (!handles) /* killed meanwhile */
        sdk_drv_actor_ref(local, false);
    else
        RT_WARN("cluster: actor %u restarted on this node, where its "
                "placement group's bundle was placed again",
                actor_key(h));
}

void
cl_actor_restart_in_group(ray_actor h)
{
    cl_driver *cl = g_cl;
    uint64_t sub = 0;
    int32_t sub_idx = 0;
    int j = -1;
    ray_ref gate = RAY_REF_NULL;
    char why[400] = "";
    ray_err err = group_place(cl, h, &sub, &sub_idx, &j, &gate);
    if (err == RAY_ECANCELLED)
        return;              /* killed or released meanwhile */
    if (err == RAY_EAGAIN) { /* another of its nodes died: wait again */
        if (cl_defer_restart(cl, h, gate) == RAY_OK)
            return;
        snprintf(why, sizeof(why), "%s", ray_last_error_detail());
    } else if (err != RAY_OK) {
        snprintf(why, sizeof(why), "its placement group went: %s",
                 ray_last_error_detail());
    } else if (j < 0) {
        restart_here(cl, h, sub, sub_idx, why, sizeof(why));
        if (!why[0])
            return;
    }
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    if (a && a->node == CL_ACTOR_WAITING && !why[0]) {
        /* Its record, now naming the bundle's new group there. */
        Ray__Rpc__ClusterTask *t =
            ray__rpc__cluster_task__unpack(NULL, a->spec_len, a->spec);
        uint8_t *spec = NULL;
        size_t len = 0;
        if (t) {
            t->pg = sub;
            t->pg_bundle = sub_idx;
            len = protobuf_c_message_get_packed_size(&t->base);
            spec = rt_malloc(len ? len : 1);
            if (spec)
                protobuf_c_message_pack(&t->base, spec);
            ray__rpc__cluster_task__free_unpacked(t, NULL);
        }
        if (spec && cl_send_raw(cl, j, spec, (uint32_t)len)) {
            for (int32_t n = 1; n < a->handles; n++)
                retain_on(cl, j, a->rkey);
            rt_free(a->spec);
            a->spec = spec;
            a->spec_len = (uint32_t)len;
            a->node = j;
            a->restarts++;
            if (a->restarts_left > 0)
                a->restarts_left--;
            RT_WARN("cluster: actor %u restarted on node %s (%s) in its "
                    "placement group's bundle, placed again there",
                    a->rkey, cl->nodes[j].id, cl->nodes[j].addr);
        } else {
            rt_free(spec);
            snprintf(why, sizeof(why), "%s",
                     spec ? "the node of its bundle left as it was restarted"
                          : "out of memory restarting it");
        }
    }
    if (a && a->node == CL_ACTOR_WAITING && why[0])
        forget(a, why);
    pthread_mutex_unlock(&cl->act_mu);
}

static ray_err
name_taken(const char *name)
{
    return sdk_fail(RAY_EEXISTS,
                    "ray_actor_create: the name '%s' belongs to a live actor",
                    name);
}

/* This driver's actor named `name` (act_mu not held), for a create of
 * that name: 0 if there is none; else its key, and *err RAY_OK with *out
 * a new handle to it (get_if_exists) or RAY_EEXISTS. */
static uint32_t
own_named(cl_driver *cl, const char *name, bool get_if_exists, ray_actor *out,
          ray_err *err)
{
    pthread_mutex_lock(&cl->act_mu);
    uint32_t k = by_name(cl, name);
    if (k && get_if_exists)
        cl->act[k].handles++;
    pthread_mutex_unlock(&cl->act_mu);
    if (k && get_if_exists) {
        *out = (ray_actor){(uint64_t)k << 32};
        actor_op(cl, *out, RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RETAIN, 0, 0);
        *err = RAY_OK;
    } else if (k) {
        *err = name_taken(name);
    }
    return k;
}

/* Claim `name` at the head for new actor `key` on node i (-1: waiting
 * for its placement group), a stale claim (its actor gone) taken over:
 * RAY_OK. With get_if_exists, a live actor of another driver by that name
 * is *other (RAY_OK too); else RAY_EEXISTS, or the head's error, with the
 * detail set. On failure, or with *other, entry `key` is forgotten. */
static ray_err
claim_name(cl_driver *cl, const char *name, int i, uint32_t key, bool detached,
           bool get_if_exists, ray_actor *other)
{
    char why[300] = "";
    *other = RAY_ACTOR_NULL;
    ray_err err = name_put(cl, name, i, key, detached, false, why, sizeof(why));
    for (int tries = 0; err == RAY_EEXISTS && tries < 2; tries++) {
        ray_err le = remote_lookup(cl, name, other);
        if (le == RAY_OK && get_if_exists)
            break;
        if (le == RAY_OK)
            cl_actor_ref(*other, false);
        *other = RAY_ACTOR_NULL;
        if (le != RAY_ENOTFOUND)
            break; /* a live one has it */
        err = name_put(cl, name, i, key, detached, false, why,
                       sizeof(why)); /* the stale entry went */
    }
    if (err == RAY_OK && !other->id)
        return RAY_OK;
    pthread_mutex_lock(&cl->act_mu);
    forget(&cl->act[key], "never made: the name was taken");
    pthread_mutex_unlock(&cl->act_mu);
    if (other->id)
        return RAY_OK;
    return err == RAY_EEXISTS
               ? sdk_fail(RAY_EEXISTS,
                          "ray_actor_create: the name '%s' belongs to a live "
                          "actor (of another driver)",
                          name)
               : sdk_fail(err,
                          "ray_actor_create: claiming the name '%s' at "
                          "the head: %s",
                          name, why);
}

/* An actor in a placement group still pending: a handle now, and its
 * creation waits in cluster_defer.c for the group (`gate`, taken) and its
 * ref arguments, with the calls made meanwhile queued behind it. */
static ray_err
wait_for_group(cl_driver *cl, const ray_fn_desc *ctor, const ray_arg *args,
               uint32_t nargs, const ray_actor_opts *opts, ray_ref gate,
               ray_actor *out)
{
    pthread_mutex_lock(&cl->act_mu);
    uint32_t key = new_entry(cl);
    if (key) {
        cl_actor *a = &cl->act[key];
        memset(a, 0, sizeof(*a));
        a->node = CL_ACTOR_WAITING;
        a->rkey = key;
        a->handles = 1;
    }
    pthread_mutex_unlock(&cl->act_mu);
    if (!key) {
        ray_ref_release(gate);
        return sdk_fail(RAY_ENOMEM,
                        "ray_actor_create: no room for another actor on "
                        "other nodes (%u at most)",
                        CL_ACTOR_KEY_MAX - 1);
    }
    ray_actor h = {(uint64_t)key << 32};
    const char *name = opts->name && *opts->name ? opts->name : NULL;
    if (name) { /* held at the head now: names are cluster-wide */
        ray_actor other;
        ray_err err =
            claim_name(cl, name, -1, key, false, opts->get_if_exists, &other);
        if (err != RAY_OK || other.id) {
            ray_ref_release(gate);
            if (other.id) /* get_if_exists: another driver's */
                *out = other;
            return err;
        }
        pthread_mutex_lock(&cl->act_mu);
        cl->act[key].name = rt_strdup(name);
        pthread_mutex_unlock(&cl->act_mu);
    }
    ray_err err = cl_defer_create(cl, h, ctor, args, nargs, opts, gate);
    if (err != RAY_OK) {
        pthread_mutex_lock(&cl->act_mu);
        name_gone(cl, &cl->act[key]);
        forget(&cl->act[key], "never made");
        pthread_mutex_unlock(&cl->act_mu);
        return err;
    }
    *out = h;
    return RAY_OK;
}

/* Waiting actor h (named `name`, or NULL) is made on node i: its name at
 * the head says so now. False when the name could not be moved (the
 * detail says why). */
static bool
name_move(cl_driver *cl, ray_actor h, const char *name, int i, bool detached)
{
    char why[300] = "";
    ray_err err = name ? name_put(cl, name, i, actor_key(h), detached, true,
                                  why, sizeof(why))
                       : RAY_OK;
    if (err != RAY_OK)
        sdk_fail(err, "its name '%s' at the head: %s", name, why);
    return err == RAY_OK;
}

void
cl_actor_make_waiting(ray_actor h, const ray_fn_desc *ctor, const ray_arg *args,
                      uint32_t nargs, const ray_actor_opts *opts)
{
    cl_driver *cl = g_cl;
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    bool waiting = a && a->node == CL_ACTOR_WAITING;
    pthread_mutex_unlock(&cl->act_mu);
    if (!waiting)
        return; /* killed or released before its group was ready */
    char what[160], why[400] = "";
    snprintf(what, sizeof(what), "ray_actor_create %s", ctor->cls);
    ray_actor_opts o = *opts;
    o.node = NULL;
    ray_ref gate = RAY_REF_NULL;
    int i = -1;
    ray_err err =
        cl_pg_route(what, opts->pg, opts->pg_bundle, opts->num_cpus,
                    opts->resources, &o.pg.id, &o.pg_bundle, &i, &gate);
    if (err == RAY_EAGAIN) { /* a node of it died since */
        ray_ref_release(gate);
        snprintf(why, sizeof(why),
                 "%s: its placement group lost a node as the actor was made",
                 what);
    } else if (err != RAY_OK) {
        snprintf(why, sizeof(why), "%s", ray_last_error_detail());
    } else if (i < 0) { /* its bundle is on this node: an actor here */
        ray_actor local;
        err = sdk_drv_actor_create(ctor, args, nargs, &o, &local);
        if (err == RAY_OK) {
            int32_t handles = 0;
            pthread_mutex_lock(&cl->act_mu);
            a = entry(cl, h);
            if (a && a->node == CL_ACTOR_WAITING) {
                a->node = CL_ACTOR_HERE;
                a->local = local;
                handles = a->handles;
                /* Its name is the local runtime's now (this driver's
                 * lookups find it there; others', not yet). */
                name_gone(cl, a);
                rt_free(a->name);
                a->name = NULL;
            }
            pthread_mutex_unlock(&cl->act_mu);
            for (int32_t n = 1; n < handles; n++)
                sdk_drv_actor_ref(local, true);
            if (!handles) /* killed meanwhile */
                sdk_drv_actor_ref(local, false);
            return;
        }
        snprintf(why, sizeof(why), "%s", ray_last_error_detail());
    } else {
        ray_arg av[16];
        ray_view vv[16];
        uint32_t nviews = 0;
        ray_actor made;
        if (nargs > 16 ||
            !cl_args_resolve(args, nargs, av, vv, &nviews, NULL, false)) {
            cl_views_release(vv, nviews);
            snprintf(why, sizeof(why),
                     "%s: an argument failed, or cannot go to node %s", what,
                     cl->nodes[i].addr);
        } else if (name_move(cl, h, o.name, i, o.detached) &&
                   send_create(cl, actor_key(h), ctor, av, nargs, vv, nviews,
                               &o, o.name, o.detached, i, 0, &made) == RAY_OK) {
            in_group(cl, actor_key(h), opts->pg, opts->pg_bundle,
                     opts->num_cpus);
            return;
        } else {
            snprintf(why, sizeof(why), "%s", ray_last_error_detail());
        }
    }
    pthread_mutex_lock(&cl->act_mu);
    a = entry(cl, h);
    if (a && a->node == CL_ACTOR_WAITING) {
        name_gone(cl, a);
        forget(a, why);
    }
    pthread_mutex_unlock(&cl->act_mu);
}

ray_err
cl_actor_create(const ray_fn_desc *ctor, const ray_arg *args, uint32_t nargs,
                const ray_actor_opts *opts, ray_actor *out)
{
    cl_driver *cl = g_cl;
    ray_actor_opts pgo; /* in a placement group: as its bundle says */
    ray_pg group = opts ? opts->pg : (ray_pg){0};
    int32_t bundle = opts ? opts->pg_bundle : 0;
    int i;
    if (opts && opts->pg.id) {
        char what[160];
        snprintf(what, sizeof(what), "ray_actor_create %s", ctor->cls);
        ray_ref gate = RAY_REF_NULL;
        pgo = *opts;
        pgo.node = NULL;
        ray_err r =
            cl_pg_route(what, opts->pg, opts->pg_bundle, opts->num_cpus,
                        opts->resources, &pgo.pg.id, &pgo.pg_bundle, &i, &gate);
        ray_err own;
        if (r == RAY_EAGAIN && opts->name && *opts->name &&
            own_named(cl, opts->name, opts->get_if_exists, out, &own)) {
            ray_ref_release(gate);
            return own;
        }
        if (r == RAY_EAGAIN)
            return wait_for_group(cl, ctor, args, nargs, opts, gate, out);
        if (r != RAY_OK)
            return r;
        opts = &pgo;
    } else {
        i = actor_place(cl, opts);
    }
    if (i == -2)
        return sdk_fail(RAY_ENOTFOUND,
                        "ray_actor_create: no alive node '%s' in the "
                        "cluster (rayc status lists them)",
                        opts->node);
    const char *name = opts && opts->name && *opts->name ? opts->name : NULL;
    bool detached = opts && opts->detached;
    ray_err serr = RAY_OK;
    if (i == -1 && (name || detached) && !opts->pg.id)
        i = shared_place(cl, opts, &serr); /* a group's stays in it */
    if (i == -3)
        return serr;
    if (name) {
        ray_err own;
        if (own_named(cl, name, opts->get_if_exists, out, &own))
            return own;
        ray_actor other; /* one made in the driver's runtime */
        if (i >= 0 && sdk_drv_actor_lookup(name, &other) == RAY_OK) {
            sdk_drv_actor_ref(other, false);
            return name_taken(name);
        }
    }
    if (i < 0)
        return sdk_drv_actor_create(ctor, args, nargs, opts, out);
    ray_arg av[16];
    ray_view vv[16];
    uint32_t nviews = 0;
    if (nargs > 16 ||
        !cl_args_resolve(args, nargs, av, vv, &nviews, NULL, false)) {
        cl_views_release(vv, nviews);
        return sdk_fail(RAY_EINVAL,
                        "ray_actor_create on node '%s': an argument is an "
                        "actor handle or a ref not ready yet (or more than "
                        "16); only values and ready refs go to other nodes "
                        "for now",
                        cl->nodes[i].addr);
    }
    pthread_mutex_lock(&cl->act_mu);
    uint32_t key = new_entry(cl);
    pthread_mutex_unlock(&cl->act_mu);
    if (!key) {
        cl_views_release(vv, nviews);
        return sdk_fail(RAY_ENOMEM,
                        "ray_actor_create: no room for another actor on "
                        "other nodes (%u at most)",
                        CL_ACTOR_KEY_MAX - 1);
    }
    if (name) { /* claimed at the head first: names are cluster-wide */
        ray_actor other;
        ray_err err =
            claim_name(cl, name, i, key, detached, opts->get_if_exists, &other);
        if (err != RAY_OK || other.id) {
            cl_views_release(vv, nviews);
            if (other.id) /* get_if_exists: another driver's */
                *out = other;
            return err;
        }
    }
    ray_err err = send_create(cl, key, ctor, av, nargs, vv, nviews, opts, name,
                              detached, i, 1, out);
    if (err == RAY_OK && group.id)
        in_group(cl, key, group, bundle, opts->num_cpus);
    return err;
}

/* A call that fails: its result `id` (0: a new one) settles with err. */
static ray_ref
call_fails(sdk_rt *rt, uint64_t id, ray_err err, const char *msg)
{
    sdk_obj *o;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    ray_err e = id ? RAY_OK : sdk_objects_alloc(&rt->store, &id, &o);
    if (e == RAY_OK)
        cl_settle(rt, id, err, msg, 0, NULL, 0, &cbs);
    pthread_mutex_unlock(&rt->mu);
    if (cbs)
        sdk_run_callbacks(cbs);
    if (e != RAY_OK) {
        sdk_fail(e, "actor call: out of memory");
        return RAY_REF_NULL;
    }
    return sdk_ref(id);
}

ray_ref
cl_actor_submit(ray_actor h, const ray_fn_desc *m, const ray_arg *args,
                uint32_t nargs)
{
    if (!remote_actor(h))
        return sdk_drv_actor_submit(h, m, args, nargs);
    /* Behind a call that waits for its arguments, or waiting itself: in
     * order, through cluster_defer.c. */
    if (cl_defer_actor_busy(h.id) || cl_defer_wanted(args, nargs, false))
        return cl_defer_actor(g_cl, h, m, args, nargs);
    return cl_actor_send(h, m, args, nargs, 0);
}

ray_ref
cl_actor_send(ray_actor h, const ray_fn_desc *m, const ray_arg *args,
              uint32_t nargs, uint64_t id)
{
    cl_driver *cl = g_cl;
    sdk_rt *rt = sdk_g;
    ray_actor l = here(cl, h);
    if (l.id != h.id && !id)
        return sdk_drv_actor_submit(l, m, args, nargs);
    if (l.id != h.id) { /* a call that waited here, its result made */
        if (sdk_drv_actor_submit_into(id, l, m, args, nargs) != RAY_OK)
            cl_fail(id, RAY_EACTOR_DIED, ray_last_error_detail());
        return sdk_ref(id);
    }
    char why[200] = "";
    uint32_t rkey = 0;
    int i = actor_node(cl, h, why, sizeof(why), &rkey);
    if (i == CL_ACTOR_WAITING && !id) /* it restarts: behind that */
        return cl_defer_actor(cl, h, m, args, nargs);
    if (i == -2 && id)
        return call_fails(rt, id, RAY_EINVAL, "not a handle of this driver");
    if (i == -2) {
        sdk_fail(RAY_EINVAL, "actor call '%s': not a handle of this driver",
                 m->name);
        return RAY_REF_NULL;
    }
    char msg[300];
    if (i < 0) {
        snprintf(msg, sizeof(msg), "actor call '%s': the actor is dead: %s",
                 m->name, why);
        return call_fails(rt, id, RAY_EACTOR_DIED, msg);
    }
    ray_arg av[16];
    ray_view vv[16];
    char dv[16][CL_HANDLE_DESC];
    uint32_t nviews = 0;
    if (nargs > 16 ||
        !cl_args_resolve(args, nargs, av, vv, &nviews, dv, false)) {
        cl_views_release(vv, nviews);
        snprintf(msg, sizeof(msg),
                 "actor call '%s' on node %s: an argument is a handle of an "
                 "actor in this process (or more than 16); only values, refs "
                 "and handles of actors in agents go to other nodes",
                 m->name, cl->nodes[i].addr);
        if (id)
            return call_fails(rt, id, RAY_EINVAL, msg);
        sdk_fail(RAY_EINVAL, "%s", msg);
        return RAY_REF_NULL;
    }
    /* Large values: a copy on the actor's node, or pushed there first
     * (in order with the calls before and after it). */
    char rdesc[16][CL_REMOTE_DESC];
    fl_entry e = {.retries = -1};
    bool pushed = false;
    char pwhy[300] = "";
    ray_err err = cl_args_place(cl, i, true, args, av, nargs, rdesc, &e.refs,
                                &e.nrefs, &pushed, pwhy, sizeof(pwhy));
    if (err != RAY_OK) {
        cl_views_release(vv, nviews);
        cl_entry_done(&e);
        char fmsg[700];
        snprintf(fmsg, sizeof(fmsg),
                 "actor call '%s': its large arguments could not be sent to "
                 "node %s: %s",
                 m->name, cl->nodes[i].addr, pwhy);
        return call_fails(rt, id, err, fmsg);
    }
    sdk_obj *o;
    pthread_mutex_lock(&rt->mu);
    if (!id)
        err = sdk_objects_alloc(&rt->store, &id, &o);
    pthread_mutex_unlock(&rt->mu);
    e.id = id;
    Ray__Rpc__ClusterTask base = RAY__RPC__CLUSTER_TASK__INIT;
    base.id = id;
    base.function = (char *)m->name;
    base.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CALL;
    base.actor = rkey;
    if (err == RAY_OK)
        e.task = cl_pack_task(&base, av, nargs, NULL, &e.len);
    cl_views_release(vv, nviews);
    if (err != RAY_OK) {
        cl_entry_done(&e);
        sdk_fail(err, "actor call '%s': out of memory", m->name);
        return RAY_REF_NULL;
    }
    if (e.task && !cl_hold_handles(&e, args, nargs)) {
        rt_free(e.task);
        e.task = NULL;
    }
    if (e.task && e.len > CL_RECORD_MAX) {
        snprintf(msg, sizeof(msg),
                 "actor call '%s': its arguments take %u bytes, more than a "
                 "call to another node carries (%u)",
                 m->name, e.len, CL_RECORD_MAX);
        cl_entry_done(&e);
        cl_fail(id, RAY_ETOOBIG, msg);
        return sdk_ref(id);
    }
    e.actor = actor_key(h);
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    e.call_retries = a ? a->task_retries : 0;
    e.seq = ++cl->call_seq;
    pthread_mutex_unlock(&cl->act_mu);
    /* A node that just died may have passed the actor on: try where it
     * lives now, once more. */
    bool sent = false;
    for (int tries = 0; e.task && i >= 0 && !sent && tries < 2; tries++) {
        sent = cl_send_to(cl, i, &e);
        if (!sent)
            i = actor_node(cl, h, why, sizeof(why), NULL);
    }
    if (!sent) {
        snprintf(msg, sizeof(msg), "actor call '%s': %s", m->name,
                 !e.task  ? "out of memory packing the call"
                 : why[0] ? why
                          : "the actor's node left the cluster");
        cl_fail(id, e.task ? RAY_EACTOR_DIED : RAY_ENOMEM, msg);
        cl_entry_done(&e);
    }
    return sdk_ref(id);
}

ray_err
cl_actor_ref(ray_actor h, bool retain)
{
    cl_driver *cl = g_cl;
    h = here(cl, h);
    if (!remote_actor(h))
        return sdk_drv_actor_ref(h, retain);
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    bool live = a && a->handles > 0;
    if (live)
        a->handles += retain ? 1 : -1;
    bool last = live && a->handles == 0;
    pthread_mutex_unlock(&cl->act_mu);
    if (!live)
        return retain ? sdk_fail(RAY_EINVAL,
                                 "ray_actor_retain: null or stale handle")
                      : RAY_OK;
    actor_op(cl, h,
             retain ? RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RETAIN
                    : RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RELEASE,
             0, 0);
    if (last) { /* the agent ends it after its queued calls */
        pthread_mutex_lock(&cl->act_mu);
        a = entry(cl, h); /* again: the table may have moved */
        if (a && a->handles == 0) {
            if (!a->detached)
                name_gone(cl, a);
            forget(a, "its last handle was released");
        }
        pthread_mutex_unlock(&cl->act_mu);
    }
    return RAY_OK;
}

ray_err
cl_actor_kill(ray_actor h, bool no_restart)
{
    cl_driver *cl = g_cl;
    h = here(cl, h);
    if (!remote_actor(h))
        return sdk_drv_actor_kill(h, no_restart);
    if (actor_node(cl, h, NULL, 0, NULL) == -2)
        return sdk_fail(RAY_EINVAL, "ray_actor_kill: null or stale handle");
    actor_op(cl, h,
             no_restart ? RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_KILL_NO_RESTART
                        : RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_KILL,
             0, 0);
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *w = entry(cl, h);
    if (w && w->node == CL_ACTOR_WAITING) { /* never made: its calls fail */
        name_gone(cl, w);
        forget(w, "killed by ray_actor_kill before its placement group was "
                  "ready");
    }
    pthread_mutex_unlock(&cl->act_mu);
    if (no_restart) {
        pthread_mutex_lock(&cl->act_mu);
        cl_actor *a = entry(cl, h);
        if (a && a->node >= 0) {
            if (a->name)
                name_del(cl, a->name); /* whoever made it */
            forget(a, "killed by ray_actor_kill");
        }
        pthread_mutex_unlock(&cl->act_mu);
    }
    return RAY_OK;
}

ray_err
cl_actor_state(ray_actor h, int *state, int *num_restarts)
{
    cl_driver *cl = g_cl;
    ray_actor l = here(cl, h);
    if (l.id != h.id) { /* made here after all: its moves count too */
        pthread_mutex_lock(&cl->act_mu);
        cl_actor *a = entry(cl, h);
        int moved = a ? a->restarts : 0;
        pthread_mutex_unlock(&cl->act_mu);
        ray_err err = sdk_drv_actor_state(l, state, num_restarts);
        if (err == RAY_OK && num_restarts)
            *num_restarts += moved;
        return err;
    }
    if (!remote_actor(h))
        return sdk_drv_actor_state(h, state, num_restarts);
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    int moved = a ? a->restarts : 0;
    bool waiting = a && a->node == CL_ACTOR_WAITING;
    bool again = waiting && a->spec; /* a restart, not its creation */
    pthread_mutex_unlock(&cl->act_mu);
    if (!a)
        return sdk_fail(RAY_EINVAL, "ray_actor_state: null or stale handle");
    if (waiting) { /* for its placement group */
        if (state)
            *state = again ? RAY_ACTOR_RESTARTING : RAY_ACTOR_PENDING;
        if (num_restarts)
            *num_restarts = moved;
        return RAY_OK;
    }
    uint64_t bits = 0;
    ray_err err = actor_ask(cl, h, RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_STATE,
                            30000, &bits);
    if (err == RAY_EACTOR_DIED || err == RAY_EWORKER_DIED) {
        bits = RAY_ACTOR_DEAD;
        err = RAY_OK;
    }
    if (err != RAY_OK)
        return err;
    if (state)
        *state = (int)(bits & 0xff); /* cl_actor_state_bits */
    if (num_restarts)
        *num_restarts = (int)((bits >> 8) & 0xffffff) + moved;
    return RAY_OK;
}

ray_err
cl_actor_wait_ready(ray_actor h, int64_t timeout_ms)
{
    cl_driver *cl = g_cl;
    int64_t deadline = timeout_ms < 0 ? -1 : rt_deadline_after_ms(timeout_ms);
    for (;;) { /* while it waits for its placement group: every 10 ms */
        ray_actor l = here(cl, h);
        if (!remote_actor(l))
            return sdk_drv_actor_wait_ready(
                l, deadline < 0 ? -1 : rt_deadline_left_ms(deadline));
        int i = actor_node(cl, h, NULL, 0, NULL);
        if (i != CL_ACTOR_WAITING)
            break;
        if (deadline >= 0 && rt_deadline_left_ms(deadline) <= 0)
            return sdk_fail(RAY_ETIMEDOUT,
                            "ray_actor_wait_ready: its placement group is "
                            "still pending");
        usleep(10000);
    }
    uint64_t bits;
    return actor_ask(cl, h, RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_WAIT,
                     deadline < 0 ? -1 : rt_deadline_left_ms(deadline), &bits);
}

ray_err
cl_actor_lookup(const char *name, ray_actor *out)
{
    cl_driver *cl = g_cl;
    pthread_mutex_lock(&cl->act_mu);
    uint32_t k = by_name(cl, name);
    if (k)
        cl->act[k].handles++;
    pthread_mutex_unlock(&cl->act_mu);
    if (!k) {
        ray_err err = sdk_drv_actor_lookup(name, out);
        return err == RAY_ENOTFOUND ? remote_lookup(cl, name, out) : err;
    }
    *out = (ray_actor){(uint64_t)k << 32};
    actor_op(cl, *out, RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RETAIN, 0, 0);
    return RAY_OK;
}

void
cl_actors_node_lost(cl_driver *cl, int i, const char *why)
{
    uint32_t later[64]; /* group actors to restart once it is placed */
    int nlater = 0;
    pthread_mutex_lock(&cl->act_mu);
    for (uint32_t k = 1; k < cl->nact; k++) {
        cl_actor *a = &cl->act[k];
        if (a->node != i)
            continue;
        char msg[200];
        int j = -2;
        if (a->pg && a->restarts_left != 0 && !a->attached && nlater < 64) {
            /* In its group's bundle, once that is placed again. */
            a->node = CL_ACTOR_WAITING;
            later[nlater++] = k;
            continue;
        }
        if (!a->pinned && a->restarts_left != 0) {
            ray_call_opts co = {.resources = a->resources};
            j = cl_choose(cl, &co, false, i);
        }
        if (j >= 0 && cl_send_raw(cl, j, a->spec, a->spec_len)) {
            /* The new incarnation counts the driver's handles too. */
            for (int32_t n = 1; n < a->handles; n++)
                retain_on(cl, j, a->rkey);
            a->node = j;
            a->restarts++;
            char nwhy[200];
            if (a->name && name_put(cl, a->name, j, a->rkey, a->detached, true,
                                    nwhy, sizeof(nwhy)) != RAY_OK)
                RT_WARN("cluster: actor '%s' moved; its name at the head: %s",
                        a->name, nwhy);
            if (a->restarts_left > 0)
                a->restarts_left--;
            RT_WARN("cluster: actor %u restarted on node %s (%s): its node "
                    "%s died",
                    k, cl->nodes[j].id, cl->nodes[j].addr, cl->nodes[i].id);
            continue;
        }
        if (a->attached) {
            snprintf(msg, sizeof(msg),
                     "its agent (job %s on %s) ended (%s): its driver left, "
                     "or its node died",
                     cl->nodes[i].id, cl->nodes[i].addr, why);
            forget(a, msg);
            continue;
        }
        snprintf(msg, sizeof(msg), "its node %s (%s) died (%s)%s",
                 cl->nodes[i].id, cl->nodes[i].addr, why,
                 a->pinned               ? "; it was pinned there"
                 : a->restarts_left == 0 ? "; no restart left"
                                         : "; no other node fits it");
        name_gone(cl, a);
        forget(a, msg);
    }
    pthread_mutex_unlock(&cl->act_mu);
    for (int k = 0; k < nlater; k++)
        restart_later(cl, (ray_actor){(uint64_t)later[k] << 32});
}

static int
by_seq(const void *a, const void *b)
{
    uint64_t x = ((const fl_entry *)a)->seq, y = ((const fl_entry *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Call e to actor `key`, which waits for its group to place its bundle
 * again: behind its restart, as a call made now would be (its record
 * unpacked back into a method and arguments). True when it went there. */
static bool
call_behind_restart(cl_driver *cl, uint32_t key, fl_entry *e)
{
    Ray__Rpc__ClusterTask *t =
        e->task ? ray__rpc__cluster_task__unpack(NULL, e->len, e->task) : NULL;
    const ray_fn_desc *m =
        t ? sdk_registry_find(sdk_name_hash(t->function)) : NULL;
    ray_arg *a = t ? rt_calloc(t->n_args + 1, sizeof(*a)) : NULL;
    bool ok = m && a && e->nhandles == 0 && cl_args_back(cl, t, e, a) &&
              cl_defer_actor_into(cl, (ray_actor){(uint64_t)key << 32}, m, a,
                                  (uint32_t)t->n_args, e->id) == RAY_OK;
    rt_free(a);
    if (t)
        ray__rpc__cluster_task__free_unpacked(t, NULL);
    if (ok) {
        atomic_fetch_add(&sdk_g->calls_resent, 1);
        cl_entry_done(e); /* the call waiting here holds its own */
    }
    return ok;
}

void
cl_actor_calls_again(cl_driver *cl, int i, fl_entry *e, size_t n, bool *ok)
{
    qsort(e, n, sizeof(*e), by_seq);
    for (size_t k = 0; k < n; k++) {
        pthread_mutex_lock(&cl->act_mu);
        cl_actor *a = e[k].actor < cl->nact ? &cl->act[e[k].actor] : NULL;
        int j = a ? a->node : -1;
        pthread_mutex_unlock(&cl->act_mu);
        if (j == CL_ACTOR_WAITING) { /* a group actor, to restart */
            ok[k] = call_behind_restart(cl, e[k].actor, &e[k]);
            continue;
        }
        if (j < 0 || j == i)
            continue;
        if (e[k].call_retries > 0)
            e[k].call_retries--;
        ok[k] = cl_send_to(cl, j, &e[k]);
        if (ok[k])
            atomic_fetch_add(&sdk_g->calls_resent, 1);
    }
}

void
cl_actors_free(cl_driver *cl)
{
    for (uint32_t k = 1; k < cl->nact; k++) /* waiting ones too */
        forget(&cl->act[k], "the driver ended");
    rt_free(cl->act);
    cl->act = NULL;
    cl->nact = cl->cact = 0;
    for (size_t i = 0; i < cl->nnames; i++)
        rt_free(cl->names[i]);
    rt_free(cl->names);
    cl->names = NULL;
    cl->nnames = cl->cnames = 0;
}

/* A task on this node called a method of an actor on another node (the
 * handle came to it as an argument): send the call, its result settling
 * the object the task reserved. Values only for now: a ref, an actor
 * handle or a value in the node's store among the arguments fails the
 * call. mu held. */
void
cl_actor_call_from_task(sdk_rt *rt, uint64_t handle, const char *method,
                        const uint8_t *args, uint32_t args_len, uint32_t nargs,
                        sdk_obj *o, sdk_cb **cbs)
{
    cl_driver *cl = g_cl;
    uint64_t id = sdk_objects_id(o);
    ray_actor h = {handle};
    char why[200] = "", msg[300];
    uint32_t rkey = 0;
    int i = cl ? actor_node(cl, h, why, sizeof(why), &rkey) : -2;
    if (i < 0) {
        snprintf(
            msg, sizeof(msg), "actor call '%s' from a task: %s%s", method,
            i == -2 ? "not a live actor's handle" : "the actor is dead: ", why);
        cl_settle(rt, id, i == -2 ? RAY_EINVAL : RAY_EACTOR_DIED, msg, 0, NULL,
                  0, cbs);
        return;
    }
    ray_arg av[RAY_MAX_ARGS];
    const sdk_wire_arg *wa = (const sdk_wire_arg *)args;
    size_t at = SDK_ALIGN8((size_t)nargs * sizeof(*wa));
    for (uint32_t k = 0; k < nargs; k++) {
        uint32_t t = wa[k].type;
        memset(&av[k], 0, sizeof(av[k]));
        av[k].type = t;
        if (sdk_type_scalar(t)) {
            av[k].v.u64 = wa[k].scalar;
        } else if (sdk_type_buffer(t) && at + wa[k].len <= args_len) {
            av[k].v.buf.ptr = args + at;
            av[k].v.buf.len = wa[k].len;
            at += SDK_ALIGN8(wa[k].len);
        } else {
            snprintf(msg, sizeof(msg),
                     "actor call '%s' from a task to an actor on node %s: "
                     "argument %u is a ref, a handle or a stored value; only "
                     "values go to another node from a task for now",
                     method, cl->nodes[i].addr, k + 1);
            cl_settle(rt, id, RAY_EINVAL, msg, 0, NULL, 0, cbs);
            return;
        }
    }
    Ray__Rpc__ClusterTask base = RAY__RPC__CLUSTER_TASK__INIT;
    base.id = id;
    base.function = (char *)method;
    base.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CALL;
    base.actor = rkey;
    fl_entry e = {.id = id, .retries = -1};
    e.task = cl_pack_task(&base, av, nargs, NULL, &e.len);
    bool big = e.task && e.len > CL_RECORD_MAX;
    if (!e.task || big || !cl_send_to(cl, i, &e)) {
        snprintf(msg, sizeof(msg), "actor call '%s' from a task: %s", method,
                 big      ? "its arguments are more than a call to another "
                            "node carries"
                 : e.task ? "the actor's node left the cluster"
                          : "out of memory");
        cl_settle(rt, id,
                  big      ? RAY_ETOOBIG
                  : e.task ? RAY_EACTOR_DIED
                           : RAY_ENOMEM,
                  msg, 0, NULL, 0, cbs);
        rt_free(e.task);
    }
}

/* ---- handles that travel ---- */

bool
cl_actor_describe(ray_actor h, char out[CL_HANDLE_DESC])
{
    cl_driver *cl = g_cl;
    if (!cl || !remote_actor(h))
        return false;
    pthread_mutex_lock(&cl->act_mu);
    cl_actor *a = entry(cl, h);
    bool ok = a && a->node >= 0;
    if (ok) {
        const cl_node *nd = &cl->nodes[a->node];
        snprintf(
            out, CL_HANDLE_DESC, "%016llx %s %u",
            (unsigned long long)(nd->kind == CL_ATTACHED ? nd->job : cl->job),
            nd->addr, a->rkey);
    }
    pthread_mutex_unlock(&cl->act_mu);
    return ok;
}

ray_actor
cl_actor_from_desc(const char *desc)
{
    unsigned long long job = 0;
    unsigned rkey = 0;
    char addr[RT_HOST_MAX + 8];
    if (sscanf(desc, "%llx %71s %u", &job, addr, &rkey) != 3 || !rkey) {
        sdk_fail(RAY_EPROTO, "a malformed actor handle '%.80s'", desc);
        return RAY_ACTOR_NULL;
    }
    cl_driver *cl = cl_client();
    if (!cl)
        return RAY_ACTOR_NULL;
    /* One proxy per actor: its calls go to its agent. */
    pthread_mutex_lock(&cl->act_mu);
    for (uint32_t k = 1; k < cl->nact; k++) {
        cl_actor *a = &cl->act[k];
        if (a->node >= 0 && a->attached && a->rkey == rkey &&
            cl->nodes[a->node].job == job &&
            !strcmp(cl->nodes[a->node].addr, addr)) {
            pthread_mutex_unlock(&cl->act_mu);
            return (ray_actor){(uint64_t)k << 32};
        }
    }
    pthread_mutex_unlock(&cl->act_mu);
    ray_err err;
    char why[400];
    int i = cl_attach(cl, addr, job, &err, why, sizeof(why));
    if (i < 0) {
        sdk_fail(err == RAY_ENOTFOUND ? RAY_EACTOR_DIED : err,
                 "the actor's agent on %s: %s", addr, why);
        return RAY_ACTOR_NULL;
    }
    /* Borrowed: the driver counts the real handles. */
    uint32_t key = attached_entry(cl, i, rkey, NULL);
    if (!key) {
        sdk_fail(RAY_ENOMEM, "no room for another actor handle");
        return RAY_ACTOR_NULL;
    }
    return (ray_actor){(uint64_t)key << 32};
}

/* ---- rayc list actors ---- */

/* The pids of up to `n` of this driver's actors on other nodes, asked of
 * their agents (0: not known), within about a second in all: keys[i]
 * gets pids[i]. */
static size_t
actor_pids(cl_driver *cl, uint32_t *keys, int *pids, size_t n)
{
    size_t m = 0;
    pthread_mutex_lock(&cl->act_mu);
    for (uint32_t k = 1; k < cl->nact && m < n; k++) {
        const cl_actor *a = &cl->act[k];
        if (a->spec && !a->attached && a->node >= 0 &&
            atomic_load(&cl->nodes[a->node].alive))
            keys[m++] = k;
    }
    pthread_mutex_unlock(&cl->act_mu);
    int64_t deadline = rt_deadline_after_ms(1000);
    for (size_t i = 0; i < m; i++) {
        uint64_t bits = 0;
        int64_t left = rt_deadline_left_ms(deadline);
        pids[i] =
            left > 0 && actor_ask(cl, (ray_actor){(uint64_t)keys[i] << 32},
                                  RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_STATE,
                                  left, &bits) == RAY_OK
                ? (int)(bits >> 32)
                : 0;
    }
    return m;
}

size_t
cl_actor_rows(cl_driver *cl, rt_text *out, size_t room)
{
    size_t n = 0;
    enum { ASKED = 256 }; /* pids asked of the agents; beyond: 0 */
    uint32_t keys[ASKED];
    int pids[ASKED];
    size_t npids = actor_pids(cl, keys, pids, room < ASKED ? room : ASKED);
    pthread_mutex_lock(&cl->act_mu);
    for (uint32_t k = 1; k < cl->nact; k++) {
        const cl_actor *a = &cl->act[k];
        if (!a->spec || a->attached || n++ >= room)
            continue; /* a free key, a dead one, or another driver's (that
                         driver lists it) */
        Ray__Rpc__ClusterTask *t =
            a->spec ? ray__rpc__cluster_task__unpack(NULL, a->spec_len, a->spec)
                    : NULL;
        const char *fn = t && t->function ? t->function : "?";
        const char *dot = strstr(fn, ".__init__");
        bool alive = a->node >= 0 && atomic_load(&cl->nodes[a->node].alive);
        int pid = 0;
        for (size_t p = 0; p < npids && !pid; p++)
            pid = keys[p] == k ? pids[p] : 0;
        rt_text_put(out, "%016llx\t%.*s\t%s\t%s\t%s\t%d\n",
                    (unsigned long long)k << 32,
                    (int)(dot ? (size_t)(dot - fn) : strlen(fn)), fn,
                    alive ? "ALIVE" : "RESTARTING", a->name ? a->name : "-",
                    a->node >= 0 ? cl->nodes[a->node].full : "-", pid);
        if (t)
            ray__rpc__cluster_task__free_unpacked(t, NULL);
    }
    pthread_mutex_unlock(&cl->act_mu);
    return n;
}

void
cl_actor_states(uint64_t n[5])
{
    cl_driver *cl = g_cl;
    if (!cl)
        return;
    pthread_mutex_lock(&cl->act_mu);
    for (uint32_t k = 1; k < cl->nact; k++) {
        const cl_actor *a = &cl->act[k];
        if (!a->spec || a->attached)
            continue;
        bool alive = a->node >= 0 && atomic_load(&cl->nodes[a->node].alive);
        n[alive ? 2 : 3]++; /* ALIVE, or RESTARTING */
    }
    pthread_mutex_unlock(&cl->act_mu);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_borrow.c: refs that travel between the runtimes of one job.
 *
 * Each runtime of a job (the driver's, each agent's) has its own tag
 * (ray_ref.owner); an agent tells its tag in AgentReady. A ref copied
 * into a value keeps its owner's tag wherever it goes, so the runtime
 * that finds it there can borrow it:
 *
 * - The first use (ray_get, ray_wait, ray_on_done, an argument) makes a
 *   local object that stands for it, and asks the owner for its value
 *   once. Later uses find that stand-in in a table of BORROW_SLOTS
 *   entries, which holds it until this runtime releases the ref (or its
 *   slot is taken by another ref, those with their value first: the
 *   next use then asks again).
 * - ray_ref_retain and ray_ref_release count at the owner, in order with
 *   the rest on the one connection: the last release anywhere frees the
 *   value, as on one node.
 *
 * Who asks whom. Only driver-agent connections exist, so the driver
 * answers for every runtime of its job:
 *
 * - The driver borrows an agent's ref from that agent (CLUSTER_OBJ_GET
 *   on the agent's connection, answered as a call's result: inline, or
 *   kept there and pulled). An owner that dies settles what it had not
 *   sent with RAY_EOBJECT_LOST.
 * - An agent (agent.c) borrows any other ref from the driver: it sends
 *   CLUSTER_OBJ_* records the other way, and the driver answers from its
 *   own object, or from its own stand-in of a third runtime's (so one
 *   agent asks for another's refs through the driver), with a
 *   CLUSTER_OBJ_VALUE record: where a large value is kept on a node (a
 *   copy, or parked where its call made it: the agent pulls it from
 *   there, so its bytes cross once), or the value inline, or pushed
 *   first on a data connection (XFER_KEEP_MIN bytes and more, held only
 *   here), or its error. An agent that could not pull from where it was
 *   sent asks again for the bytes themselves ("bytes").
 * - Workers ask their runtime (SDK_MSG_BORROW, nested.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/log.h"
#include "sdk/cluster_int.h"
#include "sdk/transfer.h"

#define BORROW_SLOTS 4096 /* a power of two */

typedef struct borrow {
    uint64_t tag, id; /* the owner's ref (tag 0: empty) */
    uint64_t local;   /* the object here that stands for it (held) */
} borrow;

static struct {
    pthread_mutex_t mu;
    borrow e[BORROW_SLOTS];
} B = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Objects here that answered agents: by the object's id, (node, tag, id
 * of the ref it asked for) triples in refs. */
static struct {
    pthread_mutex_t mu;
    fl_table t;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

#define BORROW_PROBE 4 /* slots a ref may take, from its hash on */

static size_t
slot_of(ray_ref ref)
{
    uint64_t h = (ref.owner ^ ref.id) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 40) & (BORROW_SLOTS - 1);
}

/* ref's entry (B.mu held), or NULL. */
static borrow *
find(ray_ref ref)
{
    size_t s = slot_of(ref);
    for (size_t k = 0; k < BORROW_PROBE; k++) {
        borrow *b = &B.e[(s + k) & (BORROW_SLOTS - 1)];
        if (b->tag == ref.owner && b->id == ref.id)
            return b;
    }
    return NULL;
}

/* The slot a new entry for ref takes (B.mu held): an empty one, else
 * one whose stand-in has its value (its users hold it; the next use of
 * that ref asks again), else the first: a stand-in still waiting for its
 * value is taken last, since something likely waits on it. */
static borrow *
room_for(ray_ref ref)
{
    size_t s = slot_of(ref);
    borrow *settled = NULL;
    sdk_rt *rt = sdk_g;
    pthread_mutex_lock(&rt->mu);
    for (size_t k = 0; k < BORROW_PROBE; k++) {
        borrow *b = &B.e[(s + k) & (BORROW_SLOTS - 1)];
        if (!b->tag) {
            settled = b;
            break;
        }
        sdk_obj *o = sdk_objects_lookup(&rt->store, b->local);
        if (!settled && (!o || o->state != SDK_OBJ_PENDING))
            settled = b;
    }
    pthread_mutex_unlock(&rt->mu);
    return settled ? settled : &B.e[s];
}

ray_err
cl_borrow_with(ray_ref ref, ray_ref *local, cl_fetch_fn fetch, void *arg)
{
    pthread_mutex_lock(&B.mu);
    borrow *b = find(ref);
    if (b) { /* a holder for the caller, before any eviction can run */
        *local = sdk_ref(b->local);
        ray_err e = ray_ref_retain(*local);
        pthread_mutex_unlock(&B.mu);
        return e;
    }
    b = room_for(ref);
    uint64_t id, old = b->tag ? b->local : 0;
    ray_err err = cl_result_new(&id);
    if (err != RAY_OK) {
        pthread_mutex_unlock(&B.mu);
        return sdk_fail(err, "out of memory for a borrowed object");
    }
    *b = (borrow){ref.owner, ref.id, id};
    *local = sdk_ref(id);
    (void)ray_ref_retain(*local); /* the caller's; the table has one */
    pthread_mutex_unlock(&B.mu);
    /* A second user of the same ref meanwhile waits for this object. */
    fetch(ref, id, arg);
    if (old)
        ray_ref_release(sdk_ref(old));
    return RAY_OK;
}

void
cl_borrow_forget(ray_ref ref)
{
    uint64_t old = 0;
    pthread_mutex_lock(&B.mu);
    borrow *b = find(ref);
    if (b) {
        old = b->local;
        *b = (borrow){0, 0, 0};
    }
    pthread_mutex_unlock(&B.mu);
    if (old)
        ray_ref_release(sdk_ref(old));
}

void
cl_borrow_fail_all(ray_err err, const char *msg)
{
    uint64_t *ids = rt_malloc(BORROW_SLOTS * sizeof(*ids));
    size_t n = 0;
    pthread_mutex_lock(&B.mu);
    for (size_t k = 0; ids && k < BORROW_SLOTS; k++)
        if (B.e[k].tag)
            ids[n++] = B.e[k].local;
    pthread_mutex_unlock(&B.mu);
    for (size_t k = 0; k < n; k++) /* only those still pending settle */
        cl_fail(ids[k], err, msg);
    rt_free(ids);
}

void
cl_borrow_stop(void)
{
    pthread_mutex_lock(&B.mu);
    memset(B.e, 0, sizeof(B.e)); /* their objects go with the runtime */
    pthread_mutex_unlock(&B.mu);
    pthread_mutex_lock(&L.mu);
    for (size_t k = 0; k < L.t.cap; k++)
        if (L.t.e[k].id && L.t.e[k].id != FL_TOMB)
            rt_free(L.t.e[k].refs);
    rt_free(L.t.e);
    memset(&L.t, 0, sizeof(L.t));
    pthread_mutex_unlock(&L.mu);
}

/* ---- the driver borrows its agents' refs ---- */

/* The node whose agent's runtime has tag `tag`, or -1. */
static int
owner_node(cl_driver *cl, uint64_t tag)
{
    int n = atomic_load(&cl->n);
    for (int i = 0; i < n; i++)
        if (cl->nodes[i].tag == tag && cl->nodes[i].kind != CL_ATTACHED)
            return i;
    return -1;
}

/* Ask the agent that owns `ref` for its value as result object `local`;
 * settled at once with the reason when it cannot go. */
static void
fetch_from_agent(ray_ref ref, uint64_t local, void *arg)
{
    cl_driver *cl = g_cl;
    int i = (int)(intptr_t)arg;
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    t.id = local;
    t.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_GET;
    t.object = ref.id;
    size_t len = protobuf_c_message_get_packed_size(&t.base);
    uint8_t *rec = rt_malloc(len);
    fl_entry e = {.id = local, .task = rec, .len = (uint32_t)len};
    e.borrow = true;
    if (rec) {
        protobuf_c_message_pack(&t.base, rec);
        if (cl_send_to(cl, i, &e))
            return;
    }
    rt_free(rec);
    cl_node *nd = &cl->nodes[i];
    char msg[256];
    snprintf(msg, sizeof(msg),
             "the object's owner, this job's runtime on node %s (%s), %s",
             nd->id, nd->addr,
             rec ? "is gone" : "could not be asked (out of memory)");
    cl_fail(local, rec ? RAY_EOBJECT_LOST : RAY_ENOMEM, msg);
}

ray_err
cl_borrow(ray_ref ref, ray_ref *local)
{
    cl_driver *cl = g_cl;
    int i = cl ? owner_node(cl, ref.owner) : -1;
    if (i < 0)
        return RAY_EINVAL;
    return cl_borrow_with(ref, local, fetch_from_agent, (void *)(intptr_t)i);
}

ray_err
cl_borrow_ref(ray_ref ref, bool retain)
{
    cl_driver *cl = g_cl;
    int i = cl ? owner_node(cl, ref.owner) : -1;
    if (i < 0)
        return RAY_EINVAL;
    if (!retain) /* this process is done with it: so is its stand-in */
        cl_borrow_forget(ref);
    cl_node *nd = &cl->nodes[i];
    if (!atomic_load(&nd->alive))
        return retain ? sdk_fail(RAY_EINVAL,
                                 "ray_ref_retain: the ref's owner, this job's "
                                 "runtime on node %s (%s), is gone",
                                 nd->id, nd->addr)
                      : RAY_OK;
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    t.kind = retain ? RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_RETAIN
                    : RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_RELEASE;
    t.object = ref.id;
    if (!cl_send_control(cl, i, &t) && retain)
        return sdk_fail(RAY_EINVAL,
                        "ray_ref_retain: the ref's owner on node %s (%s) "
                        "could not be told",
                        nd->id, nd->addr);
    return RAY_OK;
}

/* ---- the driver answers its agents ---- */

typedef struct answer {
    int node;
    uint64_t standin; /* the agent's object */
    ray_ref asked;    /* the ref it asked for */
    uint64_t local;   /* the object here that answers: the ref's own, or
                         this driver's stand-in of a third runtime's */
    ray_view v;       /* the value, while it is sent */
    bool bytes;       /* the value itself, not where it is */
} answer;

/* Send node a's answer: args[0] the value (or its error). A view `v`
 * is released once packed, before the answer goes: whatever the reader
 * does next comes after this driver's last hold of the value (a free
 * then tells it in order, lent_freed). */
static void
answer_send(const answer *a, ray_err err, const char *msg,
            Ray__Rpc__ClusterArg *arg, ray_view *v)
{
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    Ray__Rpc__ClusterArg *args[1] = {arg};
    t.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_VALUE;
    t.object = a->standin;
    t.id = a->asked.id; /* to ask again, for its bytes */
    t.tag = a->asked.owner;
    t.err = (uint32_t)err;
    t.name = (char *)(err ? msg : "");
    t.args = args;
    t.n_args = err ? 0 : 1;
    size_t len = protobuf_c_message_get_packed_size(&t.base);
    uint8_t *rec = rt_malloc(len ? len : 1);
    if (rec && len <= CL_RECORD_MAX)
        protobuf_c_message_pack(&t.base, rec);
    if (v)
        ray_release(v);
    if (!rec || len > CL_RECORD_MAX) {
        rt_free(rec);
        if (!err) /* a value too large for a record: never (pushed) */
            answer_send(a, RAY_ENOMEM, "the value could not be sent", NULL,
                        NULL);
        return;
    }
    if (!cl_send_raw(g_cl, a->node, rec, (uint32_t)len))
        RT_LOG_RATELIMITED(RT_LOG_WARN,
                           "cluster: a borrowed value for node %s was not "
                           "sent (its connection is gone)",
                           g_cl->nodes[a->node].id);
    rt_free(rec);
}

static void *
push_main(void *arg)
{
    answer *a = arg;
    char why[300] = "";
    uint64_t key = cl_push_once(g_cl, a->node, a->v.type, a->v.data, a->v.len,
                                why, sizeof(why));
    if (key) {
        Ray__Rpc__ClusterArg ca = RAY__RPC__CLUSTER_ARG__INIT;
        ca.type = a->v.type;
        ca.pushed = key;
        answer_send(a, RAY_OK, NULL, &ca, &a->v);
    } else {
        answer_send(a, RAY_EOBJECT_LOST, why, NULL, &a->v);
    }
    rt_free(a);
    return NULL;
}

/* ---- the driver tells borrowers when what they read goes ---- */

/* The memory store frees lent object `id` (the runtime's mu held). */
static void
lent_freed(uint64_t id)
{
    fl_entry e;
    pthread_mutex_lock(&L.mu);
    bool had = fl_take(&L.t, id, &e);
    pthread_mutex_unlock(&L.mu);
    if (!had || !g_cl)
        return;
    for (uint32_t k = 0; k + 3 <= e.nrefs; k += 3) {
        Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
        t.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_FREED;
        t.tag = e.refs[k + 1];
        t.object = e.refs[k + 2];
        (void)cl_send_control(g_cl, (int)e.refs[k], &t);
    }
    rt_free(e.refs);
}

/* Object `local` answered node i's ask for `asked`: told when it goes. */
static void
lent_add(uint64_t local, int i, ray_ref asked)
{
    sdk_rt *rt = sdk_g;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, local);
    if (o) {
        o->lent = 1;
        rt->store.on_lent_free = lent_freed;
    }
    pthread_mutex_unlock(&rt->mu);
    if (!o)
        return;
    pthread_mutex_lock(&L.mu);
    fl_entry e = {0};
    if (!fl_take(&L.t, local, &e))
        e.id = local;
    uint64_t *nr = rt_realloc(e.refs, (e.nrefs + 3) * sizeof(*nr));
    if (nr) {
        e.refs = nr;
        e.refs[e.nrefs++] = (uint64_t)i;
        e.refs[e.nrefs++] = asked.owner;
        e.refs[e.nrefs++] = asked.id;
    }
    if (!fl_put(&L.t, &e))
        rt_free(e.refs); /* out of memory: its stand-in stays there */
    pthread_mutex_unlock(&L.mu);
}

/* The object an agent asked for is done, or parked: its answer goes. A
 * large value kept on a node (a copy, or parked where it was made) is
 * answered with where it is, and the agent pulls it from there; else
 * with the value, pushed first when large. */
static void
asked_done(void *arg, ray_ref ref, ray_err err)
{
    answer *a = arg;
    (void)err;
    char desc[CL_REMOTE_DESC];
    Ray__Rpc__ClusterArg ca = RAY__RPC__CLUSTER_ARG__INIT;
    if (!a->bytes && cl_copy_where(g_cl, ref, a->node, desc, &ca.type)) {
        lent_add(a->local, a->node, a->asked);
        ca.remote = desc;
        answer_send(a, RAY_OK, NULL, &ca, NULL);
        rt_free(a);
        return;
    }
    bool parked;
    if (cl_ref_pending(ref, &parked)) { /* parked, and its node went */
        a->bytes = true;
        if (ray_on_done(ref, asked_done, a) != RAY_OK) {
            answer_send(a, RAY_EOBJECT_LOST, ray_last_error_detail(), NULL,
                        NULL);
            rt_free(a);
        }
        return;
    }
    ray_err e = ray_get(ref, &a->v, 0);
    if (e != RAY_OK) {
        answer_send(a, e, ray_last_error_detail(), NULL, NULL);
        rt_free(a);
        return;
    }
    lent_add(a->local, a->node, a->asked);
    if (a->v.len >= XFER_KEEP_MIN) { /* pushed first, on a thread */
        pthread_t th;
        if (pthread_create(&th, NULL, push_main, a) == 0) {
            pthread_detach(th);
            return;
        }
        answer_send(a, RAY_ENOMEM, "no thread to push the value", NULL, &a->v);
    } else {
        ca.type = a->v.type;
        if (sdk_type_buffer(a->v.type))
            ca.data = (ProtobufCBinaryData){a->v.len, (uint8_t *)a->v.data};
        else
            memcpy(&ca.bits, a->v.data, a->v.len < 8 ? a->v.len : 8);
        answer_send(a, RAY_OK, NULL, &ca, &a->v);
    }
    rt_free(a);
}

void
cl_borrow_asked(cl_driver *cl, int i, const Ray__Rpc__TaskBatch *b)
{
    (void)cl;
    for (size_t k = 0; k < b->n_tasks; k++) {
        const Ray__Rpc__ClusterTask *t = b->tasks[k];
        ray_ref ref = {t->object, t->tag};
        switch (t->kind) {
        case RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_GET: {
            answer *a = rt_calloc(1, sizeof(*a));
            if (!a)
                break; /* its stand-in waits: out of memory here */
            /* "bytes": the agent could not read the copy it was sent to */
            *a =
                (answer){.node = i,
                         .standin = t->id,
                         .asked = ref,
                         .bytes = t->function && !strcmp(t->function, "bytes")};
            ray_ref local = sdk_ref_local(ref);
            a->local = local.id;
            ray_err e =
                !a->local
                    ? sdk_fail(RAY_EINVAL, "a foreign reference (not made "
                                           "by a runtime of this job)")
                : a->bytes ? ray_on_done(local, asked_done, a)
                           : sdk_on_done_or_parked(local, asked_done, a);
            sdk_ref_local_done(ref, local); /* on_done holds its own */
            if (e != RAY_OK) {
                char msg[400];
                if (e == RAY_EINVAL && ref.owner == sdk_ref_tag())
                    snprintf(msg, sizeof(msg),
                             "object %llu of the driver was released by "
                             "every holder",
                             (unsigned long long)ref.id);
                else
                    snprintf(msg, sizeof(msg), "the driver: %s",
                             ray_last_error_detail());
                answer_send(a, e, msg, NULL, NULL);
                rt_free(a);
            }
            break;
        }
        case RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_RETAIN:
            (void)ray_ref_retain(ref);
            break;
        case RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_RELEASE:
            ray_ref_release(ref);
            break;
        default:
            RT_LOG_RATELIMITED(RT_LOG_WARN,
                               "cluster: node %s sent a record of kind %d: "
                               "ignored",
                               cl->nodes[i].id, (int)t->kind);
        }
    }
}

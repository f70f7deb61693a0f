/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_borrow.c: the driver's side of the refs its agents own.
 *
 * A task on another node may hand its caller refs of its own node's
 * runtime inside a value: what it put there (ray_put), or the calls it
 * made there. Every runtime of a job has its own tag (ray_ref.owner); each
 * agent tells its tag in AgentReady, so such a ref names its owner. The
 * driver borrows it:
 *
 * - The first use (ray_get, ray_wait, ray_on_done, an argument) makes a
 *   local object that stands for it and asks the owner for its value
 *   (CLUSTER_OBJ_GET, answered as a call's result: inline when small,
 *   else kept there and pulled into this node's store). Later uses find
 *   that object in a table of BORROW_SLOTS entries, which holds it until
 *   this process releases the ref (or the slot is taken by another ref:
 *   the next use then asks again).
 * - ray_ref_retain and ray_ref_release count at the owner
 *   (CLUSTER_OBJ_RETAIN / _RELEASE, in order with the rest on the one
 *   connection), where the holder the task kept lives: the last release
 *   anywhere frees the value there, as on one node.
 * - An owner that dies settles what it had not sent with
 *   RAY_EOBJECT_LOST naming its node; values already here stay.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "sdk/cluster_int.h"

#define BORROW_SLOTS 4096 /* a power of two */

typedef struct borrow {
    uint64_t tag, id; /* the owner's ref (tag 0: empty) */
    uint64_t local;   /* the object here that stands for it (held) */
} borrow;

static struct {
    pthread_mutex_t mu;
    borrow e[BORROW_SLOTS];
} B = {.mu = PTHREAD_MUTEX_INITIALIZER};

static size_t
slot_of(ray_ref ref)
{
    uint64_t h = (ref.owner ^ ref.id) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 40) & (BORROW_SLOTS - 1);
}

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

/* Ask node i's agent for the value of `ref` as result object `local`;
 * settled at once with the reason when it cannot go. */
static void
fetch(cl_driver *cl, int i, ray_ref ref, uint64_t local)
{
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
    pthread_mutex_lock(&B.mu);
    borrow *b = &B.e[slot_of(ref)];
    if (b->tag == ref.owner && b->id == ref.id) {
        *local = sdk_ref(b->local);
        pthread_mutex_unlock(&B.mu);
        return RAY_OK;
    }
    uint64_t id, old = b->tag ? b->local : 0;
    ray_err err = cl_result_new(&id);
    if (err != RAY_OK) {
        pthread_mutex_unlock(&B.mu);
        return sdk_fail(err, "out of memory for a borrowed object");
    }
    *b = (borrow){ref.owner, ref.id, id};
    *local = sdk_ref(id);
    pthread_mutex_unlock(&B.mu);
    /* A second user of the same ref meanwhile waits for this object. */
    fetch(cl, i, ref, id);
    if (old)
        ray_ref_release(sdk_ref(old));
    return RAY_OK;
}

ray_err
cl_borrow_ref(ray_ref ref, bool retain)
{
    cl_driver *cl = g_cl;
    int i = cl ? owner_node(cl, ref.owner) : -1;
    if (i < 0)
        return RAY_EINVAL;
    if (!retain) { /* this process is done with it: so is its stand-in */
        uint64_t old = 0;
        pthread_mutex_lock(&B.mu);
        borrow *b = &B.e[slot_of(ref)];
        if (b->tag == ref.owner && b->id == ref.id) {
            old = b->local;
            *b = (borrow){0, 0, 0};
        }
        pthread_mutex_unlock(&B.mu);
        if (old)
            ray_ref_release(sdk_ref(old));
    }
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

void
cl_borrow_stop(void)
{
    pthread_mutex_lock(&B.mu);
    memset(B.e, 0, sizeof(B.e)); /* their objects go with the runtime */
    pthread_mutex_unlock(&B.mu);
}

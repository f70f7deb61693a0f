/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_objects.c: a driver's large values on other nodes (transfer.h):
 * its data connections to each agent, pulls of the results that stayed
 * on their node, and pushes of large arguments.
 *
 * Data connections: up to CL_DATA_IDLE idle ones are kept per node and
 * reused; a pull takes XFER_STREAMS, a push one, and dials what the pool
 * lacks (rt_dial, then AttachRequest.data: the raylet passes it to this
 * job's agent, or to the attached job's). Those in use are listed, so
 * that a driver that leaves can cut them (sdk_cluster_leave waits for the
 * pullers to end).
 *
 * Pulls queue from the receiver's hand-off to at most CL_PULLERS
 * threads (each pulls one value at a time, over XFER_STREAMS
 * connections), so a burst of large results opens a bounded number of
 * connections. The queue is by priority: a value a ray_get waits for
 * goes first, then those a ray_wait waits for, then the rest in the order
 * they came (cl_pull_hurry). Each: room in this node's store (waiting up to
 * CL_PULL_ROOM_MS while other values fill it: pulls queue on the store's memory
 * rather than fail), the bytes, then the result settles as a stored value, and
 * the node's copy stays there (cl_copy) while this driver holds the value. A
 * pull that fails because the node went (its connections closed) runs the call
 * again on another node while it has retries; otherwise the result is
 * RAY_EOBJECT_LOST, saying which node and why.
 *
 * Parked results (cl_park; Ray keeps a result where it was made the same
 * way): a result its call can make again is not queued but parked, its
 * pull_job kept in hash chains by object id (pj_link) with the call's
 * record (its lineage), the sdk object pending with sdk_obj.parked set.
 * Something here that waits for it (sdk_remote_want, cl_pull_hurry)
 * queues the pull; calls on other nodes read a copy where it is
 * (parked_desc), and keep theirs, all under a store key reserved for the
 * value here (so that cl_value_freed drops them all, whether the value
 * was pulled since or dropped unfetched: on_unheld). A node that dies
 * takes its copies along; a parked result with none left anywhere is made
 * again by its call (cl_defer_rebuild), whose own ref arguments are held
 * by that record, so a chain is rebuilt link by link.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "runtime/net.h"
#include "sdk/cluster_int.h"
#include "sdk/sdk_int.h"
#include "sdk/wire.h"
#include "sdk/transfer.h"

#define CL_PULL_ROOM_MS 60000
#define CL_PULLERS 4 /* threads pulling at once; more pulls queue */

_Atomic uint64_t sdk_xfer_bytes[2], sdk_xfer_ns[2];

static void
untrack(cl_driver *cl, int fd)
{
    for (int k = 0; k < cl->nbusy; k++)
        if (cl->busy[k] == fd) {
            cl->nbusy--;
            cl->busy[k] = cl->busy[cl->nbusy];
            cl->busy_node[k] = cl->busy_node[cl->nbusy];
            return;
        }
}

/* Up to `want` data connections to node i's agent: idle ones, then new
 * ones. Their number (0: none, with why), each listed as in use. */
static int
data_take(cl_driver *cl, int i, int *fds, int want, char *why, size_t whylen)
{
    cl_node *nd = &cl->nodes[i];
    int n = 0;
    if (!atomic_load(&nd->alive)) {
        snprintf(why, whylen, "node %s (%s) was declared dead", nd->id,
                 nd->addr);
        return 0;
    }
    pthread_mutex_lock(&cl->xfer_mu);
    while (n < want && nd->ndata)
        fds[n++] = nd->data[--nd->ndata];
    pthread_mutex_unlock(&cl->xfer_mu);
    uint64_t job = nd->kind == CL_ATTACHED ? nd->job : cl->job;
    while (n < want &&
           xfer_dial(nd->addr, job, cl->tok, &fds[n], why, whylen) == RAY_OK)
        n++;
    pthread_mutex_lock(&cl->xfer_mu);
    for (int k = 0; k < n; k++) {
        if (cl->nbusy < CL_DATA_BUSY) {
            cl->busy_node[cl->nbusy] = i;
            cl->busy[cl->nbusy++] = fds[k];
        } else { /* not cut at leave: its thread is waited for anyway */
            RT_LOG_RATELIMITED(RT_LOG_WARN,
                               "cluster: %d data connections in "
                               "use: more are not listed",
                               CL_DATA_BUSY);
        }
    }
    pthread_mutex_unlock(&cl->xfer_mu);
    return n;
}

/* Back to node i's pool (ok) or closed. */
static void
data_give(cl_driver *cl, int i, const int *fds, int n, bool ok)
{
    cl_node *nd = &cl->nodes[i];
    pthread_mutex_lock(&cl->xfer_mu);
    for (int k = 0; k < n; k++) {
        untrack(cl, fds[k]);
        if (ok && !atomic_load(&cl->stop) && nd->ndata < CL_DATA_IDLE)
            nd->data[nd->ndata++] = fds[k];
        else
            close(fds[k]);
    }
    pthread_mutex_unlock(&cl->xfer_mu);
}

/* ---- copies on the nodes that made them ---- */

/* (xfer_mu held) */
static bool
copy_add_locked(cl_driver *cl, uint64_t skey, uint64_t rkey, uint64_t size,
                int node)
{
    cl_copy *room = rt_array_room(cl->copies, cl->ncopies, &cl->ccopies,
                                  sizeof(*cl->copies), 16);
    if (room) {
        cl->copies = room;
        cl->copies[cl->ncopies++] = (cl_copy){skey, rkey, size, node, 0, false};
    }
    return room != NULL;
}

static bool
copy_add(cl_driver *cl, uint64_t skey, uint64_t rkey, uint64_t size, int node)
{
    pthread_mutex_lock(&cl->xfer_mu);
    bool ok = copy_add_locked(cl, skey, rkey, size, node);
    pthread_mutex_unlock(&cl->xfer_mu);
    return ok;
}

/* The copy of stored value `skey` (xfer_mu held), or -1. */
static ssize_t
copy_find(cl_driver *cl, uint64_t skey)
{
    for (size_t k = 0; k < cl->ncopies; k++)
        if (cl->copies[k].skey == skey)
            return (ssize_t)k;
    return -1;
}

/* Tell node `node` to drop its copy `rkey` (a record on its connection,
 * which its sender thread sends; the calls that read the copy are done,
 * as they held the value). */
static void
copy_drop(cl_driver *cl, int node, uint64_t rkey)
{
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    t.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_FREE;
    t.actor = rkey;
    t.function = "";
    (void)cl_send_control(cl, node, &t);
}

void
cl_value_freed(uint64_t skey)
{
    cl_driver *cl = g_cl;
    if (!cl)
        return;
    for (;;) {
        pthread_mutex_lock(&cl->xfer_mu);
        ssize_t k = copy_find(cl, skey);
        cl_copy c = k >= 0 ? cl->copies[k] : (cl_copy){0};
        if (k >= 0)
            cl->copies[k] = cl->copies[--cl->ncopies];
        pthread_mutex_unlock(&cl->xfer_mu);
        if (k < 0)
            return;
        copy_drop(cl, c.node, c.rkey);
    }
}

/* Forget the copy node i pulled of stored value `skey` (kept under that
 * key); whether there was one. */
static bool
copy_forget(cl_driver *cl, uint64_t skey, int i)
{
    bool had = false;
    pthread_mutex_lock(&cl->xfer_mu);
    for (size_t c = 0; c < cl->ncopies;)
        if (cl->copies[c].skey == skey && cl->copies[c].rkey == skey &&
            cl->copies[c].node == i) {
            cl->copies[c] = cl->copies[--cl->ncopies];
            had = true;
        } else {
            c++;
        }
    pthread_mutex_unlock(&cl->xfer_mu);
    return had;
}

size_t
cl_served(sdk_node_bytes *out, size_t max)
{
    cl_driver *cl = g_cl;
    size_t n = 0;
    for (int i = 0; cl && i < atomic_load(&cl->n) && n < max; i++) {
        cl_node *nd = &cl->nodes[i];
        if (nd->kind != CL_JOB || !atomic_load(&nd->alive))
            continue;
        char host[RT_HOST_MAX], why[8];
        uint16_t port;
        if (rt_addr_parse(nd->addr, host, &port, why, sizeof(why)) != RAY_OK)
            snprintf(host, sizeof(host), "%.*s", (int)sizeof(host) - 1,
                     nd->addr);
        snprintf(out[n].node, sizeof(out[n].node), "%s", host);
        out[n++].bytes = atomic_load(&nd->served);
    }
    return n;
}

static uint64_t stored_key(ray_ref r);
static bool parked_desc(cl_driver *cl, uint64_t id, int i, char *desc,
                        uint32_t *type, uint64_t *keep_as);
static void parked_node_lost(cl_driver *cl, int i);

/* A call on node i could not read a value it was given: the copies node
 * i pulled of the call's values (kept under the driver's own key) are
 * forgotten there and here, so the call reads another copy when it runs
 * again. Such a copy fails when the store there evicted it and the node
 * it came from has gone since. The copies node i made itself stay. */
static void
copies_forget_pulled(cl_driver *cl, int i, const fl_entry *e)
{
    for (uint32_t k = 0; k < e->nrefs; k++) {
        uint64_t skey = stored_key(sdk_ref(e->refs[k]));
        if (skey && copy_forget(cl, skey, i))
            copy_drop(cl, i, skey);
    }
}

void
cl_copies_note(cl_driver *cl, int i, const fl_entry *e, bool read)
{
    /* Noted as the call was sent (copy_keep_locked): whole now, or, a
     * pull that failed leaves its node nothing to serve. */
    if (cl->nodes[i].kind == CL_ATTACHED)
        return;
    if (!read) {
        copies_forget_pulled(cl, i, e);
        return;
    }
    for (uint32_t k = 0; k < e->nrefs; k++) {
        uint64_t skey = stored_key(sdk_ref(e->refs[k]));
        pthread_mutex_lock(&cl->xfer_mu);
        for (size_t c = 0; skey && c < cl->ncopies; c++)
            if (cl->copies[c].skey == skey && cl->copies[c].rkey == skey &&
                cl->copies[c].node == i)
                cl->copies[c].pending = false;
        pthread_mutex_unlock(&cl->xfer_mu);
    }
}

void
cl_copies_node_lost(cl_driver *cl, int i)
{
    parked_node_lost(cl, i);
    pthread_mutex_lock(&cl->xfer_mu);
    for (int k = 0; k < cl->nbusy; k++) /* their owners close them */
        if (cl->busy_node[k] == i)
            shutdown(cl->busy[k], SHUT_RDWR);
    cl_node *nd = &cl->nodes[i];
    while (nd->ndata)
        close(nd->data[--nd->ndata]);
    for (size_t k = 0; k < cl->ncopies;)
        if (cl->copies[k].node == i)
            cl->copies[k] = cl->copies[--cl->ncopies];
        else
            k++;
    pthread_mutex_unlock(&cl->xfer_mu);
}

/* A copy of stored value `skey` for a call on node i: one there, else
 * the one on another alive node the fewest readers were sent to (ties
 * in turn); false if none. So readers spread over the copies, and, as a
 * copy being pulled counts (copy_keep_locked), readers at the same time
 * form a chain of relays rather than all reading the first copy. With
 * `whole`, only copies known whole count (one to stand for a value whose
 * node died: a copy being pulled from that node never will be). */
static bool
copy_pick_locked(cl_driver *cl, uint64_t skey, int i, bool whole, cl_copy *out)
{
    static _Atomic uint32_t turn;
    size_t n = cl->ncopies, start = n ? atomic_fetch_add(&turn, 1) % n : 0;
    cl_copy *best = NULL;
    for (size_t k = 0; k < n; k++) {
        cl_copy *c = &cl->copies[(start + k) % n];
        if (c->skey != skey || !atomic_load(&cl->nodes[c->node].alive) ||
            (whole && c->pending))
            continue;
        if (c->node == i) {
            *out = *c;
            return true;
        }
        if (!best || c->reads < best->reads)
            best = c;
    }
    if (best) {
        best->reads++;
        *out = *best;
    }
    return best != NULL;
}

/* Node i pulls copy c of stored value `skey` for a call and keeps it (a
 * copy from now on, which later readers may be sent to); the key it
 * keeps it under, or 0 when it need not (c is there already, or not
 * this job's agent) or cannot (xfer_mu held). */
static uint64_t
copy_keep_locked(cl_driver *cl, uint64_t skey, int i, const cl_copy *c)
{
    if (c->node == i || cl->nodes[i].kind == CL_ATTACHED ||
        !copy_add_locked(cl, skey, skey, c->size, i))
        return 0;
    cl->copies[cl->ncopies - 1].pending = true; /* until the call is back */
    return skey;
}

/* copy_pick_locked, and copy_keep_locked if `keep`: *keep_as its key. */
static bool
copy_pick(cl_driver *cl, uint64_t skey, int i, bool keep, cl_copy *out,
          uint64_t *keep_as)
{
    pthread_mutex_lock(&cl->xfer_mu);
    bool got = copy_pick_locked(cl, skey, i, false, out);
    *keep_as = got && keep ? copy_keep_locked(cl, skey, i, out) : 0;
    pthread_mutex_unlock(&cl->xfer_mu);
    return got;
}

/* Copy c as a ClusterArg.remote, "RAYLET JOB KEY SIZE KEEP_AS", the
 * reader keeping what it pulls under keep_as (0: not). */
static void
copy_desc(cl_driver *cl, const cl_copy *c, uint64_t keep_as,
          char desc[CL_REMOTE_DESC])
{
    const cl_node *src = &cl->nodes[c->node];
    snprintf(
        desc, CL_REMOTE_DESC, "%s %016llx %llu %llu %llu", src->addr,
        (unsigned long long)(src->kind == CL_ATTACHED ? src->job : cl->job),
        (unsigned long long)c->rkey, (unsigned long long)c->size,
        (unsigned long long)keep_as);
}

static uint64_t parked_key(cl_driver *cl, uint64_t id);

/* The store key of a ready ref's stored value, or of a parked one's (its
 * copies on nodes go by it: cl_park), or 0. */
static uint64_t
stored_key(ray_ref r)
{
    sdk_rt *rt = sdk_g;
    uint64_t skey = 0;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, r.id);
    if (o && o->state == SDK_OBJ_READY && sdk_obj_stored(o))
        skey = sdk_obj_store_key(o);
    else if (o && o->state == SDK_OBJ_PENDING && g_cl) /* or pulled now */
        skey = parked_key(g_cl, r.id);
    pthread_mutex_unlock(&rt->mu);
    return skey;
}

bool
cl_copy_where(cl_driver *cl, ray_ref r, int i, char desc[CL_REMOTE_DESC],
              uint32_t *type)
{
    bool parked;
    if (cl_ref_pending(r, &parked))
        return parked && parked_desc(cl, r.id, i, desc, type, NULL);
    sdk_rt *rt = sdk_g;
    uint64_t skey = 0;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, r.id);
    if (o && o->state == SDK_OBJ_READY && sdk_obj_stored(o)) {
        skey = sdk_obj_store_key(o);
        *type = o->type & ~SDK_TYPE_STORED;
    }
    pthread_mutex_unlock(&rt->mu);
    cl_copy c;
    uint64_t keep_as;
    if (!skey || !copy_pick(cl, skey, i, false, &c, &keep_as))
        return false;
    copy_desc(cl, &c, 0, desc);
    return true;
}

/* Push `len` bytes of `type` to node i over *fd (taken on first use);
 * its key there, or 0 with why. */
static uint64_t
push_one(cl_driver *cl, int i, int *fd, uint32_t type, const void *data,
         uint64_t len, ray_err *err, char *why, size_t whylen)
{
    if (*fd < 0 && data_take(cl, i, fd, 1, why, whylen) != 1) {
        *fd = -1;
        *err = RAY_ECLOSED;
        return 0;
    }
    uint64_t key = 0;
    int64_t t0 = rt_clock_now_ns();
    *err = xfer_push(*fd, type, data, len, &key, why, whylen);
    if (*err != RAY_OK)
        return 0;
    atomic_fetch_add(&sdk_xfer_bytes[1], len);
    atomic_fetch_add(&sdk_xfer_ns[1], (uint64_t)(rt_clock_now_ns() - t0));
    return key;
}

uint64_t
cl_push_once(cl_driver *cl, int i, uint32_t type, const void *data,
             uint64_t len, char *why, size_t whylen)
{
    int fd = -1;
    ray_err err = RAY_OK;
    uint64_t key = push_one(cl, i, &fd, type, data, len, &err, why, whylen);
    if (fd >= 0)
        data_give(cl, i, &fd, 1, err == RAY_OK || err == RAY_ESTORE_FULL);
    return key;
}

ray_err
cl_args_place(cl_driver *cl, int i, bool here, const ray_arg *args, ray_arg *a,
              uint32_t nargs, char (*desc)[CL_REMOTE_DESC], uint64_t **refs,
              uint32_t *nrefs, bool *pushed, char *why, size_t whylen)
{
    *refs = NULL;
    *nrefs = 0;
    *pushed = false;
    uint64_t bytes = 0; /* by value in the record */
    for (uint32_t k = 0; k < nargs; k++)
        if (!a[k].pad && sdk_type_buffer(a[k].type))
            bytes += a[k].v.buf.len;
    int fd = -1;
    ray_err err = RAY_OK;
    uint64_t taken[16]; /* pushed for this call only: dropped if it fails */
    uint32_t ntaken = 0;
    uint64_t kept[16]; /* copies it was to keep: forgotten if it fails */
    uint32_t nkept = 0;
    for (uint32_t k = 0; k < nargs && err == RAY_OK; k++) {
        uint64_t len = a[k].v.buf.len;
        if (a[k].pad == CL_ARG_PARKED) { /* read where it is parked */
            uint32_t type = 0;
            uint64_t keep_as = 0;
            if (!parked_desc(cl, a[k].v.u64, i, desc[k], &type, &keep_as)) {
                err = RAY_EAGAIN;
                snprintf(why, whylen,
                         "the value of argument %u moved as the call was "
                         "sent (pulled here, or its node died)",
                         k + 1);
                break;
            }
            if (keep_as && nkept < 16)
                kept[nkept++] = keep_as;
            if (!*refs && !(*refs = rt_malloc(nargs * sizeof(**refs)))) {
                err = RAY_ENOMEM;
                snprintf(why, whylen, "out of memory");
                break;
            }
            if (ray_ref_retain(args[k].v.ref) == RAY_OK)
                (*refs)[(*nrefs)++] = args[k].v.ref.id;
            a[k].type = type;
            a[k].pad = CL_ARG_REMOTE;
            a[k].v.buf.ptr = desc[k];
            a[k].v.buf.len = strlen(desc[k]);
            continue;
        }
        if (a[k].pad || !sdk_type_buffer(a[k].type) || len < XFER_KEEP_MIN)
            continue;
        uint64_t skey =
            args[k].type == RAY_T_REF ? stored_key(args[k].v.ref) : 0;
        if (!skey && bytes <= CL_RECORD_MAX - (64u << 10))
            continue; /* a value: in the record */
        cl_copy c = {0};
        uint64_t keep_as = 0;
        if (!skey || !copy_pick(cl, skey, i, !here, &c, &keep_as) ||
            (here && c.node != i)) {
            uint64_t key = push_one(cl, i, &fd, a[k].type, a[k].v.buf.ptr, len,
                                    &err, why, whylen);
            if (!key)
                break;
            bytes -= len;
            c = (cl_copy){skey, key, len, i, 0, false};
            if (!skey || !copy_add(cl, skey, key, len, i)) {
                /* For this call only: the agent gives it to the call */
                a[k].pad = CL_ARG_PUSHED;
                a[k].v.u64 = key;
                *pushed = true;
                if (ntaken < 16)
                    taken[ntaken++] = key;
                continue;
            }
        } else {
            bytes -= len;
            if (keep_as && nkept < 16)
                kept[nkept++] = keep_as;
        }
        /* A copy stays on c.node while this driver holds the value: the
         * call reads it there (or pulls it from there), holding it. */
        if (!*refs && !(*refs = rt_malloc(nargs * sizeof(**refs)))) {
            err = RAY_ENOMEM;
            snprintf(why, whylen, "out of memory");
            break;
        }
        if (ray_ref_retain(args[k].v.ref) == RAY_OK)
            (*refs)[(*nrefs)++] = args[k].v.ref.id;
        /* Pulled from another node: this job's agent keeps its copy too,
         * under the value's store key here (no key of its own is that
         * large), recorded as a copy already (copy_keep_locked). */
        copy_desc(cl, &c, keep_as, desc[k]);
        a[k].pad = CL_ARG_REMOTE;
        a[k].v.buf.ptr = desc[k];
        a[k].v.buf.len = strlen(desc[k]);
    }
    bool usable = err == RAY_OK || err == RAY_ESTORE_FULL;
    if (err != RAY_OK && fd >= 0 && usable)
        for (uint32_t k = 0; k < ntaken; k++) /* the call does not go */
            (void)xfer_free(fd, taken[k]);
    for (uint32_t k = 0; err != RAY_OK && k < nkept; k++)
        (void)copy_forget(cl, kept[k], i); /* (nothing there yet) */
    if (fd >= 0)
        data_give(cl, i, &fd, 1, usable);
    return err;
}

/* ---- a call whose copy went ---- */

typedef struct again_job {
    cl_driver *cl;
    int node;
    fl_entry e;
} again_job;

static _Atomic int again_running; /* threads of again_main */

/* Forget the copy of `skey` on the node whose raylet is `addr` (the
 * start of a ClusterArg.remote): a reader could not get it. */
static void
forget_copy_at(cl_driver *cl, uint64_t skey, const char *desc)
{
    size_t alen = strcspn(desc, " ");
    pthread_mutex_lock(&cl->xfer_mu);
    for (size_t k = 0; k < cl->ncopies;) {
        cl_copy c = cl->copies[k];
        const char *a = cl->nodes[c.node].addr;
        if (c.skey != skey || strlen(a) != alen || strncmp(a, desc, alen)) {
            k++;
            continue;
        }
        cl->copies[k] = cl->copies[--cl->ncopies];
        pthread_mutex_unlock(&cl->xfer_mu);
        copy_drop(cl, c.node, c.rkey); /* if it is still there */
        pthread_mutex_lock(&cl->xfer_mu);
    }
    pthread_mutex_unlock(&cl->xfer_mu);
}

/* The call's arguments from its record: values as they were, the values
 * it was to read from copies as refs again (e->refs holds them, in
 * order), the copies named forgotten. False when one cannot go again
 * (pushed for it, or a handle). */
bool
cl_args_back(cl_driver *cl, const Ray__Rpc__ClusterTask *t, const fl_entry *e,
             ray_arg *a)
{
    uint32_t j = 0;
    for (size_t k = 0; k < t->n_args; k++) {
        const Ray__Rpc__ClusterArg *c = t->args[k];
        memset(&a[k], 0, sizeof(a[k]));
        a[k].type = c->type;
        if ((c->actor && *c->actor) || c->pushed)
            return false;
        if (c->remote && *c->remote) {
            if (j >= e->nrefs)
                return false;
            a[k].type = RAY_T_REF;
            a[k].v.ref = sdk_ref(e->refs[j++]);
            forget_copy_at(cl, stored_key(a[k].v.ref), c->remote);
        } else if (sdk_type_buffer(c->type)) {
            a[k].v.buf.ptr = c->data.data;
            a[k].v.buf.len = c->data.len;
        } else {
            a[k].v.u64 = c->bits;
        }
    }
    return j == e->nrefs;
}

bool
cl_run_here(cl_driver *cl, fl_entry *e)
{
    Ray__Rpc__ClusterTask *t =
        e->task && e->nhandles == 0
            ? ray__rpc__cluster_task__unpack(NULL, e->len, e->task)
            : NULL;
    if (!t || t->kind != RAY__RPC__CLUSTER_KIND__CLUSTER_CALL) {
        if (t)
            ray__rpc__cluster_task__free_unpacked(t, NULL);
        return false; /* an actor's call, or one that holds handles */
    }
    ray_arg *a = rt_calloc(t->n_args + 1, sizeof(*a));
    bool ok = a && cl_args_back(cl, t, e, a);
    if (ok) {
        ray_call_opts o = cl_record_opts(t, e->retries);
        ok = sdk_drv_submit_into(e->id, t->function, sdk_name_hash(t->function),
                                 a, (uint32_t)t->n_args, &o) == RAY_OK;
    }
    rt_free(a);
    ray__rpc__cluster_task__free_unpacked(t, NULL);
    if (ok) {
        RT_WARN("cluster: a call runs again on this node: no other node "
                "can take it");
        atomic_fetch_add(&sdk_g->calls_resent, 1);
        cl_entry_done(e); /* its holds: the call here holds its own */
    }
    return ok;
}

/* Place the call's arguments again (copies that went are forgotten:
 * another copy, or a push) and send it to node i, or to another if i has
 * gone. RAY_OK, or why not in `why`. */
static ray_err
send_again(cl_driver *cl, int i, fl_entry *e, const Ray__Rpc__ClusterTask *t,
           char *why, size_t whylen)
{
    uint32_t n = (uint32_t)t->n_args;
    ray_arg *a = rt_calloc(n + 1, sizeof(*a));
    ray_arg *out = rt_calloc(n + 1, sizeof(*out));
    ray_view *views = rt_calloc(n + 1, sizeof(*views));
    char(*rdesc)[CL_REMOTE_DESC] = rt_calloc(n + 1, CL_REMOTE_DESC);
    uint32_t nviews = 0;
    fl_entry ne = {.id = e->id};
    bool pushed = false;
    ray_err err = RAY_EOBJECT_LOST;
    if (!a || !out || !views || !rdesc || !cl_args_back(cl, t, e, a))
        snprintf(why, whylen, "its arguments cannot be sent again");
    else if (!atomic_load(&cl->nodes[i].alive) &&
             (e->pinned || (i = cl_choose(cl, NULL, false, i)) < 0))
        snprintf(why, whylen,
                 e->pinned ? "its node (pinned) went"
                           : "no other node can run it");
    else if (!cl_args_resolve(a, n, out, views, &nviews, NULL, true))
        snprintf(why, whylen, "a value it reads is gone here too");
    else
        err = cl_args_place(cl, i, false, a, out, n, rdesc, &ne.refs, &ne.nrefs,
                            &pushed, why, whylen);
    if (err == RAY_OK) {
        Ray__Rpc__ClusterTask base = *t; /* its options as they were */
        ne.task = cl_pack_task(&base, out, n, NULL, &ne.len);
        ne.retries = pushed ? 0 : e->retries - 1;
        ne.pinned = e->pinned;
        ne.handles = e->handles;
        ne.nhandles = e->nhandles;
        if (!ne.task || !cl_send_to(cl, i, &ne)) {
            err = RAY_EWORKER_DIED;
            snprintf(why, whylen, "its node went as it was sent again");
            rt_free(ne.task);
            ne.handles = NULL;
            ne.nhandles = 0;
            cl_entry_done(&ne);
        } else {
            e->handles = NULL; /* the new entry holds them */
            e->nhandles = 0;
            atomic_fetch_add(&sdk_g->calls_resent, 1);
        }
    } else {
        cl_entry_done(&ne);
    }
    cl_views_release(views, nviews);
    rt_free(a);
    rt_free(out);
    rt_free(views);
    rt_free(rdesc);
    return err;
}

static void *
again_main(void *arg)
{
    again_job *j = arg;
    fl_entry *e = &j->e;
    char why[400] = "its record could not be read again";
    copies_forget_pulled(j->cl, j->node, e); /* (no lock held here) */
    /* A value it reads is made again (its node died): it waits for
     * that, through cluster_defer.c. */
    bool parked, pending = false;
    for (uint32_t k = 0; k < e->nrefs && !pending; k++)
        pending = cl_ref_pending(sdk_ref(e->refs[k]), &parked) && !parked;
    if (pending && !e->pinned &&
        cl_defer_rebuild(j->cl, j->node, e, why, sizeof(why))) {
        rt_free(j);
        atomic_fetch_sub(&again_running, 1);
        return NULL;
    }
    Ray__Rpc__ClusterTask *t =
        ray__rpc__cluster_task__unpack(&rt_protobuf_allocator, e->len, e->task);
    ray_err err = t ? send_again(j->cl, j->node, e, t, why, sizeof(why))
                    : RAY_EOBJECT_LOST;
    if (t)
        protobuf_c_message_free_unpacked(&t->base, &rt_protobuf_allocator);
    if (err == RAY_EAGAIN && !e->pinned && /* a value it reads is made */
        cl_defer_rebuild(j->cl, j->node, e, why, sizeof(why))) { /* again */
        rt_free(j);
        atomic_fetch_sub(&again_running, 1);
        return NULL;
    }
    if (err != RAY_OK) {
        char msg[500];
        snprintf(msg, sizeof(msg),
                 "a value it was to read on another node was lost, and %s",
                 why);
        cl_fail(e->id, err, msg);
    }
    rt_free(e->task);
    e->task = NULL;
    cl_entry_done(e); /* the old holds: the new entry took its own */
    rt_free(j);
    atomic_fetch_sub(&again_running, 1);
    return NULL;
}

void
cl_args_again_wait(void)
{
    for (int k = 0; k < 60000 && atomic_load(&again_running); k++)
        usleep(1000);
}

bool
cl_args_again(cl_driver *cl, int i, fl_entry *e)
{
    if (cl->nodes[i].kind == CL_ATTACHED)
        return false; /* an actor call of another job: not a call here */
    again_job *j = rt_malloc(sizeof(*j));
    if (!j)
        return false;
    *j = (again_job){cl, i, *e};
    pthread_t th;
    atomic_fetch_add(&again_running, 1);
    if (pthread_create(&th, NULL, again_main, j) != 0) {
        atomic_fetch_sub(&again_running, 1);
        rt_free(j);
        return false;
    }
    pthread_detach(th);
    return true;
}

/* ---- pulls ---- */

enum { CL_PULL_DROP = CL_PULL_GET + 1 }; /* a parked copy dropped: first */

typedef struct pull_job {
    struct pull_job *next;  /* queued (cl->pq_head) */
    struct pull_job *hnext; /* its hash chain (cl->pjobs), while queued or
                               parked */
    cl_driver *cl;
    int node;
    fl_entry e; /* the call, for a run elsewhere */
    uint64_t key, size;
    uint64_t skey; /* lineage: its store key here, reserved (cl_park) */
    uint32_t type;
    int prio;     /* CL_PULL_* */
    bool parked;  /* kept on its node until wanted (sdk_obj.parked) */
    bool lineage; /* made again, should its node die (cl_park) */
    bool drop;    /* nobody holds it: the copy there goes */
} pull_job;

/* The link to job `id` in its hash chain, or to the chain's end (xfer_mu
 * held). */
static pull_job **
pj_link(cl_driver *cl, uint64_t id)
{
    pull_job **p =
        &cl->pjobs[(id * 0x9E3779B97F4A7C15ull) >> (64 - CL_PJOB_BITS)];
    while (*p && (*p)->e.id != id)
        p = &(*p)->hnext;
    return p;
}

static pull_job *
pj_find(cl_driver *cl, uint64_t id)
{
    return *pj_link(cl, id);
}

static void
pj_unlink(cl_driver *cl, pull_job *j)
{
    pull_job **p = pj_link(cl, j->e.id);
    if (*p == j)
        *p = j->hnext;
    j->hnext = NULL;
}

/* Into the queue behind those of its priority or higher (xfer_mu). */
static void
pq_insert(cl_driver *cl, pull_job *j)
{
    pull_job **p = &cl->pq_head;
    while (*p && (*p)->prio >= j->prio)
        p = &(*p)->next;
    j->next = *p;
    *p = j;
    atomic_fetch_add(&cl->pq_n, 1);
}

/* Out of the queue (xfer_mu): false when it is not there. */
static bool
pq_unlink(cl_driver *cl, pull_job *j)
{
    for (pull_job **p = &cl->pq_head; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            atomic_fetch_sub(&cl->pq_n, 1);
            return true;
        }
    return false;
}

static void *puller_main(void *arg);

/* One more puller, up to CL_PULLERS (xfer_mu held): false when none runs
 * (and none could start). */
static bool
pullers_more(cl_driver *cl)
{
    pthread_t th;
    if (cl->pullers < CL_PULLERS &&
        pthread_create(&th, NULL, puller_main, cl) == 0) {
        pthread_detach(th);
        cl->pullers++;
    }
    return cl->pullers > 0;
}

/* Queue j (xfer_mu held), with a puller for it: false when none runs and
 * none could start (j is then not queued). */
static bool
pq_go(cl_driver *cl, pull_job *j)
{
    pq_insert(cl, j);
    if (pullers_more(cl))
        return true;
    pq_unlink(cl, j);
    return false;
}

/* Job j parks (dir 1) or no longer does (-1). What it costs while parked
 * (lineage) is bounded: this record and the call's own (its name, options
 * and small arguments, as sent; CL_RECORD_MAX at most), one per result
 * parked, which lives while the result is held and not pulled here. */
static void
parked_count(cl_driver *cl, const pull_job *j, int dir)
{
    int64_t bytes = (int64_t)(sizeof(*j) + j->e.len) * dir;
    atomic_fetch_add(&cl->nparked, (uint32_t)dir);
    atomic_fetch_add(&sdk_g->objects_parked, (uint64_t)(int64_t)dir);
    atomic_fetch_add(&sdk_g->lineage_bytes, (uint64_t)bytes);
}

/* Parked job j is wanted (xfer_mu held): pulled now. */
static void
unpark(cl_driver *cl, pull_job *j, int prio)
{
    j->parked = false;
    parked_count(cl, j, -1);
    j->prio = prio;
    if (!pq_go(cl, j)) { /* no thread: parked again, pulled later */
        j->parked = true;
        parked_count(cl, j, 1);
        RT_LOG_RATELIMITED(RT_LOG_ERROR, "cluster: no thread to pull a value");
    }
}

/* Object o (pending, the runtime's mu held) is waited for at `prio`. */
static void
want_locked(cl_driver *cl, sdk_obj *o, int prio)
{
    if (o->wanted < prio + 1)
        o->wanted = (uint8_t)(prio + 1); /* should it park later */
    pthread_mutex_lock(&cl->xfer_mu);
    pull_job *j = pj_find(cl, sdk_objects_id(o));
    if (j && j->parked) {
        o->parked = 0;
        unpark(cl, j, prio);
        o->parked = j->parked;
    } else if (j && j->prio < prio && pq_unlink(cl, j)) {
        j->prio = prio;
        pq_insert(cl, j);
    }
    pthread_mutex_unlock(&cl->xfer_mu);
}

void
cl_pull_hurry(cl_driver *cl, const uint64_t *ids, size_t n, int prio)
{
    sdk_rt *rt = sdk_g;
    pthread_mutex_lock(&rt->mu);
    for (size_t k = 0; k < n; k++) {
        sdk_obj *o = sdk_objects_lookup(&rt->store, ids[k]);
        if (o && o->state == SDK_OBJ_PENDING && !o->producer)
            want_locked(cl, o, prio);
    }
    pthread_mutex_unlock(&rt->mu);
}

/* sdk_remote_want: something here waits for parked object o. */
static void
want_hook(sdk_obj *o)
{
    if (g_cl)
        want_locked(g_cl, o, CL_PULL_AHEAD);
}

/* on_unheld: parked object `id` lost its last holder (the runtime's mu
 * held): its copy on the node goes, on a puller. */
static bool
unheld_hook(uint64_t id)
{
    cl_driver *cl = g_cl;
    if (!cl)
        return false;
    pthread_mutex_lock(&cl->xfer_mu);
    pull_job *j = pj_find(cl, id);
    bool drop = j && j->parked;
    if (drop) {
        pj_unlink(cl, j);
        j->parked = false;
        parked_count(cl, j, -1);
        j->drop = true;
        j->prio = CL_PULL_DROP;
        pq_insert(cl, j); /* with no thread now, for the next puller */
        (void)pullers_more(cl);
    }
    pthread_mutex_unlock(&cl->xfer_mu);
    return drop;
}

void
cl_parked_hooks(bool on)
{
    sdk_rt *rt = sdk_g;
    pthread_mutex_lock(&rt->mu);
    sdk_remote_want = on ? want_hook : NULL;
    rt->store.on_unheld = on ? unheld_hook : NULL;
    pthread_mutex_unlock(&rt->mu);
}

int
cl_parked_near(cl_driver *cl, const ray_arg *args, uint32_t nargs)
{
    if (!atomic_load(&cl->nparked))
        return -1;
    uint64_t bytes[256] = {0}; /* parked here, by node (at most 255) */
    int best = -1;
    pthread_mutex_lock(&cl->xfer_mu);
    for (uint32_t k = 0; k < nargs; k++) {
        pull_job *j = args[k].type == RAY_T_REF && !args[k].pad
                          ? pj_find(cl, args[k].v.ref.id)
                          : NULL;
        if (!j || !j->parked || j->node < 0 || j->node >= 256 ||
            !atomic_load(&cl->nodes[j->node].alive))
            continue;
        bytes[j->node] += j->size;
        if (best < 0 || bytes[j->node] > bytes[best])
            best = j->node;
    }
    pthread_mutex_unlock(&cl->xfer_mu);
    return best;
}

/* The reserved store key of parked object `id`, or 0 (xfer_mu not held). */
static uint64_t
parked_key(cl_driver *cl, uint64_t id)
{
    pthread_mutex_lock(&cl->xfer_mu);
    pull_job *j = pj_find(cl, id);
    uint64_t skey = j ? j->skey : 0;
    pthread_mutex_unlock(&cl->xfer_mu);
    return skey;
}

static bool parked_desc_now(cl_driver *cl, uint64_t id, int i, char *desc,
                            uint32_t *type, uint64_t *keep_as, int *dead);

/* A parked ref's value for a call on node i (CL_ARG_PARKED): a copy of
 * it, there or on another node (its own, or one a call pulled there
 * before: readers spread over them), as a ClusterArg.remote into desc,
 * node i keeping what it pulls (under the value's reserved key, *keep_as,
 * a copy from now on; keep_as NULL: not kept); false when it is parked
 * no more (pulled, or lost with its node). */
static bool
parked_desc(cl_driver *cl, uint64_t id, int i, char *desc, uint32_t *type,
            uint64_t *keep_as)
{
    int dead = -1;
    for (int round = 0; round < 2; round++) {
        if (parked_desc_now(cl, id, i, desc, type, keep_as, &dead))
            return true;
        if (dead < 0)
            return false;
        /* Its node died, and node_lost has not got to its values yet:
         * done now (read from another copy, or made again). */
        parked_node_lost(cl, dead);
    }
    return false;
}

static bool
parked_desc_now(cl_driver *cl, uint64_t id, int i, char *desc, uint32_t *type,
                uint64_t *keep_as, int *dead)
{
    pthread_mutex_lock(&cl->xfer_mu);
    pull_job *j = pj_find(cl, id);
    cl_copy c = {0, j ? j->key : 0, 0, j ? j->node : 0, 0, false};
    /* A copy, or else where it was made while that node lives: a reader
     * that failed there forgets its record (forget_copy_at), and the
     * value is still there once a short partition ends. (Without this
     * fallback a parked value with no record left sent its callers round
     * the defer loop for good.) */
    bool ok = j && ((j->skey && copy_pick_locked(cl, j->skey, i, false, &c)) ||
                    atomic_load(&cl->nodes[j->node].alive));
    if (ok) {
        uint64_t keep =
            keep_as && j->skey ? copy_keep_locked(cl, j->skey, i, &c) : 0;
        if (keep_as)
            *keep_as = keep;
        c.size = j->size;
        copy_desc(cl, &c, keep, desc);
        *type = j->type;
    }
    *dead = !ok && j && j->parked && !atomic_load(&cl->nodes[j->node].alive)
                ? j->node
                : -1;
    pthread_mutex_unlock(&cl->xfer_mu);
    return ok;
}

/* Parked (or queued) job j's node is gone: it reads from another copy of
 * its value now, if one is left (xfer_mu held). */
static bool
rehome(cl_driver *cl, pull_job *j)
{
    cl_copy c;
    if (!j->skey || !copy_pick_locked(cl, j->skey, -1, true, &c) ||
        c.node == j->node)
        return false;
    j->node = c.node;
    j->key = c.rkey;
    return true;
}

/* Settle the pulled result: the stored value `skey` (ok), or an error. */
static void
settle(pull_job *j, ray_err err, const char *msg, uint64_t skey)
{
    sdk_rt *rt = sdk_g;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, j->e.id);
    if (err == RAY_OK && (!o || o->state != SDK_OBJ_PENDING)) {
        sdk_store_forget(rt, skey); /* nobody wants it now */
        cl_value_freed(skey);       /* nor its copies */
    } else {
        cl_settle(rt, j->e.id, err, msg, SDK_TYPE_STORED | j->type, &skey,
                  sizeof(skey), &cbs);
    }
    pthread_mutex_unlock(&rt->mu);
    if (cbs)
        sdk_run_callbacks(cbs);
    sdk_wake_driver(rt);
}

/* The value of job j is gone with its node: its call runs again if it
 * may, else its result is RAY_EOBJECT_LOST saying why. */
static void
lost(pull_job *j, const char *why)
{
    cl_driver *cl = j->cl;
    cl_node *nd = &cl->nodes[j->node];
    if (j->skey) /* its other copies (none, or gone with it) */
        cl_value_freed(j->skey);
    char rwhy[300] = "it has no retry left";
    if (j->lineage && j->e.task &&
        cl_defer_rebuild(cl, j->node, &j->e, rwhy, sizeof(rwhy))) {
        atomic_fetch_add(&sdk_g->objects_rebuilt, 1);
        RT_WARN("cluster: the value of %llu bytes on node %s (%s) was lost "
                "(%s): the call that made it runs again",
                (unsigned long long)j->size, nd->id, nd->addr, why);
        return;
    }
    if (!j->lineage && j->e.retries > 0 && j->e.task &&
        cl_place_again(cl, j->node, &j->e)) {
        RT_WARN("cluster: the value of %llu bytes on node %s (%s) was lost "
                "(%s): its call runs again elsewhere",
                (unsigned long long)j->size, nd->id, nd->addr, why);
        return; /* the entry is the new node's (or the wait's) now */
    }
    char msg[800];
    snprintf(msg, sizeof(msg),
             "the value (%llu bytes) was on node %s (%s), which went before "
             "it was pulled (%s), and its call cannot run again: %s",
             (unsigned long long)j->size, nd->id, nd->addr, why, rwhy);
    settle(j, RAY_EOBJECT_LOST, msg, 0);
    cl_entry_done(&j->e);
}

/* A pull whose node went: queued again to pull from another copy, if
 * one is left. */
static bool
again_elsewhere(cl_driver *cl, pull_job *j)
{
    pthread_mutex_lock(&cl->xfer_mu);
    bool again = !cl->xfer_stop && !pj_find(cl, j->e.id) && rehome(cl, j);
    if (again && (again = pq_go(cl, j)))
        *pj_link(cl, j->e.id) = j;
    pthread_mutex_unlock(&cl->xfer_mu);
    return again;
}

static void
pull_one(pull_job *j)
{
    cl_driver *cl = j->cl;
    cl_node *nd = &cl->nodes[j->node];
    sdk_rt *rt = sdk_g;
    char why[400] = "";
    int fds[XFER_STREAMS];
    uint64_t skey = j->skey; /* a parked value's: its copies go by it */
    void *dst = NULL;
    ray_err err = sdk_store_begin(rt, j->size, CL_PULL_ROOM_MS, 0, &skey, &dst);
    if (err != RAY_OK)
        skey = 0;
    int64_t t0 = rt_clock_now_ns(); /* with room for it */
    if (err != RAY_OK)
        snprintf(why, sizeof(why), "%s", ray_last_error_detail());
    int n = data_take(cl, j->node, fds, XFER_STREAMS, why, sizeof(why));
    bool gone = n == 0; /* no connection: the node or its agent went */
    if (err == RAY_OK && n) {
        err = xfer_pull(fds, n, j->key, dst, j->size, why, sizeof(why));
        gone = err == RAY_ECLOSED || err == RAY_ETIMEDOUT;
    }
    if (err == RAY_OK && n) {
        atomic_fetch_add(&sdk_xfer_bytes[0], j->size);
        atomic_fetch_add(&sdk_xfer_ns[0], (uint64_t)(rt_clock_now_ns() - t0));
    }
    /* The node's copy stays for calls on other nodes (cl_copy) while
     * this driver holds the value; it goes now if the pull failed. */
    bool kept = err == RAY_OK && n &&
                (j->skey || copy_add(cl, skey, j->key, j->size, j->node));
    if (n && !gone && !kept)
        (void)xfer_free(fds[0], j->key);
    data_give(cl, j->node, fds, n, !gone && err == RAY_OK);
    pthread_mutex_lock(&cl->xfer_mu);
    pj_unlink(cl, j); /* pulled, or not: its value's copies are as found */
    pthread_mutex_unlock(&cl->xfer_mu);
    if (err == RAY_OK && !n)
        err = RAY_ECLOSED;
    if (skey)
        (void)sdk_store_end(rt, skey, err == RAY_OK);
    if (err == RAY_OK) {
        settle(j, RAY_OK, NULL, skey);
        cl_entry_done(&j->e);
    } else if (gone && again_elsewhere(cl, j)) {
        return; /* pulled from another copy: queued again */
    } else if (gone) {
        lost(j, why);
    } else {
        if (j->skey) /* failed: its copies go */
            cl_value_freed(j->skey);
        char msg[600];
        snprintf(msg, sizeof(msg),
                 "the value (%llu bytes) on node %s (%s) could not be "
                 "pulled: %s",
                 (unsigned long long)j->size, nd->id, nd->addr, why);
        settle(j, err, msg, 0);
        cl_entry_done(&j->e);
    }
    rt_free(j);
}

/* A puller: pulls queued jobs one after another (and drops the copies
 * nobody holds); ends when none is left (or, leaving, drops them). */
static void *
puller_main(void *arg)
{
    cl_driver *cl = arg;
    pthread_mutex_lock(&cl->xfer_mu);
    for (pull_job *j; (j = cl->pq_head);) {
        pq_unlink(cl, j); /* (in pj_link's chains until it is pulled) */
        bool stop = cl->xfer_stop;
        if (stop && !j->drop)
            pj_unlink(cl, j);
        pthread_mutex_unlock(&cl->xfer_mu);
        if (j->drop || stop) { /* nobody waits for it */
            if (j->drop && !stop && j->skey)
                cl_value_freed(j->skey); /* each copy, its own too */
            else if (j->drop && !stop)
                copy_drop(cl, j->node, j->key);
            cl_entry_done(&j->e);
            rt_free(j);
        } else {
            pull_one(j);
        }
        pthread_mutex_lock(&cl->xfer_mu);
    }
    if (--cl->pullers == 0)
        pthread_cond_broadcast(&cl->xfer_cv);
    pthread_mutex_unlock(&cl->xfer_mu);
    return NULL;
}

static pull_job *
job_new(cl_driver *cl, int i, fl_entry *e, uint64_t key, uint64_t size,
        uint32_t type)
{
    pull_job *j = rt_calloc(1, sizeof(*j));
    if (j)
        *j = (pull_job){.cl = cl,
                        .node = i,
                        .e = *e,
                        .key = key,
                        .size = size,
                        .type = type,
                        .prio = CL_PULL_AHEAD};
    return j;
}

bool
cl_pull_start(cl_driver *cl, int i, fl_entry *e, uint64_t key, uint64_t size,
              uint32_t type)
{
    pull_job *j = job_new(cl, i, e, key, size, type);
    if (!j)
        return false;
    pthread_mutex_lock(&cl->xfer_mu);
    bool queued = pq_go(cl, j);
    if (queued) {
        pull_job **p = pj_link(cl, e->id);
        if (!*p)
            *p = j;
    }
    pthread_mutex_unlock(&cl->xfer_mu);
    if (!queued)
        rt_free(j);
    return queued;
}

bool
cl_park(cl_driver *cl, int i, fl_entry *e, uint64_t key, uint64_t size,
        uint32_t type)
{
    pull_job *j = job_new(cl, i, e, key, size, type);
    if (!j)
        return false;
    j->lineage = true;
    sdk_rt *rt = sdk_g;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, e->id);
    pthread_mutex_lock(&cl->xfer_mu);
    /* Parked only while its node is known alive here: node_lost's sweep
     * (cl_copies_node_lost) comes after that changes, so it finds it. */
    bool ok = o && o->state == SDK_OBJ_PENDING && o->refs > 0 &&
              !pj_find(cl, e->id) && atomic_load(&cl->nodes[i].alive) &&
              !cl->xfer_stop;
    if (ok) {
        *pj_link(cl, e->id) = j;
        o->task = 1; /* (listed as a call's result) */
        /* Its copies go by a store key reserved for it here: this one,
         * and those calls on other nodes pull (noted as for a stored
         * value's); freed together (cl_value_freed), dropped or pulled. */
        j->skey = sdk_store_new_key(rt);
        if (!copy_add_locked(cl, j->skey, key, size, i))
            j->skey = 0; /* no memory: read only where it is */
        j->parked = true;
        parked_count(cl, j, 1);
        if (sdk_obj_park(rt, o, &cbs))
            unpark(cl, j, o->wanted ? o->wanted - 1 : CL_PULL_AHEAD);
        o->parked = j->parked;
    }
    /* Nobody holds it (a call made and forgotten): dropped there. */
    bool unheld = !ok && (!o || (o->state == SDK_OBJ_PENDING && !o->refs));
    pthread_mutex_unlock(&cl->xfer_mu);
    pthread_mutex_unlock(&rt->mu);
    if (unheld) {
        rt_free(j);
        copy_drop(cl, i, key);
        cl_settle_now(e->id, RAY_ECANCELLED, "nobody holds it", 0, NULL, 0);
        cl_entry_done(e);
        return true;
    }
    if (!ok) {
        rt_free(j);
        return cl_pull_start(cl, i, e, key, size, type);
    }
    if (cbs)
        sdk_run_callbacks(cbs);
    return true;
}

/* Node i died: the results parked there are made again, or fail. */
static void
parked_node_lost(cl_driver *cl, int i)
{
    if (!atomic_load(&cl->nparked))
        return;
    sdk_rt *rt = sdk_g;
    pull_job *gone = NULL;
    pthread_mutex_lock(&rt->mu);
    pthread_mutex_lock(&cl->xfer_mu);
    for (uint32_t b = 0; b < CL_PJOB_BUCKETS; b++)
        for (pull_job **p = &cl->pjobs[b]; *p;) {
            pull_job *j = *p;
            if (!j->parked || j->node != i || rehome(cl, j)) {
                p = &j->hnext; /* (or read from another copy now) */
                continue;
            }
            *p = j->hnext;
            j->parked = false;
            parked_count(cl, j, -1);
            sdk_obj *o = sdk_objects_lookup(&rt->store, j->e.id);
            if (o)
                o->parked = 0;
            j->next = gone;
            gone = j;
        }
    pthread_mutex_unlock(&cl->xfer_mu);
    pthread_mutex_unlock(&rt->mu);
    while (gone) {
        pull_job *j = gone;
        gone = j->next;
        lost(j, "its node died");
        rt_free(j);
    }
}

/* ---- pushes ---- */

/* ---- leaving ---- */

void
cl_data_close(cl_driver *cl)
{
    pthread_mutex_lock(&cl->xfer_mu);
    cl->xfer_stop = true; /* queued pulls are dropped */
    for (int k = 0; k < cl->nbusy; k++)
        shutdown(cl->busy[k], SHUT_RDWR);
    while (cl->pullers)
        pthread_cond_wait(&cl->xfer_cv, &cl->xfer_mu);
    pull_job *parked = NULL; /* their agents end with the driver */
    while (cl->pq_head) {    /* queued with no puller left to take them */
        pull_job *j = cl->pq_head;
        pq_unlink(cl, j);
        if (!j->drop)
            pj_unlink(cl, j);
        j->next = parked;
        parked = j;
    }
    for (uint32_t b = 0; b < CL_PJOB_BUCKETS; b++)
        while (cl->pjobs[b]) {
            pull_job *j = cl->pjobs[b];
            cl->pjobs[b] = j->hnext;
            j->next = parked;
            parked = j;
        }
    for (pull_job *j = parked; j; j = j->next)
        if (j->parked)
            parked_count(cl, j, -1);
    for (int i = 0; i < cl->n; i++) {
        cl_node *nd = &cl->nodes[i];
        while (nd->ndata)
            close(nd->data[--nd->ndata]);
    }
    rt_free(cl->copies); /* the agents end with the driver */
    cl->copies = NULL;
    cl->ncopies = cl->ccopies = 0;
    pthread_mutex_unlock(&cl->xfer_mu);
    while (parked) {
        pull_job *j = parked;
        parked = j->next;
        cl_entry_done(&j->e);
        rt_free(j);
    }
}

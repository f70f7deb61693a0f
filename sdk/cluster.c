/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster.c: a driver joined to a cluster, and its agents on the nodes.
 *
 * The driver (ray_init with an address or RAY_ADDRESS) runs its embedded
 * runtime as always: that is its own node. It asks the GCS for the alive
 * nodes, and on every other node starts the job's agent through the
 * node's raylet (scheduler/cluster/node.h): the raylet runs this same
 * executable, named by SHA-256 and fetched from the driver once, in agent
 * mode, and hands it the driver's connection. An agent is an embedded
 * runtime with the node's CPUs: it runs the tasks the driver sends by
 * function name and sends back their values.
 *
 * Placement (Ray's hybrid policy): a call stays on the driver's node
 * while under half of its CPUs are busy, else goes to the least loaded
 * node that has what it asks for (custom resources). Calls given a
 * handle of an actor in this process, and puts, stay on the driver's
 * node. Large values move on data connections of their own
 * (cluster_objects.c, transfer.h); calls with refs not ready yet wait
 * here until they are done (cluster_defer.c).
 *
 * The wire: TaskBatch frames driver -> agent, ResultBatch frames back
 * (cluster.proto). Each node has a sender thread that sends what
 * accumulated while it sent the last batch (one frame per round), and
 * one receiver thread polls every node. A node whose connection ends
 * (its raylet or agent died) is dead: its calls in flight go to another
 * node within their retries, or fail with RAY_EWORKER_DIED naming it.
 */
#include "sdk/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "runtime/ids.h"
#include "runtime/net.h"
#include "runtime/tls.h"
#include "runtime/random.h"
#include "sdk/backend.h"
#include "sdk/cluster_int.h"
#include "sdk/inflight.h"
#include "sdk/sdk_int.h"
#include "sdk/worker_int.h"
#include "sdk/wire.h"

#define MAX_NODES 64 /* other nodes a driver uses; at most 255 */
#define EXE_CHUNK (4u << 20)

cl_driver *g_cl;

void
cl_put_varint(uint8_t **p, uint64_t v)
{
    while (v >= 0x80) {
        *(*p)++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *(*p)++ = (uint8_t)v;
}

/* Append one packed ClusterTask as TaskBatch field 1. */
bool
cl_node_append(cl_node *nd, const uint8_t *task, uint32_t len)
{
    size_t need = nd->len + len + 11;
    if (need > nd->cap) {
        size_t cap = nd->cap ? nd->cap * 2 : 65536;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = rt_realloc(nd->buf, cap);
        if (!nb)
            return false;
        nd->buf = nb;
        nd->cap = cap;
    }
    uint8_t *p = nd->buf + nd->len;
    *p++ = 0x0A; /* field 1, length-delimited */
    cl_put_varint(&p, len);
    memcpy(p, task, len);
    nd->len = (size_t)(p - nd->buf) + len;
    return true;
}

static bool
write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* write_all of a frame's header and body in one system call (two sends
 * cost a second syscall and, with TCP_NODELAY, a second segment). */
static bool
write_frame(int fd, const uint8_t *hdr, size_t hlen, const uint8_t *body,
            size_t blen)
{
    struct iovec iov[2] = {{(void *)hdr, hlen}, {(void *)body, blen}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    while (m.msg_iovlen) {
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        while (m.msg_iovlen && (size_t)w >= m.msg_iov->iov_len) {
            w -= (ssize_t)m.msg_iov->iov_len;
            m.msg_iov++;
            m.msg_iovlen--;
        }
        if (m.msg_iovlen) {
            m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + w;
            m.msg_iov->iov_len -= (size_t)w;
        }
    }
    return true;
}

/* The length of the field-1 entry at p (tag, varint length, payload). */
static size_t
entry_len(const uint8_t *p, size_t left)
{
    size_t i = 1;
    uint64_t l = 0;
    for (int shift = 0; i < left && shift < 64; shift += 7) {
        uint8_t b = p[i++];
        l |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return i + l <= left ? i + (size_t)l : left;
    }
    return left;
}

/* Send `len` bytes of concatenated entries as frames of `type` of at
 * most CL_BATCH_MAX bytes each (an entry is never split; one alone is
 * within CL_RECORD_MAX). */
bool
send_batches(int fd, uint32_t type, const uint8_t *buf, size_t len)
{
    size_t at = 0;
    while (at < len) {
        size_t n = 0;
        while (at + n < len) {
            size_t e = entry_len(buf + at + n, len - at - n);
            if (n && n + e > CL_BATCH_MAX)
                break;
            n += e;
        }
        uint8_t hdr[RT_FRAME_HEADER_LEN];
        rt_frame_header h = {RT_FRAME_MAGIC, type, (uint32_t)n};
        rt_frame_header_encode(&h, hdr);
        if (!write_frame(fd, hdr, sizeof(hdr), buf + at, n))
            return false;
        at += n;
    }
    return true;
}

static void *
sender_main(void *arg)
{
    cl_node *nd = arg;
    uint8_t *out = NULL;
    size_t outcap = 0;
    pthread_mutex_lock(&nd->mu);
    for (;;) {
        while ((!nd->len || nd->sending) && !atomic_load(&g_cl->stop) &&
               atomic_load(&nd->alive))
            pthread_cond_wait(&nd->cv, &nd->mu);
        if (atomic_load(&g_cl->stop) || !atomic_load(&nd->alive))
            break;
        nd->sending = true;
        /* Swap: the submitters fill a fresh buffer while this one goes. */
        uint8_t *b = nd->buf;
        size_t len = nd->len, bcap = nd->cap;
        nd->buf = out;
        nd->cap = outcap;
        nd->len = 0;
        out = b;
        outcap = bcap;
        pthread_mutex_unlock(&nd->mu);
        bool ok = send_batches(nd->fd, RAY__RPC__MESSAGE_TYPE__MSG_TASK_BATCH,
                               out, len);
        pthread_mutex_lock(&nd->mu);
        nd->sending = false;
        if (!ok) {
            shutdown(nd->fd, SHUT_RDWR); /* the receiver handles it */
            break;
        }
    }
    pthread_mutex_unlock(&nd->mu);
    rt_free(out);
    return NULL;
}

/* ---- results ---- */

void
cl_settle(sdk_rt *rt, uint64_t id, ray_err err, const char *msg, uint32_t type,
          const void *data, size_t len, sdk_cb **cbs)
{
    sdk_obj *o = sdk_objects_lookup(&rt->store, id);
    if (!o || o->state != SDK_OBJ_PENDING)
        return;
    if (err == RAY_OK &&
        sdk_objects_set_value(&rt->store, o, type, data, len) != RAY_OK) {
        err = RAY_ENOMEM;
        msg = "out of memory for a remote task's value";
    }
    if (err != RAY_OK)
        sdk_objects_set_error(&rt->store, o, err, msg);
    rt->tasks_finished++;
    rt->tasks_failed += err != RAY_OK;
    sdk_objects_retain(o);
    sdk_object_done(rt, o, cbs);
    sdk_objects_release(&rt->store, o);
}

void
cl_fail(uint64_t id, ray_err err, const char *msg)
{
    cl_settle_now(id, err, msg, 0, NULL, 0);
}

ray_err
cl_settle_from(uint64_t id, ray_ref from)
{
    sdk_rt *rt = sdk_g;
    sdk_cb *cbs = NULL;
    ray_err err = RAY_EINVAL;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *to = sdk_objects_lookup(&rt->store, id);
    sdk_obj *fo = sdk_objects_lookup(&rt->store, sdk_ref_id(from));
    if (to && fo && to->state == SDK_OBJ_PENDING &&
        fo->state == SDK_OBJ_READY) {
        sdk_objects_move_value(&rt->store, fo, to);
        rt->tasks_finished++;
        sdk_objects_retain(to);
        sdk_object_done(rt, to, &cbs);
        sdk_objects_release(&rt->store, to);
        err = RAY_OK;
    }
    pthread_mutex_unlock(&rt->mu);
    if (cbs)
        sdk_run_callbacks(cbs);
    sdk_wake_driver(rt);
    return err;
}

void
cl_settle_now(uint64_t id, ray_err err, const char *msg, uint32_t type,
              const void *data, size_t len)
{
    sdk_rt *rt = sdk_g;
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    cl_settle(rt, id, err, msg, type, data, len, &cbs);
    pthread_mutex_unlock(&rt->mu);
    if (cbs)
        sdk_run_callbacks(cbs);
    sdk_wake_driver(rt);
}

/* Settle call or fetch e, in flight on a node that died, with the error
 * its kind gets. */
static void
lost_settle(sdk_rt *rt, fl_entry *e, const char *omsg, const char *amsg,
            const char *msg, sdk_cb **cbs)
{
    pthread_mutex_lock(&rt->mu);
    if (e->borrow)
        cl_settle(rt, e->id, RAY_EOBJECT_LOST, omsg, 0, NULL, 0, cbs);
    else
        cl_settle(rt, e->id,
                  e->retries < 0 ? RAY_EACTOR_DIED : RAY_EWORKER_DIED,
                  e->retries < 0 ? amsg : msg, 0, NULL, 0, cbs);
    pthread_mutex_unlock(&rt->mu);
    cl_entry_done(e);
}

static void
node_lost(cl_driver *cl, int i, const char *why)
{
    cl_node *nd = &cl->nodes[i];
    atomic_store(&nd->alive, 0);
    pthread_mutex_lock(&nd->mu);
    pthread_cond_broadcast(&nd->cv);
    fl_table fl = nd->fl;
    memset(&nd->fl, 0, sizeof(nd->fl));
    nd->len = 0;
    pthread_mutex_unlock(&nd->mu);
    bool other = nd->kind == CL_ATTACHED;
    if (!other)
        cl_pg_node_lost();
    RT_WARN("cluster: %s %s (%s) lost: %s; %zu calls in flight there",
            other ? "the agent of job" : "node", nd->id, nd->addr, why, fl.n);
    sdk_rt *rt = sdk_g;
    sdk_cb *cbs = NULL;
    char msg[256];
    snprintf(msg, sizeof(msg),
             "node %s (%s) died running the task (%s), and no retry is left "
             "or no other node can run it",
             nd->id, nd->addr, why);
    char amsg[256];
    if (other)
        snprintf(amsg, sizeof(amsg),
                 "the actor's agent (job %s on %s) ended (%s) running the "
                 "call: its driver left, or its node died",
                 nd->id, nd->addr, why);
    else
        snprintf(amsg, sizeof(amsg),
                 "the actor's node %s (%s) died (%s) running the call", nd->id,
                 nd->addr, why);
    char omsg[256];
    snprintf(omsg, sizeof(omsg),
             "the object's owner, this job's runtime on node %s (%s), died "
             "(%s) before it sent the value",
             nd->id, nd->addr, why);
    /* Actor calls with max_task_retries wait for their actor to move
     * (packed to the front of the table, which is ours now). */
    size_t nagain = 0;
    for (size_t k = 0; k < fl.cap; k++) {
        fl_entry *e = &fl.e[k];
        if (!e->id || e->id == FL_TOMB)
            continue;
        atomic_fetch_sub(&nd->inflight, 1);
        if (e->actor && e->call_retries != 0 && !other) {
            fl.e[nagain++] = *e;
            continue;
        }
        if (e->retries > 0 && cl_place_again(cl, i, e))
            continue;
        lost_settle(rt, e, omsg, amsg, msg, &cbs);
    }
    cl_actors_node_lost(cl, i, why);
    bool *sent = nagain ? rt_calloc(nagain, sizeof(bool)) : NULL;
    if (sent)
        cl_actor_calls_again(cl, i, fl.e, nagain, sent);
    for (size_t k = 0; k < nagain; k++)
        if (!sent || !sent[k])
            lost_settle(rt, &fl.e[k], omsg, amsg, msg, &cbs);
    rt_free(sent);
    rt_free(fl.e);
    if (cbs)
        sdk_run_callbacks(cbs);
    sdk_wake_driver(rt);
    cl_copies_node_lost(cl, i);
}

/* Can call e's result, kept on node nd, park there (cl_park)? A call of
 * this job that may run again elsewhere, from its record alone. */
static bool
parkable(const cl_node *nd, const fl_entry *e)
{
    return nd->kind == CL_JOB && e->task && e->retries > 0 && !e->pinned &&
           !e->nhandles && !e->actor && !e->borrow;
}

static void
on_results(cl_driver *cl, cl_node *nd, Ray__Rpc__ResultBatch *b)
{
    (void)cl;
    sdk_rt *rt = sdk_g;
    /* Only results of calls this node was given settle anything: an id
     * it was not sent (a confused or hostile peer) is dropped (id 0
     * marks it below). */
    size_t unknown = 0, nheld = 0, cheld = 0, npark = 0, cpark = 0;
    fl_entry *held = NULL; /* entries with handles: dropped once unlocked */
    fl_entry *park = NULL; /* entries whose values park (in result order) */
    if (b->served > atomic_load(&nd->served)) /* (its receiver only) */
        atomic_store(&nd->served, b->served);
    pthread_mutex_lock(&nd->mu);
    for (size_t i = 0; i < b->n_results; i++) {
        fl_entry e;
        Ray__Rpc__ClusterResult *r = b->results[i];
        if (fl_take(&nd->fl, r->id, &e)) {
            atomic_fetch_sub(&nd->inflight, 1);
            /* A copy it was to read is gone (its node died first): read
             * from another, or pushed again, while it may run again. */
            if (r->err == RAY_EOBJECT_LOST && e.nrefs && e.retries > 0 &&
                cl_args_again(cl, (int)(nd - cl->nodes), &e)) {
                r->id = 0;
                continue;
            }
            /* A value that stayed there: parked there while it can be
             * made again, else pulled now, on a thread, which settles it
             * (the entry goes along, to run again should the node go
             * first). Parked ones are put after the lock (cl_park). */
            if (r->stored && !r->err && sdk_type_buffer(r->type) &&
                parkable(nd, &e)) {
                fl_entry *np =
                    rt_array_room(park, npark, &cpark, sizeof(*np), 16);
                if (np) {
                    park = np;
                    park[npark++] = e;
                    continue; /* r->id: 0 once parked */
                }
            }
            if (r->stored && !r->err && sdk_type_buffer(r->type) &&
                cl_pull_start(cl, (int)(nd - cl->nodes), &e, r->stored,
                              r->stored_size, r->type)) {
                r->id = 0;
                continue;
            }
            rt_free(e.task);
            e.task = NULL;
            e.failed = r->err != 0;
            e.lost = r->err == RAY_EOBJECT_LOST;
            bool holds = e.nhandles || e.nrefs;
            fl_entry *nh =
                holds ? rt_array_room(held, nheld, &cheld, sizeof(*nh), 16)
                      : NULL;
            if (nh) {
                held = nh;
                held[nheld++] = e;
            } else if (holds) {
                RT_LOG_RATELIMITED(RT_LOG_ERROR,
                                   "cluster: out of memory: the actor handles "
                                   "and values of a finished call stay held");
                rt_free(e.handles);
                rt_free(e.refs);
            }
        } else {
            b->results[i]->id = 0;
            unknown++;
        }
    }
    pthread_mutex_unlock(&nd->mu);
    for (size_t i = 0, k = 0; i < b->n_results && k < npark; i++) {
        Ray__Rpc__ClusterResult *r = b->results[i];
        if (!r->id || r->id != park[k].id)
            continue;
        if (park[k].nrefs) /* before it settles, as for those held below */
            cl_copies_note(cl, (int)(nd - cl->nodes), &park[k], true);
        if (cl_park(cl, (int)(nd - cl->nodes), &park[k], r->stored,
                    r->stored_size, r->type))
            r->id = 0;
        else
            cl_entry_done(&park[k]); /* EPROTO below: no memory */
        k++;
    }
    rt_free(park);
    if (unknown)
        RT_LOG_RATELIMITED(RT_LOG_WARN,
                           "cluster: node %s sent %zu results of calls it was "
                           "not given: dropped",
                           nd->id, unknown);
    /* The copies calls here pulled are whole, and those they could not
     * pull are forgotten, before their results settle: a caller that goes
     * on at once is not sent to one. */
    for (size_t i = 0; i < nheld; i++)
        if (held[i].nrefs)
            cl_copies_note(cl, (int)(nd - cl->nodes), &held[i], !held[i].lost);
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < b->n_results; i++) {
        Ray__Rpc__ClusterResult *r = b->results[i];
        ray_err err = (ray_err)r->err;
        const char *msg = r->message;
        if (err && !strcmp(rt_err_name(err), "RAY_EUNKNOWN")) {
            err = RAY_EPROTO; /* not an error this side knows */
            msg = "the node sent an unknown error code";
        } else if (!err && r->stored) { /* not pulled (cl_pull_start) */
            err = RAY_EPROTO;
            msg = "the node kept a large value that could not be pulled (of "
                  "no buffer type, or out of memory)";
        } else if (!err && (r->type > RAY_T_I64S ||
                            (sdk_type_scalar(r->type) && r->data.len > 8))) {
            err = RAY_EPROTO; /* never a stored value's descriptor */
            msg = "the node sent a value of an unknown type";
        }
        if (r->id)
            cl_settle(rt, r->id, err, msg, r->type, r->data.data, r->data.len,
                      &cbs);
    }
    pthread_mutex_unlock(&rt->mu);
    if (cbs)
        sdk_run_callbacks(cbs);
    sdk_wake_driver(rt);
    for (size_t i = 0; i < nheld; i++)
        cl_entry_done(&held[i]);
    rt_free(held);
}

/* A node's output: each whole line to this process's stdout, after the
 * node's address (the lines of its workers carry their pid). */
static void
on_output(cl_node *nd, const Ray__Rpc__LogLines *l)
{
    const uint8_t *p = l->text.data, *end = p + l->text.len;
    flockfile(stdout);
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        if (!nl) { /* keep the start of a line (at most 64 KiB) */
            size_t keep = nd->npartial + n > 65536 ? 0 : n;
            char *np =
                keep ? rt_realloc(nd->partial, nd->npartial + keep) : NULL;
            if (np) {
                memcpy(np + nd->npartial, p, keep);
                nd->partial = np;
                nd->npartial += keep;
            }
            break;
        }
        char addr[RT_HOST_MAX];
        snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(nd->addr, ":"),
                 nd->addr);
        fprintf(stdout, "(node=%s) %.*s%.*s\n", addr, (int)nd->npartial,
                nd->partial ? nd->partial : "", (int)n, (const char *)p);
        nd->npartial = 0;
        p = nl + 1;
    }
    fflush(stdout);
    funlockfile(stdout);
}

static void *
receiver_main(void *arg)
{
    cl_driver *cl = arg;
    struct pollfd p[MAX_NODES + 1];
    while (!atomic_load(&cl->stop)) {
        int map[MAX_NODES], n = 0;
        p[0] = (struct pollfd){.fd = cl->wake[0], .events = POLLIN};
        for (int i = 0; i < cl->n; i++)
            if (atomic_load(&cl->nodes[i].alive) && cl->nodes[i].fd >= 0) {
                p[n + 1] =
                    (struct pollfd){.fd = cl->nodes[i].fd, .events = POLLIN};
                map[n++] = i;
            }
        if (poll(p, (nfds_t)n + 1, 1000) <= 0)
            continue;
        if (p[0].revents) { /* a node joined, or stop */
            char b[64];
            if (read(cl->wake[0], b, sizeof(b)) < 0)
                (void)0;
            continue;
        }
        for (int k = 0; k < n; k++) {
            if (!p[k + 1].revents)
                continue;
            cl_node *nd = &cl->nodes[map[k]];
            for (;;) {
                uint32_t type;
                ProtobufCMessage *m = NULL;
                ray_err err = rt_frame_reader_read(&nd->rd, nd->fd, &type, &m);
                if (err == RAY_EAGAIN)
                    break;
                if (err != RAY_OK) {
                    node_lost(cl, map[k],
                              err == RAY_ECLOSED
                                  ? "its connection closed"
                                  : rt_frame_reader_detail(&nd->rd));
                    break;
                }
                if (type == RAY__RPC__MESSAGE_TYPE__MSG_RESULT_BATCH)
                    on_results(cl, nd, (Ray__Rpc__ResultBatch *)m);
                else if (type == RAY__RPC__MESSAGE_TYPE__MSG_LOG_LINES)
                    on_output(nd, (Ray__Rpc__LogLines *)m);
                else if (type == RAY__RPC__MESSAGE_TYPE__MSG_TASK_BATCH &&
                         nd->kind != CL_ATTACHED)
                    cl_borrow_asked(cl, map[k], (Ray__Rpc__TaskBatch *)m);
                else
                    RT_WARN("cluster: node %s sent %s: ignored", nd->id,
                            rt_proto_type_name(type));
                rt_proto_free(m);
            }
        }
    }
    return NULL;
}

/* ---- placement and submission ---- */

/* Does node `nd` have what `want` ("gpu:1,disk:4") asks for, in total?
 * The same parse as the raylet's (scheduler/resources.h). */
bool
cl_node_fits(const cl_node *nd, const char *want)
{
    sched_demand d;
    return !want || !*want ||
           sched_res_parse_demand(&nd->res, want, &d, NULL, 0) == RAY_OK;
}

/* Does this node (the embedded raylet) have it: RAY_OK, RAY_ENOTFOUND,
 * or RAY_EINVAL for a malformed spec (the local runtime says so). */
ray_err
cl_local_demand(const char *want)
{
    if (!want || !*want)
        return RAY_OK;
    sdk_rt *rt = sdk_g;
    sched_demand d;
    pthread_mutex_lock(&rt->mu);
    ray_err err = rt->rl_api->parse_demand(rt->rl, want, &d, NULL, 0);
    pthread_mutex_unlock(&rt->mu);
    return err;
}

/* Can a node of `ncpu` CPUs ever run a call needing `num_cpus`? */
static bool
cpus_fit(const ray_call_opts *opts, int ncpu)
{
    return !opts || opts->num_cpus <= (double)ncpu;
}

/* Where a call goes: -1 the driver's node, else a node index; -2: no
 * node alive has what it asks for. */
int
cl_choose(cl_driver *cl, const ray_call_opts *opts, bool local_fits, int avoid)
{
    sdk_rt *rt = sdk_g;
    const char *want = opts ? opts->resources : NULL;
    if (local_fits && avoid < 0) {
        uint64_t live = __atomic_load_n(&rt->tasks_live, __ATOMIC_RELAXED);
        if (live * 2 < (uint64_t)cl->local_cpus)
            return -1;
    }
    int best = -1;
    double best_load =
        local_fits && avoid < 0
            ? (double)__atomic_load_n(&rt->tasks_live, __ATOMIC_RELAXED) /
                  cl->local_cpus
            : 1e300;
    uint64_t start = atomic_fetch_add(&cl->rr, 1);
    for (int k = 0; k < cl->n; k++) {
        int i = (int)((start + (uint64_t)k) % (uint64_t)cl->n);
        cl_node *nd = &cl->nodes[i];
        if (i == avoid || nd->kind != CL_JOB || !atomic_load(&nd->alive) ||
            !cl_node_fits(nd, want) || !cpus_fit(opts, nd->ncpu))
            continue;
        double load = (double)atomic_load(&nd->inflight) / nd->ncpu;
        if (load < best_load) {
            best_load = load;
            best = i;
        }
    }
    if (best < 0 && !(local_fits && avoid < 0))
        return -2; /* nowhere */
    return best;
}

int
cl_spread(cl_driver *cl, const ray_call_opts *opts, bool local_fits)
{
    const char *want = opts ? opts->resources : NULL;
    int cand[MAX_NODES + 1], nc = 0;
    if (local_fits)
        cand[nc++] = -1;
    for (int i = 0; i < cl->n; i++) {
        cl_node *nd = &cl->nodes[i];
        if (nd->kind == CL_JOB && atomic_load(&nd->alive) &&
            cl_node_fits(nd, want) && cpus_fit(opts, nd->ncpu))
            cand[nc++] = i;
    }
    if (!nc)
        return -2;
    return cand[atomic_fetch_add(&cl->spread, 1) % (uint64_t)nc];
}

bool
cl_node_full(cl_driver *cl, int i)
{
    if (i < 0)
        return __atomic_load_n(&sdk_g->tasks_live, __ATOMIC_RELAXED) >=
               (uint64_t)cl->local_cpus;
    return atomic_load(&cl->nodes[i].inflight) >= cl->nodes[i].ncpu;
}

bool
cl_send_to(cl_driver *cl, int i, fl_entry *e)
{
    cl_node *nd = &cl->nodes[i];
    pthread_mutex_lock(&nd->mu);
    bool ok = atomic_load(&nd->alive) && fl_put(&nd->fl, e);
    bool alone = ok && atomic_fetch_add(&nd->inflight, 1) == 0;
    if (alone && !nd->sending && !nd->len && e->len <= (64u << 10)) {
        /* The only call in flight there, nothing queued, nobody sending
         * (a sync call): this thread sends it now, one thread wake-up
         * fewer on its way. Calls in a burst go by the sender, batched. */
        nd->sending = true;
        /* The frame is built in this thread's buffer: once the record is
         * out, its result may come back and free e->task before send()
         * returns. */
        static __thread uint8_t frame[RT_FRAME_HEADER_LEN + 11 + (64u << 10)];
        uint8_t *p = frame + RT_FRAME_HEADER_LEN;
        *p++ = 0x0A; /* TaskBatch field 1 */
        cl_put_varint(&p, e->len);
        memcpy(p, e->task, e->len);
        size_t flen = (size_t)(p - frame) + e->len;
        rt_frame_header h = {RT_FRAME_MAGIC,
                             RAY__RPC__MESSAGE_TYPE__MSG_TASK_BATCH,
                             (uint32_t)(flen - RT_FRAME_HEADER_LEN)};
        rt_frame_header_encode(&h, frame);
        pthread_mutex_unlock(&nd->mu);
        bool sent = write_all(nd->fd, frame, flen);
        pthread_mutex_lock(&nd->mu);
        nd->sending = false;
        if (!sent) /* lost, with the call in flight: the receiver moves it */
            shutdown(nd->fd, SHUT_RDWR);
        if (nd->len)
            pthread_cond_signal(&nd->cv);
    } else if (ok) {
        /* The sender waits only while the buffer is empty (or another
         * thread sends, which signals when it is done). */
        bool was_empty = !nd->len;
        ok = cl_node_append(nd, e->task, e->len);
        if (ok) {
            if (was_empty)
                pthread_cond_signal(&nd->cv);
        } else { /* out of memory: take it back */
            fl_entry back;
            fl_take(&nd->fl, e->id, &back);
            atomic_fetch_sub(&nd->inflight, 1);
        }
    }
    pthread_mutex_unlock(&nd->mu);
    return ok;
}

bool
cl_send_control(cl_driver *cl, int i, const Ray__Rpc__ClusterTask *t)
{
    uint8_t rec[64];
    size_t len = protobuf_c_message_get_packed_size(&t->base);
    if (len > sizeof(rec))
        return false;
    protobuf_c_message_pack(&t->base, rec);
    return cl_send_raw(cl, i, rec, (uint32_t)len);
}

ray_err
cl_result_new(uint64_t *id)
{
    sdk_rt *rt = sdk_g;
    sdk_obj *o;
    pthread_mutex_lock(&rt->mu);
    ray_err err = sdk_objects_alloc(&rt->store, id, &o);
    pthread_mutex_unlock(&rt->mu);
    return err;
}

int32_t
cl_retries(const ray_call_opts *opts, bool pushed)
{
    /* A call whose arguments were pushed runs where they are, one in a
     * group in its bundle: its node going fails it (they went with it). */
    if (pushed || (opts && (opts->max_retries < 0 || opts->pg.id)))
        return 0;
    return opts && opts->max_retries > 0 ? opts->max_retries : 3;
}

bool
cl_pinned(const ray_call_opts *opts)
{
    return opts && opts->node && *opts->node && !opts->node_soft;
}

bool
cl_place_again(cl_driver *cl, int dead, fl_entry *e)
{
    if (e->pinned)
        return false; /* "on this node only" */
    /* What it asks for, from its record: a node that has it. */
    Ray__Rpc__ClusterTask *t =
        e->task ? ray__rpc__cluster_task__unpack(&rt_protobuf_allocator, e->len,
                                                 e->task)
                : NULL;
    ray_call_opts o = t ? cl_record_opts(t, 0) : (ray_call_opts){0};
    e->retries--;
    bool sent = false;
    for (int tries = 0; tries < cl->n && !sent; tries++) {
        int i = cl_choose(cl, &o, false, dead);
        if (i < 0)
            break;
        sent = cl_send_to(cl, i, e);
    }
    bool fits_here = cl_local_demand(o.resources) == RAY_OK;
    if (t)
        protobuf_c_message_free_unpacked(&t->base, &rt_protobuf_allocator);
    if (sent) {
        atomic_fetch_add(&sdk_g->calls_resent, 1);
        return true;
    }
    if (fits_here)
        return cl_run_here(cl, e); /* no other node: the driver's workers */
    /* None that can run it is alive now: it waits for one. */
    e->retries++;
    char why[300];
    return cl_defer_rebuild(cl, dead, e, why, sizeof(why));
}

bool
cl_ref_pending(ray_ref r, bool *parked)
{
    sdk_rt *rt = sdk_g;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, sdk_ref_id(r));
    bool pending = o && o->state == SDK_OBJ_PENDING;
    *parked = pending && o->parked;
    pthread_mutex_unlock(&rt->mu);
    return pending;
}

/* A call's arguments as they travel: values as given, and refs whose
 * values this driver holds now, by value (views kept in `views` until the
 * call is packed). False when one cannot go now (an actor handle, a ref
 * not ready or failed): the call then runs on this node, whose runtime
 * waits for it. */
bool
cl_args_resolve(const ray_arg *args, uint32_t nargs, ray_arg *out,
                ray_view *views, uint32_t *nviews, char (*desc)[CL_HANDLE_DESC],
                bool parked_ok)
{
    *nviews = 0;
    for (uint32_t i = 0; i < nargs; i++) {
        out[i] = args[i];
        if ((args[i].pad & RAY_ARG_ACTOR) && desc &&
            cl_actor_describe((ray_actor){args[i].v.u64}, desc[i])) {
            out[i].v.buf.ptr = desc[i]; /* cl_pack_task's ClusterArg.actor */
            out[i].v.buf.len = strlen(desc[i]);
            continue;
        }
        if (args[i].pad)
            return false;
        if (args[i].type != RAY_T_REF)
            continue;
        bool parked;
        if (cl_ref_pending(args[i].v.ref, &parked)) { /* never pulled here */
            if (!parked || !parked_ok)
                return false;
            out[i].pad = CL_ARG_PARKED;
            out[i].v.u64 = sdk_ref_id(args[i].v.ref);
            continue;
        }
        ray_view *v = &views[*nviews];
        if (ray_get(args[i].v.ref, v, 0) != RAY_OK)
            return false;
        (*nviews)++;
        out[i].type = v->type;
        if (sdk_type_buffer(v->type)) {
            out[i].v.buf.ptr = v->data;
            out[i].v.buf.len = v->len;
        } else {
            out[i].v.u64 = 0;
            if (v->len)
                memcpy(&out[i].v.u64, v->data, v->len < 8 ? v->len : 8);
        }
    }
    return true;
}

void
cl_views_release(ray_view *views, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ray_release(&views[i]);
}

/* The node a call names (opts->node: an IP, "IP:port" or a node id
 * prefix): -1 this machine, -2 none alive. */
int
cl_named_node(cl_driver *cl, const char *want)
{
    size_t wl = strlen(want);
    if (!strcmp(want, cl->local_ip) || !strcmp(want, "local") ||
        (wl >= 4 && !strncmp(cl->self_id, want, wl)))
        return -1;
    for (int i = 0; i < cl->n; i++) {
        cl_node *nd = &cl->nodes[i];
        size_t il = strcspn(nd->addr, ":");
        if (!atomic_load(&nd->alive) || nd->kind != CL_JOB)
            continue;
        if (!strcmp(nd->addr, want) ||
            (il == wl && !strncmp(nd->addr, want, il)) ||
            (wl >= 4 && !strncmp(nd->full, want, wl)))
            return i;
    }
    return -2;
}

ray_call_opts
cl_record_opts(const Ray__Rpc__ClusterTask *t, int32_t retries)
{
    return (ray_call_opts){
        .num_cpus = t->num_cpus,
        .max_retries = retries > 0 ? retries : RAY_NO_RETRY,
        .retry_on_error = t->retry_on_error,
        .name = t->name && *t->name ? t->name : NULL,
        .resources = t->resources && *t->resources ? t->resources : NULL,
    };
}

/* Pack a record: `base` (id, function, kind, actor fields) with the
 * arguments and the call's options (NULL: none). rt_malloc'd. */
uint8_t *
cl_pack_task(const Ray__Rpc__ClusterTask *base, const ray_arg *args,
             uint32_t nargs, const ray_call_opts *opts, uint32_t *len)
{
    Ray__Rpc__ClusterArg av[16], *ap[16];
    Ray__Rpc__ClusterArg *avp =
        nargs > 16 ? rt_calloc(nargs, sizeof(*avp)) : av;
    Ray__Rpc__ClusterArg **app =
        nargs > 16 ? rt_calloc(nargs, sizeof(*app)) : ap;
    uint8_t *out = NULL;
    if (!avp || !app)
        goto done;
    Ray__Rpc__ClusterTask t = *base;
    for (uint32_t k = 0; k < nargs; k++) {
        ray__rpc__cluster_arg__init(&avp[k]);
        avp[k].type = args[k].type;
        if (args[k].pad & RAY_ARG_ACTOR) /* described (cl_args_resolve) */
            avp[k].actor = (char *)args[k].v.buf.ptr;
        else if (args[k].pad & CL_ARG_PUSHED) /* cl_args_place */
            avp[k].pushed = args[k].v.u64;
        else if (args[k].pad & CL_ARG_REMOTE)
            avp[k].remote = (char *)args[k].v.buf.ptr;
        else if (sdk_type_buffer(args[k].type))
            avp[k].data = (ProtobufCBinaryData){args[k].v.buf.len,
                                                (uint8_t *)args[k].v.buf.ptr};
        else
            avp[k].bits = args[k].v.u64;
        app[k] = &avp[k];
    }
    t.args = app;
    t.n_args = nargs;
    if (opts) {
        t.num_cpus = opts->num_cpus;
        t.max_retries = opts->max_retries;
        t.retry_on_error = opts->retry_on_error;
        t.resources = (char *)(opts->resources ? opts->resources : "");
        t.name = (char *)(opts->name ? opts->name : "");
        t.pg = opts->pg.id;
        t.pg_bundle = opts->pg_bundle;
    }
    *len = (uint32_t)protobuf_c_message_get_packed_size(&t.base);
    out = rt_malloc(*len ? *len : 1);
    if (out)
        protobuf_c_message_pack(&t.base, out);
done:
    if (avp != av)
        rt_free(avp);
    if (app != ap)
        rt_free(app);
    return out;
}

/* A call's actor handles count while it lives (ray.h: a handle passed
 * to a task): counted here, dropped by cl_entry_done. */
bool
cl_hold_handles(fl_entry *e, const ray_arg *args, uint32_t nargs)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < nargs; i++)
        n += (args[i].pad & RAY_ARG_ACTOR) != 0;
    if (!n)
        return true;
    e->handles = rt_malloc(n * sizeof(*e->handles));
    if (!e->handles)
        return false;
    for (uint32_t i = 0; i < nargs; i++)
        if ((args[i].pad & RAY_ARG_ACTOR) &&
            cl_actor_ref((ray_actor){args[i].v.u64}, true) == RAY_OK)
            e->handles[e->nhandles++] = args[i].v.u64;
    return true;
}

void
cl_entry_done(fl_entry *e)
{
    rt_free(e->task);
    e->task = NULL;
    for (uint32_t i = 0; i < e->nhandles; i++)
        cl_actor_ref((ray_actor){e->handles[i]}, false);
    rt_free(e->handles);
    e->handles = NULL;
    e->nhandles = 0;
    for (uint32_t i = 0; i < e->nrefs; i++)
        ray_ref_release(sdk_ref(e->refs[i]));
    rt_free(e->refs);
    e->refs = NULL;
    e->nrefs = 0;
}

/* No node alive can ever run the call: say what it needs and what the
 * largest node has. */
static void
infeasible(cl_driver *cl, const char *name, const ray_call_opts *opts)
{
    const char *want = opts && opts->resources ? opts->resources : "";
    int big = -1;
    for (int i = 0; i < cl->n; i++)
        if (atomic_load(&cl->nodes[i].alive) &&
            (big < 0 || cl->nodes[i].ncpu > cl->nodes[big].ncpu))
            big = i;
    const char *local = sdk_g->cfg.resources ? sdk_g->cfg.resources : "";
    if (big >= 0 && cl->nodes[big].ncpu > cl->local_cpus)
        sdk_fail(RAY_EINVAL,
                 "submit '%s': no node of the cluster can run it "
                 "(infeasible): it needs %g CPUs%s%s; the largest node, %s, "
                 "has %d CPUs%s%s",
                 name, opts ? opts->num_cpus : 1, *want ? " and " : "", want,
                 cl->nodes[big].addr, cl->nodes[big].ncpu,
                 cl->nodes[big].resources[0] ? " and " : "",
                 cl->nodes[big].resources);
    else
        sdk_fail(RAY_EINVAL,
                 "submit '%s': no node of the cluster can run it "
                 "(infeasible): it needs %g CPUs%s%s; the largest node, this "
                 "one, has %d CPUs%s%s",
                 name, opts ? opts->num_cpus : 1, *want ? " and " : "", want,
                 cl->local_cpus, *local ? " and " : "", local);
}

static ray_ref
cl_submit(const char *name, uint64_t hash, const ray_arg *args, uint32_t nargs,
          const ray_call_opts *opts)
{
    cl_driver *cl = g_cl;
    sdk_rt *rt = sdk_g;
    const char *want = opts ? opts->resources : NULL;
    ray_err local = cl_local_demand(want);
    if (local == RAY_EINVAL) /* malformed: the local runtime says how */
        return sdk_drv_submit(name, hash, args, nargs, opts);
    bool local_fits = local == RAY_OK && cpus_fit(opts, cl->local_cpus);
    bool named = opts && opts->node && *opts->node;
    if (opts && (opts->strategy < RAY_STRATEGY_DEFAULT ||
                 opts->strategy > RAY_STRATEGY_SPREAD)) {
        sdk_fail(RAY_EINVAL, "submit '%s': unknown strategy %d", name,
                 (int)opts->strategy);
        return RAY_REF_NULL;
    }
    int i = named ? cl_named_node(cl, opts->node) : -2;
    if (named && opts->node_soft && (i == -2 || cl_node_full(cl, i)))
        named = false; /* soft: as if none were named */
    ray_call_opts pgo; /* in a placement group: as its bundle's node says */
    if (opts && opts->pg.id) {
        char what[160];
        snprintf(what, sizeof(what), "submit '%s'", name);
        ray_ref gate = RAY_REF_NULL;
        pgo = *opts;
        pgo.node = NULL;
        ray_err r =
            cl_pg_route(what, opts->pg, opts->pg_bundle,
                        opts->num_cpus > 0 ? opts->num_cpus : 1,
                        opts->resources, &pgo.pg.id, &pgo.pg_bundle, &i, &gate);
        if (r != RAY_OK && r != RAY_EAGAIN)
            return RAY_REF_NULL;
        if (r == RAY_EAGAIN) /* pending: it waits for the group */
            return cl_defer_gated(cl, name, args, nargs, opts, gate);
        if (i < 0)
            return sdk_drv_submit(name, hash, args, nargs, &pgo);
        opts = &pgo;
        named = true; /* there or nowhere */
    } else if (named) {
        if (i == -2) {
            sdk_fail(RAY_ENOTFOUND,
                     "submit '%s': no alive node '%s' in the cluster "
                     "(rayc status lists them)",
                     name, opts->node);
            return RAY_REF_NULL;
        }
    } else if (opts && opts->strategy == RAY_STRATEGY_SPREAD) {
        i = cl_spread(cl, opts, local_fits);
        if (i == -2) {
            infeasible(cl, name, opts);
            return RAY_REF_NULL;
        }
    } else {
        /* Near its largest arguments' parked values, when that node can
         * take it; else the hybrid policy. */
        i = cl_parked_near(cl, args, nargs);
        if (i < 0 || cl_node_full(cl, i) ||
            !cl_node_fits(&cl->nodes[i], opts ? opts->resources : NULL) ||
            !cpus_fit(opts, cl->nodes[i].ncpu))
            i = cl_choose(cl, opts, local_fits, -1);
        if (i == -2) {
            infeasible(cl, name, opts);
            return RAY_REF_NULL;
        }
    }
    if (i < 0)
        return sdk_drv_submit(name, hash, args, nargs, opts);
    if (cl_defer_wanted(args, nargs, true)) /* refs not ready: they go */
        return cl_defer(cl, i, name, args, nargs, opts); /* when done */
    ray_arg av[16];
    ray_view vv[16];
    char dv[16][CL_HANDLE_DESC];
    ray_arg *a = nargs > 16 ? rt_calloc(nargs, sizeof(*a)) : av;
    ray_view *views = nargs > 16 ? rt_calloc(nargs, sizeof(*views)) : vv;
    char(*desc)[CL_HANDLE_DESC] =
        nargs > 16 ? rt_calloc(nargs, CL_HANDLE_DESC) : dv;
    uint32_t nviews = 0;
    bool go = a && views && desc &&
              cl_args_resolve(args, nargs, a, views, &nviews, desc, true);
    /* Large values: read from a copy on a node, or pushed first,
     * straight into the node's store (transfer.h). */
    char rv[16][CL_REMOTE_DESC];
    char(*rdesc)[CL_REMOTE_DESC] =
        nargs > 16 ? rt_calloc(nargs, CL_REMOTE_DESC) : rv;
    uint64_t *hrefs = NULL;
    uint32_t nhrefs = 0;
    bool pushed = false;
    char pwhy[300] = "";
    ray_err perr = RAY_OK;
    go = go && rdesc;
    if (go) {
        perr = cl_args_place(cl, i, false, args, a, nargs, rdesc, &hrefs,
                             &nhrefs, &pushed, pwhy, sizeof(pwhy));
        go = perr == RAY_OK;
    }
    if (!go) {
        fl_entry held = {.refs = hrefs, .nrefs = nhrefs};
        cl_entry_done(&held);
        cl_views_release(views, nviews);
        if (a != av)
            rt_free(a);
        if (views != vv)
            rt_free(views);
        if (desc != dv)
            rt_free(desc);
        if (rdesc != rv)
            rt_free(rdesc);
        if (perr == RAY_EAGAIN) /* a parked value it reads is made again */
            return cl_defer(cl, i, name, args, nargs, opts);
        if (perr != RAY_OK && (named || !local_fits)) {
            sdk_fail(perr,
                     "submit '%s' to node %s: its large arguments could not "
                     "be sent there: %s",
                     name, cl->nodes[i].addr, pwhy);
            return RAY_REF_NULL;
        }
        if (named && perr == RAY_OK) {
            sdk_fail(RAY_EINVAL,
                     "submit '%s' to node %s: an argument is a handle "
                     "of an actor in this process, which stays here",
                     name, cl->nodes[i].addr);
            return RAY_REF_NULL;
        }
        return sdk_drv_submit(name, hash, args, nargs, opts);
    }
    /* The result: a pending object of this driver, settled by the
     * receiver. */
    uint64_t id;
    sdk_obj *o;
    pthread_mutex_lock(&rt->mu);
    ray_err err = sdk_objects_alloc(&rt->store, &id, &o);
    pthread_mutex_unlock(&rt->mu);
    fl_entry e = {.id = id, .refs = hrefs, .nrefs = nhrefs};
    Ray__Rpc__ClusterTask base = RAY__RPC__CLUSTER_TASK__INIT;
    base.id = id;
    base.function = (char *)name;
    if (err == RAY_OK)
        e.task = cl_pack_task(&base, a, nargs, opts, &e.len);
    if (e.task && !cl_hold_handles(&e, args, nargs)) {
        rt_free(e.task);
        e.task = NULL;
    }
    cl_views_release(views, nviews);
    if (a != av)
        rt_free(a);
    if (views != vv)
        rt_free(views);
    if (desc != dv)
        rt_free(desc);
    if (rdesc != rv)
        rt_free(rdesc);
    if (err != RAY_OK) {
        cl_entry_done(&e);
        sdk_fail(err, "submit '%s': out of memory", name);
        return RAY_REF_NULL;
    }
    e.retries = cl_retries(opts, pushed);
    e.pinned = cl_pinned(opts);
    if (e.task && e.len > CL_RECORD_MAX) {
        /* Too big for a record even so (many values under the size that
         * is pushed): it runs here, where its arguments are. */
        cl_entry_done(&e);
        pthread_mutex_lock(&rt->mu); /* drop the unused result object */
        sdk_objects_set_error(&rt->store, o, RAY_ECANCELLED, NULL);
        sdk_objects_release(&rt->store, o);
        pthread_mutex_unlock(&rt->mu);
        if (named || !local_fits) {
            sdk_fail(RAY_ETOOBIG,
                     "submit '%s' to node %s: its arguments take %u bytes "
                     "in values under 1 MiB each, more than a call to "
                     "another node carries (%u); pass them as fewer, larger "
                     "values or refs",
                     name, cl->nodes[i].addr, e.len, CL_RECORD_MAX);
            return RAY_REF_NULL;
        }
        return sdk_drv_submit(name, hash, args, nargs, opts);
    }
    if (!e.task || !cl_send_to(cl, i, &e)) {
        if (!e.task || !cl_place_again(cl, i, &e)) {
            cl_fail(id, e.task ? RAY_EWORKER_DIED : RAY_ENOMEM,
                    e.task ? "no node could take the task"
                           : "out of memory packing the task");
            cl_entry_done(&e);
        }
    }
    return sdk_ref(id);
}

/* ---- joining ---- */

/* What joining needs that takes a while, done beside the embedded
 * runtime's start (sdk_cluster_prepare): the executable's SHA-256, and
 * libcrypto's first HMAC (it loads its providers: 10-20 ms). Once per
 * process. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 not started, 1 running, 2 done */
    uint8_t hash[32];
    uint64_t size;
    ray_err err;
    char why[256];
    pthread_t th;
    bool joinable; /* th runs or ran, not joined yet */
} PREP = {PTHREAD_MUTEX_INITIALIZER,
          PTHREAD_COND_INITIALIZER,
          0,
          {0},
          0,
          RAY_OK,
          "",
          0,
          false};

static void *
prep_main(void *arg)
{
    (void)arg;
    rt_net_warm();
    uint8_t h[32];
    uint64_t size = 0;
    char why[256] = "";
    ray_err err = rt_sha256_file("/proc/self/exe", h, &size, why, sizeof(why));
    pthread_mutex_lock(&PREP.mu);
    memcpy(PREP.hash, h, 32);
    PREP.size = size;
    PREP.err = err;
    snprintf(PREP.why, sizeof(PREP.why), "%s", why);
    PREP.state = 2;
    pthread_cond_broadcast(&PREP.cv);
    pthread_mutex_unlock(&PREP.mu);
    return NULL;
}

void
sdk_cluster_prepare(void)
{
    pthread_mutex_lock(&PREP.mu);
    bool start = PREP.state == 0;
    if (start)
        PREP.state = 1;
    pthread_mutex_unlock(&PREP.mu);
    pthread_t th;
    if (start) {
        if (pthread_create(&th, NULL, prep_main, NULL) == 0) {
            pthread_mutex_lock(&PREP.mu);
            PREP.th = th;
            PREP.joinable = true;
            pthread_mutex_unlock(&PREP.mu);
        } else {
            prep_main(NULL);
        }
    }
}

void
sdk_cluster_prepare_join(void)
{
    pthread_mutex_lock(&PREP.mu);
    bool join = PREP.joinable;
    pthread_t th = PREP.th;
    PREP.joinable = false;
    pthread_mutex_unlock(&PREP.mu);
    if (join) /* its libcrypto thread state is freed as it ends */
        pthread_join(th, NULL);
}

static ray_err
exe_identity(uint8_t hash[32], uint64_t *size, char *why, size_t whylen)
{
    sdk_cluster_prepare();
    pthread_mutex_lock(&PREP.mu);
    while (PREP.state != 2)
        pthread_cond_wait(&PREP.cv, &PREP.mu);
    memcpy(hash, PREP.hash, 32);
    *size = PREP.size;
    ray_err err = PREP.err;
    if (err != RAY_OK)
        snprintf(why, whylen, "%s", PREP.why);
    pthread_mutex_unlock(&PREP.mu);
    return err;
}

static ray_err
ship_exe(int fd, char *why, size_t whylen)
{
    int ef = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (ef < 0) {
        snprintf(why, whylen, "/proc/self/exe: %s", strerror(errno));
        return RAY_ESYSERR;
    }
    uint8_t *buf = rt_malloc(EXE_CHUNK);
    ray_err err = buf ? RAY_OK : RAY_ENOMEM;
    for (;;) {
        if (err != RAY_OK)
            break;
        ssize_t n = read(ef, buf, EXE_CHUNK);
        if (n < 0) {
            err = RAY_ESYSERR;
            break;
        }
        Ray__Rpc__ExeChunk c = RAY__RPC__EXE_CHUNK__INIT;
        c.data = (ProtobufCBinaryData){(size_t)n, buf};
        c.last = n < (ssize_t)EXE_CHUNK;
        err = rt_frame_send(fd, RAY__RPC__MESSAGE_TYPE__MSG_EXE_CHUNK, &c.base,
                            30000);
        if (c.last)
            break;
    }
    if (err != RAY_OK)
        snprintf(why, whylen, "sending the executable: %s",
                 rt_frame_last_detail());
    rt_free(buf);
    close(ef);
    return err;
}

static ray_err
start_agent(cl_node *nd, const char *host, uint16_t port, uint64_t job,
            const uint8_t tok[RT_TOKEN_LEN], char *why, size_t whylen)
{
    int fd;
    ray_err err = rt_tcp_connect(host, port, 3000, &fd, why, whylen);
    if (err == RAY_OK)
        err = rt_auth_client(fd, tok, "driver", 5000, why, whylen);
    if (err != RAY_OK) {
        if (fd >= 0 && err != RAY_OK)
            close(fd);
        return err;
    }
    uint8_t hash[32];
    uint64_t size = 0;
    char self[PATH_MAX] = "driver";
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[sl > 0 ? sl : 6] = 0;
    err = exe_identity(hash, &size, why, whylen);
    Ray__Rpc__StartJobRequest req = RAY__RPC__START_JOB_REQUEST__INIT;
    req.exe_hash = (ProtobufCBinaryData){32, hash};
    req.exe_size = size;
    req.exe_name = self;
    req.job_id = job;
    ProtobufCMessage *m = NULL;
    for (int round = 0; err == RAY_OK && round < 2; round++) {
        err = rt_net_call(
            fd, round ? 0 : RAY__RPC__MESSAGE_TYPE__MSG_START_JOB_REQUEST,
            round ? NULL : &req.base,
            RAY__RPC__MESSAGE_TYPE__MSG_START_JOB_REPLY, &m, 30000, why,
            whylen);
        if (err != RAY_OK)
            break;
        Ray__Rpc__StartJobReply *r = (Ray__Rpc__StartJobReply *)m;
        if (r->status && r->status->code) {
            snprintf(why, whylen, "the raylet refused the job: %s",
                     r->status->message);
            err = RAY_EINVAL;
        } else if (r->need_exe && round == 0) {
            err = ship_exe(fd, why, whylen);
            rt_proto_free(m);
            continue;
        }
        if (r->node_id.len >= 8)
            rt_id_hex_encode(r->node_id.data, 8, nd->id);
        rt_proto_free(m);
        break;
    }
    if (err == RAY_OK)
        err = rt_net_call(fd, 0, NULL, RAY__RPC__MESSAGE_TYPE__MSG_AGENT_READY,
                          &m, 30000, why, whylen);
    if (err == RAY_OK) {
        Ray__Rpc__AgentReady *a = (Ray__Rpc__AgentReady *)m;
        if (a->status && a->status->code) {
            snprintf(why, whylen, "the job's agent failed: %s",
                     a->status->message);
            err = RAY_EINVAL;
        } else {
            nd->ncpu = a->num_cpus ? (int)a->num_cpus : 1;
            nd->tag = a->ref_tag;
        }
        rt_proto_free(m);
    }
    if (err != RAY_OK) {
        close(fd);
        return err;
    }
    nd->fd = fd;
    return RAY_OK;
}

static ray_err
resolve_address(const char *address, char *out, size_t len)
{
    if (strcmp(address, "auto") != 0) {
        snprintf(out, len, "%s", address);
        return RAY_OK;
    }
    const char *td = getenv("RAYC_TEMP_DIR");
    char path[PATH_MAX];
    if (td && *td)
        snprintf(path, sizeof(path), "%s/head_address", td);
    else
        snprintf(path, sizeof(path), "/tmp/rayc-%u/head_address",
                 (unsigned)getuid());
    FILE *f = fopen(path, "r");
    bool ok = f && fgets(out, (int)len, f);
    if (f)
        fclose(f);
    if (!ok)
        return sdk_fail(RAY_ENOTFOUND,
                        "ray_init: address \"auto\": no head runs on this "
                        "machine (%s not found; start one with rayc start "
                        "--head)",
                        path);
    out[strcspn(out, "\n")] = 0;
    return RAY_OK;
}

/* This driver in the head's job table: an entry that lives as long as
 * the watcher's connection ("job" namespace, key ip:pid). */
static ray_err
put_job(cl_driver *cl, char *why, size_t whylen)
{
    char key[RT_HOST_MAX + 16], val[PATH_MAX + 64], self[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = 0;
    const char *base = strrchr(self, '/');
    snprintf(key, sizeof(key), "%s:%d", cl->local_ip, (int)getpid());
    snprintf(val, sizeof(val), "%s %lld", base ? base + 1 : self,
             (long long)time(NULL));
    bool added;
    return cl_kv_put(cl, true, "job", key, val, strlen(val), true, true, &added,
                     why, whylen);
}

ray_err
cl_gcs_call(cl_driver *cl, uint32_t type, const ProtobufCMessage *req,
            uint32_t reply_type, ProtobufCMessage **reply, char *why,
            size_t whylen)
{
    ray_err err = RAY_OK;
    pthread_mutex_lock(&cl->gcs_mu);
    if (cl->gcs_fd < 0) {
        err = rt_tcp_connect(cl->gcs_host, cl->gcs_port, 3000, &cl->gcs_fd, why,
                             whylen);
        if (err == RAY_OK)
            err = rt_auth_client(cl->gcs_fd, cl->tok, "driver", 5000, why,
                                 whylen);
        if (err == RAY_OK && !cl->local_ip[0]) {
            /* This machine's node: the one at the address it reaches the
             * head from, or where RAYC_NODE_IP_ADDRESS says (a machine
             * with several nodes, each on its own address). */
            const char *ip = getenv("RAYC_NODE_IP_ADDRESS");
            if (ip && *ip && strlen(ip) < sizeof(cl->local_ip))
                snprintf(cl->local_ip, sizeof(cl->local_ip), "%s", ip);
            else
                rt_tcp_local_ip(cl->gcs_fd, cl->local_ip);
        }
        if (err == RAY_OK)
            err = put_job(cl, why, whylen);
        if (err == RAY_OK)
            err = cl_names_reput(cl, why, whylen);
    }
    if (err == RAY_OK)
        err = rt_net_call(cl->gcs_fd, type, req, reply_type, reply, 5000, why,
                          whylen);
    if (err != RAY_OK && cl->gcs_fd >= 0) {
        close(cl->gcs_fd);
        cl->gcs_fd = -1;
    }
    pthread_mutex_unlock(&cl->gcs_mu);
    return err;
}

/* One request to the head: on the connection the caller holds (gcs_mu,
 * inside cl_gcs_call's reconnect) or through cl_gcs_call. */
static ray_err
gcs_req(cl_driver *cl, bool held, uint32_t type, const ProtobufCMessage *q,
        uint32_t reply_type, ProtobufCMessage **m, char *why, size_t whylen)
{
    if (held)
        return rt_net_call(cl->gcs_fd, type, q, reply_type, m, 5000, why,
                           whylen);
    return cl_gcs_call(cl, type, q, reply_type, m, why, whylen);
}

ray_err
cl_kv_put(cl_driver *cl, bool held, const char *ns, const char *key,
          const void *val, size_t len, bool overwrite, bool ephemeral,
          bool *added, char *why, size_t whylen)
{
    Ray__Rpc__KvPutRequest q = RAY__RPC__KV_PUT_REQUEST__INIT;
    q.ns = (char *)ns;
    q.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
    q.value = (ProtobufCBinaryData){len, (uint8_t *)val};
    q.overwrite = overwrite;
    q.ephemeral = ephemeral;
    ProtobufCMessage *m = NULL;
    *added = false;
    ray_err err =
        gcs_req(cl, held, RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REQUEST, &q.base,
                RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REPLY, &m, why, whylen);
    if (err != RAY_OK)
        return err;
    Ray__Rpc__KvPutReply *r = (Ray__Rpc__KvPutReply *)m;
    if (r->status && r->status->code) {
        err = (ray_err)r->status->code;
        snprintf(why, whylen, "%s", r->status->message);
    } else {
        *added = r->added;
    }
    rt_proto_free(m);
    return err;
}

ray_err
cl_kv_get(cl_driver *cl, bool held, const char *ns, const char *key, char *val,
          size_t cap, bool *found, char *why, size_t whylen)
{
    Ray__Rpc__KvGetRequest q = RAY__RPC__KV_GET_REQUEST__INIT;
    q.ns = (char *)ns;
    q.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
    ProtobufCMessage *m = NULL;
    val[0] = 0;
    *found = false;
    ray_err err =
        gcs_req(cl, held, RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REQUEST, &q.base,
                RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REPLY, &m, why, whylen);
    if (err != RAY_OK)
        return err;
    Ray__Rpc__KvGetReply *r = (Ray__Rpc__KvGetReply *)m;
    if (r->found && r->value.len < cap) {
        memcpy(val, r->value.data, r->value.len);
        val[r->value.len] = 0;
        *found = true;
    }
    rt_proto_free(m);
    return RAY_OK;
}

ray_err
cl_kv_del(cl_driver *cl, const char *ns, const char *key, char *why,
          size_t whylen)
{
    Ray__Rpc__KvDelRequest q = RAY__RPC__KV_DEL_REQUEST__INIT;
    q.ns = (char *)ns;
    q.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
    ProtobufCMessage *m = NULL;
    ray_err err =
        cl_gcs_call(cl, RAY__RPC__MESSAGE_TYPE__MSG_KV_DEL_REQUEST, &q.base,
                    RAY__RPC__MESSAGE_TYPE__MSG_KV_DEL_REPLY, &m, why, whylen);
    rt_proto_free(m);
    return err;
}

ray_err
cl_kv_list(cl_driver *cl, const char *ns, Ray__Rpc__KvListReply **out,
           char *why, size_t whylen)
{
    Ray__Rpc__KvListRequest q = RAY__RPC__KV_LIST_REQUEST__INIT;
    q.ns = (char *)ns;
    return cl_gcs_call(cl, RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REQUEST, &q.base,
                       RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REPLY,
                       (ProtobufCMessage **)out, why, whylen);
}

/* Ask the head for its nodes. RAY_OK and *out; an error with why. */
static ray_err
get_nodes(cl_driver *cl, Ray__Rpc__GetAllNodesReply **out, char *why,
          size_t whylen)
{
    Ray__Rpc__GetAllNodesRequest req = RAY__RPC__GET_ALL_NODES_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    ray_err err = cl_gcs_call(
        cl, RAY__RPC__MESSAGE_TYPE__MSG_GET_ALL_NODES_REQUEST, &req.base,
        RAY__RPC__MESSAGE_TYPE__MSG_GET_ALL_NODES_REPLY, &m, why, whylen);
    if (err == RAY_OK)
        *out = (Ray__Rpc__GetAllNodesReply *)m;
    return err;
}

typedef struct starting {
    cl_driver *cl;
    cl_node *nd;
    Ray__Rpc__NodeInfo *ni;
    ray_err err;
    char why[400];
    pthread_t th;
    bool started;
} starting;

static void *
start_main(void *arg)
{
    starting *s = arg;
    s->err = start_agent(s->nd, s->ni->raylet_address->ip,
                         (uint16_t)s->ni->raylet_address->port, s->cl->job,
                         s->cl->tok, s->why, sizeof(s->why));
    return NULL;
}

static bool
known(cl_driver *cl, const char *full)
{
    for (int i = 0; i < cl->n; i++)
        if (cl->nodes[i].kind == CL_JOB && atomic_load(&cl->nodes[i].alive) &&
            !strcmp(cl->nodes[i].full, full))
            return true;
    return false;
}

/* Nodes this driver uses that the head declared dead (their raylet went
 * silent) are lost here too, their calls placed again: a connection
 * that merely stays open does not keep them. (A node the head does not
 * list at all, as after the head restarted, is left alone.) A node that
 * comes back is a new node to this driver. Watcher thread. */
static void
drop_dead(cl_driver *cl, const Ray__Rpc__GetAllNodesReply *r)
{
    for (size_t k = 0; k < r->n_nodes; k++) {
        char full[57] = "";
        if (r->nodes[k]->node_id.len != 28 ||
            r->nodes[k]->state != RAY__RPC__NODE_STATE__NODE_STATE_DEAD)
            continue;
        rt_id_hex_encode(r->nodes[k]->node_id.data, 28, full);
        for (int i = 0; i < cl->n; i++) {
            cl_node *nd = &cl->nodes[i];
            if (atomic_load(&nd->alive) && !strcmp(full, nd->full)) {
                RT_WARN("cluster: the head declared node %s (%s) dead: %s",
                        nd->id, nd->addr,
                        r->nodes[k]->death_reason ? r->nodes[k]->death_reason
                                                  : "");
                shutdown(nd->fd, SHUT_RDWR); /* the receiver takes it on */
            }
        }
    }
}

/* Start the job's agent on every alive node not known yet (not this
 * machine's), all at once; the ones that start join the driver's nodes.
 * The watcher's thread (or ray_init's, before the watcher runs). */
/* Make connection nodes[i] (filled in) live: its sender runs, the
 * receiver reads it. add_mu held. */
static bool
activate(cl_driver *cl, int i)
{
    cl_node *nd = &cl->nodes[i];
    pthread_mutex_init(&nd->mu, NULL);
    pthread_cond_init(&nd->cv, NULL);
    rt_frame_reader_init(&nd->rd, RT_NET_MAX_FRAME);
    atomic_store(&nd->alive, 1);
    nd->sender_started =
        pthread_create(&nd->sender, NULL, sender_main, nd) == 0;
    if (!nd->sender_started) {
        close(nd->fd);
        atomic_store(&nd->alive, 0);
        rt_frame_reader_fini(&nd->rd);
        pthread_mutex_destroy(&nd->mu);
        pthread_cond_destroy(&nd->cv);
        return false;
    }
    atomic_store(&cl->n, i + 1); /* now the others see it */
    if (write(cl->wake[1], "n", 1) < 0)
        (void)0;
    cl_timeline_join(cl, i);
    return true;
}

static void
add_nodes(cl_driver *cl, Ray__Rpc__GetAllNodesReply *r)
{
    starting st[MAX_NODES];
    int ns = 0;
    pthread_mutex_lock(&cl->add_mu);
    int base = cl->n;
    for (size_t k = 0; k < r->n_nodes && base + ns < MAX_NODES; k++) {
        Ray__Rpc__NodeInfo *ni = r->nodes[k];
        char full[57] = "";
        if (!ni->raylet_address || !ni->raylet_address->ip ||
            ni->node_id.len != 28 ||
            ni->state != RAY__RPC__NODE_STATE__NODE_STATE_ALIVE)
            continue;
        rt_id_hex_encode(ni->node_id.data, 28, full);
        /* This machine's own node runs its calls in the embedded
         * runtime (and its named actors in the CL_SELF agent). */
        if (!strcmp(ni->raylet_address->ip, cl->local_ip)) {
            snprintf(cl->self_raylet, sizeof(cl->self_raylet), "%s:%u",
                     ni->raylet_address->ip, ni->raylet_address->port);
            memcpy(cl->self_id, full, sizeof(cl->self_id));
        }
        if (!strcmp(ni->raylet_address->ip, cl->local_ip) || known(cl, full))
            continue;
        cl_node *nd = &cl->nodes[base + ns];
        memset(nd, 0, sizeof(*nd));
        nd->fd = -1;
        nd->kind = CL_JOB;
        snprintf(nd->full, sizeof(nd->full), "%s", full);
        snprintf(nd->id, sizeof(nd->id), "%.16s", full);
        snprintf(nd->addr, sizeof(nd->addr), "%s:%u", ni->raylet_address->ip,
                 ni->raylet_address->port);
        size_t rk = 0;
        for (size_t j = 0;
             ni->total_resources && j < ni->total_resources->n_entries; j++) {
            Ray__Rpc__ResourceEntry *re = ni->total_resources->entries[j];
            if (strcmp(re->name, "CPU") && rk < sizeof(nd->resources))
                rk += (size_t)snprintf(nd->resources + rk,
                                       sizeof(nd->resources) - rk, "%s%s:%g",
                                       rk ? "," : "", re->name, re->quantity);
        }
        sched_res_init(&nd->res);
        if (nd->resources[0] &&
            sched_res_add_spec(&nd->res, nd->resources) != RAY_OK)
            RT_WARN("cluster: node %s: resources '%s' not understood", nd->addr,
                    nd->resources);
        st[ns] = (starting){.cl = cl, .nd = nd, .ni = ni};
        st[ns].started =
            pthread_create(&st[ns].th, NULL, start_main, &st[ns]) == 0;
        if (!st[ns].started)
            start_main(&st[ns]);
        ns++;
    }
    /* Keep the ones that started, packed after the known ones. */
    int n = base;
    for (int i = 0; i < ns; i++) {
        if (st[i].started)
            pthread_join(st[i].th, NULL);
        cl_node *nd = st[i].nd;
        if (st[i].err != RAY_OK) {
            RT_LOG_RATELIMITED(RT_LOG_WARN, "cluster: node %s: %s: not used",
                               nd->addr, st[i].why);
            continue;
        }
        if (&cl->nodes[n] != nd)
            memcpy(&cl->nodes[n], nd, sizeof(*nd));
        nd = &cl->nodes[n];
        if (!activate(cl, n))
            continue;
        n++;
        RT_INFO("cluster: node %s (%s, %d CPUs%s%s) runs this job", nd->id,
                nd->addr, nd->ncpu, nd->resources[0] ? ", " : "",
                nd->resources);
    }
    pthread_mutex_unlock(&cl->add_mu);
}

int
cl_self_agent(cl_driver *cl, ray_err *errp)
{
    pthread_mutex_lock(&cl->add_mu);
    int i = cl->self_node;
    if (i >= 0 && atomic_load(&cl->nodes[i].alive)) {
        pthread_mutex_unlock(&cl->add_mu);
        return i;
    }
    char host[RT_HOST_MAX], why[400];
    uint16_t port = 0;
    i = cl->n;
    if (!cl->self_raylet[0] || rt_addr_parse(cl->self_raylet, host, &port, why,
                                             sizeof(why)) != RAY_OK) {
        pthread_mutex_unlock(&cl->add_mu);
        return -2;
    }
    cl_node *nd = &cl->nodes[i];
    ray_err err = RAY_ENOMEM;
    snprintf(why, sizeof(why), "no room for another connection (%d)",
             MAX_NODES);
    if (i < MAX_NODES) {
        memset(nd, 0, sizeof(*nd));
        nd->fd = -1;
        nd->kind = CL_SELF;
        snprintf(nd->addr, sizeof(nd->addr), "%s", cl->self_raylet);
        snprintf(nd->id, sizeof(nd->id), "this node");
        snprintf(nd->full, sizeof(nd->full), "%s", cl->self_id);
        err = start_agent(nd, host, port, cl->job, cl->tok, why, sizeof(why));
    }
    if (err == RAY_OK && !activate(cl, i))
        err = RAY_ENOMEM;
    cl->self_node = err == RAY_OK ? i : -1;
    pthread_mutex_unlock(&cl->add_mu);
    if (err != RAY_OK) {
        *errp = sdk_fail(err, "the job's agent on this node (%s): %s",
                         cl->self_raylet, why);
        return -3;
    }
    return i;
}

int
cl_attach(cl_driver *cl, const char *addr, uint64_t job, ray_err *err,
          char *why, size_t whylen)
{
    pthread_mutex_lock(&cl->add_mu);
    for (int i = 0; i < cl->n; i++) {
        cl_node *nd = &cl->nodes[i];
        if (nd->kind == CL_ATTACHED && nd->job == job &&
            atomic_load(&nd->alive) && !strcmp(nd->addr, addr)) {
            pthread_mutex_unlock(&cl->add_mu);
            *err = RAY_OK;
            return i;
        }
    }
    int fd = -1, i = cl->n;
    ProtobufCMessage *m = NULL;
    *err = RAY_OK;
    if (i >= MAX_NODES) {
        snprintf(why, whylen, "no room for another connection (%d)", MAX_NODES);
        *err = RAY_ENOMEM;
    }
    if (*err == RAY_OK)
        *err = rt_dial(addr, cl->tok, "driver", &fd, why, whylen);
    Ray__Rpc__AttachRequest q = RAY__RPC__ATTACH_REQUEST__INIT;
    q.job_id = job;
    if (*err == RAY_OK)
        *err = rt_net_call(fd, RAY__RPC__MESSAGE_TYPE__MSG_ATTACH_REQUEST,
                           &q.base, RAY__RPC__MESSAGE_TYPE__MSG_ATTACH_REPLY,
                           &m, 5000, why, whylen);
    if (*err == RAY_OK) {
        Ray__Rpc__AttachReply *r = (Ray__Rpc__AttachReply *)m;
        if (r->status && r->status->code) {
            *err = (ray_err)r->status->code == RAY_ENOTFOUND ? RAY_ENOTFOUND
                                                             : RAY_EPROTO;
            snprintf(why, whylen, "the raylet at %s: %s", addr,
                     r->status->message);
        }
        rt_proto_free(m);
    }
    if (*err == RAY_OK) {
        cl_node *nd = &cl->nodes[i];
        memset(nd, 0, sizeof(*nd));
        nd->fd = fd;
        nd->kind = CL_ATTACHED;
        nd->job = job;
        nd->ncpu = 1;
        snprintf(nd->addr, sizeof(nd->addr), "%s", addr);
        snprintf(nd->id, sizeof(nd->id), "%016llx", (unsigned long long)job);
        fd = -1;
        if (!activate(cl, i)) {
            *err = RAY_ENOMEM;
            snprintf(why, whylen, "no thread for the connection");
        }
    }
    if (fd >= 0)
        close(fd);
    pthread_mutex_unlock(&cl->add_mu);
    return *err == RAY_OK ? i : -1;
}

/* This driver's metrics (ray_metrics) at the head, for its dashboard:
 * under its job id in the "metrics" namespace, gone with the driver's
 * connection. */
static void
push_metrics(cl_driver *cl)
{
    char *text = NULL, key[24], why[300];
    if (ray_metrics(&text) != RAY_OK)
        return;
    snprintf(key, sizeof(key), "%016llx", (unsigned long long)cl->job);
    bool added;
    (void)cl_kv_put(cl, false, "metrics", key, text, strlen(text), true, true,
                    &added, why, sizeof(why));
    ray_free(text);
}

/* Nodes that join later are used too: the watcher asks the head twice a
 * second (and sends this driver's metrics once a second). */
static void *
watcher_main(void *arg)
{
    cl_driver *cl = arg;
    for (unsigned round = 0; !atomic_load(&cl->stop); round++) {
        for (int t = 0; t < 50 && !atomic_load(&cl->stop); t++)
            usleep(10000);
        if (atomic_load(&cl->stop))
            break;
        Ray__Rpc__GetAllNodesReply *r = NULL;
        char why[400];
        if (get_nodes(cl, &r, why, sizeof(why)) != RAY_OK) {
            RT_LOG_RATELIMITED(RT_LOG_WARN, "cluster: the head at %s: %s",
                               cl->head, why);
            continue;
        }
        drop_dead(cl, r);
        add_nodes(cl, r);
        rt_proto_free(&r->base);
        cl_defer_rebuild_tick(cl);
        cl_ask_serve(cl);
        if (round % 2 == 0)
            push_metrics(cl);
    }
    return NULL;
}

static ray_err cl_get(ray_ref ref, ray_view *out, int64_t timeout_ms);
static ray_err cl_wait(const ray_ref *refs, size_t n, size_t num_ready,
                       int64_t timeout_ms, size_t *ready_idx, size_t *n_ready);

ray_err
sdk_cluster_join(const char *address)
{
    char why[512], tpath[PATH_MAX];
    cl_driver *cl = rt_calloc(1, sizeof(*cl));
    if (!cl)
        return sdk_fail(RAY_ENOMEM, "ray_init: out of memory");
    cl->gcs_fd = -1;
    cl->wake[0] = cl->wake[1] = -1;
    cl->self_node = -1;
    while (!cl->job)
        cl->job = rt_random_u64();
    pthread_mutex_init(&cl->act_mu, NULL);
    pthread_mutex_init(&cl->gcs_mu, NULL);
    pthread_mutex_init(&cl->add_mu, NULL);
    pthread_mutex_init(&cl->xfer_mu, NULL);
    pthread_cond_init(&cl->xfer_cv, NULL);
    ray_err err = resolve_address(address, cl->head, sizeof(cl->head));
    if (err == RAY_OK && rt_addr_parse(cl->head, cl->gcs_host, &cl->gcs_port,
                                       why, sizeof(why)) != RAY_OK)
        err = sdk_fail(RAY_EINVAL, "ray_init: %s", why);
    rt_token_path(NULL, tpath, sizeof(tpath));
    if (err == RAY_OK &&
        (err = rt_token_load(tpath, cl->tok, why, sizeof(why))) != RAY_OK)
        sdk_fail(err, "ray_init: joining %s: %s", cl->head, why);
    if (err == RAY_OK && rt_tls_on() && !rt_tls_ready(why, sizeof(why)))
        err = sdk_fail(RAY_EINVAL, "ray_init: joining %s: %s", cl->head, why);
    Ray__Rpc__GetAllNodesReply *r = NULL;
    if (err == RAY_OK && (err = get_nodes(cl, &r, why, sizeof(why))) != RAY_OK)
        sdk_fail(err, "ray_init: the head at %s: %s", cl->head, why);
    if (err == RAY_OK && pipe2(cl->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        err = sdk_fail(RAY_ESYSERR, "ray_init: pipe: %s", strerror(errno));
    if (err != RAY_OK) {
        rt_proto_free(r ? &r->base : NULL);
        if (cl->gcs_fd >= 0)
            close(cl->gcs_fd);
        rt_free(cl);
        return err;
    }
    signal(SIGPIPE, SIG_IGN);
    cl->local_cpus = sdk_g->nworkers;
    g_cl = cl;
    add_nodes(cl, r);
    rt_proto_free(&r->base);
    if (cl->self_id[0] && sdk_g->tx->node_id) /* for this node's workers */
        memcpy(sdk_g->tx->node_id, cl->self_id, sizeof(cl->self_id));
    cl->receiver_started =
        pthread_create(&cl->receiver, NULL, receiver_main, cl) == 0;
    cl->watcher_started =
        pthread_create(&cl->watcher, NULL, watcher_main, cl) == 0;
    cl->be = sdk_backend_embedded;
    cl->be.name = "cluster";
    cl->be.get = cl_get;
    cl->be.wait = cl_wait;
    cl->be.submit = cl_submit;
    cl->be.borrow = cl_borrow;
    cl->be.borrow_ref = cl_borrow_ref;
    cl->be.actor_create = cl_actor_create;
    cl->be.actor_submit = cl_actor_submit;
    cl->be.actor_lookup = cl_actor_lookup;
    cl->be.actor_ref = cl_actor_ref;
    cl->be.actor_kill = cl_actor_kill;
    cl->be.actor_state = cl_actor_state;
    cl->be.actor_wait_ready = cl_actor_wait_ready;
    cl->be.pg_create = cl_pg_create;
    cl->be.pg_wait = cl_pg_wait;
    cl->be.pg_state = cl_pg_state;
    cl->be.pg_remove = cl_pg_remove;
    sdk_remote_actor_call = cl_actor_call_from_task;
    sdk_remote_timeline_enable = cl_timeline_enable;
    sdk_remote_timelines = cl_timelines;
    sdk_remote_actor_states = cl_actor_states;
    sdk_remote_served = cl_served;
    sdk_remote_value_freed = cl_value_freed;
    cl_parked_hooks(true);
    sdk_be = &cl->be;
    RT_INFO("cluster: joined %s: this node and %d other%s", cl->head,
            (int)cl->n, cl->n == 1 ? "" : "s");
    return RAY_OK;
}

uint8_t cl_agent_token[RT_TOKEN_LEN];

/* ---- gets and waits: their pulls first ---- */

static ray_err
cl_get(ray_ref ref, ray_view *out, int64_t timeout_ms)
{
    uint64_t id = sdk_ref_id(ref);
    if (g_cl && id)
        cl_pull_hurry(g_cl, &id, 1, CL_PULL_GET); /* parked: pulled now */
    return sdk_backend_embedded.get(ref, out, timeout_ms);
}

static ray_err
cl_wait(const ray_ref *refs, size_t n, size_t num_ready, int64_t timeout_ms,
        size_t *ready_idx, size_t *n_ready)
{
    uint64_t ids[64]; /* parked: pulled now (Ray's fetch_local) */
    for (size_t k = 0; g_cl && k < n;) {
        size_t m = 0;
        for (; k < n && m < 64; k++)
            ids[m++] = sdk_ref_id(refs[k]);
        cl_pull_hurry(g_cl, ids, m, CL_PULL_WAIT);
    }
    return sdk_backend_embedded.wait(refs, n, num_ready, timeout_ms, ready_idx,
                                     n_ready);
}

/* ---- nodes, for users ---- */

RAY_API ray_err
ray_node_id(char out[RAY_NODE_ID_SIZE])
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_node_id: out is NULL");
    /* An agent and its workers have it from the raylet; the driver's
     * workers from the driver (the shared header); the driver itself. */
    const char *id = getenv("RAYC_NODE_ID");
    if (!id || strlen(id) != RAY_NODE_ID_SIZE - 1)
        id = sdk_in_worker ? sdk_wk_node_id() : g_cl ? g_cl->self_id : "";
    if (strlen(id) != RAY_NODE_ID_SIZE - 1)
        return sdk_fail(RAY_ENOTFOUND, "ray_node_id: %s",
                        g_cl || sdk_in_worker ? "this machine runs no "
                                                "raylet of the cluster"
                                              : "not in a cluster");
    memcpy(out, id, RAY_NODE_ID_SIZE);
    return RAY_OK;
}

static void
node_info(const Ray__Rpc__NodeInfo *ni, ray_node_info *o)
{
    memset(o, 0, sizeof(*o));
    if (ni->node_id.len == 28)
        rt_id_hex_encode(ni->node_id.data, 28, o->id);
    if (ni->raylet_address && ni->raylet_address->ip)
        snprintf(o->address, sizeof(o->address), "%s:%u",
                 ni->raylet_address->ip, ni->raylet_address->port);
    snprintf(o->hostname, sizeof(o->hostname), "%s",
             ni->hostname ? ni->hostname : "");
    snprintf(o->death_reason, sizeof(o->death_reason), "%s",
             ni->death_reason ? ni->death_reason : "");
    o->alive = ni->state == RAY__RPC__NODE_STATE__NODE_STATE_ALIVE;
    o->is_head = ni->is_head;
    size_t rk = 0;
    for (size_t j = 0;
         ni->total_resources && j < ni->total_resources->n_entries; j++) {
        const Ray__Rpc__ResourceEntry *re = ni->total_resources->entries[j];
        if (!strcmp(re->name, "CPU"))
            o->num_cpus = re->quantity;
        else if (rk < sizeof(o->resources))
            rk += (size_t)snprintf(o->resources + rk, sizeof(o->resources) - rk,
                                   "%s%s:%g", rk ? "," : "", re->name,
                                   re->quantity);
    }
    for (size_t j = 0;
         ni->available_resources && j < ni->available_resources->n_entries; j++)
        if (!strcmp(ni->available_resources->entries[j]->name, "CPU"))
            o->cpus_free = ni->available_resources->entries[j]->quantity;
}

RAY_API ray_err
ray_nodes(ray_node_info **out, size_t *n)
{
    cl_driver *cl = g_cl;
    if (!out || !n)
        return sdk_fail(RAY_EINVAL, "ray_nodes: NULL argument");
    *out = NULL;
    *n = 0;
    if (sdk_in_worker || !cl || !cl->head[0])
        return sdk_fail(RAY_EINVAL, "ray_nodes: %s",
                        sdk_in_worker ? "the driver only" : "not in a cluster");
    Ray__Rpc__GetAllNodesReply *r = NULL;
    char why[400];
    ray_err err = get_nodes(cl, &r, why, sizeof(why));
    if (err != RAY_OK)
        return sdk_fail(err, "ray_nodes: the head at %s: %s", cl->head, why);
    ray_node_info *v = rt_calloc(r->n_nodes ? r->n_nodes : 1, sizeof(*v));
    if (!v) {
        rt_proto_free(&r->base);
        return sdk_fail(RAY_ENOMEM, "ray_nodes: out of memory");
    }
    for (size_t k = 0; k < r->n_nodes; k++)
        node_info(r->nodes[k], &v[k]);
    *out = v;
    *n = r->n_nodes;
    rt_proto_free(&r->base);
    return RAY_OK;
}

cl_driver *
cl_client(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    cl_driver *cl = g_cl;
    if (cl) {
        pthread_mutex_unlock(&mu);
        return cl;
    }
    cl = rt_calloc(1, sizeof(*cl));
    if (!cl || pipe2(cl->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        rt_free(cl);
        pthread_mutex_unlock(&mu);
        sdk_fail(RAY_ENOMEM, "the agent's cluster client: out of memory");
        return NULL;
    }
    cl->gcs_fd = -1;
    cl->self_node = -1;
    memcpy(cl->tok, cl_agent_token, RT_TOKEN_LEN);
    pthread_mutex_init(&cl->act_mu, NULL);
    pthread_mutex_init(&cl->gcs_mu, NULL);
    pthread_mutex_init(&cl->add_mu, NULL);
    pthread_mutex_init(&cl->xfer_mu, NULL);
    pthread_cond_init(&cl->xfer_cv, NULL);
    cl->receiver_started =
        pthread_create(&cl->receiver, NULL, receiver_main, cl) == 0;
    g_cl = cl;
    sdk_remote_actor_call = cl_actor_call_from_task;
    pthread_mutex_unlock(&mu);
    return cl;
}

void
sdk_cluster_fini(void)
{
    cl_defer_fini();
}

void
sdk_cluster_leave(void)
{
    cl_driver *cl = g_cl;
    if (!cl)
        return;
    cl_pg_stop();         /* first: a reservation in flight is answered */
    cl_args_again_wait(); /* and calls being sent again are sent */
    atomic_store(&cl->stop, 1);
    if (write(cl->wake[1], "x", 1) < 0)
        (void)0;
    if (cl->watcher_started)
        pthread_join(cl->watcher, NULL);
    for (int i = 0; i < cl->n; i++) {
        cl_node *nd = &cl->nodes[i];
        pthread_mutex_lock(&nd->mu);
        pthread_cond_broadcast(&nd->cv);
        pthread_mutex_unlock(&nd->mu);
        if (nd->sender_started)
            pthread_join(nd->sender, NULL);
    }
    if (cl->receiver_started)
        pthread_join(cl->receiver, NULL);
    cl_defer_stop();
    cl_borrow_stop();
    if (cl->be.get) /* a driver's: parked values are not pulled now */
        cl_parked_hooks(false);
    cl_data_close(cl); /* no pull starts now: the receiver starts them */
    for (int i = 0; i < cl->n; i++) {
        cl_node *nd = &cl->nodes[i];
        close(nd->fd); /* the agent ends with it */
        for (size_t k = 0; k < nd->fl.cap; k++)
            if (nd->fl.e[k].id && nd->fl.e[k].id != FL_TOMB) {
                rt_free(nd->fl.e[k].task);
                rt_free(nd->fl.e[k].handles);
            }
        rt_free(nd->fl.e);
        rt_free(nd->buf);
        rt_free(nd->partial);
        rt_frame_reader_fini(&nd->rd);
        pthread_mutex_destroy(&nd->mu);
        pthread_cond_destroy(&nd->cv);
    }
    if (cl->gcs_fd >= 0)
        close(cl->gcs_fd);
    cl_actors_free(cl);
    pthread_mutex_destroy(&cl->act_mu);
    pthread_mutex_destroy(&cl->gcs_mu);
    pthread_mutex_destroy(&cl->add_mu);
    pthread_mutex_destroy(&cl->xfer_mu);
    pthread_cond_destroy(&cl->xfer_cv);
    close(cl->wake[0]);
    close(cl->wake[1]);
    sdk_remote_actor_call = NULL;
    sdk_remote_timeline_enable = NULL;
    sdk_remote_timelines = NULL;
    sdk_remote_actor_states = NULL;
    sdk_remote_served = NULL;
    sdk_remote_value_freed = NULL;
    g_cl = NULL;
    rt_free(cl);
}

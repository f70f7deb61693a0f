/* SPDX-License-Identifier: Apache-2.0
 *
 * agent.c: a job's agent on a node (cluster.h). The raylet ran the
 * driver's executable with the driver's connection; the agent starts an
 * embedded runtime with the node's CPUs, runs the calls of each TaskBatch
 * by function name, and sends their values back in ResultBatch frames as
 * they finish (a result thread waits on the oldest 1024 calls at a time).
 *
 * Other drivers reach the actors it hosts (named ones, looked up at the
 * head) by attaching: their connection comes from the raylet over the
 * agent's control socket (RAYC_AGENT_CTL), and is served the same way,
 * for actor records only, each with its own result thread; the handles
 * such a driver counted are dropped when it goes.
 *
 * When the job's driver goes, its actors end with it (as its tasks'
 * results do), except detached ones: the agent stays while one lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fdwait.h"
#include "runtime/fdpass.h"
#include "runtime/frame.h"
#include "runtime/ids.h"
#include "runtime/log.h"
#include "runtime/net.h"
#include "runtime/random.h"
#include "sdk/backend.h"
#include "sdk/cluster.h"
#include "sdk/cluster_int.h"
#include "sdk/sdk_int.h"
#include "sdk/transfer.h"

#define WINDOW 1024

typedef struct pending {
    uint64_t id; /* the driver's */
    ray_ref ref; /* ours */
} pending;

/* A connection served: the job's driver's (primary), or an attached
 * driver's. */
typedef struct client {
    int fd;
    bool primary;
    _Atomic int refs;   /* its threads (reader, results, waits) */
    _Atomic int gone;   /* a write failed: nothing more is sent */
    pthread_mutex_t mu; /* q, eof */
    pthread_cond_t cv;
    pending *q;
    size_t head, n, cap; /* a ring */
    bool eof;
    pthread_mutex_t send_mu; /* w */
    rt_frame_writer w;       /* kept: a fresh buffer per frame faults */
    uint64_t *held;          /* attached: the keys it counted, one a count */
    size_t nheld, cheld;
} client;

static client *
client_new(int fd, bool primary)
{
    client *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC); /* not the runtime's workers' */
    c->fd = fd;
    c->primary = primary;
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_init(&c->send_mu, NULL);
    rt_frame_writer_init(&c->w, RT_NET_MAX_FRAME);
    return c;
}

static void
client_unref(client *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    close(c->fd);
    rt_frame_writer_fini(&c->w);
    rt_free(c->q);
    rt_free(c->held);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->send_mu);
    rt_free(c);
}

/* One frame to client c. A client that is gone is not written to again
 * (its reader sees the end and cleans up). Any thread. */
static void
send_frame(client *c, uint32_t type, const ProtobufCMessage *m)
{
    if (atomic_load(&c->gone))
        return;
    pthread_mutex_lock(&c->send_mu);
    ray_err err = rt_frame_writer_put(&c->w, type, m);
    while (err == RAY_OK) {
        err = rt_frame_writer_flush(&c->w, c->fd);
        if (err != RAY_EAGAIN)
            break;
        err = rt_fd_wait(c->fd, POLLOUT, rt_deadline_after_ms(-1));
    }
    if (err != RAY_OK) {
        atomic_store(&c->gone, 1);
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&c->send_mu);
}

static void
send_results(client *c, Ray__Rpc__ClusterResult **rs, size_t n)
{
    if (!n)
        return;
    Ray__Rpc__ResultBatch b = RAY__RPC__RESULT_BATCH__INIT;
    b.results = rs;
    b.n_results = n;
    b.served = xfer_served();
    send_frame(c, RAY__RPC__MESSAGE_TYPE__MSG_RESULT_BATCH, &b.base);
}

static void
push(client *c, uint64_t id, ray_ref ref)
{
    pthread_mutex_lock(&c->mu);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        pending *nq = rt_malloc(cap * sizeof(*nq));
        if (!nq)
            abort();
        for (size_t i = 0; i < c->n; i++)
            nq[i] = c->q[(c->head + i) % (c->cap ? c->cap : 1)];
        rt_free(c->q);
        c->q = nq;
        c->cap = cap;
        c->head = 0;
    }
    c->q[(c->head + c->n) % c->cap] = (pending){id, ref};
    c->n++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void
fill_result(Ray__Rpc__ClusterResult *r, uint64_t id, ray_ref ref, ray_view *v,
            bool *have_view)
{
    ray__rpc__cluster_result__init(r);
    r->id = id;
    *have_view = false;
    ray_err err = ray_get(ref, v, 0);
    if (err == RAY_OK && v->len >= XFER_KEEP_MIN) {
        /* Large: it stays here until the driver has pulled it. */
        r->type = v->type;
        r->stored_size = v->len;
        r->stored = xfer_keep(v);
        if (!r->stored) {
            ray_release(v);
            r->err = RAY_ENOMEM;
            r->message = rt_strdup("out of memory keeping a large value");
        }
    } else if (err == RAY_OK) {
        *have_view = true;
        r->type = v->type;
        r->data = (ProtobufCBinaryData){v->len, (uint8_t *)v->data};
    } else {
        r->err = (uint32_t)err;
        const char *d = ray_last_error_detail();
        r->message = rt_strdup(d ? d : "");
    }
}

static void *
results_main(void *arg)
{
    client *c = arg;
    ray_ref win[WINDOW];
    uint64_t ids[WINDOW];
    size_t ready[WINDOW];
    Ray__Rpc__ClusterResult rs[WINDOW], *rp[WINDOW];
    ray_view views[WINDOW];
    bool hv[WINDOW];
    uint64_t stuck = 0; /* the oldest call, once it ran past a short wait */
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->n && !c->eof)
            pthread_cond_wait(&c->cv, &c->mu);
        if (!c->n && c->eof) {
            pthread_mutex_unlock(&c->mu);
            client_unref(c);
            return NULL;
        }
        size_t w = c->n < WINDOW ? c->n : WINDOW;
        for (size_t i = 0; i < w; i++) {
            win[i] = c->q[(c->head + i) % c->cap].ref;
            ids[i] = c->q[(c->head + i) % c->cap].id;
        }
        pthread_mutex_unlock(&c->mu);
        /* Wait for the oldest call alone (workers then publish their
         * results in batches rather than wake this thread for each), and
         * take in whatever else is ready with it. Once the oldest has run
         * a while (a long call ahead of short ones), wait for any. */
        if (ids[0] != stuck &&
            sdk_drv_wait_one(win[0], w == 1 ? 20 : 2) == RAY_ETIMEDOUT && w > 1)
            stuck = ids[0];
        size_t nr = 0;
        ray_wait(win, w, 1, ids[0] == stuck ? 20 : 0, ready, &nr);
        if (!nr)
            continue;
        bool done[WINDOW] = {false};
        for (size_t k = 0; k < nr; k++) {
            size_t i = ready[k];
            done[i] = true;
            fill_result(&rs[k], ids[i], win[i], &views[k], &hv[k]);
            rp[k] = &rs[k];
        }
        /* Frames of CL_BATCH_MAX bytes at most. */
        for (size_t k = 0, from = 0, bytes = 0; k < nr; k++) {
            bytes += rs[k].data.len + 32;
            if (k + 1 == nr || bytes + rs[k + 1].data.len > CL_BATCH_MAX) {
                send_results(c, rp + from, k + 1 - from);
                from = k + 1;
                bytes = 0;
            }
        }
        for (size_t k = 0; k < nr; k++) {
            if (hv[k])
                ray_release(&views[k]);
            else if (rs[k].err) /* a kept value's is protobuf-c's "" */
                rt_free(rs[k].message);
        }
        /* Drop the finished ones from the window, keeping the order of
         * the rest (push only appends, so the window's entries are where
         * they were, relative to head). */
        pending kept[WINDOW];
        size_t keep = 0;
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < w; i++) {
            pending p = c->q[(c->head + i) % c->cap];
            if (done[i])
                ray_ref_release(p.ref);
            else
                kept[keep++] = p;
        }
        for (size_t j = 0; j < keep; j++)
            c->q[(c->head + (w - keep) + j) % c->cap] = kept[j];
        c->head = (c->head + (w - keep)) % c->cap;
        c->n -= w - keep;
        pthread_mutex_unlock(&c->mu);
    }
}

/* An error result for record `id`, with the node named. */
static void fail_result(client *c, uint64_t id, ray_err err, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static void
fail_result(client *c, uint64_t id, ray_err err, const char *fmt, ...)
{
    if (!id)
        return;
    char detail[300], msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    const char *ip = getenv("RAYC_NODE_IP");
    snprintf(msg, sizeof(msg), "on node %s: %s", ip ? ip : "?", detail);
    Ray__Rpc__ClusterResult r = RAY__RPC__CLUSTER_RESULT__INIT, *rp = &r;
    r.id = id;
    r.err = (uint32_t)err;
    r.message = msg;
    send_results(c, &rp, 1);
}

/* A value of `type` as record `id`'s result. */
static void
data_result(client *c, uint64_t id, uint32_t type, const void *data, size_t len)
{
    Ray__Rpc__ClusterResult r = RAY__RPC__CLUSTER_RESULT__INIT, *rp = &r;
    r.id = id;
    r.type = type;
    r.data = (ProtobufCBinaryData){len, (uint8_t *)data};
    send_results(c, &rp, 1);
}

static void
value_result(client *c, uint64_t id, uint64_t bits)
{
    data_result(c, id, RAY_T_I64, &bits, sizeof(bits));
}

/* A timeline record (CLUSTER_TIMELINE) from the job's driver: record
 * this runtime's calls or stop, or send what was recorded. */
static void
timeline_record(client *c, Ray__Rpc__ClusterTask *t)
{
    if (!c->primary) {
        fail_result(c, t->id, RAY_EINVAL,
                    "only the job's driver asks for its timeline");
        return;
    }
    if (strcmp(t->function, "dump")) {
        ray_timeline_enable(!strcmp(t->function, "on"));
        return;
    }
    void *b = NULL;
    size_t n = 0;
    if (sdk_timeline_export(&b, &n, CL_RECORD_MAX - 1024) != RAY_OK) {
        fail_result(c, t->id, RAY_ENOMEM, "%s", ray_last_error_detail());
        return;
    }
    data_result(c, t->id, RAY_T_BYTES, b, n);
    rt_free(b);
}

/* The driver's actors here, by the driver's key (1, 2, ...). The job's
 * driver fills it; attached drivers read it. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* an entry was set */
    ray_actor *h;
    char **why; /* why its creation failed, or NULL */
    bool *detached;
    size_t n;
} ACT = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The actor of `key`, and (into why[whylen]) why there is none. */
static ray_actor
actor_of(uint64_t key, char *why, size_t whylen)
{
    pthread_mutex_lock(&ACT.mu);
    ray_actor h = key < ACT.n ? ACT.h[key] : RAY_ACTOR_NULL;
    if (!h.id) /* the reason only when there is none (calls are hot) */
        snprintf(why, whylen, "%s",
                 key < ACT.n && ACT.why[key] ? ACT.why[key]
                                             : "no such actor on this node");
    pthread_mutex_unlock(&ACT.mu);
    return h;
}

/* The same for an attached driver, or an agent given a handle: its
 * record may come before the actor's creation record, which is still on
 * its way on the owner's own connection. Wait for that a while (10 s):
 * an actor its owner never made is then "no such actor". */
static ray_actor
actor_of_wait(uint64_t key, char *why, size_t whylen)
{
    struct timespec dl = {0, 0};
    pthread_mutex_lock(&ACT.mu);
    while (key < (1u << 30) &&
           (key >= ACT.n || (!ACT.h[key].id && !ACT.why[key]))) {
        if (!dl.tv_sec) { /* only when it must wait: calls are hot */
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += 10;
        }
        if (pthread_cond_timedwait(&ACT.cv, &ACT.mu, &dl) != 0)
            break;
    }
    pthread_mutex_unlock(&ACT.mu);
    return actor_of(key, why, whylen);
}

static void
actor_set(uint64_t key, ray_actor h, const char *why, bool detached)
{
    if (key >= (1u << 30))
        return;
    pthread_mutex_lock(&ACT.mu);
    if (key >= ACT.n) {
        size_t n = ACT.n ? ACT.n : 64;
        while (n <= key)
            n *= 2;
        ray_actor *nh = rt_realloc(ACT.h, n * sizeof(*nh));
        if (nh)
            ACT.h = nh;
        char **nw = rt_realloc(ACT.why, n * sizeof(*nw));
        if (nw)
            ACT.why = nw;
        bool *nd = rt_realloc(ACT.detached, n * sizeof(*nd));
        if (nd)
            ACT.detached = nd;
        if (!nh || !nw || !nd) {
            pthread_mutex_unlock(&ACT.mu);
            return;
        }
        memset(ACT.h + ACT.n, 0, (n - ACT.n) * sizeof(*nh));
        memset(ACT.why + ACT.n, 0, (n - ACT.n) * sizeof(*nw));
        memset(ACT.detached + ACT.n, 0, (n - ACT.n) * sizeof(*nd));
        ACT.n = n;
    }
    ACT.h[key] = h;
    rt_free(ACT.why[key]);
    ACT.why[key] = why ? rt_strdup(why) : NULL;
    ACT.detached[key] = detached;
    pthread_cond_broadcast(&ACT.cv);
    pthread_mutex_unlock(&ACT.mu);
}

/* This agent's job and raylet ("ip:port"): a handle argument naming them
 * is one of its own actors. */
static uint64_t g_job;
static char g_raylet[RT_HOST_MAX + 8];

/* The handle a call's argument describes (ClusterArg.actor): one of this
 * agent's actors, or a proxy to another agent's. Null: the detail says
 * why. */
static ray_actor
actor_arg(const char *desc)
{
    unsigned long long job = 0;
    unsigned rkey = 0;
    char addr[RT_HOST_MAX + 8] = "", why[300];
    if (sscanf(desc, "%llx %71s %u", &job, addr, &rkey) == 3 && job == g_job &&
        !strcmp(addr, g_raylet)) {
        ray_actor h = actor_of(rkey, why, sizeof(why));
        if (!h.id)
            sdk_fail(RAY_EACTOR_DIED, "%s", why);
        return h;
    }
    return cl_actor_from_desc(desc);
}

/* An attached driver's counts, dropped when it goes. */
static bool
held_add(client *c, uint64_t key)
{
    uint64_t *nh = rt_array_room(c->held, c->nheld, &c->cheld, sizeof(*nh), 16);
    if (!nh)
        return false;
    c->held = nh;
    c->held[c->nheld++] = key;
    return true;
}

static bool
held_drop(client *c, uint64_t key)
{
    for (size_t i = 0; i < c->nheld; i++)
        if (c->held[i] == key) {
            c->held[i] = c->held[--c->nheld];
            return true;
        }
    return false;
}

typedef struct waiting {
    client *c;
    ray_actor h;
    uint64_t id;
    int64_t timeout_ms;
} waiting;

static void *
wait_main(void *arg)
{
    waiting *w = arg;
    ray_err err = ray_actor_wait_ready(w->h, w->timeout_ms);
    if (err == RAY_OK)
        value_result(w->c, w->id, 0);
    else
        fail_result(w->c, w->id, err, "%s", ray_last_error_detail());
    client_unref(w->c);
    rt_free(w);
    return NULL;
}

static void
actor_record(client *c, Ray__Rpc__ClusterTask *t, const ray_arg *args)
{
    char why[300];
    why[0] = 0; /* actor_of fills it only when there is no actor */
    ray_actor h =
        c->primary || t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CREATE
            ? actor_of(t->actor, why, sizeof(why))
            : actor_of_wait(t->actor, why, sizeof(why));
    if (!c->primary &&
        (t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CREATE ||
         t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_CALL)) {
        fail_result(c, t->id, RAY_EINVAL,
                    "a driver attached to another job's agent only calls "
                    "its actors");
        return;
    }
    switch (t->kind) {
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CREATE: {
        const ray_fn_desc *d = sdk_registry_find(sdk_name_hash(t->function));
        ray_actor_opts o = {
            .num_cpus = t->num_cpus,
            .resources = t->resources && *t->resources ? t->resources : NULL,
            .name = t->name && *t->name ? t->name : NULL,
            .detached = t->detached,
            .own_process = t->own_process,
            .max_restarts = t->max_restarts,
            .max_task_retries = t->max_task_retries,
            .max_concurrency = t->max_concurrency,
            .pg = {t->pg},
            .pg_bundle = t->pg_bundle,
        };
        ray_actor made = RAY_ACTOR_NULL;
        char msg[300] = "";
        if (!d)
            snprintf(msg, sizeof(msg), "no actor class '%s' in this build",
                     t->function);
        else if (ray_actor_create(d, args, (uint32_t)t->n_args, &o, &made) !=
                 RAY_OK)
            snprintf(msg, sizeof(msg), "creating it failed: %s",
                     ray_last_error_detail());
        actor_set(t->actor, made, msg[0] ? msg : NULL, t->detached);
        return;
    }
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CALL: {
        const ray_fn_desc *d = sdk_registry_find(sdk_name_hash(t->function));
        if (!h.id) {
            fail_result(c, t->id, RAY_EACTOR_DIED, "%s", why);
            return;
        }
        if (!d) {
            fail_result(c, t->id, RAY_ENOTFOUND, "no method '%s' in this build",
                        t->function);
            return;
        }
        ray_ref ref = ray_actor_submit(h, d, args, (uint32_t)t->n_args);
        if (ref.id == 0)
            fail_result(c, t->id, RAY_EINVAL, "%s", ray_last_error_detail());
        else
            push(c, t->id, ref);
        return;
    }
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RELEASE:
        if (c->primary || held_drop(c, t->actor))
            ray_actor_release(h);
        return;
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RETAIN:
        if (h.id && ray_actor_retain(h) == RAY_OK && !c->primary &&
            !held_add(c, t->actor))
            ray_actor_release(h);
        return;
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_KILL:
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_KILL_NO_RESTART:
        if (h.id)
            ray_actor_kill(
                h, t->kind ==
                       RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_KILL_NO_RESTART);
        return;
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_STATE: {
        int st = RAY_ACTOR_DEAD, rs = 0, pid = 0;
        if (h.id && ray_actor_state(h, &st, &rs) == RAY_OK)
            pid = sdk_drv_actor_pid(h);
        value_result(c, t->id, cl_actor_state_bits(st, rs, pid));
        return;
    }
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_WAIT: {
        pthread_t th;
        waiting *w = rt_malloc(sizeof(*w));
        if (!h.id || !w) {
            rt_free(w);
            fail_result(c, t->id, RAY_EACTOR_DIED, "%s", why);
            return;
        }
        *w = (waiting){c, h, t->id, t->timeout_ms};
        atomic_fetch_add(&c->refs, 1);
        if (pthread_create(&th, NULL, wait_main, w) == 0)
            pthread_detach(th);
        else
            wait_main(w); /* no thread: wait here */
        return;
    }
    default:
        fail_result(c, t->id, RAY_EPROTO, "unknown record kind %d",
                    (int)t->kind);
    }
}

/* The job's driver's placement group with bundles here: reserved now,
 * all of them, as a group of this runtime (its id is the result), or
 * refused with RAY_EAGAIN; removed when the driver says so (or with the
 * agent, when the driver leaves). */
static void
pg_record(client *c, Ray__Rpc__ClusterTask *t)
{
    if (!c->primary) {
        fail_result(c, t->id, RAY_EINVAL,
                    "a driver attached to another job's agent makes no "
                    "placement groups there");
        return;
    }
    if (t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_PG_REMOVE) {
        ray_pg_remove((ray_pg){t->pg});
        return;
    }
    size_t n = t->n_bundle_cpus;
    ray_bundle *b = rt_calloc(n ? n : 1, sizeof(*b));
    if (!b || n != t->n_bundle_resources || n == 0) {
        rt_free(b);
        fail_result(c, t->id, b ? RAY_EPROTO : RAY_ENOMEM,
                    "a placement group's record without its bundles");
        return;
    }
    for (size_t k = 0; k < n; k++)
        b[k] = (ray_bundle){t->bundle_cpus[k], t->bundle_resources[k]};
    ray_pg pg;
    ray_err err = sdk_pg_reserve_now(b, (uint32_t)n, &pg);
    rt_free(b);
    if (err == RAY_OK)
        value_result(c, t->id, pg.id);
    else
        fail_result(c, t->id, err, "%s", ray_last_error_detail());
}

/* A value a node's agent keeps, from its description "RAYLET JOB KEY
 * SIZE" (ClusterArg.remote): parsed, and whether it is this agent's. */
typedef struct remote_arg {
    char raylet[RT_HOST_MAX + 8];
    uint64_t job, key, size;
    uint64_t keep_as; /* pulled here: keep it under this key (0: no) */
    bool here;
} remote_arg;

static bool
remote_parse(const char *desc, remote_arg *r)
{
    unsigned long long job, key, size, keep_as = 0;
    if (sscanf(desc, "%63s %llx %llu %llu %llu", r->raylet, &job, &key, &size,
               &keep_as) < 4)
        return false;
    r->job = job;
    r->key = key;
    r->size = size;
    r->keep_as = keep_as;
    r->here = job == g_job && !strcmp(r->raylet, g_raylet);
    return true;
}

static bool ask_driver(int kind, ray_ref ref, uint64_t local, const char *how);

typedef struct value_pull {
    uint64_t standin;
    ray_ref asked;
    uint32_t type;
    char desc[CL_REMOTE_DESC];
} value_pull;

/* A copy of `len` bytes of `type` in this node's store, *out holding it. */
static ray_err
store_copy(uint32_t type, const void *data, uint64_t len, ray_ref *out)
{
    uint64_t key = 0;
    void *dst = NULL;
    ray_err e = sdk_store_begin(sdk_g, len, 30000, 0, &key, &dst);
    if (e != RAY_OK)
        return e;
    memcpy(dst, data, len);
    if ((e = sdk_store_end(sdk_g, key, true)) != RAY_OK)
        return e;
    return sdk_put_key(sdk_g, type, key, out);
}

/* A borrowed value kept on a node (value_record): pulled from there into
 * its stand-in, or, from this node's own copy, copied in; if that fails,
 * the driver is asked for the bytes themselves. */
static void *
value_pull_main(void *arg)
{
    value_pull *p = arg;
    remote_arg ra;
    ray_ref v = RAY_REF_NULL;
    char why[400] = "a malformed location";
    ray_err e = RAY_EPROTO;
    if (!remote_parse(p->desc, &ra)) {
        /* why says it */
    } else if (!ra.here) {
        e = xfer_pull_ref(ra.raylet, ra.job, cl_agent_token, ra.key, ra.size,
                          p->type, 0, &v, why, sizeof(why));
        if (e == RAY_OK && (e = cl_settle_from(p->standin, v)) != RAY_OK)
            snprintf(why, sizeof(why), "its stand-in here was settled");
    } else if ((v = xfer_kept_ref(ra.key)).id) { /* kept here: copied */
        ray_view view;
        ray_ref mine = RAY_REF_NULL;
        if ((e = ray_get(v, &view, 60000)) == RAY_OK) {
            e = store_copy(view.type, view.data, view.len, &mine);
            ray_release(&view);
        }
        if (e == RAY_OK)
            e = cl_settle_from(p->standin, mine);
        if (e != RAY_OK)
            snprintf(why, sizeof(why), "%s", ray_last_error_detail());
        if (mine.id)
            ray_ref_release(mine);
    } else {
        snprintf(why, sizeof(why), "%s", ray_last_error_detail());
    }
    if (v.id)
        ray_ref_release(v);
    if (e != RAY_OK) {
        RT_DEBUG("agent: a borrowed value at %s could not be read (%s): its "
                 "bytes are asked for",
                 p->desc, why);
        if (!ask_driver(RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_GET, p->asked,
                        p->standin, "bytes"))
            cl_fail(p->standin, RAY_EOBJECT_LOST,
                    "the job's driver, which answers for the ref's owner, is "
                    "gone");
    }
    rt_free(p);
    return NULL;
}

/* The value of an object this runtime borrows (CLUSTER_OBJ_VALUE): its
 * stand-in here, t->object, settles with it (moved from the pushed
 * value, which nothing else holds; or pulled, on a thread, from where it
 * is kept), or with its error. */
static void
value_record(Ray__Rpc__ClusterTask *t)
{
    Ray__Rpc__ClusterArg *a = t->n_args == 1 ? t->args[0] : NULL;
    if (t->err || !a) {
        cl_fail(t->object, t->err ? (ray_err)t->err : RAY_EPROTO,
                t->err ? t->name : "a borrowed value's record without it");
    } else if (!sdk_type_buffer(a->type) && !sdk_type_scalar(a->type)) {
        cl_fail(t->object, RAY_EPROTO,
                "a borrowed value of an unknown type came from the driver");
    } else if (a->pushed) {
        ray_ref v = xfer_take(a->pushed);
        if (!v.id || cl_settle_from(t->object, v) != RAY_OK)
            cl_fail(t->object, RAY_EOBJECT_LOST,
                    "the borrowed value pushed here was lost");
        ray_ref_release(v);
    } else if (a->remote && *a->remote) {
        value_pull *p = rt_calloc(1, sizeof(*p));
        pthread_t th;
        if (p) {
            *p = (value_pull){t->object, {t->id, t->tag}, a->type, ""};
            snprintf(p->desc, sizeof(p->desc), "%s", a->remote);
        }
        if (!p || pthread_create(&th, NULL, value_pull_main, p) != 0) {
            rt_free(p);
            cl_fail(t->object, RAY_ENOMEM,
                    "no thread to pull a borrowed value");
        } else {
            pthread_detach(th);
        }
    } else if (sdk_type_buffer(a->type)) {
        cl_settle_now(t->object, RAY_OK, NULL, a->type, a->data.data,
                      a->data.len);
    } else {
        cl_settle_now(t->object, RAY_OK, NULL, a->type, &a->bits,
                      sizeof(a->bits));
    }
}

/* An object of this runtime the driver borrows (cluster_borrow.c): its
 * value as result t->id, or a holder more or less; or the value of one
 * this runtime borrows. */
static void
obj_record(client *c, Ray__Rpc__ClusterTask *t)
{
    ray_ref ref = sdk_ref(t->object);
    if (!c->primary) {
        fail_result(c, t->id, RAY_EINVAL,
                    "only the job's driver borrows its runtime's objects");
        return;
    }
    switch (t->kind) {
    case RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_VALUE:
        value_record(t);
        break;
    case RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_FREED:
        cl_borrow_forget((ray_ref){t->object, t->tag});
        break;
    case RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_GET: {
        /* A small value here already goes now, not by the result thread. */
        ray_view v;
        if (ray_get(ref, &v, 0) == RAY_OK && v.len < XFER_KEEP_MIN) {
            data_result(c, t->id, v.type, v.data, v.len);
            ray_release(&v);
            break;
        }
        if (v.data)
            ray_release(&v);
        if (ray_ref_retain(ref) == RAY_OK) /* push's, dropped once sent */
            push(c, t->id, ref);
        else
            fail_result(c, t->id, RAY_EINVAL,
                        "object %llu of the job's runtime here was released "
                        "by every holder",
                        (unsigned long long)t->object);
        break;
    }
    case RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_RETAIN:
        (void)ray_ref_retain(ref);
        break;
    default:
        ray_ref_release(ref);
    }
}

/* Run record t; `pulled` (NULL: none) holds the values of its remote
 * arguments kept elsewhere, pulled here. */
static void
run_task(client *c, Ray__Rpc__ClusterTask *t, const ray_ref *pulled)
{
    ray_arg av[16];
    ray_arg *args = t->n_args > 16 ? rt_calloc(t->n_args, sizeof(*args)) : av;
    if (!args) {
        fail_result(c, t->id, RAY_ENOMEM, "out of memory for arguments");
        return;
    }
    bool ok = true;
    size_t nset = 0; /* args[0, nset) are set */
    for (size_t k = 0; k < t->n_args && ok; k++, nset++) {
        Ray__Rpc__ClusterArg *a = t->args[k];
        memset(&args[k], 0, sizeof(args[k]));
        args[k].type = a->type;
        remote_arg ra;
        if (a->actor && *a->actor) {
            ray_actor h = actor_arg(a->actor);
            args[k].type = RAY_T_U64;
            args[k].pad = RAY_ARG_ACTOR;
            args[k].v.u64 = h.id;
            if (!h.id) {
                fail_result(c, t->id, RAY_EACTOR_DIED,
                            "argument %zu, an actor handle: %s", k + 1,
                            ray_last_error_detail());
                ok = false;
            }
        } else if (a->pushed || (a->remote && *a->remote)) {
            /* In this node's store: a ref, ours until the call holds it */
            args[k].type = RAY_T_REF;
            if (a->pushed)
                args[k].v.ref = xfer_take(a->pushed);
            else if (pulled && pulled[k].id)
                args[k].v.ref = ray_ref_retain(pulled[k]) == RAY_OK
                                    ? pulled[k]
                                    : RAY_REF_NULL;
            else if (remote_parse(a->remote, &ra) && ra.here)
                args[k].v.ref = xfer_kept_ref(ra.key);
            else
                sdk_fail(RAY_EPROTO, "a value kept elsewhere, not pulled");
            if (!args[k].v.ref.id) {
                fail_result(c, t->id, RAY_EOBJECT_LOST, "argument %zu: %s",
                            k + 1, ray_last_error_detail());
                ok = false;
            }
        } else if (a->type == RAY_T_STR || a->type == RAY_T_BYTES ||
                   a->type == RAY_T_F64S || a->type == RAY_T_I64S) {
            args[k].v.buf.ptr = a->data.data;
            args[k].v.buf.len = a->data.len;
        } else {
            args[k].v.u64 = a->bits;
        }
    }
    if (!ok) {
        /* failed above */
    } else if (t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_TIMELINE) {
        timeline_record(c, t);
    } else if (t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_PG_RESERVE ||
               t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_PG_REMOVE) {
        pg_record(c, t);
    } else if (t->kind != RAY__RPC__CLUSTER_KIND__CLUSTER_CALL || !c->primary) {
        actor_record(c, t, args);
    } else {
        ray_call_opts o = {
            .num_cpus = t->num_cpus,
            .max_retries = t->max_retries,
            .retry_on_error = t->retry_on_error,
            .name = t->name && *t->name ? t->name : NULL,
            .resources = t->resources && *t->resources ? t->resources : NULL,
            .pg = {t->pg},
            .pg_bundle = t->pg_bundle,
        };
        /* As any call made here: its arguments are checked. */
        const ray_fn_desc *d = sdk_registry_find(sdk_name_hash(t->function));
        ray_ref ref = RAY_REF_NULL;
        if (!d)
            fail_result(c, t->id, RAY_ENOTFOUND,
                        "no remote function '%s' in this build", t->function);
        else if ((ref = ray_submit(d, args, (uint32_t)t->n_args, &o)).id == 0)
            fail_result(c, t->id, RAY_EINVAL, "%s", ray_last_error_detail());
        else
            push(c, t->id, ref);
    }
    /* The calls hold the values they were given; a failed record's
     * pushed values go. */
    for (size_t k = 0; k < t->n_args; k++) {
        Ray__Rpc__ClusterArg *a = t->args[k];
        if (k < nset && (a->pushed || (a->remote && *a->remote)))
            ray_ref_release(args[k].v.ref);
        else if (k >= nset && a->pushed)
            ray_ref_release(xfer_take(a->pushed));
    }
    if (args != av)
        rt_free(args);
}

/* Does record t read a value kept on another node, or one still being
 * pulled here (xfer_kept_ref waits for it)? */
static bool
reads_elsewhere(const Ray__Rpc__ClusterTask *t)
{
    for (size_t k = 0; k < t->n_args; k++) {
        remote_arg ra;
        const char *d = t->args[k]->remote;
        if (d && *d &&
            (!remote_parse(d, &ra) || !ra.here || xfer_kept_filling(ra.key)))
            return true;
    }
    return false;
}

#define AGENT_EXPECT_MAX 16 /* copies one record pulls and keeps */

typedef struct pull_args {
    client *c;
    uint8_t *rec;
    size_t len;
    uint64_t expect[AGENT_EXPECT_MAX]; /* keys of the copies it keeps */
    int nexpect;
} pull_args;

/* The copies record t pulls here and keeps: expected in the table from
 * now, so that records after it reading them here wait for them; their
 * keys into p, which cancels them (expect_end) once its pulls took them
 * up or never will. */
static void
expect_copies(const Ray__Rpc__ClusterTask *t, pull_args *p)
{
    for (size_t k = 0; k < t->n_args && p->nexpect < AGENT_EXPECT_MAX; k++) {
        remote_arg ra;
        const char *d = t->args[k]->remote;
        if (!d || !*d || !remote_parse(d, &ra) || ra.here || !ra.keep_as)
            continue;
        xfer_fill_expect(ra.keep_as, ra.size);
        p->expect[p->nexpect++] = ra.keep_as;
    }
}

static void
expect_end(pull_args *p)
{
    for (int k = 0; k < p->nexpect; k++)
        xfer_fill_cancel(p->expect[k]);
    p->nexpect = 0;
}

/* A record that reads values kept on other nodes: pulled here first
 * (from the agent that keeps each), then it runs, on this thread. */
static void *
pull_args_main(void *arg)
{
    pull_args *p = arg;
    client *c = p->c;
    Ray__Rpc__ClusterTask *t =
        ray__rpc__cluster_task__unpack(&rt_protobuf_allocator, p->len, p->rec);
    ray_ref *pulled = t ? rt_calloc(t->n_args + 1, sizeof(*pulled)) : NULL;
    bool ok = pulled != NULL;
    for (size_t k = 0; ok && k < t->n_args; k++) {
        remote_arg ra;
        const char *d = t->args[k]->remote;
        char why[400] = "";
        if (!d || !*d)
            continue;
        if (!remote_parse(d, &ra)) {
            fail_result(c, t->id, RAY_EPROTO,
                        "argument %zu: a malformed location '%s'", k + 1, d);
            ok = false;
        } else if (!ra.here &&
                   xfer_pull_ref(ra.raylet, ra.job, cl_agent_token, ra.key,
                                 ra.size, t->args[k]->type, ra.keep_as,
                                 &pulled[k], why, sizeof(why)) != RAY_OK) {
            /* (Kept under keep_as, when asked, for the calls here that
             * read it next and the nodes that pull it from here.) */
            fail_result(c, t->id, RAY_EOBJECT_LOST,
                        "argument %zu: its value (%llu bytes) on the node at "
                        "%s could not be pulled: %s",
                        k + 1, (unsigned long long)ra.size, ra.raylet, why);
            ok = false;
        }
    }
    expect_end(p);
    if (ok)
        run_task(c, t, pulled);
    else if (!t)
        RT_WARN("agent: a record could not be unpacked again");
    for (size_t k = 0; pulled && k < t->n_args; k++)
        ray_ref_release(pulled[k]);
    rt_free(pulled);
    if (t)
        protobuf_c_message_free_unpacked(&t->base, &rt_protobuf_allocator);
    rt_free(p->rec);
    rt_free(p);
    client_unref(c);
    return NULL;
}

static void
run_batch(client *c, Ray__Rpc__TaskBatch *b)
{
    /* The batch's calls go to the workers in one dispatch at its end. */
    sdk_drv_burst_begin();
    for (size_t i = 0; i < b->n_tasks; i++) {
        Ray__Rpc__ClusterTask *t = b->tasks[i];
        if (t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_FREE) {
            xfer_drop(t->actor);
            continue;
        }
        if (t->kind >= RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_GET &&
            t->kind <= RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_FREED) {
            obj_record(c, t);
            continue;
        }
        if (!reads_elsewhere(t)) {
            run_task(c, t, NULL);
            continue;
        }
        pull_args *p = rt_calloc(1, sizeof(*p));
        size_t len = protobuf_c_message_get_packed_size(&t->base);
        uint8_t *rec = p ? rt_malloc(len ? len : 1) : NULL;
        pthread_t th;
        if (rec) {
            protobuf_c_message_pack(&t->base, rec);
            *p = (pull_args){.c = c, .rec = rec, .len = len};
            atomic_fetch_add(&c->refs, 1);
            expect_copies(t, p);
            if (pthread_create(&th, NULL, pull_args_main, p) == 0) {
                pthread_detach(th);
                continue;
            }
            expect_end(p);
            atomic_fetch_sub(&c->refs, 1);
        }
        rt_free(rec);
        rt_free(p);
        fail_result(c, t->id, RAY_ENOMEM, "no thread to pull its arguments");
    }
    sdk_drv_burst_end();
}

/* The driver's client, once known (a standby learns it late): what the
 * output thread waits for, and what this runtime borrows from. */
static pthread_mutex_t fd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fd_cv = PTHREAD_COND_INITIALIZER;
static client *g_driver;
static int g_stderr = -1; /* the raylet's log: output once the driver left */

static client *
set_driver(int fd)
{
    client *c = client_new(fd, true);
    if (!c)
        _exit(1);
    pthread_mutex_lock(&fd_mu);
    g_driver = c;
    pthread_cond_broadcast(&fd_cv);
    pthread_mutex_unlock(&fd_mu);
    return c;
}

static client *
wait_driver(void)
{
    pthread_mutex_lock(&fd_mu);
    while (!g_driver)
        pthread_cond_wait(&fd_cv, &fd_mu);
    client *c = g_driver;
    pthread_mutex_unlock(&fd_mu);
    return c;
}

/* The file that keeps what this agent and its workers print, for `rayc
 * logs`: RAYC_LOG_DIR/job-IP-PID.log (the raylet serves the files whose
 * name carries its address). Past JOB_LOG_MAX bytes it becomes
 * job-IP-PID.log.1 (the one before goes) and a new one starts, so a job
 * that prints for days keeps at most twice that on the node. */
#define JOB_LOG_MAX (64u << 20)

typedef struct job_log {
    int fd; /* -1: none */
    uint64_t size;
    char path[PATH_MAX];
} job_log;

static void
job_log_open(job_log *j)
{
    const char *dir = getenv("RAYC_LOG_DIR"), *ip = getenv("RAYC_NODE_IP");
    j->fd = -1;
    j->size = 0;
    if (!dir || !*dir || !ip || !*ip)
        return;
    snprintf(j->path, sizeof(j->path), "%s/job-%s-%d.log", dir, ip,
             (int)getpid());
    j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    struct stat st;
    if (j->fd >= 0 && fstat(j->fd, &st) == 0)
        j->size = (uint64_t)st.st_size;
}

static void
job_log_write(job_log *j, const void *buf, size_t n)
{
    if (j->fd < 0)
        return;
    if (j->size + n > JOB_LOG_MAX) {
        char old[PATH_MAX + 4];
        snprintf(old, sizeof(old), "%s.1", j->path);
        close(j->fd);
        if (rename(j->path, old) != 0)
            unlink(j->path);
        job_log_open(j);
        if (j->fd < 0)
            return;
    }
    if (write(j->fd, buf, n) == (ssize_t)n) /* a full disk loses the copy */
        j->size += n;
}

/* What the agent and its workers print ("(pid=N) " before each worker's
 * line) goes to the job's log on this node, and to the driver while it is
 * there (else, without a job log, to the raylet's log: detached actors
 * print on). */
static void *
log_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static uint8_t buf[1 << 16];
    client *drv = wait_driver();
    job_log keep;
    job_log_open(&keep);
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        if (n <= 0)
            continue;
        job_log_write(&keep, buf, (size_t)n);
        if (atomic_load(&drv->gone)) {
            if (keep.fd < 0 && g_stderr >= 0 &&
                write(g_stderr, buf, (size_t)n) < 0)
                (void)0;
            continue;
        }
        Ray__Rpc__LogLines l = RAY__RPC__LOG_LINES__INIT;
        l.text = (ProtobufCBinaryData){(size_t)n, buf};
        send_frame(drv, RAY__RPC__MESSAGE_TYPE__MSG_LOG_LINES, &l.base);
    }
    return NULL;
}

static void
output_to_driver(void)
{
    int p[2];
    pthread_t th;
    if (pipe2(p, O_CLOEXEC) != 0)
        return;
    fflush(stdout);
    fflush(stderr);
    g_stderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0 ||
        pthread_create(&th, NULL, log_main, (void *)(intptr_t)p[0]) != 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    close(p[1]);
    pthread_detach(th);
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* The agent's runtime could not start: every call says why. */
static void
fail_batch(client *c, Ray__Rpc__TaskBatch *b, const char *why)
{
    for (size_t i = 0; i < b->n_tasks; i++)
        fail_result(c, b->tasks[i]->id, RAY_EINVAL,
                    "the job's agent could not start its runtime: %s", why);
}

/* Ready: the driver may send calls (they wait in the socket until the
 * runtime runs). */
static void
say_ready(int fd)
{
    const char *ncpu = getenv("RAYC_NUM_CPUS");
    Ray__Rpc__AgentReady ready = RAY__RPC__AGENT_READY__INIT;
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    ready.status = &st;
    ready.pid = (int32_t)getpid();
    ready.ref_tag = sdk_agent_tag;
    ready.num_cpus = ncpu && atoi(ncpu) > 0 ? (uint32_t)atoi(ncpu) : 1;
    if (rt_frame_send(fd, RAY__RPC__MESSAGE_TYPE__MSG_AGENT_READY, &ready.base,
                      5000) != RAY_OK)
        _exit(1);
}

/* ---- refs of the job's other runtimes (cluster_borrow.c) ---- */

/* One CLUSTER_OBJ_* record to the driver; false once it is gone. */
static bool
ask_driver(int kind, ray_ref ref, uint64_t local, const char *how)
{
    client *c = g_driver;
    if (!c || atomic_load(&c->gone))
        return false;
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT, *tp = &t;
    t.kind = (Ray__Rpc__ClusterKind)kind;
    t.id = local;
    t.object = ref.id;
    t.tag = ref.owner;
    t.function = (char *)(how ? how : "");
    Ray__Rpc__TaskBatch b = RAY__RPC__TASK_BATCH__INIT;
    b.tasks = &tp;
    b.n_tasks = 1;
    send_frame(c, RAY__RPC__MESSAGE_TYPE__MSG_TASK_BATCH, &b.base);
    return !atomic_load(&c->gone);
}

static void
fetch_from_driver(ray_ref ref, uint64_t local, void *arg)
{
    (void)arg;
    if (!ask_driver(RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_GET, ref, local, NULL))
        cl_fail(local, RAY_EOBJECT_LOST,
                "the job's driver, which answers for the ref's owner, is "
                "gone");
}

static ray_err
agent_borrow(ray_ref ref, ray_ref *local)
{
    if (!g_driver)
        return RAY_EINVAL;
    return cl_borrow_with(ref, local, fetch_from_driver, NULL);
}

static ray_err
agent_borrow_ref(ray_ref ref, bool retain)
{
    if (!retain)
        cl_borrow_forget(ref);
    if (ask_driver(retain ? RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_RETAIN
                          : RAY__RPC__CLUSTER_KIND__CLUSTER_OBJ_RELEASE,
                   ref, 0, NULL))
        return RAY_OK;
    return retain ? sdk_fail(RAY_EINVAL, "ray_ref_retain: the job's driver, "
                                         "which answers for the ref's "
                                         "owner, is gone")
                  : RAY_OK;
}

/* Start the node's runtime for the job; "" or why it could not. Its
 * backend is the embedded one that also borrows (through the driver). */
static void
start_runtime(char *why, size_t whylen)
{
    static sdk_backend be;
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.resources = getenv("RAYC_RESOURCES");
    sdk_agent_mode = true; /* its driver answers for it */
    why[0] = 0;
    if (ray_init(&cfg) != RAY_OK) {
        snprintf(why, whylen, "%s", ray_last_error_detail());
        return;
    }
    be = *sdk_be;
    be.name = "agent";
    be.borrow = agent_borrow;
    be.borrow_ref = agent_borrow_ref;
    sdk_be = &be;
}

/* Read client c's records until its connection ends; its results go
 * back on a thread of its own. */
static void
serve(client *c, const char *why)
{
    pthread_t th;
    atomic_fetch_add(&c->refs, 1);
    if (pthread_create(&th, NULL, results_main, c) == 0)
        pthread_detach(th);
    else
        client_unref(c); /* no results: calls still run */
    rt_frame_reader rd;  /* kept: its buffer is reused frame after frame */
    rt_frame_reader_init(&rd, RT_NET_MAX_FRAME);
    for (;;) {
        uint32_t type;
        ProtobufCMessage *m = NULL;
        ray_err err = rt_frame_reader_read(&rd, c->fd, &type, &m);
        if (err == RAY_EAGAIN) {
            struct pollfd p = {.fd = c->fd, .events = POLLIN};
            poll(&p, 1, -1);
            continue;
        }
        if (err != RAY_OK)
            break;
        if (type == RAY__RPC__MESSAGE_TYPE__MSG_TASK_BATCH && why[0])
            fail_batch(c, (Ray__Rpc__TaskBatch *)m, why);
        else if (type == RAY__RPC__MESSAGE_TYPE__MSG_TASK_BATCH)
            run_batch(c, (Ray__Rpc__TaskBatch *)m);
        else
            RT_WARN("agent: %s from a driver: ignored",
                    rt_proto_type_name(type));
        rt_proto_free(m);
    }
    rt_frame_reader_fini(&rd);
    atomic_store(&c->gone, 1);
    pthread_mutex_lock(&c->mu);
    c->eof = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* An attached driver: served until it goes; then the handles it
 * counted are dropped. */
static void *
attached_main(void *arg)
{
    client *c = arg;
    serve(c, "");
    for (size_t i = 0; i < c->nheld; i++) {
        char why[8];
        ray_actor_release(actor_of(c->held[i], why, sizeof(why)));
    }
    c->nheld = 0;
    client_unref(c);
    return NULL;
}

static void *
data_main(void *arg)
{
    xfer_serve((int)(intptr_t)arg);
    return NULL;
}

/* Connections the raylet passes: other drivers attaching, and data
 * connections. */
static void *
ctl_main(void *arg)
{
    int sock = (int)(intptr_t)arg;
    for (;;) {
        int fd = -1;
        size_t nfds = 0;
        char b;
        if (rt_fdpass_recv(sock, &fd, 1, &nfds, &b, 1, -1) != RAY_OK)
            return NULL; /* the raylet went: so do we, soon */
        if (nfds != 1)
            continue;
        if (b == 'd') { /* a data connection: objects (transfer.h) */
            pthread_t th;
            if (pthread_create(&th, NULL, data_main, (void *)(intptr_t)fd))
                close(fd);
            else
                pthread_detach(th);
            continue;
        }
        client *c = client_new(fd, false);
        pthread_t th;
        if (!c || pthread_create(&th, NULL, attached_main, c) != 0) {
            if (c)
                client_unref(c);
            else
                close(fd);
            continue;
        }
        pthread_detach(th);
    }
}

static void
serve_control(int sock)
{
    pthread_t th;
    if (sock < 0)
        return;
    fcntl(sock, F_SETFD, FD_CLOEXEC);
    if (pthread_create(&th, NULL, ctl_main, (void *)(intptr_t)sock) == 0)
        pthread_detach(th);
}

/* The job's driver has gone: its actors end with it, but detached ones,
 * for which the agent stays until none lives. */
static void __attribute__((noreturn)) driver_left(void)
{
    size_t kept = 0;
    pthread_mutex_lock(&ACT.mu);
    for (size_t k = 0; k < ACT.n; k++) {
        if (!ACT.h[k].id)
            continue;
        if (ACT.detached[k])
            kept++;
        else
            ray_actor_kill(ACT.h[k], true);
    }
    pthread_mutex_unlock(&ACT.mu);
    if (!kept)
        _exit(0);
    /* What the detached ones wait for through the driver never comes. */
    cl_borrow_fail_all(RAY_EOBJECT_LOST,
                       "the job's driver, which answered for the ref's "
                       "owner, left before its value came");
    /* Straight to the raylet's log: lines in the output pipe may still be
     * there at _exit. */
    dprintf(g_stderr,
            "rayc agent: the driver left; %zu detached actor%s stay%s\n", kept,
            kept == 1 ? "" : "s", kept == 1 ? "s" : "");
    for (;;) {
        usleep(200000);
        size_t live = 0;
        pthread_mutex_lock(&ACT.mu);
        for (size_t k = 0; k < ACT.n; k++) {
            int st = RAY_ACTOR_DEAD;
            if (ACT.h[k].id && ACT.detached[k] &&
                ray_actor_state(ACT.h[k], &st, NULL) == RAY_OK &&
                st != RAY_ACTOR_DEAD)
                live++;
        }
        pthread_mutex_unlock(&ACT.mu);
        if (!live) {
            dprintf(g_stderr, "rayc agent: no detached actor lives: ending\n");
            _exit(0);
        }
    }
}

/* What the raylet tells an agent in its environment, taken out of it
 * (the runtime's workers see none of it): its control socket (returned),
 * its job, its raylet, the cluster token. */
static int
agent_env(void)
{
    const char *ctl = getenv("RAYC_AGENT_CTL");
    const char *job = getenv("RAYC_JOB_ID");
    const char *tok = getenv("RAYC_AGENT_TOKEN");
    const char *raylet = getenv("RAYC_RAYLET_ADDRESS");
    int fd = ctl ? atoi(ctl) : -1;
    if (job)
        g_job = strtoull(job, NULL, 16);
    if (tok && rt_id_hex_decode(tok, cl_agent_token, RT_TOKEN_LEN) != RAY_OK)
        fprintf(stderr, "rayc agent: a malformed token from the raylet\n");
    snprintf(g_raylet, sizeof(g_raylet), "%s", raylet ? raylet : "");
    rt_net_set_source(getenv("RAYC_NODE_IP")); /* pulls leave from here */
    sdk_agent_tag = rt_random_u64() | 1u;      /* told in AgentReady */
    unsetenv("RAYC_AGENT_CTL");
    unsetenv("RAYC_JOB_ID");
    unsetenv("RAYC_AGENT_TOKEN");
    unsetenv("RAYC_RAYLET_ADDRESS");
    return fd;
}

void
sdk_agent_main(int fd)
{
    char why[400];
    int ctl = agent_env();
    client *drv = set_driver(fd);
    output_to_driver();
    /* Ready at once: the runtime starts while the driver goes on. */
    say_ready(fd);
    start_runtime(why, sizeof(why));
    serve_control(ctl);
    serve(drv, why);
    driver_left();
}

void
sdk_agent_standby(int sock)
{
    char why[400];
    agent_env();
    output_to_driver(); /* held in the pipe until a driver comes */
    start_runtime(why, sizeof(why));
    int fd = -1;
    size_t nfds = 0;
    if (rt_fdpass_recv(sock, &fd, 1, &nfds, &g_job, sizeof(g_job), -1) !=
            RAY_OK ||
        nfds != 1)
        _exit(0); /* the raylet let it go */
    client *drv = set_driver(fd);
    say_ready(fd);
    serve_control(sock); /* the same socket, from now on */
    serve(drv, why);
    driver_left();
}

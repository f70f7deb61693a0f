/* SPDX-License-Identifier: Apache-2.0
 *
 * agent.c: a job's agent on a node (cluster.h). The raylet ran the
 * driver's executable with the driver's connection; the agent starts an
 * embedded runtime with the node's CPUs, runs the calls of each TaskBatch
 * by function name, and sends their values back in ResultBatch frames as
 * they finish (a result thread waits on the oldest 1024 calls at a time).
 * When the driver's connection ends, the agent ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fdwait.h"
#include "runtime/fdpass.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "runtime/net.h"
#include "sdk/backend.h"
#include "sdk/cluster.h"
#include "sdk/cluster_int.h"
#include "sdk/sdk_int.h"

#define WINDOW 1024

typedef struct pending {
    uint64_t id; /* the driver's */
    ray_ref ref; /* ours */
} pending;

static struct {
    int fd;
    pthread_mutex_t mu; /* q, send */
    pthread_cond_t cv;
    pending *q;
    size_t head, n, cap; /* a ring */
    bool eof;
    pthread_mutex_t send_mu;
} A = {.fd = -1,
       .mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER,
       .send_mu = PTHREAD_MUTEX_INITIALIZER};

/* One frame to the driver, through a writer that keeps its buffer (a
 * fresh one per frame costs page faults). A driver that is gone ends the
 * agent. Any thread. */
static void
send_frame(uint32_t type, const ProtobufCMessage *m)
{
    static rt_frame_writer w;
    static bool ready;
    pthread_mutex_lock(&A.send_mu);
    if (!ready) {
        rt_frame_writer_init(&w, RT_NET_MAX_FRAME);
        ready = true;
    }
    ray_err err = rt_frame_writer_put(&w, type, m);
    while (err == RAY_OK) {
        err = rt_frame_writer_flush(&w, A.fd);
        if (err != RAY_EAGAIN)
            break;
        err = rt_fd_wait(A.fd, POLLOUT, rt_deadline_after_ms(-1));
    }
    pthread_mutex_unlock(&A.send_mu);
    if (err != RAY_OK)
        _exit(0); /* the driver is gone */
}

static void
send_results(Ray__Rpc__ClusterResult **rs, size_t n)
{
    if (!n)
        return;
    Ray__Rpc__ResultBatch b = RAY__RPC__RESULT_BATCH__INIT;
    b.results = rs;
    b.n_results = n;
    send_frame(RAY__RPC__MESSAGE_TYPE__MSG_RESULT_BATCH, &b.base);
}

static void
push(uint64_t id, ray_ref ref)
{
    pthread_mutex_lock(&A.mu);
    if (A.n == A.cap) {
        size_t cap = A.cap ? A.cap * 2 : 4096;
        pending *nq = rt_malloc(cap * sizeof(*nq));
        if (!nq)
            abort();
        for (size_t i = 0; i < A.n; i++)
            nq[i] = A.q[(A.head + i) % (A.cap ? A.cap : 1)];
        rt_free(A.q);
        A.q = nq;
        A.cap = cap;
        A.head = 0;
    }
    A.q[(A.head + A.n) % A.cap] = (pending){id, ref};
    A.n++;
    pthread_cond_signal(&A.cv);
    pthread_mutex_unlock(&A.mu);
}

static void
fill_result(Ray__Rpc__ClusterResult *r, uint64_t id, ray_ref ref, ray_view *v,
            bool *have_view)
{
    ray__rpc__cluster_result__init(r);
    r->id = id;
    *have_view = false;
    ray_err err = ray_get(ref, v, 0);
    if (err == RAY_OK && v->len > CL_RECORD_MAX - 1024) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "its value takes %zu bytes, more than a result from another "
                 "node carries (%u) until objects move between nodes",
                 v->len, CL_RECORD_MAX - 1024);
        ray_release(v);
        r->err = RAY_ETOOBIG;
        r->message = rt_strdup(msg);
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
    (void)arg;
    ray_ref win[WINDOW];
    uint64_t ids[WINDOW];
    size_t ready[WINDOW];
    Ray__Rpc__ClusterResult rs[WINDOW], *rp[WINDOW];
    ray_view views[WINDOW];
    bool hv[WINDOW];
    for (;;) {
        pthread_mutex_lock(&A.mu);
        while (!A.n && !A.eof)
            pthread_cond_wait(&A.cv, &A.mu);
        if (!A.n && A.eof) {
            pthread_mutex_unlock(&A.mu);
            return NULL;
        }
        size_t w = A.n < WINDOW ? A.n : WINDOW;
        for (size_t i = 0; i < w; i++) {
            win[i] = A.q[(A.head + i) % A.cap].ref;
            ids[i] = A.q[(A.head + i) % A.cap].id;
        }
        pthread_mutex_unlock(&A.mu);
        size_t nr = 0;
        ray_wait(win, w, 1, 20, ready, &nr);
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
                send_results(rp + from, k + 1 - from);
                from = k + 1;
                bytes = 0;
            }
        }
        for (size_t k = 0; k < nr; k++) {
            if (hv[k])
                ray_release(&views[k]);
            else
                rt_free(rs[k].message);
        }
        /* Drop the finished ones from the window, keeping the order of
         * the rest (push only appends, so the window's entries are where
         * they were, relative to head). */
        pending kept[WINDOW];
        size_t keep = 0;
        pthread_mutex_lock(&A.mu);
        for (size_t i = 0; i < w; i++) {
            pending p = A.q[(A.head + i) % A.cap];
            if (done[i])
                ray_ref_release(p.ref);
            else
                kept[keep++] = p;
        }
        for (size_t j = 0; j < keep; j++)
            A.q[(A.head + (w - keep) + j) % A.cap] = kept[j];
        A.head = (A.head + (w - keep)) % A.cap;
        A.n -= w - keep;
        pthread_mutex_unlock(&A.mu);
    }
}

/* An error result for record `id`, with the node named. */
static void fail_result(uint64_t id, ray_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail_result(uint64_t id, ray_err err, const char *fmt, ...)
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
    send_results(&rp, 1);
}

static void
value_result(uint64_t id, uint64_t bits)
{
    Ray__Rpc__ClusterResult r = RAY__RPC__CLUSTER_RESULT__INIT, *rp = &r;
    r.id = id;
    r.type = RAY_T_I64;
    r.data = (ProtobufCBinaryData){8, (uint8_t *)&bits};
    send_results(&rp, 1);
}

/* The driver's actors here, by the driver's key (1, 2, ...). */
static struct {
    ray_actor *h;
    char **why; /* why its creation failed, or NULL */
    size_t n;
} ACT;

static ray_actor
actor_of(uint64_t key, const char **why)
{
    *why = key < ACT.n && ACT.why[key] ? ACT.why[key]
                                       : "no such actor on this node";
    return key < ACT.n ? ACT.h[key] : RAY_ACTOR_NULL;
}

static void
actor_set(uint64_t key, ray_actor h, const char *why)
{
    if (key >= (1u << 30))
        return;
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
        if (!nh || !nw)
            return;
        memset(ACT.h + ACT.n, 0, (n - ACT.n) * sizeof(*nh));
        memset(ACT.why + ACT.n, 0, (n - ACT.n) * sizeof(*nw));
        ACT.n = n;
    }
    ACT.h[key] = h;
    ACT.why[key] = why ? rt_strdup(why) : NULL;
}

typedef struct waiting {
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
        value_result(w->id, 0);
    else
        fail_result(w->id, err, "%s", ray_last_error_detail());
    rt_free(w);
    return NULL;
}

static void
actor_record(Ray__Rpc__ClusterTask *t, const ray_arg *args)
{
    const char *why;
    ray_actor h = actor_of(t->actor, &why);
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
        actor_set(t->actor, made, msg[0] ? msg : NULL);
        return;
    }
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CALL: {
        const ray_fn_desc *d = sdk_registry_find(sdk_name_hash(t->function));
        if (!h.id) {
            fail_result(t->id, RAY_EACTOR_DIED, "%s", why);
            return;
        }
        if (!d) {
            fail_result(t->id, RAY_ENOTFOUND, "no method '%s' in this build",
                        t->function);
            return;
        }
        ray_ref ref = ray_actor_submit(h, d, args, (uint32_t)t->n_args);
        if (ref.id == 0)
            fail_result(t->id, RAY_EINVAL, "%s", ray_last_error_detail());
        else
            push(t->id, ref);
        return;
    }
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RELEASE:
        ray_actor_release(h);
        return;
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_RETAIN:
        if (h.id)
            ray_actor_retain(h);
        return;
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_KILL:
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_KILL_NO_RESTART:
        if (h.id)
            ray_actor_kill(
                h, t->kind ==
                       RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_KILL_NO_RESTART);
        return;
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_STATE: {
        int st = RAY_ACTOR_DEAD, rs = 0;
        if (h.id)
            ray_actor_state(h, &st, &rs);
        value_result(t->id, (uint64_t)(uint32_t)st | (uint64_t)rs << 32);
        return;
    }
    case RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_WAIT: {
        pthread_t th;
        waiting *w = rt_malloc(sizeof(*w));
        if (!h.id || !w) {
            rt_free(w);
            fail_result(t->id, RAY_EACTOR_DIED, "%s", why);
            return;
        }
        *w = (waiting){h, t->id, t->timeout_ms};
        if (pthread_create(&th, NULL, wait_main, w) == 0)
            pthread_detach(th);
        else
            wait_main(w); /* no thread: wait here */
        return;
    }
    default:
        fail_result(t->id, RAY_EPROTO, "unknown record kind %d", (int)t->kind);
    }
}

static void
run_batch(Ray__Rpc__TaskBatch *b)
{
    for (size_t i = 0; i < b->n_tasks; i++) {
        Ray__Rpc__ClusterTask *t = b->tasks[i];
        ray_arg av[16];
        ray_arg *args =
            t->n_args > 16 ? rt_calloc(t->n_args, sizeof(*args)) : av;
        if (!args) {
            fail_result(t->id, RAY_ENOMEM, "out of memory for arguments");
            continue;
        }
        for (size_t k = 0; k < t->n_args; k++) {
            Ray__Rpc__ClusterArg *a = t->args[k];
            memset(&args[k], 0, sizeof(args[k]));
            args[k].type = a->type;
            if (a->type == RAY_T_STR || a->type == RAY_T_BYTES ||
                a->type == RAY_T_F64S || a->type == RAY_T_I64S) {
                args[k].v.buf.ptr = a->data.data;
                args[k].v.buf.len = a->data.len;
            } else {
                args[k].v.u64 = a->bits;
            }
        }
        if (t->kind != RAY__RPC__CLUSTER_KIND__CLUSTER_CALL) {
            actor_record(t, args);
        } else {
            ray_call_opts o = {
                .num_cpus = t->num_cpus,
                .max_retries = t->max_retries,
                .retry_on_error = t->retry_on_error,
                .name = t->name && *t->name ? t->name : NULL,
                .resources =
                    t->resources && *t->resources ? t->resources : NULL,
            };
            /* As any call made here: its arguments are checked. */
            const ray_fn_desc *d =
                sdk_registry_find(sdk_name_hash(t->function));
            ray_ref ref = RAY_REF_NULL;
            if (!d)
                fail_result(t->id, RAY_ENOTFOUND,
                            "no remote function '%s' in this build",
                            t->function);
            else if ((ref = ray_submit(d, args, (uint32_t)t->n_args, &o)).id ==
                     0)
                fail_result(t->id, RAY_EINVAL, "%s", ray_last_error_detail());
            else
                push(t->id, ref);
        }
        if (args != av)
            rt_free(args);
    }
}

/* The driver's connection, once known (a standby learns it late):
 * what the output thread waits for. */
static pthread_mutex_t fd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fd_cv = PTHREAD_COND_INITIALIZER;

static void
set_driver(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    pthread_mutex_lock(&fd_mu);
    A.fd = fd;
    pthread_cond_broadcast(&fd_cv);
    pthread_mutex_unlock(&fd_mu);
}

static void
wait_driver(void)
{
    pthread_mutex_lock(&fd_mu);
    while (A.fd < 0)
        pthread_cond_wait(&fd_cv, &fd_mu);
    pthread_mutex_unlock(&fd_mu);
}

/* What the agent and its workers print goes to the driver. */
static void *
log_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static uint8_t buf[1 << 16];
    wait_driver();
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        if (n <= 0)
            continue;
        Ray__Rpc__LogLines l = RAY__RPC__LOG_LINES__INIT;
        l.text = (ProtobufCBinaryData){(size_t)n, buf};
        send_frame(RAY__RPC__MESSAGE_TYPE__MSG_LOG_LINES, &l.base);
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
fail_batch(Ray__Rpc__TaskBatch *b, const char *why)
{
    for (size_t i = 0; i < b->n_tasks; i++)
        fail_result(b->tasks[i]->id, RAY_EINVAL,
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
    ready.num_cpus = ncpu && atoi(ncpu) > 0 ? (uint32_t)atoi(ncpu) : 1;
    if (rt_frame_send(fd, RAY__RPC__MESSAGE_TYPE__MSG_AGENT_READY, &ready.base,
                      5000) != RAY_OK)
        _exit(1);
}

/* Start the node's runtime for the job; "" or why it could not. */
static void
start_runtime(char *why, size_t whylen)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.resources = getenv("RAYC_RESOURCES");
    why[0] = 0;
    if (ray_init(&cfg) != RAY_OK)
        snprintf(why, whylen, "%s", ray_last_error_detail());
}

/* Run the driver's records until it goes, then end. */
static void __attribute__((noreturn)) serve(int fd, char *why, size_t whylen)
{
    pthread_t th;
    if (!why[0] && pthread_create(&th, NULL, results_main, NULL) != 0)
        snprintf(why, whylen, "no thread for results");
    if (why[0])
        fprintf(stderr, "rayc agent: %s\n", why);
    rt_frame_reader rd; /* kept: its buffer is reused frame after frame */
    rt_frame_reader_init(&rd, RT_NET_MAX_FRAME);
    for (;;) {
        uint32_t type;
        ProtobufCMessage *m = NULL;
        ray_err err = rt_frame_reader_read(&rd, fd, &type, &m);
        if (err == RAY_EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, -1);
            continue;
        }
        if (err != RAY_OK)
            break;
        if (type == RAY__RPC__MESSAGE_TYPE__MSG_TASK_BATCH && why[0])
            fail_batch((Ray__Rpc__TaskBatch *)m, why);
        else if (type == RAY__RPC__MESSAGE_TYPE__MSG_TASK_BATCH)
            run_batch((Ray__Rpc__TaskBatch *)m);
        else
            RT_WARN("agent: %s from the driver: ignored",
                    rt_proto_type_name(type));
        rt_proto_free(m);
    }
    /* The driver is gone: nobody wants the results. */
    _exit(0);
}

void
sdk_agent_main(int fd)
{
    char why[400];
    set_driver(fd);
    output_to_driver();
    /* Ready at once: the runtime starts while the driver goes on. */
    say_ready(fd);
    start_runtime(why, sizeof(why));
    serve(fd, why, sizeof(why));
}

void
sdk_agent_standby(int sock)
{
    char why[400];
    output_to_driver(); /* held in the pipe until a driver comes */
    start_runtime(why, sizeof(why));
    int fd = -1;
    size_t nfds = 0;
    char b;
    if (rt_fdpass_recv(sock, &fd, 1, &nfds, &b, 1, -1) != RAY_OK || nfds != 1)
        _exit(0); /* the raylet let it go */
    close(sock);
    set_driver(fd);
    say_ready(fd);
    serve(fd, why, sizeof(why));
}

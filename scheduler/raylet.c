/* SPDX-License-Identifier: Apache-2.0
 *
 * raylet.c: the embedded raylet: worker slots and their processes, the
 * local queue and its stand-ins, actor host processes, the node's store.
 *
 * Every process is spawned on the raylet's loop thread, which watches its
 * pidfd and output pipes (one rt_loop_watch each) and ticks every 100 ms.
 * A death is handled in order: the pipes are drained to EOF (what the
 * process printed last comes out before anything about its death), the
 * owner takes back what it had sent there (owner->died), then a task
 * worker is started again, unless it keeps dying before it becomes ready
 * (three times in a row), so a broken binary does not spin.
 *
 * Stand-ins: sched_raylet_dispatch reads the queue's `want` after each
 * round: CPUs that blocked workers gave away while work waits. It posts a
 * start of that many stand-in slots to the loop thread, which spawns them
 * and dispatches again (they steal what waits). A spawn that fails stops
 * stand-ins for a second; then, if every task worker is blocked, the
 * owner lets blocked workers run queued tasks inside their waits (the
 * last resort that keeps nested graphs from deadlocking).
 *
 * Locking: the owner's lock (through owner->lock/unlock, so the owner can
 * run what its handlers queued once it is released) guards everything
 * here but the loop handle (set before the thread starts) and the store
 * (its own lock). Loop-thread-only fields say so.
 */
#include "scheduler/raylet.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "objectstore/node_store.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "runtime/loop.h"

/* ---- types ---------------------------------------------------------- */

enum { W_PID = 0, W_OUT = 1, W_ERR = 2 };

typedef struct watch_arg {
    sched_raylet *r;
    int w;
    int which; /* W_* */
} watch_arg;

struct sched_raylet {
    const sched_raylet_owner *own;
    void *ctx;
    sched_worker *w; /* nslots; guarded by mu */
    int ncpu, ntask, nslots;
    sched_resources res;      /* names and totals fixed at create; mu */
    sched_queue q;            /* mu */
    rt_loop *loop;            /* set before its thread starts */
    rt_loop_timer *timer;     /* loop thread only */
    rt_loop_watch **watch;    /* 3 per slot; loop thread only */
    watch_arg *wargs;         /* 3 per slot; fixed */
    uint32_t standins_wanted; /* mu */
    bool standins_posted;     /* a start of stand-ins is queued (mu) */
    int64_t standin_fail_ns;  /* mu */
    bool nest_fallback;       /* mu */
    _Atomic bool stopping;    /* no more starts */
    char last_death[200];     /* how the last task worker died (mu) */
    /* The node's object store (its own lock: it may start for ~1 s). */
    pthread_mutex_t store_mu;
    store_node *store; /* written once under store_mu */
    _Atomic(struct store_client *) store_cl;
    char store_err[400]; /* store_mu */
    uint64_t store_bytes;
};

/* ---- private prototypes --------------------------------------------- */

static void spawn_slot(sched_raylet *r, int w);
static void watch_cb(rt_loop_watch *wt, int fd, int events, ray_err status,
                     void *arg);

/* ---- small helpers -------------------------------------------------- */

static void
lock(sched_raylet *r)
{
    r->own->lock(r->ctx);
}

static void
unlock(sched_raylet *r)
{
    r->own->unlock(r->ctx);
}

/* Stop the watch of slot w's descriptor `which` (loop thread). */
static void
unwatch(sched_raylet *r, int w, int which)
{
    rt_loop_watch **p = &r->watch[w * 3 + which];
    rt_loop_watch_stop(*p);
    *p = NULL;
}

static void
watch_fd(sched_raylet *r, int w, int which, int fd)
{
    if (fd < 0)
        return;
    ray_err e =
        rt_loop_watch_start(r->loop, fd, RT_LOOP_READABLE, watch_cb,
                            &r->wargs[w * 3 + which], &r->watch[w * 3 + which]);
    if (e != RAY_OK)
        RT_ERROR("raylet: cannot watch worker %d's descriptor: %s", w,
                 rt_strerror(e));
}

/* Forward what slot w's pipe `which` holds; at EOF stop watching it and
 * close it (loop thread, mu held). */
static void
drain_pipe(sched_raylet *r, int w, int which)
{
    sched_proc *p = &r->w[w].proc;
    int *fd = which == W_OUT ? &p->out_fd : &p->err_fd;
    sched_linebuf *lb = which == W_OUT ? &p->out_lb : &p->err_lb;
    if (*fd < 0)
        return;
    if (!sched_proc_forward(fd, lb, p->pid, which == W_OUT ? 1 : 2)) {
        unwatch(r, w, which);
        close(*fd);
        *fd = -1;
    }
}

/* Why a spawn failed, in words a user can act on. */
static void
describe_spawn_error(ray_err err, char *buf, size_t n)
{
    int en = (int)((uint32_t)err >> 8);
    struct rlimit rl;
    if ((en == EMFILE || en == ENFILE) && getrlimit(RLIMIT_NOFILE, &rl) == 0)
        snprintf(buf, n,
                 "out of file descriptors (%s; the open-file limit, "
                 "RLIMIT_NOFILE, is %llu: raise it with ulimit -n)",
                 strerror(en), (unsigned long long)rl.rlim_cur);
    else
        snprintf(buf, n, "%s", en ? strerror(en) : rt_strerror(err));
}

static bool
is_cpu(const sched_raylet *r, int w)
{
    return w < r->ncpu;
}

/* ---- processes (loop thread, mu held) -------------------------------- */

/* Start slot w's process now: prepared (unless an actor host, prepared
 * when asked for), spawned, watched. A failure is reported as a death
 * that never started. */
static void
spawn_slot(sched_raylet *r, int w)
{
    sched_worker *sw = &r->w[w];
    char env[128];
    int keep_fd = -1;
    sw->starting = false;
    sw->start_err[0] = '\0';
    ray_err e = r->own->prepare(r->ctx, w, env, sizeof(env), &keep_fd);
    if (e == RAY_OK)
        e = sched_proc_spawn(env, keep_fd, &sw->proc);
    sw->slot.alive = e == RAY_OK;
    sw->slot.dirty = 0;
    if (e != RAY_OK) {
        describe_spawn_error(e, sw->start_err, sizeof(sw->start_err));
        return;
    }
    watch_fd(r, w, W_PID, sw->proc.pidfd);
    watch_fd(r, w, W_OUT, sw->proc.out_fd);
    watch_fd(r, w, W_ERR, sw->proc.err_fd);
}

/* Fail every queued task: no task worker can run them. */
static void
fail_queued(sched_raylet *r)
{
    while (r->q.head) {
        sched_task *t = r->q.head;
        sched_queue_remove(&r->q, t);
        r->q.ops->failed(r->q.ctx, t, RAY_EWORKER_DIED);
    }
}

/* Slot w's process is gone (reaped, status as waitpid): tell the owner,
 * then start it again if it is a task worker that does not keep dying
 * while starting. */
static void
slot_ended(sched_raylet *r, int w, int status, bool never_started)
{
    sched_worker *sw = &r->w[w];
    sw->slot.alive = 0;
    sw->deaths += !never_started;
    if (is_cpu(r, w) && !never_started) {
        char how[160];
        sched_proc_describe(status, how, sizeof(how));
        snprintf(r->last_death, sizeof(r->last_death), "%s", how);
    }
    bool ready = r->own->died(r->ctx, w, status, never_started);
    /* A task worker is started again, unless it keeps dying before it
     * gets ready (a broken binary must not spin). */
    sw->start_failures = ready ? 0 : sw->start_failures + 1;
    bool stopping = atomic_load(&r->stopping);
    bool replaced = is_cpu(r, w) && !stopping && sw->start_failures < 3;
    if (replaced) {
        spawn_slot(r, w);
        if (!sw->slot.alive) {
            sw->start_failures++;
            RT_ERROR("cannot restart worker %d: %s", w, sw->start_err);
        }
    } else if (is_cpu(r, w) && sw->start_failures >= 3) {
        RT_ERROR("worker %d died %u times while starting; not restarting "
                 "it",
                 w, sw->start_failures);
    }
    bool any = false;
    for (int k = 0; k < r->ncpu; k++)
        any |= r->w[k].slot.alive;
    if (!any && !stopping) {
        RT_ERROR("no task worker can start (the last one %s)",
                 r->last_death[0] ? r->last_death : sw->start_err);
        fail_queued(r);
    }
    sched_raylet_dispatch(r);
}

/* pidfd readable: reap, drain the pipes, report. */
static void
on_exit_event(sched_raylet *r, int w)
{
    sched_worker *sw = &r->w[w];
    int st = 0;
    unwatch(r, w, W_PID);
    if (sched_proc_reap(&sw->proc, false, &st) == RAY_EAGAIN) {
        watch_fd(r, w, W_PID, sw->proc.pidfd); /* not yet: keep waiting */
        return;
    }
    drain_pipe(r, w, W_OUT);
    drain_pipe(r, w, W_ERR);
    slot_ended(r, w, st, false);
}

static void
watch_cb(rt_loop_watch *wt, int fd, int events, ray_err status, void *arg)
{
    (void)wt;
    (void)fd;
    (void)events;
    watch_arg *a = arg;
    sched_raylet *r = a->r;
    lock(r);
    if (status != RAY_OK && a->which != W_PID)
        drain_pipe(r, a->w, a->which);
    else if (a->which == W_PID)
        on_exit_event(r, a->w);
    else
        drain_pipe(r, a->w, a->which);
    unlock(r);
}

/* Start the stand-ins dispatch asked for: the slots past the CPUs that
 * have no process, in order. Their rings are fresh memory: faulted in by
 * the owner's prepare. */
static void
start_standins(sched_raylet *r)
{
    for (int w = r->ncpu; w < r->ntask && r->standins_wanted; w++) {
        if (r->w[w].slot.alive)
            continue;
        spawn_slot(r, w);
        if (!r->w[w].slot.alive) {
            RT_WARN("cannot start a stand-in worker: %s; blocked tasks "
                    "run queued ones inside their waits",
                    r->w[w].start_err);
            r->standin_fail_ns = rt_clock_now_ns();
            break;
        }
        r->standins_wanted--;
    }
    r->standins_wanted = 0;
}

static void
standins_posted(void *arg, ray_err status)
{
    sched_raylet *r = arg;
    if (status != RAY_OK)
        return;
    lock(r);
    r->standins_posted = false;
    start_standins(r);
    sched_raylet_dispatch(r); /* they steal what waits */
    unlock(r);
}

typedef struct host_start {
    sched_raylet *r;
    int w;
    int keep_fd;
    char env[128]; /* as prepared when the owner asked */
} host_start;

static void
host_posted(void *arg, ray_err status)
{
    host_start *h = arg;
    sched_raylet *r = h->r;
    int w = h->w;
    if (status != RAY_OK) {
        rt_free(h);
        return;
    }
    lock(r);
    sched_worker *sw = &r->w[w];
    if (sw->starting) {
        /* Prepared when asked for (records may be queued already). */
        sw->starting = false;
        ray_err e = sched_proc_spawn(h->env, h->keep_fd, &sw->proc);
        sw->slot.alive = e == RAY_OK;
        if (e == RAY_OK) {
            watch_fd(r, w, W_PID, sw->proc.pidfd);
            watch_fd(r, w, W_OUT, sw->proc.out_fd);
            watch_fd(r, w, W_ERR, sw->proc.err_fd);
        } else {
            describe_spawn_error(e, sw->start_err, sizeof(sw->start_err));
            RT_ERROR("cannot start an actor process: %s", sw->start_err);
            slot_ended(r, w, 0, true);
        }
    }
    unlock(r);
    rt_free(h);
}

static void
tick_cb(rt_loop_timer *t, void *arg)
{
    (void)t;
    sched_raylet *r = arg;
    lock(r);
    r->own->tick(r->ctx);
    unlock(r);
}

/* ---- create, start, stop -------------------------------------------- */

ray_err
sched_raylet_create(const sched_raylet_config *cfg, const sched_ops *transport,
                    const sched_raylet_owner *owner, void *ctx,
                    sched_raylet **out, char *why, size_t whylen)
{
    *out = NULL;
    if (cfg->ncpu < 1 || cfg->nstandin < 0 || cfg->nhost < 0) {
        snprintf(why, whylen, "bad worker counts");
        return RAY_EINVAL;
    }
    sched_raylet *r = rt_calloc(1, sizeof(*r));
    if (!r)
        return RAY_ENOMEM;
    r->own = owner;
    r->ctx = ctx;
    r->ncpu = cfg->ncpu;
    r->ntask = cfg->ncpu + cfg->nstandin;
    r->nslots = r->ntask + cfg->nhost;
    r->store_bytes = cfg->store_bytes;
    pthread_mutex_init(&r->store_mu, NULL);
    r->w = rt_calloc((size_t)r->nslots, sizeof(*r->w));
    r->watch = rt_calloc((size_t)r->nslots * 3, sizeof(*r->watch));
    r->wargs = rt_calloc((size_t)r->nslots * 3, sizeof(*r->wargs));
    if (!r->w || !r->watch || !r->wargs) {
        sched_raylet_destroy(r);
        return RAY_ENOMEM;
    }
    for (int w = 0; w < r->nslots; w++) {
        sched_worker *sw = &r->w[w];
        sw->proc.pidfd = sw->proc.out_fd = sw->proc.err_fd = -1;
        if (w >= r->ntask)
            sw->slot.reserved_by = UINT64_MAX; /* never a task */
        for (int k = 0; k < 3; k++)
            r->wargs[w * 3 + k] = (watch_arg){r, w, k};
    }
    sched_res_init(&r->res);
    sched_res_add(&r->res, "CPU", (int64_t)cfg->ncpu * 1000);
    if (sched_res_add_spec(&r->res, cfg->resources) != RAY_OK) {
        snprintf(why, whylen, "bad resources '%s'", cfg->resources);
        sched_raylet_destroy(r);
        return RAY_EINVAL;
    }
    sched_queue_init(&r->q, transport, ctx, &r->res, &r->w[0].slot,
                     sizeof(sched_worker), r->ntask, cfg->max_inflight);
    sched_queue_set_cores(&r->q, r->ncpu);
    *out = r;
    return RAY_OK;
}

typedef struct start_req {
    sched_raylet *r;
    ray_err err;
    char why[160];
} start_req;

static void
start_cpus(void *arg, ray_err status)
{
    start_req *s = arg;
    sched_raylet *r = s->r;
    if (status != RAY_OK) {
        s->err = status;
        return;
    }
    lock(r);
    for (int w = 0; w < r->ncpu && s->err == RAY_OK; w++) {
        spawn_slot(r, w);
        if (!r->w[w].slot.alive) {
            s->err = RAY_ESYSERR;
            snprintf(s->why, sizeof(s->why), "%s", r->w[w].start_err);
        }
    }
    if (s->err == RAY_OK &&
        rt_loop_timer_start(r->loop, 100, 100, tick_cb, r, &r->timer) != RAY_OK)
        s->err = RAY_ENOMEM;
    unlock(r);
}

ray_err
sched_raylet_start(sched_raylet *r, char *why, size_t whylen)
{
    ray_err e = rt_loop_create("rayc-raylet", &r->loop);
    if (e != RAY_OK) {
        snprintf(why, whylen, "cannot start the raylet's thread: %s",
                 rt_strerror(e));
        return e;
    }
    start_req s = {r, RAY_OK, ""};
    e = rt_loop_call(r->loop, start_cpus, &s);
    if (e == RAY_OK)
        e = s.err;
    if (e != RAY_OK) {
        snprintf(why, whylen, "%s", s.why[0] ? s.why : rt_strerror(e));
        sched_raylet_stop(r, 0);
    }
    return e;
}

void
sched_raylet_stopping(sched_raylet *r)
{
    atomic_store(&r->stopping, true);
}

void
sched_raylet_stop(sched_raylet *r, int grace_ms)
{
    if (!r || !r->loop)
        return;
    atomic_store(&r->stopping, true);
    /* The loop thread ends: its watches and timer go without callbacks,
     * and the processes it spawned get SIGKILL (PR_SET_PDEATHSIG). */
    rt_loop_destroy(r->loop);
    r->loop = NULL;
    r->timer = NULL;
    memset(r->watch, 0, (size_t)r->nslots * 3 * sizeof(*r->watch));
    int64_t deadline = rt_clock_now_ns() + (int64_t)grace_ms * 1000000LL;
    for (int w = 0; w < r->nslots; w++) {
        sched_proc *p = &r->w[w].proc;
        pid_t pid = p->pid;
        while (p->pid > 0 && sched_proc_reap(p, false, NULL) == RAY_EAGAIN) {
            if (rt_clock_now_ns() > deadline) {
                sched_proc_kill(p);
                sched_proc_reap(p, true, NULL);
                break;
            }
            struct pollfd pf = {.fd = p->pidfd, .events = POLLIN};
            poll(&pf, 1, 1);
        }
        int *fds[2] = {&p->out_fd, &p->err_fd};
        sched_linebuf *lbs[2] = {&p->out_lb, &p->err_lb};
        for (int k = 0; k < 2; k++) {
            if (*fds[k] < 0)
                continue;
            (void)sched_proc_forward(fds[k], lbs[k], pid, k + 1);
            close(*fds[k]);
            *fds[k] = -1;
        }
        if (p->pidfd >= 0) {
            close(p->pidfd);
            p->pidfd = -1;
        }
        r->w[w].slot.alive = 0;
    }
}

void
sched_raylet_destroy(sched_raylet *r)
{
    if (!r)
        return;
    sched_raylet_stop(r, 0);
    store_node_stop(r->store);
    pthread_mutex_destroy(&r->store_mu);
    rt_free(r->w);
    rt_free(r->watch);
    rt_free(r->wargs);
    rt_free(r);
}

/* ---- the owner's calls (mu held) -------------------------------------- */

sched_queue *
sched_raylet_queue(sched_raylet *r)
{
    return &r->q;
}

sched_resources *
sched_raylet_resources(sched_raylet *r)
{
    return &r->res;
}

sched_worker *
sched_raylet_worker(sched_raylet *r, int w)
{
    return &r->w[w];
}

int
sched_raylet_ncpu(const sched_raylet *r)
{
    return r->ncpu;
}

int
sched_raylet_ntask(const sched_raylet *r)
{
    return r->ntask;
}

int
sched_raylet_nslots(const sched_raylet *r)
{
    return r->nslots;
}

/* Stand-in slots without a process. */
static int
standins_free(const sched_raylet *r)
{
    int n = 0;
    for (int w = r->ncpu; w < r->ntask; w++)
        n += !r->w[w].slot.alive;
    return n;
}

static void
set_nested(sched_raylet *r, bool on)
{
    r->nest_fallback = on;
    for (int w = 0; w < r->ntask; w++)
        if (r->w[w].slot.alive)
            r->own->nested(r->ctx, w, on);
}

void
sched_raylet_dispatch(sched_raylet *r)
{
    /* While nested fallback is on, blocked workers count as free. */
    bool any_free = false;
    for (int w = 0; w < r->ntask; w++) {
        sched_slot *s = &r->w[w].slot;
        any_free |= s->alive && !s->blocked;
    }
    if (r->nest_fallback && any_free)
        set_nested(r, false); /* a worker is free again */
    uint8_t saved[64];
    bool masked = r->nest_fallback && r->ntask <= 64;
    if (masked)
        for (int w = 0; w < r->ntask; w++) {
            saved[w] = r->w[w].slot.blocked;
            r->w[w].slot.blocked = 0;
        }
    sched_queue_dispatch(&r->q);
    if (masked)
        for (int w = 0; w < r->ntask; w++)
            r->w[w].slot.blocked = saved[w];
    if (!r->q.want)
        return;
    /* Work waits while workers are blocked: start stand-ins (on the loop
     * thread), or, when none can start and every worker is blocked, let
     * the blocked ones run it inside their waits. */
    bool broken = r->standin_fail_ns &&
                  rt_clock_now_ns() - r->standin_fail_ns < 1000000000LL;
    if (standins_free(r) > 0 && !broken && r->loop) {
        if (r->standins_wanted < r->q.want)
            r->standins_wanted = r->q.want;
        if (!r->standins_posted &&
            rt_loop_post(r->loop, standins_posted, r) == RAY_OK)
            r->standins_posted = true;
    } else if (!any_free && !r->nest_fallback) {
        set_nested(r, true);
        sched_raylet_dispatch(r);
    }
}

ray_err
sched_raylet_start_host(sched_raylet *r, int w)
{
    if (w < r->ntask || w >= r->nslots || !r->loop)
        return RAY_EINVAL;
    host_start *h = rt_malloc(sizeof(*h));
    if (!h)
        return RAY_ENOMEM;
    h->r = r;
    h->w = w;
    ray_err e = r->own->prepare(r->ctx, w, h->env, sizeof(h->env), &h->keep_fd);
    if (e != RAY_OK) {
        rt_free(h);
        return e;
    }
    r->w[w].starting = true;
    r->w[w].start_err[0] = '\0';
    e = rt_loop_post(r->loop, host_posted, h);
    if (e != RAY_OK) {
        r->w[w].starting = false;
        rt_free(h);
    }
    return e;
}

void
sched_raylet_kill(sched_raylet *r, int w)
{
    sched_proc_kill(&r->w[w].proc);
}

void
sched_raylet_get_stats(sched_raylet *r, sched_raylet_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int w = 0; w < r->nslots; w++) {
        const sched_worker *sw = &r->w[w];
        if (w < r->ncpu) {
            out->workers_alive += sw->slot.alive;
            out->worker_restarts += sw->deaths;
        } else if (w < r->ntask) {
            out->standins += sw->slot.alive;
        } else {
            out->hosts += sw->slot.alive || sw->starting;
        }
    }
    out->tasks_moved = r->q.steals;
    out->tasks_queued = r->q.n;
}

/* ---- the node's object store ---------------------------------------- */

struct store_client *
sched_raylet_store_client(sched_raylet *r)
{
    return atomic_load_explicit(&r->store_cl, memory_order_acquire);
}

struct store_client *
sched_raylet_store(sched_raylet *r, const char **path, char *why, size_t whylen)
{
    struct store_client *c = sched_raylet_store_client(r);
    if (c) {
        *path = store_node_socket(r->store);
        return c;
    }
    pthread_mutex_lock(&r->store_mu);
    c = atomic_load(&r->store_cl);
    if (!c && !r->store_err[0]) {
        char err[200] = "";
        ray_err e =
            store_node_start(r->store_bytes, &r->store, err, sizeof(err));
        if (e == RAY_OK) {
            c = store_node_client(r->store);
            atomic_store(&r->store_cl, c);
        } else {
            r->store = NULL;
            snprintf(r->store_err, sizeof(r->store_err),
                     "the object store "
                     "(%llu bytes, ray_config.object_store_bytes) cannot "
                     "start: %s",
                     (unsigned long long)r->store_bytes, err);
        }
    }
    if (c)
        *path = store_node_socket(r->store);
    else
        snprintf(why, whylen, "%s", r->store_err);
    pthread_mutex_unlock(&r->store_mu);
    return c;
}

/* ---- the owner's table (sched_raylet_api) ----------------------------- */

static void
api_lease(void *r, sched_task *t)
{
    sched_queue_push(&((sched_raylet *)r)->q, t);
}

static void
api_requeue(void *r, sched_task *head, sched_task *tail, uint64_t n)
{
    sched_queue_push_front(&((sched_raylet *)r)->q, head, tail, n);
}

static void
api_unqueue(void *r, sched_task *t)
{
    sched_queue_remove(&((sched_raylet *)r)->q, t);
}

static void
api_returned(void *r, int w, sched_task *t)
{
    sched_queue_done(&((sched_raylet *)r)->q, w, t);
}

static void
api_release(void *r, sched_task *t)
{
    sched_queue_release(&((sched_raylet *)r)->q, t);
}

static void
api_dispatch(void *r)
{
    sched_raylet_dispatch(r);
}

static bool
api_waiting(void *r)
{
    return ((sched_raylet *)r)->q.head != NULL;
}

static void
api_each_waiting(void *r, void (*fn)(void *arg, sched_task *t), void *arg)
{
    for (sched_task *st = ((sched_raylet *)r)->q.head, *next; st; st = next) {
        next = st->next;
        fn(arg, st);
    }
}

static ray_err
api_parse_demand(void *r, const char *spec, sched_demand *d, char *why,
                 size_t whylen)
{
    return sched_res_parse_demand(&((sched_raylet *)r)->res, spec, d, why,
                                  whylen);
}

static bool
api_hold(void *rp, uint64_t key, uint32_t ncpu, const sched_demand *d,
         sched_bundle *b)
{
    sched_raylet *r = rp;
    sched_resources *res = b ? &b->pool : &r->res;
    if (d && d->n && !sched_res_try_acquire(res, d))
        return false;
    if (ncpu && !sched_queue_hold_in(&r->q, key, ncpu, b ? b->key : 0)) {
        if (d && d->n)
            sched_res_release(res, d);
        return false; /* multi-CPU tasks hold them now */
    }
    return true;
}

static void
api_unhold(void *rp, uint64_t key, uint32_t ncpu, const sched_demand *d,
           sched_bundle *b)
{
    sched_raylet *r = rp;
    if (d && d->n)
        sched_res_release(b ? &b->pool : &r->res, d);
    if (ncpu)
        sched_queue_unhold(&r->q, key);
}

static bool
api_reserve(void *rp, uint64_t key, uint32_t ncpu, const sched_demand *d)
{
    sched_raylet *r = rp;
    if (d && d->n && !sched_res_try_acquire(&r->res, d))
        return false;
    if (ncpu && !sched_queue_reserve(&r->q, key, ncpu)) {
        if (d && d->n)
            sched_res_release(&r->res, d);
        return false;
    }
    return true;
}

static void
api_unreserve(void *rp, uint64_t key, const sched_demand *d)
{
    sched_raylet *r = rp;
    if (d && d->n)
        sched_res_release(&r->res, d);
    sched_queue_unreserve(&r->q, key);
}

static ray_err
api_start_host(void *r, int w)
{
    return sched_raylet_start_host(r, w);
}

static void
api_kill(void *r, int w)
{
    sched_raylet_kill(r, w);
}

static sched_worker *
api_workers(void *r)
{
    return sched_raylet_worker(r, 0);
}

static struct store_client *
api_store(void *r, const char **path, char *why, size_t whylen)
{
    return sched_raylet_store(r, path, why, whylen);
}

static struct store_client *
api_store_client(void *r)
{
    return sched_raylet_store_client(r);
}

static void
api_stats(void *r, sched_raylet_stats *out)
{
    sched_raylet_get_stats(r, out);
}

const sched_raylet_api sched_raylet_local = {
    .lease = api_lease,
    .requeue = api_requeue,
    .unqueue = api_unqueue,
    .returned = api_returned,
    .release = api_release,
    .dispatch = api_dispatch,
    .waiting = api_waiting,
    .each_waiting = api_each_waiting,
    .parse_demand = api_parse_demand,
    .hold = api_hold,
    .unhold = api_unhold,
    .reserve = api_reserve,
    .unreserve = api_unreserve,
    .start_host = api_start_host,
    .kill = api_kill,
    .workers = api_workers,
    .store = api_store,
    .store_client = api_store_client,
    .stats = api_stats,
};

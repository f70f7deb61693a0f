/* SPDX-License-Identifier: Apache-2.0
 *
 * runtime.c: ray_init / ray_shutdown, worker start-up and the two
 * background threads of the embedded local runtime.
 *
 * ray_init creates the embedded node's transport (sdk/transport_shm.c:
 * rings per worker slot in one memfd) and its raylet (scheduler/raylet.h),
 * whose loop thread starts the workers ahead of need; it does not wait
 * for them (tasks queue in their rings while they start) and turns a
 * worker's death into retries and a replacement (sdk_worker_died). The
 * reactor thread sleeps on the driver doorbell (sdk/bell.h) and makes
 * progress (completions, dependent tasks, callbacks) when no user thread
 * is inside ray_get/ray_wait; it only asks workers to wake it while
 * callbacks or queued work need it, so a plain submit/get loop costs no
 * system call.
 *
 * The node's object store (values of STORE_PLASMA_MIN bytes or more) starts
 * on first need, not in ray_init: it reserves and pre-faults all of
 * object_store_bytes, which costs ~0.8 s and that much memory per GiB, a
 * price a program of small values should not pay. The first large put,
 * large by-value argument, or worker asking (SDK_MSG_STORE, for a large
 * result or put inside a task) starts it, in the driver, under store_mu;
 * workers then connect over its socket (that is how a store client gets
 * the region and a client index whose pins die with the process; an
 * inherited memfd would give neither); the transport tells them its path.
 *
 * Threading: all runtime state is guarded by sdk_g->mu; the store's
 * start by store_mu (taken after mu when both are held). ray_init and
 * ray_shutdown must not race with other rayc calls.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/config.h"
#include "runtime/log.h"
#include "runtime/random.h"
#include "sdk/backend.h"
#include "sdk/cluster.h"
#include "sdk/sdk_int.h"

sdk_rt *sdk_g;

void
ray_config_init(ray_config *cfg)
{
    if (cfg)
        memset(cfg, 0, sizeof(*cfg));
}

bool
ray_is_initialized(void)
{
    return sdk_g != NULL || sdk_in_worker;
}

int
ray_num_workers(void)
{
    return sdk_g ? sdk_g->nworkers : 0;
}

/* ---- the node's object store ---- */

/* The memory store freed a stored value's descriptor (mu held). */
void (*sdk_remote_value_freed)(uint64_t key);
void (*sdk_remote_want)(sdk_obj *o);

static void
stored_value_freed(void *arg, uint64_t key)
{
    sdk_store_forget(arg, key);
    if (sdk_remote_value_freed)
        sdk_remote_value_freed(key);
}

store_client *
sdk_store_ensure(sdk_rt *rt)
{
    store_client *c = rt->rl_api->store_client(rt->rl);
    if (c && atomic_load(&rt->store_known))
        return c;
    const char *path = NULL;
    char why[400] = "";
    c = rt->rl_api->store(rt->rl, &path, why, sizeof(why));
    /* Tell the workers where it is (or that it cannot start). */
    rt->tx->ops->store_ready(rt->tx, c ? path : NULL);
    atomic_store(&rt->store_known, 1);
    if (!c)
        sdk_fail(RAY_ESTORE_FULL, "%s", why);
    return c;
}

void
sdk_store_request(sdk_rt *rt)
{
    if (!atomic_load(&rt->store_known))
        (void)sdk_store_ensure(rt);
}

/* ---- the raylet's events (scheduler/raylet.h) ---- */

void
sdk_lock(sdk_rt *rt)
{
    pthread_mutex_lock(&rt->mu);
}

void
sdk_unlock(sdk_rt *rt)
{
    sdk_cb *cbs = rt->later_cbs;
    rt->later_cbs = NULL;
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
}

static void
ev_lock(void *ctx)
{
    sdk_lock(ctx);
}

static void
ev_unlock(void *ctx)
{
    sdk_unlock(ctx);
}

static ray_err
ev_prepare(void *ctx, int w, char *env, size_t envlen, int *keep_fd)
{
    sdk_rt *rt = ctx;
    return rt->tx->ops->open(rt->tx, w, env, envlen, keep_fd);
}

static bool
ev_died(void *ctx, int w, int status, bool never_started)
{
    sdk_rt *rt = ctx;
    return sdk_worker_died(rt, w, status, never_started, &rt->later_cbs);
}

static void
ev_nested(void *ctx, int w, bool on)
{
    sdk_rt *rt = ctx;
    rt->tx->ops->set_nested(rt->tx, w, on);
}

/* Every 100 ms, on the raylet's thread: deletes of values that were
 * pinned, idle pools given back, and what workers exposed but did not
 * publish (a result waiting behind a long task). */
static void
ev_tick(void *ctx)
{
    sdk_rt *rt = ctx;
    if (rt->trash.n)
        store_plasma_trash_retry(rt->rl_api->store_client(rt->rl), &rt->trash);
    if (rt->tasks_live == 0)
        sdk_pools_trim(rt); /* idle: give a burst's memory back */
    if (rt->pgs_pending)
        sdk_pgs_retry(rt, &rt->later_cbs);
    sdk_progress_deep(rt, &rt->later_cbs);
}

static const sched_raylet_owner raylet_events = {
    ev_lock, ev_unlock, ev_prepare, ev_died, ev_nested, ev_tick,
};

/* ---- background threads ---- */

static void *
reactor_main(void *arg)
{
    sdk_rt *rt = arg;
    sdk_bell *h = rt->bell;
    int64_t busy_until = 0; /* stay awake until then after activity */
    while (!atomic_load(&rt->stopping)) {
        /* Callbacks and map jobs need the reactor awake on every result;
         * so do blocked workers (their results are pushed to them). */
        bool needed = atomic_load(&rt->reactor_needed) > 0 ||
                      atomic_load(&h->nblocked) > 0;
        if (needed)
            atomic_fetch_add(&h->want_any, 1);
        sdk_cb *cbs = NULL;
        pthread_mutex_lock(&rt->mu);
        size_t done = sdk_progress(rt, &cbs);
        pthread_mutex_unlock(&rt->mu);
        sdk_run_callbacks(cbs);
        /* Stay responsive for a bounded time after progress or a request
         * from a task (nested calls), then sleep until woken or a
         * timeout. Only a reactor about to sleep counts as a sleeper:
         * workers ring the doorbell (a system call) only for sleepers. */
        int64_t now = rt_clock_now_ns();
        int64_t last =
            atomic_load_explicit(&rt->last_request_ns, memory_order_relaxed);
        int64_t spin = (int64_t)rt->spin_us * 1000;
        if (done || now - last < spin)
            busy_until = now + spin;
        if (done == 0 && !atomic_load(&rt->stopping)) {
            if (now < busy_until) {
                rt_cpu_relax();
            } else {
                uint32_t seq = atomic_load(&h->seq);
                if (needed)
                    atomic_fetch_add(&h->sleepers, 1);
                pthread_mutex_lock(&rt->mu); /* look again, registered */
                done = sdk_progress_deep(rt, &cbs);
                pthread_mutex_unlock(&rt->mu);
                sdk_run_callbacks(cbs);
                if (done == 0)
                    rt_futex_wait(&h->seq, seq, needed ? 50000 : 5000);
                if (needed)
                    atomic_fetch_sub(&h->sleepers, 1);
            }
        }
        if (needed)
            atomic_fetch_sub(&h->want_any, 1);
    }
    return NULL;
}

ray_err
sdk_wait_until(sdk_rt *rt, bool (*done)(sdk_rt *, void *), void *arg,
               int64_t deadline_ns)
{
    return sdk_wait_task(rt, done, arg, deadline_ns, 0);
}

ray_err
sdk_wait_task(sdk_rt *rt, bool (*done)(sdk_rt *, void *), void *arg,
              int64_t deadline_ns, uint64_t task)
{
    sdk_bell *h = rt->bell;
    pthread_mutex_lock(&rt->mu);
    int64_t spin_ns = rt_spin_budget_next(&rt->spin);
    pthread_mutex_unlock(&rt->mu);
    int64_t spin_end = rt_clock_now_ns() + spin_ns;
    unsigned spins = 0;
    bool slept = false;
    ray_err result;
    /* Tell workers what this thread waits for (sdk_bell_wanted). */
    sdk_bell_want_begin(h, task);
    /* Asleep for one task's result, workers ring only for it (or when
     * they run dry); asleep for anything, for every batch. */
    _Atomic uint32_t *sleepers = task ? &h->sleepers_task : &h->sleepers;
    for (;;) {
        uint32_t seq = atomic_load(&h->seq);
        int64_t now = rt_clock_now_ns();
        bool sleeping = now >= spin_end;
        if (sleeping)
            atomic_fetch_add(sleepers, 1);
        sdk_cb *cbs = NULL;
        /* While spinning, a held lock means another thread is taking in
         * what the workers sent (for everyone): look again later rather
         * than queue behind it, which convoys the waiting threads. */
        if (!sleeping && pthread_mutex_trylock(&rt->mu) != 0) {
            for (int i = 0; i < 32; i++)
                rt_cpu_relax();
            continue;
        }
        if (sleeping)
            pthread_mutex_lock(&rt->mu);
        if (sleeping)
            sdk_progress_deep(rt, &cbs); /* before and after each sleep */
        else
            sdk_progress(rt, &cbs);
        bool ok = done(rt, arg);
        if (ok)
            rt_spin_budget_update(&rt->spin, !slept);
        pthread_mutex_unlock(&rt->mu);
        sdk_run_callbacks(cbs);
        if (ok || now >= deadline_ns) {
            if (sleeping)
                atomic_fetch_sub(sleepers, 1);
            result = ok ? RAY_OK : RAY_ETIMEDOUT;
            break;
        }
        if (sleeping) {
            int64_t left_us = (deadline_ns - now) / 1000;
            rt_futex_wait(&h->seq, seq, left_us < 20000 ? left_us : 20000);
            atomic_fetch_sub(sleepers, 1);
            slept = true;
        } else if ((++spins & 63) == 0) {
            sched_yield(); /* a runnable worker on this core goes first */
        } else {
            for (int i = 0; i < 32; i++)
                rt_cpu_relax();
        }
    }
    sdk_bell_want_end(h, task);
    return result;
}

/* ---- init / shutdown ---- */

/* Free waiter nodes still linked to objects (pending callbacks, gets from
 * tasks, dependency links not inline in their task). Before tasks go. */
static void
free_linked_waiters(sdk_rt *rt)
{
    sdk_objects *s = &rt->store;
    for (uint32_t c = 0; c < s->nchunks; c++) {
        for (uint32_t i = 0; i < SDK_OBJ_CHUNK; i++) {
            sdk_obj *o = &s->chunks[c][i];
            if (o->state == SDK_OBJ_FREE)
                continue;
            sdk_waiter *w = sdk_obj_take_waiters(o);
            while (w) {
                sdk_waiter *next = w->next;
                if (w->kind == SDK_WAIT_CB) {
                    rt_free(w->ctx);
                    rt_free(w);
                } else if (w->kind == SDK_WAIT_RGET ||
                           w->kind == SDK_WAIT_PUSH) {
                    rt_free(w);
                } else {
                    sdk_task *t = w->ctx;
                    if (!(w >= t->dep_inl && w < t->dep_inl + 2))
                        rt_free(w);
                }
                w = next;
            }
        }
    }
}

static void
free_queued(void *arg, sched_task *st)
{
    sdk_task_free(arg, sdk_task_of(st));
}

void
sdk_owner_destroy(sdk_rt *rt)
{
    free_linked_waiters(rt);
    sdk_actors_fini(rt);
    /* Tasks still queued or in flight go back to the pool, freed next. */
    for (int w = 0; rt->workers && w < rt->nslots; w++) {
        rt_free(rt->workers[w].ahold);
        for (sdk_task *t = rt->workers[w].head, *n; t; t = n) {
            n = t->next;
            sdk_task_free(rt, t);
        }
    }
    if (rt->rl)
        rt->rl_api->each_waiting(rt->rl, free_queued, rt);
    sdk_pgs_fini(rt);   /* and the tasks parked in pending groups */
    sdk_pools_trim(rt); /* and the pooled waiters */
    rt_free(rt->done_stack);
    sdk_objects_fini(&rt->store); /* no store deletes: the store goes next */
    store_plasma_trash_fini(&rt->trash);
    sdk_timeline_free(rt);
    rt_free(rt->workers);
    pthread_mutex_destroy(&rt->mu);
    pthread_cond_destroy(&rt->pg_cv);
    rt_free(rt);
}

/* The owner, then its raylet (and the node's store) and transport. */
static void
embedded_destroy(sdk_rt *rt, sdk_tx *tx)
{
    sched_raylet *r = rt->raylet;
    sdk_owner_destroy(rt);
    sched_raylet_destroy(r);
    if (tx)
        tx->ops->destroy(tx);
}

/* Descriptors open in this process now. */
static long
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    long n = -1; /* the directory's own descriptor */
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The driver holds 3 descriptors per worker process (pidfd, stdout and
 * stderr pipes) and a few of its own. Raise the soft open-file limit to
 * the hard one, as servers do; a limit that still cannot hold the task
 * workers is a clear error here, never a runtime that hangs later.
 * (Stand-ins and actor processes that do not fit fail to start with the
 * same reason in their errors.) */
static ray_err
check_fd_limit(int ncpus)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return RAY_OK;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    unsigned long long need =
        (unsigned long long)open_fds() + 3ull * (unsigned long long)ncpus + 32;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        return sdk_fail(RAY_EINVAL,
                        "ray_init: the open-file limit "
                        "(RLIMIT_NOFILE) is %llu (hard limit %llu), and %d "
                        "workers need about %llu descriptors in this "
                        "process (3 each, the runtime's own, and those "
                        "open now); raise it (ulimit -n) or lower num_cpus",
                        (unsigned long long)rl.rlim_cur,
                        (unsigned long long)rl.rlim_max, ncpus, need);
    return RAY_OK;
}

/* Stand-in slots: workers started while task workers are blocked in a
 * wait, so their CPUs keep running tasks (Ray starts extra workers the
 * same way). Past these, blocked workers run queued tasks inside their
 * waits. */
static int
standin_slots(int ncpus)
{
    int n = 2 * ncpus;
    return n < 4 ? 4 : (n > 64 ? 64 : n);
}

/* The fields left zero, from the configuration table (runtime/config.h)
 * the daemons share: a RAYC_<KEY> environment variable when set, else the
 * default. RAY_NUM_CPUS is still read for num_cpus. The store's default
 * stays 1 GiB rather than the table's share of RAM: the store reserves
 * and pre-faults all of it when it starts. */
static bool env_timeline; /* RAYC_TIMELINE: record from ray_init on */

static ray_err
config_from_env(ray_config *cfg)
{
    rt_config rc;
    char msg[300];
    rt_config_defaults(&rc);
    if (rt_config_apply_env(&rc, msg, sizeof(msg)) != RAY_OK)
        return sdk_fail(RAY_EINVAL, "ray_init: environment: %s", msg);
    const char *legacy = getenv("RAY_NUM_CPUS");
    if (cfg->num_cpus == 0 && !getenv("RAYC_NUM_CPUS") && legacy &&
        atoi(legacy) > 0)
        cfg->num_cpus = atoi(legacy);
    if (cfg->num_cpus == 0)
        cfg->num_cpus = rc.num_cpus > 1024 ? 1024
                        : rc.num_cpus > 0  ? (int)rc.num_cpus
                                           : 1;
    if (cfg->worker_spin_us == 0)
        cfg->worker_spin_us = (int)rc.worker_spin_us;
    if (cfg->object_store_bytes == 0)
        cfg->object_store_bytes = getenv("RAYC_OBJECT_STORE_MEMORY")
                                      ? rc.object_store_memory
                                      : 1ull << 30;
    if (cfg->log_level == 0 && getenv("RAYC_LOG_LEVEL")) {
        int l = rt_log_level_parse(rc.log_level); /* DEBUG 0 .. OFF 5 */
        cfg->log_level = l >= RT_LOG_OFF ? 0 : 4 - (l > 3 ? 3 : l);
    }
    env_timeline = rc.timeline;
    return RAY_OK;
}

/* Fill defaults into `cfg` and check it. */
static ray_err
normalize_config(ray_config *cfg)
{
    if (cfg->log_level < 0 || cfg->log_level > 4)
        return sdk_fail(RAY_EINVAL,
                        "ray_init: log_level %d out of range (0 "
                        "silent to 4 debug)",
                        cfg->log_level);
    if (cfg->worker_spin_us > 1000000)
        return sdk_fail(RAY_EINVAL,
                        "ray_init: worker_spin_us %d out of "
                        "range (at most 1000000)",
                        cfg->worker_spin_us);
    if (cfg->ring_bytes > (256u << 20))
        return sdk_fail(RAY_EINVAL,
                        "ray_init: ring_bytes %u out of range "
                        "(at most 256 MiB)",
                        cfg->ring_bytes);
    if (cfg->num_cpus < 0 || cfg->num_cpus > 1024)
        return sdk_fail(RAY_EINVAL, "ray_init: num_cpus %d out of range",
                        cfg->num_cpus);
    ray_err err = config_from_env(cfg);
    if (err != RAY_OK)
        return err;
    if (cfg->ring_bytes == 0)
        cfg->ring_bytes = 4u << 20;
    if (cfg->ring_bytes < 65536 || (cfg->ring_bytes & (cfg->ring_bytes - 1)))
        return sdk_fail(RAY_EINVAL, "ray_init: ring_bytes must be a power "
                                    "of two >= 64 KiB");
    if (cfg->worker_spin_us < 0 || cfg->max_inflight < 0)
        return sdk_fail(
            RAY_EINVAL,
            "ray_init: %s %d is negative (0 means "
            "the default)",
            cfg->max_inflight < 0 ? "max_inflight" : "worker_spin_us",
            cfg->max_inflight < 0 ? cfg->max_inflight : cfg->worker_spin_us);
    if (cfg->max_inflight == 0)
        cfg->max_inflight = 4096;
    if (cfg->actor_processes < 0 || cfg->actor_processes > SDK_ACTOR_HOSTS)
        return sdk_fail(RAY_EINVAL,
                        "ray_init: actor_processes %d out of "
                        "range (1 to %d)",
                        cfg->actor_processes, SDK_ACTOR_HOSTS);
    if (cfg->actor_processes == 0)
        cfg->actor_processes = SDK_ACTOR_HOSTS;
    return RAY_OK;
}

/* Start the raylet (its thread spawns the workers: PR_SET_PDEATHSIG
 * follows the thread that forked a worker, so it must be one that lives
 * until ray_shutdown, not the caller's) and the reactor. On failure
 * every started worker and thread is stopped again. */
static ray_err
start_threads(sdk_rt *rt)
{
    char why[200] = "";
    ray_err err = sched_raylet_start(rt->raylet, why, sizeof(why));
    if (err != RAY_OK)
        return sdk_fail(err, "ray_init: cannot start worker processes: %s",
                        why);
    if (pthread_create(&rt->reactor, NULL, reactor_main, rt) != 0) {
        sched_raylet_stop(rt->raylet, 0);
        return sdk_fail(RAY_ENOMEM, "ray_init: cannot start reactor thread");
    }
    return RAY_OK;
}

/* ---- the owner ---- */

ray_err
sdk_owner_create(const ray_config *cfg, sdk_rt **out)
{
    *out = NULL;
    sdk_rt *rt = rt_calloc(1, sizeof(*rt));
    if (!rt)
        return sdk_fail(RAY_ENOMEM, "ray_init: out of memory");
    /* Adaptive: callers hold mu for microseconds, so a contender spins
     * briefly before it sleeps (no futex round trip per hand-over when
     * several driver threads submit at once). */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&rt->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_cond_init(&rt->pg_cv, NULL);
    sdk_objects_init(&rt->store);
    sdk_objects_set_free_hook(&rt->store, stored_value_freed, rt);
    rt->cfg = *cfg;
    rt->cfg.address = NULL;
    rt->cfg.resources = NULL;
    rt->nworkers = cfg->num_cpus;
    rt->ntask = cfg->num_cpus + standin_slots(cfg->num_cpus);
    rt->nslots = rt->ntask + SDK_ACTOR_HOSTS;
    rt->spin_us = cfg->worker_spin_us;
    rt_spin_budget_init(&rt->spin, cfg->worker_spin_us);
    rt->max_inflight = (uint32_t)cfg->max_inflight;
    rt->next_task_id = 1;
    rt_random_fill(rt->store_prefix, sizeof(rt->store_prefix));
    rt->ref_tag = sdk_agent_mode && sdk_agent_tag
                      ? sdk_agent_tag
                      : rt_random_u64() | 1u; /* never 0: null refs */
    rt->workers = rt_calloc((size_t)rt->nslots, sizeof(sdk_worker));
    if (!rt->workers || sdk_actors_init(rt) != RAY_OK) {
        sdk_owner_destroy(rt);
        return sdk_fail(RAY_ENOMEM, "ray_init: out of memory");
    }
    *out = rt;
    return RAY_OK;
}

void
sdk_owner_attach(sdk_rt *rt, sdk_tx *tx, const sched_raylet_api *api, void *rl)
{
    rt->tx = tx;
    rt->bell = tx->bell;
    rt->rl_api = api;
    rt->rl = rl;
    rt->rl_workers = api->workers(rl);
}

/* ---- the embedded backend: this node's raylet and transport ---- */

/* The raylet, its shared-memory transport, the owner attached to both,
 * and the threads. On failure nothing is left. */
static ray_err
embedded_start(const ray_config *cfg, sdk_rt **out)
{
    sdk_rt *rt;
    ray_err err = sdk_owner_create(cfg, &rt);
    if (err != RAY_OK)
        return err;
    sched_raylet_config rc = {
        .ncpu = rt->nworkers,
        .nstandin = rt->ntask - rt->nworkers,
        .nhost = SDK_ACTOR_HOSTS,
        .max_inflight = rt->max_inflight,
        .resources = cfg->resources,
        .store_bytes = cfg->object_store_bytes,
    };
    char why[200] = "";
    sdk_tx *tx = NULL;
    err = sched_raylet_create(&rc, &sdk_task_ops, &raylet_events, rt,
                              &rt->raylet, why, sizeof(why));
    if (err != RAY_OK) {
        sdk_fail(err, "ray_init: %s",
                 err == RAY_ENOMEM ? "out of memory" : why);
        goto fail;
    }
    sdk_tx_shm_config tc = {
        .nslots = rt->nslots,
        .ntask = rt->ntask,
        .nworkers = rt->nworkers,
        .ring_bytes = cfg->ring_bytes,
        .spin_us = cfg->worker_spin_us,
        .ref_tag = rt->ref_tag,
        .store_prefix = rt->store_prefix,
    };
    if ((err = sdk_tx_shm_create(&tc, &tx)) != RAY_OK)
        goto fail;
    sdk_owner_attach(rt, tx, &sched_raylet_local, rt->raylet);
    if ((err = start_threads(rt)) != RAY_OK)
        goto fail;
    *out = rt;
    return RAY_OK;

fail:
    embedded_destroy(rt, tx);
    return err;
}

ray_err
ray_init(const ray_config *cfg_in)
{
    sdk_clear_error();
    if (sdk_in_worker)
        return sdk_fail(RAY_EINVAL, "ray_init called inside a worker");
    if (sdk_g)
        return sdk_fail(RAY_EEXISTS, "ray_init: runtime already running");
    ray_config cfg;
    ray_config_init(&cfg);
    if (cfg_in)
        cfg = *cfg_in;
    ray_err err = normalize_config(&cfg);
    if (err == RAY_OK)
        err = check_fd_limit(cfg.num_cpus);
    if (err != RAY_OK)
        return err;
    /* Silent by default: lines reach only a ray_set_log_cb callback. */
    if (cfg.log_level > 0)
        rt_log_set_level(
            (rt_log_level)(4 - (cfg.log_level > 4 ? 4 : cfg.log_level)));
    else
        rt_log_set_fd(-1);
    /* A cluster: this node is the embedded runtime; the others join. */
    const char *address =
        cfg.address && cfg.address[0] ? cfg.address : getenv("RAY_ADDRESS");
    if (address && address[0])
        sdk_cluster_prepare();
    sdk_rt *rt;
    if ((err = embedded_start(&cfg, &rt)) != RAY_OK) {
        sdk_cluster_prepare_join();
        return err;
    }
    sdk_g = rt;
    sdk_be = &sdk_backend_embedded;
    if (address && address[0] && (err = sdk_cluster_join(address)) != RAY_OK) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s", ray_last_error_detail());
        ray_shutdown();
        return sdk_fail(err, "%s", msg);
    }
    /* After the join: in a cluster, the agents record too. */
    if (env_timeline)
        (void)ray_timeline_enable(true); /* 64 bytes; ENOMEM: not recorded */
    sdk_local_status_start(&cfg);
    return RAY_OK;
}

void
ray_shutdown(void)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        return;
    sdk_local_status_stop();
    sdk_cluster_leave(); /* the agents end with their connections */
    sdk_cluster_prepare_join();
    sdk_actors_shutdown(rt); /* destructors run before the workers exit */
    sched_raylet_stopping(rt->raylet); /* no process starts again */
    atomic_store(&rt->stopping, 1);
    rt->tx->ops->shutdown(rt->tx); /* wakes the reactor and every worker */
    pthread_join(rt->reactor, NULL);
    sched_raylet_stop(rt->raylet, 20); /* reaps, forwards the last output */
    sdk_g = NULL;
    sdk_be = &sdk_backend_none;
    embedded_destroy(rt, rt->tx);
    sdk_cluster_fini();
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * runtime.c: ray_init / ray_shutdown, worker start-up and the two
 * background threads of the embedded local runtime.
 *
 * ray_init creates one memfd (never a name in /dev/shm: nothing can leak),
 * formats one slot of rings per worker, and posix_spawns the workers ahead
 * of need; it does not wait for them (tasks queue in their rings while
 * they start). The monitor thread polls worker pidfds and output pipes:
 * it forwards output lines with a pid prefix and turns a worker's death
 * into retries and a replacement. The reactor thread sleeps on the driver
 * doorbell and makes progress (completions, dependent tasks, callbacks)
 * when no user thread is inside ray_get/ray_wait; it only asks workers to
 * wake it while callbacks or queued work need it, so a plain submit/get
 * loop costs no system call.
 *
 * The node's object store (values of STORE_PLASMA_MIN bytes or more) starts
 * on first need, not in ray_init: it reserves and pre-faults all of
 * object_store_bytes, which costs ~0.8 s and that much memory per GiB, a
 * price a program of small values should not pay. The first large put,
 * large by-value argument, or worker asking (SDK_MSG_STORE, for a large
 * result or put inside a task) starts it, in the driver, under store_mu;
 * workers then connect over its socket (that is how a store client gets
 * the region and a client index whose pins die with the process; an
 * inherited memfd would give neither), its path in the shm header.
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
#include "runtime/log.h"
#include "runtime/random.h"
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

ray_err
sdk_worker_start(sdk_rt *rt, int w)
{
    sdk_worker *wk = &rt->workers[w];
    void *slot = sdk_slot_at(rt->shm, (size_t)w);
    size_t rb = rt->hdr->ring_bytes;
    memset(slot, 0, 64);
    for (int k = 0; k < 3; k++)
        rt_ring_format(sdk_slot_ring(slot, rb, k), rb);
    wk->ctl = sdk_slot_ctl(slot);
    rt_ring_attach(&wk->sub, sdk_slot_ring(slot, rb, 0));
    rt_ring_attach(&wk->comp, sdk_slot_ring(slot, rb, 1));
    rt_ring_attach(&wk->reply, sdk_slot_ring(slot, rb, 2));
    wk->slot.dirty = false;
    return sdk_worker_spawn(rt, w);
}

ray_err
sdk_worker_spawn(sdk_rt *rt, int w)
{
    sdk_worker *wk = &rt->workers[w];
    char env[96];
    snprintf(env, sizeof(env), SDK_ENV "=%d:%d:%d", rt->memfd, w,
             (int)getpid());
    ray_err err = sched_proc_spawn(env, rt->memfd, &wk->proc);
    wk->slot.alive = err == RAY_OK;
    wk->start_err[0] = '\0';
    if (err != RAY_OK) {
        int en = (int)((uint32_t)err >> 8);
        struct rlimit rl;
        if ((en == EMFILE || en == ENFILE) &&
            getrlimit(RLIMIT_NOFILE, &rl) == 0)
            snprintf(wk->start_err, sizeof(wk->start_err), "out of file "
                     "descriptors (%s; the open-file limit, RLIMIT_NOFILE, "
                     "is %llu: raise it with ulimit -n)", strerror(en),
                     (unsigned long long)rl.rlim_cur);
        else
            snprintf(wk->start_err, sizeof(wk->start_err), "%s",
                     en ? strerror(en) : ray_strerror(err));
    }
    return err;
}

/* ---- the node's object store ---- */

/* The memory store freed a stored value's descriptor (mu held). */
static void
stored_value_freed(void *arg, uint64_t key)
{
    sdk_store_forget(arg, key);
}

store_client *
sdk_store_ensure(sdk_rt *rt)
{
    store_client *c = atomic_load_explicit(&rt->store_cl, memory_order_acquire);
    if (c)
        return c;
    pthread_mutex_lock(&rt->store_mu);
    c = atomic_load(&rt->store_cl);
    if (!c && !rt->store_err[0]) {
        char why[200] = "";
        ray_err e = store_node_start(rt->cfg.object_store_bytes,
                                        &rt->node_store, why, sizeof(why));
        if (e == RAY_OK) {
            c = store_node_client(rt->node_store);
            snprintf(rt->hdr->store_path, sizeof(rt->hdr->store_path), "%s",
                     store_node_socket(rt->node_store));
            atomic_store(&rt->store_cl, c);
            atomic_store(&rt->hdr->store_state, SDK_STORE_READY);
        } else {
            rt->node_store = NULL;
            snprintf(rt->store_err, sizeof(rt->store_err), "the object store "
                     "(%llu bytes, ray_config.object_store_bytes) cannot "
                     "start: %s",
                     (unsigned long long)rt->cfg.object_store_bytes, why);
            atomic_store(&rt->hdr->store_state, SDK_STORE_FAILED);
        }
        rt_futex_wake(&rt->hdr->store_state, 0x7fffffff);
    }
    if (!c)
        sdk_fail(RAY_ESTORE_FULL, "%s", rt->store_err);
    pthread_mutex_unlock(&rt->store_mu);
    return c;
}

void
sdk_store_request(sdk_rt *rt)
{
    if (atomic_load(&rt->hdr->store_state) == SDK_STORE_NONE)
        (void)sdk_store_ensure(rt);
}

/* ---- background threads ---- */

void
sdk_wake_monitor(sdk_rt *rt)
{
    uint64_t one = 1;
    (void)!write(rt->wake_fd, &one, sizeof(one));
}

/* Start the stand-ins dispatch asked for (monitor thread, mu held): the
 * slots past the CPUs that are not running, in order. */
static void
start_standins(sdk_rt *rt)
{
    for (int w = rt->nworkers; w < rt->ntask && rt->standins_wanted; w++) {
        if (rt->workers[w].slot.alive)
            continue;
        /* Its rings are fresh memory: fault them in here, in one call
         * (a page fault per 4 KiB as records first touch them costs
         * more than the tasks they carry). */
        (void)madvise(sdk_slot_at(rt->shm, (size_t)w), rt->hdr->slot_bytes,
                      MADV_POPULATE_WRITE);
        ray_err e = sdk_worker_start(rt, w);
        if (e != RAY_OK) {
            RT_WARN("cannot start a stand-in worker: %s; blocked tasks "
                    "run queued ones inside their waits",
                    rt->workers[w].start_err);
            rt->standin_fail_ns = rt_clock_now_ns();
            break;
        }
        rt->standins_wanted--;
    }
    rt->standins_wanted = 0;
}

static void *
monitor_main(void *arg)
{
    sdk_rt *rt = arg;
    struct pollfd *pf = rt_calloc((size_t)rt->nslots * 3 + 1, sizeof(*pf));
    ray_err err = pf ? RAY_OK : RAY_ENOMEM;
    pthread_mutex_lock(&rt->mu);
    for (int w = 0; w < rt->nworkers && err == RAY_OK; w++) {
        err = sdk_worker_start(rt, w);
        if (err != RAY_OK)
            snprintf(rt->spawn_why, sizeof(rt->spawn_why), "%s",
                     rt->workers[w].start_err);
    }
    rt->spawn_err = err;
    rt->spawn_state = 1;
    pthread_cond_signal(&rt->spawned);
    pthread_mutex_unlock(&rt->mu);
    if (err != RAY_OK) {
        rt_free(pf);
        return NULL;
    }
    while (!atomic_load(&rt->stopping)) {
        /* Only descriptors that are open: poll() refuses (EINVAL) a set
         * larger than the open-file limit, even of -1 entries. */
        size_t n = 0;
        pf[n++] = (struct pollfd){.fd = rt->wake_fd, .events = POLLIN};
        pthread_mutex_lock(&rt->mu);
        for (int w = 0; w < rt->nslots; w++) {
            sched_proc *p = &rt->workers[w].proc;
            int fds[3] = {p->pidfd, p->out_fd, p->err_fd};
            for (int k = 0; k < 3; k++)
                if (fds[k] >= 0)
                    pf[n++] = (struct pollfd){.fd = fds[k], .events = POLLIN};
        }
        pthread_mutex_unlock(&rt->mu);
        int r = poll(pf, n, 100);
        if (r < 0 && errno != EINTR) {
            /* Never die silently: say why, wait a little, go on (output,
             * deaths and stand-ins are still handled each pass). */
            RT_LOG_RATELIMITED(RT_LOG_ERROR, "monitor: poll of %zu "
                               "descriptors failed: %s", n, strerror(errno));
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
            r = 0;
        }
        if (atomic_load(&rt->stopping))
            break;
        /* Take the wake-up off the eventfd: left there, poll() returns at
         * once forever. A write after this read (a host formatted while
         * we run) is seen on the next pass. */
        if (r > 0 && (pf[0].revents & POLLIN)) {
            uint64_t ev;
            (void)!read(rt->wake_fd, &ev, sizeof(ev));
        }
        sdk_cb *cbs = NULL;
        pthread_mutex_lock(&rt->mu);
        if (rt->trash.n) /* stored values that were pinned when freed */
            store_plasma_trash_retry(atomic_load(&rt->store_cl), &rt->trash);
        sdk_actors_tick(rt, &cbs); /* spawns actor hosts: from this thread */
        if (rt->standins_wanted) {
            start_standins(rt);
            sdk_dispatch(rt, &cbs); /* they steal what waits */
        }
        if (rt->tasks_live == 0)
            sdk_pools_trim(rt); /* idle: give a burst's memory back */
        for (int w = 0; w < rt->nslots; w++) {
            sdk_worker *wk = &rt->workers[w];
            sched_proc *p = &wk->proc;
            if (p->out_fd >= 0)
                sched_proc_forward(&p->out_fd, &p->out_lb, p->pid, 1);
            if (p->err_fd >= 0)
                sched_proc_forward(&p->err_fd, &p->err_lb, p->pid, 2);
            int st;
            pid_t pid = p->pid;
            if (pid > 0 && sched_proc_reap(p, false, &st) == RAY_OK) {
                /* Flush what the dead worker printed, then close. */
                if (p->out_fd >= 0)
                    sched_proc_forward(&p->out_fd, &p->out_lb, pid, 1);
                if (p->err_fd >= 0)
                    sched_proc_forward(&p->err_fd, &p->err_lb, pid, 2);
                if (p->out_fd >= 0) {
                    close(p->out_fd);
                    p->out_fd = -1;
                }
                if (p->err_fd >= 0) {
                    close(p->err_fd);
                    p->err_fd = -1;
                }
                sdk_worker_died(rt, w, st, &cbs);
            }
        }
        sdk_progress_deep(rt, &cbs);
        pthread_mutex_unlock(&rt->mu);
        sdk_run_callbacks(cbs);
    }
    rt_free(pf);
    return NULL;
}

static void *
reactor_main(void *arg)
{
    sdk_rt *rt = arg;
    sdk_shm_hdr *h = rt->hdr;
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
        int64_t last = atomic_load_explicit(&rt->last_request_ns,
                                            memory_order_relaxed);
        int64_t spin = (int64_t)rt->spin_us * 1000;
        if (done || now - last < spin)
            busy_until = now + spin;
        if (done == 0 && !atomic_load(&rt->stopping)) {
            if (now < busy_until) {
                rt_cpu_relax();
            } else {
                uint32_t seq = atomic_load(&h->drv_seq);
                if (needed)
                    atomic_fetch_add(&h->drv_sleepers, 1);
                pthread_mutex_lock(&rt->mu); /* look again, registered */
                done = sdk_progress_deep(rt, &cbs);
                pthread_mutex_unlock(&rt->mu);
                sdk_run_callbacks(cbs);
                if (done == 0)
                    rt_futex_wait(&h->drv_seq, seq, needed ? 50000 : 5000);
                if (needed)
                    atomic_fetch_sub(&h->drv_sleepers, 1);
            }
        }
        if (needed)
            atomic_fetch_sub(&h->want_any, 1);
    }
    return NULL;
}

/* Tell workers what this thread waits for (see results_wanted in
 * worker_main.c): the one waiting thread may name a task; any other
 * waiter, or one that names none, wants every result at once. */
static void
want_begin(sdk_shm_hdr *h, uint64_t task)
{
    if (task == 0)
        atomic_fetch_add(&h->want_any, 1);
    else if (atomic_fetch_add(&h->drv_waiting, 1) == 0) {
        uint64_t none = 0;
        atomic_compare_exchange_strong(&h->want_task, &none, task);
    }
}

static void
want_end(sdk_shm_hdr *h, uint64_t task)
{
    if (task == 0) {
        atomic_fetch_sub(&h->want_any, 1);
        return;
    }
    atomic_fetch_sub(&h->drv_waiting, 1);
    /* Ours or stale: a thread still waiting then wants any (0). */
    atomic_compare_exchange_strong(&h->want_task, &task, 0);
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
    sdk_shm_hdr *h = rt->hdr;
    pthread_mutex_lock(&rt->mu);
    int64_t spin_ns = rt_spin_budget_next(&rt->spin);
    pthread_mutex_unlock(&rt->mu);
    int64_t spin_end = rt_clock_now_ns() + spin_ns;
    unsigned spins = 0;
    bool slept = false;
    ray_err result;
    want_begin(h, task);
    /* Asleep for one task's result, workers ring only for it (or when
     * they run dry); asleep for anything, for every batch. */
    _Atomic uint32_t *sleepers = task ? &h->drv_sleepers_task
                                      : &h->drv_sleepers;
    for (;;) {
        uint32_t seq = atomic_load(&h->drv_seq);
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
            rt_futex_wait(&h->drv_seq, seq, left_us < 20000 ? left_us : 20000);
            atomic_fetch_sub(sleepers, 1);
            slept = true;
        } else if ((++spins & 63) == 0) {
            sched_yield(); /* a runnable worker on this core goes first */
        } else {
            for (int i = 0; i < 32; i++)
                rt_cpu_relax();
        }
    }
    want_end(h, task);
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
destroy(sdk_rt *rt)
{
    free_linked_waiters(rt);
    sdk_actors_fini(rt);
    if (rt->workers) {
        for (int w = 0; w < rt->nslots; w++) {
            sched_proc *p = &rt->workers[w].proc;
            if (p->out_fd >= 0)
                close(p->out_fd);
            if (p->err_fd >= 0)
                close(p->err_fd);
            if (p->pidfd >= 0)
                close(p->pidfd);
        }
    }
    /* Tasks still queued or in flight. */
    for (int w = 0; rt->workers && w < rt->nslots; w++) {
        rt_free(rt->workers[w].frag);
        sdk_nested_drop(&rt->workers[w]);
        rt_free(rt->workers[w].ahold);
        sdk_task *t = rt->workers[w].head;
        while (t) {
            sdk_task *n = t->next;
            rt_free(t->name_owned);
            rt_free(t->demand);
            rt_free(t->blocks);
            if (t->spec != t->spec_inl)
                rt_free(t->spec);
            rt_free(t);
            t = n;
        }
    }
    for (sched_task *st = rt->q.head; st;) {
        sdk_task *t = sdk_task_of(st);
        sched_task *n = st->next;
        rt_free(t->name_owned);
        rt_free(t->demand);
        rt_free(t->blocks);
        if (t->spec != t->spec_inl)
            rt_free(t->spec);
        rt_free(t);
        st = n;
    }
    for (sdk_task *t = rt->free_tasks; t;) {
        sdk_task *n = t->next;
        rt_free(t);
        t = n;
    }
    for (sdk_waiter *wt = rt->free_waiters; wt;) {
        sdk_waiter *n = wt->next;
        rt_free(wt);
        wt = n;
    }
    rt_free(rt->done_stack);
    sdk_objects_fini(&rt->store); /* no store deletes: the store goes next */
    store_plasma_trash_fini(&rt->trash);
    store_node_stop(rt->node_store);
    pthread_mutex_destroy(&rt->store_mu);
    rt_free(rt->workers);
    if (rt->shm)
        munmap(rt->shm, rt->shm_bytes);
    if (rt->memfd >= 0)
        close(rt->memfd);
    if (rt->wake_fd >= 0)
        close(rt->wake_fd);
    pthread_mutex_destroy(&rt->mu);
    pthread_cond_destroy(&rt->spawned);
    rt_free(rt);
}

static int
default_cpus(void)
{
    const char *e = getenv("RAY_NUM_CPUS");
    if (e && atoi(e) > 0)
        return atoi(e);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
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
    unsigned long long need = (unsigned long long)open_fds() +
                              3ull * (unsigned long long)ncpus + 32;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        return sdk_fail(RAY_EINVAL, "ray_init: the open-file limit "
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

/* Fill defaults into `cfg` and check it. */
static ray_err
normalize_config(ray_config *cfg)
{
    if (cfg->address && cfg->address[0])
        return sdk_fail(RAY_EINVAL, "ray_init: cluster address '%s' given: "
                        "joining a cluster is not implemented yet (coming); "
                        "leave address NULL for the local runtime",
                        cfg->address);
    if (cfg->log_level < 0 || cfg->log_level > 4)
        return sdk_fail(RAY_EINVAL, "ray_init: log_level %d out of range (0 "
                        "silent to 4 debug)", cfg->log_level);
    if (cfg->worker_spin_us > 1000000)
        return sdk_fail(RAY_EINVAL, "ray_init: worker_spin_us %d out of "
                        "range (at most 1000000)", cfg->worker_spin_us);
    if (cfg->ring_bytes > (256u << 20))
        return sdk_fail(RAY_EINVAL, "ray_init: ring_bytes %u out of range "
                        "(at most 256 MiB)", cfg->ring_bytes);
    if (cfg->num_cpus < 0 || cfg->num_cpus > 1024)
        return sdk_fail(RAY_EINVAL, "ray_init: num_cpus %d out of range",
                        cfg->num_cpus);
    if (cfg->num_cpus == 0)
        cfg->num_cpus = default_cpus();
    if (cfg->ring_bytes == 0)
        cfg->ring_bytes = 4u << 20;
    if (cfg->ring_bytes < 65536 || (cfg->ring_bytes & (cfg->ring_bytes - 1)))
        return sdk_fail(RAY_EINVAL, "ray_init: ring_bytes must be a power "
                        "of two >= 64 KiB");
    if (cfg->worker_spin_us < 0 || cfg->max_inflight < 0)
        return sdk_fail(RAY_EINVAL, "ray_init: %s %d is negative (0 means "
                        "the default)", cfg->max_inflight < 0 ? "max_inflight"
                        : "worker_spin_us", cfg->max_inflight < 0 ?
                        cfg->max_inflight : cfg->worker_spin_us);
    if (cfg->worker_spin_us == 0)
        cfg->worker_spin_us = 50;
    if (cfg->max_inflight == 0)
        cfg->max_inflight = 4096;
    if (cfg->actor_processes < 0 || cfg->actor_processes > SDK_ACTOR_HOSTS)
        return sdk_fail(RAY_EINVAL, "ray_init: actor_processes %d out of "
                        "range (1 to %d)", cfg->actor_processes,
                        SDK_ACTOR_HOSTS);
    if (cfg->actor_processes == 0)
        cfg->actor_processes = SDK_ACTOR_HOSTS;
    if (cfg->object_store_bytes == 0)
        cfg->object_store_bytes = 1ull << 30;
    return RAY_OK;
}

/* Create, size and map the memfd: header and worker slots. */
static ray_err
create_shm(sdk_rt *rt, const ray_config *cfg)
{
    size_t slot_bytes = sdk_slot_bytes(cfg->ring_bytes);
    rt->shm_bytes = (sizeof(sdk_shm_hdr) + slot_bytes * (size_t)rt->nslots
                     + 4095) & ~(size_t)4095; /* sparse: touched on use */
    rt->memfd = memfd_create("rayc-shm", MFD_CLOEXEC);
    if (rt->memfd < 0 || ftruncate(rt->memfd, (off_t)rt->shm_bytes) != 0)
        return sdk_fail(rt_err_from_errno(errno), "ray_init: memfd: %s",
                        strerror(errno));
    rt->shm = mmap(NULL, rt->shm_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                   rt->memfd, 0);
    if (rt->shm == MAP_FAILED) {
        rt->shm = NULL;
        return sdk_fail(rt_err_from_errno(errno), "ray_init: mmap: %s",
                        strerror(errno));
    }
    rt->hdr = rt->shm;
    rt->hdr->magic = SDK_MAGIC;
    rt->hdr->nslots = (uint32_t)rt->nslots;
    rt->hdr->ntask = (uint32_t)rt->ntask;
    rt->hdr->slot_bytes = slot_bytes;
    rt->hdr->ring_bytes = cfg->ring_bytes;
    rt->hdr->driver_pid = (int32_t)getpid();
    rt->hdr->spin_us = cfg->worker_spin_us;
    rt_random_fill(rt->hdr->store_prefix, sizeof(rt->hdr->store_prefix));
    rt->hdr->ref_tag = rt_random_u64() | 1u; /* never 0: null refs */
    return RAY_OK;
}

/* Start the monitor (which spawns the workers: PR_SET_PDEATHSIG follows
 * the thread that forked a worker, so it must be one that lives until
 * ray_shutdown, not the caller's) and the reactor. On failure every
 * started worker and thread is stopped again. */
static ray_err
start_threads(sdk_rt *rt)
{
    pthread_mutex_lock(&rt->mu);
    rt->spawn_state = 0;
    if (pthread_create(&rt->monitor, NULL, monitor_main, rt) != 0) {
        pthread_mutex_unlock(&rt->mu);
        return sdk_fail(RAY_ENOMEM, "ray_init: cannot start monitor thread");
    }
    while (rt->spawn_state == 0)
        pthread_cond_wait(&rt->spawned, &rt->mu);
    ray_err err = rt->spawn_err;
    pthread_mutex_unlock(&rt->mu);
    if (err != RAY_OK) {
        pthread_join(rt->monitor, NULL);
        sdk_fail(err, "ray_init: cannot start worker processes: %s",
                 rt->spawn_why[0] ? rt->spawn_why : ray_strerror(err));
    } else if (pthread_create(&rt->reactor, NULL, reactor_main, rt) != 0) {
        atomic_store(&rt->stopping, 1);
        uint64_t one = 1;
        (void)!write(rt->wake_fd, &one, sizeof(one));
        pthread_join(rt->monitor, NULL);
        err = sdk_fail(RAY_ENOMEM, "ray_init: cannot start reactor thread");
    }
    if (err != RAY_OK) {
        for (int w = 0; w < rt->nworkers; w++) {
            sched_proc_kill(&rt->workers[w].proc);
            if (rt->workers[w].proc.pid > 0)
                sched_proc_reap(&rt->workers[w].proc, true, NULL);
        }
    }
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
        rt_log_set_level((rt_log_level)(4 - (cfg.log_level > 4 ? 4 : cfg.log_level)));
    else
        rt_log_set_fd(-1);

    sdk_rt *rt = rt_calloc(1, sizeof(*rt));
    if (!rt)
        return sdk_fail(RAY_ENOMEM, "ray_init: out of memory");
    rt->memfd = rt->wake_fd = -1;
    /* Adaptive: callers hold mu for microseconds, so a contender spins
     * briefly before it sleeps (no futex round trip per hand-over when
     * several driver threads submit at once). */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&rt->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&rt->store_mu, NULL);
    pthread_cond_init(&rt->spawned, NULL);
    sdk_objects_init(&rt->store);
    sdk_objects_set_free_hook(&rt->store, stored_value_freed, rt);
    rt->cfg = cfg;
    rt->cfg.address = NULL;
    rt->cfg.resources = NULL;
    rt->nworkers = cfg.num_cpus;
    rt->ntask = cfg.num_cpus + standin_slots(cfg.num_cpus);
    rt->nslots = rt->ntask + SDK_ACTOR_HOSTS;
    rt->spin_us = cfg.worker_spin_us;
    rt_spin_budget_init(&rt->spin, cfg.worker_spin_us);
    rt->max_inflight = (uint32_t)cfg.max_inflight;
    rt->next_task_id = 1;
    sched_res_init(&rt->res);
    sched_res_add(&rt->res, "CPU", (int64_t)cfg.num_cpus * 1000);
    if (sched_res_add_spec(&rt->res, cfg.resources) != RAY_OK) {
        err = sdk_fail(RAY_EINVAL, "ray_init: bad resources '%s'",
                       cfg.resources);
        goto fail;
    }
    if ((err = create_shm(rt, &cfg)) != RAY_OK)
        goto fail;
    rt->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    rt->workers = rt_calloc((size_t)rt->nslots, sizeof(sdk_worker));
    if (rt->wake_fd < 0 || !rt->workers || sdk_actors_init(rt) != RAY_OK) {
        err = sdk_fail(RAY_ENOMEM, "ray_init: out of memory");
        goto fail;
    }
    for (int w = 0; w < rt->nslots; w++) {
        rt->workers[w].proc.pidfd = rt->workers[w].proc.out_fd =
            rt->workers[w].proc.err_fd = -1;
    }
    sdk_sched_init(rt);
    if ((err = start_threads(rt)) != RAY_OK)
        goto fail;
    sdk_g = rt;
    return RAY_OK;

fail:
    destroy(rt);
    return err;
}

void
ray_shutdown(void)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        return;
    sdk_actors_shutdown(rt); /* destructors run before the workers exit */
    atomic_store(&rt->stopping, 1);
    atomic_store(&rt->hdr->shutdown, 1);
    uint64_t one = 1;
    (void)!write(rt->wake_fd, &one, sizeof(one));
    atomic_fetch_add(&rt->hdr->drv_seq, 1);
    rt_futex_wake(&rt->hdr->drv_seq, 0x7fffffff);
    pthread_join(rt->reactor, NULL);
    pthread_join(rt->monitor, NULL);
    /* Wake idle workers; they see the shutdown flag and exit. */
    for (int w = 0; w < rt->nslots; w++) {
        rt_ring_hdr *rh = rt->workers[w].sub.hdr;
        if (!rh)
            continue; /* an actor host slot never used */
        atomic_fetch_add(&rh->cons_seq, 1);
        rt_futex_wake(&rh->cons_seq, 1);
    }
    int64_t deadline = rt_clock_now_ns() + 20 * 1000000LL;
    for (int w = 0; w < rt->nslots; w++) {
        sched_proc *p = &rt->workers[w].proc;
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
        /* Forward what is left of its output. */
        if (p->out_fd >= 0)
            sched_proc_forward(&p->out_fd, &p->out_lb, pid, 1);
        if (p->err_fd >= 0)
            sched_proc_forward(&p->err_fd, &p->err_lb, pid, 2);
    }
    sdk_g = NULL;
    destroy(rt);
}

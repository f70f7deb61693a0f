/* SPDX-License-Identifier: Apache-2.0
 *
 * loop.c: rt_loop, a libuv loop on its own thread with a batched MPSC
 * post queue, timers and fd watches.
 *
 * The post queue is a lock-free stack: producers push with a CAS, and the
 * loop thread takes the whole stack with one atomic exchange and reverses
 * it, which restores posting order (per producer, and globally by push
 * time). Taking everything at once has no ABA hazard. Closing the queue
 * swaps in the QUEUE_CLOSED sentinel, after which no push succeeds.
 *
 * Wake-ups are batched by `wake_pending`: the first post after the loop
 * started a drain sends uv_async_send (one eventfd write); later posts in
 * the same window see the flag set and make no system call.
 *
 * A producer might push, then be preempted before uv_async_send while the
 * loop shuts down and frees the async handle. `senders` counts threads
 * between "may touch the async handle" and "done with it"; shutdown closes
 * the queue, then waits (yielding) until it reads zero. The wait is
 * bounded by the few instructions a sender has left.
 *
 * rt_loop_spin keeps an idle handle active for a while: libuv then polls
 * with a zero timeout instead of sleeping, and the handle's callback
 * stops it once the spin's end has passed.
 *
 * Threading: every field not marked atomic is loop thread only, except
 * during create (before the thread starts) and destroy (after join).
 */
#include "runtime/loop.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <uv.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"

/* ---- types ------------------------------------------------------------ */

typedef struct post_node {
    struct post_node *next;
    rt_loop_fn fn;
    void *arg;
} post_node;

#define QUEUE_CLOSED ((post_node *)(uintptr_t)1)

/* Intrusive list link for the timers and watches a loop owns, so that
 * shutdown can close and free them. */
typedef struct owned {
    struct owned *prev, *next;
    uv_handle_t *handle;
    uv_close_cb on_close; /* frees the container */
} owned;

struct rt_loop {
    uv_loop_t uv;              /* loop thread only (after create) */
    uv_async_t wake;           /* uv_async_send from any thread */
    uv_idle_t spin;            /* loop thread only: active while spinning */
    int64_t spin_end_ns;       /* loop thread only */
    pthread_t thread;          /* creator and destroyer only */
    _Atomic(post_node *) head; /* atomic: pushed by any thread */
    atomic_bool wake_pending;  /* atomic: a wake-up is on its way */
    atomic_bool stopping;      /* atomic: rt_loop_stop was called */
    atomic_int senders;        /* atomic: threads inside async_send */
    _Atomic uint64_t wakeups;  /* atomic: drains run (stats) */
    bool closing;              /* loop thread only: shutdown started */
    owned handles;             /* loop thread only: list head */
    char name[16];
};

struct rt_loop_timer {
    uv_timer_t uv;
    owned link;
    rt_loop_timer_cb cb;
    void *arg;
};

struct rt_loop_watch {
    uv_poll_t uv;
    owned link;
    rt_loop *loop;
    rt_loop_watch_cb cb;
    void *arg;
    int fd;
    rt_loop_fn done; /* rt_loop_watch_stop_notify: called once freed */
    void *done_arg;
};

/* The loop whose thread this is (NULL on other threads). */
static _Thread_local rt_loop *current_loop;

/* ---- private helpers -------------------------------------------------- */

static ray_err
uv_to_err(int rc)
{
    if (rc == UV_ENOMEM)
        return RAY_ENOMEM;
    return rt_err_from_errno(-rc);
}

static void
owned_add(rt_loop *loop, owned *o)
{
    o->next = loop->handles.next;
    o->prev = &loop->handles;
    loop->handles.next->prev = o;
    loop->handles.next = o;
}

static void
owned_del(owned *o)
{
    o->prev->next = o->next;
    o->next->prev = o->prev;
    o->prev = o->next = o;
}

static post_node *
reverse(post_node *list)
{
    post_node *out = NULL;
    while (list) {
        post_node *next = list->next;
        list->next = out;
        out = list;
        list = next;
    }
    return out;
}

/* Run the first closure of `list` with `status` and return the rest. The
 * node is freed before the closure runs: once a closure has run (and
 * rt_loop_call has returned) the loop holds nothing allocated for it, so
 * a caller counting live allocations right after sees an exact figure. */
static post_node *
run_one(post_node *list, ray_err status)
{
    post_node *next = list->next;
    rt_loop_fn fn = list->fn;
    void *arg = list->arg;
    rt_free(list);
    fn(arg, status);
    return next;
}

static void
run_list(post_node *list, ray_err status)
{
    while (list)
        list = run_one(list, status);
}

static void
close_foreign(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        RT_WARN("loop: closing a handle (type %s) the owner left open",
                uv_handle_type_name(uv_handle_get_type(h)));
        uv_close(h, NULL);
    }
}

/* Loop thread. Cancels `leftover` (already taken from the queue, in order)
 * and everything still queued, closes the queue and every handle. uv_run
 * returns once the close callbacks have run. */
static void
shutdown_loop(rt_loop *loop, post_node *leftover)
{
    loop->closing = true;
    run_list(leftover, RAY_ECANCELLED);
    post_node *rest = atomic_exchange(&loop->head, QUEUE_CLOSED);
    while (atomic_load(&loop->senders) != 0)
        sched_yield();
    run_list(reverse(rest), RAY_ECANCELLED);
    while (loop->handles.next != &loop->handles) {
        owned *o = loop->handles.next;
        owned_del(o);
        uv_close(o->handle, o->on_close);
    }
    uv_close((uv_handle_t *)&loop->wake, NULL);
    uv_close((uv_handle_t *)&loop->spin, NULL);
    uv_walk(&loop->uv, close_foreign, NULL);
}

static void
on_wake(uv_async_t *h)
{
    rt_loop *loop = h->data;
    if (loop->closing)
        return;
    atomic_fetch_add_explicit(&loop->wakeups, 1, memory_order_relaxed);
    atomic_store(&loop->wake_pending, false);
    post_node *list = reverse(atomic_exchange(&loop->head, NULL));
    while (list && !atomic_load_explicit(&loop->stopping, memory_order_relaxed))
        list = run_one(list, RAY_OK);
    if (atomic_load(&loop->stopping))
        shutdown_loop(loop, list);
}

static void *
loop_thread(void *arg)
{
    rt_loop *loop = arg;
    current_loop = loop;
    if (loop->name[0])
        pthread_setname_np(pthread_self(), loop->name);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop->uv);
    if (rc != 0)
        RT_ERROR("loop %s: uv_loop_close: %s", loop->name, uv_strerror(rc));
    current_loop = NULL;
    return NULL;
}

/* Wakes the loop unless a wake-up is already pending. The caller holds a
 * `senders` count. */
static void
wake(rt_loop *loop)
{
    if (!atomic_exchange(&loop->wake_pending, true))
        uv_async_send(&loop->wake);
}

/* ---- API: lifecycle and posting ---------------------------------------- */

ray_err
rt_loop_create(const char *name, rt_loop **out)
{
    ray_err err = RAY_OK;
    int rc;
    rt_loop *loop = rt_calloc(1, sizeof *loop);
    if (!loop)
        return RAY_ENOMEM;
    if (name)
        snprintf(loop->name, sizeof loop->name, "%s", name);
    loop->handles.next = loop->handles.prev = &loop->handles;
    atomic_init(&loop->head, NULL);
    if ((rc = uv_loop_init(&loop->uv)) != 0) {
        err = uv_to_err(rc);
        goto fail_free;
    }
    if ((rc = uv_async_init(&loop->uv, &loop->wake, on_wake)) != 0) {
        err = uv_to_err(rc);
        goto fail_loop;
    }
    loop->wake.data = loop;
    uv_idle_init(&loop->uv, &loop->spin); /* cannot fail */
    loop->spin.data = loop;

    /* The loop thread takes no asynchronous signals: daemons handle those
     * on their main thread (or through uv_signal, which uses a pipe). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&loop->thread, NULL, loop_thread, loop);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        err = rt_err_from_errno(rc);
        goto fail_async;
    }
    *out = loop;
    return RAY_OK;

fail_async:
    uv_close((uv_handle_t *)&loop->wake, NULL);
    uv_close((uv_handle_t *)&loop->spin, NULL);
    uv_run(&loop->uv, UV_RUN_NOWAIT); /* runs the closes */
fail_loop:
    uv_loop_close(&loop->uv);
fail_free:
    rt_free(loop);
    return err;
}

void
rt_loop_stop(rt_loop *loop)
{
    if (!loop)
        return;
    atomic_fetch_add(&loop->senders, 1);
    if (!atomic_exchange(&loop->stopping, true)) {
        atomic_store(&loop->wake_pending, true);
        uv_async_send(&loop->wake);
    }
    atomic_fetch_sub(&loop->senders, 1);
}

void
rt_loop_destroy(rt_loop *loop)
{
    if (!loop)
        return;
    RT_CHECK(!rt_loop_on_thread(loop));
    rt_loop_stop(loop);
    pthread_join(loop->thread, NULL);
    rt_free(loop);
}

ray_err
rt_loop_post(rt_loop *loop, rt_loop_fn fn, void *arg)
{
    if (!loop || !fn)
        return RAY_EINVAL;
    post_node *n = rt_malloc(sizeof *n);
    if (!n)
        return RAY_ENOMEM;
    n->fn = fn;
    n->arg = arg;
    atomic_fetch_add(&loop->senders, 1);
    post_node *old = atomic_load_explicit(&loop->head, memory_order_relaxed);
    do {
        if (old == QUEUE_CLOSED) {
            atomic_fetch_sub(&loop->senders, 1);
            rt_free(n);
            return RAY_ECLOSED;
        }
        n->next = old;
    } while (!atomic_compare_exchange_weak_explicit(
        &loop->head, &old, n, memory_order_release, memory_order_relaxed));
    wake(loop);
    atomic_fetch_sub(&loop->senders, 1);
    return RAY_OK;
}

typedef struct call_ctx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;      /* guarded by mu */
    ray_err status; /* guarded by mu */
    rt_loop_fn fn;
    void *arg;
} call_ctx;

static void
call_trampoline(void *arg, ray_err status)
{
    call_ctx *c = arg;
    c->fn(c->arg, status);
    pthread_mutex_lock(&c->mu);
    c->done = true;
    c->status = status;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

ray_err
rt_loop_call(rt_loop *loop, rt_loop_fn fn, void *arg)
{
    if (!loop || !fn || rt_loop_on_thread(loop))
        return RAY_EINVAL;
    call_ctx c = {.done = false, .status = RAY_OK, .fn = fn, .arg = arg};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    ray_err err = rt_loop_post(loop, call_trampoline, &c);
    if (err == RAY_OK) {
        pthread_mutex_lock(&c.mu);
        while (!c.done)
            pthread_cond_wait(&c.cv, &c.mu);
        err = c.status;
        pthread_mutex_unlock(&c.mu);
    }
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    return err;
}

uint64_t
rt_loop_wakeups(const rt_loop *loop)
{
    return atomic_load_explicit(&loop->wakeups, memory_order_relaxed);
}

bool
rt_loop_on_thread(const rt_loop *loop)
{
    return loop && current_loop == loop;
}

struct uv_loop_s *
rt_loop_uv(rt_loop *loop)
{
    return &loop->uv;
}

static void
on_spin(uv_idle_t *h)
{
    rt_loop *loop = h->data;
    if (rt_clock_now_ns() >= loop->spin_end_ns)
        uv_idle_stop(h);
}

void
rt_loop_spin(rt_loop *loop, uint64_t ns)
{
    if (!rt_loop_on_thread(loop) || loop->closing)
        return;
    loop->spin_end_ns = rt_clock_now_ns() + (int64_t)ns;
    uv_idle_start(&loop->spin, on_spin); /* no-op when active */
}

/* ---- API: timers -------------------------------------------------------- */

static void
timer_closed(uv_handle_t *h)
{
    rt_free(h->data);
}

static void
on_timer(uv_timer_t *h)
{
    rt_loop_timer *t = h->data;
    t->cb(t, t->arg);
}

ray_err
rt_loop_timer_start(rt_loop *loop, uint64_t delay_ms, uint64_t repeat_ms,
                    rt_loop_timer_cb cb, void *arg, rt_loop_timer **out)
{
    if (!cb || !rt_loop_on_thread(loop))
        return RAY_EINVAL;
    if (loop->closing)
        return RAY_ECLOSED;
    rt_loop_timer *t = rt_calloc(1, sizeof *t);
    if (!t)
        return RAY_ENOMEM;
    /* libuv measures a delay from its cached loop time, which may be as
     * old as the start of this iteration: refresh it so the delay counts
     * from now, not from before the callback that starts the timer. */
    uv_update_time(&loop->uv);
    uv_timer_init(&loop->uv, &t->uv); /* cannot fail on unix */
    t->uv.data = t;
    t->cb = cb;
    t->arg = arg;
    t->link.handle = (uv_handle_t *)&t->uv;
    t->link.on_close = timer_closed;
    owned_add(loop, &t->link);
    uv_timer_start(&t->uv, on_timer, delay_ms, repeat_ms);
    *out = t;
    return RAY_OK;
}

void
rt_loop_timer_stop(rt_loop_timer *t)
{
    if (!t)
        return;
    owned_del(&t->link);
    uv_close((uv_handle_t *)&t->uv, timer_closed);
}

/* ---- API: fd watches ---------------------------------------------------- */

static int
to_uv_events(int events)
{
    return ((events & RT_LOOP_READABLE) ? UV_READABLE : 0) |
           ((events & RT_LOOP_WRITABLE) ? UV_WRITABLE : 0);
}

static void
watch_closed(uv_handle_t *h)
{
    rt_loop_watch *w = h->data;
    rt_loop_fn done = w->done;
    void *arg = w->done_arg;
    rt_free(w);
    if (done)
        done(arg, RAY_OK);
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
    rt_loop_watch *w = h->data;
    int ev = ((events & UV_READABLE) ? RT_LOOP_READABLE : 0) |
             ((events & UV_WRITABLE) ? RT_LOOP_WRITABLE : 0);
    w->cb(w, w->fd, ev, status < 0 ? uv_to_err(status) : RAY_OK, w->arg);
}

ray_err
rt_loop_watch_start(rt_loop *loop, int fd, int events, rt_loop_watch_cb cb,
                    void *arg, rt_loop_watch **out)
{
    if (!cb || fd < 0 || (events & ~(RT_LOOP_READABLE | RT_LOOP_WRITABLE)) ||
        !rt_loop_on_thread(loop))
        return RAY_EINVAL;
    if (loop->closing)
        return RAY_ECLOSED;
    rt_loop_watch *w = rt_calloc(1, sizeof *w);
    if (!w)
        return RAY_ENOMEM;
    int rc = uv_poll_init(&loop->uv, &w->uv, fd);
    if (rc != 0) {
        /* uv_poll_init failed before registering the handle: plain free. */
        rt_free(w);
        return uv_to_err(rc);
    }
    w->uv.data = w;
    w->loop = loop;
    w->cb = cb;
    w->arg = arg;
    w->fd = fd;
    w->link.handle = (uv_handle_t *)&w->uv;
    w->link.on_close = watch_closed;
    owned_add(loop, &w->link);
    if (events && (rc = uv_poll_start(&w->uv, to_uv_events(events), on_poll))) {
        rt_loop_watch_stop(w);
        return uv_to_err(rc);
    }
    *out = w;
    return RAY_OK;
}

ray_err
rt_loop_watch_update(rt_loop_watch *w, int events)
{
    if (!w || (events & ~(RT_LOOP_READABLE | RT_LOOP_WRITABLE)) ||
        !rt_loop_on_thread(w->loop))
        return RAY_EINVAL;
    int rc = events ? uv_poll_start(&w->uv, to_uv_events(events), on_poll)
                    : uv_poll_stop(&w->uv);
    return rc ? uv_to_err(rc) : RAY_OK;
}

void
rt_loop_watch_stop(rt_loop_watch *w)
{
    if (!w)
        return;
    owned_del(&w->link);
    uv_close((uv_handle_t *)&w->uv, watch_closed);
}

void
rt_loop_watch_stop_notify(rt_loop_watch *w, rt_loop_fn done, void *arg)
{
    if (!w) {
        done(arg, RAY_OK);
        return;
    }
    w->done = done;
    w->done_arg = arg;
    rt_loop_watch_stop(w);
}

/* SPDX-License-Identifier: Apache-2.0
 * Tests for runtime/loop.c: cross-thread posts, timers, fd watches, stop
 * and destroy. The last test prints posts/s and post->callback latency
 * (figures only, never asserted). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/loop.h"

TestSuite(loop, .timeout = 20);

/* Waits up to `ms` for `s`; false on timeout. */
static bool
sem_wait_ms(sem_t *s, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait(s, &ts) != 0) {
        if (errno != EINTR)
            return false;
    }
    return true;
}

static rt_loop *
make_loop(const char *name)
{
    rt_loop *loop = NULL;
    cr_assert_eq(rt_loop_create(name, &loop), RAY_OK);
    cr_assert_not_null(loop);
    return loop;
}

static void
noop(void *arg, ray_err status)
{
    (void)arg;
    (void)status;
}

/* ---- ordered delivery from several producers -------------------------- */

#define PRODUCERS 4
#define PER_PRODUCER 20000

static struct {
    rt_loop *loop;
    uint32_t next_seq[PRODUCERS]; /* loop thread only */
    long delivered[PRODUCERS];    /* loop thread only */
    long out_of_order;            /* loop thread only */
    long wrong_thread;            /* loop thread only */
    long not_ok;                  /* loop thread only */
} order;

static void
ordered_cb(void *arg, ray_err status)
{
    uintptr_t v = (uintptr_t)arg;
    unsigned t = (unsigned)(v >> 24);
    uint32_t seq = (uint32_t)(v & 0xffffff);
    if (status != RAY_OK)
        order.not_ok++;
    if (!rt_loop_on_thread(order.loop))
        order.wrong_thread++;
    if (seq != order.next_seq[t])
        order.out_of_order++;
    order.next_seq[t] = seq + 1;
    order.delivered[t]++;
}

static void *
producer(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    for (uintptr_t i = 0; i < PER_PRODUCER; i++) {
        ray_err e;
        while ((e = rt_loop_post(order.loop, ordered_cb,
                                 (void *)(t << 24 | i))) == RAY_ENOMEM)
            ;
        if (e != RAY_OK)
            return (void *)1;
    }
    return NULL;
}

Test(loop, posts_from_four_threads_arrive_once_in_order)
{
    order.loop = make_loop("test-order");
    pthread_t th[PRODUCERS];
    for (uintptr_t t = 0; t < PRODUCERS; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, producer, (void *)t), 0);
    for (int t = 0; t < PRODUCERS; t++) {
        void *rv;
        pthread_join(th[t], &rv);
        cr_assert_null(rv, "producer %d failed to post", t);
    }
    /* A call posted after every producer finished runs after their posts. */
    cr_assert_eq(rt_loop_call(order.loop, noop, NULL), RAY_OK);
    for (int t = 0; t < PRODUCERS; t++)
        cr_assert_eq(order.delivered[t], PER_PRODUCER, "producer %d", t);
    cr_assert_eq(order.out_of_order, 0);
    cr_assert_eq(order.wrong_thread, 0);
    cr_assert_eq(order.not_ok, 0);
    cr_assert(!rt_loop_on_thread(order.loop));
    rt_loop_destroy(order.loop);
}

/* ---- batching ----------------------------------------------------------- */

static sem_t gate, gate_entered;

static void
block_cb(void *arg, ray_err status)
{
    (void)arg;
    (void)status;
    sem_post(&gate_entered);
    sem_wait_ms(&gate, 5000);
}

static void
count_cb(void *arg, ray_err status)
{
    atomic_int *n = arg;
    if (status == RAY_OK)
        atomic_fetch_add(n, 1);
}

Test(loop, a_burst_of_posts_costs_one_wakeup)
{
    sem_init(&gate, 0, 0);
    sem_init(&gate_entered, 0, 0);
    rt_loop *loop = make_loop("test-batch");
    static atomic_int ran;
    cr_assert_eq(rt_loop_post(loop, block_cb, NULL), RAY_OK);
    cr_assert(sem_wait_ms(&gate_entered, 5000));
    uint64_t before = rt_loop_wakeups(loop);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(rt_loop_post(loop, count_cb, &ran), RAY_OK);
    sem_post(&gate);
    cr_assert_eq(rt_loop_call(loop, noop, NULL), RAY_OK);
    cr_assert_eq(atomic_load(&ran), 1000);
    uint64_t used = rt_loop_wakeups(loop) - before;
    cr_assert_leq(used, 2, "1000 posts took %llu wake-ups",
                  (unsigned long long)used);
    rt_loop_destroy(loop);
}

/* ---- timers ------------------------------------------------------------- */

typedef struct timer_state {
    rt_loop *loop;
    sem_t done;
    int fired;
    int64_t start_ns, last_ns;
    rt_loop_timer *timer;
} timer_state;

static void
timer_cb(rt_loop_timer *t, void *arg)
{
    timer_state *s = arg;
    s->last_ns = rt_clock_now_ns();
    if (++s->fired == 3) {
        rt_loop_timer_stop(t);
        sem_post(&s->done);
    }
}

static void
start_timer(void *arg, ray_err status)
{
    timer_state *s = arg;
    if (status != RAY_OK)
        return;
    s->start_ns = rt_clock_now_ns();
    cr_assert_eq(rt_loop_timer_start(s->loop, 20, 5, timer_cb, s, &s->timer),
                 RAY_OK);
}

Test(loop, repeating_timer_fires_and_stops_itself)
{
    timer_state s = {.loop = make_loop("test-timer")};
    sem_init(&s.done, 0, 0);
    cr_assert_eq(rt_loop_call(s.loop, start_timer, &s), RAY_OK);
    cr_assert(sem_wait_ms(&s.done, 5000), "timer never fired 3 times");
    /* Nothing more fires after the stop: a call round trip sees 3. */
    cr_assert_eq(rt_loop_call(s.loop, noop, NULL), RAY_OK);
    cr_assert_eq(s.fired, 3);
    /* 20 ms first delay + 2 * 5 ms repeats, counted from the start call
     * (libuv rounds to whole ms, so allow 1 ms). */
    cr_assert_geq(s.last_ns - s.start_ns, 29 * 1000000LL);
    /* Timers may only be started on the loop thread. */
    rt_loop_timer *t = NULL;
    cr_assert_eq(rt_loop_timer_start(s.loop, 1, 0, timer_cb, &s, &t),
                 RAY_EINVAL);
    cr_assert_null(t);
    rt_loop_destroy(s.loop);
}

/* ---- fd watches --------------------------------------------------------- */

typedef struct watch_state {
    rt_loop *loop;
    int fd;
    int events;
    sem_t done;
    int calls;
    char got;
    ray_err err;
} watch_state;

static void
read_cb(rt_loop_watch *w, int fd, int events, ray_err status, void *arg)
{
    watch_state *s = arg;
    s->calls++;
    s->err = status;
    if (status == RAY_OK && (events & RT_LOOP_READABLE) &&
        read(fd, &s->got, 1) != 1)
        s->err = RAY_EINTERNAL;
    rt_loop_watch_stop(w);
    sem_post(&s->done);
}

static void
start_watch(void *arg, ray_err status)
{
    watch_state *s = arg;
    rt_loop_watch *w = NULL;
    if (status == RAY_OK)
        s->err = rt_loop_watch_start(s->loop, s->fd, s->events, read_cb, s, &w);
}

Test(loop, fd_watch_fires_when_a_pipe_is_written)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_NONBLOCK), 0);
    watch_state s = {.loop = make_loop("test-watch"),
                     .fd = fds[0],
                     .events = RT_LOOP_READABLE};
    sem_init(&s.done, 0, 0);
    cr_assert_eq(rt_loop_call(s.loop, start_watch, &s), RAY_OK);
    cr_assert_eq(s.err, RAY_OK);
    /* Nothing is readable yet: a loop round trip must not have fired it. */
    cr_assert_eq(rt_loop_call(s.loop, noop, NULL), RAY_OK);
    cr_assert_eq(s.calls, 0);
    cr_assert_eq(write(fds[1], "x", 1), 1);
    cr_assert(sem_wait_ms(&s.done, 5000), "watch never fired");
    cr_assert_eq(rt_loop_call(s.loop, noop, NULL), RAY_OK);
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.err, RAY_OK);
    cr_assert_eq(s.got, 'x');

    /* The write end of an empty pipe is writable at once. */
    watch_state ws = {.loop = s.loop, .fd = fds[1], .events = RT_LOOP_WRITABLE};
    sem_init(&ws.done, 0, 0);
    cr_assert_eq(rt_loop_call(s.loop, start_watch, &ws), RAY_OK);
    cr_assert(sem_wait_ms(&ws.done, 5000));
    cr_assert_eq(ws.err, RAY_OK);

    /* A regular file cannot be polled: the error comes back, no callback. */
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    watch_state bad = {
        .loop = s.loop, .fd = fileno(f), .events = RT_LOOP_READABLE};
    cr_assert_eq(rt_loop_call(s.loop, start_watch, &bad), RAY_OK);
    cr_assert_neq(bad.err, RAY_OK);
    cr_assert_eq(bad.calls, 0);
    fclose(f);
    bad.events = 8;
    bad.fd = fds[0];
    cr_assert_eq(rt_loop_call(s.loop, start_watch, &bad), RAY_OK);
    cr_assert_eq(bad.err, RAY_EINVAL);

    rt_loop_destroy(s.loop);
    close(fds[0]);
    close(fds[1]);
}

/* ---- stop and destroy --------------------------------------------------- */

static void *
stopper(void *arg)
{
    rt_loop_stop(arg);
    return NULL;
}

static void
record_status(void *arg, ray_err status)
{
    *(ray_err *)arg = status;
}

/* rt_loop_watch_stop_notify calls back once the watch is freed. */
typedef struct notify_state {
    rt_loop *loop;
    int fd;
    long live_before; /* rt_alloc_live() before the watch */
    long live_at_done;
    int calls;
    ray_err status;
    sem_t done; /* posted by notify_done */
} notify_state;

static void
nothing_cb(rt_loop_watch *w, int fd, int events, ray_err status, void *arg)
{
    (void)w;
    (void)fd;
    (void)events;
    (void)status;
    (void)arg;
}

static void
notify_done(void *arg, ray_err status)
{
    notify_state *n = arg;
    n->live_at_done = rt_alloc_live();
    n->status = status;
    n->calls++;
    sem_post(&n->done);
}

static void
watch_then_stop_notify(void *arg, ray_err status)
{
    notify_state *n = arg;
    rt_loop_watch *w = NULL;
    n->live_before = rt_alloc_live();
    if (status != RAY_OK ||
        rt_loop_watch_start(n->loop, n->fd, RT_LOOP_READABLE, nothing_cb, n,
                            &w) != RAY_OK)
        return;
    rt_loop_watch_stop_notify(w, notify_done, n);
    /* `done` must not have run yet (it runs once the watch is freed). */
    n->status = n->calls ? RAY_EINTERNAL : RAY_OK;
}

Test(loop, watch_stop_notify_calls_back_once_freed)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_NONBLOCK), 0);
    notify_state n = {.loop = make_loop("test-notify"), .fd = fds[0]};
    cr_assert_eq(sem_init(&n.done, 0, 0), 0);
    cr_assert_eq(rt_loop_call(n.loop, watch_then_stop_notify, &n), RAY_OK);
    /* Wait for the callback without allocating meanwhile (a post would
     * count in rt_alloc_live while the loop frees the watch). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    cr_assert_eq(sem_timedwait(&n.done, &until), 0, "no callback in 30 s");
    cr_assert_eq(n.calls, 1);
    cr_assert_eq(n.status, RAY_OK);
    cr_assert_eq(n.live_at_done, n.live_before, "the watch was not freed yet");
    /* NULL: at once, on this thread. */
    rt_loop_watch_stop_notify(NULL, notify_done, &n);
    cr_assert_eq(n.calls, 2);
    sem_destroy(&n.done);
    rt_loop_destroy(n.loop);
    close(fds[0]);
    close(fds[1]);
}

Test(loop, stop_from_another_thread_then_posts_fail)
{
    rt_loop *loop = make_loop("test-stop");
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, stopper, loop), 0);
    pthread_join(th, NULL);
    rt_loop_stop(loop); /* idempotent */
    /* Stop was called first, so nothing runs with RAY_OK any more: the
     * call is either refused (queue closed) or cancelled. */
    ray_err seen = (ray_err)-1;
    ray_err r = rt_loop_call(loop, record_status, &seen);
    cr_assert(r == RAY_ECLOSED || r == RAY_ECANCELLED, "got %d", r);
    if (r == RAY_ECLOSED)
        cr_assert_eq(seen, (ray_err)-1, "refused post still called back");
    else
        cr_assert_eq(seen, RAY_ECANCELLED);
    rt_loop_destroy(loop);
}

static void
stop_self(void *arg, ray_err status)
{
    rt_loop *loop = arg;
    if (status == RAY_OK)
        rt_loop_stop(loop);
}

Test(loop, stop_from_a_callback_cancels_the_rest_of_the_batch)
{
    sem_init(&gate, 0, 0);
    sem_init(&gate_entered, 0, 0);
    rt_loop *loop = make_loop("test-selfstop");
    static atomic_int ran;
    cr_assert_eq(rt_loop_post(loop, block_cb, NULL), RAY_OK);
    cr_assert(sem_wait_ms(&gate_entered, 5000));
    cr_assert_eq(rt_loop_post(loop, stop_self, loop), RAY_OK);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(rt_loop_post(loop, count_cb, &ran), RAY_OK);
    sem_post(&gate);
    rt_loop_destroy(loop);
    cr_assert_eq(atomic_load(&ran), 0, "posts after the stop ran");
}

static atomic_int cancelled, ran_ok;

static void
owned_arg_cb(void *arg, ray_err status)
{
    atomic_fetch_add(status == RAY_ECANCELLED ? &cancelled : &ran_ok, 1);
    rt_free(arg);
}

static void
never_timer(rt_loop_timer *t, void *arg)
{
    (void)t;
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void
never_watch(rt_loop_watch *w, int fd, int events, ray_err status, void *arg)
{
    (void)w;
    (void)fd;
    (void)events;
    (void)status;
    atomic_fetch_add((atomic_int *)arg, 1);
}

static int idle_pipe[2];
static atomic_int handle_calls;

static void
open_handles(void *arg, ray_err status)
{
    rt_loop *loop = arg;
    rt_loop_timer *t;
    rt_loop_watch *w;
    cr_assert_eq(status, RAY_OK);
    cr_assert_eq(
        rt_loop_timer_start(loop, 60000, 0, never_timer, &handle_calls, &t),
        RAY_OK);
    cr_assert_eq(rt_loop_watch_start(loop, idle_pipe[0], RT_LOOP_READABLE,
                                     never_watch, &handle_calls, &w),
                 RAY_OK);
}

Test(loop, destroy_cancels_pending_posts_and_frees_handles)
{
    sem_init(&gate, 0, 0);
    sem_init(&gate_entered, 0, 0);
    cr_assert_eq(pipe2(idle_pipe, O_NONBLOCK), 0);
    rt_loop *loop = make_loop("test-destroy");
    cr_assert_eq(rt_loop_call(loop, open_handles, loop), RAY_OK);
    cr_assert_eq(rt_loop_post(loop, block_cb, NULL), RAY_OK);
    cr_assert(sem_wait_ms(&gate_entered, 5000));
    enum { N = 1000 };
    for (int i = 0; i < N; i++) {
        void *owned_arg = rt_malloc(64);
        cr_assert_not_null(owned_arg);
        cr_assert_eq(rt_loop_post(loop, owned_arg_cb, owned_arg), RAY_OK);
    }
    rt_loop_stop(loop);
    sem_post(&gate);
    rt_loop_destroy(loop); /* ASan's leak check proves the frees */
    cr_assert_eq(atomic_load(&cancelled), N);
    cr_assert_eq(atomic_load(&ran_ok), 0);
    cr_assert_eq(atomic_load(&handle_calls), 0);
    close(idle_pipe[0]);
    close(idle_pipe[1]);
}

Test(loop, create_and_destroy_at_once_and_null)
{
    for (int i = 0; i < 20; i++)
        rt_loop_destroy(make_loop(NULL));
    rt_loop_destroy(NULL);
    rt_loop_stop(NULL);
    cr_assert_eq(rt_loop_post(NULL, noop, NULL), RAY_EINVAL);
}

/* ---- spinning ----------------------------------------------------------- */

typedef struct spin_state {
    rt_loop *loop;
    clockid_t cpu; /* the loop thread's CPU clock */
} spin_state;

static void
start_spin(void *arg, ray_err status)
{
    spin_state *s = arg;
    cr_assert_eq(pthread_getcpuclockid(pthread_self(), &s->cpu), 0);
    if (status == RAY_OK)
        rt_loop_spin(s->loop, 300 * 1000000ull);
}

static int64_t
cpu_ns(clockid_t cpu)
{
    struct timespec ts;
    cr_assert_eq(clock_gettime(cpu, &ts), 0);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The loop thread's CPU time is the witness: a spinning loop burns it, a
 * sleeping one does not (bounds loose enough for a loaded machine: the
 * spin lasts 300 ms of wall time, so a thread that a busy machine runs
 * only now and then still burns the 1 ms looked for). */
Test(loop, spin_polls_a_while_then_sleeps)
{
    spin_state s = {.loop = make_loop("test-spin")};
    rt_loop_spin(s.loop, 1000000000ull); /* not the loop thread: no-op */
    cr_assert_eq(rt_loop_call(s.loop, start_spin, &s), RAY_OK);
    int64_t t0 = cpu_ns(s.cpu);
    int64_t deadline = rt_deadline_after_ms(2000);
    while (cpu_ns(s.cpu) - t0 < 1000000 && rt_clock_now_ns() < deadline)
        nap_ms(1);
    cr_assert_geq(cpu_ns(s.cpu) - t0, 1000000, "the loop did not spin");
    nap_ms(400); /* the 300 ms spin is over */
    int64_t t1 = cpu_ns(s.cpu);
    nap_ms(100);
    cr_assert_lt(cpu_ns(s.cpu) - t1, 5000000, "the loop spins on");
    rt_loop_destroy(s.loop);
}

/* ---- figures ------------------------------------------------------------ */

static sem_t lat_done;
static int64_t lat_posted_ns, lat_ns;

static void
latency_cb(void *arg, ray_err status)
{
    (void)arg;
    (void)status;
    lat_ns = rt_clock_now_ns() - lat_posted_ns;
    sem_post(&lat_done);
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

Test(loop, bench_throughput_and_wakeup_latency)
{
    rt_loop *loop = make_loop("bench-loop");
    static atomic_int ran;
    enum { POSTS = 200000, ROUNDS = 2000 };
    uint64_t w0 = rt_loop_wakeups(loop);
    int64_t t0 = rt_clock_now_ns();
    for (int i = 0; i < POSTS; i++)
        cr_assert_eq(rt_loop_post(loop, count_cb, &ran), RAY_OK);
    cr_assert_eq(rt_loop_call(loop, noop, NULL), RAY_OK);
    int64_t t1 = rt_clock_now_ns();
    cr_assert_eq(atomic_load(&ran), POSTS);
    uint64_t wakes = rt_loop_wakeups(loop) - w0;

    sem_init(&lat_done, 0, 0);
    int64_t *lat = calloc(ROUNDS, sizeof *lat);
    cr_assert_not_null(lat);
    for (int i = 0; i < ROUNDS; i++) {
        lat_posted_ns = rt_clock_now_ns();
        cr_assert_eq(rt_loop_post(loop, latency_cb, NULL), RAY_OK);
        cr_assert(sem_wait_ms(&lat_done, 5000));
        lat[i] = lat_ns;
    }
    qsort(lat, ROUNDS, sizeof *lat, cmp_i64);
    printf(
        "loop: %.2f M posts/s from another thread (%d posts, %llu wake-ups); "
        "post->callback latency median %.1f us, p99 %.1f us\n",
        POSTS / ((double)(t1 - t0) / 1e9) / 1e6, POSTS,
        (unsigned long long)wakes, lat[ROUNDS / 2] / 1e3,
        lat[ROUNDS * 99 / 100] / 1e3);
    fflush(stdout);
    free(lat);
    rt_loop_destroy(loop);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * loop.h: an event loop on its own thread, for the daemons (raylet, GCS,
 * object store server).
 *
 * A thin layer over libuv. Each rt_loop owns one thread that runs a
 * uv_loop and owns all state touched by its callbacks ("loop thread
 * only"). Other threads hand it work with rt_loop_post, which pushes a
 * closure onto a lock-free multi-producer queue and wakes the loop at
 * most once per batch: a post that finds a wake-up already pending makes
 * no system call, so a burst of posts costs one eventfd write and one
 * epoll return. Closures from one thread run in the order posted.
 *
 * Shutdown: rt_loop_stop (any thread) makes the loop cancel everything
 * still queued (each closure is called once with RAY_ECANCELLED, on the
 * loop thread, so it can free its argument), close every timer and fd
 * watch, and end its thread. rt_loop_destroy joins the thread and frees
 * the loop. After stop, posts fail with RAY_ECLOSED and their callbacks
 * are never called (an error means no callback, as in libuv).
 *
 * Timers and fd watches are created and stopped on the loop thread only
 * (from inside a callback, or through rt_loop_call from another thread).
 */
#ifndef RAY_RUNTIME_LOOP_H
#define RAY_RUNTIME_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/status.h"

typedef struct rt_loop rt_loop;
typedef struct rt_loop_timer rt_loop_timer;
typedef struct rt_loop_watch rt_loop_watch;
struct uv_loop_s;

/* A posted closure. `arg` is what was posted. `status` is RAY_OK when the
 * loop runs it normally, or RAY_ECANCELLED when the loop stopped first;
 * either way it is called exactly once, on the loop thread. */
typedef void (*rt_loop_fn)(void *arg, ray_err status);

/* A timer callback: `t` is the timer, `arg` what was passed at start.
 * Runs on the loop thread. It may call rt_loop_timer_stop(t). */
typedef void (*rt_loop_timer_cb)(rt_loop_timer *t, void *arg);

#define RT_LOOP_READABLE 1
#define RT_LOOP_WRITABLE 2

/* An fd watch callback: `events` holds the RT_LOOP_* bits that are ready.
 * `status` is RAY_OK, or an error from the poller (e.g. RAY_ESYSERR|EBADF),
 * after which the watch delivers nothing more and should be stopped.
 * Runs on the loop thread. It may call rt_loop_watch_stop(w). */
typedef void (*rt_loop_watch_cb)(rt_loop_watch *w, int fd, int events,
                                 ray_err status, void *arg);

/* Create a loop and start its thread. `name` (a short literal, shown by
 * ps/top as the thread name, at most 15 bytes used) may be NULL.
 * RAY_OK and *out set, RAY_ENOMEM, or RAY_ESYSERR|errno if libuv or
 * pthread_create failed; on failure nothing is left behind. */
ray_err rt_loop_create(const char *name, rt_loop **out);

/* Ask the loop to stop. Any thread, including the loop thread (from a
 * callback; the current callback finishes first). Does not block. Queued
 * closures are cancelled as described above; timers and watches are
 * closed and freed without being called. Idempotent. */
void rt_loop_stop(rt_loop *loop);

/* Stop the loop (if not already stopped), wait for its thread to finish
 * cancelling and closing, and free everything. Never call it on the loop
 * thread. NULL is fine. After it returns, `loop` and every timer and
 * watch that belonged to it are gone. */
void rt_loop_destroy(rt_loop *loop);

/* Queue `fn(arg, RAY_OK)` to run on the loop thread. Any thread; never
 * blocks; allocates one small node. Returns RAY_OK (then `fn` is called
 * exactly once, with RAY_OK or RAY_ECANCELLED), RAY_ECLOSED if the loop
 * is stopping or stopped, or RAY_ENOMEM; on error `fn` is never called
 * and the caller still owns `arg`. */
ray_err rt_loop_post(rt_loop *loop, rt_loop_fn fn, void *arg);

/* Run `fn(arg, status)` on the loop thread and wait until it has run.
 * For setup from another thread (starting timers and watches). Returns
 * RAY_OK if it ran with RAY_OK, RAY_ECANCELLED if the loop stopped before
 * running it (`fn` was called with RAY_ECANCELLED), or an error from
 * rt_loop_post (`fn` not called). Never call it on the loop thread:
 * RAY_EINVAL, `fn` not called. */
ray_err rt_loop_call(rt_loop *loop, rt_loop_fn fn, void *arg);

/* How many times the loop thread has woken to drain posts (atomic read,
 * any thread). A batch of posts made while the loop is busy costs one
 * wake-up; this counter lets tests and benchmarks see that. */
uint64_t rt_loop_wakeups(const rt_loop *loop);

/* True if the calling thread is `loop`'s thread. */
bool rt_loop_on_thread(const rt_loop *loop);

/* The underlying uv_loop, for libuv handles (uv_tcp, uv_pipe) the daemon
 * opens itself. Use it on the loop thread only. rt_loop_stop closes every
 * handle still open on it, so give each handle's close callback no work
 * beyond freeing. */
struct uv_loop_s *rt_loop_uv(rt_loop *loop);

/* Keep the loop polling without sleeping until `ns` nanoseconds from now
 * (a later call moves that end), then let it sleep as usual. For a
 * daemon whose clients send their next request within microseconds of a
 * reply: waking a sleeping thread costs 15-25 us, the spin costs a core
 * while it lasts. Loop thread only (a no-op on any
 * other thread); never allocates. */
void rt_loop_spin(rt_loop *loop, uint64_t ns);

/* Start a timer: `cb` first runs after `delay_ms`, then every `repeat_ms`
 * (0 = once). Loop thread only. RAY_OK and *out, RAY_ENOMEM, or
 * RAY_EINVAL if called on another thread. A one-shot timer stays
 * allocated after it fires until rt_loop_timer_stop or the loop ends. */
ray_err rt_loop_timer_start(rt_loop *loop, uint64_t delay_ms,
                            uint64_t repeat_ms, rt_loop_timer_cb cb, void *arg,
                            rt_loop_timer **out);

/* Cancel the timer and free it (the free happens after the current
 * callback returns). Loop thread only; NULL is fine. */
void rt_loop_timer_stop(rt_loop_timer *t);

/* Watch `fd` (non-blocking, owned by the caller, kept open while watched)
 * for the RT_LOOP_* `events`. Level-triggered: `cb` runs on each loop
 * iteration while the condition holds. Loop thread only. RAY_OK and *out,
 * RAY_EINVAL (bad events, wrong thread), RAY_ENOMEM, or RAY_ESYSERR|errno
 * from the poller (e.g. an fd epoll refuses, such as a regular file). */
ray_err rt_loop_watch_start(rt_loop *loop, int fd, int events,
                            rt_loop_watch_cb cb, void *arg,
                            rt_loop_watch **out);

/* Change which events a watch waits for (0 pauses it). Loop thread only.
 * RAY_OK, RAY_EINVAL, or RAY_ESYSERR|errno. */
ray_err rt_loop_watch_update(rt_loop_watch *w, int events);

/* Stop watching and free the watch; the fd stays open. Loop thread only;
 * NULL is fine. Safe from inside the watch's own callback. */
void rt_loop_watch_stop(rt_loop_watch *w);

/* rt_loop_watch_stop, then `done(arg, RAY_OK)` once the watch's memory is
 * freed: on the loop thread, later in the current loop iteration (libuv
 * closes handles at its end), also when the loop is stopping. For an
 * owner whose teardown must come after that free (one that others judge
 * by counting live allocations). Loop thread only; `w` NULL calls `done`
 * at once, on the calling thread. `done` runs exactly once. */
void rt_loop_watch_stop_notify(rt_loop_watch *w, rt_loop_fn done, void *arg);

#endif /* RAY_RUNTIME_LOOP_H */

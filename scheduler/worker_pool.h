/* SPDX-License-Identifier: Apache-2.0
 *
 * worker_pool.h: starting, watching and stopping worker processes.
 *
 * A worker is this very executable (/proc/self/exe) started with
 * posix_spawn and one extra environment variable; libray's worker-entry
 * constructor recognises it before main() runs. The pool hands each worker
 * one inherited file descriptor (the shared-memory memfd), pipes for its
 * stdout and stderr (forwarded line by line with a "(pid=N) " prefix, as
 * Ray does) and watches it through a pidfd, so death is a poll event.
 *
 * The same code serves the cluster raylet: nothing here knows about tasks.
 * Not thread-safe per process handle: one owner thread at a time.
 */
#ifndef RAY_SCHEDULER_WORKER_POOL_H
#define RAY_SCHEDULER_WORKER_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "runtime/status.h"

/* A line assembler for one output pipe. */
typedef struct sched_linebuf {
    char buf[4096];
    size_t len;
} sched_linebuf;

typedef struct sched_proc {
    pid_t pid;  /* 0 when not running */
    int pidfd;  /* readable when the process exits; -1 if none */
    int out_fd; /* read end of its stdout pipe, -1 once closed */
    int err_fd; /* read end of its stderr pipe, -1 once closed */
    sched_linebuf out_lb;
    sched_linebuf err_lb;
} sched_proc;

/* Start /proc/self/exe with the current environment plus `env_kv`
 * ("NAME=value"), keeping `keep_fd` open (same number) in the child.
 * Returns RAY_OK or a RAY_ESYSERR value. On failure *p is reset. */
ray_err sched_proc_spawn(const char *env_kv, int keep_fd, sched_proc *p);

/* Collect the exit status if the process has exited (`block`: wait for
 * it). Returns RAY_OK with *status (as from waitpid) when reaped,
 * RAY_EAGAIN when still running. Closes the pidfd once reaped. */
ray_err sched_proc_reap(sched_proc *p, bool block, int *status);

/* SIGKILL the process if it runs (does not reap). */
void sched_proc_kill(sched_proc *p);

/* Read what is available on `*fd` (non-blocking) and write each complete
 * line to `dst_fd` prefixed with "(pid=N) ". On EOF flushes a partial line
 * and returns false; the caller closes *fd (a poller may still watch it:
 * stop that first). */
bool sched_proc_forward(int *fd, sched_linebuf *lb, pid_t pid, int dst_fd);

/* Describe a waitpid status: "exited with status 0", "killed by signal 9
 * (Killed)". Writes at most `n` bytes. */
void sched_proc_describe(int status, char *buf, size_t n);

#endif /* RAY_SCHEDULER_WORKER_POOL_H */

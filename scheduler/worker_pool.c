/* SPDX-License-Identifier: Apache-2.0
 *
 * worker_pool.c: posix_spawn of worker processes, pidfds, output pipes.
 *
 * posix_spawn (vfork-based in glibc) costs ~2 ms even for a large driver,
 * where fork would copy its page tables. The child's stdout/stderr are
 * pipes whose read ends are non-blocking and close-on-exec in the parent.
 */
#include "scheduler/worker_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/alloc.h"

extern char **environ;

static void
reset(sched_proc *p)
{
    memset(p, 0, sizeof(*p));
    p->pidfd = p->out_fd = p->err_fd = -1;
}

ray_err
sched_proc_spawn(const char *env_kv, int keep_fd, sched_proc *p)
{
    ray_err err = RAY_OK;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    char **envp = NULL;
    posix_spawn_file_actions_t fa;
    bool fa_init = false;
    reset(p);

    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        err = rt_err_from_errno(errno);
        goto fail;
    }
    size_t n = 0;
    while (environ && environ[n])
        n++;
    envp = rt_calloc(n + 2, sizeof(char *));
    if (!envp) {
        err = RAY_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        envp[i] = environ[i];
    envp[n] = (char *)env_kv;

    if (posix_spawn_file_actions_init(&fa) != 0) {
        err = RAY_ENOMEM;
        goto fail;
    }
    fa_init = true;
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    /* dup2 onto itself clears FD_CLOEXEC in the child (glibc >= 2.29). */
    if (keep_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, keep_fd, keep_fd);

    /* The worker starts with no signal blocked and default handlers,
     * whatever the spawning thread has (an event-loop thread blocks
     * signals): a task's SIGSEGV must end its worker. */
    posix_spawnattr_t at;
    if (posix_spawnattr_init(&at) != 0) {
        err = RAY_ENOMEM;
        goto fail;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {(char *)"rayc-worker", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        err = rt_err_from_errno(rc);
        goto fail;
    }
    p->pid = pid;
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    p->out_fd = outp[0];
    p->err_fd = errp[0];
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
    close(outp[1]);
    close(errp[1]);
    posix_spawn_file_actions_destroy(&fa);
    rt_free(envp);
    return RAY_OK;

fail:
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    rt_free(envp);
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    reset(p);
    return err;
}

ray_err
sched_proc_reap(sched_proc *p, bool block, int *status)
{
    if (p->pid <= 0)
        return RAY_EINVAL;
    int st = 0;
    pid_t r;
    do {
        r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return RAY_EAGAIN;
    if (r < 0)
        st = 0; /* already reaped elsewhere: report a plain exit */
    if (status)
        *status = st;
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    p->pid = 0;
    return RAY_OK;
}

void
sched_proc_kill(sched_proc *p)
{
    if (p->pid > 0)
        kill(p->pid, SIGKILL);
}

static void
emit(int dst_fd, pid_t pid, const char *line, size_t len)
{
    char buf[4096 + 64];
    int h = snprintf(buf, 64, "(pid=%d) ", (int)pid);
    if (len > sizeof(buf) - (size_t)h - 1)
        len = sizeof(buf) - (size_t)h - 1;
    memcpy(buf + h, line, len);
    buf[h + len] = '\n';
    size_t total = (size_t)h + len + 1, off = 0;
    while (off < total) {
        ssize_t w = write(dst_fd, buf + off, total - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

bool
sched_proc_forward(int *fd, sched_linebuf *lb, pid_t pid, int dst_fd)
{
    for (;;) {
        ssize_t r = read(*fd, lb->buf + lb->len, sizeof(lb->buf) - lb->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return true;
        if (r <= 0) {
            if (lb->len)
                emit(dst_fd, pid, lb->buf, lb->len);
            lb->len = 0;
            return false; /* the caller closes it (after unwatching) */
        }
        lb->len += (size_t)r;
        size_t start = 0;
        for (size_t i = 0; i < lb->len; i++) {
            if (lb->buf[i] == '\n') {
                emit(dst_fd, pid, lb->buf + start, i - start);
                start = i + 1;
            }
        }
        if (start == 0 && lb->len == sizeof(lb->buf)) {
            emit(dst_fd, pid, lb->buf, lb->len); /* over-long line */
            start = lb->len;
        }
        memmove(lb->buf, lb->buf + start, lb->len - start);
        lb->len -= start;
    }
}

void
sched_proc_describe(int status, char *buf, size_t n)
{
    if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, n, "stopped (status 0x%x)", status);
}

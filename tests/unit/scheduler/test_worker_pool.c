/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of scheduler/worker_pool.c: spawning this binary as a child
 * (caught by a constructor before Criterion's main), its exit status, the
 * inherited fd and the pid-prefixed output forwarding. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scheduler/worker_pool.h"

/* Child mode: "lines" prints two lines and exits 3; "fd:N" writes to the
 * inherited fd N; "sleep" waits to be killed. */
__attribute__((constructor)) static void
child_entry(void)
{
    const char *m = getenv("POOL_TEST_CHILD");
    if (!m)
        return;
    if (strcmp(m, "lines") == 0) {
        printf("first line\nsecond");
        fflush(stdout);
        fprintf(stderr, "oops\n");
        _exit(3);
    }
    if (strncmp(m, "fd:", 3) == 0) {
        int fd = atoi(m + 3);
        _exit(write(fd, "z", 1) == 1 ? 0 : 9);
    }
    if (strcmp(m, "sleep") == 0) {
        pause();
        _exit(0);
    }
    _exit(100);
}

TestSuite(worker_pool, .timeout = 10);

static void
drain(sched_proc *p, int out_dst, int err_dst)
{
    while (p->out_fd >= 0 || p->err_fd >= 0) {
        struct pollfd pf[2] = {{.fd = p->out_fd, .events = POLLIN},
                               {.fd = p->err_fd, .events = POLLIN}};
        poll(pf, 2, 1000);
        if (p->out_fd >= 0 &&
            !sched_proc_forward(&p->out_fd, &p->out_lb, p->pid, out_dst)) {
            close(p->out_fd); /* EOF: the caller closes */
            p->out_fd = -1;
        }
        if (p->err_fd >= 0 &&
            !sched_proc_forward(&p->err_fd, &p->err_lb, p->pid, err_dst)) {
            close(p->err_fd);
            p->err_fd = -1;
        }
    }
}

Test(worker_pool, forwards_output_with_pid_prefix_and_reports_exit)
{
    sched_proc p;
    cr_assert_eq(sched_proc_spawn("POOL_TEST_CHILD=lines", -1, &p), RAY_OK);
    pid_t pid = p.pid;
    int pipes[2][2];
    cr_assert_eq(pipe(pipes[0]), 0);
    cr_assert_eq(pipe(pipes[1]), 0);
    drain(&p, pipes[0][1], pipes[1][1]);
    close(pipes[0][1]);
    close(pipes[1][1]);
    char out[256] = {0}, err[256] = {0};
    cr_assert_gt(read(pipes[0][0], out, sizeof(out) - 1), 0);
    cr_assert_gt(read(pipes[1][0], err, sizeof(err) - 1), 0);
    char want[128];
    snprintf(want, sizeof(want), "(pid=%d) first line\n(pid=%d) second\n",
             (int)pid, (int)pid);
    cr_assert_str_eq(out, want);
    snprintf(want, sizeof(want), "(pid=%d) oops\n", (int)pid);
    cr_assert_str_eq(err, want);
    int st;
    cr_assert_eq(sched_proc_reap(&p, true, &st), RAY_OK);
    char how[64];
    sched_proc_describe(st, how, sizeof(how));
    cr_assert_str_eq(how, "exited with status 3");
    cr_assert_eq(p.pid, 0);
}

Test(worker_pool, keeps_the_named_fd_and_kill_is_reported)
{
    int pp[2];
    cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
    char env[32];
    snprintf(env, sizeof(env), "POOL_TEST_CHILD=fd:%d", pp[1]);
    sched_proc p;
    cr_assert_eq(sched_proc_spawn(env, pp[1], &p), RAY_OK);
    int st;
    cr_assert_eq(sched_proc_reap(&p, true, &st), RAY_OK);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %x", st);
    char c;
    cr_assert_eq(read(pp[0], &c, 1), 1);
    cr_assert_eq(c, 'z');
    close(pp[0]);
    close(pp[1]);

    cr_assert_eq(sched_proc_spawn("POOL_TEST_CHILD=sleep", -1, &p), RAY_OK);
    cr_assert_eq(sched_proc_reap(&p, false, &st), RAY_EAGAIN);
    sched_proc_kill(&p);
    struct pollfd pf = {.fd = p.pidfd, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 5000), 1, "pidfd becomes readable on exit");
    cr_assert_eq(sched_proc_reap(&p, false, &st), RAY_OK);
    char how[64];
    sched_proc_describe(st, how, sizeof(how));
    cr_assert_str_eq(how, "killed by signal 9 (Killed)");
    close(p.out_fd);
    close(p.err_fd);
}

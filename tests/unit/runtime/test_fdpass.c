/* SPDX-License-Identifier: Apache-2.0
 *
 * test_fdpass.c: descriptor passing between two real processes (a forked
 * child hands over a memfd), several fds at once, close-on-exec, and the
 * error paths: too many fds, peer closed, truncated payload, timeouts,
 * bad arguments. Every error path is checked for leaked descriptors.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "runtime/clock.h"
#include "runtime/fdpass.h"

TestSuite(fdpass, .timeout = 10);

static int
open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void
pair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static const char content[] = "object bytes shared through a memfd";

Test(fdpass, memfd_between_two_processes)
{
    int sv[2];
    pair(sv);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(sv[1]);
        alarm(5); /* the child never outlives a stuck parent */
        int fd = memfd_create("rayc-test", MFD_CLOEXEC);
        if (fd < 0 || write(fd, content, sizeof(content)) != sizeof(content))
            _exit(2);
        uint32_t size = sizeof(content);
        if (rt_fdpass_send(sv[0], &fd, 1, &size, sizeof(size), 2000) != RAY_OK)
            _exit(3);
        close(fd);
        /* Wait for the parent's ack so the fd stays valid while it reads
         * (it would anyway: the kernel holds a reference in flight). */
        char ack;
        fcntl(sv[0], F_SETFL, 0); /* blocking read */
        if (read(sv[0], &ack, 1) != 1)
            _exit(4);
        _exit(0);
    }
    close(sv[0]);
    int fds[4];
    size_t nfds = 0;
    uint32_t size = 0;
    ray_err e = rt_fdpass_recv(sv[1], fds, 4, &nfds, &size, sizeof(size), 3000);
    cr_assert_eq(e, RAY_OK, "%s", rt_strerror(e));
    cr_assert_eq(nfds, 1);
    cr_assert_eq(size, sizeof(content));
    cr_expect(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, "MSG_CMSG_CLOEXEC");
    char *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fds[0], 0);
    cr_assert_neq(map, MAP_FAILED);
    cr_expect_str_eq(map, content);
    munmap(map, size);
    cr_assert_eq(write(sv[1], "k", 1), 1);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d",
              status);
    close(fds[0]);
    close(sv[1]);
}

Test(fdpass, several_fds_and_a_split_payload)
{
    int sv[2];
    pair(sv);
    int pipes[3][2];
    int send_fds[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pipe(pipes[i]), 0);
        send_fds[i] = pipes[i][1];
    }
    char payload[100];
    for (int i = 0; i < 100; i++)
        payload[i] = (char)i;
    cr_assert_eq(rt_fdpass_send(sv[0], send_fds, 3, payload, 100, 1000),
                 RAY_OK);
    /* A second transfer with no fds right behind it. */
    cr_assert_eq(rt_fdpass_send(sv[0], NULL, 0, "tail", 4, 1000), RAY_OK);
    int got[8];
    size_t n = 0;
    char buf[100];
    cr_assert_eq(rt_fdpass_recv(sv[1], got, 8, &n, buf, 100, 1000), RAY_OK);
    cr_assert_eq(n, 3);
    cr_expect_arr_eq(buf, payload, 100);
    for (int i = 0; i < 3; i++) {
        /* The received fd is the write end of pipe i. */
        char c = (char)('a' + i);
        cr_assert_eq(write(got[i], &c, 1), 1);
        char r;
        cr_assert_eq(read(pipes[i][0], &r, 1), 1);
        cr_expect_eq(r, c);
        close(got[i]);
    }
    char tail[4];
    cr_assert_eq(rt_fdpass_recv(sv[1], got, 8, &n, tail, 4, 1000), RAY_OK);
    cr_expect_eq(n, 0);
    cr_expect_arr_eq(tail, "tail", 4);
    for (int i = 0; i < 3; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    close(sv[0]);
    close(sv[1]);
}

Test(fdpass, more_fds_than_room_is_eproto_and_closes_them)
{
    int sv[2];
    pair(sv);
    int fds[6];
    for (int i = 0; i < 6; i++)
        fds[i] = open("/dev/null", O_RDONLY);
    cr_assert_eq(rt_fdpass_send(sv[0], fds, 6, "x", 1, 1000), RAY_OK);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    int before = open_fd_count();
    int got[2] = {-1, -1};
    size_t n = 99;
    char c;
    cr_expect_eq(rt_fdpass_recv(sv[1], got, 2, &n, &c, 1, 1000), RAY_EPROTO);
    cr_expect_eq(n, 0);
    cr_expect_eq(open_fd_count(), before, "received fds leaked");
    close(sv[0]);
    close(sv[1]);
}

Test(fdpass, peer_close_and_truncation)
{
    int sv[2];
    pair(sv);
    close(sv[0]);
    char buf[8];
    int got[1];
    size_t n;
    cr_expect_eq(rt_fdpass_recv(sv[1], got, 1, &n, buf, 8, 1000), RAY_ECLOSED);
    close(sv[1]);

    /* Half a payload, with an fd attached, then close: the fd is closed. */
    pair(sv);
    int fd = open("/dev/null", O_RDONLY);
    cr_assert_eq(rt_fdpass_send(sv[0], &fd, 1, "abc", 3, 1000), RAY_OK);
    close(fd);
    close(sv[0]);
    int before = open_fd_count();
    cr_expect_eq(rt_fdpass_recv(sv[1], got, 1, &n, buf, 8, 1000), RAY_EPROTO);
    cr_expect_eq(open_fd_count(), before);
    close(sv[1]);
}

Test(fdpass, timeouts_and_bad_arguments)
{
    int sv[2];
    pair(sv);
    char c = 0;
    int got[1];
    size_t n;
    /* Nothing is sent: only the timeout ends the recv, not before its
     * 50 ms (one that ignored it would hang until the suite's .timeout). */
    int64_t t0 = rt_clock_now_ms();
    cr_expect_eq(rt_fdpass_recv(sv[1], got, 1, &n, &c, 1, 50), RAY_ETIMEDOUT);
    int64_t took = rt_clock_now_ms() - t0;
    cr_expect(took >= 45, "took %lld", (long long)took);

    int many[RT_FDPASS_MAX_FDS + 1] = {0};
    cr_expect_eq(rt_fdpass_send(sv[0], many, RT_FDPASS_MAX_FDS + 1, &c, 1, 0),
                 RAY_EINVAL);
    cr_expect_eq(rt_fdpass_send(sv[0], NULL, 0, &c, 0, 0), RAY_EINVAL);
    cr_expect_eq(rt_fdpass_send(-1, NULL, 0, &c, 1, 0), RAY_EINVAL);
    cr_expect_eq(rt_fdpass_recv(sv[1], got, 1, NULL, &c, 1, 0), RAY_EINVAL);

    /* Not a socket. */
    int p[2];
    cr_assert_eq(pipe(p), 0);
    int fd = p[0];
    cr_expect_eq(rt_fdpass_send(p[1], &fd, 1, &c, 1, 100), RAY_EINVAL);
    close(p[0]);
    close(p[1]);

    /* Peer gone: no SIGPIPE, RAY_ECLOSED. */
    close(sv[1]);
    cr_expect_eq(rt_fdpass_send(sv[0], NULL, 0, &c, 1, 100), RAY_ECLOSED);
    close(sv[0]);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * fdpass.c: SCM_RIGHTS send and receive with timeouts (see fdpass.h).
 *
 * The fds ride on the first chunk of the payload; the rest of a payload
 * that the socket splits goes with plain send/recv. The receiver collects
 * SCM_RIGHTS from every chunk it reads (a conforming sender attaches them
 * to the first), so descriptors a misbehaving peer attaches later are
 * still closed rather than leaked. Control buffers are sized for the
 * caller's max_fds, so the kernel flags MSG_CTRUNC when the peer sends more.
 */
#include "runtime/fdpass.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/fdwait.h"

/* Control-message space for RT_FDPASS_MAX_FDS descriptors, aligned. */
typedef union cmsg_buf {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * RT_FDPASS_MAX_FDS)];
} cmsg_buf;

static ray_err
map_errno(int e)
{
    if (e == ENOTSOCK || e == EOPNOTSUPP)
        return RAY_EINVAL;
    return rt_err_from_errno(e);
}

ray_err
rt_fdpass_send(int sock, const int *fds, size_t nfds, const void *data,
               size_t len, int timeout_ms)
{
    if (sock < 0 || nfds > RT_FDPASS_MAX_FDS || (nfds && fds == NULL) ||
        data == NULL || len == 0)
        return RAY_EINVAL;
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    const char *p = data;
    size_t sent = 0;
    cmsg_buf cb;
    memset(&cb, 0, sizeof(cb));

    while (sent < len) {
        struct iovec iov = {.iov_base = (void *)(p + sent),
                            .iov_len = len - sent};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (sent == 0 && nfds > 0) {
            mh.msg_control = cb.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        }
        ssize_t n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            sent += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return map_errno(errno);
        ray_err err = rt_fd_wait(sock, POLLOUT, deadline);
        if (err != RAY_OK)
            return err;
    }
    return RAY_OK;
}

static void
close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* Move the SCM_RIGHTS fds of `mh` into got[*ngot] (room for `room`),
 * closing any that do not fit. Returns false if some did not fit. */
static bool
collect_fds(struct msghdr *mh, int *got, size_t *ngot, size_t room)
{
    bool fit = true;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*ngot < room) {
                got[(*ngot)++] = fd;
            } else {
                close(fd);
                fit = false;
            }
        }
    }
    return fit;
}

ray_err
rt_fdpass_recv(int sock, int *fds, size_t max_fds, size_t *nfds, void *data,
               size_t len, int timeout_ms)
{
    if (sock < 0 || nfds == NULL || data == NULL || len == 0 ||
        (max_fds && fds == NULL))
        return RAY_EINVAL;
    if (max_fds > RT_FDPASS_MAX_FDS)
        max_fds = RT_FDPASS_MAX_FDS;
    *nfds = 0;
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    int got[RT_FDPASS_MAX_FDS];
    size_t ngot = 0;
    size_t have = 0;
    ray_err err = RAY_OK;
    cmsg_buf cb;

    while (have < len) {
        struct iovec iov = {.iov_base = (char *)data + have,
                            .iov_len = len - have};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cb.buf,
                            .msg_controllen =
                                CMSG_SPACE(sizeof(int) * max_fds)};
        ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                err = map_errno(errno);
                goto fail;
            }
            err = rt_fd_wait(sock, POLLIN, deadline);
            if (err != RAY_OK)
                goto fail;
            continue;
        }
        bool fit = collect_fds(&mh, got, &ngot, max_fds);
        if (!fit || (mh.msg_flags & MSG_CTRUNC)) {
            err = RAY_EPROTO;
            goto fail;
        }
        if (n == 0) {
            err = have == 0 && ngot == 0 ? RAY_ECLOSED : RAY_EPROTO;
            goto fail;
        }
        have += (size_t)n;
    }
    if (ngot)
        memcpy(fds, got, sizeof(int) * ngot);
    *nfds = ngot;
    return RAY_OK;

fail:
    close_all(got, ngot);
    return err;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * fdwait.c: poll one descriptor until a deadline.
 */
#include "runtime/fdwait.h"

#include <errno.h>
#include <poll.h>

#include "runtime/clock.h"

ray_err
rt_fd_wait(int fd, short events, int64_t deadline_ns)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, rt_deadline_left_ms(deadline_ns));
        if (n > 0)
            return RAY_OK;
        if (n == 0)
            return RAY_ETIMEDOUT;
        if (errno != EINTR)
            return rt_err_from_errno(errno);
    }
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * fdwait.h: wait for one file descriptor with a monotonic deadline.
 *
 * The blocking helpers (frame send/recv, fd passing, simple clients) all
 * need the same poll loop: restart on EINTR, give up at the deadline.
 */
#ifndef RAY_RUNTIME_FDWAIT_H
#define RAY_RUNTIME_FDWAIT_H

#include <stdint.h>

#include "runtime/status.h"

/* Wait for `events` (POLLIN, POLLOUT) on `fd` until `deadline_ns`
 * (rt_deadline_after_ms; INT64_MAX waits forever). Returns RAY_OK when the
 * fd is ready or reports an error or hang-up (the next I/O call turns that
 * into a status), RAY_ETIMEDOUT when the deadline passes, or the mapped
 * errno of a failing poll. Restarts on EINTR. */
ray_err rt_fd_wait(int fd, short events, int64_t deadline_ns);

#endif /* RAY_RUNTIME_FDWAIT_H */

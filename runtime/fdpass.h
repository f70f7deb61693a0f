/* SPDX-License-Identifier: Apache-2.0
 *
 * fdpass.h: pass file descriptors between processes over a Unix socket.
 *
 * The object store hands its shared-memory region (a memfd) to each local
 * client this way, once per connection. A transfer carries 1 to
 * RT_FDPASS_MAX_FDS descriptors (SCM_RIGHTS) attached to a payload of at
 * least one byte; on a stream socket the receiver must know the payload's
 * length (it is typically a fixed-size record, or a frame header that
 * follows the protocol in runtime/frame.h).
 *
 * Received descriptors have FD_CLOEXEC set (MSG_CMSG_CLOEXEC). On any
 * error, every descriptor received so far is closed, so a failed receive
 * never leaks an fd. Truncated control data (MSG_CTRUNC: the peer sent more
 * fds than the caller accepts) is a protocol error.
 *
 * Thread-safe as far as the socket is: one sender and one receiver per
 * socket at a time. Both calls wait with poll(2) up to a timeout and work
 * on blocking and non-blocking sockets.
 */
#ifndef RAY_RUNTIME_FDPASS_H
#define RAY_RUNTIME_FDPASS_H

#include <stddef.h>

#include "runtime/status.h"

#define RT_FDPASS_MAX_FDS 16

/* Send `nfds` descriptors (0..RT_FDPASS_MAX_FDS; 0 sends plain data) with
 * the `len`-byte payload `data` (len >= 1) on Unix socket `sock`. The fds
 * stay open in the sender (the receiver gets duplicates). Waits at most
 * `timeout_ms` in all (negative: forever).
 * Returns RAY_OK, RAY_EINVAL (bad arguments, or `sock` is not a Unix
 * socket), RAY_ECLOSED (peer gone; no SIGPIPE), RAY_ETIMEDOUT (the payload
 * may be partly sent), or a system error such as EBADF for a closed fd. */
ray_err rt_fdpass_send(int sock, const int *fds, size_t nfds, const void *data,
                       size_t len, int timeout_ms);

/* Receive exactly `len` payload bytes (len >= 1) into `data`, and the
 * descriptors sent with them into `fds` (room for `max_fds`), storing their
 * count in `*nfds` (0 when the peer sent none). Waits at most `timeout_ms`
 * in all (negative: forever).
 * Returns RAY_OK; RAY_ECLOSED (the peer closed before sending anything);
 * RAY_EPROTO (closed mid-payload, or more fds than `max_fds`, or truncated
 * control data); RAY_ETIMEDOUT; RAY_EINVAL; or a system error. On any
 * error no descriptor is returned and all received ones are closed.
 * The caller owns the returned fds. */
ray_err rt_fdpass_recv(int sock, int *fds, size_t max_fds, size_t *nfds,
                       void *data, size_t len, int timeout_ms);

#endif /* RAY_RUNTIME_FDPASS_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * server.h: the cluster's listening side, shared by the GCS and the
 * raylet daemon: one thread polls a TCP listener and its connections,
 * opens each with the token handshake (net.h) and hands the service only
 * the frames of connections that passed it.
 *
 * What a peer sends is never trusted: a frame that is malformed,
 * oversized (RT_NET_MAX_FRAME), of the wrong type before the handshake,
 * or a handshake that fails or does not come within 5 s closes that one
 * connection with one log line (rate-limited), and nothing else changes.
 * Replies are small and sent with a bounded blocking write.
 *
 * Threading: everything runs on the thread that calls rt_server_run;
 * the service's callbacks run there too.
 */
#ifndef RAY_RUNTIME_SERVER_H
#define RAY_RUNTIME_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/frame.h"
#include "runtime/net.h"

typedef struct rt_server rt_server;

/* One accepted connection. `user` is the service's. */
typedef struct rt_conn {
    int fd;
    bool authed;
    bool closing;
    char peer[RT_HOST_MAX + 8]; /* "ip:port" */
    char role[16];              /* what the client said it is */
    void *user;
    /* private */
    rt_frame_reader rd;
    uint8_t nonce[RT_NONCE_LEN];
    int64_t deadline_ns;
} rt_conn;

typedef struct rt_server_ops {
    /* A frame from an authenticated connection; the server frees `m`
     * after the call. */
    void (*message)(void *ctx, rt_conn *c, uint32_t type, ProtobufCMessage *m);
    /* An authenticated connection ends (peer closed, error, or closed
     * by the service): drop c->user. May be NULL. */
    void (*closed)(void *ctx, rt_conn *c);
    /* About every 100 ms. May be NULL. */
    void (*tick)(void *ctx);
} rt_server_ops;

/* Serve `listen_fd` (taken over) for `service` ("gcs", "raylet"). */
ray_err rt_server_create(int listen_fd, const uint8_t tok[RT_TOKEN_LEN],
                         const char *service, const rt_server_ops *ops,
                         void *ctx, rt_server **out);

/* Run until *stop is set (checked every 100 ms). */
void rt_server_run(rt_server *s, _Atomic int *stop);

/* Send one frame to c (blocking, 2 s at most; a failure closes c). */
ray_err rt_server_send(rt_server *s, rt_conn *c, uint32_t type,
                       const ProtobufCMessage *m);

/* Close c after the current callback, logging `why` (NULL: quietly). */
void rt_server_close(rt_server *s, rt_conn *c, const char *why);

/* Forget c without closing its fd: the service handed it on (to a child
 * process). closed() is not called. */
void rt_server_detach(rt_server *s, rt_conn *c);

/* Close every connection and the listener; free. NULL ok. */
void rt_server_destroy(rt_server *s);

#endif /* RAY_RUNTIME_SERVER_H */

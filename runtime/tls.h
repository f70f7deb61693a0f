/* SPDX-License-Identifier: Apache-2.0
 *
 * tls.h: TLS under every cluster connection, when RAYC_TLS_DIR names a
 * directory holding ca.crt (the cluster's certificate authority),
 * node.crt and node.key (this machine's certificate, signed by it, and
 * its key; PEM). OpenSSL's libssl is loaded on first use, as libcrypto
 * is (crypto.h): programs that never turn it on do not need it.
 *
 * Each TCP connection is wrapped at both ends: rt_tcp_connect does the
 * client's handshake before it returns, the polling server (server.h)
 * has the server's done on a thread. Either way the caller gets one end
 * of a socketpair, and a relay thread moves the bytes between it and the
 * TLS session. Everything above (frames, the token handshake, a
 * connection a raylet passes to an agent, a value received straight into
 * a store) works on plain descriptors, unchanged; the session ends in
 * the process that made or accepted the connection (for an agent's, its
 * raylet).
 *
 * Both sides show a certificate and check the other's against ca.crt
 * (mutual TLS, 1.2 at least). Names are not checked: nodes are reached by
 * address, and the token handshake still runs inside. The head's
 * dashboard is HTTPS then, by libmicrohttpd's own TLS with the node's
 * certificate (scheduler/cluster/dashboard.c).
 */
#ifndef RAY_RUNTIME_TLS_H
#define RAY_RUNTIME_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/status.h"

/* Is TLS asked for (RAYC_TLS_DIR set and not empty)? */
bool rt_tls_on(void);

/* Asked for and usable: libssl loaded, the three files read and the key
 * matching the certificate. False with the reason in why. */
bool rt_tls_ready(char *why, size_t whylen);

/* The client's handshake over connected socket *fd (within timeout_ms),
 * then a relay: *fd becomes the caller's end (blocking, close-on-exec).
 * On failure *fd is closed and -1, with the reason ("certificate verify
 * failed") in why. */
ray_err rt_tls_client(int *fd, int timeout_ms, char *why, size_t whylen);

/* An accepted socket *fd: *fd becomes the caller's end (non-blocking,
 * close-on-exec) at once; the handshake runs on the relay's thread (10 s
 * at most), and a peer that fails it finds the connection closed. On
 * failure (logged, naming `peer`) *fd is closed and -1. */
ray_err rt_tls_server(int *fd, const char *peer);

/* The TCP socket behind fd when fd is a relay's end, else fd. */
int rt_tls_transport(int fd);

#endif /* RAY_RUNTIME_TLS_H */

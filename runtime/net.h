/* SPDX-License-Identifier: Apache-2.0
 *
 * net.h: TCP for the cluster: "host:port" addresses, listening and
 * connecting sockets, and the token handshake every connection opens with.
 *
 * The handshake (Ray's token is a plaintext bearer on every call; this
 * one never crosses the wire): the server sends AuthChallenge (32 random
 * bytes, its protocol version); the client answers AuthResponse with its
 * own 32 random bytes and HMAC-SHA256(token, "rayc-client" || server
 * nonce || client nonce); the server checks the version and the MAC in
 * constant time and answers AuthResult, with HMAC(token, "rayc-server" ||
 * client nonce || server nonce) so the client knows the server holds the
 * token too. A server reads nothing else from a connection before that.
 *
 * The cluster token: 32 random bytes kept as 64 hex digits in a file only
 * its user can read (default ~/.rayc/cluster-token; RAYC_TOKEN_FILE or a
 * --token-file flag override).
 */
#ifndef RAY_RUNTIME_NET_H
#define RAY_RUNTIME_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/protocol/registry.h"
#include "runtime/status.h"

/* The version of the cluster protocol: a node or driver that speaks
 * another is refused at its handshake, with both in the message. */
#define RT_PROTOCOL_VERSION 1u

#define RT_TOKEN_LEN 32
#define RT_NONCE_LEN 32
#define RT_MAC_LEN 32
#define RT_HOST_MAX 64

/* A frame on a cluster connection is at most this (a batch of tasks or
 * results, a chunk of an executable). */
#define RT_NET_MAX_FRAME (16u << 20)

/* "host:port" (IPv4 literal or name; "[v6]:port" not supported): RAY_OK,
 * or RAY_EINVAL with the reason in why. */
ray_err rt_addr_parse(const char *s, char host[RT_HOST_MAX], uint16_t *port,
                      char *why, size_t whylen);

/* A listening TCP socket on host:port (port 0: any), non-blocking,
 * close-on-exec, SO_REUSEADDR. *bound gets the port. RAY_OK and *fd, or
 * an error with the reason ("127.0.0.2:6379: Address already in use"). */
ray_err rt_tcp_listen(const char *host, uint16_t port, int *fd, uint16_t *bound,
                      char *why, size_t whylen);

/* Connect to host:port within timeout_ms: a blocking, close-on-exec
 * socket with TCP_NODELAY, leaving from the source rt_net_set_source set.
 * RAY_OK and *fd, or an error with why. */
/* This process's outgoing connections leave from `ip` (a node's own
 * address, --node-ip-address: on one machine each node of a test cluster
 * has its own loopback address, and a firewall rule can then cut one node
 * off whole), or from where routing says (NULL, or not an IPv4 address).
 * Between a loopback address and one that is not, routing decides.
 * Call before any thread dials. */
void rt_net_set_source(const char *ip);

ray_err rt_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd,
                       char *why, size_t whylen);

/* The local address a connected socket uses ("127.0.0.1"). */
void rt_tcp_local_ip(int fd, char host[RT_HOST_MAX]);

/* ---- the token ---- */

/* Where the token lives: `flag` if given, else RAYC_TOKEN_FILE, else
 * ~/.rayc/cluster-token. */
void rt_token_path(const char *flag, char *out, size_t outlen);

/* Read the token at `path`. RAY_OK; RAY_ENOTFOUND (no file); RAY_EINVAL
 * (malformed, or readable by others: mode must be 0600 or stricter). */
ray_err rt_token_load(const char *path, uint8_t tok[RT_TOKEN_LEN], char *why,
                      size_t whylen);

/* Read the token at `path`, or make a new one there (its directory too,
 * 0700; the file 0600) when there is none. */
ray_err rt_token_load_or_create(const char *path, uint8_t tok[RT_TOKEN_LEN],
                                char *why, size_t whylen);

/* ---- the handshake ---- */

/* Server: the challenge to send first (fills nonce). */
void rt_auth_challenge(Ray__Rpc__AuthChallenge *m, uint8_t nonce[RT_NONCE_LEN],
                       const char *service);

/* Server: check a client's response; RAY_OK and the server's proof in
 * mac_out, or RAY_EPROTO / RAY_EINVAL with why (wrong token, version
 * mismatch naming both versions, malformed). */
ray_err rt_auth_verify(const uint8_t tok[RT_TOKEN_LEN],
                       const uint8_t nonce[RT_NONCE_LEN],
                       const Ray__Rpc__AuthResponse *r,
                       uint8_t mac_out[RT_MAC_LEN], char *why, size_t whylen);

/* Client: the whole handshake on a blocking socket within timeout_ms.
 * RAY_OK; RAY_EPROTO (refused: why holds the server's reason, or the
 * server failed to prove the token); RAY_ETIMEDOUT; RAY_ECLOSED. */
ray_err rt_auth_client(int fd, const uint8_t tok[RT_TOKEN_LEN],
                       const char *role, int timeout_ms, char *why,
                       size_t whylen);

/* Connect to `address` ("host:port") and pass the token handshake as
 * `role`: a blocking socket in *fd, or an error with why (the address,
 * the connection or the handshake). */
ray_err rt_dial(const char *address, const uint8_t tok[RT_TOKEN_LEN],
                const char *role, int *fd, char *why, size_t whylen);

/* Send one frame and wait for one reply of type `want` (blocking
 * socket). RAY_OK and *reply (free with rt_proto_free); RAY_EPROTO
 * (another type arrived) or the frame layer's error, with why. */
ray_err rt_net_call(int fd, uint32_t type, const ProtobufCMessage *req,
                    uint32_t want, ProtobufCMessage **reply, int timeout_ms,
                    char *why, size_t whylen);

/* Free an unpacked message (NULL ok). */
void rt_proto_free(ProtobufCMessage *m);

/* SHA-256 of a file's bytes. */
ray_err rt_sha256_file(const char *path, uint8_t out[32], uint64_t *size,
                       char *why, size_t whylen);

/* Load what libcrypto loads on its first HMAC (10-20 ms with OpenSSL 3),
 * so that a handshake later does not wait for it. Any thread. */
void rt_net_warm(void);

#endif /* RAY_RUNTIME_NET_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * net.c: TCP sockets, the cluster token and its handshake (net.h).
 * HMAC-SHA256 and SHA-256 come from OpenSSL's libcrypto (crypto.h).
 */
#include "runtime/net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/crypto.h"
#include "runtime/files.h"
#include "runtime/frame.h"
#include "runtime/ids.h"
#include "runtime/random.h"
#include "runtime/tls.h"

#define WHY(...) (why ? (void)snprintf(why, whylen, __VA_ARGS__) : (void)0)

ray_err
rt_addr_parse(const char *s, char host[RT_HOST_MAX], uint16_t *port, char *why,
              size_t whylen)
{
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon || colon == s || (size_t)(colon - s) >= RT_HOST_MAX) {
        WHY("address '%s': expected host:port", s ? s : "(null)");
        return RAY_EINVAL;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p <= 0 || p > 65535) {
        WHY("address '%s': the port must be 1 to 65535", s);
        return RAY_EINVAL;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (uint16_t)p;
    return RAY_OK;
}

static ray_err
resolve(const char *host, uint16_t port, struct sockaddr_in *sa, char *why,
        size_t whylen)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
        return RAY_OK;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0 || !ai) {
        WHY("%s: %s", host, gai_strerror(rc));
        return RAY_ENOTFOUND;
    }
    sa->sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
    freeaddrinfo(ai);
    return RAY_OK;
}

/* host:port resolved into *sa, and a fresh non-blocking TCP socket. */
static ray_err
open_socket(const char *host, uint16_t port, struct sockaddr_in *sa, int *s,
            char *why, size_t whylen)
{
    ray_err err = resolve(host, port, sa, why, whylen);
    if (err != RAY_OK)
        return err;
    *s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*s < 0) {
        WHY("socket: %s", strerror(errno));
        return RAY_ESYSERR | (ray_err)(errno << 8);
    }
    return RAY_OK;
}

ray_err
rt_tcp_listen(const char *host, uint16_t port, int *fd, uint16_t *bound,
              char *why, size_t whylen)
{
    struct sockaddr_in sa;
    int s;
    ray_err err = open_socket(host, port, &sa, &s, why, whylen);
    if (err != RAY_OK)
        return err;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(s, 512) != 0) {
        int e = errno;
        WHY("%s:%u: %s", host, port, strerror(e));
        close(s);
        return RAY_ESYSERR | (ray_err)(e << 8);
    }
    socklen_t len = sizeof(sa);
    getsockname(s, (struct sockaddr *)&sa, &len);
    if (bound)
        *bound = ntohs(sa.sin_port);
    *fd = s;
    return RAY_OK;
}

static struct in_addr g_source; /* 0: none (rt_net_set_source) */

void
rt_net_set_source(const char *ip)
{
    g_source.s_addr = 0;
    if (ip && inet_pton(AF_INET, ip, &g_source) != 1)
        g_source.s_addr = 0;
}

static bool
loopback(struct in_addr a)
{
    return (ntohl(a.s_addr) >> 24) == 127;
}

/* Leave from the source set, if any (before connect). A source that
 * cannot be bound (not this machine's) is left to routing. */
static void
bind_source(int s, struct in_addr to)
{
    if (!g_source.s_addr || loopback(to) != loopback(g_source))
        return;
    int one = 1; /* the port is picked at connect, per destination */
    setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = g_source};
    (void)bind(s, (struct sockaddr *)&src, sizeof(src));
}

ray_err
rt_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd,
               char *why, size_t whylen)
{
    struct sockaddr_in sa;
    int s;
    ray_err err = open_socket(host, port, &sa, &s, why, whylen);
    if (err != RAY_OK)
        return err;
    bind_source(s, sa.sin_addr);
    int e = 0;
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = {.fd = s, .events = POLLOUT};
            int n = poll(&p, 1, timeout_ms);
            socklen_t l = sizeof(e);
            if (n == 0)
                e = ETIMEDOUT;
            else if (n < 0 || getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l))
                e = errno;
        }
    }
    if (e) {
        WHY("%s:%u: %s", host, port, strerror(e));
        close(s);
        return e == ETIMEDOUT ? RAY_ETIMEDOUT : RAY_ESYSERR | (ray_err)(e << 8);
    }
    int fl = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, fl & ~O_NONBLOCK);
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (rt_tls_on()) {
        ray_err te =
            rt_tls_client(&s, timeout_ms > 0 ? timeout_ms : 5000, why, whylen);
        if (te != RAY_OK) {
            char detail[400];
            snprintf(detail, sizeof(detail), "%s", why);
            WHY("%s:%u: %s", host, port, detail);
            return te;
        }
    }
    *fd = s;
    return RAY_OK;
}

void
rt_tcp_local_ip(int fd, char host[RT_HOST_MAX])
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    host[0] = 0;
    if (getsockname(rt_tls_transport(fd), (struct sockaddr *)&sa, &len) == 0)
        inet_ntop(AF_INET, &sa.sin_addr, host, RT_HOST_MAX);
}

/* ---- the token ---- */

void
rt_token_path(const char *flag, char *out, size_t outlen)
{
    const char *env = getenv("RAYC_TOKEN_FILE");
    const char *home = getenv("HOME");
    if (flag && *flag)
        snprintf(out, outlen, "%s", flag);
    else if (env && *env)
        snprintf(out, outlen, "%s", env);
    else
        snprintf(out, outlen, "%s/.rayc/cluster-token",
                 home && *home ? home : "/tmp");
}

ray_err
rt_token_load(const char *path, uint8_t tok[RT_TOKEN_LEN], char *why,
              size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        WHY("cluster token %s: %s", path, strerror(e));
        return e == ENOENT ? RAY_ENOTFOUND : RAY_ESYSERR | (ray_err)(e << 8);
    }
    struct stat st;
    char buf[2 * RT_TOKEN_LEN + 2];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && !(st.st_mode & 077))
        n = read(fd, buf, sizeof(buf));
    else {
        close(fd);
        WHY("cluster token %s: readable by others (mode %03o): chmod 600 it",
            path, (unsigned)(st.st_mode & 0777));
        return RAY_EINVAL;
    }
    close(fd);
    if (n >= 2 * RT_TOKEN_LEN) {
        buf[2 * RT_TOKEN_LEN] = 0; /* the digits, without the newline */
        if (rt_id_hex_decode(buf, tok, RT_TOKEN_LEN) == RAY_OK)
            return RAY_OK;
    }
    WHY("cluster token %s: expected %d hex digits", path, 2 * RT_TOKEN_LEN);
    return RAY_EINVAL;
}

ray_err
rt_token_load_or_create(const char *path, uint8_t tok[RT_TOKEN_LEN], char *why,
                        size_t whylen)
{
    ray_err err = rt_token_load(path, tok, why, whylen);
    if (err != RAY_ENOTFOUND)
        return err;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        rt_mkdir_p(dir, 0700); /* if it cannot, open says why */
    }
    err = rt_random_os(tok, RT_TOKEN_LEN);
    if (err != RAY_OK) {
        WHY("cluster token: no random bytes from the OS");
        return err;
    }
    char hex[2 * RT_TOKEN_LEN + 2];
    rt_id_hex_encode(tok, RT_TOKEN_LEN, hex);
    strcat(hex, "\n");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST) /* another start made it first: use theirs */
            return rt_token_load(path, tok, why, whylen);
        WHY("cluster token %s: %s", path, strerror(e));
        return RAY_ESYSERR | (ray_err)(e << 8);
    }
    ssize_t w = write(fd, hex, strlen(hex));
    close(fd);
    if (w != (ssize_t)strlen(hex)) {
        unlink(path);
        WHY("cluster token %s: short write", path);
        return RAY_ESYSERR | (ray_err)(EIO << 8);
    }
    return RAY_OK;
}

/* ---- the handshake ---- */

/* HMAC-SHA256(tok, label || a || b). False: no libcrypto. */
static bool
mac(const uint8_t tok[RT_TOKEN_LEN], const char *label, const uint8_t *a,
    const uint8_t *b, uint8_t out[RT_MAC_LEN])
{
    uint8_t msg[16 + 2 * RT_NONCE_LEN];
    size_t l = strlen(label);
    memcpy(msg, label, l);
    memcpy(msg + l, a, RT_NONCE_LEN);
    memcpy(msg + l + RT_NONCE_LEN, b, RT_NONCE_LEN);
    return rt_hmac_sha256(tok, RT_TOKEN_LEN, msg, l + 2 * RT_NONCE_LEN, out);
}

void
rt_auth_challenge(Ray__Rpc__AuthChallenge *m, uint8_t nonce[RT_NONCE_LEN],
                  const char *service)
{
    ray__rpc__auth_challenge__init(m);
    rt_random_fill(nonce, RT_NONCE_LEN);
    m->nonce.data = nonce;
    m->nonce.len = RT_NONCE_LEN;
    m->version = RT_PROTOCOL_VERSION;
    m->service = (char *)service;
}

ray_err
rt_auth_verify(const uint8_t tok[RT_TOKEN_LEN],
               const uint8_t nonce[RT_NONCE_LEN],
               const Ray__Rpc__AuthResponse *r, uint8_t mac_out[RT_MAC_LEN],
               char *why, size_t whylen)
{
    if (r->version != RT_PROTOCOL_VERSION) {
        WHY("protocol version mismatch: this side speaks %u, the peer %u",
            RT_PROTOCOL_VERSION, r->version);
        return RAY_EINVAL;
    }
    if (r->nonce.len != RT_NONCE_LEN || r->mac.len != RT_MAC_LEN) {
        WHY("malformed handshake");
        return RAY_EPROTO;
    }
    uint8_t want[RT_MAC_LEN];
    if (!mac(tok, "rayc-client", nonce, r->nonce.data, want) ||
        !mac(tok, "rayc-server", r->nonce.data, nonce, mac_out)) {
        rt_crypto_ready(why, whylen);
        return RAY_EINTERNAL;
    }
    if (!rt_ct_equal(want, r->mac.data, RT_MAC_LEN)) {
        WHY("wrong cluster token");
        return RAY_EPROTO;
    }
    return RAY_OK;
}

void
rt_net_warm(void)
{
    uint8_t k[RT_TOKEN_LEN] = {0}, a[RT_NONCE_LEN] = {0}, out[RT_MAC_LEN];
    mac(k, "rayc-warm", a, a, out);
}

void
rt_proto_free(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
}

ray_err
rt_net_call(int fd, uint32_t type, const ProtobufCMessage *req, uint32_t want,
            ProtobufCMessage **reply, int timeout_ms, char *why, size_t whylen)
{
    ray_err err = RAY_OK;
    if (req)
        err = rt_frame_send(fd, type, req, timeout_ms);
    uint32_t got = 0;
    if (err == RAY_OK)
        err = rt_frame_recv(fd, RT_NET_MAX_FRAME, &got, reply, timeout_ms);
    if (err != RAY_OK) {
        WHY("%s", err == RAY_ECLOSED ? "the peer closed the connection"
                                     : rt_frame_last_detail());
        return err;
    }
    if (got != want) {
        WHY("expected %s, got %s", rt_proto_type_name(want),
            rt_proto_type_name(got));
        rt_proto_free(*reply);
        *reply = NULL;
        return RAY_EPROTO;
    }
    return RAY_OK;
}

ray_err
rt_dial(const char *address, const uint8_t tok[RT_TOKEN_LEN], const char *role,
        int *fd, char *why, size_t whylen)
{
    char host[RT_HOST_MAX];
    uint16_t port = 0;
    *fd = -1;
    ray_err err = rt_addr_parse(address, host, &port, why, whylen);
    if (err == RAY_OK)
        err = rt_tcp_connect(host, port, 3000, fd, why, whylen);
    if (err == RAY_OK)
        err = rt_auth_client(*fd, tok, role, 5000, why, whylen);
    if (err != RAY_OK && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return err;
}

ray_err
rt_auth_client(int fd, const uint8_t tok[RT_TOKEN_LEN], const char *role,
               int timeout_ms, char *why, size_t whylen)
{
    ProtobufCMessage *m = NULL;
    ray_err err =
        rt_net_call(fd, 0, NULL, RAY__RPC__MESSAGE_TYPE__MSG_AUTH_CHALLENGE, &m,
                    timeout_ms, why, whylen);
    if (err != RAY_OK)
        return err;
    Ray__Rpc__AuthChallenge *c = (Ray__Rpc__AuthChallenge *)m;
    if (c->nonce.len != RT_NONCE_LEN) {
        rt_proto_free(m);
        WHY("malformed challenge");
        return RAY_EPROTO;
    }
    uint8_t snonce[RT_NONCE_LEN], cnonce[RT_NONCE_LEN], cmac[RT_MAC_LEN];
    memcpy(snonce, c->nonce.data, RT_NONCE_LEN);
    rt_proto_free(m);
    rt_random_fill(cnonce, RT_NONCE_LEN);
    if (!mac(tok, "rayc-client", snonce, cnonce, cmac)) {
        rt_crypto_ready(why, whylen);
        return RAY_EINTERNAL;
    }
    Ray__Rpc__AuthResponse r = RAY__RPC__AUTH_RESPONSE__INIT;
    r.nonce = (ProtobufCBinaryData){RT_NONCE_LEN, cnonce};
    r.mac = (ProtobufCBinaryData){RT_MAC_LEN, cmac};
    r.version = RT_PROTOCOL_VERSION;
    r.role = (char *)role;
    err = rt_net_call(fd, RAY__RPC__MESSAGE_TYPE__MSG_AUTH_RESPONSE, &r.base,
                      RAY__RPC__MESSAGE_TYPE__MSG_AUTH_RESULT, &m, timeout_ms,
                      why, whylen);
    if (err != RAY_OK)
        return err;
    Ray__Rpc__AuthResult *res = (Ray__Rpc__AuthResult *)m;
    if (res->status && res->status->code != 0) {
        WHY("refused: %s", res->status->message);
        err = RAY_EPROTO;
    } else {
        uint8_t want[RT_MAC_LEN];
        if (!mac(tok, "rayc-server", cnonce, snonce, want) ||
            res->mac.len != RT_MAC_LEN ||
            !rt_ct_equal(want, res->mac.data, RT_MAC_LEN)) {
            WHY("the server does not hold the cluster token");
            err = RAY_EPROTO;
        }
    }
    rt_proto_free(m);
    return err;
}

ray_err
rt_sha256_file(const char *path, uint8_t out[32], uint64_t *size, char *why,
               size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        WHY("%s: %s", path, strerror(e));
        return RAY_ESYSERR | (ray_err)(e << 8);
    }
    rt_sha256 *ctx = rt_sha256_new();
    if (!ctx) {
        close(fd);
        rt_crypto_ready(why, whylen);
        return RAY_EINTERNAL;
    }
    static __thread uint8_t buf[1 << 16];
    uint64_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        rt_sha256_update(ctx, buf, (size_t)n);
        total += (uint64_t)n;
    }
    int e = n < 0 ? errno : 0;
    close(fd);
    rt_sha256_final(ctx, out);
    if (e) {
        WHY("%s: %s", path, strerror(e));
        return RAY_ESYSERR | (ray_err)(e << 8);
    }
    if (size)
        *size = total;
    return RAY_OK;
}

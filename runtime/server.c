/* SPDX-License-Identifier: Apache-2.0
 *
 * server.c: a poll(2) loop over a TCP listener and its connections, with
 * the token handshake in front of the service (server.h).
 */
#include "runtime/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "runtime/tls.h"

#define MAX_CONNS 4096
#define AUTH_TIMEOUT_MS 5000

struct rt_server {
    int lfd;
    uint8_t tok[RT_TOKEN_LEN];
    const char *service;
    const rt_server_ops *ops;
    void *ctx;
    rt_conn **conns;
    uint32_t n, cap;
    struct pollfd *pfd;
};

ray_err
rt_server_create(int listen_fd, const uint8_t tok[RT_TOKEN_LEN],
                 const char *service, const rt_server_ops *ops, void *ctx,
                 rt_server **out)
{
    rt_server *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return RAY_ENOMEM;
    s->lfd = listen_fd;
    memcpy(s->tok, tok, RT_TOKEN_LEN);
    s->service = service;
    s->ops = ops;
    s->ctx = ctx;
    s->cap = 16;
    s->conns = rt_calloc(s->cap, sizeof(*s->conns));
    s->pfd = rt_calloc(s->cap + 1, sizeof(*s->pfd));
    if (!s->conns || !s->pfd) {
        rt_free(s->conns);
        rt_free(s->pfd);
        rt_free(s);
        return RAY_ENOMEM;
    }
    *out = s;
    return RAY_OK;
}

void
rt_server_close(rt_server *s, rt_conn *c, const char *why)
{
    (void)s;
    if (why && !c->closing)
        RT_LOG_RATELIMITED(RT_LOG_WARN, "%s: closing %s (%s): %s", s->service,
                           c->peer, c->role[0] ? c->role : "unauthenticated",
                           why);
    c->closing = true;
}

ray_err
rt_server_send(rt_server *s, rt_conn *c, uint32_t type,
               const ProtobufCMessage *m)
{
    ray_err err = rt_frame_send(c->fd, type, m, 2000);
    if (err != RAY_OK)
        rt_server_close(s, c, rt_frame_last_detail());
    return err;
}

void
rt_server_detach(rt_server *s, rt_conn *c)
{
    (void)s;
    c->fd = -1;
    c->authed = false; /* no closed() */
    c->closing = true;
}

static void
drop(rt_server *s, uint32_t i)
{
    rt_conn *c = s->conns[i];
    if (c->authed && s->ops->closed)
        s->ops->closed(s->ctx, c);
    if (c->fd >= 0)
        close(c->fd);
    rt_frame_reader_fini(&c->rd);
    rt_free(c);
    s->conns[i] = s->conns[--s->n];
}

static void
accept_all(rt_server *s)
{
    for (;;) {
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        int fd = accept4(s->lfd, (struct sockaddr *)&sa, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (s->n == MAX_CONNS) {
            RT_LOG_RATELIMITED(RT_LOG_WARN,
                               "%s: %d connections open: refusing more",
                               s->service, MAX_CONNS);
            close(fd);
            continue;
        }
        if (s->n == s->cap) {
            uint32_t cap = 2 * s->cap;
            rt_conn **nc = rt_realloc(s->conns, cap * sizeof(*nc));
            struct pollfd *np = rt_realloc(s->pfd, (cap + 1) * sizeof(*np));
            if (nc)
                s->conns = nc;
            if (np)
                s->pfd = np;
            if (!nc || !np) {
                close(fd);
                continue;
            }
            s->cap = cap;
        }
        rt_conn *c = rt_calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char ip[RT_HOST_MAX];
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(sa.sin_port));
        if (rt_tls_on() && rt_tls_server(&fd, c->peer) != RAY_OK) {
            rt_free(c); /* fd closed; logged */
            continue;
        }
        c->fd = fd;
        rt_frame_reader_init(&c->rd, RT_NET_MAX_FRAME);
        c->deadline_ns = rt_deadline_after_ms(AUTH_TIMEOUT_MS);
        s->conns[s->n++] = c;
        Ray__Rpc__AuthChallenge ch;
        rt_auth_challenge(&ch, c->nonce, s->service);
        if (rt_frame_send(fd, RAY__RPC__MESSAGE_TYPE__MSG_AUTH_CHALLENGE,
                          &ch.base, 1000) != RAY_OK)
            c->closing = true;
    }
}

static void
handshake(rt_server *s, rt_conn *c, uint32_t type, ProtobufCMessage *m)
{
    if (type != RAY__RPC__MESSAGE_TYPE__MSG_AUTH_RESPONSE) {
        rt_server_close(s, c, "a frame before the handshake");
        return;
    }
    Ray__Rpc__AuthResponse *r = (Ray__Rpc__AuthResponse *)m;
    char why[160];
    uint8_t proof[RT_MAC_LEN];
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    Ray__Rpc__AuthResult res = RAY__RPC__AUTH_RESULT__INIT;
    ray_err err = rt_auth_verify(s->tok, c->nonce, r, proof, why, sizeof(why));
    if (err == RAY_OK) {
        res.mac = (ProtobufCBinaryData){RT_MAC_LEN, proof};
        snprintf(c->role, sizeof(c->role), "%s", r->role ? r->role : "");
        c->authed = true;
    } else {
        st.code = (uint32_t)err;
        st.message = why;
        res.status = &st;
    }
    rt_frame_send(c->fd, RAY__RPC__MESSAGE_TYPE__MSG_AUTH_RESULT, &res.base,
                  1000);
    if (err != RAY_OK)
        rt_server_close(s, c, why);
}

static void
readable(rt_server *s, rt_conn *c)
{
    for (int k = 0; k < 64 && !c->closing; k++) {
        uint32_t type;
        ProtobufCMessage *m = NULL;
        ray_err err = rt_frame_reader_read(&c->rd, c->fd, &type, &m);
        if (err == RAY_EAGAIN)
            return;
        if (err != RAY_OK) {
            if (err != RAY_ECLOSED)
                rt_server_close(s, c, rt_frame_reader_detail(&c->rd));
            else
                c->closing = true;
            return;
        }
        if (!c->authed)
            handshake(s, c, type, m);
        else
            s->ops->message(s->ctx, c, type, m);
        rt_proto_free(m);
    }
}

void
rt_server_run(rt_server *s, _Atomic int *stop)
{
    int64_t next_tick = 0;
    while (!atomic_load(stop)) {
        s->pfd[0] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        for (uint32_t i = 0; i < s->n; i++)
            s->pfd[i + 1] =
                (struct pollfd){.fd = s->conns[i]->fd, .events = POLLIN};
        uint32_t n = s->n;
        int rc = poll(s->pfd, n + 1, 100);
        if (rc < 0 && errno != EINTR)
            RT_WARN("%s: poll: %s", s->service, strerror(errno));
        int64_t now = rt_clock_now_ns();
        for (uint32_t i = 0; i < n; i++) {
            rt_conn *c = s->conns[i];
            if (rc > 0 && s->pfd[i + 1].revents)
                readable(s, c);
            if (!c->authed && !c->closing && now > c->deadline_ns)
                rt_server_close(s, c, "no handshake within 5 s");
        }
        for (uint32_t i = s->n; i-- > 0;)
            if (s->conns[i]->closing)
                drop(s, i);
        if (rc > 0 && (s->pfd[0].revents & POLLIN))
            accept_all(s);
        if (now >= next_tick) {
            next_tick = now + 100 * 1000000LL;
            if (s->ops->tick)
                s->ops->tick(s->ctx);
        }
    }
}

void
rt_server_destroy(rt_server *s)
{
    if (!s)
        return;
    while (s->n)
        drop(s, s->n - 1);
    if (s->lfd >= 0)
        close(s->lfd);
    rt_free(s->conns);
    rt_free(s->pfd);
    rt_free(s);
}

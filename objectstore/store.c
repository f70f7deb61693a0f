/* SPDX-License-Identifier: Apache-2.0
 *
 * store.c: the object store server thread.
 *
 * One thread runs an epoll loop over the listening Unix socket, an eventfd
 * used to stop it, and one non-blocking connection per client. A client
 * sends HELLO first and receives the region's memfd (SCM_RIGHTS) with its
 * client index; after that it sends fixed-size requests (wire.h) for the
 * slow-path operations, each answered by one reply. A connection that
 * sends anything malformed is closed with a log line saying why, and like
 * any connection that closes (the client exited, crashed or was killed),
 * its pins are dropped and its unsealed objects aborted; other clients
 * carry on.
 *
 * Threading: the loop thread owns the connections (loop thread only);
 * object operations lock core->mu, which local clients in this process
 * take too. Tuned for a handful to a few hundred local clients whose hot
 * path does not come here at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "objectstore/store_int.h"
#include "objectstore/wire.h"
#include "runtime/fdpass.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"

typedef struct store_conn {
    int fd;
    bool hello;              /* HELLO received */
    uint32_t client;         /* valid once hello */
    size_t got;              /* bytes of `buf` filled */
    store_wire_req buf;
} store_conn;

struct store_server {
    store_core *core;
    char *path;
    int lfd;                 /* listening socket */
    int efd;                 /* eventfd: stop */
    int epfd;
    pthread_t thread;
    bool started;
    /* Live connections; loop thread only. */
    store_conn **conns;
    uint32_t nconns, cap;
};

#define SPIN_NS 50000

static char tag_listen, tag_stop; /* epoll tags for the two fixed fds */

/* ------------------------------------------------------------------ */
/* Private helpers                                                     */
/* ------------------------------------------------------------------ */

static void
conn_close(store_server *s, store_conn *cn, const char *why)
{
    if (why && cn->hello)
        RT_WARN("object store: closing client %u connection: %s", cn->client,
                why);
    else if (why)
        RT_WARN("object store: closing a client connection before its "
                "HELLO: %s", why);
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, cn->fd, NULL);
    close(cn->fd);
    if (cn->hello)
        store_core_client_remove(s->core, cn->client);
    for (uint32_t i = 0; i < s->nconns; i++) {
        if (s->conns[i] == cn) {
            s->conns[i] = s->conns[--s->nconns];
            break;
        }
    }
    rt_free(cn);
}

/* Send a reply (with the memfd when `pass_fd` >= 0). A client that does
 * not take its reply within a second is dropped. */
static int
send_reply(int fd, const store_wire_reply *r, int pass_fd)
{
    ray_err rc = rt_fdpass_send(fd, &pass_fd, pass_fd >= 0 ? 1 : 0, r,
                                sizeof *r, 1000);
    return rc == RAY_OK ? 0 : -1;
}

static void
fill_stats(store_core *c, store_wire_reply *r)
{
    store_stats st;
    store_core_stats(c, &st);
    uint64_t v[10] = {st.capacity,         st.bytes_used,
                      st.bytes_pinned,     st.bytes_spilled,
                      st.objects_in_memory, st.objects_creating,
                      st.objects_spilled,  st.evictions,
                      st.spills,           st.restores};
    memcpy(r->stats, v, sizeof v);
    r->clients = st.clients;
}

/* Handle one complete request. Returns a reason to close the connection,
 * or NULL to keep it. */
static const char *
handle(store_server *s, store_conn *cn)
{
    store_wire_req *q = &cn->buf;
    if (q->magic != STORE_WIRE_MAGIC)
        return "bad magic (not a store request)";
    if (q->len != sizeof *q)
        return "bad request length";
    if (q->type == 0 || q->type > STORE_WIRE_TYPE_MAX)
        return "unknown request type";
    if (!cn->hello && q->type != STORE_WIRE_HELLO)
        return "request before HELLO";
    if (cn->hello && q->type == STORE_WIRE_HELLO)
        return "second HELLO";
    store_wire_reply r;
    memset(&r, 0, sizeof r);
    r.magic = STORE_WIRE_MAGIC;
    r.type = q->type;
    store_object_id id;
    memcpy(id.b, q->id, sizeof id.b);
    store_core *c = s->core;
    ray_err rc = RAY_OK;
    int pass_fd = -1;
    switch (q->type) {
    case STORE_WIRE_HELLO:
        rc = store_core_client_add(c, &cn->client);
        if (rc == RAY_OK) {
            cn->hello = true;
            r.client = cn->client;
            r.region_size = c->region_size;
            pass_fd = c->memfd;
        } else {
            snprintf(r.msg, sizeof r.msg, "store has %u clients already",
                     STORE_MAX_CLIENTS);
        }
        break;
    case STORE_WIRE_CREATE:
        rc = store_core_create_object(c, cn->client, &id, q->data_size,
                                      q->meta_size, q->flags, &r.slot,
                                      &r.offset, r.msg, sizeof r.msg);
        break;
    case STORE_WIRE_ABORT:
        rc = store_core_abort(c, cn->client, &id);
        break;
    case STORE_WIRE_DELETE:
        rc = store_core_delete(c, &id);
        break;
    case STORE_WIRE_RESTORE:
        rc = store_core_restore(c, cn->client, &id, &r.slot, &r.offset,
                                r.msg, sizeof r.msg);
        break;
    case STORE_WIRE_STATS:
        fill_stats(c, &r);
        break;
    }
    r.status = (int32_t)rc;
    if (send_reply(cn->fd, &r, pass_fd) != 0)
        return "cannot send reply (client gone or not reading)";
    if (q->type == STORE_WIRE_HELLO && rc != RAY_OK)
        return "no free client index";
    return NULL;
}

static void
on_readable(store_server *s, store_conn *cn)
{
    for (;;) {
        uint8_t *b = (uint8_t *)&cn->buf;
        ssize_t n = recv(cn->fd, b + cn->got, sizeof cn->buf - cn->got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(s, cn, NULL); /* orderly close or reset */
            return;
        }
        cn->got += (size_t)n;
        /* Reject a bad header as soon as it is readable, so a garbage
         * stream is closed without waiting for a whole record. */
        if (cn->got >= 12 && (cn->buf.magic != STORE_WIRE_MAGIC ||
                              cn->buf.len != sizeof cn->buf)) {
            conn_close(s, cn, cn->buf.magic != STORE_WIRE_MAGIC
                                  ? "bad magic (not a store request)"
                                  : "bad request length");
            return;
        }
        if (cn->got < sizeof cn->buf)
            continue;
        cn->got = 0;
        const char *why = handle(s, cn);
        if (why) {
            conn_close(s, cn, why);
            return;
        }
    }
}

static void
on_accept(store_server *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                RT_LOG_RATELIMITED(RT_LOG_WARN, "object store: accept: %s",
                                   strerror(errno));
            return;
        }
        store_conn *cn = rt_calloc(1, sizeof *cn);
        if (cn && s->nconns == s->cap) {
            uint32_t cap = s->cap ? s->cap * 2 : 16;
            void *p = rt_realloc(s->conns, cap * sizeof *s->conns);
            if (p) {
                s->conns = p;
                s->cap = cap;
            }
        }
        if (!cn || s->nconns == s->cap) {
            RT_LOG_RATELIMITED(RT_LOG_WARN, "object store: out of memory "
                               "accepting a client");
            rt_free(cn);
            close(fd);
            continue;
        }
        cn->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                 .data.ptr = cn};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            rt_free(cn);
            close(fd);
            continue;
        }
        s->conns[s->nconns++] = cn;
    }
}

static void *
server_main(void *arg)
{
    store_server *s = arg;
    struct epoll_event evs[64];
    int64_t spin_end = 0;
    for (;;) {
        /* After serving a request, poll without sleeping for a short
         * while: a client's next request often follows at once, and a
         * sleeping thread costs a 15-25 us wake-up. */
        int n = epoll_wait(s->epfd, evs, 64,
                           rt_clock_now_ns() < spin_end ? 0 : -1);
        if (n == 0)
            continue;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            RT_ERROR("object store: epoll_wait: %s", strerror(errno));
            break;
        }
        spin_end = rt_clock_now_ns() + SPIN_NS;
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &tag_stop)
                return NULL;
            if (tag == &tag_listen) {
                on_accept(s);
                continue;
            }
            on_readable(s, tag);
            /* A closed conn is freed; later events of this batch for the
             * same fd cannot exist (one event per fd per wait). */
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* API                                                                 */
/* ------------------------------------------------------------------ */

void
store_config_init(store_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
}

store_core *
store_server_core(store_server *s)
{
    return s->core;
}

const char *
store_server_socket_path(const store_server *s)
{
    return s->path;
}

uint32_t
store_server_client_count(store_server *s)
{
    pthread_mutex_lock(&s->core->mu);
    uint32_t n = s->core->nclients;
    pthread_mutex_unlock(&s->core->mu);
    return n;
}

ray_err
store_server_start(const store_config *cfg, store_server **out, char *err,
                   size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!cfg || !cfg->socket_path || !out) {
        snprintf(err, errlen, "a socket path is required");
        return RAY_EINVAL;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(cfg->socket_path) >= sizeof addr.sun_path) {
        snprintf(err, errlen, "socket path too long: %s", cfg->socket_path);
        return RAY_EINVAL;
    }
    strcpy(addr.sun_path, cfg->socket_path);
    ray_err rc = RAY_ENOMEM;
    store_server *s = rt_calloc(1, sizeof *s);
    if (!s)
        return RAY_ENOMEM;
    s->lfd = s->efd = s->epfd = -1;
    s->path = rt_strdup(cfg->socket_path);
    if (!s->path)
        goto fail;
    rc = store_core_create(cfg, &s->core, err, errlen);
    if (rc != RAY_OK)
        goto fail;
    s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->lfd < 0)
        goto fail_errno;
    unlink(s->path);
    if (bind(s->lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(s->lfd, 128) != 0)
        goto fail_errno;
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->efd < 0 || s->epfd < 0)
        goto fail_errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_listen};
    struct epoll_event ev2 = {.events = EPOLLIN, .data.ptr = &tag_stop};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) != 0 ||
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->efd, &ev2) != 0)
        goto fail_errno;
    int e = pthread_create(&s->thread, NULL, server_main, s);
    if (e != 0) {
        errno = e;
        goto fail_errno;
    }
    s->started = true;
    RT_INFO("object store: %llu bytes of shared memory, %u slots, socket %s",
            (unsigned long long)s->core->hdr->heap_size, s->core->hdr->nslots,
            s->path);
    *out = s;
    return RAY_OK;
fail_errno:
    rc = rt_err_from_errno(errno);
    snprintf(err, errlen, "object store socket %s: %s", cfg->socket_path,
             strerror(errno));
fail:
    store_server_stop(s);
    return rc;
}

void
store_server_stop(store_server *s)
{
    if (!s)
        return;
    if (s->started) {
        uint64_t one = 1;
        ssize_t w = write(s->efd, &one, sizeof one);
        (void)w;
        pthread_join(s->thread, NULL);
    }
    while (s->nconns > 0)
        conn_close(s, s->conns[0], NULL);
    rt_free(s->conns);
    if (s->lfd >= 0) {
        close(s->lfd);
        unlink(s->path);
    }
    if (s->efd >= 0)
        close(s->efd);
    if (s->epfd >= 0)
        close(s->epfd);
    store_core_destroy(s->core);
    rt_free(s->path);
    rt_free(s);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * transfer.c: values between a driver and its agents on data connections
 * (transfer.h): the agent's table of values kept or pushed and its
 * server, the driver's pull and push.
 */
#include "sdk/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fdwait.h"
#include "runtime/frame.h"
#include "objectstore/plasma.h"
#include "runtime/net.h"
#include "sdk/sdk_int.h"
#include "sdk/wire.h"

/* ---- bytes on a stream ---- */

/* Move `len` bytes between `buf` and `fd` (non-blocking), waiting up to
 * XFER_IDLE_MS for each step of progress. */
static ray_err
io_all(int fd, void *buf, uint64_t len, bool out)
{
    uint8_t *p = buf;
    while (len) {
        size_t step = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t n =
            out ? send(fd, p, step, MSG_NOSIGNAL) : recv(fd, p, step, 0);
        if (n > 0) {
            p += n;
            len -= (uint64_t)n;
            continue;
        }
        if (n == 0)
            return RAY_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return errno == EPIPE || errno == ECONNRESET
                       ? RAY_ECLOSED
                       : rt_err_from_errno(errno);
        ray_err e = rt_fd_wait(fd, out ? POLLOUT : POLLIN,
                               rt_deadline_after_ms(XFER_IDLE_MS));
        if (e != RAY_OK)
            return e;
    }
    return RAY_OK;
}

/* Read and drop `len` bytes: a value that had nowhere to go. */
static ray_err
io_skip(int fd, uint64_t len)
{
    static _Thread_local uint8_t sink[1 << 16];
    while (len) {
        uint64_t n = len < sizeof(sink) ? len : sizeof(sink);
        ray_err e = io_all(fd, sink, n, false);
        if (e != RAY_OK)
            return e;
        len -= n;
    }
    return RAY_OK;
}

static void
nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- the agent's table ---- */

/* A value kept: a result's, or a pushed one's, pulled from here or
 * given to calls. Its object is held, its value not pinned: under
 * pressure the store spills it to disk like any other (and restores it
 * when read), so copies kept for other nodes never fill a store. Each
 * chunk served pins it while it is written.
 *
 * A copy pulled here under a key its driver chose (xfer_pull_ref's
 * keep_as) is in the table while it is pulled (KEPT_FILLING): its bytes
 * land at `fill`, a flag per XFER_CHUNK in `landed` says which, and a
 * pull of it is served the chunks that have landed. Before the copy is
 * sealed (KEPT_SEALING) the puller waits for those writing from `fill`
 * (fill_users); then it is KEPT_READY like any other, or KEPT_FAILED (a
 * pull of it fails at once) until its driver drops it. */
enum { KEPT_READY, KEPT_FILLING, KEPT_SEALING, KEPT_FAILED };

typedef struct kept {
    uint64_t key;
    ray_ref ref;  /* the object (held; none while filling) */
    uint64_t len; /* its value's bytes */
    int users;    /* pulls reading it now (and its puller, filling) */
    bool gone;    /* out of the table: freed by its last user */
    uint8_t state;
    uint8_t *fill;   /* filling: where its bytes land */
    uint8_t *landed; /* filling: a flag per chunk */
    int fill_users;  /* pulls writing from fill now */
    bool claimed;    /* filling: its puller has begun (xfer_fill_expect) */
} kept;

/* A pull may ask for a copy its driver named before the node meant to
 * keep it began pulling it (a record on its way): it waits this long for
 * it to appear. */
#define XFER_EXPECT_MS 5000

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* an entry came, landed a chunk or changed state */
    kept **e;
    size_t n, cap;
    uint64_t next;
} K = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0};

static _Atomic uint64_t served;

uint64_t
xfer_served(void)
{
    return atomic_load(&served);
}

static void
kept_free(kept *k)
{
    if (k->ref.id)
        ray_ref_release(k->ref);
    rt_free(k->landed);
    rt_free(k);
}

/* One user less (K.mu held); true when k is to be freed by the caller. */
static bool
kept_unuse(kept *k)
{
    return --k->users == 0 && k->gone;
}

/* k holds v's object (false: v is still the caller's); v is released. */
static bool
kept_hold(kept *k, ray_view *v)
{
    if (ray_ref_retain(v->ref) != RAY_OK)
        return false;
    k->ref = v->ref;
    k->len = v->len;
    return true;
}

/* The entry of `key` (K.mu held), or NULL. */
static kept *
kept_find(uint64_t key)
{
    for (size_t i = 0; i < K.n; i++)
        if (K.e[i]->key == key)
            return K.e[i];
    return NULL;
}

/* Add k to the table (K.mu held); false out of memory. */
static bool
kept_put(kept *k)
{
    kept **room = rt_array_room(K.e, K.n, &K.cap, sizeof(*K.e), 16);
    if (!room)
        return false;
    K.e = room;
    K.e[K.n++] = k;
    pthread_cond_broadcast(&K.cv);
    return true;
}

/* The entry of `key`, taken out of the table (K.mu held), or NULL. */
static kept *
kept_remove(uint64_t key)
{
    for (size_t i = 0; i < K.n; i++)
        if (K.e[i]->key == key) {
            kept *k = K.e[i];
            K.e[i] = K.e[--K.n];
            return k;
        }
    return NULL;
}

/* Wait for news on K.cv (K.mu held) until `ms` after the first wait on
 * *dl ({0} until then); false once that has passed. */
static bool
kept_wait(struct timespec *dl, int ms)
{
    if (!dl->tv_sec) {
        clock_gettime(CLOCK_REALTIME, dl);
        dl->tv_sec += ms / 1000;
        dl->tv_nsec += (long)(ms % 1000) * 1000000L;
        if (dl->tv_nsec >= 1000000000L) {
            dl->tv_sec++;
            dl->tv_nsec -= 1000000000L;
        }
    }
    return pthread_cond_timedwait(&K.cv, &K.mu, dl) != ETIMEDOUT;
}

uint64_t
xfer_keep(ray_view *v)
{
    kept *k = rt_calloc(1, sizeof(*k));
    if (!k || !kept_hold(k, v)) {
        rt_free(k);
        return 0;
    }
    pthread_mutex_lock(&K.mu);
    k->key = ++K.next;
    bool ok = kept_put(k);
    pthread_mutex_unlock(&K.mu);
    if (!ok) {
        kept_free(k);
        return 0;
    }
    ray_release(v);
    return k->key;
}

ray_ref
xfer_take(uint64_t key)
{
    ray_ref r = xfer_kept_ref(key);
    xfer_drop(key);
    return r;
}

ray_ref
xfer_kept_ref(uint64_t key)
{
    ray_ref r = RAY_REF_NULL;
    pthread_mutex_lock(&K.mu);
    kept *k = kept_find(key);
    if (k)
        k->users++;
    while (k && (k->state == KEPT_FILLING || k->state == KEPT_SEALING))
        pthread_cond_wait(&K.cv, &K.mu); /* its puller ends it */
    if (k && k->state == KEPT_READY && !k->gone &&
        ray_ref_retain(k->ref) == RAY_OK)
        r = k->ref;
    bool last = k && kept_unuse(k);
    pthread_mutex_unlock(&K.mu);
    if (last)
        kept_free(k);
    if (!r.id)
        sdk_fail(RAY_EOBJECT_LOST, "no value %llu kept on this node%s",
                 (unsigned long long)key, k ? " (its pull here failed)" : "");
    return r;
}

bool
xfer_kept_filling(uint64_t key)
{
    pthread_mutex_lock(&K.mu);
    kept *k = kept_find(key);
    bool filling = k && (k->state == KEPT_FILLING || k->state == KEPT_SEALING);
    pthread_mutex_unlock(&K.mu);
    return filling;
}

void
xfer_drop(uint64_t key)
{
    pthread_mutex_lock(&K.mu);
    kept *k = kept_remove(key);
    if (k)
        k->gone = true;
    bool now = k && !k->users;
    pthread_mutex_unlock(&K.mu);
    if (now)
        kept_free(k);
}

/* ---- copies kept as they land ---- */

static void fill_end(kept *k, const ray_ref *ref);

/* A filling entry for a copy of `size` bytes to be kept under `key`, in
 * the table, its puller (claimed: begun) a user: the one expected for it
 * (xfer_fill_expect), or a new one; NULL when that key is taken (a copy
 * is kept here already) or out of memory. A failed pull's entry gives
 * way. */
static kept *
fill_begin(uint64_t key, uint64_t size, bool claimed)
{
    pthread_mutex_lock(&K.mu);
    kept *had = kept_find(key);
    bool mine = claimed && had && had->state == KEPT_FILLING && !had->claimed &&
                had->len == size;
    if (mine)
        had->claimed = true;
    pthread_mutex_unlock(&K.mu);
    if (mine)
        return had;
    kept *k = rt_calloc(1, sizeof(*k));
    uint8_t *landed = rt_calloc(size / XFER_CHUNK + 1, 1);
    if (!k || !landed) {
        rt_free(k);
        rt_free(landed);
        return NULL;
    }
    *k = (kept){.key = key,
                .len = size,
                .users = 1,
                .state = KEPT_FILLING,
                .landed = landed,
                .claimed = claimed};
    pthread_mutex_lock(&K.mu);
    kept *was = kept_find(key);
    bool failed = was && was->state == KEPT_FAILED;
    if (failed) { /* an earlier pull's: this one goes in its place */
        (void)kept_remove(key);
        was->gone = true;
    }
    bool freed = failed && !was->users;
    bool ok = (!was || failed) && kept_put(k);
    pthread_mutex_unlock(&K.mu);
    if (freed)
        kept_free(was);
    if (!ok) {
        kept_free(k);
        return NULL;
    }
    return k;
}

void
xfer_fill_expect(uint64_t key, uint64_t size)
{
    (void)fill_begin(key, size, false);
}

void
xfer_fill_cancel(uint64_t key)
{
    pthread_mutex_lock(&K.mu);
    kept *k = kept_find(key);
    bool mine = k && k->state == KEPT_FILLING && !k->claimed;
    if (mine)
        k->claimed = true;
    pthread_mutex_unlock(&K.mu);
    if (mine)
        fill_end(k, NULL);
}

/* Its bytes land at dst from now on. */
static void
fill_at(kept *k, uint8_t *dst)
{
    pthread_mutex_lock(&K.mu);
    k->fill = dst;
    pthread_mutex_unlock(&K.mu);
}

/* The chunk at `off` has landed. */
static void
fill_landed(kept *k, uint64_t off)
{
    pthread_mutex_lock(&K.mu);
    k->landed[off / XFER_CHUNK] = 1;
    pthread_cond_broadcast(&K.cv);
    pthread_mutex_unlock(&K.mu);
}

/* The pull is over: nobody writes from its bytes once this returns (the
 * store may then seal or delete them). */
static void
fill_over(kept *k)
{
    pthread_mutex_lock(&K.mu);
    k->state = KEPT_SEALING;
    pthread_cond_broadcast(&K.cv);
    while (k->fill_users)
        pthread_cond_wait(&K.cv, &K.mu);
    pthread_mutex_unlock(&K.mu);
}

/* The copy is sealed as *ref (a ref of its own is taken), or failed
 * (ref NULL): ready, or out of the table. The puller's use ends. */
static void
fill_end(kept *k, const ray_ref *ref)
{
    pthread_mutex_lock(&K.mu);
    if (ref && ray_ref_retain(*ref) == RAY_OK) {
        k->ref = *ref;
        k->state = KEPT_READY;
    } else { /* it stays, failed, until its driver drops it */
        k->state = KEPT_FAILED;
    }
    k->fill = NULL;
    pthread_cond_broadcast(&K.cv);
    bool last = kept_unuse(k);
    pthread_mutex_unlock(&K.mu);
    if (last)
        kept_free(k);
}

/* Have the bytes [off, off + len) of filling k landed? (K.mu held) */
static bool
fill_has(const kept *k, uint64_t off, uint64_t len)
{
    for (uint64_t c = off / XFER_CHUNK; c * XFER_CHUNK < off + len; c++)
        if (!k->landed[c])
            return false;
    return true;
}

/* ---- the agent's server ---- */

static ray_err
reply(int fd, uint64_t id, uint64_t off, uint64_t len, ray_err err,
      const char *msg)
{
    Ray__Rpc__ObjectChunk c = RAY__RPC__OBJECT_CHUNK__INIT;
    c.id = id;
    c.offset = off;
    c.len = len;
    c.err = (uint32_t)err;
    c.message = (char *)(msg ? msg : "");
    return rt_frame_send(fd, RAY__RPC__MESSAGE_TYPE__MSG_OBJECT_CHUNK, &c.base,
                         XFER_IDLE_MS);
}

/* Send the asked bytes of value k, which the caller uses. */
static ray_err
serve_bytes(int fd, const Ray__Rpc__ObjectPull *q, kept *k)
{
    struct timespec dl = {0, 0};
    pthread_mutex_lock(&K.mu);
    while (k->state == KEPT_SEALING ||
           (k->state == KEPT_FILLING && !fill_has(k, q->offset, q->len)))
        if (!kept_wait(&dl, XFER_IDLE_MS))
            break;
    int state = k->state;
    uint8_t *from = state == KEPT_FILLING && fill_has(k, q->offset, q->len)
                        ? k->fill
                        : NULL;
    if (from)
        k->fill_users++;
    pthread_mutex_unlock(&K.mu);
    ray_err e;
    if (from) { /* landed, not sealed yet: its puller waits for this */
        e = reply(fd, q->id, q->offset, q->len, RAY_OK, NULL);
        atomic_fetch_add(&served, q->len);
        if (e == RAY_OK)
            e = io_all(fd, from + q->offset, q->len, true);
        pthread_mutex_lock(&K.mu);
        if (--k->fill_users == 0)
            pthread_cond_broadcast(&K.cv);
        pthread_mutex_unlock(&K.mu);
        return e;
    }
    if (state != KEPT_READY)
        return reply(fd, q->id, q->offset, 0, RAY_EOBJECT_LOST,
                     state == KEPT_FAILED
                         ? "the copy of it being pulled to this node failed"
                         : "the copy of it being pulled to this node "
                           "landed nothing for a minute");
    ray_view v = {0};
    if (ray_get(k->ref, &v, 60000) != RAY_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "the value kept here: %s",
                 ray_last_error_detail());
        return reply(fd, q->id, q->offset, 0, RAY_EOBJECT_LOST, msg);
    }
    e = reply(fd, q->id, q->offset, q->len, RAY_OK, NULL);
    atomic_fetch_add(&served, q->len);
    if (e == RAY_OK)
        e = io_all(fd, (uint8_t *)v.data + q->offset, q->len, true);
    ray_release(&v);
    return e;
}

static ray_err
serve_pull(int fd, const Ray__Rpc__ObjectPull *q)
{
    struct timespec dl = {0, 0};
    pthread_mutex_lock(&K.mu);
    kept *k = kept_find(q->id);
    /* A driver's key: a copy it named, which may not be pulled here yet */
    while (!k && q->id > K.next && kept_wait(&dl, XFER_EXPECT_MS))
        k = kept_find(q->id);
    if (k)
        k->users++;
    pthread_mutex_unlock(&K.mu);
    if (!k)
        return reply(fd, q->id, q->offset, 0, RAY_ENOTFOUND,
                     "no such value on this node (freed, or never kept)");
    ray_err e;
    if (q->offset > k->len || q->len > k->len - q->offset) {
        char msg[160];
        snprintf(msg, sizeof(msg), "bytes [%llu, +%llu) of a value of %llu",
                 (unsigned long long)q->offset, (unsigned long long)q->len,
                 (unsigned long long)k->len);
        e = reply(fd, q->id, q->offset, 0, RAY_EINVAL, msg);
    } else {
        e = serve_bytes(fd, q, k);
    }
    pthread_mutex_lock(&K.mu);
    bool last = kept_unuse(k);
    pthread_mutex_unlock(&K.mu);
    if (last)
        kept_free(k);
    return e;
}

static ray_err
serve_push(int fd, const Ray__Rpc__ObjectPush *q)
{
    if (!sdk_type_buffer(q->type) || q->size > SDK_ARG_MAX) {
        (void)reply(fd, 0, 0, 0, RAY_EPROTO, "a push of no buffer type");
        return RAY_EPROTO; /* its bytes cannot be trusted to end */
    }
    uint64_t key = 0;
    void *dst = NULL;
    ray_err e = sdk_store_begin(sdk_g, q->size, 30000, 0, &key, &dst);
    if (e != RAY_OK) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", ray_last_error_detail());
        ray_err s = io_skip(fd, q->size);
        return s != RAY_OK ? s : reply(fd, 0, 0, 0, e, msg);
    }
    ray_err s = io_all(fd, dst, q->size, false);
    if (s != RAY_OK) {
        sdk_store_end(sdk_g, key, false);
        return s;
    }
    e = sdk_store_end(sdk_g, key, true);
    ray_ref ref = RAY_REF_NULL;
    ray_view v = {0};
    if (e == RAY_OK) /* on failure, the value is deleted */
        e = sdk_put_key(sdk_g, q->type, key, &ref);
    if (e == RAY_OK) /* the view holds the value from now on */
        e = ray_get(ref, &v, 0);
    ray_ref_release(ref);
    uint64_t id = e == RAY_OK ? xfer_keep(&v) : 0;
    if (!id) {
        if (e == RAY_OK)
            ray_release(&v);
        return reply(fd, 0, 0, 0, e != RAY_OK ? e : RAY_ENOMEM,
                     e != RAY_OK ? ray_last_error_detail() : "out of memory");
    }
    return reply(fd, id, 0, q->size, RAY_OK, NULL);
}

void
xfer_serve(int fd)
{
    nonblocking(fd);
    for (;;) {
        uint32_t type;
        ProtobufCMessage *m = NULL;
        if (rt_frame_recv(fd, 0, &type, &m, -1) != RAY_OK)
            break;
        ray_err e = RAY_EPROTO;
        if (type == RAY__RPC__MESSAGE_TYPE__MSG_OBJECT_PULL)
            e = serve_pull(fd, (Ray__Rpc__ObjectPull *)m);
        else if (type == RAY__RPC__MESSAGE_TYPE__MSG_OBJECT_PUSH)
            e = serve_push(fd, (Ray__Rpc__ObjectPush *)m);
        else if (type == RAY__RPC__MESSAGE_TYPE__MSG_OBJECT_FREE) {
            xfer_drop(((Ray__Rpc__ObjectFree *)m)->id);
            e = RAY_OK;
        }
        rt_proto_free(m);
        if (e != RAY_OK)
            break;
    }
    close(fd);
}

/* ---- the driver's side ---- */

/* The agent's answer on `fd`: an ObjectChunk (*out, the caller frees),
 * or why not. */
static ray_err
answer(int fd, Ray__Rpc__ObjectChunk **out, char *why, size_t whylen)
{
    uint32_t type;
    ProtobufCMessage *m = NULL;
    ray_err e = rt_frame_recv(fd, 0, &type, &m, XFER_IDLE_MS);
    if (e != RAY_OK) {
        snprintf(why, whylen, "the data connection: %s",
                 rt_frame_last_detail());
        return e;
    }
    if (type != RAY__RPC__MESSAGE_TYPE__MSG_OBJECT_CHUNK) {
        rt_proto_free(m);
        snprintf(why, whylen, "the data connection: %s where a chunk was due",
                 rt_proto_type_name(type));
        return RAY_EPROTO;
    }
    *out = (Ray__Rpc__ObjectChunk *)m;
    return RAY_OK;
}

typedef struct stream {
    uint64_t off[XFER_DEPTH], len[XFER_DEPTH];
    int head, n;
} stream;

/* xfer_pull, telling `fill` (NULL: none) of each chunk as it lands. */
static ray_err
pull_chunks(const int *fds, int nfds, uint64_t key, uint8_t *dst, uint64_t size,
            kept *fill, char *why, size_t whylen)
{
    stream st[XFER_STREAMS] = {{{0}, {0}, 0, 0}};
    if (nfds < 1 || nfds > XFER_STREAMS) {
        snprintf(why, whylen, "%d streams", nfds);
        return RAY_EINVAL;
    }
    for (int s = 0; s < nfds; s++)
        nonblocking(fds[s]);
    uint64_t next = 0, got = 0;
    while (got < size) {
        /* Keep XFER_DEPTH chunks asked for on every stream. */
        for (int s = 0; s < nfds; s++)
            while (st[s].n < XFER_DEPTH && next < size) {
                uint64_t len =
                    size - next < XFER_CHUNK ? size - next : XFER_CHUNK;
                Ray__Rpc__ObjectPull q = RAY__RPC__OBJECT_PULL__INIT;
                q.id = key;
                q.offset = next;
                q.len = len;
                ray_err e = rt_frame_send(
                    fds[s], RAY__RPC__MESSAGE_TYPE__MSG_OBJECT_PULL, &q.base,
                    XFER_IDLE_MS);
                if (e != RAY_OK) {
                    snprintf(why, whylen, "the data connection: %s",
                             rt_frame_last_detail());
                    return e;
                }
                int at = (st[s].head + st[s].n++) % XFER_DEPTH;
                st[s].off[at] = next;
                st[s].len[at] = len;
                next += len;
            }
        struct pollfd p[XFER_STREAMS];
        for (int s = 0; s < nfds; s++)
            p[s] =
                (struct pollfd){.fd = st[s].n ? fds[s] : -1, .events = POLLIN};
        int r = poll(p, (nfds_t)nfds, XFER_IDLE_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(why, whylen, "the node sent nothing for %d s",
                     XFER_IDLE_MS / 1000);
            return RAY_ETIMEDOUT;
        }
        for (int s = 0; s < nfds; s++) {
            if (!p[s].revents)
                continue;
            Ray__Rpc__ObjectChunk *c = NULL;
            ray_err e = answer(fds[s], &c, why, whylen);
            if (e != RAY_OK)
                return e;
            uint64_t off = st[s].off[st[s].head], len = st[s].len[st[s].head];
            if (c->err) {
                e = (ray_err)c->err;
                snprintf(why, whylen, "%s", c->message);
            } else if (c->id != key || c->offset != off || c->len != len) {
                e = RAY_EPROTO;
                snprintf(why, whylen,
                         "the node sent bytes [%llu, +%llu) of value %llu "
                         "where [%llu, +%llu) of %llu were due",
                         (unsigned long long)c->offset,
                         (unsigned long long)c->len, (unsigned long long)c->id,
                         (unsigned long long)off, (unsigned long long)len,
                         (unsigned long long)key);
            }
            rt_proto_free(&c->base);
            if (e == RAY_OK &&
                (e = io_all(fds[s], dst + off, len, false)) != RAY_OK)
                snprintf(why, whylen, "the data connection: %s",
                         e == RAY_ECLOSED ? "closed" : rt_strerror(e));
            if (e != RAY_OK)
                return e;
            if (fill)
                fill_landed(fill, off);
            st[s].head = (st[s].head + 1) % XFER_DEPTH;
            st[s].n--;
            got += len;
        }
    }
    return RAY_OK;
}

ray_err
xfer_pull(const int *fds, int nfds, uint64_t key, void *dst, uint64_t size,
          char *why, size_t whylen)
{
    return pull_chunks(fds, nfds, key, dst, size, NULL, why, whylen);
}

ray_err
xfer_push(int fd, uint32_t type, const void *data, uint64_t len, uint64_t *key,
          char *why, size_t whylen)
{
    nonblocking(fd);
    Ray__Rpc__ObjectPush q = RAY__RPC__OBJECT_PUSH__INIT;
    q.type = type;
    q.size = len;
    ray_err e = rt_frame_send(fd, RAY__RPC__MESSAGE_TYPE__MSG_OBJECT_PUSH,
                              &q.base, XFER_IDLE_MS);
    if (e == RAY_OK)
        e = io_all(fd, (void *)data, len, true);
    if (e != RAY_OK) {
        snprintf(why, whylen, "the data connection: %s",
                 e == RAY_ECLOSED ? "closed" : rt_strerror(e));
        return e;
    }
    Ray__Rpc__ObjectChunk *c = NULL;
    if ((e = answer(fd, &c, why, whylen)) != RAY_OK)
        return e;
    e = (ray_err)c->err;
    if (e != RAY_OK)
        snprintf(why, whylen, "%s", c->message);
    *key = c->id;
    rt_proto_free(&c->base);
    return e;
}

ray_err
xfer_free(int fd, uint64_t key)
{
    Ray__Rpc__ObjectFree q = RAY__RPC__OBJECT_FREE__INIT;
    q.id = key;
    return rt_frame_send(fd, RAY__RPC__MESSAGE_TYPE__MSG_OBJECT_FREE, &q.base,
                         XFER_IDLE_MS);
}

ray_err
xfer_dial(const char *raylet, uint64_t job, const uint8_t *tok, int *fd,
          char *why, size_t whylen)
{
    *fd = -1;
    ray_err e = rt_dial(raylet, tok, "driver", fd, why, whylen);
    ProtobufCMessage *m = NULL;
    Ray__Rpc__AttachRequest q = RAY__RPC__ATTACH_REQUEST__INIT;
    q.job_id = job;
    q.data = true;
    if (e == RAY_OK)
        e = rt_net_call(*fd, RAY__RPC__MESSAGE_TYPE__MSG_ATTACH_REQUEST,
                        &q.base, RAY__RPC__MESSAGE_TYPE__MSG_ATTACH_REPLY, &m,
                        5000, why, whylen);
    if (e == RAY_OK) {
        Ray__Rpc__AttachReply *r = (Ray__Rpc__AttachReply *)m;
        if (r->status && r->status->code) {
            e = RAY_ENOTFOUND;
            snprintf(why, whylen, "the raylet at %s: %s", raylet,
                     r->status->message);
        }
        rt_proto_free(m);
    }
    if (e != RAY_OK && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return e;
}

/* ---- copies pulled here ----
 *
 * A value pulled from another node's agent is a secondary copy in this
 * node's store (STORE_CREATE_SECONDARY): when the store needs room it
 * evicts the copy rather than spill it, and the next get brings it back
 * through copy_fetch, the store's fetch hook, which pulls it again from
 * where it came. The table maps each such copy to its source until the
 * value is deleted here (xfer_copy_forget). It is searched linearly: it
 * holds only values of XFER_KEEP_MIN bytes or more that this node's
 * calls read, and a fetch costs a pull. */
typedef struct copy_src {
    uint64_t skey;      /* the stored value here */
    store_object_id id; /* its store id */
    char raylet[RT_HOST_MAX + 8];
    uint64_t job, key, size;
    const uint8_t *tok;
} copy_src;

static struct {
    pthread_mutex_t mu;
    copy_src *e;
    size_t n, cap;
} S = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};
static _Atomic size_t S_n; /* S.n, read without the lock */

/* Dial up to XFER_STREAMS data connections to job's agent on raylet:
 * how many (0: none, with why). */
static int
dial_streams(const char *raylet, uint64_t job, const uint8_t *tok, int *fds,
             char *why, size_t whylen)
{
    int n = 0;
    while (n < XFER_STREAMS &&
           xfer_dial(raylet, job, tok, &fds[n], why, whylen) == RAY_OK)
        n++;
    return n;
}

static void
close_streams(const int *fds, int n)
{
    for (int k = 0; k < n; k++)
        close(fds[k]);
}

static bool
copy_note(const copy_src *c)
{
    pthread_mutex_lock(&S.mu);
    copy_src *room = rt_array_room(S.e, S.n, &S.cap, sizeof(*S.e), 16);
    if (room) {
        S.e = room;
        S.e[S.n++] = *c;
        atomic_store(&S_n, S.n);
    }
    pthread_mutex_unlock(&S.mu);
    return room != NULL;
}

void
xfer_copy_forget(uint64_t skey)
{
    if (!atomic_load(&S_n))
        return;
    pthread_mutex_lock(&S.mu);
    for (size_t i = 0; i < S.n; i++)
        if (S.e[i].skey == skey) {
            S.e[i] = S.e[--S.n];
            break;
        }
    atomic_store(&S_n, S.n);
    pthread_mutex_unlock(&S.mu);
}

/* The store's fetch hook (store_client_set_fetch): pull evicted copy
 * `id` again from its source, into dst. */
static ray_err
copy_fetch(void *arg, const store_object_id *id, uint8_t *dst, uint64_t len,
           char *msg, size_t msglen)
{
    (void)arg;
    copy_src c;
    bool found = false;
    pthread_mutex_lock(&S.mu);
    for (size_t i = 0; i < S.n && !found; i++)
        if (!memcmp(&S.e[i].id, id, sizeof(*id))) {
            c = S.e[i];
            found = true;
        }
    pthread_mutex_unlock(&S.mu);
    if (!found || c.size != len) {
        snprintf(msg, msglen,
                 "an evicted copy of a value pulled from another node, "
                 "whose source is not known here");
        return RAY_EOBJECT_LOST;
    }
    char why[300] = "";
    int fds[XFER_STREAMS];
    int n = dial_streams(c.raylet, c.job, c.tok, fds, why, sizeof(why));
    ray_err e =
        n ? xfer_pull(fds, n, c.key, dst, len, why, sizeof(why)) : RAY_ECLOSED;
    close_streams(fds, n);
    if (e != RAY_OK) {
        snprintf(msg, msglen,
                 "the copy here (%llu bytes) was evicted to make room, and "
                 "pulling it again from the node at %s failed: %s",
                 (unsigned long long)len, c.raylet, why);
        return RAY_EOBJECT_LOST;
    }
    atomic_fetch_add(&sdk_xfer_bytes[0], len);
    return RAY_OK;
}

ray_err
xfer_pull_ref(const char *raylet, uint64_t job, const uint8_t *tok,
              uint64_t key, uint64_t size, uint32_t type, uint64_t keep_as,
              ray_ref *ref, char *why, size_t whylen)
{
    /* In the table first: a pull of it may come before its bytes do. */
    kept *fill = keep_as ? fill_begin(keep_as, size, true) : NULL;
    int fds[XFER_STREAMS];
    int n = dial_streams(raylet, job, tok, fds, why, whylen);
    ray_err e = n ? RAY_OK : RAY_ECLOSED;
    copy_src c = {.job = job, .key = key, .size = size, .tok = tok};
    void *dst = NULL;
    if (n) { /* one stream will do */
        store_client *sc = sdk_store_ensure(sdk_g);
        if (sc) /* each time: a new runtime has a new store */
            (void)store_client_set_fetch(sc, copy_fetch, NULL);
        e = sdk_store_begin(sdk_g, size, 60000, STORE_CREATE_SECONDARY, &c.skey,
                            &dst);
    }
    if (e == RAY_OK) {
        snprintf(c.raylet, sizeof(c.raylet), "%s", raylet);
        store_plasma_id(sdk_g->store_prefix, c.skey, &c.id);
        if (fill)
            fill_at(fill, dst);
        e = pull_chunks(fds, n, key, dst, size, fill, why, whylen);
    } else if (n) {
        snprintf(why, whylen, "%s", ray_last_error_detail());
    }
    close_streams(fds, n);
    if (fill)
        fill_over(fill); /* nobody reads dst from here on */
    if (e == RAY_OK && !copy_note(&c)) {
        e = RAY_ENOMEM;
        snprintf(why, whylen, "out of memory");
    }
    if (c.skey && sdk_store_end(sdk_g, c.skey, e == RAY_OK) != RAY_OK &&
        e == RAY_OK) {
        e = RAY_ESTORE_FULL;
        snprintf(why, whylen, "%s", ray_last_error_detail());
    }
    if (e == RAY_OK && (e = sdk_put_key(sdk_g, type, c.skey, ref)) != RAY_OK)
        snprintf(why, whylen, "%s", ray_last_error_detail());
    if (e != RAY_OK && c.skey)
        xfer_copy_forget(c.skey);
    if (fill)
        fill_end(fill, e == RAY_OK ? ref : NULL);
    return e;
}

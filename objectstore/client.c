/* SPDX-License-Identifier: Apache-2.0
 *
 * client.c: the object-store client library.
 *
 * A client maps the store's region twice: read-write (populated, so puts
 * write at memory speed) for objects it creates, and read-only for the
 * views get returns. Its pins live in two places: one bit per client in
 * each pinned slot (shared; the store reads it to decide what may be
 * deleted, evicted or spilled, and clears it if the client dies) and a
 * private count per slot of how many gets this client has not released
 * yet, so only the first get and the last release touch the shared bit.
 *
 * get resolves IDs from the shared index without a lock and pins with the
 * handshake of table.h; only a spilled object needs the store (RESTORE).
 * An object that does not exist or is not sealed yet is waited for on the
 * region's seal futex, in slices of at most 50 ms, until the deadline.
 *
 * Threading: `mu` guards the private pin counts and the socket; the
 * futex wait happens with it released.
 */
#include "objectstore/client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "objectstore/shm.h"
#include "objectstore/store_int.h"
#include "objectstore/table.h"
#include "objectstore/wire.h"
#include "runtime/fdpass.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"

#define RPC_TIMEOUT_MS 60000
#define WAIT_SLICE_MS 50
#define SPIN_NS 30000

struct store_client {
    pthread_mutex_t mu;
    int fd;              /* socket, or -1 for a local client; guarded by mu */
    store_core *core;    /* local clients only; immutable */
    uint32_t idx;        /* client index; immutable */
    uint8_t *rw;         /* read-write view; immutable */
    uint8_t *ro;         /* read-only view; immutable */
    bool own_rw;         /* rw was mapped by us */
    uint64_t region_size;
    store_header *hdr;
    store_slot *slots;
    uint32_t *pins;      /* private pin count per slot; guarded by mu */
    char err[256];       /* guarded by mu */
};

/* ------------------------------------------------------------------ */
/* Private helpers                                                     */
/* ------------------------------------------------------------------ */

static ray_err
set_err(store_client *c, ray_err rc, const char *msg)
{
    if (rc == RAY_OK)
        c->err[0] = '\0';
    else
        snprintf(c->err, sizeof c->err, "%s", msg && msg[0] ? msg : rt_strerror(rc));
    return rc;
}

/* Send one request and read its reply (and the fd sent with it, if
 * `fd_out`; any other fd is closed). */
static ray_err
rpc_once(store_client *c, store_wire_req *q, store_wire_reply *r, int *fd_out)
{
    q->magic = STORE_WIRE_MAGIC;
    q->len = sizeof *q;
    ray_err rc = rt_fdpass_send(c->fd, NULL, 0, q, sizeof *q, RPC_TIMEOUT_MS);
    if (rc != RAY_OK)
        return rc;
    /* The store answers in a few microseconds when its thread is awake:
     * spin briefly before sleeping in poll (a wake-up costs 15-25 us). */
    int64_t spin_end = rt_clock_now_ns() + SPIN_NS;
    for (;;) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 0) != 0 || rt_clock_now_ns() > spin_end)
            break;
    }
    int fds[1];
    size_t nfds = 0;
    rc = rt_fdpass_recv(c->fd, fds, 1, &nfds, r, sizeof *r, RPC_TIMEOUT_MS);
    if (rc != RAY_OK)
        return rc;
    if (nfds == 1) {
        if (fd_out && *fd_out < 0)
            *fd_out = fds[0];
        else
            close(fds[0]);
    }
    if (r->magic != STORE_WIRE_MAGIC || r->type != q->type)
        return RAY_EPROTO;
    r->msg[sizeof r->msg - 1] = '\0';
    return RAY_OK;
}

/* Send one request and read its reply (and the fd sent with it, if
 * `fd_out`; any other fd is closed). A transport failure leaves the
 * stream out of step, so the connection is closed for good: the store
 * then drops this client's pins, and later calls return RAY_ECLOSED. */
static ray_err
rpc(store_client *c, store_wire_req *q, store_wire_reply *r, int *fd_out)
{
    if (c->fd < 0)
        return RAY_ECLOSED;
    ray_err rc = rpc_once(c, q, r, fd_out);
    if (rc != RAY_OK) {
        close(c->fd);
        c->fd = -1;
    }
    return rc;
}

static ray_err
map_views(store_client *c, int memfd, uint8_t *rw)
{
    void *p;
    ray_err rc;
    if (!rw) {
        rc = store_shm_map(memfd, c->region_size, true, true, &p);
        if (rc != RAY_OK)
            return rc;
        c->rw = p;
        c->own_rw = true;
    } else {
        c->rw = rw;
    }
    rc = store_shm_map(memfd, c->region_size, false, false, &p);
    if (rc != RAY_OK)
        return rc;
    c->ro = p;
    c->hdr = (store_header *)c->rw;
    if (!store_table_valid(c->hdr, c->region_size))
        return RAY_EPROTO;
    c->slots = store_layout_slots(c->hdr);
    c->pins = rt_calloc(c->hdr->nslots, sizeof *c->pins);
    return c->pins ? RAY_OK : RAY_ENOMEM;
}

static store_client *
client_new(void)
{
    store_client *c = rt_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->fd = -1;
    return c;
}

static void
client_free(store_client *c)
{
    if (c->own_rw)
        store_shm_unmap(c->rw, c->region_size);
    store_shm_unmap(c->ro, c->region_size);
    if (c->fd >= 0)
        close(c->fd);
    rt_free(c->pins);
    pthread_mutex_destroy(&c->mu);
    rt_free(c);
}

static ray_err
connect_once(const char *path, int *fd_out)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return RAY_EINVAL;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return rt_err_from_errno(errno);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int e = errno;
        close(fd);
        return (e == ENOENT || e == ECONNREFUSED) ? RAY_ECLOSED
                                                  : rt_err_from_errno(e);
    }
    *fd_out = fd;
    return RAY_OK;
}

/* Fill a view of slot `slot` (pinned by us). */
static void
fill_view(store_client *c, uint32_t slot, uint64_t offset, store_buffer *b)
{
    store_slot *s = &c->slots[slot];
    b->data = c->ro + offset;
    b->data_size = s->data_size;
    b->meta = b->data + s->data_size;
    b->meta_size = s->meta_size;
    atomic_store_explicit(&s->last_access, (uint64_t)rt_clock_now_ns(),
                          memory_order_relaxed);
}

enum { GOT, NOT_READY, SPILLED };

/* Under mu: the lock-free get of one object. */
static int
try_get(store_client *c, const store_object_id *id, store_buffer *b)
{
    int64_t slot = store_table_find(c->hdr, id);
    if (slot < 0)
        return NOT_READY;
    store_slot *s = &c->slots[slot];
    if (c->pins[slot] > 0) {
        /* We pin this slot already, so it cannot change under us. */
        if (atomic_load(&s->state) != STORE_SLOT_SEALED ||
            !store_slot_id_eq(s, id))
            return NOT_READY;
        c->pins[slot]++;
        fill_view(c, (uint32_t)slot, s->offset, b);
        return GOT;
    }
    uint32_t st;
    if (store_slot_try_pin(s, c->idx, id, &st)) {
        c->pins[slot] = 1;
        fill_view(c, (uint32_t)slot, s->offset, b);
        return GOT;
    }
    return st == STORE_SLOT_SPILLED ? SPILLED : NOT_READY;
}

/* Under mu: ask the store to restore a spilled object for us. */
static ray_err
restore(store_client *c, const store_object_id *id, store_buffer *b)
{
    uint32_t slot = 0;
    uint64_t offset = 0;
    ray_err rc;
    char msg[192] = "";
    if (c->core) {
        rc = store_core_restore(c->core, c->idx, id, &slot, &offset, msg,
                                sizeof msg);
    } else {
        store_wire_req q = {.type = STORE_WIRE_RESTORE};
        memcpy(q.id, id->b, sizeof q.id);
        store_wire_reply r;
        rc = rpc(c, &q, &r, NULL);
        if (rc == RAY_OK) {
            rc = (ray_err)r.status;
            slot = r.slot;
            offset = r.offset;
            memcpy(msg, r.msg, sizeof msg);
        }
    }
    if (rc == RAY_OK) {
        if (slot >= c->hdr->nslots)
            return RAY_EPROTO;
        c->pins[slot] = 1;
        fill_view(c, slot, offset, b);
    }
    if (rc != RAY_OK && rc != RAY_EAGAIN && rc != RAY_ENOTFOUND)
        set_err(c, rc, msg);
    return rc;
}

/* ------------------------------------------------------------------ */
/* API                                                                 */
/* ------------------------------------------------------------------ */

ray_err
store_client_connect(const char *socket_path, int64_t timeout_ms,
                     store_client **out)
{
    if (!socket_path || !out)
        return RAY_EINVAL;
    store_client *c = client_new();
    if (!c)
        return RAY_ENOMEM;
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    ray_err rc;
    for (;;) {
        rc = connect_once(socket_path, &c->fd);
        if (rc != RAY_ECLOSED || rt_clock_now_ns() >= deadline)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rc != RAY_OK)
        goto fail;
    store_wire_req q = {.type = STORE_WIRE_HELLO, .pid = (uint32_t)getpid()};
    store_wire_reply r;
    int memfd = -1;
    rc = rpc(c, &q, &r, &memfd);
    if (rc == RAY_OK)
        rc = (ray_err)r.status;
    if (rc == RAY_OK && memfd < 0)
        rc = RAY_EPROTO;
    if (rc != RAY_OK) {
        if (memfd >= 0)
            close(memfd);
        goto fail;
    }
    c->idx = r.client;
    c->region_size = r.region_size;
    rc = c->idx < STORE_MAX_CLIENTS ? map_views(c, memfd, NULL) : RAY_EPROTO;
    close(memfd);
    if (rc != RAY_OK)
        goto fail;
    *out = c;
    return RAY_OK;
fail:
    client_free(c);
    return rc;
}

ray_err
store_client_open_local(store_server *srv, store_client **out)
{
    if (!srv || !out)
        return RAY_EINVAL;
    store_client *c = client_new();
    if (!c)
        return RAY_ENOMEM;
    store_core *core = store_server_core(srv);
    ray_err rc = store_core_client_add(core, &c->idx);
    if (rc != RAY_OK) {
        client_free(c);
        return rc;
    }
    c->core = core;
    c->region_size = core->region_size;
    rc = map_views(c, core->memfd, core->base);
    if (rc != RAY_OK) {
        store_core_client_remove(core, c->idx);
        client_free(c);
        return rc;
    }
    *out = c;
    return RAY_OK;
}

void
store_client_close(store_client *c)
{
    if (!c)
        return;
    if (c->core)
        store_core_client_remove(c->core, c->idx);
    /* A remote client's pins and creations are dropped by the store when
     * it sees the socket close. */
    client_free(c);
}

uint32_t
store_client_index(const store_client *c)
{
    return c->idx;
}

const char *
store_client_last_error(store_client *c)
{
    return c->err;
}

ray_err
store_client_create(store_client *c, const store_object_id *id,
                    uint64_t data_size, uint64_t meta_size, uint32_t flags,
                    store_wbuffer *out)
{
    if (!c || !id || !out)
        return RAY_EINVAL;
    uint32_t slot = 0;
    uint64_t offset = 0;
    char msg[192] = "";
    ray_err rc;
    pthread_mutex_lock(&c->mu);
    if (c->core) {
        rc = store_core_create_object(c->core, c->idx, id, data_size,
                                      meta_size, flags, &slot, &offset, msg,
                                      sizeof msg);
    } else {
        store_wire_req q = {.type = STORE_WIRE_CREATE, .flags = flags,
                            .data_size = data_size, .meta_size = meta_size};
        memcpy(q.id, id->b, sizeof q.id);
        store_wire_reply r;
        rc = rpc(c, &q, &r, NULL);
        if (rc == RAY_OK) {
            rc = (ray_err)r.status;
            slot = r.slot;
            offset = r.offset;
            memcpy(msg, r.msg, sizeof msg);
        }
        if (rc == RAY_OK && (slot >= c->hdr->nslots ||
                             offset + data_size + meta_size > c->region_size))
            rc = RAY_EPROTO;
    }
    if (rc == RAY_OK) {
        c->pins[slot] = 1;
        out->data = c->rw + offset;
        out->data_size = data_size;
        out->meta = out->data + data_size;
        out->meta_size = meta_size;
    }
    set_err(c, rc, msg);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

ray_err
store_client_seal(store_client *c, const store_object_id *id)
{
    if (!c || !id)
        return RAY_EINVAL;
    return store_seal_slot(c->hdr, c->idx, id);
}

ray_err
store_client_abort(store_client *c, const store_object_id *id)
{
    if (!c || !id)
        return RAY_EINVAL;
    pthread_mutex_lock(&c->mu);
    int64_t slot = store_table_find(c->hdr, id);
    ray_err rc;
    if (c->core) {
        rc = store_core_abort(c->core, c->idx, id);
    } else {
        store_wire_req q = {.type = STORE_WIRE_ABORT};
        memcpy(q.id, id->b, sizeof q.id);
        store_wire_reply r;
        rc = rpc(c, &q, &r, NULL);
        if (rc == RAY_OK)
            rc = (ray_err)r.status;
    }
    if (rc == RAY_OK && slot >= 0)
        c->pins[slot] = 0;
    set_err(c, rc, NULL);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

ray_err
store_client_get(store_client *c, const store_object_id *ids, size_t n,
                 int64_t timeout_ms, store_buffer *out)
{
    if (!c || (n && (!ids || !out)))
        return RAY_EINVAL;
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    memset(out, 0, n * sizeof *out);
    size_t left = n;
    ray_err rc = RAY_OK;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        uint32_t seen = store_table_seal_seq(c->hdr);
        for (size_t i = 0; i < n && rc == RAY_OK; i++) {
            if (out[i].data)
                continue;
            int r = try_get(c, &ids[i], &out[i]);
            if (r == SPILLED) {
                ray_err e = restore(c, &ids[i], &out[i]);
                if (e != RAY_OK && e != RAY_EAGAIN && e != RAY_ENOTFOUND)
                    rc = e; /* store full or I/O error: give up */
                else if (e == RAY_OK)
                    r = GOT;
            }
            if (r == GOT)
                left--;
        }
        if (rc != RAY_OK || left == 0)
            break;
        pthread_mutex_unlock(&c->mu);
        bool more = store_table_wait(c->hdr, seen, deadline, WAIT_SLICE_MS);
        pthread_mutex_lock(&c->mu);
        if (!more) {
            rc = RAY_ETIMEDOUT;
            snprintf(c->err, sizeof c->err,
                     "%zu of %zu object(s) not sealed in the store within "
                     "%lld ms", left, n, (long long)timeout_ms);
            break;
        }
    }
    if (rc == RAY_OK)
        c->err[0] = '\0';
    pthread_mutex_unlock(&c->mu);
    return rc;
}

ray_err
store_client_release(store_client *c, const store_object_id *id)
{
    if (!c || !id)
        return RAY_EINVAL;
    ray_err rc = RAY_OK;
    pthread_mutex_lock(&c->mu);
    int64_t slot = store_table_find(c->hdr, id);
    if (slot < 0 || c->pins[slot] == 0 ||
        !store_slot_id_eq(&c->slots[slot], id)) {
        rc = set_err(c, RAY_ENOTFOUND, "this client holds no pin on the object");
    } else if (--c->pins[slot] == 0) {
        store_slot_unpin(&c->slots[slot], c->idx);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

ray_err
store_client_delete(store_client *c, const store_object_id *id)
{
    if (!c || !id)
        return RAY_EINVAL;
    ray_err rc;
    pthread_mutex_lock(&c->mu);
    if (c->core) {
        rc = store_core_delete(c->core, id);
    } else {
        store_wire_req q = {.type = STORE_WIRE_DELETE};
        memcpy(q.id, id->b, sizeof q.id);
        store_wire_reply r;
        rc = rpc(c, &q, &r, NULL);
        if (rc == RAY_OK)
            rc = (ray_err)r.status;
    }
    set_err(c, rc, rc == RAY_EBUSY ? "object is pinned or being created"
                                   : NULL);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

bool
store_client_contains(store_client *c, const store_object_id *id)
{
    if (!c || !id)
        return false;
    int64_t slot = store_table_find(c->hdr, id);
    if (slot < 0)
        return false;
    store_slot *s = &c->slots[slot];
    uint32_t st = atomic_load(&s->state);
    return (st == STORE_SLOT_SEALED || st == STORE_SLOT_SPILLED ||
            st == STORE_SLOT_BUSY) && store_slot_id_eq(s, id);
}

ray_err
store_client_stats(store_client *c, store_stats *out)
{
    if (!c || !out)
        return RAY_EINVAL;
    ray_err rc = RAY_OK;
    pthread_mutex_lock(&c->mu);
    if (c->core) {
        store_core_stats(c->core, out);
    } else {
        store_wire_req q = {.type = STORE_WIRE_STATS};
        store_wire_reply r;
        rc = rpc(c, &q, &r, NULL);
        if (rc == RAY_OK) {
            uint64_t *v = r.stats;
            *out = (store_stats){
                .capacity = v[0], .bytes_used = v[1], .bytes_pinned = v[2],
                .bytes_spilled = v[3], .objects_in_memory = v[4],
                .objects_creating = v[5], .objects_spilled = v[6],
                .evictions = v[7], .spills = v[8], .restores = v[9],
                .clients = r.clients};
        }
    }
    set_err(c, rc, NULL);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

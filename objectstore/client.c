/* SPDX-License-Identifier: Apache-2.0
 *
 * client.c: the object-store client library.
 *
 * A client maps the store's region twice: read-write for objects it
 * creates, and read-only for the views get returns. In the read-write
 * mapping the header and the index are read-only too (mprotect), so a
 * stray write there faults in the client that made it; what stays
 * writable is the shared page, the slots (the pin and seal handshakes)
 * and the heap (payloads). Every location read from a slot is
 * bounds-checked against the heap before a view is built from it, so a
 * slot scribbled over by a faulty client yields RAY_EPROTO, never a
 * pointer outside the mapping.
 *
 * Its pins live in two places: one bit per client in each pinned slot
 * (shared; the store reads it to decide what may be deleted, evicted or
 * spilled, and clears it if the client dies) and a private count per slot
 * of how many gets this client has not released yet, so only the first
 * get and the last release touch the shared bit.
 *
 * get resolves IDs from the shared index without a lock and pins with the
 * handshake of table.h; only a spilled object needs the store (restore).
 *
 * The slow-path calls of a socket client are protobuf-c frames
 * (runtime/frame.h, object_store.proto): one request, then one reply,
 * through a frame writer and reader whose buffers the connection keeps,
 * so a call allocates only its unpacked reply. The reply of a store whose
 * thread is awake arrives in a few microseconds, so the client spins on
 * the socket for a short while before sleeping in poll(2).
 * An object that does not exist or is not sealed yet is waited for on the
 * region's seal futex, in slices of at most 50 ms, until the deadline.
 *
 * Losing the index: the store takes an idle client's connection and index
 * back when it pins and creates nothing (store.h), and any closed
 * connection frees the index. The client reads its index's epoch at
 * connect (then checks that its socket is still open: the store closes it
 * before it reuses an index, so the value read was ours) and re-reads it
 * after every pin bit it sets (store_slot_pin_checked): a changed epoch
 * means the pin may not count. If this client holds no pins, it then
 * reconnects to the same region (same memfd inode) and retries the call
 * (up to RECONNECT_TRIES times), which is safe: an index is taken back
 * only from a client with nothing in flight, and a request the store saw
 * before it closed the connection has the same effect when repeated
 * (create of an object the close aborted, delete or abort of what is
 * gone, restore of what is in memory). With pins held, the loss is
 * reported (RAY_ECLOSED): those views are no longer protected.
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
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "objectstore/shm.h"
#include "objectstore/store_int.h"
#include "objectstore/table.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fdpass.h"
#include "runtime/fdwait.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "runtime/protocol/registry.h"

#define RPC_TIMEOUT_MS 60000
#define WAIT_SLICE_MS 50
#define SPIN_NS 30000

struct store_client {
    pthread_mutex_t mu;
    int fd;               /* socket, or -1 for a local client; guarded by mu */
    store_core *core;     /* local clients only; immutable */
    char *path;           /* socket path; immutable */
    uint32_t idx;         /* client index; guarded by mu (changes only on a
                             reconnect, which needs this client to hold no
                             pin: seal, which needs one, reads it bare) */
    uint32_t epoch;       /* of idx (layout.h); guarded by mu */
    dev_t region_dev;     /* the region's memfd, to recognise it when */
    ino_t region_ino;     /* reconnecting; immutable */
    uint8_t *rw;          /* read-write view (header, index read-only);
                             immutable */
    uint8_t *ro;          /* read-only view; immutable */
    uint64_t region_size; /* immutable */
    uint64_t heap_off;    /* immutable */
    store_table t;        /* private geometry over rw; immutable */
    uint32_t *pins;       /* private pin count per slot; guarded by mu */
    uint64_t *built;      /* one bit per PREFAULT_CHUNK of rw whose page
                             tables are built; guarded by mu */
    rt_frame_reader rd;   /* replies; guarded by mu */
    rt_frame_writer wr;   /* requests; guarded by mu */
    char err[512];        /* guarded by mu */
};

#define MSG_LEN 384 /* room for a reply's status message */
/* Times a call reconnects after losing its index before it gives up (an
 * index is taken back only after a whole idle timeout: more than one
 * loss in a call means a client stalled longer than that each time). */
#define RECONNECT_TRIES 4

/* Page tables of the read-write view are built a chunk at a time, the
 * first time an object of at least PREFAULT_MIN bytes lands in it; the
 * store never gives pages back, so each chunk is built once per client. */
#define PREFAULT_CHUNK (2ull << 20)
#define PREFAULT_MIN (64u << 10)

/* ------------------------------------------------------------------ */
/* Private helpers                                                     */
/* ------------------------------------------------------------------ */

static ray_err reconnect(store_client *c, char *msg);

static ray_err
set_err(store_client *c, ray_err rc, const char *msg)
{
    if (rc == RAY_OK)
        c->err[0] = '\0';
    else
        snprintf(c->err, sizeof c->err, "%s",
                 msg && msg[0] ? msg : rt_strerror(rc));
    return rc;
}

/* Send the queued request. */
static ray_err
send_request(store_client *c, int64_t deadline)
{
    for (;;) {
        ray_err rc = rt_frame_writer_flush(&c->wr, c->fd);
        if (rc != RAY_EAGAIN)
            return rc;
        rc = rt_fd_wait(c->fd, POLLOUT, deadline);
        if (rc != RAY_OK)
            return rc;
    }
}

/* Take the header of the connect reply with the fd passed along with it
 * (the rest of the frame is read as usual). */
static ray_err
recv_fd_header(store_client *c, int *fd_out, int64_t deadline)
{
    uint8_t hdr[RT_FRAME_HEADER_LEN];
    int fds[1];
    size_t nfds = 0;
    ray_err rc = rt_fdpass_recv(c->fd, fds, 1, &nfds, hdr, sizeof hdr,
                                rt_deadline_left_ms(deadline));
    if (rc != RAY_OK)
        return rc;
    if (nfds == 1)
        *fd_out = fds[0];
    return rt_frame_reader_feed(&c->rd, hdr, sizeof hdr);
}

/* Read the reply, which must be of type `want`. The store answers in a
 * few microseconds when its thread is awake: spin on poll(2) with a zero
 * timeout briefly before sleeping in it (a wake-up costs 15-25 us).
 * Spinning on poll rather than recv(2) keeps the spinner off the socket's
 * receive lock, which the store's send needs. */
static ray_err
recv_reply(store_client *c, uint32_t want, ProtobufCMessage **out,
           int64_t deadline)
{
    int64_t spin_end = rt_clock_now_ns() + SPIN_NS;
    for (;;) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 0) != 0 || rt_clock_now_ns() > spin_end)
            break;
    }
    for (;;) {
        uint32_t type;
        ProtobufCMessage *m;
        ray_err rc = rt_frame_reader_read(&c->rd, c->fd, &type, &m);
        if (rc == RAY_OK && type != want) {
            protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
            return RAY_EPROTO;
        }
        if (rc == RAY_OK)
            *out = m;
        if (rc != RAY_EAGAIN)
            return rc;
        rc = rt_fd_wait(c->fd, POLLIN, deadline);
        if (rc != RAY_OK)
            return rc;
    }
}

/* One round trip: send `q` (of type `qtype`) and return the reply of type
 * `rtype` in *reply (free it with protobuf_c_message_free_unpacked). With
 * `fd_out`, the reply carries a descriptor, stored there. A failure to
 * pack the request (RAY_ENOMEM) sends nothing; any later failure leaves
 * the stream out of step, so the connection is closed: the store then
 * drops this client's pins and frees its index, and later calls return
 * RAY_ECLOSED, unless the client holds no pins and reconnects (rpc).
 * `msg` (MSG_LEN bytes) receives the reason of a failure. */
static ray_err
rpc_once(store_client *c, uint32_t qtype, const ProtobufCMessage *q,
         uint32_t rtype, ProtobufCMessage **reply, int *fd_out, char *msg)
{
    if (c->fd < 0) {
        snprintf(msg, MSG_LEN, "the connection to the store is closed");
        return RAY_ECLOSED;
    }
    ray_err rc = rt_frame_writer_put(&c->wr, qtype, q);
    if (rc != RAY_OK) {
        snprintf(msg, MSG_LEN, "%s", rt_frame_writer_detail(&c->wr));
        return rc;
    }
    int64_t deadline = rt_deadline_after_ms(RPC_TIMEOUT_MS);
    rc = send_request(c, deadline);
    if (rc == RAY_OK && fd_out)
        rc = recv_fd_header(c, fd_out, deadline);
    if (rc == RAY_OK)
        rc = recv_reply(c, rtype, reply, deadline);
    if (rc == RAY_OK)
        return RAY_OK;
    const char *d = rt_frame_reader_detail(&c->rd);
    if (!d[0])
        d = rc == RAY_EPROTO ? "unexpected reply" : rt_strerror(rc);
    snprintf(msg, MSG_LEN, "store connection failed (%s): %s",
             rt_proto_type_name(qtype), d);
    close(c->fd);
    c->fd = -1;
    return rc;
}

/* True if the peer closed `fd` (no wait). */
static bool
socket_closed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) == 1 &&
           (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Under mu: whether the store took this socket client's index (layout.h:
 * its epoch is not ours). Never for a local client. */
static bool
lost_index(store_client *c)
{
    return !c->core && atomic_load(&c->t.hdr->client_epoch[c->idx]) != c->epoch;
}

/* Under mu: this client's pins, summed (a rare path: a lost index). */
static bool
holds_pins(store_client *c)
{
    for (uint32_t i = 0; i < c->t.nslots; i++)
        if (c->pins[i])
            return true;
    return false;
}

/* Under mu: the epoch changed. Wait (at most 5 s: the store decides in
 * one scan of its slots) for the store to give it back (it found a pin of
 * ours) or to close our socket (it took the index), then reconnect if we
 * hold no pins. RAY_OK when the client is usable. */
static ray_err
recover_index(store_client *c, char *msg)
{
    int64_t deadline = rt_deadline_after_ms(5000);
    for (;;) {
        if (!lost_index(c))
            return RAY_OK;
        if (c->fd < 0 || socket_closed(c->fd))
            break;
        if (rt_clock_now_ns() >= deadline) {
            snprintf(msg, MSG_LEN,
                     "the store neither kept nor closed this "
                     "client's connection");
            return RAY_ETIMEDOUT;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
        (void)poll(&p, 1, 1);
    }
    if (holds_pins(c)) {
        snprintf(msg, MSG_LEN,
                 "the store closed this client's connection "
                 "while it held pins");
        return RAY_ECLOSED;
    }
    return reconnect(c, msg);
}

/* One round trip (rpc_once), over a new connection if the store had
 * taken this client's index back (see the header). The connect request
 * itself goes through rpc_once. */
static ray_err
rpc(store_client *c, uint32_t qtype, const ProtobufCMessage *q, uint32_t rtype,
    ProtobufCMessage **reply, char *msg)
{
    for (int i = 0;; i++) {
        if (lost_index(c) && recover_index(c, msg) != RAY_OK)
            return RAY_ECLOSED;
        ray_err rc = rpc_once(c, qtype, q, rtype, reply, NULL, msg);
        if (rc == RAY_OK || !lost_index(c) || i + 1 == RECONNECT_TRIES)
            return rc;
    }
}

/* The ray_err a reply's status carries (1:1; an absent Status is code 0,
 * RAY_OK, as proto3 reads it), with its message in `msg`. */
static ray_err
reply_status(const Ray__Rpc__Status *st, char *msg)
{
    if (!st) {
        msg[0] = '\0';
        return RAY_OK;
    }
    snprintf(msg, MSG_LEN, "%s", st->message ? st->message : "");
    return (ray_err)st->code;
}

/* Check a reply's location of object `id` (it must name that object and
 * lie inside the region) and take its slot and offset. */
static ray_err
take_location(store_client *c, const Ray__Rpc__StoreObjectLocation *loc,
              const store_object_id *id, uint32_t *slot, uint64_t *offset,
              char *msg)
{
    if (!loc || loc->object_id.len != STORE_ID_SIZE ||
        memcmp(loc->object_id.data, id->b, STORE_ID_SIZE) != 0 ||
        loc->slot >= c->t.nslots || loc->offset < c->heap_off ||
        loc->offset > c->region_size ||
        loc->data_size > c->region_size - loc->offset ||
        loc->metadata_size > c->region_size - loc->offset - loc->data_size) {
        snprintf(msg, MSG_LEN, "store reply with a bad object location");
        return RAY_EPROTO;
    }
    *slot = loc->slot;
    *offset = loc->offset;
    return RAY_OK;
}

static ProtobufCBinaryData
id_bytes(const store_object_id *id)
{
    return (ProtobufCBinaryData){.len = STORE_ID_SIZE,
                                 .data = (uint8_t *)id->b};
}

/* Map the region (`region_size` bytes of `memfd`) twice, check its
 * header, make the header and index read-only in the read-write view and
 * take the table's geometry once. */
static ray_err
map_views(store_client *c, int memfd)
{
    void *p;
    ray_err rc = store_shm_map(memfd, c->region_size, true, &p);
    if (rc != RAY_OK)
        return rc;
    c->rw = p;
    rc = store_shm_map(memfd, c->region_size, false, &p);
    if (rc != RAY_OK)
        return rc;
    c->ro = p;
    const store_header *h = (const store_header *)c->ro;
    if (!store_table_valid(h, c->region_size))
        return RAY_EPROTO;
    rc = store_shm_protect(c->rw, h->shared_off);
    if (rc != RAY_OK)
        return rc;
    store_table_attach(&c->t, c->rw);
    c->heap_off = h->heap_off;
    c->pins = rt_calloc(c->t.nslots, sizeof *c->pins);
    uint64_t chunks = (c->region_size + PREFAULT_CHUNK - 1) / PREFAULT_CHUNK;
    c->built = rt_calloc((size_t)(chunks + 63) / 64, sizeof *c->built);
    return c->pins && c->built ? RAY_OK : RAY_ENOMEM;
}

/* Claim the chunks of [off, off+len) whose page tables are not built yet;
 * on return [*lo, *hi) is the byte range to prefault (empty if none).
 * Called with mu held; the prefault itself runs after mu is dropped. */
static void
claim_prefault(store_client *c, uint64_t off, uint64_t len, uint64_t *lo,
               uint64_t *hi)
{
    *lo = *hi = 0;
    if (len < PREFAULT_MIN)
        return;
    uint64_t first = off / PREFAULT_CHUNK,
             last = (off + len - 1) / PREFAULT_CHUNK;
    for (uint64_t k = first; k <= last; k++) {
        uint64_t bit = 1ull << (k % 64);
        if (c->built[k / 64] & bit)
            continue;
        c->built[k / 64] |= bit;
        if (*hi == 0)
            *lo = k * PREFAULT_CHUNK;
        *hi = (k + 1) * PREFAULT_CHUNK;
    }
    if (*hi > c->region_size)
        *hi = c->region_size;
}

static store_client *
client_new(void)
{
    store_client *c = rt_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->fd = -1;
    rt_frame_reader_init(&c->rd, STORE_MAX_FRAME);
    rt_frame_writer_init(&c->wr, STORE_MAX_FRAME);
    return c;
}

static void
client_free(store_client *c)
{
    store_shm_unmap(c->rw, c->region_size);
    store_shm_unmap(c->ro, c->region_size);
    if (c->fd >= 0)
        close(c->fd);
    rt_free(c->pins);
    rt_free(c->built);
    rt_free(c->path);
    rt_frame_reader_fini(&c->rd);
    rt_frame_writer_fini(&c->wr);
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

/* Fill a view of an object at `offset` (data then metadata), pinned by
 * us. False, with nothing filled, if the location does not lie inside the
 * heap: a slot overwritten by a faulty client must not become a pointer
 * outside the mapping. */
static bool
fill_view(store_client *c, uint32_t slot, uint64_t offset, uint64_t data_size,
          uint64_t meta_size, store_buffer *b)
{
    if (offset < c->heap_off || offset > c->region_size ||
        data_size > c->region_size - offset ||
        meta_size > c->region_size - offset - data_size)
        return false;
    b->data = c->ro + offset;
    b->data_size = data_size;
    b->meta = b->data + data_size;
    b->meta_size = meta_size;
    atomic_store_explicit(&c->t.slots[slot].last_access,
                          (uint64_t)rt_clock_now_ns(), memory_order_relaxed);
    return true;
}

/* A view of pinned slot `slot` from the location it publishes. */
static bool
fill_view_slot(store_client *c, uint32_t slot, store_buffer *b)
{
    store_slot *s = &c->t.slots[slot];
    return fill_view(c, slot, s->offset, s->data_size, s->meta_size, b);
}

enum { GOT, NOT_READY, SPILLED, CORRUPT, LOST };

/* Under mu: the lock-free get of one object. */
static int
try_get(store_client *c, const store_object_id *id, store_buffer *b)
{
    int64_t slot = store_table_find(&c->t, id);
    if (slot < 0)
        return NOT_READY;
    store_slot *s = &c->t.slots[slot];
    if (c->pins[slot] > 0) {
        /* We pin this slot already, so it cannot change under us. */
        if (atomic_load(&s->state) != STORE_SLOT_SEALED ||
            !store_slot_id_eq(s, id))
            return NOT_READY;
        if (!fill_view_slot(c, (uint32_t)slot, b))
            return CORRUPT;
        c->pins[slot]++;
        return GOT;
    }
    uint32_t st;
    int pr = store_slot_pin_checked(
        s, c->idx, id, &c->t.hdr->client_epoch[c->idx], c->epoch, &st);
    if (pr == STORE_PIN_OK) {
        if (!fill_view_slot(c, (uint32_t)slot, b)) {
            store_slot_unpin(s, c->idx);
            return CORRUPT;
        }
        c->pins[slot] = 1;
        return GOT;
    }
    if (pr == STORE_PIN_REVOKED)
        return LOST;
    return st == STORE_SLOT_SPILLED ? SPILLED : NOT_READY;
}

/* Under mu: ask the store to restore a spilled object for us. */
static ray_err
restore(store_client *c, const store_object_id *id, store_buffer *b)
{
    uint32_t slot = 0;
    uint64_t offset = 0, dsz = 0, msz = 0;
    ray_err rc;
    char msg[MSG_LEN] = "";
    if (c->core) {
        store_location where = {0};
        rc = store_core_restore(c->core, c->idx, id, &where, msg, sizeof msg);
        slot = where.slot;
        offset = where.offset;
        dsz = where.data_size;
        msz = where.meta_size;
    } else {
        Ray__Rpc__StoreRestoreRequest q = RAY__RPC__STORE_RESTORE_REQUEST__INIT;
        q.object_id = id_bytes(id);
        Ray__Rpc__StoreRestoreReply *r = NULL;
        rc = rpc(c, RAY__RPC__MESSAGE_TYPE__MSG_STORE_RESTORE_REQUEST, &q.base,
                 RAY__RPC__MESSAGE_TYPE__MSG_STORE_RESTORE_REPLY,
                 (ProtobufCMessage **)&r, msg);
        if (rc == RAY_OK) {
            rc = reply_status(r->status, msg);
            if (rc == RAY_OK)
                rc = take_location(c, r->location, id, &slot, &offset, msg);
            if (rc == RAY_OK) {
                dsz = r->location->data_size;
                msz = r->location->metadata_size;
            }
            protobuf_c_message_free_unpacked(&r->base, &rt_protobuf_allocator);
        }
    }
    if (rc == RAY_OK && !fill_view(c, slot, offset, dsz, msz, b)) {
        /* take_location checked a socket reply already; a local one comes
         * from the store's own records. */
        store_slot_unpin(&c->t.slots[slot], c->idx);
        snprintf(msg, sizeof msg, "restored object outside the heap");
        rc = RAY_EINTERNAL;
    }
    if (rc == RAY_OK)
        c->pins[slot] = 1;
    if (rc != RAY_OK && rc != RAY_EAGAIN && rc != RAY_ENOTFOUND)
        set_err(c, rc, msg);
    return rc;
}

/* ------------------------------------------------------------------ */
/* API                                                                 */
/* ------------------------------------------------------------------ */

/* Over the connected socket c->fd: StoreConnectRequest, its reply, and
 * the region's descriptor in *memfd (closed again on failure). */
static ray_err
hello(store_client *c, uint32_t *idx, uint64_t *region_size, int *memfd,
      char *msg)
{
    Ray__Rpc__StoreConnectRequest q = RAY__RPC__STORE_CONNECT_REQUEST__INIT;
    q.pid = (int32_t)getpid();
    Ray__Rpc__StoreConnectReply *r = NULL;
    *memfd = -1;
    ray_err rc =
        rpc_once(c, RAY__RPC__MESSAGE_TYPE__MSG_STORE_CONNECT_REQUEST, &q.base,
                 RAY__RPC__MESSAGE_TYPE__MSG_STORE_CONNECT_REPLY,
                 (ProtobufCMessage **)&r, memfd, msg);
    if (rc == RAY_OK) {
        rc = reply_status(r->status, msg);
        *idx = r->client_index;
        *region_size = r->region_size;
        protobuf_c_message_free_unpacked(&r->base, &rt_protobuf_allocator);
    }
    if (rc == RAY_OK && (*memfd < 0 || *idx >= STORE_MAX_CLIENTS))
        rc = RAY_EPROTO;
    if (rc != RAY_OK && *memfd >= 0) {
        close(*memfd);
        *memfd = -1;
    }
    return rc;
}

/* Under mu, just after the store handed c->idx to this connection: take
 * the index's epoch. Read it, then check the socket is still open: the
 * store closes a connection before it frees (and may reuse) its index,
 * so an open socket means the value read was ours. An odd value means the
 * store is taking the index back (this client stalled past the idle
 * timeout before it got here); wait for the close. */
static ray_err
take_epoch(store_client *c)
{
    int64_t deadline = rt_deadline_after_ms(5000);
    for (;;) {
        uint32_t e = atomic_load(&c->t.hdr->client_epoch[c->idx]);
        if (socket_closed(c->fd))
            return RAY_ECLOSED;
        if (!(e & 1u)) {
            c->epoch = e;
            return RAY_OK;
        }
        if (rt_clock_now_ns() >= deadline)
            return RAY_ETIMEDOUT;
        struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
        (void)poll(&p, 1, 1);
    }
}

/* Under mu: one try of reconnect. RAY_EAGAIN if the store took the new
 * index back before we could read its epoch (we stalled past the idle
 * timeout between hello and that read). */
static ray_err
reconnect_once(store_client *c, char *msg)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    /* Whatever the old stream left half-read or half-written goes. */
    rt_frame_reader_fini(&c->rd);
    rt_frame_writer_fini(&c->wr);
    rt_frame_reader_init(&c->rd, STORE_MAX_FRAME);
    rt_frame_writer_init(&c->wr, STORE_MAX_FRAME);
    ray_err rc = connect_once(c->path, &c->fd);
    if (rc != RAY_OK) {
        snprintf(msg, MSG_LEN,
                 "the store at %s closed this client's "
                 "connection and cannot be reached again: %s",
                 c->path, rt_strerror(rc));
        return RAY_ECLOSED;
    }
    uint32_t idx = 0;
    uint64_t size = 0;
    int memfd = -1;
    rc = hello(c, &idx, &size, &memfd, msg);
    if (rc == RAY_OK) {
        struct stat st;
        if (fstat(memfd, &st) != 0 || st.st_dev != c->region_dev ||
            st.st_ino != c->region_ino || size != c->region_size) {
            snprintf(msg, MSG_LEN, "another object store listens at %s now",
                     c->path);
            rc = RAY_ECLOSED;
        }
        close(memfd);
    }
    if (rc == RAY_OK) {
        c->idx = idx;
        rc = take_epoch(c);
        if (rc != RAY_OK) {
            snprintf(msg, MSG_LEN, "the store took the new index back");
            rc = RAY_EAGAIN;
        }
    }
    if (rc != RAY_OK) {
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        return rc;
    }
    RT_DEBUG("object store client: reconnected as client %u", idx);
    return RAY_OK;
}

/* Under mu: the store took this client's index (it holds no pins): open a
 * new connection to the same region and take a new index, a few times if
 * the store keeps taking it back at once. RAY_ECLOSED when nothing
 * listens any more or another store (another region) does. */
static ray_err
reconnect(store_client *c, char *msg)
{
    ray_err rc = RAY_EAGAIN;
    for (int i = 0; i < RECONNECT_TRIES && rc == RAY_EAGAIN; i++)
        rc = reconnect_once(c, msg);
    return rc == RAY_EAGAIN ? RAY_ECLOSED : rc;
}

ray_err
store_client_connect(const char *socket_path, int64_t timeout_ms,
                     store_client **out)
{
    if (!socket_path || !out)
        return RAY_EINVAL;
    store_client *c = client_new();
    if (!c)
        return RAY_ENOMEM;
    c->path = rt_strdup(socket_path);
    if (!c->path) {
        client_free(c);
        return RAY_ENOMEM;
    }
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
    int memfd = -1;
    char msg[MSG_LEN];
    rc = hello(c, &c->idx, &c->region_size, &memfd, msg);
    if (rc != RAY_OK)
        goto fail;
    struct stat st;
    if (fstat(memfd, &st) == 0) {
        c->region_dev = st.st_dev;
        c->region_ino = st.st_ino;
        rc = map_views(c, memfd);
    } else {
        rc = rt_err_from_errno(errno);
    }
    close(memfd);
    if (rc == RAY_OK) {
        rc = take_epoch(c);
        if (rc == RAY_ECLOSED) /* taken back already: we stalled */
            rc = reconnect(c, msg);
    }
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
    /* Mappings of its own, like a socket client's: the store's mapping
     * is writable throughout, this one not where the table lives. */
    rc = map_views(c, core->memfd);
    if (rc != RAY_OK) {
        store_core_client_remove(core, c->idx);
        client_free(c);
        return rc;
    }
    /* The store never takes a local client's index back. */
    c->epoch = atomic_load(&c->t.hdr->client_epoch[c->idx]);
    *out = c;
    return RAY_OK;
}

void
store_client_close(store_client *c)
{
    if (!c)
        return;
    uint32_t aborted = c->core ? store_core_client_remove(c->core, c->idx) : 0;
    if (aborted)
        RT_INFO("object store: local client %u closed; aborted %u unsealed "
                "object(s)",
                c->idx, aborted);
    /* A remote client's pins and creations are dropped by the store when
     * it sees the socket close. */
    client_free(c);
}

uint32_t
store_client_index(const store_client *c)
{
    store_client *m = (store_client *)c;
    pthread_mutex_lock(&m->mu);
    uint32_t idx = m->idx;
    pthread_mutex_unlock(&m->mu);
    return idx;
}

const store_header *
store_client_header(const store_client *c)
{
    return (const store_header *)c->rw;
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
    char msg[MSG_LEN] = "";
    ray_err rc;
    pthread_mutex_lock(&c->mu);
    if (c->core) {
        store_location where = {0};
        rc = store_core_create_object(c->core, c->idx, id, data_size, meta_size,
                                      flags, &where, msg, sizeof msg);
        slot = where.slot;
        offset = where.offset;
    } else {
        Ray__Rpc__StoreCreateRequest q = RAY__RPC__STORE_CREATE_REQUEST__INIT;
        q.object_id = id_bytes(id);
        q.data_size = data_size;
        q.metadata_size = meta_size;
        q.secondary = (flags & STORE_CREATE_SECONDARY) != 0;
        Ray__Rpc__StoreCreateReply *r = NULL;
        rc = rpc(c, RAY__RPC__MESSAGE_TYPE__MSG_STORE_CREATE_REQUEST, &q.base,
                 RAY__RPC__MESSAGE_TYPE__MSG_STORE_CREATE_REPLY,
                 (ProtobufCMessage **)&r, msg);
        if (rc == RAY_OK) {
            rc = reply_status(r->status, msg);
            if (rc == RAY_OK)
                rc = take_location(c, r->location, id, &slot, &offset, msg);
            if (rc == RAY_OK && (r->location->data_size != data_size ||
                                 r->location->metadata_size != meta_size))
                rc = RAY_EPROTO;
            protobuf_c_message_free_unpacked(&r->base, &rt_protobuf_allocator);
        }
    }
    uint64_t lo = 0, hi = 0;
    if (rc == RAY_OK) {
        claim_prefault(c, offset, data_size + meta_size, &lo, &hi);
        c->pins[slot] = 1;
        out->data = c->rw + offset;
        out->data_size = data_size;
        out->meta = out->data + data_size;
        out->meta_size = meta_size;
    }
    set_err(c, rc, msg);
    pthread_mutex_unlock(&c->mu);
    if (hi > lo)
        store_shm_prefault(c->rw + lo, hi - lo);
    return rc;
}

ray_err
store_client_seal(store_client *c, const store_object_id *id)
{
    if (!c || !id)
        return RAY_EINVAL;
    return store_seal_slot(&c->t, c->idx, id);
}

ray_err
store_client_abort(store_client *c, const store_object_id *id)
{
    if (!c || !id)
        return RAY_EINVAL;
    pthread_mutex_lock(&c->mu);
    int64_t slot = store_table_find(&c->t, id);
    ray_err rc;
    char msg[MSG_LEN] = "";
    if (c->core) {
        rc = store_core_abort(c->core, c->idx, id);
    } else {
        Ray__Rpc__StoreAbortRequest q = RAY__RPC__STORE_ABORT_REQUEST__INIT;
        q.object_id = id_bytes(id);
        Ray__Rpc__StoreAbortReply *r = NULL;
        rc = rpc(c, RAY__RPC__MESSAGE_TYPE__MSG_STORE_ABORT_REQUEST, &q.base,
                 RAY__RPC__MESSAGE_TYPE__MSG_STORE_ABORT_REPLY,
                 (ProtobufCMessage **)&r, msg);
        if (rc == RAY_OK) {
            rc = reply_status(r->status, msg);
            protobuf_c_message_free_unpacked(&r->base, &rt_protobuf_allocator);
        }
    }
    if (rc == RAY_OK && slot >= 0)
        c->pins[slot] = 0;
    set_err(c, rc, msg);
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
    int lost = 0;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        uint32_t seen = store_table_seal_seq(&c->t);
        for (size_t i = 0; i < n && rc == RAY_OK; i++) {
            if (out[i].data)
                continue;
            int r = try_get(c, &ids[i], &out[i]);
            if (r == LOST) {
                /* The store took our index (we hold no pin, or it would
                 * not have): reconnect, then try this object again. */
                char m[MSG_LEN] = "the store keeps taking this client's "
                                  "index back";
                ray_err e = ++lost > RECONNECT_TRIES ? RAY_ECLOSED
                                                     : recover_index(c, m);
                if (e != RAY_OK) {
                    rc = e;
                    snprintf(c->err, sizeof c->err, "%s", m);
                    break;
                }
                i--; /* unsigned: wraps to SIZE_MAX for i == 0, then 0 */
                continue;
            }
            if (r == CORRUPT) {
                rc = RAY_EPROTO;
                snprintf(c->err, sizeof c->err,
                         "object %zu's slot holds a location outside the "
                         "store's heap (overwritten by a faulty client?)",
                         i);
                break;
            }
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
        bool more = store_table_wait(&c->t, seen, deadline, WAIT_SLICE_MS);
        pthread_mutex_lock(&c->mu);
        if (!more) {
            rc = RAY_ETIMEDOUT;
            snprintf(c->err, sizeof c->err,
                     "%zu of %zu object(s) not sealed in the store within "
                     "%lld ms",
                     left, n, (long long)timeout_ms);
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
    int64_t slot = store_table_find(&c->t, id);
    if (slot < 0 || c->pins[slot] == 0 ||
        !store_slot_id_eq(&c->t.slots[slot], id)) {
        rc =
            set_err(c, RAY_ENOTFOUND, "this client holds no pin on the object");
    } else if (--c->pins[slot] == 0) {
        store_slot_unpin(&c->t.slots[slot], c->idx);
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
    char msg[MSG_LEN] = "";
    pthread_mutex_lock(&c->mu);
    if (c->core) {
        rc = store_core_delete(c->core, id);
    } else {
        ProtobufCBinaryData b = id_bytes(id);
        Ray__Rpc__StoreDeleteRequest q = RAY__RPC__STORE_DELETE_REQUEST__INIT;
        q.n_object_ids = 1;
        q.object_ids = &b;
        Ray__Rpc__StoreDeleteReply *r = NULL;
        rc = rpc(c, RAY__RPC__MESSAGE_TYPE__MSG_STORE_DELETE_REQUEST, &q.base,
                 RAY__RPC__MESSAGE_TYPE__MSG_STORE_DELETE_REPLY,
                 (ProtobufCMessage **)&r, msg);
        if (rc == RAY_OK) {
            rc = reply_status(r->status, msg);
            protobuf_c_message_free_unpacked(&r->base, &rt_protobuf_allocator);
        }
    }
    if (rc == RAY_EBUSY && !msg[0])
        snprintf(msg, sizeof msg, "object is pinned or being created");
    set_err(c, rc, msg);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

bool
store_client_contains(store_client *c, const store_object_id *id)
{
    return store_client_sealed_size(c, id, NULL);
}

bool
store_client_sealed_size(store_client *c, const store_object_id *id,
                         uint64_t *size)
{
    if (!c || !id)
        return false;
    int64_t slot = store_table_find(&c->t, id);
    if (slot < 0)
        return false;
    store_slot *s = &c->t.slots[slot];
    uint32_t st = atomic_load(&s->state);
    uint64_t n = s->data_size;
    bool sealed = (st == STORE_SLOT_SEALED || st == STORE_SLOT_SPILLED ||
                   st == STORE_SLOT_BUSY) &&
                  store_slot_id_eq(s, id);
    if (sealed && size)
        *size = n;
    return sealed;
}

ray_err
store_client_set_fetch(store_client *c, store_fetch_fn fn, void *arg)
{
    if (!c || !c->core)
        return RAY_EINVAL;
    pthread_mutex_lock(&c->core->mu);
    c->core->fetch = fn;
    c->core->fetch_arg = arg;
    pthread_mutex_unlock(&c->core->mu);
    return RAY_OK;
}

ray_err
store_client_stats(store_client *c, store_stats *out)
{
    if (!c || !out)
        return RAY_EINVAL;
    ray_err rc = RAY_OK;
    char msg[MSG_LEN] = "";
    pthread_mutex_lock(&c->mu);
    if (c->core) {
        store_core_stats(c->core, out);
    } else {
        Ray__Rpc__StoreStatsRequest q = RAY__RPC__STORE_STATS_REQUEST__INIT;
        Ray__Rpc__StoreStatsReply *r = NULL;
        rc = rpc(c, RAY__RPC__MESSAGE_TYPE__MSG_STORE_STATS_REQUEST, &q.base,
                 RAY__RPC__MESSAGE_TYPE__MSG_STORE_STATS_REPLY,
                 (ProtobufCMessage **)&r, msg);
        if (rc == RAY_OK) {
            rc = reply_status(r->status, msg);
            if (rc == RAY_OK)
                *out = (store_stats){.capacity = r->capacity,
                                     .bytes_used = r->bytes_used,
                                     .bytes_pinned = r->bytes_pinned,
                                     .bytes_spilled = r->bytes_spilled,
                                     .objects_in_memory = r->objects_in_memory,
                                     .objects_creating = r->objects_creating,
                                     .objects_spilled = r->objects_spilled,
                                     .evictions = r->evictions,
                                     .spills = r->spills,
                                     .restores = r->restores,
                                     .fetches = r->fetches,
                                     .clients = r->clients,
                                     .bytes_committed = r->bytes_committed};
            protobuf_c_message_free_unpacked(&r->base, &rt_protobuf_allocator);
        }
    }
    set_err(c, rc, msg);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

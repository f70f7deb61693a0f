/* SPDX-License-Identifier: Apache-2.0
 *
 * store.c: the object store server thread.
 *
 * The server runs on an rt_loop of its own (runtime/loop.h, libuv
 * underneath), like the raylet: the listening Unix socket and each
 * non-blocking client connection are rt_loop watches (read interest, plus
 * write interest while replies wait to be sent), and the deadlines below
 * share one rt_loop timer. After serving a request the loop polls for
 * 50 us before it sleeps (rt_loop_spin): a client's next request often
 * follows at once, and waking a sleeping thread costs 15-25 us. Every
 * message is a protobuf-c frame (runtime/frame.h) of
 * runtime/protocol/object_store.proto, read and written through a
 * per-connection rt_frame_reader/rt_frame_writer whose buffers are reused,
 * so a request costs no allocation besides its unpacked message. A client
 * sends StoreConnectRequest first and receives StoreConnectReply with the
 * region's memfd attached (SCM_RIGHTS) and its client index; after that it
 * sends the slow-path requests (create, abort, delete, restore, stats),
 * each answered by one reply whose Status.code is the ray_err, 1:1 (the
 * Status is left out on success: absent reads as code 0, RAY_OK).
 *
 * A connection that sends anything malformed (bad magic, a frame above
 * STORE_MAX_FRAME, a payload that does not decode, a type that is not a
 * store request, a request before StoreConnectRequest) is closed with one
 * log line saying why. Like any connection that closes (the client
 * exited, crashed or was killed), its pins are then dropped and its
 * unsealed objects aborted; other clients carry on.
 *
 * Limits (store_config): at most max_connections connections, at most
 * max_connections_per_peer from one process (SO_PEERCRED pid); a
 * connection refused for either is accepted and closed at once with one
 * rate-limited warning naming the pid and the knob. A connection that
 * has not sent StoreConnectRequest within hello_timeout_ms is closed; a
 * client idle for idle_timeout_ms whose index pins and creates nothing
 * is disconnected after the epoch handshake of layout.h (its library
 * reconnects on its next call); one that pins something is kept. Until
 * its first request after the hello, a connection gets at least
 * hello_timeout_ms before it counts as idle (idle_due). The sweep that
 * enforces those deadlines runs on the timer, which is armed for the
 * earliest of them (next_sweep_ns, never later than any connection's
 * real deadline) and not at all while none is due: an idle server
 * sleeps.
 *
 * Out of file descriptors (EMFILE/ENFILE), accept cannot take a pending
 * connection and the listening socket stays readable: a level-triggered
 * loop would spin on it. The server keeps one spare descriptor (/dev/null)
 * open; it closes it, accepts the connection, closes that at once (the
 * peer sees EOF, not a hang), reopens the spare and goes on draining the
 * backlog. If the spare cannot be had back, it pauses the listening
 * socket's watch for 100 ms (or until a connection closes; the timer
 * resumes it) instead. The counters of store_server_stats let tests
 * count wake-ups, not time.
 *
 * Threading: the loop thread owns the connections, the watches and the
 * timer (loop thread only); store_server_start and store_server_stop
 * reach it with rt_loop_call, and nothing else crosses threads but the
 * stats counters (atomic). Object operations lock core->mu, which local
 * clients in this process take too. Tuned for a handful to a few hundred
 * local clients whose hot path does not come here at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "objectstore/store_int.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fdpass.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/protocol/registry.h"

typedef struct store_conn {
    store_server *srv;
    int fd;
    rt_loop_watch *w;  /* read interest, and write while want_out */
    bool hello;        /* StoreConnectRequest answered */
    bool want_out;     /* write interest is on */
    bool asked;        /* a request came after the hello */
    bool has_why;      /* closing: why[] holds the reason */
    uint32_t client;   /* valid once hello */
    pid_t pid;         /* peer (SO_PEERCRED), 0 if unknown */
    int64_t since_ns;  /* accepted at */
    int64_t active_ns; /* last bytes in */
    rt_frame_reader rd;
    rt_frame_writer wr;
    char why[256]; /* closing: the reason, if has_why */
} store_conn;

/* store_server_stats, as the loop thread bumps it (atomic, relaxed). */
typedef struct server_counters {
    _Atomic uint64_t wakeups, sweeps, accepted, refused_fds, refused_peer,
        refused_total, listen_pauses, closed_hello, closed_idle, spared_idle;
} server_counters;

struct store_server {
    store_core *core;
    char *path;
    int lfd;              /* listening socket */
    int spare_fd;         /* /dev/null, given up to refuse a connection
                             when out of descriptors; loop thread only */
    rt_loop *loop;        /* runs everything below */
    rt_loop_watch *lw;    /* lfd's watch; loop thread only */
    rt_loop_timer *timer; /* the sweep; loop thread only */
    int64_t timer_ns;     /* what `timer` is armed for, 0: not armed
                             (none, or it fired); loop thread only */
    /* Limits, from the config; immutable. */
    uint32_t max_conns, max_per_peer;
    int64_t hello_ns, idle_ns; /* idle_ns 0: never */
    /* Live connections; loop thread only. */
    store_conn **conns;
    uint32_t nconns, cap;
    int64_t next_sweep_ns;    /* 0: none due; loop thread only */
    bool listen_paused;       /* loop thread only */
    int64_t listen_resume_ns; /* loop thread only */
    server_counters st;
    char why[RT_FRAME_DETAIL_LEN + 64]; /* close reason; loop thread only */
};

/* After serving a request, the loop polls without sleeping this long: a
 * client's next request often follows at once (rt_loop_spin). */
#define SPIN_NS 50000
/* Replies a client may leave unread before it is dropped. */
#define MAX_PENDING_OUT (1u << 20)
#define LISTEN_PAUSE_NS (100 * 1000000LL)
#define MS_NS 1000000LL

#define STAT_INC(s, f)                                                         \
    atomic_fetch_add_explicit(&(s)->st.f, 1, memory_order_relaxed)

static void on_conn(rt_loop_watch *w, int fd, int events, ray_err status,
                    void *arg);
static void on_timer(rt_loop_timer *t, void *arg);
static void conn_gone(void *arg, ray_err status);
static void arm_sweep(store_server *s);

/* Make the next sweep run no later than `at`. The timer follows when the
 * current callback ends (arm_sweep). */
static void
schedule_sweep(store_server *s, int64_t at)
{
    if (s->next_sweep_ns == 0 || at < s->next_sweep_ns)
        s->next_sweep_ns = at;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

/* Close a connection and drop its client's pins and unsealed objects,
 * with at most one log line: a warning with `why` when it is not NULL
 * (NULL: the client went away normally, which is logged only if it left
 * unsealed objects behind). In two steps: conn_close takes it out of the
 * table, frees its buffers and stops its watch; conn_gone runs once the
 * loop has freed the watch (at the end of the loop iteration), then frees
 * the connection, drops the client and closes the socket. Whoever sees
 * the client count fall thus also sees all of its memory returned. */
static void
conn_close(store_server *s, store_conn *cn, const char *why)
{
    /* `why` may point into the connection's reader or writer: copy it. */
    cn->has_why = why != NULL;
    if (why)
        snprintf(cn->why, sizeof cn->why, "%s", why);
    for (uint32_t i = 0; i < s->nconns; i++) {
        if (s->conns[i] == cn) {
            s->conns[i] = s->conns[--s->nconns];
            break;
        }
    }
    rt_frame_reader_fini(&cn->rd);
    rt_frame_writer_fini(&cn->wr);
    rt_loop_watch_stop_notify(cn->w, conn_gone, cn);
}

/* The second step of conn_close (`arg` is the connection). */
static void
conn_gone(void *arg, ray_err status)
{
    (void)status;
    store_conn *cn = arg;
    store_server *s = cn->srv;
    char reason[sizeof cn->why];
    const char *why = NULL;
    if (cn->has_why) {
        memcpy(reason, cn->why, sizeof reason);
        why = reason;
    }
    bool hello = cn->hello;
    uint32_t client = cn->client;
    int pid = (int)cn->pid;
    int fd = cn->fd;
    rt_free(cn);
    uint32_t aborted = 0;
    if (hello)
        aborted = store_core_client_remove(s->core, client);
    if (why && hello && aborted)
        RT_WARN("object store: closing client %u connection (pid %d): %s "
                "(%u unsealed object(s) aborted)",
                client, pid, why, aborted);
    else if (why && hello)
        RT_WARN("object store: closing client %u connection (pid %d): %s",
                client, pid, why);
    else if (why)
        RT_WARN("object store: closing a client connection (pid %d) before "
                "its StoreConnectRequest: %s",
                pid, why);
    else if (aborted)
        RT_INFO("object store: client %u went away; aborted %u unsealed "
                "object(s)",
                client, aborted);
    /* Last: the peer sees the close only once its pins are dropped and
     * the reason is logged. */
    close(fd);
    /* A descriptor is free again: accept at once if that was the block
     * (this runs after the callback that closed the connection, so it
     * arms the timer itself). */
    if (s->listen_paused) {
        s->listen_resume_ns = rt_clock_now_ns();
        schedule_sweep(s, s->listen_resume_ns);
        arm_sweep(s);
    }
}

static void
conn_watch(store_conn *cn, bool out)
{
    if (cn->want_out == out)
        return;
    int ev = RT_LOOP_READABLE | (out ? RT_LOOP_WRITABLE : 0);
    if (rt_loop_watch_update(cn->w, ev) == RAY_OK)
        cn->want_out = out;
}

/* Send queued replies. Returns false when the connection was closed. */
static bool
conn_flush(store_server *s, store_conn *cn)
{
    ray_err rc = rt_frame_writer_flush(&cn->wr, cn->fd);
    if (rc == RAY_OK) {
        conn_watch(cn, false);
        return true;
    }
    if (rc == RAY_EAGAIN) {
        if (rt_frame_writer_pending(&cn->wr) > MAX_PENDING_OUT) {
            conn_close(s, cn, "client does not read its replies");
            return false;
        }
        conn_watch(cn, true);
        return true;
    }
    /* RAY_ECLOSED: the client went away, nothing to say. */
    conn_close(s, cn,
               rc == RAY_ECLOSED ? NULL : rt_frame_writer_detail(&cn->wr));
    return false;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* A reply's status for `rc`: NULL (left out) on success, where an absent
 * Status reads as code 0 = RAY_OK and costs the client nothing to unpack;
 * else `st` filled with `rc` and `msg` (or rt_strerror). */
static Ray__Rpc__Status *
set_status(Ray__Rpc__Status *st, ray_err rc, char *msg)
{
    if (rc == RAY_OK)
        return NULL;
    st->code = (uint32_t)rc;
    st->message = msg[0] ? msg : (char *)rt_strerror(rc);
    return st;
}

/* Copy a request's object ID; false (with a message) if it is not
 * STORE_ID_SIZE bytes. */
static bool
get_id(const ProtobufCBinaryData *b, store_object_id *id, char *msg,
       size_t msglen)
{
    if (b->len != STORE_ID_SIZE) {
        snprintf(msg, msglen, "object_id must be %u bytes, got %zu",
                 STORE_ID_SIZE, b->len);
        return false;
    }
    memcpy(id->b, b->data, STORE_ID_SIZE);
    return true;
}

/* The reply's location, from what the core reported under its lock
 * (never from the slot: once the lock is dropped another thread may
 * reuse it). */
static void
fill_location(Ray__Rpc__StoreObjectLocation *loc, const ProtobufCBinaryData *id,
              const store_location *where)
{
    loc->object_id = *id;
    loc->offset = where->offset;
    loc->slot = where->slot;
    loc->data_size = where->data_size;
    loc->metadata_size = where->meta_size;
}

/* When connection `cn` (past its hello) becomes idle. One that has made
 * no request since its hello gets the hello grace too: a client that
 * (re)connected is not taken back before it could use the connection,
 * however slow its first steps. */
static int64_t
idle_due(const store_server *s, const store_conn *cn)
{
    int64_t grace =
        cn->asked || s->idle_ns > s->hello_ns ? s->idle_ns : s->hello_ns;
    return cn->active_ns + grace;
}

/* StoreConnectRequest: take a client index and answer with the memfd.
 * The reply is sent at once with rt_fdpass_send (nothing is queued before
 * it: this is the connection's first request). */
static const char *
handle_connect(store_server *s, store_conn *cn)
{
    store_core *c = s->core;
    char msg[96] = "";
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    Ray__Rpc__StoreConnectReply r = RAY__RPC__STORE_CONNECT_REPLY__INIT;
    ray_err rc = store_core_client_add(c, &cn->client);
    int memfd = -1;
    if (rc == RAY_OK) {
        cn->hello = true;
        /* Its deadline is now the idle one, maybe before the hello one
         * the next sweep was set for. */
        if (s->idle_ns)
            schedule_sweep(s, idle_due(s, cn));
        r.client_index = cn->client;
        r.region_size = c->region_size;
        r.num_fds = 1;
        memfd = c->memfd;
    } else {
        snprintf(msg, sizeof msg, "store has %u clients already",
                 STORE_MAX_CLIENTS);
    }
    r.status = set_status(&st, rc, msg);
    uint8_t buf[256];
    size_t len = ray__rpc__store_connect_reply__get_packed_size(&r);
    if (RT_NEVER(len > sizeof buf - RT_FRAME_HEADER_LEN))
        return "connect reply too large";
    rt_frame_header h = {.magic = RT_FRAME_MAGIC,
                         .type =
                             RAY__RPC__MESSAGE_TYPE__MSG_STORE_CONNECT_REPLY,
                         .length = (uint32_t)len};
    rt_frame_header_encode(&h, buf);
    ray__rpc__store_connect_reply__pack(&r, buf + RT_FRAME_HEADER_LEN);
    if (rt_fdpass_send(cn->fd, &memfd, memfd >= 0 ? 1 : 0, buf,
                       RT_FRAME_HEADER_LEN + len, 1000) != RAY_OK)
        return "cannot send the connect reply";
    return rc == RAY_OK ? NULL : "no free client index";
}

/* Room for a status message: the longest names a spill directory. */
#define MSG_LEN 384

static ray_err
handle_create(store_core *c, store_conn *cn,
              const Ray__Rpc__StoreCreateRequest *q, rt_frame_writer *w)
{
    char msg[MSG_LEN] = "";
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    Ray__Rpc__StoreObjectLocation loc = RAY__RPC__STORE_OBJECT_LOCATION__INIT;
    Ray__Rpc__StoreCreateReply r = RAY__RPC__STORE_CREATE_REPLY__INIT;
    store_object_id id;
    ray_err rc = RAY_EPROTO;
    if (get_id(&q->object_id, &id, msg, sizeof msg)) {
        store_location where = {0};
        rc = store_core_create_object(
            c, cn->client, &id, q->data_size, q->metadata_size,
            q->secondary ? STORE_CREATE_SECONDARY : 0, &where, msg, sizeof msg);
        if (rc == RAY_OK) {
            fill_location(&loc, &q->object_id, &where);
            r.location = &loc;
        }
    }
    r.status = set_status(&st, rc, msg);
    return rt_frame_writer_put(
        w, RAY__RPC__MESSAGE_TYPE__MSG_STORE_CREATE_REPLY, &r.base);
}

static ray_err
handle_restore(store_core *c, store_conn *cn,
               const Ray__Rpc__StoreRestoreRequest *q, rt_frame_writer *w)
{
    char msg[MSG_LEN] = "";
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    Ray__Rpc__StoreObjectLocation loc = RAY__RPC__STORE_OBJECT_LOCATION__INIT;
    Ray__Rpc__StoreRestoreReply r = RAY__RPC__STORE_RESTORE_REPLY__INIT;
    store_object_id id;
    ray_err rc = RAY_EPROTO;
    if (get_id(&q->object_id, &id, msg, sizeof msg)) {
        store_location where = {0};
        rc = store_core_restore(c, cn->client, &id, &where, msg, sizeof msg);
        if (rc == RAY_OK) {
            fill_location(&loc, &q->object_id, &where);
            r.location = &loc;
        }
    }
    r.status = set_status(&st, rc, msg);
    return rt_frame_writer_put(
        w, RAY__RPC__MESSAGE_TYPE__MSG_STORE_RESTORE_REPLY, &r.base);
}

static ray_err
handle_abort(store_core *c, store_conn *cn,
             const Ray__Rpc__StoreAbortRequest *q, rt_frame_writer *w)
{
    char msg[96] = "";
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    Ray__Rpc__StoreAbortReply r = RAY__RPC__STORE_ABORT_REPLY__INIT;
    store_object_id id;
    ray_err rc = RAY_EPROTO;
    if (get_id(&q->object_id, &id, msg, sizeof msg))
        rc = store_core_abort(c, cn->client, &id);
    r.status = set_status(&st, rc, msg);
    return rt_frame_writer_put(w, RAY__RPC__MESSAGE_TYPE__MSG_STORE_ABORT_REPLY,
                               &r.base);
}

/* Delete each listed object; the status is the first failure. */
static ray_err
handle_delete(store_core *c, const Ray__Rpc__StoreDeleteRequest *q,
              rt_frame_writer *w)
{
    char msg[96] = "";
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    Ray__Rpc__StoreDeleteReply r = RAY__RPC__STORE_DELETE_REPLY__INIT;
    ray_err rc = RAY_OK;
    for (size_t i = 0; i < q->n_object_ids; i++) {
        store_object_id id;
        char m[96] = "";
        ray_err e = RAY_EPROTO;
        if (get_id(&q->object_ids[i], &id, m, sizeof m))
            e = store_core_delete(c, &id);
        if (e == RAY_OK) {
            r.num_deleted++;
        } else if (rc == RAY_OK) {
            rc = e;
            if (m[0])
                memcpy(msg, m, sizeof msg);
            else if (e == RAY_EBUSY)
                snprintf(msg, sizeof msg, "object is pinned or being created");
        }
    }
    r.status = set_status(&st, rc, msg);
    return rt_frame_writer_put(
        w, RAY__RPC__MESSAGE_TYPE__MSG_STORE_DELETE_REPLY, &r.base);
}

static ray_err
handle_stats(store_core *c, rt_frame_writer *w)
{
    store_stats v;
    store_core_stats(c, &v);
    Ray__Rpc__StoreStatsReply r = RAY__RPC__STORE_STATS_REPLY__INIT;
    r.capacity = v.capacity;
    r.bytes_used = v.bytes_used;
    r.bytes_pinned = v.bytes_pinned;
    r.bytes_spilled = v.bytes_spilled;
    r.objects_in_memory = v.objects_in_memory;
    r.objects_creating = v.objects_creating;
    r.objects_spilled = v.objects_spilled;
    r.evictions = v.evictions;
    r.spills = v.spills;
    r.restores = v.restores;
    r.fetches = v.fetches;
    r.bytes_committed = v.bytes_committed;
    r.clients = v.clients;
    return rt_frame_writer_put(w, RAY__RPC__MESSAGE_TYPE__MSG_STORE_STATS_REPLY,
                               &r.base);
}

/* Handle one decoded request. Returns a reason to close the connection,
 * or NULL to keep it. */
static const char *
handle(store_server *s, store_conn *cn, uint32_t type,
       const ProtobufCMessage *m)
{
    store_core *c = s->core;
    bool connect = type == RAY__RPC__MESSAGE_TYPE__MSG_STORE_CONNECT_REQUEST;
    if (connect && cn->hello)
        return "second StoreConnectRequest";
    if (connect)
        return handle_connect(s, cn);
    if (!cn->hello) {
        snprintf(s->why, sizeof s->why, "%s before StoreConnectRequest",
                 rt_proto_type_name(type));
        return s->why;
    }
    if (!cn->asked && s->idle_ns) {
        cn->asked = true; /* the idle deadline may come sooner now */
        schedule_sweep(s, idle_due(s, cn));
    }
    ray_err rc;
    switch (type) {
    case RAY__RPC__MESSAGE_TYPE__MSG_STORE_CREATE_REQUEST:
        rc = handle_create(c, cn, (const void *)m, &cn->wr);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_STORE_ABORT_REQUEST:
        rc = handle_abort(c, cn, (const void *)m, &cn->wr);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_STORE_DELETE_REQUEST:
        rc = handle_delete(c, (const void *)m, &cn->wr);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_STORE_RESTORE_REQUEST:
        rc = handle_restore(c, cn, (const void *)m, &cn->wr);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_STORE_STATS_REQUEST:
        rc = handle_stats(c, &cn->wr);
        break;
    default:
        snprintf(s->why, sizeof s->why, "%s is not a store request",
                 rt_proto_type_name(type));
        return s->why;
    }
    if (rc != RAY_OK) {
        snprintf(s->why, sizeof s->why, "cannot queue a reply: %s",
                 rt_frame_writer_detail(&cn->wr));
        return s->why;
    }
    return NULL;
}

/* Decode and answer every complete request the socket has; replies to
 * requests that arrived together go out in one send. Returns false when
 * the connection was closed. */
static bool
on_readable(store_server *s, store_conn *cn)
{
    cn->active_ns = rt_clock_now_ns();
    for (;;) {
        uint32_t type;
        ProtobufCMessage *m;
        ray_err rc = rt_frame_reader_read(&cn->rd, cn->fd, &type, &m);
        if (rc == RAY_EAGAIN)
            break;
        if (rc != RAY_OK) {
            /* RAY_ECLOSED: an orderly close or a reset, nothing to say. */
            conn_close(s, cn,
                       rc == RAY_ECLOSED ? NULL
                                         : rt_frame_reader_detail(&cn->rd));
            return false;
        }
        const char *why = handle(s, cn, type, m);
        protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
        if (why) {
            conn_close(s, cn, why);
            return false;
        }
        /* Nothing more buffered: answer now rather than after the read
         * that would find the socket empty (one syscall less latency).
         * Pipelined requests already buffered share one send. */
        if (rt_frame_reader_buffered(&cn->rd) == 0 && !conn_flush(s, cn))
            return false;
    }
    if (rt_frame_writer_pending(&cn->wr) > 0)
        return conn_flush(s, cn);
    return true;
}

/* ------------------------------------------------------------------ */
/* Accepting, limits and deadlines                                     */
/* ------------------------------------------------------------------ */

/* Close an accepted connection we will not serve, with one warning. */
static void
refuse(int fd, pid_t pid, const char *why)
{
    RT_LOG_RATELIMITED(RT_LOG_WARN,
                       "object store: refusing a connection from pid %d: %s",
                       (int)pid, why);
    close(fd);
}

/* Stop polling the listening socket for a while (see the header). */
static void
pause_listen(store_server *s, int64_t now)
{
    if (rt_loop_watch_update(s->lw, 0) != RAY_OK)
        return;
    s->listen_paused = true;
    s->listen_resume_ns = now + LISTEN_PAUSE_NS;
    schedule_sweep(s, s->listen_resume_ns);
    STAT_INC(s, listen_pauses);
}

static void
resume_listen(store_server *s)
{
    if (s->spare_fd < 0)
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (rt_loop_watch_update(s->lw, RT_LOOP_READABLE) == RAY_OK)
        s->listen_paused = false;
}

/* Out of descriptors (`err`, EMFILE or ENFILE): give up the spare, take
 * the pending connection, close it, take the spare back. Returns 1 if a
 * connection was refused (go on draining), 0 if none was pending, -1 if
 * that could not be done (pause accepting). */
static int
refuse_without_fds(store_server *s, int err)
{
    if (s->spare_fd < 0)
        return -1;
    close(s->spare_fd);
    s->spare_fd = -1;
    int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
    int e = errno;
    if (fd >= 0) {
        struct ucred cr = {0};
        socklen_t len = sizeof cr;
        (void)getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len);
        STAT_INC(s, refused_fds);
        RT_LOG_RATELIMITED(RT_LOG_WARN,
                           "object store: out of file descriptors (%s): "
                           "refusing a connection from pid %d; raise the "
                           "limit (ulimit -n) or close descriptors",
                           err == EMFILE ? "EMFILE" : "ENFILE", (int)cr.pid);
        close(fd);
    }
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        return 1;
    return (e == EAGAIN || e == EWOULDBLOCK) ? 0 : -1;
}

/* Connections open now from process `pid`. */
static uint32_t
conns_of(store_server *s, pid_t pid)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->nconns; i++)
        n += s->conns[i]->pid == pid;
    return n;
}

/* Refuse (close) `fd` from `pid` if a connection cap is reached. */
static bool
over_limit(store_server *s, int fd, pid_t pid)
{
    if (s->nconns >= s->max_conns) {
        STAT_INC(s, refused_total);
        snprintf(s->why, sizeof s->why,
                 "%u connections are open "
                 "(store_config.max_connections)",
                 s->nconns);
        refuse(fd, pid, s->why);
        return true;
    }
    uint32_t mine = pid ? conns_of(s, pid) : 0;
    if (mine >= s->max_per_peer) {
        STAT_INC(s, refused_peer);
        snprintf(s->why, sizeof s->why,
                 "it has %u connections open "
                 "(store_config.max_connections_per_peer)",
                 mine);
        refuse(fd, pid, s->why);
        return true;
    }
    return false;
}

static void
on_accept(store_server *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            if (e == EINTR || e == ECONNABORTED)
                continue;
            int r =
                (e == EMFILE || e == ENFILE) ? refuse_without_fds(s, e) : -1;
            if (r > 0)
                continue;
            if (r < 0) {
                /* Level-triggered: returning with the socket readable
                 * would spin. */
                RT_LOG_RATELIMITED(RT_LOG_WARN,
                                   "object store: accept: %s; "
                                   "not accepting for 100 ms",
                                   strerror(e));
                pause_listen(s, rt_clock_now_ns());
            }
            return;
        }
        struct ucred cr = {0};
        socklen_t len = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
            cr.pid = 0;
        if (over_limit(s, fd, cr.pid))
            continue;
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
        cn->srv = s;
        cn->fd = fd;
        cn->pid = cr.pid;
        cn->since_ns = cn->active_ns = rt_clock_now_ns();
        rt_frame_reader_init(&cn->rd, STORE_MAX_FRAME);
        rt_frame_writer_init(&cn->wr, STORE_MAX_FRAME);
        if (rt_loop_watch_start(s->loop, fd, RT_LOOP_READABLE, on_conn, cn,
                                &cn->w) != RAY_OK) {
            rt_free(cn);
            close(fd);
            continue;
        }
        s->conns[s->nconns++] = cn;
        STAT_INC(s, accepted);
        schedule_sweep(s, cn->since_ns + s->hello_ns);
    }
}

/* Idle clients checked in one call to the core (a stack batch). */
#define REVOKE_BATCH 64

/* Take back the indexes of the idle connections in `cand` (see
 * store_core_client_revoke): close those that pin nothing, keep the
 * others a while longer. */
static void
revoke_idle(store_server *s, store_conn **cand, uint32_t n, int64_t now)
{
    uint32_t idx[REVOKE_BATCH] = {0};
    bool spared[REVOKE_BATCH] = {0};
    for (uint32_t i = 0; i < n; i++)
        idx[i] = cand[i]->client;
    store_core_client_revoke(s->core, idx, n, spared);
    for (uint32_t i = 0; i < n; i++) {
        store_conn *cn = cand[i];
        if (spared[i]) {
            STAT_INC(s, spared_idle);
            cn->active_ns = now;
            schedule_sweep(s, now + s->idle_ns);
            continue;
        }
        STAT_INC(s, closed_idle);
        RT_INFO("object store: disconnecting client %u (pid %d): idle for "
                "%lld ms with nothing pinned (store_config.idle_timeout_ms);"
                " it reconnects on its next call",
                cn->client, (int)cn->pid, (long long)(s->idle_ns / MS_NS));
        conn_close(s, cn, NULL);
    }
}

/* Run the deadlines that are due and schedule the next sweep. */
static void
sweep(store_server *s, int64_t now)
{
    STAT_INC(s, sweeps);
    s->next_sweep_ns = 0;
    if (s->listen_paused) {
        if (now >= s->listen_resume_ns)
            resume_listen(s);
        if (s->listen_paused) /* the watch did not restart: try again later */
            schedule_sweep(s, s->listen_resume_ns > now
                                  ? s->listen_resume_ns
                                  : now + LISTEN_PAUSE_NS);
    }
    store_conn *cand[REVOKE_BATCH];
    uint32_t ncand = 0;
    /* Backwards: conn_close moves the last connection into the hole. */
    for (uint32_t i = s->nconns; i-- > 0;) {
        if (i >= s->nconns)
            continue; /* a revoke_idle batch closed the tail */
        store_conn *cn = s->conns[i];
        if (!cn->hello) {
            int64_t due = cn->since_ns + s->hello_ns;
            if (now < due) {
                schedule_sweep(s, due);
                continue;
            }
            STAT_INC(s, closed_hello);
            snprintf(s->why, sizeof s->why,
                     "no StoreConnectRequest within "
                     "%lld ms (store_config.hello_timeout_ms)",
                     (long long)(s->hello_ns / MS_NS));
            conn_close(s, cn, s->why);
            continue;
        }
        if (s->idle_ns == 0)
            continue;
        int64_t due = idle_due(s, cn);
        if (now < due || rt_frame_writer_pending(&cn->wr) > 0) {
            schedule_sweep(s, now < due ? due : now + s->idle_ns);
            continue;
        }
        cand[ncand++] = cn;
        if (ncand == REVOKE_BATCH) {
            revoke_idle(s, cand, ncand, now);
            ncand = 0;
        }
    }
    if (ncand)
        revoke_idle(s, cand, ncand, now);
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

/* At the end of each callback: arm the timer for next_sweep_ns if it is
 * not armed for that already. A new timer is started before the old one
 * is stopped, so that if it cannot be had (out of memory) the old one
 * still fires; timer_ns then differs from next_sweep_ns and the next
 * callback tries again. */
static void
arm_sweep(store_server *s)
{
    if (s->timer_ns == s->next_sweep_ns)
        return;
    rt_loop_timer *t = NULL;
    if (s->next_sweep_ns) {
        int64_t left = s->next_sweep_ns - rt_clock_now_ns();
        uint64_t ms = left > 0 ? (uint64_t)((left + MS_NS - 1) / MS_NS) : 0;
        if (rt_loop_timer_start(s->loop, ms, 0, on_timer, s, &t) != RAY_OK)
            return;
    }
    rt_loop_timer_stop(s->timer);
    s->timer = t;
    s->timer_ns = s->next_sweep_ns;
}

/* The timer: run the sweep once its deadline has come (libuv's loop clock
 * may fire it up to a tick early; then it is armed again). */
static void
on_timer(rt_loop_timer *t, void *arg)
{
    (void)t;
    store_server *s = arg;
    s->timer_ns = 0; /* fired; arm_sweep frees it */
    int64_t now = rt_clock_now_ns();
    if (s->next_sweep_ns && now >= s->next_sweep_ns)
        sweep(s, now);
    arm_sweep(s);
}

/* The listening socket is readable (or the poller failed on it). */
static void
on_listen(rt_loop_watch *w, int fd, int events, ray_err status, void *arg)
{
    (void)w;
    (void)fd;
    (void)events;
    store_server *s = arg;
    STAT_INC(s, wakeups);
    rt_loop_spin(s->loop, SPIN_NS);
    on_accept(s);
    /* A poller error stopped the watch: resuming restarts it. */
    if (status != RAY_OK && !s->listen_paused) {
        RT_LOG_RATELIMITED(RT_LOG_WARN,
                           "object store: polling the "
                           "listening socket: %s; not accepting for 100 ms",
                           rt_strerror(status));
        pause_listen(s, rt_clock_now_ns());
    }
    arm_sweep(s);
}

/* A connection is readable or, with replies pending, writable. A poller
 * error (the watch is stopped) reads what is left and closes. */
static void
on_conn(rt_loop_watch *w, int fd, int events, ray_err status, void *arg)
{
    (void)w;
    (void)fd;
    store_conn *cn = arg;
    store_server *s = cn->srv;
    STAT_INC(s, wakeups);
    rt_loop_spin(s->loop, SPIN_NS);
    bool open = true;
    if (events & RT_LOOP_WRITABLE)
        open = conn_flush(s, cn);
    if (open && ((events & RT_LOOP_READABLE) || status != RAY_OK))
        open = on_readable(s, cn);
    if (open && status != RAY_OK)
        conn_close(s, cn, rt_strerror(status));
    arm_sweep(s);
}

/* Loop thread, from store_server_start: watch the listening socket
 * (`arg` is a start_ctx: the server in, the status out). */
typedef struct start_ctx {
    store_server *s;
    ray_err rc;
} start_ctx;

static void
start_on_loop(void *arg, ray_err status)
{
    start_ctx *x = arg;
    store_server *s = x->s;
    x->rc = status;
    if (status == RAY_OK)
        x->rc = rt_loop_watch_start(s->loop, s->lfd, RT_LOOP_READABLE,
                                    on_listen, s, &s->lw);
}

/* Loop thread, from store_server_stop: stop the listening socket's watch,
 * close every connection (their conn_gone runs before the loop ends),
 * stop the timer. */
static void
stop_on_loop(void *arg, ray_err status)
{
    (void)status;
    store_server *s = arg;
    rt_loop_watch_stop(s->lw);
    s->lw = NULL;
    s->listen_paused = false; /* conn_gone arms no timer */
    while (s->nconns > 0)
        conn_close(s, s->conns[0], NULL);
    rt_loop_timer_stop(s->timer);
    s->timer = NULL;
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

void
store_server_get_stats(store_server *s, store_server_stats *out)
{
    server_counters *k = &s->st;
    *out = (store_server_stats){.wakeups = atomic_load(&k->wakeups),
                                .sweeps = atomic_load(&k->sweeps),
                                .accepted = atomic_load(&k->accepted),
                                .refused_fds = atomic_load(&k->refused_fds),
                                .refused_peer = atomic_load(&k->refused_peer),
                                .refused_total = atomic_load(&k->refused_total),
                                .listen_pauses = atomic_load(&k->listen_pauses),
                                .closed_hello = atomic_load(&k->closed_hello),
                                .closed_idle = atomic_load(&k->closed_idle),
                                .spared_idle = atomic_load(&k->spared_idle)};
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
    s->lfd = s->spare_fd = -1;
    s->max_conns = cfg->max_connections ? cfg->max_connections : 512;
    s->max_per_peer =
        cfg->max_connections_per_peer ? cfg->max_connections_per_peer : 32;
    s->hello_ns =
        (int64_t)(cfg->hello_timeout_ms ? cfg->hello_timeout_ms : 10000) *
        MS_NS;
    uint32_t idle = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 600000;
    s->idle_ns = idle == STORE_TIMEOUT_NEVER ? 0 : (int64_t)idle * MS_NS;
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
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->spare_fd < 0)
        goto fail_errno;
    rc = rt_loop_create("rayc-store", &s->loop);
    start_ctx x = {.s = s, .rc = RAY_OK};
    if (rc == RAY_OK)
        rc = rt_loop_call(s->loop, start_on_loop, &x);
    if (rc == RAY_OK)
        rc = x.rc;
    if (rc != RAY_OK) {
        snprintf(err, errlen,
                 "object store socket %s: cannot start its "
                 "loop: %s",
                 cfg->socket_path, rt_strerror(rc));
        goto fail;
    }
    RT_INFO("object store: %llu bytes of shared memory, %u slots, socket %s",
            (unsigned long long)s->core->heap_size, s->core->table.nslots,
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
    if (s->loop) {
        /* Close the connections on their thread. Should the call not run
         * (no memory for it), the loop's end frees every watch and timer,
         * and the connections are closed below, after it. */
        (void)rt_loop_call(s->loop, stop_on_loop, s);
        rt_loop_destroy(s->loop);
        s->loop = NULL;
        s->lw = NULL;
        s->timer = NULL;
        s->listen_paused = false;
        for (uint32_t i = 0; i < s->nconns; i++)
            s->conns[i]->w = NULL; /* freed with the loop */
    }
    /* conn_gone runs at once: the watches are gone. */
    while (s->nconns > 0)
        conn_close(s, s->conns[0], NULL);
    rt_free(s->conns);
    if (s->lfd >= 0) {
        close(s->lfd);
        unlink(s->path);
    }
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    store_core_destroy(s->core);
    rt_free(s->path);
    rt_free(s);
}

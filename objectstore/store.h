/* SPDX-License-Identifier: Apache-2.0
 *
 * store.h: the node's object store server.
 *
 * The store runs on its own thread (an rt_loop, runtime/loop.h) inside
 * the raylet process (or inside the driver's embedded raylet in local
 * mode). It owns the shared region (one memfd, see shm.h), the jemalloc
 * arena over it (arena.h), the object table in the region (table.h) and
 * the spill directory, and it serves
 * local clients (client.h) over a Unix socket: a client connects once,
 * receives the memfd by fd passing and from then on reads sealed objects
 * straight from shared memory; only create, abort, delete, restore of a
 * spilled object and stats go through the socket, as protobuf-c frames
 * (runtime/frame.h) of runtime/protocol/object_store.proto. A connection
 * that sends a malformed frame is closed with one log line; the others
 * carry on.
 *
 * When a client disconnects, crashes or is killed, the store drops every
 * pin it held and aborts every object it had created but not sealed.
 *
 * What one peer can hold is bounded: connections per process (by
 * SO_PEERCRED pid) and in all, a deadline for the StoreConnectRequest,
 * and an idle timeout after which a client that pins nothing and creates
 * nothing loses its connection and its index (the client library
 * reconnects on its next call). Out of file descriptors, the store
 * accepts and at once closes the connections it cannot serve (it keeps a
 * spare descriptor for that) instead of spinning on a listening socket
 * it cannot drain. Each refusal is logged with the reason and the knob.
 *
 * Thread-safety: start/stop from one thread; everything else is internal.
 */
#ifndef RAY_OBJECTSTORE_STORE_H
#define RAY_OBJECTSTORE_STORE_H

#include <stdint.h>
#include <sys/types.h>

#include "runtime/status.h"

/* The system calls the spiller writes with, swappable so that tests can
 * inject failures (a full disk: ENOSPC). Each behaves as the system call:
 * it returns what the call returns and sets errno the same way. */
typedef struct store_spill_ops {
    /* pwrite(2) of `n` bytes at `buf` to `fd` at offset `off`; `arg` is
     * the table's arg. */
    ssize_t (*pwrite)(void *arg, int fd, const void *buf, size_t n, off_t off);
    void *arg;
} store_spill_ops;

/* Store settings. Zero means the default. */
typedef struct store_config {
    uint64_t capacity;                 /* bytes of the shared region; default
                                          store_shm_default_capacity() */
    uint32_t max_objects;              /* object slots; default capacity/16 KiB,
                                          clamped to [1024, 262144] */
    const char *socket_path;           /* Unix socket to listen on (required) */
    const char *spill_dir;             /* where spilled objects go; NULL = no
                                          spilling (a full store evicts, then fails) */
    uint64_t spill_min_bytes;          /* fuse spilled objects into files of at
                                          least this size; default 8 MiB */
    const store_spill_ops *spill_ops;  /* NULL: the real system calls;
                                          copied at start */
    uint32_t max_connections;          /* open connections, before and
                                          after StoreConnectRequest;
                                          default 512 */
    uint32_t max_connections_per_peer; /* from one process (its pid, by
                                          SO_PEERCRED); default 32 */
    uint32_t hello_timeout_ms;         /* a connection that has not sent
                                          StoreConnectRequest by then is
                                          closed; default 10000 */
    uint32_t idle_timeout_ms;          /* a client idle this long that
                                          pins and creates nothing is
                                          disconnected (it reconnects on
                                          its next call); before its
                                          first request, at least
                                          hello_timeout_ms; default
                                          600000, STORE_TIMEOUT_NEVER:
                                          never */
} store_config;

#define STORE_TIMEOUT_NEVER UINT32_MAX

/* What the serving thread did (see store_server_stats). Cumulative. */
typedef struct store_server_stats {
    uint64_t wakeups;       /* fd events handled: callbacks of the
                               listening socket's and connections'
                               watches */
    uint64_t sweeps;        /* timeout checks run */
    uint64_t accepted;      /* connections taken in */
    uint64_t refused_fds;   /* accepted and closed: out of descriptors */
    uint64_t refused_peer;  /* max_connections_per_peer reached */
    uint64_t refused_total; /* max_connections reached */
    uint64_t listen_pauses; /* accepting stopped a while (no spare fd) */
    uint64_t closed_hello;  /* no StoreConnectRequest in time */
    uint64_t closed_idle;   /* idle, nothing pinned: disconnected */
    uint64_t spared_idle;   /* idle past the timeout but pinning: kept */
} store_server_stats;

typedef struct store_server store_server;

/* Fill `cfg` with defaults (all zero). */
void store_config_init(store_config *cfg);

/* Create the region and the arena, bind the socket and start the serving
 * thread. On failure nothing is left behind and, if `err` is not NULL, a
 * message of at most `errlen` bytes says why (e.g. RAY_ESTORE_FULL when
 * /dev/shm cannot hold the region). */
ray_err store_server_start(const store_config *cfg, store_server **out,
                           char *err, size_t errlen);

/* Stop the thread, close every connection, unlink the socket, remove the
 * spill files and free the region. Clients still mapped keep their
 * mapping valid (the memfd lives until they unmap). NULL is fine. */
void store_server_stop(store_server *s);

/* The socket path the server listens on (owned by the server). */
const char *store_server_socket_path(const store_server *s);

/* Number of clients connected now (for tests). */
uint32_t store_server_client_count(store_server *s);

/* A snapshot of the serving thread's counters (thread-safe). */
void store_server_get_stats(store_server *s, store_server_stats *out);

#endif /* RAY_OBJECTSTORE_STORE_H */

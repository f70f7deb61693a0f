/* SPDX-License-Identifier: Apache-2.0
 *
 * client.h: the object-store client library (used by the SDK, workers and
 * the raylet).
 *
 * A client connects to its node's store once (store_client_connect over
 * the Unix socket, or store_client_open_local for code running in the
 * store's own process), receives the shared region and maps it twice:
 * read-write for objects it creates and read-only for objects it gets, so
 * a stray write through a get pointer faults instead of corrupting a
 * sealed object.
 *
 * Lifecycle: create reserves an object and returns a writable buffer
 * pinned by this client; the creator writes it and seals it (then it is
 * immutable and waiting readers wake up), or aborts it. get pins sealed
 * objects and returns read-only views; every successful get of an ID must
 * be paired with one release of it. delete removes an object nobody pins.
 *
 * Fast path: get of a sealed object in memory and release are pure
 * shared-memory operations (an atomic bit per client in the object's
 * slot), no socket round trip; seal and contains are too. create, abort,
 * delete, stats and the restore of a spilled object ask the store.
 *
 * Thread-safety: a client may be used from several threads (an internal
 * mutex serialises requests; the fast path takes it only briefly). A
 * client must not be used across fork(): the child connects its own.
 */
#ifndef RAY_OBJECTSTORE_CLIENT_H
#define RAY_OBJECTSTORE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objectstore/layout.h"
#include "runtime/status.h"

typedef struct store_client store_client;
typedef struct store_server store_server;

/* A read-only pinned view of a sealed object. Never freed by the caller;
 * valid until the matching store_client_release. */
typedef struct store_buffer {
    const uint8_t *data; /* data_size bytes */
    uint64_t data_size;
    const uint8_t *meta; /* meta_size bytes, right after data */
    uint64_t meta_size;
} store_buffer;

/* A writable buffer of an object being created. */
typedef struct store_wbuffer {
    uint8_t *data;
    uint64_t data_size;
    uint8_t *meta;
    uint64_t meta_size;
} store_wbuffer;

/* Store statistics (see store_client_stats). */
typedef struct store_stats {
    uint64_t capacity;          /* heap bytes objects may use */
    uint64_t bytes_used;        /* reserved by objects in memory */
    uint64_t bytes_pinned;      /* of which pinned by a client or unsealed */
    uint64_t bytes_spilled;     /* payload bytes in spill files */
    uint64_t objects_in_memory; /* sealed objects in memory */
    uint64_t objects_creating;  /* reserved but not sealed */
    uint64_t objects_spilled;   /* only on disk */
    uint64_t evictions;         /* cumulative counts */
    uint64_t spills;
    uint64_t restores;        /* from spill files */
    uint64_t fetches;         /* evicted copies brought back by the fetch
                                 hook (store_client_set_fetch) */
    uint32_t clients;         /* connected clients */
    uint64_t bytes_committed; /* shared memory backed so far: grows in
                                 2 MiB chunks as objects need it */
} store_stats;

/* Create options (store_client_create). Zero is the default. */
#define STORE_CREATE_SECONDARY                                                 \
    1u /* a copy of a remote primary: evictable,                               \
          never spilled */

/* Connect to the store listening at `socket_path`. Waits at most
 * `timeout_ms` (negative: forever) for the connection. Returns
 * RAY_ECLOSED when nothing listens there (or the store refused the
 * connection: see store_config's connection limits), RAY_EBUSY when the
 * store has STORE_MAX_CLIENTS clients, RAY_EPROTO on a bad handshake.
 *
 * The store may later disconnect a client that sits idle pinning and
 * creating nothing (store_config.idle_timeout_ms); the client notices on
 * its next call and connects again on its own (same socket path, same
 * region), so callers see nothing. A client whose connection is closed
 * while it holds pins gets RAY_ECLOSED instead: its views are no longer
 * protected. */
ray_err store_client_connect(const char *socket_path, int64_t timeout_ms,
                             store_client **out);

/* Open a client in the store's own process (no socket; requests are
 * function calls under the store's lock). */
ray_err store_client_open_local(store_server *srv, store_client **out);

/* Disconnect: every pin this client still holds is dropped and every
 * object it created without sealing is aborted. NULL is fine. */
void store_client_close(store_client *c);

/* Reserve an object of `data_size` + `meta_size` bytes. On success *out
 * is writable until seal or abort, and the object is pinned by this
 * client (release it after sealing). Returns RAY_EEXISTS if the ID exists,
 * RAY_ETOOBIG if it is larger than the whole store (the message names
 * the capacity), RAY_ESTORE_FULL if pinned and unsealed objects leave no
 * room even after eviction and spilling, and the spill's own error (e.g.
 * RAY_ESYSERR|ENOSPC) when spilling would have made room but failed: the
 * message then names the spill directory and the cause. */
ray_err store_client_create(store_client *c, const store_object_id *id,
                            uint64_t data_size, uint64_t meta_size,
                            uint32_t flags, store_wbuffer *out);

/* Seal an object this client created: it becomes immutable and readers
 * blocked in get wake up. Returns RAY_ENOTFOUND if this client has no
 * such unsealed object and RAY_EEXISTS if it is already sealed (double
 * seal). The creator's pin stays until store_client_release. */
ray_err store_client_seal(store_client *c, const store_object_id *id);

/* Abort an object this client created and has not sealed: its memory is
 * freed at once. RAY_ENOTFOUND if there is none, RAY_EEXISTS if sealed. */
ray_err store_client_abort(store_client *c, const store_object_id *id);

/* Get `n` objects: pin each and fill out[i]. Waits up to `timeout_ms`
 * (negative: forever; 0: do not wait) for objects that do not exist yet or
 * are not sealed. Spilled objects are restored transparently. Returns
 * RAY_OK when every object was got, RAY_ETIMEDOUT when some were not
 * (those have out[i].data == NULL and need no release; the others are
 * pinned and must be released), RAY_ESTORE_FULL when a spilled object
 * cannot be restored because pinned data fills the store, the spill's
 * error (RAY_ESYSERR|ENOSPC, say) when making room for it needed a spill
 * to a full disk (a restore first trades places with an object in
 * memory, which needs no new disk space), RAY_EPROTO when
 * an object's slot holds a location outside the heap (the region was
 * overwritten by a faulty client; same rule for the out[i] already
 * got). Blocks the calling thread only while waiting
 * for seals; the wait needs no store round trip. */
ray_err store_client_get(store_client *c, const store_object_id *ids, size_t n,
                         int64_t timeout_ms, store_buffer *out);

/* Release one pin taken by get or create. RAY_ENOTFOUND if this client
 * holds no pin on the object. */
ray_err store_client_release(store_client *c, const store_object_id *id);

/* Delete an object. RAY_EBUSY if any client pins it or it is being
 * created, RAY_ENOTFOUND if unknown. */
ray_err store_client_delete(store_client *c, const store_object_id *id);

/* True if the object is sealed (in memory or spilled). No round trip. */
bool store_client_contains(store_client *c, const store_object_id *id);

/* The same, and its payload's bytes in *size when it is (a snapshot, for
 * listings: no pin is taken). */
bool store_client_sealed_size(store_client *c, const store_object_id *id,
                              uint64_t *size);

/* Where an evicted secondary copy comes back from. A store with a fetch
 * hook does not forget the secondary copies it evicts: each keeps its
 * slot (its ID and sizes) with no memory, and a get of it asks the store
 * to bring it back, as for a spilled object; the store then reserves the
 * room and calls `fn` to fill `len` bytes at `dst` (the data, then the
 * metadata) from wherever the primary copy lives. It runs on the thread
 * of that get, without the store's lock (other requests go on; a second
 * get of the same object waits for this one), and must not call the
 * store. A failure leaves the copy evicted, and the get fails with the
 * hook's error and `msg`. Without a hook, evicted copies are deleted. */
typedef ray_err (*store_fetch_fn)(void *arg, const store_object_id *id,
                                  uint8_t *dst, uint64_t len, char *msg,
                                  size_t msglen);

/* Set (or, with NULL, clear) the store's fetch hook: only from a client
 * in the store's own process (store_client_open_local), else RAY_EINVAL.
 * `arg` must outlive the store or a later call that clears the hook. */
ray_err store_client_set_fetch(store_client *c, store_fetch_fn fn, void *arg);

/* Fill *out with the store's statistics. */
ray_err store_client_stats(store_client *c, store_stats *out);

/* A message about the last failed call on this client (never NULL; the
 * text is owned by the client and valid until its next call). */
const char *store_client_last_error(store_client *c);

/* This client's index in the store (0..STORE_MAX_CLIENTS-1). */
uint32_t store_client_index(const store_client *c);

/* The region's header as this client maps it, read-only: a write through
 * it faults (SIGSEGV). For diagnostics and tests. */
const store_header *store_client_header(const store_client *c);

#endif /* RAY_OBJECTSTORE_CLIENT_H */

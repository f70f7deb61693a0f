/* SPDX-License-Identifier: Apache-2.0
 *
 * store_int.h: the object store's core state, shared by lifecycle.c,
 * eviction.c, spill.c, store.c and client.c (for clients in the store's
 * own process, and the frame limit of the socket protocol both speak).
 * Not a public header.
 *
 * Threading: every field not marked otherwise is guarded by `mu`. The
 * serving thread takes `mu` for each request; local clients take it for
 * their slow-path calls. The shared region itself is read lock-free by
 * clients (see layout.h for who may write what).
 *
 * Trust: what the store decides with (where an object lives, its sizes,
 * who created it, whether it is in memory or on disk, the counters) is
 * kept here, in the store's own memory: `meta`, `home`, `k`, `table`. The
 * slots only publish copies for lock-free readers; of what clients can
 * write, the store reads nothing but the handshake words (state, pins)
 * and the LRU stamps, whatever values they hold.
 */
#ifndef RAY_OBJECTSTORE_STORE_INT_H
#define RAY_OBJECTSTORE_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objectstore/arena.h"
#include "objectstore/client.h"
#include "objectstore/layout.h"
#include "objectstore/store.h"
#include "objectstore/table.h"

/* Largest frame payload on the store's socket, either way: requests are
 * small (a StoreDeleteRequest of ~30000 IDs fits), so anything larger is
 * a broken or hostile client and closes its connection. */
#define STORE_MAX_FRAME (1u << 20)

/* One spill file: several objects fused into one write. */
typedef struct store_spill_file {
    int fd;         /* -1 once the file is gone */
    uint64_t live;  /* objects still only in this file */
    uint64_t bytes; /* file size */
} store_spill_file;

/* The store's own record of a slot (never in shared memory). */
enum store_meta_state {
    STORE_META_FREE = 0,     /* on the free list */
    STORE_META_MEM = 1,      /* payload in the heap: being created (slot
                                CREATING) or sealed (the creator flips the
                                slot to SEALED without telling the store) */
    STORE_META_SPILLED = 2,  /* payload in spill file `spill_file` only */
    STORE_META_AWAY = 3,     /* an evicted secondary copy: no payload here;
                                the fetch hook brings it back (slot
                                SPILLED, so a get asks for a restore) */
    STORE_META_FETCHING = 4, /* AWAY being fetched into `offset` with mu
                                released (slot BUSY) */
};

typedef struct store_meta {
    store_object_id id;
    uint32_t state;      /* enum store_meta_state */
    uint32_t flags;      /* STORE_OBJ_* */
    uint32_t creator;    /* client index */
    uint32_t spill_file; /* SPILLED: spill file number */
    uint64_t offset;     /* MEM: payload offset from the region start */
    uint64_t data_size;
    uint64_t meta_size;
    uint64_t alloc_size; /* MEM: bytes the arena really reserved */
    uint64_t spill_off;  /* SPILLED: offset in the spill file */
} store_meta;

/* Counters for store_core_stats. */
typedef struct store_counters {
    uint64_t bytes_used;    /* reserved by live in-memory objects */
    uint64_t bytes_spilled; /* payload bytes in spill files */
    uint64_t objects_spilled;
    uint64_t evictions; /* objects evicted, cumulative */
    uint64_t spills;    /* objects spilled, cumulative */
    uint64_t restores;  /* objects restored, cumulative */
    uint64_t bytes_evicted;
    uint64_t bytes_restored;
    uint64_t fetches;         /* evicted copies brought back, cumulative */
    uint64_t bytes_committed; /* shared memory backed so far */
} store_counters;

typedef struct store_core {
    pthread_mutex_t mu;
    int memfd;            /* immutable */
    uint8_t *base;        /* RW mapping of the region; immutable */
    uint64_t region_size; /* immutable */
    uint64_t heap_off;    /* immutable */
    uint64_t heap_size;   /* immutable */
    store_header *hdr;    /* == base; immutable */
    store_table table;    /* private geometry; immutable */
    store_slot *slots;    /* == table.slots; immutable */
    store_meta *meta;     /* one per slot */
    uint32_t *home;       /* index hash of each slot's ID */
    store_counters k;
    store_arena *arena;   /* immutable pointer */
    uint64_t *reserved;   /* one bit per STORE_RESERVE_CHUNK of the
                             region committed with fallocate; under mu */
    uint32_t *free_slots; /* stack of free slot numbers */
    uint32_t nfree;
    bool client_used[STORE_MAX_CLIENTS];
    uint32_t epoch[STORE_MAX_CLIENTS]; /* what hdr->client_epoch holds */
    uint32_t nclients;
    char *spill_dir;           /* NULL: spilling off; immutable */
    uint64_t spill_min_bytes;  /* immutable */
    store_spill_ops spill_ops; /* immutable */
    store_spill_file *spill_files;
    uint32_t nspill_files;
    uint32_t spill_cap;
    store_fetch_fn fetch; /* NULL: evicted copies are deleted */
    void *fetch_arg;
} store_core;

/* Shared memory is committed in chunks of this size as objects need it. */
#define STORE_RESERVE_CHUNK (2ull << 20)

/* --- lifecycle.c ---------------------------------------------------- */

/* Build the region, arena and table. `err` gets a message on failure. */
ray_err store_core_create(const store_config *cfg, store_core **out, char *err,
                          size_t errlen);
void store_core_destroy(store_core *c);

/* Take a free client index (RAY_EBUSY when all are taken). Locks mu. */
ray_err store_core_client_add(store_core *c, uint32_t *idx);

/* Drop every pin of client `idx`, abort its unsealed objects and free the
 * index (its epoch turns odd: a client still using it finds out). Locks
 * mu. Returns how many unsealed objects were aborted (the caller logs it,
 * in the one line it writes about the client). */
uint32_t store_core_client_remove(store_core *c, uint32_t idx);

/* Start taking back the indexes of `n` idle clients: for each, mark its
 * epoch odd, then look for pins and unsealed objects of it. A client that
 * has any keeps its index (its epoch is given back) and gets
 * `spared[i]` true; the others must be closed and removed
 * (store_core_client_remove) by the caller, in that order: the client
 * checks that its socket is still open after reading its epoch. Locks
 * mu; scans the slots once. */
void store_core_client_revoke(store_core *c, const uint32_t *idx, uint32_t n,
                              bool *spared);

/* Where an object lives, as create and restore report it. Filled under
 * mu: once mu is dropped the slot may be reused by another thread (a
 * reply built from the slot itself would race with that reuse). */
typedef struct store_location {
    uint32_t slot;
    uint64_t offset; /* payload offset from the region start */
    uint64_t data_size;
    uint64_t meta_size;
} store_location;

/* The object operations; each locks mu. `msg` (msglen bytes) receives a
 * human-readable reason on failure. */
ray_err store_core_create_object(store_core *c, uint32_t client,
                                 const store_object_id *id, uint64_t data_size,
                                 uint64_t meta_size, uint32_t flags,
                                 store_location *loc, char *msg, size_t msglen);
ray_err store_core_abort(store_core *c, uint32_t client,
                         const store_object_id *id);
ray_err store_core_delete(store_core *c, const store_object_id *id);
/* Restore a spilled object and pin it for `client`. RAY_EAGAIN if the
 * object is not spilled (any more): the caller retries its fast path. */
ray_err store_core_restore(store_core *c, uint32_t client,
                           const store_object_id *id, store_location *loc,
                           char *msg, size_t msglen);
void store_core_stats(store_core *c, store_stats *out);

/* Seal from the creator (lock-free; shared with clients). */
ray_err store_seal_slot(const store_table *t, uint32_t client,
                        const store_object_id *id);

/* Under mu: free an object's memory and its slot (the shared state must
 * be BUSY, claimed by the caller). */
void store_core_free_slot(store_core *c, uint32_t slot);

/* Under mu: the slot of `id`, looked up with the store's private copies
 * of the IDs, or -1. */
int64_t store_core_find(store_core *c, const store_object_id *id);

/* --- store.c -------------------------------------------------------- */

/* The core of a running server (for local clients). */
store_core *store_server_core(store_server *s);

/* --- eviction.c ----------------------------------------------------- */

/* Under mu: evict unpinned sealed secondary copies, least recently used
 * first, until `need` bytes are freed or none is left: deleted, or with
 * a fetch hook kept AWAY. Returns bytes freed. */
uint64_t store_evict(store_core *c, uint64_t need);

/* --- spill.c -------------------------------------------------------- */

/* The real system calls (store_config.spill_ops NULL). */
extern const store_spill_ops store_spill_sys_ops;

/* Under mu: write unpinned sealed primary objects (LRU first) to one new
 * spill file until at least `need` bytes (and spill_min_bytes) are
 * covered, then free their memory. Returns bytes freed: 0 when nothing
 * could be spilled (*err RAY_OK) or when creating or writing the file
 * failed (*err says why, e.g. RAY_ESYSERR|ENOSPC; every object stays in
 * memory). */
uint64_t store_spill(store_core *c, uint64_t need, ray_err *err);

/* Under mu: make room for the spilled object in slot `x` (its slot
 * claimed BUSY by the caller) without new disk space: trade places with
 * one unpinned sealed primary object y in memory whose payload fits in
 * x's range of its spill file and whose allocation holds x. y's bytes go
 * to x's place on disk, x's bytes to y's place in memory, a bounded chunk
 * at a time. On RAY_OK x is in memory (meta MEM, its offset and
 * alloc_size are y's old ones; the caller publishes and pins it) and y is
 * spilled where x was. RAY_ENOTFOUND when no object can trade places; an
 * I/O error otherwise, with `msg` set and both objects as they were. */
ray_err store_spill_swap(store_core *c, uint32_t x, char *msg, size_t msglen);

/* Under mu: read a spilled object's payload back into `dst`. */
ray_err store_spill_read(store_core *c, const store_meta *m, uint8_t *dst);

/* Under mu: forget the spilled copy of `m` (restored or deleted). */
void store_spill_drop(store_core *c, store_meta *m);

/* Close and unlink every spill file. */
void store_spill_fini(store_core *c);

#endif /* RAY_OBJECTSTORE_STORE_INT_H */

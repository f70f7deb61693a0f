/* SPDX-License-Identifier: Apache-2.0
 *
 * plasma.h: the core worker's use of the node's object store for large
 * values: how a stored value is named, written and deleted.
 *
 * Values of at least STORE_PLASMA_MIN bytes do not live in the owner's memory
 * store; they live in the node's shared-memory object store (objectstore/)
 * and the owner's table keeps only a descriptor (see memory_store.h,
 * SDK_TYPE_STORED): an 8-byte *key*. A key names a stored value inside one
 * runtime; the store's 28-byte object ID is derived from it and the
 * runtime's random 12-byte prefix, laid out as an rt_object_id of
 * (task id = prefix | key | job 1, index 1), so any process of the
 * runtime turns a key into the ID without a lookup. Key spaces:
 *   task results   the task's id               (top two bits 00)
 *   owner puts     STORE_KEY_PUT | counter        (also temporary arguments)
 *   puts in tasks  STORE_KEY_TASK_PUT | owner's object id
 * A retried task that meets the sealed leftovers of an earlier attempt
 * (a worker killed between its seal and its reply) deletes them first; if
 * they are still pinned it sends its result through its ring instead.
 *
 * Deletes: the owner deletes a stored value when its last reference goes.
 * A delete that finds the value still pinned (a reader in a task that has
 * not released it yet, a dead worker whose pins the store has not dropped
 * yet) is kept in a trash list and retried later, so nothing leaks.
 *
 * Thread-safety: the functions are as thread-safe as the store client they
 * are given; a store_plasma_trash is guarded by its caller.
 */
#ifndef RAY_OBJECTSTORE_PLASMA_H
#define RAY_OBJECTSTORE_PLASMA_H

#include <stddef.h>
#include <stdint.h>

#include "objectstore/client.h"
#include "runtime/status.h"

/* Values of at least this many bytes go to the node's object store. */
#define STORE_PLASMA_MIN (100u << 10)

#define STORE_PLASMA_PREFIX 12
#define STORE_KEY_PUT (2ull << 62)
#define STORE_KEY_TASK_PUT (3ull << 62)

/* The key of the result of task `task_id`. */
static inline uint64_t
store_plasma_result_key(uint64_t task_id)
{
    return task_id & ~STORE_KEY_TASK_PUT;
}

/* The store ID of `key` in the runtime whose prefix is `prefix`. */
void store_plasma_id(const uint8_t prefix[STORE_PLASMA_PREFIX], uint64_t key,
                     store_object_id *out);

/* Create the object `id` of `len` bytes, copy `data` into it, seal it and
 * drop the creator's pin. While pinned data leaves no room even after
 * eviction and spilling, retry for up to `wait_ms` (pins are usually
 * those of running tasks, released soon), sleeping in between. Returns
 * RAY_OK; RAY_ESTORE_FULL when it cannot fit (larger than the store, or
 * still no room), with a message in `msg` that names the sizes;
 * RAY_EEXISTS when the ID is taken; another store error otherwise, with
 * the store's message (RAY_ESYSERR|ENOSPC when making room needed a spill
 * and the spill directory is full: not retried, since no release of pins
 * fixes it). Nothing is left in the store on failure. */
ray_err store_plasma_write(store_client *c, const store_object_id *id,
                           const void *data, size_t len, int64_t wait_ms,
                           char *msg, size_t msglen);

/* store_plasma_write in two steps, for a writer that fills the value in
 * place (a pull from another node receives straight into *wb): create
 * (with the same wait and errors; `flags` are store_client_create's),
 * then seal and unpin, or
 * store_client_abort. A seal that fails aborts. */
ray_err store_plasma_create(store_client *c, const store_object_id *id,
                            size_t len, int64_t wait_ms, uint32_t flags,
                            store_wbuffer *wb, char *msg, size_t msglen);
ray_err store_plasma_seal(store_client *c, const store_object_id *id, char *msg,
                          size_t msglen);

/* Pin the sealed object `id` and fill *b (store_client_get with one ID).
 * A spilled object is restored; when pinned data leaves no room for it,
 * retry for up to `wait_ms` as store_plasma_write does. Returns what the
 * store returned (RAY_ESTORE_FULL after the wait; a full spill disk,
 * RAY_ESYSERR|ENOSPC, at once; the store's message is
 * store_client_last_error). */
ray_err store_plasma_get(store_client *c, const store_object_id *id,
                         int64_t wait_ms, store_buffer *b);

/* Deletes to retry (see above). Zero-initialise; free with _fini. */
typedef struct store_plasma_trash {
    store_object_id *ids;
    size_t n, cap;
} store_plasma_trash;

/* Delete `id` now, or remember it when it is still pinned (RAY_EBUSY). An
 * unknown ID is not an error. Returns RAY_ENOMEM only if a busy ID could
 * not be remembered (it then stays until the store stops). */
ray_err store_plasma_delete(store_client *c, store_plasma_trash *t,
                            const store_object_id *id);

/* Retry the remembered deletes; returns how many are still pending. */
size_t store_plasma_trash_retry(store_client *c, store_plasma_trash *t);

void store_plasma_trash_fini(store_plasma_trash *t);

#endif /* RAY_OBJECTSTORE_PLASMA_H */

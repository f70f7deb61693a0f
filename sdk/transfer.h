/* SPDX-License-Identifier: Apache-2.0
 *
 * transfer.h: values too large for a record, between a driver and its
 * agents on other nodes, on data connections.
 *
 * A data connection is a connection to an agent like an attached
 * driver's (the raylet passes it on: AttachRequest.data), that carries
 * objects only, so bulk bytes never queue behind, or in front of, calls
 * and results. Its messages (cluster.proto) are frames read exactly,
 * each ObjectChunk or ObjectPush followed by the value's raw bytes on the
 * stream: the sender writes them from its object store's memory, the
 * receiver reads them straight into its own store's (no copy between).
 *
 * Results: a value of XFER_KEEP_MIN bytes or more that a call on another
 * node returns stays in that node's store, pinned (xfer_keep); the
 * result names it (ClusterResult.stored), and the driver pulls it into
 * its own store in XFER_CHUNK pieces over XFER_STREAMS connections,
 * XFER_DEPTH pieces asked ahead on each (xfer_pull): at once, or, for a
 * result its call can make again, once something waits for it (parked
 * until then: cluster_objects.c). The object is the driver's (it owns
 * every object of its job) and stays pending until its bytes have
 * landed, so whatever waits on it (gets, waits, dependent calls) sees
 * nothing new. The node keeps its copy while the driver holds the value,
 * until an ObjectFree or CLUSTER_FREE record.
 *
 * Arguments: a call's record names a value a node keeps ("RAYLET JOB KEY
 * SIZE [KEEP_AS]", ClusterArg.remote): the keeper passes its own copy
 * (xfer_kept_ref); another agent pulls it from the keeper first
 * (xfer_pull_ref), keeping its copy under KEEP_AS when the driver asks.
 * A value pushed by the driver (xfer_push) is kept too: named as a copy,
 * or, a plain value for one call (ClusterArg.pushed), handed to that
 * call (xfer_take) and freed when it is done.
 *
 * Relays: a copy kept under KEEP_AS is in the table from the moment its
 * pull begins, and other nodes' pulls of it are served each chunk as it
 * lands (a pull asking for one not landed yet waits for it). The driver
 * names such a copy to the next reader at once, so a value that many
 * nodes read at the same time goes down a chain of them, each node
 * sending it once, instead of every reader taking it from its source.
 */
#ifndef RAY_SDK_TRANSFER_H
#define RAY_SDK_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "ray/ray.h"

#define XFER_KEEP_MIN (1u << 20) /* bytes: a value this large is pulled */
#define XFER_CHUNK (4u << 20)    /* bytes asked for at once */
#define XFER_STREAMS 2           /* connections one pull uses */
#define XFER_DEPTH 2             /* chunks asked ahead on each */
#define XFER_IDLE_MS 60000       /* a stream silent this long has failed */

/* ---- an agent's side ---- */

/* Keep a value (its view, pinned) to be pulled or given to calls;
 * returns its key, or 0 when out of memory (the view is still the
 * caller's). Results and pushed values are kept so. */
uint64_t xfer_keep(ray_view *v);

/* A kept value as a ref the caller now owns, and the table forgets it
 * (a value pushed for one call); RAY_REF_NULL with the detail set if
 * there is none under `key`. */
ray_ref xfer_take(uint64_t key);

/* A kept value as a new ref the caller owns (the value stays kept);
 * RAY_REF_NULL with the detail set if there is none under `key`. A copy
 * still being pulled here is waited for (see xfer_kept_filling). */
ray_ref xfer_kept_ref(uint64_t key);

/* Is the value kept under `key` a copy still being pulled here? */
bool xfer_kept_filling(uint64_t key);

/* A copy of `size` bytes a call about to start pulls here and keeps
 * under `key`: in the table at once, filling, so that a record after it
 * reading that copy here waits for it rather than miss it. The call's
 * xfer_pull_ref (keep_as `key`) takes it up; xfer_fill_cancel ends one
 * never taken up (failed: it leaves a tombstone that readers fail on). */
void xfer_fill_expect(uint64_t key, uint64_t size);
void xfer_fill_cancel(uint64_t key);

/* Bytes this process has served to other nodes' pulls (counted as each
 * chunk is sent). */
uint64_t xfer_served(void);

/* Drop the value kept or pushed under `key` (none: nothing happens). */
void xfer_drop(uint64_t key);

/* Serve the data connection `fd` until it ends or breaks the protocol,
 * then close it. Blocks: run it on a thread of its own. */
void xfer_serve(int fd);

/* ---- a driver's side (or an agent pulling from another) ---- */

/* A data connection to job `job`'s agent on the raylet at `raylet`
 * ("ip:port"), which the token `tok` admits. */
ray_err xfer_dial(const char *raylet, uint64_t job, const uint8_t *tok, int *fd,
                  char *why, size_t whylen);

/* Pull `size` bytes of value `key` from job `job`'s agent on `raylet`
 * into this process's store, over XFER_STREAMS new connections: *ref
 * then holds it (a put of `type`). With `keep_as` (0: none), the copy is
 * also kept under that key (a key its driver chose: its own store key,
 * larger than any key this table gives), served to other nodes as it
 * lands (a relay). Errors with the reason in why. The
 * copy is a secondary one: the store may evict it to make room, and
 * pulls it again from the same agent when it is next read (the store's
 * fetch hook); if that agent has gone by then, the read fails with
 * RAY_EOBJECT_LOST, which sends the driver to another copy. */
ray_err xfer_pull_ref(const char *raylet, uint64_t job, const uint8_t *tok,
                      uint64_t key, uint64_t size, uint32_t type,
                      uint64_t keep_as, ray_ref *ref, char *why, size_t whylen);

/* The stored value `skey` was deleted here: forget where its copy came
 * from (sdk_store_forget). */
void xfer_copy_forget(uint64_t skey);

/* Pull `size` bytes of stored value `key` into `dst` over the `nfds`
 * data connections in `fds` (1 to XFER_STREAMS). RAY_OK, or an error with
 * the reason in `why`: the agent's (RAY_ENOTFOUND: no such value there),
 * or the connection's (RAY_ECLOSED, RAY_ETIMEDOUT, RAY_EPROTO), after
 * which the connections are unusable. */
ray_err xfer_pull(const int *fds, int nfds, uint64_t key, void *dst,
                  uint64_t size, char *why, size_t whylen);

/* Push `len` bytes of `type` at `data` into the agent's store over `fd`;
 * *key then names it there (ClusterArg.pushed). Errors as xfer_pull's;
 * the agent's own (RAY_ESTORE_FULL) leave the connection usable. */
ray_err xfer_push(int fd, uint32_t type, const void *data, uint64_t len,
                  uint64_t *key, char *why, size_t whylen);

/* Tell the agent to drop stored value `key` (no answer). */
ray_err xfer_free(int fd, uint64_t key);

#endif /* RAY_SDK_TRANSFER_H */

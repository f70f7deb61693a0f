/* SPDX-License-Identifier: Apache-2.0
 *
 * transport.h: the owner <-> worker transport, one of the three seams of
 * the engine (with the raylet's events and the owner's calls into the
 * raylet, scheduler/raylet.h). It carries records between the owner (the
 * driver's core worker: tasks, objects, waiters) and one worker process
 * per slot:
 *   owner -> worker: task records (SDK_MSG_TASK, SDK_MSG_MAP), replies
 *                    to requests and pushed results (SDK_MSG_REPLY/PUSH);
 *   worker -> owner: results (SDK_MSG_DONE) and requests (sdk/wire.h).
 * The records are the same for every transport (sdk/wire.h); a transport
 * decides how they travel. transport_shm.c is the embedded node's: three
 * rings per slot in one memfd the workers inherit. A TCP transport for
 * workers on other nodes plugs in behind the same table.
 *
 * Every call is made with the owner's lock held (sdk_rt.mu), for one slot
 * `w` in [0, nslots). A transport never calls back into the owner but
 * through the sink given to drain.
 *
 * The owner's doorbell (sdk_bell) is not a transport call: it is a few
 * words in memory every worker of the node can reach, and what a driver
 * thread sleeps on. Workers ring it directly; a transport whose workers
 * cannot (TCP) rings it from the thread that receives for them.
 */
#ifndef RAY_SDK_TRANSPORT_H
#define RAY_SDK_TRANSPORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ray/ray.h"
#include "sdk/bell.h"
#include "sdk/wire.h"

/* What a worker's process reports of itself. */
typedef struct sdk_tx_worker {
    bool ready;       /* it started and took its first record */
    int32_t pid;      /* 0 until it started */
    uint64_t current; /* the task it runs now, 0 if none */
    uint32_t blocked; /* its wait: 0 or SDK_BLOCKED_* (| _LONG) */
} sdk_tx_worker;

/* Where drain hands what a worker sent (the owner). `owned`: the payload
 * is an rt_malloc'd buffer the sink takes over (a large result that came
 * in fragments); otherwise it is only valid during the call. */
typedef struct sdk_tx_sink {
    void (*done)(void *ctx, int w, const sdk_msg_done *d, const void *payload,
                 bool owned);
    void (*request)(void *ctx, int w, uint32_t type, const uint8_t *rec,
                    uint32_t len);
} sdk_tx_sink;

typedef struct sdk_tx sdk_tx;

typedef struct sdk_tx_ops {
    /* Slot w gets a new process: make its channel fresh, and give the
     * worker's spec (an environment entry) and a descriptor it inherits
     * (-1 for none). */
    ray_err (*open)(sdk_tx *tx, int w, char *env, size_t envlen, int *keep_fd);
    /* Slot w's process is gone (its records were drained): drop what
     * was waiting to reach it and any partial record from it. */
    void (*close)(sdk_tx *tx, int w);

    /* Owner -> worker. reserve: room for a record of `len` bytes, NULL
     * when there is none now (never more than max_record). commit: the
     * record is written; it returns a token naming it for revoke. The
     * worker sees committed records after flush. */
    size_t (*max_record)(sdk_tx *tx, int w);
    void *(*reserve)(sdk_tx *tx, int w, size_t len);
    uint32_t (*commit)(sdk_tx *tx, int w, uint32_t type, size_t len);
    void (*flush)(sdk_tx *tx, int w);
    /* Take back committed task record `token` of type `type` if the
     * worker has not claimed it: true when it will never run there. */
    bool (*revoke)(sdk_tx *tx, int w, uint32_t token, uint32_t type);
    /* Answer a request or push a result (as: SDK_MSG_REPLY or _PUSH,
     * to id): never blocks, never drops (what does not fit now is sent
     * in order later). A payload too large for the worker becomes an
     * RAY_ETOOBIG answer. */
    void (*reply)(sdk_tx *tx, int w, uint32_t as, uint64_t id, ray_err err,
                  uint32_t vtype, uint64_t scalar, const void *payload,
                  size_t len);
    /* Let a blocked task worker run its queued tasks inside its wait. */
    void (*set_nested)(sdk_tx *tx, int w, bool on);
    /* Every worker times the calls it runs and sends SDK_MSG_TRACE
     * records (the driver's timeline), or stops. */
    void (*trace)(sdk_tx *tx, bool on);

    /* Worker -> owner: hand what worker w sent to the sink, in order;
     * `deep` also takes what the worker wrote but held back for a batch
     * (for a wait that has lasted). Returns how many records. */
    size_t (*drain)(sdk_tx *tx, int w, bool deep, const sdk_tx_sink *sink,
                    void *ctx);
    /* What worker w reports of itself now. */
    void (*worker)(sdk_tx *tx, int w, sdk_tx_worker *out);
    /* Replies held back for a worker's room so far (ray_stats). */
    uint64_t (*held_total)(sdk_tx *tx);

    /* Where the node's object store listens, once it started (path), or
     * that it cannot (NULL): workers that asked learn it. */
    void (*store_ready)(sdk_tx *tx, const char *path);
    /* ray_shutdown: every worker is told to exit and woken. */
    void (*shutdown)(sdk_tx *tx);
    void (*destroy)(sdk_tx *tx);
} sdk_tx_ops;

struct sdk_tx {
    const sdk_tx_ops *ops;
    sdk_bell *bell; /* the owner's doorbell, where its workers reach it */
    char *node_id;  /* where the owner writes its node's id for its workers
                       (64 bytes), or NULL */
};

/* The calls, as the owner writes them. */
static inline size_t
sdk_tx_max_record(sdk_tx *tx, int w)
{
    return tx->ops->max_record(tx, w);
}

static inline void *
sdk_tx_reserve(sdk_tx *tx, int w, size_t len)
{
    return tx->ops->reserve(tx, w, len);
}

static inline uint32_t
sdk_tx_commit(sdk_tx *tx, int w, uint32_t type, size_t len)
{
    return tx->ops->commit(tx, w, type, len);
}

static inline void
sdk_tx_flush(sdk_tx *tx, int w)
{
    tx->ops->flush(tx, w);
}

static inline void
sdk_tx_reply(sdk_tx *tx, int w, uint32_t as, uint64_t id, ray_err err,
             uint32_t vtype, uint64_t scalar, const void *payload, size_t len)
{
    tx->ops->reply(tx, w, as, id, err, vtype, scalar, payload, len);
}

static inline void
sdk_tx_worker_state(sdk_tx *tx, int w, sdk_tx_worker *out)
{
    tx->ops->worker(tx, w, out);
}

/* The embedded node's transport (transport_shm.c): `nslots` slots, the
 * first `ntask` for task workers, rings of ring_bytes each. ref_tag and
 * store_prefix are what workers need to name refs and stored values. */
typedef struct sdk_tx_shm_config {
    int nslots, ntask, nworkers;
    uint32_t ring_bytes;
    int spin_us;
    uint64_t ref_tag;
    const uint8_t *store_prefix; /* STORE_PLASMA_PREFIX bytes */
} sdk_tx_shm_config;

ray_err sdk_tx_shm_create(const sdk_tx_shm_config *cfg, sdk_tx **out);

#endif /* RAY_SDK_TRANSPORT_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * ids.h: the identifiers of jobs, tasks, objects, actors, nodes and workers.
 *
 * Each kind is its own by-value struct wrapping fixed bytes, so passing a
 * task ID where an object ID is expected fails to compile, at no runtime
 * cost. The layouts follow Ray's, so one ID can be derived from another
 * without a lookup:
 *
 *   rt_job_id     4 bytes   job number, little-endian (assigned by the GCS)
 *   rt_actor_id  16 bytes   12 random bytes | job id
 *   rt_task_id   24 bytes   20 random bytes | job id
 *   rt_object_id 28 bytes   task id | index (little-endian u32); the top
 *                           bit of the index marks an object made by
 *                           ray_put rather than returned by the task
 *   rt_node_id   28 bytes   random
 *   rt_worker_id 28 bytes   random
 *
 * The all-zero value of each kind is "nil" (so a zeroed struct is nil).
 * Random bytes come from the per-thread generator in runtime/random.h: no
 * system call per ID, and distinct streams in a forked child.
 *
 * For every kind K in {job, actor, task, object, node, worker} this header
 * defines (static inline, no allocation, thread-safe):
 *
 *   rt_K_id  rt_K_id_nil(void)                    the nil ID
 *   bool     rt_K_id_is_nil(rt_K_id id)           true for the nil ID
 *   bool     rt_K_id_eq(rt_K_id a, rt_K_id b)     byte equality
 *   uint64_t rt_K_id_hash(rt_K_id id)             well-mixed hash, for tables
 *   char    *rt_K_id_hex(rt_K_id id, char out[RT_K_ID_HEX_SIZE])
 *            writes lowercase hex plus NUL into `out` and returns `out`
 *   ray_err  rt_K_id_from_hex(const char *hex, rt_K_id *out)
 *            RAY_OK, or RAY_EINVAL (and `out` untouched) unless `hex` is
 *            exactly 2*RT_K_ID_SIZE hex digits (either case)
 *
 * and the sizes RT_K_ID_SIZE and RT_K_ID_HEX_SIZE (2*size + 1).
 */
#ifndef RAY_RUNTIME_IDS_H
#define RAY_RUNTIME_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runtime/status.h"

#define RT_JOB_ID_SIZE 4
#define RT_ACTOR_ID_SIZE 16
#define RT_TASK_ID_SIZE 24
#define RT_OBJECT_ID_SIZE 28
#define RT_NODE_ID_SIZE 28
#define RT_WORKER_ID_SIZE 28

#define RT_JOB_ID_HEX_SIZE (2 * RT_JOB_ID_SIZE + 1)
#define RT_ACTOR_ID_HEX_SIZE (2 * RT_ACTOR_ID_SIZE + 1)
#define RT_TASK_ID_HEX_SIZE (2 * RT_TASK_ID_SIZE + 1)
#define RT_OBJECT_ID_HEX_SIZE (2 * RT_OBJECT_ID_SIZE + 1)
#define RT_NODE_ID_HEX_SIZE (2 * RT_NODE_ID_SIZE + 1)
#define RT_WORKER_ID_HEX_SIZE (2 * RT_WORKER_ID_SIZE + 1)

/* The largest object index; the bit above it is the put flag. */
#define RT_OBJECT_INDEX_MAX 0x7fffffffu
#define RT_OBJECT_INDEX_PUT_FLAG 0x80000000u

typedef struct rt_job_id {
    uint8_t b[RT_JOB_ID_SIZE];
} rt_job_id;
typedef struct rt_actor_id {
    uint8_t b[RT_ACTOR_ID_SIZE];
} rt_actor_id;
typedef struct rt_task_id {
    uint8_t b[RT_TASK_ID_SIZE];
} rt_task_id;
typedef struct rt_object_id {
    uint8_t b[RT_OBJECT_ID_SIZE];
} rt_object_id;
typedef struct rt_node_id {
    uint8_t b[RT_NODE_ID_SIZE];
} rt_node_id;
typedef struct rt_worker_id {
    uint8_t b[RT_WORKER_ID_SIZE];
} rt_worker_id;

/* IDs go on the wire as raw bytes: no padding, no alignment surprises. */
_Static_assert(sizeof(rt_job_id) == 4, "rt_job_id layout");
_Static_assert(sizeof(rt_actor_id) == 16, "rt_actor_id layout");
_Static_assert(sizeof(rt_task_id) == 24, "rt_task_id layout");
_Static_assert(sizeof(rt_object_id) == 28, "rt_object_id layout");
_Static_assert(sizeof(rt_node_id) == 28, "rt_node_id layout");
_Static_assert(sizeof(rt_worker_id) == 28, "rt_worker_id layout");
_Static_assert(_Alignof(rt_object_id) == 1, "IDs are byte arrays");

/* ---- generic helpers (used by the per-kind functions) ---------------- */

/* Write 2*n lowercase hex digits of `bytes` and a NUL into `out`. */
void rt_id_hex_encode(const uint8_t *bytes, size_t n, char *out);

/* Decode exactly 2*n hex digits from `hex` into `bytes`. RAY_EINVAL if
 * `hex` is NULL, has another length, or holds a non-hex character; then
 * `bytes` is untouched. */
ray_err rt_id_hex_decode(const char *hex, uint8_t *bytes, size_t n);

/* A 64-bit hash of `n` bytes, every input bit affecting every output bit. */
uint64_t rt_id_hash_bytes(const uint8_t *bytes, size_t n);

#define RT_ID_DEFINE(kind, SIZE)                                               \
    static inline rt_##kind rt_##kind##_nil(void)                              \
    {                                                                          \
        rt_##kind id;                                                          \
        memset(&id, 0, sizeof id);                                             \
        return id;                                                             \
    }                                                                          \
    static inline bool rt_##kind##_is_nil(rt_##kind id)                        \
    {                                                                          \
        static const uint8_t zero[SIZE];                                       \
        return memcmp(id.b, zero, SIZE) == 0;                                  \
    }                                                                          \
    static inline bool rt_##kind##_eq(rt_##kind a, rt_##kind b)                \
    {                                                                          \
        return memcmp(a.b, b.b, SIZE) == 0;                                    \
    }                                                                          \
    static inline uint64_t rt_##kind##_hash(rt_##kind id)                      \
    {                                                                          \
        return rt_id_hash_bytes(id.b, SIZE);                                   \
    }                                                                          \
    static inline char *rt_##kind##_hex(rt_##kind id, char *out)               \
    {                                                                          \
        rt_id_hex_encode(id.b, SIZE, out);                                     \
        return out;                                                            \
    }                                                                          \
    static inline ray_err rt_##kind##_from_hex(const char *hex,                \
                                               rt_##kind *out)                 \
    {                                                                          \
        return rt_id_hex_decode(hex, out->b, SIZE);                            \
    }

RT_ID_DEFINE(job_id, RT_JOB_ID_SIZE)
RT_ID_DEFINE(actor_id, RT_ACTOR_ID_SIZE)
RT_ID_DEFINE(task_id, RT_TASK_ID_SIZE)
RT_ID_DEFINE(object_id, RT_OBJECT_ID_SIZE)
RT_ID_DEFINE(node_id, RT_NODE_ID_SIZE)
RT_ID_DEFINE(worker_id, RT_WORKER_ID_SIZE)

/* ---- jobs ------------------------------------------------------------- */

/* The job ID for job number `n` (the GCS hands out 1, 2, ...; 0 is nil). */
rt_job_id rt_job_id_from_int(uint32_t n);

/* The job number inside `id`. */
uint32_t rt_job_id_to_int(rt_job_id id);

/* ---- actors ----------------------------------------------------------- */

/* A fresh random actor ID belonging to `job`. Never fails. */
rt_actor_id rt_actor_id_create(rt_job_id job);

/* The job that created the actor. */
rt_job_id rt_actor_id_job(rt_actor_id id);

/* ---- tasks ------------------------------------------------------------ */

/* A fresh random task ID belonging to `job` (160 random bits, so IDs from
 * any number of processes do not collide in practice). Never fails, makes
 * no system call after the thread's first. Hot path. */
rt_task_id rt_task_id_create(rt_job_id job);

/* The job the task belongs to. */
rt_job_id rt_task_id_job(rt_task_id id);

/* ---- objects ---------------------------------------------------------- */

/* The ID of return value number `index` of `task`. RAY_OK, or RAY_EINVAL
 * if index > RT_OBJECT_INDEX_MAX (then `out` is untouched). */
ray_err rt_object_id_for_return(rt_task_id task, uint32_t index,
                                rt_object_id *out);

/* The ID of the `index`th object put by `task` (ray_put from inside the
 * task, or from the driver's own task). Distinct from every return ID of
 * the same task. RAY_OK or RAY_EINVAL as above. */
ray_err rt_object_id_for_put(rt_task_id task, uint32_t index,
                             rt_object_id *out);

/* The task that created the object (returned or put it). */
rt_task_id rt_object_id_task(rt_object_id id);

/* The object's index, without the put flag. */
uint32_t rt_object_id_index(rt_object_id id);

/* True if the object was made by a put rather than returned by a task. */
bool rt_object_id_is_put(rt_object_id id);

/* ---- nodes and workers ------------------------------------------------ */

/* A fresh random node ID. Never fails. */
rt_node_id rt_node_id_create(void);

/* A fresh random worker ID. Never fails. */
rt_worker_id rt_worker_id_create(void);

#endif /* RAY_RUNTIME_IDS_H */

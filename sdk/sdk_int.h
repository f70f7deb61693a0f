/* SPDX-License-Identifier: Apache-2.0
 *
 * sdk_int.h: internals shared by the files of libray (never installed).
 *
 * Shared memory (one memfd per runtime, inherited by every worker):
 *   [sdk_shm_hdr, 4 KiB][slot 0][slot 1]...
 * and each worker slot holds its control block and three SPSC rings:
 *   sub   driver -> worker: tasks (MSG_TASK, MSG_MAP)
 *   comp  worker -> driver: results (MSG_DONE)
 *   reply driver -> worker: answers to requests made inside tasks
 * The driver side wakes on one doorbell (drv_seq futex in the header) that
 * workers ring only when a driver thread declared itself asleep.
 *
 * Driver state lives in one process-global sdk_rt guarded by `mu`; a
 * reactor thread sleeps on the doorbell and a monitor thread polls worker
 * pidfds and output pipes. Every wire struct is fixed-width and checked
 * with _Static_assert.
 */
#ifndef RAY_SDK_SDK_INT_H
#define RAY_SDK_SDK_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ray/ray.h"
#include "runtime/core_worker/memory_store.h"
#include "runtime/shm_ring.h"
#include "runtime/core_worker/node_store.h"
#include "runtime/core_worker/plasma.h"
#include "scheduler/local_queue.h"
#include "scheduler/resources.h"
#include "scheduler/worker_pool.h"

#define SDK_ENV "RAYC_WORKER_SPEC"
#define SDK_MAGIC 0x52415943u /* "RAYC" */

/* ---- shared memory layout ---- */

typedef struct sdk_shm_hdr {
    uint32_t magic;
    uint32_t nslots;
    uint64_t slot_bytes;
    uint64_t ring_bytes;
    int32_t driver_pid;
    int32_t spin_us;
    uint8_t store_prefix[CW_PLASMA_PREFIX]; /* store IDs (plasma.h) */
    uint32_t pad0;
    _Alignas(64) _Atomic uint32_t shutdown;
    _Alignas(64) _Atomic uint32_t drv_seq;      /* doorbell futex word */
    _Atomic uint32_t drv_sleepers;              /* driver threads asleep */
    /* The node's object store, started on first need (SDK_STORE_*); the
     * socket path is written before store_state turns READY. */
    _Alignas(64) _Atomic uint32_t store_state;  /* also a futex word */
    char store_path[124];
    uint8_t pad[4096 - 320];
} sdk_shm_hdr;

enum { SDK_STORE_NONE = 0, SDK_STORE_READY = 1, SDK_STORE_FAILED = 2 };

_Static_assert(sizeof(sdk_shm_hdr) == 4096, "sdk_shm_hdr layout");

typedef struct sdk_worker_ctl {
    _Atomic uint64_t current;  /* id of the task running now, 0 = idle */
    _Atomic uint32_t state;    /* SDK_W_* as seen by the worker */
    int32_t pid;
    _Atomic uint32_t reply_backlog; /* the driver holds replies that did
                                       not fit the reply ring: a worker
                                       that drained it sends a NUDGE */
    uint8_t pad[44];
} sdk_worker_ctl;

_Static_assert(sizeof(sdk_worker_ctl) == 64, "sdk_worker_ctl layout");

enum { SDK_W_STARTING = 0, SDK_W_READY = 1 };

/* Message types on the rings. */
enum {
    SDK_MSG_TASK = 1,    /* driver -> worker: run a call */
    SDK_MSG_MAP = 2,     /* driver -> worker: run a map chunk */
    SDK_MSG_DONE = 3,    /* worker -> driver: a result */
    SDK_MSG_SUBMIT = 4,  /* worker -> driver: nested call (no reply) */
    SDK_MSG_PUT = 5,     /* worker -> driver: put (no reply) */
    SDK_MSG_GET = 6,     /* worker -> driver: get (reply) */
    SDK_MSG_RELEASE = 7, /* worker -> driver: drop a holder */
    SDK_MSG_IDS = 8,     /* worker -> driver: reserve object ids (reply) */
    SDK_MSG_RETAIN = 9,  /* worker -> driver: add a holder */
    SDK_MSG_REPLY = 10,  /* driver -> worker (reply ring): sdk_msg_done */
    SDK_MSG_ACALL = 11,  /* worker -> driver: actor call (as SUBMIT, the
                            actor id in req_id) */
    SDK_MSG_AEXIT = 12,  /* actor host -> driver: actor in slot obj_id
                            exited (ray_actor_exit) */
    SDK_MSG_STORE = 13,  /* worker -> driver: start the object store (the
                            answer is hdr->store_state) */
    SDK_MSG_PUSH = 14,   /* driver -> worker (reply ring): the result of
                            a call the worker made, sdk_msg_done with the
                            object id in task_id (worker_results.c) */
    SDK_MSG_NUDGE = 15,  /* worker -> driver: its reply ring has room for
                            the replies the driver holds back */
    SDK_MSG_WATCH = 16,  /* worker -> driver: push me object obj_id's
                            value when done (ray_wait in a task) */
    SDK_MSG_CANCEL = 17, /* worker -> driver: ray_cancel of obj_id's task
                            (len: force); reply: the error and detail */
    SDK_MSG_ALOOKUP = 20,/* worker -> driver: actor by name (reply: its
                            id in scalar, a handle counted for the
                            worker); + name_len bytes of name */
    SDK_MSG_ARETAIN = 21,/* worker -> driver: count a handle (obj_id: the
                            actor) for this worker */
    SDK_MSG_ARELEASE = 22,/* worker -> driver: drop a handle it counted */
    SDK_MSG_ACREATE = 23,/* worker -> driver: create an actor (reply: its
                            id in scalar, a handle counted for the
                            worker): sdk_msg_req (req_id, fn_hash = the
                            constructor, nargs), sdk_msg_acreate, name,
                            resources, wire args */
    SDK_MSG_AKILL = 24,  /* worker -> driver: ray_actor_kill (obj_id: the
                            actor, len: no_restart) */
    SDK_MSG_ASTATE = 25, /* worker -> driver: ray_actor_state of obj_id
                            (reply scalar: state | restarts << 8) */
    SDK_MSG_AREADY = 26, /* worker -> driver: answer once actor obj_id is
                            ALIVE (RAY_OK) or DEAD (its death error).
                            Actor messages: 11, 12, 20-26 (actor*.c) */
};

/* sdk_msg_task.flags of records for actor hosts: the kind in the low
 * byte, the actor's slot inside the host in bits 8..19 and, in a NEW
 * record, the actor's max_concurrency in bits 20..31 (0 or 1: calls run
 * one at a time on the host's thread). */
enum {
    SDK_TF_CALL = 1,     /* a method call */
    SDK_TF_NEW = 2,      /* run the constructor into a fresh state */
    SDK_TF_DEL = 3,      /* run the destructor, free the state */
    SDK_TF_DROP = 4,     /* free the state, no destructor (kill) */
    SDK_TF_KIND = 0x7f,
    SDK_TF_RESTART = 0x80, /* with NEW: this incarnation is a restart */
};
#define SDK_TF_SLOT(f) (((uint32_t)(f) >> 8) & 0xfffu)
#define SDK_TF_CONC(f) ((uint32_t)(f) >> 20)
#define SDK_TF_CONC_MAX 4095u

/* A worker's request. SUBMIT: + name (name_len, 8-aligned) + nargs wire
 * args + payloads. PUT: + `len` value bytes of `type`. GET: req_id and
 * obj_id. IDS: req_id and `len` = how many. RELEASE/RETAIN: obj_id. */
typedef struct sdk_msg_req {
    uint64_t req_id;
    uint64_t obj_id;
    uint64_t fn_hash;
    uint32_t nargs;
    int32_t max_retries;
    uint32_t name_len;
    uint32_t type;
    uint64_t len;
} sdk_msg_req;

_Static_assert(sizeof(sdk_msg_req) == 48, "sdk_msg_req layout");

/* The options of an SDK_MSG_ACREATE; the actor's name and resources
 * follow, each name_len / res_len bytes padded to 8. */
typedef struct sdk_msg_acreate {
    double num_cpus;
    int32_t max_restarts;
    int32_t max_task_retries;
    int32_t max_concurrency;
    uint8_t detached;
    uint8_t own_process;
    uint8_t get_if_exists;
    uint8_t pad;
    uint32_t name_len;
    uint32_t res_len;
} sdk_msg_acreate;

_Static_assert(sizeof(sdk_msg_acreate) == 32, "sdk_msg_acreate layout");

/* MSG_TASK: header, nargs wire args, then the payloads (8-aligned). */
typedef struct sdk_msg_task {
    uint64_t task_id;
    uint64_t fn_hash;
    uint32_t nargs;
    uint32_t flags;
} sdk_msg_task;

/* A wire arg (and a MSG_DONE or reply) whose type has CW_TYPE_STORED is
 * a value in the node's object store: `scalar` is its store key. A wire
 * arg whose type has SDK_WIRE_ACTOR is an actor handle (a U64): the
 * driver holds the actor while the call lives. */
#define SDK_WIRE_ACTOR 0x100u
typedef struct sdk_wire_arg {
    uint32_t type;   /* enum ray_type (| CW_TYPE_STORED); RAY_T_REF in specs */
    uint32_t len;    /* payload bytes for buffer types */
    uint64_t scalar; /* scalars (int64/uint64/double bits), or ref id */
} sdk_wire_arg;

/* MSG_MAP: header, then ncols column slices, each 8-aligned. */
typedef struct sdk_msg_map {
    uint64_t task_id;
    uint64_t fn_hash;
    uint64_t n;
    uint32_t ncols;
    uint32_t pad;
} sdk_msg_map;

/* MSG_DONE: header, then `len` payload bytes: the value of a buffer type,
 * the packed results of a map chunk, or the error message. */
typedef struct sdk_msg_done {
    uint64_t task_id;
    int32_t err;
    uint32_t type;
    uint64_t scalar;
    uint64_t len;
} sdk_msg_done;

_Static_assert(sizeof(sdk_msg_task) == 24, "sdk_msg_task layout");
_Static_assert(sizeof(sdk_wire_arg) == 16, "sdk_wire_arg layout");
_Static_assert(sizeof(sdk_msg_map) == 32, "sdk_msg_map layout");
_Static_assert(sizeof(sdk_msg_done) == 32, "sdk_msg_done layout");

#define SDK_ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

static inline bool
sdk_type_scalar(uint32_t t)
{
    return t >= RAY_T_I32 && t <= RAY_T_BOOL;
}

static inline bool
sdk_type_buffer(uint32_t t)
{
    return t >= RAY_T_STR && t <= RAY_T_I64S;
}

/* Offsets inside a worker slot. */
static inline size_t
sdk_slot_bytes(size_t ring_bytes)
{
    return 64 + 3 * rt_ring_footprint(ring_bytes);
}

static inline void *
sdk_slot_at(void *shm, size_t i)
{
    sdk_shm_hdr *h = shm;
    return (uint8_t *)shm + sizeof(sdk_shm_hdr) + i * h->slot_bytes;
}

static inline sdk_worker_ctl *
sdk_slot_ctl(void *slot)
{
    return slot;
}

static inline void *
sdk_slot_ring(void *slot, size_t ring_bytes, int k)
{
    return (uint8_t *)slot + 64 + (size_t)k * rt_ring_footprint(ring_bytes);
}

/* Ring the driver doorbell if a driver thread sleeps on it. */
static inline void
sdk_doorbell_ring(sdk_shm_hdr *h)
{
    if (atomic_load_explicit(&h->drv_sleepers, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&h->drv_seq, 1, memory_order_seq_cst);
        rt_futex_wake(&h->drv_seq, 0x7fffffff);
    }
}

/* ---- registry (registry.c) ---- */

/* FNV-1a of a function name: the id that travels on the wire. */
uint64_t sdk_name_hash(const char *name);

/* The descriptor registered under `hash`, or NULL. Thread-safe after
 * main() started (registration happens in constructors). */
const ray_fn_desc *sdk_registry_find(uint64_t hash);

/* Set the calling thread's error detail (printf-style); returns err. */
ray_err sdk_fail(ray_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clear the calling thread's error detail. */
void sdk_clear_error(void);

/* Worker side: the failure reported by the running task (ray_task_fail),
 * read and cleared. Returns RAY_OK if none; *msg points at TLS storage. */
ray_err sdk_task_error_take(const char **msg);

/* ---- driver runtime (runtime.c, task.c, object.c, map.c) ---- */

typedef struct sdk_task sdk_task;
typedef struct ray_map_job sdk_map_job;

enum { SDK_TK_CALL = 0, SDK_TK_MAP = 1 };

struct sdk_task {
    sched_task st;           /* the scheduler's part: ready queue link,
                                what it holds (id/demand/cpus_extra are
                                copied in when it becomes ready) */
    sdk_task *next, *prev;   /* worker in-flight list */
    uint64_t id;
    uint64_t fn_hash;
    const char *name;        /* for errors: desc name or owned copy */
    char *name_owned;
    cw_obj *result;          /* holds one ref while the task lives */
    uint8_t *spec;           /* wire args (with REF entries) or map data */
    uint32_t spec_len;
    uint32_t nargs;
    uint32_t ndeps;          /* unresolved dependencies */
    int32_t retries_left;
    uint8_t kind;            /* SDK_TK_* */
    uint8_t retry_on_error;
    uint8_t has_refs;
    uint8_t cancelled;
    uint8_t has_handles;     /* actor handles among the args: held */
    uint16_t cpus_extra;     /* CPUs needed beyond its own worker */
    sched_demand *demand;    /* custom resources needed, or NULL */
    uint64_t *blocks;        /* store keys of large by-value args (dispatched) */
    uint32_t nblocks;
    int32_t worker;          /* in-flight on this worker, else -1 */
    cw_waiter dep_inl[2];    /* first two dependency links */
    sdk_map_job *job;        /* SDK_TK_MAP: the job and its range */
    uint64_t lo, hi;
    struct sdk_actor *actor; /* an actor call: its actor, else NULL */
    uint32_t wire_flags;     /* sdk_msg_task.flags (SDK_TF_*) */
    _Alignas(8) uint8_t spec_inl[64]; /* wire args: 8-aligned */
};

typedef struct sdk_worker {
    sched_slot slot;         /* inflight, alive, dirty, reserved_by: the
                                scheduler's view (reserved_by UINT64_MAX
                                for actor hosts) */
    sched_proc proc;
    sdk_worker_ctl *ctl;
    rt_ring sub;             /* producer side (driver) */
    rt_ring comp;            /* consumer side (driver) */
    rt_ring reply;           /* producer side (driver): request replies */
    sdk_task *head, *tail;   /* in flight, in dispatch order */
    uint32_t deaths;
    uint32_t start_failures; /* deaths in a row before becoming ready */
    struct sdk_held *held, *held_tail; /* replies waiting for reply-ring
                                room, in order (nested.c) */
    uint64_t held_total;     /* replies ever held back (ray_stats) */
    uint64_t *ahold;         /* actor handles this process counted (one
                                entry per count), dropped if it dies */
    uint32_t nahold, cahold;
    sdk_msg_done frag_hdr;   /* a fragmented result being reassembled */
    uint8_t *frag;           /* its payload (rt_malloc), NULL if none */
    size_t frag_len;
} sdk_worker;

struct sdk_cb;

typedef struct sdk_rt {
    pthread_mutex_t mu;
    ray_config cfg;
    int memfd;
    void *shm;
    size_t shm_bytes;
    sdk_shm_hdr *hdr;
    int nworkers;             /* task workers: workers[0 .. nworkers) */
    int nslots;               /* and actor hosts up to workers[nslots) */
    sdk_worker *workers;      /* guarded by mu */
    struct sdk_actors *actors;/* actor runtime (actor.c), guarded by mu */
    cw_store store;           /* guarded by mu */
    sched_resources res;      /* names/totals fixed at init; avail: mu */
    /* The node's object store (large values), started on first need. */
    pthread_mutex_t store_mu; /* serialises the start; after mu if both */
    cw_node_store *node_store;/* written once under store_mu */
    _Atomic(store_client *) store_cl; /* driver's client; NULL until started */
    cw_plasma_trash trash;    /* deletes of pinned values to retry (mu) */
    _Atomic uint64_t next_put_key;
    char store_err[400];      /* why the store could not start (store_mu) */
    sched_queue q;            /* ready tasks and dispatch policy (mu) */
    struct sdk_cb **q_cbs;          /* callbacks of the dispatch round (mu) */
    sdk_task *free_tasks;     /* task pool, guarded by mu */
    uint64_t next_task_id;
    uint64_t tasks_live;
    cw_waiter *free_waiters;  /* pool, guarded by mu */
    cw_obj **done_stack;      /* objects whose waiters are due (mu) */
    size_t done_n, done_cap;
    bool in_done;
    int wake_fd;              /* eventfd: wakes the monitor */
    pthread_t monitor;
    pthread_cond_t spawned;   /* monitor -> ray_init: workers started */
    int spawn_state;          /* 1 once spawning finished (mu) */
    ray_err spawn_err;
    pthread_t reactor;
    _Atomic int stopping;
    _Atomic int reactor_needed; /* callbacks or map jobs pending */
    _Atomic int64_t last_request_ns; /* last request from a task */
    int spin_us;
    rt_spin_budget spin;      /* driver waits' adaptive spin (mu) */
    uint32_t max_inflight;
} sdk_rt;

/* The task that embeds scheduler part `st`. */
static inline sdk_task *
sdk_task_of(sched_task *st)
{
    return (sdk_task *)(void *)((char *)st - offsetof(sdk_task, st));
}

/* The runtime, or NULL when not initialised. Read without the lock:
 * it only changes in ray_init/ray_shutdown. */
extern sdk_rt *sdk_g;

/* Waiter kinds. */
enum { SDK_WAIT_TASK = 1, SDK_WAIT_CB = 2, SDK_WAIT_RGET = 3, SDK_WAIT_PUSH = 4 };

/* A pending callback (waiter kind SDK_WAIT_CB). */
typedef struct sdk_cb {
    ray_done_cb cb;
    void *arg;
    ray_ref ref;
    ray_err err;
    struct sdk_cb *next;
} sdk_cb;

/* task.c, all with mu held: */

/* A waiter from the runtime's pool (rt_malloc when it is empty). */
cw_waiter *sdk_waiter_alloc(sdk_rt *rt);
/* Free the pooled tasks and waiters (the monitor does it when no task
 * is live, so a burst's memory goes back once it is over). */
void sdk_pools_trim(sdk_rt *rt);
/* Give a waiter (not one inline in a task) back to the pool. */
void sdk_waiter_put(sdk_rt *rt, cw_waiter *w);

/* Drain every completion ring, finish tasks, dispatch what became ready;
 * callbacks to run are appended to *cbs (run them after unlocking).
 * Returns the number of completions handled. */
size_t sdk_progress(sdk_rt *rt, sdk_cb **cbs);

/* Run and free a list of callbacks (mu NOT held). */
void sdk_run_callbacks(sdk_cb *cbs);

/* Mark an object done and notify its waiters (dependent tasks become
 * ready, callbacks are queued on *cbs). */
void sdk_object_done(sdk_rt *rt, cw_obj *o, sdk_cb **cbs);

/* Handle the death of worker `w` (already reaped, status as waitpid). */
void sdk_worker_died(sdk_rt *rt, int w, int status, sdk_cb **cbs);

/* Finish a task that will not run (again): release its resources, its
 * argument refs and its result ref, and return it to the pool. */
void sdk_task_finish(sdk_rt *rt, sdk_task *t, sdk_cb **cbs);

/* Unlink a task from the ready queue. */
void sdk_ready_remove(sdk_rt *rt, sdk_task *t);

/* Allocate/free tasks from the pool. */
sdk_task *sdk_task_alloc(sdk_rt *rt);
void sdk_task_free(sdk_rt *rt, sdk_task *t);

/* Queue a task whose dependencies are resolved; dispatches if possible. */
void sdk_task_ready(sdk_rt *rt, sdk_task *t);

/* Push queued tasks to workers and publish the rings. */
void sdk_dispatch(sdk_rt *rt, sdk_cb **cbs);

/* Set up rt->q over the task workers (ray_init, after rt->workers). */
void sdk_sched_init(sdk_rt *rt);

/* Fail a task (not in flight) with err/msg and free it. */
void sdk_task_fail(sdk_rt *rt, sdk_task *t, ray_err err, const char *msg,
                   sdk_cb **cbs);

/* Register a task's dependencies; returns the number still pending. */
uint32_t sdk_task_add_deps(sdk_rt *rt, sdk_task *t);

/* Format worker slot `w`'s rings and spawn its process (mu held). */
ray_err sdk_worker_start(sdk_rt *rt, int w);

/* Block until `done(arg)` returns true (checked with mu held, after
 * progress) or the deadline passes: spins spin_us, then sleeps on the
 * doorbell. Returns RAY_OK or RAY_ETIMEDOUT. Called without mu. */
ray_err sdk_wait_until(sdk_rt *rt, bool (*done)(sdk_rt *, void *), void *arg,
                       int64_t deadline_ns);

/* Wake driver threads sleeping on the doorbell. */
static inline void
sdk_wake_driver(sdk_rt *rt)
{
    sdk_doorbell_ring(rt->hdr);
}

/* True if a failed argument failed (and freed) the task. */
bool sdk_task_check_failed_deps(sdk_rt *rt, sdk_task *t, sdk_cb **cbs);

/* nested.c (driver side of worker requests), mu held: */

/* Handle one request record from worker `w`. */
void sdk_nested_handle(sdk_rt *rt, int w, uint32_t type, const uint8_t *rec,
                       uint32_t len, sdk_cb **cbs);

/* A remote get or push waiter's object is done: reply to the worker. */
void sdk_nested_get_ready(sdk_rt *rt, cw_waiter *wt, cw_obj *o);

/* ray_cancel of `o`'s task, mu held: RAY_OK or the error (detail set). */
ray_err sdk_cancel_locked(sdk_rt *rt, cw_obj *o, bool force, sdk_cb **cbs);

/* Worker w made the call whose result is `o`: push the result to it once
 * known (a waiter of kind SDK_WAIT_PUSH; at once if already done). */
void sdk_nested_watch(sdk_rt *rt, int w, cw_obj *o, uint64_t id);

/* Write the replies held back for worker w while its reply ring was
 * full, as many as fit now. */
void sdk_nested_flush(sdk_rt *rt, sdk_worker *wk);

/* Drop what is held back for worker slot `wk` (its process is gone). */
void sdk_nested_drop(sdk_worker *wk);

/* Reply to request `req` of worker `wk` (never blocks, never drops). */
void sdk_nested_reply(sdk_worker *wk, uint64_t req, ray_err err,
                      uint32_t type, uint64_t scalar, const void *payload,
                      size_t len);

/* worker_results.c: results pushed to this worker for its own calls
 * (worker only). expect: a call was made, its result will come. push:
 * an SDK_MSG_PUSH record arrived. take: SDK_RES_READY with the value as
 * sdk_wk_get gives it, SDK_RES_PENDING (expected, not here yet), or
 * SDK_RES_UNKNOWN (ask the driver). forget: the worker dropped the ref. */
enum { SDK_RES_UNKNOWN = 0, SDK_RES_PENDING = 1, SDK_RES_READY = 2 };
void sdk_wk_results_expect(uint64_t id);
void sdk_wk_results_push(const sdk_msg_done *d, const void *payload);
int sdk_wk_results_take(uint64_t id, sdk_msg_done *hdr, void **payload);
void sdk_wk_results_forget(uint64_t id);
/* The state of `id` without copying; *seq (if READY): arrival order. */
int sdk_wk_results_state(uint64_t id, uint64_t *seq);

/* worker_client.c: write `nargs` arguments as sdk_wire_arg entries at
 * `at`, followed by their buffers' bytes (each padded to 8), the layout of
 * a submit or actor-call record. The caller sized the record. */
void sdk_wk_encode_args(uint8_t *at, const ray_arg *args, uint32_t nargs);

/* worker_client.c: large by-value arguments (CW_STORE_MIN and up) are put
 * into the node's object store and passed as refs, so a record stays
 * small: conv gets the arguments to encode, temps[0 .. *ntemps) the refs
 * to drop (sdk_wk_drop_refs) once the record is committed (the call
 * takes its own first: the ring keeps the order). An error (detail set)
 * leaves nothing to drop. */
ray_err sdk_wk_args_by_ref(const ray_arg *args, uint32_t nargs,
                           ray_arg *conv, ray_ref *temps, uint32_t *ntemps);
void sdk_wk_drop_refs(const ray_ref *refs, uint32_t n);

/* worker_main.c: plumbing for worker_client.c (worker process only). */
void *sdk_wk_reserve(size_t len);
void sdk_wk_commit(uint32_t type, size_t len);
size_t sdk_wk_max_record(void);
void sdk_wk_flush(bool force_wake);
bool sdk_wk_run_one(void);
const void *sdk_wk_reply_peek(uint32_t *type, uint32_t *len);
void sdk_wk_reply_consume(void);
bool sdk_wk_in_map(void);
void sdk_wk_idle_wait(int64_t us);
int sdk_wk_spin_us(void);
bool sdk_wk_reply_backlog(void); /* the driver holds replies back */

/* worker_client.c: the API inside a task (worker process only). */
ray_ref sdk_wk_submit(const char *name, uint64_t hash, const ray_arg *args,
                      uint32_t nargs, const ray_call_opts *opts);
ray_err sdk_wk_put(uint32_t type, const void *data, size_t len, ray_ref *out);
/* Get: the reply header (type, scalar, len) and a malloc'd copy of the
 * payload (*payload, NULL when len == 0). */
ray_err sdk_wk_get(ray_ref ref, sdk_msg_done *hdr, void **payload,
                   int64_t timeout_ms);
void sdk_wk_ref(ray_ref ref, bool retain);
ray_err sdk_wk_wait(const ray_ref *refs, size_t n, size_t num_ready,
                    int64_t timeout_ms, size_t *ready_idx, size_t *n_ready);
ray_err sdk_wk_cancel(ray_ref ref, bool force);

/* map.c: a map chunk finished (mu held). */
void sdk_map_chunk_done(sdk_rt *rt, sdk_task *t, ray_err err, const char *msg,
                        const void *data, size_t len);

/* worker_main.c */
extern bool sdk_in_worker;

/* ---- the node's object store (object.c, runtime.c, worker_main.c) ---- */

/* Driver: the store client, starting the store first if needed (takes
 * store_mu; may be called with mu held). NULL on failure, with the
 * reason set as the thread's error detail. */
store_client *sdk_store_ensure(sdk_rt *rt);

/* Driver: write `len` bytes as a new stored value; *key names it.
 * RAY_ESTORE_FULL (with a detail naming the sizes) and other errors. */
ray_err sdk_store_put(sdk_rt *rt, const void *data, size_t len,
                      uint64_t *key);

/* Driver, mu held: delete the stored value `key` (now or later). */
void sdk_store_forget(sdk_rt *rt, uint64_t key);

/* Driver, mu held: create a temporary stored value of `len` bytes for a
 * task argument (*key, writable at *dst); then seal it or abort it.
 * RAY_EAGAIN when it does not fit now but running tasks hold pins;
 * RAY_ESTORE_FULL, other errors, each with the detail set. */
ray_err sdk_store_arg_create(sdk_rt *rt, size_t len, uint64_t *key,
                             void **dst);
void sdk_store_arg_seal(sdk_rt *rt, uint64_t key);
void sdk_store_arg_abort(sdk_rt *rt, uint64_t key);

/* Driver, mu held: a worker asked for the store (SDK_MSG_STORE). */
void sdk_store_request(sdk_rt *rt);

/* Worker: the store client, connecting (and asking the driver to start
 * the store) on first use. NULL on failure, with the error detail set. */
store_client *sdk_wk_store(void);

/* Worker: the store ID of `key`. */
void sdk_wk_store_id(uint64_t key, store_object_id *out);

/* worker_client.c: an object id reserved from the driver; a request id
 * and the wait for its reply (worker only). */
ray_err sdk_wk_take_id(uint64_t *id);
/* A call with result `id` was committed: expect its pushed result. */
void sdk_wk_submitted(uint64_t id);
uint64_t sdk_wk_next_req(void);
/* Wait up to `timeout_ms` for the answer to request `req`: RAY_OK with
 * its scalar in *scalar (if not NULL), or its error with the detail it
 * carries (`what` when it carries none). On a timeout a late answer is
 * dropped when it comes. */
ray_err sdk_wk_answer(uint64_t req, const char *what, uint64_t *scalar,
                      int64_t timeout_ms);

/* ---- actors (actor*.c) ---- */

/* Actor host slots beyond the task workers (rt->nslots - nworkers). */
#define SDK_ACTOR_HOSTS 64

/* task.c: hand `t` to worker w's submission ring (not published).
 * RAY_EAGAIN when there is no room now. mu held. */
ray_err sdk_push_to_worker(sdk_rt *rt, int w, sdk_task *t);

/* task.c: undo what sending `t` took (resources, temporary store objects
 * of large arguments) so it can be sent again. mu held. */
void sdk_task_unsend(sdk_rt *rt, sdk_task *t);

/* actor.c, driver side, mu held unless stated: */
ray_err sdk_actors_init(sdk_rt *rt);          /* ray_init, no lock */
void sdk_actors_fini(sdk_rt *rt);             /* destroy, no lock */
void sdk_actors_shutdown(sdk_rt *rt);         /* ray_shutdown: destructors */
void sdk_actors_tick(sdk_rt *rt, sdk_cb **cbs); /* monitor: spawn hosts */
void sdk_actors_dispatch(sdk_rt *rt, sdk_cb **cbs); /* push queued calls */
/* A record of actor task `t` completed (before the result is stored). */
void sdk_actor_task_done(sdk_rt *rt, sdk_task *t, const sdk_msg_done *d,
                         const void *payload, sdk_cb **cbs);
/* An actor call's dependency resolved (t->ndeps already decremented). */
void sdk_actor_dep_ready(sdk_rt *rt, sdk_task *t, sdk_cb **cbs);
/* Actor host w (>= nworkers) died; already drained and reaped. */
void sdk_actor_host_died(sdk_rt *rt, int w, int status, sdk_cb **cbs);
/* Requests ACALL/AEXIT from worker w. */
void sdk_actor_handle_req(sdk_rt *rt, int w, uint32_t type,
                          const uint8_t *rec, uint32_t len, sdk_cb **cbs);
/* Hold (delta 1) or drop (delta -1) the actor handles among the `nargs`
 * wire args at `spec` (SDK_WIRE_ACTOR). Returns whether there were any. */
bool sdk_actor_hold_args(sdk_rt *rt, const uint8_t *spec, uint32_t nargs,
                         int delta, sdk_cb **cbs);
/* Worker slot `wk`'s process is gone: drop the handles it counted. */
void sdk_actor_drop_worker_holds(sdk_rt *rt, sdk_worker *wk, sdk_cb **cbs);
/* ray_cancel of an actor call that is not in flight. */
void sdk_actor_cancel(sdk_rt *rt, sdk_task *t, sdk_cb **cbs);

/* actor_host.c, inside an actor host (worker process): around a record
 * with SDK_TF_* flags. begin: RAY_OK to run the tramp; RAY_EAGAIN when
 * the record was deferred (its actor is inside a call that waits: it
 * runs after that call, nothing is sent now); else an error for the call
 * with msg. end: after the tramp, with its error. after: once the result
 * is sent (reports an exit, runs deferred records). */
ray_err sdk_ah_begin(uint32_t flags, const ray_fn_desc *d, char *msg,
                     size_t n, const uint8_t *rec, uint32_t len);
void sdk_ah_end(uint32_t flags, ray_err err);
void sdk_ah_after(void);
/* Main thread of an actor host: send the results of calls that ran on
 * the threads of actors with max_concurrency > 1 (cheap when none). */
void sdk_ah_poll(void);
/* True on such a thread (where the rayc API cannot be used). */
bool sdk_ah_on_pool_thread(void);

/* worker_main.c, for actor_host.c (main thread): send a call's result
 * (err RAY_OK: *r) or its error; wake the worker loop from any thread. */
void sdk_wk_send_result(uint64_t task_id, ray_err err, const char *msg,
                        const ray_ret *r);
void sdk_wk_poke(void);

/* worker_main.c: run one MSG_TASK record (a deferred actor record). */
void sdk_wk_run_record(const uint8_t *rec, uint32_t len);

/* actor_client.c: an actor call made inside a task (worker only). */
ray_ref sdk_wk_actor_submit(ray_actor h, const ray_fn_desc *m,
                            const ray_arg *args, uint32_t nargs);
ray_err sdk_wk_actor_lookup(const char *name, ray_actor *out);
/* ray_actor_create inside a task (one round trip; the handle counts for
 * this worker). */
ray_err sdk_wk_actor_create(const ray_fn_desc *ctor, const ray_arg *args,
                            uint32_t nargs, const ray_actor_opts *o,
                            ray_actor *out);
/* ray_actor_state / ray_actor_wait_ready inside a task (round trips). */
ray_err sdk_wk_actor_state(ray_actor h, int *state, int *num_restarts);
ray_err sdk_wk_actor_wait_ready(ray_actor h, int64_t timeout_ms);
/* ray_actor_kill inside a task (a one-way message). */
void sdk_wk_actor_kill(ray_actor h, bool no_restart);
/* ray_actor_retain/_release inside a task: count a handle for this
 * worker, or drop one it counted (one-way messages). */
void sdk_wk_actor_ref(ray_actor h, bool retain);

#endif /* RAY_SDK_SDK_INT_H */

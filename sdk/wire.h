/* SPDX-License-Identifier: Apache-2.0
 *
 * wire.h: what the driver and its worker processes share (libray
 * internal). Shared memory (one memfd per runtime, inherited by every
 * worker):
 *   [sdk_shm_hdr, 4 KiB][slot 0][slot 1]...
 * and each worker slot holds its control block and three SPSC rings:
 *   sub   driver -> worker: tasks (MSG_TASK, MSG_MAP)
 *   comp  worker -> driver: results (MSG_DONE) and requests
 *   reply driver -> worker: answers to requests, pushed results
 * The driver side wakes on one doorbell in the header (sdk/bell.h) that
 * workers ring only when a driver thread declared itself asleep. Every
 * struct here is fixed-width and checked with _Static_assert; both sides
 * are the same binary, so there is no version to negotiate.
 */
#ifndef RAY_SDK_WIRE_H
#define RAY_SDK_WIRE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ray/ray.h"
#include "objectstore/plasma.h"
#include "runtime/shm_ring.h"
#include "sdk/bell.h"

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
    uint8_t store_prefix[STORE_PLASMA_PREFIX]; /* store IDs (plasma.h) */
    uint32_t pad0;
    uint64_t ref_tag; /* ray_ref.owner of this
                         runtime's refs (args.c) */
    _Alignas(64) _Atomic uint32_t shutdown;
    uint32_t ntask;             /* task worker slots
                                   [0, ntask); actor
                                   hosts after them */
    _Atomic uint32_t trace;     /* the driver's timeline
                                   records: workers send
                                   when calls ran */
    _Alignas(64) sdk_bell bell; /* the driver's doorbell
                                   (sdk/bell.h) */
    /* The node's object store, started on first need (SDK_STORE_*); the
     * socket path is written before store_state turns READY. */
    _Alignas(64) _Atomic uint32_t store_state; /* also a futex word */
    char store_path[124];
    /* In a cluster, this node's id (hex), written by the driver once it
     * joined, before ray_init returns; "" otherwise (ray_node_id). */
    _Alignas(64) char node_id[64];
    uint8_t pad[4096 - 384];
} sdk_shm_hdr;

enum { SDK_STORE_NONE = 0, SDK_STORE_READY = 1, SDK_STORE_FAILED = 2 };

_Static_assert(sizeof(sdk_shm_hdr) == 4096, "sdk_shm_hdr layout");
_Static_assert(offsetof(sdk_shm_hdr, shutdown) == 64, "sdk_shm_hdr line 0");
_Static_assert(offsetof(sdk_shm_hdr, bell) + sizeof(sdk_bell) <=
                   offsetof(sdk_shm_hdr, store_state),
               "sdk_shm_hdr doorbell line");

typedef struct sdk_worker_ctl {
    _Atomic uint64_t current; /* id of the task running now, 0 = idle */
    _Atomic uint32_t state;   /* SDK_W_* as seen by the worker */
    int32_t pid;
    _Atomic uint32_t reply_backlog; /* the driver holds replies that did
                                       not fit the reply ring: a worker
                                       that drained it sends a NUDGE */
    _Atomic uint32_t blocked;       /* worker, SDK_BLOCKED_*: its running task
                                       waits (get, wait); the driver places its
                                       queued tasks elsewhere */
    _Atomic uint32_t nested_ok;     /* driver: a blocked task worker may run
                                       its queued tasks inside the wait (no
                                       other worker can take them) */
    uint8_t pad[36];
} sdk_worker_ctl;

_Static_assert(sizeof(sdk_worker_ctl) == 64, "sdk_worker_ctl layout");

enum { SDK_W_STARTING = 0, SDK_W_READY = 1 };

/* sdk_worker_ctl.blocked: not blocked; blocked in a wait that runs
 * nothing; blocked in a wait (a get without a deadline) that runs the
 * task it waits for when that one is queued here (sdk_wk_help): the
 * calls this worker made stay in its queue. */
enum { SDK_BLOCKED_NO = 0, SDK_BLOCKED = 1, SDK_BLOCKED_HELPING = 2 };
/* Flag: blocked for SDK_BLOCKED_LONG_NS or more; only then does the
 * driver start a stand-in for that CPU. */
#define SDK_BLOCKED_LONG 4u
#define SDK_BLOCKED_LONG_NS 1000000

/* Message types on the rings. */
enum {
    SDK_MSG_TASK = 1,        /* driver -> worker: run a call */
    SDK_MSG_MAP = 2,         /* driver -> worker: run a map chunk */
    SDK_MSG_DONE = 3,        /* worker -> driver: a result */
    SDK_MSG_SUBMIT = 4,      /* worker -> driver: nested call (no reply) */
    SDK_MSG_PUT = 5,         /* worker -> driver: put (no reply) */
    SDK_MSG_GET = 6,         /* worker -> driver: get (reply) */
    SDK_MSG_RELEASE = 7,     /* worker -> driver: drop a holder */
    SDK_MSG_IDS = 8,         /* worker -> driver: reserve object ids (reply) */
    SDK_MSG_RETAIN = 9,      /* worker -> driver: add a holder */
    SDK_MSG_REPLY = 10,      /* driver -> worker (reply ring): sdk_msg_done */
    SDK_MSG_ACALL = 11,      /* worker -> driver: actor call (as SUBMIT, the
                                actor id in req_id) */
    SDK_MSG_AEXIT = 12,      /* actor host -> driver: actor in slot obj_id
                                exited (ray_actor_exit) */
    SDK_MSG_STORE = 13,      /* worker -> driver: start the object store (the
                                answer is hdr->store_state) */
    SDK_MSG_PUSH = 14,       /* driver -> worker (reply ring): the result of
                                a call the worker made, sdk_msg_done with the
                                object id in task_id (worker_results.c) */
    SDK_MSG_NUDGE = 15,      /* worker -> driver: its reply ring has room for
                                the replies the driver holds back */
    SDK_MSG_WATCH = 16,      /* worker -> driver: push me object obj_id's
                                value when done (ray_wait in a task) */
    SDK_MSG_CANCEL = 17,     /* worker -> driver: ray_cancel of obj_id's task
                                (len: force); reply: the error and detail */
    SDK_MSG_ALOOKUP = 20,    /* worker -> driver: actor by name (reply: its
                                id in scalar, a handle counted for the
                                worker); + name_len bytes of name */
    SDK_MSG_ARETAIN = 21,    /* worker -> driver: count a handle (obj_id: the
                                actor) for this worker */
    SDK_MSG_ARELEASE = 22,   /* worker -> driver: drop a handle it counted */
    SDK_MSG_ACREATE = 23,    /* worker -> driver: create an actor (reply: its
                                id in scalar, a handle counted for the
                                worker): sdk_msg_req (req_id, fn_hash = the
                                constructor, nargs), sdk_msg_acreate, name,
                                resources, wire args */
    SDK_MSG_AKILL = 24,      /* worker -> driver: ray_actor_kill (obj_id: the
                                actor, len: no_restart) */
    SDK_MSG_ASTATE = 25,     /* worker -> driver: ray_actor_state of obj_id
                                (reply scalar: state | restarts << 8) */
    SDK_MSG_AREADY = 26,     /* worker -> driver: answer once actor obj_id is
                                ALIVE (RAY_OK) or DEAD (its death error).
                                Actor messages: 11, 12, 20-26 (actor*.c) */
    SDK_MSG_TRACE = 27,      /* worker -> driver: when a call ran
                                (sdk_msg_trace), ahead of its result; only
                                while the driver's timeline records
                                (sdk_shm_hdr.trace) */
    SDK_MSG_TIMED = 28,      /* worker -> driver: a result (as DONE, its
                                payload padded to 8) with, in its last 40
                                bytes, an sdk_msg_trace: when its call ran */
    SDK_MSG_BORROW = 29,     /* worker -> driver: the object that stands for
                                ref {obj_id, fn_hash: its tag} of another
                                runtime of the job (reply: its id in scalar;
                                cluster_borrow.c) */
    SDK_MSG_BORROW_REF = 30, /* worker -> driver: a holder more (len 1) or
                                less (len 0) of that ref, at its owner
                                (a retain is answered) */
    SDK_MSG_STATS = 31,      /* worker -> driver: ray_get_stats (reply: the
                                ray_stats as bytes) */
};

/* An SDK_MSG_TRACE record: call `task_id` of function `fn_hash` ran from
 * start_ns to end_ns (CLOCK_MONOTONIC, one clock for the whole node). */
typedef struct sdk_msg_trace {
    uint64_t task_id;
    uint64_t fn_hash;
    int64_t start_ns;
    int64_t end_ns;
    uint32_t kind; /* SDK_TRACE_* */
    uint32_t n;    /* a map chunk: its items; else 0 */
} sdk_msg_trace;

enum {
    SDK_TRACE_TASK = 0,
    SDK_TRACE_ACTOR = 1,
    SDK_TRACE_MAP = 2,
    SDK_TRACE_ACTOR_NEW = 3
};

_Static_assert(sizeof(sdk_msg_trace) == 40, "sdk_msg_trace layout");

/* sdk_msg_task.flags of records for actor hosts: the kind in the low
 * byte, the actor's slot inside the host in bits 8..19 and, in a NEW
 * record, the actor's max_concurrency in bits 20..31 (0 or 1: calls run
 * one at a time on the host's thread). */
enum {
    SDK_TF_CALL = 1, /* a method call */
    SDK_TF_NEW = 2,  /* run the constructor into a fresh state */
    SDK_TF_DEL = 3,  /* run the destructor, free the state */
    SDK_TF_DROP = 4, /* free the state, no destructor (kill) */
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

/* The claim word of a task or map record in a submission ring: the
 * worker turns OPEN into TAKEN before it runs the record; the driver may
 * turn OPEN into REVOKED while the record is still in the ring (not yet
 * released by the worker), and the worker then skips it. Exactly one
 * side wins, so a record runs at most once. */
enum { SDK_CLAIM_OPEN = 0, SDK_CLAIM_TAKEN = 1, SDK_CLAIM_REVOKED = 2 };

/* MSG_TASK: header, nargs wire args, then the payloads (8-aligned). */
typedef struct sdk_msg_task {
    uint64_t task_id;
    uint64_t fn_hash;
    uint32_t nargs;
    uint32_t flags;
    _Atomic uint32_t claim; /* SDK_CLAIM_* */
    uint32_t pad;
    uint64_t obj; /* the result's object id (a task, not an
                     actor call): a worker waiting for it may
                     run it itself (sdk_wk_help) */
} sdk_msg_task;

/* A wire arg (and a MSG_DONE or reply) whose type has SDK_TYPE_STORED is
 * a value in the node's object store: `scalar` is its store key. A wire
 * arg whose type has SDK_WIRE_ACTOR is an actor handle (a U64): the
 * driver holds the actor while the call lives. */
#define SDK_WIRE_ACTOR 0x100u
typedef struct sdk_wire_arg {
    uint32_t type;   /* enum ray_type (| SDK_TYPE_STORED); RAY_T_REF in specs */
    uint32_t len;    /* payload bytes for buffer types */
    uint64_t scalar; /* scalars (int64/uint64/double bits), or ref id */
} sdk_wire_arg;

/* MSG_MAP: header, then ncols column slices, each 8-aligned. */
typedef struct sdk_msg_map {
    uint64_t task_id;
    uint64_t fn_hash;
    uint64_t n;
    uint32_t ncols;
    _Atomic uint32_t claim; /* SDK_CLAIM_* */
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

_Static_assert(sizeof(sdk_msg_task) == 40, "sdk_msg_task layout");
_Static_assert(offsetof(sdk_msg_task, claim) == 24, "sdk_msg_task claim");
_Static_assert(offsetof(sdk_msg_map, claim) == 28, "sdk_msg_map claim");
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

#endif /* RAY_SDK_WIRE_H */

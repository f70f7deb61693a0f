/* SPDX-License-Identifier: Apache-2.0
 *
 * sdk_int.h: internals shared by the files of libray (never installed):
 * the driver's runtime (sdk_rt, tasks, workers) and what each driver-side
 * file offers the others. The shared-memory layout and messages are in
 * sdk/wire.h, the worker process's side in sdk/worker_int.h; both are
 * included here.
 *
 * Driver state lives in one process-global sdk_rt guarded by `mu`: the
 * owner's (objects, tasks, actors), with the raylet's (scheduler/raylet.h)
 * and the transport's (sdk/transport.h) behind their tables. A reactor
 * thread sleeps on the doorbell (sdk/bell.h); the raylet's loop thread
 * watches the worker processes.
 */
#ifndef RAY_SDK_SDK_INT_H
#define RAY_SDK_SDK_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ray/ray.h"
#include "sdk/backend.h"
#include "sdk/memory_store.h"
#include "runtime/shm_ring.h"
#include "objectstore/plasma.h"
#include "scheduler/local_queue.h"
#include "scheduler/raylet.h"
#include "scheduler/resources.h"
#include "sdk/transport.h"
#include "sdk/wire.h"
#include "sdk/worker_int.h"

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

/* ---- references and arguments (args.c; driver and worker) ---- */

/* Most bytes the arguments of one call may add up to (wire lengths are
 * 32-bit). */
#define SDK_ARG_MAX ((uint64_t)UINT32_MAX - 4096u)

/* This runtime's reference tag (ray_ref.owner), 0 when none runs. */
uint64_t sdk_ref_tag(void);

/* A ref to object `id` of this runtime (the null ref for 0). */
ray_ref sdk_ref(uint64_t id);

/* The object id of `ref`, or 0 when it is null or not of this runtime
 * (made up, from another runtime, or from before ray_shutdown). */
uint64_t sdk_ref_id(ray_ref ref);

/* `ref` as this runtime can use it: its own, or the local object that
 * stands for a ref of another runtime of the job (the backend's borrow),
 * then with a holder for the caller, so that nothing frees it under the
 * call: give it back with sdk_ref_local_done. The null ref otherwise. */
ray_ref sdk_ref_local(ray_ref ref);
void sdk_ref_local_done(ray_ref ref, ray_ref local);

/* ray_wait's refs as this runtime can use them: `refs` itself when all
 * are its own, else a copy with the others made local (sdk_ref_local),
 * given back with sdk_refs_local_done. RAY_EINVAL or RAY_ENOMEM (detail
 * set, *out NULL) when one cannot be. */
ray_err sdk_refs_local(const ray_ref *refs, size_t n, const char *what,
                       const ray_ref **out);
void sdk_refs_local_done(const ray_ref *refs, const ray_ref *own, size_t n);

/* Arguments whose refs of another runtime of the job are made local
 * (sdk_ref_local), in a copy given back with sdk_args_local_done once the
 * call holds them; others are left for sdk_args_check to refuse. */
ray_err sdk_args_local(const ray_arg *args, uint32_t nargs,
                       const ray_arg **out);
void sdk_args_local_done(const ray_arg *args, const ray_arg *own,
                         uint32_t nargs);

/* Check `nargs` encoded arguments of call `name` (`what`: "submit",
 * "actor call", ...): RAY_OK, or RAY_EINVAL / RAY_ETOOBIG with the
 * detail naming the argument. */
ray_err sdk_args_check(const char *what, const char *name, const ray_arg *args,
                       uint32_t nargs);

/* The wire form of `nargs` arguments that passed sdk_args_check: its
 * length in bytes, and the encoder that writes it at `at` (8-aligned,
 * sdk_args_wire_len bytes, sized by the caller): nargs sdk_wire_arg
 * entries (a ref as its object id, an actor handle flagged
 * SDK_WIRE_ACTOR), then each buffer's bytes padded to 8. Pure: it takes
 * no hold on the refs. Driver and worker. */
size_t sdk_args_wire_len(const ray_arg *args, uint32_t nargs);
void sdk_args_encode(uint8_t *at, const ray_arg *args, uint32_t nargs);

/* ---- driver runtime (runtime.c, task.c, object.c, map.c) ---- */

typedef struct sdk_task sdk_task;
typedef struct ray_map_job sdk_map_job;

enum { SDK_TK_CALL = 0, SDK_TK_MAP = 1 };

struct sdk_task {
    sched_task st;         /* the scheduler's part: ready queue link,
                              what it holds (id and cpus_extra are
                              copied in when it becomes ready; demand,
                              owned by the task, and bundle are set at
                              submit) */
    sdk_task *next, *prev; /* worker in-flight list */
    uint64_t id;
    uint64_t fn_hash;
    const char *name; /* for errors: desc name or owned copy */
    char *name_owned;
    sdk_obj *result; /* holds one ref while the task lives */
    uint8_t *spec;   /* wire args (with REF entries) or map data */
    uint32_t spec_len;
    uint16_t nargs;    /* at most RAY_MAX_ARGS */
    uint16_t ndeps;    /* unresolved dependencies */
    uint32_t ready_us; /* sampled calls: when it became ready to run (the
                          clock's low 32 bits of µs; 0: not sampled), for
                          the scheduling latency */
    int32_t retries_left;
    uint8_t kind; /* SDK_TK_* */
    uint8_t retry_on_error;
    uint8_t has_refs;
    uint8_t cancelled;
    uint8_t has_handles; /* actor handles among the args: held */
    uint16_t cpus_extra; /* CPUs needed beyond its own worker */
    uint64_t *blocks;    /* store keys of large by-value args (dispatched) */
    uint32_t nblocks;
    int32_t worker;        /* in-flight on this worker, else -1 */
    sdk_waiter dep_inl[2]; /* first two dependency links */
    sdk_map_job *job;      /* SDK_TK_MAP: the job and its range */
    uint64_t lo, hi;
    struct sdk_actor *actor;          /* an actor call: its actor, else NULL */
    uint32_t wire_flags;              /* sdk_msg_task.flags (SDK_TF_*) */
    uint32_t rpos;                    /* in flight: its record's position in the
                                         worker's submission ring, low 32 bits
                                         (the record is within a ring's length of
                                         the producer's position: see revoke) */
    _Alignas(8) uint8_t spec_inl[64]; /* wire args: 8-aligned */
};

/* Pooled, one per live task: its size decides how much memory a burst
 * of queued tasks touches (jemalloc's size class 320). */
_Static_assert(sizeof(sdk_task) <= 320, "sdk_task grew past its size class");

/* What the owner keeps per worker slot: what it sent there. The
 * channel itself is the transport's (sdk/transport.h: rt->tx), the
 * process and the scheduler's view of the slot the raylet's
 * (scheduler/raylet.h: sdk_slot, sdk_proc_worker). */
typedef struct sdk_worker {
    sdk_task *head, *tail; /* in flight, in dispatch order */
    uint64_t *ahold;       /* actor handles this process counted (one
                              entry per count), dropped if it dies */
    uint32_t nahold, cahold;
} sdk_worker;

struct sdk_cb;

typedef struct sdk_rt {
    pthread_mutex_t mu;
    ray_config cfg;
    /* The owner <-> worker transport (sdk/transport.h) and the doorbell
     * driver threads sleep on (sdk/bell.h). */
    sdk_tx *tx;
    sdk_bell *bell;
    uint64_t ref_tag; /* ray_ref.owner of this runtime's refs */
    uint8_t store_prefix[STORE_PLASMA_PREFIX]; /* its store IDs */
    _Atomic int store_known;   /* the node's store started or failed */
    int nworkers;              /* task workers, one per CPU:
                                  workers[0 .. nworkers) */
    int ntask;                 /* and stand-ins for blocked ones up to
                                  workers[ntask) (started on need) */
    int nslots;                /* and actor hosts up to workers[nslots) */
    sdk_worker *workers;       /* guarded by mu */
    struct sdk_actors *actors; /* actor runtime (actor.c), guarded by mu */
    sdk_objects store;         /* guarded by mu */
    /* The node's raylet (scheduler/raylet.h): worker processes, where
     * tasks run, the node's object store. The owner calls it through
     * its table (rl_api, rl); the embedded one (raylet, started and
     * stopped by ray_init/ray_shutdown) is guarded by mu. */
    const sched_raylet_api *rl_api;
    sched_worker *rl_workers; /* rl_api->workers(rl), read at attach */
    void *rl;
    sched_raylet *raylet;
    store_plasma_trash trash; /* deletes of pinned values to retry (mu) */
    _Atomic uint64_t next_put_key;
    struct sdk_cb **q_cbs;    /* callbacks of the dispatch round (mu) */
    struct sdk_cb *later_cbs; /* callbacks of raylet events, run when mu
                                 is released (sdk_unlock) */
    sdk_task *free_tasks;     /* task pool, guarded by mu */
    uint64_t next_task_id;
    uint64_t tasks_live;
    _Atomic uint64_t calls_resent;    /* ray_stats.calls_resent */
    _Atomic uint64_t objects_rebuilt; /* ray_stats.objects_rebuilt */
    _Atomic uint64_t objects_parked;  /* ray_stats.objects_parked */
    _Atomic uint64_t lineage_bytes;   /* ray_stats.lineage_bytes */
    sdk_waiter *free_waiters;         /* pool, guarded by mu */
    sdk_obj **done_stack;             /* objects whose waiters are due (mu) */
    size_t done_n, done_cap;
    bool in_done;
    pthread_t reactor;
    _Atomic int stopping;
    _Atomic int reactor_needed;      /* callbacks or map jobs pending */
    _Atomic int64_t last_request_ns; /* last request from a task */
    int spin_us;
    rt_spin_budget spin; /* driver waits' adaptive spin (mu) */
    uint32_t max_inflight;
    uint32_t seen_blocked_gen;     /* hdr->blocked_gen at the last dispatch */
    bool slots_blocked;            /* a slot may be marked blocked (mu) */
    struct sdk_timeline *timeline; /* recorded calls (timeline.c; mu), or
                                      NULL until first enabled */
    uint64_t tasks_finished;       /* tasks, actor calls and map chunks that
                                      will not run again (mu) */
    struct sdk_pg *pgs;            /* placement groups, oldest first (mu) */
    uint64_t pg_next_id;           /* (mu) */
    uint32_t pgs_pending;          /* of them not yet reserved (mu) */
    pthread_cond_t pg_cv;          /* a group was created or removed */
    uint64_t tasks_failed;         /* of which ended in an error (mu) */
    /* Scheduling latency of sampled calls (one in SDK_SCHED_SAMPLE):
     * ready to run -> handed to a worker, by bucket (upper bounds
     * SDK_SCHED_BOUNDS_US, then +Inf), with their sum (mu). */
    uint64_t sched_hist[8];
    uint64_t sched_sum_us, sched_count;
} sdk_rt;

#define SDK_SCHED_SAMPLE 16
/* The buckets' upper bounds in µs (the eighth is +Inf). */
#define SDK_SCHED_BOUNDS_US                                                    \
    {                                                                          \
        10, 100, 1000, 10000, 100000, 1000000, 10000000                        \
    }

/* object.c: ray_get_stats's figures, with mu held (one snapshot for
 * callers that add their own, as metrics.c does). */
void sdk_stats_locked(sdk_rt *rt, ray_stats *out);

/* progress.c: a progress bar on stderr for a batch of `total` (the
 * driver's terminal; RAYC_PROGRESS). update: `done` so far; end: the
 * final state, ending the line if anything was drawn. No lock held. */
typedef struct sdk_pbar {
    char label[64];
    size_t total;
    int mode;  /* 0 off, 1 forced, 2 terminal after a second */
    int width; /* characters of the last state drawn */
    bool shown;
    int64_t start_ns, drawn_ns;
} sdk_pbar;
void sdk_pbar_begin(sdk_pbar *p, const char *label, size_t total);
void sdk_pbar_update(sdk_pbar *p, size_t done);
void sdk_pbar_end(sdk_pbar *p, size_t done);

/* actor.c (mu held): this runtime's actors by state (gcs_actor_state:
 * DEPENDENCIES_UNREADY .. DEAD) added into n; a state's name as Ray
 * says it ("PENDING_CREATION"). Set by the cluster's join, NULL
 * otherwise: its actors on other nodes added the same way (no lock). */
void sdk_actors_by_state(sdk_rt *rt, uint64_t n[5]);
const char *sdk_actor_state_ray(int state);
extern void (*sdk_remote_actor_states)(uint64_t n[5]);

/* Set by the cluster's join, NULL otherwise: the bytes each alive node's
 * agent of this job has served to other nodes' pulls, its address in
 * `node` (at most max nodes); how many. */
typedef struct sdk_node_bytes {
    char node[64];
    uint64_t bytes;
} sdk_node_bytes;
extern size_t (*sdk_remote_served)(sdk_node_bytes *out, size_t max);
/* Cluster: a stored value's descriptor was freed (mu held), so copies of
 * it elsewhere go too; NULL outside a cluster. */
extern void (*sdk_remote_value_freed)(uint64_t key);
/* Cluster: a parked object (sdk_obj.parked: its value made and kept on
 * another node) is waited for here (mu held), so its owner fetches it;
 * NULL outside a cluster. */
extern void (*sdk_remote_want)(sdk_obj *o);

static inline void
sdk_obj_want(sdk_obj *o)
{
    if (o->parked && sdk_remote_want)
        sdk_remote_want(o);
}

/* Like ray_on_done, but the callback also runs (with RAY_OK) when the
 * object parks, and a parked object is not fetched for it: for a caller
 * that sends the ref on to another node (cluster_defer.c). */
ray_err sdk_on_done_or_parked(ray_ref ref, ray_done_cb cb, void *arg);

/* Pending object o parks (mu held): its sdk_on_done_or_parked waiters
 * are taken into *cbs. True when something else waits for its value. */
bool sdk_obj_park(sdk_rt *rt, sdk_obj *o, struct sdk_cb **cbs);

/* local_status.c: this driver's `rayc status` socket on its machine
 * (started by ray_init, stopped first thing by ray_shutdown); none in an
 * agent (sdk_agent_mode, set before its ray_init). */
void sdk_local_status_start(const ray_config *cfg);
void sdk_local_status_stop(void);
extern bool sdk_agent_mode;
/* An agent's: the tag its runtime takes (drawn before its ray_init, to
 * tell its driver at once), or 0. */
extern uint64_t sdk_agent_tag;

/* timeline.c (mu held): worker w sent an SDK_MSG_TRACE record; free the
 * recorded events (ray_shutdown). */
typedef struct sdk_timeline sdk_timeline;
void sdk_timeline_add(sdk_rt *rt, int w, const uint8_t *rec, uint32_t len);
void sdk_timeline_free(sdk_rt *rt);

/* The owner, apart from where its tasks run (runtime.c). create: from a
 * normalized config (ray_init's), no raylet or transport yet; attach
 * gives it both (the embedded backend's, or a test's fakes); destroy
 * frees the owner's state only (tasks still queued are taken from the
 * raylet's queue first). */
ray_err sdk_owner_create(const ray_config *cfg, sdk_rt **out);
void sdk_owner_attach(sdk_rt *rt, sdk_tx *tx, const sched_raylet_api *api,
                      void *rl);
void sdk_owner_destroy(sdk_rt *rt);

/* The raylet's view of slot w (alive, inflight, blocked, ...). */
static inline sched_slot *
sdk_slot(sdk_rt *rt, int w)
{
    return &rt->rl_workers[w].slot;
}

/* The raylet's record of slot w's process (pid, deaths, start_err). */
static inline sched_worker *
sdk_proc_worker(sdk_rt *rt, int w)
{
    return &rt->rl_workers[w];
}

/* The index of worker `wk`. */
static inline int
sdk_windex(const sdk_rt *rt, const sdk_worker *wk)
{
    return (int)(wk - rt->workers);
}

/* Take and release mu; releasing it runs the callbacks raylet events
 * queued (rt->later_cbs). */
void sdk_lock(sdk_rt *rt);
void sdk_unlock(sdk_rt *rt);

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
enum {
    SDK_WAIT_TASK = 1,
    SDK_WAIT_CB = 2,
    SDK_WAIT_RGET = 3,
    SDK_WAIT_PUSH = 4
};

/* A pending callback (waiter kind SDK_WAIT_CB). */
typedef struct sdk_cb {
    ray_done_cb cb;
    void *arg;
    ray_ref ref;  /* held until the callback ran */
    ray_ref user; /* what it is given: ref, or the borrowed ref ref
                     stands for */
    ray_err err;
    struct sdk_cb *next;
} sdk_cb;

/* Timelines from elsewhere (a cluster's agents), merged by ray_timeline:
 * one blob of sdk_timeline_export each, with the shift that puts its
 * clock on this process's and the label of its track group. */
typedef struct sdk_tl_blob {
    char label[128];
    void *data; /* rt_malloc'd: the caller frees it */
    size_t len;
    int64_t shift_ns;
} sdk_tl_blob;

/* timeline.c: this runtime's events as a blob (at most max bytes: the
 * oldest events go past that, counted as dropped). */
ray_err sdk_timeline_export(void **out, size_t *len, size_t max);
/* timeline.c: the whole trace ray_timeline would write (the agents'
 * included), at most `max` events from each node, as text (*out:
 * malloc'd, free it with free()). */
ray_err sdk_timeline_text(size_t max, char **out, size_t *len);

/* Set by the cluster's join, NULL otherwise: tell the agents to record
 * (or stop), and gather their blobs (n, at most max). Without mu. */
extern void (*sdk_remote_timeline_enable)(bool on);
extern size_t (*sdk_remote_timelines)(sdk_tl_blob *out, size_t max);

/* An actor call a task made on a handle that is not this runtime's (an
 * actor on another node of a cluster): set by the cluster's join, NULL
 * otherwise. With mu held; it settles `o` (the call's reserved result)
 * now or when the value comes. */
extern void (*sdk_remote_actor_call)(sdk_rt *rt, uint64_t handle,
                                     const char *method, const uint8_t *args,
                                     uint32_t args_len, uint32_t nargs,
                                     sdk_obj *o, sdk_cb **cbs);

/* task.c, all with mu held: */

/* Retain (or release) the objects of the ref entries among the `nargs`
 * wire args at `spec`; refs no longer in the store are skipped. */
void sdk_spec_refs(sdk_rt *rt, const uint8_t *spec, uint32_t nargs,
                   bool retain);

/* Hold the objects of the ref entries among the `nargs` wire args at
 * `spec` (sdk_args_encode's output) for the call that carries them: all
 * or none. RAY_OK, *any telling whether there was a ref; RAY_EINVAL when
 * one is no longer in the store (released since sdk_args_check), with
 * the detail "`what` '`name`': argument N is a null or released
 * reference", the holds taken before it dropped again. mu held. */
ray_err sdk_spec_hold_refs(sdk_rt *rt, const uint8_t *spec, uint32_t nargs,
                           const char *what, const char *name, bool *any);

/* The same for a call a worker sent (its refs may have been released
 * while the record travelled): each ref still in the store is held, one
 * that is not becomes RAY_T_NONE (the worker that runs the call rejects
 * it). Returns whether there was a ref. mu held. */
bool sdk_spec_hold_sent_refs(sdk_rt *rt, uint8_t *spec, uint32_t nargs);

/* A waiter from the runtime's pool (rt_malloc when it is empty). */
sdk_waiter *sdk_waiter_alloc(sdk_rt *rt);
/* Free the pooled tasks and waiters (the monitor does it when no task
 * is live, so a burst's memory goes back once it is over). */
void sdk_pools_trim(sdk_rt *rt);
/* Give a waiter (not one inline in a task) back to the pool. */
void sdk_waiter_put(sdk_rt *rt, sdk_waiter *w);

/* Drain every completion ring, finish tasks, dispatch what became ready;
 * callbacks to run are appended to *cbs (run them after unlocking).
 * Returns the number of completions handled. */
size_t sdk_progress(sdk_rt *rt, sdk_cb **cbs);

/* sdk_progress that also takes what workers exposed and did not publish
 * yet (results held back for a batch while the worker runs its next
 * task): for a wait that has lasted (before a sleep, the reactor, the
 * monitor), not for every poll. */
size_t sdk_progress_deep(sdk_rt *rt, sdk_cb **cbs);

/* Run and free a list of callbacks (mu NOT held). */
void sdk_run_callbacks(sdk_cb *cbs);

/* Mark an object done and notify its waiters (dependent tasks become
 * ready, callbacks are queued on *cbs). */
void sdk_object_done(sdk_rt *rt, sdk_obj *o, sdk_cb **cbs);

/* Worker slot w's process ended (reaped, status as waitpid) or never
 * started: take back what was sent there (tasks requeued or failed by
 * their retries, held replies, counted handles; an actor host's actors
 * restart or die). Returns whether the process had become ready. The
 * one death path: what differs for an actor host is in
 * sdk_actor_host_died, given the same sdk_death. */
typedef struct sdk_death {
    int w;
    int32_t pid;
    uint64_t running; /* the task it ran, 0 if none */
    bool ready;       /* it had started and taken records */
    bool never_started;
    char how[200];      /* "killed by signal 9 (Killed)", ... */
    sdk_task *inflight; /* what was sent there, in order, detached
                           (linked by next; leases returned) */
} sdk_death;

bool sdk_worker_died(sdk_rt *rt, int w, int status, bool never_started,
                     sdk_cb **cbs);

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

/* The transport as the raylet's queue sees it (push, fail, flush, take
 * back: local_queue.h's sched_ops), for sched_raylet_create. */
extern const sched_ops sdk_task_ops;

/* Fail a task (not in flight) with err/msg and free it. */
void sdk_task_fail(sdk_rt *rt, sdk_task *t, ray_err err, const char *msg,
                   sdk_cb **cbs);

/* Register a task's dependencies; returns the number still pending. */
uint32_t sdk_task_add_deps(sdk_rt *rt, sdk_task *t);

/* Block until `done(arg)` returns true (checked with mu held, after
 * progress) or the deadline passes: spins spin_us, then sleeps on the
 * doorbell. Returns RAY_OK or RAY_ETIMEDOUT. Called without mu. */
ray_err sdk_wait_until(sdk_rt *rt, bool (*done)(sdk_rt *, void *), void *arg,
                       int64_t deadline_ns);

/* sdk_wait_until for the result of task `task` (nonzero): workers then
 * publish that result at once, and others in batches. */
ray_err sdk_wait_task(sdk_rt *rt, bool (*done)(sdk_rt *, void *), void *arg,
                      int64_t deadline_ns, uint64_t task);

/* Wake driver threads sleeping on the doorbell. */
static inline void
sdk_wake_driver(sdk_rt *rt)
{
    sdk_bell_ring(rt->bell);
}

/* Take task `t` back from the worker it was pushed to, if that worker
 * has not started it: true when it will never run there (it is off the
 * worker's in-flight list; the caller settles the scheduler's count with
 * sched_queue_done and sends or finishes it). Never an actor call. */
bool sdk_task_revoke(sdk_rt *rt, sdk_task *t);

/* True if a failed argument failed (and freed) the task. */
bool sdk_task_check_failed_deps(sdk_rt *rt, sdk_task *t, sdk_cb **cbs);

/* nested.c (driver side of worker requests), mu held: */

/* Handle one request record from worker `w`. */
void sdk_nested_handle(sdk_rt *rt, int w, uint32_t type, const uint8_t *rec,
                       uint32_t len, sdk_cb **cbs);

/* A remote get or push waiter's object is done: reply to the worker. */
void sdk_nested_get_ready(sdk_rt *rt, sdk_waiter *wt, sdk_obj *o);

/* ray_cancel of `o`'s task, mu held: RAY_OK or the error (detail set). */
ray_err sdk_cancel_locked(sdk_rt *rt, sdk_obj *o, bool force, sdk_cb **cbs);

/* Worker w made the call whose result is `o`: push the result to it once
 * known (a waiter of kind SDK_WAIT_PUSH; at once if already done). */
void sdk_nested_watch(sdk_rt *rt, int w, sdk_obj *o, uint64_t id);

/* Reply to request `req` of worker w (never blocks, never drops). */
void sdk_nested_reply(sdk_rt *rt, int w, uint64_t req, ray_err err,
                      uint32_t type, uint64_t scalar, const void *payload,
                      size_t len);

/* map.c: a map chunk finished (mu held). */
void sdk_map_chunk_done(sdk_rt *rt, sdk_task *t, ray_err err, const char *msg,
                        const void *data, size_t len);

/* ---- the node's object store (object.c, runtime.c, worker_main.c) ---- */

/* Driver: the store client, starting the store first if needed (takes
 * store_mu; may be called with mu held). NULL on failure, with the
 * reason set as the thread's error detail. */
store_client *sdk_store_ensure(sdk_rt *rt);

/* Driver: write `len` bytes as a new stored value; *key names it.
 * RAY_ESTORE_FULL (with a detail naming the sizes) and other errors. */
ray_err sdk_store_put(sdk_rt *rt, const void *data, size_t len, uint64_t *key);

/* Driver, any thread (mu not held): a new stored value of `len` bytes
 * to fill in place at *dst (named *key: a new key, or the one *key holds,
 * reserved with sdk_store_new_key), waiting up to `wait_ms` for
 * room as store_plasma_create does (`flags`: STORE_CREATE_*); then
 * sdk_store_end seals it (ok) or drops it. Errors with the detail set. */
ray_err sdk_store_begin(sdk_rt *rt, size_t len, int64_t wait_ms, uint32_t flags,
                        uint64_t *key, void **dst);
/* A store key no value has, for one that may come (a parked result's:
 * its copies on nodes go by it before it is pulled here). */
uint64_t sdk_store_new_key(sdk_rt *rt);
ray_err sdk_store_end(sdk_rt *rt, uint64_t key, bool ok);

/* A new ready object (a put) whose value is the sealed stored value
 * `key` of `type`: the object owns it from now on, and it is deleted
 * when the object is freed (on failure, at once). */
ray_err sdk_put_key(sdk_rt *rt, uint32_t type, uint64_t key, ray_ref *out);

/* Bytes of values moved between this driver's node and others, and the
 * time spent moving them (from room in the store to the last byte): [0]
 * pulled here, [1] pushed there (cluster_objects.c; the metrics). */
extern _Atomic uint64_t sdk_xfer_bytes[2], sdk_xfer_ns[2];

/* Driver, mu held: delete the stored value `key` (now or later). */
void sdk_store_forget(sdk_rt *rt, uint64_t key);

/* Driver, mu held: create a temporary stored value of `len` bytes for a
 * task argument (*key, writable at *dst); then seal it or abort it.
 * RAY_EAGAIN when it does not fit now but running tasks hold pins;
 * RAY_ESTORE_FULL, other errors, each with the detail set. */
ray_err sdk_store_arg_create(sdk_rt *rt, size_t len, uint64_t *key, void **dst);
void sdk_store_arg_seal(sdk_rt *rt, uint64_t key);
void sdk_store_arg_abort(sdk_rt *rt, uint64_t key);

/* Driver, mu held: a worker asked for the store (SDK_MSG_STORE). */
void sdk_store_request(sdk_rt *rt);

/* ---- actors (actor*.c) ---- */

/* Actor host slots beyond the task workers (rt->nslots - nworkers). */
#define SDK_ACTOR_HOSTS 64

/* task.c: hand `t` to worker w's submission ring (not published).
 * RAY_EAGAIN when there is no room now. mu held. */
ray_err sdk_push_to_worker(sdk_rt *rt, int w, sdk_task *t);

/* task.c: undo what sending `t` took (resources, temporary store objects
 * of large arguments) so it can be sent again. mu held. */
void sdk_task_unsend(sdk_rt *rt, sdk_task *t);

/* placement.c: placement groups (mu held). A task or actor in a group
 * points at its bundle's sched_bundle and holds the group. */
typedef struct sdk_pg sdk_pg;
struct sdk_pg *sdk_pg_of(sched_bundle *sb);
/* The bundle for a call or actor asking `cpus` and `d` (`want`, as
 * given) in group `pg` (index or RAY_PG_ANY_BUNDLE): *out held, NULL
 * when pg.id is 0; else RAY_EINVAL naming `what` (unknown or removed
 * group, no such bundle, more than it reserves). */
ray_err sdk_pg_bundle_for(sdk_rt *rt, const char *what, ray_pg pg,
                          int32_t index, double cpus, const sched_demand *d,
                          const char *want, sched_bundle **out);
/* Which of a group's n bundles a call goes to: `index` if fits_k says
 * it fits, or with RAY_PG_ANY_BUNDLE the next that fits from *next_any
 * on (then past it); -1 no such bundle, -2 none fits. Here and in a
 * cluster (cluster_pg.c). */
int sdk_pg_pick(uint32_t n, uint32_t *next_any, int32_t index,
                bool (*fits_k)(const void *ctx, uint32_t k), const void *ctx);
/* The error of a pick that failed (why: -1 or -2), naming `what`. */
ray_err sdk_pg_pick_fail(int why, const char *what, uint64_t id, uint32_t n,
                         int32_t index, double cpus, const char *want);
void sdk_pg_release(sdk_rt *rt, sched_bundle *sb); /* NULL ok */
/* Hold back task `t` becoming ready while its group is pending (true);
 * a removed group fails it (true). False: lease it. */
bool sdk_pg_park(sdk_rt *rt, sdk_task *t);
bool sdk_pg_pending(sched_bundle *sb);          /* its group is not created */
void sdk_pgs_retry(sdk_rt *rt, sdk_cb **cbs);   /* reserve pending groups */
void sdk_pgs_fini(sdk_rt *rt);                  /* shutdown: free them all */
const char *sdk_pg_state_name(int state);       /* "CREATED" */
const char *sdk_pg_strategy_name(int strategy); /* "STRICT_PACK" */
ray_err sdk_drv_pg_create(const ray_bundle *bundles, uint32_t n,
                          int32_t strategy, const char *name, ray_pg *out);
ray_err sdk_drv_pg_wait(ray_pg pg, int64_t timeout_ms);
/* A group of `n` bundles on this node reserved now, or RAY_EAGAIN with
 * nothing made (a cluster's bundles placed here: cluster_pg.c). */
ray_err sdk_pg_reserve_now(const ray_bundle *bundles, uint32_t n, ray_pg *out);
ray_err sdk_drv_pg_state(ray_pg pg, int *state);
ray_err sdk_drv_pg_remove(ray_pg pg);

/* actor.c, driver side, mu held unless stated: */
void sdk_actors_place(sdk_rt *rt, sdk_cb **cbs); /* place waiting actors */
void sdk_actors_kill_in_pg(sdk_rt *rt, struct sdk_pg *pg, const char *why,
                           sdk_cb **cbs);
ray_err sdk_actors_init(sdk_rt *rt);  /* ray_init, no lock */
void sdk_actors_fini(sdk_rt *rt);     /* destroy, no lock */
void sdk_actors_shutdown(sdk_rt *rt); /* ray_shutdown: destructors */
void sdk_actors_dispatch(sdk_rt *rt, sdk_cb **cbs); /* push queued calls */
uint32_t sdk_actors_alive(sdk_rt *rt);              /* actors not DEAD */
/* A record of actor task `t` completed (before the result is stored). */
void sdk_actor_task_done(sdk_rt *rt, sdk_task *t, const sdk_msg_done *d,
                         const void *payload, sdk_cb **cbs);
/* An actor call's dependency resolved (t->ndeps already decremented). */
void sdk_actor_dep_ready(sdk_rt *rt, sdk_task *t, sdk_cb **cbs);
/* Actor host d->w (>= ntask) died or never started (sdk_worker_died):
 * its actors restart or die, the calls in flight are retried or fail. */
void sdk_actor_host_died(sdk_rt *rt, const sdk_death *d, sdk_cb **cbs);
/* Requests ACALL/AEXIT from worker w. */
void sdk_actor_handle_req(sdk_rt *rt, int w, uint32_t type, const uint8_t *rec,
                          uint32_t len, sdk_cb **cbs);
/* Hold (delta 1) or drop (delta -1) the actor handles among the `nargs`
 * wire args at `spec` (SDK_WIRE_ACTOR). Returns whether there were any. */
bool sdk_actor_hold_args(sdk_rt *rt, const uint8_t *spec, uint32_t nargs,
                         int delta, sdk_cb **cbs);
/* Worker slot `wk`'s process is gone: drop the handles it counted. */
void sdk_actor_drop_worker_holds(sdk_rt *rt, sdk_worker *wk, sdk_cb **cbs);
/* ray_cancel of an actor call that is not in flight. */
void sdk_actor_cancel(sdk_rt *rt, sdk_task *t, sdk_cb **cbs);

#endif /* RAY_SDK_SDK_INT_H */

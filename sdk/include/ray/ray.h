/* SPDX-License-Identifier: Apache-2.0
 *
 * ray.h: the rayc C API. This file is the whole public interface of libray;
 * every other header in the tree is internal and may change at any time.
 * It is self-contained: it includes only the C standard library.
 *
 * Model. A program is a *driver*. ray_init() brings up an embedded local
 * runtime inside it: a scheduler and one worker process per CPU. The
 * runtime is process-global (one per process): the API takes no runtime
 * handle, so a remote call reads like a plain call. Workers are the
 * driver's own executable, re-executed in worker mode: a constructor
 * this header adds to the program catches them before main() runs, so
 * the user writes no worker code. Functions become remote with one
 * macro next to their definition:
 *
 *     static double sweep(int64_t i, double p1, double p2)
 *     { return p1 * p2 + (double)i; }
 *     RAY_REMOTE(sweep, double, int64_t, double, double);
 *
 *     ray_init(NULL);
 *     ray_ref r = sweep_remote(3, 1.5, 2.0);      // typed; returns at once
 *     ray_ref s = RAY_CALL(sweep, 4, r, 2.0);     // a ref stands for a value
 *     double v;
 *     ray_get_double(s, &v, RAY_FOREVER);
 *     ray_ref_release(r); ray_ref_release(s);
 *     ray_shutdown();
 *
 * Errors. Every fallible call returns a ray_err. A human-readable message
 * for the last failure on the calling thread is ray_last_error_detail(),
 * and every failure sets one. Bad input never aborts the process: NULL
 * pointers, buffers at NULL, sizes that cannot fit, refs and handles that
 * are not this runtime's, options out of range are RAY_EINVAL (RAY_ETOOBIG
 * for sizes), with a detail naming the call and the argument.
 *
 * Blocking. Only ray_init, ray_shutdown, the ray_get family, ray_wait,
 * ray_map_cols (RAY_MAP, RAY_STARMAP), ray_map_job_wait and
 * ray_map_job_next wait, each for at most the time its comment states;
 * every other call returns without waiting for a worker.
 *
 * Ownership. Inputs are borrowed for the duration of the call (a call
 * copies its arguments); a ray_ref returned to you is one holder you
 * release with ray_ref_release; views from ray_get are released with
 * ray_release; memory rayc allocates for you is freed with ray_free.
 *
 * Threads. Unless a declaration says otherwise, every function may be
 * called from any thread of the driver. Inside a remote function (in a
 * worker, on the thread that runs the task) the call, put, get, wait,
 * cancel and reference functions work too, and so do the actor calls:
 * nested tasks, owned by the driver; a small value got there is a copy.
 * ray_on_done and the map helpers are driver-only for now.
 *
 * Scheduling. Tasks are queued in the workers in batches, and an idle
 * worker takes (steals) tasks another has queued but not started, so a
 * long task never holds up short ones while a CPU is free. A task that
 * waits (ray_get, ray_wait inside a task) gives its CPU away: the tasks
 * queued behind it move to other workers, and stand-in workers start for
 * the waiting ones (up to 2 per CPU, at least 4, at most 64), so its wait
 * ends when what it waits for is done, and never later than its timeout.
 * Only when every worker is waiting and no stand-in can start does a
 * waiting task run queued tasks itself (then a timeout may be overrun by
 * the task it runs). Results are published as they are made: none waits
 * behind the next task a worker runs.
 *
 * Sizes. Small values (<= 16 bytes) live inline in the owner's object
 * table; values below 100 KiB are one heap copy there and travel inline
 * in task records and results. Values of 100 KiB or more live in the
 * node's shared-memory object store (ray_config.object_store_bytes; it
 * starts, and pre-faults its memory, when the first such value appears):
 * ray_put writes them there once, a task writes its large result there
 * itself, a task reads a large argument in place, and ray_get returns a
 * read-only view into the store (writing through it faults). The last
 * reference deletes the value from the store. A value that cannot fit
 * (larger than the store, or the store is full of pinned values after
 * spilling unpinned ones to disk) fails with RAY_ESTORE_FULL and a detail
 * naming the sizes.
 */
#ifndef RAY_RAY_H
#define RAY_RAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RAY_API __attribute__((visibility("default")))

/* ---------------------------------------------------------------- version */

#define RAY_VERSION_MAJOR 0
#define RAY_VERSION_MINOR 1
#define RAY_VERSION_PATCH 0
#define RAY_VERSION_NUMBER                                                     \
    (RAY_VERSION_MAJOR * 10000 + RAY_VERSION_MINOR * 100 + RAY_VERSION_PATCH)

/* The library's RAY_VERSION_NUMBER; compare with the header's to catch a
 * header/library mismatch. Never fails. */
RAY_API int ray_version(void);

/* ----------------------------------------------------------------- errors */

/* The same enum as runtime/status.h (numbers never change meaning). */
#ifndef RAY_ERR_DEFINED
#define RAY_ERR_DEFINED
typedef enum ray_err {
    RAY_OK = 0,
    RAY_EINVAL = 1,        /* bad argument or malformed input */
    RAY_ENOMEM = 2,        /* out of memory */
    RAY_ETIMEDOUT = 3,     /* deadline passed */
    RAY_ECLOSED = 4,       /* connection or runtime closed */
    RAY_ENOTFOUND = 5,     /* no such object, function, actor or node */
    RAY_EEXISTS = 6,       /* already exists (name taken, sealed twice) */
    RAY_EBUSY = 7,         /* resource in use (pinned object, busy slot) */
    RAY_ESTORE_FULL = 8,   /* object store cannot fit the object */
    RAY_EOBJECT_LOST = 9,  /* object lost and could not be rebuilt */
    RAY_ETASK_FAILED = 10, /* the task's own code reported an error */
    RAY_EACTOR_DIED = 11,  /* the actor is dead */
    RAY_EWORKER_DIED = 12, /* the worker process died running the task */
    RAY_EPROTO = 13,       /* protocol violation by a peer */
    RAY_EINTERNAL = 14,    /* broken invariant inside rayc */
    RAY_ECANCELLED = 15,   /* the task was cancelled */
    RAY_ETOOBIG = 16,      /* message or object larger than the limit */
    RAY_EAGAIN = 17,       /* would block; try again later */
    RAY_ESYSERR = 0x80,    /* flag: errno in bits 8..; see ray_err_errno */
} ray_err;
#endif

/* A static description of `e` ("deadline passed"). Never NULL. */
RAY_API const char *ray_strerror(ray_err e);

/* The detail message of the last failed rayc call on this thread (for a
 * failed ray_get: which task failed, how, and its own message). The string
 * is thread-local and valid until the next rayc call on this thread.
 * Never NULL ("" when there is nothing to say). */
RAY_API const char *ray_last_error_detail(void);

/* ---------------------------------------------------------------- logging */

/* Receives one log line of the runtime (no trailing newline). `level` is
 * 0 debug .. 4 fatal. Called from any runtime thread, no rayc lock held;
 * `line` is valid only during the call. */
typedef void (*ray_log_cb)(void *arg, int level, const char *line);

/* Install (or remove, with NULL) the log callback. The SDK prints nothing
 * of its own unless a callback is installed or ray_config.log_level asks
 * for stderr output. Worker output (printf in tasks) always reaches the
 * driver's stdout/stderr, each line prefixed with "(pid=N) ". */
RAY_API void ray_set_log_cb(ray_log_cb cb, void *arg);

/* ---------------------------------------------------------- init/shutdown */

/* Runtime configuration. Zero means default in every field. */
typedef struct ray_config {
    const char *address;         /* NULL (and no RAY_ADDRESS): the local
                                    runtime. "host:port" of a head started
                                    with `rayc start --head`, or "auto"
                                    (the head on this machine): join that
                                    cluster (see ray_init) */
    int32_t num_cpus;            /* worker processes; default: online CPUs */
    int32_t log_level;           /* 0 silent; 1 error; 2 warn; 3 info;
                                    4 debug; others RAY_EINVAL */
    uint64_t object_store_bytes; /* capacity of the node's object store
                                    (values of 100 KiB or more), started
                                    when the first such value appears; its
                                    memory is committed as values use it
                                    and kept for reuse; also the cap
                                    on smaller ray_put bytes held in the
                                    driver; default 1 GiB */
    int32_t worker_spin_us;      /* bounded spin before sleeping; default 50,
                                    at most 1000000 */
    uint32_t ring_bytes;         /* per worker ring, power of 2 from 64 KiB
                                    to 256 MiB; default 4 MiB */
    const char *resources;       /* custom resources, "GPU:1,disk:4" */
    int32_t max_inflight;        /* tasks queued per worker; default 4096 */
    int32_t actor_processes;     /* actor processes at most, 1 to 64; past
                                    that, actors share them (see actors);
                                    default 64 */
} ray_config;

/* Fill `cfg` with defaults (all zero). */
RAY_API void ray_config_init(ray_config *cfg);

/* Start the process-global runtime: spawns cfg->num_cpus workers (ahead of
 * need; they stay up) and the runtime's monitor thread, then returns
 * without waiting for the workers to be ready. `cfg` may be NULL; it is
 * read during the call only. A field left zero takes its environment
 * variable when set, else the default: RAYC_NUM_CPUS (or RAY_NUM_CPUS)
 * for num_cpus, RAYC_OBJECT_STORE_MEMORY (a size such as 2G) for
 * object_store_bytes, RAYC_WORKER_SPIN_US, RAYC_LOG_LEVEL (debug, info,
 * warn, error, off); a bad value fails with RAY_EINVAL naming it.
 * The soft open-file limit (RLIMIT_NOFILE) is raised to the hard one: the
 * driver holds 3 descriptors per worker process. The driver answers
 * `rayc status` and `rayc list tasks|objects` on this machine through a
 * Unix socket, <temp dir>/drivers/PID.sock (RAYC_TEMP_DIR, default
 * /tmp/rayc-UID; this user only), removed by ray_shutdown;
 * RAYC_STATUS_SOCKET=0 turns it off.
 *
 * A cluster: with cfg->address, or else the RAY_ADDRESS environment
 * variable, set to a head's "host:port" (or "auto"), the driver proves
 * the cluster token (RAYC_TOKEN_FILE, default ~/.rayc/cluster-token) to
 * the head (over TLS when RAYC_TLS_DIR names the directory with the
 * cluster's ca.crt, node.crt and node.key, as for every node: see the
 * README), and starts the program itself on every other alive node (its
 * raylet fetches the executable once by SHA-256; nothing is copied by
 * hand). This machine stays a node run by the runtime above: the node at
 * the address it reaches the head from, or at RAYC_NODE_IP_ADDRESS when
 * that is set (a machine with several nodes on their own addresses). A call
 * goes to another node when this one has at least half its CPUs busy (to the
 * least loaded), or when only another node has the custom resources it
 * asks for (`rayc start --resources`), or the node ray_call_opts.node
 * names; a call no node can ever run fails at once (RAY_EINVAL,
 * "infeasible", naming the largest node). Values move with the calls:
 * small ones inside call and result records; one of 1 MiB or more that a
 * call on another node returns stays in that node's object store. There
 * a task's result that can be made again (retries left; not pinned by a
 * hard ray_call_opts.node, in a placement group, or given an actor handle)
 * stays until something here waits for it: ray_get, ray_wait (which, as
 * Ray's fetch_local, pulls what it waits for), ray_on_done, a call on
 * this node given it; a call on another node given it reads it from there
 * and keeps a copy (one with no node, strategy or group of its own goes
 * beside its largest such arguments). Other results are pulled at once. A pull
 * goes into this machine's store (straight from store to store, in 4 MiB chunks
 * over two connections), the node keeping its copy while this process
 * holds the value, so that calls on other nodes read it from there; a
 * ref's large value given to a call on
 * another node is pushed there once and kept likewise, and a node that
 * pulled one keeps its copy for its next calls. A call whose
 * arguments are refs not ready yet waits here until they are done, then
 * goes (its placement chosen when it was made); a method call of an actor
 * on another node too, the actor's later calls waiting behind it, so
 * they run in the order they were made. A value is lost with its
 * node only if no copy is left: a result not pulled yet, with no copy on
 * another node, is made again by
 * its call on another node within max_retries (ray_stats.objects_rebuilt),
 * once its ref arguments lost with it are made again the same way (the
 * calls after them hold them: lineage, kept while the result is held, at
 * the cost of one call record each); else RAY_EOBJECT_LOST names the
 * node.
 * Refs travel inside values between the job's runtimes (this process's,
 * and the one its program runs in on each other node) and are borrowed
 * where they arrive: a task anywhere reads the refs packed in its
 * arguments (a reduce over a list of refs), and a task on another node
 * may hand back refs of its node's runtime (what it put there, the calls
 * it made there). ray_get, ray_wait, ray_on_done and calls given one ask
 * the owner for the value (once while that runtime holds the ref; a
 * large one is pulled or pushed as above; other nodes ask through this
 * process, which answers a large value with a node holding it, and they
 * pull it from there), and ray_ref_retain and ray_ref_release count at
 * the owner:
 * the last release anywhere frees the value there, and a later use gets
 * RAY_EINVAL ("released by every holder"). If the owner's node dies
 * first, a value not fetched yet gives RAY_EOBJECT_LOST naming it.
 * Puts and maps run here. Actors go to another node by
 * ray_actor_opts.node or resources
 * only it has. Names are cluster-wide: a named or detached actor lives in
 * the job's agent on this machine's raylet (on another node when this
 * machine runs none), so another driver's ray_actor_lookup finds it; a
 * detached one outlives its driver (until ray_actor_kill or
 * ray_actor_exit), a named one ends with it. Handles of actors in agents
 * (those three kinds) travel with calls and method calls to any node,
 * where tasks call them directly; a call given a handle of an actor in
 * this process runs here. The arguments of constructors in agents are
 * values or ready refs. Nodes that join later are used within a second. What
 * remote tasks print reaches this process's stdout as "(node=IP) (pid=N) line".
 * A node that dies has its calls in flight re-run on another node that has
 * what they ask for (if none is alive, on this one when they fit here,
 * else once one is, waiting up to a minute) within
 * max_retries (else RAY_EWORKER_DIED naming it; so do those pinned to it
 * by ray_call_opts.node without node_soft, and those in a group's bundle
 * there), and its actors move within
 * max_restarts (else calls give RAY_EACTOR_DIED naming it); a moved actor's
 * calls in flight there go to it again within max_task_retries, in the
 * order they were made (calls made meanwhile may run first).
 *
 * Returns RAY_OK; RAY_EEXISTS if already initialised; RAY_EINVAL for a bad
 * field, a malformed address, an open-file limit too low for num_cpus
 * workers, or TLS asked for whose files cannot be read (the detail names
 * it); RAY_ENOTFOUND (no token file, or "auto"
 * and no head here); RAY_EPROTO (the head refused the token or the
 * protocol version, both named); a connection error; RAY_ENOMEM; a
 * RAY_ESYSERR value when memfd/spawn fails. Blocks for a few ms. Call
 * from the driver only, not from a worker. */
RAY_API ray_err ray_init(const ray_config *cfg);

/* ---- nodes of a cluster ---- */

#define RAY_NODE_ID_SIZE 57 /* 56 hex digits and a NUL */

/* The id of the node this code runs on, as `rayc status` and ray_nodes
 * show it: in the driver, its machine's node; in a task or method, the
 * node running it. RAY_ENOTFOUND outside a cluster, or in a driver on a
 * machine that runs no raylet; RAY_EINVAL for a NULL out. Never blocks. */
RAY_API ray_err ray_node_id(char out[RAY_NODE_ID_SIZE]);

/* One node of the cluster, as the head knows it. */
typedef struct ray_node_info {
    char id[RAY_NODE_ID_SIZE];
    char address[72]; /* its raylet, "IP:port" */
    char hostname[64];
    bool alive; /* false: declared dead (death_reason says why) */
    bool is_head;
    double num_cpus;     /* in total */
    double cpus_free;    /* as its last heartbeat measured */
    char resources[256]; /* its custom resources, "gpu:2,pool:100" */
    char death_reason[128];
} ray_node_info;

/* The cluster's nodes, alive and dead, in the order they joined: *out
 * (free it with ray_free) holds *n of them. One round trip to the head.
 * Driver only: RAY_EINVAL inside a task, outside a cluster or for NULL
 * arguments; the head's error when it does not answer. */
RAY_API ray_err ray_nodes(ray_node_info **out, size_t *n);

/* True between a successful ray_init and ray_shutdown (and in a worker). */
RAY_API bool ray_is_initialized(void);

/* Stop the runtime: workers exit (killed after a short grace period), the
 * remaining worker output is flushed, all objects are freed and every
 * resource (processes, memory, fds) is released; nothing is left on disk
 * (the object store's socket and spill files live in a private directory
 * that is removed here, or by a helper process if the driver dies).
 * Outstanding refs become invalid. Safe to call when not initialised.
 * Must not race with other rayc calls. Blocks for < ~50 ms, plus the
 * time to free the object store's memory if it was used (about 0.2 s per
 * GiB used). */
RAY_API void ray_shutdown(void);

/* Number of worker processes (0 when not initialised). */
RAY_API int ray_num_workers(void);

/* Counters of the running runtime (for tests and monitoring). */
typedef struct ray_stats {
    uint64_t objects_live; /* objects with a holder or a pending task */
    uint64_t object_bytes; /* bytes of object values held (not inline) */
    uint64_t tasks_live;   /* tasks submitted and not finished */
    uint64_t tasks_queued; /* ready tasks not yet handed to a worker */
    uint32_t workers_alive;
    uint32_t worker_restarts; /* workers replaced after dying */
    uint64_t store_bytes;     /* node object store: bytes held (in memory,
                                 as allocated, plus spilled to disk) */
    uint64_t store_objects;   /* node object store: objects held */
    uint64_t store_spills;    /* objects spilled to disk so far */
    uint64_t store_restores;  /* objects restored from disk so far */
    uint64_t replies_held;    /* results and replies for tasks that waited
                                 for room in their worker's reply ring
                                 (delivered in order once there was) */
    uint32_t actors_alive;    /* actors not DEAD */
    uint32_t actor_processes; /* actor processes running (or starting) */
    uint64_t tasks_moved;     /* tasks taken back from a worker that had
                                 not started them and placed again
                                 (stolen by an idle worker, or moved off
                                 a blocked one) */
    uint32_t workers_blocked; /* task workers whose task waits now */
    uint32_t standins;        /* stand-in workers running (started for
                                 blocked ones; see Scheduling) */
    uint64_t calls_resent;    /* in a cluster, the driver's: calls sent
                                 again after their node died with them in
                                 flight (tasks within max_retries, actor
                                 calls within max_task_retries) or lost
                                 an argument's copy */
    uint64_t store_evictions; /* in a cluster, copies this node pulled
                                 from another node, dropped from its
                                 store to make room (never spilled) */
    uint64_t store_fetches;   /* of those, pulled again when read */
    uint64_t objects_rebuilt; /* in a cluster, the driver's: task results
                                 made again by their call (lineage) because
                                 the node that kept them died before they
                                 were pulled (within max_retries; each is
                                 counted in calls_resent too) */
    uint64_t objects_parked;  /* in a cluster, the driver's: task results
                                 kept on the node that made them, not pulled
                                 here yet */
    uint64_t lineage_bytes;   /* what this driver keeps to make those again:
                                 a call record each (its name, options and
                                 small arguments) */
} ray_stats;

/* Fill *out with this runtime's counters; inside a task, those of the
 * runtime that runs it (the driver's, or in a cluster the one on the
 * task's node). RAY_EINVAL when not initialised or out is NULL. */
RAY_API ray_err ray_get_stats(ray_stats *out);

/* Timeline: when each task, actor call and map chunk ran, and where.
 * ray_timeline_enable(true) starts recording (RAYC_TIMELINE=1 in the
 * environment does it at ray_init); false stops it, keeping what was
 * recorded. Calls already running when it starts are not recorded. Off,
 * recording costs nothing measurable; on, one extra 40-byte record per
 * call (the task group of bench/microbenchmark prints timeline_overhead).
 * The driver keeps up to 1,048,576 events until ray_shutdown; later ones
 * are counted as dropped_events in the file.
 * ray_timeline(path) writes what was recorded so far as a Chrome trace
 * (JSON, open it in https://ui.perfetto.dev or chrome://tracing): one
 * complete ("ph":"X") event per call with its function's name, "cat"
 * "task", "actor_create" (a constructor), "actor_call" or "map_chunk"
 * (calls of actors with max_concurrency > 1 included), ts and dur in
 * microseconds from when recording first began, tid the worker's pid (each
 * named "worker N (pid P)"), and args task_id, worker (slot) and, for map
 * chunks, items. Both: driver only (RAY_EINVAL inside a task or before
 * ray_init); ray_timeline: RAY_EINVAL with the reason when the file cannot be
 * written. In a cluster the job's agents on the other nodes record too:
 * ray_timeline asks them all for their events (10 s at most) and writes every
 * node as a process of its own ("rayc node IP:PORT (ID, agent)"), its
 * times moved onto the driver's clock (estimated from a round trip, off by
 * at most half of one). */
RAY_API ray_err ray_timeline_enable(bool on);
RAY_API ray_err ray_timeline(const char *path);

/* Metrics in Prometheus' text format (0.0.4), from one snapshot: tasks
 * and actor calls by state (rayc_tasks{state="PENDING_ARGS_AVAIL" |
 * "PENDING_NODE_ASSIGNMENT" | "SUBMITTED_TO_WORKER"}: waiting for their
 * arguments, for a worker, or handed to one), rayc_tasks_finished_total
 * {result="ok"|"error"} (map chunks included), the scheduling latency
 * (rayc_task_scheduling_latency_seconds, a histogram: from a task ready to
 * run, its arguments there, to its hand-over to a worker; one task in 16
 * is sampled), actors by state (rayc_actors{state="DEPENDENCIES_UNREADY" |
 * "PENDING_CREATION" | "ALIVE" | "RESTARTING" | "DEAD"}, those on other
 * nodes of a cluster included) and live, workers by state, restarts,
 * objects and their
 * bytes, the node store's bytes, objects, spills and restores, and
 * rayc_node_alive. ray_metrics: the text in *out
 * (free it with ray_free); ray_metrics_write: into `path`, through a temp
 * file renamed over it (for node_exporter's textfile collector), RAY_EINVAL
 * with the reason when it cannot. Driver only (RAY_EINVAL elsewhere). In a
 * cluster the driver also sends them to the head once a second, whose
 * dashboard serves every driver's with a job label (README). The
 * scheduling latency covers the tasks this machine's runtime hands to its
 * workers, not yet those sent to other nodes. */
RAY_API ray_err ray_metrics(char **out);
RAY_API ray_err ray_metrics_write(const char *path);

/* ------------------------------------------------------------ references */

/* A reference to an object (a future). Small and by value: copying it
 * costs nothing and allocates nothing. It counts as one holder of the
 * object: call ray_ref_release when done (ray_ref_retain for a second
 * holder). The zero value is the null reference. */
typedef struct ray_ref {
    uint64_t id;    /* slot and generation in the owner's table; 0 = null */
    uint64_t owner; /* the runtime that made it: a tag drawn at ray_init.
                       A ref with another tag (made up, from another
                       runtime, or kept from before ray_shutdown) is
                       refused with RAY_EINVAL, never taken for a live
                       object, but for refs of another runtime of the
                       same cluster job, which are borrowed (ray_init).
                       Copy the whole struct to pass a ref inside a
                       value. */
} ray_ref;

#define RAY_REF_NULL ((ray_ref){0, 0})

/* Add a holder. RAY_EINVAL for a null, stale or foreign ref. Never
 * blocks. */
RAY_API ray_err ray_ref_retain(ray_ref ref);

/* Drop a holder; when the last holder (including pending tasks that take
 * it as an argument) drops it, the object's memory is freed. A null or
 * stale ref is ignored. Never blocks. */
RAY_API void ray_ref_release(ray_ref ref);

/* --------------------------------------------------------------- values */

/* Value types as they travel on the wire (ray_view.type). */
enum ray_type {
    RAY_T_NONE = 0,
    RAY_T_I32 = 1,
    RAY_T_I64 = 2,
    RAY_T_U64 = 3,
    RAY_T_F64 = 4,
    RAY_T_F32 = 5,
    RAY_T_BOOL = 6,
    RAY_T_STR = 7,   /* NUL-terminated; len counts the NUL */
    RAY_T_BYTES = 8, /* opaque bytes (also the raw form's values) */
    RAY_T_F64S = 9,  /* array of double */
    RAY_T_I64S = 10, /* array of int64_t */
    RAY_T_REF = 11,  /* argument only: resolved to the object's value */
};

/* A byte buffer. As an argument: borrowed for the duration of the call
 * that encodes it; `data` may be NULL only when `len` is 0 (the function
 * then gets NULL). As a return value of a remote function: `data` must
 * come from malloc() and rayc frees it. A `const char *` argument that is
 * NULL reaches the function as NULL; one that is not must end in a NUL. */
typedef struct ray_bytes {
    const void *data;
    size_t len;
} ray_bytes;

/* Arrays of numbers, same ownership rules as ray_bytes. */
typedef struct ray_f64s {
    const double *v;
    size_t n;
} ray_f64s;

typedef struct ray_i64s {
    const int64_t *v;
    size_t n;
} ray_i64s;

/* A read-only view of an object's value, from ray_get. Pinned (the object
 * cannot be freed) until ray_release. Never free `data`. */
typedef struct ray_view {
    const void *data;
    size_t len;
    uint32_t type; /* enum ray_type */
    uint32_t flags;
    ray_ref ref; /* internal: the pin */
} ray_view;

/* ---------------------------------------------------------------- put/get */

#define RAY_FOREVER (-1)

/* Store a copy of `len` bytes of `data` tagged `type` as a new object and
 * return a reference to it in *out (one holder: the caller; the null ref
 * on failure). A RAY_T_STR value must end in its NUL (len counts it); an
 * array type, a whole number of 8-byte elements. Returns RAY_OK,
 * RAY_EINVAL (not initialised, bad type, NULL out, data NULL with len,
 * a string without its NUL, a partial element), RAY_ETOOBIG (more than
 * 4 GiB), RAY_ENOMEM, RAY_ESTORE_FULL. Never blocks on workers. */
RAY_API ray_err ray_put(uint32_t type, const void *data, size_t len,
                        ray_ref *out);
RAY_API ray_err ray_put_int64(int64_t v, ray_ref *out);
RAY_API ray_err ray_put_double(double v, ray_ref *out);
RAY_API ray_err ray_put_bytes(const void *data, size_t len, ray_ref *out);
RAY_API ray_err ray_put_str(const char *s, ray_ref *out);

/* Wait up to `timeout_ms` (RAY_FOREVER: no limit; 0: poll) for the object
 * and return a pinned read-only view of its value (zero-copy; inside a
 * task a small value is a private copy, a value of 100 KiB or more a view
 * into the node's object store); release it with ray_release. Returns
 * RAY_OK; RAY_ETIMEDOUT; RAY_EINVAL for a NULL view or a null, stale or
 * foreign ref; or the task's error (RAY_ETASK_FAILED, RAY_EWORKER_DIED,
 * RAY_ENOTFOUND for an unknown function, RAY_ECANCELLED, ...) with the
 * details in ray_last_error_detail(). On failure *out is zeroed. Blocks. */
RAY_API ray_err ray_get(ray_ref ref, ray_view *out, int64_t timeout_ms);

/* Unpin a view from ray_get / ray_get_many. NULL or zeroed is fine. */
RAY_API void ray_release(ray_view *view);

/* ray_get for `n` refs with one deadline for all. On RAY_OK all `n` views
 * are filled; on failure none is (the first error found is returned). */
RAY_API ray_err ray_get_many(const ray_ref *refs, size_t n, ray_view *out,
                             int64_t timeout_ms);

/* Typed gets: wait, check the type (RAY_EINVAL on mismatch; integer types
 * convert among themselves when the value fits), and copy the value out.
 * Same errors and blocking as ray_get; a NULL out is RAY_EINVAL. */
RAY_API ray_err ray_get_int64(ray_ref ref, int64_t *out, int64_t timeout_ms);
RAY_API ray_err ray_get_int32(ray_ref ref, int32_t *out, int64_t timeout_ms);
RAY_API ray_err ray_get_uint64(ray_ref ref, uint64_t *out, int64_t timeout_ms);
RAY_API ray_err ray_get_double(ray_ref ref, double *out, int64_t timeout_ms);
RAY_API ray_err ray_get_float(ray_ref ref, float *out, int64_t timeout_ms);
RAY_API ray_err ray_get_bool(ray_ref ref, bool *out, int64_t timeout_ms);
/* Copies of strings/bytes, released with ray_free. */
RAY_API ray_err ray_get_str(ray_ref ref, char **out, int64_t timeout_ms);
RAY_API ray_err ray_get_bytes(ray_ref ref, void **data, size_t *len,
                              int64_t timeout_ms);

/* Free memory returned by rayc (ray_get_str, ray_get_bytes). NULL is ok. */
RAY_API void ray_free(void *p);

/* Wait until at least `num_ready` of the `n` refs are done (value or
 * error) or `timeout_ms` passes. Writes the indices (into refs) of the
 * done ones to ready_idx[0 .. *n_ready), in completion order; ready_idx
 * must hold `n` entries. A null ref counts as done. Returns RAY_OK even
 * on timeout (then *n_ready < num_ready), RAY_EINVAL for bad arguments
 * (NULL arrays, num_ready > n, a foreign ref). Blocks; inside a task too,
 * where its timeout holds as in the driver (see Scheduling above). */
RAY_API ray_err ray_wait(const ray_ref *refs, size_t n, size_t num_ready,
                         int64_t timeout_ms, size_t *ready_idx,
                         size_t *n_ready);

/* Progress bars. Wait until all `n` refs are done (value or error), with
 * a progress bar on stderr named `label` (NULL: none):
 *     label: [##########..........] 512/1000  51% 2.3k/s ETA 0:01
 * RAY_OK when all are done; RAY_ETIMEDOUT (detail: how many were) when
 * timeout_ms passes first; RAY_EINVAL as ray_wait. ray_map_cols (RAY_MAP,
 * RAY_STARMAP) draws the same bar, named after the function. The bar is
 * drawn only when stderr is a terminal and the wait has lasted a second,
 * at most ten times a second, and its last state ends the line;
 * RAYC_PROGRESS=0 turns it off, RAYC_PROGRESS=1 draws it wherever stderr
 * goes, from the start (a task's stderr is not a terminal: no bar there
 * unless so forced). */
RAY_API ray_err ray_wait_progress(const ray_ref *refs, size_t n,
                                  const char *label, int64_t timeout_ms);

/* Called once when the object is done (value or error). Runs on the
 * runtime's monitor thread or on a thread inside ray_get/ray_wait, with no
 * rayc lock held; it may call rayc functions but must not block long.
 * `err` is RAY_OK or the task's error. */
typedef void (*ray_done_cb)(void *arg, ray_ref ref, ray_err err);

/* Register `cb` for `ref` (like apply_async's callback). If the object is
 * already done, cb runs before this returns, on this thread. Returns
 * RAY_OK or RAY_EINVAL/RAY_ENOMEM; on error cb is never called. Driver
 * only. A callback still pending at ray_shutdown never runs. */
RAY_API ray_err ray_on_done(ray_ref ref, ray_done_cb cb, void *arg);

/* Cancel the task that produces `ref`: the object resolves to
 * RAY_ECANCELLED at once. A task that has not started (waiting for its
 * arguments, for a free worker, or queued in a worker) never runs. A
 * task running right now runs to its end and its result is discarded;
 * with `force`, it is stopped by killing its worker (which is replaced;
 * other tasks queued there are requeued, not lost). Returns RAY_OK,
 * RAY_EINVAL (a null, stale or foreign ref, or a ray_put value: not a
 * task's result), or RAY_EEXISTS if it already finished. Never blocks in
 * the driver; inside a task it asks the driver (one round trip). */
RAY_API ray_err ray_cancel(ray_ref ref, bool force);

/* ------------------------------------------------------ placement groups */

/* A placement group reserves bundles of resources, all or none, for the
 * tasks and actors that name it (Ray's placement groups): gang
 * scheduling, and CPUs no other work takes. A bundle's CPUs are whole
 * task workers (a fraction reserves a whole one): its tasks run on them
 * and nowhere else, and no other task runs there (an idle one steals
 * from a busy one of the same bundle). Its custom resources come out of
 * the node's for as long as the group lives. A task in a bundle that
 * blocks in a get keeps its worker (no stand-in runs the bundle's other
 * tasks meanwhile).
 *
 * In a cluster the driver places the bundles over the nodes its calls
 * may use (this one and every node with its agent) by the strategy,
 * counting its own groups' holdings, and reserves them on every node at
 * once; a node that refuses (not enough free now) or dies before it
 * answers rolls the others back, and the group is planned again 100 ms
 * later. A call in a pending group waits for it at the driver; so does
 * an actor's creation (ray_actor_create returns its handle at once, its
 * state is RAY_ACTOR_PENDING, and calls made meanwhile run after it, in
 * order; removing the group first fails them with RAY_EACTOR_DIED). A
 * named one holds its name at once: another ray_actor_create of that name
 * fails with RAY_EEXISTS (get_if_exists gives this actor), and this
 * driver's ray_actor_lookup finds it; another driver's lookup fails with
 * RAY_ENOTFOUND, saying it waits for its placement group, until it is
 * placed on a node (the driver's own node: see ray_actor_opts.name). A
 * detached one is made even if its handles were all released meanwhile,
 * and lives on. A created group whose
 * node dies is pending again: the bundles that were there are reserved anew on
 * other nodes (by its strategy, the others staying where they are), and its
 * calls wait until they are (calls running there when it died fail with
 * RAY_EWORKER_DIED; its actors there with max_restarts left are made again in
 * their bundle once it is placed again, on whichever node, their later calls
 * waiting for that, and so their calls in flight within max_task_retries).
 * Groups are this driver's: other drivers' groups are not
 * counted by its plans (a node's agent still refuses what it cannot hold). */

/* Where the bundles go (in a cluster; one node holds them all outside). */
enum ray_pg_strategy {
    RAY_PG_PACK = 0,          /* on as few nodes as fit them */
    RAY_PG_SPREAD = 1,        /* over as many nodes as fit them */
    RAY_PG_STRICT_PACK = 2,   /* all on one node, or wait */
    RAY_PG_STRICT_SPREAD = 3, /* each on a node of its own, or wait */
};

typedef struct ray_bundle {
    double num_cpus;       /* CPUs reserved (whole workers) */
    const char *resources; /* custom resources reserved, "GPU:1" */
} ray_bundle;

typedef struct ray_pg {
    uint64_t id; /* 0 = none */
} ray_pg;

#define RAY_PG_MAX_BUNDLES 256
#define RAY_PG_ANY_BUNDLE (-1) /* ray_call_opts.pg_bundle: any that fits */

/* The states of a group (ray_pg_state). */
enum ray_pg_state {
    RAY_PG_PENDING = 0, /* waiting for its resources */
    RAY_PG_CREATED = 1, /* every bundle reserved */
    RAY_PG_REMOVED = 2,
};

/* Create a group of `n` bundles (1 to RAY_PG_MAX_BUNDLES) placed by
 * `strategy`; `name` may be NULL. It is reserved as soon as every bundle
 * fits at once, all of them together; meanwhile it is PENDING and tasks
 * and actors that name it wait. Never blocks. Returns RAY_OK and *out;
 * RAY_EINVAL for bad arguments (a bundle asking nothing, a NaN or
 * negative num_cpus, a malformed resource string, an unknown strategy)
 * or a group that can never fit, now or later (a bundle larger than any
 * node, STRICT_PACK larger than a node, STRICT_SPREAD with more bundles
 * than nodes): the detail names the bundles and the nodes. Driver only
 * (RAY_EINVAL inside a task: not yet). */
RAY_API ray_err ray_pg_create(const ray_bundle *bundles, uint32_t n,
                              int32_t strategy, const char *name, ray_pg *out);

/* Wait until `pg` is created (RAY_OK), up to timeout_ms (< 0: no limit;
 * RAY_ETIMEDOUT). RAY_EINVAL for an unknown or removed group. */
RAY_API ray_err ray_pg_wait(ray_pg pg, int64_t timeout_ms);

/* Its state now (enum ray_pg_state). RAY_EINVAL for an unknown group. */
RAY_API ray_err ray_pg_state(ray_pg pg, int *state);

/* Remove `pg`: its reservations go back to the nodes. Its tasks not yet
 * started never run (RAY_ECANCELLED); those running finish on their
 * workers; its actors are killed (no restart). Later calls naming it fail
 * at once. RAY_EINVAL for an unknown or already removed group. */
RAY_API ray_err ray_pg_remove(ray_pg pg);

/* ---------------------------------------------------------- remote calls */

/* Where a cluster places a call or an actor (Ray's scheduling
 * strategies; outside a cluster there is one node and they change
 * nothing). */
enum ray_strategy {
    RAY_STRATEGY_DEFAULT = 0, /* this node while under half its CPUs are
                                 busy, else the least loaded node that
                                 fits */
    RAY_STRATEGY_SPREAD = 1,  /* each next one on the next node that fits,
                                 this one included, in turn */
};

/* Options of one call; zero means default in every field. */
typedef struct ray_call_opts {
    double num_cpus;       /* CPUs needed; default 1. A fraction
                              (0.25): packed, as many at once on a CPU
                              as fit (4 of 0.25), each on a worker of
                              its own (the CPU's, then stand-ins: up to
                              max(4, 2 x CPUs) extra processes); the
                              CPU runs no whole task meanwhile. Inside
                              a placement group's bundle, or in a call
                              made inside a task (not yet), a fraction
                              takes a whole worker. N > 1: the task also
                              holds ceil(N) - 1 idle workers while it
                              runs. More than num_workers: infeasible. */
    int32_t max_retries;   /* crash retries; 0: default 3; RAY_NO_RETRY */
    bool retry_on_error;   /* also retry when the task reports an error */
    const char *name;      /* name in errors and logs; default fn name */
    const char *resources; /* custom resources needed, "GPU:1" */
    const char *node;      /* in a cluster, run on this node only: its IP,
                              "IP:port" or a node id prefix as `rayc
                              status` shows (RAY_ENOTFOUND when no alive
                              node matches); NULL: anywhere. Outside a
                              cluster, ignored (the only node) */
    bool node_soft;        /* with `node`: when that node is not alive or
                              has all its CPUs busy, place it as if no node
                              were named (Ray's soft node affinity) */
    int32_t strategy;      /* enum ray_strategy, without `node` */
    ray_pg pg;             /* run in this placement group: on a
                              bundle's workers, its resources from the
                              bundle's (num_cpus and resources must fit
                              the bundle: else RAY_EINVAL); waits while
                              the group is pending; a removed group:
                              RAY_EINVAL. Ignored inside a task (not yet) */
    int32_t pg_bundle;     /* with pg: the bundle's index (default 0), or
                              RAY_PG_ANY_BUNDLE: each call the next one
                              that fits, in turn */
} ray_call_opts;

#define RAY_NO_RETRY (-1)

/* One encoded argument (see the ray_arg_* constructors). Pointers inside
 * are borrowed until the submitting call returns (it copies). */
typedef struct ray_arg {
    uint32_t type; /* enum ray_type */
    uint32_t pad;  /* RAY_ARG_ACTOR: the value is an actor handle */
    union {
        int64_t i64;
        uint64_t u64;
        double f64;
        ray_ref ref;
        struct {
            const void *ptr;
            size_t len;
        } buf;
    } v;
} ray_arg;

/* What a remote function hands back (filled by the generated trampoline or
 * by a raw function). Internal to the macros. */
typedef struct ray_ret {
    uint32_t type;
    int32_t err; /* ray_err set with ray_task_fail */
    union {
        int64_t i64;
        uint64_t u64;
        double f64;
    } v;
    void *ptr; /* malloc'd buffer (freed by rayc) or NULL */
    size_t len;
} ray_ret;

typedef void (*ray_tramp_fn)(const ray_arg *args, ray_ret *out);
typedef void (*ray_map_tramp_fn)(const void *const *cols, size_t n, void *out);

#define RAY_MAX_ARGS 8

/* A registered function. Generated by RAY_REMOTE; static in the user's
 * translation unit and registered by a constructor before main(). */
typedef struct ray_fn_desc {
    const char *name; /* stable name: the C identifier */
    uint64_t hash;    /* filled by ray_register */
    ray_tramp_fn tramp;
    ray_map_tramp_fn map_tramp; /* element-wise form for maps */
    uint32_t nargs;
    uint32_t ret_type;
    uint32_t ret_size;
    uint32_t arg_type[RAY_MAX_ARGS];
    uint32_t arg_size[RAY_MAX_ARGS];
    int raw;         /* bytes-in/bytes-out form */
    const char *cls; /* actor methods: the class name */
} ray_fn_desc;

/* Register a function descriptor (called by the macros' constructors).
 * Two functions with the same name: the second is ignored. */
RAY_API void ray_register(ray_fn_desc *desc);

/* Submit a call of `desc` with `nargs` encoded args. Returns the result's
 * ref (one holder: the caller), or RAY_REF_NULL on failure with the reason
 * in ray_last_error_detail() (a get of the null ref returns RAY_EINVAL):
 * bad arguments (an unknown type, a buffer at NULL, a string without its
 * NUL, a null or foreign ref), arguments adding up to more than 4 GiB
 * (RAY_ETOOBIG), options out of range (num_cpus not a count or more than
 * the runtime has, max_retries below RAY_NO_RETRY, unknown resources).
 * Arguments that are refs make the task wait until they are ready. Never
 * blocks for the task to run. */
RAY_API ray_ref ray_submit(const ray_fn_desc *desc, const ray_arg *args,
                           uint32_t nargs, const ray_call_opts *opts);

/* Submit by name with raw bytes (the custom-serialization form): calls the
 * function registered with RAY_REMOTE_RAW under `name`, which receives
 * the bytes and returns bytes. An unknown name resolves to RAY_ENOTFOUND
 * at ray_get. Same ownership and errors as ray_submit. */
RAY_API ray_ref ray_call_raw(const char *name, const void *data, size_t len,
                             const ray_call_opts *opts);

/* Inside a remote function: report the task's own failure. The function
 * then returns any value (ignored); ray_get of its result returns `err`
 * (RAY_ETASK_FAILED if err is RAY_OK) with `fmt` in the detail (the
 * error's name when fmt is NULL). A raw function or constructor that
 * reports its failure this way and then returns the error keeps its own
 * message. */
RAY_API void ray_task_fail(ray_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Internal to the macros: a remote function or constructor returned
 * `err`. Like ray_task_fail, unless the function already reported its
 * own failure with ray_task_fail: then its error and message stand. */
RAY_API void ray_task_fail_default(ray_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True inside a worker process. */
RAY_API bool ray_in_worker(void);

/* ----------------------------------------------------------- map helpers */

/* Element-wise map over columns (internal to RAY_MAP/RAY_STARMAP): runs
 * desc->map_tramp over `n` elements split into chunks (about 8 per
 * worker), result i into out[i]. Blocks until done; on error out is
 * partially written. Arguments and result must be scalar types. NULL
 * columns or output (with n > 0) are RAY_EINVAL. */
RAY_API ray_err ray_map_cols(const ray_fn_desc *desc, const void *const *cols,
                             size_t n, void *out, const ray_call_opts *opts);

/* An asynchronous map (map_async / imap_unordered). */
typedef struct ray_map_job ray_map_job;

/* Start a map like ray_map_cols but return at once. `cols` arrays and
 * `out` must stay valid until ray_map_job_destroy. */
RAY_API ray_err ray_map_cols_async(const ray_fn_desc *desc,
                                   const void *const *cols, size_t n, void *out,
                                   const ray_call_opts *opts,
                                   ray_map_job **job);

/* imap_unordered: wait for the next finished chunk; its results are in
 * out[*lo .. *hi). RAY_ECLOSED when every chunk was returned; a chunk's
 * error otherwise; RAY_ETIMEDOUT. */
RAY_API ray_err ray_map_job_next(ray_map_job *job, size_t *lo, size_t *hi,
                                 int64_t timeout_ms);

/* Wait for all chunks. RAY_OK or the first chunk error, RAY_ETIMEDOUT. */
RAY_API ray_err ray_map_job_wait(ray_map_job *job, int64_t timeout_ms);

/* Cancel what is left and free the job: chunks that have not started
 * (queued in the driver or in a worker) never run; chunks running now
 * finish and their results are dropped (out is not written after this
 * returns). NULL is fine. */
RAY_API void ray_map_job_destroy(ray_map_job *job);

/* =========================================================== the macros */

/* Argument encoders (static inline: no call into the library). */
static inline ray_arg
ray_arg_i32(int32_t x)
{
    ray_arg a = {RAY_T_I32, 0, {.i64 = x}};
    return a;
}
static inline ray_arg
ray_arg_i64(int64_t x)
{
    ray_arg a = {RAY_T_I64, 0, {.i64 = x}};
    return a;
}
static inline ray_arg
ray_arg_u64(uint64_t x)
{
    ray_arg a = {RAY_T_U64, 0, {.u64 = x}};
    return a;
}
static inline ray_arg
ray_arg_f64(double x)
{
    ray_arg a = {RAY_T_F64, 0, {.f64 = x}};
    return a;
}
static inline ray_arg
ray_arg_f32(float x)
{
    ray_arg a = {RAY_T_F32, 0, {.f64 = x}};
    return a;
}
static inline ray_arg
ray_arg_bool(bool x)
{
    ray_arg a = {RAY_T_BOOL, 0, {.i64 = x}};
    return a;
}
static inline ray_arg
ray_arg_ref(ray_ref x)
{
    ray_arg a = {RAY_T_REF, 0, {.ref = x}};
    return a;
}
static inline ray_arg
ray_arg_str(const char *s)
{
    ray_arg a = {RAY_T_STR, 0, {.buf = {s, 0}}};
    size_t n = 0;
    while (s && s[n])
        n++;
    a.v.buf.len = s ? n + 1 : 0;
    return a;
}
static inline ray_arg
ray_arg_bytes(ray_bytes b)
{
    ray_arg a = {RAY_T_BYTES, 0, {.buf = {b.data, b.len}}};
    return a;
}
static inline ray_arg
ray_arg_f64s(ray_f64s b)
{
    ray_arg a = {RAY_T_F64S, 0, {.buf = {b.v, b.n * sizeof(double)}}};
    return a;
}
static inline ray_arg
ray_arg_i64s(ray_i64s b)
{
    ray_arg a = {RAY_T_I64S, 0, {.buf = {b.v, b.n * sizeof(int64_t)}}};
    return a;
}

/* Argument decoders (the worker already checked each type). */
static inline int32_t
ray_dec_i32(const ray_arg *a)
{
    return (int32_t)a->v.i64;
}
static inline int64_t
ray_dec_i64(const ray_arg *a)
{
    return a->v.i64;
}
static inline uint64_t
ray_dec_u64(const ray_arg *a)
{
    return a->v.u64;
}
static inline double
ray_dec_f64(const ray_arg *a)
{
    return a->v.f64;
}
static inline float
ray_dec_f32(const ray_arg *a)
{
    return (float)a->v.f64;
}
static inline bool
ray_dec_bool(const ray_arg *a)
{
    return a->v.i64 != 0;
}
static inline const char *
ray_dec_str(const ray_arg *a)
{
    return (const char *)a->v.buf.ptr;
}
static inline ray_bytes
ray_dec_bytes(const ray_arg *a)
{
    ray_bytes b = {a->v.buf.ptr, a->v.buf.len};
    return b;
}
static inline ray_f64s
ray_dec_f64s(const ray_arg *a)
{
    ray_f64s b = {(const double *)a->v.buf.ptr, a->v.buf.len / sizeof(double)};
    return b;
}
static inline ray_i64s
ray_dec_i64s(const ray_arg *a)
{
    ray_i64s b = {(const int64_t *)a->v.buf.ptr,
                  a->v.buf.len / sizeof(int64_t)};
    return b;
}

/* Return encoders. */
static inline void
ray_ret_i32(ray_ret *r, int32_t x)
{
    r->type = RAY_T_I32;
    r->v.i64 = x;
}
static inline void
ray_ret_i64(ray_ret *r, int64_t x)
{
    r->type = RAY_T_I64;
    r->v.i64 = x;
}
static inline void
ray_ret_u64(ray_ret *r, uint64_t x)
{
    r->type = RAY_T_U64;
    r->v.u64 = x;
}
static inline void
ray_ret_f64(ray_ret *r, double x)
{
    r->type = RAY_T_F64;
    r->v.f64 = x;
}
static inline void
ray_ret_f32(ray_ret *r, float x)
{
    r->type = RAY_T_F32;
    r->v.f64 = x;
}
static inline void
ray_ret_bool(ray_ret *r, bool x)
{
    r->type = RAY_T_BOOL;
    r->v.i64 = x;
}
static inline void
ray_ret_str(ray_ret *r, char *s)
{
    size_t n = 0;
    while (s && s[n])
        n++;
    r->type = RAY_T_STR;
    r->ptr = s;
    r->len = s ? n + 1 : 0;
}
static inline void
ray_ret_bytes(ray_ret *r, ray_bytes b)
{
    r->type = RAY_T_BYTES;
    r->ptr = (void *)(uintptr_t)b.data;
    r->len = b.len;
}
static inline void
ray_ret_f64s(ray_ret *r, ray_f64s b)
{
    r->type = RAY_T_F64S;
    r->ptr = (void *)(uintptr_t)b.v;
    r->len = b.n * sizeof(double);
}
static inline void
ray_ret_i64s(ray_ret *r, ray_i64s b)
{
    r->type = RAY_T_I64S;
    r->ptr = (void *)(uintptr_t)b.v;
    r->len = b.n * sizeof(int64_t);
}

/* An actor handle (see "actors" below): small, by value. */
typedef struct ray_actor {
    uint64_t id; /* entry in the owner's actor table; 0 = null */
} ray_actor;

#define RAY_ACTOR_NULL ((ray_actor){0})

/* Handles travel as task and method arguments (a U64 marked as a handle:
 * the actor lives at least until the call finished). */
#define RAY_ARG_ACTOR 1u
static inline ray_arg
ray_arg_actor(ray_actor h)
{
    ray_arg a = {RAY_T_U64, RAY_ARG_ACTOR, {.u64 = h.id}};
    return a;
}
static inline ray_actor
ray_dec_actor(const ray_arg *a)
{
    ray_actor h = {a->v.u64};
    return h;
}
static inline void
ray_ret_actor(ray_ret *r, ray_actor h)
{
    r->type = RAY_T_U64;
    r->v.u64 = h.id;
}

/* Type -> encoder/decoder/tag. An unsupported type fails to compile. */
#define RAY_ENC(x)                                                             \
    _Generic((x), int32_t: ray_arg_i32, int64_t: ray_arg_i64,                \
             uint64_t: ray_arg_u64, double: ray_arg_f64, float: ray_arg_f32, \
             bool: ray_arg_bool, const char *: ray_arg_str,                  \
             char *: ray_arg_str, ray_bytes: ray_arg_bytes,                  \
             ray_f64s: ray_arg_f64s, ray_i64s: ray_arg_i64s,                 \
             ray_ref: ray_arg_ref, ray_actor: ray_arg_actor)(x)
#define RAY_DEC(T, p)                                                          \
    _Generic((T){0}, int32_t: ray_dec_i32, int64_t: ray_dec_i64,             \
             uint64_t: ray_dec_u64, double: ray_dec_f64, float: ray_dec_f32, \
             bool: ray_dec_bool, const char *: ray_dec_str,                  \
             char *: ray_dec_str, ray_bytes: ray_dec_bytes,                  \
             ray_f64s: ray_dec_f64s, ray_i64s: ray_dec_i64s,                 \
             ray_actor: ray_dec_actor)(p)
#define RAY_RET(R)                                                             \
    _Generic((R){0}, int32_t: ray_ret_i32, int64_t: ray_ret_i64,             \
             uint64_t: ray_ret_u64, double: ray_ret_f64, float: ray_ret_f32, \
             bool: ray_ret_bool, char *: ray_ret_str,                        \
             ray_bytes: ray_ret_bytes, ray_f64s: ray_ret_f64s,               \
             ray_i64s: ray_ret_i64s, ray_actor: ray_ret_actor)
#define RAY_TAG(T)                                                             \
    _Generic((T){0}, int32_t: RAY_T_I32, int64_t: RAY_T_I64,                 \
             uint64_t: RAY_T_U64, double: RAY_T_F64, float: RAY_T_F32,       \
             bool: RAY_T_BOOL, const char *: RAY_T_STR, char *: RAY_T_STR,   \
             ray_bytes: RAY_T_BYTES, ray_f64s: RAY_T_F64S,                   \
             ray_i64s: RAY_T_I64S, ray_actor: RAY_T_U64)

/* Kinds of argument values, for the compile-time checks of the calls that
 * take values or refs (RAY_CALL, RAY_ACTOR_CALL, RAY_ACTOR_CREATE): a
 * number goes where a number is declared, a string (char pointer, or a
 * void pointer such as NULL) where a string is, and each struct only where
 * it is declared; a ray_ref goes anywhere. 0: a kind rayc cannot encode. */
enum {
    RAY_K_OTHER = 0,
    RAY_K_NUM = 1,
    RAY_K_STR = 2,
    RAY_K_BYTES = 3,
    RAY_K_F64S = 4,
    RAY_K_I64S = 5,
    RAY_K_REF = 6,
    RAY_K_ACTOR = 7,
};
#define RAY_KIND(x)                                                            \
    _Generic((x), _Bool: RAY_K_NUM, char: RAY_K_NUM,                        \
             signed char: RAY_K_NUM, unsigned char: RAY_K_NUM,               \
             short: RAY_K_NUM, unsigned short: RAY_K_NUM, int: RAY_K_NUM,    \
             unsigned: RAY_K_NUM, long: RAY_K_NUM, unsigned long: RAY_K_NUM, \
             long long: RAY_K_NUM, unsigned long long: RAY_K_NUM,            \
             float: RAY_K_NUM, double: RAY_K_NUM, char *: RAY_K_STR,         \
             const char *: RAY_K_STR, void *: RAY_K_STR,                     \
             ray_bytes: RAY_K_BYTES, ray_f64s: RAY_K_F64S,                   \
             ray_i64s: RAY_K_I64S, ray_ref: RAY_K_REF,                       \
             ray_actor: RAY_K_ACTOR, default: RAY_K_OTHER)

/* 1 for a type RAY_REMOTE, RAY_METHOD and RAY_ACTOR can pass, else 0. */
#define RAY_ARG_TYPE_OK(T)                                                     \
    _Generic((T){0}, int32_t : 1, int64_t : 1, uint64_t : 1, double : 1,       \
             float : 1, bool : 1, const char * : 1, char * : 1, ray_bytes : 1, \
             ray_f64s : 1, ray_i64s : 1, ray_actor : 1, default : 0)

/* A C11 _Static_assert where an expression must go (it is a declaration):
 * inside a struct that only sizeof sees. Evaluates nothing. */
#define RAY_STATIC_CHECK(cond, msg)                                            \
    ((void)sizeof(struct {                                                     \
        _Static_assert(cond, msg);                                             \
        int ray_ok;                                                            \
    }))

/* A value of the wrong kind passed to a typed stub (add_remote("x", 2),
 * an int where a string is declared) or a function of the wrong type
 * handed to a macro is a constraint violation of ISO C, which GCC 14 and
 * Clang 16 reject by default; GCC before 14 only warns. So that a plain
 * build rejects it too, code that includes this header gets both
 * diagnostics as errors. Define RAY_NO_STRICT_CONVERSIONS before the
 * #include to keep the compiler's own setting. */
#if defined(__GNUC__) && !defined(__cplusplus) &&                              \
    !defined(RAY_NO_STRICT_CONVERSIONS)
#pragma GCC diagnostic error "-Wint-conversion"
#pragma GCC diagnostic error "-Wincompatible-pointer-types"
#endif

/* Preprocessor helpers: argument count and indexed for-each (<= 8). */
#define RAY_PP_CAT(a, b) RAY_PP_CAT_(a, b)
#define RAY_PP_CAT_(a, b) a##b
#define RAY_PP_NARG(...) RAY_PP_NARG_(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define RAY_PP_NARG_(a1, a2, a3, a4, a5, a6, a7, a8, N, ...) N
#define RAY_PP_LIST(m, c, ...)                                                 \
    RAY_PP_CAT(RAY_PP_L, RAY_PP_NARG(__VA_ARGS__))(m, c, __VA_ARGS__)
#define RAY_PP_L1(m, c, a) m(c, 1, a)
#define RAY_PP_L2(m, c, a, b) m(c, 1, a), m(c, 2, b)
#define RAY_PP_L3(m, c, a, b, d) m(c, 1, a), m(c, 2, b), m(c, 3, d)
#define RAY_PP_L4(m, c, a, b, d, e) RAY_PP_L3(m, c, a, b, d), m(c, 4, e)
#define RAY_PP_L5(m, c, a, b, d, e, f) RAY_PP_L4(m, c, a, b, d, e), m(c, 5, f)
#define RAY_PP_L6(m, c, a, b, d, e, f, g)                                      \
    RAY_PP_L5(m, c, a, b, d, e, f), m(c, 6, g)
#define RAY_PP_L7(m, c, a, b, d, e, f, g, h)                                   \
    RAY_PP_L6(m, c, a, b, d, e, f, g), m(c, 7, h)
#define RAY_PP_L8(m, c, a, b, d, e, f, g, h, k)                                \
    RAY_PP_L7(m, c, a, b, d, e, f, g, h), m(c, 8, k)
#define RAY_PP_STMTS(m, c, ...)                                                \
    RAY_PP_CAT(RAY_PP_S, RAY_PP_NARG(__VA_ARGS__))(m, c, __VA_ARGS__)
#define RAY_PP_S1(m, c, a) m(c, 1, a)
#define RAY_PP_S2(m, c, a, b) m(c, 1, a) m(c, 2, b)
#define RAY_PP_S3(m, c, a, b, d) RAY_PP_S2(m, c, a, b) m(c, 3, d)
#define RAY_PP_S4(m, c, a, b, d, e) RAY_PP_S3(m, c, a, b, d) m(c, 4, e)
#define RAY_PP_S5(m, c, a, b, d, e, f) RAY_PP_S4(m, c, a, b, d, e) m(c, 5, f)
#define RAY_PP_S6(m, c, a, b, d, e, f, g)                                      \
    RAY_PP_S5(m, c, a, b, d, e, f) m(c, 6, g)
#define RAY_PP_S7(m, c, a, b, d, e, f, g, h)                                   \
    RAY_PP_S6(m, c, a, b, d, e, f, g) m(c, 7, h)
#define RAY_PP_S8(m, c, a, b, d, e, f, g, h, k)                                \
    RAY_PP_S7(m, c, a, b, d, e, f, g, h) m(c, 8, k)

#define RAY_I_PARAM(c, i, T) T ray_a##i
#define RAY_I_TYPE(c, i, T) T
#define RAY_I_ENC(c, i, T) RAY_ENC(ray_a##i)
#define RAY_I_ARGP(c, i, T) ray_arg ray_a##i
#define RAY_I_ARGV(c, i, T) ray_a##i
#define RAY_I_DEC(c, i, T) RAY_DEC(T, &ray_av[i - 1])
#define RAY_I_COLP(c, i, T) const T *ray_c##i
#define RAY_I_COLV(c, i, T) (const void *)ray_c##i
#define RAY_I_COLE(c, i, T) ((const T *)ray_cols[i - 1])[ray_k]
#define RAY_I_DESC(c, i, T)                                                    \
    c.arg_type[i - 1] = RAY_TAG(T);                                            \
    c.arg_size[i - 1] = (uint32_t)sizeof(T);
#define RAY_I_WRAP(fn, i, T)                                                   \
    _Static_assert(RAY_ARG_TYPE_OK(T),                                         \
                   "rayc: " #T " (parameter " #i " of " #fn                    \
                   ") is not a type rayc can pass");                           \
    typedef T fn##_ray_t##i;                                                   \
    static inline ray_arg fn##_ray_w##i(T v)                                   \
    {                                                                          \
        return RAY_ENC(v);                                                     \
    }
/* A call with values or refs passes one per declared parameter. */
#define RAY_I_NARGS_CHECK(how, fn, ...)                                        \
    RAY_STATIC_CHECK(RAY_PP_NARG(__VA_ARGS__) == fn##_ray_nargs,               \
                     "rayc: " #how "(" #fn ", ...) takes one argument per "    \
                     "declared parameter")
/* Argument i of a call with values or refs: a ray_ref, or a value of the
 * declared type's kind (else a compile error that says which). */
#define RAY_I_CALLARG(fn, i, x)                                                \
    (RAY_STATIC_CHECK(RAY_KIND(x) == RAY_K_REF ||                              \
                          RAY_KIND(x) == RAY_KIND((fn##_ray_t##i){0}),         \
                      "rayc: argument " #i " (" #x ") of " #fn                 \
                      " is neither a ray_ref nor of the type declared for "    \
                      "it"),                                                   \
     _Generic((x), ray_ref                                                     \
              : ray_arg_ref, default                                           \
              : RAY_PP_CAT(fn##_ray_w, i))(x))

/* RAY_REMOTE(fn, R, T1, ..., Tn): make `R fn(T1, ..., Tn)` remote (1 to 8
 * arguments; RAY_REMOTE0 for none). Place it at file scope after fn. It
 * generates, all static to the translation unit:
 *   ray_ref fn_remote(T1, ..., Tn)                typed call, values only
 *   ray_ref fn_remote_opts(const ray_call_opts *, T1, ..., Tn)
 *   RAY_CALL(fn, x1, ..., xn)                     xi a Ti value or a ray_ref
 *   RAY_CALL_OPTS(fn, opts, x1, ..., xn)
 *   RAY_MAP(fn, const T1 *in, size_t n, R *out)   for n-ary fns: RAY_STARMAP
 * Supported types: int32_t, int64_t, uint64_t, double, float, bool,
 * const char * (strings), ray_bytes, ray_f64s, ray_i64s; R also char *
 * (malloc'd, freed by rayc). Anything else, or a wrong argument count or
 * type at a call, fails to compile, also without -Werror (see "Kinds of
 * argument values" above). Registration happens in a
 * constructor of priority 101, before main and before worker mode starts. */
#define RAY_REMOTE(fn, R, ...)                                                 \
    static void fn##_ray_tramp(const ray_arg *ray_av, ray_ret *ray_out)        \
    {                                                                          \
        (void)ray_av;                                                          \
        RAY_RET(R)(ray_out, fn(RAY_PP_LIST(RAY_I_DEC, ~, __VA_ARGS__)));       \
    }                                                                          \
    static void fn##_ray_map(const void *const *ray_cols, size_t ray_n,        \
                             void *ray_outp)                                   \
    {                                                                          \
        R *ray_o = (R *)ray_outp;                                              \
        for (size_t ray_k = 0; ray_k < ray_n; ray_k++)                         \
            ray_o[ray_k] = fn(RAY_PP_LIST(RAY_I_COLE, ~, __VA_ARGS__));        \
    }                                                                          \
    static ray_fn_desc fn##_ray_desc = {.name = #fn,                           \
                                        .tramp = fn##_ray_tramp,               \
                                        .map_tramp = fn##_ray_map,             \
                                        .nargs = RAY_PP_NARG(__VA_ARGS__)};    \
    __attribute__((constructor(101))) static void fn##_ray_register(void)      \
    {                                                                          \
        RAY_PP_STMTS(RAY_I_DESC, fn##_ray_desc, __VA_ARGS__)                   \
        fn##_ray_desc.ret_type = RAY_TAG(R);                                   \
        fn##_ray_desc.ret_size = (uint32_t)sizeof(R);                          \
        ray_register(&fn##_ray_desc);                                          \
    }                                                                          \
    static inline ray_ref fn##_remote_opts(                                    \
        const ray_call_opts *ray_o, RAY_PP_LIST(RAY_I_PARAM, ~, __VA_ARGS__))  \
    {                                                                          \
        ray_arg ray_av[] = {RAY_PP_LIST(RAY_I_ENC, ~, __VA_ARGS__)};           \
        return ray_submit(&fn##_ray_desc, ray_av, RAY_PP_NARG(__VA_ARGS__),    \
                          ray_o);                                              \
    }                                                                          \
    static inline ray_ref fn##_remote(                                         \
        RAY_PP_LIST(RAY_I_PARAM, ~, __VA_ARGS__))                              \
    {                                                                          \
        ray_arg ray_av[] = {RAY_PP_LIST(RAY_I_ENC, ~, __VA_ARGS__)};           \
        return ray_submit(&fn##_ray_desc, ray_av, RAY_PP_NARG(__VA_ARGS__),    \
                          NULL);                                               \
    }                                                                          \
    static inline ray_ref fn##_ray_call(                                       \
        const ray_call_opts *ray_o, RAY_PP_LIST(RAY_I_ARGP, ~, __VA_ARGS__))   \
    {                                                                          \
        ray_arg ray_av[] = {RAY_PP_LIST(RAY_I_ARGV, ~, __VA_ARGS__)};          \
        return ray_submit(&fn##_ray_desc, ray_av, RAY_PP_NARG(__VA_ARGS__),    \
                          ray_o);                                              \
    }                                                                          \
    static inline ray_err fn##_ray_starmap(                                    \
        const ray_call_opts *ray_o, size_t ray_n, R *ray_out,                  \
        RAY_PP_LIST(RAY_I_COLP, ~, __VA_ARGS__))                               \
    {                                                                          \
        const void *ray_cv[] = {RAY_PP_LIST(RAY_I_COLV, ~, __VA_ARGS__)};      \
        return ray_map_cols(&fn##_ray_desc, ray_cv, ray_n, ray_out, ray_o);    \
    }                                                                          \
    static inline ray_err fn##_ray_starmap_async(                              \
        ray_map_job **ray_job, size_t ray_n, R *ray_out,                       \
        RAY_PP_LIST(RAY_I_COLP, ~, __VA_ARGS__))                               \
    {                                                                          \
        const void *ray_cv[] = {RAY_PP_LIST(RAY_I_COLV, ~, __VA_ARGS__)};      \
        return ray_map_cols_async(&fn##_ray_desc, ray_cv, ray_n, ray_out,      \
                                  NULL, ray_job);                              \
    }                                                                          \
    RAY_PP_STMTS(RAY_I_WRAP, fn, __VA_ARGS__)                                  \
    enum { fn##_ray_nargs = RAY_PP_NARG(__VA_ARGS__) };                        \
    typedef int fn##_ray_remote_semicolon

/* A function of no arguments. */
#define RAY_REMOTE0(fn, R)                                                     \
    static void fn##_ray_tramp(const ray_arg *ray_av, ray_ret *ray_out)        \
    {                                                                          \
        (void)ray_av;                                                          \
        RAY_RET(R)(ray_out, fn());                                             \
    }                                                                          \
    static ray_fn_desc fn##_ray_desc = {.name = #fn, .tramp = fn##_ray_tramp}; \
    __attribute__((constructor(101))) static void fn##_ray_register(void)      \
    {                                                                          \
        fn##_ray_desc.ret_type = RAY_TAG(R);                                   \
        fn##_ray_desc.ret_size = (uint32_t)sizeof(R);                          \
        ray_register(&fn##_ray_desc);                                          \
    }                                                                          \
    static inline ray_ref fn##_remote_opts(const ray_call_opts *ray_o)         \
    {                                                                          \
        return ray_submit(&fn##_ray_desc, NULL, 0, ray_o);                     \
    }                                                                          \
    static inline ray_ref fn##_remote(void)                                    \
    {                                                                          \
        return ray_submit(&fn##_ray_desc, NULL, 0, NULL);                      \
    }                                                                          \
    typedef int fn##_ray_remote_semicolon

/* The raw form: `ray_err fn(const void *in, size_t len, ray_bytes *out)`;
 * out->data must come from malloc (rayc frees it). Called by name with
 * ray_call_raw("fn", ...). */
#define RAY_REMOTE_RAW(fn)                                                     \
    static void fn##_ray_tramp(const ray_arg *ray_av, ray_ret *ray_out)        \
    {                                                                          \
        ray_bytes ray_b = {0, 0};                                              \
        ray_err ray_e = fn(ray_av[0].v.buf.ptr, ray_av[0].v.buf.len, &ray_b);  \
        if (ray_e != RAY_OK)                                                   \
            ray_task_fail_default(ray_e, "%s returned %s", #fn,                \
                                  ray_strerror(ray_e));                        \
        ray_ret_bytes(ray_out, ray_b);                                         \
    }                                                                          \
    static ray_fn_desc fn##_ray_desc = {                                       \
        .name = #fn, .tramp = fn##_ray_tramp, .nargs = 1, .raw = 1};           \
    __attribute__((constructor(101))) static void fn##_ray_register(void)      \
    {                                                                          \
        fn##_ray_desc.arg_type[0] = RAY_T_BYTES;                               \
        fn##_ray_desc.ret_type = RAY_T_BYTES;                                  \
        ray_register(&fn##_ray_desc);                                          \
    }                                                                          \
    typedef int fn##_ray_remote_semicolon

/* Call with values or refs in any argument position (type-checked). */
#define RAY_CALL(fn, ...)                                                      \
    (RAY_I_NARGS_CHECK(RAY_CALL, fn, __VA_ARGS__),                             \
     fn##_ray_call(NULL, RAY_PP_LIST(RAY_I_CALLARG, fn, __VA_ARGS__)))
#define RAY_CALL_OPTS(fn, opts, ...)                                           \
    (RAY_I_NARGS_CHECK(RAY_CALL_OPTS, fn, __VA_ARGS__),                        \
     fn##_ray_call((opts), RAY_PP_LIST(RAY_I_CALLARG, fn, __VA_ARGS__)))

/* Pool.map: out[i] = fn(in[i]) for i < n, chunked over the workers.
 * Blocks; returns RAY_OK or the first failing chunk's error. */
#define RAY_MAP(fn, in, n, out) fn##_ray_starmap(NULL, (n), (out), (in))
#define RAY_MAP_OPTS(fn, opts, in, n, out)                                     \
    fn##_ray_starmap((opts), (n), (out), (in))
/* starmap over columns: out[i] = fn(c1[i], c2[i], ...). */
#define RAY_STARMAP(fn, n, out, ...)                                           \
    fn##_ray_starmap(NULL, (n), (out), __VA_ARGS__)
/* map_async / imap_unordered: see ray_map_job_next / _wait / _destroy. */
#define RAY_MAP_ASYNC(fn, job, in, n, out)                                     \
    fn##_ray_starmap_async((job), (n), (out), (in))

/* ================================================================ actors */

/* An actor is a worker that keeps state between calls. Declare one with a
 * state struct, a constructor and methods:
 *
 *     typedef struct counter { int64_t n; } counter;
 *     static ray_err counter_init(counter *s, int64_t start)
 *     { s->n = start; return RAY_OK; }
 *     RAY_ACTOR(counter, counter_init, int64_t);
 *     static int64_t counter_add(counter *s, int64_t k) { return s->n += k; }
 *     RAY_METHOD(counter, counter_add, int64_t, int64_t);
 *
 *     ray_actor c;
 *     counter_create(&c, NULL, 10);              // returns at once
 *     ray_ref r = counter_add_remote(c, 5);      // typed; returns at once
 *     ray_get_int64(r, &v, RAY_FOREVER);         // 15
 *     ray_ref_release(r);
 *     ray_actor_release(c);                      // last handle: it ends
 *
 * Placement. An actor runs in a worker process of its own kind, never in
 * a task worker (its num_cpus keep that many task workers idle instead).
 * Each actor gets a process to itself while fewer than 64 actor
 * processes exist, so actors run in parallel and a crash ends only the
 * actor that crashed (ray_config.actor_processes lowers the 64). Past
 * that, actors that need no CPU (num_cpus 0, the default) and did not ask
 * for own_process share the existing processes, up to 32 per process,
 * the least loaded first, so thousands can exist at once (a crash of a
 * shared process ends all its actors; each restarts by its own
 * max_restarts). Actors with num_cpus > 0, own_process or
 * max_concurrency > 1 never share. Past 2,048 shared actors (or 64 that
 * do not share) a creation waits until one ends. Once actors are in use,
 * one empty actor process is kept started, so a creation rarely waits
 * for a process to start.
 *
 * From tasks and methods. Inside a task or an actor method, actors can
 * be created (RAY_ACTOR_CREATE / S_create), looked up, called, killed and
 * asked for their state; those that answer cost one round trip to the
 * driver. On the threads of an actor with max_concurrency > 1 the API
 * returns RAY_EINVAL.
 *
 * Ordering. Calls to one actor run one at a time in the order the driver
 * received them: calls from one caller in the order they were made;
 * calls from different callers interleave. A call whose ref arguments
 * are not ready holds back the calls behind it. A method that waits
 * (ray_get) holds back its actor's later calls but not other actors'.
 * With max_concurrency > 1 calls run concurrently, in no set order.
 *
 * Lifetime. An actor lives while a handle to it is counted (create and
 * lookup each count one; ray_actor_retain adds one) or until
 * ray_shutdown, unless detached (then until ray_actor_kill, ray_actor_exit
 * or ray_shutdown). A handle passed to a task, a method or a constructor
 * is counted while that call lives (a constructor's: while the actor
 * lives), so the caller may release its own at once. Inside a task or
 * method that handle is borrowed: to keep it past the call (in an actor's
 * state), ray_actor_retain it there and ray_actor_release it later; the
 * counts a process holds are dropped if it dies. A handle returned as a
 * task's result, or copied into a value (bytes, a put), is not counted. When
 * the last count goes, queued calls still run, then the destructor. Calls
 * pending at or made after death resolve to RAY_EACTOR_DIED with the cause in
 * ray_last_error_detail(). */

/* Options of an actor; zero means default in every field. */
typedef struct ray_actor_opts {
    double num_cpus;          /* CPUs held for its lifetime: that many
                                 task workers (a fraction takes a whole
                                 one) run no tasks meanwhile; default 0 */
    const char *resources;    /* custom resources held, "GPU:1" */
    const char *name;         /* register under this name (lookup; in a
                                 cluster, for every driver, except one
                                 in a placement group whose bundle is
                                 on the driver's own node: found by
                                 this driver only, not yet by others) */
    bool detached;            /* outlives its handles (in a cluster, its
                                 driver too) */
    bool own_process;         /* never share the host process */
    int32_t max_restarts;     /* restarts after a crash; default 0; -1: no
                                 limit */
    int32_t max_task_retries; /* re-send calls in flight at a crash;
                                 default 0; -1: no limit */
    int32_t max_concurrency;  /* > 1: calls run on up to this many
                                 threads (own process; no ordering; the
                                 methods must be thread-safe; the rayc
                                 API other than ray_task_fail and
                                 ray_actor_self/_exit returns RAY_EINVAL
                                 there); default 1 */
    bool get_if_exists;       /* with a name: when a live actor of this
                                 class has it, return a new handle to
                                 that one instead of RAY_EEXISTS (the
                                 other options then do not apply) */
    const char *node;         /* in a cluster, create it on this node: its
                                 IP, "IP:port" or a node id prefix
                                 (RAY_ENOTFOUND when no alive node
                                 matches); NULL: on this machine, unless
                                 only another node has its resources.
                                 Outside a cluster, ignored */
    bool node_soft;           /* with `node`: when that node is not alive,
                                 place it as if no node were named */
    int32_t strategy;         /* enum ray_strategy, without `node`:
                                 SPREAD puts each next actor on the next
                                 node that fits, in turn */
    ray_pg pg;                /* in this placement group: its CPUs and
                                 resources held from a bundle's (as for
                                 ray_call_opts); killed when the group is
                                 removed */
    int32_t pg_bundle;        /* with pg: as ray_call_opts.pg_bundle */
} ray_actor_opts;

/* Internal to RAY_ACTOR: create an actor of the class whose constructor
 * is `ctor` with `nargs` encoded args (values, or refs: they are held for
 * the actor's life, and it starts when they are ready). On RAY_OK *out is a
 * new handle (one holder: the caller) and the constructor runs
 * asynchronously; a constructor failure shows in the results of calls
 * (RAY_EACTOR_DIED, naming the constructor's error). Returns RAY_EINVAL
 * (bad options, not initialised), RAY_EEXISTS (the name
 * belongs to a live actor), RAY_EINVAL "infeasible" when num_cpus or a
 * resource exceeds what this runtime has (it could never start),
 * RAY_ENOMEM. When the resources are taken, the actor waits for them
 * (state DEPENDENCIES_UNREADY), calls queue. In the driver it never
 * blocks. Inside a task or method it asks the driver (one round trip)
 * and the handle counts for that process: the actor ends when that
 * process releases it or dies. */
RAY_API ray_err ray_actor_create(const ray_fn_desc *ctor, const ray_arg *args,
                                 uint32_t nargs, const ray_actor_opts *opts,
                                 ray_actor *out);

/* Internal to RAY_METHOD: call `method` on `h`. Returns the result's ref
 * (one holder: the caller) at once, or RAY_REF_NULL for bad arguments
 * (reason in ray_last_error_detail). A dead or stale actor gives a ref
 * that resolves to RAY_EACTOR_DIED. Never blocks. Driver and tasks. */
RAY_API ray_ref ray_actor_submit(ray_actor h, const ray_fn_desc *method,
                                 const ray_arg *args, uint32_t nargs);

/* A new handle to the live actor named `name`; it counts (release it).
 * A detached actor is found after its last handle was released, by its
 * own driver as by others. RAY_ENOTFOUND if none; RAY_EINVAL;
 * RAY_ETOOBIG for a name too long to send from a task. In the driver it never
 * blocks, except in a cluster for a name this driver did not make or look up
 * before: the head is asked and the actor's agent reached (a few round trips);
 * inside a task or method it asks the driver (blocks for the round
 * trip). */
RAY_API ray_err ray_actor_lookup(const char *name, ray_actor *out);

/* Count one more handle. RAY_EINVAL for a null or stale handle (inside a
 * task: for a null one; a stale one is ignored). Never blocks. */
RAY_API ray_err ray_actor_retain(ray_actor h);

/* Drop a counted handle; the last one ends a non-detached actor after its
 * queued calls (destructor included). Null or stale: ignored. Inside a
 * task, only handles that process counted (retain, lookup) are dropped;
 * releasing a borrowed one does nothing. Never blocks. */
RAY_API void ray_actor_release(ray_actor h);

/* End the actor now: calls queued or running resolve to RAY_EACTOR_DIED
 * ("killed by ray_actor_kill"); the process of an actor alone in it is
 * killed at once, a shared process drops the actor after its current
 * call. No destructor runs. With !no_restart, an actor alone in its
 * process with restarts left restarts instead (like a crash). RAY_EINVAL
 * for a null/stale handle (inside a task: for a null one; the kill is
 * sent to the driver and a stale handle is ignored). Never blocks. */
RAY_API ray_err ray_actor_kill(ray_actor h, bool no_restart);

/* States as reported by ray_actor_state. */
enum ray_actor_state {
    RAY_ACTOR_DEPENDENCIES_UNREADY = 0,
    RAY_ACTOR_PENDING = 1,
    RAY_ACTOR_ALIVE = 2,
    RAY_ACTOR_RESTARTING = 3,
    RAY_ACTOR_DEAD = 4,
};

/* The actor's state and restarts so far (either pointer may be NULL).
 * RAY_EINVAL for a null/stale handle. Never blocks in the driver; inside
 * a task it asks the driver (one round trip). */
RAY_API ray_err ray_actor_state(ray_actor h, int *state, int *num_restarts);

/* Wait until the actor is ALIVE (RAY_OK) or DEAD (RAY_EACTOR_DIED, cause
 * in the detail), or the timeout passes (RAY_ETIMEDOUT). Driver and
 * tasks. */
RAY_API ray_err ray_actor_wait_ready(ray_actor h, int64_t timeout_ms);

/* Inside a method or constructor: true when this incarnation is a
 * restart (the constructor ran again after a crash). False elsewhere. */
RAY_API bool ray_actor_restarted(void);

/* Inside a method: end this actor once the method returns (its result is
 * delivered, then the destructor runs); later calls resolve to
 * RAY_EACTOR_DIED ("the actor exited"). No effect elsewhere. */
RAY_API void ray_actor_exit(void);

/* Inside a method or constructor: the actor's state (internal to the
 * macros). NULL elsewhere. */
RAY_API void *ray_actor_self(void);

/* RAY_ACTOR(S, ctor, T1, ..., Tn): declare actor class S (a struct type)
 * with constructor `ray_err ctor(S *s, T1, ..., Tn)` (1 to 8 arguments;
 * RAY_ACTOR0 for none). The state starts zeroed; a constructor returning
 * an error (or calling ray_task_fail) leaves the actor DEAD with that
 * error. Generates `ray_err S_create(ray_actor *out, const ray_actor_opts
 * *opts, T1, ..., Tn)` (values) and RAY_ACTOR_CREATE(S, out, opts, ...)
 * (values or refs). Optional RAY_ACTOR_DTOR(S, fn) after it names
 * `void fn(S *)`, run when the actor ends cleanly (last handle released,
 * ray_actor_exit, ray_shutdown), not on kill or crash. A constructor or
 * destructor of another type fails to compile. */
#define RAY_ACTOR_COMMON(S, N)                                                 \
    static void (*S##_ray_dtor_fn)(S *);                                       \
    static void S##_ray_dtor_tramp(const ray_arg *ray_av, ray_ret *ray_out)    \
    {                                                                          \
        (void)ray_av;                                                          \
        ray_out->type = RAY_T_NONE;                                            \
        if (S##_ray_dtor_fn)                                                   \
            S##_ray_dtor_fn((S *)ray_actor_self());                            \
    }                                                                          \
    static ray_fn_desc S##_ray_ctor_desc = {.name = #S ".__init__",            \
                                            .tramp = S##_ray_ctor_tramp,       \
                                            .nargs = N,                        \
                                            .ret_size = sizeof(S),             \
                                            .cls = #S};                        \
    static ray_fn_desc S##_ray_dtor_desc = {                                   \
        .name = #S ".__del__", .tramp = S##_ray_dtor_tramp, .cls = #S}

#define RAY_ACTOR(S, ctor, ...)                                                \
    _Static_assert(                                                            \
        _Generic(&ctor,                                                        \
                 ray_err(*)(S *, RAY_PP_LIST(RAY_I_TYPE, ~, __VA_ARGS__)) : 1, \
                 default : 0),                                                 \
        "rayc: RAY_ACTOR: the constructor must be ray_err " #ctor "(" #S       \
        " *, " #__VA_ARGS__ ")");                                              \
    static void S##_ray_ctor_tramp(const ray_arg *ray_av, ray_ret *ray_out)    \
    {                                                                          \
        ray_out->type = RAY_T_NONE;                                            \
        ray_err ray_e = ctor((S *)ray_actor_self(),                            \
                             RAY_PP_LIST(RAY_I_DEC, ~, __VA_ARGS__));          \
        if (ray_e != RAY_OK)                                                   \
            ray_task_fail_default(ray_e, "constructor %s returned %s", #ctor,  \
                                  ray_strerror(ray_e));                        \
    }                                                                          \
    RAY_ACTOR_COMMON(S, RAY_PP_NARG(__VA_ARGS__));                             \
    __attribute__((constructor(101))) static void S##_ray_register(void)       \
    {                                                                          \
        RAY_PP_STMTS(RAY_I_DESC, S##_ray_ctor_desc, __VA_ARGS__)               \
        ray_register(&S##_ray_ctor_desc);                                      \
        ray_register(&S##_ray_dtor_desc);                                      \
    }                                                                          \
    static inline ray_err S##_create(ray_actor *ray_h,                         \
                                     const ray_actor_opts *ray_o,              \
                                     RAY_PP_LIST(RAY_I_PARAM, ~, __VA_ARGS__)) \
    {                                                                          \
        ray_arg ray_av[] = {RAY_PP_LIST(RAY_I_ENC, ~, __VA_ARGS__)};           \
        return ray_actor_create(&S##_ray_ctor_desc, ray_av,                    \
                                RAY_PP_NARG(__VA_ARGS__), ray_o, ray_h);       \
    }                                                                          \
    static inline ray_err S##_ray_create_args(                                 \
        ray_actor *ray_h, const ray_actor_opts *ray_o,                         \
        RAY_PP_LIST(RAY_I_ARGP, ~, __VA_ARGS__))                               \
    {                                                                          \
        ray_arg ray_av[] = {RAY_PP_LIST(RAY_I_ARGV, ~, __VA_ARGS__)};          \
        return ray_actor_create(&S##_ray_ctor_desc, ray_av,                    \
                                RAY_PP_NARG(__VA_ARGS__), ray_o, ray_h);       \
    }                                                                          \
    RAY_PP_STMTS(RAY_I_WRAP, S, __VA_ARGS__)                                   \
    enum { S##_ray_nargs = RAY_PP_NARG(__VA_ARGS__) };                         \
    typedef int S##_ray_actor_semicolon

#define RAY_ACTOR0(S, ctor)                                                    \
    _Static_assert(_Generic(&ctor, ray_err(*)(S *) : 1, default : 0),          \
                   "rayc: RAY_ACTOR0: the constructor must be ray_err " #ctor  \
                   "(" #S " *)");                                              \
    static void S##_ray_ctor_tramp(const ray_arg *ray_av, ray_ret *ray_out)    \
    {                                                                          \
        (void)ray_av;                                                          \
        ray_out->type = RAY_T_NONE;                                            \
        ray_err ray_e = ctor((S *)ray_actor_self());                           \
        if (ray_e != RAY_OK)                                                   \
            ray_task_fail_default(ray_e, "constructor %s returned %s", #ctor,  \
                                  ray_strerror(ray_e));                        \
    }                                                                          \
    RAY_ACTOR_COMMON(S, 0);                                                    \
    __attribute__((constructor(101))) static void S##_ray_register(void)       \
    {                                                                          \
        ray_register(&S##_ray_ctor_desc);                                      \
        ray_register(&S##_ray_dtor_desc);                                      \
    }                                                                          \
    static inline ray_err S##_create(ray_actor *ray_h,                         \
                                     const ray_actor_opts *ray_o)              \
    {                                                                          \
        return ray_actor_create(&S##_ray_ctor_desc, NULL, 0, ray_o, ray_h);    \
    }                                                                          \
    typedef int S##_ray_actor0_semicolon

#define RAY_ACTOR_DTOR(S, fn)                                                  \
    _Static_assert(_Generic(&fn, void (*)(S *) : 1, default : 0),              \
                   "rayc: RAY_ACTOR_DTOR: the destructor must be void " #fn    \
                   "(" #S " *)");                                              \
    __attribute__((constructor(102))) static void S##_ray_set_dtor(void)       \
    {                                                                          \
        void (*ray_f)(S *) = fn;                                               \
        S##_ray_dtor_fn = ray_f;                                               \
    }                                                                          \
    typedef int S##_ray_dtor_semicolon

/* RAY_METHOD(S, fn, R, T1, ..., Tn): make `R fn(S *s, T1, ..., Tn)` a
 * method of actor class S (RAY_METHOD0 for no arguments besides s). Same
 * types as RAY_REMOTE. Generates, static to the translation unit:
 *   ray_ref fn_remote(ray_actor h, T1, ..., Tn)       typed, values only
 *   RAY_ACTOR_CALL(fn, h, x1, ..., xn)                xi a Ti or a ray_ref
 * A wrong argument count or type fails to compile, and so does a method
 * that is not exactly `R fn(S *, T1, ..., Tn)` (or takes `const S *`).
 * Calling it on an actor of another class resolves to
 * RAY_EINVAL. Inside a method, ray_task_fail reports a failed call (the
 * actor lives on). */
#define RAY_METHOD(S, fn, R, ...)                                              \
    _Static_assert(                                                            \
        _Generic(&fn, R(*)(S *, RAY_PP_LIST(RAY_I_TYPE, ~, __VA_ARGS__)) : 1,  \
                 R(*)(const S *, RAY_PP_LIST(RAY_I_TYPE, ~, __VA_ARGS__)) : 1, \
                 default : 0),                                                 \
        "rayc: RAY_METHOD: the method must be " #R " " #fn "(" #S              \
        " *, " #__VA_ARGS__ ")");                                              \
    static void fn##_ray_tramp(const ray_arg *ray_av, ray_ret *ray_out)        \
    {                                                                          \
        RAY_RET(R)                                                             \
        (ray_out,                                                              \
         fn((S *)ray_actor_self(), RAY_PP_LIST(RAY_I_DEC, ~, __VA_ARGS__)));   \
    }                                                                          \
    static ray_fn_desc fn##_ray_desc = {.name = #S "." #fn,                    \
                                        .tramp = fn##_ray_tramp,               \
                                        .nargs = RAY_PP_NARG(__VA_ARGS__),     \
                                        .cls = #S};                            \
    __attribute__((constructor(101))) static void fn##_ray_register(void)      \
    {                                                                          \
        RAY_PP_STMTS(RAY_I_DESC, fn##_ray_desc, __VA_ARGS__)                   \
        fn##_ray_desc.ret_type = RAY_TAG(R);                                   \
        fn##_ray_desc.ret_size = (uint32_t)sizeof(R);                          \
        ray_register(&fn##_ray_desc);                                          \
    }                                                                          \
    static inline ray_ref fn##_remote(                                         \
        ray_actor ray_h, RAY_PP_LIST(RAY_I_PARAM, ~, __VA_ARGS__))             \
    {                                                                          \
        ray_arg ray_av[] = {RAY_PP_LIST(RAY_I_ENC, ~, __VA_ARGS__)};           \
        return ray_actor_submit(ray_h, &fn##_ray_desc, ray_av,                 \
                                RAY_PP_NARG(__VA_ARGS__));                     \
    }                                                                          \
    static inline ray_ref fn##_ray_acall(                                      \
        ray_actor ray_h, RAY_PP_LIST(RAY_I_ARGP, ~, __VA_ARGS__))              \
    {                                                                          \
        ray_arg ray_av[] = {RAY_PP_LIST(RAY_I_ARGV, ~, __VA_ARGS__)};          \
        return ray_actor_submit(ray_h, &fn##_ray_desc, ray_av,                 \
                                RAY_PP_NARG(__VA_ARGS__));                     \
    }                                                                          \
    RAY_PP_STMTS(RAY_I_WRAP, fn, __VA_ARGS__)                                  \
    enum { fn##_ray_nargs = RAY_PP_NARG(__VA_ARGS__) };                        \
    typedef int fn##_ray_method_semicolon

#define RAY_METHOD0(S, fn, R)                                                  \
    _Static_assert(                                                            \
        _Generic(&fn, R(*)(S *) : 1, R(*)(const S *) : 1, default : 0),        \
        "rayc: RAY_METHOD0: the method must be " #R " " #fn "(" #S " *)");     \
    static void fn##_ray_tramp(const ray_arg *ray_av, ray_ret *ray_out)        \
    {                                                                          \
        (void)ray_av;                                                          \
        RAY_RET(R)(ray_out, fn((S *)ray_actor_self()));                        \
    }                                                                          \
    static ray_fn_desc fn##_ray_desc = {                                       \
        .name = #S "." #fn, .tramp = fn##_ray_tramp, .cls = #S};               \
    __attribute__((constructor(101))) static void fn##_ray_register(void)      \
    {                                                                          \
        fn##_ray_desc.ret_type = RAY_TAG(R);                                   \
        fn##_ray_desc.ret_size = (uint32_t)sizeof(R);                          \
        ray_register(&fn##_ray_desc);                                          \
    }                                                                          \
    static inline ray_ref fn##_remote(ray_actor ray_h)                         \
    {                                                                          \
        return ray_actor_submit(ray_h, &fn##_ray_desc, NULL, 0);               \
    }                                                                          \
    typedef int fn##_ray_method0_semicolon

/* Call a method with values or refs in any argument position. */
#define RAY_ACTOR_CALL(fn, h, ...)                                             \
    (RAY_I_NARGS_CHECK(RAY_ACTOR_CALL, fn, __VA_ARGS__),                       \
     fn##_ray_acall((h), RAY_PP_LIST(RAY_I_CALLARG, fn, __VA_ARGS__)))

/* Create an actor of class S with values or refs in any constructor
 * argument position: RAY_ACTOR_CREATE(S, &h, opts, x1, ..., xn). The
 * actor stays DEPENDENCIES_UNREADY until every ref is ready; a ref that
 * failed leaves it DEAD, the cause naming that argument. */
#define RAY_ACTOR_CREATE(S, out, opts, ...)                                    \
    (RAY_I_NARGS_CHECK(RAY_ACTOR_CREATE, S, __VA_ARGS__),                      \
     S##_ray_create_args((out), (opts),                                        \
                         RAY_PP_LIST(RAY_I_CALLARG, S, __VA_ARGS__)))

/* ========================================================== worker entry */

/* Workers are this program re-executed. ray__worker_main runs the worker
 * (and never returns) when this process was started as one, and returns
 * at once otherwise. Every translation unit that includes this header
 * calls it from a constructor that runs after the remote functions'
 * registrations (priority 101 before 65535), so a worker finds all of
 * them even when libray is a shared library, whose own constructors run
 * before the program's. Not for direct use. */
RAY_API void ray__worker_main(void);

#ifndef RAY_BUILDING_LIBRAY
__attribute__((constructor(65535), unused)) static void
ray__worker_entry(void)
{
    ray__worker_main();
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* RAY_RAY_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * raylet.h: the node's raylet, embedded in a driver: its worker
 * processes and where tasks run.
 *
 * It owns, for every worker slot, the process (spawn, output, death,
 * restart) and the scheduler's view of it (sched_slot), the node's
 * resources and the local queue (local_queue.h: which worker runs which
 * task, stealing, blocked workers), the stand-ins started for blocked
 * workers, the processes of actor hosts, and the node's object store.
 * Slots are laid out as
 *   [0, ncpu)          task workers, one per CPU (started at once, kept);
 *   [ncpu, ntask)      stand-ins for blocked task workers (on need);
 *   [ntask, nslots)    actor hosts (started when the owner asks).
 *
 * The seams. The owner (the driver's core worker, sdk/) drives it through
 * the table sched_raylet_api (lease a worker for a task, return it, hold
 * CPUs for an actor, host an actor, kill a worker, the store's address):
 * in a cluster these become the messages of runtime/protocol/raylet.proto
 * (RequestWorkerLease, ReturnWorker, ...). The raylet calls back through
 * two tables the owner fills: sched_ops (local_queue.h: push a task to a
 * worker, flush, take back) reaches the owner's transport;
 * sched_raylet_owner below carries events (a slot is about to start a
 * process, a process died, a periodic tick).
 *
 * Threads. The raylet runs one loop thread (runtime/loop.h): it spawns
 * every process (PR_SET_PDEATHSIG follows the thread that forks: this one
 * lives until the raylet stops), watches their pidfds and output pipes,
 * forwards output lines with a "(pid=N) " prefix, and ticks every 100 ms.
 * In the embedded mode the raylet's state is guarded by the owner's lock
 * (owner->lock/unlock): the loop thread takes it for each event, and
 * every function below is called with it held unless it says otherwise.
 */
#ifndef RAY_SCHEDULER_RAYLET_H
#define RAY_SCHEDULER_RAYLET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/status.h"
#include "scheduler/local_queue.h"
#include "scheduler/resources.h"
#include "scheduler/worker_pool.h"

typedef struct sched_raylet sched_raylet;
struct store_client;

/* One worker slot. */
typedef struct sched_worker {
    sched_slot slot;         /* the local queue's view (alive, inflight,
                                blocked, held); guarded by mu */
    sched_proc proc;         /* its process; the loop thread's, under mu */
    uint32_t deaths;         /* processes of this slot that died */
    uint32_t start_failures; /* deaths in a row before it was ready */
    bool starting;           /* a spawn is queued on the loop thread */
    char start_err[160];     /* why its last spawn failed, or "" */
} sched_worker;

/* Events for the owner; ctx is the owner's pointer given at create.
 * Each but lock/unlock runs with the owner's lock held (on the loop
 * thread unless said otherwise). */
typedef struct sched_raylet_owner {
    /* Take and release the owner's lock (the embedded raylet's state is
     * guarded by it). unlock runs what the owner's handlers queued for
     * after the lock (user callbacks). Loop thread. */
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    /* Slot w gets a new process: reset what the owner keeps for it (its
     * rings) and fill `env` (NAME=value, at most envlen bytes, added to
     * the child's environment) and *keep_fd (a descriptor the child
     * inherits). RAY_OK, or an error that fails the start. Any thread
     * (the one that asked for the start, or the loop thread). */
    ray_err (*prepare)(void *ctx, int w, char *env, size_t envlen,
                       int *keep_fd);
    /* Slot w's process ended (status as from waitpid), or its spawn
     * failed (never_started: the reason is in sched_raylet_worker(w)->
     * start_err). The owner takes back what it had sent there. Returns
     * whether the process had become ready (a task worker that dies
     * three times in a row before that is not started again). */
    bool (*died)(void *ctx, int w, int status, bool never_started);
    /* Slot w (a task worker) may, or may no longer, run queued tasks
     * inside a wait: every worker is blocked and no stand-in can start
     * (SCHED_BLOCKED_* in its slot says how it waits). */
    void (*nested)(void *ctx, int w, bool on);
    /* Every 100 ms and after each batch of events: housekeeping. */
    void (*tick)(void *ctx);
} sched_raylet_owner;

/* Counts for ray_stats: live task workers, their restarts, stand-ins
 * running, actor hosts, tasks moved (stolen or taken back). */
typedef struct sched_raylet_stats {
    uint32_t workers_alive;
    uint32_t worker_restarts;
    uint32_t standins;
    uint32_t hosts;
    uint64_t tasks_moved;
    uint64_t tasks_queued; /* waiting for a worker now */
} sched_raylet_stats;

/* The owner's calls into a raylet (the owner -> raylet seam): the table
 * an owner holds, `r` the raylet's pointer. The embedded raylet's is
 * sched_raylet_local (the functions of this file); a raylet daemon's
 * client (the cluster) sends the same calls as runtime/protocol/
 * raylet.proto messages; the owner's unit tests use a fake. Every call
 * is made with the owner's lock held. */
typedef struct sched_raylet_api {
    /* Lease a worker for a ready task: it queues, and the next dispatch
     * round sends it (through the owner's sched_ops) to a worker with
     * room and its resources free. */
    void (*lease)(void *r, sched_task *t);
    /* Put tasks back at the front of the queue, in order (their worker
     * died before it ran them). */
    void (*requeue)(void *r, sched_task *head, sched_task *tail, uint64_t n);
    /* A task not sent yet leaves the queue (cancelled). */
    void (*unqueue)(void *r, sched_task *t);
    /* Return the lease: the task sent to worker w finished there, or was
     * taken back (sched_ops.revoke) before it started. */
    void (*returned)(void *r, int w, sched_task *t);
    /* Give back what a task holds (CPUs beyond its worker, custom
     * resources) before it is sent again (a retry). */
    void (*release)(void *r, sched_task *t);
    /* A dispatch round (sched_raylet_dispatch). */
    void (*dispatch)(void *r);
    /* Tasks wait in the queue for a worker; visit each (fn may take
     * the one it is given off the queue with unqueue). */
    bool (*waiting)(void *r);
    void (*each_waiting)(void *r, void (*fn)(void *arg, sched_task *t),
                         void *arg);
    /* Read a custom resources string ("GPU:1,disk:4") against the
     * node's: RAY_OK and *d, or RAY_EINVAL with the reason in `why`. */
    ray_err (*parse_demand)(void *r, const char *spec, sched_demand *d,
                            char *why, size_t whylen);
    /* An actor's placement: hold `ncpu` task workers (no task goes to
     * them) and custom resources `d` (NULL: none) under `key`, all or
     * nothing; unhold gives back the same. With `b` they come from that
     * bundle's reservation: its workers and its pool. */
    bool (*hold)(void *r, uint64_t key, uint32_t ncpu, const sched_demand *d,
                 sched_bundle *b);
    void (*unhold)(void *r, uint64_t key, uint32_t ncpu, const sched_demand *d,
                   sched_bundle *b);
    /* A placement group's bundle: take resources `d` (NULL: none) from
     * the node and reserve `ncpu` task workers under `key`
     * (sched_queue_reserve), all or nothing; unreserve gives back the
     * same once the bundle's tasks and actors are gone. */
    bool (*reserve)(void *r, uint64_t key, uint32_t ncpu,
                    const sched_demand *d);
    void (*unreserve)(void *r, uint64_t key, const sched_demand *d);
    /* Host actors in slot w (sched_raylet_start_host); SIGKILL slot w's
     * process (its death is reported through the owner's events). */
    ray_err (*start_host)(void *r, int w);
    void (*kill)(void *r, int w);
    /* Every slot's record (the scheduler's view and its process), an
     * array indexed by slot that lives as long as the raylet: the owner
     * reads it once and indexes it on hot paths (an indirect call per
     * slot per progress pass cost 0.15 us of a 2 us sync call). */
    sched_worker *(*workers)(void *r);
    /* The node's object store (sched_raylet_store), and its client if
     * it started; these two may be called without the lock. */
    struct store_client *(*store)(void *r, const char **path, char *why,
                                  size_t whylen);
    struct store_client *(*store_client)(void *r);
    void (*stats)(void *r, sched_raylet_stats *out);
} sched_raylet_api;

/* The embedded raylet's table (r: a sched_raylet). */
extern const sched_raylet_api sched_raylet_local;

typedef struct sched_raylet_config {
    int ncpu;              /* task workers (CPUs), >= 1 */
    int nstandin;          /* stand-in slots, >= 0 */
    int nhost;             /* actor host slots, >= 0 */
    uint32_t max_inflight; /* tasks queued per worker */
    const char *resources; /* custom resources "GPU:1,disk:4", or NULL */
    uint64_t store_bytes;  /* the node's object store capacity */
} sched_raylet_config;

/* Make a raylet (no thread yet): `transport` and `owner` are the owner's
 * tables, `ctx` its pointer. No lock held. RAY_OK and *out; RAY_EINVAL
 * (bad config or resources, the detail in `why`); RAY_ENOMEM. */
ray_err sched_raylet_create(const sched_raylet_config *cfg,
                            const sched_ops *transport,
                            const sched_raylet_owner *owner, void *ctx,
                            sched_raylet **out, char *why, size_t whylen);

/* Start the loop thread and the task workers' processes (they run
 * ahead of need; tasks queue in their rings while they start). No lock
 * held; waits for the spawns, not for the workers to be ready. RAY_OK,
 * or the first spawn's error with the reason in `why`; on failure
 * nothing runs. */
ray_err sched_raylet_start(sched_raylet *r, char *why, size_t whylen);

/* From now on no process is started again (the node shuts down; its
 * processes are asked to exit). Any thread. */
void sched_raylet_stopping(sched_raylet *r);

/* Stop: end the loop thread (its processes get SIGKILL through
 * PR_SET_PDEATHSIG; the owner first asked them to exit), reap every
 * process, within `grace_ms` before killing those still running, and
 * forward what is left of their output. No lock held. */
void sched_raylet_stop(sched_raylet *r, int grace_ms);

/* Free it (stopped, or never started); the node's store too. NULL ok. */
void sched_raylet_destroy(sched_raylet *r);

/* The local queue (tasks queue there; local_queue.h's functions apply)
 * and the node's resources. */
sched_queue *sched_raylet_queue(sched_raylet *r);
sched_resources *sched_raylet_resources(sched_raylet *r);

/* Slot w, and the layout. */
sched_worker *sched_raylet_worker(sched_raylet *r, int w);
int sched_raylet_ncpu(const sched_raylet *r);
int sched_raylet_ntask(const sched_raylet *r);
int sched_raylet_nslots(const sched_raylet *r);

/* A dispatch round (the owner first set each task slot's `blocked`):
 * push what can go, take back from blocked workers, steal for idle ones;
 * when work waits for CPUs that blocked workers gave away, start
 * stand-ins, or, when none can start and every worker is blocked, let
 * blocked workers run queued tasks inside their waits (owner->nested). */
void sched_raylet_dispatch(sched_raylet *r);

/* Start a process for actor host slot w (ntask <= w < nslots): prepared
 * now (owner->prepare: records may queue at once), spawned on the loop
 * thread; a failed spawn reports owner->died(never_started). */
ray_err sched_raylet_start_host(sched_raylet *r, int w);

/* SIGKILL slot w's process if it runs (its death is reported as usual). */
void sched_raylet_kill(sched_raylet *r, int w);

/* True while a process of slot w exists (started, or starting). */
static inline bool
sched_worker_alive(const sched_worker *sw)
{
    return sw->slot.alive || sw->starting;
}

void sched_raylet_get_stats(sched_raylet *r, sched_raylet_stats *out);

/* The node's object store, started on first call (it reserves and
 * pre-faults its memory: a program of small values never pays for it).
 * Serialised by its own lock: may be called with or without mu (taken
 * after mu when both are held). The client of this process, or NULL
 * with the reason in `why`; *path gets the socket clients connect to.
 * Once started, later calls return at once. */
struct store_client *sched_raylet_store(sched_raylet *r, const char **path,
                                        char *why, size_t whylen);

/* The store's client if it started (no start; any thread). */
struct store_client *sched_raylet_store_client(sched_raylet *r);

#endif /* RAY_SCHEDULER_RAYLET_H */

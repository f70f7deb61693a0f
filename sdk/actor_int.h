/* SPDX-License-Identifier: Apache-2.0
 *
 * actor_int.h: internals shared by the driver-side actor files of libray
 * (actor.c: placement, queues, deaths; actor_api.c: the public calls).
 * The state machine itself lives in scheduler/gcs/actor_table.h; an entry's
 * `user` points at the sdk_actor here. Everything is guarded by sdk_g->mu.
 */
#ifndef RAY_SDK_ACTOR_INT_H
#define RAY_SDK_ACTOR_INT_H

#include "scheduler/gcs/actor_table.h"
#include "sdk/sdk_int.h"

/* Actors sharing one host process (0-CPU actors). */
#define SDK_HOST_CAP 32u

/* A worker waiting in ray_actor_wait_ready for an actor to settle. */
typedef struct sdk_ready_waiter {
    struct sdk_ready_waiter *next;
    uint64_t req;
    int w;
    uint32_t deaths; /* the worker's incarnation when it asked */
} sdk_ready_waiter;

typedef struct sdk_actor {
    gcs_actor *g;          /* its table entry (state, name, restarts) */
    const char *ctor_cls;  /* class name (static in the user's code) */
    const char *ctor_name; /* "Class.__init__" */
    uint64_t ctor_hash;
    uint64_t dtor_hash; /* "Class.__del__" */
    uint8_t *ctor_spec; /* constructor's wire args, kept for restarts */
    uint32_t ctor_len;
    uint32_t ctor_nargs;
    bool ctor_refs;          /* ctor_spec holds refs (retained by it) */
    bool ctor_handles;       /* ... and actor handles (held by it) */
    sdk_task *qhead, *qtail; /* records not yet sent, in order */
    sdk_task *retry_head;    /* during a host death: calls to re-send */
    uint32_t ntasks;         /* tasks referencing it (queued + in flight) */
    uint32_t inflight;       /* sent to the host, not completed */
    int host;                /* index into sdk_actors.hosts, -1 if none */
    sched_demand demand;     /* CPUs and resources held while it lives */
    bool has_demand;
    uint32_t cpu_workers; /* task workers its CPUs take (ceil) */
    sched_bundle *bundle; /* in a placement group: the bundle its
                             demand and workers come from, else NULL */
    bool held;            /* its demand and CPU workers are held
                             (no task goes to those workers) */
    bool own;             /* a host process to itself */
    uint32_t conc;        /* max_concurrency > 1: calls on threads */
    bool waiting;         /* in the wait list (resources, hosts) */
    bool backlog;         /* in the backlog list (ring was full) */
    bool restart_pending;
    bool ending;                     /* a DEL was queued */
    char end_why[96];                /* cause of a clean end */
    sdk_ready_waiter *ready_waiters; /* answered at ALIVE or DEAD */
    struct sdk_actor *next_wait;
    struct sdk_actor *next_backlog;
} sdk_actor;

typedef struct sdk_host {
    int w;        /* its slot in rt->workers */
    bool own;     /* hosts one actor that asked for it */
    bool started; /* rings formatted, process spawned/pending */
    bool dying;   /* killed, its death not yet seen: no new
                     actor goes there */
    uint32_t used;
    uint64_t ids[SDK_HOST_CAP]; /* actor id per host slot, 0 = free */
} sdk_host;

typedef struct sdk_actors {
    gcs_actor_table table;
    sdk_host hosts[SDK_ACTOR_HOSTS];
    sdk_actor *wait_head; /* waiting for resources or a host */
    sdk_actor *backlog;   /* actors with records a full ring refused */
    struct {              /* method names of calls from workers, by */
        uint64_t hash;    /* hash (direct-mapped): no copy per call */
        char *name;
    } names[256];
} sdk_actors;

/* The actor with table id `id`, or NULL. */
sdk_actor *sdk_actor_find(sdk_rt *rt, uint64_t id);

/* A task for actor `a`: `spec` (wire args; refs already retained) is
 * copied. Its result is `given` (a reserved pending object) or a new
 * object; one reference is the task's, and one the caller's in *ref when
 * `ref` is not NULL. NULL on out of memory. */
sdk_task *sdk_actor_new_task(sdk_rt *rt, sdk_actor *a, uint32_t kind,
                             uint64_t hash, const char *name,
                             const uint8_t *spec, uint32_t spec_len,
                             uint32_t nargs, sdk_obj *given, ray_ref *ref);

/* Send what can be sent from the head of `a`'s queue. */
void sdk_actor_pump(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs);

/* Append a call to `a`'s queue and pump it (or fail it if `a` is dead). */
void sdk_actor_enqueue(sdk_rt *rt, sdk_actor *a, sdk_task *t, sdk_cb **cbs);

/* Place `a` now or put it on the wait list. */
void sdk_actor_start(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs);

/* Mark `a` DEAD with cause `why`; queued and in-flight calls resolve to
 * RAY_EACTOR_DIED. Its host slot is kept until the host is told. */
void sdk_actor_die(sdk_rt *rt, sdk_actor *a, ray_err err, const char *why,
                   sdk_cb **cbs);

/* End `a` cleanly after its queued calls (destructor), cause `why`. */
void sdk_actor_end(sdk_rt *rt, sdk_actor *a, const char *why, sdk_cb **cbs);

/* Kill the process hosting `a` if `a` is alone there (its death is then
 * handled as a crash). False if it shares the process or has none. */
bool sdk_actor_kill_host(sdk_rt *rt, sdk_actor *a);

/* Kill `a` now (no destructor). */
void sdk_actor_kill_now(sdk_rt *rt, sdk_actor *a, const char *why,
                        sdk_cb **cbs);

/* `a` became ALIVE or DEAD: answer the workers waiting for that. */
void sdk_actor_answer_ready(sdk_rt *rt, sdk_actor *a);

/* Free `a`'s constructor arguments, dropping the refs they hold. */
void sdk_actor_free_ctor(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs);

/* Free `a` once it is dead, unreferenced and off its host. */
void sdk_actor_maybe_free(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs);

#endif /* RAY_SDK_ACTOR_INT_H */

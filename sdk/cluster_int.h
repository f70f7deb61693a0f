/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_int.h: what cluster.c (joining, nodes, calls) and
 * cluster_actor.c (actors on other nodes) share: the driver's view of
 * the other nodes and the calls in flight there.
 */
#ifndef RAY_SDK_CLUSTER_INT_H
#define RAY_SDK_CLUSTER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ray/ray.h"
#include "runtime/frame.h"
#include "runtime/net.h"
#include "runtime/text.h"
#include "scheduler/resources.h"
#include "sdk/backend.h"
#include "sdk/inflight.h"
#include "sdk/sdk_int.h"

#define MAX_NODES 64 /* other nodes a driver uses */

/* Frames between a driver and an agent carry batches of at most
 * CL_BATCH_MAX bytes; one call or result is at most CL_RECORD_MAX (both
 * well within RT_NET_MAX_FRAME, what a reader accepts). */
#define CL_BATCH_MAX (4u << 20)
#define CL_RECORD_MAX (12u << 20)
_Static_assert(CL_RECORD_MAX + 64 < RT_NET_MAX_FRAME, "a record fits a frame");

struct cl_actor;

#define CL_ASKED 8      /* `rayc` requests answered at once */
#define CL_ASK_NONCE 40 /* their nonces' room */

/* How an actor handle travels in a call: "JOB RAYLET KEY" (ClusterArg). */
#define CL_HANDLE_DESC 96

/* ray_arg.pad of an argument pushed to the node (cl_args_place): v.u64 is
 * the agent's key for it (ClusterArg.pushed). */
#define CL_ARG_PUSHED 2u
/* ray_arg.pad of an argument whose value a node keeps: v.buf.ptr is
 * "RAYLET JOB KEY SIZE" (ClusterArg.remote; cl_args_place). */
#define CL_ARG_REMOTE 4u
#define CL_REMOTE_DESC 128
/* ray_arg.pad of a ref whose value is parked on a node (cl_args_resolve,
 * with parked_ok; v.u64 the object's id): cl_args_place reads it there. */
#define CL_ARG_PARKED 8u

/* A value this driver pulled that also stays on the node that made it
 * (as key `rkey` there), so that calls on other nodes read it from there
 * rather than from this driver; dropped there when the driver frees the
 * value (its store key `skey`) or that node dies. A copy a call pulls to
 * its node is one from the moment the call is sent (its agent serves it
 * as it lands: transfer.h's relays). */
typedef struct cl_copy {
    uint64_t skey, rkey, size;
    int node;
    uint32_t reads; /* readers on other nodes sent to it */
    bool pending;   /* being pulled there, by a call not back yet */
} cl_copy;

#define CL_DATA_IDLE 4  /* idle data connections kept per node */
#define CL_PJOB_BITS 10 /* pull jobs by id: 1024 hash chains */
#define CL_PJOB_BUCKETS (1u << CL_PJOB_BITS)
#define CL_DATA_BUSY 64 /* data connections in use that leaving cuts */

/* ---- the driver's nodes ---- */

/* What a connection in the driver's node table leads to. */
enum cl_node_kind {
    CL_JOB,      /* this job's agent on another node: calls and actors */
    CL_SELF,     /* this job's agent on this machine's raylet: the named
                    and detached actors made here, which other drivers
                    reach (started on first need) */
    CL_ATTACHED, /* another job's agent: the named actors it hosts */
};

typedef struct cl_node {
    int fd;
    int kind;     /* enum cl_node_kind */
    uint64_t job; /* CL_ATTACHED: that job's id */
    char addr[RT_HOST_MAX + 8];
    char id[17];         /* hex prefix of its node id */
    char full[57];       /* its node id in hex */
    char resources[256]; /* custom ones, "gpu:2,disk:4" (messages) */
    sched_resources res; /* the same, parsed (placement) */
    int ncpu;
    uint64_t tag; /* its agent's runtime's ray_ref.owner (0: unknown) */
    _Atomic int alive;
    _Atomic int64_t inflight;
    _Atomic uint64_t served; /* bytes its agent sent to pulls (its word) */
    pthread_mutex_t mu;      /* buf, fl */
    pthread_cond_t cv;
    uint8_t *buf; /* TaskBatch payload being filled */
    size_t len, cap;
    fl_table fl;
    pthread_t sender;
    bool sender_started;
    bool sending; /* a thread writes to fd now (mu) */
    rt_frame_reader rd;
    char *partial; /* output: a line not ended yet (receiver) */
    size_t npartial;
    int data[CL_DATA_IDLE]; /* idle data connections (xfer_mu) */
    int ndata;
} cl_node;

typedef struct cl_driver {
    cl_node nodes[MAX_NODES];
    _Atomic int n; /* nodes[0, n) are set up; added under add_mu */
    pthread_mutex_t add_mu;
    int self_node; /* the CL_SELF connection, or -1 */
    uint64_t job;  /* this driver's job id (random): agents go by it */
    int local_cpus;
    _Atomic int stop;
    int wake[2]; /* wakes the receiver: a node joined, or stop */
    pthread_t receiver, watcher;
    bool receiver_started, watcher_started;
    int gcs_fd; /* the connection to the head (gcs_mu), or -1 */
    pthread_mutex_t gcs_mu;
    /* The actor names this driver holds at the head that go with its
     * connection (not detached): "name\0value" each, put again when the
     * connection is made again, as after a head restart (gcs_mu). */
    char **names;
    size_t nnames, cnames;
    char self_raylet[RT_HOST_MAX + 8]; /* this machine's raylet, or "" */
    char self_id[57];                  /* its node id (hex), or "" */
    char head[256];
    char gcs_host[RT_HOST_MAX];
    uint16_t gcs_port;
    char local_ip[RT_HOST_MAX];
    uint8_t tok[RT_TOKEN_LEN];
    /* Actors on other nodes, by the driver's key (cluster_actor.c). */
    pthread_mutex_t act_mu;
    struct cl_actor *act;
    uint32_t nact, cact;     /* keys [1, nact) used */
    uint64_t call_seq;       /* actor calls made so far (act_mu) */
    _Atomic uint64_t rr;     /* where placement starts looking */
    _Atomic uint64_t spread; /* RAY_STRATEGY_SPREAD's turn */
    sdk_backend be;          /* the "cluster" backend */
    _Atomic bool timeline;   /* the agents record their calls too */
    /* The `rayc` requests answered whose request is still at the head
     * (cluster_ask.c; the watcher's). */
    char asked[CL_ASKED][CL_ASK_NONCE];
    /* Data connections and pulls (cluster_objects.c). */
    pthread_mutex_t xfer_mu;
    pthread_cond_t xfer_cv;      /* pullers reached 0 */
    int busy[CL_DATA_BUSY];      /* data connections in use */
    int busy_node[CL_DATA_BUSY]; /* ... and the node each leads to */
    int nbusy;
    struct pull_job *pq_head; /* pulls queued, by priority */
    _Atomic uint32_t pq_n;    /* how many */
    /* Pull jobs queued or parked, by object id (hash chains). */
    struct pull_job *pjobs[CL_PJOB_BUCKETS];
    _Atomic uint32_t nparked; /* results parked on their nodes */
    int pullers;              /* threads pulling */
    bool xfer_stop;           /* leaving */
    cl_copy *copies;
    size_t ncopies, ccopies;
} cl_driver;

extern cl_driver *g_cl;

/* cluster.c */
/* In an agent: the cluster side that reaches other agents' actors (made
 * on first use: connections, their receiver, the token the raylet gave);
 * NULL with the reason in the detail. */
cl_driver *cl_client(void);
extern uint8_t cl_agent_token[RT_TOKEN_LEN];
/* One request to the head on the driver's connection (made again when
 * lost); any thread. */
ray_err cl_gcs_call(cl_driver *cl, uint32_t type, const ProtobufCMessage *req,
                    uint32_t reply_type, ProtobufCMessage **reply, char *why,
                    size_t whylen);
/* The head's key-value store, on the connection the caller holds
 * (`held`: gcs_mu, inside cl_gcs_call's reconnect) or through
 * cl_gcs_call. Put: *added, or the head's error with why. Get: the value
 * NUL-terminated in val when there is one that fits cap (*found). An
 * ephemeral entry goes with the connection that put it. */
ray_err cl_kv_put(cl_driver *cl, bool held, const char *ns, const char *key,
                  const void *val, size_t len, bool overwrite, bool ephemeral,
                  bool *added, char *why, size_t whylen);
ray_err cl_kv_get(cl_driver *cl, bool held, const char *ns, const char *key,
                  char *val, size_t cap, bool *found, char *why, size_t whylen);
ray_err cl_kv_del(cl_driver *cl, const char *ns, const char *key, char *why,
                  size_t whylen);
/* Every entry of namespace ns (through cl_gcs_call): *out, to free with
 * rt_proto_free. */
ray_err cl_kv_list(cl_driver *cl, const char *ns, Ray__Rpc__KvListReply **out,
                   char *why, size_t whylen);
/* The CL_SELF connection (started now if need be): its index, -2 when
 * this machine runs no raylet, or -3 (*err, and the detail) when it could
 * not start. */
int cl_self_agent(cl_driver *cl, ray_err *err);
/* A connection to job `job`'s agent on the raylet at `addr` ("ip:port"),
 * made or reused: its index, or -1 with the reason in why (RAY_ENOTFOUND
 * in *err when no agent of that job runs there). */
int cl_attach(cl_driver *cl, const char *addr, uint64_t job, ray_err *err,
              char *why, size_t whylen);
/* Send concatenated field-1 entries as frames of `type`, CL_BATCH_MAX
 * bytes at most each (the agent's results go the same way). */
bool send_batches(int fd, uint32_t type, const uint8_t *buf, size_t len);
void cl_put_varint(uint8_t **p, uint64_t v);
bool cl_node_append(cl_node *nd, const uint8_t *task, uint32_t len);
/* Fail result object `id` now (mu not held): settled, its callbacks
 * run, the driver woken. */
void cl_fail(uint64_t id, ray_err err, const char *msg);
/* Settle result object `id` (mu held): a value, or an error. */
void cl_settle(sdk_rt *rt, uint64_t id, ray_err err, const char *msg,
               uint32_t type, const void *data, size_t len, sdk_cb **cbs);
/* The same, mu not held (its callbacks run, the driver woken). */
void cl_settle_now(uint64_t id, ray_err err, const char *msg, uint32_t type,
                   const void *data, size_t len);
/* Settle pending object `id` with the value of ready object `from`,
 * moved (from is left empty; the caller still drops its ref). RAY_EINVAL
 * when either is not as said. */
ray_err cl_settle_from(uint64_t id, ray_ref from);
/* Does node nd, or this node (RAY_OK / RAY_ENOTFOUND / RAY_EINVAL),
 * have in total the custom resources `want` ("gpu:1") asks for? */
bool cl_node_fits(const cl_node *nd, const char *want);
ray_err cl_local_demand(const char *want);
/* Where a call goes: -1 this node, a node index, or -2: nowhere. */
int cl_choose(cl_driver *cl, const ray_call_opts *opts, bool local_fits,
              int avoid);
/* RAY_STRATEGY_SPREAD: the next in turn of the nodes that fit (-1 this
 * one, when local_fits), or -2: none. */
int cl_spread(cl_driver *cl, const ray_call_opts *opts, bool local_fits);
/* Node i (-1 this one) has all its CPUs busy. */
bool cl_node_full(cl_driver *cl, int i);
/* Queue a tracked record on node i (its result settles e->id). */
bool cl_send_to(cl_driver *cl, int i, fl_entry *e);
/* Queue an untracked record (no result comes back) on node i. */
bool cl_send_raw(cl_driver *cl, int i, const uint8_t *task, uint32_t len);
/* The same for a small control record (no arguments: CLUSTER_FREE,
 * CLUSTER_PG_REMOVE), packed here. */
bool cl_send_control(cl_driver *cl, int i, const Ray__Rpc__ClusterTask *t);
/* A new pending object of this driver for an answer to come (a query's
 * result): *id, held once (sdk_ref(*id) is that hold). */
ray_err cl_result_new(uint64_t *id);
/* The node named by an IP, "IP:port" or id prefix: -1 this one, -2 none. */
int cl_named_node(cl_driver *cl, const char *want);
/* Arguments by value (ready refs resolved; views to release after).
 * With `desc`, handles of actors in agents travel too (described there);
 * without, or for other handles, false. With parked_ok, a ref parked on a
 * node is marked CL_ARG_PARKED (for cl_args_place); without, or for a ref
 * still pending, false. */
bool cl_args_resolve(const ray_arg *args, uint32_t nargs, ray_arg *out,
                     ray_view *views, uint32_t *nviews,
                     char (*desc)[CL_HANDLE_DESC], bool parked_ok);
/* Is ref r's object pending here (*parked: parked on a node)? */
bool cl_ref_pending(ray_ref r, bool *parked);
/* Count the actor handles among a call's arguments while it lives (ray.h:
 * a handle passed to a task); false without memory. */
bool cl_hold_handles(fl_entry *e, const ray_arg *args, uint32_t nargs);
/* An entry's end: its record freed, its handles released. */
void cl_entry_done(fl_entry *e);
void cl_views_release(ray_view *views, uint32_t n);
/* The options a call's record t says it was made with, `retries` left
 * (none when 0 or less): its strings are t's. */
ray_call_opts cl_record_opts(const Ray__Rpc__ClusterTask *t, int32_t retries);
/* Pack a record from `base` with args and call options (rt_malloc'd). */
uint8_t *cl_pack_task(const Ray__Rpc__ClusterTask *base, const ray_arg *args,
                      uint32_t nargs, const ray_call_opts *opts, uint32_t *len);

/* Run an entry whose node died again elsewhere (one retry spent). */
bool cl_place_again(cl_driver *cl, int dead, fl_entry *e);
/* The arguments of call e from its record t, into a (t->n_args of
 * them): values as they were, values it read from copies as the refs
 * e->refs holds (those copies forgotten). False when one cannot go
 * again (pushed for the call only, or an actor handle). */
bool cl_args_back(cl_driver *cl, const Ray__Rpc__ClusterTask *t,
                  const fl_entry *e, ray_arg *a);
/* An actor call that waits at the driver behind the actor's others, its
 * result the caller's pending object `into` (made before). */
ray_err cl_defer_actor_into(cl_driver *cl, ray_actor h, const ray_fn_desc *m,
                            const ray_arg *args, uint32_t nargs, uint64_t into);
/* Run call e (its node died, no other node takes it) on this node's
 * workers instead, its result the one the caller holds: true when it
 * went (e's holds are given back), false for a call that cannot (an
 * actor's, one with handles or pushed arguments, or one this node cannot
 * fit). */
bool cl_run_here(cl_driver *cl, fl_entry *e);
/* How often a call with these options runs again when its node dies or
 * loses an argument's copy: 0 when pushed arguments or its group's bundle
 * keep it there, else max_retries (default 3). */
int32_t cl_retries(const ray_call_opts *opts, bool pushed);
/* A hard `node` pin: such a call runs again on its node only (never
 * placed elsewhere: cl_place_again refuses it). */
bool cl_pinned(const ray_call_opts *opts);

/* cluster_objects.c: large values on other nodes (transfer.h). */
/* Pull priorities: a value a ray_get waits for goes before one a ray_wait
 * waits for, and both before those pulled ahead of any wait. */
enum { CL_PULL_AHEAD, CL_PULL_WAIT, CL_PULL_GET };
/* The objects `ids` are waited for (a get or a wait, `prio`): those
 * parked are pulled now, those queued move up, and those still running
 * are pulled as soon as they come back. */
void cl_pull_hurry(cl_driver *cl, const uint64_t *ids, size_t n, int prio);
/* Pull result e->id's value (stored under `key` on node i) on a puller
 * thread, which settles it; the entry is the pull's now. False (the
 * entry still the caller's) without memory or a thread. */
bool cl_pull_start(cl_driver *cl, int i, fl_entry *e, uint64_t key,
                   uint64_t size, uint32_t type);
/* The same for a result that can be made again (e: a call with retries
 * left, on a node of this job): it parks, kept on node i and not pulled
 * until something here waits for it (sdk_obj.parked); a call on another
 * node reads it from there. Should node i die, the call runs again
 * (cl_defer_rebuild). False as cl_pull_start, or when nobody holds the
 * result any more. */
bool cl_park(cl_driver *cl, int i, fl_entry *e, uint64_t key, uint64_t size,
             uint32_t type);
/* The node keeping parked ref args[k]'s values with the most bytes among
 * a call's arguments, or -1 (for placement near its data). */
int cl_parked_near(cl_driver *cl, const ray_arg *args, uint32_t nargs);
/* The hooks of a driver in a cluster (sdk_remote_want, on_unheld). */
void cl_parked_hooks(bool on);
/* Leaving: cut the data connections in use, wait for the pulls, close
 * the idle ones. */
void cl_data_close(cl_driver *cl);
/* Where a call for node i reads its large arguments (XFER_KEEP_MIN bytes
 * or more; `args` as given, `a` resolved to values): a ref's value from
 * a copy on a node (one on node i, else, unless `here`, on another; else
 * pushed to node i now, where it stays as a copy while this driver holds
 * it; `here` for actor calls, which a pull on the node would reorder), marked
 * CL_ARG_REMOTE with desc[k] and held in *refs (*nrefs, rt_malloc'd: the
 * call's entry's) while the call lives; a plain value, when the record
 * would be too large, pushed for this call only (CL_ARG_PUSHED, and
 * *pushed: the call cannot run elsewhere). RAY_OK, or why not. */
ray_err cl_args_place(cl_driver *cl, int i, bool here, const ray_arg *args,
                      ray_arg *a, uint32_t nargs, char (*desc)[CL_REMOTE_DESC],
                      uint64_t **refs, uint32_t *nrefs, bool *pushed, char *why,
                      size_t whylen);
/* Push `len` bytes of `type` to node i, which keeps them for one use
 * (xfer_take): their key there, or 0 with why. */
uint64_t cl_push_once(cl_driver *cl, int i, uint32_t type, const void *data,
                      uint64_t len, char *why, size_t whylen);
/* The memory store freed stored value `skey` (the runtime's mu held):
 * its copy on another node goes too. */
void cl_value_freed(uint64_t skey);
/* Where node i can read value r from, as a ClusterArg.remote into desc
 * (*type its type): a copy on a node (node i's own, or the least read),
 * or its parked one; false when there is none (only here, or not a
 * stored value). What node i pulls it does not keep as a copy. */
bool cl_copy_where(cl_driver *cl, ray_ref r, int i, char desc[CL_REMOTE_DESC],
                   uint32_t *type);
/* sdk_remote_served: the bytes each node's agent served (metrics). */
size_t cl_served(sdk_node_bytes *out, size_t max);
/* The call of entry e came back from node i (read: it could read its
 * arguments): the copies its node was to pull and keep of them, noted
 * as it was sent, stay (or, not read, are forgotten and dropped). */
void cl_copies_note(cl_driver *cl, int i, const fl_entry *e, bool read);
/* Call e came back from node i with RAY_EOBJECT_LOST: a copy it was to
 * read went (its node died). True when it goes again (taken over: its
 * values read from another copy or pushed, on a thread); false leaves e
 * to fail as it came back. */
bool cl_args_again(cl_driver *cl, int i, fl_entry *e);
/* Leaving: until those threads are done (bounded: a minute). */
void cl_args_again_wait(void);
/* Node i died: the copies there are gone, and the data connections to it
 * are cut, so that pulls and pushes in flight fail now (and their calls
 * run again elsewhere) rather than wait out XFER_IDLE_MS for a node that
 * hangs or is cut off. */
void cl_copies_node_lost(cl_driver *cl, int i);

/* cluster_defer.c: calls for node i with refs not ready yet among
 * their arguments (and no actor handle: cl_defer_wanted; with parked_ok,
 * a ref parked on a node counts as ready) wait here until those are done
 * (or parked), then go. */
bool cl_defer_wanted(const ray_arg *args, uint32_t nargs, bool parked_ok);
/* Result e->id, made by call e on node `dead`, was lost with that node:
 * the call is made again (with one retry less) from its record, its ref
 * arguments waited for here first (rebuilt too, if they were lost); if no
 * alive node can run it now, once one can (cl_defer_rebuild_tick). True
 * when it is taken (e's holds then given back, or kept until it goes);
 * false with why. */
bool cl_defer_rebuild(cl_driver *cl, int dead, fl_entry *e, char *why,
                      size_t whylen);
/* Each watcher round: the rebuilds that wait for a node able to run them
 * (none was alive) go if one is now, or fail past their wait (a minute). */
void cl_defer_rebuild_tick(cl_driver *cl);
ray_ref cl_defer(cl_driver *cl, int i, const char *name, const ray_arg *args,
                 uint32_t nargs, const ray_call_opts *opts);
/* The same for a call of actor h on another node; the actor's later
 * calls (cl_defer_actor_busy) wait behind it, so all go in order. */
ray_ref cl_defer_actor(cl_driver *cl, ray_actor h, const ray_fn_desc *m,
                       const ray_arg *args, uint32_t nargs);
bool cl_defer_actor_busy(uint64_t actor);
/* A call in a placement group not created yet: it waits for the group's
 * `ready` object (gate, held: taken over) beside its refs, then goes
 * where its bundle is (cl_pg_route). */
ray_ref cl_defer_gated(cl_driver *cl, const char *name, const ray_arg *args,
                       uint32_t nargs, const ray_call_opts *opts, ray_ref gate);

/* cluster_pg.c: placement groups across nodes (the backend's ray_pg_*). */
ray_err cl_pg_create(const ray_bundle *bundles, uint32_t n, int32_t strategy,
                     const char *name, ray_pg *out);
ray_err cl_pg_wait(ray_pg pg, int64_t timeout_ms);
ray_err cl_pg_state(ray_pg pg, int *state);
ray_err cl_pg_remove(ray_pg pg);
/* Where a call or actor asking `cpus` and `want` in group pg, bundle
 * `index` (or RAY_PG_ANY_BUNDLE), goes: RAY_OK with *node (-1 here) and
 * the group and bundle index on that node (*sub, *sub_idx); RAY_EAGAIN
 * when the group is pending, with *gate its `ready` object (held); else
 * the error, its detail naming `what` (unknown or removed group, no such
 * bundle, more than it holds, its node dead). */
ray_err cl_pg_route(const char *what, ray_pg pg, int32_t index, double cpus,
                    const char *want, uint64_t *sub, int32_t *sub_idx,
                    int *node, ray_ref *gate);
/* The driver's placement groups as sdk_pg_rows' rows (the node of each
 * bundle by id, "-" while unplaced); how many there are. */
size_t cl_pg_rows(cl_driver *cl, rt_text *out, size_t max);
/* A node died: bundles there are planned again (the planner wakes). */
void cl_pg_node_lost(void);

/* cluster_borrow.c: refs of another runtime of the job. The stand-in
 * of ref here (made and fetched on first use: fetch(ref, its id, arg),
 * which settles it, now or later), held until cl_borrow_forget. */
typedef void (*cl_fetch_fn)(ray_ref ref, uint64_t local, void *arg);
ray_err cl_borrow_with(ray_ref ref, ray_ref *local, cl_fetch_fn fetch,
                       void *arg);
void cl_borrow_forget(ray_ref ref);
/* Leaving: the stand-ins' table is dropped (they go with the runtime). */
void cl_borrow_stop(void);
/* Settle every stand-in still waiting with err and msg (the runtime that
 * answers for them is gone). */
void cl_borrow_fail_all(ray_err err, const char *msg);
/* The driver's: its agents' refs (the backend's borrow and borrow_ref),
 * and what agent i asks of the others (CLUSTER_OBJ_* records). */
ray_err cl_borrow(ray_ref ref, ray_ref *local);
ray_err cl_borrow_ref(ray_ref ref, bool retain);
void cl_borrow_asked(cl_driver *cl, int i, const Ray__Rpc__TaskBatch *b);
/* Leaving: the planner stops (a reservation in flight is answered
 * first) and the table goes. */
void cl_pg_stop(void);
/* Leaving: the resolver thread stops; calls ready and not sent end. */
void cl_defer_stop(void);
/* After the runtime stopped: free the calls that never went. */
void cl_defer_fini(void);
/* Those calls as task rows (state.c's columns), the first `room`; how
 * many there are. */
size_t cl_defer_rows(cl_driver *cl, rt_text *out, size_t room);

/* cluster_timeline.c: the agents' part of ray_timeline (the hooks in
 * sdk_int.h), and telling a node's agent to record when it joins late. */
void cl_timeline_enable(bool on);
size_t cl_timelines(sdk_tl_blob *out, size_t max);
void cl_timeline_join(cl_driver *cl, int i);

/* cluster_ask.c: the watcher's turn: answer the `rayc timeline` and
 * `rayc list tasks|objects` requests the head holds for the drivers. */
void cl_ask_serve(cl_driver *cl);

/* cluster_actor.c: its actors on other nodes as `rayc list actors` rows
 * (sdk/state.c's columns), the first `room`; how many there are. */
size_t cl_actor_rows(cl_driver *cl, rt_text *out, size_t room);

/* An agent's answer to CLUSTER_ACTOR_STATE: the actor's state (8 bits),
 * its restarts there (24 bits) and its process's pid (32 bits). */
static inline uint64_t
cl_actor_state_bits(int state, int restarts, int pid)
{
    return (uint64_t)(state & 0xff) | (uint64_t)(restarts & 0xffffff) << 8 |
           (uint64_t)(uint32_t)pid << 32;
}
/* The same counted by state, for the metrics (sdk_remote_actor_states). */
void cl_actor_states(uint64_t n[5]);

/* cluster_actor.c: the backend's actor entries, and a node's death. */
ray_err cl_actor_create(const ray_fn_desc *ctor, const ray_arg *args,
                        uint32_t nargs, const ray_actor_opts *opts,
                        ray_actor *out);
/* Send actor call m(args) now; its result `id` if made already (0: a
 * new one), settled with the error when it cannot go. */
ray_ref cl_actor_send(ray_actor h, const ray_fn_desc *m, const ray_arg *args,
                      uint32_t nargs, uint64_t id);
ray_ref cl_actor_submit(ray_actor h, const ray_fn_desc *m, const ray_arg *args,
                        uint32_t nargs);
ray_err cl_actor_ref(ray_actor h, bool retain);
ray_err cl_actor_kill(ray_actor h, bool no_restart);
ray_err cl_actor_state(ray_actor h, int *state, int *num_restarts);
ray_err cl_actor_wait_ready(ray_actor h, int64_t timeout_ms);
ray_err cl_actor_lookup(const char *name, ray_actor *out);
/* How handle h travels ("JOB RAYLET KEY"); false unless it is a live
 * actor in an agent. */
bool cl_actor_describe(ray_actor h, char out[CL_HANDLE_DESC]);
/* In an agent: a handle for the actor a call's argument describes (one
 * in this agent's runtime, or a proxy whose calls go to its agent), or
 * RAY_ACTOR_NULL with the reason in the detail. */
ray_actor cl_actor_from_desc(const char *desc);
/* Node i died (its calls in flight are settled): restart its actors
 * elsewhere within their max_restarts, or mark them dead with `why`. */
void cl_actors_node_lost(cl_driver *cl, int i, const char *why);
/* Make actor h, which waited for its placement group (cluster_defer.c
 * calls it once the group and the ref arguments are ready): on its
 * bundle's node, or in this runtime when the bundle is here; or dead,
 * saying why. */
void cl_actor_make_waiting(ray_actor h, const ray_fn_desc *ctor,
                           const ray_arg *args, uint32_t nargs,
                           const ray_actor_opts *opts);
/* Restart group actor h, whose node died, in its bundle now placed
 * again (cluster_defer.c calls it once the group is ready again). */
void cl_actor_restart_in_group(ray_actor h);
/* Defer group actor h's restart until `gate` (taken; null: now), the
 * calls made meanwhile behind it. */
ray_err cl_defer_restart(cl_driver *cl, ray_actor h, ray_ref gate);
/* Defer actor h's creation until `gate` (taken) and its ref arguments
 * are ready; calls to h made meanwhile wait behind it, in order. */
ray_err cl_defer_create(cl_driver *cl, ray_actor h, const ray_fn_desc *ctor,
                        const ray_arg *args, uint32_t nargs,
                        const ray_actor_opts *opts, ray_ref gate);
/* Calls e[0..n) to actors on dead node i, in the order made: each goes
 * again to its actor's new node (cl_actors_node_lost moved it) within its
 * max_task_retries; true for those sent (ok[k]), the rest to be failed. */
void cl_actor_calls_again(cl_driver *cl, int i, fl_entry *e, size_t n,
                          bool *ok);
void cl_actors_free(cl_driver *cl);
/* Put this driver's actor names again on a new connection to the head
 * (gcs_mu held, cl->gcs_fd connected): a name another driver took in
 * the meantime is given up, with a warning. An error reaching the head. */
ray_err cl_names_reput(cl_driver *cl, char *why, size_t whylen);
/* sdk_remote_actor_call's entry (sdk_int.h). */
void cl_actor_call_from_task(sdk_rt *rt, uint64_t handle, const char *method,
                             const uint8_t *args, uint32_t args_len,
                             uint32_t nargs, sdk_obj *o, sdk_cb **cbs);

#endif /* RAY_SDK_CLUSTER_INT_H */

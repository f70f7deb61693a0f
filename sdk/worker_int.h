/* SPDX-License-Identifier: Apache-2.0
 *
 * worker_int.h: the worker process's side of libray (internal):
 * worker_main.c (the loop and its rings), worker_client.c (the rayc API
 * inside a task), worker_results.c (results pushed to it), actor_host.c
 * (actors in the process) and actor_client.c (actor calls from it). All
 * of it runs on the worker's main thread unless a comment says otherwise.
 */
#ifndef RAY_SDK_WORKER_INT_H
#define RAY_SDK_WORKER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objectstore/client.h"
#include "ray/ray.h"
#include "sdk/wire.h"

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
/* Slots in the table now (it grows with use and shrinks back). */
size_t sdk_wk_results_capacity(void);
/* Entries expected whose push has not come: this worker's calls in
 * flight (those it still holds a ref to). */
size_t sdk_wk_results_pending(void);

/* worker_client.c: a request record with a name or arguments, as it is
 * laid out on the completion ring: the header, `fixed_len` bytes at
 * `fixed` (a multiple of 8: a create's sdk_msg_acreate), the strings
 * str[0] and str[1] (str_len bytes each, zero-padded to 8; 0 for none),
 * then the arguments in wire form (sdk_args_encode). */
typedef struct sdk_wk_req {
    uint32_t type;   /* SDK_MSG_* */
    sdk_msg_req hdr; /* sent as is, but for nargs (set from nargs)
                        and, for a call, obj_id */
    const void *fixed;
    size_t fixed_len;
    const char *str[2];
    size_t str_len[2];
    const ray_arg *args; /* checked (sdk_args_check), by-ref done */
    uint32_t nargs;
    const char *what; /* for the detail: the call ("submit") */
    const char *name; /* and what it names (function, class) */
} sdk_wk_req;

/* worker_client.c: size request `r`, check it against
 * sdk_wk_max_record(), write and commit it. With `call_id` the record
 * is a call: its result's object id is reserved (sdk_wk_take_id) only
 * once the size is known to fit, sent in hdr.obj_id, returned in
 * *call_id, and its pushed result expected (sdk_wk_submitted).
 * RAY_ETOOBIG, nothing sent, with a detail naming what and name; or
 * sdk_wk_take_id's error. Worker main thread only. */
ray_err sdk_wk_request(const sdk_wk_req *r, uint64_t *call_id);

/* worker_client.c: large by-value arguments (STORE_PLASMA_MIN and up) are put
 * into the node's object store and passed as refs, so a record stays
 * small: conv gets the arguments to encode, temps[0 .. *ntemps) the refs
 * to drop (sdk_wk_drop_refs) once the record is committed (the call
 * takes its own first: the ring keeps the order). An error (detail set)
 * leaves nothing to drop. */
ray_err sdk_wk_args_by_ref(const ray_arg *args, uint32_t nargs, ray_arg *conv,
                           ray_ref *temps, uint32_t *ntemps);
void sdk_wk_drop_refs(const ray_ref *refs, uint32_t n);

/* worker_main.c: plumbing for worker_client.c (worker process only). */
void *sdk_wk_reserve(size_t len);
void sdk_wk_commit(uint32_t type, size_t len);
size_t sdk_wk_max_record(void);
void sdk_wk_flush(bool force_wake);
bool sdk_wk_run_one(void);
/* Run the task whose result is object `obj` if it is queued, not
 * started, in this worker's own submission ring (out of order: the
 * caller waits for exactly that result, without a deadline). *h (zeroed
 * at the start of the wait) remembers how far the ring was searched.
 * True if it ran. */
typedef struct sdk_wk_helper {
    bool started;
    uint64_t fwd, back, back_end;
} sdk_wk_helper;
bool sdk_wk_help(uint64_t obj, sdk_wk_helper *h);
const void *sdk_wk_reply_peek(uint32_t *type, uint32_t *len);
void sdk_wk_reply_consume(void);
bool sdk_wk_in_map(void);
void sdk_wk_idle_wait(int64_t us);
int sdk_wk_spin_us(void);
/* In a worker: its node id as the driver wrote it ("" outside a cluster). */
const char *sdk_wk_node_id(void);
bool sdk_wk_reply_backlog(void); /* the driver holds replies back */
/* Whether a wait may run queued tasks inside it: always in an actor
 * host; in a task worker only while the driver says so (ctl->nested_ok:
 * every worker is blocked and no stand-in can start). */
bool sdk_wk_may_nest(void);
/* A task worker's wait gave up spinning (SDK_BLOCKED_*) or ended (0):
 * the driver then places the tasks queued here on other workers (but
 * for a wait that runs its own dependencies, the calls this worker made)
 * and starts stand-ins for this CPU. No effect in an actor host. */
void sdk_wk_set_blocked(uint32_t how);

/* worker_client.c: whether the rayc API may be used here (not inside a
 * map function, not on a threaded actor's call threads); false with the
 * detail set, naming `what`. */
bool sdk_wk_usable(const char *what);

/* worker_client.c: the API inside a task (worker process only). */
ray_ref sdk_wk_submit(const char *name, uint64_t hash, const ray_arg *args,
                      uint32_t nargs, const ray_call_opts *opts);
ray_err sdk_wk_put(uint32_t type, const void *data, size_t len, ray_ref *out);
/* Get: the reply header (type, scalar, len) and a malloc'd copy of the
 * payload (*payload, NULL when len == 0). */
ray_err sdk_wk_get(ray_ref ref, sdk_msg_done *hdr, void **payload,
                   int64_t timeout_ms);
void sdk_wk_ref(ray_ref ref, bool retain);
/* The backend's borrow and borrow_ref: asked of the worker's runtime
 * (SDK_MSG_BORROW, _REF); not in a map or on an actor's pool thread. */
ray_err sdk_wk_borrow(ray_ref ref, ray_ref *local);
/* ray_get_stats inside a task: its runtime's (SDK_MSG_STATS). */
ray_err sdk_wk_stats(ray_stats *out);
ray_err sdk_wk_borrow_ref(ray_ref ref, bool retain);
ray_err sdk_wk_wait(const ray_ref *refs, size_t n, size_t num_ready,
                    int64_t timeout_ms, size_t *ready_idx, size_t *n_ready);
ray_err sdk_wk_cancel(ray_ref ref, bool force);

/* worker_main.c */
extern bool sdk_in_worker;

/* Worker: the runtime's reference tag (sdk_ref_tag). */
uint64_t sdk_wk_ref_tag(void);

/* Worker: the store client, connecting (and asking the driver to start
 * the store) on first use. NULL on failure, with the error detail set. */
store_client *sdk_wk_store(void);

/* Worker: the store ID of `key`. */
void sdk_wk_store_id(uint64_t key, store_object_id *out);

/* worker_client.c: an object id reserved from the driver; a request id
 * and the wait for its reply (worker only). */
ray_err sdk_wk_take_id(uint64_t *id);
/* A call with result `id` and `arg_bytes` bytes of arguments was
 * committed: expect its pushed result; past this worker's credit, wait
 * for results of its calls in flight first. */
void sdk_wk_submitted(uint64_t id, size_t arg_bytes);
uint64_t sdk_wk_next_req(void);
/* Wait up to `timeout_ms` for the answer to request `req`: RAY_OK with
 * its scalar in *scalar (if not NULL), or its error with the detail it
 * carries (`what` when it carries none). On a timeout a late answer is
 * dropped when it comes. */
ray_err sdk_wk_answer(uint64_t req, const char *what, uint64_t *scalar,
                      int64_t timeout_ms);

/* actor_host.c, inside an actor host (worker process): around a record
 * with SDK_TF_* flags and its decoded arguments. begin: RAY_OK to run the
 * tramp; RAY_EAGAIN when the record was deferred (its actor is inside a
 * call that waits: it runs after that call, nothing is sent now) or
 * handed to the actor's threads (max_concurrency > 1: they take the
 * arguments and their pins, args->npins becomes 0, and the result is
 * sent later); else an error for the call with msg. end: after the
 * tramp, with its error. after: once the result is sent (reports an
 * exit, runs deferred records). */
typedef struct sdk_ah_args {
    ray_arg av[RAY_MAX_ARGS];           /* decoded from `rec` */
    store_object_id pins[RAY_MAX_ARGS]; /* stored args pinned for them */
    uint32_t npins;
} sdk_ah_args;
ray_err sdk_ah_begin(uint32_t flags, const ray_fn_desc *d, char *msg, size_t n,
                     const uint8_t *rec, uint32_t len, sdk_ah_args *args);
void sdk_ah_end(uint32_t flags, ray_err err);
void sdk_ah_after(void);
/* Main thread of an actor host: send the results of calls that ran on
 * the threads of actors with max_concurrency > 1 (cheap when none). */
void sdk_ah_poll(void);
/* True when the pool has results for sdk_ah_poll (any thread). */
bool sdk_ah_pending(void);
/* True on such a thread (where the rayc API cannot be used). */
bool sdk_ah_on_pool_thread(void);

/* worker_main.c: the driver's timeline. trace_start: the clock now if
 * the driver records (else 0); trace_arm: the result sent next (by
 * sdk_wk_send_result or the executor) carries when its call ran, so the
 * driver has the event before the result (nothing if start_ns is 0).
 * Main thread only. */
int64_t sdk_wk_trace_start(void);
void sdk_wk_trace_arm(uint64_t task_id, uint64_t fn_hash, int64_t start_ns,
                      int64_t end_ns, uint32_t kind, uint32_t n);

/* worker_main.c, for actor_host.c (main thread): send a call's result
 * (err RAY_OK: *r) or its error; wake the worker loop from any thread. */
void sdk_wk_send_result(uint64_t task_id, ray_err err, const char *msg,
                        const ray_ret *r);
void sdk_wk_poke(void);

/* worker_main.c: unpin stored arguments pinned for a call. */
void sdk_wk_unpin(const store_object_id *ids, uint32_t n);

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
ray_err sdk_wk_actor_kill(ray_actor h, bool no_restart);
/* ray_actor_retain/_release inside a task: count a handle for this
 * worker, or drop one it counted (one-way messages). */
void sdk_wk_actor_ref(ray_actor h, bool retain);

#endif /* RAY_SDK_WORKER_INT_H */

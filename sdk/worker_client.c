/* SPDX-License-Identifier: Apache-2.0
 *
 * worker_client.c: the rayc API inside a task (worker processes only).
 *
 * Submits, puts and reference drops are one-way messages on the worker's
 * completion ring; the object ids they need come from blocks reserved
 * from the driver ahead of time (blocks of 4096, asked for early). Results
 * of the calls it makes are pushed to it (worker_results.c), so a get is
 * usually a table lookup; for any other ref it asks the driver for the
 * push. A wait that lasts declares the worker blocked, and the driver
 * moves the tasks queued behind the current one (they may be the very
 * tasks it waits for) to other workers, starting stand-ins for its CPU,
 * so a nested get returns when its result is done, a timeout holds, and
 * nested task graphs never deadlock: when every worker is blocked and no
 * stand-in can start, the driver lets blocked workers run queued tasks
 * inside their waits. ray_wait works the same way.
 * Single-threaded, like the worker.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "sdk/sdk_int.h"

#define ID_BLOCK 4096u

static uint64_t id_pool[ID_BLOCK];
static size_t id_n;
static uint64_t next_req = 1;

/* Replies that arrived while a nested task waited for its own: kept until
 * the outer wait looks for them. */
typedef struct stashed {
    struct stashed *next;
    sdk_msg_done hdr;
    void *payload;
} stashed;

static stashed *stash;

/* Requests whose wait timed out: their answers are dropped on arrival. */
static uint64_t *abandoned;
static size_t n_abandoned, cap_abandoned;

static void
abandon(uint64_t req)
{
    if (n_abandoned == cap_abandoned) {
        size_t cap = cap_abandoned ? 2 * cap_abandoned : 8;
        uint64_t *n = rt_realloc(abandoned, cap * sizeof(*n));
        if (!n)
            return; /* its answer will wait in the stash */
        abandoned = n;
        cap_abandoned = cap;
    }
    abandoned[n_abandoned++] = req;
}

/* True (and forgotten) if `req` was abandoned. */
static bool
was_abandoned(uint64_t req)
{
    for (size_t i = 0; i < n_abandoned; i++) {
        if (abandoned[i] == req) {
            abandoned[i] = abandoned[--n_abandoned];
            return true;
        }
    }
    return false;
}

static bool
take_stashed(uint64_t req, sdk_msg_done *hdr, void **payload)
{
    for (stashed **pp = &stash; *pp; pp = &(*pp)->next) {
        stashed *s = *pp;
        if (s->hdr.task_id == req) {
            *hdr = s->hdr;
            *payload = s->payload;
            *pp = s->next;
            rt_free(s);
            return true;
        }
    }
    return false;
}

static bool consumed_since_nudge;

static ray_err get_remote(uint64_t id, sdk_msg_done *hdr, void **payload,
                          int64_t timeout_ms);

/* Take one record off the reply ring, if any. A PUSH goes into the
 * results table; a REPLY to `req` is returned in *hdr and *payload (a
 * malloc'd copy, or NULL) with *got set; other replies are stashed for
 * the waits they answer. False when the ring is empty. */
static bool
take_reply(uint64_t req, sdk_msg_done *hdr, void **payload, bool *got)
{
    uint32_t type, len;
    const sdk_msg_done *d = sdk_wk_reply_peek(&type, &len);
    if (!d)
        return false;
    consumed_since_nudge = true;
    if (type == SDK_MSG_PUSH) {
        sdk_wk_results_push(d, d + 1);
        sdk_wk_reply_consume();
        return true;
    }
    sdk_msg_done h = *d;
    void *p = NULL;
    if (h.len && !(p = rt_malloc(h.len))) {
        h.err = RAY_ENOMEM;
        h.len = 0;
    } else if (h.len) {
        memcpy(p, d + 1, h.len);
    }
    sdk_wk_reply_consume();
    if (req && h.task_id == req) {
        *hdr = h;
        *payload = p;
        *got = true;
        return true;
    }
    if (was_abandoned(h.task_id)) {
        rt_free(p);
        return true;
    }
    /* An outer (suspended) wait's reply: keep it for later. */
    stashed *s = rt_malloc(sizeof(*s));
    if (s) {
        s->hdr = h;
        s->payload = p;
        s->next = stash;
        stash = s;
    } else {
        rt_free(p);
    }
    return true;
}

/* The ring is empty: if the driver holds replies back for lack of room,
 * say there is room now (once per drain). */
static void
nudge_if_held(void)
{
    if (!consumed_since_nudge || !sdk_wk_reply_backlog())
        return;
    consumed_since_nudge = false;
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    sdk_wk_commit(SDK_MSG_NUDGE, sizeof(*q));
    sdk_wk_flush(true);
}

/* Move what the reply ring holds into the results table and the stash
 * (keeps the ring from filling while a task submits many calls). */
static void
drain_replies(void)
{
    sdk_msg_done h;
    void *p;
    bool got = false;
    while (take_reply(0, &h, &p, &got))
        ;
    nudge_if_held();
}

/* Wait, taking in replies and pushes, until the reply to request `req`
 * arrives (req != 0: into *hdr and *payload, a copy of its bytes or NULL)
 * or pred(arg) holds (pred != NULL). RAY_OK, or RAY_ETIMEDOUT with the
 * detail set. After a short spin a task worker declares itself blocked:
 * the driver then runs the tasks queued here on other workers (starting
 * stand-ins for this CPU), so the wait ends when what it waits for is
 * done and never later than its deadline. Only when the driver says no
 * other worker can take them (sdk_wk_may_nest; always in an actor host)
 * does the wait run queued tasks itself. */
/* What a wait waits for: WAIT_WORK, results of work done elsewhere (the
 * worker declares itself blocked, see wait_loop); WAIT_DRIVER, the
 * driver's own bookkeeping (ids), answered behind what this worker sent
 * before: moving its queue or starting a stand-in would not speed that
 * up, only take CPU from the driver. */
enum { WAIT_WORK = 0, WAIT_DRIVER = 1 };

static ray_err
wait_loop(uint64_t req, sdk_msg_done *hdr, void **payload, bool (*pred)(void *),
          void *arg, uint64_t help, int kind, int64_t timeout_ms)
{
    sdk_wk_flush(true);
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    int64_t now = rt_clock_now_ns();
    int64_t spin_end = now + (int64_t)sdk_wk_spin_us() * 1000;
    uint32_t polls = 0;
    sdk_wk_helper helper = {0};
    int64_t blocked_ns = 0;
    ray_err e = RAY_OK;
    for (;;) {
        if (req && take_stashed(req, hdr, payload))
            break;
        bool got = false;
        if (take_reply(req, hdr, payload, &got)) {
            if (got)
                break;
            continue; /* drain the ring first */
        }
        nudge_if_held();
        if (pred && pred(arg))
            break;
        if (help && sdk_wk_help(help, &helper)) {
            sdk_wk_flush(false);
            continue;
        }
        if (sdk_wk_may_nest()) {
            sdk_wk_set_blocked(SDK_BLOCKED_NO); /* running */
            blocked_ns = 0;
            if (sdk_wk_run_one()) {
                sdk_wk_flush(false);
                continue;
            }
        }
        /* Read the clock every 64 empty polls while spinning. */
        if (now < spin_end && (++polls & 63) != 0) {
            rt_cpu_relax();
            continue;
        }
        now = rt_clock_now_ns();
        if (now >= deadline) {
            e = sdk_fail(RAY_ETIMEDOUT, "timed out waiting for the driver");
            break;
        }
        if (now < spin_end) {
            rt_cpu_relax();
            continue;
        }
        /* Blocked: the driver places what is queued here elsewhere. Past
         * a millisecond, it may also start a stand-in for this CPU (most
         * waits for a call that runs elsewhere end sooner). */
        if (!blocked_ns)
            blocked_ns = now;
        bool lasting =
            kind == WAIT_WORK && now - blocked_ns >= SDK_BLOCKED_LONG_NS;
        if (kind == WAIT_WORK)
            sdk_wk_set_blocked((help ? SDK_BLOCKED_HELPING : SDK_BLOCKED) |
                               (lasting ? SDK_BLOCKED_LONG : 0));
        int64_t left_us = (deadline - now) / 1000;
        int64_t nap_us =
            lasting || kind != WAIT_WORK
                ? 10000
                : (blocked_ns + SDK_BLOCKED_LONG_NS - now) / 1000 + 1;
        sdk_wk_idle_wait(left_us < nap_us ? left_us : nap_us);
    }
    sdk_wk_set_blocked(SDK_BLOCKED_NO);
    return e;
}

static ray_err
wait_reply(uint64_t req, sdk_msg_done *hdr, void **payload, int64_t timeout_ms)
{
    return wait_loop(req, hdr, payload, NULL, NULL, 0, WAIT_WORK, timeout_ms);
}

/* The pushed result of `*(uint64_t *)arg` is here (or was dropped). */
static bool
settled(void *arg)
{
    return sdk_wk_results_state(*(uint64_t *)arg, NULL) != SDK_RES_PENDING;
}

/* Wait for the pushed result of object `obj`; as wait_reply. */
static ray_err
wait_pushed(uint64_t obj, sdk_msg_done *hdr, void **payload, int64_t timeout_ms)
{
    /* Without a deadline, the task that makes it may run right here if
     * it waits in this worker's own queue: no wait can end sooner. */
    ray_err e = wait_loop(0, NULL, NULL, settled, &obj,
                          timeout_ms < 0 ? obj : 0, WAIT_WORK, timeout_ms);
    if (e != RAY_OK)
        return e;
    if (sdk_wk_results_take(obj, hdr, payload) == SDK_RES_READY)
        return RAY_OK;
    return get_remote(obj, hdr, payload, timeout_ms); /* no memory for it */
}

/* Ids per block: ID_BLOCK, or fewer when the answer (8 bytes each) would
 * not fit half of a small reply ring's record. */
static size_t
id_block(void)
{
    size_t fit = (sdk_wk_max_record() - sizeof(sdk_msg_done)) / 16;
    return fit < ID_BLOCK ? fit : ID_BLOCK;
}

/* Ask the driver for a block of ids (a request whose answer is taken
 * later). Returns the request id. */
static uint64_t
ask_ids(void)
{
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    uint64_t req = next_req++;
    q->req_id = req;
    q->len = id_block();
    sdk_wk_commit(SDK_MSG_IDS, sizeof(*q));
    return req;
}

/* Ids come in blocks of ID_BLOCK, and the next block is asked for when
 * half of the current one is left: a task that submits many calls does
 * not wait for the driver (it answers behind the calls already sent,
 * which can take milliseconds). How far a task may run ahead of its
 * calls is the credit's business (sdk_wk_submitted), not this one's. */
ray_err
sdk_wk_take_id(uint64_t *id)
{
    static uint64_t ids_req; /* a block asked for and not taken yet */
    if (id_n == 0) {
        uint64_t req = ids_req ? ids_req : ask_ids();
        ids_req = 0;
        sdk_msg_done h;
        void *p;
        ray_err e = wait_loop(req, &h, &p, NULL, NULL, 0, WAIT_DRIVER, 60000);
        if (e != RAY_OK) {
            abandon(req);
            return e;
        }
        if (h.err != RAY_OK || h.scalar == 0) {
            rt_free(p);
            return sdk_fail(RAY_ENOMEM, "driver could not reserve ids");
        }
        size_t n = h.scalar < ID_BLOCK ? h.scalar : ID_BLOCK;
        /* Hand them out in order: reverse into the stack. */
        for (size_t i = 0; i < n; i++)
            id_pool[i] = ((uint64_t *)p)[n - 1 - i];
        id_n = n;
        rt_free(p);
    }
    *id = id_pool[--id_n];
    if (id_n == id_block() / 2 && !ids_req && !sdk_wk_in_map())
        ids_req = ask_ids();
    return RAY_OK;
}

bool
sdk_wk_usable(const char *what)
{
    if (sdk_wk_in_map()) {
        sdk_fail(RAY_EINVAL, "%s: not allowed inside a map function", what);
        return false;
    }
    if (sdk_ah_on_pool_thread()) {
        sdk_fail(RAY_EINVAL,
                 "%s: not allowed in a method of an actor with "
                 "max_concurrency > 1 (its calls run on threads)",
                 what);
        return false;
    }
    return true;
}

static ray_err put_stored(uint32_t type, const void *data, size_t len,
                          ray_ref *out);
static ray_ref submit_record(const char *name, uint64_t hash,
                             const ray_arg *args, uint32_t nargs,
                             const ray_call_opts *opts);

/* Write `n` bytes of `s` at `at`, zero-padded to 8; returns the end. */
static uint8_t *
put_padded(uint8_t *at, const char *s, size_t n)
{
    if (!n)
        return at;
    size_t padded = SDK_ALIGN8(n);
    memset(at + padded - 8, 0, 8); /* the padding: no stale ring bytes */
    memcpy(at, s, n);
    return at + padded;
}

ray_err
sdk_wk_request(const sdk_wk_req *r, uint64_t *call_id)
{
    size_t args_len = sdk_args_wire_len(r->args, r->nargs);
    size_t len = sizeof(sdk_msg_req) + r->fixed_len +
                 SDK_ALIGN8(r->str_len[0]) + SDK_ALIGN8(r->str_len[1]) +
                 args_len;
    size_t max = sdk_wk_max_record();
    if (len > max)
        return sdk_fail(RAY_ETOOBIG,
                        "%s '%.200s' from a task: arguments "
                        "too large (the request is %zu bytes, a record "
                        "carries at most %zu)",
                        r->what, r->name, len, max);
    /* Only now: an id taken for a record never sent would stay pending
     * in the driver. */
    uint64_t id = 0;
    if (call_id) {
        ray_err e = sdk_wk_take_id(&id);
        if (e != RAY_OK)
            return e;
    }
    uint8_t *p = sdk_wk_reserve(len);
    sdk_msg_req *q = (sdk_msg_req *)p;
    *q = r->hdr;
    q->nargs = r->nargs;
    if (call_id)
        q->obj_id = id;
    uint8_t *at = p + sizeof(*q);
    if (r->fixed_len)
        memcpy(at, r->fixed, r->fixed_len);
    at = put_padded(at + r->fixed_len, r->str[0], r->str_len[0]);
    at = put_padded(at, r->str[1], r->str_len[1]);
    sdk_args_encode(at, r->args, r->nargs);
    sdk_wk_commit(r->type, len);
    if (call_id) {
        /* The bytes its buffers hold (scalars ride in the headers). */
        sdk_wk_submitted(id, args_len - r->nargs * sizeof(sdk_wire_arg));
        *call_id = id;
    }
    return RAY_OK;
}

/* Large by-value arguments are put into the node's object store first
 * and passed as references (the task takes its own reference before ours
 * is dropped: the ring keeps the order), so the record stays small. */
ray_err
sdk_wk_args_by_ref(const ray_arg *args, uint32_t nargs, ray_arg *conv,
                   ray_ref *temps, uint32_t *ntemps)
{
    *ntemps = 0;
    for (uint32_t i = 0; i < nargs && nargs <= RAY_MAX_ARGS; i++) {
        conv[i] = args[i];
        if (!sdk_type_buffer(args[i].type) ||
            args[i].v.buf.len < STORE_PLASMA_MIN)
            continue;
        ray_ref r;
        ray_err e =
            put_stored(args[i].type, args[i].v.buf.ptr, args[i].v.buf.len, &r);
        if (e != RAY_OK) {
            sdk_wk_drop_refs(temps, *ntemps);
            *ntemps = 0;
            return e; /* detail set */
        }
        conv[i].type = RAY_T_REF;
        conv[i].v.ref = r;
        temps[(*ntemps)++] = r;
    }
    return RAY_OK;
}

void
sdk_wk_drop_refs(const ray_ref *refs, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        sdk_wk_ref(refs[k], false);
}

ray_ref
sdk_wk_submit(const char *name, uint64_t hash, const ray_arg *args,
              uint32_t nargs, const ray_call_opts *opts)
{
    if (!sdk_wk_usable("submit"))
        return RAY_REF_NULL;
    ray_arg conv[RAY_MAX_ARGS];
    ray_ref temps[RAY_MAX_ARGS];
    uint32_t ntemps;
    if (sdk_wk_args_by_ref(args, nargs, conv, temps, &ntemps) != RAY_OK)
        return RAY_REF_NULL;
    ray_ref out = submit_record(name, hash, conv, nargs, opts);
    sdk_wk_drop_refs(temps, ntemps);
    return out;
}

static ray_ref
submit_record(const char *name, uint64_t hash, const ray_arg *args,
              uint32_t nargs, const ray_call_opts *opts)
{
    if (opts && opts->name)
        name = opts->name;
    size_t name_len = strlen(name);
    sdk_wk_req r = {
        .type = SDK_MSG_SUBMIT,
        .hdr = {.fn_hash = hash,
                .max_retries = opts ? opts->max_retries : 0,
                .name_len = (uint32_t)name_len},
        .str = {name},
        .str_len = {name_len},
        .args = args,
        .nargs = nargs,
        .what = "submit",
        .name = name,
    };
    uint64_t id;
    return sdk_wk_request(&r, &id) == RAY_OK ? sdk_ref(id) : RAY_REF_NULL;
}

/* A large put from a task: the value goes into the node's object store
 * and the driver gets only its key, as a stored-value descriptor. */
static ray_err
put_stored(uint32_t type, const void *data, size_t len, ray_ref *out)
{
    store_client *c = sdk_wk_store();
    if (!c)
        return RAY_ESTORE_FULL; /* detail set */
    uint64_t id;
    ray_err e = sdk_wk_take_id(&id);
    if (e != RAY_OK)
        return e;
    uint64_t key = STORE_KEY_TASK_PUT | (id & ~STORE_KEY_TASK_PUT);
    store_object_id sid;
    sdk_wk_store_id(key, &sid);
    char msg[400];
    e = store_plasma_write(c, &sid, data, len, 1000, msg, sizeof(msg));
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q) + 8);
    memset(q, 0, sizeof(*q));
    q->obj_id = id;
    q->type = e == RAY_OK ? (type | SDK_TYPE_STORED) : RAY_T_NONE;
    q->len = e == RAY_OK ? 8 : 0; /* a failed put still settles the id */
    memcpy(q + 1, &key, 8);
    sdk_wk_commit(SDK_MSG_PUT, sizeof(*q) + 8);
    if (e != RAY_OK) {
        ray_ref_release(sdk_ref(id));
        return sdk_fail(e, "ray_put from a task: %s", msg);
    }
    *out = sdk_ref(id);
    return RAY_OK;
}

ray_err
sdk_wk_put(uint32_t type, const void *data, size_t len, ray_ref *out)
{
    if (!sdk_wk_usable("ray_put"))
        return RAY_EINVAL;
    if (len >= STORE_PLASMA_MIN && sdk_type_buffer(type))
        return put_stored(type, data, len, out);
    if (sizeof(sdk_msg_req) + len > sdk_wk_max_record())
        return sdk_fail(RAY_ETOOBIG, "ray_put from a task: value too large");
    uint64_t id;
    ray_err e = sdk_wk_take_id(&id);
    if (e != RAY_OK)
        return e;
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q) + len);
    memset(q, 0, sizeof(*q));
    q->obj_id = id;
    q->type = type;
    q->len = len;
    if (len)
        memcpy(q + 1, data, len);
    sdk_wk_commit(SDK_MSG_PUT, sizeof(*q) + len);
    *out = sdk_ref(id);
    return RAY_OK;
}

/* Expect object `id`'s value as a push and ask the driver for it. False
 * when the table has no room (then ask with a plain request). */
static bool
watch(uint64_t id)
{
    sdk_wk_results_expect(id);
    if (sdk_wk_results_state(id, NULL) == SDK_RES_UNKNOWN)
        return false;
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    q->obj_id = id;
    sdk_wk_commit(SDK_MSG_WATCH, sizeof(*q));
    return true;
}

/* Ask the driver for object `id` and wait for its answer. */
static ray_err
get_remote(uint64_t id, sdk_msg_done *hdr, void **payload, int64_t timeout_ms)
{
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    uint64_t req = next_req++;
    q->req_id = req;
    q->obj_id = id;
    sdk_wk_commit(SDK_MSG_GET, sizeof(*q));
    return wait_reply(req, hdr, payload, timeout_ms);
}

ray_err
sdk_wk_get(ray_ref ref, sdk_msg_done *hdr, void **payload, int64_t timeout_ms)
{
    if (!sdk_wk_usable("ray_get"))
        return RAY_EINVAL;
    if (ref.id == 0)
        return sdk_fail(RAY_EINVAL, "ray_get: null reference");
    ray_err e;
    switch (sdk_wk_results_take(ref.id, hdr, payload)) {
    case SDK_RES_READY:
        e = RAY_OK;
        break;
    case SDK_RES_PENDING: /* a call this worker made: its result comes */
        e = wait_pushed(ref.id, hdr, payload, timeout_ms);
        break;
    default: /* ask for a push: a late answer then waits in the table */
        e = watch(ref.id) ? wait_pushed(ref.id, hdr, payload, timeout_ms)
                          : get_remote(ref.id, hdr, payload, timeout_ms);
    }
    if (e != RAY_OK)
        return e;
    if (hdr->err != RAY_OK) {
        e = sdk_fail((ray_err)hdr->err, "%s",
                     *payload ? (const char *)*payload : "");
        rt_free(*payload);
        *payload = NULL;
        return e;
    }
    return RAY_OK;
}

void
sdk_wk_ref(ray_ref ref, bool retain)
{
    if (ref.id == 0 || sdk_wk_in_map() || sdk_ah_on_pool_thread())
        return;
    if (!retain)
        sdk_wk_results_forget(ref.id);
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    q->obj_id = ref.id;
    sdk_wk_commit(retain ? SDK_MSG_RETAIN : SDK_MSG_RELEASE, sizeof(*q));
}

ray_err
sdk_wk_stats(ray_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (sdk_wk_in_map() || sdk_ah_on_pool_thread() ||
        !sdk_wk_usable("ray_get_stats"))
        return RAY_EINVAL;
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    uint64_t req = next_req++;
    q->req_id = req;
    sdk_wk_commit(SDK_MSG_STATS, sizeof(*q));
    sdk_msg_done h;
    void *p = NULL;
    ray_err e = wait_reply(req, &h, &p, -1);
    if (e == RAY_OK && p && h.len >= sizeof(*out))
        memcpy(out, p, sizeof(*out));
    else if (e == RAY_OK)
        e = sdk_fail(RAY_EPROTO, "ray_get_stats: a short answer");
    rt_free(p);
    return e;
}

ray_err
sdk_wk_borrow(ray_ref ref, ray_ref *local)
{
    if (sdk_wk_in_map() || sdk_ah_on_pool_thread() || !sdk_wk_usable("ray_get"))
        return RAY_EINVAL;
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    uint64_t req = next_req++;
    q->req_id = req;
    q->obj_id = ref.id;
    q->fn_hash = ref.owner;
    sdk_wk_commit(SDK_MSG_BORROW, sizeof(*q));
    uint64_t id = 0;
    ray_err e = sdk_wk_answer(req, "a borrowed ref", &id, -1);
    *local = e == RAY_OK ? sdk_ref(id) : RAY_REF_NULL;
    return e;
}

ray_err
sdk_wk_borrow_ref(ray_ref ref, bool retain)
{
    if (sdk_wk_in_map() || sdk_ah_on_pool_thread() ||
        !sdk_wk_usable("ray_ref_retain"))
        return RAY_EINVAL;
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    uint64_t req = retain ? next_req++ : 0; /* a retain is answered */
    q->req_id = req;
    q->obj_id = ref.id;
    q->fn_hash = ref.owner;
    q->len = retain;
    sdk_wk_commit(SDK_MSG_BORROW_REF, sizeof(*q));
    return retain ? sdk_wk_answer(req, "ray_ref_retain: a foreign reference",
                                  NULL, -1)
                  : RAY_OK;
}

/* The credit of a task that floods calls: about how many bytes of
 * arguments its calls in flight (sent, result not yet pushed back) may
 * hold before its next call waits for results, and how many calls. The
 * driver keeps each queued call's arguments: without a bound, a task
 * making calls with kilobytes of arguments runs thousands of them ahead
 * of the actor that runs them, and the driver's fresh memory for the
 * queue (a page fault per 4 KiB, an exit on a VM) costs more than the
 * calls: n_n_actor_calls_with_arg_async on 2 cores, 185k calls/s
 * unbounded, 340k with 256 KiB. Calls with small arguments hold little
 * and never wait before CREDIT_CALLS: pacing them (tried at 4,096) cost
 * n_n_actor_calls_async 10 %. The bound follows what the calls do, not
 * what the driver has taken in. A wait that lasts (calls that cannot
 * finish before this task goes on) doubles the credit instead of waiting
 * on: the credit paces, it never deadlocks. */
#define CREDIT_BYTES (256u << 10)
#define CREDIT_CALLS (64u << 10)
#define CREDIT_WAIT_NS (100 * 1000 * 1000)

static struct {
    size_t scale;    /* 1, doubled after each lasting wait */
    size_t avg_args; /* running mean of a call's argument bytes */
    int64_t give_up_ns;
} credit = {1, 0, 0};

/* Calls in flight allowed now. */
static size_t
credit_limit(void)
{
    size_t by_bytes = CREDIT_BYTES / (credit.avg_args ? credit.avg_args : 1);
    size_t lim = by_bytes < CREDIT_CALLS ? by_bytes : CREDIT_CALLS;
    return (lim < 64 ? 64 : lim) * credit.scale;
}

static bool
credit_back(void *arg)
{
    (void)arg;
    return sdk_wk_results_pending() <= credit_limit() / 2 ||
           rt_clock_now_ns() >= credit.give_up_ns;
}

void
sdk_wk_submitted(uint64_t id, size_t arg_bytes)
{
    static uint32_t n;
    sdk_wk_results_expect(id);
    credit.avg_args = (credit.avg_args * 15 + arg_bytes) / 16;
    if ((++n & 63) != 0)
        return;
    drain_replies();
    if (sdk_wk_results_pending() <= credit_limit())
        return;
    credit.give_up_ns = rt_clock_now_ns() + CREDIT_WAIT_NS;
    (void)wait_loop(0, NULL, NULL, credit_back, NULL, 0, WAIT_WORK, -1);
    if (sdk_wk_results_pending() > credit_limit() / 2 && credit.scale < 1024)
        credit.scale *= 2; /* calls that wait for this task: pace less */
}

/* For actor_client.c: a fresh request id (the answer: sdk_wk_answer). */
uint64_t
sdk_wk_next_req(void)
{
    return next_req++;
}

ray_err
sdk_wk_answer(uint64_t req, const char *what, uint64_t *scalar,
              int64_t timeout_ms)
{
    sdk_msg_done h;
    void *p = NULL;
    ray_err e = wait_reply(req, &h, &p, timeout_ms);
    if (e == RAY_ETIMEDOUT)
        abandon(req);
    if (e != RAY_OK)
        return e;
    if (h.err != RAY_OK)
        e = sdk_fail((ray_err)h.err, "%s", p ? (const char *)p : what);
    else if (scalar)
        *scalar = h.scalar;
    rt_free(p);
    return e;
}

/* ---- ray_wait and ray_cancel inside a task ---- */

typedef struct wk_wait {
    const ray_ref *refs;
    size_t n, want;
} wk_wait;

static bool
enough_ready(void *arg)
{
    wk_wait *w = arg;
    size_t k = 0;
    for (size_t i = 0; i < w->n && k < w->want; i++)
        k += w->refs[i].id == 0 ||
             sdk_wk_results_state(w->refs[i].id, NULL) == SDK_RES_READY;
    return k >= w->want;
}

typedef struct ready_ent {
    uint64_t seq;
    size_t idx;
} ready_ent;

static int
cmp_ready(const void *a, const void *b)
{
    const ready_ent *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every ref's result comes here as a push: the calls this worker made
 * already do; for the others the driver is asked to push (WATCH). */
ray_err
sdk_wk_wait(const ray_ref *refs, size_t n, size_t num_ready, int64_t timeout_ms,
            size_t *ready_idx, size_t *n_ready)
{
    if (!sdk_wk_usable("ray_wait"))
        return RAY_EINVAL;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = refs[i].id;
        if (id != 0 && sdk_wk_results_state(id, NULL) == SDK_RES_UNKNOWN &&
            !watch(id))
            return sdk_fail(RAY_ENOMEM, "ray_wait: out of memory");
    }
    wk_wait w = {refs, n, num_ready ? num_ready : 1};
    if (n)
        (void)wait_loop(0, NULL, NULL, enough_ready, &w, 0, WAIT_WORK,
                        timeout_ms);
    ready_ent *ents = rt_malloc((n ? n : 1) * sizeof(*ents));
    if (!ents)
        return sdk_fail(RAY_ENOMEM, "ray_wait: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = 0;
        if (refs[i].id == 0 ||
            sdk_wk_results_state(refs[i].id, &seq) == SDK_RES_READY)
            ents[k++] = (ready_ent){seq, i};
    }
    qsort(ents, k, sizeof(*ents), cmp_ready);
    for (size_t i = 0; i < k; i++)
        ready_idx[i] = ents[i].idx;
    *n_ready = k;
    rt_free(ents);
    return RAY_OK;
}

ray_err
sdk_wk_cancel(ray_ref ref, bool force)
{
    if (!sdk_wk_usable("ray_cancel"))
        return RAY_EINVAL;
    if (!sdk_ref_id(ref))
        return sdk_fail(RAY_EINVAL, "ray_cancel: null, released or foreign "
                                    "reference");
    sdk_msg_req *q = sdk_wk_reserve(sizeof(*q));
    memset(q, 0, sizeof(*q));
    uint64_t req = next_req++;
    q->req_id = req;
    q->obj_id = ref.id;
    q->len = force;
    sdk_wk_commit(SDK_MSG_CANCEL, sizeof(*q));
    return sdk_wk_answer(req, "ray_cancel failed", NULL, 60000);
}

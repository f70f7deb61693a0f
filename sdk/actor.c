/* SPDX-License-Identifier: Apache-2.0
 *
 * actor.c: the driver's actor runtime: placement on actor hosts, the
 * per-actor call queue, lifetime, deaths and restarts.
 *
 * Actors run in actor hosts: worker processes in the slots after the task
 * workers (workers[ntask .. nslots)), so task workers are never taken
 * (an actor's CPUs hold that many task workers idle instead). Each actor
 * gets a host to itself while ray_config.actor_processes allows, so
 * actors run in parallel and crash alone; past that, actors that need no
 * CPU share the least loaded host (up to SDK_HOST_CAP each): a thousand
 * actors must start in well under a second, and a thousand processes
 * would not fit a small machine. One started, empty host is kept as a
 * spare once actors are in use.
 * A host's process is the raylet's (sched_raylet_start_host: spawned on
 * its thread), but its rings are formatted at once, so records can be
 * queued before the process runs.
 *
 * Every record sent to a host is a pooled sdk_task with t->actor set and
 * SDK_TF_* flags: NEW (constructor), CALL, DEL (destructor), DROP (kill).
 * An actor's records wait in its FIFO queue until their ref arguments are
 * ready and the actor is placed, then go straight into the host's ring in
 * queue order (no scheduler); the host runs its ring in order, so calls
 * run in the order the driver received them. State lives in the control
 * service's table (scheduler/gcs/actor_table); this file keeps the rest.
 *
 * All functions run with sdk_g->mu held unless they are public entry
 * points (which take it).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/log.h"
#include "scheduler/gcs/actor_table.h"
#include "sdk/actor_int.h"

/* ---- small helpers ---- */

static sdk_actors *
S(sdk_rt *rt)
{
    return rt->actors;
}

sdk_actor *
sdk_actor_find(sdk_rt *rt, uint64_t id)
{
    gcs_actor *g = gcs_actor_get(&S(rt)->table, id);
    return g ? g->user : NULL;
}

static void
q_push_back(sdk_actor *a, sdk_task *t)
{
    t->next = NULL;
    t->prev = a->qtail;
    if (a->qtail)
        a->qtail->next = t;
    else
        a->qhead = t;
    a->qtail = t;
}

static void
q_push_front(sdk_actor *a, sdk_task *t)
{
    t->prev = NULL;
    t->next = a->qhead;
    if (a->qhead)
        a->qhead->prev = t;
    else
        a->qtail = t;
    a->qhead = t;
}

static void
q_remove(sdk_actor *a, sdk_task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        a->qhead = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        a->qtail = t->prev;
    t->next = t->prev = NULL;
}

/* Resolve a task's result with an error (if still pending). */
static void
resolve(sdk_rt *rt, sdk_task *t, ray_err err, const char *msg, sdk_cb **cbs)
{
    sdk_obj *o = t->result;
    if (!o || o->state != SDK_OBJ_PENDING)
        return;
    sdk_objects_set_error(&rt->store, o, err, msg);
    sdk_object_done(rt, o, cbs);
}

/* Finish (free) a task of actor `a` that will not be sent (again). */
static void
drop_task(sdk_rt *rt, sdk_actor *a, sdk_task *t, sdk_cb **cbs)
{
    a->ntasks--;
    t->actor = NULL;
    sdk_task_finish(rt, t, cbs);
}

/* A new task for actor `a`: `spec` (wire args, no refs unless has_refs,
 * whose refs the caller already retained) is copied. Its result object
 * has one reference for the task and, if `ref` is not NULL, one for the
 * caller (*ref). NULL on out of memory. */
sdk_task *
sdk_actor_new_task(sdk_rt *rt, sdk_actor *a, uint32_t kind, uint64_t hash,
                   const char *name, const uint8_t *spec, uint32_t spec_len,
                   uint32_t nargs, sdk_obj *given, ray_ref *ref)
{
    sdk_task *t = sdk_task_alloc(rt);
    if (!t)
        return NULL;
    if (spec_len > sizeof(t->spec_inl) && !(t->spec = rt_malloc(spec_len))) {
        t->spec = t->spec_inl;
        sdk_task_free(rt, t);
        return NULL;
    }
    if (spec_len)
        memcpy(t->spec, spec, spec_len);
    uint64_t id = 0;
    sdk_obj *o = given;
    if (!o && sdk_objects_alloc(&rt->store, &id, &o) != RAY_OK) {
        sdk_task_free(rt, t);
        return NULL;
    }
    t->spec_len = spec_len;
    t->nargs = nargs;
    t->id = rt->next_task_id++;
    t->fn_hash = hash;
    t->name = name;
    t->kind = SDK_TK_CALL;
    t->wire_flags = kind;
    t->actor = a;
    int32_t r = a->g->max_task_retries;
    t->retries_left = r < 0 ? INT32_MAX : r;
    sdk_objects_retain(o); /* the task's */
    o->producer = t;
    o->task = 1;
    t->result = o;
    if (ref)
        *ref = sdk_ref(id);
    else if (!given)
        sdk_objects_release(&rt->store, o);
    a->ntasks++;
    return t;
}

/* ---- resources and placement ---- */

/* The scheduler's key for the task workers `a` holds (never a task id). */
static uint64_t
hold_key(const sdk_actor *a)
{
    return (1ull << 62) | a->g->id;
}

static void
release_demand(sdk_rt *rt, sdk_actor *a)
{
    if (a->held) {
        rt->rl_api->unhold(rt->rl, hold_key(a), a->cpu_workers,
                           a->has_demand ? &a->demand : NULL, a->bundle);
        a->held = false;
    }
}

static void
wait_list_remove(sdk_actors *s, sdk_actor *a)
{
    if (!a->waiting)
        return;
    for (sdk_actor **pp = &s->wait_head; *pp; pp = &(*pp)->next_wait) {
        if (*pp == a) {
            *pp = a->next_wait;
            break;
        }
    }
    a->waiting = false;
    a->next_wait = NULL;
}

/* Ask the raylet for host h's process: its rings are ready at once (so
 * records can be queued), the process starts on the raylet's thread; a
 * start that fails comes back as the host's death (never started). */
static void
host_format(sdk_rt *rt, sdk_host *h)
{
    h->started = true;
    h->dying = false;
    ray_err e = rt->rl_api->start_host(rt->rl, h->w);
    if (e != RAY_OK) {
        sched_worker *pw = sdk_proc_worker(rt, h->w);
        snprintf(pw->start_err, sizeof(pw->start_err), "%s", ray_strerror(e));
        RT_ERROR("cannot start an actor process: %s", pw->start_err);
        /* As a death that never started: its actors die (callbacks run
         * when mu is released). */
        sdk_worker_died(rt, h->w, 0, true, &rt->later_cbs);
    }
}

/* A host for `a`. Each actor gets a process of its own while there are
 * free host slots (an idle running one first, else a new one), so actors
 * run in parallel and a crash ends only the actor that crashed. Past
 * that, actors that may share go to the shared host with the fewest
 * actors. NULL when there is no room. */
static sdk_host *
pick_host(sdk_rt *rt, sdk_actor *a)
{
    sdk_actors *s = S(rt);
    sdk_host *empty = NULL, *least = NULL;
    for (int i = 0; i < rt->cfg.actor_processes; i++) {
        sdk_host *h = &s->hosts[i];
        if (h->dying)
            continue;
        if (h->used == 0) {
            if (!empty || (h->started && !empty->started))
                empty = h; /* prefer a running process */
            continue;
        }
        if (!a->own && !h->own && h->used < SDK_HOST_CAP &&
            (!least || h->used < least->used))
            least = h;
    }
    return empty ? empty : least;
}

void
sdk_actor_answer_ready(sdk_rt *rt, sdk_actor *a)
{
    bool dead = a->g->state == GCS_ACTOR_DEAD;
    const char *m = dead && a->g->death_msg ? a->g->death_msg : "";
    while (a->ready_waiters) {
        sdk_ready_waiter *r = a->ready_waiters;
        a->ready_waiters = r->next;
        if (sched_worker_alive(sdk_proc_worker(rt, r->w)) &&
            sdk_proc_worker(rt, r->w)->deaths == r->deaths)
            sdk_nested_reply(rt, r->w, r->req,
                             dead ? (ray_err)a->g->death_err : RAY_OK,
                             RAY_T_NONE, 0, m, strlen(m) + 1);
        rt_free(r);
    }
}

void
sdk_actor_free_ctor(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs)
{
    if (a->ctor_handles) {
        a->ctor_handles = false;
        sdk_actor_hold_args(rt, a->ctor_spec, a->ctor_nargs, -1, cbs);
    }
    if (a->ctor_refs)
        sdk_spec_refs(rt, a->ctor_spec, a->ctor_nargs, false);
    rt_free(a->ctor_spec);
    a->ctor_spec = NULL;
    a->ctor_refs = false;
}

/* The constructor's record (`flags`: SDK_TF_NEW and more). Ref arguments
 * get the task's own holds and dependency links: it is not sent before
 * they are ready. NULL on out of memory. */
static sdk_task *
new_ctor_task(sdk_rt *rt, sdk_actor *a, uint32_t flags)
{
    sdk_task *t = sdk_actor_new_task(rt, a, flags | a->conc << 20, a->ctor_hash,
                                     a->ctor_name, a->ctor_spec, a->ctor_len,
                                     a->ctor_nargs, NULL, NULL);
    if (t)
        t->has_handles = a->ctor_handles &&
                         sdk_actor_hold_args(rt, t->spec, t->nargs, 1, NULL);
    if (!t || !a->ctor_refs)
        return t;
    sdk_spec_refs(rt, t->spec, t->nargs, true); /* the record's own */
    t->has_refs = 1;
    sdk_task_add_deps(rt, t);
    return t;
}

/* Once actors are in use, keep one actor process started and empty, so
 * the next creation does not wait for a process to start (a spawn costs
 * about 1.5 ms; the monitor starts the spare in the background). */
static void
keep_spare(sdk_rt *rt)
{
    sdk_actors *s = S(rt);
    sdk_host *fresh = NULL;
    for (int i = 0; i < rt->cfg.actor_processes; i++) {
        sdk_host *h = &s->hosts[i];
        if (h->dying)
            continue;
        if (h->started && h->used == 0)
            return; /* there is one */
        if (!h->started && h->used == 0 && !fresh)
            fresh = h;
    }
    if (fresh && !atomic_load(&rt->stopping))
        host_format(rt, fresh);
}

/* Resources and a host for `a` (DEPENDENCIES_UNREADY -> PENDING): the
 * constructor goes to the front of its queue. False if it must wait. */
static bool
try_place(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs)
{
    sdk_actors *s = S(rt);
    if (a->bundle && sdk_pg_pending(a->bundle))
        return false; /* its group is not created yet */
    if (!a->held) {
        if (!rt->rl_api->hold(rt->rl, hold_key(a), a->cpu_workers,
                              a->has_demand ? &a->demand : NULL, a->bundle))
            return false; /* resources, or CPUs multi-CPU tasks hold */
        a->held = true;
    }
    sdk_host *h = pick_host(rt, a);
    if (!h)
        return false;
    sdk_task *t = new_ctor_task(rt, a, SDK_TF_NEW);
    if (!t) {
        release_demand(rt, a);
        sdk_actor_die(rt, a, RAY_ENOMEM, "out of memory starting the actor",
                      cbs);
        return true;
    }
    if (h->used == 0)
        h->own = a->own;
    uint32_t k = 0;
    while (h->ids[k])
        k++;
    h->ids[k] = a->g->id;
    h->used++;
    a->host = (int)(h - s->hosts);
    a->g->host = h->w;
    a->g->host_slot = k;
    if (t->ndeps == 0) /* else DEPENDENCIES_UNREADY until they are */
        gcs_actor_transition(&s->table, a->g, GCS_ACTOR_PENDING);
    q_push_front(a, t);
    if (!h->started)
        host_format(rt, h);
    keep_spare(rt);
    return true;
}

/* Place actors waiting for resources or a host, in creation order;
 * those whose placement group is pending wait without holding up the
 * others. */
static void
place_waiting(sdk_rt *rt, sdk_cb **cbs)
{
    sdk_actors *s = S(rt);
    sdk_actor *a = s->wait_head;
    while (a) {
        sdk_actor *next = a->next_wait;
        if (a->bundle && sdk_pg_pending(a->bundle)) {
            a = next;
            continue;
        }
        if (!try_place(rt, a, cbs))
            return;
        wait_list_remove(s, a);
        sdk_actor_pump(rt, a, cbs);
        a = next;
    }
}

void
sdk_actors_place(sdk_rt *rt, sdk_cb **cbs)
{
    place_waiting(rt, cbs);
}

/* Give up `a`'s host slot (the host no longer runs it). */
static void
leave_host(sdk_rt *rt, sdk_actor *a)
{
    if (a->host < 0)
        return;
    sdk_host *h = &S(rt)->hosts[a->host];
    uint32_t k = a->g->host_slot;
    if (k < SDK_HOST_CAP && h->ids[k] == a->g->id) {
        h->ids[k] = 0;
        h->used--;
    }
    a->host = -1;
    a->g->host = -1;
}

/* ---- the queue ---- */

void
sdk_actor_pump(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs)
{
    if (a->host < 0)
        return;
    sdk_host *h = &S(rt)->hosts[a->host];
    sdk_worker *wk = &rt->workers[h->w];
    bool pushed = false;
    while (a->qhead && a->qhead->ndeps == 0) {
        sdk_task *t = a->qhead;
        if (t->cancelled) {
            q_remove(a, t);
            drop_task(rt, a, t, cbs);
            continue;
        }
        if (t->has_refs) {
            /* A failed argument fails the call (not the actor). */
            bool failed = false;
            const sdk_wire_arg *wa = (const sdk_wire_arg *)t->spec;
            for (uint32_t i = 0; i < t->nargs && !failed; i++) {
                sdk_obj *o = wa[i].type == RAY_T_REF
                                 ? sdk_objects_lookup(&rt->store, wa[i].scalar)
                                 : NULL;
                if (o && o->state == SDK_OBJ_FAILED) {
                    char msg[600];
                    bool ctor = (t->wire_flags & SDK_TF_KIND) == SDK_TF_NEW;
                    snprintf(msg, sizeof(msg),
                             "%s '%s': argument %u failed: "
                             "%s",
                             ctor ? "its constructor" : "actor call", t->name,
                             i + 1,
                             o->errmsg ? o->errmsg : ray_strerror(o->err));
                    q_remove(a, t);
                    resolve(rt, t, o->err, msg, cbs);
                    drop_task(rt, a, t, cbs);
                    failed = true;
                    if (ctor) { /* the actor never ran: it is dead */
                        sdk_actor_die(rt, a, RAY_EACTOR_DIED, msg, cbs);
                        leave_host(rt, a);
                        place_waiting(rt, cbs);
                        sdk_actor_maybe_free(rt, a, cbs);
                        return;
                    }
                }
            }
            if (failed)
                continue;
        }
        t->wire_flags = (t->wire_flags & 0xfff000ffu) | (a->g->host_slot << 8);
        q_remove(a, t);
        ray_err e = sdk_push_to_worker(rt, h->w, t);
        if (e == RAY_EAGAIN) {
            q_push_front(a, t);
            if (!a->backlog) {
                a->backlog = true;
                a->next_backlog = S(rt)->backlog;
                S(rt)->backlog = a;
            }
            break;
        }
        if (e != RAY_OK) {
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "actor call '%s': arguments too large "
                     "(%s)",
                     t->name, ray_strerror(e));
            resolve(rt, t, e, msg, cbs);
            drop_task(rt, a, t, cbs);
            continue;
        }
        a->inflight++;
        pushed = true;
    }
    if (pushed) {
        sdk_tx_flush(rt->tx, sdk_windex(rt, wk));
        sdk_slot(rt, sdk_windex(rt, wk))->dirty = 0;
    }
}

void
sdk_actors_dispatch(sdk_rt *rt, sdk_cb **cbs)
{
    sdk_actors *s = S(rt);
    if (!s || !s->backlog)
        return;
    sdk_actor *list = s->backlog;
    s->backlog = NULL;
    while (list) {
        sdk_actor *a = list;
        list = a->next_backlog;
        a->backlog = false;
        a->next_backlog = NULL;
        sdk_actor_pump(rt, a, cbs);
    }
}

void
sdk_actor_dep_ready(sdk_rt *rt, sdk_task *t, sdk_cb **cbs)
{
    sdk_actor *a = t->actor;
    if (a->g->state == GCS_ACTOR_DEAD) {
        q_remove(a, t);
        drop_task(rt, a, t, cbs);
        sdk_actor_maybe_free(rt, a, cbs);
        return;
    }
    if ((t->wire_flags & SDK_TF_KIND) == SDK_TF_NEW &&
        a->g->state == GCS_ACTOR_DEPENDENCIES_UNREADY)
        gcs_actor_transition(&S(rt)->table, a->g, GCS_ACTOR_PENDING);
    if (a->qhead == t)
        sdk_actor_pump(rt, a, cbs);
}

void
sdk_actor_cancel(sdk_rt *rt, sdk_task *t, sdk_cb **cbs)
{
    sdk_actor *a = t->actor;
    if (t->ndeps > 0)
        return; /* finished when its arguments resolve */
    q_remove(a, t);
    drop_task(rt, a, t, cbs);
    sdk_actor_pump(rt, a, cbs);
}

/* ---- death ---- */

void
sdk_actor_maybe_free(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs)
{
    if (a->g->state != GCS_ACTOR_DEAD || a->g->handles || a->ntasks ||
        a->host >= 0)
        return;
    sdk_actors *s = S(rt);
    wait_list_remove(s, a);
    sdk_actor_free_ctor(rt, a, cbs);
    gcs_actor_remove(&s->table, a->g);
    sdk_pg_release(rt, a->bundle);
    rt_free(a);
}

void
sdk_actor_die(sdk_rt *rt, sdk_actor *a, ray_err err, const char *why,
              sdk_cb **cbs)
{
    sdk_actors *s = S(rt);
    if (a->g->state == GCS_ACTOR_DEAD)
        return;
    char msg[700];
    snprintf(msg, sizeof(msg), "actor %s%s%s%s is dead: %s", a->ctor_cls,
             a->g->name ? " '" : "", a->g->name ? a->g->name : "",
             a->g->name ? "'" : "", why);
    gcs_actor_set_dead(&s->table, a->g, err, msg);
    sdk_actor_answer_ready(rt, a);
    bool freed_workers = a->held && a->cpu_workers;
    release_demand(rt, a);
    wait_list_remove(s, a);
    /* Queued calls: resolve now; free those whose arguments are ready. */
    for (sdk_task *t = a->qhead, *n; t; t = n) {
        n = t->next;
        resolve(rt, t, RAY_EACTOR_DIED, msg, cbs);
        if (t->ndeps == 0) {
            q_remove(a, t);
            drop_task(rt, a, t, cbs);
        } else {
            t->cancelled = 1;
        }
    }
    /* Calls in flight: resolve now; their records finish later. */
    if (a->host >= 0) {
        sdk_worker *wk = &rt->workers[s->hosts[a->host].w];
        for (sdk_task *t = wk->head; t; t = t->next)
            if (t->actor == a)
                resolve(rt, t, RAY_EACTOR_DIED, msg, cbs);
    }
    place_waiting(rt, cbs);
    if (freed_workers && rt->rl_api->waiting(rt->rl))
        sdk_dispatch(rt, cbs); /* tasks may use its CPUs now */
}

/* Send a record that ends the actor in its host (DEL runs the destructor,
 * DROP does not); the host slot is freed when it completes. */
static void
send_end(sdk_rt *rt, sdk_actor *a, uint32_t kind, sdk_cb **cbs)
{
    if (a->host < 0)
        return;
    sdk_task *t = sdk_actor_new_task(rt, a, kind, a->dtor_hash, a->ctor_name,
                                     NULL, 0, 0, NULL, NULL);
    if (!t) {
        leave_host(rt, a); /* cannot tell the host; lose the slot cleanly */
        return;
    }
    q_push_back(a, t);
    sdk_actor_pump(rt, a, cbs);
}

void
sdk_actor_enqueue(sdk_rt *rt, sdk_actor *a, sdk_task *t, sdk_cb **cbs)
{
    q_push_back(a, t);
    if (a->g->state == GCS_ACTOR_DEAD) {
        resolve(rt, t, (ray_err)a->g->death_err, a->g->death_msg, cbs);
        if (t->ndeps == 0) {
            q_remove(a, t);
            drop_task(rt, a, t, cbs);
        } else {
            t->cancelled = 1;
        }
        return;
    }
    sdk_actor_pump(rt, a, cbs);
}

void
sdk_actor_start(sdk_rt *rt, sdk_actor *a, sdk_cb **cbs)
{
    sdk_actors *s = S(rt);
    if (!s->wait_head && try_place(rt, a, cbs)) {
        sdk_actor_pump(rt, a, cbs);
        return;
    }
    sdk_actor **pp = &s->wait_head;
    while (*pp)
        pp = &(*pp)->next_wait;
    *pp = a;
    a->waiting = true;
}

void
sdk_actor_end(sdk_rt *rt, sdk_actor *a, const char *why, sdk_cb **cbs)
{
    if (a->g->state == GCS_ACTOR_DEAD || a->ending)
        return;
    snprintf(a->end_why, sizeof(a->end_why), "%s", why);
    if (a->host < 0) {
        sdk_actor_die(rt, a, RAY_EACTOR_DIED, why, cbs);
        return;
    }
    a->ending = true;
    send_end(rt, a, SDK_TF_DEL, cbs);
}

void
sdk_actor_kill_now(sdk_rt *rt, sdk_actor *a, const char *why, sdk_cb **cbs)
{
    if (a->g->state == GCS_ACTOR_DEAD)
        return;
    sdk_actor_die(rt, a, RAY_EACTOR_DIED, why, cbs);
    if (a->host < 0)
        return;
    if (!sdk_actor_kill_host(rt, a)) /* alone there: at once */
        send_end(rt, a, SDK_TF_DROP, cbs);
}

bool
sdk_actor_kill_host(sdk_rt *rt, sdk_actor *a)
{
    if (a->host < 0)
        return false;
    sdk_host *h = &S(rt)->hosts[a->host];
    if (h->used != 1 || !sdk_slot(rt, h->w)->alive ||
        sdk_proc_worker(rt, h->w)->proc.pid <= 0)
        return false;
    h->dying = true;
    rt->rl_api->kill(rt->rl, h->w); /* even inside a call */
    return true;
}

/* ---- completions ---- */

void
sdk_actor_task_done(sdk_rt *rt, sdk_task *t, const sdk_msg_done *d,
                    const void *payload, sdk_cb **cbs)
{
    sdk_actor *a = t->actor;
    sdk_actors *s = S(rt);
    uint32_t kind = t->wire_flags & SDK_TF_KIND;
    a->inflight--;
    a->ntasks--;
    t->actor = NULL;
    if (kind == SDK_TF_NEW && a->g->state != GCS_ACTOR_DEAD) {
        if (d->err == RAY_OK) {
            gcs_actor_transition(&s->table, a->g, GCS_ACTOR_ALIVE);
            sdk_tx_worker ws;
            sdk_tx_worker_state(rt->tx, s->hosts[a->host].w, &ws);
            a->g->pid = ws.pid;
            sdk_actor_answer_ready(rt, a);
        } else {
            char why[600];
            snprintf(why, sizeof(why), "its constructor failed (%s): %.*s",
                     ray_strerror((ray_err)d->err), (int)(d->len ? d->len : 1),
                     d->len ? (const char *)payload : "");
            sdk_actor_die(rt, a, RAY_EACTOR_DIED, why, cbs);
            send_end(rt, a, SDK_TF_DROP, cbs);
        }
    } else if (kind == SDK_TF_DEL || kind == SDK_TF_DROP) {
        if (kind == SDK_TF_DEL)
            sdk_actor_die(rt, a, RAY_EACTOR_DIED, a->end_why, cbs);
        leave_host(rt, a);
        place_waiting(rt, cbs);
    } else if (kind == SDK_TF_CALL && d->err != RAY_OK &&
               a->g->state == GCS_ACTOR_DEAD) {
        /* Rejected by the host after a death: keep the driver's cause. */
        resolve(rt, t, (ray_err)a->g->death_err, a->g->death_msg, cbs);
    }
    sdk_actor_maybe_free(rt, a, cbs);
}

void
sdk_actor_host_died(sdk_rt *rt, const sdk_death *d, sdk_cb **cbs)
{
    sdk_actors *s = S(rt);
    int w = d->w;
    sdk_host *h = &s->hosts[w - rt->ntask];
    bool never_started = d->never_started;
    const char *how = d->how;
    int pid = d->pid;
    char why[400];
    sdk_proc_worker(rt, w)->start_err[0] = '\0';
    sdk_task *head = d->inflight;
    bool restart = false;
    for (uint32_t k = 0; k < SDK_HOST_CAP; k++) {
        sdk_actor *a = h->ids[k] ? sdk_actor_find(rt, h->ids[k]) : NULL;
        if (!a || a->g->state == GCS_ACTOR_DEAD)
            continue;
        if (a->ending) {
            sdk_actor_die(rt, a, RAY_EACTOR_DIED, a->end_why, cbs);
        } else if (!never_started && gcs_actor_should_restart(a->g) &&
                   !atomic_load(&rt->stopping)) {
            gcs_actor_transition(&s->table, a->g, GCS_ACTOR_RESTARTING);
            a->restart_pending = true;
            restart = true;
            RT_INFO("actor %s: worker %d %s; restart %d", a->ctor_cls, pid, how,
                    a->g->num_restarts);
        } else {
            snprintf(why, sizeof(why), "its worker process (pid %d) %s%s", pid,
                     how, a->g->max_restarts ? "; no restarts left" : "");
            sdk_actor_die(rt, a, RAY_EACTOR_DIED, why, cbs);
        }
    }
    /* Calls in flight: retried (in order) or failed. */
    for (sdk_task *t = head, *n; t; t = n) {
        n = t->next;
        t->next = t->prev = NULL;
        t->worker = -1;
        sdk_actor *a = t->actor;
        a->inflight--;
        uint32_t kind = t->wire_flags & SDK_TF_KIND;
        if (kind != SDK_TF_CALL || a->g->state == GCS_ACTOR_DEAD) {
            if (kind == SDK_TF_DEL)
                leave_host(rt, a);
            if (a->g->state == GCS_ACTOR_DEAD)
                resolve(rt, t, (ray_err)a->g->death_err, a->g->death_msg, cbs);
            drop_task(rt, a, t, cbs);
            sdk_actor_maybe_free(rt, a, cbs);
            continue;
        }
        if (t->retries_left > 0) {
            t->retries_left--;
            sdk_task_unsend(rt, t);
            t->next = a->retry_head; /* reversed; fixed below */
            a->retry_head = t;
            continue;
        }
        snprintf(why, sizeof(why),
                 "actor %s died running call '%s': its "
                 "worker process (pid %d) %s; the actor restarts but the "
                 "call is not retried (max_task_retries)",
                 a->ctor_cls, t->name, pid, how);
        resolve(rt, t, RAY_EACTOR_DIED, why, cbs);
        drop_task(rt, a, t, cbs);
    }
    h->started = false;
    h->dying = false;
    if (!restart) {
        for (uint32_t k = 0; k < SDK_HOST_CAP; k++)
            if (h->ids[k]) {
                sdk_actor *a = sdk_actor_find(rt, h->ids[k]);
                if (a) {
                    leave_host(rt, a);
                    sdk_actor_maybe_free(rt, a, cbs);
                } else {
                    h->ids[k] = 0;
                    h->used--;
                }
            }
        place_waiting(rt, cbs);
        return;
    }
    host_format(rt, h);
    for (uint32_t k = 0; k < SDK_HOST_CAP; k++) {
        sdk_actor *a = h->ids[k] ? sdk_actor_find(rt, h->ids[k]) : NULL;
        if (!a)
            continue;
        if (a->g->state == GCS_ACTOR_DEAD) {
            leave_host(rt, a);
            sdk_actor_maybe_free(rt, a, cbs);
            continue;
        }
        if (!a->restart_pending)
            continue;
        a->restart_pending = false;
        while (a->retry_head) { /* reversed list: pushing front restores */
            sdk_task *t = a->retry_head;
            a->retry_head = t->next;
            q_push_front(a, t);
        }
        sdk_task *t = new_ctor_task(rt, a, SDK_TF_NEW | SDK_TF_RESTART);
        if (!t) {
            sdk_actor_die(rt, a, RAY_ENOMEM, "out of memory restarting", cbs);
            continue;
        }
        q_push_front(a, t);
        sdk_actor_pump(rt, a, cbs);
    }
}

void
sdk_actors_kill_in_pg(sdk_rt *rt, struct sdk_pg *pg, const char *why,
                      sdk_cb **cbs)
{
    gcs_actor_table *tb = &S(rt)->table;
    for (uint32_t c = 0; c < tb->nchunks; c++)
        for (uint32_t i = 0; i < GCS_ACTOR_CHUNK; i++) {
            gcs_actor *g = &tb->chunks[c][i];
            sdk_actor *a = g->id ? g->user : NULL;
            if (a && a->bundle && sdk_pg_of(a->bundle) == pg &&
                g->state != GCS_ACTOR_DEAD) {
                sdk_actor_kill_now(rt, a, why, cbs);
                sdk_actor_maybe_free(rt, a, cbs);
            }
        }
}

/* ---- monitor hook, init, shutdown ---- */

uint32_t
sdk_actors_alive(sdk_rt *rt)
{
    return S(rt)->table.alive;
}

void (*sdk_remote_actor_states)(uint64_t n[5]);

void
sdk_actors_by_state(sdk_rt *rt, uint64_t n[5])
{
    gcs_actor_table *tb = &S(rt)->table;
    for (uint32_t c = 0; c < tb->nchunks; c++)
        for (uint32_t i = 0; i < GCS_ACTOR_CHUNK; i++) {
            const gcs_actor *g = &tb->chunks[c][i];
            if (g->id && g->state <= GCS_ACTOR_DEAD)
                n[g->state]++;
        }
}

const char *
sdk_actor_state_ray(int state)
{
    return state == GCS_ACTOR_PENDING ? "PENDING_CREATION"
                                      : gcs_actor_state_name(state);
}

ray_err
sdk_actors_init(sdk_rt *rt)
{
    sdk_actors *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return RAY_ENOMEM;
    gcs_actor_table_init(&s->table);
    for (int i = 0; i < SDK_ACTOR_HOSTS; i++)
        s->hosts[i].w = rt->ntask + i;
    rt->actors = s;
    return RAY_OK;
}

void
sdk_actors_shutdown(sdk_rt *rt)
{
    sdk_actors *s = S(rt);
    pthread_mutex_lock(&rt->mu);
    gcs_actor_table *tb = &s->table;
    for (uint32_t c = 0; c < tb->nchunks; c++) {
        for (uint32_t i = 0; i < GCS_ACTOR_CHUNK; i++) {
            gcs_actor *g = &tb->chunks[c][i];
            sdk_actor *a = g->user;
            if (!g->id || !a || a->host < 0 || a->ending ||
                (g->state != GCS_ACTOR_ALIVE && g->state != GCS_ACTOR_PENDING))
                continue;
            a->ending = true;
            snprintf(a->end_why, sizeof(a->end_why), "the runtime shut down");
            send_end(rt, a, SDK_TF_DEL, NULL);
        }
    }
    pthread_mutex_unlock(&rt->mu);
}

void
sdk_actors_fini(sdk_rt *rt)
{
    sdk_actors *s = S(rt);
    if (!s)
        return;
    gcs_actor_table *tb = &s->table;
    for (uint32_t c = 0; c < tb->nchunks; c++) {
        for (uint32_t i = 0; i < GCS_ACTOR_CHUNK; i++) {
            sdk_actor *a = tb->chunks[c][i].id ? tb->chunks[c][i].user : NULL;
            if (!a)
                continue;
            for (sdk_task *t = a->qhead, *n; t; t = n) {
                n = t->next;
                sdk_task_free(rt, t); /* the pool is freed after */
            }
            while (a->ready_waiters) {
                sdk_ready_waiter *r = a->ready_waiters;
                a->ready_waiters = r->next;
                rt_free(r);
            }
            rt_free(a->ctor_spec);
            rt_free(a);
        }
    }
    gcs_actor_table_fini(tb);
    for (int k = 0; k < 256; k++)
        rt_free(s->names[k].name);
    rt_free(s);
    rt->actors = NULL;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_ask.c: a driver's answers to the `rayc` commands that need what
 * only drivers know (`rayc timeline`, `rayc list tasks|objects`).
 * Drivers have no port of their own, so these go through the head's
 * key-value store: the command puts kv "ask": NONCE -> WHAT ("timeline",
 * "tasks", "objects", "actors" or "placement-groups"), ephemeral, so it
 * goes when the command ends;
 * each driver's watcher lists "ask" twice a second and answers each
 * request once under kv "answer": "NONCE IP:PID" (ephemeral too), and
 * deletes its answer once the request is gone. Requests from several
 * commands at once are each answered.
 *
 * An answer to "tasks", "objects" or "actors" is a line with how many there
 * are, then at most ASK_ROWS rows (sdk/state.c's format; the calls in flight on
 * other nodes are tasks too, SUBMITTED_TO_WORKER there). To "timeline": the
 * driver's trace (its agents' on other nodes included),
 * "" when it recorded nothing. Anything else: "?" and what it asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/text.h"
#include "sdk/cluster_int.h"
#include "sdk/state.h"

#define ASK_ROWS 10000

/* The trace: the newest events of each node, fewer while the text passes
 * TL_ANSWER_MAX (well within a frame to the head). */
#define TL_ANSWER_EVENTS 20000
#define TL_ANSWER_MAX (8u << 20)

static void
timeline_answer(rt_text *out)
{
    char *text = NULL;
    size_t len = 0;
    for (size_t max = TL_ANSWER_EVENTS; max; max /= 2) {
        free(text);
        if (sdk_timeline_text(max, &text, &len) != RAY_OK) {
            text = NULL;
            len = 0;
        }
        if (len <= TL_ANSWER_MAX)
            break;
    }
    if (text && len <= TL_ANSWER_MAX) /* else none fit: answer none */
        rt_text_putn(out, text, len);
    free(text);
}

/* The calls in flight on other nodes as task rows (state.c's columns),
 * the first `room` of them; how many there are. */
static size_t
remote_tasks(cl_driver *cl, rt_text *out, size_t room)
{
    size_t n = 0;
    for (int i = 0; i < atomic_load(&cl->n); i++) {
        cl_node *nd = &cl->nodes[i];
        pthread_mutex_lock(&nd->mu);
        for (size_t k = 0; k < nd->fl.cap; k++) {
            const fl_entry *e = &nd->fl.e[k];
            if (!e->id || e->id == FL_TOMB || n++ >= room)
                continue;
            Ray__Rpc__ClusterTask *t =
                ray__rpc__cluster_task__unpack(NULL, e->len, e->task);
            const char *name = !t                    ? "?"
                               : t->name && *t->name ? t->name
                                                     : t->function;
            rt_text_put(
                out, "%016llx\t%s\tSUBMITTED_TO_WORKER\t%s\t%s\t0\n",
                (unsigned long long)e->id, name,
                t && t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CALL
                    ? "ACTOR_TASK"
                : t && t->kind == RAY__RPC__CLUSTER_KIND__CLUSTER_ACTOR_CREATE
                    ? "ACTOR_CREATION_TASK"
                    : "NORMAL_TASK",
                nd->full);
            if (t)
                ray__rpc__cluster_task__free_unpacked(t, NULL);
        }
        pthread_mutex_unlock(&nd->mu);
    }
    return n;
}

/* What a request asks for, as the text to answer. */
static void
answer_of(cl_driver *cl, const char *what, size_t wlen, rt_text *out)
{
    rt_text rows = {0};
    size_t n;
    if (wlen == 8 && !memcmp(what, "timeline", 8)) {
        timeline_answer(out);
        return;
    }
    if (wlen == 5 && !memcmp(what, "tasks", 5)) {
        n = sdk_state_tasks(&rows, ASK_ROWS, cl->self_id);
        n += remote_tasks(cl, &rows, n < ASK_ROWS ? ASK_ROWS - n : 0);
        n += cl_defer_rows(cl, &rows, n < ASK_ROWS ? ASK_ROWS - n : 0);
    } else if (wlen == 7 && !memcmp(what, "objects", 7)) {
        n = sdk_state_objects(&rows, ASK_ROWS);
    } else if (wlen == 6 && !memcmp(what, "actors", 6)) {
        n = sdk_state_actors(&rows, ASK_ROWS, cl->self_id);
        n += cl_actor_rows(cl, &rows, n < ASK_ROWS ? ASK_ROWS - n : 0);
    } else if (wlen == 16 && !memcmp(what, "placement-groups", 16)) {
        n = cl_pg_rows(cl, &rows, ASK_ROWS); /* this node's are their parts */
    } else {
        rt_text_put(out, "?%.*s", (int)wlen, what);
        return;
    }
    rt_text_put(out, "%zu\n", n);
    if (rows.p)
        rt_text_putn(out, rows.p, rows.n);
    out->oom |= rows.oom;
    rt_free(rows.p);
}

static bool
listed(const Ray__Rpc__KvListReply *r, const char *nonce)
{
    for (size_t i = 0; r && i < r->n_keys; i++)
        if (r->keys[i].len == strlen(nonce) &&
            !memcmp(r->keys[i].data, nonce, r->keys[i].len))
            return true;
    return false;
}

void
cl_ask_serve(cl_driver *cl)
{
    char why[300], key[CL_ASK_NONCE + RT_HOST_MAX + 16];
    Ray__Rpc__KvListReply *r = NULL;
    if (cl_kv_list(cl, "ask", &r, why, sizeof(why)) != RAY_OK)
        return;
    /* Answers to requests gone: nobody reads them now. */
    for (int a = 0; a < CL_ASKED; a++) {
        if (!cl->asked[a][0] || listed(r, cl->asked[a]))
            continue;
        snprintf(key, sizeof(key), "%s %s:%d", cl->asked[a], cl->local_ip,
                 (int)getpid());
        (void)cl_kv_del(cl, "answer", key, why, sizeof(why));
        cl->asked[a][0] = 0;
    }
    for (size_t i = 0; i < r->n_keys && i < r->n_values; i++) {
        char nonce[CL_ASK_NONCE];
        if (r->keys[i].len >= sizeof(nonce))
            continue;
        snprintf(nonce, sizeof(nonce), "%.*s", (int)r->keys[i].len,
                 (const char *)r->keys[i].data);
        int room = -1;
        bool done = false;
        for (int a = 0; a < CL_ASKED; a++) {
            done |= !strcmp(cl->asked[a], nonce);
            if (!cl->asked[a][0] && room < 0)
                room = a;
        }
        if (done || room < 0) /* answered; or later, as answers go */
            continue;
        rt_text t = {0};
        answer_of(cl, (const char *)r->values[i].data, r->values[i].len, &t);
        if (t.oom) {
            RT_WARN("cluster: no memory to answer a rayc request");
            rt_free(t.p);
            continue;
        }
        snprintf(key, sizeof(key), "%s %s:%d", nonce, cl->local_ip,
                 (int)getpid());
        bool added;
        if (cl_kv_put(cl, false, "answer", key, t.p ? t.p : "", t.n, true, true,
                      &added, why, sizeof(why)) == RAY_OK)
            snprintf(cl->asked[room], sizeof(cl->asked[room]), "%s", nonce);
        rt_free(t.p);
    }
    rt_proto_free(&r->base);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * state.c: the driver's tasks and objects as rows, for `rayc list tasks`
 * and `rayc list objects` (the driver answers through the head: see
 * cluster_ask.c). Every live task has a pending result object whose
 * producer is the task, so one walk of the object table finds both.
 *
 * The text: at most `max` rows, one a line, fields separated by tabs (names are
 * C identifiers, and any tab or newline in one is made a space): tasks: task_id
 * name state type node_id worker_pid objects: object_id state size location
 * refs task with Ray's state names. The walk holds the runtime's lock: it
 * visits every slot of the table (about a millisecond per 100,000), so a list
 * costs the driver that pause once, not a cost on every task.
 */
#include <stdio.h>
#include <string.h>

#include "objectstore/client.h"
#include "objectstore/plasma.h"
#include "runtime/text.h"
#include "sdk/actor_int.h"
#include "sdk/sdk_int.h"
#include "sdk/state.h"

/* A name as one field: no tab, no newline. */
static void
put_field(rt_text *t, const char *s)
{
    size_t n = strlen(s ? s : "");
    char buf[160];
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
    rt_text_putn(t, buf, n);
}

/* The state of live task t, with Ray's names. A worker runs what it is
 * sent in order: the oldest it has is running, the others wait in its
 * ring (an actor with max_concurrency > 1 runs more at once: they show
 * as waiting). */
static const char *
task_state(sdk_rt *rt, const sdk_task *t)
{
    if (t->ndeps)
        return "PENDING_ARGS_AVAIL";
    if (t->worker >= 0)
        return rt->workers[t->worker].head == t ? "RUNNING"
                                                : "SUBMITTED_TO_WORKER";
    return t->actor ? "SUBMITTED_TO_WORKER" : "PENDING_NODE_ASSIGNMENT";
}

size_t
sdk_state_tasks(rt_text *out, size_t max, const char *node_id)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o;
    for (uint32_t at = 0; (o = sdk_objects_next(&rt->store, &at));) {
        if (o->state != SDK_OBJ_PENDING || !o->producer)
            continue;
        const sdk_task *t = o->producer;
        if (t->cancelled)
            continue;
        if (n++ >= max)
            continue;
        rt_text_put(out, "%016llx\t", (unsigned long long)sdk_objects_id(o));
        put_field(out, t->name);
        int pid =
            t->worker >= 0 ? (int)sdk_proc_worker(rt, t->worker)->proc.pid : 0;
        rt_text_put(out, "\t%s\t%s\t%s\t%d\n", task_state(rt, t),
                    t->actor ? "ACTOR_TASK" : "NORMAL_TASK", node_id, pid);
    }
    pthread_mutex_unlock(&rt->mu);
    return n;
}

size_t
sdk_state_objects(rt_text *out, size_t max)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&rt->mu);
    store_client *c = rt->rl_api->store_client(rt->rl);
    sdk_obj *o;
    for (uint32_t at = 0; (o = sdk_objects_next(&rt->store, &at));) {
        if (n++ >= max)
            continue;
        static const char *const states[] = {"", "PENDING", "READY", "FAILED"};
        bool stored = o->state == SDK_OBJ_READY && (o->type & SDK_TYPE_STORED);
        const char *where = o->state == SDK_OBJ_PENDING && o->parked
                                ? "parked_on_node"
                            : o->state != SDK_OBJ_READY   ? "-"
                            : stored                      ? "object_store"
                            : o->len > SDK_OBJ_INLINE_MAX ? "driver_heap"
                                                          : "inline";
        uint64_t size = o->len;
        if (stored) { /* a descriptor: the size is the store's */
            store_object_id id;
            store_plasma_id(rt->store_prefix, sdk_obj_store_key(o), &id);
            size = 0;
            (void)store_client_sealed_size(c, &id, &size);
        }
        const char *task = o->state == SDK_OBJ_PENDING && o->producer
                               ? ((const sdk_task *)o->producer)->name
                           : o->task ? "(a task)"
                                     : "(a put)";
        rt_text_put(out, "%016llx\t%s\t%llu\t%s\t%d\t",
                    (unsigned long long)sdk_objects_id(o), states[o->state & 3],
                    (unsigned long long)size, where, (int)o->refs);
        put_field(out, task);
        rt_text_putn(out, "\n", 1);
    }
    pthread_mutex_unlock(&rt->mu);
    return n;
}

size_t
sdk_state_actors(rt_text *out, size_t max, const char *node_id)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&rt->mu);
    gcs_actor_table *tb = rt->actors ? &rt->actors->table : NULL;
    for (uint32_t c = 0; tb && c < tb->nchunks; c++)
        for (uint32_t i = 0; i < GCS_ACTOR_CHUNK; i++) {
            const gcs_actor *g = &tb->chunks[c][i];
            const sdk_actor *a = g->id ? g->user : NULL;
            if (!a || n++ >= max)
                continue;
            rt_text_put(out, "%016llx\t", (unsigned long long)g->id);
            put_field(out, a->ctor_cls);
            rt_text_put(out, "\t%s\t", sdk_actor_state_ray(g->state));
            put_field(out, g->name ? g->name : "-");
            rt_text_put(out, "\t%s\t%d\n", node_id, (int)g->pid);
        }
    pthread_mutex_unlock(&rt->mu);
    return n;
}

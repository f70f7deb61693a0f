/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_timeline.c: ray_timeline across the nodes a driver uses. When
 * the driver records (ray_timeline_enable), so does each of its agents
 * (a CLUSTER_TIMELINE "on" record, also sent to an agent that joins
 * later); ray_timeline asks each agent for what it recorded ("dump": the
 * events come back as one result) and timeline.c writes them beside this
 * node's, one trace process per node.
 *
 * Clocks: an agent's events carry its machine's CLOCK_MONOTONIC. Its
 * answer says what that clock read when the answer was made; taken as
 * the middle of the round trip, that gives the shift onto this process's
 * clock (off by at most half the round trip, tens of microseconds on a
 * LAN; on one machine the clocks are the same and the shift ~0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "sdk/cluster_int.h"

/* A CLUSTER_TIMELINE record: `what` ("on", "off", "dump"), result to id. */
static uint8_t *
record(const char *what, uint64_t id, uint32_t *len)
{
    Ray__Rpc__ClusterTask t = RAY__RPC__CLUSTER_TASK__INIT;
    t.kind = RAY__RPC__CLUSTER_KIND__CLUSTER_TIMELINE;
    t.id = id;
    t.function = (char *)what;
    *len = (uint32_t)protobuf_c_message_get_packed_size(&t.base);
    uint8_t *b = rt_malloc(*len ? *len : 1);
    if (b)
        protobuf_c_message_pack(&t.base, b);
    return b;
}

/* The nodes that run this job's calls or actors (not other jobs'). */
static bool
ours(const cl_node *nd)
{
    return nd->kind != CL_ATTACHED && atomic_load(&nd->alive);
}

static void
tell(cl_driver *cl, int i, bool on)
{
    uint32_t len;
    uint8_t *b = record(on ? "on" : "off", 0, &len);
    if (b && !cl_send_raw(cl, i, b, len))
        RT_LOG_RATELIMITED(RT_LOG_WARN,
                           "cluster: node %s: could not tell its agent to "
                           "%s recording the timeline",
                           cl->nodes[i].addr, on ? "start" : "stop");
    rt_free(b);
}

void
cl_timeline_enable(bool on)
{
    cl_driver *cl = g_cl;
    if (!cl)
        return;
    atomic_store(&cl->timeline, on);
    int n = atomic_load(&cl->n);
    for (int i = 0; i < n; i++)
        if (ours(&cl->nodes[i]))
            tell(cl, i, on);
}

void
cl_timeline_join(cl_driver *cl, int i)
{
    if (atomic_load(&cl->timeline) && ours(&cl->nodes[i]))
        tell(cl, i, true);
}

/* A "dump" sent to a node: its answer settles `ref`. */
typedef struct asked {
    int node;
    ray_ref ref;
    int64_t sent;
} asked;

static bool
ask(cl_driver *cl, int i, asked *a)
{
    uint64_t id;
    if (cl_result_new(&id) != RAY_OK)
        return false;
    *a = (asked){i, sdk_ref(id), rt_clock_now_ns()};
    fl_entry e = {.id = id, .retries = -1}; /* never moved elsewhere */
    e.task = record("dump", id, &e.len);
    if (!e.task || !cl_send_to(cl, i, &e)) {
        rt_free(e.task);
        ray_ref_release(a->ref);
        return false;
    }
    return true;
}

/* A node's answer, come back at `back`, into out (false: none usable). */
static bool
take(cl_driver *cl, const asked *a, int64_t back, sdk_tl_blob *out)
{
    const cl_node *nd = &cl->nodes[a->node];
    ray_view v;
    ray_err err = ray_get(a->ref, &v, 0);
    bool ok = err == RAY_OK && v.len >= sizeof(int64_t) &&
              (out->data = rt_malloc(v.len)) != NULL;
    if (ok) {
        memcpy(out->data, v.data, v.len);
        out->len = v.len;
        int64_t then;
        memcpy(&then, v.data, sizeof(then)); /* the blob's head: now_ns */
        out->shift_ns = a->sent + (back - a->sent) / 2 - then;
        snprintf(out->label, sizeof(out->label), "rayc node %s (%s, agent)",
                 nd->addr, nd->kind == CL_SELF ? "this machine" : nd->id);
    } else {
        RT_WARN("cluster: node %s: no timeline from its agent: %s", nd->addr,
                err == RAY_OK ? "a malformed answer" : ray_last_error_detail());
    }
    if (err == RAY_OK)
        ray_release(&v);
    return ok;
}

/* Every node is asked at once, and the answers taken as they come (the
 * time each came back is what its clock shift is estimated from), for
 * 10 s at most in all. */
size_t
cl_timelines(sdk_tl_blob *out, size_t max)
{
    cl_driver *cl = g_cl;
    asked a[MAX_NODES];
    size_t na = 0, k = 0;
    int n = cl ? atomic_load(&cl->n) : 0;
    for (int i = 0; i < n && na < max && na < MAX_NODES; i++)
        if (ours(&cl->nodes[i]) && ask(cl, i, &a[na]))
            na++;
    int64_t deadline = rt_deadline_after_ms(10000);
    size_t left = na;
    while (left) {
        ray_ref refs[MAX_NODES];
        size_t idx[MAX_NODES], m = 0, ready[MAX_NODES], nr = 0;
        for (size_t j = 0; j < na; j++)
            if (a[j].ref.id) {
                idx[m] = j;
                refs[m++] = a[j].ref;
            }
        int64_t wait_ms = rt_deadline_left_ms(deadline);
        if (wait_ms <= 0 ||
            ray_wait(refs, m, 1, wait_ms, ready, &nr) != RAY_OK || !nr)
            break;
        int64_t back = rt_clock_now_ns();
        for (size_t r = 0; r < nr; r++) {
            asked *x = &a[idx[ready[r]]];
            if (take(cl, x, back, &out[k]))
                k++;
            ray_ref_release(x->ref);
            x->ref = RAY_REF_NULL;
            left--;
        }
    }
    for (size_t j = 0; j < na; j++)
        if (a[j].ref.id) {
            RT_WARN("cluster: node %s: its agent sent no timeline within 10 s",
                    cl->nodes[a[j].node].addr);
            ray_ref_release(a[j].ref);
        }
    return k;
}

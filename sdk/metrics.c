/* SPDX-License-Identifier: Apache-2.0
 *
 * metrics.c: the runtime's counters in Prometheus' text format (0.0.4),
 * on request (ray_metrics) or into a file (ray_metrics_write: written to
 * a temp file and renamed over the target, as node_exporter's textfile
 * collector wants, so a scrape never sees half a file).
 *
 * One snapshot under the driver's lock, the same figures as ray_get_stats
 * plus tasks by state and the finished and failed totals; the text is
 * built after the lock is released.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/text.h"
#include "sdk/sdk_int.h"

typedef struct snapshot {
    ray_stats st;
    uint64_t submitted; /* handed to a worker: running or in its ring */
    uint64_t finished, failed;
    uint64_t sched_hist[8], sched_sum_us, sched_count;
    uint64_t actors[5];        /* by gcs_actor_state */
    sdk_node_bytes served[64]; /* a cluster's nodes (nserved) */
    size_t nserved;
} snapshot;

size_t (*sdk_remote_served)(sdk_node_bytes *out, size_t max);

static ray_err
take(const char *what, snapshot *s)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        return sdk_fail(RAY_EINVAL,
                        "%s: the runtime is not initialized in "
                        "this process (the driver's metrics)",
                        what);
    pthread_mutex_lock(&rt->mu);
    sdk_stats_locked(rt, &s->st);
    s->submitted = 0;
    for (int w = 0; w < rt->nslots; w++)
        s->submitted += sdk_slot(rt, w)->inflight;
    s->finished = rt->tasks_finished;
    s->failed = rt->tasks_failed;
    memcpy(s->sched_hist, rt->sched_hist, sizeof(s->sched_hist));
    s->sched_sum_us = rt->sched_sum_us;
    s->sched_count = rt->sched_count;
    memset(s->actors, 0, sizeof(s->actors));
    sdk_actors_by_state(rt, s->actors);
    pthread_mutex_unlock(&rt->mu);
    if (sdk_remote_actor_states)
        sdk_remote_actor_states(s->actors);
    s->nserved = sdk_remote_served ? sdk_remote_served(s->served, 64) : 0;
    return RAY_OK;
}

/* One series with its HELP and TYPE lines; `labels` "" or `{k="v"}`. */
static void
series(rt_text *t, const char *name, const char *type, const char *help,
       const char *labels, uint64_t v)
{
    rt_text_put(t, "# HELP %s %s\n# TYPE %s %s\n%s%s %llu\n", name, help, name,
                type, name, labels, (unsigned long long)v);
}

/* The scheduling latency histogram (cumulative buckets, in seconds). */
static void
sched_latency(rt_text *t, const snapshot *s)
{
    static const uint32_t bounds[] = SDK_SCHED_BOUNDS_US;
    enum { NB = sizeof(bounds) / sizeof(bounds[0]) };
    _Static_assert(NB + 1 == sizeof(s->sched_hist) / sizeof(s->sched_hist[0]),
                   "one count per bound and one for +Inf");
    const char *name = "rayc_task_scheduling_latency_seconds";
    rt_text_put(t,
                "# HELP %s Time from a task being ready to run (its "
                "arguments there) to its hand-over to a worker; one task in "
                "%d is sampled.\n# TYPE %s histogram\n",
                name, SDK_SCHED_SAMPLE, name);
    uint64_t cum = 0;
    for (int b = 0; b < NB; b++) {
        cum += s->sched_hist[b];
        rt_text_put(t, "%s_bucket{le=\"%g\"} %llu\n", name,
                    (double)bounds[b] / 1e6, (unsigned long long)cum);
    }
    cum += s->sched_hist[NB];
    rt_text_put(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
                name, (unsigned long long)cum, name,
                (double)s->sched_sum_us / 1e6, name,
                (unsigned long long)s->sched_count);
}

static void
render(rt_text *t, const snapshot *s)
{
    const ray_stats *st = &s->st;
    uint64_t queued = st->tasks_queued;
    uint64_t live = st->tasks_live;
    uint64_t sub = s->submitted < live ? s->submitted : live;
    uint64_t waiting = live > sub + queued ? live - sub - queued : 0;
    /* Tasks by state, with Ray's state names. */
    rt_text_put(
        t, "# HELP rayc_tasks Tasks and actor calls not finished, by state.\n"
           "# TYPE rayc_tasks gauge\n");
    rt_text_put(t, "rayc_tasks{state=\"PENDING_ARGS_AVAIL\"} %llu\n",
                (unsigned long long)waiting);
    rt_text_put(t, "rayc_tasks{state=\"PENDING_NODE_ASSIGNMENT\"} %llu\n",
                (unsigned long long)queued);
    rt_text_put(t, "rayc_tasks{state=\"SUBMITTED_TO_WORKER\"} %llu\n",
                (unsigned long long)sub);
    rt_text_put(t,
                "# HELP rayc_tasks_finished_total Tasks, actor calls and map "
                "chunks that ended, by result.\n"
                "# TYPE rayc_tasks_finished_total counter\n");
    rt_text_put(t, "rayc_tasks_finished_total{result=\"ok\"} %llu\n",
                (unsigned long long)(s->finished > s->failed
                                         ? s->finished - s->failed
                                         : 0));
    rt_text_put(t, "rayc_tasks_finished_total{result=\"error\"} %llu\n",
                (unsigned long long)s->failed);
    sched_latency(t, s);
    series(t, "rayc_tasks_moved_total", "counter",
           "Tasks taken back from a worker that had not started them and "
           "placed again.",
           "", st->tasks_moved);
    series(t, "rayc_calls_resent_total", "counter",
           "Calls sent again after their node died with them in flight.", "",
           st->calls_resent);
    series(t, "rayc_objects_rebuilt_total", "counter",
           "Task results made again by their call because the node that "
           "kept them died before they were pulled.",
           "", st->objects_rebuilt);
    series(t, "rayc_objects_parked", "gauge",
           "Task results kept on the node that made them, not pulled yet.", "",
           st->objects_parked);
    series(t, "rayc_lineage_bytes", "gauge",
           "Bytes of the call records kept to make parked results again.", "",
           st->lineage_bytes);
    series(t, "rayc_actors_live", "gauge",
           "Actors not DEAD (alive, starting or restarting).", "",
           st->actors_alive);
    rt_text_put(t, "# HELP rayc_actors Actors by state (Ray's names).\n"
                   "# TYPE rayc_actors gauge\n");
    for (int k = 0; k < 5; k++)
        rt_text_put(t, "rayc_actors{state=\"%s\"} %llu\n",
                    sdk_actor_state_ray(k), (unsigned long long)s->actors[k]);
    series(t, "rayc_actor_processes", "gauge",
           "Actor processes running or starting.", "", st->actor_processes);
    rt_text_put(t,
                "# HELP rayc_workers Task worker processes, by state.\n"
                "# TYPE rayc_workers gauge\n"
                "rayc_workers{state=\"alive\"} %u\n"
                "rayc_workers{state=\"blocked\"} %u\n"
                "rayc_workers{state=\"standin\"} %u\n",
                st->workers_alive, st->workers_blocked, st->standins);
    series(t, "rayc_worker_restarts_total", "counter",
           "Worker processes replaced after dying.", "", st->worker_restarts);
    series(t, "rayc_objects", "gauge",
           "Objects with a holder or a pending task.", "", st->objects_live);
    series(t, "rayc_object_bytes", "gauge",
           "Bytes of object values held by the driver (not inline).", "",
           st->object_bytes);
    series(t, "rayc_object_store_bytes", "gauge",
           "The node's object store: bytes held, in memory and spilled.", "",
           st->store_bytes);
    series(t, "rayc_object_store_objects", "gauge",
           "The node's object store: objects held.", "", st->store_objects);
    series(t, "rayc_object_store_spills_total", "counter",
           "Objects spilled to disk.", "", st->store_spills);
    series(t, "rayc_object_store_restores_total", "counter",
           "Objects restored from disk.", "", st->store_restores);
    series(t, "rayc_object_store_evictions_total", "counter",
           "Copies of other nodes' values dropped to make room.", "",
           st->store_evictions);
    series(t, "rayc_object_store_fetches_total", "counter",
           "Evicted copies pulled again when read.", "", st->store_fetches);
    rt_text_put(t,
                "# HELP rayc_object_transfer_bytes_total Bytes of values "
                "moved between this node's store and other nodes'.\n"
                "# TYPE rayc_object_transfer_bytes_total counter\n"
                "rayc_object_transfer_bytes_total{direction=\"pull\"} %llu\n"
                "rayc_object_transfer_bytes_total{direction=\"push\"} %llu\n"
                "# HELP rayc_object_transfer_seconds_total Time spent moving "
                "them, from room in the store to the last byte.\n"
                "# TYPE rayc_object_transfer_seconds_total counter\n"
                "rayc_object_transfer_seconds_total{direction=\"pull\"} %.6f\n"
                "rayc_object_transfer_seconds_total{direction=\"push\"} "
                "%.6f\n",
                (unsigned long long)atomic_load(&sdk_xfer_bytes[0]),
                (unsigned long long)atomic_load(&sdk_xfer_bytes[1]),
                (double)atomic_load(&sdk_xfer_ns[0]) / 1e9,
                (double)atomic_load(&sdk_xfer_ns[1]) / 1e9);
    if (s->nserved)
        rt_text_put(t, "# HELP rayc_object_served_bytes_total Bytes of this "
                       "job's values each node sent to other nodes' pulls "
                       "(its own results, and the copies it relays).\n"
                       "# TYPE rayc_object_served_bytes_total counter\n");
    for (size_t k = 0; k < s->nserved; k++)
        rt_text_put(t, "rayc_object_served_bytes_total{node=\"%s\"} %llu\n",
                    s->served[k].node, (unsigned long long)s->served[k].bytes);
    series(t, "rayc_replies_held_total", "counter",
           "Results that waited for room in their worker's reply ring.", "",
           st->replies_held);
    series(t, "rayc_node_alive", "gauge",
           "1 while this node runs (the embedded runtime: one node).",
           "{node=\"embedded\"}", 1);
}

ray_err
ray_metrics(char **out)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_metrics: NULL out");
    *out = NULL;
    snapshot s;
    ray_err e = take("ray_metrics", &s);
    if (e != RAY_OK)
        return e;
    rt_text t = {0};
    render(&t, &s);
    if (t.oom) {
        rt_free(t.p);
        return sdk_fail(RAY_ENOMEM, "ray_metrics: out of memory");
    }
    *out = t.p;
    return RAY_OK;
}

ray_err
ray_metrics_write(const char *path)
{
    if (!path || !*path)
        return sdk_fail(RAY_EINVAL, "ray_metrics_write: no file name");
    char *body;
    ray_err e = ray_metrics(&body);
    if (e != RAY_OK)
        return e;
    size_t n = strlen(path) + 32;
    char *tmp = rt_malloc(n);
    if (!tmp) {
        rt_free(body);
        return sdk_fail(RAY_ENOMEM, "ray_metrics_write: out of memory");
    }
    snprintf(tmp, n, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    bool ok = f && fputs(body, f) >= 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    int err = errno;
    if (!ok) {
        unlink(tmp);
        e = sdk_fail(RAY_EINVAL, "ray_metrics_write: cannot write %s: %s", path,
                     strerror(err));
    }
    rt_free(tmp);
    rt_free(body);
    return e;
}

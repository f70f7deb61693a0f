/* SPDX-License-Identifier: Apache-2.0
 *
 * timeline.c: when each task, actor call and map chunk ran, written as a
 * Chrome trace (the JSON that Perfetto and chrome://tracing open).
 *
 * Recording is a flag in the node's shared header (sdk_shm_hdr.trace,
 * through the transport's `trace` op): while it is set, a worker times
 * each call it runs and sends an SDK_MSG_TRACE record after the call's
 * result, on the same ring; the driver appends it here. While it is off
 * the cost is one relaxed load per call in the worker. Workers and the
 * driver read one clock (CLOCK_MONOTONIC is system-wide), so events of
 * different workers line up.
 *
 * Events are kept in the driver until ray_shutdown, at most
 * SDK_TIMELINE_MAX of them (40 bytes each, 40 MiB): past that, new ones are
 * counted as dropped and the written trace says how many.
 *
 * Functions named sdk_timeline_* run with sdk_g->mu held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "sdk/sdk_int.h"

#define SDK_TIMELINE_MAX (20 * TL_CHUNK) /* 1,048,560 */

typedef struct tl_event {
    uint64_t task_id;
    uint64_t fn_hash;
    int64_t start_ns;
    int64_t end_ns;
    int32_t pid;
    uint16_t slot;
    uint8_t kind;
    uint8_t pad;
    uint32_t n;
} tl_event;

/* Events in chunks of one 2 MiB huge page each: growing never copies
 * what was recorded, and a chunk costs one page fault, not 512 (fresh
 * 4 KiB pages cost the driver more than the events did: a fault is an
 * exit on a VM). Without transparent huge pages it is 512 small ones. */
#define TL_CHUNK_BYTES (2u << 20)
#define TL_CHUNK ((TL_CHUNK_BYTES - 16) / sizeof(tl_event)) /* 52,428 */

typedef struct tl_chunk {
    struct tl_chunk *next;
    size_t n;
    tl_event ev[TL_CHUNK];
} tl_chunk;

_Static_assert(sizeof(tl_chunk) <= TL_CHUNK_BYTES, "a chunk is one page");

struct sdk_timeline {
    tl_chunk *head, *tail;
    size_t n; /* events in all chunks */
    uint64_t dropped;
    int64_t origin_ns; /* ts 0 of the trace: when recording first began */
    bool on;
};

/* A chunk: 2 MiB aligned to 2 MiB, asked to be one huge page. */
static tl_chunk *
chunk_new(void)
{
    size_t sz = TL_CHUNK_BYTES;
    uint8_t *p = mmap(NULL, 2 * sz, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uint8_t *at = (uint8_t *)(((uintptr_t)p + sz - 1) & ~(uintptr_t)(sz - 1));
    if (at > p)
        munmap(p, (size_t)(at - p));
    munmap(at + sz, (size_t)(p + 2 * sz - (at + sz)));
    (void)madvise(at, sz, MADV_HUGEPAGE);
    tl_chunk *c = (tl_chunk *)at;
    c->next = NULL; /* the fault */
    c->n = 0;
    return c;
}

void
sdk_timeline_add(sdk_rt *rt, int w, const uint8_t *rec, uint32_t len)
{
    sdk_timeline *tl = rt->timeline;
    if (!tl || len < sizeof(sdk_msg_trace))
        return;
    const sdk_msg_trace *m = (const sdk_msg_trace *)rec;
    tl_chunk *c = tl->tail;
    if (!c || c->n == TL_CHUNK) {
        c = tl->n < SDK_TIMELINE_MAX ? chunk_new() : NULL;
        if (!c) {
            tl->dropped++;
            return;
        }
        if (tl->tail)
            tl->tail->next = c;
        else
            tl->head = c;
        tl->tail = c;
    }
    tl->n++;
    c->ev[c->n++] = (tl_event){.task_id = m->task_id,
                               .fn_hash = m->fn_hash,
                               .start_ns = m->start_ns,
                               .end_ns = m->end_ns,
                               .pid = sdk_proc_worker(rt, w)->proc.pid,
                               .slot = (uint16_t)w,
                               .kind = (uint8_t)m->kind,
                               .n = m->n};
}

void
sdk_timeline_free(sdk_rt *rt)
{
    if (!rt->timeline)
        return;
    for (tl_chunk *c = rt->timeline->head, *next; c; c = next) {
        next = c->next;
        munmap(c, TL_CHUNK_BYTES);
    }
    rt_free(rt->timeline);
    rt->timeline = NULL;
}

ray_err
ray_timeline_enable(bool on)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        return sdk_fail(RAY_EINVAL, "ray_timeline_enable: the runtime is not "
                                    "initialized in this process (the "
                                    "driver records the timeline)");
    pthread_mutex_lock(&rt->mu);
    ray_err e = RAY_OK;
    if (!rt->timeline && !(rt->timeline = rt_calloc(1, sizeof(sdk_timeline))))
        e = sdk_fail(RAY_ENOMEM, "ray_timeline_enable: out of memory");
    if (e == RAY_OK) {
        if (on && !rt->timeline->origin_ns)
            rt->timeline->origin_ns = rt_clock_now_ns();
        rt->timeline->on = on;
        rt->tx->ops->trace(rt->tx, on);
    }
    pthread_mutex_unlock(&rt->mu);
    if (e == RAY_OK && sdk_remote_timeline_enable)
        sdk_remote_timeline_enable(on);
    return e;
}

void (*sdk_remote_timeline_enable)(bool on);
size_t (*sdk_remote_timelines)(sdk_tl_blob *out, size_t max);

/* The head of a blob (sdk_timeline_export), its events after it. */
typedef struct tl_blob_head {
    int64_t now_ns; /* the exporter's clock when it was made */
    int64_t origin_ns;
    uint64_t dropped;
    int32_t nworkers;
    uint32_t n;
} tl_blob_head;

/* The recorded events, copied under the lock: *n of them (the newest
 * `max`), NULL with *n 0 when there are none. */
static tl_event *
copy_events(sdk_rt *rt, size_t max, size_t *n, uint64_t *dropped,
            int64_t *origin, bool *oom)
{
    sdk_timeline *tl = rt->timeline;
    size_t all = tl ? tl->n : 0;
    size_t skip = all > max ? all - max : 0;
    *n = all - skip;
    *dropped = (tl ? tl->dropped : 0) + skip;
    *origin = tl ? tl->origin_ns : 0;
    tl_event *copy = *n ? rt_malloc(*n * sizeof(*copy)) : NULL;
    *oom = *n && !copy;
    size_t at = 0;
    for (tl_chunk *c = copy ? tl->head : NULL; c; c = c->next) {
        size_t from = skip < c->n ? skip : c->n;
        skip -= from;
        memcpy(copy + at, c->ev + from, (c->n - from) * sizeof(*copy));
        at += c->n - from;
    }
    return copy;
}

ray_err
sdk_timeline_export(void **out, size_t *len, size_t max)
{
    sdk_rt *rt = sdk_g;
    *out = NULL;
    *len = 0;
    if (!rt)
        return sdk_fail(RAY_EINVAL, "timeline: no runtime here");
    size_t room = max > sizeof(tl_blob_head)
                      ? (max - sizeof(tl_blob_head)) / sizeof(tl_event)
                      : 0;
    tl_blob_head h = {0};
    size_t n;
    bool oom;
    pthread_mutex_lock(&rt->mu);
    tl_event *ev = copy_events(rt, room, &n, &h.dropped, &h.origin_ns, &oom);
    h.nworkers = rt->nworkers;
    pthread_mutex_unlock(&rt->mu);
    h.now_ns = rt_clock_now_ns();
    h.n = (uint32_t)n;
    uint8_t *b = oom ? NULL : rt_malloc(sizeof(h) + n * sizeof(*ev));
    if (!b) {
        rt_free(ev);
        return sdk_fail(RAY_ENOMEM, "timeline: out of memory for %zu events",
                        n);
    }
    memcpy(b, &h, sizeof(h));
    if (n)
        memcpy(b + sizeof(h), ev, n * sizeof(*ev));
    rt_free(ev);
    *out = b;
    *len = sizeof(h) + n * sizeof(*ev);
    return RAY_OK;
}

/* Write `s` as the inside of a JSON string. */
static void
put_json_string(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static const char *const kind_name[] = {"task", "actor_call", "map_chunk",
                                        "actor_create"};

/* Where a group of events comes from: this runtime, or an agent of the
 * job on another node. One trace process each (pid `group`), one track
 * per worker process in it. */
typedef struct tl_source {
    const char *label;
    const tl_event *ev;
    size_t n;
    int64_t shift_ns; /* onto this process's clock */
    int nworkers;
    uint64_t dropped;
} tl_source;

/* One track per worker process, named by its slot and pid; the set of
 * processes is small (slots, and their replacements after deaths). */
static void
put_track_names(FILE *f, int group, const tl_source *src)
{
    const tl_event *ev = src->ev;
    size_t n = src->n;
    int nworkers = src->nworkers;
    fprintf(f,
            "%s{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,"
            "\"args\":{\"name\":\"",
            group > 1 ? ",\n" : "", group);
    put_json_string(f, src->label);
    fprintf(f, "\"}}");
    int32_t seen[256];
    size_t nseen = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && ev[i].pid == ev[i - 1].pid)
            continue;
        bool known = false;
        for (size_t j = 0; j < nseen && !known; j++)
            known = seen[j] == ev[i].pid;
        if (known)
            continue;
        if (nseen == sizeof(seen) / sizeof(seen[0]))
            continue; /* past 256 processes, tracks go unnamed */
        seen[nseen++] = ev[i].pid;
        bool host =
            ev[i].kind == SDK_TRACE_ACTOR || ev[i].kind == SDK_TRACE_ACTOR_NEW;
        const char *role = host                    ? "actor host"
                           : ev[i].slot < nworkers ? "worker"
                                                   : "stand-in worker";
        fprintf(f,
                ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,"
                "\"tid\":%d,\"args\":{\"name\":\"%s %u (pid %d)\"}}",
                group, ev[i].pid, role, ev[i].slot, ev[i].pid);
    }
}

static void
put_events(FILE *f, int group, const tl_source *src, int64_t origin)
{
    const tl_event *ev = src->ev;
    for (size_t i = 0; i < src->n; i++) {
        const ray_fn_desc *d = sdk_registry_find(ev[i].fn_hash);
        int64_t dur = ev[i].end_ns - ev[i].start_ns;
        fprintf(f, ",\n{\"name\":\"");
        put_json_string(f, d ? d->name : "(unknown function)");
        fprintf(f,
                "\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,"
                "\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"task_id\":%llu,"
                "\"worker\":%u",
                kind_name[ev[i].kind < 4 ? ev[i].kind : 0], group, ev[i].pid,
                (double)(ev[i].start_ns + src->shift_ns - origin) / 1e3,
                (double)(dur > 0 ? dur : 0) / 1e3,
                (unsigned long long)ev[i].task_id, ev[i].slot);
        if (ev[i].kind == SDK_TRACE_MAP)
            fprintf(f, ",\"items\":%u", ev[i].n);
        fprintf(f, "}}");
    }
}

/* The trace of `nsrc` sources into f; false when a write failed. */
static bool
put_trace(FILE *f, const tl_source *src, size_t nsrc, int64_t origin)
{
    uint64_t dropped = 0;
    for (size_t k = 0; k < nsrc; k++)
        dropped += src[k].dropped;
    fprintf(f,
            "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"dropped_events\":"
            "%llu},\n\"traceEvents\":[\n",
            (unsigned long long)dropped);
    for (size_t k = 0; k < nsrc; k++)
        put_track_names(f, (int)k + 1, &src[k]);
    for (size_t k = 0; k < nsrc; k++)
        put_events(f, (int)k + 1, &src[k], origin);
    fprintf(f, "\n]}\n");
    return ferror(f) == 0;
}

/* A blob from elsewhere as a source (false when it is malformed). */
static bool
blob_source(const sdk_tl_blob *b, size_t max, tl_source *src)
{
    tl_blob_head h;
    if (!b->data || b->len < sizeof(h))
        return false;
    memcpy(&h, b->data, sizeof(h));
    if (b->len != sizeof(h) + (size_t)h.n * sizeof(tl_event))
        return false;
    size_t skip = h.n > max ? h.n - max : 0; /* the newest max */
    const tl_event *ev =
        (const tl_event *)((const uint8_t *)b->data + sizeof(h));
    *src = (tl_source){b->label,    ev + skip,  h.n - skip,
                       b->shift_ns, h.nworkers, h.dropped + skip};
    return true;
}

/* What a trace is made of: this node's events and the agents'. */
enum { MAX_SRC = 65 };
typedef struct tl_sources {
    tl_source src[MAX_SRC];
    size_t n;
    tl_event *copy; /* this node's, copied */
    sdk_tl_blob blobs[MAX_SRC - 1];
    size_t nb;
    int64_t origin;
} tl_sources;

static void
drop_sources(tl_sources *s)
{
    for (size_t k = 0; k < s->nb; k++)
        rt_free(s->blobs[k].data);
    rt_free(s->copy);
}

/* Gather every source, at most `max` events from each (the newest). */
static ray_err
gather(sdk_rt *rt, const char *what, size_t max, tl_sources *s)
{
    size_t n;
    uint64_t dropped;
    bool oom;
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&rt->mu);
    s->copy = copy_events(rt, max, &n, &dropped, &s->origin, &oom);
    int nworkers = rt->nworkers;
    pthread_mutex_unlock(&rt->mu);
    if (oom)
        return sdk_fail(RAY_ENOMEM,
                        "%s: out of memory for a copy of %zu events", what, n);
    /* This node's first, then the job's agents on other nodes. */
    s->nb =
        sdk_remote_timelines ? sdk_remote_timelines(s->blobs, MAX_SRC - 1) : 0;
    s->src[0] = (tl_source){sdk_remote_timelines ? "rayc node (this driver)"
                                                 : "rayc node (embedded)",
                            s->copy,
                            n,
                            0,
                            nworkers,
                            dropped};
    s->n = 1;
    for (size_t k = 0; k < s->nb; k++)
        if (blob_source(&s->blobs[k], max, &s->src[s->n]))
            s->n++;
    return RAY_OK;
}

ray_err
sdk_timeline_text(size_t max, char **out, size_t *len)
{
    sdk_rt *rt = sdk_g;
    *out = NULL;
    *len = 0;
    if (!rt)
        return sdk_fail(RAY_EINVAL, "timeline: no runtime here");
    tl_sources s;
    ray_err e = gather(rt, "timeline", max, &s);
    if (e != RAY_OK)
        return e;
    FILE *f = open_memstream(out, len);
    bool ok = f && put_trace(f, s.src, s.n, s.origin);
    if (f && fclose(f) != 0)
        ok = false;
    drop_sources(&s);
    if (!ok) {
        free(*out); /* open_memstream's buffer is malloc's */
        *out = NULL;
        return sdk_fail(RAY_ENOMEM, "timeline: out of memory for its text");
    }
    return RAY_OK;
}

ray_err
ray_timeline(const char *path)
{
    sdk_rt *rt = sdk_g;
    if (!path || !*path)
        return sdk_fail(RAY_EINVAL, "ray_timeline: no file name");
    if (!rt)
        return sdk_fail(RAY_EINVAL, "ray_timeline: the runtime is not "
                                    "initialized in this process (the "
                                    "driver records the timeline)");
    tl_sources s;
    ray_err e = gather(rt, "ray_timeline", SDK_TIMELINE_MAX, &s);
    if (e != RAY_OK)
        return e;
    FILE *f = fopen(path, "w");
    if (!f) {
        e = sdk_fail(RAY_EINVAL, "ray_timeline: cannot write %s: %s", path,
                     strerror(errno));
    } else {
        bool ok = put_trace(f, s.src, s.n, s.origin);
        if (fclose(f) != 0 || !ok)
            e = sdk_fail(RAY_EINVAL, "ray_timeline: writing %s failed: %s",
                         path, strerror(errno));
    }
    drop_sources(&s);
    return e;
}

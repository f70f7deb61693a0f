/* SPDX-License-Identifier: Apache-2.0
 *
 * map.c: Pool.map / starmap / map_async / imap_unordered over arrays.
 *
 * The input columns are cut into chunks (about 8 per worker, fewer when
 * the input is small, smaller when a chunk would not fit the ring) and
 * each chunk travels as one MSG_MAP record: a million tiny inputs cost a
 * few dozen messages, not a million round trips. The worker runs the
 * function's generated element-wise loop (a direct, inlinable call) and
 * writes the packed results straight into its completion record, which
 * the driver copies into the caller's output array: one copy each way.
 * Chunks are ordinary tasks: they are retried after a worker crash.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "sdk/sdk_int.h"

struct ray_map_job {
    const ray_fn_desc *desc;
    uint8_t *out;
    size_t n;
    size_t nchunks;
    size_t pending; /* chunks not finished */
    size_t *ready;  /* finished chunk indices, in order */
    size_t nready, nreturned;
    size_t chunk_n;
    ray_err err; /* first chunk error */
    char errmsg[300];
    bool destroyed; /* freed when the last chunk finishes */
};

static void
job_free(sdk_map_job *job)
{
    rt_free(job->ready);
    rt_free(job);
}

void
sdk_map_chunk_done(sdk_rt *rt, sdk_task *t, ray_err err, const char *msg,
                   const void *data, size_t len)
{
    sdk_map_job *job = t->job;
    if (!job)
        return;
    t->job = NULL;
    size_t rs = job->desc->ret_size;
    if (err == RAY_OK && len != (t->hi - t->lo) * rs) {
        err = RAY_EPROTO;
        msg = "map chunk result has the wrong size";
    }
    if (err != RAY_OK)
        rt->tasks_failed++;
    if (!job->destroyed) {
        if (err == RAY_OK) {
            memcpy(job->out + t->lo * rs, data, len);
        } else if (job->err == RAY_OK) {
            job->err = err;
            snprintf(job->errmsg, sizeof(job->errmsg),
                     "map '%s' [%llu, %llu): %s", t->name,
                     (unsigned long long)t->lo, (unsigned long long)t->hi,
                     msg ? msg : ray_strerror(err));
        }
        job->ready[job->nready++] = (size_t)(t->lo / job->chunk_n);
    }
    if (--job->pending == 0 && job->destroyed)
        job_free(job);
}

ray_err
ray_map_cols_async(const ray_fn_desc *desc, const void *const *cols, size_t n,
                   void *out, const ray_call_opts *opts, ray_map_job **jobp)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        return sdk_fail(RAY_EINVAL, "map: runtime not initialised");
    if (!desc || !desc->name || !jobp)
        return sdk_fail(RAY_EINVAL, "map: NULL %s",
                        !jobp ? "job" : "function descriptor");
    if (!desc->map_tramp)
        return sdk_fail(RAY_EINVAL,
                        "map '%s': not a RAY_REMOTE function "
                        "with a map form",
                        desc->name);
    if (desc->nargs == 0 || desc->nargs > RAY_MAX_ARGS)
        return sdk_fail(RAY_EINVAL, "map '%s': %u columns", desc->name,
                        desc->nargs);
    if (n && !out)
        return sdk_fail(RAY_EINVAL, "map '%s': NULL output array", desc->name);
    if (n && !cols)
        return sdk_fail(RAY_EINVAL, "map '%s': NULL input columns", desc->name);
    for (uint32_t c = 0; n && c < desc->nargs; c++)
        if (!cols[c])
            return sdk_fail(RAY_EINVAL, "map '%s': input column %u is NULL",
                            desc->name, c + 1);
    if (!sdk_type_scalar(desc->ret_type))
        return sdk_fail(RAY_EINVAL, "map '%s': the result must be a number",
                        desc->name);
    size_t per = desc->ret_size;
    for (uint32_t c = 0; c < desc->nargs; c++) {
        if (!sdk_type_scalar(desc->arg_type[c]))
            return sdk_fail(RAY_EINVAL,
                            "map '%s': argument %u must be a "
                            "number",
                            desc->name, c + 1);
        per += desc->arg_size[c];
    }
    if (n > SIZE_MAX / per / 2)
        return sdk_fail(RAY_EINVAL, "map '%s': %zu elements", desc->name, n);
    int32_t mr = opts ? opts->max_retries : 0;
    size_t target = (size_t)rt->nworkers * 8;
    size_t chunk = n / target + (n % target != 0);
    size_t max_bytes = (rt->cfg.ring_bytes / 2 - 4096) / 2;
    if (chunk * per > max_bytes)
        chunk = max_bytes / per;
    if (chunk == 0)
        chunk = 1;
    sdk_map_job *job = rt_calloc(1, sizeof(*job));
    size_t nchunks = n ? (n + chunk - 1) / chunk : 0;
    if (!job ||
        !(job->ready = rt_calloc(nchunks ? nchunks : 1, sizeof(size_t)))) {
        rt_free(job);
        return sdk_fail(RAY_ENOMEM, "map: out of memory");
    }
    job->desc = desc;
    job->out = out;
    job->n = n;
    job->nchunks = nchunks;
    job->chunk_n = chunk;
    sdk_cb *cbs = NULL;
    ray_err err = RAY_OK;
    pthread_mutex_lock(&rt->mu);
    for (size_t k = 0; k < nchunks; k++) {
        size_t lo = k * chunk, hi = lo + chunk < n ? lo + chunk : n;
        size_t len = sizeof(sdk_msg_map);
        for (uint32_t c = 0; c < desc->nargs; c++)
            len += SDK_ALIGN8((hi - lo) * desc->arg_size[c]);
        sdk_task *t = sdk_task_alloc(rt);
        uint8_t *spec = t && len > sizeof(t->spec_inl)
                            ? rt_malloc(len)
                            : (t ? t->spec_inl : NULL);
        if (!t || !spec) {
            if (t)
                sdk_task_free(rt, t);
            err = sdk_fail(RAY_ENOMEM, "map: out of memory");
            job->nchunks = k;
            break;
        }
        t->spec = spec;
        sdk_msg_map *m = (sdk_msg_map *)spec;
        m->fn_hash = desc->hash;
        m->n = hi - lo;
        m->ncols = desc->nargs;
        atomic_init(&m->claim, SDK_CLAIM_OPEN);
        size_t off = sizeof(*m);
        for (uint32_t c = 0; c < desc->nargs; c++) {
            size_t bytes = (hi - lo) * desc->arg_size[c];
            memcpy(spec + off,
                   (const uint8_t *)cols[c] + lo * desc->arg_size[c], bytes);
            off += SDK_ALIGN8(bytes);
        }
        t->spec_len = (uint32_t)len;
        t->kind = SDK_TK_MAP;
        t->id = rt->next_task_id++;
        t->fn_hash = desc->hash;
        t->name = desc->name;
        t->retries_left = mr == 0 ? 3 : (mr < 0 ? 0 : mr);
        t->job = job;
        t->lo = lo;
        t->hi = hi;
        job->pending++;
        sdk_task_ready(rt, t);
    }
    sdk_dispatch(rt, &cbs);
    if (err != RAY_OK)
        job->destroyed = true; /* in-flight chunks free it */
    if (err != RAY_OK && job->pending == 0)
        job_free(job);
    pthread_mutex_unlock(&rt->mu);
    sdk_run_callbacks(cbs);
    if (err != RAY_OK)
        return err;
    *jobp = job;
    return RAY_OK;
}

static bool
job_all_done(sdk_rt *rt, void *arg)
{
    (void)rt;
    return ((sdk_map_job *)arg)->pending == 0;
}

static bool
job_some_ready(sdk_rt *rt, void *arg)
{
    (void)rt;
    sdk_map_job *job = arg;
    return job->nready > job->nreturned || job->pending == 0;
}

ray_err
ray_map_job_wait(ray_map_job *job, int64_t timeout_ms)
{
    sdk_rt *rt = sdk_g;
    if (!rt || !job)
        return sdk_fail(RAY_EINVAL, "ray_map_job_wait: bad arguments");
    ray_err e =
        sdk_wait_until(rt, job_all_done, job, rt_deadline_after_ms(timeout_ms));
    if (e != RAY_OK)
        return sdk_fail(e, "map '%s': timed out", job->desc->name);
    pthread_mutex_lock(&rt->mu);
    e = job->err;
    if (e != RAY_OK)
        sdk_fail(e, "%s", job->errmsg);
    pthread_mutex_unlock(&rt->mu);
    return e;
}

ray_err
ray_map_job_next(ray_map_job *job, size_t *lo, size_t *hi, int64_t timeout_ms)
{
    sdk_rt *rt = sdk_g;
    if (!rt || !job || !lo || !hi)
        return sdk_fail(RAY_EINVAL, "ray_map_job_next: bad arguments");
    if (job->nreturned >= job->nchunks)
        return RAY_ECLOSED;
    ray_err e = sdk_wait_until(rt, job_some_ready, job,
                               rt_deadline_after_ms(timeout_ms));
    pthread_mutex_lock(&rt->mu);
    if (job->nready > job->nreturned) {
        size_t k = job->ready[job->nreturned++];
        *lo = k * job->chunk_n;
        *hi = *lo + job->chunk_n < job->n ? *lo + job->chunk_n : job->n;
        e = job->err;
        if (e != RAY_OK)
            sdk_fail(e, "%s", job->errmsg);
    } else if (e == RAY_OK) {
        e = RAY_ECLOSED;
    }
    pthread_mutex_unlock(&rt->mu);
    return e;
}

typedef struct drop_ctx {
    sdk_rt *rt;
    ray_map_job *job;
    sdk_cb **cbs;
} drop_ctx;

/* A chunk of the destroyed job waiting for a worker never runs. */
static void
drop_queued_chunk(void *arg, sched_task *st)
{
    drop_ctx *c = arg;
    sdk_task *t = sdk_task_of(st);
    if (t->kind == SDK_TK_MAP && t->job == c->job) {
        sdk_ready_remove(c->rt, t);
        sdk_task_fail(c->rt, t, RAY_ECANCELLED, "map job destroyed", c->cbs);
    }
}

void
ray_map_job_destroy(ray_map_job *job)
{
    sdk_rt *rt = sdk_g;
    if (!job)
        return;
    if (!rt) {
        job_free(job);
        return;
    }
    sdk_cb *cbs = NULL;
    pthread_mutex_lock(&rt->mu);
    /* Chunks not yet dispatched, or handed to a worker that has not
     * started them, never run; running ones finish and are dropped. */
    drop_ctx dc = {rt, job, &cbs};
    rt->rl_api->each_waiting(rt->rl, drop_queued_chunk, &dc);
    for (int w = 0; w < rt->ntask; w++) {
        for (sdk_task *t = rt->workers[w].head, *next; t; t = next) {
            next = t->next;
            if (t->kind == SDK_TK_MAP && t->job == job &&
                sdk_task_revoke(rt, t)) {
                rt->rl_api->returned(rt->rl, w, &t->st);
                sdk_task_fail(rt, t, RAY_ECANCELLED, "map job destroyed", &cbs);
            }
        }
    }
    sdk_dispatch(rt, &cbs);
    job->destroyed = true;
    bool free_now = job->pending == 0;
    pthread_mutex_unlock(&rt->mu);
    if (free_now)
        job_free(job);
    sdk_run_callbacks(cbs);
}

/* Items of the job whose chunks are done (mu held). */
static size_t
items_done(const sdk_map_job *job)
{
    size_t k = job->nready * job->chunk_n;
    return k < job->n ? k : job->n;
}

/* ray_map_job_wait(job, RAY_FOREVER), drawing a progress bar on the
 * driver's terminal for a map that lasts (progress.c). */
static ray_err
wait_with_progress(ray_map_job *job)
{
    sdk_rt *rt = sdk_g;
    sdk_pbar p;
    sdk_pbar_begin(&p, job->desc->name, job->n);
    while (p.mode && sdk_wait_until(rt, job_all_done, job,
                                    rt_deadline_after_ms(100)) != RAY_OK) {
        pthread_mutex_lock(&rt->mu);
        size_t k = items_done(job);
        pthread_mutex_unlock(&rt->mu);
        sdk_pbar_update(&p, k);
    }
    ray_err e = ray_map_job_wait(job, RAY_FOREVER);
    pthread_mutex_lock(&rt->mu);
    size_t k = items_done(job);
    pthread_mutex_unlock(&rt->mu);
    sdk_pbar_end(&p, k);
    return e;
}

ray_err
ray_map_cols(const ray_fn_desc *desc, const void *const *cols, size_t n,
             void *out, const ray_call_opts *opts)
{
    ray_map_job *job;
    ray_err e = ray_map_cols_async(desc, cols, n, out, opts, &job);
    if (e != RAY_OK)
        return e;
    e = wait_with_progress(job);
    ray_map_job_destroy(job);
    return e;
}

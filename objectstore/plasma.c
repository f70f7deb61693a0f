/* SPDX-License-Identifier: Apache-2.0
 *
 * plasma.c: store IDs from keys, the write-seal-release of a large value,
 * and the trash list of deletes that found their object still pinned.
 * Tuned for few, large objects: one store create per value (no round trip
 * for a client in the store's process), one memcpy at memory speed into
 * the pre-faulted region.
 */
#include "objectstore/plasma.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/ids.h"

void
store_plasma_id(const uint8_t prefix[STORE_PLASMA_PREFIX], uint64_t key,
                store_object_id *out)
{
    rt_task_id task;
    memcpy(task.b, prefix, STORE_PLASMA_PREFIX);
    for (int i = 0; i < 8; i++)
        task.b[STORE_PLASMA_PREFIX + i] = (uint8_t)(key >> (8 * i));
    rt_job_id job = rt_job_id_from_int(1);
    memcpy(task.b + RT_TASK_ID_SIZE - RT_JOB_ID_SIZE, job.b, RT_JOB_ID_SIZE);
    (void)rt_object_id_for_return(task, 1, out);
}

/* Sleep between retries of a store call that found no room: 0.5 ms,
 * doubling to 16 ms. False once `deadline` passed. */
static bool
nap(int64_t deadline, int64_t *nap_us)
{
    if (rt_clock_now_ns() >= deadline)
        return false;
    struct timespec ts = {0, *nap_us * 1000};
    nanosleep(&ts, NULL);
    *nap_us = *nap_us < 16000 ? 2 * *nap_us : *nap_us;
    return true;
}

ray_err
store_plasma_get(store_client *c, const store_object_id *id, int64_t wait_ms,
                 store_buffer *b)
{
    int64_t deadline = rt_clock_now_ns() + wait_ms * 1000000;
    int64_t nap_us = 500;
    ray_err e;
    while ((e = store_client_get(c, id, 1, 60000, b)) == RAY_ESTORE_FULL &&
           nap(deadline, &nap_us))
        ;
    return e;
}

ray_err
store_plasma_create(store_client *c, const store_object_id *id, size_t len,
                    int64_t wait_ms, uint32_t flags, store_wbuffer *wb,
                    char *msg, size_t msglen)
{
    int64_t deadline = rt_clock_now_ns() + wait_ms * 1000000;
    int64_t nap_us = 500;
    ray_err e;
    while ((e = store_client_create(c, id, len, 0, flags, wb)) ==
               RAY_ESTORE_FULL &&
           nap(deadline, &nap_us))
        ;
    if (e == RAY_ESTORE_FULL || e == RAY_ETOOBIG) {
        snprintf(msg, msglen,
                 "object store full: a value of %zu bytes does "
                 "not fit (%s); raise ray_config.object_store_bytes",
                 len, store_client_last_error(c));
        return RAY_ESTORE_FULL;
    }
    if (e != RAY_OK)
        snprintf(msg, msglen,
                 "object store: cannot create a value of %zu "
                 "bytes: %s",
                 len, store_client_last_error(c));
    return e;
}

ray_err
store_plasma_seal(store_client *c, const store_object_id *id, char *msg,
                  size_t msglen)
{
    ray_err e = store_client_seal(c, id);
    if (e != RAY_OK) {
        snprintf(msg, msglen, "object store: cannot seal a value: %s",
                 rt_strerror(e));
        (void)store_client_abort(c, id);
        return e;
    }
    (void)store_client_release(c, id);
    return RAY_OK;
}

ray_err
store_plasma_write(store_client *c, const store_object_id *id, const void *data,
                   size_t len, int64_t wait_ms, char *msg, size_t msglen)
{
    store_wbuffer wb;
    ray_err e = store_plasma_create(c, id, len, wait_ms, 0, &wb, msg, msglen);
    if (e != RAY_OK)
        return e;
    if (len)
        memcpy(wb.data, data, len);
    return store_plasma_seal(c, id, msg, msglen);
}

ray_err
store_plasma_delete(store_client *c, store_plasma_trash *t,
                    const store_object_id *id)
{
    ray_err e = store_client_delete(c, id);
    if (e != RAY_EBUSY)
        return RAY_OK;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        store_object_id *p = rt_realloc(t->ids, cap * sizeof(*p));
        if (!p)
            return RAY_ENOMEM;
        t->ids = p;
        t->cap = cap;
    }
    t->ids[t->n++] = *id;
    return RAY_OK;
}

size_t
store_plasma_trash_retry(store_client *c, store_plasma_trash *t)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (store_client_delete(c, &t->ids[i]) == RAY_EBUSY)
            t->ids[k++] = t->ids[i];
    t->n = k;
    return k;
}

void
store_plasma_trash_fini(store_plasma_trash *t)
{
    rt_free(t->ids);
    memset(t, 0, sizeof(*t));
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * ids.c: creating and deriving IDs, hex encoding and hashing.
 *
 * Every function here is pure or draws from the per-thread generator in
 * random.c, so all are thread-safe and allocation-free. Task IDs are made
 * once per submitted task, so rt_task_id_create is the hot path: 20 random
 * bytes (three generator draws) and a 4-byte copy.
 */
#include "runtime/ids.h"

#include "runtime/random.h"

static const char hex_digits[] = "0123456789abcdef";

static void
put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void
rt_id_hex_encode(const uint8_t *bytes, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[bytes[i] >> 4];
        out[2 * i + 1] = hex_digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

ray_err
rt_id_hex_decode(const char *hex, uint8_t *bytes, size_t n)
{
    uint8_t tmp[64];
    if (!hex || n > sizeof tmp)
        return RAY_EINVAL;
    for (size_t i = 0; i < n; i++) {
        /* Checking each pair before the next also rejects a short string
         * without reading past its NUL. */
        int hi = hex_value(hex[2 * i]);
        if (hi < 0)
            return RAY_EINVAL;
        int lo = hex_value(hex[2 * i + 1]);
        if (lo < 0)
            return RAY_EINVAL;
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[2 * n] != '\0')
        return RAY_EINVAL;
    memcpy(bytes, tmp, n);
    return RAY_OK;
}

static inline uint64_t
mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t
rt_id_hash_bytes(const uint8_t *bytes, size_t n)
{
    uint64_t h = 0x243f6a8885a308d3ULL ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, bytes + i, 8);
        h = mix64(h ^ w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, bytes + i, n - i);
        h = mix64(h ^ w ^ 0x9e3779b97f4a7c15ULL);
    }
    return h;
}

rt_job_id
rt_job_id_from_int(uint32_t n)
{
    rt_job_id id;
    put_u32le(id.b, n);
    return id;
}

uint32_t
rt_job_id_to_int(rt_job_id id)
{
    return get_u32le(id.b);
}

rt_actor_id
rt_actor_id_create(rt_job_id job)
{
    rt_actor_id id;
    rt_random_fill(id.b, RT_ACTOR_ID_SIZE - RT_JOB_ID_SIZE);
    memcpy(id.b + RT_ACTOR_ID_SIZE - RT_JOB_ID_SIZE, job.b, RT_JOB_ID_SIZE);
    return id;
}

rt_job_id
rt_actor_id_job(rt_actor_id id)
{
    rt_job_id job;
    memcpy(job.b, id.b + RT_ACTOR_ID_SIZE - RT_JOB_ID_SIZE, RT_JOB_ID_SIZE);
    return job;
}

rt_task_id
rt_task_id_create(rt_job_id job)
{
    rt_task_id id;
    rt_random_fill(id.b, RT_TASK_ID_SIZE - RT_JOB_ID_SIZE);
    memcpy(id.b + RT_TASK_ID_SIZE - RT_JOB_ID_SIZE, job.b, RT_JOB_ID_SIZE);
    return id;
}

rt_job_id
rt_task_id_job(rt_task_id id)
{
    rt_job_id job;
    memcpy(job.b, id.b + RT_TASK_ID_SIZE - RT_JOB_ID_SIZE, RT_JOB_ID_SIZE);
    return job;
}

static ray_err
object_id_make(rt_task_id task, uint32_t index, uint32_t flag,
               rt_object_id *out)
{
    if (index > RT_OBJECT_INDEX_MAX)
        return RAY_EINVAL;
    memcpy(out->b, task.b, RT_TASK_ID_SIZE);
    put_u32le(out->b + RT_TASK_ID_SIZE, index | flag);
    return RAY_OK;
}

ray_err
rt_object_id_for_return(rt_task_id task, uint32_t index, rt_object_id *out)
{
    return object_id_make(task, index, 0, out);
}

ray_err
rt_object_id_for_put(rt_task_id task, uint32_t index, rt_object_id *out)
{
    return object_id_make(task, index, RT_OBJECT_INDEX_PUT_FLAG, out);
}

rt_task_id
rt_object_id_task(rt_object_id id)
{
    rt_task_id task;
    memcpy(task.b, id.b, RT_TASK_ID_SIZE);
    return task;
}

uint32_t
rt_object_id_index(rt_object_id id)
{
    return get_u32le(id.b + RT_TASK_ID_SIZE) & RT_OBJECT_INDEX_MAX;
}

bool
rt_object_id_is_put(rt_object_id id)
{
    return (get_u32le(id.b + RT_TASK_ID_SIZE) & RT_OBJECT_INDEX_PUT_FLAG) != 0;
}

rt_node_id
rt_node_id_create(void)
{
    rt_node_id id;
    rt_random_fill(id.b, sizeof id.b);
    return id;
}

rt_worker_id
rt_worker_id_create(void)
{
    rt_worker_id id;
    rt_random_fill(id.b, sizeof id.b);
    return id;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * memory_store.c: slots, values and reference counts of owned objects.
 *
 * Slots come in chunks of CW_CHUNK that never move, linked into a free
 * list through next_free; freeing bumps the generation so old ids go
 * stale. Values up to CW_INLINE_MAX bytes live in the slot itself (no
 * allocation for the scalar results that dominate task workloads).
 */
#include "runtime/core_worker/memory_store.h"

#include <string.h>

#include "runtime/alloc.h"

void
cw_store_init(cw_store *s)
{
    memset(s, 0, sizeof(*s));
}

static void
free_value(cw_store *s, cw_obj *o)
{
    if (o->state == CW_READY && cw_obj_stored(o) && o->len == 8 && s->on_free)
        s->on_free(s->on_free_arg, cw_obj_store_key(o));
    if (o->len > CW_INLINE_MAX) {
        rt_free(o->v.ptr);
        s->bytes -= o->len;
    }
    o->len = 0;
    rt_free(o->errmsg);
    o->errmsg = NULL;
}

void
cw_store_set_free_hook(cw_store *s, cw_free_cb cb, void *arg)
{
    s->on_free = cb;
    s->on_free_arg = arg;
}

void
cw_store_fini(cw_store *s)
{
    s->on_free = NULL;
    for (uint32_t c = 0; c < s->nchunks; c++) {
        for (uint32_t i = 0; i < CW_CHUNK; i++) {
            cw_obj *o = &s->chunks[c][i];
            if (o->state != CW_FREE)
                free_value(s, o);
        }
        rt_free(s->chunks[c]);
    }
    rt_free(s->chunks);
    memset(s, 0, sizeof(*s));
}

static ray_err
grow(cw_store *s)
{
    cw_obj **nc = rt_realloc(s->chunks, (s->nchunks + 1) * sizeof(*nc));
    if (!nc)
        return RAY_ENOMEM;
    s->chunks = nc;
    cw_obj *chunk = rt_calloc(CW_CHUNK, sizeof(cw_obj));
    if (!chunk)
        return RAY_ENOMEM;
    uint32_t base = s->nchunks * CW_CHUNK;
    for (uint32_t i = 0; i < CW_CHUNK; i++) {
        chunk[i].gen = 1;
        chunk[i].slot = base + i;
        chunk[i].next_free = (i + 1 < CW_CHUNK) ? base + i + 2 : s->free_head;
    }
    s->chunks[s->nchunks++] = chunk;
    s->free_head = base + 1;
    return RAY_OK;
}

static inline cw_obj *
slot_at(cw_store *s, uint32_t slot)
{
    return &s->chunks[slot / CW_CHUNK][slot % CW_CHUNK];
}

ray_err
cw_store_alloc(cw_store *s, uint64_t *id, cw_obj **out)
{
    if (s->free_head == 0 && grow(s) != RAY_OK)
        return RAY_ENOMEM;
    uint32_t slot = s->free_head - 1;
    cw_obj *o = slot_at(s, slot);
    s->free_head = o->next_free;
    o->next_free = 0;
    o->state = CW_PENDING;
    o->type = 0;
    o->task = 0;
    o->refs = 1;
    o->len = 0;
    o->err = RAY_OK;
    o->errmsg = NULL;
    o->producer = NULL;
    o->waiters = NULL;
    o->done_seq = 0;
    s->live++;
    *id = cw_store_id(o);
    *out = o;
    return RAY_OK;
}

cw_obj *
cw_store_lookup(cw_store *s, uint64_t id)
{
    uint32_t slot1 = (uint32_t)id;
    if (slot1 == 0 || slot1 > s->nchunks * CW_CHUNK)
        return NULL;
    cw_obj *o = slot_at(s, slot1 - 1);
    if (o->state == CW_FREE || o->gen != (uint32_t)(id >> 32))
        return NULL;
    return o;
}

ray_err
cw_store_set_value(cw_store *s, cw_obj *o, uint32_t type, const void *data,
                   size_t len)
{
    if (len > CW_INLINE_MAX) {
        void *p = rt_malloc(len);
        if (!p)
            return RAY_ENOMEM;
        memcpy(p, data, len);
        cw_store_set_owned(s, o, type, p, len);
        return RAY_OK;
    }
    if (len)
        memcpy(o->v.inl, data, len);
    o->len = len;
    o->type = (uint8_t)type;
    o->state = CW_READY;
    o->producer = NULL;
    o->done_seq = ++s->done_seq;
    return RAY_OK;
}

void
cw_store_set_owned(cw_store *s, cw_obj *o, uint32_t type, void *buf,
                   size_t len)
{
    if (len <= CW_INLINE_MAX) {
        if (len)
            memcpy(o->v.inl, buf, len);
        rt_free(buf);
    } else {
        o->v.ptr = buf;
        s->bytes += len;
    }
    o->len = len;
    o->type = (uint8_t)type;
    o->state = CW_READY;
    o->producer = NULL;
    o->done_seq = ++s->done_seq;
}

void
cw_store_set_error(cw_store *s, cw_obj *o, ray_err err, const char *msg)
{
    o->err = err;
    o->errmsg = msg ? rt_strdup(msg) : NULL;
    o->len = 0;
    o->state = CW_FAILED;
    o->producer = NULL;
    o->done_seq = ++s->done_seq;
}

bool
cw_store_maybe_free(cw_store *s, cw_obj *o)
{
    if (o->refs > 0 || o->state == CW_PENDING || o->state == CW_FREE)
        return false;
    free_value(s, o);
    o->state = CW_FREE;
    o->gen++;
    if (o->gen == 0)
        o->gen = 1;
    o->next_free = s->free_head;
    s->free_head = o->slot + 1;
    s->live--;
    return true;
}

bool
cw_store_release(cw_store *s, cw_obj *o)
{
    if (o->refs > 0)
        o->refs--;
    return cw_store_maybe_free(s, o);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * memory_store.c: slots, values and reference counts of owned objects.
 *
 * Slots come in chunks of SDK_OBJ_CHUNK that never move, linked into a free
 * list through next_free; freeing bumps the generation so old ids go
 * stale. Values up to SDK_OBJ_INLINE_MAX bytes live in the slot itself (no
 * allocation for the scalar results that dominate task workloads).
 */
#include "sdk/memory_store.h"

#include <string.h>

#include "runtime/alloc.h"

void
sdk_objects_init(sdk_objects *s)
{
    memset(s, 0, sizeof(*s));
}

static void
free_value(sdk_objects *s, sdk_obj *o)
{
    if (o->state == SDK_OBJ_READY && sdk_obj_stored(o) && o->len == 8 &&
        s->on_free)
        s->on_free(s->on_free_arg, sdk_obj_store_key(o));
    if (o->len > SDK_OBJ_INLINE_MAX) {
        rt_free(o->v.ptr);
        s->bytes -= o->len;
    }
    o->len = 0;
    rt_free(o->errmsg);
    o->errmsg = NULL;
}

void
sdk_objects_set_free_hook(sdk_objects *s, sdk_obj_free_cb cb, void *arg)
{
    s->on_free = cb;
    s->on_free_arg = arg;
}

void
sdk_objects_fini(sdk_objects *s)
{
    s->on_free = NULL;
    for (uint32_t c = 0; c < s->nchunks; c++) {
        for (uint32_t i = 0; i < SDK_OBJ_CHUNK; i++) {
            sdk_obj *o = &s->chunks[c][i];
            if (o->state != SDK_OBJ_FREE)
                free_value(s, o);
        }
        rt_free(s->chunks[c]);
    }
    rt_free(s->chunks);
    memset(s, 0, sizeof(*s));
}

static ray_err
grow(sdk_objects *s)
{
    sdk_obj **nc = rt_realloc(s->chunks, (s->nchunks + 1) * sizeof(*nc));
    if (!nc)
        return RAY_ENOMEM;
    s->chunks = nc;
    sdk_obj *chunk = rt_calloc(SDK_OBJ_CHUNK, sizeof(sdk_obj));
    if (!chunk)
        return RAY_ENOMEM;
    uint32_t base = s->nchunks * SDK_OBJ_CHUNK;
    for (uint32_t i = 0; i < SDK_OBJ_CHUNK; i++) {
        chunk[i].gen = 1;
        chunk[i].slot = base + i;
        chunk[i].next_free =
            (i + 1 < SDK_OBJ_CHUNK) ? base + i + 2 : s->free_head;
    }
    s->chunks[s->nchunks++] = chunk;
    s->free_head = base + 1;
    return RAY_OK;
}

static inline sdk_obj *
slot_at(sdk_objects *s, uint32_t slot)
{
    return &s->chunks[slot / SDK_OBJ_CHUNK][slot % SDK_OBJ_CHUNK];
}

ray_err
sdk_objects_alloc(sdk_objects *s, uint64_t *id, sdk_obj **out)
{
    if (s->free_head == 0 && grow(s) != RAY_OK)
        return RAY_ENOMEM;
    uint32_t slot = s->free_head - 1;
    sdk_obj *o = slot_at(s, slot);
    s->free_head = o->next_free;
    o->next_free = 0;
    o->state = SDK_OBJ_PENDING;
    o->type = 0;
    o->task = 0;
    o->parked = 0;
    o->wanted = 0;
    o->refs = 1;
    o->lent = 0;
    o->len = 0;
    o->err = RAY_OK;
    o->errmsg = NULL;
    o->producer = NULL;
    o->waiters = NULL;
    o->done_seq = 0;
    s->live++;
    *id = sdk_objects_id(o);
    *out = o;
    return RAY_OK;
}

sdk_obj *
sdk_objects_lookup(sdk_objects *s, uint64_t id)
{
    uint32_t slot1 = (uint32_t)id;
    if (slot1 == 0 || slot1 > s->nchunks * SDK_OBJ_CHUNK)
        return NULL;
    sdk_obj *o = slot_at(s, slot1 - 1);
    if (o->state == SDK_OBJ_FREE || o->gen != (uint32_t)(id >> 32))
        return NULL;
    return o;
}

sdk_obj *
sdk_objects_next(sdk_objects *s, uint32_t *at)
{
    while (*at < s->nchunks * SDK_OBJ_CHUNK) {
        sdk_obj *o = slot_at(s, (*at)++);
        if (o->state != SDK_OBJ_FREE)
            return o;
    }
    return NULL;
}

ray_err
sdk_objects_set_value(sdk_objects *s, sdk_obj *o, uint32_t type,
                      const void *data, size_t len)
{
    if (len > SDK_OBJ_INLINE_MAX) {
        void *p = rt_malloc(len);
        if (!p)
            return RAY_ENOMEM;
        memcpy(p, data, len);
        sdk_objects_set_owned(s, o, type, p, len);
        return RAY_OK;
    }
    if (len)
        memcpy(o->v.inl, data, len);
    o->len = len;
    o->type = (uint8_t)type;
    o->state = SDK_OBJ_READY;
    o->producer = NULL;
    o->parked = 0;
    o->done_seq = ++s->done_seq;
    return RAY_OK;
}

void
sdk_objects_set_owned(sdk_objects *s, sdk_obj *o, uint32_t type, void *buf,
                      size_t len)
{
    if (len <= SDK_OBJ_INLINE_MAX) {
        if (len)
            memcpy(o->v.inl, buf, len);
        rt_free(buf);
    } else {
        o->v.ptr = buf;
        s->bytes += len;
    }
    o->len = len;
    o->type = (uint8_t)type;
    o->state = SDK_OBJ_READY;
    o->producer = NULL;
    o->parked = 0;
    o->done_seq = ++s->done_seq;
}

void
sdk_objects_move_value(sdk_objects *s, sdk_obj *from, sdk_obj *to)
{
    to->v = from->v; /* the inline bytes, or the owned pointer */
    to->len = from->len;
    to->type = from->type;
    to->state = SDK_OBJ_READY;
    to->producer = NULL;
    to->parked = 0;
    to->done_seq = ++s->done_seq;
    from->len = 0;
    from->type &= (uint8_t)~SDK_TYPE_STORED;
}

void
sdk_objects_set_error(sdk_objects *s, sdk_obj *o, ray_err err, const char *msg)
{
    o->err = err;
    o->errmsg = msg ? rt_strdup(msg) : NULL;
    o->len = 0;
    o->state = SDK_OBJ_FAILED;
    o->producer = NULL;
    o->parked = 0;
    o->done_seq = ++s->done_seq;
}

bool
sdk_objects_maybe_free(sdk_objects *s, sdk_obj *o)
{
    if (o->refs > 0 || o->state == SDK_OBJ_PENDING || o->state == SDK_OBJ_FREE)
        return false;
    free_value(s, o);
    if (o->lent && s->on_lent_free)
        s->on_lent_free(sdk_objects_id(o));
    o->lent = 0;
    o->state = SDK_OBJ_FREE;
    o->gen++;
    if (o->gen == 0)
        o->gen = 1;
    o->next_free = s->free_head;
    s->free_head = o->slot + 1;
    s->live--;
    return true;
}

bool
sdk_objects_release(sdk_objects *s, sdk_obj *o)
{
    if (o->refs > 0)
        o->refs--;
    if (o->refs == 0 && o->parked && o->state == SDK_OBJ_PENDING &&
        s->on_unheld && s->on_unheld(sdk_objects_id(o)))
        sdk_objects_set_error(s, o, RAY_ECANCELLED, "dropped unfetched");
    return sdk_objects_maybe_free(s, o);
}

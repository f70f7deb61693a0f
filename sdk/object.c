/* SPDX-License-Identifier: Apache-2.0
 *
 * object.c: ray_put, ray_get (views and typed copies), ray_wait,
 * completion callbacks and reference counting of the public API.
 *
 * Small values live in the driver's memory store (sdk/memory_store.c):
 * scalars inline in their slot, buffers as one heap copy. Values of at
 * least STORE_PLASMA_MIN bytes live in the node's shared-memory object store,
 * started on first need (runtime.c), and the memory store keeps their
 * key: a put writes them there (one copy), a task's large result arrives
 * there from its worker, and a get pins them in the store and returns a
 * view into the store's read-only mapping. A view pins the object with
 * one reference (and, for a stored value, one store pin) until
 * ray_release, so no copy is made on get; the last reference deletes a
 * stored value from the store. Inside a task, gets of stored values are
 * views as well (the worker pins them itself); small ones are copies.
 *
 * Waiting threads make progress themselves (drain completion rings,
 * dispatch) and sleep on the driver doorbell after a bounded spin: a
 * synchronous call costs one ring round trip and no system call when the
 * worker is spinning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "sdk/backend.h"
#include "sdk/sdk_int.h"
#include "sdk/transfer.h"

/* ray_view.flags */
#define VIEW_COPY 1u  /* a private copy (inside a task): free it */
#define VIEW_STORE 2u /* pins a stored value; in a task ref.id is its key */

static sdk_rt *
rt_or_fail(const char *what)
{
    sdk_rt *rt = sdk_g;
    if (!rt)
        sdk_fail(RAY_EINVAL, "%s: runtime not initialised%s", what,
                 sdk_in_worker ? " (ray_on_done is not available inside a "
                                 "task yet)"
                               : "");
    return rt;
}

/* ---- references ---- */

/* The detail of a ref that is not one of this runtime's live objects. */
#define BAD_REF                                                                \
    "null, released or foreign reference (not made by this "                   \
    "runtime, or kept from before ray_shutdown)"

/* A ref of another runtime of the job is counted at its owner. */
static bool
borrowed(ray_ref ref)
{
    return ref.id && ref.owner && ref.owner != sdk_ref_tag() &&
           sdk_be->borrow_ref;
}

ray_err
ray_ref_retain(ray_ref ref)
{
    if (borrowed(ref)) { /* its owner's reason, if it gave one */
        sdk_clear_error();
        ray_err e = sdk_be->borrow_ref(ref, true);
        if (e == RAY_OK || ray_last_error_detail()[0])
            return e;
    }
    if (!sdk_ref_id(ref))
        return sdk_fail(RAY_EINVAL, "ray_ref_retain: " BAD_REF);
    return sdk_be->ref(ref, true);
}

void
ray_ref_release(ray_ref ref)
{
    if (borrowed(ref))
        (void)sdk_be->borrow_ref(ref, false);
    else if (sdk_ref_id(ref))
        (void)sdk_be->ref(ref, false);
}

ray_err
sdk_drv_ref(ray_ref ref, bool retain)
{
    sdk_rt *rt = sdk_g;
    ray_err err = RAY_OK;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, ref.id);
    if (o && retain)
        sdk_objects_retain(o);
    else if (o)
        sdk_objects_release(&rt->store, o);
    else if (retain)
        err = sdk_fail(RAY_EINVAL, "ray_ref_retain: " BAD_REF);
    pthread_mutex_unlock(&rt->mu);
    return err;
}

/* ---- the node's object store (driver side) ---- */

static void
store_id(sdk_rt *rt, uint64_t key, store_object_id *id)
{
    store_plasma_id(rt->store_prefix, key, id);
}

void
sdk_store_forget(sdk_rt *rt, uint64_t key)
{
    store_client *c = rt->rl_api->store_client(rt->rl);
    if (!c)
        return;
    store_object_id id;
    store_id(rt, key, &id);
    xfer_copy_forget(key);
    if (store_plasma_delete(c, &rt->trash, &id) != RAY_OK)
        RT_LOG_RATELIMITED(RT_LOG_WARN, "out of memory: a stored value stays "
                                        "until shutdown");
}

/* A new key for a stored value of this driver, and its store id. */
static uint64_t
new_key(sdk_rt *rt, store_object_id *id)
{
    uint64_t k = STORE_KEY_PUT | (atomic_fetch_add(&rt->next_put_key, 1) + 1);
    store_id(rt, k, id);
    return k;
}

ray_err
sdk_store_put(sdk_rt *rt, const void *data, size_t len, uint64_t *key)
{
    store_client *c = sdk_store_ensure(rt);
    if (!c)
        return RAY_ESTORE_FULL;
    store_object_id id;
    uint64_t k = new_key(rt, &id);
    char msg[400];
    ray_err e = store_plasma_write(c, &id, data, len, 1000, msg, sizeof(msg));
    if (e != RAY_OK)
        return sdk_fail(e, "%s", msg);
    *key = k;
    return RAY_OK;
}

uint64_t
sdk_store_new_key(sdk_rt *rt)
{
    store_object_id id;
    return new_key(rt, &id);
}

ray_err
sdk_store_begin(sdk_rt *rt, size_t len, int64_t wait_ms, uint32_t flags,
                uint64_t *key, void **dst)
{
    store_client *c = sdk_store_ensure(rt);
    if (!c)
        return RAY_ESTORE_FULL;
    store_object_id id;
    uint64_t k = *key;
    if (k) /* reserved before (sdk_store_new_key) */
        store_id(rt, k, &id);
    else
        k = new_key(rt, &id);
    store_wbuffer wb;
    char msg[400];
    ray_err e =
        store_plasma_create(c, &id, len, wait_ms, flags, &wb, msg, sizeof(msg));
    if (e != RAY_OK)
        return sdk_fail(e, "%s", msg);
    *key = k;
    *dst = wb.data;
    return RAY_OK;
}

ray_err
sdk_store_end(sdk_rt *rt, uint64_t key, bool ok)
{
    store_client *c = rt->rl_api->store_client(rt->rl);
    store_object_id id;
    store_id(rt, key, &id);
    if (!ok)
        return store_client_abort(c, &id);
    char msg[200];
    ray_err e = store_plasma_seal(c, &id, msg, sizeof(msg));
    return e == RAY_OK ? RAY_OK : sdk_fail(e, "%s", msg);
}

static bool
tasks_in_flight(sdk_rt *rt)
{
    for (int w = 0; w < rt->nslots; w++)
        if (sdk_slot(rt, w)->inflight)
            return true;
    return false;
}

ray_err
sdk_store_arg_create(sdk_rt *rt, size_t len, uint64_t *key, void **dst)
{
    store_client *c = sdk_store_ensure(rt);
    if (!c)
        return RAY_ESTORE_FULL;
    store_object_id id;
    uint64_t k = new_key(rt, &id);
    store_wbuffer wb;
    ray_err e = store_client_create(c, &id, len, 0, 0, &wb);
    if (e == RAY_ESTORE_FULL && tasks_in_flight(rt))
        return RAY_EAGAIN; /* running tasks hold pins: retry after them */
    if (e == RAY_ESTORE_FULL || e == RAY_ETOOBIG)
        return sdk_fail(RAY_ESTORE_FULL,
                        "an argument of %zu bytes does not "
                        "fit in the object store (%s); raise "
                        "ray_config.object_store_bytes",
                        len, store_client_last_error(c));
    if (e != RAY_OK)
        return sdk_fail(e,
                        "object store: cannot create an argument of %zu "
                        "bytes: %s",
                        len, store_client_last_error(c));
    *key = k;
    *dst = wb.data;
    return RAY_OK;
}

void
sdk_store_arg_seal(sdk_rt *rt, uint64_t key)
{
    store_client *c = rt->rl_api->store_client(rt->rl);
    store_object_id id;
    store_id(rt, key, &id);
    (void)store_client_seal(c, &id);
    (void)store_client_release(c, &id);
}

void
sdk_store_arg_abort(sdk_rt *rt, uint64_t key)
{
    store_client *c = rt->rl_api->store_client(rt->rl);
    store_object_id id;
    store_id(rt, key, &id);
    (void)store_client_abort(c, &id);
}

/* A put of a large value: into the store, then a descriptor in the
 * memory store. */
static ray_err
put_stored(sdk_rt *rt, uint32_t type, const void *data, size_t len,
           ray_ref *out)
{
    uint64_t key;
    ray_err err = sdk_store_put(rt, data, len, &key);
    if (err != RAY_OK)
        return err;
    return sdk_put_key(rt, type, key, out);
}

ray_err
sdk_put_key(sdk_rt *rt, uint32_t type, uint64_t key, ray_ref *out)
{
    ray_err err;
    uint64_t id;
    sdk_obj *o;
    pthread_mutex_lock(&rt->mu);
    err = sdk_objects_alloc(&rt->store, &id, &o);
    if (err == RAY_OK)
        sdk_objects_set_value(&rt->store, o, SDK_TYPE_STORED | type, &key, 8);
    else
        sdk_store_forget(rt, key);
    pthread_mutex_unlock(&rt->mu);
    if (err != RAY_OK)
        return sdk_fail(err, "ray_put: out of memory");
    *out = sdk_ref(id);
    return RAY_OK;
}

/* ---- put ---- */

ray_err
ray_put(uint32_t type, const void *data, size_t len, ray_ref *out)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_put: NULL out");
    *out = RAY_REF_NULL;
    if (!sdk_type_scalar(type) && !sdk_type_buffer(type))
        return sdk_fail(RAY_EINVAL, "ray_put: unknown type %u", type);
    if (len && !data)
        return sdk_fail(RAY_EINVAL, "ray_put: %zu bytes at a NULL pointer",
                        len);
    if (sdk_type_buffer(type) && len > SDK_ARG_MAX)
        return sdk_fail(RAY_ETOOBIG,
                        "ray_put: %zu bytes; a value holds at "
                        "most %llu",
                        len, (unsigned long long)SDK_ARG_MAX);
    if (type == RAY_T_STR && (len == 0 || ((const char *)data)[len - 1]))
        return sdk_fail(RAY_EINVAL,
                        "ray_put: a string of %zu bytes that "
                        "does not end in its NUL",
                        len);
    if ((type == RAY_T_F64S || type == RAY_T_I64S) && len % 8)
        return sdk_fail(RAY_EINVAL,
                        "ray_put: an array of %zu bytes, not a "
                        "whole number of 8-byte elements",
                        len);
    uint64_t bits = 0;
    if (sdk_type_scalar(type)) {
        if (len == 8) {
            memcpy(&bits, data, 8);
        } else if (len == 4 && type == RAY_T_F32) {
            float f;
            memcpy(&f, data, 4);
            double d = f;
            memcpy(&bits, &d, 8);
        } else if (len == 4 && type == RAY_T_I32) {
            int32_t i;
            memcpy(&i, data, 4);
            int64_t v = i;
            memcpy(&bits, &v, 8);
        } else if (len == 1 && type == RAY_T_BOOL) {
            bits = *(const uint8_t *)data != 0;
        } else {
            return sdk_fail(RAY_EINVAL, "ray_put: scalar of %zu bytes", len);
        }
        data = &bits;
        len = 8;
    }
    return sdk_be->put(type, data, len, out);
}

ray_err
sdk_drv_put(uint32_t type, const void *data, size_t len, ray_ref *out)
{
    sdk_rt *rt = sdk_g;
    if (len >= STORE_PLASMA_MIN)
        return put_stored(rt, type, data, len, out);
    ray_err err;
    pthread_mutex_lock(&rt->mu);
    if (rt->store.bytes + len > rt->cfg.object_store_bytes) {
        unsigned long long used = rt->store.bytes;
        pthread_mutex_unlock(&rt->mu);
        return sdk_fail(RAY_ESTORE_FULL,
                        "ray_put: %zu bytes do not fit "
                        "(%llu of %llu bytes used)",
                        len, used,
                        (unsigned long long)rt->cfg.object_store_bytes);
    }
    uint64_t id;
    sdk_obj *o;
    err = sdk_objects_alloc(&rt->store, &id, &o);
    if (err == RAY_OK) {
        err = sdk_objects_set_value(&rt->store, o, type, data, len);
        if (err != RAY_OK) {
            o->state = SDK_OBJ_FAILED;
            sdk_objects_release(&rt->store, o);
        }
    }
    pthread_mutex_unlock(&rt->mu);
    if (err != RAY_OK)
        return sdk_fail(err, "ray_put: out of memory");
    *out = sdk_ref(id);
    return RAY_OK;
}

ray_err
ray_put_int64(int64_t v, ray_ref *out)
{
    return ray_put(RAY_T_I64, &v, 8, out);
}

ray_err
ray_put_double(double v, ray_ref *out)
{
    return ray_put(RAY_T_F64, &v, 8, out);
}

ray_err
ray_put_bytes(const void *data, size_t len, ray_ref *out)
{
    return ray_put(RAY_T_BYTES, data, len, out);
}

ray_err
ray_put_str(const char *s, ray_ref *out)
{
    if (!s)
        return sdk_fail(RAY_EINVAL, "ray_put_str: NULL string");
    return ray_put(RAY_T_STR, s, strlen(s) + 1, out);
}

/* ---- get ---- */

static bool
obj_done(sdk_rt *rt, void *arg)
{
    sdk_obj *o = sdk_objects_lookup(&rt->store, *(uint64_t *)arg);
    return !o || o->state != SDK_OBJ_PENDING;
}

/* Until `id` is not pending or timeout_ms passed, waiting (without the
 * lock) for its producer alone, which workers wake alone. Returns with
 * mu held: at once when it is not pending. */
static ray_err
wait_pending(sdk_rt *rt, uint64_t id, int64_t timeout_ms)
{
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, id);
    if (!o || o->state != SDK_OBJ_PENDING)
        return RAY_OK;
    sdk_obj_want(o);
    sdk_task *t = o->producer;
    uint64_t task = t ? t->id : 0;
    pthread_mutex_unlock(&rt->mu);
    ray_err e = sdk_wait_task(rt, obj_done, &id,
                              rt_deadline_after_ms(timeout_ms), task);
    pthread_mutex_lock(&rt->mu);
    return e;
}

ray_err
sdk_drv_wait_one(ray_ref ref, int64_t timeout_ms)
{
    sdk_rt *rt = sdk_g;
    ray_err e = wait_pending(rt, sdk_ref_id(ref), timeout_ms);
    pthread_mutex_unlock(&rt->mu);
    return e;
}

/* Wait for `id` and return it locked (mu held on RAY_OK and on task
 * errors, which are reported in *o with RAY_OK). */
static ray_err
wait_locked(sdk_rt *rt, uint64_t id, int64_t timeout_ms, sdk_obj **out)
{
    ray_err e = wait_pending(rt, id, timeout_ms);
    sdk_obj *o = sdk_objects_lookup(&rt->store, id);
    if (e != RAY_OK && o && o->state == SDK_OBJ_PENDING) {
        pthread_mutex_unlock(&rt->mu);
        return sdk_fail(RAY_ETIMEDOUT,
                        "ray_get: timed out after %lld ms "
                        "waiting for task '%s'",
                        (long long)timeout_ms,
                        o->producer ? ((sdk_task *)o->producer)->name : "?");
    }
    if (!o) {
        pthread_mutex_unlock(&rt->mu);
        return sdk_fail(RAY_EINVAL, "ray_get: null or released reference");
    }
    *out = o;
    return RAY_OK;
}

static ray_err
failed(sdk_rt *rt, sdk_obj *o)
{
    ray_err e =
        sdk_fail(o->err, "%s", o->errmsg ? o->errmsg : ray_strerror(o->err));
    pthread_mutex_unlock(&rt->mu);
    return e;
}

/* Pin a stored value and fill a view of it. Called with mu held and one
 * reference taken on `o` for the view; unlocks. */
static ray_err
get_stored(sdk_rt *rt, sdk_obj *o, ray_ref ref, ray_view *out)
{
    uint32_t type = o->type & ~SDK_TYPE_STORED;
    store_object_id id;
    store_id(rt, sdk_obj_store_key(o), &id);
    store_client *c = rt->rl_api->store_client(rt->rl);
    pthread_mutex_unlock(&rt->mu);
    store_buffer b;
    /* Sealed before its descriptor existed: no wait, unless a restore
     * from the spill directory is slow or must wait for room (values
     * pinned by running tasks). */
    ray_err e = store_plasma_get(c, &id, 2000, &b);
    if (e != RAY_OK) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", store_client_last_error(c));
        ray_ref_release(ref);
        return sdk_fail(e == RAY_ETIMEDOUT ? RAY_EOBJECT_LOST : e,
                        "ray_get: the object store cannot hand out the "
                        "value: %s",
                        msg);
    }
    out->data = b.data;
    out->len = b.data_size;
    out->type = type;
    out->flags = VIEW_STORE;
    out->ref = ref;
    return RAY_OK;
}

/* Inside a task: pin the stored value `key` in this worker's client. */
static ray_err
wk_get_stored(uint64_t key, uint32_t type, ray_view *out)
{
    store_client *c = sdk_wk_store();
    if (!c)
        return RAY_ESTORE_FULL; /* detail set */
    store_object_id id;
    sdk_wk_store_id(key, &id);
    store_buffer b;
    ray_err e = store_plasma_get(c, &id, 2000, &b);
    if (e != RAY_OK)
        return sdk_fail(e == RAY_ETIMEDOUT ? RAY_EOBJECT_LOST : e,
                        "ray_get: the object store cannot hand out the "
                        "value: %s",
                        store_client_last_error(c));
    out->data = b.data;
    out->len = b.data_size;
    out->type = type;
    out->flags = VIEW_STORE;
    out->ref = (ray_ref){key, 0};
    return RAY_OK;
}

/* Unpin a view of a stored value, then drop its reference (which may
 * delete the value: it must be unpinned first). */
void
sdk_wk_release_stored(ray_view *view)
{
    store_object_id id;
    store_client *c = sdk_wk_store();
    sdk_wk_store_id(view->ref.id, &id);
    if (c)
        (void)store_client_release(c, &id);
}

void
sdk_drv_release_stored(ray_view *view)
{
    store_object_id id;
    sdk_rt *rt = sdk_g;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, view->ref.id);
    if (o && o->state == SDK_OBJ_READY && sdk_obj_stored(o)) {
        store_id(rt, sdk_obj_store_key(o), &id);
        (void)store_client_release(rt->rl_api->store_client(rt->rl), &id);
        sdk_objects_release(&rt->store, o);
    }
    pthread_mutex_unlock(&rt->mu);
}

ray_err
ray_get(ray_ref ref, ray_view *out, int64_t timeout_ms)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_get: NULL view");
    memset(out, 0, sizeof(*out));
    ray_ref local = sdk_ref_local(ref);
    if (!local.id)
        return sdk_fail(RAY_EINVAL, "ray_get: " BAD_REF);
    ray_err e = sdk_be->get(local, out, timeout_ms); /* a view holds its own */
    sdk_ref_local_done(ref, local);
    return e;
}

ray_err
sdk_wk_get_view(ray_ref ref, ray_view *out, int64_t timeout_ms)
{
    sdk_msg_done h;
    void *p;
    ray_err e = sdk_wk_get(ref, &h, &p, timeout_ms);
    if (e != RAY_OK)
        return e;
    if (h.type & SDK_TYPE_STORED) {
        rt_free(p);
        return wk_get_stored(h.scalar, h.type & ~SDK_TYPE_STORED, out);
    }
    if (!p && !(p = rt_malloc(8)))
        return sdk_fail(RAY_ENOMEM, "ray_get: out of memory");
    if (!sdk_type_buffer(h.type)) {
        memcpy(p, &h.scalar, 8);
        h.len = 8;
    }
    out->data = p;
    out->len = h.len;
    out->type = h.type;
    out->flags = VIEW_COPY; /* ray_release frees it */
    return RAY_OK;
}

ray_err
sdk_drv_get(ray_ref ref, ray_view *out, int64_t timeout_ms)
{
    sdk_rt *rt = sdk_g;
    sdk_obj *o;
    ray_err e = wait_locked(rt, ref.id, timeout_ms, &o);
    if (e != RAY_OK)
        return e;
    if (o->state == SDK_OBJ_FAILED)
        return failed(rt, o);
    sdk_objects_retain(o);
    if (sdk_obj_stored(o))
        return get_stored(rt, o, ref, out);
    out->data = sdk_obj_data(o);
    out->len = o->len;
    out->type = o->type;
    out->ref = ref;
    pthread_mutex_unlock(&rt->mu);
    return RAY_OK;
}

void
ray_release(ray_view *view)
{
    if (view && (view->flags & VIEW_COPY)) {
        rt_free((void *)view->data);
        memset(view, 0, sizeof(*view));
        return;
    }
    if (!view || view->ref.id == 0)
        return;
    if (view->flags & VIEW_STORE) {
        sdk_be->release_stored(view);
        memset(view, 0, sizeof(*view));
        return;
    }
    ray_ref_release(view->ref);
    memset(view, 0, sizeof(*view));
}

ray_err
ray_get_many(const ray_ref *refs, size_t n, ray_view *out, int64_t timeout_ms)
{
    if ((n && (!refs || !out)))
        return sdk_fail(RAY_EINVAL, "ray_get_many: bad arguments");
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    for (size_t i = 0; i < n; i++) {
        int64_t left = timeout_ms < 0 ? -1 : rt_deadline_left_ms(deadline);
        ray_err e = ray_get(refs[i], &out[i], left);
        if (e != RAY_OK) {
            for (size_t k = 0; k < i; k++)
                ray_release(&out[k]);
            return e;
        }
    }
    return RAY_OK;
}

/* Typed scalar get: one lock, no pin. `what` names the call. */
static ray_err
get_scalar(const char *what, ray_ref ref, const void *out, uint32_t *type,
           uint64_t *bits, int64_t timeout_ms)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "%s: NULL out", what);
    ray_ref local = sdk_ref_local(ref);
    if (!local.id)
        return sdk_fail(RAY_EINVAL, "%s: " BAD_REF, what);
    ray_err e = sdk_be->get_scalar(what, local, type, bits, timeout_ms);
    sdk_ref_local_done(ref, local);
    return e;
}

ray_err
sdk_wk_get_scalar(const char *what, ray_ref ref, uint32_t *type, uint64_t *bits,
                  int64_t timeout_ms)
{
    (void)what;
    sdk_msg_done h;
    void *p;
    ray_err e = sdk_wk_get(ref, &h, &p, timeout_ms);
    if (e != RAY_OK)
        return e;
    rt_free(p);
    if (!sdk_type_scalar(h.type))
        return sdk_fail(RAY_EINVAL,
                        "ray_get: value has type %u, not a "
                        "number",
                        h.type);
    *type = h.type;
    *bits = h.scalar;
    return RAY_OK;
}

ray_err
sdk_drv_get_scalar(const char *what, ray_ref ref, uint32_t *type,
                   uint64_t *bits, int64_t timeout_ms)
{
    (void)what;
    sdk_rt *rt = sdk_g;
    sdk_obj *o;
    ray_err e = wait_locked(rt, ref.id, timeout_ms, &o);
    if (e != RAY_OK)
        return e;
    if (o->state == SDK_OBJ_FAILED)
        return failed(rt, o);
    if (!sdk_type_scalar(o->type) || o->len != 8) {
        uint32_t t = o->type;
        pthread_mutex_unlock(&rt->mu);
        return sdk_fail(RAY_EINVAL,
                        "ray_get: value has type %u, not a "
                        "number",
                        t);
    }
    *type = o->type;
    memcpy(bits, sdk_obj_data(o), 8);
    pthread_mutex_unlock(&rt->mu);
    return RAY_OK;
}

static bool
is_float(uint32_t t)
{
    return t == RAY_T_F64 || t == RAY_T_F32;
}

ray_err
ray_get_int64(ray_ref ref, int64_t *out, int64_t timeout_ms)
{
    uint32_t t;
    uint64_t b;
    ray_err e = get_scalar("ray_get_int64", ref, out, &t, &b, timeout_ms);
    if (e != RAY_OK)
        return e;
    if (is_float(t)) {
        double d;
        memcpy(&d, &b, 8);
        *out = (int64_t)d;
    } else {
        memcpy(out, &b, 8);
    }
    return RAY_OK;
}

ray_err
ray_get_int32(ray_ref ref, int32_t *out, int64_t timeout_ms)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_get_int32: NULL out");
    int64_t v;
    ray_err e = ray_get_int64(ref, &v, timeout_ms);
    if (e != RAY_OK)
        return e;
    if (v < INT32_MIN || v > INT32_MAX)
        return sdk_fail(RAY_EINVAL, "ray_get_int32: %lld does not fit",
                        (long long)v);
    *out = (int32_t)v;
    return RAY_OK;
}

ray_err
ray_get_uint64(ray_ref ref, uint64_t *out, int64_t timeout_ms)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_get_uint64: NULL out");
    int64_t v;
    ray_err e = ray_get_int64(ref, &v, timeout_ms);
    if (e == RAY_OK)
        *out = (uint64_t)v;
    return e;
}

ray_err
ray_get_double(ray_ref ref, double *out, int64_t timeout_ms)
{
    uint32_t t;
    uint64_t b;
    ray_err e = get_scalar("ray_get_double", ref, out, &t, &b, timeout_ms);
    if (e != RAY_OK)
        return e;
    if (is_float(t)) {
        memcpy(out, &b, 8);
    } else if (t == RAY_T_U64) {
        *out = (double)b;
    } else {
        int64_t i;
        memcpy(&i, &b, 8);
        *out = (double)i;
    }
    return RAY_OK;
}

ray_err
ray_get_float(ray_ref ref, float *out, int64_t timeout_ms)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_get_float: NULL out");
    double d;
    ray_err e = ray_get_double(ref, &d, timeout_ms);
    if (e == RAY_OK)
        *out = (float)d;
    return e;
}

ray_err
ray_get_bool(ray_ref ref, bool *out, int64_t timeout_ms)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_get_bool: NULL out");
    int64_t v;
    ray_err e = ray_get_int64(ref, &v, timeout_ms);
    if (e == RAY_OK)
        *out = v != 0;
    return e;
}

ray_err
ray_get_bytes(ray_ref ref, void **data, size_t *len, int64_t timeout_ms)
{
    if (!data || !len)
        return sdk_fail(RAY_EINVAL, "ray_get_bytes: NULL out");
    ray_view v;
    ray_err e = ray_get(ref, &v, timeout_ms);
    if (e != RAY_OK)
        return e;
    void *p = rt_memdup(v.data, v.len);
    size_t n = v.len;
    ray_release(&v);
    if (!p)
        return sdk_fail(RAY_ENOMEM, "ray_get_bytes: out of memory");
    *data = p;
    *len = n;
    return RAY_OK;
}

ray_err
ray_get_str(ray_ref ref, char **out, int64_t timeout_ms)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_get_str: NULL out");
    ray_view v;
    ray_err e = ray_get(ref, &v, timeout_ms);
    if (e != RAY_OK)
        return e;
    if (v.type != RAY_T_STR && v.type != RAY_T_BYTES) {
        ray_release(&v);
        return sdk_fail(RAY_EINVAL, "ray_get_str: value is not a string");
    }
    char *s = rt_malloc(v.len + 1);
    if (s) {
        memcpy(s, v.data, v.len);
        s[v.len] = '\0';
    }
    ray_release(&v);
    if (!s)
        return sdk_fail(RAY_ENOMEM, "ray_get_str: out of memory");
    *out = s;
    return RAY_OK;
}

/* ---- wait ---- */

typedef struct wait_ctx {
    const ray_ref *refs;
    size_t n;
    size_t want;
} wait_ctx;

static bool
enough_done(sdk_rt *rt, void *arg)
{
    wait_ctx *c = arg;
    size_t done = 0;
    for (size_t i = 0; i < c->n; i++) {
        sdk_obj *o = sdk_objects_lookup(&rt->store, c->refs[i].id);
        if (!o || o->state != SDK_OBJ_PENDING)
            if (++done >= c->want)
                return true;
    }
    return false;
}

typedef struct done_ent {
    uint64_t seq;
    size_t idx;
} done_ent;

static int
cmp_done(const void *a, const void *b)
{
    const done_ent *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

ray_err
ray_wait(const ray_ref *refs, size_t n, size_t num_ready, int64_t timeout_ms,
         size_t *ready_idx, size_t *n_ready)
{
    if ((n && (!refs || !ready_idx)) || !n_ready)
        return sdk_fail(RAY_EINVAL, "ray_wait: NULL %s",
                        !n_ready ? "n_ready"
                        : !refs  ? "refs"
                                 : "ready_idx");
    if (num_ready > n)
        return sdk_fail(RAY_EINVAL,
                        "ray_wait: num_ready %zu is more than "
                        "the %zu refs",
                        num_ready, n);
    if (n > ((size_t)1 << 40))
        return sdk_fail(RAY_EINVAL, "ray_wait: %zu refs", n);
    const ray_ref *own;
    ray_err e = sdk_refs_local(refs, n, "ray_wait", &own);
    if (e != RAY_OK)
        return e;
    e = sdk_be->wait(own, n, num_ready, timeout_ms, ready_idx, n_ready);
    sdk_refs_local_done(refs, own, n);
    return e;
}

ray_err
sdk_drv_wait(const ray_ref *refs, size_t n, size_t num_ready,
             int64_t timeout_ms, size_t *ready_idx, size_t *n_ready)
{
    sdk_rt *rt = sdk_g;
    *n_ready = 0;
    wait_ctx c = {refs, n, num_ready ? num_ready : 1};
    if (n)
        sdk_wait_until(rt, enough_done, &c, rt_deadline_after_ms(timeout_ms));
    done_ent *ents = rt_malloc((n ? n : 1) * sizeof(*ents));
    if (!ents)
        return sdk_fail(RAY_ENOMEM, "ray_wait: out of memory");
    size_t k = 0;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < n; i++) {
        sdk_obj *o = sdk_objects_lookup(&rt->store, refs[i].id);
        if (!o)
            ents[k++] = (done_ent){0, i};
        else if (o->state != SDK_OBJ_PENDING)
            ents[k++] = (done_ent){o->done_seq, i};
    }
    pthread_mutex_unlock(&rt->mu);
    qsort(ents, k, sizeof(*ents), cmp_done);
    for (size_t i = 0; i < k; i++)
        ready_idx[i] = ents[i].idx;
    *n_ready = k;
    rt_free(ents);
    return RAY_OK;
}

/* ---- callbacks ---- */

static ray_err
on_done(ray_ref ref, ray_done_cb cb, void *arg, bool parked_ok)
{
    sdk_rt *rt = rt_or_fail("ray_on_done");
    if (!rt)
        return RAY_EINVAL;
    if (!cb)
        return sdk_fail(RAY_EINVAL, "ray_on_done: NULL callback");
    sdk_cb *c = rt_malloc(sizeof(*c));
    sdk_waiter *w = rt_malloc(sizeof(*w));
    if (!c || !w) {
        rt_free(c);
        rt_free(w);
        return sdk_fail(RAY_ENOMEM, "ray_on_done: out of memory");
    }
    ray_ref local = sdk_ref_local(ref); /* unlocked: it may fetch */
    uint64_t id = local.id;
    pthread_mutex_lock(&rt->mu);
    sdk_obj *o = sdk_objects_lookup(&rt->store, id);
    if (!o) {
        pthread_mutex_unlock(&rt->mu);
        rt_free(c);
        rt_free(w);
        sdk_ref_local_done(ref, local);
        return sdk_fail(RAY_EINVAL, "ray_on_done: " BAD_REF);
    }
    sdk_objects_retain(o); /* held until the callback ran */
    c->cb = cb;
    c->arg = arg;
    c->ref = sdk_ref(id);
    c->user = ref;
    c->next = NULL;
    if (o->state != SDK_OBJ_PENDING || (parked_ok && o->parked)) {
        c->err = o->state == SDK_OBJ_FAILED ? o->err : RAY_OK;
        pthread_mutex_unlock(&rt->mu);
        sdk_ref_local_done(ref, local); /* the callback holds it */
        rt_free(w);
        sdk_run_callbacks(c);
        return RAY_OK;
    }
    w->kind = SDK_WAIT_CB;
    w->idx = parked_ok;
    w->ctx = c;
    w->next = o->waiters;
    o->waiters = w;
    if (!parked_ok)
        sdk_obj_want(o);
    atomic_fetch_add(&rt->reactor_needed, 1);
    pthread_mutex_unlock(&rt->mu);
    sdk_ref_local_done(ref, local); /* the callback holds it */
    /* Let the reactor register as a doorbell sleeper. */
    atomic_fetch_add(&rt->bell->seq, 1);
    rt_futex_wake(&rt->bell->seq, 1);
    return RAY_OK;
}

ray_err
ray_on_done(ray_ref ref, ray_done_cb cb, void *arg)
{
    return on_done(ref, cb, arg, false);
}

ray_err
sdk_on_done_or_parked(ray_ref ref, ray_done_cb cb, void *arg)
{
    return on_done(ref, cb, arg, true);
}

/* ---- stats ---- */

void
sdk_stats_locked(sdk_rt *rt, ray_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->objects_live = rt->store.live;
    out->object_bytes = rt->store.bytes;
    out->tasks_live = rt->tasks_live;
    out->calls_resent = atomic_load(&rt->calls_resent);
    out->objects_rebuilt = atomic_load(&rt->objects_rebuilt);
    out->objects_parked = atomic_load(&rt->objects_parked);
    out->lineage_bytes = atomic_load(&rt->lineage_bytes);
    store_client *c = rt->rl_api->store_client(rt->rl);
    store_stats ss;
    if (c && rt->trash.n)
        store_plasma_trash_retry(c, &rt->trash);
    if (c && store_client_stats(c, &ss) == RAY_OK) {
        out->store_bytes = ss.bytes_used + ss.bytes_spilled;
        out->store_objects =
            ss.objects_in_memory + ss.objects_creating + ss.objects_spilled;
        out->store_spills = ss.spills;
        out->store_restores = ss.restores;
        out->store_evictions = ss.evictions;
        out->store_fetches = ss.fetches;
    }
    sched_raylet_stats rs;
    rt->rl_api->stats(rt->rl, &rs);
    out->tasks_queued = rs.tasks_queued;
    out->workers_alive = rs.workers_alive;
    out->worker_restarts = rs.worker_restarts;
    out->actor_processes = rs.hosts;
    out->tasks_moved = rs.tasks_moved;
    out->standins = rs.standins;
    out->replies_held = rt->tx->ops->held_total(rt->tx);
    out->actors_alive = sdk_actors_alive(rt);
    out->workers_blocked = atomic_load(&rt->bell->nblocked);
}

ray_err
ray_get_stats(ray_stats *out)
{
    if (!out)
        return sdk_fail(RAY_EINVAL, "ray_get_stats: NULL out");
    if (sdk_in_worker)
        return sdk_wk_stats(out);
    sdk_rt *rt = rt_or_fail("ray_get_stats");
    if (!rt)
        return RAY_EINVAL;
    pthread_mutex_lock(&rt->mu);
    sdk_stats_locked(rt, out);
    pthread_mutex_unlock(&rt->mu);
    return RAY_OK;
}

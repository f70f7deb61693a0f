/* SPDX-License-Identifier: Apache-2.0
 *
 * memory_store.h: the owner's in-process object table.
 *
 * Every object a driver owns (task results and puts) has one slot here: its
 * state (pending until its task finishes, then ready or failed), its value
 * (inline up to 16 bytes, else one heap buffer), its reference count and
 * the list of waiters (dependent tasks, callbacks) to notify when it is
 * done. An object id is (generation << 32 | slot + 1), so a stale id (its
 * slot freed and reused) is recognised in O(1) without hashing, and a
 * million ids in flight cost one 64-byte slot each, in chunks that never
 * move (pointers to slots stay valid).
 *
 * Reference counting: a slot is freed when its count reaches zero and it is
 * no longer pending (a pending object whose holders all left is freed the
 * moment its value arrives).
 *
 * Large values live in the node's object store (plasma.h); their slot
 * holds a descriptor instead of the value, as Ray's memory store holds an
 * "in plasma" marker: type SDK_TYPE_STORED | the value's type, len 8, and
 * the 8 inline bytes hold the value's store key. Code that only copies
 * 8-byte values around (completions, replies to tasks) carries the
 * descriptor along unchanged. When such a slot is freed, the free hook
 * (sdk_objects_set_free_hook) is told the key, so the value is deleted from
 * the store.
 *
 * Not thread-safe: the caller (the SDK runtime) holds its lock.
 */
#ifndef RAY_SDK_MEMORY_STORE_H
#define RAY_SDK_MEMORY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runtime/status.h"

enum sdk_obj_state {
    SDK_OBJ_FREE = 0,
    SDK_OBJ_PENDING = 1,
    SDK_OBJ_READY = 2,
    SDK_OBJ_FAILED = 3,
};

#define SDK_OBJ_INLINE_MAX 16

/* Type flag of a stored-value descriptor (see above). */
#define SDK_TYPE_STORED 0x80u

/* Something to notify when an object is done. The store only links them;
 * the caller decides what `kind` and `ctx` mean. */
typedef struct sdk_waiter {
    struct sdk_waiter *next;
    void *ctx;
    void *arg;
    uint32_t kind;
    uint32_t idx;
} sdk_waiter;

typedef struct sdk_obj {
    uint32_t gen;       /* generation of the slot; part of the id */
    uint8_t state;      /* enum sdk_obj_state */
    uint8_t type;       /* value type tag (enum ray_type), or
                           SDK_TYPE_STORED | tag for a stored value */
    uint8_t task;       /* made by a task (set by the owner when a task
                           takes it as its result), not a put */
    uint8_t parked : 1; /* SDK_OBJ_PENDING: its value is made and kept on
                           another node, not fetched until wanted (a
                           cluster's owner sets it: sdk_remote_want) */
    uint8_t wanted : 2; /* SDK_OBJ_PENDING: waited for before it parked
                           (the cluster's pull priority + 1), or 0 */
    int32_t refs;       /* holders: user refs, pending tasks, views */
    uint32_t next_free; /* free-list link (slot + 1), 0 = end */
    uint32_t slot;      /* index of this slot */
    uint32_t lent;      /* another runtime borrowed it: its free is told
                           (sdk_objects.on_lent_free) */
    uint64_t len;       /* value bytes */
    union {
        uint8_t inl[SDK_OBJ_INLINE_MAX];
        void *ptr;
    } v;
    ray_err err;         /* SDK_OBJ_FAILED: the error */
    char *errmsg;        /* SDK_OBJ_FAILED: detail (owned), may be NULL */
    void *producer;      /* SDK_OBJ_PENDING: the task that makes it, or NULL */
    sdk_waiter *waiters; /* notified when done */
    uint64_t done_seq;   /* completion order (ray_wait) */
} sdk_obj;

/* Called when a ready stored-value descriptor is freed, with its key. */
typedef void (*sdk_obj_free_cb)(void *arg, uint64_t key);

typedef struct sdk_objects {
    sdk_obj **chunks; /* chunks of SDK_OBJ_CHUNK slots */
    uint32_t nchunks;
    uint32_t free_head;      /* slot + 1 of the first free slot, 0 = none */
    uint64_t live;           /* slots in use */
    uint64_t bytes;          /* value bytes held (not inline) */
    uint64_t done_seq;       /* last completion sequence number */
    sdk_obj_free_cb on_free; /* stored values freed; may be NULL */
    void *on_free_arg;
    void (*on_lent_free)(uint64_t id); /* lent objects freed; may be NULL */
    /* A parked object's last holder left: true if its owner dropped it
     * (it is then failed and freed at once); may be NULL. */
    bool (*on_unheld)(uint64_t id);
} sdk_objects;

#define SDK_OBJ_CHUNK 4096u

/* Initialise an empty store. Never fails (no allocation until first use). */
void sdk_objects_init(sdk_objects *s);

/* Free every slot, value, message and chunk. Waiter nodes are the
 * caller's and are not touched. The free hook is not called. */
void sdk_objects_fini(sdk_objects *s);

/* Install the hook told about every stored value whose slot is freed
 * (NULL: none). */
void sdk_objects_set_free_hook(sdk_objects *s, sdk_obj_free_cb cb, void *arg);

/* A new pending object with one reference. RAY_ENOMEM on failure. */
ray_err sdk_objects_alloc(sdk_objects *s, uint64_t *id, sdk_obj **out);

/* The object for `id`, or NULL if the id is null, stale or freed. */
sdk_obj *sdk_objects_lookup(sdk_objects *s, uint64_t id);

/* Every object in the table, in slot order: the first in use at or after
 * slot *at (start at 0), *at moved past it; NULL at the end. Visits every
 * slot, free ones too (for listings, not hot paths). */
sdk_obj *sdk_objects_next(sdk_objects *s, uint32_t *at);

/* The id of an object. */
static inline uint64_t
sdk_objects_id(const sdk_obj *o)
{
    return ((uint64_t)o->gen << 32) | (uint64_t)(o->slot + 1);
}

/* Make a pending object ready with a copy of `len` bytes. Returns
 * RAY_ENOMEM (the object stays pending) or RAY_OK. Sets done_seq. */
ray_err sdk_objects_set_value(sdk_objects *s, sdk_obj *o, uint32_t type,
                              const void *data, size_t len);

/* Like sdk_objects_set_value but takes ownership of `buf` (rt_malloc'd). */
void sdk_objects_set_owned(sdk_objects *s, sdk_obj *o, uint32_t type, void *buf,
                           size_t len);

/* Move ready object from's value (inline, owned bytes, or a stored
 * value's descriptor) into pending object to, which becomes ready: from
 * keeps an empty value of its type, so freeing it frees nothing. */
void sdk_objects_move_value(sdk_objects *s, sdk_obj *from, sdk_obj *to);

/* Make a pending object failed with `err` and a copy of `msg` (NULL ok). */
void sdk_objects_set_error(sdk_objects *s, sdk_obj *o, ray_err err,
                           const char *msg);

/* True if a ready object's value lives in the node's object store. */
static inline bool
sdk_obj_stored(const sdk_obj *o)
{
    return (o->type & SDK_TYPE_STORED) != 0;
}

/* The store key of a stored value (sdk_obj_stored). */
static inline uint64_t
sdk_obj_store_key(const sdk_obj *o)
{
    uint64_t k;
    memcpy(&k, o->v.inl, sizeof(k));
    return k;
}

/* The value bytes of a ready object (a stored value's descriptor). */
static inline const void *
sdk_obj_data(const sdk_obj *o)
{
    return o->len <= SDK_OBJ_INLINE_MAX ? (const void *)o->v.inl : o->v.ptr;
}

/* Detach and return the waiter list (the caller notifies and frees). */
static inline sdk_waiter *
sdk_obj_take_waiters(sdk_obj *o)
{
    sdk_waiter *w = o->waiters;
    o->waiters = NULL;
    return w;
}

/* Add a holder. */
static inline void
sdk_objects_retain(sdk_obj *o)
{
    o->refs++;
}

/* Drop a holder; frees the slot when it was the last and the object is
 * done. Returns true if the slot was freed. */
bool sdk_objects_release(sdk_objects *s, sdk_obj *o);

/* Free a done object whose count is zero (after its value arrived). */
bool sdk_objects_maybe_free(sdk_objects *s, sdk_obj *o);

#endif /* RAY_SDK_MEMORY_STORE_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * worker_results.c: results of the calls a worker made, pushed to it.
 *
 * When a task or an actor method submits a call, the driver sends the
 * call's result to the calling worker as soon as it is known (an
 * SDK_MSG_PUSH record on the worker's reply ring), so a later ray_get in
 * the worker is a table lookup, not a request and a wait for its reply.
 * This table maps the object ids the worker expects to their values.
 *
 * Entries are a hint, never the truth: the driver still owns the object.
 * A ref the worker retained and released once, or a value that could not
 * be copied, falls back to an ordinary get. Open addressing with linear
 * probing and backward-shift deletion; object ids are never 0.
 * Single-threaded, like the worker.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "sdk/sdk_int.h"

/* 40 bytes: a task that makes 100k calls holds 100k of these, and fresh
 * memory costs a page fault per 4 KiB. */
typedef struct wk_result {
    uint64_t id; /* 0: empty */
    uint64_t scalar;
    void *payload; /* malloc'd, len bytes, or NULL */
    uint32_t len;  /* a pushed value fits a ring record */
    int32_t err;
    uint32_t seq; /* arrival order of the push (ray_wait); wraps
                     after 4G pushes, harmlessly for the entries a
                     wait compares */
    uint8_t type; /* enum ray_type | SDK_TYPE_STORED */
    bool have;    /* the push arrived */
} wk_result;

_Static_assert(sizeof(wk_result) == 40, "wk_result layout");

static wk_result *tab;
static size_t cap; /* power of two, or 0 */
static size_t used;
static size_t pending; /* entries whose push has not come */
static uint32_t arrivals;

static size_t
slot_of(uint64_t id)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static wk_result *
find(uint64_t id)
{
    if (!cap)
        return NULL;
    for (size_t i = slot_of(id);; i = (i + 1) & (cap - 1)) {
        if (tab[i].id == id)
            return &tab[i];
        if (tab[i].id == 0)
            return NULL;
    }
}

/* Move every entry into a table of `ncap` slots (a power of two that
 * holds them all). False, and nothing changed, on out of memory. */
static bool
resize(size_t ncap)
{
    wk_result *nt = rt_calloc(ncap, sizeof(*nt));
    if (!nt)
        return false;
    wk_result *old = tab;
    size_t ocap = cap;
    tab = nt;
    cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].id)
            continue;
        size_t k = slot_of(old[i].id);
        while (tab[k].id)
            k = (k + 1) & (cap - 1);
        tab[k] = old[i];
    }
    rt_free(old);
    return true;
}

static bool
grow(void)
{
    return resize(cap ? cap * 2 : 1024);
}

/* After a burst of calls the table would keep its peak size for the
 * life of the worker (an actor can live long): below 1/16 full, shrink
 * to a quarter full at least 1024 slots. */
static void
maybe_shrink(void)
{
    if (cap <= 1024 || used * 16 >= cap)
        return;
    size_t ncap = 1024;
    while (ncap < used * 4)
        ncap *= 2;
    (void)resize(ncap); /* on failure the big table stays: still right */
}

size_t
sdk_wk_results_pending(void)
{
    return pending;
}

size_t
sdk_wk_results_capacity(void)
{
    return cap;
}

void
sdk_wk_results_expect(uint64_t id)
{
    if (find(id))
        return;
    if ((used + 1) * 4 > cap * 3 && !grow())
        return; /* no room: a get asks the driver instead */
    size_t k = slot_of(id);
    while (tab[k].id)
        k = (k + 1) & (cap - 1);
    tab[k] = (wk_result){.id = id};
    used++;
    pending++;
}

void
sdk_wk_results_forget(uint64_t id)
{
    wk_result *e = find(id);
    if (!e)
        return;
    if (!e->have)
        pending--;
    rt_free(e->payload);
    size_t i = (size_t)(e - tab);
    /* Backward shift: pull later entries of the run into the hole. */
    for (size_t j = (i + 1) & (cap - 1); tab[j].id; j = (j + 1) & (cap - 1)) {
        size_t home = slot_of(tab[j].id);
        /* Move j to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        tab[i] = tab[j];
        i = j;
    }
    tab[i] = (wk_result){0};
    used--;
    maybe_shrink();
}

void
sdk_wk_results_push(const sdk_msg_done *d, const void *payload)
{
    wk_result *e = find(d->task_id);
    if (!e || e->have)
        return; /* released before its result came, or a duplicate */
    void *copy = NULL;
    if (d->len && !(copy = rt_malloc(d->len))) {
        sdk_wk_results_forget(d->task_id); /* a get asks the driver */
        return;
    }
    if (d->len)
        memcpy(copy, payload, d->len);
    e->scalar = d->scalar;
    e->payload = copy;
    e->len = (uint32_t)d->len;
    e->type = (uint8_t)d->type;
    e->err = d->err;
    e->have = true;
    pending--;
    e->seq = ++arrivals;
}

int
sdk_wk_results_state(uint64_t id, uint64_t *seq)
{
    wk_result *e = find(id);
    if (!e)
        return SDK_RES_UNKNOWN;
    if (seq)
        *seq = e->seq;
    return e->have ? SDK_RES_READY : SDK_RES_PENDING;
}

int
sdk_wk_results_take(uint64_t id, sdk_msg_done *hdr, void **payload)
{
    wk_result *e = find(id);
    if (!e)
        return SDK_RES_UNKNOWN;
    if (!e->have)
        return SDK_RES_PENDING;
    void *copy = NULL;
    if (e->len && !(copy = rt_malloc(e->len)))
        return SDK_RES_UNKNOWN; /* ask the driver; it may have memory */
    if (e->len)
        memcpy(copy, e->payload, e->len);
    *hdr = (sdk_msg_done){.task_id = id,
                          .err = e->err,
                          .type = e->type,
                          .scalar = e->scalar,
                          .len = e->len};
    *payload = copy;
    return SDK_RES_READY;
}

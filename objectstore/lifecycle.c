/* SPDX-License-Identifier: Apache-2.0
 *
 * lifecycle.c: the store core and the life of an object in it.
 *
 * An object goes FREE -> CREATING (reserved by a creator, who holds a pin)
 * -> SEALED (immutable; readers pin it lock-free) -> FREE (deleted or
 * evicted once nobody pins it), or SEALED -> SPILLED (payload in a spill
 * file, memory freed) -> SEALED again on the next get. With a fetch hook,
 * an evicted secondary copy goes SEALED -> AWAY (memory freed, slot kept)
 * -> SEALED again on the next get, which fetches it. A creator that
 * aborts, disconnects or dies sends CREATING straight back to FREE, so
 * nothing half-written survives it; a client that goes away loses every
 * pin it held.
 *
 * The store-side transitions run under core->mu; clients' transitions
 * (pin, unpin, seal) are atomic operations on the shared slot and meet the
 * store's through the handshake described in layout.h. Each change a
 * reader may be waiting for bumps the seal futex (store_table_notify).
 * The store decides from its private store_meta (where the payload is,
 * how big, whose) and publishes copies into the slot before it moves the
 * slot's state; it looks objects up with its private copies of the IDs,
 * so a client that scribbles over slots cannot make it free, spill or
 * restore anything but what it allocated.
 *
 * Room for a create comes from the arena; when it is full, unpinned
 * secondary copies are evicted (LRU), then unpinned primary copies are
 * spilled, and only when neither frees anything does the create fail:
 * with the spill's error when spilling would have made room but failed
 * (RAY_ESYSERR|ENOSPC: the message names the full spill directory), else
 * with RAY_ESTORE_FULL and what is pinned. A restore looks for room the
 * same way except that, before it would spill to a new file, it trades
 * places with an object in memory (store_spill_swap), which needs no new
 * disk space. An object larger than the whole heap is refused at once
 * with RAY_ETOOBIG and a message giving the capacity.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objectstore/shm.h"
#include "objectstore/store_int.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/log.h"

#define MIB (1ull << 20)

/* ------------------------------------------------------------------ */
/* Core                                                                */
/* ------------------------------------------------------------------ */

static ray_err commit_range(store_core *c, uint64_t off, uint64_t len,
                            char *msg, size_t msglen);

static uint32_t
default_slots(uint64_t capacity)
{
    uint64_t n = capacity / (16 * 1024);
    if (n < 1024)
        n = 1024;
    if (n > 262144)
        n = 262144;
    return (uint32_t)n;
}

ray_err
store_core_create(const store_config *cfg, store_core **out, char *err,
                  size_t errlen)
{
    ray_err rc = RAY_ENOMEM;
    store_core *c = rt_calloc(1, sizeof *c);
    if (!c)
        goto fail_msg;
    c->memfd = -1;
    pthread_mutex_init(&c->mu, NULL);
    uint64_t capacity =
        cfg->capacity ? cfg->capacity : store_shm_default_capacity();
    uint32_t nslots =
        cfg->max_objects ? cfg->max_objects : default_slots(capacity);
    if (nslots > (1u << 28)) {
        rc = RAY_EINVAL;
        if (err)
            snprintf(err, errlen, "max_objects %u is too large", nslots);
        goto fail;
    }
    store_geometry g;
    store_table_geometry(capacity, nslots, &g);
    rc = store_shm_create(g.region_size, &c->memfd, err, errlen);
    if (rc != RAY_OK)
        goto fail;
    void *base;
    rc = store_shm_map(c->memfd, g.region_size, true, &base);
    if (rc != RAY_OK) {
        if (err)
            snprintf(err, errlen, "cannot map the object store region: %s",
                     rt_strerror(rc));
        goto fail;
    }
    c->base = base;
    c->region_size = g.region_size;
    c->heap_off = g.heap_off;
    c->heap_size = g.heap_size;
    c->hdr = base;
    uint64_t nchunks =
        (g.region_size + STORE_RESERVE_CHUNK - 1) / STORE_RESERVE_CHUNK;
    c->reserved = rt_calloc((size_t)(nchunks + 63) / 64, sizeof *c->reserved);
    if (!c->reserved) {
        rc = RAY_ENOMEM;
        goto fail_msg;
    }
    /* The header and table are written now, and jemalloc puts its own
     * metadata at the start of the heap: commit those before anything
     * touches them. */
    rc = commit_range(c, 0, g.heap_off + STORE_RESERVE_CHUNK, err, errlen);
    if (rc != RAY_OK)
        goto fail;
    store_table_init(c->hdr, &g);
    store_table_attach(&c->table, c->base);
    c->slots = c->table.slots;
    rc = store_arena_create(c->base + g.heap_off, g.heap_size, &c->arena);
    if (rc != RAY_OK) {
        if (err)
            snprintf(err, errlen, "cannot create the jemalloc arena");
        goto fail;
    }
    rc = RAY_ENOMEM;
    c->free_slots = rt_malloc((size_t)nslots * sizeof *c->free_slots);
    c->meta = rt_calloc(nslots, sizeof *c->meta);
    c->home = rt_calloc(nslots, sizeof *c->home);
    if (!c->free_slots || !c->meta || !c->home)
        goto fail_msg;
    for (uint32_t i = 0; i < nslots; i++)
        c->free_slots[i] = nslots - 1 - i;
    c->nfree = nslots;
    c->spill_min_bytes = cfg->spill_min_bytes ? cfg->spill_min_bytes : 8 * MIB;
    c->spill_ops = cfg->spill_ops ? *cfg->spill_ops : store_spill_sys_ops;
    if (cfg->spill_dir) {
        c->spill_dir = rt_strdup(cfg->spill_dir);
        if (!c->spill_dir)
            goto fail_msg;
        if (mkdir(c->spill_dir, 0700) != 0 && errno != EEXIST) {
            rc = rt_err_from_errno(errno);
            if (err)
                snprintf(err, errlen, "cannot create spill dir %s: %s",
                         c->spill_dir, strerror(errno));
            goto fail;
        }
    }
    *out = c;
    return RAY_OK;
fail_msg:
    if (err)
        snprintf(err, errlen, "out of memory");
fail:
    store_core_destroy(c);
    return rc;
}

void
store_core_destroy(store_core *c)
{
    if (!c)
        return;
    store_spill_fini(c);
    store_arena_destroy(c->arena);
    store_shm_unmap(c->base, c->region_size);
    if (c->memfd >= 0)
        close(c->memfd);
    rt_free(c->free_slots);
    rt_free(c->meta);
    rt_free(c->home);
    rt_free(c->reserved);
    rt_free(c->spill_dir);
    pthread_mutex_destroy(&c->mu);
    rt_free(c);
}

/* ------------------------------------------------------------------ */
/* Private helpers                                                     */
/* ------------------------------------------------------------------ */

static uint64_t
obj_bytes(const store_meta *m)
{
    return m->data_size + m->meta_size;
}

/* Under mu: commit the shared memory of [off, off+len), a chunk at a time,
 * the first time any of it is handed out. */
static ray_err
commit_range(store_core *c, uint64_t off, uint64_t len, char *msg,
             size_t msglen)
{
    uint64_t first = off / STORE_RESERVE_CHUNK;
    uint64_t last = (off + len - 1) / STORE_RESERVE_CHUNK;
    for (uint64_t k = first; k <= last; k++) {
        if (c->reserved[k / 64] & (1ull << (k % 64)))
            continue;
        uint64_t run = k; /* commit the whole run of uncommitted chunks */
        while (run + 1 <= last &&
               !(c->reserved[(run + 1) / 64] & (1ull << ((run + 1) % 64))))
            run++;
        uint64_t lo = k * STORE_RESERVE_CHUNK;
        uint64_t hi = (run + 1) * STORE_RESERVE_CHUNK;
        if (hi > c->region_size)
            hi = c->region_size;
        ray_err rc = store_shm_reserve(c->memfd, lo, hi - lo, msg, msglen);
        if (rc != RAY_OK)
            return rc;
        /* The store itself writes these pages when it restores a spilled
         * object and reads them when it spills one: build its own page
         * tables for them once, now. */
        store_shm_prefault(c->base + lo, hi - lo);
        for (uint64_t j = k; j <= run; j++)
            c->reserved[j / 64] |= 1ull << (j % 64);
        c->k.bytes_committed += hi - lo;
        k = run;
    }
    return RAY_OK;
}

/* Under mu: allocate `size` bytes, evicting secondary copies and (when
 * `spill`) spilling primary ones as needed, and commit their memory. NULL
 * when nothing fits: *rc is RAY_ESTORE_FULL, `msg` is set only when the
 * system could not back the memory, and *spill_rc holds the error of a
 * spill that failed (RAY_OK when none did). */
static uint8_t *
alloc_with_room(store_core *c, uint64_t size, bool spill, size_t *usable,
                ray_err *rc, ray_err *spill_rc, char *msg, size_t msglen)
{
    msg[0] = '\0';
    *spill_rc = RAY_OK;
    for (;;) {
        uint8_t *p = store_arena_alloc(c->arena, size, usable);
        if (p) {
            *rc =
                commit_range(c, (uint64_t)(p - c->base), *usable, msg, msglen);
            if (*rc == RAY_OK)
                return p;
            store_arena_free(c->arena, p);
            return NULL;
        }
        if (store_evict(c, size) > 0)
            continue;
        if (spill) {
            ray_err e;
            if (store_spill(c, size, &e) > 0)
                continue;
            if (e != RAY_OK)
                *spill_rc = e;
        }
        *rc = RAY_ESTORE_FULL;
        return NULL;
    }
}

static uint64_t pinned_bytes(store_core *c);

/* Under mu: say in `msg` why `size` bytes found no room, opening with
 * `what`, and return the error to report: the failed spill's own (the
 * real cause: its directory is full, say) when spilling would have made
 * room, else RAY_ESTORE_FULL with the bytes that are pinned. */
static ray_err
no_room(store_core *c, const char *what, uint64_t size, ray_err spill_rc,
        char *msg, size_t msglen)
{
    uint64_t pinned = pinned_bytes(c);
    if (spill_rc != RAY_OK) {
        int e = rt_err_errno(spill_rc);
        uint64_t idle = c->k.bytes_used > pinned ? c->k.bytes_used - pinned : 0;
        if (e == ENOSPC || e == EDQUOT)
            snprintf(msg, msglen,
                     "%s: spill directory %s is full (%s: %s); %llu "
                     "unpinned bytes in memory cannot be spilled to make "
                     "room for %llu bytes",
                     what, c->spill_dir, e == ENOSPC ? "ENOSPC" : "EDQUOT",
                     strerror(e), (unsigned long long)idle,
                     (unsigned long long)size);
        else
            snprintf(msg, msglen,
                     "%s: cannot spill to %s (%s) to make room for %llu "
                     "bytes",
                     what, c->spill_dir, rt_strerror(spill_rc),
                     (unsigned long long)size);
        return spill_rc;
    }
    snprintf(msg, msglen,
             "%s: cannot fit %llu bytes; %llu of %llu bytes are pinned or "
             "being written",
             what, (unsigned long long)size, (unsigned long long)pinned,
             (unsigned long long)c->heap_size);
    return RAY_ESTORE_FULL;
}

/* Under mu: bytes in memory that cannot be evicted or spilled now (being
 * written, or pinned). */
static uint64_t
pinned_bytes(store_core *c)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < c->table.nslots; i++) {
        store_meta *m = &c->meta[i];
        if (m->state != STORE_META_MEM)
            continue;
        store_slot *s = &c->slots[i];
        if (atomic_load(&s->state) != STORE_SLOT_SEALED || store_slot_pinned(s))
            sum += m->alloc_size;
    }
    return sum;
}

int64_t
store_core_find(store_core *c, const store_object_id *id)
{
    const store_table *t = &c->table;
    uint32_t mask = t->mask;
    uint32_t i = (uint32_t)store_table_hash(id) & mask;
    for (uint32_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
        uint32_t e = atomic_load_explicit(&t->index[i], memory_order_relaxed);
        if (e == 0 || RT_NEVER(e - 1 >= t->nslots))
            return -1;
        store_meta *m = &c->meta[e - 1];
        if (m->state != STORE_META_FREE &&
            memcmp(m->id.b, id->b, STORE_ID_SIZE) == 0)
            return (int64_t)(e - 1);
    }
    return -1;
}

void
store_core_free_slot(store_core *c, uint32_t slot)
{
    store_slot *s = &c->slots[slot];
    store_meta *m = &c->meta[slot];
    if (RT_NEVER(m->state == STORE_META_FREE))
        return; /* a second free would put the slot on the list twice */
    if (m->state == STORE_META_MEM && m->alloc_size) {
        store_arena_free(c->arena, c->base + m->offset);
        c->k.bytes_used -= m->alloc_size;
    }
    store_table_remove(&c->table, slot, c->home);
    store_object_id zero;
    memset(&zero, 0, sizeof zero);
    store_slot_set_id(s, &zero);
    memset(m, 0, sizeof *m); /* STORE_META_FREE */
    atomic_fetch_add(&s->gen, 1);
    atomic_store(&s->state, STORE_SLOT_FREE);
    c->free_slots[c->nfree++] = slot;
}

/* Under mu: take a CREATING slot created by `client` back to BUSY (the
 * creator's own pin does not count: it is dropped with the object). */
static bool
claim_creating(store_core *c, uint32_t slot, uint32_t client)
{
    store_meta *m = &c->meta[slot];
    if (m->state != STORE_META_MEM || m->creator != client)
        return false;
    uint32_t st = STORE_SLOT_CREATING;
    if (!atomic_compare_exchange_strong(&c->slots[slot].state, &st,
                                        STORE_SLOT_BUSY))
        return false;
    store_slot_unpin(&c->slots[slot], client);
    return true;
}

/* ------------------------------------------------------------------ */
/* Clients                                                             */
/* ------------------------------------------------------------------ */

ray_err
store_core_client_add(store_core *c, uint32_t *idx)
{
    ray_err rc = RAY_EBUSY;
    pthread_mutex_lock(&c->mu);
    for (uint32_t i = 0; i < STORE_MAX_CLIENTS; i++) {
        if (!c->client_used[i]) {
            c->client_used[i] = true;
            c->nclients++;
            c->epoch[i] = (c->epoch[i] | 1u) + 1u; /* even: held */
            atomic_store(&c->hdr->client_epoch[i], c->epoch[i]);
            *idx = i;
            rc = RAY_OK;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

uint32_t
store_core_client_remove(store_core *c, uint32_t idx)
{
    uint32_t aborted = 0;
    pthread_mutex_lock(&c->mu);
    for (uint32_t i = 0; i < c->table.nslots; i++) {
        store_slot_unpin(&c->slots[i], idx);
        if (claim_creating(c, i, idx)) {
            store_core_free_slot(c, i);
            aborted++;
        }
    }
    if (c->client_used[idx]) {
        c->client_used[idx] = false;
        c->nclients--;
        c->epoch[idx] |= 1u; /* odd: free */
        atomic_store(&c->hdr->client_epoch[idx], c->epoch[idx]);
    }
    pthread_mutex_unlock(&c->mu);
    store_table_notify(&c->table);
    return aborted;
}

void
store_core_client_revoke(store_core *c, const uint32_t *idx, uint32_t n,
                         bool *spared)
{
    uint64_t busy[STORE_PIN_WORDS] = {0};
    pthread_mutex_lock(&c->mu);
    /* Odd first, seq_cst: a client that sets a pin bit after this store
     * sees the odd epoch (and backs off); one that set it before is seen
     * by the scan below. */
    for (uint32_t i = 0; i < n; i++)
        atomic_store(&c->hdr->client_epoch[idx[i]], c->epoch[idx[i]] | 1u);
    for (uint32_t k = 0; k < c->table.nslots; k++) {
        store_slot *s = &c->slots[k];
        for (unsigned w = 0; w < STORE_PIN_WORDS; w++)
            busy[w] |= atomic_load(&s->pins[w]);
        store_meta *m = &c->meta[k];
        if (m->state == STORE_META_MEM && m->creator < STORE_MAX_CLIENTS &&
            atomic_load(&s->state) == STORE_SLOT_CREATING)
            busy[m->creator / 64] |= 1ull << (m->creator % 64);
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = idx[i];
        spared[i] = (busy[x / 64] >> (x % 64)) & 1u;
        if (spared[i])
            atomic_store(&c->hdr->client_epoch[x], c->epoch[x]);
    }
    pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------------ */
/* Object operations                                                   */
/* ------------------------------------------------------------------ */

/* Under mu: publish a new object's record in its slot, then move the
 * slot to CREATING (seq_cst: a reader that sees the state sees the rest),
 * pinned by its creator. Pins left by a scribbler or by a reader that
 * raced the slot's last free are cleared first. */
static void
publish_creating(store_slot *s, const store_meta *m)
{
    s->offset = m->offset;
    s->data_size = m->data_size;
    s->meta_size = m->meta_size;
    s->flags = m->flags;
    atomic_store(&s->creator, m->creator);
    atomic_store(&s->last_access, (uint64_t)rt_clock_now_ns());
    store_slot_set_id(s, &m->id);
    store_slot_unpin_all(s);
    store_slot_pin(s, m->creator);
    atomic_store(&s->state, STORE_SLOT_CREATING);
}

ray_err
store_core_create_object(store_core *c, uint32_t client,
                         const store_object_id *id, uint64_t data_size,
                         uint64_t meta_size, uint32_t flags,
                         store_location *loc, char *msg, size_t msglen)
{
    uint64_t total = data_size + meta_size;
    if (client >= STORE_MAX_CLIENTS || total < data_size)
        return RAY_EINVAL;
    if (total > c->heap_size) {
        snprintf(msg, msglen,
                 "object of %llu bytes is larger than the whole object store "
                 "(%llu bytes); raise the store capacity "
                 "(store_config.capacity / object_store_memory)",
                 (unsigned long long)total, (unsigned long long)c->heap_size);
        return RAY_ETOOBIG;
    }
    ray_err rc = RAY_OK;
    pthread_mutex_lock(&c->mu);
    if (store_core_find(c, id) >= 0) {
        snprintf(msg, msglen, "object already exists");
        rc = RAY_EEXISTS;
        goto out;
    }
    if (c->nfree == 0)
        (void)store_evict(c, 1); /* a secondary copy frees its slot too */
    if (c->nfree == 0) {
        snprintf(msg, msglen,
                 "object table full (%u objects); raise "
                 "store_config.max_objects",
                 c->table.nslots);
        rc = RAY_ESTORE_FULL;
        goto out;
    }
    size_t usable = 0;
    ray_err spill_rc;
    uint8_t *p =
        alloc_with_room(c, total, true, &usable, &rc, &spill_rc, msg, msglen);
    if (!p && msg[0])
        goto out;
    if (!p) {
        rc = no_room(c, "object store full", total, spill_rc, msg, msglen);
        goto out;
    }
    uint32_t slot = c->free_slots[c->nfree - 1];
    uint64_t hash = store_table_hash(id);
    store_slot *s = &c->slots[slot];
    store_meta *m = &c->meta[slot];
    *m = (store_meta){.id = *id,
                      .state = STORE_META_MEM,
                      .flags = flags & STORE_OBJ_SECONDARY,
                      .creator = client,
                      .offset = (uint64_t)(p - c->base),
                      .data_size = data_size,
                      .meta_size = meta_size,
                      .alloc_size = usable};
    publish_creating(s, m);
    if (RT_NEVER(!store_table_insert(&c->table, slot, hash))) {
        store_arena_free(c->arena, p);
        memset(m, 0, sizeof *m);
        store_slot_unpin(s, client);
        atomic_store(&s->state, STORE_SLOT_FREE);
        snprintf(msg, msglen, "the object index is corrupt (full)");
        rc = RAY_EINTERNAL;
        goto out;
    }
    c->home[slot] = (uint32_t)hash;
    c->nfree--;
    c->k.bytes_used += usable;
    *loc = (store_location){.slot = slot,
                            .offset = m->offset,
                            .data_size = data_size,
                            .meta_size = meta_size};
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

ray_err
store_seal_slot(const store_table *t, uint32_t client,
                const store_object_id *id)
{
    int64_t slot = store_table_find(t, id);
    if (slot < 0)
        return RAY_ENOTFOUND;
    store_slot *s = &t->slots[slot];
    uint32_t st = STORE_SLOT_CREATING;
    if (atomic_load(&s->creator) != client || !store_slot_id_eq(s, id) ||
        !atomic_compare_exchange_strong(&s->state, &st, STORE_SLOT_SEALED)) {
        if (st == STORE_SLOT_SEALED || st == STORE_SLOT_SPILLED ||
            (st == STORE_SLOT_BUSY && store_slot_id_eq(s, id)))
            return RAY_EEXISTS;
        return RAY_ENOTFOUND;
    }
    atomic_store_explicit(&s->last_access, (uint64_t)rt_clock_now_ns(),
                          memory_order_relaxed);
    store_table_notify(t);
    return RAY_OK;
}

ray_err
store_core_abort(store_core *c, uint32_t client, const store_object_id *id)
{
    ray_err rc = RAY_ENOTFOUND;
    pthread_mutex_lock(&c->mu);
    int64_t slot = store_core_find(c, id);
    if (slot >= 0) {
        if (claim_creating(c, (uint32_t)slot, client)) {
            store_core_free_slot(c, (uint32_t)slot);
            rc = RAY_OK;
        } else if (atomic_load(&c->slots[slot].state) != STORE_SLOT_CREATING) {
            rc = RAY_EEXISTS;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == RAY_OK)
        store_table_notify(&c->table);
    return rc;
}

/* Under mu: take a SPILLED object's slot to BUSY. Clients never move a
 * spilled slot (they cannot pin it), so the store does not need its
 * state to read SPILLED: whatever a scribbler left there is overwritten. */
static void
claim_spilled(store_core *c, uint32_t slot)
{
    atomic_store(&c->slots[slot].state, STORE_SLOT_BUSY);
}

ray_err
store_core_delete(store_core *c, const store_object_id *id)
{
    ray_err rc = RAY_ENOTFOUND;
    pthread_mutex_lock(&c->mu);
    int64_t slot = store_core_find(c, id);
    if (slot < 0)
        goto out;
    store_slot *s = &c->slots[slot];
    store_meta *m = &c->meta[slot];
    if (m->state == STORE_META_MEM && store_slot_claim(s, STORE_SLOT_SEALED)) {
        store_core_free_slot(c, (uint32_t)slot);
        rc = RAY_OK;
    } else if (m->state == STORE_META_SPILLED || m->state == STORE_META_AWAY) {
        claim_spilled(c, (uint32_t)slot);
        if (m->state == STORE_META_SPILLED)
            store_spill_drop(c, m);
        store_core_free_slot(c, (uint32_t)slot);
        rc = RAY_OK;
    } else {
        rc = RAY_EBUSY;
    }
out:
    pthread_mutex_unlock(&c->mu);
    if (rc == RAY_OK)
        store_table_notify(&c->table);
    return rc;
}

/* Under mu: bring spilled object `slot` (claimed BUSY) into memory: its
 * meta becomes MEM. Room without new disk space first (free memory,
 * evicted copies, then a trade of places with an object in memory), only
 * then a spill to a new file. `msg` says why on failure. */
static ray_err
bring_back(store_core *c, uint32_t slot, char *msg, size_t msglen)
{
    store_meta *m = &c->meta[slot];
    size_t usable = 0;
    ray_err rc, spill_rc;
    uint8_t *p = alloc_with_room(c, obj_bytes(m), false, &usable, &rc,
                                 &spill_rc, msg, msglen);
    if (!p) {
        char why[256] = "";
        ray_err e = store_spill_swap(c, slot, why, sizeof why);
        if (e == RAY_OK)
            return RAY_OK; /* x has y's allocation, y x's place on disk:
                              bytes_used and objects_spilled stay */
        if (e != RAY_ENOTFOUND) {
            snprintf(msg, msglen, "%s", why);
            return e;
        }
        p = alloc_with_room(c, obj_bytes(m), true, &usable, &rc, &spill_rc, msg,
                            msglen);
    }
    if (!p)
        return msg[0] ? rc
                      : no_room(c, "cannot restore a spilled object",
                                obj_bytes(m), spill_rc, msg, msglen);
    rc = store_spill_read(c, m, p);
    if (rc != RAY_OK) {
        store_arena_free(c->arena, p);
        snprintf(msg, msglen,
                 "cannot read a spilled object back from %s: "
                 "%s",
                 c->spill_dir, rt_strerror(rc));
        return rc;
    }
    store_spill_drop(c, m);
    m->state = STORE_META_MEM;
    m->offset = (uint64_t)(p - c->base);
    m->alloc_size = usable;
    c->k.bytes_used += usable;
    return RAY_OK;
}

/* Under mu: bring evicted copy `slot` (claimed BUSY, AWAY) back through
 * the fetch hook, which runs with mu released: the slot stays BUSY and
 * its meta FETCHING meanwhile, so no other request touches it (a restore
 * finds it not spilled and its get waits; a delete finds it busy). */
static ray_err
fetch_back(store_core *c, uint32_t slot, char *msg, size_t msglen)
{
    store_meta *m = &c->meta[slot];
    size_t usable = 0;
    ray_err rc, spill_rc;
    uint8_t *p = alloc_with_room(c, obj_bytes(m), true, &usable, &rc, &spill_rc,
                                 msg, msglen);
    if (!p)
        return msg[0] ? rc
                      : no_room(c, "cannot fetch an evicted copy back",
                                obj_bytes(m), spill_rc, msg, msglen);
    store_fetch_fn fetch = c->fetch;
    void *arg = c->fetch_arg;
    store_object_id id = m->id;
    uint64_t len = obj_bytes(m);
    m->state = STORE_META_FETCHING;
    m->offset = (uint64_t)(p - c->base);
    m->alloc_size = usable;
    c->k.bytes_used += usable;
    pthread_mutex_unlock(&c->mu);
    msg[0] = '\0';
    rc = fetch ? fetch(arg, &id, p, len, msg, msglen) : RAY_EOBJECT_LOST;
    pthread_mutex_lock(&c->mu);
    if (rc == RAY_OK) {
        m->state = STORE_META_MEM;
        c->k.fetches++;
        return RAY_OK;
    }
    if (!msg[0])
        snprintf(msg, msglen, "an evicted copy could not be fetched back: %s",
                 rt_strerror(rc));
    store_arena_free(c->arena, p);
    c->k.bytes_used -= usable;
    m->state = STORE_META_AWAY;
    m->offset = m->alloc_size = 0;
    return rc;
}

ray_err
store_core_restore(store_core *c, uint32_t client, const store_object_id *id,
                   store_location *loc, char *msg, size_t msglen)
{
    ray_err rc = RAY_OK;
    if (client >= STORE_MAX_CLIENTS)
        return RAY_EINVAL;
    pthread_mutex_lock(&c->mu);
    int64_t slot = store_core_find(c, id);
    if (slot < 0) {
        rc = RAY_ENOTFOUND;
        goto out;
    }
    store_slot *s = &c->slots[slot];
    store_meta *m = &c->meta[slot];
    bool away = m->state == STORE_META_AWAY;
    if (m->state != STORE_META_SPILLED && !away) {
        rc = RAY_EAGAIN;
        goto out;
    }
    claim_spilled(c, (uint32_t)slot);
    rc = away ? fetch_back(c, (uint32_t)slot, msg, msglen)
              : bring_back(c, (uint32_t)slot, msg, msglen);
    if (rc != RAY_OK) {
        atomic_store(&s->state, STORE_SLOT_SPILLED);
        goto out;
    }
    if (!away) {
        c->k.restores++;
        c->k.bytes_restored += obj_bytes(m);
    }
    s->offset = m->offset;
    s->data_size = m->data_size;
    s->meta_size = m->meta_size;
    atomic_store(&s->last_access, (uint64_t)rt_clock_now_ns());
    store_slot_pin(s, client);
    *loc = (store_location){.slot = (uint32_t)slot,
                            .offset = m->offset,
                            .data_size = m->data_size,
                            .meta_size = m->meta_size};
    atomic_store(&s->state, STORE_SLOT_SEALED);
out:
    pthread_mutex_unlock(&c->mu);
    if (rc == RAY_OK)
        store_table_notify(&c->table);
    return rc;
}

void
store_core_stats(store_core *c, store_stats *out)
{
    store_counters *k = &c->k;
    pthread_mutex_lock(&c->mu);
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < c->table.nslots; i++) {
        if (c->meta[i].state != STORE_META_MEM)
            continue;
        if (atomic_load(&c->slots[i].state) == STORE_SLOT_SEALED)
            out->objects_in_memory++;
        else
            out->objects_creating++;
    }
    out->capacity = c->heap_size;
    out->bytes_used = k->bytes_used;
    out->bytes_pinned = pinned_bytes(c);
    out->bytes_spilled = k->bytes_spilled;
    out->objects_spilled = k->objects_spilled;
    out->evictions = k->evictions;
    out->spills = k->spills;
    out->restores = k->restores;
    out->fetches = k->fetches;
    out->clients = c->nclients;
    out->bytes_committed = k->bytes_committed;
    pthread_mutex_unlock(&c->mu);
}

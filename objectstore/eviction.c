/* SPDX-License-Identifier: Apache-2.0
 *
 * eviction.c: make room by dropping secondary copies, least recently used
 * first.
 *
 * A secondary copy (STORE_OBJ_SECONDARY: pulled from another node, whose
 * primary lives elsewhere) can be dropped without losing anything. Only
 * sealed, unpinned ones qualify; each is claimed with the pin handshake
 * (store_slot_claim), so a client that pins it at the same instant wins
 * and the object stays. Runs under core->mu, on the thread that needs the
 * room. The LRU order comes from the slots' last_access stamps, which
 * every get refreshes lock-free (a client can write any value there: it
 * only reorders the victims); a scan of the slots per eviction round is
 * cheap next to the put that needed the room. Which objects are secondary
 * and how much memory each holds come from the store's private metadata.
 *
 * With a fetch hook (store_client_set_fetch) an evicted copy is not
 * forgotten: its memory goes, its slot stays AWAY (SPILLED to clients),
 * and the next get brings it back through the hook (lifecycle.c).
 */
#include <stdlib.h>

#include "objectstore/store_int.h"
#include "runtime/alloc.h"
#include "runtime/log.h"

typedef struct lru_item {
    uint64_t t;
    uint32_t slot;
} lru_item;

static int
lru_cmp(const void *a, const void *b)
{
    const lru_item *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

uint64_t
store_evict(store_core *c, uint64_t need)
{
    uint32_t n = c->table.nslots, m = 0;
    lru_item *v = rt_malloc((size_t)n * sizeof *v);
    if (!v)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        store_slot *s = &c->slots[i];
        store_meta *md = &c->meta[i];
        if (md->state == STORE_META_MEM && (md->flags & STORE_OBJ_SECONDARY) &&
            atomic_load(&s->state) == STORE_SLOT_SEALED &&
            !store_slot_pinned(s))
            v[m++] = (lru_item){atomic_load(&s->last_access), i};
    }
    qsort(v, m, sizeof *v, lru_cmp);
    uint64_t freed = 0, count = 0;
    store_counters *k = &c->k;
    for (uint32_t i = 0; i < m && freed < need; i++) {
        store_slot *s = &c->slots[v[i].slot];
        if (!store_slot_claim(s, STORE_SLOT_SEALED))
            continue;
        store_meta *md = &c->meta[v[i].slot];
        uint64_t bytes = md->alloc_size;
        freed += bytes;
        k->bytes_evicted += bytes;
        if (c->fetch) {
            store_arena_free(c->arena, c->base + md->offset);
            k->bytes_used -= bytes;
            md->state = STORE_META_AWAY;
            md->offset = md->alloc_size = 0;
            s->offset = 0;
            atomic_store(&s->state, STORE_SLOT_SPILLED);
        } else {
            store_core_free_slot(c, v[i].slot);
        }
        count++;
    }
    rt_free(v);
    if (count) {
        k->evictions += count;
        store_table_notify(&c->table);
        RT_DEBUG("object store: evicted %llu object(s), %llu bytes",
                 (unsigned long long)count, (unsigned long long)freed);
    }
    return freed;
}

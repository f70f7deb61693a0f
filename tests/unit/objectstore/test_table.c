/* SPDX-License-Identifier: Apache-2.0
 * Tests for objectstore/table.c: the shared index finds what was
 * inserted, survives removals in any order (backward-shift deletion), the
 * pin/claim handshake excludes each other, and an index full of garbage
 * (a region overwritten from outside the store) neither sends a lookup
 * out of bounds nor makes any probe endless. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "objectstore/layout.h"
#include "objectstore/table.h"

TestSuite(store_table, .timeout = 20);

/* A region's table part (header, index, shared page, slots) in private
 * memory; `t` is the view every process would take of it. */
static uint8_t *
make_table(uint32_t nslots, store_table *t)
{
    store_geometry g;
    store_table_geometry(1 << 20, nslots, &g);
    uint8_t *base = calloc(1, g.heap_off);
    cr_assert_not_null(base);
    store_table_init((store_header *)base, &g);
    cr_assert(store_table_valid((store_header *)base, g.region_size));
    store_table_attach(t, base);
    return base;
}

static store_object_id
id_of(uint32_t n)
{
    store_object_id id;
    memset(&id, 0, sizeof id);
    memcpy(id.b + 3, &n, sizeof n);
    return id;
}

Test(store_table, insert_find_remove_in_random_order)
{
    enum { N = 1000 };
    store_table t;
    uint8_t *base = make_table(N, &t);
    store_header *h = (store_header *)base;
    store_slot *s = t.slots;
    uint32_t home[N];
    for (uint32_t i = 0; i < N; i++) {
        store_object_id id = id_of(i);
        store_slot_set_id(&s[i], &id);
        uint64_t hash = store_table_hash(&id);
        home[i] = (uint32_t)hash;
        cr_assert(store_table_insert(&t, i, hash));
    }
    for (uint32_t i = 0; i < N; i++) {
        store_object_id id = id_of(i);
        cr_assert_eq(store_table_find(&t, &id), (int64_t)i);
    }
    store_object_id missing = id_of(N + 7);
    cr_assert_eq(store_table_find(&t, &missing), -1);
    /* Remove a random half; the rest must stay findable. */
    unsigned seed = 7;
    char *gone = calloc(N, 1);
    for (int k = 0; k < N / 2; k++) {
        uint32_t i = (uint32_t)rand_r(&seed) % N;
        if (gone[i])
            continue;
        store_table_remove(&t, i, home);
        gone[i] = 1;
    }
    for (uint32_t i = 0; i < N; i++) {
        store_object_id id = id_of(i);
        cr_assert_eq(store_table_find(&t, &id), gone[i] ? -1 : (int64_t)i,
                     "id %u", i);
    }
    cr_assert_eq(atomic_load(&h->table_seq) % 2, 0);
    free(gone);
    free(base);
}

Test(store_table, garbage_index_stays_in_bounds_and_every_probe_ends)
{
    enum { N = 64 };
    store_table t;
    uint8_t *base = make_table(N, &t);
    uint32_t home[N] = {0};
    /* Every entry non-zero, most of them past the last slot: no empty
     * entry ends a probe, and no entry may be used as a slot number. */
    unsigned seed = 11;
    for (uint32_t i = 0; i <= t.mask; i++)
        atomic_store(&t.index[i], 1u + (uint32_t)rand_r(&seed));
    store_object_id id = id_of(5);
    cr_assert_eq(store_table_find(&t, &id), -1);
    cr_assert_not(store_table_insert(&t, 3, store_table_hash(&id)),
                  "inserted into a full index");
    store_table_remove(&t, 3, home); /* not there: returns */
    /* Entries that are in range but whose slots hold other IDs. */
    for (uint32_t i = 0; i <= t.mask; i++)
        atomic_store(&t.index[i], 1u + i % N);
    cr_assert_eq(store_table_find(&t, &id), -1);
    store_table_remove(&t, 3, home);
    cr_assert_eq(atomic_load(&t.hdr->table_seq) % 2, 0,
                 "the seqlock was left odd");
    /* A scribbled odd sequence number is made even by the next change. */
    atomic_store(&t.hdr->table_seq, 77);
    store_table_remove(&t, 4, home);
    cr_assert_eq(atomic_load(&t.hdr->table_seq) % 2, 0);
    free(base);
}

Test(store_table, pin_blocks_claim_and_claim_blocks_pin)
{
    store_table t;
    uint8_t *base = make_table(4, &t);
    store_slot *s = &t.slots[0];
    store_object_id id = id_of(1), other = id_of(2);
    store_slot_set_id(s, &id);
    atomic_store(&s->state, STORE_SLOT_CREATING);
    uint32_t st;
    cr_assert_not(store_slot_try_pin(s, 3, &id, &st), "unsealed pinned");
    cr_assert_eq(st, STORE_SLOT_CREATING);
    cr_assert_not(store_slot_pinned(s), "failed pin left a bit");
    atomic_store(&s->state, STORE_SLOT_SEALED);
    cr_assert_not(store_slot_try_pin(s, 3, &other, NULL), "wrong id pinned");
    cr_assert(store_slot_try_pin(s, 200, &id, NULL));
    cr_assert_not(store_slot_claim(s, STORE_SLOT_SEALED), "claimed pinned");
    cr_assert_eq(atomic_load(&s->state), STORE_SLOT_SEALED);
    store_slot_unpin(s, 200);
    cr_assert(store_slot_claim(s, STORE_SLOT_SEALED));
    cr_assert_not(store_slot_try_pin(s, 5, &id, &st), "pinned a claimed slot");
    cr_assert_eq(st, STORE_SLOT_BUSY);
    free(base);
}

Test(store_table, geometry_is_valid_and_rejects_garbage)
{
    store_geometry g;
    store_table_geometry(8 << 20, 1024, &g);
    cr_assert_geq(g.index_size, 2048);
    cr_assert_eq(g.heap_off % (2 << 20), 0);
    /* What clients map read-only ends on a page, before anything they
     * write: the shared page, then the slots. */
    cr_assert_eq(g.shared_off % 4096, 0);
    cr_assert_geq(g.shared_off, g.index_off + (uint64_t)g.index_size * 4);
    cr_assert_geq(g.slots_off, g.shared_off + STORE_SHARED_SIZE);
    store_header *h = calloc(1, g.heap_off);
    store_table_init(h, &g);
    cr_assert(store_table_valid(h, g.region_size));
    cr_assert_not(store_table_valid(h, g.region_size - 4096));
    h->slots_off = h->shared_off; /* slots over the shared page */
    cr_assert_not(store_table_valid(h, g.region_size));
    store_table_init(h, &g);
    h->heap_size = ~0ull; /* a heap past the end (overflowing) */
    cr_assert_not(store_table_valid(h, g.region_size));
    store_table_init(h, &g);
    h->magic ^= 1;
    cr_assert_not(store_table_valid(h, g.region_size));
    free(h);
}

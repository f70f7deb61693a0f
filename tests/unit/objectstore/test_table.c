/* SPDX-License-Identifier: Apache-2.0
 * Tests for objectstore/table.c: the shared index finds what was
 * inserted, survives removals in any order (backward-shift deletion), and
 * the pin/claim handshake excludes each other. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "objectstore/layout.h"
#include "objectstore/table.h"

TestSuite(store_table, .timeout = 20);

static store_header *
make_table(uint32_t nslots)
{
    store_geometry g;
    store_table_geometry(1 << 20, nslots, &g);
    store_header *h = calloc(1, g.heap_off); /* header + slots + index */
    cr_assert_not_null(h);
    store_table_init(h, &g);
    return h;
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
    store_header *h = make_table(N);
    store_slot *s = store_layout_slots(h);
    for (uint32_t i = 0; i < N; i++) {
        store_object_id id = id_of(i);
        store_slot_set_id(&s[i], &id);
        store_table_insert(h, i);
    }
    for (uint32_t i = 0; i < N; i++) {
        store_object_id id = id_of(i);
        cr_assert_eq(store_table_find(h, &id), (int64_t)i);
    }
    store_object_id missing = id_of(N + 7);
    cr_assert_eq(store_table_find(h, &missing), -1);
    /* Remove a random half; the rest must stay findable. */
    unsigned seed = 7;
    char *gone = calloc(N, 1);
    for (int k = 0; k < N / 2; k++) {
        uint32_t i = (uint32_t)rand_r(&seed) % N;
        if (gone[i])
            continue;
        store_table_remove(h, i);
        gone[i] = 1;
    }
    for (uint32_t i = 0; i < N; i++) {
        store_object_id id = id_of(i);
        cr_assert_eq(store_table_find(h, &id), gone[i] ? -1 : (int64_t)i,
                     "id %u", i);
    }
    cr_assert_eq(atomic_load(&h->table_seq) % 2, 0);
    free(gone);
    free(h);
}

Test(store_table, pin_blocks_claim_and_claim_blocks_pin)
{
    store_header *h = make_table(4);
    store_slot *s = &store_layout_slots(h)[0];
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
    free(h);
}

Test(store_table, geometry_is_valid_and_rejects_garbage)
{
    store_geometry g;
    store_table_geometry(8 << 20, 1024, &g);
    cr_assert_geq(g.index_size, 2048);
    cr_assert_eq(g.heap_off % (2 << 20), 0);
    store_header *h = calloc(1, g.heap_off);
    store_table_init(h, &g);
    cr_assert(store_table_valid(h, g.region_size));
    cr_assert_not(store_table_valid(h, g.region_size - 4096));
    h->magic ^= 1;
    cr_assert_not(store_table_valid(h, g.region_size));
    free(h);
}

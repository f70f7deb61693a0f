/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of sdk/memory_store.c: ids, stale ids,
 * inline and heap values, errors, and reference counts down to zero. */
#include <criterion/criterion.h>
#include <string.h>

#include "runtime/alloc.h"
#include "sdk/memory_store.h"

TestSuite(memory_store, .timeout = 10);

Test(memory_store, ids_go_stale_after_free)
{
    sdk_objects s;
    sdk_objects_init(&s);
    uint64_t id;
    sdk_obj *o;
    cr_assert_eq(sdk_objects_alloc(&s, &id, &o), RAY_OK);
    cr_assert_eq(sdk_objects_lookup(&s, id), o);
    cr_assert_null(sdk_objects_lookup(&s, 0));
    cr_assert_eq(o->state, SDK_OBJ_PENDING);
    cr_assert_not(sdk_objects_release(&s, o), "pending objects stay");
    int64_t v = 42;
    cr_assert_eq(sdk_objects_set_value(&s, o, 2, &v, 8), RAY_OK);
    cr_assert(sdk_objects_maybe_free(&s, o));
    cr_assert_null(sdk_objects_lookup(&s, id));
    uint64_t id2;
    sdk_obj *o2;
    cr_assert_eq(sdk_objects_alloc(&s, &id2, &o2), RAY_OK);
    cr_assert_eq(o2, o, "slot reused");
    cr_assert_neq(id2, id, "with a new generation");
    cr_assert_null(sdk_objects_lookup(&s, id));
    sdk_objects_fini(&s);
}

Test(memory_store, values_inline_and_on_heap_and_errors)
{
    sdk_objects s;
    sdk_objects_init(&s);
    long live0 = rt_alloc_live();
    uint64_t a, b, c;
    sdk_obj *oa, *ob, *oc;
    sdk_objects_alloc(&s, &a, &oa);
    sdk_objects_alloc(&s, &b, &ob);
    sdk_objects_alloc(&s, &c, &oc);
    char small[16] = "0123456789abcde", big[1000];
    memset(big, 7, sizeof(big));
    cr_assert_eq(sdk_objects_set_value(&s, oa, 8, small, 16), RAY_OK);
    cr_assert_eq(sdk_objects_set_value(&s, ob, 8, big, sizeof(big)), RAY_OK);
    sdk_objects_set_error(&s, oc, RAY_ETASK_FAILED, "boom");
    cr_assert_eq(memcmp(sdk_obj_data(oa), small, 16), 0);
    cr_assert_eq(memcmp(sdk_obj_data(ob), big, sizeof(big)), 0);
    cr_assert_eq(s.bytes, sizeof(big));
    cr_assert_str_eq(oc->errmsg, "boom");
    cr_assert_gt(ob->done_seq, oa->done_seq);
    cr_assert_eq(s.live, 3);
    sdk_objects_retain(ob);
    cr_assert_not(sdk_objects_release(&s, ob));
    cr_assert(sdk_objects_release(&s, ob));
    cr_assert(sdk_objects_release(&s, oa));
    cr_assert(sdk_objects_release(&s, oc));
    cr_assert_eq(s.live, 0);
    cr_assert_eq(s.bytes, 0);
    sdk_objects_fini(&s);
    cr_assert_eq(rt_alloc_live(), live0, "every buffer freed");
}

Test(memory_store, many_objects_span_chunks)
{
    sdk_objects s;
    sdk_objects_init(&s);
    enum { N = 3 * SDK_OBJ_CHUNK + 5 };
    static uint64_t ids[N];
    for (uint32_t i = 0; i < N; i++) {
        sdk_obj *o;
        cr_assert_eq(sdk_objects_alloc(&s, &ids[i], &o), RAY_OK);
        int64_t v = i;
        sdk_objects_set_value(&s, o, 2, &v, 8);
    }
    /* The walk visits each live object once, across chunks, in order;
     * a freed one is skipped. */
    sdk_objects_release(&s, sdk_objects_lookup(&s, ids[1]));
    uint32_t seen = 0, at = 0;
    for (sdk_obj *w; (w = sdk_objects_next(&s, &at)); seen++)
        cr_assert_eq(sdk_objects_id(w), ids[seen < 1 ? seen : seen + 1]);
    cr_assert_eq(seen, N - 1);
    for (uint32_t i = 0; i < N; i++) {
        if (i == 1)
            continue; /* released above */
        sdk_obj *o = sdk_objects_lookup(&s, ids[i]);
        cr_assert_not_null(o);
        cr_assert_eq(*(const int64_t *)sdk_obj_data(o), (int64_t)i);
        sdk_objects_release(&s, o);
    }
    cr_assert_eq(s.live, 0);
    rt_alloc_fail_after(1);
    uint64_t id;
    sdk_obj *o;
    /* Free slots exist: no allocation needed. */
    cr_assert_eq(sdk_objects_alloc(&s, &id, &o), RAY_OK);
    rt_alloc_fail_after(0);
    sdk_objects_fini(&s);
}

/* A parked object (its value kept on another node) whose last holder
 * leaves is offered to its owner's hook: taken, it is freed at once;
 * refused, it stays pending like any other. A value that comes clears
 * the mark. */
static uint64_t unheld_id;
static bool unheld_take;

static bool
unheld(uint64_t id)
{
    unheld_id = id;
    return unheld_take;
}

Test(memory_store, a_parked_object_without_holders_goes_to_its_owner)
{
    sdk_objects s;
    sdk_objects_init(&s);
    s.on_unheld = unheld;
    uint64_t id;
    sdk_obj *o;
    cr_assert_eq(sdk_objects_alloc(&s, &id, &o), RAY_OK);
    cr_assert_eq(o->parked, 0, "a new object is not parked");
    o->parked = 1;
    sdk_objects_retain(o);
    unheld_take = true;
    cr_assert_not(sdk_objects_release(&s, o), "one holder is left");
    cr_assert_eq(unheld_id, 0, "asked while held");
    cr_assert(sdk_objects_release(&s, o), "dropped by its owner: freed");
    cr_assert_eq(unheld_id, id);
    cr_assert_null(sdk_objects_lookup(&s, id));

    cr_assert_eq(sdk_objects_alloc(&s, &id, &o), RAY_OK);
    o->parked = 1;
    unheld_take = false;
    unheld_id = 0;
    cr_assert_not(sdk_objects_release(&s, o), "refused: it stays pending");
    cr_assert_eq(unheld_id, id);
    cr_assert_eq(o->state, SDK_OBJ_PENDING);
    int64_t v = 7;
    cr_assert_eq(sdk_objects_set_value(&s, o, 2, &v, 8), RAY_OK);
    cr_assert_eq(o->parked, 0, "its value came");
    cr_assert(sdk_objects_maybe_free(&s, o));

    cr_assert_eq(sdk_objects_alloc(&s, &id, &o), RAY_OK);
    unheld_id = 0;
    cr_assert_not(sdk_objects_release(&s, o), "not parked: pending stays");
    cr_assert_eq(unheld_id, 0, "the hook is for parked objects only");
    sdk_objects_set_error(&s, o, RAY_ECANCELLED, NULL);
    cr_assert(sdk_objects_maybe_free(&s, o));
    sdk_objects_fini(&s);
}

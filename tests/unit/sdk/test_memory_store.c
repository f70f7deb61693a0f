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

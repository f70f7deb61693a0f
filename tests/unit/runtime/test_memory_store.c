/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of runtime/core_worker/memory_store.c: ids, stale ids,
 * inline and heap values, errors, and reference counts down to zero. */
#include <criterion/criterion.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/core_worker/memory_store.h"

TestSuite(memory_store, .timeout = 10);

Test(memory_store, ids_go_stale_after_free)
{
    cw_store s;
    cw_store_init(&s);
    uint64_t id;
    cw_obj *o;
    cr_assert_eq(cw_store_alloc(&s, &id, &o), RAY_OK);
    cr_assert_eq(cw_store_lookup(&s, id), o);
    cr_assert_null(cw_store_lookup(&s, 0));
    cr_assert_eq(o->state, CW_PENDING);
    cr_assert_not(cw_store_release(&s, o), "pending objects stay");
    int64_t v = 42;
    cr_assert_eq(cw_store_set_value(&s, o, 2, &v, 8), RAY_OK);
    cr_assert(cw_store_maybe_free(&s, o));
    cr_assert_null(cw_store_lookup(&s, id));
    uint64_t id2;
    cw_obj *o2;
    cr_assert_eq(cw_store_alloc(&s, &id2, &o2), RAY_OK);
    cr_assert_eq(o2, o, "slot reused");
    cr_assert_neq(id2, id, "with a new generation");
    cr_assert_null(cw_store_lookup(&s, id));
    cw_store_fini(&s);
}

Test(memory_store, values_inline_and_on_heap_and_errors)
{
    cw_store s;
    cw_store_init(&s);
    long live0 = rt_alloc_live();
    uint64_t a, b, c;
    cw_obj *oa, *ob, *oc;
    cw_store_alloc(&s, &a, &oa);
    cw_store_alloc(&s, &b, &ob);
    cw_store_alloc(&s, &c, &oc);
    char small[16] = "0123456789abcde", big[1000];
    memset(big, 7, sizeof(big));
    cr_assert_eq(cw_store_set_value(&s, oa, 8, small, 16), RAY_OK);
    cr_assert_eq(cw_store_set_value(&s, ob, 8, big, sizeof(big)), RAY_OK);
    cw_store_set_error(&s, oc, RAY_ETASK_FAILED, "boom");
    cr_assert_eq(memcmp(cw_obj_data(oa), small, 16), 0);
    cr_assert_eq(memcmp(cw_obj_data(ob), big, sizeof(big)), 0);
    cr_assert_eq(s.bytes, sizeof(big));
    cr_assert_str_eq(oc->errmsg, "boom");
    cr_assert_gt(ob->done_seq, oa->done_seq);
    cr_assert_eq(s.live, 3);
    cw_store_retain(ob);
    cr_assert_not(cw_store_release(&s, ob));
    cr_assert(cw_store_release(&s, ob));
    cr_assert(cw_store_release(&s, oa));
    cr_assert(cw_store_release(&s, oc));
    cr_assert_eq(s.live, 0);
    cr_assert_eq(s.bytes, 0);
    cw_store_fini(&s);
    cr_assert_eq(rt_alloc_live(), live0, "every buffer freed");
}

Test(memory_store, many_objects_span_chunks)
{
    cw_store s;
    cw_store_init(&s);
    enum { N = 3 * CW_CHUNK + 5 };
    static uint64_t ids[N];
    for (uint32_t i = 0; i < N; i++) {
        cw_obj *o;
        cr_assert_eq(cw_store_alloc(&s, &ids[i], &o), RAY_OK);
        int64_t v = i;
        cw_store_set_value(&s, o, 2, &v, 8);
    }
    for (uint32_t i = 0; i < N; i++) {
        cw_obj *o = cw_store_lookup(&s, ids[i]);
        cr_assert_not_null(o);
        cr_assert_eq(*(const int64_t *)cw_obj_data(o), (int64_t)i);
        cw_store_release(&s, o);
    }
    cr_assert_eq(s.live, 0);
    rt_alloc_fail_after(1);
    uint64_t id;
    cw_obj *o;
    /* Free slots exist: no allocation needed. */
    cr_assert_eq(cw_store_alloc(&s, &id, &o), RAY_OK);
    rt_alloc_fail_after(0);
    cw_store_fini(&s);
}

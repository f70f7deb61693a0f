/* SPDX-License-Identifier: Apache-2.0
 *
 * The worker's table of pushed results (sdk/worker_results.c), driven
 * directly: expect, push, take, forget, against a plain model, with ids
 * that collide in the table and deletions in random order, through
 * several grows.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "sdk/sdk_int.h"

static sdk_msg_done
value(uint64_t id, uint64_t v)
{
    return (sdk_msg_done){
        .task_id = id, .err = RAY_OK, .type = RAY_T_I64, .scalar = v, .len = 0};
}

Test(worker_results, states_and_values)
{
    cr_assert_eq(sdk_wk_results_take(7, NULL, NULL), SDK_RES_UNKNOWN);
    sdk_wk_results_expect(7);
    cr_assert_eq(sdk_wk_results_state(7, NULL), SDK_RES_PENDING);
    sdk_msg_done d = value(7, 70), h;
    void *p = NULL;
    cr_assert_eq(sdk_wk_results_take(7, &h, &p), SDK_RES_PENDING);
    sdk_wk_results_push(&d, NULL);
    cr_assert_eq(sdk_wk_results_take(7, &h, &p), SDK_RES_READY);
    cr_assert_eq(h.scalar, 70);
    cr_assert_null(p);
    /* A second take gives it again; a duplicate push changes nothing. */
    d.scalar = 71;
    sdk_wk_results_push(&d, NULL);
    cr_assert_eq(sdk_wk_results_take(7, &h, &p), SDK_RES_READY);
    cr_assert_eq(h.scalar, 70);
    /* A payload is copied in and out. */
    sdk_wk_results_expect(8);
    const char msg[] = "a payload";
    sdk_msg_done b = {.task_id = 8, .type = RAY_T_STR, .len = sizeof(msg)};
    sdk_wk_results_push(&b, msg);
    cr_assert_eq(sdk_wk_results_take(8, &h, &p), SDK_RES_READY);
    cr_assert_str_eq(p, msg);
    rt_free(p);
    /* A push nobody expects is dropped. */
    sdk_msg_done u = value(9, 1);
    sdk_wk_results_push(&u, NULL);
    cr_assert_eq(sdk_wk_results_state(9, NULL), SDK_RES_UNKNOWN);
    sdk_wk_results_forget(7);
    sdk_wk_results_forget(8);
    cr_assert_eq(sdk_wk_results_state(7, NULL), SDK_RES_UNKNOWN);
    cr_assert_eq(sdk_wk_results_state(8, NULL), SDK_RES_UNKNOWN);
}

/* Random expects, pushes and forgets against a model array. */
Test(worker_results, random_against_a_model)
{
    enum { N = 20000, OPS = 400000 };
    uint8_t *model = calloc(N, 1); /* 0 unknown, 1 pending, 2 ready */
    cr_assert_not_null(model);
    uint64_t x = 88172645463325252ull;
    for (int op = 0; op < OPS; op++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Ids that share their low bits collide in the table. */
        uint32_t k = (uint32_t)(x % N);
        uint64_t id = ((uint64_t)k << 32) | 0x1000;
        switch ((x >> 40) % 4) {
        case 0:
            sdk_wk_results_expect(id);
            if (!model[k])
                model[k] = 1;
            break;
        case 1: {
            sdk_msg_done d = value(id, k);
            sdk_wk_results_push(&d, NULL);
            if (model[k] == 1)
                model[k] = 2;
            break;
        }
        case 2:
            sdk_wk_results_forget(id);
            model[k] = 0;
            break;
        default: {
            sdk_msg_done h;
            void *p = NULL;
            int st = sdk_wk_results_take(id, &h, &p);
            cr_assert_eq(st, model[k], "op %d id %u: %d, model %d", op, k, st,
                         model[k]);
            if (st == SDK_RES_READY)
                cr_assert_eq(h.scalar, k);
        }
        }
    }
    for (uint32_t k = 0; k < N; k++) {
        uint64_t id = ((uint64_t)k << 32) | 0x1000;
        cr_assert_eq(sdk_wk_results_state(id, NULL), model[k], "id %u", k);
        sdk_wk_results_forget(id);
    }
    free(model);
}

Test(worker_results, shrinks_back_after_a_burst)
{
    enum { N = 100000 };
    for (uint64_t k = 1; k <= N; k++)
        sdk_wk_results_expect(k << 20);
    size_t peak = sdk_wk_results_capacity();
    cr_assert_geq(peak, (size_t)N);
    for (uint64_t k = 1; k <= N - 10; k++)
        sdk_wk_results_forget(k << 20);
    cr_assert_leq(sdk_wk_results_capacity(), 1024, "%zu slots for 10",
                  sdk_wk_results_capacity());
    for (uint64_t k = N - 9; k <= N; k++) { /* the rest survived it */
        cr_assert_eq(sdk_wk_results_state(k << 20, NULL), SDK_RES_PENDING);
        sdk_wk_results_forget(k << 20);
    }
}

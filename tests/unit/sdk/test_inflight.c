/* SPDX-License-Identifier: Apache-2.0
 *
 * test_inflight.c: the driver's table of calls in flight on a node.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "sdk/inflight.h"

static fl_entry
entry(uint64_t id)
{
    return (fl_entry){.id = id, .len = (uint32_t)id, .retries = 3};
}

Test(inflight, what_goes_in_comes_out_once)
{
    fl_table t = {0};
    for (uint64_t id = 1; id <= 5000; id++)
        cr_assert(
            fl_put(&t, &(fl_entry){.id = id * 7919, .len = (uint32_t)id}));
    cr_assert_eq(t.n, 5000);
    fl_entry e;
    for (uint64_t id = 5000; id >= 1; id--) {
        cr_assert(fl_take(&t, id * 7919, &e), "id %llu",
                  (unsigned long long)id);
        cr_assert_eq(e.len, (uint32_t)id);
        cr_assert(!fl_take(&t, id * 7919, &e), "taken twice");
    }
    cr_assert_eq(t.n, 0);
    cr_assert(!fl_take(&t, 12345, &e));
    free(t.e);
}

/* A driver makes calls for as long as it runs: the table stays as big
 * as the calls in flight at once need, however many were made. */
Test(inflight, its_size_follows_the_calls_in_flight_not_all_ever_made)
{
    fl_table t = {0};
    fl_entry e;
    uint64_t next = 1;
    for (int burst = 0; burst < 3; burst++) { /* 20,000 in flight at once */
        for (int i = 0; i < 20000; i++) {
            fl_entry x = entry(next + (uint64_t)i);
            cr_assert(fl_put(&t, &x));
        }
        for (int i = 0; i < 20000; i++)
            cr_assert(fl_take(&t, next + (uint64_t)i, &e));
        next += 20000;
    }
    cr_assert_geq(t.cap, 4 * 20000 / 2, "room for the burst");
    for (int i = 0; i < 1000000; i++) { /* then 8 at a time, 1M calls */
        fl_entry x = entry(next);
        cr_assert(fl_put(&t, &x));
        if (i >= 8)
            cr_assert(fl_take(&t, next - 8, &e));
        next++;
    }
    cr_assert_leq(t.cap, 1024, "the table grew to %zu entries", t.cap);
    cr_assert_eq(t.n, 8);
    free(t.e);
}

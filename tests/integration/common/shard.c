/* SPDX-License-Identifier: Apache-2.0
 *
 * shard.c: Bazel's test sharding for a Criterion binary. With
 * shard_count = N on its target (ray_c_test adds this library), Bazel
 * runs the binary N times with TEST_SHARD_INDEX 0..N-1; each run keeps
 * the tests whose place in Criterion's order is its index modulo N and
 * disables the others (Criterion leaves them out of its Synthesis line,
 * so scripts/test's sums count each test once). Linked whole: Criterion
 * finds the hook in a section nothing references.
 */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    const char *index = getenv("TEST_SHARD_INDEX");
    const char *total = getenv("TEST_TOTAL_SHARDS");
    const char *status = getenv("TEST_SHARD_STATUS_FILE");
    if (!index || !total || atoi(total) < 2)
        return;
    if (status) { /* tells Bazel this binary shards */
        FILE *f = fopen(status, "w");
        if (f)
            fclose(f);
    }
    int mine = atoi(index), shards = atoi(total), k = 0;
    FOREACH_SET(struct criterion_suite_set * s, set->suites)
    {
        FOREACH_SET(struct criterion_test * t, s->tests)
        {
            if (k++ % shards != mine)
                t->data->disabled = true;
        }
    }
}

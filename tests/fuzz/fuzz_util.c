/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_util.c: helpers shared by the harnesses.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"

void
rt_fuzz_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, expr);
    abort();
}

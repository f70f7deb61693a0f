/* SPDX-License-Identifier: Apache-2.0
 *
 * The public header repeats the ray_err enum (made in runtime/status.h
 * from the list in runtime/errors.h) so that it stays self-contained.
 * This test compiles each header in its own translation unit, the list
 * beside each, and checks that every name has the same number on both
 * sides, and that the SDK's messages are the runtime's.
 */
#include <criterion/criterion.h>

#include "runtime/status.h"
#include "tests/unit/sdk/err_agree/names.h"

extern const int err_public_values[];
static const int err_runtime_values[] = ERR_VALUES;
static const char *const err_names[] = ERR_NAMES;

/* ray_strerror from libray, declared here without including ray.h (its
 * enum would collide with status.h's in this translation unit). */
const char *ray_strerror(ray_err e);

TestSuite(err_agree, .timeout = 10);

Test(err_agree, public_and_runtime_enums_match)
{
    size_t n = sizeof err_runtime_values / sizeof err_runtime_values[0];
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(err_public_values[i], err_runtime_values[i],
                     "%s: ray.h says %d, status.h says %d", err_names[i],
                     err_public_values[i], err_runtime_values[i]);
}

Test(err_agree, sdk_messages_are_the_runtime_messages)
{
    for (int e = 0; e < RT_ERR_NCLASSES; e++)
        cr_expect_str_eq(ray_strerror((ray_err)e), rt_strerror((ray_err)e),
                         "class %d", e);
}

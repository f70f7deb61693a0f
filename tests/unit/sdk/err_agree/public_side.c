/* SPDX-License-Identifier: Apache-2.0
 * The ray_err values as the public header sdk/include/ray/ray.h sees them. */
#include <ray/ray.h>

#include "tests/unit/sdk/err_agree/names.h"

extern const int err_public_values[];
const int err_public_values[] = ERR_VALUES;

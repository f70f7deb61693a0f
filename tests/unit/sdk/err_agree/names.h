/* SPDX-License-Identifier: Apache-2.0
 * Every ray_err class, from the one list (runtime/errors.h, which defines
 * no enum: public_side.c includes it beside ray.h), for test_err_agree:
 * initializers of their values (as the including file's enum says) and
 * of their names. */
#include "runtime/errors.h"

#define ERR_VALUE_OF(name, value, msg, meaning) (int)(name),
#define ERR_VALUES                                                             \
    {                                                                          \
        RT_ERRORS(ERR_VALUE_OF)(int)(RAY_ESYSERR)                              \
    }
#define ERR_NAME_OF(name, value, msg, meaning) #name,
#define ERR_NAMES                                                              \
    {                                                                          \
        RT_ERRORS(ERR_NAME_OF) "RAY_ESYSERR"                                   \
    }

/* SPDX-License-Identifier: Apache-2.0
 *
 * status.c: names and messages for ray_err, and errno mapping.
 */
#include "runtime/status.h"

#include <errno.h>
#include <string.h>

/* From the one list (runtime/errors.h): entries by class number. */
#define RT_ERR_ROW(name, value, msg, meaning) [value] = {#name, msg},
static const struct {
    const char *name;
    const char *msg;
} table[RT_ERR_NCLASSES] = {RT_ERRORS(RT_ERR_ROW)};
#undef RT_ERR_ROW

_Static_assert(sizeof(table) / sizeof(table[0]) == RT_ERR_NCLASSES,
               "every class has a row, numbered 0 to RT_ERR_NCLASSES - 1");

ray_err
rt_err_from_errno(int err)
{
    switch (err) {
    case 0:
        return RAY_OK;
    case ENOMEM:
        return RAY_ENOMEM;
    case ETIMEDOUT:
        return RAY_ETIMEDOUT;
    case EPIPE:
    case ECONNRESET:
        return RAY_ECLOSED;
    case EAGAIN:
        return RAY_EAGAIN;
    case EINVAL:
        return RAY_EINVAL;
    case ENOENT:
        return RAY_ENOTFOUND;
    case EEXIST:
        return RAY_EEXISTS;
    case EMSGSIZE:
        return RAY_ETOOBIG;
    default:
        return (ray_err)(RAY_ESYSERR | (err << 8));
    }
}

const char *
rt_strerror(ray_err e)
{
    if ((int)e & RAY_ESYSERR)
        return strerror(rt_err_errno(e));
    if ((unsigned)e < RT_ERR_NCLASSES && table[e].msg)
        return table[e].msg;
    return "unknown error";
}

const char *
rt_err_name(ray_err e)
{
    if ((int)e & RAY_ESYSERR)
        return "RAY_ESYSERR";
    if ((unsigned)e < RT_ERR_NCLASSES && table[e].name)
        return table[e].name;
    return "RAY_EUNKNOWN";
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * status.c: names and messages for ray_err, and errno mapping.
 */
#include "runtime/status.h"

#include <errno.h>
#include <string.h>

static const struct {
    const char *name;
    const char *msg;
} table[RT_ERR_NCLASSES] = {
    [RAY_OK] = {"RAY_OK", "success"},
    [RAY_EINVAL] = {"RAY_EINVAL", "invalid argument"},
    [RAY_ENOMEM] = {"RAY_ENOMEM", "out of memory"},
    [RAY_ETIMEDOUT] = {"RAY_ETIMEDOUT", "timed out"},
    [RAY_ECLOSED] = {"RAY_ECLOSED", "connection closed"},
    [RAY_ENOTFOUND] = {"RAY_ENOTFOUND", "not found"},
    [RAY_EEXISTS] = {"RAY_EEXISTS", "already exists"},
    [RAY_EBUSY] = {"RAY_EBUSY", "resource busy"},
    [RAY_ESTORE_FULL] = {"RAY_ESTORE_FULL", "object store full"},
    [RAY_EOBJECT_LOST] = {"RAY_EOBJECT_LOST", "object lost"},
    [RAY_ETASK_FAILED] = {"RAY_ETASK_FAILED", "task failed"},
    [RAY_EACTOR_DIED] = {"RAY_EACTOR_DIED", "actor died"},
    [RAY_EWORKER_DIED] = {"RAY_EWORKER_DIED", "worker died"},
    [RAY_EPROTO] = {"RAY_EPROTO", "protocol error"},
    [RAY_EINTERNAL] = {"RAY_EINTERNAL", "internal error"},
    [RAY_ECANCELLED] = {"RAY_ECANCELLED", "task cancelled"},
    [RAY_ETOOBIG] = {"RAY_ETOOBIG", "too large"},
    [RAY_EAGAIN] = {"RAY_EAGAIN", "try again"},
};

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

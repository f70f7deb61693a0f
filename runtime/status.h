/* SPDX-License-Identifier: Apache-2.0
 *
 * status.h: the one error type every layer of rayc returns.
 *
 * `ray_err` is shared by the runtime, the daemons and the SDK. The classes
 * are listed once, in runtime/errors.h; this header makes the enum from
 * that list. Their numbers never change meaning: they travel on the wire
 * (protocol Status.code maps 1:1) and appear in the public header
 * sdk/include/ray/ray.h, which repeats the enum under the same
 * RAY_ERR_DEFINED guard so that it stays a single self-contained file
 * (//tests/unit/sdk:test_err_agree checks that they agree).
 *
 * A value may carry an errno in its high bits: RAY_ESYSERR | (errno << 8).
 * Use rt_err_from_errno() at the system-call site; callers never read errno.
 */
#ifndef RAY_RUNTIME_STATUS_H
#define RAY_RUNTIME_STATUS_H

#include <stdbool.h>

#include "runtime/errors.h"

#ifndef RAY_ERR_DEFINED
#define RAY_ERR_DEFINED
#define RT_ERR_ENUM(name, value, msg, meaning) name = value,
typedef enum ray_err {
    RT_ERRORS(RT_ERR_ENUM) RAY_ESYSERR =
        RT_ERR_SYSERR_FLAG, /* flag: errno in bits 8.. */
} ray_err;
#undef RT_ERR_ENUM
#endif

/* Number of distinct classes (highest class value + 1, not counting flags). */
#define RT_ERR_COUNT(name, value, msg, meaning) +1
#define RT_ERR_NCLASSES (0 RT_ERRORS(RT_ERR_COUNT))

/* The class of `e`, with any errno stripped (RAY_ESYSERR stays set). */
static inline ray_err
rt_err_class(ray_err e)
{
    return (ray_err)((int)e & 0xff);
}

/* The errno carried by `e`, or 0. */
static inline int
rt_err_errno(ray_err e)
{
    return ((int)e & RAY_ESYSERR) ? ((int)e >> 8) : 0;
}

/* Map an errno value to a ray_err: ENOMEM->RAY_ENOMEM,
 * ETIMEDOUT->RAY_ETIMEDOUT, EPIPE/ECONNRESET->RAY_ECLOSED, EAGAIN->RAY_EAGAIN,
 * others RAY_ESYSERR|errno. */
ray_err rt_err_from_errno(int err);

/* A static, human-readable name for `e` ("object store full", ...).
 * Never NULL; unknown values read "unknown error". */
const char *rt_strerror(ray_err e);

/* A short stable identifier ("RAY_ESTORE_FULL"). Never NULL. */
const char *rt_err_name(ray_err e);

#endif /* RAY_RUNTIME_STATUS_H */

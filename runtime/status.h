/* SPDX-License-Identifier: Apache-2.0
 *
 * status.h: the one error type every layer of rayc returns.
 *
 * `ray_err` is shared by the runtime, the daemons and the SDK. Its numbers
 * never change meaning: they travel on the wire (protocol Status.code maps
 * 1:1) and appear in the public header sdk/include/ray/ray.h, which repeats
 * this enum under the same RAY_ERR_DEFINED guard so that it stays a single
 * self-contained file (tests/unit/runtime/test_status.c checks they agree).
 *
 * A value may carry an errno in its high bits: RAY_ESYSERR | (errno << 8).
 * Use rt_err_from_errno() at the system-call site; callers never read errno.
 */
#ifndef RAY_RUNTIME_STATUS_H
#define RAY_RUNTIME_STATUS_H

#include <stdbool.h>

#ifndef RAY_ERR_DEFINED
#define RAY_ERR_DEFINED
typedef enum ray_err {
    RAY_OK = 0,
    RAY_EINVAL = 1,        /* bad argument or malformed input */
    RAY_ENOMEM = 2,        /* out of memory */
    RAY_ETIMEDOUT = 3,     /* deadline passed */
    RAY_ECLOSED = 4,       /* connection or runtime closed */
    RAY_ENOTFOUND = 5,     /* no such object, function, actor or node */
    RAY_EEXISTS = 6,       /* already exists (name taken, sealed twice) */
    RAY_EBUSY = 7,         /* resource in use (pinned object, busy slot) */
    RAY_ESTORE_FULL = 8,   /* object store cannot fit the object */
    RAY_EOBJECT_LOST = 9,  /* object lost and could not be rebuilt */
    RAY_ETASK_FAILED = 10, /* the task's own code reported an error */
    RAY_EACTOR_DIED = 11,  /* the actor is dead */
    RAY_EWORKER_DIED = 12, /* the worker process died running the task */
    RAY_EPROTO = 13,       /* protocol violation by a peer */
    RAY_EINTERNAL = 14,    /* broken invariant inside rayc */
    RAY_ECANCELLED = 15,   /* the task was cancelled */
    RAY_ETOOBIG = 16,      /* message or object larger than the limit */
    RAY_EAGAIN = 17,       /* would block; try again later */
    RAY_ESYSERR = 0x80,    /* flag: errno in bits 8..; see ray_err_errno */
} ray_err;
#endif

/* Number of distinct classes (highest class value + 1, not counting flags). */
#define RT_ERR_NCLASSES 18

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

/* Map an errno value to a ray_err: ENOMEM->RAY_ENOMEM, ETIMEDOUT->RAY_ETIMEDOUT,
 * EPIPE/ECONNRESET->RAY_ECLOSED, EAGAIN->RAY_EAGAIN, others RAY_ESYSERR|errno. */
ray_err rt_err_from_errno(int err);

/* A static, human-readable name for `e` ("object store full", ...).
 * Never NULL; unknown values read "unknown error". */
const char *rt_strerror(ray_err e);

/* A short stable identifier ("RAY_ESTORE_FULL"). Never NULL. */
const char *rt_err_name(ray_err e);

#endif /* RAY_RUNTIME_STATUS_H */

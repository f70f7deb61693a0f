/* SPDX-License-Identifier: Apache-2.0
 *
 * errors.h: the list of ray_err classes, written once. Each entry is
 *   X(name, value, message, meaning)
 * where `message` is what ray_strerror says and `meaning` what the
 * class stands for. runtime/status.h makes the enum from it and
 * runtime/status.c the names and messages; the public header
 * sdk/include/ray/ray.h keeps its own copy of the enum (it includes only
 * the C library), and //tests/unit/sdk:test_err_agree checks that copy
 * against this list, name for name. Numbers never change meaning: they
 * travel on the wire (protocol Status.code maps 1:1). Add new classes at
 * the end, before the RAY_ESYSERR flag.
 */
#ifndef RAY_RUNTIME_ERRORS_H
#define RAY_RUNTIME_ERRORS_H

#define RT_ERRORS(X)                                                           \
    X(RAY_OK, 0, "success", "no error")                                        \
    X(RAY_EINVAL, 1, "invalid argument", "bad argument or malformed input")    \
    X(RAY_ENOMEM, 2, "out of memory", "out of memory")                         \
    X(RAY_ETIMEDOUT, 3, "timed out", "deadline passed")                        \
    X(RAY_ECLOSED, 4, "connection closed", "connection or runtime closed")     \
    X(RAY_ENOTFOUND, 5, "not found",                                           \
      "no such object, function, actor or node")                               \
    X(RAY_EEXISTS, 6, "already exists",                                        \
      "already exists (name taken, "                                           \
      "sealed twice)")                                                         \
    X(RAY_EBUSY, 7, "resource busy",                                           \
      "resource in use (pinned object, busy "                                  \
      "slot)")                                                                 \
    X(RAY_ESTORE_FULL, 8, "object store full",                                 \
      "object store cannot fit the object")                                    \
    X(RAY_EOBJECT_LOST, 9, "object lost",                                      \
      "object lost and could not be rebuilt")                                  \
    X(RAY_ETASK_FAILED, 10, "task failed",                                     \
      "the task's own code reported an error")                                 \
    X(RAY_EACTOR_DIED, 11, "actor died", "the actor is dead")                  \
    X(RAY_EWORKER_DIED, 12, "worker died",                                     \
      "the worker process died running the task")                              \
    X(RAY_EPROTO, 13, "protocol error", "protocol violation by a peer")        \
    X(RAY_EINTERNAL, 14, "internal error", "broken invariant inside rayc")     \
    X(RAY_ECANCELLED, 15, "task cancelled", "the task was cancelled")          \
    X(RAY_ETOOBIG, 16, "too large",                                            \
      "message or object larger than the "                                     \
      "limit")                                                                 \
    X(RAY_EAGAIN, 17, "try again", "would block; try again later")

/* The flag of a value carrying an errno in bits 8..: RAY_ESYSERR. */
#define RT_ERR_SYSERR_FLAG 0x80

#endif /* RAY_RUNTIME_ERRORS_H */

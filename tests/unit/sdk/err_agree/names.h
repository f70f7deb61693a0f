/* SPDX-License-Identifier: Apache-2.0
 * Every ray_err class, as an X-macro list, for test_err_agree. */
#define ERR_NAMES(X)                                                         \
    X(RAY_OK) X(RAY_EINVAL) X(RAY_ENOMEM) X(RAY_ETIMEDOUT) X(RAY_ECLOSED)     \
    X(RAY_ENOTFOUND) X(RAY_EEXISTS) X(RAY_EBUSY) X(RAY_ESTORE_FULL)          \
    X(RAY_EOBJECT_LOST) X(RAY_ETASK_FAILED) X(RAY_EACTOR_DIED)               \
    X(RAY_EWORKER_DIED) X(RAY_EPROTO) X(RAY_EINTERNAL) X(RAY_ECANCELLED)     \
    X(RAY_ETOOBIG) X(RAY_EAGAIN) X(RAY_ESYSERR)
#define ERR_VALUE(n) (int)(n),

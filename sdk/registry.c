/* SPDX-License-Identifier: Apache-2.0
 *
 * registry.c: remote-function registry, error details and small API bits.
 *
 * RAY_REMOTE's constructors (priority 101) call ray_register before main()
 * and before the worker entry runs, from one thread, so the table needs no
 * lock; afterwards it is read-only. Functions are found by the FNV-1a hash
 * of their name, which is what travels on the wire: the driver and its
 * workers are the same executable, so they agree on every name.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/log.h"
#include "sdk/sdk_int.h"

#define REG_CAP 1024u /* open-addressing table size (power of two) */

static ray_fn_desc *reg_table[REG_CAP];
static size_t reg_count;

static _Thread_local char err_detail[512];
static _Thread_local char task_err_msg[512];
static _Thread_local ray_err task_err;

uint64_t
sdk_name_hash(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

void
ray_register(ray_fn_desc *desc)
{
    if (!desc || !desc->name || reg_count + 1 >= REG_CAP / 2)
        return;
    desc->hash = sdk_name_hash(desc->name);
    size_t i = desc->hash & (REG_CAP - 1);
    while (reg_table[i]) {
        if (reg_table[i]->hash == desc->hash)
            return; /* first registration wins */
        i = (i + 1) & (REG_CAP - 1);
    }
    reg_table[i] = desc;
    reg_count++;
}

const ray_fn_desc *
sdk_registry_find(uint64_t hash)
{
    size_t i = hash & (REG_CAP - 1);
    while (reg_table[i]) {
        if (reg_table[i]->hash == hash)
            return reg_table[i];
        i = (i + 1) & (REG_CAP - 1);
    }
    return NULL;
}

ray_err
sdk_fail(ray_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_detail, sizeof(err_detail), fmt, ap);
    va_end(ap);
    return err;
}

void
sdk_clear_error(void)
{
    err_detail[0] = '\0';
}

const char *
ray_last_error_detail(void)
{
    return err_detail;
}

const char *
ray_strerror(ray_err e)
{
    return rt_strerror(e);
}

int
ray_version(void)
{
    return RAY_VERSION_NUMBER;
}

void
ray_free(void *p)
{
    rt_free(p);
}

static ray_log_cb user_log_cb;
static void *user_log_arg;

static void
log_forward(void *arg, rt_log_level level, const char *line)
{
    (void)arg;
    ray_log_cb cb = user_log_cb;
    if (cb)
        cb(user_log_arg, (int)level, line);
}

void
ray_set_log_cb(ray_log_cb cb, void *arg)
{
    user_log_arg = arg;
    user_log_cb = cb;
    rt_log_set_sink(cb ? log_forward : NULL, NULL);
}

static void
task_fail_v(ray_err err, const char *fmt, va_list ap)
{
    task_err = err == RAY_OK ? RAY_ETASK_FAILED : err;
    if (fmt)
        vsnprintf(task_err_msg, sizeof(task_err_msg), fmt, ap);
    else
        snprintf(task_err_msg, sizeof(task_err_msg), "%s",
                 ray_strerror(task_err));
}

void
ray_task_fail(ray_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    task_fail_v(err, fmt, ap);
    va_end(ap);
}

void
ray_task_fail_default(ray_err err, const char *fmt, ...)
{
    if (task_err != RAY_OK)
        return; /* the function said why itself: keep its words */
    va_list ap;
    va_start(ap, fmt);
    task_fail_v(err, fmt, ap);
    va_end(ap);
}

ray_err
sdk_task_error_take(const char **msg)
{
    ray_err e = task_err;
    task_err = RAY_OK;
    *msg = task_err_msg;
    return e;
}

bool
ray_in_worker(void)
{
    return sdk_in_worker;
}

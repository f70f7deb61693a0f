/* SPDX-License-Identifier: Apache-2.0
 *
 * log.c: formatting and delivery of log lines.
 *
 * Each line is formatted into a stack buffer and written with one write(2),
 * so lines from several threads or processes sharing a terminal never
 * interleave mid-line. The sink callback, when set, gets the same text.
 */
#include "runtime/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"

_Atomic int rt_log_threshold = RT_LOG_INFO;

static const char *_Atomic component = "rayc";
static _Atomic int log_fd = 2;
static rt_log_sink_cb _Atomic sink_cb;
static void *_Atomic sink_arg;

static const char *const level_names[] = {"DEBUG", "INFO",  "WARN",
                                          "ERROR", "FATAL", "OFF"};

void
rt_log_set_level(rt_log_level level)
{
    atomic_store(&rt_log_threshold, (int)level);
}

int
rt_log_level_parse(const char *name)
{
    for (int i = 0; i <= RT_LOG_OFF; i++)
        if (name && strcasecmp(name, level_names[i]) == 0)
            return i;
    if (name && strcasecmp(name, "warning") == 0)
        return RT_LOG_WARN;
    return RT_LOG_OFF + 1;
}

void
rt_log_set_component(const char *tag)
{
    atomic_store(&component, tag);
}

void
rt_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

void
rt_log_set_sink(rt_log_sink_cb cb, void *arg)
{
    atomic_store(&sink_arg, arg);
    atomic_store(&sink_cb, cb);
}

static const char *
basename_of(const char *path)
{
    /* Keep the last two path components: "scheduler/raylet.c". */
    const char *last = strrchr(path, '/');
    if (!last)
        return path;
    const char *p = last;
    while (p > path && p[-1] != '/')
        p--;
    return p;
}

void
rt_log_write(rt_log_level level, const char *file, int line, const char *fmt,
             ...)
{
    char buf[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int lv = (int)level < 0 || level > RT_LOG_FATAL ? RT_LOG_FATAL : level;
    int n = snprintf(buf, sizeof buf,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s %d] %s:%d ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     level_names[lv], atomic_load(&component), (int)getpid(),
                     basename_of(file), line);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[len] = '\0';

    rt_log_sink_cb cb = atomic_load(&sink_cb);
    if (cb)
        cb(atomic_load(&sink_arg), level, buf);
    int fd = atomic_load(&log_fd);
    if (fd >= 0) {
        buf[len] = '\n';
        ssize_t w = write(fd, buf, len + 1);
        (void)w;
    }
}

int
rt_log_ratelimit_pass(_Atomic int64_t *next_ns, _Atomic int64_t *dropped)
{
    int64_t now = rt_clock_now_ns();
    int64_t next = atomic_load_explicit(next_ns, memory_order_relaxed);
    if (now >= next &&
        atomic_compare_exchange_strong(next_ns, &next, now + 1000000000LL)) {
        int64_t d = atomic_exchange(dropped, 0);
        if (d > 0)
            RT_LOG(RT_LOG_WARN, "(%lld similar lines suppressed)",
                   (long long)d);
        return 1;
    }
    atomic_fetch_add_explicit(dropped, 1, memory_order_relaxed);
    return 0;
}

void
rt_check_failed(const char *file, int line, const char *expr)
{
    rt_log_write(RT_LOG_FATAL, file, line, "check failed: %s", expr);
    abort();
}

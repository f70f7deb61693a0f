/* SPDX-License-Identifier: Apache-2.0
 *
 * log.h: leveled logging with component tags.
 *
 * RT_LOG checks the level before evaluating its arguments. Each line reads
 *   2026-11-24T05:48:31.123Z WARN  [raylet 1234] scheduler/raylet.c:88 text
 * Daemons log to stderr or a file (rt_log_set_fd). Library code (the SDK) is
 * silent unless the user installs a sink (rt_log_set_sink), which
 * ray_set_log_cb forwards to. Thread-safe: one write(2) per line.
 *
 * Hot paths log at DEBUG or through RT_LOG_RATELIMITED.
 */
#ifndef RAY_RUNTIME_LOG_H
#define RAY_RUNTIME_LOG_H

#include <stdatomic.h>
#include <stdint.h>

typedef enum rt_log_level {
    RT_LOG_DEBUG = 0,
    RT_LOG_INFO = 1,
    RT_LOG_WARN = 2,
    RT_LOG_ERROR = 3,
    RT_LOG_FATAL = 4,
    RT_LOG_OFF = 5,
} rt_log_level;

/* A sink receives each formatted line (no trailing newline).
 * `level` is the line's level; `line` is valid only during the call.
 * Called on the logging thread with no rayc lock held. */
typedef void (*rt_log_sink_cb)(void *arg, rt_log_level level, const char *line);

/* Current threshold; lines below it are dropped unevaluated. atomic. */
extern _Atomic int rt_log_threshold;

/* Set the threshold. */
void rt_log_set_level(rt_log_level level);

/* Parse "debug", "info", "warn", "error", "fatal", "off" (any case).
 * Returns RT_LOG_OFF+1 for an unknown name. */
int rt_log_level_parse(const char *name);

/* Set the component tag for this process ("raylet", "gcs", "worker",
 * "driver"). The string must outlive the process (a literal). */
void rt_log_set_component(const char *tag);

/* Send lines to `fd` (default 2). -1 silences the fd sink. */
void rt_log_set_fd(int fd);

/* Install a callback sink (NULL removes it). */
void rt_log_set_sink(rt_log_sink_cb cb, void *arg);

/* Format and emit one line. Use RT_LOG instead. */
void rt_log_write(rt_log_level level, const char *file, int line,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define RT_LOG(level, ...)                                                     \
    do {                                                                       \
        if ((int)(level) >=                                                    \
            atomic_load_explicit(&rt_log_threshold, memory_order_relaxed))     \
            rt_log_write((level), __FILE__, __LINE__, __VA_ARGS__);            \
    } while (0)

#define RT_DEBUG(...) RT_LOG(RT_LOG_DEBUG, __VA_ARGS__)
#define RT_INFO(...) RT_LOG(RT_LOG_INFO, __VA_ARGS__)
#define RT_WARN(...) RT_LOG(RT_LOG_WARN, __VA_ARGS__)
#define RT_ERROR(...) RT_LOG(RT_LOG_ERROR, __VA_ARGS__)

/* Logs at most once per second per call site; drops are counted and
 * reported with the next line that passes. */
#define RT_LOG_RATELIMITED(level, ...)                                         \
    do {                                                                       \
        static _Atomic int64_t rl_next_;                                       \
        static _Atomic int64_t rl_dropped_;                                    \
        if (rt_log_ratelimit_pass(&rl_next_, &rl_dropped_))                    \
            RT_LOG(level, __VA_ARGS__);                                        \
    } while (0)

/* True if a rate-limited site may log now. Internal to the macro. */
int rt_log_ratelimit_pass(_Atomic int64_t *next_ns, _Atomic int64_t *dropped);

/* Always-on invariant check: logs file:line and the expression at FATAL,
 * then aborts. For daemons' broken invariants, never for bad user input. */
#define RT_CHECK(x)                                                            \
    do {                                                                       \
        if (__builtin_expect(!(x), 0))                                         \
            rt_check_failed(__FILE__, __LINE__, #x);                           \
    } while (0)

/* Debug-only assertion. Like assert(3) it follows NDEBUG: it checks (as
 * RT_CHECK) unless NDEBUG is defined, which Bazel's -c opt does (the
 * default build here), and -c dbg does not (--config=debug, asan, tsan).
 * Compiled out, `x` is not evaluated but still compiled, so a variable
 * read only by assertions stays used. */
#ifdef NDEBUG
#define RT_ASSERT(x) ((void)sizeof(!(x)))
#else
#define RT_ASSERT(x) RT_CHECK(x)
#endif

/* Wrap "cannot happen" branches: if (RT_NEVER(p == NULL)) return ...; */
#define RT_ALWAYS(x) (__builtin_expect(!!(x), 1))
#define RT_NEVER(x) (__builtin_expect(!!(x), 0))

_Noreturn void rt_check_failed(const char *file, int line, const char *expr);

#endif /* RAY_RUNTIME_LOG_H */

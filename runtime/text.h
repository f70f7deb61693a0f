/* SPDX-License-Identifier: Apache-2.0
 *
 * text.h: a growing text buffer for what is printed piece by piece
 * (metrics, HTTP bodies).
 *
 *   rt_text t = {0};
 *   rt_text_put(&t, "%s %d\n", name, v);
 *   if (t.oom) ...;           out of memory at some point: t.p is partial
 *   use(t.p, t.n); rt_free(t.p);
 */
#ifndef RAY_RUNTIME_TEXT_H
#define RAY_RUNTIME_TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rt_text {
    char *p; /* NUL-terminated once anything was put; rt_malloc'd */
    size_t n, cap;
    bool oom; /* a put failed for memory: later ones do nothing */
} rt_text;

/* Append printf-formatted text. */
void rt_text_put(rt_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append n bytes of s. */
void rt_text_putn(rt_text *t, const char *s, size_t n);

#endif /* RAY_RUNTIME_TEXT_H */

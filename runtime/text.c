/* SPDX-License-Identifier: Apache-2.0
 *
 * text.c: a growing text buffer (text.h).
 */
#include "runtime/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"

static bool
room(rt_text *t, size_t more)
{
    if (t->oom)
        return false;
    if (t->n + more < t->cap)
        return true;
    size_t cap = 2 * t->cap + more + 64;
    char *np = rt_realloc(t->p, cap);
    if (!np) {
        t->oom = true;
        return false;
    }
    t->p = np;
    t->cap = cap;
    return true;
}

void
rt_text_put(rt_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || !room(t, (size_t)k + 1)) {
        t->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)k;
}

void
rt_text_putn(rt_text *t, const char *s, size_t n)
{
    if (!room(t, n + 1))
        return;
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = 0;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * resources.c: resource sets, demand parsing, acquire and release.
 */
#include "scheduler/resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sched_res_init(sched_resources *r)
{
    memset(r, 0, sizeof(*r));
}

static int
find(const sched_resources *r, const char *name, size_t len)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (strlen(r->name[i]) == len && memcmp(r->name[i], name, len) == 0)
            return (int)i;
    return -1;
}

ray_err
sched_res_add(sched_resources *r, const char *name, int64_t milli)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len >= SCHED_RES_NAME || milli < 0)
        return RAY_EINVAL;
    int i = find(r, name, len);
    if (i < 0) {
        if (r->n == SCHED_RES_MAX)
            return RAY_ENOMEM;
        i = (int)r->n++;
        memcpy(r->name[i], name, len + 1);
    }
    r->total[i] += milli;
    r->avail[i] += milli;
    return RAY_OK;
}

/* Next "name:amount" item of a spec; advances *p. */
static ray_err
next_item(const char **p, const char **name, size_t *len, int64_t *milli)
{
    const char *s = *p;
    while (*s == ' ' || *s == ',')
        s++;
    const char *colon = strchr(s, ':');
    if (!*s || !colon || colon == s)
        return RAY_EINVAL;
    char *end;
    double v = strtod(colon + 1, &end);
    if (end == colon + 1 || v < 0 || v > 1e12 ||
        (*end && *end != ',' && *end != ' '))
        return RAY_EINVAL;
    *name = s;
    *len = (size_t)(colon - s);
    *milli = (int64_t)(v * 1000.0 + 0.5);
    *p = end;
    return RAY_OK;
}

static bool
at_end(const char *p)
{
    while (*p == ' ' || *p == ',')
        p++;
    return *p == '\0';
}

ray_err
sched_res_add_spec(sched_resources *r, const char *spec)
{
    const char *p = spec ? spec : "";
    while (!at_end(p)) {
        const char *name;
        size_t len;
        int64_t milli;
        if (next_item(&p, &name, &len, &milli) != RAY_OK ||
            len >= SCHED_RES_NAME)
            return RAY_EINVAL;
        char buf[SCHED_RES_NAME];
        memcpy(buf, name, len);
        buf[len] = '\0';
        ray_err e = sched_res_add(r, buf, milli);
        if (e != RAY_OK)
            return e;
    }
    return RAY_OK;
}

ray_err
sched_res_parse_demand(const sched_resources *r, const char *spec,
                       sched_demand *d, char *detail, size_t n)
{
    memset(d, 0, sizeof(*d));
    const char *p = spec ? spec : "";
    while (!at_end(p)) {
        const char *name;
        size_t len;
        int64_t milli;
        if (next_item(&p, &name, &len, &milli) != RAY_OK ||
            d->n == SCHED_DEMAND_MAX) {
            if (detail)
                snprintf(detail, n, "malformed resource spec '%s'", spec);
            return RAY_EINVAL;
        }
        int i = find(r, name, len);
        if (i < 0 || r->total[i] < milli) {
            if (detail)
                snprintf(detail, n, "needs %.3f %.*s, the node has %.3f",
                         milli / 1000.0, (int)len, name,
                         i < 0 ? 0.0 : r->total[i] / 1000.0);
            return RAY_ENOTFOUND;
        }
        if (milli == 0)
            continue;
        d->idx[d->n] = (uint8_t)i;
        d->milli[d->n] = milli;
        d->n++;
    }
    return RAY_OK;
}

bool
sched_res_try_acquire(sched_resources *r, const sched_demand *d)
{
    for (uint32_t k = 0; k < d->n; k++)
        if (r->avail[d->idx[k]] < d->milli[k])
            return false;
    for (uint32_t k = 0; k < d->n; k++)
        r->avail[d->idx[k]] -= d->milli[k];
    return true;
}

void
sched_res_pool(sched_resources *pool, const sched_demand *d)
{
    sched_res_init(pool);
    for (uint32_t k = 0; k < d->n; k++) {
        uint8_t i = d->idx[k];
        pool->total[i] = pool->avail[i] = d->milli[k];
        if (pool->n <= i)
            pool->n = (uint32_t)i + 1;
    }
}

void
sched_res_release(sched_resources *r, const sched_demand *d)
{
    for (uint32_t k = 0; k < d->n; k++) {
        r->avail[d->idx[k]] += d->milli[k];
        if (r->avail[d->idx[k]] > r->total[d->idx[k]])
            r->avail[d->idx[k]] = r->total[d->idx[k]];
    }
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * deps.c: object id -> waiting tasks, a chained hash table whose links
 * come from a free list (reused; freed at fini). The table doubles when
 * it holds more links than buckets.
 */
#include "scheduler/deps.h"

#include "runtime/alloc.h"

struct sched_dep_link {
    sched_dep_link *next;
    uint64_t obj;
    sched_dep_task *task;
};

static size_t
hash(uint64_t k, size_t nb)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & (nb - 1);
}

void
sched_deps_init(sched_deps *d, const sched_deps_ops *ops, void *ctx)
{
    *d = (sched_deps){.ops = ops, .ctx = ctx};
}

static void
free_chain(sched_dep_link *l)
{
    while (l) {
        sched_dep_link *n = l->next;
        rt_free(l);
        l = n;
    }
}

void
sched_deps_fini(sched_deps *d)
{
    for (size_t i = 0; i < d->nbuckets; i++)
        free_chain(d->buckets[i]);
    free_chain(d->free_links);
    rt_free(d->buckets);
    *d = (sched_deps){0};
}

void
sched_dep_task_init(sched_dep_task *t)
{
    t->ndeps = 0;
    t->err = RAY_OK;
}

static ray_err
grow(sched_deps *d)
{
    size_t nb = d->nbuckets ? d->nbuckets * 2 : 64;
    sched_dep_link **b = rt_calloc(nb, sizeof(*b));
    if (!b)
        return RAY_ENOMEM;
    for (size_t i = 0; i < d->nbuckets; i++) {
        sched_dep_link *l = d->buckets[i];
        while (l) {
            sched_dep_link *n = l->next;
            size_t h = hash(l->obj, nb);
            l->next = b[h];
            b[h] = l;
            l = n;
        }
    }
    rt_free(d->buckets);
    d->buckets = b;
    d->nbuckets = nb;
    return RAY_OK;
}

ray_err
sched_deps_add(sched_deps *d, sched_dep_task *t, uint64_t obj)
{
    if (d->nlinks >= d->nbuckets && grow(d) != RAY_OK && !d->nbuckets)
        return RAY_ENOMEM; /* a failed grow keeps the old table */
    sched_dep_link *l = d->free_links;
    if (l)
        d->free_links = l->next;
    else if (!(l = rt_malloc(sizeof(*l))))
        return RAY_ENOMEM;
    size_t h = hash(obj, d->nbuckets);
    l->obj = obj;
    l->task = t;
    l->next = d->buckets[h];
    d->buckets[h] = l;
    d->nlinks++;
    t->ndeps++;
    return RAY_OK;
}

static void
put_link(sched_deps *d, sched_dep_link *l)
{
    l->next = d->free_links;
    d->free_links = l;
    d->nlinks--;
}

void
sched_deps_object_done(sched_deps *d, uint64_t obj, ray_err err)
{
    if (!d->nbuckets)
        return;
    sched_dep_link **pp = &d->buckets[hash(obj, d->nbuckets)];
    /* Detach this object's links first: deps_ready may add new waits. */
    sched_dep_link *mine = NULL, **tail = &mine;
    while (*pp) {
        sched_dep_link *l = *pp;
        if (l->obj == obj) {
            *pp = l->next;
            l->next = NULL;
            *tail = l;
            tail = &l->next;
        } else {
            pp = &l->next;
        }
    }
    while (mine) {
        sched_dep_link *l = mine;
        mine = l->next;
        sched_dep_task *t = l->task;
        put_link(d, l);
        if (err != RAY_OK && t->err == RAY_OK)
            t->err = err;
        if (--t->ndeps == 0)
            d->ops->deps_ready(d->ctx, t, t->err);
    }
}

void
sched_deps_cancel(sched_deps *d, sched_dep_task *t)
{
    for (size_t i = 0; i < d->nbuckets && t->ndeps; i++) {
        sched_dep_link **pp = &d->buckets[i];
        while (*pp) {
            sched_dep_link *l = *pp;
            if (l->task == t) {
                *pp = l->next;
                put_link(d, l);
                t->ndeps--;
            } else {
                pp = &l->next;
            }
        }
    }
}

size_t
sched_deps_waiting(const sched_deps *d, uint64_t obj)
{
    size_t n = 0;
    if (!d->nbuckets)
        return 0;
    for (const sched_dep_link *l = d->buckets[hash(obj, d->nbuckets)]; l;
         l = l->next)
        n += l->obj == obj;
    return n;
}

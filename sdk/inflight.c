/* SPDX-License-Identifier: Apache-2.0
 *
 * inflight.c: the calls a driver has in flight on one node (inflight.h).
 */
#include "sdk/inflight.h"

#include "runtime/alloc.h"

static size_t
fl_hash(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

bool
fl_put(fl_table *t, const fl_entry *x)
{
    if ((t->used + 1) * 2 > t->cap) {
        /* Sized by the live entries, not the tombstones: at most a
         * quarter full after, and no bigger than that needs (a table
         * doubled at every clean-up grew with every call ever made). */
        size_t cap = 1024;
        while ((t->n + 1) * 4 > cap)
            cap *= 2;
        fl_entry *ne = rt_calloc(cap, sizeof(*ne));
        if (!ne)
            return false;
        for (size_t i = 0; i < t->cap; i++)
            if (t->e[i].id && t->e[i].id != FL_TOMB) {
                size_t h = fl_hash(t->e[i].id, cap);
                while (ne[h].id)
                    h = (h + 1) & (cap - 1);
                ne[h] = t->e[i];
            }
        rt_free(t->e);
        t->e = ne;
        t->cap = cap;
        t->used = t->n;
    }
    size_t h = fl_hash(x->id, t->cap);
    while (t->e[h].id && t->e[h].id != FL_TOMB)
        h = (h + 1) & (t->cap - 1);
    if (!t->e[h].id)
        t->used++;
    t->e[h] = *x;
    t->n++;
    return true;
}

bool
fl_take(fl_table *t, uint64_t id, fl_entry *out)
{
    if (!t->cap)
        return false;
    size_t h = fl_hash(id, t->cap);
    while (t->e[h].id) {
        if (t->e[h].id == id) {
            *out = t->e[h];
            t->e[h].id = FL_TOMB;
            t->n--;
            return true;
        }
        h = (h + 1) & (t->cap - 1);
    }
    return false;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * inflight.h: the calls a driver has in flight on one node, by the
 * object id of their result: an open-addressed table (linear probing,
 * tombstones) that keeps each call's packed record until its result
 * comes (a node that dies has its calls placed again from it).
 */
#ifndef RAY_SDK_INFLIGHT_H
#define RAY_SDK_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FL_TOMB UINT64_MAX

typedef struct fl_entry {
    uint64_t id; /* 0 empty, FL_TOMB a tombstone */
    uint8_t *task;
    uint32_t len;
    int32_t retries;   /* on other nodes; an actor call's: -1 (never) */
    uint64_t *handles; /* actor handles among its arguments, counted while
                          it lives (rt_malloc'd), or NULL */
    uint32_t nhandles;
    uint64_t *refs; /* objects among its arguments whose copy on another
                       node it reads, held while it lives, or NULL */
    uint32_t nrefs;
    uint32_t actor;       /* an actor call's key in the driver's table, to
                             send it again when its node dies (0: none) */
    int32_t call_retries; /* then: sends left (max_task_retries; -1: no
                             limit) */
    uint64_t seq;         /* then: the order it was made in */
    bool pinned;          /* a hard node pin: never placed elsewhere */
    bool failed;          /* its result was an error (once back) */
    bool lost;            /* that error was RAY_EOBJECT_LOST */
    bool borrow; /* not a call: a borrowed object's fetch (cluster_borrow) */
} fl_entry;

typedef struct fl_table {
    fl_entry *e;
    size_t cap, n, used; /* used: n + tombstones */
} fl_table;

/* Add x (its id not 0, not FL_TOMB, not in t). False without memory.
 * The table is at most half used (tombstones count) and, after it is
 * rebuilt, sized by its live entries only. */
bool fl_put(fl_table *t, const fl_entry *x);

/* Take out the entry of `id` into *out; false when there is none. */
bool fl_take(fl_table *t, uint64_t id, fl_entry *out);

#endif /* RAY_SDK_INFLIGHT_H */

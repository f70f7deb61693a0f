/* SPDX-License-Identifier: Apache-2.0
 *
 * resources.h: a node's resources and the demands of tasks.
 *
 * Amounts are fixed-point milli-units (0.5 GPU = 500), so fractional
 * demands add up exactly. A node has up to SCHED_RES_MAX named resources
 * ("CPU", "GPU", "disk", ...) with a total and an available amount. A
 * demand names at most SCHED_DEMAND_MAX of them, resolved to indices when
 * it is parsed, so the dispatch-time check is a few integer compares.
 * The same code serves the cluster raylet (and its spillback decisions).
 * Not thread-safe: the owner's lock guards a node's set.
 */
#ifndef RAY_SCHEDULER_RESOURCES_H
#define RAY_SCHEDULER_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

#define SCHED_RES_MAX 16
#define SCHED_RES_NAME 32
#define SCHED_DEMAND_MAX 4

typedef struct sched_resources {
    uint32_t n;
    char name[SCHED_RES_MAX][SCHED_RES_NAME];
    int64_t total[SCHED_RES_MAX]; /* milli-units */
    int64_t avail[SCHED_RES_MAX];
} sched_resources;

typedef struct sched_demand {
    uint32_t n;
    uint8_t idx[SCHED_DEMAND_MAX]; /* into the node's set */
    int64_t milli[SCHED_DEMAND_MAX];
} sched_demand;

/* An empty set. */
void sched_res_init(sched_resources *r);

/* Add `milli` of resource `name` (created if new). RAY_EINVAL for a bad
 * name or amount, RAY_ENOMEM when the set is full. */
ray_err sched_res_add(sched_resources *r, const char *name, int64_t milli);

/* Parse "GPU:1,disk:0.5" and add each to the node's totals. */
ray_err sched_res_add_spec(sched_resources *r, const char *spec);

/* Parse a demand "GPU:0.5,disk:2" against node `r`. RAY_EINVAL for a
 * malformed spec; RAY_ENOTFOUND (infeasible) when the node lacks a
 * resource or its total is smaller than the demand. `detail` (may be
 * NULL) receives a short reason. */
ray_err sched_res_parse_demand(const sched_resources *r, const char *spec,
                               sched_demand *d, char *detail, size_t n);

/* Take the demand if all of it is available now. */
bool sched_res_try_acquire(sched_resources *r, const sched_demand *d);

/* Give back a demand taken by sched_res_try_acquire. */
void sched_res_release(sched_resources *r, const sched_demand *d);

/* A set that holds exactly `d`, at the indices of the node's set `d` was
 * parsed against (names left empty): a reservation from which demands
 * parsed against that node's set are taken (a placement group's bundle). */
void sched_res_pool(sched_resources *pool, const sched_demand *d);

#endif /* RAY_SCHEDULER_RESOURCES_H */

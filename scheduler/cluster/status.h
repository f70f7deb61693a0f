/* SPDX-License-Identifier: Apache-2.0
 *
 * status.h: what the cluster looks like, as the GCS says it, for people
 * and their tools: `rayc status` (a table, or JSON) and the head's
 * dashboard (the same JSON, and Prometheus metrics). One connection to
 * the GCS with the token handshake, its nodes and the key-value
 * namespaces that hold the drivers ("job"), named actors ("actor") and
 * the metrics each driver pushes ("metrics").
 */
#ifndef RAY_SCHEDULER_CLUSTER_STATUS_H
#define RAY_SCHEDULER_CLUSTER_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/net.h"
#include "runtime/text.h"

typedef struct cl_view {
    char address[RT_HOST_MAX + 8]; /* the GCS's */
    Ray__Rpc__GetAllNodesReply *nodes;
    Ray__Rpc__KvListReply *jobs, *actors, *metrics;
} cl_view;

/* Ask the GCS at `address` ("host:port"). RAY_OK and *v (cl_view_free
 * it), or an error with why. */
ray_err cl_view_get(const char *address, const uint8_t tok[RT_TOKEN_LEN],
                    cl_view *v, char *why, size_t whylen);
void cl_view_free(cl_view *v);

/* A node's id (hex) and raylet address ("ip:port"); whether it is
 * alive. */
bool cl_view_node(const Ray__Rpc__NodeInfo *ni, char id[57], char addr[96]);

/* The custom resources of rs as "gpu:2,disk:4" into custom; its CPUs. */
double cl_view_cpus(const Ray__Rpc__ResourceSet *rs, char *custom, size_t len);

/* The sum over the connected drivers' metrics (pushed to the head once a
 * second) of the sample `series` ("name", or name{labels} exactly as a
 * driver prints it). */
double cl_view_metric_sum(const cl_view *v, const char *series);

/* The value of sample `series` in one Prometheus text (len bytes), 0 when
 * it has none. */
double cl_metric_value(const char *text, size_t len, const char *series);

/* `rayc status --format=json`: {"address","nodes":[...],"jobs":[...],
 * "named_actors":N}. */
void cl_view_json(const cl_view *v, rt_text *out);

/* `rayc list KIND`: the cluster's nodes, named actors or jobs
 * (drivers) as rows, those whose column `key` equals `value` (key NULL:
 * all), as an aligned table or a JSON array. RAY_EINVAL with why for an
 * unknown kind or column. */
ray_err cl_view_list(const cl_view *v, const char *kind, const char *key,
                     const char *value, bool json, rt_text *out, char *why,
                     size_t whylen);

/* `rayc list tasks|objects|placement-groups`: the rows each driver
 * answered (texts[i],
 * lens[i] bytes, from driver whos[i]; NULL: none came; the format is
 * sdk/state.c's after a line with their count) printed as cl_view_list
 * does, with a "job" column naming the driver. *more: the rows drivers
 * had beyond those they sent. */
ray_err cl_answers_list(const char *kind, size_t n, const char *const *whos,
                        const char *const *texts, const size_t *lens,
                        const char *key, const char *value, bool json,
                        rt_text *out, size_t *more, char *why, size_t whylen);

/* `rayc list actors`: every driver's actors (texts as above, columns
 * actor_id class_name state name node_id pid, then the driver), each
 * with whether the head holds it as detached, and the named ones the
 * head holds that no driver listed (a detached actor whose driver has
 * gone). v: the head's view. */
ray_err cl_actors_list(const cl_view *v, size_t n, const char *const *whos,
                       const char *const *texts, const size_t *lens,
                       const char *key, const char *value, bool json,
                       rt_text *out, size_t *more, char *why, size_t whylen);

/* Prometheus text: the nodes (rayc_cluster_*), and each driver's own
 * metrics (ray_metrics) with a job label, each family once. */
void cl_view_metrics(const cl_view *v, rt_text *out);

#endif /* RAY_SCHEDULER_CLUSTER_STATUS_H */

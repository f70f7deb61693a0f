/* SPDX-License-Identifier: Apache-2.0
 *
 * dashboard.h: the head's HTTP endpoint (libmicrohttpd), on its own port
 * (rayc start --dashboard-port, default 8265):
 *
 *   GET /metrics      Prometheus text (status.h: the nodes, and each
 *                     driver's metrics with a job label)
 *   GET /api/status   the JSON of `rayc status --format=json`, plus
 *                     tasks by state and the drivers' totals
 *   GET /             a page that shows it, refreshing itself
 *
 * Each request asks the GCS over its own port with the token handshake,
 * so the GCS's tables stay its thread's. Bound to a loopback address it
 * answers anyone on this machine; bound elsewhere it wants the cluster
 * token (hex) as "Authorization: Bearer TOKEN" or "?token=TOKEN", and
 * answers 401 without it.
 */
#ifndef RAY_SCHEDULER_CLUSTER_DASHBOARD_H
#define RAY_SCHEDULER_CLUSTER_DASHBOARD_H

#include <stdint.h>

#include "runtime/net.h"

typedef struct dashboard dashboard;

/* Serve on ip:port (port 0: any free one; *bound says which) for the GCS
 * at `gcs` ("host:port"). RAY_OK and *out, or an error with why. */
ray_err dashboard_start(const char *ip, uint16_t port, const char *gcs,
                        const uint8_t tok[RT_TOKEN_LEN], dashboard **out,
                        uint16_t *bound, char *why, size_t whylen);

/* Stop serving and free it (NULL: nothing). */
void dashboard_stop(dashboard *d);

#endif /* RAY_SCHEDULER_CLUSTER_DASHBOARD_H */

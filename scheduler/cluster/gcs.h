/* SPDX-License-Identifier: Apache-2.0
 *
 * gcs.h: the head's control service (GCS): the cluster's node table
 * (address, resources, liveness) and a small key-value store, served on
 * the head's port to raylets (register, heartbeat), drivers and the CLI
 * (list nodes, kv) over token-checked connections (runtime/server.h).
 *
 * Liveness: a raylet registers on a connection of its own and heartbeats
 * on it every RAYC_HEARTBEAT_MS. The node is declared dead when that
 * connection closes (a killed raylet: the kernel closes its socket, so
 * this takes one round of the loop) or when no heartbeat came within the
 * deadline (a hung or partitioned node). A dead node that registers again
 * (the same raylet, back after losing its connection) is alive again; one
 * dead for GCS_FORGET_S leaves the table.
 *
 * Jobs: a driver puts an ephemeral key in namespace "job" (its address and
 * pid -> its program and start time); the entry goes when its connection
 * does, so the table lists the drivers connected now.
 *
 * Tables live in memory. Key-value entries no connection owns are also
 * written through to a store (gcs_store.h: SQLite by default) and loaded
 * back when the head starts again, so detached actors' names survive it;
 * raylets register again on their own (they reconnect), and drivers' own
 * entries come back as they reconnect.
 */
#ifndef RAY_SCHEDULER_CLUSTER_GCS_H
#define RAY_SCHEDULER_CLUSTER_GCS_H

#include <stdatomic.h>
#include <stdint.h>

#include "runtime/net.h"

#define GCS_HEARTBEAT_MS 250
#define GCS_DEADLINE_MS 3000
#define GCS_FORGET_S 600 /* a dead node leaves the table after this */

typedef struct gcs gcs;

/* Serve listen_fd (taken over) until *stop; blocking, on the caller's
 * thread. deadline_ms: 0 for GCS_DEADLINE_MS. storage: gcs_store_open's
 * spec (NULL: "memory"); its entries are loaded now. An error says why. */
ray_err gcs_create(int listen_fd, const uint8_t tok[RT_TOKEN_LEN],
                   int deadline_ms, const char *storage, gcs **out, char *why,
                   size_t whylen);
void gcs_run(gcs *g, _Atomic int *stop);
void gcs_destroy(gcs *g);

#endif /* RAY_SCHEDULER_CLUSTER_GCS_H */

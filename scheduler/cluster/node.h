/* SPDX-License-Identifier: Apache-2.0
 *
 * node.h: the raylet daemon of one node of a cluster (and, on the head,
 * the GCS beside it, gcs.h).
 *
 * It listens on one port (the only port of a worker node; the head adds
 * the GCS's). It registers the node with the GCS and heartbeats on a
 * thread of its own, reconnecting when the GCS goes away. Drivers connect
 * to start their job on the node: the driver names its executable by
 * SHA-256; the raylet runs it from its cache (temp dir/exe/<hash>) or
 * asks the driver for the bytes once, checks their hash, and caches them.
 * The executable runs as the job's agent on this node (the driver's own
 * program in agent mode, sdk/cluster.c): the raylet hands it the
 * driver's connection and the node's CPUs and resources, and from then on
 * the driver and its agent talk directly. Agents die with the raylet.
 * It also serves the node's log files to `rayc logs` (node_logs.h).
 */
#ifndef RAY_SCHEDULER_CLUSTER_NODE_H
#define RAY_SCHEDULER_CLUSTER_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/net.h"

typedef struct node_config {
    bool head;               /* also run the GCS on gcs_port */
    const char *ip;          /* bind and advertise; NULL: the head 127.0.0.1,
                                a worker node the address it reaches the
                                head from */
    uint16_t gcs_port;       /* head: listen here (0: any) */
    const char *gcs_address; /* worker node: the head's host:port */
    uint16_t port;           /* the raylet's port, 0: any */
    int num_cpus;            /* 0: online CPUs */
    const char *resources;   /* "GPU:2,disk:4" or NULL */
    uint64_t object_store_bytes;
    const char *temp_dir;
    const char *storage; /* head: the GCS's store (gcs_store.h); NULL
                            or "memory": none */
    uint8_t token[RT_TOKEN_LEN];
    int deadline_ms; /* GCS: declare a silent node dead after; 0 default */
    /* The file this daemon's stderr goes to (rayc start: TEMP_DIR/logs/
     * KIND-IP-PID.log, node_logs.h), or NULL (--block: its terminal).
     * `rayc logs` reads it from other machines. */
    const char *log_file;
    /* Told once: the node registered (ok: "<id hex> <raylet ip:port>",
     * and on the head " <gcs ip:port>") or cannot start (the reason). */
    void (*ready)(void *arg, bool ok, const char *msg);
    void *ready_arg;
} node_config;

/* Run the node until *stop: blocking. RAY_OK after a stop, or the error
 * that kept it from starting (also told to ready()). */
ray_err node_run(const node_config *cfg, _Atomic int *stop);

#endif /* RAY_SCHEDULER_CLUSTER_NODE_H */

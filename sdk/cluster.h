/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster.h: the SDK in a cluster: a driver's join (cluster.c) and the
 * agent that runs a job's calls on another node (agent.c).
 */
#ifndef RAY_SDK_CLUSTER_H
#define RAY_SDK_CLUSTER_H

#include "ray/ray.h"

/* ray_init with an address, before the embedded runtime starts: begin
 * what joining needs that takes a while (on a thread of its own). */
void sdk_cluster_prepare(void);

/* ray_shutdown, or a ray_init that failed: the thread of
 * sdk_cluster_prepare ended (a few ms at most), so nothing of it runs on
 * past the runtime, into the process's exit. */
void sdk_cluster_prepare_join(void);

/* ray_init with an address, after the embedded runtime started: ask the
 * head for the nodes, start the job's agent on each other node, and
 * route calls (the "cluster" backend). A node that cannot start its
 * agent is left out with a warning; the head itself must answer. */
ray_err sdk_cluster_join(const char *address);

/* ray_shutdown, before the embedded runtime stops: close every agent's
 * connection (the agents end) and join the threads. */
void sdk_cluster_leave(void);

/* ray_shutdown, once the embedded runtime is gone (no callback runs
 * again): free the calls still waiting at the driver for their refs or
 * their placement group, which will never go. */
void sdk_cluster_fini(void);

/* The program was started as a job's agent by a raylet (RAYC_AGENT_FD):
 * serve the driver on that connection, then exit. Never returns. */
void sdk_agent_main(int fd) __attribute__((noreturn));

/* The same, started ahead of need as the raylet's standby
 * (RAYC_AGENT_STANDBY): start the runtime, then wait on Unix socket
 * `sock` for the next driver's connection. Never returns. */
void sdk_agent_standby(int sock) __attribute__((noreturn));

#endif /* RAY_SDK_CLUSTER_H */

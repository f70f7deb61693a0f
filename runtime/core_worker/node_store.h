/* SPDX-License-Identifier: Apache-2.0
 *
 * node_store.h: the node's object store embedded in a local runtime.
 *
 * In local mode the driver runs the object store server (objectstore/)
 * itself, on a thread, and is its first client through
 * store_client_open_local; worker processes connect over the store's Unix
 * socket (that is how a client receives the region's memfd and a client
 * index whose pins the store drops if the process dies).
 *
 * Nothing may outlive the runtime, even a driver killed with SIGKILL. The
 * region is a memfd (no name in /dev/shm), so it goes with its last
 * process. The socket and the spill files live in a private directory
 * (TMPDIR if short enough for a socket path, else /tmp) named
 * rayc-<driver pid>-XXXXXX; a small *reaper* process, this executable
 * re-executed with CW_REAPER_ENV set, holds the read end of a pipe whose
 * write end only the driver holds, and removes the directory when the
 * pipe closes: at shutdown, or when the driver dies for any reason. The
 * reaper ignores terminal signals, so a Ctrl-C that kills the driver does
 * not kill it before it cleans up.
 *
 * Thread-safety: start and stop from one thread at a time; the accessors
 * are safe once start returned.
 */
#ifndef RAY_RUNTIME_CORE_WORKER_NODE_STORE_H
#define RAY_RUNTIME_CORE_WORKER_NODE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "objectstore/client.h"
#include "runtime/status.h"

/* Environment variable that puts a re-executed binary in reaper mode. */
#define CW_REAPER_ENV "RAYC_STORE_REAPER"

typedef struct cw_node_store cw_node_store;

/* Create the private directory, start the reaper, then a store of
 * `capacity` bytes listening in that directory (spilling to a
 * subdirectory of it), and open the local client. Costs time in
 * proportion to `capacity` (the store pre-faults its region). On failure
 * nothing is left behind and `err` (errlen bytes) says why; the ray_err
 * is the store's (RAY_ESTORE_FULL when /dev/shm cannot hold the region)
 * or a RAY_ESYSERR value. */
ray_err cw_node_store_start(uint64_t capacity, cw_node_store **out, char *err,
                            size_t errlen);

/* Close the local client, stop the store, remove the directory and let
 * the reaper exit. NULL is fine. */
void cw_node_store_stop(cw_node_store *ns);

/* The driver's local client. */
store_client *cw_node_store_client(const cw_node_store *ns);

/* The socket path workers connect to. */
const char *cw_node_store_socket(const cw_node_store *ns);

/* Reaper mode (called before main() when CW_REAPER_ENV is set): wait for
 * the driver's pipe to close, remove the directory, exit. `spec` is the
 * variable's value, "fd:directory". Never returns. */
_Noreturn void cw_node_store_reaper_main(const char *spec);

#endif /* RAY_RUNTIME_CORE_WORKER_NODE_STORE_H */

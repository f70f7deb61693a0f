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
 * re-executed, holds the read end of a pipe whose write end only the
 * driver holds, and removes the directory when the pipe closes: at
 * shutdown, or when the driver dies for any reason. The reaper runs in a
 * session and process group of its own, so the group kill that ends a
 * job (`timeout -s KILL`, `kill -9 -PGID`, a batch scheduler) or a Ctrl-C
 * at the terminal reaches the driver but not the reaper; it also ignores
 * the terminal signals.
 *
 * What makes a process the reaper is never the environment (which any
 * program linking libray inherits from whoever starts it): it takes
 * argv[0] == STORE_REAPER_ARGV0 *and* descriptor STORE_REAPER_SPEC_FD being a
 * memfd named STORE_REAPER_MEMFD_NAME. That memfd holds
 * "v1\n<directory>\n<token>\n", where the token is 64 random hex digits
 * the driver also wrote to <directory>/STORE_REAPER_TOKEN_FILE (0600); the
 * reaper removes the directory only if it is a rayc-* directory of its
 * own user holding that token, so even a process started on purpose with
 * that argv[0] and descriptor deletes nothing the driver did not make.
 * The pipe's read end is descriptor STORE_REAPER_PIPE_FD.
 *
 * Thread-safety: start and stop from one thread at a time; the accessors
 * are safe once start returned.
 */
#ifndef RAY_OBJECTSTORE_NODE_STORE_H
#define RAY_OBJECTSTORE_NODE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objectstore/client.h"
#include "runtime/status.h"

/* How the driver marks the process it starts as the reaper (above). */
#define STORE_REAPER_ARGV0 "rayc-store-reaper"
#define STORE_REAPER_MEMFD_NAME "rayc-store-reaper"
#define STORE_REAPER_TOKEN_FILE "reaper.token"
#define STORE_REAPER_SPEC_FD 3
#define STORE_REAPER_PIPE_FD 4

typedef struct store_node store_node;

/* Create the private directory, start the reaper, then a store of
 * `capacity` bytes listening in that directory (spilling to a
 * subdirectory of it), and open the local client. Costs time in
 * proportion to `capacity` (the store pre-faults its region). On failure
 * nothing is left behind and `err` (errlen bytes) says why; the ray_err
 * is the store's (RAY_ESTORE_FULL when /dev/shm cannot hold the region)
 * or a RAY_ESYSERR value. */
ray_err store_node_start(uint64_t capacity, store_node **out, char *err,
                         size_t errlen);

/* Close the local client, stop the store, remove the directory and let
 * the reaper exit. NULL is fine. */
void store_node_stop(store_node *ns);

/* The driver's local client. */
store_client *store_node_client(const store_node *ns);

/* The socket path workers connect to. */
const char *store_node_socket(const store_node *ns);

/* True if this process was started as a reaper: argv[0] is
 * STORE_REAPER_ARGV0 and descriptor STORE_REAPER_SPEC_FD is the reaper's memfd.
 * Costs one string compare in any other process (the readlink runs only
 * when argv[0] matches). Call from a constructor, before main(). */
bool store_node_is_reaper(void);

/* Reaper mode (when store_node_is_reaper() is true): check the spec and
 * the token file, wait for the driver's pipe to close, remove the
 * directory, exit. Exits with status 120, deleting nothing, when the
 * spec or the token does not check out. Never returns. */
_Noreturn void store_node_reaper_main(void);

#endif /* RAY_OBJECTSTORE_NODE_STORE_H */

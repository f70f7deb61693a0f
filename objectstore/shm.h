/* SPDX-License-Identifier: Apache-2.0
 *
 * shm.h: the node's shared-memory region (a memfd).
 *
 * The store creates one memfd of the configured size, reserves every page
 * up front with fallocate (so a full tmpfs fails here with an error, never
 * later with SIGBUS) and maps it MAP_SHARED|MAP_POPULATE (so no put pays
 * first-touch page faults). Clients receive the fd once and map it with
 * store_shm_map. Thread-safe: no shared state.
 */
#ifndef RAY_OBJECTSTORE_SHM_H
#define RAY_OBJECTSTORE_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

/* The default capacity: 30% of physical RAM, capped by what /dev/shm has
 * free, rounded down to 2 MiB. Never 0 (at least 64 MiB if RAM allows). */
uint64_t store_shm_default_capacity(void);

/* Create a memfd of `size` bytes (rounded up to a page), reserve its pages
 * (fallocate) and return the fd in *fd_out. Returns RAY_ESTORE_FULL with
 * a message in `err` (may be NULL, `errlen` bytes) when tmpfs cannot hold
 * it, or RAY_ESYSERR|errno. The caller owns the fd. */
ray_err store_shm_create(uint64_t size, int *fd_out, char *err, size_t errlen);

/* Map `size` bytes of `fd` shared; `writable` picks PROT_READ|PROT_WRITE or
 * PROT_READ; `populate` pre-faults the page tables (MAP_POPULATE).
 * Returns the mapping in *out. */
ray_err store_shm_map(int fd, uint64_t size, bool writable, bool populate,
                      void **out);

/* Unmap a mapping from store_shm_map (NULL is fine). */
void store_shm_unmap(void *p, uint64_t size);

#endif /* RAY_OBJECTSTORE_SHM_H */

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

/* Create a memfd of `size` bytes (rounded up to a page) and return the fd
 * in *fd_out. No memory is committed yet: see store_shm_reserve. Returns
 * RAY_ESYSERR|errno on failure, with a message in `err` (may be NULL,
 * `errlen` bytes). The caller owns the fd. */
ray_err store_shm_create(uint64_t size, int *fd_out, char *err, size_t errlen);

/* Commit the memfd's pages in [off, off+len) (fallocate), so that writing
 * them later can never raise SIGBUS. Returns RAY_ESTORE_FULL with a message
 * when the system cannot back them (shared memory or the memory cgroup
 * exhausted), RAY_ESYSERR|errno otherwise. Idempotent. */
ray_err store_shm_reserve(int fd, uint64_t off, uint64_t len, char *err,
                          size_t errlen);

/* Map `size` bytes of `fd` shared, on a 2 MiB boundary; `writable` picks
 * PROT_READ|PROT_WRITE or PROT_READ. Page tables are built on demand (see
 * store_shm_prefault). Returns the mapping in *out. */
ray_err store_shm_map(int fd, uint64_t size, bool writable, void **out);

/* Make the first `len` bytes (a page multiple) of mapping `p` read-only:
 * a write there then faults in this process. RAY_ESYSERR|errno if the
 * kernel refuses. */
ray_err store_shm_protect(void *p, uint64_t len);

/* Unmap a mapping from store_shm_map (NULL is fine). */
void store_shm_unmap(void *p, uint64_t size);

/* Build the page tables of [p, p+len) for writing (MADV_POPULATE_WRITE),
 * so an object is written at memcpy speed instead of taking a page fault
 * per 4 KiB. Mappings are not populated whole: a client pays only for the
 * chunks it writes into (client.c tracks them). Kernels without the
 * advice (before 5.14) fault as before. Never fails. */
void store_shm_prefault(void *p, uint64_t len);

#endif /* RAY_OBJECTSTORE_SHM_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * alloc.h: every heap allocation in rayc goes through these functions.
 *
 * They are backed by jemalloc (mallocx/sdallocx) in normal builds and by the
 * libc allocator under sanitizers (-DRT_ALLOC_LIBC), so ASan sees every
 * allocation. rt_protobuf_allocator plugs the same functions into
 * protobuf-c. Tests make the Nth allocation fail with rt_alloc_fail_after,
 * to prove that every failing path returns RAY_ENOMEM and leaks nothing.
 *
 * Thread-safe. rt_malloc(0) returns a unique non-NULL pointer.
 */
#ifndef RAY_RUNTIME_ALLOC_H
#define RAY_RUNTIME_ALLOC_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* Allocate `n` bytes, NULL on failure (or on an injected failure). */
void *rt_malloc(size_t n);

/* Allocate `count * size` zeroed bytes; NULL on failure or overflow. */
void *rt_calloc(size_t count, size_t size);

/* Resize; on failure returns NULL and leaves `p` untouched. */
void *rt_realloc(void *p, size_t n);

/* Free `p` (NULL is fine). */
void rt_free(void *p);

/* Duplicate a NUL-terminated string; NULL on failure. */
char *rt_strdup(const char *s);

/* Duplicate `n` bytes. */
void *rt_memdup(const void *p, size_t n);

/* Room for one more element in array `p` holding `n` of `*cap` (each
 * `size` bytes): `p` itself when there is room, else the array doubled
 * (from `first` when empty), *cap updated. NULL without memory, `p` and
 * *cap untouched.
 *     T *np = rt_array_room(a->v, a->n, &a->cap, sizeof(*np), 16);
 *     if (!np) ...; a->v = np; a->v[a->n++] = x; */
void *rt_array_room(void *p, size_t n, size_t *cap, size_t size, size_t first);

/* Fault injection for tests: the `n`th allocation from now (1 = the next
 * one) and every one after it fail, until rt_alloc_fail_after(0) turns it
 * off. Process-wide. */
void rt_alloc_fail_after(long n);

/* Count of live allocations made through rt_* (debug aid for leak tests;
 * only exact when every allocation and free goes through these). */
long rt_alloc_live(void);

/* A protobuf-c allocator that uses rt_malloc/rt_free. */
extern ProtobufCAllocator rt_protobuf_allocator;

#endif /* RAY_RUNTIME_ALLOC_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * alloc.c: rt_malloc and friends over jemalloc, with fault injection.
 */
#include "runtime/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#ifndef RT_ALLOC_LIBC
#include <jemalloc/jemalloc.h>
#define RAW_MALLOC(n) mallocx((n) ? (n) : 1, 0)
#define RAW_REALLOC(p, n) rallocx((p), (n) ? (n) : 1, 0)
#define RAW_FREE(p) dallocx((p), 0)
#else
#include <stdlib.h>
#define RAW_MALLOC(n) malloc((n) ? (n) : 1)
#define RAW_REALLOC(p, n) realloc((p), (n) ? (n) : 1)
#define RAW_FREE(p) free(p)
#endif

static _Atomic long fail_countdown; /* 0 = off; 1 = next fails */
static _Atomic long live;

static int
injected_failure(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (c == 0)
        return 0;
    if (c == 1)
        return 1; /* stays failing until turned off */
    atomic_fetch_sub(&fail_countdown, 1);
    return 0;
}

void
rt_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n < 0 ? 0 : n);
}

long
rt_alloc_live(void)
{
    return atomic_load(&live);
}

void *
rt_malloc(size_t n)
{
    if (injected_failure())
        return NULL;
    void *p = RAW_MALLOC(n);
    if (p)
        atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void *
rt_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = rt_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *
rt_realloc(void *p, size_t n)
{
    if (!p)
        return rt_malloc(n);
    if (injected_failure())
        return NULL;
    return RAW_REALLOC(p, n);
}

void
rt_free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    RAW_FREE(p);
}

char *
rt_strdup(const char *s)
{
    return rt_memdup(s, strlen(s) + 1);
}

void *
rt_memdup(const void *src, size_t n)
{
    void *p = rt_malloc(n);
    if (p && n)
        memcpy(p, src, n);
    return p;
}

void *
rt_array_room(void *p, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return p;
    size_t nc = *cap ? 2 * *cap : first;
    if (nc < n + 1 || nc > SIZE_MAX / size)
        return NULL;
    void *np = rt_realloc(p, nc * size);
    if (np)
        *cap = nc;
    return np;
}

static void *
pb_alloc(void *data, size_t size)
{
    (void)data;
    return rt_malloc(size);
}

static void
pb_free(void *data, void *p)
{
    (void)data;
    rt_free(p);
}

ProtobufCAllocator rt_protobuf_allocator = {
    .alloc = pb_alloc,
    .free = pb_free,
    .allocator_data = NULL,
};

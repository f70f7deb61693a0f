/* SPDX-License-Identifier: Apache-2.0
 *
 * ring_stress: one producer thread and one consumer thread push 2 million
 * records of varying size through a small rt_ring (so it wraps, pads, fills
 * and makes both sides sleep), and the consumer checks every byte and the
 * order. Its own main, so it also runs under --config=tsan, where the
 * memory-ordering of publish/peek/release is what is being checked.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/shm_ring.h"

enum { CAP = 1 << 14, RECORDS = 2000000 };

static _Alignas(64) unsigned char mem[sizeof(rt_ring_hdr) + CAP];

/* Payload length of record `i`: 0..255 bytes, some large enough to force
 * pads at the end of the data area. */
static size_t
len_of(uint64_t i)
{
    uint64_t x = i * 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 56) + ((i % 97) == 0 ? 3000 : 0);
}

static void *
producer(void *arg)
{
    (void)arg;
    rt_ring r;
    rt_ring_attach(&r, mem);
    for (uint64_t i = 0; i < RECORDS; i++) {
        size_t len = len_of(i) + sizeof i;
        unsigned char *p;
        while (!(p = rt_ring_reserve(&r, len))) {
            rt_ring_publish(&r);
            if (rt_ring_wait_space(&r, len, 20, 1000000) != RAY_OK) {
                fprintf(stderr, "producer: no space for 1 s at %llu\n",
                        (unsigned long long)i);
                exit(1);
            }
        }
        memcpy(p, &i, sizeof i);
        memset(p + sizeof i, (int)(i & 0xff), len - sizeof i);
        rt_ring_commit(&r, (uint32_t)(i & 0x7fff), len);
        if (i % 7 == 0)
            rt_ring_publish(&r);
    }
    rt_ring_publish(&r);
    return NULL;
}

int
main(void)
{
    if (rt_ring_format(mem, CAP) != RAY_OK)
        return 1;
    pthread_t t;
    pthread_create(&t, NULL, producer, NULL);
    rt_ring r;
    rt_ring_attach(&r, mem);
    for (uint64_t want = 0; want < RECORDS;) {
        uint32_t type, len;
        unsigned char *p = rt_ring_peek(&r, &type, &len);
        if (!p) {
            rt_ring_release(&r);
            ray_err e = rt_ring_wait_data(&r, 20, 1000000);
            if (e == RAY_ETIMEDOUT) {
                fprintf(stderr, "consumer: no data for 1 s at %llu\n",
                        (unsigned long long)want);
                return 1;
            }
            continue;
        }
        uint64_t seq;
        memcpy(&seq, p, sizeof seq);
        size_t exp_len = len_of(want) + sizeof want;
        if (seq != want || len != exp_len || type != (want & 0x7fff)) {
            fprintf(stderr, "record %llu: got seq %llu len %u type %u\n",
                    (unsigned long long)want, (unsigned long long)seq, len,
                    type);
            return 1;
        }
        for (size_t k = sizeof seq; k < len; k++)
            if (p[k] != (unsigned char)(want & 0xff)) {
                fprintf(stderr, "record %llu: byte %zu corrupt\n",
                        (unsigned long long)want, k);
                return 1;
            }
        rt_ring_consume(&r);
        if (++want % 16 == 0)
            rt_ring_release(&r);
    }
    rt_ring_release(&r);
    pthread_join(t, NULL);
    printf("ring_stress: %d records in order and intact\n", RECORDS);
    return 0;
}

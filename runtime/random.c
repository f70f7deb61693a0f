/* SPDX-License-Identifier: Apache-2.0
 *
 * random.c: per-thread xoshiro256** seeded from getrandom, reseeded after
 * fork. See random.h for the model; the generator is Blackman and Vigna's
 * public-domain xoshiro256** algorithm, written here from its description.
 */
#include "runtime/random.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Bumped in the child of every fork(); threads reseed when theirs differs. */
static _Atomic uint64_t fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static _Thread_local struct {
    uint64_t s[4];
    uint64_t generation; /* 0 = never seeded */
} rng;

static void
on_fork_child(void)
{
    atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void
register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void
reseed(uint64_t generation)
{
    pthread_once(&atfork_once, register_atfork);
    uint64_t seed[4] = {0, 0, 0, 0};
    if (rt_random_os(seed, sizeof seed) != RAY_OK) {
        /* No kernel randomness (seccomp, ancient kernel): mix what differs
         * between processes and threads. Weak, but IDs stay distinct. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                     ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)&rng;
        for (int i = 0; i < 4; i++)
            seed[i] = splitmix64(&x);
    }
    /* Run the raw seed through splitmix so an all-zero state is impossible
     * in practice and weak seeds still spread over all bits. */
    for (int i = 0; i < 4; i++) {
        uint64_t x = seed[i] + (uint64_t)i;
        rng.s[i] = splitmix64(&x);
    }
    if (!(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3]))
        rng.s[0] = 1;
    rng.generation = generation;
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* This thread's state, reseeded first if it is new or a fork happened.
 * Callers fetch it once per call: with -fPIC each thread-local access
 * may cost a __tls_get_addr call. */
static inline uint64_t *
state(void)
{
    uint64_t gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (__builtin_expect(rng.generation != gen, 0))
        reseed(gen);
    return rng.s;
}

static inline uint64_t
next(uint64_t *s)
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t
rt_random_u64(void)
{
    return next(state());
}

void
rt_random_fill(void *buf, size_t n)
{
    uint64_t *s = state();
    unsigned char *p = buf;
    while (n >= 8) {
        uint64_t v = next(s);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = next(s);
        memcpy(p, &v, n);
    }
}

ray_err
rt_random_os(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return rt_err_from_errno(errno);
        }
        p += got;
        n -= (size_t)got;
    }
    return RAY_OK;
}

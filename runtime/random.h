/* SPDX-License-Identifier: Apache-2.0
 *
 * random.h: fast per-thread random numbers for IDs, seeded from the kernel.
 *
 * Every thread owns a xoshiro256** generator seeded with 32 bytes from
 * getrandom(2). Drawing a number is a few arithmetic instructions and no
 * system call, which matters because a task ID is made per task (~1M/s).
 * After fork() the child reseeds on its next draw, so a parent and child
 * never produce the same stream: a pthread_atfork child handler bumps a
 * process-wide generation that each thread compares (one relaxed atomic
 * load) before drawing. getpid() is not used for this because glibc no
 * longer caches it, which would cost a system call per ID.
 *
 * Not for secrets (cluster tokens): use rt_random_os for those.
 * Thread-safe: all state is thread-local.
 */
#ifndef RAY_RUNTIME_RANDOM_H
#define RAY_RUNTIME_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

/* A uniformly distributed 64-bit number from this thread's generator.
 * Never fails, never blocks after the thread's first call (which reads
 * the seed from getrandom). */
uint64_t rt_random_u64(void);

/* Fill `n` bytes at `buf` from this thread's generator. */
void rt_random_fill(void *buf, size_t n);

/* Fill `n` bytes straight from the kernel (getrandom), for secrets.
 * Returns RAY_OK, or RAY_ESYSERR|errno if the kernel refused. May block
 * early in boot until the kernel pool is initialised. */
ray_err rt_random_os(void *buf, size_t n);

#endif /* RAY_RUNTIME_RANDOM_H */

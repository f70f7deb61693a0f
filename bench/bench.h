/* SPDX-License-Identifier: Apache-2.0
 *
 * bench.h: shared helpers of //bench:microbenchmark.
 *
 * Every figure is printed as one `name value unit` line on stdout. A group
 * (store, task, actor) is a function that runs its measurements and prints
 * them, next to the physical limits it is compared with (bench_limit_*)
 * and the ratio. Figures are never asserted: this machine is shared.
 */
#ifndef RAY_BENCH_BENCH_H
#define RAY_BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Print one `name value unit` line and flush. */
void bench_print(const char *name, double value, const char *unit);

/* Median of `n` doubles (sorts `v` in place). */
double bench_median(double *v, size_t n);

/* Single-thread memcpy between two pre-faulted buffers of `bytes` bytes,
 * best of a few runs, in GB/s (1e9 bytes per second). Prints
 * `limit_memcpy_gigabytes` the first time it is measured and caches it. */
double bench_limit_memcpy_gbps(void);

/* Median round trip of a raw cross-process ping-pong through one shared
 * cache line (the two processes spin, with a bounded spin then futex
 * sleep), in microseconds. Prints `limit_pingpong_us` the first time. */
double bench_limit_pingpong_us(void);

/* The groups. Each prints its own lines. */
void bench_group_store(void);
void bench_group_task(void);
void bench_group_actor(void);
void bench_group_cluster(void);
void bench_group_faults(void);
/* The faults group's chaos run (chaos_bench.c). */
void bench_faults_chaos(void);
void bench_group_launch(void);

#endif /* RAY_BENCH_BENCH_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz.h: the interface every harness in tests/fuzz implements.
 *
 * A harness is one LLVMFuzzerTestOneInput. It links either with libFuzzer
 * (`bazel run --config=fuzz //tests/fuzz:frame_fuzz`) or with smoke_main.c,
 * a small driver that runs in the normal test suite: it replays the seed
 * corpus the harness builds in code (rt_fuzz_seeds), then random and
 * mutated inputs for RAYC_FUZZ_SECONDS. A harness reports a bug by
 * crashing (abort or a sanitizer report), never by returning.
 */
#ifndef RAY_TESTS_FUZZ_FUZZ_H
#define RAY_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Called once per seed input; `data` is valid only during the call. */
typedef void (*rt_fuzz_seed_cb)(void *arg, const uint8_t *data, size_t len);

/* libFuzzer's entry point: run one input. Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Emit the harness's seed inputs (valid, truncated and corrupted frames
 * or messages of every type) through `emit`. */
void rt_fuzz_seeds(rt_fuzz_seed_cb emit, void *arg);

/* Abort with a message when `cond` is false (harness invariants). */
#define RT_FUZZ_CHECK(cond)                                                    \
    do {                                                                       \
        if (!(cond))                                                           \
            rt_fuzz_fail(__FILE__, __LINE__, #cond);                           \
    } while (0)

_Noreturn void rt_fuzz_fail(const char *file, int line, const char *expr);

#endif /* RAY_TESTS_FUZZ_FUZZ_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * microbenchmark.c: rayc's one benchmark program.
 *
 *   bazel run -c opt //bench:microbenchmark -- [store|task|actor|limits]...
 *
 * With no argument every group runs. Each group prints `name value unit`
 * lines, using Ray's microbenchmark names where one exists, beside the
 * physical limit it is compared with (see limits.c) and the ratio.
 * A group whose code is not linked into this build says so and is skipped.
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

/* Groups are linked from their own files; weak so a build that leaves one
 * out still runs the rest. */
__attribute__((weak)) void bench_group_store(void);
__attribute__((weak)) void bench_group_task(void);
__attribute__((weak)) void bench_group_actor(void);
__attribute__((weak)) void bench_group_cluster(void);
__attribute__((weak)) void bench_group_faults(void);
__attribute__((weak)) void bench_group_launch(void);

static void
bench_group_limits(void)
{
    bench_limit_memcpy_gbps();
    bench_limit_pingpong_us();
}

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"limits", bench_group_limits},   {"store", bench_group_store},
    {"task", bench_group_task},       {"actor", bench_group_actor},
    {"cluster", bench_group_cluster}, {"faults", bench_group_faults},
    {"launch", bench_group_launch},
};

enum { NGROUPS = sizeof groups / sizeof groups[0] };

static int
run_group(const char *name)
{
    for (int i = 0; i < NGROUPS; i++) {
        if (strcmp(groups[i].name, name) != 0)
            continue;
        if (!groups[i].run) {
            fprintf(stderr, "microbenchmark: group '%s' is not built\n", name);
            return 0;
        }
        printf("# group %s\n", name);
        fflush(stdout);
        groups[i].run();
        return 0;
    }
    fprintf(stderr, "microbenchmark: unknown group '%s' (groups:", name);
    for (int i = 0; i < NGROUPS; i++)
        fprintf(stderr, " %s", groups[i].name);
    fprintf(stderr, ")\n");
    return 2;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        for (int i = 0; i < NGROUPS; i++)
            if (groups[i].run && run_group(groups[i].name))
                return 2;
        return 0;
    }
    for (int i = 1; i < argc; i++)
        if (run_group(argv[i]))
            return 2;
    return 0;
}

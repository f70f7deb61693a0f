/* SPDX-License-Identifier: Apache-2.0
 *
 * reaper_driver.c: a helper for test_reaper. With "probe" it prints
 * "main ran" and exits 0 (a rayc program whose main must run, whatever its
 * environment). With "driver" it starts a local runtime, puts a value
 * large enough for the node's object store (which starts the store and its
 * reaper), prints "ready" and waits to be killed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ray/ray.h>

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "driver") == 0) {
        ray_config cfg;
        ray_config_init(&cfg);
        cfg.num_cpus = 1;
        cfg.object_store_bytes = 64u << 20;
        if (ray_init(&cfg) != RAY_OK) {
            fprintf(stderr, "ray_init: %s\n", ray_last_error_detail());
            return 2;
        }
        size_t n = 1u << 20;
        char *buf = calloc(1, n);
        ray_ref r;
        if (!buf || ray_put_bytes(buf, n, &r) != RAY_OK) {
            fprintf(stderr, "put: %s\n", ray_last_error_detail());
            return 3;
        }
        printf("ready\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    printf("main ran\n");
    return 0;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * gate.h: a FIFO as a one-shot gate between a test and its tasks, so a
 * test can hold a task at a known point without sleeping: the task
 * blocks in gate_pass until the test calls gate_open (both block until
 * the other side arrives). Header-only, for integration tests.
 */
#ifndef RAYC_TESTS_GATE_H
#define RAYC_TESTS_GATE_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Make the FIFO `path` (replacing any file there). True on success. */
static inline bool
gate_make(const char *path)
{
    unlink(path);
    return mkfifo(path, 0600) == 0;
}

/* Wait for the other side to open the gate. True once it did. */
static inline bool
gate_pass(const char *path)
{
    int fd = open(path, O_RDONLY);
    char c;
    bool ok = fd >= 0 && read(fd, &c, 1) == 1;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Let the waiting side through. True on success. */
static inline bool
gate_open(const char *path)
{
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && write(fd, "g", 1) == 1;
    if (fd >= 0)
        close(fd);
    return ok;
}

#endif /* RAYC_TESTS_GATE_H */

/* SPDX-License-Identifier: Apache-2.0
 *
 * gate.h: a FIFO as a one-shot gate between a test and its tasks, so a
 * test can hold a task at a known point without sleeping: the task
 * blocks in gate_pass until the test calls gate_open (both block until
 * the other side arrives; gate_open_within gives up after a bound). And
 * an event counter in a file, for facts like "this task never ran".
 * Header-only, for integration tests.
 */
#ifndef RAYC_TESTS_GATE_H
#define RAYC_TESTS_GATE_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
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

/* As gate_open, but gives up (false) when nobody waits at the gate
 * within `ms` milliseconds: a test can always end, even when the task
 * it holds never reached its gate. */
static inline bool
gate_open_within(const char *path, int ms)
{
    for (int i = 0; i <= ms; i++) {
        int fd = open(path, O_WRONLY | O_NONBLOCK);
        if (fd >= 0) {
            bool ok = write(fd, "g", 1) == 1;
            close(fd);
            return ok;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* Bytes in the file at `path` (0 when there is none): tasks append one
 * byte per event, and the test counts the events. */
static inline long
count_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Append one byte to the file at `path` (a task counting an event). */
static inline bool
count_event(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    bool ok = fd >= 0 && write(fd, "e", 1) == 1;
    if (fd >= 0)
        close(fd);
    return ok;
}

#endif /* RAYC_TESTS_GATE_H */

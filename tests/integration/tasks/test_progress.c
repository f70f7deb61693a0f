/* SPDX-License-Identifier: Apache-2.0
 *
 * Progress bars (sdk/progress.c) through the public API: ray_wait_progress
 * and RAY_MAP draw a bar on stderr when forced (RAYC_PROGRESS=1), ending
 * in the final count; nothing is drawn when stderr is not a terminal or
 * RAYC_PROGRESS=0; a wait that runs out of time says how far it got. The
 * driver's stderr is captured in a file for each check.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ray/ray.h>

#include "tests/integration/common/gate.h"

static int64_t
pg_square(int64_t x)
{
    return x * x;
}
RAY_REMOTE(pg_square, int64_t, int64_t);

/* Returns x once the gate at `gate` opens. */
static int64_t
pg_gated(int64_t x, const char *gate)
{
    return gate_pass(gate) ? x : -1;
}
RAY_REMOTE(pg_gated, int64_t, int64_t, const char *);

static void
setup(void)
{
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 2;
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
}

static void
teardown(void)
{
    ray_shutdown();
    unsetenv("RAYC_PROGRESS");
}

TestSuite(progress, .init = setup, .fini = teardown, .timeout = 60);

/* stderr into a temp file until uncapture, which returns what was
 * written (malloc'd). */
static int saved_fd = -1;
static char cap_path[64];

static void
capture(void)
{
    snprintf(cap_path, sizeof(cap_path), "/tmp/rayc-progress-%d.txt",
             (int)getpid());
    fflush(stderr);
    saved_fd = dup(STDERR_FILENO);
    FILE *f = fopen(cap_path, "w");
    cr_assert_not_null(f);
    dup2(fileno(f), STDERR_FILENO);
    fclose(f);
}

static char *
uncapture(void)
{
    fflush(stderr);
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    FILE *f = fopen(cap_path, "r");
    cr_assert_not_null(f);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(cap_path);
    return buf;
}

/* The bar's last state: the text after the last carriage return. */
static const char *
last_state(const char *out)
{
    const char *r = strrchr(out, '\r');
    return r ? r + 1 : out;
}

static void
submit_squares(ray_ref *refs, int n)
{
    for (int i = 0; i < n; i++)
        refs[i] = pg_square_remote(i);
}

static void
release_all(ray_ref *refs, int n)
{
    for (int i = 0; i < n; i++)
        ray_ref_release(refs[i]);
}

Test(progress, wait_progress_forced_ends_with_the_full_count)
{
    setenv("RAYC_PROGRESS", "1", 1);
    enum { N = 50 };
    ray_ref refs[N];
    submit_squares(refs, N);
    capture();
    ray_err e = ray_wait_progress(refs, N, "squares", RAY_FOREVER);
    char *out = uncapture();
    cr_assert_eq(e, RAY_OK, "%s", ray_last_error_detail());
    const char *last = last_state(out);
    cr_assert(
        strncmp(last, "squares: [####################] 50/50 100% ", 43) == 0,
        "last state: '%s'", last);
    cr_assert_not_null(strstr(last, " in "), "%s", last);
    cr_assert_eq(out[strlen(out) - 1], '\n', "the line ends");
    for (int i = 0; i < N; i++) {
        int64_t v;
        cr_assert_eq(ray_get_int64(refs[i], &v, 0), RAY_OK, "all done");
        cr_assert_eq(v, (int64_t)i * i);
    }
    release_all(refs, N);
    free(out);
}

Test(progress, map_forced_is_named_after_its_function)
{
    setenv("RAYC_PROGRESS", "1", 1);
    enum { M = 3000 };
    int64_t *in = malloc(M * sizeof(*in)), *out = malloc(M * sizeof(*out));
    for (int i = 0; i < M; i++)
        in[i] = i;
    capture();
    ray_err e = RAY_MAP(pg_square, in, M, out);
    char *text = uncapture();
    cr_assert_eq(e, RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(out[M - 1], (int64_t)(M - 1) * (M - 1));
    const char *last = last_state(text);
    cr_assert(strncmp(last, "pg_square: [####################] 3000/3000 100%",
                      48) == 0,
              "last state: '%s'", last);
    free(text);
    free(in);
    free(out);
}

Test(progress, nothing_when_not_a_terminal_or_turned_off)
{
    enum { N = 20 };
    ray_ref refs[N];
    const char *modes[] = {NULL, "0"};
    for (int m = 0; m < 2; m++) {
        if (modes[m])
            setenv("RAYC_PROGRESS", modes[m], 1);
        else
            unsetenv("RAYC_PROGRESS");
        submit_squares(refs, N);
        capture();
        ray_err e = ray_wait_progress(refs, N, "quiet", RAY_FOREVER);
        int64_t in[4] = {1, 2, 3, 4}, out[4];
        ray_err em = RAY_MAP(pg_square, in, 4, out);
        char *text = uncapture();
        cr_assert_eq(e, RAY_OK);
        cr_assert_eq(em, RAY_OK);
        cr_assert_str_empty(text, "mode %s drew '%s'",
                            modes[m] ? modes[m] : "unset", text);
        release_all(refs, N);
        free(text);
    }
}

Test(progress, a_wait_that_runs_out_says_how_far_it_got)
{
    setenv("RAYC_PROGRESS", "1", 1);
    char gate[64];
    snprintf(gate, sizeof(gate), "/tmp/rayc-progress-gate-%d", (int)getpid());
    cr_assert(gate_make(gate));
    ray_ref refs[3] = {pg_square_remote(2), pg_square_remote(3),
                       pg_gated_remote(7, gate)};
    int64_t v;
    cr_assert_eq(ray_get_int64(refs[0], &v, RAY_FOREVER), RAY_OK);
    cr_assert_eq(ray_get_int64(refs[1], &v, RAY_FOREVER), RAY_OK);
    capture();
    ray_err e = ray_wait_progress(refs, 3, "gated", 50);
    char *text = uncapture();
    cr_assert_eq(e, RAY_ETIMEDOUT);
    cr_assert_not_null(strstr(ray_last_error_detail(), "2 of 3"), "%s",
                       ray_last_error_detail());
    cr_assert_not_null(strstr(last_state(text), "2/3"), "%s", text);
    cr_assert(gate_open(gate));
    cr_assert_eq(ray_wait_progress(refs, 3, NULL, RAY_FOREVER), RAY_OK);
    cr_assert_eq(ray_get_int64(refs[2], &v, 0), RAY_OK);
    cr_assert_eq(v, 7);
    release_all(refs, 3);
    unlink(gate);
    free(text);
}

/* Opens the gate at `arg` once 1.3 s have passed. */
static void *
open_later(void *arg)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        struct timespec nap = {0, 20000000};
        nanosleep(&nap, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) <
             1300000000LL);
    gate_open(arg);
    return NULL;
}

/* Unforced, on a terminal: a wait that lasts over a second draws its bar
 * (the gate keeps it waiting at least 1.3 s; no upper bound). */
Test(progress, drawn_on_a_terminal_once_the_wait_lasts)
{
    unsetenv("RAYC_PROGRESS");
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0)
        cr_skip_test("no pseudo-terminal here (openpty: %s)", strerror(errno));
    char gate[64];
    snprintf(gate, sizeof(gate), "/tmp/rayc-progress-tty-%d", (int)getpid());
    cr_assert(gate_make(gate));
    ray_ref r = pg_gated_remote(7, gate);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, open_later, gate), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(slave, STDERR_FILENO);
    ray_err e = ray_wait_progress(&r, 1, "tty", RAY_FOREVER);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(slave);
    pthread_join(th, NULL);
    cr_assert_eq(e, RAY_OK, "%s", ray_last_error_detail());
    char buf[4096];
    size_t n = 0;
    struct pollfd pfd = {.fd = master, .events = POLLIN};
    while (n + 1 < sizeof(buf) && poll(&pfd, 1, 200) > 0) {
        ssize_t k = read(master, buf + n, sizeof(buf) - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    close(master);
    cr_assert_not_null(strstr(buf, "tty: [....................] 0/1"),
                       "drawn while waiting: '%s'", buf);
    cr_assert_not_null(strstr(buf, "tty: [####################] 1/1 100%"),
                       "the final state: '%s'", buf);
    ray_ref_release(r);
    unlink(gate);
}

Test(progress, bad_arguments)
{
    cr_assert_eq(ray_wait_progress(NULL, 3, "x", 0), RAY_EINVAL);
    cr_assert_eq(ray_wait_progress(NULL, 0, "x", 0), RAY_OK,
                 "nothing to wait for");
}

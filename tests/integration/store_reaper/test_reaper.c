/* SPDX-License-Identifier: Apache-2.0
 *
 * Integration tests of the node store's reaper (objectstore/
 * node_store.c), with a real rayc program (reaper_driver, which links
 * libray) started as a separate process:
 *   - the environment never turns a rayc program into the reaper: its
 *     main() runs and no directory is touched, with or without the
 *     reaper's argv[0];
 *   - a process started with the reaper's argv[0] and a forged spec memfd
 *     deletes nothing unless the directory holds the matching token;
 *   - a SIGKILL to the driver's whole process group (what `timeout -s
 *     KILL` and batch schedulers send) still leaves no rayc-* directory:
 *     the reaper lives in a session of its own.
 * Every wait is bounded by a count of polls; every child is reaped.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "objectstore/node_store.h"

extern char **environ;

TestSuite(reaper, .timeout = 60);

/* ---- helpers ---- */

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The helper binary: next to this test in the same output directory. */
static void
helper_path(char *buf, size_t len)
{
    char self[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    cr_assert_gt(n, 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    cr_assert_not_null(slash);
    *slash = '\0';
    snprintf(buf, len, "%s/reaper_driver", self);
    cr_assert_eq(access(buf, X_OK), 0, "helper %s not found", buf);
}

/* A fresh rayc-* directory (0700) with one file in it. */
static void
make_rayc_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/rayc-reapertest-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char f[PATH_MAX];
    snprintf(f, sizeof(f), "%s/store.sock", dir);
    int fd = open(f, O_WRONLY | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
}

static bool
exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void
remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char sub[PATH_MAX];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
        unlink(sub);
    }
    closedir(d);
    rmdir(dir);
}

/* Wait for `pid` at most `polls` x 10 ms; returns its status, -1 if it
 * is still running (it is then killed and reaped). */
static int
reap(pid_t pid, int polls)
{
    for (int i = 0; i < polls; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Read what `fd` yields until EOF (at most len-1 bytes, 10 s). */
static void
read_all(int fd, char *buf, size_t len)
{
    size_t n = 0;
    for (int i = 0; i < 1000 && n < len - 1; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) != 1)
            continue;
        ssize_t r = read(fd, buf + n, len - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
}

typedef struct spawn_opts {
    const char *argv0; /* NULL: the helper's path */
    const char *mode;  /* argv[1] */
    const char *env;   /* one extra "NAME=value", or NULL */
    int spec_fd;       /* dup'ed to STORE_REAPER_SPEC_FD, or -1: /dev/null */
    int pipe_fd;       /* dup'ed to STORE_REAPER_PIPE_FD, or -1: /dev/null */
    bool own_group;    /* a process group of its own */
} spawn_opts;

/* Start the helper; its stdout is a pipe whose read end goes to *out. */
static pid_t
spawn_helper(const spawn_opts *o, int *out)
{
    char path[PATH_MAX + 32];
    helper_path(path, sizeof(path));
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    if (o->spec_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, o->spec_fd, STORE_REAPER_SPEC_FD);
    else
        posix_spawn_file_actions_addopen(&fa, STORE_REAPER_SPEC_FD, "/dev/null",
                                         O_RDONLY, 0);
    if (o->pipe_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, o->pipe_fd, STORE_REAPER_PIPE_FD);
    else
        posix_spawn_file_actions_addopen(&fa, STORE_REAPER_PIPE_FD, "/dev/null",
                                         O_RDONLY, 0);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    if (o->own_group) {
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&at, 0);
    }
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof(char *));
    cr_assert_not_null(envp);
    memcpy(envp, environ, n * sizeof(char *));
    envp[n] = (char *)o->env;
    char *argv[] = {(char *)(o->argv0 ? o->argv0 : path), (char *)o->mode,
                    NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(p[1]);
    cr_assert_eq(rc, 0, "posix_spawn: %s", strerror(rc));
    *out = p[0];
    return pid;
}

/* Run the helper in probe mode; assert main() ran and it exited 0. */
static void
expect_main_runs(const spawn_opts *o)
{
    int out;
    pid_t pid = spawn_helper(o, &out);
    char buf[256];
    read_all(out, buf, sizeof(buf));
    close(out);
    int st = reap(pid, 1000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "helper status %d (argv0 %s, env %s)", st,
              o->argv0 ? o->argv0 : "-", o->env ? o->env : "-");
    cr_assert(strstr(buf, "main ran"), "main did not run: '%s'", buf);
}

/* A memfd named like the reaper's, holding `spec`. */
static int
spec_memfd(const char *spec)
{
    int fd = memfd_create(STORE_REAPER_MEMFD_NAME, MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, spec, strlen(spec)), (ssize_t)strlen(spec));
    return fd;
}

#define TOKEN_A                                                                \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TOKEN_B                                                                \
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static void
write_token(const char *dir, const char *token)
{
    char f[PATH_MAX];
    snprintf(f, sizeof(f), "%s/" STORE_REAPER_TOKEN_FILE, dir);
    int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, token, strlen(token)), (ssize_t)strlen(token));
    close(fd);
}

/* ---- the environment never makes a reaper ---- */

Test(reaper, environment_alone_never_turns_a_program_into_the_reaper)
{
    char dir[64], env[128];
    make_rayc_dir(dir, sizeof(dir));
    /* The old trigger, in each shape it took, and the old descriptor. */
    const int fds[] = {4, 3, 0};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        snprintf(env, sizeof(env), "RAYC_STORE_REAPER=%d:%s", fds[i], dir);
        spawn_opts o = {
            .mode = "probe", .env = env, .spec_fd = -1, .pipe_fd = -1};
        expect_main_runs(&o);
        /* Even with the reaper's argv[0], without its memfd. */
        o.argv0 = STORE_REAPER_ARGV0;
        expect_main_runs(&o);
        cr_assert(exists(dir), "the environment deleted %s", dir);
    }
    /* A descriptor 3 that is a memfd of another name is not the spec. */
    int fd = memfd_create("not-the-reaper", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    spawn_opts o = {.argv0 = STORE_REAPER_ARGV0,
                    .mode = "probe",
                    .env = env,
                    .spec_fd = fd,
                    .pipe_fd = -1};
    expect_main_runs(&o);
    close(fd);
    cr_assert(exists(dir));
    remove_dir(dir);
}

Test(reaper, forged_spec_deletes_only_a_directory_holding_its_token)
{
    char dir[64];
    make_rayc_dir(dir, sizeof(dir));
    char spec[256];
    snprintf(spec, sizeof(spec), "v1\n%s\n%s\n", dir, TOKEN_A);
    /* No token file, then the wrong token: refused, nothing deleted. */
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            write_token(dir, TOKEN_B);
        int mfd = spec_memfd(spec);
        int p[2];
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        spawn_opts o = {.argv0 = STORE_REAPER_ARGV0,
                        .mode = "probe",
                        .spec_fd = mfd,
                        .pipe_fd = p[0]};
        int out;
        pid_t pid = spawn_helper(&o, &out);
        close(mfd);
        close(p[0]);
        int st = reap(pid, 1000); /* exits at once, pipe still open */
        close(p[1]);
        close(out);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 120,
                  "round %d: status %d", round, st);
        cr_assert(exists(dir), "round %d: %s was deleted", round, dir);
    }
    /* The matching token: the reaper waits for its pipe to close, then
     * removes the directory (what a real driver's death does). */
    write_token(dir, TOKEN_A);
    int mfd = spec_memfd(spec);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    spawn_opts o = {.argv0 = STORE_REAPER_ARGV0,
                    .mode = "probe",
                    .spec_fd = mfd,
                    .pipe_fd = p[0]};
    int out;
    pid_t pid = spawn_helper(&o, &out);
    close(mfd);
    close(p[0]);
    close(out);
    cr_assert(exists(dir), "deleted before its pipe closed");
    close(p[1]);
    int st = reap(pid, 1000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_not(exists(dir), "the reaper left %s", dir);
}

/* ---- a group kill of the driver ---- */

static int
count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* The store directories of driver `pid` (in /tmp and in TMPDIR). */
static int
count_store_dirs(pid_t pid)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "rayc-%d-", (int)pid);
    const char *t = getenv("TMPDIR");
    int n = count_entries("/tmp", prefix);
    if (t && strcmp(t, "/tmp") != 0)
        n += count_entries(t, prefix);
    return n;
}

Test(reaper, sigkill_to_the_drivers_process_group_leaves_no_directory)
{
    spawn_opts o = {
        .mode = "driver", .spec_fd = -1, .pipe_fd = -1, .own_group = true};
    int out;
    pid_t drv = spawn_helper(&o, &out);
    /* Bounded: ray_init and the store's start, under ASan, on 2 cores. */
    char buf[64] = "";
    size_t n = 0;
    for (int i = 0; i < 3000 && !strchr(buf, '\n'); i++) {
        struct pollfd p = {.fd = out, .events = POLLIN};
        if (poll(&p, 1, 10) == 1) {
            ssize_t r = read(out, buf + n, sizeof(buf) - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            buf[n] = '\0';
        }
    }
    close(out);
    if (strncmp(buf, "ready", 5) != 0) {
        kill(-drv, SIGKILL);
        waitpid(drv, NULL, 0);
        cr_assert_fail("the driver did not start: '%s'", buf);
    }
    cr_assert_eq(count_store_dirs(drv), 1, "the store's private directory");
    /* What `timeout -s KILL` or a scheduler does: the whole group. */
    cr_assert_eq(kill(-drv, SIGKILL), 0);
    int st;
    cr_assert_eq(waitpid(drv, &st, 0), drv);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int left = 1;
    for (int i = 0; i < 1000 && left; i++) { /* up to 10 s */
        left = count_store_dirs(drv);
        if (left)
            sleep_ms(10);
    }
    cr_assert_eq(left, 0, "the store directory outlived a group kill");
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * test_launch.c: `rayc start --mpi` under a real Open MPI mpirun (and
 * `--slurm` under a real Slurm, below) on this machine: every rank a node
 * on its own loopback address (127.0.0.7{rank}), rank 0 the head and the
 * driver's node, the driver (launch_driver) reaching all of them, the
 * job's exit status the driver's, and nothing left running afterwards.
 * Skipped, saying why, when mpirun is not installed. Each run is bounded
 * (120 s, then the whole process group is killed) and the teardown kills
 * anything that carries this test's temp dir in its environment.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/common/cluster.h"

extern char **environ;

static rc_cluster C;
static char driver[PATH_MAX];

/* Processes whose environment names our temp dir (every process a run
 * started inherits it): how many, and SIGKILL them when `kill_them`. */
static int
ours(bool kill_them)
{
    char want[PATH_MAX + 32];
    size_t wl = (size_t)snprintf(want, sizeof(want), "RAYC_TEMP_DIR=%s", C.tmp);
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        pid_t pid = atoi(e->d_name);
        if (pid <= 0 || pid == getpid())
            continue;
        char path[64], buf[65536];
        snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t k = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
        if (fd >= 0)
            close(fd);
        for (ssize_t i = 0; i + (ssize_t)wl <= k;) {
            if (!memcmp(buf + i, want, wl) &&
                (i + (ssize_t)wl == k || buf[i + (ssize_t)wl] == 0)) {
                n++;
                if (kill_them)
                    kill(pid, SIGKILL);
                break;
            }
            i += (ssize_t)strnlen(buf + i, (size_t)(k - i)) + 1;
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* Run argv (its own process group) with its output in TMP/out, 120 s at
 * most: its exit status, or -1 (killed at the limit). */
static int
run(char *const *argv)
{
    char out[PATH_MAX + 8];
    snprintf(out, sizeof(out), "%s/out", C.tmp);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    cr_assert_eq(rc, 0, "cannot start %s", argv[0]);
    int st = 0;
    for (int i = 0; i < 1200; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Nothing of the run is left (10 s for the nodes to stop). */
static int
left_after_run(void)
{
    int n = 0;
    for (int i = 0; i < 100 && (n = ours(false)) > 0; i++) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    return n;
}

static void
setup(void)
{
    cr_assert(rc_open(&C, "launchtest"));
    /* launch_driver, beside this test in the runfiles */
    const char *src = getenv("TEST_SRCDIR"), *ws = getenv("TEST_WORKSPACE");
    snprintf(driver, sizeof(driver),
             "%s/%s/tests/integration/launch/launch_driver", src ? src : ".",
             ws ? ws : "rayc");
    if (access(driver, X_OK) != 0)
        snprintf(driver, sizeof(driver),
                 "bazel-bin/tests/integration/launch/launch_driver");
    cr_assert_eq(access(driver, X_OK), 0, "no launch_driver at %s", driver);
    setenv("TMPDIR", C.tmp, 1); /* Open MPI's session files */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_btl", "self,tcp", 1); /* no shared-memory BTL setup */
}

static void
teardown(void)
{
    ours(true);
    rc_close(&C);
}

TestSuite(launch, .init = setup, .fini = teardown, .timeout = 300);

static bool
have_mpirun(void)
{
    return system("command -v mpirun >/dev/null 2>&1") == 0;
}

static char *const *
mpi_argv(const char *prog, const char *arg)
{
    static char td[PATH_MAX + 16];
    static char *argv[24];
    snprintf(td, sizeof(td), "--temp-dir=%s", C.tmp);
    char *const v[] = {"mpirun",
                       "--oversubscribe",
                       "-np",
                       "3",
                       C.rayc,
                       "start",
                       "--mpi",
                       "--node-ip-address=127.0.0.7{rank}",
                       "--num-cpus=1",
                       "--dashboard-port=-1",
                       td,
                       "--",
                       (char *)prog,
                       (char *)arg,
                       NULL};
    memcpy(argv, v, sizeof(v));
    return argv;
}

/* Three ranks, three nodes: the driver's calls run on every one. */
Test(launch, mpirun_makes_a_cluster_of_its_ranks_and_runs_the_driver)
{
    if (!have_mpirun())
        cr_skip_test("mpirun is not installed (Debian: openmpi-bin)");
    int rc = run(mpi_argv(driver, "3"));
    const char *out = rc_out(&C);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "rayc: 3 nodes up"), "%s", out);
    cr_assert(strstr(out, "24 of 24 calls, 3 nodes:") &&
                  strstr(out, "driver") && strstr(out, "127.0.0.71") &&
                  strstr(out, "127.0.0.72"),
              "%s", out);
    cr_assert_eq(left_after_run(), 0, "processes left after the job");
}

/* The job's status is the driver's, and the nodes stop all the same. */
Test(launch, an_mpi_job_ends_with_its_drivers_status)
{
    if (!have_mpirun())
        cr_skip_test("mpirun is not installed (Debian: openmpi-bin)");
    int rc = run(mpi_argv("sh", "-c") /* "sh -c" with no command: 2 */);
    cr_assert_eq(rc, 2, "%s", rc_out(&C));
    cr_assert_eq(left_after_run(), 0, "processes left after the job");
}

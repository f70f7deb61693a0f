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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/common/cluster.h"

extern char **environ;

static rc_cluster C;
static char driver[PATH_MAX];

/* A file of this test's runfiles (or under the workspace when run by
 * hand from its root) into out. */
static void
runfile(const char *rel, char *out, size_t len)
{
    const char *src = getenv("TEST_SRCDIR"), *ws = getenv("TEST_WORKSPACE");
    snprintf(out, len, "%s/%s/%s", src ? src : ".", ws ? ws : "rayc", rel);
    if (access(out, F_OK) != 0)
        snprintf(out, len, "%s%s",
                 strstr(rel, "launch_driver") ? "bazel-bin/" : "", rel);
}

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

/* Run argv, 120 s at most (rc_run). */
static int
run(char *const *argv)
{
    int rc = rc_run(&C, argv, 120);
    cr_assert_neq(rc, -1, "%s did not start, or ran past 120 s", argv[0]);
    return rc;
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

static char lab[PATH_MAX + 16]; /* the Slurm lab's dir, once up */

static void
teardown(void)
{
    if (lab[0]) {
        char cmd[3 * PATH_MAX];
        char script[PATH_MAX];
        runfile("tests/integration/launch/slurm_lab.sh", script,
                sizeof(script));
        snprintf(cmd, sizeof(cmd), "timeout 60 '%s' down '%s'", script, lab);
        if (system(cmd) != 0)
            fprintf(stderr, "test_launch: the Slurm lab's teardown failed\n");
        lab[0] = 0;
    }
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

/* ---- Slurm ---- */

/* Start the Slurm lab (slurm_lab.sh: munged, slurmctld, three slurmd on
 * 127.0.0.81-83), or skip saying why it cannot run here. */
static void
slurm_up(void)
{
    if (system("command -v slurmctld && command -v slurmd && command -v srun "
               "&& command -v munged && command -v mungekey >/dev/null") != 0)
        cr_skip_test("Slurm is not installed (Debian: slurm-wlm munge)");
    if (geteuid() != 0)
        cr_skip_test("the Slurm lab runs its daemons as root; this is uid %d",
                     (int)geteuid());
    char script[PATH_MAX], cmd[3 * PATH_MAX];
    runfile("tests/integration/launch/slurm_lab.sh", script, sizeof(script));
    /* Not under the test's 0700 temp dir: munged wants every directory
     * above its socket open to all. */
    snprintf(lab, sizeof(lab), "/tmp/rayc-slurmlab-XXXXXX");
    cr_assert(mkdtemp(lab), "mkdtemp: %s", strerror(errno));
    /* The daemons without this test's marks (RAYC_TEMP_DIR: what ours()
     * looks for); the jobs get them from srun. */
    snprintf(cmd, sizeof(cmd),
             "env -u RAYC_TEMP_DIR -u RAYC_TOKEN_FILE timeout 90 '%s' up '%s' "
             ">&2",
             script, lab);
    cr_assert_eq(system(cmd), 0, "the Slurm lab did not come up");
    char conf[PATH_MAX + 32];
    snprintf(conf, sizeof(conf), "%s/etc/slurm.conf", lab);
    setenv("SLURM_CONF", conf, 1);
}

/* A free port on 127.0.0.81 for the head. */
static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(0x7f000051);
    socklen_t l = sizeof(a);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* srun of three tasks on three Slurm nodes: each a node at its NodeAddr,
 * the driver on the first; the step ends with nothing left. */
static void
srun_a_step(void)
{
    char port[32], td[PATH_MAX + 16];
    snprintf(port, sizeof(port), "--port=%d", free_port());
    snprintf(td, sizeof(td), "--temp-dir=%s", C.tmp);
    char *const argv[] = {"srun",  "-N3",     "-n3",  C.rayc,
                          "start", "--slurm", port,   "--dashboard-port=-1",
                          td,      "--",      driver, "3",
                          NULL};
    int rc = run(argv);
    const char *out = rc_out(&C);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "rayc: 3 nodes up, head at 127.0.0.81:"), "%s", out);
    cr_assert(strstr(out, "24 of 24 calls, 3 nodes:") &&
                  strstr(out, "127.0.0.82") && strstr(out, "127.0.0.83"),
              "%s", out);
    cr_assert_eq(left_after_run(), 0, "processes left after the step");
}

/* examples/slurm/rayc.sbatch as a batch job of three nodes: the job's
 * output holds the driver's, and its status is the driver's. */
static void
sbatch_the_example(void)
{
    char script[PATH_MAX], flags[PATH_MAX + 64], o[PATH_MAX + 16];
    runfile("examples/slurm/rayc.sbatch", script, sizeof(script));
    snprintf(flags, sizeof(flags),
             "--port=%d --dashboard-port=-1 --temp-dir=%s", free_port(), C.tmp);
    setenv("RAYC", C.rayc, 1);
    setenv("RAYC_FLAGS", flags, 1);
    snprintf(o, sizeof(o), "--output=%s/job.out", C.tmp);
    char *const argv[] = {"sbatch", "--wait", "-N3", o,
                          script,   driver,   "3",   NULL};
    int rc = run(argv);
    cr_assert_eq(rc, 0, "%s", rc_out(&C));
    char path[PATH_MAX + 16], text[4096] = "";
    snprintf(path, sizeof(path), "%s/job.out", C.tmp);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = 0;
    cr_assert(strstr(text, "24 of 24 calls, 3 nodes:"), "%s", text);
    cr_assert_eq(left_after_run(), 0, "processes left after the job");
    /* The driver's status is the job's. */
    char *const bad[] = {"sbatch", "--wait", "-N3",    o,   script,
                         "sh",     "-c",     "exit 5", NULL};
    cr_assert_neq(run(bad), 0, "%s", rc_out(&C));
    snprintf(path, sizeof(path), "%s/job.out", C.tmp);
    cr_assert_eq(left_after_run(), 0, "processes left after the job");
}

/* One Slurm lab for both (the tests of a file may run at once, and the
 * lab's ports are fixed). */
Test(launch, slurm_runs_the_cluster_by_srun_and_by_the_sbatch_example)
{
    slurm_up();
    srun_a_step();
    sbatch_the_example();
}

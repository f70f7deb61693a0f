/* SPDX-License-Identifier: Apache-2.0
 *
 * launch_bench.c: the `launch` group: how long a batch system's job
 * takes to become a rayc cluster that answers. On this one machine: a
 * real Slurm of three nodes (tests/integration/launch/slurm_lab.sh, up
 * once for the group) and Open MPI's mpirun with three ranks, each rank a
 * node on its own loopback address.
 *
 *   slurm_cluster_ready_s  srun of `rayc start --slurm -- launch_driver 3`
 *                          -> the driver's first result (median of 5)
 *   limit_slurm_step_s     srun -N3 -n3 true: Slurm's own step, start to end
 *   mpi_cluster_ready_s    the same under mpirun --mpi
 *   limit_mpi_job_s        mpirun -np 3 true
 *
 * A launcher that is not installed (or a Slurm lab that needs root) is
 * skipped with a line saying so.
 */
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

#include "bench/bench.h"
#include "tests/integration/common/cluster.h"

extern char **environ;

enum { RUNS = 5 };

static rc_cluster C;

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Run argv (rc_run, 120 s at most): the seconds it took, or -1 (it
 * failed, or ran past the limit). */
static double
timed(char *const *argv)
{
    int64_t t0 = now_ns();
    return rc_run(&C, argv, 120) == 0 ? (now_ns() - t0) / 1e9 : -1;
}

/* Run a launch of launch_driver: from the start to its first result, in
 * seconds, or -1. */
static double
ready(char *const *argv)
{
    int64_t t0 = now_ns();
    if (timed(argv) < 0) {
        fprintf(stderr, "launch: %s failed: %s\n", argv[0], rc_out(&C));
        return -1;
    }
    const char *at = strstr(rc_out(&C), "first result at ");
    return at ? (strtoll(at + 16, NULL, 10) - t0) / 1e9 : -1;
}

/* The median of RUNS of f(argv), printed as `name`; the median, or -1. */
static double
median_of(const char *name, double (*f)(char *const *), char *const *argv)
{
    double v[RUNS];
    for (int i = 0; i < RUNS; i++)
        if ((v[i] = f(argv)) < 0)
            return -1;
    double m = bench_median(v, RUNS);
    bench_print(name, m, "s");
    return m;
}

static bool
have(const char *cmd)
{
    char c[256];
    snprintf(c, sizeof(c), "command -v %s >/dev/null 2>&1", cmd);
    return system(c) == 0;
}

static void
slurm(const char *driver, const char *td)
{
    const char *script = "tests/integration/launch/slurm_lab.sh";
    if (!have("srun") || !have("slurmctld") || geteuid() != 0 ||
        access(script, X_OK) != 0) {
        fprintf(stderr,
                "launch: slurm skipped (needs slurm-wlm, munge, root "
                "and %s)\n",
                script);
        return;
    }
    char lab[] = "/tmp/rayc-slurmlab-XXXXXX", cmd[PATH_MAX * 2], conf[128];
    if (!mkdtemp(lab))
        return;
    snprintf(cmd, sizeof(cmd), "env -u RAYC_TEMP_DIR timeout 90 %s up %s >&2",
             script, lab);
    if (system(cmd) == 0) {
        snprintf(conf, sizeof(conf), "%s/etc/slurm.conf", lab);
        setenv("SLURM_CONF", conf, 1);
        char *const step[] = {"srun", "-N3", "-n3", "true", NULL};
        char *const run[] = {
            "srun",     "-N3",     "-n3",          C.rayc,
            "start",    "--slurm", "--port=16899", "--dashboard-port=-1",
            (char *)td, "--",      (char *)driver, "3",
            NULL};
        double lim = median_of("limit_slurm_step_s", timed, step);
        double got = median_of("slurm_cluster_ready_s", ready, run);
        if (lim > 0 && got > 0)
            bench_print("slurm_cluster_ready_vs_step", got / lim, "x");
        unsetenv("SLURM_CONF");
    } else {
        fprintf(stderr, "launch: the Slurm lab did not come up\n");
    }
    snprintf(cmd, sizeof(cmd), "timeout 60 %s down %s >&2", script, lab);
    if (system(cmd) != 0)
        fprintf(stderr, "launch: the Slurm lab's teardown failed\n");
}

static void
mpi(const char *driver, const char *td)
{
    if (!have("mpirun")) {
        fprintf(stderr, "launch: mpi skipped (needs openmpi-bin)\n");
        return;
    }
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_btl", "self,tcp", 1);
    char *const job[] = {"mpirun", "--oversubscribe", "-np", "3", "true", NULL};
    char *const run[] = {"mpirun",
                         "--oversubscribe",
                         "-np",
                         "3",
                         C.rayc,
                         "start",
                         "--mpi",
                         "--node-ip-address=127.0.0.7{rank}",
                         "--dashboard-port=-1",
                         (char *)td,
                         "--",
                         (char *)driver,
                         "3",
                         NULL};
    double lim = median_of("limit_mpi_job_s", timed, job);
    double got = median_of("mpi_cluster_ready_s", ready, run);
    if (lim > 0 && got > 0)
        bench_print("mpi_cluster_ready_vs_job", got / lim, "x");
}

void
bench_group_launch(void)
{
    const char *driver = getenv("RAYC_LAUNCH_DRIVER");
    if (!driver)
        driver = "tests/integration/launch/launch_driver";
    if (access(driver, X_OK) != 0 || !rc_open(&C, "launchbench")) {
        fprintf(stderr, "launch: skipped (no %s, or no rayc)\n", driver);
        return;
    }
    char abs[PATH_MAX], td[PATH_MAX + 16];
    if (!realpath(driver, abs))
        snprintf(abs, sizeof(abs), "%s", driver);
    snprintf(td, sizeof(td), "--temp-dir=%s", C.tmp);
    setenv("TMPDIR", C.tmp, 1);
    slurm(abs, td);
    mpi(abs, td);
    rc_close(&C);
}

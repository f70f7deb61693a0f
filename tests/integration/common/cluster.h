/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster.h: a loopback cluster of real processes for tests and the
 * cluster benchmark, started and stopped with the rayc program in a temp
 * dir of its own (its own token, logs, pid files), so that a test's
 * cluster never meets another's.
 *
 *   rc_cluster c;
 *   rc_open(&c, "test");                     temp dir, token, environment
 *   rc_rayc(&c, "start", "--head", "--port=0", NULL);
 *   rc_read_head(&c);                        c.head = "127.0.0.1:PORT"
 *   ...
 *   rc_close(&c);                            rayc stop, SIGKILL the rest,
 *                                            rm -rf the temp dir
 */
#ifndef RAY_TESTS_COMMON_CLUSTER_H
#define RAY_TESTS_COMMON_CLUSTER_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct rc_cluster {
    char rayc[PATH_MAX]; /* the rayc program */
    char tmp[PATH_MAX];  /* its temp dir ("" before rc_open) */
    char head[128];      /* the GCS's host:port, after rc_read_head */
    char nft[48];        /* an nftables table of its faults, or "" */
} rc_cluster;

/* Find rayc (RAYC_BIN, Bazel's runfiles, or beside this program under
 * bazel-bin), make a fresh /tmp/rayc-<what>-XXXXXX and point
 * RAYC_TEMP_DIR and RAYC_TOKEN_FILE there. False (why on stderr) when
 * rayc is not there or the dir cannot be made. */
bool rc_open(rc_cluster *c, const char *what);

/* Delete the nftables table c->nft names (the chaos run's network
 * faults), if any: its rules go with it. rc_close does it too. */
void rc_net_down(rc_cluster *c);

/* Run `rayc a1 ... NULL --temp-dir=TMP`; its output goes to TMP/out
 * (rc_out). The exit status, or -1. */
int rc_rayc(rc_cluster *c, const char *a1, ...);

/* Run argv (PATH searched) in a process group of its own, its output in
 * TMP/out (rc_out), for limit_s seconds at most: its exit status (128 +
 * the signal that ended it), or -1 when it could not start or ran past
 * the limit (its whole group is then killed). */
int rc_run(rc_cluster *c, char *const *argv, int limit_s);

/* What the last rc_rayc printed (a static buffer, 16 KiB at most). */
const char *rc_out(const rc_cluster *c);

/* Read TMP/head_address into c->head. */
bool rc_read_head(rc_cluster *c);

/* The pid of the daemon whose pid file names `ip` (or "head"), or 0. */
pid_t rc_daemon_pid(const rc_cluster *c, const char *ip);

/* The daemons' logs hold no sanitizer report (those found go to
 * stderr). */
bool rc_logs_clean(const rc_cluster *c);

/* rayc stop, SIGKILL of any daemon left, and the temp dir removed
 * (kept when RAYC_TEST_KEEP is set, to read its logs). */
void rc_close(rc_cluster *c);

/* `root` and every process below it (from /proc), into out (at most
 * max): how many. */
int rc_tree(pid_t root, pid_t *out, int max);

/* Send `sig` to `root` and every process below it (SIGSTOP: a node hung
 * whole, its raylet, agents and workers). */
void rc_signal_tree(pid_t root, int sig);

#endif /* RAY_TESTS_COMMON_CLUSTER_H */

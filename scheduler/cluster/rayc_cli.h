/* SPDX-License-Identifier: Apache-2.0
 *
 * rayc_cli.h: what the `rayc` program's commands share (rayc.c, and
 * rayc_logs.c for `rayc logs`): the parsed flags and the cluster as the
 * head describes it.
 */
#ifndef RAY_SCHEDULER_CLUSTER_RAYC_CLI_H
#define RAY_SCHEDULER_CLUSTER_RAYC_CLI_H

#include <limits.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/net.h"
#include "runtime/text.h"
#include "scheduler/cluster/status.h"

typedef struct opts {
    bool head, block;
    bool mpi, slurm; /* rayc start: a node per rank (rayc_launch.c) */
    char **prog;     /* ... and after --, the driver rank 0 runs */
    int nprog;
    const char *address, *ip, *resources, *temp_dir, *token_file, *format;
    const char *filter;  /* rayc list: KEY=VALUE */
    bool logs;           /* rayc logs: FILE may follow */
    const char *node;    /* rayc logs: --node */
    const char *file;    /* rayc logs: FILE */
    long tail;           /* rayc logs: --tail lines */
    long pid;            /* rayc logs: --pid, a worker's lines */
    const char *output;  /* rayc timeline: --output */
    const char *storage; /* head: --storage */
    char storage_buf[PATH_MAX];
    long port, raylet_port, num_cpus, dashboard_port;
    bool port_set; /* --port given */
    unsigned long long store;
    char tmp[PATH_MAX];
} opts;

/* The cluster as the head says it (for status, list and logs), and the
 * token it took into tok: false after saying why on stderr. */
bool rayc_view(const opts *o, const char *cmd, cl_view *v,
               uint8_t tok[RT_TOKEN_LEN]);

/* The head's host:port: --address, RAY_ADDRESS, or the head started on
 * this machine (<temp dir>/head_address); false when none. */
bool rayc_head_address(const opts *o, char *out, size_t len);

/* What every connected driver answered to a request (rayc_ask.c): the
 * drivers the head lists (kv "job", keys "IP:PID"), and each one's
 * answer, NULL where none came. */
typedef struct rayc_answers {
    char addr[256]; /* the head's */
    Ray__Rpc__KvListReply *jobs;
    Ray__Rpc__KvGetReply **got;
    size_t n, have;
} rayc_answers;

#define RAYC_ASK_WAIT_MS 10000

/* Ask every connected driver `what` ("timeline", "tasks", "objects")
 * and wait up to RAYC_ASK_WAIT_MS for their answers, naming on stderr
 * any that did not come (and, with `hint` after it, saying so when no
 * driver is connected: a->n 0). 0 and *a (rayc_answers_free it), or 1
 * after saying why on stderr. */
int rayc_ask(const opts *o, const char *cmd, const char *what, const char *hint,
             rayc_answers *a);
void rayc_answers_free(rayc_answers *a);
/* Driver i's name ("IP:PID"). */
void rayc_answer_who(const rayc_answers *a, size_t i, char *out, size_t len);

/* main's argv (rayc_launch.c runs the program again with it). */
extern char **rayc_argv;

/* Start a node as o says, in a child process: detached (its own session,
 * as `rayc start`), or bound to this process (it gets SIGTERM when this
 * process ends). 0 once it registered, its "ok ID RAYLET GCS DASH" line
 * in line and its pid in *pid; 1 after saying why on stderr. */
int rayc_node_spawn(const opts *o, bool detach, pid_t *pid, char *line,
                    size_t llen);

/* rayc start --mpi|--slurm: one node per rank of a job, rank 0 the head,
 * the driver after -- run on rank 0, all stopped when it ends
 * (rayc_launch.c). The exit status. */
int rayc_cmd_launch(const opts *o);

/* The drivers running on this machine (their sockets under
 * <temp dir>/drivers) and what each answered to a request
 * (rayc_local.c). */
#define RAYC_LOCAL_MAX 64
typedef struct rayc_local_driver {
    int pid;
    rt_text text;
} rayc_local_driver;
typedef struct rayc_local {
    rayc_local_driver d[RAYC_LOCAL_MAX];
    size_t n;
} rayc_local;

/* Ask every driver here `req` ("status", "tasks", "objects"): how many
 * answered (rayc_local_free *out after). */
int rayc_local_drivers(const opts *o, const char *req, rayc_local *out);
void rayc_local_free(rayc_local *l);

/* rayc status without a cluster: the drivers on this machine. */
int rayc_local_status(const opts *o);

/* rayc timeline: the connected drivers' timelines, their agents' on the
 * other nodes included, merged into one Chrome trace (rayc_timeline.c).
 * The exit status. */
int rayc_cmd_timeline(const opts *o);

/* rayc logs: list every alive node's log files, or print the last lines
 * of one node's (rayc_logs.c). The exit status. */
int rayc_cmd_logs(const opts *o);

#endif /* RAY_SCHEDULER_CLUSTER_RAYC_CLI_H */

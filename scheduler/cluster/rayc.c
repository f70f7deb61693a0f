/* SPDX-License-Identifier: Apache-2.0
 *
 * rayc.c: the `rayc` program: start and stop a cluster's daemons on this
 * machine, and show the cluster's nodes (Ray's verbs and flags).
 *
 *   rayc start --head [--port=6379] [--node-ip-address=IP] ...
 *   rayc start --address=HEAD:PORT [--node-ip-address=IP] ...
 *   rayc start --mpi|--slurm [...] [-- PROGRAM ARGS]   (rayc_launch.c)
 *   rayc status [--address=HEAD:PORT] [--format=json]
 *   rayc list nodes|actors|jobs|tasks|objects|placement-groups
 *             [--filter KEY=VALUE]
 *             [--format=json]
 *   rayc logs [--node=ID|IP[:PORT]] [FILE] [--tail=N] | --pid=N
 *   rayc timeline [--output=FILE]
 *   rayc stop
 *
 * `start` runs a node (node.h) detached, logging under the temp dir, and
 * returns once the node registered with the head, or fails with the
 * reason; --block keeps it in the foreground. Every daemon this machine
 * started is listed under <temp dir>/pids, which `stop` reads. `logs`
 * is in rayc_logs.c, `timeline` in rayc_timeline.c.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/files.h"
#include "runtime/log.h"
#include "runtime/ids.h"
#include "runtime/net.h"
#include "runtime/tls.h"
#include "scheduler/cluster/dashboard.h"
#include "scheduler/cluster/node.h"
#include "scheduler/cluster/node_logs.h"
#include "scheduler/cluster/rayc_cli.h"
#include "scheduler/cluster/status.h"

static _Atomic int g_stop;

static void
on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_stop, 1);
}

static int
usage(FILE *f)
{
    fprintf(f,
            "usage:\n"
            "  rayc start --head [--port=6379] [options]\n"
            "  rayc start --address=HEAD_IP:PORT [options]\n"
            "  mpirun -np N rayc start --mpi [options] [-- PROGRAM ARGS]\n"
            "  srun rayc start --slurm [options] [-- PROGRAM ARGS]\n"
            "  rayc status [--address=HEAD_IP:PORT] [--format=json]\n"
            "  rayc list nodes|actors|jobs|tasks|objects|placement-groups "
            "[--filter KEY=VALUE] [--format=json]\n"
            "  rayc logs [--node=ID|IP[:PORT]] [FILE] [--tail=N]\n"
            "  rayc logs --pid=N [--tail=N]      (a worker's or actor's "
            "output)\n"
            "  rayc timeline [--output=FILE]\n"
            "  rayc stop\n"
            "options:\n"
            "  --node-ip-address=IP     bind and advertise IP (default: a head "
            "127.0.0.1,\n"
            "                           a node the address it reaches the "
            "head from;\n"
            "                           --mpi/--slurm: {rank} in it is the "
            "rank)\n"
            "  --num-cpus=N             CPUs this node offers (default: all)\n"
            "  --resources=gpu=2,disk=4 custom resources (or "
            "'{\"gpu\":2}')\n"
            "  --object-store-memory=N  bytes for the node's object store\n"
            "  --raylet-port=N          the raylet's port (default: any)\n"
            "  --temp-dir=DIR           logs, pids, executables (default "
            "/tmp/rayc-UID)\n"
            "  --token-file=FILE        the cluster token (default "
            "~/.rayc/cluster-token)\n"
            "  --dashboard-port=N       head: metrics and a page over HTTP "
            "(default 8265;\n"
            "                           0: any free port; -1: none)\n"
            "  --storage=FILE|memory    head: where the GCS keeps what "
            "outlives it\n"
            "                           (default: SQLite in TEMP_DIR/gcs.db)\n"
            "  --block                  stay in the foreground\n"
            "logs options (with --address, --temp-dir, --token-file):\n"
            "  (no --node)              each alive node's log files: NODE  "
            "RAYLET  FILE  SIZE\n"
            "  --node=ID|IP[:PORT]      the last lines of that node's FILE "
            "(an id prefix of\n"
            "                           4+ hex digits; FILE default: its "
            "raylet's log)\n"
            "  --tail=N                 how many lines (default 1000)\n");
    return f == stderr ? 2 : 0;
}

static const char *
flag(const char *arg, const char *name)
{
    size_t l = strlen(name);
    if (strncmp(arg, name, l) == 0 && arg[l] == '=')
        return arg + l + 1;
    return NULL;
}

/* "gpu=2,disk=4", "gpu:2" or '{"gpu":2,"disk":4}' -> "gpu:2,disk:4". */
static bool
norm_resources(const char *in, char *out, size_t len)
{
    size_t k = 0;
    for (const char *p = in; *p; p++) {
        char ch = *p;
        if (ch == '{' || ch == '}' || ch == '"' || ch == ' ' || ch == '\'')
            continue;
        if (ch == '=')
            ch = ':';
        if (k + 1 >= len)
            return false;
        out[k++] = ch;
    }
    out[k] = 0;
    return k > 0 && strchr(out, ':');
}

/* --tail's value: a whole number of lines, 1 or more. */
static bool
parse_lines(const char *v, long *out)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 1)
        return false;
    *out = n;
    return true;
}

static int
parse(int argc, char **argv, int from, opts *o)
{
    static char res[512];
    o->port = 6379;
    o->dashboard_port = 8265;
    o->tail = 1000; /* as `ray logs` */
    for (int i = from; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--head"))
            o->head = true;
        else if (!strcmp(a, "--block"))
            o->block = true;
        else if (!strcmp(a, "--mpi"))
            o->mpi = true;
        else if (!strcmp(a, "--slurm"))
            o->slurm = true;
        else if (!strcmp(a, "--") && (o->mpi || o->slurm)) {
            o->prog = &argv[i + 1];
            o->nprog = argc - i - 1;
            break;
        } else if ((v = flag(a, "--address")))
            o->address = v;
        else if ((v = flag(a, "--node-ip-address")))
            o->ip = v;
        else if ((v = flag(a, "--port"))) {
            o->port = strtol(v, NULL, 10);
            o->port_set = true;
        } else if ((v = flag(a, "--dashboard-port")))
            o->dashboard_port = strtol(v, NULL, 10);
        else if ((v = flag(a, "--raylet-port")))
            o->raylet_port = strtol(v, NULL, 10);
        else if ((v = flag(a, "--num-cpus")))
            o->num_cpus = strtol(v, NULL, 10);
        else if ((v = flag(a, "--object-store-memory")))
            o->store = strtoull(v, NULL, 10);
        else if ((v = flag(a, "--temp-dir")))
            o->temp_dir = v;
        else if ((v = flag(a, "--token-file")))
            o->token_file = v;
        else if ((v = flag(a, "--format")))
            o->format = v;
        else if ((v = flag(a, "--storage")))
            o->storage = v;
        else if ((v = flag(a, "--filter")))
            o->filter = v;
        else if (!strcmp(a, "--filter") && i + 1 < argc)
            o->filter = argv[++i];
        else if ((v = flag(a, "--output")))
            o->output = v;
        else if ((v = flag(a, "--node")))
            o->node = v;
        else if ((v = flag(a, "--pid")))
            o->pid = strtol(v, NULL, 10);
        else if (!strcmp(a, "--node") && i + 1 < argc)
            o->node = argv[++i];
        else if ((v = flag(a, "--tail")) ||
                 (!strcmp(a, "--tail") && i + 1 < argc && (v = argv[++i]))) {
            if (!parse_lines(v, &o->tail)) {
                fprintf(stderr,
                        "rayc: --tail=%s: give a number of lines, "
                        "1 or more\n",
                        v);
                return 2;
            }
        } else if (o->logs && a[0] != '-' && !o->file)
            o->file = a;
        else if ((v = flag(a, "--resources"))) {
            if (!norm_resources(v, res, sizeof(res))) {
                fprintf(stderr,
                        "rayc: --resources=%s: expected name=amount "
                        "pairs\n",
                        v);
                return 2;
            }
            o->resources = res;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(stdout) + 100;
        else {
            fprintf(stderr, "rayc: unknown option '%s'\n", a);
            return usage(stderr);
        }
    }
    if (o->port < 0 || o->port > 65535 || o->raylet_port < 0 ||
        o->raylet_port > 65535 || o->num_cpus < 0 || o->dashboard_port < -1 ||
        o->dashboard_port > 65535) {
        fprintf(stderr, "rayc: a port must be 0 to 65535 (--dashboard-port "
                        "also -1) and --num-cpus >= 0\n");
        return 2;
    }
    if (!o->temp_dir) {
        const char *env = getenv("RAYC_TEMP_DIR");
        if (env && *env)
            snprintf(o->tmp, sizeof(o->tmp), "%s", env);
        else
            snprintf(o->tmp, sizeof(o->tmp), "/tmp/rayc-%u",
                     (unsigned)getuid());
        o->temp_dir = o->tmp;
    }
    if (!o->storage) {
        snprintf(o->storage_buf, sizeof(o->storage_buf), "%s/gcs.db",
                 o->temp_dir);
        o->storage = o->storage_buf;
    }
    return 0;
}

/* ---- start ---- */

typedef struct start_ctx {
    int fd; /* the pipe to `rayc start`, or -1 with --block */
    const opts *o;
    const uint8_t *tok;
    bool wrote_head_address; /* this head's: remove it at the end */
    dashboard *dash;         /* the head's HTTP endpoint, or NULL */
} start_ctx;

/* The head's dashboard, beside its GCS at `gcs` ("ip:port"): its
 * address into out ("ip:port"), or "-" when it does not run. */
static void
start_dashboard(start_ctx *s, const char *gcs, char *out, size_t len)
{
    char ip[RT_HOST_MAX], why[400];
    uint16_t port = 0, bound = 0;
    snprintf(out, len, "-");
    if (s->o->dashboard_port < 0 ||
        rt_addr_parse(gcs, ip, &port, why, sizeof(why)) != RAY_OK)
        return;
    if (dashboard_start(ip, (uint16_t)s->o->dashboard_port, gcs, s->tok,
                        &s->dash, &bound, why, sizeof(why)) != RAY_OK) {
        RT_WARN("rayc: no dashboard: %s", why);
        return;
    }
    snprintf(out, len, "%s:%u", ip, bound);
    char path[PATH_MAX], line[96];
    snprintf(path, sizeof(path), "%s/dashboard_address", s->o->temp_dir);
    snprintf(line, sizeof(line), "%s\n", out);
    rt_write_file(path, line);
}

static void
on_ready(void *arg, bool ok, const char *msg)
{
    start_ctx *s = arg;
    char line[512], dash[RT_HOST_MAX + 8] = "-";
    if (ok && s->o->head) {
        /* "<id> <raylet> <gcs>": "auto" finds the head through this. */
        const char *gcs = strrchr(msg, ' ');
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/head_address", s->o->temp_dir);
        snprintf(line, sizeof(line), "%s\n", gcs ? gcs + 1 : "");
        rt_write_file(path, line);
        s->wrote_head_address = true;
        if (gcs)
            start_dashboard(s, gcs + 1, dash, sizeof(dash));
    }
    snprintf(line, sizeof(line), "%s %s%s%s\n", ok ? "ok" : "error", msg,
             ok ? " " : "", ok ? dash : "");
    if (s->fd >= 0) {
        if (write(s->fd, line, strlen(line)) < 0)
            (void)0;
        close(s->fd);
        s->fd = -1;
    } else {
        fputs(line, stdout);
        fflush(stdout);
    }
}

/* Run the node; `log_file`: where its stderr goes, or NULL. */
static int
run_node(const opts *o, int ready_fd, const char *log_file)
{
    node_config cfg = {
        .head = o->head,
        .ip = o->ip,
        .gcs_port = (uint16_t)o->port,
        .gcs_address = o->address,
        .port = (uint16_t)o->raylet_port,
        .num_cpus = (int)o->num_cpus,
        .resources = o->resources,
        .object_store_bytes = o->store,
        .temp_dir = o->temp_dir,
        .storage = o->storage,
        .log_file = log_file,
    };
    start_ctx sc = {.fd = ready_fd, .o = o, .tok = cfg.token};
    cfg.ready = on_ready;
    cfg.ready_arg = &sc;
    char tpath[PATH_MAX], why[512];
    rt_token_path(o->token_file, tpath, sizeof(tpath));
    ray_err err =
        o->head ? rt_token_load_or_create(tpath, cfg.token, why, sizeof(why))
                : rt_token_load(tpath, cfg.token, why, sizeof(why));
    if (err == RAY_OK && rt_tls_on() && !rt_tls_ready(why, sizeof(why)))
        err = RAY_EINVAL; /* said now, not at each connection */
    if (err != RAY_OK) {
        char msg[700];
        snprintf(msg, sizeof(msg), "%s%s", why,
                 err == RAY_ENOTFOUND
                     ? " (copy the head's token file to this machine, or "
                       "pass --token-file)"
                     : "");
        on_ready(&sc, false, msg);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    char pids[PATH_MAX], pidf[PATH_MAX + 32], text[160];
    snprintf(pids, sizeof(pids), "%s/pids", o->temp_dir);
    rt_mkdir_p(pids, 0700);
    snprintf(pidf, sizeof(pidf), "%s/%d", pids, (int)getpid());
    snprintf(text, sizeof(text), "%s %s\n", o->head ? "head" : "node",
             o->ip ? o->ip : "127.0.0.1");
    rt_write_file(pidf, text);
    err = node_run(&cfg, &g_stop);
    unlink(pidf);
    if (sc.wrote_head_address) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/head_address", o->temp_dir);
        unlink(path);
    }
    if (sc.dash) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/dashboard_address", o->temp_dir);
        unlink(path);
        dashboard_stop(sc.dash);
    }
    if (o->head && err == RAY_OK && o->storage == o->storage_buf) {
        /* A head stopped on purpose ends its cluster: the default store
         * goes with it (a crashed one leaves it for the next head). */
        char path[PATH_MAX + 8];
        unlink(o->storage);
        snprintf(path, sizeof(path), "%s-wal", o->storage);
        unlink(path);
        snprintf(path, sizeof(path), "%s-shm", o->storage);
        unlink(path);
    }
    return err == RAY_OK ? 0 : 1;
}

int
rayc_node_spawn(const opts *o, bool detach, pid_t *out, char *line, size_t llen)
{
    int p[2];
    rt_mkdir_p(o->temp_dir, 0700);
    if (pipe(p) != 0) {
        perror("rayc: pipe");
        return 1;
    }
    fflush(stdout);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("rayc: fork");
        return 1;
    }
    if (pid == 0) {
        close(p[0]);
        if (detach)
            setsid();
        else if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(1); /* its launcher is gone already */
        char logs[PATH_MAX], log[PATH_MAX + 64];
        snprintf(logs, sizeof(logs), "%s/logs", o->temp_dir);
        rt_mkdir_p(logs, 0700);
        node_logs_path(logs, o->head, o->ip ? o->ip : "127.0.0.1",
                       (int)getpid(), log, sizeof(log));
        int lf = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        if (lf >= 0) {
            dup2(lf, 1);
            dup2(lf, 2);
        }
        _exit(run_node(o, p[1], lf >= 0 ? log : NULL));
    }
    close(p[1]);
    size_t k = 0;
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    int64_t deadline = rt_deadline_after_ms(30000);
    while (k + 1 < llen && rt_deadline_left_ms(deadline) > 0 &&
           poll(&pf, 1, (int)rt_deadline_left_ms(deadline)) > 0) {
        ssize_t n = read(p[0], line + k, llen - 1 - k);
        if (n <= 0)
            break;
        k += (size_t)n;
    }
    line[k] = 0;
    close(p[0]);
    *out = pid;
    if (strncmp(line, "ok ", 3) != 0) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        fprintf(stderr, "rayc start: %s\n",
                k ? (strncmp(line, "error ", 6) ? line : line + 6)
                  : "the node exited before it registered (see its log "
                    "under the temp dir)");
        if (!k)
            kill(pid, SIGKILL); /* silent past the deadline */
        if (!detach)
            waitpid(pid, NULL, 0);
        return 1;
    }
    return 0;
}

static int
cmd_start(const opts *o)
{
    if (o->mpi || o->slurm)
        return rayc_cmd_launch(o);
    if (o->head == (o->address != NULL)) {
        fprintf(stderr, "rayc start: give --head, or --address=HEAD_IP:PORT "
                        "to join a head\n");
        return 2;
    }
    if (o->head && o->ip && strncmp(o->ip, "127.", 4))
        printf("rayc: the head listens on %s, reachable beyond this machine "
               "(connections must prove the cluster token)\n",
               o->ip);
    rt_mkdir_p(o->temp_dir, 0700);
    if (o->block)
        return run_node(o, -1, NULL);
    char line[600];
    pid_t pid;
    if (rayc_node_spawn(o, true, &pid, line, sizeof(line)) != 0)
        return 1;
    char id[80] = "", raylet[80] = "", gcs[80] = "", dash[80] = "-";
    sscanf(line + 3, "%79s %79s %79s %79s", id, raylet, gcs, dash);
    printf("rayc: %s node %.16s started (raylet %s, pid %d)\n",
           o->head ? "head" : "worker", id, raylet, (int)pid);
    if (o->head) {
        printf("To add a node:   rayc start --address=%s\n", gcs);
        printf("To run a driver: RAY_ADDRESS=%s ./my_program\n", gcs);
        if (strcmp(dash, "-"))
            printf("Dashboard:       http%s://%s/ (Prometheus metrics at "
                   "/metrics)\n",
                   rt_tls_on() ? "s" : "", dash);
        printf("(nodes and drivers need this machine's token file, ");
        char tpath[PATH_MAX];
        rt_token_path(o->token_file, tpath, sizeof(tpath));
        printf("%s)\n", tpath);
    }
    return 0;
}

/* ---- stop ---- */

/* Still running: a daemon that exited stays a zombie until whoever
 * adopted it reaps it (a slow init takes seconds), and kill() finds
 * zombies. */
static bool
still_running(pid_t pid)
{
    char path[64], buf[256] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return kill(pid, 0) == 0; /* no /proc: the zombie counts */
    bool ok = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    const char *rp = ok ? strrchr(buf, ')') : NULL;
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static int
cmd_stop(const opts *o)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/pids", o->temp_dir);
    DIR *d = opendir(dir);
    pid_t pids[256];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 256) {
        long pid = strtol(e->d_name, NULL, 10);
        if (pid > 0 && kill((pid_t)pid, SIGTERM) == 0)
            pids[n++] = (pid_t)pid;
        else if (pid > 0) {
            char f[PATH_MAX + 300];
            snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
            unlink(f); /* a daemon that is gone */
        }
    }
    if (d)
        closedir(d);
    int64_t deadline = rt_deadline_after_ms(10000);
    int left = n;
    while (left && rt_deadline_left_ms(deadline) > 0) {
        left = 0;
        for (int i = 0; i < n; i++)
            left += still_running(pids[i]);
        if (left)
            usleep(20000);
    }
    for (int i = 0; i < n; i++)
        if (kill(pids[i], SIGKILL) == 0) {
            char f[PATH_MAX + 32];
            snprintf(f, sizeof(f), "%s/%d", dir, (int)pids[i]);
            unlink(f);
        }
    printf("rayc: stopped %d daemon%s\n", n, n == 1 ? "" : "s");
    return 0;
}

/* ---- status ---- */

bool
rayc_head_address(const opts *o, char *out, size_t len)
{
    const char *a = o->address ? o->address : getenv("RAY_ADDRESS");
    if (a && *a && strcmp(a, "auto")) {
        snprintf(out, len, "%s", a);
        return true;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/head_address", o->temp_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(out, (int)len, f) != NULL;
    fclose(f);
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = 0;
    return ok && *out;
}

/* The cluster as the head says it (for status, list and logs), and the
 * token it took into tok: false after saying why. */
bool
rayc_view(const opts *o, const char *cmd, cl_view *v, uint8_t tok[RT_TOKEN_LEN])
{
    char addr[256], why[400];
    if (!rayc_head_address(o, addr, sizeof(addr))) {
        fprintf(stderr,
                "rayc %s: no head address: give --address or "
                "RAY_ADDRESS, or start a head on this machine\n",
                cmd);
        return false;
    }
    char tpath[PATH_MAX];
    rt_token_path(o->token_file, tpath, sizeof(tpath));
    ray_err err = rt_token_load(tpath, tok, why, sizeof(why));
    if (err == RAY_OK)
        err = cl_view_get(addr, tok, v, why, sizeof(why));
    if (err != RAY_OK)
        fprintf(stderr, "rayc %s: %s: %s\n", cmd, addr, why);
    return err == RAY_OK;
}

/* `rayc list tasks|objects|actors|placement-groups`: what each driver
 * answers, through
 * the head, or on its socket here when there is no cluster; actors with
 * the named ones the head holds. */
static ray_err
list_answers(const opts *o, const char *kind, const char *key,
             const char *value, bool json, rt_text *t, char *why, size_t wl)
{
    char addr[256];
    bool cluster = rayc_head_address(o, addr, sizeof(addr));
    static rayc_local l;
    rayc_answers a = {0};
    size_t n = 0;
    if (cluster) {
        if (rayc_ask(o, "list", kind, "", &a) != 0) {
            snprintf(why, wl, "rayc list %s: no answers", kind);
            return RAY_ENOTFOUND; /* said why */
        }
        n = a.n;
    } else {
        n = (size_t)rayc_local_drivers(o, kind, &l);
        if (!n)
            fprintf(stderr,
                    "rayc list: no cluster and no driver running here\n");
    }
    const char **whos = rt_calloc(n + 1, sizeof(*whos));
    const char **texts = rt_calloc(n + 1, sizeof(*texts));
    size_t *lens = rt_calloc(n + 1, sizeof(*lens));
    char(*names)[128] = rt_calloc(n + 1, sizeof(*names));
    ray_err err = RAY_ENOMEM;
    snprintf(why, wl, "rayc list: out of memory");
    cl_view v = {0};
    uint8_t tok[RT_TOKEN_LEN];
    bool actors = !strcmp(kind, "actors");
    if (actors && cluster && !rayc_view(o, "list", &v, tok)) {
        err = RAY_ENOTFOUND; /* said why */
        goto done;
    }
    if (whos && texts && lens && names) {
        for (size_t i = 0; i < n; i++) {
            if (cluster) {
                rayc_answer_who(&a, i, names[i], sizeof(names[i]));
                texts[i] = a.got[i] ? (const char *)a.got[i]->value.data : NULL;
                lens[i] = a.got[i] ? a.got[i]->value.len : 0;
            } else {
                snprintf(names[i], sizeof(names[i]), "local:%d", l.d[i].pid);
                texts[i] = l.d[i].text.p;
                lens[i] = l.d[i].text.n;
            }
            whos[i] = names[i];
        }
        size_t more = 0;
        err = actors ? cl_actors_list(cluster ? &v : NULL, n, whos, texts, lens,
                                      key, value, json, t, &more, why, wl)
                     : cl_answers_list(kind, n, whos, texts, lens, key, value,
                                       json, t, &more, why, wl);
        if (err == RAY_OK && more)
            fprintf(stderr,
                    "rayc list %s: %zu more the drivers did not send (each "
                    "sends its first 10000)\n",
                    kind, more);
    }
done:
    if (actors && cluster)
        cl_view_free(&v);
    rt_free(whos);
    rt_free(texts);
    rt_free(lens);
    rt_free(names);
    if (cluster)
        rayc_answers_free(&a);
    else
        rayc_local_free(&l);
    return err;
}

static int
cmd_list(const opts *o, const char *kind)
{
    char key[64] = "", why[400];
    const char *value = NULL;
    if (o->filter) {
        const char *eq = strchr(o->filter, '=');
        if (!eq || eq == o->filter || (size_t)(eq - o->filter) >= sizeof(key)) {
            fprintf(stderr, "rayc list: --filter wants KEY=VALUE, as "
                            "state=ALIVE\n");
            return 2;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - o->filter), o->filter);
        value = eq + 1;
    }
    bool json = o->format && !strcmp(o->format, "json");
    rt_text t = {0};
    ray_err err;
    if (!strcmp(kind, "tasks") || !strcmp(kind, "objects") ||
        !strcmp(kind, "actors") || !strcmp(kind, "placement-groups")) {
        /* Only the drivers know them: asked through the head. */
        err = list_answers(o, kind, value ? key : NULL, value, json, &t, why,
                           sizeof(why));
        if (err == RAY_ENOTFOUND) {
            rt_free(t.p);
            return 1; /* said why */
        }
    } else {
        cl_view v;
        uint8_t tok[RT_TOKEN_LEN];
        if (!rayc_view(o, "list", &v, tok))
            return 1;
        err = cl_view_list(&v, kind, value ? key : NULL, value, json, &t, why,
                           sizeof(why));
        cl_view_free(&v);
    }
    if (err == RAY_OK && !t.oom && t.p)
        fputs(t.p, stdout);
    else
        fprintf(stderr, "%s\n",
                err != RAY_OK ? why : "rayc list: out of memory");
    rt_free(t.p);
    return err == RAY_OK && !t.oom ? 0 : 2;
}

static int
cmd_status(const opts *o)
{
    char head[256];
    if (!rayc_head_address(o, head, sizeof(head)))
        return rayc_local_status(o); /* no cluster: the drivers here */
    cl_view v;
    uint8_t tok[RT_TOKEN_LEN];
    if (!rayc_view(o, "status", &v, tok))
        return 1;
    const char *addr = v.address;
    if (o->format && !strcmp(o->format, "json")) {
        rt_text t = {0};
        cl_view_json(&v, &t);
        cl_view_free(&v);
        if (t.oom) {
            fprintf(stderr, "rayc status: out of memory\n");
            rt_free(t.p);
            return 1;
        }
        fputs(t.p, stdout);
        rt_free(t.p);
        return 0;
    }
    const Ray__Rpc__GetAllNodesReply *r = v.nodes;
    const Ray__Rpc__KvListReply *jobs = v.jobs;
    int alive = 0, dead = 0;
    double cpus = 0;
    for (size_t i = 0; i < r->n_nodes; i++) {
        char c[256];
        bool up = r->nodes[i]->state == RAY__RPC__NODE_STATE__NODE_STATE_ALIVE;
        alive += up;
        dead += !up;
        if (up)
            cpus += cl_view_cpus(r->nodes[i]->total_resources, c, sizeof(c));
    }
    printf("cluster %s: %d node%s alive, %d dead, %g CPUs\n"
           "%-16s  %-21s  %-5s  %-11s  %-4s  %-20s  %s\n",
           addr, alive, alive == 1 ? "" : "s", dead, cpus, "NODE", "ADDRESS",
           "STATE", "CPU used", "HEAD", "RESOURCES", "HEARTBEAT");
    for (size_t i = 0; i < r->n_nodes; i++) {
        Ray__Rpc__NodeInfo *ni = r->nodes[i];
        char id[57], a[96], custom[256], unused[256], col[32];
        bool up = cl_view_node(ni, id, a);
        double cpu = cl_view_cpus(ni->total_resources, custom, sizeof(custom));
        double used =
            cpu - cl_view_cpus(ni->available_resources, unused, sizeof(unused));
        snprintf(col, sizeof(col), "%.1f/%g", up && used > 0 ? used : 0, cpu);
        printf("%-16.16s  %-21s  %-5s  %-11s  %-4s  %-20s  %.1fs ago%s%s\n", id,
               a, up ? "ALIVE" : "DEAD", col, ni->is_head ? "yes" : "",
               custom[0] ? custom : "-", (double)ni->last_heartbeat_ms / 1000.0,
               up ? "" : "  ", up ? "" : ni->death_reason);
    }
    /* What the drivers report (once a second): demand and the store. */
    printf(
        "tasks: %.0f queued for a CPU, %.0f waiting for arguments, %.0f "
        "at a worker; %.0f finished, %.0f failed\n"
        "object store: %.1f MiB in %.0f objects\n",
        cl_view_metric_sum(&v, "rayc_tasks{state=\"PENDING_NODE_ASSIGNMENT\"}"),
        cl_view_metric_sum(&v, "rayc_tasks{state=\"PENDING_ARGS_AVAIL\"}"),
        cl_view_metric_sum(&v, "rayc_tasks{state=\"SUBMITTED_TO_WORKER\"}"),
        cl_view_metric_sum(&v, "rayc_tasks_finished_total{result=\"ok\"}"),
        cl_view_metric_sum(&v, "rayc_tasks_finished_total{result=\"error\"}"),
        cl_view_metric_sum(&v, "rayc_object_store_bytes") / (1 << 20),
        cl_view_metric_sum(&v, "rayc_object_store_objects"));
    /* The drivers connected now: "ip:pid" -> "program start-time". */
    printf("%zu driver%s connected%s\n", jobs->n_keys,
           jobs->n_keys == 1 ? "" : "s", jobs->n_keys ? ":" : "");
    for (size_t i = 0; i < jobs->n_keys && i < jobs->n_values; i++) {
        char prog[256] = "?", val[512];
        long long started = 0;
        snprintf(val, sizeof(val), "%.*s", (int)jobs->values[i].len,
                 (const char *)jobs->values[i].data);
        sscanf(val, "%255s %lld", prog, &started);
        printf("  %-24.*s %-24s running %llds\n", (int)jobs->keys[i].len,
               (const char *)jobs->keys[i].data, prog,
               started ? (long long)time(NULL) - started : 0);
    }
    cl_view_free(&v);
    return 0;
}

char **rayc_argv;

int
main(int argc, char **argv)
{
    rayc_argv = argv;
    if (argc < 2)
        return usage(stderr);
    const char *lvl = getenv("RAYC_LOG_LEVEL");
    rt_log_set_level(lvl ? (rt_log_level)rt_log_level_parse(lvl) : RT_LOG_INFO);
    opts o = {0};
    bool list = !strcmp(argv[1], "list");
    if (list && argc < 3) {
        fprintf(stderr,
                "rayc list: what? nodes, actors, jobs, tasks, objects or "
                "placement-groups\n");
        return 2;
    }
    o.logs = !strcmp(argv[1], "logs");
    int rc = parse(argc, argv, list ? 3 : 2, &o);
    if (rc)
        return rc >= 100 ? rc - 100 : rc;
    if (!strcmp(argv[1], "start"))
        return cmd_start(&o);
    if (!strcmp(argv[1], "stop"))
        return cmd_stop(&o);
    if (!strcmp(argv[1], "status"))
        return cmd_status(&o);
    if (list)
        return cmd_list(&o, argv[2]);
    if (o.logs)
        return rayc_cmd_logs(&o);
    if (!strcmp(argv[1], "timeline"))
        return rayc_cmd_timeline(&o);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help"))
        return usage(stdout);
    fprintf(stderr, "rayc: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}

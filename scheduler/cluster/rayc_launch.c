/* SPDX-License-Identifier: Apache-2.0
 *
 * rayc_launch.c: `rayc start --mpi|--slurm [options] [-- PROGRAM ARGS]`:
 * a cluster for the life of a job that an MPI launcher or Slurm started,
 * one rayc process per rank (one rank per machine, as a rule):
 *
 *   mpirun -np 4 rayc start --mpi -- ./sweep 1000
 *   srun --ntasks-per-node=1 rayc start --slurm -- ./sweep 1000
 *
 * Rank 0 starts the head (a node too), every other rank a node that
 * joins it; once all have registered, rank 0 runs PROGRAM as the driver
 * (RAY_ADDRESS set) and, when it ends, tells the others through the
 * head's key-value store (kv "launch": "done" -> its exit status); every
 * rank stops its node and exits with that status. Without PROGRAM the
 * cluster lasts until rank 0 gets SIGINT or SIGTERM. Each node is this
 * process's child and gets SIGTERM if this process dies (so a job killed
 * by its scheduler leaves nothing behind), and logs under
 * <temp dir>/<launcher>-<job>-<rank>.
 *
 * How the ranks find the head:
 * - MPI: rank 0 sends "ADDRESS TOKEN" to the others with one MPI_Bcast
 *   (libmpi is loaded when --mpi runs, not linked: Open MPI's libmpi.so.40
 *   or MPICH's libmpi.so.12; their handles differ, both are handled), and
 *   leaves MPI at once: MPI_Finalize, then the process runs itself again
 *   (execv, the same pid, RAYC_MPI_DONE carrying what it learnt), so no
 *   rank keeps libmpi, its threads or its memory while the job runs. The head
 * binds any free port; the token goes with it, so nothing is shared on disk.
 * - Slurm: each node is at its Slurm node's address (NodeAddr, from
 *   scontrol; else its name as it resolves), the head at the step's first
 *   node's and --port (default 6379); or --node-ip-address's pattern
 *   (below). A node offers the CPUs Slurm gave its task
 *   (SLURM_CPUS_PER_TASK, else SLURM_CPUS_ON_NODE) unless --num-cpus
 *   says otherwise. The token is the
 *   token file (default ~/.rayc/cluster-token), which must be the same
 *   on every node: a shared home, or --token-file on a shared path. The
 *   other ranks wait (60 s at most) until the head answers with it.
 *
 * --node-ip-address may hold "{rank}", replaced by each rank's number:
 * several ranks on one machine, each on its own loopback address
 * (--node-ip-address=127.0.0.1{rank}: 127.0.0.10, .11, ...). Without it
 * the head binds the address this machine's name resolves to, and the
 * other nodes the address they reach the head from.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* What libmpi allocates and never frees (its components, unloaded by
 * MPI_Finalize) is not this program's to report. */
#define MPI_QUIET_BEGIN() __lsan_disable()
#define MPI_QUIET_END() __lsan_enable()
#else
#define MPI_QUIET_BEGIN() (void)0
#define MPI_QUIET_END() (void)0
#endif

#include "runtime/clock.h"
#include "runtime/files.h"
#include "runtime/ids.h"
#include "runtime/net.h"
#include "scheduler/cluster/rayc_cli.h"

#define JOIN_WAIT_MS 60000 /* for the head, and for every node to join */
#define HEAD_GONE_MS 15000 /* a node's rank gives up on a silent head */

static volatile sig_atomic_t g_sig;

static void
on_sig(int s)
{
    g_sig = s;
}

typedef struct launch {
    const char *how; /* "mpi" or "slurm" */
    int rank, size;
    char job[64];                   /* names the temp dirs */
    char head[RT_HOST_MAX + 8];     /* the GCS's host:port */
    char hex[2 * RT_TOKEN_LEN + 1]; /* MPI: the token, from rank 0 */
    char ip[RT_HOST_MAX];           /* this rank's --node-ip-address */
    char temp[PATH_MAX];
    char token_file[PATH_MAX + 16];
} launch;

/* --node-ip-address with "{rank}" replaced by `rank` (false: no
 * pattern, or too long). */
static bool
ip_of(const opts *o, int rank, char *out, size_t len)
{
    const char *at = o->ip ? strstr(o->ip, "{rank}") : NULL;
    if (!o->ip)
        return false;
    int n = at ? snprintf(out, len, "%.*s%d%s", (int)(at - o->ip), o->ip, rank,
                          at + 6)
               : snprintf(out, len, "%s", o->ip);
    return n > 0 && (size_t)n < len;
}

/* A name as an IPv4 address (numeric) into out. */
static bool
resolve(const char *name, char *out, size_t len)
{
    struct addrinfo hint = {.ai_family = AF_INET}, *ai = NULL;
    if (!*name || getaddrinfo(name, NULL, &hint, &ai) != 0 || !ai)
        return false;
    int rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, out, (socklen_t)len, NULL,
                         0, NI_NUMERICHOST);
    freeaddrinfo(ai);
    return rc == 0;
}

/* The address this machine's name resolves to (IPv4), or "". */
static void
host_ip(char *out, size_t len)
{
    char name[256];
    out[0] = 0;
    if (gethostname(name, sizeof(name)) != 0 || !resolve(name, out, len))
        out[0] = 0;
}

/* The first line `cmd` prints (trailing space cut), or false. */
static bool
first_line(const char *cmd, char *out, size_t len)
{
    FILE *f = popen(cmd, "r");
    bool ok = f && fgets(out, (int)len, f);
    if (f)
        pclose(f);
    if (ok)
        out[strcspn(out, " \t\r\n")] = 0;
    return ok && *out;
}

/* Slurm node `node`'s address (its NodeAddr, which a node's name need not
 * resolve to) as an IPv4 address: from scontrol, else the name itself. */
static bool
slurm_node_ip(const char *node, char *out, size_t len)
{
    for (const char *p = node; *p; p++)
        if (!(*p == '-' || *p == '.' || *p == '_' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false; /* not a name to put in a command line */
    char cmd[400], addr[256];
    snprintf(cmd, sizeof(cmd),
             "scontrol show node '%s' 2>/dev/null | tr ' ' '\\n' | "
             "sed -n 's/^NodeAddr=//p'",
             node);
    if (first_line(cmd, addr, sizeof(addr)) && resolve(addr, out, len))
        return true;
    return resolve(node, out, len);
}

/* Slurm: the step's first node ("n[1-3],m4" -> n1), by scontrol, else
 * read from the list ("gpu-[07-09]" -> gpu-07). */
static bool
slurm_first_node(char *out, size_t len)
{
    const char *list = getenv("SLURM_STEP_NODELIST");
    if (!list || !*list)
        list = getenv("SLURM_JOB_NODELIST");
    if (!list || !*list || strchr(list, '\''))
        return false;
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "scontrol show hostnames '%s' 2>/dev/null",
             list);
    if (first_line(cmd, out, len))
        return true;
    size_t k = 0;
    for (const char *p = list; *p && *p != ',' && k + 1 < len; p++) {
        if (*p != '[') {
            out[k++] = *p;
            continue;
        }
        for (p++; *p >= '0' && *p <= '9' && k + 1 < len; p++)
            out[k++] = *p; /* a range's first number, zero padding kept */
        break;
    }
    out[k] = 0;
    return k > 0;
}

/* ---- MPI, loaded when asked for ---- */

/* Handles are pointers in Open MPI and ints in MPICH; both travel in an
 * integer register, so one signature serves (x86-64 and aarch64 ABIs). */
typedef int (*mpi_init_fn)(int *, char ***);
typedef int (*mpi_query_fn)(intptr_t comm, int *out);
typedef int (*mpi_bcast_fn)(void *buf, int count, intptr_t type, int root,
                            intptr_t comm);
typedef int (*mpi_finalize_fn)(void);

typedef struct mpi {
    void *lib;
    mpi_init_fn init;
    mpi_query_fn rank, size;
    mpi_bcast_fn bcast;
    mpi_finalize_fn finalize;
    intptr_t world, byte;
} mpi;

static bool
mpi_load(mpi *m)
{
    static const char *const libs[] = {"libmpi.so.40", "libmpi.so.12",
                                       "libmpi.so"};
    memset(m, 0, sizeof(*m));
    for (size_t i = 0; !m->lib && i < sizeof(libs) / sizeof(libs[0]); i++)
        m->lib = dlopen(libs[i], RTLD_NOW | RTLD_GLOBAL);
    if (!m->lib) {
        fprintf(stderr,
                "rayc start --mpi: no MPI library (libmpi.so.40 of Open MPI, "
                "libmpi.so.12 of MPICH): %s\n",
                dlerror());
        return false;
    }
    m->init = (mpi_init_fn)dlsym(m->lib, "MPI_Init");
    m->rank = (mpi_query_fn)dlsym(m->lib, "MPI_Comm_rank");
    m->size = (mpi_query_fn)dlsym(m->lib, "MPI_Comm_size");
    m->bcast = (mpi_bcast_fn)dlsym(m->lib, "MPI_Bcast");
    m->finalize = (mpi_finalize_fn)dlsym(m->lib, "MPI_Finalize");
    void *world = dlsym(m->lib, "ompi_mpi_comm_world");
    if (world) { /* Open MPI: handles are the predefined objects */
        m->world = (intptr_t)world;
        m->byte = (intptr_t)dlsym(m->lib, "ompi_mpi_byte");
    } else { /* MPICH and its ABI (Intel MPI, MVAPICH) */
        m->world = 0x44000000;
        m->byte = 0x4c00010d;
    }
    if (!m->init || !m->rank || !m->size || !m->bcast || !m->finalize ||
        !m->byte) {
        fprintf(stderr, "rayc start --mpi: the MPI library lacks a call it "
                        "needs (MPI_Init, MPI_Comm_rank, MPI_Comm_size, "
                        "MPI_Bcast, MPI_Finalize)\n");
        return false;
    }
    return true;
}

/* ---- the head ---- */

/* One kv call to the head on fd: the reply, or NULL. */
static ProtobufCMessage *
kv(int fd, uint32_t type, const ProtobufCMessage *q, uint32_t reply)
{
    char why[300];
    ProtobufCMessage *m = NULL;
    if (rt_net_call(fd, type, q, reply, &m, 5000, why, sizeof(why)) != RAY_OK)
        return NULL;
    return m;
}

static bool
token_of(const launch *L, uint8_t tok[RT_TOKEN_LEN])
{
    char why[400];
    return rt_token_load(L->token_file, tok, why, sizeof(why)) == RAY_OK;
}

/* Connect to the head; -1 when it does not answer (yet). */
static int
dial_head(const launch *L)
{
    uint8_t tok[RT_TOKEN_LEN];
    char why[400];
    int fd = -1;
    if (!token_of(L, tok) ||
        rt_dial(L->head, tok, "rayc", &fd, why, sizeof(why)) != RAY_OK)
        return -1;
    return fd;
}

/* The alive nodes the head lists, or -1. */
static int
alive_nodes(const launch *L)
{
    uint8_t tok[RT_TOKEN_LEN];
    char why[400];
    cl_view v;
    if (!token_of(L, tok) || cl_view_get(L->head, tok, &v, why, sizeof(why)))
        return -1;
    int n = 0;
    for (size_t i = 0; v.nodes && i < v.nodes->n_nodes; i++) {
        char id[57], addr[96];
        n += cl_view_node(v.nodes->nodes[i], id, addr);
    }
    cl_view_free(&v);
    return n;
}

/* Rank 0: tell the others the job is over, with its status. */
static void
say_done(const launch *L, int status)
{
    int fd = dial_head(L);
    if (fd < 0)
        return;
    char v[16];
    snprintf(v, sizeof(v), "%d", status);
    Ray__Rpc__KvPutRequest q = RAY__RPC__KV_PUT_REQUEST__INIT;
    q.ns = "launch";
    q.key = (ProtobufCBinaryData){4, (uint8_t *)"done"};
    q.value = (ProtobufCBinaryData){strlen(v), (uint8_t *)v};
    q.overwrite = true;
    rt_proto_free(kv(fd, RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REQUEST, &q.base,
                     RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REPLY));
    close(fd);
}

/* The other ranks: the status rank 0 said, -1 while it said none, -2
 * when the head does not answer. */
static int
heard_done(const launch *L, int *fd)
{
    if (*fd < 0 && (*fd = dial_head(L)) < 0)
        return -2;
    Ray__Rpc__KvGetRequest q = RAY__RPC__KV_GET_REQUEST__INIT;
    q.ns = "launch";
    q.key = (ProtobufCBinaryData){4, (uint8_t *)"done"};
    Ray__Rpc__KvGetReply *r = (Ray__Rpc__KvGetReply *)kv(
        *fd, RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REQUEST, &q.base,
        RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REPLY);
    if (!r) {
        close(*fd);
        *fd = -1;
        return -2;
    }
    int st = -1;
    if (r->found) {
        char v[16];
        snprintf(v, sizeof(v), "%.*s", (int)r->value.len,
                 (const char *)r->value.data);
        st = atoi(v);
    }
    rt_proto_free(&r->base);
    return st;
}

/* ---- the ranks ---- */

/* Stop this rank's node: SIGTERM, 10 s, then SIGKILL. */
static void
stop_node(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Run the driver with the cluster's address; its exit status. */
static int
run_driver(const launch *L, char **prog)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("rayc start: fork");
        return 1;
    }
    if (pid == 0) {
        setenv("RAY_ADDRESS", L->head, 1);
        setenv("RAYC_TOKEN_FILE", L->token_file, 1);
        if (L->ip[0]) /* its node is rank 0's */
            setenv("RAYC_NODE_IP_ADDRESS", L->ip, 1);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(prog[0], prog);
        fprintf(stderr, "rayc start: cannot run %s: %s\n", prog[0],
                strerror(errno));
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return 1;
        if (g_sig) /* pass the job's end on to the driver */
            kill(pid, (int)g_sig);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A node for this rank, as o says with the launch's changes. */
static int
spawn(const opts *o, const launch *L, bool head, pid_t *pid, char *line,
      size_t len)
{
    opts n = *o;
    n.mpi = n.slurm = false;
    n.prog = NULL;
    n.nprog = 0;
    n.head = head;
    n.address = head ? NULL : L->head;
    n.ip = L->ip[0] ? L->ip : NULL;
    n.temp_dir = L->temp;
    n.token_file = L->token_file;
    n.storage = "memory"; /* the cluster ends with the job */
    const char *cpus = getenv("SLURM_CPUS_PER_TASK");
    if (!cpus || !*cpus)
        cpus = getenv("SLURM_CPUS_ON_NODE");
    if (o->slurm && !o->num_cpus && cpus && atoi(cpus) > 0)
        n.num_cpus = atoi(cpus); /* what the allocation gave this task */
    if (!head)
        n.dashboard_port = -1;
    return rayc_node_spawn(&n, false, pid, line, len);
}

static void
set_dirs(const opts *o, launch *L)
{
    snprintf(L->temp, sizeof(L->temp), "%s/%s-%s-%d", o->temp_dir, L->how,
             L->job, L->rank);
    rt_mkdir_p(L->temp, 0700);
}

/* This process's rank and the job's size: from MPI (libmpi loaded and
 * MPI_Init; or, second time round, RAYC_MPI_DONE, which also carries the
 * broadcast in msg and rank 0's node in *node) or from Slurm's
 * environment. 0, or the exit status after saying why. */
static int
find_rank(const opts *o, launch *L, mpi *m, char msg[512], pid_t *node,
          bool *resumed)
{
    const char *done = o->mpi ? getenv("RAYC_MPI_DONE") : NULL;
    *resumed = done != NULL;
    if (done) {
        int pid = 0;
        if (sscanf(done, "%d %d %d %511[^\n]", &L->rank, &L->size, &pid, msg) !=
            4)
            return 1;
        *node = (pid_t)pid;
        unsetenv("RAYC_MPI_DONE");
        return 0;
    }
    if (o->mpi) {
        int argc = 0;
        char **argv = NULL;
        MPI_QUIET_BEGIN();
        bool up = mpi_load(m) && m->init(&argc, &argv) == 0 &&
                  m->rank(m->world, &L->rank) == 0 &&
                  m->size(m->world, &L->size) == 0;
        MPI_QUIET_END();
        if (!up)
            fprintf(stderr, "rayc start --mpi: MPI did not start (run it "
                            "with mpirun or srun)\n");
        return up ? 0 : 1;
    }
    const char *r = getenv("SLURM_PROCID"), *n = getenv("SLURM_NTASKS");
    const char *job = getenv("SLURM_JOB_ID"), *step = getenv("SLURM_STEP_ID");
    if (!r || !n || !job) {
        fprintf(stderr, "rayc start --slurm: not in a Slurm job step "
                        "(SLURM_PROCID, SLURM_NTASKS, SLURM_JOB_ID): run it "
                        "with srun\n");
        return 2;
    }
    L->rank = atoi(r);
    L->size = atoi(n);
    snprintf(L->job, sizeof(L->job), "%s.%s", job, step ? step : "0");
    return 0;
}

/* Rank 0: the head (a node too), and what the others need to know in
 * msg: "ADDRESS TOKEN JOB" ("-" for what it could not get). */
static void
start_head(const opts *o, launch *L, pid_t *node, char msg[512])
{
    char why[400], line[600];
    if (o->mpi)
        snprintf(L->job, sizeof(L->job), "%d", (int)getpid());
    set_dirs(o, L);
    rt_token_path(o->token_file, L->token_file, sizeof(L->token_file));
    uint8_t tok[RT_TOKEN_LEN];
    ray_err e = rt_token_load_or_create(L->token_file, tok, why, sizeof(why));
    opts h = *o;
    if (o->mpi && !o->port_set)
        h.port = 0; /* any: it travels with the broadcast */
    if (e != RAY_OK)
        fprintf(stderr, "rayc start: %s\n", why);
    else if (spawn(&h, L, true, node, line, sizeof(line)) == 0) {
        char id[80], raylet[80];
        sscanf(line + 3, "%79s %79s %63s", id, raylet, L->head);
        rt_id_hex_encode(tok, RT_TOKEN_LEN, L->hex);
    }
    snprintf(msg, 512, "%s %s %s", L->head[0] ? L->head : "-",
             L->hex[0] ? L->hex : "-", L->job);
}

/* MPI: rank 0's msg to all, then out of MPI altogether: this process
 * again (the same pid, which the launcher tracks, and the same node
 * child) without libmpi, the threads it started and what it never
 * frees. Returns only when the broadcast failed (1) or the exec did (0:
 * go on as we are). */
static int
leave_mpi(launch *L, mpi *m, char msg[512], pid_t node)
{
    MPI_QUIET_BEGIN();
    int rc = m->bcast(msg, 512, m->byte, 0, m->world);
    m->finalize();
    MPI_QUIET_END();
    if (rc != 0) {
        fprintf(stderr, "rayc start --mpi: MPI_Bcast failed (%d)\n", rc);
        stop_node(node);
        return 1;
    }
    char env[700];
    snprintf(env, sizeof(env), "%d %d %d %s", L->rank, L->size, (int)node, msg);
    setenv("RAYC_MPI_DONE", env, 1);
    fflush(NULL);
    execv("/proc/self/exe", rayc_argv);
    unsetenv("RAYC_MPI_DONE");
    return 0;
}

/* The other ranks: the head's address and token, a node that joins it,
 * then wait until rank 0 says the job is over (or the head is gone); the
 * exit status. */
static int
follow(const opts *o, launch *L)
{
    char line[600];
    pid_t node = 0;
    set_dirs(o, L);
    if (o->mpi) { /* the token from rank 0, in this rank's dir */
        char text[2 * RT_TOKEN_LEN + 2];
        snprintf(L->token_file, sizeof(L->token_file), "%s/token", L->temp);
        snprintf(text, sizeof(text), "%s\n", L->hex);
        int fd =
            open(L->token_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        bool ok =
            fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
        if (fd >= 0)
            close(fd);
        if (!ok || !strcmp(L->head, "-")) {
            fprintf(stderr, "rayc start --mpi: rank %d: %s\n", L->rank,
                    ok ? "rank 0 could not start the head"
                       : "cannot write the token");
            return 1;
        }
    } else {
        rt_token_path(o->token_file, L->token_file, sizeof(L->token_file));
        char ip0[RT_HOST_MAX] = "", first[256];
        if (!ip_of(o, 0, ip0, sizeof(ip0)) &&
            !(slurm_first_node(first, sizeof(first)) &&
              slurm_node_ip(first, ip0, sizeof(ip0)))) {
            fprintf(stderr, "rayc start --slurm: no head address: the step's "
                            "first node has none (scontrol show node)\n");
            return 1;
        }
        snprintf(L->head, sizeof(L->head), "%s:%ld", ip0, o->port);
    }
    /* The head answers with the token (Slurm: it may not be up yet). */
    int fd = -1;
    int64_t deadline = rt_deadline_after_ms(JOIN_WAIT_MS);
    while (!g_sig && (fd = dial_head(L)) < 0 && rt_clock_now_ns() < deadline)
        usleep(200000);
    if (fd < 0) {
        fprintf(stderr,
                "rayc start --%s: rank %d: the head at %s did not answer "
                "with the token in %s within %d s (every node needs the "
                "same token file: a shared home, or --token-file on a "
                "shared path)\n",
                L->how, L->rank, L->head, L->token_file, JOIN_WAIT_MS / 1000);
        return 1;
    }
    close(fd);
    if (spawn(o, L, false, &node, line, sizeof(line)) != 0)
        return 1;
    int status = 1;
    int64_t silent_since = 0;
    fd = -1;
    while (!g_sig) {
        int st = heard_done(L, &fd);
        if (st >= 0) {
            status = st;
            break;
        }
        if (st == -2 && !silent_since)
            silent_since = rt_clock_now_ns();
        else if (st != -2)
            silent_since = 0;
        if (silent_since &&
            rt_clock_now_ns() - silent_since > HEAD_GONE_MS * 1000000LL) {
            fprintf(stderr,
                    "rayc start --%s: rank %d: the head at %s is gone\n",
                    L->how, L->rank, L->head);
            break;
        }
        usleep(500000);
    }
    if (fd >= 0)
        close(fd);
    if (g_sig)
        status = 128 + (int)g_sig;
    stop_node(node);
    return status;
}

/* Rank 0, its head up as `node`: every node joined, then the driver (or
 * a signal), then the end said to the others; the exit status. */
static int
lead(const opts *o, launch *L, pid_t node)
{
    int status = 1, have = 0;
    int64_t deadline = rt_deadline_after_ms(JOIN_WAIT_MS);
    while (!g_sig && (have = alive_nodes(L)) < L->size &&
           rt_clock_now_ns() < deadline)
        usleep(100000);
    if (have < L->size) {
        fprintf(stderr,
                "rayc start --%s: %d of %d nodes joined the head at %s "
                "within %d s\n",
                L->how, have < 0 ? 0 : have, L->size, L->head,
                JOIN_WAIT_MS / 1000);
    } else if (o->nprog > 0) {
        printf("rayc: %d nodes up, head at %s; running %s\n", L->size, L->head,
               o->prog[0]);
        fflush(stdout);
        status = run_driver(L, o->prog);
    } else {
        printf("rayc: %d nodes up; RAY_ADDRESS=%s RAYC_TOKEN_FILE=%s "
               "(until this job step ends)\n",
               L->size, L->head, L->token_file);
        fflush(stdout);
        while (!g_sig)
            pause();
        status = 0;
    }
    /* The others stop when they hear it: wait for them (10 s at most),
     * so that the head is still there to be heard. */
    say_done(L, status);
    deadline = rt_deadline_after_ms(10000);
    while (alive_nodes(L) > 1 && rt_clock_now_ns() < deadline)
        usleep(100000);
    stop_node(node);
    return status;
}

int
rayc_cmd_launch(const opts *o)
{
    launch L = {.how = o->mpi ? "mpi" : "slurm"};
    if (o->mpi == o->slurm || o->head || o->address) {
        fprintf(stderr, "rayc start: --mpi or --slurm, one of them, and "
                        "neither --head nor --address (rank 0 is the head)\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_sig};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    mpi m;
    char msg[512] = "";
    pid_t node = 0;
    bool resumed = false;
    int rc = find_rank(o, &L, &m, msg, &node, &resumed);
    if (rc != 0)
        return rc;
    const char *self = getenv("SLURMD_NODENAME");
    if (!ip_of(o, L.rank, L.ip, sizeof(L.ip)) &&
        !(o->slurm && self && slurm_node_ip(self, L.ip, sizeof(L.ip))) &&
        L.rank == 0)
        host_ip(L.ip, sizeof(L.ip));
    if (L.rank == 0 && !resumed)
        start_head(o, &L, &node, msg);
    if (o->mpi && !resumed && leave_mpi(&L, &m, msg, node) != 0)
        return 1;
    if (o->mpi) { /* what rank 0 sent */
        if (sscanf(msg, "%63s %64s %63s", L.head, L.hex, L.job) != 3)
            L.head[0] = 0;
        if (L.rank == 0) {
            set_dirs(o, &L);
            rt_token_path(o->token_file, L.token_file, sizeof(L.token_file));
        }
    }
    if (L.rank > 0)
        return follow(o, &L);
    return node ? lead(o, &L, node) : 1;
}

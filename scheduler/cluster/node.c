/* SPDX-License-Identifier: Apache-2.0
 *
 * node.c: the raylet daemon (node.h): registration and heartbeats, the
 * executable cache, the agents of the jobs that run on the node, and its
 * log files for `rayc logs` (node_logs.h).
 */
#include "scheduler/cluster/node.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fdpass.h"
#include "runtime/files.h"
#include "runtime/ids.h"
#include "runtime/log.h"
#include "runtime/random.h"
#include "runtime/server.h"
#include "scheduler/cluster/gcs.h"
#include "scheduler/cluster/node_logs.h"
#include "scheduler/resources.h"

extern char **environ;

#define NODE_ID_LEN 28
#define MAX_EXE (1ull << 30)

typedef struct node {
    const node_config *cfg;
    uint8_t id[NODE_ID_LEN];
    char idhex[2 * NODE_ID_LEN + 1];
    char ip[RT_HOST_MAX];
    uint16_t port;
    char gcs_host[RT_HOST_MAX];
    uint16_t gcs_port;
    int ncpu;
    char exe_dir[PATH_MAX];
    rt_server *srv;
    _Atomic int *stop;
    _Atomic int told;  /* ready() was called */
    _Atomic int fatal; /* registration refused: stop */
    /* The GCS declared this node dead: the heartbeat thread asks (1) the
     * loop to end the agents and draw a new id, which says done (2). */
    _Atomic int rejoin;
    /* The agents running here, each with its control socket: connections
     * that attach to a job's agent (AttachRequest) are passed through it. */
    struct agent_rec *ag;
    uint32_t nag, cag;
    sched_resources res; /* the custom resources it offers */
    /* The standby agent (see standby_start), or sb_pid 0. */
    pid_t sb_pid;
    int sb_sock;
    int64_t sb_since;
    char sb_hex[65];
    char sb_path[PATH_MAX + 80];
    char sb_name[64];
    char log_dir[PATH_MAX];      /* TEMP_DIR/logs, what `rayc logs` reads */
    char log_name[NAME_MAX + 1]; /* base name of its own log, or "" */
} node;

typedef struct agent_rec {
    pid_t pid;
    uint64_t job;
    int ctl;
} agent_rec;

typedef struct job_conn {
    uint64_t job;
    uint8_t hash[32];
    char hex[65];
    uint64_t size, got;
    int fd; /* the .part file being received, or -1 */
    char name[64];
    char part[PATH_MAX];
} job_conn;

static void
tell(node *n, bool ok, const char *msg)
{
    if (atomic_exchange(&n->told, 1))
        return;
    if (n->cfg->ready)
        n->cfg->ready(n->cfg->ready_arg, ok, msg);
}

/* ---- registration and heartbeats (their own thread) ---- */

/* The node's resources as the GCS sees them: CPU, then the custom ones
 * (parsed at start, scheduler/resources.h). `ents`: room for
 * SCHED_RES_MAX + 1. */
static void
resource_set(node *n, Ray__Rpc__ResourceSet *rs, Ray__Rpc__ResourceEntry *ents,
             Ray__Rpc__ResourceEntry **ptrs)
{
    ray__rpc__resource_set__init(rs);
    ray__rpc__resource_entry__init(&ents[0]);
    ents[0].name = "CPU";
    ents[0].quantity = n->ncpu;
    ptrs[0] = &ents[0];
    for (uint32_t i = 0; i < n->res.n; i++) {
        ray__rpc__resource_entry__init(&ents[i + 1]);
        ents[i + 1].name = n->res.name[i];
        ents[i + 1].quantity = (double)n->res.total[i] / 1000.0;
        ptrs[i + 1] = &ents[i + 1];
    }
    rs->entries = ptrs;
    rs->n_entries = n->res.n + 1;
}

/* CPU seconds used so far by `root`'s descendants (its agents and their
 * workers; processes that ended are not counted), from /proc. */
static double
cpu_seconds(pid_t root)
{
    enum { MAXP = 8192 };
    static pid_t pid[MAXP], ppid[MAXP];
    static double secs[MAXP];
    static unsigned char mark[MAXP];
    int np = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    double tick = (double)sysconf(_SC_CLK_TCK);
    while (d && (e = readdir(d)) && np < MAXP) {
        int p = atoi(e->d_name);
        if (p <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", p);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = 0;
        /* "pid (comm) state ppid ..." with utime, stime the 14th and
         * 15th fields; comm may hold spaces and parentheses. */
        char *rp = strrchr(buf, ')');
        int pp = 0;
        unsigned long ut = 0, st = 0;
        if (!rp || sscanf(rp + 2,
                          "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                          "%lu %lu",
                          &pp, &ut, &st) != 3)
            continue;
        pid[np] = p;
        ppid[np] = pp;
        secs[np] = (double)(ut + st) / tick;
        mark[np++] = p == root;
    }
    if (d)
        closedir(d);
    /* Mark descendants: a pass per level of the tree. */
    for (bool more = true; more;) {
        more = false;
        for (int i = 0; i < np; i++) {
            if (mark[i])
                continue;
            for (int j = 0; j < np; j++)
                if (mark[j] && pid[j] == ppid[i]) {
                    mark[i] = 1;
                    more = true;
                    break;
                }
        }
    }
    double sum = 0;
    for (int i = 0; i < np; i++)
        if (mark[i] && pid[i] != root)
            sum += secs[i];
    return sum;
}

/* Declared dead, this node's work was redone elsewhere: it must not
 * finish any of it a second time. The loop thread (on_tick) ends every
 * agent, with the calls they ran, and draws a new node id; the next
 * session registers the node as new. */
static void
rejoin_clean(node *n, const char *why)
{
    RT_WARN("raylet: %s: ending its agents (their drivers have moved their "
            "calls) and joining again as a new node",
            why);
    atomic_store(&n->rejoin, 1);
    for (int t = 0;
         t < 500 && atomic_load(&n->rejoin) != 2 && !atomic_load(n->stop); t++)
        usleep(10000); /* on_tick runs every 100 ms */
    atomic_store(&n->rejoin, 0);
}

/* One session with the GCS: register, then heartbeat until the
 * connection fails or the node stops. RAY_OK when stopped. */
static ray_err
gcs_session(node *n, char *why, size_t whylen)
{
    int fd;
    ray_err err =
        rt_tcp_connect(n->gcs_host, n->gcs_port, 2000, &fd, why, whylen);
    if (err != RAY_OK)
        return err;
    err = rt_auth_client(fd, n->cfg->token, "node", 5000, why, whylen);
    if (err != RAY_OK) {
        close(fd);
        if (err == RAY_EPROTO)
            atomic_store(&n->fatal, 1);
        return err;
    }
    Ray__Rpc__NodeInfo ni = RAY__RPC__NODE_INFO__INIT;
    Ray__Rpc__Address addr = RAY__RPC__ADDRESS__INIT;
    Ray__Rpc__ResourceSet rs;
    Ray__Rpc__ResourceEntry ents[SCHED_RES_MAX + 1], *ptrs[SCHED_RES_MAX + 1];
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    resource_set(n, &rs, ents, ptrs);
    ni.node_id = (ProtobufCBinaryData){NODE_ID_LEN, n->id};
    addr.ip = n->ip;
    addr.port = n->port;
    addr.node_id = ni.node_id;
    ni.raylet_address = &addr;
    ni.hostname = host;
    ni.total_resources = &rs;
    ni.available_resources = &rs;
    ni.is_head = n->cfg->head;
    ni.start_time_ms = (uint64_t)rt_clock_now_ms();
    Ray__Rpc__RegisterNodeRequest req = RAY__RPC__REGISTER_NODE_REQUEST__INIT;
    req.node = &ni;
    ProtobufCMessage *m = NULL;
    err = rt_net_call(
        fd, RAY__RPC__MESSAGE_TYPE__MSG_REGISTER_NODE_REQUEST, &req.base,
        RAY__RPC__MESSAGE_TYPE__MSG_REGISTER_NODE_REPLY, &m, 5000, why, whylen);
    bool dead = false;
    if (err == RAY_OK) {
        Ray__Rpc__RegisterNodeReply *rep = (Ray__Rpc__RegisterNodeReply *)m;
        if (rep->declared_dead) {
            dead = true;
            snprintf(why, whylen,
                     "the GCS declared node %.16s dead while it was away (%s)",
                     n->idhex, rep->death_reason ? rep->death_reason : "");
            err = RAY_ECLOSED;
        } else if (rep->status && rep->status->code) {
            snprintf(why, whylen, "the head refused the node: %s",
                     rep->status->message);
            err = RAY_EINVAL;
            atomic_store(&n->fatal, 1);
        }
        rt_proto_free(m);
    }
    if (err != RAY_OK) {
        close(fd);
        if (dead)
            rejoin_clean(n, why);
        return err;
    }
    char msg[160];
    if (n->cfg->head)
        snprintf(msg, sizeof(msg), "%s %s:%u %s:%u", n->idhex, n->ip, n->port,
                 n->gcs_host, n->gcs_port);
    else
        snprintf(msg, sizeof(msg), "%s %s:%u", n->idhex, n->ip, n->port);
    tell(n, true, msg);
    RT_INFO("raylet: node %.16s registered with the GCS at %s:%u", n->idhex,
            n->gcs_host, n->gcs_port);
    Ray__Rpc__NodeHeartbeatRequest hb = RAY__RPC__NODE_HEARTBEAT_REQUEST__INIT;
    hb.node_id = ni.node_id;
    /* What is free: the CPUs its processes did not use over the last
     * second or so (measured, as top does), and the custom resources. */
    Ray__Rpc__ResourceSet avail;
    Ray__Rpc__ResourceEntry aents[SCHED_RES_MAX + 1], *aptrs[SCHED_RES_MAX + 1];
    resource_set(n, &avail, aents, aptrs);
    hb.available_resources = &avail;
    double busy_at = cpu_seconds(getpid());
    int64_t busy_ns = rt_clock_now_ns();
    while (!atomic_load(n->stop)) {
        hb.sequence++;
        if (hb.sequence % 4 == 0) {
            double now_s = cpu_seconds(getpid());
            int64_t now_ns = rt_clock_now_ns();
            double used =
                (now_s - busy_at) / ((double)(now_ns - busy_ns) / 1e9);
            used = used < 0 ? 0 : used > n->ncpu ? n->ncpu : used;
            aents[0].quantity = (double)(int)((n->ncpu - used) * 10 + 0.5) / 10;
            busy_at = now_s;
            busy_ns = now_ns;
        }
        err = rt_frame_send(fd,
                            RAY__RPC__MESSAGE_TYPE__MSG_NODE_HEARTBEAT_REQUEST,
                            &hb.base, 2000);
        if (err != RAY_OK)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, GCS_HEARTBEAT_MS) > 0) {
            /* The GCS sends nothing on this connection: readable means
             * it closed. */
            err = RAY_ECLOSED;
            break;
        }
    }
    close(fd);
    if (atomic_load(n->stop))
        return RAY_OK;
    snprintf(why, whylen, "lost the GCS connection");
    return err;
}

static void *
heartbeat_main(void *arg)
{
    node *n = arg;
    int backoff = 50;
    int64_t first_deadline = rt_deadline_after_ms(10000);
    char why[256];
    while (!atomic_load(n->stop)) {
        why[0] = 0;
        int64_t t0 = rt_clock_now_ns();
        ray_err err = gcs_session(n, why, sizeof(why));
        if (atomic_load(n->stop))
            break;
        if (atomic_load(&n->fatal) ||
            (!atomic_load(&n->told) && rt_clock_now_ns() > first_deadline)) {
            char msg[320];
            snprintf(msg, sizeof(msg), "cannot join the head at %s:%u: %s",
                     n->gcs_host, n->gcs_port, why);
            RT_ERROR("raylet: %s", msg);
            tell(n, false, msg);
            atomic_store(&n->fatal, 1);
            atomic_store(n->stop, 1);
            break;
        }
        if (rt_clock_now_ns() - t0 > 1000000000LL)
            backoff = 50; /* the session lasted: start over */
        RT_WARN("raylet: GCS %s:%u: %s (%s); retrying in %d ms", n->gcs_host,
                n->gcs_port, why, rt_strerror(err), backoff);
        for (int t = 0; t < backoff && !atomic_load(n->stop); t += 10)
            usleep(10000);
        backoff = backoff < 1000 ? backoff * 2 : 1000;
    }
    return NULL;
}

/* ---- jobs ---- */

static void
start_reply(node *n, rt_conn *c, ray_err code, const char *msg, bool need)
{
    Ray__Rpc__StartJobReply rep = RAY__RPC__START_JOB_REPLY__INIT;
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    st.code = (uint32_t)code;
    st.message = (char *)(msg ? msg : "");
    rep.status = &st;
    rep.need_exe = need;
    rep.node_id = (ProtobufCBinaryData){NODE_ID_LEN, n->id};
    rt_server_send(n->srv, c, RAY__RPC__MESSAGE_TYPE__MSG_START_JOB_REPLY,
                   &rep.base);
}

/* Run the job's executable as an agent: `var` (RAYC_AGENT_FD or
 * RAYC_AGENT_STANDBY) names descriptor `fd`, and RAYC_AGENT_CTL `ctl`
 * (the agent's end of its control socket; -1: none), which the child
 * keeps (blocking). The pid, or -1 with errno. */
static pid_t
launch(node *n, const char *path, const char *name, const char *var, int fd,
       int ctl, uint64_t job)
{
    /* The child's environment, made before fork. */
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = rt_calloc(ne + 12, sizeof(*envp));
    char e_job[48], e_fd[48], e_ctl[48], e_cpu[32], e_id[80], e_ip[96],
        e_res[320], e_mem[64], e_raylet[RT_HOST_MAX + 32],
        e_tok[2 * RT_TOKEN_LEN + 24], e_logs[PATH_MAX + 32];
    if (!envp) {
        errno = ENOMEM;
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "RAYC_", 5) && strncmp(environ[i], "RAY_", 4))
            envp[k++] = environ[i];
    snprintf(e_fd, sizeof(e_fd), "%s=%d", var, fd);
    snprintf(e_cpu, sizeof(e_cpu), "RAYC_NUM_CPUS=%d", n->ncpu);
    snprintf(e_id, sizeof(e_id), "RAYC_NODE_ID=%s", n->idhex);
    snprintf(e_ip, sizeof(e_ip), "RAYC_NODE_IP=%s", n->ip);
    envp[k++] = e_fd;
    /* Its own raylet, and the token to reach other nodes' agents (for
     * actor handles its calls are given). */
    snprintf(e_raylet, sizeof(e_raylet), "RAYC_RAYLET_ADDRESS=%s:%u", n->ip,
             n->port);
    envp[k++] = e_raylet;
    memcpy(e_tok, "RAYC_AGENT_TOKEN=", 17);
    rt_id_hex_encode(n->cfg->token, RT_TOKEN_LEN, e_tok + 17);
    envp[k++] = e_tok;
    if (job) { /* the standby learns it with its driver */
        snprintf(e_job, sizeof(e_job), "RAYC_JOB_ID=%016llx",
                 (unsigned long long)job);
        envp[k++] = e_job;
    }
    if (ctl >= 0) {
        snprintf(e_ctl, sizeof(e_ctl), "RAYC_AGENT_CTL=%d", ctl);
        envp[k++] = e_ctl;
    }
    envp[k++] = e_cpu;
    envp[k++] = e_id;
    envp[k++] = e_ip;
    /* Where the agent keeps its workers' output, which this raylet serves
     * to `rayc logs` (node_logs.h: names carrying its address). */
    snprintf(e_logs, sizeof(e_logs), "RAYC_LOG_DIR=%s/logs", n->cfg->temp_dir);
    envp[k++] = e_logs;
    if (n->cfg->resources && *n->cfg->resources) {
        snprintf(e_res, sizeof(e_res), "RAYC_RESOURCES=%s", n->cfg->resources);
        envp[k++] = e_res;
    }
    if (n->cfg->object_store_bytes) {
        snprintf(e_mem, sizeof(e_mem), "RAYC_OBJECT_STORE_MEMORY=%llu",
                 (unsigned long long)n->cfg->object_store_bytes);
        envp[k++] = e_mem;
    }
    char *argv[] = {name && *name ? (char *)name : (char *)"rayc-agent", NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        fcntl(fd, F_SETFD, 0);
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        if (ctl >= 0)
            fcntl(ctl, F_SETFD, 0);
        execve(path, argv, envp);
        if (!strcmp(var, "RAYC_AGENT_FD")) {
            /* Tell the driver, in the frame it waits for, then go. */
            Ray__Rpc__AgentReady r = RAY__RPC__AGENT_READY__INIT;
            Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
            st.code = RAY_EINVAL;
            st.message = "the raylet could not run the job's executable";
            r.status = &st;
            rt_frame_send(fd, RAY__RPC__MESSAGE_TYPE__MSG_AGENT_READY, &r.base,
                          1000);
        }
        _exit(127);
    }
    int e = errno;
    rt_free(envp);
    errno = e;
    return pid;
}

/* The standby: an agent of the last executable started here, already
 * running its runtime, that takes the next driver of that executable
 * (its connection passed over a Unix socket) instead of a fresh start
 * (tens of ms of exec and worker start-up). One at most; it goes when
 * another executable comes or after STANDBY_IDLE_S unused. */
#define STANDBY_IDLE_S 300

static void
standby_drop(node *n)
{
    if (!n->sb_pid)
        return;
    kill(n->sb_pid, SIGKILL); /* reaped by on_tick */
    close(n->sb_sock);
    n->sb_pid = 0;
    n->sb_sock = -1;
}

static void
standby_start(node *n, const char *path, const char *hex, const char *name)
{
    standby_drop(n);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return;
    pid_t pid = launch(n, path, name, "RAYC_AGENT_STANDBY", sv[1], -1, 0);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return;
    }
    n->sb_pid = pid;
    n->sb_sock = sv[0];
    n->sb_since = rt_clock_now_ns();
    snprintf(n->sb_hex, sizeof(n->sb_hex), "%s", hex);
    snprintf(n->sb_path, sizeof(n->sb_path), "%s", path);
    snprintf(n->sb_name, sizeof(n->sb_name), "%s", name);
}

/* Note a running agent; false (the agent is killed) without memory. */
static bool
agent_add(node *n, pid_t pid, uint64_t job, int ctl)
{
    if (n->nag == n->cag) {
        uint32_t cap = n->cag ? 2 * n->cag : 16;
        agent_rec *na = rt_realloc(n->ag, cap * sizeof(*na));
        if (!na) {
            kill(pid, SIGKILL);
            close(ctl);
            return false;
        }
        n->ag = na;
        n->cag = cap;
    }
    n->ag[n->nag++] = (agent_rec){pid, job, ctl};
    return true;
}

static void
spawn_agent(node *n, rt_conn *c, job_conn *j, const char *path)
{
    start_reply(n, c, RAY_OK, NULL, false);
    if (c->closing)
        return;
    pid_t pid = -1;
    bool warm = false;
    int ctl = -1;
    if (n->sb_pid && !strcmp(n->sb_hex, j->hex) &&
        rt_fdpass_send(n->sb_sock, &c->fd, 1, &j->job, sizeof(j->job), 1000) ==
            RAY_OK) {
        pid = n->sb_pid; /* it has the connection now */
        warm = true;
        ctl = n->sb_sock; /* and keeps the socket as its control one */
        n->sb_pid = 0;
        n->sb_sock = -1;
    } else {
        int sv[2] = {-1, -1};
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            sv[0] = sv[1] = -1;
        pid = launch(n, path, j->name, "RAYC_AGENT_FD", c->fd, sv[1], j->job);
        if (sv[1] >= 0)
            close(sv[1]);
        ctl = sv[0];
        if (pid < 0 && ctl >= 0)
            close(ctl);
    }
    if (pid < 0) {
        rt_server_close(n->srv, c, strerror(errno));
        return;
    }
    agent_add(n, pid, j->job, ctl);
    RT_INFO("raylet: job %s (%.12s) from %s: agent pid %d%s", j->name, j->hex,
            c->peer, (int)pid, warm ? " (the standby)" : "");
    int fd = c->fd;
    rt_server_detach(n->srv, c);
    close(fd);                               /* the agent has it now */
    standby_start(n, path, j->hex, j->name); /* for the next driver */
}

static void
exe_path(node *n, const job_conn *j, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", n->exe_dir, j->hex);
}

static void
on_start_job(node *n, rt_conn *c, Ray__Rpc__StartJobRequest *r)
{
    if (c->user) {
        rt_server_close(n->srv, c, "StartJob sent twice");
        return;
    }
    if (r->exe_hash.len != 32 || r->exe_size == 0 || r->exe_size > MAX_EXE) {
        start_reply(n, c, RAY_EINVAL,
                    "StartJob: a 32-byte SHA-256 and a size up to 1 GiB are "
                    "required",
                    false);
        rt_server_close(n->srv, c, "malformed StartJob");
        return;
    }
    job_conn *j = rt_calloc(1, sizeof(*j));
    if (!j) {
        rt_server_close(n->srv, c, "out of memory");
        return;
    }
    c->user = j;
    j->fd = -1;
    j->job = r->job_id;
    memcpy(j->hash, r->exe_hash.data, 32);
    rt_id_hex_encode(j->hash, 32, j->hex);
    j->size = r->exe_size;
    const char *base = r->exe_name ? strrchr(r->exe_name, '/') : NULL;
    snprintf(j->name, sizeof(j->name), "%s",
             base ? base + 1 : (r->exe_name ? r->exe_name : ""));
    char path[PATH_MAX + 80];
    exe_path(n, j, path, sizeof(path));
    if (access(path, X_OK) == 0) {
        spawn_agent(n, c, j, path);
        return;
    }
    snprintf(j->part, sizeof(j->part), "%s.part.%d.%llx", path, (int)getpid(),
             (unsigned long long)rt_random_u64());
    j->fd = open(j->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (j->fd < 0) {
        char why[PATH_MAX + 64];
        snprintf(why, sizeof(why), "%s: %s", j->part, strerror(errno));
        start_reply(n, c, RAY_ESYSERR, why, false);
        rt_server_close(n->srv, c, why);
        return;
    }
    start_reply(n, c, RAY_OK, NULL, true);
}

static void
on_chunk(node *n, rt_conn *c, Ray__Rpc__ExeChunk *ch)
{
    job_conn *j = c->user;
    if (!j || j->fd < 0) {
        rt_server_close(n->srv, c, "an executable chunk nobody asked for");
        return;
    }
    if (j->got + ch->data.len > j->size) {
        rt_server_close(n->srv, c, "more executable bytes than announced");
        return;
    }
    if (ch->data.len &&
        write(j->fd, ch->data.data, ch->data.len) != (ssize_t)ch->data.len) {
        rt_server_close(n->srv, c, strerror(errno));
        return;
    }
    j->got += ch->data.len;
    if (!ch->last)
        return;
    close(j->fd);
    j->fd = -1;
    uint8_t h[32];
    uint64_t sz = 0;
    char why[256] = "";
    ray_err err = rt_sha256_file(j->part, h, &sz, why, sizeof(why));
    if (err == RAY_OK && (sz != j->size || memcmp(h, j->hash, 32))) {
        snprintf(why, sizeof(why),
                 "the executable's bytes do not match its SHA-256");
        err = RAY_EINVAL;
    }
    char path[PATH_MAX + 80];
    exe_path(n, j, path, sizeof(path));
    if (err == RAY_OK && rename(j->part, path) != 0) {
        snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
        err = RAY_ESYSERR;
    }
    if (err != RAY_OK) {
        unlink(j->part);
        start_reply(n, c, err, why, false);
        rt_server_close(n->srv, c, why);
        return;
    }
    j->part[0] = 0;
    RT_INFO("raylet: cached executable %.12s (%llu bytes) from %s", j->hex,
            (unsigned long long)sz, c->peer);
    spawn_agent(n, c, j, path);
}

/* Another driver calls the named actors of job `job_id`'s agent here:
 * its connection goes to that agent, through the agent's control socket. */
static void
on_attach(node *n, rt_conn *c, const Ray__Rpc__AttachRequest *r)
{
    Ray__Rpc__AttachReply rep = RAY__RPC__ATTACH_REPLY__INIT;
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    rep.status = &st;
    agent_rec *a = NULL;
    for (uint32_t i = 0; i < n->nag && !a; i++)
        if (n->ag[i].job == r->job_id && n->ag[i].ctl >= 0)
            a = &n->ag[i];
    if (c->user || !a) {
        st.code = RAY_ENOTFOUND;
        st.message = c->user ? "this connection runs a job"
                             : "no agent of that job runs on this node";
        rt_server_send(n->srv, c, RAY__RPC__MESSAGE_TYPE__MSG_ATTACH_REPLY,
                       &rep.base);
        rt_server_close(n->srv, c, st.message);
        return;
    }
    rt_server_send(n->srv, c, RAY__RPC__MESSAGE_TYPE__MSG_ATTACH_REPLY,
                   &rep.base);
    if (c->closing)
        return;
    /* The byte says what the connection carries: records ('a') or
     * objects ('d'). */
    if (rt_fdpass_send(a->ctl, &c->fd, 1, r->data ? "d" : "a", 1, 1000) !=
        RAY_OK) {
        rt_server_close(n->srv, c, "the job's agent did not take it");
        return;
    }
    if (!r->data)
        RT_INFO("raylet: %s attached to job %016llx's agent pid %d", c->peer,
                (unsigned long long)r->job_id, (int)a->pid);
    int fd = c->fd;
    rt_server_detach(n->srv, c);
    close(fd);
}

/* `rayc logs`: this node's log files, or the end of one (node_logs.h).
 * A refusal is an answer, not the peer's fault: the connection stays
 * open either way, for the peer to ask again or close. */
static void
on_log(node *n, rt_conn *c, const Ray__Rpc__LogRequest *r)
{
    node_logs_reply rep;
    ray_err err = node_logs_answer(n->log_dir, n->ip, n->log_name, r, &rep);
    if (err != RAY_OK)
        RT_INFO("raylet: log request from %s refused: %s", c->peer, rep.why);
    rt_server_send(n->srv, c, RAY__RPC__MESSAGE_TYPE__MSG_LOG_REPLY,
                   &rep.msg.base);
    node_logs_reply_fini(&rep);
}

static void
on_message(void *ctx, rt_conn *c, uint32_t type, ProtobufCMessage *m)
{
    node *n = ctx;
    switch (type) {
    case RAY__RPC__MESSAGE_TYPE__MSG_ATTACH_REQUEST:
        on_attach(n, c, (Ray__Rpc__AttachRequest *)m);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_LOG_REQUEST:
        on_log(n, c, (Ray__Rpc__LogRequest *)m);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_START_JOB_REQUEST:
        on_start_job(n, c, (Ray__Rpc__StartJobRequest *)m);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_EXE_CHUNK:
        on_chunk(n, c, (Ray__Rpc__ExeChunk *)m);
        break;
    default: {
        char why[96];
        snprintf(why, sizeof(why), "%s is not a raylet request",
                 rt_proto_type_name(type));
        rt_server_close(n->srv, c, why);
    }
    }
}

static void
on_closed(void *ctx, rt_conn *c)
{
    (void)ctx;
    job_conn *j = c->user;
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    if (j->part[0])
        unlink(j->part);
    rt_free(j);
    c->user = NULL;
}

static void
on_tick(void *ctx)
{
    node *n = ctx;
    int st;
    pid_t pid;
    if (n->sb_pid &&
        rt_clock_now_ns() - n->sb_since > STANDBY_IDLE_S * 1000000000LL)
        standby_drop(n);
    if (atomic_load(&n->rejoin) == 1) { /* see rejoin_clean */
        standby_drop(n);
        for (uint32_t i = 0; i < n->nag; i++)
            kill(n->ag[i].pid, SIGKILL); /* reaped below */
        char old[17];
        snprintf(old, sizeof(old), "%.16s", n->idhex);
        if (rt_random_os(n->id, NODE_ID_LEN) == RAY_OK) {
            rt_id_hex_encode(n->id, NODE_ID_LEN, n->idhex);
            RT_INFO("raylet: node %s is node %.16s from now on", old, n->idhex);
        }
        atomic_store(&n->rejoin, 2);
    }
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == n->sb_pid) { /* the standby died: none now */
            close(n->sb_sock);
            n->sb_pid = 0;
            n->sb_sock = -1;
            continue;
        }
        for (uint32_t i = 0; i < n->nag; i++)
            if (n->ag[i].pid == pid) {
                if (n->ag[i].ctl >= 0)
                    close(n->ag[i].ctl);
                n->ag[i] = n->ag[--n->nag];
                break;
            }
        RT_INFO("raylet: agent pid %d ended (%s %d)", (int)pid,
                WIFSIGNALED(st) ? "signal" : "status",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
}

static const rt_server_ops raylet_ops = {
    .message = on_message,
    .closed = on_closed,
    .tick = on_tick,
};

/* Where `rayc logs` finds this node's files, and which is its own. The
 * log is named with the address `rayc start` was given, and a worker
 * node without one learns its address only here (the one it reaches the
 * head from): rename the log to carry it, as the node's files are found
 * by the address they name. */
static void
log_setup(node *n)
{
    snprintf(n->log_dir, sizeof(n->log_dir), "%s/logs", n->cfg->temp_dir);
    const char *path = n->cfg->log_file;
    if (!path || !*path)
        return;
    char want[PATH_MAX + RT_HOST_MAX + 32];
    node_logs_path(n->log_dir, n->cfg->head, n->ip, (int)getpid(), want,
                   sizeof(want));
    if (strcmp(path, want) && rename(path, want) == 0)
        path = want;
    else if (strcmp(path, want))
        RT_WARN("raylet: cannot rename its log %s to %s (`rayc logs` "
                "finds a node's files by the address they name): %s",
                path, want, strerror(errno));
    const char *base = strrchr(path, '/');
    snprintf(n->log_name, sizeof(n->log_name), "%s", base ? base + 1 : path);
}

/* ---- the head's GCS thread ---- */

typedef struct gcs_thread {
    gcs *g;
    _Atomic int *stop;
} gcs_thread;

static void *
gcs_main(void *arg)
{
    gcs_thread *t = arg;
    gcs_run(t->g, t->stop);
    return NULL;
}

ray_err
node_run(const node_config *cfg, _Atomic int *stop)
{
    node n = {.cfg = cfg, .stop = stop, .sb_sock = -1};
    char why[320];
    ray_err err = rt_random_os(n.id, NODE_ID_LEN);
    rt_id_hex_encode(n.id, NODE_ID_LEN, n.idhex);
    snprintf(n.ip, sizeof(n.ip), "%s",
             cfg->ip && *cfg->ip ? cfg->ip : "127.0.0.1");
    rt_net_set_source(cfg->ip && *cfg->ip ? cfg->ip : NULL);
    n.ncpu =
        cfg->num_cpus > 0 ? cfg->num_cpus : (int)sysconf(_SC_NPROCESSORS_ONLN);
    sched_res_init(&n.res);
    if (cfg->resources && *cfg->resources &&
        sched_res_add_spec(&n.res, cfg->resources) != RAY_OK) {
        snprintf(why, sizeof(why),
                 "--resources=%s: expected name=amount pairs, at most %d",
                 cfg->resources, SCHED_RES_MAX);
        tell(&n, false, why);
        return RAY_EINVAL;
    }
    snprintf(n.exe_dir, sizeof(n.exe_dir), "%s/exe", cfg->temp_dir);
    if (err == RAY_OK && rt_mkdir_p(n.exe_dir, 0700) != 0) {
        snprintf(why, sizeof(why), "%s: %s", n.exe_dir, strerror(errno));
        tell(&n, false, why);
        return RAY_ESYSERR | (ray_err)(errno << 8);
    }
    gcs *g = NULL;
    gcs_thread gt = {.stop = stop};
    pthread_t gtid;
    bool gcs_started = false;
    if (cfg->head) {
        int gfd;
        err = rt_tcp_listen(n.ip, cfg->gcs_port, &gfd, &n.gcs_port, why,
                            sizeof(why));
        if (err == RAY_OK)
            err = gcs_create(gfd, cfg->token, cfg->deadline_ms, cfg->storage,
                             &g, why, sizeof(why));
        if (err != RAY_OK) {
            char msg[600];
            snprintf(msg, sizeof(msg), "the GCS cannot start: %s", why);
            tell(&n, false, msg);
            return err;
        }
        snprintf(n.gcs_host, sizeof(n.gcs_host), "%s", n.ip);
        gt.g = g;
        if (pthread_create(&gtid, NULL, gcs_main, &gt) != 0) {
            gcs_destroy(g);
            tell(&n, false, "cannot start the GCS thread");
            return RAY_ENOMEM;
        }
        gcs_started = true;
    } else {
        err = rt_addr_parse(cfg->gcs_address, n.gcs_host, &n.gcs_port, why,
                            sizeof(why));
        if (err != RAY_OK) {
            tell(&n, false, why);
            return err;
        }
        if (!cfg->ip || !*cfg->ip) {
            /* The address this machine reaches the head from is the one
             * the others can reach it at: bind and advertise that. */
            int probe;
            if (rt_tcp_connect(n.gcs_host, n.gcs_port, 3000, &probe, why,
                               sizeof(why)) == RAY_OK) {
                rt_tcp_local_ip(probe, n.ip);
                close(probe);
            }
        }
    }
    if (!strcmp(n.ip, "0.0.0.0")) {
        tell(&n, false,
             "--node-ip-address=0.0.0.0: give the address the other "
             "machines reach this one at (it is advertised to them)");
        return RAY_EINVAL;
    }
    log_setup(&n);
    int lfd = -1;
    pthread_t hb;
    bool hb_started = false;
    err = rt_tcp_listen(n.ip, cfg->port, &lfd, &n.port, why, sizeof(why));
    if (err == RAY_OK)
        err = rt_server_create(lfd, cfg->token, "raylet", &raylet_ops, &n,
                               &n.srv);
    if (err != RAY_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "the raylet cannot listen: %s", why);
        tell(&n, false, msg);
        if (lfd >= 0 && !n.srv)
            close(lfd);
        goto out;
    }
    if (pthread_create(&hb, NULL, heartbeat_main, &n) != 0) {
        tell(&n, false, "cannot start the heartbeat thread");
        err = RAY_ENOMEM;
        goto out;
    }
    hb_started = true;
    RT_INFO("raylet: node %.16s listening on %s:%u (%d CPUs%s%s)", n.idhex,
            n.ip, n.port, n.ncpu, cfg->resources ? ", " : "",
            cfg->resources ? cfg->resources : "");
    rt_server_run(n.srv, stop);
    err = atomic_load(&n.fatal) ? RAY_EINVAL : RAY_OK;
out:
    atomic_store(stop, 1);
    if (hb_started)
        pthread_join(hb, NULL);
    if (gcs_started)
        pthread_join(gtid, NULL);
    gcs_destroy(g);
    rt_server_destroy(n.srv);
    standby_drop(&n);
    for (uint32_t i = 0; i < n.nag; i++) /* they end with this process */
        if (n.ag[i].ctl >= 0)
            close(n.ag[i].ctl);
    rt_free(n.ag);
    return err;
}

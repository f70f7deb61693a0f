/* SPDX-License-Identifier: Apache-2.0
 *
 * chaos.c: the sweep under faults (chaos.h).
 */
#include "tests/integration/common/chaos.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the workload ---- */

static int64_t
sq(int64_t x, int64_t us)
{
    if (us > 0)
        usleep((useconds_t)us);
    return x * x;
}
RAY_REMOTE(sq, int64_t, int64_t, int64_t);

/* The sum of the values of the refs packed in refs: the driver's calls,
 * borrowed wherever this runs (a reduce over a list of refs). */
static int64_t
sum_of(ray_bytes refs)
{
    const ray_ref *r = refs.data;
    int64_t s = 0;
    for (size_t i = 0; i < refs.len / sizeof(*r); i++) {
        int64_t v = 0;
        ray_err e = ray_get_int64(r[i], &v, 120000);
        if (e != RAY_OK) {
            ray_task_fail(e, "ref %zu: %s", i, ray_last_error_detail());
            return -1;
        }
        s += v;
    }
    return s;
}
RAY_REMOTE(sum_of, int64_t, ray_bytes);

/* A large value (GRAPH_BYTES) of seed's bytes, made on a node. */
#define GRAPH_BYTES (2u << 20)

static uint8_t
graph_at(size_t i, int64_t seed)
{
    return (uint8_t)((uint64_t)seed * 31u + i * 7u);
}

static ray_bytes
grow(int64_t seed)
{
    uint8_t *p = malloc(GRAPH_BYTES);
    for (size_t i = 0; p && i < GRAPH_BYTES; i++)
        p[i] = graph_at(i, seed);
    return (ray_bytes){p, p ? GRAPH_BYTES : 0};
}
RAY_REMOTE(grow, ray_bytes, int64_t);

/* seed when b holds seed's bytes, else -1. */
static int64_t
digest(ray_bytes b, int64_t seed)
{
    if (b.len != GRAPH_BYTES)
        return -1;
    for (size_t i = 0; i < b.len; i++)
        if (((const uint8_t *)b.data)[i] != graph_at(i, seed))
            return -1;
    return seed;
}
RAY_REMOTE(digest, int64_t, ray_bytes, int64_t);

/* An actor whose answers depend on its constructor's state: a restart
 * makes the same state again. */
typedef struct scaler {
    int64_t factor;
} scaler;

static ray_err
scaler_init(scaler *s, int64_t factor)
{
    s->factor = factor;
    return RAY_OK;
}
RAY_ACTOR(scaler, scaler_init, int64_t);

static int64_t
scaler_scale(scaler *s, int64_t x)
{
    return s->factor * x;
}
RAY_METHOD(scaler, scaler_scale, int64_t, int64_t);

static int64_t
scaler_pid(scaler *s)
{
    (void)s;
    return (int64_t)getpid();
}
RAY_METHOD0(scaler, scaler_pid, int64_t);

#define FACTOR 7

/* ---- the cluster ---- */

static const char *const node_ip[3] = {"127.0.9.2", "127.0.9.3", "127.0.9.4"};

static int
start_node(rc_cluster *c, const char *ip)
{
    char addr[160], at[64];
    snprintf(addr, sizeof(addr), "--address=%s", c->head);
    snprintf(at, sizeof(at), "--node-ip-address=%s", ip);
    return rc_rayc(c, "start", addr, at, "--num-cpus=2", "--resources=pool=10",
                   NULL);
}

/* The head's address: the cluster has 127.0.9.0/24 to itself, so that a
 * firewall rule on one node's address cuts that node only (the daemons'
 * connections leave from their --node-ip-address). */
#define HEAD_IP "--node-ip-address=127.0.9.1"

bool
rc_chaos_up(rc_cluster *c)
{
    if (!rc_open(c, "chaos"))
        return false;
    if (rc_rayc(c, "start", "--head", HEAD_IP, "--port=0", "--num-cpus=1",
                "--dashboard-port=-1", NULL) != 0 ||
        !rc_read_head(c))
        return false;
    for (int i = 0; i < 3; i++)
        if (start_node(c, node_ip[i]) != 0)
            return false;
    return true;
}

unsigned
rc_chaos_seed(void)
{
    const char *s = getenv("RAYC_CHAOS_SEED");
    return s && *s ? (unsigned)strtoul(s, NULL, 10)
                   : (unsigned)time(NULL) ^ (unsigned)getpid();
}

/* ---- the faults ---- */

enum {
    F_KILL_RAYLET,
    F_HANG_NODE,
    F_KILL_HEAD,
    F_KILL_WORKER,
    F_KILL_ACTOR,
    F_FILL_STORE,
    F_HANG_RAYLET,
    F_PARTITION, /* these two need nftables (as root): net_on */
    F_LOSSY,
    NFAULTS
};

static const char *const fault_name[NFAULTS] = {
    "kill -9 of the raylet of 127.0.9.2, started again",
    "127.0.9.3 hung (SIGSTOP of its processes past the deadline)",
    "kill -9 of the head, started again",
    "kill -9 of a worker of 127.0.9.4",
    "kill -9 of the actor's process",
    "the driver's store filled past its size (puts of 8 MiB; as root, "
    "its spills on a 24 MiB disk)",
    "the raylet of 127.0.9.4 hung alone past the deadline (its agent and "
    "workers run on)",
    "127.0.9.3 cut off from every other node (each packet to or from it "
    "dropped)",
    "127.0.9.2's links losing 1 packet in 4 for 3 s (slow: TCP resends)"};

/* ---- the network faults: nftables rules on the cluster's addresses ----
 *
 * A table of this process's own (rc_cluster.nft), with an input chain
 * whose rules drop a node's packets: all of them (a partition: nothing
 * resets its connections, packets go nowhere), or one in four (a lossy,
 * slow link: TCP sends them again). rc_close deletes the table even when
 * a test failed. Only as root, with the nft program (scripts/setup). */

static int nft(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
nft(const char *fmt, ...)
{
    char rule[300], cmd[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd),
             "PATH=$PATH:/usr/sbin:/sbin nft \"%s\" 2>/dev/null", rule);
    return system(cmd) == 0 ? 0 : -1;
}

/* The table and its chain: false when nftables cannot be used here. */
static bool
net_up(rc_cluster *c)
{
    if (geteuid() != 0)
        return false;
    snprintf(c->nft, sizeof(c->nft), "rayc_chaos_%d", (int)getpid());
    if (nft("add table inet %s", c->nft) != 0 ||
        nft("add chain inet %s input { type filter hook input priority 0; }",
            c->nft) != 0) {
        rc_net_down(c);
        return false;
    }
    return true;
}

/* Drop node ip's packets, each one (pct 100) or about pct in 100, for
 * ms milliseconds; then the link is whole again. */
static int
net_fault(rc_cluster *c, const char *ip, int pct, int ms)
{
    char drop[64] = "drop";
    if (pct < 100)
        snprintf(drop, sizeof(drop), "numgen random mod 100 < %d drop", pct);
    int rc = nft("add rule inet %s input ip saddr %s %s", c->nft, ip, drop);
    if (rc == 0)
        rc = nft("add rule inet %s input ip daddr %s %s", c->nft, ip, drop);
    if (rc == 0)
        usleep((useconds_t)ms * 1000);
    int back = nft("flush chain inet %s input", c->nft);
    return rc == 0 ? back : rc;
}

/* The driver's store (STORE_MB) gets PUTS values of 8 MiB, three times
 * its size: it spills or refuses; every value it took reads back whole. */
#define STORE_MB 32
#define PUTS RC_CHAOS_PUTS
#define PUT_BYTES (8u << 20)

typedef struct chaos {
    rc_cluster *c;
    rc_chaos_report *r;
    unsigned rnd; /* the faults' own draws */
    int fault_s;
    ray_actor actor;
    struct timespec t0;
    _Atomic int done; /* every fault was made */
    char detail[80];  /* what the last fault chose, for its log line */
} chaos;

static double
since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
note(chaos *ch, const char *what, double at, int rc)
{
    rc_chaos_report *r = ch->r;
    size_t l = strlen(r->log);
    if (l + 160 < sizeof(r->log))
        snprintf(r->log + l, sizeof(r->log) - l, "  %6.1f s  %s%s%s\n", at,
                 what, ch->detail, rc == 0 ? "" : " (could not: skipped)");
    ch->detail[0] = 0;
    if (rc == 0)
        r->faults++;
    else
        r->skipped++;
}

static int
fill_store(chaos *ch)
{
    static uint8_t buf[PUT_BYTES];
    ray_ref puts[PUTS] = {{0}};
    for (int i = 0; i < PUTS; i++) {
        memset(buf, 'a' + i, sizeof(buf));
        ray_err e = ray_put_bytes(buf, sizeof(buf), &puts[i]);
        if (e != RAY_OK && strstr(ray_last_error_detail(), "is full ("))
            ch->r->puts_disk_full++; /* its spill directory's disk */
        if (e == RAY_ESTORE_FULL || (e != RAY_OK && ch->r->spill_disk_mb))
            ch->r->puts_full++;
        else if (e != RAY_OK)
            return -1;
    }
    for (int i = 0; i < PUTS; i++) {
        if (!puts[i].id)
            continue;
        ch->r->puts_took++;
        ray_view v;
        bool same = ray_get(puts[i], &v, 60000) == RAY_OK;
        if (same) {
            same = v.len == PUT_BYTES;
            for (size_t k = 0; same && k < v.len; k += 4096)
                same = ((const uint8_t *)v.data)[k] == 'a' + i;
            ray_release(&v);
        }
        ch->r->puts_bad += !same;
        ray_ref_release(puts[i]);
    }
    return 0;
}

static int
make_fault(chaos *ch, int f)
{
    rc_cluster *c = ch->c;
    switch (f) {
    case F_KILL_RAYLET: {
        pid_t p = rc_daemon_pid(c, node_ip[0]);
        if (p <= 0 || kill(p, SIGKILL) != 0)
            return -1;
        usleep((useconds_t)(300 + rand_r(&ch->rnd) % 1200) * 1000);
        return start_node(c, node_ip[0]);
    }
    case F_HANG_NODE: {
        pid_t p = rc_daemon_pid(c, node_ip[1]);
        if (p <= 0)
            return -1;
        rc_signal_tree(p, SIGSTOP);
        /* past the 3 s deadline */
        usleep((useconds_t)(3500 + rand_r(&ch->rnd) % 1500) * 1000);
        rc_signal_tree(p, SIGCONT);
        return 0;
    }
    case F_KILL_HEAD: {
        pid_t p = rc_daemon_pid(c, "head");
        if (p <= 0 || kill(p, SIGKILL) != 0)
            return -1;
        usleep((useconds_t)(100 + rand_r(&ch->rnd) % 900) * 1000);
        char port[32];
        snprintf(port, sizeof(port), "--port=%s", strrchr(c->head, ':') + 1);
        int rc = 1;
        for (int k = 0; k < 50 && rc != 0; k++) { /* until the port is free */
            rc = rc_rayc(c, "start", "--head", HEAD_IP, port, "--num-cpus=1",
                         "--dashboard-port=-1", NULL);
            if (rc != 0)
                usleep(100000);
        }
        return rc;
    }
    case F_KILL_WORKER: {
        /* The deepest processes are the agents' workers: the last found.
         * Right after .4 rejoined (F_HANG_RAYLET) its agent and workers
         * are not back yet: they are, within seconds, as the sweep
         * sends it calls. */
        pid_t ps[256];
        int n = 0;
        for (int k = 0; k < 100 && n <= 2; k++) {
            pid_t p = rc_daemon_pid(c, node_ip[2]);
            n = p > 0 ? rc_tree(p, ps, 256) : 0;
            if (n <= 2)
                usleep(100000);
        }
        return n > 2 ? kill(ps[n - 1], SIGKILL) : -1;
    }
    case F_KILL_ACTOR: {
        int64_t pid = 0;
        ray_ref r = scaler_pid_remote(ch->actor);
        ray_err e = ray_get_int64(r, &pid, 30000);
        ray_ref_release(r);
        if (e != RAY_OK || pid <= 1 || pid == getpid())
            return -1;
        return kill((pid_t)pid, SIGKILL);
    }
    case F_FILL_STORE:
        return fill_store(ch);
    case F_HANG_RAYLET: {
        pid_t p = rc_daemon_pid(c, node_ip[2]);
        if (p <= 0 || kill(p, SIGSTOP) != 0)
            return -1;
        usleep((useconds_t)(3500 + rand_r(&ch->rnd) % 1500) * 1000);
        return kill(p, SIGCONT);
    }
    case F_PARTITION: { /* shorter than the 3 s deadline, or past it */
        bool past = rand_r(&ch->rnd) % 2;
        int ms = past ? 4000 + (int)(rand_r(&ch->rnd) % 2000)
                      : 800 + (int)(rand_r(&ch->rnd) % 1000);
        ch->r->partitions_past += past;
        snprintf(ch->detail, sizeof(ch->detail), " for %.1f s%s", ms / 1e3,
                 past ? ", past the deadline" : " (ridden out)");
        return net_fault(c, node_ip[1], 100, ms);
    }
    case F_LOSSY:
        return net_fault(c, node_ip[0], 25, 3000);
    }
    return -1;
}

static void *
chaos_main(void *arg)
{
    chaos *ch = arg;
    int order[NFAULTS];
    do {
        for (int i = 0; i < NFAULTS; i++)
            order[i] = i;
        for (int i = NFAULTS - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)(rand_r(&ch->rnd) % (unsigned)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i = 0; i < NFAULTS; i++) {
            usleep((useconds_t)(200 + rand_r(&ch->rnd) % 800) * 1000);
            if (order[i] >= F_PARTITION && !ch->r->net_on)
                continue; /* no nftables here */
            double at = since(&ch->t0);
            note(ch, fault_name[order[i]], at, make_fault(ch, order[i]));
        }
    } while (since(&ch->t0) < ch->fault_s);
    atomic_store(&ch->done, 1);
    return NULL;
}

/* ---- the sweep ---- */

enum {
    WAVE = RC_CHAOS_WAVE,
    REDUCES = RC_CHAOS_REDUCES,
    ACALLS = RC_CHAOS_ACALLS,
    GRAPH = RC_CHAOS_GRAPH,
    MAX_WAVES = 5000
};

static struct timespec run_t0; /* the faults' clock: the report's times */

static void lost_one(rc_chaos_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
lost_one(rc_chaos_report *r, const char *fmt, ...)
{
    if (!r->lost++) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first_loss, sizeof(r->first_loss), fmt, ap);
        va_end(ap);
    }
}

/* Get an int64 within the wave's deadline: true when it is `want`. */
static bool
check(rc_chaos_report *r, ray_ref ref, int64_t want,
      const struct timespec *wave_t0, const char *what, long long which)
{
    int64_t left = 120000 - (int64_t)(since(wave_t0) * 1000);
    int64_t v = -1;
    ray_err e =
        ref.id ? ray_get_int64(ref, &v, left > 1 ? left : 1) : RAY_EINVAL;
    if (e == RAY_ETIMEDOUT) {
        if (!r->hangs++)
            snprintf(r->first_hang, sizeof(r->first_hang),
                     "%s %lld, of a wave begun at %.1f s", what, which,
                     since(&run_t0) - since(wave_t0));
        return false;
    }
    if (e != RAY_OK || v != want) {
        lost_one(r, "%s %lld: %lld, not %lld: %s (%s)", what, which,
                 (long long)v, (long long)want, ray_strerror(e),
                 ray_last_error_detail());
        return false;
    }
    return true;
}

/* Get a large value here within the wave's deadline: true when it holds
 * seed's bytes. */
static bool
check_bytes(rc_chaos_report *r, ray_ref ref, int64_t seed,
            const struct timespec *wave_t0)
{
    int64_t left = 120000 - (int64_t)(since(wave_t0) * 1000);
    ray_view v;
    ray_err e = ray_get(ref, &v, left > 1 ? left : 1);
    if (e == RAY_ETIMEDOUT) {
        if (!r->hangs++)
            snprintf(r->first_hang, sizeof(r->first_hang),
                     "large value %lld here, of a wave begun at %.1f s",
                     (long long)seed, since(&run_t0) - since(wave_t0));
        return false;
    }
    bool same = e == RAY_OK && v.len == GRAPH_BYTES;
    for (size_t i = 0; same && i < v.len; i += 4093)
        same = ((const uint8_t *)v.data)[i] == graph_at(i, seed);
    if (e == RAY_OK)
        ray_release(&v);
    if (!same)
        lost_one(r, "large value %lld: %s (%s)", (long long)seed,
                 e == RAY_OK ? "other bytes" : ray_strerror(e),
                 e == RAY_OK ? "" : ray_last_error_detail());
    return same;
}

static void
wave(chaos *ch, int w, unsigned *rnd)
{
    rc_chaos_report *r = ch->r;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ray_ref refs[WAVE], red[REDUCES], ac[ACALLS], big[GRAPH], dig[GRAPH];
    int64_t xs[WAVE], want[REDUCES] = {0};
    ray_call_opts pool = {.resources = "pool:1"}; /* the nodes, not here */
    for (int g = 0; g < GRAPH; g++) {
        int64_t seed = (int64_t)w * GRAPH + g;
        big[g] = grow_remote_opts(&pool, seed);
        dig[g] = RAY_CALL_OPTS(digest, &pool, big[g], seed);
    }
    for (int i = 0; i < WAVE; i++) {
        xs[i] = (int64_t)w * WAVE + i;
        refs[i] = sq_remote(xs[i], (int64_t)(rand_r(rnd) % 3000));
        want[i % REDUCES] += xs[i] * xs[i];
    }
    for (int k = 0; k < REDUCES; k++) { /* refs k, k + 4, ... */
        ray_ref part[WAVE / REDUCES];
        for (int i = 0; i < WAVE / REDUCES; i++)
            part[i] = refs[i * REDUCES + k];
        red[k] = sum_of_remote((ray_bytes){part, sizeof(part)});
    }
    for (int k = 0; k < ACALLS; k++)
        ac[k] = scaler_scale_remote(ch->actor, (int64_t)w * ACALLS + k);
    for (int i = 0; i < WAVE; i++)
        r->checked += check(r, refs[i], xs[i] * xs[i], &t0, "call", xs[i]);
    for (int k = 0; k < REDUCES; k++) {
        r->reduced += check(r, red[k], want[k], &t0, "reduce", w * 10 + k);
        ray_ref_release(red[k]);
    }
    for (int k = 0; k < ACALLS; k++) {
        int64_t x = (int64_t)w * ACALLS + k;
        r->actor_calls += check(r, ac[k], FACTOR * x, &t0, "actor call", x);
        ray_ref_release(ac[k]);
    }
    for (int g = 0; g < GRAPH; g++) {
        int64_t seed = (int64_t)w * GRAPH + g;
        r->graph += check(r, dig[g], seed, &t0, "large value read", seed);
        ray_ref_release(dig[g]);
    }
    r->graph +=
        check_bytes(r, big[GRAPH - 1], (int64_t)w * GRAPH + GRAPH - 1, &t0);
    for (int g = 0; g < GRAPH; g++)
        ray_ref_release(big[g]);
    for (int i = 0; i < WAVE; i++) /* after the reduces read them */
        ray_ref_release(refs[i]);
    double secs = since(&t0);
    if (secs > r->recover_s)
        r->recover_s = secs;
}

/* As root: a tmpfs of DISK_MB at TMP/disk for the driver's store's
 * private directory, so its spills fill a real disk. False elsewhere. */
#define DISK_MB 24

static bool
small_disk(rc_cluster *c, char *dir, size_t len)
{
    snprintf(dir, len, "%s/disk", c->tmp);
    char opt[32];
    snprintf(opt, sizeof(opt), "size=%dm", DISK_MB);
    return mkdir(dir, 0700) == 0 && mount("tmpfs", dir, "tmpfs", 0, opt) == 0;
}

/* ray_init with the driver's store (started at once) on `disk` when
 * there is one. */
static ray_err
driver_up(rc_cluster *c, const char *disk)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 1;
    cfg.address = c->head;
    cfg.object_store_bytes = (uint64_t)STORE_MB << 20;
    char old[PATH_MAX] = "";
    const char *t = getenv("TMPDIR");
    bool had = t != NULL;
    if (had)
        snprintf(old, sizeof(old), "%s", t);
    if (disk)
        setenv("TMPDIR", disk, 1); /* read as the store starts */
    ray_err err = ray_init(&cfg);
    if (err == RAY_OK && disk) {
        static uint8_t one[1 << 20]; /* a value for the store: it starts */
        ray_ref warm;
        if (ray_put_bytes(one, sizeof(one), &warm) == RAY_OK)
            ray_ref_release(warm);
    }
    if (disk && had) /* daemons started again later do not take it */
        setenv("TMPDIR", old, 1);
    else if (disk)
        unsetenv("TMPDIR");
    return err;
}

ray_err
rc_chaos_run(rc_cluster *c, unsigned seed, int fault_s, int max_s,
             rc_chaos_report *r)
{
    memset(r, 0, sizeof(*r));
    r->seed = seed;
    r->net_on = net_up(c);
    char disk[PATH_MAX + 8];
    bool mounted = small_disk(c, disk, sizeof(disk));
    r->spill_disk_mb = mounted ? DISK_MB : 0;
    ray_err err = driver_up(c, mounted ? disk : NULL);
    if (err != RAY_OK) {
        snprintf(r->first_loss, sizeof(r->first_loss), "ray_init: %s",
                 ray_last_error_detail());
        if (mounted)
            umount2(disk, MNT_DETACH);
        return err;
    }
    static chaos ch;
    memset(&ch, 0, sizeof(ch));
    ch.c = c;
    ch.r = r;
    ch.rnd = seed;
    ch.fault_s = fault_s;
    ray_actor_opts ao = {
        .resources = "pool:1", .max_restarts = -1, .max_task_retries = -1};
    err = scaler_create(&ch.actor, &ao, FACTOR);
    if (err != RAY_OK) {
        snprintf(r->first_loss, sizeof(r->first_loss), "the actor: %s",
                 ray_last_error_detail());
        ray_shutdown();
        if (mounted)
            umount2(disk, MNT_DETACH);
        return err;
    }
    clock_gettime(CLOCK_MONOTONIC, &ch.t0);
    run_t0 = ch.t0;
    pthread_t th;
    bool faults = pthread_create(&th, NULL, chaos_main, &ch) == 0;
    unsigned rnd = seed * 7919u;
    /* Waves until the faults are over and three more waves ran. */
    for (int after = 0;
         r->waves < MAX_WAVES && after < 3 && since(&ch.t0) < max_s;
         r->waves++) {
        wave(&ch, r->waves, &rnd);
        if (!faults || atomic_load(&ch.done))
            after++;
    }
    if (faults)
        pthread_join(th, NULL);
    if (!atomic_load(&ch.done))
        lost_one(r, "the faults were not all made");
    r->secs = since(&ch.t0);
    ray_stats st;
    memset(&st, 0, sizeof(st));
    ray_get_stats(&st);
    r->resent = st.calls_resent;
    r->rebuilt = st.objects_rebuilt;
    r->worker_restarts = st.worker_restarts;
    r->spills = st.store_spills;
    int state = 0;
    ray_actor_state(ch.actor, &state, &r->actor_restarts);
    ray_actor_release(ch.actor);
    ray_shutdown();
    if (mounted)
        umount2(disk, MNT_DETACH);
    rc_net_down(c);
    return RAY_OK;
}

void
rc_chaos_print(FILE *f, const rc_chaos_report *r)
{
    fprintf(f,
            "chaos: seed %u (RAYC_CHAOS_SEED=%u replays it): %d waves in %.1f "
            "s; %d results, %d reduces over borrowed refs, %d actor calls "
            "and %d large values checked; %d lost, %d hangs; %d faults made "
            "(%d skipped); %llu calls sent again (%llu of them to make a "
            "lost value again), %llu workers restarted, %d actor restarts, "
            "%llu spills, %d puts refused (store full) of %d, %d of them "
            "as the spill disk%s was full; %s; the longest "
            "wave (time to recover) %.2f s%s%s%s%s\n%s",
            r->seed, r->seed, r->waves, r->secs, r->checked, r->reduced,
            r->actor_calls, r->graph, r->lost, r->hangs, r->faults, r->skipped,
            r->resent, r->rebuilt, r->worker_restarts, r->actor_restarts,
            r->spills, r->puts_full, r->puts_full + r->puts_took,
            r->puts_disk_full,
            r->spill_disk_mb ? " (24 MiB)" : " (not mounted: no root)",
            r->net_on ? "partitions and lossy links by nftables"
                      : "no partitions or lossy links (no root or no nft)",
            r->recover_s, r->first_loss[0] ? "; the first loss: " : "",
            r->first_loss, r->first_hang[0] ? "; the first hang: " : "",
            r->first_hang, r->log);
}

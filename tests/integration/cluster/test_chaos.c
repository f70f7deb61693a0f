/* SPDX-License-Identifier: Apache-2.0
 *
 * test_chaos.c: a parameter sweep on a loopback cluster (a head and
 * three nodes, real processes) while faults land at random moments: a
 * raylet killed (kill -9), a node hung whole (SIGSTOP of its raylet, its
 * agents and their workers, longer than the heartbeat deadline, then
 * SIGCONT), the head killed and started again on its port, a worker
 * process killed under a task, and the driver's store filled past its
 * size (it spills or refuses; what it took reads back whole). Every result must
 * come back correct: none lost, no get left hanging. The seed (printed;
 * RAYC_CHAOS_SEED replays it) picks the order of the faults and the pauses
 * between them. Each wave also has reduce calls that read its calls' refs
 * packed in their argument (borrowed from the driver on whatever node they
 * run, while those calls may still run). Bounded: at most 400 waves of
 * calls and 90 s; the cluster is stopped in the teardown even when a check
 * fails.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ray/ray.h"
#include "tests/integration/common/cluster.h"

static rc_cluster C;

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

static void
chaos_up(void)
{
    cr_assert(rc_open(&C, "chaostest"));
    cr_assert_eq(rc_rayc(&C, "start", "--head", "--port=0", "--num-cpus=1",
                         "--dashboard-port=-1", NULL),
                 0, "%s", rc_out(&C));
    cr_assert(rc_read_head(&C));
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", C.head);
    const char *ips[3] = {"--node-ip-address=127.0.0.2",
                          "--node-ip-address=127.0.0.3",
                          "--node-ip-address=127.0.0.4"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(rc_rayc(&C, "start", addr, ips[i], "--num-cpus=2", NULL),
                     0, "%s", rc_out(&C));
}

static void
chaos_down(void)
{
    ray_shutdown();
    bool clean = !C.tmp[0] || rc_logs_clean(&C);
    rc_close(&C);
    cr_assert(clean, "a daemon's log holds a sanitizer report (above)");
}

TestSuite(chaos, .init = chaos_up, .fini = chaos_down, .timeout = 150);

/* ---- processes ---- */

/* The parent pid of `pid` from /proc, or -1. */
static pid_t
parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    int ppid = -1;
    if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return -1;
    return ppid;
}

/* `root` and every process below it, into out (at most max): n. */
static int
tree(pid_t root, pid_t *out, int max)
{
    int n = 0;
    out[n++] = root;
    for (int grew = 1; grew && n < max;) {
        grew = 0;
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d)) && n < max) {
            pid_t p = (pid_t)atoi(e->d_name);
            if (p <= 0)
                continue;
            bool have = false;
            for (int i = 0; i < n && !have; i++)
                have = out[i] == p;
            pid_t pp = have ? -1 : parent_of(p);
            for (int i = 0; i < n && pp > 0; i++)
                if (out[i] == pp) {
                    out[n++] = p;
                    grew = 1;
                    break;
                }
        }
        if (d)
            closedir(d);
    }
    return n;
}

static void
signal_tree(pid_t root, int sig)
{
    pid_t ps[256];
    int n = tree(root, ps, 256);
    for (int i = 0; i < n; i++)
        kill(ps[i], sig);
}

/* ---- the faults ---- */

enum {
    F_KILL_RAYLET,
    F_HANG_NODE,
    F_KILL_HEAD,
    F_KILL_WORKER,
    F_FILL_STORE,
    NFAULTS
};

static const char *const fault_name[NFAULTS] = {
    "kill -9 of the raylet of 127.0.0.2",
    "127.0.0.3 hung (SIGSTOP of its processes past the deadline)",
    "kill -9 of the head, started again", "kill -9 of a worker of 127.0.0.4",
    "the driver's store filled past its size (puts of 8 MiB)"};

/* The driver's store (STORE_MB) gets PUTS values of 8 MiB, three times
 * its size: it spills or refuses; every value it took reads back whole
 * at the end. */
#define STORE_MB 32
#define PUTS 12
#define PUT_BYTES (8u << 20)

typedef struct chaos {
    unsigned seed;
    int order[NFAULTS];
    int pause_ms[NFAULTS]; /* before each fault */
    int hang_ms, head_down_ms;
    ray_ref puts[PUTS]; /* the values the store took (id 0: refused) */
    int full;           /* puts refused with RAY_ESTORE_FULL */
    _Atomic int done;   /* every fault was made */
    char log[1024];
} chaos;

static void
note(chaos *c, const char *what, int rc)
{
    size_t l = strlen(c->log);
    snprintf(c->log + l, sizeof(c->log) - l, "  %s%s\n", what,
             rc == 0 ? "" : " (could not: skipped)");
}

static int
make_fault(chaos *c, int f)
{
    switch (f) {
    case F_KILL_RAYLET: {
        pid_t p = rc_daemon_pid(&C, "127.0.0.2");
        return p > 0 ? kill(p, SIGKILL) : -1;
    }
    case F_HANG_NODE: {
        pid_t p = rc_daemon_pid(&C, "127.0.0.3");
        if (p <= 0)
            return -1;
        signal_tree(p, SIGSTOP);
        usleep((useconds_t)c->hang_ms * 1000);
        signal_tree(p, SIGCONT);
        return 0;
    }
    case F_KILL_HEAD: {
        pid_t p = rc_daemon_pid(&C, "head");
        if (p <= 0 || kill(p, SIGKILL) != 0)
            return -1;
        usleep((useconds_t)c->head_down_ms * 1000);
        char port[32];
        snprintf(port, sizeof(port), "--port=%s", strrchr(C.head, ':') + 1);
        int rc = 1;
        for (int k = 0; k < 50 && rc != 0; k++) { /* until the port is free */
            rc = rc_rayc(&C, "start", "--head", port, "--num-cpus=1",
                         "--dashboard-port=-1", NULL);
            if (rc != 0)
                usleep(100000);
        }
        return rc;
    }
    case F_FILL_STORE: {
        static uint8_t buf[PUT_BYTES];
        for (int i = 0; i < PUTS; i++) {
            memset(buf, 'a' + i, sizeof(buf));
            ray_err e = ray_put_bytes(buf, sizeof(buf), &c->puts[i]);
            if (e == RAY_ESTORE_FULL)
                c->full++;
            else if (e != RAY_OK)
                return -1;
        }
        return 0;
    }
    case F_KILL_WORKER: {
        pid_t p = rc_daemon_pid(&C, "127.0.0.4");
        pid_t ps[256];
        int n = p > 0 ? tree(p, ps, 256) : 0;
        /* The deepest processes are the agents' workers: the last found. */
        return n > 2 ? kill(ps[n - 1], SIGKILL) : -1;
    }
    }
    return -1;
}

static void *
chaos_main(void *arg)
{
    chaos *c = arg;
    for (int i = 0; i < NFAULTS; i++) {
        usleep((useconds_t)c->pause_ms[i] * 1000);
        int f = c->order[i];
        note(c, fault_name[f], make_fault(c, f));
    }
    atomic_store(&c->done, 1);
    return NULL;
}

static void
plan(chaos *c)
{
    const char *s = getenv("RAYC_CHAOS_SEED");
    c->seed = s && *s ? (unsigned)strtoul(s, NULL, 10)
                      : (unsigned)time(NULL) ^ (unsigned)getpid();
    unsigned r = c->seed;
    for (int i = 0; i < NFAULTS; i++)
        c->order[i] = i;
    for (int i = NFAULTS - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)(rand_r(&r) % (unsigned)(i + 1));
        int t = c->order[i];
        c->order[i] = c->order[j];
        c->order[j] = t;
    }
    for (int i = 0; i < NFAULTS; i++)
        c->pause_ms[i] = 200 + (int)(rand_r(&r) % 800);
    c->hang_ms = 3500 + (int)(rand_r(&r) % 1500); /* past the 3 s deadline */
    c->head_down_ms = 100 + (int)(rand_r(&r) % 900);
}

Test(chaos, a_sweep_loses_nothing_while_nodes_workers_and_the_head_fail)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 1;
    cfg.address = C.head;
    cfg.object_store_bytes = (uint64_t)STORE_MB << 20;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
    static chaos c;
    memset(&c, 0, sizeof(c));
    plan(&c);
    fprintf(stderr, "chaos: seed %u (RAYC_CHAOS_SEED=%u replays it)\n", c.seed,
            c.seed);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, chaos_main, &c), 0);

    enum { WAVE = 200, MAX_WAVES = 400, REDUCES = 4 };
    unsigned r = c.seed * 7919u;
    int checked = 0, lost = 0, hangs = 0, waves = 0, after = 0, reduced = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char first_loss[300] = "";
    /* Waves of calls until the faults are over and three more waves ran,
     * within 400 waves and 90 s. */
    for (; waves < MAX_WAVES && after < 3; waves++) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 90)
            break;
        ray_ref refs[WAVE], red[REDUCES];
        int64_t xs[WAVE], want[REDUCES] = {0};
        for (int i = 0; i < WAVE; i++) {
            xs[i] = (int64_t)waves * WAVE + i;
            refs[i] = sq_remote(xs[i], (int64_t)(rand_r(&r) % 3000));
            want[i % REDUCES] += xs[i] * xs[i];
        }
        for (int k = 0; k < REDUCES; k++) { /* refs k, k + 4, ... */
            ray_ref part[WAVE / REDUCES];
            for (int i = 0; i < WAVE / REDUCES; i++)
                part[i] = refs[i * REDUCES + k];
            red[k] = sum_of_remote((ray_bytes){part, sizeof(part)});
        }
        for (int i = 0; i < WAVE; i++) {
            int64_t v = -1;
            ray_err e =
                refs[i].id ? ray_get_int64(refs[i], &v, 120000) : RAY_EINVAL;
            if (e == RAY_ETIMEDOUT)
                hangs++;
            else if (e != RAY_OK || v != xs[i] * xs[i]) {
                if (!lost++)
                    snprintf(first_loss, sizeof(first_loss),
                             "call %lld: %s (%s)", (long long)xs[i],
                             ray_strerror(e), ray_last_error_detail());
            } else {
                checked++;
            }
        }
        for (int k = 0; k < REDUCES; k++) {
            int64_t v = -1;
            ray_err e =
                red[k].id ? ray_get_int64(red[k], &v, 120000) : RAY_EINVAL;
            if (e == RAY_ETIMEDOUT)
                hangs++;
            else if (e != RAY_OK || v != want[k]) {
                if (!lost++)
                    snprintf(first_loss, sizeof(first_loss),
                             "reduce %d of wave %d: %lld, not %lld: %s (%s)", k,
                             waves, (long long)v, (long long)want[k],
                             ray_strerror(e), ray_last_error_detail());
            } else {
                reduced++;
            }
            ray_ref_release(red[k]);
        }
        for (int i = 0; i < WAVE; i++) /* after the reduces read them */
            ray_ref_release(refs[i]);
        if (atomic_load(&c.done))
            after++;
    }
    pthread_join(th, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ray_stats st;
    memset(&st, 0, sizeof(st));
    ray_get_stats(&st);
    fprintf(stderr,
            "chaos: seed %u: %d waves in %.1f s, %d results checked, %d "
            "reduces over borrowed refs checked, %d lost, "
            "%d hangs, %llu calls moved, %llu workers restarted, %llu spills, "
            "%d puts refused (store full); faults:\n%s",
            c.seed, waves,
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
            checked, reduced, lost, hangs, (unsigned long long)st.tasks_moved,
            (unsigned long long)st.worker_restarts,
            (unsigned long long)st.store_spills, c.full, c.log);
    cr_assert(atomic_load(&c.done), "the faults were not all made");
    /* The store past its size: it spilled or said it was full, and kept
     * every value it took. */
    int took = 0;
    for (int i = 0; i < PUTS; i++) {
        if (!c.puts[i].id)
            continue;
        took++;
        ray_view v;
        cr_assert_eq(ray_get(c.puts[i], &v, 60000), RAY_OK, "put %d: %s", i,
                     ray_last_error_detail());
        bool same = v.len == PUT_BYTES;
        for (size_t k = 0; same && k < v.len; k += 4096)
            same = ((const uint8_t *)v.data)[k] == 'a' + i;
        ray_release(&v);
        ray_ref_release(c.puts[i]);
        cr_assert(same, "put %d came back changed", i);
    }
    cr_assert_eq(took + c.full, PUTS);
    cr_assert(c.full > 0 || st.store_spills > 0,
              "the store neither spilled nor said it was full");
    cr_assert_eq(hangs, 0, "seed %u: %d gets hung", c.seed, hangs);
    cr_assert_eq(lost, 0, "seed %u: %d results lost, the first %s", c.seed,
                 lost, first_loss);
    cr_assert_eq(checked, waves * WAVE, "seed %u", c.seed);
    cr_assert_eq(reduced, waves * REDUCES, "seed %u", c.seed);
}

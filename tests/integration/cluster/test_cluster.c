/* SPDX-License-Identifier: Apache-2.0
 *
 * test_cluster.c: a real cluster on loopback: a head and two raylets,
 * each its own process on its own address (127.0.0.1, .2, .3), started
 * with the rayc program and stopped (rayc stop, then SIGKILL of anything
 * left) in the fixture's teardown, which runs even when a test fails.
 * The test process is the driver; the raylets run this same binary,
 * shipped to them by hash, as the job's agent.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ray/ray.h"
#include "runtime/frame.h"
#include "runtime/net.h"
#include "tests/integration/common/cluster.h"

extern char **environ;

static rc_cluster C;
#define tmp C.tmp
#define head C.head
#define rayc(...) rc_rayc(&C, __VA_ARGS__)
#define out_text() rc_out(&C)
#define daemon_pid(ip) rc_daemon_pid(&C, ip)

/* ---- remote functions ---- */

/* Which node runs it: agents carry RAYC_NODE_IP, the driver's node not. */
static char *
where(int64_t ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
    const char *ip = getenv("RAYC_NODE_IP");
    return strdup(ip ? ip : "driver");
}
RAY_REMOTE(where, char *, int64_t);

static int64_t
twice_slow(int64_t x, int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return 2 * x;
}
RAY_REMOTE(twice_slow, int64_t, int64_t, int64_t);

/* Where it ran and what it got. */
static char *
tagged(int64_t x)
{
    const char *ip = getenv("RAYC_NODE_IP");
    char *s = malloc(64);
    snprintf(s, 64, "%s %lld", ip ? ip : "driver", (long long)x);
    return s;
}
RAY_REMOTE(tagged, char *, int64_t);

static int64_t
say(int64_t x)
{
    printf("hello from a remote task %lld\n", (long long)x);
    fflush(stdout);
    return x;
}
RAY_REMOTE(say, int64_t, int64_t);

/* Print a line; the worker's pid. */
static int64_t
say_pid(int64_t x)
{
    printf("said %lld\n", (long long)x);
    fflush(stdout);
    return (int64_t)getpid();
}
RAY_REMOTE(say_pid, int64_t, int64_t);

static int64_t
crash_or_refuse(int64_t how)
{
    if (how == 0)
        raise(SIGSEGV);
    ray_task_fail(RAY_ETASK_FAILED, "refused %lld", (long long)how);
    return 0;
}
RAY_REMOTE(crash_or_refuse, int64_t, int64_t);

/* Keep a CPU busy for `ms`. */
static int64_t
burn(int64_t ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    volatile uint64_t x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 +
                 (t.tv_nsec - t0.tv_nsec) / 1000000 <
             ms);
    return (int64_t)(x & 1);
}
RAY_REMOTE(burn, int64_t, int64_t);

/* Where it ran, and the sum of the bytes it was given. */
static char *
sum_bytes(ray_bytes b)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < b.len; i++)
        sum += ((const uint8_t *)b.data)[i];
    const char *ip = getenv("RAYC_NODE_IP");
    char *s = malloc(64);
    snprintf(s, 64, "%s %llu", ip ? ip : "driver", (unsigned long long)sum);
    return s;
}
RAY_REMOTE(sum_bytes, char *, ray_bytes);

static ray_bytes
make_bytes(int64_t n)
{
    ray_bytes b = {malloc((size_t)n), (size_t)n};
    memset((void *)b.data, 1, (size_t)n);
    return b;
}
RAY_REMOTE(make_bytes, ray_bytes, int64_t);

typedef struct counter {
    int64_t value;
} counter;

static ray_err
counter_init(counter *c, int64_t start)
{
    c->value = start;
    return RAY_OK;
}
RAY_ACTOR(counter, counter_init, int64_t);

static int64_t
counter_add(counter *c, int64_t k)
{
    return c->value += k;
}
RAY_METHOD(counter, counter_add, int64_t, int64_t);

/* Adds the length of b, and its first byte times 1e12. */
static int64_t
counter_add_len(counter *c, ray_bytes b)
{
    c->value += (int64_t)b.len;
    return c->value +
           (b.len ? ((const uint8_t *)b.data)[0] : 0) * 1000000000000;
}
RAY_METHOD(counter, counter_add_len, int64_t, ray_bytes);

static char *
counter_where(counter *c)
{
    const char *ip = getenv("RAYC_NODE_IP");
    char *s = malloc(64);
    snprintf(s, 64, "%s %lld", ip ? ip : "driver", (long long)c->value);
    return s;
}
RAY_METHOD0(counter, counter_where, char *);

/* The pid of the process the counter lives in. */
static int64_t
counter_pid(counter *c)
{
    (void)c;
    return (int64_t)getpid();
}
RAY_METHOD0(counter, counter_pid, int64_t);

/* After 100 ms: "IP k" (a call that is still in flight a while). */
static char *
counter_nap(counter *c, int64_t k)
{
    usleep(100000);
    const char *ip = getenv("RAYC_NODE_IP");
    char *s = malloc(64);
    snprintf(s, 64, "%s %lld", ip ? ip : "driver", (long long)k);
    return s;
}
RAY_METHOD(counter, counter_nap, char *, int64_t);

/* A task that adds 1 to the counter n times through its handle. */
static int64_t
add_ones(ray_actor c, int64_t n)
{
    int64_t v = -1;
    for (int64_t i = 0; i < n; i++) {
        ray_ref r = counter_add_remote(c, 1);
        if (ray_get_int64(r, &v, 60000) != RAY_OK)
            return -1;
        ray_ref_release(r);
    }
    return v;
}
RAY_REMOTE(add_ones, int64_t, ray_actor, int64_t);

/* The same, saying where it ran: "IP value". */
static char *
add_ones_at(ray_actor c, int64_t n)
{
    int64_t v = add_ones(c, n);
    const char *ip = getenv("RAYC_NODE_IP");
    char *s = malloc(64);
    snprintf(s, 64, "%s %lld", ip ? ip : "driver", (long long)v);
    return s;
}
RAY_REMOTE(add_ones_at, char *, ray_actor, int64_t);

/* Wait (60 s at most) until the file /tmp/rayc-gate-K exists: a call
 * that runs as long as the test wants; 1, or -1 after the minute. */
static int64_t
gate(int64_t k)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/rayc-gate-%lld", (long long)k);
    for (int i = 0; i < 6000; i++) {
        if (access(path, F_OK) == 0)
            return 1;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}
RAY_REMOTE(gate, int64_t, int64_t);

/* ---- the cluster ---- */

static void
cluster_up(void)
{
    cr_assert(rc_open(&C, "clustertest"));
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's quarantine keeps freed memory resident (256 MiB): without
     * it, the daemons' RSS says what they hold, as in a plain build. */
    char asan[512];
    const char *ao = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof(asan), "%s%squarantine_size_mb=0", ao ? ao : "",
             ao && *ao ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
#endif
    cr_assert_eq(rayc("start", "--head", "--port=0", "--num-cpus=1",
                      "--dashboard-port=0", NULL),
                 0, "%s", out_text());
    cr_assert(rc_read_head(&C));
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    cr_assert_eq(rayc("start", addr, "--node-ip-address=127.0.0.2",
                      "--num-cpus=2", "--resources=gpu=1,pool=100", NULL),
                 0, "%s", out_text());
    cr_assert_eq(rayc("start", addr, "--node-ip-address=127.0.0.3",
                      "--num-cpus=2", "--resources=pool=100", NULL),
                 0, "%s", out_text());
}

/* Stop the cluster (rayc stop, then SIGKILL of what is left) and check
 * that no daemon's log holds a sanitizer report. */
static pid_t redis_pid; /* a test's redis-server, stopped here */

static void
cluster_down(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    ray_shutdown();
    bool clean = !tmp[0] || rc_logs_clean(&C);
    rc_close(&C);
    cr_assert(clean, "a daemon's log holds a sanitizer report (above)");
}

static void
driver_up(int ncpu)
{
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = ncpu;
    c.address = head;
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
}

/* Put n bytes and pin them with a view: the store cannot spill them to
 * make room (ray_release the view, then the ref, to give it back). */
static void
put_pinned(const void *p, size_t n, ray_ref *hold, ray_view *pin)
{
    cr_assert_eq(ray_put_bytes(p, n, hold), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_get(*hold, pin, 1000), RAY_OK);
}

/* A driver with one CPU and an object store of `bytes`. */
static void
driver_with_store(uint64_t bytes)
{
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 1;
    c.address = head;
    c.object_store_bytes = bytes;
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
}

/* The string `r` resolves to is `want` (the ref is released). */
static void
expect_str(ray_ref r, const char *want)
{
    char *s = NULL;
    cr_assert_eq(ray_get_str(r, &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_str_eq(s, want);
    ray_free(s);
    ray_ref_release(r);
}

TestSuite(cluster, .init = cluster_up, .fini = cluster_down, .timeout = 120);

Test(cluster, status_lists_every_node_alive)
{
    cr_assert_eq(rayc("status", "--format=json", NULL), 0, "%s", out_text());
    const char *o = out_text();
    int alive = 0;
    for (const char *p = o; (p = strstr(p, "\"ALIVE\"")); p++)
        alive++;
    cr_assert_eq(alive, 3, "%s", o);
    cr_assert(strstr(o, "127.0.0.2") && strstr(o, "127.0.0.3") &&
                  strstr(o, "\"head\":true") && strstr(o, "gpu:1"),
              "%s", o);
}

Test(cluster, tasks_spread_over_every_node)
{
    driver_up(1);
    enum { N = 40 };
    ray_ref r[N];
    for (int i = 0; i < N; i++)
        r[i] = where_remote(100);
    bool seen_driver = false, seen2 = false, seen3 = false;
    for (int i = 0; i < N; i++) {
        char *s = NULL;
        cr_assert_eq(ray_get_str(r[i], &s, 60000), RAY_OK, "%s",
                     ray_last_error_detail());
        seen_driver |= !strcmp(s, "driver");
        seen2 |= !strcmp(s, "127.0.0.2");
        seen3 |= !strcmp(s, "127.0.0.3");
        ray_free(s);
        ray_ref_release(r[i]);
    }
    cr_assert(seen_driver && seen2 && seen3,
              "driver %d, 127.0.0.2 %d, 127.0.0.3 %d", seen_driver, seen2,
              seen3);
}

/* A burst much larger than one frame: the calls queue behind each other
 * in the driver's send buffer and in each agent's batch; every one comes
 * back once, with its own value, from a node that has the resource. */
Test(cluster, a_burst_of_calls_to_other_nodes_all_settle_with_their_values)
{
    driver_up(1);
    enum { N = 10000 };
    static ray_ref r[N];
    ray_call_opts o = {.resources = "pool:1"};
    for (int i = 0; i < N; i++) {
        r[i] = tagged_remote_opts(&o, i);
        cr_assert_neq(r[i].id, 0, "%s", ray_last_error_detail());
    }
    int on2 = 0, on3 = 0;
    for (int i = 0; i < N; i++) {
        char *s = NULL;
        cr_assert_eq(ray_get_str(r[i], &s, 60000), RAY_OK, "call %d: %s", i,
                     ray_last_error_detail());
        char ip[32];
        long long x = -1;
        cr_assert_eq(sscanf(s, "%31s %lld", ip, &x), 2, "%s", s);
        cr_assert_eq(x, i, "call %d came back with %s", i, s);
        on2 += !strcmp(ip, "127.0.0.2");
        on3 += !strcmp(ip, "127.0.0.3");
        ray_free(s);
        ray_ref_release(r[i]);
    }
    cr_assert_eq(on2 + on3, N, "only nodes with the resource");
    cr_assert(on2 && on3, "127.0.0.2 ran %d, 127.0.0.3 ran %d", on2, on3);
}

/* The node's agent sends results back as they come, not in the order of
 * the calls: short calls behind a long one on the same node are back
 * while it still runs. */
Test(cluster, short_calls_come_back_while_an_older_long_one_runs)
{
    driver_up(1);
    ray_call_opts o = {.node = "127.0.0.2"};
    ray_ref slow = twice_slow_remote_opts(&o, 1, 30000);
    enum { N = 20 };
    ray_ref quick[N];
    for (int i = 0; i < N; i++)
        quick[i] = twice_slow_remote_opts(&o, i, 0);
    for (int i = 0; i < N; i++) {
        int64_t v = -1;
        cr_assert_eq(ray_get_int64(quick[i], &v, 20000), RAY_OK, "call %d: %s",
                     i, ray_last_error_detail());
        cr_assert_eq(v, 2 * i);
        ray_ref_release(quick[i]);
    }
    size_t ready[1], nr = 9;
    cr_assert_eq(ray_wait(&slow, 1, 1, 0, ready, &nr), RAY_OK);
    cr_assert_eq(nr, 0, "the long call was done first");
    ray_cancel(slow, true);
    ray_ref_release(slow);
}

/* The text of file `path` (a static buffer of 1 MiB: what fits), its
 * length in *n. */
static const char *
slurp(const char *path, size_t *n)
{
    static char text[1 << 20];
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    *n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[*n] = 0;
    return text;
}

/* The trace process of the node at `ip` in a timeline's text, or -1. */
static int
trace_pid_of(const char *text, const char *ip)
{
    char want[64];
    snprintf(want, sizeof(want), "\"rayc node %s:", ip);
    const char *at = strstr(text, want);
    if (!at)
        return -1;
    const char *line = at;
    while (line > text && line[-1] != '\n')
        line--;
    const char *p = strstr(line, "\"pid\":");
    return p && p < at ? atoi(p + 6) : -1;
}

/* How many times `what` occurs in s. */
static int
count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* A timeline recorded by the driver holds the calls its agents ran on the
 * other nodes, each node a trace process of its own, on one clock. */
Test(cluster, the_timeline_holds_the_calls_of_every_node)
{
    driver_up(1);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_eq(ray_timeline_enable(true), RAY_OK, "%s",
                 ray_last_error_detail());
    enum { N = 20 };
    const char *ips[2] = {"127.0.0.2", "127.0.0.3"};
    for (int k = 0; k < 2; k++) {
        ray_call_opts o = {.node = ips[k]};
        ray_ref r[N];
        for (int i = 0; i < N; i++)
            r[i] = tagged_remote_opts(&o, i);
        for (int i = 0; i < N; i++) {
            char want[48];
            snprintf(want, sizeof(want), "%s %d", ips[k], i);
            expect_str(r[i], want);
        }
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/trace.json", tmp);
    cr_assert_eq(ray_timeline(path), RAY_OK, "%s", ray_last_error_detail());
    clock_gettime(CLOCK_MONOTONIC, &b);
    double span_us = (double)(b.tv_sec - a.tv_sec) * 1e6 +
                     (double)(b.tv_nsec - a.tv_nsec) / 1e3;
    size_t n;
    const char *text = slurp(path, &n);
    for (int k = 0; k < 2; k++) {
        int pid = trace_pid_of(text, ips[k]);
        cr_assert_gt(pid, 1, "no process for %s in:\n%.2000s", ips[k], text);
        char ev[96];
        snprintf(ev, sizeof(ev),
                 "\"name\":\"tagged\",\"cat\":\"task\",\"ph\":\"X\","
                 "\"pid\":%d,",
                 pid);
        cr_assert_eq(count_of(text, ev), N, "%s ran %d of its calls", ips[k],
                     count_of(text, ev));
    }
    /* Every event on the driver's clock, within the recording (give or
     * take the clock estimate's error, half a round trip). */
    for (const char *p = text; (p = strstr(p, "\"ts\":")); p++) {
        double ts = atof(p + 5);
        cr_assert(ts > -1e6 && ts < span_us + 1e6, "ts %.0f outside 0..%.0f",
                  ts, span_us);
    }
}

Test(cluster, a_demand_only_one_node_meets_runs_there)
{
    driver_up(1);
    for (int i = 0; i < 8; i++) {
        ray_call_opts o = {.resources = "gpu:1"};
        ray_ref r = where_remote_opts(&o, 10);
        char *s = NULL;
        cr_assert_eq(ray_get_str(r, &s, 60000), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_str_eq(s, "127.0.0.2");
        ray_free(s);
        ray_ref_release(r);
    }
}

Test(cluster, a_killed_raylet_s_calls_are_retried_elsewhere)
{
    driver_up(1);
    enum { N = 60 };
    ray_ref r[N];
    for (int i = 0; i < N; i++)
        r[i] = twice_slow_remote(i, 100);
    int64_t v;
    cr_assert_eq(ray_get_int64(r[0], &v, 60000), RAY_OK);
    pid_t victim = daemon_pid("127.0.0.3");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(ray_get_int64(r[i], &v, 60000), RAY_OK, "call %d: %s", i,
                     ray_last_error_detail());
        cr_assert_eq(v, 2 * i);
        ray_ref_release(r[i]);
    }
    /* The head declares it dead (its connection closed). */
    bool dead = false;
    for (int k = 0; k < 100 && !dead; k++) {
        rayc("status", "--format=json", NULL);
        dead = strstr(out_text(), "\"DEAD\"") != NULL;
        if (!dead)
            usleep(50000);
    }
    cr_assert(dead, "%s", out_text());
}

Test(cluster, the_head_auto_finds_from_the_temp_dir)
{
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 1;
    c.address = "auto";
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
    ray_call_opts o = {.resources = "gpu:1"};
    ray_ref r = where_remote_opts(&o, 1);
    char *s = NULL;
    cr_assert_eq(ray_get_str(r, &s, 60000), RAY_OK);
    cr_assert_str_eq(s, "127.0.0.2");
    ray_free(s);
}

/* ---- what the ports accept ---- */

static int
dial(const char *hostport)
{
    char host[RT_HOST_MAX];
    uint16_t port;
    cr_assert_eq(rt_addr_parse(hostport, host, &port, NULL, 0), RAY_OK);
    int fd = -1;
    cr_assert_eq(rt_tcp_connect(host, port, 3000, &fd, NULL, 0), RAY_OK);
    return fd;
}

/* The server closes the connection: read sees the end (after whatever
 * it sent first), within 10 s. */
static bool
closed_by_peer(int fd)
{
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char b[4096];
    ssize_t n;
    while ((n = read(fd, b, sizeof(b))) > 0)
        ;
    return n == 0;
}

static long
rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static void
bad_client(const char *hostport, int kind)
{
    int fd = dial(hostport);
    if (kind == 0) { /* garbage */
        const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    } else if (kind == 1) { /* an oversized frame */
        uint8_t hdr[RT_FRAME_HEADER_LEN];
        rt_frame_header h = {RT_FRAME_MAGIC,
                             RAY__RPC__MESSAGE_TYPE__MSG_AUTH_RESPONSE,
                             1u << 30};
        rt_frame_header_encode(&h, hdr);
        cr_assert_eq(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
    } else if (kind == 2) { /* a request before the handshake */
        Ray__Rpc__GetAllNodesRequest q = RAY__RPC__GET_ALL_NODES_REQUEST__INIT;
        cr_assert_eq(
            rt_frame_send(fd, RAY__RPC__MESSAGE_TYPE__MSG_GET_ALL_NODES_REQUEST,
                          &q.base, 3000),
            RAY_OK);
    } else { /* the wrong token */
        uint8_t tok[RT_TOKEN_LEN] = {1, 2, 3};
        char why[200] = "";
        cr_assert_eq(rt_auth_client(fd, tok, "test", 5000, why, sizeof(why)),
                     RAY_EPROTO);
        cr_assert(strstr(why, "wrong cluster token"), "%s", why);
    }
    cr_assert(closed_by_peer(fd), "kind %d: the connection stayed open", kind);
    close(fd);
}

Test(cluster, bad_peers_lose_only_their_connection)
{
    pid_t hp = daemon_pid("head");
    cr_assert_gt(hp, 0);
    /* Warm up, then measure: 10,000 bad connections in all. */
    for (int i = 0; i < 500; i++)
        bad_client(head, i % 4);
    long before = rss_kb(hp);
    for (int i = 0; i < 9500; i++)
        bad_client(head, i % 4);
    long after = rss_kb(hp);
    cr_assert_lt(after - before, 4096, "RSS %ld -> %ld kB", before, after);
    /* The raylet port of a worker node refuses the same way. */
    cr_assert_eq(rayc("status", "--format=json", NULL), 0);
    const char *o = out_text();
    const char *p = strstr(o, "127.0.0.2:");
    cr_assert_not_null(p);
    char raylet[64];
    sscanf(p, "%63[^\"]", raylet);
    for (int i = 0; i < 40; i++)
        bad_client(raylet, i % 4);
    /* And the cluster still works. */
    driver_up(1);
    ray_call_opts opt = {.resources = "gpu:1"};
    ray_ref r = where_remote_opts(&opt, 1);
    char *s = NULL;
    cr_assert_eq(ray_get_str(r, &s, 60000), RAY_OK);
    cr_assert_str_eq(s, "127.0.0.2");
    ray_free(s);
}

Test(cluster, another_protocol_version_is_refused_naming_both)
{
    int fd = dial(head);
    ProtobufCMessage *m = NULL;
    cr_assert_eq(rt_net_call(fd, 0, NULL,
                             RAY__RPC__MESSAGE_TYPE__MSG_AUTH_CHALLENGE, &m,
                             5000, NULL, 0),
                 RAY_OK);
    rt_proto_free(m);
    uint8_t nonce[RT_NONCE_LEN] = {0}, mac[RT_MAC_LEN] = {0};
    Ray__Rpc__AuthResponse r = RAY__RPC__AUTH_RESPONSE__INIT;
    r.nonce = (ProtobufCBinaryData){RT_NONCE_LEN, nonce};
    r.mac = (ProtobufCBinaryData){RT_MAC_LEN, mac};
    r.version = RT_PROTOCOL_VERSION + 1;
    cr_assert_eq(rt_net_call(fd, RAY__RPC__MESSAGE_TYPE__MSG_AUTH_RESPONSE,
                             &r.base, RAY__RPC__MESSAGE_TYPE__MSG_AUTH_RESULT,
                             &m, 5000, NULL, 0),
                 RAY_OK);
    Ray__Rpc__AuthResult *res = (Ray__Rpc__AuthResult *)m;
    cr_assert_not_null(res->status);
    char want[96];
    snprintf(want, sizeof(want), "speaks %u, the peer %u", RT_PROTOCOL_VERSION,
             RT_PROTOCOL_VERSION + 1);
    cr_assert(strstr(res->status->message, want), "%s", res->status->message);
    rt_proto_free(m);
    cr_assert(closed_by_peer(fd));
    close(fd);
}

Test(cluster, a_node_with_the_wrong_token_is_refused)
{
    char bad[PATH_MAX + 16], addr[160];
    snprintf(bad, sizeof(bad), "%s/bad-token", tmp);
    FILE *f = fopen(bad, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 64; i++)
        fputc('7', f);
    fclose(f);
    chmod(bad, 0600);
    char tf[PATH_MAX + 32];
    snprintf(tf, sizeof(tf), "--token-file=%s", bad);
    snprintf(addr, sizeof(addr), "--address=%s", head);
    cr_assert_neq(rayc("start", addr, tf, "--node-ip-address=127.0.0.4", NULL),
                  0);
    cr_assert(strstr(out_text(), "wrong cluster token"), "%s", out_text());
}

Test(cluster, node_affinity_runs_on_the_named_node)
{
    driver_up(1);
    for (int i = 0; i < 6; i++) {
        ray_call_opts o = {.node = i % 2 ? "127.0.0.3" : "127.0.0.2"};
        ray_ref r = tagged_remote_opts(&o, i);
        char *s = NULL;
        cr_assert_eq(ray_get_str(r, &s, 60000), RAY_OK, "%s",
                     ray_last_error_detail());
        char want[64];
        snprintf(want, sizeof(want), "%s %d", o.node, i);
        cr_assert_str_eq(s, want);
        ray_free(s);
        ray_ref_release(r);
    }
    ray_call_opts none = {.node = "10.9.9.9"};
    ray_ref r = tagged_remote_opts(&none, 1);
    cr_assert_eq(r.id, 0);
    cr_assert(strstr(ray_last_error_detail(), "no alive node '10.9.9.9'"), "%s",
              ray_last_error_detail());
}

Test(cluster, a_ref_made_on_one_node_feeds_a_task_on_another)
{
    driver_up(1);
    ray_call_opts on2 = {.node = "127.0.0.2"}, on3 = {.node = "127.0.0.3"};
    ray_ref a = twice_slow_remote_opts(&on2, 21, 0); /* 42, made on .2 */
    int64_t v;
    cr_assert_eq(ray_get_int64(a, &v, 60000), RAY_OK);
    cr_assert_eq(v, 42);
    ray_ref b = RAY_CALL_OPTS(tagged, &on3, a); /* the ref, used on .3 */
    char *s = NULL;
    cr_assert_eq(ray_get_str(b, &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_str_eq(s, "127.0.0.3 42");
    ray_free(s);
    /* A ref not ready yet waits on the driver's node, then runs there. */
    ray_ref c = twice_slow_remote_opts(&on2, 50, 200);
    ray_ref d = RAY_CALL(twice_slow, c, 0);
    cr_assert_eq(ray_get_int64(d, &v, 60000), RAY_OK);
    cr_assert_eq(v, 200);
}

Test(cluster, a_node_that_joins_later_gets_calls)
{
    driver_up(1);
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    cr_assert_eq(rayc("start", addr, "--node-ip-address=127.0.0.4",
                      "--num-cpus=1", NULL),
                 0, "%s", out_text());
    ray_call_opts o = {.node = "127.0.0.4"};
    ray_ref r = RAY_REF_NULL;
    for (int k = 0; k < 200 && r.id == 0; k++) { /* the driver polls 2/s */
        r = tagged_remote_opts(&o, 4);
        if (r.id == 0)
            usleep(50000);
    }
    cr_assert_neq(r.id, 0, "%s", ray_last_error_detail());
    char *s = NULL;
    cr_assert_eq(ray_get_str(r, &s, 60000), RAY_OK);
    cr_assert_str_eq(s, "127.0.0.4 4");
    ray_free(s);
}

/* Alive nodes `rayc status` reports, or -1. */
static int
alive_nodes(void)
{
    if (rayc("status", "--format=json", NULL) != 0)
        return -1;
    int alive = 0;
    for (const char *p = out_text(); (p = strstr(p, "\"ALIVE\"")); p++)
        alive++;
    return alive;
}

/* Poll `rayc status` (bounded: 100 times, `us` apart) until `want` nodes
 * are alive; the last count. */
static int
wait_alive(int want, int us)
{
    int alive = alive_nodes();
    for (int k = 0; k < 100 && alive != want; k++) {
        usleep((useconds_t)us);
        alive = alive_nodes();
    }
    return alive;
}

/* kill -9 of the head, and a new one on its port and temp dir (its
 * store): the raylets register again. */
static void
restart_head_with(const char *storage)
{
    pid_t hp = daemon_pid("head");
    cr_assert_gt(hp, 0);
    cr_assert_eq(kill(hp, SIGKILL), 0);
    char port[32];
    snprintf(port, sizeof(port), "--port=%s", strrchr(head, ':') + 1);
    int rc = 1;
    for (int k = 0; k < 50 && rc != 0; k++) { /* until the port is free */
        rc = rayc("start", "--head", port, "--num-cpus=1", "--dashboard-port=0",
                  storage, NULL);
        if (rc != 0)
            usleep(100000);
    }
    cr_assert_eq(rc, 0, "%s", out_text());
    int alive = wait_alive(3, 100000);
    cr_assert_eq(alive, 3, "%s", out_text());
}

static void
restart_head(void)
{
    restart_head_with(NULL);
}

Test(cluster, raylets_register_again_with_a_restarted_head)
{
    restart_head();
    driver_up(1);
    ray_call_opts o = {.node = "127.0.0.3"};
    expect_str(tagged_remote_opts(&o, 9), "127.0.0.3 9");
}

/* The value of series `series` (its name and labels) in this driver's
 * metrics; it must be there. */
static double
metric_value(const char *series)
{
    char *m = NULL;
    cr_assert_eq(ray_metrics(&m), RAY_OK);
    char k[160];
    snprintf(k, sizeof(k), "%s ", series);
    const char *p = strstr(m, k);
    cr_assert_not_null(p, "no %s in:\n%s", series, m);
    double v = strtod(p + strlen(k), NULL);
    ray_free(m);
    return v;
}

/* Bytes this driver moved to (push) or from (pull) other nodes (its
 * metrics). */
static double
moved_bytes(const char *direction)
{
    char k[96];
    snprintf(k, sizeof(k), "rayc_object_transfer_bytes_total{direction=\"%s\"}",
             direction);
    return metric_value(k);
}

static double
pushed_bytes(void)
{
    return moved_bytes("push");
}

/* Calls of an actor on another node whose arguments are refs not ready
 * yet wait at the driver, and the actor's later calls wait behind them:
 * all run in the order they were made. A failed argument fails its call
 * only. */
Test(cluster, an_actor_on_another_node_waits_for_refs_in_order)
{
    driver_up(1);
    ray_actor_opts o = {.node = "127.0.0.3"};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_call_opts on2 = {.node = "127.0.0.2"};
    ray_ref slow = twice_slow_remote_opts(&on2, 5, 300); /* 10, later */
    ray_call_opts once = {.node = "127.0.0.2", .max_retries = RAY_NO_RETRY};
    ray_ref bad = crash_or_refuse_remote_opts(&once, 7);
    ray_ref r[5];
    r[0] = RAY_ACTOR_CALL(counter_add, c, slow);
    r[1] = counter_add_remote(c, 1);
    r[2] = RAY_ACTOR_CALL(counter_add, c, bad);
    r[3] = counter_add_remote(c, 100);
    r[4] = RAY_ACTOR_CALL(counter_add, c, slow);
    const int64_t want[5] = {10, 11, -1, 111, 121};
    for (int i = 0; i < 5; i++) {
        int64_t v = -1;
        ray_err e = ray_get_int64(r[i], &v, 60000);
        if (want[i] < 0) {
            cr_assert_eq(e, RAY_ETASK_FAILED, "%d: %s", i,
                         ray_last_error_detail());
            cr_assert(strstr(ray_last_error_detail(), "refused 7"), "%s",
                      ray_last_error_detail());
        } else {
            cr_assert_eq(e, RAY_OK, "%d: %s", i, ray_last_error_detail());
            cr_assert_eq(v, want[i], "call %d saw %lld", i, (long long)v);
        }
        ray_ref_release(r[i]);
    }
    ray_ref_release(slow);
    ray_ref_release(bad);
    ray_actor_release(c);
}

/* Large values to an actor on another node, in order with its other
 * calls: a plain 14 MiB value (pushed for its call), and a put used
 * twice (pushed once, kept there). */
Test(cluster, an_actor_on_another_node_takes_large_values_in_order)
{
    driver_up(1);
    ray_actor_opts o = {.node = "127.0.0.3"};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    enum { BIG = 14 << 20, PUT = 5 << 20 };
    uint8_t *p = malloc(BIG);
    memset(p, 3, BIG);
    ray_ref put = RAY_REF_NULL;
    cr_assert_eq(ray_put_bytes(p, PUT, &put), RAY_OK);
    double pushed = pushed_bytes();
    ray_ref r[5];
    r[0] = counter_add_remote(c, 1);
    r[1] = counter_add_len_remote(c, (ray_bytes){p, BIG});
    r[2] = RAY_ACTOR_CALL(counter_add_len, c, put);
    r[3] = RAY_ACTOR_CALL(counter_add_len, c, put);
    r[4] = counter_add_remote(c, 1);
    const int64_t want[5] = {
        1, 1 + BIG + 3000000000000, 1 + BIG + PUT + 3000000000000,
        1 + BIG + 2 * PUT + 3000000000000, 2 + BIG + 2 * PUT};
    for (int i = 0; i < 5; i++) {
        int64_t v = -1;
        cr_assert_eq(ray_get_int64(r[i], &v, 60000), RAY_OK, "%d: %s", i,
                     ray_last_error_detail());
        cr_assert_eq(v, want[i], "call %d saw %lld", i, (long long)v);
        ray_ref_release(r[i]);
    }
    cr_assert_eq(pushed_bytes() - pushed, (double)(BIG + PUT));
    free(p);
    ray_ref_release(put);
    ray_actor_release(c);
}

Test(cluster, an_actor_on_another_node_keeps_its_state_in_order)
{
    driver_up(1);
    ray_actor_opts o = {.node = "127.0.0.3"};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 1000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_actor_wait_ready(c, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    enum { N = 200 };
    ray_ref r[N];
    for (int i = 0; i < N; i++)
        r[i] = counter_add_remote(c, 1);
    for (int i = 0; i < N; i++) {
        int64_t v;
        cr_assert_eq(ray_get_int64(r[i], &v, 60000), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_eq(v, 1001 + i, "call %d saw %lld", i, (long long)v);
        ray_ref_release(r[i]);
    }
    expect_str(counter_where_remote(c), "127.0.0.3 1200");
    int state = -1;
    cr_assert_eq(ray_actor_state(c, &state, NULL), RAY_OK);
    cr_assert_eq(state, RAY_ACTOR_ALIVE);
    cr_assert_eq(ray_actor_kill(c, true), RAY_OK);
    int64_t v;
    cr_assert_eq(ray_get_int64(counter_add_remote(c, 1), &v, 60000),
                 RAY_EACTOR_DIED);
    cr_assert_eq(ray_actor_state(c, &state, NULL), RAY_OK);
    cr_assert_eq(state, RAY_ACTOR_DEAD);
    ray_actor_release(c);
}

Test(cluster, a_named_actor_on_the_node_with_its_resources)
{
    driver_up(1);
    ray_actor_opts o = {.resources = "gpu:1", .name = "bank"};
    ray_actor c, again;
    cr_assert_eq(counter_create(&c, &o, 5), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(counter_create(&again, &o, 5), RAY_EEXISTS);
    cr_assert_eq(ray_actor_lookup("bank", &again), RAY_OK);
    expect_str(counter_where_remote(again), "127.0.0.2 5");
    ray_actor_release(again);
    ray_actor_release(c);
}

Test(cluster, an_actor_whose_node_dies_fails_its_calls)
{
    driver_up(1);
    ray_actor_opts o = {.node = "127.0.0.3"};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 0), RAY_OK);
    int64_t v;
    cr_assert_eq(ray_get_int64(counter_add_remote(c, 1), &v, 60000), RAY_OK);
    cr_assert_eq(kill(daemon_pid("127.0.0.3"), SIGKILL), 0);
    ray_err err = RAY_OK;
    for (int k = 0; k < 200 && err == RAY_OK; k++) { /* until it is seen */
        ray_ref r = counter_add_remote(c, 1);
        err = ray_get_int64(r, &v, 60000);
        ray_ref_release(r);
        if (err == RAY_OK)
            usleep(20000);
    }
    cr_assert_eq(err, RAY_EACTOR_DIED, "%s", ray_last_error_detail());
    cr_assert(strstr(ray_last_error_detail(), "127.0.0.3"), "%s",
              ray_last_error_detail());
}

Test(cluster, remote_output_reaches_the_driver_with_its_origin)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/driver-out", tmp);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    fflush(stdout);
    int saved = dup(1);
    cr_assert_eq(dup2(fd, 1), 1);
    driver_up(1);
    ray_call_opts o = {.node = "127.0.0.2"};
    int64_t v;
    cr_assert_eq(ray_get_int64(say_remote_opts(&o, 7), &v, 60000), RAY_OK);
    bool seen = false;
    static char buf[65536];
    for (int k = 0; k < 200 && !seen; k++) { /* lines follow the result */
        fflush(stdout);
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        seen = strstr(buf, "hello from a remote task 7") != NULL;
        if (!seen)
            usleep(20000);
    }
    dup2(saved, 1);
    cr_assert(seen, "driver output: %s", buf);
    cr_assert(strstr(buf, "(node=127.0.0.2) (pid="), "%s", buf);
    close(fd);
}

/* Processes whose parent is `pid` and that were started as a driver's
 * agent (not as the raylet's standby for the next driver). */
static bool
started_as_agent(const char *pid)
{
    char path[300], env[16384];
    snprintf(path, sizeof(path), "/proc/%s/environ", pid);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, env, sizeof(env) - 1) : -1;
    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1)
        if (!strncmp(env + i, "RAYC_AGENT_FD=", 14))
            return true;
    return false;
}

static int
children_of(pid_t pid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (atoi(e->d_name) <= 0)
            continue;
        char path[300], line[256];
        snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof(line), f))
            if (!strncmp(line, "PPid:", 5)) {
                n += atoi(line + 5) == pid && started_as_agent(e->d_name);
                break;
            }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

Test(cluster, a_dead_driver_s_agents_end)
{
    pid_t raylet = daemon_pid("127.0.0.2");
    cr_assert_gt(raylet, 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t drv = fork();
    if (drv == 0) { /* a driver with a long call on 127.0.0.2 */
        close(p[0]);
        ray_config c;
        ray_config_init(&c);
        c.num_cpus = 1;
        c.address = head;
        if (ray_init(&c) != RAY_OK)
            _exit(1);
        ray_call_opts o = {.node = "127.0.0.2"};
        ray_ref r = twice_slow_remote_opts(&o, 1, 60000);
        (void)r;
        if (write(p[1], "r", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    char b;
    cr_assert_eq(read(p[0], &b, 1), 1, "the driver did not start");
    close(p[0]);
    cr_assert_geq(children_of(raylet), 1, "no agent on 127.0.0.2");
    kill(drv, SIGKILL);
    waitpid(drv, NULL, 0);
    int left = 1;
    for (int k = 0; k < 200 && left; k++) { /* reaped within the tick */
        left = children_of(raylet);
        if (left)
            usleep(50000);
    }
    cr_assert_eq(left, 0, "the agent outlived its driver");
}

Test(cluster, a_call_no_node_can_run_fails_at_once_naming_the_largest)
{
    driver_up(1);
    ray_call_opts o = {.num_cpus = 3};
    ray_ref r = tagged_remote_opts(&o, 1);
    cr_assert_eq(r.id, 0);
    const char *d = ray_last_error_detail();
    cr_assert(strstr(d, "infeasible") && strstr(d, "needs 3 CPUs") &&
                  strstr(d, "has 2 CPUs"),
              "%s", d);
    ray_call_opts g = {.resources = "tpu:1"};
    r = tagged_remote_opts(&g, 1);
    cr_assert_eq(r.id, 0);
    cr_assert(strstr(ray_last_error_detail(), "tpu:1"), "%s",
              ray_last_error_detail());
    ray_call_opts two = {.num_cpus = 2}; /* only the other nodes have 2 */
    char *s = NULL;
    cr_assert_eq(ray_get_str(tagged_remote_opts(&two, 2), &s, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert(strstr(s, "127.0.0."), "%s", s);
    ray_free(s);
}

/* counter_where of c once it answers from elsewhere than `first` (the
 * driver saw its node die and it moved; 300 tries at most): calls in the
 * meantime may fail with RAY_EACTOR_DIED. */
static char *
where_once_moved(ray_actor c, const char *first)
{
    char *s = NULL;
    for (int k = 0; k < 300; k++) {
        ray_ref r = counter_where_remote(c);
        ray_err err = ray_get_str(r, &s, 60000);
        ray_ref_release(r);
        if (err == RAY_OK && strncmp(s, first, strlen(first)) != 0)
            return s;
        cr_assert(err == RAY_OK || err == RAY_EACTOR_DIED, "%s",
                  ray_last_error_detail());
        ray_free(s);
        s = NULL;
        usleep(20000);
    }
    cr_assert_fail("the actor never moved off %s", first);
    return NULL;
}

Test(cluster, an_actor_with_restarts_moves_off_a_dead_node)
{
    driver_up(1);
    ray_actor_opts o = {.resources = "pool:1", .max_restarts = 1};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 10), RAY_OK, "%s",
                 ray_last_error_detail());
    char *s = NULL;
    cr_assert_eq(ray_get_str(counter_where_remote(c), &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    char first[32];
    sscanf(s, "%31s", first);
    ray_free(s);
    cr_assert(!strcmp(first, "127.0.0.2") || !strcmp(first, "127.0.0.3"), "%s",
              first);
    cr_assert_eq(kill(daemon_pid(first), SIGKILL), 0);
    s = where_once_moved(c, first);
    /* A fresh incarnation: the constructor's state, on the other node. */
    char want[64];
    snprintf(want, sizeof(want), "%s 10",
             strcmp(first, "127.0.0.2") ? "127.0.0.2" : "127.0.0.3");
    cr_assert_str_eq(s, want);
    ray_free(s);
    int state = -1, restarts = -1;
    cr_assert_eq(ray_actor_state(c, &state, &restarts), RAY_OK);
    cr_assert_eq(state, RAY_ACTOR_ALIVE);
    cr_assert_eq(restarts, 1);
    ray_actor_release(c);
}

/* The n counter_nap calls r (of k0, k0 + 1, ...) come back right and in
 * order, from node `first` until one comes from `next` (their actor moved
 * there after first died), and at least one from `next`. Released. */
static void
naps_followed(ray_ref *r, int n, int k0, const char *first, const char *next)
{
    int moved = 0;
    for (int k = 0; k < n; k++) {
        char *s = NULL, ip[32];
        long long v = -1;
        cr_assert_eq(ray_get_str(r[k], &s, 60000), RAY_OK, "call %d: %s",
                     k0 + k, ray_last_error_detail());
        cr_assert_eq(sscanf(s, "%31s %lld", ip, &v), 2, "%s", s);
        cr_assert_eq(v, k0 + k, "%s", s);
        cr_assert(!strcmp(ip, first) || !strcmp(ip, next), "%s", s);
        moved += !strcmp(ip, next);
        cr_assert(!strcmp(ip, next) || moved == 0,
                  "call %d ran on %s after an earlier one moved", k0 + k, ip);
        ray_free(s);
        ray_ref_release(r[k]);
    }
    cr_assert_gt(moved, 0, "no call was in flight when %s died", first);
}

/* With max_task_retries, the calls in flight on an actor's node when it
 * dies go to the actor's next incarnation, in the order they were made,
 * and come back as if nothing happened. */
Test(cluster, an_actor_s_calls_in_flight_follow_it_off_a_dead_node)
{
    driver_up(1);
    ray_actor_opts o = {
        .resources = "pool:1", .max_restarts = 1, .max_task_retries = -1};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    enum { N = 12 };
    ray_ref r[N];
    for (int k = 0; k < N; k++)
        r[k] = counter_nap_remote(c, k);
    char *s = NULL, first[32] = "";
    cr_assert_eq(ray_get_str(r[0], &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    sscanf(s, "%31s", first);
    ray_free(s);
    ray_ref_release(r[0]);
    cr_assert(!strcmp(first, "127.0.0.2") || !strcmp(first, "127.0.0.3"), "%s",
              first);
    /* The other calls are in flight there, one running. */
    ray_stats st;
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    uint64_t resent = st.calls_resent;
    cr_assert_eq(kill(daemon_pid(first), SIGKILL), 0);
    const char *next = strcmp(first, "127.0.0.2") ? "127.0.0.2" : "127.0.0.3";
    naps_followed(r + 1, N - 1, 1, first, next);
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    cr_assert(st.calls_resent > resent && st.calls_resent - resent <= N - 1,
              "%llu calls sent again",
              (unsigned long long)(st.calls_resent - resent));
    int state = -1, restarts = -1;
    cr_assert_eq(ray_actor_state(c, &state, &restarts), RAY_OK);
    cr_assert_eq(state, RAY_ACTOR_ALIVE);
    cr_assert_eq(restarts, 1);
    ray_actor_release(c);
}

Test(cluster, remote_failures_come_back_as_they_would_here)
{
    driver_up(1);
    ray_call_opts o = {.node = "127.0.0.3", .max_retries = RAY_NO_RETRY};
    int64_t v;
    cr_assert_eq(ray_get_int64(crash_or_refuse_remote_opts(&o, 0), &v, 60000),
                 RAY_EWORKER_DIED);
    cr_assert(strstr(ray_last_error_detail(), "crash_or_refuse"), "%s",
              ray_last_error_detail());
    cr_assert_eq(ray_get_int64(crash_or_refuse_remote_opts(&o, 42), &v, 60000),
                 RAY_ETASK_FAILED);
    cr_assert(strstr(ray_last_error_detail(), "refused 42"), "%s",
              ray_last_error_detail());
    /* The node still works. */
    expect_str(tagged_remote_opts(&o, 3), "127.0.0.3 3");
}

Test(cluster, tasks_here_call_an_actor_on_another_node)
{
    driver_up(2);
    ray_actor_opts o = {.node = "127.0.0.3"};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 0), RAY_OK);
    ray_ref t[3];
    for (int i = 0; i < 3; i++)
        t[i] = add_ones_remote(c, 50); /* the handle travels into the task */
    for (int i = 0; i < 3; i++) {
        int64_t v;
        cr_assert_eq(ray_get_int64(t[i], &v, 60000), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_gt(v, 0, "task %d saw %lld", i, (long long)v);
    }
    expect_str(counter_where_remote(c), "127.0.0.3 150");
    ray_actor_release(c);
}

Test(cluster, a_second_head_on_a_taken_port_fails_saying_so)
{
    char port[32];
    snprintf(port, sizeof(port), "--port=%s", strrchr(head, ':') + 1);
    cr_assert_neq(rayc("start", "--head", port, NULL), 0);
    cr_assert(strstr(out_text(), "Address already in use"), "%s", out_text());
    cr_assert_eq(alive_nodes(), 3, "%s", out_text()); /* nothing changed */
}

Test(cluster, big_arguments_and_values_never_break_a_connection)
{
    driver_up(1);
    ray_call_opts on2 = {.node = "127.0.0.2"};
    /* 200 calls of 100 KiB each, queued at once: the batches are split. */
    enum { N = 200, K = 100 << 10 };
    static uint8_t buf[K];
    memset(buf, 2, sizeof(buf));
    ray_ref r[N];
    for (int i = 0; i < N; i++)
        r[i] = sum_bytes_remote_opts(&on2, (ray_bytes){buf, K});
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.2 %u", 2u * K);
    for (int i = 0; i < N; i++) {
        char *s = NULL;
        cr_assert_eq(ray_get_str(r[i], &s, 60000), RAY_OK, "%d: %s", i,
                     ray_last_error_detail());
        cr_assert_str_eq(s, want);
        ray_free(s);
        ray_ref_release(r[i]);
    }
    /* 14 MiB: more than a record carries. It goes into the node's store
     * first (transfer.h), wherever the call runs. */
    size_t big = 14u << 20;
    uint8_t *p = calloc(1, big);
    cr_assert_not_null(p);
    p[0] = 5;
    expect_str(sum_bytes_remote_opts(&on2, (ray_bytes){p, big}), "127.0.0.2 5");
    ray_call_opts pool = {.resources = "pool:1"}; /* only there */
    ray_ref y = sum_bytes_remote_opts(&pool, (ray_bytes){p, big});
    char *s = NULL;
    cr_assert_eq(ray_get_str(y, &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert(!strcmp(s, "127.0.0.2 5") || !strcmp(s, "127.0.0.3 5"), "%s", s);
    ray_free(s);
    ray_ref_release(y);
    free(p);
    /* A value too big for a result stays on its node until pulled. */
    void *got = NULL;
    size_t len = 0;
    cr_assert_eq(ray_get_bytes(make_bytes_remote_opts(&on2, 13 << 20), &got,
                               &len, 60000),
                 RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(len, 13u << 20);
    cr_assert_eq(((uint8_t *)got)[0], 1);
    cr_assert_eq(((uint8_t *)got)[len - 1], 1);
    ray_free(got);
    cr_assert_eq(
        ray_get_bytes(make_bytes_remote_opts(&on2, 1000), &got, &len, 60000),
        RAY_OK);
    cr_assert_eq(len, 1000);
    ray_free(got);
}

/* A pattern no two offsets 1 MiB apart share (a shifted or repeated
 * chunk shows), made and checked a 64-bit word at a time: the
 * sanitizer build is unoptimised, and these run over gigabytes. */
static uint64_t
pattern_word(uint64_t w, int64_t seed)
{
    uint64_t x = (w + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)seed;
    return x ^ (x >> 29) ^ (w >> 17);
}

static uint8_t
pattern_at(uint64_t i, int64_t seed)
{
    uint64_t w = pattern_word(i / 8, seed);
    uint8_t b[8];
    memcpy(b, &w, 8);
    return b[i % 8];
}

static void
pattern_fill(uint8_t *p, size_t n, int64_t seed)
{
    size_t w = 0;
    for (; (w + 1) * 8 <= n; w++) {
        uint64_t x = pattern_word(w, seed);
        memcpy(p + w * 8, &x, 8);
    }
    for (size_t i = w * 8; i < n; i++)
        p[i] = pattern_at(i, seed);
}

/* The first offset where p is not the pattern of `seed`, or n. */
static size_t
pattern_bad(const uint8_t *p, size_t n, int64_t seed)
{
    size_t w = 0;
    for (; (w + 1) * 8 <= n; w++) {
        uint64_t x = pattern_word(w, seed), y;
        memcpy(&y, p + w * 8, 8);
        if (x != y)
            break;
    }
    for (size_t i = w * 8; i < n; i++)
        if (p[i] != pattern_at(i, seed))
            return i;
    return n;
}

static ray_bytes
make_pattern(int64_t n, int64_t seed)
{
    uint8_t *p = malloc((size_t)n);
    pattern_fill(p, (size_t)n, seed);
    return (ray_bytes){p, (size_t)n};
}
RAY_REMOTE(make_pattern, ray_bytes, int64_t, int64_t);

/* "IP OK" when b is the pattern of `seed`, else "IP BAD at N". */
static char *
check_pattern(ray_bytes b, int64_t seed)
{
    const char *ip = getenv("RAYC_NODE_IP");
    char *s = malloc(96);
    size_t bad = pattern_bad(b.data, b.len, seed);
    if (bad < b.len)
        snprintf(s, 96, "%s BAD at %zu", ip ? ip : "driver", bad);
    else
        snprintf(s, 96, "%s OK %zu", ip ? ip : "driver", b.len);
    return s;
}
RAY_REMOTE(check_pattern, char *, ray_bytes, int64_t);

static int list_rows(const char *kind, const char *filter);
static bool declared_dead(const char *ip);

/* The pattern of seed + 1, as long as b, when b holds the pattern of
 * `seed`; else one byte. */
static ray_bytes
next_pattern(ray_bytes b, int64_t seed)
{
    if (pattern_bad(b.data, b.len, seed) < b.len)
        return (ray_bytes){calloc(1, 1), 1};
    return make_pattern((int64_t)b.len, seed + 1);
}
RAY_REMOTE(next_pattern, ray_bytes, ray_bytes, int64_t);

/* Values kept on the node that made them while the driver holds them,
 * values pulled by another node for a call, and values pushed to a node
 * for a call, are freed there: 20 of 60 MB each way through the nodes'
 * 1 GiB stores, which one leaked copy in six would fill. */
Test(cluster, values_pulled_and_pushed_are_freed_on_their_node)
{
    driver_up(1);
    enum { N = 60 * 1000 * 1000, ROUNDS = 20 };
    ray_call_opts on2 = {.node = "127.0.0.2"}, on3 = {.node = "127.0.0.3"};
    for (int r = 0; r < ROUNDS; r++) {
        void *got = NULL;
        size_t len = 0;
        ray_ref v = make_pattern_remote_opts(&on2, N, r);
        cr_assert_eq(ray_get_bytes(v, &got, &len, 60000), RAY_OK,
                     "round %d: %s", r, ray_last_error_detail());
        cr_assert_eq(len, (size_t)N);
        cr_assert_eq(((uint8_t *)got)[N - 1], pattern_at(N - 1, r));
        ray_free(got);
        /* Read on .3 from .2's copy, which goes with the driver's. */
        char want[64];
        snprintf(want, sizeof(want), "127.0.0.3 OK %d", N);
        expect_str(RAY_CALL_OPTS(check_pattern, &on3, v, (int64_t)r), want);
        ray_ref_release(v);
    }
    ray_bytes b = make_pattern(N, 3);
    ray_ref put = RAY_REF_NULL;
    cr_assert_eq(ray_put_bytes(b.data, b.len, &put), RAY_OK);
    free((void *)b.data);
    char want2[64], want3[64];
    snprintf(want2, sizeof(want2), "127.0.0.2 OK %d", N);
    snprintf(want3, sizeof(want3), "127.0.0.3 OK %d", N);
    /* Pushed once, to .2, where it stays while the driver holds it; .3
     * reads it from there. */
    double pushed = pushed_bytes();
    for (int r = 0; r < ROUNDS; r++) {
        expect_str(RAY_CALL_OPTS(check_pattern, &on2, put, (int64_t)3), want2);
        expect_str(RAY_CALL_OPTS(check_pattern, &on3, put, (int64_t)3), want3);
    }
    cr_assert_eq(pushed_bytes() - pushed, (double)N);
    ray_ref_release(put);
    /* And it goes from .2 with the driver's: a second put takes its
     * room there as often. */
    b = make_pattern(N, 4);
    for (int r = 0; r < ROUNDS; r++) {
        cr_assert_eq(ray_put_bytes(b.data, b.len, &put), RAY_OK);
        expect_str(RAY_CALL_OPTS(check_pattern, &on2, put, (int64_t)4), want2);
        ray_ref_release(put);
    }
    free((void *)b.data);
}

/* The bytes node `ip`'s agent served to other nodes' pulls (the
 * driver's metrics), once a call there brought its latest count. */
static double
served_bytes(const char *ip)
{
    ray_call_opts o = {.node = ip};
    char want[48];
    snprintf(want, sizeof(want), "%s 1", ip);
    expect_str(tagged_remote_opts(&o, 1), want);
    char k[96];
    snprintf(k, sizeof(k), "rayc_object_served_bytes_total{node=\"%s\"}", ip);
    return metric_value(k);
}

/* A raylet on 127.0.0.4 joins the cluster, and the driver sends it calls
 * (it polls the head twice a second). */
static void
node4_up(void)
{
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    cr_assert_eq(rayc("start", addr, "--node-ip-address=127.0.0.4", NULL), 0,
                 "%s", out_text());
    ray_call_opts o = {.node = "127.0.0.4"};
    ray_ref r = RAY_REF_NULL;
    for (int k = 0; k < 200 && r.id == 0; k++) {
        r = tagged_remote_opts(&o, 4);
        if (r.id == 0)
            usleep(50000);
    }
    expect_str(r, "127.0.0.4 4");
}

/* A value read by calls on three nodes at once leaves the driver once
 * and every node at most once: .3 pulls it from .2's copy, and .4 from
 * .3's as it lands there (a relay), rather than both from .2. */
Test(cluster, a_value_read_on_three_nodes_at_once_is_relayed)
{
    driver_up(1);
    node4_up();
    const char *ips[3] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
    ray_call_opts on[3] = {
        {.node = ips[0]}, {.node = ips[1]}, {.node = ips[2]}};
    enum { N = 48 * 1000 * 1000 }; /* 12 chunks */
    ray_bytes b = make_pattern(N, 31);
    ray_ref put = RAY_REF_NULL;
    cr_assert_eq(ray_put_bytes(b.data, b.len, &put), RAY_OK);
    free((void *)b.data);
    double before[3];
    for (int k = 0; k < 3; k++)
        before[k] = served_bytes(ips[k]);
    double pushed = pushed_bytes();
    ray_ref got[3];
    for (int k = 0; k < 3; k++)
        got[k] = RAY_CALL_OPTS(check_pattern, &on[k], put, (int64_t)31);
    for (int k = 0; k < 3; k++) {
        char want[64];
        snprintf(want, sizeof(want), "%s OK %d", ips[k], N);
        expect_str(got[k], want);
    }
    cr_assert_eq(pushed_bytes() - pushed, (double)N, "pushed more than once");
    double sent = 0;
    for (int k = 0; k < 3; k++) {
        double d = served_bytes(ips[k]) - before[k];
        cr_assert_leq(d, (double)N, "%s sent it %.2f times", ips[k], d / N);
        sent += d;
    }
    cr_assert_eq(sent, 2.0 * N, "the nodes sent it %.2f times", sent / N);
    ray_ref_release(put);
}

/* A relay that dies: .4 reads the value from .3's copy as it lands, and
 * .3 is killed as the calls go. Whenever that falls, .4's call reads the
 * value whole (from .2, should its pull from .3 break) and .2's too. */
Test(cluster, a_relay_that_dies_leaves_its_readers_another_copy)
{
    driver_up(1);
    node4_up();
    ray_call_opts on2 = {.node = "127.0.0.2"}, on3 = {.node = "127.0.0.3"},
                  on4 = {.node = "127.0.0.4"};
    enum { N = 96 * 1000 * 1000 };
    ray_bytes b = make_pattern(N, 32);
    ray_ref put = RAY_REF_NULL;
    cr_assert_eq(ray_put_bytes(b.data, b.len, &put), RAY_OK);
    free((void *)b.data);
    pid_t victim = daemon_pid("127.0.0.3");
    cr_assert_gt(victim, 0);
    ray_ref on_2 = RAY_CALL_OPTS(check_pattern, &on2, put, (int64_t)32);
    ray_ref on_3 = RAY_CALL_OPTS(check_pattern, &on3, put, (int64_t)32);
    ray_ref on_4 = RAY_CALL_OPTS(check_pattern, &on4, put, (int64_t)32);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.2 OK %d", N);
    expect_str(on_2, want);
    snprintf(want, sizeof(want), "127.0.0.4 OK %d", N);
    expect_str(on_4, want);
    char *s = NULL; /* .3's own: done before it died, or failed naming it */
    ray_err e = ray_get_str(on_3, &s, 60000);
    cr_assert(e == RAY_OK || e == RAY_EWORKER_DIED || e == RAY_EOBJECT_LOST,
              "%s: %s", ray_strerror(e), ray_last_error_detail());
    if (e == RAY_OK) {
        snprintf(want, sizeof(want), "127.0.0.3 OK %d", N);
        cr_assert_str_eq(s, want);
    }
    ray_free(s);
    ray_ref_release(put);
}

/* A node that pulled a value from another keeps its copy for the calls
 * that read it next: they still run after the first node dies. */
Test(cluster, a_pulled_value_stays_on_the_node_that_pulled_it)
{
    driver_up(1);
    enum { N = 20 * 1000 * 1000 };
    ray_call_opts on2 = {.node = "127.0.0.2"}, on3 = {.node = "127.0.0.3"};
    ray_bytes b = make_pattern(N, 9);
    ray_ref put = RAY_REF_NULL;
    cr_assert_eq(ray_put_bytes(b.data, b.len, &put), RAY_OK);
    free((void *)b.data);
    char want2[64], want3[64];
    snprintf(want2, sizeof(want2), "127.0.0.2 OK %d", N);
    snprintf(want3, sizeof(want3), "127.0.0.3 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern, &on2, put, (int64_t)9), want2);
    expect_str(RAY_CALL_OPTS(check_pattern, &on3, put, (int64_t)9), want3);
    pid_t victim = daemon_pid("127.0.0.2");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    double pushed = pushed_bytes();
    for (int i = 0; i < 3; i++)
        expect_str(RAY_CALL_OPTS(check_pattern, &on3, put, (int64_t)9), want3);
    cr_assert_eq(pushed_bytes(), pushed, "pushed again: .3 kept no copy");
    ray_ref_release(put);
}

/* Large results stay on the node that made them until something here
 * waits for them (Ray's lineage): a chain of three made on .3 and read
 * there never comes to the driver. When .3 dies, the calls that made
 * them run again elsewhere, each once its argument is made again, though
 * the driver released the first two refs (the calls after them hold
 * them); the last value reads back whole. */
Test(cluster, a_lost_chain_of_values_is_made_again_from_its_calls)
{
    driver_up(1);
    enum { N = 8 * 1000 * 1000 };
    ray_call_opts on3 = {.node = "127.0.0.3", .node_soft = true};
    ray_ref v0 = make_pattern_remote_opts(&on3, N, 20);
    ray_ref v1 = RAY_CALL_OPTS(next_pattern, &on3, v0, (int64_t)20);
    ray_ref v2 = RAY_CALL_OPTS(next_pattern, &on3, v1, (int64_t)21);
    ray_ref_release(v0);
    ray_ref_release(v1);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.3 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern, &on3, v2, (int64_t)22), want);
    cr_assert_eq(moved_bytes("pull"), 0.0, "a value came to the driver");
    cr_assert_eq(list_rows("objects", "location=parked_on_node"), 3, "%s",
                 out_text());
    pid_t victim = daemon_pid("127.0.0.3");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    cr_assert(declared_dead("127.0.0.3"));
    ray_view v;
    cr_assert_eq(ray_get(v2, &v, 60000), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(v.len, (size_t)N);
    cr_assert_eq(pattern_bad(v.data, v.len, 22), (size_t)N);
    ray_release(&v);
    ray_stats st;
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    cr_assert_eq(st.objects_rebuilt, 3);
    cr_assert_eq(moved_bytes("pull"), (double)N, "only the last was pulled");
    ray_ref_release(v2);
}

/* A parked value a call on another node read stays there too, as a
 * copy: when the node that made it dies, the value is read from that
 * copy, not made again. */
Test(cluster, a_parked_value_read_elsewhere_outlives_its_node_there)
{
    driver_up(1);
    enum { N = 8 * 1000 * 1000 };
    ray_call_opts on2 = {.node = "127.0.0.2"};
    ray_call_opts on3 = {.node = "127.0.0.3", .node_soft = true};
    ray_ref v = make_pattern_remote_opts(&on3, N, 30);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.2 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern, &on2, v, (int64_t)30), want);
    pid_t victim = daemon_pid("127.0.0.3");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    cr_assert(declared_dead("127.0.0.3"));
    expect_str(RAY_CALL_OPTS(check_pattern, &on2, v, (int64_t)30), want);
    ray_view got;
    cr_assert_eq(ray_get(v, &got, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(pattern_bad(got.data, got.len, 30), (size_t)N);
    ray_release(&got);
    ray_stats st;
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    cr_assert_eq(st.objects_rebuilt, 0, "made again, though .2 kept a copy");
    ray_ref_release(v);
}

/* A call with no node of its own goes beside its largest parked argument:
 * .2 and .3 both have `pool`, the value is parked on .3, so each read runs
 * there, reading it in place. */
Test(cluster, a_call_goes_to_the_node_its_parked_argument_is_on)
{
    driver_up(1);
    enum { N = 4 * 1000 * 1000 };
    ray_call_opts on3 = {.node = "127.0.0.3", .node_soft = true};
    ray_call_opts pool = {.resources = "pool:1"};
    ray_ref v = make_pattern_remote_opts(&on3, N, 50);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.3 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern, &on3, v, (int64_t)50), want);
    for (int i = 0; i < 6; i++) /* the hybrid policy alone takes turns */
        expect_str(RAY_CALL_OPTS(check_pattern, &pool, v, (int64_t)50), want);
    cr_assert_eq(moved_bytes("pull"), 0.0, "a value came to the driver");
    ray_ref_release(v);
}

/* A lost value whose call asks for what only its dead node had waits for
 * a node that has it (none is alive), and is made again there once the
 * node is back. */
Test(cluster, a_lost_value_only_its_node_can_make_waits_for_it_to_return)
{
    driver_up(1);
    enum { N = 4 * 1000 * 1000 };
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    const char *ip4 = "--node-ip-address=127.0.0.4";
    cr_assert_eq(
        rayc("start", addr, ip4, "--num-cpus=1", "--resources=only4=1", NULL),
        0, "%s", out_text());
    ray_call_opts o4 = {.resources = "only4:1"};
    ray_ref v = RAY_REF_NULL;
    for (int k = 0; k < 200 && v.id == 0; k++) { /* the driver polls 2/s */
        v = make_pattern_remote_opts(&o4, N, 40);
        if (v.id == 0)
            usleep(50000);
    }
    cr_assert_neq(v.id, 0, "%s", ray_last_error_detail());
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.4 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern, &o4, v, (int64_t)40), want);
    pid_t victim = daemon_pid("127.0.0.4");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    cr_assert(declared_dead("127.0.0.4"));
    cr_assert_eq(
        rayc("start", addr, ip4, "--num-cpus=1", "--resources=only4=1", NULL),
        0, "%s", out_text());
    ray_view got;
    cr_assert_eq(ray_get(v, &got, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(pattern_bad(got.data, got.len, 40), (size_t)N);
    ray_release(&got);
    ray_stats st;
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    cr_assert_eq(st.objects_rebuilt, 1);
    ray_ref_release(v);
}

/* A burst of large results from two nodes at once: each pulled (by a
 * few pullers, in turn), each with its own bytes. */
Test(cluster, a_burst_of_large_results_all_arrive)
{
    driver_up(1);
    enum { N = 64, SIZE = 2 << 20 };
    ray_call_opts pool = {.resources = "pool:1"}; /* .2 and .3 only */
    ray_ref r[N];
    for (int i = 0; i < N; i++)
        r[i] = make_pattern_remote_opts(&pool, SIZE, i);
    for (int i = 0; i < N; i++) {
        ray_view v;
        cr_assert_eq(ray_get(r[i], &v, 60000), RAY_OK, "%d: %s", i,
                     ray_last_error_detail());
        cr_assert_eq(v.len, (size_t)SIZE);
        const uint8_t *b = v.data;
        cr_assert(b[0] == pattern_at(0, i) &&
                      b[SIZE / 2] == pattern_at(SIZE / 2, i) &&
                      b[SIZE - 1] == pattern_at(SIZE - 1, i),
                  "result %d holds another's bytes", i);
        ray_release(&v);
        ray_ref_release(r[i]);
    }
}

/* A pull waits for room in the driver's store; its source node dies
 * meanwhile; the call runs again on another node, whose value is pulled
 * once there is room. */
Test(cluster, a_pull_waits_for_room_and_a_lost_source_runs_again)
{
    driver_with_store(256u << 20);
    enum { N = 150 * 1000 * 1000 };
    static uint8_t zeros[N];
    ray_ref hold;
    ray_view pin;
    put_pinned(zeros, N, &hold, &pin);
    /* Soft: on .3 while it lives, else anywhere. */
    ray_call_opts on3 = {
        .node = "127.0.0.3", .node_soft = true, .max_retries = 2};
    ray_ref a = make_pattern_remote_opts(&on3, N, 5);
    /* Made: not in flight on .3 any more, its pull waiting for room. */
    int busy = 1;
    for (int i = 0; i < 600 && busy; i++)
        if ((busy = list_rows("tasks", "state=SUBMITTED_TO_WORKER")))
            usleep(50000);
    cr_assert_eq(busy, 0, "%s", out_text());
    size_t idx, nready = 7;
    ray_wait(&a, 1, 1, 300, &idx, &nready);
    cr_assert_eq(nready, 0, "the value came with no room for it");
    pid_t victim = daemon_pid("127.0.0.3");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    ray_release(&pin);
    ray_ref_release(hold);
    char *s = NULL;
    cr_assert_eq(ray_get_str(RAY_CALL(check_pattern, a, (int64_t)5), &s, 60000),
                 RAY_OK, "%s", ray_last_error_detail());
    char want[64];
    snprintf(want, sizeof(want), "OK %d", N);
    cr_assert(strstr(s, want), "%s", s);
    ray_free(s);
    ray_ref_release(a);
}

/* 12 MB of the pattern of `seed`, from an actor: its results come back
 * in the order of the calls. */
static ray_bytes
counter_pattern(counter *c, int64_t seed)
{
    (void)c;
    return make_pattern(12 * 1000 * 1000, seed);
}
RAY_METHOD(counter, counter_pattern, ray_bytes, int64_t);

static pthread_mutex_t settled_mu = PTHREAD_MUTEX_INITIALIZER;
static int settled[64], nsettled;

static void
on_settled(void *arg, ray_ref ref, ray_err err)
{
    (void)ref;
    (void)err;
    pthread_mutex_lock(&settled_mu);
    settled[nsettled++] = (int)(intptr_t)arg;
    pthread_mutex_unlock(&settled_mu);
}

/* Pulls queue for the driver's pullers by priority: the value a ray_get
 * asks for goes before those that came earlier and nobody waits for. The
 * driver's store is full of a pinned value while 16 results arrive (4
 * pulls start and wait for room, 12 queue); a get of the last one moves
 * it to the front, and once there is room it is among the first in. */
Test(cluster, a_get_s_pull_goes_before_those_pulled_ahead)
{
    driver_with_store(64u << 20);
    enum { FILL = 52 << 20, N = 16 }; /* in 64 MiB: room for no 12 MB more */
    static uint8_t zeros[FILL];
    ray_ref hold;
    ray_view pin;
    put_pinned(zeros, FILL, &hold, &pin);
    ray_actor_opts o = {.node = "127.0.0.2"};
    ray_actor a;
    cr_assert_eq(counter_create(&a, &o, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref r[N];
    for (int k = 0; k < N; k++)
        r[k] = counter_pattern_remote(a, k);
    /* Its answer comes after theirs on the node's one connection: their
     * pulls are all in the driver's hands now. */
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(counter_add_remote(a, 1), &v, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    nsettled = 0;
    for (int k = 0; k < N; k++)
        cr_assert_eq(ray_on_done(r[k], on_settled, (void *)(intptr_t)k),
                     RAY_OK);
    ray_view got;
    cr_assert_eq(ray_get(r[N - 1], &got, 1), RAY_ETIMEDOUT,
                 "the value came with no room for it");
    ray_release(&pin);
    ray_ref_release(hold);
    cr_assert_eq(ray_get(r[N - 1], &got, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(pattern_bad(got.data, got.len, N - 1), got.len);
    ray_release(&got);
    for (int k = 0; k < N; k++) {
        cr_assert_eq(ray_get(r[k], &got, 60000), RAY_OK, "%d: %s", k,
                     ray_last_error_detail());
        ray_release(&got);
        ray_ref_release(r[k]);
    }
    pthread_mutex_lock(&settled_mu);
    int at = -1;
    for (int k = 0; k < nsettled; k++)
        if (settled[k] == N - 1)
            at = k;
    int n = nsettled;
    pthread_mutex_unlock(&settled_mu);
    cr_assert_eq(n, N);
    /* Started fifth, behind the 4 waiting for room: a few that started
     * after it may still finish first, never most of them. */
    cr_assert(at >= 0 && at < 8, "the value got was pulled %d of %d", at + 1,
              N);
    ray_actor_release(a);
}

/* Node ip's state as `rayc status` says it is DEAD, within 12 s. */
static bool
declared_dead(const char *ip)
{
    bool dead = false;
    for (int k = 0; k < 120 && !dead; k++) { /* the deadline is 3 s */
        usleep(100000);
        if (rayc("status", "--format=json", NULL) == 0) {
            const char *p = strstr(out_text(), ip);
            const char *st = p ? strstr(p, "\"state\":\"") : NULL;
            dead = st && !strncmp(st + 9, "DEAD", 4);
        }
    }
    return dead;
}

/* A pull from a node that hung and was declared dead fails at once,
 * naming the node (an actor's value: made nowhere else), even when the
 * driver holds idle data connections to that node from an earlier pull:
 * they are cut with the node, never read for the idle timeout (60 s). */
Test(cluster, a_pull_from_a_node_declared_dead_fails_at_once)
{
    driver_with_store(64u << 20);
    ray_actor_opts o = {.node = "127.0.0.2"};
    ray_actor a;
    cr_assert_eq(counter_create(&a, &o, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_view got;
    ray_ref first = counter_pattern_remote(a, 1); /* leaves idle streams */
    cr_assert_eq(ray_get(first, &got, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_release(&got);
    ray_ref_release(first);
    enum { FILL = 52 << 20 }; /* in 64 MiB: no room for 12 MB more */
    static uint8_t zeros[FILL];
    ray_ref hold;
    ray_view pin;
    put_pinned(zeros, FILL, &hold, &pin);
    ray_ref r = counter_pattern_remote(a, 7);
    int64_t v = -1; /* its answer follows r's: r's pull waits for room */
    cr_assert_eq(ray_get_int64(counter_add_remote(a, 1), &v, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    pid_t rp = daemon_pid("127.0.0.2");
    cr_assert_gt(rp, 0);
    rc_signal_tree(rp, SIGSTOP); /* hung whole: raylet, agent, workers */
    bool dead = declared_dead("127.0.0.2");
    ray_release(&pin);
    ray_ref_release(hold);
    ray_err e = dead ? ray_get(r, &got, 30000) : RAY_OK;
    char detail[512];
    snprintf(detail, sizeof(detail), "%s", ray_last_error_detail());
    rc_signal_tree(rp, SIGCONT);
    cr_assert(dead, "%s", out_text());
    cr_assert_eq(e, RAY_EOBJECT_LOST, "%s", detail);
    cr_assert(strstr(detail, "127.0.0.2"), "%s", detail);
    ray_ref_release(r);
    ray_actor_release(a);
}

/* A call pinned to a node (ray_call_opts.node, not soft) runs there only:
 * the node dying under it fails it, naming the node, where an unpinned
 * call would run again elsewhere. */
Test(cluster, a_call_pinned_to_a_node_that_dies_fails_naming_it)
{
    driver_up(1);
    ray_call_opts on3 = {.node = "127.0.0.3"};
    int64_t k = (int64_t)getpid() * 10 + 7; /* a gate never opened */
    ray_ref r = gate_remote_opts(&on3, k);
    char *s = NULL;
    cr_assert_eq(ray_get_str(tagged_remote_opts(&on3, 1), &s, 60000), RAY_OK);
    ray_free(s); /* .3 runs calls: the gate's is running there */
    cr_assert_eq(kill(daemon_pid("127.0.0.3"), SIGKILL), 0);
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, 60000), RAY_EWORKER_DIED, "%s",
                 ray_last_error_detail());
    cr_assert(strstr(ray_last_error_detail(), "127.0.0.3"), "%s",
              ray_last_error_detail());
    ray_ref_release(r);
}

Test(cluster, a_200MB_value_made_on_one_node_feeds_another_and_the_driver)
{
    driver_up(1);
    enum { N = 200 * 1000 * 1000 };
    ray_call_opts on2 = {.node = "127.0.0.2"}, on3 = {.node = "127.0.0.3"};
    ray_ref a = make_pattern_remote_opts(&on2, N, 7); /* made on .2 */
    char want[64];
    /* .3 reads it from .2, which keeps it while the driver holds it;
     * .2 itself reads its own copy: the driver pushes nothing. */
    double pushed = pushed_bytes();
    snprintf(want, sizeof(want), "127.0.0.3 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern, &on3, a, (int64_t)7), want);
    snprintf(want, sizeof(want), "127.0.0.2 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern, &on2, a, (int64_t)7), want);
    cr_assert_eq(pushed_bytes(), pushed);
    ray_view v;
    cr_assert_eq(ray_get(a, &v, 60000), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(v.len, (size_t)N);
    cr_assert_eq(pattern_bad(v.data, v.len, 7), v.len);
    ray_release(&v);
    ray_ref_release(a);
}

Test(cluster, status_shows_a_busy_node_s_cpu_use)
{
    driver_up(1);
    ray_call_opts o = {.node = "127.0.0.3"};
    ray_ref r[2];
    for (int i = 0; i < 2; i++)
        r[i] = burn_remote_opts(&o, 4000);
    double used = 0;
    for (int k = 0; k < 80 && used < 0.3; k++) { /* measured each second */
        usleep(100000);
        if (rayc("status", "--format=json", NULL) != 0)
            continue;
        const char *p = strstr(out_text(), "127.0.0.3:");
        const char *u = p ? strstr(p, "\"cpus_used\":") : NULL;
        used = u ? atof(u + strlen("\"cpus_used\":")) : 0;
    }
    cr_assert_geq(used, 0.3, "%s", out_text());
    for (int i = 0; i < 2; i++) {
        int64_t v;
        cr_assert_eq(ray_get_int64(r[i], &v, 60000), RAY_OK);
    }
}

Test(cluster, status_lists_the_drivers_connected_now)
{
    driver_up(1);
    char me[64];
    snprintf(me, sizeof(me), "\"driver\":\"127.0.0.1:%d\"", (int)getpid());
    cr_assert_eq(rayc("status", "--format=json", NULL), 0);
    cr_assert(strstr(out_text(), me), "%s", out_text());
    ray_shutdown();
    bool gone = false;
    for (int k = 0; k < 100 && !gone; k++) { /* the head sees it close */
        rayc("status", "--format=json", NULL);
        gone = !strstr(out_text(), me);
        if (!gone)
            usleep(20000);
    }
    cr_assert(gone, "%s", out_text());
}

/* Does a node's log (under the temp dir) hold `what`? */
static bool
node_log_has(const char *ip, const char *what)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/logs", tmp);
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d)) && !found) {
        if (!strstr(e->d_name, ip))
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        char line[1024];
        while (f && fgets(line, sizeof(line), f) && !found)
            found = strstr(line, what) != NULL;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return found;
}

Test(cluster, the_next_driver_takes_the_standby_agent)
{
    ray_call_opts o = {.node = "127.0.0.2"};
    for (int run = 0; run < 2; run++) {
        driver_up(1);
        char *s = NULL;
        cr_assert_eq(ray_get_str(tagged_remote_opts(&o, run), &s, 60000),
                     RAY_OK, "%s", ray_last_error_detail());
        char want[32];
        snprintf(want, sizeof(want), "127.0.0.2 %d", run);
        cr_assert_str_eq(s, want);
        ray_free(s);
        ray_shutdown();
    }
    cr_assert(node_log_has("127.0.0.2", "(the standby)"),
              "the second driver's agent was started afresh");
}

Test(cluster, a_silent_raylet_is_declared_dead_and_its_calls_move)
{
    driver_up(1);
    ray_call_opts pool = {.resources = "pool:1"};
    /* Which node runs pool calls first: stop that one's raylet. */
    char *s = NULL;
    cr_assert_eq(ray_get_str(tagged_remote_opts(&pool, 0), &s, 60000), RAY_OK);
    char victim[32];
    sscanf(s, "%31s", victim);
    ray_free(s);
    pid_t rp = daemon_pid(victim);
    cr_assert_gt(rp, 0);
    cr_assert_eq(kill(rp, SIGSTOP), 0); /* hung: no more heartbeats */
    bool dead = declared_dead(victim);
    if (!dead)
        kill(rp, SIGCONT);
    cr_assert(dead, "%s", out_text());
    cr_assert(strstr(out_text(), "no heartbeat"), "%s", out_text());
    /* Calls pinned nowhere go on elsewhere once the driver dropped it
     * too (it asks the head twice a second): 10 in a row on the other
     * node (both fit; alive, they would share the calls). */
    const char *other = strcmp(victim, "127.0.0.2") ? "127.0.0.2" : "127.0.0.3";
    int streak = 0;
    for (int k = 0; k < 200 && streak < 10; k++) {
        s = NULL;
        cr_assert_eq(ray_get_str(tagged_remote_opts(&pool, 1), &s, 60000),
                     RAY_OK, "%s", ray_last_error_detail());
        streak = !strncmp(s, other, strlen(other)) ? streak + 1 : 0;
        ray_free(s);
        if (!streak)
            usleep(50000);
    }
    bool moved = streak >= 10;
    kill(rp, SIGCONT);
    cr_assert(moved, "calls still went to %s", victim);
    /* Back from its pause, it is told it was declared dead: it ends its
     * agents (their calls were moved) and joins again as a new node. */
    int alive = wait_alive(3, 100000);
    cr_assert_eq(alive, 3, "%s", out_text());
    cr_assert(node_log_has(victim, "joining again as a new node"),
              "the node did not rejoin clean");
    cr_assert_eq(rayc("status", NULL), 0);
    const char *first = strstr(out_text(), victim);
    cr_assert(first && strstr(first + 1, victim),
              "the dead id and the new one: %s", out_text());
    /* And the driver finds it under its new id. */
    ray_call_opts on = {.node = victim};
    char want[48];
    snprintf(want, sizeof(want), "%s 7", victim);
    ray_ref r = RAY_REF_NULL;
    for (int k = 0; k < 100 && !r.id; k++) { /* it asks twice a second */
        r = tagged_remote_opts(&on, 7);
        if (!r.id)
            usleep(50000);
    }
    cr_assert_neq(r.id, 0, "%s", ray_last_error_detail());
    expect_str(r, want);
}

/* A node registered by hand: an authenticated connection to the GCS and
 * RegisterNodeRequest (its raylet address is never dialled here: no
 * driver runs in this test). */
static int
fake_node(uint8_t id[28], int k)
{
    uint8_t tok[RT_TOKEN_LEN];
    char tpath[PATH_MAX];
    rt_token_path(NULL, tpath, sizeof(tpath));
    cr_assert_eq(rt_token_load(tpath, tok, NULL, 0), RAY_OK);
    int fd = dial(head);
    cr_assert_eq(rt_auth_client(fd, tok, "node", 5000, NULL, 0), RAY_OK);
    for (int i = 0; i < 28; i++)
        id[i] = (uint8_t)(k * 31 + i + 1);
    Ray__Rpc__NodeInfo ni = RAY__RPC__NODE_INFO__INIT;
    Ray__Rpc__Address a = RAY__RPC__ADDRESS__INIT;
    char ip[32];
    snprintf(ip, sizeof(ip), "127.0.1.%d", k + 1);
    a.ip = ip;
    a.port = 9;
    ni.node_id = (ProtobufCBinaryData){28, id};
    ni.raylet_address = &a;
    Ray__Rpc__RegisterNodeRequest q = RAY__RPC__REGISTER_NODE_REQUEST__INIT;
    q.node = &ni;
    ProtobufCMessage *m = NULL;
    cr_assert_eq(
        rt_net_call(fd, RAY__RPC__MESSAGE_TYPE__MSG_REGISTER_NODE_REQUEST,
                    &q.base, RAY__RPC__MESSAGE_TYPE__MSG_REGISTER_NODE_REPLY,
                    &m, 5000, NULL, 0),
        RAY_OK);
    rt_proto_free(m);
    return fd;
}

Test(cluster, the_node_table_grows_past_its_first_allocation)
{
    enum { N = 12 }; /* the table starts with room for 8 */
    int fd[N];
    uint8_t id[N][28];
    for (int k = 0; k < N; k++)
        fd[k] = fake_node(id[k], k);
    /* The first ones still heartbeat on their connections. */
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < N; k++) {
            Ray__Rpc__NodeHeartbeatRequest hb =
                RAY__RPC__NODE_HEARTBEAT_REQUEST__INIT;
            hb.node_id = (ProtobufCBinaryData){28, id[k]};
            cr_assert_eq(rt_frame_send(
                             fd[k],
                             RAY__RPC__MESSAGE_TYPE__MSG_NODE_HEARTBEAT_REQUEST,
                             &hb.base, 3000),
                         RAY_OK);
        }
    cr_assert_eq(alive_nodes(), 3 + N, "%s", out_text());
    close(fd[0]); /* its node goes the moment its connection does */
    int alive = wait_alive(2 + N, 20000);
    cr_assert_eq(alive, 2 + N, "%s", out_text());
    for (int k = 1; k < N; k++)
        close(fd[k]);
}

Test(cluster, an_actor_pinned_to_no_alive_node_is_refused)
{
    driver_up(1);
    ray_actor_opts o = {.node = "10.9.9.9"};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 0), RAY_ENOTFOUND);
    cr_assert(strstr(ray_last_error_detail(), "no alive node '10.9.9.9'"), "%s",
              ray_last_error_detail());
}

Test(cluster, a_token_file_others_can_read_is_refused)
{
    char tpath[PATH_MAX];
    rt_token_path(NULL, tpath, sizeof(tpath));
    cr_assert_eq(chmod(tpath, 0644), 0);
    cr_assert_neq(rayc("status", NULL), 0);
    cr_assert(strstr(out_text(), "readable by others"), "%s", out_text());
    cr_assert_eq(chmod(tpath, 0600), 0);
    cr_assert_eq(rayc("status", NULL), 0, "%s", out_text());
}

Test(cluster, a_blocking_node_runs_in_the_foreground_until_told_to_stop)
{
    char addr[160], td[PATH_MAX + 16];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    snprintf(td, sizeof(td), "--temp-dir=%s", tmp);
    const char *argv[] = {
        C.rayc,         "start", addr, "--block", "--node-ip-address=127.0.0.5",
        "--num-cpus=1", td,      NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, C.rayc, NULL, NULL, (char **)argv, environ),
                 0);
    int alive = wait_alive(4, 50000);
    cr_assert_eq(alive, 4, "%s", out_text());
    int st = -1;
    cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "--block returned");
    cr_assert_eq(kill(pid, SIGTERM), 0);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    alive = wait_alive(3, 20000);
    cr_assert_eq(alive, 3, "%s", out_text());
}

/* ---- names across drivers ---- */

/* In a child: a driver of its own on the cluster. */
static bool
child_driver_up(void)
{
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 1;
    c.address = head;
    return ray_init(&c) == RAY_OK;
}

static int
child_status(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* `rayc timeline` asks the connected drivers through the head and
 * merges what they recorded, their agents' included, into one file: each
 * driver's nodes as processes of their own. */
Test(cluster, rayc_timeline_gathers_what_the_drivers_recorded)
{
    cr_assert_eq(rayc("timeline", NULL), 1, "no driver: %s", out_text());
    cr_assert(strstr(out_text(), "no driver is connected"), "%s", out_text());
    enum { N = 15, M = 10 };
    int ready[2], go[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    pid_t d2 = fork();
    if (d2 == 0) { /* a second driver, recording calls on 127.0.0.2 */
        char b = 0;
        if (!child_driver_up() || ray_timeline_enable(true) != RAY_OK)
            _exit(10);
        ray_call_opts o2 = {.node = "127.0.0.2"};
        for (int i = 0; i < M; i++) {
            char *s = NULL;
            if (ray_get_str(tagged_remote_opts(&o2, i), &s, 60000) != RAY_OK)
                _exit(11);
            ray_free(s);
        }
        if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(12);
        ray_shutdown();
        _exit(0);
    }
    char b = 0;
    cr_assert_eq(read(ready[0], &b, 1), 1, "the second driver failed");
    driver_up(1);
    cr_assert_eq(ray_timeline_enable(true), RAY_OK);
    ray_call_opts o = {.node = "127.0.0.3"};
    ray_ref r[N];
    for (int i = 0; i < N; i++)
        r[i] = tagged_remote_opts(&o, i);
    for (int i = 0; i < N; i++) {
        char want[48];
        snprintf(want, sizeof(want), "127.0.0.3 %d", i);
        expect_str(r[i], want);
    }
    char path[PATH_MAX + 32], arg[PATH_MAX + 48];
    snprintf(path, sizeof(path), "%s/all.json", tmp);
    snprintf(arg, sizeof(arg), "--output=%s", path);
    int rc = rayc("timeline", arg, NULL);
    cr_assert_eq(write(go[1], "g", 1), 1);
    cr_assert_eq(child_status(d2), 0, "the second driver failed");
    cr_assert_eq(rc, 0, "%s", out_text());
    cr_assert(strstr(out_text(), "from 2 of 2 drivers"), "%s", out_text());
    size_t n;
    const char *text = slurp(path, &n);
    cr_assert(strstr(text, ": rayc node 127.0.0.3:") &&
                  strstr(text, ": rayc node 127.0.0.2:"),
              "%.3000s", text);
    cr_assert_eq(count_of(text, "\"name\":\"tagged\""), N + M, "%.3000s", text);
    /* The two drivers' processes apart: one's pids from 1001. */
    cr_assert(strstr(text, "\"pid\":1001,") && strstr(text, "\"pid\":1,"),
              "%.3000s", text);
    cr_assert_eq(text[n - 2], '}', "the file ends whole");
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

Test(cluster, a_detached_actor_outlives_its_driver_and_serves_the_next)
{
    pid_t d1 = fork();
    if (d1 == 0) { /* the first driver: makes it, uses it, leaves */
        if (!child_driver_up())
            _exit(10);
        ray_actor_opts o = {.name = "ledger", .detached = true};
        ray_actor c;
        int64_t v = 0;
        if (counter_create(&c, &o, 10) != RAY_OK)
            _exit(11);
        if (ray_get_int64(counter_add_remote(c, 5), &v, 60000) != RAY_OK ||
            v != 15)
            _exit(12);
        ray_actor_release(c); /* detached: it stays */
        ray_shutdown();
        _exit(0);
    }
    cr_assert_eq(child_status(d1), 0, "the first driver failed");
    driver_up(1);
    ray_actor c;
    cr_assert_eq(ray_actor_lookup("ledger", &c), RAY_OK, "%s",
                 ray_last_error_detail());
    char *s = NULL;
    cr_assert_eq(ray_get_str(counter_where_remote(c), &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    /* In an agent on the first driver's node, its state kept. */
    cr_assert_str_eq(s, "127.0.0.1 15");
    ray_free(s);
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(counter_add_remote(c, 1), &v, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(v, 16);
    cr_assert_eq(ray_actor_kill(c, true), RAY_OK);
    ray_actor_release(c);
    ray_actor again;
    cr_assert_eq(ray_actor_lookup("ledger", &again), RAY_ENOTFOUND);
    /* With no detached actor left, its agent ends. */
    bool ended = false;
    for (int k = 0; k < 600 && !ended; k++) {
        ended = node_log_has("127.0.0.1", "no detached actor lives");
        if (!ended)
            usleep(50000);
    }
    if (!ended) /* what the head's log says, for the failure */
        cr_log_error("stays: %d, attached: %d",
                     node_log_has("127.0.0.1", "detached actor stays"),
                     node_log_has("127.0.0.1", "attached to job"));
    cr_assert(ended, "the agent of the first driver did not end");
}

/* A detached actor whose driver released every handle of it lives on,
 * and that driver finds it again by name, its state kept; killed, the
 * name is gone. */
Test(cluster, a_driver_finds_its_own_detached_actor_after_releasing_it)
{
    driver_up(1);
    ray_actor_opts o = {.name = "kept", .detached = true};
    ray_actor c, again;
    int64_t v = 0;
    cr_assert_eq(counter_create(&c, &o, 10), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_get_int64(counter_add_remote(c, 5), &v, 60000), RAY_OK);
    ray_actor_release(c);
    cr_assert_eq(ray_actor_lookup("kept", &again), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_get_int64(counter_add_remote(again, 1), &v, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(v, 16, "its state was not kept");
    cr_assert_eq(ray_actor_kill(again, true), RAY_OK);
    ray_actor_release(again);
    cr_assert_eq(ray_actor_lookup("kept", &again), RAY_ENOTFOUND);
}

Test(cluster, a_named_actor_is_found_by_a_second_driver_while_its_own_lives)
{
    int ready[2], go[2];
    /* Close-on-exec: no worker started here holds `go` open. */
    cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
    pid_t d1 = fork();
    if (d1 == 0) { /* the first driver: makes it, stays until told */
        close(ready[0]);
        close(go[1]);
        if (!child_driver_up())
            _exit(10);
        ray_actor_opts o = {.name = "tally"};
        ray_actor c;
        char b = counter_create(&c, &o, 100) == RAY_OK ? 'r' : 'x';
        if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) < 0)
            _exit(11);
        ray_shutdown();
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    char b = 0;
    cr_assert_eq(read(ready[0], &b, 1), 1, "the first driver did not start");
    cr_assert_eq(b, 'r', "the first driver could not make its actor");
    close(ready[0]);
    driver_up(1);
    ray_actor t, dup;
    cr_assert_eq(ray_actor_lookup("tally", &t), RAY_OK, "%s",
                 ray_last_error_detail());
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(counter_add_remote(t, 1), &v, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(v, 101);
    ray_actor_opts o = {.name = "tally"};
    cr_assert_eq(counter_create(&dup, &o, 0), RAY_EEXISTS);
    o.get_if_exists = true;
    cr_assert_eq(counter_create(&dup, &o, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_get_int64(counter_add_remote(dup, 1), &v, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(v, 102);
    ray_actor_release(dup);
    /* Its driver leaves: the actor ends with it (not detached). */
    close(go[1]);
    cr_assert_eq(child_status(d1), 0, "the first driver failed");
    ray_err err = RAY_OK;
    for (int k = 0; k < 200 && err == RAY_OK; k++) {
        err = ray_get_int64(counter_add_remote(t, 1), &v, 60000);
        if (err == RAY_OK)
            usleep(50000);
    }
    cr_assert_eq(err, RAY_EACTOR_DIED, "%s", ray_last_error_detail());
    ray_actor_release(t);
    cr_assert_eq(ray_actor_lookup("tally", &t), RAY_ENOTFOUND);
}

/* ---- handles that travel ---- */

Test(cluster, a_task_on_one_node_calls_actors_on_others)
{
    driver_up(1);
    ray_actor_opts on2 = {.node = "127.0.0.2"}, named = {.name = "hub"};
    ray_actor a, b;
    cr_assert_eq(counter_create(&a, &on2, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(counter_create(&b, &named, 1000), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_call_opts at2 = {.node = "127.0.0.2"}, at3 = {.node = "127.0.0.3"};
    /* An actor on .2 from a task on .3. */
    expect_str(add_ones_at_remote_opts(&at3, a, 10), "127.0.0.3 10");
    /* The named one, in the agent on this machine, from .3. */
    expect_str(add_ones_at_remote_opts(&at3, b, 10), "127.0.0.3 1010");
    /* The actor on .2 from a task on .2 (its own agent). */
    expect_str(add_ones_at_remote_opts(&at2, a, 5), "127.0.0.2 15");
    /* A handle counts while the call it was passed to lives. */
    ray_ref r = add_ones_at_remote_opts(&at3, a, 1);
    ray_actor_release(a);
    expect_str(r, "127.0.0.3 16");
    ray_actor_release(b);
}

/* ---- strategies ---- */

Test(cluster, spread_takes_the_nodes_in_turn)
{
    driver_up(1);
    enum { N = 30 };
    ray_call_opts o = {.strategy = RAY_STRATEGY_SPREAD};
    ray_ref r[N];
    for (int i = 0; i < N; i++)
        r[i] = where_remote_opts(&o, 0);
    int here = 0, n2 = 0, n3 = 0;
    for (int i = 0; i < N; i++) {
        char *s = NULL;
        cr_assert_eq(ray_get_str(r[i], &s, 60000), RAY_OK, "%s",
                     ray_last_error_detail());
        here += !strcmp(s, "driver");
        n2 += !strcmp(s, "127.0.0.2");
        n3 += !strcmp(s, "127.0.0.3");
        ray_free(s);
        ray_ref_release(r[i]);
    }
    cr_assert(here == N / 3 && n2 == N / 3 && n3 == N / 3,
              "this node %d, 127.0.0.2 %d, 127.0.0.3 %d", here, n2, n3);
    /* Actors too: three, one on each node. */
    ray_actor_opts ao = {.strategy = RAY_STRATEGY_SPREAD};
    ray_actor a[3];
    bool seen_here = false, seen2 = false, seen3 = false;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(counter_create(&a[i], &ao, i), RAY_OK, "%s",
                     ray_last_error_detail());
    for (int i = 0; i < 3; i++) {
        char *s = NULL;
        cr_assert_eq(ray_get_str(counter_where_remote(a[i]), &s, 60000), RAY_OK,
                     "%s", ray_last_error_detail());
        seen_here |= !strncmp(s, "driver", 6);
        seen2 |= !strncmp(s, "127.0.0.2", 9);
        seen3 |= !strncmp(s, "127.0.0.3", 9);
        ray_free(s);
        ray_actor_release(a[i]);
    }
    cr_assert(seen_here && seen2 && seen3, "here %d, .2 %d, .3 %d", seen_here,
              seen2, seen3);
    o.strategy = 7;
    cr_assert_eq(where_remote_opts(&o, 0).id, 0, "an unknown strategy runs");
    cr_assert(strstr(ray_last_error_detail(), "strategy"), "%s",
              ray_last_error_detail());
}

Test(cluster, soft_node_affinity_falls_back_and_hard_fails)
{
    driver_up(1);
    ray_call_opts hard = {.node = "127.0.0.9"};
    cr_assert_eq(where_remote_opts(&hard, 0).id, 0,
                 "a call pinned to no alive node was accepted");
    cr_assert(strstr(ray_last_error_detail(), "no alive node"), "%s",
              ray_last_error_detail());
    ray_call_opts soft = {.node = "127.0.0.9", .node_soft = true};
    char *s = NULL;
    cr_assert_eq(ray_get_str(where_remote_opts(&soft, 0), &s, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    ray_free(s);
    /* A soft pin to an alive node that has room runs there. */
    soft.node = "127.0.0.3";
    expect_str(where_remote_opts(&soft, 0), "127.0.0.3");
    ray_actor_opts ao = {.node = "127.0.0.9", .node_soft = true};
    ray_actor a;
    cr_assert_eq(counter_create(&a, &ao, 1), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_actor_wait_ready(a, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_actor_release(a);
    ao.node_soft = false;
    cr_assert_eq(counter_create(&a, &ao, 1), RAY_ENOTFOUND);
}

/* ---- node identity ---- */

static char *
my_node(int64_t unused)
{
    (void)unused;
    char id[RAY_NODE_ID_SIZE];
    return strdup(ray_node_id(id) == RAY_OK ? id : ray_last_error_detail());
}
RAY_REMOTE(my_node, char *, int64_t);

static const ray_node_info *
node_at(const ray_node_info *v, size_t n, const char *ip)
{
    for (size_t i = 0; i < n; i++)
        if (!strncmp(v[i].address, ip, strlen(ip)) &&
            v[i].address[strlen(ip)] == ':')
            return &v[i];
    return NULL;
}

Test(cluster, nodes_are_listed_and_code_knows_its_own)
{
    char id[RAY_NODE_ID_SIZE];
    ray_node_info *v = NULL;
    size_t n = 0;
    cr_assert_eq(ray_node_id(id), RAY_ENOTFOUND, "outside a cluster");
    cr_assert_eq(ray_nodes(&v, &n), RAY_EINVAL, "outside a cluster");
    driver_up(1);
    cr_assert_eq(ray_nodes(&v, &n), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(n, 3);
    const ray_node_info *h = node_at(v, n, "127.0.0.1"),
                        *n2 = node_at(v, n, "127.0.0.2");
    cr_assert(h && n2);
    cr_assert(h->is_head && h->alive && !n2->is_head && n2->alive);
    cr_assert_eq(strlen(h->id), RAY_NODE_ID_SIZE - 1);
    cr_assert_eq(n2->num_cpus, 2);
    cr_assert(strstr(n2->resources, "gpu:1"), "%s", n2->resources);
    /* The driver runs on the head's machine; so do its own workers. */
    cr_assert_eq(ray_node_id(id), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_str_eq(id, h->id);
    ray_call_opts here = {.node = "127.0.0.1"}, there = {.node = "127.0.0.2"};
    expect_str(my_node_remote_opts(&here, 0), h->id);
    expect_str(my_node_remote_opts(&there, 0), n2->id);
    /* Named by a node id prefix (as rayc list nodes prints), this
     * machine's node too. */
    char p1[17], p2[17];
    snprintf(p1, sizeof(p1), "%.16s", h->id);
    snprintf(p2, sizeof(p2), "%.16s", n2->id);
    ray_call_opts by_id1 = {.node = p1}, by_id2 = {.node = p2};
    expect_str(my_node_remote_opts(&by_id1, 0), h->id);
    expect_str(my_node_remote_opts(&by_id2, 0), n2->id);
    ray_free(v);
}

/* ---- the head's dashboard ---- */

/* GET (or `method`) http://hostport/path: the status code, the body into
 * body[cap]; -1 when it cannot connect. */
static int
http(const char *method, const char *hostport, const char *path, char *body,
     size_t cap)
{
    int fd = dial(hostport);
    if (fd < 0)
        return -1;
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n\r\n",
                     method, path, hostport);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    static char resp[1 << 20];
    size_t k = 0;
    ssize_t r;
    while (k + 1 < sizeof(resp) &&
           (r = read(fd, resp + k, sizeof(resp) - 1 - k)) > 0)
        k += (size_t)r;
    close(fd);
    resp[k] = 0;
    int code = -1;
    sscanf(resp, "HTTP/1.%*d %d", &code);
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(body, cap, "%s", b ? b + 4 : "");
    return code;
}

static bool
dashboard_address(char *out, size_t len)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/dashboard_address", tmp);
    FILE *f = fopen(path, "r");
    bool ok = f && fgets(out, (int)len, f);
    if (f)
        fclose(f);
    out[strcspn(out, "\n")] = 0;
    return ok && *out;
}

Test(cluster, the_head_serves_metrics_its_status_and_a_page)
{
    char addr[128], *body = malloc(1 << 20);
    cr_assert(dashboard_address(addr, sizeof(addr)), "no dashboard_address");
    driver_up(1);
    ray_call_opts o = {.node = "127.0.0.2"};
    int64_t v = 0;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ray_get_int64(twice_slow_remote_opts(&o, i, 0), &v, 60000),
                     RAY_OK);
    /* The driver sends its metrics once a second. */
    bool seen = false;
    for (int k = 0; k < 100 && !seen; k++) {
        cr_assert_eq(http("GET", addr, "/metrics", body, 1 << 20), 200);
        const char *p = strstr(body, "rayc_tasks_finished_total{job=\"");
        p = p ? strstr(p, "result=\"ok\"} ") : NULL;
        seen = p && atoi(p + strlen("result=\"ok\"} ")) >= 5;
        if (!seen)
            usleep(100000);
    }
    cr_assert(seen, "no driver's finished tasks in:\n%s", body);
    cr_assert_eq(count_of(body, "rayc_cluster_node_alive{node="), 3, "%s",
                 body);
    cr_assert_eq(count_of(body, "# TYPE rayc_tasks_finished_total counter"), 1);
    cr_assert(strstr(body, "rayc_cluster_drivers 1"), "%s", body);
    cr_assert_eq(http("GET", addr, "/api/status", body, 1 << 20), 200);
    cr_assert_eq(count_of(body, "\"state\":\"ALIVE\""), 3, "%s", body);
    cr_assert(strstr(body, "\"FINISHED\":"), "%s", body);
    cr_assert_eq(http("GET", addr, "/", body, 1 << 20), 200);
    cr_assert(strstr(body, "<title>rayc dashboard</title>"));
    cr_assert_eq(http("GET", addr, "/nothing", body, 1 << 20), 404);
    cr_assert_eq(http("POST", addr, "/metrics", body, 1 << 20), 405);
    free(body);
}

/* The page in a real browser: what it shows once its script ran. */
Test(cluster, the_dashboard_page_shows_the_nodes_in_a_browser)
{
    const char *browsers[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};
    const char *b = NULL;
    for (size_t i = 0; i < 2 && !b; i++)
        if (access(browsers[i], X_OK) == 0)
            b = browsers[i];
    if (!b)
        cr_skip_test("no chromium here (scripts/setup --test installs it)");
    char addr[128], cmd[4 * PATH_MAX + 1024], png[PATH_MAX + 32];
    cr_assert(dashboard_address(addr, sizeof(addr)));
    /* A driver that ran tasks, as the head learns within a second. */
    driver_up(1);
    ray_call_opts o = {.node = "127.0.0.3"};
    int64_t v = 0;
    for (int i = 0; i < 7; i++)
        cr_assert_eq(ray_get_int64(twice_slow_remote_opts(&o, i, 0), &v, 60000),
                     RAY_OK);
    static char status[1 << 20];
    bool seen = false;
    for (int k = 0; k < 100 && !seen; k++) {
        seen =
            http("GET", addr, "/api/status", status, sizeof(status)) == 200 &&
            strstr(status, "\"FINISHED\":7");
        if (!seen)
            usleep(100000);
    }
    cr_assert(seen, "%s", status);
    snprintf(png, sizeof(png), "%s/dashboard.png", tmp);
    const char *flags = "--headless --no-sandbox --disable-gpu "
                        "--disable-dev-shm-usage --no-first-run "
                        "--virtual-time-budget=5000 --window-size=1000,700";
    snprintf(cmd, sizeof(cmd),
             "HOME=%s timeout 60 %s %s --dump-dom http://%s/ > %s/dom.html "
             "2>/dev/null && HOME=%s timeout 60 %s %s --screenshot=%s "
             "http://%s/ >/dev/null 2>&1",
             tmp, b, flags, addr, tmp, tmp, b, flags, png, addr);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    char path[PATH_MAX + 32], dom[65536] = "";
    snprintf(path, sizeof(path), "%s/dom.html", tmp);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    size_t n = fread(dom, 1, sizeof(dom) - 1, f);
    fclose(f);
    dom[n] = 0;
    cr_assert(strstr(dom, "3 of 3 nodes alive, 1 driver,"),
              "the page says:\n%s", dom);
    cr_assert(strstr(dom, "test_cluster ("), "the driver's program: %s", dom);
    cr_assert(strstr(dom, "<th>FINISHED</th><td>7</td>"), "%s", dom);
    cr_assert(strstr(dom, "127.0.0.2:") && strstr(dom, "127.0.0.3:"), "%s",
              dom);
    cr_assert(strstr(dom, "(head)"), "%s", dom);
    /* The screenshot: a PNG of the window's size. */
    uint8_t h[24];
    f = fopen(png, "rb");
    cr_assert(f, "no screenshot");
    cr_assert_eq(fread(h, 1, 24, f), 24);
    fclose(f);
    cr_assert(!memcmp(h, "\x89PNG", 4));
    uint32_t w = (uint32_t)h[16] << 24 | h[17] << 16 | h[18] << 8 | h[19];
    uint32_t ht = (uint32_t)h[20] << 24 | h[21] << 16 | h[22] << 8 | h[23];
    cr_assert(w == 1000 && ht == 700, "screenshot %ux%u", w, ht);
}

/* ---- rayc list ---- */

Test(cluster, rayc_list_shows_nodes_actors_and_jobs)
{
    cr_assert_eq(
        rayc("list", "nodes", "--filter", "state=ALIVE", "--format=json", NULL),
        0, "%s", out_text());
    cr_assert_eq(count_of(out_text(), "\"state\":\"ALIVE\""), 3, "%s",
                 out_text());
    cr_assert_eq(rayc("list", "nodes", "--filter=is_head=true", NULL), 0);
    cr_assert_eq(count_of(out_text(), "ALIVE"), 1, "%s", out_text());
    cr_assert(strstr(out_text(), "127.0.0.1:"), "%s", out_text());
    driver_up(1);
    ray_actor_opts o = {.name = "keeper", .detached = true};
    ray_actor a;
    cr_assert_eq(counter_create(&a, &o, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_actor_opts o2 = {.node = "127.0.0.2"}; /* unnamed, elsewhere */
    ray_actor b;
    cr_assert_eq(counter_create(&b, &o2, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    int64_t one = 0, pid_a = 0, pid_b = 0; /* their processes run now */
    cr_assert_eq(ray_get_int64(counter_add_remote(b, 1), &one, 60000), RAY_OK);
    cr_assert_eq(ray_get_int64(counter_pid_remote(a), &pid_a, 60000), RAY_OK);
    cr_assert_eq(ray_get_int64(counter_pid_remote(b), &pid_b, 60000), RAY_OK);
    cr_assert_eq(rayc("list", "actors", "--format=json", NULL), 0, "%s",
                 out_text());
    cr_assert(strstr(out_text(), "\"state\":\"ALIVE\",\"name\":\"keeper\""),
              "%s", out_text());
    cr_assert(strstr(out_text(), "\"detached\":true"), "%s", out_text());
    /* Every actor of the driver, named or not, each with its node. */
    cr_assert_eq(count_of(out_text(), "\"class_name\":\"counter\""), 2, "%s",
                 out_text());
    cr_assert(strstr(out_text(), "\"name\":\"-\""), "%s", out_text());
    /* Each with its process's pid, asked of its agent: the detached one
     * in this machine's, the other on .2. */
    char want[64];
    snprintf(want, sizeof(want), "\"pid\":%lld,", (long long)pid_a);
    cr_assert(strstr(out_text(), want), "no %s in %s", want, out_text());
    snprintf(want, sizeof(want), "\"pid\":%lld,", (long long)pid_b);
    cr_assert(strstr(out_text(), want), "no %s in %s", want, out_text());
    ray_actor_release(b);
    cr_assert_eq(rayc("list", "jobs", NULL), 0, "%s", out_text());
    cr_assert(strstr(out_text(), "test_cluster"), "%s", out_text());
    cr_assert(strstr(out_text(), "RUNNING"), "%s", out_text());
    cr_assert_eq(ray_actor_kill(a, true), RAY_OK);
    ray_actor_release(a);
    cr_assert_eq(rayc("list", "actors", "--filter", "name=keeper", NULL), 0);
    cr_assert(!strstr(out_text(), "keeper"), "%s", out_text());
    /* What there is nothing of, and a column it has not: said so. */
    cr_assert_eq(rayc("list", "bananas", NULL), 2);
    cr_assert(
        strstr(out_text(),
               "nodes, actors, jobs, tasks, objects and placement-groups"),
        "%s", out_text());
    cr_assert_eq(rayc("list", "nodes", "--filter", "colour=red", NULL), 2);
    cr_assert(strstr(out_text(), "no column 'colour'"), "%s", out_text());
    cr_assert_eq(rayc("list", "actors", "--filter", "colour=red", NULL), 2);
    cr_assert(strstr(out_text(), "no column 'colour'"), "%s", out_text());
}

/* The name of a detached actor is in the head's store: a head that is
 * killed and started again still knows it. */
static void
name_outlives_a_restart(const char *storage)
{
    pid_t d1 = fork();
    if (d1 == 0) {
        if (!child_driver_up())
            _exit(10);
        ray_actor_opts o = {
            .name = "vault", .detached = true, .node = "127.0.0.2"};
        ray_actor c;
        int64_t v = 0;
        if (counter_create(&c, &o, 10) != RAY_OK ||
            ray_get_int64(counter_add_remote(c, 5), &v, 60000) != RAY_OK ||
            v != 15)
            _exit(11);
        ray_actor_release(c);
        ray_shutdown();
        _exit(0);
    }
    cr_assert_eq(child_status(d1), 0, "the first driver failed");
    restart_head_with(storage);
    driver_up(1);
    ray_actor c;
    cr_assert_eq(ray_actor_lookup("vault", &c), RAY_OK, "%s",
                 ray_last_error_detail());
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(counter_add_remote(c, 1), &v, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(v, 16);
    cr_assert_eq(ray_actor_kill(c, true), RAY_OK);
    ray_actor_release(c);
}

/* A name that goes with its driver's connection is not in the head's
 * store: the driver puts it again once it reaches the new head, and a
 * second driver finds the actor, its state kept. */
Test(cluster, a_named_actor_is_found_again_after_a_head_restart)
{
    int ready[2], go[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    pid_t d1 = fork();
    if (d1 == 0) { /* the first driver: makes the actor, keeps it */
        char b = 0;
        ray_actor_opts o = {.name = "phoenix", .node = "127.0.0.2"};
        ray_actor c;
        int64_t v = 0;
        if (!child_driver_up() || counter_create(&c, &o, 100) != RAY_OK ||
            ray_get_int64(counter_add_remote(c, 1), &v, 60000) != RAY_OK ||
            v != 101)
            _exit(10);
        if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(11);
        if (ray_get_int64(counter_add_remote(c, 1), &v, 60000) != RAY_OK ||
            v != 103)
            _exit(12);
        ray_actor_release(c);
        ray_shutdown();
        _exit(0);
    }
    char b = 0;
    cr_assert_eq(read(ready[0], &b, 1), 1, "the first driver failed");
    restart_head();
    driver_up(1);
    ray_actor f = RAY_ACTOR_NULL;
    /* Until the first driver reached the new head (it asks twice a
     * second): bounded. */
    for (int k = 0; k < 100 && ray_actor_lookup("phoenix", &f) != RAY_OK; k++)
        usleep(100000);
    cr_assert_neq(f.id, 0, "%s", ray_last_error_detail());
    int64_t w = 0;
    cr_assert_eq(ray_get_int64(counter_add_remote(f, 1), &w, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(w, 102, "the state was kept");
    ray_actor_release(f);
    cr_assert_eq(write(go[1], "g", 1), 1);
    int cs = child_status(d1);
    cr_assert_eq(cs, 0, "the first driver failed (%d)", cs);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

Test(cluster, a_detached_actor_s_name_outlives_a_head_restart)
{
    name_outlives_a_restart(NULL); /* SQLite in the temp dir */
}

/* The same with the head's tables in a real Redis (started here). */
Test(cluster, a_detached_actor_s_name_outlives_a_head_restart_with_redis)
{
    const char *bin = "/usr/bin/redis-server";
    if (access(bin, X_OK) != 0)
        cr_skip_test("no redis-server here (scripts/setup --test installs "
                     "it)");
    /* A free port on loopback: bound, then let go for the server. */
    int port = 0, fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    cr_assert_gt(port, 0);
    char p[16], spec[96], dir[PATH_MAX + 8];
    snprintf(p, sizeof(p), "%d", port);
    snprintf(dir, sizeof(dir), "%s", tmp);
    char *argv[] = {(char *)bin, "--port", p,   "--bind",
                    "127.0.0.1", "--save", "",  "--appendonly",
                    "no",        "--dir",  dir, NULL};
    cr_assert_eq(posix_spawn(&redis_pid, bin, NULL, NULL, argv, environ), 0);
    snprintf(spec, sizeof(spec), "--storage=redis://127.0.0.1:%d/t%d", port,
             (int)getpid());
    restart_head_with(spec);       /* the head's tables now in Redis */
    name_outlives_a_restart(spec); /* the fixture stops the server */
}

/* The head is only the control plane: while it is down, calls and
 * actor calls on the nodes a driver already uses go on. */
Test(cluster, calls_go_on_while_the_head_is_down)
{
    driver_up(1);
    ray_actor_opts ao = {.node = "127.0.0.3"};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &ao, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    pid_t hp = daemon_pid("head");
    cr_assert_gt(hp, 0);
    cr_assert_eq(kill(hp, SIGKILL), 0);
    ray_call_opts o = {.node = "127.0.0.2"};
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(ray_get_int64(twice_slow_remote_opts(&o, i, 0), &v, 60000),
                     RAY_OK, "%s", ray_last_error_detail());
        cr_assert_eq(v, 2 * i);
        cr_assert_eq(ray_get_int64(counter_add_remote(c, 1), &v, 60000), RAY_OK,
                     "%s", ray_last_error_detail());
        cr_assert_eq(v, i + 1);
    }
    ray_actor_release(c);
}

/* ---- rayc logs ---- */

/* One line of `rayc logs`: "ID16  RAYLET  FILE  SIZE". */
typedef struct log_row {
    char id[17], addr[96], file[256];
    unsigned long long size;
} log_row;

/* The rows of what `rayc logs` printed last; how many (at most max). */
static int
log_rows(log_row *rows, int max)
{
    int n = 0;
    const char *l = out_text();
    while (*l && n < max) {
        size_t len = strcspn(l, "\n");
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)len, l);
        if (sscanf(line, "%16s %95s %255s %llu", rows[n].id, rows[n].addr,
                   rows[n].file, &rows[n].size) == 4)
            n++;
        l += len + (l[len] == '\n');
    }
    return n;
}

/* The row `rayc logs` lists for the raylet at `ip` with a file whose
 * name starts with `prefix`. */
static log_row
listed(const char *ip, const char *prefix)
{
    cr_assert_eq(rayc("logs", NULL), 0, "%s", out_text());
    log_row rows[64];
    int n = log_rows(rows, 64);
    size_t il = strlen(ip);
    for (int i = 0; i < n; i++)
        if (!strncmp(rows[i].addr, ip, il) && rows[i].addr[il] == ':' &&
            !strncmp(rows[i].file, prefix, strlen(prefix)))
            return rows[i];
    cr_assert_fail("no %s* listed for %s:\n%s", prefix, ip, out_text());
    return rows[0];
}

/* Every line of `part` is a line of `whole`. */
static bool
lines_within(const char *part, const char *whole)
{
    while (*part) {
        size_t len = strcspn(part, "\n");
        char line[2048];
        snprintf(line, sizeof(line), "%.*s\n", (int)len, part);
        if (!strstr(whole, line))
            return false;
        part += len + (part[len] == '\n');
    }
    return true;
}

/* Each alive node lists its own files, and only those: each file's name
 * carries the address of the raylet that lists it. */
Test(cluster, rayc_logs_lists_each_node_s_own_files)
{
    cr_assert_eq(rayc("logs", NULL), 0, "%s", out_text());
    log_row rows[64];
    int n = log_rows(rows, 64);
    bool seen[3] = {false, false, false};
    const char *kinds[3] = {"head-127.0.0.1-", "node-127.0.0.2-",
                            "node-127.0.0.3-"};
    for (int i = 0; i < n; i++) {
        char tag[80];
        snprintf(tag, sizeof(tag), "-%.*s-", (int)strcspn(rows[i].addr, ":"),
                 rows[i].addr);
        cr_assert(strstr(rows[i].file, tag), "%s listed by %s", rows[i].file,
                  rows[i].addr);
        for (int k = 0; k < 3; k++)
            if (!strncmp(rows[i].file, kinds[k], strlen(kinds[k]))) {
                seen[k] = true;
                cr_assert_gt(rows[i].size, 0, "%s", rows[i].file);
            }
    }
    cr_assert(seen[0] && seen[1] && seen[2], "%s", out_text());
}

/* What a worker on another node printed is in its job's log there, and
 * `rayc logs --pid` finds its lines on whichever node it is. */
Test(cluster, rayc_logs_pid_shows_what_a_worker_printed)
{
    driver_up(1);
    ray_call_opts o = {.node = "127.0.0.3"};
    int64_t pid = 0;
    cr_assert_eq(ray_get_int64(say_pid_remote_opts(&o, 4242), &pid, 60000),
                 RAY_OK, "%s", ray_last_error_detail());
    char arg[48];
    snprintf(arg, sizeof(arg), "--pid=%lld", (long long)pid);
    bool found = false;
    for (int i = 0; i < 50 && !found; i++) { /* output flows on its own */
        found = rayc("logs", arg, NULL) == 0 && strstr(out_text(), "said 4242");
        if (!found) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
    }
    cr_assert(found, "%s", out_text());
    char want[48];
    snprintf(want, sizeof(want), "(pid=%lld) said 4242", (long long)pid);
    cr_assert(strstr(out_text(), want), "%s", out_text());
    cr_assert_eq(rayc("logs", "--pid=1", NULL), 1, "%s", out_text());
    cr_assert(strstr(out_text(), "no output of a worker with pid 1"), "%s",
              out_text());
}

Test(cluster, rayc_logs_tails_a_node_s_log_by_ip_id_or_file)
{
    static char all[16384], five[16384];
    cr_assert_eq(rayc("logs", "--node=127.0.0.2", "--tail=1000", NULL), 0, "%s",
                 out_text());
    snprintf(all, sizeof(all), "%s", out_text());
    cr_assert(strstr(all, "listening on 127.0.0.2:") &&
                  strstr(all, "registered with the GCS"),
              "%s", all);
    cr_assert(!strstr(all, "127.0.0.3"), "another node's lines: %s", all);
    cr_assert_eq(rayc("logs", "--node=127.0.0.2", "--tail=5", NULL), 0, "%s",
                 out_text());
    snprintf(five, sizeof(five), "%s", out_text());
    int lines = count_of(five, "\n");
    cr_assert(lines >= 1 && lines <= 5, "%d lines:\n%s", lines, five);
    cr_assert(lines_within(five, all), "not that log's lines:\n%s", five);
    /* By an id prefix: the raylet's lines name its id. */
    log_row r = listed("127.0.0.2", "node-127.0.0.2-");
    char arg[128];
    snprintf(arg, sizeof(arg), "--node=%.8s", r.id);
    cr_assert_eq(rayc("logs", arg, NULL), 0, "%s", out_text());
    cr_assert(strstr(out_text(), "listening on 127.0.0.2:"), "%s", out_text());
    cr_assert(strstr(out_text(), r.id), "%s", out_text());
    /* A file named as listed, the node by IP:PORT. */
    snprintf(arg, sizeof(arg), "--node=%s", r.addr);
    cr_assert_eq(rayc("logs", arg, r.file, "--tail=2", NULL), 0, "%s",
                 out_text());
    lines = count_of(out_text(), "\n");
    cr_assert(lines >= 1 && lines <= 2, "%d lines:\n%s", lines, out_text());
    cr_assert(lines_within(out_text(), all), "%s", out_text());
}

/* Only the node's own log files, by base name: no path, no other file of
 * the temp dir (the token is there in this test), no other node's log. */
Test(cluster, rayc_logs_refuses_names_outside_the_node_s_logs)
{
    char tok[128] = "", path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/token", tmp);
    FILE *f = fopen(path, "r");
    cr_assert(f && fgets(tok, sizeof(tok), f));
    fclose(f);
    tok[strcspn(tok, "\n")] = 0;
    log_row other = listed("127.0.0.1", "head-127.0.0.1-");
    const char *bad[] = {"../token", "token", "/etc/passwd", ".hidden",
                         other.file};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(rayc("logs", "--node=127.0.0.2", bad[i], NULL), 1,
                     "%s: %s", bad[i], out_text());
        char want[300];
        snprintf(want, sizeof(want), "'%s' is not one of this node's log files",
                 bad[i]);
        cr_assert(strstr(out_text(), want), "%s", out_text());
        cr_assert(!strstr(out_text(), tok), "the token leaked");
    }
    /* The raylet goes on serving, logs and calls. */
    cr_assert_eq(rayc("logs", "--node=127.0.0.2", "--tail=1", NULL), 0, "%s",
                 out_text());
    driver_up(1);
    ray_call_opts o = {.resources = "gpu:1"};
    expect_str(where_remote_opts(&o, 1), "127.0.0.2");
}

Test(cluster, rayc_logs_names_an_unknown_or_dead_node)
{
    cr_assert_eq(rayc("logs", "--node=127.0.0.9", NULL), 1, "%s", out_text());
    cr_assert(strstr(out_text(), "no node 127.0.0.9 in the cluster"), "%s",
              out_text());
    cr_assert_eq(rayc("logs", "--node=0000ffff0000", NULL), 1, "%s",
                 out_text());
    cr_assert(strstr(out_text(), "no node 0000ffff0000"), "%s", out_text());
    /* Bad usage: not an id, an IP or IP:PORT; a file of no node. */
    cr_assert_eq(rayc("logs", "--node=zz", NULL), 2, "%s", out_text());
    cr_assert(strstr(out_text(), "give a node id prefix"), "%s", out_text());
    cr_assert_eq(rayc("logs", "some.log", NULL), 2, "%s", out_text());
    cr_assert_eq(rayc("logs", "--node=127.0.0.2", "--tail=0", NULL), 2, "%s",
                 out_text());
    /* A dead node: said so; the listing goes on without it. */
    pid_t victim = daemon_pid("127.0.0.3");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    cr_assert_eq(wait_alive(2, 50000), 2, "%s", out_text());
    cr_assert_eq(rayc("logs", "--node=127.0.0.3", NULL), 1, "%s", out_text());
    cr_assert(strstr(out_text(), "is dead"), "%s", out_text());
    cr_assert_eq(rayc("logs", NULL), 0, "%s", out_text());
    cr_assert(strstr(out_text(), "node-127.0.0.2-") &&
                  !strstr(out_text(), "node-127.0.0.3-"),
              "%s", out_text());
}

/* The rows of `rayc list KIND` (the table's lines after its header). */
static int
list_rows(const char *kind, const char *filter)
{
    char f[96];
    snprintf(f, sizeof(f), "--filter=%s", filter);
    cr_assert_eq(rayc("list", kind, f, NULL), 0, "%s", out_text());
    int lines = 0;
    for (const char *p = out_text(); (p = strchr(p, '\n')); p++)
        lines++;
    return lines - 1 - (strstr(out_text(), "rayc list") ? 1 : 0);
}

/* `rayc list tasks|objects` asks the drivers through the head: each of
 * a driver's live tasks in its state (waiting for an argument, queued,
 * running here, sent to another node), its objects with their size and
 * where the value is. */
Test(cluster, rayc_list_tasks_and_objects_asks_the_drivers)
{
    cr_assert_eq(rayc("list", "tasks", NULL), 0, "%s", out_text());
    cr_assert(strstr(out_text(), "no driver is connected") &&
                  strstr(out_text(), "task_id"),
              "%s", out_text());
    driver_up(1);
    int64_t k = (int64_t)getpid() * 10;
    char path[2][64];
    for (int i = 0; i < 2; i++)
        snprintf(path[i], sizeof(path[i]), "/tmp/rayc-gate-%lld",
                 (long long)(k + i));
    ray_call_opts here = {.node = "127.0.0.1"}, two = {.node = "127.0.0.2"};
    ray_ref running = gate_remote_opts(&here, k);
    ray_ref away = gate_remote_opts(&two, k + 1);
    ray_ref queued = gate_remote_opts(&here, k);
    ray_ref waits = RAY_CALL(say, running);
    static uint8_t big[1 << 20];
    memset(big, 7, sizeof(big));
    ray_ref put = RAY_REF_NULL;
    cr_assert_eq(ray_put_bytes(big, sizeof(big), &put), RAY_OK);
    cr_assert(running.id && away.id && queued.id && waits.id && put.id, "%s",
              ray_last_error_detail());
    /* RUNNING once the worker has it: asked again, boundedly. */
    int run = 0;
    for (int i = 0; i < 50 && run != 1; i++)
        run = list_rows("tasks", "state=RUNNING");
    cr_assert_eq(run, 1, "%s", out_text());
    cr_assert(strstr(out_text(), "gate") && strstr(out_text(), "127.0.0.1:"),
              "%s", out_text());
    cr_assert_eq(list_rows("tasks", "state=PENDING_ARGS_AVAIL"), 1, "%s",
                 out_text());
    cr_assert(strstr(out_text(), "say"), "%s", out_text());
    /* The second call here is queued, or already in its worker's ring
     * (SUBMITTED_TO_WORKER, as the call sent to node 2 is). */
    int queued_rows = list_rows("tasks", "state=PENDING_NODE_ASSIGNMENT");
    cr_assert_eq(queued_rows + list_rows("tasks", "state=SUBMITTED_TO_WORKER"),
                 2, "%s", out_text());
    cr_assert(strstr(out_text(), "gate"), "%s", out_text());
    cr_assert_eq(rayc("list", "tasks", "--format=json", NULL), 0, "%s",
                 out_text());
    cr_assert(strstr(out_text(), "\"worker_pid\":") &&
                  count_of(out_text(), "\"task_id\":") == 4,
              "%s", out_text());
    cr_assert_eq(rayc("list", "objects", "--format=json", NULL), 0, "%s",
                 out_text());
    cr_assert(strstr(out_text(), "\"size\":1048576,\"location\":"
                                 "\"object_store\""),
              "%s", out_text());
    cr_assert_eq(list_rows("objects", "state=PENDING"), 4, "%s", out_text());
    /* rayc status sums what the drivers report (once a second). */
    bool stored = false;
    for (int i = 0; i < 50 && !stored; i++) {
        cr_assert_eq(rayc("status", NULL), 0, "%s", out_text());
        stored = strstr(out_text(), "object store: 1.0 MiB in 1 objects");
        if (!stored) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
    }
    cr_assert(stored && strstr(out_text(), "waiting for arguments"), "%s",
              out_text());
    cr_assert_eq(rayc("list", "tasks", "--filter=colour=red", NULL), 2);
    cr_assert(strstr(out_text(), "no column 'colour'"), "%s", out_text());
    /* Done: nothing live is listed. */
    for (int i = 0; i < 2; i++)
        close(open(path[i], O_CREAT | O_WRONLY, 0600));
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(waits, &v, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_get_int64(away, &v, 60000), RAY_OK);
    cr_assert_eq(ray_get_int64(queued, &v, 60000), RAY_OK);
    for (int i = 0; i < 2; i++)
        unlink(path[i]);
    cr_assert_eq(rayc("list", "tasks", NULL), 0);
    cr_assert_eq(count_of(out_text(), "\n"), 1, "only the header: %s",
                 out_text());
    ray_ref_release(running);
    ray_ref_release(away);
    ray_ref_release(queued);
    ray_ref_release(waits);
    ray_ref_release(put);
}

/* ---- placement groups ---- */

/* Where bundle b of pg runs a call: "driver" or the node's IP (owned). */
static char *
where_in(ray_pg pg, int32_t b)
{
    ray_call_opts o = {.pg = pg, .pg_bundle = b};
    ray_ref r = where_remote_opts(&o, 0);
    cr_assert_neq(r.id, 0, "%s", ray_last_error_detail());
    char *s = NULL;
    cr_assert_eq(ray_get_str(r, &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref_release(r);
    return s;
}

Test(cluster, placement_groups_spread_pack_and_follow_resources)
{
    driver_up(2);
    ray_bundle one[3] = {{.num_cpus = 1}, {.num_cpus = 1}, {.num_cpus = 1}};
    ray_pg sp;
    cr_assert_eq(ray_pg_create(one, 3, RAY_PG_STRICT_SPREAD, "sp", &sp), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(ray_pg_wait(sp, 60000), RAY_OK, "%s", ray_last_error_detail());
    char *w[3];
    for (int b = 0; b < 3; b++)
        w[b] = where_in(sp, b);
    cr_assert(strcmp(w[0], w[1]) && strcmp(w[1], w[2]) && strcmp(w[0], w[2]),
              "STRICT_SPREAD on %s, %s, %s", w[0], w[1], w[2]);
    for (int b = 0; b < 3; b++)
        ray_free(w[b]);
    /* A fourth bundle has no node of its own: never. */
    ray_bundle four[4] = {
        {.num_cpus = 1}, {.num_cpus = 1}, {.num_cpus = 1}, {.num_cpus = 1}};
    ray_pg bad;
    cr_assert_eq(ray_pg_create(four, 4, RAY_PG_STRICT_SPREAD, NULL, &bad),
                 RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "127.0.0.3") &&
                  strstr(ray_last_error_detail(), "STRICT_SPREAD"),
              "%s", ray_last_error_detail());
    cr_assert_eq(ray_pg_remove(sp), RAY_OK);
    /* STRICT_PACK: one node for both. */
    ray_pg pk;
    cr_assert_eq(ray_pg_create(one, 2, RAY_PG_STRICT_PACK, NULL, &pk), RAY_OK);
    cr_assert_eq(ray_pg_wait(pk, 60000), RAY_OK, "%s", ray_last_error_detail());
    char *a = where_in(pk, 0), *b = where_in(pk, 1);
    cr_assert_str_eq(a, b, "STRICT_PACK split");
    ray_free(a);
    ray_free(b);
    cr_assert_eq(ray_pg_remove(pk), RAY_OK);
    /* A bundle's resources choose its node: only .2 has a gpu. */
    ray_bundle g = {.num_cpus = 1, .resources = "gpu:1"};
    ray_pg gp;
    cr_assert_eq(ray_pg_create(&g, 1, RAY_PG_PACK, NULL, &gp), RAY_OK);
    cr_assert_eq(ray_pg_wait(gp, 60000), RAY_OK, "%s", ray_last_error_detail());
    char *gw = where_in(gp, 0);
    cr_assert_str_eq(gw, "127.0.0.2");
    ray_free(gw);
    /* An actor in it lives there, and dies with the group. */
    ray_actor_opts ao = {.num_cpus = 1, .pg = gp};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &ao, 5), RAY_OK, "%s",
                 ray_last_error_detail());
    char *cw = NULL;
    cr_assert_eq(ray_get_str(counter_where_remote(c), &cw, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_str_eq(cw, "127.0.0.2 5");
    ray_free(cw);
    cr_assert_eq(ray_pg_remove(gp), RAY_OK);
    ray_err e = RAY_OK;
    for (int i = 0; i < 600 && e == RAY_OK; i++) { /* the removal travels */
        cw = NULL;
        e = ray_get_str(counter_where_remote(c), &cw, 60000);
        ray_free(cw);
    }
    cr_assert_eq(e, RAY_EACTOR_DIED, "%s", ray_last_error_detail());
    ray_actor_release(c);
}

Test(cluster, a_call_in_a_pending_placement_group_waits_for_it)
{
    driver_up(2);
    /* Every CPU of the three nodes: 2 here, 2 on .2, 2 on .3. */
    ray_bundle two[3] = {{.num_cpus = 2}, {.num_cpus = 2}, {.num_cpus = 2}};
    ray_pg all;
    cr_assert_eq(ray_pg_create(two, 3, RAY_PG_STRICT_SPREAD, NULL, &all),
                 RAY_OK);
    cr_assert_eq(ray_pg_wait(all, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_bundle one = {.num_cpus = 1};
    ray_pg later;
    cr_assert_eq(ray_pg_create(&one, 1, RAY_PG_PACK, NULL, &later), RAY_OK);
    int st = -1;
    cr_assert_eq(ray_pg_state(later, &st), RAY_OK);
    cr_assert_eq(st, RAY_PG_PENDING);
    ray_call_opts in = {.pg = later};
    ray_ref r = where_remote_opts(&in, 0);
    cr_assert_neq(r.id, 0, "%s", ray_last_error_detail());
    size_t idx, ready = 0;
    cr_assert_eq(ray_wait(&r, 1, 1, 300, &idx, &ready), RAY_OK);
    cr_assert_eq(ready, 0, "a call of a pending group ran");
    cr_assert_eq(ray_pg_wait(later, 200), RAY_ETIMEDOUT);
    ray_actor_opts ao = {.pg = later, .name = "in-a-pending-group"};
    ray_actor c; /* named, it waits too */
    cr_assert_eq(counter_create(&c, &ao, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref cr = counter_add_remote(c, 4);
    cr_assert_eq(ray_pg_remove(all), RAY_OK);
    cr_assert_eq(ray_pg_wait(later, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    char *s = NULL;
    cr_assert_eq(ray_get_str(r, &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_free(s);
    ray_ref_release(r);
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(cr, &v, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 4);
    ray_ref_release(cr);
    ray_actor_release(c);
    /* Removed: calls naming it fail at once. */
    cr_assert_eq(ray_pg_remove(later), RAY_OK);
    cr_assert_eq(where_remote_opts(&in, 0).id, 0);
    cr_assert(strstr(ray_last_error_detail(), "removed"), "%s",
              ray_last_error_detail());
    /* A call still waiting for its group at shutdown goes with the
     * runtime: the next session lists none of it. */
    cr_assert_eq(ray_pg_create(two, 3, RAY_PG_STRICT_SPREAD, NULL, &all),
                 RAY_OK);
    cr_assert_eq(ray_pg_wait(all, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_pg never;
    cr_assert_eq(ray_pg_create(&one, 1, RAY_PG_PACK, NULL, &never), RAY_OK);
    ray_call_opts in_never = {.pg = never};
    cr_assert_neq(where_remote_opts(&in_never, 0).id, 0, "%s",
                  ray_last_error_detail());
    cr_assert_eq(list_rows("tasks", "state=PENDING_ARGS_AVAIL"), 1, "%s",
                 out_text());
    ray_shutdown();
    driver_up(1);
    cr_assert_eq(list_rows("tasks", "state=PENDING_ARGS_AVAIL"), 0,
                 "a call of the last session: %s", out_text());
}

/* A second driver process, forked before this one's ray_init: it runs
 * `child(ready, go)`, which says it is up (a byte on ready), then does a
 * step each time it is told (a byte on go), answering with a byte. */
typedef struct second_driver {
    int ready[2], go[2];
    pid_t pid;
} second_driver;

static void
second_driver_up(second_driver *d, void (*child)(int ready, int go))
{
    cr_assert_eq(pipe2(d->ready, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(d->go, O_CLOEXEC), 0);
    d->pid = fork();
    if (d->pid == 0)
        child(d->ready[1], d->go[0]);
    char b = 0;
    cr_assert_eq(read(d->ready[0], &b, 1), 1,
                 "the second driver did not start");
    driver_up(1);
}

/* Tell it to take its next step: its answer. */
static char
second_driver_step(second_driver *d)
{
    char b = 0;
    cr_assert_eq(write(d->go[1], "s", 1), 1);
    cr_assert_eq(read(d->ready[0], &b, 1), 1, "the second driver ended");
    return b;
}

/* Its exit status, once it ended; the pipes are closed. */
static int
second_driver_end(second_driver *d)
{
    int st = child_status(d->pid);
    for (int k = 0; k < 2; k++) {
        close(d->ready[k]);
        close(d->go[k]);
    }
    return st;
}

/* .2 and .3 full (*there: their 2 CPUs and pool each), and *later, one
 * bundle with pool that waits for one of them. */
static void
pool_nodes_full(ray_pg *there, ray_pg *later)
{
    ray_bundle away[2] = {{.num_cpus = 2, .resources = "pool:1"},
                          {.num_cpus = 2, .resources = "pool:1"}};
    ray_bundle one = {.num_cpus = 1, .resources = "pool:1"};
    cr_assert_eq(ray_pg_create(away, 2, RAY_PG_STRICT_SPREAD, NULL, there),
                 RAY_OK);
    cr_assert_eq(ray_pg_wait(*there, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_pg_create(&one, 1, RAY_PG_PACK, NULL, later), RAY_OK);
}

/* A second driver's side: say b on `ready`, then wait until told to go
 * on (on `go`). */
static void
child_say(int ready, int go, char b)
{
    if (write(ready, &b, 1) != 1 || read(go, &b, 1) != 1)
        _exit(11);
}

/* Its start: up, then it says so ('r') and waits to be told to go. */
static void
child_start(int ready, int go)
{
    if (!child_driver_up())
        _exit(10);
    child_say(ready, go, 'r');
}

/* Its last answer b on `ready`, and its end. */
static void
child_end(int ready, char b)
{
    if (write(ready, &b, 1) != 1)
        _exit(12);
    ray_shutdown();
    _exit(0);
}

/* A second driver's side of the test below: looks "waiter" up when told
 * (go), and says what it found (a byte on `ready`: 'p' pending as it
 * should be, 'f' found on a node, else a letter of what went wrong). */
static void
waiter_child(int ready, int go)
{
    child_start(ready, go);
    char b;
    ray_actor h;
    ray_actor_opts o = {.name = "waiter"};
    b = ray_actor_lookup("waiter", &h) != RAY_ENOTFOUND ? 'l'
        : !strstr(ray_last_error_detail(), "waits for its placement group")
            ? 'm'
        : counter_create(&h, &o, 0) != RAY_EEXISTS ? 'e'
                                                   : 'p';
    child_say(ready, go, b);
    char *s = NULL;
    b = ray_actor_lookup("waiter", &h) != RAY_OK                    ? 'n'
        : ray_get_str(counter_where_remote(h), &s, 60000) != RAY_OK ? 'c'
        : strncmp(s, "127.0.0.", 8) != 0                            ? 'w'
                                                                    : 'f';
    if (b != 'f')
        fprintf(stderr, "second driver: %s\n", ray_last_error_detail());
    ray_free(s);
    if (b == 'f')
        ray_actor_release(h);
    child_end(ready, b);
}

/* A named actor in a placement group still pending holds its name at
 * once: this driver finds it (get_if_exists gives the same actor) and
 * cannot make another of that name, nor can a second driver, whose lookup
 * says it waits for its group; once the group is placed on another node,
 * the second driver finds it there and calls it. */
Test(cluster, a_named_actor_in_a_pending_group_holds_its_name_until_placed)
{
    second_driver d2;
    second_driver_up(&d2, waiter_child);
    ray_pg there, later;
    pool_nodes_full(&there, &later);
    ray_actor_opts ao = {.pg = later, .name = "waiter"};
    ray_actor c, same, other;
    cr_assert_eq(counter_create(&c, &ao, 30), RAY_OK, "%s",
                 ray_last_error_detail());
    int st = -1;
    cr_assert_eq(ray_actor_state(c, &st, NULL), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_PENDING);
    cr_assert_eq(counter_create(&other, &ao, 0), RAY_EEXISTS);
    ray_actor_opts again = ao;
    again.get_if_exists = true;
    cr_assert_eq(counter_create(&same, &again, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref r = counter_add_remote(same, 1); /* queued behind its creation */
    char b = second_driver_step(&d2);
    cr_assert_eq(b, 'p', "the second driver, while pending: '%c'", b);
    cr_assert_eq(ray_pg_remove(there), RAY_OK);
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(r, &v, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 31, "get_if_exists gave another actor");
    ray_ref_release(r);
    b = second_driver_step(&d2);
    cr_assert_eq(b, 'f', "the second driver, once placed: '%c'", b);
    cr_assert_eq(second_driver_end(&d2), 0, "the second driver failed");
    ray_actor_release(same);
    ray_actor_release(c);
}

/* A second driver's side of the test below: looks "orphan" up when told
 * (until it is placed) and calls it; answers 'f' when it answered 41, 'n'
 * when it was never found, 'c' when the call went wrong. */
static void
orphan_child(int ready, int go)
{
    child_start(ready, go);
    char b;
    ray_actor h;
    ray_err e = RAY_ENOTFOUND;
    for (int k = 0; k < 400 && e != RAY_OK; k++) {
        e = ray_actor_lookup("orphan", &h);
        if (e != RAY_OK)
            usleep(50000);
    }
    int64_t v = 0;
    b = e != RAY_OK ? 'n'
        : ray_get_int64(counter_add_remote(h, 1), &v, 60000) != RAY_OK ||
                v != 41
            ? 'c'
            : 'f';
    if (b != 'f')
        fprintf(stderr, "second driver: %s\n", ray_last_error_detail());
    if (e == RAY_OK) {
        ray_actor_kill(h, true);
        ray_actor_release(h);
    }
    child_end(ready, b);
}

/* A detached actor in a pending group whose every handle was released
 * before the group was ready is made all the same, and another driver
 * finds it by name and calls it. */
Test(cluster, a_detached_actor_released_before_its_group_was_ready_is_made)
{
    second_driver d2;
    second_driver_up(&d2, orphan_child);
    ray_pg there, later;
    pool_nodes_full(&there, &later);
    ray_actor_opts ao = {.pg = later, .name = "orphan", .detached = true};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &ao, 40), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_actor_release(c); /* before its group is ready */
    cr_assert_eq(ray_pg_remove(there), RAY_OK);
    char b = second_driver_step(&d2);
    cr_assert_eq(b, 'f', "the second driver: '%c'", b);
    cr_assert_eq(second_driver_end(&d2), 0, "the second driver failed");
}

/* An actor created in a placement group still pending gets its handle at
 * once; its creation and the calls made meanwhile wait for the group and
 * then run in order, on whichever node its bundle went to: the driver's
 * own (made in its runtime) or another. Removing the group first fails
 * them. */
Test(cluster, an_actor_in_a_pending_placement_group_waits_for_it)
{
    driver_up(2);
    /* .2 and .3 full (their 2 CPUs each), then the driver's node. */
    ray_bundle away[2] = {{.num_cpus = 2, .resources = "pool:1"},
                          {.num_cpus = 2, .resources = "pool:1"}};
    ray_bundle two = {.num_cpus = 2};
    ray_pg there, here, later;
    cr_assert_eq(ray_pg_create(away, 2, RAY_PG_STRICT_SPREAD, NULL, &there),
                 RAY_OK);
    cr_assert_eq(ray_pg_wait(there, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_pg_create(&two, 1, RAY_PG_PACK, NULL, &here), RAY_OK);
    cr_assert_eq(ray_pg_wait(here, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_pg_create(&two, 1, RAY_PG_PACK, NULL, &later), RAY_OK);
    ray_actor_opts ao = {.pg = later};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &ao, 10), RAY_OK, "%s",
                 ray_last_error_detail());
    int st = -1, restarts = -1;
    cr_assert_eq(ray_actor_state(c, &st, &restarts), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_PENDING);
    ray_ref r[3] = {counter_add_remote(c, 1), counter_add_remote(c, 2),
                    counter_where_remote(c)};
    size_t idx, ready = 0;
    cr_assert_eq(ray_wait(r, 3, 1, 300, &idx, &ready), RAY_OK);
    cr_assert_eq(ready, 0, "a call of an actor not made yet ran");
    cr_assert_eq(ray_actor_wait_ready(c, 100), RAY_ETIMEDOUT);
    /* Room on the driver's node only: the actor is made in its runtime. */
    cr_assert_eq(ray_pg_remove(here), RAY_OK);
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(r[0], &v, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 11);
    cr_assert_eq(ray_get_int64(r[1], &v, 60000), RAY_OK);
    cr_assert_eq(v, 13);
    expect_str(r[2], "driver 13");
    ray_ref_release(r[0]);
    ray_ref_release(r[1]);
    cr_assert_eq(ray_actor_wait_ready(c, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_actor_state(c, &st, &restarts), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_ALIVE);
    expect_str(counter_where_remote(c), "driver 13");
    ray_actor_release(c);

    /* On another node: a bundle with pool, once .2 or .3 has room. */
    ray_bundle one = {.num_cpus = 1, .resources = "pool:1"};
    ray_pg away1;
    cr_assert_eq(ray_pg_create(&one, 1, RAY_PG_PACK, NULL, &away1), RAY_OK);
    ray_actor_opts ao1 = {.pg = away1};
    cr_assert_eq(counter_create(&c, &ao1, 20), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref a1 = counter_add_remote(c, 1), a2 = counter_where_remote(c);
    cr_assert_eq(ray_pg_remove(there), RAY_OK);
    cr_assert_eq(ray_get_int64(a1, &v, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 21);
    char *s = NULL;
    cr_assert_eq(ray_get_str(a2, &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert(!strcmp(s, "127.0.0.2 21") || !strcmp(s, "127.0.0.3 21"), "%s",
              s);
    ray_free(s);
    ray_ref_release(a1);
    ray_ref_release(a2);
    ray_actor_release(c);

    /* A group removed before it was ready: the actor was never made. */
    ray_bundle big = {.num_cpus = 2, .resources = "pool:1"};
    ray_bundle bigs[2] = {big, big};
    ray_pg never;
    cr_assert_eq(ray_pg_create(bigs, 2, RAY_PG_STRICT_SPREAD, NULL, &never),
                 RAY_OK); /* away1 holds a CPU of .2 or .3 */
    ray_actor_opts aon = {.pg = never};
    cr_assert_eq(counter_create(&c, &aon, 0), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref gone = counter_add_remote(c, 1);
    cr_assert_eq(ray_pg_remove(never), RAY_OK);
    cr_assert_eq(ray_get_int64(gone, &v, 60000), RAY_EACTOR_DIED);
    cr_assert(strstr(ray_last_error_detail(), "removed"), "%s",
              ray_last_error_detail());
    ray_ref_release(gone);
    cr_assert_eq(ray_actor_state(c, &st, &restarts), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_DEAD);
    ray_actor_release(c);
    cr_assert_eq(ray_pg_remove(away1), RAY_OK);
    cr_assert_eq(ray_pg_remove(later), RAY_OK);
}

/* An actor with restarts in a placement group whose node dies is made
 * again in its bundle, once the group placed that bundle on another node:
 * a fresh incarnation there, its calls after the move answered there. */
Test(cluster, a_group_actor_restarts_where_its_bundle_went)
{
    driver_up(1);
    ray_bundle b = {.num_cpus = 1, .resources = "pool:1"};
    ray_pg g;
    cr_assert_eq(ray_pg_create(&b, 1, RAY_PG_STRICT_PACK, NULL, &g), RAY_OK);
    cr_assert_eq(ray_pg_wait(g, 60000), RAY_OK, "%s", ray_last_error_detail());
    ray_actor_opts o = {.pg = g, .max_restarts = 1, .max_task_retries = -1};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 10), RAY_OK, "%s",
                 ray_last_error_detail());
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(counter_add_remote(c, 5), &v, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(v, 15);
    char *s = NULL, first[32] = "";
    cr_assert_eq(ray_get_str(counter_where_remote(c), &s, 60000), RAY_OK);
    sscanf(s, "%31s", first);
    ray_free(s);
    cr_assert(!strcmp(first, "127.0.0.2") || !strcmp(first, "127.0.0.3"), "%s",
              first);
    /* Calls in flight there when it dies wait for the restart, then run
     * there in their order (with max_task_retries). */
    enum { N = 8 };
    ray_ref r[N];
    for (int k = 0; k < N; k++)
        r[k] = counter_nap_remote(c, k);
    cr_assert_eq(ray_get_str(r[0], &s, 60000), RAY_OK);
    ray_free(s);
    ray_ref_release(r[0]);
    cr_assert_eq(kill(daemon_pid(first), SIGKILL), 0);
    const char *next = strcmp(first, "127.0.0.2") ? "127.0.0.2" : "127.0.0.3";
    naps_followed(r + 1, N - 1, 1, first, next);
    char want[64];
    snprintf(want, sizeof(want), "%s 10", next); /* its constructor's state */
    cr_assert_eq(ray_get_str(counter_where_remote(c), &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_str_eq(s, want);
    ray_free(s);
    int st = -1, restarts = -1;
    cr_assert_eq(ray_actor_state(c, &st, &restarts), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_ALIVE);
    cr_assert_eq(restarts, 1);
    cr_assert_eq(ray_pg_state(g, &st), RAY_OK);
    cr_assert_eq(st, RAY_PG_CREATED);
    ray_actor_release(c);
    cr_assert_eq(ray_pg_remove(g), RAY_OK);
}

/* The same when the only room for its bundle is on the driver's own node:
 * the actor is made again in the driver's runtime, and its handle goes
 * there. The groups around it leave room only where the test wants. */
Test(cluster,
     a_group_actor_restarts_on_the_driver_s_node_if_its_bundle_went_there)
{
    driver_up(2);
    ray_bundle pool2 = {.num_cpus = 2, .resources = "pool:1"},
               two = {.num_cpus = 2};
    ray_bundle pools[2] = {pool2, pool2};
    ray_pg f1, f2, g, f3;
    cr_assert_eq(ray_pg_create(pools, 2, RAY_PG_STRICT_SPREAD, NULL, &f1),
                 RAY_OK); /* .2 and .3 */
    cr_assert_eq(ray_pg_wait(f1, 60000), RAY_OK);
    cr_assert_eq(ray_pg_create(&two, 1, RAY_PG_PACK, NULL, &f2), RAY_OK);
    cr_assert_eq(ray_pg_wait(f2, 60000), RAY_OK); /* the driver's node */
    cr_assert_eq(ray_pg_remove(f1), RAY_OK);
    cr_assert_eq(ray_pg_create(&two, 1, RAY_PG_PACK, NULL, &g), RAY_OK);
    cr_assert_eq(ray_pg_wait(g, 60000), RAY_OK); /* .2 or .3 */
    ray_actor_opts o = {.pg = g, .max_restarts = 1};
    ray_actor c;
    cr_assert_eq(counter_create(&c, &o, 10), RAY_OK, "%s",
                 ray_last_error_detail());
    char *s = NULL, first[32] = "";
    cr_assert_eq(ray_get_str(counter_where_remote(c), &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    sscanf(s, "%31s", first);
    ray_free(s);
    cr_assert(!strcmp(first, "127.0.0.2") || !strcmp(first, "127.0.0.3"), "%s",
              first);
    cr_assert_eq(ray_pg_create(&two, 1, RAY_PG_PACK, NULL, &f3), RAY_OK);
    cr_assert_eq(ray_pg_wait(f3, 60000), RAY_OK); /* the other of them */
    cr_assert_eq(ray_pg_remove(f2), RAY_OK);      /* room here only */
    cr_assert_eq(kill(daemon_pid(first), SIGKILL), 0);
    s = where_once_moved(c, first);
    cr_assert_str_eq(s, "driver 10"); /* a fresh incarnation, here */
    ray_free(s);
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(counter_add_remote(c, 5), &v, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(v, 15);
    int st = -1, restarts = -1;
    cr_assert_eq(ray_actor_state(c, &st, &restarts), RAY_OK);
    cr_assert_eq(st, RAY_ACTOR_ALIVE);
    cr_assert_eq(restarts, 1);
    ray_actor_release(c);
    cr_assert_eq(ray_pg_remove(g), RAY_OK);
    cr_assert_eq(ray_pg_remove(f3), RAY_OK);
}

static int64_t
agent_pid(int64_t unused)
{
    (void)unused;
    return (int64_t)getppid(); /* a worker's parent: its node's agent */
}
RAY_REMOTE(agent_pid, int64_t, int64_t);

Test(cluster, a_node_that_dies_while_a_group_is_reserved_is_rolled_back)
{
    driver_up(1);
    /* Only .2 and .3 have "pool": a STRICT_SPREAD of two needs both. */
    ray_call_opts on3 = {.node = "127.0.0.3"};
    int64_t agent = -1;
    cr_assert_eq(ray_get_int64(agent_pid_remote_opts(&on3, 0), &agent, 60000),
                 RAY_OK, "%s", ray_last_error_detail());
    cr_assert_gt(agent, 1);
    /* .3's agent hangs: its answer to the reservation never comes. */
    cr_assert_eq(kill((pid_t)agent, SIGSTOP), 0);
    ray_bundle pool[2] = {{.num_cpus = 1, .resources = "pool:1"},
                          {.num_cpus = 1, .resources = "pool:1"}};
    ray_pg pg;
    cr_assert_eq(ray_pg_create(pool, 2, RAY_PG_STRICT_SPREAD, NULL, &pg),
                 RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(ray_pg_wait(pg, 300), RAY_ETIMEDOUT, "created without .3");
    /* .3 dies in the middle of it: .2's part is rolled back, and the
     * group waits for a node with a pool. */
    pid_t raylet = rc_daemon_pid(&C, "127.0.0.3");
    cr_assert_gt(raylet, 0);
    kill(raylet, SIGKILL);
    kill((pid_t)agent, SIGKILL);
    cr_assert_eq(ray_pg_wait(pg, 500), RAY_ETIMEDOUT, "one pool node left");
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    cr_assert_eq(rayc("start", addr, "--node-ip-address=127.0.0.4",
                      "--num-cpus=2", "--resources=pool=100", NULL),
                 0, "%s", out_text());
    cr_assert_eq(ray_pg_wait(pg, 60000), RAY_OK, "%s", ray_last_error_detail());
    char *a = where_in(pg, 0), *b = where_in(pg, 1);
    cr_assert(strcmp(a, b) && (!strcmp(a, "127.0.0.2") || !strcmp(b, "127.0.0"
                                                                     ".2")),
              "on %s and %s", a, b);
    cr_assert(!strcmp(a, "127.0.0.4") || !strcmp(b, "127.0.0.4"),
              "on %s and %s", a, b);
    ray_free(a);
    ray_free(b);
    cr_assert_eq(ray_pg_remove(pg), RAY_OK);
    /* Nothing of it stays held on .2: both its CPUs can be reserved
     * (with its gpu, which only .2 has). */
    ray_bundle all2 = {.num_cpus = 2, .resources = "gpu:1"};
    ray_pg whole;
    cr_assert_eq(ray_pg_create(&all2, 1, RAY_PG_STRICT_PACK, NULL, &whole),
                 RAY_OK);
    cr_assert_eq(ray_pg_wait(whole, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
}

Test(cluster, a_groups_bundles_on_a_dead_node_are_placed_again)
{
    driver_up(1);
    ray_bundle pool[2] = {{.num_cpus = 1, .resources = "pool:1"},
                          {.num_cpus = 1, .resources = "pool:1"}};
    ray_pg pg;
    cr_assert_eq(ray_pg_create(pool, 2, RAY_PG_STRICT_SPREAD, NULL, &pg),
                 RAY_OK);
    cr_assert_eq(ray_pg_wait(pg, 60000), RAY_OK, "%s", ray_last_error_detail());
    char *w0 = where_in(pg, 0), *w1 = where_in(pg, 1);
    int on3 = !strcmp(w0, "127.0.0.3") ? 0 : 1;
    cr_assert_str_eq(on3 ? w1 : w0, "127.0.0.3");
    cr_assert_str_eq(on3 ? w0 : w1, "127.0.0.2");
    ray_free(w0);
    ray_free(w1);
    ray_call_opts on3_opts = {.node = "127.0.0.3"};
    int64_t agent = -1;
    cr_assert_eq(
        ray_get_int64(agent_pid_remote_opts(&on3_opts, 0), &agent, 60000),
        RAY_OK);
    kill(rc_daemon_pid(&C, "127.0.0.3"), SIGKILL);
    kill((pid_t)agent, SIGKILL);
    /* Once the driver saw the death the group is pending again, and a
     * call of the lost bundle waits for it to be placed again: on a node
     * with a pool that holds none of the group yet. */
    int st = RAY_PG_CREATED;
    for (int k = 0; k < 6000 && st != RAY_PG_PENDING; k++) {
        cr_assert_eq(ray_pg_state(pg, &st), RAY_OK);
        if (st != RAY_PG_PENDING)
            usleep(10000);
    }
    cr_assert_eq(st, RAY_PG_PENDING, "the group never lost its bundle");
    ray_call_opts in = {.pg = pg, .pg_bundle = on3};
    ray_ref r = where_remote_opts(&in, 0);
    cr_assert_neq(r.id, 0, "%s", ray_last_error_detail());
    size_t idx, ready = 0;
    cr_assert_eq(ray_wait(&r, 1, 1, 200, &idx, &ready), RAY_OK);
    cr_assert_eq(ready, 0, "a call of a lost bundle ran or failed");
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    cr_assert_eq(rayc("start", addr, "--node-ip-address=127.0.0.4",
                      "--num-cpus=1", "--resources=pool=100", NULL),
                 0, "%s", out_text());
    char *s = NULL;
    cr_assert_eq(ray_get_str(r, &s, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_str_eq(s, "127.0.0.4");
    ray_free(s);
    ray_ref_release(r);
    char *kept = where_in(pg, 1 - on3);
    cr_assert_str_eq(kept, "127.0.0.2", "the bundle on .2 stayed");
    ray_free(kept);
}

Test(cluster, rayc_lists_the_placement_groups_of_every_driver)
{
    driver_up(1);
    ray_bundle b[2] = {{.num_cpus = 1, .resources = "gpu:1"},
                       {.num_cpus = 1, .resources = "pool:1"}};
    ray_pg pg;
    cr_assert_eq(ray_pg_create(b, 2, RAY_PG_STRICT_SPREAD, "trainers", &pg),
                 RAY_OK);
    cr_assert_eq(ray_pg_wait(pg, 60000), RAY_OK, "%s", ray_last_error_detail());
    ray_bundle big = {.num_cpus = 2, .resources = "gpu:1"}; /* waits */
    ray_pg later;
    cr_assert_eq(ray_pg_create(&big, 1, RAY_PG_PACK, "later", &later), RAY_OK);
    cr_assert_eq(list_rows("placement-groups", "state=CREATED"), 1, "%s",
                 out_text());
    cr_assert(strstr(out_text(), "trainers") &&
                  strstr(out_text(), "STRICT_SPREAD") &&
                  strstr(out_text(), "{CPU:1,gpu:1}{CPU:1,pool:1}"),
              "%s", out_text());
    cr_assert_eq(list_rows("placement-groups", "state=PENDING"), 1, "%s",
                 out_text());
    cr_assert(strstr(out_text(), "later"), "%s", out_text());
    cr_assert_eq(ray_pg_remove(pg), RAY_OK);
    cr_assert_eq(ray_pg_wait(later, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(list_rows("placement-groups", "name=trainers"), 0, "%s",
                 out_text());
    cr_assert_eq(list_rows("placement-groups", "state=CREATED"), 1, "%s",
                 out_text());
}

Test(cluster, a_call_whose_copy_went_with_its_node_reads_the_value_again)
{
    driver_up(1);
    enum { N = 8 * 1000 * 1000 };
    ray_call_opts on2 = {.node = "127.0.0.2"}, on3 = {.node = "127.0.0.3"};
    ray_ref a = make_pattern_remote_opts(&on2, N, 5); /* kept on .2 too */
    ray_view v;
    cr_assert_eq(ray_get(a, &v, 60000), RAY_OK, "%s", ray_last_error_detail());
    ray_release(&v);
    int64_t agent = -1;
    cr_assert_eq(ray_get_int64(agent_pid_remote_opts(&on2, 0), &agent, 60000),
                 RAY_OK);
    /* .2's agent hangs, unseen: the call on .3 is told to read .2's copy
     * (it pulls from a node that does not answer). Then .2 dies. */
    cr_assert_eq(kill((pid_t)agent, SIGSTOP), 0);
    double pushed = pushed_bytes();
    ray_ref r = RAY_CALL_OPTS(check_pattern, &on3, a, (int64_t)5);
    cr_assert_neq(r.id, 0, "%s", ray_last_error_detail());
    kill(rc_daemon_pid(&C, "127.0.0.2"), SIGKILL);
    kill((pid_t)agent, SIGKILL);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.3 OK %d", N);
    expect_str(r, want); /* pushed from here instead */
    cr_assert_gt(pushed_bytes(), pushed, "the value was not pushed again");
    ray_ref_release(a);
}

Test(cluster, a_call_waiting_for_a_group_on_the_driver_s_node_runs_there)
{
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 2;
    c.address = head;
    c.resources = "here:1"; /* only this node has it */
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
    ray_bundle b = {.num_cpus = 1, .resources = "here:1"};
    ray_pg first, second;
    cr_assert_eq(ray_pg_create(&b, 1, RAY_PG_PACK, NULL, &first), RAY_OK);
    cr_assert_eq(ray_pg_wait(first, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_pg_create(&b, 1, RAY_PG_PACK, NULL, &second), RAY_OK);
    ray_call_opts in = {.pg = second};
    ray_ref r = where_remote_opts(&in, 0);
    cr_assert_neq(r.id, 0, "%s", ray_last_error_detail());
    size_t idx, ready = 0;
    cr_assert_eq(ray_wait(&r, 1, 1, 200, &idx, &ready), RAY_OK);
    cr_assert_eq(ready, 0, "it ran before its group was made");
    cr_assert_eq(ray_pg_remove(first), RAY_OK);
    expect_str(r, "driver"); /* the ref the caller held all along */
}

/* Refs of the runtime this runs in, handed back inside the value: a put
 * of `big` bytes of pattern `seed`, a put of seed * 7, and a call made
 * here that sleeps `ms` (none is released here: the caller holds them). */
static ray_bytes
hand_refs(int64_t big, int64_t seed, int64_t ms)
{
    ray_ref *r = calloc(3, sizeof(*r));
    ray_bytes b = make_pattern(big, seed);
    if (ray_put_bytes(b.data, b.len, &r[0]) != RAY_OK ||
        ray_put_int64(seed * 7, &r[1]) != RAY_OK)
        ray_task_fail(RAY_EINVAL, "put: %s", ray_last_error_detail());
    free((void *)b.data);
    r[2] = twice_slow_remote(seed, ms);
    return (ray_bytes){r, 3 * sizeof(*r)};
}
RAY_REMOTE(hand_refs, ray_bytes, int64_t, int64_t, int64_t);

/* The driver borrows refs a task on another node made there: it gets
 * them (a large value pulled, a small one inline, a call still running
 * there), waits on them, passes one to a call on a third node, and its
 * retain and release count at the owner: the last release frees the
 * value there. An owner that dies fails what it had not sent. */
Test(cluster, refs_made_on_another_node_are_borrowed_by_the_driver)
{
    driver_up(1);
    enum { BIG = 3 << 20 };
    ray_call_opts on2 = {.node = "127.0.0.2"}, on3 = {.node = "127.0.0.3"};
    ray_ref h = hand_refs_remote_opts(&on2, BIG, 5, 300);
    ray_bytes got;
    cr_assert_eq(ray_get_bytes(h, (void **)&got.data, &got.len, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    cr_assert_eq(got.len, 3 * sizeof(ray_ref));
    ray_ref r[3];
    memcpy(r, got.data, sizeof(r));
    ray_free((void *)got.data);
    ray_ref_release(h);

    size_t idx[3], n = 0;
    cr_assert_eq(ray_wait(r, 3, 3, 60000, idx, &n), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(n, 3);
    void *big = NULL;
    size_t len = 0;
    cr_assert_eq(ray_get_bytes(r[0], &big, &len, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(len, (size_t)BIG);
    for (size_t i = 0; i < len; i += 4093)
        cr_assert_eq(((uint8_t *)big)[i], pattern_at(i, 5), "byte %zu", i);
    ray_free(big);
    int64_t v;
    cr_assert_eq(ray_get_int64(r[1], &v, 60000), RAY_OK);
    cr_assert_eq(v, 35);
    cr_assert_eq(ray_get_int64(r[2], &v, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 10);
    /* A borrowed ref as an argument, read on a third node. */
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.3 OK %d", BIG);
    expect_str(RAY_CALL_OPTS(check_pattern, &on3, r[0], (int64_t)5), want);

    /* Counted at the owner: a retain keeps it past one release (each
     * release drops the driver's stand-in: the next get asks again). */
    cr_assert_eq(ray_ref_retain(r[1]), RAY_OK);
    ray_ref_release(r[1]);
    cr_assert_eq(ray_get_int64(r[1], &v, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 35);
    ray_ref_release(r[1]);
    ray_ref_release(r[0]);
    ray_ref_release(r[2]);
    /* Used after the last release: the owner says it is gone. */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ray_get_int64(r[i], &v, 60000), RAY_EINVAL, "ref %d", i);
        cr_assert(strstr(ray_last_error_detail(), "released by every holder"),
                  "%s", ray_last_error_detail());
        ray_ref_release(r[i]); /* ignored there, as a stale ref here */
    }
    /* A tag of no runtime of this job is foreign, as before. */
    ray_ref made_up = {r[1].id, r[1].owner ^ 0x5a5a0};
    cr_assert_eq(ray_get_int64(made_up, &v, 100), RAY_EINVAL);

    /* Its owner dies before the call it stands for ends. */
    h = hand_refs_remote_opts(&on3, 16, 1, 600000);
    cr_assert_eq(ray_get_bytes(h, (void **)&got.data, &got.len, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    memcpy(r, got.data, sizeof(r));
    ray_free((void *)got.data);
    cr_assert_eq(ray_get_int64(r[1], &v, 60000), RAY_OK);
    cr_assert_eq(v, 7);
    cr_assert_eq(ray_wait(&r[2], 1, 1, 200, idx, &n), RAY_OK);
    cr_assert_eq(n, 0);
    pid_t victim = daemon_pid("127.0.0.3");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    cr_assert_eq(ray_get_int64(r[2], &v, 60000), RAY_EOBJECT_LOST, "%s",
                 ray_last_error_detail());
    cr_assert(strstr(ray_last_error_detail(), "127.0.0.3"), "%s",
              ray_last_error_detail());
    /* What came before its death stays. */
    cr_assert_eq(ray_get_int64(r[1], &v, 60000), RAY_OK);
    cr_assert_eq(v, 7);
    ray_ref_release(h);
}

/* The sum of the int values of the refs packed in `refs` (of any runtime
 * of the job), got here. */
static int64_t
sum_refs(ray_bytes refs)
{
    const ray_ref *r = refs.data;
    int64_t s = 0;
    for (size_t i = 0; i < refs.len / sizeof(*r); i++) {
        int64_t v = 0;
        ray_err e = ray_get_int64(r[i], &v, 60000);
        if (e != RAY_OK) {
            ray_task_fail(e, "ref %zu: %s", i, ray_last_error_detail());
            return 0;
        }
        s += v;
    }
    return s;
}
RAY_REMOTE(sum_refs, int64_t, ray_bytes);

/* check_pattern of the value of the first ref packed in `refs`. */
static char *
check_pattern_ref(ray_bytes refs, int64_t seed)
{
    ray_ref r;
    memcpy(&r, refs.data, sizeof(r));
    void *p = NULL;
    size_t len = 0;
    ray_err e = ray_get_bytes(r, &p, &len, 60000);
    if (e != RAY_OK) {
        ray_task_fail(e, "%s", ray_last_error_detail());
        return NULL;
    }
    char *s = check_pattern((ray_bytes){p, len}, seed);
    ray_free(p);
    return s;
}
RAY_REMOTE(check_pattern_ref, char *, ray_bytes, int64_t);

/* A holder more (hold 1) or less (0) of the first ref packed in refs. */
static int64_t
hold_ref(ray_bytes refs, int64_t hold)
{
    ray_ref r;
    memcpy(&r, refs.data, sizeof(r));
    if (!hold) {
        ray_ref_release(r);
        return 0;
    }
    ray_err e = ray_ref_retain(r);
    if (e != RAY_OK)
        ray_task_fail(e, "%s", ray_last_error_detail());
    return e;
}
RAY_REMOTE(hold_ref, int64_t, ray_bytes, int64_t);

static int64_t
expect_i64(ray_ref r)
{
    int64_t v = -1;
    cr_assert_eq(ray_get_int64(r, &v, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref_release(r);
    return v;
}

/* A ref packed in a value, read on another node, is answered with where
 * its large value is (parked on .3, where its call made it; then a copy
 * of a put, pushed once to .3): the reader pulls it from there, and its
 * bytes never pass through the driver. */
Test(cluster, a_packed_ref_s_large_value_goes_straight_from_where_it_is)
{
    driver_up(1);
    enum { N = 24 * 1000 * 1000 };
    ray_call_opts on2 = {.node = "127.0.0.2"},
                  on3 = {.node = "127.0.0.3", .node_soft = true};
    ray_ref v = make_pattern_remote_opts(&on3, N, 41);
    double pulled = moved_bytes("pull"), pushed = pushed_bytes();
    double served = served_bytes("127.0.0.3");
    char ok[64];
    snprintf(ok, sizeof(ok), "127.0.0.2 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern_ref, &on2,
                             ((ray_bytes){&v, sizeof(v)}), (int64_t)41),
               ok);
    cr_assert_eq(moved_bytes("pull"), pulled, "pulled to the driver");
    cr_assert_eq(pushed_bytes(), pushed, "pushed by the driver");
    cr_assert_eq(served_bytes("127.0.0.3") - served, (double)N);
    ray_ref_release(v);

    /* A put: pushed to .3 once for a call there, then read by .2 from
     * there. */
    ray_bytes b = make_pattern(N, 42);
    ray_ref put;
    cr_assert_eq(ray_put_bytes(b.data, b.len, &put), RAY_OK);
    free((void *)b.data);
    snprintf(ok, sizeof(ok), "127.0.0.3 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern, &on3, put, (int64_t)42), ok);
    pushed = pushed_bytes();
    served = served_bytes("127.0.0.3");
    snprintf(ok, sizeof(ok), "127.0.0.2 OK %d", N);
    expect_str(RAY_CALL_OPTS(check_pattern_ref, &on2,
                             ((ray_bytes){&put, sizeof(put)}), (int64_t)42),
               ok);
    cr_assert_eq(pushed_bytes(), pushed, "pushed by the driver again");
    cr_assert_eq(served_bytes("127.0.0.3") - served, (double)N);
    ray_ref_release(put);
}

/* Tasks anywhere read refs packed inside their arguments (the pattern of
 * a reduce over a list of refs): the driver's puts and calls, a large
 * put, another node's refs (through the driver), on the driver's own
 * workers too; and a task's retain keeps the driver's value after the
 * driver's release, until the task's release frees it. */
Test(cluster, tasks_on_any_node_read_refs_packed_in_their_arguments)
{
    driver_up(1);
    enum { N = 10, BIG = 3 << 20 };
    ray_call_opts on1 = {.node = "127.0.0.1"}, on2 = {.node = "127.0.0.2"},
                  on3 = {.node = "127.0.0.3"};
    ray_ref r[N];
    int64_t want = 0;
    for (int i = 0; i < N; i++) {
        if (i % 2)
            cr_assert_eq(ray_put_int64(i, &r[i]), RAY_OK);
        else /* calls, some still running when read */
            r[i] = twice_slow_remote_opts(&on3, i, i * 20);
        want += i % 2 ? i : 2 * i;
    }
    ray_bytes packed = {r, sizeof(r)};
    cr_assert_eq(expect_i64(RAY_CALL_OPTS(sum_refs, &on2, packed)), want);
    cr_assert_eq(expect_i64(RAY_CALL_OPTS(sum_refs, &on3, packed)), want);
    for (int i = 0; i < N; i++)
        ray_ref_release(r[i]);

    /* A large value, pushed to the reader. */
    ray_bytes b = make_pattern(BIG, 9);
    ray_ref big;
    cr_assert_eq(ray_put_bytes(b.data, b.len, &big), RAY_OK);
    free((void *)b.data);
    char ok[64];
    snprintf(ok, sizeof(ok), "127.0.0.2 OK %d", BIG);
    expect_str(RAY_CALL_OPTS(check_pattern_ref, &on2,
                             ((ray_bytes){&big, sizeof(big)}), (int64_t)9),
               ok);

    /* Refs of .3's runtime, read on .2 and on the driver's workers. */
    ray_ref h = hand_refs_remote_opts(&on3, 16, 4, 0);
    ray_bytes got;
    cr_assert_eq(ray_get_bytes(h, (void **)&got.data, &got.len, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    ray_ref theirs[2];
    memcpy(theirs, (const ray_ref *)got.data + 1, sizeof(theirs));
    ray_free((void *)got.data);
    ray_ref_release(h);
    ray_bytes tp = {theirs, sizeof(theirs)}; /* 4 * 7 and twice 4 */
    cr_assert_eq(expect_i64(RAY_CALL_OPTS(sum_refs, &on2, tp)), 36);
    cr_assert_eq(expect_i64(RAY_CALL_OPTS(sum_refs, &on1, tp)), 36);
    ray_ref_release(theirs[0]);
    ray_ref_release(theirs[1]);

    /* Counted at the owner: a task's holder outlives the driver's. */
    ray_ref kept;
    cr_assert_eq(ray_put_int64(77, &kept), RAY_OK);
    ray_bytes kp = {&kept, sizeof(kept)};
    cr_assert_eq(expect_i64(RAY_CALL_OPTS(hold_ref, &on2, kp, (int64_t)1)), 0);
    ray_ref_release(kept);
    cr_assert_eq(expect_i64(RAY_CALL_OPTS(sum_refs, &on3, kp)), 77);
    int64_t v;
    cr_assert_eq(ray_get_int64(kept, &v, 1000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(expect_i64(RAY_CALL_OPTS(hold_ref, &on2, kp, (int64_t)0)), 0);
    bool gone = false; /* the release comes on .2's connection: soon */
    for (int k = 0; k < 200 && !gone; k++) {
        gone = ray_get_int64(kept, &v, 1000) == RAY_EINVAL;
        if (!gone)
            usleep(10000);
    }
    cr_assert(gone, "the driver's value outlived every holder");
    /* Read on another node after that: the owner says so. */
    ray_ref late = RAY_CALL_OPTS(sum_refs, &on3, kp);
    cr_assert_eq(ray_get_int64(late, &v, 60000), RAY_EINVAL, "%s",
                 ray_last_error_detail());
    cr_assert(strstr(ray_last_error_detail(), "released by every holder"), "%s",
              ray_last_error_detail());
    ray_ref_release(late);
    ray_ref_release(big);
}

/* The objects the runtime running this holds now (ray_get_stats). */
static int64_t
objects_here(int64_t unused)
{
    (void)unused;
    ray_stats st;
    if (ray_get_stats(&st) != RAY_OK)
        ray_task_fail(RAY_EINVAL, "%s", ray_last_error_detail());
    return (int64_t)st.objects_live;
}
RAY_REMOTE(objects_here, int64_t, int64_t);

/* Wait (2 s at most) until the runtime on `on`'s node holds `want`
 * objects again, and say so. The result of the call before is released
 * there only once it was sent: a count may be one over for a moment. */
static void
expect_objects(const ray_call_opts *on, int64_t want)
{
    int64_t now = -1;
    for (int k = 0; k < 200 && now != want; k++) {
        now = expect_i64(RAY_CALL_OPTS(objects_here, on, 0));
        if (now != want)
            usleep(10000);
    }
    cr_assert_eq(now, want, "%s holds %lld objects, %lld before", on->node,
                 (long long)now, (long long)want);
}

/* A driver's value read on another node through a ref packed in a
 * value goes from there when the driver frees it: after 20 values of 60
 * MB, .2's runtime holds as many objects as before. Read twice, each is
 * pushed once (the stand-in serves the second read). */
Test(cluster, a_borrowed_value_goes_from_the_reader_s_node_with_the_owner_s)
{
    driver_up(1);
    enum { N = 60 * 1000 * 1000, ROUNDS = 20 };
    ray_call_opts on2 = {.node = "127.0.0.2"};
    char ok[64];
    snprintf(ok, sizeof(ok), "127.0.0.2 OK %d", N);
    int64_t before = expect_i64(RAY_CALL_OPTS(objects_here, &on2, 0));
    double pushed = pushed_bytes();
    for (int r = 0; r < ROUNDS; r++) {
        ray_bytes b = make_pattern(N, r);
        ray_ref v;
        cr_assert_eq(ray_put_bytes(b.data, b.len, &v), RAY_OK, "round %d: %s",
                     r, ray_last_error_detail());
        free((void *)b.data);
        ray_bytes packed = {&v, sizeof(v)};
        for (int k = 0; k < 2; k++)
            expect_str(
                RAY_CALL_OPTS(check_pattern_ref, &on2, packed, (int64_t)r), ok);
        ray_ref_release(v);
    }
    cr_assert_eq(pushed_bytes() - pushed, (double)N * ROUNDS);
    expect_objects(&on2, before);
}

/* A put borrowed on three nodes (the driver's, .2 and .3: tasks there
 * hold it) lives until its last holder anywhere drops it, then goes from
 * every node: each runtime holds as many objects as before. */
Test(cluster,
     a_put_borrowed_on_three_nodes_goes_everywhere_with_its_last_holder)
{
    driver_up(1);
    enum { BIG = 2 << 20 };
    ray_call_opts on1 = {.node = "127.0.0.1"}, on2 = {.node = "127.0.0.2"},
                  on3 = {.node = "127.0.0.3"};
    const ray_call_opts *nodes[3] = {&on1, &on2, &on3};
    int64_t before[3];
    for (int n = 0; n < 3; n++)
        before[n] = expect_i64(RAY_CALL_OPTS(objects_here, nodes[n], 0));
    ray_stats st;
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    uint64_t driver_before = st.objects_live;

    ray_bytes b = make_pattern(BIG, 11);
    ray_ref v;
    cr_assert_eq(ray_put_bytes(b.data, b.len, &v), RAY_OK);
    free((void *)b.data);
    ray_bytes kp = {&v, sizeof(v)};
    for (int n = 0; n < 3; n++) /* a holder in a task on each node */
        cr_assert_eq(
            expect_i64(RAY_CALL_OPTS(hold_ref, nodes[n], kp, (int64_t)1)), 0);
    ray_ref_release(v); /* the driver's own */
    for (int n = 0; n < 3; n++) {
        char ok[64];
        snprintf(ok, sizeof(ok), "%s OK %d", n ? nodes[n]->node : "driver",
                 BIG);
        expect_str(RAY_CALL_OPTS(check_pattern_ref, nodes[n], kp, (int64_t)11),
                   ok);
    }
    for (int n = 0; n < 3; n++)
        cr_assert_eq(
            expect_i64(RAY_CALL_OPTS(hold_ref, nodes[n], kp, (int64_t)0)), 0);
    /* The last release reaches the driver from .3's connection: its free
     * then goes to every reader ahead of anything later there. */
    bool back = false;
    for (int k = 0; k < 200 && !back; k++) {
        cr_assert_eq(ray_get_stats(&st), RAY_OK);
        back = st.objects_live == driver_before;
        if (!back)
            usleep(10000);
    }
    cr_assert(back, "the driver holds %llu objects, %llu before",
              (unsigned long long)st.objects_live,
              (unsigned long long)driver_before);
    for (int n = 0; n < 3; n++)
        expect_objects(nodes[n], before[n]);
}

/* Node .4 joins with one CPU and a 256 MiB store; back once the
 * driver can place a call there. */
static void
node4_with_small_store(void)
{
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    cr_assert_eq(rayc("start", addr, "--node-ip-address=127.0.0.4",
                      "--num-cpus=1", "--object-store-memory=268435456", NULL),
                 0, "%s", out_text());
    ray_call_opts on4 = {.node = "127.0.0.4"};
    ray_ref r = RAY_REF_NULL;
    for (int k = 0; k < 200 && r.id == 0; k++) { /* the driver polls 2/s */
        r = tagged_remote_opts(&on4, 4);
        if (r.id == 0)
            usleep(50000);
    }
    cr_assert_neq(r.id, 0, "%s", ray_last_error_detail());
    ray_ref_release(r);
}

/* Values a node keeps for the driver (its results, which other nodes'
 * calls read there) are not pinned: a node with a 256 MiB store makes
 * and keeps five of 100 MB while the driver holds them all, spilling
 * what does not fit, and serves each back whole. */
Test(cluster, values_a_node_keeps_for_the_driver_spill_rather_than_fill_it)
{
    driver_up(1);
    node4_with_small_store();
    ray_call_opts on4 = {.node = "127.0.0.4"}, on3 = {.node = "127.0.0.3"};
    enum { N = 100 * 1000 * 1000, K = 5 };
    ray_ref v[K];
    for (int i = 0; i < K; i++) {
        v[i] = make_pattern_remote_opts(&on4, N, i);
        size_t idx, n = 0; /* made, and kept there, one after another */
        cr_assert_eq(ray_wait(&v[i], 1, 1, 60000, &idx, &n), RAY_OK);
        cr_assert_eq(n, 1, "value %d", i);
    }
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.3 OK %d", N);
    for (int i = 0; i < K; i++) { /* .3 reads each from .4's copy */
        expect_str(RAY_CALL_OPTS(check_pattern, &on3, v[i], (int64_t)i), want);
        ray_ref_release(v[i]);
    }
}

/* The store counters of the node this runs on: "EVICTIONS FETCHES
 * SPILLS". */
static char *
store_counts(int64_t unused)
{
    (void)unused;
    ray_stats st;
    char *s = malloc(96);
    if (ray_get_stats(&st) != RAY_OK)
        snprintf(s, 96, "no stats");
    else
        snprintf(s, 96, "%llu %llu %llu",
                 (unsigned long long)st.store_evictions,
                 (unsigned long long)st.store_fetches,
                 (unsigned long long)st.store_spills);
    return s;
}
RAY_REMOTE(store_counts, char *, int64_t);

static void
store_counts_on(const ray_call_opts *on, unsigned long long out[3])
{
    char *s = NULL;
    cr_assert_eq(ray_get_str(RAY_CALL_OPTS(store_counts, on, 0), &s, 60000),
                 RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(sscanf(s, "%llu %llu %llu", &out[0], &out[1], &out[2]), 3,
                 "%s", s);
    ray_free(s);
}

/* Copies a node pulls from another are secondary: its 256 MiB store
 * evicts them for room rather than spill them, and pulls an evicted one
 * again when a call reads it (four of 100 MB from .2, read twice on
 * .4). When their source has gone too, a call that reads one gets the
 * driver's own copy instead, and still reads it whole. */
Test(cluster, copies_a_node_pulled_are_evicted_for_room_and_pulled_again)
{
    driver_up(1);
    node4_with_small_store();
    ray_call_opts on2 = {.node = "127.0.0.2"}, on4 = {.node = "127.0.0.4"};
    enum { N = 100 * 1000 * 1000, K = 4 };
    ray_ref v[K];
    for (int i = 0; i < K; i++) {
        v[i] = make_pattern_remote_opts(&on2, N, i);
        size_t idx, n = 0;
        cr_assert_eq(ray_wait(&v[i], 1, 1, 60000, &idx, &n), RAY_OK);
        cr_assert_eq(n, 1, "value %d", i);
    }
    unsigned long long before[3], after[3];
    store_counts_on(&on4, before);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.4 OK %d", N);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < K; i++)
            expect_str(RAY_CALL_OPTS(check_pattern, &on4, v[i], (int64_t)i),
                       want);
    store_counts_on(&on4, after);
    cr_assert_geq(after[0] - before[0], K, "evictions %llu, %llu before",
                  after[0], before[0]);
    cr_assert_geq(after[1] - before[1], K - 2, "fetches %llu, %llu before",
                  after[1], before[1]);
    cr_assert_eq(after[2], before[2], "spilled %llu copies",
                 after[2] - before[2]);

    /* Their source goes: the copies .4 evicted cannot come back, so the
     * calls that read them run again (counted as sent again). */
    ray_stats st;
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    uint64_t resent = st.calls_resent;
    pid_t victim = daemon_pid("127.0.0.2");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    for (int i = 0; i < K; i++) {
        expect_str(RAY_CALL_OPTS(check_pattern, &on4, v[i], (int64_t)i), want);
        ray_ref_release(v[i]);
    }
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    cr_assert_gt(st.calls_resent, resent, "no call read an evicted copy");
}

/* ray_wait for all the refs packed in refs, then their sum (borrowed). */
static int64_t
wait_sum_refs(ray_bytes refs)
{
    size_t n = refs.len / sizeof(ray_ref);
    size_t *idx = malloc(n * sizeof(*idx)), ready = 0;
    ray_err e = ray_wait(refs.data, n, n, 60000, idx, &ready);
    free(idx);
    if (e != RAY_OK || ready != n) {
        ray_task_fail(e ? e : RAY_ETIMEDOUT, "%zu of %zu ready: %s", ready, n,
                      ray_last_error_detail());
        return 0;
    }
    return sum_refs(refs);
}
RAY_REMOTE(wait_sum_refs, int64_t, ray_bytes);

/* More borrowed refs at once than the stand-in table has slots: a task
 * on .2 waits for 6,000 of the driver's refs, then sums them. */
Test(cluster, a_task_waits_for_more_borrowed_refs_than_the_table_holds)
{
    driver_up(1);
    enum { N = 6000 };
    ray_ref *r = malloc(N * sizeof(*r));
    int64_t want = 0;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(ray_put_int64(i, &r[i]), RAY_OK);
        want += i;
    }
    ray_call_opts on2 = {.node = "127.0.0.2"};
    ray_bytes packed = {r, N * sizeof(*r)};
    cr_assert_eq(expect_i64(RAY_CALL_OPTS(wait_sum_refs, &on2, packed)), want);
    for (int i = 0; i < N; i++)
        ray_ref_release(r[i]);
    free(r);
}

/* Tasks on one node at once read more borrowed refs than its stand-in
 * table holds: one's new stand-ins take the slots of another's, which
 * must not lose a stand-in between being handed out and being read. */
Test(cluster, tasks_at_once_on_a_node_borrow_more_refs_than_its_table_holds)
{
    driver_up(1);
    enum { TASKS = 8, EACH = 1000 };
    static ray_ref r[TASKS][EACH];
    int64_t want[TASKS] = {0};
    for (int t = 0; t < TASKS; t++)
        for (int i = 0; i < EACH; i++) {
            cr_assert_eq(ray_put_int64(t * EACH + i, &r[t][i]), RAY_OK);
            want[t] += t * EACH + i;
        }
    ray_call_opts on2 = {.node = "127.0.0.2"};
    ray_ref s[TASKS];
    for (int t = 0; t < TASKS; t++)
        s[t] = RAY_CALL_OPTS(sum_refs, &on2, ((ray_bytes){r[t], sizeof(r[t])}));
    for (int t = 0; t < TASKS; t++)
        cr_assert_eq(expect_i64(s[t]), want[t], "task %d", t);
    for (int t = 0; t < TASKS; t++)
        for (int i = 0; i < EACH; i++)
            ray_ref_release(r[t][i]);
}

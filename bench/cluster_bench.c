/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster_bench.c: the `cluster` group. It starts a loopback cluster of
 * its own with the rayc program (a head on 127.0.0.1, raylets on
 * 127.0.0.2 and .3, in a fresh temp dir with its own token), runs calls
 * forced onto the other nodes (a custom resource only they have), and
 * stops it. The limit it compares with, measured in the same run: a raw
 * TCP round trip on loopback between two processes.
 */
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "ray/ray.h"
#include "runtime/clock.h"
#include "runtime/net.h"
#include "tests/integration/common/cluster.h"

extern char **environ;

static int64_t
cl_noop(int64_t x)
{
    return x;
}
RAY_REMOTE(cl_noop, int64_t, int64_t);

typedef struct cl_acc {
    int64_t sum;
} cl_acc;

static ray_err
cl_acc_init(cl_acc *a, int64_t start)
{
    a->sum = start;
    return RAY_OK;
}
RAY_ACTOR(cl_acc, cl_acc_init, int64_t);

static int64_t
cl_acc_add(cl_acc *a, int64_t x)
{
    return a->sum += x;
}
RAY_METHOD(cl_acc, cl_acc_add, int64_t, int64_t);

/* A value of n bytes, made on the node the call runs on. */
static ray_bytes
cl_make(int64_t n)
{
    void *p = malloc((size_t)n);
    memset(p, 1, (size_t)n);
    return (ray_bytes){p, (size_t)n};
}
RAY_REMOTE(cl_make, ray_bytes, int64_t);

static int64_t
cl_len(ray_bytes b)
{
    return (int64_t)b.len;
}
RAY_REMOTE(cl_len, int64_t, ray_bytes);

/* The next link of a chain: b's bytes plus one. */
static ray_bytes
cl_step(ray_bytes b)
{
    uint8_t *p = malloc(b.len);
    for (size_t i = 0; i < b.len; i++)
        p[i] = (uint8_t)(((const uint8_t *)b.data)[i] + 1);
    return (ray_bytes){p, b.len};
}
RAY_REMOTE(cl_step, ray_bytes, ray_bytes);

/* n refs of small values put on the node the call runs on. */
static ray_bytes
cl_put_many(int64_t n)
{
    ray_ref *r = calloc((size_t)n, sizeof(*r));
    for (int64_t i = 0; i < n; i++)
        ray_put_int64(i, &r[i]);
    return (ray_bytes){r, (size_t)n * sizeof(*r)};
}
RAY_REMOTE(cl_put_many, ray_bytes, int64_t);

static rc_cluster C;
#define head C.head

/* The driver's count of bytes moved `dir` ("pull", "push") and the
 * seconds it took, from its metrics. */
static bool
transfer_count(const char *dir, double *bytes, double *secs)
{
    char *m = NULL, key[96];
    if (ray_metrics(&m) != RAY_OK)
        return false;
    snprintf(key, sizeof(key),
             "rayc_object_transfer_bytes_total{direction=\"%s\"} ", dir);
    const char *b = strstr(m, key);
    snprintf(key, sizeof(key),
             "rayc_object_transfer_seconds_total{direction=\"%s\"} ", dir);
    const char *s = strstr(m, key);
    bool ok = b && s;
    if (ok) {
        *bytes = strtod(strchr(b, '}') + 2, NULL);
        *secs = strtod(strchr(s, '}') + 2, NULL);
    }
    ray_free(m);
    return ok;
}

/* The bytes node `ip`'s agent served to other nodes' pulls, as the
 * driver last heard (its metrics; a result from there brings news), or
 * -1. */
static double
served_count(const char *ip)
{
    char *m = NULL, key[96];
    if (ray_metrics(&m) != RAY_OK)
        return -1;
    snprintf(key, sizeof(key), "rayc_object_served_bytes_total{node=\"%s\"} ",
             ip);
    const char *b = strstr(m, key);
    double v = b ? strtod(b + strlen(key), NULL) : -1;
    ray_free(m);
    return v;
}

/* ---- the limits: raw TCP between two processes on loopback ---- */

/* A child process that accepts one connection on 127.0.0.1 and runs
 * `serve` on it (blocking), and this process's end of it (*fd,
 * blocking): the child's pid, or -1. */
static pid_t
tcp_peer(void (*serve)(int fd), int *fd)
{
    int lfd;
    uint16_t port;
    if (rt_tcp_listen("127.0.0.1", 0, &lfd, &port, NULL, 0) != RAY_OK)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int c = -1;
        while (c < 0)
            c = accept(lfd, NULL, NULL);
        int fl = fcntl(c, F_GETFL);
        fcntl(c, F_SETFL, fl & ~O_NONBLOCK);
        serve(c);
        _exit(0);
    }
    close(lfd);
    /* The physical limit: raw TCP, even when the cluster runs over TLS
     * (RAYC_TLS_DIR), whose cost the ratios then show. */
    char *tls = getenv("RAYC_TLS_DIR") ? strdup(getenv("RAYC_TLS_DIR")) : NULL;
    unsetenv("RAYC_TLS_DIR");
    ray_err ce = pid < 0 ? RAY_ECLOSED
                         : rt_tcp_connect("127.0.0.1", port, 3000, fd, NULL, 0);
    if (tls)
        setenv("RAYC_TLS_DIR", tls, 1);
    free(tls);
    if (ce != RAY_OK)
        return -1;
    int fl = fcntl(*fd, F_GETFL);
    fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK);
    return pid;
}

enum { STREAM_CHUNK = 4 << 20 };

static void
sink(int c)
{
    char *buf = malloc(STREAM_CHUNK);
    memset(buf, 0, STREAM_CHUNK);
    while (read(c, buf, STREAM_CHUNK) > 0)
        ;
}

/* GB/s of one TCP stream, 4 MiB writes into 4 MiB reads, median of 3
 * runs of 1 GiB each. */
static double
tcp_stream_gbps(void)
{
    enum { RUNS = 3 };
    const uint64_t total = 1ull << 30;
    int fd;
    pid_t pid = tcp_peer(sink, &fd);
    if (pid < 0)
        return -1;
    char *buf = malloc(STREAM_CHUNK);
    memset(buf, 1, STREAM_CHUNK);
    double runs[RUNS];
    for (int r = 0; r < RUNS; r++) {
        int64_t t0 = rt_clock_now_ns();
        for (uint64_t sent = 0; sent < total;) {
            ssize_t n = write(fd, buf, STREAM_CHUNK);
            if (n <= 0)
                return -1;
            sent += (uint64_t)n;
        }
        runs[r] = (double)total / (double)(rt_clock_now_ns() - t0);
    }
    close(fd);
    free(buf);
    waitpid(pid, NULL, 0);
    return bench_median(runs, RUNS);
}

static void
echo(int c)
{
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char b;
    while (read(c, &b, 1) == 1 && write(c, &b, 1) == 1)
        ;
}

/* A TCP round trip of one byte, median of 5 runs. */
static double
tcp_rtt_us(void)
{
    enum { ROUNDS = 20000 };
    int fd;
    pid_t pid = tcp_peer(echo, &fd);
    if (pid < 0)
        return -1;
    double runs[5];
    char b = 'x';
    for (int r = 0; r < 5; r++) {
        int64_t t0 = rt_clock_now_ns();
        for (int i = 0; i < ROUNDS / 5; i++)
            if (write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1)
                return -1;
        runs[r] = (double)(rt_clock_now_ns() - t0) / 1e3 / (ROUNDS / 5);
    }
    close(fd);
    waitpid(pid, NULL, 0);
    return bench_median(runs, 5);
}

/* ---- the cluster ---- */

/* Dead nodes the GCS reports now (and *alive the others), or -1. */
static int
count_nodes(int *alive)
{
    uint8_t tok[RT_TOKEN_LEN];
    char tpath[PATH_MAX];
    rt_token_path(NULL, tpath, sizeof(tpath));
    int fd = -1, dead = -1;
    ProtobufCMessage *m = NULL;
    Ray__Rpc__GetAllNodesRequest q = RAY__RPC__GET_ALL_NODES_REQUEST__INIT;
    if (rt_token_load(tpath, tok, NULL, 0) == RAY_OK &&
        rt_dial(head, tok, "bench", &fd, NULL, 0) == RAY_OK &&
        rt_net_call(fd, RAY__RPC__MESSAGE_TYPE__MSG_GET_ALL_NODES_REQUEST,
                    &q.base, RAY__RPC__MESSAGE_TYPE__MSG_GET_ALL_NODES_REPLY,
                    &m, 2000, NULL, 0) == RAY_OK) {
        Ray__Rpc__GetAllNodesReply *r = (Ray__Rpc__GetAllNodesReply *)m;
        dead = 0;
        for (size_t i = 0; i < r->n_nodes; i++)
            dead += r->nodes[i]->state == RAY__RPC__NODE_STATE__NODE_STATE_DEAD;
        if (alive)
            *alive = (int)r->n_nodes - dead;
        rt_proto_free(m);
    }
    if (fd >= 0)
        close(fd);
    return dead;
}

static void
down(void)
{
    ray_shutdown();
    rc_close(&C);
}

void
bench_group_cluster(void)
{
    double rtt = tcp_rtt_us();
    bench_print("limit_tcp_rtt_us", rtt, "us");
    /* 1: every cluster connection below runs over TLS (RAYC_TLS_DIR). */
    bench_print("cluster_tls", getenv("RAYC_TLS_DIR") ? 1 : 0, "bool");
    if (!rc_open(&C, "clusterbench")) {
        fprintf(stderr, "cluster: skipped\n");
        return;
    }
    if (rc_rayc(&C, "start", "--head", "--port=0", "--num-cpus=1",
                "--dashboard-port=0", NULL) != 0 ||
        !rc_read_head(&C)) {
        fprintf(stderr, "cluster: the head did not start: %s\n", rc_out(&C));
        down();
        return;
    }
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    double join[2];
    const char *ips[2] = {"--node-ip-address=127.0.0.2",
                          "--node-ip-address=127.0.0.3"};
    for (int i = 0; i < 2; i++) {
        int64_t t0 = rt_clock_now_ns();
        if (rc_rayc(&C, "start", addr, ips[i], "--resources=remote=1000000000",
                    "--object-store-memory=3758096384", NULL) != 0) {
            fprintf(stderr, "cluster: a node did not start\n");
            down();
            return;
        }
        join[i] = (double)(rt_clock_now_ns() - t0) / 1e6;
    }
    bench_print("cluster_node_join_ms", bench_median(join, 2), "ms");

    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 1;
    c.address = head;
    c.object_store_bytes = 5ull << 29; /* a 1 GiB put and a 1 GiB pull */
    ray_call_opts remote = {.resources = "remote:1"};
    int64_t v = -1;
    /* ray_init with an address until a task on another node answered:
     * the first driver of a fresh cluster ships its executable to the
     * nodes and starts their agents; the next ones (300 ms apart, as a
     * program run again) find it cached and take each node's standby
     * agent, already running. The median of 5 of those. */
    double connect[6];
    for (int k = 0; k < 6; k++) {
        int64_t t0 = rt_clock_now_ns();
        if (ray_init(&c) != RAY_OK ||
            ray_get_int64(cl_noop_remote_opts(&remote, 7), &v, 60000) !=
                RAY_OK ||
            v != 7) {
            fprintf(stderr, "cluster: the driver could not run a task: %s\n",
                    ray_last_error_detail());
            down();
            return;
        }
        connect[k] = (double)(rt_clock_now_ns() - t0) / 1e6;
        if (k < 5) {
            ray_shutdown();
            usleep(300000);
        }
    }
    bench_print("cluster_driver_first_connect_ms", connect[0], "ms");
    bench_print("cluster_driver_connect_ms", bench_median(connect + 1, 5),
                "ms");

    /* One call at a time, forced onto another node. */
    enum { SYNC = 2000 };
    static double lat[SYNC];
    for (int i = 0; i < SYNC; i++) {
        int64_t s = rt_clock_now_ns();
        ray_ref r = cl_noop_remote_opts(&remote, i);
        ray_get_int64(r, &v, 60000);
        ray_ref_release(r);
        lat[i] = (double)(rt_clock_now_ns() - s) / 1e3;
    }
    double sync_us = bench_median(lat, SYNC);
    bench_print("cluster_tasks_sync_us", sync_us, "us");
    bench_print("cluster_tasks_sync_vs_tcp_rtt", sync_us / rtt, "x");

    /* ray_get of small values another node's runtime owns: refs a task
     * there put and handed back (each get asks the owner once). */
    enum { BORROWED = 2000 };
    ray_bytes handed = {NULL, 0};
    ray_ref hr = cl_put_many_remote_opts(&remote, BORROWED);
    if (ray_get_bytes(hr, (void **)&handed.data, &handed.len, 60000) ==
            RAY_OK &&
        handed.len == BORROWED * sizeof(ray_ref)) {
        const ray_ref *br = handed.data;
        for (int i = 0; i < BORROWED; i++) {
            int64_t s = rt_clock_now_ns();
            ray_get_int64(br[i], &v, 60000);
            lat[i] = (double)(rt_clock_now_ns() - s) / 1e3;
            ray_ref_release(br[i]);
        }
        double get_us = bench_median(lat, BORROWED);
        bench_print("cluster_get_remote_small_us", get_us, "us");
        bench_print("cluster_get_remote_small_vs_tcp_rtt", get_us / rtt, "x");
    }
    ray_free((void *)handed.data);
    ray_ref_release(hr);

    /* Many in flight, to workers on the two other nodes. */
    enum { ASYNC = 100000, ROUNDS = 3 };
    static ray_ref refs[ASYNC];
    double rates[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        int64_t s = rt_clock_now_ns();
        for (int i = 0; i < ASYNC; i++)
            refs[i] = cl_noop_remote_opts(&remote, i);
        bool ok = true;
        for (int i = 0; i < ASYNC; i++) {
            ok &= ray_get_int64(refs[i], &v, 120000) == RAY_OK && v == i;
            ray_ref_release(refs[i]);
        }
        rates[round] = ok ? ASYNC / ((double)(rt_clock_now_ns() - s) / 1e9) : 0;
    }
    bench_print("cluster_tasks_async", bench_median(rates, ROUNDS), "tasks/s");

    /* An actor on another node: calls one at a time, then many. */
    ray_actor_opts ao = {.node = "127.0.0.2"};
    ray_actor acc;
    if (cl_acc_create(&acc, &ao, 0) == RAY_OK &&
        ray_actor_wait_ready(acc, 60000) == RAY_OK) {
        for (int i = 0; i < SYNC; i++) {
            int64_t s = rt_clock_now_ns();
            ray_ref r = cl_acc_add_remote(acc, 1);
            ray_get_int64(r, &v, 60000);
            ray_ref_release(r);
            lat[i] = (double)(rt_clock_now_ns() - s) / 1e3;
        }
        double a_us = bench_median(lat, SYNC);
        bench_print("cluster_actor_calls_sync_us", a_us, "us");
        bench_print("cluster_actor_calls_sync_vs_tcp_rtt", a_us / rtt, "x");
        for (int round = 0; round < ROUNDS; round++) {
            int64_t s = rt_clock_now_ns();
            for (int i = 0; i < ASYNC; i++)
                refs[i] = cl_acc_add_remote(acc, 1);
            bool ok = true;
            for (int i = 0; i < ASYNC; i++) {
                ok &= ray_get_int64(refs[i], &v, 120000) == RAY_OK;
                ray_ref_release(refs[i]);
            }
            rates[round] =
                ok ? ASYNC / ((double)(rt_clock_now_ns() - s) / 1e9) : 0;
        }
        bench_print("cluster_actor_calls_async", bench_median(rates, ROUNDS),
                    "calls/s");
        ray_actor_release(acc);
    }

    /* Placement groups on the other nodes (Ray's placement_group_create/
     * removal): two 1-CPU bundles needing "remote" (so never here),
     * created, ready and removed, one group at a time; 3 rounds of 500.
     * Each is planned by the driver, reserved on a node's agent (one
     * round trip) and removed there. */
    ray_bundle pgb[2] = {{.num_cpus = 1, .resources = "remote:1"},
                         {.num_cpus = 1, .resources = "remote:1"}};
    double pgr[ROUNDS];
    bool pg_ok = true;
    for (int round = 0; round < ROUNDS && pg_ok; round++) {
        int64_t s = rt_clock_now_ns();
        for (int i = 0; i < 500 && pg_ok; i++) {
            ray_pg pg;
            pg_ok = ray_pg_create(pgb, 2, RAY_PG_PACK, NULL, &pg) == RAY_OK &&
                    ray_pg_wait(pg, 60000) == RAY_OK &&
                    ray_pg_remove(pg) == RAY_OK;
        }
        pgr[round] = 500 / ((double)(rt_clock_now_ns() - s) / 1e9);
    }
    if (pg_ok) {
        double pgs = bench_median(pgr, ROUNDS);
        bench_print("placement_group_create_per_s", pgs, "groups/s");
        bench_print("placement_group_create_vs_tcp_rtt", 1e6 / pgs / rtt, "x");
    } else {
        fprintf(stderr, "cluster: placement groups: %s\n",
                ray_last_error_detail());
    }

    /* A 1 GiB value between stores: made on node .2 and got here (the
     * pull, two streams), then a 1 GiB put here passed to a call on .2
     * (the push, one stream). The rate is the driver's own count (its
     * metrics rayc_object_transfer_*: from room in the store to the last
     * byte), not the calls' time, which on this VM is mostly the worker
     * faulting in 1 GiB of fresh memory. Each the median of 3. */
    double tcp = tcp_stream_gbps();
    bench_print("limit_tcp_loopback_gigabytes", tcp, "GB/s");
    ray_call_opts on2 = {.node = "127.0.0.2"};
    const int64_t GIB = 1ll << 30;
    double pull[3], push[3];
    void *ones = malloc((size_t)GIB);
    if (ones)
        memset(ones, 1, (size_t)GIB);
    bool moved = ones != NULL;
    for (int r = 0; r < 3 && moved; r++) {
        ray_ref big = RAY_REF_NULL; /* fresh: a node keeps what it got */
        moved &= ray_put_bytes(ones, (size_t)GIB, &big) == RAY_OK;
        double b0, s0, b1, s1;
        moved &= transfer_count("pull", &b0, &s0);
        ray_view view;
        ray_ref got = cl_make_remote_opts(&on2, GIB);
        moved &=
            ray_get(got, &view, 120000) == RAY_OK && view.len == (size_t)GIB;
        if (moved)
            ray_release(&view);
        ray_ref_release(got);
        moved &= transfer_count("pull", &b1, &s1);
        pull[r] = (b1 - b0) / (s1 - s0) / 1e9;
        moved &= transfer_count("push", &b0, &s0);
        moved &= ray_get_int64(RAY_CALL_OPTS(cl_len, &on2, big), &v, 120000) ==
                     RAY_OK &&
                 v == GIB;
        moved &= transfer_count("push", &b1, &s1);
        push[r] = (b1 - b0) / (s1 - s0) / 1e9;
        ray_ref_release(big);
    }

    /* A broadcast: a fresh 1 GiB put given to a call on each of three
     * other nodes at once. It goes once to the first node, and the
     * others pull it from there (transfer.h). */
    const char *ip4 = "--node-ip-address=127.0.0.4";
    ray_call_opts on[3] = {
        {.node = "127.0.0.2"}, {.node = "127.0.0.3"}, {.node = "127.0.0.4"}};
    double bcast[3], sends[3]; /* the most one node sent it, in copies */
    bool sent = moved && ones &&
                rc_rayc(&C, "start", addr, ip4, "--resources=remote=1000000000",
                        "--object-store-memory=3758096384", NULL) == 0;
    for (int k = 0; sent && k < 200; k++) { /* until the driver has it */
        ray_ref r = cl_noop_remote_opts(&on[2], 1);
        if (r.id && ray_get_int64(r, &v, 10000) == RAY_OK)
            break;
        usleep(50000);
    }
    for (int r = 0; r < 3 && sent; r++) {
        ray_ref put = RAY_REF_NULL, got[3];
        sent &= ray_put_bytes(ones, (size_t)GIB, &put) == RAY_OK;
        double s0[3];
        for (int n = 0; n < 3; n++)
            s0[n] = served_count(on[n].node);
        int64_t t0 = rt_clock_now_ns();
        for (int n = 0; n < 3 && sent; n++)
            got[n] = RAY_CALL_OPTS(cl_len, &on[n], put);
        for (int n = 0; n < 3 && sent; n++)
            sent &= ray_get_int64(got[n], &v, 120000) == RAY_OK && v == GIB;
        bcast[r] = (double)(rt_clock_now_ns() - t0) / 1e9;
        ray_ref_release(put);
        sends[r] = 1; /* the driver's push to the first */
        for (int n = 0; n < 3 && sent; n++) {
            /* a call there brings its latest count */
            sent &= ray_get_int64(cl_noop_remote_opts(&on[n], 1), &v, 10000) ==
                    RAY_OK;
            double d = (served_count(on[n].node) - s0[n]) / (double)GIB;
            sends[r] = d > sends[r] ? d : sends[r];
        }
    }
    free(ones);
    if (sent && moved) {
        double b = bench_median(bcast, 3);
        bench_print("cluster_broadcast_1GiB_s", b, "s");
        bench_print("cluster_broadcast_gigabytes", 3.0 * (double)GIB / 1e9 / b,
                    "GB/s");
        /* Relays: no node sends it more than once (Ray's pulls from the
         * one copy: the source sends it to each of the 3). */
        bench_print("cluster_broadcast_max_node_sends", bench_median(sends, 3),
                    "copies");
        if (moved) /* against one 1 GiB transfer's time, same run */
            bench_print("cluster_broadcast_vs_one_transfer",
                        b / ((double)GIB / 1e9 / bench_median(pull, 3)), "x");
    } else {
        fprintf(stderr, "cluster: the broadcast did not run: %s\n",
                ray_last_error_detail());
    }
    if (moved) {
        double g = bench_median(pull, 3), p = bench_median(push, 3);
        bench_print("cluster_object_transfer_gigabytes", g, "GB/s");
        bench_print("cluster_object_transfer_vs_tcp", g / tcp, "x");
        bench_print("cluster_object_push_gigabytes", p, "GB/s");
        bench_print("cluster_object_push_vs_tcp", p / tcp, "x");
    } else {
        fprintf(stderr, "cluster: a 1 GiB value did not move: %s\n",
                ray_last_error_detail());
    }

    /* kill -9 of a raylet -> the GCS declares its node dead. */
    pid_t victim = rc_daemon_pid(&C, "127.0.0.3");
    if (victim > 0 && kill(victim, SIGKILL) == 0) {
        int64_t s = rt_clock_now_ns();
        while (count_nodes(NULL) < 1 && rt_clock_now_ns() - s < 30000000000LL)
            usleep(2000);
        bench_print("cluster_node_death_detect_s",
                    (double)(rt_clock_now_ns() - s) / 1e9, "s");
    }
    down();
}

/* ---- the faults group ---- */

/* Seconds until `done` holds, polled every 2 ms for at most 30 s; -1 if
 * it never did. */
static double
seconds_until(bool (*done)(void *), void *arg)
{
    int64_t s = rt_clock_now_ns();
    while (!done(arg)) {
        if (rt_clock_now_ns() - s > 30000000000LL)
            return -1;
        usleep(2000);
    }
    return (double)(rt_clock_now_ns() - s) / 1e9;
}

static bool
parked_at_least(void *n)
{
    ray_stats st;
    return ray_get_stats(&st) == RAY_OK && st.objects_parked >= *(uint64_t *)n;
}

static bool
parked_at_most(void *n)
{
    ray_stats st;
    return ray_get_stats(&st) == RAY_OK && st.objects_parked <= *(uint64_t *)n;
}

/* Lineage's cost: 200 results of 1 MiB parked on .2 and .3 (none pulled
 * here), what the driver keeps to make them again, per result; then all
 * released, what is left. */
static void
lineage_cost(void)
{
    enum { N = 200 };
    ray_call_opts pool = {.resources = "remote:1"};
    ray_ref r[N];
    ray_stats st0, st1;
    ray_get_stats(&st0);
    for (int i = 0; i < N; i++)
        r[i] = cl_make_remote_opts(&pool, 1 << 20);
    uint64_t want = st0.objects_parked + N;
    bool parked = seconds_until(parked_at_least, &want) >= 0;
    ray_get_stats(&st1);
    for (int i = 0; i < N; i++)
        ray_ref_release(r[i]);
    if (!parked) {
        fprintf(stderr, "faults: the 200 results did not all park\n");
        return;
    }
    bench_print("lineage_bytes_per_parked_result",
                (double)(st1.lineage_bytes - st0.lineage_bytes) / N, "B");
    want = st0.objects_parked;
    seconds_until(parked_at_most, &want);
    ray_get_stats(&st1);
    bench_print("lineage_bytes_after_release",
                (double)(st1.lineage_bytes - st0.lineage_bytes), "B");
}

static bool
dead_at_least(void *n)
{
    return count_nodes(NULL) >= *(int *)n;
}

static bool
alive_at_least(void *n)
{
    int alive = 0;
    return count_nodes(&alive) >= 0 && alive >= *(int *)n;
}

/* A new actor on another node answers (the driver reached the head and
 * the node again). */
static bool
actor_answers(void *arg)
{
    (void)arg;
    ray_actor_opts o = {.resources = "remote:1"};
    ray_actor a;
    int64_t v = -1;
    bool ok = cl_acc_create(&a, &o, 41) == RAY_OK &&
              ray_get_int64(cl_acc_add_remote(a, 1), &v, 10000) == RAY_OK &&
              v == 42;
    if (a.id)
        ray_actor_kill(a, true);
    ray_actor_release(a);
    return ok;
}

/* Failures and the time to see them or recover, on a loopback cluster of
 * a head and three nodes. The limit: the GCS's heartbeat deadline
 * (GCS_DEADLINE_MS), after which a silent node is declared dead. */
void
bench_group_faults(void)
{
    double deadline_s = 3.0; /* GCS_DEADLINE_MS, rayc's default */
    bench_print("limit_heartbeat_deadline_s", deadline_s, "s");
    if (!rc_open(&C, "faultsbench")) {
        fprintf(stderr, "faults: skipped\n");
        return;
    }
    if (rc_rayc(&C, "start", "--head", "--port=0", "--num-cpus=1",
                "--dashboard-port=-1", NULL) != 0 ||
        !rc_read_head(&C)) {
        fprintf(stderr, "faults: the head did not start: %s\n", rc_out(&C));
        down();
        return;
    }
    char addr[160], port[32];
    snprintf(addr, sizeof(addr), "--address=%s", head);
    snprintf(port, sizeof(port), "--port=%s", strrchr(head, ':') + 1);
    const char *ips[3] = {"--node-ip-address=127.0.0.2",
                          "--node-ip-address=127.0.0.3",
                          "--node-ip-address=127.0.0.4"};
    for (int i = 0; i < 3; i++)
        if (rc_rayc(&C, "start", addr, ips[i], "--num-cpus=1",
                    "--resources=remote=1000000000", NULL) != 0) {
            fprintf(stderr, "faults: a node did not start: %s\n", rc_out(&C));
            down();
            return;
        }
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 1;
    c.address = head;
    if (ray_init(&c) != RAY_OK || !actor_answers(NULL)) {
        fprintf(stderr, "faults: the driver could not run an actor: %s\n",
                ray_last_error_detail());
        down();
        return;
    }

    lineage_cost(); /* (nothing parked before) */

    /* A chain of 4 calls, each making 256 MiB from the last, after one
     * on .4 (soft: elsewhere once it is dead) that makes the first. The
     * values stay parked on .4, and each next call goes beside its
     * argument (none is pulled here): the chain is done when a call there
     * has read its last value. */
    enum { LINK = 256 << 20, LINKS = 4 };
    ray_call_opts on4 = {.node = "127.0.0.4", .node_soft = true};
    ray_call_opts near = {.resources = "remote:1"}; /* not the driver's */
    ray_ref chain[LINKS + 1];
    int64_t t0 = rt_clock_now_ns();
    chain[0] = cl_make_remote_opts(&on4, LINK);
    for (int i = 1; i <= LINKS; i++)
        chain[i] = RAY_CALL_OPTS(cl_step, &near, chain[i - 1]);
    int64_t len = 0;
    bool done = ray_get_int64(RAY_CALL_OPTS(cl_len, &near, chain[LINKS]), &len,
                              120000) == RAY_OK &&
                len == LINK;
    double chain_s = (double)(rt_clock_now_ns() - t0) / 1e9;
    ray_stats st0;
    ray_get_stats(&st0);

    /* kill -9 of a raylet: its connection to the GCS closes at once. */
    int one = 1, two = 2, three = 3;
    pid_t p4 = rc_daemon_pid(&C, "127.0.0.4");
    if (p4 > 0 && kill(p4, SIGKILL) == 0)
        bench_print("node_death_detect_s", seconds_until(dead_at_least, &one),
                    "s");
    /* The chain's node is gone, and every value of the chain with it:
     * its last value, got now, is made again by running the chain again
     * elsewhere (lineage), then pulled here. The limit: the first run
     * (which pulled nothing). */
    if (done) {
        int64_t g0 = rt_clock_now_ns();
        ray_view v;
        bool ok = ray_get(chain[LINKS], &v, 120000) == RAY_OK &&
                  v.len == LINK &&
                  ((const uint8_t *)v.data)[LINK - 1] == 1 + LINKS;
        double got_s = (double)(rt_clock_now_ns() - g0) / 1e9;
        if (ok)
            ray_release(&v);
        ray_stats st1;
        ray_get_stats(&st1);
        bench_print("reconstruct_1GiB_chain_s", ok ? got_s : -1, "s");
        bench_print("reconstruct_chain_first_run_s", chain_s, "s");
        bench_print("reconstruct_vs_first_run", ok ? got_s / chain_s : -1, "x");
        bench_print("reconstruct_objects_rebuilt",
                    (double)(st1.objects_rebuilt - st0.objects_rebuilt),
                    "objects");
    }
    for (int i = 0; i <= LINKS; i++)
        ray_ref_release(chain[i]);

    /* A hung node (SIGSTOP): silent, its connection open, so only the
     * deadline finds it. Then it runs again. */
    pid_t p3 = rc_daemon_pid(&C, "127.0.0.3");
    if (p3 > 0 && kill(p3, SIGSTOP) == 0) {
        double t = seconds_until(dead_at_least, &two);
        kill(p3, SIGCONT);
        bench_print("partition_detect_s", t, "s");
        bench_print("partition_detect_vs_deadline", t / deadline_s, "x");
    }

    /* kill -9 of the head, and a new one on its port (from its store):
     * from when the new head is up until every node is back and a new
     * actor on another node answers the driver. */
    pid_t hp = rc_daemon_pid(&C, "head");
    if (hp > 0 && kill(hp, SIGKILL) == 0) {
        int rc = 1;
        for (int k = 0; k < 100 && rc != 0; k++) { /* until the port is free */
            rc = rc_rayc(&C, "start", "--head", port, "--num-cpus=1",
                         "--dashboard-port=-1", NULL);
            if (rc != 0)
                usleep(50000);
        }
        if (rc != 0) {
            fprintf(stderr, "faults: the head did not start again: %s\n",
                    rc_out(&C));
        } else {
            /* The head, .2 and .3 (.4 stays dead). */
            int64_t s = rt_clock_now_ns();
            bool ok = seconds_until(alive_at_least, &three) >= 0 &&
                      seconds_until(actor_answers, NULL) >= 0;
            bench_print("head_restart_recover_s",
                        ok ? (double)(rt_clock_now_ns() - s) / 1e9 : -1, "s");
        }
    }
    down();
    bench_faults_chaos();
}

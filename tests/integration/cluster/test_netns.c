/* SPDX-License-Identifier: Apache-2.0
 *
 * test_netns.c: a cluster whose two nodes live in network namespaces
 * this test makes (ip netns), joined by a veth pair with addresses only
 * inside them (10.254.N.1 and .2): nothing may rely on loopback. The
 * driver enters the head's namespace. The namespaces and the daemons are
 * removed in the teardown, even when a test fails; where namespaces
 * cannot be made (no root, no ip), the test is skipped, saying why.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ray/ray.h"
#include "runtime/ids.h"
#include "runtime/net.h"
#include "tests/integration/common/cluster.h"

static rc_cluster C;
#define tmp C.tmp
#define rayc_bin C.rayc
#define head C.head
static char ns_a[32], ns_b[32], ip_a[32], ip_b[32], veth_b[32];
static char why_skip[256];

static char *
where(int64_t x)
{
    const char *ip = getenv("RAYC_NODE_IP");
    char *s = malloc(64);
    snprintf(s, 64, "%s %lld", ip ? ip : "driver", (long long)x);
    return s;
}
RAY_REMOTE(where, char *, int64_t);

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void
up(void)
{
    int id = (int)getpid();
    snprintf(ns_a, sizeof(ns_a), "rayc-%d-a", id);
    snprintf(ns_b, sizeof(ns_b), "rayc-%d-b", id);
    snprintf(ip_a, sizeof(ip_a), "10.254.%d.1", id % 250);
    snprintf(ip_b, sizeof(ip_b), "10.254.%d.2", id % 250);
    cr_assert(rc_open(&C, "netnstest"));
    if (geteuid() != 0 || sh("ip netns add %s 2>/dev/null", ns_a) != 0) {
        snprintf(why_skip, sizeof(why_skip),
                 "network namespaces unavailable here (needs root and "
                 "iproute2's ip netns)");
        return;
    }
    snprintf(veth_b, sizeof(veth_b), "rcb%d", id);
    int rc = sh("ip netns add %s", ns_b);
    rc |= sh("ip link add rca%d type veth peer name rcb%d", id, id);
    rc |= sh("ip link set rca%d netns %s && ip link set rcb%d netns %s", id,
             ns_a, id, ns_b);
    rc |= sh("ip -n %s addr add %s/24 dev rca%d && ip -n %s link set rca%d up "
             "&& ip -n %s link set lo up",
             ns_a, ip_a, id, ns_a, id, ns_a);
    rc |= sh("ip -n %s addr add %s/24 dev rcb%d && ip -n %s link set rcb%d up "
             "&& ip -n %s link set lo up",
             ns_b, ip_b, id, ns_b, id, ns_b);
    if (rc != 0) {
        snprintf(why_skip, sizeof(why_skip),
                 "could not make the namespaces' veth pair");
        return;
    }
    cr_assert_eq(sh("ip netns exec %s %s start --head --port=0 --num-cpus=1 "
                    "--node-ip-address=%s >%s/out 2>&1",
                    ns_a, rayc_bin, ip_a, tmp),
                 0);
    cr_assert(rc_read_head(&C));
    /* No --node-ip-address: the node advertises the address it reaches
     * the head from (ip_b). */
    cr_assert_eq(sh("ip netns exec %s %s start --address=%s --num-cpus=2 "
                    ">>%s/out 2>&1",
                    ns_b, rayc_bin, head, tmp),
                 0);
}

static void
down(void)
{
    ray_shutdown();
    rc_close(&C);
    if (ns_a[0]) {
        sh("ip netns del %s 2>/dev/null", ns_a); /* takes the veth along */
        sh("ip netns del %s 2>/dev/null", ns_b);
    }
}

/* This process enters the head's namespace and joins as a driver. */
static void
driver_in_ns_a(void)
{
    char path[64];
    snprintf(path, sizeof(path), "/var/run/netns/%s", ns_a);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns");
    close(fd);
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 1;
    c.address = head;
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
}

TestSuite(netns, .init = up, .fini = down, .timeout = 120);

Test(netns, a_driver_in_one_namespace_runs_tasks_on_a_node_in_another)
{
    if (why_skip[0])
        cr_skip_test("%s", why_skip);
    driver_in_ns_a();
    ray_call_opts o = {.node = ip_b};
    for (int i = 0; i < 5; i++) {
        char *s = NULL;
        cr_assert_eq(ray_get_str(where_remote_opts(&o, i), &s, 60000), RAY_OK,
                     "%s", ray_last_error_detail());
        char want[64];
        snprintf(want, sizeof(want), "%s %d", ip_b, i);
        cr_assert_str_eq(s, want);
        ray_free(s);
    }
}

/* The counter `what` ("overlimits", "dropped") of the qdisc on the
 * node's side, or -1. */
static long
qdisc_stat(const char *what)
{
    char cmd[256], line[512];
    snprintf(cmd, sizeof(cmd), "ip netns exec %s tc -s qdisc show dev %s", ns_b,
             veth_b);
    FILE *p = popen(cmd, "r");
    long v = -1;
    while (p && fgets(line, sizeof(line), p)) {
        const char *at = strstr(line, what);
        if (at)
            v = strtol(at + strlen(what), NULL, 10);
    }
    if (p)
        pclose(p);
    return v;
}

/* A slow link between the namespaces, on the node's side: netem's delay
 * (30 ms more each way, give or take 5, and 2 % of packets lost) where
 * the kernel has it, else a token bucket (256 kbit/s, a 20 ms queue:
 * packets wait, and past the queue are dropped). Calls take longer and
 * every one still comes back, right. */
Test(netns, a_slow_lossy_link_delays_calls_but_loses_none)
{
    if (why_skip[0])
        cr_skip_test("%s", why_skip);
    bool netem = sh("ip netns exec %s tc qdisc add dev %s root netem delay "
                    "30ms 5ms loss 2%% 2>/dev/null",
                    ns_b, veth_b) == 0;
    if (!netem && sh("ip netns exec %s tc qdisc add dev %s root tbf rate "
                     "256kbit burst 4kb latency 20ms",
                     ns_b, veth_b) != 0)
        cr_skip_test(
            "neither netem nor tbf can shape the link here (iproute2's "
            "tc and the kernel's qdiscs)");
    driver_in_ns_a();
    ray_call_opts o = {.node = ip_b};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    char *s = NULL;
    cr_assert_eq(ray_get_str(where_remote_opts(&o, -1), &s, 60000), RAY_OK,
                 "%s", ray_last_error_detail());
    clock_gettime(CLOCK_MONOTONIC, &b);
    ray_free(s);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
                (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    if (netem) /* its reply crossed the delayed side at least once */
        cr_assert_geq(ms, 25.0, "the delay did not apply: %.1f ms", ms);
    enum { N = 300 };
    ray_ref r[N];
    for (int i = 0; i < N; i++)
        r[i] = where_remote_opts(&o, i);
    for (int i = 0; i < N; i++) {
        s = NULL;
        cr_assert_eq(ray_get_str(r[i], &s, 60000), RAY_OK, "call %d: %s", i,
                     ray_last_error_detail());
        char want[64];
        snprintf(want, sizeof(want), "%s %d", ip_b, i);
        cr_assert_str_eq(s, want);
        ray_free(s);
        ray_ref_release(r[i]);
    }
    if (!netem) /* the bucket did hold packets back */
        cr_assert_gt(qdisc_stat("overlimits"), 0, "the link was not slowed");
    /* The node stayed alive all along (its heartbeats got through). */
    cr_assert_eq(ray_get_str(where_remote_opts(&o, 7), &s, 60000), RAY_OK);
    ray_free(s);
}

/* A call that takes `ms` before it says where it ran. */
static char *
where_after(int64_t x, int64_t ms)
{
    usleep((useconds_t)ms * 1000);
    return where(x);
}
RAY_REMOTE(where_after, char *, int64_t, int64_t);

/* The id of the alive node at `ip` (""), from the head. */
static void
alive_node_at(const char *ip, char id[RAY_NODE_ID_SIZE])
{
    ray_node_info *nodes = NULL;
    size_t n = 0;
    id[0] = 0;
    cr_assert_eq(ray_nodes(&nodes, &n), RAY_OK, "%s", ray_last_error_detail());
    for (size_t k = 0; k < n; k++)
        if (nodes[k].alive && !strncmp(nodes[k].address, ip, strlen(ip)) &&
            nodes[k].address[strlen(ip)] == ':')
            memcpy(id, nodes[k].id, RAY_NODE_ID_SIZE);
    ray_free(nodes);
}

/* The node's side of the veth down (a silent partition: no reset, the
 * packets go nowhere) or up. */
static void
link_set(const char *state)
{
    cr_assert_eq(sh("ip -n %s link set %s %s", ns_b, veth_b, state), 0);
}

/* A partition shorter than the heartbeat deadline (3 s) is ridden out:
 * the node stays the same alive node and its calls come back from it. A
 * longer one gets the node declared dead and its calls run again on the
 * head's node; when the link comes back the node learns it was declared
 * dead and joins again as a new node, and each call has one result (the
 * one run again: the old node's late answers go nowhere). */
Test(
    netns,
    a_partition_shorter_than_the_deadline_is_ridden_out_a_longer_one_moves_the_calls)
{
    if (why_skip[0])
        cr_skip_test("%s", why_skip);
    driver_in_ns_a();
    char before[RAY_NODE_ID_SIZE], after[RAY_NODE_ID_SIZE];
    alive_node_at(ip_b, before);
    cr_assert(before[0], "no alive node at %s", ip_b);
    ray_call_opts o = {.node = ip_b}; /* there only */
    enum { N = 8 };
    ray_ref r[N];
    for (int i = 0; i < N; i++)
        r[i] = where_after_remote_opts(&o, i, 100);
    link_set("down");
    usleep(1000000);
    link_set("up");
    for (int i = 0; i < N; i++) {
        char *s = NULL, want[64];
        cr_assert_eq(ray_get_str(r[i], &s, 60000), RAY_OK, "call %d: %s", i,
                     ray_last_error_detail());
        snprintf(want, sizeof(want), "%s %d", ip_b, i);
        cr_assert_str_eq(s, want, "a 1 s partition moved call %d", i);
        ray_free(s);
        ray_ref_release(r[i]);
    }
    alive_node_at(ip_b, after);
    cr_assert_str_eq(after, before, "a 1 s partition replaced the node");

    /* 6 s: past the deadline. Calls that may run elsewhere move; one
     * pinned there fails. */
    ray_call_opts soft = {.node = ip_b, .node_soft = true};
    for (int i = 0; i < N; i++)
        r[i] = where_after_remote_opts(&soft, i, 1500);
    ray_ref pinned = where_after_remote_opts(&o, 99, 1500);
    link_set("down");
    usleep(6000000);
    alive_node_at(ip_b, after);
    cr_assert_eq(after[0], 0, "the node was not declared dead in 6 s");
    for (int i = 0; i < N; i++) { /* run again on the head's node */
        char *s = NULL;
        cr_assert_eq(ray_get_str(r[i], &s, 60000), RAY_OK, "call %d: %s", i,
                     ray_last_error_detail());
        char ip[32];
        long long v = -1;
        cr_assert_eq(sscanf(s, "%31s %lld", ip, &v), 2, "%s", s);
        cr_assert_eq(v, i);
        cr_assert(strcmp(ip, ip_b) != 0, "call %d ran on the cut-off node", i);
        ray_free(s);
    }
    char *ps = NULL;
    cr_assert_eq(ray_get_str(pinned, &ps, 60000), RAY_EWORKER_DIED, "%s",
                 ray_last_error_detail());
    ray_ref_release(pinned);
    link_set("up");
    for (int k = 0; k < 300 && !after[0]; k++) { /* it joins again */
        usleep(100000);
        alive_node_at(ip_b, after);
    }
    cr_assert(after[0], "the node did not join again after the partition");
    cr_assert_str_neq(after, before, "it came back as the node declared dead");
    for (int i = 0; i < N; i++) { /* one result each, still */
        char *s = NULL;
        cr_assert_eq(ray_get_str(r[i], &s, 1000), RAY_OK);
        cr_assert(strncmp(s, ip_b, strlen(ip_b)) != 0, "call %d: %s", i, s);
        ray_free(s);
        ray_ref_release(r[i]);
    }
    /* And the new node takes calls. */
    ray_call_opts hard = {.node = ip_b};
    char *s = NULL, want[64];
    for (int k = 0; k < 100 && !s; k++) { /* it sees it within a second */
        ray_ref x = where_remote_opts(&hard, 42);
        if (!x.id) { /* RAY_ENOTFOUND: no alive node there yet */
            usleep(50000);
            continue;
        }
        cr_assert_eq(ray_get_str(x, &s, 60000), RAY_OK, "%s",
                     ray_last_error_detail());
        ray_ref_release(x);
    }
    cr_assert_not_null(s, "the driver never saw the node back");
    snprintf(want, sizeof(want), "%s 42", ip_b);
    cr_assert_str_eq(s, want);
    ray_free(s);
}

/* The status code of GET path on hostport, with `auth` as the
 * Authorization header ("" none); -1 when it cannot connect. */
static int
http_get(const char *hostport, const char *path, const char *auth)
{
    char host[RT_HOST_MAX], why[200], req[512], resp[256] = "";
    uint16_t port;
    int fd = -1, code = -1;
    if (rt_addr_parse(hostport, host, &port, why, sizeof(why)) != RAY_OK ||
        rt_tcp_connect(host, port, 3000, &fd, why, sizeof(why)) != RAY_OK)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n%s%s%s\r\n", path,
                     *auth ? "Authorization: " : "", auth, *auth ? "\r\n" : "");
    if (write(fd, req, (size_t)n) == n && read(fd, resp, sizeof(resp) - 1) > 0)
        sscanf(resp, "HTTP/1.%*d %d", &code);
    close(fd);
    return code;
}

/* Bound to an address other machines reach, the head's dashboard wants
 * the cluster token. */
Test(netns, the_dashboard_off_loopback_wants_the_token)
{
    if (why_skip[0])
        cr_skip_test("%s", why_skip);
    char path[PATH_MAX + 32], addr[128] = "";
    snprintf(path, sizeof(path), "/var/run/netns/%s", ns_a);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns");
    close(fd);
    snprintf(path, sizeof(path), "%s/dashboard_address", tmp);
    FILE *f = fopen(path, "r");
    cr_assert(f && fgets(addr, sizeof(addr), f), "no dashboard_address");
    fclose(f);
    addr[strcspn(addr, "\n")] = 0;
    cr_assert(!strncmp(addr, ip_a, strlen(ip_a)), "bound to %s", addr);
    uint8_t tok[RT_TOKEN_LEN];
    char why[300], hex[2 * RT_TOKEN_LEN + 1], auth[160];
    cr_assert_eq(
        rt_token_load(getenv("RAYC_TOKEN_FILE"), tok, why, sizeof(why)), RAY_OK,
        "%s", why);
    rt_id_hex_encode(tok, RT_TOKEN_LEN, hex);
    cr_assert_eq(http_get(addr, "/metrics", ""), 401);
    snprintf(auth, sizeof(auth), "Bearer %064d", 0);
    cr_assert_eq(http_get(addr, "/metrics", auth), 401, "a wrong token");
    snprintf(auth, sizeof(auth), "Bearer %s", hex);
    cr_assert_eq(http_get(addr, "/metrics", auth), 200);
    char q[200];
    snprintf(q, sizeof(q), "/api/status?token=%s", hex);
    cr_assert_eq(http_get(addr, q, ""), 200);
}

/* A node started without --node-ip-address learns its address only when
 * it reaches the head; its log is named with that address, so `rayc logs`
 * on the head's machine lists it under that node and reads it. */
Test(netns, rayc_logs_reads_a_node_that_found_its_own_address)
{
    if (why_skip[0])
        cr_skip_test("%s", why_skip);
    cr_assert_eq(
        sh("ip netns exec %s %s logs >%s/out 2>&1", ns_a, rayc_bin, tmp), 0,
        "%s", rc_out(&C));
    char file[48], addr[48];
    snprintf(file, sizeof(file), "node-%s-", ip_b);
    snprintf(addr, sizeof(addr), "  %s:", ip_b);
    const char *row = strstr(rc_out(&C), addr);
    cr_assert(row && strstr(row, file), "%s", rc_out(&C));
    cr_assert_eq(sh("ip netns exec %s %s logs --node=%s >%s/out 2>&1", ns_a,
                    rayc_bin, ip_b, tmp),
                 0, "%s", rc_out(&C));
    char want[64];
    snprintf(want, sizeof(want), "listening on %s:", ip_b);
    cr_assert(strstr(rc_out(&C), want), "%s", rc_out(&C));
}

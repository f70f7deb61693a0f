/* SPDX-License-Identifier: Apache-2.0
 *
 * test_tls.c: a loopback cluster (a head and two nodes, real processes)
 * with RAYC_TLS_DIR set for every process, its certificates made by
 * scripts/tls-certs: calls, a large value each way and a borrowed ref go
 * through TLS; nothing answers in clear on the head's port or a node's;
 * a rayc without TLS, or whose certificate another authority signed, is
 * refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ray/ray.h"
#include "runtime/net.h"
#include "tests/integration/common/cluster.h"

static rc_cluster C;
static char certs[4200], other[4200];

static bool
make_certs(const char *dir)
{
    const char *script = getenv("TLS_CERTS");
    char cmd[9000];
    snprintf(cmd, sizeof(cmd), "bash '%s' '%s' 2 >/dev/null",
             script ? script : "scripts/tls-certs", dir);
    return system(cmd) == 0;
}

static void
tls_up(void)
{
    cr_assert(rc_open(&C, "tlstest"));
    snprintf(certs, sizeof(certs), "%s/tls", C.tmp);
    snprintf(other, sizeof(other), "%s/other-ca", C.tmp);
    cr_assert(make_certs(certs) && make_certs(other),
              "scripts/tls-certs failed (is the openssl program there?)");
    setenv("RAYC_TLS_DIR", certs, 1); /* every process from here on */
    cr_assert_eq(rc_rayc(&C, "start", "--head", "--port=0", "--num-cpus=1",
                         "--dashboard-port=0", NULL),
                 0, "%s", rc_out(&C));
    cr_assert(rc_read_head(&C));
    char addr[160];
    snprintf(addr, sizeof(addr), "--address=%s", C.head);
    cr_assert_eq(rc_rayc(&C, "start", addr, "--node-ip-address=127.0.0.2",
                         "--num-cpus=2", NULL),
                 0, "%s", rc_out(&C));
    cr_assert_eq(rc_rayc(&C, "start", addr, "--node-ip-address=127.0.0.3",
                         "--num-cpus=2", NULL),
                 0, "%s", rc_out(&C));
}

static void
tls_down(void)
{
    ray_shutdown();
    setenv("RAYC_TLS_DIR", certs, 1);
    bool clean = !C.tmp[0] || rc_logs_clean(&C);
    rc_close(&C);
    cr_assert(clean, "a daemon's log holds a sanitizer report (above)");
}

TestSuite(tls, .init = tls_up, .fini = tls_down, .timeout = 120);

static ray_bytes
tls_fill(int64_t n, int64_t seed)
{
    uint8_t *p = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + seed);
    return (ray_bytes){p, (size_t)n};
}
RAY_REMOTE(tls_fill, ray_bytes, int64_t, int64_t);

/* -1 if b is tls_fill(b.len, seed), else the first index that differs. */
static int64_t
tls_check(ray_bytes b, int64_t seed)
{
    for (size_t i = 0; i < b.len; i++)
        if (((const uint8_t *)b.data)[i] != (uint8_t)(i * 31 + seed))
            return (int64_t)i;
    return -1;
}
RAY_REMOTE(tls_check, int64_t, ray_bytes, int64_t);

/* The sum of the int refs packed in refs (borrowed here). */
static int64_t
tls_sum(ray_bytes refs)
{
    const ray_ref *r = refs.data;
    int64_t s = 0, v = 0;
    for (size_t i = 0; i < refs.len / sizeof(*r); i++)
        if (ray_get_int64(r[i], &v, 30000) == RAY_OK)
            s += v;
    return s;
}
RAY_REMOTE(tls_sum, int64_t, ray_bytes);

static void
driver_up(void)
{
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 1;
    c.address = C.head;
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
}

Test(tls, calls_values_and_borrowed_refs_cross_nodes_over_tls)
{
    driver_up();
    enum { BIG = 24 << 20 };
    ray_call_opts on2 = {.node = "127.0.0.2"}, on3 = {.node = "127.0.0.3"};
    /* Made on .2 and pulled here, then read on .3 (from .2's copy). */
    ray_ref v = tls_fill_remote_opts(&on2, BIG, 7);
    void *p = NULL;
    size_t len = 0;
    cr_assert_eq(ray_get_bytes(v, &p, &len, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(len, (size_t)BIG);
    cr_assert_eq(tls_check((ray_bytes){p, len}, 7), -1);
    ray_free(p);
    int64_t at = 0;
    ray_ref c = RAY_CALL_OPTS(tls_check, &on3, v, (int64_t)7);
    cr_assert_eq(ray_get_int64(c, &at, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(at, -1);
    /* A put pushed from here to .3. */
    ray_bytes b = tls_fill(BIG, 9);
    ray_ref put;
    cr_assert_eq(ray_put_bytes(b.data, b.len, &put), RAY_OK);
    free((void *)b.data);
    ray_ref c2 = RAY_CALL_OPTS(tls_check, &on3, put, (int64_t)9);
    cr_assert_eq(ray_get_int64(c2, &at, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(at, -1);
    /* Refs of this driver read on .2 through its agent's ask. */
    ray_ref r[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(ray_put_int64(10 + i, &r[i]), RAY_OK);
    int64_t sum = 0;
    ray_ref s = RAY_CALL_OPTS(tls_sum, &on2, ((ray_bytes){r, sizeof(r)}));
    cr_assert_eq(ray_get_int64(s, &sum, 60000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(sum, 33);
}

/* What a raw TCP client gets from `addr` in 1 s: no bytes in clear (the
 * token handshake's challenge waits for TLS), and, sent a line of text
 * for a ClientHello, the end of the connection. */
static void
nothing_in_clear(const char *addr)
{
    char host[RT_HOST_MAX], why[200];
    uint16_t port;
    cr_assert_eq(rt_addr_parse(addr, host, &port, why, sizeof(why)), RAY_OK);
    unsetenv("RAYC_TLS_DIR"); /* a plain connection */
    int fd = -1;
    ray_err e = rt_tcp_connect(host, port, 3000, &fd, why, sizeof(why));
    setenv("RAYC_TLS_DIR", certs, 1);
    cr_assert_eq(e, RAY_OK, "%s", why);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 1000), 0, "%s sent bytes in clear", addr);
    const char hello[] = "hello, in clear\r\n\r\n";
    cr_assert_eq(write(fd, hello, sizeof(hello)), (ssize_t)sizeof(hello));
    uint8_t buf[512];
    ssize_t n;
    bool ended = false;
    for (int k = 0; k < 20 && !ended; k++) { /* a TLS alert, then the end */
        cr_assert(poll(&pf, 1, 5000) > 0, "%s: no end", addr);
        n = read(fd, buf, sizeof(buf));
        ended = n == 0 || (n < 0 && errno == ECONNRESET);
        if (n > 0) /* a TLS record: an alert (21) */
            cr_assert_eq(buf[0], 21, "%s answered with %zd bytes not TLS", addr,
                         n);
    }
    cr_assert(ended, "%s kept a connection that spoke no TLS", addr);
    close(fd);
}

Test(tls, nothing_answers_in_clear_on_the_head_or_a_node)
{
    nothing_in_clear(C.head);
    char addr[80];
    /* A node's port: from rayc status, which itself goes over TLS. */
    cr_assert_eq(rc_rayc(&C, "status", "--format=json", NULL), 0, "%s",
                 rc_out(&C));
    const char *s = strstr(rc_out(&C), "127.0.0.2:");
    cr_assert_not_null(s, "%s", rc_out(&C));
    size_t k = 0;
    while (k < sizeof(addr) - 1 &&
           (s[k] == '.' || s[k] == ':' || (s[k] >= '0' && s[k] <= '9')))
        addr[k] = s[k], k++;
    addr[k] = 0;
    nothing_in_clear(addr);
}

/* The head's dashboard is HTTPS with the node's certificate: a client
 * that trusts ca.crt reads the status (openssl s_client, checking the
 * chain), one that trusts another authority is refused, and nothing
 * answers in clear. */
Test(tls, the_dashboard_is_https)
{
    char path[PATH_MAX + 32], dash[128] = "";
    snprintf(path, sizeof(path), "%s/dashboard_address", C.tmp);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no dashboard address");
    cr_assert_not_null(fgets(dash, sizeof(dash), f));
    fclose(f);
    dash[strcspn(dash, "\n")] = 0;
    nothing_in_clear(dash);
    char cmd[9000];
    char *argv[] = {"sh", "-c", cmd, NULL};
    const char *cas[2] = {certs, other};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof(cmd),
                 "printf 'GET /api/status HTTP/1.0\\r\\n\\r\\n' | "
                 "openssl s_client -quiet -verify_return_error -CAfile "
                 "'%s/ca.crt' -connect '%s' 2>&1",
                 cas[k], dash);
        int rc = rc_run(&C, argv, 30);
        const char *out = rc_out(&C);
        if (k == 0)
            cr_assert(rc == 0 && strstr(out, " 200 ") &&
                          strstr(out, "\"nodes\""),
                      "rc %d: %s", rc, out);
        else
            cr_assert(!strstr(out, " 200 "),
                      "a client of another authority read it: %s", out);
    }
}

Test(tls, rayc_without_tls_or_with_another_authority_is_refused)
{
    cr_assert_eq(rc_rayc(&C, "status", NULL), 0, "%s", rc_out(&C));
    setenv("RAYC_TLS_DIR", "", 1);
    int plain = rc_rayc(&C, "status", NULL);
    char plain_out[2048];
    snprintf(plain_out, sizeof(plain_out), "%s", rc_out(&C));
    setenv("RAYC_TLS_DIR", other, 1);
    int foreign = rc_rayc(&C, "status", NULL);
    setenv("RAYC_TLS_DIR", certs, 1);
    cr_assert_neq(plain, 0, "%s", plain_out);
    cr_assert_neq(foreign, 0, "%s", rc_out(&C));
    cr_assert(strstr(rc_out(&C), "TLS"), "%s", rc_out(&C));
}

/* A node given a directory without the files says so at once. */
Test(tls, a_node_whose_certificates_are_missing_fails_to_start_saying_so)
{
    char addr[160], missing[4300];
    snprintf(addr, sizeof(addr), "--address=%s", C.head);
    snprintf(missing, sizeof(missing), "%s/none", C.tmp);
    setenv("RAYC_TLS_DIR", missing, 1);
    int st = rc_rayc(&C, "start", addr, "--node-ip-address=127.0.0.4", NULL);
    setenv("RAYC_TLS_DIR", certs, 1);
    cr_assert_neq(st, 0, "%s", rc_out(&C));
    cr_assert(strstr(rc_out(&C), "RAYC_TLS_DIR") &&
                  strstr(rc_out(&C), "ca.crt"),
              "%s", rc_out(&C));
}

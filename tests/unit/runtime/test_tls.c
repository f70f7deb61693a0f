/* SPDX-License-Identifier: Apache-2.0
 *
 * test_tls.c: the TLS relays (runtime/tls.h) on loopback, certificates
 * from scripts/tls-certs: bytes both ways at once, in writes of every
 * size, arrive whole and in order; either end's close reaches the other
 * as the end of the stream; a client whose certificate another
 * authority signed gets nothing through.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/net.h"
#include "runtime/tls.h"

static char dir[256], other[300];

static void
certs_up(void)
{
    snprintf(dir, sizeof(dir), "/tmp/rayc-tls-unit-%d", (int)getpid());
    snprintf(other, sizeof(other), "%s/other", dir);
    char cmd[900];
    snprintf(cmd, sizeof(cmd),
             "bash scripts/tls-certs %s 2 >/dev/null && "
             "bash scripts/tls-certs %s 2 >/dev/null",
             dir, other);
    cr_assert_eq(system(cmd), 0, "scripts/tls-certs failed");
    setenv("RAYC_TLS_DIR", dir, 1);
}

static void
certs_down(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        (void)0;
}

TestSuite(tls, .init = certs_up, .fini = certs_down, .timeout = 60);

typedef struct acceptor {
    int lfd, fd;
} acceptor;

/* Accept one connection and wrap it as a server's (blocking end). */
static void *
accept_main(void *arg)
{
    acceptor *a = arg;
    struct pollfd p = {.fd = a->lfd, .events = POLLIN};
    a->fd = -1;
    if (poll(&p, 1, 10000) != 1)
        return NULL;
    int fd = accept(a->lfd, NULL, NULL);
    if (fd < 0 || rt_tls_server(&fd, "the test's client") != RAY_OK)
        return NULL;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    a->fd = fd;
    return NULL;
}

/* A client (*cfd) and the server's end (*sfd) of one TLS connection;
 * RAY_OK, or the client's error with why. */
static ray_err
pair(int *cfd, int *sfd, char *why, size_t whylen)
{
    acceptor a = {-1, -1};
    uint16_t port;
    cr_assert_eq(rt_tcp_listen("127.0.0.1", 0, &a.lfd, &port, why, whylen),
                 RAY_OK, "%s", why);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, accept_main, &a), 0);
    ray_err e = rt_tcp_connect("127.0.0.1", port, 5000, cfd, why, whylen);
    pthread_join(th, NULL);
    close(a.lfd);
    *sfd = a.fd;
    return e;
}

static uint8_t
at(uint64_t i, unsigned seed)
{
    return (uint8_t)((i * 2654435761u) >> 13 ^ seed);
}

typedef struct stream {
    int fd;
    uint64_t total;
    unsigned seed;
    uint64_t bad; /* reader: bytes that differed, or short */
} stream;

/* Write `total` bytes of pattern `seed` in writes of sizes 1 .. 300 KiB. */
static void *
writer_main(void *arg)
{
    stream *s = arg;
    enum { MAX = 300 << 10 };
    uint8_t *buf = malloc(MAX);
    unsigned r = s->seed;
    for (uint64_t sent = 0; sent < s->total;) {
        size_t n = 1 + (size_t)(rand_r(&r) % MAX);
        if (n > s->total - sent)
            n = (size_t)(s->total - sent);
        for (size_t k = 0; k < n; k++)
            buf[k] = at(sent + k, s->seed);
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(s->fd, buf + off, n - off);
            if (w <= 0) {
                free(buf);
                return NULL;
            }
            off += (size_t)w;
        }
        sent += n;
    }
    free(buf);
    return NULL;
}

/* Read `total` bytes and count those not of pattern `seed`. */
static void *
reader_main(void *arg)
{
    stream *s = arg;
    enum { MAX = 64 << 10 };
    uint8_t *buf = malloc(MAX);
    uint64_t got = 0;
    while (got < s->total) {
        ssize_t n = read(s->fd, buf, MAX);
        if (n <= 0)
            break;
        for (ssize_t k = 0; k < n; k++)
            s->bad += buf[k] != at(got + (uint64_t)k, s->seed);
        got += (uint64_t)n;
    }
    s->bad += s->total - got;
    free(buf);
    return NULL;
}

Test(tls, bytes_both_ways_at_once_arrive_whole_and_in_order)
{
    int c, s;
    char why[400];
    cr_assert_eq(pair(&c, &s, why, sizeof(why)), RAY_OK, "%s", why);
    cr_assert_geq(s, 0);
    enum { TOTAL = 48 << 20 };
    stream cw = {c, TOTAL, 1, 0}, sr = {s, TOTAL, 1, 0};
    stream sw = {s, TOTAL, 2, 0}, cr = {c, TOTAL, 2, 0};
    pthread_t t[4];
    pthread_create(&t[0], NULL, writer_main, &cw);
    pthread_create(&t[1], NULL, reader_main, &sr);
    pthread_create(&t[2], NULL, writer_main, &sw);
    pthread_create(&t[3], NULL, reader_main, &cr);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(sr.bad, 0, "client -> server: %llu bytes wrong or missing",
                 (unsigned long long)sr.bad);
    cr_assert_eq(cr.bad, 0, "server -> client: %llu bytes wrong or missing",
                 (unsigned long long)cr.bad);
    close(c);
    close(s);
}

/* After `n` bytes the writer closes: the reader gets them, then 0. */
static void
close_reaches_the_other_end(bool client_closes)
{
    int c, s;
    char why[400];
    cr_assert_eq(pair(&c, &s, why, sizeof(why)), RAY_OK, "%s", why);
    int w = client_closes ? c : s, r = client_closes ? s : c;
    const char msg[] = "last words";
    cr_assert_eq(write(w, msg, sizeof(msg)), (ssize_t)sizeof(msg));
    close(w);
    char buf[64];
    size_t got = 0;
    ssize_t n;
    struct pollfd p = {.fd = r, .events = POLLIN};
    while (poll(&p, 1, 10000) == 1 &&
           (n = read(r, buf + got, sizeof(buf) - got)) > 0)
        got += (size_t)n;
    cr_assert_eq(got, sizeof(msg));
    cr_assert_str_eq(buf, msg);
    cr_assert_eq(read(r, buf, 1), 0, "no end of stream: %s", strerror(errno));
    close(r);
}

Test(tls, the_client_s_close_reaches_the_server_as_the_end)
{
    close_reaches_the_other_end(true);
}

Test(tls, the_server_s_close_reaches_the_client_as_the_end)
{
    close_reaches_the_other_end(false);
}

/* openssl s_client with the other authority's certificate: the server's
 * end sees the connection end, nothing read from it. */
Test(tls, a_client_of_another_authority_is_refused)
{
    int lfd;
    uint16_t port;
    char why[400];
    cr_assert_eq(rt_tcp_listen("127.0.0.1", 0, &lfd, &port, why, sizeof(why)),
                 RAY_OK);
    pid_t pid = fork();
    if (pid == 0) {
        char cmd[1600];
        snprintf(cmd, sizeof(cmd),
                 "echo hello | timeout 10 openssl s_client -quiet -connect "
                 "127.0.0.1:%u -cert %s/node.crt -key %s/node.key -CAfile "
                 "%s/ca.crt >/dev/null 2>&1",
                 port, other, other, dir);
        _exit(system(cmd) == 0 ? 0 : 1);
    }
    acceptor a = {lfd, -1};
    accept_main(&a);
    cr_assert_geq(a.fd, 0, "no connection came");
    char b[16];
    struct pollfd p = {.fd = a.fd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 15000), 1, "the connection did not end");
    cr_assert_eq(read(a.fd, b, sizeof(b)), 0, "bytes came through");
    int status;
    waitpid(pid, &status, 0);
    close(a.fd);
    close(lfd);
}

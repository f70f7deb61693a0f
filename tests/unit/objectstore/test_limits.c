/* SPDX-License-Identifier: Apache-2.0
 * Tests for what one peer can hold of the store server (objectstore/
 * store.c): out of file descriptors, connections are refused (accepted
 * and closed) instead of spinning the loop, and other clients are served;
 * connections per process and in total are capped; a connection that
 * never sends StoreConnectRequest is closed; an idle client that pins
 * nothing is disconnected and reconnects on its next call, one that pins
 * something is kept. Each refusal or close is logged with its reason.
 * Loop activity is asserted through the server's counters (wake-ups,
 * sweeps), never through elapsed time; every wait is a bounded poll. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/log.h"
#include "tests/unit/objectstore/store_fixture.h"

static store_fixture fx;
static store_client *me;

static void
teardown(void)
{
    rt_log_set_sink(NULL, NULL);
    store_client_close(me);
    me = NULL;
    if (fx.srv)
        fixture_stop(&fx);
}

TestSuite(store_limits, .fini = teardown, .timeout = 30);

/* ---- helpers ---- */

static void
start(store_config *cfg)
{
    cfg->capacity = 8u << 20;
    cfg->max_objects = 1024;
    cr_assert_eq(fixture_start_cfg(&fx, cfg, 0), 0);
}

/* Lines the store logs (its thread calls the sink). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[8192];

static void
sink(void *arg, rt_log_level level, const char *line)
{
    (void)arg;
    (void)level;
    pthread_mutex_lock(&log_mu);
    size_t n = strlen(log_text);
    if (n + strlen(line) + 2 < sizeof log_text)
        snprintf(log_text + n, sizeof log_text - n, "%s\n", line);
    pthread_mutex_unlock(&log_mu);
}

static void
capture_log(void)
{
    log_text[0] = '\0';
    rt_log_set_sink(sink, NULL);
}

static int
logged(const char *needle)
{
    pthread_mutex_lock(&log_mu);
    int r = strstr(log_text, needle) != NULL;
    pthread_mutex_unlock(&log_mu);
    return r;
}

/* A connected socket that has not said hello. */
static int
raw_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, fx.sock);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s",
                 strerror(errno));
    return fd;
}

/* True if the server closes `fd` within the timeout. */
static int
closed_by_server(int fd, int timeout_ms)
{
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    char buf[256];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, rt_deadline_left_ms(deadline)) != 1)
            return 0;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0)
            return 0;
    }
}

static store_server_stats
server_stats(void)
{
    store_server_stats st;
    store_server_get_stats(fx.srv, &st);
    return st;
}

static void
nap_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- out of file descriptors ---- */

/* The highest descriptor open in this process. */
static int
highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int hi = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) > hi)
            hi = atoi(e->d_name);
    closedir(d);
    return hi;
}

Test(store_limits, out_of_descriptors_refuses_without_spinning)
{
    store_config cfg;
    store_config_init(&cfg);
    start(&cfg);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &me), RAY_OK);
    capture_log();
    /* Sockets to connect later: connect(2) needs no new descriptor. */
    int late[2];
    for (int i = 0; i < 2; i++) {
        late[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(late[i], 0);
    }
    /* Use up every descriptor this process (the store's too) may open. */
    struct rlimit old;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    struct rlimit low = {.rlim_cur = (rlim_t)highest_fd() + 16,
                         .rlim_max = old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fill[64], nfill = 0;
    for (; nfill < 64; nfill++) {
        fill[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fill[nfill] < 0)
            break;
    }
    cr_assert_eq(errno, EMFILE);
    cr_assert_lt(nfill, 64);

    store_server_stats st0 = server_stats();
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, fx.sock);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(connect(late[i], (struct sockaddr *)&a, sizeof a), 0);
        cr_assert(closed_by_server(late[i], 5000),
                  "connection %d was left hanging", i);
    }
    store_server_stats st1 = server_stats();
    cr_assert_eq(st1.refused_fds - st0.refused_fds, 2);
    cr_assert(logged("out of file descriptors (EMFILE)"), "log: %s", log_text);

    /* Other clients are served meanwhile, and the loop sleeps between
     * requests: a few wake-ups each, not a spin on the listening socket. */
    for (int i = 0; i < 50; i++) {
        store_stats ss;
        cr_assert_eq(store_client_stats(me, &ss), RAY_OK);
    }
    cr_assert_eq(fixture_put(me, 1, 4096, 0, 1), RAY_OK);
    store_server_stats st2 = server_stats();
    cr_assert_leq(st2.wakeups - st1.wakeups, 2 * 51 + 4,
                  "%llu wake-ups for 51 requests",
                  (unsigned long long)(st2.wakeups - st1.wakeups));

    /* Descriptors back: new clients get in. */
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < 2; i++)
        close(late[i]);
    store_client *c;
    cr_assert_eq(store_client_connect(fx.sock, 2000, &c), RAY_OK);
    store_object_id id = fixture_id(1);
    store_buffer b;
    cr_assert_eq(store_client_get(c, &id, 1, 1000, &b), RAY_OK);
    cr_assert(fixture_check(b.data, b.data_size, 1));
    store_client_release(c, &id);
    store_client_close(c);
}

/* ---- connection caps ---- */

Test(store_limits, connections_from_one_process_are_capped)
{
    store_config cfg;
    store_config_init(&cfg);
    cfg.max_connections_per_peer = 3;
    start(&cfg);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &me), RAY_OK);
    store_client *b;
    cr_assert_eq(store_client_connect(fx.sock, 2000, &b), RAY_OK);
    int r = raw_connect();
    capture_log();
    int x = raw_connect();
    cr_assert(closed_by_server(x, 5000), "a fourth connection was kept");
    close(x);
    cr_assert_eq(server_stats().refused_peer, 1);
    char pid[64];
    snprintf(pid, sizeof pid, "refusing a connection from pid %d",
             (int)getpid());
    cr_assert(logged(pid), "log: %s", log_text);
    cr_assert(logged("max_connections_per_peer"), "log: %s", log_text);
    /* The process's other connections are served. */
    store_stats ss;
    cr_assert_eq(store_client_stats(me, &ss), RAY_OK);
    cr_assert_eq(store_client_stats(b, &ss), RAY_OK);
    /* Another process is another peer. */
    pid_t kid = fork();
    cr_assert_geq(kid, 0);
    if (kid == 0) {
        store_client *k;
        if (store_client_connect(fx.sock, 2000, &k) != RAY_OK)
            _exit(1);
        if (store_client_stats(k, &ss) != RAY_OK)
            _exit(2);
        store_client_close(k);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(kid, &st, 0), kid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    close(r);
    store_client_close(b);
}

Test(store_limits, connections_in_total_are_capped)
{
    store_config cfg;
    store_config_init(&cfg);
    cfg.max_connections = 2;
    start(&cfg);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &me), RAY_OK);
    int r = raw_connect();
    capture_log();
    int x = raw_connect();
    cr_assert(closed_by_server(x, 5000), "a third connection was kept");
    close(x);
    cr_assert_eq(server_stats().refused_total, 1);
    cr_assert(logged("(store_config.max_connections)"), "log: %s", log_text);
    store_stats ss;
    cr_assert_eq(store_client_stats(me, &ss), RAY_OK);
    close(r);
}

/* ---- deadlines ---- */

Test(store_limits, a_connection_that_never_says_hello_is_closed)
{
    store_config cfg;
    store_config_init(&cfg);
    cfg.hello_timeout_ms = 50;
    start(&cfg);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &me), RAY_OK);
    capture_log();
    int r = raw_connect();
    cr_assert(closed_by_server(r, 10000), "a silent connection was kept");
    close(r);
    cr_assert_eq(server_stats().closed_hello, 1);
    cr_assert(logged("no StoreConnectRequest within 50 ms"), "log: %s",
              log_text);
    /* The client that did say hello is not touched by that deadline. */
    store_stats ss;
    cr_assert_eq(store_client_stats(me, &ss), RAY_OK);
    cr_assert_eq(ss.clients, 1);
    cr_assert_eq(server_stats().closed_hello, 1);
}

/* Poll the server's counters until `closed` idle clients were dropped
 * and idle-but-pinning ones were kept at least `spared` times. */
static int
idle_sweeps_seen(uint64_t closed, uint64_t spared)
{
    for (int i = 0; i < 2000; i++) { /* up to ~10 s */
        store_server_stats st = server_stats();
        if (st.closed_idle >= closed && st.spared_idle >= spared)
            return 1;
        nap_ms(5);
    }
    return 0;
}

/* The server forgets a closed connection's client a moment after it
 * counts the close (the loop releases it): poll, bounded, until the
 * client count is `n`. */
static uint32_t
client_count_settles_at(uint32_t n)
{
    uint32_t c = store_server_client_count(fx.srv);
    for (int i = 0; i < 2000 && c != n; i++) { /* up to ~10 s */
        nap_ms(5);
        c = store_server_client_count(fx.srv);
    }
    return c;
}

Test(store_limits, an_idle_client_that_pins_nothing_is_dropped_and_comes_back)
{
    store_config cfg;
    store_config_init(&cfg);
    cfg.idle_timeout_ms = 50;
    cfg.hello_timeout_ms = 50; /* the grace of a connection not used yet */
    start(&cfg);
    store_client *holder, *getter, *creator;
    cr_assert_eq(store_client_connect(fx.sock, 2000, &holder), RAY_OK);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &getter), RAY_OK);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &creator), RAY_OK);
    capture_log();
    cr_assert_eq(fixture_put(holder, 1, 100000, 0, 1), RAY_OK);
    store_object_id id = fixture_id(1);
    store_buffer held;
    cr_assert_eq(store_client_get(holder, &id, 1, 1000, &held), RAY_OK);

    /* Both idle clients dropped; the holder's deadline passed twice and
     * it was kept each time. */
    cr_assert(idle_sweeps_seen(2, 2), "idle clients were not handled");
    store_server_stats st = server_stats();
    cr_assert_eq(st.closed_idle, 2, "only the two idle clients");
    cr_assert_eq(client_count_settles_at(1), 1);
    cr_assert(logged("idle for 50 ms with nothing pinned"), "log: %s",
              log_text);

    /* Their next calls work: a get (the fast path finds the index gone)
     * and a create (the request finds the connection gone). */
    store_buffer b;
    cr_assert_eq(store_client_get(getter, &id, 1, 1000, &b), RAY_OK, "%s",
                 store_client_last_error(getter));
    cr_assert(fixture_check(b.data, b.data_size, 1));
    cr_assert_eq(store_client_release(getter, &id), RAY_OK);
    cr_assert_eq(fixture_put(creator, 2, 4096, 0, 1), RAY_OK, "%s",
                 store_client_last_error(creator));
    cr_assert_geq(server_stats().accepted, st.accepted + 2,
                  "they did not reconnect");
    /* The holder's pin held all along. */
    cr_assert(fixture_check(held.data, held.data_size, 1));
    cr_assert_eq(store_client_delete(creator, &id), RAY_EBUSY);
    cr_assert_eq(store_client_release(holder, &id), RAY_OK);
    cr_assert_eq(store_client_delete(creator, &id), RAY_OK, "%s",
                 store_client_last_error(creator));
    store_client_close(creator);
    store_client_close(getter);
    store_client_close(holder);
}

Test(store_limits, a_connection_not_used_yet_gets_the_hello_grace)
{
    store_config cfg;
    store_config_init(&cfg);
    cfg.idle_timeout_ms = 50; /* hello_timeout_ms stays 10 s */
    start(&cfg);
    store_client *fresh, *used;
    cr_assert_eq(store_client_connect(fx.sock, 2000, &fresh), RAY_OK);
    cr_assert_eq(store_client_connect(fx.sock, 2000, &used), RAY_OK);
    store_stats ss;
    cr_assert_eq(store_client_stats(used, &ss), RAY_OK);
    /* The client that made a request and went idle is dropped; the one
     * connected before it, that never made one, is still within its
     * grace. */
    cr_assert(idle_sweeps_seen(1, 0), "the idle client was not dropped");
    cr_assert_eq(server_stats().closed_idle, 1);
    cr_assert_eq(client_count_settles_at(1), 1);
    cr_assert_eq(store_client_stats(fresh, &ss), RAY_OK);
    cr_assert_eq(store_client_stats(used, &ss), RAY_OK, "%s",
                 store_client_last_error(used));
    store_client_close(used);
    store_client_close(fresh);
}

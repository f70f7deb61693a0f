/* SPDX-License-Identifier: Apache-2.0
 *
 * test_gcs_store.c: the GCS's durable store, each backend: what is put is
 * loaded back by a store opened again on the same place; what is deleted
 * is not. SQLite in a temp file; Redis in a redis-server this test starts
 * on loopback and stops (skipped, saying so, where none is installed).
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scheduler/cluster/gcs_store.h"

extern char **environ;

typedef struct seen {
    int n;
    char last[256];
} seen;

static void
each(void *arg, const char *ns, const void *key, size_t klen, const void *val,
     size_t vlen)
{
    seen *s = arg;
    s->n++;
    snprintf(s->last, sizeof(s->last), "%s/%.*s=%.*s", ns, (int)klen,
             (const char *)key, (int)vlen, (const char *)val);
}

/* Put three entries (one replaced, one with a NUL in its key), delete
 * one, open again: two come back. */
static void
round_trip(const char *spec)
{
    char why[300] = "";
    gcs_store *s = NULL;
    cr_assert_eq(gcs_store_open(spec, &s, why, sizeof(why)), RAY_OK, "%s", why);
    cr_assert_not_null(s);
    cr_assert_eq(
        gcs_store_put(s, "actor", "vault", 5, "v1", 2, why, sizeof(why)),
        RAY_OK, "%s", why);
    cr_assert_eq(
        gcs_store_put(s, "actor", "vault", 5, "v2", 2, why, sizeof(why)),
        RAY_OK, "%s", why);
    cr_assert_eq(gcs_store_put(s, "fn", "a\0b", 3, "", 0, why, sizeof(why)),
                 RAY_OK, "%s", why);
    cr_assert_eq(gcs_store_put(s, "actor", "gone", 4, "x", 1, why, sizeof(why)),
                 RAY_OK);
    cr_assert_eq(gcs_store_del(s, "actor", "gone", 4, why, sizeof(why)),
                 RAY_OK);
    gcs_store_close(s);
    cr_assert_eq(gcs_store_open(spec, &s, why, sizeof(why)), RAY_OK, "%s", why);
    seen v = {0}, only_vault = {0};
    cr_assert_eq(gcs_store_load(s, each, &v, why, sizeof(why)), RAY_OK, "%s",
                 why);
    cr_assert_eq(v.n, 2, "%d entries back", v.n);
    cr_assert_eq(gcs_store_del(s, "fn", "a\0b", 3, why, sizeof(why)), RAY_OK);
    cr_assert_eq(gcs_store_load(s, each, &only_vault, why, sizeof(why)),
                 RAY_OK);
    cr_assert_eq(only_vault.n, 1);
    cr_assert_str_eq(only_vault.last, "actor/vault=v2");
    gcs_store_close(s);
}

Test(gcs_store, sqlite_keeps_what_was_put_across_opens)
{
    char dir[] = "/tmp/rayc-store-XXXXXX", path[64], cmd[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/gcs.db", dir);
    round_trip(path);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(gcs_store, memory_keeps_nothing_and_bad_specs_say_why)
{
    char why[300] = "";
    gcs_store *s = (gcs_store *)1;
    cr_assert_eq(gcs_store_open("memory", &s, why, sizeof(why)), RAY_OK);
    cr_assert_null(s);
    cr_assert_eq(gcs_store_put(s, "a", "b", 1, "c", 1, why, sizeof(why)),
                 RAY_OK);
    cr_assert_eq(gcs_store_open("ftp://x", &s, why, sizeof(why)), RAY_EINVAL);
    cr_assert(strstr(why, "redis://"), "%s", why);
    cr_assert_neq(
        gcs_store_open("/nonexistent-dir/x/gcs.db", &s, why, sizeof(why)),
        RAY_OK);
    cr_assert(strstr(why, "GCS store"), "%s", why);
    /* No Redis there: refused, naming it (port 1 on loopback). */
    cr_assert_neq(gcs_store_open("redis://127.0.0.1:1", &s, why, sizeof(why)),
                  RAY_OK);
    cr_assert(strstr(why, "127.0.0.1:1"), "%s", why);
}

static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static pid_t redis_pid;

static void
stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
}

Test(gcs_store, redis_keeps_what_was_put_across_opens, .fini = stop_redis)
{
    const char *bin = "/usr/bin/redis-server";
    if (access(bin, X_OK) != 0)
        cr_skip_test("no redis-server here (scripts/setup --test installs "
                     "it)");
    int port = free_port();
    cr_assert_gt(port, 0);
    char p[16], spec[64];
    snprintf(p, sizeof(p), "%d", port);
    char *argv[] = {(char *)bin, "--port", p,      "--bind",
                    "127.0.0.1", "--save", "",     "--appendonly",
                    "no",        "--dir",  "/tmp", NULL};
    cr_assert_eq(posix_spawn(&redis_pid, bin, NULL, NULL, argv, environ), 0);
    /* Until it answers (bounded). */
    char why[300] = "";
    gcs_store *s = NULL;
    snprintf(spec, sizeof(spec), "redis://127.0.0.1:%d/test%d", port,
             (int)getpid());
    ray_err err = RAY_ESYSERR;
    for (int k = 0; k < 100 && err != RAY_OK; k++) {
        err = gcs_store_open(spec, &s, why, sizeof(why));
        if (err != RAY_OK)
            usleep(50000);
    }
    if (s)
        gcs_store_close(s);
    cr_assert_eq(err, RAY_OK, "redis never answered: %s", why);
    round_trip(spec); /* the fini stops the server */
}

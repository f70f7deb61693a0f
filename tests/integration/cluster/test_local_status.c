/* SPDX-License-Identifier: Apache-2.0
 *
 * test_local_status.c: `rayc status` and `rayc list tasks|objects` with no
 * cluster: this test process is a driver on the embedded runtime, and the
 * rayc program finds it by its socket under the temp dir (RAYC_TEMP_DIR,
 * a fresh one per test) and asks it.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ray/ray.h"
#include "tests/integration/common/cluster.h"

static rc_cluster C;

/* Wait (60 s at most) until the file /tmp/rayc-lgate-K exists; 1, or -1
 * after the minute. */
static int64_t
lgate(int64_t k)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/rayc-lgate-%lld", (long long)k);
    for (int i = 0; i < 6000 && access(path, F_OK) != 0; i++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return access(path, F_OK) == 0 ? 1 : -1;
}
RAY_REMOTE(lgate, int64_t, int64_t);

typedef struct tally {
    int64_t n;
} tally;

static ray_err
tally_init(tally *t, int64_t n)
{
    t->n = n;
    return RAY_OK;
}
RAY_ACTOR(tally, tally_init, int64_t);

static int64_t
tally_pid(tally *t)
{
    (void)t;
    return (int64_t)getpid();
}
RAY_METHOD0(tally, tally_pid, int64_t);

static void
setup(void)
{
    cr_assert(rc_open(&C, "localstatus"));
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 2;
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
}

static void
teardown(void)
{
    ray_shutdown();
    rc_close(&C);
}

TestSuite(local, .init = setup, .fini = teardown, .timeout = 120);

Test(local, rayc_status_and_list_ask_the_drivers_on_this_machine)
{
    int64_t k = (int64_t)getpid();
    char path[64], me[32];
    snprintf(path, sizeof(path), "/tmp/rayc-lgate-%lld", (long long)k);
    snprintf(me, sizeof(me), "local:%d", (int)getpid());
    ray_ref r[3];
    for (int i = 0; i < 3; i++) /* two run, one waits for a worker */
        r[i] = lgate_remote(k);
    ray_ref put = RAY_REF_NULL;
    static char big[4 << 20];
    memset(big, 1, sizeof(big));
    cr_assert_eq(ray_put_bytes(big, sizeof(big), &put), RAY_OK);
    /* Both workers busy: asked again, boundedly, until they are. */
    int running = 0;
    for (int i = 0; i < 100 && running != 2; i++) {
        cr_assert_eq(
            rc_rayc(&C, "list", "tasks", "--filter=state=RUNNING", NULL), 0,
            "%s", rc_out(&C));
        running = 0;
        for (const char *p = rc_out(&C); (p = strstr(p, "lgate")); p++)
            running++;
        if (running != 2) {
            struct timespec ts = {0, 50000000L};
            nanosleep(&ts, NULL);
        }
    }
    cr_assert_eq(running, 2, "%s", rc_out(&C));
    cr_assert(strstr(rc_out(&C), me), "%s", rc_out(&C));
    cr_assert_eq(rc_rayc(&C, "status", NULL), 0, "%s", rc_out(&C));
    char want[96];
    snprintf(want, sizeof(want), "driver %d (test_local_status)",
             (int)getpid());
    cr_assert(strstr(rc_out(&C), "1 driver on this machine, no cluster") &&
                  strstr(rc_out(&C), want) && strstr(rc_out(&C), "2 CPUs"),
              "%s", rc_out(&C));
    cr_assert_eq(rc_rayc(&C, "status", "--format=json", NULL), 0);
    char pid[48];
    snprintf(pid, sizeof(pid), "{\"pid\":%d,", (int)getpid());
    cr_assert(strstr(rc_out(&C), pid) &&
                  strstr(rc_out(&C), "\"object_store_objects\":1"),
              "%s", rc_out(&C));
    cr_assert_eq(rc_rayc(&C, "list", "objects", "--format=json", NULL), 0);
    cr_assert(strstr(rc_out(&C), "\"size\":4194304,\"location\":"
                                 "\"object_store\""),
              "%s", rc_out(&C));
    close(open(path, O_CREAT | O_WRONLY, 0600));
    for (int i = 0; i < 3; i++) {
        int64_t v = 0;
        cr_assert_eq(ray_get_int64(r[i], &v, 60000), RAY_OK);
        cr_assert_eq(v, 1);
        ray_ref_release(r[i]);
    }
    unlink(path);
    ray_ref_release(put);
    /* Its actors, each with the process that hosts it. */
    ray_actor_opts ao = {.name = "abacus"};
    ray_actor t;
    cr_assert_eq(tally_create(&t, &ao, 1), RAY_OK, "%s",
                 ray_last_error_detail());
    int64_t host = 0;
    cr_assert_eq(ray_get_int64(tally_pid_remote(t), &host, 60000), RAY_OK);
    cr_assert_eq(rc_rayc(&C, "list", "actors", "--format=json", NULL), 0);
    char row[160];
    snprintf(row, sizeof(row),
             "\"class_name\":\"tally\",\"state\":\"ALIVE\",\"name\":"
             "\"abacus\",\"node_id\":\"-\",\"pid\":%lld,",
             (long long)host);
    cr_assert(strstr(rc_out(&C), row), "%s", rc_out(&C));
    ray_actor_release(t);
    /* Its placement groups. */
    ray_bundle b = {.num_cpus = 1};
    ray_pg pg;
    cr_assert_eq(ray_pg_create(&b, 1, RAY_PG_STRICT_PACK, "solo", &pg), RAY_OK);
    cr_assert_eq(ray_pg_wait(pg, 60000), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(rc_rayc(&C, "list", "placement-groups", "--format=json", NULL),
                 0, "%s", rc_out(&C));
    cr_assert(strstr(rc_out(&C), "\"name\":\"solo\",\"strategy\":"
                                 "\"STRICT_PACK\",\"state\":\"CREATED\","
                                 "\"bundles\":\"{CPU:1}\""),
              "%s", rc_out(&C));
    cr_assert_eq(ray_pg_remove(pg), RAY_OK);
    /* Gone with ray_shutdown: nothing to ask. */
    ray_shutdown();
    cr_assert_eq(rc_rayc(&C, "status", NULL), 1, "%s", rc_out(&C));
    cr_assert(strstr(rc_out(&C), "no driver running here"), "%s", rc_out(&C));
    /* RAYC_STATUS_SOCKET=0: a driver serves none, so rayc finds none. */
    setenv("RAYC_STATUS_SOCKET", "0", 1);
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 1;
    ray_err e = ray_init(&c);
    unsetenv("RAYC_STATUS_SOCKET");
    cr_assert_eq(e, RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(rc_rayc(&C, "status", NULL), 1, "%s", rc_out(&C));
    cr_assert(strstr(rc_out(&C), "no driver running here"), "%s", rc_out(&C));
}

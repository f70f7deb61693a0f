/* SPDX-License-Identifier: Apache-2.0
 * Fault injection for the object store: every allocation made while
 * starting a store, opening a client or creating an object is made to
 * fail in turn (rt_alloc_fail_after); each failing run must return an
 * error and leave no rt_* allocation behind. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "objectstore/client.h"
#include "objectstore/store.h"
#include "runtime/alloc.h"

TestSuite(store_faults, .timeout = 30);

static char dir[64], sock[128];

static void
mkdir_tmp(void)
{
    snprintf(dir, sizeof dir, "/tmp/raycfault.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sock, sizeof sock, "%s/s.sock", dir);
}

static ray_err
start(store_server **s)
{
    store_config cfg;
    store_config_init(&cfg);
    cfg.capacity = 4u << 20;
    cfg.max_objects = 1024;
    cfg.socket_path = sock;
    return store_server_start(&cfg, s, NULL, 0);
}

Test(store_faults, server_start_fails_cleanly_at_every_allocation)
{
    mkdir_tmp();
    long base = rt_alloc_live();
    int n;
    for (n = 1; n < 200; n++) {
        store_server *s = NULL;
        rt_alloc_fail_after(n);
        ray_err rc = start(&s);
        rt_alloc_fail_after(0);
        if (rc == RAY_OK) {
            store_server_stop(s);
            break;
        }
        cr_assert_eq(rc, RAY_ENOMEM, "n=%d rc=%d", n, rc);
        cr_assert_null(s);
        cr_assert_eq(rt_alloc_live(), base, "leak after failure %d", n);
    }
    cr_assert_gt(n, 1, "start allocates nothing?");
    cr_assert_lt(n, 200);
    cr_assert_eq(rt_alloc_live(), base);
    rmdir(dir);
}

Test(store_faults, local_client_and_create_fail_cleanly)
{
    mkdir_tmp();
    store_server *s;
    cr_assert_eq(start(&s), RAY_OK);
    long base = rt_alloc_live();
    int n;
    for (n = 1; n < 100; n++) {
        store_client *c = NULL;
        rt_alloc_fail_after(n);
        ray_err rc = store_client_open_local(s, &c);
        if (rc == RAY_OK) {
            store_object_id id = {{1}};
            store_wbuffer w;
            rc = store_client_create(c, &id, 100, 0, 0, &w);
            rt_alloc_fail_after(0);
            cr_assert_eq(rc, RAY_OK, "create allocates on the heap");
            store_client_close(c);
            break;
        }
        rt_alloc_fail_after(0);
        cr_assert_eq(rc, RAY_ENOMEM, "n=%d rc=%d", n, rc);
        cr_assert_eq(rt_alloc_live(), base, "leak after failure %d", n);
    }
    cr_assert_lt(n, 100);
    cr_assert_eq(rt_alloc_live(), base);
    store_server_stop(s);
    rmdir(dir);
}

Test(store_faults, store_gone_means_closed_not_a_hang)
{
    mkdir_tmp();
    store_server *s;
    cr_assert_eq(start(&s), RAY_OK);
    store_client *c;
    cr_assert_eq(store_client_connect(sock, 1000, &c), RAY_OK);
    store_object_id id = {{7}};
    store_wbuffer w;
    cr_assert_eq(store_client_create(c, &id, 64, 0, 0, &w), RAY_OK);
    memset(w.data, 1, 64);
    cr_assert_eq(store_client_seal(c, &id), RAY_OK);
    store_server_stop(s);
    store_object_id id2 = {{8}};
    ray_err rc = store_client_create(c, &id2, 64, 0, 0, &w);
    cr_assert(rc == RAY_ECLOSED || rc == RAY_EPROTO, "rc=%d", rc);
    store_stats st;
    cr_assert_eq(store_client_stats(c, &st), RAY_ECLOSED);
    /* The mapping outlives the store: a pinned view stays readable. */
    store_buffer b;
    cr_assert_eq(store_client_get(c, &id, 1, 0, &b), RAY_OK);
    cr_assert_eq(b.data[63], 1);
    store_client_close(c);
    rmdir(dir);
}

/* Wait (bounded) until the store has dropped every socket client and
 * freed their connections. */
/* Wait (up to 10 s: the store thread runs under ASan on a loaded 2-core
 * machine) until the store has no client and allocations are back to
 * `live`. */
static int
store_idle(store_server *s, long live)
{
    for (int i = 0; i < 10000; i++) {
        if (store_server_client_count(s) == 0 && rt_alloc_live() == live)
            return 1;
        usleep(1000);
    }
    return 0;
}

Test(store_faults, socket_client_fails_cleanly_at_every_allocation)
{
    /* Allocations fail in the client (frame buffers, unpacked replies)
     * and in the store's thread (its connection, frame buffers, unpacked
     * requests) in turn: the client sees RAY_ENOMEM, or RAY_ECLOSED when
     * the store dropped the connection, and nothing leaks on either side. */
    mkdir_tmp();
    store_server *s;
    cr_assert_eq(start(&s), RAY_OK);
    /* One connection first: the store keeps its connection table. */
    store_client *warm;
    cr_assert_eq(store_client_connect(sock, 1000, &warm), RAY_OK);
    store_client_close(warm);
    for (int i = 0; i < 2000 && store_server_client_count(s) > 0; i++)
        usleep(1000);
    long base = rt_alloc_live();
    int n, closed = 0, nomem = 0;
    for (n = 1; n < 200; n++) {
        store_client *c = NULL;
        rt_alloc_fail_after(n);
        ray_err rc = store_client_connect(sock, 1000, &c);
        if (rc == RAY_OK) {
            store_object_id id = {{9}};
            store_wbuffer w;
            store_stats st;
            rc = store_client_create(c, &id, 100, 0, 0, &w);
            if (rc == RAY_OK)
                rc = store_client_stats(c, &st);
            if (rc == RAY_OK)
                rc = store_client_abort(c, &id);
        }
        rt_alloc_fail_after(0);
        store_client_close(c);
        cr_assert(store_idle(s, base),
                  "n=%d: client or memory left behind (clients %u, live "
                  "allocations %ld, expected %ld)",
                  n, store_server_client_count(s), rt_alloc_live(), base);
        if (rc == RAY_OK)
            break;
        cr_assert(rc == RAY_ENOMEM || rc == RAY_ECLOSED, "n=%d rc=%d", n, rc);
        closed += rc == RAY_ECLOSED;
        nomem += rc == RAY_ENOMEM;
    }
    cr_assert_lt(n, 200);
    cr_expect_gt(nomem, 0, "no client-side allocation failed");
    cr_expect_gt(closed, 0, "no store-side allocation failed");
    store_server_stop(s);
    rmdir(dir);
}

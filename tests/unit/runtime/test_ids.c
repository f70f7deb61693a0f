/* SPDX-License-Identifier: Apache-2.0
 * Tests for runtime/ids.c and runtime/random.c: uniqueness across threads
 * and fork, derivation and hex round trips, bad input. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/ids.h"
#include "runtime/random.h"

TestSuite(ids, .timeout = 20);

#define PER_THREAD 20000
#define NTHREADS 4

static int
cmp_task(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(rt_task_id));
}

/* Sorts `ids` and returns the number of adjacent duplicates. */
static size_t
count_duplicates(rt_task_id *ids, size_t n)
{
    qsort(ids, n, sizeof *ids, cmp_task);
    size_t dups = 0;
    for (size_t i = 1; i < n; i++)
        dups += rt_task_id_eq(ids[i - 1], ids[i]);
    return dups;
}

static void *
make_ids(void *arg)
{
    rt_task_id *out = arg;
    for (int i = 0; i < PER_THREAD; i++)
        out[i] = rt_task_id_create(rt_job_id_from_int(7));
    return NULL;
}

Test(ids, task_ids_are_unique_across_threads)
{
    rt_task_id *all = calloc(NTHREADS * PER_THREAD, sizeof *all);
    cr_assert_not_null(all);
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++)
        cr_assert_eq(
            pthread_create(&th[t], NULL, make_ids, all + t * PER_THREAD), 0);
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    for (int i = 0; i < NTHREADS * PER_THREAD; i++) {
        cr_assert(!rt_task_id_is_nil(all[i]));
        cr_assert_eq(rt_job_id_to_int(rt_task_id_job(all[i])), 7u);
    }
    cr_assert_eq(count_duplicates(all, NTHREADS * PER_THREAD), 0);
    free(all);
}

static void
read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        cr_assert_gt(r, 0, "short read from child");
        p += r;
        n -= (size_t)r;
    }
}

Test(ids, parent_and_child_streams_differ_after_fork)
{
    /* Warm the parent's generator first: the child inherits its state. */
    (void)rt_task_id_create(rt_job_id_from_int(1));
    enum { N = 4096 };
    rt_task_id *both = calloc(2 * N, sizeof *both);
    cr_assert_not_null(both);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        for (int i = 0; i < N; i++) {
            rt_task_id id = rt_task_id_create(rt_job_id_from_int(1));
            if (write(fds[1], &id, sizeof id) != (ssize_t)sizeof id)
                _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    for (int i = 0; i < N; i++)
        both[i] = rt_task_id_create(rt_job_id_from_int(1));
    read_full(fds[0], both + N, N * sizeof *both);
    close(fds[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(count_duplicates(both, 2 * N), 0,
                 "parent and child produced the same IDs");
    free(both);
}

Test(ids, random_fill_covers_odd_lengths)
{
    uint8_t a[13], b[13];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    rt_random_fill(a, sizeof a);
    rt_random_fill(b, sizeof b);
    cr_assert_neq(memcmp(a, b, sizeof a), 0);
    uint8_t secret[32] = {0}, zero[32] = {0};
    cr_assert_eq(rt_random_os(secret, sizeof secret), RAY_OK);
    cr_assert_neq(memcmp(secret, zero, sizeof zero), 0);
}

Test(ids, object_id_derivation_round_trips)
{
    rt_task_id task = rt_task_id_create(rt_job_id_from_int(42));
    uint32_t indexes[] = {0, 1, 2, 1000, RT_OBJECT_INDEX_MAX};
    for (size_t i = 0; i < sizeof indexes / sizeof indexes[0]; i++) {
        rt_object_id ret, put;
        cr_assert_eq(rt_object_id_for_return(task, indexes[i], &ret), RAY_OK);
        cr_assert_eq(rt_object_id_for_put(task, indexes[i], &put), RAY_OK);
        cr_assert(rt_task_id_eq(rt_object_id_task(ret), task));
        cr_assert(rt_task_id_eq(rt_object_id_task(put), task));
        cr_assert_eq(rt_object_id_index(ret), indexes[i]);
        cr_assert_eq(rt_object_id_index(put), indexes[i]);
        cr_assert(!rt_object_id_is_put(ret));
        cr_assert(rt_object_id_is_put(put));
        cr_assert(!rt_object_id_eq(ret, put), "put and return IDs collide");
        cr_assert_neq(rt_object_id_hash(ret), rt_object_id_hash(put));
    }
    rt_object_id r1, r2;
    rt_object_id_for_return(task, 1, &r1);
    rt_object_id_for_return(task, 2, &r2);
    cr_assert(!rt_object_id_eq(r1, r2));
    cr_assert_neq(rt_object_id_hash(r1), rt_object_id_hash(r2));

    rt_object_id untouched = rt_object_id_nil();
    cr_assert_eq(
        rt_object_id_for_return(task, RT_OBJECT_INDEX_MAX + 1u, &untouched),
        RAY_EINVAL);
    cr_assert_eq(rt_object_id_for_put(task, UINT32_MAX, &untouched),
                 RAY_EINVAL);
    cr_assert(rt_object_id_is_nil(untouched));

    rt_actor_id actor = rt_actor_id_create(rt_job_id_from_int(9));
    cr_assert_eq(rt_job_id_to_int(rt_actor_id_job(actor)), 9u);
    cr_assert_eq(rt_job_id_to_int(rt_job_id_from_int(0xdeadbeef)), 0xdeadbeefu);
}

Test(ids, hex_round_trips_for_every_kind)
{
    char hex[RT_OBJECT_ID_HEX_SIZE];
    rt_task_id t = rt_task_id_create(rt_job_id_from_int(3)), t2;
    cr_assert_eq(strlen(rt_task_id_hex(t, hex)), 2 * RT_TASK_ID_SIZE);
    cr_assert_eq(rt_task_id_from_hex(hex, &t2), RAY_OK);
    cr_assert(rt_task_id_eq(t, t2));

    rt_object_id o, o2;
    rt_object_id_for_put(t, 5, &o);
    rt_object_id_hex(o, hex);
    cr_assert_eq(rt_object_id_from_hex(hex, &o2), RAY_OK);
    cr_assert(rt_object_id_eq(o, o2));

    rt_node_id n = rt_node_id_create(), n2;
    rt_node_id_hex(n, hex);
    for (char *p = hex; *p; p++) /* upper case decodes too */
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    cr_assert_eq(rt_node_id_from_hex(hex, &n2), RAY_OK);
    cr_assert(rt_node_id_eq(n, n2));

    rt_worker_id w = rt_worker_id_create(), w2;
    cr_assert_eq(rt_worker_id_from_hex(rt_worker_id_hex(w, hex), &w2), RAY_OK);
    cr_assert(rt_worker_id_eq(w, w2));

    rt_job_id j = rt_job_id_from_int(0x01020304), j2;
    cr_assert_str_eq(rt_job_id_hex(j, hex), "04030201");
    cr_assert_eq(rt_job_id_from_hex("04030201", &j2), RAY_OK);
    cr_assert(rt_job_id_eq(j, j2));

    rt_actor_id a = rt_actor_id_create(j), a2;
    cr_assert_eq(rt_actor_id_from_hex(rt_actor_id_hex(a, hex), &a2), RAY_OK);
    cr_assert(rt_actor_id_eq(a, a2));
}

Test(ids, bad_hex_is_einval_and_leaves_output)
{
    rt_job_id j = rt_job_id_from_int(77);
    const char *bad[] = {"",         "0403020",  "040302011", "0403020g",
                         "zz030201", "04 30201", "0x030201"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(rt_job_id_from_hex(bad[i], &j), RAY_EINVAL, "\"%s\"",
                     bad[i]);
        cr_assert_eq(rt_job_id_to_int(j), 77u);
    }
    cr_assert_eq(rt_job_id_from_hex(NULL, &j), RAY_EINVAL);
    rt_task_id t;
    char hex[RT_TASK_ID_HEX_SIZE];
    rt_task_id_hex(rt_task_id_create(j), hex);
    hex[10] = '\0';
    cr_assert_eq(rt_task_id_from_hex(hex, &t), RAY_EINVAL);
}

Test(ids, nil_and_equality)
{
    rt_node_id zero;
    memset(&zero, 0, sizeof zero);
    cr_assert(rt_node_id_is_nil(rt_node_id_nil()));
    cr_assert(rt_node_id_eq(zero, rt_node_id_nil()));
    rt_node_id n = rt_node_id_create();
    cr_assert(!rt_node_id_is_nil(n));
    cr_assert(!rt_node_id_eq(n, zero));
    cr_assert(rt_task_id_is_nil(rt_task_id_nil()));
    cr_assert(rt_job_id_is_nil(rt_job_id_from_int(0)));
    cr_assert(!rt_job_id_is_nil(rt_job_id_from_int(1)));
}

Test(ids, hash_spreads_ids_over_buckets)
{
    /* Object IDs of one task differ only in the index: a hash table using
     * the low bits must still spread them. */
    enum { BUCKETS = 64, N = 64 * 64 };
    int count[BUCKETS] = {0};
    rt_task_id t = rt_task_id_create(rt_job_id_from_int(1));
    for (uint32_t i = 0; i < N; i++) {
        rt_object_id o;
        rt_object_id_for_return(t, i, &o);
        count[rt_object_id_hash(o) % BUCKETS]++;
    }
    for (int b = 0; b < BUCKETS; b++)
        cr_assert(count[b] > 16 && count[b] < 128, "bucket %d holds %d", b,
                  count[b]);
}

Test(ids, bench_task_id_create_rate)
{
    enum { N = 2000000 };
    uint64_t x = 0;
    int64_t t0 = rt_clock_now_ns();
    for (int i = 0; i < N; i++) {
        rt_task_id t = rt_task_id_create(rt_job_id_from_int(1));
        x ^= rt_task_id_hash(t);
    }
    int64_t t1 = rt_clock_now_ns();
    cr_assert_neq(x, 0); /* keeps the loop from being optimised away */
    printf("ids: rt_task_id_create %.1f M IDs/s (%.1f ns each, with hash)\n",
           N / ((double)(t1 - t0) / 1e9) / 1e6, (double)(t1 - t0) / N);
    fflush(stdout);
}

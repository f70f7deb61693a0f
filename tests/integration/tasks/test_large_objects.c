/* SPDX-License-Identifier: Apache-2.0
 *
 * Integration tests of large values in the node's object store: a real
 * driver (this test process) that starts the store on first need, real
 * workers (this binary re-executed) that connect to it. Covers zero-copy
 * read-only views, large results written by workers, large arguments read
 * in place, reference counts returning the store to its baseline, a full
 * store (spill and restore, then RAY_ESTORE_FULL), puts and gets inside
 * tasks, and a SIGKILLed driver leaving no directory behind. Every wait
 * is bounded; every test tears the runtime down in .fini.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ray/ray.h>

#define MIB (1u << 20)

/* ---- helpers ---- */

static uint8_t
pattern(size_t i, uint32_t seed)
{
    return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)seed;
}

static uint8_t *
make_buf(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(i, seed);
    return p;
}

static bool
check_buf(const uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i += 4093)
        if (p[i] != pattern(i, seed))
            return false;
    return n == 0 || p[n - 1] == pattern(n - 1, seed);
}

/* The /proc/self/maps line of the mapping holding `addr` ("" if none). */
static void
mapping_of(const void *addr, char *line, size_t n)
{
    line[0] = '\0';
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    char buf[512];
    while (fgets(buf, sizeof(buf), f)) {
        unsigned long lo, hi;
        if (sscanf(buf, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)addr >= lo &&
            (uintptr_t)addr < hi) {
            snprintf(line, n, "%s", buf);
            break;
        }
    }
    fclose(f);
}

/* True if `addr` lies in a read-only shared mapping of the store. */
static bool
in_store_ro(const void *addr)
{
    char line[512];
    mapping_of(addr, line, sizeof(line));
    return strstr(line, "rayc-object-store") && strstr(line, " r--s ");
}

static void
on_segv(int sig)
{
    (void)sig;
    _exit(42);
}

/* Write one byte at `p` in a child process: true if the write faulted. */
static bool
write_faults(const void *p)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction sa = {.sa_handler = on_segv};
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        *(volatile uint8_t *)p = 1;
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return (WIFEXITED(st) && WEXITSTATUS(st) == 42) || WIFSIGNALED(st);
}

static ray_stats
stats(void)
{
    ray_stats s;
    cr_assert_eq(ray_get_stats(&s), RAY_OK);
    return s;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- remote functions ---- */

static ray_bytes
make_big(int64_t n, int64_t seed)
{
    return (ray_bytes){make_buf((size_t)n, (uint32_t)seed), (size_t)n};
}
RAY_REMOTE(make_big, ray_bytes, int64_t, int64_t);

/* Checks a large argument and reports whether it was read in place: 1 if
 * its bytes lie in this worker's read-only mapping of the store. */
static int64_t
probe_arg(ray_bytes b, int64_t seed)
{
    if (!check_buf(b.data, b.len, (uint32_t)seed))
        return -1;
    return in_store_ro(b.data) ? 1 : 0;
}
RAY_REMOTE(probe_arg, int64_t, ray_bytes, int64_t);

/* Puts a large value inside a task, gets it back, checks it. */
static int64_t
put_get_inside(int64_t n)
{
    uint8_t *p = make_buf((size_t)n, 9);
    ray_ref r;
    if (ray_put_bytes(p, (size_t)n, &r) != RAY_OK)
        return -1;
    free(p);
    ray_view v;
    if (ray_get(r, &v, 10000) != RAY_OK)
        return -2;
    int64_t ok = v.len == (size_t)n && check_buf(v.data, v.len, 9) &&
                 in_store_ro(v.data);
    ray_release(&v);
    ray_ref_release(r);
    return ok;
}
RAY_REMOTE(put_get_inside, int64_t, int64_t);

/* Gets a large object by ref inside a task (a view into the store). */
static int64_t
get_inside(ray_i64s holder)
{
    /* The whole ref travels in the value: its id and its owner tag. */
    ray_ref r = {(uint64_t)holder.v[0], (uint64_t)holder.v[1]};
    ray_view v;
    if (ray_get(r, &v, 10000) != RAY_OK)
        return -1;
    int64_t ok =
        check_buf(v.data, v.len, (uint32_t)holder.v[2]) && in_store_ro(v.data);
    ray_release(&v);
    return ok;
}
RAY_REMOTE(get_inside, int64_t, ray_i64s);

/* Calls probe_arg from inside a task with a large by-value argument. */
static int64_t
nested_big_arg(int64_t n)
{
    uint8_t *p = make_buf((size_t)n, 11);
    ray_ref r = probe_arg_remote((ray_bytes){p, (size_t)n}, 11);
    free(p);
    int64_t v = -5;
    if (r.id == 0 || ray_get_int64(r, &v, 20000) != RAY_OK)
        return -6;
    ray_ref_release(r);
    return v;
}
RAY_REMOTE(nested_big_arg, int64_t, int64_t);

/* ---- fixture ---- */

static void
setup(void)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cfg.object_store_bytes = 256ull * MIB;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
}

static void
teardown(void)
{
    ray_shutdown();
}

TestSuite(large, .init = setup, .fini = teardown, .timeout = 60);

Test(large, put_get_is_a_read_only_view_into_the_store)
{
    cr_assert_eq(stats().store_bytes, 0, "the store starts on first need");
    size_t n = 3 * MIB + 17;
    uint8_t *buf = make_buf(n, 1);
    ray_ref r;
    cr_assert_eq(ray_put_bytes(buf, n, &r), RAY_OK, "%s",
                 ray_last_error_detail());
    free(buf);
    ray_stats s = stats();
    cr_assert_geq(s.store_bytes, n);
    cr_assert_eq(s.store_objects, 1);
    cr_assert_eq(s.object_bytes, 0, "no heap copy in the driver");
    ray_view v, v2;
    cr_assert_eq(ray_get(r, &v, 1000), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(ray_get(r, &v2, 1000), RAY_OK);
    cr_assert_eq(v.data, v2.data, "zero copy: both views are the same bytes");
    cr_assert_eq(v.len, n);
    cr_assert_eq(v.type, RAY_T_BYTES);
    cr_assert(check_buf(v.data, v.len, 1));
    cr_assert(in_store_ro(v.data),
              "view %p is not in the store's read-only "
              "mapping",
              v.data);
    cr_assert(write_faults(v.data), "writing through a view did not fault");
    ray_ref_release(r); /* the views still pin it */
    cr_assert_eq(stats().store_objects, 1);
    ray_release(&v2);
    cr_assert(check_buf(v.data, v.len, 1));
    ray_release(&v);
    s = stats();
    cr_assert_eq(s.store_objects, 0, "the last release deletes it");
    cr_assert_eq(s.store_bytes, 0);
    cr_assert_eq(s.objects_live, 0);
    /* Small values stay in the driver and are not views into the store. */
    char small[1000] = "small";
    cr_assert_eq(ray_put_bytes(small, sizeof(small), &r), RAY_OK);
    cr_assert_eq(ray_get(r, &v, 1000), RAY_OK);
    cr_assert_not(in_store_ro(v.data));
    ray_release(&v);
    ray_ref_release(r);
    cr_assert_eq(stats().store_objects, 0);
}

Test(large, task_result_of_64_mib_lands_in_the_store)
{
    int64_t n = 64 * MIB + 5;
    ray_ref r = make_big_remote(n, 2);
    ray_view v;
    cr_assert_eq(ray_get(r, &v, 30000), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(v.len, (size_t)n);
    cr_assert(check_buf(v.data, v.len, 2));
    cr_assert(in_store_ro(v.data));
    ray_stats s = stats();
    cr_assert_eq(s.object_bytes, 0, "the result was not copied to the driver");
    cr_assert_geq(s.store_bytes, (uint64_t)n);
    ray_release(&v);
    ray_ref_release(r);
    s = stats();
    cr_assert_eq(s.store_bytes, 0);
    cr_assert_eq(s.store_objects, 0);
    /* Just below the threshold: inline, through the ring. */
    r = make_big_remote(100 * 1024 - 1, 3);
    cr_assert_eq(ray_get(r, &v, 10000), RAY_OK);
    cr_assert(check_buf(v.data, v.len, 3));
    cr_assert_not(in_store_ro(v.data));
    ray_release(&v);
    ray_ref_release(r);
}

Test(large, large_argument_by_ref_is_read_in_place_by_each_task)
{
    size_t n = 8 * MIB;
    uint8_t *buf = make_buf(n, 4);
    ray_ref p;
    cr_assert_eq(ray_put_bytes(buf, n, &p), RAY_OK);
    free(buf);
    uint64_t before = stats().store_bytes;
    ray_ref r[6];
    for (int i = 0; i < 6; i++)
        r[i] = RAY_CALL(probe_arg, p, 4);
    for (int i = 0; i < 6; i++) {
        int64_t v = -9;
        cr_assert_eq(ray_get_int64(r[i], &v, 20000), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_eq(v, 1, "task %d: %s", i,
                     v < 0 ? "wrong bytes" : "argument was copied");
        ray_ref_release(r[i]);
    }
    cr_assert_eq(stats().store_bytes, before, "no copies were made");
    /* A large result passed on as an argument is read in place too. */
    ray_ref big = make_big_remote(2 * MIB, 5);
    ray_ref q = RAY_CALL(probe_arg, big, 5);
    int64_t v = -9;
    cr_assert_eq(ray_get_int64(q, &v, 20000), RAY_OK);
    cr_assert_eq(v, 1);
    /* A large by-value argument travels through a temporary object. */
    buf = make_buf(MIB, 6);
    ray_ref t = probe_arg_remote((ray_bytes){buf, MIB}, 6);
    free(buf);
    cr_assert_eq(ray_get_int64(t, &v, 20000), RAY_OK);
    cr_assert_eq(v, 1);
    ray_ref_release(t);
    ray_ref_release(q);
    ray_ref_release(big);
    ray_ref_release(p);
    ray_stats s = stats();
    cr_assert_eq(s.store_objects, 0, "temporaries and values deleted");
    cr_assert_eq(s.store_bytes, 0);
}

Test(large, refcounts_return_the_store_to_its_baseline)
{
    ray_ref keep;
    uint8_t *buf = make_buf(MIB, 7);
    cr_assert_eq(ray_put_bytes(buf, MIB, &keep), RAY_OK);
    ray_stats base = stats();
    for (int round = 0; round < 3; round++) {
        ray_ref refs[8], res[8];
        for (int i = 0; i < 8; i++) {
            cr_assert_eq(ray_put_bytes(buf, MIB, &refs[i]), RAY_OK);
            res[i] = make_big_remote(512 * 1024, i);
        }
        ray_view views[8];
        for (int i = 0; i < 8; i++)
            cr_assert_eq(ray_get(res[i], &views[i], 20000), RAY_OK);
        cr_assert_eq(stats().store_objects, base.store_objects + 16);
        for (int i = 0; i < 8; i++) {
            ray_ref_release(refs[i]);
            ray_ref_release(res[i]);
        }
        cr_assert_eq(stats().store_objects, base.store_objects + 8,
                     "views keep their objects");
        for (int i = 0; i < 8; i++) {
            cr_assert(check_buf(views[i].data, views[i].len, (uint32_t)i));
            ray_release(&views[i]);
        }
        ray_stats s = stats();
        cr_assert_eq(s.store_objects, base.store_objects);
        cr_assert_eq(s.store_bytes, base.store_bytes);
        cr_assert_eq(s.objects_live, base.objects_live);
    }
    ray_ref_release(keep);
    free(buf);
    cr_assert_eq(stats().store_bytes, 0);
}

Test(large, puts_and_gets_inside_tasks_use_the_store)
{
    ray_ref r = put_get_inside_remote(2 * MIB);
    int64_t v = -9;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 1);
    ray_ref_release(r);
    ray_ref big = make_big_remote(MIB, 8);
    ray_view view;
    cr_assert_eq(ray_get(big, &view, 20000), RAY_OK);
    ray_release(&view);
    int64_t holder[3] = {(int64_t)big.id, (int64_t)big.owner, 8};
    r = get_inside_remote((ray_i64s){holder, 3});
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 1);
    ray_ref_release(r);
    ray_ref_release(big);
    /* A large by-value argument of a call made inside a task: through the
     * store, read in place (6 MiB would not fit in a ring record). */
    r = nested_big_arg_remote(6 * MIB);
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 1);
    ray_ref_release(r);
    ray_stats s;
    for (int i = 0; i < 200; i++) { /* a worker's unpin may trail its reply */
        s = stats();
        if (s.store_objects == 0)
            break;
        sleep_ms(5);
    }
    cr_assert_eq(s.store_objects, 0);
    cr_assert_eq(s.store_bytes, 0);
}

/* ---- a small store: spill, restore, and RAY_ESTORE_FULL ---- */

static void
setup_small(void)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cfg.object_store_bytes = 32ull * MIB;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
}

TestSuite(small_store, .init = setup_small, .fini = teardown, .timeout = 60);

Test(small_store, full_store_spills_restores_then_fails_loudly)
{
    size_t n = 12 * MIB;
    ray_ref r[4];
    for (int i = 0; i < 4; i++) {
        uint8_t *buf = make_buf(n, 10 + (uint32_t)i);
        cr_assert_eq(ray_put_bytes(buf, n, &r[i]), RAY_OK, "put %d: %s", i,
                     ray_last_error_detail());
        free(buf);
    }
    ray_stats s = stats();
    cr_assert_gt(s.store_spills, 0, "48 MiB of puts into 32 MiB: spilled");
    cr_assert_eq(s.store_objects, 4, "nothing was lost");
    /* Every value is still there; spilled ones come back on get. */
    for (int i = 0; i < 4; i++) {
        ray_view v;
        cr_assert_eq(ray_get(r[i], &v, 20000), RAY_OK, "get %d: %s", i,
                     ray_last_error_detail());
        cr_assert_eq(v.len, n);
        cr_assert(check_buf(v.data, v.len, 10 + (uint32_t)i), "value %d", i);
        ray_release(&v);
    }
    cr_assert_gt(stats().store_restores, 0);
    /* Pin two values: a third cannot fit, and says so with the sizes. */
    ray_view a, b;
    cr_assert_eq(ray_get(r[0], &a, 20000), RAY_OK);
    cr_assert_eq(ray_get(r[1], &b, 20000), RAY_OK);
    uint8_t *buf = make_buf(n, 20);
    ray_ref x;
    cr_assert_eq(ray_put_bytes(buf, n, &x), RAY_ESTORE_FULL);
    cr_assert(strstr(ray_last_error_detail(), "12582912"), "%s",
              ray_last_error_detail());
    /* A task result that cannot fit fails loudly too. */
    ray_ref t = make_big_remote((int64_t)n, 21);
    ray_view v;
    cr_assert_eq(ray_get(t, &v, 20000), RAY_ESTORE_FULL);
    cr_assert(strstr(ray_last_error_detail(), "object store full"), "%s",
              ray_last_error_detail());
    ray_ref_release(t);
    ray_release(&a);
    ray_release(&b);
    /* Once unpinned, there is room again (by spilling). */
    cr_assert_eq(ray_put_bytes(buf, n, &x), RAY_OK, "%s",
                 ray_last_error_detail());
    ray_ref_release(x);
    /* Larger than the whole store: rejected at once, naming the knob. */
    uint8_t *huge = calloc(1, 40 * MIB);
    cr_assert_eq(ray_put_bytes(huge, 40 * MIB, &x), RAY_ESTORE_FULL);
    cr_assert(strstr(ray_last_error_detail(), "object_store_bytes"), "%s",
              ray_last_error_detail());
    free(huge);
    free(buf);
    for (int i = 0; i < 4; i++)
        ray_ref_release(r[i]);
    s = stats();
    cr_assert_eq(s.store_objects, 0);
    cr_assert_eq(s.store_bytes, 0, "spilled copies are gone too");
}

/* ---- a SIGKILLed driver leaves no directory or shared memory ---- */

/* Entries of `dir` whose name starts with `prefix`. */
static int
count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static int
count_store_dirs(int pid)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "rayc-%d-", pid);
    const char *t = getenv("TMPDIR");
    int n = count_entries("/tmp", prefix);
    if (t && strcmp(t, "/tmp") != 0)
        n += count_entries(t, prefix);
    return n;
}

TestSuite(store_death, .timeout = 60);

Test(store_death, sigkilled_driver_leaves_no_store_directory)
{
    int pp[2];
    cr_assert_eq(pipe(pp), 0);
    pid_t drv = fork();
    cr_assert_geq(drv, 0);
    if (drv == 0) {
        close(pp[0]);
        ray_config cfg;
        ray_config_init(&cfg);
        cfg.num_cpus = 2;
        cfg.object_store_bytes = 64ull * MIB;
        if (ray_init(&cfg) != RAY_OK)
            _exit(1);
        ray_ref r = make_big_remote(2 * MIB, 1); /* a worker connects too */
        ray_view v;
        if (ray_get(r, &v, 20000) != RAY_OK)
            _exit(2);
        (void)!write(pp[1], "k", 1);
        pause();
        _exit(0);
    }
    close(pp[1]);
    char c;
    cr_assert_eq(read(pp[0], &c, 1), 1, "the driver failed to start");
    close(pp[0]);
    cr_assert_eq(count_store_dirs(drv), 1, "the store's private directory");
    kill(drv, SIGKILL);
    int st;
    cr_assert_eq(waitpid(drv, &st, 0), drv);
    int left = 1;
    for (int i = 0; i < 500 && left; i++) {
        left = count_store_dirs(drv);
        if (left)
            sleep_ms(10);
    }
    cr_assert_eq(left, 0, "the store directory outlived its driver");
    /* The store's region is a memfd: it never had a name to leave. */
    cr_assert_eq(count_entries("/dev/shm", "rayc"), 0,
                 "something was left in /dev/shm");
}

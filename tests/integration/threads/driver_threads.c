/* SPDX-License-Identifier: Apache-2.0
 *
 * driver_threads: the driver's multi-threaded paths, through the public
 * API only, for ThreadSanitizer. Several user threads at once submit
 * tasks (values and refs), put values, wait, get (small values and views
 * of large ones that live in the object store), register completion
 * callbacks, read the stats, map over arrays, cancel, crash a worker
 * (the monitor replaces it), run nested tasks (whose waits make the
 * monitor start stand-ins), and call one threaded actor (max_concurrency
 * 4: its calls run on the pool threads of its host; found by name too)
 * besides actors each thread creates and releases. Under them run the
 * runtime's own threads: the reactor, the monitor and the object store,
 * logging at debug level to a callback.
 *
 * Every loop is a count, never a time; every wait has a bound. Its own
 * main (no Criterion), so it runs under --config=tsan (tagged "tsan").
 * Workers are this program re-executed; under TSan their reports go to
 * files (log_path in TSAN_OPTIONS, set before ray_init) that this
 * program prints and fails on at the end. The driver's own reports go to
 * stderr and make it exit non-zero (TSan's exitcode).
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ray/ray.h>

enum {
    THREADS = 6,    /* user threads calling the API at once */
    ROUNDS = 36,    /* rounds per thread */
    BATCH = 8,      /* small tasks per round */
    BIG = 256 << 10 /* bytes of a value that goes to the object store */
};

#define T_MS 120000 /* bound of every wait: TSan runs ~10x slower */

/* ---- remote functions ---- */

static int64_t
add(int64_t a, int64_t b)
{
    return a + b;
}
RAY_REMOTE(add, int64_t, int64_t, int64_t);

/* Its worker dies (SIGKILL: no sanitizer report of a deadly signal) and
 * is replaced while the threads go on. */
static int64_t
crash(int64_t x)
{
    raise(SIGKILL);
    return x;
}
RAY_REMOTE(crash, int64_t, int64_t);

static int64_t
square(int64_t x)
{
    return x * x;
}
RAY_REMOTE(square, int64_t, int64_t);

/* A value of `n` bytes, byte i = (seed + i) & 0xff. */
static ray_bytes
make_bytes(int64_t n, int64_t seed)
{
    uint8_t *p = malloc((size_t)n);
    if (!p)
        return (ray_bytes){NULL, 0};
    for (int64_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i);
    return (ray_bytes){p, (size_t)n};
}
RAY_REMOTE(make_bytes, ray_bytes, int64_t, int64_t);

static int64_t
sum_bytes(ray_bytes b)
{
    int64_t s = 0;
    for (size_t i = 0; i < b.len; i++)
        s += ((const uint8_t *)b.data)[i];
    return s;
}
RAY_REMOTE(sum_bytes, int64_t, ray_bytes);

/* Inside a task: submits n children and gets them (the worker blocks in
 * its get, so the driver may start a stand-in). Returns their sum. */
static int64_t
nested_sum(int64_t n)
{
    ray_ref r[16];
    if (n > 16)
        n = 16;
    for (int64_t i = 0; i < n; i++)
        r[i] = add_remote(i, 1);
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = 0;
        if (ray_get_int64(r[i], &v, T_MS) != RAY_OK)
            v = -1000000;
        s += v;
        ray_ref_release(r[i]);
    }
    return s;
}
RAY_REMOTE(nested_sum, int64_t, int64_t);

/* ---- a threaded actor: its methods run on up to 4 threads at once ---- */

typedef struct tally {
    _Atomic int64_t sum;
    _Atomic int64_t calls;
    _Atomic int64_t running;
    _Atomic int64_t peak;
} tally;

static ray_err
tally_init(tally *s, int64_t start)
{
    atomic_store(&s->sum, start);
    return RAY_OK;
}
RAY_ACTOR(tally, tally_init, int64_t);

static int64_t
tally_add(tally *s, int64_t k)
{
    int64_t now = atomic_fetch_add(&s->running, 1) + 1;
    int64_t p = atomic_load(&s->peak);
    while (now > p && !atomic_compare_exchange_weak(&s->peak, &p, now))
        ;
    atomic_fetch_add(&s->sum, k);
    atomic_fetch_add(&s->calls, 1);
    atomic_fetch_sub(&s->running, 1);
    return k;
}
RAY_METHOD(tally, tally_add, int64_t, int64_t);

/* A large argument (through the object store) read on a pool thread. */
static int64_t
tally_sum_bytes(tally *s, ray_bytes b)
{
    atomic_fetch_add(&s->calls, 1);
    return sum_bytes(b);
}
RAY_METHOD(tally, tally_sum_bytes, int64_t, ray_bytes);

static int64_t
tally_calls(tally *s)
{
    return atomic_load(&s->calls);
}
RAY_METHOD0(tally, tally_calls, int64_t);

/* ---- a plain actor each thread creates, calls and releases ---- */

typedef struct box {
    int64_t v;
} box;

static ray_err
box_init(box *s, int64_t v)
{
    s->v = v;
    return RAY_OK;
}
RAY_ACTOR(box, box_init, int64_t);

static int64_t
box_add(box *s, int64_t k)
{
    return s->v += k;
}
RAY_METHOD(box, box_add, int64_t, int64_t);

/* ---- the user threads ---- */

static ray_actor shared_tally;
static _Atomic int64_t callbacks;
static _Atomic int failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "driver_threads:%d: %s: ", __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, " (%s)\n", ray_last_error_detail());               \
            atomic_fetch_add(&failures, 1);                                    \
        }                                                                      \
    } while (0)

static int64_t
get_i64(ray_ref r)
{
    int64_t v = -1;
    ray_err e = ray_get_int64(r, &v, T_MS);
    CHECK(e == RAY_OK, "get: %s", ray_strerror(e));
    ray_ref_release(r);
    return v;
}

static _Atomic int64_t log_lines;

static void
on_log(void *arg, int level, const char *line)
{
    (void)arg;
    (void)level;
    if (line[0])
        atomic_fetch_add(&log_lines, 1);
}

static void
on_done(void *arg, ray_ref ref, ray_err err)
{
    (void)arg;
    (void)ref;
    if (err == RAY_OK)
        atomic_fetch_add(&callbacks, 1);
}

/* Sum of the bytes make_bytes(n, seed) returns. */
static int64_t
expected_sum(int64_t n, int64_t seed)
{
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (uint8_t)(seed + i);
    return s;
}

/* Small tasks with values and a put ref, waited for together, then got. */
static void
small_round(int64_t id, int64_t r)
{
    ray_ref p;
    CHECK(ray_put_int64(1000 * id + r, &p) == RAY_OK, "put");
    ray_ref refs[BATCH];
    for (int k = 0; k < BATCH; k++)
        refs[k] = k % 2 ? add_remote(id, k) : RAY_CALL(add, p, k);
    ray_ref_release(p); /* the pending tasks hold it */
    CHECK(ray_on_done(refs[0], on_done, NULL) == RAY_OK, "on_done");
    size_t idx[BATCH], n = 0;
    CHECK(ray_wait(refs, BATCH, BATCH, T_MS, idx, &n) == RAY_OK && n == BATCH,
          "wait: %zu of %d", n, BATCH);
    for (int k = 0; k < BATCH; k++) {
        int64_t want = k % 2 ? id + k : 1000 * id + r + k;
        int64_t v = get_i64(refs[k]);
        CHECK(v == want, "task %d: %lld, not %lld", k, (long long)v,
              (long long)want);
    }
}

/* Large values: a put, a task that reads it, a task that makes one, a
 * view of it, and the threaded actor reading one on a pool thread. */
static void
big_round(int64_t id, int64_t r)
{
    uint8_t *buf = malloc(BIG);
    CHECK(buf != NULL, "malloc");
    if (!buf)
        return;
    for (size_t i = 0; i < BIG; i++)
        buf[i] = (uint8_t)(id + r + i);
    int64_t want = expected_sum(BIG, id + r);
    ray_ref p;
    CHECK(ray_put_bytes(buf, BIG, &p) == RAY_OK, "put_bytes");
    free(buf);
    ray_ref s = RAY_CALL(sum_bytes, p);
    ray_ref a = RAY_ACTOR_CALL(tally_sum_bytes, shared_tally, p);
    ray_ref m = make_bytes_remote(BIG, id * 7 + r);
    ray_ref_release(p);
    CHECK(get_i64(s) == want, "sum_bytes of a put");
    CHECK(get_i64(a) == want, "tally_sum_bytes of a put");
    ray_view v;
    ray_err e = ray_get(m, &v, T_MS);
    CHECK(e == RAY_OK && v.len == BIG, "get view: %s", ray_strerror(e));
    if (e == RAY_OK) {
        int64_t got = 0;
        for (size_t i = 0; i < v.len; i++)
            got += ((const uint8_t *)v.data)[i];
        CHECK(got == expected_sum(BIG, id * 7 + r), "view bytes");
        ray_release(&v);
    }
    ray_ref_release(m);
}

/* A map, a get of many, a named lookup and a cancel. */
static void
misc_round(int64_t id, int64_t r)
{
    enum { M = 32 };
    int64_t in[M], out[M];
    for (int i = 0; i < M; i++)
        in[i] = id * 100 + r + i;
    ray_err e = RAY_MAP(square, in, M, out);
    CHECK(e == RAY_OK, "map: %s", ray_strerror(e));
    for (int i = 0; e == RAY_OK && i < M; i++)
        CHECK(out[i] == in[i] * in[i], "map element %d", i);
    ray_ref two[2] = {add_remote(id, 1), add_remote(id, 2)};
    ray_view v[2];
    e = ray_get_many(two, 2, v, T_MS);
    CHECK(e == RAY_OK, "get_many: %s", ray_strerror(e));
    if (e == RAY_OK) {
        ray_release(&v[0]);
        ray_release(&v[1]);
    }
    ray_ref_release(two[0]);
    ray_ref_release(two[1]);
    ray_actor named;
    CHECK(ray_actor_lookup("tally", &named) == RAY_OK, "lookup");
    CHECK(get_i64(tally_add_remote(named, 0)) == 0, "tally_add by name");
    ray_actor_release(named);
    if (r == 3) { /* once per thread: a worker dies under the others */
        ray_call_opts once = {.max_retries = RAY_NO_RETRY};
        ray_ref k = crash_remote_opts(&once, id);
        int64_t x;
        e = ray_get_int64(k, &x, T_MS);
        CHECK(e == RAY_EWORKER_DIED, "crash: %s", ray_strerror(e));
        ray_ref_release(k);
    }
    /* Cancelled or not, depending on where it was: an answer either way. */
    ray_ref c = nested_sum_remote(4);
    e = ray_cancel(c, false);
    CHECK(e == RAY_OK || e == RAY_EEXISTS, "cancel: %s", ray_strerror(e));
    int64_t x;
    e = ray_get_int64(c, &x, T_MS);
    CHECK((e == RAY_OK && x == 10) || e == RAY_ECANCELLED, "cancelled: %s",
          ray_strerror(e));
    ray_ref_release(c);
}

static void *
user_thread(void *arg)
{
    int64_t id = (int64_t)(intptr_t)arg;
    ray_actor mine;
    CHECK(box_create(&mine, NULL, id) == RAY_OK, "box_create");
    int64_t box_sum = id;
    for (int64_t r = 0; r < ROUNDS; r++) {
        small_round(id, r);
        ray_ref t = tally_add_remote(shared_tally, 1);
        ray_ref b = box_add_remote(mine, r);
        box_sum += r;
        CHECK(get_i64(t) == 1, "tally_add");
        CHECK(get_i64(b) == box_sum, "box_add");
        if (r % 8 == id % 8)
            big_round(id, r);
        if (r % 6 == 0)
            CHECK(get_i64(nested_sum_remote(8)) == 36, "nested_sum");
        if (r % 6 == 3)
            misc_round(id, r);
        if (r % 12 == 11) { /* a fresh actor of our own */
            ray_actor_release(mine);
            CHECK(box_create(&mine, NULL, 0) == RAY_OK, "box_create");
            box_sum = 0;
        }
        ray_stats st;
        CHECK(ray_get_stats(&st) == RAY_OK, "stats");
    }
    ray_actor_release(mine);
    return NULL;
}

/* ---- TSan reports of the workers ---- */

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

static char report_dir[64];

/* Send the workers' TSan reports to files in a fresh directory: they are
 * this program re-executed, and read TSAN_OPTIONS when they start. */
static void
collect_worker_reports(void)
{
#ifdef UNDER_TSAN
    snprintf(report_dir, sizeof(report_dir), "/tmp/rayc_tsan_XXXXXX");
    if (!mkdtemp(report_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    const char *old = getenv("TSAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof(opts), "%s%slog_path=%s/report", old ? old : "",
             old && *old ? " " : "", report_dir);
    setenv("TSAN_OPTIONS", opts, 1);
#endif
}

/* Print every worker report; returns how many files there were. */
static int
worker_reports(void)
{
    if (!report_dir[0])
        return 0;
    int n = 0;
    DIR *d = opendir(report_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[400];
        snprintf(path, sizeof(path), "%s/%s", report_dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            fprintf(stderr, "==== worker TSan report %s:\n", e->d_name);
            char line[1024];
            while (fgets(line, sizeof(line), f))
                fputs(line, stderr);
            fclose(f);
            n++;
        }
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(report_dir);
    return n;
}

int
main(void)
{
    collect_worker_reports();
    ray_set_log_cb(on_log, NULL);
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cfg.log_level = 4; /* debug: every runtime thread logs */
    ray_err e = ray_init(&cfg);
    if (e != RAY_OK) {
        fprintf(stderr, "ray_init: %s (%s)\n", ray_strerror(e),
                ray_last_error_detail());
        return 1;
    }
    ray_actor_opts threaded = {.max_concurrency = 4, .name = "tally"};
    CHECK(tally_create(&shared_tally, &threaded, 0) == RAY_OK, "tally_create");
    CHECK(ray_actor_wait_ready(shared_tally, T_MS) == RAY_OK, "tally ready");

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, user_thread,
                             (void *)(intptr_t)(i + 1)) == 0,
              "pthread_create");
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    /* Every call reached the threaded actor once: ROUNDS adds per thread,
     * plus each big round's read and each misc round's add by name. */
    int64_t more = 0;
    for (int i = 1; i <= THREADS; i++)
        for (int r = 0; r < ROUNDS; r++)
            more += (r % 8 == i % 8) + (r % 6 == 3);
    int64_t calls = get_i64(tally_calls_remote(shared_tally));
    CHECK(calls == THREADS * ROUNDS + more, "tally saw %lld calls",
          (long long)calls);
    /* The completion callbacks ran (on the runtime's thread), each once. */
    for (int i = 0; i < 10000 && atomic_load(&callbacks) < THREADS * ROUNDS;
         i++)
        usleep(1000);
    CHECK(atomic_load(&callbacks) == THREADS * ROUNDS, "%lld callbacks",
          (long long)atomic_load(&callbacks));
    ray_actor_release(shared_tally);
    ray_shutdown();
    ray_set_log_cb(NULL, NULL);

    int reports = worker_reports();
    int failed = atomic_load(&failures);
    printf("driver_threads: %d threads x %d rounds, %lld log lines, %d "
           "failed checks, %d worker TSan reports\n",
           THREADS, ROUNDS, (long long)atomic_load(&log_lines), failed,
           reports);
    return failed == 0 && reports == 0 ? 0 : 1;
}

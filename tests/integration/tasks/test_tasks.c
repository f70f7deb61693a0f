/* SPDX-License-Identifier: Apache-2.0
 *
 * Integration tests of the local task runtime: a real driver (this test
 * process, forked per test by Criterion) with real worker processes (this
 * binary re-executed in worker mode). Every test tears the runtime down in
 * .fini, so workers never outlive a failed test, and bounds every wait.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ray/ray.h>

#include "tests/integration/common/gate.h"

/* ---- remote functions used by the tests ---- */

static int64_t
add(int64_t a, int64_t b)
{
    return a + b;
}
RAY_REMOTE(add, int64_t, int64_t, int64_t);

static double
scale(double x, double k)
{
    return x * k;
}
RAY_REMOTE(scale, double, double, double);

static char *
greet(const char *name, int32_t times)
{
    char *s = malloc(256);
    int n = snprintf(s, 256, "hello");
    for (int i = 0; i < times && n < 200; i++)
        n += snprintf(s + n, (size_t)(256 - n), " %s", name);
    return s;
}
RAY_REMOTE(greet, char *, const char *, int32_t);

static double
sum_f64s(ray_f64s v)
{
    double s = 0;
    for (size_t i = 0; i < v.n; i++)
        s += v.v[i];
    return s;
}
RAY_REMOTE(sum_f64s, double, ray_f64s);

static ray_bytes
reverse_bytes(ray_bytes b)
{
    uint8_t *p = malloc(b.len ? b.len : 1);
    for (size_t i = 0; i < b.len; i++)
        p[i] = ((const uint8_t *)b.data)[b.len - 1 - i];
    return (ray_bytes){p, b.len};
}
RAY_REMOTE(reverse_bytes, ray_bytes, ray_bytes);

static int64_t
sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return ms;
}
RAY_REMOTE(sleep_ms, int64_t, int64_t);

/* Returns v once a byte arrives on FIFO `gate`: a task the test holds
 * running until it opens the gate. */
static int64_t
held_value(const char *gate, int64_t v)
{
    if (!gate_pass(gate))
        ray_task_fail(RAY_ETASK_FAILED, "gate %s unreadable", gate);
    return v;
}
RAY_REMOTE(held_value, int64_t, const char *, int64_t);

static int64_t
my_pid(void)
{
    return (int64_t)getpid();
}
RAY_REMOTE0(my_pid, int64_t);

static int64_t
fails(int64_t code)
{
    ray_task_fail(RAY_ETASK_FAILED, "bad input %lld", (long long)code);
    return 0;
}
RAY_REMOTE(fails, int64_t, int64_t);

/* Appends one byte to `path` per attempt, then crashes / exits / sleeps. */
static void
note_attempt(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd >= 0) {
        (void)!write(fd, "x", 1);
        close(fd);
    }
}

static long
attempts(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static int64_t
segv(const char *path)
{
    note_attempt(path);
    raise(SIGSEGV);
    return 0;
}
RAY_REMOTE(segv, int64_t, const char *);

static int64_t
exits(const char *path)
{
    note_attempt(path);
    exit(0);
}
RAY_REMOTE(exits, int64_t, const char *);

/* First attempt blocks (to be SIGKILLed); later attempts return 7. */
static int64_t
slow_first(const char *path)
{
    note_attempt(path);
    if (attempts(path) == 1)
        sleep_ms(20000);
    return 7;
}
RAY_REMOTE(slow_first, int64_t, const char *);

static int64_t
chatty(int64_t v)
{
    printf("chatty says %lld\n", (long long)v);
    return v;
}
RAY_REMOTE(chatty, int64_t, int64_t);

static int64_t
cube(int64_t x)
{
    return x * x * x;
}
RAY_REMOTE(cube, int64_t, int64_t);

static ray_err
echo_raw(const void *in, size_t len, ray_bytes *out)
{
    void *p = malloc(len + 1);
    memcpy(p, in, len);
    ((char *)p)[len] = '!';
    *out = (ray_bytes){p, len + 1};
    return RAY_OK;
}
RAY_REMOTE_RAW(echo_raw);

/* ---- fixture ---- */

static char tmp_path[64];

static void
setup(void)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/rayc_test_%d", (int)getpid());
    unlink(tmp_path);
}

static void
teardown(void)
{
    ray_shutdown();
    unlink(tmp_path);
}

TestSuite(tasks, .init = setup, .fini = teardown, .timeout = 30);

#define GET_I64(ref, v) ray_get_int64((ref), (v), 10000)

Test(tasks, typed_call_returns_value)
{
    ray_ref r = add_remote(40, 2);
    int64_t v = 0;
    cr_assert_eq(GET_I64(r, &v), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(v, 42);
    ray_ref_release(r);
    ray_ref d = scale_remote(1.5, 4);
    double x;
    cr_assert_eq(ray_get_double(d, &x, 10000), RAY_OK);
    cr_assert_float_eq(x, 6.0, 1e-12);
    ray_ref_release(d);
}

Test(tasks, strings_bytes_and_arrays_travel)
{
    ray_ref g = greet_remote("ray", 2);
    char *s = NULL;
    cr_assert_eq(ray_get_str(g, &s, 10000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_str_eq(s, "hello ray ray");
    ray_free(s);
    ray_ref_release(g);

    double arr[5] = {1, 2, 3, 4, 5.5};
    ray_ref a = sum_f64s_remote((ray_f64s){arr, 5});
    double sum;
    cr_assert_eq(ray_get_double(a, &sum, 10000), RAY_OK);
    cr_assert_float_eq(sum, 15.5, 1e-12);
    ray_ref_release(a);

    uint8_t big[200000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    ray_ref b = reverse_bytes_remote((ray_bytes){big, sizeof(big)});
    ray_view view;
    cr_assert_eq(ray_get(b, &view, 10000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(view.len, sizeof(big));
    cr_assert_eq(view.type, RAY_T_BYTES);
    const uint8_t *p = view.data;
    cr_assert_eq(p[0], big[sizeof(big) - 1]);
    cr_assert_eq(p[sizeof(big) - 1], big[0]);
    ray_release(&view);
    ray_ref_release(b);
}

Test(tasks, raw_form_and_unknown_function)
{
    ray_ref r = ray_call_raw("echo_raw", "abc", 3, NULL);
    void *data;
    size_t len;
    cr_assert_eq(ray_get_bytes(r, &data, &len, 10000), RAY_OK);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(data, "abc!", 4), 0);
    ray_free(data);
    ray_ref_release(r);

    ray_ref u = ray_call_raw("no_such_function", "x", 1, NULL);
    cr_assert_neq(u.id, 0);
    cr_assert_eq(ray_get(u, &(ray_view){0}, 10000), RAY_ENOTFOUND);
    cr_assert(strstr(ray_last_error_detail(), "no_such_function"), "detail: %s",
              ray_last_error_detail());
    ray_ref_release(u);
}

Test(tasks, refs_as_arguments_build_chains_and_diamonds)
{
    ray_ref x;
    cr_assert_eq(ray_put_int64(1, &x), RAY_OK);
    ray_ref b = RAY_CALL(add, x, 10);  /* 11 */
    ray_ref c = RAY_CALL(add, x, 100); /* 101 */
    ray_ref d = RAY_CALL(add, b, c);   /* 112 */
    int64_t v;
    cr_assert_eq(GET_I64(d, &v), RAY_OK);
    cr_assert_eq(v, 112);
    /* A ref of int64 may stand where a double is expected. */
    ray_ref s = RAY_CALL(scale, d, 0.5);
    double dv;
    cr_assert_eq(ray_get_double(s, &dv, 10000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_float_eq(dv, 56.0, 1e-12);
    ray_ref refs[] = {x, b, c, d, s};
    for (int i = 0; i < 5; i++)
        ray_ref_release(refs[i]);
}

Test(tasks, chain_10000_deep)
{
    ray_ref r;
    cr_assert_eq(ray_put_int64(0, &r), RAY_OK);
    for (int i = 0; i < 10000; i++) {
        ray_ref n = RAY_CALL(add, r, 1);
        cr_assert_neq(n.id, 0, "%s", ray_last_error_detail());
        ray_ref_release(r); /* the pending task keeps it alive */
        r = n;
    }
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 10000);
    ray_ref_release(r);
    ray_stats st;
    cr_assert_eq(ray_get_stats(&st), RAY_OK);
    cr_assert_eq(st.objects_live, 0);
    cr_assert_eq(st.tasks_live, 0);
}

Test(tasks, hundred_thousand_tasks_in_flight)
{
    enum { N = 100000 };
    ray_ref *refs = malloc(N * sizeof(*refs));
    for (int i = 0; i < N; i++)
        refs[i] = add_remote(i, 1);
    for (int i = 0; i < N; i++) {
        int64_t v;
        cr_assert_eq(GET_I64(refs[i], &v), RAY_OK);
        cr_assert_eq(v, i + 1);
        ray_ref_release(refs[i]);
    }
    free(refs);
    ray_stats st;
    ray_get_stats(&st);
    cr_assert_eq(st.objects_live, 0);
}

/* Orders, not times: r0 is held at a gate on one worker; r1 ends, then
 * r2 (held at its own gate until the test opens it), then r0 (its gate
 * opens last). ray_wait lists the ready ones in that order. */
Test(tasks, wait_returns_in_completion_order)
{
    char g0[96], g2[96];
    snprintf(g0, sizeof(g0), "%s.g0", tmp_path);
    snprintf(g2, sizeof(g2), "%s.g2", tmp_path);
    cr_assert(gate_make(g0) && gate_make(g2));
    ray_ref r[3];
    r[0] = held_value_remote(g0, 0);
    r[1] = sleep_ms_remote(1);
    size_t idx[3], n = 0;
    cr_assert_eq(ray_wait(&r[1], 1, 1, 10000, idx, &n), RAY_OK);
    cr_assert_eq(n, 1);
    r[2] = held_value_remote(g2, 2);
    cr_assert(gate_open_within(g2, 10000), "r2 never started");
    cr_assert_eq(ray_wait(r, 3, 2, 10000, idx, &n), RAY_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(idx[0], 1);
    cr_assert_eq(idx[1], 2);
    cr_assert(gate_open_within(g0, 10000), "r0 was not held");
    cr_assert_eq(ray_wait(r, 3, 3, 10000, idx, &n), RAY_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(idx[0], 1);
    cr_assert_eq(idx[1], 2);
    cr_assert_eq(idx[2], 0);
    for (int i = 0; i < 3; i++)
        ray_ref_release(r[i]);
    unlink(g0);
    unlink(g2);
}

/* The task is held at a gate, so only their timeouts can end the get and
 * the wait: the get waits at least its 100 ms, and both return while the
 * task is still held (the gate opens after them; a wait that ignored its
 * timeout would hang until the suite's .timeout). The ref still resolves
 * afterwards. */
Test(tasks, get_and_wait_time_out)
{
    char g[96];
    snprintf(g, sizeof(g), "%s.g", tmp_path);
    cr_assert(gate_make(g));
    ray_ref r = held_value_remote(g, 7);
    int64_t v;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_eq(ray_get_int64(r, &v, 100), RAY_ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    cr_assert_geq(ms, 95, "waited %.1f ms", ms);
    size_t idx[1], n = 9;
    cr_assert_eq(ray_wait(&r, 1, 1, 50, idx, &n), RAY_OK);
    cr_assert_eq(n, 0);
    cr_assert(gate_open_within(g, 10000), "the task was not held");
    cr_assert_eq(GET_I64(r, &v), RAY_OK);
    cr_assert_eq(v, 7);
    ray_ref_release(r);
    unlink(g);
}

Test(tasks, task_error_is_reported_with_its_message)
{
    ray_ref r = fails_remote(13);
    int64_t v;
    cr_assert_eq(GET_I64(r, &v), RAY_ETASK_FAILED);
    cr_assert(strstr(ray_last_error_detail(), "bad input 13"), "%s",
              ray_last_error_detail());
    cr_assert(strstr(ray_last_error_detail(), "fails"), "%s",
              ray_last_error_detail());
    /* A dependent task fails with the same error. */
    ray_ref d = RAY_CALL(add, r, 1);
    cr_assert_eq(GET_I64(d, &v), RAY_ETASK_FAILED);
    ray_ref_release(r);
    ray_ref_release(d);
}

Test(tasks, segfault_is_retried_then_reported_with_signal)
{
    ray_call_opts o = {.max_retries = 2};
    ray_ref r = segv_remote_opts(&o, tmp_path);
    int64_t v;
    cr_assert_eq(GET_I64(r, &v), RAY_EWORKER_DIED);
#if defined(__SANITIZE_ADDRESS__)
    /* ASan catches the SEGV and aborts (abort_on_error=1). */
    const char *sig = "signal 6";
#else
    const char *sig = "signal 11";
#endif
    cr_assert(strstr(ray_last_error_detail(), sig), "%s",
              ray_last_error_detail());
    cr_assert_eq(attempts(tmp_path), 3);
    ray_ref_release(r);
    /* The pool was refilled: work still runs. */
    ray_ref ok = add_remote(1, 2);
    cr_assert_eq(GET_I64(ok, &v), RAY_OK);
    cr_assert_eq(v, 3);
    ray_ref_release(ok);
    ray_stats st;
    ray_get_stats(&st);
    cr_assert_eq(st.worker_restarts, 3);
}

Test(tasks, task_calling_exit_is_a_worker_death)
{
    ray_call_opts o = {.max_retries = RAY_NO_RETRY};
    ray_ref r = exits_remote_opts(&o, tmp_path);
    int64_t v;
    cr_assert_eq(GET_I64(r, &v), RAY_EWORKER_DIED);
    cr_assert(strstr(ray_last_error_detail(), "exited with status 0"), "%s",
              ray_last_error_detail());
    cr_assert_eq(attempts(tmp_path), 1);
    ray_ref_release(r);
}

Test(tasks, worker_sigkilled_mid_task_is_retried)
{
    ray_ref r = slow_first_remote(tmp_path);
    for (int i = 0; i < 1000 && attempts(tmp_path) == 0; i++)
        sleep_ms(5);
    cr_assert_eq(attempts(tmp_path), 1);
    /* SIGKILL every worker (the one running the task among them); they
     * are children of one of this process's threads. */
    int killed = 0;
    DIR *dir = opendir("/proc/self/task");
    cr_assert_not_null(dir);
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/proc/self/task/%.200s/children",
                 de->d_name);
        FILE *f = fopen(path, "r");
        int pid;
        while (f && fscanf(f, "%d", &pid) == 1) {
            kill(pid, SIGKILL);
            killed++;
        }
        if (f)
            fclose(f);
    }
    closedir(dir);
    cr_assert_geq(killed, 1);
    int64_t v;
    cr_assert_eq(GET_I64(r, &v), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(v, 7);
    cr_assert_eq(attempts(tmp_path), 2);
    ray_ref_release(r);
}

Test(tasks, cancel_queued_and_running)
{
    /* Fill both workers, then queue more behind a dependency, held at a
     * gate until the cancels are done (a dependency that only slept could
     * end first on a slow machine, and q run before its cancel). */
    char g[96];
    snprintf(g, sizeof(g), "%s.g", tmp_path);
    cr_assert(gate_make(g));
    ray_ref dep = held_value_remote(g, 300);
    ray_ref q = RAY_CALL(add, dep, 1);
    cr_assert_eq(ray_cancel(q, false), RAY_OK);
    int64_t v;
    cr_assert_eq(GET_I64(q, &v), RAY_ECANCELLED);
    ray_ref run = sleep_ms_remote(20000);
    sleep_ms(100);
    cr_assert_eq(ray_cancel(run, true), RAY_OK);
    cr_assert_eq(GET_I64(run, &v), RAY_ECANCELLED);
    cr_assert(gate_open_within(g, 10000), "dep was not held");
    unlink(g);
    cr_assert_eq(GET_I64(dep, &v), RAY_OK);
    cr_assert_eq(ray_cancel(dep, false), RAY_EEXISTS);
    ray_ref_release(dep);
    ray_ref_release(q);
    ray_ref_release(run);
    /* Still usable after a forced cancel killed a worker. */
    ray_ref ok = add_remote(2, 2);
    cr_assert_eq(GET_I64(ok, &v), RAY_OK);
    ray_ref_release(ok);
}

static int cb_calls;
static ray_err cb_err;

static void
on_done(void *arg, ray_ref ref, ray_err err)
{
    (void)ref;
    cb_err = err;
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

Test(tasks, completion_callback_runs_once)
{
    ray_ref r = sleep_ms_remote(50);
    cr_assert_eq(ray_on_done(r, on_done, &cb_calls), RAY_OK);
    for (int i = 0;
         i < 2000 && __atomic_load_n(&cb_calls, __ATOMIC_SEQ_CST) == 0; i++)
        sleep_ms(5); /* at most 10 s, as every wait here */
    cr_assert_eq(__atomic_load_n(&cb_calls, __ATOMIC_SEQ_CST), 1);
    cr_assert_eq(cb_err, RAY_OK);
    /* Already done: runs at once. */
    cr_assert_eq(ray_on_done(r, on_done, &cb_calls), RAY_OK);
    cr_assert_eq(cb_calls, 2);
    ray_ref_release(r);
}

Test(tasks, refcount_returns_memory_to_baseline)
{
    ray_stats st;
    uint8_t buf[4096] = {1};
    ray_ref refs[500];
    for (int i = 0; i < 500; i++)
        cr_assert_eq(ray_put_bytes(buf, sizeof(buf), &refs[i]), RAY_OK);
    ray_get_stats(&st);
    cr_assert_eq(st.objects_live, 500);
    cr_assert_eq(st.object_bytes, 500 * sizeof(buf));
    ray_ref t = RAY_CALL(reverse_bytes, refs[0]);
    for (int i = 0; i < 500; i++)
        ray_ref_release(refs[i]);
    ray_view v;
    cr_assert_eq(ray_get(t, &v, 10000), RAY_OK);
    ray_ref_release(t); /* the view still pins it */
    ray_get_stats(&st);
    cr_assert_eq(st.objects_live, 1);
    ray_release(&v);
    ray_get_stats(&st);
    cr_assert_eq(st.objects_live, 0);
    cr_assert_eq(st.object_bytes, 0);
    cr_assert_eq(ray_get(t, &v, 0), RAY_EINVAL);
}

Test(tasks, worker_output_is_prefixed_by_pid)
{
    /* Send the runtime's forwarded output into a file. */
    fflush(stdout);
    int saved = dup(1);
    int fd = open(tmp_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    ray_ref p = my_pid_remote();
    ray_ref r = chatty_remote(77);
    int64_t v, pid;
    cr_assert_eq(GET_I64(r, &v), RAY_OK);
    cr_assert_eq(GET_I64(p, &pid), RAY_OK);
    char want[64];
    snprintf(want, sizeof(want), ") chatty says 77");
    char got[4096] = {0};
    for (int i = 0; i < 400; i++) {
        (void)!pread(fd, got, sizeof(got) - 1, 0);
        if (strstr(got, want))
            break;
        sleep_ms(5);
    }
    dup2(saved, 1);
    close(saved);
    close(fd);
    cr_assert(strstr(got, "(pid="), "output: %s", got);
    cr_assert(strstr(got, want), "output: %s", got);
    ray_ref_release(p);
    ray_ref_release(r);
}

Test(tasks, map_helpers_chunk_and_keep_order)
{
    enum { N = 100000 };
    int64_t *in = malloc(N * sizeof(int64_t)),
            *out = malloc(N * sizeof(int64_t));
    for (int i = 0; i < N; i++)
        in[i] = i + 1;
    cr_assert_eq(RAY_MAP(cube, in, N, out), RAY_OK, "%s",
                 ray_last_error_detail());
    for (int i = 0; i < N; i++)
        cr_assert_eq(out[i], (int64_t)(i + 1) * (i + 1) * (i + 1));
    int64_t b[3] = {10, 20, 30}, sums[3];
    cr_assert_eq(RAY_STARMAP(add, 3, sums, in, b), RAY_OK);
    cr_assert_eq(sums[2], 33);
    ray_map_job *job;
    memset(out, 0, N * sizeof(int64_t));
    cr_assert_eq(RAY_MAP_ASYNC(cube, &job, in, N, out), RAY_OK);
    size_t lo, hi, covered = 0;
    ray_err e;
    while ((e = ray_map_job_next(job, &lo, &hi, 10000)) == RAY_OK) {
        for (size_t i = lo; i < hi; i++)
            cr_assert_eq(out[i], in[i] * in[i] * in[i]);
        covered += hi - lo;
    }
    cr_assert_eq(e, RAY_ECLOSED);
    cr_assert_eq(covered, N);
    ray_map_job_destroy(job);
    free(in);
    free(out);
}

Test(tasks, bad_calls_are_einval_not_crashes)
{
    ray_view v;
    cr_assert_eq(ray_get(RAY_REF_NULL, &v, 0), RAY_EINVAL);
    cr_assert_eq(ray_init(NULL), RAY_EEXISTS);
    ray_ref r = RAY_CALL(add, RAY_REF_NULL, 1);
    cr_assert_eq(r.id, 0);
    ray_call_opts o = {.num_cpus = 64};
    r = add_remote_opts(&o, 1, 2);
    cr_assert_eq(r.id, 0);
    cr_assert(strstr(ray_last_error_detail(), "infeasible"));
    cr_assert_eq(ray_cancel(RAY_REF_NULL, false), RAY_EINVAL);
}

/* ---- a driver killed with SIGKILL leaves nothing behind ---- */

static int64_t
pid_after(int64_t ms)
{
    sleep_ms(ms);
    return (int64_t)getpid();
}
RAY_REMOTE(pid_after, int64_t, int64_t);

static bool
gone_or_zombie(int pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !p || p[2] == 'Z' || p[2] == 'X';
}

TestSuite(driver_death, .timeout = 30);

Test(driver_death, sigkilled_driver_takes_its_workers_along)
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
        if (ray_init(&cfg) != RAY_OK)
            _exit(1);
        ray_ref a = pid_after_remote(150), b = pid_after_remote(150);
        int64_t pids[2];
        if (ray_get_int64(a, &pids[0], 10000) != RAY_OK ||
            ray_get_int64(b, &pids[1], 10000) != RAY_OK)
            _exit(2);
        ray_ref busy = sleep_ms_remote(20000);
        (void)busy;
        (void)!write(pp[1], pids, sizeof(pids));
        pause();
        _exit(0);
    }
    close(pp[1]);
    int64_t pids[2];
    cr_assert_eq(read(pp[0], pids, sizeof(pids)), (ssize_t)sizeof(pids));
    close(pp[0]);
    cr_assert_neq(pids[0], pids[1], "two distinct workers");
    cr_assert_not(gone_or_zombie((int)pids[0]));
    kill(drv, SIGKILL);
    int st;
    cr_assert_eq(waitpid(drv, &st, 0), drv);
    bool gone = false;
    for (int i = 0; i < 400 && !gone; i++) {
        gone = gone_or_zombie((int)pids[0]) && gone_or_zombie((int)pids[1]);
        if (!gone)
            sleep_ms(5);
    }
    cr_assert(gone, "workers %lld and %lld outlived their driver",
              (long long)pids[0], (long long)pids[1]);
}

static ray_bytes
make_big(int64_t n)
{
    uint8_t *p = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + 7);
    return (ray_bytes){p, (size_t)n};
}
RAY_REMOTE(make_big, ray_bytes, int64_t);

Test(tasks, results_larger_than_the_ring_are_reassembled)
{
    int64_t n = 9 * 1024 * 1024 + 13; /* > 2 rings of 4 MiB */
    ray_ref r = make_big_remote(n);
    ray_ref small = add_remote(1, 1); /* queued behind it on a worker */
    ray_view v;
    cr_assert_eq(ray_get(r, &v, 20000), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(v.len, (size_t)n);
    const uint8_t *p = v.data;
    for (int64_t i = 0; i < n; i += 4099)
        cr_assert_eq(p[i], (uint8_t)(i * 31 + 7), "byte %lld", (long long)i);
    cr_assert_eq(p[n - 1], (uint8_t)((n - 1) * 31 + 7));
    ray_release(&v);
    int64_t s;
    cr_assert_eq(ray_get_int64(small, &s, 10000), RAY_OK);
    cr_assert_eq(s, 2);
    ray_ref_release(r);
    ray_ref_release(small);
    /* An argument larger than a ring record goes through the shared
     * arena, read in place by the worker. */
    size_t big = 3u << 20;
    uint8_t *buf = malloc(big);
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)(i * 13);
    ray_ref t = reverse_bytes_remote((ray_bytes){buf, big});
    cr_assert_eq(ray_get(t, &v, 10000), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(v.len, big);
    p = v.data;
    cr_assert_eq(p[0], buf[big - 1]);
    cr_assert_eq(p[big - 1], buf[0]);
    cr_assert_eq(p[12345], buf[big - 1 - 12345]);
    ray_release(&v);
    ray_ref_release(t);
    free(buf);
}

/* ---- calls from inside tasks ---- */

static int64_t
fan_out(int64_t n)
{
    ray_ref *refs = malloc((size_t)n * sizeof(*refs));
    for (int64_t i = 0; i < n; i++)
        refs[i] = add_remote(i, 1);
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = 0;
        if (ray_get_int64(refs[i], &v, 10000) != RAY_OK)
            ray_task_fail(RAY_ETASK_FAILED, "child %lld: %s", (long long)i,
                          ray_last_error_detail());
        sum += v;
        ray_ref_release(refs[i]);
    }
    free(refs);
    return sum;
}
RAY_REMOTE(fan_out, int64_t, int64_t);

static int64_t
nested_put_get(int64_t x)
{
    ray_ref p;
    if (ray_put_int64(x * 10, &p) != RAY_OK)
        return -1;
    ray_ref r = RAY_CALL(add, p, 5); /* a ref made inside the task */
    int64_t v = -1;
    ray_get_int64(r, &v, 10000);
    ray_ref_release(p);
    ray_ref_release(r);
    return v;
}
RAY_REMOTE(nested_put_get, int64_t, int64_t);

Test(tasks, tasks_submit_and_get_tasks)
{
    /* More parents than workers: each blocks in get while its children
     * run, on other workers or nested on its own. */
    ray_ref r[4];
    for (int i = 0; i < 4; i++)
        r[i] = fan_out_remote(2000);
    for (int i = 0; i < 4; i++) {
        int64_t v;
        cr_assert_eq(ray_get_int64(r[i], &v, 20000), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_eq(v, 2000LL * 2001 / 2);
        ray_ref_release(r[i]);
    }
    ray_ref q = nested_put_get_remote(4);
    int64_t v;
    cr_assert_eq(ray_get_int64(q, &v, 10000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 45);
    ray_ref_release(q);
    /* Everything made inside the tasks was released. */
    ray_stats st;
    for (int i = 0; i < 200; i++) {
        ray_get_stats(&st);
        if (st.tasks_live == 0)
            break;
        sleep_ms(5);
    }
    cr_assert_eq(st.tasks_live, 0);
}

/* ---- custom resources ---- */

static void
setup_res(void)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cfg.resources = "slot:1";
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
}

static void
teardown_res(void)
{
    ray_shutdown();
}

TestSuite(resources, .init = setup_res, .fini = teardown_res, .timeout = 30);

static double
elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1e3 + (b.tv_nsec - a->tv_nsec) / 1e6;
}

/* Counts its start in `file`, then waits at FIFO `gate`. */
static int64_t
count_then_hold(const char *file, const char *gate)
{
    return count_event(file) && gate_pass(gate) ? 1 : -1;
}
RAY_REMOTE(count_then_hold, int64_t, const char *, const char *);

/* Orders, not times: a task holding slot:1 is kept at a gate; the task
 * that needs no slot runs meanwhile, the second slot:1 task does not
 * start until the first ends; two slot:0.5 tasks are both running (both
 * counted their start) before either gate opens. */
Test(resources, custom_resources_limit_concurrency)
{
    char file[64], g1[64], g2[64];
    snprintf(file, sizeof(file), "/tmp/rayc_res_%d", (int)getpid());
    snprintf(g1, sizeof(g1), "/tmp/rayc_res_g1_%d", (int)getpid());
    snprintf(g2, sizeof(g2), "/tmp/rayc_res_g2_%d", (int)getpid());
    unlink(file);
    cr_assert(gate_make(g1) && gate_make(g2));
    ray_call_opts whole = {.resources = "slot:1"};
    ray_call_opts half = {.resources = "slot:0.5"};
    ray_ref a = count_then_hold_remote_opts(&whole, file, g1);
    ray_ref b = count_then_hold_remote_opts(&whole, file, g2);
    ray_ref free_task = add_remote(1, 1); /* needs none: not held back */
    int64_t v;
    cr_assert_eq(ray_get_int64(free_task, &v, 10000), RAY_OK,
                 "unconstrained task waited");
    for (int i = 0; i < 10000 && count_bytes(file) < 1; i++)
        usleep(1000);
    cr_assert_eq(count_bytes(file), 1, "only one slot:1 task may start");
    cr_assert(gate_open_within(g1, 10000)); /* a ends: b may start */
    cr_assert_eq(ray_get_int64(a, &v, 10000), RAY_OK);
    cr_assert(gate_open_within(g2, 10000), "b never started");
    cr_assert_eq(ray_get_int64(b, &v, 10000), RAY_OK);
    cr_assert_eq(count_bytes(file), 2);
    unlink(file);
    cr_assert(gate_make(g1) && gate_make(g2));
    ray_ref c = count_then_hold_remote_opts(&half, file, g1);
    ray_ref d = count_then_hold_remote_opts(&half, file, g2);
    for (int i = 0; i < 10000 && count_bytes(file) < 2; i++)
        usleep(1000);
    cr_assert_eq(count_bytes(file), 2, "two halves should run together");
    cr_assert(gate_open_within(g1, 10000) && gate_open_within(g2, 10000));
    cr_assert_eq(ray_get_int64(c, &v, 10000), RAY_OK);
    cr_assert_eq(ray_get_int64(d, &v, 10000), RAY_OK);
    ray_ref refs[] = {a, b, c, d, free_task};
    for (int i = 0; i < 5; i++)
        ray_ref_release(refs[i]);
    unlink(file);
    unlink(g1);
    unlink(g2);
    ray_call_opts gpu = {.resources = "GPU:1"};
    ray_ref g = add_remote_opts(&gpu, 1, 2);
    cr_assert_eq(g.id, 0);
    cr_assert(strstr(ray_last_error_detail(), "infeasible"), "%s",
              ray_last_error_detail());
}

/* ---- lifetime and allocation failures ---- */

#include <pthread.h>

#include "runtime/alloc.h"

static void *
init_thread(void *arg)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    *(ray_err *)arg = ray_init(&cfg);
    return NULL; /* this thread ends; the workers must not */
}

TestSuite(lifetime, .fini = teardown_res, .timeout = 30);

Test(lifetime, init_from_a_short_lived_thread)
{
    pthread_t th;
    ray_err e = RAY_EINTERNAL;
    cr_assert_eq(pthread_create(&th, NULL, init_thread, &e), 0);
    pthread_join(th, NULL);
    cr_assert_eq(e, RAY_OK);
    sleep_ms(50);
    ray_ref r = add_remote(20, 22);
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, 10000), RAY_OK);
    cr_assert_eq(v, 42);
    ray_ref_release(r);
    ray_stats st;
    ray_get_stats(&st);
    cr_assert_eq(st.worker_restarts, 0, "workers died with the init thread");
}

Test(lifetime, allocation_failures_are_enomem_and_recoverable)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 1;
    cr_assert_eq(ray_init(&cfg), RAY_OK);
    /* Let the runtime's own start-up allocations settle. */
    ray_ref w = add_remote(1, 1);
    int64_t v;
    cr_assert_eq(ray_get_int64(w, &v, 10000), RAY_OK);
    ray_ref_release(w);
    char big[100] = "a string longer than the inline spec of a task.......";
    int failures = 0;
    for (long n = 1; n <= 8; n++) {
        rt_alloc_fail_after(n);
        ray_ref r = greet_remote(big, 1);
        ray_ref p;
        ray_err pe = ray_put_bytes(big, sizeof(big), &p);
        rt_alloc_fail_after(0);
        if (r.id == 0) {
            failures++;
            cr_assert(strstr(ray_last_error_detail(), "out of memory") ||
                          strstr(ray_last_error_detail(), "memory"),
                      "%s", ray_last_error_detail());
        } else {
            char *s = NULL;
            ray_err ge = ray_get_str(r, &s, 10000);
            cr_assert(ge == RAY_OK || ge == RAY_ENOMEM, "%d", ge);
            ray_free(s);
            ray_ref_release(r);
        }
        if (pe == RAY_OK)
            ray_ref_release(p);
        else
            cr_assert_eq(pe, RAY_ENOMEM);
    }
    cr_assert_geq(failures, 1, "injection never hit a submit");
    ray_ref r = greet_remote("ok", 1);
    char *s = NULL;
    cr_assert_eq(ray_get_str(r, &s, 10000), RAY_OK);
    cr_assert_str_eq(s, "hello ok");
    ray_free(s);
    ray_ref_release(r);
}

/* ---- large arguments by reference, and an arena that is too small ---- */

static void
setup_small_arena(void)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cfg.object_store_bytes = 8u << 20;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
}

TestSuite(arena, .init = setup_small_arena, .fini = teardown_res,
          .timeout = 30);

Test(arena, big_refs_travel_and_oversized_args_fail_cleanly)
{
    size_t n = 3u << 20;
    uint8_t *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i >> 8);
    ray_ref p;
    cr_assert_eq(ray_put_bytes(buf, n, &p), RAY_OK);
    /* Several at once: they share the 8 MiB arena in turns. */
    ray_ref r[6];
    for (int i = 0; i < 6; i++)
        r[i] = RAY_CALL(reverse_bytes, p);
    for (int i = 0; i < 6; i++) {
        ray_view v;
        cr_assert_eq(ray_get(r[i], &v, 20000), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_eq(v.len, n);
        cr_assert_eq(((const uint8_t *)v.data)[0], buf[n - 1]);
        ray_release(&v);
        ray_ref_release(r[i]);
    }
    ray_ref_release(p);
    free(buf);
    size_t huge = 9u << 20;
    uint8_t *hb = calloc(1, huge);
    ray_ref t = reverse_bytes_remote((ray_bytes){hb, huge});
    ray_view v;
    cr_assert_eq(ray_get(t, &v, 10000), RAY_ESTORE_FULL);
    cr_assert(strstr(ray_last_error_detail(), "object_store_bytes"), "%s",
              ray_last_error_detail());
    ray_ref_release(t);
    free(hb);
}

Test(resources, multi_cpu_task_runs_alone)
{
    ray_call_opts two = {.num_cpus = 2};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ray_ref a = sleep_ms_remote_opts(&two, 200);
    ray_ref b = sleep_ms_remote(200); /* must not share the machine with a */
    int64_t v;
    cr_assert_eq(ray_get_int64(a, &v, 10000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(ray_get_int64(b, &v, 10000), RAY_OK);
    double ms = elapsed_ms(&t0);
    cr_assert_geq(ms, 395, "a 2-CPU task overlapped another (%.0f ms)", ms);
    ray_ref c = sleep_ms_remote(1); /* reservations were released */
    cr_assert_eq(ray_get_int64(c, &v, 10000), RAY_OK);
    ray_ref_release(a);
    ray_ref_release(b);
    ray_ref_release(c);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * Bad input at every public entry point, with a running runtime (ray.h:
 * "Bad input never aborts the process: it is RAY_EINVAL"). Each case
 * asserts the error code, that the detail says something, and that the
 * runtime still works afterwards. Criterion runs each test in a process
 * of its own, so a crash fails the test that caused it.
 *  - NULL out-pointers, views, columns, names and callbacks;
 *  - buffers at NULL, strings without their NUL, arrays of a partial
 *    element, sizes that cannot fit;
 *  - refs that are null, released, made up (another owner), or kept
 *    from a runtime that was shut down; actor handles likewise;
 *  - options and configuration out of range;
 *  - a function's own ray_task_fail message kept through the macros;
 *  - an open-file limit too low for the workers, or for the actors.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ray/ray.h>

/* ---- remote functions ---- */

static int64_t
twice(int64_t x)
{
    return 2 * x;
}
RAY_REMOTE(twice, int64_t, int64_t);

static int64_t
add2(int64_t x, int64_t y)
{
    return x + y;
}
RAY_REMOTE(add2, int64_t, int64_t, int64_t);

static int64_t
blen(ray_bytes b)
{
    return (int64_t)b.len;
}
RAY_REMOTE(blen, int64_t, ray_bytes);

/* 1 when the string arrived as NULL, else its length + 100. */
static int64_t
str_null(const char *s)
{
    return s ? (int64_t)strlen(s) + 100 : 1;
}
RAY_REMOTE(str_null, int64_t, const char *);

/* A raw function that reports its own failure, then returns it. */
static ray_err
lookup_raw(const void *in, size_t len, ray_bytes *out)
{
    (void)in;
    (void)out;
    ray_task_fail(RAY_ENOTFOUND, "no such key %zu", len);
    return RAY_ENOTFOUND;
}
RAY_REMOTE_RAW(lookup_raw);

/* A raw function that fails without saying why: the generic message. */
static ray_err
silent_raw(const void *in, size_t len, ray_bytes *out)
{
    (void)in;
    (void)len;
    (void)out;
    return RAY_EBUSY;
}
RAY_REMOTE_RAW(silent_raw);

static int64_t
fail_null_fmt(int64_t x)
{
    ray_task_fail(RAY_ETASK_FAILED, NULL);
    return x;
}
RAY_REMOTE(fail_null_fmt, int64_t, int64_t);

typedef struct box {
    int64_t v;
} box;

static ray_err
box_init(box *s, int64_t v)
{
    if (v < 0) {
        ray_task_fail(RAY_EINVAL, "box cannot start at %lld", (long long)v);
        return RAY_EINVAL;
    }
    s->v = v;
    return RAY_OK;
}
RAY_ACTOR(box, box_init, int64_t);

static int64_t
box_get(box *s)
{
    return s->v;
}
RAY_METHOD0(box, box_get, int64_t);

static int64_t
box_add(box *s, int64_t x, int64_t y)
{
    return s->v + x + y;
}
RAY_METHOD(box, box_add, int64_t, int64_t, int64_t);

/* Inside a task, the same checks as in the driver: returns a bit per
 * case that was refused with RAY_EINVAL (or RAY_ETOOBIG) and a detail. */
static int64_t
bad_inside(int64_t x)
{
    int64_t bits = 0, k = 0;
    ray_ref live;
    if (ray_put_int64(x, &live) != RAY_OK)
        return -1;
#define CASE(cond) bits |= ((cond) && ray_last_error_detail()[0]) << k++
    CASE(ray_get_int64(live, NULL, 1000) == RAY_EINVAL);
    ray_ref forged = {live.id, live.owner ^ 1};
    int64_t v;
    CASE(ray_get_int64(forged, &v, 1000) == RAY_EINVAL);
    CASE(ray_ref_retain(forged) == RAY_EINVAL);
    CASE(ray_cancel(forged, false) == RAY_EINVAL);
    ray_ref r = blen_remote((ray_bytes){NULL, 100});
    CASE(r.id == 0);
    r = ray_call_raw("lookup_raw", "x", SIZE_MAX, NULL);
    CASE(r.id == 0);
    r = RAY_CALL(twice, forged);
    CASE(r.id == 0);
    ray_ref p;
    CASE(ray_put(RAY_T_STR, "ab", 2, &p) == RAY_EINVAL);
    size_t idx[1], n;
    CASE(ray_wait(&forged, 1, 1, 0, idx, &n) == RAY_EINVAL);
    /* A request bigger than a ring record (half the default 4 MiB). */
    size_t big_len = 3u << 20;
    char *big = malloc(big_len + 1);
    if (!big)
        return -3;
    memset(big, 'a', big_len);
    big[big_len] = '\0';
    ray_call_opts co = {.name = big};
    r = twice_remote_opts(&co, 1);
    CASE(r.id == 0 && strstr(ray_last_error_detail(), "too large"));
    ray_actor h;
    CASE(ray_actor_lookup(big, &h) == RAY_ETOOBIG);
    ray_actor_opts ao = {.name = big};
    CASE(box_create(&h, &ao, 1) == RAY_ETOOBIG);
    free(big);
#undef CASE
    if (ray_get_int64(live, &v, 1000) != RAY_OK || v != x)
        bits = -2; /* the live object was disturbed */
    ray_ref_release(live);
    return bits;
}
RAY_REMOTE(bad_inside, int64_t, int64_t);

/* ---- fixture ---- */

static void
start(void)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
}

static void
teardown(void)
{
    ray_shutdown();
}

TestSuite(bad_input, .fini = teardown, .timeout = 60);

/* The last call failed with `e` and said why. */
#define EXPECT_ERR(call, e)                                                    \
    do {                                                                       \
        ray_err got_ = (call);                                                 \
        cr_assert_eq(got_, (e), "%s: got %s (%s)", #call, ray_strerror(got_),  \
                     ray_last_error_detail());                                 \
        cr_assert_neq(ray_last_error_detail()[0], '\0', "%s: no detail",       \
                      #call);                                                  \
    } while (0)

/* A call returning a ref failed at once with `e` and said why. */
#define EXPECT_NULL_REF(call, e, text)                                         \
    do {                                                                       \
        ray_ref r_ = (call);                                                   \
        cr_assert_eq(r_.id, 0, "%s gave a ref", #call);                        \
        cr_assert(strstr(ray_last_error_detail(), (text)), "%s: '%s'", #call,  \
                  ray_last_error_detail());                                    \
        int64_t v_;                                                            \
        cr_assert_eq(ray_get_int64(r_, &v_, 0), (e));                          \
    } while (0)

/* The runtime still runs tasks. */
static void
still_works(void)
{
    ray_ref r = twice_remote(21);
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 42);
    ray_ref_release(r);
}

/* ---- NULL pointers ---- */

Test(bad_input, null_outs_of_gets)
{
    start();
    ray_ref r = twice_remote(1);
    EXPECT_ERR(ray_get_int64(r, NULL, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get_int32(r, NULL, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get_uint64(r, NULL, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get_double(r, NULL, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get_float(r, NULL, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get_bool(r, NULL, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get(r, NULL, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get_str(r, NULL, 1000), RAY_EINVAL);
    size_t len;
    void *data;
    EXPECT_ERR(ray_get_bytes(r, NULL, &len, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get_bytes(r, &data, NULL, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get_many(NULL, 1, NULL, 1000), RAY_EINVAL);
    EXPECT_ERR(ray_get_stats(NULL), RAY_EINVAL);
    size_t idx[1], n;
    EXPECT_ERR(ray_wait(&r, 1, 1, 0, idx, NULL), RAY_EINVAL);
    EXPECT_ERR(ray_wait(NULL, 1, 1, 0, idx, &n), RAY_EINVAL);
    EXPECT_ERR(ray_wait(&r, 1, 2, 0, idx, &n), RAY_EINVAL);
    EXPECT_ERR(ray_on_done(r, NULL, NULL), RAY_EINVAL);
    ray_ref p;
    EXPECT_ERR(ray_put(RAY_T_I64, NULL, 8, &p), RAY_EINVAL);
    cr_assert_eq(p.id, 0, "a failed put gives the null ref");
    EXPECT_ERR(ray_put_int64(1, NULL), RAY_EINVAL);
    EXPECT_ERR(ray_put_str(NULL, &p), RAY_EINVAL);
    EXPECT_ERR(ray_actor_lookup(NULL, NULL), RAY_EINVAL);
    ray_release(NULL);
    ray_free(NULL);
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK);
    cr_assert_eq(v, 2);
    ray_ref_release(r);
    still_works();
}

Test(bad_input, maps_with_null_arrays)
{
    start();
    int64_t in[4] = {1, 2, 3, 4}, out[4];
    const int64_t *none = NULL;
    EXPECT_ERR(RAY_MAP(twice, none, 4, out), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "column 1"), "%s",
              ray_last_error_detail());
    EXPECT_ERR(RAY_MAP(twice, in, 4, (int64_t *)NULL), RAY_EINVAL);
    EXPECT_ERR(ray_map_cols(NULL, NULL, 1, out, NULL), RAY_EINVAL);
    EXPECT_ERR(ray_map_job_wait(NULL, 0), RAY_EINVAL);
    size_t lo, hi;
    EXPECT_ERR(ray_map_job_next(NULL, &lo, &hi, 0), RAY_EINVAL);
    ray_map_job_destroy(NULL);
    cr_assert_eq(RAY_MAP(twice, in, 4, out), RAY_OK);
    cr_assert_eq(out[3], 8);
    still_works();
}

Test(bad_input, inside_a_task_too)
{
    start();
    ray_ref r = bad_inside_remote(5);
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 0xfff, "cases refused inside the task: 0x%llx",
                 (long long)v);
    ray_ref_release(r);
    still_works();
}

/* ---- buffers and sizes ---- */

Test(bad_input, buffers_at_null_and_sizes_that_cannot_fit)
{
    start();
    EXPECT_NULL_REF(blen_remote((ray_bytes){NULL, 100}), RAY_EINVAL,
                    "NULL pointer");
    char buf[16] = "abc";
    EXPECT_NULL_REF(ray_call_raw("lookup_raw", buf, SIZE_MAX, NULL), RAY_EINVAL,
                    "bytes");
    cr_assert_eq(ray_call_raw("lookup_raw", buf, SIZE_MAX, NULL).id, 0);
    EXPECT_NULL_REF(ray_call_raw("lookup_raw", NULL, 5, NULL), RAY_EINVAL,
                    "NULL pointer");
    EXPECT_NULL_REF(ray_call_raw(NULL, buf, 3, NULL), RAY_EINVAL, "name");
    /* A string without its NUL, an array of 7 bytes, an unknown type. */
    ray_arg a = {RAY_T_STR, 0, {.buf = {"abc", 3}}};
    ray_fn_desc d = {.name = "str_null", .nargs = 1};
    EXPECT_NULL_REF(ray_submit(&d, &a, 1, NULL), RAY_EINVAL, "NUL");
    a = (ray_arg){RAY_T_F64S, 0, {.buf = {buf, 7}}};
    EXPECT_NULL_REF(ray_submit(&d, &a, 1, NULL), RAY_EINVAL, "8-byte");
    a = (ray_arg){77, 0, {.i64 = 1}};
    EXPECT_NULL_REF(ray_submit(&d, &a, 1, NULL), RAY_EINVAL, "type 77");
    EXPECT_NULL_REF(ray_submit(&d, NULL, 1, NULL), RAY_EINVAL, "NULL");
    EXPECT_NULL_REF(ray_submit(&d, &a, 9, NULL), RAY_EINVAL, "at most");
    EXPECT_NULL_REF(ray_submit(NULL, &a, 1, NULL), RAY_EINVAL, "NULL");
    ray_ref r;
    EXPECT_ERR(ray_put(RAY_T_STR, "abc", 3, &r), RAY_EINVAL);
    EXPECT_ERR(ray_put(RAY_T_I64S, buf, 7, &r), RAY_EINVAL);
    EXPECT_ERR(ray_put(99, buf, 8, &r), RAY_EINVAL);
    EXPECT_ERR(ray_put(RAY_T_BYTES, buf, SIZE_MAX, &r), RAY_ETOOBIG);
    still_works();
}

Test(bad_input, a_null_string_arrives_as_null)
{
    start();
    ray_ref r = str_null_remote(NULL);
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 1);
    ray_ref_release(r);
    r = str_null_remote("");
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK);
    cr_assert_eq(v, 100, "the empty string stays a string");
    ray_ref_release(r);
}

/* ---- references ---- */

Test(bad_input, made_up_refs_never_alias_a_live_object)
{
    start();
    ray_ref live;
    cr_assert_eq(ray_put_int64(7, &live), RAY_OK);
    ray_ref forged = {live.id, live.owner ^ 0x5a5a};
    ray_ref zero_owner = {live.id, 0};
    int64_t v = 0;
    EXPECT_ERR(ray_get_int64(forged, &v, 0), RAY_EINVAL);
    EXPECT_ERR(ray_get_int64(zero_owner, &v, 0), RAY_EINVAL);
    ray_view view;
    EXPECT_ERR(ray_get(forged, &view, 0), RAY_EINVAL);
    EXPECT_ERR(ray_ref_retain(forged), RAY_EINVAL);
    EXPECT_ERR(ray_cancel(forged, false), RAY_EINVAL);
    size_t idx[1], n;
    EXPECT_ERR(ray_wait(&forged, 1, 1, 0, idx, &n), RAY_EINVAL);
    EXPECT_NULL_REF(RAY_CALL(twice, forged), RAY_EINVAL, "foreign");
    ray_ref_release(forged); /* ignored: the live object keeps its holder */
    cr_assert_eq(ray_get_int64(live, &v, 0), RAY_OK);
    cr_assert_eq(v, 7);
    ray_ref r = RAY_CALL(twice, live);
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK);
    cr_assert_eq(v, 14);
    ray_ref_release(r);
    ray_ref_release(live);
    EXPECT_ERR(ray_get_int64(live, &v, 0), RAY_EINVAL); /* released */
}

/* A ref of this runtime whose object was released: each call refuses it
 * naming the argument, and keeps no hold on the refs before it. */
Test(bad_input, released_refs_are_refused_by_every_call)
{
    start();
    ray_ref keep, gone;
    cr_assert_eq(ray_put_int64(5, &keep), RAY_OK);
    cr_assert_eq(ray_put_int64(6, &gone), RAY_OK);
    ray_ref_release(gone);
    EXPECT_NULL_REF(RAY_CALL(twice, gone), RAY_EINVAL,
                    "submit 'twice': argument 1 is a null or released");
    EXPECT_NULL_REF(RAY_CALL(add2, keep, gone), RAY_EINVAL, "argument 2");
    ray_actor h;
    cr_assert_eq(box_create(&h, NULL, 1), RAY_OK);
    EXPECT_NULL_REF(RAY_ACTOR_CALL(box_add, h, keep, gone), RAY_EINVAL,
                    "argument 2 is a null or released");
    ray_actor h2;
    EXPECT_ERR(RAY_ACTOR_CREATE(box, &h2, NULL, gone), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "argument 1"), "%s",
              ray_last_error_detail());
    ray_ref r = RAY_ACTOR_CALL(box_add, h, keep, 2);
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 8);
    ray_ref_release(r);
    ray_actor_release(h);
    /* The refused calls held nothing: this was the last holder. */
    ray_ref_release(keep);
    EXPECT_ERR(ray_get_int64(keep, &v, 0), RAY_EINVAL);
    still_works();
}

Test(bad_input, refs_and_handles_from_a_runtime_that_ended)
{
    start();
    ray_ref old;
    cr_assert_eq(ray_put_int64(1, &old), RAY_OK);
    ray_actor h;
    cr_assert_eq(box_create(&h, NULL, 5), RAY_OK);
    ray_shutdown();
    int64_t v;
    EXPECT_ERR(ray_get_int64(old, &v, 0), RAY_EINVAL); /* none runs */
    start();
    /* The new runtime's first object takes the same slot. */
    ray_ref fresh;
    cr_assert_eq(ray_put_int64(2, &fresh), RAY_OK);
    cr_assert_eq(fresh.id, old.id, "the same slot and generation again");
    EXPECT_ERR(ray_get_int64(old, &v, 0), RAY_EINVAL);
    cr_assert_eq(ray_get_int64(fresh, &v, 0), RAY_OK);
    cr_assert_eq(v, 2);
    ray_actor h2;
    cr_assert_eq(box_create(&h2, NULL, 6), RAY_OK);
    int state;
    EXPECT_ERR(ray_actor_state(h, &state, NULL), RAY_EINVAL);
    ray_ref c = box_get_remote(h);
    cr_assert_eq(ray_get_int64(c, &v, 20000), RAY_EACTOR_DIED, "%s",
                 ray_last_error_detail());
    ray_ref_release(c);
    c = box_get_remote(h2);
    cr_assert_eq(ray_get_int64(c, &v, 20000), RAY_OK);
    cr_assert_eq(v, 6);
    ray_ref_release(c);
    ray_ref_release(fresh);
    ray_actor_release(h2);
}

Test(bad_input, cancel_of_a_put_is_einval)
{
    start();
    ray_ref p;
    cr_assert_eq(ray_put_int64(3, &p), RAY_OK);
    EXPECT_ERR(ray_cancel(p, false), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "ray_put"), "%s",
              ray_last_error_detail());
    ray_ref r = twice_remote(2);
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK);
    EXPECT_ERR(ray_cancel(r, false), RAY_EEXISTS);
    ray_ref_release(r);
    ray_ref_release(p);
}

/* ---- options and configuration ---- */

Test(bad_input, call_and_actor_options_out_of_range)
{
    start();
    ray_call_opts o = {.num_cpus = NAN};
    EXPECT_NULL_REF(twice_remote_opts(&o, 1), RAY_EINVAL, "num_cpus");
    o = (ray_call_opts){.num_cpus = -1};
    EXPECT_NULL_REF(twice_remote_opts(&o, 1), RAY_EINVAL, "num_cpus");
    o = (ray_call_opts){.max_retries = -5};
    EXPECT_NULL_REF(twice_remote_opts(&o, 1), RAY_EINVAL, "max_retries");
    o = (ray_call_opts){.resources = "GPU:1"};
    EXPECT_NULL_REF(twice_remote_opts(&o, 1), RAY_EINVAL, "infeasible");
    ray_actor h;
    ray_actor_opts ao = {.max_concurrency = 100000};
    EXPECT_ERR(box_create(&h, &ao, 1), RAY_EINVAL);
    ao = (ray_actor_opts){.num_cpus = NAN};
    EXPECT_ERR(box_create(&h, &ao, 1), RAY_EINVAL);
    ao = (ray_actor_opts){.max_restarts = -2};
    EXPECT_ERR(box_create(&h, &ao, 1), RAY_EINVAL);
    EXPECT_ERR(box_create(NULL, NULL, 1), RAY_EINVAL);
    still_works();
}

Test(bad_input, configuration_out_of_range)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.log_level = 9;
    EXPECT_ERR(ray_init(&cfg), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "log_level"));
    ray_config_init(&cfg);
    cfg.num_cpus = -1;
    EXPECT_ERR(ray_init(&cfg), RAY_EINVAL);
    ray_config_init(&cfg);
    cfg.ring_bytes = 100000;
    EXPECT_ERR(ray_init(&cfg), RAY_EINVAL);
    ray_config_init(&cfg);
    cfg.max_inflight = -3;
    EXPECT_ERR(ray_init(&cfg), RAY_EINVAL);
    ray_config_init(&cfg);
    cfg.resources = "GPU:x";
    EXPECT_ERR(ray_init(&cfg), RAY_EINVAL);
    ray_config_init(&cfg);
    cfg.address = "127.0.0.1:99999"; /* malformed: nothing is dialled */
    EXPECT_ERR(ray_init(&cfg), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "1 to 65535"), "%s",
              ray_last_error_detail());
    cr_assert_not(ray_is_initialized());
    start();
    still_works();
}

/* Fields left zero come from RAYC_<KEY> variables (runtime/config.h's
 * table); a bad one fails ray_init, naming the variable. */
Test(bad_input, configuration_from_the_environment)
{
    cr_assert_eq(setenv("RAYC_NUM_CPUS", "lots", 1), 0);
    EXPECT_ERR(ray_init(NULL), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "RAYC_NUM_CPUS"), "%s",
              ray_last_error_detail());
    cr_assert_not(ray_is_initialized());
    cr_assert_eq(setenv("RAYC_NUM_CPUS", "3", 1), 0);
    cr_assert_eq(ray_init(NULL), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(ray_num_workers(), 3);
    ray_shutdown();
    /* An explicit field wins over the variable. */
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 2;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
    cr_assert_eq(ray_num_workers(), 2);
    still_works();
    ray_shutdown();
    unsetenv("RAYC_NUM_CPUS");
}

/* ---- a function's own failure message ---- */

Test(bad_input, a_functions_own_failure_message_is_kept)
{
    start();
    ray_ref r = ray_call_raw("lookup_raw", "abcd", 4, NULL);
    void *data;
    size_t len;
    cr_assert_eq(ray_get_bytes(r, &data, &len, 20000), RAY_ENOTFOUND);
    cr_assert(strstr(ray_last_error_detail(), "no such key 4"), "'%s'",
              ray_last_error_detail());
    ray_ref_release(r);
    r = ray_call_raw("silent_raw", "a", 1, NULL);
    cr_assert_eq(ray_get_bytes(r, &data, &len, 20000), RAY_EBUSY);
    cr_assert(strstr(ray_last_error_detail(), "silent_raw returned"), "'%s'",
              ray_last_error_detail());
    ray_ref_release(r);
    r = fail_null_fmt_remote(1);
    int64_t v;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_ETASK_FAILED);
    ray_ref_release(r);
    ray_actor h;
    cr_assert_eq(box_create(&h, NULL, -3), RAY_OK);
    cr_assert_eq(ray_actor_wait_ready(h, 20000), RAY_EACTOR_DIED);
    cr_assert(strstr(ray_last_error_detail(), "box cannot start at -3"), "'%s'",
              ray_last_error_detail());
    r = box_get_remote(h);
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_EACTOR_DIED);
    cr_assert(strstr(ray_last_error_detail(), "box cannot start at -3"), "'%s'",
              ray_last_error_detail());
    ray_ref_release(r);
    ray_actor_release(h);
}

/* ---- the open-file limit ---- */

static void
limit_files(rlim_t n)
{
    struct rlimit rl = {n, n};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

Test(bad_input, a_limit_too_low_for_the_workers_fails_ray_init)
{
    limit_files(40);
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 16;
    EXPECT_ERR(ray_init(&cfg), RAY_EINVAL);
    cr_assert(strstr(ray_last_error_detail(), "RLIMIT_NOFILE"), "%s",
              ray_last_error_detail());
    cr_assert_not(ray_is_initialized());
}

/* Prints `kb` KiB to stdout (more than a pipe holds). */
static int64_t
chatty(int64_t kb)
{
    char line[1024];
    memset(line, 'x', sizeof(line) - 2);
    line[sizeof(line) - 2] = '\n';
    line[sizeof(line) - 1] = '\0';
    for (int64_t i = 0; i < kb; i++)
        fputs(line, stdout);
    fflush(stdout);
    return kb;
}
RAY_REMOTE(chatty, int64_t, int64_t);

Test(bad_input, a_low_limit_keeps_the_runtime_working)
{
    /* Enough for the two workers, not for 64 actor processes. */
    limit_files(96);
    start();
    ray_ref r = chatty_remote(200); /* the monitor drains the pipes */
    int64_t v = 0;
    cr_assert_eq(ray_get_int64(r, &v, 20000), RAY_OK, "%s",
                 ray_last_error_detail());
    cr_assert_eq(v, 200);
    ray_ref_release(r);
    enum { A = 40 };
    ray_actor h[A];
    int alive = 0, refused = 0;
    for (int i = 0; i < A; i++) {
        ray_actor_opts o = {.own_process = true};
        cr_assert_eq(box_create(&h[i], &o, i), RAY_OK, "%s",
                     ray_last_error_detail());
    }
    for (int i = 0; i < A; i++) {
        ray_err e = ray_actor_wait_ready(h[i], 30000);
        if (e == RAY_OK) {
            alive++;
        } else {
            cr_assert_eq(e, RAY_EACTOR_DIED, "%s", ray_strerror(e));
            cr_assert(strstr(ray_last_error_detail(), "RLIMIT_NOFILE"), "'%s'",
                      ray_last_error_detail());
            refused++;
        }
    }
    cr_assert_gt(alive, 0);
    cr_assert_gt(refused, 0, "96 descriptors cannot hold 40 actors");
    for (int i = 0; i < A; i++)
        ray_actor_release(h[i]);
    still_works();
}

/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the SDK pieces that need no worker: registration by the
 * RAY_REMOTE macros, argument encoding, the generated trampolines, and the
 * API's behaviour before ray_init. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <ray/ray.h>

static double
mix(int32_t a, int64_t b, uint64_t c, double d, float e, bool f, const char *s,
    ray_f64s v)
{
    return a + (double)b + (double)c + d + e + f + (double)strlen(s) +
           (v.n ? v.v[0] : 0);
}
RAY_REMOTE(mix, double, int32_t, int64_t, uint64_t, double, float, bool,
           const char *, ray_f64s);

static int64_t
sq(int64_t x)
{
    return x * x;
}
RAY_REMOTE(sq, int64_t, int64_t);

TestSuite(registry, .timeout = 10);

Test(registry, macro_fills_the_descriptor)
{
    cr_assert_str_eq(mix_ray_desc.name, "mix");
    cr_assert_eq(mix_ray_desc.nargs, 8);
    cr_assert_eq(mix_ray_desc.ret_type, RAY_T_F64);
    uint32_t want[8] = {RAY_T_I32, RAY_T_I64,  RAY_T_U64, RAY_T_F64,
                        RAY_T_F32, RAY_T_BOOL, RAY_T_STR, RAY_T_F64S};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(mix_ray_desc.arg_type[i], want[i], "arg %d", i);
    cr_assert_eq(mix_ray_desc.arg_size[3], sizeof(double));
    cr_assert_neq(mix_ray_desc.hash, 0, "registered before main");
}

Test(registry, trampoline_decodes_and_encodes)
{
    double arr[1] = {0.5};
    ray_arg av[8] = {ray_arg_i32(1),     ray_arg_i64(2),
                     ray_arg_u64(3),     ray_arg_f64(4),
                     ray_arg_f32(5),     ray_arg_bool(true),
                     ray_arg_str("abc"), ray_arg_f64s((ray_f64s){arr, 1})};
    cr_assert_eq(av[6].v.buf.len, 4, "strings travel with their NUL");
    ray_ret r;
    memset(&r, 0, sizeof(r));
    mix_ray_desc.tramp(av, &r);
    cr_assert_eq(r.type, RAY_T_F64);
    cr_assert_float_eq(r.v.f64, 1 + 2 + 3 + 4 + 5 + 1 + 3 + 0.5, 1e-9);
}

Test(registry, map_trampoline_runs_elementwise)
{
    int64_t in[4] = {1, 2, 3, 4}, out[4];
    const void *cols[1] = {in};
    sq_ray_desc.map_tramp(cols, 4, out);
    cr_assert_eq(out[3], 16);
}

Test(registry, calls_before_init_fail_cleanly)
{
    cr_assert(!ray_is_initialized());
    ray_ref r = sq_remote(3);
    cr_assert_eq(r.id, 0);
    cr_assert(strstr(ray_last_error_detail(), "not initialised"));
    ray_view v;
    cr_assert_eq(ray_get(r, &v, 0), RAY_EINVAL);
    cr_assert_eq(ray_put_int64(1, &r), RAY_EINVAL);
    ray_shutdown(); /* no-op */
    cr_assert_eq(ray_version(), RAY_VERSION_NUMBER);
    cr_assert_str_eq(ray_strerror(RAY_EWORKER_DIED), ray_strerror((ray_err)12));
}

Test(registry, bad_config_is_einval)
{
    ray_config c;
    ray_config_init(&c);
    c.address = "no-port-here"; /* malformed: nothing is dialled */
    cr_assert_eq(ray_init(&c), RAY_EINVAL);
    ray_config_init(&c);
    c.ring_bytes = 1000;
    cr_assert_eq(ray_init(&c), RAY_EINVAL);
    cr_assert(!ray_is_initialized());
}

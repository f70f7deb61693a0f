/* SPDX-License-Identifier: Apache-2.0
 * Tests for runtime/config.c: precedence, value syntax, errors. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/config.h"

/* Each Criterion test runs in its own process, so setenv cannot leak
 * between tests; clear our variables anyway in case the runner sets any. */
static void
clean_env(void)
{
    for (size_t i = 0; i < rt_config_key_count(); i++) {
        char var[96] = "RAYC_";
        size_t n = 5;
        for (const char *p = rt_config_key_name(i); *p; p++)
            var[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        var[n] = '\0';
        unsetenv(var);
    }
}

TestSuite(config, .init = clean_env, .timeout = 10);

Test(config, defaults_match_the_table)
{
    rt_config c;
    rt_config_defaults(&c);
    cr_assert_gt(c.num_cpus, 0);
    cr_assert_leq(c.num_cpus, sysconf(_SC_NPROCESSORS_CONF));
    cr_assert_eq(c.max_frame_size, 64u << 20);
    cr_assert_eq(c.inline_object_max, 100u << 10);
    cr_assert_str_eq(c.log_level, "info");
    cr_assert_str_eq(c.temp_dir, "/tmp");
    cr_assert_eq(c.worker_spin_us, 50);
    cr_assert_eq(c.heartbeat_period_ns, 1000000000LL);
    cr_assert(c.object_spilling);
    uint64_t ram =
        (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    cr_assert_geq(c.object_store_memory, 1u << 20);
    cr_assert_leq(c.object_store_memory, ram / 10 * 3 + (1u << 20));
}

Test(config, env_beats_default_and_flag_beats_env)
{
    setenv("RAYC_MAX_FRAME_SIZE", "1M", 1);
    setenv("RAYC_LOG_LEVEL", "debug", 1);
    setenv("RAYC_TEMP_DIR", "/var/tmp/rayc", 1);
    setenv("RAYC_NOT_A_KEY", "whatever", 1); /* ignored, not an error */
    char a0[] = "raylet", a1[] = "--max-frame-size=2M", a2[] = "--head",
         a3[] = "--port=6379", a4[] = "--log_level=warn", a5[] = "--",
         a6[] = "--temp_dir=/nope";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6, NULL};
    int argc = 7;
    rt_config c;
    char msg[256] = "";
    cr_assert_eq(rt_config_load(&c, &argc, argv, msg, sizeof msg), RAY_OK, "%s",
                 msg);
    cr_assert_eq(c.max_frame_size, 2u << 20); /* flag */
    cr_assert_str_eq(c.log_level, "warn");    /* flag over env */
    cr_assert_str_eq(c.temp_dir,
                     "/var/tmp/rayc"); /* env; after "--" untouched */
    cr_assert_eq(c.inline_object_max, 100u << 10); /* default */
    /* Consumed flags are gone; the daemon's own flags remain in order. */
    cr_assert_eq(argc, 5);
    cr_assert_str_eq(argv[1], "--head");
    cr_assert_str_eq(argv[2], "--port=6379");
    cr_assert_str_eq(argv[3], "--");
    cr_assert_str_eq(argv[4], "--temp_dir=/nope");
    cr_assert_null(argv[5]);
}

Test(config, size_suffixes)
{
    struct {
        const char *text;
        uint64_t want;
    } ok[] = {{"0", 0},
              {"4096", 4096},
              {"100K", 100 << 10},
              {"100k", 100 << 10},
              {"64M", 64 << 20},
              {"64MB", 64 << 20},
              {"2GiB", 2ULL << 30},
              {"1T", 1ULL << 40},
              {"7B", 7}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        cr_assert_eq(rt_config_parse_size(ok[i].text, &v), RAY_OK, "%s",
                     ok[i].text);
        cr_assert_eq(v, ok[i].want, "%s", ok[i].text);
    }
    const char *bad[] = {"",
                         "M",
                         "-1",
                         "1.5G",
                         "12X",
                         "1GG",
                         "99999999999999999999",
                         "17179869184G",
                         "1 M x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 123;
        cr_assert_eq(rt_config_parse_size(bad[i], &v), RAY_EINVAL, "%s",
                     bad[i]);
        cr_assert_eq(v, 123u);
    }
}

Test(config, durations_and_bools)
{
    int64_t ns = 0;
    cr_assert_eq(rt_config_parse_duration_ns("250ms", &ns), RAY_OK);
    cr_assert_eq(ns, 250000000LL);
    cr_assert_eq(rt_config_parse_duration_ns("2s", &ns), RAY_OK);
    cr_assert_eq(ns, 2000000000LL);
    cr_assert_eq(rt_config_parse_duration_ns("50us", &ns), RAY_OK);
    cr_assert_eq(ns, 50000LL);
    cr_assert_eq(rt_config_parse_duration_ns("3m", &ns), RAY_OK);
    cr_assert_eq(ns, 180000000000LL);
    cr_assert_eq(rt_config_parse_duration_ns("1h", &ns), RAY_OK);
    cr_assert_eq(ns, 3600000000000LL);
    ns = 5;
    const char *bad[] = {"250", "ms", "2 sec", "1.5s", "-1s", "10d", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(rt_config_parse_duration_ns(bad[i], &ns), RAY_EINVAL, "%s",
                     bad[i]);
    cr_assert_eq(ns, 5);

    bool b = false;
    cr_assert_eq(rt_config_parse_bool("YES", &b), RAY_OK);
    cr_assert(b);
    cr_assert_eq(rt_config_parse_bool("off", &b), RAY_OK);
    cr_assert(!b);
    cr_assert_eq(rt_config_parse_bool("maybe", &b), RAY_EINVAL);

    rt_config c;
    rt_config_defaults(&c);
    cr_assert_eq(rt_config_set(&c, "node_timeout", "45s", NULL, 0), RAY_OK);
    cr_assert_eq(c.node_timeout_ns, 45000000000LL);
    cr_assert_eq(rt_config_set(&c, "object_spilling", "0", NULL, 0), RAY_OK);
    cr_assert(!c.object_spilling);
    cr_assert_eq(rt_config_set(&c, "object-spill-threshold", "0.5", NULL, 0),
                 RAY_OK);
    cr_assert_float_eq(c.object_spill_threshold, 0.5, 1e-12);
}

Test(config, bad_values_name_the_key_and_form_and_change_nothing)
{
    rt_config c, before;
    rt_config_defaults(&c);
    before = c;
    char msg[256];
    struct {
        const char *key, *value;
    } bad[] = {{"num_cpus", "many"},
               {"num_cpus", "-2"},
               {"max_frame_size", "12Q"},
               {"max_frame_size", "16"},
               {"log_level", "loud"},
               {"heartbeat_period", "5"},
               {"object_spill_threshold", "1.5"},
               {"object_spill_threshold", "nan"},
               {"object_spilling", "sometimes"},
               {"worker_spin_us", "50us"},
               {"inline_object_max", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        cr_assert_eq(
            rt_config_set(&c, bad[i].key, bad[i].value, msg, sizeof msg),
            RAY_EINVAL, "%s=%s", bad[i].key, bad[i].value);
        cr_assert_not_null(strstr(msg, bad[i].key), "message: %s", msg);
        cr_assert_not_null(strstr(msg, "expected"), "message: %s", msg);
    }
    cr_assert_eq(memcmp(&c, &before, sizeof c), 0,
                 "a failed set changed the config");

    char big[RT_CONFIG_STRING_MAX + 1];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(rt_config_set(&c, "temp_dir", big, NULL, 0), RAY_EINVAL);
}

Test(config, unknown_key_is_einval_with_its_name)
{
    rt_config c;
    rt_config_defaults(&c);
    char msg[512];
    cr_assert_eq(rt_config_set(&c, "num_gpus_please", "1", msg, sizeof msg),
                 RAY_EINVAL);
    cr_assert_not_null(strstr(msg, "num_gpus_please"));
    cr_assert_not_null(strstr(msg, "object_store_memory"), "%s",
                       msg); /* the list */
    cr_assert_eq(rt_config_set(&c, NULL, "1", NULL, 0), RAY_EINVAL);
    char out[32];
    cr_assert_eq(rt_config_get_text(&c, "num_gpus_please", out, sizeof out),
                 RAY_ENOTFOUND);
}

Test(config, bad_env_value_is_einval_naming_the_variable)
{
    setenv("RAYC_INLINE_OBJECT_MAX", "lots", 1);
    rt_config c;
    char msg[256];
    cr_assert_eq(rt_config_load(&c, NULL, NULL, msg, sizeof msg), RAY_EINVAL);
    cr_assert_not_null(strstr(msg, "RAYC_INLINE_OBJECT_MAX"), "%s", msg);
}

Test(config, bad_flag_is_einval_and_stays_in_argv)
{
    char a0[] = "gcs", a1[] = "--num_cpus=4", a2[] = "--num-cpus=x",
         a3[] = "--v";
    char *argv[] = {a0, a1, a2, a3, NULL};
    int argc = 4;
    rt_config c;
    rt_config_defaults(&c);
    char msg[256];
    cr_assert_eq(rt_config_apply_args(&c, &argc, argv, msg, sizeof msg),
                 RAY_EINVAL);
    cr_assert_not_null(strstr(msg, "num_cpus"), "%s", msg);
    cr_assert_not_null(strstr(msg, "flag --num-cpus"), "%s", msg);
    cr_assert_eq(c.num_cpus, 4);
    cr_assert_eq(argc, 3);
    cr_assert_str_eq(argv[1], "--num-cpus=x");
    cr_assert_str_eq(argv[2], "--v");
}

Test(config, get_text_round_trips_every_key)
{
    rt_config c, d;
    rt_config_defaults(&c);
    rt_config_set(&c, "max_frame_size", "3M", NULL, 0);
    rt_config_set(&c, "heartbeat_period", "1500ms", NULL, 0);
    char text[RT_CONFIG_STRING_MAX + 32];
    cr_assert_eq(rt_config_get_text(&c, "max_frame_size", text, sizeof text),
                 RAY_OK);
    cr_assert_str_eq(text, "3M");
    cr_assert_eq(rt_config_get_text(&c, "heartbeat_period", text, sizeof text),
                 RAY_OK);
    cr_assert_str_eq(text, "1500ms");
    memset(&d, 0, sizeof d);
    for (size_t i = 0; i < rt_config_key_count(); i++) {
        const char *k = rt_config_key_name(i);
        cr_assert_not_null(rt_config_key_help(i));
        cr_assert_eq(rt_config_get_text(&c, k, text, sizeof text), RAY_OK);
        cr_assert_eq(rt_config_set(&d, k, text, NULL, 0), RAY_OK, "%s=%s", k,
                     text);
    }
    cr_assert_eq(memcmp(&c, &d, sizeof c), 0);
    cr_assert_eq(rt_config_get_text(&c, "temp_dir", text, 3), RAY_ETOOBIG);
    cr_assert_null(rt_config_key_name(rt_config_key_count()));
}

Test(config, help_lists_every_key)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    rt_config_print_help(fds[1]);
    close(fds[1]);
    char buf[8192];
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fds[0]);
    for (size_t i = 0; i < rt_config_key_count(); i++)
        cr_assert_not_null(strstr(buf, rt_config_key_name(i)));
    cr_assert_not_null(strstr(buf, "--max_frame_size=<size>"));
}

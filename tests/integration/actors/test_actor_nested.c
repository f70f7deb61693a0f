/* SPDX-License-Identifier: Apache-2.0
 *
 * Integration tests of actor methods that block in ray_get while their
 * host runs the records queued behind them: a method of actor X calls
 * actor Y (same host: 0-CPU actors share one) many times and gets the
 * results. The host runs Y's calls nested inside X's wait, so its
 * submission ring sees many times its size while X's call is still
 * running; a host that kept ring space for a running (or nested) record
 * would fill its ring and never receive the calls X waits for. Small
 * rings make that happen within a few hundred calls. Each wait is
 * bounded: a stuck host fails the test (it never hangs it), and .fini
 * shuts the runtime down, which ends every host and worker.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <ray/ray.h>

#define ROUND_MS 20000

/* ---- an actor that fans calls out to another ---- */

typedef struct relay {
    int64_t n;
} relay;

static ray_err
relay_init(relay *s, int64_t start)
{
    s->n = start;
    return RAY_OK;
}
RAY_ACTOR(relay, relay_init, int64_t);

static int64_t
relay_bump(relay *s, int64_t i)
{
    s->n++;
    return i + 1;
}
RAY_METHOD(relay, relay_bump, int64_t, int64_t);

static int64_t
relay_count(relay *s)
{
    return s->n;
}
RAY_METHOD0(relay, relay_count, int64_t);

/* `n` calls on `other`, all in flight, then get them all; returns how
 * many came back right. */
static int64_t
relay_fan(relay *s, ray_actor other, int64_t n)
{
    ray_ref *refs = malloc((size_t)n * sizeof(*refs));
    if (!refs)
        return -1;
    for (int64_t i = 0; i < n; i++)
        refs[i] = relay_bump_remote(other, i);
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = 0;
        ok += ray_get_int64(refs[i], &v, ROUND_MS) == RAY_OK && v == i + 1;
        ray_ref_release(refs[i]);
    }
    free(refs);
    s->n++;
    return ok;
}
RAY_METHOD(relay, relay_fan, int64_t, ray_actor, int64_t);

/* ---- helpers ---- */

static void
start(uint32_t ring_bytes)
{
    ray_config cfg;
    ray_config_init(&cfg);
    cfg.num_cpus = 1;
    cfg.ring_bytes = ring_bytes;
    cr_assert_eq(ray_init(&cfg), RAY_OK, "%s", ray_last_error_detail());
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int64_t
get_within(ray_ref r, double t0, const char *what)
{
    int64_t v = -1;
    int64_t left = ROUND_MS - (int64_t)(now_ms() - t0);
    ray_err e = ray_get_int64(r, &v, left > 0 ? left : 0);
    cr_assert_eq(e, RAY_OK, "%s: %s after %.0f ms (%s)", what, ray_strerror(e),
                 now_ms() - t0, ray_last_error_detail());
    ray_ref_release(r);
    return v;
}

static void
teardown(void)
{
    ray_shutdown();
}

TestSuite(actor_nested, .fini = teardown, .timeout = 60);

/* X and Y share a host with a 64 KiB ring (~600 call records): X's call
 * waits for 5,000 calls of Y, which run nested in that wait. */
Test(actor_nested, method_waits_for_many_calls_on_its_host)
{
    start(65536);
    ray_actor x, y;
    cr_assert_eq(relay_create(&x, NULL, 0), RAY_OK);
    cr_assert_eq(relay_create(&y, NULL, 0), RAY_OK);
    for (int round = 0; round < 3; round++) {
        double t0 = now_ms();
        ray_ref r = relay_fan_remote(x, y, 5000);
        cr_assert_neq(r.id, 0, "%s", ray_last_error_detail());
        cr_assert_eq(get_within(r, t0, "fan"), 5000, "round %d", round);
    }
    double t0 = now_ms();
    cr_assert_eq(get_within(relay_count_remote(y), t0, "count y"), 15000);
    cr_assert_eq(get_within(relay_count_remote(x), t0, "count x"), 3);
    ray_actor_release(x);
    ray_actor_release(y);
}

/* Two fans at once on one host, and the driver's own calls to the target
 * queued behind them: the second fan runs nested in the first one's wait,
 * and both need far more than the ring holds. Per-caller order still
 * holds: the driver's calls on Y see their own sequence. */
Test(actor_nested, two_fans_and_driver_calls_share_a_small_ring)
{
    start(65536);
    ray_actor x, z, y;
    cr_assert_eq(relay_create(&x, NULL, 0), RAY_OK);
    cr_assert_eq(relay_create(&z, NULL, 0), RAY_OK);
    cr_assert_eq(relay_create(&y, NULL, 0), RAY_OK);
    double t0 = now_ms();
    ray_ref fx = relay_fan_remote(x, y, 4000);
    ray_ref fz = relay_fan_remote(z, y, 4000);
    enum { D = 3000 };
    ray_ref *d = malloc(D * sizeof(*d));
    cr_assert_not_null(d);
    for (int i = 0; i < D; i++)
        d[i] = relay_bump_remote(y, i);
    for (int i = 0; i < D; i++)
        cr_assert_eq(get_within(d[i], t0, "driver call"), i + 1);
    free(d);
    cr_assert_eq(get_within(fx, t0, "fan x"), 4000);
    cr_assert_eq(get_within(fz, t0, "fan z"), 4000);
    cr_assert_eq(get_within(relay_count_remote(y), t0, "count y"),
                 4000 + 4000 + D);
    ray_actor_release(x);
    ray_actor_release(z);
    ray_actor_release(y);
}

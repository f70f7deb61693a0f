/* SPDX-License-Identifier: Apache-2.0
 *
 * The timeline (sdk/timeline.c) through the public API: every task,
 * actor call and map chunk run while recording is one complete event
 * with its function's name and kind in a Chrome trace file; what ran
 * before recording or after it stopped is not there; a call that
 * finished before another was submitted ends before it starts; bad
 * uses are errors with a reason. The file is read back as a user's tool
 * would: one event per line, fields by name.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ray/ray.h>

static int64_t
tl_square(int64_t x)
{
    return x * x;
}
RAY_REMOTE(tl_square, int64_t, int64_t);

static int64_t
tl_cube(int64_t x)
{
    return x * x * x;
}
RAY_REMOTE(tl_cube, int64_t, int64_t);

/* Calls tl_square(x) and returns its result: a nested call. */
static int64_t
tl_parent(int64_t x)
{
    int64_t v = -1;
    ray_ref r = tl_square_remote(x);
    ray_get_int64(r, &v, RAY_FOREVER);
    ray_ref_release(r);
    return v;
}
RAY_REMOTE(tl_parent, int64_t, int64_t);

/* ray_timeline inside a task: its error code. */
static int64_t
tl_inside(int64_t x)
{
    (void)x;
    return (int64_t)ray_timeline("/tmp/never-written.json");
}
RAY_REMOTE(tl_inside, int64_t, int64_t);

/* A buffer of n bytes of 'x': larger than a small ring's record, it
 * travels in fragments; from 100 KiB on, through the node's store. */
static ray_bytes
tl_blob(int64_t n)
{
    char *p = malloc((size_t)n);
    if (p)
        memset(p, 'x', (size_t)n);
    return (ray_bytes){p, p ? (size_t)n : 0};
}
RAY_REMOTE(tl_blob, ray_bytes, int64_t);

typedef struct tl_counter {
    int64_t v;
} tl_counter;

static ray_err
tl_counter_init(tl_counter *s, int64_t v)
{
    s->v = v;
    return RAY_OK;
}
RAY_ACTOR(tl_counter, tl_counter_init, int64_t);

static int64_t
tl_counter_add(tl_counter *s, int64_t k)
{
    return s->v += k;
}
RAY_METHOD(tl_counter, tl_counter_add, int64_t, int64_t);

static void
setup(void)
{
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 2;
    c.ring_bytes = 65536; /* results of 40 KB travel in fragments */
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
}

static void
teardown(void)
{
    ray_shutdown();
}

TestSuite(timeline, .init = setup, .fini = teardown, .timeout = 120);

/* One "ph":"X" event read back from a line of the file. */
typedef struct event {
    char name[64];
    char cat[32];
    double ts, dur;
    int tid;
    unsigned long long task_id;
    long items;
} event;

/* The text of string field `key` in `line`, or false. */
static bool
field_str(const char *line, const char *key, char *out, size_t n)
{
    char pat[48];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    if (!p)
        return false;
    p += strlen(pat);
    size_t i = 0;
    while (p[i] && p[i] != '"' && i + 1 < n) {
        out[i] = p[i];
        i++;
    }
    out[i] = '\0';
    return p[i] == '"';
}

static bool
field_num(const char *line, const char *key, double *out)
{
    char pat[48];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p && sscanf(p + strlen(pat), "%lf", out) == 1;
}

/* Read the complete events of trace file `path` into *out (malloc'd);
 * checks the file's frame (an object whose traceEvents array closes at
 * the end) and returns the number of events, or -1. */
static long
read_events(const char *path, event **out)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "trace %s not written", path);
    char line[1024];
    long n = 0, cap = 64;
    event *ev = malloc((size_t)cap * sizeof(*ev));
    bool opened = false, closed = false;
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, "\"traceEvents\":["))
            opened = true;
        if (strcmp(line, "]}\n") == 0)
            closed = true;
        if (!strstr(line, "\"ph\":\"X\""))
            continue;
        if (n == cap)
            ev = realloc(ev, (size_t)(cap *= 2) * sizeof(*ev));
        event *e = &ev[n++];
        memset(e, 0, sizeof(*e));
        double tid = 0, id = 0, items = -1;
        cr_assert(field_str(line, "name", e->name, sizeof(e->name)), "%s",
                  line);
        cr_assert(field_str(line, "cat", e->cat, sizeof(e->cat)), "%s", line);
        cr_assert(field_num(line, "ts", &e->ts), "%s", line);
        cr_assert(field_num(line, "dur", &e->dur), "%s", line);
        cr_assert(field_num(line, "tid", &tid), "%s", line);
        cr_assert(field_num(line, "task_id", &id), "%s", line);
        field_num(line, "items", &items);
        e->tid = (int)tid;
        e->task_id = (unsigned long long)id;
        e->items = (long)items;
        cr_assert_geq(e->dur, 0.0);
        cr_assert_gt(e->tid, 0, "the worker's pid");
    }
    fclose(f);
    cr_assert(opened && closed, "trace %s: not a complete traceEvents file",
              path);
    *out = ev;
    return n;
}

static long
count(const event *ev, long n, const char *name, const char *cat)
{
    long k = 0;
    for (long i = 0; i < n; i++)
        k += strcmp(ev[i].name, name) == 0 && strcmp(ev[i].cat, cat) == 0;
    return k;
}

static const event *
find(const event *ev, long n, const char *name)
{
    for (long i = 0; i < n; i++)
        if (strcmp(ev[i].name, name) == 0)
            return &ev[i];
    return NULL;
}

static void
tmp_path(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/rayc-timeline-%d-%ld.json", (int)getpid(),
             (long)random());
}

/* The timeline so far, written to a temp file and read back. */
static long
timeline_events(event **ev)
{
    char path[128];
    tmp_path(path, sizeof(path));
    cr_assert_eq(ray_timeline(path), RAY_OK, "%s", ray_last_error_detail());
    long n = read_events(path, ev);
    unlink(path);
    return n;
}

static void
run_squares(int k)
{
    for (int i = 0; i < k; i++) {
        int64_t v = 0;
        ray_ref r = tl_square_remote(i);
        cr_assert_eq(ray_get_int64(r, &v, RAY_FOREVER), RAY_OK);
        cr_assert_eq(v, (int64_t)i * i);
        ray_ref_release(r);
    }
}

Test(timeline, tasks_actor_calls_and_map_chunks_each_one_event)
{
    run_squares(7); /* before recording: not in the file */
    cr_assert_eq(ray_timeline_enable(true), RAY_OK);
    enum { N = 40 };
    ray_ref refs[N];
    for (int i = 0; i < N; i++)
        refs[i] = tl_square_remote(i);
    for (int i = 0; i < N; i++) {
        int64_t v;
        cr_assert_eq(ray_get_int64(refs[i], &v, RAY_FOREVER), RAY_OK);
        ray_ref_release(refs[i]);
    }
    ray_actor a;
    cr_assert_eq(tl_counter_create(&a, NULL, 5), RAY_OK);
    for (int i = 0; i < 3; i++) {
        int64_t v;
        ray_ref r = tl_counter_add_remote(a, 1);
        cr_assert_eq(ray_get_int64(r, &v, RAY_FOREVER), RAY_OK);
        cr_assert_eq(v, 6 + i);
        ray_ref_release(r);
    }
    ray_actor_release(a);
    enum { M = 5000 };
    int64_t *in = malloc(M * sizeof(*in)), *out = malloc(M * sizeof(*out));
    for (int i = 0; i < M; i++)
        in[i] = i;
    cr_assert_eq(RAY_MAP(tl_cube, in, M, out), RAY_OK);
    cr_assert_eq(out[M - 1], (int64_t)(M - 1) * (M - 1) * (M - 1));
    free(in);
    free(out);
    int64_t v;
    ray_ref p = tl_parent_remote(9);
    cr_assert_eq(ray_get_int64(p, &v, RAY_FOREVER), RAY_OK);
    cr_assert_eq(v, 81);
    ray_ref_release(p);

    event *ev;
    long n = timeline_events(&ev);
    /* The 40 calls and the parent's nested one; the 7 before: none. */
    cr_assert_eq(count(ev, n, "tl_square", "task"), N + 1);
    cr_assert_eq(count(ev, n, "tl_parent", "task"), 1);
    cr_assert_eq(count(ev, n, "tl_counter.tl_counter_add", "actor_call"), 3);
    cr_assert_eq(count(ev, n, "tl_counter.__init__", "actor_create"), 1);
    long chunks = count(ev, n, "tl_cube", "map_chunk"), items = 0;
    cr_assert_gt(chunks, 0);
    for (long i = 0; i < n; i++)
        if (strcmp(ev[i].cat, "map_chunk") == 0)
            items += ev[i].items;
    cr_assert_eq(items, M, "map chunks cover every item once");
    /* Every task's id once. */
    for (long i = 0; i < n; i++)
        for (long j = i + 1; j < n; j++)
            cr_assert(ev[i].task_id != ev[j].task_id ||
                          strcmp(ev[i].cat, "map_chunk") == 0,
                      "task %llu twice", ev[i].task_id);
    /* The nested call ran inside its parent's span or after its start. */
    const event *par = find(ev, n, "tl_parent");
    cr_assert_not_null(par);
    free(ev);
}

Test(timeline, a_call_done_before_the_next_is_submitted_ends_before_it_starts)
{
    cr_assert_eq(ray_timeline_enable(true), RAY_OK);
    int64_t v;
    ray_ref a = tl_square_remote(3);
    cr_assert_eq(ray_get_int64(a, &v, RAY_FOREVER), RAY_OK);
    ray_ref b = tl_cube_remote(3);
    cr_assert_eq(ray_get_int64(b, &v, RAY_FOREVER), RAY_OK);
    ray_ref_release(a);
    ray_ref_release(b);
    event *ev;
    long n = timeline_events(&ev);
    cr_assert_eq(n, 2);
    const event *ea = find(ev, n, "tl_square"), *eb = find(ev, n, "tl_cube");
    cr_assert(ea && eb);
    /* ts and dur are printed to the nanosecond. */
    cr_assert_leq(ea->ts + ea->dur, eb->ts + 0.0015, "%f + %f > %f", ea->ts,
                  ea->dur, eb->ts);
    cr_assert_geq(ea->ts, 0.0);
    free(ev);
}

Test(timeline, stopped_records_nothing_new_and_keeps_what_it_had)
{
    /* Never enabled: a valid file with no events. */
    event *ev;
    cr_assert_eq(timeline_events(&ev), 0);
    free(ev);
    cr_assert_eq(ray_timeline_enable(true), RAY_OK);
    run_squares(5);
    cr_assert_eq(ray_timeline_enable(false), RAY_OK);
    run_squares(9);
    long n = timeline_events(&ev);
    cr_assert_eq(n, 5);
    cr_assert_eq(count(ev, n, "tl_square", "task"), 5);
    free(ev);
}

/* Calls of an actor whose calls run on threads: timed on the thread,
 * sent by the main one. */
Test(timeline, calls_of_a_threaded_actor_are_recorded)
{
    cr_assert_eq(ray_timeline_enable(true), RAY_OK);
    ray_actor_opts o = {.max_concurrency = 2};
    ray_actor a;
    cr_assert_eq(tl_counter_create(&a, &o, 0), RAY_OK);
    ray_ref r[4];
    for (int i = 0; i < 4; i++)
        r[i] = tl_counter_add_remote(a, 1);
    for (int i = 0; i < 4; i++) {
        int64_t v;
        cr_assert_eq(ray_get_int64(r[i], &v, RAY_FOREVER), RAY_OK);
        ray_ref_release(r[i]);
    }
    ray_actor_release(a);
    event *ev;
    long n = timeline_events(&ev);
    cr_assert_eq(count(ev, n, "tl_counter.tl_counter_add", "actor_call"), 4);
    free(ev);
}

/* Results too large for a record (fragments) or for the ring (the
 * node's store) carry their times too. */
Test(timeline, calls_with_large_results_are_recorded)
{
    cr_assert_eq(ray_timeline_enable(true), RAY_OK);
    const int64_t sizes[] = {10, 40000, 300000};
    for (int i = 0; i < 3; i++) {
        void *data = NULL;
        size_t len = 0;
        ray_ref r = tl_blob_remote(sizes[i]);
        cr_assert_eq(ray_get_bytes(r, &data, &len, RAY_FOREVER), RAY_OK, "%s",
                     ray_last_error_detail());
        cr_assert_eq(len, (size_t)sizes[i]);
        ray_free(data);
        ray_ref_release(r);
    }
    event *ev;
    long n = timeline_events(&ev);
    cr_assert_eq(count(ev, n, "tl_blob", "task"), 3);
    free(ev);
}

Test(timeline, bad_uses_are_errors_with_a_reason)
{
    cr_assert_eq(ray_timeline(NULL), RAY_EINVAL);
    cr_assert_eq(ray_timeline("/nonexistent-dir/t.json"), RAY_EINVAL);
    cr_assert_not_null(strstr(ray_last_error_detail(), "/nonexistent-dir"),
                       "%s", ray_last_error_detail());
    int64_t v = 0;
    ray_ref r = tl_inside_remote(0);
    cr_assert_eq(ray_get_int64(r, &v, RAY_FOREVER), RAY_OK);
    cr_assert_eq(v, RAY_EINVAL, "ray_timeline inside a task");
    ray_ref_release(r);
}

Test(timeline_uninit, before_init_is_an_error)
{
    cr_assert_eq(ray_timeline_enable(true), RAY_EINVAL);
    cr_assert_eq(ray_timeline("/tmp/x.json"), RAY_EINVAL);
}

/* RAYC_TIMELINE=1 records from ray_init on. */
Test(timeline_uninit, rayc_timeline_env_records_from_init)
{
    setenv("RAYC_TIMELINE", "1", 1);
    ray_config c;
    ray_config_init(&c);
    c.num_cpus = 1;
    cr_assert_eq(ray_init(&c), RAY_OK, "%s", ray_last_error_detail());
    unsetenv("RAYC_TIMELINE");
    run_squares(3);
    event *ev;
    long n = timeline_events(&ev);
    ray_shutdown();
    cr_assert_eq(count(ev, n, "tl_square", "task"), 3);
    free(ev);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * config.c: the key table and the parsers behind config.h.
 *
 * Adding a tunable means adding a field to rt_config and one row to
 * `keys` below; defaults, environment, flags, range checks, --help and
 * error messages all come from the row. Defaults are stored as text and
 * parsed by the same code as user input, so a default can never be a
 * value the user could not have typed. Not a hot path: called at startup.
 */
#include "runtime/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "runtime/log.h"

#define KEY_NAME_MAX 64

typedef struct config_key {
    const char *name;
    rt_config_type type;
    size_t offset;                  /* of the field in rt_config */
    const char *def;                /* default as text; NULL = computed */
    const char *def_help;           /* how a computed default is chosen */
    int64_t lo, hi;                 /* range for int, size, duration (ns) */
    double dlo, dhi;                /* range for double */
    int (*check)(const char *text); /* extra check for strings; 0 = ok */
    const char *form;               /* accepted values, for messages */
    const char *help;
} config_key;

static int
check_log_level(const char *text)
{
    return rt_log_level_parse(text) > RT_LOG_OFF;
}

#define FIELD(f) offsetof(rt_config, f)
#define GIB (1LL << 30)
#define S_NS 1000000000LL

static const config_key keys[] = {
    {"num_cpus", RT_CONFIG_INT, FIELD(num_cpus), NULL,
     "the CPUs this process may run on", 0, 1 << 20, 0, 0, NULL,
     "an integer from 0 to 1048576", "CPUs this node offers to tasks"},
    {"object_store_memory", RT_CONFIG_SIZE, FIELD(object_store_memory), NULL,
     "30% of RAM, capped by free space in /dev/shm", 1 << 20, 1LL << 50, 0, 0,
     NULL, "a size of at least 1M, such as 2G or 512M",
     "bytes of shared memory for the node's object store"},
    {"max_frame_size", RT_CONFIG_SIZE, FIELD(max_frame_size), "64M", NULL, 1024,
     4 * GIB, 0, 0, NULL, "a size from 1K to 4G, such as 64M",
     "largest protocol message a connection accepts"},
    {"log_level", RT_CONFIG_STRING, FIELD(log_level), "info", NULL, 0, 0, 0, 0,
     check_log_level, "one of debug, info, warn, error, fatal, off",
     "lowest level of log line that is written"},
    {"inline_object_max", RT_CONFIG_SIZE, FIELD(inline_object_max), "100K",
     NULL, 0, 64LL << 20, 0, 0, NULL, "a size up to 64M, such as 100K",
     "objects up to this size travel inline instead of via the store"},
    {"temp_dir", RT_CONFIG_STRING, FIELD(temp_dir), "/tmp", NULL, 0, 0, 0, 0,
     NULL, "a path shorter than 256 bytes",
     "directory for sockets, spill files and logs"},
    {"worker_spin_us", RT_CONFIG_INT, FIELD(worker_spin_us), "50", NULL, 0,
     1000000, 0, 0, NULL, "an integer number of microseconds, 0 to 1000000",
     "how long an idle worker spins before it sleeps"},
    {"object_spill_threshold", RT_CONFIG_DOUBLE, FIELD(object_spill_threshold),
     "0.8", NULL, 0, 0, 0.0, 1.0, NULL, "a number from 0 to 1, such as 0.8",
     "fraction of the store in use at which spilling starts"},
    {"object_spilling", RT_CONFIG_BOOL, FIELD(object_spilling), "true", NULL, 0,
     0, 0, 0, NULL, "true or false",
     "spill objects to disk when the store is full instead of failing"},
    {"heartbeat_period", RT_CONFIG_DURATION, FIELD(heartbeat_period_ns), "1s",
     NULL, S_NS / 1000, 3600 * S_NS, 0, 0, NULL,
     "a duration from 1ms to 1h, such as 250ms or 2s",
     "interval between a raylet's heartbeats to the GCS"},
    {"node_timeout", RT_CONFIG_DURATION, FIELD(node_timeout_ns), "30s", NULL,
     S_NS / 1000, 24 * 3600 * S_NS, 0, 0, NULL,
     "a duration from 1ms to 24h, such as 30s",
     "a node silent this long is declared dead"},
    {"timeline", RT_CONFIG_BOOL, FIELD(timeline), "false", NULL, 0, 0, 0, 0,
     NULL, "true or false",
     "record when each task and actor call ran, from the start"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

static const char *type_names[] = {"int",  "size",   "double",
                                   "bool", "string", "duration"};

/* ---- message helpers -------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static ray_err
fail(char *msg, size_t msglen, const char *fmt, ...)
{
    if (msg && msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return RAY_EINVAL;
}

/* ---- parsers ---------------------------------------------------------- */

static const char *
skip_space(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Parses a run of decimal digits into *out; returns the end or NULL. */
static const char *
parse_digits(const char *p, uint64_t *out)
{
    uint64_t v = 0;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
        p++;
    }
    *out = v;
    return p;
}

ray_err
rt_config_parse_size(const char *text, uint64_t *out)
{
    if (!text)
        return RAY_EINVAL;
    uint64_t v;
    const char *p = parse_digits(skip_space(text), &v);
    if (!p)
        return RAY_EINVAL;
    int shift = 0;
    switch (toupper((unsigned char)*p)) {
    case 'K':
        shift = 10;
        p++;
        break;
    case 'M':
        shift = 20;
        p++;
        break;
    case 'G':
        shift = 30;
        p++;
        break;
    case 'T':
        shift = 40;
        p++;
        break;
    default:
        break;
    }
    if (shift && toupper((unsigned char)*p) == 'I' &&
        toupper((unsigned char)p[1]) == 'B')
        p += 2;
    else if (toupper((unsigned char)*p) == 'B')
        p++;
    if (*skip_space(p) != '\0')
        return RAY_EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return RAY_EINVAL;
    *out = v << shift;
    return RAY_OK;
}

ray_err
rt_config_parse_duration_ns(const char *text, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {{"ns", 1},         {"us", 1000},     {"ms", 1000000},
                 {"s", S_NS},       {"m", 60 * S_NS}, {"min", 60 * S_NS},
                 {"h", 3600 * S_NS}};
    if (!text)
        return RAY_EINVAL;
    uint64_t v;
    const char *p = parse_digits(skip_space(text), &v);
    if (!p)
        return RAY_EINVAL;
    const char *end = p;
    while (isalpha((unsigned char)*end))
        end++;
    size_t ulen = (size_t)(end - p);
    if (ulen == 0 || *skip_space(end) != '\0')
        return RAY_EINVAL; /* a bare number is ambiguous: demand a unit */
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].unit) == ulen && !strncmp(units[i].unit, p, ulen)) {
            if (v > (uint64_t)(INT64_MAX / units[i].ns))
                return RAY_EINVAL;
            *out = (int64_t)v * units[i].ns;
            return RAY_OK;
        }
    }
    return RAY_EINVAL;
}

ray_err
rt_config_parse_bool(const char *text, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    if (!text)
        return RAY_EINVAL;
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(text, yes[i])) {
            *out = true;
            return RAY_OK;
        }
        if (!strcasecmp(text, no[i])) {
            *out = false;
            return RAY_OK;
        }
    }
    return RAY_EINVAL;
}

static ray_err
parse_int(const char *text, int64_t *out)
{
    const char *p = skip_space(text);
    bool neg = *p == '-';
    if (neg || *p == '+')
        p++;
    uint64_t v;
    p = parse_digits(p, &v);
    if (!p || *skip_space(p) != '\0' || v > (uint64_t)INT64_MAX)
        return RAY_EINVAL;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return RAY_OK;
}

static ray_err
parse_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *skip_space(end) != '\0' || errno == ERANGE ||
        !isfinite(v))
        return RAY_EINVAL;
    *out = v;
    return RAY_OK;
}

/* ---- the table -------------------------------------------------------- */

/* Finds a key by name, treating '-' as '_'. `len` bytes of `name`. */
static const config_key *
find_key(const char *name, size_t len)
{
    char norm[KEY_NAME_MAX];
    if (len == 0 || len >= sizeof norm)
        return NULL;
    for (size_t i = 0; i < len; i++)
        norm[i] = name[i] == '-' ? '_' : name[i];
    norm[len] = '\0';
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].name, norm))
            return &keys[i];
    return NULL;
}

/* Parses `text` for key `k` into `cfg`. `source` says where the text came
 * from ("flag --x", "RAYC_X"), for the message. */
static ray_err
set_key(rt_config *cfg, const config_key *k, const char *text,
        const char *source, char *msg, size_t msglen)
{
    char *field = (char *)cfg + k->offset;
    const char *shown = text ? text : "(null)";
    ray_err err = RAY_EINVAL;
    int64_t i64 = 0;
    uint64_t u64 = 0;
    double d = 0;
    bool b = false;

    if (!text)
        goto bad;
    switch (k->type) {
    case RT_CONFIG_INT:
        if ((err = parse_int(text, &i64)) || i64 < k->lo || i64 > k->hi)
            goto bad;
        memcpy(field, &i64, sizeof i64);
        break;
    case RT_CONFIG_SIZE:
        if ((err = rt_config_parse_size(text, &u64)) || u64 < (uint64_t)k->lo ||
            u64 > (uint64_t)k->hi)
            goto bad;
        memcpy(field, &u64, sizeof u64);
        break;
    case RT_CONFIG_DURATION:
        if ((err = rt_config_parse_duration_ns(text, &i64)) || i64 < k->lo ||
            i64 > k->hi)
            goto bad;
        memcpy(field, &i64, sizeof i64);
        break;
    case RT_CONFIG_DOUBLE:
        if ((err = parse_double(text, &d)) || d < k->dlo || d > k->dhi)
            goto bad;
        memcpy(field, &d, sizeof d);
        break;
    case RT_CONFIG_BOOL:
        if ((err = rt_config_parse_bool(text, &b)))
            goto bad;
        memcpy(field, &b, sizeof b);
        break;
    case RT_CONFIG_STRING:
        if (strlen(text) >= RT_CONFIG_STRING_MAX ||
            (k->check && k->check(text)))
            goto bad;
        memcpy(field, text, strlen(text) + 1);
        break;
    }
    return RAY_OK;
bad:
    return fail(msg, msglen,
                "config key %s: bad value \"%s\" from %s: expected %s", k->name,
                shown, source, k->form);
}

static int64_t
default_num_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

static uint64_t
default_store_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    uint64_t ram = (pages > 0 && psize > 0) ? (uint64_t)pages * (uint64_t)psize
                                            : (uint64_t)GIB;
    uint64_t want = ram / 10 * 3;
    struct statvfs vfs;
    if (statvfs("/dev/shm", &vfs) == 0) {
        uint64_t shm_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        if (shm_free < want)
            want = shm_free;
    }
    if (want < (1u << 20))
        want = 1u << 20; /* the key's minimum: a tiny store beats none */
    return want;
}

void
rt_config_defaults(rt_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].def) {
            ray_err err =
                set_key(cfg, &keys[i], keys[i].def, "default", NULL, 0);
            RT_CHECK(err == RAY_OK);
        }
    }
    cfg->num_cpus = default_num_cpus();
    cfg->object_store_memory = default_store_memory();
}

ray_err
rt_config_set(rt_config *cfg, const char *key, const char *value, char *msg,
              size_t msglen)
{
    const config_key *k = key ? find_key(key, strlen(key)) : NULL;
    if (!k) {
        char known[512];
        size_t n = 0;
        known[0] = '\0';
        for (size_t i = 0; i < NKEYS && n < sizeof known; i++)
            n += (size_t)snprintf(known + n, sizeof known - n, "%s%s",
                                  i ? ", " : "", keys[i].name);
        return fail(msg, msglen,
                    "unknown config key \"%s\": expected one of %s",
                    key ? key : "(null)", known);
    }
    return set_key(cfg, k, value, "the caller", msg, msglen);
}

ray_err
rt_config_apply_env(rt_config *cfg, char *msg, size_t msglen)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char var[KEY_NAME_MAX + 8] = "RAYC_";
        size_t n = 5;
        for (const char *p = keys[i].name; *p && n + 1 < sizeof var; p++)
            var[n++] = (char)toupper((unsigned char)*p);
        var[n] = '\0';
        const char *value = getenv(var);
        if (!value)
            continue;
        char source[sizeof var + 32];
        snprintf(source, sizeof source, "environment variable %s", var);
        ray_err err = set_key(cfg, &keys[i], value, source, msg, msglen);
        if (err)
            return err;
    }
    return RAY_OK;
}

ray_err
rt_config_apply_args(rt_config *cfg, int *argc, char **argv, char *msg,
                     size_t msglen)
{
    if (!argc || !argv)
        return RAY_OK;
    int out = 1, i = 1;
    ray_err err = RAY_OK;
    for (; i < *argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--"))
            break;
        const char *eq = strchr(a, '=');
        const config_key *k = NULL;
        if (!strncmp(a, "--", 2) && eq)
            k = find_key(a + 2, (size_t)(eq - (a + 2)));
        if (!k) {
            argv[out++] = argv[i];
            continue;
        }
        char source[KEY_NAME_MAX + 16];
        snprintf(source, sizeof source, "flag --%.*s", (int)(eq - (a + 2)),
                 a + 2);
        if ((err = set_key(cfg, k, eq + 1, source, msg, msglen)))
            break;
    }
    for (; i < *argc; i++) /* keep the rest (after "--" or an error) */
        argv[out++] = argv[i];
    if (out < *argc)
        argv[out] = NULL; /* keep argv NULL-terminated like main's */
    *argc = out;
    return err;
}

ray_err
rt_config_load(rt_config *cfg, int *argc, char **argv, char *msg, size_t msglen)
{
    rt_config_defaults(cfg);
    ray_err err = rt_config_apply_env(cfg, msg, msglen);
    if (err)
        return err;
    return rt_config_apply_args(cfg, argc, argv, msg, msglen);
}

/* ---- output ----------------------------------------------------------- */

/* Formats `v` with the largest suffix that represents it exactly. */
static void
format_scaled(char *buf, size_t n, uint64_t v, const char *const *suffix,
              const uint64_t *scale, size_t count)
{
    for (size_t i = count; i-- > 1;) {
        if (v && v % scale[i] == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long)(v / scale[i]),
                     suffix[i]);
            return;
        }
    }
    snprintf(buf, n, "%llu%s", (unsigned long long)v, suffix[0]);
}

static void
format_value(const rt_config *cfg, const config_key *k, char *buf, size_t n)
{
    static const char *const size_sfx[] = {"", "K", "M", "G", "T"};
    static const uint64_t size_scale[] = {1, 1ULL << 10, 1ULL << 20, 1ULL << 30,
                                          1ULL << 40};
    static const char *const dur_sfx[] = {"ns", "us", "ms", "s", "m", "h"};
    static const uint64_t dur_scale[] = {1,    1000,      1000000,
                                         S_NS, 60 * S_NS, 3600 * S_NS};
    const char *field = (const char *)cfg + k->offset;
    int64_t i64;
    uint64_t u64;
    double d;
    bool b;
    switch (k->type) {
    case RT_CONFIG_INT:
        memcpy(&i64, field, sizeof i64);
        snprintf(buf, n, "%lld", (long long)i64);
        break;
    case RT_CONFIG_SIZE:
        memcpy(&u64, field, sizeof u64);
        format_scaled(buf, n, u64, size_sfx, size_scale, 5);
        break;
    case RT_CONFIG_DURATION:
        memcpy(&i64, field, sizeof i64);
        if (i64 == 0)
            snprintf(buf, n, "0s");
        else
            format_scaled(buf, n, (uint64_t)i64, dur_sfx, dur_scale, 6);
        break;
    case RT_CONFIG_DOUBLE:
        memcpy(&d, field, sizeof d);
        snprintf(buf, n, "%.15g", d);
        break;
    case RT_CONFIG_BOOL:
        memcpy(&b, field, sizeof b);
        snprintf(buf, n, "%s", b ? "true" : "false");
        break;
    case RT_CONFIG_STRING:
        snprintf(buf, n, "%s", field);
        break;
    }
}

ray_err
rt_config_get_text(const rt_config *cfg, const char *key, char *out,
                   size_t outlen)
{
    const config_key *k = key ? find_key(key, strlen(key)) : NULL;
    if (!k)
        return RAY_ENOTFOUND;
    char buf[RT_CONFIG_STRING_MAX + 32];
    format_value(cfg, k, buf, sizeof buf);
    if (!out || outlen == 0)
        return RAY_ETOOBIG;
    int w = snprintf(out, outlen, "%s", buf);
    return (size_t)w >= outlen ? RAY_ETOOBIG : RAY_OK;
}

void
rt_config_print_help(int fd)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char line[512];
        int n = snprintf(line, sizeof line, "  --%s=<%s>  %s (default: %s)\n",
                         keys[i].name, type_names[keys[i].type], keys[i].help,
                         keys[i].def ? keys[i].def : keys[i].def_help);
        if (n > 0) {
            ssize_t w =
                write(fd, line,
                      (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
            (void)w;
        }
    }
}

size_t
rt_config_key_count(void)
{
    return NKEYS;
}

const char *
rt_config_key_name(size_t i)
{
    return i < NKEYS ? keys[i].name : NULL;
}

rt_config_type
rt_config_key_type(size_t i)
{
    return i < NKEYS ? keys[i].type : RT_CONFIG_STRING;
}

const char *
rt_config_key_help(size_t i)
{
    return i < NKEYS ? keys[i].help : NULL;
}

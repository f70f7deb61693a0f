/* SPDX-License-Identifier: Apache-2.0
 *
 * config.h: the one source of tunables for daemons and the SDK.
 *
 * Every key is a row in a table (config.c): its name, type, default, range
 * and help line. A value is resolved in three layers, later ones winning:
 *
 *   1. the default (some are computed from the machine: num_cpus,
 *      object_store_memory);
 *   2. the environment variable RAYC_<KEY> (key upper-cased), e.g.
 *      RAYC_OBJECT_STORE_MEMORY=2G;
 *   3. command-line flags --key=value (daemons; '-' and '_' are the same
 *      in a flag's key, so --max-frame-size=1M works).
 *
 * Value syntax by type:
 *   int       decimal integer, e.g. 8
 *   size      bytes with an optional binary suffix K, M, G, T (optionally
 *             followed by B or iB, any case), e.g. 64M, 100K, 2GiB, 4096
 *   double    a decimal number, e.g. 0.8
 *   bool      true/false, yes/no, on/off, 1/0 (any case)
 *   string    any text up to RT_CONFIG_STRING_MAX - 1 bytes
 *   duration  a number and a unit: ns, us, ms, s, m, h, e.g. 250ms, 2s
 *
 * Errors (unknown key, bad value, out of range) return RAY_EINVAL and, if
 * the caller passed a buffer, a message naming the key, where the value
 * came from and the accepted form. The struct is plain data: copy it
 * freely; nothing in it needs freeing. All functions are thread-safe on
 * distinct structs; none keeps global state.
 */
#ifndef RAY_RUNTIME_CONFIG_H
#define RAY_RUNTIME_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

#define RT_CONFIG_STRING_MAX 256

/* Resolved values. Field names match the keys. */
typedef struct rt_config {
    int64_t num_cpus;             /* CPUs this node offers to tasks */
    uint64_t object_store_memory; /* bytes of the node's shm object store */
    uint64_t max_frame_size;      /* largest protocol frame accepted */
    char log_level[RT_CONFIG_STRING_MAX]; /* debug|info|warn|error|fatal|off */
    uint64_t inline_object_max;           /* objects up to this travel inline */
    char temp_dir[RT_CONFIG_STRING_MAX];  /* sockets, spill files, logs */
    int64_t worker_spin_us; /* a worker's bounded spin before sleeping */
    double
        object_spill_threshold;  /* store fill fraction that starts spilling */
    bool object_spilling;        /* spill to disk instead of failing puts */
    int64_t heartbeat_period_ns; /* raylet -> GCS heartbeat interval */
    int64_t node_timeout_ns;     /* missing heartbeats this long = dead */
    bool timeline;               /* record when each call ran */
} rt_config;

typedef enum rt_config_type {
    RT_CONFIG_INT,
    RT_CONFIG_SIZE,
    RT_CONFIG_DOUBLE,
    RT_CONFIG_BOOL,
    RT_CONFIG_STRING,
    RT_CONFIG_DURATION,
} rt_config_type;

/* Fill `cfg` with the defaults only (no environment, no flags). Reads the
 * machine's CPU count, RAM and /dev/shm free space. Never fails. */
void rt_config_defaults(rt_config *cfg);

/* Set one key from text, as if from a flag. `key` may use '-' for '_'.
 * RAY_OK, or RAY_EINVAL with `msg` (if not NULL, `msglen` bytes, always
 * NUL-terminated) saying why; on error `cfg` is unchanged. */
ray_err rt_config_set(rt_config *cfg, const char *key, const char *value,
                      char *msg, size_t msglen);

/* Apply every RAYC_<KEY> variable present in the environment. Variables
 * that name no key are ignored (other tools may share the prefix). Stops
 * at the first bad value: RAY_EINVAL with `msg`; keys applied before it
 * keep their new values. Not safe against a concurrent setenv. */
ray_err rt_config_apply_env(rt_config *cfg, char *msg, size_t msglen);

/* Apply flags of the form --key=value from argv[1..*argc-1] where key
 * names a config key. Consumed flags are removed from argv (the rest keep
 * their order and *argc shrinks), so a daemon parses what is left. A
 * "--key=value" whose key is unknown is left in place for the caller.
 * Arguments after a bare "--" are never touched. RAY_EINVAL with `msg` on
 * the first bad value (argv unchanged for that flag and the rest). */
ray_err rt_config_apply_args(rt_config *cfg, int *argc, char **argv, char *msg,
                             size_t msglen);

/* The full resolution: defaults, then environment, then flags (argc/argv
 * may be NULL for library use). RAY_OK or RAY_EINVAL with `msg`. */
ray_err rt_config_load(rt_config *cfg, int *argc, char **argv, char *msg,
                       size_t msglen);

/* Format the current value of `key` into `out` (`outlen` bytes) in a form
 * rt_config_set accepts. RAY_OK, RAY_ENOTFOUND for an unknown key, or
 * RAY_ETOOBIG if `out` is too small (then `out` holds a truncated string). */
ray_err rt_config_get_text(const rt_config *cfg, const char *key, char *out,
                           size_t outlen);

/* Write one line per key ("  --key=<type>  help (default: ...)") to `fd`,
 * for a daemon's --help. Best effort; ignores write errors. */
void rt_config_print_help(int fd);

/* Number of keys, and the name/type/help of key `i` (0-based). Out-of-range
 * `i` returns NULL from the name and help functions. */
size_t rt_config_key_count(void);
const char *rt_config_key_name(size_t i);
rt_config_type rt_config_key_type(size_t i);
const char *rt_config_key_help(size_t i);

/* Value parsers shared with other modules (the same syntax as above).
 * Each returns RAY_OK or RAY_EINVAL (result untouched on error). */
ray_err rt_config_parse_size(const char *text, uint64_t *out);
ray_err rt_config_parse_duration_ns(const char *text, int64_t *out);
ray_err rt_config_parse_bool(const char *text, bool *out);

#endif /* RAY_RUNTIME_CONFIG_H */

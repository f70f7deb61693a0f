/* SPDX-License-Identifier: Apache-2.0
 *
 * store_fixture.h: helpers shared by the object-store tests: a store
 * server in a fresh temporary directory (socket + spill dir) torn down
 * even when a test fails, and deterministic object IDs and payloads.
 */
#ifndef RAY_TESTS_OBJECTSTORE_STORE_FIXTURE_H
#define RAY_TESTS_OBJECTSTORE_STORE_FIXTURE_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objectstore/client.h"
#include "objectstore/store.h"

typedef struct store_fixture {
    char dir[64];
    char sock[128];
    char spill[128];
    store_server *srv;
} store_fixture;

/* Start a store with the settings of `base` (socket and spill paths are
 * the fixture's; spill_min_bytes defaults to 4 MiB), spilling into
 * dir/spill when `spill` is true. Returns 0 on success. */
static inline int
fixture_start_cfg(store_fixture *f, const store_config *base, int spill)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/raycstore.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->sock, sizeof f->sock, "%s/store.sock", f->dir);
    snprintf(f->spill, sizeof f->spill, "%s/spill", f->dir);
    store_config cfg = *base;
    cfg.socket_path = f->sock;
    cfg.spill_dir = spill ? f->spill : NULL;
    if (!cfg.spill_min_bytes)
        cfg.spill_min_bytes = 4u << 20;
    char err[256];
    if (store_server_start(&cfg, &f->srv, err, sizeof err) != RAY_OK) {
        fprintf(stderr, "store_server_start: %s\n", err);
        rmdir(f->dir);
        return -1;
    }
    return 0;
}

/* A store of `capacity` bytes and `max_objects` slots, its spill writes
 * through `ops` (NULL: the real system calls). */
static inline int
fixture_start_ops(store_fixture *f, uint64_t capacity, uint32_t max_objects,
                  int spill, const store_spill_ops *ops)
{
    store_config cfg;
    store_config_init(&cfg);
    cfg.capacity = capacity;
    cfg.max_objects = max_objects;
    cfg.spill_ops = ops;
    return fixture_start_cfg(f, &cfg, spill);
}

static inline int
fixture_start(store_fixture *f, uint64_t capacity, uint32_t max_objects,
              int spill)
{
    return fixture_start_ops(f, capacity, max_objects, spill, NULL);
}

/* Count files in the spill directory (-1 if it does not exist). */
static inline int
fixture_spill_files(store_fixture *f)
{
    DIR *d = opendir(f->spill);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static inline void
fixture_stop(store_fixture *f)
{
    store_server_stop(f->srv);
    f->srv = NULL;
    rmdir(f->spill);
    rmdir(f->dir);
}

/* ID number `n` (distinct for distinct n). */
static inline store_object_id
fixture_id(uint64_t n)
{
    store_object_id id;
    memset(&id, 0, sizeof id);
    memcpy(id.b, &n, sizeof n);
    id.b[27] = 0x5a;
    return id;
}

/* Deterministic payload byte i of object n. */
static inline uint8_t
fixture_byte(uint64_t n, uint64_t i)
{
    return (uint8_t)((n * 131u + i * 7u + (i >> 12)) & 0xff);
}

static inline void
fixture_fill(uint8_t *p, uint64_t len, uint64_t n)
{
    for (uint64_t i = 0; i < len; i++)
        p[i] = fixture_byte(n, i);
}

static inline int
fixture_check(const uint8_t *p, uint64_t len, uint64_t n)
{
    for (uint64_t i = 0; i < len; i++)
        if (p[i] != fixture_byte(n, i))
            return 0;
    return 1;
}

/* Create, fill and seal object n of `len` bytes; keeps the creator's pin
 * unless `release`. Returns the create/seal status. */
static inline ray_err
fixture_put(store_client *c, uint64_t n, uint64_t len, uint32_t flags,
            int release)
{
    store_object_id id = fixture_id(n);
    store_wbuffer w;
    ray_err rc = store_client_create(c, &id, len, 0, flags, &w);
    if (rc != RAY_OK)
        return rc;
    fixture_fill(w.data, len, n);
    rc = store_client_seal(c, &id);
    if (rc == RAY_OK && release)
        rc = store_client_release(c, &id);
    return rc;
}

#endif /* RAY_TESTS_OBJECTSTORE_STORE_FIXTURE_H */

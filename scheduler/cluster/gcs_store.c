/* SPDX-License-Identifier: Apache-2.0
 *
 * gcs_store.c: the GCS's durable entries (gcs_store.h): the SQLite
 * backend, and the choice of backend (Redis: gcs_store_redis.c).
 */
#include "scheduler/cluster/gcs_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "scheduler/cluster/gcs_store_int.h"

typedef struct sqlite_store {
    gcs_store base;
    sqlite3 *db;
    sqlite3_stmt *put, *del;
} sqlite_store;

static ray_err
fail(sqlite_store *s, const char *what, char *why, size_t whylen)
{
    snprintf(why, whylen, "the GCS store: %s: %s", what,
             s && s->db ? sqlite3_errmsg(s->db) : "out of memory");
    return RAY_ESYSERR;
}

static const gcs_store_ops sqlite_ops;

static ray_err
sqlite_open(const char *spec, gcs_store **out, char *why, size_t whylen)
{
    sqlite_store *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return fail(NULL, spec, why, whylen);
    ray_err err = RAY_OK;
    if (sqlite3_open_v2(spec, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, "
                     "key BLOB NOT NULL, value BLOB NOT NULL, "
                     "PRIMARY KEY (ns, key));",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO kv (ns, key, value) "
                           "VALUES (?, ?, ?)",
                           -1, &s->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM kv WHERE ns = ? AND key = ?", -1,
                           &s->del, NULL) != SQLITE_OK)
        err = fail(s, spec, why, whylen);
    s->base.ops = &sqlite_ops;
    if (err != RAY_OK) {
        gcs_store_close(&s->base);
        return err;
    }
    *out = &s->base;
    return RAY_OK;
}

static ray_err
step(sqlite_store *s, sqlite3_stmt *st, const char *what, char *why,
     size_t whylen)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? RAY_OK : fail(s, what, why, whylen);
}

static ray_err
sqlite_put(gcs_store *gs, const char *ns, const void *key, size_t klen,
           const void *val, size_t vlen, char *why, size_t whylen)
{
    sqlite_store *s = (sqlite_store *)gs;
    sqlite3_bind_text(s->put, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(s->put, 2, key, klen, SQLITE_STATIC);
    sqlite3_bind_blob64(s->put, 3, vlen ? val : "", vlen, SQLITE_STATIC);
    return step(s, s->put, "put", why, whylen);
}

static ray_err
sqlite_del(gcs_store *gs, const char *ns, const void *key, size_t klen,
           char *why, size_t whylen)
{
    sqlite_store *s = (sqlite_store *)gs;
    sqlite3_bind_text(s->del, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(s->del, 2, key, klen, SQLITE_STATIC);
    return step(s, s->del, "delete", why, whylen);
}

static ray_err
sqlite_load(gcs_store *gs, gcs_store_each each, void *arg, char *why,
            size_t whylen)
{
    sqlite_store *s = (sqlite_store *)gs;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT ns, key, value FROM kv", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(s, "load", why, whylen);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        each(arg, (const char *)sqlite3_column_text(st, 0),
             sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
             sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? RAY_OK : fail(s, "load", why, whylen);
}

static void
sqlite_close(gcs_store *gs)
{
    sqlite_store *s = (sqlite_store *)gs;
    sqlite3_finalize(s->put);
    sqlite3_finalize(s->del);
    sqlite3_close(s->db);
    rt_free(s);
}

static const gcs_store_ops sqlite_ops = {
    .put = sqlite_put,
    .del = sqlite_del,
    .load = sqlite_load,
    .close = sqlite_close,
};

/* ---- the choice ---- */

ray_err
gcs_store_open(const char *spec, gcs_store **out, char *why, size_t whylen)
{
    *out = NULL;
    if (!spec || !*spec || !strcmp(spec, "memory"))
        return RAY_OK;
    if (!strncmp(spec, "redis://", 8))
        return gcs_store_redis_open(spec + 8, out, why, whylen);
    if (strstr(spec, "://")) {
        snprintf(why, whylen,
                 "--storage=%s: a file path (SQLite), redis://HOST:PORT or "
                 "\"memory\"",
                 spec);
        return RAY_EINVAL;
    }
    return sqlite_open(spec, out, why, whylen);
}

ray_err
gcs_store_put(gcs_store *s, const char *ns, const void *key, size_t klen,
              const void *val, size_t vlen, char *why, size_t whylen)
{
    return s ? s->ops->put(s, ns, key, klen, val, vlen, why, whylen) : RAY_OK;
}

ray_err
gcs_store_del(gcs_store *s, const char *ns, const void *key, size_t klen,
              char *why, size_t whylen)
{
    return s ? s->ops->del(s, ns, key, klen, why, whylen) : RAY_OK;
}

ray_err
gcs_store_load(gcs_store *s, gcs_store_each each, void *arg, char *why,
               size_t whylen)
{
    return s ? s->ops->load(s, each, arg, why, whylen) : RAY_OK;
}

void
gcs_store_close(gcs_store *s)
{
    if (s)
        s->ops->close(s);
}

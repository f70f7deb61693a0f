/* SPDX-License-Identifier: Apache-2.0
 *
 * gcs_store_redis.c: the GCS's durable entries in a Redis server
 * (gcs_store.h), through hiredis, for users who run one for high
 * availability as Ray's users do. One hash, "PREFIX:gcs:kv" (PREFIX
 * "rayc" unless the spec names one, so clusters can share a server),
 * whose fields are "NS\0KEY". A lost connection is made again once per
 * call.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/net.h"
#include "scheduler/cluster/gcs_store_int.h"

typedef struct redis_store {
    gcs_store base;
    redisContext *c;
    char host[RT_HOST_MAX];
    int port;
    char hash[160];
} redis_store;

static ray_err
connect_to(redis_store *s, char *why, size_t whylen)
{
    if (s->c && !s->c->err)
        return RAY_OK;
    if (s->c)
        redisFree(s->c);
    struct timeval tv = {3, 0};
    s->c = redisConnectWithTimeout(s->host, s->port, tv);
    if (s->c && !s->c->err) {
        redisSetTimeout(s->c, tv);
        return RAY_OK;
    }
    snprintf(why, whylen, "the GCS store: redis at %s:%d: %s", s->host, s->port,
             s->c ? s->c->errstr : "out of memory");
    return RAY_ESYSERR;
}

/* "NS\0KEY" into a fresh buffer. */
static char *
field(const char *ns, const void *key, size_t klen, size_t *len)
{
    size_t nl = strlen(ns);
    char *f = rt_malloc(nl + 1 + klen + 1);
    if (f) {
        memcpy(f, ns, nl + 1);
        memcpy(f + nl + 1, key, klen);
        *len = nl + 1 + klen;
    }
    return f;
}

/* One command (argv form), made again on a fresh connection if the
 * first try finds it lost. The reply (freeReplyObject it), or NULL with
 * why. */
static redisReply *
command(redis_store *s, int argc, const char **argv, const size_t *lens,
        char *why, size_t whylen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (connect_to(s, why, whylen) != RAY_OK)
            return NULL;
        redisReply *r = redisCommandArgv(s->c, argc, argv, lens);
        if (r && r->type != REDIS_REPLY_ERROR)
            return r;
        if (r) {
            snprintf(why, whylen, "the GCS store: redis: %s", r->str);
            freeReplyObject(r);
            return NULL;
        }
        snprintf(why, whylen, "the GCS store: redis: %s", s->c->errstr);
    }
    return NULL;
}

/* HSET (with a value) or HDEL (val NULL) of field NS\0KEY. */
static ray_err
on_field(redis_store *s, const char *ns, const void *key, size_t klen,
         const void *val, size_t vlen, char *why, size_t whylen)
{
    size_t fl = 0;
    char *f = field(ns, key, klen, &fl);
    if (!f)
        return RAY_ENOMEM;
    const char *argv[] = {val ? "HSET" : "HDEL", s->hash, f, val};
    size_t lens[] = {4, strlen(s->hash), fl, vlen};
    redisReply *r = command(s, val ? 4 : 3, argv, lens, why, whylen);
    rt_free(f);
    if (!r)
        return RAY_ESYSERR;
    freeReplyObject(r);
    return RAY_OK;
}

static ray_err
redis_put(gcs_store *gs, const char *ns, const void *key, size_t klen,
          const void *val, size_t vlen, char *why, size_t whylen)
{
    return on_field((redis_store *)gs, ns, key, klen, vlen ? val : "", vlen,
                    why, whylen);
}

static ray_err
redis_del(gcs_store *gs, const char *ns, const void *key, size_t klen,
          char *why, size_t whylen)
{
    return on_field((redis_store *)gs, ns, key, klen, NULL, 0, why, whylen);
}

static ray_err
redis_load(gcs_store *gs, gcs_store_each each, void *arg, char *why,
           size_t whylen)
{
    redis_store *s = (redis_store *)gs;
    const char *argv[] = {"HGETALL", s->hash};
    size_t lens[] = {7, strlen(s->hash)};
    redisReply *r = command(s, 2, argv, lens, why, whylen);
    if (!r)
        return RAY_ESYSERR;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
         i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        const char *nul = memchr(f->str, 0, f->len);
        if (!nul)
            continue; /* not one of ours */
        size_t nl = (size_t)(nul - f->str);
        each(arg, f->str, nul + 1, f->len - nl - 1, v->str, v->len);
    }
    freeReplyObject(r);
    return RAY_OK;
}

static void
redis_close(gcs_store *gs)
{
    redis_store *s = (redis_store *)gs;
    if (s->c)
        redisFree(s->c);
    rt_free(s);
}

static const gcs_store_ops redis_ops = {
    .put = redis_put,
    .del = redis_del,
    .load = redis_load,
    .close = redis_close,
};

ray_err
gcs_store_redis_open(const char *where, gcs_store **out, char *why,
                     size_t whylen)
{
    char hostport[RT_HOST_MAX + 8];
    const char *slash = strchr(where, '/');
    size_t hl = slash ? (size_t)(slash - where) : strlen(where);
    uint16_t port = 0;
    redis_store *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return RAY_ENOMEM;
    s->base.ops = &redis_ops;
    snprintf(hostport, sizeof(hostport), "%.*s", (int)hl, where);
    snprintf(s->hash, sizeof(s->hash), "%s:gcs:kv",
             slash && slash[1] ? slash + 1 : "rayc");
    ray_err err = rt_addr_parse(hostport, s->host, &port, why, whylen);
    s->port = port;
    if (err == RAY_OK)
        err = connect_to(s, why, whylen);
    if (err != RAY_OK) {
        redis_close(&s->base);
        return err;
    }
    *out = &s->base;
    return RAY_OK;
}

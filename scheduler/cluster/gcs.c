/* SPDX-License-Identifier: Apache-2.0
 *
 * gcs.c: the node table and the key-value store behind the head's port
 * (gcs.h).
 */
#include "scheduler/cluster/gcs.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/ids.h"
#include "runtime/log.h"
#include "runtime/server.h"
#include "scheduler/cluster/gcs_store.h"

#define NODE_ID_LEN 28
#define MAX_NODES 4096
#define MAX_KV 65536

typedef struct gcs_node {
    Ray__Rpc__NodeInfo *info; /* as registered (unpacked copy, owned) */
    uint8_t id[NODE_ID_LEN];
    rt_conn *conn; /* its registration connection, NULL once closed */
    int64_t last_ns;
    int64_t dead_ns; /* when it was declared dead */
    bool alive;
    char why[128];
} gcs_node;

typedef struct kv_entry {
    char *ns;
    ProtobufCBinaryData key, value;
    rt_conn *owner; /* ephemeral: the connection that put it, else NULL */
} kv_entry;

struct gcs {
    rt_server *srv;
    int deadline_ms;
    gcs_node **nodes; /* each its own allocation: connections point at them */
    uint32_t n, cap;
    kv_entry *kv;
    uint32_t nkv, ckv;
    gcs_store *store; /* entries no connection owns, kept (or NULL) */
};

/* The store follows entry e (after a change to it): kept when no
 * connection owns it, else (and when `gone`) forgotten. A store that
 * fails is logged; the entry stays served from memory. */
static void
keep(gcs *g, const kv_entry *e, bool gone)
{
    char why[300];
    ray_err err =
        gone || e->owner
            ? gcs_store_del(g->store, e->ns, e->key.data, e->key.len, why,
                            sizeof(why))
            : gcs_store_put(g->store, e->ns, e->key.data, e->key.len,
                            e->value.data, e->value.len, why, sizeof(why));
    if (err != RAY_OK)
        RT_LOG_RATELIMITED(RT_LOG_ERROR, "gcs: %s", why);
}

static gcs_node *
find(gcs *g, const ProtobufCBinaryData *id)
{
    if (id->len != NODE_ID_LEN)
        return NULL;
    for (uint32_t i = 0; i < g->n; i++)
        if (!memcmp(g->nodes[i]->id, id->data, NODE_ID_LEN))
            return g->nodes[i];
    return NULL;
}

static void
declare_dead(gcs *g, gcs_node *nd, const char *why)
{
    (void)g;
    if (!nd->alive)
        return;
    nd->alive = false;
    nd->dead_ns = rt_clock_now_ns();
    snprintf(nd->why, sizeof(nd->why), "%s", why);
    char hex[2 * NODE_ID_LEN + 1];
    rt_id_hex_encode(nd->id, 8, hex);
    const Ray__Rpc__Address *a = nd->info->raylet_address;
    RT_WARN("gcs: node %s (%s:%u) declared dead: %s", hex, a ? a->ip : "?",
            a ? a->port : 0, why);
}

static ray_err
reply_status(gcs *g, rt_conn *c, uint32_t type, ProtobufCMessage *m)
{
    return rt_server_send(g->srv, c, type, m);
}

static void
on_register(gcs *g, rt_conn *c, Ray__Rpc__RegisterNodeRequest *r)
{
    Ray__Rpc__RegisterNodeReply rep = RAY__RPC__REGISTER_NODE_REPLY__INIT;
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    rep.status = &st;
    rep.heartbeat_interval_ms = GCS_HEARTBEAT_MS;
    Ray__Rpc__NodeInfo *ni = r->node;
    if (!ni || ni->node_id.len != NODE_ID_LEN || !ni->raylet_address ||
        !ni->raylet_address->ip || !ni->raylet_address->port) {
        st.code = RAY_EINVAL;
        st.message = "RegisterNode: a node id of 28 bytes and the raylet's "
                     "ip:port are required";
        reply_status(g, c, RAY__RPC__MESSAGE_TYPE__MSG_REGISTER_NODE_REPLY,
                     &rep.base);
        rt_server_close(g->srv, c, st.message);
        return;
    }
    /* Keep a copy: the request is freed after this call. */
    size_t len = protobuf_c_message_get_packed_size(&ni->base);
    uint8_t *buf = rt_malloc(len ? len : 1);
    Ray__Rpc__NodeInfo *copy = NULL;
    if (buf) {
        protobuf_c_message_pack(&ni->base, buf);
        copy = ray__rpc__node_info__unpack(&rt_protobuf_allocator, len, buf);
        rt_free(buf);
    }
    gcs_node *nd = find(g, &ni->node_id);
    if (nd && !nd->alive) {
        /* Declared dead (silent past the deadline, or its connection
         * closed): drivers have redone its work elsewhere, so it may not
         * come back as itself and finish that work a second time. */
        rt_proto_free(copy ? &copy->base : NULL);
        rep.declared_dead = true;
        rep.death_reason = nd->why;
        char hex[17];
        rt_id_hex_encode(nd->id, 8, hex);
        RT_INFO("gcs: node %s came back after it was declared dead (%s): told "
                "to join again as a new node",
                hex, nd->why);
        reply_status(g, c, RAY__RPC__MESSAGE_TYPE__MSG_REGISTER_NODE_REPLY,
                     &rep.base);
        return;
    }
    if (!copy || (!nd && g->n == MAX_NODES)) {
        rt_proto_free(copy ? &copy->base : NULL);
        st.code = RAY_ENOMEM;
        st.message = "RegisterNode: the node table is full";
        reply_status(g, c, RAY__RPC__MESSAGE_TYPE__MSG_REGISTER_NODE_REPLY,
                     &rep.base);
        return;
    }
    if (!nd) {
        if (g->n == g->cap) {
            uint32_t cap = g->cap ? 2 * g->cap : 8;
            gcs_node **nn = rt_realloc(g->nodes, cap * sizeof(*nn));
            if (nn) {
                g->nodes = nn;
                g->cap = cap;
            }
        }
        nd = g->n < g->cap ? rt_calloc(1, sizeof(*nd)) : NULL;
        if (!nd) {
            rt_proto_free(&copy->base);
            rt_server_close(g->srv, c, "out of memory");
            return;
        }
        g->nodes[g->n++] = nd;
        memcpy(nd->id, ni->node_id.data, NODE_ID_LEN);
    } else {
        if (nd->conn && nd->conn != c)
            nd->conn->user = NULL;
        rt_proto_free(&nd->info->base);
    }
    nd->info = copy;
    nd->conn = c;
    nd->alive = true;
    nd->why[0] = 0;
    nd->last_ns = rt_clock_now_ns();
    c->user = nd;
    char hex[17];
    rt_id_hex_encode(nd->id, 8, hex);
    RT_INFO("gcs: node %s registered at %s:%u%s", hex, copy->raylet_address->ip,
            copy->raylet_address->port, copy->is_head ? " (head)" : "");
    reply_status(g, c, RAY__RPC__MESSAGE_TYPE__MSG_REGISTER_NODE_REPLY,
                 &rep.base);
}

static void
on_heartbeat(gcs *g, rt_conn *c, Ray__Rpc__NodeHeartbeatRequest *r)
{
    gcs_node *nd = c->user;
    if (!nd || r->node_id.len != NODE_ID_LEN ||
        memcmp(nd->id, r->node_id.data, NODE_ID_LEN)) {
        rt_server_close(g->srv, c,
                        "a heartbeat for a node this connection "
                        "did not register");
        return;
    }
    nd->last_ns = rt_clock_now_ns();
    /* What is free now, by name, over the registered set. */
    Ray__Rpc__ResourceSet *have = nd->info->available_resources;
    for (size_t i = 0; r->available_resources && have &&
                       i < r->available_resources->n_entries;
         i++) {
        Ray__Rpc__ResourceEntry *e = r->available_resources->entries[i];
        for (size_t k = 0; k < have->n_entries; k++)
            if (e->name && !strcmp(have->entries[k]->name, e->name))
                have->entries[k]->quantity = e->quantity;
    }
}

static void
on_get_nodes(gcs *g, rt_conn *c, Ray__Rpc__GetAllNodesRequest *r)
{
    Ray__Rpc__GetAllNodesReply rep = RAY__RPC__GET_ALL_NODES_REPLY__INIT;
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    rep.status = &st;
    Ray__Rpc__NodeInfo **v = rt_calloc(g->n ? g->n : 1, sizeof(*v));
    if (!v) {
        rt_server_close(g->srv, c, "out of memory");
        return;
    }
    int64_t now = rt_clock_now_ns();
    for (uint32_t i = 0; i < g->n; i++) {
        gcs_node *nd = g->nodes[i];
        if (r->alive_only && !nd->alive)
            continue;
        nd->info->state = nd->alive ? RAY__RPC__NODE_STATE__NODE_STATE_ALIVE
                                    : RAY__RPC__NODE_STATE__NODE_STATE_DEAD;
        nd->info->death_reason = nd->alive ? (char *)"" : nd->why;
        nd->info->last_heartbeat_ms = (uint64_t)(now - nd->last_ns) / 1000000u;
        v[rep.n_nodes++] = nd->info;
    }
    rep.nodes = v;
    reply_status(g, c, RAY__RPC__MESSAGE_TYPE__MSG_GET_ALL_NODES_REPLY,
                 &rep.base);
    for (uint32_t i = 0; i < g->n; i++)
        g->nodes[i]->info->death_reason = NULL; /* points into nd->why */
    rt_free(v);
}

/* ---- kv ---- */

static kv_entry *
kv_find(gcs *g, const char *ns, const ProtobufCBinaryData *key)
{
    for (uint32_t i = 0; i < g->nkv; i++) {
        kv_entry *e = &g->kv[i];
        if (e->key.len == key->len && !strcmp(e->ns, ns ? ns : "") &&
            (!key->len || !memcmp(e->key.data, key->data, key->len)))
            return e;
    }
    return NULL;
}

static uint8_t *
dup_bytes(const ProtobufCBinaryData *b)
{
    uint8_t *p = rt_malloc(b->len ? b->len : 1);
    if (p && b->len)
        memcpy(p, b->data, b->len);
    return p;
}

static void
kv_drop(kv_entry *e)
{
    rt_free(e->ns);
    rt_free(e->key.data);
    rt_free(e->value.data);
}

static void
on_kv_put(gcs *g, rt_conn *c, Ray__Rpc__KvPutRequest *r)
{
    Ray__Rpc__KvPutReply rep = RAY__RPC__KV_PUT_REPLY__INIT;
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    rep.status = &st;
    kv_entry *e = kv_find(g, r->ns, &r->key);
    uint8_t *val = dup_bytes(&r->value);
    if (!val) {
        st.code = RAY_ENOMEM;
    } else if (e && !r->overwrite) {
        rt_free(val);
    } else if (e) {
        bool was_kept = !e->owner;
        rt_free(e->value.data);
        e->value = (ProtobufCBinaryData){r->value.len, val};
        e->owner = r->ephemeral ? c : NULL;
        if (was_kept || !e->owner)
            keep(g, e, false);
        rep.added = true;
    } else if (g->nkv == MAX_KV) {
        rt_free(val);
        st.code = RAY_ESTORE_FULL;
        st.message = "kv: full (65536 keys)";
    } else {
        if (g->nkv == g->ckv) {
            uint32_t cap = g->ckv ? 2 * g->ckv : 16;
            kv_entry *nk = rt_realloc(g->kv, cap * sizeof(*nk));
            if (!nk) {
                rt_free(val);
                rt_server_close(g->srv, c, "out of memory");
                return;
            }
            g->kv = nk;
            g->ckv = cap;
        }
        e = &g->kv[g->nkv++];
        e->ns = rt_strdup(r->ns ? r->ns : "");
        e->key = (ProtobufCBinaryData){r->key.len, dup_bytes(&r->key)};
        e->value = (ProtobufCBinaryData){r->value.len, val};
        e->owner = r->ephemeral ? c : NULL;
        if (!e->owner)
            keep(g, e, false);
        rep.added = true;
    }
    reply_status(g, c, RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REPLY, &rep.base);
}

static void
on_kv_get(gcs *g, rt_conn *c, Ray__Rpc__KvGetRequest *r)
{
    Ray__Rpc__KvGetReply rep = RAY__RPC__KV_GET_REPLY__INIT;
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    rep.status = &st;
    kv_entry *e = kv_find(g, r->ns, &r->key);
    if (e) {
        rep.found = true;
        rep.value = e->value;
    }
    reply_status(g, c, RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REPLY, &rep.base);
}

static void
on_kv_del(gcs *g, rt_conn *c, Ray__Rpc__KvDelRequest *r)
{
    Ray__Rpc__KvDelReply rep = RAY__RPC__KV_DEL_REPLY__INIT;
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    rep.status = &st;
    kv_entry *e = kv_find(g, r->ns, &r->key);
    if (e) {
        if (!e->owner)
            keep(g, e, true);
        kv_drop(e);
        *e = g->kv[--g->nkv];
        rep.deleted = true;
    }
    reply_status(g, c, RAY__RPC__MESSAGE_TYPE__MSG_KV_DEL_REPLY, &rep.base);
}

static void
on_kv_list(gcs *g, rt_conn *c, Ray__Rpc__KvListRequest *r)
{
    Ray__Rpc__KvListReply rep = RAY__RPC__KV_LIST_REPLY__INIT;
    Ray__Rpc__Status st = RAY__RPC__STATUS__INIT;
    rep.status = &st;
    ProtobufCBinaryData *k = rt_calloc(g->nkv ? g->nkv : 1, sizeof(*k));
    ProtobufCBinaryData *v = rt_calloc(g->nkv ? g->nkv : 1, sizeof(*v));
    if (!k || !v) {
        rt_free(k);
        rt_free(v);
        rt_server_close(g->srv, c, "out of memory");
        return;
    }
    size_t n = 0, bytes = 0;
    for (uint32_t i = 0; i < g->nkv && bytes < RT_NET_MAX_FRAME / 2; i++) {
        kv_entry *e = &g->kv[i];
        if (strcmp(e->ns, r->ns ? r->ns : "") || e->key.len < r->prefix.len ||
            (r->prefix.len &&
             memcmp(e->key.data, r->prefix.data, r->prefix.len)))
            continue;
        k[n] = e->key;
        v[n++] = e->value;
        bytes += e->key.len + e->value.len + 8;
    }
    rep.keys = k;
    rep.n_keys = n;
    rep.values = v;
    rep.n_values = n;
    reply_status(g, c, RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REPLY, &rep.base);
    rt_free(k);
    rt_free(v);
}

static void
on_message(void *ctx, rt_conn *c, uint32_t type, ProtobufCMessage *m)
{
    gcs *g = ctx;
    switch (type) {
    case RAY__RPC__MESSAGE_TYPE__MSG_REGISTER_NODE_REQUEST:
        on_register(g, c, (Ray__Rpc__RegisterNodeRequest *)m);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_NODE_HEARTBEAT_REQUEST:
        on_heartbeat(g, c, (Ray__Rpc__NodeHeartbeatRequest *)m);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_GET_ALL_NODES_REQUEST:
        on_get_nodes(g, c, (Ray__Rpc__GetAllNodesRequest *)m);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REQUEST:
        on_kv_put(g, c, (Ray__Rpc__KvPutRequest *)m);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REQUEST:
        on_kv_get(g, c, (Ray__Rpc__KvGetRequest *)m);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_KV_DEL_REQUEST:
        on_kv_del(g, c, (Ray__Rpc__KvDelRequest *)m);
        break;
    case RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REQUEST:
        on_kv_list(g, c, (Ray__Rpc__KvListRequest *)m);
        break;
    default: {
        char why[96];
        snprintf(why, sizeof(why), "%s is not a GCS request",
                 rt_proto_type_name(type));
        rt_server_close(g->srv, c, why);
    }
    }
}

static void
on_closed(void *ctx, rt_conn *c)
{
    gcs *g = ctx;
    for (uint32_t i = g->nkv; i-- > 0;) /* its ephemeral entries go */
        if (g->kv[i].owner == c) {
            kv_drop(&g->kv[i]);
            g->kv[i] = g->kv[--g->nkv];
        }
    gcs_node *nd = c->user;
    if (nd && nd->conn == c) {
        nd->conn = NULL;
        declare_dead(ctx, nd, "its raylet's connection closed");
    }
}

static void
on_tick(void *ctx)
{
    gcs *g = ctx;
    int64_t now = rt_clock_now_ns();
    for (uint32_t i = g->n; i-- > 0;) {
        gcs_node *nd = g->nodes[i];
        if (!nd->alive && !nd->conn &&
            now - nd->dead_ns > (int64_t)GCS_FORGET_S * 1000000000) {
            /* Dead long enough: forgotten (a table of every node that ever
             * came and went would only grow). */
            rt_proto_free(&nd->info->base);
            rt_free(nd);
            g->nodes[i] = g->nodes[--g->n];
            continue;
        }
        if (nd->alive &&
            now - nd->last_ns > (int64_t)g->deadline_ms * 1000000) {
            char why[96];
            snprintf(why, sizeof(why), "no heartbeat for %d ms",
                     g->deadline_ms);
            declare_dead(g, nd, why);
            if (nd->conn) {
                nd->conn->user = NULL;
                rt_server_close(g->srv, nd->conn, NULL);
                nd->conn = NULL;
            }
        }
    }
}

static const rt_server_ops gcs_ops = {
    .message = on_message,
    .closed = on_closed,
    .tick = on_tick,
};

/* An entry the store kept, back in memory (gcs_create). */
static void
load_one(void *arg, const char *ns, const void *key, size_t klen,
         const void *val, size_t vlen)
{
    gcs *g = arg;
    if (g->nkv == MAX_KV)
        return;
    if (g->nkv == g->ckv) {
        uint32_t cap = g->ckv ? 2 * g->ckv : 16;
        kv_entry *nk = rt_realloc(g->kv, cap * sizeof(*nk));
        if (!nk)
            return;
        g->kv = nk;
        g->ckv = cap;
    }
    ProtobufCBinaryData k = {klen, (uint8_t *)key}, v = {vlen, (uint8_t *)val};
    kv_entry *e = &g->kv[g->nkv];
    e->ns = rt_strdup(ns ? ns : "");
    e->key = (ProtobufCBinaryData){klen, dup_bytes(&k)};
    e->value = (ProtobufCBinaryData){vlen, dup_bytes(&v)};
    e->owner = NULL;
    if (!e->ns || !e->key.data || !e->value.data) {
        kv_drop(e);
        return;
    }
    g->nkv++;
}

ray_err
gcs_create(int listen_fd, const uint8_t tok[RT_TOKEN_LEN], int deadline_ms,
           const char *storage, gcs **out, char *why, size_t whylen)
{
    gcs *g = rt_calloc(1, sizeof(*g));
    if (!g) {
        snprintf(why, whylen, "out of memory");
        return RAY_ENOMEM;
    }
    g->deadline_ms = deadline_ms > 0 ? deadline_ms : GCS_DEADLINE_MS;
    ray_err err = gcs_store_open(storage, &g->store, why, whylen);
    if (err == RAY_OK)
        err = gcs_store_load(g->store, load_one, g, why, whylen);
    if (err == RAY_OK && g->nkv)
        RT_INFO("gcs: %u key-value entries back from %s", g->nkv, storage);
    if (err == RAY_OK)
        err = rt_server_create(listen_fd, tok, "gcs", &gcs_ops, g, &g->srv);
    else
        close(listen_fd);
    if (err != RAY_OK) {
        if (!why[0])
            snprintf(why, whylen, "%s", rt_err_name(err));
        for (uint32_t i = 0; i < g->nkv; i++)
            kv_drop(&g->kv[i]);
        rt_free(g->kv);
        gcs_store_close(g->store);
        rt_free(g);
        return err;
    }
    *out = g;
    return RAY_OK;
}

void
gcs_run(gcs *g, _Atomic int *stop)
{
    rt_server_run(g->srv, stop);
}

void
gcs_destroy(gcs *g)
{
    if (!g)
        return;
    rt_server_destroy(g->srv);
    for (uint32_t i = 0; i < g->n; i++) {
        rt_proto_free(&g->nodes[i]->info->base);
        rt_free(g->nodes[i]);
    }
    for (uint32_t i = 0; i < g->nkv; i++)
        kv_drop(&g->kv[i]);
    rt_free(g->kv);
    rt_free(g->nodes);
    gcs_store_close(g->store);
    rt_free(g);
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * rayc_ask.c: ask every connected driver something only it knows (its
 * timeline, its tasks, its objects) through the head, and gather the
 * answers (sdk/cluster_ask.c is the drivers' side and says the keys).
 * The request lives on this command's own connection to the head: it
 * goes when the command ends, and with it each driver's answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/random.h"
#include "scheduler/cluster/rayc_cli.h"

/* One kv call on the head's connection: the reply, or NULL after
 * saying why. */
static ProtobufCMessage *
call(const char *cmd, int fd, uint32_t type, const ProtobufCMessage *q,
     uint32_t reply_type)
{
    char why[300];
    ProtobufCMessage *m = NULL;
    if (rt_net_call(fd, type, q, reply_type, &m, 5000, why, sizeof(why)) !=
        RAY_OK) {
        fprintf(stderr, "rayc %s: the head: %s\n", cmd, why);
        return NULL;
    }
    return m;
}

static int
connect_head(const opts *o, const char *cmd, char *addr, size_t alen)
{
    char why[400], tpath[PATH_MAX];
    uint8_t tok[RT_TOKEN_LEN];
    int fd = -1;
    if (!rayc_head_address(o, addr, alen)) {
        fprintf(stderr,
                "rayc %s: no head address: give --address or "
                "RAY_ADDRESS, or start a head on this machine\n",
                cmd);
        return -1;
    }
    rt_token_path(o->token_file, tpath, sizeof(tpath));
    ray_err err = rt_token_load(tpath, tok, why, sizeof(why));
    if (err == RAY_OK)
        err = rt_dial(addr, tok, "rayc", &fd, why, sizeof(why));
    if (err != RAY_OK)
        fprintf(stderr, "rayc %s: %s: %s\n", cmd, addr, why);
    return err == RAY_OK ? fd : -1;
}

void
rayc_answer_who(const rayc_answers *a, size_t i, char *out, size_t len)
{
    snprintf(out, len, "%.*s", (int)a->jobs->keys[i].len,
             (const char *)a->jobs->keys[i].data);
}

int
rayc_ask(const opts *o, const char *cmd, const char *what, const char *hint,
         rayc_answers *a)
{
    memset(a, 0, sizeof(*a));
    int fd = connect_head(o, cmd, a->addr, sizeof(a->addr));
    if (fd < 0)
        return 1;
    Ray__Rpc__KvListRequest lq = RAY__RPC__KV_LIST_REQUEST__INIT;
    lq.ns = "job";
    a->jobs = (Ray__Rpc__KvListReply *)call(
        cmd, fd, RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REQUEST, &lq.base,
        RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REPLY);
    a->n = a->jobs ? a->jobs->n_keys : 0;
    if (a->jobs && !a->n) {
        fprintf(stderr, "rayc %s: no driver is connected to %s%s\n", cmd,
                a->addr, hint);
        close(fd);
        return 0;
    }
    char nonce[24];
    snprintf(nonce, sizeof(nonce), "%016llx",
             (unsigned long long)rt_random_u64());
    a->got = a->n ? rt_calloc(a->n, sizeof(*a->got)) : NULL;
    Ray__Rpc__KvPutRequest q = RAY__RPC__KV_PUT_REQUEST__INIT;
    q.ns = "ask";
    q.key = (ProtobufCBinaryData){strlen(nonce), (uint8_t *)nonce};
    q.value = (ProtobufCBinaryData){strlen(what), (uint8_t *)what};
    q.overwrite = true;
    q.ephemeral = true; /* gone with this command's connection */
    ProtobufCMessage *m =
        a->got ? call(cmd, fd, RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REQUEST,
                      &q.base, RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REPLY)
               : NULL;
    rt_proto_free(m);
    if (!m) {
        close(fd);
        rayc_answers_free(a);
        return 1;
    }
    int64_t deadline = rt_deadline_after_ms(RAYC_ASK_WAIT_MS);
    while (a->have < a->n && rt_clock_now_ns() < deadline) {
        for (size_t i = 0; i < a->n; i++) {
            if (a->got[i])
                continue;
            char who[128], key[160];
            rayc_answer_who(a, i, who, sizeof(who));
            snprintf(key, sizeof(key), "%s %s", nonce, who);
            Ray__Rpc__KvGetRequest g = RAY__RPC__KV_GET_REQUEST__INIT;
            g.ns = "answer";
            g.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
            Ray__Rpc__KvGetReply *r = (Ray__Rpc__KvGetReply *)call(
                cmd, fd, RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REQUEST, &g.base,
                RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REPLY);
            if (!r) { /* the head went: what came is what there is */
                deadline = 0;
                break;
            }
            if (r->found) {
                a->got[i] = r;
                a->have++;
            } else {
                rt_proto_free(&r->base);
            }
        }
        if (a->have < a->n && deadline)
            usleep(100000);
    }
    close(fd);
    for (size_t i = 0; i < a->n; i++)
        if (!a->got[i]) {
            char who[128];
            rayc_answer_who(a, i, who, sizeof(who));
            fprintf(stderr, "rayc %s: driver %s did not answer within %d s\n",
                    cmd, who, RAYC_ASK_WAIT_MS / 1000);
        }
    return 0;
}

void
rayc_answers_free(rayc_answers *a)
{
    for (size_t i = 0; a->got && i < a->n; i++)
        rt_proto_free(a->got[i] ? &a->got[i]->base : NULL);
    rt_free(a->got);
    rt_proto_free(a->jobs ? &a->jobs->base : NULL);
    a->got = NULL;
    a->jobs = NULL;
    a->n = a->have = 0;
}

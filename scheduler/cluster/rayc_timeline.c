/* SPDX-License-Identifier: Apache-2.0
 *
 * rayc_timeline.c: `rayc timeline [--output=FILE]`. Timelines live in
 * the drivers that record them (ray_timeline_enable, RAYC_TIMELINE=1),
 * and drivers have no port of their own, so the request goes through the
 * head: this command puts a fresh nonce under kv "timeline"/"request"
 * (on its own connection: it goes when the command ends); each driver's
 * watcher, which asks the head twice a second, answers under
 * "NONCE IP:PID" with its trace (its agents' on other nodes included).
 * The command waits up to 10 s for every driver the head lists, then
 * writes one Chrome trace: each driver's nodes as processes of their own
 * (pids moved apart by 1000 per driver, names prefixed with the driver),
 * each driver's times counted from when it began recording.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/net.h"
#include "runtime/random.h"
#include "scheduler/cluster/rayc_cli.h"

#define WAIT_MS 10000

/* One kv call on the head's connection: the reply, or NULL after
 * saying why. */
static ProtobufCMessage *
call(int fd, uint32_t type, const ProtobufCMessage *q, uint32_t reply_type)
{
    char why[300];
    ProtobufCMessage *m = NULL;
    if (rt_net_call(fd, type, q, reply_type, &m, 5000, why, sizeof(why)) !=
        RAY_OK) {
        fprintf(stderr, "rayc timeline: the head: %s\n", why);
        return NULL;
    }
    return m;
}

/* One line of a driver's trace: its pid moved by `shift`, and, for a
 * process's name, `who` put in front of it. */
static void
put_line(FILE *f, const char *p, size_t n, int shift, const char *who)
{
    const char *pid = memmem(p, n, "\"pid\":", 6);
    if (!pid) {
        fwrite(p, 1, n, f);
        return;
    }
    fwrite(p, 1, (size_t)(pid - p), f);
    char *after;
    long v = strtol(pid + 6, &after, 10);
    fprintf(f, "\"pid\":%ld", v + shift);
    const char *rest = after, *end = p + n;
    const char *name =
        memmem(rest, (size_t)(end - rest), "\"args\":{\"name\":\"", 16);
    if (name && memmem(p, n, "\"name\":\"process_name\"", 21)) {
        fwrite(rest, 1, (size_t)(name + 16 - rest), f);
        fprintf(f, "driver %s: ", who);
        rest = name + 16;
    }
    fwrite(rest, 1, (size_t)(end - rest), f);
}

/* The body of a driver's trace (its traceEvents, one per line), each
 * line through put_line. */
static void
put_body(FILE *f, const char *text, size_t len, int shift, const char *who)
{
    const char *start = memmem(text, len, "\"traceEvents\":[\n", 16);
    const char *end = text + len;
    while (end > text && end[-1] != ']') /* the closing ]} */
        end--;
    if (!start || end <= start + 16)
        return;
    start += 16;
    end--;
    while (start < end && (end[-1] == '\n'))
        end--;
    for (const char *p = start; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        put_line(f, p, n, shift, who);
        if (!nl)
            break;
        fputc('\n', f);
        p = nl + 1;
    }
}

/* The drivers the head lists ("IP:PID" keys of kv "job"). */
static Ray__Rpc__KvListReply *
drivers(int fd)
{
    Ray__Rpc__KvListRequest q = RAY__RPC__KV_LIST_REQUEST__INIT;
    q.ns = "job";
    return (Ray__Rpc__KvListReply *)call(
        fd, RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REQUEST, &q.base,
        RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REPLY);
}

static bool
ask(int fd, const char *nonce)
{
    Ray__Rpc__KvPutRequest q = RAY__RPC__KV_PUT_REQUEST__INIT;
    q.ns = "timeline";
    q.key = (ProtobufCBinaryData){7, (uint8_t *)"request"};
    q.value = (ProtobufCBinaryData){strlen(nonce), (uint8_t *)nonce};
    q.overwrite = true;
    q.ephemeral = true; /* gone with this command's connection */
    ProtobufCMessage *m =
        call(fd, RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REQUEST, &q.base,
             RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REPLY);
    rt_proto_free(m);
    return m != NULL;
}

/* Driver `who`'s answer to `nonce`, or NULL (none yet, or no head). */
static Ray__Rpc__KvGetReply *
answer(int fd, const char *nonce, const char *who)
{
    char key[256];
    snprintf(key, sizeof(key), "%s %s", nonce, who);
    Ray__Rpc__KvGetRequest q = RAY__RPC__KV_GET_REQUEST__INIT;
    q.ns = "timeline";
    q.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
    Ray__Rpc__KvGetReply *r = (Ray__Rpc__KvGetReply *)call(
        fd, RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REQUEST, &q.base,
        RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REPLY);
    if (r && !r->found) {
        rt_proto_free(&r->base);
        r = NULL;
    }
    return r;
}

static int
connect_head(const opts *o, char *addr, size_t alen)
{
    char why[400], tpath[PATH_MAX];
    uint8_t tok[RT_TOKEN_LEN];
    int fd = -1;
    if (!rayc_head_address(o, addr, alen)) {
        fprintf(stderr, "rayc timeline: no head address: give --address or "
                        "RAY_ADDRESS, or start a head on this machine\n");
        return -1;
    }
    rt_token_path(o->token_file, tpath, sizeof(tpath));
    ray_err err = rt_token_load(tpath, tok, why, sizeof(why));
    if (err == RAY_OK)
        err = rt_dial(addr, tok, "rayc", &fd, why, sizeof(why));
    if (err != RAY_OK)
        fprintf(stderr, "rayc timeline: %s: %s\n", addr, why);
    return err == RAY_OK ? fd : -1;
}

int
rayc_cmd_timeline(const opts *o)
{
    char addr[256];
    int fd = connect_head(o, addr, sizeof(addr));
    if (fd < 0)
        return 1;
    Ray__Rpc__KvListReply *jobs = drivers(fd);
    size_t n = jobs ? jobs->n_keys : 0;
    if (jobs && !n)
        fprintf(stderr,
                "rayc timeline: no driver is connected to %s: timelines are "
                "recorded by drivers (ray_timeline_enable, or RAYC_TIMELINE=1)"
                "\n",
                addr);
    char nonce[24];
    snprintf(nonce, sizeof(nonce), "%016llx",
             (unsigned long long)rt_random_u64());
    Ray__Rpc__KvGetReply **got = n ? rt_calloc(n, sizeof(*got)) : NULL;
    if (!n || !got || !ask(fd, nonce)) {
        rt_free(got);
        rt_proto_free(jobs ? &jobs->base : NULL);
        close(fd);
        return 1;
    }
    char who[128];
    size_t have = 0;
    int64_t deadline = rt_deadline_after_ms(WAIT_MS);
    while (have < n && rt_clock_now_ns() < deadline) {
        for (size_t i = 0; i < n; i++) {
            snprintf(who, sizeof(who), "%.*s", (int)jobs->keys[i].len,
                     (const char *)jobs->keys[i].data);
            if (!got[i] && (got[i] = answer(fd, nonce, who)))
                have++;
        }
        if (have < n)
            usleep(100000);
    }
    char path[PATH_MAX];
    if (o->output)
        snprintf(path, sizeof(path), "%s", o->output);
    else
        snprintf(path, sizeof(path), "/tmp/rayc-timeline-%lld.json",
                 (long long)time(NULL));
    FILE *f = fopen(path, "w");
    int events = 0, with = 0;
    if (f) {
        fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", f);
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (!got[i] || !got[i]->value.len)
                continue;
            const char *t = (const char *)got[i]->value.data;
            size_t len = got[i]->value.len;
            int ev = 0;
            for (const char *p = t;
                 (p = memmem(p, len - (size_t)(p - t), "\"ph\":\"X\"", 8));
                 p += 8)
                ev++;
            if (!ev)
                continue; /* it recorded nothing */
            snprintf(who, sizeof(who), "%.*s", (int)jobs->keys[i].len,
                     (const char *)jobs->keys[i].data);
            if (!first)
                fputs(",\n", f);
            first = false;
            put_body(f, t, len, 1000 * (int)i, who);
            events += ev;
            with++;
        }
        fputs("\n]}\n", f);
    }
    bool ok = f && !ferror(f);
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "rayc timeline: cannot write %s\n", path);
    else
        printf("rayc timeline: %d events from %d of %zu drivers (%zu "
               "answered) in %s; open it in https://ui.perfetto.dev\n",
               events, with, n, have, path);
    for (size_t i = 0; i < n; i++) {
        if (!got[i])
            fprintf(stderr,
                    "rayc timeline: driver %.*s did not answer within %d s\n",
                    (int)jobs->keys[i].len, (const char *)jobs->keys[i].data,
                    WAIT_MS / 1000);
        rt_proto_free(got[i] ? &got[i]->base : NULL);
    }
    rt_free(got);
    rt_proto_free(&jobs->base);
    close(fd);
    return ok && with ? 0 : 1;
}

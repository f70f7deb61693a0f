/* SPDX-License-Identifier: Apache-2.0
 *
 * rayc_logs.c: `rayc logs [--node=ID|IP[:PORT]] [FILE] [--tail=N]` and
 * `rayc logs --pid=N`. It asks the head for the nodes and each node's
 * raylet for its log files (node_logs.h), so any machine with the token
 * reads any node's logs: the daemons' own, and each job's agent's
 * (job-IP-PID.log), which holds what its workers and actors printed,
 * "(pid=N) " before each line; --pid picks one worker's lines.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/alloc.h"
#include "runtime/net.h"
#include "runtime/text.h"
#include "scheduler/cluster/node_logs.h"
#include "scheduler/cluster/rayc_cli.h"
#include "scheduler/cluster/status.h"

/* --node's value names nodes by address (an IP or IP:PORT) or by id. */
static bool
by_address(const char *want)
{
    return strchr(want, '.') || strchr(want, ':');
}

/* An id prefix `rayc status` could have shown: 4 to 56 hex digits. */
static bool
id_prefix_ok(const char *want)
{
    size_t n = strlen(want);
    if (n < 4 || n > 56)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)want[i]))
            return false;
    return true;
}

/* Does --node=`want` name the node of `id` whose raylet is at `addr`
 * ("ip:port")? */
static bool
node_matches(const char *want, const char *id, const char *addr)
{
    if (!by_address(want))
        return strncasecmp(id, want, strlen(want)) == 0;
    if (strchr(want, ':'))
        return strcmp(addr, want) == 0;
    size_t n = strlen(want);
    return strncmp(addr, want, n) == 0 && addr[n] == ':';
}

/* The node --node=`want` names, alive: its index in r, or -1 after
 * saying why (none, several, or only dead ones: a node restarted on the
 * same address is dead once and alive now, and the alive one wins). */
static int
pick_node(const Ray__Rpc__GetAllNodesReply *r, const char *want,
          const char *head)
{
    int alive = -1, dead = -1, nalive = 0;
    for (size_t i = 0; i < r->n_nodes; i++) {
        char id[57], addr[96];
        bool up = cl_view_node(r->nodes[i], id, addr);
        if (!node_matches(want, id, addr))
            continue;
        nalive += up;
        if (up)
            alive = (int)i;
        else
            dead = (int)i;
    }
    if (nalive == 1)
        return alive;
    if (nalive > 1) {
        fprintf(stderr,
                "rayc logs: --node=%s names %d alive nodes: give more of "
                "the id, or IP:PORT (`rayc status` lists them)\n",
                want, nalive);
    } else if (dead >= 0) {
        char id[57], addr[96];
        const Ray__Rpc__NodeInfo *ni = r->nodes[dead];
        cl_view_node(ni, id, addr);
        fprintf(stderr,
                "rayc logs: node %.16s (%s) is dead%s%s: its raylet cannot "
                "send its logs (they stay on its machine, in the temp "
                "dir's logs/)\n",
                id, addr, ni->death_reason && *ni->death_reason ? ": " : "",
                ni->death_reason ? ni->death_reason : "");
    } else {
        fprintf(stderr,
                "rayc logs: no node %s in the cluster at %s (`rayc status` "
                "lists them)\n",
                want, head);
    }
    return -1;
}

/* The names and sizes of the log files of the node `id` at `addr`, or
 * NULL after saying why. */
static Ray__Rpc__LogReply *
files_of(const char *id, const char *addr, const uint8_t *tok)
{
    Ray__Rpc__LogRequest q = RAY__RPC__LOG_REQUEST__INIT;
    q.list = true;
    Ray__Rpc__LogReply *rep = NULL;
    char why[512];
    if (node_logs_fetch(addr, tok, &q, &rep, why, sizeof(why)) != RAY_OK) {
        fprintf(stderr, "rayc logs: node %.16s at %s: %s\n", id, addr, why);
        return NULL;
    }
    return rep;
}

/* Without --node: each alive node's log files, a line each. 1 when a
 * node did not answer (said on stderr; the others are still listed). */
static int
logs_list(const Ray__Rpc__GetAllNodesReply *r, const uint8_t *tok)
{
    int rc = 0;
    for (size_t i = 0; i < r->n_nodes; i++) {
        char id[57], addr[96];
        Ray__Rpc__LogReply *rep = NULL;
        if (!cl_view_node(r->nodes[i], id, addr))
            continue;
        if (!(rep = files_of(id, addr, tok))) {
            rc = 1;
            continue;
        }
        for (size_t k = 0; k < rep->n_files; k++)
            printf("%.16s  %-21s  %s  %llu\n", id, addr, rep->files[k],
                   k < rep->n_sizes ? (unsigned long long)rep->sizes[k] : 0ull);
        rt_proto_free(&rep->base);
    }
    return rc;
}

/* Print the last o->tail lines of a reply's data (the end of the file
 * whose whole size is sizes[0]); false, printing nothing, when it held
 * fewer, the file has more and this is not the last try. */
static bool
print_last_lines(const opts *o, const Ray__Rpc__LogReply *rep, bool last_try)
{
    const char *d = (const char *)rep->data.data;
    size_t len = rep->data.len, lines = 0;
    uint64_t size = rep->n_sizes ? rep->sizes[0] : len;
    bool whole = len >= size;
    size_t at = node_logs_last_lines(d, len, whole, (size_t)o->tail, &lines);
    if (lines < (size_t)o->tail && !whole && !last_try)
        return false;
    if (len > at) {
        fwrite(d + at, 1, len - at, stdout);
        if (d[len - 1] != '\n')
            putchar('\n');
    }
    return true;
}

/* The last o->tail lines of FILE (default: the raylet's own log) on the
 * node of `id` at `addr`. It asks for about 256 bytes a line (64 KiB at
 * least), and once more for the most a raylet sends when those bytes
 * held too few lines, so a short tail moves little over the network. */
static int
logs_tail(const opts *o, const char *id, const char *addr, const uint8_t *tok)
{
    Ray__Rpc__LogRequest q = RAY__RPC__LOG_REQUEST__INIT;
    q.file = (char *)(o->file ? o->file : "");
    q.tail_bytes = (uint64_t)o->tail > NODE_LOG_MAX_TAIL / 256
                       ? NODE_LOG_MAX_TAIL
                       : (uint64_t)o->tail * 256;
    if (q.tail_bytes < (64u << 10))
        q.tail_bytes = 64u << 10;
    for (;;) {
        Ray__Rpc__LogReply *rep = NULL;
        char why[512];
        if (node_logs_fetch(addr, tok, &q, &rep, why, sizeof(why)) != RAY_OK) {
            fprintf(stderr, "rayc logs: node %.16s at %s: %s\n", id, addr, why);
            return 1;
        }
        bool done = print_last_lines(o, rep, q.tail_bytes >= NODE_LOG_MAX_TAIL);
        rt_proto_free(&rep->base);
        if (done)
            return 0;
        q.tail_bytes = NODE_LOG_MAX_TAIL;
    }
}

/* --pid=N: the lines worker N printed ("(pid=N) ..."), from the job logs
 * (job-IP-PID.log) of every alive node, the last o->tail of them. */
static int
logs_pid(const opts *o, const Ray__Rpc__GetAllNodesReply *r, const uint8_t *tok)
{
    char mark[32];
    size_t ml = (size_t)snprintf(mark, sizeof(mark), "(pid=%ld) ", o->pid);
    rt_text got = {0};
    size_t lines = 0;
    int rc = 0;
    for (size_t i = 0; i < r->n_nodes; i++) {
        char id[57], addr[96], why[512];
        Ray__Rpc__LogReply *list = NULL;
        if (!cl_view_node(r->nodes[i], id, addr))
            continue;
        if (!(list = files_of(id, addr, tok))) {
            rc = 1;
            continue;
        }
        for (size_t k = 0; k < list->n_files; k++) {
            if (strncmp(list->files[k], "job-", 4) != 0)
                continue;
            Ray__Rpc__LogRequest f = RAY__RPC__LOG_REQUEST__INIT;
            f.file = list->files[k];
            f.tail_bytes = NODE_LOG_MAX_TAIL;
            Ray__Rpc__LogReply *rep = NULL;
            if (node_logs_fetch(addr, tok, &f, &rep, why, sizeof(why)) !=
                RAY_OK)
                continue; /* gone since the list */
            const char *d = (const char *)rep->data.data,
                       *end = d + rep->data.len;
            for (const char *p = d; p < end;) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = (size_t)((nl ? nl : end) - p);
                if (n >= ml && !memcmp(p, mark, ml)) {
                    rt_text_putn(&got, p, n);
                    rt_text_putn(&got, "\n", 1);
                    lines++;
                }
                p += n + 1;
            }
            rt_proto_free(&rep->base);
        }
        rt_proto_free(&list->base);
    }
    if (!lines)
        fprintf(stderr,
                "rayc logs: no output of a worker with pid %ld in the job "
                "logs of the alive nodes (the driver's own node's workers "
                "print to the driver)\n",
                o->pid);
    size_t at = got.p ? node_logs_last_lines(got.p, got.n, true,
                                             (size_t)o->tail, &lines)
                      : 0;
    if (got.p)
        fwrite(got.p + at, 1, got.n - at, stdout);
    rt_free(got.p);
    return lines ? rc : 1;
}

int
rayc_cmd_logs(const opts *o)
{
    if (o->file && !o->node) {
        fprintf(stderr,
                "rayc logs %s: say whose, with --node=ID|IP (`rayc logs` "
                "alone lists each node's files)\n",
                o->file);
        return 2;
    }
    if (o->node && !by_address(o->node) && !id_prefix_ok(o->node)) {
        fprintf(stderr,
                "rayc logs: --node=%s: give a node id prefix (4 or more "
                "hex digits, as `rayc status` shows), an IP or IP:PORT\n",
                o->node);
        return 2;
    }
    cl_view v;
    uint8_t tok[RT_TOKEN_LEN];
    if (!rayc_view(o, "logs", &v, tok))
        return 1;
    int rc = 1;
    if (o->pid > 0) {
        rc = logs_pid(o, v.nodes, tok);
    } else if (!o->node) {
        rc = logs_list(v.nodes, tok);
    } else {
        int i = pick_node(v.nodes, o->node, v.address);
        char id[57], addr[96];
        if (i >= 0 && cl_view_node(v.nodes->nodes[i], id, addr))
            rc = logs_tail(o, id, addr, tok);
    }
    cl_view_free(&v);
    return rc;
}

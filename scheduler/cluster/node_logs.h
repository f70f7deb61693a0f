/* SPDX-License-Identifier: Apache-2.0
 *
 * node_logs.h: a node's log files, readable from any machine (`rayc
 * logs`, LogRequest/LogReply in cluster.proto).
 *
 * The daemons `rayc start` detaches log to TEMP_DIR/logs/KIND-IP-PID.log
 * (KIND "head" or "node", IP the address the node advertises). Several
 * nodes of one machine may share that directory (the loopback clusters of
 * the tests do, each node on its own 127.0.0.x), so a raylet serves only
 * the files whose name carries its own address ("-IP-"), by base name:
 * never a path, a dot file or another node's file, and nothing outside
 * that directory (the token file lives elsewhere).
 *
 * The raylet's side (node_logs_answer) runs on its server thread: a
 * directory scan or one read of at most NODE_LOG_MAX_TAIL bytes per
 * request. The client's side (node_logs_fetch) is a blocking call for the
 * CLI. Neither keeps state.
 */
#ifndef RAY_SCHEDULER_CLUSTER_NODE_LOGS_H
#define RAY_SCHEDULER_CLUSTER_NODE_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/net.h"

/* What a LogRequest with tail_bytes 0 gets, and the most any gets: a
 * reply stays far below the frame limit, and the raylet's thread is not
 * held long reading or sending it. */
#define NODE_LOG_DEFAULT_TAIL (1u << 20)
#define NODE_LOG_MAX_TAIL (4u << 20)
/* The most files one list names (each name under 256 bytes). */
#define NODE_LOG_MAX_FILES 4096
_Static_assert(NODE_LOG_MAX_TAIL + NODE_LOG_MAX_FILES * 280u < RT_NET_MAX_FRAME,
               "a LogReply fits a frame");

/* The log file of a daemon: "DIR/KIND-IP-PID.log" into out. */
void node_logs_path(const char *dir, bool head, const char *ip, int pid,
                    char *out, size_t len);

/* Whether base name `name` is one of the node at `ip`'s log files. */
bool node_logs_owned(const char *name, const char *ip);

/* A LogReply and the memory its fields point to (node_logs_answer fills
 * it; node_logs_reply_fini frees it). */
typedef struct node_logs_reply {
    Ray__Rpc__LogReply msg;
    Ray__Rpc__Status st;
    char why[400];
} node_logs_reply;

/* Answer `q` for the node advertised at `ip` from log directory `dir`;
 * `own` is the base name of the raylet's own log ("" or NULL: it has
 * none, --block). Always fills *out, with the status in out->st (and
 * out->msg pointing to it); returns that status: RAY_OK, RAY_EINVAL (a
 * name that is not this node's, the message says which are), RAY_ENOTFOUND
 * (no such file, or no own log), RAY_ENOMEM, or RAY_ESYSERR with errno.
 * Call node_logs_reply_fini(out) after sending it, whatever it returned. */
ray_err node_logs_answer(const char *dir, const char *ip, const char *own,
                         const Ray__Rpc__LogRequest *q, node_logs_reply *out);

/* Free what node_logs_answer allocated into r. */
void node_logs_reply_fini(node_logs_reply *r);

/* Client: ask the raylet at `addr` ("ip:port") with token `tok`, one
 * connection for one request (blocking: a few seconds at most). RAY_OK
 * and *out (rt_proto_free it); the raylet's refusal as its status code
 * with its message in why ("the raylet at ADDR: ..."); or the
 * connection's error with why. */
ray_err node_logs_fetch(const char *addr, const uint8_t tok[RT_TOKEN_LEN],
                        const Ray__Rpc__LogRequest *q, Ray__Rpc__LogReply **out,
                        char *why, size_t whylen);

/* Where the last `n` lines of `data` (len bytes) start, and how many
 * lines there are from there (<= n) in *lines. `whole`: data is the
 * file from its first byte; else it is the file's end, and its first
 * line, cut, does not count (unless it is the only one). A last line
 * without its newline counts. */
size_t node_logs_last_lines(const char *data, size_t len, bool whole, size_t n,
                            size_t *lines);

#endif /* RAY_SCHEDULER_CLUSTER_NODE_LOGS_H */

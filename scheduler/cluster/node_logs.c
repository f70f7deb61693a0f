/* SPDX-License-Identifier: Apache-2.0
 *
 * node_logs.c: a node's log files for `rayc logs` (node_logs.h): which
 * files are the node's, the end of one, the request from the CLI, and the
 * last lines of what came back.
 *
 * The raylet runs node_logs_answer on its server thread, so it never
 * blocks on what it opens: a FIFO or device planted in the log directory
 * is opened non-blocking and refused as not a regular file, and a link is
 * not followed. Names come from the network: they are checked before
 * anything is opened, and only ever joined to the log directory.
 */
#include "scheduler/cluster/node_logs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/alloc.h"

/* Longer names are nobody's log (and would not fit a dirent). */
#define NAME_MAX_LEN 255

typedef struct log_ent {
    char *name;
    uint64_t size;
} log_ent;

void
node_logs_path(const char *dir, bool head, const char *ip, int pid, char *out,
               size_t len)
{
    snprintf(out, len, "%s/%s-%s-%d.log", dir, head ? "head" : "node", ip, pid);
}

bool
node_logs_owned(const char *name, const char *ip)
{
    char tag[RT_HOST_MAX + 3];
    snprintf(tag, sizeof(tag), "-%s-", ip);
    return strstr(name, tag) != NULL;
}

/* Set r's status to `code` with a message; returns code. */
__attribute__((format(printf, 3, 4))) static ray_err
fail(node_logs_reply *r, ray_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
    r->st.code = (uint32_t)code;
    return code;
}

static ray_err
sys_fail(node_logs_reply *r, const char *what)
{
    int e = errno;
    return fail(r, RAY_ESYSERR | (ray_err)(e << 8), "%s: %s", what,
                strerror(e));
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(((const log_ent *)a)->name, ((const log_ent *)b)->name);
}

/* Move the sorted entries into the reply's files and sizes. */
static ray_err
fill_list(node_logs_reply *r, log_ent *ents, size_t n)
{
    if (n) /* ents is NULL without files, and qsort wants an array */
        qsort(ents, n, sizeof(*ents), by_name);
    r->msg.files = rt_calloc(n ? n : 1, sizeof(char *));
    r->msg.sizes = rt_calloc(n ? n : 1, sizeof(uint64_t));
    if (!r->msg.files || !r->msg.sizes) {
        for (size_t i = 0; i < n; i++)
            rt_free(ents[i].name);
        return fail(r, RAY_ENOMEM, "out of memory listing the logs");
    }
    for (size_t i = 0; i < n; i++) {
        r->msg.files[i] = ents[i].name;
        r->msg.sizes[i] = ents[i].size;
    }
    r->msg.n_files = r->msg.n_sizes = n;
    return RAY_OK;
}

/* The node's regular files in `dir`, by name. No directory yet is no
 * files (a node that never logged there). */
static ray_err
list_files(const char *dir, const char *ip, node_logs_reply *r)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? fill_list(r, NULL, 0) : sys_fail(r, dir);
    log_ent *ents = NULL;
    size_t n = 0, cap = 0;
    ray_err err = RAY_OK;
    struct dirent *e;
    while ((e = readdir(d)) && n < NODE_LOG_MAX_FILES) {
        struct stat st;
        if (e->d_name[0] == '.' || !node_logs_owned(e->d_name, ip) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        log_ent *ne = rt_array_room(ents, n, &cap, sizeof(*ne), 16);
        char *name = ne ? rt_strdup(e->d_name) : NULL;
        if (!name) {
            if (ne)
                ents = ne;
            err = fail(r, RAY_ENOMEM, "out of memory listing the logs");
            break;
        }
        ents = ne;
        ents[n++] = (log_ent){name, (uint64_t)st.st_size};
    }
    closedir(d);
    if (err == RAY_OK)
        err = fill_list(r, ents, n);
    else
        for (size_t i = 0; i < n; i++)
            rt_free(ents[i].name);
    rt_free(ents);
    return err;
}

/* Up to `len` bytes at `off` of fd into buf: how many were read (fewer
 * when the file shrank meanwhile), or -1 with errno. */
static ssize_t
read_at(int fd, uint8_t *buf, size_t len, off_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t k = pread(fd, buf + got, len - got, off + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* The last `want` bytes of dir/name, a name already checked. */
static ray_err
read_tail(const char *dir, const char *name, uint64_t want, node_logs_reply *r)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return fail(r, RAY_ENOTFOUND,
                    "no log file '%s' on this node (in %s): `rayc logs` "
                    "lists them",
                    name, dir);
    if (fd < 0 && errno == ELOOP)
        return fail(r, RAY_EINVAL, "'%s' is a link, not a log file", name);
    if (fd < 0)
        return sys_fail(r, path);
    struct stat st;
    ray_err err = RAY_OK;
    uint8_t *buf = NULL;
    ssize_t got = 0;
    if (fstat(fd, &st) != 0) {
        err = sys_fail(r, path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        err = fail(r, RAY_EINVAL, "'%s' is not a regular file", name);
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size, n = want < size ? want : size;
    buf = rt_malloc(n ? (size_t)n : 1);
    r->msg.files = rt_calloc(1, sizeof(char *));
    r->msg.sizes = rt_calloc(1, sizeof(uint64_t));
    if (!buf || !r->msg.files || !r->msg.sizes ||
        !(r->msg.files[0] = rt_strdup(name))) {
        err = fail(r, RAY_ENOMEM, "out of memory reading %s", name);
        goto out;
    }
    r->msg.n_files = r->msg.n_sizes = 1;
    r->msg.sizes[0] = size;
    got = read_at(fd, buf, (size_t)n, (off_t)(size - n));
    if (got < 0) {
        err = sys_fail(r, path);
        goto out;
    }
    r->msg.data = (ProtobufCBinaryData){(size_t)got, buf};
    buf = NULL;
out:
    rt_free(buf);
    close(fd);
    return err;
}

/* No control characters: the name goes into messages and log lines. */
static bool
printable(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

ray_err
node_logs_answer(const char *dir, const char *ip, const char *own,
                 const Ray__Rpc__LogRequest *q, node_logs_reply *out)
{
    memset(out, 0, sizeof(*out));
    ray__rpc__log_reply__init(&out->msg);
    ray__rpc__status__init(&out->st);
    out->msg.status = &out->st;
    out->st.message = out->why;
    if (q->list)
        return list_files(dir, ip, out);
    const char *name = q->file ? q->file : "";
    uint64_t want = q->tail_bytes ? q->tail_bytes : NODE_LOG_DEFAULT_TAIL;
    if (want > NODE_LOG_MAX_TAIL)
        want = NODE_LOG_MAX_TAIL;
    if (!*name && own && *own) /* its own, whatever its name says */
        return read_tail(dir, own, want, out);
    if (!*name)
        return fail(out, RAY_ENOTFOUND,
                    "this raylet writes no log file (it runs with --block "
                    "and logs to its terminal): name one of the files "
                    "`rayc logs` lists");
    if (!printable(name)) /* not echoed: it would forge log lines */
        return fail(out, RAY_EINVAL,
                    "a log file name holds no control characters: give a "
                    "base name that `rayc logs` lists");
    if (strchr(name, '/') || name[0] == '.' || strlen(name) > NAME_MAX_LEN ||
        !node_logs_owned(name, ip))
        return fail(out, RAY_EINVAL,
                    "'%.80s' is not one of this node's log files: give a "
                    "base name that `rayc logs` lists (this node's contain "
                    "\"-%s-\")",
                    name, ip);
    return read_tail(dir, name, want, out);
}

void
node_logs_reply_fini(node_logs_reply *r)
{
    for (size_t i = 0; r->msg.files && i < r->msg.n_files; i++)
        rt_free(r->msg.files[i]);
    rt_free(r->msg.files);
    rt_free(r->msg.sizes);
    rt_free(r->msg.data.data);
    r->msg.files = NULL;
    r->msg.sizes = NULL;
    r->msg.data = (ProtobufCBinaryData){0, NULL};
    r->msg.n_files = r->msg.n_sizes = 0;
}

ray_err
node_logs_fetch(const char *addr, const uint8_t tok[RT_TOKEN_LEN],
                const Ray__Rpc__LogRequest *q, Ray__Rpc__LogReply **out,
                char *why, size_t whylen)
{
    int fd = -1;
    ProtobufCMessage *m = NULL;
    *out = NULL;
    ray_err err = rt_dial(addr, tok, "cli", &fd, why, whylen);
    if (err == RAY_OK)
        err = rt_net_call(fd, RAY__RPC__MESSAGE_TYPE__MSG_LOG_REQUEST, &q->base,
                          RAY__RPC__MESSAGE_TYPE__MSG_LOG_REPLY, &m, 10000, why,
                          whylen);
    if (fd >= 0)
        close(fd);
    if (err != RAY_OK)
        return err;
    Ray__Rpc__LogReply *r = (Ray__Rpc__LogReply *)m;
    if (r->status && r->status->code) {
        err = (ray_err)r->status->code;
        snprintf(why, whylen, "%s", r->status->message);
        rt_proto_free(m);
        return err;
    }
    *out = r;
    return RAY_OK;
}

size_t
node_logs_last_lines(const char *data, size_t len, bool whole, size_t n,
                     size_t *lines)
{
    *lines = 0;
    if (len == 0 || n == 0)
        return len;
    /* Each newline before the last byte starts a line after it. */
    size_t end = data[len - 1] == '\n' ? len - 1 : len, start = len;
    for (size_t j = end; j > 0; j--) {
        if (data[j - 1] != '\n')
            continue;
        start = j;
        if (++*lines == n)
            return start;
    }
    /* The first line: whole, or cut but all there is. */
    if (whole || *lines == 0) {
        ++*lines;
        return 0;
    }
    return start;
}

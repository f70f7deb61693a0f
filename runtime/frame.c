/* SPDX-License-Identifier: Apache-2.0
 *
 * frame.c: the frame reader, writer and blocking helpers (see frame.h).
 *
 * The reader keeps one buffer of received bytes [start, end). It reads as
 * much as fits (64 KiB to start) so a burst of small frames costs one
 * read(2), and decodes frames out of the buffer one per call. The buffer
 * grows to hold a large frame only after that frame's header has passed
 * validation, so an announced 4 GiB body allocates nothing; after such a
 * frame it shrinks back, so an idle connection does not pin a large
 * buffer. The writer appends packed frames to its own buffer and sends
 * them in as few send(2) calls as the socket allows.
 *
 * Sockets are read and written with MSG_DONTWAIT | MSG_NOSIGNAL, so no call
 * here blocks or raises SIGPIPE whatever the fd's flags; pipes and other
 * non-sockets fall back to read(2)/write(2).
 */
#include "runtime/frame.h"

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fdwait.h"
#include "runtime/log.h"
#include "runtime/protocol/registry.h"

#define READ_CHUNK (64u << 10)  /* first buffer size for event-loop reads */
#define EXACT_CHUNK 4096u       /* first buffer size for rt_frame_recv */
#define SHRINK_ABOVE (1u << 20) /* drop an idle buffer larger than this */

static _Thread_local char last_detail[RT_FRAME_DETAIL_LEN];

/* ------------------------------------------------------------------ */
/* Header                                                              */
/* ------------------------------------------------------------------ */

static void
put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

void
rt_frame_header_encode(const rt_frame_header *h,
                       uint8_t out[RT_FRAME_HEADER_LEN])
{
    put_u32(out, h->magic);
    put_u32(out + 4, h->type);
    put_u32(out + 8, h->length);
}

void
rt_frame_header_decode(const uint8_t in[RT_FRAME_HEADER_LEN],
                       rt_frame_header *h)
{
    h->magic = get_u32(in);
    h->type = get_u32(in + 4);
    h->length = get_u32(in + 8);
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

/* An allocator that notes whether an allocation failed, so an unpack that
 * returns NULL can be told apart: out of memory, or bytes that do not
 * decode. Frees go to rt_free, so messages it builds are freed with
 * rt_protobuf_allocator. */
typedef struct unpack_ctx {
    bool oom;
} unpack_ctx;

static void *
track_alloc(void *data, size_t n)
{
    void *p = rt_malloc(n);
    if (p == NULL)
        ((unpack_ctx *)data)->oom = true;
    return p;
}

static void
track_free(void *data, void *p)
{
    (void)data;
    rt_free(p);
}

static ray_err reader_fail(rt_frame_reader *r, ray_err err, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));

static ray_err
reader_fail(rt_frame_reader *r, ray_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
    r->failed = err;
    return err;
}

void
rt_frame_reader_init(rt_frame_reader *r, uint32_t max_frame)
{
    memset(r, 0, sizeof(*r));
    r->max_frame = max_frame ? max_frame : RT_FRAME_DEFAULT_MAX;
}

void
rt_frame_reader_fini(rt_frame_reader *r)
{
    rt_free(r->buf);
    r->buf = NULL;
    r->cap = r->start = r->end = 0;
}

const char *
rt_frame_reader_detail(const rt_frame_reader *r)
{
    return r->detail;
}

size_t
rt_frame_reader_buffered(const rt_frame_reader *r)
{
    return r->end - r->start;
}

void
rt_frame_reader_set_eof(rt_frame_reader *r)
{
    r->eof = true;
}

/* Make room for `need` bytes counted from r->start, compacting first and
 * growing only when compaction is not enough. A socket read knows the
 * frame's size and grows to exactly that; `doubling` (for feeds of unknown
 * total size) grows geometrically so byte-at-a-time feeding stays linear. */
static ray_err
reader_reserve(rt_frame_reader *r, size_t need, bool doubling)
{
    if (r->cap - r->start >= need)
        return RAY_OK;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
        if (r->cap >= need)
            return RAY_OK;
    }
    size_t first = r->exact ? EXACT_CHUNK : READ_CHUNK;
    size_t cap = need > first ? need : first;
    if (doubling && cap < r->cap * 2)
        cap = r->cap * 2;
    uint8_t *nb = rt_realloc(r->buf, cap);
    if (nb == NULL)
        return reader_fail(r, RAY_ENOMEM, "no memory for a %zu-byte frame",
                           need);
    r->buf = nb;
    r->cap = cap;
    return RAY_OK;
}

/* After a frame is consumed: rewind an empty buffer, and free a large one
 * so an idle connection holds at most READ_CHUNK. */
static void
reader_consumed(rt_frame_reader *r)
{
    if (r->start != r->end)
        return;
    r->start = r->end = 0;
    if (r->cap > SHRINK_ABOVE) {
        rt_free(r->buf);
        r->buf = NULL;
        r->cap = 0;
    }
}

/* Validate the header at r->start (the caller checked 12 bytes are
 * there). On success stores the payload length and type. */
static ray_err
reader_check_header(rt_frame_reader *r, rt_frame_header *h)
{
    rt_frame_header_decode(r->buf + r->start, h);
    if (h->magic != RT_FRAME_MAGIC)
        return reader_fail(r, RAY_EPROTO,
                           "bad frame magic 0x%08x (want 0x%08x)", h->magic,
                           RT_FRAME_MAGIC);
    if (rt_proto_descriptor(h->type) == NULL)
        return reader_fail(r, RAY_EPROTO, "unknown message type %u", h->type);
    if (h->length > r->max_frame)
        return reader_fail(
            r, RAY_ETOOBIG, "%s frame of %u bytes exceeds the %u-byte limit",
            rt_proto_type_name(h->type), h->length, r->max_frame);
    return RAY_OK;
}

ray_err
rt_frame_reader_next(rt_frame_reader *r, uint32_t *type, ProtobufCMessage **msg)
{
    if (r->failed != RAY_OK)
        return r->failed;
    size_t avail = r->end - r->start;
    if (avail < RT_FRAME_HEADER_LEN) {
        if (!r->eof)
            return RAY_EAGAIN;
        if (avail == 0)
            return reader_fail(r, RAY_ECLOSED, "peer closed the connection");
        return reader_fail(r, RAY_EPROTO,
                           "peer closed mid-header (%zu of %u bytes)", avail,
                           RT_FRAME_HEADER_LEN);
    }
    rt_frame_header h;
    ray_err err = reader_check_header(r, &h);
    if (err != RAY_OK)
        return err;
    size_t total = RT_FRAME_HEADER_LEN + (size_t)h.length;
    if (avail < total) {
        if (!r->eof)
            return RAY_EAGAIN;
        return reader_fail(r, RAY_EPROTO,
                           "peer closed mid-frame (%s, %zu of %zu bytes)",
                           rt_proto_type_name(h.type), avail, total);
    }

    unpack_ctx ctx = {.oom = false};
    ProtobufCAllocator a = {
        .alloc = track_alloc, .free = track_free, .allocator_data = &ctx};
    ProtobufCMessage *m =
        protobuf_c_message_unpack(rt_proto_descriptor(h.type), &a, h.length,
                                  r->buf + r->start + RT_FRAME_HEADER_LEN);
    if (m == NULL) {
        if (ctx.oom)
            return reader_fail(r, RAY_ENOMEM,
                               "no memory to unpack a %u-byte %s", h.length,
                               rt_proto_type_name(h.type));
        return reader_fail(r, RAY_EPROTO, "%u-byte payload is not a valid %s",
                           h.length, rt_proto_type_name(h.type));
    }
    if (rt_proto_validate(m) != RAY_OK) {
        protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
        return reader_fail(r, RAY_EPROTO, "%s carries field number 0",
                           rt_proto_type_name(h.type));
    }
    r->start += total;
    reader_consumed(r);
    *type = h.type;
    *msg = m;
    return RAY_OK;
}

ray_err
rt_frame_reader_feed(rt_frame_reader *r, const void *data, size_t len)
{
    if (r->failed != RAY_OK)
        return r->failed;
    if (len == 0)
        return RAY_OK;
    ray_err err = reader_reserve(r, r->end - r->start + len, true);
    if (err != RAY_OK)
        return err;
    memcpy(r->buf + r->end, data, len);
    r->end += len;
    return RAY_OK;
}

/* Bytes the reader wants next: the rest of the header, or of the frame
 * whose (already validated) header is buffered. */
static size_t
reader_wanted(const rt_frame_reader *r, size_t *frame_total)
{
    size_t avail = r->end - r->start;
    size_t total = RT_FRAME_HEADER_LEN;
    if (avail >= RT_FRAME_HEADER_LEN)
        total += get_u32(r->buf + r->start + 8);
    *frame_total = total;
    return total - avail;
}

static ssize_t
sock_read(int fd, void *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
    if (n < 0 && errno == ENOTSOCK)
        n = read(fd, buf, len);
    return n;
}

ray_err
rt_frame_reader_read(rt_frame_reader *r, int fd, uint32_t *type,
                     ProtobufCMessage **msg)
{
    for (;;) {
        ray_err err = rt_frame_reader_next(r, type, msg);
        if (err != RAY_EAGAIN)
            return err;
        size_t total;
        size_t want = reader_wanted(r, &total);
        err = reader_reserve(r, total, false);
        if (err != RAY_OK)
            return err;
        size_t room = r->cap - r->end;
        size_t len = r->exact && want < room ? want : room;
        ssize_t n = sock_read(fd, r->buf + r->end, len);
        if (n > 0) {
            r->end += (size_t)n;
        } else if (n == 0) {
            r->eof = true;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return RAY_EAGAIN;
        } else {
            int e = errno;
            return reader_fail(r, rt_err_from_errno(e), "read: %s",
                               strerror(e));
        }
    }
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

static ray_err writer_fail(rt_frame_writer *w, ray_err err, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));

static ray_err
writer_fail(rt_frame_writer *w, ray_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->detail, sizeof(w->detail), fmt, ap);
    va_end(ap);
    return err;
}

void
rt_frame_writer_init(rt_frame_writer *w, uint32_t max_frame)
{
    memset(w, 0, sizeof(*w));
    w->max_frame = max_frame ? max_frame : RT_FRAME_DEFAULT_MAX;
}

void
rt_frame_writer_fini(rt_frame_writer *w)
{
    rt_free(w->buf);
    w->buf = NULL;
    w->cap = w->start = w->end = 0;
}

size_t
rt_frame_writer_pending(const rt_frame_writer *w)
{
    return w->end - w->start;
}

const char *
rt_frame_writer_detail(const rt_frame_writer *w)
{
    return w->detail;
}

/* Room for `need` more bytes at w->end. */
static ray_err
writer_reserve(rt_frame_writer *w, size_t need)
{
    if (w->cap - w->end >= need)
        return RAY_OK;
    if (w->start > 0) {
        memmove(w->buf, w->buf + w->start, w->end - w->start);
        w->end -= w->start;
        w->start = 0;
        if (w->cap - w->end >= need)
            return RAY_OK;
    }
    size_t cap = w->cap ? w->cap * 2 : 4096;
    if (cap < w->end + need)
        cap = w->end + need;
    uint8_t *nb = rt_realloc(w->buf, cap);
    if (nb == NULL)
        return writer_fail(w, RAY_ENOMEM, "no memory to queue %zu bytes", need);
    w->buf = nb;
    w->cap = cap;
    return RAY_OK;
}

ray_err
rt_frame_writer_put(rt_frame_writer *w, uint32_t type,
                    const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *desc = rt_proto_descriptor(type);
    if (desc == NULL)
        return writer_fail(w, RAY_EINVAL, "unknown message type %u", type);
    if (msg == NULL || msg->descriptor != desc)
        return writer_fail(w, RAY_EINVAL, "message is %s, not %s",
                           msg ? msg->descriptor->name : "NULL", desc->name);
    size_t size = protobuf_c_message_get_packed_size(msg);
    if (size > w->max_frame)
        return writer_fail(w, RAY_ETOOBIG,
                           "%s of %zu bytes exceeds the %u-byte limit",
                           rt_proto_type_name(type), size, w->max_frame);
    ray_err err = writer_reserve(w, RT_FRAME_HEADER_LEN + size);
    if (err != RAY_OK)
        return err;
    uint8_t *p = w->buf + w->end;
    rt_frame_header h = {
        .magic = RT_FRAME_MAGIC, .type = type, .length = (uint32_t)size};
    rt_frame_header_encode(&h, p);
    size_t packed = protobuf_c_message_pack(msg, p + RT_FRAME_HEADER_LEN);
    if (RT_NEVER(packed != size))
        return writer_fail(w, RAY_EINTERNAL, "packed %zu of %zu bytes", packed,
                           size);
    w->end += RT_FRAME_HEADER_LEN + size;
    return RAY_OK;
}

static ssize_t
sock_write(int fd, const void *buf, size_t len)
{
    ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK)
        n = write(fd, buf, len);
    return n;
}

ray_err
rt_frame_writer_flush(rt_frame_writer *w, int fd)
{
    while (w->start < w->end) {
        ssize_t n = sock_write(fd, w->buf + w->start, w->end - w->start);
        if (n >= 0) {
            w->start += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return RAY_EAGAIN;
        int e = errno;
        return writer_fail(w, rt_err_from_errno(e), "send: %s", strerror(e));
    }
    w->start = w->end = 0;
    if (w->cap > SHRINK_ABOVE) {
        rt_free(w->buf);
        w->buf = NULL;
        w->cap = 0;
    }
    return RAY_OK;
}

/* ------------------------------------------------------------------ */
/* Blocking helpers                                                    */
/* ------------------------------------------------------------------ */

ray_err
rt_frame_send(int fd, uint32_t type, const ProtobufCMessage *msg,
              int timeout_ms)
{
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    rt_frame_writer w;
    rt_frame_writer_init(&w, 0);
    ray_err err = rt_frame_writer_put(&w, type, msg);
    while (err == RAY_OK) {
        err = rt_frame_writer_flush(&w, fd);
        if (err != RAY_EAGAIN)
            break;
        err = rt_fd_wait(fd, POLLOUT, deadline);
        if (err == RAY_ETIMEDOUT)
            writer_fail(&w, err, "%s: timed out with %zu bytes unsent",
                        rt_proto_type_name(type), rt_frame_writer_pending(&w));
    }
    if (err != RAY_OK)
        snprintf(last_detail, sizeof(last_detail), "%s", w.detail);
    rt_frame_writer_fini(&w);
    return err;
}

ray_err
rt_frame_recv(int fd, uint32_t max_frame, uint32_t *type,
              ProtobufCMessage **msg, int timeout_ms)
{
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    rt_frame_reader r;
    rt_frame_reader_init(&r, max_frame);
    r.exact = true;
    ray_err err;
    for (;;) {
        err = rt_frame_reader_read(&r, fd, type, msg);
        if (err != RAY_EAGAIN)
            break;
        err = rt_fd_wait(fd, POLLIN, deadline);
        if (err != RAY_OK) {
            reader_fail(&r, err, "timed out with %zu bytes of a frame read",
                        rt_frame_reader_buffered(&r));
            break;
        }
    }
    if (err != RAY_OK)
        snprintf(last_detail, sizeof(last_detail), "%s", r.detail);
    rt_frame_reader_fini(&r);
    return err;
}

const char *
rt_frame_last_detail(void)
{
    return last_detail;
}

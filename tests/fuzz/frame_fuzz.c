/* SPDX-License-Identifier: Apache-2.0
 *
 * frame_fuzz.c: the frame decoder fed arbitrary byte streams in arbitrary
 * chunkings.
 *
 * Input layout: byte 0 picks the mode (bit 0: feed through a real
 * non-blocking socketpair with rt_frame_reader_read instead of
 * rt_frame_reader_feed; bits 1-2: the frame size limit), byte 1 seeds the
 * chunk sizes, the rest is the stream. The stream is decoded twice, once
 * in one piece and once in chunks of 1-64 bytes, and both runs must yield
 * the same messages and end in the same status (a differential check on
 * partial-read handling). Every decoded message must repack, unpack again,
 * and repack to the same bytes. Memory errors and leaks are the
 * sanitizers' to find.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/frame.h"
#include "runtime/protocol/registry.h"
#include "tests/fuzz/fuzz.h"
#include "tests/unit/protocol/proto_fill.h"

static const uint32_t limits[4] = {64, 4096, 1u << 16, 1u << 20};

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Check one decoded message and fold it into the run's digest. */
static uint64_t
check_message(uint64_t h, uint32_t type, ProtobufCMessage *m)
{
    RT_FUZZ_CHECK(m->descriptor == rt_proto_descriptor(type));
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    RT_FUZZ_CHECK(buf != NULL);
    RT_FUZZ_CHECK(protobuf_c_message_pack(m, buf) == len);
    ProtobufCMessage *again = protobuf_c_message_unpack(
        m->descriptor, &rt_protobuf_allocator, len, buf);
    RT_FUZZ_CHECK(again != NULL);
    RT_FUZZ_CHECK(rt_test_proto_equal(m, again, NULL, 0));
    RT_FUZZ_CHECK(protobuf_c_message_get_packed_size(again) == len);
    uint8_t *buf2 = malloc(len ? len : 1);
    RT_FUZZ_CHECK(buf2 != NULL);
    RT_FUZZ_CHECK(protobuf_c_message_pack(again, buf2) == len);
    RT_FUZZ_CHECK(memcmp(buf, buf2, len) == 0);
    h = fnv(h, &type, sizeof(type));
    h = fnv(h, buf, len);
    free(buf2);
    free(buf);
    protobuf_c_message_free_unpacked(again, &rt_protobuf_allocator);
    protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
    return h;
}

/* Take every complete buffered frame; returns the status that stopped it. */
static ray_err
drain_buffered(rt_frame_reader *r, uint64_t *h)
{
    for (;;) {
        uint32_t type;
        ProtobufCMessage *m;
        ray_err e = rt_frame_reader_next(r, &type, &m);
        if (e != RAY_OK)
            return e;
        *h = check_message(*h, type, m);
    }
}

static ray_err
drain_socket(rt_frame_reader *r, int fd, uint64_t *h)
{
    for (;;) {
        uint32_t type;
        ProtobufCMessage *m;
        ray_err e = rt_frame_reader_read(r, fd, &type, &m);
        if (e != RAY_OK)
            return e;
        *h = check_message(*h, type, m);
    }
}

static uint32_t
next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* The whole stream in one feed. */
static ray_err
run_whole(const uint8_t *p, size_t n, uint32_t limit, uint64_t *h)
{
    rt_frame_reader r;
    rt_frame_reader_init(&r, limit);
    ray_err e = rt_frame_reader_feed(&r, p, n);
    if (e == RAY_OK) {
        rt_frame_reader_set_eof(&r);
        e = drain_buffered(&r, h);
    }
    RT_FUZZ_CHECK(e != RAY_OK && e != RAY_EAGAIN);
    RT_FUZZ_CHECK(strlen(rt_frame_reader_detail(&r)) > 0);
    rt_frame_reader_fini(&r);
    return e;
}

/* The stream in chunks, through feed() or a socketpair. */
static ray_err
run_chunked(const uint8_t *p, size_t n, uint32_t limit, uint32_t seed,
            int use_socket, uint64_t *h)
{
    int sv[2] = {-1, -1};
    if (use_socket &&
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        use_socket = 0; /* out of fds: still test the feed path */
    rt_frame_reader r;
    rt_frame_reader_init(&r, limit);
    ray_err e = RAY_EAGAIN;
    size_t off = 0;
    while (off < n && e == RAY_EAGAIN) {
        size_t chunk = 1 + next_rand(&seed) % 64;
        if (chunk > n - off)
            chunk = n - off;
        if (use_socket) {
            RT_FUZZ_CHECK(write(sv[0], p + off, chunk) == (ssize_t)chunk);
            e = drain_socket(&r, sv[1], h);
        } else {
            e = rt_frame_reader_feed(&r, p + off, chunk);
            if (e == RAY_OK)
                e = drain_buffered(&r, h);
        }
        off += chunk;
    }
    if (e == RAY_EAGAIN) {
        if (use_socket) {
            close(sv[0]);
            sv[0] = -1;
            e = drain_socket(&r, sv[1], h);
        } else {
            rt_frame_reader_set_eof(&r);
            e = drain_buffered(&r, h);
        }
    }
    RT_FUZZ_CHECK(e != RAY_OK && e != RAY_EAGAIN);
    rt_frame_reader_fini(&r);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    return e;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t limit = limits[(data[0] >> 1) & 3];
    int use_socket = data[0] & 1;
    uint32_t seed = ((uint32_t)data[1] << 8 | data[0]) | 1u;
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    if (use_socket && n > (64u << 10))
        n = 64u << 10; /* stay within the socket buffer */

    uint64_t h1 = 1469598103934665603ULL, h2 = h1;
    ray_err e1 = run_whole(p, n, limit, &h1);
    ray_err e2 = run_chunked(p, n, limit, seed, use_socket, &h2);
    RT_FUZZ_CHECK(e1 == e2);
    RT_FUZZ_CHECK(h1 == h2);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Seeds                                                               */
/* ------------------------------------------------------------------ */

/* Append a frame of `type` holding a filled message to buf[*len]. */
static void
append_frame(uint8_t *buf, size_t cap, size_t *len, uint32_t type,
             uint32_t seed)
{
    ProtobufCMessage *m =
        rt_test_proto_fill(rt_proto_descriptor(type), seed, 2);
    RT_FUZZ_CHECK(m != NULL);
    size_t plen = protobuf_c_message_get_packed_size(m);
    if (*len + RT_FRAME_HEADER_LEN + plen <= cap) {
        rt_frame_header hd = {
            .magic = RT_FRAME_MAGIC, .type = type, .length = (uint32_t)plen};
        rt_frame_header_encode(&hd, buf + *len);
        protobuf_c_message_pack(m, buf + *len + RT_FRAME_HEADER_LEN);
        *len += RT_FRAME_HEADER_LEN + plen;
    }
    protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
}

void
rt_fuzz_seeds(rt_fuzz_seed_cb emit, void *arg)
{
    static uint8_t buf[16384];
    size_t n;
    const uint32_t *types = rt_proto_types(&n);
    for (size_t i = 0; i < n; i++) {
        size_t len = 2;
        buf[0] = (uint8_t)(i & 7); /* vary mode and limit */
        buf[1] = (uint8_t)(i * 29);
        append_frame(buf, sizeof(buf), &len, types[i], (uint32_t)i + 1);
        append_frame(buf, sizeof(buf), &len, types[(i + 1) % n],
                     (uint32_t)i + 2);
        emit(arg, buf, len);
        emit(arg, buf, len - 1 - (len - 2) / 3);  /* truncated */
        buf[2 + RT_FRAME_HEADER_LEN + 1] ^= 0x80; /* corrupted payload */
        emit(arg, buf, len);
    }
    /* Header-only frames: limit, bad magic, unknown type, empty body. */
    uint32_t hdrs[][3] = {{RT_FRAME_MAGIC, 106, 0xffffffffu},
                          {0x41414141u, 106, 4},
                          {RT_FRAME_MAGIC, 7, 0},
                          {RT_FRAME_MAGIC, 101, 0}};
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        buf[0] = 2;
        buf[1] = 1;
        rt_frame_header hd = {
            .magic = hdrs[i][0], .type = hdrs[i][1], .length = hdrs[i][2]};
        rt_frame_header_encode(&hd, buf + 2);
        emit(arg, buf, 2 + RT_FRAME_HEADER_LEN);
    }
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * test_frame.c: frames over real socketpairs: every message type, 1-byte
 * partial reads and writes, truncation, size limits, unknown types, bad
 * payloads, random bytes, the blocking helpers, allocation failure, and a
 * poll(2) server that drops only the connection that sent garbage.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "runtime/protocol/registry.h"
#include "tests/unit/protocol/proto_fill.h"

TestSuite(frame, .timeout = 20);

#define T_PUSH RAY__RPC__MESSAGE_TYPE__MSG_PUSH_TASK_REQUEST
#define T_KV_GET RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REQUEST
#define T_KV_GET_REPLY RAY__RPC__MESSAGE_TYPE__MSG_KV_GET_REPLY

static void
nonblocking_pair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static void
free_msg(ProtobufCMessage *m)
{
    protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
}

/* Bytes of one frame of `type` holding `m`. Caller frees. */
static uint8_t *
frame_bytes(uint32_t type, const ProtobufCMessage *m, size_t *len)
{
    rt_frame_writer w;
    rt_frame_writer_init(&w, 0);
    cr_assert_eq(rt_frame_writer_put(&w, type, m), RAY_OK);
    *len = rt_frame_writer_pending(&w);
    uint8_t *out = rt_memdup(w.buf + w.start, *len);
    rt_frame_writer_fini(&w);
    return out;
}

/* A header announcing `len` payload bytes of `type` with `magic`. */
static void
header(uint8_t out[RT_FRAME_HEADER_LEN], uint32_t magic, uint32_t type,
       uint32_t len)
{
    rt_frame_header h = {.magic = magic, .type = type, .length = len};
    rt_frame_header_encode(&h, out);
}

static void
write_all(int fd, const void *p, size_t n)
{
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

Test(frame, header_is_little_endian)
{
    uint8_t b[RT_FRAME_HEADER_LEN];
    header(b, RT_FRAME_MAGIC, 0x01020304, 0xa0b0c0d0);
    uint8_t want[] = {0x01, 0x59, 0x41, 0x52, 4,    3,
                      2,    1,    0xd0, 0xc0, 0xb0, 0xa0};
    cr_assert_arr_eq(b, want, sizeof(want));
    rt_frame_header h;
    rt_frame_header_decode(b, &h);
    cr_expect_eq(h.magic, RT_FRAME_MAGIC);
    cr_expect_eq(h.type, 0x01020304u);
    cr_expect_eq(h.length, 0xa0b0c0d0u);
}

Test(frame, every_type_round_trips_over_a_socketpair)
{
    int sv[2];
    nonblocking_pair(sv);
    rt_frame_writer w;
    rt_frame_reader r;
    rt_frame_writer_init(&w, 0);
    rt_frame_reader_init(&r, 0);
    size_t n;
    const uint32_t *types = rt_proto_types(&n);
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessageDescriptor *d = rt_proto_descriptor(types[i]);
        ProtobufCMessage *m = rt_test_proto_fill(d, (uint32_t)i + 1, 3);
        cr_assert_not_null(m);
        cr_assert_eq(rt_frame_writer_put(&w, types[i], m), RAY_OK, "%s",
                     rt_frame_writer_detail(&w));
        cr_assert_eq(rt_frame_writer_flush(&w, sv[0]), RAY_OK);
        uint32_t type = 0;
        ProtobufCMessage *u = NULL;
        cr_assert_eq(rt_frame_reader_read(&r, sv[1], &type, &u), RAY_OK,
                     "%s: %s", d->short_name, rt_frame_reader_detail(&r));
        cr_expect_eq(type, types[i]);
        cr_assert_eq(u->descriptor, d);
        char why[128];
        cr_expect(rt_test_proto_equal(m, u, why, sizeof(why)), "%s: %s",
                  d->short_name, why);
        free_msg(u);
        free_msg(m);
        cr_expect_eq(rt_frame_reader_read(&r, sv[1], &type, &u), RAY_EAGAIN);
    }
    rt_frame_writer_fini(&w);
    rt_frame_reader_fini(&r);
    close(sv[0]);
    close(sv[1]);
}

Test(frame, one_byte_writes_and_reads)
{
    int sv[2];
    nonblocking_pair(sv);
    ProtobufCMessage *m =
        rt_test_proto_fill(&ray__rpc__push_task_request__descriptor, 5, 3);
    size_t len;
    uint8_t *bytes = frame_bytes(T_PUSH, m, &len);
    rt_frame_reader r;
    rt_frame_reader_init(&r, 0);
    uint32_t type;
    ProtobufCMessage *u = NULL;
    for (size_t i = 0; i < len; i++) {
        write_all(sv[0], bytes + i, 1);
        ray_err e = rt_frame_reader_read(&r, sv[1], &type, &u);
        if (i + 1 < len)
            cr_assert_eq(e, RAY_EAGAIN, "byte %zu: %s", i,
                         rt_frame_reader_detail(&r));
        else
            cr_assert_eq(e, RAY_OK, "%s", rt_frame_reader_detail(&r));
    }
    cr_expect_eq(type, T_PUSH);
    cr_expect(rt_test_proto_equal(m, u, NULL, 0));
    free_msg(u);
    free_msg(m);
    rt_free(bytes);
    rt_frame_reader_fini(&r);
    close(sv[0]);
    close(sv[1]);
}

Test(frame, feed_byte_by_byte_yields_each_frame_once)
{
    rt_frame_reader r;
    rt_frame_reader_init(&r, 0);
    ProtobufCMessage *m[3];
    uint8_t *bytes[3];
    size_t len[3];
    for (int k = 0; k < 3; k++) {
        m[k] = rt_test_proto_fill(&ray__rpc__kv_get_reply__descriptor,
                                  (uint32_t)k + 10, 2);
        bytes[k] = frame_bytes(T_KV_GET_REPLY, m[k], &len[k]);
    }
    int got = 0;
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < len[k]; i++) {
            cr_assert_eq(rt_frame_reader_feed(&r, bytes[k] + i, 1), RAY_OK);
            uint32_t type;
            ProtobufCMessage *u;
            ray_err e = rt_frame_reader_next(&r, &type, &u);
            if (e == RAY_OK) {
                cr_assert_eq(i + 1, len[k], "frame done early");
                cr_expect(rt_test_proto_equal(m[got], u, NULL, 0));
                free_msg(u);
                got++;
            } else {
                cr_assert_eq(e, RAY_EAGAIN);
            }
        }
    }
    cr_expect_eq(got, 3);
    cr_expect_eq(rt_frame_reader_buffered(&r), 0);
    for (int k = 0; k < 3; k++) {
        free_msg(m[k]);
        rt_free(bytes[k]);
    }
    rt_frame_reader_fini(&r);
}

Test(frame, partial_writes_resume_after_eagain)
{
    int sv[2];
    nonblocking_pair(sv);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    Ray__Rpc__KvPutRequest put = RAY__RPC__KV_PUT_REQUEST__INIT;
    size_t big = 1u << 20;
    uint8_t *val = rt_malloc(big);
    for (size_t i = 0; i < big; i++)
        val[i] = (uint8_t)(i * 7 + (i >> 9));
    put.value.data = val;
    put.value.len = big;
    put.ns = "ns";
    rt_frame_writer w;
    rt_frame_reader r;
    rt_frame_writer_init(&w, 0);
    rt_frame_reader_init(&r, 0);
    uint32_t type = RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REQUEST;
    cr_assert_eq(rt_frame_writer_put(&w, type, &put.base), RAY_OK);
    int eagains = 0;
    ProtobufCMessage *u = NULL;
    ray_err we = RAY_EAGAIN, re = RAY_EAGAIN;
    while (re == RAY_EAGAIN) {
        if (we == RAY_EAGAIN) {
            we = rt_frame_writer_flush(&w, sv[0]);
            eagains += we == RAY_EAGAIN;
            cr_assert(we == RAY_OK || we == RAY_EAGAIN);
        }
        re = rt_frame_reader_read(&r, sv[1], &type, &u);
    }
    cr_assert_eq(re, RAY_OK, "%s", rt_frame_reader_detail(&r));
    cr_expect_gt(eagains, 2, "the socket never filled up");
    cr_expect_eq(rt_frame_writer_pending(&w), 0);
    Ray__Rpc__KvPutRequest *p = (Ray__Rpc__KvPutRequest *)u;
    cr_assert_eq(p->value.len, big);
    cr_expect_arr_eq(p->value.data, val, big);
    cr_expect_str_eq(p->ns, "ns");
    free_msg(u);
    /* The large frame's buffers are given back once idle. */
    cr_expect_leq(r.cap, 64u << 10);
    cr_expect_leq(w.cap, 1u << 20);
    rt_free(val);
    rt_frame_writer_fini(&w);
    rt_frame_reader_fini(&r);
    close(sv[0]);
    close(sv[1]);
}

/* Read from `fd` until the reader stops saying EAGAIN (peer closed). */
static ray_err
read_to_end(rt_frame_reader *r, int fd)
{
    for (int i = 0; i < 1000; i++) {
        uint32_t type;
        ProtobufCMessage *m;
        ray_err e = rt_frame_reader_read(r, fd, &type, &m);
        if (e == RAY_OK) {
            free_msg(m);
            continue;
        }
        if (e != RAY_EAGAIN)
            return e;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 1000);
    }
    return RAY_EINTERNAL;
}

Test(frame, close_at_boundary_is_eclosed)
{
    int sv[2];
    nonblocking_pair(sv);
    Ray__Rpc__KvGetRequest q = RAY__RPC__KV_GET_REQUEST__INIT;
    cr_assert_eq(rt_frame_send(sv[0], T_KV_GET, &q.base, 1000), RAY_OK);
    close(sv[0]);
    rt_frame_reader r;
    rt_frame_reader_init(&r, 0);
    cr_expect_eq(read_to_end(&r, sv[1]), RAY_ECLOSED);
    rt_frame_reader_fini(&r);
    close(sv[1]);
}

Test(frame, truncated_frame_then_close_is_eproto)
{
    ProtobufCMessage *m =
        rt_test_proto_fill(&ray__rpc__push_task_request__descriptor, 2, 3);
    size_t len;
    uint8_t *bytes = frame_bytes(T_PUSH, m, &len);
    size_t cuts[] = {1, RT_FRAME_HEADER_LEN - 1, RT_FRAME_HEADER_LEN,
                     RT_FRAME_HEADER_LEN + 1, len - 1};
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        int sv[2];
        nonblocking_pair(sv);
        write_all(sv[0], bytes, cuts[c]);
        close(sv[0]);
        rt_frame_reader r;
        rt_frame_reader_init(&r, 0);
        cr_expect_eq(read_to_end(&r, sv[1]), RAY_EPROTO, "cut at %zu", cuts[c]);
        cr_expect_neq(strstr(rt_frame_reader_detail(&r), "peer closed mid"),
                      NULL, "%s", rt_frame_reader_detail(&r));
        rt_frame_reader_fini(&r);
        close(sv[1]);
    }
    rt_free(bytes);
    free_msg(m);
}

Test(frame, oversized_frame_rejected_from_the_header_alone)
{
    uint32_t lens[] = {4097, (64u << 20) + 1, UINT32_MAX};
    uint32_t maxes[] = {4096, 0, 0};
    for (int i = 0; i < 3; i++) {
        int sv[2];
        nonblocking_pair(sv);
        uint8_t h[RT_FRAME_HEADER_LEN];
        header(h, RT_FRAME_MAGIC, T_PUSH, lens[i]);
        write_all(sv[0], h, sizeof(h)); /* no body is ever sent */
        rt_frame_reader r;
        rt_frame_reader_init(&r, maxes[i]);
        long live0 = rt_alloc_live();
        uint32_t type;
        ProtobufCMessage *u;
        cr_expect_eq(rt_frame_reader_read(&r, sv[1], &type, &u), RAY_ETOOBIG,
                     "%s", rt_frame_reader_detail(&r));
        cr_expect_leq(r.cap, 64u << 10, "allocated %zu for the body", r.cap);
        cr_expect_leq(rt_alloc_live() - live0, 1);
        /* Sticky: the connection stays failed. */
        cr_expect_eq(rt_frame_reader_read(&r, sv[1], &type, &u), RAY_ETOOBIG);
        rt_frame_reader_fini(&r);
        close(sv[0]);
        close(sv[1]);
    }
}

Test(frame, bad_magic_and_unknown_types_are_eproto)
{
    struct {
        uint32_t magic, type;
    } cases[] = {
        {0xdeadbeef, T_PUSH},
        {RT_FRAME_MAGIC + 1, T_PUSH}, /* a future version */
        {RT_FRAME_MAGIC, 0},
        {RT_FRAME_MAGIC, 99},
        {RT_FRAME_MAGIC, 112},
        {RT_FRAME_MAGIC, UINT32_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rt_frame_reader r;
        rt_frame_reader_init(&r, 0);
        uint8_t h[RT_FRAME_HEADER_LEN];
        header(h, cases[i].magic, cases[i].type, 0);
        cr_assert_eq(rt_frame_reader_feed(&r, h, sizeof(h)), RAY_OK);
        uint32_t type;
        ProtobufCMessage *u;
        cr_expect_eq(rt_frame_reader_next(&r, &type, &u), RAY_EPROTO,
                     "case %zu", i);
        cr_expect_neq(rt_frame_reader_detail(&r)[0], '\0');
        rt_frame_reader_fini(&r);
    }
}

Test(frame, payload_that_does_not_decode_is_eproto)
{
    /* A field tag with wire type 7 (invalid), a length running past the
     * end, and a truncated varint. */
    uint8_t bad[][4] = {{0x0f, 0, 0, 0},
                        {0x0a, 0x7f, 1, 2},
                        {0x08, 0xff, 0xff, 0xff},
                        {0x80, 0x00, 0x80, 0x00} /* field number 0 */};
    for (size_t i = 0; i < 4; i++) {
        rt_frame_reader r;
        rt_frame_reader_init(&r, 0);
        uint8_t h[RT_FRAME_HEADER_LEN];
        header(h, RT_FRAME_MAGIC, T_PUSH, 4);
        rt_frame_reader_feed(&r, h, sizeof(h));
        rt_frame_reader_feed(&r, bad[i], 4);
        uint32_t type;
        ProtobufCMessage *u;
        cr_expect_eq(rt_frame_reader_next(&r, &type, &u), RAY_EPROTO,
                     "case %zu", i);
        cr_expect_neq(
            strstr(rt_frame_reader_detail(&r), "MSG_PUSH_TASK_REQUEST"), NULL,
            "%s", rt_frame_reader_detail(&r));
        if (i == 3)
            cr_expect_neq(strstr(rt_frame_reader_detail(&r), "field number 0"),
                          NULL, "%s", rt_frame_reader_detail(&r));
        rt_frame_reader_fini(&r);
    }
}

Test(frame, message_of_another_type_is_rejected_or_harmless)
{
    /* A Status packed but framed as KvGetReply: field 1 is a varint in
     * Status and a sub-message in KvGetReply, so it cannot decode. */
    Ray__Rpc__Status s = RAY__RPC__STATUS__INIT;
    s.code = 13;
    uint8_t payload[16];
    size_t len = ray__rpc__status__pack(&s, payload);
    rt_frame_reader r;
    rt_frame_reader_init(&r, 0);
    uint8_t h[RT_FRAME_HEADER_LEN];
    header(h, RT_FRAME_MAGIC, T_KV_GET_REPLY, (uint32_t)len);
    rt_frame_reader_feed(&r, h, sizeof(h));
    rt_frame_reader_feed(&r, payload, len);
    uint32_t type;
    ProtobufCMessage *u;
    cr_expect_eq(rt_frame_reader_next(&r, &type, &u), RAY_EPROTO);
    rt_frame_reader_fini(&r);
}

Test(frame, random_bytes_are_rejected)
{
    srand(1234);
    for (int round = 0; round < 200; round++) {
        rt_frame_reader r;
        rt_frame_reader_init(&r, 1 << 16);
        uint8_t junk[256];
        size_t n = 16 + (size_t)(rand() % 240);
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)rand();
        rt_frame_reader_feed(&r, junk, n);
        rt_frame_reader_set_eof(&r);
        uint32_t type;
        ProtobufCMessage *u;
        ray_err e = rt_frame_reader_next(&r, &type, &u);
        cr_expect(e == RAY_EPROTO || e == RAY_ETOOBIG, "round %d: %s", round,
                  rt_strerror(e));
        rt_frame_reader_fini(&r);
    }
}

Test(frame, writer_rejects_wrong_type_and_oversize)
{
    rt_frame_writer w;
    rt_frame_writer_init(&w, 64);
    Ray__Rpc__KvGetRequest q = RAY__RPC__KV_GET_REQUEST__INIT;
    cr_expect_eq(rt_frame_writer_put(&w, T_PUSH, &q.base), RAY_EINVAL);
    cr_expect_eq(rt_frame_writer_put(&w, 12345, &q.base), RAY_EINVAL);
    cr_expect_eq(rt_frame_writer_put(&w, T_KV_GET, NULL), RAY_EINVAL);
    uint8_t key[100] = {1};
    q.key.data = key;
    q.key.len = sizeof(key);
    cr_expect_eq(rt_frame_writer_put(&w, T_KV_GET, &q.base), RAY_ETOOBIG);
    cr_expect_eq(rt_frame_writer_pending(&w), 0, "nothing queued on error");
    q.key.len = 10;
    cr_expect_eq(rt_frame_writer_put(&w, T_KV_GET, &q.base), RAY_OK);
    cr_expect_eq(rt_frame_writer_pending(&w), RT_FRAME_HEADER_LEN + 12);
    rt_frame_writer_fini(&w);
}

Test(frame, steady_state_reuses_buffers)
{
    int sv[2];
    nonblocking_pair(sv);
    rt_frame_writer w;
    rt_frame_reader r;
    rt_frame_writer_init(&w, 0);
    rt_frame_reader_init(&r, 0);
    Ray__Rpc__WorkerHeartbeatRequest hb =
        RAY__RPC__WORKER_HEARTBEAT_REQUEST__INIT;
    uint32_t t = RAY__RPC__MESSAGE_TYPE__MSG_WORKER_HEARTBEAT_REQUEST;
    uint8_t *wbuf = NULL, *rbuf = NULL;
    long live = 0;
    for (int i = 0; i < 200; i++) {
        hb.timestamp_ns = (uint64_t)i;
        for (int k = 0; k < 8; k++) /* batches of frames per send */
            cr_assert_eq(rt_frame_writer_put(&w, t, &hb.base), RAY_OK);
        cr_assert_eq(rt_frame_writer_flush(&w, sv[0]), RAY_OK);
        for (int k = 0; k < 8; k++) {
            uint32_t type;
            ProtobufCMessage *u;
            cr_assert_eq(rt_frame_reader_read(&r, sv[1], &type, &u), RAY_OK);
            cr_assert_eq(((Ray__Rpc__WorkerHeartbeatRequest *)u)->timestamp_ns,
                         (uint64_t)i);
            free_msg(u);
        }
        if (i == 10) {
            wbuf = w.buf;
            rbuf = r.buf;
            live = rt_alloc_live();
        } else if (i > 10) {
            cr_assert_eq(w.buf, wbuf);
            cr_assert_eq(r.buf, rbuf);
            cr_assert_eq(rt_alloc_live(), live);
        }
    }
    rt_frame_writer_fini(&w);
    rt_frame_reader_fini(&r);
    close(sv[0]);
    close(sv[1]);
}

Test(frame, unpack_out_of_memory_is_enomem_and_leak_free)
{
    ProtobufCMessage *m =
        rt_test_proto_fill(&ray__rpc__push_task_request__descriptor, 4, 3);
    size_t len;
    uint8_t *bytes = frame_bytes(T_PUSH, m, &len);
    long live0 = rt_alloc_live();
    int failures = 0;
    for (long n = 1; n < 10000; n++) {
        rt_frame_reader r;
        rt_frame_reader_init(&r, 0);
        cr_assert_eq(rt_frame_reader_feed(&r, bytes, len), RAY_OK);
        rt_alloc_fail_after(n);
        uint32_t type;
        ProtobufCMessage *u = NULL;
        ray_err e = rt_frame_reader_next(&r, &type, &u);
        rt_alloc_fail_after(0);
        rt_frame_reader_fini(&r);
        if (e == RAY_OK) {
            cr_expect(rt_test_proto_equal(m, u, NULL, 0));
            free_msg(u);
            break;
        }
        cr_assert_eq(e, RAY_ENOMEM, "n=%ld: %s", n, rt_strerror(e));
        cr_assert_eq(rt_alloc_live(), live0, "leak at n=%ld", n);
        failures++;
    }
    cr_expect_gt(failures, 5);
    rt_free(bytes);
    free_msg(m);
}

Test(frame, blocking_helpers_round_trip_and_time_out)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); /* blocking */
    Ray__Rpc__KvGetRequest q = RAY__RPC__KV_GET_REQUEST__INIT;
    q.ns = "a";
    cr_assert_eq(rt_frame_send(sv[0], T_KV_GET, &q.base, 1000), RAY_OK);
    q.ns = "b";
    cr_assert_eq(rt_frame_send(sv[0], T_KV_GET, &q.base, 1000), RAY_OK);
    /* Two back-to-back frames: each recv takes exactly one. */
    const char *want[] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        uint32_t type;
        ProtobufCMessage *u;
        cr_assert_eq(rt_frame_recv(sv[1], 0, &type, &u, 1000), RAY_OK, "%s",
                     rt_frame_last_detail());
        cr_expect_eq(type, T_KV_GET);
        cr_expect_str_eq(((Ray__Rpc__KvGetRequest *)u)->ns, want[i]);
        free_msg(u);
    }
    /* Nothing more comes: only the timeout ends the recv, not before its
     * 50 ms (one that ignored it would hang until the suite's .timeout). */
    int64_t t0 = rt_clock_now_ms();
    uint32_t type;
    ProtobufCMessage *u;
    cr_expect_eq(rt_frame_recv(sv[1], 0, &type, &u, 50), RAY_ETIMEDOUT);
    int64_t took = rt_clock_now_ms() - t0;
    cr_expect(took >= 45, "took %lld ms", (long long)took);
    close(sv[1]);
    cr_expect_eq(rt_frame_send(sv[0], T_KV_GET, &q.base, 1000), RAY_ECLOSED);
    close(sv[0]);
}

Test(frame, send_times_out_when_peer_never_reads)
{
    int sv[2];
    nonblocking_pair(sv);
    Ray__Rpc__KvPutRequest put = RAY__RPC__KV_PUT_REQUEST__INIT;
    size_t big = 8u << 20;
    put.value.data = rt_calloc(1, big);
    put.value.len = big;
    cr_expect_eq(rt_frame_send(sv[0],
                               RAY__RPC__MESSAGE_TYPE__MSG_KV_PUT_REQUEST,
                               &put.base, 50),
                 RAY_ETIMEDOUT);
    cr_expect_neq(strstr(rt_frame_last_detail(), "unsent"), NULL);
    rt_free(put.value.data);
    close(sv[0]);
    close(sv[1]);
}

/* ------------------------------------------------------------------ */
/* A poll(2) server: one garbage client must not disturb the others.   */
/* ------------------------------------------------------------------ */

#define NCONN 4
#define GARBAGE 2

typedef struct server {
    int fds[NCONN];
    int stop_fd;
    _Atomic int served;
} server;

static _Atomic int dropped_lines;

static void
count_sink(void *arg, rt_log_level level, const char *line)
{
    (void)arg;
    if (level >= RT_LOG_WARN && strstr(line, "dropping connection"))
        atomic_fetch_add(&dropped_lines, 1);
}

static void *
serve(void *arg)
{
    server *s = arg;
    rt_frame_reader r[NCONN];
    rt_frame_writer w[NCONN];
    for (int i = 0; i < NCONN; i++) {
        rt_frame_reader_init(&r[i], 4096);
        rt_frame_writer_init(&w[i], 0);
    }
    for (;;) {
        struct pollfd p[NCONN + 1];
        for (int i = 0; i < NCONN; i++) {
            p[i].fd = s->fds[i];
            p[i].events = POLLIN;
        }
        p[NCONN].fd = s->stop_fd;
        p[NCONN].events = POLLIN;
        if (poll(p, NCONN + 1, 5000) <= 0 || p[NCONN].revents)
            break;
        for (int i = 0; i < NCONN; i++) {
            if (s->fds[i] < 0 || !p[i].revents)
                continue;
            ray_err e;
            uint32_t type;
            ProtobufCMessage *m;
            while ((e = rt_frame_reader_read(&r[i], s->fds[i], &type, &m)) ==
                   RAY_OK) {
                Ray__Rpc__KvGetRequest *q = (Ray__Rpc__KvGetRequest *)m;
                Ray__Rpc__KvGetReply rep = RAY__RPC__KV_GET_REPLY__INIT;
                rep.found = 1;
                rep.value = q->key; /* echo */
                if (type != T_KV_GET ||
                    rt_frame_writer_put(&w[i], T_KV_GET_REPLY, &rep.base) !=
                        RAY_OK) {
                    e = RAY_EPROTO;
                    free_msg(m);
                    break;
                }
                free_msg(m);
                atomic_fetch_add(&s->served, 1);
            }
            if (e == RAY_EAGAIN)
                e = rt_frame_writer_flush(&w[i], s->fds[i]);
            if (e != RAY_OK && e != RAY_EAGAIN) {
                RT_WARN("conn %d: dropping connection: %s: %s", i,
                        rt_strerror(e), rt_frame_reader_detail(&r[i]));
                close(s->fds[i]);
                s->fds[i] = -1;
            }
        }
    }
    for (int i = 0; i < NCONN; i++) {
        rt_frame_reader_fini(&r[i]);
        rt_frame_writer_fini(&w[i]);
    }
    return NULL;
}

Test(frame, server_drops_only_the_garbage_connection)
{
    rt_log_set_sink(count_sink, NULL);
    rt_log_set_fd(-1);
    server s = {.served = 0};
    int client[NCONN];
    for (int i = 0; i < NCONN; i++) {
        int sv[2];
        nonblocking_pair(sv);
        s.fds[i] = sv[0];
        client[i] = sv[1];
    }
    int stop[2];
    cr_assert_eq(pipe(stop), 0);
    s.stop_fd = stop[0];
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, serve, &s), 0);

    for (int round = 0; round < 5; round++) {
        if (round == 1) {
            uint8_t junk[64];
            for (size_t k = 0; k < sizeof(junk); k++)
                junk[k] = (uint8_t)(k * 37 + 11);
            write_all(client[GARBAGE], junk, sizeof(junk));
        }
        for (int i = 0; i < NCONN; i++) {
            if (i == GARBAGE && round >= 1)
                continue;
            uint8_t key[8] = {(uint8_t)i, (uint8_t)round, 1, 2, 3, 4, 5, 6};
            Ray__Rpc__KvGetRequest q = RAY__RPC__KV_GET_REQUEST__INIT;
            q.key.data = key;
            q.key.len = sizeof(key);
            cr_assert_eq(rt_frame_send(client[i], T_KV_GET, &q.base, 2000),
                         RAY_OK);
            uint32_t type;
            ProtobufCMessage *u;
            cr_assert_eq(rt_frame_recv(client[i], 0, &type, &u, 2000), RAY_OK,
                         "client %d round %d: %s", i, round,
                         rt_frame_last_detail());
            cr_assert_eq(type, T_KV_GET_REPLY);
            Ray__Rpc__KvGetReply *rep = (Ray__Rpc__KvGetReply *)u;
            cr_assert_eq(rep->value.len, sizeof(key));
            cr_assert_arr_eq(rep->value.data, key, sizeof(key));
            free_msg(u);
        }
    }
    /* The garbage client sees its connection closed. */
    uint32_t type;
    ProtobufCMessage *u;
    cr_expect_eq(rt_frame_recv(client[GARBAGE], 0, &type, &u, 2000),
                 RAY_ECLOSED);
    cr_expect_eq(atomic_load(&s.served), 1 + (NCONN - 1) * 5);

    write_all(stop[1], "x", 1);
    pthread_join(th, NULL);
    cr_expect_eq(atomic_load(&dropped_lines), 1, "logged once");
    for (int i = 0; i < NCONN; i++) {
        close(client[i]);
        if (s.fds[i] >= 0)
            close(s.fds[i]);
    }
    close(stop[0]);
    close(stop[1]);
    rt_log_set_sink(NULL, NULL);
}

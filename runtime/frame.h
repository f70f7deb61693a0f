/* SPDX-License-Identifier: Apache-2.0
 *
 * frame.h: length-prefixed protobuf-c frames over stream sockets.
 *
 * A frame is a 12-byte header followed by a packed protobuf-c payload:
 *
 *   offset 0  u32 magic   RT_FRAME_MAGIC: "RAY" + a version byte
 *   offset 4  u32 type    a MessageType (runtime/protocol/registry.h)
 *   offset 8  u32 length  payload bytes that follow
 *
 * all little-endian. A reader rejects bad magic, an unknown type, or a
 * length above its limit (default 64 MiB) as soon as the header is in,
 * before allocating anything for the body; a payload that does not unpack
 * as the declared message is RAY_EPROTO. Every such error is sticky: the
 * connection is no longer in sync and the caller closes it, logging once
 * the detail string the reader recorded.
 *
 * rt_frame_reader and rt_frame_writer are per-connection state for event
 * loops on NON-BLOCKING sockets (Unix or TCP). Both keep and reuse one
 * buffer each, so the steady state makes no allocation per frame besides
 * the unpacked message itself. The reader reads as much as the socket has
 * (many frames per read(2)); the writer batches queued frames into one
 * send(2). rt_frame_send/rt_frame_recv are blocking helpers with a timeout
 * for tests and simple clients.
 *
 * Threading: a reader or writer belongs to one thread at a time (the
 * connection's loop thread); the functions keep no global state except the
 * thread-local detail of the blocking helpers.
 */
#ifndef RAY_RUNTIME_FRAME_H
#define RAY_RUNTIME_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "runtime/status.h"

#define RT_FRAME_MAGIC 0x52415901u /* 'R' 'A' 'Y' version 1 */
#define RT_FRAME_HEADER_LEN 12u
#define RT_FRAME_DEFAULT_MAX (64u << 20) /* payload bytes */
#define RT_FRAME_DETAIL_LEN 160

/* The decoded form of a frame header. */
typedef struct rt_frame_header {
    uint32_t magic;
    uint32_t type;
    uint32_t length;
} rt_frame_header;

/* Write `h` into `out` in wire order. */
void rt_frame_header_encode(const rt_frame_header *h,
                            uint8_t out[RT_FRAME_HEADER_LEN]);

/* Read a header from `in`. Never fails; validation is separate. */
void rt_frame_header_decode(const uint8_t in[RT_FRAME_HEADER_LEN],
                            rt_frame_header *h);

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

/* Per-connection decoder. Fields are private; use the functions.
 * Loop thread only. */
typedef struct rt_frame_reader {
    uint8_t *buf;       /* received bytes not yet consumed */
    size_t cap;         /* allocated size of buf */
    size_t start;       /* first unconsumed byte */
    size_t end;         /* one past the last received byte */
    uint32_t max_frame; /* payload limit */
    bool exact;         /* never read past the current frame (helpers) */
    bool eof;           /* the peer closed its side */
    ray_err failed;     /* sticky error, RAY_OK while healthy */
    char detail[RT_FRAME_DETAIL_LEN];
} rt_frame_reader;

/* Prepare `r` for a new connection. `max_frame` limits payload bytes;
 * 0 means RT_FRAME_DEFAULT_MAX. Allocates nothing (the buffer comes with
 * the first read). Pair with rt_frame_reader_fini. */
void rt_frame_reader_init(rt_frame_reader *r, uint32_t max_frame);

/* Release the buffer. Safe on a zeroed or already finished reader. */
void rt_frame_reader_fini(rt_frame_reader *r);

/* Read what `fd` has and return the next complete message.
 *
 * RAY_OK: `*type` and `*msg` hold a message; free it with
 *   protobuf_c_message_free_unpacked(msg, &rt_protobuf_allocator). More
 *   frames may already be buffered: call again until RAY_EAGAIN.
 * RAY_EAGAIN: the socket has nothing more now; wait for readability.
 * RAY_ECLOSED: the peer closed the connection at a frame boundary.
 * RAY_EPROTO: bad magic, unknown type, undecodable payload, or the peer
 *   closed in the middle of a frame.
 * RAY_ETOOBIG: the header announced more than max_frame bytes.
 * RAY_ENOMEM, or a system error from read(2).
 * Every result except RAY_OK and RAY_EAGAIN is sticky and leaves a reason
 * in rt_frame_reader_detail(). Sockets are read with MSG_DONTWAIT, so the
 * call never blocks on a socket whatever its flags; a non-socket fd (a
 * pipe) should be non-blocking. */
ray_err rt_frame_reader_read(rt_frame_reader *r, int fd, uint32_t *type,
                             ProtobufCMessage **msg);

/* Append `len` bytes from memory, as if read from a socket (fuzzers, and
 * transports that are not fds). Returns RAY_OK, RAY_ENOMEM, or the sticky
 * error. The bytes are only buffered; take messages with
 * rt_frame_reader_next. */
ray_err rt_frame_reader_feed(rt_frame_reader *r, const void *data, size_t len);

/* Mark the stream as ended (the peer closed); later rt_frame_reader_next
 * calls report RAY_ECLOSED or RAY_EPROTO as rt_frame_reader_read does. */
void rt_frame_reader_set_eof(rt_frame_reader *r);

/* Decode the next complete buffered frame, with the results of
 * rt_frame_reader_read (RAY_EAGAIN: no complete frame buffered). */
ray_err rt_frame_reader_next(rt_frame_reader *r, uint32_t *type,
                             ProtobufCMessage **msg);

/* Why the reader failed ("" while healthy). Valid until fini. */
const char *rt_frame_reader_detail(const rt_frame_reader *r);

/* Bytes buffered but not yet returned as messages. */
size_t rt_frame_reader_buffered(const rt_frame_reader *r);

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

/* Per-connection encoder with an output queue. Loop thread only. */
typedef struct rt_frame_writer {
    uint8_t *buf; /* packed frames waiting to be sent */
    size_t cap;
    size_t start;       /* first unsent byte */
    size_t end;         /* one past the last queued byte */
    uint32_t max_frame; /* payload limit enforced on our own sends */
    char detail[RT_FRAME_DETAIL_LEN];
} rt_frame_writer;

/* Prepare `w`; `max_frame` 0 means RT_FRAME_DEFAULT_MAX. Allocates
 * nothing. Pair with rt_frame_writer_fini. */
void rt_frame_writer_init(rt_frame_writer *w, uint32_t max_frame);

/* Release the buffer and drop unsent bytes. Safe on a zeroed writer. */
void rt_frame_writer_fini(rt_frame_writer *w);

/* Pack `msg` as a frame of `type` onto the output queue (no I/O).
 * RAY_EINVAL: `type` is unknown or `msg` is not that type's message.
 * RAY_ETOOBIG: the payload exceeds max_frame. RAY_ENOMEM.
 * On error nothing is queued. `msg` is borrowed. */
ray_err rt_frame_writer_put(rt_frame_writer *w, uint32_t type,
                            const ProtobufCMessage *msg);

/* Send queued bytes to `fd` until the queue is empty or the socket is full.
 * RAY_OK: everything was sent. RAY_EAGAIN: bytes remain; wait for
 * writability and call again (progress made so far is kept).
 * RAY_ECLOSED: the peer is gone (EPIPE/ECONNRESET; never raises SIGPIPE).
 * Other system errors as ray_err. Never blocks on a non-blocking fd. */
ray_err rt_frame_writer_flush(rt_frame_writer *w, int fd);

/* Bytes queued and not yet sent. */
size_t rt_frame_writer_pending(const rt_frame_writer *w);

/* Why the last put or flush failed. */
const char *rt_frame_writer_detail(const rt_frame_writer *w);

/* ------------------------------------------------------------------ */
/* Blocking helpers                                                    */
/* ------------------------------------------------------------------ */

/* Send one frame on `fd`, waiting with poll(2) up to `timeout_ms` in all
 * (negative: forever). Works on blocking and non-blocking sockets.
 * Returns RAY_OK, RAY_ETIMEDOUT (part of the frame may have gone out: the
 * connection is then unusable), RAY_ECLOSED, RAY_EINVAL, RAY_ETOOBIG,
 * RAY_ENOMEM, or a system error. Allocates a buffer for the packed frame
 * (use rt_frame_writer on hot paths). */
ray_err rt_frame_send(int fd, uint32_t type, const ProtobufCMessage *msg,
                      int timeout_ms);

/* Receive exactly one frame from `fd` (never reading past its end), with
 * payload limit `max_frame` (0: default) and an overall timeout.
 * Results as rt_frame_reader_read, plus RAY_ETIMEDOUT. On RAY_OK the
 * caller owns `*msg` (free with protobuf_c_message_free_unpacked(msg,
 * &rt_protobuf_allocator)). */
ray_err rt_frame_recv(int fd, uint32_t max_frame, uint32_t *type,
                      ProtobufCMessage **msg, int timeout_ms);

/* The detail of the last failed rt_frame_send/rt_frame_recv on this
 * thread. */
const char *rt_frame_last_detail(void);

#endif /* RAY_RUNTIME_FRAME_H */

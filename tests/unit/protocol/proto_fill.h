/* SPDX-License-Identifier: Apache-2.0
 *
 * proto_fill.h: test support that builds and compares protobuf-c messages
 * of any type through their descriptors (reflection), so a test can cover
 * every MessageType without a hand-written filler per message, and a new
 * message added to the registry is covered automatically.
 *
 * Single-threaded test code; allocation goes through rt_malloc so the
 * messages are freed like unpacked ones.
 */
#ifndef RAY_TESTS_UNIT_PROTOCOL_PROTO_FILL_H
#define RAY_TESTS_UNIT_PROTOCOL_PROTO_FILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* A new message of `desc` with every scalar, string, bytes and enum field
 * set to a non-default value derived from `seed`, repeated fields holding
 * 1-3 elements, one member of each oneof set (chosen by seed), and nested
 * messages filled down to `depth` levels. Free with
 * protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator).
 * NULL when an allocation fails (nothing leaks). */
ProtobufCMessage *rt_test_proto_fill(const ProtobufCMessageDescriptor *desc,
                                     uint32_t seed, int depth);

/* Deep comparison field by field. True when equal; otherwise false with
 * the path of the first difference ("TaskSpec.args[1].inline_value") in
 * `why` (may be NULL). */
bool rt_test_proto_equal(const ProtobufCMessage *a, const ProtobufCMessage *b,
                         char *why, size_t why_len);

#endif /* RAY_TESTS_UNIT_PROTOCOL_PROTO_FILL_H */

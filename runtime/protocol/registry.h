/* SPDX-License-Identifier: Apache-2.0
 *
 * registry.h: the map from a frame's message type (the MessageType enum of
 * common.proto) to the protobuf-c descriptor its payload decodes with.
 *
 * The frame layer (runtime/frame.h) asks this table about every frame it
 * reads: a type with no descriptor is a protocol error. Including this
 * header also brings in every generated message header, so a component
 * that speaks the protocol needs only this include.
 *
 * The table is constant data: all functions are thread-safe and never
 * allocate.
 */
#ifndef RAY_RUNTIME_PROTOCOL_REGISTRY_H
#define RAY_RUNTIME_PROTOCOL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "runtime/status.h"

#include "runtime/protocol/cluster.pb-c.h"
#include "runtime/protocol/common.pb-c.h"
#include "runtime/protocol/gcs.pb-c.h"
#include "runtime/protocol/object_store.pb-c.h"
#include "runtime/protocol/raylet.pb-c.h"

/* Wire lengths of the fixed-size IDs (see the comment in common.proto).
 * runtime/ids.h's in-memory IDs must match these. */
#define RT_PROTO_JOB_ID_LEN 4
#define RT_PROTO_ACTOR_ID_LEN 16
#define RT_PROTO_TASK_ID_LEN 24
#define RT_PROTO_OBJECT_ID_LEN 28
#define RT_PROTO_NODE_ID_LEN 28
#define RT_PROTO_WORKER_ID_LEN 28

/* The descriptor of message type `type` (a Ray__Rpc__MessageType value),
 * or NULL when `type` names no message (0, a gap, or out of range). */
const ProtobufCMessageDescriptor *rt_proto_descriptor(uint32_t type);

/* The message type whose payload is described by `desc`, or 0 when `desc`
 * is not a top-level frame message (e.g. Address, TaskSpec). */
uint32_t rt_proto_type_of(const ProtobufCMessageDescriptor *desc);

/* A static name for logs: "MSG_PUSH_TASK_REQUEST", or "MSG_UNKNOWN".
 * Never NULL. */
const char *rt_proto_type_name(uint32_t type);

/* Checks protobuf-c leaves to the caller, on a freshly unpacked message
 * and all its sub-messages: today, that no unknown field has field number
 * 0. protobuf-c 1.4.1 rejects tag 0 in a one-byte varint but accepts it in
 * a longer (non-minimal) encoding, keeps it as an unknown field and packs
 * it back as a one-byte 0 that no decoder accepts, so a relayed message
 * would poison the next hop. Returns RAY_OK or RAY_EPROTO. Never
 * allocates; recursion depth is the message's nesting depth. */
ray_err rt_proto_validate(const ProtobufCMessage *msg);

/* Every valid message type, ascending. Stores the count in `*n`. The array
 * is static; tests and fuzzers iterate it. */
const uint32_t *rt_proto_types(size_t *n);

#endif /* RAY_RUNTIME_PROTOCOL_REGISTRY_H */

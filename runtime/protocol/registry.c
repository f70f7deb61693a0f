/* SPDX-License-Identifier: Apache-2.0
 *
 * registry.c: the MessageType -> descriptor table.
 *
 * One X-macro list names each frame message once; it expands into a
 * direct-indexed descriptor array (types are small numbers, < 400) and the
 * sorted list of valid types. A unit test walks the list and checks that
 * each entry's descriptor name matches its enum name, so a new message
 * added to the enum but not here, or wired to the wrong descriptor, fails
 * the build's tests. Constant data only: thread-safe, no allocation.
 */
#include "runtime/protocol/registry.h"

#define RT_PROTO_MAX_TYPE 500

/* ENTRY(MessageType suffix, descriptor stem) for every request and reply:
 * ENTRY(FOO_REQUEST, foo_request) pairs RAY__RPC__MESSAGE_TYPE__MSG_FOO_REQUEST
 * with ray__rpc__foo_request__descriptor. */
#define RT_PROTO_MESSAGES(ENTRY)                                               \
    ENTRY(REGISTER_CLIENT_REQUEST, register_client_request)                    \
    ENTRY(REGISTER_CLIENT_REPLY, register_client_reply)                        \
    ENTRY(REQUEST_WORKER_LEASE_REQUEST, request_worker_lease_request)          \
    ENTRY(REQUEST_WORKER_LEASE_REPLY, request_worker_lease_reply)              \
    ENTRY(RETURN_WORKER_REQUEST, return_worker_request)                        \
    ENTRY(RETURN_WORKER_REPLY, return_worker_reply)                            \
    ENTRY(PUSH_TASK_REQUEST, push_task_request)                                \
    ENTRY(PUSH_TASK_REPLY, push_task_reply)                                    \
    ENTRY(CANCEL_TASK_REQUEST, cancel_task_request)                            \
    ENTRY(CANCEL_TASK_REPLY, cancel_task_reply)                                \
    ENTRY(WORKER_HEARTBEAT_REQUEST, worker_heartbeat_request)                  \
    ENTRY(WORKER_HEARTBEAT_REPLY, worker_heartbeat_reply)                      \
    ENTRY(STORE_CONNECT_REQUEST, store_connect_request)                        \
    ENTRY(STORE_CONNECT_REPLY, store_connect_reply)                            \
    ENTRY(STORE_CREATE_REQUEST, store_create_request)                          \
    ENTRY(STORE_CREATE_REPLY, store_create_reply)                              \
    ENTRY(STORE_SEAL_REQUEST, store_seal_request)                              \
    ENTRY(STORE_SEAL_REPLY, store_seal_reply)                                  \
    ENTRY(STORE_GET_REQUEST, store_get_request)                                \
    ENTRY(STORE_GET_REPLY, store_get_reply)                                    \
    ENTRY(STORE_RELEASE_REQUEST, store_release_request)                        \
    ENTRY(STORE_RELEASE_REPLY, store_release_reply)                            \
    ENTRY(STORE_DELETE_REQUEST, store_delete_request)                          \
    ENTRY(STORE_DELETE_REPLY, store_delete_reply)                              \
    ENTRY(STORE_CONTAINS_REQUEST, store_contains_request)                      \
    ENTRY(STORE_CONTAINS_REPLY, store_contains_reply)                          \
    ENTRY(STORE_ABORT_REQUEST, store_abort_request)                            \
    ENTRY(STORE_ABORT_REPLY, store_abort_reply)                                \
    ENTRY(STORE_RESTORE_REQUEST, store_restore_request)                        \
    ENTRY(STORE_RESTORE_REPLY, store_restore_reply)                            \
    ENTRY(STORE_STATS_REQUEST, store_stats_request)                            \
    ENTRY(STORE_STATS_REPLY, store_stats_reply)                                \
    ENTRY(REGISTER_NODE_REQUEST, register_node_request)                        \
    ENTRY(REGISTER_NODE_REPLY, register_node_reply)                            \
    ENTRY(GET_ALL_NODES_REQUEST, get_all_nodes_request)                        \
    ENTRY(GET_ALL_NODES_REPLY, get_all_nodes_reply)                            \
    ENTRY(NODE_HEARTBEAT_REQUEST, node_heartbeat_request)                      \
    ENTRY(NODE_HEARTBEAT_REPLY, node_heartbeat_reply)                          \
    ENTRY(KV_PUT_REQUEST, kv_put_request)                                      \
    ENTRY(KV_PUT_REPLY, kv_put_reply)                                          \
    ENTRY(KV_GET_REQUEST, kv_get_request)                                      \
    ENTRY(KV_GET_REPLY, kv_get_reply)                                          \
    ENTRY(KV_DEL_REQUEST, kv_del_request)                                      \
    ENTRY(KV_DEL_REPLY, kv_del_reply)                                          \
    ENTRY(KV_LIST_REQUEST, kv_list_request)                                    \
    ENTRY(KV_LIST_REPLY, kv_list_reply)                                        \
    ENTRY(AUTH_CHALLENGE, auth_challenge)                                      \
    ENTRY(AUTH_RESPONSE, auth_response)                                        \
    ENTRY(AUTH_RESULT, auth_result)                                            \
    ENTRY(START_JOB_REQUEST, start_job_request)                                \
    ENTRY(START_JOB_REPLY, start_job_reply)                                    \
    ENTRY(EXE_CHUNK, exe_chunk)                                                \
    ENTRY(AGENT_READY, agent_ready)                                            \
    ENTRY(TASK_BATCH, task_batch)                                              \
    ENTRY(RESULT_BATCH, result_batch)                                          \
    ENTRY(LOG_LINES, log_lines)                                                \
    ENTRY(ATTACH_REQUEST, attach_request)                                      \
    ENTRY(ATTACH_REPLY, attach_reply)                                          \
    ENTRY(LOG_REQUEST, log_request)                                            \
    ENTRY(LOG_REPLY, log_reply)                                                \
    ENTRY(OBJECT_PULL, object_pull)                                            \
    ENTRY(OBJECT_CHUNK, object_chunk)                                          \
    ENTRY(OBJECT_PUSH, object_push)                                            \
    ENTRY(OBJECT_FREE, object_free)                                            \
    /* end */

#define AS_DESCRIPTOR(name, stem)                                              \
    [RAY__RPC__MESSAGE_TYPE__MSG_##name] = &ray__rpc__##stem##__descriptor,
#define AS_TYPE(name, stem) RAY__RPC__MESSAGE_TYPE__MSG_##name,

static const ProtobufCMessageDescriptor *const by_type[RT_PROTO_MAX_TYPE] = {
    RT_PROTO_MESSAGES(AS_DESCRIPTOR)};

static const uint32_t all_types[] = {RT_PROTO_MESSAGES(AS_TYPE)};

const ProtobufCMessageDescriptor *
rt_proto_descriptor(uint32_t type)
{
    if (type >= RT_PROTO_MAX_TYPE)
        return NULL;
    return by_type[type];
}

uint32_t
rt_proto_type_of(const ProtobufCMessageDescriptor *desc)
{
    if (desc == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(all_types) / sizeof(all_types[0]); i++) {
        if (by_type[all_types[i]] == desc)
            return all_types[i];
    }
    return 0;
}

const char *
rt_proto_type_name(uint32_t type)
{
    if (rt_proto_descriptor(type) == NULL)
        return "MSG_UNKNOWN";
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &ray__rpc__message_type__descriptor, (int)type);
    return v ? v->name : "MSG_UNKNOWN";
}

const uint32_t *
rt_proto_types(size_t *n)
{
    *n = sizeof(all_types) / sizeof(all_types[0]);
    return all_types;
}

ray_err
rt_proto_validate(const ProtobufCMessage *msg)
{
    for (unsigned i = 0; i < msg->n_unknown_fields; i++) {
        if (msg->unknown_fields[i].tag == 0)
            return RAY_EPROTO;
    }
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)msg;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr =
                *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; k < n; k++) {
                if (rt_proto_validate(arr[k]) != RAY_OK)
                    return RAY_EPROTO;
            }
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub =
            *(ProtobufCMessage *const *)(base + f->offset);
        if (sub != NULL && rt_proto_validate(sub) != RAY_OK)
            return RAY_EPROTO;
    }
    return RAY_OK;
}

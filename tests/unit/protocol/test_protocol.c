/* SPDX-License-Identifier: Apache-2.0
 *
 * test_protocol.c: the MessageType registry and pack/unpack round trips of
 * every message type, driven by descriptors so new messages are covered
 * as soon as they are registered.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "runtime/alloc.h"
#include "runtime/protocol/registry.h"
#include "runtime/status.h"
#include "tests/unit/protocol/proto_fill.h"

TestSuite(protocol, .timeout = 10);

/* "MSG_PUSH_TASK_REQUEST" -> "PushTaskRequest". */
static void
camel_from_enum(const char *name, char *out, size_t cap)
{
    const char *p = strncmp(name, "MSG_", 4) == 0 ? name + 4 : name;
    size_t n = 0;
    bool upper = true;
    for (; *p && n + 1 < cap; p++) {
        if (*p == '_') {
            upper = true;
            continue;
        }
        out[n++] = upper ? *p : (char)tolower((unsigned char)*p);
        upper = false;
    }
    out[n] = '\0';
}

Test(protocol, every_type_maps_to_its_own_descriptor)
{
    size_t n;
    const uint32_t *types = rt_proto_types(&n);
    cr_assert_eq(n, 64, "a message type was added or lost: update tests");
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessageDescriptor *d = rt_proto_descriptor(types[i]);
        cr_assert_not_null(d, "type %u", types[i]);
        char want[64];
        camel_from_enum(rt_proto_type_name(types[i]), want, sizeof(want));
        cr_expect_str_eq(d->short_name, want, "type %u", types[i]);
        cr_expect_eq(rt_proto_type_of(d), types[i]);
        if (i > 0)
            cr_expect_gt(types[i], types[i - 1], "types sorted, unique");
    }
}

Test(protocol, every_enum_value_is_registered)
{
    const ProtobufCEnumDescriptor *e = &ray__rpc__message_type__descriptor;
    for (unsigned i = 0; i < e->n_values; i++) {
        uint32_t t = (uint32_t)e->values[i].value;
        if (t == 0)
            cr_expect_null(rt_proto_descriptor(t));
        else
            cr_expect_not_null(rt_proto_descriptor(t), "%s", e->values[i].name);
    }
}

Test(protocol, unknown_types_have_no_descriptor)
{
    uint32_t bad[] = {0,   1,   99,  112, 199,   220,
                      314, 399, 418, 500, 65536, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_null(rt_proto_descriptor(bad[i]), "type %u", bad[i]);
        cr_expect_str_eq(rt_proto_type_name(bad[i]), "MSG_UNKNOWN");
    }
    cr_expect_eq(rt_proto_type_of(&ray__rpc__task_spec__descriptor), 0);
    cr_expect_eq(rt_proto_type_of(NULL), 0);
    cr_expect_str_eq(
        rt_proto_type_name(RAY__RPC__MESSAGE_TYPE__MSG_PUSH_TASK_REQUEST),
        "MSG_PUSH_TASK_REQUEST");
}

Test(protocol, status_code_carries_every_ray_err)
{
    /* Status.code is a ray_err; errno-carrying values must survive too. */
    ray_err codes[] = {RAY_OK, RAY_EPROTO, RAY_EAGAIN,
                       (ray_err)(RAY_ESYSERR | (28 << 8))};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        Ray__Rpc__Status s = RAY__RPC__STATUS__INIT;
        s.code = (uint32_t)codes[i];
        s.message = "detail";
        uint8_t buf[64];
        size_t len = ray__rpc__status__pack(&s, buf);
        Ray__Rpc__Status *u =
            ray__rpc__status__unpack(&rt_protobuf_allocator, len, buf);
        cr_assert_not_null(u);
        cr_expect_eq((ray_err)u->code, codes[i]);
        cr_expect_str_eq(u->message, "detail");
        ray__rpc__status__free_unpacked(u, &rt_protobuf_allocator);
    }
}

Test(protocol, object_id_nests_task_id)
{
    /* The ID layout promised in common.proto. */
    cr_expect_eq(RT_PROTO_OBJECT_ID_LEN, RT_PROTO_TASK_ID_LEN + 4);
    cr_expect_eq(RT_PROTO_TASK_ID_LEN, RT_PROTO_ACTOR_ID_LEN + 8);
    cr_expect_eq(RT_PROTO_ACTOR_ID_LEN, RT_PROTO_JOB_ID_LEN + 12);
}

/* Pack `m` into a fresh buffer; caller frees. */
static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = rt_malloc(*len ? *len : 1);
    cr_assert_not_null(buf);
    cr_assert_eq(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

Test(protocol, every_type_round_trips_through_pack_and_unpack)
{
    size_t n;
    const uint32_t *types = rt_proto_types(&n);
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessageDescriptor *d = rt_proto_descriptor(types[i]);
        for (uint32_t seed = 1; seed <= 4; seed++) {
            ProtobufCMessage *m = rt_test_proto_fill(d, seed, 3);
            cr_assert_not_null(m);
            size_t len;
            uint8_t *buf = pack(m, &len);
            if (d->n_fields > 0) /* StoreStatsRequest has none */
                cr_assert_gt(len, 0, "%s packs to nothing", d->short_name);
            ProtobufCMessage *u =
                protobuf_c_message_unpack(d, &rt_protobuf_allocator, len, buf);
            cr_assert_not_null(u, "%s seed %u", d->short_name, seed);
            char why[128];
            cr_expect(rt_test_proto_equal(m, u, why, sizeof(why)),
                      "%s seed %u differs at %s", d->short_name, seed, why);
            size_t len2;
            uint8_t *buf2 = pack(u, &len2);
            cr_expect_eq(len2, len);
            cr_expect_arr_eq(buf2, buf, len);
            rt_free(buf2);
            rt_free(buf);
            protobuf_c_message_free_unpacked(u, &rt_protobuf_allocator);
            protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
        }
    }
}

Test(protocol, comparison_detects_a_changed_field)
{
    /* The round-trip test is only as good as the comparison. */
    const ProtobufCMessageDescriptor *d =
        &ray__rpc__push_task_request__descriptor;
    ProtobufCMessage *a = rt_test_proto_fill(d, 9, 3);
    ProtobufCMessage *b = rt_test_proto_fill(d, 9, 3);
    cr_assert(rt_test_proto_equal(a, b, NULL, 0));
    Ray__Rpc__PushTaskRequest *pb = (Ray__Rpc__PushTaskRequest *)b;
    cr_assert_not_null(pb->spec);
    cr_assert_gt(pb->spec->n_args, 0);
    pb->spec->num_returns ^= 1;
    char why[128];
    cr_expect_not(rt_test_proto_equal(a, b, why, sizeof(why)));
    cr_expect_str_eq(why, "TaskSpec.num_returns");
    pb->spec->num_returns ^= 1;
    pb->spec->resources->entries[0]->name[0] ^= 1;
    cr_expect_not(rt_test_proto_equal(a, b, why, sizeof(why)));
    cr_expect_str_eq(why, "ResourceEntry.name");
    protobuf_c_message_free_unpacked(a, &rt_protobuf_allocator);
    protobuf_c_message_free_unpacked(b, &rt_protobuf_allocator);
}

Test(protocol, oneof_members_all_round_trip)
{
    /* Different seeds select different oneof members; all of them must
     * come back with the same case. */
    bool seen_inline = false, seen_ref = false;
    for (uint32_t seed = 1; seed < 64; seed++) {
        ProtobufCMessage *m =
            rt_test_proto_fill(&ray__rpc__task_arg__descriptor, seed, 2);
        cr_assert_not_null(m);
        Ray__Rpc__TaskArg *a = (Ray__Rpc__TaskArg *)m;
        seen_inline |= a->value_case == RAY__RPC__TASK_ARG__VALUE_INLINE_VALUE;
        seen_ref |= a->value_case == RAY__RPC__TASK_ARG__VALUE_OBJECT_REF;
        size_t len;
        uint8_t *buf = pack(m, &len);
        Ray__Rpc__TaskArg *u =
            ray__rpc__task_arg__unpack(&rt_protobuf_allocator, len, buf);
        cr_assert_not_null(u);
        cr_expect_eq(u->value_case, a->value_case);
        cr_expect(rt_test_proto_equal(m, &u->base, NULL, 0));
        ray__rpc__task_arg__free_unpacked(u, &rt_protobuf_allocator);
        rt_free(buf);
        protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
    }
    cr_expect(seen_inline && seen_ref);
}

Test(protocol, filler_fails_cleanly_without_memory)
{
    /* Fault loop: every failing allocation point returns NULL, leaking
     * nothing (asan checks), until the fill succeeds. */
    const ProtobufCMessageDescriptor *d =
        &ray__rpc__get_all_nodes_reply__descriptor;
    long live0 = rt_alloc_live();
    for (long n = 1;; n++) {
        rt_alloc_fail_after(n);
        ProtobufCMessage *m = rt_test_proto_fill(d, 3, 3);
        rt_alloc_fail_after(0);
        if (m) {
            protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
            cr_expect_gt(n, 10);
            break;
        }
        cr_assert_eq(rt_alloc_live(), live0, "leak at n=%ld", n);
        cr_assert_lt(n, 100000);
    }
    cr_expect_eq(rt_alloc_live(), live0);
}

Test(protocol, field_number_zero_is_rejected_by_validate)
{
    /* Tag varint 0x80 0x00 is field 0, wire type 0, in two bytes:
     * protobuf-c 1.4.1 accepts it as an unknown field (found by
     * tests/fuzz:message_fuzz), but cannot decode what it packs back. */
    uint8_t bad[] = {0x80, 0x00, 0x6e};
    Ray__Rpc__KvGetRequest *m =
        ray__rpc__kv_get_request__unpack(&rt_protobuf_allocator, 3, bad);
    if (m != NULL) {
        cr_expect_eq(rt_proto_validate(&m->base), RAY_EPROTO);
        ray__rpc__kv_get_request__free_unpacked(m, &rt_protobuf_allocator);
    }
    /* Nested: a TaskArg inside a PushTaskRequest's spec. */
    uint8_t nested[] = {0x0a, 0x07, /* spec, 7 bytes */
                        0x2a, 0x05, /* args[0], 5 bytes */
                        0x0a, 0x00, /* inline_value "" */
                        0x80, 0x00, 0x01};
    Ray__Rpc__PushTaskRequest *p = ray__rpc__push_task_request__unpack(
        &rt_protobuf_allocator, sizeof(nested), nested);
    cr_assert_not_null(p);
    cr_expect_eq(rt_proto_validate(&p->base), RAY_EPROTO);
    ray__rpc__push_task_request__free_unpacked(p, &rt_protobuf_allocator);

    ProtobufCMessage *ok =
        rt_test_proto_fill(&ray__rpc__push_task_request__descriptor, 1, 3);
    cr_expect_eq(rt_proto_validate(ok), RAY_OK);
    protobuf_c_message_free_unpacked(ok, &rt_protobuf_allocator);
}
